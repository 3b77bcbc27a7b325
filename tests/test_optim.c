/* test_optim.c: optimizers against hand-computed PyTorch values, exact masks
 * over many steps, reset, argument checks, and learning-rate schedules. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/optim.h"
#include "optim/optim_impl.h" /* the kept positions of versioned steps */
#include "lotto/rng.h"
#include "lotto/tensor.h" /* lt_set_threads */

#define TOL 1e-6

/* Runs three steps of o on a single weight w0 with gradients g[0..2],
 * recording w after each step. */
static void run3(lt_optim *o, float w0, const float g[3], float out[3]) {
  float w = w0;
  for (int t = 0; t < 3; t++) {
    assert_int_equal(lt_optim_step(o, &w, &g[t], NULL, 1), LT_OK);
    out[t] = w;
  }
}

static void expect3(const float got[3], double a, double b, double c) {
  assert_float_equal(got[0], a, TOL);
  assert_float_equal(got[1], b, TOL);
  assert_float_equal(got[2], c, TOL);
}

static void sgd_without_momentum_should_subtract_lr_times_grad(void **state) {
  lt_optim *o = lt_optim_sgd_new(1, 0.1f, 0.0f, 0, 0.0f);
  assert_non_null(o);
  assert_null(lt_optim_moment(o, 0));
  float g[3] = {1.0f, -2.0f, 0.5f}, w[3];
  run3(o, 1.0f, g, w);
  expect3(w, 0.9, 1.1, 1.05); /* 1 - .1; .9 + .2; 1.1 - .05 */
  assert_int_equal(lt_optim_steps(o), 3);
  lt_optim_free(o);
}

static void sgd_momentum_should_accumulate_a_velocity(void **state) {
  lt_optim *o = lt_optim_sgd_new(1, 0.1f, 0.9f, 0, 0.0f);
  float g[3] = {1.0f, 1.0f, 1.0f}, w[3];
  run3(o, 1.0f, g, w);
  /* buf = 1, 1.9, 2.71 */
  expect3(w, 0.9, 0.71, 0.439);
  assert_float_equal(lt_optim_moment(o, 0)[0], 2.71, TOL);
  lt_optim_free(o);
}

static void sgd_nesterov_should_add_momentum_times_buffer_to_the_gradient(void **state) {
  lt_optim *o = lt_optim_sgd_new(1, 0.1f, 0.9f, 1, 0.0f);
  float g[3] = {1.0f, 1.0f, 1.0f}, w[3];
  run3(o, 1.0f, g, w);
  /* update = 1 + .9*buf = 1.9, 2.71, 3.439 */
  expect3(w, 0.81, 0.539, 0.1951);
  lt_optim_free(o);
}

static void sgd_weight_decay_should_shrink_weights_and_feed_the_momentum(void **state) {
  lt_optim *o = lt_optim_sgd_new(1, 0.1f, 0.0f, 0, 0.1f);
  float zero[3] = {0, 0, 0}, w[3];
  run3(o, 1.0f, zero, w);
  expect3(w, 0.99, 0.9801, 0.970299);
  lt_optim_free(o);

  o = lt_optim_sgd_new(1, 0.1f, 0.9f, 0, 0.1f);
  float one[3] = {1, 1, 1};
  run3(o, 1.0f, one, w);
  /* d = 1.1, buf = 1.1, w = .89; d = 1.089, buf = 2.079, w = .6821;
   * d = 1.06821, buf = 2.9393, w = .38817 */
  expect3(w, 0.89, 0.6821, 0.6821 - 0.1 * (0.9 * 2.079 + 1.06821));
  lt_optim_free(o);
}

