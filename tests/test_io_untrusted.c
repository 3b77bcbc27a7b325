/* test_io_untrusted.c: the safetensors reader against hostile files. Sizes and offsets are
 * checked against the file before its data is allocated (a 256 MiB sparse file with a lying
 * header, a pipe that never stops), and duplicate checks are n log n: 50,000 tensors and
 * 50,000 metadata keys with long shared prefixes (the old pairwise check ran 2.5e9
 * comparisons of 200-byte strings). Memory is the peak RSS growth of a forked child. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lotto/io.h"
#include "child_rss.h"

static char tmpdir[1024];

static const char *tmp_path(const char *name) {
  static char buf[2][1200];
  static int k;
  k ^= 1;
  snprintf(buf[k], sizeof buf[k], "%s/test_io_untrusted_%ld_%s", tmpdir, (long)getpid(), name);
  return buf[k];
}

static void put_le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A file of `total` bytes: the 8-byte length, json, then a hole of zeros (sparse on disk). */
static void write_sparse(const char *path, const char *json, long total) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  unsigned char len[8];
  put_le64(len, strlen(json));
  assert_int_equal(fwrite(len, 1, 8, f), 8);
  assert_int_equal(fwrite(json, 1, strlen(json), f), strlen(json));
  assert_int_equal(fseek(f, total - 1, SEEK_SET), 0);
  assert_int_equal(fputc(0, f), 0);
  fclose(f);
}


/* Opens path in a forked child; returns its peak RSS growth (KiB), its message in msg. */
static lt_status open_st(const void *path) {
  lt_st_file *f = NULL;
  lt_status s = lt_st_open(&f, path);
  lt_st_close(f);
  return s;
}
static long open_in_child(const char *path, char *msg, size_t cap) { return rss_growth_in_child(open_st, path, msg, cap); }

static void safetensors_sizes_should_be_checked_before_the_data_is_read(void **state) {
  const char *p = tmp_path("sparse.safetensors");
  char msg[1100];
  write_sparse(p, "{}", 256L << 20); /* no tensors, 256 MiB of "data" */
  assert_true(open_in_child(p, msg, sizeof msg) < 24 * 1024);
  assert_non_null(strstr(msg, "trailing bytes"));
  assert_non_null(strstr(msg, p));
  /* 2^42 bytes promised by a huge shape, refused on the header */
  write_sparse(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1048576,1048576],\"data_offsets\":[0,4398046511104]}}",
               256L << 20);
  assert_true(open_in_child(p, msg, sizeof msg) < 24 * 1024);
  assert_non_null(strstr(msg, "beyond the"));
  remove(p);
}

/* A pipe delivering a valid header then 64 MiB of junk: read only as far as the entries need. */
static void safetensors_reader_should_not_swallow_an_endless_pipe(void **state) {
  int fd[2];
  assert_int_equal(pipe(fd), 0);
  pid_t writer = fork();
  assert_true(writer >= 0);
  if (writer == 0) {
    signal(SIGPIPE, SIG_IGN);
    close(fd[0]);
    const char *json = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}";
    unsigned char len[8];
    put_le64(len, strlen(json));
    static char junk[1 << 16];
    int ok = write(fd[1], len, 8) == 8 && write(fd[1], json, strlen(json)) == (ssize_t)strlen(json);
    for (int i = 0; ok && i < 1024; i++) ok = write(fd[1], junk, sizeof junk) > 0;
    _exit(0);
  }
  close(fd[1]);
  char path[64], msg[1100];
  snprintf(path, sizeof path, "/dev/fd/%d", fd[0]);
  assert_true(open_in_child(path, msg, sizeof msg) < 24 * 1024);
  assert_non_null(strstr(msg, "trailing bytes"));
  close(fd[0]);
  int st;
  waitpid(writer, &st, 0);
  /* a device that never ends: its first 8 bytes say a 0-byte header */
  assert_true(open_in_child("/dev/zero", msg, sizeof msg) < 24 * 1024);
  assert_non_null(strstr(msg, "header is not a JSON object"));
}

/* A header of n empty U8 tensors and n metadata keys, names sharing a 200-byte prefix. */
static char *many_entries(size_t n, int duplicate, size_t *len) {
  char prefix[201];
  memset(prefix, 'p', 200), prefix[200] = 0;
  size_t cap = n * 2 * 300 + 64, at = 0;
  char *h = malloc(cap);
  assert_non_null(h);
  at += (size_t)snprintf(h + at, cap - at, "{\"__metadata__\":{");
  for (size_t i = 0; i < n; i++)
    at += (size_t)snprintf(h + at, cap - at, "%s\"%s%07zu\":\"v\"", i ? "," : "", prefix, i);
  at += (size_t)snprintf(h + at, cap - at, "}");
  for (size_t i = 0; i < n; i++)
    at += (size_t)snprintf(h + at, cap - at, ",\"%s%07zu\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                           prefix, duplicate && i == n - 1 ? (size_t)0 : i);
  at += (size_t)snprintf(h + at, cap - at, "}");
  char *file = malloc(8 + at);
  assert_non_null(file);
  put_le64((unsigned char *)file, at);
  memcpy(file + 8, h, at);
  free(h);
  *len = 8 + at;
  return file;
}

static void safetensors_duplicate_checks_should_scale_to_50000_entries(void **state) {
  size_t n = 50000, len;
  char *file = many_entries(n, 0, &len);
  lt_st_file *f = NULL;
  lt_status s = lt_st_parse(&f, file, len, "many.safetensors");
  if (s) print_error("%s\n", lt_errmsg());
  assert_int_equal(s, LT_OK);
  assert_int_equal(lt_st_count(f), n);
  assert_int_equal(lt_st_meta_count(f), n);
  char name[256];
  memset(name, 'p', 200);
  snprintf(name + 200, sizeof name - 200, "%07zu", n - 1);
  const lt_st_entry *e = lt_st_find(f, name);
  assert_non_null(e);
  assert_string_equal(e->name, name);
  assert_string_equal(lt_st_meta_get(f, name), "v");
  snprintf(name + 200, sizeof name - 200, "%07zu", n);
  assert_null(lt_st_find(f, name));
  assert_null(lt_st_meta_get(f, name));
  lt_st_close(f);
  free(file);
  /* the last tensor repeats the first name: found, and named */
  file = many_entries(n, 1, &len);
  assert_int_equal(lt_st_parse(&f, file, len, "dup.safetensors"), LT_EFORMAT);
  assert_non_null(strstr(lt_errmsg(), "0000000\" appears twice"));
  free(file);
}

static void safetensors_duplicate_metadata_keys_should_be_named(void **state) {
  const char *json = "{\"__metadata__\":{\"b\":\"1\",\"a\":\"2\",\"b\":\"3\"}}";
  char file[128];
  put_le64((unsigned char *)file, strlen(json));
  memcpy(file + 8, json, strlen(json));
  lt_st_file *f = NULL;
  assert_int_equal(lt_st_parse(&f, file, 8 + strlen(json), "meta.safetensors"), LT_EFORMAT);
  assert_non_null(strstr(lt_errmsg(), "metadata key \"b\" appears twice"));
  assert_null(f);
}

int main(void) {
  const char *t = getenv("LOTTO_TEST_TMP");
  snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(safetensors_sizes_should_be_checked_before_the_data_is_read),
      cmocka_unit_test(safetensors_reader_should_not_swallow_an_endless_pipe),
      cmocka_unit_test(safetensors_duplicate_checks_should_scale_to_50000_entries),
      cmocka_unit_test(safetensors_duplicate_metadata_keys_should_be_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
