/* data_loader.c: mini-batches over a data set in a seeded order, epoch after epoch.
 * The order of epoch e depends only on (seed, e), so a resumed run (reset to
 * epoch e, batch b) sees exactly the batches the uninterrupted run saw. */
#include <stdint.h>
#include <stdlib.h>

#include "lotto/data.h"

struct lt_loader {
  lt_dataset *d;
  int64_t batch, n, nbatches;
  uint64_t seed;
  int shuffle, drop_last;
  int aug_pad, aug_flip; /* lt_loader_set_augment */
  int64_t epoch, pos; /* epochs completed; next row of perm to serve */
  int64_t *perm;
  lt_tensor *xb, *yb;     /* full batches, min(batch, n) rows */
  lt_tensor *xp, *yp;     /* views of the final partial batch, or NULL */
  int transposed;         /* lt_loader_set_transposed: x batches are xt, xtp */
  lt_tensor *xt, *xtp;    /* (rows, F) and (rem, F) views, strides (1, ld), of one (F, ld) block */
};

static lt_tensor *batch_like(const lt_tensor *t, int64_t rows) {
  int64_t shape[LT_MAXDIM];
  for (int k = 0; k < t->ndim; k++) shape[k] = t->shape[k];
  shape[0] = rows;
  return lt_tensor_new(t->ndim, shape);
}

/* The order of epoch l->epoch. */
static void make_order(lt_loader *l) {
  if (!l->shuffle) {
    for (int64_t i = 0; i < l->n; i++) l->perm[i] = i;
    return;
  }
  lt_rng r;
  lt_rng_seed(&r, l->seed ^ ((uint64_t)l->epoch * 0x9e3779b97f4a7c15ULL), LT_STREAM_DATA);
  lt_rng_permutation(&r, l->perm, (size_t)l->n);
}

void lt_loader_free(lt_loader *l) {
  if (!l) return;
  lt_tensor_release(l->xb);
  lt_tensor_release(l->yb);
  lt_tensor_release(l->xp);
  lt_tensor_release(l->yp);
  lt_tensor_release(l->xt);
  lt_tensor_release(l->xtp);
  free(l->perm);
  lt_dataset_release(l->d);
  free(l);
}

lt_status lt_loader_new(lt_loader **out, lt_dataset *d, int64_t batch, uint64_t seed, int shuffle, int drop_last) {
  *out = NULL;
  int64_t n = lt_dataset_size(d);
  if (batch < 1) return lt_error(LT_EINVAL, "loader: batch size %lld (need >= 1)", (long long)batch);
  if (n < 1) return lt_error(LT_EINVAL, "loader: the data set is empty");
  lt_loader *l = calloc(1, sizeof *l);
  if (!l) return lt_error(LT_ENOMEM, "loader: out of memory");
  l->d = lt_dataset_retain(d);
  l->batch = batch;
  l->n = n;
  l->seed = seed;
  l->shuffle = shuffle != 0;
  l->drop_last = drop_last != 0;
  l->nbatches = l->drop_last ? n / batch : (n + batch - 1) / batch;
  int64_t rows = batch < n ? batch : n, rem = n % batch;
  l->perm = malloc((size_t)n * sizeof *l->perm);
  l->xb = batch_like(d->x, rows);
  l->yb = batch_like(d->y, rows);
  lt_status s = (l->perm && l->xb && l->yb) ? LT_OK : lt_error(LT_ENOMEM, "loader: out of memory");
  if (!s && rem && batch < n && !l->drop_last) {
    l->xp = lt_tensor_narrow(l->xb, 0, 0, rem);
    l->yp = lt_tensor_narrow(l->yb, 0, 0, rem);
    if (!l->xp || !l->yp) s = LT_ENOMEM;
  }
  if (s) {
    lt_loader_free(l);
    return s;
  }
  make_order(l);
  *out = l;
  return LT_OK;
}

/* Touches each page of the next batch's rows with one prefetch: the step that
 * runs before the next gather hides the page walks and the first memory
 * accesses of rows scattered over a large data set (a whole-row prefetch
 * would stall here on the memory bandwidth instead). Speed only. */
static void prefetch_next(const lt_loader *l) {
  const lt_tensor *t = l->d->x;
  size_t bytes = sizeof(float);
  for (int k = 1; k < t->ndim; k++) bytes *= (size_t)t->shape[k];
  const char *x = (const char *)lt_tensor_data(t);
  const float *y = lt_tensor_data(l->d->y);
  size_t ry = (size_t)lt_tensor_numel(l->d->y) / (size_t)l->n;
  int64_t end = l->pos + l->batch < l->n ? l->pos + l->batch : l->n;
  for (int64_t i = l->pos; i < end; i++) {
    __builtin_prefetch(y + (size_t)l->perm[i] * ry, 0, 1); /* its label */
    const char *r = x + (size_t)l->perm[i] * bytes, *e = r + bytes;
    __builtin_prefetch(r, 0, 1);
    for (const char *p = (const char *)(((uintptr_t)r + 4096) & ~(uintptr_t)4095); p < e; p += 4096)
      __builtin_prefetch(p, 0, 1);
  }
}

