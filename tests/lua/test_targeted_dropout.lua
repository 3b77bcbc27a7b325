-- test_targeted_dropout.lua: the train.fit option targeted_dropout (Gomez et al. 2019).
-- On a crafted layer whose weights have known magnitudes: only the gamma fraction of
-- lowest |w| (or lowest-norm rows) is ever dropped, at a rate near alpha; a step leaves
-- the dropped weights untouched; alpha = 0 is plain training bit for bit; the same seed
-- draws the same drops and another seed others; the options are checked by name.
-- (Resuming after a kill is tests/lua/test_resume_dropout.lua.)
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = require 'lotto.tensor'
local nn = require 'lotto.nn'
local data = require 'lotto.data'
local train = require 'lotto.train'
local optim = require 'lotto.optim'
local td = require 'lotto.targeted_dropout'
local core = require 'lotto.core.prune'
local check, checkerror = C.check, C.checkerror

local function flat(t) return t:contiguous():reshape { -1 }:totable() end

-- A 1-layer model: fc1.weight (4 x 10) with |w| = 1 .. 40 (row r, column c: 10 (r - 1) + c),
-- alternating signs; one weight pruned (|w| = 3). Its 39 survivors: gamma = 0.25 makes
-- round(9.75) = 10 candidates, the |w| in {1, 2, 4, ..., 11}.
local function crafted()
  local m = nn.model(nn.sequential { nn.linear(10, 4, { bias = false }) }, { input = { 10 } })
  local w = {}
  for i = 1, 40 do w[i] = (i % 2 == 0 and -1 or 1) * i end
  m:load_state(T.new(w))
  m:masks():set(3, 0)
  m:apply_mask()
  return m
end

do -- weights: only the gamma lowest survivors are ever dropped, each at a rate near alpha
  local m = crafted()
  local t = td.new(m, { alpha = 0.3, gamma = 0.25 }, 1)
  local drops, N = {}, 4000
  for i = 1, 40 do drops[i] = 0 end
  for _ = 1, N do
    local k = flat(t:draw()[1])
    for i = 1, 40 do if k[i] == 0 then drops[i] = drops[i] + 1 end end
  end
  local cand = { [1] = true, [2] = true, [4] = true, [5] = true, [6] = true, [7] = true, [8] = true, [9] = true,
    [10] = true, [11] = true }
  local outside, total = 0, 0
  for i = 1, 40 do
    if i == 3 then check(drops[i] == N, 'the pruned weight is 0 in every keep mask')
    elseif not cand[i] then outside = outside + drops[i]
    else total = total + drops[i] end
  end
  C.check_eq(outside, 0, 'no weight above the gamma lowest is ever dropped')
  -- 40000 Bernoulli(0.3) draws: std 0.0023; 0.3 +- 0.01 is over 4 std
  local rate = total / (10 * N)
  check(math.abs(rate - 0.3) < 0.01, ('candidates dropped at rate %.4f, alpha 0.3'):format(rate))
  for i in pairs(cand) do
    check(drops[i] > 0.25 * N and drops[i] < 0.35 * N, ('|w| = %d dropped %d of %d times'):format(i, drops[i], N))
  end
end

do -- units: rows by the L2 norm of their surviving weights; gamma = 0.5 of 4 rows: rows 1 and 2
  local m = crafted()
  local t = td.new(m, { alpha = 1, gamma = 0.5, kind = 'unit' }, 1)
  local k = flat(t:draw()[1])
  local want = {}
  for i = 1, 40 do want[i] = i > 20 and 1 or 0 end
  C.check_eq(k, want, 'alpha 1: the two rows of least norm dropped whole, the others kept')
  local t2 = td.new(m, { alpha = 0.5, gamma = 0.5, kind = 'unit' }, 1)
  local n, N = 0, 2000
  for _ = 1, N do
    local kk = flat(t2:draw()[1])
    for r = 0, 3 do
      local row = {}
      for c = 1, 10 do row[c] = kk[10 * r + c] end
      local s = 0
      for c = 1, 10 do s = s + row[c] end
      if r >= 2 then check(s == 10, 'rows 3 and 4 are never dropped') end
      if r < 2 and s == 0 then n = n + 1 end
      check(s == 0 or s == 10 or (r == 0 and s == 9), 'a row is dropped whole or kept whole')
    end
  end
  check(math.abs(n / (2 * N) - 0.5) < 0.03, ('rows dropped at rate %.3f, alpha 0.5'):format(n / (2 * N)))
end

do -- seeded: the same seed draws the same drops, another seed others
  local a, b, c = td.new(crafted(), { alpha = 0.5, gamma = 0.5 }, 4), td.new(crafted(), { alpha = 0.5, gamma = 0.5 }, 4),
    td.new(crafted(), { alpha = 0.5, gamma = 0.5, seed = 5 }, 4)
  local sa, sb, sc = {}, {}, {}
  for i = 1, 5 do
    sa[i], sb[i], sc[i] = table.concat(flat(a:draw()[1])), table.concat(flat(b:draw()[1])), table.concat(flat(c:draw()[1]))
  end
  C.check_eq(sa, sb, 'same seed, same drops')
  check(table.concat(sa) ~= table.concat(sc), 'seed = 5 draws other drops')
