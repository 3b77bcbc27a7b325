-- lotto.data: data sets (MNIST, Fashion-MNIST, CIFAR-10, Planetoid graphs, synthetic, from tensors)
-- and seeded batch loaders. Files are parsed in C (lotto.core.data); this file
-- finds them, splits off validation rows and normalises.
--
--   local D = lotto.data
--   local mnist = D.mnist{ val = 5000 }          -- {train = ds, val = ds, test = ds}
--   local it = D.loader(mnist.train, { batch = 60, seed = 1 })
--   for xb, yb in it do ... end                  -- one epoch; xb, yb are overwritten by the next batch
local core = require 'lotto.core.data'
local tensor = require 'lotto.tensor'
local U = require 'lotto.util'
local fs = require 'lotto.fs'

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
              fetch = 'run `make data CIFAR=1` (it downloads cifar-10-binary.tar.gz from www.cs.toronto.edu/~kriz) or set LOTTO_DATA' },
}
SETS['fashion-mnist'] = SETS.fashion_mnist
SETS['cifar-10'] = SETS.cifar10

local function fail(where, msg) U.fail('lotto.data.' .. where, msg) end

local function exists(path) return fs.exists(path) and not fs.isdir(path) end

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

-- The command that fetches MNIST and Fashion-MNIST where this lotto runs: `make data` in
-- a source tree, the installed fetch script otherwise.
local function fetch_command()
  local root = rawget(_G, 'LOTTO_ROOT') or os.getenv('LOTTO_SOURCE_DIR')
  if root and fs.exists(root .. '/Makefile') and fs.exists(root .. '/scripts/fetch_data.sh') then
    return ('make -C %s data'):format(root)
  elseif root and fs.exists(root .. '/scripts/fetch_data.sh') then
    return ('sh %s/scripts/fetch_data.sh'):format(root)
  end
  return 'make data (in the lotto source tree)'
end

