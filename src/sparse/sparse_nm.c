/* sparse_nm.c: n:m structured sparsity along the input dim (e.g. 2:4): a fixed
 * number of slots per row with one-byte in-group offsets. The forward runs the
 * blocked AVX2 kernel (sparse_nm_avx2.c) where the CPU has it, else decodes a
 * row into the CSR row kernel (the portable path); the weight gradient decodes
 * too; the input gradient scatters over input groups, which threads split
 * without sharing an output row. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/sparse.h"
#include "sparse/sparse_impl.h"

lt_nm *lt_nm_new(void) { return calloc(1, sizeof(lt_nm)); }

void lt_nm_free(lt_nm *a) {
  if (!a) return;
  free(a->val);
  free(a->idx);
  free(a->pval);
  free(a->pidx);
  free(a);
}

/* The blocked copy of the slots (see lotto/sparse.h): values, and the offsets too when idx. */
static void pack(lt_nm *a, int idx) {
  const int groups = a->cols / a->m, gb = LT_NM_BLOCK_GROUPS(a->m);
  size_t o = 0;
  for (int g0 = 0; g0 < groups; g0 += gb) {
    const size_t len = (size_t)((groups - g0 < gb ? groups - g0 : gb) * a->n);
    for (int r = 0; r < a->rows; r++, o += len) {
      const size_t s = (size_t)r * a->k + (size_t)g0 * a->n;
      memcpy(a->pval + o, a->val + s, len * sizeof *a->pval);
      if (idx) memcpy(a->pidx + o, a->idx + s, len);
    }
  }
}

lt_status lt_nm_build(lt_nm *a, const float *w, const float *mask, int rows, int cols, int n, int m) {
  if (!a || rows < 0 || cols < 0 || m < 1 || m > 64 || n < 1 || n > m || cols % m)
    return lt_error(LT_EINVAL, "lt_nm_build: %d:%d does not fit %d columns (need 1 <= n <= m <= 64, m | cols)",
                    n, m, cols);
  size_t slots = (size_t)rows * (cols / m * n);
  float *val = malloc((slots ? slots : 1) * sizeof *val);
  uint8_t *idx = malloc(slots ? slots : 1);
  if (!val || !idx) {
    free(val);
    free(idx);
    return lt_error(LT_ENOMEM, "lt_nm_build: out of memory for %zu slots", slots);
  }
  size_t s = 0;
  for (int r = 0; r < rows; r++) {
    for (int g = 0; g < cols; g += m) {
      const float *mr = mask + (size_t)r * cols + g, *wr = w + (size_t)r * cols + g;
      int kept = 0;
      for (int j = 0; j < m; j++) {
        if (mr[j] == 0.0f) continue;
        if (++kept > n) {
          free(val);
          free(idx);
          return lt_error(LT_EINVAL, "lt_nm_build: row %d, columns %d..%d keep more than %d of %d", r, g,
                          g + m - 1, n, m);
        }
        val[s] = wr[j];
        idx[s++] = (uint8_t)j;
      }
      for (; kept < n; kept++) {
        val[s] = 0.0f;
        idx[s++] = LT_NM_PAD;
      }
    }
  }
  float *pval = NULL;
  uint8_t *pidx = NULL;
  if (lt_nm_avx2_supported() && slots) { /* the fast forward's copy; without memory, the portable kernel runs */
    pval = malloc(slots * sizeof *pval);
    pidx = malloc(slots);
    if (!pval || !pidx) free(pval), free(pidx), pval = NULL, pidx = NULL;
  }
  free(a->val);
  free(a->idx);
  free(a->pval);
  free(a->pidx);
  *a = (lt_nm){rows, cols, n, m, cols / m * n, val, idx, pval, pidx};
  if (pval) pack(a, 1);
  return LT_OK;
}

/* Every function below walks a row group by group, slot s = g / m * n + q,
 * column g + idx[s]: no division per slot. */

/* One pass over w row by row (sequential reads), writing both copies; branch-free
 * (a padding slot reads its group's first weight and keeps 0). */
void lt_nm_refresh(lt_nm *a, const float *w) {
  const int n = a->n, m = a->m, groups = a->cols / m, gb = LT_NM_BLOCK_GROUPS(m);
  for (int r = 0; r < a->rows; r++) {
    const uint8_t *ir = a->idx + (size_t)r * a->k;
    float *vr = a->val + (size_t)r * a->k;
    const float *wr = w + (size_t)r * a->cols;
    for (int g0 = 0, s = 0; g0 < groups; g0 += gb) {
      const int ng = groups - g0 < gb ? groups - g0 : gb, s0 = s;
      for (int g = 0; g < ng; g++, wr += m)
        for (int q = 0; q < n; q++, s++) {
          const unsigned id = ir[s];
          const float v = wr[id & (LT_NM_PAD - 1)];
          vr[s] = id & LT_NM_PAD ? 0.0f : v;
        }
      if (a->pval) /* block g0's rows are ng * n slots each, after all rows of the blocks before */
        memcpy(a->pval + (size_t)a->rows * g0 * n + (size_t)r * ng * n, vr + s0, (size_t)ng * n * sizeof(float));
    }
  }
}

