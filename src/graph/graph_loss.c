/* graph_loss.c: node-level training on a graph: the cross-entropy over a subset of the nodes
 * (the training split of a semi-supervised task) and the row normalisation of the features. */
#include <stdlib.h>
#include <string.h>

#include "lotto/graph.h"

lt_status lt_graph_node_loss(double *loss, float *dlogits, int64_t *ncorrect, const float *logits,
                             const float *labels, int64_t N, int64_t C, const int64_t *idx, int64_t n) {
  if (n < 1) return lt_error(LT_EINVAL, "node loss: no nodes selected");
  for (int64_t r = 0; r < n; r++)
    if (idx[r] < 0 || idx[r] >= N)
      return lt_error(LT_ERANGE, "node loss: node %lld outside 0..%lld", (long long)idx[r], (long long)N - 1);
  float *lg = malloc((size_t)(n * C + n) * sizeof *lg);
  if (!lg) return lt_error(LT_ENOMEM, "node loss: out of memory");
  float *lb = lg + n * C;
  for (int64_t r = 0; r < n; r++) {
    memcpy(lg + r * C, logits + idx[r] * C, (size_t)C * sizeof *lg);
    lb[r] = labels[idx[r]];
  }
  lt_status s = lt_cross_entropy_f(loss, dlogits ? lg : NULL, ncorrect, lg, lb, n, C);
  if (s) {
    /* name the node rather than the row of the gathered batch */
    for (int64_t r = 0; r < n; r++)
      if (!(lb[r] >= 0 && lb[r] < C && lb[r] == (float)(int64_t)lb[r])) {
        s = lt_error(LT_ERANGE, "node loss: node %lld has label %g, not a class in 0..%lld", (long long)idx[r],
                     (double)lb[r], (long long)C - 1);
        break;
      }
  } else if (dlogits) {
    memset(dlogits, 0, (size_t)(N * C) * sizeof *dlogits);
    for (int64_t r = 0; r < n; r++) {
      float *d = dlogits + idx[r] * C;
      for (int64_t c = 0; c < C; c++) d[c] += lg[r * C + c]; /* a node listed twice counts twice */
    }
  }
  free(lg);
  return s;
}

void lt_graph_row_normalize(float *x, int64_t N, int64_t F) {
  for (int64_t i = 0; i < N; i++) {
    float *r = x + i * F;
    double s = 0;
    for (int64_t f = 0; f < F; f++) s += r[f];
    if (s == 0) continue;
    float inv = (float)(1.0 / s);
    for (int64_t f = 0; f < F; f++) r[f] *= inv;
  }
}
