/* test_nn.c: finite-difference gradient checks for every layer (input and
 * parameter gradients), for containers, and for the two losses. The loss is
 * sum(y * r) for a fixed random r, accumulated in double. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/nn.h"

#ifndef EPS
#define EPS 5e-3
#endif
#define TOL 2e-2

static lt_model *seq_model(int ndim, const int64_t *in, int n, lt_layer **kids) {
  lt_model *m = lt_model_new(lt_sequential_new(n, kids), ndim, in);
  if (!m) fail_msg("model build failed: %s", lt_errmsg());
  return m;
}

static void randomize(lt_model *m, uint64_t seed) {
  lt_rng r;
  lt_rng_seed(&r, seed, LT_STREAM_USER);
  // every parameter random (not just weights) so bias and batchnorm paths matter
  float *v = lt_tensor_data(lt_model_values(m));
  for (size_t i = 0; i < lt_model_numel(m, 0); i++) v[i] = lt_rng_uniform(&r, -1.0f, 1.0f);
}

static double probe(lt_model *m, lt_tensor *x, const float *r) {
  lt_tensor *y;
  if (lt_model_forward(m, x, &y, 1)) fail_msg("forward: %s", lt_errmsg());
  const float *yd = lt_tensor_data(y);
  double s = 0.0;
  for (size_t i = 0; i < lt_tensor_numel(y); i++) s += (double)yd[i] * r[i];
  return s;
}

static double rel_err(const float *a, const double *n, size_t len, double *anorm) {
  double d = 0, na = 0, nn = 0;
  for (size_t i = 0; i < len; i++) {
    d += (a[i] - n[i]) * (a[i] - n[i]);
    na += (double)a[i] * a[i];
    nn += n[i] * n[i];
  }
  *anorm = sqrt(na);
  double den = fmax(sqrt(na), sqrt(nn));
  return den > 0 ? sqrt(d) / den : 0.0;
}

// Numeric gradient of probe() w.r.t. the n floats at p, by central differences.
// Where the one-sided differences disagree a relu/max kink lies within EPS: such
// elements take the analytic value a[i] and are counted in *skipped.
static void numeric(double *out, size_t *skipped, float *p, size_t n, const float *a, lt_model *m, lt_tensor *x,
                    const float *r) {
  double l0 = probe(m, x, r);
  for (size_t i = 0; i < n; i++) {
    float keep = p[i];
    p[i] = keep + (float)EPS;
    double lp = probe(m, x, r);
    p[i] = keep - (float)EPS;
    double lm = probe(m, x, r);
    p[i] = keep;
    double d1 = (lp - l0) / EPS, d2 = (l0 - lm) / EPS;
    out[i] = (lp - lm) / (2 * EPS);
    if (fabs(d1 - d2) > 0.1 * (fabs(d1) + fabs(d2)) + 1e-2) out[i] = a[i], ++*skipped;
  }
}

/* Checks the input gradient and every parameter gradient of m at a random x (B, in...). */
static void gradcheck(lt_model *m, int64_t B, uint64_t seed) {
  int64_t s[LT_MAXDIM], in[LT_MAXDIM];
  int nd = lt_model_input_shape(m, in) + 1;
  s[0] = B;
  memcpy(s + 1, in, sizeof(int64_t) * (nd - 1));
  lt_rng rng;
  lt_rng_seed(&rng, seed, LT_STREAM_USER);
  lt_tensor *x = lt_tensor_randn(nd, s, &rng, 0.0f, 1.0f);
  lt_tensor *y;
  assert_int_equal(lt_model_forward(m, x, &y, 1), 0);
  lt_tensor *r = lt_tensor_randn(y->ndim, y->shape, &rng, 0.0f, 1.0f);
  const float *rd = lt_tensor_data(r);

  lt_model_zero_grad(m);
  lt_tensor *dx = NULL;
  assert_int_equal(lt_model_forward(m, x, &y, 1), 0);
  assert_int_equal(lt_model_backward(m, r, &dx), 0);
  assert_non_null(dx);
  assert_true(lt_tensor_same_shape(dx, x));

  size_t nx = lt_tensor_numel(x), np = lt_model_numel(m, 0);
  float *ax = malloc(sizeof(float) * nx), *ap = malloc(sizeof(float) * (np + 1));
  double *num = malloc(sizeof(double) * (nx > np ? nx : np + 1)), norm;
  memcpy(ax, lt_tensor_data(dx), sizeof(float) * nx);
  memcpy(ap, lt_tensor_data(lt_model_grads(m)), sizeof(float) * np);

  size_t skipped = 0, total = nx;
  numeric(num, &skipped, lt_tensor_data(x), nx, ax, m, x, rd);
  double e = rel_err(ax, num, nx, &norm);
  if (e > TOL || norm == 0) fail_msg("input gradient: relative error %g (norm %g)", e, norm);

  for (int i = 0; i < lt_model_nparams(m); i++) {
    const lt_param *p = lt_model_param(m, i);
    numeric(num, &skipped, lt_tensor_data(p->value), p->numel, ap + p->offset, m, x, rd);
    e = rel_err(ap + p->offset, num, p->numel, &norm);
    if (e > TOL || norm == 0) fail_msg("%s gradient: relative error %g (norm %g)", p->name, e, norm);
    total += p->numel;
  }
  // kinks are rare: a gradient that is wrong everywhere cannot hide behind them
  if (skipped * 10 > total) fail_msg("%zu of %zu finite differences straddled a kink", skipped, total);
  free(ax);
  free(ap);
  free(num);
  lt_tensor_release(x);
  lt_tensor_release(r);
}

