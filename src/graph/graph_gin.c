/* graph_gin.c: the GIN layer (Xu et al. 2019): z_i = (1 + eps) x_i + sum_j a_ij x_j over the kept
 * edges (a_ij the soft edge weight, no normalisation), then a two-layer MLP
 * y = relu(z W1^T + b1) W2^T + b2. eps is trainable (GIN-eps, starting at GIN-0). Backward to x,
 * W1, b1, W2, b2, eps and the edge weights. */
#include <stdio.h>
#include <stdlib.h>

#include "graph/graph_layer.h"

typedef struct {
  lt_graph_layer_head gh; /* first: lt_graph_attach reads it */
  int in, hidden, out;
  const lt_tensor *x;                  /* borrowed from the forward */
  lt_tensor *z, *u, *y, *du, *dz, *dx; /* (N, in), (N, hidden) relu'd in place, (N, out), ... */
  float *coef, *ge;                    /* (nnz) */
  int64_t cap;
} gin;

enum { P_W1, P_B1, P_W2, P_B2, P_EPS };

static lt_status gin_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                           const lt_layer **producer) {
  gin *p = l->priv;
  lt_status st = lt_layer_expect_features(l, p->in, *producer, ndim, in);
  if (st) return st;
  int64_t w1[2] = {p->hidden, p->in}, b1[1] = {p->hidden}, w2[2] = {p->out, p->hidden}, b2[1] = {p->out}, e[1] = {1};
  st = lt_build_param(b, l, "weight", 2, w1, 1, 1);
  if (!st) st = lt_build_param(b, l, "bias", 1, b1, 0, 1);
  if (!st) st = lt_build_param(b, l, "weight2", 2, w2, 1, 1);
  if (!st) st = lt_build_param(b, l, "bias2", 1, b2, 0, 1);
  if (!st) st = lt_build_param(b, l, "eps", 1, e, 0, 1);
  *out_ndim = 1;
  out[0] = p->out;
  *producer = l;
  return st;
}

/* The aggregation's coefficients: 1 + eps on the self-loops, the effective edge weights elsewhere. */
static lt_status coefficients(gin *p, float eps) {
  lt_graph *g = p->gh.g;
  if (p->cap < g->nnz) {
    free(p->coef), free(p->ge);
    p->coef = malloc(sizeof(float) * (size_t)g->nnz);
    p->ge = malloc(sizeof(float) * (size_t)g->nnz);
    p->cap = p->coef && p->ge ? g->nnz : 0;
    if (!p->cap) return lt_error(LT_ENOMEM, "gin: out of memory");
  }
  lt_graph_normalize(g); /* refreshes g->a */
  for (int64_t e = 0; e < g->nnz; e++) p->coef[e] = g->eid[e] < 0 ? 1.0f + eps : g->a[e];
  return LT_OK;
}

static lt_status gin_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  gin *p = l->priv;
  lt_status st = lt_graph_layer_check_batch(l, &p->gh, x);
  if (st || (st = coefficients(p, lt_tensor_data(l->params[P_EPS].value)[0]))) return st;
  int64_t N = x->shape[0], zs[2] = {N, p->in}, us[2] = {N, p->hidden}, ys[2] = {N, p->out};
  if ((st = lt_layer_buffer(&p->z, 2, zs)) || (st = lt_layer_buffer(&p->u, 2, us)) ||
      (st = lt_layer_buffer(&p->y, 2, ys)))
    return st;
  float *z = lt_tensor_data(p->z), *u = lt_tensor_data(p->u), *yd = lt_tensor_data(p->y);
  lt_graph_spmm(p->gh.g, p->coef, z, lt_tensor_data(x), p->in);
  lt_gemm(0, 1, (int)N, p->hidden, p->in, 1.0f, z, p->in, lt_tensor_data(l->params[P_W1].value), p->in, 0.0f, u,
          p->hidden);
  lt_graph_layer_add_bias(u, lt_tensor_data(l->params[P_B1].value), N, p->hidden);
  for (int64_t i = 0; i < N * p->hidden; i++) u[i] = u[i] > 0 ? u[i] : 0.0f;
  lt_gemm(0, 1, (int)N, p->out, p->hidden, 1.0f, u, p->hidden, lt_tensor_data(l->params[P_W2].value), p->hidden, 0.0f,
          yd, p->out);
  lt_graph_layer_add_bias(yd, lt_tensor_data(l->params[P_B2].value), N, p->out);
  p->x = x;
  *y = p->y;
  return LT_OK;
}

