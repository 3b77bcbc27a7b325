-- bench_kernels.lua: microseconds per call of the three layer kernels, dense
-- OpenBLAS sgemm against CSR, over densities, LeNet-300-100 shapes, batch 60
-- and 64, with 1 and 2 threads (minimum over repetitions: the machine is shared).
--   lotto examples/bench_kernels.lua [reps]       (default 30)
-- Columns: fwd = Y = X.W^T, bwd = dX = dY.W, wg = dW += dY^T.X on the pattern.
-- "CSR" takes (B, features) activations (transposes included); "CSR^T" is the
-- kernel alone on activations already transposed, as a network of sparse layers
-- could keep them.
local sparse = require 'lotto.sparse'
local T = require 'lotto.tensor'
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/bench_kernels.lua [reps] [options]',
  about = 'Microseconds per call of the three layer kernels (fwd, bwd, weight gradient), dense\n'
    .. 'OpenBLAS sgemm against CSR, over densities, LeNet-300-100 shapes, batch 60 and 64, 1 and\n'
    .. '2 threads (minimum over repetitions). A benchmark: run it on an otherwise idle machine.',
  positional = { { 'reps', 'repetitions (same as --reps)', optional = true } },
  scales = { { '(default)', '30 repetitions', 'about 1 min' } },
  options = { { 'reps', 30, 'repetitions (the minimum is reported)' } },
})
local reps = math.tointeger(tonumber(o.reps))
if not reps or reps < 1 then lotto.args.fail({ prog = 'examples/bench_kernels.lua' }, 'reps must be a positive integer') end
print('BLAS: ' .. T.blas_info().summary)
local shapes = { { 784, 300 }, { 300, 100 }, { 100, 10 } } -- {in, out}
local densities = { 1.0, 0.5, 0.2, 0.1, 0.036, 0.019 }
local batches = { 60, 64 }
local saved = T.get_threads()

local function step(t, kind) -- fwd + bwd + wg
  if kind == 'dense' then return t.dense_fwd + t.dense_bwd_in + t.dense_wgrad end
  if kind == 'csr' then return t.sparse_fwd + t.sparse_bwd_in + t.sparse_wgrad end
  return t.sparse_fwd_t + t.sparse_bwd_in_t + t.sparse_wgrad_t
end

local results = {} -- results[threads][batch][shape index][density index]
for _, threads in ipairs({ 1, 2 }) do
  T.set_threads(threads)
  results[threads] = {}
  print(('\n== %d thread%s, microseconds per call (min of %d) =='):format(threads, threads > 1 and 's' or '', reps))
  print(('%-9s %3s %6s | %7s %7s %7s | %7s %7s %7s | %7s %7s %7s | %6s %6s'):format('in x out', 'B', 'dens',
    'dense', 'bwd', 'wg', 'CSR', 'bwd', 'wg', 'CSR^T', 'bwd', 'wg', 'step', 'step^T'))
  for _, B in ipairs(batches) do
    results[threads][B] = {}
    for si, s in ipairs(shapes) do
      results[threads][B][si] = {}
      for di, d in ipairs(densities) do
        local t = sparse.bench(s[2], s[1], B, d, reps)
        results[threads][B][si][di] = t
        print(('%4dx%-4d %3d %5.1f%% | %7.1f %7.1f %7.1f | %7.1f %7.1f %7.1f | %7.1f %7.1f %7.1f | %5.1fx %5.1fx'):format(
          s[1], s[2], B, 100 * t.density, t.dense_fwd, t.dense_bwd_in, t.dense_wgrad, t.sparse_fwd, t.sparse_bwd_in,
          t.sparse_wgrad, t.sparse_fwd_t, t.sparse_bwd_in_t, t.sparse_wgrad_t, step(t, 'dense') / step(t, 'csr'),
          step(t, 'dense') / step(t, 'csr_t')))
      end
    end
  end
end
T.set_threads(saved)

-- The project's targets, from the figures above.
local function idx(d) for i, v in ipairs(densities) do if v == d then return i end end end
print('\n== LeNet-300-100, batch 60, 3.6% density: one training step (first layer needs no input grad) ==')
for _, threads in ipairs({ 1, 2 }) do
  local r, dense, csr, csrt = results[threads][60], 0, 0, 0
  for si in ipairs(shapes) do
    local t = r[si][idx(0.036)]
    local skip = si == 1
    dense = dense + t.dense_fwd + t.dense_wgrad + (skip and 0 or t.dense_bwd_in)
    csr = csr + t.sparse_fwd + t.sparse_wgrad + (skip and 0 or t.sparse_bwd_in)
    csrt = csrt + t.sparse_fwd_t + t.sparse_wgrad_t + (skip and 0 or t.sparse_bwd_in_t)
  end
  print(('%d thread(s): dense %.0f us, CSR %.0f us, CSR^T %.0f us per step -> %.3f / %.3f / %.3f s per 917-step epoch (kernels only)')
    :format(threads, dense, csr, csrt, dense * 917e-6, csr * 917e-6, csrt * 917e-6))
end
print('\n== inference at 90% sparsity (10% density), batch 64: forward of the three layers ==')
for _, threads in ipairs({ 1, 2 }) do
  local r, dense, csr, csrt = results[threads][64], 0, 0, 0
  for si in ipairs(shapes) do
    local t = r[si][idx(0.1)]
    dense, csr, csrt = dense + t.dense_fwd, csr + t.sparse_fwd, csrt + t.sparse_fwd_t
  end
  print(('%d thread(s): dense %.1f us, CSR %.1f us (%.1fx), CSR^T %.1f us (%.1fx)'):format(threads, dense, csr,
    dense / csr, csrt, dense / csrt))
end

print('\n== measured crossover (density below which a sparse training step wins), 1 thread ==')
T.set_threads(1)
for _, s in ipairs(shapes) do
  local cross = sparse.calibrate(s[2], s[1], 60, { reps = math.max(3, reps // 3) })
  print(('%4dx%-4d batch 60: measured %.3f, default heuristic %.3f'):format(s[1], s[2], cross,
    sparse.crossover(s[2], s[1], 60)))
end
T.set_threads(saved)
