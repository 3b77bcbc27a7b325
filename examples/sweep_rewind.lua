-- sweep_rewind.lua: late resetting as a sweep (Frankle et al. 2019, "Stabilizing the
-- lottery ticket hypothesis"). IMP on LeNet-300-100 / MNIST, rewinding the surviving
-- weights to iteration k of the dense run, for k in {0, 20, 100, 300} x 2 seeds: 8
-- independent units (one IMP replicate each) that run as worker processes here or as a
-- Slurm job array, and are collected into runs/sweep_rewind/results.json and plots/
-- (accuracy vs density per k, accuracy vs k per round).
--
--   lotto examples/sweep_rewind.lua                     here, cores / threads units at a time
--   lotto examples/sweep_rewind.lua --jobs 2            two at a time
--   lotto examples/sweep_rewind.lua --backend slurm     one job-array task per unit
--   lotto examples/sweep_rewind.lua --backend slurm --dry-run    print the batch script only
--   lotto examples/sweep_rewind.lua --full              k in {0, 100, 500, 1000, 2000} x 5 seeds, paper scale
--   lotto examples/sweep_rewind.lua --seeds 1           one seed: 4 units
--   lotto sweep status runs/sweep_rewind                what is done, running, failed, pending
--   lotto sweep collect runs/sweep_rewind               results.json and plots of what is done
--
-- Rerunning resumes: finished units are skipped, interrupted ones continue at their
-- last completed round. Slurm settings (partition, account, ...) go in slurm = {...}.
local sweep = require 'lotto.sweep'

local opts, rest = sweep.options(arg)
local full, nseeds = false, nil
local i = 1
while rest[i] do
  if rest[i] == '--full' then full = true
  elseif rest[i] == '--seeds' and math.tointeger(tonumber(rest[i + 1] or '')) then
    nseeds = math.tointeger(tonumber(rest[i + 1])); i = i + 1
  else error(('unknown argument %s (try --help)'):format(rest[i]), 0) end
  i = i + 1
end
if opts.help then
  print('usage: lotto examples/sweep_rewind.lua [--full] [--seeds N] [sweep options]\n'
    .. '  --seeds N              seeds 1..N (default 2; 5 with --full)\n' .. require('lotto.sweep.run').USAGE)
  return
end
local seeds = {}
for s = 1, nseeds or (full and 5 or 2) do seeds[s] = s end

return sweep({
  name    = full and 'sweep_rewind_full' or 'sweep_rewind',
  driver  = 'imp',
  base    = {
    model      = 'lenet300',
    data       = 'mnist', data_opts = { val = 5000 },
    optimizer  = { kind = 'adam', lr = 1.2e-3 },
    batch      = 60,
    iterations = full and 20000 or 600,
    eval_every = full and 1000 or 100,
    rounds     = full and 15 or 5,
    prune      = { rate = 0.3, output_rate = 0.15 },
    controls   = {},
  },
  grid    = { rewind = full and { 0, 100, 500, 1000, 2000 } or { 0, 20, 100, 300 } },
  seeds   = seeds,
  threads = 1,                       -- per unit; Slurm: --cpus-per-task
  slurm   = { time = full and '04:00:00' or '00:15:00', mem = '2G' },
}, opts)
