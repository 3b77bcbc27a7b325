/* lsparse.c: Lua binding of the sparse kernels, module `lotto.core.sparse`
 * (wrapped by lua/lotto/sparse.lua). A "lotto.csr" userdata owns a CSR of a
 * masked weight and its transpose (for the input gradient). Also the
 * dispatch controls (modes, per-layer settings; the crossover table is in
 * lsparse_cross.c) and thin wrappers of the engine's export/import of pruned
 * models (lt_model_export). */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"
#include "lotto/nn.h"
#include "lotto/sparse.h"

#define LT_CSR_MT "lotto.csr"

typedef struct lcsr {
  lt_csr *a, *at; /* NULL once freed */
} lcsr;

static lcsr *checkcsr(lua_State *L, int i) {
  lcsr *p = luaL_checkudata(L, i, LT_CSR_MT);
  luaL_argcheck(L, p->a != NULL, i, "csr has been freed");
  return p;
}

/* A 2-D tensor argument with cols columns (any if cols < 0) and, if rows >= 0, rows rows. */
static lt_tensor *check2d(lua_State *L, int i, int64_t rows, int64_t cols, const char *what) {
  lt_tensor *t = lt_checktensor(L, i);
  if (t->ndim != 2 || (cols >= 0 && t->shape[1] != cols) || (rows >= 0 && t->shape[0] != rows)) {
    char buf[96];
    lt_tensor_shape_str(t, buf, sizeof buf);
    if (rows >= 0)
      return luaL_argerror(L, i, lua_pushfstring(L, "%s must be (%d, %d), got %s", what, (int)rows, (int)cols, buf)),
             NULL;
    return luaL_argerror(L, i, lua_pushfstring(L, "%s must be (B, %d), got %s", what, (int)cols, buf)), NULL;
  }
  return t;
}

/* A contiguous reference to t (t itself, retained, or a copy); raises on ENOMEM. */
static lt_tensor *contig(lua_State *L, lt_tensor *t) {
  lt_tensor *c = lt_tensor_contiguous(t);
  if (!c) lt_raise(L, "sparse");
  return c;
}

static int sp_csr(lua_State *L) {
  lt_tensor *w = lt_checktensor(L, 1), *m = lt_checktensor(L, 2);
  luaL_argcheck(L, w->ndim == 2, 1, "weight must be 2-D (out, in)");
  luaL_argcheck(L, lt_tensor_same_shape(w, m), 2, "mask must have the weight's shape");
  luaL_argcheck(L, w->shape[0] <= INT32_MAX && w->shape[1] <= INT32_MAX, 1, "weight is too large");
  lcsr *p = lua_newuserdatauv(L, sizeof *p, 0); /* empty first: an error below leaks nothing */
  p->a = p->at = NULL;
  luaL_setmetatable(L, LT_CSR_MT);
  p->a = lt_csr_new();
  p->at = lt_csr_new();
  if (!p->a || !p->at) return luaL_error(L, "sparse.csr: out of memory");
  lt_tensor *cw = contig(L, w), *cm = lt_tensor_contiguous(m);
  lt_status st = cm ? lt_csr_build(p->a, lt_tensor_data(cw), lt_tensor_data(cm), (int)w->shape[0], (int)w->shape[1])
                    : LT_ENOMEM;
  lt_tensor_release(cw);
  lt_tensor_release(cm);
  if (st == LT_OK) st = lt_csr_transpose(p->at, p->a);
  if (st) return lt_raise(L, "sparse.csr");
  return 1;
}

static int csr_nnz(lua_State *L) {
  lua_pushinteger(L, checkcsr(L, 1)->a->nnz);
  return 1;
}

static int csr_density(lua_State *L) {
  lua_pushnumber(L, lt_csr_density(checkcsr(L, 1)->a));
  return 1;
}

static int csr_shape(lua_State *L) {
  lcsr *p = checkcsr(L, 1);
  lua_createtable(L, 2, 0);
  lua_pushinteger(L, p->a->rows);
  lua_rawseti(L, -2, 1);
  lua_pushinteger(L, p->a->cols);
  lua_rawseti(L, -2, 2);
  return 1;
}

