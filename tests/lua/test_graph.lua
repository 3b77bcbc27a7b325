-- test_graph.lua: lotto.graph from Lua: graphs and their misuse, edge weights and masks shared
-- with the engine, graph layers in models, and full-batch training on a crafted two-community
-- graph that only the edges can solve (the features say nothing about the class).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local G = require 'lotto.graph'
local nn = require 'lotto.nn'
local tensor = require 'lotto.tensor'

-- ---- graphs and misuse ----
local path = G.new(4, tensor.new { { 0, 1 }, { 1, 2 }, { 2, 3 } })
T.check_eq({ path:nodes(), path:nedges(), path:kept(), #path }, { 4, 3, 3, 4 }, 'path counts')
T.check_eq(tostring(path), 'graph (4 nodes, 3 edges, 3 kept)', 'tostring')
T.checkerror(function() G.new(4, tensor.new { { 0, 1 }, { 2, 2 } }) end, 'edge 1 is a self%-loop on node 2')
T.checkerror(function() G.new(4, tensor.new { { 0, 1 }, { 1, 0 } }) end, 'duplicates edge 0')
T.checkerror(function() G.new(4, tensor.new { { 0, 4 } }) end, 'outside 0..3')
T.checkerror(function() G.new(4, tensor.new { { 0, 1.5 } }) end, 'not a node id')
T.checkerror(function() G.new(4, tensor.new { 0, 1 }) end, 'edges must be a contiguous %(E, 2%) tensor')
T.checkerror(function() G.new(0, tensor.new { { 0, 1 } }) end, 'node count must be a positive integer')
T.checkerror(function() G.new('4', {}) end, 'tensor expected')
T.checkerror(function() nn.gcn(tensor.zeros { 2 }, 4, 2) end, 'lotto.graph expected')
T.checkerror(function() nn.gcn(path, 0, 2) end, 'input size must be a positive integer')
T.checkerror(function() nn.gat(path, 4, 2, { heads = 0 }) end, 'heads must be a positive integer')
T.checkerror(function() nn.gat(path, 4, 2, { head = 2 }) end, "unknown option 'head'")
T.checkerror(function() nn.gcn(path, 4, 2, { dropout = 'x' }) end, "option 'dropout' must be a number in %[0, 1%)")
T.checkerror(function() nn.gcn(path, 4, 2, { dropout = 1 }) end, "option 'dropout' must be a number in %[0, 1%)")
T.checkerror(function() nn.gat(path, 4, 2, { seed = 1.5 }) end, "option 'seed' must be an integer")
T.checkerror(function() G.model({ x = 1 }, { kind = 'gcn' }) end, 'no graph')
T.checkerror(function() G.model({ x = 1, graph = path }, { kind = 'sage' }) end, "kind must be 'gcn', 'gat' or 'gin'")

-- propagation of the identity is A_hat: degrees 2, 3, 3, 2 (self-loops included)
local eye = tensor.zeros { 4, 4 }
for i = 1, 4 do eye:set(i, i, 1) end
local A = path:propagate(eye)
T.check_near(A:get(1, 2), 1 / math.sqrt(6), 1e-6, 'A_hat(0, 1)')
T.check_near(A:get(2, 3), 1 / 3, 1e-6, 'A_hat(1, 2)')
-- the mask and weights share storage with the graph: masking edge 1-2 splits the path
path:mask():set(2, 0)
A = path:propagate(eye)
T.check_eq({ A:get(2, 3), path:kept() }, { 0.0, 2 }, 'masked edge 1-2 gone')
T.check_near(A:get(1, 2), 0.5, 1e-6, 'degrees 2 once edge 1-2 is masked')
path:mask():fill(1)
path:weight():set(1, 3)
T.check_near(path:propagate(eye):get(1, 1), 0.25, 1e-6, 'weight 3 on edge 0-1: degree of node 0 is 4')
T.check_eq(path:edges():totable(), { { 0, 1 }, { 1, 2 }, { 2, 3 } }, 'edges back')
T.checkerror(function() path:propagate(tensor.zeros { 3, 2 }) end, 'one row per node')

-- directed masks: one entry per direction (2k: u -> v, 2k+1: v -> u); rows receive, degrees
-- count what a node sends. Cutting the message 1 -> 2 (entry 4): node 1 sends to 0 only
-- (degree 2), node 2 to 1 and 3 (degree 3); A_hat(1, 2) = 1/sqrt(6), A_hat(2, 1) = 0.
local dg = G.new(4, tensor.new { { 0, 1 }, { 1, 2 }, { 2, 3 } })
T.check_eq(dg:directed(), false, 'undirected by default')
T.check(dg:directed(true) == dg, 'directed(on) returns the graph')
T.check_eq({ dg:directed(), dg:nedges(), dg:nmask(), dg:mask():numel(), dg:weight():numel(), dg:kept() },
  { true, 3, 6, 6, 6, 6 }, 'directed: 6 mask entries')
T.check_eq(dg:mask_edges():totable(), { { 0, 1 }, { 1, 0 }, { 1, 2 }, { 2, 1 }, { 2, 3 }, { 3, 2 } }, 'directed pairs')
dg:mask():set(3, 0)
A = dg:propagate(eye)
T.check_near(A:get(2, 3), 1 / math.sqrt(6), 1e-6, 'directed: 2 -> 1 kept, A_hat(1, 2)')
T.check_eq(A:get(3, 2), 0.0, 'directed: 1 -> 2 cut, A_hat(2, 1) = 0')
T.check_near(A:get(2, 2), 0.5, 1e-6, 'directed: node 1 sends to 0 only, degree 2')
T.check_eq({ dg:kept(), tostring(dg) }, { 5, 'graph (4 nodes, 3 edges, 5 of 6 directed entries kept)' }, 'directed counts')
T.checkerror(function() dg:directed('yes') end, 'boolean expected')
dg:directed(false)
T.check_eq({ dg:nmask(), dg:kept(), dg:mask_edges():totable()[2][1] }, { 3, 3, 1 }, 'back to undirected, reset')

-- ---- a model over the graph: batch = node set ----
local m = nn.model(nn.sequential { nn.gcn(path, 4, 3), nn.relu(), nn.gcn(path, 3, 2) }, { input = { 4 } })
m:init { seed = 1 }
T.check_eq(m:forward(eye):shape(), { 4, 2 }, 'gcn model output (nodes, classes)')
T.checkerror(function() m:forward(tensor.zeros { 3, 4 }) end, 'all 4 nodes')
T.check(tostring(m):find('GCN%(4 %-> 3, 4 nodes, 100.0%% edges') ~= nil, 'describe: ' .. tostring(m))
local labels = tensor.new { 0, 1, 1, 0 }
T.checkerror(function() G.step(m, eye, tensor.new { 0, 1 }, tensor.new { 0 }) end, 'one label per node')
T.checkerror(function() G.step(m, eye, labels, tensor.new { 4 }) end, 'node 4 outside 0..3')
T.checkerror(function() G.step(m, eye, labels, tensor.new { 1.5 }) end, 'node id 1.5.* is not a non%-negative integer')
T.checkerror(function() G.evaluate(m, eye, labels, tensor.new { -1 }) end, 'not a non%-negative integer')
T.checkerror(function() G.fit(m, { x = eye }, { epoch = 3 }) end, "unknown option 'epoch'")
T.checkerror(function() G.step(m, eye, tensor.new { 0, 1, 2, 0 }, tensor.new { 2 }) end, 'node 2 has label 2')
local loss = G.step(m, eye, labels, tensor.new { 0, 1 })
T.check(loss > 0 and loss < 5, 'step loss ' .. loss)
T.check(path:grad():abs():sum() > 0, 'a step reaches the edge weights')
path:zero_grad()
T.check_eq(path:grad():sum(), 0.0, 'zero_grad')

-- ---- two communities: cliques {0..5} and {6..11}, one bridge 5-6; features are noise ----
local pairs = {}
for _, base in ipairs { 0, 6 } do
  for u = base, base + 5 do
    for v = u + 1, base + 5 do pairs[#pairs + 1] = { u, v } end
  end
end
pairs[#pairs + 1] = { 5, 6 }
local d = { nodes = 12, features = 3, classes = 2, x = tensor.rand({ 12, 3 }, 7) }
d.edges = tensor.new(pairs)
d.graph = G.new(12, d.edges)
d.y = tensor.new { 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1 }
d.train, d.val, d.test = tensor.new { 0, 11 }, tensor.new { 1, 10 }, tensor.new { 2, 3, 4, 5, 6, 7, 8, 9 }
for _, kind in ipairs { 'gcn', 'gat', 'gin' } do
  local model = G.model(d, { kind = kind, hidden = 8, heads = 2, dropout = 0, seed = 3 })
  local h = G.fit(model, d, { epochs = 60, lr = 0.05, weight_decay = 0 })
  T.check(h.best.test_acc >= 0.75, ('%s: test accuracy %.2f on the two communities'):format(kind, h.best.test_acc))
  T.check(#h.epochs == 60 and h.state ~= nil, kind .. ': history and best state kept')
  -- with every edge masked the graph is gone: the noise features cannot separate the test nodes
  -- as well (GCN, GAT: isolated nodes; the check is only that masking changes the outputs)
  local before = model:forward(d.x, false)
  d.graph:mask():fill(0)
  local after = model:forward(d.x, false)
  d.graph:mask():fill(1)
  T.check((before - after):abs():sum() > 1e-3, kind .. ': masking every edge changes the output')
end

-- ---- the best epoch on ties of validation accuracy (2 validation nodes: ties are the rule) ----
for _, ties in ipairs { 'val_loss', 'first' } do
  local model = G.model(d, { kind = 'gcn', hidden = 8, dropout = 0, seed = 5 })
  local h = G.fit(model, d, { epochs = 40, lr = 0.05, weight_decay = 0, ties = ties })
  local want = h.epochs[1]
  for _, r in ipairs(h.epochs) do -- by hand: the first epoch of the highest accuracy, or its lowest loss
    if r.val_acc > want.val_acc or (ties == 'val_loss' and r.val_acc == want.val_acc and r.val_loss < want.val_loss) then
      want = r
    end
  end
  local n = 0
  for _, r in ipairs(h.epochs) do if r.val_acc == want.val_acc then n = n + 1 end end
  T.check(n > 1, ties .. ': the best accuracy is tied (' .. n .. ' epochs), so the rule matters')
  T.check_eq(h.best.epoch, want.epoch, 'ties = ' .. ties .. ': the best epoch')
end
T.checkerror(function() G.fit(G.model(d, { kind = 'gcn', hidden = 4 }), d, { ties = 'last' }) end,
  "option 'ties' must be 'val_loss' or 'first' (got last)")

-- ---- export / import and arch: the graph layers' settings, the graph attached after ----
local sparse, json = require 'lotto.sparse', require 'lotto.json'
local tmp = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_graph_export.safetensors'
for _, kind in ipairs { 'gcn', 'gat', 'gin' } do
  local model = G.model(d, { kind = kind, hidden = 8, heads = 2, seed = 4 })
  require('lotto.prune').random_model(model, { rate = 0.5, seed = 2 })
  model:apply_mask()
  local want = model:forward(d.x, false)
  assert(sparse.export(model, tmp))
  local net = assert(sparse.load(tmp))
  T.checkerror(function() net:forward(d.x) end, 'has no graph')
  T.checkerror(function() G.attach(net, path) end, 'made for a graph of 12 nodes and 31 edges, not 4 and 3')
  G.attach(net, d.graph)
  T.check_eq((net:forward(d.x) - want):abs():max(), 0.0, kind .. ': export, load, attach: the same outputs')
  local net2 = assert(G.load(tmp, d.graph))
  T.check_eq((net2:forward(d.x) - want):abs():max(), 0.0, kind .. ': G.load')
  -- nn.arch is JSON-safe and from_arch rebuilds the layers; the state and the graph make it whole
  local arch = json.decode(json.encode(nn.arch(model)))
  local m2 = nn.model(nn.from_arch(arch), { input = { d.features } })
  m2:load_state(model:state())
  G.attach(m2, d.graph)
  T.check_eq((m2:forward(d.x, false) - want):abs():max(), 0.0, kind .. ': from_arch + attach')
end
json.fs.remove(tmp)
T.report()
