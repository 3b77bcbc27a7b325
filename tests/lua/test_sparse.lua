-- test_sparse.lua: lotto.sparse from Lua: the global and per-layer dispatch modes,
-- dense and sparse paths agreeing through models (forward, input and parameter
-- gradients; linear, conv, batchnorm, residual), training in both modes from the
-- same state, exact masks, auto dispatch after pruning, the crossover table, and
-- export/load of pruned models (identical predictions, compact files, bad files).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local sparse, tensor, nn, prune, data = lotto.sparse, lotto.tensor, lotto.nn, lotto.prune, lotto.data
local TMP = os.getenv('LOTTO_TEST_TMP') or '/tmp'

sparse.clear_crossovers() -- no cache of this machine steers the auto decisions below

-- max |a - b| / max |b|
local function relerr(a, b)
  local m = b:abs():max()
  return (a - b):abs():max() / (m > 0 and m or 1)
end

-- Fresh masks keeping `keep` of every prunable weight (by magnitude, or at random with a seed).
local function prune_all(m, keep, seed)
  for _, p in ipairs(m:parameters()) do
    if p.prunable then
      p.mask:fill(1)
      if seed then prune.random(p.mask, 1 - keep, seed) else prune.magnitude_mask(p.mask, p.value, 1 - keep) end
    end
  end
  m:apply_mask()
  return m
end

local function path_of(m, name)
  for _, l in ipairs(sparse.layers(m)) do if l.name == name then return l.path end end
end

-- ---- modes --------------------------------------------------------------------
T.check_eq(sparse.mode(), 'auto')
T.check_eq(sparse.mode('dense'), 'auto')
T.check_eq(sparse.mode('auto'), 'dense')
T.checkerror(function() sparse.mode('fast') end, "mode must be 'auto', 'dense', 'sparse' or 'nm'")
T.checkerror(function() sparse.with_mode('sparse', function() error('boom') end) end, 'boom')
T.check_eq(sparse.mode(), 'auto', 'with_mode restores the mode after an error')

-- ---- dense and sparse agree through models --------------------------------------
local function compare(m, x, what)
  local dy
  local function run(mode)
    return sparse.with_mode(mode, function()
      m:zero_grad()
      local y = m:forward(x, true)
      dy = dy or tensor.randn(y:shape(), 5)
      local dx = m:backward(dy)
      return y, dx, m:grads():clone()
    end)
  end
  local yd, dxd, gd = run('dense')
  for _, l in ipairs(sparse.layers(m)) do T.check_eq(l.path, 'dense', what .. ' ' .. l.name .. ' dense') end
  local ys, dxs, gs = run('sparse')
  for _, l in ipairs(sparse.layers(m)) do T.check_eq(l.path, 'sparse', what .. ' ' .. l.name .. ' sparse') end
  T.check(relerr(ys, yd) < 1e-5, what .. ': forward ' .. relerr(ys, yd))
  T.check(relerr(dxs, dxd) < 1e-5, what .. ': input gradient ' .. relerr(dxs, dxd))
  -- a bias before batchnorm has a gradient of rounding noise: scale by the model's too
  local floor = 1e-3 * gd:abs():max()
  for _, p in ipairs(m:parameters()) do
    local a, b = gs:narrow(1, p.offset + 1, p.numel), gd:narrow(1, p.offset + 1, p.numel)
    local err = (a - b):abs():max() / math.max(b:abs():max(), floor)
    T.check(err < 1e-5, what .. ': gradient of ' .. p.name .. ' ' .. err)
    if p.prunable then
      local off = a:mul(p.mask:contiguous():reshape({ p.numel }):neg():add(1))
      T.check_eq(off:abs():max(), 0, what .. ': pruned entries of ' .. p.name .. ' get exactly zero gradient')
    end
  end
end

local mlp = nn.model(nn.sequential { nn.linear(37, 19), nn.relu(), nn.linear(19, 5) }, { input = { 37 } })
mlp:init { seed = 1 }
compare(prune_all(mlp, 0.3, 7), tensor.randn({ 13, 37 }, 2), 'mlp')
compare(prune_all(mlp, 0.0, 7), tensor.randn({ 1, 37 }, 3), 'fully pruned, batch 1')

