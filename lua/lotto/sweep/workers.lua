-- sweep/workers.lua: the local backend. Runs a sweep's unfinished units as separate
-- `lotto sweep unit` processes, `jobs` at a time, with a progress line and a summary.
-- Ctrl-C (or SIGTERM) sends SIGTERM to every worker, which stops between two writes;
-- a rerun resumes. Each worker's output goes to <cell>/replicate_<seed>.log.
local proc = require 'lotto.proc'
local sys = require 'lotto.sys'
local U = require 'lotto.sweep.state'

local W = {}

-- stdout is a terminal (then the progress line is redrawn in place)
local function isatty()
  return os.getenv('TERM') ~= nil and os.getenv('TERM') ~= 'dumb' and sys.isatty(1)
end

local function ms(x) return ('%.0f ms'):format(1000 * x) end

-- Runs the units (a list from S.units) of the sweep in dir. opts: jobs, threads, quiet.
-- Returns {done =, failed =, interrupted =, seconds =, units = {{id, seconds, state, overhead}}}.
function W.run(dir, units, opts)
  local exe = assert(proc.exe())
  local jobs = opts.jobs or math.max(1, proc.cpus() // opts.threads)
  local say = opts.quiet and function() end or function(fmt, ...) io.stdout:write(fmt:format(...)); io.stdout:flush() end
  local tty = not opts.quiet and isatty()
  local queue, running, nrun = {}, {}, 0
  for i = #units, 1, -1 do queue[#queue + 1] = units[i] end
  local out = { done = 0, failed = 0, interrupted = 0, units = {} }
  local t0, total = sys.now(), #units
  say('sweep %s: %d unit%s, %d at a time, %d thread%s each\n', dir, total, total == 1 and '' or 's', jobs,
    opts.threads, opts.threads == 1 and '' or 's')

  local function progress()
    if tty then
      say('\r\27[K  %d done, %d running, %d failed, %d to start  %.1f s', out.done, nrun, out.failed, #queue, sys.now() - t0)
    end
  end
  local function reaped(pid, how, code)
    local w = running[pid]
    if not w then return end
    running[pid], nrun = nil, nrun - 1
    local secs = sys.now() - w.t0
    local st = U.read(w.unit) or {}
    local state = (how == 'exit' and code == 0 and st.state == 'done') and 'done'
      or (how == 'exit' and code == U.EXIT_INTERRUPTED) and 'interrupted' or 'failed'
    out[state] = out[state] + 1
    local r = { id = w.unit.id, seconds = secs, state = state,
      overhead = st.rounds_seconds and secs - st.rounds_seconds or nil }
    out.units[#out.units + 1] = r
    if tty then say('\r\27[K') end
    if state == 'done' then
      say('[%d/%d] done    %s  %.2f s (rounds %.2f s, overhead %s)\n', out.done + out.failed, total, w.unit.id, secs,
        st.rounds_seconds or 0, ms(r.overhead or 0))
    elseif state == 'failed' then
      say('[%d/%d] FAILED  %s  %s (log: %s)\n', out.done + out.failed, total, w.unit.id,
        st.error or (how .. ' ' .. tostring(code)), w.unit.log)
    else
      say('        stopped %s (resumes on a rerun)\n', w.unit.id)
    end
  end
  local function start(unit)
    local pid, err = proc.spawn({ exe, 'sweep', 'unit', dir, unit.id }, { log = unit.log })
    if not pid then error(('cannot start a worker for %s: %s'):format(unit.id, err), 0) end
    running[pid], nrun = { unit = unit, t0 = sys.now() }, nrun + 1
  end

  local ok, err = pcall(function()
    while #queue > 0 or nrun > 0 do
      while nrun < jobs and #queue > 0 do start(table.remove(queue)) end
      progress()
      local pid, how, code = proc.wait(-1, true)
      if pid then reaped(pid, how, code) else proc.sleep(0.05) end
      if proc.interrupted() then error('interrupted!', 0) end
    end
  end)
  if not ok then -- Ctrl-C, SIGTERM or a worker that could not start: stop the others cleanly
    if tty then say('\r\27[K') end
    if nrun > 0 then say('stopping %d worker%s...\n', nrun, nrun == 1 and '' or 's') end
    for pid in pairs(running) do proc.kill(pid, 'TERM', true) end
    while nrun > 0 do
      local pid, how, code = proc.wait(-1)
      if pid then reaped(pid, how, code) elseif how ~= 'interrupted' then break end
    end
    out.seconds = sys.now() - t0
    out.error = tostring(err)
    out.interrupted = out.interrupted + #queue
    return out
  end
  if tty then say('\r\27[K') end
  out.seconds = sys.now() - t0
  return out
end

-- One line about a finished run: elapsed time and per-unit times (the figures behind
-- "jobs 2 takes half the serial time" and "overhead per unit").
function W.summary(out)
  local n, sum, over, nover = 0, 0, 0, 0
  for _, r in ipairs(out.units) do
    if r.state == 'done' then
      n, sum = n + 1, sum + r.seconds
      if r.overhead then over, nover = over + r.overhead, nover + 1 end
    end
  end
  local per = n > 0 and ('; per unit %.2f s mean, overhead %s mean'):format(sum / n, ms(nover > 0 and over / nover or 0)) or ''
  return ('%d done, %d failed, %d stopped or not started in %.2f s%s'):format(out.done, out.failed, out.interrupted, out.seconds, per)
end

return W
