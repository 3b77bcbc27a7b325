/* evaluate.c: loss and accuracy of a model over a whole data set, in eval
 * mode, a batch of rows at a time through views (no copies of the data). */
#include <math.h>

#include "nn/nn_impl.h"

lt_status lt_model_evaluate_xy(lt_model *m, const lt_tensor *x, const lt_tensor *y, int nclasses, int batch,
                               double *loss, double *acc) {
  if (batch <= 0) return lt_error(LT_EINVAL, "evaluate: batch must be positive, got %d", batch);
  if (x->ndim < 1 || y->ndim < 1 || x->shape[0] != y->shape[0] || x->shape[0] == 0)
    return lt_error(LT_ESHAPE, "evaluate: inputs have %lld rows but targets have %lld (need the same, > 0)",
                    (long long)x->shape[0], (long long)y->shape[0]);
  int64_t N = x->shape[0];
  int was = lt_model_is_training(m);
  lt_model_train(m, 0);
  double total = 0.0;
  int64_t correct = 0;
  lt_status st = LT_OK;
  for (int64_t start = 0; start < N && !st; start += batch) {
    int64_t n = N - start < batch ? N - start : batch;
    lt_tensor *xb = lt_tensor_narrow((lt_tensor *)x, 0, start, n), *yb = lt_tensor_narrow((lt_tensor *)y, 0, start, n);
    lt_tensor *out = NULL;
    double l = 0.0;
    int64_t c = 0;
    if (!xb || !yb) st = LT_ENOMEM;
    if (!st) st = lt_model_forward(m, xb, &out, 0);
    if (!st) {
      lt_tensor *yc = lt_tensor_contiguous(yb);
      if (!yc) st = LT_ENOMEM;
      else if (nclasses > 0) st = lt_cross_entropy(&l, NULL, &c, out, yc);
      else st = lt_mse(&l, NULL, out, yc);
      lt_tensor_release(yc);
    }
    total += l * (double)n;
    correct += c;
    lt_tensor_release(xb);
    lt_tensor_release(yb);
    if (!st && lt_interrupted()) st = lt_error(LT_EINTR, "evaluation interrupted");
  }
  lt_model_train(m, was);
  if (st) return st;
  if (loss) *loss = total / (double)N;
  if (acc) *acc = nclasses > 0 ? (double)correct / (double)N : NAN;
  return LT_OK;
}

lt_status lt_model_evaluate(lt_model *m, const lt_dataset *d, int batch, double *loss, double *acc) {
  if (!d || !d->x || !d->y) return lt_error(LT_EINVAL, "evaluate: empty data set");
  return lt_model_evaluate_xy(m, d->x, d->y, d->nclasses, batch, loss, acc);
}
