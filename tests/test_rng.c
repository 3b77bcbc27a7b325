/* test_rng.c: CMocka tests of the seeded generator: pinned sequences (computed once,
 * and checked against an independent Python transcription of xoshiro256** with the
 * same splitmix64 seeding) guard cross-machine identity; streams, ranges, statistics. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/rng.h"

static void fixed_seed_should_give_the_pinned_sequence(void **state) {
  static const uint64_t want0[4] = {0x570994d7bc9560beULL, 0x1ac3c0b7b290d2acULL, 0x0472b7fd8d2765bfULL,
                                    0x6231fe6bc28b1d85ULL};
  static const uint64_t want1[2] = {0x69e5911dd7b8b987ULL, 0xa180ed434be1506aULL};
  lt_rng r;
  lt_rng_seed(&r, 42, LT_STREAM_INIT);
  for (int i = 0; i < 4; i++) assert_true(lt_rng_u64(&r) == want0[i]);
  lt_rng_seed(&r, 42, LT_STREAM_DATA);
  for (int i = 0; i < 2; i++) assert_true(lt_rng_u64(&r) == want1[i]);
}

static void derived_draws_should_give_the_pinned_values(void **state) {
  lt_rng r;
  lt_rng_seed(&r, 42, LT_STREAM_INIT);
  assert_true(fabs(lt_rng_double(&r) - 0.33998995081909333) < 1e-16);
  assert_true(fabs(lt_rng_double(&r) - 0.1045494507293967) < 1e-16);
  lt_rng_seed(&r, 42, LT_STREAM_INIT);
  const float wn[3] = {-0.298912853f, -0.738736451f, -0.163681984f};
  for (int i = 0; i < 3; i++) assert_true(fabsf(lt_rng_normal(&r) - wn[i]) < 1e-7f);
  lt_rng_seed(&r, 42, LT_STREAM_INIT);
  int64_t p[8];
  const int64_t wp[8] = {4, 7, 5, 3, 1, 6, 0, 2};
  lt_rng_permutation(&r, p, 8);
  assert_memory_equal(p, wp, sizeof wp);
}

static void reseeding_should_restart_the_sequence(void **state) {
  lt_rng a, b;
  lt_rng_seed(&a, 9, LT_STREAM_PRUNE);
  (void)lt_rng_normal(&a); /* leaves a spare behind */
  lt_rng_seed(&a, 9, LT_STREAM_PRUNE);
  lt_rng_seed(&b, 9, LT_STREAM_PRUNE);
  for (int i = 0; i < 5; i++) assert_true(lt_rng_normal(&a) == lt_rng_normal(&b));
}

static void different_streams_and_seeds_should_differ(void **state) {
  lt_rng r;
  uint64_t first[2][5];
  for (int s = 0; s < 5; s++) {
    lt_rng_seed(&r, 1, (uint64_t)s);
    first[0][s] = lt_rng_u64(&r);
    lt_rng_seed(&r, (uint64_t)s, 0);
    first[1][s] = lt_rng_u64(&r);
  }
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++) {
      assert_true(first[0][i] != first[0][j]);
      assert_true(first[1][i] != first[1][j]);
    }
}

static void below_should_stay_in_range_and_cover_it_evenly(void **state) {
  lt_rng r;
  lt_rng_seed(&r, 5, LT_STREAM_USER);
  int count[7] = {0};
  for (int i = 0; i < 70000; i++) {
    uint64_t k = lt_rng_below(&r, 7);
    assert_true(k < 7);
    count[k]++;
  }
  for (int k = 0; k < 7; k++) assert_in_range(count[k], 9500, 10500); /* sd ~ 93 */
  for (int i = 0; i < 100; i++) assert_true(lt_rng_below(&r, 1) == 0);
}

static void uniform_should_stay_in_its_interval(void **state) {
  lt_rng r;
  lt_rng_seed(&r, 6, LT_STREAM_USER);
  double sum = 0;
  for (int i = 0; i < 100000; i++) {
    float x = lt_rng_uniform(&r, -2.0f, 3.0f);
    assert_true(x >= -2.0f && x < 3.0f);
    sum += x;
  }
  assert_true(fabs(sum / 100000 - 0.5) < 0.02); /* sd of the mean ~ 0.0046 */
}

static void permutation_should_contain_every_index_once(void **state) {
  lt_rng r;
  lt_rng_seed(&r, 3, LT_STREAM_PRUNE);
  enum { N = 1000 };
  int64_t p[N];
  char seen[N] = {0};
  lt_rng_permutation(&r, p, N);
  int fixed = 0;
  for (int i = 0; i < N; i++) {
    assert_in_range(p[i], 0, N - 1);
    assert_false(seen[p[i]]);
    seen[p[i]] = 1;
    fixed += p[i] == i;
  }
  assert_true(fixed < 10); /* a shuffle, not the identity: ~1 fixed point expected */
}

/* lt_rng_keep is n draws of lt_rng_double compared with p, in one loop: same values, same state
 * after, for probabilities on and off the 2^-53 grid (0, 1/3, 0.5, 0.9). */
static void keep_should_match_double_draws(void **state) {
  const double ps[] = {0.0, 1.0 / 3.0, 0.5, 0.9};
  enum { n = 4099 };
  static float k[n];
  for (int t = 0; t < 4; t++) {
    lt_rng a, b;
    lt_rng_seed(&a, 17 + t, LT_STREAM_DROPOUT), lt_rng_seed(&b, 17 + t, LT_STREAM_DROPOUT);
    lt_rng_keep(&a, k, n, ps[t], 2.5f);
    int dropped = 0;
    for (int i = 0; i < n; i++) {
      float want = lt_rng_double(&b) < ps[t] ? 0.0f : 2.5f;
      if (k[i] != want) fail_msg("p = %g: keep[%d] = %g, lt_rng_double says %g", ps[t], i, k[i], want);
      dropped += k[i] == 0.0f;
    }
    assert_true(lt_rng_u64(&a) == lt_rng_u64(&b));
    assert_true(fabs((double)dropped / n - ps[t]) < 0.03);
  }
}

static void normal_should_have_unit_variance_on_100k_draws(void **state) {
  lt_rng r;
  lt_rng_seed(&r, 11, LT_STREAM_INIT);
  enum { N = 100000 };
  double s = 0, s2 = 0, s4 = 0;
  for (int i = 0; i < N; i++) {
    double x = lt_rng_normal(&r);
    s += x;
    s2 += x * x;
    s4 += x * x * x * x;
  }
  double mean = s / N, var = s2 / N - mean * mean;
  assert_true(fabs(mean) < 0.015);     /* sd of the mean ~ 0.0032 */
  assert_true(fabs(var - 1.0) < 0.03); /* sd of the variance ~ 0.0045 */
  assert_true(fabs(s4 / N - 3.0) < 0.15); /* kurtosis of a normal */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fixed_seed_should_give_the_pinned_sequence),
      cmocka_unit_test(derived_draws_should_give_the_pinned_values),
      cmocka_unit_test(reseeding_should_restart_the_sequence),
      cmocka_unit_test(different_streams_and_seeds_should_differ),
      cmocka_unit_test(below_should_stay_in_range_and_cover_it_evenly),
      cmocka_unit_test(uniform_should_stay_in_its_interval),
      cmocka_unit_test(permutation_should_contain_every_index_once),
      cmocka_unit_test(normal_should_have_unit_variance_on_100k_draws),
      cmocka_unit_test(keep_should_match_double_draws),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
