-- baselines.lua: is it the mask or the initialisation? The winning ticket (IMP mask,
-- original θ0) against three controls at exactly the same per-layer density, trained
-- beside it every round: the same mask randomly reinitialised (Frankle & Carbin), the
-- mask permuted within each layer with θ0 kept (Morcos et al. 2019), and a random mask
-- with θ0 (random pruning). LeNet-300-100 on MNIST.
--
--   lotto examples/baselines.lua            2 seeds, 6 rounds of 35% (to 7.5%), 600 iterations
--   lotto examples/baselines.lua --full     5 seeds, 20 rounds of 20% (F&C rates), 50,000 iterations
--   lotto examples/baselines.lua --restart  start over instead of resuming
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/baselines.lua [options]',
  about = 'Is it the mask or the initialisation? The winning ticket (IMP mask, original θ0) against\n'
    .. 'the same mask reinitialised, the mask permuted within each layer (θ0 kept) and a random\n'
    .. 'mask at the same per-layer density (θ0 kept). LeNet-300-100 on MNIST. Resumes when rerun.',
  scales = {
    { '(default)', '2 seeds, 6 rounds of 35% (to 7.5%), 600 iterations a round', 'about 3 min' },
    { '--full', '5 seeds, 20 rounds of 20% (F&C rates), 50,000 iterations a round', 'about 20 h' },
  },
  options = { { 'full', false, 'the paper scale' }, { 'restart', false, 'start over instead of resuming' } },
})
local full, restart = o.full, o.restart

local results, run = lotto.ticket.imp {
  name       = full and 'baselines_full' or 'baselines',
  model      = 'lenet300',
  data       = 'mnist', data_opts = { val = 5000 },
  optimizer  = { kind = 'adam', lr = 1.2e-3 },
  batch      = 60,
  iterations = full and 50000 or 600,
  eval_every = full and 1000 or 100,
  seeds      = full and { 1, 2, 3, 4, 5 } or { 1, 2 },
  rounds     = full and 20 or 6,
  -- the small run prunes faster than the paper to reach low densities in a few rounds
  prune      = full and { rate = 0.2, output_rate = 0.1 } or { rate = 0.35, output_rate = 0.175 },
  controls   = { 'reinit', 'permuted', 'random' },
  restart    = restart,
}

print('\ntest accuracy at early stopping (%, mean ± std over the seeds)')
print(lotto.ticket.report(results))
print('\ntest accuracy at the end of training')
print(lotto.ticket.report(results, { metric = 'final_test_acc' }))
