/* ldata.c: Lua binding of data sets and loaders, module `lotto.core.data`
 * (wrapped by lua/lotto/data.lua). Userdata "lotto.dataset" holds one lt_dataset
 * reference; "lotto.loader" owns an lt_loader and caches its batch tensors. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"
#include "ldata.h"

static void pushmeta(lua_State *L, const char *name);

/* ---- data sets ---- */

lt_dataset *lt_checkdataset(lua_State *L, int i) {
  lt_dataset **p = luaL_checkudata(L, i, LT_DATASET_MT);
  luaL_argcheck(L, *p != NULL, i, "data set has been freed");
  return *p;
}

/* A new empty data set userdata: filled by the caller once the object exists. */
static lt_dataset **newslot(lua_State *L) {
  lt_dataset **p = lua_newuserdatauv(L, sizeof *p, 0);
  *p = NULL;
  pushmeta(L, LT_DATASET_MT);
  lua_setmetatable(L, -2);
  return p;
}

void lt_pushdataset(lua_State *L, lt_dataset *d) {
  if (!d) lt_raise(L, NULL);
  *newslot(L) = d;
}

/* After a constructor filled the slot on top: the data set, or nil, message for expected failures. */
static int pushresult(lua_State *L, lt_status s) { return s ? lt_pushfail(L) : 1; }

static int data_load_idx(lua_State *L) {
  const char *images = luaL_checkstring(L, 1), *labels = luaL_checkstring(L, 2);
  lua_Integer nc = luaL_optinteger(L, 3, 10);
  luaL_argcheck(L, nc >= 1 && nc <= 256, 3, "classes must be in 1..256");
  lt_dataset **p = newslot(L);
  return pushresult(L, lt_dataset_load_idx(p, images, labels, (int)nc));
}

static int data_load_cifar10(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 64, 1, "expected a list of 1 to 64 file names");
  const char *paths[64];
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i); /* raw: the strings stay anchored in the table (an __index's would not) */
    luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 1, "file names must be strings");
    paths[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  lt_dataset **p = newslot(L);
  return pushresult(L, lt_dataset_load_cifar10(p, paths, (int)n));
}

static int data_from_tensors(lua_State *L) {
  lt_tensor *x = lt_checktensor(L, 1), *y = lt_checktensor(L, 2);
  lua_Integer nc = luaL_optinteger(L, 3, 0);
  luaL_argcheck(L, nc >= 0 && nc <= 1 << 24, 3, "classes must be >= 0");
  lt_dataset **p = newslot(L);
  lt_tensor *xc = lt_tensor_contiguous(x), *yc = xc ? lt_tensor_contiguous(y) : NULL;
  if (yc) *p = lt_dataset_new(xc, yc, (int)nc);
  lt_tensor_release(xc);
  lt_tensor_release(yc);
  if (!*p) lt_raise(L, "from_tensors");
  return 1;
}

static int data_sum_of_two(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  float lo = (float)luaL_checknumber(L, 2), hi = (float)luaL_checknumber(L, 3);
  luaL_argcheck(L, n >= 1, 1, "n must be >= 1");
  luaL_argcheck(L, lo < hi, 3, "hi must be greater than lo");
  lt_rng tmp, *r = luaL_testudata(L, 4, LT_RNG_MT) ? lt_checkrng(L, 4) : &tmp;
  if (r == &tmp) lt_rng_seed(&tmp, (uint64_t)luaL_optinteger(L, 4, 1), LT_STREAM_DATA);
  lt_dataset **p = newslot(L);
  if (lt_dataset_sum_of_two(p, n, lo, hi, r)) lt_raise(L, "sum_of_two");
  return 1;
}

static int ds_size(lua_State *L) {
  lua_pushinteger(L, lt_dataset_size(lt_checkdataset(L, 1)));
  return 1;
}

static int ds_x(lua_State *L) {
  lt_pushtensor(L, lt_tensor_retain(lt_checkdataset(L, 1)->x));
  return 1;
}

static int ds_y(lua_State *L) {
  lt_pushtensor(L, lt_tensor_retain(lt_checkdataset(L, 1)->y));
  return 1;
}

static int ds_classes(lua_State *L) {
  lua_pushinteger(L, lt_checkdataset(L, 1)->nclasses);
  return 1;
}

/* ds:subset(n[, first]): n rows from row `first` (1-based, default 1), a view. */
static int ds_subset(lua_State *L) {
  lt_dataset *d = lt_checkdataset(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2), first = luaL_optinteger(L, 3, 1);
  int64_t N = lt_dataset_size(d);
  luaL_argcheck(L, first >= 1 && first <= N + 1, 3, "first row out of range");
  luaL_argcheck(L, n >= 0 && n <= N - (first - 1), 2, "more rows than the data set has");
  lt_dataset **p = newslot(L);
  if (lt_dataset_subset(p, d, first - 1, n)) lt_raise(L, "subset");
  return 1;
}

