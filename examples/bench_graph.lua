-- bench_graph.lua: speed of graph lottery tickets. Milliseconds per full-batch GCN training epoch
-- on Cora (UGS's GCN 1433-512-7: forward, loss, backward, Adam step) at 1 and 2 threads, as the
-- edges and the weights are pruned (random masks at the given densities), and the propagation
-- A_hat H over the CSR adjacency against the dense-adjacency product (sgemm) in the same run.
-- A benchmark, not a test: run it alone on a quiet machine.
--
--   lotto examples/bench_graph.lua                  -- 20 epochs per cell, best of 3
--   lotto examples/bench_graph.lua --epochs 50 --reps 5 --data citeseer
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/bench_graph.lua [options]',
  about = 'Times full-batch GCN training epochs (ms) at 1 and 2 threads for edge densities 100/50/20%\n'
    .. 'and weight densities 100/20%, and A_hat H sparse (CSR) against dense (sgemm with the N x N\n'
    .. 'A_hat). A benchmark, not a test: run it alone on a quiet machine.',
  scales = { { '(default)', 'Cora, 20 epochs per cell, best of 3', 'a few minutes' } },
  options = {
    { 'data', 'cora', 'data set', choices = { 'cora', 'citeseer' } },
    { 'epochs', 20, 'training epochs per timed repetition', integer = true, min = 1 },
    { 'reps', 3, 'repetitions (the best is reported)', integer = true, min = 1 },
    { 'hidden', 512, 'hidden units of the GCN', integer = true, min = 1 },
  },
})

local G, T, prune, optim = lotto.graph, lotto.tensor, lotto.prune, lotto.optim
local now = lotto.sys.now
local d = G.planetoid(o.data)
local g = d.graph

-- best of reps of `epochs` training epochs, in ms per epoch
local function time_epochs(model, opt)
  local best = math.huge
  for _ = 1, o.reps do
    local t0 = now()
    for _ = 1, o.epochs do
      G.step(model, d.x, d.y, d.train)
      opt:step()
    end
    best = math.min(best, (now() - t0) / o.epochs)
  end
  return 1000 * best
end

print(('%s: %d nodes, %d edges, features %.1f%% nonzero; GCN %d-%d-%d; %d epochs, best of %d'):format(o.data,
  d.nodes, g:nedges(), 100 * (d.x:abs():sign():sum() / d.x:numel()), d.features, o.hidden, d.classes, o.epochs, o.reps))
print('threads  edges%  weights%   ms/epoch')
for _, threads in ipairs { 1, 2 } do
  T.set_threads(threads)
  for _, ed in ipairs { 1.0, 0.5, 0.2 } do
    for _, wd in ipairs { 1.0, 0.2 } do
      local model = G.model(d, { kind = 'gcn', hidden = o.hidden, seed = 1 })
      g:mask():fill(1)
      if ed < 1 then prune.random(g:mask(), 1 - ed, 7) end
      if wd < 1 then prune.random_model(model, { rate = 1 - wd, seed = 7 }) end
      model:apply_mask()
      local opt = optim.adam(model, { lr = 0.008, weight_decay = 8e-5 })
      print(('%7d  %6.0f  %8.0f  %9.2f'):format(threads, 100 * g:density(), 100 * model:density(), time_epochs(model, opt)))
    end
  end
end
g:mask():fill(1)

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
