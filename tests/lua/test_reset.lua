-- test_reset.lua: the IMP reset options of lotto.ticket.imp (option reset) each
-- reproduce a hand-written loop bit for bit: weight rewinding to θk ('weights'),
-- learning-rate rewinding (Renda et al. 2020: keep the trained survivors, replay the
-- schedule from iteration k; 'lr') and fine-tuning (keep them, train the same
-- iterations at the schedule's final rate; 'finetune'). A multistep schedule makes
-- the three differ; SGD with momentum makes a carried-over moment visible.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, prune, ticket, optim, io_ = lotto.tensor, lotto.nn, lotto.data, lotto.prune, lotto.ticket,
    lotto.optim, lotto.io
local fs = lotto.fs

local ROOT = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_reset'
local ITERS, K, BATCH = 40, 10, 20
local SCHED = { kind = 'multistep', lr = 0.1, milestones = { 20, 30 }, gamma = 0.1 }

local function blobs(n, seed)
  local x = tensor.randn({ n, 5 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do y:set(i, (x:get(i, 1) > 0 and 1 or 0) + (x:get(i, 2) > 0 and 1 or 0)) end
  return data.from_tensors(x, y, { classes = 3 })
end
local DATA = { train = blobs(200, 1), val = blobs(60, 2), test = blobs(60, 3) }

local function build()
  return nn.model(nn.sequential { nn.linear(5, 16), nn.relu(), nn.linear(16, 3) }, { input = { 5 } })
end

local function imp(reset)
  local _, run = ticket.imp {
    name = reset, root = ROOT, rounds = 1, seeds = { 1 }, verbose = false, plots = false, progress = false,
    model = build, data = function() return DATA end, controls = {},
    optimizer = { kind = 'sgd', lr = 0.1, momentum = 0.9 }, schedule = SCHED,
    batch = BATCH, iterations = ITERS, eval_every = 20, rewind = K, reset = reset,
    prune = { rate = 0.5 },
  }
  return io_.load(run.dir .. '/replicate_1/round_1/final.safetensors')
end

-- The hand-written loop: iterations [from, to) of the seed-1 data order with lr(it), a
-- fresh optimizer; returns a copy of the values after `snap` iterations when asked.
local function loop(model, from, to, lr, snap)
  local opt = optim.sgd(model, { lr = 0.1, momentum = 0.9 })
  local loader = data.loader(DATA.train, { batch = BATCH, seed = 1, shuffle = true })
  local per = loader:batches_per_epoch()
  loader:reset(from // per, from % per)
  model:train()
  model:apply_mask()
  local it = from
  while it < to do
    local x, y = loader:next()
    if x then
      opt:set_lr(lr(it))
      model:step_loss(x, y, 'xent')
      opt:step()
      it = it + 1
      if it == snap then snap = model:state() end
    end
  end
  return snap
end

local sched = optim.schedule(SCHED)
local function scheduled(it) return sched:lr(it) end

-- Round 0 by hand: θ0, θk, the trained dense network, then one magnitude pruning.
local function round0()
  local m = build()
  m:init { seed = 1, weight = 'glorot_normal' }
  local theta0 = m:state()
  local thetak = loop(m, 0, ITERS, scheduled, K)
  prune.magnitude(m, { rate = 0.5 })
  return m, theta0, thetak
end

local function same(model, got, what)
  T.check(got ~= nil, what .. ': the run wrote its round-1 weights')
  if not got then return end
  local worst = 0
  for _, p in ipairs(model:parameters()) do
    local d = got[p.name]:sub(p.value):abs():max()
    if d > worst then worst = d end
  end
  T.check_eq(worst, 0, what .. ': round 1 identical bit for bit to the hand-written loop')
end

assert(fs.remove_tree(ROOT))

do -- weight rewinding: the survivors go back to θk, the schedule continues from k
  local m, _, thetak = round0()
  local mask = m:masks():clone()
  m:load_state(thetak)
  m:masks():copy(mask)
  loop(m, K, ITERS, scheduled)
  same(m, imp('weights'), 'weights')
end

local lr_final
do -- learning-rate rewinding: the trained survivors, the schedule replayed from k
  local m = round0()
  loop(m, K, ITERS, scheduled)
  same(m, imp('lr'), 'lr')
end

do -- fine-tuning: the trained survivors, ITERS - K iterations at the final rate 0.001
  local m = round0()
  lr_final = sched:lr(ITERS - 1)
  T.check_near(lr_final, 0.001, 1e-9, 'the final rate of the schedule')
  loop(m, K, ITERS, function() return lr_final end)
  same(m, imp('finetune'), 'finetune')
end

do -- the three differ (the test could tell them apart)
  local a, b, c = imp('weights'), imp('lr'), imp('finetune')
  local w = '1.weight'
  for name in pairs(a) do if name:match('weight$') then w = name break end end
  T.check(a[w]:sub(b[w]):abs():max() > 0, 'weight rewinding and lr rewinding differ')
  T.check(b[w]:sub(c[w]):abs():max() > 0, 'lr rewinding and fine-tuning differ')
end

T.checkerror(function() ticket.imp { reset = 'finetun', verbose = false } end, "did you mean 'finetune'")
T.checkerror(function() ticket.imp { reset = 'rewnd', verbose = false } end, "option 'reset'")
T.report()
