/* graph_gat.c: the GAT layer (Velickovic et al. 2018). Per head k, h = x W_k^T,
 * e_ij = LeakyReLU_0.2(a_src_k . h_i + a_dst_k . h_j) on the graph's kept entries only (a masked
 * edge is not in the softmax), alpha = softmax_j e_ij, y_i = sum_j alpha_ij a_ij h_j with a_ij
 * the soft edge weight (self-loops 1); heads concatenated or averaged, plus a bias. Backward to
 * x, W, a_src, a_dst, b and the edge weights. The attention vectors (heads, out) are drawn by
 * lt_model_init like weights (Glorot over heads and out, as PyG's GATConv); no attention dropout. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "graph/graph_layer.h"

typedef struct {
  lt_graph_layer_head gh; /* first: lt_graph_attach reads it */
  int in, out, heads, concat;
  const lt_tensor *x;                   /* borrowed from the forward */
  lt_tensor *h, *y, *dh, *dx;           /* (N, H out), (N, Y), (N, H out), (N, in) */
  float *st, *z, *alpha, *dz, *ge, *dst; /* (N, 2H) s|t, (nnz, H) x3, (nnz), (N, 2H) ds|dt */
  int64_t cap_n, cap_nnz;
  lt_graph_xw xw;                       /* x W^T, sparse when x is */
} gat;

enum { P_W, P_SRC, P_DST, P_B };

static int ho(const gat *p) { return p->heads * p->out; }
static int ydim(const gat *p) { return p->concat ? ho(p) : p->out; }
static int kept(const lt_graph *g, const float *m, int64_t e) { return g->sid[e] < 0 || m[g->sid[e]] != 0.0f; }

static lt_status gat_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                           const lt_layer **producer) {
  gat *p = l->priv;
  lt_status st = lt_layer_expect_features(l, p->in, *producer, ndim, in);
  if (st) return st;
  int64_t ws[2] = {ho(p), p->in}, as[2] = {p->heads, p->out}, bs[1] = {ydim(p)};
  st = lt_build_param(b, l, "weight", 2, ws, 1, 1);
  if (!st && !(st = lt_build_param(b, l, "att_src", 2, as, 0, 1))) lt_build_set_drawn(b);
  if (!st && !(st = lt_build_param(b, l, "att_dst", 2, as, 0, 1))) lt_build_set_drawn(b); /* Glorot, as in the paper */
  if (!st) st = lt_build_param(b, l, "bias", 1, bs, 0, 1);
  *out_ndim = 1;
  out[0] = ydim(p);
  *producer = l;
  return st;
}

static lt_status reserve(gat *p) {
  const lt_graph *g = p->gh.g;
  if (p->cap_n >= g->n && p->cap_nnz >= g->nnz) return LT_OK;
  free(p->st), free(p->z), free(p->alpha), free(p->dz), free(p->ge), free(p->dst);
  size_t H = (size_t)p->heads;
  p->st = malloc(sizeof(float) * (size_t)g->n * 2 * H);
  p->dst = malloc(sizeof(float) * (size_t)g->n * 2 * H);
  p->z = malloc(sizeof(float) * (size_t)g->nnz * H);
  p->alpha = malloc(sizeof(float) * (size_t)g->nnz * H);
  p->dz = malloc(sizeof(float) * (size_t)g->nnz * H);
  p->ge = malloc(sizeof(float) * (size_t)g->nnz);
  if (!p->st || !p->dst || !p->z || !p->alpha || !p->dz || !p->ge) {
    p->cap_n = p->cap_nnz = 0;
    return lt_error(LT_ENOMEM, "gat: out of memory");
  }
  p->cap_n = g->n, p->cap_nnz = g->nnz;
  return LT_OK;
}

typedef struct {
  lt_layer *l;
  const float *dy;
  int np;
} job;

static float lrelu(float z) { return z > 0 ? z : 0.2f * z; }

