/* mask_scores.c: selection rules that pruning at initialization, supermasks and
 * targeted dropout share — keep the k best-scored survivors of a mask (an
 * exact count, not a rate), and draw a targeted-dropout keep mask. */
#include <math.h>
#include <stdlib.h>

#include "mask/mask_internal.h"

lt_status lt_mask_keep_top(lt_tensor *mask, const lt_tensor *score, int64_t keep, lt_score_mode mode,
                           int64_t *pruned) {
  const char *fn = "lt_mask_keep_top";
  lt_status st = mask_check_pair(fn, mask, score, "score");
  if (st) return st;
  if (pruned) *pruned = 0;
  float *m = lt_tensor_data(mask);
  const float *s = lt_tensor_data(score);
  int64_t n = mask_numel(mask), surv = lt_mask_count(mask);
  if (keep < 0) return lt_error(LT_EINVAL, "%s: keep = %lld must be >= 0", fn, (long long)keep);
  if (n > MASK_MAXPOS) return lt_error(LT_ERANGE, "%s: %lld entries, at most 2^32 supported", fn, (long long)n);
  if (keep >= surv) return LT_OK;
  int64_t k = surv - keep; /* the k smallest survivors go */
  uint64_t *e = malloc((size_t)surv * sizeof *e);
  if (!e) return lt_error(LT_ENOMEM, "%s: out of memory for %lld survivors", fn, (long long)surv);
  int64_t c = 0;
  for (int64_t i = 0; i < n; i++)
    if (m[i] != 0.0f) e[c++] = mask_pack(mask_score_key(s[i], mode), i);
  mask_select(e, (size_t)surv, (size_t)k);
  for (int64_t i = 0; i < k; i++) m[mask_pos(e[i])] = 0.0f;
  free(e);
  if (pruned) *pruned = k;
  return LT_OK;
}

/* Weight level: the candidates are the round(gamma * surviving) survivors with the
 * smallest |w| (the pruning order); each is dropped with probability alpha. */
static lt_status td_weights(float *keep, const float *w, const float *m, int64_t n, double gamma, double alpha,
                            lt_rng *r) {
  int64_t surv = lt_count_nonzero(m, (size_t)n);
  int64_t k = lt_mask_prune_count(gamma, surv);
  if (k == 0) return LT_OK;
  uint64_t *e = malloc((size_t)surv * sizeof *e);
  if (!e) return lt_error(LT_ENOMEM, "lt_mask_targeted_dropout: out of memory for %lld survivors", (long long)surv);
  int64_t c = 0;
  for (int64_t i = 0; i < n; i++)
    if (m[i] != 0.0f) e[c++] = mask_pack(mask_score_key(w[i], LT_SCORE_ABS), i);
  mask_select(e, (size_t)surv, (size_t)k);
  /* draw in index order so the result does not depend on the selection's order */
  int64_t *pos = malloc((size_t)k * sizeof *pos);
  if (!pos) {
    free(e);
    return lt_error(LT_ENOMEM, "lt_mask_targeted_dropout: out of memory");
  }
  for (int64_t i = 0; i < k; i++) pos[i] = mask_pos(e[i]);
  free(e);
  /* counting sort by position would need n bytes; a flag pass is as cheap */
  uint8_t *cand = calloc((size_t)n, 1);
  if (!cand) {
    free(pos);
    return lt_error(LT_ENOMEM, "lt_mask_targeted_dropout: out of memory");
  }
  for (int64_t i = 0; i < k; i++) cand[pos[i]] = 1;
  for (int64_t i = 0; i < n; i++)
    if (cand[i] && lt_rng_double(r) < alpha) keep[i] = 0.0f;
  free(cand), free(pos);
  return LT_OK;
}

/* Unit level: units are rows (dim 0); the round(gamma * units alive) alive units with
 * the smallest L2 norm of surviving weights are candidates, each dropped whole with
 * probability alpha. */
static lt_status td_units(float *keep, const float *w, const float *m, int64_t rows, int64_t cols, double gamma,
                          double alpha, lt_rng *r) {
  uint64_t *e = malloc((size_t)(rows ? rows : 1) * sizeof *e);
  if (!e) return lt_error(LT_ENOMEM, "lt_mask_targeted_dropout: out of memory");
  int64_t alive = 0;
  for (int64_t u = 0; u < rows; u++) {
    double s = 0;
    int any = 0;
    for (int64_t j = 0; j < cols; j++)
      if (m[u * cols + j] != 0.0f) any = 1, s += (double)w[u * cols + j] * w[u * cols + j];
    if (any) e[alive++] = mask_pack(mask_score_key((float)sqrt(s), LT_SCORE_ABS), u);
  }
  int64_t k = lt_mask_prune_count(gamma, alive);
  mask_select(e, (size_t)alive, (size_t)k);
  uint8_t *cand = calloc((size_t)(rows ? rows : 1), 1);
  if (!cand) {
    free(e);
    return lt_error(LT_ENOMEM, "lt_mask_targeted_dropout: out of memory");
  }
  for (int64_t i = 0; i < k; i++) cand[mask_pos(e[i])] = 1;
  for (int64_t u = 0; u < rows; u++)
    if (cand[u] && lt_rng_double(r) < alpha)
      for (int64_t j = 0; j < cols; j++) keep[u * cols + j] = 0.0f;
  free(cand), free(e);
  return LT_OK;
}

lt_status lt_mask_targeted_dropout(lt_tensor *keep, const lt_tensor *weight, const lt_tensor *mask, double gamma,
                                   double alpha, int units, lt_rng *r) {
  const char *fn = "lt_mask_targeted_dropout";
  lt_status st = mask_check_pair(fn, mask, weight, "weight");
  if (st || (st = mask_check_pair(fn, mask, keep, "keep"))) return st;
  if ((st = mask_check_rate(fn, gamma)) || (st = mask_check_rate(fn, alpha))) return st;
  if (!r) return lt_error(LT_EINVAL, "%s: generator is NULL", fn);
  int64_t n = mask_numel(mask);
  if (n > MASK_MAXPOS) return lt_error(LT_ERANGE, "%s: %lld entries, at most 2^32 supported", fn, (long long)n);
  float *kp = lt_tensor_data(keep);
  const float *w = lt_tensor_data(weight), *m = lt_tensor_data(mask);
  for (int64_t i = 0; i < n; i++) kp[i] = m[i];
  if (!units) return td_weights(kp, w, m, n, gamma, alpha, r);
  if (mask->ndim < 2) return lt_error(LT_EINVAL, "%s: unit dropout needs a weight with rows (got 1-D)", fn);
  int64_t rows = mask->shape[0];
  return td_units(kp, w, m, rows, rows ? n / rows : 0, gamma, alpha, r);
}
