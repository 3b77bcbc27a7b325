/* test_mask.c: mask statistics, Hamming distance, overlap, validity checks,
 * applying a mask, and the permuted-mask baseline, on hand-written masks.
 * Tensors are stack wrappers over arrays, so these tests need only the mask code. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/mask.h"

#include "tensor_wrap.h"

static void mask_count_and_density_should_count_the_ones(void **state) {
  float m[8] = {1, 0, 1, 1, 0, 0, 0, 1};
  wrap a;
  lt_tensor *t = wrap1(&a, m, 8);
  assert_int_equal(lt_mask_count(t), 4);
  assert_float_equal(lt_mask_density(t), 0.5, 1e-12);
  float z[3] = {0, 0, 0};
  assert_int_equal(lt_mask_count(wrap1(&a, z, 3)), 0);
  assert_float_equal(lt_mask_density(&a.t), 0.0, 1e-12);
}

static void mask_count_should_follow_the_strides_of_a_view(void **state) {
  /* storage is 2x3 [[1,0,1],[0,0,1]]; the view is its first two columns */
  float m[6] = {1, 0, 1, 0, 0, 1};
  int64_t shape[2] = {2, 3};
  wrap a;
  lt_tensor *t = wrapn(&a, m, 2, shape);
  t->shape[1] = 2; /* stride stays 3 for dim 0: not contiguous */
  assert_int_equal(lt_mask_count(t), 1);
  assert_float_equal(lt_mask_density(t), 0.25, 1e-12);
}

static void mask_check_should_reject_values_other_than_zero_and_one(void **state) {
  float good[3] = {0, 1, 1}, bad[3] = {0, 1, 0.5f};
  wrap a;
  assert_int_equal(lt_mask_check(wrap1(&a, good, 3)), LT_OK);
  assert_int_equal(lt_mask_check(wrap1(&a, bad, 3)), LT_EINVAL);
  assert_non_null(strstr(lt_errmsg(), "entry 2"));
}

static void mask_hamming_should_count_differing_entries(void **state) {
  float a[6] = {1, 1, 0, 0, 1, 0}, b[6] = {1, 0, 0, 1, 1, 1}, c[6] = {0, 0, 1, 1, 0, 1};
  wrap wa, wb, wc;
  lt_tensor *ta = wrap1(&wa, a, 6), *tb = wrap1(&wb, b, 6), *tc = wrap1(&wc, c, 6);
  int64_t d = -1;
  assert_int_equal(lt_mask_hamming(&d, ta, ta), LT_OK);
  assert_int_equal(d, 0); /* identical */
  assert_int_equal(lt_mask_hamming(&d, ta, tb), LT_OK);
  assert_int_equal(d, 3); /* entries 1, 3, 5 */
  assert_int_equal(lt_mask_hamming(&d, ta, tc), LT_OK);
  assert_int_equal(d, 6); /* complementary: every entry */
}

static void mask_hamming_should_reject_different_shapes(void **state) {
  float a[6] = {1, 1, 0, 0, 1, 0};
  int64_t s23[2] = {2, 3}, s32[2] = {3, 2};
  wrap wa, wb;
  int64_t d;
  assert_int_equal(lt_mask_hamming(&d, wrapn(&wa, a, 2, s23), wrapn(&wb, a, 2, s32)), LT_ESHAPE);
  assert_non_null(strstr(lt_errmsg(), "(2, 3)"));
  assert_non_null(strstr(lt_errmsg(), "(3, 2)"));
}

static void mask_overlap_should_give_jaccard_and_coverage(void **state) {
  float a[4] = {1, 1, 0, 0}, b[4] = {1, 0, 1, 0}, c[4] = {0, 0, 1, 1}, z[4] = {0, 0, 0, 0};
  wrap wa, wb, wc, wz;
  lt_tensor *ta = wrap1(&wa, a, 4), *tb = wrap1(&wb, b, 4), *tc = wrap1(&wc, c, 4), *tz = wrap1(&wz, z, 4);
  double j, cov;
  assert_int_equal(lt_mask_overlap(&j, &cov, ta, tb), LT_OK);
  assert_float_equal(j, 1.0 / 3.0, 1e-12); /* |A and B| = 1, |A or B| = 3 */
  assert_float_equal(cov, 0.5, 1e-12);     /* 1 of A's 2 survivors */
  assert_int_equal(lt_mask_overlap(&j, &cov, ta, ta), LT_OK);
  assert_float_equal(j, 1.0, 1e-12);
  assert_float_equal(cov, 1.0, 1e-12);
  assert_int_equal(lt_mask_overlap(&j, &cov, ta, tc), LT_OK);
  assert_float_equal(j, 0.0, 1e-12);
  assert_float_equal(cov, 0.0, 1e-12);
  assert_int_equal(lt_mask_overlap(&j, &cov, tz, tz), LT_OK);
  assert_float_equal(j, 1.0, 1e-12); /* two empty masks are identical */
  assert_float_equal(cov, 1.0, 1e-12);
  assert_int_equal(lt_mask_overlap(&j, NULL, tz, ta), LT_OK);
  assert_float_equal(j, 0.0, 1e-12);
}

static void mask_apply_should_zero_pruned_weights_even_nan(void **state) {
  float w[4] = {2, NAN, -3, 4}, m[4] = {1, 0, 0, 1};
  wrap ww, wm;
  assert_int_equal(lt_mask_apply(wrap1(&ww, w, 4), wrap1(&wm, m, 4)), LT_OK);
  assert_float_equal(w[0], 2, 0);
  assert_float_equal(w[1], 0, 0);
  assert_float_equal(w[2], 0, 0);
  assert_float_equal(w[3], 4, 0);
}

static void mask_permute_should_keep_density_exactly_and_change_the_pattern(void **state) {
  float m[100], orig[100], again[100];
  for (int i = 0; i < 100; i++) m[i] = i < 37 ? 1.0f : 0.0f;
  memcpy(orig, m, sizeof m);
  wrap wm, wo, wa;
  lt_tensor *tm = wrap1(&wm, m, 100), *to = wrap1(&wo, orig, 100);
  lt_rng r;
  lt_rng_seed(&r, 7, LT_STREAM_PRUNE);
  assert_int_equal(lt_mask_permute(tm, &r), LT_OK);
  assert_int_equal(lt_mask_count(tm), 37);
  int64_t d;
  assert_int_equal(lt_mask_hamming(&d, tm, to), LT_OK);
  assert_true(d > 20); /* a uniform shuffle moves most of the block */
  for (int i = 0; i < 100; i++) assert_true(m[i] == 0.0f || m[i] == 1.0f);
  /* same seed, same permutation */
  memcpy(again, orig, sizeof again);
  lt_rng_seed(&r, 7, LT_STREAM_PRUNE);
  assert_int_equal(lt_mask_permute(wrap1(&wa, again, 100), &r), LT_OK);
  assert_memory_equal(again, m, sizeof m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(mask_count_and_density_should_count_the_ones),
      cmocka_unit_test(mask_count_should_follow_the_strides_of_a_view),
      cmocka_unit_test(mask_check_should_reject_values_other_than_zero_and_one),
      cmocka_unit_test(mask_hamming_should_count_differing_entries),
      cmocka_unit_test(mask_hamming_should_reject_different_shapes),
      cmocka_unit_test(mask_overlap_should_give_jaccard_and_coverage),
      cmocka_unit_test(mask_apply_should_zero_pruned_weights_even_nan),
      cmocka_unit_test(mask_permute_should_keep_density_exactly_and_change_the_pattern),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