void lt_nm_todense(float *w, const lt_nm *a) {
  memset(w, 0, (size_t)a->rows * a->cols * sizeof *w);
  for (int r = 0; r < a->rows; r++) {
    const uint8_t *ir = a->idx + (size_t)r * a->k;
    const float *vr = a->val + (size_t)r * a->k;
    float *wr = w + (size_t)r * a->cols;
    for (int g = 0, s = 0; g < a->cols; g += a->m)
      for (int q = 0; q < a->n; q++, s++)
        if (!(ir[s] & LT_NM_PAD)) wr[g + ir[s]] = vr[s];
  }
}

/* Row r as a CSR row: columns, values and slot positions of its survivors. */
static int decode(const lt_nm *a, int r, int32_t *ci, float *v, int32_t *pos) {
  const uint8_t *ir = a->idx + (size_t)r * a->k;
  const float *vr = a->val + (size_t)r * a->k;
  int cnt = 0;
  for (int g = 0, s = 0; g < a->cols; g += a->m)
    for (int q = 0; q < a->n; q++, s++) {
      if (ir[s] & LT_NM_PAD) continue;
      ci[cnt] = g + ir[s];
      v[cnt] = vr[s];
      pos[cnt++] = s;
    }
  return cnt;
}

typedef struct nm_job {
  const lt_nm *a;
  float *out, *buf; /* buf: per part, k columns + k values + k positions + k sums */
  const float *bias, *dyt, *xt;
  size_t ldo, ldd, ldx;
  int n, flag, chunk; /* flag: accumulate (input grad), the AVX2 kernel (forward) */
  int bounds[LT_POOL_MAXPARTS + 1];
} nm_job;

/* 1: the forward runs the AVX2 kernel where supported (default); 0: the portable one. */
static atomic_int use_simd = 1;

int lt_nm_use_simd(int on) {
  int was = atomic_load(&use_simd);
  if (on >= 0) atomic_store(&use_simd, on != 0);
  return was;
}

int lt_nm_simd_active(void) { return atomic_load(&use_simd) && lt_nm_avx2_supported(); }

static void forward_part(void *arg, int p) {
  nm_job *j = arg;
  const lt_nm *a = j->a;
  if (j->flag) { /* flag: the AVX2 kernel */
    lt_nm_forward_rows_avx2(j->out, j->ldo, a, j->xt, j->ldx, j->n, j->bias, j->bounds[p], j->bounds[p + 1]);
    return;
  }
  float *b = j->buf + (size_t)p * 4 * a->k;
  int32_t *ci = (int32_t *)b, *pos = (int32_t *)(b + 2 * (size_t)a->k), rowptr[2] = {0, 0};
  for (int r = j->bounds[p]; r < j->bounds[p + 1]; r++) {
    rowptr[1] = decode(a, r, ci, b + a->k, pos);
    sp_mm mm = {j->out + r * j->ldo, j->ldo, rowptr, ci, b + a->k, j->xt, j->ldx,
                j->bias ? j->bias + r : NULL, j->n, 0, 0, NULL, 0};
    lt_sp_mm_rows(&mm, 0, 1);
  }
}

static void wgrad_part(void *arg, int p) {
  nm_job *j = arg;
  const lt_nm *a = j->a;
  float *b = j->buf + (size_t)p * 4 * a->k, *sums = b + 3 * (size_t)a->k;
  int32_t *ci = (int32_t *)b, *pos = (int32_t *)(b + 2 * (size_t)a->k);
  for (int r = j->bounds[p]; r < j->bounds[p + 1]; r++) {
    int cnt = decode(a, r, ci, b + a->k, pos);
    memset(sums, 0, (size_t)cnt * sizeof *sums);
    for (int c0 = 0; c0 < j->n; c0 += j->chunk) {
      int w = j->n - c0 < j->chunk ? j->n - c0 : j->chunk;
      lt_sp_dot_row(sums, ci, cnt, j->dyt + r * j->ldd + c0, j->xt + c0, j->ldx, w, j->ldx - c0);
    }
    float *gr = j->out + (size_t)r * a->k;
    for (int s = 0; s < cnt; s++) gr[pos[s]] += sums[s];
  }
}

