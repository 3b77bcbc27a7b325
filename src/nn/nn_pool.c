/* nn_pool.c: 2-D pooling over NCHW inputs: max pooling (k, stride), average
 * pooling (k, stride), no padding, floor division; and global average
 * pooling (B, C, H, W) -> (B, C). Max pooling remembers each window's argmax. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"
#include "core/pool.h" // lt_pool_run, lt_pool_nparts: the worker pool

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

enum { POOL_MAX, POOL_AVG, POOL_GLOBAL };

typedef struct {
  int type, k, stride;
  int C, H, W, OH, OW; // fixed at build
  lt_tensor *y, *dx;
  int32_t *arg;        // max pooling: flat index in the (H, W) plane per output
  size_t argcap;
} pool;

static lt_status pool_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                            const lt_layer **producer) {
  pool *p = l->priv;
  if (ndim != 3 || (p->type != POOL_GLOBAL && (in[1] < p->k || in[2] < p->k)))
    return lt_layer_shape_error(l, p->type == POOL_GLOBAL ? "(C, H, W)" : "(C, H, W) with H, W >= k", *producer, ndim, in);
  p->C = (int)in[0], p->H = (int)in[1], p->W = (int)in[2];
  if (p->type == POOL_GLOBAL) {
    *out_ndim = 1;
    out[0] = p->C;
  } else {
    p->OH = (p->H - p->k) / p->stride + 1;
    p->OW = (p->W - p->k) / p->stride + 1;
    *out_ndim = 3;
    out[0] = p->C, out[1] = p->OH, out[2] = p->OW;
  }
  *producer = l;
  return LT_OK;
}

#if defined(__AVX512F__)
/* 2x2 windows, stride 2 (the common case), 16 outputs at a time. The generic
 * loops branch on every comparison, and on activations those branches are
 * coin flips: this is branch-free, with masked loads and stores for row ends. */
static const int32_t even_idx[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
static const int32_t lo_idx[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};

static __mmask16 first(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n > 0 ? n : 0)) - 1); }

// y (planes, OH, OW), arg likewise, from x (planes, H, W)
static void maxpool2_forward(float *y, int32_t *arg, const float *x, int planes, const pool *p) {
  const int W = p->W, OH = p->OH, OW = p->OW;
  const __m512i ev = _mm512_loadu_si512(even_idx), od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
  const __m512i lane2 = _mm512_add_epi32(ev, ev), one = _mm512_set1_epi32(1), w = _mm512_set1_epi32(W);
  for (int q = 0; q < planes; q++)
    for (int oh = 0; oh < OH; oh++) {
      const float *r0 = x + ((size_t)q * p->H + 2 * oh) * W, *r1 = r0 + W;
      float *yo = y + ((size_t)q * OH + oh) * OW;
      int32_t *ao = arg + ((size_t)q * OH + oh) * OW;
      for (int o = 0; o < OW; o += 16) {
        int n = OW - o < 16 ? OW - o : 16;
        __mmask16 m0 = first(2 * n), m1 = first(2 * n - 16), mo = first(n);
        __m512 a0 = _mm512_maskz_loadu_ps(m0, r0 + 2 * o), a1 = _mm512_maskz_loadu_ps(m1, r0 + 2 * o + 16);
        __m512 b0 = _mm512_maskz_loadu_ps(m0, r1 + 2 * o), b1 = _mm512_maskz_loadu_ps(m1, r1 + 2 * o + 16);
        // scan order (0,0) (0,1) (1,0) (1,1); a later value wins only if strictly greater
        __m512 m = _mm512_permutex2var_ps(a0, ev, a1);
        __m512i i = _mm512_add_epi32(_mm512_set1_epi32(2 * oh * W + 2 * o), lane2), best = i;
        __m512 v = _mm512_permutex2var_ps(a0, od, a1);
        __mmask16 gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
        m = _mm512_mask_mov_ps(m, gt, v), best = _mm512_mask_mov_epi32(best, gt, _mm512_add_epi32(i, one));
        v = _mm512_permutex2var_ps(b0, ev, b1);
        gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
        m = _mm512_mask_mov_ps(m, gt, v), best = _mm512_mask_mov_epi32(best, gt, _mm512_add_epi32(i, w));
        v = _mm512_permutex2var_ps(b0, od, b1);
        gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
        m = _mm512_mask_mov_ps(m, gt, v), best = _mm512_mask_mov_epi32(best, gt, _mm512_add_epi32(i, _mm512_add_epi32(w, one)));
        _mm512_mask_storeu_ps(yo + o, mo, m);
        _mm512_mask_storeu_epi32(ao + o, mo, best);
      }
    }
}

