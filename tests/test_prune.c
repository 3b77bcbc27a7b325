/* test_prune.c: the pruning rules on hand-worked examples — local rates over
 * rounds, global threshold and its no-empty-layer guard, random, structured
 * L1/L2, n:m, ties and NaN order — and a large case against a naive sort. */
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

static void expect_mask(const float *m, const float *want, int n) {
  for (int i = 0; i < n; i++) {
    if (m[i] != want[i]) fail_msg("mask entry %d is %g, expected %g", i, (double)m[i], (double)want[i]);
  }
}

static void prune_count_should_round_half_up_with_decimal_rates(void **state) {
  assert_int_equal(lt_mask_prune_count(0.2, 10), 2);
  assert_int_equal(lt_mask_prune_count(0.2, 8), 2);  /* 1.6 */
  assert_int_equal(lt_mask_prune_count(0.25, 6), 2); /* 1.5 */
  assert_int_equal(lt_mask_prune_count(0.35, 10), 4); /* 3.4999... in binary, 3.5 as written */
  assert_int_equal(lt_mask_prune_count(0.1, 4), 0);  /* 0.4 */
  assert_int_equal(lt_mask_prune_count(0.0, 9), 0);
  assert_int_equal(lt_mask_prune_count(1.0, 7), 7);
  assert_int_equal(lt_mask_prune_count(1.0 / 3.0, 3), 1);
}

static void prune_local_should_keep_largest_magnitudes(void **state) {
  float w[3] = {10, -8, 0.1f}, m[3] = {1, 1, 1}, want[3] = {1, 1, 0};
  wrap ww, wm;
  int64_t pruned = -1;
  assert_int_equal(lt_mask_prune_local(wrap1(&wm, m, 3), wrap1(&ww, w, 3), 1.0 / 3.0, LT_SCORE_ABS, &pruned), LT_OK);
  assert_int_equal(pruned, 1);
  expect_mask(m, want, 3);
}

static void prune_local_should_prune_a_fraction_of_the_survivors_each_round(void **state) {
  float w[10] = {5, -1, 9, 2, -7, 3, 10, -4, 8, 6}, m[10];
  for (int i = 0; i < 10; i++) m[i] = 1;
  wrap ww, wm;
  lt_tensor *tm = wrap1(&wm, m, 10), *tw = wrap1(&ww, w, 10);
  int64_t pruned;
  /* round 1: 20% of 10 = 2 -> |1| (idx 1) and |2| (idx 3) */
  assert_int_equal(lt_mask_prune_local(tm, tw, 0.2, LT_SCORE_ABS, &pruned), LT_OK);
  assert_int_equal(pruned, 2);
  float want1[10] = {1, 0, 1, 0, 1, 1, 1, 1, 1, 1};
  expect_mask(m, want1, 10);
  /* round 2: 20% of 8 = 1.6 -> 2: |3| (idx 5) and |-4| (idx 7); earlier prunes stay */
  assert_int_equal(lt_mask_prune_local(tm, tw, 0.2, LT_SCORE_ABS, &pruned), LT_OK);
  assert_int_equal(pruned, 2);
  float want2[10] = {1, 0, 1, 0, 1, 0, 1, 0, 1, 1};
  expect_mask(m, want2, 10);
  assert_int_equal(lt_mask_count(tm), 6);
}

static void prune_local_should_ignore_scores_of_pruned_entries(void **state) {
  /* the pruned entries have the smallest scores; they must not use up the count */
  float s[6] = {0.1f, 5, 0.2f, 3, 1, 4}, m[6] = {0, 1, 0, 1, 1, 1}, want[6] = {0, 1, 0, 0, 0, 1};
  wrap ws, wm;
  int64_t pruned;
  assert_int_equal(lt_mask_prune_local(wrap1(&wm, m, 6), wrap1(&ws, s, 6), 0.5, LT_SCORE_RAW, &pruned), LT_OK);
  assert_int_equal(pruned, 2);
  expect_mask(m, want, 6);
}

