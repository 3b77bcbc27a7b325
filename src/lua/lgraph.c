/* lgraph.c: Lua binding of lotto/graph.h, module `lotto.core.graph` (wrapped by
 * lua/lotto/graph.lua): the graph userdata (edge weights, grads and masks as tensors that
 * share its storage), propagation, the node-level loss and feature normalisation. A graph
 * userdata holds one reference; graph layers (lnn.c) take their own. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"
#include "lotto/graph.h"
#include "lotto/nn.h"

#define GRAPH_MT "lotto.graph"

typedef struct { lt_graph *g; } lgraph;

lt_graph *lt_checkgraph(lua_State *L, int i) {
  lgraph *u = luaL_checkudata(L, i, GRAPH_MT);
  luaL_argcheck(L, u->g != NULL, i, "graph already freed");
  return u->g;
}

static int graph_gc(lua_State *L) {
  lgraph *u = luaL_checkudata(L, 1, GRAPH_MT);
  lt_graph_release(u->g);
  u->g = NULL;
  return 0;
}

/* A contiguous 2-D tensor at i with the given columns, or an error naming argument i. */
static lt_tensor *check2d(lua_State *L, int i, int64_t cols, const char *what) {
  lt_tensor *t = lt_checktensor(L, i);
  if (t->ndim != 2 || (cols > 0 && t->shape[1] != cols) || !lt_tensor_is_contiguous(t)) {
    char s[64];
    lt_tensor_shape_str(t, s, sizeof s);
    luaL_error(L, "bad argument #%d (%s must be a contiguous %s tensor, got %s)", i, what,
               cols == 2 ? "(E, 2)" : "(nodes, features)", s);
  }
  return t;
}

/* graph.new(n, edges (E, 2) node ids 0..n-1) -> g */
static int graph_new(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 1 && n < (1 << 30), 1, "node count must be a positive integer");
  lt_tensor *e = check2d(L, 2, 2, "edges");
  int64_t E = e->shape[0];
  lgraph *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->g = NULL;
  luaL_setmetatable(L, GRAPH_MT);
  int64_t *pairs = malloc(sizeof *pairs * (size_t)(2 * E + 1));
  if (!pairs) return luaL_error(L, "graph.new: out of memory");
  const float *d = lt_tensor_data(e);
  for (int64_t k = 0; k < 2 * E; k++) {
    if (d[k] != (float)(int64_t)d[k]) {
      free(pairs);
      return luaL_error(L, "bad argument #2 (edge %d holds %f, not a node id)", (int)(k / 2) + 1, (double)d[k]);
    }
    pairs[k] = (int64_t)d[k];
  }
  lt_status s = lt_graph_new(&u->g, n, E, pairs);
  free(pairs);
  if (s) return luaL_argerror(L, 2, lt_errmsg());
  return 1;
}

static int graph_nodes(lua_State *L) { lua_pushinteger(L, lt_graph_nodes(lt_checkgraph(L, 1))); return 1; }
static int graph_nedges(lua_State *L) { lua_pushinteger(L, lt_graph_nedges(lt_checkgraph(L, 1))); return 1; }
static int graph_kept(lua_State *L) { lua_pushinteger(L, lt_graph_kept(lt_checkgraph(L, 1))); return 1; }
static int graph_density(lua_State *L) { lua_pushnumber(L, lt_graph_density(lt_checkgraph(L, 1))); return 1; }
static int graph_weight(lua_State *L) { lt_pushtensor(L, lt_tensor_retain(lt_graph_weight(lt_checkgraph(L, 1)))); return 1; }
static int graph_grad(lua_State *L) { lt_pushtensor(L, lt_tensor_retain(lt_graph_weight_grad(lt_checkgraph(L, 1)))); return 1; }
static int graph_mask(lua_State *L) { lt_pushtensor(L, lt_tensor_retain(lt_graph_mask(lt_checkgraph(L, 1)))); return 1; }
/* g:weight_grad([on]) -> g (with on) or whether backward passes reach the edge weights */
static int graph_weight_grad(lua_State *L) {
  lt_graph *g = lt_checkgraph(L, 1);
  if (lua_isnoneornil(L, 2)) {
    lua_pushboolean(L, lt_graph_weight_grad_on(g));
    return 1;
  }
  lt_graph_set_weight_grad(g, lua_toboolean(L, 2));
  lua_settop(L, 1);
  return 1;
}

/* g:directed([on]) -> g (with on: one edge-mask entry per direction, or per edge; switching
 * resets the weights, gradient and mask) or whether the mask is per direction */