/* dx (planes, H, W) from dy (planes, OH, OW): every input written once (the
 * window's argmax gets dy, the rest 0; an odd last row or column 0), so there
 * is no zeroing pass and no scatter. */
static void maxpool2_backward(float *d, const float *g, const int32_t *arg, int planes, const pool *p) {
  const int H = p->H, W = p->W, OH = p->OH, OW = p->OW;
  const __m512i ev = _mm512_loadu_si512(even_idx), lo = _mm512_loadu_si512(lo_idx);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8)), lane2 = _mm512_add_epi32(ev, ev);
  const __m512i one = _mm512_set1_epi32(1), w = _mm512_set1_epi32(W);
  for (int q = 0; q < planes; q++) {
    float *dp = d + (size_t)q * H * W;
    for (int oh = 0; oh < OH; oh++) {
      float *r0 = dp + (size_t)2 * oh * W, *r1 = r0 + W;
      const float *go = g + ((size_t)q * OH + oh) * OW;
      const int32_t *ao = arg + ((size_t)q * OH + oh) * OW;
      for (int o = 0; o < OW; o += 16) {
        int n = OW - o < 16 ? OW - o : 16;
        __mmask16 m0 = first(2 * n), m1 = first(2 * n - 16), mo = first(n);
        __m512 v = _mm512_maskz_loadu_ps(mo, go + o);
        __m512i a = _mm512_maskz_loadu_epi32(mo, ao + o);
        __m512i i = _mm512_add_epi32(_mm512_set1_epi32(2 * oh * W + 2 * o), lane2);
        __m512 q00 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, i), v);
        __m512 q01 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_add_epi32(i, one)), v);
        __m512 q10 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_add_epi32(i, w)), v);
        __m512 q11 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_add_epi32(i, _mm512_add_epi32(w, one))), v);
        _mm512_mask_storeu_ps(r0 + 2 * o, m0, _mm512_permutex2var_ps(q00, lo, q01));
        _mm512_mask_storeu_ps(r0 + 2 * o + 16, m1, _mm512_permutex2var_ps(q00, hi, q01));
        _mm512_mask_storeu_ps(r1 + 2 * o, m0, _mm512_permutex2var_ps(q10, lo, q11));
        _mm512_mask_storeu_ps(r1 + 2 * o + 16, m1, _mm512_permutex2var_ps(q10, hi, q11));
      }
      if (W & 1) r0[W - 1] = r1[W - 1] = 0.0f;
    }
    if (H & 1) memset(dp + (size_t)(H - 1) * W, 0, sizeof(float) * W);
  }
}
#define HAVE_MAXPOOL2 1
#endif

// y (B*C, OH, OW) from x (B*C, H, W)
static void pool_max(float *y, int32_t *arg, const float *x, int planes, const pool *p) {
#ifdef HAVE_MAXPOOL2
  if (p->k == 2 && p->stride == 2) {
    maxpool2_forward(y, arg, x, planes, p);
    return;
  }
#endif
  if (p->k == 2 && p->stride == 2) { // branch-free, so that the compiler vectorises it
    const int H = p->H, W = p->W, OH = p->OH, OW = p->OW;
    for (int q = 0; q < planes; q++)
      for (int oh = 0; oh < OH; oh++) {
        const float *restrict r0 = x + ((size_t)q * H + 2 * oh) * W, *restrict r1 = r0 + W;
        size_t o = ((size_t)q * OH + oh) * OW;
        float *restrict yo = y + o;
        int32_t *restrict ao = arg + o;
        const int base = 2 * oh * W;
        for (int ow = 0; ow < OW; ow++) {
          // the generic loop's order and strict '>': the first of equal maxima wins
          float m = r0[2 * ow];
          int32_t best = base + 2 * ow;
          float v = r0[2 * ow + 1];
          best = v > m ? base + 2 * ow + 1 : best, m = v > m ? v : m;
          v = r1[2 * ow];
          best = v > m ? base + W + 2 * ow : best, m = v > m ? v : m;
          v = r1[2 * ow + 1];
          best = v > m ? base + W + 2 * ow + 1 : best, m = v > m ? v : m;
          yo[ow] = m;
          ao[ow] = best;
        }
      }
    return;
  }
  for (int q = 0; q < planes; q++) {
    const float *xp = x + (size_t)q * p->H * p->W;
    for (int oh = 0; oh < p->OH; oh++)
      for (int ow = 0; ow < p->OW; ow++) {
        int h0 = oh * p->stride, w0 = ow * p->stride, best = h0 * p->W + w0;
        float m = xp[best];
        for (int i = 0; i < p->k; i++)
          for (int j = 0; j < p->k; j++) {
            int idx = (h0 + i) * p->W + w0 + j;
            if (xp[idx] > m) m = xp[idx], best = idx;
          }
        size_t o = ((size_t)q * p->OH + oh) * p->OW + ow;
        y[o] = m;
        arg[o] = best;
      }
  }
}

