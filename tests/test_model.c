/* test_model.c: CMocka tests of the model around the layers: flat buffers and
 * parameter views, automatic names, build-time shape errors, masks, init,
 * batchnorm running statistics, dropout, evaluation, the fused step, describe. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/nn.h"

static lt_model *lenet300(void) {
  lt_layer *k[] = {lt_flatten_new(), lt_linear_new(784, 300, 1), lt_relu_new(), lt_linear_new(300, 100, 1),
                   lt_relu_new(), lt_linear_new(100, 10, 1)};
  int64_t in[3] = {1, 28, 28};
  lt_model *m = lt_model_new(lt_sequential_new(6, k), 3, in);
  if (!m) fail_msg("%s", lt_errmsg());
  return m;
}

static void model_should_lay_parameters_out_in_one_flat_buffer(void **state) {
  lt_model *m = lenet300();
  assert_int_equal(lt_model_numel(m, 0), 266610);
  assert_int_equal(lt_model_numel(m, 1), 784 * 300 + 300 * 100 + 100 * 10);
  assert_int_equal(lt_tensor_numel(lt_model_values(m)), 266610);
  assert_int_equal(lt_tensor_numel(lt_model_masks(m)), 266610);
  assert_int_equal(lt_model_nparams(m), 6);
  const char *names[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"};
  size_t off = 0;
  for (int i = 0; i < 6; i++) {
    const lt_param *p = lt_model_param(m, i);
    assert_string_equal(p->name, names[i]);
    assert_string_equal(p->kind, "linear");
    assert_int_equal(p->prunable, i % 2 == 0);
    assert_int_equal(p->offset, off);
    // the views share storage with the flat buffers at the same offset
    assert_ptr_equal(lt_tensor_data(p->value), lt_tensor_data(lt_model_values(m)) + off);
    assert_ptr_equal(lt_tensor_data(p->grad), lt_tensor_data(lt_model_grads(m)) + off);
    assert_ptr_equal(lt_tensor_data(p->mask), lt_tensor_data(lt_model_masks(m)) + off);
    off += p->numel;
  }
  assert_int_equal(lt_model_param(m, 0)->shape[0], 300);
  assert_int_equal(lt_model_param(m, 0)->shape[1], 784);
  assert_ptr_equal(lt_model_param_find(m, "fc2.bias"), lt_model_param(m, 3));
  assert_null(lt_model_param_find(m, "fc4.weight"));
  assert_true(lt_model_density(m) == 1.0);
  lt_model_free(m);
}

static void shape_mismatch_at_build_should_name_both_layers_and_shapes(void **state) {
  lt_layer *k[] = {lt_conv2d_new(1, 64, 3, 1, 0, 1), lt_linear_new(300, 100, 1)};
  int64_t in[3] = {1, 28, 28};
  assert_null(lt_model_new(lt_sequential_new(2, k), 3, in));
  assert_string_equal(lt_errmsg(), "fc1 (linear 300 -> 100) expects input (300) but conv1 produces (64, 26, 26)");

  lt_layer *k2[] = {lt_flatten_new(), lt_linear_new(784, 300, 1), lt_relu_new(), lt_linear_new(200, 10, 1)};
  assert_null(lt_model_new(lt_sequential_new(4, k2), 3, in));
  assert_string_equal(lt_errmsg(), "fc2 (linear 200 -> 10) expects input (200) but fc1 produces (300)");

  lt_layer *k3[] = {lt_conv2d_new(3, 8, 3, 1, 1, 1)};
  assert_null(lt_model_new(lt_sequential_new(1, k3), 3, in));
  assert_non_null(strstr(lt_errmsg(), "conv1"));
  assert_non_null(strstr(lt_errmsg(), "the model input is (1, 28, 28)"));

  int64_t in2[3] = {4, 8, 8};
  lt_layer *body[] = {lt_conv2d_new(4, 8, 3, 2, 1, 0)};
  lt_layer *k4[] = {lt_residual_new(lt_sequential_new(1, body), NULL)};
  assert_null(lt_model_new(lt_sequential_new(1, k4), 3, in2));
  assert_non_null(strstr(lt_errmsg(), "(8, 4, 4)"));
  assert_non_null(strstr(lt_errmsg(), "(4, 8, 8)"));
}

static void residual_models_should_get_hierarchical_names(void **state) {
  lt_layer *b1[] = {lt_conv2d_new(4, 4, 3, 1, 1, 0), lt_batchnorm_new(4), lt_relu_new(), lt_conv2d_new(4, 4, 3, 1, 1, 0),
                    lt_batchnorm_new(4)};
  lt_layer *b2[] = {lt_conv2d_new(4, 8, 3, 2, 1, 0), lt_batchnorm_new(8)};
  lt_layer *sc[] = {lt_conv2d_new(4, 8, 1, 2, 0, 0), lt_batchnorm_new(8)};
  lt_layer *stage[] = {lt_residual_new(lt_sequential_new(5, b1), NULL),
                       lt_residual_new(lt_sequential_new(2, b2), lt_sequential_new(2, sc))};
  lt_layer *layer1 = lt_sequential_new(2, stage);
  assert_int_equal(lt_layer_set_name(layer1, "layer1"), 0);
  lt_layer *top[] = {lt_conv2d_new(3, 4, 3, 1, 1, 0), lt_batchnorm_new(4), lt_relu_new(), layer1,
                     lt_global_avgpool_new(), lt_linear_new(8, 10, 1)};
  int64_t in[3] = {3, 8, 8};
  lt_model *m = lt_model_new(lt_sequential_new(6, top), 3, in);
  assert_non_null(m);
  const char *want[] = {"conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer1.0.bn1.weight",
                        "layer1.0.bn1.bias", "layer1.0.conv2.weight", "layer1.0.bn2.weight", "layer1.0.bn2.bias",
                        "layer1.1.conv1.weight", "layer1.1.bn1.weight", "layer1.1.bn1.bias",
                        "layer1.1.shortcut.conv1.weight", "layer1.1.shortcut.bn1.weight",
                        "layer1.1.shortcut.bn1.bias", "fc1.weight", "fc1.bias"};
  assert_int_equal(lt_model_nparams(m), 17);
  for (int i = 0; i < 17; i++) assert_string_equal(lt_model_param(m, i)->name, want[i]);
  assert_string_equal(lt_model_param(m, 1)->kind, "batchnorm");
  assert_false(lt_model_param(m, 1)->prunable);
  assert_string_equal(lt_model_param(m, 3)->kind, "conv2d");
  assert_true(lt_model_param(m, 3)->prunable);
  assert_int_equal(lt_model_nbuffers(m), 2 * 5);
  assert_string_equal(lt_model_buffer(m, 0)->name, "bn1.running_mean");
  assert_string_equal(lt_model_buffer(m, 1)->name, "bn1.running_var");
  lt_model_free(m);
}

static void user_names_should_replace_automatic_ones(void **state) {
  lt_layer *a = lt_linear_new(4, 3, 1), *b = lt_linear_new(3, 2, 1);
  assert_int_equal(lt_layer_set_name(a, "encoder"), 0);
  assert_int_not_equal(lt_layer_set_name(b, "has space"), 0);
  lt_layer *k[] = {a, b};
  int64_t in[1] = {4};
  lt_model *m = lt_model_new(lt_sequential_new(2, k), 1, in);
  assert_string_equal(lt_model_param(m, 0)->name, "encoder.weight");
  assert_string_equal(lt_model_param(m, 2)->name, "fc1.weight");
  lt_model_free(m);
}

static void masked_weight_should_stay_zero_in_forward_and_get_no_gradient(void **state) {
  lt_layer *k[] = {lt_linear_new(3, 2, 0)};
  int64_t in[1] = {3};
  lt_model *m = lt_model_new(lt_sequential_new(1, k), 1, in);
  lt_rng r;
  lt_rng_seed(&r, 1, LT_STREAM_INIT);
  lt_model_init(m, &r, LT_INIT_GLOROT_NORMAL);
  const lt_param *w = lt_model_param(m, 0);
  float *v = lt_tensor_data(w->value), *mk = lt_tensor_data(w->mask);
  mk[1] = 0.0f; // prune W[0][1]
  uint64_t ver = lt_model_mask_version(m);
  lt_model_apply_mask(m);
  assert_true(lt_model_mask_version(m) > ver);
  assert_true(v[1] == 0.0f);
  assert_true(fabs(lt_model_density(m) - 5.0 / 6.0) < 1e-12);

  float xs[3] = {1.0f, 100.0f, -2.0f};
  lt_tensor *x = lt_tensor_new2(1, 3), *y;
  memcpy(lt_tensor_data(x), xs, sizeof xs);
  assert_int_equal(lt_model_forward(m, x, &y, 1), 0);
  // output 0 must not see input 1 (it would add 100 * w)
  assert_true(fabsf(lt_tensor_data(y)[0] - (v[0] * 1.0f + v[2] * -2.0f)) < 1e-5f);
  lt_tensor *dy = lt_tensor_full(2, y->shape, 1.0f);
  lt_model_zero_grad(m);
  assert_int_equal(lt_model_backward(m, dy, NULL), 0);
  assert_true(lt_tensor_data(w->grad)[1] == 0.0f);
  assert_true(lt_tensor_data(w->grad)[4] == 100.0f); // W[1][1] is live: dW = dy^T x
  // re-initialising keeps the pruned weight at zero
  lt_model_init(m, &r, LT_INIT_KAIMING_UNIFORM);
  assert_true(v[1] == 0.0f);
  lt_tensor_release(x);
  lt_tensor_release(dy);
  lt_model_free(m);
}

static void init_should_follow_the_requested_distribution(void **state) {
  lt_layer *k[] = {lt_linear_new(400, 200, 1), lt_batchnorm_new(200)};
  int64_t in[1] = {400};
  lt_model *m = lt_model_new(lt_sequential_new(2, k), 1, in);
  lt_rng r;
  double want_std[4] = {sqrt(2.0 / 600), sqrt(6.0 / 600) / sqrt(3.0), sqrt(2.0 / 400), sqrt(6.0 / 400) / sqrt(3.0)};
  for (int kind = 0; kind < 4; kind++) {
    lt_rng_seed(&r, 7, LT_STREAM_INIT);
    assert_int_equal(lt_model_init(m, &r, (lt_init_kind)kind), 0);
    const lt_param *w = lt_model_param(m, 0);
    double s = 0, ss = 0, mx = 0;
    const float *v = lt_tensor_data(w->value);
    for (size_t i = 0; i < w->numel; i++) s += v[i], ss += (double)v[i] * v[i], mx = fmax(mx, fabs(v[i]));
    double mean = s / w->numel, sd = sqrt(ss / w->numel - mean * mean);
    assert_true(fabs(mean) < 0.05 * want_std[kind]);
    assert_true(fabs(sd / want_std[kind] - 1.0) < 0.02);
    if (kind % 2 == 1) assert_true(mx <= want_std[kind] * sqrt(3.0) + 1e-6); // uniform bound
    else assert_true(mx > want_std[kind] * 3.5);                            // normal tails
  }
  const float *b = lt_tensor_data(lt_model_param(m, 1)->value), *g = lt_tensor_data(lt_model_param(m, 2)->value),
              *beta = lt_tensor_data(lt_model_param(m, 3)->value);
  for (int i = 0; i < 200; i++) assert_true(b[i] == 0.0f && g[i] == 1.0f && beta[i] == 0.0f);
  assert_int_equal(lt_init_kind_parse("kaiming_normal"), LT_INIT_KAIMING_NORMAL);
  assert_int_equal(lt_init_kind_parse("nope"), -1);
  // same seed, same values
  float first = lt_tensor_data(lt_model_values(m))[0];
  lt_rng_seed(&r, 7, LT_STREAM_INIT);
  lt_model_init(m, &r, LT_INIT_KAIMING_UNIFORM);
  assert_true(lt_tensor_data(lt_model_values(m))[0] == first);
  lt_model_free(m);
}

static void batchnorm_eval_should_use_running_statistics(void **state) {
  lt_layer *k[] = {lt_batchnorm_new(2)};
  int64_t in[1] = {2};
  lt_model *m = lt_model_new(lt_sequential_new(1, k), 1, in);
  const float *rm = lt_tensor_data(lt_model_buffer(m, 0)->value), *rv = lt_tensor_data(lt_model_buffer(m, 1)->value);
  assert_true(rm[0] == 0.0f && rv[0] == 1.0f);
  float xs[4 * 2] = {1, 10, 2, 20, 3, 30, 6, 40}; // channel 0: mean 3, var 3.5 (biased), 14/3 unbiased
  lt_tensor *x = lt_tensor_new2(4, 2), *y;
  memcpy(lt_tensor_data(x), xs, sizeof xs);
  assert_int_equal(lt_model_forward(m, x, &y, 1), 0);
  assert_true(fabsf(rm[0] - 0.3f) < 1e-6f);
  assert_true(fabsf(rv[0] - (0.9f + 0.1f * 14.0f / 3.0f)) < 1e-5f);
  // train output is normalised with batch statistics
  assert_true(fabsf(lt_tensor_data(y)[0] - (1.0f - 3.0f) / sqrtf(3.5f + 1e-5f)) < 1e-4f);
  assert_int_equal(lt_model_forward(m, x, &y, 0), 0);
  assert_true(fabsf(lt_tensor_data(y)[0] - (1.0f - rm[0]) / sqrtf(rv[0] + 1e-5f)) < 1e-5f);
  assert_true(fabsf(lt_tensor_data(y)[3] - (20.0f - rm[1]) / sqrtf(rv[1] + 1e-5f)) < 1e-5f);
  assert_true(fabsf(rm[0] - 0.3f) < 1e-6f); // eval leaves the statistics alone
  lt_tensor_release(x);
  lt_model_free(m);
}

static void dropout_should_drop_in_training_and_pass_through_in_eval(void **state) {
  lt_layer *k[] = {lt_dropout_new(0.25f, 3)};
  int64_t in[1] = {1000};
  lt_model *m = lt_model_new(lt_sequential_new(1, k), 1, in);
  lt_tensor *x = lt_tensor_new2(4, 1000), *y;
  lt_tensor_fill(x, 1.0f);
  assert_int_equal(lt_model_forward(m, x, &y, 1), 0);
  int zeros = 0;
  for (int i = 0; i < 4000; i++) {
    float v = lt_tensor_data(y)[i];
    assert_true(v == 0.0f || fabsf(v - 1.0f / 0.75f) < 1e-6f);
    zeros += v == 0.0f;
  }
  assert_true(zeros > 850 && zeros < 1150);
  lt_tensor *dy = lt_tensor_full(2, y->shape, 1.0f), *dx;
  assert_int_equal(lt_model_backward(m, dy, &dx), 0);
  for (int i = 0; i < 4000; i++) assert_true(lt_tensor_data(dx)[i] == lt_tensor_data(y)[i]);
  assert_int_equal(lt_model_forward(m, x, &y, 0), 0);
  for (int i = 0; i < 4000; i++) assert_true(lt_tensor_data(y)[i] == 1.0f);
  assert_null(lt_dropout_new(1.0f, 0));
  lt_tensor_release(x);
  lt_tensor_release(dy);
  lt_model_free(m);
}

/* Checkpoints rely on it: a dropout layer's generator is reachable, and putting back a
 * saved state makes the layer draw the same masks again. Other layers have none. */
