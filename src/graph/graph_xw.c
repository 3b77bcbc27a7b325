/* graph_xw.c: x W^T of a graph layer's input features and its gradients (graph_layer.h), with
 * the layer's input dropout: a CSR path over the nonzeros of sparse features (dropout drawn per
 * nonzero) and a dense path (sgemm, dropout drawn per entry as nn.dropout draws it). Owns the
 * scratch in lt_graph_xw. */
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "lotto/sparse.h" /* lt_transpose, lt_transpose_add */

#include "graph/graph_layer.h"

void lt_graph_xw_init(lt_graph_xw *c, float drop, uint64_t seed) {
  memset(c, 0, sizeof *c);
  c->drop = drop, c->seed = seed;
  lt_rng_seed(&c->rng, seed, LT_STREAM_DROPOUT); /* the stream nn.dropout(p, seed) draws from */
}

void lt_graph_xw_free(lt_graph_xw *c) {
  free(c->rowptr), free(c->col), free(c->val), free(c->wt);
  free(c->wrow), free(c->wfill), free(c->wcol), free(c->wval), free(c->gval);
  free(c->keep), free(c->xd);
  float drop = c->drop;
  uint64_t seed = c->seed;
  memset(c, 0, sizeof *c);
  lt_graph_xw_init(c, drop, seed);
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

/* keep with room for n; 0 or LT_ENOMEM. */
static lt_status keep_reserve(lt_graph_xw *c, int64_t n) {
  if (c->cap_keep < n) {
    free(c->keep);
    c->keep = lt_floats_alloc((size_t)n);
    c->cap_keep = c->keep ? n : 0;
    if (!c->keep) return lt_error(LT_ENOMEM, "graph layer: out of memory for the input dropout");
  }
  return LT_OK;
}

/* keep (n): 0 or 1 / (1 - drop), drawn from the layer's stream; 0 or LT_ENOMEM. */
static lt_status draw_keep(lt_graph_xw *c, int64_t n) {
  lt_status st = keep_reserve(c, n);
  if (!st) lt_rng_keep(&c->rng, c->keep, (size_t)n, c->drop, 1.0f / (1.0f - c->drop));
  return st;
}

/* The dense path: h = x' W^T with x' = x or, under dropout, x times a keep mask per entry. */
static lt_status dense_forward(lt_graph_xw *c, float *h, const float *x, const float *W, int64_t N, int in, int out) {
  const int64_t n = N * in;
  c->xin = x;
  if (c->active) {
    lt_status st = draw_keep(c, n);
    if (st) return st;
    if (c->cap_xd < n) {
      free(c->xd);
      c->xd = lt_floats_alloc((size_t)n);
      c->cap_xd = c->xd ? n : 0;
      if (!c->xd) return lt_error(LT_ENOMEM, "graph layer: out of memory for the input dropout");
    }
    for (int64_t k = 0; k < n; k++) c->xd[k] = x[k] * c->keep[k];
    c->xin = c->xd;
  }
  lt_gemm(0, 1, (int)N, out, in, 1.0f, c->xin, in, W, in, 0.0f, h, out);
  return LT_OK;
}

lt_status lt_graph_xw_forward(lt_graph_xw *c, float *h, const float *x, const float *W, const float *mask, int64_t N,
                              int in, int out, int train) {
  int64_t n = N * in, nw = (int64_t)in * out, kept = 0;
  c->active = train && c->drop > 0.0f;
  c->calls += c->active;
  /* one pass builds the CSR of x' and gives up (dense path) once x proves not sparse: no
   * separate count over the N x in entries */
  const int64_t limit = (int64_t)(LT_GRAPH_SPARSE_X * (double)n);
  if (mask)
    for (int64_t k = 0; k < nw; k++) kept += mask[k] != 0.0f;
  c->wsparse = mask && (double)kept < LT_GRAPH_SPARSE_W * (double)nw;
  lt_status st = xw_reserve(c, N, limit + in, c->wsparse ? 1 : nw);
  if (!st && c->wsparse) st = w_reserve(c, in, kept ? kept : 1);
  if (st) return st;
  const float scale = c->active ? 1.0f / (1.0f - c->drop) : 1.0f;
  int64_t e = 0, seen = 0;
  const lt_rng start = c->rng; /* given back if x proves dense: that path draws from the start */
  c->sparse = 1;
  for (int64_t i = 0; i < N && c->sparse; i++) {
    c->rowptr[i] = e;
    const float *xi = x + i * in;
    for (int f0 = 0; f0 < in; f0 += 32) { /* a bit per nonzero of 32 entries, then the set bits */
      const int nb = in - f0 < 32 ? in - f0 : 32;
      uint32_t bits = 0;
      for (int b = 0; b < nb; b++) bits |= (uint32_t)(xi[f0 + b] != 0.0f) << b;
      seen += __builtin_popcount(bits);
      while (bits) {
        const int f = f0 + __builtin_ctz(bits);
        bits &= bits - 1;
        float kv = 1.0f;
        if (c->active) lt_rng_keep(&c->rng, &kv, 1, c->drop, scale); /* one draw per nonzero, in row order */
        if (kv != 0.0f) c->col[e] = f, c->val[e++] = xi[f] * kv; /* a dropped nonzero leaves the CSR */
      }
    }
    if (seen >= limit) c->sparse = 0;
  }
  if (!c->sparse) {
    c->rng = start;
    return dense_forward(c, h, x, W, N, in, out);
  }
  c->rowptr[N] = e;
  const int64_t nnz = e;
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
    lt_transpose(c->wt, out, W, in, out, in); /* W^T (in, out) */
  }
  xw_job j = {.c = c, .h = h, .N = N, .out = out};
  j.np = lt_pool_nparts((double)nnz * out * (c->wsparse ? (double)kept / (double)nw : 1.0),
                        (int)(N < (1 << 30) ? N : (1 << 30)));
  lt_pool_run(j.np, xw_rows, &j);
  return LT_OK;
}

