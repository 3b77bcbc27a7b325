/* test_import.c: CMocka tests of lt_model_import on files it did not write
 * itself: a fixture written by the Lua codec before the codec moved into C
 * (tests/fixtures/export_v1*), missing, foreign and truncated files, crafted
 * corrupt ones (each refused with a message naming the problem), and every
 * single flipped byte of a real export (an error or a model, never a crash;
 * run under `make test-asan` too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lotto/io.h"
#include "lotto/nn.h"
#include "child_rss.h"

static char tmpdir[512];
static const char *tmp_path(const char *name) {
  static char buf[4][1024];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/test_import_%s", tmpdir, name);
  return buf[k];
}

static void *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  void *p = malloc(*n ? *n : 1);
  if (p && fread(p, 1, *n, f) != *n) free(p), p = NULL;
  fclose(f);
  return p;
}

static void write_all(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
}

// Imports path expecting failure with a message holding fragment (NULL: any message).
static void expect_refused(const char *path, const char *fragment) {
  lt_model *m = (lt_model *)1;
  lt_status st = lt_model_import(&m, path);
  if (st == LT_OK) fail_msg("%s was accepted (expected '%s')", path, fragment ? fragment : "an error");
  assert_null(m);
  assert_true(strlen(lt_errmsg()) > 0);
  if (fragment && !strstr(lt_errmsg(), fragment)) fail_msg("message '%s' lacks '%s'", lt_errmsg(), fragment);
}

/* A pruned conv -> relu -> flatten -> linear "fc" (2 x 1 x 4 x 4 input), exported to path. */
static void export_small(const char *path) {
  lt_layer *fc = lt_linear_new(2 * 4 * 4, 3, 1);
  lt_layer_set_name(fc, "fc");
  lt_layer *k[] = {lt_conv2d_new(1, 2, 3, 1, 1, 1), lt_relu_new(), lt_flatten_new(), fc};
  lt_model *m = lt_model_new(lt_sequential_new(4, k), 3, (int64_t[]){1, 4, 4});
  assert_non_null(m);
  float *v = lt_tensor_data(lt_model_values(m)), *mk = lt_tensor_data(lt_model_masks(m));
  for (size_t i = 0; i < lt_tensor_numel(lt_model_values(m)); i++) v[i] = 0.01f * (float)i - 0.5f, mk[i] = i % 5 != 0;
  lt_model_apply_mask(m);
  assert_int_equal(lt_model_export(m, path, NULL), LT_OK);
  lt_model_free(m);
}

static void import_should_read_a_file_written_before_the_codec_moved_to_c(void **state) {
  char dir[1024], path[1100], expect[1100];
  snprintf(dir, sizeof dir, "%s", __FILE__); // the build passes the absolute source path
  char *slash = strrchr(dir, '/');
  if (!slash) skip();
  snprintf(slash, sizeof dir - (size_t)(slash - dir), "/fixtures");
  snprintf(path, sizeof path, "%s/export_v1.safetensors", dir);
  snprintf(expect, sizeof expect, "%s/export_v1_expected.safetensors", dir);
  FILE *probe = fopen(path, "rb");
  if (!probe) {
    print_message("no fixture at %s: skipped\n", path);
    skip();
  }
  fclose(probe);
  lt_model *m;
  if (lt_model_import(&m, path)) fail_msg("%s", lt_errmsg());
  lt_st_file *f;
  assert_int_equal(lt_st_open(&f, expect), LT_OK);
  lt_tensor *x, *y, *masks, *out;
  assert_int_equal(lt_st_entry_tensor(&x, lt_st_find(f, "x")), LT_OK);
  assert_int_equal(lt_st_entry_tensor(&y, lt_st_find(f, "y")), LT_OK);
  assert_int_equal(lt_st_entry_tensor(&masks, lt_st_find(f, "masks")), LT_OK);
  lt_st_close(f);
  assert_int_equal(lt_tensor_numel(masks), lt_tensor_numel(lt_model_masks(m)));
  assert_memory_equal(lt_tensor_data(masks), lt_tensor_data(lt_model_masks(m)), lt_tensor_numel(masks) * sizeof(float));
  assert_string_equal(lt_layer_kind(lt_layer_child(lt_model_root(m), 3)), "residual");
  lt_model_train(m, 0);
  assert_int_equal(lt_model_forward(m, x, &out, 0), LT_OK);
  assert_int_equal(lt_tensor_numel(out), lt_tensor_numel(y));
  const float *a = lt_tensor_data(out), *b = lt_tensor_data(y);
  for (size_t i = 0; i < lt_tensor_numel(y); i++) // dense or sparse paths: equal up to summation order
    if (!(a[i] - b[i] <= 1e-5f && b[i] - a[i] <= 1e-5f)) fail_msg("y[%zu] = %g, expected %g", i, a[i], b[i]);
  lt_tensor_release(x), lt_tensor_release(y), lt_tensor_release(masks);
  lt_model_free(m);
}

