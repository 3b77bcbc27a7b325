/* test_io.c: atomic writes and safetensors round trips; malformed files rejected.
 * Malformed files are crafted byte by byte so that each check of the parser is
 * exercised by exactly one defect. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lotto/io.h"

static char tmpdir[1024];

static const char *tmp_path(const char *name) {
  static char buf[2][1200];
  static int k;
  k ^= 1;
  snprintf(buf[k], sizeof buf[k], "%s/test_io_%ld_%s", tmpdir, (long)getpid(), name);
  return buf[k];
}

static void write_raw(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
}

/* A file with the given JSON header (padded to 8) followed by ndata bytes of data. */
static const char *craft(const char *name, const char *json, size_t ndata, uint64_t hlen_override) {
  size_t hl = strlen(json);
  unsigned char *buf = calloc(1, 8 + hl + ndata + 1);
  uint64_t hlen = hlen_override ? hlen_override : hl;
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
  memcpy(buf + 8, json, hl);
  for (size_t i = 0; i < ndata; i++) buf[8 + hl + i] = (unsigned char)i;
  const char *path = tmp_path(name);
  write_raw(path, buf, 8 + hl + ndata);
  free(buf);
  return path;
}

static void expect_format_error(const char *path, const char *fragment) {
  lt_st_file *f = (lt_st_file *)1;
  lt_status s = lt_st_open(&f, path);
  if (s != LT_EFORMAT) print_error("status %d, message: %s\n", s, lt_errmsg());
  assert_int_equal(s, LT_EFORMAT);
  assert_null(f);
  if (!strstr(lt_errmsg(), fragment)) print_error("message \"%s\" lacks \"%s\"\n", lt_errmsg(), fragment);
  assert_non_null(strstr(lt_errmsg(), fragment));
  assert_non_null(strstr(lt_errmsg(), path)); /* names the file */
  remove(path);
}

static void safetensors_should_round_trip_f32_u8_i32_bit_exactly(void **state) {
  float f[6] = {1.5f, -0.0f, 3.4028235e38f, 1e-45f, INFINITY, -2.25f};
  uint32_t nan_bits = 0x7fc12345u;
  memcpy(&f[4], &nan_bits, 4); /* a NaN with a payload must survive too */
  uint8_t m[5] = {0, 1, 1, 0, 1};
  int32_t idx[4] = {0, -7, 2147483647, -2147483647 - 1};
  int64_t sf[2] = {2, 3}, sm[1] = {5}, si[2] = {2, 2};
  lt_st_writer *w = lt_st_writer_new();
  assert_int_equal(lt_st_writer_add(w, "w", LT_DT_F32, 2, sf, f), LT_OK);
  assert_int_equal(lt_st_writer_add(w, "mask", LT_DT_U8, 1, sm, m), LT_OK);
  assert_int_equal(lt_st_writer_add(w, "idx", LT_DT_I32, 2, si, idx), LT_OK);
  assert_int_equal(lt_st_writer_meta(w, "round", "3"), LT_OK);
  assert_int_equal(lt_st_writer_meta(w, "round", "4"), LT_OK); /* replaced, not duplicated */
  const char *path = tmp_path("rt.safetensors");
  assert_int_equal(lt_st_writer_commit(w, path), LT_OK);
  lt_st_writer_free(w);

  lt_st_file *r;
  assert_int_equal(lt_st_open(&r, path), LT_OK);
  assert_int_equal(lt_st_count(r), 3);
  const lt_st_entry *e = lt_st_entry_at(r, 0); /* insertion order is file order */
  assert_string_equal(e->name, "w");
  assert_int_equal(e->dtype, LT_DT_F32);
  assert_int_equal(e->ndim, 2);
  assert_int_equal(e->shape[0], 2);
  assert_int_equal(e->shape[1], 3);
  float fb[6];
  lt_st_entry_read(e, fb);
  assert_memory_equal(fb, f, sizeof f);
  e = lt_st_find(r, "mask");
  assert_non_null(e);
  assert_int_equal(e->dtype, LT_DT_U8);
  assert_memory_equal(e->data, m, sizeof m);
  e = lt_st_find(r, "idx");
  int32_t ib[4];
  lt_st_entry_read(e, ib);
  assert_memory_equal(ib, idx, sizeof idx);
  assert_null(lt_st_find(r, "nope"));
  assert_int_equal(lt_st_meta_count(r), 1);
  assert_string_equal(lt_st_meta_get(r, "round"), "4");
  lt_st_close(r);
  remove(path);
}

