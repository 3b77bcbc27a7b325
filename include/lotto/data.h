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
/* The same with the inputs transposed: xb is (n, F), F the numel of a row, with strides
 * (1, ld), ld >= n: column i of the (F, ld) block holds row idx[i], columns n..ld are
 * left as they are. A sparse first layer takes this layout as it is (lotto/nn.h). */
lt_status lt_dataset_gather_t(const lt_dataset *d, const int64_t *idx, int64_t n, lt_tensor *xb, lt_tensor *yb);
/* Rows [start, start+n) as views (no copy). Caller releases both. */
lt_status lt_dataset_slice(const lt_dataset *d, int64_t start, int64_t n, lt_tensor **xb, lt_tensor **yb);

/* ---- views, splits, normalisation ---- */
/* Rows [start, start+n) as a new data set viewing d's storage (no copy). Caller releases. */
lt_status lt_dataset_subset(lt_dataset **out, const lt_dataset *d, int64_t start, int64_t n);
/* The LAST n_val rows become *val, the others *train; both are views of d (no copy, no
 * shuffle: the split is the same on every run, as with the LTH paper's 55,000/5,000 MNIST
 * split). 0 <= n_val < size. Caller releases both. */
lt_status lt_dataset_split(const lt_dataset *d, int64_t n_val, lt_dataset **train, lt_dataset **val);
/* Per-channel mean and (population) std of x, channel = dim 1 of x (a 1-D x is one channel);
 * nch must equal that channel count. Accumulated in double. */
lt_status lt_dataset_channel_stats(const lt_dataset *d, int nch, float *mean, float *std);
/* x[:, c] = (x[:, c] - mean[c]) / std[c] IN PLACE: every data set sharing the storage
 * (splits, subsets) sees the change. A std of 0 divides by 1. */
lt_status lt_dataset_normalize(lt_dataset *d, int nch, const float *mean, const float *std);

/* ---- loaders (files and synthetic tasks); *out is released by the caller ---- */
/* IDX images (magic 0x00000803, dims N, R, C) as (N, 1, R, C) floats in [0, 1], and IDX labels
 * (magic 0x00000801, dim N) as (N) floats. path may be plain or gzip; a path that does not exist
 * is retried with ".gz" appended. LT_EIO if missing, LT_EFORMAT (naming the file and the
 * defect) on bad magic, bad dims, a truncated file or trailing bytes. */
lt_status lt_idx_read_images(lt_tensor **out, const char *path);
lt_status lt_idx_read_labels(lt_tensor **out, const char *path);
/* An IDX image file and its label file as one data set; LT_EFORMAT if the counts differ or
 * a label is >= nclasses. */
lt_status lt_dataset_load_idx(lt_dataset **out, const char *images, const char *labels, int nclasses);
/* CIFAR-10 binary batches (records of 1 label byte + 3072 bytes CHW) concatenated in the given
 * order, as x (N, 3, 32, 32) in [0, 1], y (N) in 0..9. LT_EFORMAT on a size that is not a whole
 * number of records or a label > 9. */
lt_status lt_dataset_load_cifar10(lt_dataset **out, const char *const *paths, int npaths);
/* The sum-of-two-inputs regression: x (n, 2) uniform in [lo, hi) drawn from r, y (n, 1) = x1 + x2. */
lt_status lt_dataset_sum_of_two(lt_dataset **out, int64_t n, float lo, float hi, lt_rng *r);

/* ---- batches: seeded per-epoch shuffling ----
 *   lt_loader *l; lt_loader_new(&l, train, 60, seed, 1, 0);
 *   lt_tensor *xb, *yb;
 *   while (lt_loader_next(l, &xb, &yb) == LT_OK && xb) { ... }   // one epoch
 *   lt_loader_free(l);
 * Epoch e's order is a permutation drawn from an lt_rng on LT_STREAM_DATA seeded from
 * (seed, e): the same seed gives the same order on every run, and lt_loader_reset(l, e, b)
 * jumps to batch b of epoch e in O(N) without replaying earlier epochs. */
typedef struct lt_loader lt_loader;
/* Holds a reference to d. batch >= 1; shuffle 0 keeps row order; drop_last 1 skips the final
 * partial batch (default 0 keeps it). The loader starts at epoch 0, batch 0. Free with lt_loader_free. */
lt_status lt_loader_new(lt_loader **out, lt_dataset *d, int64_t batch, uint64_t seed, int shuffle, int drop_last);
void lt_loader_free(lt_loader *l); /* NULL is fine */
/* The next batch of the current epoch in *xb (b, ...) and *yb (b) / (b, k), b = batch size or
 * the smaller final batch. Both are owned by the loader and OVERWRITTEN by the next call: copy
 * what you keep. At the end of an epoch sets both to NULL, returns LT_OK, and moves on to the
 * next epoch (reshuffled), so the following call starts it. */
lt_status lt_loader_next(lt_loader *l, lt_tensor **xb, lt_tensor **yb);
/* Positions the loader at batch `batch` of epoch `epoch` (both 0-based). */
lt_status lt_loader_reset(lt_loader *l, int64_t epoch, int64_t batch);
int64_t lt_loader_epoch(const lt_loader *l);             /* epochs completed so far */
int64_t lt_loader_batch_index(const lt_loader *l);       /* batches served in the current epoch */
int64_t lt_loader_batches_per_epoch(const lt_loader *l);
int64_t lt_loader_batch_size(const lt_loader *l);
/* The permutation of the current epoch (size(dataset) indices), owned by the loader. */
const int64_t *lt_loader_order(const lt_loader *l);
lt_dataset *lt_loader_dataset(const lt_loader *l); /* borrowed */
/* Augments every batch served from now on with lt_augment_crop_flip(pad, flip)
 * (pad 0 and flip 0: off), drawing from an lt_rng on LT_STREAM_AUGMENT seeded
 * from (seed, epoch, batch): a reset loader sees the same images again. */
lt_status lt_loader_set_augment(lt_loader *l, int pad, int flip);
/* Serves x batches transposed from now on (on 1), as lt_dataset_gather_t makes them: (b, F)
 * with strides (1, ld), ld = the batch size rounded up to 16 floats (a 64-byte line per
 * feature row, padding zero), F the numel of a row; y batches are as before. Not with
 * augmentation (LT_EINVAL either way round). on 0: contiguous batches again. */
lt_status lt_loader_set_transposed(lt_loader *l, int on);
int lt_loader_transposed(const lt_loader *l);

/* The standard CIFAR augmentation, in place on a contiguous batch x (B, C, H, W):
 * each image becomes a random crop of itself zero-padded by pad on every side
 * (a shift by dy, dx uniform in [-pad, pad]), then, when flip, mirrored left to
 * right with probability 1/2. Draws three numbers from r per image (dy, dx,
 * flip), in image order. */
lt_status lt_augment_crop_flip(lt_tensor *x, int pad, int flip, lt_rng *r);

#endif
