-- toy_sum.lua: the lottery ticket of a toy problem. A 2-200-1 linear network without
-- biases learns y = x1 + x2 on [-1, 1) and is tested on [1, 2) (extrapolation). IMP
-- prunes 25% of each layer per round, never below two weights, and rewinds to
-- iteration 1 (late resetting), until two weights remain per layer. A winning ticket
-- of 2 + 2 weights computes the sum exactly. So does the same mask reinitialised (in
-- this linear toy the mask carries the solution: any weights on the two right paths can
-- learn it); the permuted mask, whose weights no longer line up on paths, fails.
--
--   lotto examples/toy_sum.lua              1 seed (a few seconds)
--   lotto examples/toy_sum.lua --full       5 seeds
--   lotto examples/toy_sum.lua --restart    start over instead of resuming
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/toy_sum.lua [options]',
  about = 'The sum-of-two-inputs toy: a 2-200-1 linear net learns y = x1 + x2 on [-1, 1), tested on\n'
    .. '[1, 2); IMP prunes it to two weights per layer. The ticket and the reinitialised mask\n'
    .. 'both extrapolate; the permuted mask fails. Prints the test RMSE of each.',
  scales = { { '(default)', '1 seed, up to 40 rounds of 500 iterations', 'about 30 s' },
             { '--full', '5 seeds', 'about 3 min' } },
  options = {
    { 'full', false, '5 seeds' },
    { 'restart', false, 'start over instead of resuming' },
    { 'root', 'runs', 'directory of the run store' },
  },
})
local full, restart, root = o.full, o.restart, o.root
local D, nn, prune = lotto.data, lotto.nn, lotto.prune

local data = {
  train = D.sum_of_two { n = 1000, lo = -1, hi = 1, seed = 1 },
  val = D.sum_of_two { n = 200, lo = -1, hi = 1, seed = 2 },
  test = D.sum_of_two { n = 1000, lo = 1, hi = 2, seed = 3 },
}

local function net()
  return nn.model(nn.sequential { nn.linear(2, 200, { bias = false }), nn.linear(200, 1, { bias = false }) },
    { input = { 2 } })
end

-- 25% of each layer's surviving weights per round, but keep at least two.
local function prune25(model)
  local rates = {}
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local n = prune.count(p.mask)
      rates[p.name] = n > 2 and math.min(math.floor(0.25 * n + 0.5), n - 2) / n or 0
    end
  end
  prune.magnitude(model, { rates = rates })
end

local results, run = lotto.ticket.imp {
  name = 'toy_sum', root = root, restart = restart,
  model = net, data = data, loss = 'mse',
  optimizer = { kind = 'sgd', lr = 0.05 },
  batch = 20, iterations = 500, eval_every = 50,
  seeds = full and { 1, 2, 3, 4, 5 } or { 1 },
  rounds = 40, target_density = 4 / 600, -- 2 of 400 + 2 of 200
  prune = prune25, rewind = 1,
  controls = { 'reinit', 'permuted' },
}

-- The last round's ticket of the first seed: its surviving weights.
local seed = run:replicates()[1]
local last = run:completed_rounds(seed)
last = last[#last]
local t = assert(lotto.ticket.load(run.dir, seed, last))
print(('winning ticket after %d rounds (seed %d), trained weights:'):format(last, seed))
local fed = {} -- hidden units with a surviving input weight
for _, name in ipairs { 'fc1.weight', 'fc2.weight' } do
  local m, w = t.named.mask[name]:contiguous(), t.named.final[name]:contiguous()
  for r = 1, m:size(1) do
    for c = 1, m:size(2) do
      if m:get(r, c) ~= 0 then
        if name == 'fc1.weight' then fed[r] = true end
        local note = (name == 'fc2.weight' and not fed[c]) and '   (hidden unit ' .. c .. ' has no input: no effect)' or ''
        print(('  %s[%d][%d] = %9.5f%s'):format(name, r, c, w:get(r, c), note))
      end
    end
  end
end

local function rmse(round, method)
  local a = results.aggregate[round + 1]
  local st = a and a.methods[method] and a.methods[method].final_test_loss
  return st and math.sqrt(st.mean)
end
local out = { ticket = rmse(last, 'ticket'), reinit = rmse(last, 'reinit'), permuted = rmse(last, 'permuted'),
              full = rmse(0, 'ticket'), weights = t.summary.layers, round = last, run = run }
print(('test RMSE on [1, 2) (mean of %d seed%s):'):format(#run:replicates(), #run:replicates() > 1 and 's' or ''))
print(('  winning ticket      %.3g  (%.2f%% of the weights)'):format(out.ticket, t.summary.remaining_pct))
print(('  reinitialised       %.3g'):format(out.reinit))
print(('  permuted mask       %.3g'):format(out.permuted))
print(('  full model          %.3g'):format(out.full))
print('(the ticket and the reinitialised mask both solve the toy; the permuted mask is the one that fails)')
return out
