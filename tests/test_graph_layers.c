/* test_graph_layers.c: finite-difference gradient checks of the graph layers (GCN, GAT with
 * concatenated and averaged heads, GIN) for the features, every parameter (weights, biases,
 * attention vectors, eps) and the edge weights, on a random graph with soft weights and a
 * masked edge; masked edges vanish from GAT's softmax; pruned weights stay zero. The loss is
 * sum(y * r) for a fixed random r, accumulated in double. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/graph.h"

#define EPS 2e-3
#define TOL 2e-2

enum { N = 9, F = 4 };

/* A random graph on N nodes (edge probability 0.35), weights in [0.4, 1.6], edge 1 masked. */
static lt_graph *random_graph(uint64_t seed, int64_t *pairs_out, int64_t *ne) {
  lt_rng r;
  lt_rng_seed(&r, seed, LT_STREAM_USER);
  int64_t pairs[N * N], e = 0;
  for (int u = 0; u < N; u++)
    for (int v = u + 1; v < N; v++)
      if (lt_rng_uniform(&r, 0, 1) < 0.35f) pairs[2 * e] = u, pairs[2 * e + 1] = v, e++;
  lt_graph *g;
  if (lt_graph_new(&g, N, e, pairs)) fail_msg("graph: %s", lt_errmsg());
  float *w = lt_tensor_data(lt_graph_weight(g));
  for (int64_t k = 0; k < e; k++) w[k] = lt_rng_uniform(&r, 0.4f, 1.6f);
  lt_tensor_data(lt_graph_mask(g))[1] = 0;
  if (pairs_out) memcpy(pairs_out, pairs, sizeof(int64_t) * 2 * (size_t)e);
  if (ne) *ne = e;
  return g;
}

static lt_model *model_in(lt_layer *l, int64_t F_in) {
  int64_t in[1] = {F_in};
  lt_model *m = lt_model_new(l, 1, in);
  if (!m) fail_msg("model: %s", lt_errmsg());
  lt_rng r;
  lt_rng_seed(&r, 11, LT_STREAM_USER);
  float *v = lt_tensor_data(lt_model_values(m));
  for (size_t i = 0; i < lt_model_numel(m, 0); i++) v[i] = lt_rng_uniform(&r, -1.0f, 1.0f);
  return m;
}
static lt_model *model_of(lt_layer *l) { return model_in(l, F); }

static double probe(lt_model *m, lt_tensor *x, const float *r) {
  lt_tensor *y;
  if (lt_model_forward(m, x, &y, 1)) fail_msg("forward: %s", lt_errmsg());
  double s = 0;
  for (size_t i = 0; i < lt_tensor_numel(y); i++) s += (double)lt_tensor_data(y)[i] * r[i];
  return s;
}

static void check_fd(const char *what, int64_t i, float *v, float grad, lt_model *m, lt_tensor *x, const float *r) {
  float keep = *v;
  *v = keep + (float)EPS;
  double lp = probe(m, x, r);
  *v = keep - (float)EPS;
  double lm = probe(m, x, r);
  *v = keep;
  double fd = (lp - lm) / (2 * EPS);
  if (fabs(fd - grad) > TOL * (1 + fabs(fd)))
    fail_msg("%s[%lld]: gradient %.6f, finite difference %.6f", what, (long long)i, grad, fd);
}

/* Checks dx, every parameter and every edge weight of a one-layer model over g, with F_in input
 * features; sparse: all but every 17th feature zero (6% nonzero: the CSR path of x W^T). */
