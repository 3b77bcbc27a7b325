/* loptim.c: Lua binding of optimizers and learning-rate schedules, preloaded
 * as lotto.core.optim (lua/lotto/optim.lua builds the public lotto.optim on
 * it). An optimizer userdata keeps its bound tensors
 * (values, grads, mask) alive as user values. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

#include "lbind.h"
#include "lotto/nn.h"
#include "lotto/optim.h"
#include "lotto/sparse.h" /* lt_sparse_sync */

#define OPTIM_MT "lotto.optim"
#define SCHED_MT "lotto.schedule"

enum { UV_VALUES = 1, UV_GRADS = 2, UV_MASK = 3, UV_OWNER = 4 };

typedef struct loptim {
  lt_optim *o;
} loptim;

static loptim *checkoptim(lua_State *L, int i) {
  loptim *p = luaL_checkudata(L, i, OPTIM_MT);
  luaL_argcheck(L, p->o != NULL, i, "optimizer already freed");
  return p;
}

static lt_schedule *checksched(lua_State *L, int i) { return luaL_checkudata(L, i, SCHED_MT); }

/* Creates the userdata empty before the optimizer exists, so a failure leaks nothing. */
static loptim *newoptim(lua_State *L) {
  loptim *p = lua_newuserdatauv(L, sizeof *p, 4);
  p->o = NULL;
  luaL_setmetatable(L, OPTIM_MT);
  return p;
}

/* A parameter count, or a tensor whose element count is taken. */
static size_t checksize(lua_State *L, int i) {
  lt_tensor *t = lt_totensor(L, i);
  if (t) return lt_tensor_numel(t);
  lua_Integer n = luaL_checkinteger(L, i);
  luaL_argcheck(L, n >= 0, i, "number of parameters must be >= 0");
  return (size_t)n;
}

/* sgd(n | tensor, lr, momentum, nesterov, weight_decay) */
static int optim_sgd(lua_State *L) {
  size_t n = checksize(L, 1);
  float lr = (float)luaL_checknumber(L, 2);
  float momentum = (float)luaL_optnumber(L, 3, 0.0);
  int nesterov = lua_toboolean(L, 4);
  float wd = (float)luaL_optnumber(L, 5, 0.0);
  loptim *p = newoptim(L);
  if (!(p->o = lt_optim_sgd_new(n, lr, momentum, nesterov, wd))) return lt_raise(L, NULL);
  return 1;
}

/* adam(n | tensor, lr, beta1, beta2, eps, weight_decay, adamw) */
static int optim_adam(lua_State *L) {
  size_t n = checksize(L, 1);
  float lr = (float)luaL_checknumber(L, 2);
  float b1 = (float)luaL_optnumber(L, 3, 0.9);
  float b2 = (float)luaL_optnumber(L, 4, 0.999);
  float eps = (float)luaL_optnumber(L, 5, 1e-8);
  float wd = (float)luaL_optnumber(L, 6, 0.0);
  int adamw = lua_toboolean(L, 7);
  loptim *p = newoptim(L);
  if (!(p->o = lt_optim_adam_new(n, lr, b1, b2, eps, wd, adamw))) return lt_raise(L, NULL);
  return 1;
}

/* A contiguous tensor of exactly n elements at i, or a Lua error naming it. */
static lt_tensor *checkflat_sync(lua_State *L, int i, size_t n, const char *what, int sync) {
  lt_tensor *t = sync ? lt_checktensor(L, i) : lt_checktensor_nosync(L, i);
  if (!lt_tensor_is_contiguous(t)) luaL_argerror(L, i, lua_pushfstring(L, "%s must be contiguous", what));
  if (lt_tensor_numel(t) != n)
    luaL_argerror(L, i, lua_pushfstring(L, "%s has %d elements, the optimizer was made for %d", what,
                                        (int)lt_tensor_numel(t), (int)n));
  return t;
}

static lt_tensor *checkflat(lua_State *L, int i, size_t n, const char *what) {
  return checkflat_sync(L, i, n, what, 1);
}

/* opt:bind(values, grads [, mask [, owner]]): the tensors opt:step() updates by
 * default. owner (a model) is asked owner:mask_version() before each step, so that
 * a sparse mask's kept positions are listed once per mask change, not per step. */