static void forward_part(void *arg, int part) {
  const job *j = arg;
  gat *p = j->l->priv;
  const lt_graph *g = p->gh.g;
  const float *m = lt_tensor_data(g->mask), *h = lt_tensor_data(p->h), *b = lt_tensor_data(j->l->params[P_B].value);
  float *y = lt_tensor_data(p->y);
  const int H = p->heads, O = p->out, HO = ho(p), Y = ydim(p);
  int64_t r0, r1;
  lt_graph_part_rows(g, part, j->np, &r0, &r1);
  for (int64_t i = r0; i < r1; i++) {
    float *yi = y + i * Y;
    for (int f = 0; f < Y; f++) yi[f] = b[f];
    for (int k = 0; k < H; k++) {
      float mx = -INFINITY, s = p->st[i * 2 * H + k];
      for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) {
        float z = s + p->st[(int64_t)g->col[e] * 2 * H + H + k];
        p->z[e * H + k] = z;
        if (kept(g, m, e) && lrelu(z) > mx) mx = lrelu(z);
      }
      double sum = 0;
      for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) {
        float a = kept(g, m, e) ? expf(lrelu(p->z[e * H + k]) - mx) : 0.0f;
        p->alpha[e * H + k] = a;
        sum += a;
      }
      float inv = (float)(1.0 / sum), scale = p->concat ? 1.0f : 1.0f / (float)H;
      float *yk = yi + (p->concat ? k * O : 0);
      for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) {
        float a = p->alpha[e * H + k] *= inv;
        float c = a * g->a[e] * scale;
        if (c == 0.0f) continue;
        const float *hj = h + (int64_t)g->col[e] * HO + k * O;
        for (int f = 0; f < O; f++) yk[f] += c * hj[f];
      }
    }
  }
}

static lt_status gat_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  gat *p = l->priv;
  lt_graph *g = p->gh.g;
  lt_status st = lt_graph_layer_check_batch(l, &p->gh, x);
  if (st || (st = reserve(p))) return st;
  int64_t N = g->n, hs[2] = {N, ho(p)}, ys[2] = {N, ydim(p)};
  if ((st = lt_layer_buffer(&p->h, 2, hs)) || (st = lt_layer_buffer(&p->y, 2, ys))) return st;
  float *h = lt_tensor_data(p->h);
  const int H = p->heads, O = p->out, HO = ho(p);
  if ((st = lt_graph_xw_forward(&p->xw, h, lt_tensor_data(x), lt_tensor_data(l->params[P_W].value),
                                 lt_tensor_data(l->params[P_W].mask), N, p->in, HO, train)))
    return st;
  lt_graph_normalize(g); /* refreshes g->a, the effective edge weights */
  const float *as = lt_tensor_data(l->params[P_SRC].value), *ad = lt_tensor_data(l->params[P_DST].value);
  for (int64_t i = 0; i < N; i++)
    for (int k = 0; k < H; k++) {
      float s = 0, t = 0;
      for (int f = 0; f < O; f++) s += as[k * O + f] * h[i * HO + k * O + f], t += ad[k * O + f] * h[i * HO + k * O + f];
      p->st[i * 2 * H + k] = s, p->st[i * 2 * H + H + k] = t;
    }
  job j = {.l = l, .np = lt_pool_nparts((double)g->nnz * HO, (int)N)};
  lt_pool_run(j.np, forward_part, &j);
  p->x = x;
  *y = p->y;
  return LT_OK;
}

/* dout of head k at row i: a slice of dy (concat) or dy / H (mean). */
static float dout(const gat *p, const float *dy, int64_t i, int k, int f) {
  return p->concat ? dy[i * ho(p) + k * p->out + f] : dy[i * p->out + f] / (float)p->heads;
}

/* Per row i: dL/da of each entry (summed over heads) and dz = dL/dz of the attention logits. */
static void attn_part(void *arg, int part) {
  const job *j = arg;
  gat *p = j->l->priv;
  const lt_graph *g = p->gh.g;
  const float *h = lt_tensor_data(p->h);
  const int H = p->heads, O = p->out, HO = ho(p);
  int64_t r0, r1;
  lt_graph_part_rows(g, part, j->np, &r0, &r1);
  for (int64_t i = r0; i < r1; i++) {
    for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) p->ge[e] = 0;
    for (int k = 0; k < H; k++) {
      double sum = 0;
      for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) {
        float al = p->alpha[e * H + k], dc = 0;
        if (al != 0.0f) {
          const float *hj = h + (int64_t)g->col[e] * HO + k * O;
          for (int f = 0; f < O; f++) dc += dout(p, j->dy, i, k, f) * hj[f];
        }
        p->ge[e] += dc * al;
        p->dz[e * H + k] = dc * g->a[e]; /* dL/dalpha for now */
        sum += (double)al * p->dz[e * H + k];
      }
      float ds = 0;
      for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) {
        float de = p->alpha[e * H + k] * (p->dz[e * H + k] - (float)sum);
        float dz = p->z[e * H + k] > 0 ? de : 0.2f * de;
        p->dz[e * H + k] = dz;
        ds += dz;
      }
      p->dst[i * 2 * H + k] = ds;
    }
  }
}

