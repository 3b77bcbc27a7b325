-- bench_train.lua: training speed. LeNet-300-100 (batch 60, Adam): seconds per
-- full MNIST epoch of 60,000 images (1,000 iterations; 55,000 with the usual
-- validation split is 0.917 of that). Conv-2 on 28x28 inputs (batch 60, Adam):
-- ms per image per training step over a fixed number of iterations. Both with
-- GFLOP/s of the useful multiply-adds (forward, weight and input gradients).
--
--   lotto examples/bench_train.lua [--threads n] [--conv-iters n] [--only lenet|conv]
local threads, conv_iters, only = nil, 20, nil
local i = 1
while arg and arg[i] do
  local a, v = arg[i], arg[i + 1]
  if a == '--threads' then threads = math.tointeger(tonumber(v))
  elseif a == '--conv-iters' then conv_iters = math.tointeger(tonumber(v))
  elseif a == '--only' then only = v
  else error('usage: lotto bench_train.lua [--threads n] [--conv-iters n] [--only lenet|conv]', 0) end
  i = i + 2
end
local T, now = lotto.tensor, lotto.optim.now
threads = threads or T.get_threads()
T.set_threads(threads)   -- OpenBLAS threads, explicitly
print(('OpenBLAS threads: %d'):format(T.get_threads()))

-- FLOPs per image of one training step: 2 per multiply-add, forward + weight
-- gradient for every layer, input gradient for all but the first.
local function step_flops(macs)
  local f = 0
  for k, m in ipairs(macs) do f = f + 2 * m * (k == 1 and 2 or 3) end
  return f
end

-- Real data when it is there, otherwise random images of the same shape.
local function dataset(name, n)
  if lotto.data.available(name) then
    local d = lotto.data.load(name, { val = 0 })
    return d.train, name
  end
  local x = T.rand({ n, 1, 28, 28 }, 1)
  local y = T.rand({ n }, 2, 0, 10):clamp(0, 9.99)
  for r = 1, n do y:set(r, math.floor(y:get(r))) end
  return lotto.data.from_tensors(x, y, { classes = 10 }), 'random data (' .. name .. ' not found)'
end

-- Trains `iters` iterations after a warm-up; returns seconds, and the share of
-- the optimizer step measured separately.
local function run(model, ds, iters)
  model:init{ seed = 1 }
  local opt = lotto.optim.adam(model, { lr = 1e-3 })
  lotto.train.fit(model, { train = ds }, { optimizer = opt, batch = 60, iterations = 3, progress = false })
  local h = lotto.train.fit(model, { train = ds }, { optimizer = opt, batch = 60, iterations = iters, progress = false })
  local n, t0 = math.max(10, iters // 10), now()
  for _ = 1, n do opt:step() end
  return h.seconds, (now() - t0) / n
end

if only ~= 'conv' then
  local ds, src = dataset('mnist', 60000)
  local model = lotto.models.lenet300()
  local iters = math.ceil(ds:size() / 60)
  local flops = step_flops{ 784 * 300, 300 * 100, 100 * 10 }
  local s, opt_s = run(model, ds, iters)
  print(('LeNet-300-100, %s: %d images (%d iterations of 60) in %.3f s = %.3f s/epoch, %.1f GFLOP/s (%.2f MFLOP/image); optimizer %.2f ms/step'):format(
    src, ds:size(), iters, s, s * 60000 / ds:size(), flops * ds:size() / s / 1e9, flops / 1e6, 1e3 * opt_s))
end

if only ~= 'lenet' then
  local ds, src = dataset('fashion_mnist', 6000)
  local model = lotto.models.conv2{ input = { 1, 28, 28 } }
  local flops = step_flops{ 28 * 28 * 64 * 9, 28 * 28 * 64 * 64 * 9, 12544 * 256, 256 * 256, 256 * 10 }
  local s, opt_s = run(model, ds, conv_iters)
  local imgs = conv_iters * 60
  print(('Conv-2 (28x28), %s: %d iterations of 60 in %.2f s = %.3f ms/image/step, %.1f GFLOP/s (%.1f MFLOP/image); optimizer %.2f ms/step'):format(
    src, conv_iters, s, 1e3 * s / imgs, flops * imgs / s / 1e9, flops / 1e6, 1e3 * opt_s))
end
