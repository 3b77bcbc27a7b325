-- test_supermask.lua: supermask criteria on hand-worked weights, the masks and weights
-- an untrained supermask evaluation leaves, edge-popup on a small separable task (exact
-- per-layer counts, frozen weights, above chance, reproducible), the output_half
-- distribution, and the targeted-dropout drop mask on hand-worked weights and its rate
-- (the train.fit option is tests/lua/test_targeted_dropout.lua).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = require 'lotto.tensor'
local nn = require 'lotto.nn'
local data = require 'lotto.data'
local pai = require 'lotto.pai'
local sm = require 'lotto.supermask'
local core = require 'lotto.core.prune'
local check, checkerror = C.check, C.checkerror

local function flat(t) return t:contiguous():reshape { -1 }:totable() end

do -- criteria: w0 = (1, -2, 3, -4), wf = (-2, -3, 1, 5)
  local w0, wf = T.new { 1, -2, 3, -4 }, T.new { -2, -3, 1, 5 }
  C.check_eq(flat(sm.criteria.large_final(w0, wf)), { 2, 3, 1, 5 }, 'large final')
  C.check_eq(flat(sm.criteria.large_final_same_sign(w0, wf)), { 0, 3, 1, 0 }, 'large final, same sign')
  C.check_eq(flat(sm.criteria.magnitude_increase(w0, wf)), { 1, 1, -2, 1 }, 'magnitude increase')
end

local function tiny()
  local m = nn.model(nn.sequential { nn.linear(2, 2, { bias = false }), nn.relu(), nn.linear(2, 2) }, { input = { 2 } })
  return m
end

do -- mask + evaluate: large_final keeps the 2 largest |wf| of each layer, on theta0 or the signed constant
  local m = tiny()
  -- values: fc1.weight (4), fc2.weight (4), fc2.bias (2)
  local theta0 = T.new { 1, -2, 3, -4, 0.5, -0.5, 1.5, -1.5, 0.25, -0.25 }
  local final = T.new { -2, -3, 1, 5, 9, 0.1, -0.2, 8, 1, 1 }
  m:load_state(theta0)
  check(sm.mask(m, { criterion = 'large_final', theta0 = theta0, final = final, density = 0.5 }) == 4, 'kept 4')
  C.check_eq(flat(m:parameters()[1].mask), { 0, 1, 0, 1 }, 'fc1 mask')
  C.check_eq(flat(m:parameters()[2].mask), { 1, 0, 0, 1 }, 'fc2 mask')
  local x, y = T.new { { 1, 0 }, { 0, 1 } }, T.new { 0, 1 }
  local ds = data.from_tensors(x, y, { classes = 2 })
  local acc = sm.evaluate(m, { test = ds }, { criterion = 'large_final', theta0 = theta0, final = final, density = 0.5 })
  C.check_eq(flat(m:values()), { 0, -2, 0, -4, 0.5, 0, 0, -1.5, 0.25, -0.25 }, 'theta0 under the mask')
  -- by hand: h = relu(W1 x) = 0 for both inputs (-2 x2, -4 x2 <= 0): logits = bias (0.25, -0.25) -> class 0
  check(acc == 0.5, 'accuracy by hand: ' .. tostring(acc))
  sm.evaluate(m, { test = ds }, { criterion = 'large_final', theta0 = theta0, final = final, density = 0.5,
    init = 'signed_constant' })
  local s1, s2 = math.sqrt(30 / 4), math.sqrt(5 / 4)
  C.check_near(flat(m:values()), { 0, -s1, 0, -s1, s2, 0, 0, -s2, 0.25, -0.25 }, 1e-6, 'signed constant per layer')
  checkerror(function() sm.mask(m, { criterion = 'large', theta0 = theta0, final = final }) end, "did you mean")
  checkerror(function() sm.mask(m, { theta0 = theta0 }) end, "option 'final'")
  checkerror(function() sm.mask(m, { theta0 = T.zeros { 3 }, final = final }) end, 'has 3 values')
  checkerror(function() sm.evaluate(m, { test = ds }, { criterion = 'random', theta0 = theta0, init = 'zero' }) end,
    "init must be")
end

-- a separable task: 3 classes by the largest of the first three inputs
local function task(n, seed)
  local x = T.randn({ n, 8 }, seed)
  local y = {}
  for i = 1, n do
    local best, arg = -math.huge, 0
    for j = 1, 3 do
      local v = x:get(i, j)
      if v > best then best, arg = v, j - 1 end
    end
    y[i] = arg
  end
  return data.from_tensors(x, T.new(y), { classes = 3 })
end
local ds = { train = task(600, 1), test = task(300, 2) }