/* Per row j: dh_j = sum_i alpha_ij a_ij dout_i + ds_j a_src + dt_j a_dst (pattern symmetric). */
static void dh_part(void *arg, int part) {
  const job *j = arg;
  gat *p = j->l->priv;
  const lt_graph *g = p->gh.g;
  const float *as = lt_tensor_data(j->l->params[P_SRC].value), *ad = lt_tensor_data(j->l->params[P_DST].value);
  float *dh = lt_tensor_data(p->dh);
  const int H = p->heads, O = p->out, HO = ho(p);
  int64_t r0, r1;
  lt_graph_part_rows(g, part, j->np, &r0, &r1);
  for (int64_t jn = r0; jn < r1; jn++) {
    float *d = dh + jn * HO;
    for (int k = 0; k < H; k++) {
      float dt = 0;
      for (int f = 0; f < O; f++) d[k * O + f] = 0;
      for (int64_t e = g->rowptr[jn]; e < g->rowptr[jn + 1]; e++) {
        int64_t r = g->rev[e], i = g->col[e]; /* entry (i, jn) */
        dt += p->dz[r * H + k];
        float c = p->alpha[r * H + k] * g->a[r];
        if (c == 0.0f) continue;
        for (int f = 0; f < O; f++) d[k * O + f] += c * dout(p, j->dy, i, k, f);
      }
      p->dst[jn * 2 * H + H + k] = dt;
      float ds = p->dst[jn * 2 * H + k];
      for (int f = 0; f < O; f++) d[k * O + f] += ds * as[k * O + f] + dt * ad[k * O + f];
    }
  }
}

static lt_status gat_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  gat *p = l->priv;
  lt_graph *g = p->gh.g;
  int64_t N = g->n, hs[2] = {N, ho(p)}, xs[2] = {N, p->in};
  lt_status st = lt_layer_buffer(&p->dh, 2, hs);
  if (!st && need_dx) st = lt_layer_buffer(&p->dx, 2, xs);
  if (st) return st;
  const float *d = lt_tensor_data(dy), *h = lt_tensor_data(p->h);
  const int H = p->heads, O = p->out, HO = ho(p);
  lt_graph_layer_bias_grad(lt_tensor_data(l->params[P_B].grad), d, N, ydim(p));
  job j = {.l = l, .dy = d, .np = lt_pool_nparts((double)g->nnz * HO, (int)N)};
  lt_pool_run(j.np, attn_part, &j);
  lt_pool_run(j.np, dh_part, &j);
  float *gs = lt_tensor_data(l->params[P_SRC].grad), *gd = lt_tensor_data(l->params[P_DST].grad);
  for (int k = 0; k < H; k++)
    for (int f = 0; f < O; f++) {
      double s = 0, t = 0;
      for (int64_t i = 0; i < N; i++) {
        s += (double)p->dst[i * 2 * H + k] * h[i * HO + k * O + f];
        t += (double)p->dst[i * 2 * H + H + k] * h[i * HO + k * O + f];
      }
      gs[k * O + f] += (float)s, gd[k * O + f] += (float)t;
    }
  if (g->wgrad_on) lt_graph_adjacency_backward(g, p->ge);
  float *dh = lt_tensor_data(p->dh);
  st = lt_graph_xw_weight_grad(&p->xw, lt_tensor_data(l->params[P_W].grad), dh, N, p->in, HO);
  if (!st && need_dx) {
    st = lt_graph_xw_input_grad(&p->xw, lt_tensor_data(p->dx), dh, lt_tensor_data(p->x),
                                lt_tensor_data(l->params[P_W].value), N, p->in, HO);
    *dx = p->dx;
  }
  return st;
}

static int gat_describe(const lt_layer *l, char *buf, size_t n) {
  const gat *p = l->priv;
  char e[32], d[40] = "";
  if (p->xw.drop > 0) snprintf(d, sizeof d, ", input dropout %g", (double)p->xw.drop);
  return snprintf(buf, n, "GAT(%d -> %d x %d heads %s%s, %s)", p->in, p->out, p->heads,
                  p->concat ? "concatenated" : "averaged", d, lt_graph_layer_edges_str(&p->gh, e, sizeof e));
}

