-- test_tensor_gc.lua: tensors made in a loop are collected before they pile up. Their storage
-- is outside Lua's heap, so without the binding telling the collector (LUA_GCSTEP with the
-- size), a loop making a new 1 MB tensor a step grew by about 1 MB a step: 2000 steps here
-- peaked near 2 GB. Measured as the growth of this process's peak RSS (VmHWM).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor = require 'lotto.tensor'

local function hwm_mb()
  local f = io.open('/proc/self/status')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  local kb = s:match('VmHWM:%s*(%d+) kB')
  return kb and tonumber(kb) / 1024
end
if not hwm_mb() then T.skip('no /proc/self/status VmHWM on this system') end

collectgarbage('collect')
local before = hwm_mb()
local w = tensor.randn({512, 512}, 1) -- 1 MB
local acc = 0
for _ = 1, 2000 do
  local t = w:abs()                  -- a new 1 MB tensor each step, garbage at once
  acc = acc + t:get(1, 1)
end
local grown = hwm_mb() - before
T.check(acc >= 0, 'the loop ran')
T.check(grown < 600, string.format('2000 new 1 MB tensors in a loop raise the peak RSS by %.0f MB (want < 600; ASan holds up to 256 MB of freed memory)', grown))

-- small tensors are left to the collector's own pace (no step per tiny tensor): still bounded
collectgarbage('collect')
before = hwm_mb()
for _ = 1, 20000 do local t = tensor.zeros({16}); acc = acc + t:get(1) end
T.check(hwm_mb() - before < 100, 'small tensors stay bounded too')

-- models too: a model's parameters (values and gradients) are outside Lua's heap; the
-- misuse sweep building every zoo model several times peaked at 2.6 GB before models
-- counted. 40 LeNet-300-100-sized models of 16 MB each (2M parameters) in a loop:
local nn = require 'lotto.nn'
collectgarbage('collect')
before = hwm_mb()
for i = 1, 40 do
  local m = nn.model(nn.sequential { nn.linear(1000, 1000), nn.relu(), nn.linear(1000, 1000) }, { input = { 1000 } })
  acc = acc + (m and 1 or 0)
end
grown = hwm_mb() - before
T.check(grown < 400, string.format('40 new 16 MB models in a loop raise the peak RSS by %.0f MB (want < 400; 909 MB before models counted)', grown))
T.report()
