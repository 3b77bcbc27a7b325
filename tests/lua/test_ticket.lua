-- test_ticket.lua: ticket operations (rewind bit-exact, fresh optimizer, permuted and
-- random masks keep per-layer densities, reinit, sign-preserving reinit, transfer) and
-- the IMP driver (rounds, controls, late resetting from iteration k, files, target
-- density, one-shot, transfer from a source run, config checks) on tiny synthetic tasks.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, prune, ticket, io_ = lotto.tensor, lotto.nn, lotto.data, lotto.prune, lotto.ticket, lotto.io
local fs = lotto.fs

local ROOT = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_ticket'
assert(fs.remove_tree(ROOT))

local function mlp(classes, bn)
  local layers = { nn.linear(5, 16) }
  if bn then layers[#layers + 1] = nn.batchnorm(16) end
  layers[#layers + 1] = nn.relu()
  layers[#layers + 1] = nn.linear(16, 12)
  layers[#layers + 1] = nn.relu()
  layers[#layers + 1] = nn.linear(12, classes or 3)
  return nn.model(nn.sequential(layers), { input = { 5 } })
end

-- classes from the signs of the first coordinates (3 classes, or 2)
local function blobs(n, seed, classes)
  classes = classes or 3
  local x = tensor.randn({ n, 5 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do
    local c = (x:get(i, 1) > 0 and 1 or 0) + (x:get(i, 2) > 0 and 1 or 0)
    y:set(i, classes == 3 and c or (c == 1 and 1 or 0))
  end
  return data.from_tensors(x, y, { classes = classes })
end
local ds3 = { train = blobs(300, 1), val = blobs(100, 2), test = blobs(100, 3) }
local ds2 = { train = blobs(300, 4, 2), val = blobs(100, 5, 2), test = blobs(100, 6, 2) }

local function layer_counts(model)
  local out = {}
  for _, p in ipairs(model:parameters()) do
    if p.prunable then out[p.name] = prune.count(p.mask) end
  end
  return out
end

local function masked(t, m) return t:mul(m) end
local cfg = { optimizer = { kind = 'adam', lr = 1e-2 }, batch = 20, iterations = 60, eval_every = 30, eval_batch = 100 }

-- ---- rewind: bit-exact survivors, pruned zero, fresh optimizer, batchnorm restarted ----
do
  local m = mlp(3, true)
  m:init { seed = 11 }
  local theta0 = ticket.snapshot(m)
  ticket.train(m, ds3, cfg)
  T.check(m:state():sub(theta0):abs():max() > 0, 'training moved the weights')
  prune.magnitude(m, { rate = 0.5, output_rate = 0.2 })
  local mask = m:masks():clone()
  ticket.rewind(m, theta0, mask)
  T.check_eq(m:state(), masked(theta0, mask), 'surviving weights are θ0 bit for bit, pruned ones 0')
  for _, b in ipairs(m:buffers()) do
    T.check_eq(b.value:sum(), b.name:match('running_var$') and b.value:numel() or 0, b.name .. ' restarted')
  end
  -- Training after a rewind equals training a fresh copy: no optimizer state survives.
  ticket.train(m, ds3, cfg)
  local fresh = mlp(3, true)
  fresh:init { seed = 11 }
  fresh:masks():copy(mask)
  fresh:apply_mask()
  ticket.train(fresh, ds3, cfg)
  T.check_eq(m:state(), fresh:state(), 'rewound ticket trains exactly as a fresh model with its mask')
  T.checkerror(function() ticket.rewind(m, tensor.zeros { 3 }) end, 'flat tensor of')
  T.checkerror(function() ticket.rewind({}, theta0) end, 'lotto.nn model expected')
end

-- ---- permuted and random masks keep every layer's count ----
do
  local m = mlp()
  m:init { seed = 3 }
  local theta0 = m:state()
  prune.magnitude(m, { rate = 0.6, output_rate = 0.3 })
  local mask, counts = m:masks():clone(), layer_counts(m)
  ticket.permute(m, 5)
  T.check_eq(layer_counts(m), counts, 'permute keeps each layer density')
  local _, frac = prune.hamming(m:masks(), mask)
  T.check(frac > 0.2, 'permute moves the mask (' .. frac .. ')')
  local pmask = m:masks():clone()
  ticket.rewind(m, theta0)
  T.check_eq(m:state(), masked(theta0, pmask), 'after permute, rewind gives θ0 on the permuted mask')
  m:masks():copy(mask); m:apply_mask()
  ticket.permute(m, 5)
  T.check_eq(m:masks(), pmask, 'permute is seeded')
  m:masks():copy(mask); m:apply_mask()
  ticket.permute(m, 6)
  T.check(prune.hamming(m:masks(), pmask) > 0, 'another seed, another permutation')
  m:masks():copy(mask); m:apply_mask()
  ticket.random_mask(m, 7)
  T.check_eq(layer_counts(m), counts, 'random_mask keeps each layer count')
  T.check(prune.hamming(m:masks(), mask) > 0, 'random_mask draws a new mask')
  -- biases are never permuted (their masks stay all ones)
  for _, p in ipairs(m:parameters()) do
    if not p.prunable then T.check_eq(p.mask:sum(), p.numel, p.name .. ' mask untouched') end
  end
  T.checkerror(function() ticket.permute(m, 1.5) end, 'integer seed expected')
end

-- ---- reinit, sign-preserving reinit, reinit_layers ----
do
  local m = mlp()
  m:init { seed = 21 }
  local theta0 = m:state()
  prune.magnitude(m, { rate = 0.5 })
  local mask = m:masks():clone()
  ticket.reinit(m, 99)
  T.check_eq(m:masks(), mask, 'reinit keeps the mask')
  T.check_eq(m:state():mul(mask:neg():add(1)):abs():max(), 0, 'reinit: pruned weights 0')
  local r1 = m:state()
  T.check(r1:sub(masked(theta0, mask)):abs():max() > 1e-3, 'reinit draws new values')
  ticket.reinit(m, 99)
  T.check_eq(m:state(), r1, 'reinit is seeded')

  ticket.rewind(m, theta0, mask)
  ticket.sign_preserving_reinit(m, theta0, 77)
  local v, same_sign, diff_mag, n = m:state(), true, 0, 0
  for _, p in ipairs(m:parameters()) do
    if p.prunable then
      for i = p.offset + 1, p.offset + p.numel do
        if mask:get(i) == 1 then
          n = n + 1
          if (v:get(i) > 0) ~= (theta0:get(i) > 0) then same_sign = false end
          if math.abs(math.abs(v:get(i)) - math.abs(theta0:get(i))) > 1e-6 then diff_mag = diff_mag + 1 end
        elseif v:get(i) ~= 0 then same_sign = false end
      end
    end
  end
  T.check(same_sign, 'sign-preserving reinit keeps the signs of θ0, pruned stay 0')
  T.check(diff_mag > 0.9 * n, 'sign-preserving reinit draws new magnitudes')

  ticket.rewind(m, theta0, mask)
  ticket.reinit_layers(m, { 'fc3' }, 5)
  local s = m:state()
  for _, p in ipairs(m:parameters()) do
    local a, b = s:narrow(1, p.offset + 1, p.numel), masked(theta0, mask):narrow(1, p.offset + 1, p.numel)
    if p.layer == 'fc3' and p.prunable then T.check(a:sub(b):abs():max() > 0, 'fc3 redrawn')
    elseif p.layer ~= 'fc3' then T.check_eq(a, b, p.name .. ' kept') end
  end
end

-- ---- start_iteration: a run rewound to θk and continued from k equals the uninterrupted run ----
do
  local sgd = { optimizer = { kind = 'sgd', lr = 0.05 }, batch = 32, iterations = 50, eval_every = 10, eval_batch = 100 }
  local m = mlp()
  m:init { seed = 8 }
  local h = ticket.train(m, ds3, sgd, { snapshots = { 17 }, data_seed = 4 })
  local full = m:state()
  ticket.rewind(m, h.snapshots[17])
  local h2 = ticket.train(m, ds3, sgd, { start = 17, data_seed = 4 })
  T.check_eq(m:state(), full, 'continuing from iteration 17 reproduces the run (data order and count)')
  T.check_eq(h2.records[1].iter, 20)
  T.check_eq(h2.final.iter, 50)
end

-- ---- the IMP driver -----------------------------------------------------------------
local base = {
  root = ROOT, model = function() return mlp() end, data = ds3, optimizer = { kind = 'adam', lr = 1e-2 },
  batch = 20, iterations = 60, eval_every = 20, eval_batch = 100, verbose = false, plots = false,
}
local function with(t)
  local o = {}
  for k, v in pairs(base) do o[k] = v end
  for k, v in pairs(t) do o[k] = v end
  return o
end

do
  local res, run = ticket.imp(with { name = 'imp', seeds = { 1, 2 }, rounds = 2, prune = { rate = 0.5, output_rate = 0.25 },
    controls = { 'reinit', 'permuted', 'random' } })
  T.check_eq(#res.aggregate, 3, 'rounds 0, 1, 2')
  -- fc1 80 -> 40 -> 20, fc2 192 -> 96 -> 48, fc3 36 -> 27 -> 20 (round half up: 6.75 -> 7)
  T.check_near(res.aggregate[2].density, (40 + 96 + 27) / 308, 1e-12, 'round 1 density')
  T.check_near(res.aggregate[3].density, (20 + 48 + 20) / 308, 1e-12, 'round 2 density')
  for _, m in ipairs { 'ticket', 'reinit', 'permuted', 'random' } do
    local st = res.aggregate[3].methods[m]
    T.check(st and st.early_stop_test_acc and st.early_stop_test_acc.n == 2, m .. ' aggregated over 2 seeds')
  end
  T.check(res.dense and res.dense.early_stop_test_acc.mean > 0.5, 'dense baseline')
  for _, f in ipairs { 'config.json', 'results.json', 'replicate_2/init.safetensors', 'replicate_2/rewind.safetensors',
      'replicate_2/round_2/metrics.jsonl', 'replicate_2/round_2/mask.safetensors', 'replicate_2/round_2/summary.json' } do
    T.check(fs.exists(run.dir .. '/' .. f), f .. ' written')
  end
  -- masks are nested, stored per parameter, and match the summaries
  local t1, t2 = ticket.load(run.dir, 2, 1), ticket.load(run.dir, 2, 2)
  for name, m2 in pairs(t2.named.mask) do
    T.check_eq(m2:mul(t1.named.mask[name]), m2, name .. ': round 2 mask within round 1 mask')
    T.check_near(prune.density(m2), t2.summary.layers[name], 1e-12, name .. ' density in summary')
    T.check_eq(t2.named.final[name]:mul(m2:neg():add(1)):abs():max(), 0, name .. ': trained ticket is 0 where pruned')
  end
  local m = mlp()
  m:init { seed = 2 }
  for _, p in ipairs(m:parameters()) do T.check_eq(t2.named.init[p.name], p.value, 'θ0 of seed 2 is init{seed = 2}: ' .. p.name) end
  T.check_eq(t2.named.rewind['fc1.weight'], t2.named.init['fc1.weight'], 'rewind 0: θk is θ0')
  -- flat tensors in the layout of model:values(), without the model
  T.check_eq(t2.init, m:state(), 'flat θ0')
  m:masks():copy(t2.mask)
  T.check_near(m:density(), t2.summary.density, 1e-12, 'flat mask (biases kept)')
  -- each round's cost: 5*16 + 16*12 + 12*3 = 308 multiply-adds dense, 20 + 48 + 20 kept in round 2
  T.check_eq(t2.summary.cost.macs, 308, 'dense MACs in the summary')
  T.check_eq(t2.summary.cost.macs_kept, 88, 'MACs after masks in the summary')
  T.check_near(t2.summary.cost.speedup, 308 / 88, 1e-12, 'theoretical speed-up')
  T.check_eq(res.replicates['2'][3].cost.macs_kept, 88, 'cost in results.json')
  T.check_eq(t2.final:mul(t2.mask), t2.final, 'flat final is 0 where pruned')
  local recs = run:load_metrics(1, 2)
  local methods = {}
  for _, r in ipairs(recs) do methods[r.method] = (methods[r.method] or 0) + 1 end
  T.check_eq(methods, { ticket = 3, reinit = 3, permuted = 3, random = 3 }, 'metrics of every method')
  T.check(ticket.report(res):find('permuted', 1, true) ~= nil, 'report names the methods')
  local ok, info = pcall(io_.info, run:mask_path(1, 1))
  T.check(ok and info['fc1.weight'].dtype == 'U8', 'masks stored as U8')

  -- the same config again: nothing retrained, same results
  local before = io_.read_file(run.dir .. '/results.json')
  local res2 = ticket.imp(with { name = 'imp', seeds = { 1, 2 }, rounds = 2, prune = { rate = 0.5, output_rate = 0.25 },
    controls = { 'reinit', 'permuted', 'random' } })
  T.check_eq(io_.read_file(run.dir .. '/results.json'), before, 'rerun of a complete run changes nothing')
  T.check_eq(#res2.aggregate, 3)
  -- a changed config is refused, naming the key; restart = true starts over
  T.checkerror(function()
    ticket.imp(with { name = 'imp', seeds = { 1, 2 }, rounds = 2, prune = { rate = 0.4, output_rate = 0.25 },
      controls = { 'reinit', 'permuted', 'random' } })
  end, 'prune.rate: 0.5 -> 0.4')
  T.checkerror(function() ticket.imp(with { name = 'imp', optimizer = { kind = 'adam', lr = 1e-3 } }) end, 'optimizer.lr')
end

-- late resetting: θk is the dense run's iteration-k weights; tickets train from k
do
  local res, run = ticket.imp(with { name = 'late', rounds = 1, rewind = 7, prune = { rate = 0.5 }, controls = { 'permuted' } })
  local t = ticket.load(run.dir, 1, 1)
  local m = mlp()
  m:init { seed = 1 }
  local h = ticket.train(m, ds3, base, { snapshots = { 7 }, data_seed = 1 })
  local snap = ticket.named(m, h.snapshots[7])
  T.check_eq(t.named.rewind['fc2.weight'], snap['fc2.weight'], 'rewind.safetensors holds θ7')
  local recs = run:load_metrics(1, 1, 'ticket')
  T.check_eq(recs[1].iter, 20, 'the ticket resumes the schedule at 7 (first eval at 20)')
  T.check_eq(recs[#recs].iter, 60)
  T.check_eq(#recs, 3)
  T.check_eq(res.aggregate[2].methods.permuted.final_iter.mean, 60)
end

-- target density, prune function, one-shot
do
  local seen = {}
  local res = ticket.imp(with { name = 'target', rounds = 10, target_density = 0.3, controls = {},
    prune = function(model, round) seen[#seen + 1] = round; prune.magnitude(model, { rate = 0.5 }) end })
  T.check_eq(seen, { 1, 2 }, 'the prune function gets the round; stops once at or below 0.3')
  T.check_eq(#res.aggregate, 3)
  T.check(res.aggregate[3].density <= 0.3 and res.aggregate[2].density > 0.3, 'stopped at the target')
  local res1, run1 = ticket.one_shot(with { name = 'oneshot', density = 0.25, controls = { 'random', 'sign' } })
  T.check_eq(#res1.aggregate, 2)
  T.check(res1.aggregate[2].methods.sign.final_test_acc ~= nil, 'sign-preserving reinit control trained')
  T.check_eq(#run1:load_metrics(1, 1, 'sign'), 3)
  T.check_near(res1.aggregate[2].density, 0.25, 0.01, 'one-shot density')
  -- a prune function that removes nothing ends the run instead of looping
  local r2 = ticket.imp(with { name = 'noprune', rounds = 3, controls = {}, prune = function() end })
  T.check_eq(#r2.aggregate, 1)
end

-- transfer: the masks and θ0 of one run on another task with another class count
do
  local src_dir = ROOT .. '/imp'
  local res, run = ticket.imp(with { name = 'transfer', data = ds2, seeds = { 1 }, rounds = 2, controls = { 'random' },
    model = function(c) return mlp(c.model_opts.classes) end, model_opts = { classes = 2 },
    source = { run = src_dir, weights = 'init', reinit = { 'fc3' } } })
  local s, t = ticket.load(src_dir, 1, 2), ticket.load(run.dir, 1, 2)
  T.check_eq(t.named.mask['fc1.weight'], s.named.mask['fc1.weight'], 'fc1 mask from the source')
  T.check_eq(t.named.mask['fc2.weight'], s.named.mask['fc2.weight'], 'fc2 mask from the source')
  T.check_eq(t.named.init['fc2.weight'], s.named.init['fc2.weight'], 'θ0 from the source')
  T.check_eq(t.named.mask['fc3.weight']:shape(), { 2, 12 })
  T.check_near(prune.density(t.named.mask['fc3.weight']), prune.density(s.named.mask['fc3.weight']), 0.05, 'fc3 mask at the source density')
  T.check_near(res.aggregate[3].density, (20 + 48 + 13) / (80 + 192 + 24), 1e-12, 'density of the transferred ticket')
  T.check(res.aggregate[3].methods.random ~= nil, 'random ticket of the same density trained beside it')
  local m = mlp(2)
  T.checkerror(function() ticket.transfer(m, s) end, "mask for 'fc3.weight' has 36 values, the model 24")
  ticket.transfer(m, s, { reinit = { 'fc3' }, seed = 3 })
  T.check_eq(m:density() < 0.4, true, 'transfer sets the masks')
  T.checkerror(function() ticket.imp(with { name = 'nosrc', source = { run = ROOT .. '/absent' } }) end, 'not a run directory')
end

-- option errors
do
  T.checkerror(function() ticket.imp(with { name = 'e', epochz = 3 }) end, "unknown option 'epochz'")
  T.checkerror(function() ticket.imp(with { name = 'e', controls = { 'reinit', 'shuffled' } }) end, "unknown control 'shuffled'")
  T.checkerror(function() ticket.imp(with { name = 'e', rewind = 60 }) end, "'rewind' (60) must be below 'iterations' (60)")
  T.checkerror(function() ticket.imp(with { name = 'e', prune = 0.2 }) end, "option 'prune'")
  T.checkerror(function() ticket.imp(with { name = 'e', seeds = { 1, 'x' } }) end, "'seeds'[2]")
  T.checkerror(function() ticket.imp(with { name = 'e', model = 'lenet400' }) end, "unknown model 'lenet400'")
  T.checkerror(function() ticket.imp(with { name = 'e', batch = 0 }) end, "option 'batch' must be a positive integer")
  T.checkerror(function() ticket.imp(with { name = 'e', data = 'imagenet' }) end, "unknown data set 'imagenet'")
  T.checkerror(function() ticket.imp(with { name = 'e', source = { run = 3 } }) end, "option 'source'")
  T.checkerror(function() ticket.one_shot(with { name = 'e', density = 1.5 }) end, "'density' must be in (0, 1]")
  T.checkerror(function() ticket.imp(with { name = 'e', prune = { rate = 2 } }) end, 'rate must be a number in [0, 1]')
  T.check(not fs.exists(ROOT .. '/e'), 'a wrong option fails before the run directory is made')
  -- a run without a completed round holds nothing: another config may replace it
  assert(fs.mkdir_p(ROOT .. '/fresh'))
  assert(lotto.json.write(ROOT .. '/fresh/config.json', { name = 'fresh', batch = 7, _format = 'lotto.run/1' }))
  local ok = pcall(ticket.imp, with { name = 'fresh', rounds = 0 })
  T.check(ok, 'an empty run is replaced')
  local _, err = ticket.load(ROOT .. '/imp', 9, 1)
  T.check(err and err:find('no completed round 1 for seed 9', 1, true), 'load names what is missing: ' .. tostring(err))
end

-- a diverged training names its seed, round and method (issue: the error said none of them)
do
  local ok, err = pcall(ticket.imp, with { name = 'diverges', rounds = 1, seeds = { 3 }, controls = {},
    optimizer = { kind = 'sgd', lr = 1e30 }, restart = true })
  T.check(not ok and tostring(err):find('training diverged', 1, true) ~= nil, tostring(err))
  T.check(tostring(err):find('(seed 3, round 0, dense)', 1, true) ~= nil, 'the message names seed, round and method: ' .. tostring(err))
end
T.report()