static void pool_avg(float *y, const float *x, int planes, const pool *p) {
  const float inv = 1.0f / (float)(p->k * p->k);
  for (int q = 0; q < planes; q++) {
    const float *xp = x + (size_t)q * p->H * p->W;
    for (int oh = 0; oh < p->OH; oh++)
      for (int ow = 0; ow < p->OW; ow++) {
        float s = 0.0f;
        for (int i = 0; i < p->k; i++)
          for (int j = 0; j < p->k; j++) s += xp[(oh * p->stride + i) * p->W + ow * p->stride + j];
        y[((size_t)q * p->OH + oh) * p->OW + ow] = s * inv;
      }
  }
}

// Planes [q0, q1) of the forward: y (planes, OH, OW) or (planes) from x (planes, H, W).
static void forward_planes(const pool *p, float *o, int32_t *arg, const float *a, int q0, int q1) {
  size_t hw = (size_t)p->H * p->W, ohw = (size_t)p->OH * p->OW;
  if (p->type == POOL_MAX) {
    pool_max(o + q0 * ohw, arg + q0 * ohw, a + q0 * hw, q1 - q0, p);
  } else if (p->type == POOL_AVG) {
    pool_avg(o + q0 * ohw, a + q0 * hw, q1 - q0, p);
  } else {
    for (int q = q0; q < q1; q++) {
      float s = 0.0f;
      for (size_t i = 0; i < hw; i++) s += a[q * hw + i];
      o[q] = s / (float)hw;
    }
  }
}

// Planes [q0, q1) of the input gradient d from g.
static void backward_planes(const pool *p, float *d, const float *g, int q0, int q1) {
  size_t hw = (size_t)p->H * p->W, ohw = (size_t)p->OH * p->OW;
#ifdef HAVE_MAXPOOL2
  if (p->type == POOL_MAX && p->k == 2 && p->stride == 2) {
    maxpool2_backward(d + q0 * hw, g + q0 * ohw, p->arg + q0 * ohw, q1 - q0, p);
    return;
  }
#endif
  if (p->type != POOL_GLOBAL) memset(d + q0 * hw, 0, sizeof(float) * (q1 - q0) * hw);
  for (int q = q0; q < q1; q++) {
    float *dp = d + q * hw;
    if (p->type == POOL_MAX) {
      for (size_t o = 0; o < ohw; o++) dp[p->arg[q * ohw + o]] += g[q * ohw + o];
    } else if (p->type == POOL_AVG) {
      const float inv = 1.0f / (float)(p->k * p->k);
      for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
          float v = g[q * ohw + (size_t)oh * p->OW + ow] * inv;
          for (int i = 0; i < p->k; i++)
            for (int j = 0; j < p->k; j++) dp[(oh * p->stride + i) * p->W + ow * p->stride + j] += v;
        }
    } else {
      float v = g[q] / (float)hw;
      for (size_t i = 0; i < hw; i++) dp[i] = v;
    }
  }
}

/* Planes split over the worker pool: each plane's arithmetic is the same whoever
 * runs it, so the split changes nothing but speed. */
typedef struct {
  const pool *p;
  int planes, nparts, backward;
  const float *a;
  float *o;
} pool_job;

static void pool_part(void *arg, int part) {
  const pool_job *j = arg;
  int q0 = (int)((int64_t)part * j->planes / j->nparts), q1 = (int)((int64_t)(part + 1) * j->planes / j->nparts);
  if (j->backward) backward_planes(j->p, j->o, j->a, q0, q1);
  else forward_planes(j->p, j->o, j->p->arg, j->a, q0, q1);
}

static void pool_run(const pool *p, float *o, const float *a, int planes, int backward) {
  pool_job j = {.p = p, .planes = planes, .backward = backward, .a = a, .o = o};
  j.nparts = lt_pool_nparts((double)planes * p->H * p->W, planes);
  lt_pool_run(j.nparts, pool_part, &j);
}

static lt_status pool_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  pool *p = l->priv;
  int B = (int)x->shape[0], planes = B * p->C;
  int64_t s[4] = {B, p->C, p->OH, p->OW};
  lt_status st = lt_layer_buffer(&p->y, p->type == POOL_GLOBAL ? 2 : 4, s);
  if (st) return st;
  if (p->type == POOL_MAX) {
    size_t need = (size_t)planes * p->OH * p->OW;
    if (need > p->argcap) {
      int32_t *na = realloc(p->arg, need * sizeof *na);
      if (!na) return lt_error(LT_ENOMEM, "out of memory in %s", l->name);
      p->arg = na, p->argcap = need;
    }
  }
  pool_run(p, lt_tensor_data(p->y), lt_tensor_data(x), planes, 0);
  *y = p->y;
  return LT_OK;
}

