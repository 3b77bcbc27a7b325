/* lbind.h: helpers shared by the Lua bindings (src/lua/l*.c).
 * Conventions: arguments are checked with luaL_check* and luaL_argcheck so messages
 * name the argument; temporaries are freed before raising; expected failures
 * (missing file, corrupt data) return nil, message. */
#ifndef LOTTO_LBIND_H
#define LOTTO_LBIND_H

#include <lauxlib.h>
#include <lua.h>

#include "lotto/tensor.h"

#define LT_TENSOR_MT "lotto.tensor"
#define LT_RNG_MT "lotto.rng"

/* ---- tensors (ltensor.c) ---- */
/* The tensor at index i, or a Lua error naming argument i. Borrowed reference. */
/* Both, and lt_checkmodel, first write lagging dense buffers of sparse layers
 * (lt_sparse_sync): every binding that can read a model's values or grads takes
 * them through these. */
lt_tensor *lt_checktensor(lua_State *L, int i);
lt_tensor *lt_totensor(lua_State *L, int i); /* NULL when not a tensor */
/* Without the write-back: for the training step itself and shape queries. */
lt_tensor *lt_checktensor_nosync(lua_State *L, int i);
/* Pushes a userdata holding t; takes over the caller's reference. t == NULL raises lt_errmsg(). */
void lt_pushtensor(lua_State *L, lt_tensor *t);
/* Reads a shape from a table {d1, d2, ...} or from integer arguments starting at i. Returns ndim. */
int lt_checkshape(lua_State *L, int i, int64_t shape[LT_MAXDIM]);

/* ---- layers (lnn.c) ---- */
/* The layer of the layer userdata at index i (borrowed), NULL when i holds
 * something else; raises when the layer was handed on to a container. */
struct lt_layer *lt_testlayer(lua_State *L, int i);
/* The layer constructors of lotto.nn (lnn_layers.c) and the layer metatable. */
extern const luaL_Reg lt_nn_layer_funcs[];
void lt_nn_open_layers(lua_State *L);
/* Pushes an empty layer userdata and returns its slot: a layer stored there
 * belongs to the userdata until a container or model takes it. */
struct lt_layer **lt_pushlayerbox(lua_State *L);
/* Takes the layer out of the layer userdata at index i (which then counts as
 * used); raises when i holds no layer. The caller owns the result. */
struct lt_layer *lt_takelayer(lua_State *L, int i);
/* nn.arch / nn.from_arch of lotto.core.nn (lnn_arch.c). */
int lt_nn_arch(lua_State *L);
int lt_nn_from_arch(lua_State *L);
/* nn.shrink / nn.cost of lotto.core.nn (lnn_shrink.c). */
int lt_nn_shrink(lua_State *L);
int lt_nn_shrink_clean(lua_State *L);
int lt_nn_cost(lua_State *L);

/* sparse.nm of lotto.core.sparse and its userdata's metatable (lsparse_nm.c). */
int lt_sparse_nm(lua_State *L);
int lt_sparse_nm_open(lua_State *L);
/* lsparse_cross.c: timing, calibration and the crossover table of lotto.core.sparse */
extern const luaL_Reg lt_sparse_cross_funcs[];
int lt_sparse_nm_kernel(lua_State *L);

/* ---- mask arguments (lprune.c) ---- */
/* A tensor written in place: contiguous, or an error naming argument i and what. */
lt_tensor *lt_checkinplace(lua_State *L, int i, const char *what);
/* A read-only tensor shaped like mask (the error names both shapes); a strided
 * one is copied, the copy left on the stack so the collector owns it. */
lt_tensor *lt_checklike(lua_State *L, int i, const lt_tensor *mask, const char *what);
/* Adds `bytes` allocated outside Lua's heap (64 KB or more) to the collector's debt, as
 * if Lua had allocated them: else a loop of large objects reaches gigabytes first. */
void lt_gc_account(lua_State *L, size_t bytes);

/* ---- models (lnn.c) ---- */
/* The model at index i (a lotto.nn.model userdata, not yet freed), or a Lua
 * error naming argument i. Borrowed: the userdata owns it. */
struct lt_model *lt_checkmodel(lua_State *L, int i);
struct lt_model *lt_checkmodel_nosync(lua_State *L, int i); /* the step itself, mask_version */
/* Pushes an empty model userdata and returns its slot: a model stored there
 * belongs to the userdata (freed by its __gc). Create it before the model, so
 * an error in between leaks nothing. */
struct lt_model **lt_pushmodelbox(lua_State *L);
/* After a model is stored in its box: its parameters (values and gradients) count
 * towards the collector's debt, so models made in a loop are collected in time. */
void lt_model_account(lua_State *L, const struct lt_model *m);

/* ---- graphs (lgraph.c) ---- */
/* The graph at index i (a lotto.graph userdata), or a Lua error naming argument i. Borrowed. */
struct lt_graph *lt_checkgraph(lua_State *L, int i);

/* ---- rng (lrng.c) ---- */
lt_rng *lt_checkrng(lua_State *L, int i);
/* Optional generator at i: an rng userdata, an integer seed (stream LT_STREAM_USER), or nil.
 * For nil/seed, fills *tmp and returns it. */
lt_rng *lt_optrng(lua_State *L, int i, lt_rng *tmp);
/* m:rng_states() and m:set_rng_states(t), methods of a model: the state of every layer's
 * own generator (dropout) by layer name, as r:state() strings. */
int lt_model_rng_states(lua_State *L);
int lt_model_set_rng_states(lua_State *L);

/* ---- options ---- */
/* t[k] without metamethods (lua_getfield would run an __index): bindings read option
 * tables raw, so no Lua code runs while they hold engine pointers, which that code
 * could free (a <close> variable closed by coroutine.close). Returns the value's type. */
static inline int lt_rawfield(lua_State *L, int t, const char *k) {
  t = lua_absindex(L, t);
  lua_pushstring(L, k);
  return lua_rawget(L, t);
}

/* ---- errors ---- */
/* Raises a Lua error with lt_errmsg() (prefixed by what, if not NULL). Never returns. */
int lt_raise(lua_State *L, const char *what);
/* Returns nil, lt_errmsg() (2 values) for expected failures. */
int lt_pushfail(lua_State *L);

/* ---- userdata types (lhost.c) ---- */
/* Pushes the metatable `name`, creating it on first use with the metamethods
 * meta (may be NULL) and, when methods is not NULL, an __index table holding
 * methods. Returns 1 when it was created now. Every binding's userdata types
 * are made through this one function. */
int lt_newmeta(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods);

/* ---- help (lhelp.c): one-line descriptions for help(x) ---- */
typedef struct lt_help_entry { const char *name; const char *text; } lt_help_entry;
/* For each entry, if table at index t has a field `name`, records text for that value.
 * Entries whose name starts with ':' describe methods and are recorded under the
 * metatable's name given as prefix. End the array with {NULL, NULL}. */
void lt_help_register(lua_State *L, int t, const char *prefix, const lt_help_entry *h);
/* Records text for the value at index i (e.g. a metatable, for help(tensor)). */
void lt_help_set(lua_State *L, int i, const char *text);

/* ---- what the engine runs on (lsys.c) ---- */
/* Pushes the BLAS table of tensor.blas_info() and sys.info().blas. */
void lt_pushblasinfo(lua_State *L);

/* ---- the module table (lmodules.c) ---- */
void lt_openlibs(lua_State *L); /* puts every lotto.<module> C loader into package.preload */

#endif
