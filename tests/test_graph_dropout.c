/* test_graph_dropout.c: the input dropout inside the graph layers (graph_xw.c). On a graph
 * without edges A_hat = I, so a GCN with W = I and no bias shows x' itself: on sparse features
 * each nonzero is kept (scaled by 1 / (1 - p)) or dropped, zeros stay zero, the weight gradient
 * reads x' and the input gradient carries the keep mask (drawn too where x is 0). On dense
 * features the layer equals nn.dropout(p, seed) before a GCN without dropout, bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/graph.h"

enum { N = 40, F = 64 };

/* A GCN F -> F over n edgeless nodes with W = I, no bias. */
static lt_model *identity_gcn(lt_graph *g, float p, uint64_t seed) {
  lt_model *m = lt_model_new(lt_gcn_new(g, F, F, 0, p, seed), 1, (int64_t[]){F});
  if (!m) fail_msg("model: %s", lt_errmsg());
  float *w = lt_tensor_data(lt_model_param(m, 0)->value);
  for (int i = 0; i < F; i++) w[i * F + i] = 1;
  return m;
}

/* x (N, F) with about 5% of its entries nonzero (in [0.5, 1.5]), the rest 0. */
static lt_tensor *sparse_x(uint64_t seed) {
  lt_rng r;
  lt_rng_seed(&r, seed, LT_STREAM_USER);
  lt_tensor *x = lt_tensor_new2(N, F);
  for (int64_t i = 0; i < N * F; i++)
    if (lt_rng_double(&r) < 0.05) lt_tensor_data(x)[i] = lt_rng_uniform(&r, 0.5f, 1.5f);
  return x;
}

static void sparse_features_should_keep_or_drop_each_nonzero(void **state) {
  lt_graph *g;
  assert_int_equal(lt_graph_new(&g, N, 0, NULL), LT_OK);
  lt_model *m = identity_gcn(g, 0.5f, 3);
  lt_tensor *x = sparse_x(1), *y, *dx;
  const float *xd = lt_tensor_data(x);
  int nz = 0, kept = 0, differ = 0;
  float first[N * F], second[N * F];
  for (int rep = 0; rep < 2; rep++) {
    lt_model_zero_grad(m);
    assert_int_equal(lt_model_forward(m, x, &y, 1), LT_OK);
    const float *yd = lt_tensor_data(y);
    for (int64_t i = 0; i < N * F; i++) {
      if (xd[i] == 0) assert_true(yd[i] == 0);
      else assert_true(yd[i] == 0 || yd[i] == 2 * xd[i]);
      if (rep == 0) nz += xd[i] != 0, kept += yd[i] != 0, first[i] = yd[i];
      else differ += yd[i] != first[i], second[i] = yd[i];
    }
    if (rep == 1) break;
    /* dW = dy^T x' with dy = 1: column sums of y; dx = dy W times the keep mask */
    lt_tensor *dy = lt_tensor_full(2, y->shape, 1.0f);
    assert_int_equal(lt_model_backward(m, dy, &dx), LT_OK);
    const float *dW = lt_tensor_data(lt_model_param(m, 0)->grad), *dxd = lt_tensor_data(dx);
    for (int f = 0; f < F; f++) {
      double s = 0;
      for (int i = 0; i < N; i++) s += first[i * F + f];
      for (int o = 0; o < F; o++) assert_true(fabs(dW[o * F + f] - s) < 1e-4);
    }
    int zeros = 0, zkept = 0;
    for (int64_t i = 0; i < N * F; i++) {
      if (xd[i] != 0) assert_true(dxd[i] == (first[i] != 0 ? 2.0f : 0.0f));
      else zeros++, zkept += dxd[i] == 2.0f, assert_true(dxd[i] == 0 || dxd[i] == 2.0f);
    }
    assert_true(zkept > 0.4 * zeros && zkept < 0.6 * zeros);
    lt_tensor_release(dy);
  }
  assert_true(nz > 60);
  assert_true(kept > 0.3 * nz && kept < 0.7 * nz);
  assert_true(differ > 0); /* each training forward draws anew */
  /* asking for dx (draws for the zeros) leaves the forward's stream alone: a twin that never
   * asked draws the same second mask */
  lt_model *twin = identity_gcn(g, 0.5f, 3);
  lt_tensor *yt;
  assert_int_equal(lt_model_forward(twin, x, &yt, 1), LT_OK);
  lt_tensor *ones = lt_tensor_full(2, yt->shape, 1.0f);
  assert_int_equal(lt_model_backward(twin, ones, NULL), LT_OK);
  assert_int_equal(lt_model_forward(twin, x, &yt, 1), LT_OK);
  assert_memory_equal(lt_tensor_data(yt), second, sizeof second);
  lt_tensor_release(ones);
  lt_model_free(twin);
  assert_int_equal(lt_model_forward(m, x, &y, 0), LT_OK); /* evaluation: x itself */
  for (int64_t i = 0; i < N * F; i++) assert_true(lt_tensor_data(y)[i] == xd[i]);
  lt_tensor_release(x);
  lt_model_free(m);
  lt_graph_release(g);
}

