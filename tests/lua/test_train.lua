-- test_train.lua: lotto.train.fit on small synthetic tasks — the loss falls,
-- early stopping, snapshots, determinism, divergence and interrupt handling,
-- schedules, options — and the progress bar.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, optim, data, train = lotto.tensor, lotto.nn, lotto.optim, lotto.data, lotto.train

local function mlp(nin, nhid, nout, seed)
  local m = nn.model(nn.sequential{ nn.linear(nin, nhid), nn.relu(), nn.linear(nhid, nout) }, { input = { nin } })
  m:init{ seed = seed or 1 }
  return m
end

-- Two-class problem: label 1 when x1 + x2 > 0.
local function blobs(n, seed)
  local x = tensor.randn({ n, 4 }, seed)
  local y = tensor.zeros{ n }
  for i = 1, n do y:set(i, (x:get(i, 1) + x:get(i, 2) > 0) and 1 or 0) end
  return data.from_tensors(x, y, { classes = 2 })
end
local cls = { train = blobs(600, 1), val = blobs(200, 2), test = blobs(200, 3) }
local reg = { train = data.sum_of_two{ n = 800, seed = 1 }, val = data.sum_of_two{ n = 200, seed = 2 } }

-- Regression (sum of two): MSE is chosen from the data, the loss falls
do
  local m = mlp(2, 16, 1)
  local h = train.fit(m, reg, { optimizer = optim.sgd(m, { lr = 0.05, momentum = 0.9 }), batch = 20,
    iterations = 400, eval_every = 100, eval_at_start = true, progress = false })
  T.check_eq(#h.records, 5)
  T.check_eq(h.records[1].iter, 0)
  T.check_eq(h.iterations, 400)
  T.check(h.records[1].val_loss > 20 * h.final.val_loss,
    ('val loss falls: %g -> %g'):format(h.records[1].val_loss, h.final.val_loss))
  T.check(h.final.val_acc == nil, 'no accuracy for regression')
  T.check(h.final.train_loss and h.final.train_loss < h.records[2].train_loss, 'train loss falls')
  T.check(h.seconds >= 0 and h.final.time <= h.seconds + 1e-6, 'times')
end

-- Classification: accuracy rises; early_stop is the record of minimum val loss
do
  local m = mlp(4, 32, 2)
  local h = train.fit(m, cls, { optimizer = { kind = 'adam', lr = 1e-2 }, batch = 30, epochs = 3,
    eval_every = 10, progress = false })
  T.check_eq(h.iterations, 3 * 20)
  T.check_eq(h.epochs, 3)
  T.check(h.final.val_acc > 0.9, 'val accuracy ' .. tostring(h.final.val_acc))
  T.check(h.final.test_acc > 0.9 and h.final.train_acc > 0.8, 'test and train accuracy')
  local best
  for _, r in ipairs(h.records) do if not best or r.val_loss < best.val_loss then best = r end end
  T.check_eq(h.early_stop.iter, best.iter)
  T.check_eq(h.early_stop.val_loss, best.val_loss)
  T.check_eq(h.early_stop.test_acc, best.test_acc)
  for i = 2, #h.records do T.check_eq(h.records[i].iter - h.records[i - 1].iter, 10) end
end

-- Without eval_every, epochs mode evaluates once per epoch
do
  local m = mlp(4, 8, 2)
  local h = train.fit(m, cls, { optimizer = { kind = 'sgd', lr = 0.1 }, batch = 60, epochs = 2, progress = false })
  T.check_eq(#h.records, 2)
  T.check_eq({ h.records[1].iter, h.records[1].epoch, h.records[2].iter, h.records[2].epoch }, { 10, 1, 20, 2 })
  h = train.fit(m, cls, { optimizer = { kind = 'sgd', lr = 0.1 }, batch = 60, epochs = 5, max_iterations = 13, progress = false })
  T.check_eq(h.iterations, 13)
  T.check_eq(h.final.iter, 13)
end

-- Same seeds, same bits; a different data seed changes the result
local function run(iters, data_seed, snaps)
  local m = mlp(4, 16, 2, 7)
  local h = train.fit(m, cls, { optimizer = optim.sgd(m, { lr = 0.1, momentum = 0.9 }), batch = 25,
    iterations = iters, seed = data_seed, snapshots = snaps, progress = false })
  return m, h
end
do
  local a = run(40, 5)
  local b = run(40, 5)
  local c = run(40, 6)
  T.check_eq(a:state(), b:state(), 'bit-identical runs')
  T.check(a:state():sub(c:state()):abs():max() > 0, 'data seed matters')
end

-- Snapshots equal the state at their iteration
do
  local m0 = mlp(4, 16, 2, 7)
  local m, h = run(30, 5, { 0, 7, 30, 99 })
  T.check_eq(h.snapshots[0], m0:state(), 'snapshot 0 is the initialisation')
  T.check_eq(h.snapshots[30], m:state(), 'snapshot at the last iteration')
  local m7 = run(7, 5)
  T.check_eq(h.snapshots[7], m7:state(), 'snapshot 7 equals a 7-iteration run')
  T.check_eq(h.snapshots[99], nil)
  T.check(h.snapshots[7] ~= h.snapshots[30] and h.snapshots[7]:sub(h.snapshots[30]):abs():max() > 0, 'snapshots are copies')
end

-- start_iteration resumes data order and schedule: with a stateless optimizer,
-- continuing from the snapshot at k reproduces the full run bit for bit
do
  local s = optim.schedule{ kind = 'multistep', lr = 0.2, milestones = { 15 }, gamma = 0.1 }
  local function fit(m, o)
    o.optimizer, o.schedule, o.batch, o.seed, o.progress = optim.sgd(m, { lr = 1 }), s, 25, 4, false
    return train.fit(m, cls, o)
  end
  local full = mlp(4, 16, 2, 9)
  local h = fit(full, { iterations = 60, snapshots = { 33 }, eval_every = 20 })   -- 24 batches an epoch
  local m = mlp(4, 16, 2, 9)
  m:load_state(h.snapshots[33])
  local h2 = fit(m, { iterations = 60, start_iteration = 33, eval_every = 20, snapshots = { 33, 50 } })
  T.check_eq(m:state(), full:state(), 'resumed run ends where the full run ends')
  T.check_eq(h2.snapshots[33], h.snapshots[33])
  T.check(h2.snapshots[50] ~= nil, 'snapshots count from 0')
  T.check_eq({ h2.records[1].iter, h2.records[1].epoch, h2.final.iter, h2.start, h2.iterations }, { 40, 2, 60, 33, 60 })
  T.checkerror(function() fit(m, { iterations = 5, start_iteration = -1 }) end, 'start_iteration')
end

-- A sparse mask: the model-bound optimizer (kept positions only) matches one on
-- plain tensors (full masked passes); pruned weights stay exactly 0 with 0 moments
do
  local function pruned()
    local m = mlp(4, 64, 2, 3)
    local masks = m:masks()
    for i = 1, #masks do if i % 10 ~= 0 then masks:set(i, 0) end end
    m:apply_mask()
    return m
  end
  local a, b = pruned(), pruned()
  local oa = optim.adam(a, { lr = 1e-2 })
  local ob = optim.adam{ params = b:values(), grads = b:grads(), mask = b:masks(), lr = 1e-2 }
  train.fit(a, cls, { optimizer = oa, iterations = 40, progress = false })
  train.fit(b, cls, { optimizer = ob, iterations = 40, progress = false })
  T.check_near(a:state(), b:state(), 1e-5, 'sparse path matches the dense masked path')
  local va, ma, mom = a:values(), a:masks(), oa:moment(2)
  local bad = 0
  for i = 1, #va do
    if ma:get(i) == 0 and (va:get(i) ~= 0 or mom:get(i) ~= 0) then bad = bad + 1 end
  end
  T.check_eq(bad, 0, 'pruned weights and moments stay zero')
  T.check(a:state():sub(pruned():state()):abs():max() > 0, 'kept weights trained')
end

-- A schedule sets the rate before each step (object or function)
do
  local m = mlp(4, 8, 2)
  local opt = optim.sgd(m, { lr = 1 })
  local s = optim.schedule{ kind = 'multistep', lr = 0.2, milestones = { 5, 10 }, gamma = 0.5 }
  train.fit(m, cls, { optimizer = opt, schedule = s, iterations = 12, progress = false })
  T.check_near(opt:lr(), 0.05, 1e-8)   -- the rate used at iteration 11
  local seen = {}
  train.fit(m, cls, { optimizer = opt, iterations = 4, progress = false,
    schedule = function(it) seen[#seen + 1] = it; return 0.01 end })
  T.check_eq(seen, { 0, 1, 2, 3 })
  T.check_near(opt:lr(), 0.01, 1e-9)
  train.fit(m, cls, { optimizer = opt, iterations = 3, progress = false, schedule = { lr = 0.3, warmup = 4 } })
  T.check_near(opt:lr(), 0.15, 1e-8)   -- 0.3 * 2/4 at iteration 2
end

-- on_eval sees every record and can stop training
do
  local m = mlp(4, 8, 2)
  local calls = 0
  local h = train.fit(m, cls, { optimizer = { kind = 'sgd', lr = 0.1 }, iterations = 100, eval_every = 5, progress = false,
    on_eval = function(rec, model)
      calls = calls + 1
      T.check(model == m and rec.val_acc ~= nil, 'on_eval gets the record and model')
      if rec.iter == 15 then return 'stop' end
    end })
  T.check_eq(calls, 3)
  T.check_eq(h.iterations, 15)
  T.check_eq(h.final.iter, 15)
end

-- Divergence names the iteration; errors and interrupts leave the model usable
do
  local m = mlp(4, 16, 2)
  local msg = T.checkerror(function()
    train.fit(m, cls, { optimizer = optim.sgd(m, { lr = 1e30 }), iterations = 50, progress = false })
  end, 'training diverged: loss is')
  local it = tonumber(tostring(msg):match('at iteration (%d+)$'))
  T.check(it and it >= 2 and it <= 50, 'iteration named: ' .. tostring(msg))
  T.check(m:is_training(), 'model left in training mode')

  local m2 = mlp(4, 8, 2)
  T.checkerror(function()
    train.fit(m2, cls, { optimizer = { kind = 'sgd', lr = 0.1 }, iterations = 20, eval_every = 5, progress = false,
      on_eval = function() m2:eval(); error('interrupted!', 0) end })
  end, '^interrupted!$')
  T.check(m2:is_training(), 'model back in training mode after an interrupt')
  local n = 0
  debug.sethook(function() n = n + 1; if n == 50 then error('interrupted!', 0) end end, '', 100)
  T.checkerror(function()
    train.fit(m2, cls, { optimizer = { kind = 'sgd', lr = 0.1 }, iterations = 10 ^ 6 // 1, progress = false })
  end, 'interrupted!')
  debug.sethook()
  local h = train.fit(m2, cls, { optimizer = { kind = 'sgd', lr = 0.1 }, iterations = 5, progress = false })
  T.check_eq(h.iterations, 5)
end

-- Misuse
do
  local m = mlp(4, 8, 2)
  T.checkerror(function() train.fit(m, cls, { iterations = 3 }) end, "option 'optimizer' is required")
  T.checkerror(function() train.fit(m, cls, { optimizer = { kind = 'sgd' }, epoch = 3 }) end, "unknown option 'epoch'")
  T.checkerror(function() train.fit(m, {}, { optimizer = { kind = 'sgd' } }) end, 'data must be a table')
  T.checkerror(function() train.fit(m, cls, { optimizer = { kind = 'sgd' }, batch = 0 }) end, "'batch' must be >= 1")
  T.checkerror(function() train.fit(m, cls, { optimizer = { kind = 'sgd' }, loss = 'hinge' }) end, "'loss' must be")
  T.checkerror(function() train.fit(m, cls, { optimizer = { kind = 'sgd' }, snapshots = { -1 } }) end, 'snapshots')
  T.checkerror(function() train.fit(m, cls, { optimizer = { kind = 'sgd' }, schedule = 3 }) end, "'schedule'")
end

-- Progress bar: draws on demand with \r, silent when disabled
do
  local progress = require 'lotto.progress'
  local out = { buf = {} }
  function out:write(...) for _, s in ipairs{ ... } do self.buf[#self.buf + 1] = s end end
  function out:flush() end
  local bar = progress.new{ total = 100, enabled = true, out = out, label = 'train' }
  bar:set_acc(0.975)
  bar:update(50, 0.25, true)
  local line = table.concat(out.buf)
  T.check(line:sub(1, 1) == '\r' and line:find('50/100', 1, true) and line:find('it/s', 1, true)
    and line:find('ETA', 1, true) and line:find('loss 0.2500', 1, true) and line:find('acc 97.50%', 1, true), line)
  bar:finish()
  T.check_eq(out.buf[#out.buf], '\n')
  local quiet = { n = 0 }
  function quiet:write() self.n = self.n + 1 end
  function quiet:flush() end
  local off = progress.new{ total = 10, enabled = false, out = quiet }
  off:update(5, 1, true); off:clear(); off:finish(10, 1)
  T.check_eq(quiet.n, 0)
end

T.report()
