/* ltensor.c: the Lua binding of tensors, module `lotto.tensor` (metatable "lotto.tensor").
 * A userdata holds one reference to an lt_tensor; dims and indices are 1-based here.
 * `#t` is the number of elements; t1 + t2, t * 2, 2 / t, -t are elementwise. */
#include <lauxlib.h>
#include <lua.h>
#include <limits.h>
#include <stdlib.h>

#include "lbind.h"
#include "ltensor_impl.h"
#include "lotto/blas.h"
#include "lotto/sparse.h" /* lt_sparse_sync */

static void pushmeta(lua_State *L);

/* ---- the userdata ---- */

/* A new tensor userdata holding NULL, metatable set: fill it before anything can fail. */
lt_tensor **lt_newtensorslot(lua_State *L) {
  lt_tensor **p = lua_newuserdatauv(L, sizeof *p, 0);
  *p = NULL;
  pushmeta(L);
  lua_setmetatable(L, -2);
  return p;
}

lt_tensor *lt_totensor(lua_State *L, int i) {
  lt_tensor **p = luaL_testudata(L, i, LT_TENSOR_MT);
  if (p && *p) lt_sparse_sync();
  return p ? *p : NULL;
}

lt_tensor *lt_checktensor_nosync(lua_State *L, int i) {
  lt_tensor **p = luaL_checkudata(L, i, LT_TENSOR_MT);
  luaL_argcheck(L, *p != NULL, i, "tensor has been freed");
  return *p;
}

/* Any tensor may be a view of a model's buffers: lagging ones are written first. */
lt_tensor *lt_checktensor(lua_State *L, int i) {
  lt_tensor *t = lt_checktensor_nosync(L, i);
  lt_sparse_sync();
  return t;
}

void lt_pushtensor(lua_State *L, lt_tensor *t) {
  if (!t) lt_raise(L, NULL);
  lt_tensor **p = lt_newtensorslot(L);
  *p = t;
}

/* Pushes a new zero tensor shaped like t (or shape); raises on failure. A tensor's storage is
 * outside Lua's heap, so the collector never sees it: a loop making a new 1 MB tensor a step
 * reached gigabytes before a cycle. A new tensor of 64 KB or more therefore adds its size to
 * the collector's debt, as if Lua had allocated it (LUA_GCSTEP with a size). */
void lt_gc_account(lua_State *L, size_t bytes) {
  size_t kb = bytes >> 10;
  if (kb >= 64) lua_gc(L, LUA_GCSTEP, kb > (size_t)INT_MAX ? INT_MAX : (int)kb);
}

lt_tensor *lt_pushnewtensor(lua_State *L, int ndim, const int64_t *shape) {
  lt_tensor **p = lt_newtensorslot(L);
  *p = lt_tensor_new(ndim, shape);
  if (!*p) lt_raise(L, NULL);
  lt_gc_account(L, (size_t)lt_tensor_numel(*p) * sizeof(float));
  return *p;
}

void lt_checkstatus(lua_State *L, lt_status st) {
  if (st != LT_OK) lt_raise(L, NULL);
}

/* ---- shapes and indices ---- */

static int64_t checksize(lua_State *L, int arg, int allow_minus1) {
  int ok;
  lua_Integer v = lua_tointegerx(L, -1, &ok);
  lua_pop(L, 1);
  if (!ok) luaL_argerror(L, arg, "shape sizes must be integers");
  if (v < 0 && !(allow_minus1 && v == -1))
    luaL_argerror(L, arg, lua_pushfstring(L, "size %I is negative", (LUAI_UACINT)v));
  return (int64_t)v;
}

/* A shape from a table at i, or from integers at i.. (greedy: up to the top, else one). */
static int getshape(lua_State *L, int i, int64_t shape[LT_MAXDIM], int greedy, int allow_minus1) {
  if (lua_istable(L, i)) { /* raw: no __len/__index runs while the caller holds tensors */
    lua_Integer n = (lua_Integer)lua_rawlen(L, i);
    luaL_argcheck(L, n >= 1 && n <= LT_MAXDIM, i, "shape must have 1 to 4 sizes");
    for (int k = 0; k < n; k++) {
      lua_rawgeti(L, i, k + 1);
      shape[k] = checksize(L, i, allow_minus1);
    }
    return (int)n;
  }
  if (lua_type(L, i) != LUA_TNUMBER) luaL_typeerror(L, i, "shape (table of sizes or integers)");
  int n = greedy ? lua_gettop(L) - i + 1 : 1;
  luaL_argcheck(L, n <= LT_MAXDIM, i + LT_MAXDIM, "shape must have 1 to 4 sizes");
  for (int k = 0; k < n; k++) {
    luaL_checkinteger(L, i + k);
    lua_pushvalue(L, i + k);
    shape[k] = checksize(L, i + k, allow_minus1);
  }
  return n;
}

