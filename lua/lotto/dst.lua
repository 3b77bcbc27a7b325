-- lotto.dst: masks that change during training, as a training callback —
-- dynamic sparse training (start sparse, change the mask, never dense: SET,
-- RigL, sparse momentum, or a static sparse mask) and gradual magnitude pruning
-- (Zhu & Gupta 2017: dense to sparse on a cubic schedule). One config table
-- picks the method; lotto.train.fit takes it as `dst = {...}`:
--
--   train.fit(model, data, { optimizer = ..., epochs = 10,
--                            dst = { kind = 'rigl', density = 0.1, every = 100, drop = 0.3 } })
--
-- The arithmetic (drop the smallest |w|, grow by score or at random, prune to an
-- exact count) is in C (lotto.core.dst); this file schedules it. After an update
-- only the layers whose mask changed get a new mask version, so only they rebuild
-- their sparse layout, and the optimizer's next step zeroes the moments of the
-- dropped weights; a grown weight starts at 0 with zero moments (it comes from
-- the weights pruned before the update, whose moments are 0). RigL's dense gradient
-- is one extra dense forward/backward on the step's batch, after the step, at update
-- iterations only (model:step_loss_dense); in a model with batchnorm it also moves the
-- running statistics once, and with dropout it draws one more mask.
local core = require 'lotto.core.dst'
local prune = require 'lotto.prune'
local rng = require 'lotto.rng'
local tensor = require 'lotto.tensor'
local U = require 'lotto.util'

local M = {}

local WHERE = 'lotto.dst'

