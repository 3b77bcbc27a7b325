-- test_resume.lua: a killed IMP run, run again, resumes at the round it was in and ends
-- with a results.json byte-identical to an uninterrupted run — for a child `lotto`
-- process that dies mid-run (leaving a half-written round behind), for a run extended
-- from 1 to 3 rounds, and for a round whose summary was lost. Late resetting (rewind
-- to iteration 5) and Adam make every round depend on the stored θk and masks.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, prune, ticket, io_ = lotto.tensor, lotto.nn, lotto.data, lotto.prune, lotto.ticket, lotto.io
local fs = lotto.fs

local ROOT = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_resume'
local ITERS = os.getenv('LOTTO_ASAN') and 40 or 80

local function blobs(n, seed)
  local x = tensor.randn({ n, 5 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do y:set(i, (x:get(i, 1) > 0 and 1 or 0) + (x:get(i, 2) > 0 and 1 or 0)) end
  return data.from_tensors(x, y, { classes = 3 })
end

-- The run's config. The child process (LOTTO_RESUME_CHILD = root) wraps the prune
-- function so that it dies (os.exit, no cleanup) at its LOTTO_CRASH_AT-th call;
-- the parent then adds the debris of a kill in the middle of that round.
local function config(root, rounds)
  return {
    name = 'resume', root = root, rounds = rounds, seeds = { 1, 2 }, verbose = false, plots = false,
    model = function()
      return nn.model(nn.sequential { nn.linear(5, 16), nn.relu(), nn.linear(16, 12), nn.relu(), nn.linear(12, 3) },
        { input = { 5 } })
    end,
    data = function() return { train = blobs(300, 1), val = blobs(100, 2), test = blobs(100, 3) } end,
    optimizer = { kind = 'adam', lr = 1e-2 }, batch = 20, iterations = ITERS, eval_every = 20, eval_batch = 100,
    rewind = 5, controls = { 'reinit', 'permuted', 'random' },
    prune = function(model) prune.magnitude(model, { rate = 0.4, output_rate = 0.2 }) end,
  }
end

if os.getenv('LOTTO_RESUME_CHILD') then -- the child process: run until the crash
  local cfg = config(os.getenv('LOTTO_RESUME_CHILD'), 3)
  local calls, prune_fn = 0, cfg.prune
  cfg.prune = function(model, round) -- seed 1 prunes rounds 1-3, then seed 2 rounds 1, 2, ...
    calls = calls + 1
    if calls == tonumber(os.getenv('LOTTO_CRASH_AT')) then os.exit(9) end
    return prune_fn(model, round)
  end
  ticket.imp(cfg)
  os.exit(0)
end

assert(fs.remove_tree(ROOT))
local function results(root) return io_.read_file(root .. '/resume/results.json') end

-- The uninterrupted run.
ticket.imp(config(ROOT .. '/full', 3))
local want = results(ROOT .. '/full')
T.check(want and #want > 500, 'results.json written')

-- A child process dies in seed 2 at round 2; round 2 was half written when it died.
do
  local root = ROOT .. '/killed'
  local lotto_exe = arg[-1] or 'lotto'
  local cmd = ("LOTTO_RESUME_CHILD='%s' LOTTO_CRASH_AT=5 '%s' '%s' >/dev/null 2>&1"):format(root, lotto_exe, arg[0])
  local ok, how, code = os.execute(cmd)
  T.check(not ok and how == 'exit' and code == 9, ('the child died at seed 2, round 2 (%s %s)'):format(how, code))
  local run = lotto.experiment.load(root .. '/resume')
  T.check_eq(run:completed_rounds(1), { 0, 1, 2, 3 }, 'seed 1 finished before the crash')
  T.check_eq(run:completed_rounds(2), { 0, 1 }, 'seed 2 stopped after round 1')
  T.check(not fs.exists(root .. '/resume/results.json'), 'no results.json yet')
  -- debris of a kill in the middle of round 2: a partial metrics file, a temp file, no summary
  local d = root .. '/resume/replicate_2/round_2'
  assert(fs.mkdir_p(d))
  assert(io_.write_atomic(d .. '/metrics.jsonl', '{"method":"ticket","iter":20,"test_acc":0.5}\n{"method":"tic'))
  assert(io_.write_atomic(d .. '/summary.json.tmp.12345', '{"round": 2, "dens'))
  assert(io_.write_atomic(d .. '/final.safetensors', 'garbage'))
  ticket.imp(config(root, 3))
  T.check_eq(results(root), want, 'killed and resumed: results.json byte-identical to the uninterrupted run')
  T.check(not fs.exists(d .. '/summary.json.tmp.12345'), 'the interrupted round was redone from scratch')
  local a = io_.read_file(ROOT .. '/full/resume/replicate_2/round_2/metrics.jsonl')
  T.check_eq(io_.read_file(d .. '/metrics.jsonl'), a, 'metrics of the redone round identical')
  T.check_eq(io_.read_file(d .. '/mask.safetensors'), io_.read_file(ROOT .. '/full/resume/replicate_2/round_2/mask.safetensors'),
    'mask file identical')
end

-- Extending a finished run: rounds = 1, then rounds = 3 (rounds may change on resume).
do
  local root = ROOT .. '/grown'
  local r1 = ticket.imp(config(root, 1))
  T.check_eq(#r1.aggregate, 2)
  ticket.imp(config(root, 3))
  T.check_eq(results(root), want, 'grown from 1 to 3 rounds: results.json identical')
end

-- A lost summary (round 3 of seed 1) is redone; nothing else is retrained.
do
  local root = ROOT .. '/lost'
  assert(fs.mkdir_p(root))
  assert(os.execute(("cp -r '%s/full/resume' '%s/'"):format(ROOT, root)))
  os.remove(root .. '/resume/replicate_1/round_3/summary.json')
  os.remove(root .. '/resume/results.json')
  local stamp = io_.read_file(root .. '/resume/replicate_2/round_3/summary.json')
  ticket.imp(config(root, 3))
  T.check_eq(results(root), want, 'a lost round redone: results.json identical')
  T.check_eq(io_.read_file(root .. '/resume/replicate_2/round_3/summary.json'), stamp, 'completed rounds untouched')
end

-- A run stored by an older lotto, before some options existed (its config.json lacks
-- keys now in the defaults), resumes when those options are left at their defaults.
do
  local root = ROOT .. '/older'
  assert(fs.mkdir_p(root))
  assert(os.execute(("cp -r '%s/full/resume' '%s/'"):format(ROOT, root)))
  local path = root .. '/resume/config.json'
  local stored = lotto.json.read(path)
  local dropped = {}
  for _, k in ipairs { 'bn_l1', 'augment', 'target_density', 'earlybird' } do
    if stored[k] ~= nil then stored[k], dropped[#dropped + 1] = nil, k end
  end
  T.check(#dropped >= 2, 'the stored config had default-valued keys to drop')
  assert(lotto.json.write(path, stored))
  os.remove(root .. '/resume/results.json')
  ticket.imp(config(root, 3))
  T.check_eq(results(root), want, 'an older run (keys missing at their defaults) resumes: results.json identical')
  local cfg = config(root, 3)
  cfg.bn_l1 = 1e-4
  T.checkerror(function() ticket.imp(cfg) end, 'bn_l1:', 'an option off its default is still a change')
end

-- A changed config against the existing run is refused with the key; restart starts over.
do
  local cfg = config(ROOT .. '/full', 3)
  cfg.rewind = 4
  T.checkerror(function() ticket.imp(cfg) end, 'rewind: 5 -> 4')
  T.checkerror(function() ticket.imp(cfg) end, 'restart = true')
  cfg.rounds, cfg.restart = 1, true
  local r = ticket.imp(cfg)
  T.check_eq(#r.aggregate, 2, 'restart = true starts over with the new config')
end

T.report()
