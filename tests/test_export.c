/* test_export.c: CMocka tests of the export codec (lt_model_export /
 * lt_model_import, src/nn/nn_export.c, nn_import.c) and of the layer
 * configuration it rests on (config op, lt_layer_from_config): a round trip of
 * a pruned model with every layer kind, the delta8 and bitmap codecs on
 * hand-worked patterns, the layout choice, the settings' checks. Bad files:
 * tests/test_import.c. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/io.h"
#include "lotto/nn.h"
#include "nn/export_impl.h"

static char tmpdir[512];
static const char *tmp_path(const char *name) {
  static char buf[4][1024];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/test_export_%s", tmpdir, name);
  return buf[k];
}

static lt_layer *checked(lt_layer *l) {
  if (!l) fail_msg("%s", lt_errmsg());
  return l;
}

/* Every kind: conv (no bias, padding) -> bn -> relu -> residual (identity) ->
 * residual (projection, stride 2) -> maxpool -> avgpool -> gap -> flatten ->
 * dropout -> linear "head". Input (2, 8, 8). */
static lt_model *every_kind_model(void) {
  lt_layer *b1[] = {checked(lt_conv2d_new(3, 3, 3, 1, 1, 0)), checked(lt_batchnorm_new(3))};
  lt_layer *b2[] = {checked(lt_conv2d_new(3, 4, 3, 2, 1, 1)), checked(lt_relu_new())};
  lt_layer *s2[] = {checked(lt_conv2d_new(3, 4, 1, 2, 0, 0)), checked(lt_batchnorm_new(4))};
  lt_layer *head = checked(lt_linear_new(4, 5, 1));
  assert_int_equal(lt_layer_set_name(head, "head"), LT_OK);
  lt_layer *k[] = {checked(lt_conv2d_new(2, 3, 3, 1, 1, 0)),
                   checked(lt_batchnorm_new(3)),
                   checked(lt_relu_new()),
                   checked(lt_residual_new(checked(lt_sequential_new(2, b1)), NULL)),
                   checked(lt_residual_new(checked(lt_sequential_new(2, b2)), checked(lt_sequential_new(2, s2)))),
                   checked(lt_maxpool2d_new(2, 0)),
                   checked(lt_avgpool2d_new(1, 1)),
                   checked(lt_global_avgpool_new()),
                   checked(lt_flatten_new()),
                   checked(lt_dropout_new(0.25f, 7)),
                   head};
  int64_t in[3] = {2, 8, 8};
  lt_model *m = lt_model_new(checked(lt_sequential_new(11, k)), 3, in);
  if (!m) fail_msg("%s", lt_errmsg());
  return m;
}

/* Seeded values, then per prunable weight a different mask: a pattern (bitmap),
 * one kept entry (delta8), none (empty), all (bitmap); bn statistics off 0/1. */
static void prune_by_hand(lt_model *m) {
  lt_rng r;
  lt_rng_seed(&r, 5, LT_STREAM_INIT);
  assert_int_equal(lt_model_init(m, &r, LT_INIT_KAIMING_NORMAL), LT_OK);
  float *v = lt_tensor_data(lt_model_values(m));
  for (size_t i = 0; i < lt_tensor_numel(lt_model_values(m)); i++) v[i] += 0.01f * (float)(i % 7); // biases, bn too
  int w = 0;
  for (int i = 0; i < lt_model_nparams(m); i++) {
    const lt_param *p = lt_model_param(m, i);
    if (!p->prunable) continue;
    float *mk = lt_tensor_data(p->mask);
    for (size_t j = 0; j < p->numel; j++)
      mk[j] = w % 4 == 0 ? (j % 3 == 1) : w % 4 == 1 ? (j == p->numel - 1) : w % 4 == 2 ? 0.0f : 1.0f;
    w++;
  }
  assert_true(w >= 5);
  for (int i = 0; i < lt_model_nbuffers(m); i++) {
    const lt_param *p = lt_model_buffer(m, i);
    float *b = lt_tensor_data(p->value);
    for (size_t j = 0; j < p->numel; j++) b[j] = 0.5f + 0.125f * (float)(j + i);
  }
  lt_model_apply_mask(m);
}

// Equal values (a pruned weight may be -0 in one and 0 in the other: masking keeps the sign).
static void assert_same_floats(const lt_tensor *a, const lt_tensor *b) {
  assert_int_equal(lt_tensor_numel(a), lt_tensor_numel(b));
  const float *x = lt_tensor_data((lt_tensor *)a), *y = lt_tensor_data((lt_tensor *)b);
  for (size_t i = 0; i < lt_tensor_numel(a); i++)
    if (!(x[i] == y[i])) fail_msg("element %zu: %.9g vs %.9g", i, x[i], y[i]);
}

