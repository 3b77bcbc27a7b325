/* lotto/sparse.h: sparse weights (CSR and n:m) and the kernels that make a
 * pruned layer cost what its surviving weights cost.
 *
 * A linear layer computes Y (B, out) = X (B, in) . W^T + b with W (out, in)
 * row-major and a 0/1 float mask of W's shape. Once pruned, W is stored as
 * CSR (one row per output unit); its transpose (CSC of W, i.e. a CSR of
 * shape (in, out)) serves the input gradient. Every kernel works on
 * activations transposed, A^T (features, B), so that each surviving weight
 * w[o,i] does one contiguous axpy of length B:  Y^T[o,:] += w * X^T[i,:].
 * The (B, features) entry points transpose into per-thread scratch and back;
 * a network of sparse layers can instead keep activations transposed end to
 * end and call the *_t kernels directly. A convolution is the same product
 * over im2col columns: W (cout, cin*kh*kw) times cols (cin*kh*kw, N).
 *
 *   lt_csr *w = lt_csr_new(), *wt = lt_csr_new();
 *   lt_csr_build(w, weight, mask, out, in);     // pattern + values, one pass
 *   lt_csr_transpose(wt, w);                    // for the input gradient
 *   lt_sparse_linear_forward(y, w, x, bias, B); // y (B, out)
 *   lt_sparse_linear_backward(dx, dw, w, wt, dy, x, B);
 *   ... optimizer step on the dense weight ...
 *   lt_csr_refresh(w, weight); lt_csr_refresh_transposed(wt, weight);
 *   lt_csr_free(wt); lt_csr_free(w);
 *
 * Threads: with lt_get_threads() > 1 the kernels split output rows into a
 * fixed nnz-balanced partition run on a small persistent pool. Every output
 * element is computed by the same instructions in the same order whatever
 * the split, so results are bit-identical for any thread count.
 * All kernels return LT_EINVAL (with lt_errmsg) on inconsistent sizes. */
#ifndef LOTTO_SPARSE_H
#define LOTTO_SPARSE_H

#include <stdint.h>

#include "lotto/status.h"

/* ---- CSR (src/sparse_csr.c) ---- */
typedef struct lt_csr {
  int rows, cols, nnz;
  int32_t *rowptr; /* rows + 1 */
  int32_t *colidx; /* nnz, increasing within a row */
  float *val;      /* nnz */
  int cap;         /* allocated entries (rebuilds reuse the arrays) */
} lt_csr;

/* An empty 0 x 0 matrix; NULL on ENOMEM. The caller frees with lt_csr_free. */
lt_csr *lt_csr_new(void);
void lt_csr_free(lt_csr *a); /* NULL is fine */
/* Pattern and values from a dense weight and its mask, in one pass: keeps
 * every (r, c) with mask != 0, even where the weight is 0 (it is trainable).
 * Reuses a's arrays when they are large enough. */
lt_status lt_csr_build(lt_csr *a, const float *w,    // w is (rows, cols)
                       const float *mask,            // mask is (rows, cols)
                       int rows, int cols);
/* Same pattern, new values: val[k] = w[r, colidx[k]]; O(nnz). */
void lt_csr_refresh(lt_csr *a, const float *w);      // w is (a->rows, a->cols)
/* t = a^T as a CSR of shape (a->cols, a->rows), i.e. the CSC of a (counting sort). */
lt_status lt_csr_transpose(lt_csr *t, const lt_csr *a);
/* Refreshes the values of t = transpose(CSR of w) from w: O(nnz) strided gather. */
void lt_csr_refresh_transposed(lt_csr *t, const float *w); // w is (t->cols, t->rows)
/* w = a as dense (zeros off the pattern). */
void lt_csr_todense(float *w, const lt_csr *a);       // w is (a->rows, a->cols)
double lt_csr_density(const lt_csr *a);              /* nnz / (rows*cols); 0 for an empty shape */

