/* graph_check.h: what test_graph.c (one weight per edge) and test_graph_directed.c
 * (one per direction) share: a 4-node A_hat as a dense matrix, a matrix compared with
 * hand-worked values, and the finite-difference check of the propagation's backward.
 * Include after cmocka.h and lotto/graph.h. */
#ifndef LOTTO_TESTS_GRAPH_CHECK_H
#define LOTTO_TESTS_GRAPH_CHECK_H

/* A_hat of a 4-node graph as a dense 4x4 matrix: the propagation of the identity. */
static void dense_ahat(lt_graph *g, float *A) {
  float eye[16] = {0};
  for (int i = 0; i < 4; i++) eye[5 * i] = 1;
  lt_graph_propagate(g, A, eye, 4);
}

static void check_matrix(const float *got, const double *want, int n, double tol) {
  for (int i = 0; i < n * n; i++)
    if (fabs(got[i] - want[i]) > tol) fail_msg("entry (%d, %d): %.7f, expected %.7f", i / n, i % n, got[i], want[i]);
}


/* sum of y . r over y = propagate(x): a scalar whose gradient is the backward's */
static double probe(lt_graph *g, const float *x, const float *r, float *y, int n, int F) {
  lt_graph_propagate(g, y, x, F);
  double s = 0;
  for (int i = 0; i < n * F; i++) s += (double)y[i] * r[i];
  return s;
}

/* Runs the backward of probe at x (dx written, the weight gradient from zero) and
 * checks dx and the gradient of each of the nw weights w against central
 * differences; weight `masked` (masked out) must have a zero gradient and no effect.
 * y is scratch of n * F floats. */
static void check_propagation_fd(lt_graph *g, float *x, const float *rr, float *y, float *dx, int n, int F, float *w,
                                 int64_t nw, int64_t masked) {
  probe(g, x, rr, y, n, F);
  lt_graph_zero_grad(g);
  lt_graph_propagate_backward(g, dx, rr, x, F);
  const float *dw = lt_tensor_data(lt_graph_weight_grad(g));
  const double eps = 1e-3;
  for (int i = 0; i < n * F; i++) {
    float keep = x[i];
    x[i] = keep + (float)eps;
    double lp = probe(g, x, rr, y, n, F);
    x[i] = keep - (float)eps;
    double lm = probe(g, x, rr, y, n, F);
    x[i] = keep;
    double fd = (lp - lm) / (2 * eps);
    if (fabs(fd - dx[i]) > 2e-3 * (1 + fabs(fd))) fail_msg("dx[%d] = %.6f, finite difference %.6f", i, dx[i], fd);
  }
  for (int64_t k = 0; k < nw; k++) {
    float keep = w[k];
    w[k] = keep + (float)eps;
    double lp = probe(g, x, rr, y, n, F);
    w[k] = keep - (float)eps;
    double lm = probe(g, x, rr, y, n, F);
    w[k] = keep;
    double fd = (lp - lm) / (2 * eps);
    if (k == masked) {
      assert_true(dw[k] == 0.0f);
      assert_true(fabs(fd) < 1e-9);
    } else if (fabs(fd - dw[k]) > 2e-3 * (1 + fabs(fd))) {
      fail_msg("dw[%lld] = %.6f, finite difference %.6f", (long long)k, dw[k], fd);
    }
  }
}

#endif
