/* graph_layer.c: helpers the graph layers share (graph_layer.h): the node-set batch check,
 * the bias forward and backward, and x W^T with a CSR path for sparse node features. */
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"

#include "graph/graph_layer.h"

lt_status lt_graph_layer_check_batch(const lt_layer *l, const lt_graph *g, const lt_tensor *x) {
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

void lt_graph_xw_free(lt_graph_xw *c) {
  free(c->rowptr), free(c->col), free(c->val), free(c->wt);
  free(c->wrow), free(c->wfill), free(c->wcol), free(c->wval), free(c->gval);
  memset(c, 0, sizeof *c);
}

/* Grows the CSR arrays to n rows and nnz entries; 0 or LT_ENOMEM. */
static lt_status xw_reserve(lt_graph_xw *c, int64_t n, int64_t nnz, int64_t nwt) {
  if (c->cap_n < n) {
    free(c->rowptr);
    c->rowptr = malloc(sizeof *c->rowptr * (size_t)(n + 1));
    c->cap_n = c->rowptr ? n : 0;
  }
  if (c->cap_nnz < nnz) {
    free(c->col), free(c->val);
    c->col = malloc(sizeof *c->col * (size_t)nnz);
    c->val = malloc(sizeof *c->val * (size_t)nnz);
    c->cap_nnz = c->col && c->val ? nnz : 0;
  }
  if (c->cap_wt < nwt) {
    free(c->wt);
    c->wt = lt_floats_alloc((size_t)nwt);
    c->cap_wt = c->wt ? nwt : 0;
  }
  if (c->cap_n < n || c->cap_nnz < nnz || c->cap_wt < nwt) return lt_error(LT_ENOMEM, "graph layer: out of memory");
  return LT_OK;
}

/* Grows the CSR of W^T to in rows and kept entries; 0 or LT_ENOMEM. */
static lt_status w_reserve(lt_graph_xw *c, int64_t in, int64_t kept) {
  if (c->cap_in < in) {
    free(c->wrow), free(c->wfill);
    c->wrow = malloc(sizeof *c->wrow * (size_t)(in + 1));
    c->wfill = malloc(sizeof *c->wfill * (size_t)in);
    c->cap_in = c->wrow && c->wfill ? in : 0;
  }
  if (c->cap_kept < kept) {
    free(c->wcol), free(c->wval), free(c->gval);
    c->wcol = malloc(sizeof *c->wcol * (size_t)kept);
    c->wval = malloc(sizeof *c->wval * (size_t)kept);
    c->gval = malloc(sizeof *c->gval * (size_t)kept);
    c->cap_kept = c->wcol && c->wval && c->gval ? kept : 0;
  }
  if (c->cap_in < in || c->cap_kept < kept) return lt_error(LT_ENOMEM, "graph layer: out of memory");
  return LT_OK;
}

typedef struct {
  const lt_graph_xw *c;
  float *h;
  int64_t N;
  int out, np;
} xw_job;

static void xw_rows(void *arg, int part) {
  const xw_job *j = arg;
  const lt_graph_xw *c = j->c;
  int64_t r0 = j->N * part / j->np, r1 = j->N * (part + 1) / j->np;
  for (int64_t i = r0; i < r1; i++) {
    float *hi = j->h + i * j->out;
    memset(hi, 0, sizeof *hi * (size_t)j->out);
    for (int64_t e = c->rowptr[i]; e < c->rowptr[i + 1]; e++) {
      const float v = c->val[e];
      if (c->wsparse) {
        for (int64_t k = c->wrow[c->col[e]]; k < c->wrow[c->col[e] + 1]; k++) hi[c->wcol[k]] += v * c->wval[k];
      } else {
        const float *w = c->wt + (int64_t)c->col[e] * j->out;
        for (int o = 0; o < j->out; o++) hi[o] += v * w[o];
      }
    }
  }
}

lt_status lt_graph_xw_forward(lt_graph_xw *c, float *h, const float *x, const float *W, const float *mask, int64_t N,
                              int in, int out) {
  int64_t nnz = 0, n = N * in, nw = (int64_t)in * out, kept = 0;
  for (int64_t k = 0; k < n; k++) nnz += x[k] != 0.0f;
  c->sparse = (double)nnz < LT_GRAPH_SPARSE_X * (double)n;
  if (!c->sparse) {
    lt_gemm(0, 1, (int)N, out, in, 1.0f, x, in, W, in, 0.0f, h, out);
    return LT_OK;
  }
  if (mask)
    for (int64_t k = 0; k < nw; k++) kept += mask[k] != 0.0f;
  c->wsparse = mask && (double)kept < LT_GRAPH_SPARSE_W * (double)nw;
  lt_status st = xw_reserve(c, N, nnz ? nnz : 1, c->wsparse ? 1 : nw);
  if (!st && c->wsparse) st = w_reserve(c, in, kept ? kept : 1);
  if (st) return st;
  int64_t e = 0;
  for (int64_t i = 0; i < N; i++) {
    c->rowptr[i] = e;
    for (int f = 0; f < in; f++)
      if (x[i * in + f] != 0.0f) c->col[e] = f, c->val[e++] = x[i * in + f];
  }
  c->rowptr[N] = e;
  if (c->wsparse) { /* rows f of W^T, outputs increasing within a row */
    memset(c->wrow, 0, sizeof *c->wrow * (size_t)(in + 1));
    for (int o = 0; o < out; o++)
      for (int f = 0; f < in; f++) c->wrow[f + 1] += mask[(int64_t)o * in + f] != 0.0f;
    for (int f = 0; f < in; f++) c->wrow[f + 1] += c->wrow[f], c->wfill[f] = c->wrow[f];
    for (int o = 0; o < out; o++)
      for (int f = 0; f < in; f++)
        if (mask[(int64_t)o * in + f] != 0.0f) {
          int64_t k = c->wfill[f]++;
          c->wcol[k] = o, c->wval[k] = W[(int64_t)o * in + f];
        }
  } else {
    for (int o = 0; o < out; o++)
      for (int f = 0; f < in; f++) c->wt[(int64_t)f * out + o] = W[(int64_t)o * in + f];
  }
  xw_job j = {.c = c, .h = h, .N = N, .out = out};
  j.np = lt_pool_nparts((double)nnz * out * (c->wsparse ? (double)kept / (double)nw : 1.0),
                        (int)(N < (1 << 30) ? N : (1 << 30)));
  lt_pool_run(j.np, xw_rows, &j);
  return LT_OK;
}

lt_status lt_graph_xw_weight_grad(lt_graph_xw *c, float *dW, const float *dh, const float *x, int64_t N, int in,
                                  int out) {
  if (!c->sparse) {
    lt_gemm(1, 0, out, in, (int)N, 1.0f, dh, out, x, in, 1.0f, dW, in);
    return LT_OK;
  }
  if (c->wsparse) { /* the kept entries only: sums per entry, then scattered into dW */
    memset(c->gval, 0, sizeof *c->gval * (size_t)c->wrow[in]);
    for (int64_t i = 0; i < N; i++)
      for (int64_t e = c->rowptr[i]; e < c->rowptr[i + 1]; e++) {
        const float v = c->val[e], *g = dh + i * out;
        for (int64_t k = c->wrow[c->col[e]]; k < c->wrow[c->col[e] + 1]; k++) c->gval[k] += v * g[c->wcol[k]];
      }
    for (int f = 0; f < in; f++)
      for (int64_t k = c->wrow[f]; k < c->wrow[f + 1]; k++) dW[(int64_t)c->wcol[k] * in + f] += c->gval[k];
    return LT_OK;
  }
  /* dW^T (in, out) row by row from the nonzeros (contiguous writes), then added transposed */
  memset(c->wt, 0, sizeof *c->wt * (size_t)in * (size_t)out);
  for (int64_t i = 0; i < N; i++)
    for (int64_t e = c->rowptr[i]; e < c->rowptr[i + 1]; e++) {
      const float v = c->val[e], *g = dh + i * out;
      float *w = c->wt + (int64_t)c->col[e] * out;
      for (int o = 0; o < out; o++) w[o] += v * g[o];
    }
  for (int o = 0; o < out; o++)
    for (int f = 0; f < in; f++) dW[(int64_t)o * in + f] += c->wt[(int64_t)f * out + o];
  return LT_OK;
}
