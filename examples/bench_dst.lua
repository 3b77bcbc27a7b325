-- bench_dst.lua: what sparse training from the start costs against dense training, on
-- LeNet-300-100 / MNIST (batch 60, Adam): seconds per epoch of the dense network, of a
-- SNIP ticket (pruned at initialization, then trained on a fixed mask) and of RigL
-- (drop/grow every 100 steps, its updates included), every prunable layer at the same
-- density (5% by default); the step of a 3.6% IMP ticket as train.fit runs it against the
-- earlier variants of that step (contiguous batches, fc3 dense, dense buffers written every
-- step, the indexed optimizer step); then the cost of one RigL drop/grow
-- update against one dense training step, for the whole network and for the first layer
-- alone. The three trainings alternate, rep after rep, in one process, so a busy machine
-- slows them alike; the minimum over reps is reported. The figures are process CPU time
-- with --clock cpu (the default).
--
--   lotto examples/bench_dst.lua [--density 0.05] [--threads 1] [--reps 3] [--iters 1000] [--only step]
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/bench_dst.lua [options]',
  about = 'Sparse training against dense, LeNet-300-100 on MNIST: s/epoch dense, SNIP and RigL (mask\n'
    .. 'updates included) at one density, the speed-ups, the sparse step at 3.6% as train.fit runs it\n'
    .. '(against earlier variants of that step), and one drop/grow update against one dense step. A\n'
    .. 'benchmark: run it on an otherwise idle machine.',
  scales = { { '(default)', '3 repetitions of 1,000 steps each', 'about 1 min' } },
  options = {
    { 'density', 0.05, 'density of every prunable layer' },
    { 'threads', 1, 'threads' },
    { 'reps', 3, 'repetitions (the minimum is reported)' },
    { 'iters', 1000, 'steps timed per repetition (scaled to a 60,000-image epoch)' },
    { 'clock', 'cpu', 'wall clock or process CPU time', choices = { 'wall', 'cpu' } },
    { 'only', 'all', 'what to run: everything, or only the sparse step at 3.6%', choices = { 'all', 'step' } },
  },
})
local T, train, pai, now = lotto.tensor, lotto.train, lotto.pai, lotto.sys.now
local density, reps, iters = o.density, math.tointeger(o.reps), math.tointeger(o.iters)
if not (type(density) == 'number' and density > 0 and density <= 1) then
  lotto.args.fail({ prog = 'examples/bench_dst.lua' }, 'density must be a number in (0, 1]')
end
T.set_threads(math.tointeger(o.threads))
print('BLAS: ' .. T.blas_info().summary .. (', %d thread(s), clock %s'):format(T.get_threads(), o.clock))
local clock = o.clock == 'cpu' and os.clock or now

local data = lotto.data.load('mnist', { val = 0 })
local per_epoch = 60000 / 60

local function fresh()
  local m = lotto.models.lenet300()
  m:init { seed = 1 }
  return m
end

-- Seconds per epoch of `iters` steps of fit (after 20 warm-up steps on the same setup).
local function timed(model, dst)
  local opt = lotto.optim.adam(model, { lr = 1.2e-3 })
  local function fit(n, start)
    return train.fit(model, { train = data.train }, { optimizer = opt, batch = 60, iterations = n, progress = false,
      dst = dst, start_iteration = start })
  end
  if dst then dst.t1 = iters + 20 end -- updates all the way through the timed steps
  fit(20, 0)
  local t0 = clock()
  fit(iters + 20, 20)
  return (clock() - t0) * per_epoch / iters
end

