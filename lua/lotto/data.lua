-- lotto.data: data sets (MNIST, Fashion-MNIST, CIFAR-10, Planetoid graphs, synthetic, from tensors)
-- and seeded batch loaders. Files are parsed in C (lotto.core.data); this file
-- finds them, splits off validation rows and normalises.
--
--   local D = lotto.data
--   local mnist = D.mnist{ val = 5000 }          -- {train = ds, val = ds, test = ds}
--   local it = D.loader(mnist.train, { batch = 60, seed = 1 })
--   for xb, yb in it do ... end                  -- one epoch; xb, yb are overwritten by the next batch
local core = require 'lotto.core.data'

local D = {}

-- Known file sets: where they live under the data directory, and their files.
local idx_files = {
  train = { 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte' },
  test = { 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte' },
}
local SETS = {
  mnist = { title = 'MNIST', sub = 'mnist', idx = idx_files, classes = 10,
            fetch = 'run `make data` or set LOTTO_DATA' },
  fashion_mnist = { title = 'Fashion-MNIST', sub = 'fashion-mnist', idx = idx_files, classes = 10,
                    fetch = 'run `make data` or set LOTTO_DATA' },
  cifar10 = { title = 'CIFAR-10', sub = 'cifar-10-batches-bin', classes = 10,
              train = { 'data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin' },
              test = { 'test_batch.bin' },
              fetch = 'extract https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz into the data directory or set LOTTO_DATA' },
}
SETS['fashion-mnist'] = SETS.fashion_mnist
SETS['cifar-10'] = SETS.cifar10

local function fail(where, msg, level) error(('lotto.data.%s: %s'):format(where, msg), (level or 1) + 1) end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() return true end
  return false
end

-- Every file a set needs (IDX files may be gzipped).
local function files_present(set, dir)
  if set.idx then
    for _, part in pairs(set.idx) do
      for _, f in ipairs(part) do
        local p = dir .. '/' .. f
        if not exists(p) and not exists(p .. '.gz') then return false end
      end
    end
    return true
  end
  for _, list in ipairs { set.train, set.test } do
    for _, f in ipairs(list) do
      if not exists(dir .. '/' .. f) then return false end
    end
  end
  return true
end

-- Candidate directories: $LOTTO_DATA/<sub>, ./data/<sub>, <source root>/data/<sub>.
local function candidates(set)
  local out, seen = {}, {}
  local function add(base)
    if base and base ~= '' then
      local d = base .. '/' .. set.sub
      if not seen[d] then seen[d] = true; out[#out + 1] = d end
    end
  end
  add(os.getenv('LOTTO_DATA'))
  add('./data')
  local root = rawget(_G, 'LOTTO_ROOT') or os.getenv('LOTTO_SOURCE_DIR')
  if root and root ~= '' then add(root .. '/data') end
  return out
end

-- D.find(name[, dir]) -> the directory holding data set `name`, or nil, message.
function D.find(name, dir)
  local set = SETS[name]
  if not set then return nil, ("unknown data set '%s' (mnist, fashion_mnist, cifar10)"):format(tostring(name)) end
  local dirs = dir and { dir } or candidates(set)
  for _, d in ipairs(dirs) do
    if files_present(set, d) then return d end
  end
  local also = #dirs > 1 and (' (also searched: ' .. table.concat(dirs, ', ', 2) .. ')') or ''
  return nil, ('%s not found in %s%s: %s'):format(set.title, dirs[1], also, set.fetch)
end

-- D.available(name) -> true when the data set's files are present.
function D.available(name, dir) return D.find(name, dir) ~= nil end

local function check_opts(where, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= 'table' then fail(where, 'expected an options table', 3) end
  for k in pairs(opts) do
    if not allowed[k] then fail(where, ("unknown option '%s'"):format(tostring(k)), 3) end
  end
  return opts
end

local function int_opt(where, opts, key, default, min)
  local v = opts[key]
  if v == nil then return default end
  if math.type(v) ~= 'integer' and not (type(v) == 'number' and v == math.floor(v)) then
    fail(where, ("option '%s' must be an integer (got %s)"):format(key, tostring(v)), 3)
  end
  v = math.tointeger(v)
  if v < min then fail(where, ("option '%s' must be >= %d (got %d)"):format(key, min, v), 3) end
  return v
end

-- Loads train and test, splits off val, normalises; returns {train, val, test, ...}.
local function load_set(name, opts)
  local where = name
  opts = check_opts(where, opts, { dir = true, val = true, normalize = true })
  local set = SETS[name]
  local val = int_opt(where, opts, 'val', 5000, 0)
  local norm = opts.normalize or '01'
  if norm ~= '01' and norm ~= 'channel' then
    fail(where, ("option 'normalize' must be '01' or 'channel' (got %s)"):format(tostring(norm)), 2)
  end
  local dir, err = D.find(name, opts.dir)
  if not dir then error(err, 2) end
  local full, test
  if set.idx then
    local tr, te = set.idx.train, set.idx.test
    full, err = core.load_idx(dir .. '/' .. tr[1], dir .. '/' .. tr[2], set.classes)
    if full then test, err = core.load_idx(dir .. '/' .. te[1], dir .. '/' .. te[2], set.classes) end
  else
    local function paths(list)
      local out = {}
      for i, f in ipairs(list) do out[i] = dir .. '/' .. f end
      return out
    end
    full, err = core.load_cifar10(paths(set.train))
    if full then test, err = core.load_cifar10(paths(set.test)) end
  end
  if not (full and test) then error(('%s: %s'):format(set.title, err), 2) end
  if val >= full:size() then
    fail(where, ("option 'val' (%d) must leave training rows (%d in total)"):format(val, full:size()), 2)
  end
  local train, valset = full:split(val)
  local out = { train = train, val = val > 0 and valset or nil, test = test, classes = set.classes, dir = dir,
                name = name, normalize = norm }
  if norm == 'channel' then
    -- statistics of the training rows only; normalising `full` in place covers train and val
    out.mean, out.std = train:channel_stats()
    full:normalize(out.mean, out.std)
    test:normalize(out.mean, out.std)
  end
  return out
end

-- D.mnist{dir =, val = 5000, normalize = '01'|'channel'} -> {train =, val =, test =, classes = 10, ...}
function D.mnist(opts) return load_set('mnist', opts) end
-- D.fashion_mnist{...}: the same for data/fashion-mnist (gzipped IDX files).
function D.fashion_mnist(opts) return load_set('fashion_mnist', opts) end
-- D.cifar10{...}: data/cifar-10-batches-bin; x is (N, 3, 32, 32).
function D.cifar10(opts) return load_set('cifar10', opts) end

-- D.load(name, opts): any of the above by name.
function D.load(name, opts)
  if not SETS[name] then error(select(2, D.find(name)), 2) end
  return load_set(name, opts)
end

-- ---- graphs: the Planetoid citation sets (Cora, Citeseer), converted by `make data` ----
local PLANETOID = {
  cora = { title = 'Cora', file = 'cora.safetensors' },
  citeseer = { title = 'Citeseer', file = 'citeseer.safetensors' },
}
local PLANETOID_FETCH = 'run `make data` (it converts the raw Planetoid files; needs python3-numpy and '
  .. 'python3-scipy from `make deps`) or set LOTTO_DATA'

-- D.planetoid_path(name[, dir]) -> the converted file of Cora or Citeseer, or nil, message.
function D.planetoid_path(name, dir)
  local set = PLANETOID[name]
  if not set then return nil, ("unknown graph data set '%s' (cora, citeseer)"):format(tostring(name)) end
  local dirs = dir and { dir } or candidates { sub = 'planetoid' }
  for _, d in ipairs(dirs) do
    if exists(d .. '/' .. set.file) then return d .. '/' .. set.file end
  end
  local also = #dirs > 1 and (' (also searched: ' .. table.concat(dirs, ', ', 2) .. ')') or ''
  return nil, ('%s not found in %s%s: %s'):format(set.title, dirs[1], also, PLANETOID_FETCH)
end

-- Every entry of a converted file: dtype, rank, and which dims must agree.
local PLANETOID_ENTRIES = {
  features = { 'F32', 2 }, labels = { 'I32', 1 }, edges = { 'I32', 2 },
  train = { 'I32', 1 }, val = { 'I32', 1 }, test = { 'I32', 1 },
}

-- D.read_planetoid(path) -> g, or nil, message: the converted file checked through
-- (dtypes, shapes, label and index ranges), so a damaged file is a message, not a crash.
function D.read_planetoid(path)
  local io_ = require 'lotto.io'
  local info, meta = io_.info(path)
  if not info then return nil, meta end
  local function bad(fmt, ...) return nil, ('%s: ' .. fmt):format(path, ...) end
  for key, want in pairs(PLANETOID_ENTRIES) do
    local e = info[key]
    if not e then return bad("entry '%s' is missing (not a lotto Planetoid file?)", key) end
    if e.dtype ~= want[1] or #e.shape ~= want[2] then
      return bad("entry '%s' is %s with %d dims, expected %s with %d", key, e.dtype, #e.shape, want[1], want[2])
    end
  end
  local n, f = info.features.shape[1], info.features.shape[2]
  if info.labels.shape[1] ~= n then return bad('labels has %d rows, features %d', info.labels.shape[1], n) end
  if info.edges.shape[2] ~= 2 then return bad('edges must be (E, 2), got (%d, %d)', info.edges.shape[1], info.edges.shape[2]) end
  local classes = math.tointeger(tonumber(meta.classes or ''))
  if not classes or classes < 1 then return bad("metadata 'classes' is missing or not a positive integer") end
  local t, err = io_.load(path)
  if not t then return nil, err end
  if t.labels:min() < -1 or t.labels:max() >= classes then
    return bad('labels outside -1..%d', classes - 1)
  end
  for _, key in ipairs { 'edges', 'train', 'val', 'test' } do
    if t[key]:min() < 0 or t[key]:max() >= n then return bad("entry '%s' holds node ids outside 0..%d", key, n - 1) end
  end
  for _, key in ipairs { 'train', 'val', 'test' } do
    -- every split node is labelled (the padded Citeseer nodes are in no split)
    for i = 1, t[key]:numel() do
      if t.labels:get(math.tointeger(t[key]:get(i)) + 1) < 0 then
        return bad("entry '%s' holds the unlabelled node %d", key, math.tointeger(t[key]:get(i)))
      end
    end
  end
  return { name = meta.name, x = t.features, y = t.labels, edges = t.edges, train = t.train, val = t.val,
           test = t.test, nodes = n, features = f, classes = classes, path = path }
end

-- D.planetoid('cora'|'citeseer' or {name =, dir =}) -> g = {x = (N, F) features, y = (N) class ids
-- (-1: unlabelled), edges = (E, 2) undirected node pairs, train/val/test = node ids, nodes, features,
-- classes, name, path}. Node ids are 0-based, as in the file. Raises naming `make data` when absent.
function D.planetoid(opts)
  if type(opts) == 'string' then opts = { name = opts } end
  opts = check_opts('planetoid', opts, { name = true, dir = true })
  local name = opts.name or 'cora'
  local path, err = D.planetoid_path(name, opts.dir)
  if not path then fail('planetoid', err, 2) end
  local g
  g, err = D.read_planetoid(path)
  if not g then fail('planetoid', err, 2) end
  return g
end

-- D.from_tensors(x, y, {classes = C}) -> ds: y holds class ids 0..C-1 as floats (N), or
-- (N, k) targets when classes is 0/nil. Shares storage with x and y when they are contiguous.
function D.from_tensors(x, y, opts)
  opts = check_opts('from_tensors', opts, { classes = true })
  return core.from_tensors(x, y, int_opt('from_tensors', opts, 'classes', 0, 0))
end

-- D.sum_of_two{n = 1000, lo = -1, hi = 1, seed = 1} -> ds: x (n, 2) uniform in [lo, hi), y = x1 + x2 (n, 1).
-- seed may be an integer (stream lotto.rng.streams.data) or an rng.
function D.sum_of_two(opts)
  opts = check_opts('sum_of_two', opts, { n = true, lo = true, hi = true, seed = true })
  local n = int_opt('sum_of_two', opts, 'n', 1000, 1)
  local lo, hi = opts.lo or -1, opts.hi or 1
  if type(lo) ~= 'number' or type(hi) ~= 'number' or not (lo < hi) then
    fail('sum_of_two', ("need numbers lo < hi (got %s, %s)"):format(tostring(lo), tostring(hi)), 2)
  end
  return core.sum_of_two(n, lo, hi, opts.seed or 1)
end

-- D.loader(ds, {batch = 60, seed = 1, shuffle = true, drop_last = false}) -> it.
-- it:next() -> xb, yb (reused: the next call overwrites them), or nil at the end of an
-- epoch, after which the next epoch (reshuffled) begins; `for xb, yb in it do` runs one epoch.
-- Epoch e's order depends only on (seed, e): it:reset(e[, batch]) resumes anywhere.
function D.loader(ds, opts)
  opts = check_opts('loader', opts, { batch = true, seed = true, shuffle = true, drop_last = true })
  local batch = int_opt('loader', opts, 'batch', 60, 1)
  local seed = int_opt('loader', opts, 'seed', 1, math.mininteger)
  return core.loader(ds, batch, seed, opts.shuffle ~= false, opts.drop_last == true)
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(D, {
    mnist = "mnist{dir =, val = 5000, normalize = '01'|'channel'} -> {train, val, test}: val is the last val training rows",
    fashion_mnist = "fashion_mnist{...} -> {train, val, test}: as mnist, from data/fashion-mnist",
    cifar10 = "cifar10{...} -> {train, val, test}: x (N, 3, 32, 32), from data/cifar-10-batches-bin",
    load = 'load(name, opts) -> {train, val, test}: mnist, fashion_mnist or cifar10 by name',
    available = 'available(name) -> true when the files of data set name are present',
    find = 'find(name[, dir]) -> dir, or nil, message naming the directories searched',
    from_tensors = 'from_tensors(x, y, {classes = C}) -> ds: y class ids 0..C-1, or (N, k) targets with classes 0',
    sum_of_two = 'sum_of_two{n =, lo =, hi =, seed =} -> ds: x (n, 2) uniform, y = x1 + x2',
    planetoid = "planetoid('cora'|'citeseer' or {name =, dir =}) -> g: x (N, F), y (N), edges (E, 2), train/val/test node ids",
    planetoid_path = 'planetoid_path(name[, dir]) -> path of the converted file, or nil, message naming `make data`',
    read_planetoid = 'read_planetoid(path) -> g, or nil, message: a converted Planetoid file, checked',
    loader = 'loader(ds, {batch =, seed =, shuffle = true, drop_last = false}) -> it: it:next() -> xb, yb (reused) or nil',
  })
end

return D