static void export_should_round_trip_every_layer_kind_with_exact_masks_and_values(void **state) {
  lt_model *m = every_kind_model();
  prune_by_hand(m);
  const char *path = tmp_path("every_kind.safetensors");
  const char *meta[] = {"note", "hand-pruned", "format", "overridden by the codec", NULL};
  assert_int_equal(lt_model_export(m, path, meta), LT_OK);
  lt_model *b = NULL;
  if (lt_model_import(&b, path)) fail_msg("%s", lt_errmsg());
  // same tree (names, kinds, settings), same parameters, bit for bit
  char *da = lt_model_describe(m), *db = lt_model_describe(b);
  assert_string_equal(da, db);
  free(da), free(db);
  assert_int_equal(lt_model_nparams(b), lt_model_nparams(m));
  for (int i = 0; i < lt_model_nparams(m); i++) assert_string_equal(lt_model_param(b, i)->name, lt_model_param(m, i)->name);
  assert_same_floats(lt_model_values(b), lt_model_values(m));
  assert_same_floats(lt_model_masks(b), lt_model_masks(m));
  assert_same_floats(lt_model_buffers(b), lt_model_buffers(m));
  // the same outputs in eval mode
  lt_model_train(m, 0), lt_model_train(b, 0);
  lt_rng r;
  lt_rng_seed(&r, 9, LT_STREAM_USER);
  lt_tensor *x = lt_tensor_randn(4, (int64_t[]){3, 2, 8, 8}, &r, 0.0f, 1.0f), *ya, *yb;
  assert_int_equal(lt_model_forward(m, x, &ya, 0), LT_OK);
  assert_int_equal(lt_model_forward(b, x, &yb, 0), LT_OK);
  assert_same_floats(ya, yb);
  lt_tensor_release(x);
  // every layer's settings survive: dropout's p and seed, conv stride/padding/bias
  lt_layer_config c;
  lt_layer *drop = lt_layer_child(lt_model_root(b), 9);
  assert_string_equal(lt_layer_kind(drop), "dropout");
  lt_layer_config_get(drop, &c);
  assert_int_equal(c.n, 2);
  assert_string_equal(c.e[0].key, "p");
  assert_true(c.e[0].num == 0.25);
  assert_string_equal(c.e[1].key, "seed");
  assert_int_equal(c.e[1].i, 7);
  assert_string_equal(lt_layer_given_name(lt_layer_child(lt_model_root(b), 10)), "head");
  // user metadata kept, the codec's own keys win
  lt_st_file *f;
  assert_int_equal(lt_st_open(&f, path), LT_OK);
  assert_string_equal(lt_st_meta_get(f, "note"), "hand-pruned");
  assert_string_equal(lt_st_meta_get(f, "format"), "lotto.sparse");
  lt_st_close(f);
  lt_model_free(b);
  lt_model_free(m);
  remove(path);
}

static void delta8_should_encode_hand_worked_gaps(void **state) {
  // kept at 0, 1 (gaps 0, 0), 256 (gap 254), 512 (255), 769 (256), 1370 (600)
  enum { N = 1400 };
  float mask[N] = {0}, back[N];
  const size_t kept[] = {0, 1, 256, 512, 769, 1370};
  for (int i = 0; i < 6; i++) mask[kept[i]] = 1.0f;
  const uint8_t want[] = {0, 0, 254, 255, 0, 255, 1, 255, 255, 90};
  uint8_t got[32];
  assert_int_equal(lt_delta8_encode(NULL, mask, N), sizeof want);
  assert_int_equal(lt_delta8_encode(got, mask, N), sizeof want);
  assert_memory_equal(got, want, sizeof want);
  assert_int_equal(lt_delta8_decode(back, N, want, sizeof want), 6);
  assert_memory_equal(back, mask, sizeof mask);
  // a position past the end is refused; trailing long gaps mark nothing
  const uint8_t past[] = {0, 5};
  assert_int_equal(lt_delta8_decode(back, 3, past, 2), -1);
  const uint8_t trail[] = {2, 255};
  assert_int_equal(lt_delta8_decode(back, 10, trail, 2), 1);
  assert_true(back[2] == 1.0f && back[0] == 0.0f);
  // an empty mask has no bytes
  float none[10] = {0};
  assert_int_equal(lt_delta8_encode(NULL, none, 10), 0);
  assert_int_equal(lt_delta8_decode(none, 10, want, 0), 0);
}

