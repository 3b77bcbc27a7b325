-- sweep/slurm.lua: the Slurm backend. Writes one batch script that runs one unit per
-- job-array task (`sbatch --array=0-(N-1)%max_parallel`) and submits it. The task runs
-- `lotto sweep unit` with SLURM_CPUS_PER_TASK threads; on SIGTERM (time limit,
-- preemption, scancel) the unit stops between two writes and exits 75, and --requeue
-- or a rerun of the sweep resumes it. Units are whole replicates, so no task depends on
-- another (a transfer sweep whose source is another sweep can wait for it through
-- slurm = {dependency = 'afterok:<job>'}).
local util = require 'lotto.util'
local json = require 'lotto.json'
local proc = require 'lotto.proc'
local fs = require 'lotto.fs'

local M = {}

-- Options of slurm = {...}, with their #SBATCH names (false: handled apart).
M.OPTIONS = {
  partition = 'partition', account = 'account', qos = 'qos', time = 'time', mem = 'mem',
  mem_per_cpu = 'mem-per-cpu', cpus_per_task = false, max_parallel = false, extra = false,
  requeue = false, dependency = 'dependency', job_name = 'job-name', constraint = 'constraint',
}

local function bad(msg, ...) util.user_error('lotto.sweep: ' .. msg:format(...)) end
local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function absolute(path)
  if path:sub(1, 1) == '/' then return path end
  local p = io.popen('pwd')
  local cwd = p:read('l')
  p:close()
  if path == '.' then return cwd end
  return (cwd .. '/' .. path:gsub('^%./', ''))
end

-- Checks slurm = {...}; returns a copy with defaults (cpus_per_task = threads).
function M.options(o, threads)
  if o ~= nil and type(o) ~= 'table' then bad("option 'slurm' must be a table {partition =, time =, ...}") end
  local out = {}
  for k, v in pairs(o or {}) do
    if M.OPTIONS[k] == nil then
      bad("unknown option slurm.%s%s", tostring(k), require('lotto.sweep').suggest(tostring(k), M.OPTIONS))
    end
    out[k] = v
  end
  out.cpus_per_task = out.cpus_per_task or threads
  if math.type(out.cpus_per_task) ~= 'integer' or out.cpus_per_task < 1 then
    bad('slurm.cpus_per_task must be a positive integer (got %s)', tostring(out.cpus_per_task))
  end
  if out.max_parallel ~= nil and (math.type(out.max_parallel) ~= 'integer' or out.max_parallel < 1) then
    bad('slurm.max_parallel must be a positive integer (got %s)', tostring(out.max_parallel))
  end
  if out.extra ~= nil and type(out.extra) ~= 'table' then bad("slurm.extra must be a list of lines such as '--gres=gpu:1'") end
  for i, line in ipairs(out.extra or {}) do
    if type(line) ~= 'string' or line:find('\n') then bad('slurm.extra[%d] must be one line (got %s)', i, tostring(line)) end
  end
  for k, name in pairs(M.OPTIONS) do
    if name and out[k] ~= nil and (type(out[k]) ~= 'string' and type(out[k]) ~= 'number' or tostring(out[k]):find('[\n%s]')) then
      bad('slurm.%s must be a string or number without spaces (got %s)', k, tostring(out[k]))
    end
  end
  if out.requeue == nil then out.requeue = true end
  return out
end

