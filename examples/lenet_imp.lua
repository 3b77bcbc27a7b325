-- lenet_imp.lua: Frankle & Carbin (2019), Figures 3 and 4: iterative magnitude
-- pruning of LeNet-300-100 on MNIST. Winning tickets (reset to their initial
-- weights) against random reinitialisation of the same masks.
--
--   lotto examples/lenet_imp.lua            small: 2 seeds, 5 rounds, 2,000 iterations a round
--   lotto examples/lenet_imp.lua --full     paper scale: 5 seeds, 20 rounds, 50,000 iterations
--   lotto examples/lenet_imp.lua --restart  start over instead of resuming
local full, restart = false, false
for _, a in ipairs(arg) do
  if a == '--full' then full = true elseif a == '--restart' then restart = true
  else error('usage: lotto examples/lenet_imp.lua [--full] [--restart]', 0) end
end

local results, run = lotto.ticket.imp {
  name       = full and 'lenet_imp_full' or 'lenet_imp',
  model      = 'lenet300',
  data       = 'mnist', data_opts = { val = 5000 },   -- 5,000 training images held out
  optimizer  = { kind = 'adam', lr = 1.2e-3 },
  batch      = 60,
  iterations = full and 50000 or 2000,
  eval_every = full and 1000 or 200,
  seeds      = full and { 1, 2, 3, 4, 5 } or { 1, 2 },
  rounds     = full and 20 or 5,
  prune      = { rate = 0.2, output_rate = 0.1 },     -- fc 20%, output layer 10% per round
  controls   = { 'reinit' },
  restart    = restart,
}

print(('\n%-10s %-22s %-22s'):format('remaining', 'winning ticket', 'random reinit'))
for _, a in ipairs(results.aggregate) do
  local function cell(m)
    local s = a.methods[m] and a.methods[m].early_stop_test_acc
    return s and ('%.2f%% ± %.2f'):format(100 * s.mean, 100 * s.std) or '-'
  end
  print(('%8.1f%%  %-22s %-22s'):format(a.remaining_pct, cell('ticket'), cell('reinit')))
end