static int optim_bind(lua_State *L) {
  loptim *p = checkoptim(L, 1);
  checkflat(L, 2, lt_optim_size(p->o), "values");
  checkflat(L, 3, lt_optim_size(p->o), "grads");
  if (!lua_isnoneornil(L, 4)) checkflat(L, 4, lt_optim_size(p->o), "mask");
  lua_settop(L, 5);
  for (int k = 0; k < 4; k++) {
    lua_pushvalue(L, 2 + k);
    lua_setiuservalue(L, 1, UV_VALUES + k);
  }
  lua_settop(L, 1);
  return 1;
}

/* The bound owner's mask version (owner at index i), or a Lua error. */
static uint64_t owner_mask_version(lua_State *L, int i) {
  if (lua_getfield(L, i, "mask_version") == LUA_TNIL) luaL_error(L, "optimizer step: the bound model has no mask_version()");
  lua_pushvalue(L, i);
  lua_call(L, 1, 1);
  int ok;
  lua_Integer v = lua_tointegerx(L, -1, &ok);
  if (!ok) luaL_error(L, "optimizer step: model:mask_version() did not return an integer");
  lua_pop(L, 1);
  return (uint64_t)v;
}

/* The compact copies of the bound model's sparse layers (lt_layer_compact), in
 * offset order, at most max, and their layers; their count, or -1 when one was
 * left out (out of order or past max: the indexed step, on written-back buffers). */
static int model_segments(lt_model *m, lt_optim_seg *segs, lt_layer **layers, int max) {
  int n = 0, left = 0;
  for (int i = 0; i < lt_model_nparams(m); i++) {
    const lt_param *p = lt_model_param(m, i);
    lt_optim_seg s = {p->offset, p->numel, NULL, NULL, 0, 0};
    if (!p->prunable || !lt_layer_compact(p->layer, &s.val, &s.grad, &s.nnz)) continue;
    if (n == max || (n && s.offset < segs[n - 1].offset + segs[n - 1].numel)) {
      left = 1;
      continue;
    }
    layers[n] = p->layer;
    segs[n++] = s;
  }
  return left ? -1 : n;
}

static int step(lua_State *L, int compact) {
  checkoptim(L, 1);
  int bound = lua_isnoneornil(L, 2);
  if (bound) {
    lua_settop(L, 1);
    for (int k = 0; k < 4; k++) lua_getiuservalue(L, 1, UV_VALUES + k);
    if (lua_isnil(L, 2)) return luaL_error(L, "optimizer step: no tensors bound (call opt:bind(values, grads, mask))");
  }
  /* The owner's mask_version() is Lua code, which may free the optimizer or the
   * tensors (a <close> variable, coroutine.close): it runs before any pointer is taken. */
  int versioned = bound && !lua_isnoneornil(L, 4) && !lua_isnil(L, 5);
  uint64_t version = versioned ? owner_mask_version(L, 5) : 0;
  loptim *p = checkoptim(L, 1);
  /* the compact step reads the sparse layers' compact copies, whatever their dense buffers hold */
  int sync = !(versioned && compact && luaL_testudata(L, 5, "lotto.nn.model"));
  lt_tensor *w = checkflat_sync(L, 2, lt_optim_size(p->o), "values", sync);
  lt_tensor *g = checkflat_sync(L, 3, lt_optim_size(p->o), "grads", sync);
  lt_tensor *m = lua_isnoneornil(L, 4) ? NULL : checkflat_sync(L, 4, lt_optim_size(p->o), "mask", sync);
  lt_status st;
  if (!sync) {
    lt_optim_seg segs[64];
    lt_layer *layers[64];
    int nsegs = model_segments(lt_checkmodel_nosync(L, 5), segs, layers, 64);
    /* every segment stepped compact: the new weights stay there, the dense ones lag;
     * else the dense buffers are written back first, for the indexed step */
    int lazy = nsegs > 0 && lt_sparse_lazy_allowed() && lt_optim_segments_compact(p->o, lt_tensor_data(m), version, segs, nsegs);
    if (!lazy) lt_sparse_sync();
    for (int k = 0; k < nsegs; k++) segs[k].lazy = lazy;
    st = lt_optim_step_segments(p->o, lt_tensor_data(w), lt_tensor_data(g), lt_tensor_data(m), lt_optim_size(p->o),
                                version, segs, nsegs < 0 ? 0 : nsegs);
    if (!st && lazy)
      for (int k = 0; k < nsegs; k++) lt_layer_compact_written(layers[k]);
  } else if (versioned) {
    st = lt_optim_step_versioned(p->o, lt_tensor_data(w), lt_tensor_data(g), lt_tensor_data(m), lt_optim_size(p->o),
                                 version);
  } else {
    st = lt_optim_step(p->o, lt_tensor_data(w), lt_tensor_data(g), m ? lt_tensor_data(m) : NULL, lt_optim_size(p->o));
  }
  if (st) return lt_raise(L, NULL);
  return 0;
}

