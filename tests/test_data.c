/* test_data.c: IDX (plain and gzip) and CIFAR parsing, corrupt files, splits,
 * normalisation, the synthetic task and the seeded batch loader.
 * Input files are crafted byte by byte in LOTTO_TEST_TMP (or /tmp). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "lotto/data.h"

static char tmpdir[1024];

static const char *tmp_path(const char *name) {
  static char buf[4][1200];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/test_data_%ld_%s", tmpdir, (long)getpid(), name);
  return buf[k];
}

static void write_file(const char *path, const void *p, size_t n, int gz) {
  if (gz) {
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, p, (unsigned)n), (int)n);
    gzclose(g);
    return;
  }
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

/* An IDX image file: n images of r x c with pixel (i, k) = (i * 7 + k) % 256; extra bytes appended. */
static size_t make_images(unsigned char *buf, uint32_t magic, uint32_t n, uint32_t r, uint32_t c, int extra) {
  put_be32(buf, magic);
  put_be32(buf + 4, n), put_be32(buf + 8, r), put_be32(buf + 12, c);
  size_t np = (size_t)n * r * c;
  for (size_t i = 0; i < np + (size_t)extra; i++) buf[16 + i] = (unsigned char)((i / (r * c)) * 7 + i % (r * c));
  return 16 + np + (size_t)extra;
}

static size_t make_labels(unsigned char *buf, uint32_t n, const unsigned char *labels) {
  put_be32(buf, 0x801), put_be32(buf + 4, n);
  memcpy(buf + 8, labels, n);
  return 8 + n;
}

static void expect_error(lt_status got, lt_status want, const char *fragment, const char *path) {
  if (got != want || !strstr(lt_errmsg(), fragment)) print_error("status %d, message: %s\n", got, lt_errmsg());
  assert_int_equal(got, want);
  assert_non_null(strstr(lt_errmsg(), fragment));
  if (path) assert_non_null(strstr(lt_errmsg(), path));
}

static void idx_images_should_load_as_n_1_r_c_floats_scaled_to_unit_range(void **state) {
  unsigned char buf[256];
  size_t n = make_images(buf, 0x803, 3, 2, 3, 0);
  const char *p = tmp_path("img");
  write_file(p, buf, n, 0);
  lt_tensor *t;
  assert_int_equal(lt_idx_read_images(&t, p), LT_OK);
  assert_int_equal(t->ndim, 4);
  assert_int_equal(t->shape[0], 3);
  assert_int_equal(t->shape[1], 1);
  assert_int_equal(t->shape[2], 2);
  assert_int_equal(t->shape[3], 3);
  const float *d = lt_tensor_data(t);
  for (int i = 0; i < 18; i++) assert_float_equal(d[i], buf[16 + i] / 255.0f, 1e-7);
  assert_float_equal(d[6], 7 / 255.0f, 1e-7); /* image 1 starts at 7 */
  lt_tensor_release(t);
  remove(p);
}

static void idx_reader_should_read_gzip_and_find_the_gz_sibling_of_a_plain_path(void **state) {
  unsigned char buf[64], lab[5] = {5, 0, 4, 1, 9};
  size_t n = make_labels(buf, 5, lab);
  const char *plain = tmp_path("lab"), *gz = tmp_path("lab.gz");
  write_file(gz, buf, n, 1);
  lt_tensor *t;
  assert_int_equal(lt_idx_read_labels(&t, plain), LT_OK); /* plain path missing: falls back to .gz */
  assert_int_equal(t->ndim, 1);
  assert_int_equal(t->shape[0], 5);
  for (int i = 0; i < 5; i++) assert_true(lt_tensor_data(t)[i] == lab[i]);
  lt_tensor_release(t);
  remove(gz);
  expect_error(lt_idx_read_labels(&t, plain), LT_EIO, "nor", plain);
  assert_null(t);
}

