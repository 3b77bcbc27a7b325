-- test_optim.lua: lotto.optim from Lua — optimizers on plain tensors and on a
-- model's flat buffers, masks, reset, lr changes, schedules, and misuse errors.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, optim, nn = lotto.tensor, lotto.optim, lotto.nn

-- SGD with momentum on tensors: buf = 1, 1.9, 2.71 -> w = .9, .71, .439
do
  local w, g = tensor.new{ 1, 1 }, tensor.new{ 1, 1 }
  local opt = optim.sgd{ params = w, grads = g, lr = 0.1, momentum = 0.9 }
  T.check_eq(#opt, 2)
  T.check_eq(opt:kind(), 'sgd')
  opt:step(); opt:step(); opt:step()
  T.check_near(w, { 0.439, 0.439 }, 1e-6)
  T.check_near(opt:moment(1), { 2.71, 2.71 }, 1e-6)
  T.check_eq(opt:moment(2), nil)
  T.check_eq(opt:steps(), 3)
  T.check(tostring(opt):find('SGD(2 params, lr=0.1, momentum=0.9', 1, true), tostring(opt))
end

-- Nesterov, and explicit tensors given to step
do
  local w, g = tensor.new{ 1 }, tensor.new{ 1 }
  local opt = optim.sgd{ params = w, grads = g, lr = 0.1, momentum = 0.9, nesterov = true }
  for _ = 1, 3 do opt:step(w, g) end
  T.check_near(w:get(1), 0.1951, 1e-6)
end

-- Adam and AdamW reproduce the PyTorch values (see tests/test_optim.c)
do
  local gs = { 0.5, -1.0, 2.0 }
  local function run(opts)
    local w, g = tensor.new{ 1 }, tensor.new{ 0 }
    opts.params, opts.grads = w, g
    local opt = optim.adam(opts)
    local out = {}
    for i = 1, 3 do g:set(1, gs[i]); opt:step(); out[i] = w:get(1) end
    return out, opt
  end
  local out, opt = run{ lr = 0.1 }
  T.check_near(out, { 0.900000002, 0.9366103542, 0.8946447927 }, 1e-6)
  T.check_eq(opt:kind(), 'adam')
  out, opt = run{ lr = 0.1, weight_decay = 0.1, adamw = true }
  T.check_near(out, { 0.890000002, 0.9177103542, 0.8665676892 }, 1e-6)
  T.check_eq(opt:kind(), 'adamw')
  out = run{ lr = 0.1, weight_decay = 0.1 }
  T.check_near(out, { 0.9000000017, 0.9252635194, 0.8776172608 }, 1e-6)
  T.check(tostring(opt):find('AdamW', 1, true), tostring(opt))
end

-- A mask keeps weights at exactly zero with zero moments; reset clears moments
do
  local w, g, m = tensor.new{ 1, 2, 3 }, tensor.new{ 1, 1, 1 }, tensor.new{ 1, 0, 1 }
  local opt = optim.adam{ params = w, grads = g, mask = m, lr = 0.01 }
  for _ = 1, 20 do opt:step() end
  T.check_eq(w:get(2), 0)
  T.check_eq(opt:moment(1):get(2), 0)
  T.check_eq(opt:moment(2):get(2), 0)
  T.check(w:get(1) < 1 and w:get(3) < 3, 'kept weights move')
  opt:reset()
  T.check_eq(opt:steps(), 0)
  T.check_eq(opt:moment(1), { 0, 0, 0 })
  T.check_eq(opt:moment(2), { 0, 0, 0 })
end

-- lr and set_lr
do
  local w, g = tensor.new{ 1 }, tensor.new{ 1 }
  local opt = optim.sgd{ params = w, grads = g, lr = 0.1 }
  T.check_near(opt:lr(), 0.1, 1e-7)
  opt:set_lr(0.5)
  opt:step()
  T.check_near(w:get(1), 0.5, 1e-7)
  T.checkerror(function() opt:set_lr(-1) end, 'lr must be')
  T.checkerror(function() opt:set_lr('x') end, 'number expected')
end

-- On a model: the optimizer follows values, grads and masks of the flat buffers
do
  local model = nn.model(nn.sequential{ nn.linear(3, 2) }, { input = { 3 } })
  model:init{ seed = 3 }
  local masks = model:masks()
  masks:set(1, 0)            -- prune the first weight
  model:apply_mask()
  local x, y = tensor.new{ { 1, 2, 3 }, { -1, 0.5, 2 } }, tensor.new{ 0, 1 }
  local opt = optim.sgd(model, { lr = 0.1, momentum = 0.9, weight_decay = 5e-4 })
  T.check_eq(#opt, model:numel())
  local before = model:state()
  model:step_loss(x, y, 'xent')
  local g = model:grads():clone()
  opt:step()
  local after = model:values()
  T.check_eq(after:get(1), 0)
  -- plain first step: w - lr * (g + wd * w) on every kept weight
  local want = {}
  for i = 1, #after do
    want[i] = i == 1 and 0 or before:get(i) - 0.1 * (g:get(i) + 5e-4 * before:get(i))
  end
  T.check_near(after, want, 1e-6)
  for _ = 1, 10 do model:step_loss(x, y, 'xent'); opt:step() end
  T.check_eq(model:values():get(1), 0)
  T.check_eq(opt:moment(1):get(1), 0)

  local a = optim.make(model, { kind = 'adamw', lr = 1e-3 })
  T.check_eq(a:kind(), 'adamw')
  T.checkerror(function() optim.make(model, { kind = 'rmsprop' }) end, "unknown optimizer kind 'rmsprop'")
  T.checkerror(function() optim.adam(model, { lr = 1e-3, betas = 0.9 }) end, "'betas' must be a pair")
end

-- Misuse is a Lua error naming the problem
do
  local w, g = tensor.new{ 1, 1 }, tensor.new{ 1, 1 }
  T.checkerror(function() optim.sgd{ params = w, grads = g, learning_rate = 1 } end, "unknown option 'learning_rate'")
  T.checkerror(function() optim.sgd{ params = w, grads = tensor.zeros{ 3 } } end, 'grads has 3 elements')
  T.checkerror(function() optim.sgd{ params = w } end, 'without grads')
  T.checkerror(function() optim.sgd{ params = w, grads = g, momentum = 1.5 } end, 'momentum must be in [0, 1)')
  T.checkerror(function() optim.sgd{ params = w, grads = g, nesterov = true } end, 'nesterov')
  T.checkerror(function() optim.adam{ params = w, grads = g, eps = 0 } end, 'eps')
  T.checkerror(function() optim.sgd(42) end, 'expected a model')
  T.checkerror(function() optim.sgd{ params = w, grads = g, lr = 'fast' } end, "'lr' must be a number")
  local opt = optim.sgd{ params = w, grads = g }
  T.checkerror(function() opt:step(w, tensor.zeros{ 5 }) end, 'grads has 5 elements')
  T.checkerror(function() opt:moment(3) end, 'must be 1 or 2')
end

-- Schedules
do
  local s = optim.schedule{ kind = 'multistep', lr = 0.1, milestones = { 100, 200 }, gamma = 0.1 }
  T.check_eq(s:kind(), 'multistep')
  T.check_near({ s:lr(0), s:lr(99), s:lr(100), s:lr(199), s:lr(200), s:lr(10 ^ 6 // 1) },
    { 0.1, 0.1, 0.01, 0.01, 0.001, 0.001 }, 1e-8)
  s = optim.schedule{ kind = 'cosine', lr = 0.1, total = 1000, min_lr = 0.001 }
  T.check_near({ s:lr(0), s:lr(500), s:lr(1000), s:lr(2000) }, { 0.1, 0.0505, 0.001, 0.001 }, 1e-8)
  s = optim.schedule{ lr = 0.2, warmup = 10 }
  T.check_eq(s:kind(), 'constant')
  T.check_near({ s:lr(0), s:lr(5), s:lr(10), s:lr(50) }, { 0, 0.1, 0.2, 0.2 }, 1e-8)
  T.check(tostring(s):find('warmup=10', 1, true), tostring(s))
  T.checkerror(function() optim.schedule{ kind = 'step', lr = 1 } end, "unknown kind 'step'")
  T.checkerror(function() optim.schedule{ kind = 'cosine', lr = 1 } end, 'total')
  T.checkerror(function() optim.schedule{ kind = 'multistep', lr = 1, milestones = { 5, 3 } } end, 'increase')
  T.checkerror(function() optim.schedule{ kind = 'constant' } end, "'lr'")
  T.checkerror(function() optim.schedule{ lr = 1, warmup = -3 } end, 'warmup')
  T.checkerror(function() optim.schedule{ lr = 1, gama = 3 } end, "unknown option 'gama'")
end

-- the host helpers live in lotto.sys (not in the optimizer module)
local sys = require 'lotto.sys'
local t0 = sys.now()
T.check(type(t0) == 'number' and sys.now() >= t0, 'sys.now is a monotonic clock')
T.check(type(sys.isatty(1)) == 'boolean', 'sys.isatty')
T.checkerror(function() sys.isatty(-1) end, 'bad argument #1')
T.check(optim.now == nil and optim.isatty == nil, 'lotto.optim holds optimizers only')
-- subnormal flushing: on by default, a switch per optimizer. A single weight
-- whose gradient was 1 once: the first moment 0.1 * 0.9^t is subnormal from
-- t = 810; flushed, it never is one.
do
  local function moment_after(flush)
    local w, g = tensor.new{ 1 }, tensor.new{ 1 }
    local o = optim.adam{ params = w, grads = g, lr = 1e-3 }
    T.check_eq(o:flush(flush), true)
    o:step(w, g)
    g:fill(0)
    for _ = 1, 829 do o:step(w, g) end
    return o:moment(1):get(1)
  end
  local f = moment_after(true) -- never subnormal: 0, or stuck just above 1.18e-38 without FMA
  T.check(f == 0 or f >= 1.1754943508222875e-38, ('flushed moment is not subnormal: %g'):format(f))
  local m = moment_after(false)
  T.check(m > 0 and m < 1.18e-38, ('unflushed moment is subnormal: %g'):format(m))
  T.checkerror(function() optim.adam{ params = tensor.new{ 1 }, grads = tensor.new{ 1 } }:flush(1) end, 'boolean expected')
end
T.report()