local function mlp(seed)
  local m = nn.model(nn.sequential { nn.linear(8, 64), nn.relu(), nn.linear(64, 3) }, { input = { 8 } })
  m:init { seed = seed }
  return m
end

do -- edge-popup: exact counts, frozen signed-constant weights, learns, reproducible
  local m = mlp(4)
  local theta0 = m:state()
  local r = sm.edge_popup(m, ds, { density = 0.3, iterations = 300, batch = 50, lr = 1 })
  local ps = m:parameters()
  check(core.count(ps[1].mask) == math.floor(0.3 * 512 + 0.5) and core.count(ps[3].mask) == math.floor(0.3 * 192 + 0.5),
    'exact counts per layer')
  local want = sm.start(m, theta0, 'signed_constant'):mul_(m:masks())
  C.check_eq(flat(m:values()), flat(want), 'weights frozen: the signed constant under the mask, biases at init')
  check(r.test_acc > 0.6, ('a learned supermask beats chance (1/3) clearly: %.3f'):format(r.test_acc))
  local chance = sm.evaluate(mlp(4), ds, { criterion = 'random', theta0 = theta0, density = 0.3, init = 'signed_constant' })
  check(r.test_acc > chance + 0.15, ('learned %.3f vs random mask %.3f'):format(r.test_acc, chance))
  local m2 = mlp(4)
  local r2 = sm.edge_popup(m2, ds, { density = 0.3, iterations = 300, batch = 50, lr = 1 })
  C.check_eq(flat(r2.scores), flat(r.scores), 'same seed, same scores')
  checkerror(function() sm.edge_popup(m2, ds, { densty = 0.3 }) end, "did you mean 'density'")
  checkerror(function() sm.edge_popup(m2, ds.train, {}) end, 'data must be')
end

do -- targeted dropout on hand-worked weights
  local w, m, k = T.new { 0.1, -5, 0.3, 2, -0.2, 4 }, T.ones { 6 }, T.zeros { 6 }
  core.targeted_dropout(k, w, m, 0.5, 1, 7)
  C.check_eq(flat(k), { 0, 1, 0, 1, 0, 1 }, 'alpha 1: the lower half by |w| is dropped')
  core.targeted_dropout(k, w, m, 0.5, 0, 7)
  C.check_eq(flat(k), { 1, 1, 1, 1, 1, 1 }, 'alpha 0: nothing dropped')
  m = T.new { 1, 1, 0, 1, 1, 1 } -- 5 survivors: round(2.5) = 3 candidates: 0.1, -0.2, 2
  core.targeted_dropout(k, w, m, 0.5, 1, 7)
  C.check_eq(flat(k), { 0, 1, 0, 0, 0, 1 }, 'candidates among the survivors; pruned stay 0')
  local w2, k2 = T.new { { 1, 1 }, { 0.1, 0.1 }, { 3, 0 }, { -0.5, 0.2 } }, T.zeros { 4, 2 }
  core.targeted_dropout(k2, w2, T.ones { 4, 2 }, 0.5, 1, 7, true)
  C.check_eq(flat(k2), { 1, 1, 0, 0, 1, 1, 0, 0 }, 'units: the two rows of least L2 norm')
  local big, kb = T.randn({ 20000 }, 3), T.zeros { 20000 }
  core.targeted_dropout(kb, big, T.ones { 20000 }, 0.5, 0.5, 9)
  local dropped = 20000 - core.count(kb)
  check(math.abs(dropped - 5000) < 300, ('alpha 0.5 of 10000 candidates: %d dropped'):format(dropped))
  checkerror(function() core.targeted_dropout(k, w, T.ones { 6 }, 1.5, 0.5, 1) end, 'gamma')
end

do -- output_half: 20% / 10% rounds; two rounds on layers of 90 and 10 weights keep 0.64 and 0.81,
  -- 65.7 of 100 weights, so a target of 0.657 must give back exactly those densities
  local ds = pai.distributions.output_half({ { numel = 90 }, { numel = 10 } }, 0.657)
  C.check_near(ds[1], 0.64, 1e-9, 'hidden layers: 0.8^2')
  C.check_near(ds[2], 0.81, 1e-9, 'output layer: 0.9^2')
  C.check_eq(pai.distributions.output_half({ { numel = 7 } }, 0.3), { 0.3 }, 'one layer: the target')
  local m = tiny()
  local theta0 = T.new { 1, -2, 3, -4, 0.5, -0.5, 1.5, -1.5, 0.25, -0.25 }
  checkerror(function() sm.mask(m, { theta0 = theta0, final = theta0, distribution = 'output_halve' }) end,
    "did you mean 'output_half'")
end

C.report()