/* {in, out, heads, concat, dropout, seed, nodes, edges} (see gcn_config) */
static void gat_config(const lt_layer *l, lt_layer_config *c) {
  const gat *p = l->priv;
  lt_config_add_int(c, "in", p->in);
  lt_config_add_int(c, "out", p->out);
  lt_config_add_int(c, "heads", p->heads);
  lt_config_add_bool(c, "concat", p->concat);
  lt_config_add_num(c, "dropout", (double)p->xw.drop);
  lt_config_add_int(c, "seed", (int64_t)p->xw.seed);
  lt_graph_layer_config(&p->gh, c);
}

static lt_layer *gat_make(lt_graph *g, int in, int out, int heads, int concat, float dropout, uint64_t seed);

static lt_layer *gat_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const keys[] = {"in", "out", "heads", "concat", "dropout", "seed", "nodes", "edges", NULL};
  int64_t in, out, heads, seed, nodes, edges;
  int concat;
  double drop;
  if (lt_config_keys(c, "gat", keys) || lt_config_int(c, "gat", "in", 1, 1 << 24, LT_CONFIG_REQUIRED, &in) ||
      lt_config_int(c, "gat", "out", 1, 1 << 24, LT_CONFIG_REQUIRED, &out) ||
      lt_config_int(c, "gat", "heads", 1, 1 << 24, 1, &heads) || lt_config_bool(c, "gat", "concat", 1, &concat) ||
      lt_config_num(c, "gat", "dropout", 0.0, 1.0, 0.0, &drop) ||
      lt_config_int(c, "gat", "seed", INT64_MIN, INT64_MAX, 0, &seed) ||
      lt_config_int(c, "gat", "nodes", 0, INT32_MAX, 0, &nodes) ||
      lt_config_int(c, "gat", "edges", 0, INT32_MAX, 0, &edges))
    return NULL;
  lt_layer *l = gat_make(NULL, (int)in, (int)out, (int)heads, concat, (float)drop, (uint64_t)seed);
  if (l) ((gat *)l->priv)->gh.nodes = nodes, ((gat *)l->priv)->gh.nedges = edges;
  return l;
}

static void gat_free(lt_layer *l) {
  gat *p = l->priv;
  if (!p) return;
  lt_graph_release(p->gh.g);
  lt_tensor_release(p->h), lt_tensor_release(p->y), lt_tensor_release(p->dh), lt_tensor_release(p->dx);
  free(p->st), free(p->z), free(p->alpha), free(p->dz), free(p->ge), free(p->dst);
  lt_graph_xw_free(&p->xw);
  free(p);
}

const lt_layer_ops lt_gat_ops = {
    .kind = "gat", .prefix = "gat", .build = gat_build, .forward = gat_forward,
    .backward = gat_backward, .describe = gat_describe, .free = gat_free,
    .config = gat_config, .from_config = gat_from_config, .prunable = 1,
};

lt_layer *lt_gat_new(lt_graph *g, int in, int out, int heads, int concat, float dropout, uint64_t seed) {
  if (!g) return lt_error(LT_EINVAL, "gat: no graph"), NULL;
  return gat_make(g, in, out, heads, concat, dropout, seed);
}

static lt_layer *gat_make(lt_graph *g, int in, int out, int heads, int concat, float dropout, uint64_t seed) {
  if (in < 1 || out < 1 || heads < 1 || (int64_t)heads * out > (1 << 24))
    return lt_error(LT_EINVAL, "gat: sizes and heads must be positive (got %d -> %d x %d)", in, out, heads), NULL;
  if (!(dropout >= 0.0f && dropout < 1.0f)) return lt_error(LT_EINVAL, "gat: dropout must be in [0, 1), got %g", (double)dropout), NULL;
  gat *p = calloc(1, sizeof *p);
  if (!p) return lt_error(LT_ENOMEM, "gat: out of memory"), NULL;
  p->in = in, p->out = out, p->heads = heads, p->concat = concat != 0;
  lt_graph_xw_init(&p->xw, dropout, seed);
  lt_layer *l = lt_layer_alloc(&lt_gat_ops, p);
  if (l) lt_graph_layer_head_set(&p->gh, g);
  return l;
}
