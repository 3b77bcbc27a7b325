/* prune_struct.c: structured pruning of masks — whole units (output neurons,
 * conv output channels, or slices along any dim) by the L1/L2 norm of their
 * surviving weights, and n:m semi-structured sparsity along the input dim. */
#include <math.h>
#include <stdlib.h>

#include "mask/mask_internal.h"

typedef struct unit_norm {
  double norm;
  int64_t unit;
} unit_norm;

/* (norm, unit) ascending with NaN first: a total order, so qsort's
 * instability cannot change the result. */
static int cmp_unit(const void *pa, const void *pb) {
  const unit_norm *a = pa, *b = pb;
  int an = isnan(a->norm), bn = isnan(b->norm);
  if (an != bn) return an ? -1 : 1;
  if (!an && a->norm != b->norm) return a->norm < b->norm ? -1 : 1;
  return (a->unit > b->unit) - (a->unit < b->unit);
}

lt_status lt_mask_prune_structured(lt_tensor *mask, const lt_tensor *weight, double p, int dim, lt_norm norm,
                                   int64_t *units_pruned) {
  const char *fn = "lt_mask_prune_structured";
  lt_status st = mask_check_pair(fn, mask, weight, "weight");
  if (st || (st = mask_check_rate(fn, p))) return st;
  if (dim < 0 || dim >= mask->ndim)
    return lt_error(LT_EINVAL, "%s: dim %d out of range for a %d-D mask", fn, dim, mask->ndim);
  if (norm != LT_NORM_L1 && norm != LT_NORM_L2) return lt_error(LT_EINVAL, "%s: norm must be L1 or L2", fn);
  if (units_pruned) *units_pruned = 0;

  int64_t nu = mask->shape[dim], inner = 1, outer = 1;
  for (int d = dim + 1; d < mask->ndim; d++) inner *= mask->shape[d];
  for (int d = 0; d < dim; d++) outer *= mask->shape[d];
  if (nu == 0) return LT_OK;
  float *m = lt_tensor_data(mask);
  const float *w = lt_tensor_data(weight);
  double *acc = calloc((size_t)nu, sizeof *acc);
  char *alive = calloc((size_t)nu, 1);
  unit_norm *order = malloc((size_t)nu * sizeof *order);
  if (!acc || !alive || !order) {
    free(acc), free(alive), free(order);
    return lt_error(LT_ENOMEM, "%s: out of memory for %lld units", fn, (long long)nu);
  }
  for (int64_t o = 0; o < outer; o++)
    for (int64_t u = 0; u < nu; u++) {
      int64_t at = (o * nu + u) * inner;
      for (int64_t i = 0; i < inner; i++) {
        if (m[at + i] == 0.0f) continue;
        double x = w[at + i];
        alive[u] = 1;
        acc[u] += norm == LT_NORM_L1 ? fabs(x) : x * x;
      }
    }
  int64_t surv = 0;
  for (int64_t u = 0; u < nu; u++)
    if (alive[u]) {
      order[surv].norm = norm == LT_NORM_L2 ? sqrt(acc[u]) : acc[u];
      order[surv].unit = u;
      surv++;
    }
  int64_t k = lt_mask_prune_count(p, surv);
  qsort(order, (size_t)surv, sizeof *order, cmp_unit);
  for (int64_t j = 0; j < k; j++) {
    int64_t u = order[j].unit;
    for (int64_t o = 0; o < outer; o++) {
      float *slice = m + (o * nu + u) * inner;
      for (int64_t i = 0; i < inner; i++) slice[i] = 0.0f;
    }
  }
  free(acc), free(alive), free(order);
  if (units_pruned) *units_pruned = k;
  return LT_OK;
}

lt_status lt_mask_prune_nm(lt_tensor *mask, const lt_tensor *score, int n, int m, lt_score_mode mode,
                           int64_t *pruned) {
  const char *fn = "lt_mask_prune_nm";
  lt_status st = mask_check_pair(fn, mask, score, "score");
  if (st) return st;
  if (m < 1 || n < 0 || n > m)
    return lt_error(LT_EINVAL, "%s: need 0 <= n <= m and m >= 1, got n = %d, m = %d", fn, n, m);
  if (pruned) *pruned = 0;
  int64_t total = mask_numel(mask);
  int64_t rows = mask->ndim >= 2 ? mask->shape[0] : 1;
  if (total == 0 || rows == 0 || n == m) return LT_OK;
  int64_t len = total / rows, done = 0;
  float *mk = lt_tensor_data(mask);
  const float *s = lt_tensor_data(score);
  uint32_t *key = malloc((size_t)m * sizeof *key);
  int64_t *at = malloc((size_t)m * sizeof *at);
  if (!key || !at) {
    free(key), free(at);
    return lt_error(LT_ENOMEM, "%s: out of memory", fn);
  }
  for (int64_t r = 0; r < rows; r++)
    for (int64_t g = 0; g < len; g += m) {
      int64_t glen = len - g < m ? len - g : m, c = 0;
      float *gm = mk + r * len + g;
      const float *gs = s + r * len + g;
      for (int64_t i = 0; i < glen; i++)
        if (gm[i] != 0.0f) key[c] = mask_score_key(gs[i], mode), at[c] = i, c++;
      if (c <= n) continue;
      /* prune the c - n survivors lowest in (score, index) order: an entry goes
       * when fewer than c - n survivors rank below it */
      int64_t drop = c - n;
      for (int64_t a = 0; a < c; a++) {
        int64_t below = 0;
        for (int64_t b = 0; b < c; b++)
          below += key[b] < key[a] || (key[b] == key[a] && at[b] < at[a]);
        if (below < drop) gm[at[a]] = 0.0f;
      }
      done += drop;
    }
  free(key), free(at);
  if (pruned) *pruned = done;
  return LT_OK;
}