/* ---- CSR kernels on transposed activations (src/sparse_kernels.c) ----
 * ldc, ldx, ... are row strides in floats (>= n). Strides of n rounded up to
 * 8 (better 16: rows then start on cache lines) let the kernels read a
 * partial last vector whole instead of masked, which is ~30% faster at n = 60;
 * results are bit-identical either way. */
/* C^T = A . B^T (+ bias per row) (+ C^T if accumulate). The core of forward,
 * input gradient and convolution. */
lt_status lt_csr_spmm_t(float *ct, int ldc,          // ct is (a->rows, n)
                        const lt_csr *a,             // a is (rows, k)
                        const float *bt, int ldb,    // bt is (a->cols, n)
                        int n, const float *bias,    // bias is (a->rows) or NULL
                        int accumulate);
/* Sampled product: g[k] += sum_j dyt[r, j] * xt[colidx[k], j] for each entry
 * k = (r, c) of a; g is aligned with a->val (the weight gradient on the pattern). */
lt_status lt_csr_sddmm_t(float *g,                   // g is (a->nnz)
                         const lt_csr *a,            // a is (rows, cols)
                         const float *dyt, int ldd,  // dyt is (a->rows, n)
                         const float *xt, int ldx,   // xt is (a->cols, n)
                         int n);
/* The same, accumulated into a dense gradient at the pattern's positions only. */
lt_status lt_csr_sddmm_dense_t(float *dw, int ldw,   // dw is (a->rows, a->cols)
                               const lt_csr *a, const float *dyt, int ldd,
                               const float *xt, int ldx, int n);

/* ---- layers on (B, features) activations (src/sparse_linear.c) ---- */
/* y = x . W^T + bias.  */
lt_status lt_sparse_linear_forward(float *y,          // y is (B, w->rows)
                                   const lt_csr *w,   // w is (out, in)
                                   const float *x,    // x is (B, w->cols)
                                   const float *bias, // bias is (out) or NULL
                                   int B);
/* dx = dy . W, overwritten.  wt = lt_csr_transpose(w) (or refreshed). */
lt_status lt_sparse_linear_backward_input(float *dx,  // dx is (B, in)
                                          const lt_csr *wt, // wt is (in, out)
                                          const float *dy,  // dy is (B, out)
                                          int B);
/* dw += dy^T . x on w's pattern only (dense gradient buffer, accumulated). */
lt_status lt_sparse_linear_weight_grad(float *dw,     // dw is (out, in)
                                       const lt_csr *w, const float *dy, // dy is (B, out)
                                       const float *x, int B);           // x is (B, in)
/* Both at once, transposing dy and x only once: dx = dy . W (overwritten; NULL to skip) and dw += dy^T . x on w's pattern
 * (dense, NULL to skip). wt = lt_csr_transpose(w); may be NULL if dx is. */
lt_status lt_sparse_linear_backward(float *dx,        // dx is (B, in) or NULL
                                    float *dw,        // dw is (out, in) or NULL
                                    const lt_csr *w, const lt_csr *wt,
                                    const float *dy,  // dy is (B, out)
                                    const float *x,   // x is (B, in)
                                    int B);
/* Convolution over im2col columns, N = (images x output pixels) in any order. */
lt_status lt_sparse_conv_forward(float *y,            // y is (cout, N)
                                 const lt_csr *w,     // w is (cout, K = cin*kh*kw)
                                 const float *cols,   // cols is (K, N)
                                 const float *bias,   // bias is (cout) or NULL
                                 int N);
lt_status lt_sparse_conv_backward_input(float *dcols, // dcols is (K, N), overwritten
                                        const lt_csr *wt, // wt is (K, cout)
                                        const float *dy,  // dy is (cout, N)
                                        int N);
lt_status lt_sparse_conv_weight_grad(float *dw,       // dw is (cout, K), accumulated
                                     const lt_csr *w, const float *dy, // dy is (cout, N)
                                     const float *cols, int N);        // cols is (K, N)