static void prune_local_should_prune_equal_scores_lower_index_first(void **state) {
  float s[5] = {5, 5, 5, 5, 1}, m[5] = {1, 1, 1, 1, 1}, want[5] = {0, 1, 1, 1, 0};
  wrap ws, wm;
  assert_int_equal(lt_mask_prune_local(wrap1(&wm, m, 5), wrap1(&ws, s, 5), 0.4, LT_SCORE_RAW, NULL), LT_OK);
  expect_mask(m, want, 5);
  /* -0 and +0 are the same score */
  float z[3] = {0.0f, -0.0f, 1}, mz[3] = {1, 1, 1}, wantz[3] = {0, 1, 1};
  assert_int_equal(lt_mask_prune_local(wrap1(&wm, mz, 3), wrap1(&ws, z, 3), 1.0 / 3.0, LT_SCORE_RAW, NULL), LT_OK);
  expect_mask(mz, wantz, 3);
}

static void prune_local_should_prune_nan_scores_first(void **state) {
  float s[5] = {1, NAN, 3, -NAN, 2}, m[5] = {1, 1, 1, 1, 1};
  wrap ws, wm;
  lt_tensor *tm = wrap1(&wm, m, 5), *ts = wrap1(&ws, s, 5);
  float want1[5] = {1, 0, 1, 0, 1};
  assert_int_equal(lt_mask_prune_local(tm, ts, 0.4, LT_SCORE_ABS, NULL), LT_OK);
  expect_mask(m, want1, 5);
  for (int i = 0; i < 5; i++) m[i] = 1;
  float want2[5] = {0, 0, 1, 0, 1}; /* 3 of 5: both NaNs, then the 1 */
  assert_int_equal(lt_mask_prune_local(tm, ts, 0.6, LT_SCORE_ABS, NULL), LT_OK);
  expect_mask(m, want2, 5);
}

static void prune_local_should_read_raw_or_absolute_scores(void **state) {
  float s[3] = {-5, 1, 2}, m[3] = {1, 1, 1};
  wrap ws, wm;
  lt_tensor *tm = wrap1(&wm, m, 3), *ts = wrap1(&ws, s, 3);
  float raw[3] = {0, 1, 1}, mag[3] = {1, 0, 1};
  assert_int_equal(lt_mask_prune_local(tm, ts, 1.0 / 3.0, LT_SCORE_RAW, NULL), LT_OK);
  expect_mask(m, raw, 3);
  m[0] = 1;
  assert_int_equal(lt_mask_prune_local(tm, ts, 1.0 / 3.0, LT_SCORE_ABS, NULL), LT_OK);
  expect_mask(m, mag, 3);
}

static void prune_local_should_reject_bad_rates_shapes_and_masks_untouched(void **state) {
  float s[6] = {1, 2, 3, 4, 5, 6}, m[6] = {1, 1, 1, 1, 1, 1}, bad[6] = {1, 0.5f, 1, 1, 1, 1};
  wrap ws, wm, wb;
  lt_tensor *tm = wrap2(&wm, m, 2, 3);
  assert_int_equal(lt_mask_prune_local(tm, wrap2(&ws, s, 2, 3), 1.5, LT_SCORE_ABS, NULL), LT_EINVAL);
  assert_non_null(strstr(lt_errmsg(), "[0, 1]"));
  assert_int_equal(lt_mask_prune_local(tm, wrap2(&ws, s, 2, 3), -0.1, LT_SCORE_ABS, NULL), LT_EINVAL);
  assert_int_equal(lt_mask_prune_local(tm, wrap2(&ws, s, 2, 3), NAN, LT_SCORE_ABS, NULL), LT_EINVAL);
  assert_int_equal(lt_mask_prune_local(tm, wrap2(&ws, s, 3, 2), 0.5, LT_SCORE_ABS, NULL), LT_ESHAPE);
  assert_non_null(strstr(lt_errmsg(), "mask (2, 3)"));
  assert_non_null(strstr(lt_errmsg(), "score (3, 2)"));
  assert_int_equal(lt_mask_count(tm), 6);
  assert_int_equal(lt_mask_prune_local(wrap2(&wb, bad, 2, 3), wrap2(&ws, s, 2, 3), 0.5, LT_SCORE_ABS, NULL),
                   LT_EINVAL);
  assert_float_equal(bad[0], 1, 0);
}

