-- test_zoo_table.lua: the lecture table's models (SimpleNet, DenseNet-40, MobileNet V1)
-- build with the parameter counts worked out by hand from their layer lists, run a
-- forward pass, and their new layers (dwconv2d, concat) survive nn.arch/from_arch and
-- save/load with identical outputs.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = require 'lotto.tensor'
local nn = require 'lotto.nn'
local Z = require 'lotto.models'
local check, check_eq, checkerror = C.check, C.check_eq, C.checkerror

local function conv(cin, cout, k) return cin * cout * k * k end -- no bias: a batchnorm follows
local function bn(c) return 2 * c end
local function fc(i, o) return i * o + o end

do -- SimpleNet at width 1
  local cfg = { { 64, 3 }, { 128, 3 }, { 128, 3 }, { 128, 3 }, { 128, 3 }, { 128, 3 }, { 256, 3 },
    { 256, 3 }, { 256, 3 }, { 512, 3 }, { 2048, 1 }, { 256, 1 }, { 256, 3 } }
  local n, c = 0, 3
  for _, v in ipairs(cfg) do n, c = n + conv(c, v[1], v[2]) + bn(v[1]), v[1] end
  local m = Z.simplenet()
  check_eq(m:numel(), n + fc(256, 10), 'simplenet params')
  check_eq(#cfg, 13)
  local small = Z.simplenet { width = 0.125 }
  small:init { seed = 5 }
  check_eq(small:forward(T.randn({ 2, 3, 32, 32 }, 5)):shape(), { 2, 10 })
end

do -- DenseNet-40 (k = 12): 16 channels, then 12 layers per block, +12 channels each
  local n, c = conv(3, 16, 3), 16
  for block = 1, 3 do
    for _ = 1, 12 do n, c = n + bn(c) + conv(c, 12, 3), c + 12 end
    if block < 3 then n = n + bn(c) + conv(c, c, 1) end
  end
  n = n + bn(c) + fc(c, 10)
  check_eq(c, 448)
  local m = Z.densenet40()
  check_eq(m:numel(), n, 'densenet40 params')
  local small = Z.densenet40 { depth = 10, growth = 4 }
  small:init { seed = 1 }
  check_eq(small:forward(T.randn({ 2, 3, 32, 32 }, 1)):shape(), { 2, 10 })
  checkerror(function() Z.densenet40 { depth = 11 } end, 'depth must be 3n + 4')
end

do -- MobileNet V1: conv 32, then 13 (dw 3x3 + bn, 1x1 + bn) blocks
  local outs = { 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024 }
  local n, c = conv(3, 32, 3) + bn(32), 32
  for _, o in ipairs(outs) do n, c = n + c * 9 + bn(c) + conv(c, o, 1) + bn(o), o end
  local m = Z.mobilenet()
  check_eq(m:numel(), n + fc(1024, 10), 'mobilenet params')
  local small = Z.mobilenet { width = 0.125 }
  small:init { seed = 2 }
  check_eq(small:forward(T.randn({ 2, 3, 32, 32 }, 2)):shape(), { 2, 10 })
  checkerror(function() Z.mobilenet { input = { 1, 8, 8 } } end, 'too small')
end

do -- dwconv2d and concat: arch round trip and save/load give identical outputs
  local function net()
    return nn.sequential { nn.conv2d(2, 4, 3, { padding = 1 }),
      nn.concat(nn.sequential { nn.batchnorm(4), nn.relu(), nn.conv2d(4, 3, 3, { padding = 1, bias = false }) }),
      nn.dwconv2d(7, 3, { stride = 2, padding = 1 }), nn.flatten(), nn.linear(7 * 3 * 3, 5) }
  end
  local a = nn.model(net(), { input = { 2, 6, 6 } })
  a:init { seed = 3 }
  local arch = nn.arch(a)
  check_eq(arch.children[2].kind, 'concat')
  check_eq(arch.children[3].kind, 'dwconv2d')
  check_eq(arch.children[3].channels, 7)
  local b = nn.model(nn.from_arch(arch), { input = { 2, 6, 6 } })
  local path = os.tmpname()
  check(a:save(path))
  check(b:load(path))
  os.remove(path)
  local x = T.randn({ 3, 2, 6, 6 }, 4)
  local ya, yb = a:forward(x), b:forward(x)
  check_eq(ya:totable(), yb:totable(), 'same outputs after from_arch + load')
  checkerror(function() nn.dwconv2d(0, 3) end, 'channels')
  checkerror(function() nn.dwconv2d(4, 3, { strde = 2 }) end, 'stride')
  checkerror(function() nn.concat(42) end, 'layer')
  checkerror(function()
    nn.model(nn.sequential { nn.concat(nn.maxpool2d(2)) }, { input = { 2, 4, 4 } })
  end, 'keep every axis but the channels')
end

C.report()