static int ds_split(lua_State *L) {
  lt_dataset *d = lt_checkdataset(L, 1);
  lua_Integer nv = luaL_checkinteger(L, 2);
  luaL_argcheck(L, nv >= 0 && nv < lt_dataset_size(d), 2, "validation rows must be in 0..size-1");
  lt_dataset **tr = newslot(L), **va = newslot(L);
  if (lt_dataset_split(d, nv, tr, va)) lt_raise(L, "split");
  return 2;
}

static int channels(const lt_dataset *d) { return d->x->ndim >= 2 ? (int)d->x->shape[1] : 1; }

/* ds:channel_stats() -> {mean per channel}, {std per channel} */
static int ds_channel_stats(lua_State *L) {
  lt_dataset *d = lt_checkdataset(L, 1);
  int nc = channels(d);
  float *ms = lua_newuserdatauv(L, 2 * (size_t)nc * sizeof(float), 0);
  if (lt_dataset_channel_stats(d, nc, ms, ms + nc)) lt_raise(L, "channel_stats");
  for (int k = 0; k < 2; k++) {
    lua_createtable(L, nc, 0);
    for (int c = 0; c < nc; c++) {
      lua_pushnumber(L, ms[k * nc + c]);
      lua_rawseti(L, -2, c + 1);
    }
  }
  return 2;
}

/* ds:normalize(mean, std): in place (views sharing storage see it); returns ds. */
static int ds_normalize(lua_State *L) {
  lt_dataset *d = lt_checkdataset(L, 1);
  int nc = channels(d);
  float *ms = lua_newuserdatauv(L, 2 * (size_t)nc * sizeof(float), 0);
  for (int k = 0; k < 2; k++) {
    luaL_checktype(L, 2 + k, LUA_TTABLE);
    /* raw: an __index/__len would run Lua code, which could free d */
    luaL_argcheck(L, lua_rawlen(L, 2 + k) == (size_t)nc, 2 + k,
                  lua_pushfstring(L, "expected %d values (one per channel)", nc));
    for (int c = 0; c < nc; c++) {
      lua_rawgeti(L, 2 + k, c + 1);
      int ok;
      ms[k * nc + c] = (float)lua_tonumberx(L, -1, &ok);
      luaL_argcheck(L, ok, 2 + k, "values must be numbers");
      lua_pop(L, 1);
    }
  }
  if (lt_dataset_normalize(d, nc, ms, ms + nc)) lt_raise(L, "normalize");
  lua_settop(L, 1);
  return 1;
}

static int ds_gc(lua_State *L) {
  lt_dataset **p = luaL_checkudata(L, 1, LT_DATASET_MT);
  lt_dataset_release(*p);
  *p = NULL;
  return 0;
}

static int ds_tostring(lua_State *L) {
  lt_dataset **p = luaL_checkudata(L, 1, LT_DATASET_MT);
  if (!*p) {
    lua_pushliteral(L, "dataset(freed)");
    return 1;
  }
  const lt_dataset *d = *p;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "dataset(%I \xC3\x97 ", (lua_Integer)lt_dataset_size(d));
  luaL_addvalue(&b);
  for (int k = 1; k < d->x->ndim; k++) {
    lua_pushfstring(L, k > 1 ? "\xC3\x97%I" : "%I", (lua_Integer)d->x->shape[k]);
    luaL_addvalue(&b);
  }
  if (d->x->ndim == 1) luaL_addchar(&b, '1');
  if (d->nclasses > 0)
    lua_pushfstring(L, ", %d classes)", d->nclasses);
  else
    lua_pushfstring(L, " -> %I)", (lua_Integer)(d->y->ndim >= 2 ? d->y->shape[1] : 1));
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  return 1;
}

/* ---- loaders ---- */

typedef struct lloader {
  lt_loader *l;
  lt_tensor *cached[4]; /* the tensors whose userdata are user values 1..4 */
} lloader;

static lloader *checkloader(lua_State *L, int i) {
  lloader *u = luaL_checkudata(L, i, LT_LOADER_MT);
  luaL_argcheck(L, u->l != NULL, i, "loader has been closed");
  return u;
}

