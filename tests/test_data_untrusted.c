/* test_data_untrusted.c: the data readers against hostile files. A header's sizes are
 * checked against the file (and images against labels) before anything is allocated:
 * a small gzip "bomb" whose label file is bad costs nothing, a gzip header promising more
 * than deflate can deliver is refused unread. Memory is measured as the peak RSS growth of
 * a forked child (ru_maxrss), not time. Files are crafted in LOTTO_TEST_TMP (or /tmp). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "lotto/data.h"
#include "child_rss.h"

typedef struct { const char *images, *labels; } idx_pair;
static lt_status load_idx(const void *arg) {
  const idx_pair *p = arg;
  lt_dataset *d = NULL;
  lt_status s = lt_dataset_load_idx(&d, p->images, p->labels, 10);
  lt_dataset_release(d);
  return s;
}
/* Loads images + labels in a forked child; returns its peak RSS growth (KiB), its message in msg. */
static long load_idx_in_child(const char *images, const char *labels, char *msg, size_t cap) {
  idx_pair p = {images, labels};
  return rss_growth_in_child(load_idx, &p, msg, cap);
}

static char tmpdir[1024];

static const char *tmp_path(const char *name) {
  static char buf[4][1200];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/test_untrusted_%ld_%s", tmpdir, (long)getpid(), name);
  return buf[k];
}

static void put_be32(unsigned char *p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v; }

static void write_plain(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
}

/* An IDX images .gz: header (n, r, c) then `zeros` zero bytes (what deflate squeezes best). */
static void write_gz_images(const char *path, uint32_t n, uint32_t r, uint32_t c, size_t zeros) {
  unsigned char h[16];
  put_be32(h, 0x803), put_be32(h + 4, n), put_be32(h + 8, r), put_be32(h + 12, c);
  gzFile g = gzopen(path, "wb9");
  assert_non_null(g);
  assert_int_equal(gzwrite(g, h, 16), 16);
  static unsigned char zero[1 << 16];
  for (size_t at = 0; at < zeros; at += sizeof zero) {
    unsigned k = (unsigned)(zeros - at < sizeof zero ? zeros - at : sizeof zero);
    assert_int_equal(gzwrite(g, zero, k), (int)k);
  }
  gzclose(g);
}

static void expect_error(lt_status got, const char *fragment, const char *path) {
  if (got != LT_EFORMAT || !strstr(lt_errmsg(), fragment)) print_error("status %d, message: %s\n", got, lt_errmsg());
  assert_int_equal(got, LT_EFORMAT);
  assert_non_null(strstr(lt_errmsg(), fragment));
  if (path) assert_non_null(strstr(lt_errmsg(), path));
}



/* 8192 images of 64x64 = 32 MiB of zeros in a ~32 KB .gz, beside a label file whose magic
 * is wrong. Reading the images first would cost 32 MiB of bytes + 128 MiB of floats. */
static void gz_image_bomb_should_cost_nothing_when_the_label_header_is_bad(void **state) {
  const char *pi = tmp_path("bomb-images.gz"), *pl = tmp_path("bad-labels");
  write_gz_images(pi, 8192, 64, 64, (size_t)8192 * 64 * 64);
  unsigned char lb[8 + 8192] = {0};
  put_be32(lb, 0x803), put_be32(lb + 4, 8192); /* an images magic in the label file */
  write_plain(pl, lb, sizeof lb);
  char msg[1100];
  long grew = load_idx_in_child(pi, pl, msg, sizeof msg);
  print_message("peak RSS growth %ld KiB: %s\n", grew, msg);
  assert_non_null(strstr(msg, "bad magic"));
  assert_non_null(strstr(msg, pl));
  assert_true(grew < 24 * 1024);
  /* the same with a label count that differs: refused on the headers too */
  put_be32(lb, 0x801), put_be32(lb + 4, 8191);
  write_plain(pl, lb, 8 + 8191);
  grew = load_idx_in_child(pi, pl, msg, sizeof msg);
  print_message("peak RSS growth %ld KiB: %s\n", grew, msg);
  assert_non_null(strstr(msg, "8192 images but"));
  assert_true(grew < 24 * 1024);
  remove(pi);
  remove(pl);
}

/* 65536 x 256 x 256 = 2^32 bytes promised by a .gz of a few hundred bytes: deflate cannot
 * deliver more than 1032 bytes per byte, so the header is refused without reading. */