static void safetensors_writer_should_pad_the_header_to_eight_bytes_with_spaces(void **state) {
  int64_t s1 = 1;
  float v = 1;
  lt_st_writer *w = lt_st_writer_new();
  assert_int_equal(lt_st_writer_add(w, "a", LT_DT_F32, 1, &s1, &v), LT_OK);
  const char *path = tmp_path("pad.safetensors");
  assert_int_equal(lt_st_writer_commit(w, path), LT_OK);
  lt_st_writer_free(w);
  char *buf;
  size_t n;
  assert_int_equal(lt_io_read_file(path, &buf, &n), LT_OK);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | (unsigned char)buf[i];
  assert_int_equal(hlen % 8, 0);
  assert_int_equal(n, 8 + hlen + 4);
  assert_int_equal(buf[8], '{');
  float back;
  memcpy(&back, buf + 8 + hlen, 4);
  assert_true(back == 1.0f);
  free(buf);
  remove(path);
}

static void safetensors_writer_should_reject_duplicate_reserved_and_empty_names(void **state) {
  int64_t s1 = 1;
  float v = 0;
  lt_st_writer *w = lt_st_writer_new();
  assert_int_equal(lt_st_writer_add(w, "a", LT_DT_F32, 1, &s1, &v), LT_OK);
  assert_int_equal(lt_st_writer_add(w, "a", LT_DT_F32, 1, &s1, &v), LT_EINVAL);
  assert_int_equal(lt_st_writer_add(w, "__metadata__", LT_DT_F32, 1, &s1, &v), LT_EINVAL);
  assert_int_equal(lt_st_writer_add(w, "", LT_DT_F32, 1, &s1, &v), LT_EINVAL);
  int64_t neg = -1;
  assert_int_equal(lt_st_writer_add(w, "b", LT_DT_F32, 1, &neg, &v), LT_EINVAL);
  lt_st_writer_free(w);
}

static void safetensors_writer_should_convert_tensors_to_u8_masks_and_exact_i32(void **state) {
  /* A (2, 2) view with a column stride of 2 over 4 floats checks strided reads. */
  float store[4] = {0.0f, 2.5f, -1.0f, 7.0f};
  lt_storage st = {store, 4, 1};
  lt_tensor t = {.ndim = 2, .shape = {2, 2}, .stride = {1, 2}, .offset = 0, .storage = &st, .refcount = 1};
  lt_st_writer *w = lt_st_writer_new();
  assert_int_equal(lt_st_writer_add_tensor(w, "m", &t, LT_DT_U8), LT_OK);
  assert_int_equal(lt_st_writer_add_tensor(w, "i", &t, LT_DT_I32), LT_EINVAL); /* 2.5 is not an int */
  store[1] = 3.0f;
  assert_int_equal(lt_st_writer_add_tensor(w, "i", &t, LT_DT_I32), LT_OK); /* the failed add left no trace */
  assert_int_equal(lt_st_writer_add_tensor(w, "f", &t, LT_DT_F32), LT_OK);
  const char *path = tmp_path("conv.safetensors");
  assert_int_equal(lt_st_writer_commit(w, path), LT_OK);
  lt_st_writer_free(w);
  lt_st_file *r;
  assert_int_equal(lt_st_open(&r, path), LT_OK);
  assert_int_equal(lt_st_count(r), 3);
  const uint8_t mexp[4] = {0, 1, 1, 1}; /* row-major of [[0, -1], [3, 7]] */
  assert_memory_equal(lt_st_find(r, "m")->data, mexp, 4);
  int32_t iexp[4] = {0, -1, 3, 7}, ib[4];
  lt_st_entry_read(lt_st_find(r, "i"), ib);
  assert_memory_equal(ib, iexp, sizeof ib);
  float fexp[4] = {0, -1, 3, 7}, fb[4];
  lt_st_entry_read(lt_st_find(r, "f"), fb);
  assert_memory_equal(fb, fexp, sizeof fb);
  lt_st_close(r);
  remove(path);
}

