/* lnn_layers.c: the layer userdata of lotto.nn and its constructors
 * (nn.linear, nn.conv2d, ..., nn.sequential, nn.gcn): each pushes an empty box
 * first, so an error while building leaks nothing; a container or a model
 * takes its layers over (the boxes are emptied). lnn.c is the model. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"
#include "lotto/graph.h"
#include "lotto/nn.h"

#define LAYER_MT "lotto.nn.layer"

typedef struct { lt_layer *l; } llayer;

static llayer *checklayer(lua_State *L, int i) {
  llayer *u = luaL_checkudata(L, i, LAYER_MT);
  luaL_argcheck(L, u->l != NULL, i, "layer already used in a container or model");
  return u;
}

// Pushes an empty layer box first, so an error while building leaks nothing.
static llayer *newlayer(lua_State *L) {
  llayer *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->l = NULL;
  luaL_setmetatable(L, LAYER_MT);
  return u;
}

// Fills the box on top with l (NULL raises lt_errmsg), then applies the optional name at index ni.
static int setlayer(lua_State *L, llayer *u, lt_layer *l, int ni) {
  if (!l) return lt_raise(L, NULL);
  u->l = l;
  if (ni && !lua_isnoneornil(L, ni)) {
    const char *name = luaL_checkstring(L, ni);
    if (lt_layer_set_name(l, name)) luaL_argerror(L, ni, lt_errmsg());
  }
  return 1;
}

static int checkpos(lua_State *L, int i, const char *what) {
  lua_Integer v = luaL_checkinteger(L, i);
  luaL_argcheck(L, v > 0 && v < (1 << 24), i, what);
  return (int)v;
}

// linear(in, out[, bias = true[, name]])
static int nn_linear(lua_State *L) {
  int in = checkpos(L, 1, "input size must be a positive integer");
  int out = checkpos(L, 2, "output size must be a positive integer");
  int bias = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
  llayer *u = newlayer(L);
  return setlayer(L, u, lt_linear_new(in, out, bias), 4);
}

// conv2d(cin, cout, k[, stride = 1[, padding = 0[, bias = true[, name]]]])
static int nn_conv2d(lua_State *L) {
  int cin = checkpos(L, 1, "input channels must be a positive integer");
  int cout = checkpos(L, 2, "output channels must be a positive integer");
  int k = checkpos(L, 3, "kernel size must be a positive integer");
  int stride = lua_isnoneornil(L, 4) ? 1 : checkpos(L, 4, "stride must be a positive integer");
  lua_Integer pad = luaL_optinteger(L, 5, 0);
  luaL_argcheck(L, pad >= 0 && pad < 1024, 5, "padding must be a non-negative integer");
  int bias = lua_isnoneornil(L, 6) ? 1 : lua_toboolean(L, 6);
  llayer *u = newlayer(L);
  return setlayer(L, u, lt_conv2d_new(cin, cout, k, stride, (int)pad, bias), 7);
}

// dwconv2d(channels, k[, stride = 1[, padding = 0[, bias = true[, name]]]])
static int nn_dwconv2d(lua_State *L) {
  int c = checkpos(L, 1, "channels must be a positive integer");
  int k = checkpos(L, 2, "kernel size must be a positive integer");
  int stride = lua_isnoneornil(L, 3) ? 1 : checkpos(L, 3, "stride must be a positive integer");
  lua_Integer pad = luaL_optinteger(L, 4, 0);
  luaL_argcheck(L, pad >= 0 && pad < 1024, 4, "padding must be a non-negative integer");
  int bias = lua_isnoneornil(L, 5) ? 1 : lua_toboolean(L, 5);
  llayer *u = newlayer(L);
  return setlayer(L, u, lt_dwconv2d_new(c, k, stride, (int)pad, bias), 6);
}

// maxpool2d(k[, stride = k[, name]]) / avgpool2d(...)
static int pool(lua_State *L, lt_layer *(*ctor)(int, int)) {
  int k = checkpos(L, 1, "kernel size must be a positive integer");
  int stride = lua_isnoneornil(L, 2) ? k : checkpos(L, 2, "stride must be a positive integer");
  llayer *u = newlayer(L);
  return setlayer(L, u, ctor(k, stride), 3);
}
static int nn_maxpool2d(lua_State *L) { return pool(L, lt_maxpool2d_new); }
static int nn_avgpool2d(lua_State *L) { return pool(L, lt_avgpool2d_new); }

static int nn_global_avgpool(lua_State *L) { return setlayer(L, newlayer(L), lt_global_avgpool_new(), 1); }
static int nn_relu(lua_State *L) { return setlayer(L, newlayer(L), lt_relu_new(), 1); }
static int nn_flatten(lua_State *L) { return setlayer(L, newlayer(L), lt_flatten_new(), 1); }

static int nn_batchnorm(lua_State *L) {
  int n = checkpos(L, 1, "channel count must be a positive integer");
  return setlayer(L, newlayer(L), lt_batchnorm_new(n), 2);
}

// dropout(p[, seed = 0[, name]])
static int nn_dropout(lua_State *L) {
  lua_Number p = luaL_checknumber(L, 1);
  luaL_argcheck(L, p >= 0 && p < 1, 1, "dropout probability must be in [0, 1)");
  lua_Integer seed = luaL_optinteger(L, 2, 0);
  return setlayer(L, newlayer(L), lt_dropout_new((float)p, (uint64_t)seed), 3);
}

// The input dropout of a graph layer at i (probability) and i + 1 (seed).
static float checkdrop(lua_State *L, int i, uint64_t *seed) {
  lua_Number p = luaL_optnumber(L, i, 0);
  luaL_argcheck(L, p >= 0 && p < 1, i, "dropout probability must be in [0, 1)");
  *seed = (uint64_t)luaL_optinteger(L, i + 1, 0);
  return (float)p;
}

// gcn(graph, in, out[, bias = true[, dropout = 0[, seed = 0[, name]]]]): graph layers take the graph's nodes as the batch
static int nn_gcn(lua_State *L) {
  lt_graph *g = lt_checkgraph(L, 1);
  int in = checkpos(L, 2, "input size must be a positive integer");
  int out = checkpos(L, 3, "output size must be a positive integer");
  int bias = lua_isnoneornil(L, 4) ? 1 : lua_toboolean(L, 4);
  uint64_t seed;
  float drop = checkdrop(L, 5, &seed);
  return setlayer(L, newlayer(L), lt_gcn_new(g, in, out, bias, drop, seed), 7);
}

// gat(graph, in, out[, heads = 1[, concat = true[, dropout = 0[, seed = 0[, name]]]]])
static int nn_gat(lua_State *L) {
  lt_graph *g = lt_checkgraph(L, 1);
  int in = checkpos(L, 2, "input size must be a positive integer");
  int out = checkpos(L, 3, "output size must be a positive integer");
  int heads = lua_isnoneornil(L, 4) ? 1 : checkpos(L, 4, "heads must be a positive integer");
  int concat = lua_isnoneornil(L, 5) ? 1 : lua_toboolean(L, 5);
  uint64_t seed;
  float drop = checkdrop(L, 6, &seed);
  return setlayer(L, newlayer(L), lt_gat_new(g, in, out, heads, concat, drop, seed), 8);
}

// gin(graph, in, hidden, out[, name])
static int nn_gin(lua_State *L) {
  lt_graph *g = lt_checkgraph(L, 1);
  int in = checkpos(L, 2, "input size must be a positive integer");
  int hidden = checkpos(L, 3, "hidden size must be a positive integer");
  int out = checkpos(L, 4, "output size must be a positive integer");
  return setlayer(L, newlayer(L), lt_gin_new(g, in, hidden, out), 5);
}

// sequential({layer, ...}[, name]): takes the layers
static int nn_sequential(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  /* raw reads: an __index could hand the second pass something else than the checked layers */
  if (lua_rawlen(L, 1) > 1u << 20) luaL_argerror(L, 1, "too many layers");
  int n = (int)lua_rawlen(L, 1);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    llayer *u = luaL_testudata(L, -1, LAYER_MT);
    if (!u) luaL_error(L, "bad argument #1 to 'sequential' (element %d is a %s, not a layer)", i, luaL_typename(L, -1));
    if (!u->l) luaL_error(L, "bad argument #1 to 'sequential' (element %d is a layer already used elsewhere)", i);
    for (int j = 1; j < i; j++) {
      lua_rawgeti(L, 1, j);
      int same = lua_rawequal(L, -1, -2);
      lua_pop(L, 1);
      if (same) luaL_error(L, "bad argument #1 to 'sequential' (elements %d and %d are the same layer)", j, i);
    }
    lua_pop(L, 1);
  }
  if (!lua_isnoneornil(L, 2)) luaL_checkstring(L, 2);
  llayer *box = newlayer(L);
  lt_layer **kids = malloc(sizeof *kids * (n > 0 ? n : 1));
  if (!kids) return luaL_error(L, "out of memory");
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    llayer *u = lua_touserdata(L, -1);
    kids[i - 1] = u->l;
    u->l = NULL;
    lua_pop(L, 1);
  }
  lt_layer *l = lt_sequential_new(n, kids); // takes the children, also on failure
  free(kids);
  return setlayer(L, box, l, 2);
}

