/* lprune.c: the Lua binding of masks and pruning, module `lotto.core.prune`
 * (wrapped by lua/lotto/prune.lua into the public `lotto.prune`). Masks are
 * changed in place; every argument is checked here so misuse is a Lua error. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "lbind.h"
#include "lotto/mask.h"

/* Raises the engine's message as an error on argument arg, without the "lt_xxx: " prefix. */
static int argfail(lua_State *L, int arg) {
  const char *msg = lt_errmsg();
  if (strncmp(msg, "lt_", 3) == 0) {
    const char *colon = strstr(msg, ": ");
    if (colon) msg = colon + 2;
  }
  return luaL_argerror(L, arg, lua_pushstring(L, msg));
}

static void check(lua_State *L, lt_status st, int arg) {
  if (st != LT_OK) argfail(L, arg);
}

/* A tensor argument written in place: contiguous (lbind.h). */
lt_tensor *lt_checkinplace(lua_State *L, int i, const char *what) {
  lt_tensor *t = lt_checktensor(L, i);
  if (!lt_tensor_is_contiguous(t)) luaL_argerror(L, i, lua_pushfstring(L, "%s must be contiguous (it is changed in place)", what));
  return t;
}

static lt_tensor *checkmask(lua_State *L, int i) { return lt_checkinplace(L, i, "mask"); }

/* A read-only tensor shaped like mask; a strided one is copied (the copy is left
 * on the stack so the collector owns it). */
lt_tensor *lt_checklike(lua_State *L, int i, const lt_tensor *mask, const char *what) {
  lt_tensor *t = lt_checktensor(L, i);
  if (!lt_tensor_same_shape(t, mask)) {
    char a[64], b[64];
    lt_tensor_shape_str(mask, a, sizeof a);
    lt_tensor_shape_str(t, b, sizeof b);
    luaL_argerror(L, i, lua_pushfstring(L, "%s %s must have the mask's shape %s", what, b, a));
  }
  if (!lt_tensor_is_contiguous(t)) {
    t = lt_tensor_contiguous(t);
    lt_pushtensor(L, t);
  }
  return t;
}

static double checkrate(lua_State *L, int i) {
  lua_Number p = luaL_checknumber(L, i);
  if (!(p >= 0.0 && p <= 1.0)) luaL_argerror(L, i, lua_pushfstring(L, "rate %f must be in [0, 1]", p));
  return p;
}

static int prune_local(lua_State *L, lt_score_mode mode, const char *what) {
  lt_tensor *m = checkmask(L, 1);
  lt_tensor *s = lt_checklike(L, 2, m, what);
  double p = checkrate(L, 3);
  int64_t pruned;
  check(L, lt_mask_prune_local(m, s, p, mode, &pruned), 1);
  lua_pushinteger(L, pruned);
  return 1;
}

/* magnitude_mask(mask, weight, p) -> pruned: prune p of the survivors with the smallest |weight|. */
static int p_magnitude_mask(lua_State *L) { return prune_local(L, LT_SCORE_ABS, "weight"); }
/* score_mask(mask, score, p) -> pruned: prune p of the survivors with the smallest score (as given). */
static int p_score_mask(lua_State *L) { return prune_local(L, LT_SCORE_RAW, "score"); }

/* global(masks, scores, p [, raw]) -> pruned, guarded: one threshold across the layers;
 * guarded is the list of 1-based layer positions the no-empty-layer guard kept alive. */
