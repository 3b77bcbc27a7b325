/* tensor.c: tensor lifetime, storage, views (narrow/select/reshape/view),
 * creation (full/arange/randn/rand/clone/contiguous), element access and copies.
 * Arithmetic lives in tensor_ops.c, printing in tensor_print.c, GEMM in gemm.c. */
#include "lotto/tensor.h"
#include "core/pool.h" /* lt_floats_alloc */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A refusal well before size_t arithmetic can overflow (2^36 floats = 256 GiB). */
#define LT_MAXNUMEL ((int64_t)1 << 36)

static lt_storage *storage_new(size_t n) {
  lt_storage *s = malloc(sizeof *s);
  if (!s) return NULL;
  size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
  if (bytes == 0) bytes = 64;
  if (!(s->data = lt_floats_alloc(n))) {
    free(s);
    return NULL;
  }
  memset(s->data, 0, bytes);
  s->n = n;
  s->refcount = 1;
  return s;
}

static void storage_release(lt_storage *s) {
  if (s && --s->refcount == 0) {
    free(s->data);
    free(s);
  }
}

/* Validates a shape; returns its element count or -1 with lt_errmsg set. */
static int64_t shape_numel(int ndim, const int64_t *shape, const char *what) {
  if (ndim < 1 || ndim > LT_MAXDIM) {
    lt_error(LT_EINVAL, "%s: %d dimensions (a tensor has 1 to %d)", what, ndim, LT_MAXDIM);
    return -1;
  }
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) {
      lt_error(LT_EINVAL, "%s: size %lld of dim %d is negative", what, (long long)shape[d], d);
      return -1;
    }
    if (shape[d] > LT_MAXNUMEL || (shape[d] > 0 && n > LT_MAXNUMEL / shape[d])) {
      char buf[128];
      lt_shape_format(ndim, shape, buf, sizeof buf);
      lt_error(LT_ENOMEM, "%s: shape %s is too large (more than 2^36 elements)", what, buf);
      return -1;
    }
    n *= shape[d];
  }
  return n;
}

/* A tensor struct over storage s (retained), contiguous strides from offset off. */
static lt_tensor *tensor_wrap(lt_storage *s, size_t off, int ndim, const int64_t *shape) {
  lt_tensor *t = calloc(1, sizeof *t);
  if (!t) {
    lt_error(LT_ENOMEM, "tensor: out of memory");
    return NULL;
  }
  t->ndim = ndim;
  int64_t st = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    t->shape[d] = shape[d];
    t->stride[d] = st;
    st *= shape[d];
  }
  t->offset = off;
  t->storage = s;
  s->refcount++;
  t->refcount = 1;
  return t;
}

lt_tensor *lt_tensor_new(int ndim, const int64_t *shape) {
  int64_t n = shape_numel(ndim, shape, "tensor");
  if (n < 0) return NULL;
  lt_storage *s = storage_new((size_t)n);
  if (!s) {
    char buf[128];
    lt_shape_format(ndim, shape, buf, sizeof buf);
    lt_error(LT_ENOMEM, "tensor: out of memory allocating shape %s", buf);
    return NULL;
  }
  lt_tensor *t = tensor_wrap(s, 0, ndim, shape);
  storage_release(s); /* t holds the only reference (or none on failure) */
  return t;
}

lt_tensor *lt_tensor_new1(int64_t n0) { return lt_tensor_new(1, &n0); }
lt_tensor *lt_tensor_new2(int64_t n0, int64_t n1) {
  int64_t s[2] = {n0, n1};
  return lt_tensor_new(2, s);
}

lt_tensor *lt_tensor_retain(lt_tensor *t) {
  if (t) t->refcount++;
  return t;
}

void lt_tensor_release(lt_tensor *t) {
  if (t && --t->refcount == 0) {
    storage_release(t->storage);
    free(t);
  }
}

size_t lt_tensor_numel(const lt_tensor *t) {
  size_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
  return n;
}

int lt_tensor_is_contiguous(const lt_tensor *t) {
  int64_t st = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != st) return 0;
    st *= t->shape[d];
  }
  return 1;
}

int lt_tensor_same_shape(const lt_tensor *a, const lt_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return 0;
  return 1;
}

char *lt_shape_format(int ndim, const int64_t *shape, char *buf, size_t n) {
  size_t k = 0;
  if (n == 0) return buf;
  buf[0] = '\0';
  k += snprintf(buf + k, n - k, "(");
  for (int d = 0; d < ndim && k < n; d++)
    k += snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)shape[d]);
  if (k < n) snprintf(buf + k, n - k, ")");
  return buf;
}