lt_status lt_loader_next(lt_loader *l, lt_tensor **xb, lt_tensor **yb) {
  *xb = *yb = NULL;
  int64_t left = l->n - l->pos;
  if (left <= 0 || (l->drop_last && left < l->batch)) { /* end of epoch: prepare the next */
    l->epoch++;
    l->pos = 0;
    make_order(l);
    return LT_OK;
  }
  int64_t rows = left < l->batch ? left : l->batch;
  lt_tensor *x = rows == l->xb->shape[0] ? l->xb : l->xp, *y = rows == l->xb->shape[0] ? l->yb : l->yp;
  if (l->transposed) x = rows == l->xb->shape[0] ? l->xt : l->xtp;
  lt_status s = l->transposed ? lt_dataset_gather_t(l->d, l->perm + l->pos, rows, x, y)
                              : lt_dataset_gather(l->d, l->perm + l->pos, rows, x, y);
  if (s) return s;
  if (l->aug_pad || l->aug_flip) {
    lt_rng r;
    uint64_t b = (uint64_t)(l->pos / l->batch);
    lt_rng_seed(&r, l->seed ^ ((uint64_t)l->epoch * 0x9e3779b97f4a7c15ULL) ^ (b * 0xbf58476d1ce4e5b9ULL),
                LT_STREAM_AUGMENT);
    if ((s = lt_augment_crop_flip(x, l->aug_pad, l->aug_flip, &r))) return s;
  }
  l->pos += rows;
  prefetch_next(l);
  *xb = x;
  *yb = y;
  return LT_OK;
}

lt_status lt_loader_reset(lt_loader *l, int64_t epoch, int64_t batch) {
  if (epoch < 0 || batch < 0 || batch > l->nbatches)
    return lt_error(LT_ERANGE, "loader reset: epoch %lld, batch %lld (an epoch has %lld batches)", (long long)epoch,
                    (long long)batch, (long long)l->nbatches);
  l->epoch = epoch;
  l->pos = batch * l->batch < l->n ? batch * l->batch : l->n;
  make_order(l);
  return LT_OK;
}

lt_status lt_loader_set_augment(lt_loader *l, int pad, int flip) {
  if (pad < 0 || pad > 64) return lt_error(LT_EINVAL, "loader: crop padding %d (need 0..64)", pad);
  if ((pad || flip) && l->d->x->ndim != 4)
    return lt_error(LT_ESHAPE, "loader: augmentation needs images (N, C, H, W)");
  if ((pad || flip) && l->transposed) return lt_error(LT_EINVAL, "loader: augmentation needs untransposed batches");
  l->aug_pad = pad, l->aug_flip = flip != 0;
  return LT_OK;
}

/* (rows, F) strides (1, ld): the first rows columns of t (F, ld) seen transposed. */
static lt_tensor *columns(lt_tensor *t, int64_t rows) {
  lt_tensor *v = lt_tensor_transpose(t, 0, 1);
  lt_tensor *c = v ? lt_tensor_narrow(v, 0, 0, rows) : NULL;
  lt_tensor_release(v);
  return c;
}

lt_status lt_loader_set_transposed(lt_loader *l, int on) {
  if (on && (l->aug_pad || l->aug_flip)) return lt_error(LT_EINVAL, "loader: transposed batches cannot be augmented");
  l->transposed = on != 0;
  if (!on || l->xt) return LT_OK;
  int64_t rows = l->xb->shape[0], ld = (rows + 15) & ~(int64_t)15, F = (int64_t)(lt_tensor_numel(l->xb) / (size_t)rows);
  lt_tensor *block = lt_tensor_new2(F, ld); /* zero-filled: the padding columns stay zero */
  l->xt = block ? columns(block, rows) : NULL;
  if (l->xt && l->xp) l->xtp = columns(block, l->xp->shape[0]);
  lt_tensor_release(block);
  if (!l->xt || (l->xp && !l->xtp)) {
    lt_tensor_release(l->xt);
    lt_tensor_release(l->xtp);
    l->xt = l->xtp = NULL;
    l->transposed = 0;
    return lt_error(LT_ENOMEM, "loader: out of memory for transposed batches");
  }
  return LT_OK;
}

int lt_loader_transposed(const lt_loader *l) { return l->transposed; }

int64_t lt_loader_epoch(const lt_loader *l) { return l->epoch; }
int64_t lt_loader_batch_index(const lt_loader *l) { return (l->pos + l->batch - 1) / l->batch; }
int64_t lt_loader_batches_per_epoch(const lt_loader *l) { return l->nbatches; }
int64_t lt_loader_batch_size(const lt_loader *l) { return l->batch; }
const int64_t *lt_loader_order(const lt_loader *l) { return l->perm; }
lt_dataset *lt_loader_dataset(const lt_loader *l) { return l->d; }
