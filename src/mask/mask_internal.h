/* mask_internal.h: helpers shared by src/mask*.c and src/prune*.c (not public).
 * Argument checks that name the function and shapes, the score -> sort-key map
 * that fixes the pruning order, and the selection of the k smallest entries. */
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

/* An entry in pruning order: score key in the high half, flat position in the low
 * half, so plain integer comparison is the (score, index) order and no two entries
 * are equal. Positions must be < 2^32 (MASK_MAXPOS). */
#define MASK_MAXPOS ((int64_t)1 << 32)
static inline uint64_t mask_pack(uint32_t key, int64_t pos) { return (uint64_t)key << 32 | (uint64_t)pos; }
static inline int64_t mask_pos(uint64_t e) { return (int64_t)(e & 0xffffffffu); }

/* Rearranges a[0..n) so that a[0..k) hold its k smallest values, in no particular
 * order (quickselect, expected O(n); falls back to a full sort on bad pivots). The
 * values are distinct, so the chosen set does not depend on the pivots. */
void mask_select(uint64_t *a, size_t n, size_t k);

#endif
