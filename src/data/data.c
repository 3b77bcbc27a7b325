/* data.c: the in-memory data set: lifetime, row gathers, views, splits, normalisation.
 * A data set owns one reference to each of its tensors; views made by slice,
 * subset and split share storage with the source, so none of them copies. */
#include "lotto/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t row_numel(const lt_tensor *t) {
  size_t n = 1;
  for (int k = 1; k < t->ndim; k++) n *= (size_t)t->shape[k];
  return n;
}

lt_dataset *lt_dataset_new(lt_tensor *x, lt_tensor *y, int nclasses) {
  char b1[96], b2[96];
  if (!x || !y) {
    lt_error(LT_EINVAL, "dataset: x and y are required");
    return NULL;
  }
  if (!lt_tensor_is_contiguous(x) || !lt_tensor_is_contiguous(y)) {
    lt_error(LT_EINVAL, "dataset: x and y must be contiguous");
    return NULL;
  }
  if (x->shape[0] != y->shape[0]) {
    lt_error(LT_ESHAPE, "dataset: x %s and y %s differ in their number of rows", lt_tensor_shape_str(x, b1, sizeof b1),
             lt_tensor_shape_str(y, b2, sizeof b2));
    return NULL;
  }
  if (nclasses < 0) {
    lt_error(LT_EINVAL, "dataset: %d classes", nclasses);
    return NULL;
  }
  if (nclasses > 0) {
    if (y->ndim != 1) {
      lt_error(LT_ESHAPE, "dataset: class ids y must be 1-D, got %s", lt_tensor_shape_str(y, b2, sizeof b2));
      return NULL;
    }
    const float *p = lt_tensor_data(y);
    for (int64_t i = 0; i < y->shape[0]; i++)
      if (!(p[i] >= 0 && p[i] < (float)nclasses) || p[i] != floorf(p[i])) {
        lt_error(LT_ERANGE, "dataset: y[%lld] = %g is not a class id in 0..%d", (long long)i, (double)p[i], nclasses - 1);
        return NULL;
      }
  }
  lt_dataset *d = malloc(sizeof *d);
  if (!d) {
    lt_error(LT_ENOMEM, "dataset: out of memory");
    return NULL;
  }
  d->x = lt_tensor_retain(x);
  d->y = lt_tensor_retain(y);
  d->nclasses = nclasses;
  d->refcount = 1;
  return d;
}

lt_dataset *lt_dataset_retain(lt_dataset *d) {
  if (d) d->refcount++;
  return d;
}

void lt_dataset_release(lt_dataset *d) {
  if (d && --d->refcount == 0) {
    lt_tensor_release(d->x);
    lt_tensor_release(d->y);
    free(d);
  }
}

/* Rows gathered at random from a data set larger than the caches come from
 * memory: copying row i while prefetching, line for line, row i + GATHER_AHEAD
 * keeps the next rows' lines in flight (a plain memcpy waits for each row's
 * stream to start, and prefetching whole rows at once stalls on the bandwidth).
 * About 20% off a 60-row MNIST batch. */
#define GATHER_AHEAD 2
static void copy_row(float *restrict dst, const float *restrict src, const float *ahead, size_t n) {
  typedef float line __attribute__((vector_size(64)));
  size_t j = 0;
  for (; j + 16 <= n; j += 16) {
    if (ahead) __builtin_prefetch(ahead + j, 0, 3);
    line t;
    memcpy(&t, src + j, sizeof t);
    memcpy(dst + j, &t, sizeof t);
  }
  if (ahead && j < n) __builtin_prefetch(ahead + j, 0, 3);
  for (; j < n; j++) dst[j] = src[j];
}

/* Checks that t can hold n rows shaped like src's rows. */
static lt_status check_batch(const lt_tensor *t, const lt_tensor *src, int64_t n, const char *what) {
  char b1[96], b2[96];
  int ok = t && t->ndim == src->ndim && t->shape[0] == n && lt_tensor_is_contiguous(t);
  for (int k = 1; ok && k < src->ndim; k++) ok = t->shape[k] == src->shape[k];
  if (!ok)
    return lt_error(LT_ESHAPE, "dataset gather: %s %s cannot hold %lld rows of %s (contiguous)", what,
                    t ? lt_tensor_shape_str(t, b1, sizeof b1) : "NULL", (long long)n,
                    lt_tensor_shape_str(src, b2, sizeof b2));
  return LT_OK;
}

