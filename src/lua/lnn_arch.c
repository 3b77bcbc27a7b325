/* lnn_arch.c: nn.arch / nn.from_arch of lotto.core.nn: a layer tree as a Lua
 * table and back, through each layer's settings (lt_layer_config_get,
 * lt_layer_from_config): no layer kind is named here. The table is JSON-safe:
 * {kind =, name = (user names only), settings..., children = {...}}. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "lbind.h"
#include "lotto/nn.h"

// {kind =, name = (user names only), settings..., children = {...} (containers)}
static void push_arch(lua_State *L, const lt_layer *l, int depth) {
  luaL_checkstack(L, 8, "arch: layers nest too deep");
  lt_layer_config c;
  lt_layer_config_get(l, &c);
  lua_createtable(L, 0, c.n + 3);
  lua_pushstring(L, lt_layer_kind(l));
  lua_setfield(L, -2, "kind");
  if (lt_layer_given_name(l)) {
    lua_pushstring(L, lt_layer_given_name(l));
    lua_setfield(L, -2, "name");
  }
  for (int i = 0; i < c.n; i++) {
    const lt_config_entry *e = &c.e[i];
    if (e->type == LT_CONFIG_BOOL) lua_pushboolean(L, (int)e->i);
    else if (e->type == LT_CONFIG_INT) lua_pushinteger(L, (lua_Integer)e->i);
    else lua_pushnumber(L, e->num);
    lua_setfield(L, -2, e->key);
  }
  int n = lt_layer_nchildren(l);
  if (!n && !lt_layer_is_container(l)) return;
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    push_arch(L, lt_layer_child(l, i), depth + 1);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "children");
}

// arch(model | layer) -> table
int lt_nn_arch(lua_State *L) {
  lt_layer *l = lt_testlayer(L, 1);
  push_arch(L, l ? l : lt_model_root(lt_checkmodel(L, 1)), 0);
  return 1;
}

#define ARCH_MAX_DEPTH 64

// Raises "from_arch: <where>: msg"; where is at index w.
static int arch_error(lua_State *L, int w, const char *msg) {
  return luaL_error(L, "from_arch: %s%s%s", lua_tostring(L, w), *lua_tostring(L, w) ? ": " : "", msg);
}

// Builds the layer described by the table at index t; pushes its (filled) box. where is at index w.
static void from_arch(lua_State *L, int t, int w, int depth) {
  luaL_checkstack(L, 16, "from_arch: layers nest too deep");
  if (depth > ARCH_MAX_DEPTH) arch_error(L, w, "layers nest too deep");
  if (!lua_istable(L, t)) arch_error(L, w, lua_pushfstring(L, "a layer must be a table, got %s", luaL_typename(L, t)));
  int base = lua_gettop(L);
  // kind and name stay on the stack (at base + 1, base + 2): a __index could return fresh strings
  if (lua_getfield(L, t, "kind") != LUA_TSTRING) arch_error(L, w, "'kind' must be a string");
  const char *kind = lua_tostring(L, -1);
  int tn = lua_getfield(L, t, "name");
  if (tn != LUA_TNIL && tn != LUA_TSTRING) arch_error(L, w, "'name' must be a string");
  lt_layer_config c = {0};
  for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING) arch_error(L, w, "keys must be strings (a layer is {kind =, ...})");
    const char *k = lua_tostring(L, -2);
    if (!strcmp(k, "kind") || !strcmp(k, "name") || !strcmp(k, "children")) continue;
    lt_status st = LT_OK;
    if (lua_isinteger(L, -1)) st = lt_config_add_int(&c, k, (int64_t)lua_tointeger(L, -1));
    else if (lua_type(L, -1) == LUA_TNUMBER) st = lt_config_add_num(&c, k, lua_tonumber(L, -1));
    else if (lua_type(L, -1) == LUA_TBOOLEAN) st = lt_config_add_bool(&c, k, lua_toboolean(L, -1));
    else arch_error(L, w, lua_pushfstring(L, "%s: setting '%s' must be a number or a boolean, got %s", kind, k,
                                          luaL_typename(L, -1)));
    if (st) arch_error(L, w, lt_errmsg());
  }
  int n = 0, top = lua_gettop(L);
  int tc = lua_getfield(L, t, "children");
  if (tc != LUA_TNIL && tc != LUA_TTABLE) arch_error(L, w, "'children' must be a list of layers");
  if (tc == LUA_TTABLE) {
    n = (int)luaL_len(L, top + 1);
    luaL_checkstack(L, n + 8, "from_arch: too many children");
    for (int i = 1; i <= n; i++) { // the children's boxes go on the stack: an error frees them
      lua_geti(L, top + 1, i);
      lua_pushfstring(L, "%s%schildren[%d]", lua_tostring(L, w), *lua_tostring(L, w) ? "." : "", i);
      from_arch(L, lua_gettop(L) - 1, lua_gettop(L), depth + 1);
      lua_replace(L, -3); // box over the child's table; drop the path
      lua_pop(L, 1);
    }
  }
  lt_layer **box = lt_pushlayerbox(L);
  lt_layer **kids = lua_newuserdatauv(L, sizeof *kids * (n > 0 ? n : 1), 0);
  for (int i = 0; i < n; i++) kids[i] = lt_takelayer(L, top + 2 + i); // lt_layer_from_config takes them, also on failure
  *box = lt_layer_from_config(kind, &c, n, kids);
  lua_pop(L, 1);
  if (!*box) arch_error(L, w, lt_errmsg());
  if (tn == LUA_TSTRING && lt_layer_set_name(*box, lua_tostring(L, base + 2))) arch_error(L, w, lt_errmsg());
  lua_replace(L, base + 1); // the box where kind was
  lua_settop(L, base + 1);
}

// from_arch(table) -> layer
int lt_nn_from_arch(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_pushliteral(L, "");
  from_arch(L, 1, 2, 0);
  return 1;
}
