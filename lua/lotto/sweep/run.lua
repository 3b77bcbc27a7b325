-- sweep/run.lua: lotto.sweep{...}: checks the table, opens the store, hands the
-- unfinished units to a backend (local worker processes or a Slurm job array) and,
-- when they have run here, collects them. Options come from the table and from the
-- command line (options(argv): --backend, --jobs, --threads, --dry-run, --wait,
-- --restart, --no-collect), the command line winning.
local S = require 'lotto.sweep'
local U = require 'lotto.sweep.state'

local R = {}

R.USAGE = [[
sweep options (lotto sweep <script.lua> [options] or the script's own arguments):
  --backend local|slurm  where units run (default local: worker processes here)
  --jobs N               local: units at a time (default: cores / threads per unit)
  --threads N            threads per unit (default 1; Slurm: cpus-per-task)
  --dry-run              slurm: print the batch script and the units, submit nothing
  --wait                 slurm: wait for the job array, then collect
  --restart              delete the sweep's store and start over
  --no-collect           do not collect after a local run]]

local BOOL = { ['--dry-run'] = 'dry_run', ['--wait'] = 'wait', ['--restart'] = 'restart', ['--no-collect'] = 'no_collect',
  ['--quiet'] = 'quiet' }
local VALUE = { ['--backend'] = 'backend', ['--jobs'] = 'jobs', ['--threads'] = 'threads' }

-- Parses sweep options out of an argument list (e.g. a script's arg). Returns the
-- options and the arguments it did not know, in order, for the script. Raises on a
-- malformed sweep option.
function R.options(argv)
  local o, rest, i = {}, {}, 1
  argv = argv or {}
  while argv[i] ~= nil do
    local a = argv[i]
    local name, val = tostring(a):match('^(%-%-[%w%-]+)=(.*)$')
    name = name or a
    if BOOL[name] and not val then
      o[BOOL[name]] = true
    elseif VALUE[name] then
      if not val then i = i + 1; val = argv[i] end
      if val == nil then error(('lotto.sweep: %s needs a value'):format(name), 0) end
      o[VALUE[name]] = val
    elseif a == '-h' or a == '--help' then
      o.help = true
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  for _, k in ipairs { 'jobs', 'threads' } do
    if o[k] ~= nil then
      local n = math.tointeger(tonumber(o[k]))
      if not n or n < 1 then error(('lotto.sweep: --%s must be a positive integer (got %s)'):format(k, tostring(o[k])), 0) end
      o[k] = n
    end
  end
  if o.no_collect then o.collect, o.no_collect = false, nil end
  return o, rest
end

-- Options given to `lotto sweep <script>`; a script's lotto.sweep{...} uses them.
R.cli = {}

local function merged(spec, opts)
  local t = {}
  for k, v in pairs(spec) do t[k] = v end
  for k, v in pairs(opts or {}) do if k ~= 'help' then t[k] = v end end
  return t
end

-- lotto.sweep(spec[, opts]) -> summary {dir, units, done, failed, ..., results, job}.
-- opts: a table of options or an argument list; default: the command line's.
function R.run(spec, opts)
  if type(opts) == 'table' and opts[1] ~= nil then opts = R.options(opts) end
  if type(spec) ~= 'table' then error('lotto.sweep: expected a sweep table {name =, base =, grid =, seeds =}', 2) end
  local t = merged(spec, opts or R.cli)
  local backend = t.backend or 'local'
  if backend ~= 'local' and backend ~= 'slurm' then
    error(("lotto.sweep: option 'backend' must be 'local' or 'slurm' (got %s)"):format(tostring(backend)), 0)
  end
  if t.jobs ~= nil and (math.type(t.jobs) ~= 'integer' or t.jobs < 1) then
    error(("lotto.sweep: option 'jobs' must be a positive integer (got %s)"):format(tostring(t.jobs)), 0)
  end
  local s = S.normalize(t)
  local slurm_opts = backend == 'slurm' and require('lotto.sweep.slurm').options(t.slurm, s.threads) or nil
  local say = t.quiet and function() end or function(fmt, ...) io.stdout:write(fmt:format(...)); io.stdout:flush() end
  local dir = S.dir(s)
  local all = S.units(s, dir)
  local out = { dir = dir, units = #all, backend = backend }
  if t.dry_run then
    local todo = {}
    for _, u in ipairs(all) do
      local st = not t.restart and U.read(u)
      if not (st and st.state == 'done') then todo[#todo + 1] = u end
    end
    if backend == 'slurm' then
      require('lotto.sweep.slurm').submit(s, dir, todo, slurm_opts, true, say)
    else
      say('# dry run: %d of %d units to run locally\n', #todo, #all)
      for _, u in ipairs(todo) do say('#   %s\n', u.id) end
    end
    out.todo = #todo
    return out
  end
  local _, reopened = S.open(s, t.restart)
  -- units to run: not done, and not running elsewhere right now
  local live = backend == 'slurm' and require('lotto.sweep.slurm').live_jobs() or nil
  local todo, busy, done = {}, 0, 0
  for _, u in ipairs(all) do
    local st = U.read(u)
    local state = U.classify(u, st or false, live)
    if state == 'done' then done = done + 1
    elseif state == 'running' then busy = busy + 1
    else todo[#todo + 1] = u end
  end
  say('sweep %s: %d cells x %d seeds = %d units; %d done, %d running elsewhere, %d to run%s\n', dir, #S.cells(s),
    #s.seeds, #all, done, busy, #todo, reopened and ' (resumed)' or '')
  out.todo = #todo
  if backend == 'slurm' then
    local now = require('lotto.sys').now
    local t0 = now()
    if #todo > 0 then out.job = require('lotto.sweep.slurm').submit(s, dir, todo, slurm_opts, false, say) end
    if not t.wait then return out end
    if out.job then
      local sv = require('lotto.sweep.slurm').wait(out.job, dir, say)
      local _, mean, over = U.times(sv)
      out.seconds = now() - t0
      say('sweep %s: job %s done %.2f s after submission: %d units done, %d failed; per unit %.2f s mean, '
        .. 'overhead %.0f ms mean (as the units measured them)\n', dir, out.job, out.seconds, sv.done, sv.failed, mean, 1000 * over)
    end
  elseif #todo > 0 then
    local W = require 'lotto.sweep.workers'
    local res = W.run(dir, todo, { jobs = t.jobs, threads = s.threads, quiet = t.quiet })
    out.run = res
    say('sweep %s: %s\n', dir, W.summary(res))
    if res.error then
      if res.error:find('interrupted!', 1, true) then
        say('interrupted: rerun the same command to resume\n')
        out.interrupted = true
        return out
      end
      require('lotto.util').user_error('lotto.sweep: ' .. res.error)
    end
  end
  local sv = U.survey(s, dir, live)
  out.done, out.failed, out.pending, out.running = sv.done, sv.failed, sv.pending, sv.running
  if t.collect ~= false then out.results, out.missing = require('lotto.sweep.collect').collect(dir, { quiet = t.quiet }) end
  return out
end

return R
