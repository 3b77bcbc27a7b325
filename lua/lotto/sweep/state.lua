-- sweep/state.lua: one unit of a sweep in its own process, and what the store says
-- about each unit. A unit writes only its driver run, its log and its state file
-- (<cell>/replicate_<seed>.state.json: running, done, failed or interrupted), each
-- atomically; a unit stopped by SIGTERM or Ctrl-C unwinds between two writes, records
-- 'interrupted' and exits 75 so that a rerun or a Slurm requeue resumes it.
local json = require 'lotto.json'
local proc = require 'lotto.proc'
local sys = require 'lotto.sys'
local S = require 'lotto.sweep'
local fs = require 'lotto.fs'

local U = {}
U.EXIT_INTERRUPTED = 75 -- EX_TEMPFAIL: try again (slurm.conf RequeueExit=75 requeues it)

function U.read(unit)
  if not fs.exists(unit.state_path) then return nil end
  return json.read(unit.state_path)
end

local function write(unit, st) assert(json.write(unit.state_path, st, { indent = true })) end

local function slurm_job()
  local job, task = os.getenv('SLURM_ARRAY_JOB_ID'), os.getenv('SLURM_ARRAY_TASK_ID')
  if job and task then return job .. '_' .. task end
  return os.getenv('SLURM_JOB_ID')
end

-- Rounds of the unit's replicate with a summary, as a set of directory names.
local function finished_rounds(unit)
  local rdir, set = unit.dir .. '/replicate_' .. unit.seed, {}
  for _, name in ipairs(fs.listdir(rdir) or {}) do
    if name:match('^round_%d+$') and fs.exists(rdir .. '/' .. name .. '/summary.json') then set[name] = true end
  end
  return set
end