static int p_global(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  double p = checkrate(L, 3);
  lt_score_mode mode = lua_toboolean(L, 4) ? LT_SCORE_RAW : LT_SCORE_ABS;
  /* raw reads: an __index/__len would run Lua code while masks and scores are held */
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 1000000, 1, "expected a non-empty list of masks");
  if ((lua_Integer)lua_rawlen(L, 2) != n)
    luaL_argerror(L, 2, lua_pushfstring(L, "%I scores for %I masks", (LUAI_UACINT)lua_rawlen(L, 2), (LUAI_UACINT)n));
  /* arrays in userdata: freed by the collector even if a check below raises */
  lt_tensor **masks = lua_newuserdatauv(L, (size_t)n * sizeof *masks, 0);
  const lt_tensor **scores = lua_newuserdatauv(L, (size_t)n * sizeof *scores, 0);
  int *guarded = lua_newuserdatauv(L, (size_t)n * sizeof *guarded, 0);
  lua_newtable(L); /* anchors contiguous copies of strided scores */
  int anchor = lua_gettop(L);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    lt_tensor *m = lt_totensor(L, -1);
    if (!m) luaL_argerror(L, 1, lua_pushfstring(L, "masks[%I] is a %s, not a tensor", (LUAI_UACINT)i, luaL_typename(L, -1)));
    if (!lt_tensor_is_contiguous(m))
      luaL_argerror(L, 1, lua_pushfstring(L, "masks[%I] must be contiguous (it is changed in place)", (LUAI_UACINT)i));
    lua_pop(L, 1); /* still referenced by the masks table */
    lua_rawgeti(L, 2, i);
    lt_tensor *s = lt_totensor(L, -1);
    if (!s) luaL_argerror(L, 2, lua_pushfstring(L, "scores[%I] is a %s, not a tensor", (LUAI_UACINT)i, luaL_typename(L, -1)));
    if (!lt_tensor_same_shape(m, s)) {
      char a[64], b[64];
      luaL_argerror(L, 2, lua_pushfstring(L, "scores[%I] %s must have the shape of masks[%I] %s", (LUAI_UACINT)i,
                                          lt_tensor_shape_str(s, b, sizeof b), (LUAI_UACINT)i,
                                          lt_tensor_shape_str(m, a, sizeof a)));
    }
    lua_pop(L, 1);
    if (!lt_tensor_is_contiguous(s)) {
      s = lt_tensor_contiguous(s);
      lt_pushtensor(L, s);
      lua_rawseti(L, anchor, i);
    }
    masks[i - 1] = m;
    scores[i - 1] = s;
  }
  int64_t pruned;
  check(L, lt_mask_prune_global(masks, scores, (int)n, p, mode, guarded, &pruned), 1);
  lua_pushinteger(L, pruned);
  lua_newtable(L);
  int k = 0;
  for (lua_Integer i = 0; i < n; i++)
    if (guarded[i]) {
      lua_pushinteger(L, i + 1);
      lua_rawseti(L, -2, ++k);
    }
  return 2;
}

/* random(mask, p, rng_or_seed) -> pruned */
static int p_random(lua_State *L) {
  lt_tensor *m = checkmask(L, 1);
  double p = checkrate(L, 2);
  lt_rng tmp, *r = lt_optrng(L, 3, &tmp);
  int64_t pruned;
  check(L, lt_mask_prune_random(m, p, r, &pruned), 1);
  lua_pushinteger(L, pruned);
  return 1;
}

/* structured(mask, weight, p [, {dim = 1, norm = 'l1'|'l2'}]) -> units pruned */
static int p_structured(lua_State *L) {
  double p = checkrate(L, 3);
  lua_Integer dim = 1;
  lt_norm norm = LT_NORM_L1;
  if (!lua_isnoneornil(L, 4)) { /* options first and raw: then the tensors */
    luaL_checktype(L, 4, LUA_TTABLE);
    if (lt_rawfield(L, 4, "dim") != LUA_TNIL) {
      int ok;
      dim = lua_tointegerx(L, -1, &ok);
      if (!ok) luaL_argerror(L, 4, "option dim must be an integer");
    }
    if (lt_rawfield(L, 4, "norm") != LUA_TNIL) {
      const char *s = lua_tostring(L, -1);
      if (s && strcmp(s, "l2") == 0) norm = LT_NORM_L2;
      else if (!s || strcmp(s, "l1") != 0) luaL_argerror(L, 4, "option norm must be 'l1' or 'l2'");
    }
    lua_pop(L, 2);
  }
  lt_tensor *m = checkmask(L, 1);
  lt_tensor *w = lt_checklike(L, 2, m, "weight");
  if (dim < 1 || dim > m->ndim)
    luaL_argerror(L, 4, lua_pushfstring(L, "dim %I out of range for a %d-D mask", (LUAI_UACINT)dim, m->ndim));
  int64_t units;
  check(L, lt_mask_prune_structured(m, w, p, (int)dim - 1, norm, &units), 1);
  lua_pushinteger(L, units);
  return 1;
}

/* nm(mask, score, n, m [, raw]) -> pruned */
static int p_nm(lua_State *L) {
  lt_tensor *mk = checkmask(L, 1);
  lt_tensor *s = lt_checklike(L, 2, mk, "score");
  lua_Integer n = luaL_checkinteger(L, 3), m = luaL_checkinteger(L, 4);
  luaL_argcheck(L, m >= 1 && m <= 1 << 20, 4, "group size m must be in [1, 2^20]");
  if (n < 0 || n > m) luaL_argerror(L, 3, lua_pushfstring(L, "n = %I must be in [0, m = %I]", (LUAI_UACINT)n, (LUAI_UACINT)m));
  lt_score_mode mode = lua_toboolean(L, 5) ? LT_SCORE_RAW : LT_SCORE_ABS;
  int64_t pruned;
  check(L, lt_mask_prune_nm(mk, s, (int)n, (int)m, mode, &pruned), 1);
  lua_pushinteger(L, pruned);
  return 1;
}

