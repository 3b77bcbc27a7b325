-- bench_sparse.lua: what a found ticket costs to ship and to run. The seed talk's
-- table (VGG-19 pruned 50%: 53.4 -> 13.5 MB, 28.6 -> 9.4 ms) for lotto's models:
-- file size (model:save, dense, against lotto.sparse.export) and inference time per
-- batch of 64 (lotto's dense path against the exported model loaded with
-- lotto.sparse.load), with 1 and 2 threads, every prunable layer pruned by
-- magnitude to the density. Then the dispatch crossover: one training step of each
-- LeNet layer just below and just above the density where auto switches.
--
--   lotto examples/bench_sparse.lua [reps]        (default 20; the minimum is reported)
local sparse, prune, T = lotto.sparse, lotto.prune, lotto.tensor
local now = lotto.sys.now
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/bench_sparse.lua [reps] [options]',
  about = 'What a found ticket costs to ship and to run: file size (dense save against\n'
    .. 'lotto.sparse.export) and inference time per batch of 64 (dense against the exported\n'
    .. 'model), 1 and 2 threads, over densities; then the dispatch crossover. A benchmark: run it\n'
    .. 'on an otherwise idle machine.',
  positional = { { 'reps', 'repetitions (same as --reps)', optional = true } },
  scales = { { '(default)', '20 repetitions', 'about 2 min' } },
  options = { { 'reps', 20, 'repetitions (the minimum is reported)' } },
})
local reps = math.tointeger(tonumber(o.reps))
if not reps or reps < 1 then lotto.args.fail({ prog = 'examples/bench_sparse.lua' }, 'reps must be a positive integer') end
print('BLAS: ' .. T.blas_info().summary)
local tmp = (os.getenv('TMPDIR') or '/tmp') .. '/lotto_bench_sparse'
lotto.fs.mkdir_p(tmp)

local function size(path)
  local f = assert(io.open(path, 'rb'))
  local n = f:seek('end')
  f:close()
  return n
end

local function prune_to(model, d)
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      p.mask:fill(1)
      prune.magnitude_mask(p.mask, p.value, 1 - d)
    end
  end
  model:apply_mask()
end

-- ms per call of f, the minimum over reps timings of n calls each
local function time_ms(f, n)
  f()
  local best = math.huge
  for _ = 1, reps do
    local t0 = now()
    for _ = 1, n do f() end
    best = math.min(best, (now() - t0) / n)
  end
  return 1e3 * best
end

local rows = {
  { 'LeNet-300-100', 'lenet300', {}, { 1, 28, 28 }, { 0.5, 0.2, 0.1, 0.036, 0.019 }, 20 },
  { 'Conv-2 (CIFAR-10)', 'conv2', { input = { 3, 32, 32 } }, { 3, 32, 32 }, { 0.5, 0.1 }, 1 },
}
local saved = T.get_threads()
print(('inference on a batch of 64, ms (min of %d); sizes in MB; every prunable layer at the density'):format(reps))
print(('%-18s %7s | %8s %8s %6s | %-26s | %-26s'):format('model', 'density', 'dense MB', 'sparse', 'ratio',
  '1 thread: dense  sparse', '2 threads: dense  sparse'))
for _, r in ipairs(rows) do
  local label, zoo, opts, shape, dens, n = table.unpack(r)
  local model = lotto.models[zoo](opts)
  local x = T.rand({ 64, table.unpack(shape) }, 1)
  for _, d in ipairs(dens) do
    model:init{ seed = 1 }
    prune_to(model, d)
    model:eval()
    local dpath, spath = tmp .. '/' .. zoo .. '.safetensors', tmp .. '/' .. zoo .. '.sparse.safetensors'
    model:save(dpath)
    sparse.export(model, spath)
    local net = assert(sparse.load(spath))
    local cols = {}
    for _, th in ipairs({ 1, 2 }) do
      T.set_threads(th)
      local td = sparse.with_mode('dense', time_ms, function() model:forward(x) end, n)
      local ts = time_ms(function() net:forward(x) end, n)
      cols[#cols + 1] = ('%7.2f %7.2f %5.1fx'):format(td, ts, td / ts)
    end
    T.set_threads(saved)
    local dm, sm = size(dpath) / 2 ^ 20, size(spath) / 2 ^ 20
    print(('%-18s %6.1f%% | %8.2f %8.3f %5.1f%% | %s | %s'):format(label, 100 * d, dm, sm, 100 * sm / dm, cols[1], cols[2]))
  end
end
print('(dense MB: model:save, F32 values + U8 masks; the F32 values alone are 4/5 of it)')

-- The crossover: a training step (forward, input gradient unless first, weight gradient)
-- of each LeNet layer at batch 60, dense against sparse, at 0.9x and 1.1x the density
-- where auto switches; below it auto runs sparse, above it dense.
print(('\ncrossover of auto dispatch, LeNet-300-100 layers at batch 60, one training step, us (min of %d), %d thread(s)'):format(
  reps, T.get_threads()))
print('layer          crossover | density  dense us  sparse us  sparse/dense  auto runs')
for li, s in ipairs({ { 784, 300 }, { 300, 100 }, { 100, 10 } }) do
  local model = lotto.nn.model(lotto.nn.linear(s[1], s[2]), { input = { s[1] } })
  local x, dy, labels = T.randn({ 60, s[1] }, 1), T.randn({ 60, s[2] }, 2), T.zeros({ 60 })
  local cross, measured = sparse.crossover_for(s[2], s[1], 60)
  for _, f in ipairs({ 0.9, 1.1 }) do
    local d = math.min(1, cross * f)
    model:init{ seed = 1 }
    prune_to(model, d)
    -- the first layer of a network needs no input gradient (step_loss skips it)
    local step = li == 1 and function() model:step_loss(x, labels) end
      or function() model:zero_grad(); model:forward(x, true); model:backward(dy) end
    local td = sparse.with_mode('dense', time_ms, step, 20)
    local ts = sparse.with_mode('sparse', time_ms, step, 20)
    step()
    print(('%4d -> %-4d %7.3f%s | %6.1f%% %9.1f %10.1f %10.2fx  %s'):format(s[1], s[2], cross, measured and '' or '*',
      100 * model:density(), 1e3 * td, 1e3 * ts, ts / td, sparse.layers(model)[1].path))
  end
end
print('(* the default crossover: run lotto.sparse.calibrate_model(model) once to measure it on this machine)')