/* csr:matmul_t(x [, bias]) -> y (B, out) = x (B, in) . W^T (+ bias) */
static int csr_matmul_t(lua_State *L) {
  lcsr *p = checkcsr(L, 1);
  lt_tensor *x = check2d(L, 2, -1, p->a->cols, "x"), *b = NULL;
  if (!lua_isnoneornil(L, 3)) {
    b = lt_checktensor(L, 3);
    luaL_argcheck(L, (int64_t)lt_tensor_numel(b) == p->a->rows, 3, "bias must have one value per output");
  }
  int B = (int)x->shape[0];
  lt_tensor *y = lt_tensor_new2(B, p->a->rows);
  lt_pushtensor(L, y);
  lt_tensor *cx = contig(L, x), *cb = b ? lt_tensor_contiguous(b) : NULL;
  lt_status st = b && !cb ? LT_ENOMEM
                          : lt_sparse_linear_forward(lt_tensor_data(y), p->a, lt_tensor_data(cx),
                                                     cb ? lt_tensor_data(cb) : NULL, B);
  lt_tensor_release(cx);
  lt_tensor_release(cb);
  if (st) return lt_raise(L, "csr:matmul_t");
  return 1;
}

/* csr:backward_input(dy) -> dx (B, in) = dy (B, out) . W */
static int csr_backward_input(lua_State *L) {
  lcsr *p = checkcsr(L, 1);
  lt_tensor *dy = check2d(L, 2, -1, p->a->rows, "dy");
  int B = (int)dy->shape[0];
  lt_tensor *dx = lt_tensor_new2(B, p->a->cols);
  lt_pushtensor(L, dx);
  lt_tensor *c = contig(L, dy);
  lt_status st = lt_sparse_linear_backward_input(lt_tensor_data(dx), p->at, lt_tensor_data(c), B);
  lt_tensor_release(c);
  if (st) return lt_raise(L, "csr:backward_input");
  return 1;
}

/* csr:weight_grad(x, dy [, grad]) -> grad (out, in) += dy^T . x on the pattern */
static int csr_weight_grad(lua_State *L) {
  lcsr *p = checkcsr(L, 1);
  lt_tensor *x = check2d(L, 2, -1, p->a->cols, "x"), *dy = check2d(L, 3, -1, p->a->rows, "dy");
  luaL_argcheck(L, x->shape[0] == dy->shape[0], 3, "dy must have x's batch size");
  lt_tensor *g;
  if (lua_isnoneornil(L, 4)) {
    g = lt_tensor_new2(p->a->rows, p->a->cols);
    lt_pushtensor(L, g);
  } else {
    g = check2d(L, 4, p->a->rows, p->a->cols, "grad");
    luaL_argcheck(L, lt_tensor_is_contiguous(g), 4, "grad must be contiguous");
    lua_pushvalue(L, 4);
  }
  lt_tensor *cx = contig(L, x), *cdy = lt_tensor_contiguous(dy);
  lt_status st = !cdy ? LT_ENOMEM
                      : lt_sparse_linear_weight_grad(lt_tensor_data(g), p->a, lt_tensor_data(cdy), lt_tensor_data(cx),
                                                     (int)x->shape[0]);
  lt_tensor_release(cx);
  lt_tensor_release(cdy);
  if (st) return lt_raise(L, "csr:weight_grad");
  return 1;
}

/* csr:refresh(weight) -> csr: new values from the dense weight, same pattern */
static int csr_refresh(lua_State *L) {
  lcsr *p = checkcsr(L, 1);
  lt_tensor *w = check2d(L, 2, p->a->rows, p->a->cols, "weight");
  lt_tensor *c = contig(L, w);
  lt_csr_refresh(p->a, lt_tensor_data(c));
  lt_csr_refresh_transposed(p->at, lt_tensor_data(c));
  lt_tensor_release(c);
  lua_settop(L, 1);
  return 1;
}

