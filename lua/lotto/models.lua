-- lotto.models: the architectures of the lottery-ticket papers, built and ready
-- for model:init. Each takes {input = {C, H, W}, classes = 10} plus its own
-- options, and returns an nn.model.
--
--   local m = lotto.models.lenet300()                       -- MNIST, 266,610 params
--   local r = lotto.models.resnet20{ input = {3, 32, 32} }  -- CIFAR-10
--   local v = lotto.models.vgg19{ width = 0.25 }            -- a quarter of the channels
local nn = require 'lotto.nn'
local U = require 'lotto.util'

local M = {}

local function fail(where, msg) U.fail('lotto.models.' .. where, msg) end

-- The options with their defaults filled in, checked: unknown keys, input, classes, width.
local function options(o, allowed, where, defaults)
  local out = {}
  for k, v in pairs(U.check_options(o, allowed, 'lotto.models.' .. where)) do out[k] = v end
  for k, v in pairs(defaults) do if out[k] == nil then out[k] = v end end
  if type(out.input) ~= 'table' or #out.input < 1 then fail(where, 'option input must be a shape such as {1, 28, 28}') end
  if math.type(out.classes) ~= 'integer' or out.classes < 1 then fail(where, 'option classes must be a positive integer') end
  if out.width ~= nil and (type(out.width) ~= 'number' or out.width <= 0) then
    fail(where, 'option width must be a positive number')
  end
  return out
end

