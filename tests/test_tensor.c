/* test_tensor.c: CMocka tests of the tensor engine: storage and views, every op
 * against hand-computed values (also on non-contiguous views), reductions,
 * lt_gemm against a naive triple loop, error messages, bounded printing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/tensor.h"

/* A 2-D tensor holding vals row-major. */
static lt_tensor *mat(int64_t r, int64_t c, const float *vals) {
  lt_tensor *t = lt_tensor_new2(r, c);
  memcpy(lt_tensor_data(t), vals, (size_t)(r * c) * sizeof(float));
  return t;
}

static float at2(const lt_tensor *t, int64_t i, int64_t j) {
  int64_t idx[2] = {i, j};
  return lt_tensor_get(t, idx);
}

static void assert_values(const lt_tensor *t, const float *want, size_t n, float tol) {
  assert_int_equal(lt_tensor_numel(t), n);
  lt_tensor *c = lt_tensor_contiguous((lt_tensor *)t);
  for (size_t i = 0; i < n; i++) {
    float got = lt_tensor_data(c)[i];
    if (fabsf(got - want[i]) > tol) fail_msg("element %zu: got %g, want %g", i, got, want[i]);
  }
  lt_tensor_release(c);
}

static void new_tensor_should_be_zeroed_aligned_and_contiguous(void **state) {
  int64_t s[3] = {2, 3, 5};
  lt_tensor *t = lt_tensor_new(3, s);
  assert_non_null(t);
  assert_int_equal(t->ndim, 3);
  assert_int_equal(lt_tensor_numel(t), 30);
  assert_int_equal(t->stride[0], 15);
  assert_int_equal(t->stride[1], 5);
  assert_int_equal(t->stride[2], 1);
  assert_int_equal((uintptr_t)lt_tensor_data(t) % 64, 0);
  assert_true(lt_tensor_is_contiguous(t));
  for (int i = 0; i < 30; i++) assert_true(lt_tensor_data(t)[i] == 0.0f);
  char buf[32];
  assert_string_equal(lt_tensor_shape_str(t, buf, sizeof buf), "(2, 3, 5)");
  lt_tensor_release(t);
}

static void new_tensor_should_refuse_bad_shapes(void **state) {
  int64_t neg[2] = {3, -1}, huge[3] = {1000000, 1000000, 1000000};
  assert_null(lt_tensor_new(2, neg));
  assert_non_null(strstr(lt_errmsg(), "negative"));
  assert_null(lt_tensor_new(3, huge));
  assert_non_null(strstr(lt_errmsg(), "(1000000, 1000000, 1000000)"));
  assert_null(lt_tensor_new(5, huge));
  assert_null(lt_tensor_new(0, huge));
}

static void narrow_view_should_write_through_to_its_base(void **state) {
  lt_tensor *t = lt_tensor_arange(0, 12, 1);
  int64_t s[2] = {3, 4};
  lt_tensor *m = lt_tensor_reshape(t, 2, s);
  lt_tensor *v = lt_tensor_narrow(m, 1, 1, 2); /* columns 1..2 */
  assert_int_equal(v->shape[0], 3);
  assert_int_equal(v->shape[1], 2);
  assert_false(lt_tensor_is_contiguous(v));
  assert_true(at2(v, 2, 1) == 10.0f);
  int64_t idx[2] = {1, 0};
  lt_tensor_set(v, idx, -5.0f);
  assert_true(at2(m, 1, 1) == -5.0f);
  assert_true(lt_tensor_data(t)[5] == -5.0f);
  lt_tensor_fill(v, 7.0f); /* touches only the view */
  const float want[12] = {0, 7, 7, 3, 4, 7, 7, 7, 8, 7, 7, 11};
  assert_values(t, want, 12, 0);
  lt_tensor_release(t);
  lt_tensor_release(m); /* the view keeps the storage alive */
  assert_true(at2(v, 0, 0) == 7.0f);
  lt_tensor_release(v);
}