static void adam_should_match_pytorch_for_three_steps(void **state) {
  float g[3] = {0.5f, -1.0f, 2.0f}, w[3];
  lt_optim *o = lt_optim_adam_new(1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 0);
  run3(o, 1.0f, g, w);
  /* step 2 by hand: m = -.055, v = .00124975, mhat = -.2894737,
   * vhat = .6251876, w = .9 + .1 * .2894737 / .7906881 */
  expect3(w, 0.900000002, 0.9366103542, 0.8946447927);
  lt_optim_free(o);

  o = lt_optim_adam_new(1, 0.01f, 0.8f, 0.99f, 1e-3f, 0.0f, 0);
  run3(o, -2.0f, g, w);
  expect3(w, -2.0099800399, -2.0057753223, -2.0104640274);
  lt_optim_free(o);
}

/* A weight whose gradient was 1 once and 0 since: Adam's first moment decays
 * by beta1 a step, 0.1 * 0.9^t, below FLT_MIN (1.18e-38) from t = 810 on. With
 * flushing (the default) it never becomes a subnormal; without, it goes on as
 * one, as in PyTorch. Many weights, so the step also runs split over
 * the pool's workers (each sets its own MXCSR). */
static void adam_should_flush_subnormal_moments_unless_told_not_to(void **state) {
  (void)state;
  enum { N = 1 << 17 };
  static float w[N], g[N];
  lt_set_threads(2); /* two parts; which thread runs part 1 is the pool's choice */
  for (int flush = 1; flush >= 0; flush--) {
    lt_optim *o = lt_optim_adam_new(N, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0);
    assert_non_null(o);
    assert_int_equal(lt_optim_get_flush(o), 1);
    lt_optim_set_flush(o, flush);
    for (int i = 0; i < N; i++) w[i] = 1.0f, g[i] = 1.0f;
    assert_int_equal(lt_optim_step(o, w, g, NULL, N), LT_OK);
    memset(g, 0, sizeof g);
    for (int t = 1; t < 830; t++) assert_int_equal(lt_optim_step(o, w, g, NULL, N), LT_OK);
    const float *m = lt_optim_moment(o, 0);
    /* flushed: never a subnormal (0 with fused multiply-adds; without them the
     * product (1 - b1) * m flushes first and m stops just above FLT_MIN) */
    for (int i = 0; i < N; i += 4099) {
      if (flush) assert_true(m[i] == 0.0f || m[i] >= FLT_MIN);
      else assert_true(m[i] > 0.0f && m[i] < FLT_MIN); /* a subnormal */
    }
    if (flush) assert_true(m[N - 1] == 0.0f || m[N - 1] >= FLT_MIN);
    else assert_true(m[N - 1] > 0.0f && m[N - 1] < FLT_MIN);
    lt_optim_free(o);
  }
}

static void adam_weight_decay_should_be_l2_and_adamw_decoupled(void **state) {
  float g[3] = {0.5f, -1.0f, 2.0f}, w[3];
  lt_optim *o = lt_optim_adam_new(1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.1f, 0);
  run3(o, 1.0f, g, w);
  expect3(w, 0.9000000017, 0.9252635194, 0.8776172608);
  lt_optim_free(o);

  o = lt_optim_adam_new(1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.1f, 1);
  run3(o, 1.0f, g, w);
  /* w * (1 - .01) then the plain Adam update: .99 - .1, .89 * .99 + .0366104 */
  expect3(w, 0.890000002, 0.9177103542, 0.8665676892);
  lt_optim_free(o);
}

/* The AVX main loop handles 8 elements at a time and a scalar loop the rest:
 * 19 identical weights must all follow the hand-computed single-weight path. */