-- The files a set needs under its directory, for messages.
local function layout(set)
  local names = {}
  if set.idx then
    for _, part in ipairs { set.idx.train, set.idx.test } do
      for _, f in ipairs(part) do names[#names + 1] = f .. '[.gz]' end
    end
  else
    for _, list in ipairs { set.train, set.test } do
      for _, f in ipairs(list) do names[#names + 1] = f end
    end
  end
  return ('<data>/%s/{%s}'):format(set.sub, table.concat(names, ', '))
end

-- Candidate directories: $LOTTO_DATA/<sub> alone when LOTTO_DATA is set (a wrong
-- LOTTO_DATA is an error, not a silent fall-back); else ./data/<sub>, <source root>/data/<sub>.
local function candidates(set)
  local out, seen = {}, {}
  local function add(base)
    if base and base ~= '' then
      local d = base .. '/' .. set.sub
      if not seen[d] then seen[d] = true; out[#out + 1] = d end
    end
  end
  local env = os.getenv('LOTTO_DATA')
  if env and env ~= '' then
    add(env)
    return out, env
  end
  add('./data')
  local root = rawget(_G, 'LOTTO_ROOT') or os.getenv('LOTTO_SOURCE_DIR')
  if root and root ~= '' then add(root .. '/data') end
  return out
end

-- D.find(name[, dir]) -> the directory holding data set `name`, or nil, message.
function D.find(name, dir)
  local set = SETS[name]
  if not set then
    return nil, ("unknown data set '%s' (mnist, fashion_mnist, cifar10)%s"):format(tostring(name),
      U.did_you_mean(name, { 'mnist', 'fashion_mnist', 'cifar10' }))
  end
  local dirs, env
  if dir then dirs = { dir } else dirs, env = candidates(set) end
  for _, d in ipairs(dirs) do
    if files_present(set, d) then return d end
  end
  local fetch = set.idx and ('run `%s`%s'):format(fetch_command(), env and '' or ' or set LOTTO_DATA') or set.fetch
  if env then
    return nil, ('%s not found under LOTTO_DATA=%s: expected %s (with <data> = %s); %s'):format(set.title, env,
      layout(set), env, fetch)
  end
  local also = #dirs > 1 and (' (also searched: ' .. table.concat(dirs, ', ', 2) .. ')') or ''
  return nil, ('%s not found in %s%s: expected %s; %s'):format(set.title, dirs[1], also, layout(set), fetch)
end

-- D.available(name) -> true when the data set's files are present.
function D.available(name, dir) return D.find(name, dir) ~= nil end

local function check_opts(where, opts, allowed) return U.check_options(opts, allowed, 'lotto.data.' .. where) end

local function int_opt(where, opts, key, default, min) return U.int_opt(opts, key, default, min, 'lotto.data.' .. where) end

-- ds with its images zero-padded by pad pixels on every side and, when channels is given,
-- a one-channel image replicated to that many channels (28x28 MNIST -> 3x32x32 with pad = 2,
-- channels = 3, for the models made for CIFAR-10).
local function padded(ds, pad, channels, classes, where)
  local x = ds:x()
  local s = x:shape()
  if #s ~= 4 then fail(where, "options 'pad' and 'channels' need images (N, C, H, W)") end
  local C = channels or s[2]
  if C ~= s[2] and s[2] ~= 1 then
    fail(where, ("option 'channels' (%d) can only replicate a one-channel image (these have %d)"):format(C, s[2]))
  end
  local out = tensor.zeros { s[1], C, s[3] + 2 * pad, s[4] + 2 * pad }
  for c = 1, C do
    out:narrow(2, c, 1):narrow(3, pad + 1, s[3]):narrow(4, pad + 1, s[4]):copy(x:narrow(2, s[2] == 1 and 1 or c, 1))
  end
  return core.from_tensors(out, ds:y(), classes)
end

-- Loads train and test, splits off val, normalises; returns {train, val, test, ...}.
local function load_set(name, opts)
  local where = name
  opts = check_opts(where, opts, { dir = true, val = true, normalize = true, pad = true, channels = true })
  local set = SETS[name]
  local pad = int_opt(where, opts, 'pad', 0, 0)
  local channels = opts.channels ~= nil and int_opt(where, opts, 'channels', 1, 1) or nil
  local val = int_opt(where, opts, 'val', 5000, 0)
  local norm = opts.normalize or '01'
  if norm ~= '01' and norm ~= 'channel' then
    fail(where, ("option 'normalize' must be '01' or 'channel' (got %s)"):format(tostring(norm)))
  end
  local dir, err = D.find(name, opts.dir)
  if not dir then U.raise(err) end
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
  if not (full and test) then U.raise(('%s: %s'):format(set.title, err)) end
  if pad > 0 or channels then
    full, test = padded(full, pad, channels, set.classes, where), padded(test, pad, channels, set.classes, where)
  end
  if val >= full:size() then
    fail(where, ("option 'val' (%d) must leave training rows (%d in total)"):format(val, full:size()))
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

-- D.mnist{dir =, val = 5000, normalize = '01'|'channel', pad = 0, channels =} -> {train =, val =, test =,
-- classes = 10, ...}; pad = 2 makes 32x32 images (zeros around), channels = 3 replicates the grey channel.
function D.mnist(opts) return load_set('mnist', opts) end
-- D.fashion_mnist{...}: the same for data/fashion-mnist (gzipped IDX files).
function D.fashion_mnist(opts) return load_set('fashion_mnist', opts) end
-- D.cifar10{...}: data/cifar-10-batches-bin; x is (N, 3, 32, 32).
function D.cifar10(opts) return load_set('cifar10', opts) end

-- D.pad(ds, {pad = 2, channels =, classes = 10}) -> a new data set: images zero-padded by pad pixels
-- on every side, a one-channel image replicated to channels (what load's pad and channels do).
function D.pad(ds, opts)
  opts = check_opts('pad', opts, { pad = true, channels = true, classes = true })
  if not U.is_dataset(ds) then fail('pad', 'expected a data set') end
  local ch = opts.channels ~= nil and int_opt('pad', opts, 'channels', 1, 1) or nil
  return padded(ds, int_opt('pad', opts, 'pad', 0, 0), ch, int_opt('pad', opts, 'classes', ds:classes(), 0), 'pad')
end

-- D.load(name, opts): any of the above by name.
function D.load(name, opts)
  if not SETS[name] then U.raise(select(2, D.find(name))) end
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
    fail('sum_of_two', ("need numbers lo < hi (got %s, %s)"):format(tostring(lo), tostring(hi)))
  end
  return core.sum_of_two(n, lo, hi, opts.seed or 1)
end

-- D.loader(ds, {batch = 60, seed = 1, shuffle = true, drop_last = false}) -> it.
-- it:next() -> xb, yb (reused: the next call overwrites them), or nil at the end of an
-- epoch, after which the next epoch (reshuffled) begins; `for xb, yb in it do` runs one epoch.
-- Epoch e's order depends only on (seed, e): it:reset(e[, batch]) resumes anywhere.
-- augment = true (crop 4 and flip, the CIFAR standard) or {crop = pixels, flip = bool}: each
-- batch's images are shifted by a random crop of their zero-padded selves and mirrored half the
-- time, drawn from (seed, epoch, batch) on the loader's own stream (lotto.rng.streams.augment).
-- transposed = true: xb comes as (B, features) with strides (1, ld), ld = B rounded up to 16:
-- each feature's B values contiguous, the layout the sparse kernels work in, so a model whose
-- first layers take it (model:takes_transposed(): flatten, then linear) skips a transpose per
-- step; gathered and transposed in one pass. Not with augment.
function D.loader(ds, opts)
  opts = check_opts('loader', opts, { batch = true, seed = true, shuffle = true, drop_last = true, augment = true,
    transposed = true })
  local batch = int_opt('loader', opts, 'batch', 60, 1)
  local seed = int_opt('loader', opts, 'seed', 1, math.mininteger)
  local crop, flip = D.augment_options(opts.augment, 'loader')
  local tr = opts.transposed
  if tr ~= nil and type(tr) ~= 'boolean' then fail('loader', "option 'transposed' must be a boolean") end
  if tr and (crop > 0 or flip) then fail('loader', "option 'transposed' cannot be used with 'augment'") end
  return core.loader(ds, batch, seed, opts.shuffle ~= false, opts.drop_last == true, crop, flip, tr == true)
end

-- augment option -> crop pixels, flip: nil/false (none), true (4, true) or {crop =, flip =}.
function D.augment_options(a, where)
  if a == nil or a == false then return 0, false end
  if a == true then return 4, true end
  if type(a) ~= 'table' then fail(where, "option 'augment' must be true, false or {crop = 4, flip = true}") end
  check_opts(where .. '{augment}', a, { crop = true, flip = true })
  local crop = int_opt(where, a, 'crop', 0, 0)
  if crop > 64 then fail(where, "option 'augment.crop' must be in [0, 64]") end
  if a.flip ~= nil and type(a.flip) ~= 'boolean' then fail(where, "option 'augment.flip' must be a boolean") end
  return crop, a.flip == true
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(D, {
    mnist = "mnist{dir =, val = 5000, normalize = '01'|'channel', pad = 0, channels =} -> {train, val, test}: val is the last val training rows; pad = 2, channels = 3 give 3x32x32",
    fashion_mnist = "fashion_mnist{...} -> {train, val, test}: as mnist, from data/fashion-mnist",
    cifar10 = "cifar10{...} -> {train, val, test}: x (N, 3, 32, 32), from data/cifar-10-batches-bin",
    load = 'load(name, opts) -> {train, val, test}: mnist, fashion_mnist or cifar10 by name',
    pad = 'pad(ds, {pad =, channels =}) -> ds: images zero-padded (and a grey channel replicated)',
    available = 'available(name) -> true when the files of data set name are present',
    find = 'find(name[, dir]) -> dir, or nil, message naming the directories searched',
    from_tensors = 'from_tensors(x, y, {classes = C}) -> ds: y class ids 0..C-1, or (N, k) targets with classes 0',
    sum_of_two = 'sum_of_two{n =, lo =, hi =, seed =} -> ds: x (n, 2) uniform, y = x1 + x2',
    planetoid = "planetoid('cora'|'citeseer' or {name =, dir =}) -> g: x (N, F), y (N), edges (E, 2), train/val/test node ids",
    planetoid_path = 'planetoid_path(name[, dir]) -> path of the converted file, or nil, message naming `make data`',
    read_planetoid = 'read_planetoid(path) -> g, or nil, message: a converted Planetoid file, checked',
    loader = 'loader(ds, {batch =, seed =, shuffle = true, drop_last = false, augment = false|true|{crop =, flip =}, transposed = false}) -> it: it:next() -> xb, yb (reused) or nil',
  })
end

return D