static void select_should_drop_a_dim_and_share_storage(void **state) {
  const float vals[6] = {1, 2, 3, 4, 5, 6};
  lt_tensor *m = mat(2, 3, vals);
  lt_tensor *col = lt_tensor_select(m, 1, 2); /* m[:, 2] = {3, 6} */
  assert_int_equal(col->ndim, 1);
  assert_int_equal(col->shape[0], 2);
  assert_int_equal(col->stride[0], 3);
  const float want[2] = {3, 6};
  assert_values(col, want, 2, 0);
  lt_tensor *row = lt_tensor_select(m, 0, 1);
  assert_true(lt_tensor_is_contiguous(row));
  lt_tensor_fill(row, 0.0f);
  assert_true(at2(m, 1, 0) == 0.0f && at2(m, 0, 0) == 1.0f);
  assert_null(lt_tensor_select(col, 0, 0));
  assert_null(lt_tensor_select(m, 0, 2));
  assert_non_null(strstr(lt_errmsg(), "(2, 3)"));
  lt_tensor_release(col);
  lt_tensor_release(row);
  lt_tensor_release(m);
}

static void reshape_should_infer_minus_one_and_refuse_non_contiguous(void **state) {
  lt_tensor *t = lt_tensor_arange(0, 24, 1);
  int64_t s[3] = {2, -1, 4};
  lt_tensor *r = lt_tensor_reshape(t, 3, s);
  assert_non_null(r);
  assert_int_equal(r->shape[1], 3);
  int64_t idx[3] = {1, 2, 3};
  assert_true(lt_tensor_get(r, idx) == 23.0f);
  int64_t bad[2] = {5, 5};
  assert_null(lt_tensor_reshape(t, 2, bad));
  assert_int_equal(lt_tensor_reshape(t, 2, bad) == NULL, 1);
  assert_non_null(strstr(lt_errmsg(), "(24)"));
  assert_non_null(strstr(lt_errmsg(), "(5, 5)"));
  lt_tensor *v = lt_tensor_narrow(r, 2, 0, 2);
  int64_t flat[1] = {12};
  assert_null(lt_tensor_reshape(v, 1, flat));
  assert_non_null(strstr(lt_errmsg(), "not contiguous"));
  lt_tensor *c = lt_tensor_contiguous(v);
  lt_tensor *f = lt_tensor_reshape(c, 1, flat);
  const float want[12] = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21};
  assert_values(f, want, 12, 0);
  int64_t vs[2] = {2, 2};
  lt_tensor *w = lt_tensor_view(t, 20, 2, vs);
  assert_true(at2(w, 1, 1) == 23.0f);
  assert_null(lt_tensor_view(t, 21, 2, vs));
  lt_tensor *all[] = {t, r, v, c, f, w};
  for (int i = 0; i < 6; i++) lt_tensor_release(all[i]);
}

static void arange_should_exclude_stop_like_numpy(void **state) {
  lt_tensor *a = lt_tensor_arange(0, 1, 0.25f);
  const float wa[4] = {0, 0.25f, 0.5f, 0.75f};
  assert_values(a, wa, 4, 0);
  lt_tensor *b = lt_tensor_arange(5, 0, -2);
  const float wb[3] = {5, 3, 1};
  assert_values(b, wb, 3, 0);
  lt_tensor *e = lt_tensor_arange(3, 3, 1);
  assert_int_equal(lt_tensor_numel(e), 0);
  assert_null(lt_tensor_arange(0, 1, 0));
  lt_tensor_release(a);
  lt_tensor_release(b);
  lt_tensor_release(e);
}

static void binop_should_match_hand_computed_values(void **state) {
  const float av[4] = {1, -2, 3, 8}, bv[4] = {2, 4, -0.5f, 16};
  lt_tensor *a = mat(2, 2, av), *b = mat(2, 2, bv), *o = lt_tensor_new2(2, 2);
  const float add[4] = {3, 2, 2.5f, 24}, sub[4] = {-1, -6, 3.5f, -8}, mul[4] = {2, -8, -1.5f, 128},
              div[4] = {0.5f, -0.5f, -6, 0.5f};
  assert_int_equal(lt_tensor_binop(o, a, b, LT_ADD), LT_OK);
  assert_values(o, add, 4, 0);
  lt_tensor_binop(o, a, b, LT_SUB);
  assert_values(o, sub, 4, 0);
  lt_tensor_binop(o, a, b, LT_MUL);
  assert_values(o, mul, 4, 0);
  lt_tensor_binop(o, a, b, LT_DIV);
  assert_values(o, div, 4, 0);
  lt_tensor_binop(a, a, a, LT_ADD); /* aliasing in place */
  const float twice[4] = {2, -4, 6, 16};
  assert_values(a, twice, 4, 0);
  lt_tensor_binop_scalar(o, b, 2, LT_SUB);
  const float bs[4] = {0, 2, -2.5f, 14};
  assert_values(o, bs, 4, 0);
  lt_tensor_binop_scalar(o, b, 4, LT_DIV);
  const float bd[4] = {0.5f, 1, -0.125f, 4};
  assert_values(o, bd, 4, 0);
  lt_tensor_release(a);
  lt_tensor_release(b);
  lt_tensor_release(o);
}