static void import_should_refuse_missing_foreign_and_truncated_files(void **state) {
  expect_refused(tmp_path("no_such_file.safetensors"), "no_such_file");
  // a plain safetensors file of another format
  const char *plain = tmp_path("plain.safetensors");
  lt_st_writer *w = lt_st_writer_new();
  float one = 1;
  lt_st_writer_add(w, "fc1.weight", LT_DT_F32, 1, (int64_t[]){1}, &one);
  lt_st_writer_meta(w, "format", "lotto.model");
  assert_int_equal(lt_st_writer_commit(w, plain), LT_OK);
  lt_st_writer_free(w);
  expect_refused(plain, "not a lotto.sparse export (format lotto.model)");
  // every cut of a real export
  const char *path = tmp_path("small.safetensors"), *cut = tmp_path("cut.safetensors");
  export_small(path);
  size_t n;
  unsigned char *raw = read_all(path, &n);
  assert_non_null(raw);
  for (size_t len = 0; len < n; len += len < 16 ? 1 : 13) {
    write_all(cut, raw, len);
    expect_refused(cut, NULL);
  }
  free(raw);
  remove(path), remove(cut), remove(plain);
}

/* Copies src to dst with metadata key set to value (NULL: dropped) and, when
 * tensor is non-NULL, that tensor replaced or added as data (U8, n bytes). */
static void craft(const char *src, const char *dst, const char *key, const char *value, const char *tensor,
                  const uint8_t *data, int64_t n) {
  lt_st_file *f;
  assert_int_equal(lt_st_open(&f, src), LT_OK);
  lt_st_writer *w = lt_st_writer_new();
  for (size_t i = 0; i < lt_st_count(f); i++) {
    const lt_st_entry *e = lt_st_entry_at(f, i);
    if (!tensor || strcmp(e->name, tensor)) assert_int_equal(lt_st_writer_add(w, e->name, e->dtype, e->ndim, e->shape, e->data), LT_OK);
  }
  if (tensor) assert_int_equal(lt_st_writer_add(w, tensor, LT_DT_U8, 1, &n, data), LT_OK);
  const char *k, *v;
  for (size_t i = 0; lt_st_meta_at(f, i, &k, &v) == 0; i++)
    if (!key || strcmp(k, key)) lt_st_writer_meta(w, k, v);
  if (key && value) lt_st_writer_meta(w, key, value);
  assert_int_equal(lt_st_writer_commit(w, dst), LT_OK);
  lt_st_writer_free(w);
  lt_st_close(f);
}

