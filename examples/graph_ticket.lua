-- graph_ticket.lua: graph lottery tickets (Chen et al., ICML 2021, "A Unified Lottery Ticket
-- Hypothesis for Graph Neural Networks"): UGS prunes 5% of the graph's edges and 20% of the
-- GCN's weights per round by soft-mask magnitude, rewinds to θ0 and retrains the ticket; random
-- pruning (RP) at the same sparsities is the control. Prints a table per round and writes the
-- plots (accuracy vs graph sparsity, vs weight sparsity, vs MAC savings).
--
--   lotto examples/graph_ticket.lua                    GCN on Cora, 1 seed, 5 rounds
--   lotto examples/graph_ticket.lua --full             paper scale: 20 rounds, 5 seeds
--   lotto examples/graph_ticket.lua --data citeseer --model gat --earlybird
-- A killed run resumes where it stopped when started again (--restart starts over).
local USAGE = [[
usage: lotto examples/graph_ticket.lua [--data cora|citeseer] [--model gcn|gat|gin] [--full]
         [--rounds n] [--seeds n] [--epochs n] [--hidden n] [--earlybird] [--graph-only | --weights-only]
         [--restart] [--threads n]
UGS graph lottery tickets against random pruning. Defaults: GCN with 512 hidden units, Adam
(lr 0.008, weight decay 8e-5 on Cora; 0.01, 5e-4 on Citeseer), 200 epochs per training,
s1 = s2 = 1e-2, 1 seed, 5 rounds (--full: 5 seeds, 20 rounds). --graph-only / --weights-only
are the ablations that prune one side only. Results: runs/graph_<data>_<model>[_...]/.]]
local o = { data = 'cora', model = 'gcn', rounds = 5, seeds = 1 }
local i = 1
while arg and arg[i] do
  local a, v = arg[i], arg[i + 1]
  local num = ({ ['--rounds'] = 'rounds', ['--seeds'] = 'seeds', ['--epochs'] = 'epochs', ['--hidden'] = 'hidden',
                 ['--threads'] = 'threads' })[a]
  if a == '--help' or a == '-h' then print(USAGE) return
  elseif a == '--full' then o.rounds, o.seeds = 20, 5; i = i + 1
  elseif a == '--restart' or a == '--earlybird' or a == '--graph-only' or a == '--weights-only' then
    o[a:sub(3):gsub('-', '_')] = true; i = i + 1
  elseif (a == '--data' or a == '--model') and v then o[a:sub(3)] = v; i = i + 2
  elseif num and math.tointeger(tonumber(v)) then o[num] = math.tointeger(tonumber(v)); i = i + 2
  else io.stderr:write(USAGE, '\n') os.exit(2) end
end
local seeds = {}
for s = 1, o.seeds do seeds[s] = s end
local suffix = (o.graph_only and '_graph_only' or '') .. (o.weights_only and '_weights_only' or '')
  .. (o.earlybird and '_eb' or '')

local results, run = lotto.ugs.run {
  name = ('graph_%s_%s%s'):format(o.data, o.model, suffix),
  data = o.data, model = o.model,
  hidden = o.hidden or (o.model == 'gat' and 8 or o.model == 'gin' and 64 or 512),
  epochs = o.epochs, rounds = o.rounds, seeds = seeds,
  prune_graph = o.weights_only and 0 or 0.05,   -- p_g: 5% of the remaining edges per round
  prune_weight = o.graph_only and 0 or 0.2,     -- p_θ: 20% of the remaining weights (global)
  controls = { 'random' },                      -- RP: random edges and weights, same counts
  earlybird = o.earlybird and { threshold = 0.01, window = 5 } or false,
  restart = o.restart, threads = o.threads,
}
print(('\nUGS, %s on %s, %d seed(s): test accuracy at the best validation epoch (mean +- std)')
  :format(o.model:upper(), o.data, #seeds))
print(require('lotto.ugs_plot').report(results))
print(('\nresults: %s/results.json\nplots:   %s/plots/accuracy_vs_graph_sparsity.png, '
  .. 'accuracy_vs_weight_sparsity.png, accuracy_vs_mac_savings.png'):format(run.dir, run.dir))
return results, run