static void gz_header_promising_more_than_deflate_can_hold_should_be_refused_unread(void **state) {
  const char *p = tmp_path("liar.gz");
  write_gz_images(p, 65536, 256, 256, 100000);
  lt_tensor *t = NULL;
  expect_error(lt_idx_read_images(&t, p), "more than a", p);
  assert_null(t);
  /* a consistent small .gz still reads */
  write_gz_images(p, 3, 2, 2, 12);
  assert_int_equal(lt_idx_read_images(&t, p), LT_OK);
  assert_int_equal(t->shape[0], 3);
  lt_tensor_release(t);
  remove(p);
}

/* The counts are compared on the headers: a truncated .gz image payload is not even read
 * when the label file disagrees about the count (it used to report the truncation first). */
static void idx_counts_should_be_compared_before_either_payload_is_read(void **state) {
  const char *pi = tmp_path("short-images.gz"), *pl = tmp_path("labels4");
  write_gz_images(pi, 5, 2, 2, 10); /* promises 20 bytes, holds 10 */
  unsigned char lb[8 + 4] = {0};
  put_be32(lb, 0x801), put_be32(lb + 4, 4);
  write_plain(pl, lb, sizeof lb);
  lt_dataset *d = NULL;
  expect_error(lt_dataset_load_idx(&d, pi, pl, 10), "5 images but", pi);
  assert_null(d);
  remove(pi);
  /* a plain file is measured against its size before reading */
  unsigned char ib[16 + 10] = {0};
  put_be32(ib, 0x803), put_be32(ib + 4, 5), put_be32(ib + 8, 2), put_be32(ib + 12, 2);
  pi = tmp_path("short-images");
  write_plain(pi, ib, sizeof ib);
  lt_tensor *t = NULL;
  expect_error(lt_idx_read_images(&t, pi), "the images need 20 bytes after the header, the file has 10", pi);
  expect_error(lt_dataset_load_idx(&d, pi, pl, 10), "the file has 10", pi);
  remove(pi);
  remove(pl);
}

static void readers_should_refuse_a_device_that_never_ends(void **state) {
  const char *paths[1] = {"/dev/zero"};
  lt_dataset *d = NULL;
  assert_int_equal(lt_dataset_load_cifar10(&d, paths, 1), LT_EIO);
  assert_non_null(strstr(lt_errmsg(), "not a regular file"));
  lt_tensor *t = NULL;
  expect_error(lt_idx_read_images(&t, "/dev/zero"), "bad magic", "/dev/zero");
}

static void cifar_sizes_should_come_from_the_files_before_allocation(void **state) {
  const char *a = tmp_path("cifar-a"), *b = tmp_path("cifar-b");
  static unsigned char rec[2 * 3073];
  memset(rec, 7, sizeof rec);
  rec[0] = 3, rec[3073] = 9;
  write_plain(a, rec, 3073);
  write_plain(b, rec, 2 * 3073 - 1); /* one byte short of two records */
  const char *paths[2] = {a, b};
  lt_dataset *d = NULL;
  expect_error(lt_dataset_load_cifar10(&d, paths, 2), "not a whole number", b);
  assert_null(d);
  write_plain(b, rec, 2 * 3073);
  assert_int_equal(lt_dataset_load_cifar10(&d, paths, 2), LT_OK);
  assert_int_equal(lt_dataset_size(d), 3);
  assert_true(lt_tensor_data(d->y)[0] == 3.0f && lt_tensor_data(d->y)[2] == 9.0f);
  assert_true(fabsf(lt_tensor_data(d->x)[5] - 7.0f / 255.0f) < 1e-7f);
  lt_dataset_release(d);
  remove(a);
  remove(b);
}

int main(void) {
  const char *t = getenv("LOTTO_TEST_TMP");
  snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gz_image_bomb_should_cost_nothing_when_the_label_header_is_bad),
      cmocka_unit_test(gz_header_promising_more_than_deflate_can_hold_should_be_refused_unread),
      cmocka_unit_test(idx_counts_should_be_compared_before_either_payload_is_read),
      cmocka_unit_test(readers_should_refuse_a_device_that_never_ends),
      cmocka_unit_test(cifar_sizes_should_come_from_the_files_before_allocation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