local cnn = nn.model(nn.sequential {
  nn.conv2d(3, 6, 3, { padding = 1, bias = false }), nn.batchnorm(6), nn.relu(),
  nn.residual(nn.sequential { nn.conv2d(6, 6, 3, { padding = 1, bias = false }), nn.batchnorm(6) }),
  nn.conv2d(6, 4, 1, { stride = 2 }), nn.flatten(), nn.linear(4 * 4 * 4, 3) }, { input = { 3, 7, 7 } })
cnn:init { seed = 2 }
compare(prune_all(cnn, 0.4, 9), tensor.randn({ 3, 3, 7, 7 }, 4), 'cnn')

-- Every mix of per-layer paths in a three-layer chain: activations may stay transposed
-- (features x batch) between adjacent sparse layers and relu, so each hand-off between
-- a dense and a sparse layer, in either direction, must give the all-dense numbers.
local chain = nn.model(nn.sequential { nn.linear(29, 23), nn.relu(), nn.linear(23, 17), nn.relu(), nn.linear(17, 5) },
  { input = { 29 } })
chain:init { seed = 4 }
prune_all(chain, 0.25, 11)
local cx, cy = tensor.randn({ 11, 29 }, 6), tensor.zeros({ 11 })
for i = 1, 11 do cy:set(i, (i * 7) % 5) end
local function chain_run(modes)
  for i, name in ipairs { 'fc1', 'fc2', 'fc3' } do sparse.set_layer(chain, name, { mode = modes[i] }) end
  chain:zero_grad()
  local loss = chain:step_loss(cx, cy, 'xent')
  local dx = chain:backward(tensor.zeros({ 11, 5 }))   -- a zero dy adds nothing: the grads stay those of step_loss
  return loss, chain:forward(cx), chain:grads():clone(), dx
end
local l0, y0, g0 = chain_run { 'dense', 'dense', 'dense' }
for bits = 1, 7 do
  local modes, label = {}, {}
  for i = 1, 3 do
    modes[i] = (bits >> (i - 1)) & 1 == 1 and 'sparse' or 'dense'
    label[i] = modes[i]:sub(1, 1):upper()
  end
  label = table.concat(label)
  local l, y, g = chain_run(modes)
  for i, name in ipairs { 'fc1', 'fc2', 'fc3' } do T.check_eq(path_of(chain, name), modes[i], label .. ' ' .. name .. ' path') end
  T.check_near(l, l0, 1e-5 * math.max(1, math.abs(l0)), label .. ': loss')
  T.check(relerr(y, y0) < 1e-5, label .. ': forward ' .. relerr(y, y0))
  T.check(relerr(g, g0) < 1e-5, label .. ': gradients ' .. relerr(g, g0))
end
sparse.set_layer(chain, nil, { mode = 'auto' })

-- ---- per-layer settings ---------------------------------------------------------------
sparse.set_layer(mlp, 'fc1', { mode = 'sparse' })
sparse.with_mode('dense', function() mlp:forward(tensor.randn({ 4, 37 }, 1)) end)
T.check_eq(path_of(mlp, 'fc1'), 'sparse', "a layer's own mode wins over the global one")
T.check_eq(path_of(mlp, 'fc2'), 'dense')
sparse.set_layer(mlp, nil, { mode = 'auto', crossover = 0.5 })
prune_all(mlp, 0.4, 3)
mlp:forward(tensor.randn({ 4, 37 }, 1))
T.check_eq(path_of(mlp, 'fc1'), 'sparse', 'density 0.4 < crossover 0.5')
sparse.set_layer(mlp, 'fc2', { crossover = 0.2 })
mlp:forward(tensor.randn({ 4, 37 }, 1))
T.check_eq(path_of(mlp, 'fc2'), 'dense', 'density 0.4 > crossover 0.2')
T.check(sparse.report(mlp):find('fc2 ') ~= nil, 'report lists the layers')
T.checkerror(function() sparse.set_layer(mlp, 'fc9', { mode = 'dense' }) end, "no layer named 'fc9'")
T.checkerror(function() sparse.set_layer(mlp, 'relu1', { mode = 'dense' }) end, 'only linear and conv2d')
T.checkerror(function() sparse.set_layer(mlp, 'fc1', { speed = 1 }) end, "unknown option 'speed'")
T.checkerror(function() sparse.set_layer(mlp, 'fc1', { crossover = 2 }) end, 'crossover must be a density')
T.checkerror(function() sparse.layers(42) end, 'expected a model')

