/* graph_gcn.c: the GCN layer (Kipf & Welling 2017): y = A_hat (x W^T) + b over a graph's
 * nodes, A_hat the symmetric normalisation of the masked, weighted adjacency (graph_adj.c).
 * The backward reaches the features, W, b and the graph's edge weights. Holds a reference
 * to its graph; its params are views into the model's flat buffers. */
#include <stdio.h>
#include <stdlib.h>

#include "graph/graph_layer.h"

typedef struct {
  lt_graph_layer_head gh; /* first: lt_graph_attach reads it */
  int in, out, bias;
  const lt_tensor *x;   /* borrowed from the forward, read by the backward */
  lt_tensor *h, *y, *dh, *dx;
  lt_graph_xw xw;       /* x W^T, sparse when x is */
} gcn;

static lt_status gcn_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                           const lt_layer **producer) {
  const gcn *p = l->priv;
  return lt_build_dense(b, l, p->in, p->out, p->bias, ndim, in, out_ndim, out, producer);
}

static lt_status gcn_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  gcn *p = l->priv;
  lt_status st = lt_graph_layer_check_batch(l, &p->gh, x);
  if (st) return st;
  int64_t N = x->shape[0], hs[2] = {N, p->out};
  if ((st = lt_layer_buffer(&p->h, 2, hs)) || (st = lt_layer_buffer(&p->y, 2, hs))) return st;
  float *h = lt_tensor_data(p->h), *yd = lt_tensor_data(p->y);
  const float *W = lt_tensor_data(l->params[0].value);
  /* x W^T first: the product over the edges then runs on out (< in) features */
  if ((st = lt_graph_xw_forward(&p->xw, h, lt_tensor_data(x), W, lt_tensor_data(l->params[0].mask), N, p->in, p->out,
                                 train)))
    return st;
  lt_graph_propagate(p->gh.g, yd, h, p->out);
  if (p->bias) lt_graph_layer_add_bias(yd, lt_tensor_data(l->params[1].value), N, p->out);
  p->x = x;
  *y = p->y;
  return LT_OK;
}

static lt_status gcn_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  gcn *p = l->priv;
  int64_t N = dy->shape[0], hs[2] = {N, p->out}, xs[2] = {N, p->in};
  lt_status st = lt_layer_buffer(&p->dh, 2, hs);
  if (!st && need_dx) st = lt_layer_buffer(&p->dx, 2, xs);
  if (st) return st;
  const float *g = lt_tensor_data(dy), *W = lt_tensor_data(l->params[0].value);
  float *dh = lt_tensor_data(p->dh);
  if (p->bias) lt_graph_layer_bias_grad(lt_tensor_data(l->params[1].grad), g, N, p->out);
  lt_graph_propagate_backward(p->gh.g, dh, g, lt_tensor_data(p->h), p->out);
  st = lt_graph_xw_weight_grad(&p->xw, lt_tensor_data(l->params[0].grad), dh, N, p->in, p->out);
  if (!st && need_dx) {
    st = lt_graph_xw_input_grad(&p->xw, lt_tensor_data(p->dx), dh, lt_tensor_data(p->x), W, N, p->in, p->out);
    *dx = p->dx;
  }
  return st;
}

static int gcn_describe(const lt_layer *l, char *buf, size_t n) {
  const gcn *p = l->priv;
  char e[32], d[40] = "";
  if (p->xw.drop > 0) snprintf(d, sizeof d, ", input dropout %g", (double)p->xw.drop);
  return snprintf(buf, n, "GCN(%d -> %d%s, %lld nodes, %s)", p->in, p->out, d, (long long)p->gh.nodes,
                  lt_graph_layer_edges_str(&p->gh, e, sizeof e));
}

/* {in, out, bias, dropout, seed, nodes, edges}: the graph itself is not a setting; nodes and
 * edges say which one lt_graph_attach must give a layer rebuilt from them. */
static void gcn_config(const lt_layer *l, lt_layer_config *c) {
  const gcn *p = l->priv;
  lt_config_add_int(c, "in", p->in);
  lt_config_add_int(c, "out", p->out);
  lt_config_add_bool(c, "bias", p->bias);
  lt_config_add_num(c, "dropout", (double)p->xw.drop);
  lt_config_add_int(c, "seed", (int64_t)p->xw.seed);
  lt_graph_layer_config(&p->gh, c);
}

static lt_layer *gcn_make(lt_graph *g, int in, int out, int bias, float dropout, uint64_t seed);

static lt_layer *gcn_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const keys[] = {"in", "out", "bias", "dropout", "seed", "nodes", "edges", NULL};
  int64_t in, out, seed, nodes, edges;
  int bias;
  double drop;
  if (lt_config_keys(c, "gcn", keys) || lt_config_int(c, "gcn", "in", 1, 1 << 24, LT_CONFIG_REQUIRED, &in) ||
      lt_config_int(c, "gcn", "out", 1, 1 << 24, LT_CONFIG_REQUIRED, &out) ||
      lt_config_bool(c, "gcn", "bias", 1, &bias) || lt_config_num(c, "gcn", "dropout", 0.0, 1.0, 0.0, &drop) ||
      lt_config_int(c, "gcn", "seed", INT64_MIN, INT64_MAX, 0, &seed) ||
      lt_config_int(c, "gcn", "nodes", 0, INT32_MAX, 0, &nodes) ||
      lt_config_int(c, "gcn", "edges", 0, INT32_MAX, 0, &edges))
    return NULL;
  lt_layer *l = gcn_make(NULL, (int)in, (int)out, bias, (float)drop, (uint64_t)seed);
  if (l) ((gcn *)l->priv)->gh.nodes = nodes, ((gcn *)l->priv)->gh.nedges = edges;
  return l;
}

static void gcn_free(lt_layer *l) {
  gcn *p = l->priv;
  if (!p) return;
  lt_graph_release(p->gh.g);
  lt_tensor_release(p->h);
  lt_tensor_release(p->y);
  lt_tensor_release(p->dh);
  lt_tensor_release(p->dx);
  lt_graph_xw_free(&p->xw);
  free(p);
}

const lt_layer_ops lt_gcn_ops = {
    .kind = "gcn", .prefix = "gcn", .build = gcn_build, .forward = gcn_forward,
    .backward = gcn_backward, .describe = gcn_describe, .free = gcn_free,
    .config = gcn_config, .from_config = gcn_from_config, .prunable = 1,
};

lt_layer *lt_gcn_new(lt_graph *g, int in, int out, int bias, float dropout, uint64_t seed) {
  if (!g) return lt_error(LT_EINVAL, "gcn: no graph"), NULL;
  return gcn_make(g, in, out, bias, dropout, seed);
}

static lt_layer *gcn_make(lt_graph *g, int in, int out, int bias, float dropout, uint64_t seed) {
  if (in < 1 || out < 1) return lt_error(LT_EINVAL, "gcn: sizes must be positive (got %d -> %d)", in, out), NULL;
  if (!(dropout >= 0.0f && dropout < 1.0f)) return lt_error(LT_EINVAL, "gcn: dropout must be in [0, 1), got %g", (double)dropout), NULL;
  gcn *p = calloc(1, sizeof *p);
  if (!p) return lt_error(LT_ENOMEM, "gcn: out of memory"), NULL;
  p->in = in, p->out = out, p->bias = bias != 0;
  lt_graph_xw_init(&p->xw, dropout, seed);
  lt_layer *l = lt_layer_alloc(&lt_gcn_ops, p);
  if (l) lt_graph_layer_head_set(&p->gh, g);
  return l;
}