int lt_checkshape(lua_State *L, int i, int64_t shape[LT_MAXDIM]) { return getshape(L, i, shape, 1, 0); }

/* A 1-based dim argument, returned 0-based. */
int lt_checkdim(lua_State *L, int arg, const lt_tensor *t) {
  lua_Integer d = luaL_checkinteger(L, arg);
  if (d < 1 || d > t->ndim)
    luaL_argerror(L, arg, lua_pushfstring(L, "dim %I out of range for a %d-D tensor", (LUAI_UACINT)d, t->ndim));
  return (int)d - 1;
}

/* A 1-based index into dim d (0-based), returned 0-based. */
static int64_t checkindex(lua_State *L, int arg, const lt_tensor *t, int d) {
  lua_Integer i = luaL_checkinteger(L, arg);
  if (i < 1 || i > t->shape[d])
    luaL_argerror(L, arg, lua_pushfstring(L, "index %I out of range for dim %d of size %I", (LUAI_UACINT)i, d + 1,
                                         (LUAI_UACINT)t->shape[d]));
  return (int64_t)i - 1;
}

/* ---- constructors ---- */

static int t_zeros(lua_State *L) {
  int64_t s[LT_MAXDIM];
  int nd = lt_checkshape(L, 1, s);
  lt_pushnewtensor(L, nd, s);
  return 1;
}

static int t_ones(lua_State *L) {
  int64_t s[LT_MAXDIM];
  int nd = lt_checkshape(L, 1, s);
  lt_tensor_fill(lt_pushnewtensor(L, nd, s), 1.0f);
  return 1;
}

static int t_full(lua_State *L) {
  int64_t s[LT_MAXDIM];
  int nd = getshape(L, 1, s, 0, 0);
  float v = (float)luaL_checknumber(L, 2);
  lt_tensor_fill(lt_pushnewtensor(L, nd, s), v);
  return 1;
}

static int t_arange(lua_State *L) {
  double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2), st = luaL_optnumber(L, 3, 1.0);
  luaL_argcheck(L, st != 0, 3, "step must be nonzero");
  lt_pushtensor(L, lt_tensor_arange((float)a, (float)b, (float)st));
  return 1;
}

/* Shape of a nested table, following first elements. */
static int nested_shape(lua_State *L, int64_t shape[LT_MAXDIM]) {
  int nd = 0;
  lua_pushvalue(L, 1);
  while (lua_istable(L, -1)) {
    if (nd == LT_MAXDIM) luaL_argerror(L, 1, "table nests deeper than 4 levels");
    shape[nd++] = (int64_t)luaL_len(L, -1);
    if (shape[nd - 1] == 0) break;
    lua_geti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  return nd;
}

/* Fills data from the table on top of the stack at depth d; *k counts written values. */
static void nested_fill(lua_State *L, const lt_tensor *t, int d, float *data, size_t *k) {
  if ((int64_t)luaL_len(L, -1) != t->shape[d])
    luaL_error(L, "new: ragged table: a row at depth %d has %I elements, expected %I", d + 1,
               (LUAI_UACINT)luaL_len(L, -1), (LUAI_UACINT)t->shape[d]);
  for (int64_t i = 1; i <= t->shape[d]; i++) {
    int ty = lua_geti(L, -1, i);
    if (d == t->ndim - 1) {
      if (ty != LUA_TNUMBER) luaL_error(L, "new: ragged table: element %I at depth %d is a %s, expected a number",
                                        (LUAI_UACINT)i, d + 1, lua_typename(L, ty));
      data[(*k)++] = (float)lua_tonumber(L, -1);
    } else {
      if (ty != LUA_TTABLE) luaL_error(L, "new: ragged table: element %I at depth %d is a %s, expected a table",
                                       (LUAI_UACINT)i, d + 1, lua_typename(L, ty));
      nested_fill(L, t, d + 1, data, k);
    }
    lua_pop(L, 1);
  }
}

static int t_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int64_t s[LT_MAXDIM];
  int nd = nested_shape(L, s);
  lt_tensor *t = lt_pushnewtensor(L, nd, s);
  size_t k = 0;
  lua_pushvalue(L, 1);
  nested_fill(L, t, 0, lt_tensor_data(t), &k);
  lua_pop(L, 1);
  return 1;
}