static void prune_global_should_use_one_threshold_across_layers(void **state) {
  float a[4] = {0.1f, 0.9f, 0.5f, 0.3f}, b[6] = {0.2f, 0.05f, 0.8f, 0.4f, 0.6f, 0.7f};
  float ma[4] = {1, 1, 1, 1}, mb[6] = {1, 1, 1, 1, 1, 1};
  wrap wa, wb, wma, wmb;
  lt_tensor *masks[2] = {wrap1(&wma, ma, 4), wrap1(&wmb, mb, 6)};
  const lt_tensor *scores[2] = {wrap1(&wa, a, 4), wrap1(&wb, b, 6)};
  int guarded[2] = {-1, -1};
  int64_t pruned;
  /* 50% of 10: the five smallest overall are .05 .1 .2 .3 .4 (threshold between .4 and .5) */
  assert_int_equal(lt_mask_prune_global(masks, scores, 2, 0.5, LT_SCORE_ABS, guarded, &pruned), LT_OK);
  assert_int_equal(pruned, 5);
  float wa_[4] = {0, 1, 1, 0}, wb_[6] = {0, 0, 1, 0, 1, 1};
  expect_mask(ma, wa_, 4);
  expect_mask(mb, wb_, 6);
  assert_int_equal(guarded[0], 0);
  assert_int_equal(guarded[1], 0);
}

static void prune_global_guard_should_keep_the_largest_weight_of_a_layer_and_report_it(void **state) {
  float a[3] = {0.01f, -0.03f, 0.02f}, b[5] = {1, 2, 3, 4, 5};
  float ma[3] = {1, 1, 1}, mb[5] = {1, 1, 1, 1, 1};
  wrap wa, wb, wma, wmb;
  lt_tensor *masks[2] = {wrap1(&wma, ma, 3), wrap1(&wmb, mb, 5)};
  const lt_tensor *scores[2] = {wrap1(&wa, a, 3), wrap1(&wb, b, 5)};
  int guarded[2];
  int64_t pruned;
  /* 50% of 8 = 4; unguarded that is all of layer a plus b's 1. The guard keeps
   * a's largest |w| (-0.03) and prunes b's 2 instead, so the total stays 4. */
  assert_int_equal(lt_mask_prune_global(masks, scores, 2, 0.5, LT_SCORE_ABS, guarded, &pruned), LT_OK);
  assert_int_equal(pruned, 4);
  float wa_[3] = {0, 1, 0}, wb_[5] = {0, 0, 1, 1, 1};
  expect_mask(ma, wa_, 3);
  expect_mask(mb, wb_, 5);
  assert_int_equal(guarded[0], 1);
  assert_int_equal(guarded[1], 0);
  /* p = 1 keeps exactly one weight per layer, and both layers hit the guard */
  assert_int_equal(lt_mask_prune_global(masks, scores, 2, 1.0, LT_SCORE_ABS, guarded, &pruned), LT_OK);
  assert_int_equal(pruned, 2);
  float wa1[3] = {0, 1, 0}, wb1[5] = {0, 0, 0, 0, 1};
  expect_mask(ma, wa1, 3);
  expect_mask(mb, wb1, 5);
  assert_int_equal(guarded[0], 1);
  assert_int_equal(guarded[1], 1);
}

static void prune_global_should_break_ties_by_layer_then_index(void **state) {
  float s[2] = {1, 1}, ma[2] = {1, 1}, mb[2] = {1, 1};
  wrap ws, wma, wmb;
  lt_tensor *masks[2] = {wrap1(&wma, ma, 2), wrap1(&wmb, mb, 2)};
  lt_tensor *ts = wrap1(&ws, s, 2);
  const lt_tensor *scores[2] = {ts, ts};
  int guarded[2];
  /* order a0 a1 b0 b1: unguarded, 2 prunes empty layer a; guarded, a1 stays and b0 goes */
  assert_int_equal(lt_mask_prune_global(masks, scores, 2, 0.5, LT_SCORE_RAW, guarded, NULL), LT_OK);
  float want[2] = {0, 1};
  expect_mask(ma, want, 2);
  expect_mask(mb, want, 2);
  assert_int_equal(guarded[0], 1);
  assert_int_equal(guarded[1], 0);
}