static void linear_gradients_should_match_finite_differences(void **state) {
  int64_t in[1] = {5};
  lt_layer *k[] = {lt_linear_new(5, 4, 1)};
  lt_model *m = seq_model(1, in, 1, k);
  randomize(m, 1);
  gradcheck(m, 3, 2);
  lt_model_free(m);
}

static void linear_without_bias_gradients_should_match_finite_differences(void **state) {
  int64_t in[1] = {6};
  lt_layer *k[] = {lt_linear_new(6, 3, 0)};
  lt_model *m = seq_model(1, in, 1, k);
  assert_int_equal(lt_model_nparams(m), 1);
  randomize(m, 3);
  gradcheck(m, 2, 4);
  lt_model_free(m);
}

static void conv2d_with_stride_two_padding_and_no_bias_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {2, 7, 6};
  lt_layer *k[] = {lt_conv2d_new(2, 3, 3, 2, 1, 0)};
  lt_model *m = seq_model(3, in, 1, k);
  int64_t out[LT_MAXDIM];
  assert_int_equal(lt_model_output_shape(m, out), 3);
  assert_int_equal(out[0], 3);
  assert_int_equal(out[1], 4); // (7 + 2 - 3) / 2 + 1
  assert_int_equal(out[2], 3); // (6 + 2 - 3) / 2 + 1
  randomize(m, 5);
  gradcheck(m, 2, 6);
  lt_model_free(m);
}

static void conv2d_with_bias_and_one_by_one_kernels_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {3, 5, 5};
  lt_layer *k[] = {lt_conv2d_new(3, 4, 3, 1, 0, 1), lt_conv2d_new(4, 2, 1, 1, 0, 1)};
  lt_model *m = seq_model(3, in, 2, k);
  randomize(m, 7);
  gradcheck(m, 2, 8);
  lt_model_free(m);
}

// Inputs spread far apart so a perturbation never changes which element wins.
static void maxpool_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {2, 5, 6};
  lt_layer *k[] = {lt_maxpool2d_new(2, 2)};
  lt_model *m = seq_model(3, in, 1, k);
  gradcheck(m, 2, 9);
  lt_layer *k2[] = {lt_maxpool2d_new(3, 1)};
  lt_model *m2 = seq_model(3, in, 1, k2);
  gradcheck(m2, 1, 10);
  lt_model_free(m);
  lt_model_free(m2);
}

static void avgpool_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {2, 6, 5};
  lt_layer *k[] = {lt_avgpool2d_new(2, 0), lt_avgpool2d_new(2, 1)};
  lt_model *m = seq_model(3, in, 2, k);
  gradcheck(m, 2, 11);
  lt_model_free(m);
}

static void global_avgpool_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {3, 4, 5};
  lt_layer *k[] = {lt_global_avgpool_new(), lt_linear_new(3, 2, 1)};
  lt_model *m = seq_model(3, in, 2, k);
  randomize(m, 12);
  gradcheck(m, 2, 13);
  lt_model_free(m);
}

