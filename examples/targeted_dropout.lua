-- targeted_dropout.lua: does targeted dropout (Gomez et al. 2019) make a network robust
-- to the magnitude pruning that follows it? LeNet-300-100 on MNIST is trained twice from
-- the same theta0 and data order, plainly and with train.fit{targeted_dropout = {alpha,
-- gamma}}, then pruned one-shot by |w| (every layer at the same rate, no retraining) to
-- each density. Prints test accuracy before and after pruning, mean and std over seeds,
-- and plots accuracy against density.
--
--   lotto examples/targeted_dropout.lua          2 seeds, 3000 iterations
--   lotto examples/targeted_dropout.lua --full   5 seeds, 10000 iterations
--   options: --alpha, --gamma, --kind weight|unit, --seeds, --iters
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/targeted_dropout.lua [options]',
  about = 'Targeted dropout (Gomez et al. 2019) before magnitude pruning: LeNet-300-100 on MNIST\n'
    .. 'trained plainly and with targeted dropout from the same theta0, then pruned one-shot by |w|\n'
    .. '(no retraining) to 50% ... 1% of the weights. Test accuracy vs density, mean and std over\n'
    .. 'seeds (runs/targeted_dropout[_full]/).',
  scales_measured = 'CPU time with LOTTO_THREADS=1, measured or estimated as marked',
  scales = {
    { '(default)', '2 seeds, 3000 iterations', 'measured: 61 s' },
    { '--full', '5 seeds, 10000 iterations', 'estimated: 8.5 min' },
  },
  options = {
    { 'full', false, 'the larger scale' },
    { 'alpha', 0.5, 'drop probability of a candidate', type = 'number' },
    { 'gamma', 0.9, 'fraction of each layer (lowest |w|) that are candidates', type = 'number' },
    { 'kind', 'weight', 'drop weights or whole units', choices = { 'weight', 'unit' } },
    { 'seeds', nil, 'number of seeds (default 2; 5 with --full)', type = 'number', integer = true, min = 1 },
    { 'iters', nil, 'training iterations (default 3000; 10000 with --full)', type = 'number', integer = true, min = 1 },
  },
})
local plot, json, fs = lotto.plot, lotto.json, lotto.fs
local data = lotto.data.load('mnist', { val = 5000 })
local iters, nseeds = o.iters or (o.full and 10000 or 3000), o.seeds or (o.full and 5 or 2)
local densities = { 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01 }
local td = { alpha = o.alpha, gamma = o.gamma, kind = o.kind }
local runs = { { label = 'plain training' },
  { label = ('targeted dropout (alpha %g, gamma %g, %s)'):format(o.alpha, o.gamma, o.kind), td = td } }
local out = 'runs/targeted_dropout' .. (o.full and '_full' or '')
assert(fs.mkdir_p(out))

local acc = {} -- acc[run][density] = {per seed}
for seed = 1, nseeds do
  for r, run in ipairs(runs) do
    local m = lotto.models.lenet300 { input = { 1, 28, 28 } }
    m:init { seed = seed }
    lotto.train.fit(m, data, { optimizer = { kind = 'adam', lr = 1.2e-3 }, batch = 60, iterations = iters, seed = seed,
      progress = false, eval_every = iters, targeted_dropout = run.td })
    local trained = m:state()
    acc[r] = acc[r] or {}
    for _, d in ipairs(densities) do
      m:masks():fill(1)
      m:mask_changed()
      m:load_state(trained)
      if d < 1 then lotto.prune.magnitude(m, { rate = 1 - d }) end
      local _, a = m:evaluate(data.test)
      acc[r][d] = acc[r][d] or {}
      table.insert(acc[r][d], a)
    end
    io.write(('seed %d  %-45s dense %.2f%%  at 5%%: %.2f%%\n'):format(seed, run.label, 100 * acc[r][1][seed],
      100 * acc[r][0.05][seed]))
  end
end

local function stats(v)
  local s, s2 = 0, 0
  for _, a in ipairs(v) do s, s2 = s + a, s2 + a * a end
  local mean = s / #v
  return 100 * mean, 100 * math.sqrt(math.max(0, s2 / #v - mean * mean))
end
print(('\ntest accuracy after one-shot magnitude pruning, no retraining (%d seeds, %d iterations):'):format(nseeds, iters))
io.write(('%-10s'):format('density'))
for _, run in ipairs(runs) do io.write(('  %-22s'):format(run.td and 'targeted dropout' or 'plain')) end
io.write('\n')
local series, summary = {}, {}
for r, run in ipairs(runs) do series[r] = { name = run.label, x = {}, y = {}, err = {} } end
for _, d in ipairs(densities) do
  io.write(('%8.1f%%'):format(100 * d))
  for r, run in ipairs(runs) do
    local mean, sd = stats(acc[r][d])
    io.write(('   %6.2f +- %5.2f%%       '):format(mean, sd))
    local s = series[r]
    s.x[#s.x + 1], s.y[#s.y + 1], s.err[#s.err + 1] = 100 * d, mean, sd
    summary[run.label] = summary[run.label] or {}
    summary[run.label][#summary[run.label] + 1] = { density = d, mean = mean, std = sd }
  end
  io.write('\n')
end
json.write(out .. '/results.json', { seeds = nseeds, iterations = iters, targeted_dropout = td, results = summary })
local img, err = plot.lines { out = out .. '/accuracy', title = ('magnitude pruning after training: LeNet-300-100 on MNIST (%d seeds)'):format(nseeds),
  xlabel = 'weights remaining (%)', ylabel = 'test accuracy, no retraining (%)', logx = true, reverse_x = true,
  series = series }
print(('\nresults: %s/results.json   plot: %s'):format(out, img or err))