static void bitmap_should_set_bit_j_of_byte_i_for_position_8i_plus_j(void **state) {
  float mask[11] = {1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1}, back[11];
  uint8_t bits[2];
  lt_bitmap_encode(bits, mask, 11);
  assert_int_equal(bits[0], 0x09);
  assert_int_equal(bits[1], 0x06);
  const uint8_t noisy[2] = {0x09, 0xfe}; // bits past position 10 are ignored
  assert_int_equal(lt_bitmap_decode(back, 11, noisy), 4);
  assert_memory_equal(back, mask, sizeof mask);
}

static void layout_should_pick_the_smaller_index_and_empty_for_none(void **state) {
  assert_string_equal(lt_export_layout(0, 0, 16), "empty");
  assert_string_equal(lt_export_layout(16, 16, 16), "bitmap"); // full: 16 gap bytes vs 2 bitmap bytes
  assert_string_equal(lt_export_layout(2, 2, 16), "delta8");   // a tie goes to delta8
  assert_string_equal(lt_export_layout(6, 10, 1400), "delta8");
  assert_string_equal(lt_export_layout(3, 3, 16), "bitmap");
}

// A model of three linear layers whose masks are full, empty and one entry.
static void export_should_write_bitmap_empty_and_delta8_tensors(void **state) {
  lt_layer *k[] = {checked(lt_linear_new(4, 4, 0)), checked(lt_linear_new(4, 4, 1)), checked(lt_linear_new(4, 300, 0))};
  lt_model *m = lt_model_new(checked(lt_sequential_new(3, k)), 1, (int64_t[]){4});
  assert_non_null(m);
  float *mk = lt_tensor_data(lt_model_masks(m)), *v = lt_tensor_data(lt_model_values(m));
  for (size_t i = 0; i < lt_tensor_numel(lt_model_values(m)); i++) v[i] = (float)i + 1;
  memset(mk + 16, 0, 16 * sizeof *mk);                      // fc2.weight: nothing kept
  for (size_t i = 36; i < 36 + 1200; i++) mk[i] = i == 36 + 1000; // fc3.weight: position 1000
  lt_model_apply_mask(m);
  const char *path = tmp_path("layouts.safetensors");
  assert_int_equal(lt_model_export(m, path, NULL), LT_OK);
  lt_st_file *f;
  assert_int_equal(lt_st_open(&f, path), LT_OK);
  assert_string_equal(lt_st_meta_get(f, "fc1.weight.layout"), "bitmap");
  assert_string_equal(lt_st_meta_get(f, "fc1.weight.nnz"), "16");
  assert_int_equal(lt_st_find(f, "fc1.weight.bitmap")->numel, 2);
  assert_string_equal(lt_st_meta_get(f, "fc2.weight.layout"), "empty");
  assert_null(lt_st_find(f, "fc2.weight.values"));
  assert_string_equal(lt_st_meta_get(f, "fc3.weight.layout"), "delta8");
  const lt_st_entry *d = lt_st_find(f, "fc3.weight.delta");
  assert_int_equal(d->numel, 4); // 1000 = 255 * 3 + 235
  const uint8_t want[] = {255, 255, 255, 235};
  assert_memory_equal(d->data, want, 4);
  float val;
  lt_st_entry_read(lt_st_find(f, "fc3.weight.values"), &val);
  assert_true(val == 36 + 1000 + 1);
  assert_non_null(lt_st_find(f, "fc2.bias"));
  assert_string_equal(lt_st_meta_get(f, "lotto.input"), "[4]");
  lt_st_close(f);
  lt_model_free(m);
  remove(path);
}

