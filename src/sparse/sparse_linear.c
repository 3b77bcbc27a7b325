/* sparse_linear.c: sparse layers on (B, features) activations, built from the
 * transposed kernels plus blocked transposes into per-thread scratch, and the
 * convolution entry points over im2col columns. */
#include <stdlib.h>
#include <string.h>

#include "lotto/sparse.h"
#include "sparse/sparse_impl.h"

#if defined(__AVX__)
#include <immintrin.h>
#endif

#if defined(__AVX__)
/* Stores of a tile's row: written, or added onto dst (add). */
static inline void put8(float *d, __m256 v, int add) { _mm256_storeu_ps(d, add ? _mm256_add_ps(_mm256_loadu_ps(d), v) : v); }
static inline void put4(float *d, __m128 v, int add) { _mm_storeu_ps(d, add ? _mm_add_ps(_mm_loadu_ps(d), v) : v); }

/* 8x8 tile: rows i and i+4 share a register (128-bit halves), so the
 * transpose needs only in-lane shuffles, no cross-lane permutes. */
static inline void tile8(float *dst, size_t ldd, const float *src, size_t lds, int add) {
  __m256 r[8];
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(src + i * lds)), _mm_loadu_ps(src + (i + 4) * lds), 1);
    r[i + 4] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(src + i * lds + 4)),
                                    _mm_loadu_ps(src + (i + 4) * lds + 4), 1);
  }
  for (int h = 0; h < 8; h += 4) { /* columns h..h+3 */
    __m256 t0 = _mm256_unpacklo_ps(r[h], r[h + 1]), t1 = _mm256_unpackhi_ps(r[h], r[h + 1]);
    __m256 t2 = _mm256_unpacklo_ps(r[h + 2], r[h + 3]), t3 = _mm256_unpackhi_ps(r[h + 2], r[h + 3]);
    put8(dst + (h + 0) * ldd, _mm256_shuffle_ps(t0, t2, 0x44), add);
    put8(dst + (h + 1) * ldd, _mm256_shuffle_ps(t0, t2, 0xEE), add);
    put8(dst + (h + 2) * ldd, _mm256_shuffle_ps(t1, t3, 0x44), add);
    put8(dst + (h + 3) * ldd, _mm256_shuffle_ps(t1, t3, 0xEE), add);
  }
}

/* 4 rows x 8 columns: the leftover rows of a batch such as 60. */
static inline void tile4(float *dst, size_t ldd, const float *src, size_t lds, int add) {
  __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds), r2 = _mm256_loadu_ps(src + 2 * lds),
         r3 = _mm256_loadu_ps(src + 3 * lds);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 o[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE), _mm256_shuffle_ps(t1, t3, 0x44),
                 _mm256_shuffle_ps(t1, t3, 0xEE)};
  for (int j = 0; j < 4; j++) {
    put4(dst + j * ldd, _mm256_castps256_ps128(o[j]), add);
    put4(dst + (j + 4) * ldd, _mm256_extractf128_ps(o[j], 1), add);
  }
}
#else
static inline void tile8(float *dst, size_t ldd, const float *src, size_t lds, int add) {
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) dst[j * ldd + i] = add ? dst[j * ldd + i] + src[i * lds + j] : src[i * lds + j];
}
static inline void tile4(float *dst, size_t ldd, const float *src, size_t lds, int add) {
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 8; j++) dst[j * ldd + i] = add ? dst[j * ldd + i] + src[i * lds + j] : src[i * lds + j];
}
#endif

/* lt_transpose and lt_transpose_add: inlined into each with add a constant. */
static inline __attribute__((always_inline)) void transpose_into(float *dst, int ldd, const float *src, int lds,
                                                                 int rows, int cols, int add) {
  int r8 = rows & ~7, r4 = rows & ~3, c8 = cols & ~7;
  /* 64-column panels keep the written rows of dst in L1 while src streams */
  for (int j0 = 0; j0 < c8; j0 += 64) {
    int j1 = j0 + 64 < c8 ? j0 + 64 : c8;
    for (int i = 0; i < r8; i += 8)
      for (int j = j0; j < j1; j += 8) tile8(dst + (size_t)j * ldd + i, ldd, src + (size_t)i * lds + j, lds, add);
  }
  if (r4 > r8)
    for (int j = 0; j < c8; j += 8) tile4(dst + (size_t)j * ldd + r8, ldd, src + (size_t)r8 * lds + j, lds, add);
  for (int i = 0; i < r4; i++)
    for (int j = c8; j < cols; j++) {
      float *d = dst + (size_t)j * ldd + i;
      *d = add ? *d + src[(size_t)i * lds + j] : src[(size_t)i * lds + j];
    }
  for (int i = r4; i < rows; i++)
    for (int j = 0; j < cols; j++) {
      float *d = dst + (size_t)j * ldd + i;
      *d = add ? *d + src[(size_t)i * lds + j] : src[(size_t)i * lds + j];
    }
}

