/* test_graph_directed.c: directed edge masks of the graph adjacency (src/graph/graph_adj.c,
 * lt_graph_set_directed): the mask entries and their pairs, the normalisation of an
 * asymmetric mask against a hand-worked 4-node path, equality with the undirected graph when
 * both directions agree, and finite-difference checks of the propagation backward to the
 * features and to every directed weight. */
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

/* The path 0-1-2-3 (edges 0: 0-1, 1: 2-1, 2: 2-3), directed. */
static lt_graph *path4_directed(void) {
  int64_t pairs[] = {0, 1, 2, 1, 2, 3};
  lt_graph *g;
  if (lt_graph_new(&g, 4, 3, pairs)) fail_msg("graph: %s", lt_errmsg());
  if (lt_graph_set_directed(g, 1)) fail_msg("directed: %s", lt_errmsg());
  return g;
}

static void directed_graph_should_have_two_mask_entries_per_edge(void **state) {
  lt_graph *g = path4_directed();
  assert_int_equal(lt_graph_directed(g), 1);
  assert_int_equal(lt_graph_nedges(g), 3);
  assert_int_equal(lt_graph_nmask(g), 6);
  assert_int_equal(lt_tensor_numel(lt_graph_mask(g)), 6);
  assert_int_equal(lt_tensor_numel(lt_graph_weight(g)), 6);
  assert_int_equal(lt_tensor_numel(lt_graph_weight_grad(g)), 6);
  /* entry 2k: u -> v of edge k = (u, v); 2k + 1: v -> u */
  int64_t want[12] = {0, 1, 1, 0, 2, 1, 1, 2, 2, 3, 3, 2};
  for (int s = 0; s < 6; s++) {
    int64_t from, to;
    lt_graph_mask_edge(g, s, &from, &to);
    if (from != want[2 * s] || to != want[2 * s + 1])
      fail_msg("mask entry %d: %lld -> %lld, expected %lld -> %lld", s, (long long)from, (long long)to,
               (long long)want[2 * s], (long long)want[2 * s + 1]);
  }
  lt_tensor_data(lt_graph_mask(g))[3] = 0;
  assert_int_equal(lt_graph_kept(g), 5);
  assert_true(fabs(lt_graph_density(g) - 5 / 6.0) < 1e-12);
  /* back to undirected: three entries, all kept, weights 1 */
  assert_int_equal(lt_graph_set_directed(g, 0), LT_OK);
  assert_int_equal(lt_graph_directed(g), 0);
  assert_int_equal(lt_graph_nmask(g), 3);
  assert_int_equal(lt_graph_kept(g), 3);
  int64_t u, v;
  lt_graph_mask_edge(g, 1, &u, &v);
  assert_true(u == 2 && v == 1);
  lt_graph_release(g);
}

/* The message 1 -> 2 masked (entry 3), 2 -> 1 kept. Rows are what a node receives:
 *   A + I = [1 1 0 0; 1 1 1 0; 0 0 1 1; 0 0 1 1]   (row 2 lacks 1's message)
 * degrees are column sums, what each node sends with its self-loop: 2, 2, 3, 2 (node 1 now
 * sends to 0 only, node 2 to 1 and 3); A_hat_ij = a_ij / sqrt(deg_i deg_j). The authors'
 * torch_normalize_adj on M = (A + I)^T gives the same: row sums of M, d_i M_ji d_j. */
static void normalization_should_match_the_hand_worked_asymmetric_path(void **state) {
  lt_graph *g = path4_directed();
  float A[16];
  dense_ahat(g, A);
  double s6 = 1 / sqrt(6.0);
  double all[16] = {0.5, s6, 0, 0, s6, 1 / 3.0, 1 / 3.0, 0, 0, 1 / 3.0, 1 / 3.0, s6, 0, 0, s6, 0.5};
  check_matrix(A, all, 4, 1e-6); /* all kept: the undirected A_hat */
  lt_tensor_data(lt_graph_mask(g))[3] = 0;
  dense_ahat(g, A);
  double cut[16] = {0.5, 0.5, 0, 0, 0.5, 0.5, s6, 0, 0, 0, 1 / 3.0, s6, 0, 0, s6, 0.5};
  check_matrix(A, cut, 4, 1e-6);
  /* and a soft weight 3 on the message 0 -> 1 (entry 0): a_10 = 3, node 0 sends 1 + 3 = 4 */
  lt_tensor_data(lt_graph_weight(g))[0] = 3;
  dense_ahat(g, A);
  double w[16] = {0.5 / 2, 1 / sqrt(8.0), 0, 0, 3 / sqrt(8.0), 0.5, s6, 0, 0, 0, 1 / 3.0, s6, 0, 0, s6, 0.5};
  check_matrix(A, w, 4, 1e-6);
  lt_graph_release(g);
}

/* A random graph of n nodes, each pair an edge with probability p; undirected weights w_k in
 * [0.3, 1.7] on the first, the same on both directions of the second: equal propagation. */