/* x[0..n) += w * y[0..n) */
static void axpy(float *x, float w, const float *y, int n) {
  int t = 0;
#ifdef SP_AVX
  __m256 wv = _mm256_set1_ps(w);
  for (; t + 8 <= n; t += 8) _mm256_storeu_ps(x + t, _mm256_fmadd_ps(wv, _mm256_loadu_ps(y + t), _mm256_loadu_ps(x + t)));
#endif
  for (; t < n; t++) x[t] = fmaf(w, y[t], x[t]);
}

/* Input gradient for input groups [bounds[p], bounds[p+1]): every row's slots
 * in those groups scatter w * dyt[r] into dxt, rows in increasing order. */
static void backward_part(void *arg, int p) {
  nm_job *j = arg;
  const lt_nm *a = j->a;
  int g0 = j->bounds[p], g1 = j->bounds[p + 1], n = j->n;
  if (!j->flag)
    for (int i = g0 * a->m; i < g1 * a->m; i++) memset(j->out + i * j->ldo, 0, (size_t)n * sizeof(float));
  for (int r = 0; r < a->rows; r++) {
    const uint8_t *ir = a->idx + (size_t)r * a->k;
    const float *vr = a->val + (size_t)r * a->k, *dy = j->dyt + r * j->ldd;
    for (int g = g0, s = g0 * a->n; g < g1; g++)
      for (int q = 0; q < a->n; q++, s++) {
        if (ir[s] & LT_NM_PAD) continue;
        axpy(j->out + (size_t)(g * a->m + ir[s]) * j->ldo, vr[s], dy, n);
      }
  }
}

/* Splits `units` equal-cost units (rows or groups) into parts. */
static int split(nm_job *j, double work, int units) {
  int np = lt_pool_nparts(work, units);
  for (int p = 0; p <= np; p++) j->bounds[p] = (int)((int64_t)units * p / np);
  return np;
}

static lt_status check(const char *fn, const lt_nm *a, int n, int ld1, int ld2) {
  if (!a || n < 0 || ld1 < n || ld2 < n)
    return lt_error(LT_EINVAL, "%s: bad arguments (n %d, strides %d and %d)", fn, n, ld1, ld2);
  return LT_OK;
}

lt_status lt_nm_forward_t(float *yt, int ldy, const lt_nm *a, const float *xt, int ldx, int n,
                          const float *bias) {
  lt_status st = check("lt_nm_forward_t", a, n, ldy, ldx);
  if (st || n == 0 || a->rows == 0) return st;
  nm_job j = {a, yt, NULL, bias, NULL, xt, (size_t)ldy, 0, (size_t)ldx, n, a->pval && lt_nm_simd_active(), 0, {0}};
  int np = split(&j, (double)a->rows * a->k * n, a->rows);
  if (!j.flag && !(j.buf = lt_pool_scratch(LT_SLOT_NM, (size_t)np * 4 * a->k)))
    return lt_error(LT_ENOMEM, "lt_nm_forward_t: out of memory");
  lt_pool_run(np, forward_part, &j);
  return LT_OK;
}

lt_status lt_nm_backward_input_t(float *dxt, int ldx, const lt_nm *a, const float *dyt, int ldd, int n,
                                 int accumulate) {
  lt_status st = check("lt_nm_backward_input_t", a, n, ldx, ldd);
  if (st || n == 0 || a->cols == 0) return st;
  nm_job j = {a, dxt, NULL, NULL, dyt, NULL, (size_t)ldx, (size_t)ldd, 0, n, accumulate, 0, {0}};
  int np = split(&j, (double)a->rows * a->k * n, a->cols / a->m);
  lt_pool_run(np, backward_part, &j);
  return LT_OK;
}

lt_status lt_nm_weight_grad_t(float *g, const lt_nm *a, const float *dyt, int ldd, const float *xt, int ldx,
                              int n) {
  lt_status st = check("lt_nm_weight_grad_t", a, n, ldd, ldx);
  if (st || n == 0 || a->rows == 0 || a->k == 0) return st;
  nm_job j = {a, g, NULL, NULL, dyt, xt, 0, (size_t)ldd, (size_t)ldx, n, 0, lt_sp_dot_chunk(a->cols, n), {0}};
  int np = split(&j, (double)a->rows * a->k * n, a->rows);
  if (!(j.buf = lt_pool_scratch(LT_SLOT_NM, (size_t)np * 4 * a->k)))
    return lt_error(LT_ENOMEM, "lt_nm_weight_grad_t: out of memory");
  lt_pool_run(np, wgrad_part, &j);
  return LT_OK;
}
