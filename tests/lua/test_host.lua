-- test_host.lua: what the lotto host sets up before a script runs: the lotto global,
-- module paths, the arg table, version and root globals, and the help registry.
local fails = 0
local function check(cond, what)
  if not cond then
    fails = fails + 1
    io.stderr:write('FAIL: ', what, '\n', debug.traceback(nil, 2), '\n')
  end
end

-- the library and the lotto global
check(type(lotto) == 'table', 'global lotto is a table')
check(require('lotto') == lotto, "require 'lotto' returns the global")
check(type(LOTTO_VERSION) == 'string' and LOTTO_VERSION:match('^%d+%.%d+%.%d+$'), 'LOTTO_VERSION')
check(type(LOTTO_ROOT) == 'string', 'LOTTO_ROOT is set')
local init = io.open(LOTTO_ROOT .. '/lua/lotto/init.lua')
check(init ~= nil, 'LOTTO_ROOT/lua/lotto/init.lua exists')
if init then init:close() end
check(package.path:find(LOTTO_ROOT .. '/lua/?.lua', 1, true) == 1, 'the lotto lua dir leads package.path')
check(package.path:find(LOTTO_ROOT .. '/lua/?/init.lua', 1, true), '?/init.lua pattern')
local src = os.getenv('LOTTO_SOURCE_DIR')
if src then
  local f = io.open(src .. '/lua/lotto/init.lua')
  check(f ~= nil, 'ctest passes the source dir')
  if f then f:close() end
end

-- arg: script at 0, interpreter at -1, no script arguments here
check(type(arg) == 'table', 'arg is a table')
check(arg[0]:match('test_host%.lua$'), 'arg[0] is the script')
check(arg[-1] and arg[-1]:match('lotto$'), 'arg[-1] is the interpreter')
check(#arg == 0 and select('#', ...) == 0, 'no script arguments')

-- help: C-registered texts, Lua registration, methods of a Lua class
local H = require 'lotto.help'
check(type(help) == 'function' and help == H.show, 'global help is lotto.help.show')
check(lotto.help == H and lotto._help_register == H.register, 'lotto.help and lotto._help_register')
check(H.get(H.register):match('^register%('), 'lotto.help documents itself')
check(H.get(print) == nil, 'print is undocumented')

local Class = {}
Class.__index = Class
function Class.new() return setmetatable({}, Class) end
function Class:area() return 1 end
local mod = {new = Class.new, helper = function() end}
H.register(mod, {new = 'new() -> object', helper = 'helper(): does little', absent = 'ignored'}, Class)
H.register(mod, {[':area'] = 'o:area() -> number'}, Class)
check(H.get(mod.new) == 'new() -> object', 'register by field name')
check(H.get(Class.area) == 'o:area() -> number', 'register a method through the class table')
check(H.get(mod.absent) == nil, 'missing fields are skipped')
H.set(Class, 'object: a test class')
check(H.get(Class) == 'object: a test class', 'help.set')
check(not pcall(H.register, mod, {}, 'no.such.metatable'), 'unknown metatable name raises')
check(not pcall(H.set, nil, 'x'), 'help.set(nil) raises')

if lotto.tensor then
  check(type(H.get(lotto.tensor.zeros)) == 'string', 'lotto.tensor.zeros is documented from C')
  local mt = debug.getmetatable(lotto.tensor.zeros{1})
  check(getmetatable(lotto.tensor.zeros{1}) == "lotto.tensor", "the metatable is protected")
  check(type(H.get(mt)) == 'string', 'the tensor metatable is documented from C')
end

-- weak keys: texts of collected values do not pin them
local weak = setmetatable({}, {__mode = 'v'})
weak[1] = function() end
H.set(weak[1], 'temporary')
collectgarbage(); collectgarbage()
check(weak[1] == nil, 'a documented function can still be collected')

if fails > 0 then
  io.stderr:write(fails, ' failure(s)\n')
  os.exit(1)
end
print('test_host: all checks passed')
