-- lenet_imp.lua: Frankle & Carbin (2019), Figures 3 and 4: iterative magnitude
-- pruning of LeNet-300-100 on MNIST. Winning tickets (reset to their initial
-- weights) against random reinitialisation of the same masks: test accuracy at
-- early stopping and the early-stopping iteration as the network gets sparser.
--
--   lotto examples/lenet_imp.lua            2 seeds, 10 rounds (to 10.7%), 1,000 iterations a round
--   lotto examples/lenet_imp.lua --demo     2 seeds, 8 rounds, 500 iterations (make demo)
--   lotto examples/lenet_imp.lua --full     paper scale: 5 seeds, 20 rounds, 50,000 iterations
--   lotto examples/lenet_imp.lua --restart  start over instead of resuming
-- A killed run resumes where it stopped when started again.
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/lenet_imp.lua [options]',
  about = 'Frankle & Carbin (2019), Fig. 3 and 4: IMP of LeNet-300-100 on MNIST, winning tickets\n'
    .. 'against random reinitialisation of the same masks (test accuracy at early stopping and\n'
    .. 'the early-stopping iteration vs. weights remaining). A killed run resumes when started again.',
  scales = {
    { '(default)', '2 seeds, 10 rounds (to 10.7%), 1,000 iterations a round', 'about 3 min' },
    { '--demo', '2 seeds, 8 rounds, 500 iterations a round (make demo)', 'about 1 min' },
    { '--full', 'paper scale: 5 seeds, 20 rounds, 50,000 iterations a round', 'about 10 h' },
  },
  options = {
    { 'demo', false, 'the demo scale' },
    { 'full', false, 'the paper scale' },
    { 'restart', false, 'start over instead of resuming' },
  },
})
local scale = o.full and 'full' or o.demo and 'demo' or 'small'
local restart = o.restart
local S = ({
  demo  = { name = 'lenet_demo', iterations = 500,   eval_every = 100,  seeds = { 1, 2 },          rounds = 8 },
  small = { name = 'lenet_imp',  iterations = 1000,  eval_every = 100,  seeds = { 1, 2 },          rounds = 10 },
  full  = { name = 'lenet_full', iterations = 50000, eval_every = 1000, seeds = { 1, 2, 3, 4, 5 }, rounds = 20 },
})[scale]

local results, run = lotto.ticket.imp {
  name       = S.name,
  preset     = 'lenet',                               -- Frankle & Carbin's row (lotto.presets); the keys below win
  description = 'LeNet-300-100 on MNIST, IMP (Frankle & Carbin 2019)',
  model      = 'lenet300',
  data       = 'mnist', data_opts = { val = 5000 },   -- 5,000 training images held out for early stopping
  init       = 'glorot_normal',
  optimizer  = { kind = 'adam', lr = 1.2e-3 },
  batch      = 60,
  iterations = S.iterations,
  eval_every = S.eval_every,
  seeds      = S.seeds,
  rounds     = S.rounds,
  prune      = { rate = 0.2, output_rate = 0.1 },     -- fc layers 20%, output layer 10% per round
  rewind     = 0,                                     -- reset to θ0: the original lottery ticket
  controls   = { 'reinit' },                          -- the same masks, randomly reinitialised
  restart    = restart,
}

print(('\nLeNet-300-100 on MNIST, %d seeds, %d iterations a round: test accuracy at early stopping (%%, mean ± std)')
  :format(#S.seeds, S.iterations))
print(lotto.ticket.report(results, { methods = { 'ticket', 'reinit' } }))
print('\nearly-stopping iteration (mean ± std)')
print(lotto.ticket.report(results, { metric = 'early_stop_iter', methods = { 'ticket', 'reinit' }, format = '%.0f ± %.0f' }))
return results, run