static int graph_directed(lua_State *L) {
  lt_graph *g = lt_checkgraph(L, 1);
  if (lua_isnoneornil(L, 2)) {
    lua_pushboolean(L, lt_graph_directed(g));
    return 1;
  }
  luaL_checktype(L, 2, LUA_TBOOLEAN);
  if (lt_graph_set_directed(g, lua_toboolean(L, 2))) return lt_raise(L, "directed");
  lua_settop(L, 1);
  return 1;
}

static int graph_nmask(lua_State *L) { lua_pushinteger(L, lt_graph_nmask(lt_checkgraph(L, 1))); return 1; }

static int graph_zero_grad(lua_State *L) {
  lt_graph_zero_grad(lt_checkgraph(L, 1));
  lua_settop(L, 1);
  return 1;
}

/* g:edges() -> (E, 2) tensor of the pairs, as given to new */
static int edge_list(lua_State *L, int per_mask) {
  lt_graph *g = lt_checkgraph(L, 1);
  int64_t n = per_mask ? lt_graph_nmask(g) : lt_graph_nedges(g);
  lt_tensor *t = lt_tensor_new2(n, 2);
  if (!t) return lt_raise(L, per_mask ? "mask_edges" : "edges");
  float *d = lt_tensor_data(t);
  for (int64_t k = 0; k < n; k++) {
    int64_t u, v;
    if (per_mask) lt_graph_mask_edge(g, k, &u, &v);
    else lt_graph_edge(g, k, &u, &v);
    d[2 * k] = (float)u, d[2 * k + 1] = (float)v;
  }
  lt_pushtensor(L, t);
  return 1;
}

static int graph_edges(lua_State *L) { return edge_list(L, 0); }
/* g:mask_edges() -> (nmask, 2): the pair of each mask entry, (from, to) when directed */
static int graph_mask_edges(lua_State *L) { return edge_list(L, 1); }

/* g:propagate(x (n, F)) -> A_hat x, a new tensor (renormalised from the current mask and weights) */
static int graph_propagate(lua_State *L) {
  lt_graph *g = lt_checkgraph(L, 1);
  lt_tensor *x = check2d(L, 2, 0, "x");
  luaL_argcheck(L, x->shape[0] == lt_graph_nodes(g), 2, "x must have one row per node");
  lt_tensor *y = lt_tensor_new(2, x->shape);
  if (!y) return lt_raise(L, "propagate");
  lt_pushtensor(L, y);
  lt_graph_propagate(g, lt_tensor_data(y), lt_tensor_data(x), x->shape[1]);
  return 1;
}

static int graph_tostring(lua_State *L) {
  lgraph *u = luaL_checkudata(L, 1, GRAPH_MT);
  if (!u->g) lua_pushliteral(L, "graph (freed)");
  else if (lt_graph_directed(u->g))
    lua_pushfstring(L, "graph (%d nodes, %d edges, %d of %d directed entries kept)", (int)lt_graph_nodes(u->g),
                    (int)lt_graph_nedges(u->g), (int)lt_graph_kept(u->g), (int)lt_graph_nmask(u->g));
  else
    lua_pushfstring(L, "graph (%d nodes, %d edges, %d kept)", (int)lt_graph_nodes(u->g), (int)lt_graph_nedges(u->g),
                    (int)lt_graph_kept(u->g));
  return 1;
}

/* Node ids from a tensor of 0-based ids at i into a malloc'd array (caller frees). */
static int64_t *check_ids(lua_State *L, int i, int64_t *n) {
  lt_tensor *t = lt_checktensor(L, i);
  *n = (int64_t)lt_tensor_numel(t);
  luaL_argcheck(L, *n > 0 && lt_tensor_is_contiguous(t), i, "node ids must be a non-empty contiguous tensor");
  int64_t *ids = malloc(sizeof *ids * (size_t)*n);
  if (!ids) luaL_error(L, "out of memory");
  const float *d = lt_tensor_data(t);
  for (int64_t r = 0; r < *n; r++) {
    if (!(d[r] >= 0 && d[r] < 2147483648.0f && d[r] == (float)(int64_t)d[r])) {
      free(ids);
      luaL_argerror(L, i, lua_pushfstring(L, "node id %f at position %d is not a non-negative integer", (double)d[r],
                                          (int)r + 1));
    }
    ids[r] = (int64_t)d[r];
  }
  return ids;
}

