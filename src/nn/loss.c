/* loss.c: fused losses: softmax cross-entropy over (B, C) logits with class-id
 * labels, and mean squared error. Each computes the loss (accumulated in
 * double) and its gradient in one pass, with no allocation. */
#include <math.h>
#include <string.h>

#include "nn/nn_impl.h"

int lt_loss_kind_parse(const char *s) {
  if (!s) return -1;
  if (!strcmp(s, "cross_entropy") || !strcmp(s, "ce") || !strcmp(s, "xent")) return LT_LOSS_CROSS_ENTROPY;
  if (!strcmp(s, "mse")) return LT_LOSS_MSE;
  return -1;
}

// logits (B, C); labels (B); dlogits (B, C) or NULL, may alias logits
lt_status lt_cross_entropy_f(double *loss, float *dlogits, int64_t *ncorrect, const float *logits,
                             const float *labels, int64_t B, int64_t C) {
  if (B <= 0 || C <= 0) return lt_error(LT_ESHAPE, "cross_entropy: logits must be (B, C) with B, C > 0, got (%lld, %lld)",
                                        (long long)B, (long long)C);
  for (int64_t b = 0; b < B; b++) {
    float lf = labels[b];
    if (!(lf >= 0.0f && lf < (float)C) || lf != floorf(lf))
      return lt_error(LT_ERANGE, "cross_entropy: label %g at row %lld is not a class id in 0..%lld", (double)lf,
                      (long long)b + 1, (long long)C - 1);
  }
  double total = 0.0;
  int64_t correct = 0;
  const float scale = 1.0f / (float)B;
  for (int64_t b = 0; b < B; b++) {
    const float *z = logits + b * C;
    int64_t y = (int64_t)labels[b];
    float mx = z[0];
    int64_t arg = 0;
    for (int64_t c = 1; c < C; c++)
      if (z[c] > mx) mx = z[c], arg = c;
    correct += arg == y;
    const float zy = z[y] - mx;
    double sum = 0.0;
    if (dlogits) {
      // one expf per logit, kept in d for the gradient; each z[c] is read
      // before d[c] overwrites it (and z[y] before the loop), so d may alias z
      float *d = dlogits + b * C;
      for (int64_t c = 0; c < C; c++) {
        float e = expf(z[c] - mx);
        sum += (double)e;
        d[c] = e;
      }
      float inv = (float)(1.0 / sum);
      for (int64_t c = 0; c < C; c++) d[c] = d[c] * inv * scale;
      d[y] -= scale;
    } else {
      for (int64_t c = 0; c < C; c++) sum += (double)expf(z[c] - mx);
    }
    total += log(sum) - (double)zy;
  }
  if (loss) *loss = total / (double)B;
  if (ncorrect) *ncorrect = correct;
  return LT_OK;
}

// pred (n); target (n); dpred (n) or NULL
lt_status lt_mse_f(double *loss, float *dpred, const float *pred, const float *target, int64_t n) {
  if (n <= 0) return lt_error(LT_ESHAPE, "mse: empty prediction");
  double total = 0.0;
  const float g = 2.0f / (float)n;
  for (int64_t i = 0; i < n; i++) {
    float d = pred[i] - target[i];
    total += (double)d * d;
    if (dpred) dpred[i] = g * d;
  }
  if (loss) *loss = total / (double)n;
  return LT_OK;
}

static lt_status need_contiguous(const lt_tensor *t, const char *what) {
  if (!lt_tensor_is_contiguous(t)) return lt_error(LT_EINVAL, "%s must be contiguous", what);
  return LT_OK;
}

lt_status lt_cross_entropy(double *loss, lt_tensor *dlogits, int64_t *ncorrect, const lt_tensor *logits,
                           const lt_tensor *labels) {
  char s1[64], s2[64];
  if (logits->ndim != 2)
    return lt_error(LT_ESHAPE, "cross_entropy: logits must be (B, C), got %s", lt_tensor_shape_str(logits, s1, sizeof s1));
  int64_t B = logits->shape[0], C = logits->shape[1];
  int ok = (labels->ndim == 1 && labels->shape[0] == B) || (labels->ndim == 2 && labels->shape[0] == B && labels->shape[1] == 1);
  if (!ok)
    return lt_error(LT_ESHAPE, "cross_entropy: labels must be (%lld) class ids for logits %s, got %s", (long long)B,
                    lt_tensor_shape_str(logits, s1, sizeof s1), lt_tensor_shape_str(labels, s2, sizeof s2));
  if (dlogits && !lt_tensor_same_shape(dlogits, logits))
    return lt_error(LT_ESHAPE, "cross_entropy: dlogits %s must match logits %s", lt_tensor_shape_str(dlogits, s1, sizeof s1),
                    lt_tensor_shape_str(logits, s2, sizeof s2));
  lt_status st;
  if ((st = need_contiguous(logits, "cross_entropy: logits")) || (st = need_contiguous(labels, "cross_entropy: labels")) ||
      (dlogits && (st = need_contiguous(dlogits, "cross_entropy: dlogits"))))
    return st;
  return lt_cross_entropy_f(loss, dlogits ? lt_tensor_data(dlogits) : NULL, ncorrect, lt_tensor_data(logits),
                            lt_tensor_data(labels), B, C);
}

lt_status lt_mse(double *loss, lt_tensor *dpred, const lt_tensor *pred, const lt_tensor *target) {
  char s1[64], s2[64];
  size_t n = lt_tensor_numel(pred);
  if (lt_tensor_numel(target) != n)
    return lt_error(LT_ESHAPE, "mse: prediction %s and target %s differ in size", lt_tensor_shape_str(pred, s1, sizeof s1),
                    lt_tensor_shape_str(target, s2, sizeof s2));
  if (dpred && lt_tensor_numel(dpred) != n)
    return lt_error(LT_ESHAPE, "mse: dpred %s must match prediction %s", lt_tensor_shape_str(dpred, s1, sizeof s1),
                    lt_tensor_shape_str(pred, s2, sizeof s2));
  lt_status st;
  if ((st = need_contiguous(pred, "mse: prediction")) || (st = need_contiguous(target, "mse: target")) ||
      (dpred && (st = need_contiguous(dpred, "mse: dpred"))))
    return st;
  return lt_mse_f(loss, dpred ? lt_tensor_data(dpred) : NULL, lt_tensor_data(pred), lt_tensor_data(target), (int64_t)n);
}
