/* test_sparse_lag.c: lagging dense buffers of sparse layers (lt_sparse_set_lazy,
 * lt_layer_compact_written, lt_sparse_sync). A model stepped with lazy steps and the
 * compact optimizer step leaves its dense weights and gradients behind, and after
 * lt_sparse_sync holds the bits of a model stepped the indexed way; a new mask version
 * and a dense forward write them back on their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/nn.h"
#include "lotto/optim.h"
#include "lotto/rng.h"
#include "lotto/sparse.h"
#include "lotto/tensor.h"

enum { IN = 100, H = 64, OUT = 5, B = 12, STEPS = 6 };

static lt_model *mlp(void) {
  lt_layer *k[] = {lt_linear_new(IN, H, 1), lt_relu_new(), lt_linear_new(H, OUT, 1)};
  int64_t s[1] = {IN};
  lt_model *m = lt_model_new(lt_sequential_new(3, k), 1, s);
  assert_non_null(m);
  return m;
}

/* The same random weights in both; the weights kept at about 5% (sparse enough for
 * the optimizer to list the kept positions). */
static void same_state(lt_model *a, lt_model *b) {
  lt_rng r;
  lt_rng_seed(&r, 5, LT_STREAM_INIT);
  for (int i = 0; i < lt_model_nparams(a); i++) {
    const lt_param *p = lt_model_param(a, i);
    float *v = lt_tensor_data(p->value), *mk = lt_tensor_data(p->mask);
    for (size_t j = 0; j < p->numel; j++) {
      v[j] = lt_rng_uniform(&r, -0.5f, 0.5f);
      if (p->prunable) mk[j] = lt_rng_double(&r) < 0.05 ? 1.0f : 0.0f;
    }
  }
  lt_model_apply_mask(a);
  memcpy(lt_tensor_data(lt_model_values(b)), lt_tensor_data(lt_model_values(a)),
         lt_tensor_numel(lt_model_values(a)) * sizeof(float));
  memcpy(lt_tensor_data(lt_model_masks(b)), lt_tensor_data(lt_model_masks(a)),
         lt_tensor_numel(lt_model_masks(a)) * sizeof(float));
  lt_model_apply_mask(b);
}

static int same(const lt_tensor *x, const lt_tensor *y) {
  return lt_tensor_numel(x) == lt_tensor_numel(y) &&
         !memcmp(lt_tensor_data(x), lt_tensor_data(y), lt_tensor_numel(x) * sizeof(float));
}

/* One lazy step of b: step_loss with lazy on, the compact step of its sparse layers
 * (as opt:step_after_loss does), their dense weights left behind. */
static void lazy_step(lt_model *b, lt_optim *o, const lt_tensor *x, const lt_tensor *y) {
  double loss;
  int was = lt_sparse_set_lazy(1);
  assert_int_equal(lt_model_step_loss(b, x, y, LT_LOSS_CROSS_ENTROPY, &loss, NULL), LT_OK);
  lt_sparse_set_lazy(was);
  lt_optim_seg s[2];
  lt_layer *l[2];
  int ns = 0;
  for (int i = 0; i < lt_model_nparams(b); i++) {
    const lt_param *p = lt_model_param(b, i);
    if (!p->prunable) continue;
    s[ns] = (lt_optim_seg){p->offset, p->numel, NULL, NULL, 0, 0};
    assert_true(lt_layer_compact(p->layer, &s[ns].val, &s[ns].grad, &s[ns].nnz));
    l[ns++] = p->layer;
  }
  assert_int_equal(ns, 2);
  const float *mask = lt_tensor_data(lt_model_masks(b));
  uint64_t v = lt_model_mask_version(b);
  int compact = lt_optim_segments_compact(o, mask, v, s, ns);
  if (!compact) lt_sparse_sync(); /* the indexed step reads the dense buffers */
  for (int k = 0; k < ns; k++) s[k].lazy = compact;
  assert_int_equal(lt_optim_step_segments(o, lt_tensor_data(lt_model_values(b)), lt_tensor_data(lt_model_grads(b)),
                                          mask, lt_optim_size(o), v, s, ns),
                   LT_OK);
  if (compact)
    for (int k = 0; k < ns; k++) lt_layer_compact_written(l[k]);
}

