-- lotto.optim: optimizers (SGD, Adam, AdamW) over a model's flat values,
-- grads and masks, and learning-rate schedules. The numbers live in C
-- (lotto.core.optim); this file turns option tables into constructor calls.
local core = require 'lotto.core.optim'
local U = require 'lotto.util'

local M = {}

local number_opt, call = U.number_opt, U.call

-- Checks opts against the union of two key sets (the call form's and the optimizer's).
local function check_options(opts, extra, keys, where)
  local allowed = {}
  for k in pairs(extra) do allowed[k] = true end
  for k in pairs(keys) do allowed[k] = true end
  U.check_options(opts, allowed, where)
end

-- Returns values, grads, mask, the options table, extra allowed keys and the model
-- (nil for tensors), for both call forms:
-- f(model, opts) and f{params = t, grads = t, mask = t_or_nil, ...}.
local function target(a, b, where)
  if b == nil and type(a) == 'table' and rawget(a, 'params') ~= nil then
    if rawget(a, 'grads') == nil then U.fail(where, 'params given without grads') end
    return a.params, a.grads, a.mask, a, { params = true, grads = true, mask = true }, nil
  end
  if a == nil then U.fail(where, 'expected a model (or {params=, grads=, ...})') end
  local ok, values = pcall(function() return a:values() end)
  if not ok then U.fail(where, 'expected a model with values(), grads() and masks() (' .. U.strip(values) .. ')') end
  return values, a:grads(), a:masks(), b or {}, {}, a
end

local sgd_keys = { lr = true, momentum = true, nesterov = true, weight_decay = true }
local adam_keys = { lr = true, betas = true, eps = true, weight_decay = true, adamw = true }

--- SGD with optional momentum, Nesterov momentum and L2 weight decay (PyTorch semantics).
function M.sgd(a, b)
  local where = 'lotto.optim.sgd'
  local w, g, m, opts, extra, model = target(a, b, where)
  check_options(opts, extra, sgd_keys, where)
  local o = call(where, core.sgd, w, number_opt(opts, 'lr', 0.1, where), number_opt(opts, 'momentum', 0, where),
    opts.nesterov and true or false, number_opt(opts, 'weight_decay', 0, where))
  return call(where, o.bind, o, w, g, m, model)
end

--- Adam (L2 weight decay) or AdamW (decoupled weight decay, adamw = true).
function M.adam(a, b)
  local where = 'lotto.optim.adam'
  local w, g, m, opts, extra, model = target(a, b, where)
  check_options(opts, extra, adam_keys, where)
  local betas = opts.betas or { 0.9, 0.999 }
  if type(betas) ~= 'table' or type(betas[1]) ~= 'number' or type(betas[2]) ~= 'number' then
    U.fail(where, "option 'betas' must be a pair of numbers, e.g. {0.9, 0.999}")
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
  if type(spec) ~= 'table' then U.fail('lotto.optim.make', 'spec must be a table {kind = ..., lr = ...}') end
  local opts, kind = {}, spec.kind or 'sgd'
  for k, v in pairs(spec) do if k ~= 'kind' then opts[k] = v end end
  local f = ({ sgd = M.sgd, adam = M.adam, adamw = M.adamw })[kind]
  if not f then
    U.fail('lotto.optim.make', ("unknown optimizer kind '%s' (sgd, adam, adamw)%s"):format(tostring(kind),
      U.did_you_mean(kind, { 'sgd', 'adam', 'adamw' })))
  end
  return f(model, opts)
end

local sched_keys = { kind = true, lr = true, milestones = true, gamma = true, total = true, min_lr = true, warmup = true }

--- A learning-rate schedule: sched:lr(iter) is the rate for the step after `iter` steps.
-- kind 'constant' | 'multistep' (milestones, gamma) | 'cosine' (total, min_lr); warmup composes with all.
function M.schedule(opts)
  local where = 'lotto.optim.schedule'
  if type(opts) ~= 'table' then U.fail(where, 'expected a table {kind = ..., lr = ...}') end
  U.check_options(opts, sched_keys, where)
  if type(opts.lr) ~= 'number' then U.fail(where, "option 'lr' (a number) is required") end
  local kind = opts.kind or 'constant'
  if kind ~= 'constant' and kind ~= 'multistep' and kind ~= 'cosine' then
    U.fail(where, ("unknown kind '%s' (constant, multistep, cosine)%s"):format(tostring(kind),
      U.did_you_mean(kind, { 'constant', 'multistep', 'cosine' })))
  end
  return call('lotto.optim.schedule', core.schedule, kind, opts.lr, opts)
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    sgd = 'sgd(model, {lr = 0.1, momentum = 0, nesterov = false, weight_decay = 0}) -> opt (or sgd{params =, grads =, mask =, ...})',
    adam = 'adam(model, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, adamw = false}) -> opt',
    adamw = 'adamw(model, {lr =, betas =, eps =, weight_decay = 0.01}) -> opt: Adam with decoupled weight decay',
    make = "make(model, {kind = 'sgd'|'adam'|'adamw', lr = ..., ...}) -> opt",
    schedule = "schedule{kind = 'constant'|'multistep'|'cosine', lr =, milestones =, gamma = 0.1, total =, min_lr = 0, warmup = 0} -> sched",
  })
end

return M
