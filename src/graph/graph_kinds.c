/* graph_kinds.c: the graph layers' side of the layer registry. Their kinds are registered with
 * nn (which may not name them: graph sits above it), and lt_graph_attach gives the graph layers
 * of a model rebuilt from settings (import, nn.from_arch) their graph, which is not a setting. */
#include "graph/graph_layer.h"

extern const lt_layer_ops lt_gcn_ops, lt_gat_ops, lt_gin_ops;
static const lt_layer_ops *const kinds[] = {&lt_gcn_ops, &lt_gat_ops, &lt_gin_ops};
#define NKINDS (int)(sizeof kinds / sizeof *kinds)

lt_status lt_graph_register_kinds(void) {
  for (int i = 0; i < NKINDS; i++) {
    lt_status st = lt_layer_kind_register(kinds[i]);
    if (st) return st;
  }
  return LT_OK;
}

static int is_graph_layer(const lt_layer *l) {
  for (int i = 0; i < NKINDS; i++)
    if (l->ops == kinds[i]) return 1;
  return 0;
}

/* Checks (set = 0) or gives g to (set = 1) every graph layer under l; *n counts them. */
static lt_status walk(lt_layer *l, lt_graph *g, int set, int *n) {
  if (is_graph_layer(l)) {
    lt_graph_layer_head *h = l->priv; /* the first member of every graph layer's state */
    if (!set && h->nodes && (h->nodes != g->n || h->nedges != g->nedges))
      return lt_error(LT_EINVAL, "attach: %s (%s) was made for a graph of %lld nodes and %lld edges, not %lld and %lld",
                      l->name, l->ops->kind, (long long)h->nodes, (long long)h->nedges, (long long)g->n,
                      (long long)g->nedges);
    if (set) {
      lt_graph *old = h->g;
      lt_graph_layer_head_set(h, g);
      lt_graph_release(old);
    }
    (*n)++;
  }
  for (int i = 0, k = lt_layer_nchildren(l); i < k; i++) {
    lt_status st = walk(lt_layer_child(l, i), g, set, n);
    if (st) return st;
  }
  return LT_OK;
}

lt_status lt_graph_attach(lt_model *m, lt_graph *g, int *count) {
  if (!m || !g) return lt_error(LT_EINVAL, "attach: a model and a graph are required");
  int n = 0;
  lt_status st = walk(lt_model_root(m), g, 0, &n); /* all checked before any is changed */
  if (!st) n = 0, st = walk(lt_model_root(m), g, 1, &n);
  if (count) *count = st ? 0 : n;
  return st;
}
