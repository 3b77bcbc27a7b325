/* test_graph.c: the graph adjacency (src/graph/graph_adj.c, graph_kernels.c): construction
 * and its errors, the symmetric normalisation against a hand-worked 4-node path (plain, with
 * a masked edge, with a soft weight), finite-difference checks of the propagation backward to
 * the features and the edge weights, the transposed product, the node loss. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/graph.h"
#include "graph_check.h"

/* The path 0-1-2-3 (edges 0: 0-1, 1: 1-2, 2: 2-3). */
static lt_graph *path4(void) {
  int64_t pairs[] = {0, 1, 2, 1, 2, 3}; /* edge 1 given as (2, 1): orientation does not matter */
  lt_graph *g;
  if (lt_graph_new(&g, 4, 3, pairs)) fail_msg("graph: %s", lt_errmsg());
  return g;
}

static void graph_should_store_a_symmetric_csr_with_self_loops(void **state) {
  lt_graph *g = path4();
  assert_int_equal(lt_graph_nodes(g), 4);
  assert_int_equal(lt_graph_nedges(g), 3);
  assert_int_equal(lt_graph_nnz(g), 10);
  const int64_t *rowptr, *rev;
  const int32_t *col, *eid;
  lt_graph_csr(g, &rowptr, &col, &eid, &rev);
  int64_t rp[] = {0, 2, 5, 8, 10};
  int32_t cl[] = {0, 1, 0, 1, 2, 1, 2, 3, 2, 3};
  int32_t ed[] = {-1, 0, 0, -1, 1, 1, -1, 2, 2, -1};
  int64_t rv[] = {0, 2, 1, 3, 5, 4, 6, 8, 7, 9};
  assert_memory_equal(rowptr, rp, sizeof rp);
  assert_memory_equal(col, cl, sizeof cl);
  assert_memory_equal(eid, ed, sizeof ed);
  assert_memory_equal(rev, rv, sizeof rv);
  int64_t u, v;
  lt_graph_edge(g, 1, &u, &v);
  assert_true(u == 2 && v == 1);
  assert_int_equal(lt_graph_kept(g), 3);
  lt_graph_release(g);
}

static void graph_should_refuse_bad_edges_naming_them(void **state) {
  lt_graph *g = NULL;
  int64_t loop[] = {0, 1, 2, 2};
  assert_int_equal(lt_graph_new(&g, 4, 2, loop), LT_EINVAL);
  assert_non_null(strstr(lt_errmsg(), "edge 1 is a self-loop on node 2"));
  int64_t out[] = {0, 4};
  assert_int_equal(lt_graph_new(&g, 4, 1, out), LT_EINVAL);
  assert_non_null(strstr(lt_errmsg(), "outside 0..3"));
  int64_t dup[] = {0, 1, 1, 2, 1, 0};
  assert_int_equal(lt_graph_new(&g, 4, 3, dup), LT_EINVAL);
  assert_non_null(strstr(lt_errmsg(), "edge 2 (0, 1) duplicates edge 0"));
  assert_int_equal(lt_graph_new(&g, 0, 0, NULL), LT_EINVAL);
  assert_null(g);
  /* an edgeless graph is fine: A_hat = I */
  assert_int_equal(lt_graph_new(&g, 3, 0, NULL), LT_OK);
  float x[3] = {1, 2, 3}, y[3];
  lt_graph_propagate(g, y, x, 1);
  assert_true(y[0] == 1 && y[1] == 2 && y[2] == 3);
  assert_true(lt_graph_density(g) == 1.0);
  lt_graph_release(g);
}

/* Degrees with self-loops 2, 3, 3, 2: A_hat_ij = 1 / sqrt(d_i d_j) on the pattern. */
static void normalization_should_match_the_hand_worked_path(void **state) {
  lt_graph *g = path4();
  float A[16];
  dense_ahat(g, A);
  double s6 = 1 / sqrt(6.0);
  double want[16] = {0.5, s6, 0, 0, s6, 1 / 3.0, 1 / 3.0, 0, 0, 1 / 3.0, 1 / 3.0, s6, 0, 0, s6, 0.5};
  check_matrix(A, want, 4, 1e-6);

  /* edge 1-2 masked: two disjoint pairs, every degree 2, every kept entry 1/2 */
  lt_tensor_data(lt_graph_mask(g))[1] = 0;
  dense_ahat(g, A);
  double cut[16] = {0.5, 0.5, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0.5, 0.5};
  check_matrix(A, cut, 4, 1e-6);
  assert_int_equal(lt_graph_kept(g), 2);

  /* mask back, soft weight 3 on edge 0-1: degrees 4, 5, 3, 2 */
  lt_tensor_data(lt_graph_mask(g))[1] = 1;
  lt_tensor_data(lt_graph_weight(g))[0] = 3;
  dense_ahat(g, A);
  double w[16] = {1 / 4.0, 3 / sqrt(20.0), 0, 0, 3 / sqrt(20.0), 1 / 5.0, 1 / sqrt(15.0), 0,
                  0, 1 / sqrt(15.0), 1 / 3.0, s6, 0, 0, s6, 0.5};
  check_matrix(A, w, 4, 1e-6);
  lt_graph_release(g);
}