static void idx_reader_should_reject_corrupt_files_with_a_format_error(void **state) {
  unsigned char buf[256];
  lt_tensor *t;
  const char *p = tmp_path("bad");
  size_t n = make_images(buf, 0x801, 2, 2, 2, 0);
  write_file(p, buf, n, 0);
  expect_error(lt_idx_read_images(&t, p), LT_EFORMAT, "bad magic 0x00000801", p);
  n = make_images(buf, 0x803, 2, 2, 2, 0);
  write_file(p, buf, n - 1, 0);
  expect_error(lt_idx_read_images(&t, p), LT_EFORMAT, "truncated", p);
  write_file(p, buf, n - 1, 1); /* gzip data that ends early */
  expect_error(lt_idx_read_images(&t, p), LT_EFORMAT, "truncated", p);
  write_file(p, buf, 10, 0); /* not even a whole header */
  expect_error(lt_idx_read_images(&t, p), LT_EFORMAT, "the header", p);
  n = make_images(buf, 0x803, 2, 2, 2, 3);
  write_file(p, buf, n, 0);
  expect_error(lt_idx_read_images(&t, p), LT_EFORMAT, "3 unexpected trailing bytes", p);
  n = make_images(buf, 0x803, 2, 0, 2, 0);
  write_file(p, buf, n, 0);
  expect_error(lt_idx_read_images(&t, p), LT_EFORMAT, "is 0", p);
  make_images(buf, 0x803, 2, 2, 2, 0);
  put_be32(buf + 4, 0xffffffffu), put_be32(buf + 8, 0xffffffffu), put_be32(buf + 12, 0xffffffffu);
  write_file(p, buf, 24, 0); /* dims whose product overflows 64 bits must not allocate */
  expect_error(lt_idx_read_images(&t, p), LT_EFORMAT, "more than", p);
  memcpy(buf, "\x1f\x8b\x08\x00garbage-not-deflate-data-at-all", 36);
  write_file(p, buf, 36, 0);
  assert_int_equal(lt_idx_read_images(&t, p), LT_EFORMAT);
  assert_null(t);
  remove(p);
}

static void idx_dataset_should_reject_count_mismatch_and_labels_out_of_range(void **state) {
  unsigned char ib[256], lb[64], lab[3] = {1, 2, 3};
  const char *pi = tmp_path("ci"), *pl = tmp_path("cl");
  write_file(pi, ib, make_images(ib, 0x803, 2, 2, 2, 0), 0);
  write_file(pl, lb, make_labels(lb, 3, lab), 0);
  lt_dataset *d;
  expect_error(lt_dataset_load_idx(&d, pi, pl, 10), LT_EFORMAT, "2 images but", pi);
  assert_null(d);
  write_file(pi, ib, make_images(ib, 0x803, 3, 2, 2, 0), 0);
  expect_error(lt_dataset_load_idx(&d, pi, pl, 3), LT_EFORMAT, "label 3 at index 2", pl);
  assert_int_equal(lt_dataset_load_idx(&d, pi, pl, 4), LT_OK);
  assert_int_equal(lt_dataset_size(d), 3);
  assert_int_equal(d->nclasses, 4);
  assert_true(lt_tensor_data(d->y)[1] == 2.0f);
  lt_dataset_release(d);
  remove(pi);
  remove(pl);
}

static void cifar_reader_should_keep_chw_order_and_concatenate_batches(void **state) {
  static unsigned char rec[3 * 3073];
  for (int r = 0; r < 3; r++) {
    rec[r * 3073] = (unsigned char)(7 + r);
    for (int k = 0; k < 3072; k++) rec[r * 3073 + 1 + k] = (unsigned char)((k / 1024) * 100 + r); /* channel*100+record */
  }
  const char *a = tmp_path("c1.bin"), *b = tmp_path("c2.bin");
  write_file(a, rec, 2 * 3073, 0);
  write_file(b, rec + 2 * 3073, 3073, 0);
  const char *paths[2] = {a, b};
  lt_dataset *d;
  assert_int_equal(lt_dataset_load_cifar10(&d, paths, 2), LT_OK);
  assert_int_equal(d->x->ndim, 4);
  assert_int_equal(d->x->shape[0], 3);
  assert_int_equal(d->x->shape[1], 3);
  assert_int_equal(d->x->shape[2], 32);
  assert_int_equal(d->nclasses, 10);
  const float *x = lt_tensor_data(d->x);
  for (int r = 0; r < 3; r++) {
    assert_true(lt_tensor_data(d->y)[r] == 7 + r);
    for (int c = 0; c < 3; c++) assert_float_equal(x[r * 3072 + c * 1024 + 5], (c * 100 + r) / 255.0f, 1e-7);
  }
  lt_dataset_release(d);
  write_file(b, rec, 3073 - 1, 0);
  expect_error(lt_dataset_load_cifar10(&d, paths, 2), LT_EFORMAT, "not a whole number", b);
  rec[0] = 10;
  write_file(b, rec, 3073, 0);
  expect_error(lt_dataset_load_cifar10(&d, paths, 2), LT_EFORMAT, "label 10", b);
  assert_null(d);
  remove(a);
  remove(b);
}

