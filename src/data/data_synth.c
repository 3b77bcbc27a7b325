/* data_synth.c: synthetic tasks, generated from an lt_rng so they are reproducible.
 * sum_of_two is the toy regression of the lottery-ticket literature: learn
 * y = x1 + x2 from uniformly drawn pairs. */
#include <math.h>

#include "lotto/data.h"

lt_status lt_dataset_sum_of_two(lt_dataset **out, int64_t n, float lo, float hi, lt_rng *r) {
  *out = NULL;
  if (n < 1) return lt_error(LT_EINVAL, "sum_of_two: n = %lld (need at least 1 row)", (long long)n);
  if (!(lo < hi) || hi - lo == (float)INFINITY)
    return lt_error(LT_EINVAL, "sum_of_two: the range [%g, %g) is empty or infinite", (double)lo, (double)hi);
  lt_tensor *x = lt_tensor_new2(n, 2);
  lt_tensor *y = x ? lt_tensor_new2(n, 1) : NULL;
  if (!y) {
    lt_tensor_release(x);
    return LT_ENOMEM;
  }
  float *xp = lt_tensor_data(x), *yp = lt_tensor_data(y);
  for (int64_t i = 0; i < n; i++) {
    xp[2 * i] = lt_rng_uniform(r, lo, hi);
    xp[2 * i + 1] = lt_rng_uniform(r, lo, hi);
    yp[i] = xp[2 * i] + xp[2 * i + 1];
  }
  *out = lt_dataset_new(x, y, 0);
  lt_tensor_release(x);
  lt_tensor_release(y);
  return *out ? LT_OK : LT_ENOMEM;
}
