/* gemm.c: the one dense GEMM wrapper over OpenBLAS sgemm and the tensor-level dot and matmul built on it. Strided operands whose rows
 * or columns are unit-stride go to sgemm as they are; others are copied first. */
#include <cblas.h>
#include <string.h>

#include "lotto/tensor.h"

void lt_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
             float beta, float *C, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) { /* sgemm rejects k = 0 leading dims on some builds: C = beta * C by hand */
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B,
              ldb, beta, C, ldc);
}

lt_status lt_tensor_dot(const lt_tensor *a, const lt_tensor *b, double *out) {
  char b1[96], b2[96];
  if (lt_tensor_numel(a) != lt_tensor_numel(b))
    return lt_error(LT_ESHAPE, "dot: shapes %s and %s have different sizes", lt_tensor_shape_str(a, b1, sizeof b1),
                    lt_tensor_shape_str(b, b2, sizeof b2));
  /* contiguous copies when needed keep this one simple loop */
  lt_tensor *ca = lt_tensor_contiguous((lt_tensor *)a), *cb = lt_tensor_contiguous((lt_tensor *)b);
  if (!ca || !cb) {
    lt_tensor_release(ca);
    lt_tensor_release(cb);
    return LT_ENOMEM;
  }
  const float *x = lt_tensor_data(ca), *y = lt_tensor_data(cb);
  size_t n = lt_tensor_numel(ca);
  double acc = 0;
  for (size_t i = 0; i < n; i++) acc += (double)x[i] * y[i];
  *out = acc;
  lt_tensor_release(ca);
  lt_tensor_release(cb);
  return LT_OK;
}

/* How a 2-D operand can go to sgemm: as is (trans 0, ld = row stride), as the
 * transpose of a row-major matrix (trans 1, ld = column stride), or not at all. */
static int gemm_layout(const lt_tensor *t, int *trans, int *ld) {
  int64_t r = t->shape[0], c = t->shape[1], sr = t->stride[0], sc = t->stride[1];
  if ((sc == 1 || c == 1) && sr >= (c > 1 ? c : 1) && sr <= 0x7fffffff) {
    *trans = 0;
    *ld = (int)(sr > 0 ? sr : 1);
    if (r == 1) *ld = (int)(c > 1 ? c : 1);
    return 1;
  }
  if (sr == 1 && sc >= (r > 1 ? r : 1) && sc <= 0x7fffffff) {
    *trans = 1;
    *ld = (int)sc;
    return 1;
  }
  return 0;
}

/* Whether the element ranges of a and b in one storage overlap (sgemm must not write
 * what it reads). Views of distinct parts of one flat buffer are fine. */
static int overlaps(const lt_tensor *a, const lt_tensor *b) {
  if (a->storage != b->storage || lt_tensor_numel(a) == 0 || lt_tensor_numel(b) == 0) return 0;
  size_t a1 = a->offset + 1, b1 = b->offset + 1;
  for (int d = 0; d < a->ndim; d++) a1 += (size_t)((a->shape[d] - 1) * a->stride[d]);
  for (int d = 0; d < b->ndim; d++) b1 += (size_t)((b->shape[d] - 1) * b->stride[d]);
  return a->offset < b1 && b->offset < a1;
}

lt_status lt_tensor_matmul(lt_tensor **outp, const lt_tensor *a, const lt_tensor *b) {
  char b1[96], b2[96], b3[96];
  if (a->ndim != 2 || (b->ndim != 1 && b->ndim != 2))
    return lt_error(LT_ESHAPE, "matmul: shapes %s and %s: need a 2-D left and a 1-D or 2-D right operand",
                    lt_tensor_shape_str(a, b1, sizeof b1), lt_tensor_shape_str(b, b2, sizeof b2));
  int64_t m = a->shape[0], k = a->shape[1], kb = b->shape[0], n = b->ndim == 2 ? b->shape[1] : 1;
  if (k != kb)
    return lt_error(LT_ESHAPE, "matmul: shapes %s and %s do not match (inner dims %lld and %lld)",
                    lt_tensor_shape_str(a, b1, sizeof b1), lt_tensor_shape_str(b, b2, sizeof b2), (long long)k,
                    (long long)kb);
  if (m > 0x7fffffff || n > 0x7fffffff || k > 0x7fffffff)
    return lt_error(LT_ESHAPE, "matmul: shapes %s and %s are too large for sgemm", lt_tensor_shape_str(a, b1, sizeof b1),
                    lt_tensor_shape_str(b, b2, sizeof b2));
  int64_t oshape[2] = {m, n};
  int ond = b->ndim;
  lt_tensor *out = *outp;
  if (out) {
    if (out->ndim != ond || out->shape[0] != m || (ond == 2 && out->shape[1] != n) || !lt_tensor_is_contiguous(out))
      return lt_error(LT_ESHAPE, "matmul: output %s does not fit %s @ %s (need a contiguous %s)",
                      lt_tensor_shape_str(out, b3, sizeof b3), lt_tensor_shape_str(a, b1, sizeof b1),
                      lt_tensor_shape_str(b, b2, sizeof b2), lt_shape_format(ond, oshape, (char[96]){0}, 96));
    if (overlaps(out, a) || overlaps(out, b))
      return lt_error(LT_EINVAL, "matmul: output %s overlaps an input (%s @ %s)", lt_tensor_shape_str(out, b3, sizeof b3),
                      lt_tensor_shape_str(a, b1, sizeof b1), lt_tensor_shape_str(b, b2, sizeof b2));
  } else {
    out = lt_tensor_new(ond, oshape);
    if (!out) return LT_ENOMEM;
  }
  /* a 1-D right operand is a (k, 1) column with row stride b->stride[0] */
  lt_tensor bcol = *b;
  if (b->ndim == 1) {
    bcol.ndim = 2;
    bcol.shape[1] = 1;
    bcol.stride[1] = 1;
  }
  int ta, tb, lda, ldb;
  lt_tensor *ca = NULL, *cb = NULL;
  const lt_tensor *pa = a, *pb = &bcol;
  if (!gemm_layout(pa, &ta, &lda)) {
    if (!(ca = lt_tensor_clone(a))) goto nomem;
    pa = ca;
    gemm_layout(pa, &ta, &lda);
  }
  if (!gemm_layout(pb, &tb, &ldb)) {
    if (!(cb = lt_tensor_clone(&bcol))) goto nomem;
    pb = cb;
    gemm_layout(pb, &tb, &ldb);
  }
  lt_gemm(ta, tb, (int)m, (int)n, (int)k, 1.0f, lt_tensor_data(pa), lda, lt_tensor_data(pb), ldb, 0.0f,
          lt_tensor_data(out), (int)(n > 0 ? n : 1));
  lt_tensor_release(ca);
  lt_tensor_release(cb);
  *outp = out;
  return LT_OK;
nomem:
  lt_tensor_release(ca);
  if (out != *outp) lt_tensor_release(out);
  return LT_ENOMEM;
}
