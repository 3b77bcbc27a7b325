/* nn_build.c: the build context a model is built with: walks the layer tree
 * once, names every layer ("fc1", "layer1.0.conv1"), and collects the
 * parameters each layer declares, in forward order, for the model to lay out
 * in its flat buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

void lt_build_init(lt_build *b) { memset(b, 0, sizeof *b); }

static int next_count(lt_build *b, const char *prefix) {
  for (int i = 0; i < b->ncnt; i++)
    if (!strcmp(b->cnt[i].prefix, prefix)) return ++b->cnt[i].count;
  if (b->ncnt == LT_BUILD_COUNTERS) return 0;
  b->cnt[b->ncnt].prefix = prefix;
  b->cnt[b->ncnt].count = 1;
  return b->cnt[b->ncnt++].count;
}

lt_status lt_build_param(lt_build *b, lt_layer *l, const char *suffix, int ndim, const int64_t *shape, int prunable,
                         int trainable) {
  lt_param **arr = trainable ? &b->params : &b->bufs;
  int *n = trainable ? &b->np : &b->nb, *cap = trainable ? &b->capp : &b->capb;
  if (*n == *cap) {
    int nc = *cap ? 2 * *cap : 16;
    lt_param *na = realloc(*arr, sizeof(lt_param) * nc);
    if (!na) return lt_error(LT_ENOMEM, "out of memory declaring %s.%s", l->name, suffix);
    *arr = na, *cap = nc;
  }
  lt_param *p = &(*arr)[(*n)++];
  memset(p, 0, sizeof *p);
  int w = l->name[0] ? snprintf(p->name, sizeof p->name, "%s.%s", l->name, suffix)
                     : snprintf(p->name, sizeof p->name, "%s", suffix);
  if (w >= (int)sizeof p->name) return lt_error(LT_EINVAL, "parameter name %s.%s is too long", l->name, suffix);
  p->kind = l->ops->kind;
  p->prunable = prunable && trainable;
  p->ndim = ndim;
  p->numel = 1;
  for (int i = 0; i < ndim; i++) p->shape[i] = shape[i], p->numel *= (size_t)shape[i];
  p->layer = l;
  return b->check ? b->check(b->check_ctx, p, trainable) : LT_OK;
}

void lt_build_set_init(lt_build *b, int trainable, float value) {
  lt_param *arr = trainable ? b->params : b->bufs;
  int n = trainable ? b->np : b->nb;
  if (n > 0) arr[n - 1].init = value;
}

void lt_build_set_drawn(lt_build *b) {
  if (b->np > 0) b->params[b->np - 1].drawn = 1;
}

lt_status lt_build_dense(lt_build *b, lt_layer *l, int in, int out, int bias, int ndim, const int64_t *in_shape,
                         int *out_ndim, int64_t *out_shape, const lt_layer **producer) {
  lt_status st = lt_layer_expect_features(l, in, *producer, ndim, in_shape);
  if (st) return st;
  int64_t ws[2] = {out, in}, bs[1] = {out};
  st = lt_build_param(b, l, "weight", 2, ws, 1, 1);
  if (!st && bias) st = lt_build_param(b, l, "bias", 1, bs, 0, 1);
  *out_ndim = 1;
  out_shape[0] = out;
  *producer = l;
  return st;
}

lt_status lt_build_child(lt_build *b, lt_layer *l, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                         const lt_layer **producer) {
  const lt_layer_ops *o = l->ops;
  char full[LT_NAME_MAX];
  int scoped = 0, w;
  if (l->user_named) {
    w = snprintf(full, sizeof full, "%s%s", b->scope, l->name);
    scoped = o->is_container;
  } else if (o->is_container && !o->prefix) { // residual blocks: numbered 0, 1, ... within their scope
    w = snprintf(full, sizeof full, "%s%d", b->scope, next_count(b, "#") - 1);
    scoped = 1;
  } else if (o->is_container) { // a plain sequential is transparent for naming
    w = snprintf(full, sizeof full, "%.*s", b->scope[0] ? (int)strlen(b->scope) - 1 : 0, b->scope);
  } else {
    w = snprintf(full, sizeof full, "%s%s%d", b->scope, o->prefix, next_count(b, o->prefix));
  }
  if (w >= (int)sizeof full) return lt_error(LT_EINVAL, "layer name %s... is too long", full);
  memcpy(l->name, full, sizeof full);

  l->in_ndim = ndim;
  memcpy(l->in_shape, in, sizeof(int64_t) * ndim);
  int np0 = b->np;
  lt_status st;
  if (scoped) {
    char scope[LT_NAME_MAX];
    __typeof__(b->cnt) cnt;
    int ncnt = b->ncnt;
    memcpy(scope, b->scope, sizeof scope);
    memcpy(cnt, b->cnt, sizeof cnt);
    if (snprintf(b->scope, sizeof b->scope, "%s.", full) >= (int)sizeof b->scope)
      return lt_error(LT_EINVAL, "layer name %s is too long", full);
    b->ncnt = 0;
    st = o->build(l, b, ndim, in, out_ndim, out, producer);
    memcpy(b->scope, scope, sizeof scope);
    memcpy(b->cnt, cnt, sizeof cnt);
    b->ncnt = ncnt;
  } else {
    st = o->build(l, b, ndim, in, out_ndim, out, producer);
  }
  if (st) return st;
  l->out_ndim = *out_ndim;
  memcpy(l->out_shape, out, sizeof(int64_t) * *out_ndim);
  l->has_params = b->np > np0;
  return LT_OK;
}

