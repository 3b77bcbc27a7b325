-- test_proc.lua: lotto.proc, the process operations behind the sweep's local backend:
-- a child's exit status and signal, its log and environment, its own process group
-- (a signal to the group reaches its children), non-blocking waits, and misuse.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local check, check_eq, checkerror = C.check, C.check_eq, C.checkerror
local proc = require 'lotto.proc'
local fs = require('lotto.json').fs

local tmp = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_proc'
assert(fs.remove_tree(tmp))
assert(fs.mkdir_p(tmp))
local sh = '/bin/sh'
if not fs.exists(sh) then C.skip('no /bin/sh') end

local function slurp(p)
  local f = io.open(p)
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

-- exit status, log (stdout and stderr, appended), environment
local log = tmp .. '/child.log'
assert(fs.write_atomic(log, 'before\n'))
local pid = proc.spawn({ sh, '-c', 'echo "out $LOTTO_PROC_TEST"; echo err >&2; exit 3' },
  { log = log, env = { LOTTO_PROC_TEST = 'x y' } })
check(math.type(pid) == 'integer' and pid > 0, 'spawn returns a pid')
local got, how, code = proc.wait(pid)
check(got == pid and how == 'exit' and code == 3, ('exit status 3 (got %s %s %s)'):format(tostring(got), tostring(how), tostring(code)))
check_eq(slurp(log), 'before\nout x y\nerr\n', 'log appended, env set')
check(os.getenv('LOTTO_PROC_TEST') == nil, 'the parent environment is untouched')

-- a program that cannot start exits 127
pid = proc.spawn({ tmp .. '/no such program' })
got, how, code = proc.wait(pid)
check(how == 'exit' and code == 127, 'exec failure: 127')

-- a signal to the child's group; a non-blocking wait before and after
pid = proc.spawn({ sh, '-c', 'sleep 30 & wait' })
check(proc.wait(pid, true) == false, 'nohang: nothing ended yet')
check(proc.alive(pid), 'alive while running')
check(proc.sleep(0.05), 'sleep')
assert(proc.kill(pid, 'TERM', true)) -- the group: sh and its sleep
got, how, code = proc.wait(pid)
check(got == pid and how == 'signal' and code == 15, ('killed by SIGTERM (got %s %s)'):format(tostring(how), tostring(code)))
check(not proc.alive(pid), 'gone after wait')
local none, msg = proc.wait()
check(none == nil and type(msg) == 'string', 'wait without children: nil, message')

-- this process
check(proc.pid() > 1 and proc.alive(proc.pid()), 'pid')
check(type(proc.hostname()) == 'string' and #proc.hostname() > 0, 'hostname')
check(proc.exe():match('/lotto$') ~= nil, 'exe is the lotto binary: ' .. tostring(proc.exe()))
check(math.type(proc.cpus()) == 'integer' and proc.cpus() >= 1, 'cpus')
check(proc.interrupted() == false, 'no interrupt yet')

-- misuse
checkerror(function() proc.spawn({}) end, '{program, args...} expected')
checkerror(function() proc.spawn({ sh, 1 }) end, 'element 2 is not a string')
checkerror(function() proc.spawn({ sh }, { env = { X = 1 } }) end, 'env must map names to strings')
checkerror(function() proc.kill(1, 'TERM') end, 'a process id above 1 expected')
checkerror(function() proc.kill(proc.pid()) end, "bad argument #2")
checkerror(function() proc.kill(proc.pid(), 'HUP') end, "invalid option 'HUP'")
checkerror(function() proc.sleep(-1) end, 'seconds must be in [0, 1e6)')
local ok, err = proc.spawn({ sh }, { log = tmp .. '/no/dir/log' })
check(ok == nil and err:find('No such file', 1, true), 'an unwritable log: nil, message')

C.report()
