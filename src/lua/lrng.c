/* lrng.c: the Lua binding of the seeded generator, module `lotto.rng` (metatable "lotto.rng").
 * An rng userdata embeds its lt_rng state (nothing on the heap); rng.new(seed) and an
 * integer seed passed where an rng is expected (lt_optrng) use the same stream.
 * A generator's state travels as text (r:state(), m:rng_states()) for checkpoints. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

#include "lbind.h"
#include "lotto/nn.h"

typedef struct lrng {
  lt_rng r;
  lua_Integer seed, stream;
} lrng;

static lrng *checklrng(lua_State *L, int i) { return luaL_checkudata(L, i, LT_RNG_MT); }

lt_rng *lt_checkrng(lua_State *L, int i) { return &checklrng(L, i)->r; }

lt_rng *lt_optrng(lua_State *L, int i, lt_rng *tmp) {
  lrng *u = luaL_testudata(L, i, LT_RNG_MT);
  if (u) return &u->r;
  if (lua_isnoneornil(L, i)) {
    lt_rng_seed(tmp, 0, LT_STREAM_USER);
    return tmp;
  }
  int ok;
  lua_Integer s = lua_tointegerx(L, i, &ok);
  if (!ok) luaL_typeerror(L, i, "rng or integer seed");
  lt_rng_seed(tmp, (uint64_t)s, LT_STREAM_USER);
  return tmp;
}

static lua_Integer checkstream(lua_State *L, int i) {
  lua_Integer st = luaL_optinteger(L, i, LT_STREAM_USER);
  luaL_argcheck(L, st >= 0, i, "stream must be >= 0");
  return st;
}

static int rng_new(lua_State *L) {
  lua_Integer seed = luaL_checkinteger(L, 1), stream = checkstream(L, 2);
  lrng *u = lua_newuserdatauv(L, sizeof *u, 0);
  lt_rng_seed(&u->r, (uint64_t)seed, (uint64_t)stream);
  u->seed = seed;
  u->stream = stream;
  luaL_setmetatable(L, LT_RNG_MT);
  return 1;
}

static int rng_seed(lua_State *L) {
  lrng *u = checklrng(L, 1);
  lua_Integer seed = luaL_checkinteger(L, 2), stream = checkstream(L, 3);
  lt_rng_seed(&u->r, (uint64_t)seed, (uint64_t)stream);
  u->seed = seed;
  u->stream = stream;
  lua_settop(L, 1);
  return 1;
}

static int rng_uniform(lua_State *L) {
  lrng *u = checklrng(L, 1);
  lua_Number lo = luaL_optnumber(L, 2, 0.0), hi = luaL_optnumber(L, 3, 1.0);
  luaL_argcheck(L, lo <= hi, 3, "need lo <= hi");
  double x = lo + (hi - lo) * lt_rng_double(&u->r);
  lua_pushnumber(L, x < hi ? x : lo); /* rounding must not reach hi */
  return 1;
}

static int rng_normal(lua_State *L) {
  lrng *u = checklrng(L, 1);
  lua_Number mean = luaL_optnumber(L, 2, 0.0), std = luaL_optnumber(L, 3, 1.0);
  luaL_argcheck(L, std >= 0, 3, "std must be >= 0");
  lua_pushnumber(L, mean + std * lt_rng_normal(&u->r));
  return 1;
}

/* int(lo, hi): uniform in [lo, hi] inclusive; int(n): in [1, n], like math.random. */
static int rng_int(lua_State *L) {
  lrng *u = checklrng(L, 1);
  lua_Integer lo = 1, hi;
  if (lua_isnoneornil(L, 3)) {
    hi = luaL_checkinteger(L, 2);
  } else {
    lo = luaL_checkinteger(L, 2);
    hi = luaL_checkinteger(L, 3);
  }
  luaL_argcheck(L, lo <= hi, lua_isnoneornil(L, 3) ? 2 : 3, "interval is empty (need lo <= hi)");
  uint64_t span = (uint64_t)hi - (uint64_t)lo; /* wraps correctly for any lo <= hi */
  uint64_t k = span == UINT64_MAX ? lt_rng_u64(&u->r) : lt_rng_below(&u->r, span + 1);
  lua_pushinteger(L, (lua_Integer)((uint64_t)lo + k));
  return 1;
}

