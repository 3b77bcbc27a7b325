-- graph_ticket.lua: graph lottery tickets (Chen et al., ICML 2021, "A Unified Lottery Ticket
-- Hypothesis for Graph Neural Networks"): UGS prunes 5% of the graph's edges and 20% of the
-- GCN's weights per round by soft-mask magnitude, rewinds to θ0 and retrains the ticket; random
-- pruning (RP) at the same sparsities is the control. Prints a table per round and writes the
-- plots (accuracy vs graph sparsity, vs weight sparsity, vs MAC savings).
--
--   lotto examples/graph_ticket.lua                    GCN on Cora, 1 seed, 5 rounds
--   lotto examples/graph_ticket.lua --full             paper scale: 20 rounds, 5 seeds
--   lotto examples/graph_ticket.lua --data citeseer --model gat --earlybird
--   lotto examples/graph_ticket.lua --undirected       one mask entry per edge, not per direction
-- A killed run resumes where it stopped when started again (--restart starts over).
local spec = {
  usage = 'lotto examples/graph_ticket.lua [options]',
  about = 'UGS graph lottery tickets against random pruning (Chen et al. 2021). Defaults: GCN with 512\n'
    .. 'hidden units, Adam (lr 0.008, weight decay 8e-5 on Cora; 0.01, 5e-4 on Citeseer), 200 epochs\n'
    .. 'per training, s1 = s2 = 1e-2, the authors\' GCN (no biases, no input dropout), their edge mask\n'
    .. '(one entry per direction: edges% counts directed entries) starting at 1 + U(-1e-5, 1e-5). --graph-only /\n'
    .. '--weights-only are the ablations that prune one side only. A killed run resumes when started\n'
    .. 'again. Results: runs/graph_<data>_<model>[_...]/.',
  scales = {
    { '(default)', 'GCN on Cora, 1 seed, 5 rounds', 'a few minutes' },
    { '--full', 'paper scale: 5 seeds, 20 rounds', 'about 1 h (GCN on Cora: 10 min of CPU per seed)' },
  },
  options = {
    { 'data', 'cora', 'data set', choices = { 'cora', 'citeseer' } },
    { 'model', 'gcn', 'graph network', choices = { 'gcn', 'gat', 'gin' } },
    { 'full', false, 'paper scale: 20 rounds, 5 seeds (--rounds and --seeds still win)' },
    { 'rounds', nil, 'pruning rounds (default 5; 20 with --full)', type = 'number', integer = true, min = 1 },
    { 'seeds', nil, 'number of seeds (default 1; 5 with --full)', type = 'number', integer = true, min = 1 },
    { 'epochs', nil, 'epochs per training (default 200)', type = 'number', integer = true, min = 1 },
    { 'hidden', nil, 'hidden units (default 512 for gcn, 8 for gat, 64 for gin)', type = 'number', integer = true, min = 1 },
    { 'earlybird', false, 'draw the ticket early (early-bird, threshold 0.01, window 5)' },
    { 'lotto-gcn', false, "GCN with biases and input dropout 0.5 (lotto.graph.model's) instead of the authors'" },
    { 'graph-only', false, 'prune edges only (ablation)' },
    { 'weights-only', false, 'prune weights only (ablation)' },
    { 'mask-noise', nil, "soft masks start at 1 + U(-c, c) (default 1e-5, the authors' all_one; 0: exactly 1)", type = 'number', min = 0 },
    { 'torch-init', false, "θ0 as torch's nn.Linear (U(+-1/sqrt(fan_in)), the authors') instead of Glorot normal" },
    { 'ties', 'val_loss', 'the best-validation epoch on a tie of accuracy: the lower validation loss, or the first (the authors\')',
      choices = { 'val_loss', 'first' } },
    { 'undirected', false, "one edge-mask entry per edge instead of one per direction (the authors')" },
    { 'restart', false, 'start over instead of resuming' },
    { 'threads', nil, 'OpenBLAS threads (default: as many as cores)', type = 'number', integer = true, min = 1 },
  },
}
local o = lotto.args.parse(arg, spec)
if o['graph-only'] and o['weights-only'] then lotto.args.fail(spec, '--graph-only and --weights-only exclude each other') end
o.graph_only, o.weights_only = o['graph-only'], o['weights-only']
o.rounds, o.seeds = o.rounds or (o.full and 20 or 5), o.seeds or (o.full and 5 or 1)
local seeds = {}
for s = 1, o.seeds do seeds[s] = s end
local suffix = (o.graph_only and '_graph_only' or '') .. (o.weights_only and '_weights_only' or '')
  .. (o.earlybird and '_eb' or '')
  .. (o['lotto-gcn'] and '_lotto' or '') .. (o.undirected and '_undirected' or '')
  .. (o['mask-noise'] and ('_noise%g'):format(o['mask-noise']) or '') .. (o['torch-init'] and '_torchinit' or '')
  .. (o.ties == 'first' and '_first' or '')

local results, run = lotto.ugs.run {
  name = ('graph_%s_%s%s'):format(o.data, o.model, suffix),
  data = o.data, model = o.model,
  hidden = o.hidden or (o.model == 'gat' and 8 or o.model == 'gin' and 64 or 512),
  epochs = o.epochs, rounds = o.rounds, seeds = seeds,
  prune_graph = o.weights_only and 0 or 0.05,   -- p_g: 5% of the remaining edges per round
  prune_weight = o.graph_only and 0 or 0.2,     -- p_θ: 20% of the remaining weights (global)
  controls = { 'random' },                      -- RP: random edges and weights, same counts
  earlybird = o.earlybird and { threshold = 0.01, window = 5 } or false,
  input_dropout = o['lotto-gcn'] and false or 'auto', bias = o['lotto-gcn'] or false,
  edge_mask = o.undirected and 'undirected' or 'directed', mask_noise = o['mask-noise'] or 1e-5,
  init = o['torch-init'] and 'torch' or 'glorot_normal', ties = o.ties,
  restart = o.restart, threads = o.threads,
}
print(('\nUGS, %s on %s, %d seed(s): test accuracy at the best validation epoch (mean +- std)%s')
  :format(o.model:upper(), o.data, #seeds, o.undirected and '' or '\nedges%: directed entries kept (2 per edge)'))
print(require('lotto.ugs_plot').report(results))
print(('\nresults: %s/results.json\nplots:   %s/plots/accuracy_vs_graph_sparsity.png, '
  .. 'accuracy_vs_weight_sparsity.png, accuracy_vs_mac_savings.png'):format(run.dir, run.dir))
return results, run
