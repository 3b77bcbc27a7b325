-- ugs_edge_scores.lua: are UGS's edge scores better than random? One-shot, graph-only: score the
-- edges of a GCN on Cora, prune the lowest --prune of them, train the dense GCN (the UGS defaults:
-- 512 hidden, no biases, Adam 0.008, weight decay 8e-5, 200 epochs) on what is left and compare
-- the test accuracy of these edge choices, each on the same θ0 per seed:
--   ugs     |m_g| of one UGS mask search (lotto.ugs.search, weights not pruned), best-val epoch
--   grad    minus the training loss's gradient wrt the edge weights, summed over a dense training
--   gradval as grad, but the gradient of the VALIDATION loss (500 labelled nodes instead of 140):
--           whether more labels make the loss's gradient a better edge score (a diagnostic)
--   random  random edges (the paper's RP)
--   randkeep random edges, none at a training node (UGS's search cuts their edges)
--   oracle  heterophilous edges only, up to the count (labels of ALL nodes, test included; Cora has
--           1003): a ceiling, not a method
-- Also printed: the share of the pruned edges that join two nodes of one class (homophily) and
-- the share that touch a training node.
--
--   lotto examples/ugs_edge_scores.lua                        ugs, grad, random, oracle; 3 seeds
--   lotto examples/ugs_edge_scores.lua --prune 0.05 --methods ugs,random --s1 0
local spec = {
  usage = 'lotto examples/ugs_edge_scores.lua [options]',
  about = 'One-shot edge pruning of a GCN on Cora by UGS soft-mask scores, by the training loss\'s\n'
    .. 'gradient, at random, and by a label oracle; prints test accuracy (best-validation epoch)\n'
    .. 'and the homophily of the pruned edges per seed, then the means.',
  scales = {
    { '(default)', '4 methods, 3 seeds, 22.6% of the edges', 'about 2 min of one core' },
  },
  options = {
    { 'prune', 0.226, 'fraction of the edges pruned (0.226: UGS round 5)', type = 'number' },
    { 'seeds', 3, 'number of seeds', integer = true, min = 1 },
    { 'methods', 'ugs,grad,random,oracle', 'comma-separated: ugs, grad, gradval, random, randkeep, oracle' },
    { 's1', 1e-2, 'L1 on the edge mask in the ugs search', type = 'number' },
    { 'threads', 1, 'OpenBLAS threads', type = 'number', integer = true, min = 1 },
  },
}
local o = lotto.args.parse(arg, spec)
if not (o.prune > 0 and o.prune < 1) then lotto.args.fail(spec, '--prune must be in (0, 1)') end
local methods = {}
for m in o.methods:gmatch('[^,]+') do
  if not ({ ugs = 1, grad = 1, gradval = 1, random = 1, randkeep = 1, oracle = 1 })[m] then lotto.args.fail(spec, "unknown method '" .. m .. "'") end
  methods[#methods + 1] = m
end
lotto.tensor.set_threads(o.threads)
local G, prune, tensor = lotto.graph, lotto.prune, lotto.tensor
local d = G.planetoid('cora')
local g = d.graph
local train = { epochs = 200, lr = 0.008, weight_decay = 8e-5 }
local function model(seed) return G.model(d, { kind = 'gcn', hidden = 512, input_dropout = 0, bias = false, seed = seed }) end
local y, ends = d.y:totable(), g:edges():totable()
local function same(k) return y[ends[k][1] + 1] == y[ends[k][2] + 1] end
local labelled = {}
for _, i in ipairs(d.train:totable()) do labelled[math.floor(i)] = true end
local function near_train(k) return labelled[ends[k][1]] or labelled[ends[k][2]] end

-- the edge mask each method draws (g's mask all 1 on entry)
local draw = {}
function draw.ugs(seed)
  local cfg = { epochs = train.epochs, lr = train.lr, weight_decay = train.weight_decay, s1 = o.s1, s2 = 1e-2,
                prune_graph = o.prune, prune_weight = 0, weight_scope = 'global' }
  local _, em = lotto.ugs.search(cfg, d, model(seed), g)
  return em
end
local function grad_score(seed, ids)
  local sum, m = tensor.zeros { g:nedges() }, model(seed)
  g:weight():fill(1); g:weight_grad(true); g:zero_grad()
  G.fit(m, d, { epochs = train.epochs, lr = train.lr, weight_decay = train.weight_decay, on_epoch = function()
    if ids then -- the gradient of another node set's loss, after the training step
      g:zero_grad()
      G.step(m, d.x, d.y, ids)
    end
    sum:add_(g:grad()); g:zero_grad()
  end })
  local score = sum:neg()                    -- high: the loss falls as the edge's weight grows
  score:add_(1e-6 - score:min())             -- magnitude pruning reads |score|: make it positive
  local em = g:mask():clone()
  prune.magnitude_mask(em, score, o.prune)
  return em
end
function draw.grad(seed) return grad_score(seed) end
function draw.gradval(seed) return grad_score(seed, d.val) end
function draw.random(seed)
  local em = g:mask():clone()
  prune.random(em, o.prune, 7919 * seed)
  return em
end
function draw.randkeep(seed)
  local em = g:mask():clone()                -- drop the training nodes' edges from the draw ...
  for k = 1, g:nedges() do if near_train(k) then em:set(k, 0) end end
  local free = em:sum()
  prune.random(em, o.prune * g:nedges() / free, 7919 * seed)
  for k = 1, g:nedges() do if near_train(k) then em:set(k, 1) end end -- ... and put them back
  return em
end
function draw.oracle()
  local em, left = g:mask():clone(), math.floor(o.prune * g:nedges() + 0.5)
  for k = 1, g:nedges() do
    if left > 0 and not same(k) then em:set(k, 0); left = left - 1 end
  end
  return em
end

local function share(f) local s = 0; for k = 1, g:nedges() do s = s + (f(k) and 1 or 0) end; return 100 * s / g:nedges() end
print(('Cora: %d nodes, %d edges (%.1f%% homophilous, %.1f%% at a training node); pruning %.1f%% of the edges')
  :format(d.nodes, g:nedges(), share(same), share(near_train), 100 * o.prune))
local acc = {}
for seed = 1, o.seeds do
  for _, m in ipairs(methods) do
    g:mask():fill(1)
    local em = draw[m](seed)
    local t, n, h, nt = em:totable(), 0, 0, 0
    for k = 1, #t do
      if t[k] == 0 then n, h, nt = n + 1, h + (same(k) and 1 or 0), nt + (near_train(k) and 1 or 0) end
    end
    g:mask():copy(em); g:weight():fill(1); g:weight_grad(false)
    local best = G.fit(model(seed), d, train).best
    acc[m] = acc[m] or {}
    acc[m][seed] = best.test_acc
    print(('seed %d  %-8s  pruned %4d edges: %5.1f%% homophilous, %5.1f%% at a training node  test %.2f%%'):format(
      seed, m, n, 100 * h / n, 100 * nt / n, 100 * best.test_acc))
  end
end
g:mask():fill(1)
print()
for _, m in ipairs(methods) do
  local s, s2 = 0, 0
  for _, a in ipairs(acc[m]) do s, s2 = s + a, s2 + a * a end
  local mean = s / #acc[m]
  print(('%-8s  test %.2f +- %.2f%%'):format(m, 100 * mean, 100 * math.sqrt(math.max(0, s2 / #acc[m] - mean * mean))))
end
return acc
