/* mask_dst.c: the arithmetic of masks that change during training — one
 * drop/grow update of a layer (dynamic sparse training: SET, RigL, sparse
 * momentum) and pruning to an exact surviving count (gradual pruning). The
 * selection uses the pruners' (score, index) order, so a run is the same on
 * every machine. */
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "mask/mask_internal.h"

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

/* The candidates of a selection, in a buffer sized to what is packed: a few more
 * than k usually, all `total` entries when that is needed (page faults of a large
 * fresh buffer at every update cost more than the selection). */
typedef struct { uint64_t *e; size_t n, cap; } cands;

static int reserve(cands *c, size_t need) {
  if (need <= c->cap) return 1;
  size_t cap = c->cap ? c->cap : 1024;
  while (cap < need) cap *= 2;
  uint64_t *e = realloc(c->e, cap * sizeof *e);
  if (!e) return 0;
  c->e = e, c->cap = cap;
  return 1;
}

/* Appends the entries i with mask value want (GROW: 0, with keys of descending
 * |s|; else 1, ascending |w|) and key <= thr; stops where fewer than 32 places are
 * left (the caller grows c) and returns the position reached. Blocks of 32 without
 * a hit, most of a sparse mask, cost one branch-free, integer-only (vectorised) test. */
static inline __attribute__((always_inline)) int64_t pack_range_k(const int GROW, cands *c, const float *m,
                                                                  const float *s, int64_t i0, int64_t n, uint32_t thr) {
  for (; i0 < n; i0 += 32) {
    int64_t i1 = i0 + 32 < n ? i0 + 32 : n;
    uint32_t hit = i1 - i0 < 32; /* a partial last block: just look */
#if defined(__AVX2__)
    if (!hit) {
      /* keys and tests 8 at a time; the selected lanes are written straight from
       * the vectors (set bits of a movemask), in increasing position */
      if (c->cap - c->n < 32) return i0;
      const __m256i vthr = _mm256_set1_epi32((int)thr), abs = _mm256_set1_epi32(0x7fffffff);
      const __m256i inf = _mm256_set1_epi32(0x7f800000), top = _mm256_set1_epi32((int)0x80000000u);
      const __m256i one = _mm256_set1_epi32(0x3f800000), zero = _mm256_setzero_si256(), ones = _mm256_set1_epi32(-1);
      for (int j = 0; j < 4; j++) {
        __m256i mu = _mm256_loadu_si256((const __m256i *)(m + i0 + 8 * j));
        __m256i u = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(s + i0 + 8 * j)), abs);
        __m256i valid = _mm256_cmpeq_epi32(_mm256_max_epu32(u, inf), inf); /* not NaN */
        __m256i key = _mm256_and_si256(_mm256_or_si256(u, top), valid);
        if (GROW) key = _mm256_xor_si256(key, ones);
        __m256i le = _mm256_cmpeq_epi32(_mm256_max_epu32(key, vthr), vthr); /* key <= thr, unsigned */
        __m256i is = GROW ? _mm256_cmpeq_epi32(_mm256_slli_epi32(mu, 1), zero) : _mm256_cmpeq_epi32(mu, one);
        unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_and_si256(is, le)));
        if (!bits) continue;
        uint32_t kb[8];
        _mm256_storeu_si256((__m256i *)kb, key);
        for (; bits; bits &= bits - 1) {
          int l = __builtin_ctz(bits);
          c->e[c->n++] = mask_pack(kb[l], i0 + 8 * j + l);
        }
      }
      continue;
    }
#else
    if (!hit) {
      uint32_t mu[32], su[32];
      memcpy(mu, m + i0, sizeof mu);
      memcpy(su, s + i0, sizeof su);
      for (int j = 0; j < 32; j++) {
        uint32_t u = su[j] & 0x7fffffffu;
        uint32_t key = u <= 0x7f800000u ? (u | 0x80000000u) : 0u; /* as entry_key */
        key = GROW ? ~key : key;
        uint32_t is = GROW ? (mu[j] << 1) == 0 : mu[j] == 0x3f800000u; /* 0 (or -0) / exactly 1 */
        hit |= is & (key <= thr);
      }
    }
#endif
    if (!hit) continue;
    if (c->cap - c->n < 32) return i0;
    for (int64_t i = i0; i < i1; i++) {
      uint32_t key = entry_key(s, i, GROW);
      if (m[i] == (GROW ? 0.0f : 1.0f) && key <= thr) c->e[c->n++] = mask_pack(key, i);
    }
  }
  return n;
}

