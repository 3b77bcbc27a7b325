/* lotto/data.h: in-memory data sets and their loaders.
 * A data set is a pair of float32 tensors: inputs x (N, ...) and targets y:
 * class ids 0..nclasses-1 stored as floats, shape (N), for classification, or
 * (N, k) values for regression (nclasses == 0). Loaders (IDX plain/.gz,
 * CIFAR-10 binary, synthetic) build one; splits and normalisation make new
 * ones. Batches are gathered by index, in an order drawn from an lt_rng on the
 * data stream, separate from initialisation. */
#ifndef LOTTO_DATA_H
#define LOTTO_DATA_H

#include <stdint.h>

#include "lotto/rng.h"
#include "lotto/status.h"
#include "lotto/tensor.h"

typedef struct lt_dataset {
  lt_tensor *x;   /* (N, ...) inputs, contiguous */
  lt_tensor *y;   /* (N) class ids as floats, or (N, k) regression targets, contiguous */
  int nclasses;   /* 0 for regression */
  int refcount;
} lt_dataset;

/* Takes new references to x and y (both contiguous, same N). NULL + lt_errmsg on mismatch. */
lt_dataset *lt_dataset_new(lt_tensor *x, lt_tensor *y, int nclasses);
lt_dataset *lt_dataset_retain(lt_dataset *d);
void lt_dataset_release(lt_dataset *d);
static inline int64_t lt_dataset_size(const lt_dataset *d) { return d->x->shape[0]; }

/* Gathers rows idx[0..n) into xb (n, ...) and yb (n) / (n, k), which the caller allocated. */
lt_status lt_dataset_gather(const lt_dataset *d, const int64_t *idx, int64_t n, lt_tensor *xb, lt_tensor *yb);
/* Rows [start, start+n) as views (no copy). Caller releases both. */
lt_status lt_dataset_slice(const lt_dataset *d, int64_t start, int64_t n, lt_tensor **xb, lt_tensor **yb);

#endif
