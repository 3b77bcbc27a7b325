-- test_lmc.lua: lotto.lmc — interpolation endpoints, instability of identical states,
-- a short reproducible instability run on a tiny MLP, batchnorm statistics, misuse.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local lmc = require 'lotto.lmc'
local nn, tensor = lotto.nn, lotto.tensor

-- A random 2-class problem: the label is the sign of a fixed random projection of x.
local function problem(n, seed)
  local x = tensor.randn({ n, 8 }, seed)
  local w = tensor.randn({ 8 }, 99)
  local rows = x:totable()
  local ys, wt = {}, w:totable()
  for i, r in ipairs(rows) do
    local s = 0
    for j = 1, 8 do s = s + r[j] * wt[j] end
    ys[i] = s > 0 and 1 or 0
  end
  return lotto.data.from_tensors(x, tensor.new(ys), { classes = 2 })
end
local data = { train = problem(512, 1), val = problem(128, 2), test = problem(256, 3) }

local function mlp(bn)
  local layers = { nn.linear(8, 16) }
  if bn then layers[#layers + 1] = nn.batchnorm(16) end
  layers[#layers + 1] = nn.relu()
  layers[#layers + 1] = nn.linear(16, 2)
  local m = nn.model(nn.sequential(layers), { input = { 8 } })
  m:init { seed = 1 }
  return m
end

local asan = os.getenv('LOTTO_ASAN') == '1'
local iters = asan and 30 or 120
local fitopts = { optimizer = { kind = 'adam', lr = 1e-2 }, batch = 32, iterations = iters }

-- ---- interpolate: endpoints exact, shape of the result, state restored -------------------
do
  local m = mlp()
  local A = m:state()
  lotto.train.fit(m, data, { optimizer = lotto.optim.adam(m, { lr = 1e-2 }), batch = 32, iterations = iters, progress = false })
  local B = m:state()
  m:load_state(A)
  local lossA, accA = m:evaluate(data.test)
  m:load_state(B)
  local lossB, accB = m:evaluate(data.test)
  T.check(accA ~= accB, 'training changed the accuracy (the endpoint test needs distinct endpoints)')
  local before = m:state()
  local c = lmc.interpolate(m, A, B, data, { points = 7 })
  T.check_eq(#c.alpha, 7, 'points')
  T.check_eq(c.alpha[1], 0)
  T.check_eq(c.alpha[7], 1)
  T.check_near(c.alpha[4], 0.5, 1e-12)
  T.check_eq(c.error[1], 1 - accA, 'alpha = 0 reproduces the error of A exactly')
  T.check_eq(c.error[7], 1 - accB, 'alpha = 1 reproduces the error of B exactly')
  T.check_eq(c.loss[1], lossA, 'loss at alpha = 0')
  T.check_eq(c.loss[7], lossB, 'loss at alpha = 1')
  T.check_eq(m:state(), before, 'the model state is restored')
  -- the midpoint really is the average of the two states
  local mid = A:mul(0.5):add_(B:mul(0.5))
  m:load_state(mid)
  local lm = m:evaluate(data.test)
  m:load_state(before)
  T.check_near(c.loss[4], lm, 1e-6, 'midpoint loss is the loss of (A + B) / 2')
  T.check_near(lmc.barrier(c), math.max(table.unpack(c.error)) - (c.error[1] + c.error[7]) / 2, 1e-15, 'barrier')

  -- masks are applied after interpolating: a mask that prunes everything gives chance-level outputs
  local mask = m:masks():clone()
  m:masks():fill(0)
  local c0 = lmc.interpolate(m, A, B, data, { points = 3 })
  m:masks():copy(mask)
  T.check_eq(c0.loss[1], c0.loss[3], 'with every weight masked both endpoints are the same (zero) network')
  T.check_near(c0.loss[2], math.log(2), 1e-6, 'all-zero network predicts uniformly')
  T.check_eq(m:state(), before, 'state restored after the masked run')

  -- misuse gives clear errors
  T.checkerror(function() lmc.interpolate(m, A, B, data, { points = 1 }) end, "'points' must be >= 2")
  T.checkerror(function() lmc.interpolate(m, A, tensor.zeros { 3 }, data) end, 'stateB has 3 values')
  T.checkerror(function() lmc.interpolate(m, A, 'x', data) end, 'stateB must be a flat state tensor')
  T.checkerror(function() lmc.interpolate(m, A, B, data, { split = 'nope' }) end, "no 'nope' split")
  T.checkerror(function() lmc.interpolate(m, A, B, data, { pts = 3 }) end, "unknown option 'pts'")
  T.checkerror(function() lmc.interpolate({}, A, B, data) end, 'expected a model')
end

-- ---- identical states: instability 0 ------------------------------------------------------
do
  local m = mlp()
  local s = m:state()
  local c = lmc.interpolate(m, s, s:clone(), data, { points = 5 })
  T.check_eq(lmc.barrier(c), 0, 'the path between identical states has no barrier')
  -- two copies trained with the same data order are identical, so their instability is 0
  local r = lmc.instability { model = m, state = s, data = data, train = fitopts, seeds = { 5, 5 }, points = 5 }
  T.check_eq(r.states[1], r.states[2], 'same seed, same result')
  T.check_eq(r.instability, 0, 'instability of two identical copies')
end

-- ---- a short instability run: finite, reproducible, copies differ -------------------------
do
  local m = mlp()
  local s = m:state()
  local function once()
    return lmc.instability { model = m, state = s, data = data, train = fitopts, seeds = { 1, 2 }, points = 9 }
  end
  local r1 = once()
  T.check_eq(m:state(), s, 'instability restores the model')
  local r2 = once()
  T.check(r1.instability == r1.instability and r1.instability > -1 and r1.instability <= 1, 'instability is a finite fraction')
  T.check_eq(r1.instability, r2.instability, 'reproducible for fixed seeds')
  T.check_eq(r1.curve.error, r2.curve.error, 'the whole curve is reproducible')
  T.check(r1.states[1]:sub(r1.states[2]):abs():sum() > 0, 'different data orders give different copies')
  T.check_eq(r1.errors[1], r1.curve.error[1])
  T.check_eq(r1.iterations, iters, 'each copy trains the whole schedule from k = 0')
  -- start = k: the copies train the rest of the schedule
  local r3 = lmc.instability { model = m, state = s, data = data, train = fitopts, start = 20, points = 3 }
  T.check_eq(r3.iterations, iters - 20, 'rewound copies train T - k iterations')
  -- ... and see the learning-rate schedule from iteration k on
  local asked = {}
  local sched = { optimizer = fitopts.optimizer, batch = 32, iterations = iters,
                  schedule = function(it) asked[#asked + 1] = it; return 1e-2 end }
  lmc.instability { model = m, state = s, data = data, train = sched, start = 20, points = 2 }
  T.check_eq({ asked[1], asked[#asked] }, { 20, iters - 1 }, 'schedule shifted by k')
  -- a mask is respected: pruned weights stay zero in both copies
  local mask = m:masks():clone()
  local p1 = m:parameters()[1]
  local half = mask:clone()
  half:narrow(1, p1.offset + 1, 64):fill(0)
  local r4 = lmc.instability { model = m, state = s, mask = half, data = data, train = fitopts, points = 3 }
  T.check_eq(r4.states[1]:narrow(1, p1.offset + 1, 64):abs():sum(), 0, 'masked weights stay zero in copy A')
  T.check_eq(r4.states[2]:narrow(1, p1.offset + 1, 64):abs():sum(), 0, 'masked weights stay zero in copy B')
  T.check_eq(m:masks(), mask, 'the model mask is restored')

  T.checkerror(function() lmc.instability { model = m, state = s, data = data } end, 'option train')
  T.checkerror(function() lmc.instability { model = m, state = s, data = data,
    train = { optimizer = lotto.optim.adam(m), iterations = 2 } } end, 'fresh optimizer')
  T.checkerror(function() lmc.instability { model = m, state = s, data = data, train = fitopts, seeds = { 1 } } end, 'seeds')
  T.checkerror(function() lmc.instability { model = m, state = s, data = data, train = fitopts, mask = tensor.ones { 3 } } end,
    'mask must be a flat mask')
end

-- ---- batchnorm: statistics recomputed from training batches --------------------------------
do
  local m = mlp(true)
  local bufs = lotto.nn.bn_buffers(m)
  T.check_eq(#bufs, 1, 'one batchnorm layer')
  -- the reference: batch statistics of the first hidden layer, computed by hand over the
  -- same batches the loader gives
  local used = lotto.nn.reset_bn_stats(m, data.train, { batches = 4, batch = 64 })
  T.check_eq(used, 4)
  local loader = lotto.data.loader(data.train, { batch = 64, seed = 1 })
  local p = m:parameters()
  local W, b = p[1].value, p[2].value
  local Wt, bt = W:totable(), b:totable()
  local mean, var = {}, {}
  for j = 1, 16 do mean[j], var[j] = 0, 0 end
  for _ = 1, 4 do
    local xb = loader:next():totable()
    for j = 1, 16 do
      local h, s = {}, 0
      for i, row in ipairs(xb) do
        local v = bt[j]
        for q = 1, 8 do v = v + Wt[j][q] * row[q] end
        h[i], s = v, s + v
      end
      local mu, ss = s / #xb, 0
      for i = 1, #xb do ss = ss + (h[i] - mu) ^ 2 end
      mean[j], var[j] = mean[j] + mu / 4, var[j] + ss / (#xb - 1) / 4
    end
  end
  T.check_near(bufs[1].mean, mean, 1e-4, 'running mean = average batch mean')
  T.check_near(bufs[1].var, var, 1e-3, 'running var = average unbiased batch variance')
  T.check_eq(m:reset_bn_stats(data.train, { batches = 4, batch = 64 }), 4, 'also a model method')
  T.checkerror(function() lotto.nn.reset_bn_stats(m, data.train, { batchs = 4 }) end, "unknown option 'batchs' (did you mean 'batch")
  local keep_mean, keep_var = bufs[1].mean:clone(), bufs[1].var:clone()
  m:clear_bn_stats()
  T.check(bufs[1].mean:abs():max() == 0 and bufs[1].var:sub(1):abs():max() == 0, 'clear_bn_stats: mean 0, var 1')
  bufs[1].mean:copy(keep_mean); bufs[1].var:copy(keep_var)

  -- interpolation of a batchnorm model needs training data and restores the buffers
  local A = m:state()
  local saved = bufs[1].mean:clone()
  local B = A:add(tensor.randn({ A:numel() }, 4, 0, 0.1))
  local c = lmc.interpolate(m, A, B, data, { points = 3, bn_batches = 2 })
  T.check_eq(#c.error, 3)
  T.check_eq(bufs[1].mean, saved, 'running statistics restored after interpolating')
  T.checkerror(function() lmc.interpolate(m, A, B, data.test, { points = 3 }) end, 'needs training data')
  local c2 = lmc.interpolate(m, A, B, data.test, { points = 3, bn_reset = false })
  T.check_eq(#c2.loss, 3, 'bn_reset = false works without training data')
end

-- ---- analyze: the grid of subnetworks x rewind points, stored, resumable, plotted ---------------
do
  local root = (os.getenv('LOTTO_TEST_TMP') or '.') .. '/lmc_analyze'
  local cfg = {
    name = 'grid', root = root, restart = true, model = function() return mlp() end, data = data,
    train = { optimizer = { kind = 'adam', lr = 1e-2 }, batch = 32, iterations = asan and 20 or 60 },
    rewind = { 0, 10 }, imp = { rounds = { 1, 3 }, prune = { rate = 0.5 } }, points = 5, verbose = false,
    plots = lotto.plot.have_gnuplot(),
  }
  local res, dir = lmc.analyze(cfg)
  T.check_eq(#res.cells, 6, 'dense and two IMP subnetworks at two rewind points')
  T.check_eq(res.cells[1].subnetwork, 'dense')
  T.check_eq(res.cells[1].density, 1.0)
  T.check(res.cells[3].density < 1 and res.cells[5].density < res.cells[3].density, 'IMP rounds get sparser')
  for _, c in ipairs(res.cells) do
    T.check(c.instability == c.instability and c.instability >= -1 and c.instability <= 1, 'finite instability')
  end
  local fs = lotto.fs
  T.check(fs.exists(dir .. '/dense_k10.json'), 'one file per cell')
  T.check(fs.exists(dir .. '/results.json'), 'results.json')
  if cfg.plots then
    T.check(fs.exists(root .. '/grid/plots/instability.png'), 'instability plot')
    T.check(fs.exists(root .. '/grid/plots/interpolation_dense.png'), 'interpolation plot')
  end
  -- resuming reads the stored cells back: same numbers
  cfg.restart = false
  local again = lmc.analyze(cfg)
  T.check_eq(again.cells, res.cells, 'a resumed analysis gives the stored results')
  cfg.rewind = { 0, 5 }
  T.checkerror(function() lmc.analyze(cfg) end, 'different config')
  T.checkerror(function() lmc.analyze { rewnd = 3 } end, "unknown option 'rewnd'")
  T.checkerror(function() lmc.analyze { rewind = { -1 }, data = data } end, 'rewind must be a list')
end

T.report()
