-- lotto.pai: pruning at initialization (Frankle et al. 2021, "why are we missing
-- the mark?"). A method scores every prunable weight, a distribution turns the
-- target density into per-layer counts, the survivors with the largest scores stay.
--
--   local pai = require 'lotto.pai'
--   pai.prune(model, { method = 'snip', density = 0.05, data = ds })             -- global threshold
--   pai.prune(model, { method = 'synflow', density = 0.05, rounds = 100 })       -- data-free
--   pai.prune(model, { method = 'random', density = 0.05, distribution = 'erk', shuffle = true })
--
-- Scores (larger = kept; all in the flat layout of model:values()):
--   snip       |g * w|, g the loss gradient summed over `batches` batches (Lee et al. 2019)
--   grasp      w * (H g): the paper's S = -w * (H g) with its largest entries removed
--              (Wang et al. 2020). H g is a central finite difference of gradients,
--              (grad(w + e v) - grad(w - e v)) / 2e with v = g and e = grasp_eps * |w| / |g|:
--              two extra gradient passes, no double backward (the engine has none).
--              As in the paper, the logits are divided by grasp_temperature (200) for
--              cross-entropy losses.
--   synflow    |w * dR/dw| with R = sum of the output of the net with |w| on an all-ones
--              input (eval mode); `rounds` rounds at densities density^(k/rounds)
--              (Tanaka et al. 2020). No data.
--   magnitude  |w| at initialization;  random  uniform random scores (pruning stream)
--   function(model, ctx) -> {[param name] = score tensor}: a score of your own
-- Distributions (per-layer share of the kept weights):
--   global               one threshold over all selected layers (as the scores find it)
--   uniform              every layer at the target density
--   uniform_first_dense  the first prunable layer dense, the others at the target density
--                        (RigL's convention; the overall density is then above the target)
--   erk                  Erdos-Renyi-Kernel (Evci et al. 2020), lotto.core.prune.erk
--   output_half          the last layer pruned at half the rate of the others, as Frankle &
--                        Carbin (2019) and Zhou et al. (2019) prune LeNet (20% and 10% a round):
--                        output density h^(ln 0.9 / ln 0.8) for the others' h, h set so that the
--                        overall density is the target
--   function(layers, density) -> {d1, d2, ...}: layers are {name, shape, numel}
-- shuffle = true: afterwards each layer's mask is shuffled within the layer (same
-- density): the layer-wise shuffle ablation of Frankle et al. 2021.
local core = require 'lotto.core.prune'
local tensor = require 'lotto.tensor'
local data_mod = require 'lotto.data'
local nn = require 'lotto.nn'
local rng = require 'lotto.rng'
local U = require 'lotto.util'

local M = {}

local WHERE = 'lotto.pai.prune'
local function fail(msg) U.fail(WHERE, msg) end

M.defaults = {
  method = 'snip',         -- 'snip' | 'grasp' | 'synflow' | 'magnitude' | 'random' | function(model, ctx)
  density = 0.1,           -- fraction of the selected prunable weights kept, in (0, 1]
  distribution = 'global', -- 'global' | 'uniform' | 'uniform_first_dense' | 'erk' | 'output_half' | function(layers, density)
  rounds = false,          -- iterative rounds at density^(k/rounds); default: synflow 100, others 1
  data = false,            -- a data set (or {train = ds}) for snip and grasp
  batch = 100,             -- batch size of the scoring batches
  batches = 1,             -- how many batches the gradient is summed over
  loss = false,            -- 'xent' | 'mse' (default: from the data set's classes)
  grasp_eps = 1e-3,        -- finite-difference step of the HVP, relative to |w| / |g|
  grasp_temperature = 200, -- GraSP's logits are divided by this (the paper's T; cross-entropy only)
  shuffle = false,         -- layer-wise shuffle ablation
  seed = 1,                -- data order, random scores and shuffling (pruning stream)
  layers = false,          -- names of the prunable parameters to prune (default: all)
}

-- ---- the model's prunable parameters, in the flat layout ----

local function numel_of(shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return n
end

--- layers(model[, names]) -> {{name, shape, numel, offset, p}}: the prunable parameters.
function M.layers(model, names)
  local out, by = {}, {}
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local shape = p.shape or p.value:shape()
      local e = { name = p.name, shape = shape, numel = numel_of(shape), offset = math.tointeger(p.offset), p = p }
      by[p.name] = e
      if not names then out[#out + 1] = e end
    end
  end
  if names then
    if type(names) ~= 'table' then fail('layers must be a list of parameter names') end
    local known = {}
    for k in pairs(by) do known[#known + 1] = k end
    for _, n in ipairs(names) do
      if not by[n] then fail(("layers: '%s' is not a prunable parameter%s"):format(tostring(n), U.did_you_mean(n, known))) end
      out[#out + 1] = by[n]
    end
  end
  if #out == 0 then fail('the model has no prunable parameters') end
  return out
end

-- A flat tensor's view for one layer, shaped like the layer.
local function view(flat, e) return flat:narrow(1, e.offset + 1, e.numel):reshape(e.shape) end

-- ---- gradients ----

-- The summed loss gradient over ctx.batches at the model's current values: a new flat tensor.
-- ctx.temperature (cross-entropy only) divides the logits first, as GraSP does.
local function gradient(model, ctx)
  local total
  model:train()
  local T = ctx.temperature
  for _, b in ipairs(ctx.batches) do
    if T and T ~= 1 and ctx.loss == 'xent' then
      model:zero_grad()
      local _, dz = nn.cross_entropy(model:forward(b[1], true):div_(T), b[2])
      model:backward(dz:div_(T))
    else
      model:step_loss(b[1], b[2], ctx.loss)
    end
    if total then total:add_(model:grads()) else total = model:grads():clone() end
  end
  return total
end

M.gradient = gradient -- (model, {batches = {{x, y}}, loss =, temperature =}) -> flat gradient

-- H v by a central difference of gradients at values theta (restored afterwards).
local function hvp(model, ctx, theta, v, eps)
  local values = model:values()
  values:copy(theta):add_(v:mul(eps))
  local gp = gradient(model, ctx)
  values:copy(theta):sub_(v:mul(eps))
  local gm = gradient(model, ctx)
  values:copy(theta)
  return gp:sub_(gm):div_(2 * eps)
end
M.hvp = function(model, ctx, v, eps)
  local theta = model:state()
  return hvp(model, ctx, theta, v, eps)
end

-- ---- scores: each returns {[name] = tensor}, larger = kept ----

local scores = {}

function scores.magnitude(model, ctx)
  local out = {}
  for _, e in ipairs(ctx.layers) do out[e.name] = e.p.value:abs() end
  return out
end

function scores.random(model, ctx)
  local out = {}
  for _, e in ipairs(ctx.layers) do out[e.name] = tensor.rand(e.shape, ctx.rng) end
  return out
end

function scores.snip(model, ctx)
  local g, values, out = gradient(model, ctx), model:values(), {}
  for _, e in ipairs(ctx.layers) do out[e.name] = view(g, e):mul(view(values, e)):abs_() end
  return out
end

function scores.grasp(model, ctx)
  ctx = setmetatable({ temperature = ctx.grasp_temperature }, { __index = ctx })
  local theta = model:state()
  local g = gradient(model, ctx):mul_(model:masks())
  local gn, wn = math.sqrt(g:dot(g)), math.sqrt(theta:dot(theta))
  if gn == 0 then fail('grasp: the gradient is zero, every score would be 0') end
  local hg = hvp(model, ctx, theta, g, ctx.grasp_eps * wn / gn)
  local out = {}
  for _, e in ipairs(ctx.layers) do out[e.name] = view(hg, e):mul(view(theta, e)) end
  return out
end

--- synflow_scores(model) -> {[name] = |w * dR/dw|}, R: the flow of the net with |w| on an
-- all-ones input (values restored afterwards). Also returns R.
function M.synflow_scores(model, layers)
  layers = layers or M.layers(model)
  local theta = model:state()
  local values = model:values()
  values:abs_()
  model:apply_mask()
  local shape = model:input_shape()
  local x = tensor.ones { 1, table.unpack(shape) }
  model:eval()
  model:zero_grad()
  local y = model:forward(x, false)
  local R = y:sum()
  model:backward(tensor.ones(y:shape()))
  local g, out = model:grads(), {}
  for _, e in ipairs(layers) do out[e.name] = view(g, e):mul(view(values, e)):abs_() end
  model:load_state(theta)
  model:train()
  return out, R
end

function scores.synflow(model, ctx) return (M.synflow_scores(model, ctx.layers)) end

M.scores = scores
M.methods = { snip = { data = true }, grasp = { data = true }, synflow = { rounds = 100 }, magnitude = {}, random = {} }
local method_names = { 'snip', 'grasp', 'synflow', 'magnitude', 'random' }

-- ---- distributions: per-layer densities, or 'global' ----

local distributions = {}
function distributions.uniform(layers, d)
  local out = {}
  for i in ipairs(layers) do out[i] = d end
  return out
end
function distributions.uniform_first_dense(layers, d)
  local out = distributions.uniform(layers, d)
  out[1] = 1
  return out
end
function distributions.erk(layers, d)
  local shapes = {}
  for i, e in ipairs(layers) do shapes[i] = e.shape end
  return core.erk(shapes, d)
end
-- Rounds of 20% on the hidden layers and 10% on the output give the output h^(ln 0.9 / ln 0.8)
-- when the others keep h; h is found by bisection so that the kept count is d of the total.
function distributions.output_half(layers, d)
  local n = #layers
  if n == 1 then return { d } end
  local e, total, last = math.log(0.9) / math.log(0.8), 0, layers[n].numel
  for _, l in ipairs(layers) do total = total + l.numel end
  local function kept(h) return (total - last) * h + last * h ^ e end
  local lo, hi = 0.0, 1.0
  for _ = 1, 60 do
    local mid = 0.5 * (lo + hi)
    if kept(mid) < d * total then lo = mid else hi = mid end
  end
  local out = distributions.uniform(layers, hi)
  out[n] = hi ^ e
  return out
end
M.distributions = distributions
local dist_names = { 'global', 'uniform', 'uniform_first_dense', 'erk', 'output_half' }
M.distribution_names = dist_names

--- apply(layers, score_table, density, distribution) -> kept: masks of the layers cut so that
-- they keep `density` of their weights as the distribution shares it, largest scores first.
-- Scores are read as given (raw). The caller applies the masks to the model.
function M.apply(layers, sc, density, dist)
  local total = 0
  for _, e in ipairs(layers) do
    total = total + e.numel
    if not tensor.is_tensor(sc[e.name]) then fail(("the scores have no tensor for '%s'"):format(e.name)) end
  end
  if dist == 'global' then
    local masks, ss, surv = {}, {}, 0
    for i, e in ipairs(layers) do
      masks[i], ss[i] = e.p.mask, sc[e.name]
      surv = surv + core.count(e.p.mask)
    end
    local keep = math.floor(density * total + 0.5)
    if surv > keep then U.call(WHERE, core.global, masks, ss, (surv - keep) / surv, true) end
  else
    local f = type(dist) == 'function' and dist or distributions[dist]
    local ds = f(layers, density)
    if type(ds) ~= 'table' or #ds ~= #layers then fail('the distribution must return one density per layer') end
    for i, e in ipairs(layers) do
      local d = ds[i]
      if type(d) ~= 'number' or not (d >= 0 and d <= 1) then
        fail(('the distribution gave %s a density of %s, not a number in [0, 1]'):format(e.name, tostring(d)))
      end
      U.call(WHERE, core.keep_top, e.p.mask, sc[e.name], math.floor(d * e.numel + 0.5), true)
    end
  end
  local kept = 0
  for _, e in ipairs(layers) do kept = kept + core.count(e.p.mask) end
  return kept
end

-- Batches for data-dependent scores: the first `batches` batches of a seeded loader.
local function take_batches(o)
  local ds = o.data
  if type(ds) == 'table' and ds.train then ds = ds.train end
  if not U.is_dataset(ds) then fail("method '" .. tostring(o.method) .. "' needs data = <data set> (or {train = ds})") end
  local loader = data_mod.loader(ds, { batch = o.batch, seed = o.seed, shuffle = true })
  local out = {}
  for i = 1, o.batches do
    local x, y = loader:next()
    if x == nil then break end
    out[i] = { x:clone(), y:clone() } -- the loader reuses its batch tensors
  end
  local loss = o.loss or ((ds:classes() or 0) > 0 and 'xent' or 'mse')
  return out, loss
end

--- prune(model, opts) -> report {method, distribution, density, rounds, shuffled, count,
-- total, layers = {{name, density, count, total}}}. See M.defaults for the options.
function M.prune(model, opts)
  U.check_model(model, 'prune', 1)
  local o = U.merge(M.defaults, opts, WHERE, 'see lotto.pai.defaults')
  local method = o.method
  local score_fn
  if type(method) == 'function' then
    score_fn = method
  else
    U.one_of(method, method_names, 'method', WHERE)
    score_fn = scores[method]
  end
  if type(o.distribution) ~= 'function' then U.one_of(o.distribution, dist_names, 'distribution', WHERE) end
  if type(o.density) ~= 'number' or not (o.density > 0 and o.density <= 1) then
    fail(('density must be a number in (0, 1] (got %s)'):format(tostring(o.density)))
  end
  local spec = type(method) == 'string' and M.methods[method] or {}
  if o.rounds == false then o.rounds = nil end
  local rounds = U.int_opt(o, 'rounds', spec.rounds or 1, 1, WHERE)
  o.batch = U.int_opt(o, 'batch', 100, 1, WHERE)
  o.batches = U.int_opt(o, 'batches', 1, 1, WHERE)
  U.check_seed(o.seed, 'prune', 2)
  if type(o.grasp_eps) ~= 'number' or not (o.grasp_eps > 0) then fail('grasp_eps must be a number > 0') end
  if type(o.grasp_temperature) ~= 'number' or not (o.grasp_temperature > 0) then
    fail('grasp_temperature must be a number > 0')
  end
  local layers = M.layers(model, o.layers or nil)
  local ctx = { layers = layers, rng = rng.new(o.seed, rng.streams.prune), grasp_eps = o.grasp_eps,
    grasp_temperature = o.grasp_temperature }
  if spec.data or (type(method) == 'function' and o.data) then ctx.batches, ctx.loss = take_batches(o) end
  local total = 0
  for _, e in ipairs(layers) do total = total + e.numel end
  -- scoring passes run in training mode; batchnorm statistics are put back afterwards
  local stats = {}
  for i, b in ipairs(model:buffers()) do stats[i] = b.value:clone() end
  for k = 1, rounds do
    local d = o.density ^ (k / rounds)
    model:apply_mask()
    local sc = score_fn(model, ctx)
    if type(sc) ~= 'table' then fail('a score function must return a table {[param name] = score tensor}') end
    M.apply(layers, sc, d, o.distribution)
    model:apply_mask()
  end
  for i, b in ipairs(model:buffers()) do b.value:copy(stats[i]) end
  if o.shuffle then
    for _, e in ipairs(layers) do core.permute(e.p.mask, ctx.rng) end
    model:apply_mask()
  end
  local rep = { method = type(method) == 'string' and method or 'custom', density = o.density, rounds = rounds,
    distribution = type(o.distribution) == 'string' and o.distribution or 'custom', shuffled = o.shuffle and true or false,
    layers = {}, total = total, count = 0 }
  for _, e in ipairs(layers) do
    local c = core.count(e.p.mask)
    rep.count = rep.count + c
    rep.layers[#rep.layers + 1] = { name = e.name, count = c, total = e.numel, density = c / e.numel }
  end
  rep.overall = rep.count / total
  return rep
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    prune = "prune(model, {method = 'snip'|'grasp'|'synflow'|'magnitude'|'random'|f, density =, distribution = "
      .. "'global'|'uniform'|'uniform_first_dense'|'erk'|'output_half'|f, data =, rounds =, shuffle =, seed =}) -> report",
    apply = 'apply(layers, scores, density, distribution) -> kept: cut the masks by scores (largest kept)',
    layers = 'layers(model[, names]) -> {{name, shape, numel, offset, p}}: the prunable parameters',
    synflow_scores = 'synflow_scores(model) -> scores, R: |w * dR/dw| with |w| and an all-ones input',
    gradient = 'gradient(model, {batches = {{x, y}}, loss =, temperature =}) -> the summed flat loss gradient',
    hvp = 'hvp(model, {batches = {{x, y}}, loss =}, v, eps) -> H v by a central difference of gradients',
  })
end

return M
