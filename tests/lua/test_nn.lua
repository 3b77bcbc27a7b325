-- test_nn.lua: lotto.nn from Lua: building LeNet and Conv-2, parameter names and
-- flags, flat buffers sharing storage, state round trips, masks, training steps,
-- evaluation, save/load, and misuse that must raise Lua errors (not crash).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = require 'lotto.tensor'
local nn = lotto.nn
local check, check_eq, check_near, checkerror = C.check, C.check_eq, C.check_near, C.checkerror

local function lenet()
  return nn.model(nn.sequential {
    nn.flatten(), nn.linear(784, 300), nn.relu(), nn.linear(300, 100), nn.relu(), nn.linear(100, 10),
  }, { input = { 1, 28, 28 } })
end

do -- LeNet-300-100: names, kinds, flags, offsets, shapes
  local m = lenet()
  check(nn.is_model(m), 'is_model')
  check_eq(m:numel(), 266610, 'numel')
  check_eq(m:numel(true), 266200, 'prunable numel')
  local ps = m:parameters()
  check_eq(#ps, 6)
  local want = { 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias' }
  local off = 0
  for i, p in ipairs(ps) do
    check_eq(p.name, want[i])
    check_eq(p.kind, 'linear')
    check_eq(p.prunable, i % 2 == 1, p.name .. ' prunable')
    check_eq(p.offset, off, p.name .. ' offset')
    check_eq(p.value:numel(), p.numel)
    check_eq(p.value:shape(), p.shape)
    off = off + p.numel
  end
  check_eq(ps[1].shape, { 300, 784 })
  check_eq(m:values():shape(), { 266610 })
  check_eq(m:input_shape(), { 1, 28, 28 })
  check_eq(m:output_shape(), { 10 })
  check(tostring(m):find('fc1: Linear(784 -> 300, 235,500 params)', 1, true), 'tostring tree')
  check_eq(m:describe(), tostring(m))
end

do -- Conv-2 from Lua with user names and options
  local m = nn.model(nn.sequential {
    nn.conv2d(1, 64, 3, { padding = 1, name = 'c1' }), nn.relu(), nn.conv2d(64, 64, 3, { padding = 1 }), nn.relu(),
    nn.maxpool2d(2), nn.flatten(), nn.linear(64 * 14 * 14, 256), nn.relu(), nn.linear(256, 256), nn.relu(),
    nn.linear(256, 10, { bias = false }),
  }, { input = { 1, 28, 28 } })
  local names = {}
  for _, p in ipairs(m:parameters()) do names[#names + 1] = p.name end
  check_eq(names, { 'c1.weight', 'c1.bias', 'conv1.weight', 'conv1.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight',
    'fc2.bias', 'fc3.weight' })
  check_eq(m:parameters()[1].kind, 'conv2d')
  check_eq(m:parameters()[1].shape, { 64, 1, 3, 3 })
  m:init { seed = 3, weight = 'kaiming_normal' }
  local y = m:forward(T.randn({ 2, 1, 28, 28 }, 1))
  check_eq(y:shape(), { 2, 10 })
end

do -- buffers share storage; state/load_state round-trip bit-exact
  local m = lenet()
  m:init { seed = 1 }
  local p = m:parameters()[3]
  p.value:set(1, 1, 42)
  check_eq(m:values():get(235500 + 1), 42, 'parameter views share the flat buffer')
  local s = m:state()
  local before = m:values():clone()
  m:init { seed = 2 }
  check(m:values():get(1) ~= before:get(1), 'a new seed changes values')
  m:load_state(s)
  check(m:values():sub(before):abs():max() == 0, 'load_state restores bit-exactly')
  s:fill(0)
  check(m:values():get(1) == before:get(1), 'state() is a copy, not a view')
  -- same seed, same init
  local a = lenet():init { seed = 9 }:state()
  local b = lenet():init { seed = 9 }:state()
  check(a:sub(b):abs():max() == 0, 'same seed gives the same init')
  m:init(lotto.rng.new(5))
  m:init(7)
end

do -- masks: a pruned weight is zero and stays zero through training steps
  local m = lenet():init { seed = 1 }
  local p = m:parameters()[1]
  p.mask:narrow(1, 1, 150):fill(0) -- prune half of fc1's rows
  m:apply_mask()
  check_near(m:density(), (266200 - 150 * 784) / 266200, 1e-12, 'density')
  check(p.value:narrow(1, 1, 150):abs():max() == 0, 'pruned weights are zero')
  check(tostring(m):find('50.0% weights', 1, true), 'describe shows density')
  local v0 = m:mask_version()
  m:mask_changed()
  check(m:mask_version() > v0, 'mask version bumps')
  local x, y = T.rand({ 8, 1, 28, 28 }, 2), T.new { 0, 1, 2, 3, 4, 5, 6, 7 }
  m:step_loss(x, y)
  check(p.grad:narrow(1, 1, 150):abs():max() == 0, 'pruned weights get no gradient')
  check(p.grad:narrow(1, 151, 150):abs():max() > 0, 'live weights do')
  local layers = m:layers()
  check_eq(layers[3].name, 'fc1')
  check_near(layers[3].density, 0.5, 1e-12)
end

do -- a few manual SGD steps on a fixed batch lower the loss; step_loss matches forward/backward
  local m = lenet():init { seed = 4 }
  local x, y = T.rand({ 16, 1, 28, 28 }, 3), T.new { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5 }
  local first, correct = m:step_loss(x, y, 'xent')
  check(first > 1.5 and first < 4, 'initial loss near log 10: ' .. first)
  check(math.type(correct) == 'integer' and correct >= 0 and correct <= 16, 'ncorrect')
  local g = m:grads():clone()
  m:zero_grad()
  local out = m:forward(x, true)
  local l2, dz = nn.cross_entropy(out, y)
  m:backward(dz)
  check_eq(l2, first, 'cross_entropy on forward equals step_loss')
  check(m:grads():sub(g):abs():max() == 0, 'same gradients')
  local loss = first
  for _ = 1, 20 do
    loss = m:step_loss(x, y)
    m:values():sub_(m:grads():mul(0.1))
  end
  check(loss < first * 0.5, ('training lowers the loss: %g -> %g'):format(first, loss))
  local el, acc = m:evaluate_xy(x, y, 5)
  check(acc > 0.5, 'memorised batch accuracy ' .. acc)
  check(el < first, 'eval loss')
  local ds = lotto.data.from_tensors(x, y, { classes = 10 })
  local dl, dacc = m:evaluate(ds, { batch = 7 })
  check_near(dl, el, 1e-6, 'evaluate(dataset) equals evaluate_xy')
  check_eq(dacc, acc)
  check(m:is_training(), 'evaluate restores training mode')
end

do -- regression with mse, batchnorm and dropout modes
  local m = nn.model(nn.sequential { nn.linear(2, 8), nn.batchnorm(8), nn.relu(), nn.dropout(0.5, { seed = 1 }),
    nn.linear(8, 1) }, { input = { 2 } })
  m:init { seed = 1, weight = 'glorot_uniform' }
  check_eq(#m:buffers(), 2)
  check_eq(m:buffers()[2].name, 'bn1.running_var')
  local x = T.rand({ 32, 2 }, 1)
  local t = x:sum(2):reshape { 32, 1 }
  local l = m:step_loss(x, t, 'mse')
  check(l > 0, 'mse loss')
  m:eval()
  check(not m:is_training(), 'eval mode')
  local a, b = m:forward(x), m:forward(x)
  check(a:sub(b):abs():max() == 0, 'eval forward is deterministic (no dropout)')
  m:train()
  local loss, dpred = nn.mse(T.new { 1, 2 }, T.new { 0, 0 })
  check_near(loss, 2.5, 1e-12, 'mse value')
  check_near(dpred, { 1, 2 }, 1e-6, 'mse gradient')
  local _, acc = m:evaluate_xy(x, t, 10, 0)
  check(acc ~= acc, 'regression accuracy is NaN')
end

do -- save / load (safetensors through lotto.io)
  local tmp = os.getenv('LOTTO_TEST_TMP') or '.'
  local path = tmp .. '/test_nn_model.safetensors'
  local m = nn.model(nn.sequential { nn.linear(4, 3), nn.batchnorm(3), nn.linear(3, 2) }, { input = { 4 } })
  m:init { seed = 1 }
  m:parameters()[1].mask:set(1, 1, 0)
  m:apply_mask()
  m:step_loss(T.rand({ 5, 4 }, 1), T.new { 0, 1, 1, 0, 1 }) -- moves the running statistics
  check(m:save(path, { note = 'test' }), 'save')
  local m2 = nn.model(nn.sequential { nn.linear(4, 3), nn.batchnorm(3), nn.linear(3, 2) }, { input = { 4 } })
  check(m2:load(path) == m2, 'load returns the model')
  check(m2:values():sub(m:values()):abs():max() == 0, 'values round-trip')
  check(m2:masks():sub(m:masks()):abs():max() == 0, 'masks round-trip')
  check(m2:buffers()[1].value:sub(m:buffers()[1].value):abs():max() == 0, 'running stats round-trip')
  local other = nn.model(nn.sequential { nn.linear(4, 5) }, { input = { 4 } })
  local ok, err = other:load(path)
  check(ok == nil and err:find('shape'), 'load into a different model fails: ' .. tostring(err))
  ok, err = m:load(tmp .. '/does_not_exist.safetensors')
  check(ok == nil and type(err) == 'string', 'missing file returns nil, message')
end

do -- misuse raises Lua errors
  local m = lenet()
  checkerror(function() m:forward(T.zeros { 2, 784 }) end, '(B, 1, 28, 28)')
  checkerror(function() m:forward('x') end, 'tensor')
  checkerror(function() m:backward(T.zeros { 3, 10 }) end, 'forward first')
  m:forward(T.zeros { 2, 1, 28, 28 })
  checkerror(function() m:backward(T.zeros { 3, 10 }) end, '(2, 10)')
  checkerror(function() m:load_state(T.zeros { 10 }) end, 'state has 10 values')
  checkerror(function() m:load_state(42) end, 'tensor')
  checkerror(function() m:init { weight = 'nope' } end, 'glorot_normal')
  checkerror(function() m:init { seed = 'x' } end, 'seed')
  checkerror(function() m:step_loss(T.zeros { 2, 1, 28, 28 }, T.new { 0, 10 }) end, 'label 10')
  checkerror(function() m:step_loss(T.zeros { 2, 1, 28, 28 }, T.new { 0, 1 }, 'hinge') end, "'mse'")
  checkerror(function() m:step_loss(T.zeros { 2, 1, 28, 28 }, T.new { 0, 1, 2 }) end, 'rows')
  checkerror(function() m:evaluate('x') end, 'dataset')
  checkerror(function() m:evaluate_xy(T.zeros { 2, 1, 28, 28 }, T.new { 0, 1 }, 0) end, 'batch')
  checkerror(function() nn.linear(0, 3) end, 'positive')
  checkerror(function() nn.linear('a', 3) end, 'number expected')
  checkerror(function() nn.linear(3, 3, { bais = true }) end, "unknown option 'bais'")
  checkerror(function() nn.conv2d(1, 2, 3, { stride = 0 }) end, 'stride')
  checkerror(function() nn.dropout(1.5) end, '[0, 1)')
  checkerror(function() nn.sequential { 1, 2 } end, 'not a layer')
  local l = nn.linear(3, 3)
  checkerror(function() nn.sequential { l, l } end, 'same layer')
  nn.sequential { l }
  checkerror(function() nn.sequential { l } end, 'already used')
  checkerror(function() nn.model(l, { input = { 3 } }) end, 'already used')
  checkerror(function() nn.model(nn.linear(3, 3)) end, 'input')
  checkerror(function() nn.model(nn.sequential { nn.conv2d(1, 64, 3), nn.linear(300, 100) }, { input = { 1, 28, 28 } }) end,
    'fc1 (linear 300 -> 100) expects input (300) but conv1 produces (64, 26, 26)')
  checkerror(function() nn.linear(3, 3, { name = 'a b' }) end, 'spaces')
  checkerror(function() nn.cross_entropy(T.zeros { 3 }, T.zeros { 3 }) end, '(B, C)')
  checkerror(function() nn.mse(T.zeros { 3 }, T.zeros { 4 }) end, 'differ in size')
  check(tostring(nn.linear(3, 4)) == 'Linear(3 -> 4)', 'layer tostring')
  check(tostring(l):find('used'), 'used layer tostring')
end

do -- relu on a pass large enough to be split over 2 threads: the same as one thread and as t:relu()
  local was = T.get_threads()
  local x, dy = T.randn({600, 1000}, 5), T.randn({600, 1000}, 6)
  local function run(threads)
    T.set_threads(threads)
    local m = nn.model(nn.sequential { nn.relu() }, { input = { 1000 } })
    local y = m:forward(x, true)
    return y, m:backward(dy)
  end
  local y1, d1 = run(1)
  local y2, d2 = run(2)
  T.set_threads(was)
  check_eq(y1:sub(x:relu()):abs():max(), 0, 'relu forward is max(x, 0)')
  check_eq(y2:sub(y1):abs():max(), 0, 'relu forward: 2 threads as 1')
  check_eq(d1:sub(dy:mul(x:sign():relu())):abs():max(), 0, 'relu backward is dy where x > 0')
  check_eq(d2:sub(d1):abs():max(), 0, 'relu backward: 2 threads as 1')
end

C.report()