/* core.loader(ds, batch, seed, shuffle, drop_last, crop, flip, transposed) */
static int data_loader(lua_State *L) {
  lt_dataset *d = lt_checkdataset(L, 1);
  lua_Integer batch = luaL_checkinteger(L, 2), seed = luaL_optinteger(L, 3, 1);
  int shuffle = lua_isnoneornil(L, 4) ? 1 : lua_toboolean(L, 4), drop = lua_toboolean(L, 5);
  luaL_argcheck(L, batch >= 1, 2, "batch size must be >= 1");
  luaL_argcheck(L, lt_dataset_size(d) >= 1, 1, "the data set is empty");
  lloader *u = lua_newuserdatauv(L, sizeof *u, 4);
  *u = (lloader){0};
  pushmeta(L, LT_LOADER_MT);
  lua_setmetatable(L, -2);
  if (lt_loader_new(&u->l, d, batch, (uint64_t)seed, shuffle, drop)) lt_raise(L, "loader");
  lua_Integer crop = luaL_optinteger(L, 6, 0);
  luaL_argcheck(L, crop >= 0 && crop <= 64, 6, "crop padding must be in [0, 64]");
  if (lt_loader_set_augment(u->l, (int)crop, lua_toboolean(L, 7))) lt_raise(L, "loader");
  if (lua_toboolean(L, 8) && lt_loader_set_transposed(u->l, 1)) lt_raise(L, "loader");
  return 1;
}

/* Pushes the cached userdata for t (a loader batch tensor), creating it on first use. */
static void pushbatch(lua_State *L, lloader *u, lt_tensor *t) {
  int k = 0;
  while (k < 4 && u->cached[k] && u->cached[k] != t) k++;
  if (k < 4 && u->cached[k] == t) {
    lua_getiuservalue(L, 1, k + 1);
    return;
  }
  lt_pushtensor(L, lt_tensor_retain(t));
  if (k < 4) { /* at most 4 distinct tensors exist: full and partial x (or transposed x) and y */
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, k + 1);
    u->cached[k] = t;
  }
}

static int loader_next(lua_State *L) {
  lloader *u = checkloader(L, 1);
  lt_tensor *xb, *yb;
  if (lt_loader_next(u->l, &xb, &yb)) lt_raise(L, "loader");
  if (!xb) {
    lua_pushnil(L);
    return 1;
  }
  pushbatch(L, u, xb);
  pushbatch(L, u, yb);
  return 2;
}

static int loader_reset(lua_State *L) {
  lloader *u = checkloader(L, 1);
  lua_Integer e = luaL_optinteger(L, 2, 0), b = luaL_optinteger(L, 3, 0);
  luaL_argcheck(L, e >= 0, 2, "epoch must be >= 0");
  luaL_argcheck(L, b >= 0 && b <= lt_loader_batches_per_epoch(u->l), 3, "batch out of range for an epoch");
  if (lt_loader_reset(u->l, e, b)) lt_raise(L, "reset");
  lua_settop(L, 1);
  return 1;
}

static int loader_epoch(lua_State *L) {
  lua_pushinteger(L, lt_loader_epoch(checkloader(L, 1)->l));
  return 1;
}
static int loader_batch_index(lua_State *L) {
  lua_pushinteger(L, lt_loader_batch_index(checkloader(L, 1)->l));
  return 1;
}
static int loader_batches(lua_State *L) {
  lua_pushinteger(L, lt_loader_batches_per_epoch(checkloader(L, 1)->l));
  return 1;
}
static int loader_batch_size(lua_State *L) {
  lua_pushinteger(L, lt_loader_batch_size(checkloader(L, 1)->l));
  return 1;
}
static int loader_transposed(lua_State *L) {
  lua_pushboolean(L, lt_loader_transposed(checkloader(L, 1)->l));
  return 1;
}
static int loader_dataset(lua_State *L) {
  lt_pushdataset(L, lt_dataset_retain(lt_loader_dataset(checkloader(L, 1)->l)));
  return 1;
}