char *lt_tensor_shape_str(const lt_tensor *t, char *buf, size_t n) {
  return lt_shape_format(t->ndim, t->shape, buf, n);
}

/* ---- views ---- */

static lt_tensor *view_of(lt_tensor *t) {
  lt_tensor *v = malloc(sizeof *v);
  if (!v) {
    lt_error(LT_ENOMEM, "tensor: out of memory");
    return NULL;
  }
  *v = *t;
  v->refcount = 1;
  v->storage->refcount++;
  return v;
}

lt_tensor *lt_tensor_narrow(lt_tensor *t, int dim, int64_t start, int64_t len) {
  char buf[96];
  if (dim < 0 || dim >= t->ndim) {
    lt_error(LT_ERANGE, "narrow: dim %d out of range for shape %s", dim, lt_tensor_shape_str(t, buf, sizeof buf));
    return NULL;
  }
  if (start < 0 || len < 0 || start > t->shape[dim] || len > t->shape[dim] - start) {
    lt_error(LT_ERANGE, "narrow: [%lld, %lld) out of range for dim %d of size %lld in shape %s", (long long)start,
             (long long)(start + len), dim, (long long)t->shape[dim], lt_tensor_shape_str(t, buf, sizeof buf));
    return NULL;
  }
  lt_tensor *v = view_of(t);
  if (!v) return NULL;
  v->offset += (size_t)(start * t->stride[dim]);
  v->shape[dim] = len;
  return v;
}

lt_tensor *lt_tensor_select(lt_tensor *t, int dim, int64_t index) {
  char buf[96];
  if (t->ndim == 1) {
    lt_error(LT_EINVAL, "select: cannot drop the only dim of a 1-D tensor %s (use get)", lt_tensor_shape_str(t, buf, sizeof buf));
    return NULL;
  }
  if (dim < 0 || dim >= t->ndim) {
    lt_error(LT_ERANGE, "select: dim %d out of range for shape %s", dim, lt_tensor_shape_str(t, buf, sizeof buf));
    return NULL;
  }
  if (index < 0 || index >= t->shape[dim]) {
    lt_error(LT_ERANGE, "select: index %lld out of range for dim %d of size %lld in shape %s", (long long)index, dim,
             (long long)t->shape[dim], lt_tensor_shape_str(t, buf, sizeof buf));
    return NULL;
  }
  lt_tensor *v = view_of(t);
  if (!v) return NULL;
  v->offset += (size_t)(index * t->stride[dim]);
  for (int d = dim; d < t->ndim - 1; d++) {
    v->shape[d] = t->shape[d + 1];
    v->stride[d] = t->stride[d + 1];
  }
  v->ndim--;
  v->shape[v->ndim] = 0;
  v->stride[v->ndim] = 0;
  return v;
}

lt_tensor *lt_tensor_transpose(lt_tensor *t, int d0, int d1) {
  char buf[96];
  if (d0 < 0 || d0 >= t->ndim || d1 < 0 || d1 >= t->ndim) {
    lt_error(LT_ERANGE, "transpose: dims %d and %d out of range for shape %s", d0, d1,
             lt_tensor_shape_str(t, buf, sizeof buf));
    return NULL;
  }
  lt_tensor *v = view_of(t);
  if (!v) return NULL;
  v->shape[d0] = t->shape[d1], v->shape[d1] = t->shape[d0];
  v->stride[d0] = t->stride[d1], v->stride[d1] = t->stride[d0];
  return v;
}

