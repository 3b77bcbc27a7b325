/* sparse_kernels.c: the CSR kernels on transposed activations: C^T = A.B^T
 * (forward, input gradient, convolution) and the sampled dot products of the
 * weight gradient. AVX2+FMA with a portable scalar path; threads split rows. */
#include <string.h>

#include "lotto/sparse.h"
#include "sparse/sparse_impl.h"

#ifdef SP_AVX
#define lane_mask sp_lane_mask

/* How the last, partial vector of a chunk is read. Masked loads cost about
 * four cycles more than plain ones on AMD cores, so when the row stride leaves
 * room (ld >= n rounded up to 8) the tail is read whole and its extra lanes
 * are ignored (forward) or zeroed (dot products); results are the same. */
enum { TAIL_NONE, TAIL_WHOLE, TAIL_MASKED };

static inline __m256 load_tail(const int TAIL, const float *x, __m256i tm) {
  if (TAIL == TAIL_MASKED) return _mm256_maskload_ps(x, tm);
  if (TAIL == TAIL_WHOLE) return _mm256_and_ps(_mm256_loadu_ps(x), _mm256_castsi256_ps(tm));
  return _mm256_loadu_ps(x);
}

/* The first t lanes of v to c, t in 1..7, as at most three plain stores (a
 * masked store costs more still than a masked load, and a memcpy of t floats
 * is a call per row). */
static inline void store_part(float *c, __m256 v, int t) {
  __m128 h = _mm256_castps256_ps128(v);
  if (t & 4) _mm_storeu_ps(c, h), h = _mm256_extractf128_ps(v, 1), c += 4;
  if (t & 2) _mm_storel_pi((__m64 *)c, h), h = _mm_movehl_ps(h, h), c += 2;
  if (t & 1) _mm_store_ss(c, h);
}

/* c[0, t) in the first t lanes, zeros above, t in 1..7: the reads stay inside c's t floats. */
static inline __m256 load_part(const float *c, int t) {
  __m128 x = _mm_setzero_ps();
  const float *p = t & 4 ? c + 4 : c;
  if (t & 2) x = _mm_loadl_pi(x, (const __m64 *)p);
  if (t & 1) x = t & 2 ? _mm_movelh_ps(x, _mm_load_ss(p + 2)) : _mm_load_ss(p);
  return t & 4 ? _mm256_set_m128(x, _mm_loadu_ps(c)) : _mm256_set_m128(_mm_setzero_ps(), x);
}

/* Entry k's weight, broadcast: v[k] from the CSR values, or (FROMW) v[ci[k]]
 * with v the row of the dense weight. */
static inline __m256 weight(const int FROMW, const float *v, const int32_t *ci, int k) {
  return _mm256_broadcast_ss(FROMW ? v + ci[k] : v + k);
}

/* One row, one chunk of NV vectors (the last one partial with t lanes unless
 * TAIL_NONE): all accumulators stay in registers while the row's entries
 * stream by, each entry an axpy of its weight with a contiguous row of bt. */
