-- lotto.targeted_dropout: targeted dropout (Gomez et al. 2019). During training, each
-- step drops, with probability alpha, each of the gamma fraction of lowest-magnitude
-- weights of every prunable layer (or, units = true, of its lowest-L2-norm output
-- units), so the network learns not to rely on the weights magnitude pruning removes.
--
--   local td = require 'lotto.targeted_dropout'
--   local hist = td.fit(model, data, { optimizer = {kind = 'adam', lr = 1.2e-3}, epochs = 2 },
--                       { alpha = 0.5, gamma = 0.5 })
--   lotto.prune.magnitude(model, { rate = 0.9 })   -- then prune: accuracy holds better
--
-- A dropped weight is zero in that step's forward pass and gets no gradient; it keeps
-- its value (it is not pruned). Evaluation sees every weight. The drop draws come from
-- the dropout stream of `seed`, one generator per run, so a run is reproducible.
local train = require 'lotto.train'
local optim = require 'lotto.optim'
local core = require 'lotto.core.prune'
local rng = require 'lotto.rng'
local pai = require 'lotto.pai'
local U = require 'lotto.util'

local M = {}

M.defaults = {
  alpha = 0.5,     -- drop probability of a candidate
  gamma = 0.5,     -- fraction of each layer's survivors (or units) that are candidates
  units = false,   -- true: drop whole output units (rows) by L2 norm
  seed = 1,        -- dropout stream
  layers = false,  -- names of the prunable parameters (default: all)
}

local function view(flat, e) return flat:narrow(1, e.offset + 1, e.numel):reshape(e.shape) end

--- wrap(model, opts) -> a stand-in for model whose step_loss applies targeted dropout;
-- every other method is the model's. Pass it to lotto.train.fit (with an optimizer built
-- on the model itself), or use td.fit.
function M.wrap(model, opts)
  local where = 'lotto.targeted_dropout'
  U.check_model(model, 'wrap', 1)
  local o = U.merge(M.defaults, opts, where, 'see lotto.targeted_dropout.defaults')
  for _, k in ipairs { 'alpha', 'gamma' } do
    if type(o[k]) ~= 'number' or not (o[k] >= 0 and o[k] <= 1) then
      U.fail(where, ("option '%s' must be a number in [0, 1] (got %s)"):format(k, tostring(o[k])))
    end
  end
  U.check_seed(o.seed, 'wrap', 2)
  local layers = pai.layers(model, o.layers or nil)
  local r = rng.new(o.seed, rng.streams.dropout)
  local keep = {}
  for i, e in ipairs(layers) do keep[i] = e.p.mask:clone() end
  local proxy = {}
  --- step_loss(x, y, loss) with the drops applied to values and gradients, values restored.
  function proxy.step_loss(_, x, y, loss)
    local values, grads = model:values(), model:grads()
    local saved = {}
    for i, e in ipairs(layers) do
      local w = view(values, e)
      core.targeted_dropout(keep[i], w, e.p.mask, o.gamma, o.alpha, r, o.units)
      saved[i] = w:clone()
      w:mul_(keep[i])
    end
    local ok, l, c = pcall(model.step_loss, model, x, y, loss)
    for i, e in ipairs(layers) do
      view(values, e):copy(saved[i])
      if ok then view(grads, e):mul_(keep[i]) end
    end
    if not ok then error(l, 0) end
    return l, c
  end
  proxy.model = model
  return setmetatable(proxy, { __index = function(_, k)
    local f = model[k]
    if type(f) ~= 'function' then return f end
    return function(_, ...) return f(model, ...) end
  end })
end

--- fit(model, data, fit_opts, td_opts) -> history: lotto.train.fit with targeted dropout.
function M.fit(model, data, fit_opts, td_opts)
  local proxy = M.wrap(model, td_opts)
  local fo = {}
  for k, v in pairs(fit_opts or {}) do fo[k] = v end
  if type(fo.optimizer) == 'table' and getmetatable(fo.optimizer) == nil then fo.optimizer = optim.make(model, fo.optimizer) end
  return train.fit(proxy, data, fo)
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    wrap = 'wrap(model, {alpha = 0.5, gamma = 0.5, units = false, seed = 1, layers =}) -> model stand-in for train.fit',
    fit = 'fit(model, data, fit_opts, {alpha =, gamma =, units =, seed =}) -> history: train.fit with targeted dropout',
  })
end

return M
