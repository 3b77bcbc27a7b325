/* data_idx.c: IDX files (MNIST, Fashion-MNIST), plain or gzip, into float tensors.
 * Every size in a header is checked against the file (and the images against the
 * labels) before anything is allocated, buffers grow only with data actually read,
 * and every read is checked for shortness: a corrupt file is an LT_EFORMAT naming it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "lotto/data.h"

#define IDX_MAX_BYTES (1ull << 32) /* no IDX data set we read comes close */
/* Deflate cannot expand data by more than 1032:1 (a run of one byte value), so a gzip
 * file of s bytes holds at most about 1032 * s bytes: a header promising more is a lie
 * that can be refused before reading. */
#define GZ_MAX_RATIO 1032u

typedef struct {
  gzFile g;
  long long size; /* bytes on disk, -1 if not a regular file */
  char path[1024]; /* the file actually opened (maybe with .gz added) */
} idx_file;

/* The size of the file on disk, -1 if it is not a regular file (a pipe). */
static void idx_stat(idx_file *f) {
  struct stat st;
  f->size = stat(f->path, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
}

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
  idx_stat(f);
  return LT_OK;
}

static void idx_close(idx_file *f) {
  if (f->g) gzclose(f->g);
  f->g = NULL;
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

/* Checks the n payload bytes a header promises against what the file can hold, before
 * anything is allocated: a plain file must hold exactly them, a gzip file can hold at
 * most GZ_MAX_RATIO times its size. */
static lt_status idx_plausible(const idx_file *f, uint64_t n, size_t hdr, const char *kind) {
  if (f->size < 0) return LT_OK; /* a pipe: the incremental read below is the only bound */
  uint64_t size = (uint64_t)f->size;
  if (gzdirect(f->g)) {
    uint64_t have = size - hdr;
    if (have < n)
      return lt_error(LT_EFORMAT, "%s: truncated: the %s need %llu bytes after the header, the file has %llu",
                      f->path, kind, (unsigned long long)n, (unsigned long long)have);
    if (have > n)
      return lt_error(LT_EFORMAT, "%s: %llu unexpected trailing bytes after the %s", f->path,
                      (unsigned long long)(have - n), kind);
    return LT_OK;
  }
  if (n + hdr > size * GZ_MAX_RATIO)
    return lt_error(LT_EFORMAT,
                    "%s: the header promises %llu bytes of %s, more than a %llu-byte gzip file can hold "
                    "(at most %llu)",
                    f->path, (unsigned long long)n, kind, (unsigned long long)size,
                    (unsigned long long)(size * GZ_MAX_RATIO));
  return LT_OK;
}

/* Reads the magic and dims; checks the magic is 0x0000 08 <ndim> (unsigned bytes), the
 * size the dims give, and that the file can hold that many bytes. *n = payload bytes. */
static lt_status idx_header(idx_file *f, int ndim, uint64_t *dims, uint64_t *n, const char *kind) {
  unsigned char h[4 + 4 * 3];
  size_t hdr = 4 + 4 * (size_t)ndim;
  lt_status s = idx_read(f, h, hdr, "the header");
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
  *n = total;
  return idx_plausible(f, total, hdr, kind);
}

/* Reads the n payload bytes into *out (malloc'd) and checks that nothing follows. The buffer
 * grows with the data actually read (not with what the header or a gzip trailer claim), so
 * a header claiming gigabytes costs only what the file delivers. */
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

/* Opens path and reads its header: dims[0..ndim) and the payload size *n, checked against
 * the file. On failure nothing stays open. */
static lt_status idx_begin(idx_file *f, const char *path, int ndim, uint64_t *dims, uint64_t *n, const char *kind) {
  f->g = NULL;
  lt_status s = idx_open(f, path);
  if (!s) s = idx_header(f, ndim, dims, n, kind);
  if (s) idx_close(f);
  return s;
}

static lt_status images_tensor(lt_tensor **out, const uint64_t *d, const unsigned char *bytes, const char *path) {
  int64_t shape[4] = {(int64_t)d[0], 1, (int64_t)d[1], (int64_t)d[2]};
  return bytes_to_tensor(out, 4, shape, bytes, 1.0f / 255.0f, path);
}

static lt_status labels_tensor(lt_tensor **out, uint64_t n, const unsigned char *bytes, const char *path) {
  int64_t shape[1] = {(int64_t)n};
  return bytes_to_tensor(out, 1, shape, bytes, 1.0f, path);
}

lt_status lt_idx_read_images(lt_tensor **out, const char *path) {
  *out = NULL;
  idx_file f;
  uint64_t d[3], n;
  unsigned char *bytes = NULL;
  lt_status s = idx_begin(&f, path, 3, d, &n, "images");
  if (s) return s;
  s = idx_payload(&f, &bytes, (size_t)n, "images");
  if (!s) s = images_tensor(out, d, bytes, f.path);
  free(bytes);
  idx_close(&f);
  return s;
}

lt_status lt_idx_read_labels(lt_tensor **out, const char *path) {
  *out = NULL;
  idx_file f;
  uint64_t d, n;
  unsigned char *bytes = NULL;
  lt_status s = idx_begin(&f, path, 1, &d, &n, "labels");
  if (s) return s;
  s = idx_payload(&f, &bytes, (size_t)n, "labels");
  if (!s) s = labels_tensor(out, n, bytes, f.path);
  free(bytes);
  idx_close(&f);
  return s;
}

/* Both headers are read and checked against each other before any payload is: a label
 * file with a bad magic or another count costs nothing, whatever the image file claims.
 * The labels (1 byte a sample) are read and range-checked before the images. */
lt_status lt_dataset_load_idx(lt_dataset **out, const char *images, const char *labels, int nclasses) {
  *out = NULL;
  if (nclasses < 1 || nclasses > 256) return lt_error(LT_EINVAL, "load_idx: %d classes (1..256)", nclasses);
  idx_file fi, fl;
  uint64_t d[3], ni, nl, nlab;
  lt_status s = idx_begin(&fi, images, 3, d, &ni, "images");
  if (s) return s;
  s = idx_begin(&fl, labels, 1, &nlab, &nl, "labels");
  if (s) {
    idx_close(&fi);
    return s;
  }
  if (d[0] != nlab)
    s = lt_error(LT_EFORMAT, "%s has %llu images but %s has %llu labels", fi.path, (unsigned long long)d[0], fl.path,
                 (unsigned long long)nlab);
  unsigned char *lb = NULL, *ib = NULL;
  if (!s) s = idx_payload(&fl, &lb, (size_t)nl, "labels");
  for (uint64_t i = 0; !s && i < nl; i++)
    if (lb[i] >= nclasses)
      s = lt_error(LT_EFORMAT, "%s: label %d at index %llu is not in 0..%d", fl.path, lb[i], (unsigned long long)i,
                   nclasses - 1);
  if (!s) s = idx_payload(&fi, &ib, (size_t)ni, "images");
  lt_tensor *x = NULL, *y = NULL;
  if (!s) s = images_tensor(&x, d, ib, fi.path);
  free(ib);
  if (!s) s = labels_tensor(&y, nl, lb, fl.path);
  free(lb);
  idx_close(&fi);
  idx_close(&fl);
  if (!s) {
    *out = lt_dataset_new(x, y, nclasses);
    if (!*out) s = LT_ENOMEM;
  }
  lt_tensor_release(x);
  lt_tensor_release(y);
  return s;
}