--- Every option with its default; a config names only what it changes.
M.defaults = {
  kind = 'rigl',            -- 'static' | 'set' | 'rigl' | 'momentum' (sparse momentum) | 'gradual'
  density = 0.1,            -- density of the selected weights (gradual: the final density)
  every = 100,              -- Δt: iterations between mask updates
  drop = 0.3,               -- fraction of the surviving weights dropped (and regrown) at t0; decays to 0 at t1
  decay = 'cosine',         -- drop-fraction schedule from t0 to t1: 'cosine' (RigL) | 'linear' | 'constant'
  t0 = 0,                   -- first update iteration (gradual: the first pruning step)
  t1 = false,               -- last update iteration; false: 3/4 of the run (RigL's T_end; Zhu & Gupta's end)
  initial = 1,              -- gradual: density at t0 (Zhu & Gupta's initial sparsity 0)
  distribution = 'uniform', -- layer-wise densities: a name in lotto.dst.distributions or
                            -- function(layers, density) -> {density of layer 1, ...}; layers are
                            -- {name =, shape =, numel =, kind =} in parameter order
  layers = false,           -- names of the prunable weights to sparsify; false: every prunable weight
  seed = 1,                 -- initial random masks and SET's growth (the pruning stream)
}

M.kinds = { 'static', 'set', 'rigl', 'momentum', 'gradual' }
local decays = { 'cosine', 'linear', 'constant' }

--- Layer-wise density distributions: name -> function(layers, density) -> list of densities.
-- 'uniform' gives every layer the same density (the count rounds per layer). Other
-- distributions register here under their name ('erk' is lotto.prune.erk, as in lotto.pai).
M.distributions = {
  uniform = function(layers, density)
    local out = {}
    for i = 1, #layers do out[i] = density end
    return out
  end,
  -- Erdos-Renyi-Kernel (Evci et al. 2020): density of a layer proportional to
  -- (sum of its dims) / (product of its dims), layers that would pass 1 kept dense.
  erk = function(layers, density)
    local shapes = {}
    for i, e in ipairs(layers) do shapes[i] = e.shape end
    return prune.erk(shapes, density)
  end,
}

local function bad(msg) U.fail(WHERE, msg) end

--- check(cfg) -> the config merged over the defaults, every key and value checked.
function M.check(cfg)
  if cfg == nil then cfg = {} end
  local c = U.merge(M.defaults, cfg, WHERE, 'see lotto.dst.defaults')
  U.one_of(c.kind, M.kinds, "option 'kind'", WHERE)
  U.one_of(c.decay, decays, "option 'decay'", WHERE)
  local function need(ok, key, what)
    if not ok then bad(("option '%s' must be %s (got %s)"):format(key, what, tostring(c[key]))) end
  end
  need(type(c.density) == 'number' and c.density > 0 and c.density <= 1, 'density', 'a number in (0, 1]')
  need(type(c.initial) == 'number' and c.initial >= c.density and c.initial <= 1, 'initial', "a number in [density, 1]")
  need(U.is_int(c.every, 1), 'every', 'a positive integer')
  need(type(c.drop) == 'number' and c.drop >= 0 and c.drop <= 1, 'drop', 'a number in [0, 1]')
  need(U.is_int(c.t0, 0), 't0', 'an integer >= 0')
  need(c.t1 == false or (U.is_int(c.t1, 0) and c.t1 >= c.t0), 't1', "false or an integer >= t0")
  need(U.is_int(c.seed, 0), 'seed', 'an integer >= 0')
  need(c.layers == false or type(c.layers) == 'table', 'layers', 'false or a list of parameter names')
  local d = c.distribution
  if type(d) == 'string' then
    if not M.distributions[d] then
      local names = {}
      for k in pairs(M.distributions) do names[#names + 1] = k end
      table.sort(names)
      bad(("unknown distribution '%s'%s (%s)"):format(d, U.did_you_mean(d, names), table.concat(names, ', ')))
    end
  elseif type(d) ~= 'function' then
    bad(("option 'distribution' must be a name or a function(layers, density) (got %s)"):format(type(d)))
  end
  c.every, c.t0, c.seed = math.tointeger(c.every), math.tointeger(c.t0), math.tointeger(c.seed)
  if c.t1 then c.t1 = math.tointeger(c.t1) end
  return c
end

--- cubic(t, t0, t1, initial, final) -> density: Zhu & Gupta's schedule, written in
-- densities: final + (initial - final) (1 - (t - t0)/(t1 - t0))^3, clamped to [t0, t1];
-- exactly initial at t0 and exactly final from t1 on.
function M.cubic(t, t0, t1, initial, final)
  if t <= t0 then return initial end
  if t >= t1 then return final end
  local r = 1 - (t - t0) / (t1 - t0)
  return final + (initial - final) * r * r * r
end

--- drop_fraction(t, cfg) -> the fraction of survivors replaced at iteration t (t0 <= t <= t1).
function M.drop_fraction(t, c)
  if c.decay == 'constant' or c.t1 == c.t0 then return c.drop end
  local x = math.min(math.max((t - c.t0) / (c.t1 - c.t0), 0), 1)
  if c.decay == 'linear' then return c.drop * (1 - x) end
  return c.drop / 2 * (1 + math.cos(math.pi * x))
end

local function round(x) return math.floor(x + 0.5) end

-- The selected prunable parameters with their target densities.
local function layers_of(model, c)
  local all, by = {}, {}
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local e = { p = p, name = p.name, shape = p.shape, numel = p.numel, kind = p.kind }
      all[#all + 1] = e
      by[p.name] = e
    end
  end
  local out = all
  if c.layers then
    out = {}
    for i, name in ipairs(c.layers) do
      if not by[name] then
        local names = {}
        for _, e in ipairs(all) do names[#names + 1] = e.name end
        bad(("option 'layers'[%d]: '%s' is not a prunable parameter%s"):format(i, tostring(name), U.did_you_mean(name, names)))
      end
      out[#out + 1] = by[name]
    end
  end
  if #out == 0 then bad('the model has no prunable weights to sparsify') end
  local view = {}
  for i, e in ipairs(out) do view[i] = { name = e.name, shape = e.shape, numel = e.numel, kind = e.kind } end
  local f = type(c.distribution) == 'function' and c.distribution or M.distributions[c.distribution]
  local ds = f(view, c.density)
  if type(ds) ~= 'table' then bad('the distribution returned no list of densities') end
  for i, e in ipairs(out) do
    local d = ds[i]
    if type(d) ~= 'number' or not (d >= 0 and d <= 1) then
      bad(("the distribution gave layer '%s' the density %s (must be a number in [0, 1])"):format(e.name, tostring(d)))
    end
    e.density = d
    e.keep = round(d * e.numel)
  end
  return out
end

local D = {}
D.__index = D

--- new(model, cfg, total) -> a scheduler for a run of `total` iterations; fit calls
-- :begin(resumed) before the first step and :after_step(it, x, y, opt, loss) after each.
function M.new(model, cfg, total)
  local c = M.check(cfg)
  if not U.is_int(total, 1) then bad('the run length (iterations) must be a positive integer') end
  if not c.t1 then c.t1 = math.max(c.t0, (total * 3) // 4) end
  local s = setmetatable({ model = model, cfg = c, total = total, updates = {} }, D)
  s.layers = layers_of(model, c)
  return s
end

-- Random initial masks at the layers' counts (static, SET, RigL, momentum), exact.
function D:begin(resumed)
  local c = self.cfg
  if resumed or c.kind == 'gradual' then return end
  local r = rng.new(c.seed, rng.streams.prune)
  for _, e in ipairs(self.layers) do
    local m = e.p.mask
    m:fill(1)
    core.prune_to(m, tensor.rand(e.shape, r), e.keep)
  end
  self.model:apply_mask()
end

local function changed(self, names)
  if #names > 0 then self.model:mask_changed(names) end
end

-- Gradual pruning: every layer pruned by |w| to its count on the cubic schedule.
function D:prune_step(it)
  local c, names = self.cfg, {}
  local rec = { iter = it, layers = {} }
  for _, e in ipairs(self.layers) do
    local d = M.cubic(it, c.t0, c.t1, c.initial, e.density)
    local keep = round(d * e.numel)
    local pruned = core.prune_to(e.p.mask, e.p.value, keep)
    if pruned > 0 then
      prune.apply(e.p.value, e.p.mask)
      names[#names + 1] = e.name
    end
    rec.layers[#rec.layers + 1] = { name = e.name, pruned = pruned, count = prune.count(e.p.mask) }
  end
  changed(self, names)
  return rec
end

-- Sparse momentum's growth per layer: the dropped total shared out by mean |momentum|
-- of the layers' survivors (largest remainders), each capped by the weights it has
-- pruned; what a cap refuses goes to the others in order of their share.
local function redistribute(layers, drops, moments)
  local total, sum, share = 0, 0, {}
  for i, e in ipairs(layers) do
    total = total + drops[i]
    local alive = prune.count(e.p.mask)
    share[i] = alive > 0 and moments[i]:abs():sum() / alive or 0
    sum = sum + share[i]
  end
  if sum <= 0 or sum ~= sum then return drops end
  local grow, rest, given, order = {}, {}, 0, {}
  for i in ipairs(layers) do
    local x = total * share[i] / sum
    grow[i] = math.floor(x)
    rest[i] = x - grow[i]
    given = given + grow[i]
    order[i] = i
  end
  table.sort(order, function(a, b) if rest[a] ~= rest[b] then return rest[a] > rest[b] end return a < b end)
  for j = 1, total - given do grow[order[j]] = grow[order[j]] + 1 end
  local spill = 0
  for i, e in ipairs(layers) do
    local cap = e.numel - prune.count(e.p.mask)
    if grow[i] > cap then spill, grow[i] = spill + grow[i] - cap, cap end
  end
  table.sort(order, function(a, b) if share[a] ~= share[b] then return share[a] > share[b] end return a < b end)
  for _, i in ipairs(order) do
    if spill == 0 then break end
    local room = layers[i].numel - prune.count(layers[i].p.mask) - grow[i]
    local g = math.min(room, spill)
    grow[i], spill = grow[i] + g, spill - g
  end
  return grow
end

-- One drop/grow update of SET, RigL or sparse momentum at iteration it.
function D:update(it, x, y, opt, loss)
  local c, model = self.cfg, self.model
  local f = M.drop_fraction(it, c)
  local drops, scores, alive = {}, {}, {}
  for i, e in ipairs(self.layers) do
    alive[i] = prune.count(e.p.mask)
    drops[i] = math.min(round(f * alive[i]), e.numel - alive[i])
  end
  local grows = drops
  if c.kind == 'rigl' then
    model:step_loss_dense(x, y, loss) -- the dense gradient, this step only
    for i, e in ipairs(self.layers) do scores[i] = e.p.grad end
  elseif c.kind == 'momentum' then
    local m = opt and opt:moment(1)
    if not m then bad("kind 'momentum' needs an optimizer with momentum (sgd with momentum > 0, adam)") end
    for i, e in ipairs(self.layers) do scores[i] = m:narrow(1, e.p.offset + 1, e.numel):reshape(e.shape) end
    grows = redistribute(self.layers, drops, scores)
  end
  local r = rng.new(c.seed * 1000003 + it, rng.streams.prune) -- a stream per update: resumable
  local names, rec = {}, { iter = it, drop_fraction = f, layers = {} }
  for i, e in ipairs(self.layers) do
    local d, g = core.drop_grow(e.p.mask, e.p.value, scores[i], drops[i], grows[i], r)
    if d > 0 or g > 0 then names[#names + 1] = e.name end
    rec.layers[i] = { name = e.name, dropped = d, grown = g, count = alive[i] - d + g } -- exact: no second count
  end
  changed(self, names)
  if c.kind == 'rigl' then model:zero_grad() end -- the dense gradient must not reach a step
  return rec
end

--- after_step(it, x, y, opt, loss) -> an update record or nil: the scheduler's work after
-- the it-th step (it counts completed steps).
function D:after_step(it, x, y, opt, loss)
  local c = self.cfg
  local rec
  if c.kind == 'gradual' then
    if it >= c.t0 and it <= c.t1 and ((it - c.t0) % c.every == 0 or it == c.t1) then rec = self:prune_step(it) end
  elseif c.kind ~= 'static' then
    if it > c.t0 and it <= c.t1 and (it - c.t0) % c.every == 0 then rec = self:update(it, x, y, opt, loss) end
  end
  if rec then self.updates[#self.updates + 1] = rec end
  return rec
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    check = 'check(cfg) -> cfg: merged over lotto.dst.defaults, every key and value checked',
    new = "new(model, {kind = 'rigl'|'set'|'momentum'|'static'|'gradual', density =, every =, drop =, ...}, total) -> scheduler",
    cubic = 'cubic(t, t0, t1, initial, final) -> density on the Zhu & Gupta schedule (exact at t0 and t1)',
    drop_fraction = 'drop_fraction(t, cfg) -> fraction replaced at iteration t (cosine, linear or constant decay)',
  })
end

return M
