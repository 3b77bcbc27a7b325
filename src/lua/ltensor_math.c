/* ltensor_math.c: the tensor methods that compute: elementwise arithmetic (new or in
 * place, with a tensor or a number), unary ops, clamp, reductions, dot and matmul,
 * and the arithmetic metamethods. The userdata itself is ltensor.c's. */
#include <lauxlib.h>
#include <lua.h>

#include "lbind.h"
#include "ltensor_impl.h"

/* ---- arithmetic ---- */

/* t op x, x a tensor or a number; into a new tensor, or into t when inplace. */
static int arith(lua_State *L, lt_binop op, int inplace) {
  lt_tensor *t = lt_checktensor(L, 1), *u = NULL;
  int isnum = lua_type(L, 2) == LUA_TNUMBER;
  if (!isnum && !(u = lt_totensor(L, 2))) return luaL_typeerror(L, 2, "tensor or number");
  lt_tensor *out = t;
  if (inplace) lua_pushvalue(L, 1);
  else out = lt_pushnewtensor(L, t->ndim, t->shape);
  lt_checkstatus(L, isnum ? lt_tensor_binop_scalar(out, t, (float)lua_tonumber(L, 2), op) : lt_tensor_binop(out, t, u, op));
  return 1;
}

static int m_add(lua_State *L) { return arith(L, LT_ADD, 0); }
static int m_sub(lua_State *L) { return arith(L, LT_SUB, 0); }
static int m_mul(lua_State *L) { return arith(L, LT_MUL, 0); }
static int m_div(lua_State *L) { return arith(L, LT_DIV, 0); }
static int m_add_(lua_State *L) { return arith(L, LT_ADD, 1); }
static int m_sub_(lua_State *L) { return arith(L, LT_SUB, 1); }
static int m_mul_(lua_State *L) { return arith(L, LT_MUL, 1); }
static int m_div_(lua_State *L) { return arith(L, LT_DIV, 1); }

/* Metamethods: a number on the left means n op t, computed as fill(n) op t. */
static int meta_arith(lua_State *L, lt_binop op) {
  if (lua_type(L, 1) != LUA_TNUMBER) return arith(L, op, 0);
  float n = (float)lua_tonumber(L, 1);
  lt_tensor *t = lt_checktensor(L, 2);
  lt_tensor *out = lt_pushnewtensor(L, t->ndim, t->shape);
  lt_tensor_fill(out, n);
  lt_checkstatus(L, lt_tensor_binop(out, out, t, op));
  return 1;
}
static int mm_add(lua_State *L) { return meta_arith(L, LT_ADD); }
static int mm_sub(lua_State *L) { return meta_arith(L, LT_SUB); }
static int mm_mul(lua_State *L) { return meta_arith(L, LT_MUL); }
static int mm_div(lua_State *L) { return meta_arith(L, LT_DIV); }

static int unop(lua_State *L, lt_unop op, int inplace) {
  lt_tensor *t = lt_checktensor(L, 1), *out = t;
  if (inplace) lua_pushvalue(L, 1);
  else out = lt_pushnewtensor(L, t->ndim, t->shape);
  lt_checkstatus(L, lt_tensor_unop(out, t, op));
  return 1;
}
static int mm_unm(lua_State *L) { return unop(L, LT_NEG, 0); }
static int m_abs(lua_State *L) { return unop(L, LT_ABS, 0); }
static int m_sign(lua_State *L) { return unop(L, LT_SIGN, 0); }
static int m_sqrt(lua_State *L) { return unop(L, LT_SQRT, 0); }
static int m_exp(lua_State *L) { return unop(L, LT_EXP, 0); }
static int m_log(lua_State *L) { return unop(L, LT_LOG, 0); }
static int m_neg(lua_State *L) { return unop(L, LT_NEG, 0); }
static int m_relu(lua_State *L) { return unop(L, LT_RELU, 0); }
static int m_abs_(lua_State *L) { return unop(L, LT_ABS, 1); }
static int m_sign_(lua_State *L) { return unop(L, LT_SIGN, 1); }
static int m_sqrt_(lua_State *L) { return unop(L, LT_SQRT, 1); }
static int m_exp_(lua_State *L) { return unop(L, LT_EXP, 1); }
static int m_log_(lua_State *L) { return unop(L, LT_LOG, 1); }
static int m_neg_(lua_State *L) { return unop(L, LT_NEG, 1); }
static int m_relu_(lua_State *L) { return unop(L, LT_RELU, 1); }

static int clamp(lua_State *L, int inplace) {
  lt_tensor *t = lt_checktensor(L, 1), *out = t;
  double lo = luaL_checknumber(L, 2), hi = luaL_checknumber(L, 3);
  luaL_argcheck(L, lo <= hi, 3, "need lo <= hi");
  if (inplace) lua_pushvalue(L, 1);
  else out = lt_pushnewtensor(L, t->ndim, t->shape);
  lt_checkstatus(L, lt_tensor_clamp(out, t, (float)lo, (float)hi));
  return 1;
}
static int m_clamp(lua_State *L) { return clamp(L, 0); }
static int m_clamp_(lua_State *L) { return clamp(L, 1); }