/* A data set of n rows: x (n, 2, 1, 1) = (i, 2i + 1), y = i % 3 with 3 classes. */
static lt_dataset *counting(int64_t n) {
  int64_t shape[4] = {n, 2, 1, 1};
  lt_tensor *x = lt_tensor_new(4, shape), *y = lt_tensor_new1(n);
  for (int64_t i = 0; i < n; i++) {
    lt_tensor_data(x)[2 * i] = (float)i;
    lt_tensor_data(x)[2 * i + 1] = (float)(2 * i + 1);
    lt_tensor_data(y)[i] = (float)(i % 3);
  }
  lt_dataset *d = lt_dataset_new(x, y, 3);
  lt_tensor_release(x);
  lt_tensor_release(y);
  return d;
}

static void dataset_new_should_reject_mismatched_rows_and_bad_class_ids(void **state) {
  lt_tensor *x = lt_tensor_new2(4, 2), *y = lt_tensor_new1(3), *y4 = lt_tensor_new1(4);
  assert_null(lt_dataset_new(x, y, 2));
  lt_tensor_data(y4)[2] = 2.0f;
  assert_null(lt_dataset_new(x, y4, 2)); /* class 2 of 2 */
  lt_tensor_data(y4)[2] = 0.5f;
  assert_null(lt_dataset_new(x, y4, 2)); /* not an integer */
  lt_tensor_data(y4)[2] = 1.0f;
  lt_dataset *d = lt_dataset_new(x, y4, 2);
  assert_non_null(d);
  lt_dataset_release(d);
  lt_tensor_release(x);
  lt_tensor_release(y);
  lt_tensor_release(y4);
}

static void split_should_hold_out_the_last_rows_as_views(void **state) {
  lt_dataset *d = counting(10), *tr, *va;
  assert_int_equal(lt_dataset_split(d, 3, &tr, &va), LT_OK);
  assert_int_equal(lt_dataset_size(tr), 7);
  assert_int_equal(lt_dataset_size(va), 3);
  assert_int_equal(va->nclasses, 3);
  assert_true(lt_tensor_data(va->x)[0] == 7.0f); /* row 7 is the first validation row */
  assert_true(lt_tensor_data(va->y)[2] == 0.0f); /* 9 % 3 */
  lt_tensor_data(va->x)[0] = -1.0f;               /* a view: writes reach the source */
  assert_true(lt_tensor_data(d->x)[14] == -1.0f);
  lt_dataset_release(tr);
  lt_dataset_release(va);
  assert_int_equal(lt_dataset_split(d, 10, &tr, &va), LT_EINVAL);
  assert_null(tr);
  lt_dataset *s;
  assert_int_equal(lt_dataset_subset(&s, d, 8, 3), LT_ERANGE);
  assert_int_equal(lt_dataset_subset(&s, d, 8, 2), LT_OK);
  assert_true(lt_tensor_data(s->x)[1] == 17.0f);
  lt_dataset_release(s);
  lt_dataset_release(d);
}

static void channel_normalisation_should_use_train_statistics_on_other_sets(void **state) {
  lt_dataset *d = counting(4), *t = counting(2);
  float mean[2], std[2];
  assert_int_equal(lt_dataset_channel_stats(d, 2, mean, std), LT_OK);
  assert_float_equal(mean[0], 1.5f, 1e-6); /* 0,1,2,3 */
  assert_float_equal(std[0], sqrtf(1.25f), 1e-6);
  assert_float_equal(mean[1], 4.0f, 1e-6); /* 1,3,5,7 */
  assert_float_equal(std[1], sqrtf(5.0f), 1e-6);
  assert_int_equal(lt_dataset_channel_stats(d, 3, mean, std), LT_ESHAPE);
  assert_int_equal(lt_dataset_normalize(d, 2, mean, std), LT_OK);
  float m2[2], s2[2];
  assert_int_equal(lt_dataset_channel_stats(d, 2, m2, s2), LT_OK);
  assert_float_equal(m2[0], 0.0f, 1e-6);
  assert_float_equal(s2[1], 1.0f, 1e-6);
  assert_int_equal(lt_dataset_normalize(t, 2, mean, std), LT_OK); /* test set: train's stats */
  assert_float_equal(lt_tensor_data(t->x)[3], (3.0f - 4.0f) / sqrtf(5.0f), 1e-6);
  lt_dataset_release(d);
  lt_dataset_release(t);
}

