-- instability.lua: Frankle et al. (ICML 2020), linear mode connectivity. Two copies of a
-- network start from the same state θk and train with different data orders; the
-- instability is the rise in test error along the straight line between them (max on
-- the path - mean of the endpoints). Stable (< 2%) means SGD noise no longer changes
-- which minimum training reaches. The dense net and IMP subnetworks, at rewind points k.
--
--   lotto examples/instability.lua                 LeNet-300-100, MNIST, 2,000 iterations, k = 0, 100, 500
--   lotto examples/instability.lua --full          paper scale (24K iterations, IMP rewound to each k)
--   lotto examples/instability.lua --model conv2   Conv-2 (or resnet20, lenet5, vgg16 ...); --width 0.25
--   lotto examples/instability.lua --restart       start over instead of resuming
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/instability.lua [options]',
  about = 'Frankle et al. (ICML 2020), linear mode connectivity: two copies trained from θk with\n'
    .. 'different data orders; instability = rise in test error along the line between them.\n'
    .. 'The dense net and IMP subnetworks, at several rewind points k. Resumes when rerun.',
  scales = {
    { '(default)', 'LeNet-300-100, MNIST, 2,000 iterations, k = 0, 100, 500', 'about 5 min' },
    { '--full', 'paper scale (24K iterations, IMP rewound to each k)', 'about 1 day (LeNet)' },
    { '--model vgg16', 'width 1/8, padded Fashion-MNIST, 300 iterations, k = 0, 100, 2,000 test images', 'about 5 min (1 thread)' },
  },
  options = {
    { 'full', false, 'the paper scale' },
    { 'model', 'lenet300', 'lenet300, conv2, lenet5, resnet20, vgg16 ...' },
    { 'data', nil, 'data set (default: the paper\'s for the model)', type = 'string' },
    { 'width', nil, 'width multiplier of conv models, e.g. 0.25', type = 'number' },
    { 'restart', false, 'start over instead of resuming' },
  },
})
local opt = { model = o.model, data = o.data, width = o.width, scale = o.full and 'full' or 'small', restart = o.restart }

-- Per model: data set, optimizer and batch of the papers; small/full lengths and rewind points.
local conv = { data = 'mnist', optimizer = { kind = 'adam', lr = 2e-4 }, batch = 60,
               small = { T = 600, rewind = { 0, 50, 200 }, rounds = { 2, 5 } },
               full = { T = 20000, rewind = { 0, 100, 500, 2000 }, rounds = { 3, 7, 12 } } }
local sgd = { data = 'cifar10', optimizer = { kind = 'sgd', lr = 0.05, momentum = 0.9 }, batch = 128,
              small = { T = 600, rewind = { 0, 100, 300 }, rounds = { 2, 5 } },
              full = { T = 30000, rewind = { 0, 100, 500, 2000, 5000 }, rounds = { 3, 7, 12 } } }
-- VGG on a CPU: the small scale is a smoke-sized run (width 1/8, 2,000 test images)
local vgg = { data = sgd.data, optimizer = sgd.optimizer, batch = 64, width = 0.125, test = 2000, points = 11,
              small = { T = 300, rewind = { 0, 100 }, rounds = { 2 } }, full = sgd.full }
local M = ({
  lenet300 = { data = 'mnist', optimizer = { kind = 'adam', lr = 1.2e-3 }, batch = 60,
               small = { T = 2000, rewind = { 0, 100, 500 }, rounds = { 3, 7, 12 }, imp_T = 1000 },
               full = { T = 24000, rewind = { 0, 25, 100, 500, 2000 }, rounds = { 3, 7, 12 } } },
  lenet5 = conv, conv2 = conv, conv4 = conv, conv6 = conv, resnet20 = sgd, vgg11 = vgg, vgg16 = vgg, vgg19 = vgg,
})[opt.model] or lotto.util.user_error(('examples/instability.lua: unknown model %s (lenet300, lenet5, conv2, conv4, conv6, resnet20, vgg11, vgg16, vgg19)'):format(tostring(opt.model)))
local data_name = opt.data or M.data
if data_name == 'cifar10' and not lotto.data.available('cifar10') then data_name = 'fashion_mnist' end
local S = M[opt.scale]
-- the CIFAR models take 28x28 MNIST-family images padded to 3x32x32
local data_opts = { val = 5000 }
if (M == sgd or M == vgg) and data_name ~= 'cifar10' then data_opts.pad, data_opts.channels = 2, 3 end
local data = lotto.data.load(data_name, data_opts)
if opt.scale == 'small' and M.test then data.test = data.test:subset(M.test) end
local model_opts = { input = data.train:x():shape() }
table.remove(model_opts.input, 1)
if opt.width then model_opts.width = math.tointeger(tonumber(opt.width)) or tonumber(opt.width)
elseif opt.scale == 'small' then model_opts.width = M.width end

local name = ('instability_%s_%s%s'):format(opt.model, data_name, opt.scale == 'full' and '_full' or '')
local results = lotto.lmc.analyze {
  name = name, restart = opt.restart,
  model = opt.model, model_opts = model_opts,
  data = function() return data end,
  data_opts = { name = data_name, val = 5000, pad = data_opts.pad, channels = data_opts.channels },
  seed = 1,
  train = { optimizer = M.optimizer, batch = M.batch, iterations = S.T },
  rewind = S.rewind,
  -- a quick IMP (20% of each layer, 10% of the output layer per round), rewound to k = 0;
  -- at paper scale one IMP run per rewind point, as in the paper
  imp = { rounds = S.rounds, iterations = S.imp_T or S.T, eval_every = S.imp_T or S.T,
          prune = { rate = 0.2, output_rate = 0.1 }, per_rewind = opt.scale == 'full' },
  seeds = { 1, 2 },
  points = opt.scale == 'full' and 30 or M.points or 21,
}

-- The table: one row per subnetwork, instability (%) at each k.
local by, subs = {}, {}
for _, c in ipairs(results.cells) do
  if not by[c.subnetwork] then by[c.subnetwork] = { density = c.density }; subs[#subs + 1] = c.subnetwork end
  by[c.subnetwork][c.k] = c
end
local head = ('%-12s %9s'):format('subnetwork', 'weights')
for _, k in ipairs(S.rewind) do head = head .. ('  %9s'):format('k=' .. k) end
print(('\n%s on %s, %d iterations, copies with data orders 1 and 2: instability (%%) = max test error on the path - mean of the endpoints')
  :format(opt.model, data_name, S.T))
print(head)
for _, s in ipairs(subs) do
  local row = ('%-12s %8.1f%%'):format(s, 100 * by[s].density)
  for _, k in ipairs(S.rewind) do
    local c = by[s][k]
    row = row .. ('  %8.2f%s'):format(100 * c.instability, c.instability < 0.02 and ' ' or '*')
  end
  print(row)
end
print('(* unstable: 2% or more)')
local dir = 'runs/' .. name
print(('\nresults: %s/instability/results.json\nplots:   %s/plots/instability.png, %s/plots/interpolation_*.png')
  :format(dir, dir, dir))
return results
