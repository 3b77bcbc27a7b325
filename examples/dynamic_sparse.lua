-- dynamic_sparse.lua: training sparse from the start against training dense, on
-- LeNet-300-100 / MNIST: a static random sparse mask, SET (Mocanu et al. 2018), RigL
-- (Evci et al. 2020), sparse momentum (Dettmers & Zettlemoyer 2019), gradual magnitude
-- pruning (Zhu & Gupta 2017: dense to sparse on a cubic schedule) and the dense
-- network, at 10% and 2% of the hidden layers' weights (the 1,000 output weights stay
-- dense). Each method is one config table, lotto.train.fit{dst = {...}}. Prints test
-- accuracy and training seconds per epoch (mask updates included, evaluation not)
-- beside each, and plots both against the density. The speed comparison at one density
-- with SNIP beside RigL, and the cost of one update, is examples/bench_dst.lua.
--
--   lotto examples/dynamic_sparse.lua          2 epochs, 1 seed
--   lotto examples/dynamic_sparse.lua --full   20 epochs, 3 seeds
--   lotto examples/dynamic_sparse.lua --help
local full = lotto.args.parse(arg, {
  usage = 'lotto examples/dynamic_sparse.lua [options]',
  about = 'Training sparse from the start against training dense, LeNet-300-100 on MNIST: static\n'
    .. 'random masks, SET, RigL, sparse momentum and gradual magnitude pruning at 10% and 2% of the\n'
    .. 'hidden weights, and the dense network. Prints test accuracy and training seconds per epoch,\n'
    .. 'plots both against the density (runs/dynamic_sparse[_full]/).',
  scales_measured = 'CPU time with LOTTO_THREADS=1, measured or estimated as marked',
  scales = {
    { '(default)', '2 epochs, 1 seed', 'measured: 12 s' },
    { '--full', '20 epochs, 3 seeds', 'measured: 5.8 min' },
  },
  options = { { 'full', false, 'the larger scale' } },
}).full
local epochs, seeds = full and 20 or 2, full and { 1, 2, 3 } or { 1 }
local densities = { 0.1, 0.02 }
local hidden = { 'fc1.weight', 'fc2.weight' }

local data = lotto.data.load('mnist', { val = 5000 })
local per_epoch = math.floor(data.train:size() / 60)
local methods = {
  { name = 'dense' },
  { name = 'static', dst = { kind = 'static' } },
  { name = 'SET', dst = { kind = 'set', every = 100, drop = 0.3 } },
  { name = 'RigL', dst = { kind = 'rigl', every = 100, drop = 0.3 } },
  { name = 'sparse momentum', dst = { kind = 'momentum', every = per_epoch, drop = 0.5 } },
  { name = 'gradual', dst = { kind = 'gradual', every = 100 } },
}

local function run(m, density, seed)
  local model = lotto.models.lenet300()
  model:init { seed = seed, weight = 'kaiming_normal' }
  local dst
  if m.dst then
    dst = { density = density, layers = hidden, seed = seed }
    for k, v in pairs(m.dst) do dst[k] = v end
  end
  local h = lotto.train.fit(model, { train = data.train }, {
    optimizer = { kind = 'adam', lr = 1.2e-3 }, batch = 60, epochs = epochs, seed = seed, dst = dst })
  local _, acc = model:evaluate(data.test)
  return acc, h.seconds / h.epochs, lotto.prune.stats(model).overall
end

local rows, series, speed = {}, {}, {}
print(('%-16s %8s %10s %16s %12s'):format('method', 'density', 'weights', 'test accuracy', 's / epoch'))
for _, m in ipairs(methods) do
  local s = { name = m.name, x = {}, y = {}, err = {} }
  local t = { name = m.name, x = {}, y = {} }
  for _, d in ipairs(m.dst and densities or { 1 }) do
    local accs, secs, overall = {}, 0, 1
    for _, seed in ipairs(seeds) do
      local a, sec, o = run(m, d, seed)
      accs[#accs + 1], secs, overall = a, secs + sec, o
    end
    local mean, var = 0, 0
    for _, a in ipairs(accs) do mean = mean + a / #accs end
    for _, a in ipairs(accs) do var = var + (a - mean) ^ 2 / math.max(#accs - 1, 1) end
    secs = secs / #seeds
    local acc = #accs > 1 and ('%9.2f ± %.2f'):format(100 * mean, 100 * math.sqrt(var)) -- one seed: no spread
      or ('%9.2f       '):format(100 * mean)
    print(('%-16s %7.1f%% %9.2f%% %s %12.2f'):format(m.name, 100 * d, 100 * overall, acc, secs))
    for _, x in ipairs(m.dst and { d } or densities) do -- dense: a flat line across the densities
      s.x[#s.x + 1], s.y[#s.y + 1], s.err[#s.err + 1] = 100 * x, 100 * mean, 100 * math.sqrt(var)
      t.x[#t.x + 1], t.y[#t.y + 1] = 100 * x, secs
    end
    rows[#rows + 1] = { method = m.name, density = d, accuracy = mean, seconds_per_epoch = secs }
  end
  series[#series + 1], speed[#speed + 1] = s, t
end

local dir = 'runs/dynamic_sparse' .. (full and '_full' or '')
assert(lotto.fs.mkdir_p(dir))
assert(lotto.json.write(dir .. '/results.json', { epochs = epochs, seeds = seeds, rows = rows }))
local ticks = { 2, 10 }
for _, p in ipairs {
  { out = dir .. '/accuracy', ylabel = 'test accuracy (%)', series = series, key = 'bottom right' },
  { out = dir .. '/seconds', ylabel = 'training seconds per epoch', series = speed, key = 'top left' },
} do
  local img, err = lotto.plot.lines { out = p.out, title = ('LeNet-300-100 on MNIST, %d epochs'):format(epochs),
    xlabel = 'density of the hidden layers (%)', ylabel = p.ylabel, logx = true, key = p.key, series = p.series,
    xtics = ticks }
  print(img and ('plot: ' .. img) or ('plot not drawn: ' .. tostring(err)))
end
print('results: ' .. dir .. '/results.json')
