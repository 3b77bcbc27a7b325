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
T.report()