/* graph.node_loss(logits (N, C), labels (N), ids[, dlogits (N, C)]) -> loss, correct
 * Mean cross-entropy over the nodes ids (0-based); dlogits, when given, is overwritten. */
static int graph_node_loss(lua_State *L) {
  lt_tensor *lg = check2d(L, 1, 0, "logits"), *lb = lt_checktensor(L, 2);
  int64_t N = lg->shape[0], C = lg->shape[1];
  luaL_argcheck(L, lt_tensor_numel(lb) == (size_t)N && lt_tensor_is_contiguous(lb), 2,
                "labels must be a contiguous tensor with one label per row of logits");
  lt_tensor *d = NULL;
  if (!lua_isnoneornil(L, 4)) {
    d = check2d(L, 4, C, "dlogits");
    luaL_argcheck(L, d->shape[0] == N, 4, "dlogits must have the shape of logits");
  }
  int64_t n;
  int64_t *ids = check_ids(L, 3, &n);
  double loss;
  int64_t correct;
  lt_status s = lt_graph_node_loss(&loss, d ? lt_tensor_data(d) : NULL, &correct, lt_tensor_data(lg),
                                   lt_tensor_data(lb), N, C, ids, n);
  free(ids);
  if (s) return lt_raise(L, "node_loss");
  lua_pushnumber(L, loss);
  lua_pushinteger(L, correct);
  return 2;
}

/* graph.row_normalize(x (N, F)) -> x, rows scaled to sum 1 in place */
static int graph_row_normalize(lua_State *L) {
  lt_tensor *x = check2d(L, 1, 0, "x");
  lt_graph_row_normalize(lt_tensor_data(x), x->shape[0], x->shape[1]);
  lua_settop(L, 1);
  return 1;
}

/* graph.step(model, x, labels, ids) -> loss, correct: zero the model's grads, forward all nodes
 * in training mode, cross-entropy over ids, backward (no input gradient). Edge-weight
 * gradients accumulate in the graph: zero them (g:zero_grad()) before when they are trained. */
static int graph_step(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lt_tensor *x = lt_checktensor(L, 2), *lb = lt_checktensor(L, 3), *y;
  int64_t n;
  int64_t *ids = check_ids(L, 4, &n);
  lt_model_zero_grad(m);
  lt_status s = lt_model_forward(m, x, &y, 1);
  lt_tensor *dy = NULL;
  double loss = 0;
  int64_t correct = 0;
  if (!s && (y->ndim != 2 || lt_tensor_numel(lb) != (size_t)y->shape[0]))
    s = lt_error(LT_ESHAPE, "labels must hold one label per node (%lld), got %lld", (long long)y->shape[0],
                 (long long)lt_tensor_numel(lb));
  if (!s && !(dy = lt_tensor_new(2, y->shape))) s = LT_ENOMEM;
  if (!s)
    s = lt_graph_node_loss(&loss, lt_tensor_data(dy), &correct, lt_tensor_data(y), lt_tensor_data(lb), y->shape[0],
                           y->shape[1], ids, n);
  if (!s) s = lt_model_backward(m, dy, NULL);
  free(ids);
  lt_tensor_release(dy);
  if (s) return lt_raise(L, "step");
  lua_pushnumber(L, loss);
  lua_pushinteger(L, correct);
  return 2;
}

/* graph.evaluate(model, x, labels, ids1[, ids2, ...]) -> acc1, loss1[, acc2, loss2, ...]: one
 * forward of all nodes in eval mode (the mode is restored), then accuracy and mean loss per set. */
static int graph_evaluate(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lt_tensor *x = lt_checktensor(L, 2), *lb = lt_checktensor(L, 3), *y;
  int nsets = lua_gettop(L) - 3;
  luaL_argcheck(L, nsets >= 1, 4, "expected at least one tensor of node ids");
  for (int k = 0; k < nsets; k++) lt_checktensor(L, 4 + k);
  if (lt_model_forward(m, x, &y, 0)) return lt_raise(L, "evaluate");
  if (y->ndim != 2 || lt_tensor_numel(lb) != (size_t)y->shape[0])
    return luaL_argerror(L, 3, "labels must hold one label per node");
  for (int k = 0; k < nsets; k++) {
    int64_t n;
    int64_t *ids = check_ids(L, 4 + k, &n);
    double loss;
    int64_t correct;
    lt_status s = lt_graph_node_loss(&loss, NULL, &correct, lt_tensor_data(y), lt_tensor_data(lb), y->shape[0],
                                     y->shape[1], ids, n);
    free(ids);
    if (s) return lt_raise(L, "evaluate");
    lua_pushnumber(L, (double)correct / (double)n);
    lua_pushnumber(L, loss);
  }
  return 2 * nsets;
}

