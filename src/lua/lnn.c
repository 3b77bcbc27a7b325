/* lnn.c: Lua binding of the nn engine, module `lotto.core.nn` (wrapped by
 * lua/lotto/nn.lua): layer constructors, the model userdata and its methods,
 * the losses. A layer userdata owns its layer until a container or a model
 * takes it; a model userdata owns its model. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"
#include "ldata.h"
#include "lotto/nn.h"
#include "lotto/sparse.h" /* lt_sparse_sync, lt_sparse_set_lazy */

#define MODEL_MT "lotto.nn.model"

typedef struct { lt_model *m; } lmodel;

/* ---- model ----------------------------------------------------------------- */

lt_model *lt_checkmodel_nosync(lua_State *L, int i) {
  lmodel *u = luaL_checkudata(L, i, MODEL_MT);
  luaL_argcheck(L, u->m != NULL, i, "model has been freed");
  return u->m;
}

lt_model *lt_checkmodel(lua_State *L, int i) {
  lt_model *m = lt_checkmodel_nosync(L, i);
  lt_sparse_sync();
  return m;
}

// model(layer, {C, H, W}): takes the layer (also when the build fails)
static int nn_model(lua_State *L) {
  if (!lt_testlayer(L, 1)) luaL_checkudata(L, 1, "lotto.nn.layer"); /* not a layer: the error names argument 1 */
  int64_t shape[LT_MAXDIM];
  int nd = lt_checkshape(L, 2, shape);
  luaL_argcheck(L, nd >= 1 && nd <= LT_MAXDIM - 1, 2, "input shape must have 1 to 3 dimensions (per sample)");
  lmodel *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->m = NULL;
  luaL_setmetatable(L, MODEL_MT);
  u->m = lt_model_new(lt_takelayer(L, 1), nd, shape);
  if (!u->m) return lt_raise(L, NULL);
  lt_model_account(L, u->m);
  return 1;
}

void lt_model_account(lua_State *L, const lt_model *m) {
  lt_gc_account(L, 2 * lt_model_numel(m, 0) * sizeof(float));
}

lt_model **lt_pushmodelbox(lua_State *L) {
  lmodel *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->m = NULL;
  luaL_setmetatable(L, MODEL_MT);
  return &u->m;
}

static int model_gc(lua_State *L) {
  lmodel *u = luaL_checkudata(L, 1, MODEL_MT);
  lt_model_free(u->m);
  u->m = NULL;
  return 0;
}

static int model_tostring(lua_State *L) {
  lmodel *u = luaL_checkudata(L, 1, MODEL_MT);
  if (!u->m) {
    lua_pushliteral(L, "model (freed)");
    return 1;
  }
  char *s = lt_model_describe(u->m);
  if (!s) return lt_raise(L, NULL);
  lua_pushstring(L, s);
  free(s);
  return 1;
}

