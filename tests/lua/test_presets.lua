-- test_presets.lua: Frankle & Carbin's rows load, validate as ticket.imp options (the
-- config check every run goes through), build their model, drive a pruning step and a
-- schedule, and give way key by key to the options a user passes beside them.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local presets = require 'lotto.presets'
local config = require 'lotto.ticket.config'
local models = require 'lotto.models'
local optim = require 'lotto.optim'
local prune = require 'lotto.prune'
local check, check_eq, checkerror = C.check, C.check_eq, C.checkerror

check_eq(presets.names(), { 'lenet', 'conv2', 'conv4', 'conv6', 'resnet20', 'vgg19' })

-- the paper's numbers, row by row
local want = {
  lenet = { model = 'lenet300', iterations = 50000, batch = 60, lr = 1.2e-3, kind = 'adam' },
  conv2 = { model = 'conv2', iterations = 20000, batch = 60, lr = 2e-4, kind = 'adam', conv = 0.1 },
  conv4 = { model = 'conv4', iterations = 25000, batch = 60, lr = 3e-4, kind = 'adam', conv = 0.1 },
  conv6 = { model = 'conv6', iterations = 30000, batch = 60, lr = 3e-4, kind = 'adam', conv = 0.15 },
  resnet20 = { model = 'resnet20', iterations = 30000, batch = 128, lr = 0.1, kind = 'sgd', conv = 0.2, scope = 'global' },
  vgg19 = { model = 'vgg19', iterations = 112000, batch = 64, lr = 0.1, kind = 'sgd', conv = 0.2, scope = 'global' },
}
for _, name in ipairs(presets.names()) do
  local cfg = config.merge(config.defaults, { preset = name })
  local w = want[name]
  check_eq(cfg.model, w.model, name .. ' model')
  check_eq(cfg.iterations, w.iterations, name .. ' iterations')
  check_eq(cfg.batch, w.batch, name .. ' batch')
  check_eq(cfg.optimizer.kind, w.kind, name .. ' optimizer')
  check_eq(cfg.optimizer.lr, w.lr, name .. ' lr')
  if w.conv then check_eq(cfg.prune.kind_rates.conv2d, w.conv, name .. ' conv rate') end
  check_eq(cfg.prune.scope, w.scope or 'local', name .. ' scope')
  if cfg.schedule then
    local s = optim.schedule(cfg.schedule)
    check(s:lr(0) < 0.1, name .. ' warm-up starts low')
    C.check_near(s:lr(cfg.schedule.milestones[1] + 1), 0.01, 1e-7, name .. ' first drop')
  end
  -- the model builds (small where wide) and the pruning options drive a pruning step
  local small = ({ vgg19 = { width = 1 / 16 }, conv2 = { width = 0.25 }, conv4 = { width = 0.25 }, conv6 = { width = 0.25 } })[name]
  local m = models[cfg.model](small)
  m:init { seed = 1 }
  local before = m:density()
  prune.magnitude(m, cfg.prune)
  check(m:density() < before, name .. ' prunes')
  check(presets.get(name).paper.rates ~= nil, name .. ' paper row')
end

do -- key by key: what the user gives wins, the rest is the paper's
  local cfg = config.merge(config.defaults, { preset = 'conv4', iterations = 100, data = 'fashion_mnist' })
  check_eq(cfg.iterations, 100)
  check_eq(cfg.data, 'fashion_mnist')
  check_eq(cfg.optimizer.lr, 3e-4)
  check_eq(cfg.model, 'conv4')
  -- a copy each time: changing one row does not change the next
  local a = presets.get('conv4')
  a.optimizer.lr = 1
  check_eq(presets.get('conv4').optimizer.lr, 3e-4)
  check(presets.table():find('conv6', 1, true) ~= nil)
end

do -- misuse
  checkerror(function() config.merge(config.defaults, { preset = 'conv5' }) end, "did you mean")
  checkerror(function() config.merge(config.defaults, { preset = 4 }) end, "option 'preset'")
  checkerror(function() presets.get('lenett') end, "did you mean 'lenet'")
end

C.report()