static void sum_of_two_should_give_targets_equal_to_the_sum_of_inputs(void **state) {
  lt_rng r1, r2;
  lt_rng_seed(&r1, 5, LT_STREAM_DATA);
  lt_rng_seed(&r2, 5, LT_STREAM_DATA);
  lt_dataset *a, *b;
  assert_int_equal(lt_dataset_sum_of_two(&a, 500, -1.0f, 2.0f, &r1), LT_OK);
  assert_int_equal(lt_dataset_sum_of_two(&b, 500, -1.0f, 2.0f, &r2), LT_OK);
  assert_int_equal(a->x->shape[1], 2);
  assert_int_equal(a->y->ndim, 2);
  assert_int_equal(a->y->shape[1], 1);
  assert_int_equal(a->nclasses, 0);
  const float *x = lt_tensor_data(a->x), *y = lt_tensor_data(a->y);
  float lo = 9, hi = -9;
  for (int i = 0; i < 500; i++) {
    assert_true(y[i] == x[2 * i] + x[2 * i + 1]);
    lo = fminf(lo, fminf(x[2 * i], x[2 * i + 1]));
    hi = fmaxf(hi, fmaxf(x[2 * i], x[2 * i + 1]));
  }
  assert_true(lo >= -1.0f && lo < -0.9f && hi < 2.0f && hi > 1.9f);
  assert_memory_equal(lt_tensor_data(b->x), x, 1000 * sizeof(float));
  lt_dataset_release(a);
  lt_dataset_release(b);
  assert_int_equal(lt_dataset_sum_of_two(&a, 10, 1.0f, 1.0f, &r1), LT_EINVAL);
}

/* Runs one epoch; records row ids (x[:, 0]) in seen[], batch sizes in sizes[]; returns batches. */
static int run_epoch(lt_loader *l, int64_t *seen, int64_t *sizes) {
  lt_tensor *xb, *yb;
  int nb = 0, k = 0;
  while (lt_loader_next(l, &xb, &yb) == LT_OK && xb) {
    assert_int_equal(xb->shape[0], yb->shape[0]);
    for (int64_t i = 0; i < xb->shape[0]; i++) {
      int64_t id = (int64_t)lt_tensor_data(xb)[2 * i];
      assert_true(lt_tensor_data(xb)[2 * i + 1] == 2 * id + 1); /* x and y rows stay paired */
      assert_true(lt_tensor_data(yb)[i] == id % 3);
      seen[k++] = id;
    }
    sizes[nb++] = xb->shape[0];
  }
  return nb;
}

static void loader_epoch_should_visit_every_row_once_in_a_seeded_order(void **state) {
  lt_dataset *d = counting(10);
  lt_loader *l;
  assert_int_equal(lt_loader_new(&l, d, 4, 42, 1, 0), LT_OK);
  assert_int_equal(lt_loader_batches_per_epoch(l), 3);
  int64_t seen[10], sizes[4], count[10] = {0};
  assert_int_equal(run_epoch(l, seen, sizes), 3);
  assert_int_equal(sizes[0], 4);
  assert_int_equal(sizes[2], 2); /* the partial batch is kept by default */
  for (int i = 0; i < 10; i++) count[seen[i]]++;
  for (int i = 0; i < 10; i++) assert_int_equal(count[i], 1);
  int identity = 1;
  for (int i = 0; i < 10; i++) identity &= seen[i] == i;
  assert_false(identity);
  assert_int_equal(lt_loader_epoch(l), 1);

  int64_t seen1[10], again[10];
  run_epoch(l, seen1, sizes);
  assert_memory_not_equal(seen, seen1, sizeof seen); /* epochs are reshuffled */
  lt_loader *m;
  assert_int_equal(lt_loader_new(&m, d, 4, 42, 1, 0), LT_OK); /* same seed, same order */
  run_epoch(m, again, sizes);
  assert_memory_equal(seen, again, sizeof seen);
  assert_int_equal(lt_loader_reset(m, 1, 0), LT_OK); /* jump straight to epoch 1 */
  run_epoch(m, again, sizes);
  assert_memory_equal(seen1, again, sizeof seen);
  assert_int_equal(lt_loader_reset(m, 0, 2), LT_OK); /* resume at the last batch of epoch 0 */
  assert_int_equal(run_epoch(m, again, sizes), 1);
  assert_memory_equal(seen + 8, again, 2 * sizeof(int64_t));
  assert_int_equal(lt_loader_reset(m, 0, 4), LT_ERANGE);
  lt_loader_free(m);
  assert_int_equal(lt_loader_new(&m, d, 4, 43, 1, 0), LT_OK); /* another seed, another order */
  run_epoch(m, again, sizes);
  assert_memory_not_equal(seen, again, sizeof seen);
  lt_loader_free(m);
  lt_loader_free(l);
  lt_dataset_release(d);
}