static int rng_permutation(lua_State *L) {
  lrng *u = checklrng(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0 && n <= (1 << 26), 2, "n must be 0 to 2^26");
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_pushinteger(L, i);
    lua_seti(L, -2, i);
  }
  /* Fisher-Yates on the Lua table, the same draws as lt_rng_shuffle_i64 */
  for (lua_Integer i = n; i > 1; i--) {
    lua_Integer j = (lua_Integer)lt_rng_below(&u->r, (uint64_t)i) + 1;
    lua_geti(L, -1, i);
    lua_geti(L, -2, j);
    lua_seti(L, -3, i);
    lua_seti(L, -2, j);
  }
  return 1;
}

/* The state as 81 hex digits: s[0..3] (16 each), has_spare (1), the spare's bits (16). */
#define STATE_LEN 81

static void pushstate(lua_State *L, const lt_rng *r) {
  char buf[STATE_LEN + 1];
  uint64_t spare;
  memcpy(&spare, &r->spare, sizeof spare);
  snprintf(buf, sizeof buf, "%016llx%016llx%016llx%016llx%d%016llx", (unsigned long long)r->s[0],
           (unsigned long long)r->s[1], (unsigned long long)r->s[2], (unsigned long long)r->s[3], r->has_spare ? 1 : 0,
           (unsigned long long)spare);
  lua_pushlstring(L, buf, STATE_LEN);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static uint64_t hex64(const char *s) {
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) v = v << 4 | (uint64_t)hexval(s[i]);
  return v;
}

/* Parses a state string into *r; 0 when it is not one (r untouched). An all-zero
 * xoshiro state would stay zero forever, so it is refused too. */
static int tostate(const char *s, size_t n, lt_rng *r) {
  if (n != STATE_LEN) return 0;
  for (size_t i = 0; i < n; i++)
    if (hexval(s[i]) < 0) return 0;
  if (s[64] != '0' && s[64] != '1') return 0;
  lt_rng t;
  for (int k = 0; k < 4; k++) t.s[k] = hex64(s + 16 * k);
  if (!(t.s[0] | t.s[1] | t.s[2] | t.s[3])) return 0;
  t.has_spare = s[64] == '1';
  uint64_t spare = hex64(s + 65);
  memcpy(&t.spare, &spare, sizeof spare);
  *r = t;
  return 1;
}

static const char *const bad_state = "not a generator state (81 hex digits from r:state() or m:rng_states())";

static int rng_state(lua_State *L) {
  pushstate(L, &checklrng(L, 1)->r);
  return 1;
}

static int rng_set_state(lua_State *L) {
  lrng *u = checklrng(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  luaL_argcheck(L, tostate(s, n, &u->r), 2, bad_state);
  lua_settop(L, 1);
  return 1;
}

/* Calls f(layer, ud) on every layer of the tree under l that has a generator. */
static void each_rng(lt_layer *l, void (*f)(lt_layer *, void *), void *ud) {
  if (lt_layer_rng(l)) f(l, ud);
  for (int i = 0, c = lt_layer_nchildren(l); i < c; i++) each_rng(lt_layer_child(l, i), f, ud);
}

static void put_state(lt_layer *l, void *ud) {
  lua_State *L = ud;
  pushstate(L, lt_layer_rng(l));
  lua_setfield(L, -2, lt_layer_name(l));
}

// m:rng_states() -> {[layer name] = state}: the generators of the model's layers (dropout)
int lt_model_rng_states(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lua_newtable(L);
  each_rng(lt_model_root(m), put_state, L);
  return 1;
}

typedef struct {
  lua_State *L;
  int missing;        /* a layer with a generator that t does not name */
  char name[LT_NAME_MAX];
  int count;          /* generators set */
} setctx;

static void check_state(lt_layer *l, void *ud) {
  setctx *c = ud;
  size_t n;
  lua_pushstring(c->L, lt_layer_name(l));
  lua_rawget(c->L, 2);
  const char *s = lua_type(c->L, -1) == LUA_TSTRING ? lua_tolstring(c->L, -1, &n) : NULL;
  lt_rng tmp;
  if ((!s || !tostate(s, n, &tmp)) && !c->missing) c->missing = 1, snprintf(c->name, sizeof c->name, "%s", lt_layer_name(l));
  lua_pop(c->L, 1);
  c->count++;
}

static void set_state(lt_layer *l, void *ud) {
  setctx *c = ud;
  size_t n;
  lua_pushstring(c->L, lt_layer_name(l));
  lua_rawget(c->L, 2);
  const char *s = lua_tolstring(c->L, -1, &n);
  tostate(s, n, lt_layer_rng(l));
  lua_pop(c->L, 1);
}

// m:set_rng_states(t) -> m: every generator from t[layer name]; t names them all and nothing else
int lt_model_set_rng_states(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  setctx c = {L, 0, "", 0};
  each_rng(lt_model_root(m), check_state, &c); /* all or nothing: check every entry first */
  if (c.missing) return luaL_error(L, "set_rng_states: no valid state for layer '%s' (%s)", c.name, bad_state);
  int entries = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) entries++, lua_pop(L, 1);
  if (entries != c.count)
    return luaL_error(L, "set_rng_states: %d entries for the model's %d layers with a generator", entries, c.count);
  each_rng(lt_model_root(m), set_state, &c);
  lua_settop(L, 1);
  return 1;
}

