/* mask_order.c: the shared machinery of the pruners — argument checks, the
 * count rule, and the stable radix sort that orders entries by (score, index)
 * so that ties and NaNs resolve the same way on every run and machine. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mask_internal.h"

int64_t mask_numel(const lt_tensor *t) {
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
  return n;
}

int mask_is_contiguous(const lt_tensor *t) {
  int64_t expect = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != expect) return 0;
    expect *= t->shape[d];
  }
  return 1;
}

const char *mask_shape(const lt_tensor *t, char *buf, size_t n) {
  size_t used = (size_t)snprintf(buf, n, "(");
  for (int d = 0; d < t->ndim && used < n; d++)
    used += (size_t)snprintf(buf + used, n - used, d ? ", %lld" : "%lld", (long long)t->shape[d]);
  if (used < n) snprintf(buf + used, n - used, ")");
  return buf;
}

lt_status mask_check_arg(const char *fn, const lt_tensor *mask) {
  if (!mask) return lt_error(LT_EINVAL, "%s: mask is NULL", fn);
  if (!mask_is_contiguous(mask)) return lt_error(LT_EINVAL, "%s: mask must be contiguous (it is changed in place)", fn);
  const float *m = lt_tensor_data(mask);
  int64_t n = mask_numel(mask);
  for (int64_t i = 0; i < n; i++)
    if (m[i] != 0.0f && m[i] != 1.0f)
      return lt_error(LT_EINVAL, "%s: mask must hold only 0 and 1, but entry %lld is %g", fn, (long long)i,
                      (double)m[i]);
  return LT_OK;
}

lt_status mask_check_pair(const char *fn, const lt_tensor *mask, const lt_tensor *other, const char *what) {
  lt_status st = mask_check_arg(fn, mask);
  if (st) return st;
  if (!other) return lt_error(LT_EINVAL, "%s: %s is NULL", fn, what);
  int same = mask->ndim == other->ndim;
  for (int d = 0; same && d < mask->ndim; d++) same = mask->shape[d] == other->shape[d];
  if (!same) {
    char a[64], b[64];
    return lt_error(LT_ESHAPE, "%s: mask %s and %s %s must have the same shape", fn, mask_shape(mask, a, sizeof a),
                    what, mask_shape(other, b, sizeof b));
  }
  if (!mask_is_contiguous(other)) return lt_error(LT_EINVAL, "%s: %s must be contiguous", fn, what);
  return LT_OK;
}

lt_status mask_check_rate(const char *fn, double p) {
  if (!(p >= 0.0 && p <= 1.0)) return lt_error(LT_EINVAL, "%s: rate p = %g must be in [0, 1]", fn, p);
  return LT_OK;
}

int64_t lt_mask_prune_count(double p, int64_t surviving) {
  if (!(p > 0.0) || surviving <= 0) return 0;
  if (p >= 1.0) return surviving;
  double x = p * (double)surviving;
  int64_t k = (int64_t)floor(x + 0.5 + 1e-9 * x);
  return k > surviving ? surviving : k;
}

/* One counting pass of 11 bits starting at shift; returns 0 when every key has
 * the same digit there (the pass would be the identity and is skipped). */
#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)

static int radix_pass(uint32_t *kout, int64_t *pout, const uint32_t *kin, const int64_t *pin, size_t n, int shift,
                      size_t *count) {
  memset(count, 0, RADIX_SIZE * sizeof *count);
  for (size_t i = 0; i < n; i++) count[(kin[i] >> shift) & (RADIX_SIZE - 1)]++;
  for (size_t b = 0; b < RADIX_SIZE; b++)
    if (count[b] == n) return 0;
  size_t sum = 0;
  for (size_t b = 0; b < RADIX_SIZE; b++) {
    size_t c = count[b];
    count[b] = sum;
    sum += c;
  }
  for (size_t i = 0; i < n; i++) {
    size_t at = count[(kin[i] >> shift) & (RADIX_SIZE - 1)]++;
    kout[at] = kin[i];
    pout[at] = pin[i];
  }
  return 1;
}

lt_status mask_sort_keys(uint32_t *key, int64_t *pos, size_t n) {
  if (n < 2) return LT_OK;
  uint32_t *k2 = malloc(n * sizeof *k2);
  int64_t *p2 = malloc(n * sizeof *p2);
  size_t *count = malloc(RADIX_SIZE * sizeof *count);
  if (!k2 || !p2 || !count) {
    free(k2), free(p2), free(count);
    return lt_error(LT_ENOMEM, "mask sort: out of memory for %zu entries", n);
  }
  uint32_t *ka = key, *kb = k2;
  int64_t *pa = pos, *pb = p2;
  for (int shift = 0; shift < 32; shift += RADIX_BITS) {
    if (radix_pass(kb, pb, ka, pa, n, shift, count)) {
      uint32_t *kt = ka; ka = kb; kb = kt;
      int64_t *pt = pa; pa = pb; pb = pt;
    }
  }
  if (ka != key) {
    memcpy(key, ka, n * sizeof *key);
    memcpy(pos, pa, n * sizeof *pos);
  }
  free(k2), free(p2), free(count);
  return LT_OK;
}
