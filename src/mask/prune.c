/* prune.c: unstructured pruning of masks — layer-wise (local) and global
 * magnitude/score pruning with a no-empty-layer guard, and random pruning.
 * All of them prune a fraction of the SURVIVING entries, in place. */
#include <stdio.h>
#include <stdlib.h>

#include "mask/mask_internal.h"

/* Packs the survivors of one layer as (key, base + index) into e; returns how many.
 * *top gets the layer's largest entry (its best-scored survivor; among equal
 * scores the highest index, which the order prunes last). */
static int64_t gather(uint64_t *e, const float *m, const float *s, int64_t n, int64_t base, lt_score_mode mode,
                      uint64_t *top) {
  int64_t c = 0;
  for (int64_t i = 0; i < n; i++) {
    if (m[i] == 0.0f) continue;
    e[c] = mask_pack(mask_score_key(s[i], mode), base + i);
    if (c == 0 || e[c] > *top) *top = e[c];
    c++;
  }
  return c;
}

lt_status lt_mask_prune_local(lt_tensor *mask, const lt_tensor *score, double p, lt_score_mode mode,
                              int64_t *pruned) {
  const char *fn = "lt_mask_prune_local";
  lt_status st = mask_check_pair(fn, mask, score, "score");
  if (st || (st = mask_check_rate(fn, p))) return st;
  if (pruned) *pruned = 0;
  float *m = lt_tensor_data(mask);
  const float *s = lt_tensor_data(score);
  int64_t n = mask_numel(mask), surv = lt_count_nonzero(m, (size_t)n);
  if (n > MASK_MAXPOS) return lt_error(LT_ERANGE, "%s: %lld entries, at most 2^32 supported", fn, (long long)n);
  int64_t k = lt_mask_prune_count(p, surv);
  if (k == 0) return LT_OK;
  if (k == surv) {
    for (int64_t i = 0; i < n; i++) m[i] = 0.0f;
  } else {
    uint64_t *e = malloc((size_t)surv * sizeof *e), top;
    if (!e) return lt_error(LT_ENOMEM, "%s: out of memory for %lld survivors", fn, (long long)surv);
    gather(e, m, s, n, 0, mode, &top);
    mask_select(e, (size_t)surv, (size_t)k);
    for (int64_t i = 0; i < k; i++) m[mask_pos(e[i])] = 0.0f;
    free(e);
  }
  if (pruned) *pruned = k;
  return LT_OK;
}

/* The layer holding global position x: the last l with base[l] <= x. */
static int layer_of(const int64_t *base, int n, int64_t x) {
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (base[mid] <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/* Moves the entries of e[0..n) that are not a layer's top to the front; returns how many. */
static size_t drop_tops(uint64_t *e, size_t n, const int64_t *base, const uint64_t *top, int nl, int *hit) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) {
    int l = layer_of(base, nl, mask_pos(e[i]));
    if (e[i] == top[l]) {
      if (hit) hit[l] = 1;
    } else {
      e[c++] = e[i];
    }
  }
  return c;
}

