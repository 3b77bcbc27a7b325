-- lotto.prune: masks and pruning. Low-level functions work on mask tensors
-- in place (C, lotto.core.prune); model-level functions resolve per-layer rates
-- and scores for a model's prunable parameters, then call model:apply_mask().
--
--   local prune = require 'lotto.prune'
--   prune.magnitude(model, { rate = 0.2, output_rate = 0.1 })  -- one LTH round
--   print(prune.stats(model).overall)                           -- 0.8 ...
--
-- Counting: every rate prunes round(p * surviving) (half up) of the weights
-- that still survive, so 20% of 10 prunes 2, then 20% of 8 prunes 2. Ties in
-- score go lower index first; NaN scores are pruned first.
local core = require 'lotto.core.prune'
local channels = require 'lotto.channels'
local tensor = require 'lotto.tensor'
local U = require 'lotto.util'
local rng = require 'lotto.rng'

local M = {}

-- ---- low level, on mask tensors (masks change in place) ----
M.magnitude_mask = core.magnitude_mask -- (mask, weight, p) -> pruned, by |weight|
M.score_mask = core.score_mask         -- (mask, score, p) -> pruned, smallest score first
M.random = core.random                 -- (mask, p, rng_or_seed) -> pruned
M.structured = core.structured         -- (mask, weight, p, {dim = 1, norm = 'l1'|'l2'}) -> units pruned
M.nm = core.nm                         -- (mask, score, n, m) -> pruned, by |score|
M.permute = core.permute               -- (mask, rng_or_seed) -> mask, same density
M.count = core.count                   -- (mask) -> surviving entries
M.density = core.density               -- (mask) -> surviving / size
M.hamming = core.hamming               -- (a, b) -> differing entries, that / size
M.overlap = core.overlap               -- (a, b) -> |a and b| / |a or b|, |a and b| / |a|
M.check = core.check                   -- (mask) -> true | false, message
M.apply = core.apply                   -- (weight, mask) -> weight with pruned entries 0
M.keep_top = core.keep_top             -- (mask, score, keep[, raw]) -> pruned: keep the `keep` largest
M.erk = core.erk                       -- (shapes, density[, dense]) -> ERK layer densities
M.targeted_dropout = core.targeted_dropout -- (keep, weight, mask, gamma, alpha, rng[, units]) -> keep

--- Global pruning of a set of layers: prune.global{masks = {...}, scores = {...}, p = 0.2, raw = false}.
-- Scores are read as |score| unless raw. Returns pruned, guarded: the 1-based positions of
-- layers that the threshold would have emptied, where the largest-scored weight was kept.
function M.global(opts)
  local where = 'lotto.prune.global'
  if type(opts) ~= 'table' then U.fail(where, 'expected a table {masks = ..., scores = ..., p = ...}') end
  U.check_options(opts, { 'masks', 'scores', 'p', 'raw' }, where)
  if type(opts.masks) ~= 'table' then U.fail(where, 'masks must be a list of mask tensors') end
  if type(opts.scores) ~= 'table' then U.fail(where, 'scores must be a list of score tensors') end
  if type(opts.p) ~= 'number' or not (opts.p >= 0 and opts.p <= 1) then
    U.fail(where, ('p (the fraction to prune) must be a number in [0, 1], got %s'):format(tostring(opts.p)))
  end
  return core.global(opts.masks, opts.scores, opts.p, opts.raw)
end

--- Normalised Hamming distance between two masks (e.g. from prune.masks); also the count.
function M.distance(a, b)
  local count, frac = core.hamming(a, b)
  return frac, count
end

-- ---- model level ----

local function fail(where, msg) U.fail('lotto.prune.' .. where, msg) end

local function check_options(opts, allowed, where) return U.check_options(opts, allowed, 'lotto.prune.' .. where) end

