/* test_tensor_limits.c: CMocka tests of the tensor engine's size limits: shapes whose
 * element count overflows int64 are refused with a message before any arithmetic can
 * overflow (run under UBSan by `make test-asan`, where an overflow aborts the test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/tensor.h"

#define TWO32 ((int64_t)1 << 32)

static void assert_msg_has(const char *needle) {
  if (!strstr(lt_errmsg(), needle)) fail_msg("message \"%s\" lacks \"%s\"", lt_errmsg(), needle);
}

static void reshape_should_refuse_a_shape_whose_product_overflows(void **state) {
  lt_tensor *t = lt_tensor_new1(6);
  int64_t huge[2] = {TWO32, TWO32}; /* 2^64: wraps to 0 in int64 arithmetic */
  assert_null(lt_tensor_reshape(t, 2, huge));
  assert_msg_has("too large");
  assert_msg_has("4294967296");
  int64_t huge_free[3] = {TWO32, TWO32, -1}; /* the product would be the divisor of -1 */
  assert_null(lt_tensor_reshape(t, 3, huge_free));
  assert_msg_has("too large");
  int64_t four[4] = {INT64_MAX, 2, 2, 2};
  assert_null(lt_tensor_reshape(t, 4, four));
  assert_msg_has("too large");
  int64_t ok[2] = {-1, 3};
  lt_tensor *r = lt_tensor_reshape(t, 2, ok);
  assert_non_null(r);
  assert_int_equal(r->shape[0], 2);
  lt_tensor_release(r);
  lt_tensor_release(t);
}

static void reshape_of_an_empty_tensor_should_apply_the_same_dim_limit_as_new(void **state) {
  int64_t z[1] = {0};
  lt_tensor *t = lt_tensor_new(1, z); /* 0 elements */
  assert_non_null(t);
  int64_t zero_huge[2] = {0, (int64_t)1 << 40}; /* 0 elements but a dim over 2^36: refused like new */
  assert_null(lt_tensor_reshape(t, 2, zero_huge));
  assert_msg_has("too large");
  int64_t zero_small[2] = {0, 7};
  lt_tensor *r = lt_tensor_reshape(t, 2, zero_small);
  assert_non_null(r);
  lt_tensor_release(r);
  lt_tensor_release(t);
}

static void new_and_view_should_refuse_overflowing_shapes(void **state) {
  int64_t huge[2] = {TWO32, TWO32};
  assert_null(lt_tensor_new(2, huge));
  assert_msg_has("too large");
  lt_tensor *t = lt_tensor_new1(4);
  assert_null(lt_tensor_view(t, 0, 2, huge));
  lt_tensor_release(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reshape_should_refuse_a_shape_whose_product_overflows),
      cmocka_unit_test(reshape_of_an_empty_tensor_should_apply_the_same_dim_limit_as_new),
      cmocka_unit_test(new_and_view_should_refuse_overflowing_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
