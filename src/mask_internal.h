/* mask_internal.h: helpers shared by src/mask*.c and src/prune*.c (not public).
 * Argument checks that name the function and shapes, the score -> sort-key map
 * that fixes the pruning order, and the stable radix sort behind it. */
#ifndef LOTTO_MASK_INTERNAL_H
#define LOTTO_MASK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lotto/mask.h"

/* numel from the shape (no call into tensor.c). */
int64_t mask_numel(const lt_tensor *t);
int mask_is_contiguous(const lt_tensor *t);
/* "(3, 4)" into buf. */
const char *mask_shape(const lt_tensor *t, char *buf, size_t n);

/* Checks that mask is a contiguous 0/1 tensor; fn names the caller in the message. */
lt_status mask_check_arg(const char *fn, const lt_tensor *mask);
/* Checks mask as above plus other (named what) contiguous with mask's shape. */
lt_status mask_check_pair(const char *fn, const lt_tensor *mask, const lt_tensor *other, const char *what);
/* Validates p in [0, 1]. */
lt_status mask_check_rate(const char *fn, double p);

/* Sort key with the pruning order: ascending keys = ascending scores, NaN lowest
 * (key 0), -0 == +0. mode LT_SCORE_ABS reads |s|. */
static inline uint32_t mask_score_key(float s, lt_score_mode mode) {
  union { float f; uint32_t u; } v;
  if (s != s) return 0;
  if (s == 0.0f) s = 0.0f; /* folds -0 into +0 */
  v.f = s;
  if (mode == LT_SCORE_ABS) v.u &= 0x7fffffffu;
  return (v.u & 0x80000000u) ? ~v.u : (v.u | 0x80000000u);
}

/* Stable ascending sort of the pairs (key[i], pos[i]) by key: equal keys keep
 * their input order, so feeding positions in increasing order gives the (score,
 * index) order. LSD radix, O(n). Returns LT_ENOMEM on allocation failure. */
lt_status mask_sort_keys(uint32_t *key, int64_t *pos, size_t n);

#endif