local function numel(shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return n
end

-- Channels scaled by a width multiplier, at least 1.
local function scaled(c, width) return math.max(1, math.floor(c * width + 0.5)) end

local MNIST = { 1, 28, 28 }
local CIFAR = { 3, 32, 32 }

--- lenet300{input = {1, 28, 28}, classes = 10, hidden = {300, 100}}: the fully connected
-- LeNet-300-100 of LeCun et al. 1998 as used by Frankle & Carbin 2019 (266,610 params on MNIST).
function M.lenet300(opts)
  local o = options(opts, { input = true, classes = true, hidden = true }, 'lenet300',
    { input = MNIST, classes = 10, hidden = { 300, 100 } })
  local layers, prev = { nn.flatten() }, numel(o.input)
  for _, h in ipairs(o.hidden) do
    layers[#layers + 1] = nn.linear(prev, h)
    layers[#layers + 1] = nn.relu()
    prev = h
  end
  layers[#layers + 1] = nn.linear(prev, o.classes)
  return nn.model(nn.sequential(layers), { input = o.input })
end

--- lenet5{input = {1, 28, 28}, classes = 10}: the Caffe LeNet-5 used in pruning papers
-- (Han et al. 2015): conv 20@5x5, maxpool 2, conv 50@5x5, maxpool 2, fc 500, fc classes
-- (431,080 params on MNIST).
function M.lenet5(opts)
  local o = options(opts, { input = true, classes = true, width = true }, 'lenet5',
    { input = MNIST, classes = 10, width = 1 })
  local c1, c2, h = scaled(20, o.width), scaled(50, o.width), scaled(500, o.width)
  local H = math.floor((math.floor((o.input[2] - 4) / 2) - 4) / 2)
  local W = math.floor((math.floor((o.input[3] - 4) / 2) - 4) / 2)
  if H < 1 or W < 1 then fail('lenet5', 'input must be at least 12x12') end
  return nn.model(nn.sequential {
    nn.conv2d(o.input[1], c1, 5), nn.maxpool2d(2), nn.conv2d(c1, c2, 5), nn.maxpool2d(2),
    nn.flatten(), nn.linear(c2 * H * W, h), nn.relu(), nn.linear(h, o.classes),
  }, { input = o.input })
end

-- Conv-2/4/6 of Frankle & Carbin 2019: pairs of 3x3 convs (padding 1) with ReLU, each
-- pair followed by a 2x2 max pool, then FC 256-256-classes.
local function convnet(pairs_, where, opts)
  local o = options(opts, { input = true, classes = true, width = true }, where,
    { input = CIFAR, classes = 10, width = 1 })
  local chans = { 64, 128, 256 }
  local layers, c, H, W = {}, o.input[1], o.input[2], o.input[3]
  for i = 1, pairs_ do
    local out = scaled(chans[i], o.width)
    layers[#layers + 1] = nn.conv2d(c, out, 3, { padding = 1 })
    layers[#layers + 1] = nn.relu()
    layers[#layers + 1] = nn.conv2d(out, out, 3, { padding = 1 })
    layers[#layers + 1] = nn.relu()
    layers[#layers + 1] = nn.maxpool2d(2)
    c, H, W = out, math.floor(H / 2), math.floor(W / 2)
    if H < 1 or W < 1 then fail(where, 'input is too small for ' .. pairs_ .. ' poolings') end
  end
  local h = scaled(256, o.width)
  layers[#layers + 1] = nn.flatten()
  layers[#layers + 1] = nn.linear(c * H * W, h)
  layers[#layers + 1] = nn.relu()
  layers[#layers + 1] = nn.linear(h, h)
  layers[#layers + 1] = nn.relu()
  layers[#layers + 1] = nn.linear(h, o.classes)
  return nn.model(nn.sequential(layers), { input = o.input })
end

--- conv2{input = {3, 32, 32}, classes = 10, width = 1}: 64-64-pool, FC 256-256 (4.3M params on CIFAR-10).
function M.conv2(opts) return convnet(1, 'conv2', opts) end
--- conv4{...}: 64-64-pool-128-128-pool, FC 256-256 (2.4M params on CIFAR-10).
function M.conv4(opts) return convnet(2, 'conv4', opts) end
--- conv6{...}: 64-64-pool-128-128-pool-256-256-pool, FC 256-256 (2.26M params on CIFAR-10;
-- the paper's table rounds it to 1.7M, but its own layer list gives 2,262,602).
function M.conv6(opts) return convnet(3, 'conv6', opts) end

-- A basic block: conv3x3-bn-relu-conv3x3-bn, plus identity or a 1x1 conv + bn projection
-- when the shape changes (He et al. 2016, option B).
local function basic_block(cin, cout, stride)
  local body = nn.sequential {
    nn.conv2d(cin, cout, 3, { stride = stride, padding = 1, bias = false }), nn.batchnorm(cout), nn.relu(),
    nn.conv2d(cout, cout, 3, { padding = 1, bias = false }), nn.batchnorm(cout),
  }
  local shortcut
  if stride ~= 1 or cin ~= cout then
    shortcut = nn.sequential { nn.conv2d(cin, cout, 1, { stride = stride, bias = false }), nn.batchnorm(cout) }
  end
  return nn.residual(body, shortcut)
end

--- resnet20{input = {3, 32, 32}, classes = 10, width = 16}: CIFAR ResNet-20: conv 3x3 +
-- bn + relu, three stages of three basic blocks with width, 2*width, 4*width channels
-- (stride 2 between stages, projection shortcuts), global average pool, fc (~0.27M params).
-- Parameters are named conv1, bn1, layer1.0.conv1, layer2.0.shortcut.conv1, ..., fc1.
function M.resnet20(opts)
  local o = options(opts, { input = true, classes = true, width = true }, 'resnet20',
    { input = CIFAR, classes = 10, width = 16 })
  if math.type(o.width) ~= 'integer' then fail('resnet20', 'option width (first-stage channels) must be an integer') end
  local w = o.width
  local layers = { nn.conv2d(o.input[1], w, 3, { padding = 1, bias = false }), nn.batchnorm(w), nn.relu() }
  local cin = w
  for stage = 1, 3 do
    local cout = w << (stage - 1)
    local blocks = { name = 'layer' .. stage }
    for b = 1, 3 do
      blocks[b] = basic_block(cin, cout, (b == 1 and stage > 1) and 2 or 1)
      cin = cout
    end
    layers[#layers + 1] = nn.sequential(blocks)
  end
  layers[#layers + 1] = nn.global_avgpool()
  layers[#layers + 1] = nn.linear(cin, o.classes)
  return nn.model(nn.sequential(layers), { input = o.input })
end

local VGG = {
  vgg11 = { 64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M' },
  vgg16 = { 64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M' },
  vgg19 = { 64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M' },
}

-- CIFAR-style VGG: 3x3 convs (padding 1) each with batchnorm and relu, 2x2 max pools,
-- then global average pooling (pool = 'global', default) or flatten, and one fc layer.
local function vgg(cfg, where, opts)
  local o = options(opts, { input = true, classes = true, width = true, pool = true }, where,
    { input = CIFAR, classes = 10, width = 1, pool = 'global' })
  if o.pool ~= 'global' and o.pool ~= 'flatten' then fail(where, "option pool must be 'global' or 'flatten'") end
  local layers, c, H, W = {}, o.input[1], o.input[2], o.input[3]
  for _, v in ipairs(cfg) do
    if v == 'M' then
      layers[#layers + 1] = nn.maxpool2d(2)
      H, W = H // 2, W // 2
      if H < 1 or W < 1 then fail(where, 'input is too small for the five poolings (use 32x32)') end
    else
      local out = scaled(v, o.width)
      layers[#layers + 1] = nn.conv2d(c, out, 3, { padding = 1, bias = false })
      layers[#layers + 1] = nn.batchnorm(out)
      layers[#layers + 1] = nn.relu()
      c = out
    end
  end
  if o.pool == 'global' then
    layers[#layers + 1] = nn.global_avgpool()
  else
    layers[#layers + 1] = nn.flatten()
    c = c * H * W
  end
  layers[#layers + 1] = nn.linear(c, o.classes)
  return nn.model(nn.sequential(layers), { input = o.input })
end

--- vgg11/vgg16/vgg19{input = {3, 32, 32}, classes = 10, width = 1, pool = 'global'|'flatten'}:
-- width multiplies every channel count (e.g. 1/16 for quick tests). VGG-19 has 20.0M params.
function M.vgg11(opts) return vgg(VGG.vgg11, 'vgg11', opts) end
function M.vgg16(opts) return vgg(VGG.vgg16, 'vgg16', opts) end
function M.vgg19(opts) return vgg(VGG.vgg19, 'vgg19', opts) end

-- conv (or depthwise) 3x3/1x1 + batchnorm + relu, no bias (the batchnorm has one).
local function cbr(layers, cin, cout, k, stride)
  layers[#layers + 1] = nn.conv2d(cin, cout, k, { stride = stride or 1, padding = k // 2, bias = false })
  layers[#layers + 1] = nn.batchnorm(cout)
  layers[#layers + 1] = nn.relu()
end

--- simplenet{input = {3, 32, 32}, classes = 10, width = 1}: SimpleNet (Hasanpour et al.
-- 2016), the 13-layer plain conv net: 3x3 convs 64, 128 x3, pool, 128, 128, 256, pool,
-- 256, 256, pool, 512, 1x1 2048, 1x1 256, pool, 256, each with batchnorm and relu, then
-- global average pooling (the paper pools by max) and fc (5.5M params at width 1).
function M.simplenet(opts)
  local o = options(opts, { input = true, classes = true, width = true }, 'simplenet',
    { input = CIFAR, classes = 10, width = 1 })
  local cfg = { 64, 128, 128, 128, 'M', 128, 128, 256, 'M', 256, 256, 'M', 512, '2048', '256', 'M', 256 }
  local layers, c, H = {}, o.input[1], math.min(o.input[2], o.input[3])
  for _, v in ipairs(cfg) do
    if v == 'M' then
      H = H // 2
      if H < 1 then fail('simplenet', 'input is too small for the four poolings (use 32x32)') end
      layers[#layers + 1] = nn.maxpool2d(2)
    else
      local out = scaled(tonumber(v), o.width)
      cbr(layers, c, out, type(v) == 'string' and 1 or 3)
      c = out
    end
  end
  layers[#layers + 1] = nn.global_avgpool()
  layers[#layers + 1] = nn.linear(c, o.classes)
  return nn.model(nn.sequential(layers), { input = o.input })
end

--- densenet40{input = {3, 32, 32}, classes = 10, growth = 12, depth = 40}: DenseNet
-- (Huang et al. 2017) without bottlenecks or compression: conv 3x3 to 16 channels, three
-- dense blocks of (depth - 4) / 3 layers bn-relu-conv3x3(growth) each concatenated to its
-- input, transitions bn-relu-conv1x1-avgpool2, then bn-relu, global pool, fc (1.0M params).
function M.densenet40(opts)
  local o = options(opts, { input = true, classes = true, growth = true, depth = true }, 'densenet40',
    { input = CIFAR, classes = 10, growth = 12, depth = 40 })
  local k, n = o.growth, (o.depth - 4) // 3
  if math.type(k) ~= 'integer' or k < 1 then fail('densenet40', 'option growth must be a positive integer') end
  if math.type(o.depth) ~= 'integer' or n < 1 or (o.depth - 4) % 3 ~= 0 then
    fail('densenet40', 'option depth must be 3n + 4 for an integer n >= 1 (40: n = 12)')
  end
  if math.min(o.input[2], o.input[3]) < 4 then fail('densenet40', 'input is too small for the two poolings (use 32x32)') end
  local c = 16
  local layers = { nn.conv2d(o.input[1], c, 3, { padding = 1, bias = false }) }
  for block = 1, 3 do
    local dense = { name = 'block' .. block }
    for i = 1, n do
      dense[i] = nn.concat(nn.sequential { nn.batchnorm(c), nn.relu(), nn.conv2d(c, k, 3, { padding = 1, bias = false }) })
      c = c + k
    end
    layers[#layers + 1] = nn.sequential(dense)
    if block < 3 then
      layers[#layers + 1] = nn.sequential { name = 'trans' .. block, nn.batchnorm(c), nn.relu(),
        nn.conv2d(c, c, 1, { bias = false }), nn.avgpool2d(2) }
    end
  end
  layers[#layers + 1] = nn.batchnorm(c)
  layers[#layers + 1] = nn.relu()
  layers[#layers + 1] = nn.global_avgpool()
  layers[#layers + 1] = nn.linear(c, o.classes)
  return nn.model(nn.sequential(layers), { input = o.input })
end

--- mobilenet{input = {3, 32, 32}, classes = 10, width = 1}: MobileNet V1 (Howard et al.
-- 2017) for 32x32 inputs: conv 3x3 32 (stride 1), then 13 depthwise-separable blocks
-- (dw 3x3 + bn + relu, conv 1x1 + bn + relu) to 64, 128/2, 128, 256/2, 256, 512/2,
-- 512 x5, 1024/2, 1024; global pool, fc (3.2M params at width 1).
function M.mobilenet(opts)
  local o = options(opts, { input = true, classes = true, width = true }, 'mobilenet',
    { input = CIFAR, classes = 10, width = 1 })
  local cfg = { 64, { 128, 2 }, 128, { 256, 2 }, 256, { 512, 2 }, 512, 512, 512, 512, 512, { 1024, 2 }, 1024 }
  if math.min(o.input[2], o.input[3]) < 16 then fail('mobilenet', 'input is too small for the four strides (use 32x32)') end
  local c = scaled(32, o.width)
  local layers = {}
  cbr(layers, o.input[1], c, 3)
  for i, v in ipairs(cfg) do
    local out, stride = scaled(type(v) == 'table' and v[1] or v, o.width), type(v) == 'table' and v[2] or 1
    layers[#layers + 1] = nn.sequential { name = 'dws' .. i,
      nn.dwconv2d(c, 3, { stride = stride, padding = 1, bias = false }), nn.batchnorm(c), nn.relu(),
      nn.conv2d(c, out, 1, { bias = false }), nn.batchnorm(out), nn.relu() }
    c = out
  end
  layers[#layers + 1] = nn.global_avgpool()
  layers[#layers + 1] = nn.linear(c, o.classes)
  return nn.model(nn.sequential(layers), { input = o.input })
end

--- names(): the zoo's model names.
function M.names()
  return { 'lenet300', 'lenet5', 'conv2', 'conv4', 'conv6', 'resnet20', 'vgg11', 'vgg16', 'vgg19', 'simplenet',
    'densenet40', 'mobilenet' }
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    lenet300 = 'lenet300{input = {1, 28, 28}, classes = 10, hidden = {300, 100}} -> model (266,610 params on MNIST)',
    lenet5 = 'lenet5{input = {1, 28, 28}, classes = 10, width = 1} -> model: Caffe LeNet-5 (431,080 params)',
    conv2 = 'conv2{input = {3, 32, 32}, classes = 10, width = 1} -> model: Frankle & Carbin Conv-2 (4.3M)',
    conv4 = 'conv4{...} -> model: Conv-4 (2.4M on CIFAR-10)',
    conv6 = 'conv6{...} -> model: Conv-6 (2.26M on CIFAR-10)',
    resnet20 = 'resnet20{input = {3, 32, 32}, classes = 10, width = 16} -> model: CIFAR ResNet-20 (0.27M)',
    vgg11 = "vgg11{input = {3, 32, 32}, classes = 10, width = 1, pool = 'global'|'flatten'} -> model",
    vgg16 = "vgg16{...} -> model: CIFAR VGG-16 with batchnorm (14.7M)",
    vgg19 = "vgg19{...} -> model: CIFAR VGG-19 with batchnorm (20.0M)",
    simplenet = 'simplenet{input = {3, 32, 32}, classes = 10, width = 1} -> model: SimpleNet, 13 conv layers (5.5M)',
    densenet40 = 'densenet40{input = {3, 32, 32}, classes = 10, growth = 12, depth = 40} -> model: DenseNet-40 (1.0M)',
    mobilenet = 'mobilenet{input = {3, 32, 32}, classes = 10, width = 1} -> model: MobileNet V1 (3.2M)',
    names = 'names() -> the zoo model names',
  })
end

return M