static void binop_should_walk_non_contiguous_views(void **state) {
  lt_tensor *t = lt_tensor_arange(0, 12, 1);
  int64_t s[2] = {3, 4};
  lt_tensor *m = lt_tensor_reshape(t, 2, s);
  lt_tensor *left = lt_tensor_narrow(m, 1, 0, 2);  /* {0,1},{4,5},{8,9} */
  lt_tensor *right = lt_tensor_narrow(m, 1, 2, 2); /* {2,3},{6,7},{10,11} */
  lt_tensor *o = lt_tensor_new2(3, 2);
  assert_int_equal(lt_tensor_binop(o, left, right, LT_MUL), LT_OK);
  const float want[6] = {0, 3, 24, 35, 80, 99};
  assert_values(o, want, 6, 0);
  /* write into a strided output: right = right - left */
  lt_tensor_binop(right, right, left, LT_SUB);
  const float wm[12] = {0, 1, 2, 2, 4, 5, 2, 2, 8, 9, 2, 2};
  assert_values(m, wm, 12, 0);
  lt_tensor_unop(left, left, LT_NEG);
  const float wn[12] = {0, -1, 2, 2, -4, -5, 2, 2, -8, -9, 2, 2};
  assert_values(m, wn, 12, 0);
  lt_tensor *col = lt_tensor_select(m, 1, 1); /* {-1, -5, -9}, stride 4 */
  lt_tensor_binop_scalar(col, col, 10, LT_ADD);
  lt_tensor_clamp(col, col, 2, 4);
  const float wc[3] = {4, 4, 2};
  assert_values(col, wc, 3, 0);
  assert_true(fabs(lt_tensor_sum(col) - 10.0) < 1e-9);
  lt_tensor *all[] = {t, m, left, right, o, col};
  for (int i = 0; i < 6; i++) lt_tensor_release(all[i]);
}

static void binop_should_name_both_shapes_on_mismatch(void **state) {
  lt_tensor *a = lt_tensor_new2(3, 4), *b = lt_tensor_new2(4, 3);
  assert_int_equal(lt_tensor_binop(a, a, b, LT_ADD), LT_ESHAPE);
  assert_non_null(strstr(lt_errmsg(), "(3, 4)"));
  assert_non_null(strstr(lt_errmsg(), "(4, 3)"));
  assert_non_null(strstr(lt_errmsg(), "add"));
  assert_int_equal(lt_tensor_unop(b, a, LT_ABS), LT_ESHAPE);
  lt_tensor *v = lt_tensor_narrow(a, 1, 0, 3);
  assert_int_equal(lt_tensor_copy(v, b), LT_ESHAPE);
  lt_tensor_release(v);
  lt_tensor_release(a);
  lt_tensor_release(b);
}

static void unops_should_match_hand_computed_values(void **state) {
  const float v[4] = {-2, 0, 0.25f, 4};
  lt_tensor *a = mat(1, 4, v), *o = lt_tensor_new2(1, 4);
  const float wabs[4] = {2, 0, 0.25f, 4}, wsign[4] = {-1, 0, 1, 1}, wrelu[4] = {0, 0, 0.25f, 4},
              wneg[4] = {2, 0, -0.25f, -4}, wclamp[4] = {-1, 0, 0.25f, 1};
  lt_tensor_unop(o, a, LT_ABS);
  assert_values(o, wabs, 4, 0);
  lt_tensor_unop(o, a, LT_SIGN);
  assert_values(o, wsign, 4, 0);
  lt_tensor_unop(o, a, LT_RELU);
  assert_values(o, wrelu, 4, 0);
  lt_tensor_unop(o, a, LT_NEG);
  assert_values(o, wneg, 4, 0);
  lt_tensor_clamp(o, a, -1, 1);
  assert_values(o, wclamp, 4, 0);
  assert_int_equal(lt_tensor_clamp(o, a, 1, -1), LT_EINVAL);
  lt_tensor_unop(o, a, LT_SQRT);
  assert_true(isnan(lt_tensor_data(o)[0]));
  assert_true(lt_tensor_data(o)[2] == 0.5f && lt_tensor_data(o)[3] == 2.0f);
  lt_tensor_unop(o, a, LT_EXP);
  assert_true(fabsf(lt_tensor_data(o)[0] - 0.13533528f) < 1e-6f && lt_tensor_data(o)[1] == 1.0f);
  lt_tensor_unop(o, a, LT_LOG);
  assert_true(isinf(lt_tensor_data(o)[1]) && fabsf(lt_tensor_data(o)[3] - 1.3862944f) < 1e-6f);
  lt_tensor_release(a);
  lt_tensor_release(o);
}

