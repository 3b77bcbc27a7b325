-- test_json.lua: lotto.json — deterministic encoding, round trips, decode errors,
-- atomic writes, JSON lines with a truncated tail, and the lotto.fs helpers (also json.fs).
local json = lotto.json
local fs = require 'lotto.fs'

package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local check = C.check
local function checkerror(fn, pattern) return C.checkerror(fn, pattern) end
local function eq(a, b) return json.encode(a) == json.encode(b) end

-- scalars and number formatting
check(json.encode(42) == '42', 'integer')
check(json.encode(-7) == '-7', 'negative integer')
check(json.encode(math.maxinteger) == '9223372036854775807', 'maxinteger keeps all digits')
check(json.encode(0.1) == '0.1', 'shortest round-trip float: ' .. json.encode(0.1))
check(json.encode(1 / 3) == '0.3333333333333333', '16 digits when enough: ' .. json.encode(1 / 3))
check(json.encode(0.1 + 0.2) == '0.30000000000000004', '17 digits when needed: ' .. json.encode(0.1 + 0.2))
check(tonumber(json.encode(1 / 3)) == 1 / 3, 'float round trip exact')
check(json.encode(2.5e-300) == '2.5e-300', 'tiny float')
check(json.encode(0 / 0) == 'null' and json.encode(math.huge) == 'null' and json.encode(-math.huge) == 'null', 'NaN/Inf -> null')
check(json.encode(true) == 'true' and json.encode(false) == 'false', 'booleans')
check(json.encode(nil) == 'null' and json.encode(json.null) == 'null', 'nil and json.null')
check(json.encode('a"b\\c\n\t\1') == [["a\"b\\c\n\t\u0001"]], 'string escapes: ' .. json.encode('a"b\\c\n\t\1'))
check(json.encode('héllo') == '"héllo"', 'utf-8 passes through')

-- tables: arrays, objects, sorted keys, empty tables
check(json.encode({ 1, 2, 3 }) == '[1,2,3]', 'sequence -> array')
check(json.encode({}) == '{}', 'empty table -> {}')
check(json.encode(json.array()) == '[]', 'json.array() -> []')
check(json.encode(json.array({})) == '[]', 'json.array({}) -> []')
check(json.encode({ b = 1, a = 2, c = { z = 1, y = 2 } }) == '{"a":2,"b":1,"c":{"y":2,"z":1}}', 'keys sorted')
check(json.encode({ [1] = 'x', [3] = 'y' }) == '{"1":"x","3":"y"}', 'sparse integer keys -> string keys')
local t1, t2 = {}, {}
for i = 1, 50 do t1['k' .. i] = i end
for i = 50, 1, -1 do t2['k' .. i] = i end
check(json.encode(t1) == json.encode(t2), 'insertion order does not change the text')
local pretty = json.encode({ a = { 1, 2 }, b = { c = true } }, { indent = true })
check(pretty == '{\n  "a": [1, 2],\n  "b": {"c": true}\n}', 'indent output:\n' .. pretty)
local long = {}
for i = 1, 9 do long['key' .. i] = i end
check(select(2, json.encode(long, { indent = true }):gsub('\n', '')) == 10, 'objects of more than 8 scalars are expanded')
long = { a = string.rep('x', 120) }
check(json.encode(long, { indent = true }) == '{\n  "a": "' .. long.a .. '"\n}', 'long one-line objects are expanded')
check(json.encode({ x = {} }, { indent = 4 }) == '{\n    "x": {}\n}', 'indent width 4')