static void safetensors_entry_tensor_should_give_floats_for_every_dtype(void **state) {
  const char *json = "{\"m\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                     "\"i\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[3,7]}}";
  size_t hl = strlen(json);
  unsigned char buf[256] = {0};
  buf[0] = (unsigned char)hl;
  memcpy(buf + 8, json, hl);
  unsigned char data[7] = {0, 255, 1, 0xfe, 0xff, 0xff, 0xff}; /* mask 0,255,1; int -2 */
  memcpy(buf + 8 + hl, data, 7);
  lt_st_file *r;
  assert_int_equal(lt_st_parse(&r, buf, 8 + hl + 7, "mem"), LT_OK);
  lt_tensor *t;
  assert_int_equal(lt_st_entry_tensor(&t, lt_st_find(r, "m")), LT_OK);
  assert_int_equal(t->ndim, 1);
  assert_int_equal(t->shape[0], 3);
  assert_true(lt_tensor_data(t)[0] == 0.0f && lt_tensor_data(t)[1] == 1.0f && lt_tensor_data(t)[2] == 1.0f);
  lt_tensor_release(t);
  assert_int_equal(lt_st_entry_tensor(&t, lt_st_find(r, "i")), LT_OK);
  assert_int_equal(t->ndim, 1); /* a scalar becomes (1) */
  assert_true(lt_tensor_data(t)[0] == -2.0f);
  lt_tensor_release(t);
  lt_st_close(r);
}

static void safetensors_reader_should_accept_an_empty_file_and_a_zero_sized_tensor(void **state) {
  expect_format_error(craft("e0.safetensors", "", 0, 0), "header is not a JSON object");
  lt_st_file *r;
  const char *p = craft("e1.safetensors", "{}      ", 0, 0);
  assert_int_equal(lt_st_open(&r, p), LT_OK);
  assert_int_equal(lt_st_count(r), 0);
  lt_st_close(r);
  remove(p);
  p = craft("e2.safetensors", "{\"z\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[0,0]}}", 0, 0);
  assert_int_equal(lt_st_open(&r, p), LT_OK);
  assert_int_equal(lt_st_find(r, "z")->numel, 0);
  lt_tensor *t = (lt_tensor *)1;
  assert_int_equal(lt_st_entry_tensor(&t, lt_st_find(r, "z")), LT_EINVAL);
  assert_null(t);
  lt_st_close(r);
  remove(p);
}

static void safetensors_reader_should_reject_malformed_headers(void **state) {
  const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  expect_format_error(craft("m1", ok, 8, 100000), "exceeds the file size");
  expect_format_error(craft("m2", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],", 8, 0), "not valid JSON");
  expect_format_error(craft("m3", "[1, 2]", 0, 0), "not a JSON object");
  expect_format_error(craft("m4", ok, 4, 0), "beyond the 4-byte data section");
  expect_format_error(craft("m5", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0),
                      "needs 12 bytes but data_offsets span 8");
  expect_format_error(craft("m6", "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 8, 0),
                      "unsupported dtype \"F16\"");
  expect_format_error(craft("m7", ok, 12, 0), "4 trailing bytes");
  expect_format_error(craft("m8", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                                  "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6, 0),
                      "overlaps");
  expect_format_error(craft("m9", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6, 0),
                      "2 unused bytes");
  expect_format_error(craft("m10", "{\"a\":{\"dtype\":\"U8\",\"shape\":[-4],\"data_offsets\":[0,4]}}", 4, 0),
                      "shape[0] is not a non-negative integer");
  expect_format_error(craft("m11", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,0]}}", 4, 0),
                      "begin <= end");
  expect_format_error(craft("m12", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                                   "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, 0),
                      "appears twice");
  expect_format_error(craft("m13", "{\"__metadata__\":{\"k\":3}}", 0, 0), "not a string");
  expect_format_error(craft("m14", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],"
                                   "\"data_offsets\":[0,4]}}", 4, 0),
                      "overflows");
  expect_format_error(craft("m15", "{}  x", 0, 0), "unexpected bytes after the JSON header");
  expect_format_error(craft("m16", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4]}}", 4, 0), "lacks data_offsets");
  const char *p = tmp_path("m17");
  write_raw(p, "\x10\0\0", 3);
  expect_format_error(p, "too short");
}

static void safetensors_open_should_report_a_missing_file_as_io_error(void **state) {
  lt_st_file *r;
  assert_int_equal(lt_st_open(&r, "/nonexistent/dir/x.safetensors"), LT_EIO);
  assert_non_null(strstr(lt_errmsg(), "/nonexistent/dir/x.safetensors"));
}