/* dst = src^T, cache-blocked (8x8 AVX tiles where available). */
void lt_transpose(float *dst, int ldd,                // dst is (cols, rows)
                  const float *src, int lds,          // src is (rows, cols)
                  int rows, int cols);
/* Frees the calling thread's transpose scratch (it is otherwise kept for reuse). */
void lt_sparse_scratch_free(void);

/* ---- n:m structured sparsity along the input dim (src/sparse_nm.c) ----
 * In every group of m consecutive inputs of a row at most n weights survive.
 * Stored as k = cols/m*n slots per row: values and the in-group offset; a
 * group with fewer than n survivors has padding slots (LT_NM_PAD, value 0)
 * that the kernels skip and that never receive a gradient. */
#define LT_NM_PAD 0x80
typedef struct lt_nm {
  int rows, cols, n, m, k; /* k = cols / m * n slots per row */
  float *val;              /* (rows, k) */
  uint8_t *idx;            /* (rows, k): offset in the group, or LT_NM_PAD */
} lt_nm;

/* Caller frees with lt_nm_free. NULL on ENOMEM. */
lt_nm *lt_nm_new(void);
void lt_nm_free(lt_nm *a);
/* LT_EINVAL if cols % m != 0, n > m, m > 64, or a group of the mask keeps more than n. */
lt_status lt_nm_build(lt_nm *a, const float *w,       // w is (rows, cols)
                      const float *mask,              // mask is (rows, cols)
                      int rows, int cols, int n, int m);
void lt_nm_refresh(lt_nm *a, const float *w);         // w is (a->rows, a->cols)
void lt_nm_todense(float *w, const lt_nm *a);         // w is (a->rows, a->cols)
lt_status lt_nm_forward_t(float *yt, int ldy,         // yt is (a->rows, n)
                          const lt_nm *a, const float *xt, int ldx, // xt is (a->cols, n)
                          int n, const float *bias);  // bias is (a->rows) or NULL
/* dxt = A^T . dyt (overwritten, or added to if accumulate). */
lt_status lt_nm_backward_input_t(float *dxt, int ldx, // dxt is (a->cols, n)
                                 const lt_nm *a, const float *dyt, int ldd, // dyt is (a->rows, n)
                                 int n, int accumulate);
/* g[r, s] += sum_j dyt[r, j] * xt[col(r, s), j] on non-padding slots. */
lt_status lt_nm_weight_grad_t(float *g,               // g is (a->rows, a->k)
                              const lt_nm *a, const float *dyt, int ldd,
                              const float *xt, int ldx, int n);

/* ---- dense/sparse crossover (src/sparse_calib.c) ---- */
typedef struct lt_sparse_timing {
  double density;
  /* microseconds per call, minimum over repetitions, (B, features) layout */
  double dense_fwd, dense_bwd_in, dense_wgrad;
  double sparse_fwd, sparse_bwd_in, sparse_wgrad;
  /* the sparse kernels alone on pre-transposed activations */
  double sparse_fwd_t, sparse_bwd_in_t, sparse_wgrad_t;
} lt_sparse_timing;

/* Times one training step of a (rows = out, cols = in) layer at batch B at a
 * given density: dense lt_gemm versus CSR, each kernel the minimum over reps
 * runs, with the current lt_get_threads(). Random seeded data. */
lt_status lt_sparse_bench(lt_sparse_timing *t, int rows, int cols, int batch, double density, int reps);
/* Times ndens densities (descending, e.g. 1, .5, .2, .1, .05, .02) and returns
 * in *crossover the density below which a sparse training step (forward +
 * input grad + weight grad) is faster than dense, interpolated between the
 * bracketing points: 1.0 if sparse always wins, 0.0 if it never does.
 * t (ndens entries) may be NULL. */
lt_status lt_sparse_calibrate(double *crossover, lt_sparse_timing *t, const double *dens, int ndens,
                              int rows, int cols, int batch, int reps);
/* A default without measuring, fitted to this engine's kernels on AVX2. */
double lt_sparse_crossover(int rows, int cols, int batch);

#endif
