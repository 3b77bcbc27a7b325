/* nn_layer.c: what every layer shares: allocation and naming, accessors, the
 * cached activation buffers (contiguous and transposed) and shape-error
 * messages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

lt_layer *lt_layer_alloc(const lt_layer_ops *ops, void *priv) {
  lt_layer *l = calloc(1, sizeof *l);
  if (!l) {
    free(priv);
    lt_error(LT_ENOMEM, "out of memory allocating a %s layer", ops->kind);
    return NULL;
  }
  l->ops = ops;
  l->priv = priv;
  return l;
}

void lt_layer_free(lt_layer *l) {
  if (!l) return;
  if (l->ops->free) l->ops->free(l);
  free(l);
}

lt_status lt_layer_set_name(lt_layer *l, const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n >= LT_NAME_MAX / 2) return lt_error(LT_EINVAL, "layer name '%s' must have 1 to %d characters", name, LT_NAME_MAX / 2 - 1);
  if (strchr(name, ' ')) return lt_error(LT_EINVAL, "layer name '%s' must not contain spaces", name);
  memcpy(l->name, name, n + 1);
  memcpy(l->given, name, n + 1);
  l->user_named = 1;
  return LT_OK;
}

const char *lt_layer_name(const lt_layer *l) { return l->name; }
const char *lt_layer_kind(const lt_layer *l) { return l->ops->kind; }
const char *lt_layer_prefix(const lt_layer *l) { return l->ops->prefix; }
int lt_layer_user_named(const lt_layer *l) { return l->user_named; }
int lt_layer_nparams(const lt_layer *l) { return l->nparams; }
const lt_param *lt_layer_param(const lt_layer *l, int i) { return i >= 0 && i < l->nparams ? &l->params[i] : NULL; }
int lt_layer_input_shape(const lt_layer *l, int64_t shape[LT_MAXDIM]) {
  memcpy(shape, l->in_shape, sizeof(int64_t) * l->in_ndim);
  return l->in_ndim;
}
int lt_layer_output_shape(const lt_layer *l, int64_t shape[LT_MAXDIM]) {
  memcpy(shape, l->out_shape, sizeof(int64_t) * l->out_ndim);
  return l->out_ndim;
}
int lt_layer_nchildren(const lt_layer *l) { return l->ops->nchildren ? l->ops->nchildren(l) : 0; }
lt_layer *lt_layer_child(const lt_layer *l, int i) {
  return l->ops->nchildren && i >= 0 && i < l->ops->nchildren(l) ? l->ops->child(l, i) : NULL;
}
int lt_layer_describe(const lt_layer *l, char *buf, size_t n) {
  if (n) buf[0] = '\0';
  return l->ops->describe ? l->ops->describe(l, buf, n) : snprintf(buf, n, "%s", l->ops->kind);
}

double lt_layer_density(const lt_layer *l) {
  size_t kept = 0, n = 0;
  for (int i = 0; i < l->nparams; i++) {
    const lt_param *p = &l->params[i];
    if (!p->prunable) continue;
    const float *mk = lt_tensor_data(p->mask);
    kept += lt_count_nonzero(mk, p->numel);
    n += p->numel;
  }
  return n ? (double)kept / (double)n : 1.0;
}

lt_status lt_layer_buffer(lt_tensor **buf, int ndim, const int64_t *shape) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
  lt_tensor *t = *buf;
  // Reuse the storage while it is large enough and no one else holds the buffer, so
  // alternating batch sizes (a last partial batch, evaluation) allocate only once.
  if (t && t->offset == 0 && t->refcount == 1 && t->storage->refcount == 1 && t->storage->n >= n && n > 0) {
    t->ndim = ndim;
    int64_t st = 1;
    for (int i = ndim - 1; i >= 0; i--) t->shape[i] = shape[i], t->stride[i] = st, st *= shape[i];
    return LT_OK;
  }
  lt_tensor_release(t);
  *buf = lt_tensor_new(ndim, shape);
  return *buf ? LT_OK : LT_ENOMEM;
}

lt_status lt_layer_buffer_t(lt_tensor **buf, int64_t B, int64_t F, int64_t ld) {
  int64_t s[2] = {F, ld};
  lt_status st = lt_layer_buffer(buf, 2, s);
  if (st) return st;
  lt_tensor *t = *buf;
  t->shape[0] = B, t->shape[1] = F;
  t->stride[0] = 1, t->stride[1] = ld;
  return LT_OK;
}


// "linear 300 -> 100" from the describe text "Linear(300 -> 100)".
static void short_what(const lt_layer *l, char *out, size_t n) {
  char d[128] = "";
  if (l->ops->describe) l->ops->describe(l, d, sizeof d);
  char *open = strchr(d, '('), *close = strrchr(d, ')');
  if (open && close && close > open) snprintf(out, n, "%s %.*s", l->ops->kind, (int)(close - open - 1), open + 1);
  else snprintf(out, n, "%s", l->ops->kind);
}

lt_status lt_layer_shape_error(const lt_layer *l, const char *expected, const lt_layer *producer, int ndim,
                               const int64_t *in) {
  char what[128], got[96];
  short_what(l, what, sizeof what);
  lt_shape_format(ndim, in, got, sizeof got);
  if (producer) return lt_error(LT_ESHAPE, "%s (%s) expects input %s but %s produces %s", l->name, what, expected, producer->name, got);
  return lt_error(LT_ESHAPE, "%s (%s) expects input %s but the model input is %s", l->name, what, expected, got);
}

lt_status lt_layer_expect_features(const lt_layer *l, int n, const lt_layer *producer, int ndim, const int64_t *in) {
  if (ndim == 1 && in[0] == n) return LT_OK;
  char e[32];
  snprintf(e, sizeof e, "(%d)", n);
  return lt_layer_shape_error(l, e, producer, ndim, in);
}

/* ---- describe ------------------------------------------------------------- */