static void pushshape(lua_State *L, int nd, const int64_t *s) {
  lua_createtable(L, nd, 0);
  for (int i = 0; i < nd; i++) {
    lua_pushinteger(L, s[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

static void pushparam(lua_State *L, const lt_param *p) {
  lua_createtable(L, 0, 10);
  lua_pushstring(L, p->name);
  lua_setfield(L, -2, "name");
  lt_pushtensor(L, lt_tensor_retain(p->value));
  lua_setfield(L, -2, "value");
  if (p->grad) {
    lt_pushtensor(L, lt_tensor_retain(p->grad));
    lua_setfield(L, -2, "grad");
  }
  if (p->mask) {
    lt_pushtensor(L, lt_tensor_retain(p->mask));
    lua_setfield(L, -2, "mask");
  }
  lua_pushboolean(L, p->prunable);
  lua_setfield(L, -2, "prunable");
  lua_pushstring(L, p->kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, lt_layer_name(p->layer));
  lua_setfield(L, -2, "layer");
  pushshape(L, p->ndim, p->shape);
  lua_setfield(L, -2, "shape");
  lua_pushinteger(L, (lua_Integer)p->offset);
  lua_setfield(L, -2, "offset");
  lua_pushinteger(L, (lua_Integer)p->numel);
  lua_setfield(L, -2, "numel");
}

static int model_parameters(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  int n = lt_model_nparams(m);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    pushparam(L, lt_model_param(m, i));
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int model_buffers(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  int n = lt_model_nbuffers(m);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    pushparam(L, lt_model_buffer(m, i));
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int model_values(lua_State *L) {
  lt_pushtensor(L, lt_tensor_retain(lt_model_values(lt_checkmodel(L, 1))));
  return 1;
}
static int model_grads(lua_State *L) {
  lt_pushtensor(L, lt_tensor_retain(lt_model_grads(lt_checkmodel(L, 1))));
  return 1;
}
static int model_masks(lua_State *L) {
  lt_pushtensor(L, lt_tensor_retain(lt_model_masks(lt_checkmodel(L, 1))));
  return 1;
}
static int model_state(lua_State *L) {
  lt_pushtensor(L, lt_tensor_clone(lt_model_values(lt_checkmodel(L, 1))));
  return 1;
}

static int model_load_state(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lt_tensor *t = lt_checktensor(L, 2);
  lt_tensor *v = lt_model_values(m);
  if (lt_tensor_numel(t) != lt_tensor_numel(v))
    return luaL_argerror(L, 2, lua_pushfstring(L, "state has %d values but the model has %d",
                                               (int)lt_tensor_numel(t), (int)lt_tensor_numel(v)));
  lt_tensor *c = lt_tensor_contiguous(t);
  if (!c) return lt_raise(L, "load_state");
  lt_status st = lt_tensor_copy(v, c);
  lt_tensor_release(c);
  if (st) return lt_raise(L, "load_state");
  lua_settop(L, 1);
  return 1;
}

// init([{seed =, rng =, weight =}] | rng | seed)
static int model_init(lua_State *L) {
  lt_checkmodel(L, 1); /* taken again below, after the options are read */
  lt_rng tmp, *r = NULL;
  int kind = LT_INIT_GLOROT_NORMAL;
  if (lua_istable(L, 2)) {
    if (lt_rawfield(L, 2, "weight") != LUA_TNIL) {
      const char *s = lua_tostring(L, -1);
      kind = lt_init_kind_parse(s);
      if (kind < 0)
        return luaL_argerror(L, 2, lua_pushfstring(L, "weight must be 'glorot_normal', 'glorot_uniform', "
                                                      "'kaiming_normal' or 'kaiming_uniform' (got %s)",
                                                   s ? s : luaL_typename(L, -1)));
    }
    if (lt_rawfield(L, 2, "rng") != LUA_TNIL) {
      r = luaL_testudata(L, -1, LT_RNG_MT) ? lt_checkrng(L, lua_gettop(L)) : NULL;
      luaL_argcheck(L, r, 2, "rng must be a lotto.rng generator");
    } else {
      int ok;
      lt_rawfield(L, 2, "seed");
      lua_Integer seed = lua_isnil(L, -1) ? 0 : lua_tointegerx(L, -1, &ok);
      if (!lua_isnil(L, -1)) luaL_argcheck(L, ok, 2, "seed must be an integer");
      lt_rng_seed(&tmp, (uint64_t)seed, LT_STREAM_INIT);
      r = &tmp;
    }
  } else if (lua_isinteger(L, 2)) {
    lt_rng_seed(&tmp, (uint64_t)lua_tointeger(L, 2), LT_STREAM_INIT);
    r = &tmp;
  } else if (lua_isnoneornil(L, 2)) {
    lt_rng_seed(&tmp, 0, LT_STREAM_INIT);
    r = &tmp;
  } else {
    r = lt_checkrng(L, 2);
  }
  lt_model *m = lt_checkmodel(L, 1);
  if (lt_model_init(m, r, (lt_init_kind)kind)) return lt_raise(L, "init");
  lua_settop(L, 1);
  return 1;
}

// forward(x[, train = model:is_training()]) -> y (a new tensor the model will not overwrite)
static int model_forward(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lt_tensor *x = lt_checktensor(L, 2), *y;
  int train = lua_isnoneornil(L, 3) ? lt_model_is_training(m) : lua_toboolean(L, 3);
  if (lt_model_forward(m, x, &y, train)) return lt_raise(L, "forward");
  lt_pushtensor(L, lt_tensor_clone(y));
  return 1;
}

// backward(dy) -> dx (a new tensor); accumulates into grads
static int model_backward(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lt_tensor *dy = lt_checktensor(L, 2), *dx = NULL;
  if (lt_model_backward(m, dy, &dx)) return lt_raise(L, "backward");
  lt_pushtensor(L, lt_tensor_clone(dx));
  return 1;
}

static int model_zero_grad(lua_State *L) {
  lt_model_zero_grad(lt_checkmodel(L, 1));
  lua_settop(L, 1);
  return 1;
}
static int model_apply_mask(lua_State *L) {
  lt_model_apply_mask(lt_checkmodel(L, 1));
  lua_settop(L, 1);
  return 1;
}
// mask_changed([names]): all layers, or only the layers of the named parameters
static int model_mask_changed(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  if (lua_isnoneornil(L, 2)) {
    lt_model_mask_changed(m);
    lua_settop(L, 1);
    return 1;
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 2);
  luaL_argcheck(L, n >= 0 && n <= lt_model_nparams(m), 2, "more names than parameters");
  int *idx = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *idx, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    const char *name = lua_tostring(L, -1);
    const lt_param *p = name ? lt_model_param_find(m, name) : NULL;
    if (!p) return luaL_argerror(L, 2, lua_pushfstring(L, "entry %d is not a parameter name (got %s)", (int)i, luaL_tolstring(L, -1, NULL)));
    idx[i - 1] = -1;
    for (int j = 0; j < lt_model_nparams(m); j++)
      if (lt_model_param(m, j) == p) idx[i - 1] = j;
    lua_pop(L, 1);
  }
  if (lt_model_mask_changed_params(m, idx, (int)n)) return lt_raise(L, "mask_changed");
  lua_settop(L, 1);
  return 1;
}
static int model_mask_version(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lt_model_mask_version(lt_checkmodel_nosync(L, 1)));
  return 1;
}
static int model_train(lua_State *L) {
  lt_model_train(lt_checkmodel(L, 1), lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2));
  lua_settop(L, 1);
  return 1;
}
static int model_eval(lua_State *L) {
  lt_model_train(lt_checkmodel(L, 1), 0);
  lua_settop(L, 1);
  return 1;
}
static int model_is_training(lua_State *L) {
  lua_pushboolean(L, lt_model_is_training(lt_checkmodel(L, 1)));
  return 1;
}
static int model_takes_transposed(lua_State *L) {
  lua_pushboolean(L, lt_model_takes_transposed(lt_checkmodel(L, 1)));
  return 1;
}
static int model_numel(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lt_model_numel(lt_checkmodel(L, 1), lua_toboolean(L, 2)));
  return 1;
}
static int model_density(lua_State *L) {
  lua_pushnumber(L, lt_model_density(lt_checkmodel(L, 1)));
  return 1;
}
static int model_input_shape(lua_State *L) {
  int64_t s[LT_MAXDIM];
  pushshape(L, lt_model_input_shape(lt_checkmodel(L, 1), s), s);
  return 1;
}
static int model_output_shape(lua_State *L) {
  int64_t s[LT_MAXDIM];
  pushshape(L, lt_model_output_shape(lt_checkmodel(L, 1), s), s);
  return 1;
}

static void push_layers(lua_State *L, const lt_layer *l, int depth) {
  lua_createtable(L, 0, 5);
  lua_pushstring(L, lt_layer_name(l));
  lua_setfield(L, -2, "name");
  lua_pushstring(L, lt_layer_kind(l));
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, depth);
  lua_setfield(L, -2, "depth");
  lua_pushnumber(L, lt_layer_density(l));
  lua_setfield(L, -2, "density");
  lua_pushboolean(L, lt_layer_prunable(l));
  lua_setfield(L, -2, "prunable");
  size_t n = 0;
  for (int i = 0; i < lt_layer_nparams(l); i++) n += lt_layer_param(l, i)->numel;
  lua_pushinteger(L, (lua_Integer)n);
  lua_setfield(L, -2, "numel");
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  for (int i = 0, c = lt_layer_nchildren(l); i < c; i++) push_layers(L, lt_layer_child(l, i), depth + 1);
}

// layers() -> {{name =, kind =, depth =, numel =, density =, prunable =}, ...} in tree order
static int model_layers(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lua_newtable(L);
  push_layers(L, lt_model_root(m), 0);
  return 1;
}

static int checkbatch(lua_State *L, int i, int def) {
  if (lua_istable(L, i)) {
    lt_rawfield(L, i, "batch");
    lua_Integer b = lua_isnil(L, -1) ? def : luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    luaL_argcheck(L, b > 0 && b < (1 << 30), i, "batch must be a positive integer");
    return (int)b;
  }
  lua_Integer b = luaL_optinteger(L, i, def);
  luaL_argcheck(L, b > 0 && b < (1 << 30), i, "batch must be a positive integer");
  return (int)b;
}

// evaluate(dataset[, {batch = 1000}]) -> loss, accuracy (NaN for regression)
static int model_evaluate(lua_State *L) {
  int batch = checkbatch(L, 3, 1000); /* options first: no Lua code runs once pointers are held */
  lt_model *m = lt_checkmodel(L, 1);
  lt_dataset *d = lt_checkdataset(L, 2);
  double loss, acc;
  if (lt_model_evaluate(m, d, batch, &loss, &acc)) return lt_raise(L, "evaluate");
  lua_pushnumber(L, loss);
  lua_pushnumber(L, acc);
  return 2;
}

// evaluate_xy(x, y[, batch = 1000[, nclasses]]) -> loss, accuracy; nclasses defaults to 1 (labels) when y is 1-D
static int model_evaluate_xy(lua_State *L) {
  int batch = checkbatch(L, 4, 1000);
  lt_model *m = lt_checkmodel(L, 1);
  lt_tensor *x = lt_checktensor(L, 2), *y = lt_checktensor(L, 3);
  lua_Integer nc = luaL_optinteger(L, 5, y->ndim == 1 ? 1 : 0);
  double loss, acc;
  if (lt_model_evaluate_xy(m, x, y, (int)nc, batch, &loss, &acc)) return lt_raise(L, "evaluate");
  lua_pushnumber(L, loss);
  lua_pushnumber(L, acc);
  return 2;
}

static lt_loss_kind checkloss(lua_State *L, int i) {
  const char *s = luaL_optstring(L, i, "cross_entropy");
  int k = lt_loss_kind_parse(s);
  if (k < 0) luaL_argerror(L, i, lua_pushfstring(L, "loss must be 'cross_entropy' ('xent') or 'mse' (got '%s')", s));
  return (lt_loss_kind)k;
}

// step_loss(x, y[, 'cross_entropy' | 'mse']) -> loss, ncorrect: zero_grad, forward, loss, backward
// The dense buffers of sparse layers may lag after it (lt_sparse_set_lazy): the
// bindings write them back before anything can read them.
static int model_step_loss(lua_State *L) {
  lt_model *m = lt_checkmodel_nosync(L, 1);
  lt_tensor *x = lt_checktensor_nosync(L, 2), *y = lt_checktensor_nosync(L, 3);
  lt_loss_kind k = checkloss(L, 4);
  double loss;
  int64_t correct = 0;
  int was = lt_sparse_set_lazy(1);
  lt_status st = lt_model_step_loss(m, x, y, k, &loss, &correct);
  lt_sparse_set_lazy(was);
  if (st) return lt_raise(L, "step_loss");
  lua_pushnumber(L, loss);
  lua_pushinteger(L, (lua_Integer)correct);
  return 2;
}

// step_loss_dense(x, y[, loss]) -> loss: as step_loss, with the dense gradient of every prunable weight
static int model_step_loss_dense(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lt_tensor *x = lt_checktensor(L, 2), *y = lt_checktensor(L, 3);
  lt_loss_kind k = checkloss(L, 4);
  double loss;
  if (lt_model_step_loss_dense(m, x, y, k, &loss)) return lt_raise(L, "step_loss_dense");
  lua_pushnumber(L, loss);
  return 1;
}

/* ---- losses ---------------------------------------------------------------- */

// cross_entropy(logits (B, C), labels (B)) -> loss, dlogits, ncorrect
static int nn_cross_entropy(lua_State *L) {
  lt_tensor *z = lt_checktensor(L, 1), *y = lt_checktensor(L, 2);
  luaL_argcheck(L, z->ndim == 2, 1, "logits must be (B, C)");
  lt_tensor *zc = lt_tensor_contiguous(z), *yc = lt_tensor_contiguous(y), *d = lt_tensor_new(2, z->shape);
  double loss = 0;
  int64_t correct = 0;
  lt_status st = zc && yc && d ? lt_cross_entropy(&loss, d, &correct, zc, yc) : LT_ENOMEM;
  lt_tensor_release(zc);
  lt_tensor_release(yc);
  if (st) {
    lt_tensor_release(d);
    return lt_raise(L, NULL);
  }
  lua_pushnumber(L, loss);
  lt_pushtensor(L, d);
  lua_pushinteger(L, (lua_Integer)correct);
  return 3;
}

// mse(pred, target) -> loss, dpred
static int nn_mse(lua_State *L) {
  lt_tensor *p = lt_checktensor(L, 1), *t = lt_checktensor(L, 2);
  lt_tensor *pc = lt_tensor_contiguous(p), *tc = lt_tensor_contiguous(t), *d = lt_tensor_new(p->ndim, p->shape);
  double loss = 0;
  lt_status st = pc && tc && d ? lt_mse(&loss, d, pc, tc) : LT_ENOMEM;
  lt_tensor_release(pc);
  lt_tensor_release(tc);
  if (st) {
    lt_tensor_release(d);
    return lt_raise(L, NULL);
  }
  lua_pushnumber(L, loss);
  lt_pushtensor(L, d);
  return 2;
}

static int nn_is_model(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, MODEL_MT) != NULL);
  return 1;
}

