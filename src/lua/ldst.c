/* ldst.c: the Lua binding of the mask arithmetic of training-time sparsity
 * (src/mask/mask_dst.c), module `lotto.core.dst`, wrapped by lua/lotto/dst.lua.
 * Masks and weights change in place; every argument is checked here. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "lbind.h"
#include "lotto/mask.h"

static int argfail(lua_State *L, int arg) {
  const char *msg = lt_errmsg();
  if (strncmp(msg, "lt_", 3) == 0) {
    const char *colon = strstr(msg, ": ");
    if (colon) msg = colon + 2;
  }
  return luaL_argerror(L, arg, lua_pushstring(L, msg));
}

/* drop_grow(mask, weight, grow_score | nil, n_drop, n_grow [, rng_or_seed]) -> dropped, grown */
static int d_drop_grow(lua_State *L) {
  lt_tensor *m = lt_checkinplace(L, 1, "mask");
  lt_tensor *w = lt_checkinplace(L, 2, "weight");
  if (!lt_tensor_same_shape(w, m)) luaL_argerror(L, 2, "weight must have the mask's shape");
  lt_tensor *g = lua_isnoneornil(L, 3) ? NULL : lt_checklike(L, 3, m, "grow score");
  lua_Integer nd = luaL_checkinteger(L, 4), ng = luaL_checkinteger(L, 5);
  luaL_argcheck(L, nd >= 0, 4, "n_drop must be >= 0");
  luaL_argcheck(L, ng >= 0, 5, "n_grow must be >= 0");
  lt_rng tmp, *r = NULL;
  if (!g && ng > 0) {
    luaL_argcheck(L, !lua_isnoneornil(L, 6), 6, "random growth (no grow score) needs a generator or a seed");
    r = lt_optrng(L, 6, &tmp);
  }
  int64_t dropped, grown;
  if (lt_mask_drop_grow(m, w, g, nd, ng, r, &dropped, &grown)) return argfail(L, 1);
  lua_pushinteger(L, dropped);
  lua_pushinteger(L, grown);
  return 2;
}

/* prune_to(mask, score, keep [, raw]) -> pruned: smallest |score| (or score, raw) first */
static int d_prune_to(lua_State *L) {
  lt_tensor *m = lt_checkinplace(L, 1, "mask");
  lt_tensor *s = lt_checklike(L, 2, m, "score");
  lua_Integer keep = luaL_checkinteger(L, 3);
  luaL_argcheck(L, keep >= 0, 3, "keep must be >= 0");
  int64_t pruned;
  if (lt_mask_prune_to(m, s, keep, lua_toboolean(L, 4) ? LT_SCORE_RAW : LT_SCORE_ABS, &pruned)) return argfail(L, 1);
  lua_pushinteger(L, pruned);
  return 1;
}

static const luaL_Reg funcs[] = {{"drop_grow", d_drop_grow}, {"prune_to", d_prune_to}, {NULL, NULL}};

static const lt_help_entry help[] = {
    {"drop_grow", "drop_grow(mask, weight, grow_score|nil, n_drop, n_grow [, rng_or_seed]) -> dropped, grown: grow "
                  "the largest |grow_score| (or random) among the pruned, drop the smallest |weight| among the "
                  "survivors; dropped and grown weights become 0"},
    {"prune_to", "prune_to(mask, score, keep [, raw]) -> pruned: prune the smallest |score| until keep survive"},
    {NULL, NULL}};

int luaopen_lotto_dst(lua_State *L) {
  luaL_newlib(L, funcs);
  lt_help_register(L, lua_gettop(L), NULL, help);
  return 1;
}
