/* tensor_ops.c: fills, copies, elementwise ops and reductions over strided tensors.
 * Every op walks its tensors row by row (the last dim is the row); when all are
 * contiguous the walk is one flat row, a plain loop the compiler vectorises. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/tensor.h"

/* GCC's -O2 cost model ("very cheap") vectorises no loop of unknown length; these
 * loops are the hot path of training, so ask for the usual -O3 cost model here. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

/* Up to three tensors of one shape, padded to 4 dims (leading dims of size 1). */
typedef struct walk {
  int nt;
  int64_t shape[4];
  int64_t st[3][4];
  float *base[3];
  int64_t rows, len;
} walk;

static void walk_init(walk *w, int nt, const lt_tensor *t0, const lt_tensor *t1, const lt_tensor *t2) {
  const lt_tensor *ts[3] = {t0, t1, t2};
  int contig = 1;
  w->nt = nt;
  for (int k = 0; k < nt; k++) {
    w->base[k] = lt_tensor_data(ts[k]);
    contig = contig && lt_tensor_is_contiguous(ts[k]);
  }
  int pad = 4 - t0->ndim;
  for (int d = 0; d < 4; d++) {
    w->shape[d] = d < pad ? 1 : t0->shape[d - pad];
    for (int k = 0; k < nt; k++) w->st[k][d] = d < pad ? 0 : ts[k]->stride[d - pad];
  }
  if (contig) {
    w->rows = 1;
    w->len = (int64_t)lt_tensor_numel(t0);
    for (int k = 0; k < nt; k++) w->st[k][3] = 1;
  } else {
    w->rows = w->shape[0] * w->shape[1] * w->shape[2];
    w->len = w->shape[3];
  }
}

/* Row r's start pointers and the in-row strides. */
static void walk_row(const walk *w, int64_t r, float *p[3], int64_t s[3]) {
  int64_t i0 = 0, i1 = 0, i2 = 0;
  if (w->rows > 1) { /* rows > 1 means every padded size is >= 1 */
    i2 = r % w->shape[2];
    i1 = (r / w->shape[2]) % w->shape[1];
    i0 = r / w->shape[2] / w->shape[1];
  }
  for (int k = 0; k < w->nt; k++) {
    p[k] = w->base[k] + i0 * w->st[k][0] + i1 * w->st[k][1] + i2 * w->st[k][2];
    s[k] = w->st[k][3];
  }
}

static lt_status shape_error(const char *what, const lt_tensor *a, const lt_tensor *b) {
  char b1[96], b2[96];
  return lt_error(LT_ESHAPE, "%s: shapes %s and %s do not match", what, lt_tensor_shape_str(a, b1, sizeof b1),
                  lt_tensor_shape_str(b, b2, sizeof b2));
}

/* ---- fills and copies ---- */

void lt_tensor_fill(lt_tensor *t, float v) {
  walk w;
  float *p[3];
  int64_t s[3];
  walk_init(&w, 1, t, NULL, NULL);
  for (int64_t r = 0; r < w.rows; r++) {
    walk_row(&w, r, p, s);
    if (s[0] == 1)
      for (int64_t i = 0; i < w.len; i++) p[0][i] = v;
    else
      for (int64_t i = 0; i < w.len; i++) p[0][i * s[0]] = v;
  }
}

lt_status lt_tensor_copy(lt_tensor *dst, const lt_tensor *src) {
  if (lt_tensor_same_shape(dst, src)) {
    walk w;
    float *p[3];
    int64_t s[3];
    walk_init(&w, 2, dst, src, NULL);
    for (int64_t r = 0; r < w.rows; r++) {
      walk_row(&w, r, p, s);
      if (s[0] == 1 && s[1] == 1)
        memmove(p[0], p[1], (size_t)w.len * sizeof(float));
      else
        for (int64_t i = 0; i < w.len; i++) p[0][i * s[0]] = p[1][i * s[1]];
    }
    return LT_OK;
  }
  if (lt_tensor_numel(dst) == lt_tensor_numel(src) && lt_tensor_is_contiguous(dst) && lt_tensor_is_contiguous(src)) {
    memmove(lt_tensor_data(dst), lt_tensor_data(src), lt_tensor_numel(src) * sizeof(float));
    return LT_OK;
  }
  char b1[96], b2[96];
  return lt_error(LT_ESHAPE, "copy: cannot copy %s into %s (same shape, or same size and both contiguous)",
                  lt_tensor_shape_str(src, b1, sizeof b1), lt_tensor_shape_str(dst, b2, sizeof b2));
}