static void dropout_should_expose_its_generator_for_checkpoints(void **state) {
  lt_layer *k[] = {lt_linear_new(8, 8, 1), lt_dropout_new(0.5f, 7)};
  int64_t in[1] = {8};
  lt_model *m = lt_model_new(lt_sequential_new(2, k), 1, in);
  lt_layer *lin = lt_layer_child(lt_model_root(m), 0), *drop = lt_layer_child(lt_model_root(m), 1);
  lt_rng ri;
  lt_rng_seed(&ri, 1, LT_STREAM_INIT);
  assert_int_equal(lt_model_init(m, &ri, LT_INIT_GLOROT_NORMAL), 0); /* nonzero inputs to drop */
  assert_null(lt_layer_rng(lin));
  assert_null(lt_layer_rng(lt_model_root(m)));
  lt_rng *r = lt_layer_rng(drop);
  assert_non_null(r);
  lt_rng fresh;
  lt_rng_seed(&fresh, 7, LT_STREAM_DROPOUT);
  assert_memory_equal(r->s, fresh.s, sizeof fresh.s); /* seeded as constructed */
  lt_tensor *x = lt_tensor_new2(16, 8), *y;
  lt_tensor_fill(x, 1.0f);
  lt_rng saved = *r;
  assert_int_equal(lt_model_forward(m, x, &y, 1), 0);
  float first[128];
  memcpy(first, lt_tensor_data(y), sizeof first);
  assert_int_equal(lt_model_forward(m, x, &y, 1), 0);
  assert_true(memcmp(first, lt_tensor_data(y), sizeof first) != 0); /* the generator moved on */
  *r = saved;
  assert_int_equal(lt_model_forward(m, x, &y, 1), 0);
  assert_memory_equal(first, lt_tensor_data(y), sizeof first); /* restored: the same masks */
  lt_tensor_release(x);
  lt_model_free(m);
}

