/* sparse_pass.c: O(nnz) passes over the dense weight-shaped buffers of sparse
 * layers (refresh, zero, scatter, set at a CSR's pattern), and the dense buffers
 * that lag behind their layers' compact copies: the list of such layers and its
 * write-back (lt_sparse_sync). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "lotto/sparse.h"
#include "sparse/sparse_impl.h"
#include "sparse/sparse_spd.h"

/* ---- O(nnz) passes over dense weight-shaped buffers, split over the pool ----
 * Each touches one cache line of a (rows, cols) buffer per kept weight or so:
 * memory latency, not arithmetic, so two cores halve it. */
typedef struct pass_job {
  const lt_csr *a;
  float *dense;            /* (rows, cols): read (refresh) or written (zero, scatter) */
  float *vals;             /* (nnz): written (refresh) or read (scatter) */
  int op;
  int bounds[LT_POOL_MAXPARTS + 1];
} pass_job;

static void pass_part(void *arg, int part) {
  const pass_job *j = arg;
  const lt_csr *a = j->a;
  const int32_t *rp = a->rowptr, *ci = a->colidx;
  for (int r = j->bounds[part]; r < j->bounds[part + 1]; r++) {
    float *row = j->dense + (size_t)r * a->cols;
    int32_t k0 = rp[r], k1 = rp[r + 1];
    if (j->op == PASS_REFRESH)
      for (int32_t k = k0; k < k1; k++) j->vals[k] = row[ci[k]];
    else if (j->op == PASS_ZERO)
      for (int32_t k = k0; k < k1; k++) row[ci[k]] = 0.0f;
    else if (j->op == PASS_SET)
      for (int32_t k = k0; k < k1; k++) row[ci[k]] = j->vals[k];
    else
      for (int32_t k = k0; k < k1; k++) row[ci[k]] += j->vals[k];
  }
}

/* About the cost of 16 multiply-adds per entry (measured: LeNet's fc1 at 3.6%,
 * 8,500 entries, takes ~5 us): below ~16,000 entries one thread. */
void lt_spd_run_pass(const lt_csr *a, int op, float *dense, float *vals) {
  pass_job j = {a, dense, vals, op, {0}};
  int np = lt_pool_nparts(16.0 * a->nnz, a->rows);
  lt_sp_partition(j.bounds, a->rowptr, a->rows, np);
  lt_pool_run(np, pass_part, &j);
}

/* ---- dense buffers lagging behind the compact copies ----
 * In a training loop (lt_sparse_set_lazy on around the model's step, the
 * optimizer stepping the compact copies) the dense weight and gradient of a
 * sparse layer are not written every step: the CSR values and the compact
 * gradient are the truth until lt_sparse_sync writes them back (the bindings
 * call it before anything can read a model's buffers). A layer with lagging
 * buffers is in one process-wide list. */
#define LAG_MAX 64
static pthread_mutex_t lag_lock = PTHREAD_MUTEX_INITIALIZER;
static lt_spd *lag_list[LAG_MAX];
static atomic_int lag_count;
static _Thread_local int lazy_on;
static atomic_int lazy_allowed = 1;

int lt_sparse_set_lazy(int on) {
  int was = lazy_on;
  lazy_on = on != 0 && atomic_load(&lazy_allowed);
  return was;
}

int lt_sparse_allow_lazy(int on) {
  if (!on) lt_sparse_sync();
  return atomic_exchange(&lazy_allowed, on != 0);
}

int lt_sparse_lazy_allowed(void) { return atomic_load(&lazy_allowed); }
int lt_spd_lazy_on(void) { return lazy_on; }


/* Writes d's lagging dense buffers from its compact copies (the caller holds lag_lock or d is unlisted). */
static void sync_one(lt_spd *d) {
  if (d->wlag) lt_spd_run_pass(d->a, PASS_SET, (float *)d->wsrc, d->a->val);
  if (d->glag) lt_spd_run_pass(d->a, PASS_SET, d->gdst, d->g);
  d->wlag = d->glag = 0;
}

/* Takes d out of the list after writing its buffers. */
void lt_spd_sync(lt_spd *d) {
  if (!d->listed) return;
  pthread_mutex_lock(&lag_lock);
  sync_one(d);
  int n = atomic_load(&lag_count);
  for (int i = 0; i < n; i++)
    if (lag_list[i] == d) {
      lag_list[i] = lag_list[--n];
      break;
    }
  atomic_store(&lag_count, n);
  d->listed = 0;
  pthread_mutex_unlock(&lag_lock);
}

/* d's buffers now lag (flags set by the caller): listed, or written now when the list is full. */
void lt_spd_lag_add(lt_spd *d) {
  if (d->listed) return;
  pthread_mutex_lock(&lag_lock);
  int n = atomic_load(&lag_count);
  if (n < LAG_MAX) {
    lag_list[n] = d;
    d->listed = 1;
    atomic_store(&lag_count, n + 1);
  } else {
    sync_one(d);
  }
  pthread_mutex_unlock(&lag_lock);
}

void lt_sparse_sync(void) {
  if (!atomic_load_explicit(&lag_count, memory_order_relaxed)) return;
  pthread_mutex_lock(&lag_lock);
  int n = atomic_load(&lag_count);
  for (int i = 0; i < n; i++) {
    sync_one(lag_list[i]);
    lag_list[i]->listed = 0;
  }
  atomic_store(&lag_count, 0);
  pthread_mutex_unlock(&lag_lock);
}
