/* optim_sgd.c: SGD with momentum / Nesterov / L2 weight decay (PyTorch's
 * torch.optim.SGD, dampening 0). What optimizers share is in optim.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h"


/* Branch-free so that GCC vectorises it (a masked weight is selected to 0). */
static inline __attribute__((always_inline)) void sgd_loop(size_t n, float *restrict w, const float *restrict g,
                                                           const float *restrict mask, float *restrict buf,
                                                           float lr, float wd, float mu, int nesterov, int first,
                                                           int has_mask) {
  for (size_t i = 0; i < n; i++) {
    float d = g[i] + wd * w[i];
    if (buf) {
      float b = first ? d : mu * buf[i] + d;
      if (has_mask) b = mask[i] != 0.0f ? b : 0.0f;
      buf[i] = b;
      d = nesterov ? d + mu * b : b;
    }
    float nw = w[i] - lr * d;
    w[i] = (has_mask && mask[i] == 0.0f) ? 0.0f : nw;
  }
}

/* PyTorch's SGD: g' = g + wd*w; buf = momentum*buf + g' (buf = g' on the first
 * step); update = nesterov ? g' + momentum*buf : buf; w -= lr*update.
 * A masked weight (mask 0) is written 0 and its buffer stays 0. */
static void sgd_step(lt_optim *o, float *w, const float *g, const float *mask) {
  const float lr = o->lr, wd = o->weight_decay, mu = o->momentum;
  const int first = o->steps == 0;
  if (mask && o->m)
    sgd_loop(o->n, w, g, mask, o->m, lr, wd, mu, o->nesterov, first, 1);
  else if (mask)
    sgd_loop(o->n, w, g, mask, NULL, lr, wd, mu, 0, first, 1);
  else if (o->m)
    sgd_loop(o->n, w, g, NULL, o->m, lr, wd, mu, o->nesterov, first, 0);
  else
    sgd_loop(o->n, w, g, NULL, NULL, lr, wd, mu, 0, first, 0);
}

/* One kept weight (w, g) with its compact momentum slot buf (NULL: none). */
static inline float sgd_one(const lt_optim *o, float w, float g, float *buf, int first) {
  const float mu = o->momentum;
  float d = g + o->weight_decay * w;
  if (buf) {
    float b = first ? d : mu * *buf + d;
    *buf = b;
    d = o->nesterov ? d + mu * b : b;
  }
  return w - o->lr * d;
}

static void sgd_step_kept(lt_optim *o, float *w, const float *g, size_t j0, size_t j1) {
  const int first = o->steps == 0;
  const uint32_t *kept = o->kept;
  for (size_t k = j0; k < j1; k++) {
    const uint32_t i = kept[k];
    w[i] = sgd_one(o, w[i], g[i], o->m ? o->cm + k : NULL, first);
  }
}

static void sgd_step_compact(lt_optim *o, float *wc, const float *gc, size_t j0, size_t cnt) {
  const int first = o->steps == 0;
  for (size_t k = 0; k < cnt; k++) wc[k] = sgd_one(o, wc[k], gc[k], o->m ? o->cm + j0 + k : NULL, first);
}

static int sgd_describe(const lt_optim *o, char *buf, size_t n) {
  return snprintf(buf, n, "SGD(%zu params, lr=%g, momentum=%g%s, weight_decay=%g)", o->n, o->lr, o->momentum,
                  o->nesterov ? ", nesterov" : "", o->weight_decay);
}

static const lt_optim_ops sgd_ops = {.step = sgd_step, .step_kept = sgd_step_kept, .step_compact = sgd_step_compact, .describe = sgd_describe};

lt_optim *lt_optim_sgd_new(size_t n, float lr, float momentum, int nesterov, float weight_decay) {
  if (lt_optim_check_lr_wd("sgd", lr, weight_decay)) return NULL;
  if (!(momentum >= 0.0f && momentum < 1.0f)) {
    lt_error(LT_EINVAL, "sgd: momentum must be in [0, 1) (got %g)", momentum);
    return NULL;
  }
  if (nesterov && momentum == 0.0f) {
    lt_error(LT_EINVAL, "sgd: nesterov needs a momentum > 0");
    return NULL;
  }
  lt_optim *o = lt_optim_alloc(&sgd_ops, "sgd", n, momentum > 0.0f ? 1 : 0);
  if (!o) return NULL;
  o->lr = lr;
  o->momentum = momentum;
  o->nesterov = nesterov != 0;
  o->weight_decay = weight_decay;
  return o;
}
