-- lotto.channels: channel (neuron) pruning that pays at inference: masks whole output
-- channels of conv and linear layers by the L1/L2 norm of their weights or by the scale
-- of the batchnorm after them (network slimming, Liu et al. 2017), and shrink(), which
-- turns the masked model into a smaller dense one (lotto.core.nn shrink, in C). Also
-- cost(): multiply-adds and bytes per sample, dense, after masks and after shrinking.
-- lotto.prune re-exports channels and shrink.
--
--   prune.channels(model, { rate = 0.5, by = 'bn' })  -- masks half the channels per layer
--   local small, info = prune.shrink(model)          -- info.exact: same outputs
local core = require 'lotto.core.nn'
local cprune = require 'lotto.core.prune'
local U = require 'lotto.util'

local M = {}

local function fail(where, msg) U.fail('lotto.prune.' .. where, msg) end

local function check_model(m, where)
  if not core.is_model(m) then fail(where, ('expected a model (got %s)'):format(type(m))) end
end

local BY = { 'l1', 'l2', 'bn' }

-- The prunable weights whose rows are channels, in order, each with the parameters after
-- it up to the next weight (its bias, the batchnorm that follows).
local function channel_layers(model)
  local rows = {}
  for _, l in ipairs(core.cost(model).layers) do rows[l.name] = l.channel_rows end
  local ps, out = model:parameters(), {}
  for i, p in ipairs(ps) do
    if p.prunable and rows[p.layer] then
      local e = { p = p, name = p.name, rows = p.shape[1], after = {} }
      for j = i + 1, #ps do
        local q = ps[j]
        if q.prunable then break end
        e.after[#e.after + 1] = q
      end
      out[#out + 1] = e
    end
  end
  return out
end

-- The batchnorm scale (gamma) right after a layer, if its length is the layer's rows.
local function bn_after(e)
  for _, q in ipairs(e.after) do
    if q.kind == 'batchnorm' and q.name:match('%.weight$') and q.shape[1] == e.rows then return q end
  end
end

-- Network slimming's global threshold (Liu et al. 2017): the rate of all live channels of the
-- chosen layers with the smallest |gamma| go, wherever they are; each layer keeps its largest.
local function prune_global(chosen, rate, where)
  local pool = {}
  for _, e in ipairs(chosen) do
    local g = bn_after(e)
    if not g then fail(where, ("by = 'bn': no batchnorm follows '%s'"):format(e.name)) end
    local best, alive = nil, {}
    for o = 1, e.rows do
      if e.p.mask:select(1, o):sum() > 0 then
        local v = math.abs(g.value:get(o))
        alive[#alive + 1] = { e = e, o = o, v = v }
        if not best or v > best.v then best = alive[#alive] end
      end
    end
    for _, c in ipairs(alive) do
      if c ~= best then pool[#pool + 1] = c end -- the layer's largest always stays
    end
    e.alive = #alive
  end
  local total = 0
  for _, e in ipairs(chosen) do total = total + e.alive end
  table.sort(pool, function(a, b)
    if a.v ~= b.v then return a.v < b.v end
    if a.e.name ~= b.e.name then return a.e.name < b.e.name end
    return a.o < b.o
  end)
  for i = 1, math.min(#pool, math.floor(rate * total + 0.5)) do pool[i].e.p.mask:select(1, pool[i].o):fill(0) end
end

--- channels(model, {rate =, by = 'l1'|'l2'|'bn', scope = 'local'|'global', layers = {names}}) -> report: masks the
-- weakest rate of each selected layer's output channels (default: every conv/linear weight
-- but the last) and zeroes what the dead channels still carry (biases, batchnorm values
-- on their way), so that shrink() computes the same outputs. by = 'bn' ranks by
-- |gamma| of that batchnorm (network slimming; train with train{bn_l1 = ...} first); with
-- scope = 'global' the rate is of all their channels together, by one |gamma| threshold.
function M.channels(model, opts)
  local where = 'channels'
  check_model(model, where)
  opts = U.check_options(opts, { rate = true, by = true, layers = true, scope = true }, 'lotto.prune.' .. where)
  local rate = opts.rate
  if type(rate) ~= 'number' or rate < 0 or rate > 1 then fail(where, 'rate must be a number in [0, 1]') end
  local by = U.one_of(opts.by or 'l1', BY, 'by', 'lotto.prune.' .. where)
  local scope = U.one_of(opts.scope or 'local', { 'local', 'global' }, 'scope', 'lotto.prune.' .. where)
  if scope == 'global' and by ~= 'bn' then
    fail(where, "scope = 'global' compares batchnorm scales across layers: it needs by = 'bn'")
  end
  local all, chosen = channel_layers(model), {}
  if opts.layers then
    local names = {}
    for _, e in ipairs(all) do names[e.name] = e end
    for _, n in ipairs(opts.layers) do
      if not names[n] then fail(where, ("layers: '%s' is not a conv or linear weight%s"):format(tostring(n), U.did_you_mean(n, names))) end
      chosen[#chosen + 1] = names[n]
    end
  else
    for i = 1, #all - 1 do chosen[i] = all[i] end
  end
  local rep = { layers = {} }
  if scope == 'global' then
    prune_global(chosen, rate, where)
  end
  for _, e in ipairs(chosen) do
    local score, norm = e.p.value, by == 'bn' and 'l1' or by
    if scope == 'global' then
      -- masked above
    elseif by == 'bn' then
      local g = bn_after(e)
      if not g then fail(where, ("by = 'bn': no batchnorm follows '%s'"):format(e.name)) end
      score = e.p.value:clone():fill(1)
      for o = 1, e.rows do score:select(1, o):fill(math.abs(g.value:get(o))) end
    end
    if scope == 'local' then cprune.structured(e.p.mask, score, rate, { dim = 1, norm = norm }) end
    local pruned = 0
    for o = 1, e.rows do
      if e.p.mask:select(1, o):sum() == 0 then pruned = pruned + 1 end
    end
    rep.layers[#rep.layers + 1] = { name = e.name, channels = e.rows, pruned = pruned }
  end
  model:apply_mask()
  core.shrink_clean(model) -- biases and batchnorm values of dead channels to 0: shrink() is exact
  return rep
end

--- shrink(model) -> smaller model, info {exact, dropped, params_before, params_after}: a new
-- dense model without the dead channels (rows with no kept weight), weights and masks copied.
-- info.exact: nothing a removed channel carried was dropped (same outputs to float rounding).
function M.shrink(model)
  check_model(model, 'shrink')
  local small, info = U.call('lotto.prune.shrink', core.shrink, model)
  info.exact = info.dropped == 0
  return small, info
end

--- cost(model) -> {macs, macs_kept, params, params_kept, bytes, bytes_sparse, layers = {...}}
-- per sample: multiply-adds of conv/linear weights dense and after masks, float32 bytes
-- dense and in the sparse export.
function M.cost(model)
  check_model(model, 'cost')
  return core.cost(model)
end

--- summary(model) -> {macs, macs_kept, macs_shrunk, speedup, bytes, bytes_sparse, bytes_shrunk}: what
-- a run records per round: per-sample multiply-adds dense, after masks and after shrink(),
-- the theoretical speed-up macs / macs_kept (ShrinkBench), and parameter bytes.
function M.summary(model)
  check_model(model, 'summary')
  local c = core.cost(model)
  local ok, small = pcall(core.shrink, model)
  local s = ok and core.cost(small) or nil
  return { macs = c.macs, macs_kept = c.macs_kept, macs_shrunk = s and s.macs, bytes = c.bytes,
    bytes_sparse = c.bytes_sparse, bytes_shrunk = s and s.bytes,
    speedup = c.macs_kept > 0 and c.macs / c.macs_kept or nil }
end

return M