static lt_status gin_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  gin *p = l->priv;
  lt_graph *g = p->gh.g;
  int64_t N = dy->shape[0], us[2] = {N, p->hidden}, zs[2] = {N, p->in};
  lt_status st = lt_layer_buffer(&p->du, 2, us);
  if (!st) st = lt_layer_buffer(&p->dz, 2, zs);
  if (!st && need_dx) st = lt_layer_buffer(&p->dx, 2, zs);
  if (st) return st;
  const float *d = lt_tensor_data(dy), *u = lt_tensor_data(p->u), *x = lt_tensor_data(p->x);
  float *du = lt_tensor_data(p->du), *dz = lt_tensor_data(p->dz);
  lt_graph_layer_bias_grad(lt_tensor_data(l->params[P_B2].grad), d, N, p->out);
  lt_gemm(1, 0, p->out, p->hidden, (int)N, 1.0f, d, p->out, u, p->hidden, 1.0f, lt_tensor_data(l->params[P_W2].grad),
          p->hidden);
  lt_gemm(0, 0, (int)N, p->hidden, p->out, 1.0f, d, p->out, lt_tensor_data(l->params[P_W2].value), p->hidden, 0.0f, du,
          p->hidden);
  for (int64_t i = 0; i < N * p->hidden; i++) du[i] = u[i] > 0 ? du[i] : 0.0f; /* u holds relu(u) */
  lt_graph_layer_bias_grad(lt_tensor_data(l->params[P_B1].grad), du, N, p->hidden);
  lt_gemm(1, 0, p->hidden, p->in, (int)N, 1.0f, du, p->hidden, lt_tensor_data(p->z), p->in, 1.0f,
          lt_tensor_data(l->params[P_W1].grad), p->in);
  lt_gemm(0, 0, (int)N, p->in, p->hidden, 1.0f, du, p->hidden, lt_tensor_data(l->params[P_W1].value), p->in, 0.0f, dz,
          p->in);
  /* z = C x: dx = C^T dz (C symmetric unless the graph's masks are directed) */
  if (need_dx) {
    if (lt_graph_directed(g)) lt_graph_spmm_t(g, p->coef, lt_tensor_data(p->dx), dz, p->in);
    else lt_graph_spmm(g, p->coef, lt_tensor_data(p->dx), dz, p->in);
    *dx = p->dx;
  }
  lt_graph_sddmm(g, p->ge, dz, p->in, x, p->in, p->in);
  double de = 0;
  for (int64_t i = 0; i < N; i++)
    for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++)
      if (g->eid[e] < 0) de += p->ge[e];
  lt_tensor_data(l->params[P_EPS].grad)[0] += (float)de;
  if (g->wgrad_on) lt_graph_adjacency_backward(g, p->ge);
  return LT_OK;
}

static int gin_describe(const lt_layer *l, char *buf, size_t n) {
  const gin *p = l->priv;
  char e[32];
  return snprintf(buf, n, "GIN(%d -> %d -> %d, %s)", p->in, p->hidden, p->out,
                  lt_graph_layer_edges_str(&p->gh, e, sizeof e));
}

/* {in, hidden, out, nodes, edges} (see gcn_config) */
static void gin_config(const lt_layer *l, lt_layer_config *c) {
  const gin *p = l->priv;
  lt_config_add_int(c, "in", p->in);
  lt_config_add_int(c, "hidden", p->hidden);
  lt_config_add_int(c, "out", p->out);
  lt_graph_layer_config(&p->gh, c);
}

static lt_layer *gin_make(lt_graph *g, int in, int hidden, int out);

static lt_layer *gin_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const keys[] = {"in", "hidden", "out", "nodes", "edges", NULL};
  int64_t in, hidden, out, nodes, edges;
  if (lt_config_keys(c, "gin", keys) || lt_config_int(c, "gin", "in", 1, 1 << 24, LT_CONFIG_REQUIRED, &in) ||
      lt_config_int(c, "gin", "hidden", 1, 1 << 24, LT_CONFIG_REQUIRED, &hidden) ||
      lt_config_int(c, "gin", "out", 1, 1 << 24, LT_CONFIG_REQUIRED, &out) ||
      lt_config_int(c, "gin", "nodes", 0, INT32_MAX, 0, &nodes) ||
      lt_config_int(c, "gin", "edges", 0, INT32_MAX, 0, &edges))
    return NULL;
  lt_layer *l = gin_make(NULL, (int)in, (int)hidden, (int)out);
  if (l) ((gin *)l->priv)->gh.nodes = nodes, ((gin *)l->priv)->gh.nedges = edges;
  return l;
}

static void gin_free(lt_layer *l) {
  gin *p = l->priv;
  if (!p) return;
  lt_graph_release(p->gh.g);
  lt_tensor_release(p->z), lt_tensor_release(p->u), lt_tensor_release(p->y);
  lt_tensor_release(p->du), lt_tensor_release(p->dz), lt_tensor_release(p->dx);
  free(p->coef), free(p->ge);
  free(p);
}

const lt_layer_ops lt_gin_ops = {
    .kind = "gin", .prefix = "gin", .build = gin_build, .forward = gin_forward,
    .backward = gin_backward, .describe = gin_describe, .free = gin_free,
    .config = gin_config, .from_config = gin_from_config, .prunable = 1,
};

lt_layer *lt_gin_new(lt_graph *g, int in, int hidden, int out) {
  if (!g) return lt_error(LT_EINVAL, "gin: no graph"), NULL;
  return gin_make(g, in, hidden, out);
}

static lt_layer *gin_make(lt_graph *g, int in, int hidden, int out) {
  if (in < 1 || hidden < 1 || out < 1)
    return lt_error(LT_EINVAL, "gin: sizes must be positive (got %d -> %d -> %d)", in, hidden, out), NULL;
  gin *p = calloc(1, sizeof *p);
  if (!p) return lt_error(LT_ENOMEM, "gin: out of memory"), NULL;
  p->in = in, p->hidden = hidden, p->out = out;
  lt_layer *l = lt_layer_alloc(&lt_gin_ops, p);
  if (l) lt_graph_layer_head_set(&p->gh, g);
  return l;
}
