/* nn_batchnorm.c: batch normalisation over the channel axis of (B, C) or
 * (B, C, H, W) inputs, with learned gamma/beta and running statistics
 * (momentum 0.1, eps 1e-5, unbiased running variance, as in PyTorch). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "lotto/nn.h"

typedef struct {
  int C, HW;
  float momentum, eps;
  int train;              // mode of the last forward
  lt_tensor *xhat, *y, *dx;
  float *invstd;          // (C) of the last forward
} batchnorm;

static lt_status batchnorm_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                                 const lt_layer **producer) {
  batchnorm *p = l->priv;
  if ((ndim != 1 && ndim != 3) || in[0] != p->C) {
    char e[48];
    snprintf(e, sizeof e, "(%d) or (%d, H, W)", p->C, p->C);
    return lt_layer_shape_error(l, e, *producer, ndim, in);
  }
  p->HW = ndim == 3 ? (int)(in[1] * in[2]) : 1;
  int64_t cs[1] = {p->C};
  lt_status st;
  if ((st = lt_build_param(b, l, "weight", 1, cs, 0, 1)) || (st = lt_build_param(b, l, "bias", 1, cs, 0, 1)) ||
      (st = lt_build_param(b, l, "running_mean", 1, cs, 0, 0)) || (st = lt_build_param(b, l, "running_var", 1, cs, 0, 0)))
    return st;
  *out_ndim = ndim;
  for (int i = 0; i < ndim; i++) out[i] = in[i];
  return LT_OK;
}

static lt_status batchnorm_bind(lt_layer *l) {
  batchnorm *p = l->priv;
  lt_tensor_fill(l->params[0].value, 1.0f);
  lt_tensor_fill(l->buffers[1].value, 1.0f);
  p->invstd = calloc((size_t)p->C, sizeof(float));
  return p->invstd ? LT_OK : lt_error(LT_ENOMEM, "out of memory in %s", l->name);
}

static lt_status batchnorm_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  batchnorm *p = l->priv;
  lt_status st;
  if ((st = lt_layer_buffer(&p->y, x->ndim, x->shape)) || (st = lt_layer_buffer(&p->xhat, x->ndim, x->shape))) return st;
  const int B = (int)x->shape[0], C = p->C, HW = p->HW;
  const float *a = lt_tensor_data(x), *gamma = lt_tensor_data(l->params[0].value), *beta = lt_tensor_data(l->params[1].value);
  float *rm = lt_tensor_data(l->buffers[0].value), *rv = lt_tensor_data(l->buffers[1].value);
  float *xh = lt_tensor_data(p->xhat), *o = lt_tensor_data(p->y);
  const double N = (double)B * HW;
  p->train = train;
  for (int c = 0; c < C; c++) {
    float mean, is;
    if (train) {
      double s = 0.0, ss = 0.0;
      for (int b = 0; b < B; b++) {
        const float *r = a + ((size_t)b * C + c) * HW;
        for (int i = 0; i < HW; i++) s += r[i];
      }
      double mu = s / N;
      for (int b = 0; b < B; b++) {
        const float *r = a + ((size_t)b * C + c) * HW;
        for (int i = 0; i < HW; i++) ss += (r[i] - mu) * (r[i] - mu);
      }
      double var = ss / N;
      mean = (float)mu;
      is = (float)(1.0 / sqrt(var + p->eps));
      rm[c] = (1.0f - p->momentum) * rm[c] + p->momentum * mean;
      rv[c] = (1.0f - p->momentum) * rv[c] + p->momentum * (float)(N > 1 ? ss / (N - 1) : var);
    } else {
      mean = rm[c];
      is = 1.0f / sqrtf(rv[c] + p->eps);
    }
    p->invstd[c] = is;
    for (int b = 0; b < B; b++) {
      size_t off = ((size_t)b * C + c) * HW;
      for (int i = 0; i < HW; i++) {
        float h = (a[off + i] - mean) * is;
        xh[off + i] = h;
        o[off + i] = gamma[c] * h + beta[c];
      }
    }
  }
  *y = p->y;
  return LT_OK;
}

static lt_status batchnorm_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  batchnorm *p = l->priv;
  const int B = (int)dy->shape[0], C = p->C, HW = p->HW;
  const float *g = lt_tensor_data(dy), *xh = lt_tensor_data(p->xhat), *gamma = lt_tensor_data(l->params[0].value);
  float *dgamma = lt_tensor_data(l->params[0].grad), *dbeta = lt_tensor_data(l->params[1].grad);
  float *d = NULL;
  if (need_dx) {
    lt_status st = lt_layer_buffer(&p->dx, dy->ndim, dy->shape);
    if (st) return st;
    d = lt_tensor_data(p->dx);
  }
  const double N = (double)B * HW;
  for (int c = 0; c < C; c++) {
    double sg = 0.0, sgx = 0.0;
    for (int b = 0; b < B; b++) {
      size_t off = ((size_t)b * C + c) * HW;
      for (int i = 0; i < HW; i++) sg += g[off + i], sgx += (double)g[off + i] * xh[off + i];
    }
    dgamma[c] += (float)sgx;
    dbeta[c] += (float)sg;
    if (!d) continue;
    float k = gamma[c] * p->invstd[c];
    float mg = (float)(sg / N), mgx = (float)(sgx / N);
    for (int b = 0; b < B; b++) {
      size_t off = ((size_t)b * C + c) * HW;
      if (p->train)
        for (int i = 0; i < HW; i++) d[off + i] = k * (g[off + i] - mg - xh[off + i] * mgx);
      else
        for (int i = 0; i < HW; i++) d[off + i] = k * g[off + i];
    }
  }
  if (need_dx) *dx = p->dx;
  return LT_OK;
}

static int batchnorm_describe(const lt_layer *l, char *buf, size_t n) {
  return snprintf(buf, n, "BatchNorm(%d)", ((const batchnorm *)l->priv)->C);
}

static void batchnorm_free(lt_layer *l) {
  batchnorm *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->xhat);
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  free(p->invstd);
  free(p);
}

static const lt_layer_ops batchnorm_ops = {
    .kind = "batchnorm", .prefix = "bn", .build = batchnorm_build, .bind = batchnorm_bind,
    .forward = batchnorm_forward, .backward = batchnorm_backward, .describe = batchnorm_describe,
    .free = batchnorm_free,
};

lt_layer *lt_batchnorm_new(int n) {
  if (n <= 0) {
    lt_error(LT_EINVAL, "batchnorm: channel count must be positive, got %d", n);
    return NULL;
  }
  batchnorm *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating batchnorm(%d)", n);
    return NULL;
  }
  p->C = n, p->momentum = 0.1f, p->eps = 1e-5f;
  return lt_layer_alloc(&batchnorm_ops, p);
}
