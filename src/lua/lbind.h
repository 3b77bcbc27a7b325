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
lt_tensor *lt_checktensor(lua_State *L, int i);
lt_tensor *lt_totensor(lua_State *L, int i); /* NULL when not a tensor */
/* Pushes a userdata holding t; takes over the caller's reference. t == NULL raises lt_errmsg(). */
void lt_pushtensor(lua_State *L, lt_tensor *t);
/* Reads a shape from a table {d1, d2, ...} or from integer arguments starting at i. Returns ndim. */
int lt_checkshape(lua_State *L, int i, int64_t shape[LT_MAXDIM]);

/* ---- models (lnn.c) ---- */
/* The model at index i (a lotto.nn.model userdata, not yet freed), or a Lua
 * error naming argument i. Borrowed: the userdata owns it. */
struct lt_model *lt_checkmodel(lua_State *L, int i);

/* ---- graphs (lgraph.c) ---- */
/* The graph at index i (a lotto.graph userdata), or a Lua error naming argument i. Borrowed. */
struct lt_graph *lt_checkgraph(lua_State *L, int i);

/* ---- rng (lrng.c) ---- */
lt_rng *lt_checkrng(lua_State *L, int i);
/* Optional generator at i: an rng userdata, an integer seed (stream LT_STREAM_USER), or nil.
 * For nil/seed, fills *tmp and returns it. */
lt_rng *lt_optrng(lua_State *L, int i, lt_rng *tmp);

/* ---- errors ---- */
/* Raises a Lua error with lt_errmsg() (prefixed by what, if not NULL). Never returns. */
int lt_raise(lua_State *L, const char *what);
/* Returns nil, lt_errmsg() (2 values) for expected failures. */
int lt_pushfail(lua_State *L);

/* ---- help (lhelp.c): one-line descriptions for help(x) ---- */
typedef struct lt_help_entry { const char *name; const char *text; } lt_help_entry;
/* For each entry, if table at index t has a field `name`, records text for that value.
 * Entries whose name starts with ':' describe methods and are recorded under the
 * metatable's name given as prefix. End the array with {NULL, NULL}. */
void lt_help_register(lua_State *L, int t, const char *prefix, const lt_help_entry *h);
/* Records text for the value at index i (e.g. a metatable, for help(tensor)). */
void lt_help_set(lua_State *L, int i, const char *text);

/* ---- the module table (lmodules.c) ---- */
void lt_openlibs(lua_State *L); /* puts every lotto.<module> C loader into package.preload */

#endif