static int t_random(lua_State *L, int normal) {
  int64_t s[LT_MAXDIM];
  int nd = getshape(L, 1, s, 0, 0);
  luaL_argexpected(L, !lua_isnoneornil(L, 2), 2, "seed or rng");
  lt_rng tmp, *r = lt_optrng(L, 2, &tmp);
  double a = luaL_optnumber(L, 3, 0.0), b = luaL_optnumber(L, 4, 1.0);
  if (!normal) luaL_argcheck(L, a <= b, 4, "need lo <= hi");
  if (normal) luaL_argcheck(L, b >= 0, 4, "std must be >= 0");
  lt_tensor **p = lt_newtensorslot(L);
  *p = normal ? lt_tensor_randn(nd, s, r, (float)a, (float)b) : lt_tensor_rand(nd, s, r, (float)a, (float)b);
  if (!*p) lt_raise(L, NULL);
  return 1;
}
static int t_randn(lua_State *L) { return t_random(L, 1); }
static int t_rand(lua_State *L) { return t_random(L, 0); }

static int t_is_tensor(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, LT_TENSOR_MT) != NULL);
  return 1;
}

static int t_set_threads(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 1024, 1, "thread count must be 1 to 1024");
  lt_set_threads((int)n);
  return 0;
}

static int t_get_threads(lua_State *L) {
  lua_pushinteger(L, lt_get_threads());
  return 1;
}

/* {library, version, kernel, threads, cpu, cpu_isa, forced, check, config, summary}
 * (lt_pushblasinfo, lsys.c: also sys.info().blas). */
static int t_blas_info(lua_State *L) {
  lt_pushblasinfo(L);
  return 1;
}

/* ---- element access and copies ---- */

static int m_get(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1);
  int64_t idx[LT_MAXDIM];
  if (lua_gettop(L) - 1 != t->ndim)
    return luaL_error(L, "get: a %d-D tensor takes %d indices, got %d", t->ndim, t->ndim, lua_gettop(L) - 1);
  for (int d = 0; d < t->ndim; d++) idx[d] = checkindex(L, d + 2, t, d);
  lua_pushnumber(L, lt_tensor_get(t, idx));
  return 1;
}

static int m_set(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1);
  int64_t idx[LT_MAXDIM];
  if (lua_gettop(L) - 2 != t->ndim)
    return luaL_error(L, "set: a %d-D tensor takes %d indices and a value, got %d arguments", t->ndim, t->ndim,
                      lua_gettop(L) - 1);
  for (int d = 0; d < t->ndim; d++) idx[d] = checkindex(L, d + 2, t, d);
  lt_tensor_set(t, idx, (float)luaL_checknumber(L, t->ndim + 2));
  lua_settop(L, 1);
  return 1;
}

static int m_copy(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1), *s = lt_checktensor(L, 2);
  lt_checkstatus(L, lt_tensor_copy(t, s));
  lua_settop(L, 1);
  return 1;
}

static int m_clone(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1);
  lt_tensor **p = lt_newtensorslot(L);
  if (!(*p = lt_tensor_clone(t))) lt_raise(L, NULL);
  return 1;
}

static int m_fill(lua_State *L) {
  lt_tensor_fill(lt_checktensor(L, 1), (float)luaL_checknumber(L, 2));
  lua_settop(L, 1);
  return 1;
}

static void totable_rec(lua_State *L, const lt_tensor *t, int d, int64_t *idx) {
  lua_createtable(L, (int)t->shape[d], 0);
  for (int64_t i = 0; i < t->shape[d]; i++) {
    idx[d] = i;
    if (d == t->ndim - 1) lua_pushnumber(L, lt_tensor_get(t, idx));
    else totable_rec(L, t, d + 1, idx);
    lua_seti(L, -2, i + 1);
  }
}

