/* sparse_csr.c: the CSR matrix: build from (weight, mask) in one pass,
 * value refresh after an optimizer step, transpose (CSC) and its refresh.
 * Owns the three arrays of an lt_csr; rebuilds reuse them. */
#include <stdlib.h>
#include <string.h>

#include "lotto/sparse.h"
#include "sparse/sparse_impl.h"

lt_csr *lt_csr_new(void) {
  lt_csr *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->rowptr = calloc(1, sizeof *a->rowptr);
  if (!a->rowptr) {
    free(a);
    return NULL;
  }
  return a;
}

void lt_csr_free(lt_csr *a) {
  if (!a) return;
  free(a->rowptr);
  free(a->colidx);
  free(a->val);
  free(a);
}

/* Ensures room for rows + 1 row pointers (exact) and at least cap entries. */
static lt_status reserve(lt_csr *a, int rows, int64_t cap) {
  if (cap > INT32_MAX) return lt_error(LT_ERANGE, "sparse: %lld entries exceed the int32 index range",
                                       (long long)cap);
  if (rows != a->rows || !a->rowptr) {
    int32_t *rp = realloc(a->rowptr, ((size_t)rows + 1) * sizeof *rp);
    if (!rp) return lt_error(LT_ENOMEM, "sparse: out of memory for %d row pointers", rows + 1);
    a->rowptr = rp;
  }
  if (cap > a->cap) {
    int64_t c = a->cap ? a->cap : 64;
    while (c < cap) c *= 2;
    if (c > INT32_MAX) c = INT32_MAX;
    int32_t *ci = realloc(a->colidx, (size_t)c * sizeof *ci);
    if (ci) a->colidx = ci;
    float *v = ci ? realloc(a->val, (size_t)c * sizeof *v) : NULL;
    if (!v) return lt_error(LT_ENOMEM, "sparse: out of memory for %lld entries", (long long)c);
    a->val = v;
    a->cap = (int)c;
  }
  return LT_OK;
}

lt_status lt_csr_build(lt_csr *a, const float *w, const float *mask, int rows, int cols) {
  if (!a || rows < 0 || cols < 0 || ((!w || !mask) && rows && cols))
    return lt_error(LT_EINVAL, "lt_csr_build: bad arguments (rows %d, cols %d)", rows, cols);
  lt_status st = reserve(a, rows, a->cap);
  if (st) return st;
  a->rows = rows;
  a->cols = cols;
  int32_t nnz = 0;
  a->rowptr[0] = 0;
  for (int r = 0; r < rows; r++) {
    /* worst case for this row, so that growth happens inside the one pass */
    if ((int64_t)nnz + cols > a->cap && (st = reserve(a, rows, (int64_t)nnz + cols))) {
      a->nnz = 0;
      memset(a->rowptr, 0, ((size_t)rows + 1) * sizeof *a->rowptr);
      return st;
    }
    const float *mr = mask + (size_t)r * cols, *wr = w + (size_t)r * cols;
    int32_t *ci = a->colidx;
    float *v = a->val;
    int c = 0;
#ifdef SP_AVX
    /* eight mask values at a time: skip empty blocks, walk the set bits of the others */
    for (; c + 8 <= cols; c += 8) {
      unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(mr + c), _mm256_setzero_ps(), _CMP_NEQ_UQ));
      for (; bits; bits &= bits - 1) {
        int j = c + __builtin_ctz(bits);
        ci[nnz] = j;
        v[nnz++] = wr[j];
      }
    }
#endif
    for (; c < cols; c++) {
      /* branch-free: write unconditionally, advance only on a survivor */
      ci[nnz] = c;
      v[nnz] = wr[c];
      nnz += mr[c] != 0.0f;
    }
    a->rowptr[r + 1] = nnz;
  }
  a->nnz = nnz;
  return LT_OK;
}

void lt_csr_refresh(lt_csr *a, const float *w) {
  for (int r = 0; r < a->rows; r++) {
    const float *wr = w + (size_t)r * a->cols;
    for (int32_t k = a->rowptr[r]; k < a->rowptr[r + 1]; k++) a->val[k] = wr[a->colidx[k]];
  }
}

lt_status lt_csr_transpose(lt_csr *t, const lt_csr *a) {
  if (!t || !a || t == a) return lt_error(LT_EINVAL, "lt_csr_transpose: bad arguments");
  lt_status st = reserve(t, a->cols, a->nnz);
  if (st) return st;
  t->rows = a->cols;
  t->cols = a->rows;
  t->nnz = a->nnz;
  int32_t *rp = t->rowptr;
  memset(rp, 0, ((size_t)t->rows + 1) * sizeof *rp);
  for (int32_t k = 0; k < a->nnz; k++) rp[a->colidx[k] + 1]++;
  for (int r = 0; r < t->rows; r++) rp[r + 1] += rp[r];
  /* Scatter row by row of a, so that each row of t lists a's rows in increasing
   * order; rp[c] walks forward and is shifted back afterwards. */
  for (int r = 0; r < a->rows; r++) {
    for (int32_t k = a->rowptr[r]; k < a->rowptr[r + 1]; k++) {
      int32_t dst = rp[a->colidx[k]]++;
      t->colidx[dst] = r;
      t->val[dst] = a->val[k];
    }
  }
  for (int r = t->rows; r > 0; r--) rp[r] = rp[r - 1];
  rp[0] = 0;
  return LT_OK;
}

void lt_csr_refresh_transposed(lt_csr *t, const float *w) {
  /* t row i lists the rows o of w with a survivor at column i: w[o, i] */
  for (int i = 0; i < t->rows; i++)
    for (int32_t k = t->rowptr[i]; k < t->rowptr[i + 1]; k++) t->val[k] = w[(size_t)t->colidx[k] * t->rows + i];
}

void lt_csr_todense(float *w, const lt_csr *a) {
  memset(w, 0, (size_t)a->rows * a->cols * sizeof *w);
  for (int r = 0; r < a->rows; r++)
    for (int32_t k = a->rowptr[r]; k < a->rowptr[r + 1]; k++) w[(size_t)r * a->cols + a->colidx[k]] = a->val[k];
}

double lt_csr_density(const lt_csr *a) {
  double total = (double)a->rows * a->cols;
  return total > 0 ? a->nnz / total : 0.0;
}

void lt_sp_partition(int *bounds, const int32_t *rowptr, int rows, int nparts) {
  int64_t total = (int64_t)rowptr[rows] - rowptr[0] + (int64_t)SP_ROW_COST * rows;
  bounds[0] = 0;
  for (int p = 1; p < nparts; p++) {
    int64_t target = total * p / nparts;
    int lo = bounds[p - 1], hi = rows; /* first row r with cost(r) >= target */
    while (lo < hi) {
      int mid = lo + (hi - lo) / 2;
      int64_t c = (int64_t)rowptr[mid] - rowptr[0] + (int64_t)SP_ROW_COST * mid;
      if (c < target) lo = mid + 1;
      else hi = mid;
    }
    bounds[p] = lo;
  }
  bounds[nparts] = rows;
}