// residual(body[, shortcut[, name]]): takes both
static int nn_residual(lua_State *L) {
  llayer *b = checklayer(L, 1);
  llayer *s = lua_isnoneornil(L, 2) ? NULL : checklayer(L, 2);
  luaL_argcheck(L, !s || s != b, 2, "shortcut must differ from the body");
  if (!lua_isnoneornil(L, 3)) luaL_checkstring(L, 3);
  llayer *box = newlayer(L);
  lt_layer *body = b->l, *sc = s ? s->l : NULL;
  b->l = NULL;
  if (s) s->l = NULL;
  return setlayer(L, box, lt_residual_new(body, sc), 3);
}

// concat(body[, name]): cat(x, body(x)) along channels; takes the body
static int nn_concat(lua_State *L) {
  llayer *b = checklayer(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checkstring(L, 2);
  llayer *box = newlayer(L);
  lt_layer *body = b->l;
  b->l = NULL;
  return setlayer(L, box, lt_concat_new(body), 2);
}

static int layer_gc(lua_State *L) {
  llayer *u = luaL_checkudata(L, 1, LAYER_MT);
  lt_layer_free(u->l);
  u->l = NULL;
  return 0;
}

static int layer_tostring(lua_State *L) {
  llayer *u = luaL_checkudata(L, 1, LAYER_MT);
  if (!u->l) {
    lua_pushliteral(L, "layer (used in a container or model)");
    return 1;
  }
  char buf[160] = "";
  lt_layer_describe(u->l, buf, sizeof buf);
  if (lt_layer_user_named(u->l)) lua_pushfstring(L, "%s: %s", lt_layer_name(u->l), buf);
  else lua_pushstring(L, buf);
  return 1;
}

static int layer_kind(lua_State *L) {
  lua_pushstring(L, lt_layer_kind(checklayer(L, 1)->l));
  return 1;
}

lt_layer *lt_testlayer(lua_State *L, int i) {
  llayer *u = luaL_testudata(L, i, LAYER_MT);
  if (!u) return NULL;
  luaL_argcheck(L, u->l != NULL, i, "layer already used in a container or model");
  return u->l;
}

lt_layer **lt_pushlayerbox(lua_State *L) { return &newlayer(L)->l; }

lt_layer *lt_takelayer(lua_State *L, int i) {
  llayer *u = checklayer(L, i);
  lt_layer *l = u->l;
  u->l = NULL;
  return l;
}

static int nn_is_layer(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, LAYER_MT) != NULL);
  return 1;
}

static const luaL_Reg layer_methods[] = {{"kind", layer_kind}, {NULL, NULL}};
static const luaL_Reg layer_meta[] = {{"__gc", layer_gc}, {"__close", layer_gc}, {"__tostring", layer_tostring},
                                      {"__index", NULL}, {NULL, NULL}};

const luaL_Reg lt_nn_layer_funcs[] = {
    {"linear", nn_linear},         {"conv2d", nn_conv2d},       {"dwconv2d", nn_dwconv2d},
    {"maxpool2d", nn_maxpool2d},   {"avgpool2d", nn_avgpool2d}, {"global_avgpool", nn_global_avgpool},
    {"relu", nn_relu},             {"batchnorm", nn_batchnorm}, {"dropout", nn_dropout},
    {"flatten", nn_flatten},       {"sequential", nn_sequential}, {"residual", nn_residual},
    {"concat", nn_concat},         {"gcn", nn_gcn},             {"gat", nn_gat},
    {"gin", nn_gin},               {"is_layer", nn_is_layer},   {NULL, NULL}};

void lt_nn_open_layers(lua_State *L) {
  lt_newmeta(L, LAYER_MT, layer_meta, layer_methods);
  lua_pop(L, 1);
}
