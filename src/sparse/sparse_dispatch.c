/* sparse_dispatch.c: a prunable layer's dispatch state between dense sgemm
 * and the CSR kernels: the decision per call (its own mode, else the global
 * one, else its density against the crossover of sparse_crossover.c), the CSR
 * and its transpose kept in step with the mask version and the dense values,
 * transposed-activation buffers, and the layer products. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/sparse.h"
#include "lotto/tensor.h"
#include "sparse/sparse_dispatch.h"
#include "sparse/sparse_impl.h"
#include "sparse/sparse_spd.h"


void lt_spd_values_lag(lt_spd *d) {
  if (!d || !d->built || !d->wsrc) return;
  d->wlag = 1;
  d->vstale = 0; /* the compact values are the newest */
  lt_spd_lag_add(d);
}

lt_spd *lt_spd_new(void) {
  lt_spd *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->a = lt_csr_new();
  d->at = lt_csr_new();
  if (!d->a || !d->at) {
    lt_spd_free(d);
    return NULL;
  }
  d->user_cross = -1;
  d->info.density = 1;
  d->info.crossover = -1;
  return d;
}

void lt_spd_free(lt_spd *d) {
  if (!d) return;
  lt_spd_sync(d); /* the model frees its layers before its flat buffers */
  lt_csr_free(d->a);
  lt_csr_free(d->at);
  lt_nm_free(d->nm);
  free(d->perm);
  free(d->xt);
  free(d->yt);
  free(d->dxt);
  free(d->g);
  free(d);
}

void lt_spd_set_mode(lt_spd *d, lt_sparse_mode mode) { d->mode = mode; }
void lt_spd_set_crossover(lt_spd *d, double density) { d->user_cross = density; }
void lt_spd_set_frozen(lt_spd *d, int frozen) {
  lt_spd_sync(d);
  if (frozen && !d->frozen) d->built = 0; /* values are read once more at the next build */
  d->frozen = frozen != 0;
}
void lt_spd_set_inference(lt_spd *d, int inference) { d->inference = inference; }
void lt_spd_get_info(const lt_spd *d, lt_spd_info *info) {
  *info = d->info;
  info->mode = d->mode;
  info->frozen = d->frozen;
}
static void ensure_vals(lt_spd *d);

/* A zeroed, 64-byte aligned buffer of at least n floats (kept and grown). The
 * zeros matter once: the kernels may read a whole last vector past B. */
static lt_status grow(float **p, size_t *cap, size_t n) {
  if (n <= *cap && *p) return LT_OK;
  size_t c = n + n / 4 + 16, bytes = (c * sizeof(float) + 63) & ~(size_t)63;
  float *q = lt_floats_alloc(c);
  if (!q) return lt_error(LT_ENOMEM, "sparse layer: out of memory for %zu floats", n);
  memset(q, 0, bytes);
  free(*p);
  *p = q;
  *cap = c;
  return LT_OK;
}


/* lt_transpose split into column panels over the pool (large activations only). */
typedef struct tr_job {
  float *dst; const float *src;
  int ldd, lds, rows, cols, per;
} tr_job;

static void tr_part(void *arg, int part) {
  const tr_job *j = arg;
  int c0 = part * j->per, c1 = c0 + j->per < j->cols ? c0 + j->per : j->cols;
  if (c1 > c0) lt_transpose(j->dst + (size_t)c0 * j->ldd, j->ldd, j->src + c0, j->lds, j->rows, c1 - c0);
}

static void transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols) {
  int np = lt_pool_nparts(4.0 * rows * cols, cols / 8);
  tr_job j = {dst, src, ldd, lds, rows, cols, ((cols + np - 1) / np + 7) & ~7};
  lt_pool_run(np, tr_part, &j);
}

static double decide_cross(lt_spd *d, int n) {
  if (d->user_cross >= 0) {
    d->info.measured = 0;
    return d->user_cross;
  }
  int threads = lt_get_threads();
  unsigned gen = lt_sparse_crossover_generation();
  if (!d->cvalid || d->cn != n || d->cthreads != threads || d->cgen != gen) {
    d->cx = lt_sparse_crossover_get(d->rows, d->cols, n, &d->cmeasured);
    /* the lookup may have loaded the cache: record the generation after it */
    d->cgen = lt_sparse_crossover_generation(), d->cn = n, d->cthreads = threads, d->cvalid = 1;
  }
  d->info.measured = d->cmeasured;
  return d->cx;
}

