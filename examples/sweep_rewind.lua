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

-- The sweep options (lotto.sweep.options reads the same names) are declared here too, so
-- --help lists them and a typo gets a suggestion; they go to sweep{...} below.
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/sweep_rewind.lua [options]',
  about = 'Late resetting as a sweep (Frankle et al. 2019): IMP of LeNet-300-100 on MNIST rewinding to\n'
    .. 'iteration k, one unit per (k, seed), run as worker processes here or as a Slurm job array,\n'
    .. 'collected into runs/sweep_rewind[_full]/. Rerunning resumes; see also\n'
    .. '`lotto sweep status runs/sweep_rewind` and `lotto sweep collect runs/sweep_rewind`.',
  scales = {
    { '(default)', 'k in {0, 20, 100, 300} x 2 seeds: 8 units, 5 rounds of 600 iterations', 'a few minutes' },
    { '--full', 'k in {0, 100, 500, 1000, 2000} x 5 seeds, 15 rounds of 20,000 iterations',
      'about 12 h here; Slurm tasks of up to 4 h' },
  },
  options = {
    { 'full', false, 'the paper scale' },
    { 'seeds', nil, 'seeds 1..N (default 2; 5 with --full)', type = 'number', integer = true, min = 1, metavar = 'N' },
    { 'backend', 'local', 'where units run: worker processes here or a Slurm job array', choices = { 'local', 'slurm' } },
    { 'jobs', nil, 'local: units at a time (default: cores / threads per unit)', type = 'number', integer = true,
      min = 1, metavar = 'N' },
    { 'threads', nil, 'threads per unit (default 1; Slurm: cpus-per-task)', type = 'number', integer = true, min = 1,
      metavar = 'N' },
    { 'dry-run', false, 'slurm: print the batch script and the units, submit nothing' },
    { 'wait', false, 'slurm: wait for the job array, then collect' },
    { 'restart', false, "delete the sweep's store and start over" },
    { 'no-collect', false, 'do not collect after a local run' },
    { 'quiet', false, 'no progress lines from the sweep' },
  },
})
local full, nseeds = o.full, o.seeds
local opts = { backend = o.backend, jobs = o.jobs, threads = o.threads, dry_run = o['dry-run'] or nil,
  wait = o.wait or nil, restart = o.restart or nil, quiet = o.quiet or nil }
if o['no-collect'] then opts.collect = false end
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