-- The sparse step of an IMP ticket at 3.6% (hidden layers 3.6%, output layer 20.8%, as round
-- 15 of lenet_imp.lua): loader, step_loss, optimizer step, in us, as train.fit runs it
-- (batches transposed for the first sparse layer, every layer on the kernels auto picks, the
-- optimizer on the sparse layers' compact copies with the dense buffers lagging behind them:
-- opt:step_after_loss) against the earlier variants, each changing one thing, alternated in
-- blocks of 200 steps so that a busy machine slows them alike: contiguous batches (the first
-- layer transposes them), fc3 forced dense (what the crossover model picked before it counted
-- sgemm's packing), the dense buffers written at every step (sparse.lazy(false)), and the
-- indexed optimizer step over the dense buffers (opt:step). All give the same bits but fc3 dense.
local function sparse_step()
  local m = fresh()
  for _, p in ipairs(m:parameters()) do
    if p.prunable then
      lotto.prune.magnitude_mask(p.mask, p.value, 1 - (p.name == 'fc3.weight' and 0.208 or 0.036))
    end
  end
  m:apply_mask()
  local opt = lotto.optim.adam(m, { lr = 1.2e-3 })
  local tr = lotto.data.loader(data.train, { batch = 60, seed = 1, transposed = m:takes_transposed() })
  local plain = lotto.data.loader(data.train, { batch = 60, seed = 1 })
  -- each variant: its loader, fc3's mode, lazy dense buffers, the compact optimizer step
  local variants = {
    { 'transposed batches, compact optimizer step, lagging dense buffers', tr, 'auto', true, true },
    { 'contiguous batches', plain, 'auto', true, true },
    { 'fc3 dense', tr, 'dense', true, true },
    { 'dense buffers written every step', tr, 'auto', false, true },
    { 'indexed optimizer step', tr, 'auto', false, false },
  }
  local function steps(k, v)
    local loader, fc3, lazy, compact = v[2], v[3], v[4], v[5]
    local was = lotto.sparse.lazy(lazy)
    lotto.sparse.set_layer(m, 'fc3', { mode = fc3 })
    local t0 = clock()
    for _ = 1, k do
      local x, y = loader:next()
      if not x then x, y = loader:next() end
      m:step_loss(x, y)
      if compact then opt:step_after_loss() else opt:step() end
    end
    local t = (clock() - t0) / k
    lotto.sparse.set_layer(m, 'fc3', { mode = 'auto' })
    lotto.sparse.lazy(was)
    return t
  end
  local paths = ''
  steps(50, variants[1])
  for _, l in ipairs(lotto.sparse.layers(m)) do paths = paths .. ' ' .. l.path end
  local best = {}
  for _ = 1, math.max(3, reps * 2) do
    for i, v in ipairs(variants) do best[i] = math.min(best[i] or math.huge, steps(200, v)) end
  end
  local others = {}
  for i = 2, #variants do
    others[#others + 1] = ('%s %.0f us (%.2fx)'):format(variants[i][1], 1e6 * best[i], best[i] / best[1])
  end
  print(('\nsparse step at 3.6%%/20.8%% (layers:%s), batch 60: %.0f us with %s; %s'):format(
    paths, 1e6 * best[1], variants[1][1], table.concat(others, ', ')))
end
if o.only == 'step' then return sparse_step() end

local methods = {
  { 'dense', function() return timed(fresh()) end },
  { ('SNIP %g%%'):format(100 * density), function()
    local m = fresh()
    pai.prune(m, { method = 'snip', density = density, distribution = 'uniform', data = data.train })
    return timed(m)
  end },
  { ('RigL %g%%'):format(100 * density), function()
    return timed(fresh(), { kind = 'rigl', density = density, every = 100, drop = 0.3 })
  end },
}
local best = {}
for _ = 1, reps do
  for i, m in ipairs(methods) do best[i] = math.min(best[i] or math.huge, m[2]()) end
end
print(('\nLeNet-300-100, batch 60, Adam, every prunable layer at %g%%: s/epoch (min of %d, %d steps each)'):format(
  100 * density, reps, iters))
for i, m in ipairs(methods) do
  print(('  %-10s %7.3f s/epoch   %5.2fx dense'):format(m[1], best[i], best[1] / best[i]))
end

sparse_step()

-- One RigL update (dense gradient on the step's batch, drop/grow of every layer, rebuild
-- of the changed layers' CSR and of the optimizer's kept list) as the difference between
-- steps with an update every step and steps without, against one dense step.
local function per_step(every, model_fn, n)
  local model = model_fn()
  local dst = { kind = 'rigl', density = density, every = every, drop = 0.3, t1 = n + 20 }
  local opt = lotto.optim.adam(model, { lr = 1.2e-3 })
  train.fit(model, { train = data.train }, { optimizer = opt, batch = 60, iterations = 20, progress = false, dst = dst })
  local t0 = clock()
  train.fit(model, { train = data.train }, { optimizer = opt, batch = 60, iterations = n + 20, progress = false, dst = dst,
    start_iteration = 20 })
  return (clock() - t0) / n
end
local n = math.max(50, iters // 5)
local upd, plain = math.huge, math.huge
for _ = 1, reps do
  upd = math.min(upd, per_step(1, fresh, n))
  plain = math.min(plain, per_step(n * 10, fresh, n))
end
local dense_step = best[1] / per_epoch
print(('\none RigL update, whole network: %.0f us (a step with an update %.0f us, without %.0f us); one dense step %.0f us: %.2fx a dense step'):format(
  1e6 * (upd - plain), 1e6 * upd, 1e6 * plain, 1e6 * dense_step, (upd - plain) / dense_step))

-- The first layer alone: its drop/grow (lotto.core.dst on its mask, weights and dense
-- gradient) against one dense training step of a 784 -> 300 linear layer.
local dstcore, prune = require 'lotto.core.dst', lotto.prune
local m = fresh()
local p = m:parameters()[1]
p.mask:fill(1)
prune.magnitude_mask(p.mask, p.value, 1 - density)
m:apply_mask()
local g = T.randn(p.shape, 3)
local alive = prune.count(p.mask)
local k = math.floor(0.3 * alive + 0.5)
local r = lotto.rng.new(1, lotto.rng.streams.prune)
local function one_update() dstcore.drop_grow(p.mask, p.value, g, k, k, r); m:mask_changed({ p.name }) end
local lay = lotto.nn.model(lotto.nn.linear(784, 300), { input = { 784 } })
lay:init { seed = 1 }
local lopt = lotto.optim.adam(lay, { lr = 1e-3 })
local x, y = T.rand({ 60, 784 }, 1), T.zeros { 60 }
local function dense_layer_step() lay:step_loss(x, y); lopt:step() end
local function min_time(f, count)
  f()
  local b = math.huge
  for _ = 1, reps do
    local t0 = clock()
    for _ = 1, count do f() end
    b = math.min(b, (clock() - t0) / count)
  end
  return b
end
local tu, td = min_time(one_update, 50), lotto.sparse.with_mode('dense', min_time, dense_layer_step, 200)
print(('fc1 (784 -> 300) at %g%%: drop/grow of %d weights %.0f us; one dense step of the layer %.0f us: %.2fx'):format(
  100 * density, k, 1e6 * tu, 1e6 * td, tu / td))