static void loader_should_drop_the_partial_batch_only_when_asked_and_keep_order_unshuffled(void **state) {
  lt_dataset *d = counting(10);
  lt_loader *l;
  int64_t seen[10], sizes[4];
  assert_int_equal(lt_loader_new(&l, d, 4, 1, 0, 1), LT_OK);
  assert_int_equal(lt_loader_batches_per_epoch(l), 2);
  assert_int_equal(run_epoch(l, seen, sizes), 2);
  for (int i = 0; i < 8; i++) assert_int_equal(seen[i], i);
  lt_loader_free(l);
  assert_int_equal(lt_loader_new(&l, d, 16, 1, 1, 0), LT_OK); /* batch larger than the set */
  assert_int_equal(run_epoch(l, seen, sizes), 1);
  assert_int_equal(sizes[0], 10);
  lt_loader_free(l);
  assert_int_equal(lt_loader_new(&l, d, 0, 1, 1, 0), LT_EINVAL);
  lt_dataset_release(d);
}

static void gather_should_reject_out_of_range_indices_and_wrong_batch_shapes(void **state) {
  lt_dataset *d = counting(5);
  int64_t shape[4] = {2, 2, 1, 1};
  lt_tensor *xb = lt_tensor_new(4, shape), *yb = lt_tensor_new1(2), *bad = lt_tensor_new2(2, 2);
  int64_t idx[2] = {4, 0}, oob[2] = {1, 5};
  assert_int_equal(lt_dataset_gather(d, idx, 2, xb, yb), LT_OK);
  assert_true(lt_tensor_data(xb)[0] == 4.0f && lt_tensor_data(xb)[2] == 0.0f);
  assert_int_equal(lt_dataset_gather(d, oob, 2, xb, yb), LT_ERANGE);
  assert_int_equal(lt_dataset_gather(d, idx, 2, bad, yb), LT_ESHAPE);
  lt_tensor_release(xb);
  lt_tensor_release(yb);
  lt_tensor_release(bad);
  lt_dataset_release(d);
}

int main(void) {
  const char *t = getenv("LOTTO_TEST_TMP");
  snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(idx_images_should_load_as_n_1_r_c_floats_scaled_to_unit_range),
      cmocka_unit_test(idx_reader_should_read_gzip_and_find_the_gz_sibling_of_a_plain_path),
      cmocka_unit_test(idx_reader_should_reject_corrupt_files_with_a_format_error),
      cmocka_unit_test(idx_dataset_should_reject_count_mismatch_and_labels_out_of_range),
      cmocka_unit_test(cifar_reader_should_keep_chw_order_and_concatenate_batches),
      cmocka_unit_test(dataset_new_should_reject_mismatched_rows_and_bad_class_ids),
      cmocka_unit_test(split_should_hold_out_the_last_rows_as_views),
      cmocka_unit_test(channel_normalisation_should_use_train_statistics_on_other_sets),
      cmocka_unit_test(sum_of_two_should_give_targets_equal_to_the_sum_of_inputs),
      cmocka_unit_test(loader_epoch_should_visit_every_row_once_in_a_seeded_order),
      cmocka_unit_test(loader_should_drop_the_partial_batch_only_when_asked_and_keep_order_unshuffled),
      cmocka_unit_test(gather_should_reject_out_of_range_indices_and_wrong_batch_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
