/* optim_sgd.c: SGD with momentum / Nesterov / L2 weight decay, and the
 * functions every optimizer shares (step dispatch, reset, lr, free).
 * Adam lives in optim_adam.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/optim.h"

static lt_optim *optim_alloc(lt_optim_kind kind, size_t n, int nmoments) {
  lt_optim *o = calloc(1, sizeof *o);
  if (!o) goto fail;
  o->kind = kind;
  o->n = n;
  size_t bytes = (n ? n : 1) * sizeof(float);
  if (nmoments >= 1 && !(o->m = calloc(1, bytes))) goto fail;
  if (nmoments >= 2 && !(o->v = calloc(1, bytes))) goto fail;
  return o;
fail:
  lt_optim_free(o);
  lt_error(LT_ENOMEM, "optimizer: out of memory for %zu parameters", n);
  return NULL;
}

lt_optim *lt_optim_sgd_new(size_t n, float lr, float momentum, int nesterov, float weight_decay) {
  if (!(lr >= 0.0f) || !isfinite(lr)) {
    lt_error(LT_EINVAL, "sgd: lr must be a finite number >= 0 (got %g)", lr);
    return NULL;
  }
  if (!(momentum >= 0.0f && momentum < 1.0f)) {
    lt_error(LT_EINVAL, "sgd: momentum must be in [0, 1) (got %g)", momentum);
    return NULL;
  }
  if (nesterov && momentum == 0.0f) {
    lt_error(LT_EINVAL, "sgd: nesterov needs a momentum > 0");
    return NULL;
  }
  if (!(weight_decay >= 0.0f) || !isfinite(weight_decay)) {
    lt_error(LT_EINVAL, "sgd: weight_decay must be a finite number >= 0 (got %g)", weight_decay);
    return NULL;
  }
  lt_optim *o = optim_alloc(LT_OPTIM_SGD, n, momentum > 0.0f ? 1 : 0);
  if (!o) return NULL;
  o->lr = lr;
  o->momentum = momentum;
  o->nesterov = nesterov != 0;
  o->weight_decay = weight_decay;
  return o;
}

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
void lt_optim_sgd_step(lt_optim *o, float *w, const float *g, const float *mask) {
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

void lt_optim_sgd_step_kept(lt_optim *o, float *w, const float *g) {
  const float lr = o->lr, wd = o->weight_decay, mu = o->momentum;
  const int first = o->steps == 0;
  const uint32_t *kept = o->kept;
  float *buf = o->m;
  for (size_t k = 0; k < o->nkept; k++) {
    const uint32_t i = kept[k];
    float d = g[i] + wd * w[i];
    if (buf) {
      float b = first ? d : mu * buf[i] + d;
      buf[i] = b;
      d = o->nesterov ? d + mu * b : b;
    }
    w[i] -= lr * d;
  }
}

lt_status lt_optim_step(lt_optim *o, float *w, const float *g, const float *mask, size_t n) {
  if (!o || !w || !g) return lt_error(LT_EINVAL, "optimizer step: NULL argument");
  if (n != o->n)
    return lt_error(LT_ESHAPE, "optimizer step: %zu parameters given, optimizer made for %zu", n, o->n);
  if (o->kind == LT_OPTIM_SGD)
    lt_optim_sgd_step(o, w, g, mask);
  else
    lt_optim_adam_step(o, w, g, mask);
  o->steps++;
  return LT_OK;
}

/* Lists the kept positions of mask when sparse enough to pay off; else none. */
static lt_status build_kept(lt_optim *o, const float *mask, uint64_t version) {
  const size_t n = o->n;
  size_t nk = 0;
  for (size_t i = 0; i < n; i++) nk += mask[i] != 0.0f;
  free(o->kept);
  o->kept = NULL;
  o->nkept = nk;
  if ((double)nk <= LT_OPTIM_SPARSE_DENSITY * (double)n && n <= UINT32_MAX) {
    if (!(o->kept = malloc((nk ? nk : 1) * sizeof *o->kept)))
      return lt_error(LT_ENOMEM, "optimizer: out of memory for %zu kept positions", nk);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (mask[i] != 0.0f) o->kept[k++] = (uint32_t)i;
  }
  o->kept_version = version;
  o->kept_valid = 1;
  return LT_OK;
}

lt_status lt_optim_step_versioned(lt_optim *o, float *w, const float *g, const float *mask, size_t n,
                                  uint64_t mask_version) {
  if (!o || !w || !g) return lt_error(LT_EINVAL, "optimizer step: NULL argument");
  if (n != o->n)
    return lt_error(LT_ESHAPE, "optimizer step: %zu parameters given, optimizer made for %zu", n, o->n);
  if (!mask) return lt_optim_step(o, w, g, NULL, n);
  if (!o->kept_valid || o->kept_version != mask_version) {
    lt_status st = build_kept(o, mask, mask_version);
    if (st) return st;
    return lt_optim_step(o, w, g, mask, n); /* full pass: masked weights and moments to zero */
  }
  if (!o->kept) return lt_optim_step(o, w, g, mask, n);
  if (o->kind == LT_OPTIM_SGD)
    lt_optim_sgd_step_kept(o, w, g);
  else
    lt_optim_adam_step_kept(o, w, g);
  o->steps++;
  return LT_OK;
}

void lt_optim_reset(lt_optim *o) {
  if (!o) return;
  if (o->m) memset(o->m, 0, o->n * sizeof(float));
  if (o->v) memset(o->v, 0, o->n * sizeof(float));
  o->steps = 0;
}

lt_status lt_optim_set_lr(lt_optim *o, float lr) {
  if (!(lr >= 0.0f) || !isfinite(lr))
    return lt_error(LT_EINVAL, "optimizer: lr must be a finite number >= 0 (got %g)", lr);
  o->lr = lr;
  return LT_OK;
}

float lt_optim_get_lr(const lt_optim *o) { return o->lr; }
int64_t lt_optim_steps(const lt_optim *o) { return o->steps; }

const float *lt_optim_moment(const lt_optim *o, int k) {
  if (k == 0) return o->m;
  if (k == 1) return o->v;
  return NULL;
}

void lt_optim_free(lt_optim *o) {
  if (!o) return;
  free(o->m);
  free(o->v);
  free(o->kept);
  free(o);
}
