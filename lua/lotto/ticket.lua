-- ticket.lua: lottery-ticket experiments. Ticket operations (snapshot, rewind,
-- reinit, permuted and random masks, sign-preserving reinit, transfer) and the
-- IMP driver, lotto.ticket.imp{...}, which trains, prunes and rewinds round by
-- round, trains the requested controls beside each ticket, stores everything
-- in the run store (lotto.experiment) and resumes a killed run where it stopped.
local M = {}

local E = require 'lotto.experiment'
local prune = require 'lotto.prune'
local train = require 'lotto.train'
local io_ = require 'lotto.io'
local json = require 'lotto.json'

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
  schedule = nil,           -- lotto.optim.schedule options, or nil for a constant rate
  loss = nil,               -- 'xent' | 'mse'; nil picks from the data set
  batch = 60,
  iterations = 5000,        -- training iterations per round (epochs = n overrides)
  epochs = nil,
  eval_every = 500,
  eval_batch = 1000,
  seeds = { 1 },            -- one replicate per seed: init, data order and controls derive from it
  rounds = 5,               -- pruning rounds after the dense round 0
  target_density = nil,     -- stop once the ticket's density is at or below this
  prune = { rate = 0.2, output_rate = 0.1, scope = 'local' }, -- lotto.prune.magnitude options, or function(model, round)
  rewind = 0,               -- iteration to rewind to: 0 resets to init (LTH), k > 0 is late resetting
  controls = { 'reinit' },  -- any of 'reinit', 'permuted', 'random' trained beside each ticket
  permuted_reinit = false,  -- the permuted control also gets a fresh init
  earlybird = nil,          -- {window=5, threshold=0.1, every=...}: stop each round's training early (lotto.earlybird)
  restart = false,          -- true: delete an existing run of this name first
  plots = true,             -- draw the run's plots at the end
  progress = nil,           -- progress bars: nil = when on a terminal
  verbose = true,           -- one line per round
  _volatile = { 'restart', 'plots', 'progress', 'verbose', 'threads' },
}

local function merge(defaults, opts)
  local out = {}
  for k, v in pairs(defaults) do out[k] = v end
  for k, v in pairs(opts or {}) do
    if defaults[k] == nil and k ~= 'threads' then
      error(("lotto.ticket: unknown option '%s' (see lotto.ticket.defaults)"):format(tostring(k)), 3)
    end
    out[k] = v
  end
  return out
end

-- The config as stored in config.json: functions and userdata become descriptions.
local function storable(v, seen)
  local t = type(v)
  if t == 'function' then return '<function>' end
  if t == 'userdata' then return '<' .. tostring(v):match('^[^%(]*'):gsub('%s+$', '') .. '>' end
  if t ~= 'table' then return v end
  seen = seen or {}
  if seen[v] then return '<cycle>' end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do out[k] = storable(x, seen) end
  seen[v] = nil
  return out
end

local function build_model(cfg)
  if type(cfg.model) == 'function' then return cfg.model(cfg) end
  local ctor = lotto.models[cfg.model]
  if not ctor then error(("lotto.ticket: unknown model '%s'"):format(tostring(cfg.model)), 0) end
  return ctor(cfg.model_opts)
end

local data_cache = {}
local function load_data(cfg)
  local d = cfg.data
  if type(d) == 'function' then return d(cfg) end
  if type(d) == 'table' then return d end
  local key = d .. json.encode(cfg.data_opts or {})
  if not data_cache[key] then
    local loader = lotto.data[d]
    if not loader then error(("lotto.ticket: unknown data set '%s'"):format(tostring(d)), 0) end
    data_cache[key] = loader(cfg.data_opts)
  end
  return data_cache[key]
end

-- ---- ticket operations ----------------------------------------------------------

-- θ at this moment (a flat clone of the values), for rewinding later.
function M.snapshot(model) return model:state() end

-- Sets the model's masks from a flat mask (nil keeps them) and its surviving
-- weights to `state` (θ0 or θk); pruned weights become exactly zero. Optimizer
-- state must be cleared by the caller (a new optimizer, or opt:reset()).
function M.rewind(model, state, mask)
  if mask then model:masks():copy(mask) end
  model:load_state(state)
  model:apply_mask()
  return model
end

-- Random reinitialisation: same mask, fresh draw from the initialiser.
function M.reinit(model, seed, init)
  model:init { seed = seed, weight = init or 'glorot_normal' }
  model:apply_mask()
  return model
end

-- Sign-preserving reinitialisation (Zhou et al. 2019): fresh magnitudes, the
-- signs of `state` (the original init).
function M.sign_preserving_reinit(model, state, seed, init)
  M.reinit(model, seed, init)
  local v = model:values()
  local signs = state:sign()
  local mags = v:abs()
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local s = signs:narrow(1, p.offset + 1, p.numel)
      local m = mags:narrow(1, p.offset + 1, p.numel)
      v:narrow(1, p.offset + 1, p.numel):copy(m:mul(s))
    end
  end
  model:apply_mask()
  return model
end