static void gradcheck_x(lt_layer *l, lt_graph *g, int64_t F_in, int sparse) {
  lt_model *m = model_in(l, F_in);
  if (sparse > 1) { /* and W pruned to 1 in 17 (the CSR path of W^T); kept weight 85 exactly 0 */
    const lt_param *w = lt_model_param(m, 0);
    for (size_t k = 0; k < w->numel; k++) lt_tensor_data(w->mask)[k] = k % 17 == 0;
    lt_model_apply_mask(m);
    lt_tensor_data(w->value)[85] = 0;
  }
  lt_rng rr;
  lt_rng_seed(&rr, 5, LT_STREAM_USER);
  lt_tensor *x = lt_tensor_rand(2, (int64_t[]){N, F_in}, &rr, -1, 1);
  if (sparse)
    for (int64_t i = 0; i < N * F_in; i++)
      if (i % 17) lt_tensor_data(x)[i] = 0;
  lt_tensor *y;
  if (lt_model_forward(m, x, &y, 1)) fail_msg("forward: %s", lt_errmsg());
  size_t ny = lt_tensor_numel(y);
  float *r = malloc(sizeof *r * ny);
  for (size_t i = 0; i < ny; i++) r[i] = lt_rng_uniform(&rr, -1, 1);
  lt_tensor *dy = lt_tensor_new(2, y->shape), *dx;
  memcpy(lt_tensor_data(dy), r, sizeof *r * ny);
  lt_model_zero_grad(m);
  lt_graph_zero_grad(g);
  probe(m, x, r);
  if (lt_model_backward(m, dy, &dx)) fail_msg("backward: %s", lt_errmsg());
  float *dxc = malloc(sizeof *dxc * N * F_in);
  memcpy(dxc, lt_tensor_data(dx), sizeof *dxc * N * F_in);
  size_t np = lt_model_numel(m, 0);
  if (sparse > 1) /* a kept weight at 0 is not frozen: feature 17 is live in every row */
    assert_true(lt_tensor_data(lt_model_param(m, 0)->grad)[85] != 0.0f);
  float *gc = malloc(sizeof *gc * np);
  memcpy(gc, lt_tensor_data(lt_model_grads(m)), sizeof *gc * np);
  int64_t E = lt_graph_nmask(g);
  float *dw = malloc(sizeof *dw * (size_t)E);
  memcpy(dw, lt_tensor_data(lt_graph_weight_grad(g)), sizeof *dw * (size_t)E);

  for (int64_t i = 0; i < N * F_in; i++) check_fd("dx", i, lt_tensor_data(x) + i, dxc[i], m, x, r);
  float *v = lt_tensor_data(lt_model_values(m));
  for (size_t i = 0; i < np; i++) check_fd("param", (int64_t)i, v + i, gc[i], m, x, r);
  float *w = lt_tensor_data(lt_graph_weight(g));
  for (int64_t k = 0; k < E; k++) {
    if (k == 1) assert_true(dw[k] == 0.0f); /* masked: no gradient */
    check_fd("edge weight", k, w + k, dw[k], m, x, r);
  }
  free(r), free(dxc), free(gc), free(dw);
  lt_tensor_release(x), lt_tensor_release(dy);
  lt_model_free(m);
}
static void gradcheck(lt_layer *l, lt_graph *g) { gradcheck_x(l, g, F, 0); }

/* x W^T over the nonzeros of a sparse x gives the forward and gradients of the dense product. */
static void sparse_features_should_match_finite_differences(void **state) {
  lt_graph *g = random_graph(7, NULL, NULL);
  gradcheck_x(lt_gcn_new(g, 34, 3, 1, 0, 0), g, 34, 1);
  gradcheck_x(lt_gat_new(g, 34, 3, 2, 1, 0, 0), g, 34, 1);
  gradcheck_x(lt_gcn_new(g, 34, 3, 1, 0, 0), g, 34, 2);
  /* the same model on the same x, once forced dense by one more nonzero feature per row, and
   * once sparse with that feature's weights zero: equal outputs */
  lt_model *m = model_in(lt_gcn_new(g, 34, 3, 1, 0, 0), 34);
  const lt_param *w = lt_model_param(m, 0);
  lt_rng rr;
  lt_rng_seed(&rr, 8, LT_STREAM_USER);
  lt_tensor *xs = lt_tensor_rand(2, (int64_t[]){N, 34}, &rr, -1, 1), *xd = lt_tensor_new2(N, 34), *y;
  for (int64_t i = 0; i < N * 34; i++)
    if (i % 17) lt_tensor_data(xs)[i] = 0;
  for (int o = 0; o < 3; o++)
    for (int f = 1; f < 34; f++)
      if (f % 17 && f != 1) lt_tensor_data(w->value)[o * 34 + f] = 0; /* feature 1 stays live */
  float ys[N * 3];
  assert_int_equal(lt_model_forward(m, xs, &y, 0), LT_OK);
  memcpy(ys, lt_tensor_data(y), sizeof ys);
  lt_tensor_copy(xd, xs);
  for (int64_t i = 0; i < N; i++)
    for (int f = 2; f < 34; f++)
      if (f % 17) lt_tensor_data(xd)[i * 34 + f] = 1; /* weights 0: same product, dense path */
  assert_int_equal(lt_model_forward(m, xd, &y, 0), LT_OK);
  for (int i = 0; i < N * 3; i++) assert_true(fabsf(ys[i] - lt_tensor_data(y)[i]) < 1e-5f);
  lt_tensor_release(xs), lt_tensor_release(xd);
  lt_model_free(m);
  lt_graph_release(g);
}

