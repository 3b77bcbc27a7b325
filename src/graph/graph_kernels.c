/* graph_kernels.c: the products over a graph's pattern that every graph layer is built from:
 * SpMM with per-entry coefficients (and its transpose, through rev) and the sampled dense
 * products (SDDMM) that give per-entry gradients. Rows split over the worker pool in parts of
 * about equal nnz; each output row is written by one part in a fixed order. */
#include <string.h>

#include "core/pool.h"
#include "graph/graph_impl.h"

void lt_graph_part_rows(const lt_graph *g, int p, int np, int64_t *r0, int64_t *r1) {
  /* first row whose entries start at or after p * nnz / np */
  int64_t lo_t = g->nnz * p / np, hi_t = g->nnz * (p + 1) / np;
  int64_t lo = 0, hi = g->n;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (g->rowptr[mid] < lo_t) lo = mid + 1;
    else hi = mid;
  }
  *r0 = p == 0 ? 0 : lo;
  lo = *r0, hi = g->n;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (g->rowptr[mid] < hi_t) lo = mid + 1;
    else hi = mid;
  }
  *r1 = p == np - 1 ? g->n : lo;
}

typedef struct {
  const lt_graph *g;
  const float *coef, *x, *b;
  float *y;
  int64_t F, lda, ldb;
  int np, transpose;
} job;

static void spmm_part(void *arg, int part) {
  const job *j = arg;
  const lt_graph *g = j->g;
  int64_t r0, r1, F = j->F;
  lt_graph_part_rows(g, part, j->np, &r0, &r1);
  for (int64_t i = r0; i < r1; i++) {
    float *yi = j->y + i * F;
    memset(yi, 0, (size_t)F * sizeof *yi);
    for (int64_t p = g->rowptr[i]; p < g->rowptr[i + 1]; p++) {
      float c = j->coef[j->transpose ? g->rev[p] : p];
      if (c == 0.0f) continue; /* masked edges cost nothing */
      const float *xj = j->x + (int64_t)g->col[p] * F;
      for (int64_t f = 0; f < F; f++) yi[f] += c * xj[f];
    }
  }
}

static void spmm_run(const lt_graph *g, const float *coef, float *y, const float *x, int64_t F, int transpose) {
  job j = {.g = g, .coef = coef, .x = x, .y = y, .F = F, .transpose = transpose};
  j.np = lt_pool_nparts((double)g->nnz * (double)F, (int)(g->n < 1 << 30 ? g->n : 1 << 30));
  lt_pool_run(j.np, spmm_part, &j);
}

void lt_graph_spmm(const lt_graph *g, const float *coef, float *y, const float *x, int64_t F) {
  spmm_run(g, coef, y, x, F, 0);
}

void lt_graph_spmm_t(const lt_graph *g, const float *coef, float *y, const float *x, int64_t F) {
  spmm_run(g, coef, y, x, F, 1);
}

/* a . b over F entries in 8 running sums (a vector's lanes; one running sum would keep the
 * compiler from vectorising, as float addition does not reassociate), added in a fixed order. */
static float dot(const float *a, const float *b, int64_t F) {
  float acc[8] = {0};
  int64_t f = 0;
  for (; f + 8 <= F; f += 8)
    for (int k = 0; k < 8; k++) acc[k] += a[f + k] * b[f + k];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; f < F; f++) s += a[f] * b[f];
  return s;
}

static void sddmm_part(void *arg, int part) {
  const job *j = arg;
  const lt_graph *g = j->g;
  int64_t r0, r1, F = j->F;
  float *ge = j->y;
  lt_graph_part_rows(g, part, j->np, &r0, &r1);
  for (int64_t i = r0; i < r1; i++) {
    const float *ai = j->x + i * j->lda;
    for (int64_t p = g->rowptr[i]; p < g->rowptr[i + 1]; p++) {
      ge[p] = dot(ai, j->b + (int64_t)g->col[p] * j->ldb, F);
    }
  }
}

void lt_graph_sddmm(const lt_graph *g, float *ge, const float *a, int64_t lda, const float *b, int64_t ldb,
                    int64_t F) {
  job j = {.g = g, .x = a, .b = b, .y = ge, .F = F, .lda = lda, .ldb = ldb};
  j.np = lt_pool_nparts((double)g->nnz * (double)F, (int)(g->n < 1 << 30 ? g->n : 1 << 30));
  lt_pool_run(j.np, sddmm_part, &j);
}