end

-- ---- through train.fit ----
local function task(n, seed)
  local x = T.randn({ n, 20 }, seed)
  local y = T.zeros { n }
  for i = 1, n do y:set(i, (x:get(i, 1) + x:get(i, 2) > 0 and 1 or 0) + (x:get(i, 3) > 0.5 and 1 or 0)) end
  return data.from_tensors(x, y, { classes = 3 })
end
local ds = { train = task(300, 1), test = task(100, 2) }
local function mlp(seed)
  local m = nn.model(nn.sequential { nn.linear(20, 16), nn.relu(), nn.linear(16, 3) }, { input = { 20 } })
  m:init { seed = seed }
  return m
end

do -- a step with alpha = 1, gamma = 0.5 leaves the lower half of each layer unchanged (Adam from zero)
  local m = mlp(5)
  local before = m:state()
  local lower = {}
  for i, p in ipairs(m:parameters()) do
    if p.prunable then
      lower[i] = T.zeros(p.shape)
      core.targeted_dropout(lower[i], p.value, p.mask, 0.5, 1, 1) -- keep = 0 on the lower half
    end
  end
  local h = train.fit(m, ds, { optimizer = { kind = 'adam', lr = 1e-2 }, batch = 50, iterations = 1, progress = false,
    targeted_dropout = { alpha = 1, gamma = 0.5 } })
  for i, p in ipairs(m:parameters()) do
    if p.prunable then
      local w0 = before:narrow(1, p.offset + 1, p.numel):reshape(p.shape)
      local moved_low = p.value:sub(w0):abs():mul(lower[i]:neg():add(1)):sum()
      local moved_high = p.value:sub(w0):abs():mul(lower[i]):sum()
      check(moved_low == 0 and moved_high > 0, ('%s: dropped weights unchanged, the others moved'):format(p.name))
    end
  end
  C.check_eq(h.targeted_dropout.dropped, 0.5, 'history: half of the weights dropped per step')
  C.check_eq(h.targeted_dropout.kind, 'weight')
end

do -- alpha = 0 is plain training, bit for bit; the model is left with every weight
  local a, b = mlp(6), mlp(6)
  local fo = { batch = 50, epochs = 1, progress = false, seed = 3 }
  fo.optimizer = optim.make(a, { kind = 'sgd', lr = 0.05, momentum = 0.9 })
  local ha = train.fit(a, ds, fo)
  local fb = { batch = 50, epochs = 1, progress = false, seed = 3, optimizer = { kind = 'sgd', lr = 0.05, momentum = 0.9 },
    targeted_dropout = { alpha = 0, gamma = 0.7 } }
  local hb = train.fit(b, ds, fb)
  C.check_eq(flat(b:values()), flat(a:values()), 'alpha 0: identical weights')
  check(ha.final.test_acc == hb.final.test_acc, 'identical accuracy')
  -- and alpha > 0 trains differently, reproducibly per seed
  local c, d = mlp(6), mlp(6)
  fb.targeted_dropout = { alpha = 0.5, gamma = 0.5 }
  train.fit(c, ds, fb)
  train.fit(d, ds, fb)
  C.check_eq(flat(d:values()), flat(c:values()), 'same seed: the same run')
  check(c:values():sub(a:values()):abs():max() > 0, 'alpha 0.5 changes the run')
end

do -- options are checked by name, with a did-you-mean
  local m = mlp(7)
  local function fit(o) return train.fit(m, ds, { optimizer = { kind = 'sgd', lr = 0.1 }, iterations = 1, progress = false,
    targeted_dropout = o }) end
  checkerror(function() fit { alpah = 0.5 } end, "unknown option 'alpah' (did you mean 'alpha'?)")
  checkerror(function() fit { gamma = 2 } end, "option 'gamma' must be a number in [0, 1]")
  checkerror(function() fit { alpha = -0.1 } end, "option 'alpha' must be a number in [0, 1]")
  checkerror(function() fit { kind = 'units' } end, "did you mean 'unit'")
  checkerror(function() fit { seed = 1.5 } end, "option 'seed' must be an integer")
  checkerror(function() fit { layers = { 'fc3.weight' } } end, "'fc3.weight' is not a prunable parameter")
  checkerror(function() fit(0.5) end, 'expected an options table')
  checkerror(function() train.fit(m, ds, { optimizer = { kind = 'sgd', lr = 0.1 }, targeted_droput = {} }) end,
    "did you mean 'targeted_dropout'")
  local h = fit { layers = { 'fc2.weight' }, alpha = 1, gamma = 0.5 }
  C.check_near(h.targeted_dropout.dropped, 24 / (16 * 3), 1e-12, 'only fc2.weight: 24 of its 48 weights dropped')
end

C.report()