static void gcn_gradients_should_match_finite_differences(void **state) {
  lt_graph *g = random_graph(1, NULL, NULL);
  gradcheck(lt_gcn_new(g, F, 3, 1, 0, 0), g);
  lt_graph_release(g);
}

static void gat_gradients_should_match_finite_differences(void **state) {
  lt_graph *g = random_graph(2, NULL, NULL);
  gradcheck(lt_gat_new(g, F, 3, 2, 1, 0, 0), g); /* two heads concatenated */
  gradcheck(lt_gat_new(g, F, 3, 2, 0, 0, 0), g); /* averaged */
  lt_graph_release(g);
}

/* The graph of random_graph(seed) with one mask entry per direction: weights in [0.4, 1.6] drawn
 * per direction, entry 1 (the message v -> u of edge 0) masked and entry 0 (u -> v) kept, so A
 * is asymmetric. */
static lt_graph *directed_graph(uint64_t seed) {
  lt_graph *g = random_graph(seed, NULL, NULL);
  if (lt_graph_set_directed(g, 1)) fail_msg("directed: %s", lt_errmsg());
  lt_rng r;
  lt_rng_seed(&r, seed + 100, LT_STREAM_USER);
  float *w = lt_tensor_data(lt_graph_weight(g));
  for (int64_t k = 0; k < lt_graph_nmask(g); k++) w[k] = lt_rng_uniform(&r, 0.4f, 1.6f);
  lt_tensor_data(lt_graph_mask(g))[1] = 0;
  return g;
}

static void directed_masks_should_match_finite_differences_in_every_layer(void **state) {
  lt_graph *g = directed_graph(4);
  gradcheck(lt_gcn_new(g, F, 3, 1, 0, 0), g);
  gradcheck(lt_gat_new(g, F, 3, 2, 1, 0, 0), g);
  gradcheck(lt_gin_new(g, F, 5, 3), g);
  lt_graph_release(g);
}

static void gin_gradients_should_match_finite_differences(void **state) {
  lt_graph *g = random_graph(3, NULL, NULL);
  gradcheck(lt_gin_new(g, F, 5, 3), g);
  lt_graph_release(g);
}

/* GAT over a graph with edge 1 masked equals GAT over the graph without that edge, weights
 * equal: the masked edge is out of the softmax, not merely weighted 0 inside it. */
static void gat_should_leave_masked_edges_out_of_the_softmax(void **state) {
  int64_t pairs[2 * N * N], E;
  lt_graph *g = random_graph(4, pairs, &E);
  float *w = lt_tensor_data(lt_graph_weight(g));
  for (int64_t k = 0; k < E; k++) w[k] = 1;
  lt_graph *h;
  memmove(pairs + 2, pairs + 4, sizeof(int64_t) * 2 * (size_t)(E - 2));
  assert_int_equal(lt_graph_new(&h, N, E - 1, pairs), LT_OK);
  lt_model *a = model_of(lt_gat_new(g, F, 3, 2, 1, 0, 0)), *b = model_of(lt_gat_new(h, F, 3, 2, 1, 0, 0));
  lt_rng rr;
  lt_rng_seed(&rr, 9, LT_STREAM_USER);
  lt_tensor *x = lt_tensor_rand(2, (int64_t[]){N, F}, &rr, -1, 1), *ya, *yb;
  assert_int_equal(lt_model_forward(a, x, &ya, 0), LT_OK);
  assert_int_equal(lt_model_forward(b, x, &yb, 0), LT_OK);
  for (size_t i = 0; i < lt_tensor_numel(ya); i++) assert_true(fabsf(lt_tensor_data(ya)[i] - lt_tensor_data(yb)[i]) < 1e-6f);
  /* and unmasking it changes the output */
  lt_tensor_data(lt_graph_mask(g))[1] = 1;
  assert_int_equal(lt_model_forward(a, x, &ya, 0), LT_OK);
  double diff = 0;
  for (size_t i = 0; i < lt_tensor_numel(ya); i++) diff += fabsf(lt_tensor_data(ya)[i] - lt_tensor_data(yb)[i]);
  assert_true(diff > 1e-4);
  lt_tensor_release(x);
  lt_model_free(a), lt_model_free(b);
  lt_graph_release(g), lt_graph_release(h);
}