static void long_buffers_should_follow_the_single_weight_values(void **state) {
  enum { N = 19 };
  float w[N], g[N], mask[N];
  const float gs[3] = {0.5f, -1.0f, 2.0f};
  const double adam_want[3] = {0.890000002, 0.9177103542, 0.8665676892};
  const double sgd_want[3] = {0.81, 0.539, 0.1951};
  for (int k = 0; k < 2; k++) {
    lt_optim *o = k == 0 ? lt_optim_adam_new(N, 0.1f, 0.9f, 0.999f, 1e-8f, 0.1f, 1) : lt_optim_sgd_new(N, 0.1f, 0.9f, 1, 0.0f);
    for (int i = 0; i < N; i++) w[i] = 1.0f, mask[i] = (i == 3 || i == 17) ? 0.0f : 1.0f;
    for (int t = 0; t < 3; t++) {
      for (int i = 0; i < N; i++) g[i] = k == 0 ? gs[t] : 1.0f;
      assert_int_equal(lt_optim_step(o, w, g, mask, N), LT_OK);
      for (int i = 0; i < N; i++) {
        if (mask[i] == 0.0f)
          assert_true(w[i] == 0.0f);
        else
          assert_float_equal(w[i], k == 0 ? adam_want[t] : sgd_want[t], TOL);
      }
    }
    lt_optim_free(o);
  }
}

/* Many steps with random gradients: masked weights must be exactly 0.0f with
 * exactly zero moments, kept weights must move. */
static void check_mask_over_many_steps(lt_optim *o) {
  enum { N = 257 };
  float w[N], g[N], mask[N], w0[N];
  lt_rng r;
  lt_rng_seed(&r, 7, LT_STREAM_USER);
  for (int i = 0; i < N; i++) {
    w0[i] = w[i] = lt_rng_normal(&r);  /* masked weights start non-zero on purpose */
    mask[i] = (i % 3 == 0) ? 0.0f : 1.0f;
  }
  for (int t = 0; t < 200; t++) {
    for (int i = 0; i < N; i++) g[i] = lt_rng_normal(&r) + 0.5f * w[i];
    assert_int_equal(lt_optim_step(o, w, g, mask, N), LT_OK);
    for (int i = 0; i < N; i += 3) {
      uint32_t bits;
      memcpy(&bits, &w[i], sizeof bits);
      assert_int_equal(bits, 0); /* +0.0f exactly */
      for (int k = 0; k < 2; k++)
        if (lt_optim_moment(o, k)) assert_true(lt_optim_moment(o, k)[i] == 0.0f);
    }
  }
  int moved = 0;
  for (int i = 0; i < N; i++)
    if (i % 3 != 0 && w[i] != w0[i]) moved++;
  assert_int_equal(moved, N - (N + 2) / 3);
}

static void masked_weights_should_stay_exactly_zero_with_zero_moments(void **state) {
  lt_optim *opts[] = {
      lt_optim_sgd_new(257, 0.05f, 0.0f, 0, 5e-4f),
      lt_optim_sgd_new(257, 0.05f, 0.9f, 1, 5e-4f),
      lt_optim_adam_new(257, 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, 0),
      lt_optim_adam_new(257, 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, 1),
  };
  for (int k = 0; k < 4; k++) {
    assert_non_null(opts[k]);
    check_mask_over_many_steps(opts[k]);
    lt_optim_free(opts[k]);
  }
}

/* Versioned steps on a sparse mask touch only kept weights yet give the values of
 * full masked steps; a new version applies a changed mask at once. */
