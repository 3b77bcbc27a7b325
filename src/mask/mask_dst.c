/* mask_dst.c: the arithmetic of masks that change during training — one
 * drop/grow update of a layer (dynamic sparse training: SET, RigL, sparse
 * momentum) and pruning to an exact surviving count (gradual pruning). The
 * selection uses the pruners' (score, index) order, so a run is the same on
 * every machine. */
#include <stdlib.h>
#include <string.h>

#include "mask/mask_internal.h"

/* Candidates to grow, packed so that ascending order is DESCENDING score (ties:
 * lower index first; NaN last). */
static inline uint64_t grow_key(float s) { return ~(uint64_t)mask_score_key(s, LT_SCORE_ABS) & 0xffffffffu; }

/* Key of entry i: growth candidates by descending |grow score|, drop candidates by
 * ascending |weight| (both: lower index first on ties). */
static inline uint32_t entry_key(const float *s, int64_t i, int grow) {
  uint32_t u;
  memcpy(&u, s + i, sizeof u);
  u &= 0x7fffffffu;
  /* mask_score_key(s, LT_SCORE_ABS) without branches: NaN 0, -0 as +0 */
  uint32_t key = u <= 0x7f800000u ? (u | 0x80000000u) : 0u;
  return grow ? ~key : key;
}

static size_t pack_all(uint64_t *e, const float *m, float want, const float *s, int grow, int64_t n) {
  size_t c = 0;
  for (int64_t i = 0; i < n; i++)
    if (m[i] == want) e[c++] = mask_pack(entry_key(s, i, grow), i);
  return c;
}

/* Packs into e the entries with mask value `want` (total of them) among which
 * mask_select(e, count, k) finds the k of smallest key over all of them: a sample
 * of every 61st position gives a key threshold a little above the k-th, one pass
 * packs the entries at or below it, and if fewer than k came (an unlucky sample)
 * all are packed. Either way the k smallest are in e, so the selection is the same
 * as over all, in one pass over the arrays instead of one per key byte. */
static size_t pack_candidates(uint64_t *e, const float *m, float want, const float *s, int grow, int64_t n,
                              int64_t total, int64_t k) {
  enum { STRIDE = 61 };
  if (k * 16 > total || total < 64 * STRIDE) return pack_all(e, m, want, s, grow, n);
  size_t ns = 0, cap = (size_t)(n / STRIDE + 1);
  uint64_t *smp = malloc(cap * sizeof *smp);
  if (!smp) return pack_all(e, m, want, s, grow, n);
  for (int64_t i = 0; i < n; i += STRIDE)
    if (m[i] == want) smp[ns] = mask_pack(entry_key(s, i, grow), (int64_t)ns), ns++;
  if (ns < 32) {
    free(smp);
    return pack_all(e, m, want, s, grow, n);
  }
  /* twice the expected share plus a margin of samples: the largest of the q smallest */
  size_t q = (size_t)((double)ns * 2.0 * (double)k / (double)total) + 16;
  uint32_t thr = UINT32_MAX;
  if (q < ns) {
    mask_select(smp, ns, q);
    uint64_t mx = 0;
    for (size_t j = 0; j < q; j++) mx = smp[j] > mx ? smp[j] : mx;
    thr = (uint32_t)(mx >> 32);
  }
  free(smp);
  size_t c = 0;
  for (int64_t i = 0; i < n; i++)
    if (m[i] == want) {
      uint32_t key = entry_key(s, i, grow);
      if (key <= thr) e[c++] = mask_pack(key, i);
    }
  return (int64_t)c >= k ? c : pack_all(e, m, want, s, grow, n);
}

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
  int64_t *gpos = malloc((size_t)(n_grow ? n_grow : 1) * sizeof *gpos);
  if (!e || !gpos) {
    free(e), free(gpos);
    return lt_error(LT_ENOMEM, "%s: out of memory for %zu entries", fn, cap);
  }
  /* grow first (over the old dead set), remembering the positions, then drop among
   * the old survivors, then revive the grown ones */
  if (n_grow > 0) {
    if (g) {
      size_t c = pack_candidates(e, m, 0.0f, g, 1, n, dead, n_grow);
      mask_select(e, c, (size_t)n_grow);
    } else { /* partial Fisher-Yates: the first n_grow of a uniform shuffle */
      int64_t c = 0;
      for (int64_t i = 0; i < n; i++)
        if (m[i] == 0.0f) e[c++] = (uint64_t)i;
      for (int64_t i = 0; i < n_grow; i++) {
        int64_t j = i + (int64_t)lt_rng_below(r, (uint64_t)(c - i));
        uint64_t t = e[i];
        e[i] = e[j], e[j] = t;
      }
    }
    for (int64_t i = 0; i < n_grow; i++) gpos[i] = mask_pos(e[i]);
  }
  if (n_drop > 0) {
    size_t c = pack_candidates(e, m, 1.0f, w, 0, n, alive, n_drop);
    mask_select(e, c, (size_t)n_drop);
    for (int64_t i = 0; i < n_drop; i++) {
      int64_t p = mask_pos(e[i]);
      m[p] = 0.0f, w[p] = 0.0f;
    }
  }
  for (int64_t i = 0; i < n_grow; i++) m[gpos[i]] = 1.0f, w[gpos[i]] = 0.0f; /* a grown weight starts at zero */
  free(e);
  free(gpos);
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