/* permute(mask, rng_or_seed) -> mask */
static int p_permute(lua_State *L) {
  lt_tensor *m = checkmask(L, 1);
  lt_rng tmp, *r = lt_optrng(L, 2, &tmp);
  check(L, lt_mask_permute(m, r), 1);
  lua_settop(L, 1);
  return 1;
}

static int p_count(lua_State *L) {
  lua_pushinteger(L, lt_mask_count(lt_checktensor(L, 1)));
  return 1;
}

static int p_density(lua_State *L) {
  lua_pushnumber(L, lt_mask_density(lt_checktensor(L, 1)));
  return 1;
}

/* Two masks of one shape, both contiguous (copies left on the stack). */
static void checkpair(lua_State *L, lt_tensor **a, lt_tensor **b) {
  *a = lt_checktensor(L, 1);
  if (!lt_tensor_is_contiguous(*a)) {
    *a = lt_tensor_contiguous(*a);
    lt_pushtensor(L, *a);
  }
  *b = lt_checklike(L, 2, *a, "second mask");
}

/* hamming(a, b) -> count, normalised */
static int p_hamming(lua_State *L) {
  lt_tensor *a, *b;
  checkpair(L, &a, &b);
  int64_t c;
  check(L, lt_mask_hamming(&c, a, b), 1);
  size_t n = lt_tensor_numel(a);
  lua_pushinteger(L, c);
  lua_pushnumber(L, n ? (double)c / (double)n : 0.0);
  return 2;
}

/* overlap(a, b) -> jaccard, cover */
static int p_overlap(lua_State *L) {
  lt_tensor *a, *b;
  checkpair(L, &a, &b);
  double j, c;
  check(L, lt_mask_overlap(&j, &c, a, b), 1);
  lua_pushnumber(L, j);
  lua_pushnumber(L, c);
  return 2;
}

/* check(mask) -> true, or false, message */
static int p_check(lua_State *L) {
  lt_tensor *m = lt_checktensor(L, 1);
  if (!lt_tensor_is_contiguous(m)) {
    m = lt_tensor_contiguous(m);
    lt_pushtensor(L, m);
  }
  if (lt_mask_check(m) != LT_OK) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, lt_errmsg());
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* apply(weight, mask) -> weight: pruned weights set to 0 in place */
static int p_apply(lua_State *L) {
  lt_tensor *w = lt_checktensor(L, 1);
  luaL_argcheck(L, lt_tensor_is_contiguous(w), 1, "weight must be contiguous (it is changed in place)");
  lt_tensor *m = lt_checklike(L, 2, w, "mask");
  check(L, lt_mask_apply(w, m), 2);
  lua_settop(L, 1);
  return 1;
}

/* keep_top(mask, score, keep [, raw]) -> pruned: keep the `keep` best-scored survivors
 * (|score| unless raw). */
static int p_keep_top(lua_State *L) {
  lt_tensor *m = checkmask(L, 1);
  lt_tensor *s = lt_checklike(L, 2, m, "score");
  lua_Integer keep = luaL_checkinteger(L, 3);
  luaL_argcheck(L, keep >= 0, 3, "keep must be >= 0");
  lt_score_mode mode = lua_toboolean(L, 4) ? LT_SCORE_RAW : LT_SCORE_ABS;
  int64_t pruned;
  check(L, lt_mask_keep_top(m, s, (int64_t)keep, mode, &pruned), 1);
  lua_pushinteger(L, pruned);
  return 1;
}

/* erk(shapes, density [, dense]) -> {d1, d2, ...}: shapes a list of shape tables, dense a
 * list of booleans (layers kept dense). */
