-- bench_structured.lua: the pruning lecture's deployment table. For SimpleNet, VGG-19,
-- DenseNet-40 and MobileNet V1 on 3x32x32 inputs, batch 64: parameter size (MB) and
-- inference time (ms per batch of 64, the minimum over repetitions) before -> after
-- channel pruning at rate 0.5 (every conv loses half its output channels, and with them
-- half the next one's inputs; lotto.prune.shrink builds the smaller dense model), with 1
-- and 2 threads; then, for comparison, unstructured 50% (magnitude, the sparse kernels,
-- size as lotto.sparse.export stores it) and 2:4 (auto dispatch: at inference a frozen 2:4
-- layer runs on the n:m forward where it beats sgemm, 32 columns or more, else on sgemm).
-- The GEMM comparison at the end times the 2:4 kernel against sgemm and against the
-- portable n:m kernel (the path before the AVX2 kernel), alternately in the same run.
-- Weights are random: latency and size do not depend on training.
--
-- Size ratios (after / before): pruning every conv uniformly at 0.5 keeps half of each
-- layer's outputs and half of its inputs, so every weight tensor keeps at least a quarter
-- (the first conv and the classifier a half): no plain architecture goes below 0.25. The
-- lecture's SimpleNet at 0.21 needs a non-uniform criterion (network slimming's one
-- threshold over all batchnorm scales, which prunes the wide layers more), not another
-- architecture. DenseNet-40: pruning every conv (first, growth layers, transitions: each
-- concatenated channel goes with the conv that made it) gives 0.26; leaving the
-- transitions whole gives 0.46; the lecture's 0.35 lies between. VGG-19 (0.25) and
-- MobileNet (0.26) match the lecture's.
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
    sparse.set_layer(u, nil, { frozen = true }) -- deployed: weights fixed, the sparse forms built once
    local us = sparse.with_mode('auto', ms, u, x, 1)
    local nm = build(name)
    local ok = pcall(prune.nm_model, nm, 2, 4)
    sparse.set_layer(nm, nil, { frozen = true })
    local nms = ok and sparse.with_mode('auto', ms, nm, x, 1) or nil -- n:m forward where it wins, else sgemm
    local L = LECTURE[name]
    print(('%-13s %5.1f -> %5.1f (%.2f) %6.1f -> %6.1f (%.2f) %6.1f -> %6.1f (%.2f) %5.1f / %7.1f  %5s / %7s | %.1f -> %.1f (%.2f), %.2f -> %.2f (%.2f)')
      :format(L[1], mb(c0.bytes), mb(c1.bytes), c1.bytes / c0.bytes, d1, s1, s1 / d1, d2, s2, s2 / d2,
        mb(prune.cost(u).bytes_sparse), us, ok and ('%.1f'):format(mb(prune.cost(nm).bytes_sparse)) or '-',
        nms and ('%.1f'):format(nms) or '-', L[2], L[3], L[3] / L[2], L[4], L[5], L[5] / L[4]))
    print(('%-13s MACs/image %.1fM -> %.1fM (theoretical speed-up %.2fx)'):format('', c0.macs / 1e6, c1.macs / 1e6,
      c0.macs / c1.macs))
  end
end

-- 2:4 against dense, layer by layer, as dispatch runs them at inference: fc layers
-- (LeNet-300-100, VGG's classifier) at the batch, and 3x3 convolutions (padding 1) at
-- the image sizes of the models, batch images at a time. One layer per model, its weight
-- 2:4, forward(x, false) under mode 'dense' (sgemm), 'auto' (the AVX2 n:m forward where it
-- wins, 32 columns or more) and 'nm' with the portable n:m kernel (the path before the
-- AVX2 one). Frozen, as a deployed model (sparse.load) is; auto leaves a layer that is not
-- frozen on sgemm: re-reading its weights into the n:m form at every forward costs what the
-- kernel saves (measured at fc shapes: 0.99x to 1.05x of dense).
-- CPU seconds of this process (os.clock: a busy machine does not count), the
-- minimum over reps, the three timed in turn over three rounds; < 1 means 2:4 is faster.
print(('\n2:4 layers vs dense at inference, 1 thread, batch %d, min CPU ms (n:m kernel: %s):'):format(batch,
  sparse.nm_kernel()))
T.set_threads(1)
local nn = lotto.nn
local layers = {
  { 'LeNet fc1', 784, 300 }, { 'LeNet fc2', 300, 100 }, { 'VGG fc 512', 512, 512 }, { 'VGG fc 4096', 4096, 4096 },
  { 'conv 32x32', 64, 64, 32 }, { 'conv 16x16', 128, 128, 16 }, { 'conv 8x8', 256, 256, 8 },
  { 'conv 4x4', 512, 512, 4 }, { 'conv 2x2', 512, 512, 2 },
}
local kernel = sparse.nm_kernel()
for _, g in ipairs(layers) do
  local cin, cout, H = math.max(4, math.floor(g[2] * width + 0.5) // 4 * 4), math.max(1, math.floor(g[3] * width + 0.5)), g[4]
  local net, xx
  if H then
    net = nn.model(nn.conv2d(cin, cout, 3, { padding = 1, bias = false }), { input = { cin, H, H } })
    xx = T.randn({ batch, cin, H, H }, 2)
  else
    net = nn.model(nn.linear(cin, cout), { input = { cin } })
    xx = T.randn({ batch, cin }, 2)
  end
  net:init { seed = 1 }
  net:eval()
  prune.nm_model(net, 2, 4)
  sparse.set_layer(net, nil, { frozen = true }) -- deployed, as sparse.load does: no per-call re-read of the weights
  local function best(mode)
    return sparse.with_mode(mode, function()
      net:forward(xx, false)
      local b = math.huge
      for _ = 1, reps do
        local t0 = os.clock()
        net:forward(xx, false)
        b = math.min(b, os.clock() - t0)
      end
      return 1e3 * b
    end)
  end
  local dense, nm, old = math.huge, math.huge, math.huge
  for _ = 1, 3 do
    dense = math.min(dense, best('dense'))
    nm = math.min(nm, best('auto'))
    sparse.nm_kernel('portable')
    old = math.min(old, best('nm'))
    sparse.nm_kernel(kernel)
  end
  sparse.with_mode('auto', function() net:forward(xx, false) end)
  local path = sparse.layers(net)[1].path
  local K, cols = H and cin * 9 or cin, H and H * H or batch
  print(('  %-11s (%4d x %4d) . %4d columns: dense %8.3f, 2:4 %8.3f (%.2fx dense, %s), old 2:4 %8.3f (%.2fx)')
    :format(g[1], cout, K, cols, dense, nm, nm / dense, path, old, old / dense))
end
print('  (auto runs a frozen 2:4 layer with 64 rows or more on the n:m forward at inference from 32 columns,')
print('   batch or pixels per image (fewer rows: the per-block and per-image overheads outweigh the savings);')
print('   the kernel alone wins from 16 columns, but a convolution runs it image by image, with an im2col each, while')
print('   sgemm takes several small images at once; below 16, one vector per row leaves the FMA units idle)')
T.set_threads(1)