static void prune_global_should_name_the_layer_with_a_wrong_shape(void **state) {
  float s[4] = {1, 2, 3, 4}, ma[4] = {1, 1, 1, 1}, mb[4] = {1, 1, 1, 1};
  wrap ws, ws3, wma, wmb;
  lt_tensor *masks[2] = {wrap1(&wma, ma, 4), wrap1(&wmb, mb, 4)};
  const lt_tensor *scores[2] = {wrap1(&ws, s, 4), wrap1(&ws3, s, 3)};
  assert_int_equal(lt_mask_prune_global(masks, scores, 2, 0.5, LT_SCORE_ABS, NULL, NULL), LT_ESHAPE);
  assert_non_null(strstr(lt_errmsg(), "layer 2"));
  assert_int_equal(lt_mask_count(masks[0]), 4);
}

static void prune_random_should_prune_the_exact_count_of_survivors(void **state) {
  float m[100], first[100];
  for (int i = 0; i < 100; i++) m[i] = i % 10 < 3 ? 0.0f : 1.0f; /* 70 survive */
  wrap wm;
  lt_tensor *tm = wrap1(&wm, m, 100);
  lt_rng r;
  lt_rng_seed(&r, 3, LT_STREAM_PRUNE);
  int64_t pruned;
  assert_int_equal(lt_mask_prune_random(tm, 0.25, &r, &pruned), LT_OK);
  assert_int_equal(pruned, 18); /* 17.5 rounds up */
  assert_int_equal(lt_mask_count(tm), 52);
  for (int i = 0; i < 100; i++)
    if (i % 10 < 3) assert_true(m[i] == 0.0f); /* pruned stays pruned */
  memcpy(first, m, sizeof m);
  /* same seed -> same mask; another seed -> another mask */
  for (int i = 0; i < 100; i++) m[i] = i % 10 < 3 ? 0.0f : 1.0f;
  lt_rng_seed(&r, 3, LT_STREAM_PRUNE);
  assert_int_equal(lt_mask_prune_random(tm, 0.25, &r, NULL), LT_OK);
  assert_memory_equal(first, m, sizeof m);
  for (int i = 0; i < 100; i++) m[i] = i % 10 < 3 ? 0.0f : 1.0f;
  lt_rng_seed(&r, 4, LT_STREAM_PRUNE);
  assert_int_equal(lt_mask_prune_random(tm, 0.25, &r, NULL), LT_OK);
  assert_int_equal(lt_mask_count(tm), 52);
  assert_true(memcmp(first, m, sizeof m) != 0);
}

/* 3x4: row norms L1 = 4, 3, 2 and L2 = 2, 3, 1 */
static const float W34[12] = {1, -1, 1, -1, 3, 0, 0, 0, 0.5f, -0.5f, 0.5f, 0.5f};

static void prune_structured_should_remove_rows_with_the_smallest_l1_norm(void **state) {
  float w[12], m[12];
  memcpy(w, W34, sizeof w);
  for (int i = 0; i < 12; i++) m[i] = 1;
  wrap ww, wm;
  lt_tensor *tm = wrap2(&wm, m, 3, 4), *tw = wrap2(&ww, w, 3, 4);
  int64_t units;
  assert_int_equal(lt_mask_prune_structured(tm, tw, 2.0 / 3.0, 0, LT_NORM_L1, &units), LT_OK);
  assert_int_equal(units, 2);
  float want[12] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}; /* keeps row 0 (L1 4) */
  expect_mask(m, want, 12);
}

static void prune_structured_should_remove_rows_with_the_smallest_l2_norm(void **state) {
  float w[12], m[12];
  memcpy(w, W34, sizeof w);
  for (int i = 0; i < 12; i++) m[i] = 1;
  wrap ww, wm;
  lt_tensor *tm = wrap2(&wm, m, 3, 4), *tw = wrap2(&ww, w, 3, 4);
  int64_t units;
  assert_int_equal(lt_mask_prune_structured(tm, tw, 1.0 / 3.0, 0, LT_NORM_L2, &units), LT_OK);
  assert_int_equal(units, 1);
  float want1[12] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  expect_mask(m, want1, 12);
  /* the next round: 1/2 of the 2 surviving rows -> row 0 (L2 2 < 3) */
  assert_int_equal(lt_mask_prune_structured(tm, tw, 0.5, 0, LT_NORM_L2, &units), LT_OK);
  assert_int_equal(units, 1);
  float want2[12] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}; /* keeps row 1 (L2 3) */
  expect_mask(m, want2, 12);
}