/* LT_SPARSE_NM: the mask as the first of 1:4, 2:4, 4:8 that it fits (built once per
 * mask version; values re-read at the next forward), else none (the CSR runs). */
static lt_status prepare_nm(lt_spd *d, const float *w, const float *mask, int rows, int cols) {
  static const int pat[][2] = {{1, 4}, {2, 4}, {4, 8}};
  if (d->nm_built) {
    d->nm_stale = d->nm_n > 0 && !d->frozen;
  } else {
    if (!d->nm && !(d->nm = lt_nm_new())) return lt_error(LT_ENOMEM, "sparse layer: out of memory for its n:m form");
    d->nm_n = d->nm_m = 0;
    for (int i = 0; i < 3 && !d->nm_n; i++) {
      if (cols % pat[i][1]) continue;
      lt_status st = lt_nm_build(d->nm, w, mask, rows, cols, pat[i][0], pat[i][1]);
      if (st == LT_OK) d->nm_n = pat[i][0], d->nm_m = pat[i][1];
      else if (st != LT_EINVAL) return st; /* EINVAL: the mask does not fit this pattern; try the next */
    }
    d->nm_built = 1, d->nm_stale = 0;
  }
  d->info.nm_n = d->nm_n, d->info.nm_m = d->nm_m;
  return LT_OK;
}

lt_status lt_spd_prepare(lt_spd *d, const float *w, const float *mask, int rows, int cols, int n,
                         uint64_t mask_version, int *sparse) {
  if (!d || !sparse || rows < 1 || cols < 1 || n < 0 || !w || !mask)
    return lt_error(LT_EINVAL, "lt_spd_prepare: bad arguments (rows %d, cols %d, n %d)", rows, cols, n);
  /* lagging buffers are written back before anything reads the dense ones: a new
   * mask (the CSR is rebuilt from them) or another weight buffer */
  if (d->listed && (d->version != mask_version || d->rows != rows || d->cols != cols || !d->built || d->wsrc != w))
    lt_spd_sync(d);
  if (!d->counted || d->version != mask_version || d->rows != rows || d->cols != cols) {
    size_t total = (size_t)rows * cols;
    int64_t nnz = lt_count_nonzero(mask, total);
    d->rows = rows, d->cols = cols, d->version = mask_version, d->counted = 1, d->nnz = nnz;
    d->built = d->tbuilt = 0, d->cvalid = 0;
    d->info.nnz = nnz;
    d->info.density = (double)nnz / (double)total;
  }
  lt_sparse_mode m = d->mode != LT_SPARSE_AUTO ? d->mode : lt_sparse_get_mode();
  int s, nm = 0;
  if (m == LT_SPARSE_AUTO) {
    double c = decide_cross(d, n > 0 ? n : 1);
    d->info.crossover = c;
    s = d->info.density < c;
    /* (1:4, 2:4 and 4:8 keep at most half: a denser mask fits none, so it is not tried) */
    nm = d->inference && d->frozen && n >= LT_NM_AUTO_MIN_COLS && rows >= LT_NM_AUTO_MIN_ROWS &&
         (d->inference != LT_SPD_INFER_IMAGE || n <= LT_NM_AUTO_MAX_IMAGE_COLS) &&
         d->info.density <= 0.5 && lt_nm_simd_active();
  } else {
    s = m == LT_SPARSE_FORCE || m == LT_SPARSE_NM;
    nm = m == LT_SPARSE_NM;
  }
  if (!d->built) d->nm_built = 0;
  if (nm) {
    lt_status st = prepare_nm(d, w, mask, rows, cols);
    if (st) return st;
    /* auto: an n:m mask whose slots are mostly kept weights (a very sparse mask fits
     * 1:4 too, as padding, which the CSR skips) runs on the n:m forward */
    if (m == LT_SPARSE_AUTO) {
      if (d->nm_n && d->nnz >= (int64_t)(0.75 * rows * (double)(cols / d->nm_m * d->nm_n))) s = 1;
      else d->info.nm_n = d->info.nm_m = 0;
    }
  } else {
    d->info.nm_n = d->info.nm_m = 0;
  }
  d->info.sparse = s, d->info.n = n;
  d->gfresh = 0;
  *sparse = s;
  if (!s || d->info.nm_n) lt_spd_sync(d); /* the dense products read the dense buffers */
  if (!s) return LT_OK;
  d->wsrc = w;
  if (!d->built) {
    lt_status st = lt_csr_build(d->a, w, mask, rows, cols);
    if (st) return st;
    d->built = 1, d->tbuilt = 0, d->tfresh = 0, d->vstale = 0;
    d->info.builds++;
  } else if (d->wlag) {
    d->tfresh = 0; /* the CSR values are newer than the dense weight: nothing to re-read */
  } else if (!d->frozen) {
    /* re-read lazily: a linear forward reads the dense weight directly, and
     * only the transpose (an input gradient) or a convolution needs the values */
    d->vstale = 1, d->tfresh = 0;
    d->info.refreshes++;
  }
  return LT_OK;
}

