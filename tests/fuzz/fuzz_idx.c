/* fuzz_idx.c: libFuzzer harness for the IDX reader (plain and gzip). The first byte picks
 * what the rest is: bits 0-1: 0 images, 1 labels, 2-3 an images file and a labels file
 * (split at the little-endian 16-bit length that follows) loaded as one data set; bit 2:
 * gzip the file(s) first, so mutations of plain bytes reach the .gz path as valid streams.
 * Raw .gz inputs (seeds written by zlib) reach it as mutated streams. An accepted file must
 * hold exactly what its header promised. */
#define _GNU_SOURCE /* memfd_create */
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "lotto/data.h"

/* data as a gzip member in a malloc'd buffer. */
static unsigned char *gzip_bytes(const uint8_t *data, size_t n, size_t *out_n) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
  size_t cap = deflateBound(&z, (uLong)n) + 32;
  unsigned char *out = malloc(cap);
  if (!out) abort();
  z.next_in = (Bytef *)data, z.avail_in = (uInt)n;
  z.next_out = out, z.avail_out = (uInt)cap;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
  *out_n = cap - z.avail_out;
  deflateEnd(&z);
  return out;
}

static const char *as_file(int slot, const uint8_t *data, size_t n, int gz) {
  if (!gz) return fuzz_file(slot, data, n);
  size_t zn;
  unsigned char *z = gzip_bytes(data, n, &zn);
  const char *p = fuzz_file(slot, z, zn);
  free(z);
  return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0], gz = mode & 4;
  data++, size--;
  lt_tensor *t = NULL;
  if ((mode & 3) == 0) {
    if (lt_idx_read_images(&t, as_file(0, data, size, gz)) == LT_OK) {
      FUZZ_CHECK(t->ndim == 4 && t->shape[1] == 1, "images shape");
      FUZZ_CHECK(gz || data[0] == 0x1f || 16 + lt_tensor_numel(t) == size, "images size vs file");
      for (size_t i = 0; i < lt_tensor_numel(t); i++)
        FUZZ_CHECK(lt_tensor_data(t)[i] >= 0.0f && lt_tensor_data(t)[i] <= 1.0f, "pixel %zu", i);
    }
  } else if ((mode & 3) == 1) {
    if (lt_idx_read_labels(&t, as_file(0, data, size, gz)) == LT_OK)
      FUZZ_CHECK(gz || data[0] == 0x1f || 8 + lt_tensor_numel(t) == size, "labels size vs file");
  } else {
    if (size < 2) return 0;
    size_t li = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2, size -= 2;
    if (li > size) li = size;
    const char *pi = as_file(0, data, li, gz);
    const char *pl = as_file(1, data + li, size - li, gz);
    lt_dataset *d = NULL;
    if (lt_dataset_load_idx(&d, pi, pl, 10) == LT_OK) {
      FUZZ_CHECK(d->x->shape[0] == d->y->shape[0], "images vs labels");
      for (int64_t i = 0; i < d->y->shape[0]; i++) FUZZ_CHECK(lt_tensor_data(d->y)[i] < 10.0f, "label %lld", (long long)i);
      lt_dataset_release(d);
    }
  }
  lt_tensor_release(t);
  return 0;
}