static int graph_is_graph(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, GRAPH_MT) != NULL);
  return 1;
}

/* graph.attach(model, g) -> count: g for every graph layer of a model rebuilt from settings */
static int graph_attach(lua_State *L) {
  lt_model *m = lt_checkmodel(L, 1);
  lt_graph *g = lt_checkgraph(L, 2);
  int n;
  if (lt_graph_attach(m, g, &n)) return lt_raise(L, "attach");
  lua_pushinteger(L, n);
  return 1;
}

static const luaL_Reg funcs[] = {{"attach", graph_attach},{"new", graph_new},           {"node_loss", graph_node_loss},
                                 {"row_normalize", graph_row_normalize}, {"is_graph", graph_is_graph},
                                 {"step", graph_step}, {"evaluate", graph_evaluate}, {NULL, NULL}};
static const luaL_Reg methods[] = {{"nodes", graph_nodes},   {"nedges", graph_nedges},       {"kept", graph_kept},
                                   {"density", graph_density}, {"weight", graph_weight},     {"grad", graph_grad},
                                   {"mask", graph_mask},     {"zero_grad", graph_zero_grad}, {"edges", graph_edges},
                                   {"weight_grad", graph_weight_grad}, {"directed", graph_directed},
                                   {"nmask", graph_nmask}, {"mask_edges", graph_mask_edges},
                                   {"propagate", graph_propagate}, {NULL, NULL}};
static const luaL_Reg meta[] = {{"__gc", graph_gc}, {"__close", graph_gc}, {"__tostring", graph_tostring},
                                {"__len", graph_nodes}, {NULL, NULL}};

static const lt_help_entry help[] = {
    {"new", "new(n, edges) -> g: n nodes, edges an (E, 2) tensor of 0-based node pairs (undirected, no self-loops)"},
    {"node_loss", "node_loss(logits, labels, ids[, dlogits]) -> loss, correct: mean cross-entropy over node ids"},
    {"row_normalize", "row_normalize(x) -> x: each row of x (N, F) scaled to sum 1, in place"},
    {"is_graph", "is_graph(x) -> boolean"},
    {"attach", "attach(model, g) -> count: gives g to every graph layer of a model rebuilt from settings "
               "(import, nn.from_arch), checked against the nodes and edges they were made for"},
    {"step", "step(model, x, labels, ids) -> loss, correct: zero grads, forward all nodes, loss over ids, backward"},
    {"evaluate", "evaluate(model, x, labels, ids...) -> acc, loss per id set: one eval-mode forward of all nodes"},
    {":nodes", "g:nodes() -> n"},
    {":nedges", "g:nedges() -> undirected edges E (self-loops not counted)"},
    {":nmask", "g:nmask() -> entries of the edge mask: E, or 2E when directed"},
    {":directed", "g:directed([on]) -> g, or whether the edge mask has one entry per direction (2E, "
                  "entry 2k = u -> v, 2k+1 = v -> u of edge k = (u, v)) instead of one per edge; "
                  "switching resets weights and mask to 1 (take g:mask() etc. again)"},
    {":mask_edges", "g:mask_edges() -> (nmask, 2) the nodes of each mask entry: (from, to) when directed"},
    {":kept", "g:kept() -> mask entries that are 1 (edges, or directed edges)"},
    {":density", "g:density() -> kept / nmask"},
    {":weight", "g:weight() -> (nmask) soft edge weights, sharing the graph's storage (1 at first)"},
    {":grad", "g:grad() -> (nmask) gradient of the edge weights, accumulated by backward passes"},
    {":mask", "g:mask() -> (nmask) 0/1 edge mask, sharing storage: write it to prune edges"},
    {":zero_grad", "g:zero_grad() -> g"},
    {":weight_grad", "g:weight_grad([on]) -> g, or whether backward passes compute the edge weights' gradient "
                     "(on at first; off saves a GCN's SDDMM when the edges are not trained)"},
    {":edges", "g:edges() -> (E, 2) the node pairs"},
    {":propagate", "g:propagate(x) -> D^-1/2 (A + I) D^-1/2 x of the masked, weighted adjacency"},
    {NULL, NULL}};

int luaopen_lotto_graph(lua_State *L) {
  if (luaL_newmetatable(L, GRAPH_MT)) {
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  lt_help_register(L, -1, GRAPH_MT, help);
  return 1;
}
