-- ticket.lua: lottery-ticket experiments. Ticket operations (snapshot, rewind,
-- reinit, permuted and random masks, sign-preserving reinit, transfer) and the
-- IMP driver, lotto.ticket.imp{...}, which trains, prunes and rewinds round by
-- round, trains the requested controls beside each ticket, stores everything
-- in the run store (lotto.experiment) and resumes a killed run where it stopped.
--
-- A replicate's files: replicate_<seed>/init.safetensors (θ0), rewind.safetensors
-- (θk), round_<k>/{mask,final}.safetensors (the mask trained in round k and the
-- ticket's trained weights), all keyed by parameter name ("fc1.weight"), so a
-- ticket opens in Python and transfers to a model with a different output layer.
local M = {}

local E = require 'lotto.experiment'
local prune = require 'lotto.prune'
local train = require 'lotto.train'
local optim = require 'lotto.optim'
local nn = require 'lotto.nn'
local io_ = require 'lotto.io'
local json = require 'lotto.json'
local rng = require 'lotto.rng'

-- ---- configuration ------------------------------------------------------------

-- Every option of imp{...} and one_shot{...}, with its default. A script passes
-- only what it changes.
M.defaults = {
  name = 'imp',             -- results go to <root>/<name>
  root = 'runs',
  model = 'lenet300',       -- a lotto.models name, or function(cfg) -> built model
  model_opts = {},          -- passed to the zoo constructor (input, classes, width ...)
  data = 'mnist',           -- 'mnist' | 'fashion_mnist' | 'cifar10', a {train=,val=,test=} table, or function(cfg)
  data_opts = { val = 5000 },
  init = 'glorot_normal',   -- initialiser of round 0 and of the reinit control
  optimizer = { kind = 'adam', lr = 1.2e-3 }, -- lotto.optim.make options
  schedule = false,         -- lotto.optim.schedule options, or false for a constant rate
  loss = false,             -- 'xent' | 'mse'; false picks from the data set
  batch = 60,
  iterations = 5000,        -- training iterations per round (epochs = n overrides)
  epochs = false,
  eval_every = 500,
  eval_batch = 1000,
  seeds = { 1 },            -- one replicate per seed: init, data order and controls derive from it
  rounds = 5,               -- pruning rounds after the dense round 0
  target_density = false,   -- stop once the ticket's density is at or below this
  prune = { rate = 0.2, output_rate = 0.1 }, -- lotto.prune.magnitude options, or function(model, round)
  rewind = 0,               -- iteration to rewind to: 0 resets to θ0 (LTH), k > 0 is late resetting to θk
  controls = { 'reinit' },  -- any of 'reinit', 'permuted', 'random', 'sign' trained beside each ticket
  permuted_reinit = false,  -- the permuted control also gets a fresh init
  source = false,           -- transfer: {run = dir, weights = 'init'|'rewind'|'fresh', reinit = {layers}}
  earlybird = false,        -- {ratio =, window =, threshold =, every =}: rounds >= 1 stop once their
                            -- masks settle (lotto.earlybird); every sets the observation interval
  restart = false,          -- true: delete an existing run of this name first
  plots = true,             -- draw the run's plots at the end
  progress = 'auto',        -- progress bars: 'auto' when stdout is a terminal, true, false
  verbose = true,           -- one line per round
  threads = false,          -- OpenBLAS threads (false: leave as is)
  -- Keys that may change when a run is resumed: they decide where to stop or how to
  -- show progress, not what a completed round holds.
  _volatile = { 'restart', 'plots', 'progress', 'verbose', 'threads', 'root', 'rounds', 'target_density', 'seeds' },
}

local CONTROLS = { reinit = true, permuted = true, random = true, sign = true }

local function bad(msg) error('lotto.ticket: ' .. msg, 0) end

local function is_int(v, lo) return math.type(v) == 'integer' and v >= (lo or 0) end

-- Checks every option; errors name the option and what it must be.
local function validate(cfg)
  local function need(ok, key, what)
    if not ok then bad(("option '%s' must be %s (got %s)"):format(key, what, tostring(cfg[key]))) end
  end
  need(type(cfg.name) == 'string' and cfg.name ~= '', 'name', 'a non-empty string')
  need(type(cfg.model) == 'string' or type(cfg.model) == 'function', 'model', 'a lotto.models name or a function')
  if type(cfg.model) == 'string' and not lotto.models[cfg.model] then
    bad(("unknown model '%s' (%s)"):format(cfg.model, table.concat(lotto.models.names(), ', ')))
  end
  local dt = type(cfg.data)
  need(dt == 'string' or dt == 'function' or (dt == 'table' and cfg.data.train ~= nil), 'data',
    "a data set name, a {train =, val =, test =} table or a function")
  need(type(cfg.optimizer) == 'table', 'optimizer', "a table such as {kind = 'adam', lr = 1.2e-3}")
  need(is_int(cfg.batch, 1), 'batch', 'a positive integer')
  need(cfg.epochs == false or is_int(cfg.epochs, 1), 'epochs', 'false or a positive integer')
  need(is_int(cfg.iterations, 1), 'iterations', 'a positive integer')
  need(is_int(cfg.eval_every, 1), 'eval_every', 'a positive integer')
  need(is_int(cfg.rounds, 0), 'rounds', 'a non-negative integer')
  need(is_int(cfg.rewind, 0), 'rewind', 'a non-negative integer (an iteration)')
  if not cfg.epochs and cfg.rewind >= cfg.iterations then
    bad(("option 'rewind' (%d) must be below 'iterations' (%d)"):format(cfg.rewind, cfg.iterations))
  end
  local td = cfg.target_density
  need(td == false or (type(td) == 'number' and td > 0 and td <= 1), 'target_density', 'false or a number in (0, 1]')
  need(type(cfg.prune) == 'table' or type(cfg.prune) == 'function', 'prune', 'a lotto.prune.magnitude options table or a function(model, round)')
  need(type(cfg.seeds) == 'table' and #cfg.seeds > 0, 'seeds', 'a non-empty list of integers')
  for i, s in ipairs(cfg.seeds) do
    if not is_int(s, 0) then bad(("option 'seeds'[%d] must be a non-negative integer (got %s)"):format(i, tostring(s))) end
  end
  need(type(cfg.controls) == 'table', 'controls', "a list of 'reinit', 'permuted', 'random', 'sign'")
  for i, c in ipairs(cfg.controls) do
    if not CONTROLS[c] then bad(("unknown control '%s' in option 'controls'[%d] (reinit, permuted, random, sign)"):format(tostring(c), i)) end
  end
  need(cfg.progress == 'auto' or type(cfg.progress) == 'boolean', 'progress', "'auto', true or false")
  need(cfg.earlybird == false or type(cfg.earlybird) == 'table', 'earlybird', 'false or a lotto.earlybird options table')
  if cfg.source then
    need(type(cfg.source) == 'table' and type(cfg.source.run) == 'string', 'source', "a table {run = 'runs/<name>', weights = 'init'|'rewind'|'fresh'}")
    local w = cfg.source.weights or 'init'
    if w ~= 'init' and w ~= 'rewind' and w ~= 'fresh' then bad(("option 'source.weights' must be 'init', 'rewind' or 'fresh' (got %s)"):format(tostring(w))) end
  end
end

local function merge(defaults, opts)
  if opts ~= nil and type(opts) ~= 'table' then bad('expected an options table (see lotto.ticket.defaults)') end
  local out = {}
  for k, v in pairs(defaults) do out[k] = v end
  for k, v in pairs(opts or {}) do
    if defaults[k] == nil then
      bad(("unknown option '%s' (see lotto.ticket.defaults)"):format(tostring(k)))
    end
    out[k] = v
  end
  if type(out.seeds) == 'number' then out.seeds = { out.seeds } end
  for _, k in ipairs { 'batch', 'iterations', 'epochs', 'eval_every', 'eval_batch', 'rounds', 'rewind' } do
    if type(out[k]) == 'number' and math.tointeger(out[k]) then out[k] = math.tointeger(out[k]) end
  end
  validate(out)
  return out
end


local function build_model(cfg)
  if type(cfg.model) == 'function' then
    local m = cfg.model(cfg)
    if not nn.is_model(m) then bad("option 'model': the function did not return a lotto.nn model") end
    return m
  end
  return lotto.models[cfg.model](cfg.model_opts)
end

local data_cache = {}
local function load_data(cfg)
  local d = cfg.data
  if type(d) == 'function' then d = d(cfg) end
  if type(d) == 'table' then
    if d.train == nil then bad("option 'data': the data table has no train set") end
    return d
  end
  local key = d .. json.encode(cfg.data_opts or {})
  if not data_cache[key] then
    local ok, ds = pcall(lotto.data.load, d, cfg.data_opts)
    if not ok then bad(("option 'data': %s"):format(tostring(ds):gsub('^[^:]*:%d+: ', ''))) end
    data_cache[key] = ds
  end
  return data_cache[key]
end

-- ---- ticket operations ----------------------------------------------------------

local function check_model(model, fname)
  if not nn.is_model(model) then error(("bad argument #1 to '%s' (lotto.nn model expected)"):format(fname), 3) end
end

local function check_seed(seed, fname, pos)
  if math.type(seed) ~= 'integer' then
    error(("bad argument #%d to '%s' (integer seed expected, got %s)"):format(pos, fname, tostring(seed)), 3)
  end
end

local function check_flat(model, t, fname, pos, what)
  if not lotto.tensor.is_tensor(t) or t:numel() ~= model:values():numel() then
    error(("bad argument #%d to '%s' (%s: a flat tensor of %d values expected)"):format(pos, fname, what,
      model:values():numel()), 3)
  end
end

-- θ at this moment (a flat clone of the values), for rewinding later.
function M.snapshot(model)
  check_model(model, 'snapshot')
  return model:state()
end

-- Batchnorm running statistics back to their initial values (mean 0, var 1), so a
-- rewound network starts from the same state whether or not the run was resumed.
function M.reset_buffers(model)
  for _, b in ipairs(model:buffers()) do b.value:fill(b.name:match('running_var$') and 1 or 0) end
  return model
end

-- Sets the masks from a flat mask (nil keeps them) and the surviving weights to
-- `state` (θ0 or θk, a flat tensor); pruned weights become exactly zero and batchnorm
-- statistics restart. Optimizer state is the caller's: M.train makes a fresh one.
function M.rewind(model, state, mask)
  check_model(model, 'rewind')
  check_flat(model, state, 'rewind', 2, 'state')
  if mask ~= nil then
    check_flat(model, mask, 'rewind', 3, 'mask')
    model:masks():copy(mask)
  end
  model:load_state(state)
  model:apply_mask()
  M.reset_buffers(model)
  return model
end

-- Random reinitialisation: same mask, fresh draw from the initialiser.
function M.reinit(model, seed, init)
  check_model(model, 'reinit')
  check_seed(seed, 'reinit', 2)
  model:init { seed = seed, weight = init or 'glorot_normal' }
  return model -- init applies the mask
end

-- Sign-preserving reinitialisation (Zhou et al. 2019): fresh magnitudes with the
-- signs of `state` (the original init) on every prunable weight.
function M.sign_preserving_reinit(model, state, seed, init)
  check_model(model, 'sign_preserving_reinit')
  check_flat(model, state, 'sign_preserving_reinit', 2, 'state')
  M.reinit(model, seed, init)
  local v = model:values()
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local s = state:narrow(1, p.offset + 1, p.numel):sign()
      local dst = v:narrow(1, p.offset + 1, p.numel)
      dst:copy(dst:abs():mul(s))
    end
  end
  model:apply_mask()
  return model
end

-- Each prunable layer's mask shuffled within the layer (Morcos et al. 2019): same
-- per-layer density. Only the masks change: rewind the values afterwards
-- (M.rewind(model, state)), or the newly kept weights start where they were.
function M.permute(model, seed)
  check_model(model, 'permute')
  check_seed(seed, 'permute', 2)
  local r = rng.new(seed, rng.streams.prune)
  for _, p in ipairs(model:parameters()) do
    if p.prunable then prune.permute(p.mask, r) end
  end
  model:apply_mask()
  return model
end

-- A uniformly random mask with the current per-layer counts (the random-pruning
-- baseline at matched density). Only the masks change, as in M.permute.
function M.random_mask(model, seed)
  check_model(model, 'random_mask')
  check_seed(seed, 'random_mask', 2)
  local r = rng.new(seed, rng.streams.prune)
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local keep = prune.count(p.mask)
      p.mask:fill(1)
      if keep < p.numel then prune.random(p.mask, 1 - keep / p.numel, r) end
    end
  end
  model:apply_mask()
  return model
end

-- ---- named tensors (files) ---------------------------------------------------------

-- {name = tensor} views of a flat values-shaped tensor, one per parameter.
function M.named(model, flat, prunable_only)
  local out = {}
  for _, p in ipairs(model:parameters()) do
    if p.prunable or not prunable_only then out[p.name] = flat:narrow(1, p.offset + 1, p.numel):reshape(p.shape) end
  end
  return out
end

-- A flat values-shaped tensor from named tensors; `base` (flat) fills what `named` lacks
-- when `partial` is set, else a missing or mis-shaped name is an error.
local function flatten_named(model, named, base, partial)
  local flat = base and base:clone() or model:state()
  for _, p in ipairs(model:parameters()) do
    local t = named[p.name]
    if t == nil then
      if not partial then return nil, ("no tensor '%s'"):format(p.name) end
    elseif t:numel() ~= p.numel then
      if not partial then return nil, ("'%s' has %d values, the model has %d"):format(p.name, t:numel(), p.numel) end
    else
      flat:narrow(1, p.offset + 1, p.numel):copy(t:contiguous():reshape { p.numel })
    end
  end
  return flat
end

-- Metadata of every file: the flat layout (name, 0-based offset, numel per parameter),
-- so that M.load can rebuild flat tensors without the model.
local function layout(model)
  local l = {}
  for _, p in ipairs(model:parameters()) do l[#l + 1] = { p.name, p.offset, p.numel } end
  return { format = 'lotto.ticket', layout = json.encode(l), numel = tostring(model:values():numel()) }
end

local function save_values(path, model, flat) assert(io_.save(path, M.named(model, flat), { metadata = layout(model) })) end

local function save_mask(path, model)
  local t, dt = {}, {}
  for _, p in ipairs(model:parameters()) do
    if p.prunable then t[p.name], dt[p.name] = p.mask, 'U8' end
  end
  assert(io_.save(path, t, { dtypes = dt, metadata = layout(model) }))
end

-- The flat tensor of named tensors read from a file written above; `fill` for the
-- parameters the file lacks (1 for masks: biases are never pruned). nil without layout.
local function flat_of(named, meta, fill)
  local ok, l = pcall(json.decode, meta and meta.layout or '')
  local n = meta and tonumber(meta.numel)
  if not ok or type(l) ~= 'table' or not n then return nil end
  local flat = lotto.tensor.full({ math.tointeger(n) }, fill)
  for _, e in ipairs(l) do
    local t = named[e[1]]
    if t then flat:narrow(1, e[2] + 1, e[3]):copy(t:contiguous():reshape { e[3] }) end
  end
  return flat
end

local function load_file(path)
  local t, err = io_.load(path)
  if not t then bad(('cannot read %s: %s (delete the run or use restart = true)'):format(path, err)) end
  return t
end

local function load_values(path, model)
  local flat, err = flatten_named(model, load_file(path))
  if not flat then bad(('%s: %s'):format(path, err)) end
  return flat
end

-- Sets the model's masks from named masks (prunable parameters only).
local function set_masks(model, named, where)
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local m = named[p.name]
      if m == nil or m:numel() ~= p.numel then bad(("%s: no mask of %d values for '%s'"):format(where, p.numel, p.name)) end
      p.mask:copy(m:contiguous():reshape(p.shape))
    end
  end
  model:apply_mask()
end

-- ---- one training run ---------------------------------------------------------------

local function summarize(hist)
  local es, fin = hist.early_stop or {}, hist.final or {}
  return {
    early_stop_iter = es.iter, early_stop_test_acc = es.test_acc, early_stop_test_loss = es.test_loss,
    early_stop_val_acc = es.val_acc, early_stop_val_loss = es.val_loss,
    final_iter = fin.iter, final_test_acc = fin.test_acc, final_test_loss = fin.test_loss,
    final_val_acc = fin.val_acc, final_val_loss = fin.val_loss, final_train_loss = fin.train_loss,
  }
end

-- Trains the model as it stands (weights and masks set by the caller) with a fresh
-- optimizer (no momentum carried over). opts.start = k continues the schedule and the
-- data order from iteration k (late resetting); opts.data_seed fixes the data order;
-- opts.snapshots lists iterations to snapshot. Returns lotto.train.fit's history.
function M.train(model, data, cfg, opts)
  opts = opts or {}
  local fit = {
    optimizer = optim.make(model, cfg.optimizer), batch = cfg.batch, seed = opts.data_seed or 1,
    loss = cfg.loss or nil, eval_every = cfg.eval_every, eval_batch = cfg.eval_batch,
    snapshots = opts.snapshots,
    schedule = cfg.schedule and optim.schedule(cfg.schedule) or nil,
  }
  if cfg.progress ~= 'auto' then fit.progress = cfg.progress end
  if (opts.start or 0) > 0 then fit.start_iteration = opts.start end
  if cfg.epochs then fit.epochs = cfg.epochs else fit.iterations = cfg.iterations end
  if cfg.earlybird and opts.earlybird ~= false then
    fit.on_eval = lotto.earlybird.callback(model, cfg.earlybird)
    fit.eval_every = cfg.earlybird.every or fit.eval_every
  end
  return train.fit(model, data, fit)
end

-- ---- the IMP driver -----------------------------------------------------------------

local function log_hist(run, seed, k, method, hist)
  for _, r in ipairs(hist.records or {}) do
    local rec = { method = method }
    for key, v in pairs(r) do if key ~= 'time' then rec[key] = v end end
    run:log_metric(seed, k, rec)
  end
end

local function layer_densities(model)
  local out = {}
  for _, p in ipairs(model:parameters()) do
    if p.prunable then out[p.name] = prune.density(p.mask) end
  end
  return out
end

local function say(cfg, fmt, ...)
  if cfg.verbose then io.stdout:write(fmt:format(...), '\n'); io.stdout:flush() end
end

-- Accuracy at early stop as a percentage, or the test loss for regression.
local function score(r)
  if not r then return '-' end
  if r.early_stop_test_acc then return ('%.2f%%'):format(100 * r.early_stop_test_acc) end
  local l = r.early_stop_test_loss or r.early_stop_val_loss
  return l and ('loss %.3g'):format(l) or '-'
end

-- Seeds derived from the replicate seed, one per purpose and round.
local function derived(seed, k, what)
  local off = ({ reinit = 1, permuted = 2, random = 3, transfer = 4, sign = 5 })[what]
  return seed * 100003 + k * 101 + off
end

local now = optim.now

-- The source run of a transfer and its tickets: returns function(seed, k) -> ticket.
local function source_of(cfg)
  local src = E.load(cfg.source.run)
  if not src then bad(("option 'source': '%s' is not a run directory"):format(cfg.source.run)) end
  return src, function(seed, k)
    local t, err = M.load(cfg.source.run, seed, k)
    if not t then bad(("option 'source': %s"):format(err)) end
    return t
  end
end

-- Round 0: the dense network trained from θ0 (θk snapshotted on the way). A transfer
-- run (option source) starts from the source's θ0 unless its weights are 'fresh'.
local function dense_round(run, cfg, seed, data, model, get)
  local rdir = run:replicate_dir(seed)
  run:begin_round(seed, 0)
  local t0 = now()
  model:init { seed = seed, weight = cfg.init }
  if get and cfg.source.weights ~= 'fresh' then
    M.transfer(model, get(seed, 0), { weights = 'init', reinit = cfg.source.reinit, init = cfg.init,
      seed = derived(seed, 0, 'transfer'), mask = false })
  end
  local theta0 = model:state()
  local hist = M.train(model, data, cfg, { data_seed = seed, snapshots = { cfg.rewind }, earlybird = false })
  local thetak = hist.snapshots[cfg.rewind] or theta0
  log_hist(run, seed, 0, 'ticket', hist)
  save_values(rdir .. '/init.safetensors', model, theta0)
  save_values(rdir .. '/rewind.safetensors', model, thetak)
  save_mask(run:mask_path(seed, 0), model)
  save_values(run:round_dir(seed, 0) .. '/final.safetensors', model, model:state())
  local s = { round = 0, density = 1.0, remaining_pct = 100.0, rewind = cfg.rewind, layers = layer_densities(model),
              runs = { ticket = summarize(hist) }, seconds = now() - t0 }
  run:write_summary(seed, 0, s)
  say(cfg, 'seed %d round 0: 100.0%% remaining  dense %s (early stop at %s)  %.1f s',
    seed, score(s.runs.ticket), tostring(s.runs.ticket.early_stop_iter), s.seconds)
end

-- Round k >= 1: prune the previous round's trained ticket and rewind the survivors to
-- θk (or, for a transfer, take the source run's round-k ticket), then train the ticket
-- and the controls. Returns false when pruning removed nothing.
local function prune_round(run, cfg, seed, data, model, k, thetak, get)
  local t0 = now()
  local state, start = thetak, cfg.rewind
  if get then
    model:masks():fill(1)
    model:apply_mask()
    model:init { seed = seed, weight = cfg.init }
    M.transfer(model, get(seed, k), { weights = cfg.source.weights, reinit = cfg.source.reinit, init = cfg.init,
      seed = derived(seed, 0, 'transfer') })
    state = model:state()
    if cfg.source.weights ~= 'rewind' then start = 0 end
  else
    set_masks(model, load_file(run:mask_path(seed, k - 1)), run:mask_path(seed, k - 1))
    model:load_state(load_values(run:round_path(seed, k - 1) .. '/final.safetensors', model))
    model:apply_mask()
    local before = model:density()
    if type(cfg.prune) == 'function' then cfg.prune(model, k) else prune.magnitude(model, cfg.prune) end
    model:apply_mask()
    if model:density() >= before then
      say(cfg, 'seed %d round %d: pruning removed no weight; stopping', seed, k)
      return false
    end
  end
  local mask = model:masks():clone()
  run:begin_round(seed, k)
  save_mask(run:mask_path(seed, k), model)
  local s = { round = k, density = model:density(), rewind = start, layers = layer_densities(model), runs = {} }
  s.remaining_pct = 100 * s.density

  M.rewind(model, state, mask)
  local hist = M.train(model, data, cfg, { data_seed = seed, start = start })
  log_hist(run, seed, k, 'ticket', hist)
  s.runs.ticket = summarize(hist)
  s.runs.ticket.trained_iterations = hist.iterations -- the iteration reached (early-bird stops sooner)
  local final = model:state()

  for _, c in ipairs(cfg.controls) do
    local from = start
    M.rewind(model, state, mask)
    if c == 'reinit' then
      M.reinit(model, derived(seed, k, 'reinit'), cfg.init)
      from = 0 -- a fresh init is an iteration-0 network
    elseif c == 'sign' then -- fresh magnitudes, the signs of the ticket's weights
      M.sign_preserving_reinit(model, state, derived(seed, k, 'sign'), cfg.init)
      from = 0
    elseif c == 'permuted' then
      M.permute(model, derived(seed, k, 'permuted'))
      M.rewind(model, state)
      if cfg.permuted_reinit then M.reinit(model, derived(seed, k, 'reinit'), cfg.init); from = 0 end
    else
      M.random_mask(model, derived(seed, k, 'random'))
      M.rewind(model, state)
    end
    local h = M.train(model, data, cfg, { data_seed = seed, start = from })
    log_hist(run, seed, k, c, h)
    s.runs[c] = summarize(h)
  end

  model:masks():copy(mask)
  model:load_state(final)
  model:apply_mask()
  save_values(run:round_dir(seed, k) .. '/final.safetensors', model, final)
  s.seconds = now() - t0
  run:write_summary(seed, k, s)
  local parts = {}
  for _, c in ipairs(cfg.controls) do parts[#parts + 1] = ('  %s %s'):format(c, score(s.runs[c])) end
  say(cfg, 'seed %d round %d: %5.1f%% remaining  ticket %s (early stop at %s)%s  %.1f s',
    seed, k, s.remaining_pct, score(s.runs.ticket), tostring(s.runs.ticket.early_stop_iter),
    table.concat(parts), s.seconds)
  return true
end

local function run_replicate(run, cfg, seed, data, src)
  local model = build_model(cfg)
  local get = src and src.get
  if not run:round_done(seed, 0) then dense_round(run, cfg, seed, data, model, get) end
  local thetak = load_values(run:replicate_dir(seed) .. '/rewind.safetensors', model)
  for k = 1, cfg.rounds do
    local prev = run:load_summary(seed, k - 1)
    if not prev then break end
    if cfg.target_density and prev.density <= cfg.target_density + 1e-12 then break end
    if src and not src.run:round_done(seed, k) then
      say(cfg, 'seed %d: the source run has no round %d; stopping', seed, k)
      break
    end
    if not run:round_done(seed, k) then
      if not prune_round(run, cfg, seed, data, model, k, thetak, get) then break end
    end
  end
end

local function has_rounds(dir)
  for _, r in ipairs(json.fs.listdir(dir) or {}) do
    if r:match('^replicate_%d+$') then
      for _, k in ipairs(json.fs.listdir(dir .. '/' .. r) or {}) do
        if k:match('^round_%d+$') and json.fs.exists(dir .. '/' .. r .. '/' .. k .. '/summary.json') then return true end
      end
    end
  end
  return false
end

-- lotto.ticket.imp{...}: iterative magnitude pruning with the options of
-- lotto.ticket.defaults. Returns the aggregated results (as in results.json) and the run.
function M.imp(opts)
  local cfg = merge(M.defaults, opts)
  if cfg.threads then lotto.tensor.set_threads(cfg.threads) end
  local src
  if cfg.source then
    src = {}
    src.run, src.get = source_of(cfg)
  end
  -- Everything that can fail on a wrong option fails before the run directory is touched.
  local data = load_data(cfg)
  if type(cfg.prune) == 'table' then
    local ok, err = pcall(prune.magnitude, build_model(cfg), cfg.prune)
    if not ok then bad(("option 'prune': %s"):format(tostring(err):gsub('^[^:]*:%d+: ', ''))) end
  end
  -- A run without a completed round holds nothing to protect: a new config replaces it.
  local restart = cfg.restart or not has_rounds(cfg.root .. '/' .. cfg.name)
  local ok, run = pcall(E.open, { root = cfg.root, name = cfg.name, config = cfg, restart = restart })
  if not ok then bad(tostring(run):gsub('^[^:]*:%d+: ', '')) end
  if run.resumed then say(cfg, 'resuming %s', run.dir) end
  for _, seed in ipairs(cfg.seeds) do
    run_replicate(run, cfg, seed, data, src)
  end
  local results, timing = run:aggregate()
  run:write_results(results, timing)
  if cfg.plots then
    local pok, files, err = pcall(lotto.plot.run, run.dir, { quiet = true })
    if not pok then err = files end
    if not pok or not files then say(cfg, 'plots not drawn: %s', tostring(err)) end
  end
  say(cfg, 'results: %s/results.json   plots: %s/plots/', run.dir, run.dir)
  return results, run
end

-- lotto.ticket.one_shot{density = 0.2, ...}: prune once, straight to the density
-- (every prunable layer at the same rate unless prune = {...} is given).
function M.one_shot(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then bad('one_shot: expected an options table') end
  local d = opts.density or 0.2
  if type(d) ~= 'number' or not (d > 0 and d <= 1) then bad(("one_shot: option 'density' must be in (0, 1] (got %s)"):format(tostring(d))) end
  local o = {}
  for k, v in pairs(opts) do if k ~= 'density' then o[k] = v end end
  o.prune = opts.prune or { rate = 1 - d }
  o.rounds = 1
  o.name = opts.name or 'one_shot'
  return M.imp(o)
end

-- ---- reading tickets back, transfer ----------------------------------------------------

-- The ticket of round k of a stored run: flat tensors in the layout of model:values()
-- (mask, init = θ0, rewind = θk, final = the trained ticket), the same by parameter name
-- in named = {mask =, init =, rewind =, final =}, and summary, config, rewind_iter;
-- nil, message if absent.
function M.load(dir, seed, k)
  if type(dir) ~= 'string' then error("bad argument #1 to 'load' (run directory expected)", 2) end
  check_seed(seed, 'load', 2)
  check_seed(k, 'load', 3)
  local run, err = E.load(dir)
  if not run then return nil, err end
  if not run:round_done(seed, k) then
    return nil, ('%s has no completed round %d for seed %d (seeds: %s)'):format(dir, k, seed,
      table.concat(run:replicates(), ', '))
  end
  local named, flat = {}, {}
  local function read(key, path, fill)
    local t, meta = io_.load(path)
    if not t then error(('lotto.ticket.load: %s'):format(meta), 0) end
    named[key], flat[key] = t, flat_of(t, meta, fill)
  end
  local ok, err = pcall(function()
    local rd = run:replicate_dir(seed)
    read('mask', run:round_path(seed, k) .. '/mask.safetensors', 1)
    read('init', rd .. '/init.safetensors', 0)
    read('rewind', rd .. '/rewind.safetensors', 0)
    read('final', run:round_path(seed, k) .. '/final.safetensors', 0)
  end)
  if not ok then return nil, err end
  return { mask = flat.mask, init = flat.init, rewind = flat.rewind, final = flat.final, named = named,
           summary = run:load_summary(seed, k), config = run.config, rewind_iter = run.config.rewind or 0 }
end

local function layer_of(p) return p.layer or p.name:match('^(.*)%.[^.]+$') end

-- Applies a ticket (from M.load) to a model, e.g. one trained on another data set:
-- opts.weights 'init' (θ0, default) | 'rewind' (θk) | 'final' | 'fresh' (keep the
-- model's own values); opts.reinit = {'fc3', ...} layers (or parameter names) drawn
-- fresh with opts.seed — needed where shapes differ, such as an output layer with
-- another class count; there the mask becomes random at the ticket layer's density.
-- opts.mask = false keeps the model's masks; opts.values = false sets masks only.
function M.transfer(model, ticket, opts)
  check_model(model, 'transfer')
  if type(ticket) ~= 'table' or type(ticket.named) ~= 'table' or type(ticket.named.mask) ~= 'table' then
    error("bad argument #2 to 'transfer' (a ticket from lotto.ticket.load expected)", 2)
  end
  opts = opts or {}
  local weights = opts.weights or 'init'
  local nt = ticket.named
  local src = ({ init = nt.init, rewind = nt.rewind, final = nt.final, fresh = false })[weights]
  if src == nil then error(("lotto.ticket.transfer: weights must be 'init', 'rewind', 'final' or 'fresh' (got %s)"):format(tostring(weights)), 2) end
  local fresh = {}
  for _, n in ipairs(opts.reinit or {}) do fresh[n] = true end
  local seed = opts.seed or 1
  if opts.mask ~= false then
    local r = rng.new(seed, rng.streams.prune)
    for _, p in ipairs(model:parameters()) do
      local m = nt.mask[p.name]
      if p.prunable then
        if m and m:numel() == p.numel then
          p.mask:copy(m:contiguous():reshape(p.shape))
        elseif m and (fresh[p.name] or fresh[layer_of(p)]) then
          p.mask:fill(1)
          local d = prune.density(m)
          if d < 1 then prune.random(p.mask, 1 - d, r) end
        else
          error(("lotto.ticket.transfer: the ticket's mask for '%s' %s; list its layer in reinit"):format(p.name,
            m and ('has %d values, the model %d'):format(m:numel(), p.numel) or 'is missing'), 2)
        end
      end
    end
    model:apply_mask()
  end
  if opts.values ~= false then
    local own
    if next(fresh) then -- fresh draws for the reinitialised layers (under the new masks)
      local keep = model:state()
      model:init { seed = seed, weight = opts.init or 'glorot_normal' }
      own = model:state()
      model:load_state(keep)
    end
    for _, p in ipairs(model:parameters()) do
      local dst = model:values():narrow(1, p.offset + 1, p.numel)
      if fresh[p.name] or fresh[layer_of(p)] then
        dst:copy(own:narrow(1, p.offset + 1, p.numel))
      elseif src then
        local v = src[p.name]
        if not v or v:numel() ~= p.numel then
          error(("lotto.ticket.transfer: the ticket's %s weights for '%s' %s; list its layer in reinit"):format(weights, p.name,
            v and ('have %d values, the model %d'):format(v:numel(), p.numel) or 'are missing'), 2)
        end
        dst:copy(v:contiguous():reshape { p.numel })
      end
    end
  end
  model:apply_mask()
  M.reset_buffers(model)
  return model
end

-- Re-draws the parameters of the named layers (e.g. the output layer), keeping masks.
function M.reinit_layers(model, names, seed, init)
  check_model(model, 'reinit_layers')
  if type(names) ~= 'table' then error("bad argument #2 to 'reinit_layers' (list of layer names expected)", 2) end
  check_seed(seed, 'reinit_layers', 3)
  local keep = model:state()
  model:init { seed = seed, weight = init or 'glorot_normal' }
  local fresh = model:state()
  local want = {}
  for _, n in ipairs(names) do want[n] = true end
  for _, p in ipairs(model:parameters()) do
    if want[p.name] or want[layer_of(p)] then
      keep:narrow(1, p.offset + 1, p.numel):copy(fresh:narrow(1, p.offset + 1, p.numel))
    end
  end
  model:load_state(keep)
  model:apply_mask()
  return model
end

-- ---- reporting ---------------------------------------------------------------------

-- A text table of results (from imp): one row per round, one column per method,
-- mean ± std over replicates of opts.metric (default early_stop_test_acc, shown in %).
function M.report(results, opts)
  opts = opts or {}
  local metric = opts.metric or 'early_stop_test_acc'
  local scale = opts.scale or (metric:find('acc') and 100 or 1)
  local fmt = opts.format or (scale == 100 and '%.2f ± %.2f' or '%.4g ± %.2g')
  local methods = opts.methods
  if not methods then
    methods = {}
    local seen = {}
    for _, m in ipairs { 'ticket', 'reinit', 'permuted', 'random', 'sign' } do
      for _, a in ipairs(results.aggregate) do
        if a.methods[m] and not seen[m] then seen[m] = true; methods[#methods + 1] = m end
      end
    end
  end
  local lines = { ('%-6s %10s' .. (' %20s'):rep(#methods)):format('round', 'remaining', table.unpack(methods)) }
  for _, a in ipairs(results.aggregate) do
    local cells = {}
    for i, m in ipairs(methods) do
      local st = a.methods[m] and a.methods[m][metric]
      cells[i] = st and fmt:format(st.mean * scale, st.std * scale) or '-'
    end
    lines[#lines + 1] = ('%-6d %9.2f%%' .. (' %20s'):rep(#methods)):format(a.round, a.remaining_pct, table.unpack(cells))
  end
  return table.concat(lines, '\n')
end

local hok, help = pcall(require, 'lotto.help')
if hok and type(help) == 'table' and help.register then
  help.register(M, {
    imp = 'imp{name =, model =, data =, optimizer =, iterations =, rounds =, prune =, rewind =, controls =, seeds =, ...} -> results, run (see lotto.ticket.defaults)',
    one_shot = 'one_shot{density = 0.2, ...} -> results, run: prune once to the density',
    snapshot = 'snapshot(model) -> θ: a flat copy of the values',
    rewind = 'rewind(model, θ[, mask]) -> model: masks (if given), surviving weights = θ, pruned = 0',
    reinit = "reinit(model, seed[, init]) -> model: fresh draw, same mask",
    sign_preserving_reinit = 'sign_preserving_reinit(model, θ0, seed[, init]) -> model: fresh magnitudes, signs of θ0',
    permute = 'permute(model, seed) -> model: each layer mask shuffled within the layer (masks only)',
    random_mask = 'random_mask(model, seed) -> model: random masks at the per-layer counts (masks only)',
    reset_buffers = 'reset_buffers(model) -> model: batchnorm running statistics to mean 0, var 1',
    train = 'train(model, data, cfg[, {start =, data_seed =, snapshots =, earlybird = false}]) -> history: a fresh optimizer from cfg',
    load = 'load(rundir, seed, round) -> ticket {mask, init, rewind, final (flat), named = {...}, summary} | nil, msg',
    transfer = "transfer(model, ticket, {weights = 'init'|'rewind'|'final'|'fresh', reinit = {layers}, seed =}) -> model",
    reinit_layers = 'reinit_layers(model, {names}, seed[, init]) -> model: fresh draws for these layers',
    named = 'named(model, flat[, prunable_only]) -> {name = view}: a flat tensor split by parameter',
    report = "report(results[, {metric = 'early_stop_test_acc', methods =}]) -> text table",
  })
end

return M
