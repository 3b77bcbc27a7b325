/* nn_dwconv.c: depthwise 2-D convolution (groups = channels, one k x k filter
 * per channel), as in MobileNet V1's depthwise-separable blocks; W is
 * (C, 1, k, k), optional bias (C). Direct loops over (image, channel) planes,
 * shared out over the worker pool; weight gradients are summed per fixed
 * chunk of images and then in chunk order, so results do not depend on the
 * thread count. Its weight is prunable (masked like any other) but it does
 * not run on the sparse kernels: a depthwise layer is a sliver of a model's
 * MACs. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"
#include "core/pool.h" // lt_pool_run, LT_POOL_MAXPARTS, LT_POOL_MIN_WORK

#define DW_CHUNKS 16

typedef struct {
  int C, k, stride, pad, bias;
  int H, W, OH, OW; // fixed at build
  const lt_tensor *x;
  lt_tensor *y, *dx;
  float *part;      // DW_CHUNKS * C * (k*k + 1) gradient sums
} dwconv;

typedef struct {
  const dwconv *p;
  int B, nchunks;
  const float *x, *w, *b, *dy;
  float *y, *dx, *part;
  atomic_int next;
} dw_job;

// y (OH, OW) = conv(x (H, W), w (k, k)) + b: one plane.
static void plane_forward(const dwconv *p, float *restrict y, const float *restrict x, const float *restrict w, float b) {
  for (int oh = 0; oh < p->OH; oh++)
    for (int ow = 0; ow < p->OW; ow++) {
      float s = b;
      int h0 = oh * p->stride - p->pad, w0 = ow * p->stride - p->pad;
      for (int ki = 0; ki < p->k; ki++) {
        int h = h0 + ki;
        if (h < 0 || h >= p->H) continue;
        const float *xr = x + (size_t)h * p->W;
        for (int kj = 0; kj < p->k; kj++) {
          int c = w0 + kj;
          if (c >= 0 && c < p->W) s += w[ki * p->k + kj] * xr[c];
        }
      }
      y[(size_t)oh * p->OW + ow] = s;
    }
}

// dw (k, k) and *db accumulate; dx (H, W) or NULL accumulates: one plane.
static void plane_backward(const dwconv *p, float *restrict dx, float *restrict dw, float *db, const float *restrict dy,
                           const float *restrict x, const float *restrict w) {
  float sb = 0.0f;
  for (int oh = 0; oh < p->OH; oh++)
    for (int ow = 0; ow < p->OW; ow++) {
      float g = dy[(size_t)oh * p->OW + ow];
      sb += g;
      int h0 = oh * p->stride - p->pad, w0 = ow * p->stride - p->pad;
      for (int ki = 0; ki < p->k; ki++) {
        int h = h0 + ki;
        if (h < 0 || h >= p->H) continue;
        for (int kj = 0; kj < p->k; kj++) {
          int c = w0 + kj;
          if (c < 0 || c >= p->W) continue;
          dw[ki * p->k + kj] += g * x[(size_t)h * p->W + c];
          if (dx) dx[(size_t)h * p->W + c] += g * w[ki * p->k + kj];
        }
      }
    }
  *db += sb;
}

static void forward_part(void *arg, int part) {
  dw_job *j = arg;
  const dwconv *p = j->p;
  size_t in = (size_t)p->H * p->W, out = (size_t)p->OH * p->OW;
  for (int i; (i = atomic_fetch_add(&j->next, 1)) < j->B;)
    for (int c = 0; c < p->C; c++) {
      size_t q = (size_t)i * p->C + c;
      plane_forward(p, j->y + q * out, j->x + q * in, j->w + (size_t)c * p->k * p->k, j->b ? j->b[c] : 0.0f);
    }
}

static void backward_part(void *arg, int part) {
  dw_job *j = arg;
  const dwconv *p = j->p;
  size_t in = (size_t)p->H * p->W, out = (size_t)p->OH * p->OW, kk = (size_t)p->k * p->k;
  for (int ch; (ch = atomic_fetch_add(&j->next, 1)) < j->nchunks;) {
    float *dw = j->part + (size_t)ch * p->C * (kk + 1), *db = dw + p->C * kk;
    memset(dw, 0, sizeof(float) * p->C * (kk + 1));
    int b0 = (int)((int64_t)ch * j->B / j->nchunks), b1 = (int)((int64_t)(ch + 1) * j->B / j->nchunks);
    for (int i = b0; i < b1; i++)
      for (int c = 0; c < p->C; c++) {
        size_t q = (size_t)i * p->C + c;
        float *d = j->dx ? j->dx + q * in : NULL;
        if (d) memset(d, 0, sizeof(float) * in);
        plane_backward(p, d, dw + c * kk, db + c, j->dy + q * out, j->x + q * in, j->w + c * kk);
      }
  }
}

static int nparts(const dwconv *p, int B, int items) {
  double macs = (double)B * p->C * p->k * p->k * p->OH * p->OW;
  int n = lt_get_threads();
  if (n > LT_POOL_MAXPARTS) n = LT_POOL_MAXPARTS;
  if (n > items) n = items;
  return macs < LT_POOL_MIN_WORK || n < 1 ? 1 : n;
}

static lt_status dw_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                          const lt_layer **producer) {
  dwconv *p = l->priv;
  if (ndim != 3 || in[0] != p->C || in[1] + 2 * p->pad < p->k || in[2] + 2 * p->pad < p->k) {
    char e[64];
    snprintf(e, sizeof e, "(%d, H, W) with H, W >= %d", p->C, p->k - 2 * p->pad > 1 ? p->k - 2 * p->pad : 1);
    return lt_layer_shape_error(l, e, *producer, ndim, in);
  }
  p->H = (int)in[1], p->W = (int)in[2];
  p->OH = (p->H + 2 * p->pad - p->k) / p->stride + 1;
  p->OW = (p->W + 2 * p->pad - p->k) / p->stride + 1;
  int64_t ws[4] = {p->C, 1, p->k, p->k}, bs[1] = {p->C};
  lt_status st = lt_build_param(b, l, "weight", 4, ws, 1, 1);
  if (!st && p->bias) st = lt_build_param(b, l, "bias", 1, bs, 0, 1);
  if (st) return st;
  free(p->part);
  if (!(p->part = malloc(sizeof(float) * DW_CHUNKS * p->C * (p->k * p->k + 1))))
    return lt_error(LT_ENOMEM, "out of memory for %s's gradient sums", l->name);
  *out_ndim = 3;
  out[0] = p->C, out[1] = p->OH, out[2] = p->OW;
  *producer = l;
  return LT_OK;
}

static lt_status dw_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  dwconv *p = l->priv;
  int B = (int)x->shape[0];
  int64_t s[4] = {B, p->C, p->OH, p->OW};
  lt_status st = lt_layer_buffer(&p->y, 4, s);
  if (st) return st;
  p->x = x;
  dw_job j = {.p = p, .B = B, .x = lt_tensor_data(x), .w = lt_tensor_data(l->params[0].value),
              .b = p->bias ? lt_tensor_data(l->params[1].value) : NULL, .y = lt_tensor_data(p->y)};
  lt_pool_run(nparts(p, B, B), forward_part, &j);
  *y = p->y;
  return LT_OK;
}

static lt_status dw_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  dwconv *p = l->priv;
  int B = (int)dy->shape[0];
  lt_status st;
  float *d = NULL;
  if (need_dx) {
    int64_t s[4] = {B, p->C, p->H, p->W};
    if ((st = lt_layer_buffer(&p->dx, 4, s))) return st;
    d = lt_tensor_data(p->dx);
  }
  dw_job j = {.p = p, .B = B, .nchunks = B < DW_CHUNKS ? B : DW_CHUNKS, .x = lt_tensor_data(p->x),
              .w = lt_tensor_data(l->params[0].value), .dy = lt_tensor_data(dy), .dx = d, .part = p->part};
  if (B > 0) lt_pool_run(nparts(p, B, j.nchunks), backward_part, &j);
  size_t kk = (size_t)p->k * p->k, n = p->C * (kk + 1);
  float *dW = lt_tensor_data(l->params[0].grad), *db = p->bias ? lt_tensor_data(l->params[1].grad) : NULL;
  for (size_t i = 0; i < n; i++) {
    float s = 0.0f;
    for (int q = 0; q < j.nchunks; q++) s += p->part[q * n + i];
    if (i < p->C * kk) dW[i] += s;
    else if (db) db[i - p->C * kk] += s;
  }
  if (need_dx) *dx = p->dx;
  return LT_OK;
}

static int dw_describe(const lt_layer *l, char *buf, size_t n) {
  const dwconv *p = l->priv;
  int w = snprintf(buf, n, "DepthwiseConv2d(%d, %dx%d", p->C, p->k, p->k);
  if (p->stride != 1 && w < (int)n) w += snprintf(buf + w, n - w, ", stride %d", p->stride);
  if (p->pad && w < (int)n) w += snprintf(buf + w, n - w, ", padding %d", p->pad);
  if (!p->bias && w < (int)n) w += snprintf(buf + w, n - w, ", no bias");
  if (w < (int)n) w += snprintf(buf + w, n - w, ")");
  return w;
}

static void dw_free(lt_layer *l) {
  dwconv *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  free(p->part);
  free(p);
}

static void dw_config(const lt_layer *l, lt_layer_config *c) {
  const dwconv *p = l->priv;
  lt_config_add_int(c, "channels", p->C);
  lt_config_add_int(c, "k", p->k);
  lt_config_add_int(c, "stride", p->stride);
  lt_config_add_int(c, "padding", p->pad);
  lt_config_add_bool(c, "bias", p->bias);
}

static lt_layer *dw_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const keys[] = {"channels", "k", "stride", "padding", "bias", NULL};
  int64_t C, k, stride, pad;
  int bias;
  if (lt_config_keys(c, "dwconv2d", keys) ||
      lt_config_int(c, "dwconv2d", "channels", 1, INT32_MAX, LT_CONFIG_REQUIRED, &C) ||
      lt_config_int(c, "dwconv2d", "k", 1, INT32_MAX, LT_CONFIG_REQUIRED, &k) ||
      lt_config_int(c, "dwconv2d", "stride", 1, INT32_MAX, 1, &stride) ||
      lt_config_int(c, "dwconv2d", "padding", 0, INT32_MAX, 0, &pad) || lt_config_bool(c, "dwconv2d", "bias", 1, &bias))
    return NULL;
  return lt_dwconv2d_new((int)C, (int)k, (int)stride, (int)pad, bias);
}

const lt_layer_ops lt_dwconv2d_ops = {
    .kind = "dwconv2d", .prefix = "dwconv", .build = dw_build, .forward = dw_forward,
    .backward = dw_backward, .describe = dw_describe, .free = dw_free,
    .config = dw_config, .from_config = dw_from_config, .prunable = 1,
    .channels = LT_CH_EACH, .ch_in = "channels",
};

lt_layer *lt_dwconv2d_new(int channels, int k, int stride, int padding, int bias) {
  if (channels <= 0 || k <= 0 || stride <= 0 || padding < 0) {
    lt_error(LT_EINVAL, "dwconv2d: need channels, k, stride > 0 and padding >= 0, got %d, %d, %d, %d", channels, k,
             stride, padding);
    return NULL;
  }
  dwconv *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating dwconv2d");
    return NULL;
  }
  p->C = channels, p->k = k, p->stride = stride, p->pad = padding, p->bias = bias != 0;
  return lt_layer_alloc(&lt_dwconv2d_ops, p);
}
