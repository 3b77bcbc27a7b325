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

#include <stddef.h>
#include <stdint.h>

#include "lotto/status.h"

/* ---- CSR (src/sparse/sparse_csr.c) ---- */
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

/* ---- CSR kernels on transposed activations (src/sparse/sparse_kernels.c) ----
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

/* ---- layers on (B, features) activations (src/sparse/sparse_linear.c) ---- */
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
/* dst = src^T, cache-blocked (8x8 AVX tiles where available). */
void lt_transpose(float *dst, int ldd,                // dst is (cols, rows)
                  const float *src, int lds,          // src is (rows, cols)
                  int rows, int cols);
/* dst += src^T, the same way (one add per element, in no particular order between elements). */
void lt_transpose_add(float *dst, int ldd, const float *src, int lds, int rows, int cols);

/* ---- n:m structured sparsity along the input dim (src/sparse/sparse_nm.c) ----
 * In every group of m consecutive inputs of a row at most n weights survive.
 * Stored as k = cols/m*n slots per row: values and the in-group offset; a
 * group with fewer than n survivors has padding slots (LT_NM_PAD, value 0)
 * that the kernels skip and that never receive a gradient. */
#define LT_NM_PAD 0x80
typedef struct lt_nm {
  int rows, cols, n, m, k; /* k = cols / m * n slots per row */
  float *val;              /* (rows, k) */
  uint8_t *idx;            /* (rows, k): offset in the group, or LT_NM_PAD */
  /* The same slots in the order the fast forward reads them (kept in step by
   * lt_nm_build and lt_nm_refresh; NULL where that kernel cannot run): block
   * after block of LT_NM_BLOCK_GROUPS(m) groups, in each block row after row. */
  float *pval;
  uint8_t *pidx;
} lt_nm;
/* Groups of m inputs per block of the fast forward: 64 inputs, at least one group. */
#define LT_NM_BLOCK_GROUPS(m) ((m) < 64 ? 64 / (m) : 1)

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
/* The forward above runs a blocked AVX2+FMA kernel where the CPU has it
 * (checked at run time, whatever the build's flags), else a portable one; the
 * two agree to float rounding. lt_nm_use_simd(0) picks the portable kernel,
 * (1) the fast one where supported, (-1) only asks; returns the setting before
 * the call (process-wide; for tests and benchmarks). lt_nm_simd_active: the
 * forward runs the AVX2 kernel now. */
int lt_nm_use_simd(int on);
int lt_nm_simd_active(void);
/* dxt = A^T . dyt (overwritten, or added to if accumulate). */
lt_status lt_nm_backward_input_t(float *dxt, int ldx, // dxt is (a->cols, n)
                                 const lt_nm *a, const float *dyt, int ldd, // dyt is (a->rows, n)
                                 int n, int accumulate);
/* g[r, s] += sum_j dyt[r, j] * xt[col(r, s), j] on non-padding slots. */
lt_status lt_nm_weight_grad_t(float *g,               // g is (a->rows, a->k)
                              const lt_nm *a, const float *dyt, int ldd,
                              const float *xt, int ldx, int n);

/* ---- dense/sparse crossover (src/sparse/sparse_calib.c) ---- */
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
/* The same cost model with a machine's two rates: dense time per multiply-add (ns;
 * LT_SPARSE_DENSE_MAC_NS where the default was fitted) and the sparse kernels' time
 * relative to that machine's (1.0 there). */
#define LT_SPARSE_DENSE_MAC_NS 0.020
double lt_sparse_crossover_model(int rows, int cols, int batch, double dense_mac_ns, double sparse_scale);
/* Measures the two rates on this machine, BLAS kernel and lt_get_threads() (best
 * of three rounds, about 0.1 s): what auto dispatch uses for shapes with no
 * calibrated entry. LT_ERANGE when the sparse scale comes out above
 * lt_sparse_scale_max() (a busy machine, not a CPU): nothing to record. */