lt_status lt_mask_prune_global(lt_tensor *const *masks, const lt_tensor *const *scores, int n, double p,
                               lt_score_mode mode, int *guarded, int64_t *pruned) {
  const char *fn = "lt_mask_prune_global";
  lt_status st = mask_check_rate(fn, p);
  if (st) return st;
  if (n < 0 || (n > 0 && (!masks || !scores))) return lt_error(LT_EINVAL, "%s: bad layer list (n = %d)", fn, n);
  for (int l = 0; l < n; l++) {
    if ((st = mask_check_pair(fn, masks[l], scores[l], "score"))) {
      char msg[400];
      snprintf(msg, sizeof msg, "%s", lt_errmsg());
      return lt_error(st, "%s (layer %d)", msg, l + 1);
    }
  }
  if (pruned) *pruned = 0;
  if (guarded)
    for (int l = 0; l < n; l++) guarded[l] = 0;
  if (n == 0) return LT_OK;

  int64_t *base = malloc((size_t)n * sizeof *base);
  uint64_t *top = malloc((size_t)n * sizeof *top), *e = NULL;
  int *hit = calloc((size_t)n, sizeof *hit);
  if (!base || !top || !hit) {
    st = lt_error(LT_ENOMEM, "%s: out of memory", fn);
    goto out;
  }
  int64_t total = 0, surv = 0;
  for (int l = 0; l < n; l++) {
    base[l] = total;
    total += mask_numel(masks[l]);
    surv += lt_mask_count(masks[l]);
  }
  if (total > MASK_MAXPOS) {
    st = lt_error(LT_ERANGE, "%s: %lld entries in the set, at most 2^32 supported", fn, (long long)total);
    goto out;
  }
  int64_t k = lt_mask_prune_count(p, surv), done = 0;
  if (k > 0) {
    if (!(e = malloc((size_t)surv * sizeof *e))) {
      st = lt_error(LT_ENOMEM, "%s: out of memory for %lld survivors", fn, (long long)surv);
      goto out;
    }
    int64_t c = 0;
    for (int l = 0; l < n; l++) {
      top[l] = UINT64_MAX; /* an empty layer has no top */
      c += gather(e + c, lt_tensor_data(masks[l]), lt_tensor_data(scores[l]), mask_numel(masks[l]), base[l], mode,
                  &top[l]);
    }
    /* The k smallest of everything is the unguarded choice; a layer whose top is
     * among them would be emptied (guard hit). Guarded, the tops stay and as many
     * of the next-smallest non-top entries go instead. */
    mask_select(e, (size_t)surv, (size_t)k);
    size_t keep = drop_tops(e, (size_t)k, base, top, n, hit);
    size_t extra = (size_t)k - keep;
    if (extra > 0) {
      size_t rest = drop_tops(e + k, (size_t)(surv - k), base, top, n, NULL);
      if (extra > rest) extra = rest;
      mask_select(e + k, rest, extra);
      for (size_t i = 0; i < extra; i++) e[keep + i] = e[k + i];
    }
    done = (int64_t)(keep + extra);
    for (int64_t i = 0; i < done; i++) {
      int64_t at = mask_pos(e[i]);
      int l = layer_of(base, n, at);
      lt_tensor_data(masks[l])[at - base[l]] = 0.0f;
    }
    if (guarded)
      for (int l = 0; l < n; l++) guarded[l] = hit[l];
  }
  if (pruned) *pruned = done;
out:
  free(base), free(top), free(hit), free(e);
  return st;
}

lt_status lt_mask_prune_random(lt_tensor *mask, double p, lt_rng *r, int64_t *pruned) {
  const char *fn = "lt_mask_prune_random";
  lt_status st = mask_check_arg(fn, mask);
  if (st || (st = mask_check_rate(fn, p))) return st;
  if (!r) return lt_error(LT_EINVAL, "%s: generator is NULL", fn);
  if (pruned) *pruned = 0;
  float *m = lt_tensor_data(mask);
  int64_t n = mask_numel(mask), surv = lt_mask_count(mask);
  int64_t k = lt_mask_prune_count(p, surv);
  if (k == 0) return LT_OK;
  int64_t *idx = malloc((size_t)surv * sizeof *idx);
  if (!idx) return lt_error(LT_ENOMEM, "%s: out of memory for %lld survivors", fn, (long long)surv);
  int64_t c = 0;
  for (int64_t i = 0; i < n; i++)
    if (m[i] != 0.0f) idx[c++] = i;
  /* partial Fisher-Yates: the first k slots become a uniform k-subset */
  for (int64_t i = 0; i < k; i++) {
    int64_t j = i + (int64_t)lt_rng_below(r, (uint64_t)(surv - i));
    int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    m[idx[i]] = 0.0f;
  }
  free(idx);
  if (pruned) *pruned = k;
  return LT_OK;
}