/* ---- reductions ---- */

static int reduce(lua_State *L, lt_reduce op) {
  lt_tensor *t = lt_checktensor(L, 1);
  if (lua_isnoneornil(L, 2)) {
    switch (op) {
    case LT_RSUM: lua_pushnumber(L, lt_tensor_sum(t)); break;
    case LT_RMEAN: lua_pushnumber(L, lt_tensor_mean(t)); break;
    case LT_RMIN: lua_pushnumber(L, lt_tensor_min(t)); break;
    case LT_RMAX: lua_pushnumber(L, lt_tensor_max(t)); break;
    case LT_RARGMAX: lua_pushinteger(L, (lua_Integer)lt_tensor_argmax(t) + 1); break;
    }
    return 1;
  }
  int d = lt_checkdim(L, 2, t);
  lt_tensor **p = lt_newtensorslot(L);
  if (!(*p = lt_tensor_reduce_dim(t, d, op))) lt_raise(L, NULL);
  if (op == LT_RARGMAX) lt_checkstatus(L, lt_tensor_binop_scalar(*p, *p, 1.0f, LT_ADD));
  return 1;
}
static int m_sum(lua_State *L) { return reduce(L, LT_RSUM); }
static int m_mean(lua_State *L) { return reduce(L, LT_RMEAN); }
static int m_min(lua_State *L) { return reduce(L, LT_RMIN); }
static int m_max(lua_State *L) { return reduce(L, LT_RMAX); }
static int m_argmax(lua_State *L) { return reduce(L, LT_RARGMAX); }

static int m_dot(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1), *u = lt_checktensor(L, 2);
  double v;
  lt_checkstatus(L, lt_tensor_dot(t, u, &v));
  lua_pushnumber(L, v);
  return 1;
}

static int m_matmul(lua_State *L) {
  lt_tensor *t = lt_checktensor(L, 1), *u = lt_checktensor(L, 2);
  lt_tensor **p = lt_newtensorslot(L);
  lt_checkstatus(L, lt_tensor_matmul(p, t, u));
  return 1;
}

/* c:gemm_(a, b[, ta, tb, alpha, beta]) -> c: c = alpha op(a) op(b) + beta c in place (op: transposed
 * when ta / tb), 2-D contiguous tensors; lt_gemm itself, no allocation (benchmarks time it). */
static int m_gemm_(lua_State *L) {
  lt_tensor *c = lt_checktensor(L, 1), *a = lt_checktensor(L, 2), *b = lt_checktensor(L, 3);
  int ta = lua_toboolean(L, 4), tb = lua_toboolean(L, 5);
  float alpha = (float)luaL_optnumber(L, 6, 1.0), beta = (float)luaL_optnumber(L, 7, 0.0);
  const lt_tensor *t[3] = {c, a, b};
  for (int i = 0; i < 3; i++) {
    luaL_argcheck(L, t[i]->ndim == 2, i + 1, "expected a 2-D tensor");
    luaL_argcheck(L, lt_tensor_is_contiguous(t[i]), i + 1, "expected a contiguous tensor");
  }
  int64_t m = ta ? a->shape[1] : a->shape[0], k = ta ? a->shape[0] : a->shape[1];
  int64_t kb = tb ? b->shape[1] : b->shape[0], n = tb ? b->shape[0] : b->shape[1];
  luaL_argcheck(L, k == kb, 3, "inner sizes of op(a) and op(b) differ");
  luaL_argcheck(L, c->shape[0] == m && c->shape[1] == n, 1, "shape is not (rows of op(a), columns of op(b))");
  lt_gemm(ta, tb, (int)m, (int)n, (int)k, alpha, lt_tensor_data(a), (int)a->shape[1], lt_tensor_data(b),
          (int)b->shape[1], beta, lt_tensor_data(c), (int)n);
  lua_settop(L, 1);
  return 1;
}

const luaL_Reg lt_tensor_math_methods[] = {
    {"add", m_add}, {"sub", m_sub}, {"mul", m_mul}, {"div", m_div},
    {"add_", m_add_}, {"sub_", m_sub_}, {"mul_", m_mul_}, {"div_", m_div_}, {"abs", m_abs},
    {"sign", m_sign}, {"sqrt", m_sqrt}, {"exp", m_exp}, {"log", m_log}, {"neg", m_neg},
    {"relu", m_relu}, {"abs_", m_abs_}, {"sign_", m_sign_}, {"sqrt_", m_sqrt_}, {"exp_", m_exp_},
    {"log_", m_log_}, {"neg_", m_neg_}, {"relu_", m_relu_}, {"clamp", m_clamp}, {"clamp_", m_clamp_},
    {"sum", m_sum}, {"mean", m_mean}, {"min", m_min}, {"max", m_max}, {"argmax", m_argmax},
    {"dot", m_dot}, {"matmul", m_matmul}, {"gemm_", m_gemm_}, {NULL, NULL}};

const luaL_Reg lt_tensor_math_meta[] = {
    {"__add", mm_add}, {"__sub", mm_sub}, {"__mul", mm_mul}, {"__div", mm_div}, {"__unm", mm_unm}, {NULL, NULL}};