static void import_should_refuse_crafted_corrupt_files_naming_the_problem(void **state) {
  const char *path = tmp_path("base.safetensors"), *bad = tmp_path("bad.safetensors");
  export_small(path);
  lt_model *ok;
  assert_int_equal(lt_model_import(&ok, path), LT_OK); // the base itself is fine
  lt_model_free(ok);
  static const struct { const char *key, *value, *fragment; } cases[] = {
      {"lotto.arch", "{", "lotto.arch is not JSON"},
      {"lotto.arch", NULL, "not a lotto.sparse export: no lotto.arch"},
      {"lotto.arch", "[]", "a layer is not a JSON object"},
      {"lotto.arch", "{\"kind\":\"gelu\"}", "unknown layer kind 'gelu'"},
      {"lotto.arch", "{\"kind\":7}", "no \"kind\" string"},
      {"lotto.arch", "{\"kind\":\"sequential\",\"children\":{}}", "\"children\" is not an array"},
      {"lotto.arch", "{\"kind\":\"linear\",\"in\":32,\"out\":\"3\"}", "setting 'out' of a linear layer is not a number"},
      {"lotto.arch", "{\"kind\":\"linear\",\"in\":32,\"out\":3,\"name\":5}", "\"name\" of a linear layer is not a string"},
      {"lotto.arch", "{\"kind\":\"linear\",\"in\":33,\"out\":3}", "expects input"},
      {"lotto.arch", "{\"kind\":\"linear\",\"in\":1e300,\"out\":3}", "setting 'in' must be an integer"},
      {"lotto.arch", "{\"kind\":\"linear\",\"in\":0,\"out\":3}", "setting 'in' must be in [1, "},
      {"lotto.input", "[0]", "lotto.input"},
      {"lotto.input", "[1,2,3,4]", "lotto.input"},
      {"lotto.input", "7", "lotto.input"},
      {"format", "lotto.model", "not a lotto.sparse export"},
      {"fc.weight.layout", "rle", "\"fc.weight\": unknown layout"},
      {"fc.weight.layout", NULL, "no sparse layout for \"fc.weight\""},
      {"fc.weight.nnz", "abc", "no sparse layout for \"fc.weight\""},
      {"fc.weight.nnz", "-1", "no sparse layout"},
      {"fc.weight.nnz", "100000", "no sparse layout"},
      {"fc.weight.nnz", "3", "\"fc.weight.values\" is missing or has the wrong size"},
      {"fc.weight.layout", "empty", "an empty layout with entries"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    craft(path, bad, cases[i].key, cases[i].value, NULL, NULL, 0);
    expect_refused(bad, cases[i].fragment);
  }
  // nesting beyond any model
  static char deep[8192];
  deep[0] = 0;
  for (int i = 0; i < 100; i++) strcat(deep, "{\"kind\":\"sequential\",\"children\":[");
  for (int i = 0; i < 100; i++) strcat(deep, "]}");
  craft(path, bad, "lotto.arch", deep, NULL, NULL, 0);
  expect_refused(bad, "nest deeper");
  // index tensors: a wrong-size bitmap, gaps running past the end, gaps that skip a value
  lt_st_file *f;
  assert_int_equal(lt_st_open(&f, path), LT_OK);
  const char *layout = lt_st_meta_get(f, "fc.weight.layout");
  const lt_st_entry *e = lt_st_find(f, "conv1.weight.bitmap");
  assert_string_equal(layout, "bitmap"); // 4 of 5 kept: a bitmap is smaller
  assert_non_null(e);
  int64_t nb = (int64_t)e->numel;
  lt_st_close(f);
  uint8_t bytes[64];
  memset(bytes, 0xff, sizeof bytes);
  craft(path, bad, NULL, NULL, "conv1.weight.bitmap", bytes, nb + 1);
  expect_refused(bad, "the index tensor of \"conv1.weight\" is missing or has the wrong size");
  craft(path, bad, NULL, NULL, "conv1.weight.bitmap", bytes, nb); // all bits: more kept than values
  expect_refused(bad, "\"conv1.weight\": the index and the values disagree");
  // fc.weight as delta8: no gaps tensor, gaps running past its 96 entries, gaps that skip values
  const char *bad2 = tmp_path("bad2.safetensors");
  craft(path, bad, "fc.weight.layout", "delta8", NULL, NULL, 0);
  expect_refused(bad, "the index tensor of \"fc.weight\" is missing");
  bytes[0] = 95, bytes[1] = 0; // position 95, then 96: out of range
  craft(bad, bad2, NULL, NULL, "fc.weight.delta", bytes, 2);
  expect_refused(bad2, "\"fc.weight\": a position is out of range");
  bytes[0] = 255; // position 254 marks nothing, then 255 + 1: out of range
  craft(bad, bad2, NULL, NULL, "fc.weight.delta", bytes, 2);
  expect_refused(bad2, "a position is out of range");
  bytes[0] = 3, bytes[1] = 7; // two kept, the values say more
  craft(bad, bad2, NULL, NULL, "fc.weight.delta", bytes, 2);
  expect_refused(bad2, "\"fc.weight\": the index and the values disagree");
  remove(bad2);
  remove(path), remove(bad);
}

static void import_should_survive_any_single_flipped_byte(void **state) {
  const char *path = tmp_path("flip_src.safetensors"), *bad = tmp_path("flip.safetensors");
  export_small(path);
  size_t n;
  unsigned char *raw = read_all(path, &n);
  assert_non_null(raw);
  int refused = 0, loaded = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char keep = raw[i];
    raw[i] ^= (unsigned char)(1u << (i % 8));
    write_all(bad, raw, n);
    raw[i] = keep;
    lt_model *m = NULL;
    if (lt_model_import(&m, bad)) {
      assert_null(m);
      assert_true(strlen(lt_errmsg()) > 0);
      refused++;
    } else {
      assert_non_null(m); // a flipped value byte still makes a model
      lt_model_free(m);
      loaded++;
    }
  }
  assert_true(refused > 0 && loaded > 0);
  free(raw);
  remove(path), remove(bad);
}