static void versioned_steps_on_a_sparse_mask_should_match_full_masked_steps(void **state) {
  enum { N = 1000 };
  static float w1[N], w2[N], g[N], mask[N];
  lt_rng r;
  lt_rng_seed(&r, 11, LT_STREAM_USER);
  for (int i = 0; i < N; i++) {
    w1[i] = w2[i] = lt_rng_normal(&r);  /* masked weights start non-zero on purpose */
    mask[i] = (i % 10 == 3) ? 1.0f : 0.0f;
  }
  for (int k = 0; k < 2; k++) {
    lt_optim *a = k ? lt_optim_sgd_new(N, 0.05f, 0.9f, 1, 1e-3f) : lt_optim_adam_new(N, 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, 1);
    lt_optim *b = k ? lt_optim_sgd_new(N, 0.05f, 0.9f, 1, 1e-3f) : lt_optim_adam_new(N, 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, 1);
    for (int t = 0; t < 60; t++) {
      if (t == 30) /* prune more: the version changes */
        for (int i = 0; i < N; i += 20) mask[i + 3] = 0.0f;
      for (int i = 0; i < N; i++) g[i] = lt_rng_normal(&r);
      assert_int_equal(lt_optim_step_versioned(a, w1, g, mask, N, t < 30 ? 1 : 2), LT_OK);
      assert_int_equal(lt_optim_step(b, w2, g, mask, N), LT_OK);
      if (t == 1) assert_non_null(a->kept);   /* 10% kept: the sparse path is in use */
    }
    assert_int_equal(lt_optim_steps(a), 60);
    assert_int_equal(a->nkept, N / 20);
    for (int i = 0; i < N; i++) {
      if (mask[i] == 0.0f) {
        assert_true(w1[i] == 0.0f && a->m[i] == 0.0f && (!a->v || a->v[i] == 0.0f));
      } else {
        assert_true(w1[i] != 0.0f);
        assert_float_equal(w1[i], w2[i], 1e-5);
      }
    }
    lt_optim_free(a);
    lt_optim_free(b);
    for (int i = 0; i < N; i++) mask[i] = (i % 10 == 3) ? 1.0f : 0.0f;
  }
}

static void versioned_steps_on_a_dense_mask_should_be_plain_steps(void **state) {
  enum { N = 100 };
  float w1[N], w2[N], g[N], mask[N];
  for (int i = 0; i < N; i++) w1[i] = w2[i] = 0.01f * i, g[i] = 0.5f - 0.01f * i, mask[i] = (i % 2) ? 1.0f : 0.0f;
  lt_optim *a = lt_optim_adam_new(N, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.0f, 0);
  lt_optim *b = lt_optim_adam_new(N, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.0f, 0);
  for (int t = 0; t < 5; t++) {
    assert_int_equal(lt_optim_step_versioned(a, w1, g, mask, N, 7), LT_OK);
    assert_int_equal(lt_optim_step(b, w2, g, mask, N), LT_OK);
  }
  assert_null(a->kept); /* 50% kept: not worth an index list */
  assert_memory_equal(w1, w2, sizeof w1);
  assert_int_equal(lt_optim_step_versioned(a, w1, g, NULL, N + 1, 7), LT_ESHAPE);
  lt_optim_free(a);
  lt_optim_free(b);
}

static void pruning_a_weight_should_clear_its_momentum(void **state) {
  lt_optim *o = lt_optim_adam_new(2, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 0);
  float w[2] = {1, 1}, g[2] = {1, 1}, mask[2] = {1, 1};
  assert_int_equal(lt_optim_step(o, w, g, mask, 2), LT_OK);
  assert_true(lt_optim_moment(o, 0)[1] != 0.0f);
  mask[1] = 0.0f;
  assert_int_equal(lt_optim_step(o, w, g, mask, 2), LT_OK);
  assert_true(w[1] == 0.0f);
  assert_true(lt_optim_moment(o, 0)[1] == 0.0f && lt_optim_moment(o, 1)[1] == 0.0f);
  assert_true(lt_optim_moment(o, 0)[0] != 0.0f);
  lt_optim_free(o);
}

static void reset_should_restart_as_a_fresh_optimizer(void **state) {
  float g[3] = {0.5f, -1.0f, 2.0f}, fresh[3], again[3];
  lt_optim *o = lt_optim_adam_new(1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 0);
  run3(o, 1.0f, g, fresh);
  lt_optim_reset(o);
  assert_int_equal(lt_optim_steps(o), 0);
  assert_true(lt_optim_moment(o, 0)[0] == 0.0f && lt_optim_moment(o, 1)[0] == 0.0f);
  run3(o, 1.0f, g, again);
  assert_memory_equal(fresh, again, sizeof fresh);
  lt_optim_free(o);

  o = lt_optim_sgd_new(1, 0.1f, 0.9f, 0, 0.0f);
  run3(o, 1.0f, g, fresh);
  lt_optim_reset(o);
  run3(o, 1.0f, g, again);
  assert_memory_equal(fresh, again, sizeof fresh);
  lt_optim_free(o);
}