/* The CSR's values from the dense weight, when stale. */
static void ensure_vals(lt_spd *d) {
  if (!d->vstale) return;
  lt_spd_run_pass(d->a, PASS_REFRESH, (float *)d->wsrc, d->a->val);
  d->vstale = 0, d->tfresh = 0;
}

/* C^T = A . B^T (+ bias) with the weights as of the last prepare: straight from
 * the dense weight while the values are stale and one column chunk covers n
 * (several chunks would read each weight again per chunk). relu: each result
 * is stored rectified (x > 0 ? x : 0), the next layer's work done in passing. */
static lt_status spmm_now(lt_spd *d, float *ct, int ldc, const float *bt, int ldb, int n, const float *bias,
                          int relu) {
  if (d->info.nm_n) { /* LT_SPARSE_NM with an n:m mask: the same product on the n:m kernels */
    if (d->nm_stale) lt_nm_refresh(d->nm, d->wsrc), d->nm_stale = 0;
    lt_status st = lt_nm_forward_t(ct, ldc, d->nm, bt, ldb, n, bias);
    for (int r = 0; relu && !st && r < d->nm->rows; r++)
      for (int j = 0; j < n; j++) ct[(size_t)r * ldc + j] = ct[(size_t)r * ldc + j] > 0.0f ? ct[(size_t)r * ldc + j] : 0.0f;
    return st;
  }
  if (d->vstale && n <= 64 && n > 0) {
    /* the values are read from the dense weight and stored in passing: fresh afterwards */
    lt_status st = lt_sp_spmm_w(ct, ldc, d->a, d->wsrc, d->a->cols, bt, ldb, n, bias, d->a->val, relu);
    if (!st) d->vstale = 0;
    return st;
  }
  ensure_vals(d);
  return lt_sp_spmm_t(ct, ldc, d->a, bt, ldb, n, bias, relu, NULL, 0);
}

lt_status lt_spd_transposed(lt_spd *d, const lt_csr **at) {
  if (!d->built) return lt_error(LT_EINVAL, "sparse layer: transpose requested before a sparse prepare");
  ensure_vals(d);
  const lt_csr *a = d->a;
  if (!d->tbuilt) {
    lt_status st = lt_csr_transpose(d->at, a);
    if (st) return st;
    if ((size_t)a->nnz > d->perm_cap || !d->perm) {
      int32_t *p = realloc(d->perm, ((size_t)a->nnz + 1) * sizeof *p);
      if (!p) return lt_error(LT_ENOMEM, "sparse layer: out of memory for %d indices", a->nnz);
      d->perm = p, d->perm_cap = (size_t)a->nnz + 1;
    }
    /* the same counting-sort walk as lt_csr_transpose: entry k of a lands at cursor[col]++ */
    int32_t *cur = malloc(((size_t)a->cols + 1) * sizeof *cur);
    if (!cur) return lt_error(LT_ENOMEM, "sparse layer: out of memory for %d indices", a->cols);
    memcpy(cur, d->at->rowptr, (size_t)a->cols * sizeof *cur);
    for (int r = 0; r < a->rows; r++)
      for (int32_t k = a->rowptr[r]; k < a->rowptr[r + 1]; k++) d->perm[cur[a->colidx[k]]++] = k;
    free(cur);
    d->tbuilt = d->tfresh = 1;
    d->info.tbuilds++;
  } else if (!d->tfresh) {
    float *tv = d->at->val;
    const float *v = a->val;
    const int32_t *p = d->perm;
    for (int32_t k = 0; k < a->nnz; k++) tv[k] = v[p[k]];
    d->tfresh = 1;
  }
  *at = d->at;
  return LT_OK;
}