static inline __attribute__((always_inline)) void mm_chunk(const int NV, const int TAIL, const int FROMW, float *c,
                                                           const int32_t *ci, const float *v, int cnt,
                                                           const float *bt, size_t ldb, __m256i tm, int t,
                                                           float b0, int accumulate, int relu, const float *mrow,
                                                           float *vo) {
  __m256 a[8];
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) {
    a[j] = _mm256_set1_ps(b0);
    if (accumulate) {
      if (TAIL && j == NV - 1) {
        a[j] = _mm256_add_ps(a[j], load_part(c + 8 * j, t));
      } else {
        a[j] = _mm256_add_ps(a[j], _mm256_loadu_ps(c + 8 * j));
      }
    }
  }
  int k = 0;
  if (NV == 1) { /* small batch: one chain would wait on FMA latency; use four */
    __m256 b1 = _mm256_setzero_ps(), b2 = b1, b3 = b1;
    for (; k + 4 <= cnt; k += 4) {
      const float *x0 = bt + (size_t)ci[k] * ldb, *x1 = bt + (size_t)ci[k + 1] * ldb;
      const float *x2 = bt + (size_t)ci[k + 2] * ldb, *x3 = bt + (size_t)ci[k + 3] * ldb;
      if (FROMW && vo) vo[k] = v[ci[k]], vo[k + 1] = v[ci[k + 1]], vo[k + 2] = v[ci[k + 2]], vo[k + 3] = v[ci[k + 3]];
      a[0] = _mm256_fmadd_ps(weight(FROMW, v, ci, k), load_tail(TAIL == TAIL_MASKED ? TAIL_MASKED : TAIL_NONE, x0, tm), a[0]);
      b1 = _mm256_fmadd_ps(weight(FROMW, v, ci, k + 1), load_tail(TAIL == TAIL_MASKED ? TAIL_MASKED : TAIL_NONE, x1, tm), b1);
      b2 = _mm256_fmadd_ps(weight(FROMW, v, ci, k + 2), load_tail(TAIL == TAIL_MASKED ? TAIL_MASKED : TAIL_NONE, x2, tm), b2);
      b3 = _mm256_fmadd_ps(weight(FROMW, v, ci, k + 3), load_tail(TAIL == TAIL_MASKED ? TAIL_MASKED : TAIL_NONE, x3, tm), b3);
    }
    a[0] = _mm256_add_ps(_mm256_add_ps(a[0], b1), _mm256_add_ps(b2, b3));
  }
  for (; k < cnt; k++) {
    const float *x = bt + (size_t)ci[k] * ldb;
    __m256 w = weight(FROMW, v, ci, k);
    if (FROMW && vo) vo[k] = _mm256_cvtss_f32(w);
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) {
      /* TAIL_WHOLE: the extra lanes only reach lanes that are never stored */
      __m256 xv = TAIL == TAIL_MASKED && j == NV - 1 ? _mm256_maskload_ps(x + 8 * j, tm) : _mm256_loadu_ps(x + 8 * j);
      a[j] = _mm256_fmadd_ps(w, xv, a[j]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) {
    /* max(x, 0) keeps the second operand for a NaN or a zero of either sign: x > 0 ? x : 0 */
    if (relu) a[j] = _mm256_max_ps(a[j], _mm256_setzero_ps());
    if (mrow) { /* all bits where the mask is > 0, else +0: m > 0 ? x : 0 */
      __m256 m = TAIL && j == NV - 1 ? load_part(mrow + 8 * j, t) : _mm256_loadu_ps(mrow + 8 * j);
      a[j] = _mm256_and_ps(a[j], _mm256_cmp_ps(m, _mm256_setzero_ps(), _CMP_GT_OQ));
    }
    if (TAIL && j == NV - 1) {
      store_part(c + 8 * j, a[j], t);
    } else {
      _mm256_storeu_ps(c + 8 * j, a[j]);
    }
  }
}

/* wd (rows, ldw) or NULL: when given, the weights are wd[r * ldw + ci[k]], not p->v. */
static void mm_rows(const sp_mm *p, const float *wd, size_t ldw, float *vout, int r0, int r1) {
  for (int c0 = 0; c0 < p->n; c0 += 64) {
    int w = p->n - c0 < 64 ? p->n - c0 : 64;
    int nv = (w + 7) / 8, t = w - 8 * (nv - 1);
    __m256i tm = lane_mask(t);
    int tail = t == 8 ? TAIL_NONE : p->ldb >= (size_t)((p->n + 7) & ~7) ? TAIL_WHOLE : TAIL_MASKED;
    const int fromw = wd != NULL;
    int sel = 6 * nv + 2 * tail + fromw;
    for (int r = r0; r < r1; r++) {
      const int32_t s = p->rowptr[r], cnt = p->rowptr[r + 1] - s;
      const int32_t *ci = p->ci + s;
      const float *v = fromw ? wd + (size_t)r * ldw : p->v + s, *bt = p->bt + c0;
      /* the weights read are stored compact too: the CSR values refreshed in passing */
      float *vo = fromw && vout && c0 == 0 ? vout + s : NULL;
      float *c = p->ct + (size_t)r * p->ldc + c0, b0 = p->bias ? p->bias[r] : 0.0f;
      const float *mrow = p->mask ? p->mask + (size_t)r * p->ldm + c0 : NULL;
      const size_t ldb = p->ldb;
      const int acc = p->accumulate, relu = p->relu;
      switch (sel) {
#define SP_CASE(n)                                                                                 \
  case 6 * n: mm_chunk(n, TAIL_NONE, 0, c, ci, v, cnt, bt, ldb, tm, t, b0, acc, relu, mrow, vo); break;          \
  case 6 * n + 1: mm_chunk(n, TAIL_NONE, 1, c, ci, v, cnt, bt, ldb, tm, t, b0, acc, relu, mrow, vo); break;      \
  case 6 * n + 2: mm_chunk(n, TAIL_WHOLE, 0, c, ci, v, cnt, bt, ldb, tm, t, b0, acc, relu, mrow, vo); break;     \
  case 6 * n + 3: mm_chunk(n, TAIL_WHOLE, 1, c, ci, v, cnt, bt, ldb, tm, t, b0, acc, relu, mrow, vo); break;     \
  case 6 * n + 4: mm_chunk(n, TAIL_MASKED, 0, c, ci, v, cnt, bt, ldb, tm, t, b0, acc, relu, mrow, vo); break;    \
  case 6 * n + 5: mm_chunk(n, TAIL_MASKED, 1, c, ci, v, cnt, bt, ldb, tm, t, b0, acc, relu, mrow, vo); break;
        SP_CASE(1) SP_CASE(2) SP_CASE(3) SP_CASE(4) SP_CASE(5) SP_CASE(6) SP_CASE(7) SP_CASE(8)
#undef SP_CASE
      }
    }
  }
}

