/* main.c: the lotto host (placeholder: runs a script). */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>

#include "lbind.h"

int lt_raise(lua_State *L, const char *what) {
  if (what) return luaL_error(L, "%s: %s", what, lt_errmsg());
  return luaL_error(L, "%s", lt_errmsg());
}
int lt_pushfail(lua_State *L) {
  lua_pushnil(L);
  lua_pushstring(L, lt_errmsg());
  return 2;
}
void lt_help_register(lua_State *L, int t, const char *prefix, const lt_help_entry *h) {}
void lt_help_set(lua_State *L, int i, const char *text) {}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lt_openlibs(L);
  lua_getglobal(L, "package");
  lua_pushstring(L, LOTTO_SOURCE_DIR "/lua/?.lua;" LOTTO_SOURCE_DIR "/lua/?/init.lua;");
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  luaL_dostring(L, "lotto = require 'lotto'");
  if (argc > 1 && luaL_dofile(L, argv[1])) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  lua_close(L);
  return 0;
}
