/* mask_dst.c: the arithmetic of masks that change during training — one
 * drop/grow update of a layer (dynamic sparse training: SET, RigL, sparse
 * momentum) and pruning to an exact surviving count (gradual pruning). The
 * selection uses the pruners' (score, index) order, so a run is the same on
 * every machine. */
#include <stdlib.h>

#include "mask/mask_internal.h"

/* Candidates to grow, packed so that ascending order is DESCENDING score (ties:
 * lower index first; NaN last). */
static inline uint64_t grow_key(float s) { return ~(uint64_t)mask_score_key(s, LT_SCORE_ABS) & 0xffffffffu; }

lt_status lt_mask_drop_grow(lt_tensor *mask, lt_tensor *weight, const lt_tensor *grow_score, int64_t n_drop,
                            int64_t n_grow, lt_rng *r, int64_t *dropped, int64_t *grown) {
  const char *fn = "lt_mask_drop_grow";
  lt_status st = mask_check_pair(fn, mask, weight, "weight");
  if (st) return st;
  if (grow_score && (st = mask_check_pair(fn, mask, grow_score, "grow score"))) return st;
  if (!grow_score && n_grow > 0 && !r) return lt_error(LT_EINVAL, "%s: random growth needs a generator", fn);
  if (dropped) *dropped = 0;
  if (grown) *grown = 0;
  float *m = lt_tensor_data(mask), *w = lt_tensor_data(weight);
  const float *g = grow_score ? lt_tensor_data(grow_score) : NULL;
  int64_t n = mask_numel(mask), alive = lt_count_nonzero(m, (size_t)n), dead = n - alive;
  if (n > MASK_MAXPOS) return lt_error(LT_ERANGE, "%s: %lld entries, at most 2^32 supported", fn, (long long)n);
  if (n_drop < 0 || n_drop > alive)
    return lt_error(LT_EINVAL, "%s: cannot drop %lld of %lld surviving weights", fn, (long long)n_drop, (long long)alive);
  /* grown weights come from those dead BEFORE this update: a weight dropped now is not
   * regrown in the same update, so every grown weight starts at 0 with zero moments */
  if (n_grow < 0 || n_grow > dead)
    return lt_error(LT_EINVAL, "%s: cannot grow %lld weights, only %lld are pruned", fn, (long long)n_grow,
                    (long long)dead);
  size_t cap = (size_t)(alive > dead ? alive : dead);
  uint64_t *e = malloc((cap ? cap : 1) * sizeof *e);
  if (!e) return lt_error(LT_ENOMEM, "%s: out of memory for %zu entries", fn, cap);
  /* grow first (over the old dead set), remembering the positions, then drop */
  int64_t c = 0;
  if (n_grow > 0) {
    for (int64_t i = 0; i < n; i++)
      if (m[i] == 0.0f) e[c++] = g ? mask_pack((uint32_t)grow_key(g[i]), i) : (uint64_t)i;
    if (g) {
      mask_select(e, (size_t)c, (size_t)n_grow);
    } else { /* partial Fisher-Yates: the first n_grow of a uniform shuffle */
      for (int64_t i = 0; i < n_grow; i++) {
        int64_t j = i + (int64_t)lt_rng_below(r, (uint64_t)(c - i));
        uint64_t t = e[i];
        e[i] = e[j], e[j] = t;
      }
    }
  }
  /* mark grown positions 2 for now: they must not count as alive for the drop */
  for (int64_t i = 0; i < n_grow; i++) m[mask_pos(e[i])] = 2.0f;
  if (n_drop > 0) {
    c = 0;
    for (int64_t i = 0; i < n; i++)
      if (m[i] == 1.0f) e[c++] = mask_pack(mask_score_key(w[i], LT_SCORE_ABS), i);
    mask_select(e, (size_t)c, (size_t)n_drop);
    for (int64_t i = 0; i < n_drop; i++) {
      int64_t p = mask_pos(e[i]);
      m[p] = 0.0f, w[p] = 0.0f;
    }
  }
  for (int64_t i = 0; i < n; i++)
    if (m[i] == 2.0f) m[i] = 1.0f, w[i] = 0.0f; /* a grown weight starts at zero */
  free(e);
  if (dropped) *dropped = n_drop;
  if (grown) *grown = n_grow;
  return LT_OK;
}

lt_status lt_mask_prune_to(lt_tensor *mask, const lt_tensor *score, int64_t keep, lt_score_mode mode,
                           int64_t *pruned) {
  const char *fn = "lt_mask_prune_to";
  lt_status st = mask_check_pair(fn, mask, score, "score");
  if (st) return st;
  if (pruned) *pruned = 0;
  float *m = lt_tensor_data(mask);
  const float *s = lt_tensor_data(score);
  int64_t n = mask_numel(mask), alive = lt_count_nonzero(m, (size_t)n);
  if (n > MASK_MAXPOS) return lt_error(LT_ERANGE, "%s: %lld entries, at most 2^32 supported", fn, (long long)n);
  if (keep < 0) return lt_error(LT_EINVAL, "%s: keep = %lld must be >= 0", fn, (long long)keep);
  if (keep >= alive) return LT_OK; /* pruning never revives */
  int64_t k = alive - keep, c = 0;
  uint64_t *e = malloc((size_t)(alive ? alive : 1) * sizeof *e);
  if (!e) return lt_error(LT_ENOMEM, "%s: out of memory for %lld survivors", fn, (long long)alive);
  for (int64_t i = 0; i < n; i++)
    if (m[i] != 0.0f) e[c++] = mask_pack(mask_score_key(s[i], mode), i);
  mask_select(e, (size_t)c, (size_t)k);
  for (int64_t i = 0; i < k; i++) m[mask_pos(e[i])] = 0.0f;
  free(e);
  if (pruned) *pruned = k;
  return LT_OK;
}