-- The batch script for these units of the sweep in dir (a string).
function M.script(s, dir, units, o)
  local adir, n = absolute(dir), #units
  local lines = { '#!/bin/bash',
    ('#SBATCH --job-name=%s'):format(o.job_name or ('lotto-' .. s.name)),
    ('#SBATCH --array=0-%d%s'):format(n - 1, o.max_parallel and ('%' .. o.max_parallel) or ''),
    ('#SBATCH --cpus-per-task=%d'):format(o.cpus_per_task),
    ('#SBATCH --output=%s/slurm/%%A_%%a.log'):format(adir),
    '#SBATCH --open-mode=append',
    ('#SBATCH --chdir=%s'):format(absolute('.')),
  }
  if o.requeue then lines[#lines + 1] = '#SBATCH --requeue' end
  local names = {}
  for k, name in pairs(M.OPTIONS) do if name and k ~= 'job_name' and o[k] ~= nil then names[#names + 1] = k end end
  table.sort(names)
  for _, k in ipairs(names) do lines[#lines + 1] = ('#SBATCH --%s=%s'):format(M.OPTIONS[k], tostring(o[k])) end
  for _, l in ipairs(o.extra or {}) do lines[#lines + 1] = '#SBATCH ' .. l end
  lines[#lines + 1] = ('# lotto sweep %s: %d unit%s (cell/seed), one per array task. A unit stopped by'):format(s.name, n, n == 1 and '' or 's')
  lines[#lines + 1] = '# SIGTERM (time limit, preemption, scancel) exits 75; a requeue or rerun resumes it.'
  for _, var in ipairs { 'LOTTO_DATA', 'LOTTO_LUA_PATH' } do
    if os.getenv(var) then lines[#lines + 1] = ('export %s=%s'):format(var, shq(absolute(os.getenv(var)))) end
  end
  lines[#lines + 1] = 'UNITS=('
  for _, u in ipairs(units) do lines[#lines + 1] = '  ' .. shq(u.id) end
  lines[#lines + 1] = ')'
  lines[#lines + 1] = ('exec %s sweep unit %s "${UNITS[$SLURM_ARRAY_TASK_ID]}"'):format(shq(assert(proc.exe())), shq(adir))
  return table.concat(lines, '\n') .. '\n'
end

local function on_path(cmd)
  for d in (os.getenv('PATH') or ''):gmatch('[^:]+') do
    if fs.exists(d .. '/' .. cmd) then return true end
  end
  return false
end

local function capture(cmd)
  local p = io.popen(cmd .. ' 2>&1')
  local out = p:read('a')
  local ok, _, code = p:close()
  return ok, out, code
end

-- Live Slurm array tasks ('<job>_<task>' and plain job ids) as a set, or nil without squeue.
function M.live_jobs()
  if not on_path('squeue') then return nil end
  local ok, out = capture('squeue -h -r -o %i')
  if not ok then return nil end
  local set = {}
  for id in out:gmatch('%S+') do set[id] = true end
  return set
end

-- Submits (or with dry_run prints) the units. Returns the job id (nil for a dry run).
function M.submit(s, dir, units, o, dry_run, say)
  local text = M.script(s, dir, units, o)
  if dry_run then
    say('# dry run: the batch script (not submitted)\n%s', text)
    say('# %d unit%s, array index: unit\n', #units, #units == 1 and '' or 's')
    for i, u in ipairs(units) do say('#   %d: %s\n', i - 1, u.id) end
    return nil
  end
  if not on_path('sbatch') then
    bad('sbatch not found: the slurm backend needs the Slurm client commands (Debian: slurm-client) on the PATH')
  end
  local sdir = dir .. '/slurm'
  assert(fs.mkdir_p(sdir))
  local k = 1
  while fs.exists(('%s/submit_%d.sh'):format(sdir, k)) do k = k + 1 end
  local path = ('%s/submit_%d.sh'):format(sdir, k)
  assert(fs.write_atomic(path, text))
  local ok, out = capture('sbatch --parsable ' .. shq(path))
  local job = ok and out:match('^%s*(%d+)')
  if not job then bad('sbatch failed on %s: %s', path, (out:gsub('%s+$', ''))) end
  assert(json.append_line(sdir .. '/jobs.jsonl', { job = job, script = path, units = #units, submitted = os.time() }))
  say('submitted job array %s: %d unit%s (%s)\n', job, #units, #units == 1 and '' or 's', path)
  say('watch it:    squeue -j %s     lotto sweep status %s\n', job, dir)
  say('afterwards:  sacct -j %s     lotto sweep collect %s\n', job, dir)
  return job
end

-- Waits until no task of the job is queued or running (squeue), printing the counts.
function M.wait(job, dir, say)
  local U = require 'lotto.sweep.state'
  local S = require 'lotto.sweep'
  local last = ''
  while true do
    local ok, out = capture('squeue -h -r -j ' .. job .. ' -o %i')
    local n = 0
    for _ in out:gmatch('%S+') do n = n + 1 end
    if not ok then n = 0 end -- an unknown (finished and purged) job id is an error for squeue
    local sv = U.survey(S.load(dir), dir, M.live_jobs())
    local line = ('job %s: %d task%s queued or running; units %d done, %d running, %d failed, %d pending\n')
      :format(job, n, n == 1 and '' or 's', sv.done, sv.running, sv.failed, sv.pending)
    if line ~= last then say('%s', line); last = line end
    if n == 0 then return sv end
    if not proc.sleep(1) or proc.interrupted() then error('interrupted!', 0) end
  end
end

return M
