/* sparse_nm_avx2.c: the n:m forward kernel yt = A . xt (+ bias) on AVX2+FMA,
 * compiled for that instruction set whatever the build's flags and chosen at
 * run time (cpuid), so a portable build runs it where the CPU has it.
 *
 * Why it beats the CSR row kernel on n:m: every row keeps the same number of
 * slots per group, so the loop is blocked over the inputs: a block of xt rows
 * (64 inputs x up to 64 columns, 16 KB; copied out when the rows of xt are far
 * apart or off cache lines) stays in L1 while a panel of output rows streams
 * its slots past it, read from lt_nm's copy in block order (pval, pidx), so the
 * stream is sequential and rows further on are prefetched. Each output row keeps up to 64 columns of
 * accumulators in 8 ymm registers; each kept weight is one broadcast and one
 * FMA per vector, its xt operand an L1 load. Narrow column chunks (small
 * batches, small images) run several rows in lockstep so that 8 independent
 * FMA chains hide the FMA latency. Padding slots are skipped, as in the
 * portable kernel, so the two agree to float rounding (only the order of the
 * sums differs: here in column order per block). */
#include <stdatomic.h>
#include <string.h>

#include "lotto/blas.h"
#include "sparse/sparse_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define NM_TARGET __attribute__((target("avx2,fma")))
#define NM_INLINE static inline __attribute__((always_inline)) NM_TARGET

int lt_nm_avx2_supported(void) {
  static atomic_int cached = -1; /* threads racing here all store the same value */
  int v = atomic_load_explicit(&cached, memory_order_relaxed);
  if (v < 0) {
    lt_cpu c;
    lt_cpu_detect(&c);
    v = c.avx2 && c.fma && c.os_ymm;
    atomic_store_explicit(&cached, v, memory_order_relaxed);
  }
  return v;
}

/* How the last, partial vector of a chunk (t lanes) is read: whole when the
 * row stride leaves room (its extra lanes reach only lanes never stored), else
 * masked. Full chunks have no tail. */
enum { TAIL_NONE, TAIL_WHOLE, TAIL_MASKED };

NM_INLINE __m256i lane_mask(int t) {
  static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256((const __m256i *)(m + 8 - t));
}

NM_INLINE __m256 load_x(const int TAIL, int last, const float *x, __m256i tm) {
  return TAIL == TAIL_MASKED && last ? _mm256_maskload_ps(x, tm) : _mm256_loadu_ps(x);
}

/* Rows [r, r + RR) of the chunk, over groups [g0, g1): NV vectors per row (the
 * last one t lanes wide unless TAIL_NONE). N, M: the pattern as constants (0:
 * read a->n, a->m). first: start from the bias, else from yt. RR * NV <= 8. */
NM_INLINE void tile(const int RR, const int NV, const int TAIL, const int N, const int M, const lt_nm *a, int r,
                    int g0, int g1, float *yt, size_t ldy, const float *xt, size_t ldx, const float *bias, int first,
                    __m256i tm, int t) {
  const int n = N ? N : a->n, m = M ? M : a->m;
  __m256 acc[8]; /* RR * NV used; a fixed size, all set, so that they live in registers */
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
  const float *v[8];
  const uint8_t *ix[8];
#pragma GCC unroll 8
  for (int i = 0; i < RR; i++) {
    float *y = yt + (size_t)(r + i) * ldy;
    const size_t o = (size_t)a->rows * g0 * n + (size_t)(r + i) * (g1 - g0) * n; /* the blocked copy */
    v[i] = a->pval + o;
    ix[i] = a->pidx + o;
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) {
      if (first) {
        acc[i * NV + j] = _mm256_set1_ps(bias ? bias[r + i] : 0.0f);
      } else if (TAIL != TAIL_NONE && j == NV - 1) {
        acc[i * NV + j] = _mm256_maskload_ps(y + 8 * j, tm);
      } else {
        acc[i * NV + j] = _mm256_loadu_ps(y + 8 * j);
      }
    }
  }
  const size_t step = (size_t)m * ldx;
  const float *xg = xt; /* the block's first input */
  for (int g = g0; g < g1; g++, xg += step) {
#pragma GCC unroll 4
    for (int q = 0; q < n; q++) {
#pragma GCC unroll 8
      for (int i = 0; i < RR; i++) {
        const unsigned o = ix[i][q];
        if (o & LT_NM_PAD) continue;
        const float *x = xg + o * ldx;
        const __m256 w = _mm256_broadcast_ss(v[i] + q);
#pragma GCC unroll 8
        for (int j = 0; j < NV; j++) acc[i * NV + j] = _mm256_fmadd_ps(w, load_x(TAIL, j == NV - 1, x + 8 * j, tm), acc[i * NV + j]);
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < RR; i++) v[i] += n, ix[i] += n;
  }
#pragma GCC unroll 8
  for (int i = 0; i < RR; i++) {
    float *y = yt + (size_t)(r + i) * ldy;
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) {
      if (TAIL != TAIL_NONE && j == NV - 1) { /* (masked: a copy through memory would keep acc there) */
        _mm256_maskstore_ps(y + 8 * j, tm, acc[i * NV + j]);
      } else {
        _mm256_storeu_ps(y + 8 * j, acc[i * NV + j]);
      }
    }
  }
}

