-- bench_conv.lua: Conv-2 (Frankle & Carbin: conv 64, conv 64, maxpool 2, FC 256-256-10,
-- 3x3 padding 1) training-step speed on 28x28x1 images, batch 60, Adam. Reports ms per
-- image per step as CPU time (os.clock: the process's user+system time, robust on a
-- shared machine, but the sum over threads) and wall time, the min over repetitions,
-- with GFLOP/s of the useful multiply-adds. Also ResNet-20 and VGG-style batchnorm
-- layers on 32x32x3 (--resnet).
--
--   lotto examples/bench_conv.lua [--threads n] [--iters n] [--reps n] [--batch n] [--resnet] [--tile 2|4]
local spec = {
  usage = 'lotto examples/bench_conv.lua [options]',
  about = 'Conv-2 training-step speed on 28x28x1 images (batch 60, Adam): ms per image per step as\n'
    .. 'CPU and wall time, the min over repetitions, with GFLOP/s. --resnet adds ResNet-20 and\n'
    .. 'VGG-style batchnorm layers on 32x32x3. A benchmark: run it on an otherwise idle machine.',
  scales = { { '(default)', '10 iterations x 5 repetitions', 'about 1 min' } },
  options = {
    { 'threads', 1, 'OpenBLAS threads' },
    { 'iters', 10, 'iterations per repetition' },
    { 'reps', 5, 'repetitions (the minimum is reported)' },
    { 'batch', 60, 'batch size' },
    { 'resnet', false, 'also ResNet-20 and VGG-style layers' },
    { 'tile', 2, 'largest Winograd output tile: 2 (F(2x2), the default) or 4 (F(4x4) where it fits)' },
  },
}
local o = lotto.args.parse(arg, spec)
local threads, iters, reps, batch, resnet = o.threads, o.iters, o.reps, o.batch, o.resnet
if o.tile ~= 2 and o.tile ~= 4 then lotto.args.fail(spec, "option '--tile' must be 2 or 4") end
lotto.nn.winograd(true, o.tile)
local T, now = lotto.tensor, lotto.sys.now
T.set_threads(threads)
print('BLAS: ' .. T.blas_info().summary)
print(('OpenBLAS threads: %d, batch %d, %d iterations x %d repetitions, Winograd tiles up to %dx%d'):format(
  T.get_threads(), batch, iters, reps, o.tile, o.tile))

-- Times `iters` training steps (zero_grad, forward, loss, backward, Adam) after a warm-up;
-- returns the min over reps of CPU and wall seconds per step.
local function time_steps(model, x, y)
  model:init{ seed = 1 }
  local opt = lotto.optim.adam(model, { lr = 1e-3 })
  for _ = 1, 2 do model:step_loss(x, y); opt:step() end
  local cpu, wall = math.huge, math.huge
  for _ = 1, reps do
    local c0, w0 = os.clock(), now()
    for _ = 1, iters do model:step_loss(x, y); opt:step() end
    cpu, wall = math.min(cpu, (os.clock() - c0) / iters), math.min(wall, (now() - w0) / iters)
  end
  return cpu, wall
end

local function report(name, model, shape, mflop)
  local x = T.rand({ batch, table.unpack(shape) }, 1)
  local y = T.rand({ batch }, 2, 0, 10):clamp(0, 9.99)
  for r = 1, batch do y:set(r, math.floor(y:get(r))) end
  local cpu, wall = time_steps(model, x, y)
  print(('%s: %.3f ms/image/step CPU (%.1f GFLOP/s), %.3f ms wall (%.1f GFLOP/s); %.1f MFLOP/image'):format(
    name, 1e3 * cpu / batch, mflop * batch / cpu / 1e3, 1e3 * wall / batch, mflop * batch / wall / 1e3, mflop))
end

-- FLOPs per image of a step: forward and weight gradient everywhere, input gradient after the first layer.
local function step_mflop(macs)
  local f = 0
  for k, m in ipairs(macs) do f = f + 2 * m * (k == 1 and 2 or 3) end
  return f / 1e6
end

report('Conv-2 (28x28)', lotto.models.conv2{ input = { 1, 28, 28 } }, { 1, 28, 28 },
  step_mflop{ 28 * 28 * 64 * 9, 28 * 28 * 64 * 64 * 9, 12544 * 256, 256 * 256, 256 * 10 })
if resnet then
  -- multiply-adds: the stem, then per stage six 3x3 convs (the first strided from stage 2
  -- on) and a 1x1 projection; each stage halves the size and doubles the channels
  local macs, c, hw = { 3 * 16 * 9 * 1024 }, 16, 1024
  for stage = 1, 3 do
    if stage > 1 then
      hw = hw // 4
      macs[#macs + 1] = c * 2 * c * 9 * hw + c * 2 * c * hw
      c = 2 * c
      macs[#macs + 1] = 5 * c * c * 9 * hw
    else
      macs[#macs + 1] = 6 * c * c * 9 * hw
    end
  end
  macs[#macs + 1] = 64 * 10
  report('ResNet-20 (32x32)', lotto.models.resnet20{ input = { 3, 32, 32 } }, { 3, 32, 32 }, step_mflop(macs))
end
