-- conv_imp.lua: iterative magnitude pruning of Conv-2 (Frankle & Carbin 2019, Figure 5):
-- two 3x3 conv layers, a max pool and FC 256-256-10, on CIFAR-10 when it is present
-- (data/cifar-10-batches-bin) and on Fashion-MNIST otherwise. Conv layers lose 15%,
-- fc layers 20% and the output layer 10% of their weights per round; winning tickets
-- against random reinitialisation.
--
--   lotto examples/conv_imp.lua             quarter width, 2 seeds, 4 rounds of 300 iterations
--   lotto examples/conv_imp.lua --full      paper scale (lotto.presets.conv2): full width, 5 seeds, 15 rounds
--   lotto examples/conv_imp.lua --restart   start over instead of resuming
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/conv_imp.lua [options]',
  about = 'Frankle & Carbin (2019), Fig. 5: IMP of Conv-2 on CIFAR-10 when data/cifar-10-batches-bin\n'
    .. 'is present, else Fashion-MNIST; winning tickets against random reinitialisation.\n'
    .. 'Resumes when rerun.',
  scales = {
    { '(default)', 'quarter width, 2 seeds, 4 rounds of 300 iterations', 'about 5 min' },
    { '--full', 'paper scale: full width, 5 seeds, 15 rounds, 20,000 iterations', 'weeks (a cluster job)' },
  },
  options = { { 'full', false, 'the paper scale' }, { 'restart', false, 'start over instead of resuming' } },
})
local full, restart = o.full, o.restart
local set = lotto.data.available('cifar10') and 'cifar10' or 'fashion_mnist'
local input = set == 'cifar10' and { 3, 32, 32 } or { 1, 28, 28 }

local results, run = lotto.ticket.imp {
  name       = ('conv2_%s%s'):format(set, full and '_full' or ''),
  model      = 'conv2', model_opts = { input = input, width = full and 1 or 0.25 },
  -- 5,000 training images for early stopping; the small run tests on 2,000 images
  data       = function()
    local d = lotto.data.load(set, { val = 5000, normalize = set == 'cifar10' and 'channel' or '01' })
    if not full then d.val, d.test = d.val:subset(2000), d.test:subset(2000) end
    return d
  end,
  data_opts  = { set = set, small_eval = not full },   -- recorded in config.json
  -- --full: the paper's row (lotto.presets 'conv2': Adam 2e-4, batch 60, 20,000 iterations, conv 10%)
  preset     = full and 'conv2' or nil,
  optimizer  = not full and { kind = 'adam', lr = 1e-3 } or nil,
  iterations = not full and 300 or nil,
  eval_every = full and 1000 or 100,
  seeds      = full and { 1, 2, 3, 4, 5 } or { 1, 2 },
  rounds     = full and 15 or 4,
  prune      = not full and { kind_rates = { conv2d = 0.15, linear = 0.2 }, output_rate = 0.1 } or nil,
  controls   = { 'reinit' },
  restart    = restart,
}

print(('\nConv-2 on %s: test accuracy at early stopping (%%, mean ± std over %d seeds)'):format(set, #run:replicates()))
print(lotto.ticket.report(results))
print(('\nper-layer density of the last round (seed %d):'):format(run:replicates()[1]))
local last = results.replicates[tostring(run:replicates()[1])]
local layers = last[#last].layers
local names = {}
for n in pairs(layers) do names[#names + 1] = n end
table.sort(names)
for _, n in ipairs(names) do print(('  %-12s %6.2f%%'):format(n, 100 * layers[n])) end