/* A random graph of n nodes: each pair an edge with probability p. */
static lt_graph *random_graph(int n, double p, uint64_t seed) {
  lt_rng r;
  lt_rng_seed(&r, seed, LT_STREAM_USER);
  int64_t *pairs = malloc(sizeof *pairs * (size_t)n * (size_t)n);
  int64_t e = 0;
  for (int u = 0; u < n; u++)
    for (int v = u + 1; v < n; v++)
      if (lt_rng_uniform(&r, 0, 1) < p) pairs[2 * e] = v, pairs[2 * e + 1] = u, e++;
  lt_graph *g;
  if (lt_graph_new(&g, n, e, pairs)) fail_msg("graph: %s", lt_errmsg());
  free(pairs);
  float *w = lt_tensor_data(lt_graph_weight(g));
  for (int64_t k = 0; k < e; k++) w[k] = lt_rng_uniform(&r, 0.3f, 1.7f);
  return g;
}

static void propagate_backward_should_match_finite_differences(void **state) {
  const int n = 9, F = 3;
  lt_graph *g = random_graph(n, 0.4, 7);
  int64_t E = lt_graph_nedges(g);
  assert_true(E >= 6);
  float *m = lt_tensor_data(lt_graph_mask(g)), *w = lt_tensor_data(lt_graph_weight(g));
  m[2] = 0; /* a masked edge: no gradient, no effect */
  lt_rng r;
  lt_rng_seed(&r, 3, LT_STREAM_USER);
  float x[n * F], rr[n * F], y[n * F], dx[n * F];
  for (int i = 0; i < n * F; i++) x[i] = lt_rng_uniform(&r, -1, 1), rr[i] = lt_rng_uniform(&r, -1, 1);
  check_propagation_fd(g, x, rr, y, dx, n, F, w, E, 2);
  const float *dw = lt_tensor_data(lt_graph_weight_grad(g));
  /* the gradient accumulates: a second backward doubles it */
  float once = dw[0];
  lt_graph_propagate_backward(g, NULL, rr, x, F);
  assert_true(fabs(dw[0] - 2 * once) <= 1e-6 * (1 + fabs(once)));
  /* with the edge gradient off, dx is the same and dw is left alone */
  float dx2[n * F];
  probe(g, x, rr, y, n, F); /* the coefficients of the unperturbed weights again */
  lt_graph_propagate_backward(g, dx, rr, x, F);
  once = dw[0];
  lt_graph_set_weight_grad(g, 0);
  assert_int_equal(lt_graph_weight_grad_on(g), 0);
  lt_graph_propagate_backward(g, dx2, rr, x, F);
  assert_memory_equal(dx, dx2, sizeof dx);
  assert_true(dw[0] == once);
  lt_graph_release(g);
}

static void transposed_product_should_read_coefficients_through_rev(void **state) {
  lt_graph *g = path4();
  /* an unsymmetric C: coef[e] = e + 1 */
  float coef[10], x[4] = {1, 10, 100, 1000}, y[4], yt[4];
  for (int e = 0; e < 10; e++) coef[e] = (float)(e + 1);
  lt_graph_spmm(g, coef, y, x, 1);
  lt_graph_spmm_t(g, coef, yt, x, 1);
  /* rows of C: 0: [1 2 . .], 1: [3 4 5 .], 2: [. 6 7 8], 3: [. . 9 10] */
  float want[4] = {21, 543, 8760, 10900};
  float want_t[4] = {1 + 30, 2 + 40 + 600, 50 + 700 + 9000, 800 + 10000};
  for (int i = 0; i < 4; i++) {
    assert_true(y[i] == want[i]);
    assert_true(yt[i] == want_t[i]);
  }
  float ge[10];
  lt_graph_sddmm(g, ge, x, 1, x, 1, 1);
  assert_true(ge[1] == 10 && ge[7] == 100000 && ge[9] == 1e6f);
  lt_graph_release(g);
}

static void node_loss_should_count_only_the_selected_nodes(void **state) {
  /* 3 nodes, 2 classes; logits of node 1 equal, so its loss is log 2 and gradient +-1/2 */
  float logits[6] = {5, -5, 0, 0, 9, -9}, labels[3] = {1, 0, 1}, d[6];
  int64_t idx[1] = {1}, correct;
  double loss;
  assert_int_equal(lt_graph_node_loss(&loss, d, &correct, logits, labels, 3, 2, idx, 1), LT_OK);
  assert_true(fabs(loss - log(2.0)) < 1e-6);
  assert_true(d[0] == 0 && d[1] == 0 && d[4] == 0 && d[5] == 0);
  assert_true(fabs(d[2] + 0.5) < 1e-6 && fabs(d[3] - 0.5) < 1e-6);
  assert_int_equal(correct, 1); /* first max wins: class 0 */
  int64_t bad[1] = {3};
  assert_int_equal(lt_graph_node_loss(&loss, d, NULL, logits, labels, 3, 2, bad, 1), LT_ERANGE);
  assert_non_null(strstr(lt_errmsg(), "node 3 outside 0..2"));
  labels[2] = -1;
  int64_t two[1] = {2};
  assert_int_equal(lt_graph_node_loss(&loss, NULL, NULL, logits, labels, 3, 2, two, 1), LT_ERANGE);
  assert_non_null(strstr(lt_errmsg(), "node 2 has label -1"));
  float x[6] = {1, 3, 0, 0, 2, 2};
  lt_graph_row_normalize(x, 3, 2);
  assert_true(x[0] == 0.25f && x[1] == 0.75f && x[2] == 0 && x[3] == 0 && x[4] == 0.5f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(graph_should_store_a_symmetric_csr_with_self_loops),
      cmocka_unit_test(graph_should_refuse_bad_edges_naming_them),
      cmocka_unit_test(normalization_should_match_the_hand_worked_path),
      cmocka_unit_test(propagate_backward_should_match_finite_differences),
      cmocka_unit_test(transposed_product_should_read_coefficients_through_rev),
      cmocka_unit_test(node_loss_should_count_only_the_selected_nodes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