static void write_atomic_should_replace_the_file_and_leave_no_temporary(void **state) {
  const char *path = tmp_path("atomic.txt");
  assert_int_equal(lt_io_write_atomic(path, "first", 5), LT_OK);
  assert_int_equal(lt_io_write_atomic(path, "second!", 7), LT_OK);
  char *buf;
  size_t n;
  assert_int_equal(lt_io_read_file(path, &buf, &n), LT_OK);
  assert_int_equal(n, 7);
  assert_string_equal(buf, "second!");
  free(buf);
  char tmp[1400];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  assert_int_equal(access(tmp, F_OK), -1);
  remove(path);
  assert_int_equal(lt_io_write_atomic("/nonexistent/dir/f", "x", 1), LT_EIO);
}

static void aborted_atomic_file_should_leave_the_old_contents(void **state) {
  const char *path = tmp_path("abort.txt");
  assert_int_equal(lt_io_write_atomic(path, "old", 3), LT_OK);
  lt_afile a;
  assert_int_equal(lt_afile_open(&a, path), LT_OK);
  assert_int_equal(lt_afile_write(&a, "new contents", 12), LT_OK);
  lt_afile_abort(&a);
  char *buf;
  size_t n;
  assert_int_equal(lt_io_read_file(path, &buf, &n), LT_OK);
  assert_string_equal(buf, "old");
  free(buf);
  remove(path);
}

static void mkdirs_should_create_missing_parents_and_accept_existing_ones(void **state) {
  char dir[1300], file[1400];
  snprintf(dir, sizeof dir, "%s/a/b/c", tmp_path("mkdirs"));
  assert_int_equal(lt_io_mkdirs(dir), LT_OK);
  struct stat st;
  assert_int_equal(stat(dir, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(lt_io_mkdirs(dir), LT_OK); /* idempotent */
  /* a file where a directory should be: an error naming that part */
  snprintf(file, sizeof file, "%s/f", dir);
  assert_int_equal(lt_io_write_atomic(file, "x", 1), LT_OK);
  snprintf(file, sizeof file, "%s/f/g", dir);
  assert_int_equal(lt_io_mkdirs(file), LT_EIO);
  assert_non_null(strstr(lt_errmsg(), "/f"));
  assert_non_null(strstr(lt_errmsg(), "Not a directory"));
  assert_int_equal(lt_io_mkdirs(""), LT_EINVAL);
  snprintf(file, sizeof file, "%s/f", dir);
  remove(file);
  for (int i = 0; i < 4; i++) { /* c, b, a, then the mkdirs directory itself */
    rmdir(dir);
    *strrchr(dir, '/') = '\0';
  }
}

/* cJSON_CreateNumber prints 15 digits when they come within DBL_EPSILON: these lose a bit. */
static void json_number_should_read_back_exactly(void **state) {
  (void)state;
  const double vs[] = {0.024581487034093404, 0.1, 1.0 / 3.0, 1e-300, 123456789.123456789, -2.5e-7,
                       0.30000000000000004, 5e-324};
  for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
    cJSON *n = lt_io_json_number(vs[i]);
    assert_non_null(n);
    char *text = cJSON_PrintUnformatted(n);
    cJSON *back = cJSON_Parse(text);
    assert_non_null(back);
    assert_true(cJSON_IsNumber(back));
    assert_true(back->valuedouble == vs[i]);
    cJSON_Delete(back), cJSON_Delete(n), free(text);
  }
  cJSON *nan = lt_io_json_number(NAN);
  assert_true(cJSON_IsNull(nan));
  cJSON_Delete(nan);
}

int main(void) {
  const char *t = getenv("LOTTO_TEST_TMP");
  snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(safetensors_should_round_trip_f32_u8_i32_bit_exactly),
      cmocka_unit_test(safetensors_writer_should_pad_the_header_to_eight_bytes_with_spaces),
      cmocka_unit_test(safetensors_writer_should_reject_duplicate_reserved_and_empty_names),
      cmocka_unit_test(safetensors_writer_should_convert_tensors_to_u8_masks_and_exact_i32),
      cmocka_unit_test(safetensors_entry_tensor_should_give_floats_for_every_dtype),
      cmocka_unit_test(safetensors_reader_should_accept_an_empty_file_and_a_zero_sized_tensor),
      cmocka_unit_test(safetensors_reader_should_reject_malformed_headers),
      cmocka_unit_test(safetensors_open_should_report_a_missing_file_as_io_error),
      cmocka_unit_test(write_atomic_should_replace_the_file_and_leave_no_temporary),
      cmocka_unit_test(aborted_atomic_file_should_leave_the_old_contents),
      cmocka_unit_test(mkdirs_should_create_missing_parents_and_accept_existing_ones),
      cmocka_unit_test(json_number_should_read_back_exactly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
