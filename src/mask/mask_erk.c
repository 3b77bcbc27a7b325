/* mask_erk.c: layer-wise density distributions for a target overall density —
 * Erdős–Rényi-Kernel (Evci et al. 2020, RigL): layer l keeps the fraction
 * d_l = min(1, eps * (sum of its dims) / (product of its dims)), eps chosen so
 * that the kept weights add up to density * (all weights). */
#include <math.h>
#include <stdlib.h>

#include "mask/mask_internal.h"

lt_status lt_mask_erk(double *density, const int64_t *const *shapes, const int *ndims, const int *dense, int n,
                      double target) {
  const char *fn = "lt_mask_erk";
  lt_status st = mask_check_rate(fn, target);
  if (st) return st;
  if (n < 1 || !density || !shapes || !ndims) return lt_error(LT_EINVAL, "%s: bad layer list (n = %d)", fn, n);
  double *numel = malloc((size_t)n * sizeof *numel), *raw = malloc((size_t)n * sizeof *raw);
  int *fixed = malloc((size_t)n * sizeof *fixed);
  if (!numel || !raw || !fixed) {
    st = lt_error(LT_ENOMEM, "%s: out of memory", fn);
    goto out;
  }
  double total = 0;
  for (int l = 0; l < n; l++) {
    if (ndims[l] < 1 || ndims[l] > 8) {
      st = lt_error(LT_EINVAL, "%s: layer %d has %d dims", fn, l + 1, ndims[l]);
      goto out;
    }
    double prod = 1, sum = 0;
    for (int d = 0; d < ndims[l]; d++) {
      if (shapes[l][d] < 1) {
        st = lt_error(LT_EINVAL, "%s: layer %d has an empty dim", fn, l + 1);
        goto out;
      }
      prod *= (double)shapes[l][d];
      sum += (double)shapes[l][d];
    }
    numel[l] = prod, raw[l] = sum / prod, total += prod;
    fixed[l] = dense && dense[l];
  }
  /* RigL's loop: solve eps over the free layers; while some free layer would exceed
   * density 1, make the one with the largest raw density dense and solve again. */
  for (;;) {
    double kept_fixed = 0, free_raw = 0;
    for (int l = 0; l < n; l++) {
      if (fixed[l]) kept_fixed += numel[l];
      else free_raw += numel[l] * raw[l];
    }
    double budget = target * total - kept_fixed;
    if (budget < -1e-9 * total) {
      st = lt_error(LT_EINVAL, "%s: density %g is below what the dense layers alone keep (%g)", fn, target,
                    kept_fixed / total);
      goto out;
    }
    if (free_raw == 0) {
      for (int l = 0; l < n; l++) density[l] = 1.0;
      break;
    }
    double eps = (budget > 0 ? budget : 0) / free_raw;
    int worst = -1;
    for (int l = 0; l < n; l++)
      if (!fixed[l] && eps * raw[l] > 1.0 && (worst < 0 || raw[l] > raw[worst])) worst = l;
    if (worst < 0) {
      for (int l = 0; l < n; l++) density[l] = fixed[l] ? 1.0 : eps * raw[l];
      break;
    }
    fixed[worst] = 1;
  }
out:
  free(numel), free(raw), free(fixed);
  return st;
}