static void reductions_should_match_hand_computed_values(void **state) {
  const float v[6] = {3, -1, 4, 1, 5, -9}; /* (2, 3) */
  lt_tensor *a = mat(2, 3, v);
  assert_true(fabs(lt_tensor_sum(a) - 3.0) < 1e-12);
  assert_true(fabs(lt_tensor_mean(a) - 0.5) < 1e-12);
  assert_true(lt_tensor_min(a) == -9.0f);
  assert_true(lt_tensor_max(a) == 5.0f);
  assert_int_equal(lt_tensor_argmax(a), 4);
  lt_tensor *r = lt_tensor_reduce_dim(a, 0, LT_RSUM);
  const float s0[3] = {4, 4, -5};
  assert_int_equal(r->ndim, 1);
  assert_values(r, s0, 3, 0);
  lt_tensor_release(r);
  r = lt_tensor_reduce_dim(a, 1, LT_RMEAN);
  const float m1[2] = {2, -1};
  assert_values(r, m1, 2, 1e-6f);
  lt_tensor_release(r);
  r = lt_tensor_reduce_dim(a, 1, LT_RARGMAX);
  const float am[2] = {2, 1};
  assert_values(r, am, 2, 0);
  lt_tensor_release(r);
  r = lt_tensor_reduce_dim(a, 0, LT_RMIN);
  const float mn[3] = {1, -1, -9};
  assert_values(r, mn, 3, 0);
  lt_tensor_release(r);
  r = lt_tensor_reduce_dim(a, 0, LT_RMAX);
  const float mx[3] = {3, 5, 4};
  assert_values(r, mx, 3, 0);
  lt_tensor_release(r);
  assert_null(lt_tensor_reduce_dim(a, 2, LT_RSUM));
  lt_tensor_release(a);
}

static void reduce_dim_should_handle_3d_non_contiguous_inputs(void **state) {
  lt_tensor *t = lt_tensor_arange(0, 24, 1);
  int64_t s[3] = {2, 3, 4};
  lt_tensor *r = lt_tensor_reshape(t, 3, s);
  lt_tensor *v = lt_tensor_narrow(r, 2, 1, 2); /* [i][j][1..2] = 12i + 4j + {1,2} */
  lt_tensor *m = lt_tensor_reduce_dim(v, 1, LT_RSUM); /* (2, 2): sum over j */
  assert_int_equal(m->ndim, 2);
  const float want[4] = {15, 18, 51, 54};
  assert_values(m, want, 4, 0);
  lt_tensor *first = lt_tensor_select(v, 0, 0); /* (3, 2): 4j + {1, 2} */
  lt_tensor *one = lt_tensor_reduce_dim(first, 0, LT_RMAX);
  lt_tensor_release(first);
  const float w1[2] = {9, 10};
  assert_values(one, w1, 2, 0);
  lt_tensor *col = lt_tensor_narrow(t, 0, 3, 1);
  lt_tensor *s1 = lt_tensor_reduce_dim(col, 0, LT_RSUM);
  assert_int_equal(s1->ndim, 1);
  assert_int_equal(s1->shape[0], 1);
  assert_true(lt_tensor_data(s1)[0] == 3.0f);
  lt_tensor *all[] = {t, r, v, m, one, col, s1};
  for (int i = 0; i < 7; i++) lt_tensor_release(all[i]);
}

