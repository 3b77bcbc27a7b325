-- test_pai.lua: pruning at initialization (lotto.pai) on hand-worked nets — SNIP and
-- GraSP scores computed by hand on a 2-layer net, the finite-difference HVP against
-- the second difference of the loss, SynFlow's conservation (every layer's scores sum
-- to the network's flow R), ERK against its formula, the distributions' exact counts,
-- the shuffle ablation, and misuse errors naming the bad key or value.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = require 'lotto.tensor'
local nn = require 'lotto.nn'
local data = require 'lotto.data'
local pai = require 'lotto.pai'
local prune = require 'lotto.prune'
local core = require 'lotto.core.prune'
local check, near, checkerror = C.check, C.check_near, C.checkerror

local function flat(t) return t:contiguous():reshape { -1 }:totable() end
local function rel_near(a, b, tol, msg)
  check(math.abs(a - b) <= tol * math.max(1, math.abs(b)), ('%s: got %.9g, want %.9g'):format(msg, a, b))
end

-- The hand net: W1 = [[1, -1], [0.5, 0.5]], relu, W2 = [[2, -3]], no biases; x = (1, 2),
-- target 0, MSE. Pre-activations (-1, 1.5): unit 1 off; y = -4.5, L = 20.25, dL/dy = -9.
-- grad W2 = -9 * (0, 1.5) = (0, -13.5); dh = (-18, 27) -> (0, 27); grad W1 = [[0, 0], [27, 54]].
local function hand_net()
  local m = nn.model(nn.sequential { nn.linear(2, 2, { bias = false }), nn.relu(), nn.linear(2, 1, { bias = false }) },
    { input = { 2 } })
  m:values():copy(T.new { 1, -1, 0.5, 0.5, 2, -3 })
  local x, y = T.new { { 1, 2 } }, T.new { { 0 } }
  return m, { batches = { { x, y } }, loss = 'mse', layers = pai.layers(m), grasp_eps = 1e-3 }, x, y
end

do -- SNIP = |g * w|
  local m, ctx = hand_net()
  local s = pai.scores.snip(m, ctx)
  C.check_eq(flat(s['fc1.weight']), { 0, 0, 13.5, 27 }, 'snip fc1')
  C.check_eq(flat(s['fc2.weight']), { 0, 40.5 }, 'snip fc2')
end

do -- GraSP = w * (H g). On the active path y = a (b + 2c) with a = W2[2] = -3, b, c = W1[2, :]
  -- = 0.5: grad y = (1.5, -3, -6), g = -9 grad y; H = 2 grad y grad y^T + 2 y hess y with
  -- hess y = [[0, 1, 2], [1, 0, 0], [2, 0, 0]]. grad y . g = -425.25, so
  -- H g = -850.5 (1.5, -3, -6) - 9 (135, -13.5, -27) = (-2490.75, 2673, 5346).
  local m, ctx = hand_net()
  local s = pai.scores.grasp(m, ctx)
  local s1, s2 = flat(s['fc1.weight']), flat(s['fc2.weight'])
  near(s1[1], 0, 1e-3, 'grasp: the inactive unit scores 0')
  near(s1[2], 0, 1e-3, 'grasp: the inactive unit scores 0')
  rel_near(s1[3], 0.5 * 2673, 1e-4, 'grasp b')
  rel_near(s1[4], 0.5 * 5346, 1e-4, 'grasp c')
  rel_near(s2[2], -3 * -2490.75, 1e-4, 'grasp a')
  near(s2[1], 0, 1e-3, 'grasp W2[1]')
  C.check_eq(flat(m:values()), { 1, -1, 0.5, 0.5, 2, -3 }, 'the values are restored after the HVP')
end

do -- the HVP against finite differences of the loss: v^T (H v) = (L(w+hv) - 2L(w) + L(w-hv)) / h^2
  -- on a smooth net (two linear layers, softmax cross-entropy), in several random directions
  local m = nn.model(nn.sequential { nn.linear(4, 6), nn.linear(6, 3) }, { input = { 4 } })
  m:init { seed = 3 }
  local x = T.randn({ 8, 4 }, 5)
  local y = T.new { 0, 1, 2, 0, 1, 2, 0, 1 }
  local ctx = { batches = { { x, y } }, loss = 'xent' }
  local theta = m:state()
  local function loss_at(t)
    m:values():copy(t)
    return (m:step_loss(x, y, 'xent'))
  end
  for seed = 1, 3 do
    local v = T.randn({ theta:numel() }, 100 + seed)
    local hv = pai.hvp(m, ctx, v, 1e-3)
    local vhv = v:dot(hv)
    local h = 3e-2
    local fd = (loss_at(theta:add(v:mul(h))) - 2 * loss_at(theta) + loss_at(theta:sub(v:mul(h)))) / (h * h)
    m:values():copy(theta)
    check(math.abs(vhv - fd) <= 0.02 * math.abs(fd) + 1e-4,
      ('HVP direction %d: v^T H v = %.6g, second difference %.6g'):format(seed, vhv, fd))
  end
