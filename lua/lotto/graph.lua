-- lotto.graph: graphs and graph neural networks (GCN, GAT, GIN) on node classification.
-- The numbers live in C (lotto.core.graph, the graph layers of lotto.core.nn); this file
-- loads a Planetoid set with its graph, builds the usual models and trains them full-batch.
--
--   local G = lotto.graph
--   local d = G.planetoid 'cora'                       -- x row-normalised, d.graph built
--   local model = G.model(d, { kind = 'gcn', hidden = 16, seed = 1 })
--   local h = G.fit(model, d, { epochs = 200, lr = 0.01, weight_decay = 5e-4 })
--   print(h.best.val_acc, h.best.test_acc)             -- test accuracy at the best validation epoch
local core = require 'lotto.core.graph'
local data = require 'lotto.data'
local nn = require 'lotto.nn'
local optim = require 'lotto.optim'

local G = {}

local function fail(where, msg, level) error(('lotto.graph.%s: %s'):format(where, msg), (level or 1) + 1) end

local function options(where, o, allowed)
  if o == nil then return {} end
  if type(o) ~= 'table' then fail(where, ('options must be a table (got %s)'):format(type(o)), 3) end
  for k in pairs(o) do
    if not allowed[k] then fail(where, ("unknown option '%s'"):format(tostring(k)), 3) end
  end
  return o
end

G.new = core.new
G.is_graph = core.is_graph
G.node_loss = core.node_loss
G.row_normalize = core.row_normalize
G.step = core.step
G.evaluate = core.evaluate

