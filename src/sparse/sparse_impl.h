/* sparse_impl.h: internals shared by src/sparse/ (not a public header): the
 * row partition and the row kernels that CSR and n:m both run on. The worker
 * pool and scratch are core's (core/pool.h). */
#ifndef LOTTO_SPARSE_IMPL_H
#define LOTTO_SPARSE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"
#include "lotto/sparse.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SP_AVX 1
/* Lanes [0, t) set, t in 0..8. */
static inline __m256i sp_lane_mask(int t) {
  static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256((const __m256i *)(m + 8 - t));
}
#endif

/* How this build's own kernels differ from an optimised AVX2 build's: the machine
 * rates of the crossover model are keyed by them (lt_sparse_machine_key) and the
 * plausible sparse scale depends on them (lt_sparse_scale_max). */
#if !defined(__AVX2__)
#define LT_SPARSE_BUILD_ISA "+portable"
#else
#define LT_SPARSE_BUILD_ISA ""
#endif
#if !defined(__OPTIMIZE__) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LT_SPARSE_BUILD_OPT "+debug"
#else
#define LT_SPARSE_BUILD_OPT ""
#endif

/* bounds[0..nparts] splits rows so that each part has about the same
 * nnz + SP_ROW_COST * rows; fixed for a given (rowptr, nparts). (sparse_csr.c) */
#define SP_ROW_COST 2
void lt_sp_partition(int *bounds, const int32_t *rowptr, int rows, int nparts);

/* ---- row kernels (sparse_kernels.c) ---- */
/* For rows r in [r0, r1): ct[r, c0:c0+w] = bias[r] (+ ct) + sum_k v[k] bt[ci[k], c0:c0+w]
 * over all column chunks, where row r's entries are (ci, v) + rowptr[r]..rowptr[r+1];
 * with relu, each sum x is stored as x > 0 ? x : 0; with mask (rows, ldm), as
 * mask[r, j] > 0 ? x : 0 (a rectifier's backward, mask its output). */
typedef struct sp_mm {
  float *ct; size_t ldc;
  const int32_t *rowptr, *ci; const float *v;
  const float *bt; size_t ldb;
  const float *bias;
  int n, accumulate, relu;
  const float *mask; size_t ldm;
} sp_mm;
void lt_sp_mm_rows(const sp_mm *p, int r0, int r1);
/* lt_csr_spmm_t with the weights read from the dense w (rows, ldw) at the
 * pattern's positions instead of a's values (no accumulate): a layer whose
 * values change every step skips a separate refresh. vals (nnz) or NULL: the
 * weights read are stored there in passing (a's values, refreshed for free). */
lt_status lt_sp_spmm_w(float *ct, int ldc, const lt_csr *a, const float *w, int ldw, const float *bt, int ldb,
                       int n, const float *bias, float *vals, int relu);
/* lt_csr_spmm_t (no accumulate) with relu: the rectifier of the next layer applied as
 * each result is stored (x > 0 ? x : 0), as lt_sp_spmm_w does with relu; with mask
 * (a->rows, ldm) or NULL: the backward of the rectifier before, each result stored
 * as mask > 0 ? x : 0 (mask: that rectifier's output). */
lt_status lt_sp_spmm_t(float *ct, int ldc, const lt_csr *a, const float *bt, int ldb, int n, const float *bias,
                       int relu, const float *mask, int ldm);
/* One row's sampled dot products over columns [0, w):
 * g[k] += sum_j dy[j] * xt[ci[k] * ldx + j] for k in [0, cnt). room: floats
 * that may be read from the start of each xt row (>= w; the row stride left). */
void lt_sp_dot_row(float *g, const int32_t *ci, int cnt, const float *dy, const float *xt,
                   size_t ldx, int w, size_t room);
/* ---- the n:m forward on AVX2+FMA (sparse_nm_avx2.c) ---- */
/* The CPU and OS run AVX2+FMA (cpuid, xgetbv; remembered). */
int lt_nm_avx2_supported(void);
/* Rows [r0, r1) of yt = a . xt + bias (bias may be NULL), n columns; only
 * where lt_nm_avx2_supported(). */
void lt_nm_forward_rows_avx2(float *yt, size_t ldy, const lt_nm *a, const float *xt, size_t ldx, int n,
                             const float *bias, int r0, int r1);

/* Column chunk width for sampled products over a (rows, n) operand: keeps a
 * chunk of xt in L2 (long n comes from convolution columns). */
int lt_sp_dot_chunk(int xrows, int n);

#endif
