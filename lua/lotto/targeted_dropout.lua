-- lotto.targeted_dropout: targeted dropout (Gomez et al. 2019), the engine of the
-- lotto.train.fit option `targeted_dropout`. During training, each step drops, with
-- probability alpha, each of the gamma fraction of lowest-magnitude surviving weights of
-- every prunable layer (kind = 'unit': of its lowest-L2-norm output units, whole rows),
-- so the network learns not to rely on the weights magnitude pruning removes:
--
--   lotto.train.fit(model, data, { optimizer = {kind = 'adam', lr = 1.2e-3}, epochs = 2,
--                                  targeted_dropout = { alpha = 0.5, gamma = 0.5 } })
--   lotto.prune.magnitude(model, { rate = 0.9 })   -- then prune: accuracy holds better
--
-- A dropped weight is zero in that step's forward pass and gets no gradient; it keeps
-- its value (it is not pruned), and evaluation sees every weight. The draws come from
-- one generator on the targeted-dropout stream of `seed` (default: the fit's seed);
-- train.fit checkpoints its state, so a resumed run draws what the uninterrupted one did.
local tensor = require 'lotto.tensor'
local core = require 'lotto.core.prune'
local rng = require 'lotto.rng'
local pai = require 'lotto.pai'
local U = require 'lotto.util'

local M = {}

M.defaults = {
  alpha = 0.5,      -- drop probability of a candidate
  gamma = 0.5,      -- fraction of each layer's surviving weights (or alive units) that are candidates
  kind = 'weight',  -- 'weight' | 'unit' (whole output units, ranked by the L2 norm of their row)
  seed = false,     -- the generator's seed (default: the seed of train.fit)
  layers = false,   -- names of the prunable parameters (default: all)
}
local WHERE = 'lotto.train.fit: targeted_dropout'

local function view(flat, e) return flat:narrow(1, e.offset + 1, e.numel):reshape(e.shape) end

local TD = {}
TD.__index = TD

--- new(model, opts, seed) -> td: checks opts (errors name the key, with did-you-mean) and
-- sets up the layers, their keep masks and the generator (seed when opts.seed is unset).
function M.new(model, opts, seed)
  U.check_model(model, 'targeted_dropout', 1)
  local o = U.merge(M.defaults, opts, WHERE, 'see lotto.targeted_dropout.defaults')
  for _, k in ipairs { 'alpha', 'gamma' } do
    if type(o[k]) ~= 'number' or not (o[k] >= 0 and o[k] <= 1) then
      U.fail(WHERE, ("option '%s' must be a number in [0, 1] (got %s)"):format(k, tostring(o[k])))
    end
  end
  U.one_of(o.kind, { 'weight', 'unit' }, "option 'kind'", WHERE)
  if o.seed == false then o.seed = seed or 1 end
  if math.type(o.seed) ~= 'integer' then U.fail(WHERE, ("option 'seed' must be an integer (got %s)"):format(tostring(o.seed))) end
  local ok, layers = pcall(pai.layers, model, o.layers or nil)
  if not ok then U.fail(WHERE, (U.strip(layers):gsub('^lotto%.pai%.prune: ', ''))) end
  local t = setmetatable({ model = model, o = o, layers = layers, units = o.kind == 'unit',
    rng = rng.new(o.seed, rng.streams.targeted_dropout), keep = {}, saved = {}, dropped = 0, seen = 0 }, TD)
  for i, e in ipairs(layers) do
    t.keep[i], t.saved[i] = tensor.zeros(e.shape), tensor.zeros(e.shape)
  end
  return t
end

--- td:draw() -> {keep masks}: the next step's keep masks (1 kept, 0 dropped or pruned),
-- one per layer, drawn from the current weights and masks. The masks are reused.
function TD:draw()
  local values = self.model:values()
  for i, e in ipairs(self.layers) do
    core.targeted_dropout(self.keep[i], view(values, e), e.p.mask, self.o.gamma, self.o.alpha, self.rng, self.units)
  end
  return self.keep
end

--- td:step_loss(x, y, loss) -> loss, correct: model:step_loss with this step's drops in the
-- forward pass and the gradients; the weights are put back afterwards (also on an error).
function TD:step_loss(x, y, loss)
  local model = self.model
  local values, grads = model:values(), model:grads()
  local keep = self:draw()
  for i, e in ipairs(self.layers) do
    local w = view(values, e)
    self.saved[i]:copy(w)
    w:mul_(keep[i])
    self.dropped = self.dropped + (core.count(e.p.mask) - core.count(keep[i]))
    self.seen = self.seen + e.numel
  end
  local ok, l, c = pcall(model.step_loss, model, x, y, loss)
  for i, e in ipairs(self.layers) do
    view(values, e):copy(self.saved[i])
    if ok then view(grads, e):mul_(keep[i]) end
  end
  if not ok then error(l, 0) end
  return l, c
end

--- td:state() -> {rng =, dropped =, seen =}: the generator's state and the drop counts (for
-- checkpoints, JSON-able); td:set_state(t) -> true | nil, message restores them.
function TD:state() return { rng = self.rng:state(), dropped = self.dropped, seen = self.seen } end
function TD:set_state(t)
  if type(t) ~= 'table' or math.type(t.dropped) ~= 'integer' or math.type(t.seen) ~= 'integer' then
    return nil, 'not a targeted-dropout state'
  end
  local ok, err = pcall(self.rng.set_state, self.rng, t.rng)
  if not ok then return nil, U.strip(err) end
  self.dropped, self.seen = t.dropped, t.seen
  return true
end

--- td:summary() -> {alpha, gamma, kind, seed, dropped}: dropped is the fraction of the selected
-- layers' weights dropped per step, on average.
function TD:summary()
  local o = self.o
  return { alpha = o.alpha, gamma = o.gamma, kind = o.kind, seed = o.seed,
    dropped = self.seen > 0 and self.dropped / self.seen or 0 }
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    new = "new(model, {alpha = 0.5, gamma = 0.5, kind = 'weight'|'unit', seed =, layers =}[, seed]) -> td "
      .. '(td:draw(), td:step_loss(x, y, loss), td:state()): what train.fit{targeted_dropout = {...}} runs',
  })
end

return M