lt_status lt_dataset_gather(const lt_dataset *d, const int64_t *idx, int64_t n, lt_tensor *xb, lt_tensor *yb) {
  lt_status s = check_batch(xb, d->x, n, "xb");
  if (!s) s = check_batch(yb, d->y, n, "yb");
  if (s) return s;
  int64_t N = lt_dataset_size(d);
  for (int64_t i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= N)
      return lt_error(LT_ERANGE, "dataset gather: index %lld out of range 0..%lld", (long long)idx[i], (long long)N - 1);
  size_t rx = row_numel(d->x), ry = row_numel(d->y);
  const float *x = lt_tensor_data(d->x), *y = lt_tensor_data(d->y);
  float *xo = lt_tensor_data(xb), *yo = lt_tensor_data(yb);
  for (int64_t i = 0; i < n; i++) {
    const float *ahead = i + GATHER_AHEAD < n ? x + (size_t)idx[i + GATHER_AHEAD] * rx : NULL;
    /* the labels are scattered too: a miss per row when not asked for ahead */
    if (ahead) __builtin_prefetch(y + (size_t)idx[i + GATHER_AHEAD] * ry, 0, 3);
    copy_row(xo + (size_t)i * rx, x + (size_t)idx[i] * rx, ahead, rx);
    if (ry == 1) yo[i] = y[idx[i]];
    else memcpy(yo + (size_t)i * ry, y + (size_t)idx[i] * ry, ry * sizeof(float));
  }
  return LT_OK;
}

#if defined(__AVX__)
#include <immintrin.h>
/* dst[j * ldd + i] = src[i][j] for i, j < 8: eight rows from anywhere, rows i and
 * i + 4 sharing a register so that only in-lane shuffles are needed. */
static inline void tile8(float *dst, size_t ldd, const float *const *src, size_t j0) {
  __m256 r[8];
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(src[i] + j0)), _mm_loadu_ps(src[i + 4] + j0), 1);
    r[i + 4] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(src[i] + j0 + 4)),
                                    _mm_loadu_ps(src[i + 4] + j0 + 4), 1);
  }
  for (int h = 0; h < 8; h += 4) { /* columns h..h+3 */
    __m256 t0 = _mm256_unpacklo_ps(r[h], r[h + 1]), t1 = _mm256_unpackhi_ps(r[h], r[h + 1]);
    __m256 t2 = _mm256_unpacklo_ps(r[h + 2], r[h + 3]), t3 = _mm256_unpackhi_ps(r[h + 2], r[h + 3]);
    _mm256_storeu_ps(dst + (h + 0) * ldd, _mm256_shuffle_ps(t0, t2, 0x44));
    _mm256_storeu_ps(dst + (h + 1) * ldd, _mm256_shuffle_ps(t0, t2, 0xEE));
    _mm256_storeu_ps(dst + (h + 2) * ldd, _mm256_shuffle_ps(t1, t3, 0x44));
    _mm256_storeu_ps(dst + (h + 3) * ldd, _mm256_shuffle_ps(t1, t3, 0xEE));
  }
}
/* The same for four rows (what is left of a batch such as 60). */
static inline void tile4(float *dst, size_t ldd, const float *const *src, size_t j0) {
  __m256 r0 = _mm256_loadu_ps(src[0] + j0), r1 = _mm256_loadu_ps(src[1] + j0), r2 = _mm256_loadu_ps(src[2] + j0),
         r3 = _mm256_loadu_ps(src[3] + j0);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 o[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE), _mm256_shuffle_ps(t1, t3, 0x44),
                 _mm256_shuffle_ps(t1, t3, 0xEE)};
  for (int j = 0; j < 4; j++) {
    _mm_storeu_ps(dst + j * ldd, _mm256_castps256_ps128(o[j]));
    _mm_storeu_ps(dst + (j + 4) * ldd, _mm256_extractf128_ps(o[j], 1));
  }
}
#else
static inline void tile8(float *dst, size_t ldd, const float *const *src, size_t j0) {
  for (int j = 0; j < 8; j++)
    for (int i = 0; i < 8; i++) dst[j * ldd + i] = src[i][j0 + j];
}
static inline void tile4(float *dst, size_t ldd, const float *const *src, size_t j0) {
  for (int j = 0; j < 8; j++)
    for (int i = 0; i < 4; i++) dst[j * ldd + i] = src[i][j0 + j];
}
#endif

