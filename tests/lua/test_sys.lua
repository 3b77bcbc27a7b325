-- test_sys.lua: lotto.sys.info() against what the machine says itself (/proc/cpuinfo,
-- the thread setting, tensor.blas_info()), and nn.winograd's switch as sys.info shows it.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local sys, tensor, nn = require 'lotto.sys', require 'lotto.tensor', require 'lotto.nn'

local i = sys.info()
T.check(type(i.lotto) == 'string' and i.lotto:match('^%d+%.%d+'), 'lotto version ' .. tostring(i.lotto))
local b = tensor.blas_info()
for _, k in ipairs { 'library', 'version', 'kernel', 'threads', 'forced', 'check' } do
  T.check_eq(i.blas[k], b[k], 'blas.' .. k .. ' as tensor.blas_info()')
end
T.check(i.summary:find(b.kernel, 1, true) and i.summary:find('Winograd', 1, true), 'summary: ' .. i.summary)

tensor.set_threads(1)
T.check_eq(sys.info().threads, 1)
tensor.set_threads(2)
T.check_eq(sys.info().threads, 2)

local was = nn.winograd(false)
T.check_eq(sys.info().winograd, false)
nn.winograd(true)
T.check_eq(sys.info().winograd, true)
nn.winograd(was)
T.checkerror(function() nn.winograd('yes') end, 'boolean expected')
-- the largest Winograd tile: 2 by default, 4 on request; the second value is the setting before
local on, tile = nn.winograd()
T.check_eq(tile, 2)
T.check_eq(select(2, nn.winograd(nil, 4)), 2)
T.check_eq(sys.info().winograd_tile, 4)
T.check(sys.info().summary:find('F(4x4)', 1, true), 'the summary names the F(4x4) setting')
T.check_eq(select(2, nn.winograd(on, 2)), 4)
T.check_eq(select(2, nn.winograd()), 2)
T.checkerror(function() nn.winograd(true, 3) end, 'tile must be 2 or 4')

-- the CPU: features as /proc/cpuinfo lists them (where there is one), cores as the kernel counts
local f = io.open('/proc/cpuinfo')
if f then
  local text = f:read('a')
  f:close()
  local flags = ' ' .. (text:match('\nflags%s*:%s*([^\n]*)') or text:match('^flags%s*:%s*([^\n]*)') or '') .. ' '
  local have = {}
  for _, name in ipairs(i.cpu.features) do have[name] = true end
  for _, name in ipairs { 'avx', 'fma', 'avx2', 'avx512f', 'avx512bw', 'avx512vl' } do
    T.check_eq(have[name] or false, flags:find(' ' .. name .. ' ', 1, true) ~= nil, 'feature ' .. name)
  end
  local _, procs = text:gsub('\nprocessor%s*:', '')
  if text:match('^processor') then procs = procs + 1 end
  T.check(i.cpu.cores >= 1 and i.cpu.cores <= procs, ('cores %d of %d listed'):format(i.cpu.cores, procs))
  local vendor = text:match('vendor_id%s*:%s*(%S+)')
  if vendor then T.check_eq(i.cpu.vendor, vendor) end
  local family = text:match('cpu family%s*:%s*(%d+)')
  if family then T.check_eq(i.cpu.family, tonumber(family)) end
end
T.check(type(i.cpu.isa) == 'string' and #i.cpu.isa > 0, 'isa')
T.report()