static void dense_features_should_match_a_dropout_layer_before_the_gcn(void **state) {
  lt_graph *g;
  int64_t pairs[] = {0, 1, 1, 2, 5, 9, 3, 30};
  assert_int_equal(lt_graph_new(&g, N, 4, pairs), LT_OK);
  lt_rng r;
  lt_rng_seed(&r, 5, LT_STREAM_USER);
  lt_tensor *x = lt_tensor_rand(2, (int64_t[]){N, F}, &r, -1, 1), *ya, *yb;
  lt_model *a = lt_model_new(lt_gcn_new(g, F, 3, 1, 0.3f, 17), 1, (int64_t[]){F});
  lt_layer *seq[2] = {lt_dropout_new(0.3f, 17), lt_gcn_new(g, F, 3, 1, 0, 0)};
  lt_model *b = lt_model_new(lt_sequential_new(2, seq), 1, (int64_t[]){F});
  assert_non_null(a), assert_non_null(b);
  float *va = lt_tensor_data(lt_model_values(a));
  for (size_t i = 0; i < lt_model_numel(a, 0); i++) va[i] = lt_rng_uniform(&r, -1, 1);
  lt_tensor_copy(lt_model_values(b), lt_model_values(a));
  for (int rep = 0; rep < 2; rep++) {
    assert_int_equal(lt_model_forward(a, x, &ya, 1), LT_OK);
    assert_int_equal(lt_model_forward(b, x, &yb, 1), LT_OK);
    assert_memory_equal(lt_tensor_data(ya), lt_tensor_data(yb), sizeof(float) * N * 3);
  }
  lt_tensor_release(x);
  lt_model_free(a), lt_model_free(b);
  lt_graph_release(g);
}

static void a_bad_dropout_should_be_refused(void **state) {
  lt_graph *g;
  assert_int_equal(lt_graph_new(&g, N, 0, NULL), LT_OK);
  assert_null(lt_gcn_new(g, F, 3, 1, 1.0f, 0));
  assert_non_null(strstr(lt_errmsg(), "dropout"));
  assert_null(lt_gat_new(g, F, 3, 1, 1, -0.1f, 0));
  lt_graph_release(g);
}

/* The CSR path's products against their definition, on an edgeless graph (A_hat = I) without
 * dropout: y = x W^T and dW += dy^T x, for sizes on, around and below the 8 x 8 blocks that W and
 * dW are transposed in (graph_xw.c), W random, the gradient added onto a nonzero one. The
 * transposes move values without arithmetic and each gradient entry sums the same nonzeros in
 * row order, so both must agree within float rounding of the dot products. */
/* got (rows, cols) against init + sum_k a[i, k] b[k, j] within float rounding of the dot
 * products, a[i, k] at a[i * ar + k * ak] and b[k, j] at b[k * bk + j * bc]. */
static void check_product(const char *what, const float *got, int rows, int cols, int n, const float *a, int ar, int ak,
                          const float *b, int bk, int bc, double init) {
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) {
      double s = init, mag = fabs(init);
      for (int k = 0; k < n; k++) {
        const double t = (double)a[i * ar + k * ak] * b[k * bk + j * bc];
        s += t, mag += fabs(t);
      }
      if (fabs(got[i * cols + j] - s) > 1e-6 * mag + 1e-7)
        fail_msg("%s (%d x %d, inner %d): [%d, %d] = %.9g, want %.9g", what, rows, cols, n, i, j, got[i * cols + j], s);
    }
}

static void sparse_products_should_match_the_definition_around_the_transpose_blocks(void **state) {
  static const int sizes[][2] = {{64, 64}, {13, 21}, {21, 13}, {8, 8}, {7, 9}, {3, 5}, {40, 17}};
  lt_rng r;
  lt_rng_seed(&r, 11, LT_STREAM_USER);
  for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
    const int in = sizes[c][0], out = sizes[c][1];
    lt_graph *g;
    assert_int_equal(lt_graph_new(&g, N, 0, NULL), LT_OK);
    lt_model *m = lt_model_new(lt_gcn_new(g, in, out, 0, 0.0f, 1), 1, (int64_t[]){in});
    if (!m) fail_msg("model: %s", lt_errmsg());
    float *w = lt_tensor_data(lt_model_param(m, 0)->value), *gw = lt_tensor_data(lt_model_param(m, 0)->grad);
    for (int i = 0; i < in * out; i++) w[i] = lt_rng_uniform(&r, -1.0f, 1.0f);
    lt_tensor *x = lt_tensor_new2(N, in), *dy = lt_tensor_new2(N, out), *y, *dx;
    float *xd = lt_tensor_data(x), *dyd = lt_tensor_data(dy);
    for (int64_t i = 0; i < (int64_t)N * in; i++)
      if (lt_rng_double(&r) < 0.05) xd[i] = lt_rng_uniform(&r, 0.5f, 1.5f);
    for (int64_t i = 0; i < (int64_t)N * out; i++) dyd[i] = lt_rng_uniform(&r, -1.0f, 1.0f);
    lt_model_zero_grad(m);
    for (int i = 0; i < in * out; i++) gw[i] = 0.25f; /* the backward adds onto it */
    assert_int_equal(lt_model_forward(m, x, &y, 1), LT_OK);
    /* y (N, out) = x (N, in) . W^T; dW (out, in) = 0.25 + dy^T (out, N) . x (N, in) */
    check_product("y", lt_tensor_data(y), N, out, in, xd, in, 1, w, 1, in, 0.0);
    assert_int_equal(lt_model_backward(m, dy, &dx), LT_OK);
    check_product("dW", gw, out, in, N, dyd, 1, out, xd, in, 1, 0.25);
    lt_tensor_release(x), lt_tensor_release(dy);
    lt_model_free(m);
    lt_graph_release(g);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sparse_features_should_keep_or_drop_each_nonzero),
      cmocka_unit_test(sparse_products_should_match_the_definition_around_the_transpose_blocks),
      cmocka_unit_test(dense_features_should_match_a_dropout_layer_before_the_gcn),
      cmocka_unit_test(a_bad_dropout_should_be_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