/* ---- registration ------------------------------------------------------------ */

static const luaL_Reg model_methods[] = {
    {"parameters", model_parameters}, {"buffers", model_buffers},     {"values", model_values},
    {"grads", model_grads},           {"masks", model_masks},         {"state", model_state},
    {"load_state", model_load_state}, {"init", model_init},           {"forward", model_forward},
    {"backward", model_backward},     {"zero_grad", model_zero_grad}, {"apply_mask", model_apply_mask},
    {"mask_changed", model_mask_changed}, {"mask_version", model_mask_version}, {"train", model_train},
    {"eval", model_eval},             {"is_training", model_is_training}, {"numel", model_numel},
    {"density", model_density},       {"input_shape", model_input_shape}, {"output_shape", model_output_shape},
    {"layers", model_layers},         {"evaluate", model_evaluate},   {"evaluate_xy", model_evaluate_xy},
    {"step_loss", model_step_loss},   {"describe", model_tostring},   {"step_loss_dense", model_step_loss_dense},
    {"rng_states", lt_model_rng_states}, {"set_rng_states", lt_model_set_rng_states},
    {"takes_transposed", model_takes_transposed}, {NULL, NULL}};
static const luaL_Reg model_meta[] = {{"__gc", model_gc}, {"__close", model_gc}, {"__tostring", model_tostring},
                                      {"__index", NULL}, {NULL, NULL}};
