-- lotto.supermask: masks that make an UNTRAINED network accurate (Zhou et al. 2019)
-- and masks learned on frozen random weights (edge-popup, Ramanujan et al. 2020).
--
--   local sm = require 'lotto.supermask'
--   -- theta0 = model:state() before training, final = model:state() after
--   local acc = sm.evaluate(model, data, { criterion = 'large_final', theta0 = theta0, final = final,
--                                          density = 0.3 })           -- no training
--   local hist = sm.edge_popup(model, data, { density = 0.5, epochs = 2 })   -- learn the mask only
--
-- Mask criteria (score of a weight from its initial w0 and trained wf; largest kept):
--   large_final            |wf|
--   large_final_same_sign  max(0, sign(w0) wf): large final weights that kept their sign
--   magnitude_increase     |wf| - |w0|
--   random                 uniform random (the pruning stream of seed)
-- Weights under the mask (init): 'theta0' (the initial values) or 'signed_constant'
-- (sign(w0) times the layer's initial standard deviation, Zhou's "signed constant").
-- Zhou et al.'s code cuts each layer to its own density with the output layer pruned at
-- half the rate of the others (20% and 10% a round): distribution = 'output_half'
-- (lotto.pai.distributions); the default 'uniform' cuts every layer alike. Their masks
-- come from a network trained to convergence (55 epochs of Adam 1.2e-3 for LeNet-300-100);
-- large final on theta0 does best from a briefly trained one (examples/supermask.lua).
local tensor = require 'lotto.tensor'
local core = require 'lotto.core.prune'
local data_mod = require 'lotto.data'
local rng = require 'lotto.rng'
local pai = require 'lotto.pai'
local U = require 'lotto.util'

local M = {}

M.criteria = {
  large_final = function(w0, wf) return wf:abs() end,
  large_final_same_sign = function(w0, wf) return w0:sign():mul(wf):relu_() end,
  magnitude_increase = function(w0, wf) return wf:abs():sub_(w0:abs()) end,
  random = function(w0, wf, r) return tensor.rand(w0:shape(), r) end,
}
local criterion_names = { 'large_final', 'large_final_same_sign', 'magnitude_increase', 'random' }
local init_names = { 'theta0', 'signed_constant' }

local function view(flat, e) return flat:narrow(1, e.offset + 1, e.numel):reshape(e.shape) end

-- theta0 with every prunable layer replaced by sign(w0) * std(w0 of that layer).
local function signed_constant(layers, theta0)
  local out = theta0:clone()
  for _, e in ipairs(layers) do
    local w0 = view(theta0, e)
    local sd = math.sqrt(w0:dot(w0) / e.numel)
    view(out, e):copy(w0:sign():mul_(sd))
  end
  return out
end

--- start(model, theta0, init) -> values: the weights a supermask is put on.
function M.start(model, theta0, init)
  U.one_of(init, init_names, 'init', 'lotto.supermask')
  if init == 'theta0' then return theta0:clone() end
  return signed_constant(pai.layers(model), theta0)
end

local mask_defaults = { criterion = 'large_final', theta0 = false, final = false, density = 0.1,
  distribution = 'uniform', seed = 1, init = 'theta0' }

local function check_flat(model, t, key, where)
  if not tensor.is_tensor(t) then U.fail(where, ("option '%s' must be a flat snapshot (model:state())"):format(key)) end
  if t:numel() ~= model:values():numel() then
    U.fail(where, ("option '%s' has %d values, the model %d"):format(key, t:numel(), model:values():numel()))
  end
end