static int csr_todense(lua_State *L) {
  lcsr *p = checkcsr(L, 1);
  lt_tensor *w = lt_tensor_new2(p->a->rows, p->a->cols);
  lt_pushtensor(L, w);
  lt_csr_todense(lt_tensor_data(w), p->a);
  return 1;
}

static int csr_tostring(lua_State *L) {
  lcsr *p = luaL_checkudata(L, 1, LT_CSR_MT);
  if (!p->a) lua_pushliteral(L, "csr(freed)");
  else {
    char buf[128];
    snprintf(buf, sizeof buf, "csr(%d x %d, %d nonzeros, %.2f%%)", p->a->rows, p->a->cols, p->a->nnz,
             100.0 * lt_csr_density(p->a));
    lua_pushstring(L, buf);
  }
  return 1;
}

static int csr_gc(lua_State *L) {
  lcsr *p = luaL_checkudata(L, 1, LT_CSR_MT);
  lt_csr_free(p->a);
  lt_csr_free(p->at);
  p->a = p->at = NULL;
  return 0;
}

/* ---- dispatch -------------------------------------------------------------- */

static void setint(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}


static const char *const mode_opts[] = {"auto", "dense", "sparse", "nm", NULL};

/* sparse.mode([m]) -> the mode before the call; m in 'auto', 'dense', 'sparse', 'nm' sets it */
static int sp_mode(lua_State *L) {
  lt_sparse_mode old = lt_sparse_get_mode();
  if (!lua_isnoneornil(L, 1)) lt_sparse_set_mode((lt_sparse_mode)luaL_checkoption(L, 1, NULL, mode_opts));
  lua_pushstring(L, lt_sparse_mode_name(old));
  return 1;
}

/* sparse.lazy([on]) -> the setting before the call: whether a training step may leave
 * the dense buffers of sparse layers behind their compact copies (lt_sparse_allow_lazy) */
static int sp_lazy(lua_State *L) {
  int was = lt_sparse_lazy_allowed();
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    lt_sparse_allow_lazy(lua_toboolean(L, 1));
  }
  lua_pushboolean(L, was);
  return 1;
}

static lt_layer *find_layer(lt_layer *l, const char *name) {
  if (!strcmp(lt_layer_name(l), name)) return l;
  for (int i = 0, n = lt_layer_nchildren(l); i < n; i++) {
      lt_layer *f = find_layer(lt_layer_child(l, i), name);
      if (f) return f;
    }
  return NULL;
}

/* Prunable layers in forward order (each once, from the parameter list), in a
 * scratch userdata left on the stack. */
static int prunable_layers(lua_State *L, lt_model *m, lt_layer ***out) {
  int n = 0, np = lt_model_nparams(m);
  *out = lua_newuserdatauv(L, sizeof **out * (size_t)(np ? np : 1), 0);
  for (int i = 0; i < np; i++) {
    const lt_param *p = lt_model_param(m, i);
    if (p->prunable && lt_layer_has_dispatch(p->layer)) (*out)[n++] = p->layer;
  }
  return n;
}

/* core.set_layer(model, name | nil, {mode =, crossover =, frozen =}): nil name = every prunable layer */
static int sp_set_layer(lua_State *L) {
  lt_checkmodel(L, 1);
  const char *name = luaL_optstring(L, 2, NULL);
  luaL_checktype(L, 3, LUA_TTABLE);
  int mode = -1, frozen = -1;
  double cross = 2;
  if (lt_rawfield(L, 3, "mode") != LUA_TNIL) {
    mode = lua_type(L, -1) == LUA_TSTRING ? lt_sparse_mode_parse(lua_tostring(L, -1)) : -1;
    luaL_argcheck(L, mode >= 0, 3, "mode must be 'auto', 'dense', 'sparse' or 'nm'");
  }
  if (lt_rawfield(L, 3, "crossover") != LUA_TNIL) {
    if (lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "auto")) cross = -1;
    else {
      cross = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
      luaL_argcheck(L, cross >= 0 && cross <= 1, 3, "crossover must be a density in [0, 1] or 'auto'");
    }
  }
  if (lt_rawfield(L, 3, "frozen") != LUA_TNIL) frozen = lua_toboolean(L, -1);
  lua_pop(L, 3);
  lt_model *m = lt_checkmodel(L, 1); /* after the options: nothing ran since */
  lt_layer *one[1], **ls = one;
  int n = 1;
  if (name) {
    one[0] = find_layer(lt_model_root(m), name);
    if (!one[0]) return luaL_argerror(L, 2, lua_pushfstring(L, "no layer named '%s'", name));
    if (!lt_layer_has_dispatch(one[0]))
      return luaL_argerror(L, 2, lua_pushfstring(L, "'%s' is a %s layer; only linear and conv2d dispatch", name,
                                                 lt_layer_kind(one[0])));
  } else {
    n = prunable_layers(L, m, &ls);
  }
  for (int i = 0; i < n; i++) {
    if (mode >= 0) lt_layer_set_sparse_mode(ls[i], mode);
    if (cross <= 1) lt_layer_set_crossover(ls[i], cross);
    if (frozen >= 0) lt_layer_set_frozen(ls[i], frozen);
  }
  lua_settop(L, 1);
  return 1;
}