static void set_lr_should_change_the_step_and_reject_bad_rates(void **state) {
  lt_optim *o = lt_optim_sgd_new(1, 0.1f, 0.0f, 0, 0.0f);
  float w = 1.0f, g = 1.0f;
  assert_int_equal(lt_optim_set_lr(o, 0.5f), LT_OK);
  assert_float_equal(lt_optim_get_lr(o), 0.5, 0);
  lt_optim_step(o, &w, &g, NULL, 1);
  assert_float_equal(w, 0.5, TOL);
  assert_int_equal(lt_optim_set_lr(o, -1.0f), LT_EINVAL);
  assert_int_equal(lt_optim_set_lr(o, NAN), LT_EINVAL);
  assert_float_equal(lt_optim_get_lr(o), 0.5, 0);
  lt_optim_free(o);
}

static void bad_arguments_should_be_errors_with_messages(void **state) {
  assert_null(lt_optim_sgd_new(4, -0.1f, 0.0f, 0, 0.0f));
  assert_non_null(strstr(lt_errmsg(), "lr"));
  assert_null(lt_optim_sgd_new(4, 0.1f, 1.0f, 0, 0.0f));
  assert_null(lt_optim_sgd_new(4, 0.1f, 0.0f, 1, 0.0f));
  assert_non_null(strstr(lt_errmsg(), "nesterov"));
  assert_null(lt_optim_sgd_new(4, 0.1f, 0.0f, 0, -1.0f));
  assert_null(lt_optim_adam_new(4, 0.1f, 1.0f, 0.999f, 1e-8f, 0.0f, 0));
  assert_null(lt_optim_adam_new(4, 0.1f, 0.9f, 0.999f, 0.0f, 0.0f, 0));
  lt_optim *o = lt_optim_sgd_new(4, 0.1f, 0.0f, 0, 0.0f);
  float w[5] = {0}, g[5] = {0};
  assert_int_equal(lt_optim_step(o, w, g, NULL, 5), LT_ESHAPE);
  assert_non_null(strstr(lt_errmsg(), "5"));
  assert_int_equal(lt_optim_steps(o), 0);
  lt_optim_free(o);
  lt_optim_free(NULL);
}

static void constant_and_multistep_schedules_should_drop_at_milestones(void **state) {
  lt_schedule s;
  assert_int_equal(lt_schedule_constant(&s, 0.3f), LT_OK);
  assert_float_equal(lt_schedule_lr(&s, 0), 0.3, 1e-7);
  assert_float_equal(lt_schedule_lr(&s, 1000000), 0.3, 1e-7);

  int64_t ms[2] = {32000, 48000};
  assert_int_equal(lt_schedule_multistep(&s, 0.1f, ms, 2, 0.1f), LT_OK);
  assert_float_equal(lt_schedule_lr(&s, 0), 0.1, 1e-8);
  assert_float_equal(lt_schedule_lr(&s, 31999), 0.1, 1e-8);
  assert_float_equal(lt_schedule_lr(&s, 32000), 0.01, 1e-9);
  assert_float_equal(lt_schedule_lr(&s, 47999), 0.01, 1e-9);
  assert_float_equal(lt_schedule_lr(&s, 48000), 0.001, 1e-10);
  assert_float_equal(lt_schedule_lr(&s, 90000), 0.001, 1e-10);

  int64_t bad[2] = {100, 50};
  assert_int_equal(lt_schedule_multistep(&s, 0.1f, bad, 2, 0.1f), LT_EINVAL);
  assert_non_null(strstr(lt_errmsg(), "increase"));
}