static void forward_should_reject_a_wrong_input_shape(void **state) {
  lt_model *m = lenet300();
  lt_tensor *x = lt_tensor_new2(2, 784), *y;
  assert_int_equal(lt_model_forward(m, x, &y, 1), LT_ESHAPE);
  assert_non_null(strstr(lt_errmsg(), "(B, 1, 28, 28)"));
  assert_non_null(strstr(lt_errmsg(), "(2, 784)"));
  assert_int_equal(lt_model_backward(m, x, NULL), LT_EINVAL);
  lt_tensor_release(x);
  lt_model_free(m);
}

static void activation_buffers_should_be_reused_across_batches_of_one_size(void **state) {
  lt_model *m = lenet300();
  int64_t s[4] = {8, 1, 28, 28};
  lt_tensor *x = lt_tensor_new(4, s), *y1, *y2;
  lt_model_forward(m, x, &y1, 1);
  float *d1 = lt_tensor_data(y1);
  lt_model_forward(m, x, &y2, 1);
  assert_ptr_equal(y1, y2);
  assert_ptr_equal(d1, lt_tensor_data(y2));
  s[0] = 3;
  lt_tensor *x3 = lt_tensor_new(4, s);
  assert_int_equal(lt_model_forward(m, x3, &y2, 1), 0);
  assert_int_equal(y2->shape[0], 3);
  assert_ptr_equal(d1, lt_tensor_data(y2)); // a smaller batch reuses the storage
  lt_tensor_retain(y2);                     // a buffer someone holds is never overwritten
  lt_tensor *held = y2;
  assert_int_equal(lt_model_forward(m, x, &y1, 1), 0);
  assert_ptr_not_equal(held, y1);
  assert_int_equal(held->shape[0], 3);
  lt_tensor_release(held);
  lt_tensor_release(x);
  lt_tensor_release(x3);
  lt_model_free(m);
}