static void graph_layers_should_refuse_a_batch_that_is_not_the_node_set(void **state) {
  lt_graph *g = random_graph(5, NULL, NULL);
  lt_model *m = model_of(lt_gcn_new(g, F, 3, 1, 0, 0));
  lt_tensor *x = lt_tensor_new2(N - 1, F), *y;
  assert_int_equal(lt_model_forward(m, x, &y, 1), LT_ESHAPE);
  assert_non_null(strstr(lt_errmsg(), "all 9 nodes"));
  lt_tensor_release(x);
  lt_model_free(m);
  assert_null(lt_gat_new(g, F, 3, 0, 1, 0, 0));
  assert_null(lt_gin_new(NULL, F, 3, 3));
  lt_graph_release(g);
}

/* A pruned GCN weight is zero after the mask is applied and gets zero gradient. */
static void pruned_gcn_weights_should_stay_zero(void **state) {
  lt_graph *g = random_graph(6, NULL, NULL);
  lt_model *m = model_of(lt_gcn_new(g, F, 3, 1, 0, 0));
  const lt_param *w = lt_model_param(m, 0);
  assert_int_equal(w->prunable, 1);
  lt_tensor_data(w->mask)[2] = 0;
  lt_model_apply_mask(m);
  assert_true(lt_tensor_data(w->value)[2] == 0.0f);
  lt_rng rr;
  lt_rng_seed(&rr, 9, LT_STREAM_USER);
  lt_tensor *x = lt_tensor_rand(2, (int64_t[]){N, F}, &rr, -1, 1), *y;
  lt_model_zero_grad(m);
  assert_int_equal(lt_model_forward(m, x, &y, 1), LT_OK);
  lt_tensor *dy = lt_tensor_full(2, y->shape, 1.0f);
  assert_int_equal(lt_model_backward(m, dy, NULL), LT_OK);
  assert_true(lt_tensor_data(w->grad)[2] == 0.0f);
  assert_true(lt_tensor_data(w->grad)[3] != 0.0f);
  lt_tensor_release(x), lt_tensor_release(dy);
  lt_model_free(m);
  lt_graph_release(g);
}

/* GAT's attention vectors are drawn by lt_model_init (Glorot over heads and out), not left at 0. */
static void gat_attention_should_be_initialised_like_a_weight(void **state) {
  lt_graph *g = random_graph(2, NULL, NULL);
  lt_model *m = lt_model_new(lt_gat_new(g, F, 8, 4, 1, 0, 0), 1, (int64_t[]){F});
  assert_non_null(m);
  lt_rng r;
  for (int kind = LT_INIT_GLOROT_NORMAL; kind <= LT_INIT_GLOROT_UNIFORM; kind++) {
    lt_rng_seed(&r, 4, LT_STREAM_INIT);
    assert_int_equal(lt_model_init(m, &r, (lt_init_kind)kind), LT_OK);
    for (const char *name = "gat1.att_src"; name; name = strcmp(name, "gat1.att_src") ? NULL : "gat1.att_dst") {
      const lt_param *p = lt_model_param_find(m, name);
      assert_non_null(p);
      assert_int_equal(p->prunable, 0);
      const float *v = lt_tensor_data(p->value);
      double ss = 0, bound = sqrt(6.0 / (4 + 8)); /* fans: heads 4, out 8 */
      for (size_t i = 0; i < p->numel; i++) {
        ss += (double)v[i] * v[i];
        if (kind == LT_INIT_GLOROT_UNIFORM) assert_true(fabs(v[i]) <= bound);
      }
      double var = ss / (double)p->numel, want = kind == LT_INIT_GLOROT_NORMAL ? 2.0 / 12 : bound * bound / 3;
      if (!(var > 0.5 * want && var < 1.6 * want)) fail_msg("%s: variance %.4f, Glorot %.4f", name, var, want);
    }
    assert_true(lt_tensor_data(lt_model_param_find(m, "gat1.bias")->value)[0] == 0.0f); /* biases stay 0 */
  }
  lt_model_free(m);
  lt_graph_release(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gcn_gradients_should_match_finite_differences),
      cmocka_unit_test(gat_gradients_should_match_finite_differences),
      cmocka_unit_test(gin_gradients_should_match_finite_differences),
      cmocka_unit_test(sparse_features_should_match_finite_differences),
      cmocka_unit_test(gat_should_leave_masked_edges_out_of_the_softmax),
      cmocka_unit_test(directed_masks_should_match_finite_differences_in_every_layer),
      cmocka_unit_test(graph_layers_should_refuse_a_batch_that_is_not_the_node_set),
      cmocka_unit_test(pruned_gcn_weights_should_stay_zero),
      cmocka_unit_test(gat_attention_should_be_initialised_like_a_weight),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
