/* test_dst.c: the mask arithmetic of training-time sparsity on hand-worked
 * examples — RigL/sparse-momentum growth by |score| among the weights pruned
 * before the update, SET's random growth, magnitude drop, grown and dropped
 * weights written 0, exact counts, no weight regrown in the update that
 * dropped it, and pruning to an exact count (gradual pruning). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/mask.h"

#include "tensor_wrap.h"

static void expect(const float *got, const float *want, int n, const char *what) {
  for (int i = 0; i < n; i++)
    if (got[i] != want[i]) fail_msg("%s entry %d is %g, expected %g", what, i, (double)got[i], (double)want[i]);
}

static void drop_grow_should_drop_smallest_and_grow_largest_score(void **state) {
  /* alive: 0 (|5|), 2 (|-1|), 4 (|3|), 6 (|0.5|); dead: 1, 3, 5, 7 */
  float m[8] = {1, 0, 1, 0, 1, 0, 1, 0};
  float w[8] = {5, 0, -1, 0, 3, 0, 0.5f, 0};
  float g[8] = {100, 0.2f, -9, -4, 100, 7, 100, 1}; /* scores of alive entries do not matter */
  wrap wm, ww, wg;
  int64_t d = -1, gr = -1;
  assert_int_equal(lt_mask_drop_grow(wrap1(&wm, m, 8), wrap1(&ww, w, 8), wrap1(&wg, g, 8), 2, 2, NULL, &d, &gr), LT_OK);
  assert_int_equal(d, 2);
  assert_int_equal(gr, 2);
  /* dropped: 6 (0.5) and 2 (1); grown: 5 (7) and 3 (|-4|) */
  float want_m[8] = {1, 0, 0, 1, 1, 1, 0, 0};
  float want_w[8] = {5, 0, 0, 0, 3, 0, 0, 0};
  expect(m, want_m, 8, "mask");
  expect(w, want_w, 8, "weight");
}

static void drop_grow_should_never_regrow_a_weight_it_drops(void **state) {
  /* the dropped weight (index 1, |0.1|) has by far the largest grow score: it must not come back */
  float m[4] = {1, 1, 0, 0}, w[4] = {2, 0.1f, 0, 0}, g[4] = {0, 1000, 1, 2};
  wrap wm, ww, wg;
  assert_int_equal(lt_mask_drop_grow(wrap1(&wm, m, 4), wrap1(&ww, w, 4), wrap1(&wg, g, 4), 1, 1, NULL, NULL, NULL), LT_OK);
  float want_m[4] = {1, 0, 0, 1};
  expect(m, want_m, 4, "mask");
  assert_true(w[1] == 0.0f && w[3] == 0.0f);
}

static void drop_grow_should_break_ties_lower_index_first(void **state) {
  float m[6] = {1, 1, 1, 0, 0, 0}, w[6] = {1, 1, 1, 0, 0, 0}, g[6] = {0, 0, 0, 3, 3, 3};
  wrap wm, ww, wg;
  assert_int_equal(lt_mask_drop_grow(wrap1(&wm, m, 6), wrap1(&ww, w, 6), wrap1(&wg, g, 6), 1, 1, NULL, NULL, NULL), LT_OK);
  float want_m[6] = {0, 1, 1, 1, 0, 0};
  expect(m, want_m, 6, "mask");
}

static void drop_grow_should_grow_at_random_among_the_pruned_only(void **state) {
  enum { N = 1000 };
  float *m = calloc(N, sizeof *m), *w = calloc(N, sizeof *w), *before = calloc(N, sizeof *before);
  for (int i = 0; i < N; i += 10) m[i] = 1, w[i] = (float)(i + 1);
  memcpy(before, m, sizeof(float) * N);
  lt_rng r;
  lt_rng_seed(&r, 7, 2);
  wrap wm, ww;
  int64_t d, g;
  assert_int_equal(lt_mask_drop_grow(wrap1(&wm, m, N), wrap1(&ww, w, N), NULL, 30, 30, &r, &d, &g), LT_OK);
  int alive = 0, grown = 0, dropped = 0;
  for (int i = 0; i < N; i++) {
    alive += m[i] == 1.0f;
    if (m[i] == 1.0f && before[i] == 0.0f) grown++, assert_true(w[i] == 0.0f);
    if (m[i] == 0.0f && before[i] == 1.0f) dropped++, assert_true(i < 300); /* the 30 smallest: i = 0..290 */
  }
  assert_int_equal(alive, 100);
  assert_int_equal(grown, 30);
  assert_int_equal(dropped, 30);
  /* the same seed draws the same positions */
  float *m2 = calloc(N, sizeof *m2), *w2 = calloc(N, sizeof *w2);
  for (int i = 0; i < N; i += 10) m2[i] = 1, w2[i] = (float)(i + 1);
  lt_rng_seed(&r, 7, 2);
  assert_int_equal(lt_mask_drop_grow(wrap1(&wm, m2, N), wrap1(&ww, w2, N), NULL, 30, 30, &r, NULL, NULL), LT_OK);
  assert_memory_equal(m, m2, sizeof(float) * N);
  free(m), free(w), free(before), free(m2), free(w2);
}

static void drop_grow_should_change_the_count_by_grow_minus_drop(void **state) {
  float m[6] = {1, 1, 1, 1, 0, 0}, w[6] = {4, 3, 2, 1, 0, 0}, g[6] = {0, 0, 0, 0, 1, 2};
  wrap wm, ww, wg;
  assert_int_equal(lt_mask_drop_grow(wrap1(&wm, m, 6), wrap1(&ww, w, 6), wrap1(&wg, g, 6), 2, 1, NULL, NULL, NULL), LT_OK);
  assert_int_equal(lt_mask_count(&wm.t), 3);
  float want_m[6] = {1, 1, 0, 0, 0, 1};
  expect(m, want_m, 6, "mask");
}

