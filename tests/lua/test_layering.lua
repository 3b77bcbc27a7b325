-- test_layering.lua: the engine's calls run one way. From the symbols each
-- object file of liblotto.a defines and uses (nm), it derives the call graph
-- between engine units (one .c file each) and fails on
--   * any circle between units (Tarjan's strongly connected components), and
--   * any call from a folder to one it may not use (ARCHITECTURE.md):
--       core <- mask, data, io <- sparse <- nn <- graph ;  optim -> core only.
-- Includes alone do not show these circles: the calls go through public headers.
--
--   lotto tests/lua/test_layering.lua [path/to/liblotto.a [--flat]]
-- --flat checks circles only (a tree without folders, e.g. an old build).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'

local lib = arg[1] or 'liblotto.a'
local flat = arg[2] == '--flat'
local src = os.getenv('LOTTO_SOURCE_DIR') .. '/src'

-- Which folders each folder may call (besides itself).
local MAY_USE = {
  core = {},
  mask = { core = true },
  data = { core = true },
  io = { core = true },
  optim = { core = true },
  sparse = { core = true, mask = true, data = true, io = true },
  nn = { core = true, mask = true, data = true, io = true, sparse = true },
  graph = { core = true, mask = true, data = true, io = true, sparse = true, nn = true },
}

local f = io.open(lib, 'rb')
if not f then T.skip('no engine library at ' .. lib .. ' (run from the build directory)') end
f:close()
local p = assert(io.popen('nm -A ' .. lib .. ' 2>/dev/null'))
local defs, uses, units = {}, {}, {}
for line in p:lines() do
  -- liblotto.a:nn_linear.c.o:0000000000000000 T lt_linear_new   |   liblotto.a:nn_linear.c.o:   U lt_gemm
  local unit, typ, sym = line:match('^[^:]*:([%w_]+)%.c%.o:%s*%x*%s+(%a)%s+(%S+)$')
  if unit then
    units[unit] = true
    if typ == 'U' then
      uses[unit] = uses[unit] or {}
      uses[unit][sym] = true
    elseif typ:match('[TDBRC]') then
      defs[sym] = unit
    end
  end
end
p:close()
local nunits = 0
for _ in pairs(units) do nunits = nunits + 1 end
T.check(nunits >= 20, ('nm found %d units in %s'):format(nunits, lib))

-- unit -> { callee unit -> first symbol seen }
local edges = {}
for u in pairs(units) do
  edges[u] = {}
  for sym in pairs(uses[u] or {}) do
    local v = defs[sym]
    if v and v ~= u and (not edges[u][v] or sym < edges[u][v]) then edges[u][v] = sym end
  end
end

-- Tarjan's strongly connected components, units visited in name order so the
-- report is stable.
local function sorted_keys(t)
  local k = {}
  for x in pairs(t) do k[#k + 1] = x end
  table.sort(k)
  return k
end
local index, low, onstack, stack, n, sccs = {}, {}, {}, {}, 0, {}
local function strong(v)
  n = n + 1
  index[v], low[v] = n, n
  stack[#stack + 1] = v
  onstack[v] = true
  for _, w in ipairs(sorted_keys(edges[v])) do
    if not index[w] then
      strong(w)
      low[v] = math.min(low[v], low[w])
    elseif onstack[w] then
      low[v] = math.min(low[v], index[w])
    end
  end
  if low[v] == index[v] then
    local c = {}
    repeat
      local w = table.remove(stack)
      onstack[w] = nil
      c[#c + 1] = w
    until w == v
    if #c > 1 then
      table.sort(c)
      sccs[#sccs + 1] = c
    end
  end
end
for _, u in ipairs(sorted_keys(units)) do
  if not index[u] then strong(u) end
end
for _, c in ipairs(sccs) do
  local inside = {}
  for _, u in ipairs(c) do
    for _, v in ipairs(sorted_keys(edges[u])) do
      for _, w in ipairs(c) do
        if v == w then inside[#inside + 1] = ('%s -> %s (%s)'):format(u, v, edges[u][v]) end
      end
    end
  end
  T.check(false, ('call circle between %s: %s'):format(table.concat(c, ', '), table.concat(inside, '; ')))
end

if not flat then
  -- unit -> folder, from the source tree (basenames are unique)
  local folder = {}
  local q = assert(io.popen('cd ' .. src .. ' && ls */*.c'))
  for path in q:lines() do
    local dir, base = path:match('^([%w_]+)/([%w_]+)%.c$')
    if dir and dir ~= 'lua' then
      T.check(folder[base] == nil, ('two engine files are named %s.c (%s, %s)'):format(base, tostring(folder[base]), dir))
      folder[base] = dir
    end
  end
  q:close()
  for _, u in ipairs(sorted_keys(units)) do
    local fu = folder[u]
    if not fu or not MAY_USE[fu] then
      T.check(false, ('unit %s: no folder of src/ with a known place in the layering holds %s.c'):format(u, u))
    else
      for _, v in ipairs(sorted_keys(edges[u])) do
        local fv = folder[v]
        if fv and fv ~= fu and not MAY_USE[fu][fv] then
          T.check(false, ('%s/%s calls up or across into %s/%s (%s)'):format(fu, u, fv, v, edges[u][v]))
        end
      end
    end
  end
end
T.report()
