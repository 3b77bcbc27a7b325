/* test_lotto_h.c: the umbrella header compiles on its own and its worked
 * example runs: one Adam step on a two-layer net lowers the loss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lotto/lotto.h"

static void umbrella_example_should_lower_the_loss_after_steps(void **state) {
  (void)state;
  lt_layer *kids[] = {lt_linear_new(8, 16, 1), lt_relu_new(), lt_linear_new(16, 3, 1)};
  int64_t in[1] = {8};
  lt_model *m = lt_model_new(lt_sequential_new(3, kids), 1, in);
  assert_non_null(m);
  lt_rng r;
  lt_rng_seed(&r, 1, LT_STREAM_INIT);
  assert_int_equal(lt_model_init(m, &r, LT_INIT_GLOROT_NORMAL), LT_OK);
  int64_t xs[2] = {12, 8};
  lt_tensor *x = lt_tensor_randn(2, xs, &r, 0, 1);
  lt_tensor *y = lt_tensor_new1(12);
  for (int i = 0; i < 12; i++) lt_tensor_data(y)[i] = (float)(i % 3);
  size_t n = lt_tensor_numel(lt_model_values(m));
  lt_optim *o = lt_optim_adam_new(n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0, 0);
  assert_non_null(o);
  double first = 0, loss = 0;
  int64_t correct;
  for (int step = 0; step < 50; step++) {
    assert_int_equal(lt_model_step_loss(m, x, y, LT_LOSS_CROSS_ENTROPY, &loss, &correct), LT_OK);
    if (step == 0) first = loss;
    assert_int_equal(lt_optim_step(o, lt_tensor_data(lt_model_values(m)), lt_tensor_data(lt_model_grads(m)),
                                   lt_tensor_data(lt_model_masks(m)), n), LT_OK);
  }
  assert_true(loss < 0.5 * first);
  lt_optim_free(o);
  lt_tensor_release(x);
  lt_tensor_release(y);
  lt_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(umbrella_example_should_lower_the_loss_after_steps)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
