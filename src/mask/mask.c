/* mask.c: mask statistics (count, density, validity), comparisons (Hamming
 * distance, Jaccard overlap and coverage), applying a mask to a weight, and
 * the permuted-mask baseline. Masks are never reallocated, only rewritten. */
#include "mask/mask_internal.h"

/* Counts nonzero entries of any (possibly strided) tensor. */
int64_t lt_mask_count(const lt_tensor *mask) {
  if (!mask) return 0;
  const float *m = lt_tensor_data(mask);
  if (mask_is_contiguous(mask)) {
    return lt_count_nonzero(m, (size_t)mask_numel(mask));
  }
  int64_t sh[LT_MAXDIM] = {1, 1, 1, 1}, st[LT_MAXDIM] = {0, 0, 0, 0};
  int off = LT_MAXDIM - mask->ndim;
  for (int d = 0; d < mask->ndim; d++) sh[off + d] = mask->shape[d], st[off + d] = mask->stride[d];
  int64_t c = 0;
  for (int64_t a = 0; a < sh[0]; a++)
    for (int64_t b = 0; b < sh[1]; b++)
      for (int64_t e = 0; e < sh[2]; e++) {
        const float *row = m + a * st[0] + b * st[1] + e * st[2];
        for (int64_t f = 0; f < sh[3]; f++) c += row[f * st[3]] != 0.0f;
      }
  return c;
}

double lt_mask_density(const lt_tensor *mask) {
  if (!mask) return 0.0;
  int64_t n = mask_numel(mask);
  return n > 0 ? (double)lt_mask_count(mask) / (double)n : 0.0;
}

lt_status lt_mask_check(const lt_tensor *mask) { return mask_check_arg("lt_mask_check", mask); }

lt_status lt_mask_hamming(int64_t *count, const lt_tensor *a, const lt_tensor *b) {
  lt_status st = mask_check_pair("lt_mask_hamming", a, b, "second mask");
  if (st) return st;
  if ((st = mask_check_arg("lt_mask_hamming (second mask)", b))) return st;
  const float *x = lt_tensor_data(a), *y = lt_tensor_data(b);
  int64_t n = mask_numel(a), c = 0;
  for (int64_t i = 0; i < n; i++) c += x[i] != y[i];
  *count = c;
  return LT_OK;
}

lt_status lt_mask_overlap(double *jaccard, double *cover, const lt_tensor *a, const lt_tensor *b) {
  lt_status st = mask_check_pair("lt_mask_overlap", a, b, "second mask");
  if (st) return st;
  if ((st = mask_check_arg("lt_mask_overlap (second mask)", b))) return st;
  const float *x = lt_tensor_data(a), *y = lt_tensor_data(b);
  int64_t n = mask_numel(a), both = 0, either = 0, na = 0;
  for (int64_t i = 0; i < n; i++) {
    int p = x[i] != 0.0f, q = y[i] != 0.0f;
    both += p & q;
    either += p | q;
    na += p;
  }
  if (jaccard) *jaccard = either ? (double)both / (double)either : 1.0;
  if (cover) *cover = na ? (double)both / (double)na : 1.0;
  return LT_OK;
}

lt_status lt_mask_apply(lt_tensor *weight, const lt_tensor *mask) {
  lt_status st = mask_check_pair("lt_mask_apply", mask, weight, "weight");
  if (st) return st;
  float *w = lt_tensor_data(weight);
  const float *m = lt_tensor_data(mask);
  int64_t n = mask_numel(mask);
  /* select rather than multiply: a pruned NaN/Inf weight must become 0 too */
  for (int64_t i = 0; i < n; i++)
    if (m[i] == 0.0f) w[i] = 0.0f;
  return LT_OK;
}

lt_status lt_mask_permute(lt_tensor *mask, lt_rng *r) {
  lt_status st = mask_check_arg("lt_mask_permute", mask);
  if (st) return st;
  if (!r) return lt_error(LT_EINVAL, "lt_mask_permute: generator is NULL");
  float *m = lt_tensor_data(mask);
  int64_t n = mask_numel(mask);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)lt_rng_below(r, (uint64_t)i + 1);
    float t = m[i];
    m[i] = m[j];
    m[j] = t;
  }
  return LT_OK;
}
