-- bench_train.lua: training speed. LeNet-300-100 (batch 60, Adam): seconds per
-- full MNIST epoch of 60,000 images (1,000 iterations; 55,000 with the usual
-- validation split is 0.917 of that). Conv-2 on 28x28 inputs (batch 60, Adam):
-- ms per image per training step over a fixed number of iterations. Both with
-- GFLOP/s of the useful multiply-adds (forward, weight and input gradients).
-- Then sparse dispatch: LeNet-300-100 s/epoch at IMP densities, masked dense
-- (lotto.sparse.mode 'dense', what PyTorch tools do) against 'auto', and a small
-- lenet_imp.lua-like IMP run timed round by round in both modes.
--
-- Times are the minimum over --reps runs, wall clock by default; --clock cpu
-- reports process CPU time instead (steadier on a shared machine with 1
-- thread; with more it adds up the threads' time).
--
--   lotto examples/bench_train.lua [--threads n] [--conv-iters n] [--reps n] [--imp-rounds n]
--                                  [--only lenet|conv|sparse|imp] [--clock wall|cpu]
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/bench_train.lua [options]',
  about = 'Training speed: LeNet-300-100 seconds per MNIST epoch, Conv-2 ms per image per step, with\n'
    .. 'GFLOP/s; sparse dispatch (masked dense against auto) at IMP densities; a small IMP run\n'
    .. 'timed round by round in both modes. A benchmark: run it on an otherwise idle machine.',
  scales = { { '(default)', 'all parts, 2 repetitions', 'about 10 min' } },
  options = {
    { 'threads', nil, 'OpenBLAS threads (default: as many as cores)', type = 'number' },
    { 'conv-iters', 20, 'Conv-2 iterations per repetition' },
    { 'reps', 2, 'repetitions (the minimum is reported)' },
    { 'imp-rounds', 5, 'rounds of the timed IMP run' },
    { 'only', nil, 'one part only', type = 'string', choices = { 'lenet', 'conv', 'sparse', 'imp' } },
    { 'clock', 'wall', 'wall clock or process CPU time', choices = { 'wall', 'cpu' } },
  },
})
local threads, conv_iters, only, reps, imp_rounds, clock = o.threads, o['conv-iters'], o.only, o.reps, o['imp-rounds'], o.clock
local function want(part) return only == nil or only == part end
local T, now = lotto.tensor, lotto.sys.now
threads = threads or T.get_threads()
T.set_threads(threads)   -- OpenBLAS threads, explicitly
print('BLAS: ' .. T.blas_info().summary)

-- FLOPs per image of one training step: 2 per multiply-add, forward + weight
-- gradient for every layer, input gradient for all but the first.
local function step_flops(macs)
  local f = 0
  for k, m in ipairs(macs) do f = f + 2 * m * (k == 1 and 2 or 3) end
  return f
end

-- Real data when it is there, otherwise random images of the same shape.
local function dataset(name, n)
  if lotto.data.available(name) then
    local d = lotto.data.load(name, { val = 0 })
    return d.train, name
  end
  local x = T.rand({ n, 1, 28, 28 }, 1)
  local y = T.rand({ n }, 2, 0, 10):clamp(0, 9.99)
  for r = 1, n do y:set(r, math.floor(y:get(r))) end
  return lotto.data.from_tensors(x, y, { classes = 10 }), 'random data (' .. name .. ' not found)'
end

