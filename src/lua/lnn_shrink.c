/* lnn_shrink.c: nn.shrink and nn.cost of lotto.core.nn: a masked model turned
 * into a smaller dense one (lt_model_shrink), and what a model costs per
 * sample, in total and per layer (lt_model_cost, lt_layer_cost). */
#include <lauxlib.h>
#include <lua.h>

#include "lbind.h"
#include "lotto/nn.h"

// shrink(model) -> new model, {dropped =, params_before =, params_after =}
int lt_nn_shrink(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lt_model **box = lt_pushmodelbox(L);
  lt_shrink_info info;
  if (lt_model_shrink(m, box, &info)) return lt_raise(L, NULL);
  lt_model_account(L, *box);
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, info.dropped);
  lua_setfield(L, -2, "dropped");
  lua_pushinteger(L, (lua_Integer)info.params_before);
  lua_setfield(L, -2, "params_before");
  lua_pushinteger(L, (lua_Integer)info.params_after);
  lua_setfield(L, -2, "params_after");
  return 2;
}

// shrink_clean(model): zeroes what dead channels carry
int lt_nn_shrink_clean(lua_State *L) {
  if (lt_model_shrink_clean(lt_checkmodel(L, 1))) return lt_raise(L, NULL);
  return 0;
}

static void push_cost(lua_State *L, const lt_cost *c) {
  static const char *const keys[] = {"macs", "macs_kept", "params", "params_kept", "bytes", "bytes_sparse"};
  const int64_t v[] = {c->macs, c->macs_kept, c->params, c->params_kept, c->bytes, c->bytes_sparse};
  for (int i = 0; i < 6; i++) {
    lua_pushinteger(L, (lua_Integer)v[i]);
    lua_setfield(L, -2, keys[i]);
  }
}

static void push_layers(lua_State *L, const lt_layer *l) {
  lt_cost c = {0};
  lt_layer_cost(l, &c);
  if (c.params) {
    lua_createtable(L, 0, 10);
    lua_pushstring(L, lt_layer_name(l));
    lua_setfield(L, -2, "name");
    lua_pushstring(L, lt_layer_kind(l));
    lua_setfield(L, -2, "kind");
    lua_pushboolean(L, lt_layer_has_channel_rows(l));
    lua_setfield(L, -2, "channel_rows");
    push_cost(L, &c);
    lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  }
  for (int i = 0, n = lt_layer_nchildren(l); i < n; i++) push_layers(L, lt_layer_child(l, i));
}

// cost(model) -> {macs, macs_kept, params, params_kept, bytes, bytes_sparse, layers = {{name, kind, ...}}}
int lt_nn_cost(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lt_cost c;
  lt_model_cost(m, &c);
  lua_createtable(L, 0, 7);
  push_cost(L, &c);
  lua_newtable(L);
  push_layers(L, lt_model_root(m));
  lua_setfield(L, -2, "layers");
  return 1;
}