--- mask(model, {criterion =, theta0 =, final =, density =, distribution = 'uniform', seed =}) -> kept:
-- sets the model's masks (from dense) to the criterion's largest scores at the density.
function M.mask(model, opts)
  local where = 'lotto.supermask.mask'
  U.check_model(model, 'mask', 1)
  local o = U.merge(mask_defaults, opts, where)
  U.one_of(o.criterion, criterion_names, 'criterion', where)
  if type(o.distribution) ~= 'function' then U.one_of(o.distribution, pai.distribution_names, 'distribution', where) end
  check_flat(model, o.theta0, 'theta0', where)
  if o.criterion ~= 'random' then check_flat(model, o.final, 'final', where) end
  if type(o.density) ~= 'number' or not (o.density > 0 and o.density <= 1) then
    U.fail(where, ('density must be a number in (0, 1] (got %s)'):format(tostring(o.density)))
  end
  local layers, r = pai.layers(model), rng.new(o.seed, rng.streams.prune)
  local sc = {}
  for _, e in ipairs(layers) do
    e.p.mask:fill(1)
    sc[e.name] = M.criteria[o.criterion](view(o.theta0, e), o.final and view(o.final, e), r)
  end
  return pai.apply(layers, sc, o.density, o.distribution)
end

--- evaluate(model, data, {criterion =, theta0 =, final =, density =, init = 'theta0'|'signed_constant',
-- distribution =, seed =, batch = 1000}) -> test accuracy, test loss: the supermask on the
-- initial (or signed-constant) weights, evaluated on data.test (or data.val) without training.
-- The model is left holding that masked network.
function M.evaluate(model, data, opts)
  local where = 'lotto.supermask.evaluate'
  opts = U.check_options(opts, { criterion = true, theta0 = true, final = true, density = true, init = true,
    distribution = true, seed = true, batch = true }, where)
  local ds = type(data) == 'table' and (data.test or data.val) or data
  if not U.is_dataset(ds) then U.fail(where, 'data must be a data set or {test = ds}') end
  local mo = {}
  for k, v in pairs(opts) do if k ~= 'batch' and k ~= 'init' then mo[k] = v end end
  M.mask(model, mo)
  model:load_state(M.start(model, opts.theta0, opts.init or 'theta0'))
  model:apply_mask()
  local loss, acc = model:evaluate(ds, { batch = U.int_opt(opts, 'batch', 1000, 1, where) })
  return acc, loss
end

-- ---- edge-popup: learn scores, keep the top-k per layer, weights frozen ----

