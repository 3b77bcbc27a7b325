/* data_cifar.c: CIFAR-10 binary batches into one (N, 3, 32, 32) data set.
 * A batch file is a sequence of 3073-byte records: the label, then 1024 red,
 * 1024 green and 1024 blue bytes (row-major 32x32), i.e. already CHW. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lotto/data.h"

#define CIFAR_PIXELS 3072
#define CIFAR_RECORD (1 + CIFAR_PIXELS)

/* The number of records in path, from its size; LT_EFORMAT if not a positive whole number. */
static lt_status count_records(const char *path, int64_t *n) {
  struct stat st;
  if (stat(path, &st) != 0) return lt_error(LT_EIO, "cannot open %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return lt_error(LT_EIO, "%s is not a regular file", path);
  if (st.st_size == 0 || st.st_size % CIFAR_RECORD != 0)
    return lt_error(LT_EFORMAT, "%s: size %lld is not a whole number of %d-byte CIFAR-10 records (truncated?)", path,
                    (long long)st.st_size, CIFAR_RECORD);
  *n = (int64_t)(st.st_size / CIFAR_RECORD);
  return LT_OK;
}

/* Reads n records of path into x (n * 3072 floats) and y (n floats). */
static lt_status read_batch(const char *path, int64_t n, float *x, float *y) {
  FILE *f = fopen(path, "rb");
  if (!f) return lt_error(LT_EIO, "cannot open %s: %s", path, strerror(errno));
  unsigned char rec[CIFAR_RECORD];
  lt_status s = LT_OK;
  for (int64_t i = 0; i < n && !s; i++) {
    if (fread(rec, 1, CIFAR_RECORD, f) != CIFAR_RECORD) { /* the file shrank since stat */
      s = lt_error(LT_EFORMAT, "%s: truncated at record %lld of %lld", path, (long long)i, (long long)n);
      break;
    }
    if (rec[0] > 9) {
      s = lt_error(LT_EFORMAT, "%s: record %lld has label %d (CIFAR-10 labels are 0..9)", path, (long long)i, rec[0]);
      break;
    }
    y[i] = rec[0];
    float *xi = x + (size_t)i * CIFAR_PIXELS;
    for (int k = 0; k < CIFAR_PIXELS; k++) xi[k] = (float)rec[1 + k] * (1.0f / 255.0f);
  }
  if (!s && fgetc(f) != EOF) s = lt_error(LT_EFORMAT, "%s: the file grew while being read", path);
  fclose(f);
  return s;
}

lt_status lt_dataset_load_cifar10(lt_dataset **out, const char *const *paths, int npaths) {
  *out = NULL;
  if (npaths < 1) return lt_error(LT_EINVAL, "load_cifar10: no files given");
  int64_t *counts = malloc((size_t)npaths * sizeof *counts);
  if (!counts) return lt_error(LT_ENOMEM, "load_cifar10: out of memory");
  int64_t total = 0;
  lt_status s = LT_OK;
  for (int i = 0; i < npaths && !s; i++) {
    s = count_records(paths[i], &counts[i]);
    if (!s) total += counts[i];
  }
  lt_tensor *x = NULL, *y = NULL;
  if (!s) {
    int64_t shape[4] = {total, 3, 32, 32};
    x = lt_tensor_new(4, shape);
    y = x ? lt_tensor_new1(total) : NULL;
    if (!y) s = lt_errmsg()[0] ? LT_ENOMEM : lt_error(LT_ENOMEM, "load_cifar10: out of memory");
  }
  int64_t at = 0;
  for (int i = 0; i < npaths && !s; i++) {
    s = read_batch(paths[i], counts[i], lt_tensor_data(x) + (size_t)at * CIFAR_PIXELS, lt_tensor_data(y) + at);
    at += counts[i];
  }
  if (!s) {
    *out = lt_dataset_new(x, y, 10);
    if (!*out) s = LT_ENOMEM;
  }
  lt_tensor_release(x);
  lt_tensor_release(y);
  free(counts);
  return s;
}
