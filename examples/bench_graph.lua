-- bench_graph.lua: speed of graph lottery tickets. Milliseconds per full-batch GCN training epoch
-- on Cora (UGS's GCN 1433-512-7: forward, loss, backward, Adam step) at 1 and 2 threads, as the
-- edges and the weights are pruned (random masks at the given densities), beside a baseline
-- measured in the same run, alternating with it: the same GCN with its input dropout as an
-- nn.dropout layer before it (one random draw per entry of the 2708 x 1433 features instead of
-- per nonzero) and the edge-weight gradient on (the path before both were changed). Then the
-- propagation A_hat H over the CSR adjacency against the dense-adjacency product (sgemm).
-- A benchmark, not a test: run it alone on a quiet machine.
--
--   lotto examples/bench_graph.lua                  -- 20 epochs per cell, best of 3
--   lotto examples/bench_graph.lua --epochs 50 --reps 5 --data citeseer
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/bench_graph.lua [options]',
  about = 'Times full-batch GCN training epochs (ms) at 1 and 2 threads for edge densities 100/50/20%\n'
    .. 'and weight densities 100/20/5% (below 10% the first layer multiplies by a CSR of its kept\n'
    .. 'weights, as late UGS rounds do), against a baseline in the same run (input dropout as a layer\n'
    .. 'drawing per feature entry, edge gradient on), and A_hat H sparse (CSR) against dense (sgemm\n'
    .. 'with the N x N A_hat). A benchmark, not a test: run it alone on a quiet machine.',
  scales = { { '(default)', 'Cora, 20 epochs per cell, best of 3', 'a few minutes' } },
  options = {
    { 'data', 'cora', 'data set', choices = { 'cora', 'citeseer' } },
    { 'epochs', 20, 'training epochs per timed repetition', integer = true, min = 1 },
    { 'reps', 3, 'repetitions (the best is reported)', integer = true, min = 1 },
    { 'hidden', 512, 'hidden units of the GCN', integer = true, min = 1 },
  },
})

local G, T, nn, prune, optim = lotto.graph, lotto.tensor, lotto.nn, lotto.prune, lotto.optim
local now = lotto.sys.now
local d = G.planetoid(o.data)
local g = d.graph

-- the baseline: dropout as a layer before the first GCN
local function baseline()
  local F, C, h = d.features, d.classes, o.hidden
  local m = nn.model(nn.sequential { nn.dropout(0.5, { seed = 1 }), nn.gcn(g, F, h), nn.relu(),
    nn.dropout(0.5, { seed = 2 }), nn.gcn(g, h, C) }, { input = { F } })
  m:init { seed = 1, weight = 'glorot_normal' }
  return m
end

-- one repetition: `epochs` training epochs, in ms per epoch (wall, and CPU of this process)
local function rep(model, opt, wgrad)
  g:weight_grad(wgrad)
  local t0, c0 = now(), os.clock()
  for _ = 1, o.epochs do
    G.step(model, d.x, d.y, d.train)
    opt:step()
  end
  return 1000 * (now() - t0) / o.epochs, 1000 * (os.clock() - c0) / o.epochs
end

print(('%s: %d nodes, %d edges, features %.1f%% nonzero; GCN %d-%d-%d; %d epochs, best of %d, alternating'):format(
  o.data, d.nodes, g:nedges(), 100 * (d.x:abs():sign():sum() / d.x:numel()), d.features, o.hidden, d.classes,
  o.epochs, o.reps))
print('threads  edges%  weights%   ms/epoch  (cpu)   baseline  (cpu)   baseline/new')
for _, threads in ipairs { 1, 2 } do
  T.set_threads(threads)
  for _, ed in ipairs { 1.0, 0.5, 0.2 } do
    for _, wd in ipairs { 1.0, 0.2, 0.05 } do
      g:mask():fill(1)
      if ed < 1 then prune.random(g:mask(), 1 - ed, 7) end
      local models = { G.model(d, { kind = 'gcn', hidden = o.hidden, seed = 1 }), baseline() }
      local best = { { math.huge, math.huge }, { math.huge, math.huge } }
      for i, m in ipairs(models) do
        if wd < 1 then prune.random_model(m, { rate = 1 - wd, seed = 7 }) end
        m:apply_mask()
        models[i] = { m, optim.adam(m, { lr = 0.008, weight_decay = 8e-5 }) }
      end
      for _ = 1, o.reps do
        for i, mo in ipairs(models) do
          local w, c = rep(mo[1], mo[2], i == 2)
          best[i] = { math.min(best[i][1], w), math.min(best[i][2], c) }
        end
      end
      local cpu = function(b) return threads == 1 and ('(%5.1f)'):format(b[2]) or '       ' end
      print(('%7d  %6.0f  %8.0f  %9.2f %s  %8.2f %s  %6.2fx'):format(threads, 100 * g:density(),
        100 * models[1][1]:density(), best[1][1], cpu(best[1]), best[2][1], cpu(best[2]), best[2][1] / best[1][1]))
    end
  end
end
g:mask():fill(1)
g:weight_grad(true)

-- A_hat H: CSR propagation vs the dense N x N product, H (N, hidden)
local H = T.randn({ d.nodes, o.hidden }, 1)
local eye = T.zeros { d.nodes, d.nodes }
for n = 1, d.nodes do eye:set(n, n, 1) end
local A = g:propagate(eye) -- the dense A_hat
eye = nil
collectgarbage()
local function best_of(f)
  local b = math.huge
  for _ = 1, o.reps do
    local t0 = now()
    f()
    b = math.min(b, now() - t0)
  end
  return 1000 * b
end
for _, threads in ipairs { 1, 2 } do
  T.set_threads(threads)
  print(('A_hat H (%d x %d), %d thread(s): CSR %.2f ms, dense sgemm %.2f ms'):format(d.nodes, o.hidden, threads,
    best_of(function() g:propagate(H) end), best_of(function() A:matmul(H) end)))
end
