-- bench_torch.lua: lotto against PyTorch on the same CPU in the same run. LeNet-300-100
-- (MNIST) and Conv-2 (Fashion-MNIST, 28x28) training steps, batch 60, Adam, on the same
-- batches with the same thread count, alternating round by round between lotto and a
-- PyTorch worker (bench_torch.py; its OpenBLAS/OpenMP threads are set in its
-- environment before torch is imported). Prints ms per step (LeNet) and ms per image
-- per step (Conv-2) for each round, the minimum over rounds, and PyTorch/lotto ratios
-- (above 1: lotto is faster). Without PyTorch it says so and prints lotto's figures.
--
--   lotto examples/bench_torch.lua [--threads n] [--iters n] [--conv-iters n] [--rounds n]
--                                  [--only lenet|conv] [--python path]
-- PyTorch: Debian's python3-torch (sudo apt-get install python3-torch); `make deps`
-- does not install it. --python (or LOTTO_PYTHON) picks the interpreter; the default
-- is /usr/bin/python3 (where Debian's package lives), else python3 on the PATH.
local spec = {
  usage = 'lotto examples/bench_torch.lua [options]',
  about = 'lotto against PyTorch on the same CPU in the same run: LeNet-300-100 and Conv-2 training\n'
    .. 'steps, batch 60, Adam, same batches and threads, alternating round by round. Without\n'
    .. 'PyTorch (Debian: python3-torch) it says so and prints lotto\'s figures. A benchmark: run\n'
    .. 'it on an otherwise idle machine.',
  scales = { { '(default)', '5 rounds of 200 LeNet and 5 Conv-2 iterations', 'about 2 min' } },
  options = {
    { 'threads', 1, 'threads of both sides' },
    { 'iters', 200, 'LeNet iterations per round' },
    { 'conv-iters', 5, 'Conv-2 iterations per round' },
    { 'rounds', 5, 'rounds (the minimum is reported)' },
    { 'only', nil, 'one model only', type = 'string', choices = { 'lenet', 'conv' } },
    { 'python', nil, 'the Python interpreter (default $LOTTO_PYTHON, /usr/bin/python3, python3)', type = 'string' },
  },
}
local o = lotto.args.parse(arg, spec)
for _, k in ipairs { 'threads', 'iters', 'conv-iters', 'rounds' } do
  if math.type(o[k]) ~= 'integer' or o[k] < 1 then lotto.args.fail(spec, ("option '--%s' must be a positive integer"):format(k)) end
end
local threads, iters, conv_iters, rounds, only = o.threads, o.iters, o['conv-iters'], o.rounds, o.only
local python = o.python or os.getenv('LOTTO_PYTHON')
local T, now, B, K = lotto.tensor, lotto.sys.now, 60, 10
T.set_threads(threads)
print('BLAS: ' .. T.blas_info().summary)

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute('mkdir -p ' .. q(tmp)), 'cannot make a temporary directory')

-- K batches of B images from the data set (random images when it is missing), stacked
-- so that lotto and PyTorch step through the same ones.
local function batches(name)
  local x, y, src = T.zeros({ K * B, 1, 28, 28 }), T.zeros({ K, B }), name
  if lotto.data.available(name) then
    local it = lotto.data.loader(lotto.data.load(name, { val = 0 }).train, { batch = B, seed = 1 })
    for k = 1, K do
      local xb, yb = it:next()
      x:narrow(1, (k - 1) * B + 1, B):copy(xb)
      y:select(1, k):copy(yb)
    end
  else
    x, src = T.rand({ K * B, 1, 28, 28 }, 1), 'random data (' .. name .. ' not found: make data)'
    y = T.rand({ K, B }, 2, 0, 9.99)
    for k = 1, K do for b = 1, B do y:set(k, b, math.floor(y:get(k, b))) end end
  end
  return x, y, src
end

local parts = {}
if only ~= 'conv' then parts[#parts + 1] = { key = 'lenet', data = 'mnist', iters = iters, per = 'step',
  title = 'LeNet-300-100', model = function() return lotto.models.lenet300() end } end
if only ~= 'lenet' then parts[#parts + 1] = { key = 'conv', data = 'fashion_mnist', iters = conv_iters, per = 'image',
  title = 'Conv-2 (28x28)', model = function() return lotto.models.conv2{ input = { 1, 28, 28 } } end } end
