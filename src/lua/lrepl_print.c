/* lrepl_print.c: how the REPL shows values. Strings are quoted, userdata (tensors,
 * models) use __tostring, tables print readably: sorted keys, bounded depth and
 * length, cycles marked. The printer is Lua code compiled once into the registry. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "lhost.h"

#define PRINTER_KEY "lotto.repl.printer"

static const char printer_src[] =
    "local MAXN, MAXDEPTH, WIDTH = 20, 3, 72\n"
    "local type, tostring, pcall, rawget, next = type, tostring, pcall, rawget, next\n"
    "local keywords = {}\n"
    "for w in ('and break do else elseif end false for function goto if in local nil not '\n"
    "  .. 'or repeat return then true until while'):gmatch('%a+') do keywords[w] = true end\n"
    "local esc = { ['\\n'] = '\\\\n', ['\\t'] = '\\\\t', ['\\r'] = '\\\\r', ['\"'] = '\\\\\"',\n"
    "  ['\\\\'] = '\\\\\\\\' }\n"
    "local function quote(s)\n"
    "  return '\"' .. (s:gsub('[%c\"\\\\]', function(c)\n"
    "    return esc[c] or string.format('\\\\%03d', c:byte()) end)) .. '\"'\n"
    "end\n"
    "local function str(v)\n"
    "  local ok, s = pcall(tostring, v)\n"
    "  if ok and type(s) == 'string' then return s end\n"
    "  return '<' .. type(v) .. ': __tostring failed>'\n"
    "end\n"
    "local function before(a, b)\n"
    "  local ta, tb = type(a), type(b)\n"
    "  if ta ~= tb then return ta < tb end\n"
    "  if ta == 'number' or ta == 'string' then return a < b end\n"
    "  return str(a) < str(b)\n"
    "end\n"
    "local fmt\n"
    "local function key(k, seen)\n"
    "  if type(k) == 'string' and k:match('^[%a_][%w_]*$') and not keywords[k] then return k end\n"
    "  return '[' .. fmt(k, MAXDEPTH, seen, '') .. ']'\n"
    "end\n"
    "fmt = function(v, depth, seen, indent)\n"
    "  local tv = type(v)\n"
    "  if tv == 'string' then return quote(v) end\n"
    "  if tv ~= 'table' then return str(v) end\n"
    "  local mt = getmetatable(v)\n"
    "  if mt ~= nil and (type(mt) ~= 'table' or rawget(mt, '__tostring')) then return str(v) end\n"
    "  if seen[v] then return '<cycle>' end\n"
    "  if next(v) == nil then return '{}' end\n"
    "  if depth >= MAXDEPTH then return '{…}' end\n"
    "  seen[v] = true\n"
    "  local n = 0\n"
    "  while rawget(v, n + 1) ~= nil do n = n + 1 end\n"
    "  local keys = {}\n"
    "  for k in next, v do\n"
    "    if not (math.type(k) == 'integer' and k >= 1 and k <= n) then keys[#keys + 1] = k end\n"
    "  end\n"
    "  pcall(table.sort, keys, before)\n"
    "  local items, inner = {}, indent .. '  '\n"
    "  for i = 1, math.min(n, MAXN) do items[#items + 1] = fmt(rawget(v, i), depth + 1, seen, inner) end\n"
    "  for _, k in ipairs(keys) do\n"
    "    if #items >= MAXN then break end\n"
    "    items[#items + 1] = key(k, seen) .. ' = ' .. fmt(rawget(v, k), depth + 1, seen, inner)\n"
    "  end\n"
    "  local total = n + #keys\n"
    "  if total > #items then items[#items + 1] = '… (' .. (total - #items) .. ' more)' end\n"
    "  seen[v] = nil\n"
    "  local flat = '{' .. table.concat(items, ', ') .. '}'\n"
    "  if #flat + #indent <= WIDTH and not flat:find('\\n') then return flat end\n"
    "  local lines, cur = {}, nil\n"
    "  for i, it in ipairs(items) do\n"
    "    local s = it .. (i < #items and ',' or '')\n"
    "    if cur and not it:find('\\n') and not cur:find('\\n') and #inner + #cur + 1 + #s <= WIDTH then\n"
    "      cur = cur .. ' ' .. s\n"
    "    else\n"
    "      if cur then lines[#lines + 1] = cur end\n"
    "      cur = s\n"
    "    end\n"
    "  end\n"
    "  lines[#lines + 1] = cur\n"
    "  return '{\\n' .. inner .. table.concat(lines, '\\n' .. inner) .. '\\n' .. indent .. '}'\n"
    "end\n"
    "return function(...)\n"
    "  local out = {}\n"
    "  for i = 1, select('#', ...) do out[i] = fmt((select(i, ...)), 0, {}, '') end\n"
    "  return table.concat(out, '\\t')\n"
    "end\n";

/* Pushes the printer function, compiling it on first use. */
static int push_printer(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, PRINTER_KEY) == LUA_TFUNCTION) return 1;
  lua_pop(L, 1);
  if (luaL_loadbuffer(L, printer_src, sizeof printer_src - 1, "=(repl printer)") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    lua_pop(L, 1); /* a bug in the source above: fall back to tostring */
    return 0;
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, PRINTER_KEY);
  return 1;
}

/* Fallback when the printer fails: tostring of each value, tab separated. */
static void plain_format(lua_State *L, int first, int n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < n; i++) {
    if (i) luaL_addchar(&b, '\t');
    luaL_tolstring(L, first + i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
}

void lt_repl_format(lua_State *L, int n) {
  int first = lua_gettop(L) - n + 1;
  if (push_printer(L)) {
    lua_insert(L, first);
    if (lua_pcall(L, n, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) return;
    lua_pushfstring(L, "<values could not be printed: %s>", lua_tostring(L, -1));
    lua_remove(L, -2);
    return;
  }
  if (lua_checkstack(L, n + 4)) { /* luaL_tolstring may raise from __tostring: rare */
    plain_format(L, first, n);
    lua_replace(L, first);
    lua_settop(L, first);
  }
}
