/* nn_concat.c: the dense connection out = cat(x, body(x)) along channels
 * (the first per-sample axis), as in DenseNet's dense layers (Huang et al.
 * 2017): a dense block is a sequential of these, each adding its body's
 * growth-rate channels. The body must keep the other axes. Owns its body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct {
  lt_layer *body;
  int64_t cin, cb, inner; // channels of x and of body(x), floats per channel
  lt_tensor *y, *dx, *dyb; // dyb: the body's part of dy, gathered contiguous
} concat;

static lt_status concat_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                              const lt_layer **producer) {
  concat *p = l->priv;
  const lt_layer *pb = *producer;
  int nb = 0;
  int64_t ob[LT_MAXDIM];
  if (ndim < 1) return lt_layer_shape_error(l, "(C, ...)", *producer, ndim, in);
  lt_status st = lt_build_child(b, p->body, ndim, in, &nb, ob, &pb);
  if (st) return st;
  int same = nb == ndim;
  for (int i = 1; same && i < nb; i++) same = ob[i] == in[i];
  if (!same) {
    char s1[96], s2[96];
    return lt_error(LT_ESHAPE, "%s (concat): the body turns %s into %s; it must keep every axis but the channels",
                    l->name, lt_shape_format(ndim, in, s1, sizeof s1), lt_shape_format(nb, ob, s2, sizeof s2));
  }
  p->cin = in[0], p->cb = ob[0], p->inner = 1;
  for (int i = 1; i < ndim; i++) p->inner *= in[i];
  *out_ndim = ndim;
  memcpy(out, in, sizeof(int64_t) * ndim);
  out[0] = p->cin + p->cb;
  *producer = l;
  return LT_OK;
}

static lt_status concat_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  concat *p = l->priv;
  lt_tensor *yb = NULL;
  lt_status st = p->body->ops->forward(p->body, x, &yb, train);
  if (st) return st;
  int64_t s[LT_MAXDIM];
  memcpy(s, x->shape, sizeof(int64_t) * x->ndim);
  s[1] = p->cin + p->cb;
  if ((st = lt_layer_buffer(&p->y, x->ndim, s))) return st;
  size_t B = (size_t)x->shape[0], nx = (size_t)(p->cin * p->inner), nb = (size_t)(p->cb * p->inner);
  const float *a = lt_tensor_data(x), *c = lt_tensor_data(yb);
  float *o = lt_tensor_data(p->y);
  for (size_t i = 0; i < B; i++) {
    memcpy(o + i * (nx + nb), a + i * nx, sizeof(float) * nx);
    memcpy(o + i * (nx + nb) + nx, c + i * nb, sizeof(float) * nb);
  }
  *y = p->y;
  return LT_OK;
}

static lt_status concat_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  concat *p = l->priv;
  size_t B = (size_t)dy->shape[0], nx = (size_t)(p->cin * p->inner), nb = (size_t)(p->cb * p->inner);
  int64_t sb[LT_MAXDIM], sx[LT_MAXDIM];
  memcpy(sb, dy->shape, sizeof(int64_t) * dy->ndim);
  memcpy(sx, dy->shape, sizeof(int64_t) * dy->ndim);
  sb[1] = p->cb, sx[1] = p->cin;
  lt_status st = lt_layer_buffer(&p->dyb, dy->ndim, sb);
  if (st) return st;
  lt_tensor *dyb = p->dyb;
  const float *g = lt_tensor_data(dy);
  float *gb = lt_tensor_data(dyb);
  for (size_t i = 0; i < B; i++) memcpy(gb + i * nb, g + i * (nx + nb) + nx, sizeof(float) * nb);
  lt_tensor *dxb = NULL;
  if ((st = p->body->ops->backward(p->body, dyb, &dxb, need_dx)) || !need_dx) return st;
  if ((st = lt_layer_buffer(&p->dx, dy->ndim, sx))) return st;
  const float *db = lt_tensor_data(dxb);
  float *d = lt_tensor_data(p->dx);
  for (size_t i = 0; i < B; i++)
    for (size_t j = 0; j < nx; j++) d[i * nx + j] = g[i * (nx + nb) + j] + db[i * nx + j];
  *dx = p->dx;
  return LT_OK;
}

static int concat_describe(const lt_layer *l, char *buf, size_t n) {
  const concat *p = l->priv;
  return snprintf(buf, n, "Concat(%lld + %lld channels)", (long long)p->cin, (long long)p->cb);
}
static int concat_nchildren(const lt_layer *l) { return 1; }
static lt_layer *concat_child(const lt_layer *l, int i) { return ((const concat *)l->priv)->body; }

static void concat_free(lt_layer *l) {
  concat *p = l->priv;
  if (!p) return;
  lt_layer_free(p->body);
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  lt_tensor_release(p->dyb);
  free(p);
}

static lt_layer *concat_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const none[] = {NULL};
  if (lt_config_keys(c, "concat", none) ||
      (nchildren != 1 && lt_error(LT_EINVAL, "concat: needs exactly one child (the body), got %d", nchildren))) {
    for (int i = 0; i < nchildren; i++) lt_layer_free(children[i]);
    return NULL;
  }
  return lt_concat_new(children[0]);
}

// prefix NULL: named by position, like residual blocks, and scoping the body's layers
const lt_layer_ops lt_concat_ops = {
    .kind = "concat", .prefix = NULL, .is_container = 1, .build = concat_build,
    .forward = concat_forward, .backward = concat_backward, .describe = concat_describe,
    .nchildren = concat_nchildren, .child = concat_child, .free = concat_free,
    .from_config = concat_from_config, .join = LT_JOIN_CAT,
};

lt_layer *lt_concat_new(lt_layer *body) {
  concat *p = body ? calloc(1, sizeof *p) : NULL;
  if (!p) {
    lt_layer_free(body);
    if (!body) lt_error(LT_EINVAL, "concat: the body is NULL");
    else lt_error(LT_ENOMEM, "out of memory allocating concat");
    return NULL;
  }
  p->body = body;
  lt_layer *l = lt_layer_alloc(&lt_concat_ops, p);
  if (!l) lt_layer_free(body);
  return l;
}