static lt_status pool_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  pool *p = l->priv;
  if (!need_dx) return LT_OK;
  int B = (int)dy->shape[0];
  int64_t s[4] = {B, p->C, p->H, p->W};
  lt_status st = lt_layer_buffer(&p->dx, 4, s);
  if (st) return st;
  pool_run(p, lt_tensor_data(p->dx), lt_tensor_data(dy), B * p->C, 1);
  *dx = p->dx;
  return LT_OK;
}

static int pool_describe(const lt_layer *l, char *buf, size_t n) {
  const pool *p = l->priv;
  if (p->type == POOL_GLOBAL) return snprintf(buf, n, "GlobalAvgPool");
  return snprintf(buf, n, "%s(%d, stride %d)", p->type == POOL_MAX ? "MaxPool2d" : "AvgPool2d", p->k, p->stride);
}

static void pool_free(lt_layer *l) {
  pool *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  free(p->arg);
  free(p);
}

static void pool_config(const lt_layer *l, lt_layer_config *c) {
  const pool *p = l->priv;
  if (p->type == POOL_GLOBAL) return;
  lt_config_add_int(c, "k", p->k);
  lt_config_add_int(c, "stride", p->stride);
}

static lt_layer *maxpool_from_config(const lt_layer_config *c, int nchildren, lt_layer **children);
static lt_layer *avgpool_from_config(const lt_layer_config *c, int nchildren, lt_layer **children);
static lt_layer *global_from_config(const lt_layer_config *c, int nchildren, lt_layer **children);

const lt_layer_ops lt_maxpool2d_ops = {
    .kind = "maxpool2d", .prefix = "pool", .build = pool_build, .forward = pool_forward,
    .backward = pool_backward, .describe = pool_describe, .free = pool_free,
    .config = pool_config, .from_config = maxpool_from_config,
};
const lt_layer_ops lt_avgpool2d_ops = {
    .kind = "avgpool2d", .prefix = "avgpool", .build = pool_build, .forward = pool_forward,
    .backward = pool_backward, .describe = pool_describe, .free = pool_free,
    .config = pool_config, .from_config = avgpool_from_config,
};
const lt_layer_ops lt_global_avgpool_ops = {
    .kind = "global_avgpool", .prefix = "gap", .build = pool_build, .forward = pool_forward,
    .backward = pool_backward, .describe = pool_describe, .free = pool_free,
    .from_config = global_from_config,
};

static lt_layer *pool_new(const lt_layer_ops *ops, int type, int k, int stride) {
  if (type != POOL_GLOBAL && (k <= 0 || stride < 0)) {
    lt_error(LT_EINVAL, "%s: kernel size must be positive and stride non-negative, got k = %d, stride = %d", ops->kind, k, stride);
    return NULL;
  }
  pool *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating %s", ops->kind);
    return NULL;
  }
  p->type = type, p->k = k, p->stride = stride > 0 ? stride : k;
  return lt_layer_alloc(ops, p);
}

lt_layer *lt_maxpool2d_new(int k, int stride) { return pool_new(&lt_maxpool2d_ops, POOL_MAX, k, stride); }
lt_layer *lt_avgpool2d_new(int k, int stride) { return pool_new(&lt_avgpool2d_ops, POOL_AVG, k, stride); }
lt_layer *lt_global_avgpool_new(void) { return pool_new(&lt_global_avgpool_ops, POOL_GLOBAL, 1, 1); }

// {k, stride = k}
static lt_layer *window_from_config(const lt_layer_ops *ops, int type, const lt_layer_config *c) {
  static const char *const keys[] = {"k", "stride", NULL};
  int64_t k, stride;
  if (lt_config_keys(c, ops->kind, keys) || lt_config_int(c, ops->kind, "k", 1, INT32_MAX, LT_CONFIG_REQUIRED, &k) ||
      lt_config_int(c, ops->kind, "stride", 0, INT32_MAX, 0, &stride))
    return NULL;
  return pool_new(ops, type, (int)k, (int)stride);
}
static lt_layer *maxpool_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  return window_from_config(&lt_maxpool2d_ops, POOL_MAX, c);
}
static lt_layer *avgpool_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  return window_from_config(&lt_avgpool2d_ops, POOL_AVG, c);
}
static lt_layer *global_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const none[] = {NULL};
  return lt_config_keys(c, "global_avgpool", none) ? NULL : lt_global_avgpool_new();
}
