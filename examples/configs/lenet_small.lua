-- lenet_small.lua: a config file for `lotto run` (docs/reference.md lists every option).
-- IMP of LeNet-300-100 on MNIST, ticket against random reinit, 2 seeds, 5 rounds of
-- 1,000 iterations (about 2 min on two cores):
--   lotto run examples/configs/lenet_small.lua
--   lotto run runs/lenet_small/config.json --seeds 1,2,3    (one more seed for the same run)
return {
  driver     = 'imp',
  name       = 'lenet_small',
  model      = 'lenet300',
  data       = 'mnist', data_opts = { val = 5000 },
  optimizer  = { kind = 'adam', lr = 1.2e-3 },
  batch      = 60,
  iterations = 1000,
  eval_every = 100,
  seeds      = { 1, 2 },
  rounds     = 5,
  prune      = { rate = 0.2, output_rate = 0.1 },
  controls   = { 'reinit' },
}