lt_status lt_dataset_gather_t(const lt_dataset *d, const int64_t *idx, int64_t n, lt_tensor *xb, lt_tensor *yb) {
  char b1[96], b2[96];
  size_t rx = row_numel(d->x), ry = row_numel(d->y);
  if (!xb || xb->ndim != 2 || xb->shape[0] != n || xb->shape[1] != (int64_t)rx || xb->stride[0] != 1 ||
      xb->stride[1] < n)
    return lt_error(LT_ESHAPE, "dataset gather: xb %s cannot hold %lld rows of %s transposed (strides 1, >= %lld)",
                    xb ? lt_tensor_shape_str(xb, b1, sizeof b1) : "NULL", (long long)n,
                    lt_tensor_shape_str(d->x, b2, sizeof b2), (long long)n);
  lt_status s = check_batch(yb, d->y, n, "yb");
  if (s) return s;
  int64_t N = lt_dataset_size(d);
  for (int64_t i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= N)
      return lt_error(LT_ERANGE, "dataset gather: index %lld out of range 0..%lld", (long long)idx[i], (long long)N - 1);
  const float *x = lt_tensor_data(d->x), *y = lt_tensor_data(d->y);
  float *xt = lt_tensor_data(xb), *yo = lt_tensor_data(yb);
  size_t ld = (size_t)xb->stride[1], r8 = rx & ~(size_t)7;
  /* eight rows at a time through 8x8 tiles, the rows of the next eight asked for ahead line by line */
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float *src[8], *ahead[8];
    for (int k = 0; k < 8; k++) {
      src[k] = x + (size_t)idx[i + k] * rx;
      ahead[k] = i + 8 + k < n ? x + (size_t)idx[i + 8 + k] * rx : NULL;
    }
    for (size_t j = 0; j < r8; j += 8) {
      if (!(j & 15))
        for (int k = 0; k < 8; k++)
          if (ahead[k]) __builtin_prefetch(ahead[k] + j, 0, 3);
      tile8(xt + j * ld + i, ld, src, j);
    }
    for (size_t j = r8; j < rx; j++)
      for (int k = 0; k < 8; k++) xt[j * ld + i + k] = src[k][j];
  }
  if (i + 4 <= n) {
    const float *src[4];
    for (int k = 0; k < 4; k++) src[k] = x + (size_t)idx[i + k] * rx;
    for (size_t j = 0; j < r8; j += 8) tile4(xt + j * ld + i, ld, src, j);
    for (size_t j = r8; j < rx; j++)
      for (int k = 0; k < 4; k++) xt[j * ld + i + k] = src[k][j];
    i += 4;
  }
  for (; i < n; i++) {
    const float *r = x + (size_t)idx[i] * rx;
    for (size_t j = 0; j < rx; j++) xt[j * ld + i] = r[j];
  }
  for (i = 0; i < n; i++) {
    if (ry == 1) yo[i] = y[idx[i]];
    else memcpy(yo + (size_t)i * ry, y + (size_t)idx[i] * ry, ry * sizeof(float));
  }
  return LT_OK;
}

lt_status lt_dataset_slice(const lt_dataset *d, int64_t start, int64_t n, lt_tensor **xb, lt_tensor **yb) {
  *xb = *yb = NULL;
  int64_t N = lt_dataset_size(d);
  if (start < 0 || n < 0 || start > N || n > N - start)
    return lt_error(LT_ERANGE, "dataset slice: rows [%lld, %lld) out of range for %lld rows", (long long)start,
                    (long long)(start + n), (long long)N);
  *xb = lt_tensor_narrow(d->x, 0, start, n);
  *yb = *xb ? lt_tensor_narrow(d->y, 0, start, n) : NULL;
  if (!*yb) {
    lt_tensor_release(*xb);
    *xb = NULL;
    return lt_errmsg()[0] ? LT_ENOMEM : lt_error(LT_ENOMEM, "dataset slice: out of memory");
  }
  return LT_OK;
}

