-- sweep/cli.lua: the `lotto sweep` command. main(...) returns the process exit status:
-- 0 done, 1 failed or bad usage, 75 interrupted (a rerun resumes).
local R = require 'lotto.sweep.run'

local M = {}

M.USAGE = [[
usage: lotto sweep <script.lua> [options] [script args]   run the sweep the script defines
       lotto sweep status <runs/sweep>                     done / running / failed / pending units
       lotto sweep collect <runs/sweep> [png|svg|dumb]     results.json and plots of finished units
       lotto sweep unit <runs/sweep> <cell>/<seed>         run one unit (what workers and Slurm tasks do)
The script calls lotto.sweep{...} (or returns the sweep table). Units are resumable:
rerunning a sweep skips finished units and resumes interrupted ones.
]] .. R.USAGE .. '\n'

local function fail(msg)
  io.stderr:write('lotto sweep: ', msg, '\n')
  return 1
end

local function run_script(path, args)
  local opts, rest = R.options(args)
  if opts.help then io.stdout:write(M.USAGE) end
  local chunk, err = loadfile(path)
  if not chunk then return fail(err) end
  -- the script sees its arguments as usual (arg and ...), sweep options included
  local argt = { [0] = path }
  for i, a in ipairs(args) do argt[i] = a end
  arg = argt
  R.cli = opts
  local S = require 'lotto.sweep'
  local ran = false
  local real = S.run
  S.run = function(...) ran = true; return real(...) end -- a script that calls lotto.sweep{...}
  local ok, res = pcall(chunk, table.unpack(args))
  S.run = real
  if not ok then
    if require('lotto.proc').interrupted() then fail('interrupted: rerun the same command to resume'); return 75 end
    return fail(tostring(res))
  end
  if opts.help then return 0 end
  if not ran then
    if type(res) ~= 'table' or res.name == nil then
      return fail(path .. ' neither called lotto.sweep{...} nor returned a sweep table')
    end
    res = R.run(res, opts)
  end
  if type(res) == 'table' and res.interrupted then return 75 end
  if type(res) == 'table' and (res.failed or 0) > 0 then return 1 end
  return 0
end

function M.main(...)
  local args = { ... }
  local cmd = args[1]
  if cmd == nil or cmd == '-h' or cmd == '--help' then
    io.stdout:write(M.USAGE)
    return cmd == nil and 1 or 0
  end
  if (cmd == 'status' or cmd == 'collect' or cmd == 'unit') and (args[2] == '-h' or args[2] == '--help') then
    io.stdout:write(M.USAGE)
    return 0
  end
  if cmd == 'status' or cmd == 'collect' then
    if not args[2] then return fail(('%s needs the sweep directory (runs/<sweep>)'):format(cmd)) end
    if cmd == 'status' then
      local sv, err = require('lotto.sweep.state').status(args[2])
      if not sv then return fail(err) end
      return 0
    end
    local fmt = args[3] and (args[3]:match('^%-%-format=(%a+)$') or args[3])
    if fmt and fmt ~= 'png' and fmt ~= 'svg' and fmt ~= 'dumb' then return fail(("collect: unknown format '%s' (png, svg or dumb)"):format(fmt)) end
    local res, missing = require('lotto.sweep.collect').collect(args[2], { format = fmt })
    if not res then return fail(missing) end
    return 0
  end
  if cmd == 'unit' then
    if not args[2] or not args[3] then return fail('unit needs the sweep directory and a unit id <cell>/<seed>') end
    return require('lotto.sweep.state').run(args[2], args[3])
  end
  if cmd:match('^%-') then return fail(("unknown option '%s' before the script (see lotto sweep --help)"):format(cmd)) end
  return run_script(cmd, table.move(args, 2, #args, 1, {}))
end

return M
