/* mask_order.c: the shared machinery of the pruners — argument checks, the
 * count rule, and the selection of the k smallest entries in (score, index)
 * order, so that ties and NaNs resolve the same way on every run and machine. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mask/mask_internal.h"

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
  for (int64_t i0 = 0; i0 < n; i0 += 256) { /* blocks without an early exit vectorise */
    int64_t i1 = i0 + 256 < n ? i0 + 256 : n;
    int bad = 0;
    for (int64_t i = i0; i < i1; i++) bad |= (m[i] != 0.0f) & (m[i] != 1.0f);
    if (!bad) continue;
    for (int64_t i = i0; i < i1; i++)
      if (m[i] != 0.0f && m[i] != 1.0f)
        return lt_error(LT_EINVAL, "%s: mask must hold only 0 and 1, but entry %lld is %g", fn, (long long)i,
                        (double)m[i]);
  }
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

static int cmp_u64(const void *pa, const void *pb) {
  uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
  return (a > b) - (a < b);
}

static void swap_u64(uint64_t *a, uint64_t *b) {
  uint64_t t = *a;
  *a = *b;
  *b = t;
}

static void quickselect(uint64_t *a, size_t n, size_t k) {
  if (k == 0 || k >= n) return;
  size_t lo = 0, hi = n; /* the k-boundary lies in [lo, hi) */
  int budget = 16;
  for (size_t m = n; m > 1; m >>= 1) budget += 2;
  while (hi - lo > 24) {
    if (budget-- == 0) {
      qsort(a + lo, hi - lo, sizeof *a, cmp_u64);
      return;
    }
    /* median of three, moved to the end, then a Lomuto partition (values are distinct) */
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (a[mid] < a[lo]) swap_u64(&a[mid], &a[lo]);
    if (a[last] < a[lo]) swap_u64(&a[last], &a[lo]);
    if (a[mid] < a[last]) swap_u64(&a[mid], &a[last]);
    uint64_t piv = a[last];
    size_t store = lo;
    for (size_t i = lo; i < last; i++)
      if (a[i] < piv) swap_u64(&a[i], &a[store++]);
    swap_u64(&a[store], &a[last]);
    if (store == k || store + 1 == k) return;
    if (k < store) hi = store;
    else lo = store + 1;
  }
  for (size_t i = lo + 1; i < hi; i++) /* insertion sort of the small rest */
    for (size_t j = i; j > lo && a[j] < a[j - 1]; j--) swap_u64(&a[j], &a[j - 1]);
}

/* MSD radix selection a byte at a time (values are distinct): one counting pass
 * and one three-way partition per byte over the range that holds the k-boundary,
 * which shrinks about 256-fold each time; quickselect finishes a small range.
 * Its partitions are mostly predictable branches where quickselect's are coin
 * flips: several times faster on the large arrays of a DST update. */
void mask_select(uint64_t *a, size_t n, size_t k) {
  if (k == 0 || k >= n) return;
  size_t lo = 0, hi = n; /* a[0..lo) are selected, a[hi..n) are not, k in (lo, hi) */
  for (int shift = 56; shift >= 0 && hi - lo > 64; shift -= 8) {
    size_t cnt[256] = {0};
    for (size_t i = lo; i < hi; i++) cnt[(a[i] >> shift) & 255]++;
    size_t need = k - lo, below = 0;
    unsigned b = 0;
    while (below + cnt[b] < need) below += cnt[b++];
    if (cnt[b] == hi - lo) continue; /* one bin: the next byte decides */
    size_t lt = lo, i = lo, gt = hi;
    while (i < gt) {
      unsigned v = (unsigned)(a[i] >> shift) & 255;
      if (v < b) swap_u64(&a[lt++], &a[i++]);
      else if (v > b) swap_u64(&a[i], &a[--gt]);
      else i++;
    }
    lo = lt, hi = gt; /* lt = old lo + below, gt = lt + cnt[b]; k in (lt, gt] */
    if (k == hi) return;
  }
  quickselect(a + lo, hi - lo, k - lo);
}
