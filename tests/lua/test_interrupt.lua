-- test_interrupt.lua: Ctrl-C is never swallowed. A child `lotto` interrupted while
-- ticket.imp draws its plots (which run under pcall) exits non-zero with "interrupted!";
-- once interrupted, an engine call that would return nil, message (sparse.load of a
-- missing file) raises instead, so a script cannot mistake an interrupt for a bad file.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, fs, io_ = lotto.tensor, lotto.nn, lotto.data, lotto.fs, lotto.io
local sys = require 'lotto.sys'

local ROOT = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_interrupt'

-- Sends SIGINT to this process (io.popen: os.execute's system() would ignore it) and
-- spins until the host's hook raises.
local function ctrl_c()
  local p = assert(io.popen('kill -INT ' .. sys.pid()))
  p:close()
  local t0 = sys.now()
  while sys.now() - t0 < 30 do end
  error('no interrupt arrived')
end

local role = os.getenv('LOTTO_INTERRUPT_ROLE')
if role == 'plots' then
  require('lotto.plot').run = function() ctrl_c() end
  local x = tensor.randn({ 40, 3 }, 1)
  local y = tensor.zeros { 40 }
  local ds = data.from_tensors(x, y, { classes = 2 })
  lotto.ticket.imp { root = os.getenv('LOTTO_INTERRUPT_ROOT'), name = 'r', rounds = 0, verbose = false, plots = true,
    model = function() return nn.model(nn.sequential { nn.linear(3, 2) }, { input = { 3 } }) end,
    data = { train = ds, val = ds, test = ds }, batch = 10, iterations = 4, eval_every = 2, eval_batch = 40 }
  print('finished')
  os.exit(0)
elseif role == 'load' then
  local ok, err = pcall(ctrl_c)
  print('caught: ' .. tostring(err))
  local r, msg = lotto.sparse.load(os.getenv('LOTTO_INTERRUPT_ROOT') .. '/missing.safetensors')
  print('returned: ' .. tostring(r) .. ', ' .. tostring(msg))
  os.exit(0)
end

assert(fs.remove_tree(ROOT))
assert(fs.mkdir_p(ROOT))
local exe, script = arg[-1] or 'lotto', arg[0]
for _, r in ipairs { 'plots', 'load' } do
  local out = ROOT .. '/' .. r .. '.out'
  local ok, how, code = os.execute(("LOTTO_INTERRUPT_ROLE=%s LOTTO_INTERRUPT_ROOT='%s' '%s' '%s' >'%s' 2>&1"):format(
    r, ROOT, exe, script, out))
  local text = io_.read_file(out) or ''
  T.check(not ok and how == 'exit' and code ~= 0, r .. ': the interrupted script exits non-zero: ' .. text:sub(1, 300))
  T.check(text:find('interrupted', 1, true), r .. ': says it was interrupted')
  T.check(not text:find('finished', 1, true) and not text:find('returned:', 1, true), r .. ': nothing runs after it')
end

-- without an interrupt, the missing file is an expected failure: nil, message
local r, msg = lotto.sparse.load(ROOT .. '/missing.safetensors')
T.check(r == nil and type(msg) == 'string', 'a missing file is nil, message')
T.check(not sys.interrupted(), 'no interrupt here')

T.report()