end

do -- the tempered gradient (GraSP's T) against finite differences of the tempered loss
  local m = nn.model(nn.sequential { nn.linear(4, 5), nn.relu(), nn.linear(5, 3) }, { input = { 4 } })
  m:init { seed = 8 }
  local x, y = T.randn({ 6, 4 }, 2), T.new { 0, 1, 2, 2, 1, 0 }
  local theta = m:state()
  local g = pai.gradient(m, { batches = { { x, y } }, loss = 'xent', temperature = 5 })
  local function loss_at(t)
    m:values():copy(t)
    return (nn.cross_entropy(m:forward(x, true):div_(5), y))
  end
  local v = T.randn({ theta:numel() }, 4)
  local h = 1e-3
  local fd = (loss_at(theta:add(v:mul(h))) - loss_at(theta:sub(v:mul(h)))) / (2 * h)
  m:values():copy(theta)
  check(math.abs(v:dot(g) - fd) <= 1e-3 * math.abs(fd) + 1e-5, ('tempered gradient %.6g vs %.6g'):format(v:dot(g), fd))
  local g1 = pai.gradient(m, { batches = { { x, y } }, loss = 'xent' })
  check(math.abs(g1:dot(v) - 5 * 5 * g:dot(v)) > 1e-4, 'the temperature changes the gradient')
end

do -- SynFlow: |W1| ones = (2, 1), R = 2*2 + 3*1 = 7; scores |w dR/dw|; each layer sums to R
  local m = hand_net()
  local s, R = pai.synflow_scores(m)
  near(R, 7, 1e-6, 'synflow R')
  C.check_eq(flat(s['fc1.weight']), { 2, 2, 1.5, 1.5 }, 'synflow fc1')
  C.check_eq(flat(s['fc2.weight']), { 4, 3 }, 'synflow fc2')
  C.check_eq(flat(m:values()), { 1, -1, 0.5, 0.5, 2, -3 }, 'signs restored')
end

do -- conservation on a random 3-layer net (zero biases, as init leaves them), dense and pruned
  local m = nn.model(nn.sequential { nn.linear(12, 9), nn.relu(), nn.linear(9, 7), nn.relu(), nn.linear(7, 4) },
    { input = { 12 } })
  m:init { seed = 11 }
  for pass = 1, 2 do
    local s, R = pai.synflow_scores(m)
    check(R > 0, 'the flow is positive')
    for _, name in ipairs { 'fc1.weight', 'fc2.weight', 'fc3.weight' } do
      rel_near(s[name]:sum(), R, 1e-4, ('conservation (%s) %s'):format(pass == 1 and 'dense' or 'pruned', name))
    end
    prune.random_model(m, { rate = 0.5, seed = 2 })
  end
end

do -- ERK against the formula: d_l = eps (sum of dims) / (prod of dims), sum d_l n_l = D N
  local shapes = { { 300, 784 }, { 100, 300 }, { 10, 100 } }
  local d = core.erk(shapes, 0.05)
  local eps = 0.05 * 266200 / (1084 + 400 + 110)
  rel_near(d[1], eps * 1084 / 235200, 1e-12, 'erk fc1')
  rel_near(d[2], eps * 400 / 30000, 1e-12, 'erk fc2')
  rel_near(d[3], eps * 110 / 1000, 1e-12, 'erk fc3')
  -- at 0.5, fc3 and then fc2 would pass 1: both dense, fc1 takes the rest
  d = core.erk(shapes, 0.5)
  C.check_eq({ d[2], d[3] }, { 1, 1 }, 'erk: layers over 1 become dense')
  rel_near(d[1], (0.5 * 266200 - 31000) / 235200, 1e-12, 'erk: the rest solved again')
  -- a conv kernel counts its kernel dims: (6 + 1 + 5 + 5) / 150
  d = core.erk({ { 6, 1, 5, 5 }, { 10, 96 } }, 0.3)
  eps = 0.3 * 1110 / (17 + 106)
  rel_near(d[1], eps * 17 / 150, 1e-12, 'erk conv')
  rel_near(d[2], eps * 106 / 960, 1e-12, 'erk fc')
  d = core.erk(shapes, 0.02, { false, false, true })
  eps = (0.02 * 266200 - 1000) / (1084 + 400)
  check(d[3] == 1, 'a layer asked dense stays dense')
  rel_near(d[1], eps * 1084 / 235200, 1e-12, 'erk with a dense layer: the rest solved for the remainder')
  checkerror(function() core.erk(shapes, 0.1, { true }) end, 'dense layers alone')
  checkerror(function() core.erk({ { 3, 0 } }, 0.1) end, 'positive integer')
  checkerror(function() core.erk({ 7 }, 0.1) end, 'not a shape table')
  checkerror(function() core.erk({}, 0.1) end, 'non%-empty list')
  checkerror(function() core.erk({ { 3, 4 } }, 1.5) end, 'must be in %[0, 1%]')
  checkerror(function() core.keep_top(T.ones { 3 }, T.ones { 4 }, 1) end, "must have the mask's shape")
  checkerror(function() core.keep_top(T.ones { 3 }, T.ones { 3 }, -2) end, 'keep must be >= 0')
  checkerror(function() core.keep_top(T.full({ 3 }, 0.5), T.ones { 3 }, 1) end, 'only 0 and 1')
  checkerror(function() core.targeted_dropout(T.ones { 3 }, T.ones { 3 }, T.ones { 2 }, 0.5, 0.5, 1) end, 'mask')
  checkerror(function() core.targeted_dropout(T.ones { 3 }, T.ones { 3 }, T.ones { 3 }, 0.5, 0.5, 1, true) end, 'rows')
end

do -- keep_top keeps an exact count, largest first, ties to the higher index
  local m = T.ones { 5 }
  check(core.keep_top(m, T.new { 3, -9, 1, 3, 2 }, 2) == 3, 'three pruned')
  C.check_eq(flat(m), { 0, 1, 0, 1, 0 }, 'keep_top |score|')
  m = T.ones { 5 }
  core.keep_top(m, T.new { 3, -9, 1, 3, 2 }, 2, true)
  C.check_eq(flat(m), { 1, 0, 0, 1, 0 }, 'keep_top raw')
end

-- ---- model level ----
local function lenet_small(seed)
  local m = nn.model(nn.sequential { nn.flatten(), nn.linear(20, 16), nn.relu(), nn.linear(16, 8), nn.relu(),
    nn.linear(8, 3) }, { input = { 20 } })
  m:init { seed = seed or 1 }
  return m
end
local ds = data.from_tensors(T.randn({ 64, 20 }, 9), T.new((function()
  local t = {}
  for i = 1, 64 do t[i] = i % 3 end
  return t
end)()), { classes = 3 })

local function counts(rep)
  local c = {}
  for i, l in ipairs(rep.layers) do c[i] = l.count end
  return c
end

do -- distributions give exact counts
  local m = lenet_small()
  local rep = pai.prune(m, { method = 'magnitude', density = 0.25, distribution = 'uniform' })
  C.check_eq(counts(rep), { 80, 32, 6 }, 'uniform: round(d n) per layer')
  m = lenet_small()
  rep = pai.prune(m, { method = 'magnitude', density = 0.25, distribution = 'uniform_first_dense' })
  C.check_eq(counts(rep), { 320, 32, 6 }, 'first layer dense')
  m = lenet_small()
  rep = pai.prune(m, { method = 'snip', density = 0.25, data = ds, batch = 32 })
  C.check_eq(rep.count, 118, 'global: round(d N) overall')
  m = lenet_small()
  rep = pai.prune(m, { method = 'random', density = 0.25, distribution = 'erk' })
  local d = core.erk({ { 16, 20 }, { 8, 16 }, { 3, 8 } }, 0.25)
  C.check_eq(counts(rep), { math.floor(d[1] * 320 + 0.5), math.floor(d[2] * 128 + 0.5), math.floor(d[3] * 24 + 0.5) },
    'erk counts')
  check(m:values():narrow(1, 1, 320):abs():sum() > 0 and prune.stats(m).count == rep.count, 'the model is masked')
end

do -- magnitude at init keeps the largest |w| of each layer
  local m = lenet_small()
  local w = m:parameters()[1].value:clone()
  pai.prune(m, { method = 'magnitude', density = 0.5, distribution = 'uniform' })
  local mk = m:parameters()[1].mask
  local lo_kept, hi_pruned = math.huge, 0
  for i, a in ipairs(flat(w:abs())) do
    if flat(mk)[i] == 1 then lo_kept = math.min(lo_kept, a) else hi_pruned = math.max(hi_pruned, a) end
  end
  check(lo_kept >= hi_pruned, 'magnitude: every kept |w| is at least every pruned one')
end

do -- synflow: iterative rounds reach the density exactly; rounds change the mask
  local a, b = lenet_small(), lenet_small()
  local ra = pai.prune(a, { method = 'synflow', density = 0.1 })
  local rb = pai.prune(b, { method = 'synflow', density = 0.1, rounds = 1 })
  check(ra.rounds == 100 and rb.rounds == 1, 'synflow defaults to 100 rounds')
  C.check_eq(ra.count, math.floor(0.1 * 472 + 0.5), 'synflow density exact')
  check(prune.distance(prune.masks(a), prune.masks(b)) > 0, 'iterative synflow differs from one shot')
end

do -- the shuffle ablation keeps every layer's count and changes the pattern
  local a, b = lenet_small(), lenet_small()
  local ra = pai.prune(a, { method = 'snip', density = 0.2, data = ds, distribution = 'erk' })
  local rb = pai.prune(b, { method = 'snip', density = 0.2, data = ds, distribution = 'erk', shuffle = true })
  C.check_eq(counts(ra), counts(rb), 'shuffle keeps the layer counts')
  check(rb.shuffled and prune.distance(prune.masks(a), prune.masks(b)) > 0.05, 'shuffle moves the mask')
end

do -- a score of one's own; lotto.prune.at_init is the same function
  local m = lenet_small()
  local rep = prune.at_init(m, { method = function(model, ctx)
    local out = {}
    for _, e in ipairs(ctx.layers) do out[e.name] = T.arange(0, e.numel):reshape(e.shape) end
    return out
  end, density = 0.5, distribution = 'uniform' })
  C.check_eq(flat(m:parameters()[5].mask), { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
    'the largest custom scores are kept')
  check(rep.method == 'custom', 'report names a custom method')
end

do -- a net with batchnorm, residual blocks and convolutions: every method reaches the density
  local models = require 'lotto.models'
  local img = data.from_tensors(T.randn({ 16, 3, 8, 8 }, 1), T.new { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5 },
    { classes = 10 })
  for _, method in ipairs { 'snip', 'grasp', 'synflow', 'magnitude', 'random' } do
    local m = models.resnet20 { input = { 3, 8, 8 } }
    m:init { seed = 1 }
    local before = m:buffers()[1].value:clone()
    local rep = pai.prune(m, { method = method, density = 0.1, data = img, batch = 16, rounds = 3 })
    C.check_eq(flat(m:buffers()[1].value), flat(before), method .. ': batchnorm statistics as before')
    check(rep.count == math.floor(0.1 * rep.total + 0.5) and prune.stats(m).count == rep.count,
      ('resnet20 %s: %d of %d kept'):format(method, rep.count, rep.total))
    check(m:is_training(), method .. ' leaves the model in training mode')
  end
end

do -- misuse
  local m = lenet_small()
  checkerror(function() pai.prune(m, { method = 'snp', data = ds }) end, "did you mean 'snip'")
  checkerror(function() pai.prune(m, { distribution = 'ekr', data = ds }) end, "did you mean 'erk'")
  checkerror(function() pai.prune(m, { densty = 0.1 }) end, "unknown option 'densty'")
  checkerror(function() pai.prune(m, { method = 'snip' }) end, 'needs data')
  checkerror(function() pai.prune(m, { method = 'random', density = 0 }) end, 'density must be')
  checkerror(function() pai.prune(m, { method = 'random', layers = { 'fc9.weight' } }) end, "'fc9.weight' is not")
  checkerror(function() pai.prune(m, { method = function() return 3 end }) end, 'must return a table')
  checkerror(function() pai.prune(m, { method = 'random', distribution = function() return { 2 } end }) end,
    'one density per layer')
  checkerror(function() pai.prune(42, {}) end, 'model expected')
  check(prune.stats(m).overall == 1, 'failed calls leave the model dense')
end

C.report()
