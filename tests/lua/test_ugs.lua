-- test_ugs.lua: lotto.ugs on a crafted two-community graph: 2 rounds with a tiny GCN, the
-- sparsities each round must reach (hand-counted), a run killed in round 2 and started again
-- ending byte-identical to an uninterrupted one, the early-bird stop, option errors.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local G = require 'lotto.graph'
local U = require 'lotto.ugs'
local io_ = require 'lotto.io'
local json = require 'lotto.json'
local tensor = require 'lotto.tensor'

local ROOT = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_ugs'
json.fs.remove_tree(ROOT)

-- Cliques {0..7} and {8..15} (28 edges each) and 4 bridges: 60 edges; features: noise + a weak hint.
local function crafted()
  local pairs = {}
  for _, b in ipairs { 0, 8 } do
    for u = b, b + 7 do
      for v = u + 1, b + 7 do pairs[#pairs + 1] = { u, v } end
    end
  end
  for u = 0, 3 do pairs[#pairs + 1] = { u, 8 + u } end
  local d = { nodes = 16, features = 6, classes = 2, x = tensor.rand({ 16, 6 }, 3), edges = tensor.new(pairs) }
  d.graph = G.new(16, d.edges)
  local y = {}
  for i = 1, 16 do y[i] = i <= 8 and 0 or 1 end
  d.y = tensor.new(y)
  d.train, d.val, d.test = tensor.new { 0, 15 }, tensor.new { 1, 14, 2, 13 }, tensor.new { 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }
  return d
end
local d = crafted()
T.check_eq(d.graph:nedges(), 60, 'crafted graph: 60 edges')

local function cfg(root, rounds, extra)
  local c = { name = 'ugs', root = root, data = d, hidden = 8, epochs = 12, rounds = rounds, seeds = { 1, 2 },
              verbose = false, plots = false, lr = 0.02, weight_scope = 'layer', bias = true,
              edge_mask = 'undirected', mask_noise = 0 } -- hand counts per undirected edge; directed below
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- ---- an uninterrupted run ----
local res, run = U.run(cfg(ROOT .. '/full', 2))
T.check_eq(#res.aggregate, 3, 'rounds 0, 1, 2 aggregated')
local r1, r2 = res.aggregate[2].methods.ticket, res.aggregate[3].methods.ticket
-- edges: round(0.05 * 60) = 3 pruned, then round(0.05 * 57) = 3; weights per layer (6x8, 8x2):
-- 48 -> 48 - round(9.6) = 38 -> 38 - round(7.6) = 30; 16 -> 13 -> 13 - round(2.6) = 10
T.check_near(r1.graph_density.mean, 57 / 60, 1e-9, 'round 1: 57 of 60 edges')
T.check_near(r2.graph_density.mean, 54 / 60, 1e-9, 'round 2: 54 of 60 edges')
T.check_near(r1.weight_density.mean, (38 + 13) / 64, 1e-9, 'round 1: 38 + 13 of 64 weights')
T.check_near(r2.weight_density.mean, (30 + 10) / 64, 1e-9, 'round 2: 30 + 10 of 64 weights')
-- MACs: N x kept weights + (2 kept edges + N) x (8 + 2)
T.check_near(r2.macs_rel.mean, (16 * 40 + (2 * 54 + 16) * 10) / (16 * 64 + (2 * 60 + 16) * 10), 1e-9, 'round 2 MACs')
local rnd = res.aggregate[3].methods.random
T.check_near(rnd.graph_density.mean, 54 / 60, 1e-9, 'random control at the ticket graph sparsity')
T.check_near(rnd.weight_density.mean, 40 / 64, 1e-9, 'random control at the ticket weight sparsity')
T.check(res.dense and res.dense.test_acc.mean > 0.5, 'dense accuracy recorded')
-- the saved masks match the recorded counts
local m = assert(io_.load(run:mask_path(2, 2)))
T.check_eq({ m.edges:sum(), m.weights:numel() }, { 54.0, 64 + 8 + 2 }, 'mask file: 54 edges; the flat weight mask')

-- `lotto plot <run dir>` (lotto.plot.run) draws a UGS run's own plots: the run names lotto.ugs_plot
local pfiles = require('lotto.plot').run(ROOT .. '/full/ugs', { quiet = true, format = 'svg' })
for _, name in ipairs { 'accuracy_vs_graph_sparsity', 'accuracy_vs_weight_sparsity', 'accuracy_vs_mac_savings' } do
  local dat = io_.read_file(ROOT .. '/full/ugs/plots/' .. name .. '.dat')
  T.check(type(dat) == 'string' and #dat > 0, 'lotto plot: ' .. name .. '.dat written')
end
T.check(pfiles == nil or (#pfiles == 3 and pfiles[1]:find('accuracy_vs_graph_sparsity.svg', 1, true)),
  'lotto plot: the three UGS images')

-- ---- killed in round 2, run again ----
local want = io_.read_file(ROOT .. '/full/ugs/results.json')
T.check(type(want) == 'string' and #want > 1000, 'results.json of the uninterrupted run')
local root = ROOT .. '/killed'
U.run(cfg(root, 1))
local dir = root .. '/ugs/replicate_2/round_2'
json.fs.mkdir_p(dir)
io_.write_atomic(dir .. '/mask.safetensors', 'debris of a killed write')
io_.write_atomic(dir .. '/metrics.jsonl', '{"epoch": 1}\n')
os.remove(root .. '/ugs/results.json')
U.run(cfg(root, 2))
T.check_eq(io_.read_file(root .. '/ugs/results.json'), want, 'killed and resumed: results.json byte-identical')
T.check_eq(io_.read_file(dir .. '/mask.safetensors'), io_.read_file(ROOT .. '/full/ugs/replicate_2/round_2/mask.safetensors'),
  'round 2 masks identical')

-- ---- early bird: threshold 1 is always calm, window 2 stops the search at epoch 3 ----
local eres = U.run(cfg(ROOT .. '/eb', 1, { seeds = { 1 }, earlybird = { threshold = 1, window = 2 } }))
local s = assert(json.read(ROOT .. '/eb/ugs/replicate_1/round_1/summary.json'))
T.check_eq(s.search.earlybird_epoch, 3, 'early bird at epoch 3')
T.check_near(eres.aggregate[2].methods.ticket.graph_density.mean, 57 / 60, 1e-9, 'early-bird ticket pruned as usual')

-- ---- global weight pruning (the default): one threshold over both layers ----
do
  local model = G.model(d, { kind = 'gcn', hidden = 8, seed = 5 })
  local ps = {}
  for _, p in ipairs(model:parameters()) do if p.prunable then ps[#ps + 1] = p end end
  local sm = tensor.ones { model:values():numel() }
  sm:narrow(1, ps[1].offset + 1, ps[1].numel):fill(0.5) -- layer 1 (48 weights) scores below layer 2 (16)
  sm:narrow(1, ps[2].offset + 1, ps[2].numel):fill(2)
  local function kept(wm, p) return wm:narrow(1, p.offset + 1, p.numel):sum() end
  local wm = U.draw({ prune_graph = 0, prune_weight = 0.2, weight_scope = 'global' }, model, d.graph, sm, d.graph:weight())
  T.check_eq({ kept(wm, ps[1]), kept(wm, ps[2]) }, { 35.0, 16.0 }, 'global: all 13 pruned from the lower-scored layer')
  wm = U.draw({ prune_graph = 0, prune_weight = 0.2, weight_scope = 'layer' }, model, d.graph, sm, d.graph:weight())
  T.check_eq({ kept(wm, ps[1]), kept(wm, ps[2]) }, { 38.0, 13.0 }, 'layer: 10 and 3')
end
local gres = U.run(cfg(ROOT .. '/global', 1, { seeds = { 1 }, weight_scope = 'global' }))
T.check_near(gres.aggregate[2].methods.ticket.weight_density.mean, 51 / 64, 1e-9, 'global run: 51 of 64 weights kept')
T.check_near(gres.aggregate[2].methods.random.weight_density.mean, 51 / 64, 1e-9, 'random control at the same count')

-- ---- ablation: weights only keeps every edge ----
local wres = U.run(cfg(ROOT .. '/wonly', 1, { seeds = { 1 }, prune_graph = 0, controls = {} }))
T.check_eq(wres.aggregate[2].methods.ticket.graph_density.mean, 1.0, 'weights-only: all edges kept')

-- ---- the search trains θ ⊙ m_θ with m_θ on the prunable weights only: biases stay live ----
do
  local model = G.model(d, { kind = 'gcn', hidden = 8, seed = 5 })
  local c = { epochs = 10, lr = 0.02, weight_decay = 0, s1 = 1e-2, s2 = 1e-2, prune_graph = 0.05, prune_weight = 0.2,
              weight_scope = 'layer' }
  local wm, em = U.search(c, d, model, d.graph)
  local bias = 0
  for _, p in ipairs(model:parameters()) do
    if not p.prunable then bias = bias + p.value:abs():sum() end
  end
  T.check(bias > 1e-3, 'biases trained during the search (sum |b| = ' .. bias .. ')')
  T.check_eq({ em:sum(), wm:sum() }, { 57.0, 38.0 + 13.0 + 8 + 2 }, 'drawn masks: 57 edges, 51 weights + biases')
  d.graph:mask():fill(1)
end

-- ---- mask_noise: soft masks start at 1 + U(-c, c) on kept entries (lr 0: they stay there) ----
do
  local model = G.model(d, { kind = 'gcn', hidden = 8, seed = 5 })
  local c = { epochs = 1, lr = 0, weight_decay = 0, s1 = 1e-2, s2 = 1e-2, prune_graph = 0.05, prune_weight = 0.2,
              weight_scope = 'layer', mask_noise = 1e-3 }
  d.graph:mask():set(7, 0)
  local _, _, _, sm, gw = U.search(c, d, model, d.graph, 42)
  local w1 = model:parameters()[1]
  local s1 = sm:narrow(1, w1.offset + 1, w1.numel)
  T.check_eq({ gw:get(7), sm:narrow(1, w1.offset + w1.numel + 1, 1):get(1) }, { 0.0, 1.0 },
    'no noise on a masked edge (held at 0) nor on the bias after the first weight (1)')
  gw:set(7, 1)
  local dev, dg = (s1 - 1):abs(), (gw - 1):abs()
  T.check(dev:max() <= 1e-3 and dev:max() > 5e-4 and dg:max() <= 1e-3 and dg:max() > 5e-4,
    ('noise within 1e-3 (weights %.2g, edges %.2g)'):format(dev:max(), dg:max()))
  local _, _, _, sm2 = U.search(c, d, model, d.graph, 42)
  T.check_eq((sm2 - sm):abs():max(), 0.0, 'same seed, same noise')
  d.graph:mask():fill(1)
end

-- ---- directed edge masks: 120 entries (2 per edge), pruned entry by entry ----
do
  local dres, drun = U.run(cfg(ROOT .. '/directed', 2, { seeds = { 1 }, edge_mask = 'directed' }))
  local t1, t2 = dres.aggregate[2].methods.ticket, dres.aggregate[3].methods.ticket
  -- round(0.05 * 120) = 6 pruned, then round(0.05 * 114) = 6
  T.check_near(t1.graph_density.mean, 114 / 120, 1e-9, 'directed round 1: 114 of 120 entries')
  T.check_near(t2.graph_density.mean, 108 / 120, 1e-9, 'directed round 2: 108 of 120 entries')
  T.check_near(dres.aggregate[3].methods.random.graph_density.mean, 108 / 120, 1e-9,
    'random control: the same count of directed entries')
  -- MACs: N x kept weights + (kept directed entries + N) x (8 + 2)
  T.check_near(t2.macs_rel.mean, (16 * 40 + (108 + 16) * 10) / (16 * 64 + (120 + 16) * 10), 1e-9, 'directed MACs')
  local dm = assert(io_.load(drun:mask_path(1, 2)))
  T.check_eq({ dm.edges:numel(), dm.edges:sum() }, { 120, 108.0 }, 'directed mask file: 120 entries, 108 kept')
  local e, one_way = dm.edges:totable(), 0
  for k = 1, 120, 2 do if e[k] ~= e[k + 1] then one_way = one_way + 1 end end
  T.check(one_way > 0, ('directed ticket keeps %d edges one way only'):format(one_way))
  T.check_eq(d.graph:directed(), true, 'the run set the graph directed')
  T.check_eq({ drun.config.edge_mask, drun.config.mask_noise, run.config.edge_mask }, { 'directed', 0, 'undirected' },
    'stored config: every option')
  local ares, arun = U.run(cfg(ROOT .. '/undirected_again', 1, { seeds = { 1 }, controls = {} }))
  T.check_eq({ d.graph:directed(), d.graph:nmask() }, { false, 60 }, 'and an undirected run sets it back')
  -- a run made before the options added later (M.added) existed: its config lacks them, and it
  -- resumes and extends with their old values; set otherwise, it is another run
  local cpath = arun.dir .. '/config.json'
  local c = assert(json.read(cpath))
  for k in pairs(U.added) do c[k] = nil end
  assert(json.write(cpath, c, { indent = true }))
  local bres, brun = U.run(cfg(ROOT .. '/undirected_again', 2, { seeds = { 1 }, controls = {} }))
  T.check(brun.resumed and #bres.aggregate == 3, 'a config without the added options resumes and extends')
  T.check_eq(bres.aggregate[2].methods.ticket.test_acc.mean, ares.aggregate[2].methods.ticket.test_acc.mean,
    'its round 1 kept')
  T.checkerror(function()
    U.run(cfg(ROOT .. '/undirected_again', 2, { seeds = { 1 }, controls = {}, mask_noise = 1e-5 }))
  end, 'mask_noise: 0 -> 1e-05')
end

-- ---- init = 'torch': θ0 of the prunable weights in U(+-1/sqrt(fan_in)) (6 and 8 inputs) ----
do
  local tres, trun = U.run(cfg(ROOT .. '/torchinit', 0, { seeds = { 1 }, init = 'torch', controls = {} }))
  local t = assert(io_.load(trun:replicate_dir(1) .. '/init.safetensors'))
  local model = G.model(d, { kind = 'gcn', hidden = 8, seed = 1 })
  model:load_state(t.values)
  local ps = {}
  for _, p in ipairs(model:parameters()) do if p.prunable then ps[#ps + 1] = p end end
  T.check_eq({ ps[1].shape, ps[2].shape }, { { 8, 6 }, { 2, 8 } }, 'weights (out, in)')
  local m1, m2 = ps[1].value:abs():max(), ps[2].value:abs():max()
  T.check(m1 <= 1 / math.sqrt(6) and m1 > 0.8 / math.sqrt(6) and m2 <= 1 / math.sqrt(8) and m2 > 0.5 / math.sqrt(8),
    ('torch init bounds: max |w| %.3f (< %.3f), %.3f (< %.3f)'):format(m1, 1 / math.sqrt(6), m2, 1 / math.sqrt(8)))
  T.check(tres.dense.test_acc.mean >= 0, 'torch init: dense round trained')
  T.check_eq(trun.config.init, 'torch', 'init stored when not glorot_normal')
end

-- ---- ties = 'first' (the authors' rule) reaches the run and is stored ----
do
  local fres, frun = U.run(cfg(ROOT .. '/first', 1, { seeds = { 1 }, ties = 'first', controls = {} }))
  T.check_eq(frun.config.ties, 'first', "ties stored when not 'val_loss'")
  T.check(fres.aggregate[2] and fres.aggregate[2].methods.ticket and fres.dense.test_acc.mean > 0,
    'ties = first: dense and round 1 recorded')
end

-- ---- misuse ----
T.checkerror(function() U.run(cfg(ROOT .. '/x', 1, { bogus = 1 })) end, "unknown option 'bogus'")
T.checkerror(function() U.run(cfg(ROOT .. '/x', 1, { prune_graph = 1.5 })) end, 'prune rates must be below 1')
T.checkerror(function() U.run(cfg(ROOT .. '/x', 1, { controls = { 'reinit' } })) end, "unknown control 'reinit'")
T.checkerror(function() U.run(cfg(ROOT .. '/x', 1, { weight_scope = 'net' })) end, "'weight_scope' must be 'global' or 'layer'")
T.checkerror(function() U.run(cfg(ROOT .. '/x', 1, { mask_noise = -1 })) end, "'mask_noise' must be a number >= 0")
T.checkerror(function() U.run(cfg(ROOT .. '/x', 1, { ties = 'last' })) end, "'ties' must be 'val_loss' or 'first' (got last)")
T.checkerror(function() U.run(cfg(ROOT .. '/x', 1, { init = 'he' })) end, "'init' must be 'glorot_normal' or 'torch'")
T.checkerror(function() U.run(cfg(ROOT .. '/x', 1, { edge_mask = 'both' })) end, "'edge_mask' must be 'undirected' or 'directed'")
T.checkerror(function() U.run(cfg(ROOT .. '/x', 1, { data = 'pubmed' })) end, "option 'data' must be 'cora', 'citeseer'")
T.checkerror(function() U.run(cfg(ROOT .. '/full', 2, { s1 = 0.5 })) end, 'different config')
json.fs.remove_tree(ROOT)
T.report()