static void relu_gradients_should_match_finite_differences(void **state) {
  int64_t in[1] = {8};
  lt_layer *k[] = {lt_linear_new(8, 8, 1), lt_relu_new(), lt_linear_new(8, 3, 1)};
  lt_model *m = seq_model(1, in, 3, k);
  randomize(m, 14);
  gradcheck(m, 4, 15);
  lt_model_free(m);
}

static void batchnorm_in_train_mode_gradients_should_match_finite_differences(void **state) {
  int64_t in4[3] = {3, 3, 4}, in2[1] = {4};
  lt_layer *k[] = {lt_batchnorm_new(3)};
  lt_model *m = seq_model(3, in4, 1, k);
  randomize(m, 16);
  gradcheck(m, 3, 17);
  lt_layer *k2[] = {lt_batchnorm_new(4), lt_linear_new(4, 2, 1)};
  lt_model *m2 = seq_model(1, in2, 2, k2);
  randomize(m2, 18);
  gradcheck(m2, 5, 19);
  lt_model_free(m);
  lt_model_free(m2);
}

static void flatten_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {2, 3, 3};
  lt_layer *k[] = {lt_flatten_new(), lt_linear_new(18, 4, 1)};
  lt_model *m = seq_model(3, in, 2, k);
  randomize(m, 20);
  gradcheck(m, 2, 21);
  lt_model_free(m);
}

static void residual_with_identity_shortcut_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {3, 4, 4};
  lt_layer *body[] = {lt_conv2d_new(3, 3, 3, 1, 1, 1), lt_relu_new(), lt_conv2d_new(3, 3, 3, 1, 1, 1)};
  lt_layer *k[] = {lt_residual_new(lt_sequential_new(3, body), NULL), lt_flatten_new()};
  lt_model *m = seq_model(3, in, 2, k);
  randomize(m, 22);
  gradcheck(m, 2, 23);
  lt_model_free(m);
}

static void residual_with_projection_shortcut_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {2, 5, 5};
  lt_layer *body[] = {lt_conv2d_new(2, 4, 3, 2, 1, 0), lt_batchnorm_new(4), lt_relu_new(),
                      lt_conv2d_new(4, 4, 3, 1, 1, 0), lt_batchnorm_new(4)};
  lt_layer *sc[] = {lt_conv2d_new(2, 4, 1, 2, 0, 0), lt_batchnorm_new(4)};
  lt_layer *k[] = {lt_residual_new(lt_sequential_new(5, body), lt_sequential_new(2, sc))};
  lt_model *m = seq_model(3, in, 1, k);
  randomize(m, 24);
  gradcheck(m, 3, 25);
  lt_model_free(m);
}

static void nested_sequentials_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {1, 6, 6};
  lt_layer *inner[] = {lt_conv2d_new(1, 2, 3, 1, 0, 1), lt_relu_new(), lt_maxpool2d_new(2, 2)};
  lt_layer *head[] = {lt_flatten_new(), lt_linear_new(8, 3, 1)};
  lt_layer *k[] = {lt_sequential_new(3, inner), lt_sequential_new(2, head)};
  lt_model *m = seq_model(3, in, 2, k);
  randomize(m, 26);
  gradcheck(m, 2, 27);
  lt_model_free(m);
}

static void depthwise_conv_with_stride_padding_and_bias_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {3, 7, 6};
  lt_layer *k[] = {lt_dwconv2d_new(3, 3, 2, 1, 1), lt_dwconv2d_new(3, 2, 1, 0, 0)};
  lt_model *m = seq_model(3, in, 2, k);
  int64_t out[LT_MAXDIM];
  assert_int_equal(lt_model_output_shape(m, out), 3);
  assert_int_equal(out[0], 3);
  assert_int_equal(out[1], 3); // (7 + 2 - 3) / 2 + 1 = 4, then 4 - 2 + 1
  assert_int_equal(out[2], 2); // (6 + 2 - 3) / 2 + 1 = 3, then 3 - 2 + 1
  randomize(m, 28);
  gradcheck(m, 3, 29);
  lt_model_free(m);
}