local tensors = {}
for _, p in ipairs(parts) do
  p.x, p.y, p.src = batches(p.data)
  tensors[p.key .. '_x'], tensors[p.key .. '_y'] = p.x, p.y
  p.net = p.model()
  p.net:init{ seed = 1 }
  p.opt = lotto.optim.adam(p.net, { lr = 1e-3 })
  p.k = 0
end
local file = tmp .. '/batches.safetensors'
assert(lotto.io.save(file, tensors))

-- lotto's side: n steps (zero_grad, forward, loss, backward, Adam), seconds
local function lotto_steps(p, n)
  local t0 = now()
  for _ = 1, n do
    local k = p.k % K
    p.k = p.k + 1
    p.net:step_loss(p.x:narrow(1, k * B + 1, B), p.y:select(1, k + 1), 'cross_entropy')
    p.opt:step()
  end
  return now() - t0
end

-- PyTorch's side: a worker answering on a FIFO
local worker, reply, torch_note
local script = (arg[0]:match('^(.*)/[^/]*$') or '.') .. '/bench_torch.py'
if not python then
  local f = io.open('/usr/bin/python3')
  python = f and '/usr/bin/python3' or 'python3'
  if f then f:close() end
end
local env = ('OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d MKL_NUM_THREADS=%d '):format(threads, threads, threads)
if not os.execute(q(python) .. ' -c "import sys" >/dev/null 2>&1') then
  torch_note = python .. ' not found'
elseif not os.execute(q(python) .. [[ -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is None)"]]) then
  torch_note = 'PyTorch is not installed for ' .. python
else
  local fifo = tmp .. '/replies'
  assert(os.execute('mkfifo ' .. q(fifo)), 'mkfifo failed')
  worker = io.popen(env .. q(python) .. ' ' .. q(script) .. ' ' .. q(file) .. ' ' .. threads .. ' >' .. q(fifo), 'w')
  reply = assert(io.open(fifo, 'r'))
  local first = reply:read('l') or 'notorch the worker stopped (its messages are above)'
  if first:match('^ready') then
    local ver, th, blas = first:match('^ready (%S+) (%d+) (%S+)')
    print(('PyTorch %s (%s), %s thread(s), %s%s'):format(ver, python, th, blas,
      os.getenv('OPENBLAS_CORETYPE') and ', OPENBLAS_CORETYPE=' .. os.getenv('OPENBLAS_CORETYPE') or ''))
  else
    torch_note = 'PyTorch did not start: ' .. first:gsub('^notorch ', '')
    worker:close()
    worker = nil
  end
end
if torch_note then
  print(torch_note .. '; lotto figures alone. Install Debian\'s PyTorch with: sudo apt-get install python3-torch '
    .. '(make deps does not install it), or point --python / LOTTO_PYTHON at an interpreter that has torch.')
end

local function torch_steps(p, n)
  worker:write(('%s %d\n'):format(p.key, n))
  worker:flush()
  local line = reply:read('l')
  local s = line and tonumber(line:match('^ok (%S+)'))
  if not s then error('PyTorch worker: ' .. (line or 'stopped (its messages are above)'), 0) end
  return s
end

for _, p in ipairs(parts) do
  lotto_steps(p, 3) -- warm-up, as the worker does
  local scale = p.per == 'step' and 1e3 / p.iters or 1e3 / (p.iters * B)
  print(('\n%s, %s, batch %d, Adam, %d thread(s): ms per %s over %d iterations'):format(p.title, p.src, B, threads,
    p.per, p.iters))
  print(worker and 'round     lotto   PyTorch   PyTorch/lotto' or 'round     lotto')
  local best_l, best_t = math.huge, math.huge
  for r = 1, rounds do
    local l = lotto_steps(p, p.iters) * scale
    best_l = math.min(best_l, l)
    if worker then
      local t = torch_steps(p, p.iters) * scale
      best_t = math.min(best_t, t)
      print(('%5d  %8.3f  %8.3f  %8.2fx'):format(r, l, t, t / l))
    else
      print(('%5d  %8.3f'):format(r, l))
    end
  end
  if worker then print(('  min  %8.3f  %8.3f  %8.2fx'):format(best_l, best_t, best_t / best_l))
  else print(('  min  %8.3f'):format(best_l)) end
end

if worker then
  worker:write('quit\n')
  worker:close()
  reply:close()
end
os.execute('rm -rf ' .. q(tmp))