static void drop_grow_should_refuse_impossible_counts_untouched(void **state) {
  float m[4] = {1, 1, 0, 0}, w[4] = {1, 2, 0, 0}, g[4] = {0};
  wrap wm, ww, wg;
  lt_tensor *tm = wrap1(&wm, m, 4), *tw = wrap1(&ww, w, 4), *tg = wrap1(&wg, g, 4);
  assert_int_equal(lt_mask_drop_grow(tm, tw, tg, 3, 0, NULL, NULL, NULL), LT_EINVAL);
  assert_non_null(strstr(lt_errmsg(), "drop 3 of 2"));
  assert_int_equal(lt_mask_drop_grow(tm, tw, tg, 0, 3, NULL, NULL, NULL), LT_EINVAL);
  assert_int_equal(lt_mask_drop_grow(tm, tw, NULL, 0, 1, NULL, NULL, NULL), LT_EINVAL); /* random needs an rng */
  float want_m[4] = {1, 1, 0, 0};
  expect(m, want_m, 4, "mask");
}

/* Reference: the n_drop survivors of smallest |w| and the n_grow pruned entries of
 * largest |g| (ties: lower index first), by sorting everything. */
typedef struct { float k; int i; } ent;
static int by_key(const void *a, const void *b) {
  const ent *x = a, *y = b;
  if (x->k != y->k) return x->k < y->k ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

static void drop_grow_should_select_exactly_on_large_layers(void **state) {
  /* large enough for the sampled candidate pass, with many ties in both keys */
  enum { N = 40000 };
  float *m = malloc(N * sizeof *m), *w = malloc(N * sizeof *w), *g = malloc(N * sizeof *g);
  float *wm = malloc(N * sizeof *wm), *ww = malloc(N * sizeof *ww);
  ent *e = malloc(N * sizeof *e);
  uint64_t x = 88172645463325252ull;
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < N; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      m[i] = (x % 100) < 5 ? 1.0f : 0.0f;
      w[i] = m[i] * (float)((int)(x >> 20) % 2001 - 1000) / 64.0f;
      g[i] = (float)((int)(x >> 40) % 3001 - 1500) / (round == 2 ? 1e30f : 16.0f); /* round 2: many zeros */
    }
    int alive = 0;
    for (int i = 0; i < N; i++) alive += m[i] != 0.0f;
    int nd = alive * 3 / 10, ng = nd;
    memcpy(wm, m, N * sizeof *m);
    memcpy(ww, w, N * sizeof *w);
    int c = 0; /* grow: dead by descending |g| */
    for (int i = 0; i < N; i++)
      if (m[i] == 0.0f) e[c].k = -fabsf(g[i]), e[c].i = i, c++;
    qsort(e, (size_t)c, sizeof *e, by_key);
    int *grown = malloc((size_t)ng * sizeof *grown);
    for (int j = 0; j < ng; j++) grown[j] = e[j].i;
    c = 0; /* drop: alive by ascending |w| */
    for (int i = 0; i < N; i++)
      if (m[i] != 0.0f) e[c].k = fabsf(w[i]), e[c].i = i, c++;
    qsort(e, (size_t)c, sizeof *e, by_key);
    for (int j = 0; j < nd; j++) wm[e[j].i] = 0.0f, ww[e[j].i] = 0.0f;
    for (int j = 0; j < ng; j++) wm[grown[j]] = 1.0f, ww[grown[j]] = 0.0f;
    free(grown);
    wrap a, b, s;
    int64_t shape[2] = {200, N / 200};
    assert_int_equal(lt_mask_drop_grow(wrapn(&a, m, 2, shape), wrapn(&b, w, 2, shape), wrapn(&s, g, 2, shape), nd, ng,
                                       NULL, NULL, NULL), LT_OK);
    expect(m, wm, N, "mask");
    expect(w, ww, N, "weight");
  }
  free(m), free(w), free(g), free(wm), free(ww), free(e);
}

static void prune_to_should_keep_exactly_the_largest(void **state) {
  float m[6] = {1, 1, 1, 1, 1, 0}, s[6] = {-6, 1, 5, -2, 3, 100};
  wrap wm, ws;
  int64_t p = -1;
  assert_int_equal(lt_mask_prune_to(wrap1(&wm, m, 6), wrap1(&ws, s, 6), 2, LT_SCORE_ABS, &p), LT_OK);
  assert_int_equal(p, 3);
  float want[6] = {1, 0, 1, 0, 0, 0};
  expect(m, want, 6, "mask");
  /* never revives: keep above the survivors changes nothing */
  assert_int_equal(lt_mask_prune_to(&wm.t, &ws.t, 5, LT_SCORE_ABS, &p), LT_OK);
  assert_int_equal(p, 0);
  expect(m, want, 6, "mask");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(drop_grow_should_drop_smallest_and_grow_largest_score),
      cmocka_unit_test(drop_grow_should_never_regrow_a_weight_it_drops),
      cmocka_unit_test(drop_grow_should_break_ties_lower_index_first),
      cmocka_unit_test(drop_grow_should_grow_at_random_among_the_pruned_only),
      cmocka_unit_test(drop_grow_should_change_the_count_by_grow_minus_drop),
      cmocka_unit_test(drop_grow_should_refuse_impossible_counts_untouched),
      cmocka_unit_test(drop_grow_should_select_exactly_on_large_layers),
      cmocka_unit_test(prune_to_should_keep_exactly_the_largest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