static void dot_and_matmul_should_match_hand_computed_values(void **state) {
  const float av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {7, 8, 9, 10, 11, 12};
  lt_tensor *a = mat(2, 3, av), *b = mat(3, 2, bv), *out = NULL;
  double d;
  assert_int_equal(lt_tensor_dot(a, b, &d), LT_OK);
  assert_true(d == 217.0);
  assert_int_equal(lt_tensor_matmul(&out, a, b), LT_OK);
  const float want[4] = {58, 64, 139, 154};
  assert_values(out, want, 4, 1e-5f);
  /* 2-D x 1-D through a strided column of b: b[:, 1] = {8, 10, 12} */
  lt_tensor *col = lt_tensor_select(b, 1, 1), *mv = NULL;
  assert_int_equal(lt_tensor_matmul(&mv, a, col), LT_OK);
  assert_int_equal(mv->ndim, 1);
  const float wmv[2] = {64, 154};
  assert_values(mv, wmv, 2, 1e-5f);
  /* a non-contiguous left operand: a[:, 1:3] (2, 2) @ out (2, 2) */
  lt_tensor *an = lt_tensor_narrow(a, 1, 1, 2), *p = NULL;
  assert_int_equal(lt_tensor_matmul(&p, an, out), LT_OK);
  const float wp[4] = {2 * 58 + 3 * 139, 2 * 64 + 3 * 154, 5 * 58 + 6 * 139, 5 * 64 + 6 * 154};
  assert_values(p, wp, 4, 1e-3f);
  lt_tensor_release(p);
  lt_tensor *small = lt_tensor_new2(3, 3);
  assert_int_equal(lt_tensor_matmul(&small, a, b), LT_ESHAPE); /* wrong caller-provided output */
  assert_non_null(strstr(lt_errmsg(), "(3, 3)"));
  lt_tensor *sq = lt_tensor_new2(2, 2), *into = sq;
  assert_int_equal(lt_tensor_matmul(&into, sq, sq), LT_EINVAL); /* output aliases an input */
  assert_non_null(strstr(lt_errmsg(), "overlaps"));
  lt_tensor_release(sq);
  lt_tensor *flat = lt_tensor_arange(1, 9, 1); /* two (2, 2) halves of one buffer */
  int64_t s22[2] = {2, 2};
  lt_tensor *lo = lt_tensor_view(flat, 0, 2, s22), *hi = lt_tensor_view(flat, 4, 2, s22);
  assert_int_equal(lt_tensor_matmul(&hi, lo, lo), LT_OK);
  const float wsq[8] = {1, 2, 3, 4, 7, 10, 15, 22};
  assert_values(flat, wsq, 8, 1e-5f);
  lt_tensor_release(flat);
  lt_tensor_release(lo);
  lt_tensor_release(hi);
  lt_tensor *all[] = {a, b, out, col, mv, an, small};
  for (int i = 0; i < 7; i++) lt_tensor_release(all[i]);
}

static void matmul_should_name_both_shapes_and_inner_dims(void **state) {
  lt_tensor *a = lt_tensor_new2(3, 4), *b = lt_tensor_new2(5, 2), *out = NULL;
  assert_int_equal(lt_tensor_matmul(&out, a, b), LT_ESHAPE);
  assert_null(out);
  assert_string_equal(lt_errmsg(), "matmul: shapes (3, 4) and (5, 2) do not match (inner dims 4 and 5)");
  double d;
  assert_int_equal(lt_tensor_dot(a, b, &d), LT_ESHAPE);
  assert_non_null(strstr(lt_errmsg(), "(3, 4)"));
  assert_non_null(strstr(lt_errmsg(), "(5, 2)"));
  lt_tensor_release(a);
  lt_tensor_release(b);
}