void lt_sp_mm_rows(const sp_mm *p, int r0, int r1) { mm_rows(p, NULL, 0, NULL, r0, r1); }

static inline float hsum(__m256 a) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* One entry's products with the dy chunk in registers, as one vector: two
 * accumulators (even and odd vectors) halve the dependency chain. */
static inline __attribute__((always_inline)) __m256 dot_one(const int NV, const int TAIL, const __m256 *d,
                                                            const float *x, __m256i tm) {
  __m256 a[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) {
    __m256 xv = j == NV - 1 ? load_tail(TAIL, x + 8 * j, tm) : _mm256_loadu_ps(x + 8 * j);
    a[j & 1] = j < 2 ? _mm256_mul_ps(d[j], xv) : _mm256_fmadd_ps(d[j], xv, a[j & 1]);
  }
  return NV > 1 ? _mm256_add_ps(a[0], a[1]) : a[0];
}

/* Four entries' product vectors reduced to one vector: lanes 0-3 hold the
 * sums of their lower halves, lanes 4-7 those of their upper halves. */
static inline __m256 reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  return _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
}

/* One row, one chunk of NV vectors of dy held in registers: each entry's row
 * of xt streams by once, as in mm_chunk, and reduces to one number. Entries
 * go eight at a time through a transposing reduction (a horizontal sum per
 * entry would cost more than its products) into one vector of g, then four,
 * the rest one by one; every entry of a group of four or eight is summed in
 * the same order, and the grouping starts at the row's first entry, so it
 * depends neither on the thread split nor on the group size. */
static inline __attribute__((always_inline)) void dot_chunk(const int NV, const int TAIL, float *g,
                                                            const int32_t *ci, int cnt, const float *dy,
                                                            const float *xt, size_t ldx, __m256i tm) {
  __m256 d[8];
#pragma GCC unroll 8
  for (int j = 0; j < NV; j++) d[j] = TAIL && j == NV - 1 ? _mm256_maskload_ps(dy + 8 * j, tm) : _mm256_loadu_ps(dy + 8 * j);
  int k = 0;
#define SP_DOT(i) dot_one(NV, TAIL, d, xt + (size_t)ci[k + (i)] * ldx, tm)
  for (; k + 8 <= cnt; k += 8) {
    __m256 lo = reduce4(SP_DOT(0), SP_DOT(1), SP_DOT(2), SP_DOT(3));
    __m256 hi = reduce4(SP_DOT(4), SP_DOT(5), SP_DOT(6), SP_DOT(7));
    __m256 s = _mm256_add_ps(_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31));
    _mm256_storeu_ps(g + k, _mm256_add_ps(_mm256_loadu_ps(g + k), s));
  }
  for (; k + 4 <= cnt; k += 4) {
    __m256 t = reduce4(SP_DOT(0), SP_DOT(1), SP_DOT(2), SP_DOT(3));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    _mm_storeu_ps(g + k, _mm_add_ps(_mm_loadu_ps(g + k), s));
  }
#undef SP_DOT
  for (; k < cnt; k++) g[k] += hsum(dot_one(NV, TAIL, d, xt + (size_t)ci[k] * ldx, tm));
}

