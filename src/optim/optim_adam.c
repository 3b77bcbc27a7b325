/* optim_adam.c: Adam and AdamW (decoupled weight decay), mask-aware; a large
 * dense step is split over the worker pool. Its ops table and constructor are
 * at the end; what optimizers share is in optim.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "optim/optim_impl.h"
#include "lotto/tensor.h" /* lt_get_threads */
#include "core/pool.h"  /* lt_pool_run: the engine's worker pool */


/* Constants of one step, shared by every loop. */
typedef struct adam_k {
  float b1c, b2, b2c, eps, l2, shrink, step_size, inv_bc2_sqrt;
} adam_k;

/* One vector of weights through the reference formula (see lt_optim_adam_step),
 * written once for every lane width: 16 (AVX-512), 8 (AVX) or 1 (portable).
 * Each multiply that feeds an add is an explicit fused multiply-add where the
 * machine has one, so the compiler's contraction cannot make the dense, tail
 * and kept loops round differently: a weight gets the same bits on every path. */
#if defined(__AVX512F__)
enum { VW = 16 };
typedef __m512 vf;
static inline vf vsplat(float x) { return _mm512_set1_ps(x); }
static inline vf vld(const float *p) { return _mm512_loadu_ps(p); }
static inline void vst(float *p, vf a) { _mm512_storeu_ps(p, a); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vsqrt(vf a) { return _mm512_sqrt_ps(a); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
/* x where mask != 0, else +0 */
static inline vf vkeep(vf x, const float *mask) {
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(vld(mask), _mm512_setzero_ps(), _CMP_NEQ_UQ), x);
}
#elif defined(__AVX__)
enum { VW = 8 };
typedef __m256 vf;
static inline vf vsplat(float x) { return _mm256_set1_ps(x); }
static inline vf vld(const float *p) { return _mm256_loadu_ps(p); }
static inline void vst(float *p, vf a) { _mm256_storeu_ps(p, a); }
static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vsqrt(vf a) { return _mm256_sqrt_ps(a); }
#if defined(__FMA__)
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
#else
static inline vf vfma(vf a, vf b, vf c) { return _mm256_add_ps(_mm256_mul_ps(a, b), c); }
#endif
static inline vf vkeep(vf x, const float *mask) {
  return _mm256_and_ps(x, _mm256_cmp_ps(vld(mask), _mm256_setzero_ps(), _CMP_NEQ_UQ));
}
#else
enum { VW = 1 };
typedef float vf;
static inline vf vsplat(float x) { return x; }
static inline vf vld(const float *p) { return *p; }
static inline void vst(float *p, vf a) { *p = a; }
static inline vf vsub(vf a, vf b) { return a - b; }
static inline vf vmul(vf a, vf b) { return a * b; }
static inline vf vdiv(vf a, vf b) { return a / b; }
static inline vf vsqrt(vf a) { return sqrtf(a); }
static inline vf vfma(vf a, vf b, vf c) { return a * b + c; }
static inline vf vkeep(vf x, const float *mask) { return *mask != 0.0f ? x : 0.0f; }
#endif

/* w, g, m, v: one vector each; returns the new weight, updates *m and *v. */
static inline __attribute__((always_inline)) vf adam_vec(const adam_k *k, vf w, vf g, vf *m, vf *v) {
  vf wi = vmul(w, vsplat(k->shrink));
  vf gi = vfma(vsplat(k->l2), wi, g);
  vf mi = vfma(vsplat(k->b1c), vsub(gi, *m), *m);
  vf vi = vfma(vsplat(k->b2), *v, vmul(vmul(vsplat(k->b2c), gi), gi));
  vf den = vfma(vsqrt(vi), vsplat(k->inv_bc2_sqrt), vsplat(k->eps));
  *m = mi;
  *v = vi;
  return vsub(wi, vdiv(vmul(vsplat(k->step_size), mi), den));
}

/* The dense step over n weights; the last partial vector goes through a padded
 * copy so that it takes the same vector path. */
static inline __attribute__((always_inline)) void adam_loop(const adam_k *k, size_t n, float *restrict w,
                                                            const float *restrict g, const float *restrict mask,
                                                            float *restrict m, float *restrict v, int has_mask) {
  size_t i = 0;
  for (; i + VW <= n; i += VW) {
    vf mi = vld(m + i), vi = vld(v + i);
    vf nw = adam_vec(k, vld(w + i), vld(g + i), &mi, &vi);
    if (has_mask) {
      mi = vkeep(mi, mask + i);
      vi = vkeep(vi, mask + i);
      nw = vkeep(nw, mask + i);
    }
    vst(m + i, mi);
    vst(v + i, vi);
    vst(w + i, nw);
  }
  if (i < n) {
    float b[5][VW] = {{0}};
    size_t t = n - i;
    memcpy(b[0], w + i, t * sizeof(float));
    memcpy(b[1], g + i, t * sizeof(float));
    memcpy(b[2], m + i, t * sizeof(float));
    memcpy(b[3], v + i, t * sizeof(float));
    if (has_mask) memcpy(b[4], mask + i, t * sizeof(float));
    vf mi = vld(b[2]), vi = vld(b[3]);
    vf nw = adam_vec(k, vld(b[0]), vld(b[1]), &mi, &vi);
    if (has_mask) {
      mi = vkeep(mi, b[4]);
      vi = vkeep(vi, b[4]);
      nw = vkeep(nw, b[4]);
    }
    vst(b[0], nw);
    vst(b[2], mi);
    vst(b[3], vi);
    memcpy(w + i, b[0], t * sizeof(float));
    memcpy(m + i, b[2], t * sizeof(float));
    memcpy(v + i, b[3], t * sizeof(float));
  }
}

static adam_k adam_consts(const lt_optim *o) {
  const double t = (double)(o->steps + 1);
  adam_k k = {
      .b1c = 1.0f - o->beta1,
      .b2 = o->beta2,
      .b2c = 1.0f - o->beta2,
      .eps = o->eps,
      .l2 = o->adamw ? 0.0f : o->weight_decay,
      .shrink = o->adamw ? 1.0f - o->lr * o->weight_decay : 1.0f,
      .step_size = (float)(o->lr / (1.0 - pow(o->beta1, t))),
      .inv_bc2_sqrt = (float)(1.0 / sqrt(1.0 - pow(o->beta2, t))),
  };
  return k;
}

/* As torch.optim.Adam / AdamW (single-tensor path):
 *   adam:  g' = g + wd*w          adamw: w = w * (1 - lr*wd), g' = g
 *   m += (1-b1)*(g' - m);  v = b2*v + (1-b2)*g'^2
 *   w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * A masked weight (mask 0) is written 0 with both moments 0. */
typedef struct adam_job {
  const adam_k *k;
  float *w, *m, *v;
  const float *g, *mask;
  size_t n;
  int nparts;
  int flush; /* the worker's MXCSR: see lt_flush_begin */
} adam_job;

/* Part p of the weights, cut at whole cache lines: every weight goes through
 * the same vector operations whichever part (and thread) it falls in. */
static void adam_part(void *arg, int p) {
  const adam_job *j = arg;
  size_t per = ((j->n + (size_t)j->nparts - 1) / (size_t)j->nparts + 63) & ~(size_t)63;
  size_t lo = (size_t)p * per < j->n ? (size_t)p * per : j->n, hi = lo + per < j->n ? lo + per : j->n;
  if (hi <= lo) return;
  unsigned c = p ? lt_flush_begin(j->flush) : 0; /* part 0 runs on the caller, already set */
  if (j->mask)
    adam_loop(j->k, hi - lo, j->w + lo, j->g + lo, j->mask + lo, j->m + lo, j->v + lo, 1);
  else
    adam_loop(j->k, hi - lo, j->w + lo, j->g + lo, NULL, j->m + lo, j->v + lo, 0);
  if (p) lt_flush_end(c);
}

/* Memory-bound: with another core free, two halves stream at nearly twice the
 * rate. Below this many weights a hand-off costs more than it saves. */
#define ADAM_PAR_MIN 65536

static void adam_step(lt_optim *o, float *w, const float *g, const float *mask) {
  const adam_k k = adam_consts(o);
  adam_job j = {&k, w, o->m, o->v, g, mask, o->n, 1, o->flush};
  int threads = lt_get_threads();
  if (threads > 1 && o->n >= ADAM_PAR_MIN) j.nparts = threads < LT_POOL_MAXPARTS ? threads : LT_POOL_MAXPARTS;
  if (j.nparts == 1) adam_part(&j, 0);
  else lt_pool_run(j.nparts, adam_part, &j);
}

/* The kept weights j0..j1 only, VW at a time: their moments are compact (o->cm,
 * o->cv, streamed), weights and gradients are gathered into a vector and the new
 * weights scattered back, so the arithmetic runs at vector speed. Each lane is
 * computed on its own, so how the kept weights fall into vectors changes no bit. */
static void adam_step_kept(lt_optim *o, float *w, const float *g, size_t j0, size_t j1) {
  const adam_k k = adam_consts(o);
  const uint32_t *restrict kept = o->kept;
  float *restrict cm = o->cm, *restrict cv = o->cv;
  float wb[VW], gb[VW], mb[VW], vb[VW];
  for (size_t j = j0; j < j1; j += VW) {
    const uint32_t *ix = kept + j;
    size_t t = j1 - j < VW ? j1 - j : VW;
    if (t == VW) {
      for (int l = 0; l < VW; l++) wb[l] = w[ix[l]], gb[l] = g[ix[l]];
      vf mi = vld(cm + j), vi = vld(cv + j);
      vst(wb, adam_vec(&k, vld(wb), vld(gb), &mi, &vi));
      vst(cm + j, mi);
      vst(cv + j, vi);
      for (int l = 0; l < VW; l++) w[ix[l]] = wb[l];
    } else {
      for (size_t l = 0; l < VW; l++) {
        wb[l] = l < t ? w[ix[l]] : 0.0f;
        gb[l] = l < t ? g[ix[l]] : 0.0f;
        mb[l] = l < t ? cm[j + l] : 0.0f;
        vb[l] = l < t ? cv[j + l] : 0.0f;
      }
      vf mi = vld(mb), vi = vld(vb);
      vst(wb, adam_vec(&k, vld(wb), vld(gb), &mi, &vi));
      vst(mb, mi);
      vst(vb, vi);
      for (size_t l = 0; l < t; l++) w[ix[l]] = wb[l], cm[j + l] = mb[l], cv[j + l] = vb[l];
    }
  }
}

/* Kept weights given compact (a sparse layer's values and gradients in position
 * order): the same arithmetic as adam_step_kept over four contiguous streams. */
static void adam_step_compact(lt_optim *o, float *wc, const float *gc, size_t j0, size_t cnt) {
  const adam_k k = adam_consts(o);
  float *restrict cm = o->cm + j0, *restrict cv = o->cv + j0;
  size_t j = 0;
  for (; j + VW <= cnt; j += VW) {
    vf mi = vld(cm + j), vi = vld(cv + j);
    vst(wc + j, adam_vec(&k, vld(wc + j), vld(gc + j), &mi, &vi));
    vst(cm + j, mi);
    vst(cv + j, vi);
  }
  if (j < cnt) {
    float wb[VW] = {0}, gb[VW] = {0}, mb[VW] = {0}, vb[VW] = {0};
    size_t t = cnt - j;
    memcpy(wb, wc + j, t * sizeof(float));
    memcpy(gb, gc + j, t * sizeof(float));
    memcpy(mb, cm + j, t * sizeof(float));
    memcpy(vb, cv + j, t * sizeof(float));
    vf mi = vld(mb), vi = vld(vb);
    vst(wb, adam_vec(&k, vld(wb), vld(gb), &mi, &vi));
    vst(mb, mi);
    vst(vb, vi);
    memcpy(wc + j, wb, t * sizeof(float));
    memcpy(cm + j, mb, t * sizeof(float));
    memcpy(cv + j, vb, t * sizeof(float));
  }
}

static int adam_describe(const lt_optim *o, char *buf, size_t n) {
  return snprintf(buf, n, "%s(%zu params, lr=%g, betas=(%g, %g), eps=%g, weight_decay=%g)", o->adamw ? "AdamW" : "Adam",
                  o->n, o->lr, o->beta1, o->beta2, o->eps, o->weight_decay);
}

static const lt_optim_ops adam_ops = {.step = adam_step, .step_kept = adam_step_kept, .step_compact = adam_step_compact, .describe = adam_describe};

lt_optim *lt_optim_adam_new(size_t n, float lr, float beta1, float beta2, float eps,
                            float weight_decay, int adamw) {
  if (lt_optim_check_lr_wd("adam", lr, weight_decay)) return NULL;
  if (!(beta1 >= 0.0f && beta1 < 1.0f) || !(beta2 >= 0.0f && beta2 < 1.0f)) {
    lt_error(LT_EINVAL, "adam: betas must be in [0, 1) (got %g, %g)", beta1, beta2);
    return NULL;
  }
  if (!(eps > 0.0f) || !isfinite(eps)) {
    lt_error(LT_EINVAL, "adam: eps must be a finite number > 0 (got %g)", eps);
    return NULL;
  }
  lt_optim *o = lt_optim_alloc(&adam_ops, adamw ? "adamw" : "adam", n, 2);
  if (!o) return NULL;
  o->lr = lr;
  o->beta1 = beta1;
  o->beta2 = beta2;
  o->eps = eps;
  o->weight_decay = weight_decay;
  o->adamw = adamw != 0;
  return o;
}
