-- demo.lua: what `make demo` runs. Iterative magnitude pruning of LeNet-300-100 on
-- MNIST at a small scale (examples/lenet_imp.lua --demo: 2 seeds, 8 rounds of 500
-- iterations, about a minute on two cores): winning tickets against random
-- reinitialisation, a table of accuracies and the Frankle & Carbin plots.
local here = (debug.getinfo(1, 'S').source:match('^@(.*/)') or './')
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/demo.lua [options]',
  about = 'What `make demo` runs: examples/lenet_imp.lua --demo (IMP of LeNet-300-100 on MNIST,\n'
    .. 'winning tickets against random reinitialisation), a table of accuracies and the plots.',
  scales = { { '(default)', '2 seeds, 8 rounds of 500 iterations', 'about 1 min' } },
  options = { { 'restart', false, 'start over instead of resuming' } },
})
local restart = o.restart
if not lotto.data.available('mnist') then
  lotto.util.user_error(select(2, lotto.data.find('mnist'))) -- says how to fetch it
end

print('lotto demo: lottery tickets in LeNet-300-100 on MNIST (examples/lenet_imp.lua --demo)\n')
arg = { [0] = here .. 'lenet_imp.lua', '--demo', restart and '--restart' or nil }
local _, run = dofile(here .. 'lenet_imp.lua')

print(('\nThe winning tickets keep their accuracy as the network is pruned; the same masks'
  .. '\nreinitialised at random fall behind. (At 500 iterations a round every run is still'
  .. '\nimproving at its last evaluation, so early stopping is not shown at this scale: run'
  .. '\nlenet_imp.lua --full for Fig. 4.) Everything is in %s/:'):format(run.dir))
print('  results.json                     accuracies per round, mean/std/min/max over the seeds')
print('  replicate_<seed>/round_<k>/      metrics.jsonl, mask.safetensors, summary.json of each round')
print('  plots/accuracy_vs_sparsity.png   test accuracy at early stopping vs % of weights remaining')
print('  plots/early_stop.png             early-stopping iteration vs % of weights remaining (flat here)')
print('  plots/curves_ticket.png          test accuracy during training, dense and pruned tickets')
print(('Redraw the plots with `lotto plot %s`; paper scale: lotto examples/lenet_imp.lua --full'):format(run.dir))
