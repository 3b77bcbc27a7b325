-- test_rng.lua: the lotto.rng binding: reproducibility, streams, ranges,
-- permutations, simple statistics, and misuse that must raise clear errors.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local rng = require 'lotto.rng'

T.check_eq(rng.streams, { init = 0, data = 1, prune = 2, dropout = 3, augment = 4, targeted_dropout = 5 })

-- same (seed, stream) -> same sequence; seeding again restarts it
local a, b = rng.new(42), rng.new(42)
local sa, sb = {}, {}
for i = 1, 10 do sa[i], sb[i] = a:uniform(), b:uniform() end
T.check_eq(sa, sb, 'same seed, same sequence')
a:seed(42)
T.check_eq(a:uniform(), sa[1], 'seed() restarts')
-- pinned: seed 42, stream init; the first u64 is 0x570994d7bc9560be (see tests/test_rng.c)
T.check_near(rng.new(42, rng.streams.init):uniform(), 0.33998995081909333, 1e-15, 'pinned first uniform')
T.check(rng.new(42, rng.streams.data):uniform() ~= rng.new(42, rng.streams.init):uniform(), 'streams differ')
T.check(rng.new(1):uniform() ~= rng.new(2):uniform(), 'seeds differ')
T.check(tostring(rng.new(5, 2)):find('seed 5, stream 2', 1, true), 'tostring names seed and stream')

-- ranges
local r = rng.new(7)
local lo, hi, hits = math.huge, -math.huge, {}
for _ = 1, 6000 do
  local u = r:uniform(-2, 3)
  lo, hi = math.min(lo, u), math.max(hi, u)
  local k = r:int(1, 6)
  hits[k] = (hits[k] or 0) + 1
end
T.check(lo >= -2 and hi < 3, 'uniform(lo, hi) stays in [lo, hi)')
for k = 1, 6 do T.check(hits[k] and hits[k] > 850 and hits[k] < 1150, 'int(1, 6) hits ' .. k .. ' about 1000 times') end
T.check_eq(hits[0], nil)
T.check_eq(hits[7], nil)
for _ = 1, 50 do
  local k = r:int(3)
  T.check(k >= 1 and k <= 3 and math.type(k) == 'integer', 'int(n) in 1..n')
end
T.check_eq(r:int(5, 5), 5)
T.check(r:int(math.mininteger, math.maxinteger) ~= nil, 'full integer range')

-- normal: mean and variance
local s, s2, N = 0, 0, 20000
for _ = 1, N do
  local x = r:normal(1, 2)
  s, s2 = s + x, s2 + x * x
end
local mean = s / N
T.check_near(mean, 1, 0.05, 'normal mean')
T.check_near(s2 / N - mean * mean, 4, 0.15, 'normal variance')

-- permutations
local p = r:permutation(100)
local seen, moved = {}, 0
for i = 1, 100 do
  T.check(not seen[p[i]], 'no repeats')
  seen[p[i]] = true
  if p[i] ~= i then moved = moved + 1 end
end
T.check_eq(#p, 100)
for i = 1, 100 do T.check(seen[i], 'contains ' .. i) end
T.check(moved > 90, 'a shuffle, not the identity')
T.check_eq(rng.new(9):permutation(20), rng.new(9):permutation(20), 'permutation is reproducible')
T.check_eq(r:permutation(0), {})

-- misuse
T.checkerror(function() rng.new() end, 'number expected')
T.checkerror(function() rng.new('x') end, 'number expected')
T.checkerror(function() rng.new(1.5) end, 'integer')
T.checkerror(function() rng.new(1, -1) end, 'stream must be >= 0')
T.checkerror(function() r:int(5, 1) end, 'interval is empty')
T.checkerror(function() r:int(0) end, 'interval is empty')
T.checkerror(function() r:uniform(3, 1) end, 'lo <= hi')
T.checkerror(function() r:normal(0, -1) end, 'std must be >= 0')
T.checkerror(function() r:permutation(-1) end, 'n must be')
T.checkerror(function() r.uniform(5) end, 'lotto.rng expected')
T.checkerror(function() r:seed('s') end, 'number expected')

T.report()
