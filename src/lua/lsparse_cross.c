/* lsparse_cross.c: the part of `lotto.core.sparse` (lsparse.c) about when a layer
 * runs sparse: kernel timings and calibration, the crossover table with its
 * cache file, and this machine's measured rates (lt_sparse_crossover_get). */
#include <lauxlib.h>
#include <lua.h>

#include "lbind.h"
#include "lotto/sparse.h"

/* ---- timing ---- */

static void settiming(lua_State *L, const lt_sparse_timing *t) {
  const struct { const char *k; double v; } f[] = {
      {"density", t->density},         {"dense_fwd", t->dense_fwd},         {"dense_bwd_in", t->dense_bwd_in},
      {"dense_wgrad", t->dense_wgrad}, {"sparse_fwd", t->sparse_fwd},       {"sparse_bwd_in", t->sparse_bwd_in},
      {"sparse_wgrad", t->sparse_wgrad}, {"sparse_fwd_t", t->sparse_fwd_t}, {"sparse_bwd_in_t", t->sparse_bwd_in_t},
      {"sparse_wgrad_t", t->sparse_wgrad_t}};
  lua_createtable(L, 0, 10);
  for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
    lua_pushnumber(L, f[i].v);
    lua_setfield(L, -2, f[i].k);
  }
}

static int checkdimarg(lua_State *L, int i, const char *what) {
  lua_Integer v = luaL_checkinteger(L, i);
  luaL_argcheck(L, v >= 1 && v <= (1 << 24), i, what);
  return (int)v;
}

/* sparse.bench(rows, cols, batch, density [, reps]) -> timings (microseconds per call) */
static int sp_bench(lua_State *L) {
  int rows = checkdimarg(L, 1, "rows must be 1..2^24"), cols = checkdimarg(L, 2, "cols must be 1..2^24");
  int batch = checkdimarg(L, 3, "batch must be 1..2^24");
  double d = luaL_checknumber(L, 4);
  luaL_argcheck(L, d >= 0 && d <= 1, 4, "density must be in [0, 1]");
  int reps = (int)luaL_optinteger(L, 5, 20);
  lt_sparse_timing t;
  if (lt_sparse_bench(&t, rows, cols, batch, d, reps)) return lt_raise(L, "sparse.bench");
  settiming(L, &t);
  return 1;
}