static void from_config_should_name_the_bad_key_and_free_the_children(void **state) {
  lt_layer_config c = {0};
  lt_config_add_int(&c, "in", 3);
  assert_null(lt_layer_from_config("linear", &c, 0, NULL));
  assert_non_null(strstr(lt_errmsg(), "linear: setting 'out' is missing"));
  lt_config_add_int(&c, "out", 2);
  lt_config_add_int(&c, "bias", 1);
  assert_null(lt_layer_from_config("linear", &c, 0, NULL));
  assert_non_null(strstr(lt_errmsg(), "'bias' must be a boolean"));
  c.n = 0;
  lt_config_add_num(&c, "in", 2.5);
  lt_config_add_num(&c, "out", 2.0); // an integral number is an integer
  assert_null(lt_layer_from_config("linear", &c, 0, NULL));
  assert_non_null(strstr(lt_errmsg(), "'in' must be an integer"));
  c.n = 0;
  lt_config_add_num(&c, "in", 3.0);
  lt_config_add_int(&c, "out", 2);
  lt_config_add_bool(&c, "bias", 0);
  lt_layer *l = lt_layer_from_config("linear", &c, 0, NULL);
  assert_non_null(l);
  char d[64];
  lt_layer_describe(l, d, sizeof d);
  assert_string_equal(d, "Linear(3 -> 2, no bias)");
  lt_layer_free(l);
  lt_config_add_int(&c, "in", 4);
  assert_null(lt_layer_from_config("linear", &c, 0, NULL));
  assert_non_null(strstr(lt_errmsg(), "'in' given twice"));
  // children: taken over on every path (ASan would report a leak)
  lt_layer *kids[2] = {checked(lt_relu_new()), checked(lt_flatten_new())};
  assert_null(lt_layer_from_config("gelu", NULL, 2, kids));
  assert_non_null(strstr(lt_errmsg(), "unknown layer kind 'gelu'"));
  kids[0] = checked(lt_relu_new()), kids[1] = checked(lt_relu_new());
  assert_null(lt_layer_from_config("relu", NULL, 2, kids));
  assert_non_null(strstr(lt_errmsg(), "has no children"));
  kids[0] = checked(lt_relu_new()), kids[1] = checked(lt_relu_new());
  c.n = 0;
  lt_config_add_int(&c, "n", 3);
  assert_null(lt_layer_from_config("sequential", &c, 2, kids));
  assert_non_null(strstr(lt_errmsg(), "sequential: unknown setting 'n'"));
  assert_null(lt_layer_from_config("residual", NULL, 0, NULL));
  assert_non_null(strstr(lt_errmsg(), "1 or 2 children"));
  kids[0] = checked(lt_relu_new()), kids[1] = checked(lt_relu_new());
  l = lt_layer_from_config("residual", NULL, 2, kids);
  assert_non_null(l);
  assert_int_equal(lt_layer_nchildren(l), 2);
  lt_layer_free(l);
  // the pool stride defaults to k
  c.n = 0;
  lt_config_add_int(&c, "k", 3);
  l = checked(lt_layer_from_config("maxpool2d", &c, 0, NULL));
  lt_layer_config_get(l, &c);
  assert_int_equal(c.n, 2);
  assert_string_equal(c.e[1].key, "stride");
  assert_int_equal(c.e[1].i, 3);
  lt_layer_free(l);
}

// Generic over the registry: no kind is named, so a new kind is covered as soon as it is registered.
static void every_registered_kind_should_refuse_an_unknown_setting(void **state) {
  int n = 0;
  for (; lt_layer_kind_at(n); n++) {
    lt_layer_config c = {0};
    lt_config_add_bool(&c, "no_such_setting", 1);
    lt_layer *kid = checked(lt_relu_new()), *kids[1] = {kid};
    const char *kind = lt_layer_kind_at(n);
    lt_layer *l = lt_layer_from_config(kind, &c, 1, kids); // leaves refuse the child, containers the key
    if (l) fail_msg("%s accepted an unknown setting", kind);
    if (!strstr(lt_errmsg(), "no_such_setting") && !strstr(lt_errmsg(), "no children"))
      fail_msg("%s: unexpected message '%s'", kind, lt_errmsg());
    kids[0] = checked(lt_relu_new());
    if ((l = lt_layer_from_config(kind, &c, 0, kids))) fail_msg("%s accepted an unknown setting", kind);
    lt_layer_free(kids[0]); // not handed over: nchildren was 0
    if (!strstr(lt_errmsg(), "unknown setting 'no_such_setting'") && !strstr(lt_errmsg(), "1 or 2 children"))
      fail_msg("%s: unexpected message '%s'", kind, lt_errmsg());
  }
  assert_true(n >= 11);
  assert_null(lt_layer_kind_at(-1));
}

int main(void) {
  const char *t = getenv("LOTTO_TEST_TMP");
  snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(export_should_round_trip_every_layer_kind_with_exact_masks_and_values),
      cmocka_unit_test(delta8_should_encode_hand_worked_gaps),
      cmocka_unit_test(bitmap_should_set_bit_j_of_byte_i_for_position_8i_plus_j),
      cmocka_unit_test(layout_should_pick_the_smaller_index_and_empty_for_none),
      cmocka_unit_test(export_should_write_bitmap_empty_and_delta8_tensors),
      cmocka_unit_test(from_config_should_name_the_bad_key_and_free_the_children),
      cmocka_unit_test(every_registered_kind_should_refuse_an_unknown_setting),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