static void step_loss_should_equal_forward_loss_and_backward(void **state) {
  lt_model *m = lenet300();
  lt_rng r;
  lt_rng_seed(&r, 5, LT_STREAM_INIT);
  lt_model_init(m, &r, LT_INIT_GLOROT_NORMAL);
  int64_t s[4] = {6, 1, 28, 28};
  lt_tensor *x = lt_tensor_rand(4, s, &r, 0.0f, 1.0f), *lab = lt_tensor_new1(6), *out, *dz = lt_tensor_new2(6, 10);
  for (int i = 0; i < 6; i++) lt_tensor_data(lab)[i] = (float)(i * 3 % 10);
  double loss, loss2;
  int64_t c, c2;
  assert_int_equal(lt_model_step_loss(m, x, lab, LT_LOSS_CROSS_ENTROPY, &loss, &c), 0);
  lt_tensor *g = lt_tensor_clone(lt_model_grads(m));
  lt_model_zero_grad(m);
  lt_model_forward(m, x, &out, 1);
  lt_cross_entropy(&loss2, dz, &c2, out, lab);
  lt_model_backward(m, dz, NULL);
  assert_true(loss == loss2 && c == c2);
  assert_true(loss > 1.0 && loss < 5.0);
  size_t n = lt_model_numel(m, 0), nonzero = 0;
  for (size_t i = 0; i < n; i++) {
    assert_true(lt_tensor_data(g)[i] == lt_tensor_data(lt_model_grads(m))[i]);
    nonzero += lt_tensor_data(g)[i] != 0.0f;
  }
  assert_true(nonzero > n / 2);
  lt_tensor_data(lab)[0] = 10;
  assert_int_equal(lt_model_step_loss(m, x, lab, LT_LOSS_CROSS_ENTROPY, &loss, &c), LT_ERANGE);
  lt_tensor_release(x);
  lt_tensor_release(lab);
  lt_tensor_release(dz);
  lt_tensor_release(g);
  lt_model_free(m);
}

