-- test_experiment.lua: the run store — open/resume, config mismatch messages, restart,
-- round completion and begin_round, metrics lines, aggregation over 2 seeds x 3 rounds,
-- and results.json free of timings (byte-identical across reruns).
local E = lotto.experiment
local json = lotto.json
local fs = require 'lotto.fs'

package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local check = C.check
local function checkerror(fn, pattern) return C.checkerror(fn, pattern) end
local function close(a, b) return type(a) == 'number' and math.abs(a - b) < 1e-12 end
local function slurp(p)
  local f = assert(io.open(p, 'rb'))
  local s = f:read('a')
  f:close()
  return s
end

local root = (os.getenv('LOTTO_TEST_TMP') or 'tmp') .. '/test_experiment'
assert(fs.remove_tree(root))
local cfg = { lr = 0.0012, model = { arch = 'lenet', hidden = { 300, 100 } }, rate = 0.2, threads = 2, _volatile = { 'threads' } }

-- open creates the directory and config.json
local run = E.open { root = root, name = 'lenet_imp', config = cfg }
check(run.dir == root .. '/lenet_imp' and not run.resumed, 'new run')
check(fs.isdir(run.dir), 'run dir created')
check(json.read(run.dir .. '/config.json').lr == 0.0012, 'config.json written')

