-- test_io.lua: lotto.io — safetensors round trips (F32, U8 masks, I32), metadata,
-- info, corrupt and missing files as nil, message, misuse as errors, atomic writes.
local lio = lotto.io
local T = lotto.tensor

package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local check = C.check
local function checkerror(fn, pattern) return C.checkerror(fn, pattern) end
local function same(a, b)
  if a:numel() ~= b:numel() then return false end
  local fa, fb = a:reshape(a:numel()), b:reshape(b:numel())
  for i = 1, a:numel() do
    if fa:get(i) ~= fb:get(i) then return false end
  end
  return true
end

local tmp = os.getenv('LOTTO_TEST_TMP') or '/tmp'
local path = tmp .. '/test_io_lua.safetensors'

-- round trip: floats bit-exact, a mask stored as U8, indices as I32
local w = T.new { { 0.1, -2.5, 3e-8 }, { 1e30, -0.0, 7 } }
local m = T.new { 0, 1, 0.5, -3 } -- nonzero -> 1 in U8
local idx = T.new { 0, 5, -7, 16777216 }
check(lio.save(path, { w = w, mask = m, idx = idx }, { dtypes = { mask = 'U8', idx = 'I32' }, metadata = { round = '3', n = 4 } }) == true, 'save returns true')
local t, meta = lio.load(path)
check(t ~= nil, 'load: ' .. tostring(meta))
check(same(t.w, w) and t.w:dim() == 2 and t.w:size(2) == 3, 'F32 round trip is exact, shape kept')
check(same(t.mask, T.new { 0, 1, 1, 1 }), 'U8 mask loads as 0/1')
check(same(t.idx, idx), 'I32 loads as float values')
check(meta.round == '3' and meta.n == '4', 'metadata strings (numbers converted)')
local info = lio.info(path)
check(info.mask.dtype == 'U8' and info.idx.dtype == 'I32' and info.w.dtype == 'F32', 'info dtypes')
check(info.w.shape[1] == 2 and info.w.shape[2] == 3, 'info shape')
local raw = lio.load(path, { i32 = 'table' })
check(type(raw.idx) == 'table' and raw.idx[3] == -7 and math.type(raw.idx[4]) == 'integer', 'I32 as a table of integers')

-- equal inputs give identical files (tensors stored in name order)
local bytes1 = lio.read_file(path)
lio.save(path, { idx = idx, mask = m, w = w }, { dtypes = { mask = 'U8', idx = 'I32' }, metadata = { n = '4', round = '3' } })
check(lio.read_file(path) == bytes1, 'saving is deterministic')
check(bytes1:sub(9, 9) == '{', 'header starts after 8 bytes')

-- strided views are saved by value
local big = T.arange(0, 12):reshape(3, 4)
local col = big:narrow(2, 2, 2)
lio.save(path, { col = col })
check(same(lio.load(path).col, col:contiguous()), 'a narrowed view saves its own values')

-- expected failures: nil, message
local r, err = lio.load(tmp .. '/does-not-exist.safetensors')
check(r == nil and err:find('does-not-exist', 1, true), 'missing file: nil, message naming it')
local f = io.open(path, 'wb')
f:write(string.pack('<I8', 1000), '{}')
f:close()
r, err = lio.load(path)
check(r == nil and err:find('exceeds the file size', 1, true), 'corrupt header length: ' .. tostring(err))
lio.write_atomic(path, string.pack('<I8', 50) .. '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' .. ('\0'):rep(8))
r, err = lio.load(path)
check(r == nil and err:find('not valid JSON', 1, true), 'header length cutting the JSON: ' .. tostring(err))
local hdr = '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}'
lio.write_atomic(path, string.pack('<I8', #hdr) .. hdr .. ('\0'):rep(8))
r, err = lio.load(path)
check(r == nil and err:find('needs 12 bytes', 1, true), 'shape/offset mismatch: ' .. tostring(err))
check(lio.info(path) == nil, 'info fails on the same file')
hdr = '{"a":{"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[0,8]}}'
lio.write_atomic(path, string.pack('<I8', #hdr) .. hdr .. ('\0'):rep(8))
r, err = lio.load(path)
check(r == nil and err:find('5 dims', 1, true), 'a 5-d tensor cannot load as a lotto tensor: ' .. tostring(err))
check(lio.info(path).a.shape[5] == 2, 'but info describes it')

-- misuse raises
checkerror(function() lio.save(path, { a = 1 }) end, 'not a tensor')
checkerror(function() lio.save(path, { w }) end, 'names must be strings')
checkerror(function() lio.save(path, { a = w }, { dtypes = { a = 'F64' } }) end, "must be 'F32'")
checkerror(function() lio.save(path, { a = T.new { 0.5 } }, { dtypes = { a = 'I32' } }) end, 'is not an int32')
checkerror(function() lio.save(path, { a = w }, { metadata = { k = {} } }) end, 'metadata must map strings')
r, err = lio.save(tmp .. '/no/such/dir/x.safetensors', { a = w })
check(r == nil and tostring(err):find('cannot create', 1, true), 'save into a missing directory: nil, message: ' .. tostring(err))
checkerror(function() lio.load(path, { i32 = 'list' }) end, "invalid option 'list'")
checkerror(function() lio.save() end, 'bad argument #1')

-- atomic text files
local p2 = tmp .. '/test_io_lua.txt'
check(lio.write_atomic(p2, 'hello\0world') == true, 'write_atomic returns true')
check(lio.read_file(p2) == 'hello\0world', 'read_file returns the bytes')
r, err = lio.read_file(tmp .. '/nope/none')
check(r == nil and type(err) == 'string', 'read_file of a missing file: nil, message')
r, err = lio.write_atomic(tmp .. '/nope/none', 'x')
check(r == nil and tostring(err):find('cannot create', 1, true), 'write_atomic into a missing directory: nil, message: ' .. tostring(err))
os.remove(p2)
os.remove(path)

C.report()