lt_status lt_sparse_calibrate_machine(double *dense_mac_ns, double *sparse_scale);
/* The largest sparse scale this build's kernels can give: 20 in an optimised AVX2
 * build (this engine's kernels measured 1-2.5 on Zen 3 and Zen 4), 1000 (the
 * limit of a valid entry) in portable or debug builds, whose kernels are slower. */
double lt_sparse_scale_max(void);
/* The same bound for the build a machine key names ("Zen": 20; "Zen+portable+debug": 1000). */
double lt_sparse_scale_max_for(const char *key);
/* The key under which this process's machine rates are recorded: the BLAS core
 * name ("generic" when none), plus "+portable" for a build without AVX2 and
 * "+debug" for an unoptimised or sanitized one, so that builds sharing a cache
 * file never use each other's rates. */
const char *lt_sparse_machine_key(void);

/* ---- dispatch: dense or CSR per layer and per call (src/sparse/sparse_dispatch.c) ----
 * A prunable layer (linear, conv2d) owns an lt_spd. Before each forward it
 * asks lt_spd_prepare whether to run sparse: the layer's own mode if set,
 * else the global mode; in LT_SPARSE_AUTO, sparse when the mask's density is
 * below the crossover for its shape at this many columns (batch, or output
 * pixels for a convolution) and thread count. The crossover is a calibrated
 * entry (lt_sparse_crossover_set, or the cache file written by
 * lt_sparse_cache_save and read once, lazily, on the first auto decision)
 * for the same shape at the nearest batch, else lt_sparse_crossover.
 *
 * The CSR is rebuilt when the model's mask version changes and its values are
 * re-read from the dense weight at every prepare (O(nnz); the optimizer writes
 * the dense buffer, and any code may write it between calls), unless the layer
 * is frozen (inference-only copies whose weights cannot change). The transpose
 * for the input gradient is built on first use and refreshed from the CSR's
 * values through a permutation (O(nnz)). */
typedef enum {
  LT_SPARSE_AUTO = 0,  /* by density against the crossover */
  LT_SPARSE_DENSE = 1, /* always sgemm */
  LT_SPARSE_FORCE = 2, /* always CSR ("sparse" in Lua) */
  LT_SPARSE_NM = 3,    /* the sparse path, with forwards on the n:m kernels when the
                        * mask keeps at most 1 of 4, 2 of 4 or 4 of 8 inputs (else CSR).
                        * AUTO runs such a mask on the n:m forward too, at inference in
                        * a frozen layer (lotto.sparse.load, set_layer{frozen = true}),
                        * with the AVX2 kernel, 32 columns or more (batch, or pixels of
                        * a convolution's image) and 64 rows or more, where it beats sgemm (measured in
                        * examples/bench_structured.lua); training stays dense or CSR */
} lt_sparse_mode;
void lt_sparse_set_mode(lt_sparse_mode mode); /* global, process-wide; default AUTO */
lt_sparse_mode lt_sparse_get_mode(void);
const char *lt_sparse_mode_name(lt_sparse_mode mode); /* "auto", "dense", "sparse", "nm" */
int lt_sparse_mode_parse(const char *s);              /* the mode, or -1 for an unknown name */

/* The density below which a (rows, cols) weight times (cols, n) runs sparse
 * with the current lt_get_threads(): a calibrated entry for this shape and
 * thread count at the nearest n (log scale), else the cost model with this
 * machine's rates for the BLAS kernel in use (lt_blas_corename) and thread count,
 * else the heuristic. *measured (may be NULL): 1 for a calibrated entry, 2 for the
 * machine's rates, 0 for the heuristic. Loads the default cache on first use; a
 * malformed cache is reported on stderr and replaced. Without rates for this
 * (kernel, threads) and with auto calibration on, measures them once
 * (lt_sparse_calibrate_machine) and writes them to the cache. */
double lt_sparse_crossover_get(int rows, int cols, int n, int *measured);
/* Auto calibration on (1, the default unless LOTTO_CALIBRATE=0) or off; returns the
 * previous setting. A run that decides by a pinned table turns it off. */
