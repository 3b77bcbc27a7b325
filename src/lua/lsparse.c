/* lsparse.c: Lua binding of the sparse module (placeholder until the module lands). */
#include <lauxlib.h>
#include <lua.h>

#include "lbind.h"

int luaopen_lotto_sparse(lua_State *L) {
  lua_newtable(L);
  return 1;
}