/* nn.winograd([on[, tile]]) -> on, tile before: Winograd for the dense 3x3 convolutions
 * that take it; tile 4 (F(4x4, 3x3) where it fits) or 2 (F(2x2, 3x3) only) */
static int nn_winograd(lua_State *L) {
  int set = !lua_isnoneornil(L, 1), tile = -1;
  if (set) luaL_checktype(L, 1, LUA_TBOOLEAN);
  if (!lua_isnoneornil(L, 2)) {
    tile = (int)luaL_checkinteger(L, 2);
    luaL_argcheck(L, tile == 2 || tile == 4, 2, "tile must be 2 or 4");
  }
  lua_pushboolean(L, lt_conv2d_winograd(set ? lua_toboolean(L, 1) : -1));
  lua_pushinteger(L, lt_conv2d_winograd_tile(tile));
  return 2;
}

static const luaL_Reg funcs[] = {
    {"model", nn_model},         {"cross_entropy", nn_cross_entropy}, {"mse", nn_mse},
    {"is_model", nn_is_model},   {"arch", lt_nn_arch},                {"from_arch", lt_nn_from_arch},
    {"shrink", lt_nn_shrink},    {"shrink_clean", lt_nn_shrink_clean}, {"cost", lt_nn_cost},
    {"winograd", nn_winograd},   {NULL, NULL}};