static int64_t pack_range(cands *c, const float *m, float want, const float *s, int grow, int64_t i0, int64_t n,
                          uint32_t thr) {
  (void)want; /* grow: the pruned (0); drop: the kept (1) */
  return grow ? pack_range_k(1, c, m, s, i0, n, thr) : pack_range_k(0, c, m, s, i0, n, thr);
}

/* pack_range over all of [0, n), growing c as needed. 0: ENOMEM. */
static int pack_thr(cands *c, const float *m, float want, const float *s, int grow, int64_t n, uint32_t thr,
                    size_t start_cap) {
  if (!reserve(c, start_cap + 32)) return 0;
  c->n = 0;
  for (int64_t i = 0; (i = pack_range(c, m, want, s, grow, i, n, thr)) < n;)
    if (!reserve(c, c->cap * 2)) return 0;
  return 1;
}

static int pack_all(cands *c, const float *m, float want, const float *s, int grow, int64_t n, int64_t total) {
  return pack_thr(c, m, want, s, grow, n, UINT32_MAX, (size_t)total);
}

/* Packs into c the entries with mask value `want` (total of them) among which
 * mask_select(c->e, c->n, k) finds the k of smallest key over all of them: a sample
 * of every 61st position gives a key threshold a little above the k-th, one pass
 * packs the entries at or below it, and if fewer than k came (an unlucky sample)
 * all are packed. Either way the k smallest are in c, so the selection is the same
 * as over all, in one pass over the arrays instead of one per key byte. 0: ENOMEM. */
static int pack_candidates(cands *c, const float *m, float want, const float *s, int grow, int64_t n,
                           int64_t total, int64_t k) {
  enum { STRIDE = 61 };
  if (k * 16 > total || total < 64 * STRIDE) return pack_all(c, m, want, s, grow, n, total);
  size_t ns = 0, cap = (size_t)(n / STRIDE + 1);
  uint64_t *smp = malloc(cap * sizeof *smp);
  if (!smp) return pack_all(c, m, want, s, grow, n, total);
  for (int64_t i = 0; i < n; i += STRIDE)
    if (m[i] == want) smp[ns] = mask_pack(entry_key(s, i, grow), (int64_t)ns), ns++;
  if (ns < 32) {
    free(smp);
    return pack_all(c, m, want, s, grow, n, total);
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
  if (!pack_thr(c, m, want, s, grow, n, thr, (size_t)(3 * k) + 1024)) return 0;
  return (int64_t)c->n >= k ? 1 : pack_all(c, m, want, s, grow, n, total);
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
  cands c = {NULL, 0, 0};
  int64_t *gpos = malloc((size_t)(n_grow ? n_grow : 1) * sizeof *gpos);
  if (!gpos) return lt_error(LT_ENOMEM, "%s: out of memory for %lld entries", fn, (long long)n_grow);
  /* grow first (over the old dead set), remembering the positions, then drop among
   * the old survivors, then revive the grown ones */
  if (n_grow > 0) {
    if (g) {
      if (!pack_candidates(&c, m, 0.0f, g, 1, n, dead, n_grow)) goto nomem;
      mask_select(c.e, c.n, (size_t)n_grow);
    } else { /* partial Fisher-Yates: the first n_grow of a uniform shuffle */
      if (!reserve(&c, (size_t)dead)) goto nomem;
      int64_t k = 0;
      for (int64_t i = 0; i < n; i++)
        if (m[i] == 0.0f) c.e[k++] = (uint64_t)i;
      for (int64_t i = 0; i < n_grow; i++) {
        int64_t j = i + (int64_t)lt_rng_below(r, (uint64_t)(k - i));
        uint64_t t = c.e[i];
        c.e[i] = c.e[j], c.e[j] = t;
      }
    }
    for (int64_t i = 0; i < n_grow; i++) gpos[i] = mask_pos(c.e[i]);
  }
  if (n_drop > 0) {
    if (!pack_candidates(&c, m, 1.0f, w, 0, n, alive, n_drop)) goto nomem;
    mask_select(c.e, c.n, (size_t)n_drop);
    for (int64_t i = 0; i < n_drop; i++) {
      int64_t p = mask_pos(c.e[i]);
      m[p] = 0.0f, w[p] = 0.0f;
    }
  }
  for (int64_t i = 0; i < n_grow; i++) m[gpos[i]] = 1.0f, w[gpos[i]] = 0.0f; /* a grown weight starts at zero */
  free(c.e);
  free(gpos);
  if (dropped) *dropped = n_drop;
  if (grown) *grown = n_grow;
  return LT_OK;
nomem: /* nothing written yet: the selections come before any change */
  free(c.e);
  free(gpos);
  return lt_error(LT_ENOMEM, "%s: out of memory for the candidates", fn);
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
