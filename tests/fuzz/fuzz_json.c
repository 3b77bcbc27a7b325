/* fuzz_json.c: libFuzzer harness for lotto.json's decoder (src/lua/ljson_decode.c, cJSON under
 * it), driven through Lua as scripts use it. decode must return a value or nil + message,
 * never raise; a decoded value must encode, and re-decoding that text must encode to the
 * same text (the encoder is canonical: sorted keys, shortest round-trip numbers). */
#define _GNU_SOURCE /* memfd_create */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <string.h>

#include "fuzz_util.h"

int luaopen_lotto_json(lua_State *L);

static lua_State *L;

static const char *check_src =
    "local json, s = ...\n"
    "local ok, v, err = pcall(json.decode, s)\n"
    "if not ok then error('decode raised: ' .. tostring(v)) end\n"
    "if v == nil then\n"
    "  if type(err) ~= 'string' then error('decode failed without a message') end\n"
    "  return\n"
    "end\n"
    "local ok1, e1 = pcall(json.encode, v)\n"
    "if not ok1 then\n"
    "  if tostring(e1):find('nesting too deep', 1, true) then return end\n"
    "  error('encode of a decoded value raised: ' .. tostring(e1))\n"
    "end\n"
    "local v2, err2 = json.decode(e1)\n"
    "if v2 == nil then error('encoded text does not decode: ' .. tostring(err2) .. ' in ' .. e1) end\n"
    "local e2 = json.encode(v2)\n"
    "if e1 ~= e2 then error('round trip differs:\\n' .. e1 .. '\\n' .. e2) end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "lotto.json", luaopen_lotto_json, 0);
  lua_setglobal(L, "JSON");
  if (luaL_loadstring(L, check_src) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    abort();
  }
  lua_setglobal(L, "CHECK");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_settop(L, 0);
  lua_getglobal(L, "CHECK");
  lua_getglobal(L, "JSON");
  lua_pushlstring(L, (const char *)data, size);
  int st = lua_pcall(L, 2, 0, 0);
  FUZZ_CHECK(st == LUA_OK, "%s", lua_tostring(L, -1));
  lua_settop(L, 0);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