static const lt_help_entry model_help[] = {
    {":parameters", "m:parameters() -> {{name, value, grad, mask, prunable, kind, layer, shape, offset (0-based), numel}, ...}"},
    {":buffers", "m:buffers() -> batchnorm running statistics as {name, value, shape, offset, numel} (no grad or mask)"},
    {":values", "m:values() -> the flat 1-D parameter buffer (shares storage with the model)"},
    {":grads", "m:grads() -> the flat 1-D gradient buffer, same offsets as values"},
    {":masks", "m:masks() -> the flat 1-D mask buffer (0/1 floats); call m:apply_mask() after writing it"},
    {":state", "m:state() -> a copy of the flat values (a snapshot to rewind to)"},
    {":load_state", "m:load_state(t) -> m: copies a snapshot back into the values (same size)"},
    {":init", "m:init{seed =, weight = 'glorot_normal'|'glorot_uniform'|'kaiming_normal'|'kaiming_uniform'} -> m"},
    {":forward", "m:forward(x[, train]) -> y: a new tensor (B, outputs); train defaults to the model's mode"},
    {":backward", "m:backward(dy) -> dx: accumulates parameter gradients of the last forward"},
    {":zero_grad", "m:zero_grad() -> m: sets every gradient to zero"},
    {":apply_mask", "m:apply_mask() -> m: values *= masks; pruned weights become exactly zero"},
    {":mask_changed", "m:mask_changed([names]) -> m: tell the model its masks were written (apply_mask does this); "
                      "with a list of parameter names only their layers rebuild their sparse layout"},
    {":train", "m:train([on]) -> m: training mode (batch statistics, dropout)"},
    {":eval", "m:eval() -> m: evaluation mode (running statistics, no dropout)"},
    {":takes_transposed", "m:takes_transposed() -> whether the first layers take a transposed batch as it is "
                          "(lotto.data.loader{transposed = true}: flatten, then linear)"},
    {":numel", "m:numel([prunable_only]) -> number of parameters"},
    {":density", "m:density() -> fraction of prunable weights left"},
    {":layers", "m:layers() -> {{name, kind, depth, numel, density, prunable}, ...} in tree order"},
    {":evaluate", "m:evaluate(dataset[, {batch = 1000}]) -> loss, accuracy (NaN for regression), in eval mode"},
    {":evaluate_xy", "m:evaluate_xy(x, y[, batch[, nclasses]]) -> loss, accuracy on tensors"},
    {":step_loss", "m:step_loss(x, y[, 'xent'|'mse']) -> loss, ncorrect: zero_grad, forward, loss, backward in C"},
    {":step_loss_dense", "m:step_loss_dense(x, y[, 'xent'|'mse']) -> loss: step_loss with the dense gradient of "
                         "every prunable weight (pruned entries too; RigL's grow criterion); mask before stepping"},
    {":describe", "m:describe() -> the model as an indented tree (also tostring(m))"},
    {":rng_states", "m:rng_states() -> {[layer name] = state}: the generators of its dropout layers (checkpoints)"},
    {":set_rng_states", "m:set_rng_states(t) -> m: restores every generator from m:rng_states()'s table"},
    {NULL, NULL}};

static void createmeta(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods) {
  lt_newmeta(L, name, meta, methods);
  lua_pop(L, 1);
}

int luaopen_lotto_nn(lua_State *L) {
  lt_nn_open_layers(L);
  createmeta(L, MODEL_MT, model_meta, model_methods);
  luaL_newlib(L, funcs);
  luaL_setfuncs(L, lt_nn_layer_funcs, 0); /* nn.linear, nn.conv2d, ... (lnn_layers.c) */
  // nn.lua adds Lua-side methods (save, load) to the model's method table
  luaL_getmetatable(L, MODEL_MT);
  lua_getfield(L, -1, "__index");
  lt_help_register(L, lua_gettop(L), MODEL_MT, model_help);
  lua_setfield(L, -3, "model_methods");
  lua_pop(L, 1);
  return 1;
}
