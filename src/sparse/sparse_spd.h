/* sparse_spd.h: internals of src/sparse/ only: the per-layer dispatch state
 * (sparse_dispatch.c) and the O(nnz) passes over dense weight-shaped buffers with
 * the write-back of lagging ones (sparse_pass.c), which reads that state. */
#ifndef LOTTO_SPARSE_SPD_H
#define LOTTO_SPARSE_SPD_H

#include "lotto/sparse.h"
#include "sparse/sparse_dispatch.h"

struct lt_spd {
  lt_sparse_mode mode;
  double user_cross;       /* < 0: the machine's */
  int frozen;
  int rows, cols;
  int counted;             /* nnz counted for `version` */
  uint64_t version;
  int64_t nnz;
  lt_csr *a, *at;
  int32_t *perm;           /* at->val[k] = a->val[perm[k]] */
  size_t perm_cap;
  int built, tbuilt, tfresh;
  const float *wsrc;       /* the dense weight of the last prepare */
  int vstale;              /* a->val not yet re-read from wsrc since that prepare */
  unsigned cgen;           /* cached lookup: table generation, n, threads */
  int cn, cthreads, cvalid, cmeasured;
  double cx;
  float *xt, *yt, *dxt, *g; /* transposed activations (ld floats per row), conv gradient */
  size_t xt_cap, yt_cap, dxt_cap, g_cap;
  int B, ld;               /* batch of the last linear forward, and the stride of its scratch */
  const float *xin;        /* its input, transposed: xt or the caller's (borrowed) */
  int xin_ld;
  int clean;               /* the weight gradient is zero off the mask of clean_version */
  uint64_t clean_version;
  int overwrite;           /* the next linear backward writes dw instead of adding */
  int gfresh;              /* g holds the weight gradient the last backward wrote (lt_spd_compact) */
  lt_nm *nm;               /* LT_SPARSE_NM: the mask as n:m, when it is one (forwards) */
  int nm_built, nm_stale;  /* nm holds this version's pattern; its values need a re-read */
  int nm_n, nm_m;          /* that pattern (0: the mask fits none) */
  int inference;           /* the next forward runs no backward (lt_spd_set_inference) */
  int wlag, glag;          /* the dense weight (wsrc) / gradient (gdst) lag behind a->val / g */
  float *gdst;             /* the dense gradient the last lazy backward did not write */
  int listed;              /* in the lag list (lt_sparse_sync) */
  lt_spd_info info;
};

/* ---- sparse_pass.c ---- */
/* dense (rows, cols) at a's pattern: refresh reads it into vals, zero clears it,
 * scatter adds vals, set writes vals; split over the pool. */
enum { PASS_REFRESH, PASS_ZERO, PASS_SCATTER, PASS_SET };
void lt_spd_run_pass(const lt_csr *a, int op, float *dense, float *vals);
/* d's buffers now lag (d->wlag / d->glag set by the caller): it joins the list that
 * lt_sparse_sync writes back (or is written back now when the list is full). */
void lt_spd_lag_add(lt_spd *d);
/* Writes d's lagging buffers back and takes it off the list (nothing when not listed). */
void lt_spd_sync(lt_spd *d);
/* The calling thread's lazy setting (lt_sparse_set_lazy). */
int lt_spd_lazy_on(void);

#endif
