/* lsparse_nm.c: the n:m kernels of lotto.core.sparse (sparse.nm): a "lotto.nm"
 * userdata owns an lt_nm (at most n of every m consecutive inputs of a row
 * kept, e.g. 2:4) and runs its forward, input-gradient and weight-gradient
 * kernels on (B, features) tensors, transposing around the kernels, which
 * work on (features, B). */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"
#include "lotto/sparse.h"

#define LT_NM_MT "lotto.nm"

typedef struct {
  lt_nm *a; /* NULL once freed */
} lnm;

static lnm *checknm(lua_State *L, int i) {
  lnm *p = luaL_checkudata(L, i, LT_NM_MT);
  luaL_argcheck(L, p->a != NULL, i, "n:m weight has been freed");
  return p;
}

// A contiguous 2-D (B, cols) argument, retained (release it).
static lt_tensor *batch_arg(lua_State *L, int i, int cols, const char *what) {
  lt_tensor *t = lt_checktensor(L, i);
  if (t->ndim != 2 || t->shape[1] != cols)
    luaL_argerror(L, i, lua_pushfstring(L, "%s must be (B, %d)", what, cols));
  lt_tensor *c = lt_tensor_contiguous(t);
  if (!c) luaL_error(L, "sparse.nm: out of memory");
  return c;
}

// nm(weight, mask, n, m) -> n:m weight; the mask must keep at most n of every m inputs
static int sp_nm(lua_State *L) {
  lt_tensor *w = lt_checktensor(L, 1), *mk = lt_checktensor(L, 2);
  lua_Integer n = luaL_checkinteger(L, 3), m = luaL_checkinteger(L, 4);
  luaL_argcheck(L, w->ndim == 2, 1, "weight must be 2-D (out, in)");
  luaL_argcheck(L, lt_tensor_same_shape(w, mk), 2, "mask must have the weight's shape");
  luaL_argcheck(L, m >= 1 && m <= 64, 4, "m must be in [1, 64]");
  luaL_argcheck(L, n >= 1 && n <= m, 3, "n must be in [1, m]");
  luaL_argcheck(L, w->shape[1] % m == 0, 4, "m must divide the number of inputs");
  lnm *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->a = NULL;
  luaL_setmetatable(L, LT_NM_MT);
  if (!(p->a = lt_nm_new())) return luaL_error(L, "sparse.nm: out of memory");
  lt_tensor *cw = lt_tensor_contiguous(w), *cm = cw ? lt_tensor_contiguous(mk) : NULL;
  lt_status st = cm ? lt_nm_build(p->a, lt_tensor_data(cw), lt_tensor_data(cm), (int)w->shape[0], (int)w->shape[1],
                                  (int)n, (int)m)
                    : LT_ENOMEM;
  lt_tensor_release(cw);
  lt_tensor_release(cm);
  if (st) return lt_raise(L, "sparse.nm");
  return 1;
}

static int nm_shape(lua_State *L) {
  lnm *p = checknm(L, 1);
  lua_createtable(L, 2, 0);
  lua_pushinteger(L, p->a->rows);
  lua_rawseti(L, -2, 1);
  lua_pushinteger(L, p->a->cols);
  lua_rawseti(L, -2, 2);
  return 1;
}

// pattern() -> n, m
static int nm_pattern(lua_State *L) {
  lnm *p = checknm(L, 1);
  lua_pushinteger(L, p->a->n);
  lua_pushinteger(L, p->a->m);
  return 2;
}

/* Runs f on transposed operands: out (B, ro) from in (B, ri); f gets outT (ro, B), inT (ri, B). */
static lt_status transposed(lua_State *L, lt_tensor *out, const lt_tensor *in, int ro, int ri, int B,
                            lt_status (*f)(void *, float *, const float *), void *arg) {
  float *it = malloc(sizeof(float) * ((size_t)ri * B + 1)), *ot = malloc(sizeof(float) * ((size_t)ro * B + 1));
  lt_status st = it && ot ? LT_OK : lt_error(LT_ENOMEM, "sparse.nm: out of memory");
  if (!st) {
    lt_transpose(it, B, lt_tensor_data(in), ri, B, ri);
    if (!(st = f(arg, ot, it))) lt_transpose(lt_tensor_data(out), ro, ot, B, ro, B);
  }
  free(it);
  free(ot);
  return st;
}

typedef struct {
  const lt_nm *a;
  const float *bias;
  int B;
} fwd_arg;
static lt_status fwd(void *arg, float *yt, const float *xt) {
  fwd_arg *f = arg;
  return lt_nm_forward_t(yt, f->B, f->a, xt, f->B, f->B, f->bias);
}
static lt_status bwd(void *arg, float *dxt, const float *dyt) {
  fwd_arg *f = arg;
  return lt_nm_backward_input_t(dxt, f->B, f->a, dyt, f->B, f->B, 0);
}

// nm:matmul_t(x [, bias]) -> y (B, out) = x (B, in) . W^T (+ bias)
static int nm_matmul_t(lua_State *L) {
  lnm *p = checknm(L, 1);
  lt_tensor *x = batch_arg(L, 2, p->a->cols, "x"), *b = NULL;
  if (!lua_isnoneornil(L, 3)) {
    b = lt_checktensor(L, 3);
    luaL_argcheck(L, (int64_t)lt_tensor_numel(b) == p->a->rows && lt_tensor_is_contiguous(b), 3,
                  "bias must be contiguous with one value per output");
  }
  int B = (int)x->shape[0];
  lt_tensor *y = lt_tensor_new2(B, p->a->rows);
  lt_pushtensor(L, y);
  fwd_arg f = {p->a, b ? lt_tensor_data(b) : NULL, B};
  lt_status st = transposed(L, y, x, p->a->rows, p->a->cols, B, fwd, &f);
  lt_tensor_release(x);
  if (st) return lt_raise(L, "nm:matmul_t");
  return 1;
}