static void random_pair(int n, double p, uint64_t seed, lt_graph **und, lt_graph **dir) {
  lt_rng r;
  lt_rng_seed(&r, seed, LT_STREAM_USER);
  int64_t *pairs = malloc(sizeof *pairs * (size_t)n * (size_t)n);
  int64_t e = 0;
  for (int u = 0; u < n; u++)
    for (int v = u + 1; v < n; v++)
      if (lt_rng_uniform(&r, 0, 1) < p) {
        int flip = lt_rng_uniform(&r, 0, 1) < 0.5f; /* both orientations in the list */
        pairs[2 * e] = flip ? v : u, pairs[2 * e + 1] = flip ? u : v, e++;
      }
  if (lt_graph_new(und, n, e, pairs) || lt_graph_new(dir, n, e, pairs)) fail_msg("graph: %s", lt_errmsg());
  free(pairs);
  if (lt_graph_set_directed(*dir, 1)) fail_msg("directed: %s", lt_errmsg());
  float *wu = lt_tensor_data(lt_graph_weight(*und)), *wd = lt_tensor_data(lt_graph_weight(*dir));
  for (int64_t k = 0; k < e; k++) wu[k] = wd[2 * k] = wd[2 * k + 1] = lt_rng_uniform(&r, 0.3f, 1.7f);
}

static void agreeing_directions_should_propagate_as_the_undirected_graph(void **state) {
  enum { n = 12, F = 3 };
  lt_graph *gu, *gd;
  random_pair(n, 0.3, 5, &gu, &gd);
  lt_tensor_data(lt_graph_mask(gu))[1] = 0; /* edge 1 masked both ways */
  lt_tensor_data(lt_graph_mask(gd))[2] = 0, lt_tensor_data(lt_graph_mask(gd))[3] = 0;
  float x[n * F], r[n * F], yu[n * F], yd[n * F], dxu[n * F], dxd[n * F];
  lt_rng rng;
  lt_rng_seed(&rng, 9, LT_STREAM_USER);
  for (int i = 0; i < n * F; i++) x[i] = lt_rng_uniform(&rng, -1, 1), r[i] = lt_rng_uniform(&rng, -1, 1);
  probe(gu, x, r, yu, n, F);
  probe(gd, x, r, yd, n, F);
  for (int i = 0; i < n * F; i++) assert_true(fabsf(yu[i] - yd[i]) < 1e-6f);
  lt_graph_zero_grad(gu), lt_graph_zero_grad(gd);
  lt_graph_propagate_backward(gu, dxu, r, x, F);
  lt_graph_propagate_backward(gd, dxd, r, x, F);
  for (int i = 0; i < n * F; i++) assert_true(fabsf(dxu[i] - dxd[i]) < 1e-5f);
  /* an edge's gradient is the sum of its two directions' */
  const float *gwu = lt_tensor_data(lt_graph_weight_grad(gu)), *gwd = lt_tensor_data(lt_graph_weight_grad(gd));
  for (int64_t k = 0; k < lt_graph_nedges(gu); k++)
    if (fabs(gwu[k] - (gwd[2 * k] + gwd[2 * k + 1])) > 1e-5 * (1 + fabs(gwu[k])))
      fail_msg("edge %lld: gradient %.7f, directions %.7f + %.7f", (long long)k, gwu[k], gwd[2 * k], gwd[2 * k + 1]);
  lt_graph_release(gu), lt_graph_release(gd);
}

static void directed_backward_should_match_finite_differences(void **state) {
  enum { n = 9, F = 3 };
  lt_graph *gu, *g;
  random_pair(n, 0.4, 7, &gu, &g);
  lt_graph_release(gu);
  int64_t S = lt_graph_nmask(g);
  assert_true(S >= 12);
  float *m = lt_tensor_data(lt_graph_mask(g)), *w = lt_tensor_data(lt_graph_weight(g));
  lt_rng r;
  lt_rng_seed(&r, 3, LT_STREAM_USER);
  for (int64_t s = 0; s < S; s++) w[s] = lt_rng_uniform(&r, 0.3f, 1.7f); /* directions differ */
  m[2] = 0;                                                           /* one direction of edge 1 */
  float x[n * F], rr[n * F], y[n * F], dx[n * F];
  for (int i = 0; i < n * F; i++) x[i] = lt_rng_uniform(&r, -1, 1), rr[i] = lt_rng_uniform(&r, -1, 1);
  check_propagation_fd(g, x, rr, y, dx, n, F, w, S, 2);
  const float *dw = lt_tensor_data(lt_graph_weight_grad(g));
  assert_true(dw[3] != 0.0f); /* the other direction of edge 1 still learns */
  lt_graph_release(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(directed_graph_should_have_two_mask_entries_per_edge),
      cmocka_unit_test(normalization_should_match_the_hand_worked_asymmetric_path),
      cmocka_unit_test(agreeing_directions_should_propagate_as_the_undirected_graph),
      cmocka_unit_test(directed_backward_should_match_finite_differences),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
