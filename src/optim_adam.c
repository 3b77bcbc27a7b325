/* optim_adam.c: Adam and AdamW (decoupled weight decay), mask-aware.
 * Owns nothing beyond the two moment buffers of its lt_optim. */
#include <math.h>
#include <stdlib.h>

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

/* As torch.optim.Adam / AdamW (single-tensor path):
 *   adam:  g' = g + wd*w          adamw: w = w * (1 - lr*wd), g' = g
 *   m += (1-b1)*(g' - m);  v = b2*v + (1-b2)*g'^2
 *   w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
void lt_optim_adam_step(lt_optim *o, float *w, const float *g, const float *mask) {
  const size_t n = o->n;
  const float lr = o->lr, b1 = o->beta1, b2 = o->beta2, eps = o->eps;
  const float l2 = o->adamw ? 0.0f : o->weight_decay;
  const float shrink = o->adamw ? 1.0f - lr * o->weight_decay : 1.0f;
  const double t = (double)(o->steps + 1);
  const float step_size = (float)(lr / (1.0 - pow(b1, t)));
  const float bc2_sqrt = (float)sqrt(1.0 - pow(b2, t));
  float *m = o->m, *v = o->v;
  for (size_t i = 0; i < n; i++) {
    if (mask && mask[i] == 0.0f) {
      w[i] = 0.0f;
      m[i] = 0.0f;
      v[i] = 0.0f;
      continue;
    }
    float wi = w[i] * shrink;
    float gi = g[i] + l2 * wi;
    float mi = m[i] + (1.0f - b1) * (gi - m[i]);
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = wi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
  }
}
