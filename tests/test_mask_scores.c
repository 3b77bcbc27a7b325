/* test_mask_scores.c: the selection rules of pruning at initialization, supermasks
 * and targeted dropout on hand-worked examples — keep_top's exact count and order,
 * ERK densities against the formula (with layers made dense by the loop), and the
 * targeted-dropout keep mask (weights and units, alpha 0 and 1, seeded draws). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/mask.h"

#include "tensor_wrap.h"

static void expect_mask(const float *m, const float *want, int n) {
  for (int i = 0; i < n; i++)
    if (m[i] != want[i]) fail_msg("mask entry %d is %g, expected %g", i, (double)m[i], (double)want[i]);
}

static void keep_top_should_keep_the_largest_scores_of_the_survivors(void **state) {
  (void)state;
  float s[6] = {3, -9, 1, 3, 2, 7}, m[6] = {1, 1, 1, 1, 1, 0}, want[6] = {0, 1, 0, 1, 0, 0};
  wrap ws, wm;
  int64_t pruned = -1;
  /* |s| of the survivors: 3, 9, 1, 3, 2 (index 5 is pruned and stays so): keep 9 and the later 3 */
  assert_int_equal(lt_mask_keep_top(wrap1(&wm, m, 6), wrap1(&ws, s, 6), 2, LT_SCORE_ABS, &pruned), LT_OK);
  assert_int_equal(pruned, 3);
  expect_mask(m, want, 6);
  /* raw: 3 (idx 3) is the largest left, then 3 (idx 0) */
  float m2[6] = {1, 1, 1, 1, 1, 1}, want2[6] = {1, 0, 0, 1, 0, 1};
  assert_int_equal(lt_mask_keep_top(wrap1(&wm, m2, 6), wrap1(&ws, s, 6), 3, LT_SCORE_RAW, &pruned), LT_OK);
  expect_mask(m2, want2, 6);
  /* keep >= survivors changes nothing; a negative count is refused */
  assert_int_equal(lt_mask_keep_top(wrap1(&wm, m2, 6), wrap1(&ws, s, 6), 5, LT_SCORE_RAW, &pruned), LT_OK);
  assert_int_equal(pruned, 0);
  assert_int_equal(lt_mask_keep_top(wrap1(&wm, m2, 6), wrap1(&ws, s, 6), -1, LT_SCORE_RAW, &pruned), LT_EINVAL);
}

static void erk_should_match_the_formula(void **state) {
  (void)state;
  int64_t a[2] = {300, 784}, b[2] = {100, 300}, c[2] = {10, 100};
  const int64_t *shapes[3] = {a, b, c};
  int nd[3] = {2, 2, 2};
  double d[3];
  assert_int_equal(lt_mask_erk(d, shapes, nd, NULL, 3, 0.05), LT_OK);
  double eps = 0.05 * 266200.0 / (1084 + 400 + 110);
  assert_true(fabs(d[0] - eps * 1084 / 235200) < 1e-12);
  assert_true(fabs(d[1] - eps * 400 / 30000) < 1e-12);
  assert_true(fabs(d[2] - eps * 110 / 1000) < 1e-12);
  /* 0.5: the small layers would pass 1, so they are dense and fc1 keeps the rest */
  assert_int_equal(lt_mask_erk(d, shapes, nd, NULL, 3, 0.5), LT_OK);
  assert_true(d[1] == 1.0 && d[2] == 1.0);
  assert_true(fabs(d[0] - (0.5 * 266200 - 31000) / 235200.0) < 1e-12);
  /* the kept total is the target */
  assert_true(fabs(d[0] * 235200 + d[1] * 30000 + d[2] * 1000 - 0.5 * 266200) < 1e-6);
  int dense[3] = {1, 0, 0};
  assert_int_equal(lt_mask_erk(d, shapes, nd, dense, 3, 0.1), LT_EINVAL); /* fc1 alone keeps 88% */
}

static void erk_should_count_kernel_dims_of_a_conv(void **state) {
  (void)state;
  int64_t a[4] = {6, 1, 5, 5}, b[2] = {10, 96};
  const int64_t *shapes[2] = {a, b};
  int nd[2] = {4, 2};
  double d[2];
  assert_int_equal(lt_mask_erk(d, shapes, nd, NULL, 2, 0.3), LT_OK);
  double eps = 0.3 * 1110 / (17.0 + 106.0);
  assert_true(fabs(d[0] - eps * 17 / 150) < 1e-12);
  assert_true(fabs(d[1] - eps * 106 / 960) < 1e-12);
}

