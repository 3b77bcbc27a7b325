-- lotto.lmc: linear mode connectivity and instability (Frankle et al., ICML 2020).
-- Two copies of a network start from one state θk and train with different data
-- orders; the error along the straight line between the two results shows whether
-- SGD noise lands them in one linearly connected minimum (instability < 2%).
--
--   local lmc = lotto.lmc
--   local r = lmc.instability{ model = m, state = theta0, data = mnist,
--     train = { optimizer = { kind = 'adam', lr = 1.2e-3 }, batch = 60, iterations = 3000 } }
--   print(r.instability, r.errors[1], r.errors[2])
--
-- lmc.analyze{...} runs the grid (rewind points k x dense net and IMP subnetworks)
-- into the run store and plots it.
local json = require 'lotto.json'
local train = require 'lotto.train'
local fs = json.fs

local M = {}

local function fail(where, msg, level) error(('lotto.lmc.%s: %s'):format(where, msg), (level or 2) + 1) end

local function check_keys(where, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= 'table' then fail(where, 'options must be a table', 2) end
  for k in pairs(opts) do
    if not allowed[k] then fail(where, ("unknown option '%s'"):format(tostring(k)), 2) end
  end
  return opts
end

local function is_model(m) return lotto.nn.is_model(m) end
local function is_tensor(t) return lotto.tensor.is_tensor(t) end
local function is_dataset(d) return type(d) == 'userdata' and not is_tensor(d) and pcall(function() return d:size() end) end

local function int_opt(where, v, key, default, min)
  if v == nil then return default end
  if math.type(v) ~= 'integer' and not (type(v) == 'number' and v == math.floor(v)) then
    fail(where, ("option '%s' must be an integer (got %s)"):format(key, tostring(v)), 2)
  end
  v = math.tointeger(v)
  if v < min then fail(where, ("option '%s' must be >= %d (got %d)"):format(key, min, v), 2) end
  return v
end

local function check_state(where, model, t, what)
  if not is_tensor(t) then fail(where, ('%s must be a flat state tensor (model:state()), got %s'):format(what, type(t)), 2) end
  local n = model:values():numel()
  if t:numel() ~= n then
    fail(where, ('%s has %d values but the model has %d'):format(what, t:numel(), n), 2)
  end
end

-- ---- batchnorm statistics ---------------------------------------------------------------

-- The batchnorm running statistics of a model as pairs {mean =, var =} (buffer tensors).
local function bn_buffers(model)
  local pairs_, by = {}, {}
  for _, b in ipairs(model:buffers()) do
    local layer, what = b.name:match('^(.*)%.running_(%a+)$')
    if layer then
      if not by[layer] then by[layer] = { name = layer }; pairs_[#pairs_ + 1] = by[layer] end
      by[layer][what] = b.value
    end
  end
  local out = {}
  for _, p in ipairs(pairs_) do if p.mean and p.var then out[#out + 1] = p end end
  return out
end
M.bn_buffers = bn_buffers

--- lmc.reset_bn(model, ds, {batches = 10, batch = 100, seed = 1}) -> number of batches used.
-- Recomputes the batchnorm running statistics of the model's current weights as the
-- plain average of the batch statistics of `batches` training batches (PyTorch's
-- momentum = None), by forward passes in training mode without gradient steps.
-- The engine keeps an exponential average with a fixed momentum; it is measured
-- here (one extra forward pass) rather than assumed, then undone batch by batch:
-- with the buffers zeroed before a pass, the pass leaves momentum * (batch statistic).
-- Dropout layers draw masks during these passes, as they would in training.
function M.reset_bn(model, ds, opts)
  local where = 'reset_bn'
  if not is_model(model) then fail(where, 'expected a model') end
  if not is_dataset(ds) then fail(where, 'expected a training data set (lotto.data)') end
  opts = check_keys(where, opts, { batches = true, batch = true, seed = true })
  local nb = int_opt(where, opts.batches, 'batches', 10, 1)
  local batch = int_opt(where, opts.batch, 'batch', 100, 1)
  local bufs = bn_buffers(model)
  if #bufs == 0 then return 0 end
  local was_training = model:is_training()
  local loader = lotto.data.loader(ds, { batch = math.min(batch, ds:size()), seed = opts.seed or 1 })
  local acc = {}
  for i, b in ipairs(bufs) do acc[i] = { mean = b.mean:clone():fill(0), var = b.var:clone():fill(0) } end
  -- Measure the momentum: buffer 1 before the pass gives (1 - m) + m * mean, buffer 0 gives m * mean.
  local xb = loader:next()
  for _, b in ipairs(bufs) do b.mean:fill(1) end
  model:forward(xb, true)
  local ones = bufs[1].mean:clone()
  local used = 0
  local momentum
  while used < nb do
    if used > 0 then
      xb = loader:next()
      if xb == nil then break end -- fewer batches than asked in one epoch: use what there is
    end
    for _, b in ipairs(bufs) do b.mean:fill(0); b.var:fill(0) end
    model:forward(xb, true)
    if not momentum then
      momentum = 1 - (ones:sub(bufs[1].mean)):mean()
      if not (momentum > 1e-6 and momentum <= 1) then
        error(('lotto.lmc.reset_bn: could not measure the batchnorm momentum (got %s)'):format(tostring(momentum)), 2)
      end
    end
    for i, b in ipairs(bufs) do acc[i].mean:add_(b.mean); acc[i].var:add_(b.var) end
    used = used + 1
  end
  local scale = 1 / (momentum * used)
  for i, b in ipairs(bufs) do
    b.mean:copy(acc[i].mean:mul(scale))
    b.var:copy(acc[i].var:mul(scale))
  end
  if was_training then model:train() else model:eval() end
  return used
end

-- ---- interpolation ----------------------------------------------------------------------

local function eval_set(where, data, split)
  if is_dataset(data) then return data end
  if type(data) ~= 'table' then fail(where, 'data must be a data set or a table {train =, val =, test =}', 3) end
  local ds = data[split]
  if not is_dataset(ds) then fail(where, ("data has no '%s' split to evaluate on"):format(tostring(split)), 3) end
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
-- on bn_batches training batches (lmc.reset_bn) from train_data or data.train.
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
  local bn = (opts.bn_reset ~= false) and #bn_buffers(model) > 0
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
      if bn then M.reset_bn(model, tds, bn_opts) end
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
  if type(ys) ~= 'table' or #ys < 2 then error('lotto.lmc.barrier: curve needs at least two points of ' .. key, 2) end
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
local function copy_fit(where, model, t, seed, start, ds)
  local o = {}
  for k, v in pairs(t) do o[k] = v end
  local spec = t.optimizer
  if spec == nil then fail(where, "train.optimizer is required (a spec {kind = 'adam', lr = ...} or function(model))", 3) end
  if type(spec) == 'function' then o.optimizer = spec(model)
  elseif type(spec) == 'table' and getmetatable(spec) == nil then o.optimizer = lotto.optim.make(model, spec)
  else fail(where, 'train.optimizer must be a spec table or function(model): each copy needs a fresh optimizer', 3) end
  o.seed = seed
  local batch = t.batch or 60
  local total = t.iterations
  if total == nil then
    local epochs = t.epochs or 1
    total = epochs * math.ceil(ds:size() / batch)
  end
  total = math.tointeger(total)
  if not total then fail(where, 'train.iterations must be an integer', 3) end
  o.epochs, o.iterations = nil, math.max(1, total - start)
  local s = t.schedule
  if type(s) == 'table' and getmetatable(s) == nil then s = lotto.optim.schedule(s) end -- schedule options
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
      local h = train.fit(model, data, copy_fit(where, model, t, seeds[i], start, data.train))
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

-- ---- the analysis: rewind points x subnetworks -------------------------------------------

M.defaults = {
  name = 'instability',      -- results go to <root>/<name>/instability, plots to <root>/<name>/plots
  root = 'runs',
  model = 'lenet300',        -- a lotto.models name or function(cfg) -> model
  model_opts = {},
  data = 'mnist',            -- a lotto.data loader name, a {train, val, test} table, or function(cfg)
  data_opts = { val = 5000 },
  init = 'glorot_normal',
  seed = 1,                  -- init seed and data order of the trajectory θ0 -> θk
  train = { optimizer = { kind = 'adam', lr = 1.2e-3 }, batch = 60, iterations = 1000 },
  rewind = { 0, 100, 500 },  -- the rewind points k
  dense = true,              -- analyse the dense network
  imp = false,               -- IMP subnetworks: {run = dir, seed = 1, rounds = {3, 7}} (stored run) or
                             -- {rounds = {3, 7}, prune =, rewind = 0, per_rewind = false, ...} (lotto.ticket.imp)
  seeds = { 1, 2 },          -- data-order seeds of the two copies
  points = 30,
  split = 'test',
  bn_reset = true,
  restart = false,
  plots = true,
  progress = false,
  verbose = true,
  _volatile = { 'restart', 'plots', 'progress', 'verbose' },
}


local function say(cfg, fmt, ...)
  if cfg.verbose then io.stdout:write(fmt:format(...), '\n'); io.stdout:flush() end
end

local function slug(s) return (s:gsub('%%', 'pct'):gsub('[^%w%.]+', '_'):gsub('^_+', ''):gsub('_+$', '')) end

local function build(cfg)
  local model
  if type(cfg.model) == 'function' then model = cfg.model(cfg)
  else
    local ctor = lotto.models[cfg.model]
    if not ctor then fail('analyze', ("unknown model '%s'"):format(tostring(cfg.model)), 2) end
    model = ctor(cfg.model_opts)
  end
  local data = cfg.data
  if type(data) == 'function' then data = data(cfg)
  elseif type(data) == 'string' then
    local loader = lotto.data[data]
    if type(loader) ~= 'function' then fail('analyze', ("unknown data set '%s'"):format(data), 2) end
    data = loader(cfg.data_opts)
  end
  if type(data) ~= 'table' or not is_dataset(data.train) then fail('analyze', 'data must give {train =, val =, test =}', 2) end
  return model, data
end

-- θk for every rewind point: one run of the dense network from θ0 (init seed cfg.seed,
-- data order cfg.seed), snapshotted at each k; stored so a resumed analysis reuses it.
local function trajectory(cfg, model, data, dir)
  local io_ = require 'lotto.io'
  local path = dir .. '/trajectory.safetensors'
  local t = fs.exists(path) and io_.load(path)
  local out = {}
  local kmax = 0
  for _, k in ipairs(cfg.rewind) do kmax = math.max(kmax, k) end
  if t then
    local all = true
    for _, k in ipairs(cfg.rewind) do out[k] = t['theta_' .. k]; all = all and out[k] ~= nil end
    if all then return out end
  end
  model:init { seed = cfg.seed, weight = cfg.init }
  out[0] = model:state()
  if kmax > 0 then
    local o = copy_fit('analyze', model, cfg.train, cfg.seed, 0, data.train)
    o.iterations, o.snapshots, o.eval_every, o.on_eval = kmax, cfg.rewind, kmax, nil
    o.progress = cfg.progress or false
    local h = train.fit(model, data, o)
    for _, k in ipairs(cfg.rewind) do if k > 0 then out[k] = h.snapshots[k] end end
  end
  local tensors = {}
  for _, k in ipairs(cfg.rewind) do tensors['theta_' .. k] = out[k] end
  assert(io_.save(path, tensors))
  return out
end

-- The subnetworks: {name, density, mask = nil | flat mask | {[k] = mask}}.
local function subnetworks(cfg, model, data)
  local list = {}
  if cfg.dense then list[#list + 1] = { name = 'dense', density = 1.0 } end
  local imp = cfg.imp
  if not imp then return list end
  if type(imp) ~= 'table' or type(imp.rounds) ~= 'table' or #imp.rounds == 0 then
    fail('analyze', 'imp must be {rounds = {...}, run = dir (stored) | ticket options (on the fly)}', 3)
  end
  local ticket = require 'lotto.ticket'
  -- The flat mask of a stored ticket: tk.mask, or rebuilt from its named masks by the
  -- model's parameter names (parameters without a stored mask are kept).
  local function flat_mask(tk, where)
    if tk.mask then return tk.mask end
    local named = tk.named and tk.named.mask
    if type(named) ~= 'table' then fail('analyze', where .. ': the ticket has no mask', 4) end
    local flat = model:masks():clone():fill(1)
    for _, p in ipairs(model:parameters()) do
      local t = named[p.name]
      if t then
        if t:numel() ~= p.numel then
          fail('analyze', ("%s: mask '%s' has %d values, the model %d"):format(where, p.name, t:numel(), p.numel), 4)
        end
        flat:narrow(1, p.offset + 1, p.numel):copy(t:contiguous():reshape { p.numel })
      end
    end
    return flat
  end
  local function rounds_of(dir, seed, per)
    for _, r in ipairs(imp.rounds) do
      local tk, err = ticket.load(dir, seed, r)
      if not tk then fail('analyze', ('IMP round %s of %s: %s'):format(tostring(r), dir, tostring(err)), 4) end
      local name = ('IMP round %d'):format(r)
      local e = list[name] or { name = name, round = r, density = tk.summary and tk.summary.density }
      if not list[name] then list[name] = e; list[#list + 1] = e end
      local mask = flat_mask(tk, ('IMP round %d of %s'):format(r, dir))
      if per then e.masks = e.masks or {}; e.masks[per] = mask else e.mask = mask end
      if not e.density then
        model:masks():copy(mask)
        e.density = model:density()
      end
    end
  end
  if imp.run then
    rounds_of(imp.run, imp.seed or cfg.seed)
  else
    local o = { model = cfg.model, model_opts = cfg.model_opts, data = data, data_opts = cfg.data_opts,
                init = cfg.init, optimizer = cfg.train.optimizer, batch = cfg.train.batch,
                iterations = cfg.train.iterations, epochs = cfg.train.epochs, seeds = { cfg.seed },
                controls = {}, plots = false, progress = cfg.progress, verbose = cfg.verbose, root = cfg.root,
                restart = cfg.restart }
    if cfg.train.schedule ~= nil then o.schedule = cfg.train.schedule end
    local rmax = 0
    for _, r in ipairs(imp.rounds) do rmax = math.max(rmax, r) end
    o.rounds = rmax
    for k, v in pairs(imp) do
      if k ~= 'rounds' and k ~= 'per_rewind' and k ~= 'run' and k ~= 'seed' then o[k] = v end
    end
    local per = imp.per_rewind and cfg.rewind or { imp.rewind or 0 }
    for _, k in ipairs(per) do
      o.rewind = k
      o.name = cfg.name .. '/imp_rewind' .. k
      local _, run = ticket.imp(o)
      rounds_of(run.dir, cfg.seed, imp.per_rewind and k or nil)
    end
  end
  for _, e in ipairs(list) do
    if e.round then e.name = ('IMP %.1f%%'):format(100 * e.density) end
  end
  return list
end

local function plot_all(cfg, dir, pdir, cells, subs)
  local plot = require 'lotto.plot'
  local files, errs = {}, {}
  local function add(p, e) if p then files[#files + 1] = p elseif e then errs[#errs + 1] = e end end
  for _, s in ipairs(subs) do
    local series = {}
    for _, k in ipairs(cfg.rewind) do
      local c = cells[s.name .. '@' .. k]
      if c then
        local y = {}
        for i, e in ipairs(c.curve[c.metric]) do y[i] = c.metric == 'error' and 100 * e or e end
        series[#series + 1] = { name = ('k = %d (instability %.2f%%)'):format(k, 100 * c.instability), x = c.curve.alpha, y = y }
      end
    end
    add(plot.lines { out = pdir .. '/interpolation_' .. slug(s.name), series = series, key = 'top right',
      title = ('%s: %s along the path between two copies trained from θk'):format(cfg.name, s.name),
      xlabel = 'interpolation α  (0 = copy A, 1 = copy B)', ylabel = 'test error (%)' })
  end
  local series = {}
  for _, s in ipairs(subs) do
    local x, y = {}, {}
    for _, k in ipairs(cfg.rewind) do
      local c = cells[s.name .. '@' .. k]
      if c then x[#x + 1], y[#y + 1] = k, 100 * c.instability end
    end
    series[#series + 1] = { name = s.name, x = x, y = y }
  end
  add(plot.lines { out = pdir .. '/instability', series = series, key = 'center right',
    title = cfg.name .. ': instability (max error on the path - mean of the endpoints)', xlabel = 'rewind iteration k',
    ylabel = 'instability (%)',
    hline = { y = 2, name = 'stable below 2%' } })
  return files, errs
end

--- lmc.analyze{...} (options and defaults: lotto.lmc.defaults) -> results, dir.
-- For each subnetwork (the dense net and the IMP masks of imp.rounds) and each rewind
-- point k: the instability of two copies trained from θk ⊙ mask. θk comes from one
-- dense run (init and data order cfg.seed). IMP masks come from a stored run
-- (imp.run) or from lotto.ticket.imp run on the fly into <name>/imp_rewind<r>, one IMP
-- run rewound to imp.rewind (default 0) whose masks serve every k, or, with
-- per_rewind = true, one IMP run per k, as in the paper. Every cell is written to
-- <root>/<name>/instability/<subnetwork>_k<k>.json as it completes (a killed analysis
-- resumes), then results.json, and the plots interpolation_<subnetwork>.png and
-- instability.png go to <root>/<name>/plots/.
function M.analyze(opts)
  if type(opts) ~= 'table' then fail('analyze', 'expected an options table (see lotto.lmc.defaults)') end
  local cfg = {}
  for k, v in pairs(M.defaults) do cfg[k] = v end
  for k, v in pairs(opts) do
    if M.defaults[k] == nil then fail('analyze', ("unknown option '%s' (see lotto.lmc.defaults)"):format(tostring(k))) end
    cfg[k] = v
  end
  if type(cfg.rewind) == 'number' then cfg.rewind = { cfg.rewind } end
  for _, k in ipairs(cfg.rewind) do
    if math.type(k) ~= 'integer' or k < 0 then fail('analyze', 'rewind must be a list of iterations >= 0') end
  end
  table.sort(cfg.rewind)
  if type(cfg.train) ~= 'table' then fail('analyze', 'train must be a table of fit options') end
  local E = require 'lotto.experiment'
  local run = E.open { root = cfg.root, name = cfg.name .. '/instability', config = cfg, restart = cfg.restart }
  local dir = run.dir
  local pdir = cfg.root .. '/' .. cfg.name .. '/plots'
  local model, data = build(cfg)
  local theta = trajectory(cfg, model, data, dir)
  local subs = subnetworks(cfg, model, data)
  local cells, rows = {}, json.array()
  local ones = model:masks():clone():fill(1)
  for _, s in ipairs(subs) do
    for _, k in ipairs(cfg.rewind) do
      local path = ('%s/%s_k%d.json'):format(dir, slug(s.name), k)
      local c = fs.exists(path) and json.read(path)
      if not c then
        local r = M.instability { model = model, state = theta[k], mask = (s.masks and s.masks[k]) or s.mask or ones,
          data = data, train = cfg.train, seeds = cfg.seeds, start = k, points = cfg.points, split = cfg.split,
          bn_reset = cfg.bn_reset }
        c = { subnetwork = s.name, density = s.density, k = k, instability = r.instability, errors = r.errors,
              loss_barrier = r.loss_barrier, metric = r.metric, curve = r.curve, seeds = r.seeds,
              iterations = r.iterations }
        assert(json.write(path, c, { indent = true }))
      end
      cells[s.name .. '@' .. k] = c
      rows[#rows + 1] = { subnetwork = s.name, density = s.density, k = k, instability = c.instability,
                          errors = c.errors, loss_barrier = c.loss_barrier }
      say(cfg, '%-12s %6.1f%% weights  k = %-6d instability %6.2f%%  (errors %.2f%%, %.2f%%)%s', s.name,
        100 * s.density, k, 100 * c.instability, 100 * c.errors[1], 100 * c.errors[2],
        c.instability < 0.02 and '  stable' or '')
    end
  end
  local results = { name = cfg.name, cells = rows }
  assert(json.write(dir .. '/results.json', results, { indent = true }))
  if cfg.plots then
    local files, errs = plot_all(cfg, dir, pdir, cells, subs)
    results.plots = files
    if #errs > 0 then say(cfg, 'plots: %s', errs[1]) end
  end
  return results, dir
end

return M
