-- train_graph.lua: the dense baselines of graph neural networks on the Planetoid public split:
-- GCN (Kipf & Welling 2017: 16 hidden, dropout 0.5, Adam 0.01, weight decay 5e-4, 200 epochs),
-- GAT (Velickovic et al. 2018: 8 heads x 8 hidden, dropout 0.6, Adam 0.005) and GIN, on Cora or
-- Citeseer, over a few seeds. Reports test accuracy at the best-validation epoch, mean +- std.
--
--   lotto examples/train_graph.lua                       -- GCN on Cora, seeds 1-5
--   lotto examples/train_graph.lua --data citeseer --model gat --seeds 3 --epochs 200
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/train_graph.lua [options]',
  about = 'Trains the model on the public split of the data set (make data converts it) once per seed\n'
    .. 'and prints, per seed, the best-validation epoch with its validation and test accuracy, then\n'
    .. 'the mean and standard deviation of the test accuracy.',
  scales = {
    { '(default)', 'GCN on Cora, 5 seeds, 200 epochs', 'about 1 min' },
    { '--model gat', 'GAT (8 heads x 8 hidden) on Cora, 5 seeds', 'a few minutes' },
  },
  options = {
    { 'data', 'cora', 'data set', choices = { 'cora', 'citeseer' } },
    { 'model', 'gcn', 'graph network', choices = { 'gcn', 'gat', 'gin' } },
    { 'seeds', 5, 'number of seeds', integer = true, min = 1 },
    { 'epochs', 200, 'training epochs', integer = true, min = 1 },
    { 'hidden', nil, 'hidden units (default 16 for gcn, 8 per head for gat, 64 for gin)', type = 'number', integer = true, min = 1 },
    { 'lr', nil, 'Adam learning rate (default 0.005 for gat, 0.01 otherwise)', type = 'number' },
    { 'weight-decay', 5e-4, 'weight decay' },
    { 'threads', nil, 'OpenBLAS threads (default: as many as cores)', type = 'number', integer = true, min = 1 },
  },
})
o.weight_decay = o['weight-decay']
if o.threads then lotto.tensor.set_threads(o.threads) end

local G = lotto.graph
local d = G.planetoid(o.data)   -- a clear error naming `make data` when the file is missing
local lr = o.lr or (o.model == 'gat' and 0.005 or 0.01)
print(('%s: %d nodes, %d edges, %d features, %d classes; %s, Adam lr %g, weight decay %g, %d epochs'):format(
  o.data, d.nodes, d.edges:size(1), d.features, d.classes, o.model, lr, o.weight_decay, o.epochs))
local accs = {}
for seed = 1, o.seeds do
  local model = G.model(d, { kind = o.model, hidden = o.hidden, seed = seed })
  if seed == 1 then print(model) end
  local h = G.fit(model, d, { epochs = o.epochs, lr = lr, weight_decay = o.weight_decay })
  accs[#accs + 1] = h.best.test_acc
  print(('seed %d  best epoch %3d  val %.2f%%  test %.2f%%'):format(seed, h.best.epoch, 100 * h.best.val_acc,
    100 * h.best.test_acc))
end
local mean, var = 0, 0
for _, a in ipairs(accs) do mean = mean + a / #accs end
for _, a in ipairs(accs) do var = var + (a - mean) ^ 2 / math.max(#accs - 1, 1) end
print(('%s on %s: test accuracy %.2f +- %.2f%% over %d seeds'):format(o.model, o.data, 100 * mean,
  100 * math.sqrt(var), #accs))