-- Each prunable layer's mask shuffled within the layer (same density).
function M.permute(model, seed)
  local rng = lotto.rng.new(seed, lotto.rng.streams.prune)
  for _, p in ipairs(model:parameters()) do
    if p.prunable then prune.permute(p.mask, rng) end
  end
  model:apply_mask()
  return model
end

-- A random mask with the same per-layer densities as the current one.
function M.random_mask(model, seed)
  local rng = lotto.rng.new(seed, lotto.rng.streams.prune)
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local keep = prune.count(p.mask)
      p.mask:fill(1)
      if keep < p.numel then prune.random(p.mask, 1 - keep / p.numel, rng) end
    end
  end
  model:apply_mask()
  return model
end

-- ---- one training run ---------------------------------------------------------------

local function summarize(hist)
  local es, fin = hist.early_stop or {}, hist.final or {}
  return {
    early_stop_iter = es.iter, early_stop_test_acc = es.test_acc, early_stop_val_loss = es.val_loss,
    final_test_acc = fin.test_acc, final_iter = fin.iter,
  }
end

-- Trains the model as it stands (weights and masks set by the caller) with a
-- fresh optimizer. start = k continues the schedule and data order from
-- iteration k (late resetting). Returns the training history.
function M.train(model, data, cfg, opts)
  opts = opts or {}
  local optimizer = lotto.optim.make(model, cfg.optimizer)
  local fit = {
    optimizer = optimizer, batch = cfg.batch, seed = opts.data_seed or 1, loss = cfg.loss,
    eval_every = cfg.eval_every, eval_batch = cfg.eval_batch, progress = cfg.progress,
    snapshots = opts.snapshots, on_eval = opts.on_eval, start_iteration = opts.start or 0,
    schedule = cfg.schedule and lotto.optim.schedule(cfg.schedule) or nil,
    label = opts.label,
  }
  if cfg.epochs then fit.epochs = cfg.epochs else fit.iterations = cfg.iterations end
  if cfg.earlybird and opts.earlybird ~= false then
    fit.on_eval = lotto.earlybird.callback(model, cfg.earlybird, fit.on_eval)
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

local function pct(x) return x and ('%.2f%%'):format(100 * x) or '-' end

-- Seeds derived from the replicate seed, one per purpose and round.
local function derived(seed, k, what)
  local off = ({ reinit = 1, permuted = 2, random = 3, data = 0 })[what]
  return seed * 100003 + k * 101 + off
end