/* Transposed activations: every row starts on a cache line (see sparse.h). */

lt_status lt_spd_linear_forward_ld(lt_spd *d, float *y, int y_ld, const float *x, int x_ld, const float *bias,
                                   int B, int relu) {
  if (!d->built || B < 1 || (x_ld && x_ld < B) || (y_ld && y_ld < B))
    return lt_error(LT_EINVAL, "sparse linear forward: needs a sparse prepare, B >= 1 and strides >= B");
  const lt_csr *a = d->a;
  int ld = lt_sparse_ld(B);
  lt_status st;
  if (!x_ld) {
    if ((st = grow(&d->xt, &d->xt_cap, (size_t)a->cols * ld))) return st;
    transpose(d->xt, ld, x, a->cols, B, a->cols);
    d->xin = d->xt, d->xin_ld = ld;
  } else {
    d->xin = x, d->xin_ld = x_ld;
  }
  if (y_ld) {
    st = spmm_now(d, y, y_ld, d->xin, d->xin_ld, B, bias, relu);
  } else {
    if ((st = grow(&d->yt, &d->yt_cap, (size_t)a->rows * ld))) return st;
    st = spmm_now(d, d->yt, ld, d->xin, d->xin_ld, B, bias, relu);
    if (!st) transpose(y, a->rows, d->yt, ld, a->rows, B);
  }
  if (st) return st;
  d->B = B, d->ld = ld;
  return LT_OK;
}


lt_status lt_spd_linear_backward_ld(lt_spd *d, float *dx, int dx_ld, float *dw, const float *dy, int dy_ld, int B,
                                    int mask_dx) {
  const int overwrite = d->overwrite; /* this call only, whatever happens */
  d->overwrite = 0;
  if (!d->built || B != d->B || (dx_ld && dx_ld < B) || (dy_ld && dy_ld < B))
    return lt_error(LT_EINVAL, "sparse linear backward: batch %d does not follow a sparse forward (batch %d)", B, d->B);
  const lt_csr *a = d->a;
  int ld = d->ld;
  lt_status st;
  const float *dyt = dy;
  int ldd = dy_ld;
  if (!dy_ld) {
    if ((st = grow(&d->yt, &d->yt_cap, (size_t)a->rows * ld))) return st;
    transpose(d->yt, ld, dy, a->rows, B, a->rows);
    dyt = d->yt, ldd = ld;
  }
  if (dw && overwrite && !(d->clean && d->clean_version == d->version)) {
    /* nothing known about the entries off the pattern: clear them all once */
    memset(dw, 0, (size_t)a->rows * a->cols * sizeof *dw);
    d->clean = 1, d->clean_version = d->version;
  }
  if (dw && d->glag && (!overwrite || dw != d->gdst)) lt_spd_sync(d); /* adds to the dense one */
  if (dw && a->nnz) {
    if ((st = grow(&d->g, &d->g_cap, (size_t)a->nnz))) return st;
    memset(d->g, 0, (size_t)a->nnz * sizeof *d->g);
    if ((st = lt_csr_sddmm_t(d->g, a, dyt, ldd, d->xin, d->xin_ld, B))) return st;
    if (overwrite && lt_spd_lazy_on()) { /* written back by lt_sparse_sync */
      d->glag = 1, d->gdst = dw;
      lt_spd_lag_add(d);
    } else {
      lt_spd_run_pass(a, overwrite ? PASS_SET : PASS_SCATTER, dw, d->g);
    }
    d->gfresh = overwrite; /* added to older gradients, g alone is not dw */
  }
  if (!dx) return LT_OK;
  const lt_csr *at;
  if ((st = lt_spd_transposed(d, &at))) return st;
  /* the forward's input, transposed, is the rectifier's output whose backward is done here */
  const float *m = mask_dx ? d->xin : NULL;
  if (dx_ld) return lt_sp_spmm_t(dx, dx_ld, at, dyt, ldd, B, NULL, 0, m, d->xin_ld);
  if ((st = grow(&d->dxt, &d->dxt_cap, (size_t)a->cols * ld))) return st;
  if ((st = lt_sp_spmm_t(d->dxt, ld, at, dyt, ldd, B, NULL, 0, m, d->xin_ld))) return st;
  transpose(dx, a->cols, d->dxt, ld, a->cols, B);
  return LT_OK;
}


