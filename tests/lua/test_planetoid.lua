-- test_planetoid.lua: the converted Planetoid files (lotto.data.planetoid): the real Cora and
-- Citeseer counts, a tiny crafted file read back exactly, and damaged files refused by name.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local D = require 'lotto.data'
local io_ = require 'lotto.io'
local tensor = require 'lotto.tensor'

local tmp = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/planetoid_' .. tostring(os.time()) .. '_' .. tostring(math.random(1e6))
os.execute('mkdir -p ' .. tmp)

-- ---- a tiny crafted file: 5 nodes, 3 features, 2 classes, node 4 unlabelled ----
local tiny = {
  features = tensor.new { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 }, { 1, 1, 0 }, { 0, 0, 0 } },
  labels = tensor.new { 0, 1, 1, 0, -1 },
  edges = tensor.new { { 0, 1 }, { 1, 2 }, { 2, 3 }, { 3, 4 } },
  train = tensor.new { 0, 1 }, val = tensor.new { 2 }, test = tensor.new { 3 },
}
local I32 = { labels = 'I32', edges = 'I32', train = 'I32', val = 'I32', test = 'I32' }
local function save(path, t, meta)
  io_.save(path, t, { dtypes = I32, metadata = meta or { name = 'tiny', classes = '2' } })
  return path
end
local function with(key, value)
  local t = {}
  for k, v in pairs(tiny) do t[k] = v end
  t[key] = value
  return t
end

local good = save(tmp .. '/tiny.safetensors', tiny)
local g = assert(D.read_planetoid(good))
T.check_eq({ g.nodes, g.features, g.classes, g.name }, { 5, 3, 2, 'tiny' }, 'tiny counts')
T.check_eq(g.edges:totable(), { { 0, 1 }, { 1, 2 }, { 2, 3 }, { 3, 4 } }, 'edges read back')
T.check_eq(g.y:totable(), { 0, 1, 1, 0, -1 }, 'labels read back, -1 kept')
T.check_eq(g.x:get(4, 2), 1.0, 'feature (node 3, feature 1)')
T.check_eq({ g.train:totable(), g.val:totable(), g.test:totable() }, { { 0, 1 }, { 2 }, { 3 } }, 'split')
-- through D.planetoid with a directory: the file must be named after the set
os.execute(('mkdir -p %s/pl && cp %s %s/pl/cora.safetensors'):format(tmp, good, tmp))
T.check_eq(D.planetoid({ name = 'cora', dir = tmp .. '/pl' }).nodes, 5, 'planetoid{dir =} reads <dir>/cora.safetensors')

-- ---- damaged files: nil, message naming what is wrong; D.planetoid raises the same ----
local function refused(path, pattern, what)
  local ok, err = D.read_planetoid(path)
  T.check(ok == nil and type(err) == 'string' and err:find(pattern) ~= nil,
    what .. ': expected nil + /' .. pattern .. '/, got ' .. tostring(err))
end
local f = assert(io.open(good, 'rb'))
local bytes = f:read('a')
f:close()
local function write(path, s)
  local h = assert(io.open(path, 'wb'))
  h:write(s)
  h:close()
  return path
end
refused(write(tmp .. '/trunc.safetensors', bytes:sub(1, #bytes - 7)), 'trunc.safetensors', 'truncated data')
refused(write(tmp .. '/head.safetensors', bytes:sub(1, 20)), 'head.safetensors', 'truncated header')
refused(write(tmp .. '/junk.safetensors', ('\255'):rep(64)), 'junk.safetensors', 'not a safetensors file')
refused(tmp .. '/absent.safetensors', 'absent', 'missing file')
local nolabels = with('labels', nil)
refused(save(tmp .. '/nolabels.safetensors', nolabels), "entry 'labels' is missing", 'missing entry')
refused(save(tmp .. '/flabels.safetensors', tiny, { name = 'tiny' }), "metadata 'classes'", 'no classes metadata')
refused(save(tmp .. '/edge.safetensors', with('edges', tensor.new { { 0, 5 } })), "'edges' holds node ids outside 0..4",
  'edge to node 5 of 5')
refused(save(tmp .. '/label.safetensors', with('labels', tensor.new { 0, 1, 2, 0, 0 })), 'labels outside %-1..1',
  'label 2 with 2 classes')
refused(save(tmp .. '/split.safetensors', with('test', tensor.new { 4 })), "'test' holds the unlabelled node 4",
  'unlabelled test node')
refused(save(tmp .. '/rows.safetensors', with('labels', tensor.new { 0, 1, 1, 0 })), 'labels has 4 rows, features 5',
  'label count')
local ftypes = {}
for k, v in pairs(I32) do ftypes[k] = v end
ftypes.edges = nil
io_.save(tmp .. '/fedges.safetensors', tiny, { dtypes = ftypes, metadata = { classes = '2' } })
refused(tmp .. '/fedges.safetensors', "entry 'edges' is F32 with 2 dims, expected I32", 'float edges')
T.checkerror(function() D.planetoid { name = 'cora', dir = tmp .. '/trunc' } end, 'make data')
T.checkerror(function() D.planetoid { name = 'pubmed' } end, "unknown graph data set 'pubmed'")
T.checkerror(function() D.planetoid { name = 'cora', split = 1 } end, "unknown option 'split'")
os.execute('rm -rf ' .. tmp)

-- ---- the real files (make data) ----
local real = {
  cora = { nodes = 2708, edges = 5278, features = 1433, classes = 7, train = 140 },
  citeseer = { nodes = 3327, edges = 4552, features = 3703, classes = 6, train = 120 },
}
for name, want in pairs(real) do
  if not D.planetoid_path(name) then T.skip(select(2, D.planetoid_path(name))) end
  local p = D.planetoid(name)
  T.check_eq({ p.nodes, p.edges:size(1), p.features, p.classes }, { want.nodes, want.edges, want.features, want.classes },
    name .. ': nodes, undirected edges, features, classes')
  T.check_eq({ p.train:numel(), p.val:numel(), p.test:numel() }, { want.train, 500, 1000 }, name .. ': split sizes')
  T.check_eq({ p.train:get(1), p.train:get(want.train), p.val:get(1), p.val:get(500) },
    { 0, want.train - 1, want.train, want.train + 499 }, name .. ': train and val are consecutive node ranges')
  -- undirected pairs u < v, so 2E directed entries without self-loops
  local u, v = p.edges:select(2, 1), p.edges:select(2, 2)
  T.check((v:sub(u)):min() >= 1, name .. ': every edge has u < v (no self-loops, one entry per pair)')
  T.check_eq(p.y:max(), want.classes - 1, name .. ': labels reach the last class')
  -- Kipf & Welling's counts: Cora's training nodes hold 20 of each class
  if name == 'cora' then
    local counts = {}
    for i = 1, 140 do
      local c = math.tointeger(p.y:get(i))
      counts[c] = (counts[c] or 0) + 1
    end
    T.check_eq(counts, { [0] = 20, 20, 20, 20, 20, 20, 20 }, 'cora: 20 training nodes per class')
  end
end
T.report()
