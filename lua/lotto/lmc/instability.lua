-- lotto.lmc.instability: linear mode connectivity of two copies of a network
-- (Frankle et al., ICML 2020). interpolate evaluates the straight line between two
-- states, barrier reads its height, instability trains the two copies from one state
-- with different data orders and measures the line between them.
local nn = require 'lotto.nn'
local optim = require 'lotto.optim'
local train = require 'lotto.train'
local U = require 'lotto.util'

local M = {}

local function fail(where, msg) U.fail('lotto.lmc.' .. where, msg) end

local function check_keys(where, opts, allowed) return U.check_options(opts, allowed, 'lotto.lmc.' .. where) end

local is_model, is_tensor, is_dataset = U.is_model, U.is_tensor, U.is_dataset

local function int_opt(where, v, key, default, min) return U.int_opt({ [key] = v }, key, default, min, 'lotto.lmc.' .. where) end

local function check_state(where, model, t, what)
  if not is_tensor(t) then fail(where, ('%s must be a flat state tensor (model:state()), got %s'):format(what, type(t))) end
  local n = model:values():numel()
  if t:numel() ~= n then
    fail(where, ('%s has %d values but the model has %d'):format(what, t:numel(), n))
  end
end

-- ---- interpolation ----------------------------------------------------------------------

local function eval_set(where, data, split)
  if is_dataset(data) then return data end
  if type(data) ~= 'table' then fail(where, 'data must be a data set or a table {train =, val =, test =}') end
  local ds = data[split]
  if not is_dataset(ds) then fail(where, ("data has no '%s' split to evaluate on"):format(tostring(split))) end
  return ds
end

local function snapshot_buffers(model)
  local out = {}
  for i, b in ipairs(model:buffers()) do out[i] = b.value:clone() end
  return out
end

local function restore_buffers(model, saved)
  for i, b in ipairs(model:buffers()) do b.value:copy(saved[i]) end
end

local interp_keys = { points = true, split = true, batch = true, bn_reset = true, bn_batches = true,
                      bn_batch = true, train_data = true, alphas = true }

--- lmc.interpolate(model, stateA, stateB, data, {points = 30, split = 'test', batch = 1000,
--   bn_reset = true, bn_batches = 10, bn_batch = 100, train_data = ds})
-- -> {alpha = {...}, error = {...}, loss = {...}}: error (1 - accuracy) and loss of
-- (1 - α) θA + α θB at `points` evenly spaced α in [0, 1], in eval mode, with the
-- model's current masks applied after interpolating. α = 0 and α = 1 load the two
-- states themselves, so the endpoints reproduce model:evaluate of each state exactly.
-- Batchnorm models: the running statistics stored in a model belong to the weights
-- that produced them; an interpolated network has other activations, so stale
-- statistics would inflate its error without any real barrier in the loss landscape.
-- With bn_reset (default) every point, endpoints included, gets statistics recomputed
-- on bn_batches training batches (lotto.nn.reset_bn_stats) from train_data or data.train.
-- The model's values, running statistics and mode are restored afterwards.
function M.interpolate(model, A, B, data, opts)
  local where = 'interpolate'
  if not is_model(model) then fail(where, 'expected a model as argument #1') end
  check_state(where, model, A, 'stateA')
  check_state(where, model, B, 'stateB')
  opts = check_keys(where, opts, interp_keys)
  local split = opts.split or 'test'
  local ds = eval_set(where, data, split)
  local points = int_opt(where, opts.points, 'points', 30, 2)
  local batch = int_opt(where, opts.batch, 'batch', 1000, 1)
  local alphas = opts.alphas
  if alphas ~= nil then
    if type(alphas) ~= 'table' or #alphas < 1 then fail(where, 'alphas must be a list of numbers') end
    for _, a in ipairs(alphas) do
      if type(a) ~= 'number' or a ~= a then fail(where, 'alphas must be a list of numbers') end
    end
  else
    alphas = {}
    for i = 0, points - 1 do alphas[i + 1] = i / (points - 1) end
    alphas[points] = 1.0
  end
  local bn = (opts.bn_reset ~= false) and #nn.bn_buffers(model) > 0
  local tds
  if bn then
    tds = opts.train_data or (type(data) == 'table' and data.train)
    if not is_dataset(tds) then
      fail(where, 'a batchnorm model needs training data to recompute its statistics (train_data = ds or data.train), or bn_reset = false')
    end
  end
  local bn_opts = { batches = int_opt(where, opts.bn_batches, 'bn_batches', 10, 1),
                    batch = int_opt(where, opts.bn_batch, 'bn_batch', 100, 1), seed = 1 }

  local saved, saved_bufs, was_training = model:state(), snapshot_buffers(model), model:is_training()
  local out = { alpha = {}, error = {}, loss = {} }
  local ok, err = pcall(function()
    for i, a in ipairs(alphas) do
      if a == 0 then
        model:load_state(A)
      elseif a == 1 then
        model:load_state(B)
      else
        model:load_state(A:mul(1 - a):add_(B:mul(a)))
      end
      model:apply_mask()
      if bn then nn.reset_bn_stats(model, tds, bn_opts) end
      local loss, acc = model:evaluate(ds, { batch = batch })
      out.alpha[i], out.loss[i] = a, loss
      out.error[i] = acc == acc and 1 - acc or 0 / 0 -- NaN for regression: use the loss
    end
  end)
  model:load_state(saved)
  restore_buffers(model, saved_bufs)
  if was_training then model:train() else model:eval() end
  if not ok then error(err, 0) end
  return out
end