-- rounds: paths, completion, summaries, metrics
local rd = run:round_dir(1, 0)
check(rd == run.dir .. '/replicate_1/round_0' and fs.isdir(rd), 'round_dir creates ' .. rd)
check(not run:round_done(1, 0), 'round not done before its summary')
check(run:load_summary(1, 0) == nil, 'no summary yet')
run:log_metric(1, 0, { method = 'ticket', iter = 100, test_acc = 0.5 })
run:log_metric(1, 0, { method = 'reinit', iter = 100, test_acc = 0.4 })
run:log_metric(1, 0, { method = 'ticket', iter = 200, test_acc = 0.6 })
check(run:metrics_path(1, 0) == rd .. '/metrics.jsonl', 'metrics path')
local m = run:load_metrics(1, 0, 'ticket')
check(#m == 2 and m[2].iter == 200, 'metrics filtered by method')
check(#run:load_metrics(1, 0) == 3, 'all metrics')
check(run:mask_path(1, 0) == rd .. '/mask.safetensors', 'mask path')

-- begin_round clears an interrupted attempt
assert(io.open(run:mask_path(1, 0), 'w')):close()
run:begin_round(1, 0)
check(not fs.exists(run:metrics_path(1, 0)) and not fs.exists(rd .. '/mask.safetensors'), 'begin_round removes stale files')
check(fs.isdir(rd), 'begin_round leaves the round dir')
checkerror(function() run:round_dir(-1, 0) end, 'seed must be a non-negative integer', 'bad seed')
checkerror(function() run:round_dir(1, 0.5) end, 'round must be a non-negative integer', 'bad round')

-- hand-made summaries: 2 seeds x 3 rounds
local acc = { [1] = { 0.98, 0.985, 0.97 }, [2] = { 0.96, 0.975, 0.95 } }
local function summary(seed, k)
  local d = 0.8 ^ k
  local es = 1000 * (k + 1) + seed * 100
  return {
    round = k, density = d, remaining_pct = d * 100, layers = { ['fc1.weight'] = d },
    runs = {
      ticket = { early_stop_iter = es, early_stop_test_acc = acc[seed][k + 1], final_test_acc = acc[seed][k + 1] - 0.01, final_iter = 5000 },
      reinit = { early_stop_iter = es + 500, early_stop_test_acc = acc[seed][k + 1] - 0.05 * k, final_test_acc = 0.9, final_iter = 5000,
        train_seconds = 3.5 },
    },
    seconds = 12.3 + seed + k,
  }
end
for seed = 1, 2 do
  for k = 0, 2 do
    run:write_summary(seed, k, summary(seed, k))
  end
end
check(run:round_done(2, 2), 'round done after its summary')
check(run:load_summary(2, 1).runs.ticket.early_stop_test_acc == 0.975, 'summary read back')
local res, timing = run:aggregate()
check(#res.aggregate == 3, 'three rounds aggregated')
local a1 = res.aggregate[2]
check(a1.round == 1 and close(a1.remaining_pct, 80), 'round 1 at 80% remaining')
local st = a1.methods.ticket.early_stop_test_acc
check(close(st.mean, 0.98) and st.n == 2 and st.min == 0.975 and st.max == 0.985, 'mean/min/max/n')
check(close(st.std, math.sqrt(2) * 0.005), 'sample std over two seeds: ' .. tostring(st.std))
local ei = res.aggregate[3].methods.reinit.early_stop_iter
check(ei.mean == 3650 and close(ei.std, math.sqrt(5000)), 'early_stop_iter stats')
check(res.aggregate[1].methods.ticket.early_stop_test_acc.std > 0, 'std non-zero')
check(close(res.dense.early_stop_test_acc.mean, 0.97), 'dense = round 0 ticket')
check(res.aggregate[3].methods.reinit.train_seconds == nil, 'timing keys not aggregated')
check(#res.replicates['1'] == 3 and res.replicates['2'][3].round == 2, 'replicates listed by seed')
check(res.replicates['1'][1].seconds == nil, 'summaries in results lose timing')
check(res.config.threads == nil and res.config.lr == 0.0012, 'volatile keys not in results config')
check(close(timing.replicates['2'][2].seconds, 15.3) and timing.replicates['2'][2].round == 1, 'timing kept aside')
check(timing.replicates['1'][1].runs.reinit.train_seconds == 3.5, 'nested timing kept aside')
run:write_results(res, timing)
local text = slurp(run.dir .. '/results.json')
check(not text:find('seconds') and not text:find('"time"'), 'results.json has no timing fields')
check(close(json.read(run.dir .. '/timing.json').replicates['1'][1].seconds, 13.3), 'timing.json written')
local blas = json.read(run.dir .. '/timing.json').blas
check(blas and blas.library == 'OpenBLAS' and blas.kernel == lotto.tensor.blas_info().kernel
  and math.type(blas.threads) == 'integer' and blas.threads >= 1 and type(blas.version) == 'string'
  and blas.forced ~= nil, 'timing.json records the BLAS library, version, kernel and threads')
check(json.read(run.dir .. '/timing.json').winograd == require('lotto.nn').winograd(), 'timing.json records the Winograd setting')
check(json.read(run.dir .. '/timing.json').winograd_tile == select(2, require('lotto.nn').winograd()), 'and its tile')

-- resume: same config (threads volatile) reopens; results stay byte-identical
run:close() -- one writer per run, also within a process
local run2 = E.open { root = root, name = 'lenet_imp', config = { lr = 0.0012, model = { arch = 'lenet', hidden = { 300, 100 } }, rate = 0.2, threads = 8, _volatile = { 'threads' } } }
check(run2.resumed and run2:round_done(1, 2), 'resumed run sees completed rounds')
run2:write_summary(1, 2, (function() local s = summary(1, 2); s.seconds = 99; return s end)())
run2:write_results(run2:aggregate())
check(slurp(run.dir .. '/results.json') == text, 'results.json byte-identical after a rerun with other timings and threads')
run2:close()

-- config mismatch names the differing keys
local bad = { lr = 0.1, model = { arch = 'lenet', hidden = { 300, 100 } }, rate = 0.2 }
checkerror(function() E.open { root = root, name = 'lenet_imp', config = bad } end,
  "run '" .. root .. "/lenet_imp' exists with a different config (lr: 0.0012 -> 0.1)", 'mismatch message')
checkerror(function() E.open { root = root, name = 'lenet_imp', config = bad } end, 'use restart = true', 'mismatch hint')
local bad2 = { lr = 0.0012, model = { arch = 'lenet', hidden = { 300, 50 } }, rate = 0.2, extra = 'x' }
checkerror(function() E.open { root = root, name = 'lenet_imp', config = bad2 } end,
  '(extra: absent -> "x", model.hidden[2]: 100 -> 50)', 'nested and added keys')
check(fs.exists(run.dir .. '/replicate_1/round_2/summary.json'), 'mismatch leaves the run alone')

-- a key one side lacks counts as its default: an option added after the run was made
-- resumes at its default, and is a difference at any other value (nested too)
local D = { lr = 0.001, rate = 0.2, reset = 'weights', model = { arch = 'lenet', dropout = 0 } }
local base = { lr = 0.0012, model = { arch = 'lenet', hidden = { 300, 100 } }, rate = 0.2 }
local withdef = { lr = 0.0012, model = { arch = 'lenet', hidden = { 300, 100 }, dropout = 0 }, rate = 0.2, reset = 'weights' }
local r4 = E.open { root = root, name = 'lenet_imp', config = withdef, defaults = D }
check(r4.resumed and r4:round_done(1, 2), 'new keys at their defaults (top level and nested) resume the run')
r4:close()
check(json.read(run.dir .. '/config.json').reset == 'weights', 'the resumed run stores the new key')
local r5 = E.open { root = root, name = 'lenet_imp', config = base, defaults = D }
check(r5.resumed, 'dropping keys that are at their defaults is the same run')
r5:close()
checkerror(function()
  E.open { root = root, name = 'lenet_imp', config = { lr = 0.0012, model = { arch = 'lenet', hidden = { 300, 100 } }, rate = 0.2, reset = 'lr' }, defaults = D }
end, '(reset: "weights" -> "lr")', 'a key off its default is a difference')
checkerror(function()
  E.open { root = root, name = 'lenet_imp', config = { lr = 0.0012, model = { arch = 'lenet', hidden = { 300, 100 }, dropout = 0.5 }, rate = 0.2 }, defaults = D }
end, 'model.dropout: 0 -> 0.5', 'nested key off its default')
checkerror(function() E.open { root = root, name = 'lenet_imp', config = base, defaults = 3 } end,
  'defaults must be a table', 'defaults type')

-- restart deletes the old run
local run3 = E.open { root = root, name = 'lenet_imp', config = bad, restart = true }
check(not run3.resumed and not fs.exists(run3.dir .. '/replicate_1') and json.read(run3.dir .. '/config.json').lr == 0.1, 'restart')

-- names are checked before anything is deleted
checkerror(function() E.open { root = root, name = '../x', restart = true } end, 'name must be', 'dotdot name')
checkerror(function() E.open { root = root, name = '' } end, 'name must be', 'empty name')
checkerror(function() E.open('x') end, 'table expected', 'open needs a table')

-- E.load reads an existing run for plotting
local empty, eerr = E.load(run3.dir .. '/')
check(empty == nil and eerr:find('no summaries'), 'load of an empty run: ' .. tostring(eerr))
run3:write_summary(3, 0, summary(2, 0))
local loaded = assert(E.load(run3.dir .. '/'))
check(loaded.name == 'lenet_imp' and loaded.config.lr == 0.1 and loaded.dir == run3.dir, 'load reads config')
check(close(loaded.results.dense.early_stop_test_acc.mean, 0.96), 'load aggregates')
local r3 = E.open { root = root, name = 'other', config = {} }
r3:write_summary(5, 0, summary(1, 0))
local l3 = assert(E.load(r3.dir))
check(l3.results.aggregate[1].methods.ticket.early_stop_iter.mean == 1100, 'load aggregates summaries')
local none, err = E.load(root .. '/nothing')
check(none == nil and err:find('not a run directory'), 'load of a non-run: ' .. tostring(err))

fs.remove_tree(root)
C.report()
