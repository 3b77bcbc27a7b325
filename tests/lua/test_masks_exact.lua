-- test_masks_exact.lua: masks are exact through training. After many optimizer steps
-- (SGD, momentum, Nesterov, weight decay, Adam, AdamW; through lotto.train.fit, the
-- optimizers directly and lotto.ticket.train), every pruned weight is exactly 0 and
-- carries no optimizer moment, while the surviving weights — negative ones too — move.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, optim, data, prune, ticket = lotto.tensor, lotto.nn, lotto.optim, lotto.data, lotto.prune, lotto.ticket

local STEPS = 300 -- a fraction of a second, also under the sanitizers

local function model(seed)
  local m = nn.model(nn.sequential { nn.linear(6, 24), nn.relu(), nn.linear(24, 12), nn.relu(), nn.linear(12, 3) },
    { input = { 6 } })
  m:init { seed = seed or 1 }
  return m
end

-- Three classes from the sign pattern of two coordinates.
local function blobs(n, seed)
  local x = tensor.randn({ n, 6 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do y:set(i, (x:get(i, 1) > 0 and 1 or 0) + (x:get(i, 2) > 0 and 1 or 0)) end
  return data.from_tensors(x, y, { classes = 3 })
end
local ds = { train = blobs(480, 1), val = blobs(120, 2), test = blobs(120, 3) }

-- Largest |value| at a pruned position, and the number of pruned positions.
local function leak(values, masks)
  local off = values:mul(masks:neg():add(1)) -- values where mask = 0
  return off:abs():max(), masks:numel() - masks:sum()
end

-- A pruned model: 60% of each weight, 30% of the output layer, plus every negative
-- weight of fc2 (pruning negative weights exposes the "frozen negative" bug class).
local function pruned_model(seed)
  local m = model(seed)
  prune.magnitude(m, { rate = 0.6, output_rate = 0.3 })
  for _, p in ipairs(m:parameters()) do
    if p.name == 'fc2.weight' then
      local v, mk = p.value:contiguous(), p.mask
      for i = 1, p.shape[1] do
        for j = 1, p.shape[2] do if v:get(i, j) < 0 then mk:set(i, j, 0) end end
      end
    end
  end
  m:apply_mask()
  return m
end

local specs = {
  { name = 'sgd', kind = 'sgd', lr = 0.1 },
  { name = 'momentum', kind = 'sgd', lr = 0.05, momentum = 0.9 },
  { name = 'nesterov+wd', kind = 'sgd', lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 1e-3 },
  { name = 'adam', kind = 'adam', lr = 1e-2 },
  { name = 'adam+wd', kind = 'adam', lr = 1e-2, weight_decay = 1e-3 },
  { name = 'adamw', kind = 'adamw', lr = 1e-2, weight_decay = 0.05 },
}

-- Through lotto.train.fit
for _, s in ipairs(specs) do
  local m = pruned_model(3)
  local masks = m:masks():clone()
  local before = m:state()
  local _, npruned = leak(before, masks)
  T.check(npruned > 100, 'a sizeable part of the model is pruned')
  local spec = {}
  for k, v in pairs(s) do if k ~= 'name' then spec[k] = v end end
  local opt = optim.make(m, spec)
  local h = lotto.train.fit(m, ds, { optimizer = opt, batch = 16, iterations = STEPS, eval_every = STEPS, progress = false })
  T.check_eq(h.iterations, STEPS)
  T.check_eq(leak(m:state(), masks), 0, s.name .. ': pruned weights stay exactly 0 through fit')
  T.check_eq(m:masks(), masks, s.name .. ': training leaves the masks alone')
  for k = 1, 2 do
    local mom = opt:moment(k)
    if mom then T.check_eq(leak(mom, masks), 0, s.name .. ': no optimizer moment ' .. k .. ' on pruned weights') end
  end
  -- The survivors did train, including negative ones.
  local moved = m:state():sub(before):abs():mul(masks)
  T.check(moved:max() > 1e-3, s.name .. ': surviving weights move')
  local neg_moved = 0
  local b, a, mk = before, m:state(), masks
  for i = 1, b:numel() do
    if mk:get(i) == 1 and b:get(i) < 0 and a:get(i) ~= b:get(i) then neg_moved = neg_moved + 1 end
  end
  T.check(neg_moved > 20, s.name .. ': negative surviving weights are not frozen (' .. neg_moved .. ' moved)')
  T.check(h.final.test_acc > 0.6, s.name .. ': the pruned model still learns, test acc ' .. tostring(h.final.test_acc))
end

-- Through the optimizers directly (step after step_loss), with a mask pruned mid-way:
-- weights pruned after momentum has built up get no more updates and no stale momentum.
for _, s in ipairs(specs) do
  local m = model(5)
  local spec = {}
  for k, v in pairs(s) do if k ~= 'name' then spec[k] = v end end
  local opt = optim.make(m, spec)
  local x, y = ds.train:x():narrow(1, 1, 32):contiguous(), ds.train:y():narrow(1, 1, 32):contiguous()
  for _ = 1, 20 do m:step_loss(x, y); opt:step() end
  prune.magnitude(m, { rate = 0.5 })
  local masks = m:masks():clone()
  for _ = 1, STEPS // 2 do m:step_loss(x, y); opt:step() end
  T.check_eq(leak(m:state(), masks), 0, s.name .. ': pruned mid-training, pruned weights stay 0')
  for k = 1, 2 do
    local mom = opt:moment(k)
    if mom then T.check_eq(leak(mom, masks), 0, s.name .. ': moment ' .. k .. ' cleared where pruned') end
  end
end

-- Through lotto.ticket.train (a fresh optimizer per run) after a rewind
do
  local m = pruned_model(7)
  local theta0 = ticket.snapshot(m)
  local masks = m:masks():clone()
  local cfg = { optimizer = { kind = 'adam', lr = 5e-3 }, batch = 20, iterations = STEPS, eval_every = STEPS, eval_batch = 100 }
  ticket.train(m, ds, cfg)
  prune.magnitude(m, { rate = 0.5 })
  masks = m:masks():clone()
  ticket.rewind(m, theta0, masks)
  T.check_eq(leak(m:state(), masks), 0, 'rewind zeroes the newly pruned weights')
  ticket.train(m, ds, cfg)
  T.check_eq(leak(m:state(), masks), 0, 'ticket.train keeps the new mask exact')
end

T.report()
