-- prune_at_init.lua: can a good sparse network be found at initialization? (Frankle et
-- al. 2021, "Pruning neural networks at initialization: why are we missing the mark?")
-- LeNet-300-100 (or Conv-2) pruned at init by SNIP, GraSP, SynFlow, magnitude and random
-- scores, each also with its masks shuffled within every layer (the layer-wise shuffle
-- ablation), against the IMP ticket (train, prune by |w|, rewind to theta0), all trained
-- from theta0 at the same densities. Test accuracy vs density, mean and std over seeds.
--
--   lotto examples/prune_at_init.lua            2 seeds, densities 20/5/1.4%, 400 iterations
--   lotto examples/prune_at_init.lua --full     5 seeds, 51% ... 1.4% (IMP 20%/round), 5000 iterations
--   options: --conv (Conv-2), --fashion (Fashion-MNIST), --dist erk|uniform|global (default global)
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/prune_at_init.lua [options]',
  about = 'Frankle et al. (2021): LeNet-300-100 (or Conv-2) pruned at initialization by SNIP, GraSP,\n'
    .. 'SynFlow, magnitude and random scores, each also with its masks shuffled within every layer,\n'
    .. 'against the IMP ticket, all trained from theta0 at the same densities. Test accuracy vs\n'
    .. 'density, mean and std over seeds (runs/prune_at_init[_conv][_full]/).',
  scales_measured = 'CPU time with LOTTO_THREADS=1, measured or estimated as marked',
  scales = {
    { '(default)', '2 seeds, densities 20/5/1.4%, 400 iterations', 'measured: 25 s' },
    { '--full', '5 seeds, 51% ... 1.4% (IMP 20%/round), 5000 iterations',
      'estimated: 30 min, 400 trainings of 1.4 (5%) to 6 s (dense)' },
  },
  options = {
    { 'full', false, 'the paper scale' },
    { 'conv', false, 'Conv-2 instead of LeNet-300-100' },
    { 'fashion', false, 'Fashion-MNIST instead of MNIST' },
    { 'dist', 'global', 'how the density is spread over the layers',
      choices = { 'global', 'erk', 'uniform', 'uniform_first_dense', 'output_half' } },
    { 'seeds', nil, 'number of seeds (default 2; 5 with --full)', type = 'number', integer = true, min = 1 },
    { 'iters', nil, 'training iterations (default 400; 5000 with --full)', type = 'number', integer = true, min = 1 },
    { 'densities', nil, 'comma-separated densities, e.g. 0.05,0.014 (default: by scale)', type = 'string' },
    { 'methods', 'imp,snip,grasp,synflow,magnitude,random', 'comma-separated methods' },
    { 'noshuffle', false, 'skip the layer-wise shuffle ablation' },
  },
})
local full, conv, fashion, dist = o.full, o.conv, o.fashion, o.dist
local function bad(msg) lotto.args.fail({ prog = 'examples/prune_at_init.lua' }, msg) end
local function list(s, f) local t = {} for x in s:gmatch('[^,]+') do t[#t + 1] = f(x) end return t end
local pai, plot, json, fs = lotto.pai, lotto.plot, lotto.json, lotto.fs
local seeds = {}
for s = 1, o.seeds or (full and 5 or 2) do seeds[s] = s end
local iters = o.iters or (full and 5000 or 400)
local densities = o.densities and list(o.densities, function(x)
    local d = tonumber(x)
    if not d or d <= 0 or d > 1 then bad(("--densities: '%s' is not a density in (0, 1]"):format(x)) end
    return d
  end)
  or full and { 0.8 ^ 3, 0.8 ^ 6, 0.8 ^ 9, 0.8 ^ 12, 0.8 ^ 15, 0.8 ^ 19 } or { 0.2, 0.05, 0.014 }
local METHODS = { 'imp', 'snip', 'grasp', 'synflow', 'magnitude', 'random' }
local methods, imp = {}, false
for _, m in ipairs(list(o.methods, tostring)) do
  local known = false
  for _, k in ipairs(METHODS) do known = known or k == m end
  if not known then
    bad(("--methods: unknown method '%s'%s"):format(m, require('lotto.util').did_you_mean(m, METHODS)))
  end
  if m == 'imp' then imp = true else methods[#methods + 1] = m end
end
local data = lotto.data.load(fashion and 'fashion_mnist' or 'mnist', { val = 5000 })
local out = 'runs/prune_at_init' .. (conv and '_conv' or '') .. (full and '_full' or '')
assert(fs.mkdir_p(out))

local function new_model(seed)
  local m = conv and lotto.models.conv2 { input = { 1, 28, 28 } } or lotto.models.lenet300 { input = { 1, 28, 28 } }
  m:init { seed = seed }
  return m
end
-- Trains the (masked) model from its current values; returns the final test accuracy.
local function train(m, seed)
  local h = lotto.train.fit(m, data, { optimizer = { kind = 'adam', lr = conv and 2e-4 or 1.2e-3 }, batch = 60,
    iterations = iters, seed = seed, eval_every = iters, progress = false })
  return h.final.test_acc
end

local acc = {} -- acc[label][density index] = {per seed}
local function put(label, k, a)
  acc[label] = acc[label] or {}
  acc[label][k] = acc[label][k] or {}
  table.insert(acc[label][k], a)
  io.write(('%-18s density %6.2f%%  test %.2f%%\n'):format(label, 100 * densities[k], 100 * a))
end

for _, seed in ipairs(seeds) do
  -- IMP: train, prune by |w| (20% a round with --full), rewind to theta0, train again
  local m = new_model(seed)
  local theta0 = m:state()
  if imp then train(m, seed) end
  local k, r = 1, 0
  while imp and k <= #densities do
    r = r + 1
    local d = full and math.max(0.8 ^ r, densities[k]) or densities[k]
    pai.prune(m, { method = 'magnitude', density = d, distribution = dist })
    m:load_state(theta0)
    local a = train(m, seed)
    if d <= densities[k] * (1 + 1e-9) then
      put('IMP', k, a)
      if not o.noshuffle then
        local s = new_model(seed)
        s:masks():copy(m:masks())
        lotto.prune.permute_model(s, { seed = seed }) -- the ticket's mask shuffled within each layer
        put('IMP shuffled', k, train(s, seed))
      end
      k = k + 1
    end
  end
  for _, method in ipairs(methods) do
    for _, shuffle in ipairs((method == 'random' or o.noshuffle) and { false } or { false, true }) do
      for k, d in ipairs(densities) do
        local p = new_model(seed)
        pai.prune(p, { method = method, density = d, distribution = dist, data = data, shuffle = shuffle, seed = seed })
        put(method .. (shuffle and ' shuffled' or ''), k, train(p, seed))
      end
    end
  end
end

local series, summary = {}, {}
local order = { 'IMP', 'IMP shuffled', 'snip', 'snip shuffled', 'grasp', 'grasp shuffled', 'synflow', 'synflow shuffled',
  'magnitude', 'magnitude shuffled', 'random' }
for _, label in ipairs(order) do if acc[label] then
  local xs, ys, es = {}, {}, {}
  for k, d in ipairs(densities) do
    local v, s, s2 = acc[label][k], 0, 0
    for _, a in ipairs(v) do s, s2 = s + a, s2 + a * a end
    local mean = s / #v
    xs[k], ys[k], es[k] = 100 * d, 100 * mean, 100 * math.sqrt(math.max(0, s2 / #v - mean * mean))
  end
  series[#series + 1] = { name = label, x = xs, y = ys, err = es }
  summary[label] = { density = densities, mean = ys, std = es }
end end
json.write(out .. '/results.json', { seeds = seeds, iterations = iters, distribution = dist, results = summary })
local img, err = plot.lines { out = out .. '/accuracy', title = ('pruning at init: %s on %s (%d seeds)'):format(
  conv and 'Conv-2' or 'LeNet-300-100', fashion and 'Fashion-MNIST' or 'MNIST', #seeds), xlabel = 'weights remaining (%)',
  ylabel = 'test accuracy (%)', logx = true, reverse_x = true, series = series }
print(('\nresults: %s/results.json   plot: %s'):format(out, img or err))