static void cosine_schedule_should_fall_from_lr_to_min_lr(void **state) {
  lt_schedule s;
  assert_int_equal(lt_schedule_cosine(&s, 0.1f, 1000, 0.0f), LT_OK);
  assert_float_equal(lt_schedule_lr(&s, 0), 0.1, 1e-8);
  assert_float_equal(lt_schedule_lr(&s, 250), 0.0853553391, 1e-8); /* .05 (1 + cos(pi/4)) */
  assert_float_equal(lt_schedule_lr(&s, 500), 0.05, 1e-8);
  assert_float_equal(lt_schedule_lr(&s, 1000), 0.0, 1e-8);
  assert_float_equal(lt_schedule_lr(&s, 5000), 0.0, 1e-8);
  assert_int_equal(lt_schedule_cosine(&s, 0.1f, 1000, 0.001f), LT_OK);
  assert_float_equal(lt_schedule_lr(&s, 500), 0.0505, 1e-8);
  assert_float_equal(lt_schedule_lr(&s, 2000), 0.001, 1e-8);
  assert_int_equal(lt_schedule_cosine(&s, 0.1f, 0, 0.0f), LT_EINVAL);
}

static void warmup_should_ramp_linearly_and_compose_with_any_schedule(void **state) {
  lt_schedule s;
  int64_t ms[1] = {150};
  assert_int_equal(lt_schedule_multistep(&s, 0.2f, ms, 1, 0.5f), LT_OK);
  assert_int_equal(lt_schedule_set_warmup(&s, 200), LT_OK);
  assert_float_equal(lt_schedule_lr(&s, 0), 0.0, 0);
  assert_float_equal(lt_schedule_lr(&s, 50), 0.05, 1e-8);   /* .2 * 50/200 */
  assert_float_equal(lt_schedule_lr(&s, 150), 0.075, 1e-8); /* .1 * 150/200 */
  assert_float_equal(lt_schedule_lr(&s, 200), 0.1, 1e-8);
  assert_float_equal(lt_schedule_lr(&s, 10000), 0.1, 1e-8);

  assert_int_equal(lt_schedule_cosine(&s, 0.1f, 1000, 0.0f), LT_OK);
  assert_int_equal(lt_schedule_set_warmup(&s, 100), LT_OK);
  assert_float_equal(lt_schedule_lr(&s, 50), 0.5 * 0.05 * (1 + cos(3.14159265358979 * 0.05)), 1e-8);
  assert_int_equal(lt_schedule_set_warmup(&s, -1), LT_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sgd_without_momentum_should_subtract_lr_times_grad),
      cmocka_unit_test(sgd_momentum_should_accumulate_a_velocity),
      cmocka_unit_test(sgd_nesterov_should_add_momentum_times_buffer_to_the_gradient),
      cmocka_unit_test(sgd_weight_decay_should_shrink_weights_and_feed_the_momentum),
      cmocka_unit_test(adam_should_match_pytorch_for_three_steps),
      cmocka_unit_test(adam_weight_decay_should_be_l2_and_adamw_decoupled),
      cmocka_unit_test(adam_should_flush_subnormal_moments_unless_told_not_to),
      cmocka_unit_test(long_buffers_should_follow_the_single_weight_values),
      cmocka_unit_test(masked_weights_should_stay_exactly_zero_with_zero_moments),
      cmocka_unit_test(pruning_a_weight_should_clear_its_momentum),
      cmocka_unit_test(versioned_steps_on_a_sparse_mask_should_match_full_masked_steps),
      cmocka_unit_test(versioned_steps_on_a_dense_mask_should_be_plain_steps),
      cmocka_unit_test(reset_should_restart_as_a_fresh_optimizer),
      cmocka_unit_test(set_lr_should_change_the_step_and_reject_bad_rates),
      cmocka_unit_test(bad_arguments_should_be_errors_with_messages),
      cmocka_unit_test(constant_and_multistep_schedules_should_drop_at_milestones),
      cmocka_unit_test(cosine_schedule_should_fall_from_lr_to_min_lr),
      cmocka_unit_test(warmup_should_ramp_linearly_and_compose_with_any_schedule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
