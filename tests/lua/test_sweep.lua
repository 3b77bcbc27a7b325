-- test_sweep.lua: lotto.sweep without running a model: cell keys and the grid product,
-- dotted overrides, the checks on a sweep table (each error names the bad key), the
-- store (a changed base is refused), unit states as status shows them, collect over
-- hand-made units (hand-worked mean/std/min/max; a unit not marked done is not read),
-- the command-line options and the Slurm batch script.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local check, check_eq, check_near, checkerror = C.check, C.check_eq, C.check_near, C.checkerror
local S = require 'lotto.sweep'
local U = require 'lotto.sweep.state'
local slurm = require 'lotto.sweep.slurm'
local proc = require 'lotto.proc'
local json = require 'lotto.json'
local fs = json.fs

local root = (os.getenv('LOTTO_TEST_TMP') or 'tmp') .. '/test_sweep'
assert(fs.remove_tree(root))

-- ---- cell keys ---------------------------------------------------------------------
check_eq(S.cell_key({}), 'base')
check_eq(S.cell_key({ rewind = 100, ['prune.rate'] = 0.2 }), 'prune.rate=0.2,rewind=100', 'sorted, readable')
check_eq(S.cell_key({ lr = 1e-3, on = true, kind = 'sgd' }), 'kind=sgd,lr=0.001,on=true')
check_eq(S.cell_key({ controls = { 'reinit', 'random' }, rewind = 0 }), 'controls=reinit+random,rewind=0', 'a list reads a+b')
check(S.cell_key({ opt = { lr = 0.1 } }):match('^opt=__lr__0%.1_%-%x+$') ~= nil, 'a table: JSON, sanitised, hashed')
check_eq(S.cell_key({ x = 0.1 + 0.2 }), 'x=0.30000000000000004', 'a float that %.6g would round keeps every digit')
local k1 = S.cell_key({ model = 'my net' })
check(k1:match('^model=my_net%-%x%x%x%x%x%x%x%x$') ~= nil, 'unsafe characters: replaced, hash appended: ' .. k1)
check(S.cell_key({ model = 'my/net' }) ~= k1, 'two values sanitised alike still get different keys')
local long = { ['optimizer.lr'] = 0.0012, ['optimizer.kind'] = 'adam', ['prune.rate'] = 0.2, rewind = 1000, batch = 60 }
local kl = S.cell_key(long)
check(#kl <= 57 and kl:match('%-%x+$') ~= nil, 'a long key is cut and hashed: ' .. kl)
check_eq(S.cell_key(long), kl, 'keys are stable')

-- ---- overrides and the grid --------------------------------------------------------
local base = { prune = { rate = 0.2, output_rate = 0.1 }, rewind = 0 }
local cfg = S.apply(base, { ['prune.rate'] = 0.5, ['optimizer.lr'] = 0.1 })
check_eq(cfg.prune, { rate = 0.5, output_rate = 0.1 }, 'nested key set, sibling kept')
check_eq(cfg.optimizer, { lr = 0.1 }, 'missing tables created')
check_eq(base.prune.rate, 0.2, 'base untouched')
checkerror(function() S.apply(base, { ['rewind.k'] = 1 }) end, "grid key 'rewind.k': base.rewind is a number, not a table")

local cells = S.cells { grid = { rewind = { 0, 100 }, ['prune.rate'] = { 0.3, 0.2 } },
  cells = { { rewind = 500 }, { rewind = 0, ['prune.rate'] = 0.3 } } }
local keys = {}
for i, c in ipairs(cells) do keys[i] = c.key end
check_eq(keys, { 'prune.rate=0.3,rewind=0', 'prune.rate=0.3,rewind=100', 'prune.rate=0.2,rewind=0',
  'prune.rate=0.2,rewind=100', 'rewind=500' }, 'grid keys sorted, values in order, explicit cells after, duplicates once')
check_eq(#S.cells { cells = { { rewind = 1 } } }, 1, 'explicit cells alone')
check_eq(S.cells {}[1].key, 'base', 'no grid: the base cell')

-- ---- checks on the sweep table ------------------------------------------------------
local function spec(t)
  local s = { name = 'sw', root = root, base = { model = 'lenet300', iterations = 100 }, grid = { rewind = { 0, 10 } }, seeds = { 1, 2 } }
  for k, v in pairs(t or {}) do s[k] = v end
  return s
end
checkerror(function() S.normalize(spec { seed = 1 }) end, "unknown option 'seed' (did you mean 'seeds'?)")
checkerror(function() S.normalize(spec { name = 'a b' }) end, "option 'name'")
checkerror(function() S.normalize(spec { base = { seeds = { 1 } } }) end, "base.seeds is set by the sweep")
checkerror(function() S.normalize(spec { base = { rewnd = 1 } }) end, "base.rewnd is not an option of imp (did you mean 'rewind'?)")
checkerror(function() S.normalize(spec { base = { model = function() end } }) end, 'base.model is a function')
checkerror(function() S.normalize(spec { grid = { rewind = 5 } }) end, "grid['rewind'] must be a non-empty list")
checkerror(function() S.normalize(spec { grid = { rewnd = { 1 } } }) end, "grid key 'rewnd': 'rewnd' is not an option of imp")
checkerror(function() S.normalize(spec { grid = { threads = { 1, 2 } } }) end, "grid key 'threads' is set by the sweep")
checkerror(function() S.normalize(spec { cells = { { prune = print } } }) end, 'cells[1].prune is a function')
checkerror(function() S.normalize(spec { seeds = { 1, -2 } }) end, 'seeds[2] must be a non-negative integer')
checkerror(function() S.normalize(spec { threads = 0 }) end, "option 'threads' must be a positive integer")
checkerror(function() S.normalize(spec { driver = 'nosuchmodule.run' }) end, "driver 'nosuchmodule.run'")
checkerror(function() S.normalize(spec { driver = 'lotto.json.nosuch' }) end, 'has no function nosuch')
checkerror(function() S.normalize(spec { grid = { ['iterations.x'] = { 1 } } }) end, 'base.iterations is a number, not a table')
checkerror(function() S(spec { backend = 'pbs' }) end, "option 'backend' must be 'local' or 'slurm'")
local s = S.normalize(spec())
check_eq(s.threads, 1, 'threads default to 1: results do not depend on the machine')
check_eq(#S.units(s), 4, '2 cells x 2 seeds')
check_eq(S.units(s)[2].id, 'rewind=0/2')
check_eq(S.units(s)[2].dir, root .. '/sw/rewind=0/replicate_2')

local ucfg = S.unit_config(s, S.units(s)[3], 4)
check(ucfg.rewind == 10 and ucfg.seeds[1] == 1 and #ucfg.seeds == 1 and ucfg.threads == 4, 'unit config: cell, one seed, threads')
check(ucfg.name == 'replicate_1' and ucfg.root == root .. '/sw/rewind=10' and ucfg.restart == false, 'unit config: its own run')
check(ucfg.plots == false and ucfg.progress == false, 'units draw no plots and no progress bars')

-- ---- command-line options -----------------------------------------------------------
local o, rest = S.options { '--full', '--backend', 'slurm', '--jobs=3', '--dry-run', 'x' }
check_eq(o, { backend = 'slurm', jobs = 3, dry_run = true }, 'sweep options')
check_eq(rest, { '--full', 'x' }, 'the rest is for the script')
checkerror(function() S.options { '--jobs', 'two' } end, '--jobs must be a positive integer')
checkerror(function() S.options { '--backend' } end, '--backend needs a value')
check_eq(S.options { '--no-collect' }.collect, false)

-- ---- the store ---------------------------------------------------------------------
local dir = S.open(s)
check(fs.exists(dir .. '/sweep.json') and fs.exists(dir .. '/rewind=10/cell.json'), 'sweep.json and cell.json written')
check_eq(json.read(dir .. '/rewind=10/cell.json').overrides, { rewind = 10 })
local s2 = S.normalize(spec { grid = { rewind = { 0, 10, 20 } }, seeds = { 1, 2, 3 } })
local _, reopened = S.open(s2)
check(reopened, 'a grown grid reopens the sweep')
check_eq(#S.units(S.load(dir)), 9, 'sweep.json holds the new grid')
checkerror(function() S.open(S.normalize(spec { base = { model = 'lenet300', iterations = 200 } })) end,
  "exists with a different config (base.iterations: 100 -> 200)")
checkerror(function() S.open(S.normalize(spec { driver = 'one_shot' })) end, 'driver: imp -> one_shot')
check(S.load(root .. '/nothing') == nil, 'load of a non-sweep: nil, message')

-- ---- unit states -------------------------------------------------------------------
local units = S.units(s2, dir)
local function state(u, t) assert(json.write(u.state_path, t)) end
local function summary(u, k, acc, density)
  local d = ('%s/replicate_%d/round_%d'):format(u.dir, u.seed, k)
  assert(fs.mkdir_p(d))
  assert(json.write(d .. '/summary.json', { round = k, density = density, remaining_pct = 100 * density, seconds = 1.5,
    runs = { ticket = { early_stop_test_acc = acc, early_stop_iter = 100 * (k + 1) } } }))
  assert(json.write(u.dir .. '/config.json', {}))
end
-- cell rewind=0: seeds 1 and 2 done, seed 3 "running" in a process that is gone
summary(units[1], 0, 0.9, 1.0); summary(units[1], 1, 0.8, 0.5)
summary(units[2], 0, 0.8, 1.0); summary(units[2], 1, 0.6, 0.5)
summary(units[3], 0, 0.0, 1.0) -- half-finished: must not be read
state(units[1], { state = 'done', seconds = 3.25, rounds_seconds = 3, overhead_seconds = 0.25 })
state(units[2], { state = 'done', seconds = 3.5 })
local gone = proc.spawn { '/bin/true' }
proc.wait(gone)
state(units[3], { state = 'running', host = proc.hostname(), pid = gone })
state(units[4], { state = 'failed', error = "lotto.ticket: option 'data': MNIST not found" })
state(units[5], { state = 'interrupted', rounds_done = 2 })
state(units[6], { state = 'running', host = proc.hostname(), pid = proc.pid() })
state(units[7], { state = 'running', host = 'node17', pid = 1, job = '42_6' })
local want = { 'done', 'done', 'pending', 'failed', 'pending', 'running', 'running', 'pending', 'pending' }
for i, u in ipairs(units) do
  local st, note = U.classify(u)
  check_eq(st, want[i], u.id .. ' (' .. note .. ')')
end
check(select(2, U.classify(units[3])):find('gone', 1, true), 'a dead worker is named')
check_eq(select(2, U.classify(units[4])), "lotto.ticket: option 'data': MNIST not found", 'the error line of a failed unit')
check(select(2, U.classify(units[5])):find('interrupted after 2 rounds', 1, true), 'interrupted units resume')
check(select(2, U.classify(units[7])):find('job 42_6 on node17', 1, true), 'a Slurm task is named by its job')
check_eq(U.classify(units[7], nil, { ['42_5'] = true }), 'pending', 'a Slurm task that squeue no longer lists')
check_eq(U.classify(units[7], nil, { ['42_6'] = true }), 'running', 'a Slurm task that squeue lists')
local sv = U.survey(s2, dir)
check(sv.done == 2 and sv.running == 2 and sv.failed == 1 and sv.pending == 4, 'survey counts')
-- a unit running in another live process of this machine is not started twice
local sleeper = proc.spawn { '/bin/sh', '-c', 'sleep 30' }
state(units[9], { state = 'running', host = proc.hostname(), pid = sleeper })
check_eq(U.run(dir, units[9].id), 75, 'a unit running here is refused: try again later (75)')
check_eq(U.read(units[9]).pid, sleeper, 'and its state is left alone')
proc.kill(sleeper, 'KILL', true) -- the group: sh and its sleep
proc.wait(sleeper)
assert(fs.remove(units[9].state_path))

-- ---- collect -------------------------------------------------------------------------
local res, missing = S.collect(dir, { quiet = true, plots = false })
check_eq(#missing, 7, 'seven units missing')
check(res.complete == false, 'partial')
local c0 = res.cells[1]
check_eq(c0.key, 'rewind=0')
check_eq(c0.seeds, { 1, 2 }, 'only the done seeds')
local r1 = c0.aggregate[2].methods.ticket.early_stop_test_acc
check_near(r1.mean, 0.7, 1e-12, 'round 1 mean of 0.8 and 0.6')
check_near(r1.std, math.sqrt(0.02), 1e-12, 'sample std: sqrt(((0.1)^2 + (0.1)^2) / 1)')
check(r1.min == 0.6 and r1.max == 0.8 and r1.n == 2, 'min, max, n')
check_near(c0.aggregate[1].methods.ticket.early_stop_test_acc.mean, 0.85, 1e-12, 'round 0: the half-finished seed 3 is not read')
check_eq(c0.aggregate[2].remaining_pct, 50.0)
check_eq(#res.cells[2].aggregate, 0, 'a cell with nothing done')
local saved = json.read(dir .. '/results.json')
check_near(saved.cells[1].aggregate[2].methods.ticket.early_stop_test_acc.mean, 0.7, 1e-12, 'results.json written')
check(json.read(dir .. '/rewind=0/results.json').replicates['2'] ~= nil, "the cell's results.json holds its replicates")
local timing = json.read(dir .. '/timing.json')
check_eq(timing.units['rewind=0/1'].overhead_seconds, 0.25, 'unit times go to timing.json')
check(not json.encode(saved):find('seconds', 1, true), 'results.json holds no timings')

-- ---- Slurm batch script -------------------------------------------------------------
checkerror(function() slurm.options({ partiton = 'gpu' }, 1) end, "unknown option slurm.partiton (did you mean 'partition'?)")
checkerror(function() slurm.options({ cpus_per_task = 0 }, 1) end, 'slurm.cpus_per_task must be a positive integer')
checkerror(function() slurm.options({ extra = { 'a\nb' } }, 1) end, 'slurm.extra[1] must be one line')
checkerror(function() slurm.options({ time = '1 day' }, 1) end, 'slurm.time must be a string or number without spaces')
local so = slurm.options({ partition = 'gpu', account = 'lab', time = '02:00:00', mem = '4G', max_parallel = 2,
  extra = { '--gres=gpu:1' } }, 3)
local text = slurm.script(s, dir, { units[1], units[2], units[4], units[5] }, so)
for _, line in ipairs { '#SBATCH --array=0-3%2', '#SBATCH --cpus-per-task=3', '#SBATCH --partition=gpu', '#SBATCH --account=lab',
  '#SBATCH --time=02:00:00', '#SBATCH --mem=4G', '#SBATCH --gres=gpu:1', '#SBATCH --requeue', "  'rewind=10/1'" } do
  check(text:find('\n' .. line .. '\n', 1, true), 'batch script line ' .. line)
end
check(text:find('sweep unit .*"%${UNITS%[%$SLURM_ARRAY_TASK_ID%]}"') ~= nil, 'each task runs its unit')
check(not slurm.script(s, dir, units, slurm.options({ requeue = false }, 1)):find('--requeue', 1, true), 'requeue = false')

-- a dry run writes nothing
local out = S(spec { name = 'dry', backend = 'slurm', dry_run = true, quiet = true })
check(out.todo == 4 and not fs.exists(root .. '/dry'), 'dry run: 4 units, nothing written')

C.report()