static int rng_tostring(lua_State *L) {
  lrng *u = checklrng(L, 1);
  lua_pushfstring(L, "rng(seed %I, stream %I)", (LUAI_UACINT)u->seed, (LUAI_UACINT)u->stream);
  return 1;
}

static int rng_gc(lua_State *L) { return 0; } /* the state lives inside the userdata */

static const luaL_Reg funcs[] = {{"new", rng_new}, {NULL, NULL}};

static const luaL_Reg methods[] = {{"uniform", rng_uniform}, {"normal", rng_normal}, {"int", rng_int},
                                   {"permutation", rng_permutation}, {"seed", rng_seed}, {"state", rng_state},
                                   {"set_state", rng_set_state}, {NULL, NULL}};

static const luaL_Reg metamethods[] = {{"__tostring", rng_tostring}, {"__gc", rng_gc}, {NULL, NULL}};

static const lt_help_entry func_help[] = {
    {"new", "new(seed[, stream]) -> rng: a generator fixed by (seed, stream); stream defaults to 16 (user)"},
    {"streams", "streams: {init=0, data=1, prune=2, dropout=3, augment=4, targeted_dropout=5}, the stream numbers "
                "experiments use"},
    {NULL, NULL}};

static const lt_help_entry method_help[] = {
    {":uniform", "r:uniform([lo, hi]) -> number: uniform in [lo, hi), default [0, 1)"},
    {":normal", "r:normal([mean, std]) -> number: normal, default mean 0, std 1"},
    {":int", "r:int(lo, hi) -> integer in [lo, hi] inclusive; r:int(n) -> integer in [1, n]"},
    {":permutation", "r:permutation(n) -> table: 1..n in random order"},
    {":seed", "r:seed(s[, stream]) -> r: restarts the sequence of (s, stream)"},
    {":state", "r:state() -> string: the generator's whole state (81 hex digits), for r:set_state"},
    {":set_state", "r:set_state(s) -> r: continues from a state r:state() returned"},
    {NULL, NULL}};

int luaopen_lotto_rng(lua_State *L) {
  luaL_newlib(L, funcs);
  static const struct { const char *name; int id; } streams[] = {
      {"init", LT_STREAM_INIT},       {"data", LT_STREAM_DATA},       {"prune", LT_STREAM_PRUNE},
      {"dropout", LT_STREAM_DROPOUT}, {"augment", LT_STREAM_AUGMENT}, {"targeted_dropout", LT_STREAM_TARGETED_DROPOUT}};
  const int nstreams = (int)(sizeof streams / sizeof streams[0]);
  lua_createtable(L, 0, nstreams);
  for (int i = 0; i < nstreams; i++) {
    lua_pushinteger(L, streams[i].id);
    lua_setfield(L, -2, streams[i].name);
  }
  lua_setfield(L, -2, "streams");
  lt_newmeta(L, LT_RNG_MT, metamethods, methods);
  lua_getfield(L, -1, "__index");
  lt_help_register(L, lua_gettop(L), LT_RNG_MT, method_help);
  lua_pop(L, 1);
  lt_help_set(L, -1, "rng: a seeded xoshiro256** generator (lotto.rng.new(seed[, stream]))");
  lua_pop(L, 1);
  lt_help_register(L, lua_gettop(L), "lotto.rng", func_help);
  return 1;
}