/* core.layers(model) -> {{name, kind, mode, path, density, nnz, crossover, measured, n, builds, refreshes}} */
static int sp_layers(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lt_layer **ls;
  int n = prunable_layers(L, m, &ls);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lt_spd_info f;
    lt_layer_sparse_info(ls[i], &f);
    lua_createtable(L, 0, 12);
    lua_pushstring(L, lt_layer_name(ls[i]));
    lua_setfield(L, -2, "name");
    lua_pushstring(L, lt_layer_kind(ls[i]));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, lt_sparse_mode_name(f.mode));
    lua_setfield(L, -2, "mode");
    if (f.n > 0 || f.builds) {
      lua_pushstring(L, !f.sparse ? "dense" : f.nm_n ? "n:m" : "sparse");
      lua_setfield(L, -2, "path");
      if (f.sparse && f.nm_n) {
        lua_pushfstring(L, "%d:%d", f.nm_n, f.nm_m);
        lua_setfield(L, -2, "nm");
      }
    }
    lua_pushnumber(L, f.density);
    lua_setfield(L, -2, "density");
    lua_pushinteger(L, f.nnz);
    lua_setfield(L, -2, "nnz");
    if (f.crossover >= 0) {
      lua_pushnumber(L, f.crossover);
      lua_setfield(L, -2, "crossover");
      lua_pushboolean(L, f.measured);
      lua_setfield(L, -2, "measured");
    }
    lua_pushinteger(L, f.n);
    lua_setfield(L, -2, "n");
    /* the product's shape: rows x cols times cols x (batch * pixels) */
    const lt_param *w = lt_layer_param(ls[i], 0);
    setint(L, "rows", w->shape[0]);
    setint(L, "cols", (lua_Integer)(w->numel / (size_t)w->shape[0]));
    int64_t os[LT_MAXDIM];
    int ond = lt_layer_output_shape(ls[i], os);
    setint(L, "pixels", ond == 3 ? os[1] * os[2] : 1);
    lua_pushboolean(L, f.frozen);
    lua_setfield(L, -2, "frozen");
    lua_pushinteger(L, (lua_Integer)f.builds);
    lua_setfield(L, -2, "builds");
    lua_pushinteger(L, (lua_Integer)f.refreshes);
    lua_setfield(L, -2, "refreshes");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* ---- export / import of pruned models: lt_model_export / lt_model_import (lotto/nn.h) ---- */

/* core.export(model, path, {key = value strings}) -> true | raises */
static int sp_export(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  const char *path = luaL_checkstring(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  size_t n = 0;
  for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
      return luaL_argerror(L, 3, "metadata keys and values must be strings");
    n++;
  }
  // key, value pointers into the table's strings (alive while it is on the stack)
  const char **kv = lua_newuserdatauv(L, sizeof *kv * (2 * n + 1), 0);
  size_t i = 0;
  for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1)) kv[i++] = lua_tostring(L, -2), kv[i++] = lua_tostring(L, -1);
  kv[i] = NULL;
  lt_status st = lt_model_export(m, path, kv);
  if (st == LT_EIO) return lt_pushfail(L); /* the file could not be written: nil, message */
  if (st) return lt_raise(L, "sparse.export");
  lua_pushboolean(L, 1);
  return 1;
}