/* Imports path in a forked child; returns its peak RSS growth (KiB), its message in msg. */
static lt_status import_model(const void *path) {
  lt_model *m = NULL;
  lt_status s = lt_model_import(&m, path);
  lt_model_free(m);
  return s;
}
static long import_in_child(const char *path, char *msg, size_t cap) { return rss_growth_in_child(import_model, path, msg, cap); }

/* Files of a few hundred bytes whose arch declares 512^2 + 4096^2 weights, or a conv of
 * 512 x 512 x 7 x 7, but which hold no tensors: refused on the first parameter, before
 * the model's buffers (200 MB) or a layer's own are allocated; and one whose 2^27
 * weights are all pruned ("empty"): more than its data can describe. */
static void import_should_check_the_arch_against_the_tensors_before_allocating(void **state) {
  static const char *const archs[] = {
      "{\"kind\":\"sequential\",\"children\":[{\"kind\":\"linear\",\"in\":512,\"out\":512},"
      "{\"kind\":\"linear\",\"in\":4096,\"out\":4096}]}",
      "{\"kind\":\"conv2d\",\"cin\":512,\"cout\":512,\"k\":7}",
      /* every weight present as an "empty" (all pruned) layout: 2^27 positions from 8 bias floats */
      "{\"kind\":\"linear\",\"in\":16777216,\"out\":8}",
  };
  static const char *const inputs[] = {"[512]", "[512,8,8]", "[16777216]"};
  static const char *const why[] = {"no sparse layout for \"fc1.weight\"", "\"conv1.weight\"", "claims more positions"};
  for (int i = 0; i < 3; i++) {
    const char *p = tmp_path("bomb.safetensors");
    lt_st_writer *w = lt_st_writer_new();
    assert_int_equal(lt_st_writer_meta(w, "format", "lotto.sparse"), LT_OK);
    assert_int_equal(lt_st_writer_meta(w, "lotto.arch", archs[i]), LT_OK);
    assert_int_equal(lt_st_writer_meta(w, "lotto.input", inputs[i]), LT_OK);
    if (i == 2) {
      float b[8] = {0};
      assert_int_equal(lt_st_writer_meta(w, "fc1.weight.layout", "empty"), LT_OK);
      assert_int_equal(lt_st_writer_meta(w, "fc1.weight.nnz", "0"), LT_OK);
      assert_int_equal(lt_st_writer_add(w, "fc1.bias", LT_DT_F32, 1, (int64_t[]){8}, b), LT_OK);
    }
    assert_int_equal(lt_st_writer_commit(w, p), LT_OK);
    lt_st_writer_free(w);
    char msg[1100];
    assert_true(import_in_child(p, msg, sizeof msg) < 24 * 1024);
    assert_non_null(strstr(msg, why[i]));
    assert_non_null(strstr(msg, p));
    expect_refused(p, ".weight");
    remove(p);
  }
}

int main(void) {
  const char *t = getenv("LOTTO_TEST_TMP");
  snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(import_should_read_a_file_written_before_the_codec_moved_to_c),
      cmocka_unit_test(import_should_refuse_missing_foreign_and_truncated_files),
      cmocka_unit_test(import_should_refuse_crafted_corrupt_files_naming_the_problem),
      cmocka_unit_test(import_should_survive_any_single_flipped_byte),
      cmocka_unit_test(import_should_check_the_arch_against_the_tensors_before_allocating),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
