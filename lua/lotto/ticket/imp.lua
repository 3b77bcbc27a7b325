-- lotto.ticket.imp: the IMP driver. lotto.ticket.imp{...} trains, prunes and rewinds
-- round by round, trains the requested controls (lotto.ticket.controls) beside each
-- ticket, stores everything in the run store (lotto.experiment) and resumes a killed
-- run where it stopped; one_shot prunes once.
local channels = require 'lotto.channels'
local E = require 'lotto.experiment'
local data_mod = require 'lotto.data'
local earlybird = require 'lotto.earlybird'
local fs = require 'lotto.fs'
local optim = require 'lotto.optim'
local plot = require 'lotto.plot'
local prune = require 'lotto.prune'
local sparse = require 'lotto.sparse'
local sys = require 'lotto.sys'
local tensor = require 'lotto.tensor'
local train = require 'lotto.train'
local now = require('lotto.sys').now
local config = require 'lotto.ticket.config'
local controls = require 'lotto.ticket.controls'
local files = require 'lotto.ticket.files'
local ops = require 'lotto.ticket.ops'
local transfer = require 'lotto.ticket.transfer'
local U = require 'lotto.util'

local M = {}

local function bad(msg) U.fail('lotto.ticket', msg) end

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
  if opts.lr then fit.schedule = function() return opts.lr end end
  if cfg.progress ~= 'auto' then fit.progress = cfg.progress end
  fit.augment = cfg.augment or nil
  fit.bn_l1 = cfg.bn_l1 or (cfg.earlybird and cfg.earlybird.method == 'channel' and 1e-4) or nil
  fit.progress_label, fit.progress_after = opts.label, opts.after
  if (opts.start or 0) > 0 then fit.start_iteration = opts.start end
  if cfg.epochs then fit.epochs = cfg.epochs else fit.iterations = cfg.iterations end
  if cfg.earlybird and opts.earlybird ~= false then
    fit.on_eval = earlybird.callback(model, cfg.earlybird)
    fit.eval_every = cfg.earlybird.every or fit.eval_every
  end
  return train.fit(model, data, fit)
end

-- The learning rate of the last step of a full run (fine-tuning trains at it).
local function final_lr(cfg, data)
  local total = cfg.iterations
  if cfg.epochs then total = cfg.epochs * data_mod.loader(data.train, { batch = cfg.batch }):batches_per_epoch() end
  if cfg.schedule then return optim.schedule(cfg.schedule):lr(total - 1) end
  return cfg.optimizer.lr or 1e-3
end

-- ---- the IMP driver -----------------------------------------------------------------

-- The experiment's progress: trainings left and the time the finished ones took in this
-- process, for the bar's label ("seed 1 · round 3/8 · reinit") and its experiment ETA.
local track = { left = 0, n = 0, secs = 0 }

