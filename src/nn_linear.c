/* nn_linear.c: the fully connected layer y = x W^T + b, W (out, in).
 * Each forward runs the three products dense (sgemm) or, when the mask makes
 * the weight sparse enough, through the CSR kernels (lt_spd, sparse_dispatch.c);
 * the backward follows the forward's choice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/nn.h"
#include "lotto/sparse.h"

typedef struct {
  int in, out, bias;
  const lt_tensor *x; // input of the last forward (borrowed: the previous layer's cache)
  lt_tensor *y, *dx;  // cached outputs, reallocated only when the batch size changes
  lt_spd *sp;         // sparse state: CSR of the masked weight, transposed input
  int sparse;         // the last forward ran sparse
} linear;

// y (B, out) = x (B, in) W^T (+ b); W (out, in); b (out) or NULL
static void linear_matmul_forward(float *y, const float *x, const float *W, const float *b, int B, int in, int out) {
  if (b) {
    for (int i = 0; i < B; i++) memcpy(y + (size_t)i * out, b, sizeof(float) * out);
  }
  lt_gemm(0, 1, B, out, in, 1.0f, x, in, W, in, b ? 1.0f : 0.0f, y, out);
}

// dW (out, in) += dy (B, out)^T x (B, in); = when overwrite
static void linear_matmul_weight_grad(float *dW, const float *dy, const float *x, int B, int in, int out,
                                      int overwrite) {
  lt_gemm(1, 0, out, in, B, 1.0f, dy, out, x, in, overwrite ? 0.0f : 1.0f, dW, in);
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
  const float *W = lt_tensor_data(l->params[0].value), *b = p->bias ? lt_tensor_data(l->params[1].value) : NULL;
  st = lt_spd_prepare(p->sp, W, lt_tensor_data(l->params[0].mask), p->out, p->in, B,
                      l->model ? lt_model_mask_version(l->model) : 0, &p->sparse);
  if (st) return st;
  if (p->sparse) st = lt_spd_linear_forward(p->sp, lt_tensor_data(p->y), lt_tensor_data(x), b, B);
  else linear_matmul_forward(lt_tensor_data(p->y), lt_tensor_data(x), W, b, B, p->in, p->out);
  if (st) return st;
  *y = p->y;
  return LT_OK;
}

// db (out) += the column sums of dy (B, out); = when overwrite
static void linear_bias_grad(float *db, const float *dy, int B, int out, int overwrite) {
  for (int i = 0; i < B; i++) {
    const float *r = dy + (size_t)i * out;
    if (i == 0 && overwrite)
      for (int j = 0; j < out; j++) db[j] = r[j];
    else
      for (int j = 0; j < out; j++) db[j] += r[j];
  }
  if (B == 0 && overwrite) memset(db, 0, sizeof(float) * out);
}

static lt_status linear_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  linear *p = l->priv;
  int B = (int)dy->shape[0];
  const float *g = lt_tensor_data(dy);
  float *dW = lt_tensor_data(l->params[0].grad);
  const int overwrite = l->grad_overwrite; // stale grads (lt_model_step_loss): write, do not add
  if (p->sparse) {
    float *d = NULL; // dx and dW share one transpose of dy
    if (need_dx) {
      int64_t xs[2] = {B, p->in};
      lt_status st = lt_layer_buffer(&p->dx, 2, xs);
      if (st) return st;
      d = lt_tensor_data(p->dx);
    }
    if (overwrite) lt_spd_grad_overwrite(p->sp);
    lt_status st = lt_spd_linear_backward(p->sp, d, dW, g, B);
    if (st) return st;
  } else {
    linear_matmul_weight_grad(dW, g, lt_tensor_data(p->x), B, p->in, p->out, overwrite);
    lt_spd_grad_dirty(p->sp);
  }
  if (p->bias) linear_bias_grad(lt_tensor_data(l->params[1].grad), g, B, p->out, overwrite);
  l->grad_overwrite = 0;
  if (!need_dx) return LT_OK;
  if (p->sparse) {
    *dx = p->dx;
    return LT_OK;
  }
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
  lt_spd_free(p->sp);
  free(p);
}

static const lt_layer_ops linear_ops = {
    .kind = "linear", .prefix = "fc", .build = linear_build, .forward = linear_forward,
    .backward = linear_backward, .describe = linear_describe, .free = linear_free, .overwrites_grads = 1,
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
  if (!(p->sp = lt_spd_new())) {
    free(p);
    lt_error(LT_ENOMEM, "out of memory allocating linear(%d -> %d)", in, out);
    return NULL;
  }
  lt_spd *sp = p->sp;
  lt_layer *l = lt_layer_alloc(&linear_ops, p);
  if (!l) lt_spd_free(sp); // lt_layer_alloc freed p
  return l;
}

lt_spd *lt_layer_sparse_state(const lt_layer *l) {
  if (!l) return NULL;
  if (l->ops == &linear_ops) return ((const linear *)l->priv)->sp;
  return lt_conv2d_sparse_state(l);
}

lt_status lt_linear_config(const lt_layer *l, int *in, int *out, int *bias) {
  if (!l || l->ops != &linear_ops) return lt_error(LT_EINVAL, "lt_linear_config: not a linear layer");
  const linear *p = l->priv;
  *in = p->in, *out = p->out, *bias = p->bias;
  return LT_OK;
}