// A hand-worked depthwise output: channel c's filter sees only channel c.
static void depthwise_conv_should_filter_each_channel_on_its_own(void **state) {
  int64_t in[3] = {2, 2, 2};
  lt_layer *k[] = {lt_dwconv2d_new(2, 2, 1, 0, 1)};
  lt_model *m = seq_model(3, in, 1, k);
  const lt_param *w = lt_model_param(m, 0), *b = lt_model_param(m, 1);
  float wv[8] = {1, 2, 3, 4, -1, 0, 0, 1}, bv[2] = {0.5f, -2};
  memcpy(lt_tensor_data(w->value), wv, sizeof wv);
  memcpy(lt_tensor_data(b->value), bv, sizeof bv);
  int64_t xs[4] = {1, 2, 2, 2};
  lt_tensor *x = lt_tensor_new(4, xs), *y = NULL;
  float xv[8] = {1, 1, 1, 1, 5, 6, 7, 8};
  memcpy(lt_tensor_data(x), xv, sizeof xv);
  assert_int_equal(lt_model_forward(m, x, &y, 0), LT_OK);
  assert_int_equal(lt_tensor_numel(y), 2);
  assert_float_equal(lt_tensor_data(y)[0], 10.5f, 1e-6); // 1+2+3+4 + 0.5
  assert_float_equal(lt_tensor_data(y)[1], 1.0f, 1e-6);  // -5 + 8 - 2
  lt_tensor_release(x);
  lt_model_free(m);
}

static void concat_of_a_dense_layer_gradients_should_match_finite_differences(void **state) {
  int64_t in[3] = {2, 4, 4};
  lt_layer *b1[] = {lt_batchnorm_new(2), lt_relu_new(), lt_conv2d_new(2, 3, 3, 1, 1, 0)};
  lt_layer *b2[] = {lt_batchnorm_new(5), lt_relu_new(), lt_conv2d_new(5, 3, 3, 1, 1, 0)};
  lt_layer *k[] = {lt_concat_new(lt_sequential_new(3, b1)), lt_concat_new(lt_sequential_new(3, b2)),
                   lt_conv2d_new(8, 2, 1, 1, 0, 1)};
  lt_model *m = seq_model(3, in, 3, k);
  int64_t out[LT_MAXDIM];
  assert_int_equal(lt_model_output_shape(m, out), 3);
  assert_int_equal(out[0], 2);
  randomize(m, 30);
  gradcheck(m, 3, 31);
  lt_model_free(m);
}

static void concat_should_refuse_a_body_that_changes_the_spatial_shape(void **state) {
  int64_t in[3] = {2, 4, 4};
  lt_layer *k[] = {lt_concat_new(lt_conv2d_new(2, 3, 3, 1, 0, 0))};
  lt_model *m = lt_model_new(lt_sequential_new(1, k), 3, in);
  assert_null(m);
  assert_non_null(strstr(lt_errmsg(), "keep every axis but the channels"));
}

/* ---- losses ---- */

static void cross_entropy_gradient_should_match_finite_differences(void **state) {
  enum { B = 4, C = 5 };
  lt_rng r;
  lt_rng_seed(&r, 28, LT_STREAM_USER);
  float z[B * C], d[B * C], labels[B] = {0, 4, 2, 2};
  for (int i = 0; i < B * C; i++) z[i] = 3.0f * lt_rng_normal(&r);
  double loss;
  assert_int_equal(lt_cross_entropy_f(&loss, d, NULL, z, labels, B, C), 0);
  for (int i = 0; i < B * C; i++) {
    float keep = z[i];
    double lp, lm;
    z[i] = keep + 1e-2f;
    lt_cross_entropy_f(&lp, NULL, NULL, z, labels, B, C);
    z[i] = keep - 1e-2f;
    lt_cross_entropy_f(&lm, NULL, NULL, z, labels, B, C);
    z[i] = keep;
    double num = (lp - lm) / 2e-2;
    if (fabs(num - d[i]) > 1e-3 + 1e-2 * fabs(num)) fail_msg("dlogits[%d]: %g vs numeric %g", i, d[i], num);
  }
}