static void transpose_view_should_feed_matmul_and_elementwise_ops(void **state) {
  const float av[6] = {1, 2, 3, 4, 5, 6}; /* (2, 3) */
  lt_tensor *a = mat(2, 3, av);
  lt_tensor *at = lt_tensor_transpose(a, 0, 1); /* (3, 2) = {1,4},{2,5},{3,6} */
  assert_int_equal(at->shape[0], 3);
  assert_int_equal(at->stride[0], 1);
  assert_false(lt_tensor_is_contiguous(at));
  const float wt[6] = {1, 4, 2, 5, 3, 6};
  assert_values(at, wt, 6, 0);
  lt_tensor *g = NULL; /* a^T a (3, 3): sgemm takes the transposed layout directly */
  assert_int_equal(lt_tensor_matmul(&g, at, a), LT_OK);
  const float wg[9] = {17, 22, 27, 22, 29, 36, 27, 36, 45};
  assert_values(g, wg, 9, 1e-4f);
  lt_tensor *o = lt_tensor_new2(3, 2); /* inner stride 3 on both inputs */
  lt_tensor_binop(o, at, at, LT_MUL);
  const float wsq[6] = {1, 16, 4, 25, 9, 36};
  assert_values(o, wsq, 6, 0);
  lt_tensor *m0 = lt_tensor_reduce_dim(at, 0, LT_RMEAN); /* strided inner kept dim */
  const float wm[2] = {2, 5};
  assert_values(m0, wm, 2, 1e-6f);
  lt_tensor *m1 = lt_tensor_reduce_dim(a, 0, LT_RMEAN);
  const float wm1[3] = {2.5f, 3.5f, 4.5f};
  assert_values(m1, wm1, 3, 1e-6f);
  assert_null(lt_tensor_transpose(a, 0, 2));
  lt_tensor *all[] = {a, at, g, o, m0, m1};
  for (int i = 0; i < 6; i++) lt_tensor_release(all[i]);
}

/* Naive reference: C = alpha * op(A) op(B) + beta * C, row-major. */
static void gemm_ref(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double acc = 0;
      for (int p = 0; p < k; p++) {
        float x = ta ? A[p * lda + i] : A[i * lda + p];
        float y = tb ? B[j * ldb + p] : B[p * ldb + j];
        acc += (double)x * y;
      }
      C[i * ldc + j] = (float)(alpha * acc + beta * C[i * ldc + j]);
    }
}

static void gemm_should_match_a_naive_loop_on_odd_shapes_with_transposes(void **state) {
  enum { M = 7, N = 13, K = 5, PAD = 3 };
  lt_rng r;
  lt_rng_seed(&r, 1, LT_STREAM_USER);
  float A[(M + PAD) * (K + PAD)], B[(K + PAD) * (N + PAD)], C0[M * (N + PAD)], C[M * (N + PAD)], R[M * (N + PAD)];
  for (size_t i = 0; i < sizeof A / sizeof *A; i++) A[i] = lt_rng_uniform(&r, -1, 1);
  for (size_t i = 0; i < sizeof B / sizeof *B; i++) B[i] = lt_rng_uniform(&r, -1, 1);
  for (size_t i = 0; i < sizeof C0 / sizeof *C0; i++) C0[i] = lt_rng_uniform(&r, -1, 1);
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      int lda = (ta ? M : K) + PAD, ldb = (tb ? K : N) + PAD, ldc = N + PAD;
      memcpy(C, C0, sizeof C);
      memcpy(R, C0, sizeof R);
      lt_gemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, -2.0f, C, ldc);
      gemm_ref(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, -2.0f, R, ldc);
      for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++)
          if (fabsf(C[i * ldc + j] - R[i * ldc + j]) > 1e-5f)
            fail_msg("ta=%d tb=%d C[%d][%d] = %g, want %g", ta, tb, i, j, C[i * ldc + j], R[i * ldc + j]);
    }
  float z[2] = {3, 4};
  lt_gemm(0, 0, 1, 2, 0, 1.0f, A, 1, B, 2, 0.5f, z, 2); /* k = 0: C = beta * C */
  assert_true(z[0] == 1.5f && z[1] == 2.0f);
}

static void copy_should_allow_reshaping_between_contiguous_tensors_only(void **state) {
  lt_tensor *a = lt_tensor_arange(0, 6, 1), *b = lt_tensor_new2(2, 3), *c = lt_tensor_new2(3, 2);
  assert_int_equal(lt_tensor_copy(b, a), LT_OK);
  assert_true(at2(b, 1, 2) == 5.0f);
  lt_tensor *v = lt_tensor_narrow(c, 0, 0, 2); /* (2, 2) view */
  assert_int_equal(lt_tensor_copy(v, a), LT_ESHAPE);
  assert_non_null(strstr(lt_errmsg(), "(6)"));
  assert_non_null(strstr(lt_errmsg(), "(2, 2)"));
  lt_tensor *bv = lt_tensor_narrow(b, 1, 1, 2);
  lt_tensor *cl = lt_tensor_clone(bv);
  lt_tensor_release(bv);
  assert_true(lt_tensor_is_contiguous(cl));
  const float want[4] = {1, 2, 4, 5};
  assert_values(cl, want, 4, 0);
  lt_tensor *all[] = {a, b, c, v, cl};
  for (int i = 0; i < 5; i++) lt_tensor_release(all[i]);
}