static int p_erk(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  double target = checkrate(L, 2);
  lua_Integer n = luaL_len(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 100000, 1, "expected a non-empty list of shapes");
  int has_dense = !lua_isnoneornil(L, 3);
  if (has_dense) luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  double *dens = lua_newuserdatauv(L, (size_t)n * sizeof *dens, 0);
  int64_t(*dims)[8] = lua_newuserdatauv(L, (size_t)n * sizeof *dims, 0);
  const int64_t **shapes = lua_newuserdatauv(L, (size_t)n * sizeof *shapes, 0);
  int *nd = lua_newuserdatauv(L, (size_t)n * sizeof *nd, 0);
  int *dense = lua_newuserdatauv(L, (size_t)n * sizeof *dense, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_geti(L, 1, i) != LUA_TTABLE)
      luaL_argerror(L, 1, lua_pushfstring(L, "shapes[%I] is a %s, not a shape table", (LUAI_UACINT)i, luaL_typename(L, -1)));
    lua_Integer k = luaL_len(L, -1);
    if (k < 1 || k > 8) luaL_argerror(L, 1, lua_pushfstring(L, "shapes[%I] must have 1 to 8 sizes", (LUAI_UACINT)i));
    for (lua_Integer d = 1; d <= k; d++) {
      lua_geti(L, -1, d);
      int ok;
      lua_Integer v = lua_tointegerx(L, -1, &ok);
      if (!ok || v < 1)
        luaL_argerror(L, 1, lua_pushfstring(L, "shapes[%I][%I] must be a positive integer", (LUAI_UACINT)i, (LUAI_UACINT)d));
      dims[i - 1][d - 1] = v;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    shapes[i - 1] = dims[i - 1];
    nd[i - 1] = (int)k;
    dense[i - 1] = 0;
    if (has_dense) {
      lua_geti(L, 3, i);
      dense[i - 1] = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
  }
  check(L, lt_mask_erk(dens, shapes, nd, dense, (int)n, target), 2);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 0; i < n; i++) {
    lua_pushnumber(L, dens[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* targeted_dropout(keep, weight, mask, gamma, alpha, rng_or_seed [, units]) -> keep */
static int p_targeted_dropout(lua_State *L) {
  lt_tensor *k = checkmask(L, 1);
  lt_tensor *w = lt_checklike(L, 2, k, "weight");
  lt_tensor *m = lt_checklike(L, 3, k, "mask");
  lua_Number gamma = luaL_checknumber(L, 4), alpha = luaL_checknumber(L, 5);
  luaL_argcheck(L, gamma >= 0 && gamma <= 1, 4, "gamma must be in [0, 1]");
  luaL_argcheck(L, alpha >= 0 && alpha <= 1, 5, "alpha must be in [0, 1]");
  lt_rng tmp, *r = lt_optrng(L, 6, &tmp);
  check(L, lt_mask_targeted_dropout(k, w, m, gamma, alpha, lua_toboolean(L, 7), r), 1);
  lua_settop(L, 1);
  return 1;
}

static const luaL_Reg funcs[] = {
    {"magnitude_mask", p_magnitude_mask}, {"score_mask", p_score_mask}, {"global", p_global},
    {"random", p_random}, {"structured", p_structured}, {"nm", p_nm}, {"permute", p_permute},
    {"count", p_count}, {"density", p_density}, {"hamming", p_hamming}, {"overlap", p_overlap},
    {"check", p_check}, {"apply", p_apply}, {"keep_top", p_keep_top}, {"erk", p_erk},
    {"targeted_dropout", p_targeted_dropout},
    {NULL, NULL}};

static const lt_help_entry help[] = {
    {"magnitude_mask", "magnitude_mask(mask, weight, p) -> pruned: prune round(p * surviving) entries with the "
                       "smallest |weight| (ties: lower index first; NaN first), in place"},
    {"score_mask", "score_mask(mask, score, p) -> pruned: like magnitude_mask with the score as given (smallest first)"},
    {"random", "random(mask, p, rng_or_seed) -> pruned: prune round(p * surviving) surviving entries at random"},
    {"structured", "structured(mask, weight, p [, {dim = 1, norm = 'l1'|'l2'}]) -> units: prune whole rows "
                   "(neurons/channels) with the smallest norm of surviving weights"},
    {"nm", "nm(mask, score, n, m) -> pruned: at most n survivors in every m consecutive inputs, the largest |score|"},
    {"permute", "permute(mask, rng_or_seed) -> mask: shuffle the mask within the tensor (same density)"},
    {"count", "count(mask) -> surviving entries"},
    {"density", "density(mask) -> surviving / size"},
    {"hamming", "hamming(a, b) -> count, fraction: entries where the masks differ"},
    {"overlap", "overlap(a, b) -> jaccard, cover: |a and b| / |a or b| and |a and b| / |a| (1 for empty sets)"},
    {"check", "check(mask) -> true, or false and a message when an entry is not 0 or 1"},
    {"apply", "apply(weight, mask) -> weight: set pruned weights to 0 in place"},
    {"keep_top", "keep_top(mask, score, keep [, raw]) -> pruned: keep the `keep` survivors with the largest "
                 "|score| (score as given when raw), prune the rest"},
    {"erk", "erk(shapes, density [, dense]) -> {d1, ...}: Erdos-Renyi-Kernel layer densities for an overall "
            "density; dense[i] = true keeps layer i dense"},
    {"targeted_dropout", "targeted_dropout(keep, weight, mask, gamma, alpha, rng_or_seed [, units]) -> keep: "
                         "mask with each of the gamma lowest-|w| survivors (or rows) dropped with probability alpha"},
    {NULL, NULL}};

int luaopen_lotto_prune(lua_State *L) {
  luaL_newlib(L, funcs);
  lt_help_register(L, lua_gettop(L), NULL, help);
  return 1;
}