void lt_sp_dot_row(float *g, const int32_t *ci, int cnt, const float *dy, const float *xt, size_t ldx,
                   int w, size_t room) {
  for (int c0 = 0; c0 < w; c0 += 64) {
    int cw = w - c0 < 64 ? w - c0 : 64;
    int nv = (cw + 7) / 8, t = cw - 8 * (nv - 1);
    __m256i tm = lane_mask(t);
    /* the whole tail vector lies inside the row's stride */
    int tail = t == 8 ? TAIL_NONE : room >= (size_t)(c0 + 8 * nv) ? TAIL_WHOLE : TAIL_MASKED;
    const float *d = dy + c0, *x = xt + c0;
    switch (3 * nv + tail) {
#define SP_CASE(n)                                                               \
  case 3 * n: dot_chunk(n, TAIL_NONE, g, ci, cnt, d, x, ldx, tm); break;        \
  case 3 * n + 1: dot_chunk(n, TAIL_WHOLE, g, ci, cnt, d, x, ldx, tm); break;   \
  case 3 * n + 2: dot_chunk(n, TAIL_MASKED, g, ci, cnt, d, x, ldx, tm); break;
      SP_CASE(1) SP_CASE(2) SP_CASE(3) SP_CASE(4) SP_CASE(5) SP_CASE(6) SP_CASE(7) SP_CASE(8)
#undef SP_CASE
    }
  }
}

#else /* portable scalar path */

static void mm_rows(const sp_mm *p, const float *wd, size_t ldw, float *vout, int r0, int r1) {
  for (int c0 = 0; c0 < p->n; c0 += 64) {
    int w = p->n - c0 < 64 ? p->n - c0 : 64;
    for (int r = r0; r < r1; r++) {
      float a[64], *c = p->ct + (size_t)r * p->ldc + c0, b0 = p->bias ? p->bias[r] : 0.0f;
      for (int j = 0; j < w; j++) a[j] = p->accumulate ? b0 + c[j] : b0;
      for (int32_t k = p->rowptr[r]; k < p->rowptr[r + 1]; k++) {
        const float *x = p->bt + (size_t)p->ci[k] * p->ldb + c0;
        float v = wd ? wd[(size_t)r * ldw + p->ci[k]] : p->v[k];
        if (wd && vout && c0 == 0) vout[k] = v;
        for (int j = 0; j < w; j++) a[j] += v * x[j];
      }
      if (p->relu)
        for (int j = 0; j < w; j++) a[j] = a[j] > 0.0f ? a[j] : 0.0f;
      if (p->mask)
        for (int j = 0; j < w; j++) a[j] = p->mask[(size_t)r * p->ldm + c0 + j] > 0.0f ? a[j] : 0.0f;
      memcpy(c, a, (size_t)w * sizeof *c);
    }
  }
}

void lt_sp_mm_rows(const sp_mm *p, int r0, int r1) { mm_rows(p, NULL, 0, NULL, r0, r1); }