static void evaluate_should_report_mean_loss_and_accuracy(void **state) {
  // identity-like classifier: class = argmax of the input
  lt_layer *k[] = {lt_linear_new(3, 3, 1)};
  int64_t in[1] = {3};
  lt_model *m = lt_model_new(lt_sequential_new(1, k), 1, in);
  float *w = lt_tensor_data(lt_model_param(m, 0)->value);
  for (int i = 0; i < 3; i++) w[i * 3 + i] = 1.0f;
  lt_tensor *x = lt_tensor_new2(5, 3), *y = lt_tensor_new1(5);
  float *xd = lt_tensor_data(x), *yd = lt_tensor_data(y);
  int hot[5] = {0, 1, 2, 1, 0}, lab[5] = {0, 1, 2, 2, 2}; // 3 of 5 right
  for (int i = 0; i < 5; i++) xd[i * 3 + hot[i]] = 5.0f, yd[i] = (float)lab[i];
  double loss, acc, want = 0;
  for (int i = 0; i < 5; i++) {
    double lse = log(exp(5.0) + 2.0);
    want += lse - (hot[i] == lab[i] ? 5.0 : 0.0);
  }
  want /= 5;
  lt_model_train(m, 1);
  assert_int_equal(lt_model_evaluate_xy(m, x, y, 3, 2, &loss, &acc), 0);
  assert_true(fabs(acc - 0.6) < 1e-12);
  assert_true(fabs(loss - want) < 1e-5);
  assert_true(lt_model_is_training(m)); // mode restored
  lt_dataset *d = lt_dataset_new(x, y, 3);
  assert_int_equal(lt_model_evaluate(m, d, 1000, &loss, &acc), 0);
  assert_true(fabs(acc - 0.6) < 1e-12);
  // regression: MSE and NaN accuracy
  lt_tensor *t = lt_tensor_new2(5, 3);
  assert_int_equal(lt_model_evaluate_xy(m, x, t, 0, 4, &loss, &acc), 0);
  assert_true(isnan(acc));
  assert_true(fabs(loss - 5 * 25.0 / 15.0) < 1e-4);
  lt_dataset_release(d);
  lt_tensor_release(x);
  lt_tensor_release(y);
  lt_tensor_release(t);
  lt_model_free(m);
}

