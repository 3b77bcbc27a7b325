/* nn_residual.c: the basic residual block out = relu(body(x) + shortcut(x)),
 * shortcut = identity or a projection (1x1 conv with stride [+ batchnorm]),
 * as in CIFAR ResNet-20 (He et al. 2016, option B). Owns body and shortcut. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct {
  lt_layer *body, *shortcut; // shortcut NULL: identity
  lt_tensor *y, *dpre, *dx;
} residual;

static lt_status residual_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                                const lt_layer **producer) {
  residual *p = l->priv;
  const lt_layer *pb = *producer, *ps = *producer;
  int nb = 0, ns = ndim;
  int64_t ob[LT_MAXDIM], os[LT_MAXDIM];
  lt_status st = lt_build_child(b, p->body, ndim, in, &nb, ob, &pb);
  if (st) return st;
  memcpy(os, in, sizeof(int64_t) * ndim);
  if (p->shortcut && (st = lt_build_child(b, p->shortcut, ndim, in, &ns, os, &ps))) return st;
  int same = nb == ns;
  for (int i = 0; same && i < nb; i++) same = ob[i] == os[i];
  if (!same) {
    char s1[96], s2[96];
    return lt_error(LT_ESHAPE, "%s (residual): the body produces %s but the %s shortcut produces %s; use a projection shortcut",
                    l->name, lt_shape_format(nb, ob, s1, sizeof s1), p->shortcut ? "projection" : "identity",
                    lt_shape_format(ns, os, s2, sizeof s2));
  }
  *out_ndim = nb;
  memcpy(out, ob, sizeof(int64_t) * nb);
  *producer = l;
  return LT_OK;
}

static lt_status residual_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  residual *p = l->priv;
  lt_tensor *yb = NULL, *ys = (lt_tensor *)x;
  lt_status st = p->body->ops->forward(p->body, x, &yb, train);
  if (st) return st;
  if (p->shortcut && (st = p->shortcut->ops->forward(p->shortcut, x, &ys, train))) return st;
  if ((st = lt_layer_buffer(&p->y, yb->ndim, yb->shape))) return st;
  const float *a = lt_tensor_data(yb), *s = lt_tensor_data(ys);
  float *o = lt_tensor_data(p->y);
  size_t n = lt_tensor_numel(yb);
  for (size_t i = 0; i < n; i++) {
    float v = a[i] + s[i];
    o[i] = v > 0.0f ? v : 0.0f;
  }
  *y = p->y;
  return LT_OK;
}

static lt_status residual_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  residual *p = l->priv;
  lt_status st = lt_layer_buffer(&p->dpre, dy->ndim, dy->shape);
  if (st) return st;
  const float *g = lt_tensor_data(dy), *o = lt_tensor_data(p->y);
  float *dp = lt_tensor_data(p->dpre);
  size_t n = lt_tensor_numel(dy);
  for (size_t i = 0; i < n; i++) dp[i] = o[i] > 0.0f ? g[i] : 0.0f;
  lt_tensor *dxb = NULL, *dxs = p->dpre;
  if ((st = p->body->ops->backward(p->body, p->dpre, &dxb, need_dx))) return st;
  if (p->shortcut && (st = p->shortcut->ops->backward(p->shortcut, p->dpre, &dxs, need_dx))) return st;
  if (!need_dx) return LT_OK;
  if ((st = lt_layer_buffer(&p->dx, dxb->ndim, dxb->shape))) return st;
  const float *a = lt_tensor_data(dxb), *s = lt_tensor_data(dxs);
  float *d = lt_tensor_data(p->dx);
  size_t m = lt_tensor_numel(dxb);
  for (size_t i = 0; i < m; i++) d[i] = a[i] + s[i];
  *dx = p->dx;
  return LT_OK;
}

static int residual_describe(const lt_layer *l, char *buf, size_t n) {
  const residual *p = l->priv;
  return snprintf(buf, n, "Residual%s", p->shortcut ? "" : " (identity shortcut)");
}
static int residual_nchildren(const lt_layer *l) { return ((const residual *)l->priv)->shortcut ? 2 : 1; }
static lt_layer *residual_child(const lt_layer *l, int i) {
  const residual *p = l->priv;
  return i == 0 ? p->body : p->shortcut;
}

static void residual_free(lt_layer *l) {
  residual *p = l->priv;
  if (!p) return;
  lt_layer_free(p->body);
  lt_layer_free(p->shortcut);
  lt_tensor_release(p->y);
  lt_tensor_release(p->dpre);
  lt_tensor_release(p->dx);
  free(p);
}

// prefix NULL: residual blocks are named by position ("layer1.0") and scope their children
// children: body [, shortcut]
static lt_layer *residual_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const none[] = {NULL};
  if (lt_config_keys(c, "residual", none) ||
      ((nchildren < 1 || nchildren > 2) &&
       lt_error(LT_EINVAL, "residual: needs a body and at most a shortcut (1 or 2 children), got %d", nchildren))) {
    for (int i = 0; i < nchildren; i++) lt_layer_free(children[i]);
    return NULL;
  }
  return lt_residual_new(children[0], nchildren == 2 ? children[1] : NULL);
}

const lt_layer_ops lt_residual_ops = {
    .kind = "residual", .prefix = NULL, .is_container = 1, .build = residual_build,
    .forward = residual_forward, .backward = residual_backward, .describe = residual_describe,
    .nchildren = residual_nchildren, .child = residual_child, .free = residual_free,
    .from_config = residual_from_config, .join = LT_JOIN_ADD,
};

lt_layer *lt_residual_new(lt_layer *body, lt_layer *shortcut) {
  residual *p = body ? calloc(1, sizeof *p) : NULL;
  if (!p) {
    lt_layer_free(body);
    lt_layer_free(shortcut);
    if (!body) lt_error(LT_EINVAL, "residual: the body is NULL");
    else lt_error(LT_ENOMEM, "out of memory allocating residual");
    return NULL;
  }
  if (shortcut && !shortcut->user_named) lt_layer_set_name(shortcut, "shortcut");
  p->body = body, p->shortcut = shortcut;
  lt_layer *l = lt_layer_alloc(&lt_residual_ops, p);
  if (!l) {
    lt_layer_free(body);
    lt_layer_free(shortcut);
  }
  return l;
}