void lt_sp_dot_row(float *g, const int32_t *ci, int cnt, const float *dy, const float *xt, size_t ldx,
                   int w, size_t room) {
  for (int k = 0; k < cnt; k++) {
    const float *x = xt + (size_t)ci[k] * ldx;
    float s[8] = {0};
    int j = 0;
    for (; j + 8 <= w; j += 8)
      for (int l = 0; l < 8; l++) s[l] += dy[j + l] * x[j + l];
    for (int l = 0; j + l < w; l++) s[l] += dy[j + l] * x[j + l];
    g[k] += ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
}
#endif

int lt_sp_dot_chunk(int xrows, int n) {
  /* about 256 KiB of xt per chunk, whole 64-column register blocks */
  int c = (int)(65536 / (xrows > 0 ? xrows : 1)) & ~63;
  if (c < 64) c = 64;
  return c < n ? c : n;
}

/* ---- threaded entry points ---- */

typedef struct mm_job {
  sp_mm mm;
  const float *w; /* the dense weight, or NULL: the CSR values */
  size_t ldw;
  float *vout;    /* with w: the weights read, stored compact (or NULL) */
  int bounds[LT_POOL_MAXPARTS + 1];
} mm_job;

static void mm_part(void *arg, int p) {
  mm_job *j = arg;
  mm_rows(&j->mm, j->w, j->ldw, j->vout, j->bounds[p], j->bounds[p + 1]);
}

static lt_status spmm(float *ct, int ldc, const lt_csr *a, const float *w, int ldw, const float *bt, int ldb, int n,
                      const float *bias, int accumulate, float *vout, int relu, const float *mask, int ldm) {
  if (!a || n < 0 || ldc < n || ldb < n || (!ct && a->rows && n) || (!bt && a->nnz && n))
    return lt_error(LT_EINVAL, "lt_csr_spmm_t: bad arguments (n %d, ldc %d, ldb %d)", n, ldc, ldb);
  if (n == 0 || a->rows == 0) return LT_OK;
  mm_job j = {{ct, (size_t)ldc, a->rowptr, a->colidx, a->val, bt, (size_t)ldb, bias, n, accumulate, relu, mask, (size_t)ldm},
              w, (size_t)ldw,
              w ? vout : NULL, {0}};
  int np = lt_pool_nparts((double)(a->nnz + a->rows) * n, a->rows);
  lt_sp_partition(j.bounds, a->rowptr, a->rows, np);
  lt_pool_run(np, mm_part, &j);
  return LT_OK;
}

lt_status lt_csr_spmm_t(float *ct, int ldc, const lt_csr *a, const float *bt, int ldb, int n,
                        const float *bias, int accumulate) {
  return spmm(ct, ldc, a, NULL, 0, bt, ldb, n, bias, accumulate, NULL, 0, NULL, 0);
}

lt_status lt_sp_spmm_t(float *ct, int ldc, const lt_csr *a, const float *bt, int ldb, int n, const float *bias,
                       int relu, const float *mask, int ldm) {
  if (mask && ldm < n) return lt_error(LT_EINVAL, "lt_sp_spmm_t: mask stride %d < n %d", ldm, n);
  return spmm(ct, ldc, a, NULL, 0, bt, ldb, n, bias, 0, NULL, relu, mask, ldm);
}

lt_status lt_sp_spmm_w(float *ct, int ldc, const lt_csr *a, const float *w, int ldw, const float *bt, int ldb,
                       int n, const float *bias, float *vals, int relu) {
  if (!w || ldw < a->cols) return lt_error(LT_EINVAL, "lt_sp_spmm_w: no dense weight (ldw %d)", ldw);
  return spmm(ct, ldc, a, w, ldw, bt, ldb, n, bias, 0, vals, relu, NULL, 0);
}

typedef struct dot_job {
  float *g;
  const lt_csr *a;
  const float *dyt, *xt;
  size_t ldd, ldx;
  int n, chunk;
  int bounds[LT_POOL_MAXPARTS + 1];
} dot_job;

static void dot_part(void *arg, int p) {
  dot_job *j = arg;
  const lt_csr *a = j->a;
  for (int c0 = 0; c0 < j->n; c0 += j->chunk) {
    int w = j->n - c0 < j->chunk ? j->n - c0 : j->chunk;
    for (int r = j->bounds[p]; r < j->bounds[p + 1]; r++) {
      int32_t s = a->rowptr[r], cnt = a->rowptr[r + 1] - s;
      if (cnt) lt_sp_dot_row(j->g + s, a->colidx + s, cnt, j->dyt + r * j->ldd + c0, j->xt + c0, j->ldx, w, j->ldx - c0);
    }
  }
}

lt_status lt_csr_sddmm_t(float *g, const lt_csr *a, const float *dyt, int ldd, const float *xt, int ldx,
                         int n) {
  if (!a || n < 0 || ldd < n || ldx < n || (a->nnz && n && (!g || !dyt || !xt)))
    return lt_error(LT_EINVAL, "lt_csr_sddmm_t: bad arguments (n %d, ldd %d, ldx %d)", n, ldd, ldx);
  if (n == 0 || a->nnz == 0) return LT_OK;
  dot_job j = {g, a, dyt, xt, (size_t)ldd, (size_t)ldx, n, lt_sp_dot_chunk(a->cols, n), {0}};
  int np = lt_pool_nparts((double)a->nnz * n, a->rows);
  lt_sp_partition(j.bounds, a->rowptr, a->rows, np);
  lt_pool_run(np, dot_part, &j);
  return LT_OK;
}

lt_status lt_csr_sddmm_dense_t(float *dw, int ldw, const lt_csr *a, const float *dyt, int ldd,
                               const float *xt, int ldx, int n) {
  if (!a || ldw < a->cols || (!dw && a->nnz))
    return lt_error(LT_EINVAL, "lt_csr_sddmm_dense_t: bad arguments (ldw %d for %d columns)", ldw,
                    a ? a->cols : 0);
  if (n == 0 || a->nnz == 0) return LT_OK;
  float *g = lt_pool_scratch(LT_SLOT_G, (size_t)a->nnz);
  if (!g) return lt_error(LT_ENOMEM, "lt_csr_sddmm_dense_t: out of memory for %d values", a->nnz);
  memset(g, 0, (size_t)a->nnz * sizeof *g);
  lt_status st = lt_csr_sddmm_t(g, a, dyt, ldd, xt, ldx, n);
  if (st) return st;
  for (int r = 0; r < a->rows; r++) {
    float *dr = dw + (size_t)r * ldw;
    for (int32_t k = a->rowptr[r]; k < a->rowptr[r + 1]; k++) dr[a->colidx[k]] += g[k];
  }
  return LT_OK;
}