local function check_rate(where, what, r)
  if r == nil then return end
  if type(r) ~= 'number' or not (r >= 0 and r <= 1) then
    fail(where, ('%s must be a number in [0, 1] (got %s)'):format(what, tostring(r)))
  end
end

local function numel(p)
  local n = 1
  for _, d in ipairs(p.shape or p.value:shape()) do n = n * d end
  return n
end

-- The model's trainable parameters (those with a mask) with their 0-based offsets in
-- the flat buffers (model:values(), model:masks(), model:state()): p.offset when the
-- model gives it, else back to back in parameters() order (lt_model's layout). Also
-- the prunable ones. Non-trainable buffers (no mask) are skipped.
local function params_of(model, where)
  if type(model) ~= 'table' and type(model) ~= 'userdata' then fail(where, 'expected a model') end
  local ok, ps = pcall(function() return model:parameters() end)
  if not ok or type(ps) ~= 'table' then fail(where, 'expected a model with :parameters()') end
  local all, prunable, off = {}, {}, 0
  for _, p in ipairs(ps) do
    if p.mask ~= nil then
      local n = numel(p)
      local e = { p = p, name = p.name, kind = p.kind, offset = math.tointeger(p.offset) or off, numel = n }
      all[#all + 1] = e
      if p.prunable then prunable[#prunable + 1] = e end
      off = e.offset + n
    end
  end
  return all, prunable
end

-- The selected layers: opts.layers (names, checked) or default(e) over the prunable ones.
local function select_layers(prunable, opts, where, default)
  local by = {}
  for _, e in ipairs(prunable) do by[e.name] = e end
  local out, seen = {}, {}
  if opts.layers ~= nil then
    if type(opts.layers) ~= 'table' then fail(where, 'layers must be a list of parameter names') end
    for _, name in ipairs(opts.layers) do
      if not by[name] then fail(where, ("layers: '%s' is not a prunable parameter"):format(tostring(name))) end
      if not seen[name] then out[#out + 1] = by[name] end
      seen[name] = true
    end
  else
    for i, e in ipairs(prunable) do
      if not default or default(e, i == #prunable) then out[#out + 1] = e end
    end
  end
  return out
end

-- Per-layer rate: rates[name] > output_rate (last prunable layer) > kind_rates[kind] > rate.
-- Returns rate and its source ('name', 'output', 'kind:<kind>', 'rate'), or nil.
local function resolve_rates(layers, last, opts, where)
  check_rate(where, 'rate', opts.rate)
  check_rate(where, 'output_rate', opts.output_rate)
  for _, key in ipairs { 'rates', 'kind_rates' } do
    if opts[key] ~= nil and type(opts[key]) ~= 'table' then fail(where, key .. ' must be a table') end
    for k, r in pairs(opts[key] or {}) do check_rate(where, ('%s[%s]'):format(key, tostring(k)), r) end
  end
  local known = {}
  for _, e in ipairs(layers) do known[e.name] = true end
  for name in pairs(opts.rates or {}) do
    if not known[name] then fail(where, ("rates: '%s' is not a selected prunable parameter"):format(tostring(name))) end
  end
  local any = false
  for _, e in ipairs(layers) do
    local r, src = (opts.rates or {})[e.name], 'name'
    if r == nil and e == last and opts.output_rate ~= nil then r, src = opts.output_rate, 'output' end
    if r == nil and opts.kind_rates and opts.kind_rates[e.kind] ~= nil then r, src = opts.kind_rates[e.kind], 'kind:' .. tostring(e.kind) end
    if r == nil then r, src = opts.rate, 'rate' end
    e.rate, e.source = r, src
    any = any or r ~= nil
  end
  if not any then fail(where, 'no rate given (rate, rates, kind_rates or output_rate)') end
end

-- The score tensor for one layer and whether it is read raw (function scores) or as |score|.
local function score_of(e, score, where)
  if score == nil then return e.p.value, false end
  if type(score) == 'function' then
    local s = score(e.p)
    if not tensor.is_tensor(s) then fail(where, ("score function returned a %s for '%s', not a tensor"):format(type(s), e.name)) end
    return s, true
  end
  local flat = score
  if not tensor.is_tensor(score) then
    if type(score) ~= 'table' then fail(where, 'score must be nil, a tensor, a table or a function') end
    if tensor.is_tensor(score[e.name]) then return score[e.name], false end
    flat = score.values
    if not tensor.is_tensor(flat) then fail(where, ("score table has no tensor for '%s'"):format(e.name)) end
  end
  if flat:numel() < e.offset + e.numel then
    fail(where, ('score has %d elements, but %s needs [%d, %d) of the flat layout'):format(flat:numel(), e.name, e.offset, e.offset + e.numel))
  end
  if flat:dim() ~= 1 then flat = flat:contiguous():reshape { -1 } end
  return flat:narrow(1, e.offset + 1, e.numel):reshape(e.p.mask:shape()), false
end

local function layer_report(e, pruned)
  local c, n = core.count(e.p.mask), e.numel
  return { name = e.name, kind = e.kind, rate = e.rate, pruned = pruned, count = c, total = n, density = n > 0 and c / n or 0 }
end

local function finish(model, rep)
  model:apply_mask()
  local total = 0
  for _, l in ipairs(rep.layers) do total = total + (l.pruned or 0) end
  rep.pruned = total
  return rep
end

local magnitude_keys = { rate = true, rates = true, kind_rates = true, output_rate = true, scope = true, layers = true, score = true }

--- One round of magnitude pruning of a model (see the header of this file for opts).
-- scope 'local' (default) prunes each layer at its rate. scope 'global' pools the
-- layers that share a rate source (opts.rate, or one kind_rates entry) under one
-- threshold each; per-name and output-layer rates stay layer-wise. Returns a report
-- {pruned, layers = {{name, rate, pruned, count, total, density}}, guarded = {names}, warning}.
function M.magnitude(model, opts)
  local where = 'magnitude'
  opts = check_options(opts, magnitude_keys, where)
  local scope = opts.scope or 'local'
  if scope ~= 'local' and scope ~= 'global' then fail(where, "scope must be 'local' or 'global'") end
  local _, prunable = params_of(model, where)
  local layers = select_layers(prunable, opts, where)
  resolve_rates(layers, prunable[#prunable], opts, where)
  local rep, pools, order = { layers = {}, guarded = {} }, {}, {}
  local done = {}
  for _, e in ipairs(layers) do
    if e.rate ~= nil then
      local s, raw = score_of(e, opts.score, where)
      if scope == 'global' and (e.source == 'rate' or e.source:sub(1, 5) == 'kind:') then
        local key = e.source
        if not pools[key] then pools[key] = { rate = e.rate, raw = raw, layers = {} }; order[#order + 1] = key end
        if pools[key].raw ~= raw then fail(where, 'a score function cannot be mixed with magnitude scores in one global pool') end
        local pool = pools[key].layers
        pool[#pool + 1] = { e = e, score = s }
      else
        local before = core.count(e.p.mask)
        if raw then core.score_mask(e.p.mask, s, e.rate) else core.magnitude_mask(e.p.mask, s, e.rate) end
        done[e] = before - core.count(e.p.mask)
      end
    end
  end
  for _, key in ipairs(order) do
    local pool, masks, scores, before = pools[key], {}, {}, {}
    for i, l in ipairs(pool.layers) do
      masks[i], scores[i], before[i] = l.e.p.mask, l.score, core.count(l.e.p.mask)
    end
    local _, guarded = core.global(masks, scores, pool.rate, pool.raw)
    for i, l in ipairs(pool.layers) do done[l.e] = before[i] - core.count(l.e.p.mask) end
    for _, i in ipairs(guarded) do rep.guarded[#rep.guarded + 1] = pool.layers[i].e.name end
  end
  for _, e in ipairs(layers) do
    if e.rate ~= nil then rep.layers[#rep.layers + 1] = layer_report(e, done[e]) end
  end
  if #rep.guarded > 0 then
    rep.warning = ('global pruning kept one weight (the largest) in %s: the threshold would have emptied %s')
        :format(table.concat(rep.guarded, ', '), #rep.guarded == 1 and 'it' or 'them')
  end
  return finish(model, rep)
end

-- The generator for model-level random functions: opts.rng or opts.seed (pruning stream).
local function rng_of(opts, where)
  if opts.rng ~= nil then return opts.rng end
  if math.type(opts.seed) ~= 'integer' then fail(where, 'give seed = <integer> or rng = <lotto.rng>') end
  return rng.new(opts.seed, rng.streams.prune)
end

local random_keys = { rate = true, rates = true, kind_rates = true, output_rate = true, layers = true, seed = true, rng = true }

--- Random pruning at the same per-layer rates as prune.magnitude (the random-pruning baseline).
function M.random_model(model, opts)
  local where = 'random_model'
  opts = check_options(opts, random_keys, where)
  local _, prunable = params_of(model, where)
  local layers = select_layers(prunable, opts, where)
  resolve_rates(layers, prunable[#prunable], opts, where)
  local r, rep = rng_of(opts, where), { layers = {} }
  for _, e in ipairs(layers) do
    if e.rate ~= nil then rep.layers[#rep.layers + 1] = layer_report(e, core.random(e.p.mask, e.rate, r)) end
  end
  return finish(model, rep)
end

local structured_keys = { rate = true, rates = true, kind_rates = true, output_rate = true, layers = true, norm = true, dim = true }

-- A prunable weight with rows: output neurons or channels (dim 1) over inputs, as the
-- weights of linear and conv2d layers are; a 1-d prunable vector has no rows to remove.
local function has_rows(e) return #(e.p.shape or e.p.value:shape()) >= 2 end

--- Prunes whole output neurons / conv channels by the L1 or L2 norm of their weights.
-- Default layers: every prunable weight with rows except the last one (the output
-- layer: removing its rows would remove classes). Only the weight mask changes.
function M.structured_model(model, opts)
  local where = 'structured_model'
  opts = check_options(opts, structured_keys, where)
  local _, prunable = params_of(model, where)
  local layers = select_layers(prunable, opts, where, function(e, is_last)
    return not is_last and has_rows(e)
  end)
  resolve_rates(layers, prunable[#prunable], opts, where)
  local rep = { layers = {} }
  local so = { dim = opts.dim or 1, norm = opts.norm or 'l1' }
  for _, e in ipairs(layers) do
    if e.rate ~= nil then
      local before = core.count(e.p.mask)
      local units = core.structured(e.p.mask, e.p.value, e.rate, so)
      local l = layer_report(e, before - core.count(e.p.mask))
      l.units = units
      rep.layers[#rep.layers + 1] = l
    end
  end
  return finish(model, rep)
end

-- Channel pruning that shrinks the model (lotto.channels): channels, shrink, cost.
M.channels = channels.channels
M.shrink = channels.shrink
M.cost = channels.cost

--- n:m sparsity (at most n of every m consecutive input weights) on every prunable
-- weight with rows (linear, conv2d), or opts.layers, keeping the largest |w|.
function M.nm_model(model, n, m, opts)
  local where = 'nm_model'
  opts = check_options(opts, { layers = true }, where)
  if math.type(n) ~= 'integer' or math.type(m) ~= 'integer' then fail(where, 'n and m must be integers') end
  local _, prunable = params_of(model, where)
  local layers = select_layers(prunable, opts, where, has_rows)
  local rep = { layers = {} }
  for _, e in ipairs(layers) do rep.layers[#rep.layers + 1] = layer_report(e, core.nm(e.p.mask, e.p.value, n, m)) end
  return finish(model, rep)
end

--- Shuffles every selected layer's mask within the layer (the permuted-mask baseline).
function M.permute_model(model, opts)
  local where = 'permute_model'
  opts = check_options(opts, { layers = true, seed = true, rng = true }, where)
  local _, prunable = params_of(model, where)
  local layers = select_layers(prunable, opts, where)
  local r, rep = rng_of(opts, where), { layers = {} }
  for _, e in ipairs(layers) do
    core.permute(e.p.mask, r)
    rep.layers[#rep.layers + 1] = layer_report(e, 0)
  end
  return finish(model, rep)
end

--- Pruning at initialization: prune.at_init(model, {method = 'snip'|'grasp'|'synflow'|'magnitude'|
-- 'random'|f, density =, distribution = 'global'|'uniform'|'uniform_first_dense'|'erk'|f, data =,
-- shuffle =}) -> report. The methods, distributions and defaults live in lotto.pai.
function M.at_init(model, opts) return require('lotto.pai').prune(model, opts) end

--- Densities of the prunable weights: {overall, count, total, layers = {{name, density, count, total}}}.
function M.stats(model)
  local _, prunable = params_of(model, 'stats')
  local st, count, total = { layers = {} }, 0, 0
  for _, e in ipairs(prunable) do
    local c = core.count(e.p.mask)
    count, total = count + c, total + e.numel
    st.layers[#st.layers + 1] = { name = e.name, kind = e.kind, density = e.numel > 0 and c / e.numel or 0, count = c, total = e.numel }
  end
  st.count, st.total, st.overall = count, total, total > 0 and count / total or 0
  return st
end

--- A flat copy of the model's masks in the layout of model:values() (for prune.distance,
-- prune.overlap or saving).
function M.masks(model)
  local all = params_of(model, 'masks')
  local okm, buf = pcall(function() return model:masks() end)
  if okm and tensor.is_tensor(buf) then return buf:clone() end
  local n = 0
  for _, e in ipairs(all) do n = math.max(n, e.offset + e.numel) end
  local flat = tensor.zeros { n }
  for _, e in ipairs(all) do flat:narrow(1, e.offset + 1, e.numel):copy(e.p.mask:contiguous()) end
  return flat
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    global = 'global{masks = {...}, scores = {...}, p = 0.2} -> pruned, guarded: one |score| threshold across layers; no layer is emptied',
    distance = 'distance(a, b) -> normalised Hamming distance (differing entries / size), count',
    magnitude = 'magnitude(model, {rate =, rates =, kind_rates =, output_rate =, scope = "local"|"global", layers =, score =}) -> report',
    random_model = 'random_model(model, {rate =, ..., seed =}) -> report: random pruning at the magnitude rates',
    structured_model = 'structured_model(model, {rate =, norm = "l1"|"l2", layers =}) -> report: prune whole neurons/channels',
    channels = 'channels(model, {rate =, by = "l1"|"l2"|"bn", scope = "local"|"global" (bn), layers =}) -> report: mask channels and zero what they carry, ready to shrink',
    shrink = 'shrink(model) -> smaller model, {exact, dropped, params_before, params_after}: dead channels removed',
    cost = 'cost(model) -> {macs, macs_kept, params, params_kept, bytes, bytes_sparse, layers}: per sample',
    nm_model = 'nm_model(model, n, m [, {layers =}]) -> report: at most n of every m input weights survive',
    permute_model = 'permute_model(model, {seed =}) -> report: shuffle each layer mask (same density)',
    at_init = "at_init(model, {method = 'snip', density =, distribution = 'erk', data =, shuffle =}) -> report (lotto.pai)",
    stats = 'stats(model) -> {overall, count, total, layers = {{name, density, count, total}}}',
    masks = 'masks(model) -> a flat copy of the mask buffer',
  })
end

return M
