-- test_misuse_sweep.lua: every function of every lotto module, and every method of
-- tensors, models, data sets, loaders and optimizers, called with a battery of wrong
-- arguments. Each call may succeed or raise a Lua error; none may crash the process,
-- and every error must carry a message. Drivers that would start a long experiment
-- on a plausible table are left out (listed below).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = lotto.tensor
local tmp = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/misuse_sweep'
lotto.fs.mkdir_p(tmp)

local skip = {
  ['ticket.imp'] = true, ['ticket.one_shot'] = true, ['lmc.analyze'] = true, ['lmc.instability'] = true,
  ['sparse.calibrate'] = true, ['sparse.calibrate_model'] = true, ['sparse.bench'] = true,
  ['data.mnist'] = true, ['data.fashion_mnist'] = true, ['data.cifar10'] = true, ['data.load'] = true,
  ['plot.run'] = true, ['earlybird.savings'] = true, ['ugs.run'] = true,
}
local bad = {
  {}, { nil }, { 1 }, { -1 }, { 0 }, { 1e300 }, { 0 / 0 }, { 'x' }, { true }, { {} }, { { 1, 'a' } },
  { T.zeros({ 2, 3 }) }, { T.zeros({ 2, 3 }), 'x' }, { T.zeros({ 3 }), T.zeros({ 4 }) }, { {}, {} },
  { 1, 2, 3, 4, 5 }, { tmp .. '/f' }, { tmp .. '/f', {} }, { print },
}

local calls, errors = 0, 0
local function try(name, f, args)
  calls = calls + 1
  local ok, err = pcall(f, table.unpack(args, 1, 5))
  if not ok then
    errors = errors + 1
    if err == nil or tostring(err) == '' then C.check(false, name .. ' raised an empty error') end
  end
end

local function sweep(prefix, tbl, self)
  local names = {}
  for k, v in pairs(tbl) do if type(v) == 'function' and type(k) == 'string' then names[#names + 1] = k end end
  table.sort(names)
  for _, k in ipairs(names) do
    local full = prefix .. '.' .. k
    if not skip[full] and k:sub(1, 2) ~= '__' then
      for _, args in ipairs(bad) do
        if self then
          local a = { self() }
          for i = 1, 4 do a[i + 1] = args[i] end
          try(full, tbl[k], a)
        else
          try(full, tbl[k], args)
        end
      end
    end
  end
end

for _, m in ipairs { 'tensor', 'rng', 'nn', 'optim', 'data', 'io', 'prune', 'sparse', 'json', 'train',
                     'ticket', 'plot', 'experiment', 'lmc', 'earlybird', 'models', 'fs', 'sys', 'util', 'proc', 'sweep',
                     'dst', 'checkpoint', 'pai', 'supermask', 'targeted_dropout',
                     'graph', 'ugs', 'ugs_plot' } do
  local mod = lotto[m]
  C.check(type(mod) == 'table', 'module lotto.' .. m .. ' loads')
  if type(mod) == 'table' then sweep(m, mod) end
end
sweep('core.dst', require 'lotto.core.dst')

-- methods, each call on a fresh object so that one misuse cannot poison the next
local function model()
  local m = lotto.nn.model(lotto.nn.sequential { lotto.nn.linear(3, 4), lotto.nn.relu(), lotto.nn.linear(4, 2) }, { input = { 3 } })
  m:init { seed = 1 }
  return m
end
local function dataset()
  return lotto.data.from_tensors(T.randn({ 8, 3 }, 1), T.zeros({ 8 }), { classes = 2 })
end
local function methods(obj)
  local mt = debug.getmetatable(obj)
  return type(mt.__index) == 'table' and mt.__index or mt.__methods -- tensors index rows with a function
end
sweep('tensor:', methods(T.zeros({ 2, 3 })), function() return T.randn({ 2, 3 }, 1) end)
sweep('model:', methods(model()), model)
sweep('dataset:', methods(dataset()), dataset)
sweep('loader:', methods(lotto.data.loader(dataset(), { batch = 3 })), function() return lotto.data.loader(dataset(), { batch = 3 }) end)
sweep('rng:', methods(lotto.rng.new(1)), function() return lotto.rng.new(1) end)
local function graph() return lotto.graph.new(3, T.new { { 0, 1 }, { 1, 2 } }) end
sweep('graph:', methods(graph()), graph)
local function opt() return lotto.optim.sgd(model(), { lr = 0.1 }) end
local o = opt()
if type(debug.getmetatable(o).__index) == "table" then sweep("optim:", debug.getmetatable(o).__index, opt) end

C.check(calls > 2000, ('swept %d calls'):format(calls))
print(('%d calls, %d raised errors, no crash'):format(calls, errors))
C.report()
