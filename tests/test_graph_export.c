/* test_graph_export.c: graph layers through their settings (config / from_config): a model of
 * GCN (input dropout), GAT (two heads) and GIN layers, pruned, exported, imported and given its
 * graph with lt_graph_attach gives the same outputs bit for bit, in evaluation and in training
 * (the dropout seed is a setting); without the graph the forward names what is missing; a graph
 * of other sizes is refused; a bad setting names its key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/graph.h"

enum { N = 12, F = 40 };

static lt_graph *ring(int n) {
  int64_t pairs[2 * 64];
  for (int i = 0; i < n; i++) pairs[2 * i] = i, pairs[2 * i + 1] = (i + 1) % n;
  pairs[2 * n] = 0, pairs[2 * n + 1] = n / 2; /* one chord */
  lt_graph *g;
  if (lt_graph_new(&g, n, n + 1, pairs)) fail_msg("graph: %s", lt_errmsg());
  return g;
}

static lt_model *graph_model(lt_graph *g) {
  lt_layer *seq[] = {lt_gcn_new(g, F, 8, 1, 0.5f, 7), lt_relu_new(), lt_gat_new(g, 8, 4, 2, 1, 0.2f, 9), lt_relu_new(),
                     lt_gin_new(g, 8, 6, 3)};
  lt_model *m = lt_model_new(lt_sequential_new(5, seq), 1, (int64_t[]){F});
  if (!m) fail_msg("model: %s", lt_errmsg());
  lt_rng r;
  lt_rng_seed(&r, 3, LT_STREAM_INIT);
  assert_int_equal(lt_model_init(m, &r, LT_INIT_GLOROT_UNIFORM), LT_OK);
  float *mask = lt_tensor_data(lt_model_masks(m));
  for (size_t i = 0; i < lt_model_numel(m, 0); i += 3) mask[i] = 0; /* a pruned model */
  lt_model_apply_mask(m);
  return m;
}

/* x (N, F): mostly zero, so the GCN takes its CSR path (dropout per nonzero). */
static lt_tensor *features(void) {
  lt_tensor *x = lt_tensor_new2(N, F);
  for (int i = 0; i < N; i++)
    for (int f = i % 3; f < F; f += 9) lt_tensor_data(x)[i * F + f] = 0.1f * (float)(1 + (i * 7 + f) % 5);
  return x;
}

static void a_graph_model_should_round_trip_through_export(void **state) {
  assert_int_equal(lt_graph_register_kinds(), LT_OK);
  assert_int_equal(lt_graph_register_kinds(), LT_OK); /* idempotent */
  lt_graph *g = ring(N);
  lt_model *a = graph_model(g), *b = NULL;
  char path[600];
  const char *t = getenv("LOTTO_TEST_TMP");
  snprintf(path, sizeof path, "%s/test_graph_export.safetensors", t && *t ? t : "/tmp");
  assert_int_equal(lt_model_export(a, path, NULL), LT_OK);
  if (lt_model_import(&b, path)) fail_msg("import: %s", lt_errmsg());
  remove(path);
  lt_tensor *x = features(), *ya, *yb;
  /* no graph yet: the forward says which */
  assert_int_not_equal(lt_model_forward(b, x, &yb, 0), LT_OK);
  assert_non_null(strstr(lt_errmsg(), "no graph"));
  assert_non_null(strstr(lt_errmsg(), "12 nodes and 13 edges"));
  /* a graph of other sizes is refused, and changes nothing */
  lt_graph *other = ring(N + 1);
  int n = -1;
  assert_int_not_equal(lt_graph_attach(b, other, &n), LT_OK);
  assert_non_null(strstr(lt_errmsg(), "not 13 and 14"));
  assert_int_equal(n, 0);
  assert_int_not_equal(lt_model_forward(b, x, &yb, 0), LT_OK);
  lt_graph_release(other);
  assert_int_equal(lt_graph_attach(b, g, &n), LT_OK);
  assert_int_equal(n, 3);
  assert_int_equal(lt_model_density(a) == lt_model_density(b), 1);
  for (int train = 0; train <= 1; train++)
    for (int rep = 0; rep < 2; rep++) { /* training: the dropout streams agree forward after forward */
      assert_int_equal(lt_model_forward(a, x, &ya, train), LT_OK);
      float want[N * 3];
      memcpy(want, lt_tensor_data(ya), sizeof want);
      assert_int_equal(lt_model_forward(b, x, &yb, train), LT_OK);
      assert_memory_equal(want, lt_tensor_data(yb), sizeof want);
    }
  lt_tensor_release(x);
  lt_model_free(a), lt_model_free(b);
  lt_graph_release(g);
}

static void a_bad_graph_setting_should_name_its_key(void **state) {
  assert_int_equal(lt_graph_register_kinds(), LT_OK);
  lt_layer_config c = {0};
  lt_config_add_int(&c, "in", 4);
  lt_config_add_int(&c, "out", 2);
  lt_config_add_num(&c, "dropout", 1.5);
  assert_null(lt_layer_from_config("gcn", &c, 0, NULL));
  assert_non_null(strstr(lt_errmsg(), "dropout"));
  lt_layer_config d = {0};
  lt_config_add_int(&d, "in", 4);
  lt_config_add_int(&d, "hiden", 2);
  assert_null(lt_layer_from_config("gin", &d, 0, NULL));
  assert_non_null(strstr(lt_errmsg(), "hiden"));
  lt_layer_config e = {0};
  lt_config_add_int(&e, "in", 4);
  assert_null(lt_layer_from_config("gat", &e, 0, NULL));
  assert_non_null(strstr(lt_errmsg(), "out"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_graph_model_should_round_trip_through_export),
      cmocka_unit_test(a_bad_graph_setting_should_name_its_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
