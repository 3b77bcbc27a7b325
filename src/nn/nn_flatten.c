/* nn_flatten.c: (B, ...) -> (B, prod(...)). No copy: the output is a view of
 * the input, kept across batches while the input buffer stays the same. A
 * transposed input (LT_LAYOUT_SAME in nn_impl.h) is (B, F) already and passes
 * through as it is, and so does its gradient. */
#include <stdio.h>
#include <stdlib.h>

#include "nn/nn_impl.h"

typedef struct {
  lt_tensor *y, *dx; // views
} flatten;

static lt_status flatten_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                               const lt_layer **producer) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= in[i];
  *out_ndim = 1;
  out[0] = n;
  *producer = l; // later shape errors should name the flattened shape's maker
  return LT_OK;
}

// *view = t reshaped to (B, n); reuses the cached view when it already is one.
static lt_status reshape_view(lt_tensor **view, const lt_tensor *t, int ndim, const int64_t *shape) {
  lt_tensor *v = *view;
  if (v && v->storage == t->storage && v->offset == t->offset && v->ndim == ndim) {
    int same = 1;
    for (int i = 0; i < ndim; i++) same &= v->shape[i] == shape[i];
    if (same) return LT_OK;
  }
  lt_tensor_release(v);
  *view = lt_tensor_reshape((lt_tensor *)t, ndim, shape);
  return *view ? LT_OK : LT_ENOMEM;
}

static lt_status flatten_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  flatten *p = l->priv;
  if (lt_is_transposed(x)) {
    if (x->shape[1] != l->out_shape[0])
      return lt_error(LT_ESHAPE, "flatten %s: a transposed input has %lld features, not %lld", l->name,
                      (long long)x->shape[1], (long long)l->out_shape[0]);
    *y = (lt_tensor *)x;
    return LT_OK;
  }
  int64_t s[2] = {x->shape[0], l->out_shape[0]};
  lt_status st = reshape_view(&p->y, x, 2, s);
  if (st) return st;
  *y = p->y;
  return LT_OK;
}

static lt_status flatten_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  flatten *p = l->priv;
  if (!need_dx) return LT_OK;
  if (lt_is_transposed(dy)) { // the layout of x, which was (B, F) too
    *dx = (lt_tensor *)dy;
    return LT_OK;
  }
  int64_t s[LT_MAXDIM];
  s[0] = dy->shape[0];
  for (int i = 0; i < l->in_ndim; i++) s[i + 1] = l->in_shape[i];
  lt_status st = reshape_view(&p->dx, dy, l->in_ndim + 1, s);
  if (st) return st;
  *dx = p->dx;
  return LT_OK;
}

static int flatten_describe(const lt_layer *l, char *buf, size_t n) { return snprintf(buf, n, "Flatten"); }

static void flatten_free(lt_layer *l) {
  flatten *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  free(p);
}

static lt_layer *flatten_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const none[] = {NULL};
  return lt_config_keys(c, "flatten", none) ? NULL : lt_flatten_new();
}

const lt_layer_ops lt_flatten_ops = {
    .kind = "flatten", .prefix = "flatten", .build = flatten_build, .forward = flatten_forward,
    .backward = flatten_backward, .describe = flatten_describe, .free = flatten_free, .layout = LT_LAYOUT_SAME,
    .from_config = flatten_from_config,
};

lt_layer *lt_flatten_new(void) {
  flatten *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating flatten");
    return NULL;
  }
  return lt_layer_alloc(&lt_flatten_ops, p);
}
