/* prune.c: unstructured pruning of masks — layer-wise (local) and global
 * magnitude/score pruning with a no-empty-layer guard, and random pruning.
 * All of them prune a fraction of the SURVIVING entries, in place. */
#include <stdio.h>
#include <stdlib.h>

#include "mask_internal.h"

/* Fills key/pos with the survivors of one layer; pos = base + flat index, in
 * increasing order (so the stable sort breaks ties by index). Returns how many. */
static int64_t gather(uint32_t *key, int64_t *pos, const float *m, const float *s, int64_t n, int64_t base,
                      lt_score_mode mode, int64_t *top) {
  int64_t c = 0;
  uint32_t best = 0;
  for (int64_t i = 0; i < n; i++) {
    if (m[i] == 0.0f) continue;
    uint32_t k = mask_score_key(s[i], mode);
    key[c] = k;
    pos[c] = base + i;
    /* >= : among equal scores the highest index is pruned last, so it is the top */
    if (c == 0 || k >= best) best = k, *top = base + i;
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
  int64_t n = mask_numel(mask), surv = 0;
  for (int64_t i = 0; i < n; i++) surv += m[i] != 0.0f;
  int64_t k = lt_mask_prune_count(p, surv);
  if (k == 0) return LT_OK;
  if (k == surv) {
    for (int64_t i = 0; i < n; i++) m[i] = 0.0f;
  } else {
    uint32_t *key = malloc((size_t)surv * sizeof *key);
    int64_t *pos = malloc((size_t)surv * sizeof *pos);
    if (!key || !pos) {
      free(key), free(pos);
      return lt_error(LT_ENOMEM, "%s: out of memory for %lld survivors", fn, (long long)surv);
    }
    int64_t top;
    gather(key, pos, m, s, n, 0, mode, &top);
    st = mask_sort_keys(key, pos, (size_t)surv);
    if (!st)
      for (int64_t i = 0; i < k; i++) m[pos[i]] = 0.0f;
    free(key), free(pos);
    if (st) return st;
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

  int64_t *base = malloc((size_t)n * sizeof *base), *top = malloc((size_t)n * sizeof *top);
  if (!base || !top) {
    free(base), free(top);
    return lt_error(LT_ENOMEM, "%s: out of memory", fn);
  }
  int64_t total = 0, surv = 0;
  for (int l = 0; l < n; l++) {
    base[l] = total;
    total += mask_numel(masks[l]);
    surv += lt_mask_count(masks[l]);
  }
  int64_t k = lt_mask_prune_count(p, surv), done = 0;
  uint32_t *key = NULL;
  int64_t *pos = NULL;
  if (k > 0) {
    key = malloc((size_t)surv * sizeof *key);
    pos = malloc((size_t)surv * sizeof *pos);
    if (!key || !pos) {
      st = lt_error(LT_ENOMEM, "%s: out of memory for %lld survivors", fn, (long long)surv);
      goto out;
    }
    int64_t c = 0;
    for (int l = 0; l < n; l++) {
      top[l] = -1;
      c += gather(key + c, pos + c, lt_tensor_data(masks[l]), lt_tensor_data(scores[l]), mask_numel(masks[l]),
                  base[l], mode, &top[l]);
    }
    if ((st = mask_sort_keys(key, pos, (size_t)surv))) goto out;
    /* walk the global order: prune until k are gone, skipping each layer's top;
     * a top ranked below k is a layer the threshold would have emptied */
    for (int64_t r = 0; r < surv && done < k; r++) {
      int l = layer_of(base, n, pos[r]);
      if (pos[r] == top[l]) {
        if (r < k && guarded) guarded[l] = 1;
        continue;
      }
      lt_tensor_data(masks[l])[pos[r] - base[l]] = 0.0f;
      done++;
    }
  }
  if (pruned) *pruned = done;
out:
  free(base), free(top), free(key), free(pos);
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