local function run_replicate(run, cfg, seed, data)
  local model = build_model(cfg)
  local rdir = run:replicate_dir(seed)
  local rewind_path = rdir .. '/rewind.safetensors'
  local theta0, thetak

  -- Round 0: the dense network, trained from θ0; θk is snapshotted on the way.
  if not run:round_done(seed, 0) then
    run:begin_round(seed, 0)
    local t0 = os.clock()
    model:init { seed = seed, weight = cfg.init }
    theta0 = model:state()
    local hist = M.train(model, data, cfg, {
      data_seed = seed, snapshots = { cfg.rewind }, label = 'round 0 dense', earlybird = false })
    thetak = cfg.rewind > 0 and hist.snapshots[cfg.rewind] or theta0
    log_hist(run, seed, 0, 'ticket', hist)
    assert(io_.save(rewind_path, { init = theta0, rewind = thetak }))
    assert(io_.save(run:mask_path(seed, 0), { mask = model:masks() }, { dtypes = { mask = 'U8' } }))
    assert(io_.save(run:round_dir(seed, 0) .. '/final.safetensors', { values = model:state() }))
    local s = { round = 0, density = 1.0, remaining_pct = 100.0, layers = layer_densities(model),
                runs = { ticket = summarize(hist) }, seconds = os.clock() - t0 }
    run:write_summary(seed, 0, s)
    say(cfg, 'seed %d round 0: 100.0%% remaining  dense %s (early stop at %s)  %.1f s',
      seed, pct(s.runs.ticket.early_stop_test_acc), tostring(s.runs.ticket.early_stop_iter), s.seconds)
  end
  if not theta0 then
    local t = assert(io_.load(rewind_path))
    theta0, thetak = t.init, t.rewind
  end

  local k = 1
  while k <= cfg.rounds do
    local prev = run:load_summary(seed, k - 1)
    if cfg.target_density and prev.density <= cfg.target_density then break end
    if not run:round_done(seed, k) then
      local t0 = os.clock()
      -- The ticket: prune the previous round's trained ticket, rewind the survivors.
      local fin = assert(io_.load(run:round_path(seed, k - 1) .. '/final.safetensors'))
      local pmask = assert(io_.load(run:round_path(seed, k - 1) .. '/mask.safetensors'))
      model:masks():copy(pmask.mask)
      model:load_state(fin.values)
      model:apply_mask()
      if type(cfg.prune) == 'function' then cfg.prune(model, k) else prune.magnitude(model, cfg.prune) end
      local mask = model:masks():clone()
      run:begin_round(seed, k)
      assert(io_.save(run:mask_path(seed, k), { mask = mask }, { dtypes = { mask = 'U8' } }))
      local s = { round = k, density = model:density(), layers = layer_densities(model), runs = {} }
      s.remaining_pct = 100 * s.density

      M.rewind(model, thetak, mask)
      local hist = M.train(model, data, cfg, {
        data_seed = seed, start = cfg.rewind, label = ('round %d ticket'):format(k) })
      log_hist(run, seed, k, 'ticket', hist)
      s.runs.ticket = summarize(hist)
      s.runs.ticket.trained_iterations = hist.iterations
      local final = model:state()

      for _, c in ipairs(cfg.controls) do
        M.rewind(model, thetak, mask)
        if c == 'reinit' then
          M.reinit(model, derived(seed, k, 'reinit'), cfg.init)
        elseif c == 'permuted' then
          M.permute(model, derived(seed, k, 'permuted'))
          if cfg.permuted_reinit then M.reinit(model, derived(seed, k, 'reinit'), cfg.init) end
        elseif c == 'random' then
          M.random_mask(model, derived(seed, k, 'random'))
        else
          error(("lotto.ticket: unknown control '%s' (reinit, permuted, random)"):format(tostring(c)), 0)
        end
        local h = M.train(model, data, cfg, {
          data_seed = seed, start = cfg.rewind, label = ('round %d %s'):format(k, c) })
        log_hist(run, seed, k, c, h)
        s.runs[c] = summarize(h)
      end

      model:masks():copy(mask)
      assert(io_.save(run:round_dir(seed, k) .. '/final.safetensors', { values = final }))
      s.seconds = os.clock() - t0
      run:write_summary(seed, k, s)
      local parts = {}
      for _, c in ipairs(cfg.controls) do parts[#parts + 1] = ('%s %s'):format(c, pct(s.runs[c].early_stop_test_acc)) end
      say(cfg, 'seed %d round %d: %5.1f%% remaining  ticket %s (early stop at %s)  %s  %.1f s',
        seed, k, s.remaining_pct, pct(s.runs.ticket.early_stop_test_acc),
        tostring(s.runs.ticket.early_stop_iter), table.concat(parts, '  '), s.seconds)
    end
    k = k + 1
  end
end

-- lotto.ticket.imp{...}: iterative magnitude pruning with the options of
-- lotto.ticket.defaults. Returns the aggregated results (as in results.json)
-- and the run.
function M.imp(opts)
  local cfg = merge(M.defaults, opts)
  if cfg.threads then lotto.tensor.set_threads(cfg.threads) end
  if type(cfg.seeds) == 'number' then cfg.seeds = { cfg.seeds } end
  local run = E.open { root = cfg.root, name = cfg.name, config = storable(cfg), restart = cfg.restart }
  if run.resumed then say(cfg, 'resuming %s', run.dir) end
  local data = load_data(cfg)
  for _, seed in ipairs(cfg.seeds) do run_replicate(run, cfg, seed, data) end
  local results, timing = run:aggregate()
  run:write_results(results, timing)
  if cfg.plots then
    local ok, err = pcall(lotto.plot.run, run.dir)
    if not ok then say(cfg, 'plots not drawn: %s', tostring(err)) end
  end
  say(cfg, 'results: %s/results.json   plots: %s/plots/', run.dir, run.dir)
  return results, run
end

-- lotto.ticket.one_shot{density = 0.2, ...}: prune once, straight to the density.
function M.one_shot(opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do if k ~= 'density' then o[k] = v end end
  local d = opts.density or 0.2
  local rate = 1 - d
  o.prune = { rate = rate, output_rate = rate, scope = (opts.prune and opts.prune.scope) or 'local' }
  o.rounds = 1
  o.name = opts.name or 'one_shot'
  return M.imp(o)
end

-- ---- reading tickets back (transfer) -------------------------------------------------

-- The ticket of round k of a stored run: {mask = flat mask, init = θ0, rewind = θk,
-- final = trained values}; nil, message if absent.
function M.load(dir, seed, k)
  local run, err = E.load(dir)
  if not run then return nil, err end
  local m, merr = io_.load(run:round_path(seed, k) .. '/mask.safetensors')
  if not m then return nil, merr end
  local r, rerr = io_.load(run:replicate_dir(seed) .. '/rewind.safetensors')
  if not r then return nil, rerr end
  local f = io_.load(run:round_path(seed, k) .. '/final.safetensors')
  return { mask = m.mask, init = r.init, rewind = r.rewind, final = f and f.values,
           summary = run:load_summary(seed, k), config = run.config }
end

-- Re-draws the parameters of the named layers (e.g. the output layer when the
-- class count differs), keeping their masks.
function M.reinit_layers(model, names, seed, init)
  local keep = model:state()
  M.reinit(model, seed, init)
  local fresh = model:state()
  local want = {}
  for _, n in ipairs(names) do want[n] = true end
  for _, p in ipairs(model:parameters()) do
    local layer = p.name:match('^(.*)%.[^.]+$')
    if want[p.name] or want[layer] then
      keep:narrow(1, p.offset + 1, p.numel):copy(fresh:narrow(1, p.offset + 1, p.numel))
    end
  end
  model:load_state(keep)
  model:apply_mask()
  return model
end

return M