-- Trains `iters` iterations after a warm-up; returns seconds (--clock), and the
-- optimizer step measured separately (seconds per step).
local function run(model, ds, iters)
  model:init{ seed = 1 }
  local opt = lotto.optim.adam(model, { lr = 1e-3 })
  lotto.train.fit(model, { train = ds }, { optimizer = opt, batch = 60, iterations = 3, progress = false })
  local c0 = os.clock()
  local h = lotto.train.fit(model, { train = ds }, { optimizer = opt, batch = 60, iterations = iters, progress = false })
  local cpu = os.clock() - c0
  local n, t0 = math.max(10, iters // 10), now()
  for _ = 1, n do opt:step() end
  return clock == 'cpu' and cpu or h.seconds, (now() - t0) / n
end

-- The fastest of `reps` runs (model re-initialised each time).
local function best_run(model, ds, iters)
  local best, best_opt = math.huge, math.huge
  for _ = 1, reps do
    local s, o = run(model, ds, iters)
    best, best_opt = math.min(best, s), math.min(best_opt, o)
  end
  return best, best_opt
end

if want('lenet') then
  local ds, src = dataset('mnist', 60000)
  local model = lotto.models.lenet300()
  local iters = math.ceil(ds:size() / 60)
  local flops = step_flops{ 784 * 300, 300 * 100, 100 * 10 }
  local s, opt_s = best_run(model, ds, iters)
  print(('LeNet-300-100, %s: %d images (%d iterations of 60) in %.3f s %s = %.3f s/epoch, %.1f GFLOP/s (%.2f MFLOP/image); optimizer %.2f ms/step (min of %d)'):format(
    src, ds:size(), iters, s, clock, s * 60000 / ds:size(), flops * ds:size() / s / 1e9, flops / 1e6, 1e3 * opt_s, reps))
end

if want('conv') then
  local ds, src = dataset('fashion_mnist', 6000)
  local model = lotto.models.conv2{ input = { 1, 28, 28 } }
  local flops = step_flops{ 28 * 28 * 64 * 9, 28 * 28 * 64 * 64 * 9, 12544 * 256, 256 * 256, 256 * 10 }
  local s, opt_s = best_run(model, ds, conv_iters)
  local imgs = conv_iters * 60
  print(('Conv-2 (28x28), %s: %d iterations of 60 in %.2f s %s = %.3f ms/image/step, %.1f GFLOP/s (%.1f MFLOP/image); optimizer %.2f ms/step (min of %d)'):format(
    src, conv_iters, s, clock, 1e3 * s / imgs, flops * imgs / s / 1e9, flops / 1e6, 1e3 * opt_s, reps))
end

-- ---- sparse dispatch -------------------------------------------------------------
local sparse, prune = lotto.sparse, lotto.prune

-- IMP densities: hidden layers at 0.8^k, the output layer at 0.9^k (rate 0.2 / 0.1 a round).
local function prune_to(model, d)
  local k = math.log(d) / math.log(0.8)
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      p.mask:fill(1)
      prune.magnitude_mask(p.mask, p.value, 1 - (p.name == 'fc3.weight' and 0.9 ^ k or d))
    end
  end
  model:apply_mask()
end

if want('sparse') then
  local ds, src = dataset('mnist', 60000)
  local iters = math.ceil(ds:size() / 60)
  print(('\nLeNet-300-100 training, %s, batch 60, Adam, %d thread(s): seconds (%s) per epoch of 60,000 images (min of %d)'):format(
    src, T.get_threads(), clock, reps))
  print('hidden/output density  overall | masked dense   sparse auto  speed-up | optimizer ms/step | paths fc1 fc2 fc3')
  for _, d in ipairs({ 1.0, 0.51, 0.21, 0.07, 0.036, 0.019 }) do
    local model = lotto.models.lenet300()
    local secs, opt_ms, paths = {}, 0, ''
    for _, mode in ipairs({ 'dense', 'auto' }) do
      local best = math.huge
      sparse.with_mode(mode, function()
        for _ = 1, reps do
          model:init{ seed = 1 }
          prune_to(model, d)
          local s, o = run(model, ds, iters)
          best = math.min(best, s * 60000 / ds:size())
          if mode == 'auto' then opt_ms = 1e3 * o end
        end
      end)
      secs[mode] = best
    end
    for _, l in ipairs(sparse.layers(model)) do paths = paths .. ' ' .. (l.path == 'sparse' and 'S' or 'D') end
    print(('%6.1f%% / %5.1f%%  %7.2f%% | %10.3f s  %10.3f s  %6.1fx  | %17.2f |%s'):format(100 * d,
      100 * 0.9 ^ (math.log(d) / math.log(0.8)), 100 * model:density(), secs.dense, secs.auto, secs.dense / secs.auto,
      opt_ms, paths))
  end
end

if want('imp') then
  -- lenet_imp.lua's configuration, smaller: one seed, no control runs, 1,000 iterations a
  -- round, pruning 50% a round (25% of the output layer) so that 5 rounds reach 3%.
  local root = (os.getenv('LOTTO_TEST_TMP') or os.getenv('TMPDIR') or '/tmp') .. '/lotto_bench_train'
  local function imp(mode)
    return sparse.with_mode(mode, function()
      local _, run = lotto.ticket.imp {
        name = 'imp_' .. mode, root = root, model = 'lenet300', data = 'mnist', data_opts = { val = 5000 },
        optimizer = { kind = 'adam', lr = 1.2e-3 }, batch = 60, iterations = 1000, eval_every = 100,
        seeds = { 1 }, rounds = imp_rounds, prune = { rate = 0.5, output_rate = 0.25 }, controls = {},
        restart = true, plots = false, progress = false, verbose = false,
      }
      local rounds = {}
      for k = 0, imp_rounds do rounds[k] = run:load_summary(1, k) end
      return rounds
    end)
  end
  if not lotto.data.available('mnist') then
    print('\nIMP: MNIST not found (make data); skipped')
  else
    print(('\nIMP on MNIST (lenet_imp.lua-like: %d rounds x 1,000 iterations, eval every 100 on 5,000 val + 10,000 test, no controls), %d thread(s)'):format(
      imp_rounds, T.get_threads()))
    -- modes alternate, and each round keeps its fastest time over the repetitions
    local dense, auto = imp('dense'), imp('auto')
    for _ = 2, reps do
      for mode, best in pairs({ dense = dense, auto = auto }) do
        local again = imp(mode)
        for k = 0, imp_rounds do best[k].seconds = math.min(best[k].seconds, again[k].seconds) end
      end
    end
    print(('round  density | masked dense  sparse auto  speed-up   (wall seconds per round, min of %d)'):format(reps))
    local td, ta = 0, 0
    for k = 0, imp_rounds do
      local a, b = dense[k], auto[k]
      td, ta = td + a.seconds, ta + b.seconds
      print(('%5d  %6.2f%% | %10.2f s  %9.2f s  %6.1fx'):format(k, 100 * a.density, a.seconds, b.seconds, a.seconds / b.seconds))
    end
    print(('total           | %10.2f s  %9.2f s  %6.1fx'):format(td, ta, td / ta))
  end
end