// nm:backward_input(dy) -> dx (B, in) = dy (B, out) . W
static int nm_backward_input(lua_State *L) {
  lnm *p = checknm(L, 1);
  lt_tensor *dy = batch_arg(L, 2, p->a->rows, "dy");
  int B = (int)dy->shape[0];
  lt_tensor *dx = lt_tensor_new2(B, p->a->cols);
  lt_pushtensor(L, dx);
  fwd_arg f = {p->a, NULL, B};
  lt_status st = transposed(L, dx, dy, p->a->cols, p->a->rows, B, bwd, &f);
  lt_tensor_release(dy);
  if (st) return lt_raise(L, "nm:backward_input");
  return 1;
}

// nm:weight_grad(x, dy) -> grad (out, in): dy^T . x on the kept positions, 0 elsewhere
static int nm_weight_grad(lua_State *L) {
  lnm *p = checknm(L, 1);
  const lt_nm *a = p->a;
  lt_tensor *x = batch_arg(L, 2, a->cols, "x"), *dy = batch_arg(L, 3, a->rows, "dy");
  int B = (int)x->shape[0];
  if (dy->shape[0] != B) {
    lt_tensor_release(x), lt_tensor_release(dy);
    return luaL_argerror(L, 3, "dy must have x's batch size");
  }
  lt_tensor *g = lt_tensor_new2(a->rows, a->cols);
  lt_pushtensor(L, g);
  float *xt = malloc(sizeof(float) * ((size_t)a->cols * B + 1)), *dyt = malloc(sizeof(float) * ((size_t)a->rows * B + 1));
  float *slots = calloc((size_t)a->rows * a->k + 1, sizeof(float));
  lt_status st = xt && dyt && slots ? LT_OK : lt_error(LT_ENOMEM, "nm:weight_grad: out of memory");
  if (!st) {
    lt_transpose(xt, B, lt_tensor_data(x), a->cols, B, a->cols);
    lt_transpose(dyt, B, lt_tensor_data(dy), a->rows, B, a->rows);
    st = lt_nm_weight_grad_t(slots, a, dyt, B, xt, B, B);
  }
  if (!st) { // slots back to their columns (padding slots hold 0 and are skipped)
    lt_nm tmp = *a;
    tmp.val = slots;
    lt_nm_todense(lt_tensor_data(g), &tmp);
  }
  free(xt), free(dyt), free(slots);
  lt_tensor_release(x), lt_tensor_release(dy);
  if (st) return lt_raise(L, "nm:weight_grad");
  return 1;
}

// nm:refresh(weight) -> nm: the same pattern, values re-read
static int nm_refresh(lua_State *L) {
  lnm *p = checknm(L, 1);
  lt_tensor *w = lt_checktensor(L, 2);
  luaL_argcheck(L, w->ndim == 2 && w->shape[0] == p->a->rows && w->shape[1] == p->a->cols, 2,
                "weight must have the n:m weight's shape");
  lt_tensor *c = lt_tensor_contiguous(w);
  if (!c) return luaL_error(L, "nm:refresh: out of memory");
  lt_nm_refresh(p->a, lt_tensor_data(c));
  lt_tensor_release(c);
  lua_settop(L, 1);
  return 1;
}

static int nm_todense(lua_State *L) {
  lnm *p = checknm(L, 1);
  lt_tensor *w = lt_tensor_new2(p->a->rows, p->a->cols);
  lt_pushtensor(L, w);
  lt_nm_todense(lt_tensor_data(w), p->a);
  return 1;
}

static int nm_tostring(lua_State *L) {
  lnm *p = luaL_checkudata(L, 1, LT_NM_MT);
  if (!p->a) lua_pushliteral(L, "n:m weight (freed)");
  else lua_pushfstring(L, "n:m weight %d:%d (%d, %d)", p->a->n, p->a->m, p->a->rows, p->a->cols);
  return 1;
}

static int nm_gc(lua_State *L) {
  lnm *p = luaL_checkudata(L, 1, LT_NM_MT);
  lt_nm_free(p->a);
  p->a = NULL;
  return 0;
}

static const luaL_Reg nm_methods[] = {{"shape", nm_shape},       {"pattern", nm_pattern},
                                      {"matmul_t", nm_matmul_t}, {"backward_input", nm_backward_input},
                                      {"weight_grad", nm_weight_grad}, {"refresh", nm_refresh},
                                      {"todense", nm_todense},   {NULL, NULL}};
static const luaL_Reg nm_meta[] = {{"__gc", nm_gc}, {"__close", nm_gc}, {"__tostring", nm_tostring}, {NULL, NULL}};

int lt_sparse_nm_open(lua_State *L) {
  lt_newmeta(L, LT_NM_MT, nm_meta, nm_methods);
  lua_pop(L, 1);
  return 0;
}

int lt_sparse_nm(lua_State *L) { return sp_nm(L); }

// nm_kernel(['auto' | 'avx2' | 'portable']) -> the forward kernel before the call: 'avx2' or 'portable'.
// 'auto' and 'avx2' both mean the AVX2 kernel where the CPU has it (so a returned name restores).
int lt_sparse_nm_kernel(lua_State *L) {
  static const char *const opts[] = {"auto", "avx2", "portable", NULL};
  lua_pushstring(L, lt_nm_simd_active() ? "avx2" : "portable");
  if (!lua_isnoneornil(L, 1)) lt_nm_use_simd(luaL_checkoption(L, 1, NULL, opts) != 2);
  return 1;
}