static int m_totable(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1);
  int64_t idx[LT_MAXDIM] = {0};
  luaL_checkstack(L, LT_MAXDIM + 4, "totable");
  totable_rec(L, t, 0, idx);
  return 1;
}

/* ---- views ---- */

static int m_narrow(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1);
  int d = lt_checkdim(L, 2, t);
  lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
  luaL_argcheck(L, start >= 1 && start <= t->shape[d] + 1, 3,
                lua_pushfstring(L, "start %I out of range for dim %d of size %I", (LUAI_UACINT)start, d + 1,
                                (LUAI_UACINT)t->shape[d]));
  luaL_argcheck(L, len >= 0 && len <= t->shape[d] - (start - 1), 4,
                lua_pushfstring(L, "length %I from start %I exceeds dim %d of size %I", (LUAI_UACINT)len,
                                (LUAI_UACINT)start, d + 1, (LUAI_UACINT)t->shape[d]));
  lt_pushtensor(L, lt_tensor_narrow(t, d, start - 1, len));
  return 1;
}

static int m_select(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1);
  int d = lt_checkdim(L, 2, t);
  int64_t i = checkindex(L, 3, t, d);
  lt_pushtensor(L, lt_tensor_select(t, d, i));
  return 1;
}

static int m_transpose(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1);
  luaL_argcheck(L, t->ndim >= 2 || !lua_isnoneornil(L, 2), 1, "transpose of a 1-D tensor needs explicit dims");
  int d0 = lua_isnoneornil(L, 2) ? 0 : lt_checkdim(L, 2, t), d1 = lua_isnoneornil(L, 3) ? 1 : lt_checkdim(L, 3, t);
  lt_pushtensor(L, lt_tensor_transpose(t, d0, d1));
  return 1;
}

static int m_reshape(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1);
  int64_t s[LT_MAXDIM];
  int nd = getshape(L, 2, s, 1, 1);
  lt_pushtensor(L, lt_tensor_reshape(t, nd, s));
  return 1;
}

static int m_contiguous(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1);
  if (lt_tensor_is_contiguous(t)) lua_settop(L, 1);
  else lt_pushtensor(L, lt_tensor_clone(t));
  return 1;
}

static int m_is_contiguous(lua_State *L) {
  lua_pushboolean(L, lt_tensor_is_contiguous(lt_checktensor(L, 1)));
  return 1;
}

/* ---- inspection ---- */

static void pushshape(lua_State *L, const lt_tensor *t) {
  lua_createtable(L, t->ndim, 0);
  for (int d = 0; d < t->ndim; d++) {
    lua_pushinteger(L, t->shape[d]);
    lua_seti(L, -2, d + 1);
  }
}

/* shape, size, dim, numel read no values: no write-back of lagging buffers */
static int m_shape(lua_State *L) {
  pushshape(L, lt_checktensor_nosync(L, 1));
  return 1;
}

static int m_size(lua_State *L) {
  lt_tensor *t = lt_checktensor_nosync(L, 1);
  if (lua_isnoneornil(L, 2)) pushshape(L, t);
  else lua_pushinteger(L, t->shape[lt_checkdim(L, 2, t)]);
  return 1;
}

static int m_dim(lua_State *L) {
  lua_pushinteger(L, lt_checktensor_nosync(L, 1)->ndim);
  return 1;
}

static int m_numel(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lt_tensor_numel(lt_checktensor_nosync(L, 1)));
  return 1;
}

static int mm_tostring(lua_State *L) {
  lt_tensor **p = luaL_checkudata(L, 1, LT_TENSOR_MT);
  if (!*p) {
    lua_pushliteral(L, "tensor (freed)");
    return 1;
  }
  lt_sparse_sync();
  char *s = lt_tensor_tostring(*p);
  if (!s) return luaL_error(L, "tostring: out of memory");
  lua_pushstring(L, s);
  free(s);
  return 1;
}

static int mm_gc(lua_State *L) {
  lt_tensor **p = luaL_checkudata(L, 1, LT_TENSOR_MT);
  lt_tensor_release(*p);
  *p = NULL;
  return 0;
}

/* ---- registration ---- */