static void describe_should_print_an_indented_tree_with_counts_and_density(void **state) {
  lt_model *m = lenet300();
  char *s = lt_model_describe(m);
  assert_non_null(strstr(s, "fc1: Linear(784 -> 300, 235,500 params)"));
  assert_non_null(strstr(s, "  relu1: ReLU"));
  assert_non_null(strstr(s, "266,610 params"));
  free(s);
  float *mk = lt_tensor_data(lt_model_param(m, 0)->mask);
  for (int i = 0; i < 235200; i++) mk[i] = i % 1000 < 86 ? 1.0f : 0.0f;
  lt_model_apply_mask(m);
  s = lt_model_describe(m);
  assert_non_null(strstr(s, "Linear(784 -> 300, 235,500 params, 8.6% weights)"));
  free(s);
  lt_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(model_should_lay_parameters_out_in_one_flat_buffer),
      cmocka_unit_test(shape_mismatch_at_build_should_name_both_layers_and_shapes),
      cmocka_unit_test(residual_models_should_get_hierarchical_names),
      cmocka_unit_test(user_names_should_replace_automatic_ones),
      cmocka_unit_test(masked_weight_should_stay_zero_in_forward_and_get_no_gradient),
      cmocka_unit_test(init_should_follow_the_requested_distribution),
      cmocka_unit_test(batchnorm_eval_should_use_running_statistics),
      cmocka_unit_test(dropout_should_drop_in_training_and_pass_through_in_eval),
      cmocka_unit_test(dropout_should_expose_its_generator_for_checkpoints),
      cmocka_unit_test(forward_should_reject_a_wrong_input_shape),
      cmocka_unit_test(activation_buffers_should_be_reused_across_batches_of_one_size),
      cmocka_unit_test(step_loss_should_equal_forward_loss_and_backward),
      cmocka_unit_test(evaluate_should_report_mean_loss_and_accuracy),
      cmocka_unit_test(describe_should_print_an_indented_tree_with_counts_and_density),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
