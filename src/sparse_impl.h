/* sparse_impl.h: internals shared by src/sparse*.c (not a public header):
 * the worker pool, the row partition, per-thread scratch, and the row kernels
 * that CSR and n:m both run on. */
#ifndef LOTTO_SPARSE_IMPL_H
#define LOTTO_SPARSE_IMPL_H

#include <stddef.h>
#include <stdint.h>

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

#define SP_MAXPARTS 16
/* Below this many multiply-adds (about 10 us on one core) a call stays on one
 * thread: a hand-off costs a microsecond or more, and a worker preempted on a
 * busy machine holds the call up. */
#define SP_PAR_MIN_WORK 262144.0

/* ---- pool (sparse_pool.c) ---- */
/* Runs fn(arg, p) for p in [0, nparts), part 0 on the caller. Parts not yet
 * picked up by a worker when the caller is free are run by the caller, so a
 * descheduled worker never stalls the call. Returns when all parts are done. */
void lt_sp_run(int nparts, void (*fn)(void *arg, int part), void *arg);
/* How many parts to split work (multiply-adds) over rows rows into. */
int lt_sp_nparts(double work, int rows);
/* bounds[0..nparts] splits rows so that each part has about the same
 * nnz + SP_ROW_COST * rows; fixed for a given (rowptr, nparts). */
#define SP_ROW_COST 2
void lt_sp_partition(int *bounds, const int32_t *rowptr, int rows, int nparts);

/* ---- scratch (sparse_linear.c): per-thread slots, 64-byte aligned, grown
 * on demand and kept; NULL on ENOMEM. A slot's buffer is valid until the
 * next request for the same slot on the same thread. */
enum { SP_SLOT_X, SP_SLOT_Y, SP_SLOT_OUT, SP_SLOT_G, SP_SLOT_NM, SP_NSLOTS };
float *lt_sp_scratch(int slot, size_t nfloats);

/* ---- row kernels (sparse_kernels.c) ---- */
/* For rows r in [r0, r1): ct[r, c0:c0+w] = bias[r] (+ ct) + sum_k v[k] bt[ci[k], c0:c0+w]
 * over all column chunks, where row r's entries are (ci, v) + rowptr[r]..rowptr[r+1]. */
typedef struct sp_mm {
  float *ct; size_t ldc;
  const int32_t *rowptr, *ci; const float *v;
  const float *bt; size_t ldb;
  const float *bias;
  int n, accumulate;
} sp_mm;
void lt_sp_mm_rows(const sp_mm *p, int r0, int r1);
/* lt_csr_spmm_t with the weights read from the dense w (rows, ldw) at the
 * pattern's positions instead of a's values (no accumulate): a layer whose
 * values change every step skips refreshing them. */
lt_status lt_sp_spmm_w(float *ct, int ldc, const lt_csr *a, const float *w, int ldw, const float *bt, int ldb,
                       int n, const float *bias);
/* One row's sampled dot products over columns [0, w):
 * g[k] += sum_j dy[j] * xt[ci[k] * ldx + j] for k in [0, cnt). room: floats
 * that may be read from the start of each xt row (>= w; the row stride left). */
void lt_sp_dot_row(float *g, const int32_t *ci, int cnt, const float *dy, const float *xt,
                   size_t ldx, int w, size_t room);
/* Column chunk width for sampled products over a (rows, n) operand: keeps a
 * chunk of xt in L2 (long n comes from convolution columns). */
int lt_sp_dot_chunk(int xrows, int n);

#endif
