/* optim_adam.c: Adam and AdamW (decoupled weight decay), mask-aware.
 * Owns nothing beyond the two moment buffers of its lt_optim. */
#include <math.h>
#include <stdlib.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "lotto/optim.h"

lt_optim *lt_optim_adam_new(size_t n, float lr, float beta1, float beta2, float eps,
                            float weight_decay, int adamw) {
  if (!(lr >= 0.0f) || !isfinite(lr)) {
    lt_error(LT_EINVAL, "adam: lr must be a finite number >= 0 (got %g)", lr);
    return NULL;
  }
  if (!(beta1 >= 0.0f && beta1 < 1.0f) || !(beta2 >= 0.0f && beta2 < 1.0f)) {
    lt_error(LT_EINVAL, "adam: betas must be in [0, 1) (got %g, %g)", beta1, beta2);
    return NULL;
  }
  if (!(eps > 0.0f) || !isfinite(eps)) {
    lt_error(LT_EINVAL, "adam: eps must be a finite number > 0 (got %g)", eps);
    return NULL;
  }
  if (!(weight_decay >= 0.0f) || !isfinite(weight_decay)) {
    lt_error(LT_EINVAL, "adam: weight_decay must be a finite number >= 0 (got %g)", weight_decay);
    return NULL;
  }
  lt_optim *o = calloc(1, sizeof *o);
  size_t bytes = (n ? n : 1) * sizeof(float);
  if (!o || !(o->m = calloc(1, bytes)) || !(o->v = calloc(1, bytes))) {
    lt_optim_free(o);
    lt_error(LT_ENOMEM, "adam: out of memory for %zu parameters", n);
    return NULL;
  }
  o->kind = LT_OPTIM_ADAM;
  o->n = n;
  o->lr = lr;
  o->beta1 = beta1;
  o->beta2 = beta2;
  o->eps = eps;
  o->weight_decay = weight_decay;
  o->adamw = adamw != 0;
  return o;
}

/* Constants of one step, shared by the vector and scalar loops. */
typedef struct adam_k {
  float b1c, b2, b2c, eps, l2, shrink, step_size, inv_bc2_sqrt;
} adam_k;

/* One weight, the reference formula (see lt_optim_adam_step). */
static inline float adam_one(const adam_k *k, float *w, float g, float *m, float *v) {
  float wi = *w * k->shrink;
  float gi = g + k->l2 * wi;
  float mi = *m + k->b1c * (gi - *m);
  float vi = k->b2 * *v + k->b2c * gi * gi;
  *m = mi;
  *v = vi;
  return wi - k->step_size * mi / (sqrtf(vi) * k->inv_bc2_sqrt + k->eps);
}

/* Without -fno-math-errno GCC will not vectorise sqrtf, and the step is
 * memory-light enough that the scalar square root dominates: on AVX the
 * main loop is written with intrinsics (same operations, same order). */
static inline __attribute__((always_inline)) void adam_loop(const adam_k *k, size_t n, float *restrict w,
                                                            const float *restrict g, const float *restrict mask,
                                                            float *restrict m, float *restrict v, int has_mask) {
  size_t i = 0;
#if defined(__AVX__)
  const __m256 b1c = _mm256_set1_ps(k->b1c), b2 = _mm256_set1_ps(k->b2), b2c = _mm256_set1_ps(k->b2c);
  const __m256 eps = _mm256_set1_ps(k->eps), l2 = _mm256_set1_ps(k->l2), shrink = _mm256_set1_ps(k->shrink);
  const __m256 step = _mm256_set1_ps(k->step_size), ibc2 = _mm256_set1_ps(k->inv_bc2_sqrt), zero = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m256 wi = _mm256_mul_ps(_mm256_loadu_ps(w + i), shrink);
    __m256 gi = _mm256_add_ps(_mm256_loadu_ps(g + i), _mm256_mul_ps(l2, wi));
    __m256 mo = _mm256_loadu_ps(m + i);
    __m256 mi = _mm256_add_ps(mo, _mm256_mul_ps(b1c, _mm256_sub_ps(gi, mo)));
    __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(b2c, gi), gi));
    __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), ibc2), eps);
    __m256 nw = _mm256_sub_ps(wi, _mm256_div_ps(_mm256_mul_ps(step, mi), den));
    if (has_mask) {
      __m256 keep = _mm256_cmp_ps(_mm256_loadu_ps(mask + i), zero, _CMP_NEQ_UQ); /* as mask != 0 */
      mi = _mm256_and_ps(mi, keep);
      vi = _mm256_and_ps(vi, keep);
      nw = _mm256_and_ps(nw, keep);
    }
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    _mm256_storeu_ps(w + i, nw);
  }
#endif
  for (; i < n; i++) {
    if (has_mask && mask[i] == 0.0f) {
      w[i] = m[i] = v[i] = 0.0f;
      continue;
    }
    w[i] = adam_one(k, &w[i], g[i], &m[i], &v[i]);
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
void lt_optim_adam_step(lt_optim *o, float *w, const float *g, const float *mask) {
  const adam_k k = adam_consts(o);
  if (mask)
    adam_loop(&k, o->n, w, g, mask, o->m, o->v, 1);
  else
    adam_loop(&k, o->n, w, g, NULL, o->m, o->v, 0);
}

void lt_optim_adam_step_kept(lt_optim *o, float *w, const float *g) {
  const adam_k k = adam_consts(o);
  const uint32_t *kept = o->kept;
  float *m = o->m, *v = o->v;
  for (size_t j = 0; j < o->nkept; j++) {
    const uint32_t i = kept[j];
    w[i] = adam_one(&k, &w[i], g[i], &m[i], &v[i]);
  }
}
