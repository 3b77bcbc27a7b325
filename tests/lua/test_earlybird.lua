-- test_earlybird.lua: lotto.earlybird — mask distances, detection on a scripted mask
-- sequence, drawing masks without touching the model, the fit callback, applying the
-- early-bird mask, and the IMP driver stopping rounds early.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local earlybird = require 'lotto.earlybird'
local nn, tensor = lotto.nn, lotto.tensor

-- ---- distance ------------------------------------------------------------------------------
do
  local a = tensor.new { 1, 0, 1, 1, 0, 0, 1, 0 }
  local comp = tensor.ones { 8 }:sub(a)
  T.check_eq(earlybird.distance(a, a:clone()), 0, 'identical masks')
  T.check_eq(earlybird.distance(a, comp), 1, 'complementary masks')
  local b = a:clone():set(1, 0)
  local d, n = earlybird.distance(a, b)
  T.check_eq(n, 1)
  T.check_near(d, 1 / 8, 1e-12, 'one entry of eight differs')
  T.checkerror(function() earlybird.distance(a, tensor.ones { 3 }) end, 'masks have 8 and 3 entries')
  T.checkerror(function() earlybird.distance(a, {}) end, 'expected two mask tensors')
end

-- ---- detection on a scripted sequence --------------------------------------------------------
-- 100-entry masks; each epoch flips a fresh, disjoint block of entries, so the distance
-- between epochs i < j is the sum of the flips in between: 30, 20, 8, 5, 3, 1 entries.
do
  local flips = { 30, 20, 8, 5, 3, 1 }
  local masks, m, pos = {}, tensor.ones { 100 }, 0
  masks[1] = m:clone()
  for i, f in ipairs(flips) do
    m = m:clone()
    for q = pos + 1, pos + f do m:set(q, 0) end
    pos = pos + f
    masks[i + 1] = m
  end
  local eb = earlybird.new { window = 3, threshold = 0.1 }
  local fired = {}
  for e = 1, #masks do fired[e] = eb:push(masks[e], e * 10, e) end
  -- epoch 5: consecutive distances 0.08 and 0.05 are under 0.1, but epochs 3 and 5 are
  -- 0.13 apart: not yet. Epoch 6: window {4, 5, 6}, all pairs <= 0.08: found.
  T.check_eq(fired, { false, false, false, false, false, true, true }, 'fires at epoch 6 and stays found')
  T.check_eq(eb.found_at, { iter = 60, epoch = 6 })
  T.check_eq(eb.mask, masks[6], 'the drawn mask at detection')
  T.check(eb.found)
  T.check_near(eb.distances.consecutive, { 0.03, 0.01 }, 1e-12, 'consecutive distances of the last window')
  T.check_near(eb.distances.matrix[1][3], 0.04, 1e-12, 'pairwise matrix')
  T.check_eq(eb.distances.iters, { 50, 60, 70 })
  T.check_near(eb.found_distances.matrix[1][3], 0.08, 1e-12, 'the window at detection is kept: epochs 4 and 6')
  T.check_eq(eb.found_distances.iters, { 40, 50, 60 })
  T.check_eq(#eb.trace, 7)
  T.check_near(eb.trace[2].distance, 0.3, 1e-12, 'trace: distance to the previous mask')
  T.check_eq(eb.trace[1].distance, nil)

  -- a window of 2 fires at the first consecutive distance under the threshold
  local eb2 = earlybird.new { window = 2, threshold = 0.1 }
  local at
  for e = 1, #masks do if eb2:push(masks[e], e, e) and not at then at = e end end
  T.check_eq(at, 4, 'window 2: first pair closer than 0.1 is epochs 3-4')

  T.checkerror(function() eb:push(tensor.ones { 5 }, 1) end, 'mask has 5 entries')
  T.checkerror(function() earlybird.new { window = 1 } end, 'window must be an integer >= 2')
  T.checkerror(function() earlybird.new { ratio = 1.5 } end, 'ratio')
  T.checkerror(function() earlybird.new { method = 'filters' } end, "method must be 'magnitude'")
  T.checkerror(function() earlybird.new { windw = 3 } end, "unknown option 'windw'")
end

-- ---- drawing from a model: untouched model, right density and shape ---------------------------
local function mlp(seed)
  local m = nn.model(nn.sequential { nn.linear(8, 16), nn.relu(), nn.linear(16, 12), nn.relu(), nn.linear(12, 2) },
    { input = { 8 } })
  m:init { seed = seed or 1 }
  return m
end
local function bnnet()
  local m = nn.model(nn.sequential { nn.conv2d(1, 6, 3, { padding = 1 }), nn.batchnorm(6), nn.relu(),
    nn.conv2d(6, 4, 3, { padding = 1 }), nn.batchnorm(4), nn.relu(), nn.flatten(), nn.linear(4 * 16, 2) },
    { input = { 1, 4, 4 } })
  m:init { seed = 2 }
  return m
end

do
  local m = mlp()
  local v, k = m:state(), m:masks():clone()
  local eb = earlybird.new { ratio = 0.5 }
  eb:observe(m, 1, 1)
  T.check_eq(m:state(), v, 'observe leaves the weights alone')
  T.check_eq(m:masks(), k, 'observe leaves the masks alone')
  local drawn = eb.history[1].mask
  T.check_eq(drawn:numel(), 8 * 16 + 16 * 12 + 12 * 2, 'magnitude: one entry per prunable weight')
  T.check_eq(drawn:sum(), drawn:numel() / 2, 'half of the weights pruned')
  -- the survivors are the largest magnitudes: the smallest kept |w| >= the largest pruned
  local w = {}
  for _, p in ipairs(m:parameters()) do
    if p.prunable then for _, x in ipairs(p.value:reshape { -1 }:totable()) do w[#w + 1] = math.abs(x) end end
  end
  local dt, kmin, pmax = drawn:totable(), math.huge, 0
  for i, x in ipairs(w) do
    if dt[i] == 1 then kmin = math.min(kmin, x) else pmax = math.max(pmax, x) end
  end
  T.check(kmin >= pmax, 'global magnitude: survivors are the largest weights')
  -- already pruned weights stay pruned and do not count in the distance
  m:masks():narrow(1, 1, 64):fill(0)
  m:apply_mask()
  local eb3 = earlybird.new { ratio = 0.5 }
  eb3:observe(m, 1, 1)
  T.check_eq(eb3.base, drawn:numel() - 64, 'distance denominator: the alive entries')
  T.check_eq(eb3.history[1].mask:narrow(1, 1, 64):sum(), 0, 'pruned weights stay pruned in the draw')

  local n = earlybird.new { ratio = 0.25, method = 'neuron', scope = 'local' }
  n:observe(mlp(), 1, 1)
  T.check_eq(n.history[1].mask:numel(), 16 + 12, 'neuron: one entry per hidden unit (output layer kept)')
  T.check_eq(n.history[1].mask:sum(), 12 + 9, 'local: a quarter of each layer pruned')

  local b = bnnet()
  local c = earlybird.new { ratio = 0.5, method = 'channel' }
  c:observe(b, 1, 1)
  T.check_eq(c.history[1].mask:numel(), 10, 'channel: one entry per batchnorm channel')
  T.check_eq(c.history[1].mask:sum(), 5)
  T.checkerror(function() earlybird.new { method = 'channel' }:observe(mlp(), 1) end, 'no batchnorm layer')
  T.checkerror(function() earlybird.new {}:observe({}, 1) end, 'expected a model')

  -- apply: the channel mask removes the bn channel and the conv filter producing it
  local gammas = {}
  for _, p in ipairs(b:parameters()) do if p.name == 'bn1.weight' then gammas = p end end
  -- make channel 3 of bn1 the weakest by far
  gammas.value:fill(1):set(3, 1e-3)
  local c2 = earlybird.new { ratio = 0.1, method = 'channel', scope = 'local' }
  c2:observe(b, 1, 1)
  c2.mask = c2.history[1].mask
  c2:apply(b, c2.mask)
  local ps = {}
  for _, p in ipairs(b:parameters()) do ps[p.name] = p end
  T.check_eq(ps['bn1.weight'].mask:totable(), { 1, 1, 0, 1, 1, 1 }, 'bn scale of the weakest channel pruned')
  T.check_eq(ps['bn1.bias'].mask:get(3), 0, 'bn shift pruned')
  T.check_eq(ps['conv1.weight'].mask:select(1, 3):sum(), 0, 'the conv filter producing the channel pruned')
  T.check_eq(ps['conv1.weight'].mask:select(1, 2):sum(), 9, 'other filters kept')
  T.check_eq(ps['conv1.bias'].mask:get(3), 0, 'its bias pruned')
  T.check_eq(ps['conv1.weight'].value:select(1, 3):abs():sum(), 0, 'pruned values are zero')

  local mm = mlp()
  local nb = earlybird.new { ratio = 0.25, method = 'neuron', scope = 'local' }
  nb:observe(mm, 1, 1)
  nb:apply(mm, nb.history[1].mask)
  local p1 = mm:parameters()[1]
  local rows = p1.mask:sum(2):reshape { -1 }:totable()
  local dead = 0
  for _, r in ipairs(rows) do if r == 0 then dead = dead + 1 else T.check_eq(r, 8) end end
  T.check_eq(dead, 4, 'neuron apply: a quarter of the first layer rows pruned whole')
end

-- ---- the fit callback --------------------------------------------------------------------------
local function problem(n, seed)
  local x = tensor.randn({ n, 8 }, seed)
  local ys = {}
  for i, r in ipairs(x:totable()) do ys[i] = (r[1] + r[2] - r[3]) > 0 and 1 or 0 end
  return lotto.data.from_tensors(x, tensor.new(ys), { classes = 2 })
end
local data = { train = problem(256, 1), val = problem(64, 2), test = problem(64, 3) }
do
  -- a learning rate of zero: the weights never move, so every draw is the same mask and the
  -- bird is found at the window-th observation
  local m = mlp()
  local on_eval, eb = earlybird.callback(m, { window = 3, threshold = 0.1 })
  local h = lotto.train.fit(m, data, { optimizer = lotto.optim.sgd(m, { lr = 0 }), batch = 32, iterations = 100,
    eval_every = 5, on_eval = on_eval, progress = false })
  T.check_eq(h.iterations, 15, 'stopped at the third evaluation')
  T.check_eq(eb.found_at.iter, 15)
  T.check_eq(on_eval({ iter = 20, epoch = 1 }, m), 'stop', "the callback keeps returning 'stop' once found")

  local calls = 0
  local f = earlybird.callback(m, earlybird.new { window = 5 }, function() calls = calls + 1; return 'stop' end)
  T.check_eq(f({ iter = 1, epoch = 1 }, m), 'stop', "inner 'stop' is passed on")
  T.check_eq(calls, 1)
  local g = earlybird.callback(m, { window = 5 }, function() end)
  T.check_eq(g({ iter = 1, epoch = 1 }, m), nil, 'no stop before the window is full')
  T.checkerror(function() earlybird.callback(m, {}, 3) end, 'inner_on_eval must be a function')

  -- with real training the weights move: the distances are recorded, and a plot draws
  local m2 = mlp(3)
  local cb, eb2 = earlybird.callback(m2, { window = 3, threshold = 0.05, ratio = 0.5 })
  lotto.train.fit(m2, data, { optimizer = lotto.optim.adam(m2, { lr = 1e-2 }), batch = 32, iterations = 80,
    eval_every = 8, on_eval = cb, progress = false })
  T.check(#eb2.trace >= 3, 'observed at each evaluation')
  T.check(eb2.trace[2].distance > 0, 'training moves the drawn mask')
  local rec = eb2:record()
  T.check_eq(rec.window, 3)
  T.check(lotto.json.encode(rec) ~= nil, 'the record encodes as JSON')
  if lotto.plot.have_gnuplot() then
    local tmp = os.getenv('LOTTO_TEST_TMP') or '.'
    local files = eb2:plot { out = tmp .. '/earlybird_test/eb' }
    T.check(files and #files == 2, 'heatmap and trace plotted')
  end
end

-- ---- the IMP driver stops rounds early and records the iterations saved ------------------------
-- (needs lotto.ticket's earlybird option; ticket.lua is not ours, so this part waits for it)
if lotto.ticket.defaults.earlybird == nil then
  io.stdout:write('note: lotto.ticket.imp has no earlybird option yet; the IMP integration check is not run\n')
else
  local root = (os.getenv('LOTTO_TEST_TMP') or '.') .. '/earlybird_imp'
  local ok, err = pcall(lotto.ticket.imp, {
    name = 'eb', root = root, restart = true, model = function() return mlp() end, data = data,
    optimizer = { kind = 'sgd', lr = 0 }, batch = 32, iterations = 60, eval_every = 20, rounds = 2, controls = {},
    earlybird = { window = 2, threshold = 0.1, every = 10, ratio = 0.2 }, plots = false, verbose = false, progress = false })
  T.check(ok, 'ticket.imp with earlybird runs: ' .. tostring(err))
  if ok then
    local rec = earlybird.savings(root .. '/eb')
    T.check_eq(#rec.rounds, 2, 'one record per pruned round')
    T.check_eq(rec.rounds[1].configured, 60)
    T.check_eq(rec.rounds[1].trained, 20, 'lr 0: the second observation (iteration 20) finds the bird')
    T.check_eq(rec.saved_total, 80)
    T.check(lotto.fs.exists(root .. '/eb/earlybird.json'), 'earlybird.json written')
  end
end

T.report()