/* ---- elementwise ---- */

static const char *binop_name(lt_binop op) {
  static const char *names[] = {"add", "sub", "mul", "div"};
  return (unsigned)op < 4 ? names[op] : "binop";
}

static void row_binop(float *o, int64_t so, const float *a, int64_t sa, const float *b, int64_t sb, int64_t n,
                      lt_binop op) {
  if (so == 1 && sa == 1 && sb == 1) {
    switch (op) {
    case LT_ADD: for (int64_t i = 0; i < n; i++) o[i] = a[i] + b[i]; break;
    case LT_SUB: for (int64_t i = 0; i < n; i++) o[i] = a[i] - b[i]; break;
    case LT_MUL: for (int64_t i = 0; i < n; i++) o[i] = a[i] * b[i]; break;
    case LT_DIV: for (int64_t i = 0; i < n; i++) o[i] = a[i] / b[i]; break;
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    float x = a[i * sa], y = b[i * sb], z = 0;
    switch (op) {
    case LT_ADD: z = x + y; break;
    case LT_SUB: z = x - y; break;
    case LT_MUL: z = x * y; break;
    case LT_DIV: z = x / y; break;
    }
    o[i * so] = z;
  }
}

lt_status lt_tensor_binop(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, lt_binop op) {
  if ((unsigned)op > LT_DIV) return lt_error(LT_EINVAL, "binop: unknown op %d", (int)op);
  if (!lt_tensor_same_shape(a, b)) return shape_error(binop_name(op), a, b);
  if (!lt_tensor_same_shape(out, a)) return shape_error(binop_name(op), out, a);
  walk w;
  float *p[3];
  int64_t s[3];
  walk_init(&w, 3, out, a, b);
  for (int64_t r = 0; r < w.rows; r++) {
    walk_row(&w, r, p, s);
    row_binop(p[0], s[0], p[1], s[1], p[2], s[2], w.len, op);
  }
  return LT_OK;
}

static void row_scalar(float *o, int64_t so, const float *a, int64_t sa, float y, int64_t n, lt_binop op) {
  if (so == 1 && sa == 1) {
    switch (op) {
    case LT_ADD: for (int64_t i = 0; i < n; i++) o[i] = a[i] + y; break;
    case LT_SUB: for (int64_t i = 0; i < n; i++) o[i] = a[i] - y; break;
    case LT_MUL: for (int64_t i = 0; i < n; i++) o[i] = a[i] * y; break;
    case LT_DIV: for (int64_t i = 0; i < n; i++) o[i] = a[i] / y; break;
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    float x = a[i * sa], z = 0;
    switch (op) {
    case LT_ADD: z = x + y; break;
    case LT_SUB: z = x - y; break;
    case LT_MUL: z = x * y; break;
    case LT_DIV: z = x / y; break;
    }
    o[i * so] = z;
  }
}

lt_status lt_tensor_binop_scalar(lt_tensor *out, const lt_tensor *a, float s, lt_binop op) {
  if ((unsigned)op > LT_DIV) return lt_error(LT_EINVAL, "binop: unknown op %d", (int)op);
  if (!lt_tensor_same_shape(out, a)) return shape_error(binop_name(op), out, a);
  walk w;
  float *p[3];
  int64_t st[3];
  walk_init(&w, 2, out, a, NULL);
  for (int64_t r = 0; r < w.rows; r++) {
    walk_row(&w, r, p, st);
    row_scalar(p[0], st[0], p[1], st[1], s, w.len, op);
  }
  return LT_OK;
}

static inline float apply_unop(float x, lt_unop op) {
  switch (op) {
  case LT_ABS: return fabsf(x);
  case LT_SIGN: return (float)((x > 0) - (x < 0));
  case LT_SQRT: return sqrtf(x);
  case LT_EXP: return expf(x);
  case LT_LOG: return logf(x);
  case LT_NEG: return -x;
  case LT_RELU: return x > 0 ? x : 0.0f;
  }
  return x;
}

lt_status lt_tensor_unop(lt_tensor *out, const lt_tensor *a, lt_unop op) {
  if ((unsigned)op > LT_RELU) return lt_error(LT_EINVAL, "unop: unknown op %d", (int)op);
  if (!lt_tensor_same_shape(out, a)) return shape_error("unop", out, a);
  walk w;
  float *p[3];
  int64_t s[3];
  walk_init(&w, 2, out, a, NULL);
  for (int64_t r = 0; r < w.rows; r++) {
    walk_row(&w, r, p, s);
    float *o = p[0];
    const float *x = p[1];
    if (s[0] == 1 && s[1] == 1) {
      switch (op) { /* separate loops so each one vectorises */
      case LT_ABS: for (int64_t i = 0; i < w.len; i++) o[i] = fabsf(x[i]); break;
      case LT_NEG: for (int64_t i = 0; i < w.len; i++) o[i] = -x[i]; break;
      case LT_RELU: for (int64_t i = 0; i < w.len; i++) o[i] = x[i] > 0 ? x[i] : 0.0f; break;
      default: for (int64_t i = 0; i < w.len; i++) o[i] = apply_unop(x[i], op); break;
      }
    } else {
      for (int64_t i = 0; i < w.len; i++) o[i * s[0]] = apply_unop(x[i * s[1]], op);
    }
  }
  return LT_OK;
}

lt_status lt_tensor_clamp(lt_tensor *out, const lt_tensor *a, float lo, float hi) {
  if (!(lo <= hi)) return lt_error(LT_EINVAL, "clamp: lo %g is greater than hi %g", lo, hi);
  if (!lt_tensor_same_shape(out, a)) return shape_error("clamp", out, a);
  walk w;
  float *p[3];
  int64_t s[3];
  walk_init(&w, 2, out, a, NULL);
  for (int64_t r = 0; r < w.rows; r++) {
    walk_row(&w, r, p, s);
    for (int64_t i = 0; i < w.len; i++) {
      float x = p[1][i * s[1]];
      p[0][i * s[0]] = x < lo ? lo : (x > hi ? hi : x);
    }
  }
  return LT_OK;
}

/* ---- reductions ---- */

double lt_tensor_sum(const lt_tensor *t) {
  walk w;
  float *p[3];
  int64_t s[3];
  double acc = 0;
  walk_init(&w, 1, t, NULL, NULL);
  for (int64_t r = 0; r < w.rows; r++) {
    walk_row(&w, r, p, s);
    for (int64_t i = 0; i < w.len; i++) acc += p[0][i * s[0]];
  }
  return acc;
}

double lt_tensor_mean(const lt_tensor *t) {
  size_t n = lt_tensor_numel(t);
  return n ? lt_tensor_sum(t) / (double)n : NAN;
}

/* Min (sign -1) or max (sign +1) with the flat row-major index of its first occurrence. */
static float extreme(const lt_tensor *t, int sign, int64_t *at) {
  walk w;
  float *p[3];
  int64_t s[3], k = 0;
  float best = NAN;
  *at = -1;
  walk_init(&w, 1, t, NULL, NULL);
  for (int64_t r = 0; r < w.rows; r++) {
    walk_row(&w, r, p, s);
    for (int64_t i = 0; i < w.len; i++, k++) {
      float x = p[0][i * s[0]];
      if (*at < 0 || (sign > 0 ? x > best : x < best)) {
        best = x;
        *at = k;
      }
    }
  }
  return best;
}

float lt_tensor_min(const lt_tensor *t) {
  int64_t at;
  return extreme(t, -1, &at);
}

float lt_tensor_max(const lt_tensor *t) {
  int64_t at;
  return extreme(t, 1, &at);
}

int64_t lt_tensor_argmax(const lt_tensor *t) {
  int64_t at;
  extreme(t, 1, &at);
  return at;
}

static float reduce_line(const float *p, int64_t st, int64_t n, lt_reduce op) {
  if (op == LT_RSUM || op == LT_RMEAN) {
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += p[i * st];
    return op == LT_RSUM ? (float)acc : (n ? (float)(acc / n) : NAN);
  }
  float best = NAN;
  int64_t at = -1;
  for (int64_t i = 0; i < n; i++) {
    float x = p[i * st];
    if (at < 0 || (op == LT_RMIN ? x < best : x > best)) {
      best = x;
      at = i;
    }
  }
  return op == LT_RARGMAX ? (float)at : best;
}

lt_tensor *lt_tensor_reduce_dim(const lt_tensor *t, int dim, lt_reduce op) {
  char buf[96];
  if (dim < 0 || dim >= t->ndim) {
    lt_error(LT_ERANGE, "reduce: dim %d out of range for shape %s", dim, lt_tensor_shape_str(t, buf, sizeof buf));
    return NULL;
  }
  if ((unsigned)op > LT_RARGMAX) {
    lt_error(LT_EINVAL, "reduce: unknown op %d", (int)op);
    return NULL;
  }
  /* the kept dims, padded to 3 (leading size-1 dims) */
  int64_t ks[3] = {1, 1, 1}, kst[3] = {0, 0, 0}, oshape[LT_MAXDIM];
  int nk = 0;
  for (int d = 0; d < t->ndim; d++)
    if (d != dim) oshape[nk++] = t->shape[d];
  for (int d = 0, j = 3 - nk; d < t->ndim; d++)
    if (d != dim) {
      ks[j] = t->shape[d];
      kst[j++] = t->stride[d];
    }
  if (nk == 0) oshape[nk++] = 1;
  lt_tensor *out = lt_tensor_new(nk, oshape);
  if (!out) return NULL;
  float *o = lt_tensor_data(out);
  const float *base = lt_tensor_data(t);
  int64_t rn = t->shape[dim], rs = t->stride[dim];
  double *acc = NULL;
  if ((op == LT_RSUM || op == LT_RMEAN) && kst[2] == 1 && ks[2] > 1 && (acc = malloc((size_t)ks[2] * sizeof *acc))) {
    /* summing over an outer dim: add whole unit-stride rows, cache-friendly */
    for (int64_t i0 = 0; i0 < ks[0]; i0++)
      for (int64_t i1 = 0; i1 < ks[1]; i1++) {
        for (int64_t i2 = 0; i2 < ks[2]; i2++) acc[i2] = 0;
        const float *row = base + i0 * kst[0] + i1 * kst[1];
        for (int64_t r = 0; r < rn; r++, row += rs)
          for (int64_t i2 = 0; i2 < ks[2]; i2++) acc[i2] += row[i2];
        for (int64_t i2 = 0; i2 < ks[2]; i2++)
          *o++ = op == LT_RSUM ? (float)acc[i2] : (rn ? (float)(acc[i2] / rn) : NAN);
      }
    free(acc);
    return out;
  }
  for (int64_t i0 = 0; i0 < ks[0]; i0++)
    for (int64_t i1 = 0; i1 < ks[1]; i1++)
      for (int64_t i2 = 0; i2 < ks[2]; i2++)
        *o++ = reduce_line(base + i0 * kst[0] + i1 * kst[1] + i2 * kst[2], rs, rn, op);
  return out;
}

/* ---- creation through the ops above (the rest is in tensor.c) ---- */

lt_tensor *lt_tensor_full(int ndim, const int64_t *shape, float v) {
  lt_tensor *t = lt_tensor_new(ndim, shape);
  if (t && v != 0.0f) lt_tensor_fill(t, v);
  return t;
}

lt_tensor *lt_tensor_clone(const lt_tensor *t) {
  lt_tensor *c = lt_tensor_new(t->ndim, t->shape);
  if (c) lt_tensor_copy(c, t);
  return c;
}

lt_tensor *lt_tensor_contiguous(lt_tensor *t) {
  return lt_tensor_is_contiguous(t) ? lt_tensor_retain(t) : lt_tensor_clone(t);
}

int64_t lt_count_nonzero(const float *x, size_t n) {
  int64_t c = 0;
  for (size_t i = 0; i < n; i++) c += x[i] != 0.0f;
  return c;
}
