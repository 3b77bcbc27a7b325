-- bench_structured.lua: the pruning lecture's deployment table. For SimpleNet, VGG-19,
-- DenseNet-40 and MobileNet V1 on 3x32x32 inputs, batch 64: parameter size (MB) and
-- inference time (ms per batch of 64, the minimum over repetitions) before -> after
-- channel pruning at rate 0.5 (every conv loses half its output channels, and with them
-- half the next one's inputs; lotto.prune.shrink builds the smaller dense model), with 1
-- and 2 threads; then, for comparison, unstructured 50% (magnitude, the sparse kernels,
-- size as lotto.sparse.export stores it) and 2:4 (mode 'nm': the n:m kernels, which auto
-- dispatch does not pick while sgemm is faster; the GEMM comparison at the end says by how much).
-- Weights are random: latency and size do not depend on training.
--
--   lotto examples/bench_structured.lua [--reps n] [--batch n] [--width w] [--models a,b]
--   (a quick smoke run: --reps 1 --batch 4 --width 0.125)
local ORDER = { 'simplenet', 'vgg19', 'densenet40', 'mobilenet' }
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/bench_structured.lua [options]',
  about = 'The pruning lecture\'s deployment table: size (MB) and inference ms per batch of SimpleNet,\n'
    .. 'VGG-19, DenseNet-40 and MobileNet V1 before -> after channel pruning at 0.5 (prune.shrink),\n'
    .. 'at 1 and 2 threads, against 50% unstructured and 2:4; then 2:4 against dense GEMMs.\n'
    .. 'A benchmark, not a test: run it alone on a quiet machine.',
  scales = {
    { '(default)', '4 models, batch 64, 5 repetitions', 'several minutes' },
    { '(smoke)', '--reps 1 --batch 4 --width 0.125', 'under a minute' },
  },
  options = {
    { 'reps', 5, 'repetitions (the minimum is reported)', integer = true, min = 1 },
    { 'batch', 64, 'images per batch', integer = true, min = 1 },
    { 'width', 1, 'width multiplier of the models' },
    { 'models', nil, 'comma-separated subset of ' .. table.concat(ORDER, ',') .. ' (default: all)', type = 'string' },
  },
})
local reps, batch, width, only = o.reps, o.batch, o.width, o.models
local known = {}
for _, name in ipairs(ORDER) do known[name] = true end
for name in (only or ''):gmatch('[^,]+') do
  if not known[name] then
    lotto.args.fail({ prog = 'examples/bench_structured.lua' }, ("unknown model '%s' in --models (known: %s)"):format(name,
      table.concat(ORDER, ', ')))
  end
end
local T, now, prune, sparse, models = lotto.tensor, lotto.sys.now, lotto.prune, lotto.sparse, lotto.models

-- The lecture's figures at rate 0.5: size MB and ms / 64 images, before and after.
local LECTURE = {
  simplenet = { 'SimpleNet', 8.7, 1.8, 5.8, 2.7 }, vgg19 = { 'VGG-19', 53.4, 13.5, 28.62, 9.44 },
  densenet40 = { 'DenseNet-40', 4.3, 1.5, 77.87, 39.97 }, mobilenet = { 'MobileNet V1', 6.6, 1.8, 19.39, 8.01 },
}

local function build(name)
  local opts = name == 'densenet40' and {} or { width = width }
  if name == 'densenet40' and width ~= 1 then opts.growth = math.max(1, math.floor(12 * width + 0.5)) end
  local m = models[name](opts)
  m:init { seed = 1 }
  m:eval()
  return m
end

-- Minimum wall ms of a forward of x over reps (after one warm-up), with `threads` threads.
local function ms(model, x, threads)
  T.set_threads(threads)
  model:forward(x, false)
  local best = math.huge
  for _ = 1, reps do
    local t0 = now()
    model:forward(x, false)
    best = math.min(best, now() - t0)
  end
  return 1e3 * best
end

local function mb(bytes) return bytes / 1e6 end

