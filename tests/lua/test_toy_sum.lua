-- test_toy_sum.lua: examples/toy_sum.lua end to end (IMP with a custom prune function
-- and late resetting to iteration 1): the ticket it finds has at most two weights per
-- layer and extrapolates the sum to [1, 2) with a test RMSE below 1e-2.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local prune = lotto.prune

local root = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_toy_sum'
local script = os.getenv('LOTTO_SOURCE_DIR') .. '/examples/toy_sum.lua'
local saved = arg
arg = { [0] = script, '--root', root, '--restart' }
local out = dofile(script)
arg = saved

T.check(type(out) == 'table' and out.run ~= nil, 'toy_sum.lua returns its figures')
local run = out.run
local seed = run:replicates()[1]
local t = assert(lotto.ticket.load(run.dir, seed, out.round))
T.check(prune.count(t.named.mask['fc1.weight']) <= 2, 'at most 2 weights in fc1: ' .. prune.count(t.named.mask['fc1.weight']))
T.check(prune.count(t.named.mask['fc2.weight']) <= 2, 'at most 2 weights in fc2: ' .. prune.count(t.named.mask['fc2.weight']))
T.check(prune.count(t.named.mask['fc1.weight']) >= 1 and prune.count(t.named.mask['fc2.weight']) >= 1, 'not empty')
T.check(out.ticket < 1e-2, ('winning ticket test RMSE %g < 1e-2'):format(out.ticket))
T.check(out.full < 1e-2, ('full model test RMSE %g < 1e-2'):format(out.full))
T.check(out.permuted > out.ticket, ('a permuted mask does worse (%g vs %g)'):format(out.permuted, out.ticket))
T.check(type(out.reinit) == 'number', 'reinit RMSE reported')
-- late resetting: the rounds rewound to θ1 and trained from iteration 1
local s = run:load_summary(seed, 1)
T.check_eq(s.rewind, 1)
T.report()
