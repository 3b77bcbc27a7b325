/* init.c: parameter initialisation: Glorot (Xavier) and Kaiming (He) schemes
 * for linear and conv weights, zero biases, batchnorm gamma 1 / beta 0 and
 * fresh running statistics. Draws come from the caller's lt_rng in parameter order. */
#include <math.h>
#include <string.h>

#include "nn/nn_impl.h"

int lt_init_kind_parse(const char *s) {
  static const char *names[] = {"glorot_normal", "glorot_uniform", "kaiming_normal", "kaiming_uniform"};
  if (!s) return -1;
  for (int i = 0; i < 4; i++)
    if (!strcmp(s, names[i])) return i;
  if (!strcmp(s, "xavier_normal")) return LT_INIT_GLOROT_NORMAL;
  if (!strcmp(s, "xavier_uniform")) return LT_INIT_GLOROT_UNIFORM;
  if (!strcmp(s, "he_normal")) return LT_INIT_KAIMING_NORMAL;
  if (!strcmp(s, "he_uniform")) return LT_INIT_KAIMING_UNIFORM;
  return -1;
}

// w is (out, in[, k, k]): fan_in = in*k*k, fan_out = out*k*k
static void init_weight(float *w, const lt_param *p, lt_rng *r, lt_init_kind kind) {
  double receptive = 1.0;
  for (int i = 2; i < p->ndim; i++) receptive *= (double)p->shape[i];
  double fan_in = (double)p->shape[1] * receptive, fan_out = (double)p->shape[0] * receptive;
  double scale;
  int normal = kind == LT_INIT_GLOROT_NORMAL || kind == LT_INIT_KAIMING_NORMAL;
  if (kind == LT_INIT_GLOROT_NORMAL) scale = sqrt(2.0 / (fan_in + fan_out));       // std
  else if (kind == LT_INIT_GLOROT_UNIFORM) scale = sqrt(6.0 / (fan_in + fan_out)); // bound
  else if (kind == LT_INIT_KAIMING_NORMAL) scale = sqrt(2.0 / fan_in);
  else scale = sqrt(6.0 / fan_in);
  for (size_t i = 0; i < p->numel; i++)
    w[i] = normal ? (float)(scale * lt_rng_normal(r)) : lt_rng_uniform(r, (float)-scale, (float)scale);
}

lt_status lt_model_init(lt_model *m, lt_rng *r, lt_init_kind kind) {
  if ((int)kind < 0 || kind > LT_INIT_KAIMING_UNIFORM) return lt_error(LT_EINVAL, "unknown init kind %d", (int)kind);
  for (int i = 0; i < lt_model_nparams(m); i++) {
    const lt_param *p = lt_model_param(m, i);
    float *v = lt_tensor_data(p->value);
    if ((p->prunable || p->drawn) && p->ndim >= 2) init_weight(v, p, r, kind);
    else lt_tensor_fill(p->value, p->init); /* what the layer declared: 0, batchnorm gamma 1 */
  }
  for (int i = 0; i < lt_model_nbuffers(m); i++) {
    const lt_param *p = lt_model_buffer(m, i);
    lt_tensor_fill(p->value, p->init); /* running mean 0, running var 1 */
  }
  lt_model_apply_mask(m);
  return LT_OK;
}