print('BLAS: ' .. T.blas_info().summary)
print(('batch %d, 3x32x32, %d repetitions (min), width %g; sizes are float32 parameters'):format(batch, reps, width))
print(('%-13s %-17s %-19s %-19s %-17s %-17s | lecture: size, ms (ratio)'):format('model', 'size MB',
  'ms 1 thread', 'ms 2 threads', '50% sparse MB/ms', '2:4 MB/ms'))
local x = T.randn({ batch, 3, 32, 32 }, 1)
for _, name in ipairs(ORDER) do
  if not only or (',' .. only .. ','):find(',' .. name .. ',', 1, true) then
    local m = build(name)
    local c0 = prune.cost(m)
    local d1, d2 = ms(m, x, 1), ms(m, x, 2)
    prune.channels(m, { rate = 0.5 })
    local small = prune.shrink(m)
    small:eval()
    local c1 = prune.cost(small)
    local s1, s2 = ms(small, x, 1), ms(small, x, 2)
    -- unstructured 50% on the sparse kernels, and 2:4, each from a fresh dense model
    local u = build(name)
    prune.magnitude(u, { rate = 0.5 })
    local us = sparse.with_mode('auto', ms, u, x, 1)
    local nm = build(name)
    local ok = pcall(prune.nm_model, nm, 2, 4)
    local nms = ok and sparse.with_mode('nm', ms, nm, x, 1) or nil -- the n:m kernels (auto would run sgemm)
    local L = LECTURE[name]
    print(('%-13s %5.1f -> %5.1f (%.2f) %6.1f -> %6.1f (%.2f) %6.1f -> %6.1f (%.2f) %5.1f / %7.1f  %5s / %7s | %.1f -> %.1f (%.2f), %.2f -> %.2f (%.2f)')
      :format(L[1], mb(c0.bytes), mb(c1.bytes), c1.bytes / c0.bytes, d1, s1, s1 / d1, d2, s2, s2 / d2,
        mb(prune.cost(u).bytes_sparse), us, ok and ('%.1f'):format(mb(prune.cost(nm).bytes_sparse)) or '-',
        nms and ('%.1f'):format(nms) or '-', L[2], L[3], L[3] / L[2], L[4], L[5], L[5] / L[4]))
    print(('%-13s MACs/image %.1fM -> %.1fM (theoretical speed-up %.2fx)'):format('', c0.macs / 1e6, c1.macs / 1e6,
      c0.macs / c1.macs))
  end
end

-- 2:4 against dense on GEMMs of the models' shapes (rows = output channels, cols = cin*3*3,
-- columns = batch x output pixels): the n:m kernel (sparse.nm) against sgemm, 1 thread.
-- Dispatch runs a layer on the faster of the two; today that is dense wherever this says so.
print('\n2:4 kernel vs dense sgemm (1 thread, min ms):')
T.set_threads(1)
for _, g in ipairs { { 64, 576, 1024 }, { 128, 1152, 256 }, { 256, 2304, 64 }, { 512, 4608, 16 } } do
  local rows, cols, n = g[1], math.max(4, math.floor(g[2] * width + 0.5) // 4 * 4), g[3] * batch // 64
  rows = math.max(1, math.floor(rows * width + 0.5))
  local w, mask = T.randn({ rows, cols }, 1), T.ones { rows, cols }
  prune.nm(mask, w, 2, 4)
  local a, wt, x = sparse.nm(w, mask, 2, 4), (w * mask):transpose():contiguous(), T.randn({ math.max(1, n), cols }, 2)
  local function best(f)
    f()
    local b = math.huge
    for _ = 1, reps do
      local t0 = now()
      f()
      b = math.min(b, now() - t0)
    end
    return 1e3 * b
  end
  local dense, nm = best(function() return x:matmul(wt) end), best(function() return a:matmul_t(x) end)
  print(('  (%4d x %4d) . (%4d cols): dense %7.3f ms, 2:4 %7.3f ms: 2:4 takes %.2fx dense'):format(rows, cols,
    math.max(1, n), dense, nm, nm / dense))
end
T.set_threads(1)
