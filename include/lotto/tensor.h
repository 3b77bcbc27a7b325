/* lotto/tensor.h: float32 tensors of 1 to 4 dimensions, row-major, refcounted.
 * A tensor is a view (shape, strides, offset) on a refcounted storage; views
 * made by narrow/select/reshape share storage with their source. Every
 * constructor returns a tensor with refcount 1 that the caller releases.
 *
 *   int64_t shape[2] = {3, 4};
 *   lt_tensor *t = lt_tensor_new(2, shape);        // zeros
 *   lt_tensor_fill(t, 1.0f);
 *   lt_tensor *v = lt_tensor_narrow(t, 1, 1, 2);  // t[:, 1:3], shares storage
 *   lt_tensor_release(v); lt_tensor_release(t);
 *
 * Functions returning lt_status set lt_errmsg() on failure, naming both shapes
 * on a mismatch. Element indices in C are 0-based (the Lua binding is 1-based). */
#ifndef LOTTO_TENSOR_H
#define LOTTO_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "lotto/rng.h"
#include "lotto/status.h"

#define LT_MAXDIM 4

typedef struct lt_storage {
  float *data;   /* 64-byte aligned */
  size_t n;      /* number of floats */
  int refcount;
} lt_storage;

typedef struct lt_tensor {
  int ndim;                   /* 1..LT_MAXDIM */
  int64_t shape[LT_MAXDIM];
  int64_t stride[LT_MAXDIM];  /* in elements */
  size_t offset;              /* in elements, into storage->data */
  lt_storage *storage;
  int refcount;
} lt_tensor;

/* ---- lifetime ---- */
/* New zero-filled contiguous tensor; NULL (with lt_errmsg) on bad shape or ENOMEM. */
lt_tensor *lt_tensor_new(int ndim, const int64_t *shape);
lt_tensor *lt_tensor_new1(int64_t n0);
lt_tensor *lt_tensor_new2(int64_t n0, int64_t n1);
lt_tensor *lt_tensor_retain(lt_tensor *t);
void lt_tensor_release(lt_tensor *t); /* NULL is fine */

/* ---- inspection ---- */
static inline float *lt_tensor_data(const lt_tensor *t) { return t->storage->data + t->offset; }
size_t lt_tensor_numel(const lt_tensor *t);
int lt_tensor_is_contiguous(const lt_tensor *t);
int lt_tensor_same_shape(const lt_tensor *a, const lt_tensor *b);
/* Writes "(3, 4)" into buf; returns buf. */
char *lt_tensor_shape_str(const lt_tensor *t, char *buf, size_t n);
/* The same for a bare shape array (ndim sizes): "(3, 4)". Returns buf. */
char *lt_shape_format(int ndim, const int64_t *shape, char *buf, size_t n);
/* Bounded readable summary (shape, a few values per axis with "...", min/max). Caller frees. */
char *lt_tensor_tostring(const lt_tensor *t);

/* ---- views (share storage; caller releases) ---- */
lt_tensor *lt_tensor_narrow(lt_tensor *t, int dim, int64_t start, int64_t len);
lt_tensor *lt_tensor_select(lt_tensor *t, int dim, int64_t index); /* drops dim; 1-D -> error */
lt_tensor *lt_tensor_reshape(lt_tensor *t, int ndim, const int64_t *shape); /* contiguous only; one -1 allowed */
/* Swaps dims d0 and d1: a strided view (matmul takes a transposed 2-D view without a copy). */
lt_tensor *lt_tensor_transpose(lt_tensor *t, int d0, int d1);
/* A contiguous view of n elements at element offset off of a contiguous tensor, with a new shape. */
lt_tensor *lt_tensor_view(lt_tensor *t, size_t off, int ndim, const int64_t *shape);

/* ---- creation ---- */
lt_tensor *lt_tensor_full(int ndim, const int64_t *shape, float v);
lt_tensor *lt_tensor_arange(float start, float stop, float step);
lt_tensor *lt_tensor_randn(int ndim, const int64_t *shape, lt_rng *r, float mean, float std);
lt_tensor *lt_tensor_rand(int ndim, const int64_t *shape, lt_rng *r, float lo, float hi);
lt_tensor *lt_tensor_clone(const lt_tensor *t); /* contiguous copy */
lt_tensor *lt_tensor_contiguous(lt_tensor *t);  /* retained t itself if contiguous, else a copy */

/* ---- element access (0-based, no bounds check: callers check) ---- */
float lt_tensor_get(const lt_tensor *t, const int64_t *idx);
void lt_tensor_set(lt_tensor *t, const int64_t *idx, float v);

/* ---- in-place fills and copies ---- */
void lt_tensor_fill(lt_tensor *t, float v);
lt_status lt_tensor_copy(lt_tensor *dst, const lt_tensor *src); /* same numel required; shapes may differ only if both contiguous */

/* ---- elementwise: out = a op b; out may alias a or b. Same shapes required ---- */
typedef enum { LT_ADD, LT_SUB, LT_MUL, LT_DIV } lt_binop;
lt_status lt_tensor_binop(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, lt_binop op);
lt_status lt_tensor_binop_scalar(lt_tensor *out, const lt_tensor *a, float s, lt_binop op);
typedef enum { LT_ABS, LT_SIGN, LT_SQRT, LT_EXP, LT_LOG, LT_NEG, LT_RELU } lt_unop;
lt_status lt_tensor_unop(lt_tensor *out, const lt_tensor *a, lt_unop op);
lt_status lt_tensor_clamp(lt_tensor *out, const lt_tensor *a, float lo, float hi);

/* ---- reductions ---- */
double lt_tensor_sum(const lt_tensor *t);   /* accumulated in double */
double lt_tensor_mean(const lt_tensor *t);
float lt_tensor_min(const lt_tensor *t);
float lt_tensor_max(const lt_tensor *t);
int64_t lt_tensor_argmax(const lt_tensor *t); /* flat index of first maximum */
typedef enum { LT_RSUM, LT_RMEAN, LT_RMIN, LT_RMAX, LT_RARGMAX } lt_reduce;
/* Reduce along dim; out has t's shape without dim (or (1) when t is 1-D). Caller releases.
 * For LT_RARGMAX the values are 0-based indices stored as floats. */
lt_tensor *lt_tensor_reduce_dim(const lt_tensor *t, int dim, lt_reduce op);

/* ---- linear algebra ---- */
lt_status lt_tensor_dot(const lt_tensor *a, const lt_tensor *b, double *out); /* same numel */
/* out (m, n) = a (m, k) @ b (k, n); out is allocated by the caller or NULL to allocate (*outp). */
lt_status lt_tensor_matmul(lt_tensor **outp, const lt_tensor *a, const lt_tensor *b);

/* The one dense GEMM wrapper over OpenBLAS sgemm (row-major):
 * C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C, op = transpose if ta/tb. */
void lt_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);
/* The engine's thread count: OpenBLAS's and the worker pool's (src/core/pool.c);
 * explicit, never oversubscribed. */
void lt_set_threads(int n);
int lt_get_threads(void);

/* How many of x[0..n) are not 0: the kept entries of a 0/1 mask. The one
 * mask count of the engine (lt_mask_count is its tensor form). */
int64_t lt_count_nonzero(const float *x, size_t n);

#endif