int lt_sparse_set_autocalibrate(int on);
/* The machine rates in the table: set (replace for the same kernel name and
 * threads), count, entry i. kernel: at most 63 characters. */
lt_status lt_sparse_machine_set(const char *kernel, int threads, double dense_mac_ns, double sparse_scale);
int lt_sparse_machine_count(void);
lt_status lt_sparse_machine_entry(int i, const char **kernel, int *threads, double *dense_mac_ns, double *sparse_scale);
/* Adds or replaces a calibrated entry. LT_EINVAL on bad sizes or density outside [0, 1]. */
lt_status lt_sparse_crossover_set(int rows, int cols, int n, int threads, double density);
/* Forgets all entries (and machine rates); the default cache is not read again until lt_sparse_cache_load. */
void lt_sparse_crossover_clear(void);
int lt_sparse_crossover_count(void);
/* Entry i (0-based) or LT_ERANGE. */
lt_status lt_sparse_crossover_entry(int i, int *rows, int *cols, int *n, int *threads, double *density);
/* The cache file: $LOTTO_CACHE/crossover.json, else $XDG_CACHE_HOME/lotto/crossover.json,
 * else $HOME/.cache/lotto/crossover.json. LT_EINVAL when none can be formed or it is too long. */
lt_status lt_sparse_cache_path(char *buf, size_t n);
/* Merges the entries of a cache file (path NULL: the default) into the table.
 * LT_EIO when missing, LT_EFORMAT (naming the file) when malformed. From the
 * default cache, machine rates with a sparse scale above lt_sparse_scale_max_for()
 * their key are left out (measured on a busy machine; measured again); a named file is obeyed. */
lt_status lt_sparse_cache_load(const char *path);
/* Writes the whole table atomically (path NULL: the default; parent directories are created). */
lt_status lt_sparse_cache_save(const char *path);

/* What a layer's dispatch did last, for reports and tests (lt_layer_sparse_info in lotto/nn.h). */
typedef struct lt_spd_info {
  int sparse;            /* the last prepare chose the CSR kernels */
  lt_sparse_mode mode;   /* the layer's own setting */
  int frozen;
  double density;        /* of the mask at the current version (1 before any prepare) */
  int64_t nnz;
  double crossover;      /* threshold of the last auto decision (-1 if none) */
  int measured;          /* that threshold came from a calibrated entry */
  int n;                 /* columns of the last prepare */
  uint64_t builds;       /* CSR pattern builds */
  uint64_t refreshes;    /* value refreshes of the CSR */
  uint64_t tbuilds;      /* transpose builds */
  int nm_n, nm_m;        /* the n:m pattern the forwards run on (LT_SPARSE_NM), 0 when none */
} lt_spd_info;

/* Lagging dense buffers. While lazy is on (per thread; off by default), a sparse
 * linear backward that overwrites its weight gradient keeps it compact and leaves
 * the dense gradient as it was; an optimizer that stepped a layer's compact weights
 * (lt_layer_compact_written) leaves its dense weight as it was. lt_sparse_sync
 * writes every lagging layer's compact weights and gradients into its dense
 * buffers; call it before reading a model's values or grads (the Lua bindings do,
 * at every entry that can observe them). A layer also writes its own back before a
 * new mask version, a dense forward or its free. Results are bit-identical. */
int lt_sparse_set_lazy(int on); /* returns the previous setting */
void lt_sparse_sync(void);
/* Process-wide: 0 keeps every dense buffer written at every step (the path before
 * lagging buffers, for comparisons); returns the previous setting (default 1). */
int lt_sparse_allow_lazy(int on);
int lt_sparse_lazy_allowed(void);

/* The row stride of the transposed activations of a batch of B: B rounded up
 * so that every row starts on a cache line. */
static inline int lt_sparse_ld(int B) { return (B + 15) & ~15; }

#endif
