/* nn_batchnorm.c: batch normalisation over the channel axis of (B, C) or
 * (B, C, H, W) inputs, with learned gamma/beta and running statistics
 * (momentum 0.1, eps 1e-5, unbiased running variance, as in PyTorch).
 * Per channel, training forward is a statistics pass and a normalising pass,
 * backward a sums pass and an input-gradient pass; x-hat is recomputed from
 * the cached input rather than stored. Channels are split over the threads
 * (each channel's arithmetic is the same whoever runs it). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/nn_impl.h"
#include "core/pool.h" // lt_pool_run, lt_pool_nparts: the worker pool

typedef struct {
  int C, HW;
  float momentum, eps;
  int train;              // mode of the last forward
  const lt_tensor *x;     // input of the last forward (x-hat is recomputed from it)
  lt_tensor *y, *dx;
  float *mean, *invstd;   // (C) each, of the last forward
} batchnorm;

#define LANES 16

/* Shifted sums of one row: *s += sum (r - K), *ss += sum (r - K)^2. Shifting by a
 * value of the channel keeps the one-pass variance accurate; float lanes within
 * a row (vectorised, fixed order), double across rows. */
static void row_stats(const float *r, int n, float K, double *s, double *ss) {
  float a[LANES] = {0}, b[LANES] = {0};
  int i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) {
      float v = r[i + j] - K;
      a[j] += v, b[j] += v * v;
    }
  double ds = 0.0, dss = 0.0;
  for (; i < n; i++) {
    double v = (double)r[i] - K;
    ds += v, dss += v * v;
  }
  for (int j = 0; j < LANES; j++) ds += a[j], dss += b[j];
  *s += ds, *ss += dss;
}

// *sg += sum g, *sgx += sum g * (x - mean) over one row
static void row_grad_sums(const float *g, const float *x, int n, float mean, double *sg, double *sgx) {
  float a[LANES] = {0}, b[LANES] = {0};
  int i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) a[j] += g[i + j], b[j] += g[i + j] * (x[i + j] - mean);
  double da = 0.0, db = 0.0;
  for (; i < n; i++) da += g[i], db += (double)g[i] * ((double)x[i] - mean);
  for (int j = 0; j < LANES; j++) da += a[j], db += b[j];
  *sg += da, *sgx += db;
}

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
  if ((st = lt_build_param(b, l, "weight", 1, cs, 0, 1))) return st;
  lt_build_set_init(b, 1, 1.0f); /* gamma starts at 1 */
  if ((st = lt_build_param(b, l, "bias", 1, cs, 0, 1)) || (st = lt_build_param(b, l, "running_mean", 1, cs, 0, 0)) ||
      (st = lt_build_param(b, l, "running_var", 1, cs, 0, 0)))
    return st;
  lt_build_set_init(b, 0, 1.0f); /* running variance starts at 1 */
  *out_ndim = ndim;
  for (int i = 0; i < ndim; i++) out[i] = in[i];
  return LT_OK;
}

static lt_status batchnorm_bind(lt_layer *l) {
  batchnorm *p = l->priv;
  lt_tensor_fill(l->params[0].value, 1.0f);
  lt_tensor_fill(l->buffers[1].value, 1.0f);
  p->mean = calloc(2 * (size_t)p->C, sizeof(float));
  p->invstd = p->mean ? p->mean + p->C : NULL;
  return p->mean ? LT_OK : lt_error(LT_ENOMEM, "out of memory in %s", l->name);
}

typedef struct {
  lt_layer *l;
  int B, nparts, train;
  const float *x, *g;
  float *y, *d;
} bn_job;

static void forward_part(void *arg, int part) {
  bn_job *j = arg;
  batchnorm *p = j->l->priv;
  const int B = j->B, C = p->C, HW = p->HW;
  const float *gamma = lt_tensor_data(j->l->params[0].value), *beta = lt_tensor_data(j->l->params[1].value);
  float *rm = lt_tensor_data(j->l->buffers[0].value), *rv = lt_tensor_data(j->l->buffers[1].value);
  const double N = (double)B * HW;
  for (int c = part * C / j->nparts; c < (part + 1) * C / j->nparts; c++) {
    float mean, is;
    if (j->train) {
      float K = j->x[(size_t)c * HW];
      double s = 0.0, ss = 0.0;
      for (int b = 0; b < B; b++) row_stats(j->x + ((size_t)b * C + c) * HW, HW, K, &s, &ss);
      double mu = s / N, var = ss / N - mu * mu;
      if (var < 0.0) var = 0.0;
      mean = (float)(K + mu);
      is = (float)(1.0 / sqrt(var + p->eps));
      rm[c] = (1.0f - p->momentum) * rm[c] + p->momentum * mean;
      rv[c] = (1.0f - p->momentum) * rv[c] + p->momentum * (float)(N > 1 ? var * N / (N - 1) : var);
    } else {
      mean = rm[c];
      is = 1.0f / sqrtf(rv[c] + p->eps);
    }
    p->mean[c] = mean, p->invstd[c] = is;
    const float k = gamma[c] * is, bc = beta[c];
    for (int b = 0; b < B; b++) {
      size_t o = ((size_t)b * C + c) * HW;
      const float *restrict r = j->x + o;
      float *restrict yo = j->y + o;
      for (int i = 0; i < HW; i++) yo[i] = k * (r[i] - mean) + bc;
    }
  }
}