local function count_left(run, cfg)
  local left = 0
  for _, seed in ipairs(cfg.seeds) do
    for k = 0, cfg.rounds do
      if not run:round_done(seed, k) then left = left + (k == 0 and 1 or 1 + #cfg.controls) end
    end
  end
  return left
end

-- One training of the driver: M.train with the label and the experiment ETA.
local function fit(model, data, cfg, opts, seed, k, method)
  track.left = math.max(track.left - 1, 0)
  opts.label = ('seed %d · round %d/%d · %s'):format(seed, k, cfg.rounds, method)
  opts.after = track.n > 0 and track.left * track.secs / track.n or nil
  local ok, h = pcall(M.train, model, data, cfg, opts)
  if not ok then
    local msg = tostring(h)
    -- a diverged training says which one: seed, round and method (the rest propagates as it is)
    if msg:find('training diverged', 1, true) then
      U.user_error(('lotto.ticket: %s (seed %d, round %d, %s)'):format(U.strip(msg), seed, k, method))
    end
    error(h, 0)
  end
  track.n, track.secs = track.n + 1, track.secs + (h.seconds or 0)
  return h
end

-- Each row of metrics.jsonl names its seed, round, method and density, so the rows of a
-- run concatenate into one tidy table without parsing paths.
local function log_hist(run, seed, k, method, hist, density)
  for _, r in ipairs(hist.records or {}) do
    local rec = { method = method, seed = seed, round = k, density = density }
    for key, v in pairs(r) do if key ~= 'time' then rec[key] = v end end
    assert(run:log_metric(seed, k, rec))
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

-- Seeds derived from the replicate seed, one per purpose (a control, or the transfer) and round.
local function derived(seed, k, what)
  local off = what == 'transfer' and controls.TRANSFER_OFFSET or controls[what].seed_offset
  return seed * 100003 + k * 101 + off
end

-- The source run of a transfer and its tickets: returns function(seed, k) -> ticket.
local function source_of(cfg)
  local src = E.load(cfg.source.run)
  if not src then bad(("option 'source': '%s' is not a run directory"):format(cfg.source.run)) end
  return src, function(seed, k)
    local t, err = files.load(cfg.source.run, seed, k)
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
    transfer.transfer(model, get(seed, 0), { weights = 'init', reinit = cfg.source.reinit, init = cfg.init,
      seed = derived(seed, 0, 'transfer'), mask = false })
  end
  local theta0 = model:state()
  local hist = fit(model, data, cfg, { data_seed = seed, snapshots = { cfg.rewind }, earlybird = false }, seed, 0,
    get and 'transfer' or 'dense')
  local thetak = hist.snapshots[cfg.rewind] or theta0
  log_hist(run, seed, 0, 'ticket', hist, 1.0)
  files.save_values(rdir .. '/init.safetensors', model, theta0)
  files.save_values(rdir .. '/rewind.safetensors', model, thetak)
  files.save_mask(run:mask_path(seed, 0), model)
  files.save_values(run:round_dir(seed, 0) .. '/final.safetensors', model, model:state())
  local s = { round = 0, density = 1.0, remaining_pct = 100.0, rewind = cfg.rewind, layers = layer_densities(model),
              runs = { ticket = summarize(hist) }, seconds = now() - t0, cost = channels.summary(model) }
  assert(run:write_summary(seed, 0, s))
  say(cfg, 'seed %d round 0: 100.0%% remaining  dense %s (early stop at %s)  %.1f s',
    seed, score(s.runs.ticket), tostring(s.runs.ticket.early_stop_iter), s.seconds)
end

-- Trains each control of cfg.controls from the ticket (mask, rewound to state) and
-- records it in the round summary s.
local function train_controls(run, cfg, seed, data, model, k, state, mask, start, s, lr)
  for _, c in ipairs(cfg.controls) do
    ops.rewind(model, state, mask)
    local ctx = { state = state, mask = mask, seed = derived(seed, k, c), init = cfg.init, cfg = cfg,
                  start = start, round = k, replicate = seed,
                  seed_of = function(what) return derived(seed, k, what) end }
    local from = controls[c].apply(model, ctx)
    if from == nil then from = start end
    if math.type(from) ~= 'integer' or from < 0 then
      bad(("control '%s': apply returned %s, not a start iteration (an integer >= 0, or nil)"):format(c, tostring(from)))
    end
    local h = fit(model, data, cfg, { data_seed = seed, start = from, lr = lr }, seed, k, c)
    log_hist(run, seed, k, c, h, s.density)
    s.runs[c] = summarize(h)
  end
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
    transfer.transfer(model, get(seed, k), { weights = cfg.source.weights, reinit = cfg.source.reinit, init = cfg.init,
      seed = derived(seed, 0, 'transfer') })
    state = model:state()
    if cfg.source.weights ~= 'rewind' then start = 0 end
  else
    files.set_masks(model, files.load_file(run:mask_path(seed, k - 1)), run:mask_path(seed, k - 1))
    model:load_state(files.load_values(run:round_path(seed, k - 1) .. '/final.safetensors', model))
    model:apply_mask()
    local before = model:density()
    if type(cfg.prune) == 'function' then cfg.prune(model, k) else prune.magnitude(model, cfg.prune) end
    model:apply_mask()
    if model:density() >= before then
      say(cfg, 'seed %d round %d: pruning removed no weight; stopping', seed, k)
      return false
    end
    -- learning-rate rewinding and fine-tuning keep the trained survivors
    if cfg.reset ~= 'weights' then state = model:state() end
  end
  local lr = not get and cfg.reset == 'finetune' and final_lr(cfg, data) or nil
  local mask = model:masks():clone()
  run:begin_round(seed, k)
  files.save_mask(run:mask_path(seed, k), model)
  local s = { round = k, density = model:density(), rewind = start, layers = layer_densities(model), runs = {},
              cost = channels.summary(model) }
  s.remaining_pct = 100 * s.density

  ops.rewind(model, state, mask)
  local hist = fit(model, data, cfg, { data_seed = seed, start = start, lr = lr }, seed, k, 'ticket')
  log_hist(run, seed, k, 'ticket', hist, s.density)
  s.runs.ticket = summarize(hist)
  s.runs.ticket.trained_iterations = hist.iterations -- the iteration reached (early-bird stops sooner)
  local final = model:state()

  train_controls(run, cfg, seed, data, model, k, state, mask, start, s, lr)

  model:masks():copy(mask)
  model:load_state(final)
  model:apply_mask()
  files.save_values(run:round_dir(seed, k) .. '/final.safetensors', model, final)
  s.seconds = now() - t0
  assert(run:write_summary(seed, k, s))
  local parts = {}
  for _, c in ipairs(cfg.controls) do parts[#parts + 1] = ('  %s %s'):format(c, score(s.runs[c])) end
  say(cfg, 'seed %d round %d: %5.1f%% remaining  ticket %s (early stop at %s)%s  %.1f s',
    seed, k, s.remaining_pct, score(s.runs.ticket), tostring(s.runs.ticket.early_stop_iter),
    table.concat(parts), s.seconds)
  return true
end

local function run_replicate(run, cfg, seed, data, src)
  local model = config.build_model(cfg)
  local get = src and src.get
  if not run:round_done(seed, 0) then dense_round(run, cfg, seed, data, model, get) end
  local thetak = files.load_values(run:replicate_dir(seed) .. '/rewind.safetensors', model)
  for k = 1, cfg.rounds do
    if not run:round_done(seed, k - 1) then break end -- an earlier attempt stopped there
    local prev, perr = run:load_summary(seed, k - 1)
    if not prev then bad(perr) end
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
  for _, r in ipairs(fs.listdir(dir) or {}) do
    if r:match('^replicate_%d+$') then
      for _, k in ipairs(fs.listdir(dir .. '/' .. r) or {}) do
        if k:match('^round_%d+$') and fs.exists(dir .. '/' .. r .. '/' .. k .. '/summary.json') then return true end
      end
    end
  end
  return false
end

-- The run, once open: replicates, results.json, plots. Returns the results.
local function work(run, cfg, data, src)
  -- The dispatch crossovers are part of the run: a resumed run decides as it began.
  local pok, restore = pcall(sparse.pin, run.dir .. '/crossover.json')
  if not pok then bad(U.strip(restore)) end
  local rok, rerr = pcall(function()
    for _, seed in ipairs(cfg.seeds) do
      run_replicate(run, cfg, seed, data, src)
    end
  end)
  restore()
  if not rok then error(rerr, 0) end
  local results, timing = run:aggregate()
  if not results then bad(timing) end
  assert(run:write_results(results, timing))
  local drawn = false
  if cfg.plots then
    local plok, files_, perr = pcall(plot.run, run.dir, { quiet = true })
    if not plok and sys.interrupted() then error(files_, 0) end -- Ctrl-C is never swallowed
    if not plok then perr = files_ end
    if not plok or not files_ then say(cfg, 'plots not drawn: %s', tostring(perr)) else drawn = true end
  end
  return results, drawn
end

-- lotto.ticket.imp{...}: iterative magnitude pruning with the options of
-- lotto.ticket.defaults. Returns the aggregated results (as in results.json) and the run.
function M.imp(opts)
  local cfg = config.merge(config.defaults, opts)
  if cfg.threads then tensor.set_threads(cfg.threads) end
  local src
  if cfg.source then
    src = {}
    src.run, src.get = source_of(cfg)
  end
  -- Everything that can fail on a wrong option fails before the run directory is touched.
  local data = config.load_data(cfg)
  if type(cfg.prune) == 'table' then
    local ok, err = pcall(prune.magnitude, config.build_model(cfg), cfg.prune)
    if not ok then bad(("option 'prune': %s"):format(U.strip(err))) end
  end
  -- A run without a completed round holds nothing to protect: a new config replaces it
  -- (E.open refuses a directory that is not a run, and holds the run's lock).
  local restart = cfg.restart or not has_rounds(cfg.root .. '/' .. cfg.name)
  -- the default reset is stored as no key at all, so runs written before the option resume
  local stored = cfg
  if cfg.reset == 'weights' then
    stored = {}
    for k, v in pairs(cfg) do if k ~= 'reset' then stored[k] = v end end
  end
  local ok, run, err = pcall(E.open, { root = cfg.root, name = cfg.name, config = stored, restart = restart,
                                          defaults = config.defaults })
  if not ok or not run then bad(U.strip(ok and err or run)) end
  if run.resumed then say(cfg, 'resuming %s', run.dir) end
  track = { left = count_left(run, cfg), n = 0, secs = 0 }
  -- Everything under the run's lock; an error releases it (the process may go on).
  local rok, results, drawn = pcall(work, run, cfg, data, src)
  run:close()
  if not rok then error(results, 0) end
  say(cfg, 'results: %s/results.json%s', run.dir, drawn and ('   plots: ' .. run.dir .. '/plots/') or '')
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

return M