static void random_tensors_should_repeat_for_a_seed(void **state) {
  lt_rng r1, r2;
  lt_rng_seed(&r1, 7, LT_STREAM_USER);
  lt_rng_seed(&r2, 7, LT_STREAM_USER);
  int64_t s[2] = {100, 100};
  lt_tensor *a = lt_tensor_randn(2, s, &r1, 1.0f, 2.0f), *b = lt_tensor_randn(2, s, &r2, 1.0f, 2.0f);
  assert_memory_equal(lt_tensor_data(a), lt_tensor_data(b), 10000 * sizeof(float));
  assert_true(fabs(lt_tensor_mean(a) - 1.0) < 0.1);
  lt_tensor *u = lt_tensor_rand(2, s, &r1, -3, -1);
  assert_true(lt_tensor_min(u) >= -3.0f && lt_tensor_max(u) < -1.0f);
  assert_true(fabs(lt_tensor_mean(u) + 2.0) < 0.05);
  lt_tensor_release(a);
  lt_tensor_release(b);
  lt_tensor_release(u);
}

static void tostring_should_show_small_tensors_whole(void **state) {
  const float v[4] = {1, 2, 3, 4};
  lt_tensor *a = mat(2, 2, v);
  char *s = lt_tensor_tostring(a);
  assert_string_equal(s, "tensor (2, 2) float32\n 1 2\n 3 4");
  free(s);
  lt_tensor_release(a);
}

static void tostring_of_a_large_tensor_should_stay_short(void **state) {
  lt_tensor *t = lt_tensor_new2(1000, 1000);
  lt_tensor_fill(t, 0.5f);
  int64_t idx[2] = {999, 999};
  lt_tensor_set(t, idx, 2.0f);
  char *s = lt_tensor_tostring(t);
  assert_true(strlen(s) < 1000);
  assert_true(strncmp(s, "tensor (1000, 1000) float32\n", 28) == 0);
  assert_non_null(strstr(s, "..."));
  assert_non_null(strstr(s, "max 2"));
  free(s);
  int64_t s4[4] = {10, 10, 10, 10};
  lt_tensor *u = lt_tensor_new(4, s4);
  s = lt_tensor_tostring(u);
  assert_true(strlen(s) < 1000);
  assert_non_null(strstr(s, "(10,10,.,.)"));
  free(s);
  lt_tensor_release(t);
  lt_tensor_release(u);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(new_tensor_should_be_zeroed_aligned_and_contiguous),
      cmocka_unit_test(new_tensor_should_refuse_bad_shapes),
      cmocka_unit_test(narrow_view_should_write_through_to_its_base),
      cmocka_unit_test(select_should_drop_a_dim_and_share_storage),
      cmocka_unit_test(reshape_should_infer_minus_one_and_refuse_non_contiguous),
      cmocka_unit_test(arange_should_exclude_stop_like_numpy),
      cmocka_unit_test(binop_should_match_hand_computed_values),
      cmocka_unit_test(binop_should_walk_non_contiguous_views),
      cmocka_unit_test(binop_should_name_both_shapes_on_mismatch),
      cmocka_unit_test(unops_should_match_hand_computed_values),
      cmocka_unit_test(reductions_should_match_hand_computed_values),
      cmocka_unit_test(reduce_dim_should_handle_3d_non_contiguous_inputs),
      cmocka_unit_test(dot_and_matmul_should_match_hand_computed_values),
      cmocka_unit_test(matmul_should_name_both_shapes_and_inner_dims),
      cmocka_unit_test(transpose_view_should_feed_matmul_and_elementwise_ops),
      cmocka_unit_test(gemm_should_match_a_naive_loop_on_odd_shapes_with_transposes),
      cmocka_unit_test(copy_should_allow_reshaping_between_contiguous_tensors_only),
      cmocka_unit_test(random_tensors_should_repeat_for_a_seed),
      cmocka_unit_test(tostring_should_show_small_tensors_whole),
      cmocka_unit_test(tostring_of_a_large_tensor_should_stay_short),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
