-- lotto.presets: the architectures of Frankle & Carbin (ICLR 2019), Table 1 (Figure 2 in
-- the first versions), as options of lotto.ticket.imp: each row's data set, iterations,
-- batch, optimizer and learning-rate schedule (with warm-up), per-layer pruning rates and
-- global vs layer-wise pruning. ticket.imp{ preset = 'conv4' } is the paper's setting; any
-- key given beside preset wins (ticket.imp{ preset = 'conv4', data = 'fashion_mnist' }).
--
--   presets.names()         -> {'lenet', 'conv2', 'conv4', 'conv6', 'resnet20', 'vgg19'}
--   presets.get('conv4')    -> a fresh copy of the row (imp options + paper = {...})
--   presets.table()         -> the table as text
local U = require 'lotto.util'

local M = {}

-- Conv-2/4/6: Adam, batch 60, conv layers pruned at one rate, fc layers at 20%, the output at 10%.
local function conv(model, iters, lr, conv_rate, layers)
  return {
    model = model, data = 'cifar10', batch = 60, iterations = iters,
    optimizer = { kind = 'adam', lr = lr }, schedule = false, init = 'glorot_normal',
    prune = { kind_rates = { conv2d = conv_rate, linear = 0.2 }, output_rate = 0.1, scope = 'local' },
    paper = { layers = layers, iterations = iters, batch = 60, optimizer = ('Adam %g'):format(lr),
              rates = ('conv %d%%, fc 20%%, output 10%%'):format(math.floor(conv_rate * 100 + 0.5)), pruning = 'layer-wise' },
  }
end

-- SGD with momentum 0.9, lr 0.1 divided by 10 at two milestones, linear warm-up (the paper's
-- fix that lets IMP find tickets at lr 0.1), conv layers pruned globally at 20%, fc not at all.
local function sgd(model, iters, batch, m1, m2, warmup, layers)
  return {
    model = model, data = 'cifar10', batch = batch, iterations = iters,
    optimizer = { kind = 'sgd', lr = 0.1, momentum = 0.9 },
    schedule = { kind = 'multistep', lr = 0.1, milestones = { m1, m2 }, gamma = 0.1, warmup = warmup },
    init = 'kaiming_normal',
    prune = { kind_rates = { conv2d = 0.2, linear = 0 }, output_rate = 0, scope = 'global' },
    paper = { layers = layers, iterations = iters, batch = batch,
              optimizer = ('SGD 0.1-0.01-0.001 (at %dK, %dK), momentum 0.9, warm-up %dK'):format(m1 // 1000, m2 // 1000,
                warmup // 1000), rates = 'conv 20%, fc 0%', pruning = 'global' },
  }
end

local ROWS = {
  lenet = {
    model = 'lenet300', data = 'mnist', batch = 60, iterations = 50000,
    optimizer = { kind = 'adam', lr = 1.2e-3 }, schedule = false, init = 'glorot_normal',
    prune = { rate = 0.2, output_rate = 0.1, scope = 'local' },
    paper = { layers = 'FC 300, 100, 10', iterations = 50000, batch = 60, optimizer = 'Adam 1.2e-3',
              rates = 'fc 20%, output 10%', pruning = 'layer-wise' },
  },
  conv2 = conv('conv2', 20000, 2e-4, 0.1, '64, 64, pool; FC 256, 256, 10'),
  conv4 = conv('conv4', 25000, 3e-4, 0.1, '64, 64, pool, 128, 128, pool; FC 256, 256, 10'),
  conv6 = conv('conv6', 30000, 3e-4, 0.15, '64, 64, pool, 128, 128, pool, 256, 256, pool; FC 256, 256, 10'),
  resnet20 = sgd('resnet20', 30000, 128, 20000, 25000, 20000, '16, 3x[16, 16], 3x[32, 32], 3x[64, 64], avg-pool, FC'),
  vgg19 = sgd('vgg19', 112000, 64, 56000, 84000, 10000,
    '2x64, pool, 2x128, pool, 4x256, pool, 4x512, pool, 4x512, avg-pool, FC'),
}
local NAMES = { 'lenet', 'conv2', 'conv4', 'conv6', 'resnet20', 'vgg19' }

local function copy(t)
  if type(t) ~= 'table' then return t end
  local o = {}
  for k, v in pairs(t) do o[k] = copy(v) end
  return o
end

--- names() -> the preset names in the paper's order.
function M.names() return copy(NAMES) end

--- get(name) -> a fresh copy of the row: lotto.ticket.imp options, plus paper = {layers, iterations,
-- batch, optimizer, rates, pruning} as the paper prints them (not an imp option).
function M.get(name)
  local row = ROWS[name]
  if not row then
    U.fail('lotto.presets.get', ("unknown preset '%s'%s (%s)"):format(tostring(name), U.did_you_mean(name, NAMES),
      table.concat(NAMES, ', ')))
  end
  return copy(row)
end

--- options(name) -> the row without its paper field: what ticket.imp merges under the user's keys.
function M.options(name)
  local o = M.get(name)
  o.paper = nil
  return o
end

--- table() -> the paper's table as text, one line per row.
function M.table()
  local lines = { ('%-9s %-62s %8s %6s  %-58s %-22s %s'):format('network', 'layers', 'iters', 'batch', 'optimizer', 'rates',
    'pruning') }
  for _, n in ipairs(NAMES) do
    local p = ROWS[n].paper
    lines[#lines + 1] = ('%-9s %-62s %8d %6d  %-58s %-22s %s'):format(n, p.layers, p.iterations, p.batch, p.optimizer,
      p.rates, p.pruning)
  end
  return table.concat(lines, '\n')
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    names = 'names() -> the preset names (lenet, conv2, conv4, conv6, resnet20, vgg19)',
    get = "get(name) -> Frankle & Carbin's row as ticket.imp options + paper = {...}",
    options = 'options(name) -> the row as ticket.imp options only',
    table = "table() -> Frankle & Carbin's architecture table as text",
  })
end

return M