/* opt:step([values, grads [, mask]]): one update; without arguments uses the bound
 * tensors (and the bound model's mask version). */
static int optim_step(lua_State *L) { return step(L, 0); }

/* opt:step_after_loss(): the bound step right after model:step_loss, nothing written
 * to the values or grads in between: the sparse layers' kept weights are updated
 * from their compact copies (no gather); the same results as opt:step(). */
static int optim_step_after_loss(lua_State *L) {
  luaL_argcheck(L, lua_gettop(L) == 1, 2, "step_after_loss takes no arguments (it updates the bound tensors)");
  return step(L, 1);
}

/* opt:mask_counts() -> rebuilds, full: how the bound step took new mask versions
 * (incrementally, or with a full masked step); see lt_optim_mask_counts. */
static int optim_mask_counts(lua_State *L) {
  uint64_t r, f;
  lt_optim_mask_counts(checkoptim(L, 1)->o, &r, &f);
  lua_pushinteger(L, (lua_Integer)r);
  lua_pushinteger(L, (lua_Integer)f);
  return 2;
}

/* opt:flush([on]) -> whether subnormals were flushed to zero during steps; sets it when on is given */
static int optim_flush(lua_State *L) {
  lt_optim *o = checkoptim(L, 1)->o;
  int was = lt_optim_get_flush(o);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    lt_optim_set_flush(o, lua_toboolean(L, 2));
  }
  lua_pushboolean(L, was);
  return 1;
}

static int optim_reset(lua_State *L) {
  lt_optim_reset(checkoptim(L, 1)->o);
  return 0;
}

static int optim_lr(lua_State *L) {
  lua_pushnumber(L, lt_optim_get_lr(checkoptim(L, 1)->o));
  return 1;
}

static int optim_set_lr(lua_State *L) {
  loptim *p = checkoptim(L, 1);
  if (lt_optim_set_lr(p->o, (float)luaL_checknumber(L, 2))) return luaL_argerror(L, 2, lt_errmsg());
  return 0;
}

static int optim_steps(lua_State *L) {
  lua_pushinteger(L, lt_optim_steps(checkoptim(L, 1)->o));
  return 1;
}

static int optim_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lt_optim_size(checkoptim(L, 1)->o));
  return 1;
}

static int optim_kind(lua_State *L) {
  lt_optim *o = checkoptim(L, 1)->o;
  lua_pushstring(L, lt_optim_name(o));
  return 1;
}

/* opt:moment(k): a copy of moment buffer k (1: momentum / first moment, 2: second
 * moment) as a 1-D tensor, or nil when the optimizer keeps none. */
static int optim_moment(lua_State *L) {
  lt_optim *o = checkoptim(L, 1)->o;
  lua_Integer k = luaL_checkinteger(L, 2);
  luaL_argcheck(L, k == 1 || k == 2, 2, "moment index must be 1 or 2");
  const float *src = lt_optim_moment(o, (int)k - 1);
  if (!src) {
    lua_pushnil(L);
    return 1;
  }
  size_t n = lt_optim_size(o);
  lt_tensor *t = lt_tensor_new1((int64_t)n);
  if (t && n) memcpy(lt_tensor_data(t), src, n * sizeof(float));
  lt_pushtensor(L, t);
  return 1;
}

/* opt:set_moment(k, t): restores moment k from a 1-D tensor of the optimizer's size. */
static int optim_set_moment(lua_State *L) {
  lt_optim *o = checkoptim(L, 1)->o;
  lua_Integer k = luaL_checkinteger(L, 2);
  luaL_argcheck(L, k == 1 || k == 2, 2, "moment index must be 1 or 2");
  lt_tensor *t = lt_checktensor(L, 3);
  luaL_argcheck(L, lt_tensor_is_contiguous(t) && (size_t)lt_tensor_numel(t) == lt_optim_size(o), 3,
                "expected a contiguous tensor with one value per parameter");
  if (lt_optim_set_moment(o, (int)k - 1, lt_tensor_data(t), lt_optim_size(o))) return lt_raise(L, "set_moment");
  lua_settop(L, 1);
  return 1;
}