static const luaL_Reg funcs[] = {
    {"zeros", t_zeros}, {"ones", t_ones}, {"full", t_full}, {"arange", t_arange}, {"new", t_new},
    {"randn", t_randn}, {"rand", t_rand}, {"is_tensor", t_is_tensor}, {"set_threads", t_set_threads},
    {"get_threads", t_get_threads}, {"blas_info", t_blas_info}, {NULL, NULL}};

static const luaL_Reg methods[] = {
    {"get", m_get}, {"set", m_set}, {"copy", m_copy}, {"clone", m_clone}, {"fill", m_fill},
    {"totable", m_totable}, {"narrow", m_narrow}, {"select", m_select},
    {"reshape", m_reshape}, {"transpose", m_transpose}, {"contiguous", m_contiguous}, {"is_contiguous", m_is_contiguous},
    {"shape", m_shape}, {"size", m_size}, {"dim", m_dim}, {"numel", m_numel}, {NULL, NULL}};

static const luaL_Reg metamethods[] = {
    {"__len", m_numel}, {"__tostring", mm_tostring}, {"__gc", mm_gc}, {"__close", mm_gc}, {NULL, NULL}};

/* Pushes the metatable, creating it on first use (bindings may push tensors before
 * `lotto.tensor` is required). */
/* t[i]: for integer keys, row i (a view) of a tensor of 2 or more dims, or element i
 * of a 1-D tensor (1-based, checked); other keys are methods. The methods table stays
 * reachable as __methods for help and completion. */
