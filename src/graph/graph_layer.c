/* graph_layer.c: helpers the graph layers share (graph_layer.h): the node-set batch check and
 * the bias forward and backward (x W^T with its input dropout is graph_xw.c). */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph_layer.h"

void lt_graph_layer_head_set(lt_graph_layer_head *h, lt_graph *g) {
  h->g = lt_graph_retain(g);
  h->nodes = g ? g->n : 0, h->nedges = g ? g->nedges : 0;
}

void lt_graph_layer_config(const lt_graph_layer_head *h, lt_layer_config *c) {
  lt_config_add_int(c, "nodes", h->nodes);
  lt_config_add_int(c, "edges", h->nedges);
}

const char *lt_graph_layer_edges_str(const lt_graph_layer_head *h, char *buf, size_t n) {
  if (h->g) snprintf(buf, n, "%.1f%% edges", 100.0 * lt_graph_density(h->g));
  else snprintf(buf, n, "no graph");
  return buf;
}

lt_status lt_graph_layer_check_batch(const lt_layer *l, const lt_graph_layer_head *h, const lt_tensor *x) {
  const lt_graph *g = h->g;
  if (!g)
    return lt_error(LT_EINVAL, "%s (%s) has no graph: a graph layer rebuilt from its settings (import, "
                    "nn.from_arch) needs lt_graph_attach (lotto.graph.attach(model, g)) with its graph of %lld nodes "
                    "and %lld edges", l->name, l->ops->kind, (long long)h->nodes, (long long)h->nedges);
  if (x->ndim != 2 || x->shape[0] != g->n || !lt_tensor_is_contiguous(x))
    return lt_error(LT_ESHAPE, "%s (%s) takes the features of all %lld nodes of its graph as one contiguous batch "
                    "(%lld, features), got %s (%lld rows)", l->name, l->ops->kind, (long long)g->n, (long long)g->n,
                    x->ndim == 2 ? "a 2-D tensor" : "another rank", (long long)x->shape[0]);
  return LT_OK;
}

void lt_graph_layer_add_bias(float *y, const float *b, int64_t N, int64_t F) {
  for (int64_t i = 0; i < N; i++)
    for (int64_t f = 0; f < F; f++) y[i * F + f] += b[f];
}

void lt_graph_layer_bias_grad(float *db, const float *dy, int64_t N, int64_t F) {
  double *s = calloc((size_t)F, sizeof *s);
  if (!s) { /* fall back to float sums rather than lose the gradient */
    for (int64_t i = 0; i < N; i++)
      for (int64_t f = 0; f < F; f++) db[f] += dy[i * F + f];
    return;
  }
  for (int64_t i = 0; i < N; i++)
    for (int64_t f = 0; f < F; f++) s[f] += dy[i * F + f];
  for (int64_t f = 0; f < F; f++) db[f] += (float)s[f];
  free(s);
}