lt_status lt_dataset_subset(lt_dataset **out, const lt_dataset *d, int64_t start, int64_t n) {
  lt_tensor *x, *y;
  *out = NULL;
  lt_status s = lt_dataset_slice(d, start, n, &x, &y);
  if (s) return s;
  /* labels were validated when d was made: skip the O(n) check by building with 0 classes */
  lt_dataset *r = lt_dataset_new(x, y, 0);
  lt_tensor_release(x);
  lt_tensor_release(y);
  if (!r) return LT_ENOMEM;
  r->nclasses = d->nclasses;
  *out = r;
  return LT_OK;
}

lt_status lt_dataset_split(const lt_dataset *d, int64_t n_val, lt_dataset **train, lt_dataset **val) {
  *train = *val = NULL;
  int64_t N = lt_dataset_size(d);
  if (n_val < 0 || n_val >= N)
    return lt_error(LT_EINVAL, "dataset split: %lld validation rows out of %lld leaves no training rows",
                    (long long)n_val, (long long)N);
  lt_status s = lt_dataset_subset(train, d, 0, N - n_val);
  if (!s) s = lt_dataset_subset(val, d, N - n_val, n_val);
  if (s) {
    lt_dataset_release(*train);
    *train = NULL;
  }
  return s;
}

static int channels_of(const lt_tensor *x) { return x->ndim >= 2 ? (int)x->shape[1] : 1; }
static int has_values(const lt_tensor *x) { return lt_tensor_numel(x) > 0; }

lt_status lt_dataset_channel_stats(const lt_dataset *d, int nch, float *mean, float *std) {
  const lt_tensor *x = d->x;
  if (nch != channels_of(x))
    return lt_error(LT_ESHAPE, "dataset stats: %d channels requested, x has %d", nch, channels_of(x));
  int64_t N = x->shape[0];
  if (!has_values(x)) return lt_error(LT_EINVAL, "dataset stats: empty data set");
  size_t inner = x->ndim >= 2 ? row_numel(x) / (size_t)nch : 1; /* elements per channel per row */
  const float *p = lt_tensor_data(x);
  for (int c = 0; c < nch; c++) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < N; i++) {
      const float *q = p + ((size_t)i * (size_t)nch + (size_t)c) * inner;
      for (size_t k = 0; k < inner; k++) s += q[k];
    }
    double m = s / ((double)N * (double)inner);
    for (int64_t i = 0; i < N; i++) { /* two passes: no cancellation in the variance */
      const float *q = p + ((size_t)i * (size_t)nch + (size_t)c) * inner;
      for (size_t k = 0; k < inner; k++) ss += (q[k] - m) * (q[k] - m);
    }
    mean[c] = (float)m;
    std[c] = (float)sqrt(ss / ((double)N * (double)inner));
  }
  return LT_OK;
}

lt_status lt_dataset_normalize(lt_dataset *d, int nch, const float *mean, const float *std) {
  lt_tensor *x = d->x;
  if (nch != channels_of(x))
    return lt_error(LT_ESHAPE, "dataset normalize: %d channels given, x has %d", nch, channels_of(x));
  for (int c = 0; c < nch; c++)
    if (!isfinite(mean[c]) || !isfinite(std[c]) || std[c] < 0)
      return lt_error(LT_EINVAL, "dataset normalize: channel %d has mean %g, std %g", c, (double)mean[c], (double)std[c]);
  if (!has_values(x)) return LT_OK;
  size_t inner = x->ndim >= 2 ? row_numel(x) / (size_t)nch : 1;
  float *p = lt_tensor_data(x);
  for (int64_t i = 0; i < x->shape[0]; i++)
    for (int c = 0; c < nch; c++) {
      float m = mean[c], inv = std[c] > 0 ? 1.0f / std[c] : 1.0f;
      float *q = p + ((size_t)i * (size_t)nch + (size_t)c) * inner;
      for (size_t k = 0; k < inner; k++) q[k] = (q[k] - m) * inv;
    }
  return LT_OK;
}