/* Rows this far ahead have their slots (and accumulators) fetched: a row's
 * slots of one block are a short segment, a row further on, which the
 * hardware prefetchers do not follow across pages. */
#define NM_AHEAD 4

NM_INLINE void prefetch_rows(const lt_nm *a, int r, int rr, int g0, int g1, float *yt, size_t ldy, int nv, int first,
                             int r1) {
  for (int i = 0; i < rr && r + i < r1; i++) {
    const size_t so = (size_t)a->rows * g0 * a->n + (size_t)(r + i) * (g1 - g0) * a->n;
    const char *v = (const char *)(a->pval + so), *ix = (const char *)(a->pidx + so);
    size_t vb = (size_t)(g1 - g0) * a->n * sizeof(float);
    for (size_t o = 0; o < vb; o += 64) _mm_prefetch(v + o, _MM_HINT_T0);
    for (size_t o = 0; o < vb / 4; o += 64) _mm_prefetch(ix + o, _MM_HINT_T0);
    if (!first)
      for (int o = 0; o < 32 * nv; o += 64) _mm_prefetch((const char *)(yt + (size_t)(r + i) * ldy) + o, _MM_HINT_T0);
  }
}

/* One chunk's tiles, rows [r0, r1), groups [g0, g1): RR rows at a time, the rest one by one. */
NM_INLINE void tiles(const int RR, const int NV, const int TAIL, const int N, const int M, const lt_nm *a, int r0,
                     int r1, int g0, int g1, float *yt, size_t ldy, const float *xt, size_t ldx, const float *bias,
                     int first, __m256i tm, int t) {
  int r = r0;
  if (RR > 1)
    for (; r + RR <= r1; r += RR) {
      prefetch_rows(a, r + NM_AHEAD, RR, g0, g1, yt, ldy, NV, first, r1);
      tile(RR, NV, TAIL, N, M, a, r, g0, g1, yt, ldy, xt, ldx, bias, first, tm, t);
    }
  for (; r < r1; r++) {
    prefetch_rows(a, r + NM_AHEAD, 1, g0, g1, yt, ldy, NV, first, r1);
    tile(1, NV, TAIL, N, M, a, r, g0, g1, yt, ldy, xt, ldx, bias, first, tm, t);
  }
}

/* The pattern as constants where it is a common one. */
NM_INLINE void by_pattern(const int RR, const int NV, const int TAIL, const lt_nm *a, int r0, int r1, int g0, int g1,
                          float *yt, size_t ldy, const float *xt, size_t ldx, const float *bias, int first,
                          __m256i tm, int t) {
  if (a->n == 2 && a->m == 4) tiles(RR, NV, TAIL, 2, 4, a, r0, r1, g0, g1, yt, ldy, xt, ldx, bias, first, tm, t);
  else if (a->n == 1 && a->m == 4) tiles(RR, NV, TAIL, 1, 4, a, r0, r1, g0, g1, yt, ldy, xt, ldx, bias, first, tm, t);
  else if (a->n == 4 && a->m == 8) tiles(RR, NV, TAIL, 4, 8, a, r0, r1, g0, g1, yt, ldy, xt, ldx, bias, first, tm, t);
  else tiles(RR, NV, TAIL, 0, 0, a, r0, r1, g0, g1, yt, ldy, xt, ldx, bias, first, tm, t);
}