-- G.planetoid('cora'|'citeseer' or {name =, dir =, normalize = true}) -> d: lotto.data.planetoid's
-- table plus d.graph (all edges kept, weights 1); x rows scaled to sum 1 unless normalize = false
-- (Kipf & Welling's preprocessing).
function G.planetoid(opts)
  if type(opts) == 'string' then opts = { name = opts } end
  opts = options('planetoid', opts, { name = true, dir = true, normalize = true })
  local d = data.planetoid { name = opts.name, dir = opts.dir }
  d.graph = core.new(d.nodes, d.edges)
  if opts.normalize ~= false then core.row_normalize(d.x) end
  return d
end

local KINDS = { gcn = true, gat = true, gin = true }

-- G.model(d, {kind = 'gcn'|'gat'|'gin', hidden =, dropout =, heads =, out_heads =, seed =, graph =})
-- -> an initialised model over d.graph (or graph =), input (features), output (classes):
--   gcn: GCN(F -> hidden, input dropout), relu, dropout, GCN(hidden -> C)  (hidden 16, dropout 0.5)
--   gat: GAT(F -> hidden x heads, concat, input dropout), relu, dropout, GAT(-> C, out_heads averaged)
--        (hidden 8, heads 8, out_heads 1, dropout 0.6; relu where the paper has ELU)
--   gin: dropout, GIN(F -> hidden -> hidden), relu, dropout, GIN(hidden -> hidden -> C) (hidden 64)
-- seed draws the Glorot-normal weights and the dropout streams. input_dropout (default: dropout)
-- is the dropout on the input features; for gcn and gat it is inside their first layer (drawn per
-- nonzero of the sparse features, not per entry). bias = false: GCN layers without biases.
function G.model(d, opts)
  opts = options('model', opts, { kind = true, hidden = true, dropout = true, input_dropout = true, bias = true,
                                  heads = true, out_heads = true, seed = true, graph = true })
  if type(d) ~= 'table' or not d.x then fail('model', 'expected a graph data set (lotto.graph.planetoid)', 2) end
  local kind = opts.kind or 'gcn'
  if not KINDS[kind] then fail('model', ("kind must be 'gcn', 'gat' or 'gin' (got %s)"):format(tostring(kind)), 2) end
  local g = opts.graph or d.graph
  if not core.is_graph(g) then fail('model', 'no graph: d.graph or option graph = must be a lotto graph', 2) end
  local F, C, seed = d.features, d.classes, opts.seed or 1
  local p = opts.dropout or (kind == 'gat' and 0.6 or 0.5)
  local pin = opts.input_dropout or p
  local layers
  if kind == 'gcn' then
    local h, bias = opts.hidden or 16, opts.bias ~= false
    layers = { nn.gcn(g, F, h, { dropout = pin, seed = seed, bias = bias }), nn.relu(),
               nn.dropout(p, { seed = seed + 1 }), nn.gcn(g, h, C, { bias = bias }) }
  elseif kind == 'gat' then
    local h, heads, oh = opts.hidden or 8, opts.heads or 8, opts.out_heads or 1
    layers = { nn.gat(g, F, h, { heads = heads, dropout = pin, seed = seed }), nn.relu(),
               nn.dropout(p, { seed = seed + 1 }), nn.gat(g, h * heads, C, { heads = oh, concat = false }) }
  else
    local h = opts.hidden or 64
    layers = { nn.dropout(pin, { seed = seed }), nn.gin(g, F, h, h), nn.relu(), nn.dropout(p, { seed = seed + 1 }),
               nn.gin(g, h, h, C) }
  end
  local m = nn.model(nn.sequential(layers), { input = { F } })
  m:init { seed = seed, weight = 'glorot_normal' }
  return m
end

-- G.better_ties(ties, where) -> true for ties = 'first', false for 'val_loss' or nil; anything
-- else is an error naming the option.
function G.better_ties(ties, where)
  if ties == nil or ties == 'val_loss' then return false end
  if ties == 'first' then return true end
  fail(where, ("option 'ties' must be 'val_loss' or 'first' (got %s)"):format(tostring(ties)), 3)
end

-- G.fit(model, d, {epochs = 200, lr = 0.01, weight_decay = 5e-4, optimizer =, on_epoch =, patience =, ties =})
-- -> h = {best = {epoch, val_acc, val_loss, test_acc, train_acc}, epochs = {...}, state = best values}:
-- full-batch Adam on d.train; each epoch evaluates train/val/test in eval mode and keeps the
-- epoch with the best validation accuracy; ties = 'val_loss' (the default) breaks a tie by the
-- lower validation loss, ties = 'first' keeps the first epoch of the best accuracy (Chen et al.'s
-- UGS release). optimizer overrides the Adam built from lr and weight_decay; on_epoch(e, row) is
-- called after each epoch (it may step other parameters, e.g. edge masks); patience stops after
-- that many epochs without a better validation accuracy (default: never).
function G.fit(model, d, opts)
  opts = options('fit', opts, { epochs = true, lr = true, weight_decay = true, optimizer = true, on_epoch = true,
                                patience = true, ties = true })
  local first = G.better_ties(opts.ties, 'fit')
  local epochs = opts.epochs or 200
  local opt = opts.optimizer or optim.adam(model, { lr = opts.lr or 0.01, weight_decay = opts.weight_decay or 5e-4 })
  local h = { epochs = {}, best = { epoch = 0, val_acc = -1, val_loss = math.huge } }
  local since = 0
  for e = 1, epochs do
    local loss = core.step(model, d.x, d.y, d.train)
    opt:step()
    local tr, _, va, vl, te = core.evaluate(model, d.x, d.y, d.train, d.val, d.test)
    local row = { epoch = e, loss = loss, train_acc = tr, val_acc = va, val_loss = vl, test_acc = te }
    h.epochs[e] = row
    if opts.on_epoch then opts.on_epoch(e, row) end
    local b = h.best
    if va > b.val_acc or (not first and va == b.val_acc and vl < b.val_loss) then
      h.best = row
      -- one buffer, refilled: a clone per better epoch (3 MB for UGS's GCN) piles up, as Lua's
      -- collector does not see the size of a tensor's storage
      if h.state then h.state:copy(model:values()) else h.state = model:state() end
      since = 0
    else
      since = since + 1
      if opts.patience and since >= opts.patience then break end
    end
  end
  return h
end

-- G.attach(model, g) -> model: gives the graph g to every graph layer of a model rebuilt from its
-- settings (nn.from_arch, lotto.sparse.load, which know the layers' sizes but hold no graph); an
-- error names a layer made for a graph of other sizes.
function G.attach(model, g)
  local m = type(model) == 'table' and rawget(model, '_model') or model
  if not core.is_graph(g) then fail('attach', 'argument #2 must be a lotto graph', 2) end
  core.attach(m, g)
  return model
end

-- G.load(path, g[, opts]) -> net | nil, message: a graph model written by lotto.sparse.export,
-- rebuilt for inference (lotto.sparse.load) over the graph g.
function G.load(path, g, opts)
  if not core.is_graph(g) then fail('load', 'argument #2 must be a lotto graph', 2) end
  local net, err = require('lotto.sparse').load(path, opts)
  if not net then return nil, err end
  return G.attach(net, g)
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(G, {
    planetoid = "planetoid('cora'|'citeseer' or {name =, dir =, normalize = true}) -> d with d.graph, x row-normalised",
    model = "model(d, {kind = 'gcn'|'gat'|'gin', hidden =, dropout =, heads =, seed =}) -> initialised model over d.graph",
    fit = 'fit(model, d, {epochs = 200, lr = 0.01, weight_decay = 5e-4}) -> h: h.best = the best-validation epoch',
    attach = 'attach(model, g) -> model: the graph for the graph layers of a model rebuilt from settings',
    load = 'load(path, g[, opts]) -> net | nil, msg: an exported graph model over g (lotto.sparse.load + attach)',
  })
end

return G
