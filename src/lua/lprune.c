/* lprune.c: Lua binding of the prune module (placeholder until the module lands). */
#include <lauxlib.h>
#include <lua.h>

#include "lbind.h"

int luaopen_lotto_prune(lua_State *L) {
  lua_newtable(L);
  return 1;
}