static int m_index(lua_State *L) {
  if (lua_isinteger(L, 2)) {
    lt_tensor *t = lt_checktensor(L, 1);
    lua_Integer i = lua_tointeger(L, 2);
    if (i < 1 || i > t->shape[0])
      return luaL_error(L, "index %d out of range 1..%d (dim 1)", (int)i, (int)t->shape[0]);
    if (t->ndim == 1) {
      int64_t idx[1] = {i - 1};
      lua_pushnumber(L, lt_tensor_get(t, idx));
    } else {
      lt_pushtensor(L, lt_tensor_select(t, 0, i - 1));
    }
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

static void pushmeta(lua_State *L) {
  if (!lt_newmeta(L, LT_TENSOR_MT, metamethods, methods)) return;
  luaL_setfuncs(L, lt_tensor_math_meta, 0); /* __add, __sub, ... (ltensor_math.c) */
  lua_getfield(L, -1, "__index");
  luaL_setfuncs(L, lt_tensor_math_methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__methods");
  lua_pushcclosure(L, m_index, 1);
  lua_setfield(L, -2, "__index");
}

static const lt_help_entry func_help[] = {
    {"zeros", "zeros(shape) -> tensor: a new float32 tensor of zeros; shape is {3, 4} or 3, 4"},
    {"ones", "ones(shape) -> tensor: a new tensor of ones"},
    {"full", "full(shape, v) -> tensor: a new tensor filled with v"},
    {"arange", "arange(start, stop[, step]) -> tensor: 1-D start, start+step, ... (stop excluded, like numpy)"},
    {"new", "new(table) -> tensor: a tensor from a nested Lua table such as {{1, 2}, {3, 4}}"},
    {"randn", "randn(shape, seed_or_rng[, mean, std]) -> tensor: normal values, reproducible from the seed"},
    {"rand", "rand(shape, seed_or_rng[, lo, hi]) -> tensor: uniform values in [lo, hi), default [0, 1)"},
    {"is_tensor", "is_tensor(x) -> boolean: whether x is a tensor"},
    {"set_threads", "set_threads(n): the number of OpenBLAS threads used by matmul and the layers"},
    {"get_threads", "get_threads() -> n: the number of OpenBLAS threads"},
    {"blas_info", "blas_info() -> {library, version, kernel, threads, cpu, cpu_isa, forced, check, summary}: "
                  "the BLAS kernel in use; forced = 'lotto' | 'user' | 'fallback' | false"},
    {NULL, NULL}};

static const lt_help_entry method_help[] = {
    {":get", "t:get(i, j, ...) -> number: the element at 1-based indices"},
    {":set", "t:set(i, j, ..., v) -> t: sets the element at 1-based indices"},
    {":copy", "t:copy(src) -> t: copies src's values into t (same shape, or same size if both contiguous)"},
    {":clone", "t:clone() -> tensor: a contiguous copy"},
    {":fill", "t:fill(v) -> t: sets every element to v"},
    {":totable", "t:totable() -> table: the values as nested Lua tables"},
    {":add", "t:add(x) -> tensor: t + x elementwise, x a tensor of t's shape or a number"},
    {":sub", "t:sub(x) -> tensor: t - x elementwise"},
    {":mul", "t:mul(x) -> tensor: t * x elementwise"},
    {":div", "t:div(x) -> tensor: t / x elementwise"},
    {":add_", "t:add_(x) -> t: t += x in place"},
    {":sub_", "t:sub_(x) -> t: t -= x in place"},
    {":mul_", "t:mul_(x) -> t: t *= x in place"},
    {":div_", "t:div_(x) -> t: t /= x in place"},
    {":abs", "t:abs() -> tensor: |t|"},
    {":sign", "t:sign() -> tensor: -1, 0 or 1 per element"},
    {":sqrt", "t:sqrt() -> tensor: square roots"},
    {":exp", "t:exp() -> tensor: e^t"},
    {":log", "t:log() -> tensor: natural logarithms"},
    {":neg", "t:neg() -> tensor: -t"},
    {":relu", "t:relu() -> tensor: max(t, 0)"},
    {":abs_", "t:abs_() -> t: |t| in place"},
    {":sign_", "t:sign_() -> t: sign in place"},
    {":sqrt_", "t:sqrt_() -> t: square roots in place"},
    {":exp_", "t:exp_() -> t: e^t in place"},
    {":log_", "t:log_() -> t: logarithms in place"},
    {":neg_", "t:neg_() -> t: -t in place"},
    {":relu_", "t:relu_() -> t: max(t, 0) in place"},
    {":clamp", "t:clamp(lo, hi) -> tensor: values limited to [lo, hi]"},
    {":clamp_", "t:clamp_(lo, hi) -> t: clamp in place"},
    {":sum", "t:sum([dim]) -> number, or a tensor summed along dim"},
    {":mean", "t:mean([dim]) -> number, or a tensor of means along dim"},
    {":min", "t:min([dim]) -> number, or a tensor of minima along dim"},
    {":max", "t:max([dim]) -> number, or a tensor of maxima along dim"},
    {":argmax", "t:argmax([dim]) -> 1-based flat index, or a tensor of 1-based indices along dim"},
    {":dot", "t:dot(u) -> number: sum of t * u (same number of elements)"},
    {":matmul", "t:matmul(u) -> tensor: matrix product via OpenBLAS ((m,k) x (k,n) or (m,k) x (k))"},
    {":gemm_", "c:gemm_(a, b[, ta, tb, alpha = 1, beta = 0]) -> c: c = alpha op(a) op(b) + beta c in place, 2-D contiguous"},
    {":narrow", "t:narrow(dim, start, len) -> view: elements start..start+len-1 of dim, sharing storage"},
    {":select", "t:select(dim, i) -> view: slice i of dim, one dim fewer, sharing storage"},
    {":transpose", "t:transpose([d1, d2]) -> view: dims d1 and d2 (default 1 and 2) swapped, sharing storage"},
    {":reshape", "t:reshape(shape) -> view: same data, new shape (one -1 allowed; contiguous only)"},
    {":contiguous", "t:contiguous() -> tensor: t itself if contiguous, else a contiguous copy"},
    {":is_contiguous", "t:is_contiguous() -> boolean: whether the elements are dense in row-major order"},
    {":shape", "t:shape() -> table: the sizes, e.g. {3, 4}"},
    {":size", "t:size([dim]) -> the size of dim, or the shape table"},
    {":dim", "t:dim() -> number of dimensions"},
    {":numel", "t:numel() -> number of elements (also #t)"},
    {NULL, NULL}};

int luaopen_lotto_tensor(lua_State *L) {
  luaL_newlib(L, funcs);
  pushmeta(L);
  lua_getfield(L, -1, "__methods");
  lt_help_register(L, lua_gettop(L), LT_TENSOR_MT, method_help);
  lua_pop(L, 1);
  lt_help_set(L, -1, "tensor: a float32 array of 1 to 4 dims (lotto.tensor); #t is its number of elements");
  lua_pop(L, 1);
  lt_help_register(L, lua_gettop(L), "lotto.tensor", func_help);
  return 1;
}
