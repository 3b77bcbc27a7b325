/* nn_dropout.c: inverted dropout: in training each element is kept with
 * probability 1-p and scaled by 1/(1-p); in eval mode it is the identity.
 * The layer draws from its own seeded lt_rng (LT_STREAM_DROPOUT), which it
 * shows through ops->rng so that checkpoints carry its state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/nn_impl.h"

typedef struct {
  float p;
  uint64_t seed;                // as given: the configuration, not the generator's state
  lt_rng rng;
  int active;                   // the last forward dropped elements
  lt_tensor *y, *keep, *dx;     // keep holds 0 or 1/(1-p) per element
} dropout;

static lt_status dropout_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                               const lt_layer **producer) {
  *out_ndim = ndim;
  for (int i = 0; i < ndim; i++) out[i] = in[i];
  return LT_OK;
}

static lt_status dropout_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  dropout *p = l->priv;
  p->active = train && p->p > 0.0f;
  if (!p->active) {
    *y = (lt_tensor *)x;
    return LT_OK;
  }
  lt_status st;
  if ((st = lt_layer_buffer(&p->y, x->ndim, x->shape)) || (st = lt_layer_buffer(&p->keep, x->ndim, x->shape))) return st;
  const float *a = lt_tensor_data(x);
  float *o = lt_tensor_data(p->y), *k = lt_tensor_data(p->keep);
  const float scale = 1.0f / (1.0f - p->p);
  const double drop = p->p;
  size_t n = lt_tensor_numel(x);
  lt_rng_keep(&p->rng, k, n, drop, scale);
  for (size_t i = 0; i < n; i++) o[i] = a[i] * k[i];
  *y = p->y;
  return LT_OK;
}

static lt_status dropout_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  dropout *p = l->priv;
  if (!need_dx) return LT_OK;
  if (!p->active) {
    *dx = (lt_tensor *)dy;
    return LT_OK;
  }
  lt_status st = lt_layer_buffer(&p->dx, dy->ndim, dy->shape);
  if (st) return st;
  const float *g = lt_tensor_data(dy), *k = lt_tensor_data(p->keep);
  float *d = lt_tensor_data(p->dx);
  size_t n = lt_tensor_numel(dy);
  for (size_t i = 0; i < n; i++) d[i] = g[i] * k[i];
  *dx = p->dx;
  return LT_OK;
}

static int dropout_describe(const lt_layer *l, char *buf, size_t n) {
  const dropout *p = l->priv;
  return snprintf(buf, n, "Dropout(p = %g)", (double)p->p);
}

static void dropout_free(lt_layer *l) {
  dropout *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->keep);
  lt_tensor_release(p->dx);
  free(p);
}

// {p, seed}: the seed's 64 bits as a signed integer (Lua's), so any seed survives nn.arch
static void dropout_config(const lt_layer *l, lt_layer_config *c) {
  const dropout *p = l->priv;
  lt_config_add_num(c, "p", (double)p->p);
  lt_config_add_int(c, "seed", (int64_t)p->seed);
}

static lt_layer *dropout_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const keys[] = {"p", "seed", NULL};
  double prob;
  int64_t seed;
  if (lt_config_keys(c, "dropout", keys) || lt_config_num(c, "dropout", "p", 0.0, 1.0, NAN, &prob) ||
      lt_config_int(c, "dropout", "seed", INT64_MIN, INT64_MAX, 0, &seed))
    return NULL;
  return lt_dropout_new((float)prob, (uint64_t)seed);
}

static lt_rng *dropout_rng(lt_layer *l) { return &((dropout *)l->priv)->rng; }

const lt_layer_ops lt_dropout_ops = {
    .kind = "dropout", .prefix = "dropout", .build = dropout_build, .forward = dropout_forward,
    .backward = dropout_backward, .describe = dropout_describe, .free = dropout_free,
    .config = dropout_config, .from_config = dropout_from_config, .rng = dropout_rng,
};

lt_layer *lt_dropout_new(float prob, uint64_t seed) {
  if (!(prob >= 0.0f && prob < 1.0f)) {
    lt_error(LT_EINVAL, "dropout: p must be in [0, 1), got %g", (double)prob);
    return NULL;
  }
  dropout *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating dropout");
    return NULL;
  }
  p->p = prob, p->seed = seed;
  lt_rng_seed(&p->rng, seed, LT_STREAM_DROPOUT);
  return lt_layer_alloc(&lt_dropout_ops, p);
}
