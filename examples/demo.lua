-- demo.lua: what `make demo` runs. Iterative magnitude pruning of LeNet-300-100 on
-- MNIST at a small scale (examples/lenet_imp.lua --demo: 2 seeds, 8 rounds of 500
-- iterations, a few minutes on two cores): winning tickets against random
-- reinitialisation, a table of accuracies and the Frankle & Carbin plots.
local here = (debug.getinfo(1, 'S').source:match('^@(.*/)') or './')
local restart = false
for _, a in ipairs(arg or {}) do
  if a == '--restart' then restart = true else error('usage: lotto examples/demo.lua [--restart]', 0) end
end
if not lotto.data.available('mnist') then
  error(select(2, lotto.data.find('mnist')), 0) -- says how to fetch it
end

print('lotto demo: lottery tickets in LeNet-300-100 on MNIST (examples/lenet_imp.lua --demo)\n')
arg = { [0] = here .. 'lenet_imp.lua', '--demo', restart and '--restart' or nil }
local _, run = dofile(here .. 'lenet_imp.lua')

print(('\nThe winning tickets keep their accuracy (and learn faster) as the network is pruned;'
  .. '\nthe same masks reinitialised at random fall behind. Everything is in %s/:'):format(run.dir))
print('  results.json                     accuracies per round, mean/std/min/max over the seeds')
print('  replicate_<seed>/round_<k>/      metrics.jsonl, mask.safetensors, summary.json of each round')
print('  plots/accuracy_vs_sparsity.png   test accuracy at early stopping vs % of weights remaining')
print('  plots/early_stop.png             early-stopping iteration vs % of weights remaining')
print('  plots/curves_ticket.png          test accuracy during training, dense and pruned tickets')
print(('Redraw the plots with `lotto plot %s`; paper scale: lotto examples/lenet_imp.lua --full'):format(run.dir))
