-- test_uaf.lua: no use-after-free from Lua (issue 13, item 3). Every binding that reads
-- options, lists or shapes, or calls back into Lua, is called with tables whose
-- __index/__len (or a bound owner's mask_version) close the very objects the call
-- works on: a <close> variable of a suspended coroutine, closed by coroutine.close.
-- Each call must raise a clean error or finish without touching the freed object;
-- before the fix these crashed or wrote into freed memory (run under ASan by
-- `make test-asan`). Engine metatables are protected (__metatable).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, io_ = lotto.tensor, lotto.nn, lotto.data, lotto.io
local core_sparse, core_prune, core_optim = require 'lotto.core.sparse', require 'lotto.core.prune', require 'lotto.core.optim'

local TMP = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_uaf'
assert(lotto.fs.mkdir_p(TMP))

-- obj, kill: obj is a <close> variable of a suspended coroutine; kill() closes it.
local function closable(make)
  local co = coroutine.create(function()
    local o <close> = make()
    coroutine.yield(o)
  end)
  local _, o = assert(coroutine.resume(co))
  return o, function() coroutine.close(co) end
end

-- A table whose every missing key and length close the object first.
local function trap(kill, len)
  return setmetatable({}, {
    __index = function() kill() end,
    __len = function() kill(); return len or 1 end,
  })
end

local function mlp() return nn.model(nn.sequential { nn.linear(4, 3), nn.relu(), nn.linear(3, 2) }, { input = { 4 } }) end
local function dataset() return data.from_tensors(tensor.randn({ 6, 4 }, 1), tensor.zeros { 6 }, { classes = 2 }) end

-- LOTTO_UAF_ONLY = k runs section k alone (to see each one fail on the old bindings).
local only = tonumber(os.getenv('LOTTO_UAF_ONLY') or '')
local function section(k, f) if not only or only == k then f() end end

-- Runs f; it must return normally or raise a string error (a crash ends the test).
local function survives(what, f, pattern)
  local ok, err = pcall(f)
  if ok then return T.check(true, what) end
  T.check(type(err) == 'string' and (not pattern or err:find(pattern, 1, true)), what .. ': ' .. tostring(err))
end

-- the issue's reproducer: model:init
section(1, function()
  local m, kill = closable(mlp)
  survives('model:init with an __index that frees the model', function() m:init(trap(kill)) end, 'model has been freed')
end)

-- model:evaluate(ds, {batch}) freeing the model, then the data set
section(2, function()
  local m, kill = closable(mlp)
  m:init { seed = 1 }
  survives('model:evaluate, model freed by the options', function() m:evaluate(dataset(), trap(kill)) end, 'freed')
  local m2 = mlp()
  m2:init { seed = 1 }
  local ds, kill_ds = closable(dataset)
  survives('model:evaluate, data set freed by the options', function() m2:evaluate(ds, trap(kill_ds)) end, 'freed')
  local m3, kill3 = closable(mlp)
  survives('model:evaluate_xy, model freed', function() m3:evaluate_xy(tensor.zeros { 6, 4 }, tensor.zeros { 6 }, trap(kill3)) end)
end)

-- sparse.set_layer: the options free the model whose layers it sets
section(3, function()
  -- the options free the model, then ask for a mode to be written into its layers
  local function opts(kill) return setmetatable({}, { __index = function(_, k) kill(); if k == 'mode' then return 'dense' end end }) end
  local m, kill = closable(mlp)
  survives('sparse.set_layer, model freed by the options', function() core_sparse.set_layer(m, nil, opts(kill)) end)
  local m2, kill2 = closable(mlp)
  survives('sparse.set_layer by name', function() core_sparse.set_layer(m2, 'fc1', opts(kill2)) end)
end)

-- opt:step: the bound owner's mask_version frees the optimizer, or the tensors
section(4, function()
  local opt, kill = closable(function() return core_optim.sgd(5, 0.1) end)
  local w, g, mk = tensor.zeros { 5 }, tensor.ones { 5 }, tensor.ones { 5 }
  opt:bind(w, g, mk, { mask_version = function() kill(); return 1 end })
  survives('opt:step, optimizer freed by mask_version', function() opt:step() end, 'optimizer already freed')
  local w2, kill_w = closable(function() return tensor.zeros { 5 } end)
  local opt2 = core_optim.sgd(5, 0.1)
  opt2:bind(w2, g, mk, { mask_version = function() kill_w(); return 1 end })
  survives('opt:step, values freed by mask_version', function() opt2:step() end, 'tensor has been freed')
  -- the bound tensors themselves closed between steps
  local w3, kill_w3 = closable(function() return tensor.zeros { 5 } end)
  local opt3 = core_optim.sgd(5, 0.1)
  opt3:bind(w3, g)
  kill_w3()
  survives('opt:step on a freed bound tensor', function() opt3:step() end, 'tensor has been freed')
end)

-- t:reshape and tensor constructors: a shape table whose __len/__index frees the tensor
section(5, function()
  local t, kill = closable(function() return tensor.zeros { 2, 3 } end)
  survives('t:reshape, tensor freed by the shape', function() t:reshape(trap(kill, 1)) end)
  local t2, kill2 = closable(function() return tensor.zeros { 2, 3 } end)
  local shape = setmetatable({}, { __index = function(_, i) if i == 1 then kill2() return 6 end end, __len = function() return 1 end })
  survives('t:reshape, proxy shape', function() t2:reshape(shape) end)
end)

-- prune.global: a proxy list that frees a mask it already handed out
section(6, function()
  local m1, kill = closable(function() return tensor.ones { 4 } end)
  local s = tensor.randn({ 4 }, 2)
  local masks = setmetatable({}, {
    __len = function() return 2 end,
    __index = function(_, i) if i == 2 then kill() end return i == 1 and m1 or tensor.ones { 4 } end,
  })
  survives('prune.global, a mask freed while listing', function() core_prune.global(masks, { s, s }, 0.5) end)
  -- structured: options free the mask
  local m2, kill2 = closable(function() return tensor.ones { 3, 4 } end)
  survives('prune.structured, mask freed by the options', function()
    core_prune.structured(m2, tensor.randn({ 3, 4 }, 3), 0.5, trap(kill2))
  end)
end)

-- ds:normalize: the mean list frees the data set
section(7, function()
  local ds, kill = closable(function()
    return data.from_tensors(tensor.randn({ 6, 2, 2, 2 }, 1), tensor.zeros { 6 }, { classes = 2 })
  end)
  local mean = setmetatable({}, { __len = function() return 2 end, __index = function() kill(); return 0.5 end })
  survives('ds:normalize, data set freed by the mean list', function() ds:normalize(mean, { 1, 1 }) end)
end)

-- io.save: dtypes whose __index frees the tensor being written
section(8, function()
  local t, kill = closable(function() return tensor.ones { 3 } end)
  survives('io.save, tensor freed by dtypes', function() io_.save(TMP .. '/x.safetensors', { w = t }, { dtypes = trap(kill) }) end)
  local t2, kill2 = closable(function() return tensor.ones { 3 } end)
  local opts = setmetatable({}, { __index = function() kill2() end })
  survives('io.save, tensor freed by the options', function() io_.save(TMP .. '/y.safetensors', { w = t2 }, opts) end)
end)

-- nn.sequential: a proxy list handing out a layer when checked and a tensor when taken
section(9, function()
  local calls = 0
  local list = setmetatable({}, { __len = function() return 1 end, __index = function()
    calls = calls + 1
    return calls == 1 and nn.relu() or tensor.zeros { 1 }
  end })
  survives('nn.sequential with a shifting proxy list', function() require('lotto.core.nn').sequential(list) end)
end)

-- the metatables of engine objects are protected
for _, x in ipairs { tensor.zeros { 1 }, mlp(), dataset(), lotto.rng.new(1), core_optim.sgd(1, 0.1) } do
  local mt = getmetatable(x)
  T.check(type(mt) == 'string' and mt:match('^lotto%.'), 'getmetatable gives the type name: ' .. tostring(mt))
end

collectgarbage()
T.report()
