-- test_loader_transposed.lua: lotto.data.loader{transposed = true} serves each batch as the
-- transpose of the normal loader's (every batch of two epochs, full and partial, for batch
-- sizes that exercise each path of the gather: groups of eight rows, a group of four, single
-- rows, features not a multiple of eight); a model whose first layers take it
-- (flatten -> linear) trains to the same bits with it as without, by hand and through
-- train.fit (which uses it unless on_step asks for the batches); misuse is refused.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, data, nn, sparse, train = lotto.tensor, lotto.data, lotto.nn, lotto.sparse, lotto.train

local N, C, H, W = 130, 1, 6, 5 -- 30 features: three tiles of eight and six left over
local F = C * H * W
local x = tensor.randn({ N, C, H, W }, 11)
local y = tensor.zeros { N }
for i = 1, N do y:set(i, (i * 5) % 4) end
local ds = data.from_tensors(x, y, { classes = 4 })

local function same(a, b) return a:sub(b):abs():max() == 0 end

-- Batches: 16 (groups of eight, a partial batch of 2), 12 (a group of four), 7 (single rows).
for _, batch in ipairs { 16, 12, 7 } do
  local plain = data.loader(ds, { batch = batch, seed = 5 })
  local tr = data.loader(ds, { batch = batch, seed = 5, transposed = true })
  T.check(tr:transposed() and not plain:transposed(), 'transposed() says which')
  local n, ok = 0, true
  for _ = 1, 2 * plain:batches_per_epoch() + 1 do -- two epochs and the nil between them
    local xa, ya = plain:next()
    local xb, yb = tr:next()
    if xa == nil or xb == nil then
      ok = ok and xa == nil and xb == nil
    else
      n = n + 1
      local b = xa:size(1)
      ok = ok and T.check_eq(xb:shape(), { b, F }, 'batch ' .. batch .. ': (B, features)')
      ok = ok and not xb:is_contiguous() and same(xb:clone(), xa:reshape { b, F }) and same(ya, yb)
    end
  end
  T.check(ok and n == 2 * plain:batches_per_epoch(), ('batch %d: %d batches, each the transpose of the plain one'):format(
    batch, n))
end

-- A model whose first layers take transposed batches, pruned so that its linear layers run sparse.
local function model()
  local m = nn.model(nn.sequential { nn.flatten(), nn.linear(F, 24), nn.relu(), nn.linear(24, 4) },
    { input = { C, H, W } })
  m:init { seed = 3 }
  for _, p in ipairs(m:parameters()) do
    if p.prunable then lotto.prune.magnitude_mask(p.mask, p.value, 0.8) end
  end
  m:apply_mask()
  return m
end
T.check(model():takes_transposed(), 'flatten -> linear takes transposed batches')

sparse.with_mode('sparse', function()
  -- by hand: the same steps on the two loaders' batches
  local a, b = model(), model()
  local oa, ob = lotto.optim.adam(a, { lr = 1e-2 }), lotto.optim.adam(b, { lr = 1e-2 })
  local la = data.loader(ds, { batch = 12, seed = 2 })
  local lb = data.loader(ds, { batch = 12, seed = 2, transposed = true })
  for _ = 1, 40 do
    local xa, ya = la:next()
    if not xa then xa, ya = la:next() end
    local xb, yb = lb:next()
    if not xb then xb, yb = lb:next() end
    local l1, c1 = a:step_loss(xa, ya)
    local l2, c2 = b:step_loss(xb, yb)
    oa:step_after_loss()
    ob:step_after_loss()
    if l1 ~= l2 or c1 ~= c2 then T.check(false, 'step losses differ') break end
  end
  T.check(same(a:values(), b:values()), 'by hand: 40 sparse steps give the same bits on transposed batches')
  for _, l in ipairs(sparse.layers(b)) do T.check_eq(l.path, 'sparse', l.name .. ' ran sparse') end

  -- train.fit: transposed batches unless on_step is given (which sees them)
  local function fit(on_step)
    local m = model()
    train.fit(m, { train = ds }, { optimizer = { kind = 'adam', lr = 1e-2 }, batch = 12, iterations = 30,
      progress = false, on_step = on_step })
    return m
  end
  local seen
  local c = fit(function(_, _, xb) seen = seen or xb:is_contiguous() end)
  T.check(seen == true, 'with on_step, fit serves contiguous batches')
  T.check(same(fit():values(), c:values()), 'train.fit: the same bits with transposed batches as without')

  -- the input gradient of a transposed batch comes transposed, with the same values
  local m = model()
  local xa = x:narrow(1, 1, 12)
  local xb = data.loader(ds, { batch = 12, shuffle = false, transposed = true }):next()
  local dy = tensor.randn({ 12, 4 }, 4)
  m:forward(xa, true)
  local da = m:backward(dy):clone()
  m:forward(xb, true)
  local db = m:backward(dy)
  T.check(same(db:clone(), da:reshape { 12, F }), 'the input gradient of a transposed batch is its transpose')
end)

-- misuse
T.checkerror(function() data.loader(ds, { transposed = true, augment = true }) end, "cannot be used with 'augment'")
T.checkerror(function() data.loader(ds, { transposed = 1 }) end, "'transposed' must be a boolean")
local conv = nn.model(nn.sequential { nn.conv2d(C, 2, 3, { padding = 1 }), nn.flatten(), nn.linear(2 * H * W, 4) },
  { input = { C, H, W } })
conv:init { seed = 1 }
T.check(not conv:takes_transposed(), 'a convolution first does not take transposed batches')
local xt = data.loader(ds, { batch = 8, transposed = true }):next()
T.checkerror(function() conv:forward(xt) end, 'its first layers do not take a transposed batch')
local wide = model()
local xw = data.loader(data.from_tensors(tensor.randn({ 20, F + 1 }, 1), tensor.zeros { 20 }, { classes = 4 }),
  { batch = 8, transposed = true }):next()
T.checkerror(function() wide:forward(xw) end, 'model input must be')

T.report()
