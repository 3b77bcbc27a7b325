-- test_arch.lua: nn.arch / nn.from_arch (the layer tree as data, through each
-- layer's config op) and lotto.sparse.load of a file written before the export
-- codec moved into C (tests/fixtures/export_v1*: same masks, same outputs).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local nn, tensor, sparse, lio, json = lotto.nn, lotto.tensor, lotto.sparse, lotto.io, lotto.json
local FIX = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/fixtures'

-- ---- arch: hand-written expectations ----
local m = nn.model(nn.sequential {
  nn.conv2d(1, 2, 3, { stride = 2, padding = 1, bias = false }), nn.batchnorm(2), nn.relu(),
  nn.residual(nn.sequential { nn.conv2d(2, 2, 3, { padding = 1 }) }, nn.conv2d(2, 2, 1)),
  nn.maxpool2d(2), nn.global_avgpool(), nn.flatten(),
  nn.sequential { name = 'head', nn.dropout(0.5, { seed = 12 }), nn.linear(2, 3, { name = 'out' }) },
}, { input = { 1, 8, 8 } })
local a = nn.arch(m)
T.check_eq(a.kind, 'sequential')
T.check_eq(#a.children, 8)
T.check_eq(a.children[1], { kind = 'conv2d', cin = 1, cout = 2, k = 3, stride = 2, padding = 1, bias = false })
T.check_eq(a.children[2], { kind = 'batchnorm', n = 2 })
T.check_eq(a.children[3], { kind = 'relu' })
T.check_eq(a.children[4].kind, 'residual')
T.check_eq(#a.children[4].children, 2)
T.check_eq(a.children[4].children[2], { kind = 'conv2d', name = 'shortcut', cin = 2, cout = 2, k = 1, stride = 1,
  padding = 0, bias = true })
T.check_eq(a.children[5], { kind = 'maxpool2d', k = 2, stride = 2 })
T.check_eq(a.children[6], { kind = 'global_avgpool' })
T.check_eq(a.children[8], { kind = 'sequential', name = 'head', children = {
  { kind = 'dropout', p = 0.5, seed = 12 }, { kind = 'linear', name = 'out', ['in'] = 2, out = 3, bias = true } } })
T.check_eq(math.type(a.children[1].k), 'integer')

-- m:layers() says which layers carry a prunable weight (their ops say so, not their kind's name)
local prunable = {}
for _, l in ipairs(m:layers()) do if l.prunable then prunable[#prunable + 1] = l.name end end
T.check_eq(prunable, { 'conv1', '0.conv1', '0.shortcut', 'head.out' })

-- ---- from_arch: the same tree again, through JSON too ----
local b = nn.model(nn.from_arch(json.decode(json.encode(a))), { input = { 1, 8, 8 } })
T.check_eq(tostring(b), tostring(m), 'same tree, names and sizes')
T.check_eq(nn.arch(b), a, 'arch(from_arch(arch)) == arch')
m:init { seed = 3 }
b:load_state(m:state())
local x = tensor.randn({ 2, 1, 8, 8 }, 4)
T.check_eq(b:forward(x, false), m:forward(x, false), 'same outputs with the same weights')
-- an unbuilt layer too; defaults fill what is left out
T.check_eq(nn.arch(nn.conv2d(3, 4, 5)), { kind = 'conv2d', cin = 3, cout = 4, k = 5, stride = 1, padding = 0, bias = true })
T.check_eq(nn.arch(nn.from_arch { kind = 'avgpool2d', k = 3 }), { kind = 'avgpool2d', k = 3, stride = 3 })
T.check_eq(nn.arch(nn.from_arch { kind = 'sequential' }), { kind = 'sequential', children = {} })

-- ---- from_arch: bad tables name the key and where ----
T.checkerror(function() nn.from_arch { kind = 'linear', ['in'] = 3 } end, "linear: setting 'out' is missing")
T.checkerror(function() nn.from_arch { kind = 'linear', ['in'] = 3, out = 2, bias = 1 } end, "'bias' must be a boolean")
T.checkerror(function() nn.from_arch { kind = 'linear', ['in'] = 3, out = 2, size = 1 } end,
  "unknown setting 'size' (it takes in, out, bias)")
T.checkerror(function() nn.from_arch { kind = 'conv2d', cin = 1, cout = 2, k = 2.5 } end, "'k' must be an integer")
T.checkerror(function() nn.from_arch { kind = 'dropout', p = 1 } end, "'p' must be in [0, 1)")
T.checkerror(function() nn.from_arch { kind = 'linear', ['in'] = 'x', out = 2 } end, "'in' must be a number or a boolean")
T.checkerror(function() nn.from_arch { kind = 'sequential', children = { { kind = 'relu' }, { kind = 'gelu' } } } end,
  "children[2]: unknown layer kind 'gelu'")
T.checkerror(function() nn.from_arch { kind = 'sequential', children = { { kind = 'residual', children = { 3 } } } } end,
  'children[1].children[1]: a layer must be a table')
T.checkerror(function() nn.from_arch { kind = 'relu', children = { { kind = 'relu' } } } end, 'has no children')
T.checkerror(function() nn.from_arch { kind = 'relu', name = 'a b' } end, 'must not contain spaces')
T.checkerror(function() nn.from_arch { kind = 5 } end, "'kind' must be a string")
T.checkerror(function() nn.from_arch { kind = 'relu', [1] = 2 } end, 'keys must be strings')
T.checkerror(function() nn.from_arch(7) end, 'expected an arch table')
T.checkerror(function() nn.arch(7) end, 'expected a model or a layer')
local deep = { kind = 'relu' }
for _ = 1, 100 do deep = { kind = 'sequential', children = { deep } } end
T.checkerror(function() nn.from_arch(deep) end, 'nest too deep')

local wide = { kind = 'sequential', children = {} }
for i = 1, 3000 do wide.children[i] = { kind = 'relu' } end
T.check_eq(#nn.arch(nn.from_arch(wide)).children, 3000, 'a long sequential')
local odd = setmetatable({}, { __index = function(_, k) -- fields that exist only through __index
  if k == 'kind' then return 'line' .. 'ar' elseif k == 'name' then return 'via_' .. 'index' end
end })
T.checkerror(function() nn.from_arch(odd) end, "setting 'in' is missing")

-- ---- a file written by the Lua codec, before it moved into C ----
local d, err = sparse.load(FIX .. '/export_v1.safetensors')
T.check(d ~= nil, err)
local want = lio.load(FIX .. '/export_v1_expected.safetensors')
if d and want then
  T.check_eq(d._model:masks(), want.masks, 'the old file gives the same masks')
  T.check_near(d:forward(want.x), want.y, 1e-5, 'and the same outputs')
  T.check(tostring(d):find('head.wide: Linear%(24 %-> 300') ~= nil, 'user names inside a named container')
  -- written again by the C codec, it loads to the same model
  local again = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_arch_again.safetensors'
  sparse.export(d._model, again)
  local d2 = assert(sparse.load(again))
  T.check_eq(d2._model:values(), d._model:values())
  T.check_eq(nn.arch(d2._model), nn.arch(d._model))
  os.remove(again)
end

T.report()
