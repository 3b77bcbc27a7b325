/* nn_linear.c: the fully connected layer y = x W^T + b, W (out, in).
 * The three matrix products live in small functions of their own so sparse
 * kernels can take over per layer when the mask (l->params[0].mask) is sparse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/nn.h"

typedef struct {
  int in, out, bias;
  const lt_tensor *x; // input of the last forward (borrowed: the previous layer's cache)
  lt_tensor *y, *dx;  // cached outputs, reallocated only when the batch size changes
} linear;

// y (B, out) = x (B, in) W^T (+ b); W (out, in); b (out) or NULL
static void linear_matmul_forward(float *y, const float *x, const float *W, const float *b, int B, int in, int out) {
  if (b) {
    for (int i = 0; i < B; i++) memcpy(y + (size_t)i * out, b, sizeof(float) * out);
  }
  lt_gemm(0, 1, B, out, in, 1.0f, x, in, W, in, b ? 1.0f : 0.0f, y, out);
}

// dW (out, in) += dy (B, out)^T x (B, in)
static void linear_matmul_weight_grad(float *dW, const float *dy, const float *x, int B, int in, int out) {
  lt_gemm(1, 0, out, in, B, 1.0f, dy, out, x, in, 1.0f, dW, in);
}

// dx (B, in) = dy (B, out) W (out, in)
static void linear_matmul_input_grad(float *dx, const float *dy, const float *W, int B, int in, int out) {
  lt_gemm(0, 0, B, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
}

static lt_status linear_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                              const lt_layer **producer) {
  linear *p = l->priv;
  if (ndim != 1 || in[0] != p->in) {
    char e[32];
    snprintf(e, sizeof e, "(%d)", p->in);
    return lt_layer_shape_error(l, e, *producer, ndim, in);
  }
  int64_t ws[2] = {p->out, p->in}, bs[1] = {p->out};
  lt_status st = lt_build_param(b, l, "weight", 2, ws, 1, 1);
  if (!st && p->bias) st = lt_build_param(b, l, "bias", 1, bs, 0, 1);
  *out_ndim = 1;
  out[0] = p->out;
  *producer = l;
  return st;
}

static lt_status linear_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  linear *p = l->priv;
  int B = (int)x->shape[0];
  int64_t ys[2] = {B, p->out};
  lt_status st = lt_layer_buffer(&p->y, 2, ys);
  if (st) return st;
  p->x = x;
  linear_matmul_forward(lt_tensor_data(p->y), lt_tensor_data(x), lt_tensor_data(l->params[0].value),
                        p->bias ? lt_tensor_data(l->params[1].value) : NULL, B, p->in, p->out);
  *y = p->y;
  return LT_OK;
}

static lt_status linear_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  linear *p = l->priv;
  int B = (int)dy->shape[0];
  const float *g = lt_tensor_data(dy);
  linear_matmul_weight_grad(lt_tensor_data(l->params[0].grad), g, lt_tensor_data(p->x), B, p->in, p->out);
  if (p->bias) {
    float *db = lt_tensor_data(l->params[1].grad);
    for (int i = 0; i < B; i++) {
      const float *r = g + (size_t)i * p->out;
      for (int j = 0; j < p->out; j++) db[j] += r[j];
    }
  }
  if (!need_dx) return LT_OK;
  int64_t xs[2] = {B, p->in};
  lt_status st = lt_layer_buffer(&p->dx, 2, xs);
  if (st) return st;
  linear_matmul_input_grad(lt_tensor_data(p->dx), g, lt_tensor_data(l->params[0].value), B, p->in, p->out);
  *dx = p->dx;
  return LT_OK;
}

static int linear_describe(const lt_layer *l, char *buf, size_t n) {
  const linear *p = l->priv;
  return snprintf(buf, n, "Linear(%d -> %d%s)", p->in, p->out, p->bias ? "" : ", no bias");
}

static void linear_free(lt_layer *l) {
  linear *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  free(p);
}

static const lt_layer_ops linear_ops = {
    .kind = "linear", .prefix = "fc", .build = linear_build, .forward = linear_forward,
    .backward = linear_backward, .describe = linear_describe, .free = linear_free,
};

lt_layer *lt_linear_new(int in, int out, int bias) {
  if (in <= 0 || out <= 0) {
    lt_error(LT_EINVAL, "linear: sizes must be positive, got %d -> %d", in, out);
    return NULL;
  }
  linear *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating linear(%d -> %d)", in, out);
    return NULL;
  }
  p->in = in, p->out = out, p->bias = bias != 0;
  return lt_layer_alloc(&linear_ops, p);
}
