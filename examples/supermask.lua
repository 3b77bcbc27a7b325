-- supermask.lua: a mask alone can make an untrained network accurate (Zhou et al. 2019,
-- "Deconstructing lottery tickets: zeros, signs, and the supermask"). LeNet-300-100 is
-- trained once; masks from its initial and final weights (large final, large final with
-- the same sign, magnitude increase, random) are put on the INITIAL weights (or on the
-- signed constant sign(w0) * std of the layer) and evaluated without any training.
-- As in Zhou et al.'s code the output layer is pruned at half the rate of the hidden
-- layers (--dist output_half; --dist uniform prunes every layer alike). Beside them:
-- masks learned on frozen random weights by edge-popup (Ramanujan et al. 2020).
--
--   lotto examples/supermask.lua           2 seeds, 1500 training iterations, edge-popup 1 epoch
--   lotto examples/supermask.lua --full    5 seeds, 10000 iterations, more densities, edge-popup 5 epochs
--   options: --fashion (Fashion-MNIST), --seeds, --iters, --dist, --nopopup
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/supermask.lua [options]',
  about = 'Zhou et al. (2019): masks from the initial and final weights of a trained LeNet-300-100\n'
    .. '(large final, same sign, magnitude increase, random) put on the initial weights or on a\n'
    .. 'signed constant and evaluated without training; beside them, masks learned on frozen random\n'
    .. 'weights by edge-popup (Ramanujan et al. 2020). Prints each mask\'s best density (mean and\n'
    .. 'std over the seeds). Results in runs/supermask[_full]/.',
  scales_measured = 'CPU time with LOTTO_THREADS=1, measured or estimated as marked',
  scales = {
    { '(default)', '2 seeds, 1500 training iterations, edge-popup 1 epoch', 'measured: 28 s' },
    { '--full', '5 seeds, 10000 iterations, more densities, edge-popup 5 epochs', 'measured: 9.2 min' },
  },
  options = {
    { 'full', false, 'the larger scale' },
    { 'fashion', false, 'Fashion-MNIST instead of MNIST' },
    { 'seeds', nil, 'number of seeds (default 2; 5 with --full)', type = 'number', integer = true, min = 1 },
    { 'iters', nil, 'training iterations (default 1500; 10000 with --full)', type = 'number', integer = true, min = 1 },
    { 'dist', 'output_half', 'layer-wise densities', choices = { 'output_half', 'uniform', 'erk' } },
    { 'nopopup', false, 'skip edge-popup' },
  },
})
local full, fashion = o.full, o.fashion
local sm, plot, json, fs = lotto.supermask, lotto.plot, lotto.json, lotto.fs
local data = lotto.data.load(fashion and 'fashion_mnist' or 'mnist', { val = 5000 })
local seeds, iters = {}, o.iters or (full and 10000 or 1500)
for s = 1, o.seeds or (full and 5 or 2) do seeds[s] = s end
local densities = full and { 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02 } or { 0.5, 0.3, 0.2, 0.1, 0.05 }
local popup_densities = full and { 0.7, 0.5, 0.3, 0.1, 0.05 } or { 0.5, 0.3, 0.1 }
local criteria = { 'large_final', 'large_final_same_sign', 'magnitude_increase', 'random' }
local out = 'runs/supermask' .. (full and '_full' or '')
assert(fs.mkdir_p(out))

local acc = {} -- acc[label][density] = {per seed}
local function put(label, d, a)
  acc[label] = acc[label] or {}
  acc[label][d] = acc[label][d] or {}
  table.insert(acc[label][d], a)
  io.write(('%-40s density %5.1f%%  test %.2f%%\n'):format(label, 100 * d, 100 * a))
end

for _, seed in ipairs(seeds) do
  local m = lotto.models.lenet300 { input = { 1, 28, 28 } }
  m:init { seed = seed }
  local theta0 = m:state()
  local h = lotto.train.fit(m, data, { optimizer = { kind = 'adam', lr = 1.2e-3 }, batch = 60,
    iterations = iters, seed = seed, progress = false, eval_every = iters })
  print(('seed %d: dense network trained to %.2f%%'):format(seed, 100 * h.final.test_acc))
  local final = m:state()
  for _, c in ipairs(criteria) do
    for _, init in ipairs { 'theta0', 'signed_constant' } do
      for _, d in ipairs(densities) do
        put(c .. ', ' .. init, d, (sm.evaluate(m, data, { criterion = c, theta0 = theta0, final = final, density = d,
          init = init, seed = seed, distribution = o.dist })))
      end
    end
  end
  for _, d in ipairs(o.nopopup and {} or popup_densities) do
    local p = lotto.models.lenet300 { input = { 1, 28, 28 } }
    p:init { seed = seed }
    local r = sm.edge_popup(p, data, { density = d, epochs = full and 5 or 1, seed = seed, lr = 0.5 })
    put('edge-popup (learned), signed_constant', d, r.test_acc)
  end
end

local series, summary = {}, {}
local labels = {}
for _, c in ipairs(criteria) do
  labels[#labels + 1] = c .. ', theta0'
  labels[#labels + 1] = c .. ', signed_constant'
end
if not o.nopopup then labels[#labels + 1] = 'edge-popup (learned), signed_constant' end
print(('\nbest density of each mask (mean +- std over %d seeds, %d training iterations, %s):'):format(#seeds, iters, o.dist))
for _, label in ipairs(labels) do
  local xs, ys, es = {}, {}, {}
  for _, d in ipairs(label:find('edge') and popup_densities or densities) do
    local v, s, s2 = acc[label][d], 0, 0
    for _, a in ipairs(v) do s, s2 = s + a, s2 + a * a end
    local mean = s / #v
    xs[#xs + 1], ys[#ys + 1], es[#es + 1] = 100 * d, 100 * mean, 100 * math.sqrt(math.max(0, s2 / #v - mean * mean))
  end
  series[#series + 1] = { name = label:gsub('_', ' '), x = xs, y = ys, err = es }
  local b = 1
  for i = 2, #ys do if ys[i] > ys[b] then b = i end end
  print(('  %-40s %5.1f%% of the weights: %.1f +- %.1f%%'):format(label, xs[b], ys[b], es[b]))
  summary[label] = { density = xs, mean = ys, std = es }
end
json.write(out .. '/results.json', { seeds = seeds, iterations = iters, distribution = o.dist, results = summary })
local img, err = plot.lines { out = out .. '/accuracy', title = ('untrained supermasks: LeNet-300-100 on %s (%d seeds)')
  :format(fashion and 'Fashion-MNIST' or 'MNIST', #seeds), xlabel = 'weights remaining (%)',
  ylabel = 'test accuracy without training (%)', logx = true, reverse_x = true, series = series, key = 'below vertical maxrows 5',
  hline = { y = 10, name = 'chance' } }
print(('\nresults: %s/results.json   plot: %s'):format(out, img or err))