-- ---- auto dispatch follows pruning (what lenet_imp.lua relies on) ---------------------
local lenet = lotto.models.lenet300()
lenet:init { seed = 1 }
local xb = tensor.rand({ 60, 1, 28, 28 }, 1)
lenet:forward(xb, true)
T.check_eq(path_of(lenet, 'fc1'), 'dense', 'unpruned: dense')
for _ = 1, 15 do prune.magnitude(lenet, { rate = 0.2, output_rate = 0.1 }) end -- 3.5%, as IMP round 15
lenet:forward(xb, true)
T.check_eq(path_of(lenet, 'fc1'), 'sparse', 'IMP round 15 (3.5%): sparse')
T.check_eq(path_of(lenet, 'fc2'), 'sparse')
local cross, measured = sparse.crossover_for(300, 784, 60)
T.check(cross > 0.036 and cross < 1 and measured == false, 'default crossover for 784 -> 300 at batch 60')
sparse.set_crossover(300, 784, 60, 0.01)
T.check_eq({ sparse.crossover_for(300, 784, 64) }, { 0.01, true, 'shape' }, 'a calibrated entry, nearest batch')
lenet:forward(xb, true)
T.check_eq(path_of(lenet, 'fc1'), 'dense', 'a calibrated crossover below the density: dense')
T.check_eq(#sparse.crossovers(), 1)
sparse.clear_crossovers()
local entries = sparse.calibrate_model(mlp, { batch = 8, reps = 1, save = false, densities = { 1, 0.5, 0.1 } })
T.check_eq(#entries, 2, 'one entry per layer shape')
T.check(entries[1].crossover >= 0 and entries[1].crossover <= 1 and entries[1].n == 8 and entries[1].rows == 19)
sparse.clear_crossovers()

-- ---- training in sparse and dense mode from the same state ------------------------------
local function blobs(n, seed)
  local x = tensor.randn({ n, 20 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do y:set(i, (x:get(i, 1) > 0 and 1 or 0) + (x:get(i, 2) > 0 and 2 or 0)) end
  return data.from_tensors(x, y, { classes = 4 })
end
local train = blobs(600, 11)
local net = nn.model(nn.sequential { nn.linear(20, 32), nn.relu(), nn.linear(32, 16), nn.relu(), nn.linear(16, 4) },
  { input = { 20 } })
net:init { seed = 3 }
prune_all(net, 0.25, 5)
local init = net:state()
local function fit(mode)
  net:load_state(init)
  return sparse.with_mode(mode, function()
    lotto.train.fit(net, { train = train }, { optimizer = lotto.optim.adam(net, { lr = 1e-3 }), batch = 20,
      iterations = 100, progress = false })
    T.check_eq(path_of(net, 'fc1'), mode)
    return net:state()
  end)
end
local wd, ws = fit('dense'), fit('sparse')
T.check(relerr(ws, wd) < 1e-3, 'weights after 100 steps agree: ' .. relerr(ws, wd))
T.check(relerr(ws, init) > 1e-2, 'and they did train')
local off = ws:mul(net:masks():neg():add(1))
T.check_eq(off:abs():max(), 0, 'pruned weights stay exactly zero in sparse mode')

-- ---- export / load ------------------------------------------------------------------------
local function size(path)
  local f = assert(io.open(path, 'rb'))
  local n = f:seek('end')
  f:close()
  return n
end

local function round_trip(m, x, what, opts)
  m:eval()
  local y = m:forward(x)
  local path = TMP .. '/test_sparse_' .. what .. '.safetensors'
  local bytes = sparse.export(m, path)
  T.check_eq(bytes, size(path))
  local d, err = sparse.load(path, opts)
  T.check(d ~= nil, err)
  if not d then return end
  local y2 = d:forward(x)
  T.check(relerr(y2, y) < 1e-5, what .. ': logits ' .. relerr(y2, y))
  T.check_eq(d:predict(x), y:argmax(2) - 1, what .. ': predictions')
  for _, l in ipairs(d:layers()) do T.check(l.frozen, what .. ': ' .. l.name .. ' frozen') end
  m:train()
  return d, path, bytes
end

lenet:init { seed = 4 }
prune_all(lenet, 0.1) -- 90% sparsity, every layer
local xt = tensor.rand({ 64, 1, 28, 28 }, 8)
local d, path, bytes = round_trip(lenet, xt, 'lenet')
lenet:save(TMP .. '/test_sparse_lenet_dense.safetensors')
local dense = size(TMP .. '/test_sparse_lenet_dense.safetensors')
T.check(bytes <= 0.15 * dense, ('sparse file %d bytes <= 15%% of the dense %d'):format(bytes, dense))
T.check(bytes <= 0.15 * 4 * lenet:numel(), 'and <= 15% of the F32 weights alone')
local labels = tensor.zeros { 64 }
for i = 1, 64 do labels:set(i, (i * 7) % 10) end
local ds = data.from_tensors(xt, labels, { classes = 10 })
lenet:eval()
T.check_eq({ d:evaluate(ds) }, { lenet:evaluate(ds) }, 'evaluate agrees')
lenet:train()
T.check(tostring(d):find('10.00%% of the weights kept') ~= nil, tostring(d))
T.check(d:density() < 0.11)
-- forced sparse, and a layout with bitmaps (50%) and empty layers
prune_all(cnn, 0.5, 4)
round_trip(cnn, tensor.randn({ 2, 3, 7, 7 }, 6), 'cnn', { mode = 'sparse' })
prune_all(mlp, 0.0, 1)
round_trip(mlp, tensor.randn({ 3, 37 }, 6), 'empty')
local named = nn.model(nn.sequential { name = 'body', nn.linear(6, 5, { name = 'first' }), nn.relu(),
  nn.linear(5, 2, { bias = false }) }, { input = { 6 } })
named:init { seed = 1 }
local dn = round_trip(prune_all(named, 0.6, 2), tensor.randn({ 4, 6 }, 1), 'named')
T.check(dn and tostring(dn):find('body.first') ~= nil, 'user names survive')

-- bad files: nil, message
local nothing, msg = sparse.load(TMP .. '/no_such_file.safetensors')
T.check(nothing == nil and msg:find('no_such_file') ~= nil, msg)
nothing, msg = sparse.load(TMP .. '/test_sparse_lenet_dense.safetensors')
T.check(nothing == nil and msg:find('not a lotto.sparse export') ~= nil, msg)
local raw = assert(io.open(path, 'rb')):read('a')
local cut = TMP .. '/test_sparse_cut.safetensors'
assert(io.open(cut, 'wb')):write(raw:sub(1, #raw - 100)):close()
nothing, msg = sparse.load(cut)
T.check(nothing == nil and msg ~= nil, 'a truncated file is refused: ' .. tostring(msg))
T.checkerror(function() sparse.export(lenet, 3) end, 'path must be a string')
do -- a file that cannot be written is an expected failure: nil, message (as io.open)
  local bytes, why = sparse.export(lenet, '/nonexistent-dir/x.safetensors')
  T.check(bytes == nil and type(why) == 'string' and why:find('nonexistent') ~= nil, tostring(why))
end
T.checkerror(function() sparse.load(path, { mode = 'fast' }) end, "mode must be 'auto'")

T.report()