static void backward_part(void *arg, int part) {
  bn_job *j = arg;
  batchnorm *p = j->l->priv;
  const int B = j->B, C = p->C, HW = p->HW;
  const float *gamma = lt_tensor_data(j->l->params[0].value);
  float *dgamma = lt_tensor_data(j->l->params[0].grad), *dbeta = lt_tensor_data(j->l->params[1].grad);
  const double N = (double)B * HW;
  for (int c = part * C / j->nparts; c < (part + 1) * C / j->nparts; c++) {
    const float mean = p->mean[c], is = p->invstd[c];
    double sg = 0.0, sgx = 0.0;
    for (int b = 0; b < B; b++) {
      size_t o = ((size_t)b * C + c) * HW;
      row_grad_sums(j->g + o, j->x + o, HW, mean, &sg, &sgx);
    }
    sgx *= is; // sum g * xhat
    dgamma[c] += (float)sgx;
    dbeta[c] += (float)sg;
    if (!j->d) continue;
    // train: dx = k (g - mean(g) - xhat mean(g xhat)); eval: dx = k g
    const float k = gamma[c] * is;
    const float a = j->train ? (float)(sg / N) : 0.0f, bx = j->train ? (float)(sgx / N) * is : 0.0f;
    for (int b = 0; b < B; b++) {
      size_t o = ((size_t)b * C + c) * HW;
      const float *restrict g = j->g + o, *restrict r = j->x + o;
      float *restrict d = j->d + o;
      for (int i = 0; i < HW; i++) d[i] = k * (g[i] - a - (r[i] - mean) * bx);
    }
  }
}

static lt_status batchnorm_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  batchnorm *p = l->priv;
  lt_status st;
  if ((st = lt_layer_buffer(&p->y, x->ndim, x->shape))) return st;
  p->train = train;
  p->x = x;
  bn_job j = {.l = l, .B = (int)x->shape[0], .train = train, .x = lt_tensor_data(x), .y = lt_tensor_data(p->y)};
  j.nparts = lt_pool_nparts(2.0 * j.B * p->HW * p->C, p->C);
  lt_pool_run(j.nparts, forward_part, &j);
  *y = p->y;
  return LT_OK;
}

static lt_status batchnorm_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  batchnorm *p = l->priv;
  bn_job j = {.l = l, .B = (int)dy->shape[0], .train = p->train, .x = lt_tensor_data(p->x), .g = lt_tensor_data(dy)};
  if (need_dx) {
    lt_status st = lt_layer_buffer(&p->dx, dy->ndim, dy->shape);
    if (st) return st;
    j.d = lt_tensor_data(p->dx);
  }
  j.nparts = lt_pool_nparts(3.0 * j.B * p->HW * p->C, p->C);
  lt_pool_run(j.nparts, backward_part, &j);
  if (need_dx) *dx = p->dx;
  return LT_OK;
}

static int batchnorm_describe(const lt_layer *l, char *buf, size_t n) {
  return snprintf(buf, n, "BatchNorm(%d)", ((const batchnorm *)l->priv)->C);
}

static void batchnorm_free(lt_layer *l) {
  batchnorm *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  free(p->mean);
  free(p);
}

static void batchnorm_config(const lt_layer *l, lt_layer_config *c) {
  lt_config_add_int(c, "n", ((const batchnorm *)l->priv)->C);
}

static lt_layer *batchnorm_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const keys[] = {"n", NULL};
  int64_t n;
  if (lt_config_keys(c, "batchnorm", keys) || lt_config_int(c, "batchnorm", "n", 1, INT32_MAX, LT_CONFIG_REQUIRED, &n))
    return NULL;
  return lt_batchnorm_new((int)n);
}

const lt_layer_ops lt_batchnorm_ops = {
    .kind = "batchnorm", .prefix = "bn", .build = batchnorm_build, .bind = batchnorm_bind,
    .forward = batchnorm_forward, .backward = batchnorm_backward, .describe = batchnorm_describe,
    .free = batchnorm_free, .config = batchnorm_config, .from_config = batchnorm_from_config,
    .channels = LT_CH_EACH, .ch_in = "n",
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
  return lt_layer_alloc(&lt_batchnorm_ops, p);
}