M.edge_popup_defaults = {
  density = 0.5,     -- fraction of each prunable layer kept (distribution 'uniform', as the paper's k)
  distribution = 'uniform',
  init = 'signed_constant', -- the frozen weights: 'signed_constant' (the paper's best) or 'theta0'
  epochs = 1, iterations = false, batch = 128,
  lr = 0.1, momentum = 0.9, weight_decay = 5e-4, -- SGD on the scores, cosine learning rate
  seed = 1,          -- data order and the scores' initialization
  loss = false,      -- 'xent' | 'mse' (default from the data set)
}

--- edge_popup(model, data, opts) -> {iterations, train_loss, test_acc, val_acc, scores}.
-- model:init{...} first: its values are the frozen random weights (made signed-constant
-- by default). Each step keeps the top |score| of every prunable layer, runs the net on
-- those weights and moves the scores by the straight-through gradient
-- dL/ds = dL/dw_eff * w * sign(s) (the top-k is taken over |s|, as in the paper).
-- Non-prunable parameters (biases) stay at their initial values. At the end the model
-- holds the final supermask over the frozen weights.
function M.edge_popup(model, data, opts)
  local where = 'lotto.supermask.edge_popup'
  U.check_model(model, 'edge_popup', 1)
  local o = U.merge(M.edge_popup_defaults, opts, where, 'see lotto.supermask.edge_popup_defaults')
  if type(data) ~= 'table' or not U.is_dataset(data.train) then U.fail(where, 'data must be {train = ds, test = ds}') end
  if type(o.density) ~= 'number' or not (o.density > 0 and o.density <= 1) then
    U.fail(where, ('density must be a number in (0, 1] (got %s)'):format(tostring(o.density)))
  end
  for _, k in ipairs { 'lr', 'momentum', 'weight_decay' } do
    if type(o[k]) ~= 'number' or o[k] < 0 then U.fail(where, ("option '%s' must be a number >= 0"):format(k)) end
  end
  local batch = U.int_opt(o, 'batch', 128, 1, where)
  U.check_seed(o.seed, 'edge_popup', 2)
  local loss = o.loss or ((data.train:classes() or 0) > 0 and 'xent' or 'mse')
  local loader = data_mod.loader(data.train, { batch = batch, seed = o.seed })
  local total = o.iterations and U.int_opt(o, 'iterations', 1, 1, where)
      or U.int_opt(o, 'epochs', 1, 1, where) * loader:batches_per_epoch()

  local layers = pai.layers(model)
  for _, p in ipairs(model:parameters()) do if p.mask then p.mask:fill(1) end end
  model:mask_changed()
  local w = M.start(model, model:state(), o.init)  -- frozen
  local n = w:numel()
  local r = rng.new(o.seed, rng.streams.init)
  -- every step works in these buffers: a new tensor a step would pile up gigabytes before
  -- the collector, which sees only the small userdata, frees them
  local scores, buf, on, g, sg = tensor.zeros { n }, tensor.zeros { n }, tensor.zeros { n }, tensor.zeros { n },
    tensor.zeros { n }
  local masks, keep = {}, {}
  U.one_of(o.distribution, { 'uniform', 'erk', 'uniform_first_dense' }, 'distribution', where)
  local dist = pai.distributions[o.distribution](layers, o.density)
  for i, e in ipairs(layers) do
    -- kaiming-uniform-like scores: U(-b, b), b = 1 / sqrt(fan_in)
    local fan_in = e.numel // e.shape[1]
    view(scores, e):copy(tensor.rand(e.shape, r, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in)))
    view(on, e):fill(1)
    masks[i], keep[i] = tensor.ones(e.shape), math.floor(dist[i] * e.numel + 0.5)
  end
  local values, grads = model:values(), model:grads()
  local function put_mask()
    values:copy(w)
    for i, e in ipairs(layers) do
      masks[i]:fill(1)
      core.keep_top(masks[i], view(scores, e), keep[i])
      view(values, e):mul_(masks[i])
    end
  end
  model:train()
  local sum, cnt = 0, 0
  for it = 0, total - 1 do
    local x, y = loader:next()
    if x == nil then x, y = loader:next() end
    put_mask()
    local l = model:step_loss(x, y, loss)
    sum, cnt = sum + l, cnt + 1
    local lr = o.lr * 0.5 * (1 + math.cos(math.pi * it / total))
    -- straight-through through the top-k of |s|: dL/ds = dL/dw_eff * w * sign(s)
    sg:copy(scores):sign_():mul_(on)
    g:copy(grads):mul_(w):mul_(sg)
    if o.weight_decay > 0 then g:add_(sg:copy(scores):mul_(on):mul_(o.weight_decay)) end
    buf:mul_(o.momentum):add_(g)
    scores:sub_(g:copy(buf):mul_(lr))
  end
  put_mask()
  for i, e in ipairs(layers) do e.p.mask:copy(masks[i]) end
  model:apply_mask()
  local out = { iterations = total, train_loss = cnt > 0 and sum / cnt or nil, scores = scores }
  if data.val then _, out.val_acc = model:evaluate(data.val) end
  if data.test then _, out.test_acc = model:evaluate(data.test) end
  return out
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    mask = "mask(model, {criterion = 'large_final'|'large_final_same_sign'|'magnitude_increase'|'random', theta0 =, "
      .. 'final =, density =, distribution =}) -> kept',
    evaluate = "evaluate(model, data, {criterion =, theta0 =, final =, density =, init = 'theta0'|'signed_constant'}) "
      .. '-> test accuracy, loss (no training)',
    edge_popup = 'edge_popup(model, data, {density = 0.5, epochs =, lr = 0.1, init = "signed_constant"}) -> '
      .. '{test_acc, train_loss, scores}: a supermask learned on frozen weights',
    start = "start(model, theta0, 'theta0'|'signed_constant') -> the flat weights a supermask is put on",
  })
end

return M
