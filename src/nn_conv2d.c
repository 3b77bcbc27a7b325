/* nn_conv2d.c: 2-D convolution over NCHW inputs, square kernels, stride,
 * zero padding, optional bias; W is (cout, cin, k, k). Each image is unfolded
 * by im2col and multiplied with one GEMM, or, when the mask makes W sparse
 * enough, with the CSR kernels over the same columns (lt_spd, sparse_dispatch.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/nn.h"
#include "lotto/sparse.h"

typedef struct {
  int cin, cout, k, stride, pad, bias;
  int H, W, OH, OW;  // fixed at build
  int direct;        // 1x1, stride 1, no padding: the image is its own column matrix
  const lt_tensor *x;
  lt_tensor *y, *dx;
  float *cols;       // (cin*k*k, OH*OW), one image at a time
  lt_spd *sp;        // sparse state: CSR of W as (cout, K)
  int sparse;        // the last forward ran sparse
} conv2d;

// y (cout, OH*OW) = W (cout, K) cols (K, OH*OW) (+ b per row); K = cin*k*k
static void conv_matmul_forward(float *y, const float *W, const float *cols, const float *b, int cout, int K, int P) {
  lt_gemm(0, 0, cout, P, K, 1.0f, W, K, cols, P, 0.0f, y, P);
  if (b)
    for (int c = 0; c < cout; c++) {
      float *r = y + (size_t)c * P;
      for (int i = 0; i < P; i++) r[i] += b[c];
    }
}

// dW (cout, K) += dy (cout, P) cols (K, P)^T
static void conv_matmul_weight_grad(float *dW, const float *dy, const float *cols, int cout, int K, int P) {
  lt_gemm(0, 1, cout, K, P, 1.0f, dy, P, cols, P, 1.0f, dW, K);
}

// dcols (K, P) = W (cout, K)^T dy (cout, P)
static void conv_matmul_input_grad(float *dcols, const float *W, const float *dy, int cout, int K, int P) {
  lt_gemm(1, 0, K, P, cout, 1.0f, W, K, dy, P, 0.0f, dcols, P);
}

static lt_status conv_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                            const lt_layer **producer) {
  conv2d *p = l->priv;
  if (ndim != 3 || in[0] != p->cin || in[1] + 2 * p->pad < p->k || in[2] + 2 * p->pad < p->k) {
    char e[64];
    snprintf(e, sizeof e, "(%d, H, W) with H, W >= %d", p->cin, p->k - 2 * p->pad > 1 ? p->k - 2 * p->pad : 1);
    return lt_layer_shape_error(l, e, *producer, ndim, in);
  }
  p->H = (int)in[1], p->W = (int)in[2];
  p->OH = (p->H + 2 * p->pad - p->k) / p->stride + 1;
  p->OW = (p->W + 2 * p->pad - p->k) / p->stride + 1;
  p->direct = p->k == 1 && p->stride == 1 && p->pad == 0;
  int64_t ws[4] = {p->cout, p->cin, p->k, p->k}, bs[1] = {p->cout};
  lt_status st = lt_build_param(b, l, "weight", 4, ws, 1, 1);
  if (!st && p->bias) st = lt_build_param(b, l, "bias", 1, bs, 0, 1);
  if (st) return st;
  if (!p->direct) {
    free(p->cols);
    p->cols = malloc(sizeof(float) * (size_t)p->cin * p->k * p->k * p->OH * p->OW);
    if (!p->cols) return lt_error(LT_ENOMEM, "out of memory for %s's column buffer", l->name);
  }
  *out_ndim = 3;
  out[0] = p->cout, out[1] = p->OH, out[2] = p->OW;
  *producer = l;
  return LT_OK;
}

static lt_status conv_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  conv2d *p = l->priv;
  int B = (int)x->shape[0], K = p->cin * p->k * p->k, P = p->OH * p->OW;
  int64_t s[4] = {B, p->cout, p->OH, p->OW};
  lt_status st = lt_layer_buffer(&p->y, 4, s);
  if (st) return st;
  p->x = x;
  const float *W = lt_tensor_data(l->params[0].value), *bias = p->bias ? lt_tensor_data(l->params[1].value) : NULL;
  const float *a = lt_tensor_data(x);
  float *o = lt_tensor_data(p->y);
  size_t in_img = (size_t)p->cin * p->H * p->W, out_img = (size_t)p->cout * P;
  st = lt_spd_prepare(p->sp, W, lt_tensor_data(l->params[0].mask), p->cout, K, P,
                      l->model ? lt_model_mask_version(l->model) : 0, &p->sparse);
  if (st) return st;
  for (int b = 0; b < B; b++) {
    const float *cols = a + b * in_img;
    if (!p->direct) {
      lt_im2col(p->cols, cols, p->cin, p->H, p->W, p->k, p->stride, p->pad, p->OH, p->OW);
      cols = p->cols;
    }
    if (p->sparse) {
      if ((st = lt_spd_conv_forward(p->sp, o + b * out_img, cols, bias, P))) return st;
    } else {
      conv_matmul_forward(o + b * out_img, W, cols, bias, p->cout, K, P);
    }
  }
  *y = p->y;
  return LT_OK;
}

static lt_status conv_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  conv2d *p = l->priv;
  int B = (int)dy->shape[0], K = p->cin * p->k * p->k, P = p->OH * p->OW;
  size_t in_img = (size_t)p->cin * p->H * p->W, out_img = (size_t)p->cout * P;
  float *d = NULL;
  if (need_dx) {
    int64_t s[4] = {B, p->cin, p->H, p->W};
    lt_status st = lt_layer_buffer(&p->dx, 4, s);
    if (st) return st;
    d = lt_tensor_data(p->dx);
  }
  const float *W = lt_tensor_data(l->params[0].value), *g = lt_tensor_data(dy), *a = lt_tensor_data(p->x);
  float *dW = lt_tensor_data(l->params[0].grad), *db = p->bias ? lt_tensor_data(l->params[1].grad) : NULL;
  lt_status st;
  if (p->sparse && (st = lt_spd_conv_backward_begin(p->sp, d != NULL))) return st;
  for (int b = 0; b < B; b++) {
    const float *gb = g + b * out_img, *cols = a + b * in_img;
    if (!p->direct) {
      lt_im2col(p->cols, cols, p->cin, p->H, p->W, p->k, p->stride, p->pad, p->OH, p->OW);
      cols = p->cols;
    }
    if (p->sparse) {
      // the weight gradient reads cols before dcols overwrites them (p->cols is both)
      float *dcols = !d ? NULL : p->direct ? d + b * in_img : p->cols;
      if ((st = lt_spd_conv_backward_image(p->sp, dcols, gb, cols, P))) return st;
    } else {
      conv_matmul_weight_grad(dW, gb, cols, p->cout, K, P);
    }
    if (db)
      for (int c = 0; c < p->cout; c++) {
        const float *r = gb + (size_t)c * P;
        float s = 0.0f;
        for (int i = 0; i < P; i++) s += r[i];
        db[c] += s;
      }
    if (!d) continue;
    if (p->sparse) {
      if (!p->direct) {
        memset(d + b * in_img, 0, sizeof(float) * in_img);
        lt_col2im(d + b * in_img, p->cols, p->cin, p->H, p->W, p->k, p->stride, p->pad, p->OH, p->OW);
      }
    } else if (p->direct) {
      conv_matmul_input_grad(d + b * in_img, W, gb, p->cout, K, P);
    } else {
      // p->cols is free again once the weight gradient has used it
      conv_matmul_input_grad(p->cols, W, gb, p->cout, K, P);
      memset(d + b * in_img, 0, sizeof(float) * in_img);
      lt_col2im(d + b * in_img, p->cols, p->cin, p->H, p->W, p->k, p->stride, p->pad, p->OH, p->OW);
    }
  }
  if (p->sparse && (st = lt_spd_conv_backward_end(p->sp, dW))) return st;
  if (!p->sparse) lt_spd_grad_dirty(p->sp);
  if (need_dx) *dx = p->dx;
  return LT_OK;
}

static int conv_describe(const lt_layer *l, char *buf, size_t n) {
  const conv2d *p = l->priv;
  int w = snprintf(buf, n, "Conv2d(%d -> %d, %dx%d", p->cin, p->cout, p->k, p->k);
  if (p->stride != 1 && w < (int)n) w += snprintf(buf + w, n - w, ", stride %d", p->stride);
  if (p->pad && w < (int)n) w += snprintf(buf + w, n - w, ", padding %d", p->pad);
  if (!p->bias && w < (int)n) w += snprintf(buf + w, n - w, ", no bias");
  if (w < (int)n) w += snprintf(buf + w, n - w, ")");
  return w;
}

static void conv_free(lt_layer *l) {
  conv2d *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  free(p->cols);
  lt_spd_free(p->sp);
  free(p);
}

static const lt_layer_ops conv_ops = {
    .kind = "conv2d", .prefix = "conv", .build = conv_build, .forward = conv_forward,
    .backward = conv_backward, .describe = conv_describe, .free = conv_free,
};

lt_layer *lt_conv2d_new(int cin, int cout, int k, int stride, int padding, int bias) {
  if (cin <= 0 || cout <= 0 || k <= 0 || stride <= 0 || padding < 0) {
    lt_error(LT_EINVAL, "conv2d: need cin, cout, k, stride > 0 and padding >= 0, got %d, %d, %d, %d, %d", cin, cout, k,
             stride, padding);
    return NULL;
  }
  conv2d *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating conv2d");
    return NULL;
  }
  p->cin = cin, p->cout = cout, p->k = k, p->stride = stride, p->pad = padding, p->bias = bias != 0;
  lt_spd *sp = p->sp = lt_spd_new();
  if (!sp) {
    free(p);
    lt_error(LT_ENOMEM, "out of memory allocating conv2d");
    return NULL;
  }
  lt_layer *l = lt_layer_alloc(&conv_ops, p);
  if (!l) lt_spd_free(sp); // lt_layer_alloc freed p
  return l;
}

lt_spd *lt_conv2d_sparse_state(const lt_layer *l) {
  return l && l->ops == &conv_ops ? ((const conv2d *)l->priv)->sp : NULL;
}

lt_status lt_conv2d_config(const lt_layer *l, int *cin, int *cout, int *k, int *stride, int *padding, int *bias) {
  if (!l || l->ops != &conv_ops) return lt_error(LT_EINVAL, "lt_conv2d_config: not a conv2d layer");
  const conv2d *p = l->priv;
  *cin = p->cin, *cout = p->cout, *k = p->k, *stride = p->stride, *padding = p->pad, *bias = p->bias;
  return LT_OK;
}