lt_tensor *lt_tensor_reshape(lt_tensor *t, int ndim, const int64_t *shape) {
  char b1[96], b2[96];
  if (ndim < 1 || ndim > LT_MAXDIM) {
    lt_error(LT_EINVAL, "reshape: %d dimensions (a tensor has 1 to %d)", ndim, LT_MAXDIM);
    return NULL;
  }
  int64_t s[LT_MAXDIM], known = 1;
  int free_dim = -1;
  for (int d = 0; d < ndim; d++) {
    s[d] = shape[d];
    if (shape[d] == -1 && free_dim < 0) {
      free_dim = d;
      continue;
    }
    if (shape[d] < 0) {
      lt_error(LT_EINVAL, "reshape: bad target shape %s (sizes must be >= 0, one -1 allowed)",
               lt_shape_format(ndim, shape, b2, sizeof b2));
      return NULL;
    }
    if (shape[d] > LT_MAXNUMEL || (shape[d] > 0 && known > LT_MAXNUMEL / shape[d])) {
      /* refused before the product can overflow int64 (UB) */
      lt_error(LT_ESHAPE, "reshape: target shape %s is too large (more than 2^36 elements)",
               lt_shape_format(ndim, shape, b2, sizeof b2));
      return NULL;
    }
    known *= shape[d];
  }
  int64_t n = (int64_t)lt_tensor_numel(t);
  if (free_dim >= 0) {
    if (known == 0 || n % known != 0) {
      lt_error(LT_ESHAPE, "reshape: cannot reshape %s (%lld elements) to %s", lt_tensor_shape_str(t, b1, sizeof b1),
               (long long)n, lt_shape_format(ndim, shape, b2, sizeof b2));
      return NULL;
    }
    s[free_dim] = n / known;
  }
  if (shape_numel(ndim, s, "reshape") != n) {
    lt_error(LT_ESHAPE, "reshape: cannot reshape %s (%lld elements) to %s", lt_tensor_shape_str(t, b1, sizeof b1),
             (long long)n, lt_shape_format(ndim, shape, b2, sizeof b2));
    return NULL;
  }
  if (!lt_tensor_is_contiguous(t)) {
    lt_error(LT_EINVAL, "reshape: tensor %s is not contiguous (call contiguous() first)", lt_tensor_shape_str(t, b1, sizeof b1));
    return NULL;
  }
  return tensor_wrap(t->storage, t->offset, ndim, s);
}

lt_tensor *lt_tensor_view(lt_tensor *t, size_t off, int ndim, const int64_t *shape) {
  char b1[96], b2[96];
  int64_t n = shape_numel(ndim, shape, "view");
  if (n < 0) return NULL;
  if (!lt_tensor_is_contiguous(t)) {
    lt_error(LT_EINVAL, "view: tensor %s is not contiguous", lt_tensor_shape_str(t, b1, sizeof b1));
    return NULL;
  }
  if (off > lt_tensor_numel(t) || (size_t)n > lt_tensor_numel(t) - off) {
    lt_error(LT_ERANGE, "view: %s at offset %zu does not fit in tensor %s", lt_shape_format(ndim, shape, b2, sizeof b2),
             off, lt_tensor_shape_str(t, b1, sizeof b1));
    return NULL;
  }
  return tensor_wrap(t->storage, t->offset + off, ndim, shape);
}

/* ---- creation (filled ones, clone and contiguous: tensor_ops.c) ---- */

lt_tensor *lt_tensor_arange(float start, float stop, float step) {
  if (step == 0.0f || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
    lt_error(LT_EINVAL, "arange: bad range start=%g stop=%g step=%g (step must be nonzero, all finite)", start, stop, step);
    return NULL;
  }
  double len = ceil(((double)stop - start) / step);
  if (len < 0) len = 0;
  if (len > (double)LT_MAXNUMEL) {
    lt_error(LT_ENOMEM, "arange: %g elements is too many", len);
    return NULL;
  }
  lt_tensor *t = lt_tensor_new1((int64_t)len);
  if (!t) return NULL;
  float *p = lt_tensor_data(t);
  for (int64_t i = 0; i < (int64_t)len; i++) p[i] = (float)(start + (double)i * step);
  return t;
}

lt_tensor *lt_tensor_randn(int ndim, const int64_t *shape, lt_rng *r, float mean, float std) {
  lt_tensor *t = lt_tensor_new(ndim, shape);
  if (!t) return NULL;
  float *p = lt_tensor_data(t);
  size_t n = lt_tensor_numel(t);
  for (size_t i = 0; i < n; i++) p[i] = mean + std * lt_rng_normal(r);
  return t;
}

lt_tensor *lt_tensor_rand(int ndim, const int64_t *shape, lt_rng *r, float lo, float hi) {
  lt_tensor *t = lt_tensor_new(ndim, shape);
  if (!t) return NULL;
  float *p = lt_tensor_data(t);
  size_t n = lt_tensor_numel(t);
  for (size_t i = 0; i < n; i++) p[i] = lt_rng_uniform(r, lo, hi);
  return t;
}

/* ---- element access ---- */

static size_t elem_offset(const lt_tensor *t, const int64_t *idx) {
  size_t off = t->offset;
  for (int d = 0; d < t->ndim; d++) off += (size_t)(idx[d] * t->stride[d]);
  return off;
}

float lt_tensor_get(const lt_tensor *t, const int64_t *idx) { return t->storage->data[elem_offset(t, idx)]; }
void lt_tensor_set(lt_tensor *t, const int64_t *idx, float v) { t->storage->data[elem_offset(t, idx)] = v; }