/* opt:set_steps(n): the step count (with set_moment, a restored optimizer). */
static int optim_set_steps(lua_State *L) {
  lt_optim *o = checkoptim(L, 1)->o;
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "steps must be >= 0");
  lt_optim_set_steps(o, (int64_t)n);
  lua_settop(L, 1);
  return 1;
}

static int optim_tostring(lua_State *L) {
  loptim *p = luaL_checkudata(L, 1, OPTIM_MT);
  const lt_optim *o = p->o;
  char buf[256];
  if (!o)
    snprintf(buf, sizeof buf, "Optimizer(freed)");
  else
    lt_optim_describe(o, buf, sizeof buf);
  lua_pushstring(L, buf);
  return 1;
}

static int optim_gc(lua_State *L) {
  loptim *p = luaL_checkudata(L, 1, OPTIM_MT);
  lt_optim_free(p->o);
  p->o = NULL;
  return 0;
}

/* ---- schedules ---- */

/* schedule(kind, lr, {warmup=, milestones=, gamma=, total=, min_lr=}) */
static int sched_new(lua_State *L) {
  static const char *const kinds[] = {"constant", "multistep", "cosine", NULL};
  int kind = luaL_checkoption(L, 1, NULL, kinds);
  float lr = (float)luaL_checknumber(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  lt_schedule *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, SCHED_MT);
  lt_status st = LT_OK;
  if (kind == 0) {
    st = lt_schedule_constant(s, lr);
  } else if (kind == 1) {
    int64_t ms[LT_SCHED_MAXMILESTONES];
    int n = 0;
    if (lua_getfield(L, 3, "milestones") != LUA_TNIL) {
      luaL_argcheck(L, lua_istable(L, -1), 3, "milestones must be a table of iterations");
      n = (int)luaL_len(L, -1);
      luaL_argcheck(L, n <= LT_SCHED_MAXMILESTONES, 3, "too many milestones (at most 32)");
      for (int i = 0; i < n; i++) {
        lua_geti(L, -1, i + 1);
        int ok;
        ms[i] = (int64_t)lua_tointegerx(L, -1, &ok);
        luaL_argcheck(L, ok, 3, "milestones must be integers");
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
    lua_getfield(L, 3, "gamma");
    float gamma = (float)luaL_optnumber(L, -1, 0.1);
    lua_pop(L, 1);
    st = lt_schedule_multistep(s, lr, ms, n, gamma);
  } else {
    lua_getfield(L, 3, "total");
    int ok;
    lua_Integer total = lua_tointegerx(L, -1, &ok);
    luaL_argcheck(L, ok, 3, "cosine schedule needs total = <iterations>");
    lua_getfield(L, 3, "min_lr");
    float min_lr = (float)luaL_optnumber(L, -1, 0.0);
    lua_pop(L, 2);
    st = lt_schedule_cosine(s, lr, total, min_lr);
  }
  if (st) return luaL_argerror(L, 3, lt_errmsg());
  lua_getfield(L, 3, "warmup");
  lua_Integer warmup = luaL_optinteger(L, -1, 0);
  lua_pop(L, 1);
  if (lt_schedule_set_warmup(s, warmup)) return luaL_argerror(L, 3, lt_errmsg());
  return 1;
}

static int sched_lr(lua_State *L) {
  lt_schedule *s = checksched(L, 1);
  lua_pushnumber(L, lt_schedule_lr(s, luaL_checkinteger(L, 2)));
  return 1;
}

static int sched_kind(lua_State *L) {
  static const char *const names[] = {"constant", "multistep", "cosine"};
  lua_pushstring(L, names[checksched(L, 1)->kind]);
  return 1;
}

static int sched_tostring(lua_State *L) {
  const lt_schedule *s = checksched(L, 1);
  char buf[160];
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (s->kind == LT_SCHED_CONSTANT) {
    snprintf(buf, sizeof buf, "Schedule(constant, lr=%g", s->lr);
    luaL_addstring(&b, buf);
  } else if (s->kind == LT_SCHED_MULTISTEP) {
    snprintf(buf, sizeof buf, "Schedule(multistep, lr=%g, gamma=%g, milestones={", s->lr, s->gamma);
    luaL_addstring(&b, buf);
    for (int i = 0; i < s->nmilestones; i++) {
      snprintf(buf, sizeof buf, i ? ", %lld" : "%lld", (long long)s->milestones[i]);
      luaL_addstring(&b, buf);
    }
    luaL_addchar(&b, '}');
  } else {
    snprintf(buf, sizeof buf, "Schedule(cosine, lr=%g, total=%lld, min_lr=%g", s->lr, (long long)s->total, s->min_lr);
    luaL_addstring(&b, buf);
  }
  if (s->warmup) {
    snprintf(buf, sizeof buf, ", warmup=%lld", (long long)s->warmup);
    luaL_addstring(&b, buf);
  }
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return 1;
}

static const luaL_Reg optim_methods[] = {
    {"bind", optim_bind},     {"step", optim_step},
    {"step_after_loss", optim_step_after_loss},   {"reset", optim_reset}, {"flush", optim_flush}, {"lr", optim_lr},
    {"set_lr", optim_set_lr}, {"steps", optim_steps}, {"mask_counts", optim_mask_counts}, {"kind", optim_kind},   {"moment", optim_moment},
    {"set_moment", optim_set_moment}, {"set_steps", optim_set_steps},
    {NULL, NULL}};
static const luaL_Reg optim_meta[] = {
    {"__gc", optim_gc}, {"__close", optim_gc}, {"__tostring", optim_tostring}, {"__len", optim_len},
    {"__index", NULL},  {NULL, NULL}};
static const luaL_Reg sched_methods[] = {{"lr", sched_lr}, {"kind", sched_kind}, {NULL, NULL}};
static const luaL_Reg sched_meta[] = {{"__tostring", sched_tostring}, {"__index", NULL}, {NULL, NULL}};
static const luaL_Reg funcs[] = {{"sgd", optim_sgd}, {"adam", optim_adam}, {"schedule", sched_new}, {NULL, NULL}};

static const lt_help_entry optim_help[] = {
    {":step", "opt:step([values, grads[, mask]]): one update of the bound (or given) flat tensors; masked weights stay 0"},
    {":step_after_loss", "opt:step_after_loss(): opt:step() right after model:step_loss, nothing written in between: "
                         "sparse layers step from their compact copies (same results, fewer passes)"},
    {":mask_counts", "opt:mask_counts() -> rebuilds, full: new mask versions taken incrementally / by a full masked step"},
    {":flush", "opt:flush([on]) -> was: subnormal moments and updates flushed to 0 during steps (default true; "
               "false rounds exactly as PyTorch, slower when moments decay into the subnormal range)"},
    {":reset", "opt:reset(): zero the moments and the step count (a fresh optimizer, e.g. after rewinding)"},
    {":lr", "opt:lr() -> the current learning rate"},
    {":set_lr", "opt:set_lr(x): change the learning rate (x >= 0)"},
    {":steps", "opt:steps() -> steps taken since creation or reset"},
    {":kind", "opt:kind() -> 'sgd', 'adam' or 'adamw'"},
    {":set_moment", "opt:set_moment(k, t) -> opt: restore moment k (1 or 2) from a tensor of the optimizer's size"},
    {":set_steps", "opt:set_steps(n) -> opt: restore the step count (Adam's bias correction)"},
    {":moment", "opt:moment(k) -> a copy of moment k (1: momentum / first moment, 2: second moment) or nil"},
    {":bind", "opt:bind(values, grads[, mask[, model]]) -> opt: the flat tensors step() updates (model: its mask version)"},
    {NULL, NULL}};
static const lt_help_entry sched_help[] = {
    {":lr", "sched:lr(iter) -> the learning rate for the step after iter completed steps"},
    {":kind", "sched:kind() -> 'constant', 'multistep' or 'cosine'"},
    {NULL, NULL}};

static void createmeta(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods) {
  lt_newmeta(L, name, meta, methods);
  lua_pop(L, 1);
}

int luaopen_lotto_optim(lua_State *L) {
  createmeta(L, OPTIM_MT, optim_meta, optim_methods);
  createmeta(L, SCHED_MT, sched_meta, sched_methods);
  luaL_newlib(L, funcs);
  lt_help_register(L, -1, OPTIM_MT, optim_help);
  lt_help_register(L, -1, SCHED_MT, sched_help);
  return 1;
}
