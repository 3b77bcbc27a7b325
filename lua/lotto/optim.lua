-- lotto.optim: optimizers (SGD, Adam, AdamW) over a model's flat values,
-- grads and masks, and learning-rate schedules. The numbers live in C
-- (lotto.core.optim); this file turns option tables into constructor calls.
local core = require 'lotto.core.optim'

local M = {}

-- Calls a C constructor or method; its errors are re-raised at the user's
-- call site, prefixed by `where`, without this file's position.
local function call(where, f, ...)
  local ok, r = pcall(f, ...)
  if not ok then
    local msg = tostring(r):gsub('^[^:]*:%d+: ', ''):gsub("^bad argument #%d+ to '[^']*' %((.*)%)$", '%1')
    error(where .. ': ' .. msg, 3)
  end
  return r
end

local function check_options(opts, allowed, where)
  for k in pairs(opts) do
    if not allowed[k] then
      error(("%s: unknown option '%s'"):format(where, tostring(k)), 3)
    end
  end
end

local function number_opt(opts, key, default, where)
  local v = opts[key]
  if v == nil then return default end
  if type(v) ~= 'number' then
    error(("%s: option '%s' must be a number (got %s)"):format(where, key, type(v)), 3)
  end
  return v
end

-- Returns values, grads, mask, the options table, extra allowed keys and the model
-- (nil for tensors), for both call forms:
-- f(model, opts) and f{params = t, grads = t, mask = t_or_nil, ...}.
local function target(a, b, where)
  if b == nil and type(a) == 'table' and rawget(a, 'params') ~= nil then
    if rawget(a, 'grads') == nil then error(where .. ': params given without grads', 3) end
    return a.params, a.grads, a.mask, a, { params = true, grads = true, mask = true }, nil
  end
  if a == nil then error(where .. ': expected a model (or {params=, grads=, ...})', 3) end
  local ok, values = pcall(function() return a:values() end)
  if not ok then error(where .. ': expected a model with values(), grads() and masks() (' .. tostring(values) .. ')', 3) end
  return values, a:grads(), a:masks(), b or {}, {}, a
end

local sgd_keys = { lr = true, momentum = true, nesterov = true, weight_decay = true }
local adam_keys = { lr = true, betas = true, eps = true, weight_decay = true, adamw = true }

--- SGD with optional momentum, Nesterov momentum and L2 weight decay (PyTorch semantics).
function M.sgd(a, b)
  local where = 'lotto.optim.sgd'
  local w, g, m, opts, extra, model = target(a, b, where)
  check_options(opts, setmetatable(extra, { __index = sgd_keys }), where)
  local o = call(where, core.sgd, w, number_opt(opts, 'lr', 0.1, where), number_opt(opts, 'momentum', 0, where),
    opts.nesterov and true or false, number_opt(opts, 'weight_decay', 0, where))
  return call(where, o.bind, o, w, g, m, model)
end

--- Adam (L2 weight decay) or AdamW (decoupled weight decay, adamw = true).
function M.adam(a, b)
  local where = 'lotto.optim.adam'
  local w, g, m, opts, extra, model = target(a, b, where)
  check_options(opts, setmetatable(extra, { __index = adam_keys }), where)
  local betas = opts.betas or { 0.9, 0.999 }
  if type(betas) ~= 'table' or type(betas[1]) ~= 'number' or type(betas[2]) ~= 'number' then
    error(where .. ": option 'betas' must be a pair of numbers, e.g. {0.9, 0.999}", 2)
  end
  local o = call(where, core.adam, w, number_opt(opts, 'lr', 1e-3, where), betas[1], betas[2],
    number_opt(opts, 'eps', 1e-8, where), number_opt(opts, 'weight_decay', 0, where),
    opts.adamw and true or false)
  return call(where, o.bind, o, w, g, m, model)
end

--- AdamW: Adam with decoupled weight decay (default 0.01, as PyTorch).
function M.adamw(a, b)
  local w, g, m, opts = target(a, b, 'lotto.optim.adamw')
  local o2 = {}
  for k, v in pairs(opts) do o2[k] = v end
  o2.adamw = true
  if o2.weight_decay == nil then o2.weight_decay = 0.01 end
  if b == nil and rawget(a, 'params') ~= nil then return M.adam(o2) end
  return M.adam(a, o2)
end

--- Builds an optimizer from a spec table {kind = 'sgd'|'adam'|'adamw', lr = ..., ...}.
function M.make(model, spec)
  if type(spec) ~= 'table' then error('lotto.optim.make: spec must be a table {kind = ..., lr = ...}', 2) end
  local opts, kind = {}, spec.kind or 'sgd'
  for k, v in pairs(spec) do if k ~= 'kind' then opts[k] = v end end
  local f = ({ sgd = M.sgd, adam = M.adam, adamw = M.adamw })[kind]
  if not f then error(("lotto.optim.make: unknown optimizer kind '%s' (sgd, adam, adamw)"):format(tostring(kind)), 2) end
  return f(model, opts)
end

local sched_keys = { kind = true, lr = true, milestones = true, gamma = true, total = true, min_lr = true, warmup = true }

--- A learning-rate schedule: sched:lr(iter) is the rate for the step after `iter` steps.
-- kind 'constant' | 'multistep' (milestones, gamma) | 'cosine' (total, min_lr); warmup composes with all.
function M.schedule(opts)
  if type(opts) ~= 'table' then error("lotto.optim.schedule: expected a table {kind = ..., lr = ...}", 2) end
  check_options(opts, sched_keys, 'lotto.optim.schedule')
  if type(opts.lr) ~= 'number' then error("lotto.optim.schedule: option 'lr' (a number) is required", 2) end
  local kind = opts.kind or 'constant'
  if kind ~= 'constant' and kind ~= 'multistep' and kind ~= 'cosine' then
    error(("lotto.optim.schedule: unknown kind '%s' (constant, multistep, cosine)"):format(tostring(kind)), 2)
  end
  return call('lotto.optim.schedule', core.schedule, kind, opts.lr, opts)
end

M.isatty = core.isatty
M.now = core.now

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    sgd = 'sgd(model, {lr = 0.1, momentum = 0, nesterov = false, weight_decay = 0}) -> opt (or sgd{params =, grads =, mask =, ...})',
    adam = 'adam(model, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, adamw = false}) -> opt',
    adamw = 'adamw(model, {lr =, betas =, eps =, weight_decay = 0.01}) -> opt: Adam with decoupled weight decay',
    make = "make(model, {kind = 'sgd'|'adam'|'adamw', lr = ..., ...}) -> opt",
    schedule = "schedule{kind = 'constant'|'multistep'|'cosine', lr =, milestones =, gamma = 0.1, total =, min_lr = 0, warmup = 0} -> sched",
    isatty = 'isatty([fd = 1]) -> whether the file descriptor is a terminal',
    now = 'now() -> monotonic wall-clock seconds',
  })
end

return M
