-- test_shrink.lua: prune.shrink turns a channel-masked model into a smaller dense one
-- that computes the same outputs on random inputs, for a plain chain (with a flatten
-- before a linear layer), a residual block, a dense block (concatenations) and a
-- depthwise-separable block; parameter counts after shrinking are counted by hand.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = require 'lotto.tensor'
local nn = require 'lotto.nn'
local prune = require 'lotto.prune'
local check, check_eq, check_near, checkerror = C.check, C.check_eq, C.check_near, C.checkerror

local function maxdiff(a, b)
  return (a - b):abs():max()
end

-- a model with random weights, batchnorm statistics from a few training batches, in eval mode
local function ready(net, input, seed)
  local m = nn.model(net, { input = input })
  m:init { seed = seed }
  local s = { 8 }
  for _, d in ipairs(input) do s[#s + 1] = d end
  for i = 1, 3 do m:forward(T.randn(s, seed + i), true) end
  m:eval()
  return m, s
end

local function param(m, name)
  for _, p in ipairs(m:parameters()) do if p.name == name then return p end end
  error('no parameter ' .. name)
end

-- the same outputs before and after shrinking, on a fresh random batch
local function same_outputs(m, small, s, seed, tol, what)
  small:eval()
  local x = T.randn(s, seed)
  local d = maxdiff(m:forward(x, false), small:forward(x, false))
  check(d < (tol or 1e-5), ('outputs differ by %g (seed %d)'):format(d, seed))
end

do -- chain: linear layers (the LeNet case)
  local m, s = ready(nn.sequential { nn.flatten(), nn.linear(12, 8), nn.relu(), nn.linear(8, 6), nn.relu(),
    nn.linear(6, 3) }, { 12 }, 1)
  local rep = prune.channels(m, { rate = 0.5 })
  check_eq(rep.layers[1].pruned, 4)
  check_eq(rep.layers[2].pruned, 3)
  local small, info = prune.shrink(m)
  check(info.exact, 'exact')
  check_eq(small:numel(), (12 * 4 + 4) + (4 * 3 + 3) + (3 * 3 + 3)) -- 79
  check_eq(info.params_after, 79)
  check_eq(param(small, 'fc1.weight').shape, { 4, 12 })
  same_outputs(m, small, s, 100)
  -- the shrunk model saves and loads as an ordinary model
  local again = nn.model(nn.from_arch(nn.arch(small)), { input = { 12 } })
  local path = os.tmpname()
  check(small:save(path))
  check(again:load(path))
  os.remove(path)
  same_outputs(m, again, s, 101)
  -- and through the deployment format (architecture + kept weights)
  local sparse = require 'lotto.sparse'
  check(sparse.export(small, path))
  local net = sparse.load(path)
  os.remove(path)
  local x = T.randn(s, 106)
  check(maxdiff(net:forward(x), m:forward(x, false)) < 1e-5, 'exported shrunk model')
end

do -- chain: conv, batchnorm, pool, flatten, linear (a channel's block of columns)
  local m, s = ready(nn.sequential { nn.conv2d(2, 4, 3, { padding = 1 }), nn.batchnorm(4), nn.relu(),
    nn.maxpool2d(2), nn.flatten(), nn.linear(16, 5) }, { 2, 4, 4 }, 2)
  prune.channels(m, { rate = 0.5, by = 'l2' })
  local small, info = prune.shrink(m)
  check(info.exact)
  -- conv 2 -> 2 (3x3 + bias), batchnorm 2, linear from 2 channels x 2 x 2
  check_eq(small:numel(), (2 * 2 * 9 + 2) + 2 * 2 + (5 * 8 + 5))
  same_outputs(m, small, s, 102)
  -- a masked (not shrunk) channel with a bias left: shrinking says it is not exact
  param(m, 'conv1.bias').value:fill(0.5)
  local _, info2 = prune.shrink(m)
  check(not info2.exact and info2.dropped == 0.5, 'dropped bias reported')
end

do -- residual block with identity shortcut: the add ties the stem's channels to the body's
  local body = nn.sequential { nn.conv2d(4, 4, 3, { padding = 1, bias = false }), nn.batchnorm(4), nn.relu(),
    nn.conv2d(4, 4, 3, { padding = 1, bias = false }), nn.batchnorm(4) }
  local m, s = ready(nn.sequential { nn.conv2d(2, 4, 3, { padding = 1, bias = false }), nn.batchnorm(4), nn.relu(),
    nn.residual(body), nn.global_avgpool(), nn.linear(4, 3) }, { 2, 5, 5 }, 3)
  -- stem: channels 2 and 4 dead; body conv2: channels 2, 3 and 4 dead; body conv1: channel 1 dead
  local function kill(name, rows)
    local w = param(m, name .. '.weight')
    for _, o in ipairs(rows) do w.mask:select(1, o):fill(0) end
  end
  kill('conv1', { 2, 4 })
  local names = {}
  for _, p in ipairs(m:parameters()) do names[#names + 1] = p.name end
  local c1, c2 = names[4], names[7] -- the body's two conv weights
  check(c1:match('conv') and c2:match('conv'), 'body conv names ' .. c1 .. ' ' .. c2)
  kill(c1:gsub('%.weight$', ''), { 1 })
  kill(c2:gsub('%.weight$', ''), { 2, 3, 4 })
  prune.channels(m, { rate = 0, layers = { 'conv1.weight', c1, c2 } }) -- rate 0: only zeroes what the masks killed
  local small, info = prune.shrink(m)
  check(info.exact)
  -- the group {stem, body conv2} loses only channels dead on both: 2 and 4 -> 2 channels
  -- stem 2->2, bn 2; body conv1 2->3 (channel 1 dead), bn 3; conv2 3->2, bn 2; fc 2->3
  check_eq(small:numel(), 2 * 2 * 9 + 4 + 2 * 3 * 9 + 6 + 3 * 2 * 9 + 4 + (3 * 2 + 3))
  same_outputs(m, small, s, 103)
end

do -- dense block: concatenated channels are pruned on their own
  local function dense(c, k)
    return nn.concat(nn.sequential { nn.batchnorm(c), nn.relu(), nn.conv2d(c, k, 3, { padding = 1, bias = false }) })
  end
  local m, s = ready(nn.sequential { nn.conv2d(3, 4, 3, { padding = 1, bias = false }), dense(4, 3), dense(7, 3),
    nn.batchnorm(10), nn.relu(), nn.global_avgpool(), nn.linear(10, 2) }, { 3, 4, 4 }, 4)
  local ws = {}
  for _, p in ipairs(m:parameters()) do if p.prunable then ws[#ws + 1] = p end end
  ws[1].mask:select(1, 2):fill(0) -- stem channel 2
  ws[2].mask:select(1, 1):fill(0) -- first dense layer's channel 1
  prune.channels(m, { rate = 0, layers = { ws[1].name, ws[2].name, ws[3].name } })
  local small, info = prune.shrink(m)
  check(info.exact)
  -- stem 3->3; dense 1: bn 3, conv 3->2; dense 2: bn 5, conv 5->3; bn 8; fc 8->2
  check_eq(small:numel(), 3 * 3 * 9 + 6 + 3 * 2 * 9 + 10 + 5 * 3 * 9 + 16 + (8 * 2 + 2))
  same_outputs(m, small, s, 104)
end

do -- depthwise-separable block: the depthwise layer follows its input's channels
  local m, s = ready(nn.sequential { nn.conv2d(3, 4, 3, { padding = 1, bias = false }), nn.batchnorm(4), nn.relu(),
    nn.dwconv2d(4, 3, { padding = 1, bias = false }), nn.batchnorm(4), nn.relu(),
    nn.conv2d(4, 6, 1, { bias = false }), nn.batchnorm(6), nn.relu(), nn.global_avgpool(), nn.linear(6, 2) },
    { 3, 6, 6 }, 5)
  local rep = prune.channels(m, { rate = 0.5 })
  check_eq(#rep.layers, 2) -- the stem and the pointwise conv; not the depthwise one nor the last
  local small, info = prune.shrink(m)
  check(info.exact)
  -- stem 3->2, bn 2, dw 2 (3x3), bn 2, pw 2->3, bn 3, fc 3->2
  check_eq(small:numel(), 3 * 2 * 9 + 4 + 2 * 9 + 4 + 2 * 3 + 6 + (3 * 2 + 2))
  same_outputs(m, small, s, 105)
  local c0, c1 = prune.cost(m), prune.cost(small)
  -- per sample, 6x6 outputs: stem 4*3*9*36, dw 4*9*36, pw 6*4*36, fc 6*2; shrunk 2, 2, 3x2, 3x2
  check_eq(c0.macs, 3888 + 1296 + 864 + 12)
  check_eq(c1.macs, 1944 + 648 + 216 + 6)
  check_eq(c1.macs_kept, c1.macs)
  check(c0.macs_kept > c1.macs, 'masks alone leave the consumers\' columns of dead channels')
end

do -- the targets' check: a shrunk LeNet-300-100 and Conv-2 predict what the masked models did
  local models = require 'lotto.models'
  for _, case in ipairs { { 'lenet300', {}, { 1, 28, 28 } }, { 'conv2', { width = 0.25, input = { 1, 28, 28 } }, { 1, 28, 28 } } } do
    local m = models[case[1]](case[2])
    m:init { seed = 9 }
    prune.magnitude(m, { rate = 0.3 }) -- unstructured masks too: shrinking keeps them
    prune.channels(m, { rate = 0.5 })
    local small, info = prune.shrink(m)
    check(info.exact, case[1] .. ' exact')
    check(small:numel() < m:numel() / 2, case[1] .. ' at most half the parameters')
    local x = T.randn({ 16, table.unpack(case[3]) }, 10)
    local a, b = m:forward(x, false), small:forward(x, false)
    check(maxdiff(a, b) < 1e-4, case[1] .. ' outputs')
    check_eq(a:argmax(2):totable(), b:argmax(2):totable(), case[1] .. ' identical predictions')
  end
  -- LeNet-300-100 by hand: 150 and 50 neurons left, 784 inputs and 10 outputs stay
  local m = models.lenet300()
  prune.channels(m, { rate = 0.5 })
  check_eq(prune.shrink(m):numel(), (784 * 150 + 150) + (150 * 50 + 50) + (50 * 10 + 10))
end

do -- network slimming: train{bn_l1 = lambda} adds lambda * sign(gamma) to the batchnorm scales' gradient
  local data = require 'lotto.data'
  local train = require 'lotto.train'
  local x = T.randn({ 4, 2, 3, 3 }, 7)
  local ds = data.from_tensors(x, T.new({ 0, 1, 2, 1 }))
  local function one_step(l1)
    local m = nn.model(nn.sequential { nn.conv2d(2, 3, 3, { padding = 1 }), nn.batchnorm(3), nn.relu(),
      nn.global_avgpool(), nn.linear(3, 3) }, { input = { 2, 3, 3 } })
    m:init { seed = 8 }
    train.fit(m, { train = ds }, { optimizer = { kind = 'sgd', lr = 0.1 }, batch = 4, iterations = 1, shuffle = false, loss = 'xent',
      bn_l1 = l1 })
    return param(m, 'bn1.weight').value
  end
  local plain, slim = one_step(nil), one_step(0.5)
  -- gamma starts at 1: the penalty moves each scale by lr * lambda = 0.05 further down
  check_near((plain - slim):max(), 0.05, 1e-6)
  check_near((plain - slim):min(), 0.05, 1e-6)
  checkerror(function() one_step(-1) end, 'bn_l1')
end

do -- network slimming's global threshold: the smallest |gamma| over both layers, each keeps its largest
  local m = ready(nn.sequential { nn.conv2d(2, 4, 3, { padding = 1, bias = false }), nn.batchnorm(4), nn.relu(),
    nn.conv2d(4, 4, 3, { padding = 1, bias = false }), nn.batchnorm(4), nn.relu(), nn.global_avgpool(),
    nn.linear(4, 2) }, { 2, 4, 4 }, 11)
  local g1, g2 = param(m, 'bn1.weight').value, param(m, 'bn2.weight').value
  for i, v in ipairs { 0.1, 0.9, 0.05, -0.04 } do g1:set(i, v) end
  for i, v in ipairs { 0.3, 0.02, 0.7, 0.6 } do g2:set(i, v) end
  -- 8 channels, rate 0.5: 0.02 (bn2 #2), 0.04, 0.05, 0.1 (bn1 #4, #3, #1) go
  local rep = prune.channels(m, { rate = 0.5, by = 'bn', scope = 'global' })
  check_eq({ rep.layers[1].pruned, rep.layers[2].pruned }, { 3, 1 })
  local w1, w2 = param(m, 'conv1.weight').mask, param(m, 'conv2.weight').mask
  check_eq({ w1:select(1, 1):sum(), w1:select(1, 2):sum(), w1:select(1, 3):sum(), w1:select(1, 4):sum() }, { 0, 18, 0, 0 })
  check_eq(w2:select(1, 2):sum(), 0)
  check_eq(g1:get(1), 0) -- what the dead channels carried is zeroed: shrinking is exact
  local small, info = prune.shrink(m)
  check(info.exact)
  check_eq(small:numel(), 2 * 1 * 9 + 2 + 1 * 3 * 9 + 6 + (3 * 2 + 2))
  checkerror(function() prune.channels(m, { rate = 0.5, scope = 'global' }) end, "needs by = 'bn'")
end

do -- misuse
  checkerror(function() prune.shrink(42) end, 'expected a model')
  local m = ready(nn.sequential { nn.flatten(), nn.linear(4, 3), nn.relu(), nn.linear(3, 2) }, { 4 }, 6)
  checkerror(function() prune.channels(m, { rate = 2 }) end, 'rate')
  checkerror(function() prune.channels(m, { rate = 0.5, by = 'bn_' }) end, "did you mean 'bn'")
  checkerror(function() prune.channels(m, { rate = 0.5, by = 'bn' }) end, 'no batchnorm follows')
  checkerror(function() prune.channels(m, { rate = 0.5, layers = { 'fc9.weight' } }) end, 'fc9.weight')
  -- a model whose output is a flattened conv: its dead channels would change the output's shape
  local f = ready(nn.sequential { nn.conv2d(1, 2, 1), nn.flatten() }, { 1, 2, 2 }, 7)
  param(f, 'conv1.weight').mask:select(1, 2):fill(0)
  param(f, 'conv1.bias').value:fill(0)
  checkerror(function() prune.shrink(f) end, "output would change shape")
end

C.report()
