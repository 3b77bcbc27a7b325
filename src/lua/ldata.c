/* ldata.c: Lua binding of the data module (placeholder until the module lands). */
#include <lauxlib.h>
#include <lua.h>

#include "lbind.h"

int luaopen_lotto_data(lua_State *L) {
  lua_newtable(L);
  return 1;
}