-- Seconds spent inside the rounds this attempt finished (their summaries' `seconds`),
-- to tell the per-unit overhead (process start, data load, store writes) from training.
local function rounds_seconds(unit, before)
  local sum = 0
  for name in pairs(finished_rounds(unit)) do
    if not before[name] then
      local s = json.read(('%s/replicate_%d/%s/summary.json'):format(unit.dir, unit.seed, name))
      if s and type(s.seconds) == 'number' then sum = sum + s.seconds end
    end
  end
  return sum
end

-- How many rounds of the unit's replicate have a summary (what a resumed unit keeps).
function U.rounds_done(unit)
  local n = 0
  for _ in pairs(finished_rounds(unit)) do n = n + 1 end
  return n
end

local function last_line(msg)
  local first = tostring(msg):match('^[^\n]*') -- the message, without the traceback
  return (first:gsub('^lotto%.sweep: ', ''))
end

-- Runs one unit of the sweep in dir; returns the exit status (0, 1 or 75: interrupted, or
-- another attempt holds the unit; either way a rerun or requeue goes on).
function U.run(dir, id, opts)
  opts = opts or {}
  local s, err = S.load(dir)
  if not s then io.stderr:write('lotto sweep unit: ', err, '\n'); return 1 end
  local unit
  for _, u in ipairs(S.units(s, dir)) do if u.id == id then unit = u end end
  if not unit then
    io.stderr:write(('lotto sweep unit: %s has no unit %s (units are <cell>/<seed>; see lotto sweep status %s)\n'):format(dir, tostring(id), dir))
    return 1
  end
  local prev = U.read(unit)
  if prev and prev.state == 'done' then print(('unit %s is done already'):format(id)); return 0 end
  if prev and prev.state == 'running' and prev.host == proc.hostname() and prev.pid ~= proc.pid()
      and prev.pid and proc.alive(prev.pid) then -- two runs of one unit would write the same files
    io.stderr:write(('lotto sweep unit: %s is running in process %d on this machine; try again later\n'):format(id, prev.pid))
    return U.EXIT_INTERRUPTED -- another attempt holds it: not a failure of this unit
  end
  local threads = math.tointeger(tonumber(os.getenv('SLURM_CPUS_PER_TASK') or '')) or s.threads
  local cfg = S.unit_config(s, unit, threads)
  local st = { state = 'running', unit = id, host = proc.hostname(), pid = proc.pid(), job = slurm_job(),
    threads = threads, started = os.time(), attempt = ((prev and prev.attempt) or 0) + 1,
    resumed_rounds = U.rounds_done(unit) }
  write(unit, st)
  print(('unit %s: %s %s, %d thread%s, attempt %d%s'):format(id, s.driver, json.encode(unit.overrides), threads,
    threads == 1 and '' or 's', st.attempt, st.resumed_rounds > 0 and (', resuming after %d rounds'):format(st.resumed_rounds) or ''))
  io.stdout:flush()
  local before, t0 = finished_rounds(unit), sys.now()
  local ok, e = pcall(S.driver(s.driver), cfg)
  st.seconds = sys.now() - t0
  st.finished = os.time()
  if ok then
    st.state, st.rounds_seconds = 'done', rounds_seconds(unit, before)
    st.overhead_seconds = st.seconds - st.rounds_seconds
    write(unit, st)
    print(('unit %s: done in %.2f s'):format(id, st.seconds))
    return 0
  end
  if proc.interrupted() then
    st.state, st.rounds_done = 'interrupted', U.rounds_done(unit)
    write(unit, st)
    io.stderr:write(('unit %s: interrupted after %d rounds; a rerun resumes it\n'):format(id, st.rounds_done))
    return U.EXIT_INTERRUPTED
  end
  if tostring(e):find('is locked by process', 1, true) then
    -- another attempt (a requeued Slurm task beside its first one, a second launcher) holds
    -- the unit's run: its status stays as it was, and this attempt asks to be tried again
    if prev then write(unit, prev) end
    io.stderr:write(('unit %s: %s; try again later\n'):format(id, last_line(e)))
    return U.EXIT_INTERRUPTED
  end
  st.state, st.error = 'failed', last_line(e)
  write(unit, st)
  io.stderr:write(('unit %s failed: %s\n'):format(id, tostring(e)))
  return 1
end

-- What a unit is now: 'done' | 'running' | 'failed' | 'pending', with a note. live: the
-- set of Slurm tasks squeue lists (optional): a task gone from it is not running.
function U.classify(unit, st, live)
  st = st == nil and U.read(unit) or st
  if not st then
    local n = U.rounds_done(unit)
    return 'pending', n > 0 and ('%d rounds done'):format(n) or ''
  end
  if st.state == 'done' then return 'done', ('%.1f s'):format(st.seconds or 0) end
  if st.state == 'failed' then return 'failed', st.error or '' end
  if st.state == 'interrupted' then return 'pending', ('interrupted after %d rounds; resumes'):format(st.rounds_done or 0) end
  -- running: trust it unless its process is gone from this machine
  if st.host == proc.hostname() and st.pid and not proc.alive(st.pid) and not st.job then
    return 'pending', ('worker %d gone after %d rounds; resumes'):format(st.pid, U.rounds_done(unit))
  end
  if st.job and live and not live[st.job] then
    return 'pending', ('job %s ended without a word (killed?) after %d rounds; resumes'):format(st.job, U.rounds_done(unit))
  end
  local where = st.job and ('job ' .. st.job) or ('pid ' .. tostring(st.pid))
  return 'running', ('%s on %s, %d rounds done'):format(where, tostring(st.host), U.rounds_done(unit))
end

-- Counts and rows of every unit: {units = {{unit, state, note}}, done =, running =, failed =,
-- pending =}. live as in classify.
function U.survey(s, dir, live)
  local out = { units = {}, done = 0, running = 0, failed = 0, pending = 0 }
  for _, u in ipairs(S.units(s, dir)) do
    local state, note = U.classify(u, nil, live)
    out[state] = out[state] + 1
    out.units[#out.units + 1] = { unit = u, state = state, note = note }
  end
  return out
end

-- Per-unit times of the done units, as the units measured them: n, mean seconds, mean
-- overhead (seconds outside the rounds: library and data load, store writes).
function U.times(sv)
  local n, sum, over = 0, 0, 0
  for _, r in ipairs(sv.units) do
    local st = r.state == 'done' and U.read(r.unit)
    if st and type(st.seconds) == 'number' then
      n, sum, over = n + 1, sum + st.seconds, over + (st.overhead_seconds or 0)
    end
  end
  return n, n > 0 and sum / n or 0, n > 0 and over / n or 0
end

-- lotto sweep status <dir>: the table of units. Returns the survey, or nil, message.
function U.status(dir)
  local s, err = S.load(dir)
  if not s then return nil, err end
  local sv = U.survey(s, dir, require('lotto.sweep.slurm').live_jobs())
  local w = 4
  for _, r in ipairs(sv.units) do w = math.max(w, #r.unit.id) end
  print(('sweep %s (%s, %d cells x %d seeds)'):format(dir, s.driver, #S.cells(s), #s.seeds))
  print(('%-' .. w .. 's  %-8s %s'):format('unit', 'state', 'note'))
  for _, r in ipairs(sv.units) do print(('%-' .. w .. 's  %-8s %s'):format(r.unit.id, r.state, r.note)) end
  print(('%d units: %d done, %d running, %d failed, %d pending'):format(#sv.units, sv.done, sv.running, sv.failed, sv.pending))
  return sv
end

return U
