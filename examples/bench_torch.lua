-- bench_torch.lua: lotto against PyTorch on the same CPU in the same run. Training steps
-- (batch 60, Adam, cross-entropy) of LeNet-300-100 (MNIST), Conv-2 (Fashion-MNIST, 28x28),
-- ResNet-20 and VGG-19 (32x32x3: CIFAR-10's shape, random images), on the same batches with
-- the same thread count, alternating step by step round by round between lotto and a
-- PyTorch worker per thread count (bench_torch.py; its OpenBLAS/OpenMP threads are set in
-- its environment before torch is imported). In the same rounds: for LeNet the GEMM floor
-- (the step's eight GEMMs alone, c:gemm_), for the convnets lotto with Winograd off
-- (nn.winograd(false): the GEMM path, the baseline). Prints each round and the median of the
-- per-round ratios (above 1: lotto is faster), wall clock and CPU time (steadier on a shared
-- machine at 1 thread; with more it adds up the threads' time). Without PyTorch it says so and prints lotto's figures.
--
--   lotto examples/bench_torch.lua [--threads 1,2] [--rounds n] [--only lenet,conv,resnet20,vgg19]
--                                  [--iters n] [--conv-iters n] [--python path] [--tile 2|4]
-- PyTorch: Debian's python3-torch (sudo apt-get install python3-torch); `make deps`
-- does not install it. --python (or LOTTO_PYTHON) picks the interpreter; the default
-- is /usr/bin/python3 (where Debian's package lives), else python3 on the PATH.
local spec = {
  usage = 'lotto examples/bench_torch.lua [options]',
  about = 'lotto against PyTorch on the same CPU in the same run: LeNet-300-100, Conv-2, ResNet-20 and\n'
    .. 'VGG-19 training steps, batch 60, Adam, same batches and threads, alternating round by round,\n'
    .. 'with LeNet\'s GEMM floor and lotto\'s GEMM-path convolutions (Winograd off) as baselines.\n'
    .. 'Without PyTorch (Debian: python3-torch) it says so and prints lotto\'s figures. A benchmark:\n'
    .. 'run it on an otherwise idle machine.',
  scales = { { '(default)', '5 rounds, 1 and 2 threads, all four models', 'about 4 min' } },
  options = {
    { 'threads', '1,2', 'thread counts, comma-separated (each side uses the same)', type = 'string' },
    { 'iters', 1000, 'LeNet iterations per round (fewer make a noisy ratio: at 200, rounds of one run spread 1.75-2.9x)' },
    { 'conv-iters', 4, 'Conv-2 iterations per round (ResNet-20: half, VGG-19: 1)' },
    { 'rounds', 5, 'rounds (the median of per-round ratios is reported)' },
    { 'only', 'lenet,conv,resnet20,vgg19', 'models, comma-separated', type = 'string' },
    { 'python', nil, 'the Python interpreter (default $LOTTO_PYTHON, /usr/bin/python3, python3)', type = 'string' },
    { 'tile', 2, 'largest Winograd output tile of lotto\'s convolutions: 2 (F(2x2), the default) or 4 (F(4x4) where it fits)' },
  },
}
local o = lotto.args.parse(arg, spec)
for _, k in ipairs { 'iters', 'conv-iters', 'rounds' } do
  if math.type(o[k]) ~= 'integer' or o[k] < 1 then lotto.args.fail(spec, ("option '--%s' must be a positive integer"):format(k)) end
end
local function list(s, what, ok)
  local t = {}
  for w in s:gmatch('[^,]+') do
    if not ok(w) then lotto.args.fail(spec, ("option '--%s': bad entry '%s'"):format(what, w)) end
    t[#t + 1] = tonumber(w) or w
  end
  if #t == 0 then lotto.args.fail(spec, ("option '--%s' is empty"):format(what)) end
  return t
end
local thread_list = list(o.threads, 'threads', function(w) return w:match('^%d+$') and tonumber(w) >= 1 end)
local MODELS = { lenet = true, conv = true, resnet20 = true, vgg19 = true }
local only = {}
for _, m in ipairs(list(o.only, 'only', function(w) return MODELS[w] end)) do only[m] = true end
local rounds, python = o.rounds, o.python or os.getenv('LOTTO_PYTHON')
if o.tile ~= 2 and o.tile ~= 4 then lotto.args.fail(spec, "option '--tile' must be 2 or 4") end
lotto.nn.winograd(true, o.tile)
local T, now, B, K = lotto.tensor, lotto.sys.now, 60, 10
print('BLAS: ' .. T.blas_info().summary)
print(('lotto convolutions: Winograd F(%dx%d, 3x3) where a layer takes it (--tile), the GEMM path elsewhere'):format(o.tile, o.tile))

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute('mkdir -p ' .. q(tmp)), 'cannot make a temporary directory')

-- K batches of B inputs of `shape` (from data set `name` when it is there, else random),
-- stacked so that lotto and PyTorch step through the same ones.
local function batches(name, shape)
  local x, y = T.zeros({ K * B, table.unpack(shape) }), T.zeros({ K, B })
  if name and lotto.data.available(name) then
    local it = lotto.data.loader(lotto.data.load(name, { val = 0 }).train, { batch = B, seed = 1 })
    for k = 1, K do
      local xb, yb = it:next()
      x:narrow(1, (k - 1) * B + 1, B):copy(xb)
      y:select(1, k):copy(yb)
    end
    return x, y, name
  end
  x, y = T.rand({ K * B, table.unpack(shape) }, 1), T.rand({ K, B }, 2, 0, 9.99)
  for k = 1, K do for b = 1, B do y:set(k, b, math.floor(y:get(k, b))) end end
  return x, y, name and ('random data (' .. name .. ' not found: make data)') or 'random data'
end

local M, ci = lotto.models, o['conv-iters']
local all = {
  { key = 'lenet', data = 'mnist', shape = { 1, 28, 28 }, iters = o.iters, per = 'step', title = 'LeNet-300-100',
    model = function() return M.lenet300() end },
  { key = 'conv', data = 'fashion_mnist', shape = { 1, 28, 28 }, iters = ci, per = 'image', title = 'Conv-2 (28x28)',
    model = function() return M.conv2{ input = { 1, 28, 28 } } end },
  { key = 'resnet20', shape = { 3, 32, 32 }, iters = math.max(1, ci // 2), per = 'image', title = 'ResNet-20 (32x32)',
    model = function() return M.resnet20{ input = { 3, 32, 32 } } end },
  { key = 'vgg19', shape = { 3, 32, 32 }, iters = 1, per = 'image', title = 'VGG-19 (32x32)',
    model = function() return M.vgg19{ input = { 3, 32, 32 } } end },
}
local parts, tensors = {}, {}
for _, p in ipairs(all) do
  if only[p.key] then
    parts[#parts + 1] = p
    p.x, p.y, p.src = batches(p.data, p.shape)
    tensors[p.key .. '_x'], tensors[p.key .. '_y'] = p.x, p.y
    p.net = p.model()
    p.net:init{ seed = 1 }
    p.opt = lotto.optim.adam(p.net, { lr = 1e-3 })
    p.k = 0
  end
end
local file = tmp .. '/batches.safetensors'
assert(lotto.io.save(file, tensors))

-- lotto's side: n steps (zero_grad, forward, loss, backward, Adam); wall and CPU seconds
local function lotto_steps(p, n)
  local t0, c0 = now(), os.clock()
  for _ = 1, n do
    local k = p.k % K
    p.k = p.k + 1
    p.net:step_loss(p.x:narrow(1, k * B + 1, B), p.y:select(1, k + 1), 'cross_entropy')
    p.opt:step()
  end
  return now() - t0, os.clock() - c0
end

-- LeNet's GEMM floor: the GEMMs of one step as nn_linear calls them in a training step (forward
-- x W^T onto the bias, beta 1; weight gradient dy^T x overwriting the gradient: cleared, then
-- beta 1, faster than OpenBLAS's own clearing at beta 0; input gradient dy W, not into the
-- first layer), n times
local floor_ops
do
  local dims, ops = { 784, 300, 100, 10 }, {}
  local acts = {}
  for i = 1, 4 do acts[i] = T.rand({ B, dims[i] }, 10 + i) end
  for i = 1, 3 do
    local W, dW, dY = T.rand({ dims[i + 1], dims[i] }, 20 + i), T.zeros{ dims[i + 1], dims[i] }, T.rand({ B, dims[i + 1] }, 30 + i)
    ops[#ops + 1] = function() acts[i + 1]:gemm_(acts[i], W, false, true, 1, 1) end
    ops[#ops + 1] = function() dW:fill(0); dW:gemm_(dY, acts[i], true, false, 1, 1) end
    if i > 1 then ops[#ops + 1] = function() acts[i]:gemm_(dY, W) end end
  end
  floor_ops = ops
end
local function floor_steps(n)
  local t0, c0 = now(), os.clock()
  for _ = 1, n do for _, f in ipairs(floor_ops) do f() end end
  return now() - t0, os.clock() - c0
end

-- PyTorch's side: one worker per thread count, answering on a FIFO
local script = (arg[0]:match('^(.*)/[^/]*$') or '.') .. '/bench_torch.py'
if not python then
  local f = io.open('/usr/bin/python3')
  python = f and '/usr/bin/python3' or 'python3'
  if f then f:close() end
end
local workers, torch_note = {}, nil
if not os.execute(q(python) .. ' -c "import sys" >/dev/null 2>&1') then
  torch_note = python .. ' not found'
elseif not os.execute(q(python) .. [[ -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is None)"]]) then
  torch_note = 'PyTorch is not installed for ' .. python
else
  for _, th in ipairs(thread_list) do
    local env = ('OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d MKL_NUM_THREADS=%d '):format(th, th, th)
    local fifo = tmp .. '/replies' .. th
    assert(os.execute('mkfifo ' .. q(fifo)), 'mkfifo failed')
    local w = { pipe = io.popen(env .. q(python) .. ' ' .. q(script) .. ' ' .. q(file) .. ' ' .. th .. ' >' .. q(fifo), 'w') }
    w.reply = assert(io.open(fifo, 'r'))
    local first = w.reply:read('l') or 'notorch the worker stopped (its messages are above)'
    if not first:match('^ready') then
      torch_note = 'PyTorch did not start: ' .. first:gsub('^notorch ', '')
      w.pipe:close()
      break
    end
    local ver, n, blas = first:match('^ready (%S+) (%d+) (%S+)')
    print(('PyTorch %s (%s), %s thread(s), %s%s'):format(ver, python, n, blas,
      os.getenv('OPENBLAS_CORETYPE') and ', OPENBLAS_CORETYPE=' .. os.getenv('OPENBLAS_CORETYPE') or ''))
    workers[th] = w
  end
end
if torch_note then
  for _, w in pairs(workers) do w.pipe:close() end
  workers = {}
  print(torch_note .. '; lotto figures alone. Install Debian\'s PyTorch with: sudo apt-get install python3-torch '
    .. '(make deps does not install it), or point --python / LOTTO_PYTHON at an interpreter that has torch.')
end
local have_torch = next(workers) ~= nil

local function torch_steps(th, p, n)
  local w = workers[th]
  w.pipe:write(('%s %d\n'):format(p.key, n))
  w.pipe:flush()
  local line = w.reply:read('l')
  local wall, cpu = (line or ''):match('^ok (%S+) (%S+)')
  if not wall then error('PyTorch worker: ' .. (line or 'stopped (its messages are above)'), 0) end
  return tonumber(wall), tonumber(cpu)
end

local function median(t)
  local s = { table.unpack(t) }
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- one round of one model at one thread count: lotto, its baseline, PyTorch; prints a row
local function round(p, th, r, acc)
  T.set_threads(th)
  local scale = p.per == 'step' and 1e3 / p.iters or 1e3 / (p.iters * B)
  local floor = p.key == 'lenet'
  local lw, lc = lotto_steps(p, p.iters)
  local bw, bc
  if floor then
    bw, bc = floor_steps(p.iters)
  else
    local was = lotto.nn.winograd(false)
    bw, bc = lotto_steps(p, p.iters)
    lotto.nn.winograd(was)
  end
  local rb, rbc = floor and lw / bw or bw / lw, floor and lc / bc or bc / lc
  local line = ('%5d %7d  %8.3f  %10.3f  %8.2f %6.2f'):format(r, th, lw * scale, bw * scale, rb, rbc)
  acc.lotto[#acc.lotto + 1], acc.base[#acc.base + 1], acc.base_cpu[#acc.base_cpu + 1] = lw * scale, rb, rbc
  if have_torch then
    local tw, tc = torch_steps(th, p, p.iters)
    acc.torch[#acc.torch + 1], acc.cpu[#acc.cpu + 1] = tw / lw, tc / lc
    line = line .. ('  %8.3f  %12.2fx  %10.2fx'):format(tw * scale, tw / lw, tc / lc)
  end
  print(line)
end

-- one model: `rounds` rounds, each going through the thread counts in turn
local function measure(p)
  print(('\n%s, %s, batch %d, Adam: ms per %s over %d iteration(s)'):format(p.title, p.src, B, p.per, p.iters))
  print('round threads     lotto  ' .. (p.key == 'lenet' and ' GEMM floor lotto/floor (CPU)' or 'Winograd off  off/on  (CPU)')
    .. (have_torch and '   PyTorch  PyTorch/lotto  (CPU time)' or ''))
  local res = {}
  for _, th in ipairs(thread_list) do
    T.set_threads(th)
    lotto_steps(p, 1) -- warm-up of this thread count's buffers
    if have_torch then torch_steps(th, p, 1) end
    res[th] = { lotto = {}, base = {}, base_cpu = {}, torch = {}, cpu = {} }
  end
  for r = 1, rounds do
    for _, th in ipairs(thread_list) do round(p, th, r, res[th]) end
  end
  for _, th in ipairs(thread_list) do
    local a = res[th]
    a.lotto, a.base, a.base_cpu = median(a.lotto), median(a.base), median(a.base_cpu)
    a.torch, a.cpu = have_torch and median(a.torch), have_torch and median(a.cpu)
    local line = ('median %5d  %8.3f  %10s  %8.2f %6.2f'):format(th, a.lotto, '', a.base, a.base_cpu)
    if have_torch then line = line .. ('  %8s  %12.2fx  %10.2fx'):format('', a.torch, a.cpu) end
    print(line)
    if p.key == 'lenet' then
      print(('  %d thread(s): an epoch of 1000 steps takes lotto %.2f s, %.2fx its GEMM floor (%.2fx in CPU time)'):format(
        th, a.lotto, a.base, a.base_cpu))
    end
  end
  return res
end

local summary = {}
for _, p in ipairs(parts) do summary[p.key] = measure(p) end

print('\nsummary (medians; ratios above 1: lotto faster)')
for _, p in ipairs(parts) do
  local s, line = summary[p.key], ('%-18s'):format(p.title)
  for _, th in ipairs(thread_list) do
    line = line .. ('  %dT %.3f ms/%s'):format(th, s[th].lotto, p.per)
    if s[th].torch then line = line .. (' (PyTorch/lotto %.2fx)'):format(s[th].torch) end
  end
  local t1, t2 = s[thread_list[1]], s[thread_list[#thread_list]]
  if #thread_list > 1 then
    line = line .. ('  %dT/%dT speed-up %.2fx'):format(thread_list[#thread_list], thread_list[1], t1.lotto / t2.lotto)
  end
  print(line)
end

for _, w in pairs(workers) do
  w.pipe:write('quit\n')
  w.pipe:close()
  w.reply:close()
end
os.execute('rm -rf ' .. q(tmp))