-- decode and round trips
local v = json.decode('{"a": [1, 2.5, "s", null, true], "b": {"c": -3e2}, "e": []}')
check(v.a[1] == 1 and math.type(v.a[1]) == 'integer', 'integer decodes as integer')
check(v.a[2] == 2.5 and v.a[3] == 's' and v.a[4] == json.null and v.a[5] == true, 'array items')
check(v.b.c == -300 and math.type(v.b.c) == 'integer', 'integral float -> integer')
check(json.encode(v.e) == '[]', 'decoded empty array stays an array')
check(#v.a == 5, 'null keeps array positions')
local doc = { name = 'x', xs = { 0.1, 0.2, 1e-9, 123456789.125 }, nested = { { a = 1 }, { b = { c = 'd' } } }, f = false }
check(eq(json.decode(json.encode(doc)), doc), 'round trip')
check(json.encode(json.decode(json.encode(doc, { indent = true }))) == json.encode(doc), 'indent round trip')
check(json.decode('"\\u00e9\\n"') == 'é\n', 'unicode escape')
check(json.decode('  7  ') == 7, 'surrounding whitespace')

-- NUL inside strings and keys survives (cJSON alone would cut at it)
v = json.decode('{"a\\u0000b":1,"a\\u0000c":2}')
local nkeys = 0
for _ in pairs(v) do nkeys = nkeys + 1 end
check(nkeys == 2 and v['a\0b'] == 1 and v['a\0c'] == 2, 'keys differing after \\u0000 stay apart')
check(json.decode('"x\\u0000y\\u0000"') == 'x\0y\0', 'NULs inside and at the end of a string')
check(json.decode('["\\u00e9\\u0000\\ud83d\\ude00\\n", "plain"]')[1] == 'é\0😀\n', 'escapes around a NUL')
check(json.decode('["\\\\u0000", "\\u0000"]')[1] == '\\u0000', 'an escaped backslash before u0000 is text')
check(json.decode('"a\0b"') == 'a\0b', 'a raw NUL byte in a string is kept')
local bin = { ['k\0'] = 'v\0w', list = { '\0', 'x' } }
check(eq(json.decode(json.encode(bin)), bin) and json.decode(json.encode(bin))['k\0'] == 'v\0w', 'NUL round trip')

-- a \u escape without 4 hex digits is not JSON (cJSON alone reads it as a NUL): refused
local bad, berr = json.decode('{"k": "x\\u00zzy"}')
check(bad == nil and tostring(berr):find('bad \\u escape', 1, true) and berr:find('column 9', 1, true),
  'bad \\u escape refused with its position: ' .. tostring(berr))
bad, berr = json.decode('"\\u000\0001"') -- found by fuzz_json: three hex digits and a raw NUL
check(bad == nil and tostring(berr):find('bad \\u escape', 1, true), 'truncated \\u escape: ' .. tostring(berr))
check(json.decode('"\\uABCD\\uabcd"') == '\u{abcd}\u{abcd}', 'hex digits in either case')

local val, err = json.decode('{"a": 1,, "b": 2}')
check(val == nil and err:find('line 1') and err:find('column'), 'syntax error with position: ' .. tostring(err))
val, err = json.decode('{"a": 1}\n{"b"')
check(val == nil and err:find('trailing characters at line 2', 1, true), 'trailing garbage: ' .. tostring(err))
val, err = json.decode('')
check(val == nil and err:find('empty'), 'empty input')
val, err = json.decode('{\n  "a": [1, 2\n')
check(val == nil and type(err) == 'string', 'unterminated input')
checkerror(function() json.decode() end, 'bad argument #1', 'decode needs a string')

-- encode errors name the key path
local cyc = { a = {} }
cyc.a.back = cyc
checkerror(function() json.encode(cyc) end, 'cycle', 'cycle rejected')
checkerror(function() json.encode(cyc) end, 'a.back', 'cycle path')
checkerror(function() json.encode({ f = print }) end, 'cannot encode a function at f', 'function rejected')
checkerror(function() json.encode({ m = { w = { 1, io.stdout } } }) end, 'at m.w[2]', 'userdata path')
checkerror(function() json.encode({ [true] = 1 }) end, 'object key of type boolean', 'bad key type')
checkerror(function() json.encode({ [1] = 1, ['1'] = 2, x = 1 }) end, 'duplicate key', 'int/string key clash')
local deep = {}
local d = deep
for _ = 1, 500 do d.x = {}; d = d.x end
checkerror(function() json.encode(deep) end, 'nesting too deep', 'depth limit')
local shared = { 1 }
check(json.encode({ a = shared, b = shared }) == '{"a":[1],"b":[1]}', 'shared (non-cyclic) tables are fine')
if lotto.tensor and lotto.tensor.zeros then
  local ok, t = pcall(lotto.tensor.zeros, { 2 })
  if ok then checkerror(function() json.encode({ model = { fc1 = t } }) end, 'at model.fc1', 'tensor path') end
end

-- files: atomic write leaves no temp file, read back, errors as nil, message
local tmp = (os.getenv('LOTTO_TEST_TMP') or 'tmp') .. '/test_json'
assert(fs.remove_tree(tmp))
assert(fs.mkdir_p(tmp .. '/a/b'))
check(fs.isdir(tmp .. '/a/b') and fs.exists(tmp .. '/a'), 'mkdir_p creates parents')
check(fs.mkdir_p(tmp .. '/a/b') == true, 'mkdir_p is idempotent')
local path = tmp .. '/a/doc.json'
check(json.write(path, doc, { indent = true }) == true, 'write ok')
check(eq(json.read(path), doc), 'read back')
local names = fs.listdir(tmp .. '/a')
check(#names == 2 and names[1] == 'b' and names[2] == 'doc.json', 'no temp file left: ' .. table.concat(names, ','))
local f = assert(io.open(path))
local text = f:read('a')
f:close()
check(text == json.encode(doc, { indent = true }) .. '\n', 'file is the encoding plus a newline')
json.write(path, { v = 2 })
check(json.read(path).v == 2, 'overwrite replaces atomically')
val, err = json.read(tmp .. '/missing.json')
check(val == nil and err:find('missing.json') and err:find('No such file'), 'missing file: ' .. tostring(err))
val, err = json.write(tmp .. '/nodir/x.json', {})
check(val == nil and err:find('nodir'), 'unwritable path: ' .. tostring(err))
f = assert(io.open(tmp .. '/bad.json', 'w'))
f:write('{"a": }')
f:close()
val, err = json.read(tmp .. '/bad.json')
check(val == nil and err:find('bad.json: json: syntax error', 1, true), 'corrupt file: ' .. tostring(err))
checkerror(function() json.write(path, { x = print }) end, 'cannot encode a function', 'write raises on bad values')
check(json.read(path).v == 2, 'failed write left the old file')

-- JSON lines: append, truncated tail from a killed run, append after it
local jl = tmp .. '/metrics.jsonl'
for i = 1, 3 do assert(json.append_line(jl, { iter = i * 100, loss = 1 / i })) end
local recs = assert(json.read_lines(jl))
check(#recs == 3 and recs[3].iter == 300 and recs[2].loss == 0.5, 'three records')
f = assert(io.open(jl, 'a'))
f:write('{"iter": 400, "lo')
f:close()
recs = assert(json.read_lines(jl))
check(#recs == 3, 'truncated last line skipped, got ' .. #recs)
assert(json.append_line(jl, { iter = 500 }))
recs = assert(json.read_lines(jl))
check(#recs == 4 and recs[4].iter == 500, 'append after a partial line starts a clean line')
f = assert(io.open(jl))
text = f:read('a')
f:close()
check(not text:find('400', 1, true), 'partial fragment removed from the file')
f = assert(io.open(jl, 'a'))
f:write('{"iter": 600}')
f:close()
recs = assert(json.read_lines(jl))
check(#recs == 5 and recs[5].iter == 600, 'complete last line without newline is kept')
f = assert(io.open(tmp .. '/bad.jsonl', 'w'))
f:write('{"a":1}\n\n{"a":\n{"a":3}\n')
f:close()
val, err = json.read_lines(tmp .. '/bad.jsonl')
check(val == nil and err:find('bad.jsonl:3:', 1, true), 'corrupt middle line is an error: ' .. tostring(err))
f = assert(io.open(tmp .. '/cut.jsonl', 'w'))
f:write('{"a":')
f:close()
assert(json.append_line(tmp .. '/cut.jsonl', { a = 1 }))
recs = assert(json.read_lines(tmp .. '/cut.jsonl'))
check(#recs == 1 and recs[1].a == 1, 'partial first line replaced')

-- fs helpers
check(fs.remove(tmp .. '/bad.json') == true and not fs.exists(tmp .. '/bad.json'), 'remove')
check(select(2, fs.remove(tmp .. '/bad.json')):find('No such file'), 'remove missing -> nil, msg')
check(select(2, fs.listdir(tmp .. '/nope')) ~= nil, 'listdir missing -> nil, msg')
assert(fs.write_atomic(tmp .. '/a/b/raw.txt', 'hello'))
check(fs.remove_tree(tmp .. '/a') == true and not fs.exists(tmp .. '/a'), 'remove_tree')
check(fs.remove_tree(tmp .. '/a') == true, 'remove_tree of a missing path is fine')
checkerror(function() fs.remove_tree('/') end, 'refusing', 'remove_tree refuses /')
checkerror(function() fs.remove_tree(tmp .. '/..') end, 'refusing', 'remove_tree refuses ..')
checkerror(function() fs.mkdir_p('') end, 'bad argument #1', 'mkdir_p of empty path')
check(json.fs == fs, 'json.fs is lotto.fs')
assert(fs.write_atomic(tmp .. '/plain.txt', 'x'))
val, err = fs.mkdir_p(tmp .. '/plain.txt/sub')
check(val == nil and err:find('cannot create', 1, true) and err:find('plain.txt', 1, true), 'mkdir_p through a file: nil, message: ' .. tostring(err))
check(fs.read(tmp .. '/plain.txt') == 'x', 'read gives the bytes')
val, err = fs.read(tmp .. '/none.txt')
check(val == nil and err:find('none.txt', 1, true), 'read of a missing file: nil, message')
val, err = fs.write_atomic(tmp .. '/nodir/x.txt', 'x')
check(val == nil and err:find('cannot create', 1, true), 'write_atomic into a missing directory: nil, message')

fs.remove_tree(tmp)
C.report()
