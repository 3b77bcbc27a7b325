/* test_cost.c: per-sample multiply-adds and bytes of each layer kind that has a
 * prunable weight (linear, conv2d with stride and padding, depthwise conv),
 * dense and after masks, against counts worked out by hand; layers without a
 * weight cost nothing; and the C side of shrinking (a chain's shapes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/nn.h"

static lt_model *seq_model(int ndim, const int64_t *in, int n, lt_layer **kids) {
  lt_model *m = lt_model_new(lt_sequential_new(n, kids), ndim, in);
  if (!m) fail_msg("model build failed: %s", lt_errmsg());
  return m;
}

static void linear_should_cost_in_times_out_per_sample(void **state) {
  int64_t in[1] = {784};
  lt_layer *k[] = {lt_linear_new(784, 300, 1), lt_relu_new(), lt_linear_new(300, 10, 0)};
  lt_model *m = seq_model(1, in, 3, k);
  lt_cost c;
  lt_model_cost(m, &c);
  assert_int_equal(c.macs, 784 * 300 + 300 * 10);
  assert_int_equal(c.macs_kept, c.macs);
  assert_int_equal(c.params, 784 * 300 + 300 + 3000);
  assert_int_equal(c.bytes, 4 * c.params);
  // mask half of fc2's rows: 5 * 300 weights
  const lt_param *w = lt_model_param(m, 2);
  memset(lt_tensor_data(w->mask), 0, sizeof(float) * 5 * 300);
  lt_model_cost(m, &c);
  assert_int_equal(c.macs_kept, 784 * 300 + 5 * 300);
  assert_int_equal(c.params_kept, 784 * 300 + 300 + 1500);
  // fc2 exported: 1500 values, and 1500 gap bytes would pass the 375-byte bitmap
  assert_int_equal(c.bytes_sparse, 4 * (784 * 300 + 300) + (784 * 300 + 7) / 8 + 4 * 1500 + 375);
  lt_model_free(m);
}

static void conv2d_should_cost_its_weights_times_output_positions(void **state) {
  // (3, 32, 32) -> conv 16@3x3 stride 2 pad 1 -> (16, 16, 16): 16*3*9 weights x 256 positions
  int64_t in[3] = {3, 32, 32};
  lt_layer *k[] = {lt_conv2d_new(3, 16, 3, 2, 1, 1), lt_batchnorm_new(16), lt_maxpool2d_new(2, 2),
                   lt_conv2d_new(16, 8, 1, 1, 0, 0)};
  lt_model *m = seq_model(3, in, 4, k);
  lt_cost c;
  lt_model_cost(m, &c);
  // the 1x1 conv sees (16, 8, 8): 8*16 weights x 64 positions; batchnorm and pooling cost nothing
  assert_int_equal(c.macs, 16 * 3 * 9 * 256 + 8 * 16 * 64);
  assert_int_equal(c.params, 16 * 27 + 16 + 32 + 128);
  const lt_param *w = lt_model_param(m, 0);
  float *mk = lt_tensor_data(w->mask);
  for (int i = 0; i < 27; i++) mk[i] = 0; // output channel 0
  lt_model_cost(m, &c);
  assert_int_equal(c.macs_kept, 15 * 27 * 256 + 8 * 16 * 64);
  lt_model_free(m);
}

static void depthwise_conv_should_cost_one_filter_per_channel(void **state) {
  int64_t in[3] = {8, 10, 10};
  lt_layer *k[] = {lt_dwconv2d_new(8, 3, 1, 1, 0), lt_dwconv2d_new(8, 3, 2, 0, 0)};
  lt_model *m = seq_model(3, in, 2, k);
  lt_cost c;
  lt_model_cost(m, &c);
  // 8*9 weights x 100 positions, then x 16 (10 - 3) / 2 + 1 = 4 -> 4x4
  assert_int_equal(c.macs, 8 * 9 * 100 + 8 * 9 * 16);
  assert_int_equal(c.params, 2 * 72);
  lt_model_free(m);
}

static void shrink_should_drop_dead_rows_and_their_columns(void **state) {
  int64_t in[1] = {6};
  lt_layer *k[] = {lt_linear_new(6, 4, 1), lt_relu_new(), lt_linear_new(4, 2, 1)};
  lt_model *m = seq_model(1, in, 3, k);
  const lt_param *w = lt_model_param(m, 0);
  float *mk = lt_tensor_data(w->mask);
  for (int i = 6; i < 12; i++) mk[i] = 0; // row 1
  for (int i = 18; i < 24; i++) mk[i] = 0; // row 3
  lt_model_apply_mask(m);
  lt_model *s = NULL;
  lt_shrink_info info;
  assert_int_equal(lt_model_shrink(m, &s, &info), LT_OK);
  assert_int_equal(lt_model_param(s, 0)->shape[0], 2);
  assert_int_equal(lt_model_param(s, 2)->shape[1], 2);
  assert_int_equal(info.params_after, 6 * 2 + 2 + 2 * 2 + 2);
  assert_true(info.dropped == 0.0); // biases start at 0
  lt_cost c;
  lt_model_cost(s, &c);
  assert_int_equal(c.macs, 12 + 4);
  lt_model_free(s);
  lt_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(linear_should_cost_in_times_out_per_sample),
      cmocka_unit_test(conv2d_should_cost_its_weights_times_output_positions),
      cmocka_unit_test(depthwise_conv_should_cost_one_filter_per_channel),
      cmocka_unit_test(shrink_should_drop_dead_rows_and_their_columns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