lt_status lt_graph_xw_weight_grad(lt_graph_xw *c, float *dW, const float *dh, int64_t N, int in, int out) {
  if (!c->sparse) {
    lt_gemm(1, 0, out, in, (int)N, 1.0f, dh, out, c->xin, in, 1.0f, dW, in);
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
  lt_transpose_add(dW, in, c->wt, out, in, out);
  return LT_OK;
}

/* Under dropout on the CSR path only the nonzeros of x drew a keep; the entries where x is 0 do
 * not change the output but do scale dx, so they draw theirs here, from a stream of their own
 * fixed by the seed and the forward's count (as likely as the others to be dropped). */
lt_status lt_graph_xw_input_grad(lt_graph_xw *c, float *dx, const float *dh, const float *x, const float *W, int64_t N,
                                 int in, int out) {
  const int64_t n = N * in;
  lt_gemm(0, 0, (int)N, in, out, 1.0f, dh, out, W, in, 0.0f, dx, in);
  if (!c->active) return LT_OK;
  if (c->sparse) {
    lt_rng r;
    lt_rng_seed(&r, c->seed ^ (c->calls * 0x9e3779b97f4a7c15ULL), LT_STREAM_DROPOUT + LT_STREAM_USER);
    lt_status st = keep_reserve(c, n); /* not draw_keep: the forward's stream stays as it was */
    if (st) return st;
    lt_rng_keep(&r, c->keep, (size_t)n, c->drop, 1.0f / (1.0f - c->drop));
    const float scale = 1.0f / (1.0f - c->drop);
    for (int64_t i = 0; i < N; i++) {
      float *k = c->keep + i * in;
      for (int f = 0; f < in; f++)
        if (x[i * in + f] != 0.0f) k[f] = 0.0f; /* dropped unless the CSR kept it */
      for (int64_t e = c->rowptr[i]; e < c->rowptr[i + 1]; e++) k[c->col[e]] = scale;
    }
  }
  for (int64_t k = 0; k < n; k++) dx[k] *= c->keep[k];
  return LT_OK;
}
