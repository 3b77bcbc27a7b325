-- test_models.lua: every zoo model builds with the parameter count worked out by
-- hand from its layer list, and a forward pass on a tiny batch gives (B, classes).
-- Wide models are checked at small widths to keep the test fast.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = require 'lotto.tensor'
local Z = lotto.models
local check, check_eq, checkerror = C.check, C.check_eq, C.checkerror

local function conv(cin, cout, k, bias) return cin * cout * k * k + (bias and cout or 0) end
local function fc(i, o) return i * o + o end
local function bn(c) return 2 * c end

local function forward_shape(m, B, seed)
  local s = { B }
  for _, d in ipairs(m:input_shape()) do s[#s + 1] = d end
  return m:forward(T.randn(s, seed or 1)):shape()
end

do -- LeNet-300-100
  local m = Z.lenet300()
  check_eq(m:numel(), 266610, 'lenet300 params')
  check_eq(m:numel(), fc(784, 300) + fc(300, 100) + fc(100, 10))
  m:init { seed = 1 }
  check_eq(forward_shape(m, 3), { 3, 10 })
  check_eq(Z.lenet300 { input = { 3, 32, 32 }, classes = 100 }:numel(), fc(3072, 300) + fc(300, 100) + fc(100, 100))
end

do -- LeNet-5 (Caffe): 28 -> conv5 24 -> pool 12 -> conv5 8 -> pool 4
  local m = Z.lenet5()
  check_eq(m:numel(), conv(1, 20, 5, true) + conv(20, 50, 5, true) + fc(50 * 4 * 4, 500) + fc(500, 10))
  check_eq(m:numel(), 431080)
  m:init { seed = 1 }
  check_eq(forward_shape(m, 2), { 2, 10 })
end

do -- Conv-2 on MNIST: 28x28x1 -> 64, 64, pool -> 14x14x64 -> 256, 256, 10
  local m = Z.conv2 { input = { 1, 28, 28 } }
  local want = conv(1, 64, 3, true) + conv(64, 64, 3, true) + fc(14 * 14 * 64, 256) + fc(256, 256) + fc(256, 10)
  check_eq(want, 3317450)
  check_eq(m:numel(), want, 'conv2 on 28x28x1')
  local names = {}
  for _, p in ipairs(m:parameters()) do if p.prunable then names[#names + 1] = p.name end end
  check_eq(names, { 'conv1.weight', 'conv2.weight', 'fc1.weight', 'fc2.weight', 'fc3.weight' })
  m:init { seed = 2 }
  check_eq(forward_shape(m, 2), { 2, 10 })
end

do -- Conv-2/4/6 on CIFAR-10 (Frankle & Carbin 2019: 4.3M, 2.4M, and Conv-6's layer list)
  local c2 = conv(3, 64, 3, true) + conv(64, 64, 3, true)
  local c4 = c2 + conv(64, 128, 3, true) + conv(128, 128, 3, true)
  local c6 = c4 + conv(128, 256, 3, true) + conv(256, 256, 3, true)
  local head = function(n) return fc(n, 256) + fc(256, 256) + fc(256, 10) end
  check_eq(Z.conv2():numel(), c2 + head(16 * 16 * 64))
  check_eq(Z.conv4():numel(), c4 + head(8 * 8 * 128))
  local m6 = Z.conv6()
  check_eq(m6:numel(), c6 + head(4 * 4 * 256))
  check(math.abs(Z.conv2():numel() / 1e6 - 4.3) < 0.05 and math.abs(Z.conv4():numel() / 1e6 - 2.4) < 0.05, 'paper sizes')
  m6:init { seed = 3 }
  check_eq(forward_shape(m6, 2), { 2, 10 })
  local small = Z.conv4 { width = 0.25, classes = 5 }
  check_eq(small:numel(), conv(3, 16, 3, true) + conv(16, 16, 3, true) + conv(16, 32, 3, true) + conv(32, 32, 3, true)
    + fc(8 * 8 * 32, 64) + fc(64, 64) + fc(64, 5))
  check_eq(small:init():forward(T.zeros { 1, 3, 32, 32 }):shape(), { 1, 5 })
end

do -- ResNet-20 (CIFAR, projection shortcuts), ~0.27M
  local function resnet_params(w)
    local n = conv(3, w, 3) + bn(w) + fc(4 * w, 10)
    local cin = w
    for stage = 1, 3 do
      local c = w << (stage - 1)
      for b = 1, 3 do
        n = n + conv(cin, c, 3) + bn(c) + conv(c, c, 3) + bn(c)
        if cin ~= c then n = n + conv(cin, c, 1) + bn(c) end
        cin = c
      end
    end
    return n
  end
  local m = Z.resnet20()
  check_eq(m:numel(), resnet_params(16), 'resnet20 params')
  check_eq(m:numel(), 272474)
  check(math.abs(m:numel() / 1e6 - 0.27) < 0.01, '~0.27M')
  local by = {}
  for _, p in ipairs(m:parameters()) do by[p.name] = p end
  check(by['conv1.weight'] and by['conv1.weight'].prunable, 'conv1.weight prunable')
  check(by['bn1.weight'] and not by['bn1.weight'].prunable and by['bn1.weight'].kind == 'batchnorm', 'bn1 not prunable')
  check(by['layer1.0.conv1.weight'] ~= nil, 'layer1.0.conv1.weight')
  check(by['layer3.2.bn2.bias'] ~= nil, 'layer3.2.bn2.bias')
  check(by['layer2.0.shortcut.conv1.weight'] ~= nil and by['layer2.0.shortcut.conv1.weight'].prunable, 'projection shortcut')
  check(by['layer1.0.shortcut.conv1.weight'] == nil, 'identity shortcut in stage 1')
  check(by['fc1.weight'] and by['fc1.weight'].shape[2] == 64, 'fc1 64 -> 10')
  m:init { seed = 1, weight = 'kaiming_normal' }
  check_eq(forward_shape(m, 2), { 2, 10 })

  local s = Z.resnet20 { width = 4, input = { 3, 16, 16 }, classes = 3 }
  check_eq(s:numel(), resnet_params(4) - fc(16, 10) + fc(16, 3))
  s:init { seed = 2 }
  local loss = s:step_loss(T.randn({ 4, 3, 16, 16 }, 5), T.new { 0, 1, 2, 1 })
  check(loss > 0 and loss < 10, 'resnet step loss ' .. loss)
  local dead = {}
  for _, p in ipairs(s:parameters()) do
    if p.grad:abs():max() == 0 then dead[#dead + 1] = p.name end
  end
  check_eq(dead, {}, 'every parameter gets a gradient')
  s:eval()
  check_eq(s:forward(T.randn({ 1, 3, 16, 16 }, 6)):shape(), { 1, 3 })
end

do -- VGG-16/19 (CIFAR style, batchnorm, global pool) at small widths; VGG-19 is 20.0M at width 1
  local function vgg_params(cfg, width, classes, flatten_hw)
    local n, cin = 0, 3
    for _, v in ipairs(cfg) do
      if v ~= 'M' then
        local c = math.max(1, math.floor(v * width + 0.5))
        n, cin = n + conv(cin, c, 3) + bn(c), c
      end
    end
    return n + fc(cin * (flatten_hw or 1), classes)
  end
  local cfg16 = { 64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M' }
  local cfg19 = { 64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M' }
  check(math.abs(vgg_params(cfg19, 1, 10) / 1e6 - 20.0) < 0.05, 'VGG-19 has 20.0M params by the formula')
  local v16 = Z.vgg16 { width = 1 / 16 }
  check_eq(v16:numel(), vgg_params(cfg16, 1 / 16, 10))
  v16:init { seed = 1 }
  check_eq(forward_shape(v16, 2), { 2, 10 })
  local v19 = Z.vgg19 { width = 1 / 8, classes = 100, pool = 'flatten' }
  check_eq(v19:numel(), vgg_params(cfg19, 1 / 8, 100, 1))
  v19:init { seed = 1 }
  check_eq(forward_shape(v19, 1), { 1, 100 })
end

do -- options are checked
  checkerror(function() Z.lenet300 { inputs = { 784 } } end, "unknown option 'inputs'")
  checkerror(function() Z.resnet20 { width = 2.5 } end, 'integer')
  checkerror(function() Z.vgg16 { input = { 3, 16, 16 } } end, 'too small')
  checkerror(function() Z.conv6 { classes = 0 } end, 'classes')
  checkerror(function() Z.vgg19 { pool = 'max' } end, "'global' or 'flatten'")
  check(#Z.names() >= 8, 'names')
end

C.report()