lt_status lt_spd_conv_forward(lt_spd *d, float *y, const float *cols, const float *bias, int P) {
  if (!d->built) return lt_error(LT_EINVAL, "sparse conv forward: needs a sparse prepare");
  if (d->info.nm_n) return spmm_now(d, y, P, cols, P, P, bias, 0);
  ensure_vals(d);
  return lt_csr_spmm_t(y, P, d->a, cols, P, P, bias, 0);
}

lt_status lt_spd_conv_backward_begin(lt_spd *d, int need_dx) {
  if (!d->built) return lt_error(LT_EINVAL, "sparse conv backward: needs a sparse forward");
  lt_status st = grow(&d->g, &d->g_cap, (size_t)d->a->nnz);
  if (st) return st;
  memset(d->g, 0, (size_t)d->a->nnz * sizeof *d->g);
  const lt_csr *at;
  return need_dx ? lt_spd_transposed(d, &at) : LT_OK;
}

lt_status lt_spd_conv_backward_image(lt_spd *d, float *dcols, const float *dy, const float *cols, int P) {
  lt_status st = lt_csr_sddmm_t(d->g, d->a, dy, P, cols, P, P);
  if (st || !dcols) return st;
  if (!d->tbuilt || !d->tfresh) return lt_error(LT_EINVAL, "sparse conv backward: begin(need_dx = 1) readies dx");
  return lt_csr_spmm_t(dcols, P, d->at, dy, P, P, NULL, 0);
}

lt_status lt_spd_conv_backward_end(lt_spd *d, float *dw) {
  lt_spd_sync(d);
  lt_spd_run_pass(d->a, PASS_SCATTER, dw, d->g);
  return LT_OK;
}

int lt_spd_compact(lt_spd *d, uint64_t mask_version, float **val, const float **grad, size_t *nnz) {
  if (!d || !d->built || !d->info.sparse || d->info.nm_n || d->frozen || d->version != mask_version || d->vstale ||
      !d->gfresh)
    return 0;
  *val = d->a->val, *grad = d->g, *nnz = (size_t)d->a->nnz;
  d->gfresh = 0;   /* handed out once */
  d->tfresh = 0;   /* the caller writes the values: the transpose re-reads them */
  return 1;
}

/* ---- per-layer settings through the layer (lotto/nn.h) -------------------- */

/* ---- the gradient's pruned entries (the model, through nn_sparse.c) ----
 * A sparse backward writes the weight gradient on the pattern only, so once
 * the entries off the mask are zero they stay zero: the model can skip
 * masking them and zero only the kept entries. Any dense backward clears it. */

void lt_spd_grad_dirty(lt_spd *d) {
  if (d->glag) d->glag = 0; /* a dense backward wrote the whole gradient: the compact one is older */
  d->clean = 0;
}
void lt_spd_grad_overwrite(lt_spd *d) { d->overwrite = 1; }

int lt_spd_grad_clean(const lt_spd *d, uint64_t mask_version) {
  return d && d->clean && d->clean_version == mask_version;
}

void lt_spd_grad_masked(lt_spd *d, uint64_t mask_version) {
  if (d) d->clean = 1, d->clean_version = mask_version;
}

int lt_spd_zero_grad_kept(lt_spd *d, float *grad, uint64_t mask_version) {
  /* the pattern must be the current mask's, and the rest already zero */
  if (d && d->glag && grad == d->gdst) d->glag = 0; /* zeroed now: the compact gradient is dropped */
  if (!d || !grad || !d->clean || d->clean_version != mask_version || !d->built || d->version != mask_version)
    return 0;
  lt_spd_run_pass(d->a, PASS_ZERO, grad, NULL);
  return 1;
}
