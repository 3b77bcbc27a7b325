-- lotto.train: the training loop. fit() runs batches through the model's fused
-- C step (model:step_loss) and the C optimizer, evaluates, snapshots, stops
-- early on request, and returns a history table; the numbers stay in C.
local optim = require 'lotto.optim'
local progress = require 'lotto.progress'
local data_mod = require 'lotto.data'
local U = require 'lotto.util'
local checkpoint = require 'lotto.checkpoint'
local dst = require 'lotto.dst'
local targeted = require 'lotto.targeted_dropout'
local now = require('lotto.sys').now

local M = {}

local fit_keys = {
  optimizer = true, batch = true, epochs = true, iterations = true, seed = true, loss = true,
  schedule = true, eval_every = true, eval_batch = true, eval_at_start = true, on_eval = true,
  snapshots = true, progress = true, max_iterations = true, shuffle = true, start_iteration = true,
  dst = true, on_step = true, checkpoint = true, checkpoint_every = true,
  bn_l1 = true, augment = true, targeted_dropout = true,
  progress_label = true, progress_after = true,
}

-- Raises at the first caller outside the library, so the message names the user's line.
local function fail(msg) U.fail('lotto.train.fit', msg) end

-- Network slimming (Liu et al. 2017): the batchnorm scales (gamma) and the subgradient
-- lambda * sign(gamma) their L1 penalty adds to each step's gradient.
local function bn_scales(model, lambda)
  if lambda == nil or lambda == 0 then return nil end
  if type(lambda) ~= 'number' or not (lambda > 0) then fail("option 'bn_l1' must be a number >= 0") end
  local out = {}
  for _, p in ipairs(model:parameters()) do
    if p.kind == 'batchnorm' and p.name:match('%.weight$') then out[#out + 1] = p end
  end
  if #out == 0 then fail("option 'bn_l1': the model has no batchnorm layer") end
  return out
end

local function positive_int(opts, key, default) return U.int_opt(opts, key, default, 1, 'lotto.train.fit') end

local function is_nan_or_inf(x) return x ~= x or x == math.huge or x == -math.huge end

local function evaluate(model, ds, batch)
  if not ds then return nil, nil end
  local loss, acc = model:evaluate(ds, { batch = batch })
  if acc ~= acc then acc = nil end -- regression: no accuracy
  return loss, acc
end

-- Returns the loss kind for step_loss: explicit, or from the data set's classes.
local function loss_kind(opts, ds)
  if opts.loss ~= nil then
    local ok = ({ xent = 'xent', mse = 'mse', cross_entropy = 'xent', ce = 'xent' })[opts.loss]
    if not ok then fail(("option 'loss' must be 'xent' or 'mse' (got %s)"):format(tostring(opts.loss))) end
    return ok
  end
  return (ds:classes() or 0) > 0 and 'xent' or 'mse'
end

local function schedule_fn(s)
  if s == nil then return nil end
  if type(s) == 'function' then return s end
  if type(s) == 'table' and getmetatable(s) == nil then s = optim.schedule(s) end
  local ok, lr = pcall(function() return s:lr(0) end)
  if not ok or type(lr) ~= 'number' then fail("option 'schedule' must be a lotto.optim.schedule or a function(iter)") end
  return function(it) return s:lr(it) end
end

--- fit(model, {train = ds, val = ds, test = ds}, opts) -> history
-- Trains on data.train; evaluates on data.val and data.test when given. Options:
--   optimizer       an optimizer (lotto.optim.*) or a spec {kind = 'adam', lr = ...} (required)
--   batch = 60      epochs = n | iterations = n (default 1 epoch); max_iterations caps either
--   seed = 1        data-order seed (the loader's stream), independent of the model's init
--   loss            'xent' | 'mse' (default from the data set: classes > 0 -> xent)
--   schedule        lotto.optim.schedule{...} (or its option table) or function(iter) -> lr,
--                   set before each step
--   eval_every      iterations between evaluations (default: each epoch in epochs mode);
--                   always at the end, and at iteration 0 with eval_at_start = true
--   eval_batch = 1000
--   on_eval(rec, model)  called at each evaluation; return 'stop' to stop early
--   snapshots = {iters}  model:state() copies at these iterations (0 = before training)
--   progress        nil: a progress bar on a terminal, a plain line every LOTTO_PROGRESS_SECONDS
--                   (default 30) off one; true: the bar; false: nothing
--   progress_label  what the bar calls this run (default 'train'; IMP: 'seed 1 · round 3/8 · reinit')
--   progress_after  estimated seconds of the experiment left after this run (the bar's "all ETA")
--   start_iteration = k  continue a run at iteration k (data order, schedule, counts)
--   dst = {kind = 'rigl', ...}  masks that change during training (lotto.dst: static, set, rigl,
--                   momentum, gradual); the history gets its updates as hist.dst
--   targeted_dropout = {alpha = 0.5, gamma = 0.5, kind = 'weight'|'unit', seed =, layers =}
--                   each step drops, with probability alpha, each of the gamma fraction of
--                   lowest-|w| weights (or lowest-norm units) of every prunable layer
--                   (Gomez et al. 2019; lotto.targeted_dropout); hist.targeted_dropout
--                   gets the settings and the fraction dropped per step
--   on_step(it, model, x, y, opt)  called after each step (it = steps done)
--   checkpoint = path  the run's state is saved there (atomically) at each evaluation whose
--                   iteration is a multiple of checkpoint_every (default: every evaluation);
--                   a run that finds the file resumes from it, bit-identical to an
--                   uninterrupted run. The file is left in place at the end.
-- History: records = {{iter, epoch, train_loss, train_acc, val_loss, val_acc, test_loss,
-- test_acc, time}, ...}, final (the last record), early_stop (the record of minimum val
-- loss: iter, val_loss, val_acc, test_loss, test_acc; nil without val), snapshots[iter],
-- iterations (the iteration reached), epochs, seconds, start.
-- A NaN or infinite loss raises "training diverged: loss is nan at iteration N"; any error
-- (or an interrupt) leaves the model in training mode with its last completed step.
function M.fit(model, data, opts)
  opts = opts or {}
  if type(data) ~= 'table' or data.train == nil then fail('data must be a table {train = ds, val = ds, test = ds}') end
  U.check_options(opts, fit_keys, 'lotto.train.fit')
  local train_ds, val_ds, test_ds = data.train, data.val, data.test
  local batch = positive_int(opts, 'batch', 60)
  local eval_batch = positive_int(opts, 'eval_batch', 1000)
  local eval_every = positive_int(opts, 'eval_every', nil)
  local seed = opts.seed or 1
  local loss = loss_kind(opts, train_ds)
  local sched = schedule_fn(opts.schedule)
  local on_eval = opts.on_eval
  local slim, lambda = bn_scales(model, opts.bn_l1), opts.bn_l1
  if on_eval ~= nil and type(on_eval) ~= 'function' then fail("option 'on_eval' must be a function(record, model)") end

  -- A model that was never initialised is all zeros and would train silently at chance.
  local vals = model:values()
  if vals:numel() > 0 and vals:abs():max() == 0 then
    fail('the model is all zeros (never initialised): call model:init{seed = 1} first')
  end
  local opt = opts.optimizer
  if opt == nil then fail("option 'optimizer' is required (lotto.optim.adam(model, {...}) or {kind = 'adam', lr = ...})") end
  if type(opt) == 'table' and getmetatable(opt) == nil then opt = optim.make(model, opt) end

  -- Batches come transposed where the model's first layers take them (a sparse first layer then
  -- skips its transpose; same numbers), unless something else sees them: on_step, augmentation,
  -- targeted dropout.
  local transposed = model:takes_transposed() and opts.on_step == nil and not opts.augment
    and opts.targeted_dropout == nil
  local loader = data_mod.loader(train_ds, { batch = batch, seed = seed, shuffle = opts.shuffle ~= false,
    augment = opts.augment, transposed = transposed })
  -- Length: iterations, or epochs of the loader (iterations win if both are given).
  local per_epoch = loader:batches_per_epoch()
  local iterations = positive_int(opts, 'iterations', nil)
  local epochs = positive_int(opts, 'epochs', nil)
  if not iterations and not epochs then epochs = 1 end
  local total = iterations or epochs * per_epoch
  local cap = positive_int(opts, 'max_iterations', nil)
  if cap and cap < total then total = cap end
  -- start_iteration = k resumes a schedule at iteration k (late resetting): the data
  -- order, the schedule, eval_every and snapshots all count from 0 as in a full run.
  local start = opts.start_iteration or 0
  if math.type(start) ~= 'integer' or start < 0 then fail("option 'start_iteration' must be an integer >= 0") end
  loader:reset(start // per_epoch, start % per_epoch)
  if not eval_every and not epochs then eval_every = total end

  local snap_at = {}
  for _, it in ipairs(opts.snapshots or {}) do
    if math.type(it) ~= 'integer' or it < 0 then fail('snapshots must be a list of iterations >= 0') end
    snap_at[it] = true
  end

  local on_step = opts.on_step
  if on_step ~= nil and type(on_step) ~= 'function' then fail("option 'on_step' must be a function(it, model, x, y, opt)") end
  local sparse = opts.dst ~= nil and dst.new(model, opts.dst, total) or nil
  local td = opts.targeted_dropout ~= nil and targeted.new(model, opts.targeted_dropout, seed) or nil
  local ckpt = opts.checkpoint
  if ckpt ~= nil and type(ckpt) ~= 'string' then fail("option 'checkpoint' must be a file path") end
  local ckpt_every = positive_int(opts, 'checkpoint_every', 1)

  local hist = { records = {}, snapshots = {}, iterations = 0 }
  local resumed
  if ckpt then
    local fs_ok = require('lotto.fs').exists(ckpt)
    local err
    resumed, err = checkpoint.load(ckpt, model, opt)
    if fs_ok and not resumed then fail(("option 'checkpoint': %s (delete it to start over)"):format(err)) end
    if resumed then
      if math.type(resumed.iter) ~= 'integer' or resumed.iter > total then fail(("checkpoint '%s' does not belong to this run"):format(ckpt)) end
      start = resumed.iter
      hist.records = resumed.records or {}
      loader:reset(start // per_epoch, start % per_epoch)
      if td and not (resumed.targeted_dropout and td:set_state(resumed.targeted_dropout)) then
        fail(("checkpoint '%s' has no targeted-dropout generator (written by a run without that option?)"):format(ckpt))
      end
    end
  end
  if sparse then
    sparse:begin(resumed ~= nil)
    if resumed then sparse.updates = resumed.dst or {} end
  end
  local bar = progress.new { total = math.max(total - start, 0), enabled = opts.progress,
    label = opts.progress_label or 'train', after = opts.progress_after }
  local t0 = now() - (resumed and tonumber(resumed.elapsed) or 0) -- a resumed run's clock goes on
  local it, epoch, stop = start, start // per_epoch, false
  local first = resumed and resumed.start or start
  local sum_loss, sum_correct, seen, nbatches = 0.0, 0, 0, 0
  local last_eval_iter = -1
  local smooth          -- moving average of the batch loss, for the progress line

  local function record()
    local te = now()
    bar:clear()
    local rec = { iter = it, epoch = epoch }
    if nbatches > 0 then
      rec.train_loss = sum_loss / nbatches
      if loss == 'xent' then rec.train_acc = sum_correct / seen end
    end
    rec.val_loss, rec.val_acc = evaluate(model, val_ds, eval_batch)
    rec.test_loss, rec.test_acc = evaluate(model, test_ds, eval_batch)
    rec.time = now() - t0
    sum_loss, sum_correct, seen, nbatches = 0.0, 0, 0, 0
    hist.records[#hist.records + 1] = rec
    last_eval_iter = it
    if rec.val_acc then bar:set_acc(rec.val_acc, 'val') elseif rec.test_acc then bar:set_acc(rec.test_acc, 'test') end
    if on_eval and on_eval(rec, model) == 'stop' then stop = true end
    if ckpt and it % ckpt_every == 0 then
      assert(checkpoint.save(ckpt, model, opt, { iter = it, start = first, records = hist.records, elapsed = now() - t0,
        dst = sparse and sparse.updates or nil, targeted_dropout = td and td:state() or nil }))
    end
    bar:pause(now() - te)
  end

  local function snapshot()
    if snap_at[it] then hist.snapshots[it] = model:state() end
  end

  local function loop()
    model:train()
    if not resumed then model:apply_mask() end -- masks are exact from the first forward on (the optimizer relies on it)
    snapshot()
    if resumed then last_eval_iter = it elseif opts.eval_at_start then record() end
    while not stop and it < total do
      epoch = epoch + 1
      while not stop and it < total do
        local xb, yb = loader:next()
        if xb == nil then break end
        if sched then opt:set_lr(sched(it)) end
        local l, correct
        if td then l, correct = td:step_loss(xb, yb, loss) else l, correct = model:step_loss(xb, yb, loss) end
        if is_nan_or_inf(l) then
          U.user_error(('training diverged: loss is %s at iteration %d'):format(l ~= l and 'nan' or 'inf', it + 1))
        end
        if slim then
          for _, g in ipairs(slim) do g.grad:add_(g.value:sign():mul(lambda)) end
        end
        -- nothing touched the grads since step_loss: sparse layers step from their compact copies
        if slim or not opt.step_after_loss then opt:step() else opt:step_after_loss() end
        it = it + 1
        if sparse then sparse:after_step(it, xb, yb, opt, loss) end
        if on_step then on_step(it, model, xb, yb, opt) end
        sum_loss, nbatches = sum_loss + l, nbatches + 1
        sum_correct, seen = sum_correct + (correct or 0), seen + xb:size(1)
        snapshot()
        if eval_every and it % eval_every == 0 then record() end
        smooth = smooth and 0.95 * smooth + 0.05 * l or l
        bar:update(it - start, smooth)
      end
      if not eval_every and last_eval_iter ~= it then record() end
    end
    if last_eval_iter ~= it then record() end
  end

  local ok, err = pcall(loop)
  bar:finish()
  model:train()
  if not ok then error(err, 0) end

  hist.iterations = it      -- the iteration reached (counted from 0 even with start_iteration)
  hist.start = first
  hist.dst = sparse and sparse.updates or nil
  hist.targeted_dropout = td and td:summary() or nil
  hist.resumed_at = resumed and start or nil
  hist.epochs = epoch
  hist.seconds = now() - t0
  hist.final = hist.records[#hist.records]
  local best
  for _, r in ipairs(hist.records) do
    if r.val_loss and (not best or r.val_loss < best.val_loss) then best = r end
  end
  if best then hist.early_stop = { iter = best.iter, val_loss = best.val_loss, val_acc = best.val_acc, test_acc = best.test_acc, test_loss = best.test_loss } end
  return hist
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    fit = 'fit(model, {train =, val =, test =}, {optimizer =, batch = 60, epochs = | iterations =, seed = 1, '
      .. "loss = 'xent'|'mse', schedule =, eval_every =, eval_batch = 1000, eval_at_start = false, on_eval = f(rec, model), "
      .. "snapshots = {iters}, progress = nil|true|false, progress_label =, progress_after =, max_iterations =, shuffle = true, start_iteration = 0, dst = {kind = 'rigl', ...}, "
      .. "targeted_dropout = {alpha = 0.5, gamma = 0.5, kind = 'weight'|'unit'}, on_step = f(it, model, x, y, opt), "
      .. 'checkpoint = path, checkpoint_every =}) -> hist {records, early_stop, final, snapshots, iterations, seconds}',
  })
end

return M