static void prune_structured_should_measure_only_surviving_weights(void **state) {
  float w[12], m[12] = {1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1};
  memcpy(w, W34, sizeof w);
  wrap ww, wm;
  /* row 1's only nonzero weight is pruned: its L1 is 0, so it goes first */
  assert_int_equal(lt_mask_prune_structured(wrap2(&wm, m, 3, 4), wrap2(&ww, w, 3, 4), 1.0 / 3.0, 0, LT_NORM_L1, NULL),
                   LT_OK);
  float want[12] = {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
  expect_mask(m, want, 12);
}

static void prune_structured_should_remove_conv_output_channels_and_columns(void **state) {
  /* (cout 2, cin 1, 2, 2): channel 0 L1 = 10, channel 1 L1 = 4 */
  float w[8] = {1, 2, 3, 4, -1, -1, 1, 1}, m[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  int64_t shape[4] = {2, 1, 2, 2};
  wrap ww, wm;
  assert_int_equal(lt_mask_prune_structured(wrapn(&wm, m, 4, shape), wrapn(&ww, w, 4, shape), 0.5, 0, LT_NORM_L1, NULL),
                   LT_OK);
  float want[8] = {1, 1, 1, 1, 0, 0, 0, 0};
  expect_mask(m, want, 8);
  /* dim 1 of the 3x4 matrix: column L1 = 4.5, 1.5, 1.5, 1.5 -> the tie goes to column 1 */
  float w2[12], m2[12];
  memcpy(w2, W34, sizeof w2);
  for (int i = 0; i < 12; i++) m2[i] = 1;
  assert_int_equal(lt_mask_prune_structured(wrap2(&wm, m2, 3, 4), wrap2(&ww, w2, 3, 4), 0.25, 1, LT_NORM_L1, NULL),
                   LT_OK);
  float want2[12] = {1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1};
  expect_mask(m2, want2, 12);
  assert_int_equal(lt_mask_prune_structured(wrap2(&wm, m2, 3, 4), wrap2(&ww, w2, 3, 4), 0.25, 2, LT_NORM_L1, NULL),
                   LT_EINVAL);
}

static void prune_nm_should_keep_two_largest_in_every_group_of_four(void **state) {
  float s[16] = {1, 4, 2, 3, -5, 0.1f, 0.2f, 6, /* row 0 */
                 1, 1, 1, 1, 0, 9, 8, 7};       /* row 1: a tie group */
  float m[16];
  for (int i = 0; i < 16; i++) m[i] = 1;
  wrap ws, wm;
  lt_tensor *tm = wrap2(&wm, m, 2, 8), *ts = wrap2(&ws, s, 2, 8);
  int64_t pruned;
  assert_int_equal(lt_mask_prune_nm(tm, ts, 2, 4, LT_SCORE_ABS, &pruned), LT_OK);
  assert_int_equal(pruned, 8);
  float want[16] = {0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0};
  expect_mask(m, want, 16);
  /* already 2:4: nothing changes */
  assert_int_equal(lt_mask_prune_nm(tm, ts, 2, 4, LT_SCORE_ABS, &pruned), LT_OK);
  assert_int_equal(pruned, 0);
  expect_mask(m, want, 16);
}

static void prune_nm_should_rank_pruned_entries_below_survivors(void **state) {
  /* idx 1 (score 4) is already pruned: the group keeps 3 and 2, 4 never revives */
  float s[6] = {1, 4, 2, 3, 7, 8}, m[6] = {1, 0, 1, 1, 1, 1}, want[6] = {0, 0, 1, 1, 1, 1};
  wrap ws, wm;
  int64_t pruned;
  /* a row of 6 with m = 4: the tail group [7, 8] has only 2 entries and keeps both */
  assert_int_equal(lt_mask_prune_nm(wrap2(&wm, m, 1, 6), wrap2(&ws, s, 1, 6), 2, 4, LT_SCORE_ABS, &pruned), LT_OK);
  assert_int_equal(pruned, 1);
  expect_mask(m, want, 6);
  assert_int_equal(lt_mask_prune_nm(&wm.t, &ws.t, 3, 2, LT_SCORE_ABS, NULL), LT_EINVAL);
  assert_int_equal(lt_mask_prune_nm(&wm.t, &ws.t, 1, 0, LT_SCORE_ABS, NULL), LT_EINVAL);
}

/* Reference order for the large test: (score key, index) with NaN lowest. */
static const float *ref_scores;
static int ref_cmp(const void *pa, const void *pb) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  float x = fabsf(ref_scores[a]), y = fabsf(ref_scores[b]);
  int xn = isnan(x), yn = isnan(y);
  if (xn != yn) return xn ? -1 : 1;
  if (!xn && x != y) return x < y ? -1 : 1;
  return (a > b) - (a < b);
}

static void prune_local_should_match_a_naive_sort_on_a_large_layer_with_ties(void **state) {
  enum { N = 266200 };
  float *s = malloc(N * sizeof *s), *m = malloc(N * sizeof *m), *ref = malloc(N * sizeof *ref);
  int64_t *idx = malloc(N * sizeof *idx);
  assert_non_null(s), assert_non_null(m), assert_non_null(ref), assert_non_null(idx);
  lt_rng r;
  lt_rng_seed(&r, 11, LT_STREAM_USER);
  for (int i = 0; i < N; i++) {
    /* coarse values give many ties; a few NaNs, infinities and signed zeros */
    s[i] = (float)((int)lt_rng_below(&r, 2001) - 1000) / 64.0f;
    if (i % 9973 == 0) s[i] = NAN;
    if (i % 12007 == 5) s[i] = -INFINITY;
    m[i] = lt_rng_below(&r, 10) < 8 ? 1.0f : 0.0f;
  }
  int64_t surv = 0;
  for (int i = 0; i < N; i++)
    if (m[i] != 0.0f) idx[surv++] = i;
  memcpy(ref, m, N * sizeof *m);
  ref_scores = s;
  qsort(idx, (size_t)surv, sizeof *idx, ref_cmp);
  int64_t k = lt_mask_prune_count(0.2, surv);
  for (int64_t i = 0; i < k; i++) ref[idx[i]] = 0.0f;
  wrap ws, wm;
  int64_t pruned;
  assert_int_equal(lt_mask_prune_local(wrap1(&wm, m, N), wrap1(&ws, s, N), 0.2, LT_SCORE_ABS, &pruned), LT_OK);
  assert_int_equal(pruned, k);
  assert_memory_equal(m, ref, N * sizeof *m);
  free(s), free(m), free(ref), free(idx);
}

/* Naive global reference: all survivors sorted by (|score|, layer, index); walk the
 * order pruning until k are gone, skipping each layer's last (top) entry; a top
 * ranked below k is a guard hit. */
typedef struct ref_entry {
  float s;
  int layer;
  int64_t i;
} ref_entry;
static int ref_entry_cmp(const void *pa, const void *pb) {
  const ref_entry *a = pa, *b = pb;
  int an = isnan(a->s), bn = isnan(b->s);
  if (an != bn) return an ? -1 : 1;
  if (!an && a->s != b->s) return a->s < b->s ? -1 : 1;
  if (a->layer != b->layer) return a->layer - b->layer;
  return (a->i > b->i) - (a->i < b->i);
}

static void prune_global_should_match_a_naive_walk_on_random_layers_with_ties(void **state) {
  enum { L = 4 };
  const int64_t sizes[L] = {3000, 50, 20000, 7};
  float *s[L], *m[L], *ref[L];
  wrap ws[L], wm[L];
  lt_tensor *masks[L];
  const lt_tensor *scores[L];
  lt_rng r;
  lt_rng_seed(&r, 5, LT_STREAM_USER);
  int64_t total = 0;
  for (int l = 0; l < L; l++) {
    s[l] = malloc(sizes[l] * sizeof(float)), m[l] = malloc(sizes[l] * sizeof(float));
    ref[l] = malloc(sizes[l] * sizeof(float));
    for (int64_t i = 0; i < sizes[l]; i++) {
      /* layer 1 and 3 are small-valued, so the threshold empties them without the guard */
      float scale = (l == 1 || l == 3) ? 0.001f : 1.0f;
      s[l][i] = scale * (float)((int)lt_rng_below(&r, 201) - 100);
      if (lt_rng_below(&r, 500) == 0) s[l][i] = NAN;
      m[l][i] = ref[l][i] = lt_rng_below(&r, 4) ? 1.0f : 0.0f;
    }
    masks[l] = wrap1(&wm[l], m[l], sizes[l]);
    scores[l] = wrap1(&ws[l], s[l], sizes[l]);
    total += sizes[l];
  }
  ref_entry *e = malloc(total * sizeof *e);
  int64_t n = 0, top[L];
  for (int l = 0; l < L; l++) {
    top[l] = -1;
    for (int64_t i = 0; i < sizes[l]; i++)
      if (ref[l][i] != 0.0f) e[n++] = (ref_entry){fabsf(s[l][i]), l, i};
  }
  qsort(e, n, sizeof *e, ref_entry_cmp);
  for (int64_t j = 0; j < n; j++) top[e[j].layer] = j; /* the last of each layer in the order */
  int64_t k = lt_mask_prune_count(0.6, n), done = 0;
  int want_guard[L] = {0};
  for (int64_t j = 0; j < n && done < k; j++) {
    if (top[e[j].layer] == j) {
      if (j < k) want_guard[e[j].layer] = 1;
      continue;
    }
    ref[e[j].layer][e[j].i] = 0.0f;
    done++;
  }
  int guarded[L];
  int64_t pruned;
  assert_int_equal(lt_mask_prune_global(masks, scores, L, 0.6, LT_SCORE_ABS, guarded, &pruned), LT_OK);
  assert_int_equal(pruned, done);
  assert_int_equal(want_guard[1] + want_guard[3], 2); /* the case under test really happens */
  for (int l = 0; l < L; l++) {
    assert_int_equal(guarded[l], want_guard[l]);
    assert_memory_equal(m[l], ref[l], sizes[l] * sizeof(float));
    free(s[l]), free(m[l]), free(ref[l]);
  }
  free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(prune_count_should_round_half_up_with_decimal_rates),
      cmocka_unit_test(prune_local_should_keep_largest_magnitudes),
      cmocka_unit_test(prune_local_should_prune_a_fraction_of_the_survivors_each_round),
      cmocka_unit_test(prune_local_should_ignore_scores_of_pruned_entries),
      cmocka_unit_test(prune_local_should_prune_equal_scores_lower_index_first),
      cmocka_unit_test(prune_local_should_prune_nan_scores_first),
      cmocka_unit_test(prune_local_should_read_raw_or_absolute_scores),
      cmocka_unit_test(prune_local_should_reject_bad_rates_shapes_and_masks_untouched),
      cmocka_unit_test(prune_global_should_use_one_threshold_across_layers),
      cmocka_unit_test(prune_global_guard_should_keep_the_largest_weight_of_a_layer_and_report_it),
      cmocka_unit_test(prune_global_should_break_ties_by_layer_then_index),
      cmocka_unit_test(prune_global_should_name_the_layer_with_a_wrong_shape),
      cmocka_unit_test(prune_random_should_prune_the_exact_count_of_survivors),
      cmocka_unit_test(prune_structured_should_remove_rows_with_the_smallest_l1_norm),
      cmocka_unit_test(prune_structured_should_remove_rows_with_the_smallest_l2_norm),
      cmocka_unit_test(prune_structured_should_measure_only_surviving_weights),
      cmocka_unit_test(prune_structured_should_remove_conv_output_channels_and_columns),
      cmocka_unit_test(prune_nm_should_keep_two_largest_in_every_group_of_four),
      cmocka_unit_test(prune_nm_should_rank_pruned_entries_below_survivors),
      cmocka_unit_test(prune_local_should_match_a_naive_sort_on_a_large_layer_with_ties),
      cmocka_unit_test(prune_global_should_match_a_naive_walk_on_random_layers_with_ties),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