--- lmc.barrier(curve[, key = 'error']) -> max along the path - mean of the endpoints.
function M.barrier(curve, key)
  key = key or 'error'
  local ys = curve[key]
  if type(ys) ~= 'table' or #ys < 2 then fail('barrier', 'curve needs at least two points of ' .. tostring(key)) end
  local mx = -math.huge
  for _, y in ipairs(ys) do if y > mx then mx = y end end
  return mx - (ys[1] + ys[#ys]) / 2
end

-- ---- instability ------------------------------------------------------------------------

local inst_keys = { model = true, state = true, mask = true, data = true, train = true, seeds = true, points = true,
                    start = true, split = true, batch = true, bn_reset = true, bn_batches = true, bn_batch = true,
                    restore = true }

-- The fit options of one copy: a fresh optimizer, the data-order seed, the
-- remaining length of the schedule (T - start) and the schedule shifted by start.
-- (Also lotto.lmc.analyze's, for the trajectory θ0 -> θk.)
function M.fit_options(where, model, t, seed, start, ds)
  local o = {}
  for k, v in pairs(t) do o[k] = v end
  local spec = t.optimizer
  if spec == nil then fail(where, "train.optimizer is required (a spec {kind = 'adam', lr = ...} or function(model))") end
  if type(spec) == 'function' then o.optimizer = spec(model)
  elseif type(spec) == 'table' and getmetatable(spec) == nil then o.optimizer = optim.make(model, spec)
  else fail(where, 'train.optimizer must be a spec table or function(model): each copy needs a fresh optimizer') end
  o.seed = seed
  local batch = t.batch or 60
  local total = t.iterations
  if total == nil then
    local epochs = t.epochs or 1
    total = epochs * math.ceil(ds:size() / batch)
  end
  total = math.tointeger(total)
  if not total then fail(where, 'train.iterations must be an integer') end
  o.epochs, o.iterations = nil, math.max(1, total - start)
  local s = t.schedule
  if type(s) == 'table' and getmetatable(s) == nil then s = optim.schedule(s) end -- schedule options
  o.schedule = s
  if s ~= nil and start > 0 then
    local f = type(s) == 'function' and s or function(it) return s:lr(it) end
    o.schedule = function(it) return f(it + start) end
  end
  if o.progress == nil then o.progress = false end
  return o
end

--- lmc.instability{model =, state = θk, mask = nil | flat mask, data = {train, val, test},
--   train = {optimizer = spec | function(model), batch =, iterations = T | epochs =, schedule =, ...},
--   seeds = {1, 2}, start = k, points = 30, split = 'test', bn_reset = true}
-- -> {instability =, errors = {eA, eB}, curve =, states = {A, B}, histories = {hA, hB}, loss_barrier =}.
-- Both copies start from `state` (the mask applied), differ only in the data-order seed,
-- and train T - start iterations (train.iterations is the whole schedule's length, as in
-- the paper: a copy rewound to k finishes where the original run would). A schedule is
-- shifted by start (train.schedule: a lotto.optim.schedule, its options, or a function);
-- each copy's data order is its seed's from the first epoch. The model's values, masks
-- and statistics are restored afterwards (restore = false leaves the masks of `mask`).
function M.instability(opts)
  local where = 'instability'
  opts = check_keys(where, opts, inst_keys)
  local model = opts.model
  if not is_model(model) then fail(where, 'option model (a lotto.nn model) is required') end
  check_state(where, model, opts.state, 'state')
  if opts.mask ~= nil then
    if not is_tensor(opts.mask) or opts.mask:numel() ~= model:masks():numel() then
      fail(where, ('mask must be a flat mask tensor of %d entries (model:masks() layout)'):format(model:masks():numel()))
    end
  end
  local data = opts.data
  if type(data) ~= 'table' or not is_dataset(data.train) then fail(where, 'data must be a table {train = ds, val =, test =}') end
  local t = opts.train
  if type(t) ~= 'table' then fail(where, 'option train (fit options: optimizer, batch, iterations, ...) is required') end
  local seeds = opts.seeds or { 1, 2 }
  if type(seeds) ~= 'table' or math.type(seeds[1]) ~= 'integer' or math.type(seeds[2]) ~= 'integer' then
    fail(where, 'seeds must be two integer data-order seeds, e.g. {1, 2}')
  end
  local start = int_opt(where, opts.start, 'start', 0, 0)
  local split = opts.split or 'test'
  eval_set(where, data, split)

  local saved, saved_mask, saved_bufs = model:state(), model:masks():clone(), snapshot_buffers(model)
  local res = { states = {}, histories = {}, seeds = { seeds[1], seeds[2] }, start = start }
  local ok, err = pcall(function()
    for i = 1, 2 do
      if opts.mask then model:masks():copy(opts.mask) end
      model:load_state(opts.state)
      model:apply_mask()
      restore_buffers(model, saved_bufs)
      local h = train.fit(model, data, M.fit_options(where, model, t, seeds[i], start, data.train))
      res.states[i], res.histories[i] = model:state(), h
    end
    res.curve = M.interpolate(model, res.states[1], res.states[2], data, {
      points = opts.points, split = split, batch = opts.batch, bn_reset = opts.bn_reset,
      bn_batches = opts.bn_batches, bn_batch = opts.bn_batch })
  end)
  if opts.restore ~= false or not ok then
    model:masks():copy(saved_mask)
    model:load_state(saved)
    model:apply_mask()
    restore_buffers(model, saved_bufs)
  end
  if not ok then error(err, 0) end
  local c = res.curve
  local key = (c.error[1] == c.error[1]) and 'error' or 'loss'
  res.metric = key
  res.errors = { c[key][1], c[key][#c[key]] }
  res.instability = M.barrier(c, key)
  res.loss_barrier = M.barrier(c, 'loss')
  res.iterations = res.histories[1].iterations
  return res
end

return M
