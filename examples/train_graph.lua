-- train_graph.lua: the dense baselines of graph neural networks on the Planetoid public split:
-- GCN (Kipf & Welling 2017: 16 hidden, dropout 0.5, Adam 0.01, weight decay 5e-4, 200 epochs),
-- GAT (Velickovic et al. 2018: 8 heads x 8 hidden, dropout 0.6, Adam 0.005) and GIN, on Cora or
-- Citeseer, over a few seeds. Reports test accuracy at the best-validation epoch, mean +- std.
--
--   lotto examples/train_graph.lua                       -- GCN on Cora, seeds 1-5
--   lotto examples/train_graph.lua --data citeseer --model gat --seeds 3 --epochs 200
local USAGE = [[
usage: lotto examples/train_graph.lua [--data cora|citeseer] [--model gcn|gat|gin] [--seeds n]
                                      [--epochs n] [--hidden n] [--lr x] [--weight-decay x] [--threads n]
Trains the model on the public split of the data set (make data converts it) once per seed and
prints, per seed, the best-validation epoch with its validation and test accuracy, then the mean
and standard deviation of the test accuracy.]]
local o = { data = 'cora', model = 'gcn', seeds = 5, epochs = 200 }
local i = 1
while arg and arg[i] do
  local a, v = arg[i], arg[i + 1]
  if a == '--help' or a == '-h' then print(USAGE) return end
  local key = ({ ['--data'] = 'data', ['--model'] = 'model', ['--seeds'] = 'seeds', ['--epochs'] = 'epochs',
                 ['--hidden'] = 'hidden', ['--lr'] = 'lr', ['--weight-decay'] = 'weight_decay',
                 ['--threads'] = 'threads' })[a]
  if not key or v == nil then io.stderr:write(USAGE, '\n') os.exit(2) end
  o[key] = (key == 'data' or key == 'model') and v or tonumber(v)
  if o[key] == nil then io.stderr:write(('train_graph.lua: %s needs a number\n'):format(a)) os.exit(2) end
  i = i + 2
end
if o.threads then lotto.tensor.set_threads(o.threads) end

local G = lotto.graph
local d = G.planetoid(o.data)   -- a clear error naming `make data` when the file is missing
local lr = o.lr or (o.model == 'gat' and 0.005 or 0.01)
print(('%s: %d nodes, %d edges, %d features, %d classes; %s, Adam lr %g, weight decay %g, %d epochs'):format(
  o.data, d.nodes, d.edges:size(1), d.features, d.classes, o.model, lr, o.weight_decay or 5e-4, o.epochs))
local accs = {}
for seed = 1, o.seeds do
  local model = G.model(d, { kind = o.model, hidden = o.hidden, seed = seed })
  if seed == 1 then print(model) end
  local h = G.fit(model, d, { epochs = o.epochs, lr = lr, weight_decay = o.weight_decay or 5e-4 })
  accs[#accs + 1] = h.best.test_acc
  print(('seed %d  best epoch %3d  val %.2f%%  test %.2f%%'):format(seed, h.best.epoch, 100 * h.best.val_acc,
    100 * h.best.test_acc))
end
local mean, var = 0, 0
for _, a in ipairs(accs) do mean = mean + a / #accs end
for _, a in ipairs(accs) do var = var + (a - mean) ^ 2 / math.max(#accs - 1, 1) end
print(('%s on %s: test accuracy %.2f +- %.2f%% over %d seeds'):format(o.model, o.data, 100 * mean,
  100 * math.sqrt(var), #accs))
