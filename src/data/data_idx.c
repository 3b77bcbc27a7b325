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

/* Reads the n payload bytes into *out (malloc'd) and checks that nothing follows. The buffer
 * grows with the data actually read, so a corrupt header claiming gigabytes costs nothing. */
static lt_status idx_payload(idx_file *f, unsigned char **out, size_t n, const char *what) {
  int err;
  size_t at = 0, cap = n < (1u << 20) ? n : (1u << 20);
  unsigned char *buf = malloc(cap ? cap : 1);
  lt_status s = buf ? LT_OK : lt_error(LT_ENOMEM, "%s: out of memory", f->path);
  while (!s && at < n) {
    if (at == cap) {
      size_t c2 = cap > n / 2 ? n : 2 * cap;
      unsigned char *b2 = realloc(buf, c2);
      if (!b2) {
        s = lt_error(LT_ENOMEM, "%s: out of memory reading %zu bytes", f->path, n);
        break;
      }
      buf = b2;
      cap = c2;
    }
    size_t want = cap - at < (1u << 30) ? cap - at : (1u << 30);
    int r = gzread(f->g, buf + at, (unsigned)want);
    if (r < 0)
      s = lt_error(LT_EFORMAT, "%s: corrupt gzip data in the %s (%s)", f->path, what, gzerror(f->g, &err));
    else if (r == 0)
      s = lt_error(LT_EFORMAT, "%s: truncated: the %s need %zu bytes after the header, the file has %zu", f->path,
                   what, n, at);
    else
      at += (size_t)r;
  }
  unsigned char extra[256];
  int more = s ? 0 : gzread(f->g, extra, sizeof extra);
  if (more > 0)
    s = lt_error(LT_EFORMAT, "%s: %s%d unexpected trailing bytes after the %s", f->path,
                 more == (int)sizeof extra ? "at least " : "", more, what);
  else if (more < 0)
    s = lt_error(LT_EFORMAT, "%s: corrupt gzip data after the %s (%s)", f->path, what, gzerror(f->g, &err));
  if (s) {
    free(buf);
    return s;
  }
  *out = buf;
  return LT_OK;
}

/* A new tensor of the given shape holding bytes[i] * scale. */
static lt_status bytes_to_tensor(lt_tensor **out, int ndim, const int64_t *shape, const unsigned char *bytes,
                                 float scale, const char *path) {
  lt_tensor *t = lt_tensor_new(ndim, shape);
  if (!t) return lt_errmsg()[0] ? LT_ENOMEM : lt_error(LT_ENOMEM, "%s: out of memory", path);
  float *d = lt_tensor_data(t);
  size_t n = lt_tensor_numel(t);
  for (size_t i = 0; i < n; i++) d[i] = (float)bytes[i] * scale;
  *out = t;
  return LT_OK;
}

lt_status lt_idx_read_images(lt_tensor **out, const char *path) {
  *out = NULL;
  idx_file f;
  lt_status s = idx_open(&f, path);
  if (s) return s;
  uint64_t d[3];
  unsigned char *bytes = NULL;
  s = idx_header(&f, 3, d, "images");
  if (!s) s = idx_payload(&f, &bytes, (size_t)(d[0] * d[1] * d[2]), "images");
  if (!s) {
    int64_t shape[4] = {(int64_t)d[0], 1, (int64_t)d[1], (int64_t)d[2]};
    s = bytes_to_tensor(out, 4, shape, bytes, 1.0f / 255.0f, f.path);
  }
  free(bytes);
  gzclose(f.g);
  return s;
}

lt_status lt_idx_read_labels(lt_tensor **out, const char *path) {
  *out = NULL;
  idx_file f;
  lt_status s = idx_open(&f, path);
  if (s) return s;
  uint64_t n;
  unsigned char *bytes = NULL;
  s = idx_header(&f, 1, &n, "labels");
  if (!s) s = idx_payload(&f, &bytes, (size_t)n, "labels");
  if (!s) {
    int64_t shape[1] = {(int64_t)n};
    s = bytes_to_tensor(out, 1, shape, bytes, 1.0f, f.path);
  }
  free(bytes);
  gzclose(f.g);
  return s;
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