static void targeted_dropout_should_drop_only_low_magnitude_survivors(void **state) {
  (void)state;
  float w[6] = {0.1f, -5, 0.3f, 2, -0.2f, 4}, m[6] = {1, 1, 0, 1, 1, 1}, k[6];
  wrap ww, wm, wk;
  lt_rng r;
  lt_rng_seed(&r, 1, 3);
  /* 5 survivors, gamma 0.5 -> round(2.5) = 3 candidates: 0.1, -0.2, 2; alpha 1 drops all */
  float want[6] = {0, 1, 0, 0, 0, 1};
  assert_int_equal(lt_mask_targeted_dropout(wrap1(&wk, k, 6), wrap1(&ww, w, 6), wrap1(&wm, m, 6), 0.5, 1.0, 0, &r),
                   LT_OK);
  expect_mask(k, want, 6);
  float want0[6] = {1, 1, 0, 1, 1, 1};
  assert_int_equal(lt_mask_targeted_dropout(wrap1(&wk, k, 6), wrap1(&ww, w, 6), wrap1(&wm, m, 6), 0.5, 0.0, 0, &r),
                   LT_OK);
  expect_mask(k, want0, 6);
  assert_int_equal(lt_mask_targeted_dropout(wrap1(&wk, k, 6), wrap1(&ww, w, 6), wrap1(&wm, m, 6), 1.5, 0.5, 0, &r),
                   LT_EINVAL);
}

static void targeted_dropout_should_drop_whole_units_by_l2_norm(void **state) {
  (void)state;
  /* rows (2 inputs): norms sqrt2, 0.14, 3, 0.54 -> the two smallest are rows 1 and 3 */
  float w[8] = {1, 1, 0.1f, 0.1f, 3, 0, -0.5f, 0.2f}, m[8] = {1, 1, 1, 1, 1, 1, 1, 1}, k[8];
  float want[8] = {1, 1, 0, 0, 1, 1, 0, 0};
  int64_t shape[2] = {4, 2};
  wrap ww, wm, wk;
  lt_rng r;
  lt_rng_seed(&r, 1, 3);
  assert_int_equal(lt_mask_targeted_dropout(wrapn(&wk, k, 2, shape), wrapn(&ww, w, 2, shape), wrapn(&wm, m, 2, shape),
                                            0.5, 1.0, 1, &r),
                   LT_OK);
  expect_mask(k, want, 8);
}

static void targeted_dropout_should_be_reproducible_and_near_alpha(void **state) {
  (void)state;
  enum { N = 10000 };
  float *w = malloc(N * sizeof *w), *m = malloc(N * sizeof *m), *k1 = malloc(N * sizeof *k1), *k2 = malloc(N * sizeof *k2);
  assert_non_null(w && m && k1 && k2);
  lt_rng r;
  lt_rng_seed(&r, 5, 0);
  for (int i = 0; i < N; i++) w[i] = lt_rng_normal(&r), m[i] = 1;
  wrap ww, wm, wk;
  lt_rng_seed(&r, 9, 3);
  assert_int_equal(lt_mask_targeted_dropout(wrap1(&wk, k1, N), wrap1(&ww, w, N), wrap1(&wm, m, N), 0.5, 0.3, 0, &r), LT_OK);
  lt_rng_seed(&r, 9, 3);
  assert_int_equal(lt_mask_targeted_dropout(wrap1(&wk, k2, N), wrap1(&ww, w, N), wrap1(&wm, m, N), 0.5, 0.3, 0, &r), LT_OK);
  assert_memory_equal(k1, k2, N * sizeof *k1);
  int dropped = 0;
  float hi = 0; /* the largest dropped |w| */
  for (int i = 0; i < N; i++) {
    if (k1[i] == 0) dropped++, hi = fmaxf(hi, fabsf(w[i]));
  }
  int below = 0;
  for (int i = 0; i < N; i++) below += fabsf(w[i]) <= hi;
  assert_true(below <= N / 2);                        /* the dropped all lie in the lower half */
  assert_true(dropped > 1350 && dropped < 1650);      /* 0.3 of 5000, about 4.6 sigma either side */
  free(w), free(m), free(k1), free(k2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(keep_top_should_keep_the_largest_scores_of_the_survivors),
      cmocka_unit_test(erk_should_match_the_formula),
      cmocka_unit_test(erk_should_count_kernel_dims_of_a_conv),
      cmocka_unit_test(targeted_dropout_should_drop_only_low_magnitude_survivors),
      cmocka_unit_test(targeted_dropout_should_drop_whole_units_by_l2_norm),
      cmocka_unit_test(targeted_dropout_should_be_reproducible_and_near_alpha),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
