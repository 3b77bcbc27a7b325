/* lmodules.c: the C modules of the lotto host, preloaded as lotto.<name>.
 * A new binding adds one line here. */
#include <lauxlib.h>
#include <lua.h>

#include "lbind.h"
#include "lotto/graph.h"

int luaopen_lotto_tensor(lua_State *L);
int luaopen_lotto_rng(lua_State *L);
int luaopen_lotto_nn(lua_State *L);
int luaopen_lotto_optim(lua_State *L);
int luaopen_lotto_data(lua_State *L);
int luaopen_lotto_io(lua_State *L);
int luaopen_lotto_prune(lua_State *L);
int luaopen_lotto_sparse(lua_State *L);
int luaopen_lotto_json(lua_State *L);
int luaopen_lotto_fs(lua_State *L);
int luaopen_lotto_sys(lua_State *L);
int luaopen_lotto_proc(lua_State *L);
int luaopen_lotto_dst(lua_State *L);
int luaopen_lotto_graph(lua_State *L);

static const luaL_Reg modules[] = {
    {"lotto.tensor", luaopen_lotto_tensor}, {"lotto.rng", luaopen_lotto_rng},
    {"lotto.core.nn", luaopen_lotto_nn},    {"lotto.core.optim", luaopen_lotto_optim},
    {"lotto.core.data", luaopen_lotto_data}, {"lotto.io", luaopen_lotto_io},
    {"lotto.core.prune", luaopen_lotto_prune}, {"lotto.core.sparse", luaopen_lotto_sparse}, {"lotto.json", luaopen_lotto_json},
    {"lotto.fs", luaopen_lotto_fs}, {"lotto.sys", luaopen_lotto_sys},
    {"lotto.proc", luaopen_lotto_proc},
    {"lotto.core.dst", luaopen_lotto_dst},
    {"lotto.core.graph", luaopen_lotto_graph},
    {NULL, NULL}};

void lt_openlibs(lua_State *L) {
  lt_graph_register_kinds(); /* the graph layers rebuild from settings like the others (import, from_arch) */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *m = modules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}