static void lagging_buffers_should_hold_the_indexed_steps_bits_after_sync(void **state) {
  (void)state;
  lt_sparse_set_mode(LT_SPARSE_FORCE);
  lt_model *a = mlp(), *b = mlp();
  same_state(a, b);
  size_t n = lt_tensor_numel(lt_model_values(a));
  lt_optim *oa = lt_optim_adam_new(n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0, 0);
  lt_optim *ob = lt_optim_adam_new(n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0, 0);
  int64_t xs[2] = {B, IN}, ys[1] = {B};
  lt_tensor *x = lt_tensor_new(2, xs), *y = lt_tensor_new(1, ys);
  lt_rng r;
  lt_rng_seed(&r, 9, LT_STREAM_DATA);
  for (int i = 0; i < B * IN; i++) lt_tensor_data(x)[i] = lt_rng_uniform(&r, -1.0f, 1.0f);
  for (int i = 0; i < B; i++) lt_tensor_data(y)[i] = (float)(i % OUT);
  int lagged = 0;
  for (int it = 0; it < STEPS; it++) {
    double loss;
    assert_int_equal(lt_model_step_loss(a, x, y, LT_LOSS_CROSS_ENTROPY, &loss, NULL), LT_OK);
    assert_int_equal(lt_optim_step_versioned(oa, lt_tensor_data(lt_model_values(a)), lt_tensor_data(lt_model_grads(a)),
                                             lt_tensor_data(lt_model_masks(a)), n, lt_model_mask_version(a)),
                     LT_OK);
    lazy_step(b, ob, x, y);
    /* before the write-back, the dense weight of fc1 is behind (from the second step
     * on: the first takes the full masked step over the dense buffers) */
    lagged += !same(lt_model_param(a, 0)->value, lt_model_param(b, 0)->value) &&
              !same(lt_model_param(a, 2)->value, lt_model_param(b, 2)->value);
    lt_spd_info info;
    assert_int_equal(lt_layer_sparse_info(lt_model_param(b, 0)->layer, &info), LT_OK);
    assert_true(info.sparse);
    if (it == 2) { /* a write-back mid-run changes nothing that follows */
      lt_sparse_sync();
      assert_true(same(lt_model_values(a), lt_model_values(b)));
      assert_true(same(lt_model_grads(a), lt_model_grads(b)));
    }
  }
  assert_int_equal(lagged, STEPS - 1);
  lt_sparse_sync();
  assert_true(same(lt_model_values(a), lt_model_values(b)));
  assert_true(same(lt_model_grads(a), lt_model_grads(b)));
  assert_memory_equal(lt_optim_moment(oa, 0), lt_optim_moment(ob, 0), n * sizeof(float));
  assert_memory_equal(lt_optim_moment(oa, 1), lt_optim_moment(ob, 1), n * sizeof(float));

  /* a dense forward writes them back by itself */
  lazy_step(b, ob, x, y);
  double loss;
  assert_int_equal(lt_model_step_loss(a, x, y, LT_LOSS_CROSS_ENTROPY, &loss, NULL), LT_OK);
  assert_int_equal(lt_optim_step_versioned(oa, lt_tensor_data(lt_model_values(a)), lt_tensor_data(lt_model_grads(a)),
                                           lt_tensor_data(lt_model_masks(a)), n, lt_model_mask_version(a)),
                   LT_OK);
  assert_false(same(lt_model_param(a, 0)->value, lt_model_param(b, 0)->value));
  lt_sparse_set_mode(LT_SPARSE_DENSE);
  lt_tensor *ya, *yb;
  assert_int_equal(lt_model_forward(b, x, &yb, 0), LT_OK);
  assert_true(same(lt_model_param(a, 0)->value, lt_model_param(b, 0)->value));
  assert_int_equal(lt_model_forward(a, x, &ya, 0), LT_OK);
  assert_true(same(ya, yb));

  lt_sparse_set_mode(LT_SPARSE_AUTO);
  lt_tensor_release(x);
  lt_tensor_release(y);
  lt_optim_free(oa);
  lt_optim_free(ob);
  lt_model_free(a);
  lt_model_free(b);
}

static void a_freed_model_should_leave_nothing_to_write_back(void **state) {
  (void)state;
  lt_sparse_set_mode(LT_SPARSE_FORCE);
  lt_model *a = mlp(), *b = mlp();
  same_state(a, b);
  lt_optim *o = lt_optim_adam_new(lt_tensor_numel(lt_model_values(b)), 1e-2f, 0.9f, 0.999f, 1e-8f, 0, 0);
  int64_t xs[2] = {B, IN}, ys[1] = {B};
  lt_tensor *x = lt_tensor_new(2, xs), *y = lt_tensor_new(1, ys);
  memset(lt_tensor_data(x), 0, sizeof(float) * B * IN);
  memset(lt_tensor_data(y), 0, sizeof(float) * B);
  for (int it = 0; it < 3; it++) lazy_step(b, o, x, y);
  lt_model_free(b); /* its layers write back before its buffers go (ASan sees a late write) */
  lt_sparse_sync(); /* nothing left: no write into freed memory */
  lt_sparse_set_mode(LT_SPARSE_AUTO);
  lt_tensor_release(x);
  lt_tensor_release(y);
  lt_optim_free(o);
  lt_model_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lagging_buffers_should_hold_the_indexed_steps_bits_after_sync),
      cmocka_unit_test(a_freed_model_should_leave_nothing_to_write_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
