-- test_dst.lua: training-time sparsity (lotto.dst through lotto.train.fit{dst = ...}):
-- the cubic schedule hits its endpoints exactly; SET / RigL keep every layer's count
-- exact after every update, grow only weights that were pruned before the update (at
-- zero), and the optimizer's moments of grown weights start at zero; sparse momentum
-- keeps the total exact; RigL's dense gradient is the gradient of the unmasked net;
-- a mask update rebuilds the sparse layout of the changed layers only; errors name
-- the bad key or value.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, train, prune, sparse = lotto.tensor, lotto.nn, lotto.data, lotto.train, lotto.prune, lotto.sparse
local dst = require 'lotto.dst'

local function blobs(n, seed)
  local x = tensor.randn({ n, 12 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do y:set(i, (x:get(i, 1) + x:get(i, 3) > 0 and 1 or 0) + (x:get(i, 2) > 0 and 1 or 0)) end
  return data.from_tensors(x, y, { classes = 3 })
end
local DS = blobs(300, 1)

local function build()
  local m = nn.model(nn.sequential { nn.linear(12, 40), nn.relu(), nn.linear(40, 30), nn.relu(), nn.linear(30, 3) },
    { input = { 12 } })
  m:init { seed = 3 }
  return m
end

local function counts(m)
  local out = {}
  for _, p in ipairs(m:parameters()) do if p.prunable then out[p.name] = prune.count(p.mask) end end
  return out
end

-- ---- the cubic schedule ----
T.check_eq(dst.cubic(100, 100, 900, 1, 0.1), 1, 'cubic: exactly the initial density at t0')
T.check_eq(dst.cubic(900, 100, 900, 1, 0.1), 0.1, 'cubic: exactly the final density at t1')
T.check_eq(dst.cubic(5000, 100, 900, 1, 0.1), 0.1, 'cubic: final after t1')
T.check_near(dst.cubic(500, 100, 900, 1, 0.1), 0.1 + 0.9 * 0.125, 1e-12, 'cubic: halfway, (1/2)^3 of the way left')
T.check_eq(dst.drop_fraction(0, dst.check { t1 = 100 }), 0.3, 'cosine decay starts at drop')
T.check_near(dst.drop_fraction(50, dst.check { t1 = 100 }), 0.15, 1e-12, 'cosine decay: half at the middle')
T.check_near(dst.drop_fraction(100, dst.check { t1 = 100 }), 0, 1e-12, 'cosine decay: zero at t1')

-- ---- gradual pruning: counts on the schedule at every step, exact at t1 ----
do
  local m = build()
  local seen = {}
  local h = train.fit(m, { train = DS }, { optimizer = { kind = 'sgd', lr = 0.05 }, iterations = 60, batch = 20,
    progress = false, dst = { kind = 'gradual', density = 0.1, t0 = 10, t1 = 45, every = 10 },
    on_step = function(it, model) seen[it] = counts(model) end })
  local ps = {}
  for _, p in ipairs(m:parameters()) do if p.prunable then ps[#ps + 1] = p end end
  local bad = 0
  for it = 1, 60 do
    local step = it < 10 and 0 or (it >= 45 and 45 or 10 + ((it - 10) // 10) * 10)
    for _, p in ipairs(ps) do
      local d = it < 10 and 1 or dst.cubic(step, 10, 45, 1, 0.1)
      if seen[it][p.name] ~= math.floor(d * p.numel + 0.5) then bad = bad + 1 end
    end
  end
  T.check_eq(bad, 0, 'gradual: every layer at round(cubic(t) * n) after every step')
  T.check_eq(counts(m)['fc1.weight'], 48, 'gradual: fc1 at exactly 10% (48 of 480) from t1 on')
  T.check_eq(#h.dst, 5, 'gradual: updates at 10, 20, 30, 40 and t1 = 45')
  T.check_eq(h.dst[5].iter, 45)
end

-- ---- SET and RigL: exact counts, growth only among the pruned, grown at zero, moments zero ----
for _, kind in ipairs { 'set', 'rigl' } do
  local m = build()
  local prev_mask, keep
  local stats = { updates = 0, bad_count = 0, regrown = 0, nonzero = 0, moment = 0, churn = 0 }
  local grown_at -- positions grown by the last update, checked after the next step
  local function on_step(it, model, _, _, opt)
    local masks = model:masks()
    if grown_at then -- the step after an update: SGD's buffer = g exactly iff it was zero
      local mom, g = opt:moment(1), model:grads()
      for _, i in ipairs(grown_at) do
        if mom:get(i) ~= g:get(i) then stats.moment = stats.moment + 1 end
      end
      grown_at = nil
    end
    if prev_mask and it % 10 == 0 and it <= 70 then
      stats.updates = stats.updates + 1
      grown_at = {}
      local v = model:values()
      for i = 1, masks:numel() do
        local a, b = prev_mask:get(i), masks:get(i)
        if a == 0 and b == 1 then
          grown_at[#grown_at + 1] = i
          if v:get(i) ~= 0 then stats.nonzero = stats.nonzero + 1 end
        end
        if a ~= b then stats.churn = stats.churn + 1 end
      end
      for name, c in pairs(counts(model)) do if c ~= keep[name] then stats.bad_count = stats.bad_count + 1 end end
    end
    prev_mask = masks:clone()
    if not keep then keep = counts(model) end
  end
  local h = train.fit(m, { train = DS }, { optimizer = { kind = 'sgd', lr = 0.05, momentum = 0.9 }, iterations = 80,
    batch = 20, progress = false, on_step = on_step,
    dst = { kind = kind, density = 0.25, every = 10, drop = 0.5, t1 = 70 } })
  T.check_eq(keep['fc1.weight'], 120, kind .. ': the initial mask has exactly 25% of fc1')
  T.check_eq(keep['fc2.weight'], 300, kind .. ': and of fc2')
  T.check_eq(stats.updates, 7, kind .. ': updates at 10 .. 70')
  T.check_eq(#h.dst, 7, kind .. ': the history lists them')
  T.check_eq(stats.bad_count, 0, kind .. ': every layer keeps its count after every update')
  T.check_eq(stats.nonzero, 0, kind .. ': grown weights start at zero')
  T.check_eq(stats.moment, 0, kind .. ": the optimizer's moments of grown weights start at zero")
  T.check(stats.churn > 0, kind .. ': the masks did change')
  local rec = h.dst[1]
  T.check_eq(rec.layers[1].dropped, rec.layers[1].grown, kind .. ': as many grown as dropped')
  -- the first update is at 10: the cosine has decayed drop = 0.5 to 0.25 (1 + cos(pi/7)) = 0.4752
  T.check_eq(rec.layers[1].dropped, 57, kind .. ': round(0.4752 * 120) survivors replaced at the first update')
end

-- ---- sparse momentum: layers' counts move, the total stays exact ----
do
  local m = build()
  local total0, bad, moved = nil, 0, false
  local h = train.fit(m, { train = DS }, { optimizer = { kind = 'sgd', lr = 0.05, momentum = 0.9 }, iterations = 60,
    batch = 20, progress = false, dst = { kind = 'momentum', density = 0.2, every = 10, drop = 0.4 },
    on_step = function(_, model)
      local s = prune.stats(model).count
      total0 = total0 or s
      if s ~= total0 then bad = bad + 1 end
    end })
  T.check_eq(bad, 0, 'momentum: the total count is exact after every update')
  for _, l in ipairs(h.dst[#h.dst].layers) do if l.dropped ~= l.grown then moved = true end end
  T.check(moved, 'momentum: growth is redistributed across layers')
  T.checkerror(function()
    train.fit(build(), { train = DS }, { optimizer = { kind = 'sgd', lr = 0.05 }, iterations = 20, batch = 20,
      progress = false, dst = { kind = 'momentum', every = 10 } })
  end, 'needs an optimizer with momentum')
end

-- ---- RigL's dense gradient is the gradient of the same weights with every mask open ----
do
  local a, b = build(), build()
  prune.magnitude(a, { rate = 0.7 })
  b:load_state(a:state())
  local x, y = DS:x():narrow(1, 1, 20), DS:y():narrow(1, 1, 20)
  a:step_loss_dense(x, y)
  b:step_loss(x, y)
  T.check_eq(a:grads():sub(b:grads()):abs():max(), 0, 'dense gradient == the unmasked gradient, bit for bit')
  local va = a:mask_version()
  T.check_eq(a:mask_version(), va, 'the dense gradient leaves the mask version')
  a:step_loss(x, y)
  local pruned_grad = a:grads():mul(a:masks():mul(-1):add(1)):abs():max()
  T.check_eq(pruned_grad, 0, 'the next ordinary step masks the gradient again')
end

-- ---- a mask update rebuilds only the layers that changed ----
do
  local m = build()
  sparse.set_layer(m, nil, { mode = 'sparse' })
  local builds = {}
  local function snap(model)
    local out = {}
    for _, l in ipairs(sparse.layers(model)) do out[l.name] = l.builds end
    return out
  end
  local before, after
  train.fit(m, { train = DS }, { optimizer = { kind = 'sgd', lr = 0.05, momentum = 0.9 }, iterations = 30, batch = 20,
    progress = false, dst = { kind = 'set', density = 0.3, every = 10, layers = { 'fc2.weight' } },
    on_step = function(it, model)
      if it == 9 then before = snap(model) end
      if it == 12 then after = snap(model) end
    end })
  T.check_eq(after['fc2'] - before['fc2'], 1, 'the changed layer (fc2) rebuilt its CSR once')
  T.check_eq(after['fc1'] - before['fc1'], 0, 'fc1 (unchanged) kept its CSR')
  T.check_eq(after['fc3'] - before['fc3'], 0, 'fc3 (unchanged) kept its CSR')
end

-- ---- RigL on a convolution, forced onto the sparse kernels: counts exact, training moves ----
do
  local x = tensor.randn({ 60, 2, 6, 6 }, 4)
  local y = tensor.zeros { 60 }
  for i = 1, 60 do y:set(i, x:get(i, 1, 3, 3) > 0 and 1 or 0) end
  local ds = data.from_tensors(x, y, { classes = 2 })
  local m = nn.model(nn.sequential { nn.conv2d(2, 8, 3, { padding = 1 }), nn.relu(), nn.flatten(), nn.linear(288, 2) },
    { input = { 2, 6, 6 } })
  m:init { seed = 1 }
  sparse.set_layer(m, nil, { mode = 'sparse' })
  local bad, before = 0, nil
  local h = train.fit(m, { train = ds }, { optimizer = { kind = 'adam', lr = 1e-2 }, iterations = 30, batch = 10,
    progress = false, dst = { kind = 'rigl', density = 0.3, every = 5, drop = 0.5 },
    on_step = function(_, model)
      local c = counts(model)
      before = before or c
      for k, v in pairs(c) do if v ~= before[k] then bad = bad + 1 end end
    end })
  T.check_eq(before[m:parameters()[1].name], 43, 'conv: 30% of 144 weights')
  T.check_eq(bad, 0, 'conv: the counts stay exact through the RigL updates')
  T.check(#h.dst >= 4 and h.dst[1].layers[1].grown > 0, 'conv: the weights were redrawn')
end

-- ---- errors name the key or the value ----
T.checkerror(function() dst.check { kind = 'rigl', evry = 10 } end, "unknown option 'evry' (did you mean 'every'?)")
T.checkerror(function() dst.check { kind = 'rgl' } end, "did you mean 'rigl'")
T.checkerror(function() dst.check { distribution = 'erc' } end, "unknown distribution 'erc'")
T.checkerror(function() dst.check { density = 1.5 } end, "option 'density' must be a number in (0, 1]")
T.checkerror(function() dst.check { decay = 'cos' } end, "option 'decay'")
T.checkerror(function() dst.new(build(), { layers = { 'fc9.weight' } }, 100) end, "'fc9.weight' is not a prunable parameter")
T.checkerror(function() dst.new(build(), { distribution = function() return { 2 } end }, 100) end, 'density 2')
do -- a distribution function gets the layers and its densities are used
  local seen
  local s = dst.new(build(), { distribution = function(layers, d)
    seen = layers
    return { 0.5, d, 1 }
  end, density = 0.1 }, 100)
  T.check_eq(#seen, 3)
  T.check_eq(seen[1].numel, 480)
  s:begin()
  local c = counts(s.model)
  T.check_eq({ c['fc1.weight'], c['fc2.weight'], c['fc3.weight'] }, { 240, 120, 90 }, 'densities per layer from the function')
end

-- ERK as a DST initial distribution (lotto.prune.erk, shared with lotto.pai): the
-- overall density is the target, small layers denser, a layer past 1 kept dense.
do
  local dst = require 'lotto.dst'
  local layers = { { name = 'a', shape = { 300, 784 }, numel = 235200 }, { name = 'b', shape = { 100, 300 }, numel = 30000 },
    { name = 'c', shape = { 10, 100 }, numel = 1000 } }
  local d = dst.distributions.erk(layers, 0.1)
  local kept = 0
  for i, e in ipairs(layers) do kept = kept + d[i] * e.numel end
  T.check_near(kept / 266200, 0.1, 1e-9)
  T.check(d[1] < d[2] and d[3] == 1, 'ERK: smaller layers denser, the output layer dense')
  -- by the formula: eps * (300 + 784) / (300 * 784) for the first layer, eps set by the total
  T.check_near(d[1] / d[2], ((300 + 784) / (300 * 784)) / ((100 + 300) / (100 * 300)), 1e-9)
end
T.report()