/* Output rows per panel: their accumulators (up to 256 B a row) stay in L2 between blocks. */
#define NM_PANEL_ROWS 256

/* Rows that must share a copied block for the copy to pay. */
#define NM_COPY_ROWS 16

/* A block of xt copied out (at most 64 inputs of a 64-column chunk), per thread. */
static _Thread_local float xbuf[64 * 64] __attribute__((aligned(64)));

NM_TARGET void lt_nm_forward_rows_avx2(float *yt, size_t ldy, const lt_nm *a, const float *xt, size_t ldx, int ncols,
                                       const float *bias, int r0, int r1) {
  const int groups = a->cols / a->m;
  for (int c0 = 0; c0 < ncols; c0 += 64) {
    const int w = ncols - c0 < 64 ? ncols - c0 : 64, nv = (w + 7) / 8, t = w - 8 * (nv - 1);
    const __m256i tm = lane_mask(t);
    const int tail0 = t == 8 ? TAIL_NONE : ldx >= (size_t)((ncols + 7) & ~7) ? TAIL_WHOLE : TAIL_MASKED;
    /* Copy the blocks out when rows of xt are far apart (several chunks: rows 1 KB or
     * more apart compete for a few L1 sets) or not on cache lines (loads split across
     * two lines), unless too few rows would reuse a copy. */
    const int copy = (ncols > 64 || ldx % 16 || (uintptr_t)xt % 64) && r1 - r0 >= NM_COPY_ROWS;
    const int gb = LT_NM_BLOCK_GROUPS(a->m);
    const float *xc = xt + c0;
    float *yc = yt + c0;
    for (int p0 = r0; p0 < r1; p0 += NM_PANEL_ROWS) {
      const int p1 = r1 - p0 < NM_PANEL_ROWS ? r1 : p0 + NM_PANEL_ROWS;
      for (int g0 = 0; g0 < groups || g0 == 0; g0 += gb) {
        const int g1 = groups - g0 < gb ? groups : g0 + gb, first = g0 == 0;
        const float *xb = xc + (size_t)g0 * a->m * ldx;
        size_t ldb = ldx;
        int tail = tail0;
        if (copy) { /* the block, contiguous: rows of xt this far apart share L1 sets and evict each other */
          const int nin = (g1 - g0) * a->m, wr = 8 * nv;
          for (int i = 0; i < nin; i++) {
            memcpy(xbuf + (size_t)i * wr, xb + (size_t)i * ldx, (size_t)w * sizeof(float));
            if (wr > w) memset(xbuf + (size_t)i * wr + w, 0, (size_t)(wr - w) * sizeof(float));
          }
          xb = xbuf, ldb = (size_t)wr;
          if (tail) tail = TAIL_WHOLE;
        }
        switch (3 * nv + tail) {
#define NM_CASE(NV, RR)                                                                                         \
  case 3 * NV: by_pattern(RR, NV, TAIL_NONE, a, p0, p1, g0, g1, yc, ldy, xb, ldb, bias, first, tm, t); break;     \
  case 3 * NV + 1: by_pattern(RR, NV, TAIL_WHOLE, a, p0, p1, g0, g1, yc, ldy, xb, ldb, bias, first, tm, t); break; \
  case 3 * NV + 2: by_pattern(RR, NV, TAIL_MASKED, a, p0, p1, g0, g1, yc, ldy, xb, ldb, bias, first, tm, t); break;
          NM_CASE(1, 8) NM_CASE(2, 4) NM_CASE(3, 2) NM_CASE(4, 2) NM_CASE(5, 1) NM_CASE(6, 1) NM_CASE(7, 1)
          NM_CASE(8, 1)
#undef NM_CASE
        }
        if (groups == 0) break;
      }
    }
  }
}

#else /* not x86-64: the portable kernel only */

int lt_nm_avx2_supported(void) { return 0; }
void lt_nm_forward_rows_avx2(float *yt, size_t ldy, const lt_nm *a, const float *xt, size_t ldx, int ncols,
                             const float *bias, int r0, int r1) {
  (void)yt, (void)ldy, (void)a, (void)xt, (void)ldx, (void)ncols, (void)bias, (void)r0, (void)r1;
}

#endif