/* sparse.calibrate(rows, cols, batch [, {densities = {...}, reps = n}]) -> crossover, timings */
static int sp_calibrate(lua_State *L) {
  int rows = checkdimarg(L, 1, "rows must be 1..2^24"), cols = checkdimarg(L, 2, "cols must be 1..2^24");
  int batch = checkdimarg(L, 3, "batch must be 1..2^24");
  double dens[64] = {1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02};
  int nd = 7, reps = 10;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    if (lua_getfield(L, 4, "reps") != LUA_TNIL) reps = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, 4, "densities") == LUA_TTABLE) {
      nd = (int)luaL_len(L, -1);
      luaL_argcheck(L, nd >= 1 && nd <= 64, 4, "densities: 1 to 64 values");
      for (int i = 0; i < nd; i++) {
        lua_geti(L, -1, i + 1);
        dens[i] = luaL_checknumber(L, -1);
        luaL_argcheck(L, dens[i] >= 0 && dens[i] <= 1 && (i == 0 || dens[i] < dens[i - 1]), 4,
                      "densities must be in [0, 1] and descending");
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lt_sparse_timing t[64];
  double cross;
  if (lt_sparse_calibrate(&cross, t, dens, nd, rows, cols, batch, reps)) return lt_raise(L, "sparse.calibrate");
  lua_pushnumber(L, cross);
  lua_createtable(L, nd, 0);
  for (int i = 0; i < nd; i++) {
    settiming(L, &t[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 2;
}

/* sparse.crossover(rows, cols, batch) -> the default density threshold (no measurement) */
static int sp_crossover(lua_State *L) {
  lua_pushnumber(L, lt_sparse_crossover(checkdimarg(L, 1, "rows must be 1..2^24"),
                                        checkdimarg(L, 2, "cols must be 1..2^24"),
                                        checkdimarg(L, 3, "batch must be 1..2^24")));
  return 1;
}


/* core.crossover_get(rows, cols, n) -> density, measured */
static int sp_crossover_get(lua_State *L) {
  int measured;
  double d = lt_sparse_crossover_get(checkdimarg(L, 1, "rows must be 1..2^24"), checkdimarg(L, 2, "cols must be 1..2^24"),
                                     checkdimarg(L, 3, "n must be 1..2^24"), &measured);
  lua_pushnumber(L, d);
  lua_pushboolean(L, measured);
  lua_pushstring(L, measured == 1 ? "shape" : measured == 2 ? "machine" : "default");
  return 3;
}

/* core.machine_entries() -> {{blas, threads, dense_ns_per_mac, sparse_scale}, ...} */
static int sp_machine_entries(lua_State *L) {
  int n = lt_sparse_machine_count();
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    const char *k;
    int t;
    double d, sc;
    if (lt_sparse_machine_entry(i, &k, &t, &d, &sc)) break;
    lua_createtable(L, 0, 4);
    lua_pushstring(L, k);
    lua_setfield(L, -2, "blas");
    lua_pushinteger(L, t);
    lua_setfield(L, -2, "threads");
    lua_pushnumber(L, d);
    lua_setfield(L, -2, "dense_ns_per_mac");
    lua_pushnumber(L, sc);
    lua_setfield(L, -2, "sparse_scale");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* core.machine_set(blas, threads, dense_ns_per_mac, sparse_scale) */
static int sp_machine_set(lua_State *L) {
  const char *k = luaL_checkstring(L, 1);
  int t = checkdimarg(L, 2, "threads must be >= 1");
  if (lt_sparse_machine_set(k, t, luaL_checknumber(L, 3), luaL_checknumber(L, 4))) return lt_raise(L, "sparse.machine_set");
  return 0;
}

/* core.autocalibrate([on]) -> the previous setting (sets it when on is given) */
static int sp_autocalibrate(lua_State *L) {
  int was;
  if (lua_isnoneornil(L, 1)) {
    was = lt_sparse_set_autocalibrate(1);
    lt_sparse_set_autocalibrate(was);
  } else {
    was = lt_sparse_set_autocalibrate(lua_toboolean(L, 1));
  }
  lua_pushboolean(L, was);
  return 1;
}

/* core.machine_key() -> the key of this process's rates ("Zen", "Zen+portable+debug"),
 * the largest sparse scale this build accepts */
static int sp_machine_key(lua_State *L) {
  lua_pushstring(L, lt_sparse_machine_key());
  lua_pushnumber(L, lt_sparse_scale_max());
  return 2;
}

/* core.calibrate_machine() -> dense_ns_per_mac, sparse_scale (measured now, not recorded) */
static int sp_calibrate_machine(lua_State *L) {
  double d, sc;
  if (lt_sparse_calibrate_machine(&d, &sc)) return lt_raise(L, "sparse.calibrate_machine");
  lua_pushnumber(L, d);
  lua_pushnumber(L, sc);
  return 2;
}

/* core.crossover_set(rows, cols, n, threads, density) */
static int sp_crossover_set(lua_State *L) {
  int r = checkdimarg(L, 1, "rows must be 1..2^24"), c = checkdimarg(L, 2, "cols must be 1..2^24");
  int n = checkdimarg(L, 3, "n must be 1..2^24"), t = checkdimarg(L, 4, "threads must be >= 1");
  double d = luaL_checknumber(L, 5);
  luaL_argcheck(L, d >= 0 && d <= 1, 5, "crossover must be a density in [0, 1]");
  if (lt_sparse_crossover_set(r, c, n, t, d)) return lt_raise(L, "sparse.set_crossover");
  return 0;
}

/* core.crossover_entries() -> {{rows, cols, n, threads, crossover}, ...} */
static int sp_crossover_entries(lua_State *L) {
  int n = lt_sparse_crossover_count();
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    int r, c, b, t;
    double d;
    if (lt_sparse_crossover_entry(i, &r, &c, &b, &t, &d)) break;
    lua_createtable(L, 0, 5);
    const struct { const char *k; lua_Integer v; } f[] = {{"rows", r}, {"cols", c}, {"n", b}, {"threads", t}};
    for (int j = 0; j < 4; j++) {
      lua_pushinteger(L, f[j].v);
      lua_setfield(L, -2, f[j].k);
    }
    lua_pushnumber(L, d);
    lua_setfield(L, -2, "crossover");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int sp_crossover_clear(lua_State *L) {
  lt_sparse_crossover_clear();
  return 0;
}

/* core.cache_path() -> path | nil, msg */
static int sp_cache_path(lua_State *L) {
  char buf[4096];
  if (lt_sparse_cache_path(buf, sizeof buf)) return lt_pushfail(L);
  lua_pushstring(L, buf);
  return 1;
}

/* core.cache_load([path]) / core.cache_save([path]) -> true | nil, msg */
static int sp_cache_load(lua_State *L) {
  if (lt_sparse_cache_load(luaL_optstring(L, 1, NULL))) return lt_pushfail(L);
  lua_pushboolean(L, 1);
  return 1;
}
static int sp_cache_save(lua_State *L) {
  if (lt_sparse_cache_save(luaL_optstring(L, 1, NULL))) return lt_pushfail(L);
  lua_pushboolean(L, 1);
  return 1;
}

const luaL_Reg lt_sparse_cross_funcs[] = {
    {"bench", sp_bench}, {"calibrate", sp_calibrate}, {"crossover", sp_crossover}, {"crossover_get", sp_crossover_get},
    {"crossover_set", sp_crossover_set}, {"crossover_entries", sp_crossover_entries},
    {"crossover_clear", sp_crossover_clear}, {"cache_path", sp_cache_path}, {"cache_load", sp_cache_load},
    {"cache_save", sp_cache_save}, {"machine_entries", sp_machine_entries}, {"machine_set", sp_machine_set},
    {"autocalibrate", sp_autocalibrate}, {"calibrate_machine", sp_calibrate_machine},
    {"machine_key", sp_machine_key}, {NULL, NULL}};
