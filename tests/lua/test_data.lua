-- test_data.lua: lotto.data — data sets from tensors, views, splits, normalisation,
-- the sum-of-two task, loaders (seeded order, each row once, reuse of batch tensors),
-- crafted IDX files through D.mnist{dir=}, misuse, and real MNIST when present.
local D = lotto.data
local T = lotto.tensor

package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local check = C.check
local function checkerror(fn, pattern) return C.checkerror(fn, pattern) end
local function near(a, b, tol) return math.abs(a - b) <= (tol or 1e-6) end
local tmp = os.getenv('LOTTO_TEST_TMP') or '/tmp'

-- from_tensors: x row i = (i, 10 i), y = i % 3
local N = 10
local rows, labels = {}, {}
for i = 0, N - 1 do rows[i + 1] = { i, 10 * i }; labels[i + 1] = i % 3 end
local ds = D.from_tensors(T.new(rows), T.new(labels), { classes = 3 })
check(ds:size() == N and #ds == N, 'size and #')
check(ds:classes() == 3, 'classes')
check(tostring(ds) == 'dataset(10 × 2, 3 classes)', 'tostring: ' .. tostring(ds))
check(ds:x():get(4, 2) == 30 and ds:y():get(4) == 0, 'x and y values')
checkerror(function() D.from_tensors(T.new(rows), T.new(labels), { classes = 2 }) end, 'not a class id')
checkerror(function() D.from_tensors(T.new(rows), T.zeros(3), { classes = 3 }) end, 'number of rows')
checkerror(function() D.from_tensors(T.new(rows), T.new(labels), { clases = 3 }) end, "unknown option 'clases'")
checkerror(function() D.from_tensors(1, 2) end, 'bad argument #1')
local reg = D.from_tensors(T.new(rows), T.zeros(N, 3))
check(reg:classes() == 0 and tostring(reg) == 'dataset(10 × 2 -> 3)', 'regression data set: ' .. tostring(reg))

-- subset and split are views: last rows become validation
local sub = ds:subset(4)
check(sub:size() == 4 and sub:x():get(4, 1) == 3, 'subset(n) takes the first n rows')
check(ds:subset(2, 5):x():get(1, 1) == 4, 'subset(n, first)')
local tr, va = ds:split(3)
check(tr:size() == 7 and va:size() == 3 and va:classes() == 3, 'split sizes')
check(va:x():get(1, 1) == 7 and va:y():get(3) == 0, 'validation is the last rows')
checkerror(function() ds:split(10) end, 'bad argument #1 to \'split\'')
checkerror(function() ds:subset(11) end, 'more rows')
checkerror(function() ds.size(42) end, 'lotto.dataset expected')

-- channel normalisation: stats of one set applied to another, in place
local mean, std = tr:channel_stats()
check(near(mean[1], 3) and near(mean[2], 30) and near(std[1], 2), 'channel stats of rows 0..6')
local copy = D.from_tensors(ds:x():clone(), ds:y():clone(), { classes = 3 })
copy:normalize(mean, std)
check(near(copy:x():get(1, 1), -1.5) and near(copy:x():get(8, 2), (70 - 30) / std[2]), 'normalized values')
checkerror(function() copy:normalize({ 0 }, { 1 }) end, 'expected 2 values')

-- sum of two
local toy = D.sum_of_two { n = 200, lo = -1, hi = 1, seed = 3 }
local x, y = toy:x(), toy:y()
check(x:size(1) == 200 and x:size(2) == 2 and y:size(2) == 1 and toy:classes() == 0, 'sum_of_two shapes')
local ok = true
for i = 1, 200 do ok = ok and y:get(i, 1) == x:get(i, 1) + x:get(i, 2) and x:get(i, 1) >= -1 and x:get(i, 1) < 1 end
check(ok, 'y = x1 + x2, x in [lo, hi)')
check(D.sum_of_two { n = 200, lo = -1, hi = 1, seed = 3 }:x():get(7, 2) == x:get(7, 2), 'same seed, same data')
check(D.sum_of_two { n = 200, lo = -1, hi = 1, seed = 4 }:x():get(7, 2) ~= x:get(7, 2), 'another seed, other data')
checkerror(function() D.sum_of_two { n = 10, lo = 1, hi = 1 } end, 'lo < hi')
checkerror(function() D.sum_of_two { n = 0 } end, "'n' must be >= 1")

-- loaders
local function epoch_ids(it)
  local ids, sizes = {}, {}
  for xb, yb in it do
    sizes[#sizes + 1] = xb:size(1)
    for i = 1, xb:size(1) do
      local id = math.tointeger(xb:get(i, 1))
      check(xb:get(i, 2) == 10 * id and yb:get(i) == id % 3, 'x and y rows stay paired')
      ids[#ids + 1] = id
    end
  end
  return ids, sizes
end
local it = D.loader(ds, { batch = 4, seed = 7 })
check(it:batches_per_epoch() == 3 and #it == 3, 'batches per epoch keeps the partial batch')
local e0, sizes = epoch_ids(it)
check(#e0 == N and sizes[3] == 2, 'an epoch has every row, last batch partial')
local seen = {}
for _, id in ipairs(e0) do seen[id] = (seen[id] or 0) + 1 end
local once = true
for i = 0, N - 1 do once = once and seen[i] == 1 end
check(once, 'each row exactly once per epoch')
check(it:epoch() == 1, 'epoch counter advanced')
local e1 = epoch_ids(it)
check(table.concat(e0, ',') ~= table.concat(e1, ','), 'epochs are reshuffled')
local it2 = D.loader(ds, { batch = 4, seed = 7 })
check(table.concat(epoch_ids(it2), ',') == table.concat(e0, ','), 'same seed, same order')
it2:reset(1)
check(table.concat(epoch_ids(it2), ',') == table.concat(e1, ','), 'reset(1) replays epoch 1')
local it3 = D.loader(ds, { batch = 4, seed = 8 })
check(table.concat(epoch_ids(it3), ',') ~= table.concat(e0, ','), 'another seed, another order')
local plain = D.loader(ds, { batch = 4, shuffle = false, drop_last = true })
local ids
ids, sizes = epoch_ids(plain)
check(table.concat(ids, ',') == '0,1,2,3,4,5,6,7' and #sizes == 2, 'unshuffled, partial batch dropped')
local a1, b1 = plain:next()
local a2 = plain:next()
check(rawequal(a1, a2), 'batch tensors are reused between calls')
check(a1:get(1, 1) == 4, 'and overwritten by the next batch')
check(it:order()[1] ~= nil and #it:order() == N, 'order() lists the epoch permutation')
checkerror(function() D.loader(ds, { batch = 0 }) end, "'batch' must be >= 1")
checkerror(function() D.loader(ds, { bach = 4 }) end, "unknown option 'bach'")
checkerror(function() D.loader(42) end, 'lotto.dataset expected')
checkerror(function() it:reset(-1) end, 'epoch must be >= 0')

-- crafted MNIST-like IDX files, the labels gzip-free and images plain, through D.mnist{dir=}
local dir = tmp .. '/test_data_lua_mnist'
assert(lotto.fs.mkdir_p(dir))
local function be32(v) return string.pack('>I4', v) end
local function write(path, s)
  local f = assert(io.open(path, 'wb')); f:write(s); f:close()
end
local function images(n)
  local t = { be32(0x803), be32(n), be32(2), be32(2) }
  for i = 0, n - 1 do t[#t + 1] = string.char(i, 255, 0, 51) end
  return table.concat(t)
end
local function labs(n)
  local t = { be32(0x801), be32(n) }
  for i = 0, n - 1 do t[#t + 1] = string.char(i % 10) end
  return table.concat(t)
end
write(dir .. '/train-images-idx3-ubyte', images(12))
write(dir .. '/train-labels-idx1-ubyte', labs(12))
write(dir .. '/t10k-images-idx3-ubyte', images(4))
write(dir .. '/t10k-labels-idx1-ubyte', labs(4))
local m = D.mnist { dir = dir, val = 2 }
check(m.train:size() == 10 and m.val:size() == 2 and m.test:size() == 4, 'crafted split sizes')
check(m.train:x():dim() == 4 and m.train:x():size(2) == 1, 'images are (N, 1, R, C)')
check(near(m.train:x():get(1, 1, 1, 2), 1) and near(m.train:x():get(1, 1, 2, 2), 0.2), 'pixels scaled to [0, 1]')
check(m.val:y():get(1) == 0 and m.val:x():get(2, 1, 1, 1) * 255 > 10.5, 'val is the last training rows')
local mc = D.mnist { dir = dir, val = 2, normalize = 'channel' }
local cm = mc.train:channel_stats()
check(near(cm[1], 0, 1e-5) and near(mc.mean[1], m.train:x():mean(), 1e-5), 'channel normalisation uses train stats')
check(D.mnist { dir = dir, val = 0 }.val == nil, 'val = 0 gives no validation set')
checkerror(function() D.mnist { dir = dir, val = 12 } end, 'must leave training rows')
checkerror(function() D.mnist { dir = dir, normalize = 'z' } end, "'01' or 'channel'")
write(dir .. '/t10k-labels-idx1-ubyte', labs(3))
checkerror(function() D.mnist { dir = dir } end, '4 images but')
os.remove(dir .. '/t10k-labels-idx1-ubyte')
checkerror(function() D.mnist { dir = dir } end, 'MNIST not found in ' .. dir)
check(not D.available('mnist', dir), 'available is false without the files')
checkerror(function() D.load('imagenet') end, "unknown data set 'imagenet'")
for _, f in ipairs { 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte' } do os.remove(dir .. '/' .. f) end
os.remove(dir)

-- crafted CIFAR-10 batches: one record per training file, two in the test file
local cdir = tmp .. '/test_data_lua_cifar'
assert(lotto.fs.mkdir_p(cdir))
local function record(label, v) return string.char(label) .. string.char(v):rep(1024) .. string.char(v + 1):rep(1024) .. string.char(v + 2):rep(1024) end
for b = 1, 5 do write(cdir .. '/data_batch_' .. b .. '.bin', record(b, 10 * b)) end
write(cdir .. '/test_batch.bin', record(0, 0) .. record(9, 100))
local c10 = D.cifar10 { dir = cdir, val = 1 }
check(c10.train:size() == 4 and c10.val:size() == 1 and c10.test:size() == 2, 'CIFAR split sizes')
local cx = c10.train:x()
check(cx:size(2) == 3 and cx:size(3) == 32 and cx:size(4) == 32, 'CIFAR x is (N, 3, 32, 32)')
check(near(cx:get(2, 3, 32, 32), 22 / 255) and c10.train:y():get(2) == 2, 'batch files in order, CHW planes')
check(c10.val:y():get(1) == 5 and c10.test:y():get(2) == 9, 'CIFAR labels')
local cn = D.cifar10 { dir = cdir, val = 1, normalize = 'channel' }
check(#cn.mean == 3 and near(cn.mean[1], 25 / 255, 1e-6), 'per-channel means of the training rows')
write(cdir .. '/test_batch.bin', record(0, 0):sub(1, 3000))
checkerror(function() D.cifar10 { dir = cdir } end, 'not a whole number of 3073-byte')
for b = 1, 5 do os.remove(cdir .. '/data_batch_' .. b .. '.bin') end
os.remove(cdir .. '/test_batch.bin')
os.remove(cdir)

-- real MNIST, when `make data` has fetched it
if not D.available('mnist') then
  print('test_data: MNIST not present, skipping the real-data checks (' .. select(2, D.find('mnist')) .. ')')
else
  local mn = D.mnist {}
  check(mn.train:size() == 55000 and mn.val:size() == 5000 and mn.test:size() == 10000, 'MNIST 55000/5000/10000')
  check(mn.train:y():get(1) == 5, 'the first MNIST training label is 5')
  local yy = mn.test:y()
  check(yy:min() == 0 and yy:max() == 9, 'labels in 0..9')
  local xx = mn.train:x()
  check(xx:min() == 0 and xx:max() == 1, 'pixels in [0, 1]')
  check(near(xx:mean(), 0.1307, 0.002), 'mean pixel near 0.1307: ' .. xx:mean())
  check(tostring(mn.train) == 'dataset(55000 × 1×28×28, 10 classes)', tostring(mn.train))
end
if D.available('fashion_mnist') then
  local fm = D.fashion_mnist { val = 5000 }
  check(fm.train:size() == 55000 and fm.test:size() == 10000, 'Fashion-MNIST from .gz files')
  check(fm.train:y():get(1) == 9, 'the first Fashion-MNIST training label is 9 (ankle boot)')
end

C.report()
