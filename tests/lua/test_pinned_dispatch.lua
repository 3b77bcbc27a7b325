-- test_pinned_dispatch.lua: a run's numbers do not depend on the machine's crossover
-- table. IMP records the crossovers in force in <run>/crossover.json and a resumed run
-- decides by them, so a calibration done between a kill and the resume (here: entries
-- that send every pruned layer to the sparse kernels, which round differently) leaves
-- results.json byte-identical to the uninterrupted run.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, prune, ticket, io_ = lotto.tensor, lotto.nn, lotto.data, lotto.prune, lotto.ticket, lotto.io
local fs, sparse = lotto.fs, lotto.sparse

local ROOT = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_pinned_dispatch'
assert(fs.remove_tree(ROOT))

local function blobs(n, seed)
  local x = tensor.randn({ n, 20 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do y:set(i, (x:get(i, 1) > 0 and 1 or 0) + (x:get(i, 2) > 0 and 1 or 0)) end
  return data.from_tensors(x, y, { classes = 3 })
end
local ds = { train = blobs(200, 1), val = blobs(60, 2), test = blobs(60, 3) }

local function config(root, rounds)
  return {
    name = 'pin', root = root, rounds = rounds, seeds = { 1 }, verbose = false, plots = false,
    model = function() return nn.model(nn.sequential { nn.linear(20, 64), nn.relu(), nn.linear(64, 3) }, { input = { 20 } }) end,
    data = ds, optimizer = { kind = 'sgd', lr = 0.05 }, batch = 20, iterations = 40, eval_every = 20, eval_batch = 60,
    controls = {}, prune = function(model) prune.magnitude(model, { rate = 0.5, output_rate = 0.2 }) end,
  }
end
local function results(root) return io_.read_file(root .. '/pin/results.json') end

-- "calibrated": every shape of this model goes sparse below density 1
local function calibrate()
  for _, s in ipairs { { 64, 20 }, { 3, 64 } } do
    for _, n in ipairs { 20, 60 } do sparse.set_crossover(s[1], s[2], n, 1.0) end
  end
end

sparse.clear_crossovers() -- the machine's cache file plays no part in this test
ticket.imp(config(ROOT .. '/lone', 2))
local want = results(ROOT .. '/lone')
T.check(want and #want > 200, 'the uninterrupted run')
T.check(fs.exists(ROOT .. '/lone/pin/crossover.json'), 'the run records its crossovers')

calibrate()
ticket.imp(config(ROOT .. '/fresh', 2))
if results(ROOT .. '/fresh') == want then
  T.skip('the sparse and dense kernels round alike here: the test could not fail')
end

sparse.clear_crossovers()
ticket.imp(config(ROOT .. '/resumed', 1)) -- the "killed" run: one round done
calibrate()                               -- the machine is calibrated meanwhile
local before = sparse.crossovers()
ticket.imp(config(ROOT .. '/resumed', 2))
T.check_eq(results(ROOT .. '/resumed'), want, 'resumed after a calibration: results.json identical')
T.check_eq(sparse.crossovers(), before, 'the table in force is restored after the run')

-- a damaged crossover.json is reported with its path
io_.write_atomic(ROOT .. '/resumed/pin/crossover.json', '{"entries": [{"rows": -1}]}')
T.checkerror(function() ticket.imp(config(ROOT .. '/resumed', 2)) end, 'crossover.json')
T.check_eq(sparse.crossovers(), before, 'and the table is restored')

T.report()