/* core.import(path) -> model | nil, msg: the model a file written by export describes */
static int sp_import(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lt_model **slot = lt_pushmodelbox(L);
  if (lt_model_import(slot, path)) return lt_pushfail(L);
  lt_model_account(L, *slot);
  return 1;
}

/* core.fill(model, path) -> model | nil, msg: values, masks and buffers of an existing model */
static int sp_fill(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  if (lt_model_import_values(m, luaL_checkstring(L, 2))) return lt_pushfail(L);
  lua_settop(L, 1);
  return 1;
}

static const luaL_Reg csr_methods[] = {
    {"nnz", csr_nnz},         {"density", csr_density},   {"shape", csr_shape},
    {"matmul_t", csr_matmul_t}, {"backward_input", csr_backward_input}, {"weight_grad", csr_weight_grad},
    {"refresh", csr_refresh}, {"todense", csr_todense},   {NULL, NULL}};
static const luaL_Reg csr_meta[] = {
    {"__gc", csr_gc}, {"__close", csr_gc}, {"__tostring", csr_tostring}, {"__len", csr_nnz}, {NULL, NULL}};
static const luaL_Reg funcs[] = {
    {"csr", sp_csr},   {"nm", lt_sparse_nm},     {"nm_kernel", lt_sparse_nm_kernel},     {"mode", sp_mode}, {"lazy", sp_lazy}, {"set_layer", sp_set_layer}, {"layers", sp_layers},
    {"export", sp_export}, {"import", sp_import}, {"fill", sp_fill}, {NULL, NULL}};

static const lt_help_entry help[] = {
    {"csr", "sparse.csr(weight, mask) -> csr of weight (out, in) at mask's nonzeros (kept even where weight is 0)"},
    {"nm", "sparse.nm(weight, mask, n, m) -> n:m weight (at most n of every m inputs kept): matmul_t, backward_input, weight_grad, todense"},
    {"nm_kernel", "sparse.nm_kernel(['auto'|'avx2'|'portable']) -> the n:m forward kernel before the call ('avx2' or 'portable')"},
    {"bench", "sparse.bench(rows, cols, batch, density [, reps]) -> microseconds per call, dense sgemm vs CSR"},
    {"calibrate", "sparse.calibrate(rows, cols, batch [, {densities=, reps=}]) -> crossover density, timings"},
    {"crossover", "sparse.crossover(rows, cols, batch) -> default density below which sparse kernels win"},
    {":nnz", "csr:nnz() -> number of stored weights (also #csr)"},
    {":density", "csr:density() -> nnz / (out * in)"},
    {":shape", "csr:shape() -> {out, in}"},
    {":matmul_t", "csr:matmul_t(x [, bias]) -> y (B, out) = x (B, in) . W^T (+ bias)"},
    {":backward_input", "csr:backward_input(dy) -> dx (B, in) = dy (B, out) . W"},
    {":weight_grad", "csr:weight_grad(x, dy [, grad]) -> grad (out, in) += dy^T . x at stored positions only"},
    {":refresh", "csr:refresh(weight) -> csr: same pattern, values re-read from weight"},
    {":todense", "csr:todense() -> (out, in) tensor, zeros off the pattern"},
    {NULL, NULL}};

int luaopen_lotto_sparse(lua_State *L) {
  lt_newmeta(L, LT_CSR_MT, csr_meta, csr_methods);
  lt_help_set(L, -1, "csr: a pruned weight in compressed sparse rows, with CSR kernels (lotto.sparse)");
  lua_pop(L, 1);
  lt_sparse_nm_open(L);
  luaL_newlib(L, funcs);
  luaL_setfuncs(L, lt_sparse_cross_funcs, 0); /* timing, calibration, the crossover table (lsparse_cross.c) */
  lt_help_register(L, -1, LT_CSR_MT, help);
  return 1;
}
