/* data_idx.c: IDX files (MNIST, Fashion-MNIST), plain or gzip, into float tensors.
 * Every size in the header is checked before allocation and every read is
 * checked for shortness, so a corrupt file is an LT_EFORMAT naming it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lotto/data.h"

#define IDX_MAX_BYTES (1ull << 32) /* no IDX data set we read comes close */
#define CHUNK 65536

typedef struct {
  gzFile g;
  char path[1024]; /* the file actually opened (maybe with .gz added) */
} idx_file;

/* Opens path, or path".gz" when path does not exist. zlib reads plain files transparently. */
static lt_status idx_open(idx_file *f, const char *path) {
  snprintf(f->path, sizeof f->path, "%s", path);
  f->g = gzopen(path, "rb");
  if (!f->g && errno == ENOENT) {
    snprintf(f->path, sizeof f->path, "%s.gz", path);
    f->g = gzopen(f->path, "rb");
    if (!f->g) return lt_error(LT_EIO, "cannot open %s (nor %s.gz): %s", path, path, strerror(errno));
  }
  if (!f->g) return lt_error(LT_EIO, "cannot open %s: %s", path, errno ? strerror(errno) : "out of memory");
  gzbuffer(f->g, 1 << 17);
  return LT_OK;
}

/* Reads exactly n bytes; LT_EFORMAT on a short read or corrupt gzip data. */
static lt_status idx_read(idx_file *f, void *buf, size_t n, const char *what) {
  size_t got = 0;
  while (got < n) {
    size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
    int r = gzread(f->g, (char *)buf + got, (unsigned)want);
    if (r < 0) {
      int err;
      const char *msg = gzerror(f->g, &err);
      return lt_error(LT_EFORMAT, "%s: corrupt gzip data reading %s (%s)", f->path, what, msg);
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  if (got < n)
    return lt_error(LT_EFORMAT, "%s: truncated: %s needs %zu bytes, the file has %zu", f->path, what, n, got);
  return LT_OK;
}

/* Reads the magic and dims; checks the magic is 0x0000 08 <ndim> (unsigned bytes). */
static lt_status idx_header(idx_file *f, int ndim, uint64_t *dims, const char *kind) {
  unsigned char h[4 + 4 * 3];
  lt_status s = idx_read(f, h, 4 + 4 * (size_t)ndim, "the header");
  if (s) return s;
  uint32_t magic = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
  uint32_t want = 0x800u | (uint32_t)ndim;
  if (magic != want)
    return lt_error(LT_EFORMAT, "%s: bad magic 0x%08x (IDX %s have 0x%08x)", f->path, magic, kind, want);
  uint64_t total = 1;
  for (int k = 0; k < ndim; k++) {
    const unsigned char *p = h + 4 + 4 * k;
    dims[k] = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
    if (dims[k] == 0) return lt_error(LT_EFORMAT, "%s: dim %d of the %s is 0", f->path, k, kind);
    total *= dims[k]; /* at most 2^32 so far, times 2^32: no overflow before the check */
    if (total > IDX_MAX_BYTES)
      return lt_error(LT_EFORMAT, "%s: %s dims give more than %llu bytes", f->path, kind, (unsigned long long)IDX_MAX_BYTES);
  }
  return LT_OK;
}

/* Reads n bytes of payload into floats scaled by `scale`, then checks nothing follows. */
static lt_status idx_payload(idx_file *f, float *out, size_t n, float scale, const char *what) {
  unsigned char buf[CHUNK];
  int err;
  size_t at = 0;
  while (at < n) {
    int r = gzread(f->g, buf, (unsigned)(n - at < CHUNK ? n - at : CHUNK));
    if (r < 0) return lt_error(LT_EFORMAT, "%s: corrupt gzip data in the %s (%s)", f->path, what, gzerror(f->g, &err));
    if (r == 0)
      return lt_error(LT_EFORMAT, "%s: truncated: the %s need %zu bytes after the header, the file has %zu", f->path,
                      what, n, at);
    for (int i = 0; i < r; i++) out[at + (size_t)i] = (float)buf[i] * scale;
    at += (size_t)r;
  }
  int extra = gzread(f->g, buf, CHUNK);
  if (extra > 0)
    return lt_error(LT_EFORMAT, "%s: %s%d unexpected trailing bytes after the %s", f->path,
                    extra == CHUNK ? "at least " : "", extra, what);
  if (extra < 0) return lt_error(LT_EFORMAT, "%s: corrupt gzip data after the %s (%s)", f->path, what, gzerror(f->g, &err));
  return LT_OK;
}

lt_status lt_idx_read_images(lt_tensor **out, const char *path) {
  *out = NULL;
  idx_file f;
  lt_status s = idx_open(&f, path);
  if (s) return s;
  uint64_t d[3];
  s = idx_header(&f, 3, d, "images");
  lt_tensor *t = NULL;
  if (!s) {
    int64_t shape[4] = {(int64_t)d[0], 1, (int64_t)d[1], (int64_t)d[2]};
    t = lt_tensor_new(4, shape);
    if (!t) s = lt_errmsg()[0] ? LT_ENOMEM : lt_error(LT_ENOMEM, "%s: out of memory", f.path);
  }
  if (!s) s = idx_payload(&f, lt_tensor_data(t), (size_t)(d[0] * d[1] * d[2]), 1.0f / 255.0f, "images");
  gzclose(f.g);
  if (s) {
    lt_tensor_release(t);
    return s;
  }
  *out = t;
  return LT_OK;
}

lt_status lt_idx_read_labels(lt_tensor **out, const char *path) {
  *out = NULL;
  idx_file f;
  lt_status s = idx_open(&f, path);
  if (s) return s;
  uint64_t n;
  s = idx_header(&f, 1, &n, "labels");
  lt_tensor *t = NULL;
  if (!s) {
    t = lt_tensor_new1((int64_t)n);
    if (!t) s = lt_errmsg()[0] ? LT_ENOMEM : lt_error(LT_ENOMEM, "%s: out of memory", f.path);
  }
  if (!s) s = idx_payload(&f, lt_tensor_data(t), (size_t)n, 1.0f, "labels");
  gzclose(f.g);
  if (s) {
    lt_tensor_release(t);
    return s;
  }
  *out = t;
  return LT_OK;
}

lt_status lt_dataset_load_idx(lt_dataset **out, const char *images, const char *labels, int nclasses) {
  *out = NULL;
  if (nclasses < 1 || nclasses > 256) return lt_error(LT_EINVAL, "load_idx: %d classes (1..256)", nclasses);
  lt_tensor *x = NULL, *y = NULL;
  lt_status s = lt_idx_read_images(&x, images);
  if (!s) s = lt_idx_read_labels(&y, labels);
  if (!s && x->shape[0] != y->shape[0])
    s = lt_error(LT_EFORMAT, "%s has %lld images but %s has %lld labels", images, (long long)x->shape[0], labels,
                 (long long)y->shape[0]);
  if (!s) {
    const float *p = lt_tensor_data(y);
    for (int64_t i = 0; i < y->shape[0] && !s; i++)
      if (p[i] >= (float)nclasses)
        s = lt_error(LT_EFORMAT, "%s: label %d at index %lld is not in 0..%d", labels, (int)p[i], (long long)i,
                     nclasses - 1);
  }
  if (!s) {
    *out = lt_dataset_new(x, y, nclasses);
    if (!*out) s = LT_ENOMEM;
  }
  lt_tensor_release(x);
  lt_tensor_release(y);
  return s;
}