void lt_transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols) {
  transpose_into(dst, ldd, src, lds, rows, cols, 0);
}

void lt_transpose_add(float *dst, int ldd, const float *src, int lds, int rows, int cols) {
  transpose_into(dst, ldd, src, lds, rows, cols, 1);
}

/* Row stride of transposed activations: B rounded up so that every row starts
 * on a cache line (a vector load across two lines is markedly slower). */

static lt_status nomem(const char *fn) { return lt_error(LT_ENOMEM, "%s: out of memory for scratch", fn); }

/* out (B, a->rows) = in (B, a->cols) . A^T (+ bias): both activations transposed once
 * into scratch slots, the product on the transposed layout, the result transposed back. */
static lt_status spmm_through_t(float *out, const lt_csr *a, const float *in, const float *bias, int B,
                                int slot_in, int slot_out, const char *fn) {
  if (!a || B < 0 || (B && (!out || !in))) return lt_error(LT_EINVAL, "%s: bad arguments (B %d)", fn, B);
  int ld = lt_sparse_ld(B);
  float *it = lt_pool_scratch(slot_in, (size_t)a->cols * ld);
  float *ot = lt_pool_scratch(slot_out, (size_t)a->rows * ld);
  if (!it || !ot) return nomem(fn);
  lt_transpose(it, ld, in, a->cols, B, a->cols);
  lt_status st = lt_csr_spmm_t(ot, ld, a, it, ld, B, bias, 0);
  if (st) return st;
  lt_transpose(out, a->rows, ot, ld, a->rows, B);
  return LT_OK;
}

lt_status lt_sparse_linear_forward(float *y, const lt_csr *w, const float *x, const float *bias, int B) {
  return spmm_through_t(y, w, x, bias, B, LT_SLOT_X, LT_SLOT_Y, "lt_sparse_linear_forward");
}

lt_status lt_sparse_linear_backward_input(float *dx, const lt_csr *wt, const float *dy, int B) {
  return spmm_through_t(dx, wt, dy, NULL, B, LT_SLOT_Y, LT_SLOT_OUT, "lt_sparse_linear_backward_input");
}

lt_status lt_sparse_linear_weight_grad(float *dw, const lt_csr *w, const float *dy, const float *x, int B) {
  if (!w || B < 0 || (B && (!dw || !dy || !x)))
    return lt_error(LT_EINVAL, "lt_sparse_linear_weight_grad: bad arguments (B %d)", B);
  int ld = lt_sparse_ld(B);
  float *dyt = lt_pool_scratch(LT_SLOT_Y, (size_t)w->rows * ld);
  float *xt = lt_pool_scratch(LT_SLOT_X, (size_t)w->cols * ld);
  if (!dyt || !xt) return nomem("lt_sparse_linear_weight_grad");
  lt_transpose(dyt, ld, dy, w->rows, B, w->rows);
  lt_transpose(xt, ld, x, w->cols, B, w->cols);
  return lt_csr_sddmm_dense_t(dw, w->cols, w, dyt, ld, xt, ld, B);
}

lt_status lt_sparse_linear_backward(float *dx, float *dw, const lt_csr *w, const lt_csr *wt, const float *dy,
                                    const float *x, int B) {
  if (!w || B < 0 || (dx && (!wt || wt->rows != w->cols || wt->cols != w->rows || wt->nnz != w->nnz)))
    return lt_error(LT_EINVAL, "lt_sparse_linear_backward: bad arguments (B %d, or wt is not w's transpose)", B);
  if (B == 0 || (!dx && !dw)) return LT_OK;
  if (!dy || (dw && !x)) return lt_error(LT_EINVAL, "lt_sparse_linear_backward: dy or x is NULL");
  int ld = lt_sparse_ld(B);
  float *dyt = lt_pool_scratch(LT_SLOT_Y, (size_t)w->rows * ld);
  if (!dyt) return nomem("lt_sparse_linear_backward");
  lt_transpose(dyt, ld, dy, w->rows, B, w->rows);
  lt_status st;
  if (dx) {
    float *dxt = lt_pool_scratch(LT_SLOT_OUT, (size_t)w->cols * ld);
    if (!dxt) return nomem("lt_sparse_linear_backward");
    if ((st = lt_csr_spmm_t(dxt, ld, wt, dyt, ld, B, NULL, 0))) return st;
    lt_transpose(dx, w->cols, dxt, ld, w->cols, B);
  }
  if (dw) {
    float *xt = lt_pool_scratch(LT_SLOT_X, (size_t)w->cols * ld);
    if (!xt) return nomem("lt_sparse_linear_backward");
    lt_transpose(xt, ld, x, w->cols, B, w->cols);
    if ((st = lt_csr_sddmm_dense_t(dw, w->cols, w, dyt, ld, xt, ld, B))) return st;
  }
  return LT_OK;
}
