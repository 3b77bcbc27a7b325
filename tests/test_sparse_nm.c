/* test_sparse_nm.c: the n:m forward kernels (sparse_nm.c, sparse_nm_avx2.c)
 * against a double-precision dense product, the AVX2 kernel against the
 * portable one, on odd shapes: 1:4, 2:4, 4:8 and a pattern with no constant
 * path (2:6), masks with padding slots, batches that are not whole vectors or
 * chunks, strides that leave rows off cache lines, bias or none, 1 and 2
 * threads, and values changed by lt_nm_refresh after the build. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/rng.h"
#include "lotto/sparse.h"
#include "lotto/tensor.h"

static lt_rng rng;

static float *randv(size_t n) {
  float *v = malloc((n ? n : 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = lt_rng_uniform(&rng, -1.0f, 1.0f);
  return v;
}

/* An n:m mask keeping 0..n of every m (so some slots are padding), or exactly n when full. */
static float *mask_nm(int rows, int cols, int n, int m, int full) {
  float *k = calloc((size_t)rows * cols, sizeof *k);
  for (int r = 0; r < rows; r++)
    for (int g = 0; g < cols; g += m) {
      int keep = full ? n : (int)lt_rng_below(&rng, (uint64_t)n + 1);
      for (int j = 0; j < keep; j++) {
        int c;
        do c = (int)lt_rng_below(&rng, (uint64_t)m);
        while (k[(size_t)r * cols + g + c] != 0.0f);
        k[(size_t)r * cols + g + c] = 1.0f;
      }
    }
  return k;
}

/* yt (rows, ldy) from xt (cols, ldx), n columns, against w*mask in double: each entry
 * within 1e-5 of the sum of |terms| (float rounding, any summation order). */
static void check_forward(const float *yt, int ldy, const float *w, const float *mk, const float *xt, int ldx,
                          const float *bias, int rows, int cols, int n, const char *what) {
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < n; j++) {
      double s = bias ? bias[r] : 0.0, a = fabs(s);
      for (int c = 0; c < cols; c++) {
        double t = (double)w[(size_t)r * cols + c] * mk[(size_t)r * cols + c] * xt[(size_t)c * ldx + j];
        s += t, a += fabs(t);
      }
      double got = yt[(size_t)r * ldy + j];
      if (fabs(got - s) > 1e-5 * (a + 1e-3))
        fail_msg("%s: y[%d, %d] = %.9g, expected %.9g", what, r, j, got, s);
    }
}

static void forward_should_match_dense_on_odd_shapes_with_either_kernel(void **state) {
  static const int pat[][2] = {{2, 4}, {1, 4}, {4, 8}, {2, 6}};
  static const int batches[] = {1, 5, 16, 37, 64, 100, 130};
  static const int rows_of[] = {1, 9, 37};
  int simd = lt_nm_use_simd(1) && lt_nm_simd_active(), saved = lt_get_threads();
  if (!simd) printf("(no AVX2+FMA here: the portable kernel only)\n");
  for (int p = 0; p < 4; p++)
    for (int ri = 0; ri < 3; ri++)
      for (int bi = 0; bi < 7; bi++) {
        const int n = pat[p][0], m = pat[p][1], rows = rows_of[ri], cols = m * 13, B = batches[bi];
        const int ld = (bi + ri) % 3 == 0 ? B : (bi + ri) % 3 == 1 ? B + 3 : (B + 15) & ~15;
        float *w = randv((size_t)rows * cols), *mk = mask_nm(rows, cols, n, m, (bi + p) % 2);
        float *xt = randv((size_t)cols * ld), *bias = (bi % 2) ? randv(rows) : NULL;
        float *y[2] = {malloc((size_t)rows * ld * sizeof(float)), malloc((size_t)rows * ld * sizeof(float))};
        lt_nm *a = lt_nm_new();
        assert_int_equal(lt_nm_build(a, w, mk, rows, cols, n, m), LT_OK);
        for (size_t i = 0; i < (size_t)rows * cols; i++) w[i] = lt_rng_uniform(&rng, -1.0f, 1.0f);
        lt_nm_refresh(a, w); /* the forward must read the new values, in either kernel's order */
        char what[96];
        for (int k = 0; k < 2; k++) {
          lt_nm_use_simd(k == 0);
          lt_set_threads(1 + (bi + p) % 2);
          for (size_t i = 0; i < (size_t)rows * ld; i++) y[k][i] = NAN; /* columns past B stay untouched */
          assert_int_equal(lt_nm_forward_t(y[k], ld, a, xt, ld, B, bias), LT_OK);
          snprintf(what, sizeof what, "%d:%d (%d, %d) batch %d ld %d %s", n, m, rows, cols, B, ld,
                   k == 0 && simd ? "avx2" : "portable");
          check_forward(y[k], ld, w, mk, xt, ld, bias, rows, cols, B, what);
          for (int r = 0; r < rows; r++)
            for (int j = B; j < ld; j++) assert_true(isnan(y[k][(size_t)r * ld + j]));
        }
        lt_nm_free(a);
        free(w), free(mk), free(xt), free(bias), free(y[0]), free(y[1]);
      }
  lt_nm_use_simd(1);
  lt_set_threads(saved);
}

static void use_simd_should_report_the_setting_before_the_call(void **state) {
  int was = lt_nm_use_simd(0);
  assert_int_equal(was, 1);
  assert_int_equal(lt_nm_simd_active(), 0);
  assert_int_equal(lt_nm_use_simd(-1), 0); /* only asks */
  assert_int_equal(lt_nm_use_simd(1), 0);
  assert_int_equal(lt_nm_use_simd(-1), 1);
}

/* A hand-worked 2:4 row: y = 2*x1 + 4*x3 + 5*x4 (+ bias 1), the last group padding. */
static void forward_should_give_the_hand_worked_row(void **state) {
  const float w[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, mk[12] = {0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0};
  float xt[12 * 16], yt[16], bias = 1.0f;
  for (int c = 0; c < 12; c++)
    for (int j = 0; j < 16; j++) xt[c * 16 + j] = (float)(c + 1) * (j + 1);
  lt_nm *a = lt_nm_new();
  assert_int_equal(lt_nm_build(a, w, mk, 1, 12, 2, 4), LT_OK);
  for (int k = 0; k < 2; k++) {
    lt_nm_use_simd(k);
    assert_int_equal(lt_nm_forward_t(yt, 16, a, xt, 16, 16, &bias), LT_OK);
    for (int j = 0; j < 16; j++) assert_true(yt[j] == 1.0f + (2 * 2 + 4 * 4 + 5 * 5) * (j + 1.0f));
  }
  lt_nm_free(a);
}

int main(void) {
  lt_rng_seed(&rng, 11, LT_STREAM_USER);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(use_simd_should_report_the_setting_before_the_call),
      cmocka_unit_test(forward_should_give_the_hand_worked_row),
      cmocka_unit_test(forward_should_match_dense_on_odd_shapes_with_either_kernel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
