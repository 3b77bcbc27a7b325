/* nn_relu.c: the rectifier y = max(x, 0), elementwise on any shape.
 * Backward reads the cached output: dx = dy where y > 0, else 0. */
#include <stdio.h>
#include <stdlib.h>

#include "lotto/nn.h"

typedef struct {
  lt_tensor *y, *dx;
} relu;

static lt_status relu_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                            const lt_layer **producer) {
  *out_ndim = ndim;
  for (int i = 0; i < ndim; i++) out[i] = in[i];
  return LT_OK; // shape-preserving: the producer stays the layer that made the shape
}

static lt_status relu_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  relu *p = l->priv;
  lt_status st = lt_layer_buffer(&p->y, x->ndim, x->shape);
  if (st) return st;
  const float *a = lt_tensor_data(x);
  float *o = lt_tensor_data(p->y);
  size_t n = lt_tensor_numel(x);
  for (size_t i = 0; i < n; i++) o[i] = a[i] > 0.0f ? a[i] : 0.0f;
  *y = p->y;
  return LT_OK;
}

static lt_status relu_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  relu *p = l->priv;
  if (!need_dx) return LT_OK;
  lt_status st = lt_layer_buffer(&p->dx, dy->ndim, dy->shape);
  if (st) return st;
  const float *g = lt_tensor_data(dy), *o = lt_tensor_data(p->y);
  float *d = lt_tensor_data(p->dx);
  size_t n = lt_tensor_numel(dy);
  for (size_t i = 0; i < n; i++) d[i] = o[i] > 0.0f ? g[i] : 0.0f;
  *dx = p->dx;
  return LT_OK;
}

static int relu_describe(const lt_layer *l, char *buf, size_t n) { return snprintf(buf, n, "ReLU"); }

static void relu_free(lt_layer *l) {
  relu *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  free(p);
}

static const lt_layer_ops relu_ops = {
    .kind = "relu", .prefix = "relu", .build = relu_build, .forward = relu_forward,
    .backward = relu_backward, .describe = relu_describe, .free = relu_free,
};

lt_layer *lt_relu_new(void) {
  relu *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating relu");
    return NULL;
  }
  return lt_layer_alloc(&relu_ops, p);
}