static void cross_entropy_should_be_stable_and_count_correct_predictions(void **state) {
  // uniform logits: loss log C; huge logits must not overflow
  float z[2 * 3] = {0, 0, 0, 1000, -1000, 999}, labels[2] = {1, 2}, d[6];
  double loss;
  int64_t correct;
  assert_int_equal(lt_cross_entropy_f(&loss, d, &correct, z, labels, 2, 3), 0);
  // row 1: log 3; row 2: log(1 + e^-1 + e^-2000) + 1
  double want = (log(3.0) + log1p(exp(-1.0)) + 1.0) / 2;
  assert_true(fabs(loss - want) < 1e-6);
  assert_int_equal(correct, 0); // row 1 ties go to class 0, row 2 predicts 0
  for (int i = 0; i < 6; i++) assert_true(isfinite(d[i]));
  labels[1] = 0;
  assert_int_equal(lt_cross_entropy_f(&loss, NULL, &correct, z, labels, 2, 3), 0);
  assert_int_equal(correct, 1);
  labels[1] = 3;
  assert_int_equal(lt_cross_entropy_f(&loss, NULL, NULL, z, labels, 2, 3), LT_ERANGE);
  assert_non_null(strstr(lt_errmsg(), "label 3"));
}

static void mse_gradient_should_match_finite_differences(void **state) {
  float p[6] = {0.5f, -1, 2, 0, 3, 1}, t[6] = {1, 1, 1, 1, 1, 1}, d[6];
  double loss;
  assert_int_equal(lt_mse_f(&loss, d, p, t, 6), 0);
  assert_true(fabs(loss - (0.25 + 4 + 1 + 1 + 4 + 0) / 6) < 1e-7);
  for (int i = 0; i < 6; i++) {
    double lp, lm;
    float keep = p[i];
    p[i] = keep + 1e-2f;
    lt_mse_f(&lp, NULL, p, t, 6);
    p[i] = keep - 1e-2f;
    lt_mse_f(&lm, NULL, p, t, 6);
    p[i] = keep;
    assert_true(fabs((lp - lm) / 2e-2 - d[i]) < 1e-4);
  }
}

static void tensor_losses_should_check_shapes(void **state) {
  lt_tensor *z = lt_tensor_new2(3, 4), *y = lt_tensor_new1(2), *d = lt_tensor_new2(3, 4);
  double loss;
  assert_int_equal(lt_cross_entropy(&loss, d, NULL, z, y), LT_ESHAPE);
  assert_non_null(strstr(lt_errmsg(), "(3, 4)"));
  lt_tensor *y3 = lt_tensor_new1(3);
  assert_int_equal(lt_cross_entropy(&loss, d, NULL, z, y3), 0);
  assert_true(fabs(loss - log(4.0)) < 1e-6);
  assert_int_equal(lt_mse(&loss, NULL, z, y3), LT_ESHAPE);
  lt_tensor_release(z);
  lt_tensor_release(y);
  lt_tensor_release(y3);
  lt_tensor_release(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(linear_gradients_should_match_finite_differences),
      cmocka_unit_test(linear_without_bias_gradients_should_match_finite_differences),
      cmocka_unit_test(conv2d_with_stride_two_padding_and_no_bias_gradients_should_match_finite_differences),
      cmocka_unit_test(conv2d_with_bias_and_one_by_one_kernels_gradients_should_match_finite_differences),
      cmocka_unit_test(maxpool_gradients_should_match_finite_differences),
      cmocka_unit_test(avgpool_gradients_should_match_finite_differences),
      cmocka_unit_test(global_avgpool_gradients_should_match_finite_differences),
      cmocka_unit_test(relu_gradients_should_match_finite_differences),
      cmocka_unit_test(batchnorm_in_train_mode_gradients_should_match_finite_differences),
      cmocka_unit_test(flatten_gradients_should_match_finite_differences),
      cmocka_unit_test(residual_with_identity_shortcut_gradients_should_match_finite_differences),
      cmocka_unit_test(residual_with_projection_shortcut_gradients_should_match_finite_differences),
      cmocka_unit_test(nested_sequentials_gradients_should_match_finite_differences),
      cmocka_unit_test(depthwise_conv_with_stride_padding_and_bias_gradients_should_match_finite_differences),
      cmocka_unit_test(depthwise_conv_should_filter_each_channel_on_its_own),
      cmocka_unit_test(concat_of_a_dense_layer_gradients_should_match_finite_differences),
      cmocka_unit_test(concat_should_refuse_a_body_that_changes_the_spatial_shape),
      cmocka_unit_test(cross_entropy_gradient_should_match_finite_differences),
      cmocka_unit_test(cross_entropy_should_be_stable_and_count_correct_predictions),
      cmocka_unit_test(mse_gradient_should_match_finite_differences),
      cmocka_unit_test(tensor_losses_should_check_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