/* it:order() -> the current epoch's row order as 1-based indices */
static int loader_order(lua_State *L) {
  lloader *u = checkloader(L, 1);
  int64_t n = lt_dataset_size(lt_loader_dataset(u->l));
  const int64_t *o = lt_loader_order(u->l);
  lua_createtable(L, (int)n, 0);
  for (int64_t i = 0; i < n; i++) {
    lua_pushinteger(L, o[i] + 1);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int loader_gc(lua_State *L) {
  lloader *u = luaL_checkudata(L, 1, LT_LOADER_MT);
  lt_loader_free(u->l);
  u->l = NULL;
  return 0;
}

static int loader_tostring(lua_State *L) {
  lloader *u = luaL_checkudata(L, 1, LT_LOADER_MT);
  if (!u->l) {
    lua_pushliteral(L, "loader(closed)");
    return 1;
  }
  lua_pushfstring(L, "loader(batch %I, %I batches/epoch, epoch %I, batch %I)", (lua_Integer)lt_loader_batch_size(u->l),
                  (lua_Integer)lt_loader_batches_per_epoch(u->l), (lua_Integer)lt_loader_epoch(u->l),
                  (lua_Integer)lt_loader_batch_index(u->l));
  return 1;
}

/* ---- module ---- */

static const luaL_Reg ds_methods[] = {
    {"size", ds_size},     {"x", ds_x},         {"y", ds_y},
    {"classes", ds_classes}, {"subset", ds_subset}, {"split", ds_split},
    {"channel_stats", ds_channel_stats}, {"normalize", ds_normalize}, {NULL, NULL}};
static const luaL_Reg ds_meta[] = {{"__gc", ds_gc}, {"__close", ds_gc}, {"__tostring", ds_tostring},
                                   {"__len", ds_size}, {NULL, NULL}};
static const luaL_Reg loader_methods[] = {
    {"next", loader_next},         {"reset", loader_reset},     {"epoch", loader_epoch},
    {"batch_index", loader_batch_index}, {"batches_per_epoch", loader_batches}, {"batch_size", loader_batch_size},
    {"dataset", loader_dataset},   {"order", loader_order},     {"transposed", loader_transposed}, {NULL, NULL}};
static const luaL_Reg loader_meta[] = {{"__gc", loader_gc},   {"__close", loader_gc}, {"__tostring", loader_tostring},
                                       {"__len", loader_batches}, {"__call", loader_next}, {NULL, NULL}};
static const luaL_Reg funcs[] = {{"load_idx", data_load_idx},       {"load_cifar10", data_load_cifar10},
                                 {"from_tensors", data_from_tensors}, {"sum_of_two", data_sum_of_two},
                                 {"loader", data_loader},           {NULL, NULL}};

/* Pushes the metatable `name`, creating it on first use (lt_pushdataset may come first). */
static void pushmeta(lua_State *L, const char *name) {
  int ds = strcmp(name, LT_DATASET_MT) == 0;
  lt_newmeta(L, name, ds ? ds_meta : loader_meta, ds ? ds_methods : loader_methods);
}

static const lt_help_entry ds_help[] = {
    {":size", "ds:size() -> number of rows (also #ds)"},
    {":x", "ds:x() -> the inputs (N, ...), a view sharing the data set's storage"},
    {":y", "ds:y() -> the targets: (N) class ids 0..C-1 as floats, or (N, k) values"},
    {":classes", "ds:classes() -> number of classes (0 for regression)"},
    {":subset", "ds:subset(n[, first]) -> data set of n rows from row first (default 1), a view"},
    {":split", "ds:split(n_val) -> train, val: the last n_val rows become val (views)"},
    {":channel_stats", "ds:channel_stats() -> mean, std: tables with one value per channel (dim 2 of x)"},
    {":normalize", "ds:normalize(mean, std) -> ds: x = (x - mean) / std per channel, in place"},
    {NULL, NULL}};
static const lt_help_entry loader_help[] = {
    {":next", "it:next() -> xb, yb, or nil at the end of an epoch (then the next epoch starts); "
              "xb and yb are reused: the next call overwrites them"},
    {":reset", "it:reset(epoch[, batch]) -> it: jump to batch (0-based) of epoch; its order depends only on (seed, epoch)"},
    {":epoch", "it:epoch() -> epochs completed"},
    {":batch_index", "it:batch_index() -> batches served in this epoch"},
    {":batches_per_epoch", "it:batches_per_epoch() -> batches in an epoch"},
    {":order", "it:order() -> the current epoch's row order (1-based)"},
    {":transposed", "it:transposed() -> whether xb comes transposed: (B, features) with strides (1, ld), ld >= B"},
    {NULL, NULL}};

int luaopen_lotto_data(lua_State *L) {
  pushmeta(L, LT_DATASET_MT);
  lua_getfield(L, -1, "__index");
  lt_help_register(L, lua_gettop(L), LT_DATASET_MT, ds_help);
  lua_pop(L, 1);
  lt_help_set(L, -1, "dataset: inputs x (N, ...) and targets y in memory (lotto.data)");
  lua_pop(L, 1);
  pushmeta(L, LT_LOADER_MT);
  lua_getfield(L, -1, "__index");
  lt_help_register(L, lua_gettop(L), LT_LOADER_MT, loader_help);
  lua_pop(L, 1);
  lt_help_set(L, -1, "loader: mini-batches of a data set in a seeded order per epoch (lotto.data.loader)");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
