/* test_sparse.c: CSR and n:m formats and every sparse kernel against naive
 * dense references (double accumulation) on random and edge-case shapes,
 * thread-count independence, and the calibration's contract. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/rng.h"
#include "lotto/sparse.h"
#include "lotto/tensor.h"
#include "core/pool.h" /* lt_pool_scratch_free */

static lt_rng rng;

static float *randv(size_t n) {
  float *p = malloc((n ? n : 1) * sizeof *p);
  for (size_t i = 0; i < n; i++) p[i] = lt_rng_uniform(&rng, -1.0f, 1.0f);
  return p;
}

/* A 0/1 mask at about density d, with row `erow` and column `ecol` emptied (-1: none). */
static float *randmask(int rows, int cols, double d, int erow, int ecol) {
  float *m = malloc(((size_t)rows * cols + 1) * sizeof *m);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++)
      m[(size_t)r * cols + c] = (r != erow && c != ecol && lt_rng_double(&rng) < d) ? 1.0f : 0.0f;
  return m;
}

/* |got - want| within 1e-5 of the sum of the magnitudes of the terms. */
static void check_close(const float *got, const double *want, const double *scale, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double tol = 1e-5 * (scale[i] > 1e-30 ? scale[i] : 1e-30);
    if (fabs(got[i] - want[i]) > tol)
      fail_msg("element %zu: got %.9g, want %.9g (tolerance %.3g)", i, got[i], want[i], tol);
  }
}

/* want (B, out) = x (B, in) . (w*mask)^T + bias, in double. */
static void ref_forward(double *want, double *scale, const float *w, const float *mask, const float *x,
                        const float *bias, int B, int in, int out) {
  for (int b = 0; b < B; b++)
    for (int o = 0; o < out; o++) {
      double s = bias ? bias[o] : 0, a = bias ? fabs(bias[o]) : 0;
      for (int i = 0; i < in; i++) {
        double t = (double)w[(size_t)o * in + i] * mask[(size_t)o * in + i] * x[(size_t)b * in + i];
        s += t;
        a += fabs(t);
      }
      want[(size_t)b * out + o] = s;
      scale[(size_t)b * out + o] = a;
    }
}

/* want (B, in) = dy (B, out) . (w*mask) */
static void ref_backward_input(double *want, double *scale, const float *w, const float *mask, const float *dy,
                               int B, int in, int out) {
  for (int b = 0; b < B; b++)
    for (int i = 0; i < in; i++) {
      double s = 0, a = 0;
      for (int o = 0; o < out; o++) {
        double t = (double)w[(size_t)o * in + i] * mask[(size_t)o * in + i] * dy[(size_t)b * out + o];
        s += t;
        a += fabs(t);
      }
      want[(size_t)b * in + i] = s;
      scale[(size_t)b * in + i] = a;
    }
}

/* want (out, in) = dw0 + mask * (dy^T . x): pruned entries keep dw0. */
static void ref_weight_grad(double *want, double *scale, const float *dw0, const float *mask, const float *dy,
                            const float *x, int B, int in, int out) {
  for (int o = 0; o < out; o++)
    for (int i = 0; i < in; i++) {
      size_t k = (size_t)o * in + i;
      double s = dw0[k], a = fabs(dw0[k]);
      if (mask[k] != 0.0f)
        for (int b = 0; b < B; b++) {
          double t = (double)dy[(size_t)b * out + o] * x[(size_t)b * in + i];
          s += t;
          a += fabs(t);
        }
      want[k] = s;
      scale[k] = a;
    }
}

/* Forward, input gradient and weight gradient of one (B, in, out) layer at
 * density d through the (B, features) API, against the references. */
static void check_layer(int B, int in, int out, double d, int erow, int ecol, int with_bias) {
  float *w = randv((size_t)out * in), *mask = randmask(out, in, d, erow, ecol);
  float *x = randv((size_t)B * in), *dy = randv((size_t)B * out), *bias = with_bias ? randv(out) : NULL;
  float *y = randv((size_t)B * out), *dx = randv((size_t)B * in), *dw = randv((size_t)out * in);
  float *dw0 = malloc(((size_t)out * in + 1) * sizeof *dw0);
  memcpy(dw0, dw, (size_t)out * in * sizeof *dw);
  size_t big = (size_t)(B * in > out * in ? B * in : out * in) + (size_t)B * out + 1;
  double *want = malloc(big * sizeof *want), *scale = malloc(big * sizeof *scale);
  lt_csr *a = lt_csr_new(), *at = lt_csr_new();
  assert_int_equal(lt_csr_build(a, w, mask, out, in), LT_OK);
  assert_int_equal(lt_csr_transpose(at, a), LT_OK);

  assert_int_equal(lt_sparse_linear_forward(y, a, x, bias, B), LT_OK);
  ref_forward(want, scale, w, mask, x, bias, B, in, out);
  check_close(y, want, scale, (size_t)B * out);

  assert_int_equal(lt_sparse_linear_backward(dx, dw, a, at, dy, x, B), LT_OK);
  ref_backward_input(want, scale, w, mask, dy, B, in, out);
  check_close(dx, want, scale, (size_t)B * in);
  ref_weight_grad(want, scale, dw0, mask, dy, x, B, in, out);
  check_close(dw, want, scale, (size_t)out * in);

  /* the separate entry points agree with the combined one */
  memcpy(dw, dw0, (size_t)out * in * sizeof *dw);
  assert_int_equal(lt_sparse_linear_backward_input(dx, at, dy, B), LT_OK);
  assert_int_equal(lt_sparse_linear_weight_grad(dw, a, dy, x, B), LT_OK);
  check_close(dw, want, scale, (size_t)out * in);
  ref_backward_input(want, scale, w, mask, dy, B, in, out);
  check_close(dx, want, scale, (size_t)B * in);

  lt_csr_free(a), lt_csr_free(at);
  free(w), free(mask), free(x), free(dy), free(bias), free(y), free(dx), free(dw), free(dw0), free(want), free(scale);
}

static void csr_build_should_keep_masked_entries_even_when_their_weight_is_zero(void **state) {
  const float w[] = {1, 0, 2, 3, /**/ 0, 0, 0, 0, /**/ 4, 5, 0, 6};
  const float m[] = {1, 1, 0, 1, /**/ 0, 0, 0, 0, /**/ 0, 1, 1, 0};
  lt_csr *a = lt_csr_new();
  assert_int_equal(lt_csr_build(a, w, m, 3, 4), LT_OK);
  const int32_t rowptr[] = {0, 3, 3, 5}, colidx[] = {0, 1, 3, 1, 2};
  const float val[] = {1, 0, 3, 5, 0};
  assert_int_equal(a->nnz, 5);
  assert_memory_equal(a->rowptr, rowptr, sizeof rowptr);
  assert_memory_equal(a->colidx, colidx, sizeof colidx);
  assert_memory_equal(a->val, val, sizeof val);
  assert_true(fabs(lt_csr_density(a) - 5.0 / 12) < 1e-12);
  float dense[12], want[12];
  lt_csr_todense(dense, a);
  for (int i = 0; i < 12; i++) want[i] = w[i] * m[i];
  assert_memory_equal(dense, want, sizeof want);
  lt_csr_free(a);
}

static void csr_rebuild_and_refresh_should_follow_new_masks_and_values(void **state) {
  int rows = 40, cols = 70;
  float *w = randv((size_t)rows * cols), *m1 = randmask(rows, cols, 0.05, -1, -1);
  float *m2 = randmask(rows, cols, 0.9, -1, -1);
  lt_csr *a = lt_csr_new(), *b = lt_csr_new(), *at = lt_csr_new(), *bt = lt_csr_new();
  assert_int_equal(lt_csr_build(a, w, m1, rows, cols), LT_OK);
  assert_int_equal(lt_csr_build(a, w, m2, rows, cols), LT_OK); /* grows inside the pass */
  assert_int_equal(lt_csr_transpose(at, a), LT_OK);
  for (size_t i = 0; i < (size_t)rows * cols; i++) w[i] = lt_rng_uniform(&rng, -2.0f, 2.0f);
  lt_csr_refresh(a, w);
  lt_csr_refresh_transposed(at, w);
  assert_int_equal(lt_csr_build(b, w, m2, rows, cols), LT_OK);
  assert_int_equal(lt_csr_transpose(bt, b), LT_OK);
  assert_int_equal(a->nnz, b->nnz);
  assert_memory_equal(a->rowptr, b->rowptr, (rows + 1) * sizeof(int32_t));
  assert_memory_equal(a->colidx, b->colidx, b->nnz * sizeof(int32_t));
  assert_memory_equal(a->val, b->val, b->nnz * sizeof(float));
  assert_memory_equal(at->colidx, bt->colidx, b->nnz * sizeof(int32_t));
  assert_memory_equal(at->val, bt->val, b->nnz * sizeof(float));
  /* and back down to a sparser pattern */
  assert_int_equal(lt_csr_build(a, w, m1, rows, cols), LT_OK);
  float *dense = malloc((size_t)rows * cols * sizeof *dense);
  lt_csr_todense(dense, a);
  for (size_t i = 0; i < (size_t)rows * cols; i++) assert_true(dense[i] == w[i] * m1[i]);
  lt_csr_free(a), lt_csr_free(b), lt_csr_free(at), lt_csr_free(bt);
  free(w), free(m1), free(m2), free(dense);
}

static void csr_transpose_should_be_the_csc_of_the_weight(void **state) {
  int rows = 23, cols = 31;
  float *w = randv((size_t)rows * cols), *m = randmask(rows, cols, 0.3, 4, 7);
  lt_csr *a = lt_csr_new(), *t = lt_csr_new();
  assert_int_equal(lt_csr_build(a, w, m, rows, cols), LT_OK);
  assert_int_equal(lt_csr_transpose(t, a), LT_OK);
  assert_int_equal(t->rows, cols);
  assert_int_equal(t->cols, rows);
  assert_int_equal(t->rowptr[8] - t->rowptr[7], 0); /* the emptied column */
  float *d = malloc((size_t)rows * cols * sizeof *d);
  lt_csr_todense(d, t);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) assert_true(d[(size_t)c * rows + r] == w[(size_t)r * cols + c] * m[(size_t)r * cols + c]);
  for (int r = 0; r < t->rows; r++)
    for (int32_t k = t->rowptr[r] + 1; k < t->rowptr[r + 1]; k++) assert_true(t->colidx[k - 1] < t->colidx[k]);
  lt_csr_free(a), lt_csr_free(t);
  free(w), free(m), free(d);
}

static void linear_kernels_should_match_dense_reference_on_odd_and_batch_shapes(void **state) {
  static const int shapes[][3] = {{13, 37, 11}, {1, 37, 11}, {60, 100, 30}, {64, 50, 20}, {67, 29, 17},
                                  {8, 8, 8},    {7, 5, 3},   {130, 16, 9}};
  static const double dens[] = {1.0, 0.5, 0.2, 0.036};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (size_t d = 0; d < sizeof dens / sizeof *dens; d++)
      check_layer(shapes[s][0], shapes[s][1], shapes[s][2], dens[d], -1, -1, (int)(s + d) % 2);
}

static void linear_kernels_should_handle_empty_rows_columns_and_a_fully_pruned_layer(void **state) {
  check_layer(13, 37, 11, 0.4, 3, 5, 1); /* output 3 and input 5 have no weights */
  check_layer(13, 37, 11, 0.0, -1, -1, 1); /* nnz = 0: y = bias, dx = 0, dw untouched */
  check_layer(9, 1, 1, 1.0, -1, -1, 0);
  lt_csr *a = lt_csr_new();
  float w[6] = {1, 2, 3, 4, 5, 6}, m[6] = {0}, y[4] = {7, 7, 7, 7}, x[6] = {1, 1, 1, 1, 1, 1};
  assert_int_equal(lt_csr_build(a, w, m, 2, 3), LT_OK);
  assert_int_equal(a->nnz, 0);
  assert_int_equal(lt_sparse_linear_forward(y, a, x, NULL, 2), LT_OK);
  for (int i = 0; i < 4; i++) assert_true(y[i] == 0.0f);
  lt_csr_free(a);
}

static void transposed_kernels_should_respect_strides_and_accumulate(void **state) {
  /* n = 17..23: every partial last vector (1..7 lanes), read and written */
  for (int n = 17; n <= 23; n++) {
    int rows = 19, cols = 45, ldb = 29, ldc = 24;
    float *w = randv((size_t)rows * cols), *m = randmask(rows, cols, 0.3, -1, -1);
    float *bt = randv((size_t)cols * ldb), *ct = randv((size_t)rows * ldc), *c0 = malloc(rows * ldc * sizeof *c0);
    float *bias = randv(rows);
    memcpy(c0, ct, (size_t)rows * ldc * sizeof *ct);
    lt_csr *a = lt_csr_new();
    assert_int_equal(lt_csr_build(a, w, m, rows, cols), LT_OK);
    assert_int_equal(lt_csr_spmm_t(ct, ldc, a, bt, ldb, n, bias, 1), LT_OK);
    for (int r = 0; r < rows; r++) {
      for (int j = 0; j < ldc; j++) {
        double s = c0[r * ldc + j], sc = fabs(s);
        if (j >= n) { /* padding beyond n is not touched */
          assert_true(ct[r * ldc + j] == c0[r * ldc + j]);
          continue;
        }
        s += bias[r], sc += fabs(bias[r]);
        for (int c = 0; c < cols; c++) {
          double t = (double)w[r * cols + c] * m[r * cols + c] * bt[c * ldb + j];
          s += t, sc += fabs(t);
        }
        check_close(&ct[r * ldc + j], &s, &sc, 1);
      }
    }
    /* sampled product into values aligned with the CSR */
    float *g = randv(a->nnz), *g0 = malloc((a->nnz + 1) * sizeof *g0);
    memcpy(g0, g, a->nnz * sizeof *g);
    assert_int_equal(lt_csr_sddmm_t(g, a, ct, ldc, bt, ldb, n), LT_OK);
    for (int r = 0; r < rows; r++)
      for (int32_t k = a->rowptr[r]; k < a->rowptr[r + 1]; k++) {
        double s = g0[k], sc = fabs(s);
        for (int j = 0; j < n; j++) {
          double t = (double)ct[r * ldc + j] * bt[a->colidx[k] * ldb + j];
          s += t, sc += fabs(t);
        }
        check_close(&g[k], &s, &sc, 1);
      }
    assert_int_equal(lt_csr_spmm_t(ct, n - 1, a, bt, ldb, n, NULL, 0), LT_EINVAL); /* ldc < n */
    lt_csr_free(a);
    free(w), free(m), free(bt), free(ct), free(c0), free(bias), free(g), free(g0);
  }
}

static void tails_should_give_the_same_bits_for_tight_and_padded_strides(void **state) {
  /* n = 21: the last vector is partial. With a padded stride the kernels read
   * it whole; the padding here is NaN and must not leak into any result. */
  int rows = 9, cols = 30, n = 21, pad = 32;
  float *w = randv((size_t)rows * cols), *m = randmask(rows, cols, 0.5, -1, -1), *tight = randv((size_t)cols * n);
  float *padded = malloc((size_t)cols * pad * sizeof *padded), *dyt = randv((size_t)rows * n);
  float *dyp = malloc((size_t)rows * pad * sizeof *dyp);
  for (size_t i = 0; i < (size_t)cols * pad; i++) padded[i] = NAN;
  for (size_t i = 0; i < (size_t)rows * pad; i++) dyp[i] = NAN;
  for (int c = 0; c < cols; c++) memcpy(padded + c * pad, tight + c * n, n * sizeof(float));
  for (int r = 0; r < rows; r++) memcpy(dyp + r * pad, dyt + r * n, n * sizeof(float));
  float *c1 = calloc((size_t)rows * n, sizeof *c1), *c2 = calloc((size_t)rows * n, sizeof *c2);
  lt_csr *a = lt_csr_new();
  assert_int_equal(lt_csr_build(a, w, m, rows, cols), LT_OK);
  assert_int_equal(lt_csr_spmm_t(c1, n, a, tight, n, n, NULL, 0), LT_OK);
  assert_int_equal(lt_csr_spmm_t(c2, n, a, padded, pad, n, NULL, 0), LT_OK);
  assert_memory_equal(c1, c2, (size_t)rows * n * sizeof *c1);
  float *g1 = calloc(a->nnz + 1, sizeof *g1), *g2 = calloc(a->nnz + 1, sizeof *g2);
  assert_int_equal(lt_csr_sddmm_t(g1, a, dyt, n, tight, n, n), LT_OK);
  assert_int_equal(lt_csr_sddmm_t(g2, a, dyp, pad, padded, pad, n), LT_OK);
  assert_memory_equal(g1, g2, a->nnz * sizeof *g1);
  for (int k = 0; k < a->nnz; k++) assert_false(isnan(g2[k]));
  lt_csr_free(a);
  free(w), free(m), free(tight), free(padded), free(dyt), free(dyp), free(c1), free(c2), free(g1), free(g2);
}

static void transpose_should_swap_axes_on_odd_sizes(void **state) {
  static const int sz[][2] = {{1, 1}, {8, 8}, {13, 37}, {64, 784}, {3, 17}, {17, 3}};
  for (size_t s = 0; s < sizeof sz / sizeof *sz; s++) {
    int r = sz[s][0], c = sz[s][1], ldd = r + 3;
    float *src = randv((size_t)r * c), *dst = malloc((size_t)c * ldd * sizeof *dst);
    lt_transpose(dst, ldd, src, c, r, c);
    for (int i = 0; i < r; i++)
      for (int j = 0; j < c; j++) assert_true(dst[(size_t)j * ldd + i] == src[(size_t)i * c + j]);
    free(src), free(dst);
  }
}

static void conv_kernels_should_match_reference_on_im2col_columns(void **state) {
  /* (cout, K = cin*kh*kw) times cols (K, N = images x pixels); the second
   * shape has N long enough to span several weight-gradient chunks. */
  static const int shapes[][3] = {{6, 27, 2 * 7 * 9}, {5, 40, 2000}};
  for (int s = 0; s < 2; s++) {
    int cout = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
    /* the layer identity: conv on cols == linear with x^T = cols, y^T = out;
     * a conv runs the transposed kernels directly on im2col columns */
    float *w = randv((size_t)cout * K), *m = randmask(cout, K, 0.4, -1, 2), *cols = randv((size_t)K * N);
    float *dy = randv((size_t)cout * N), *bias = randv(cout), *y = malloc((size_t)cout * N * sizeof *y);
    float *dcols = malloc((size_t)K * N * sizeof *dcols), *dw = randv((size_t)cout * K);
    float *dw0 = malloc((size_t)cout * K * sizeof *dw0), *x = malloc((size_t)K * N * sizeof *x);
    float *dyb = malloc((size_t)cout * N * sizeof *dyb);
    memcpy(dw0, dw, (size_t)cout * K * sizeof *dw);
    lt_transpose(x, K, cols, N, K, N);    /* x (N, K) */
    lt_transpose(dyb, cout, dy, N, cout, N); /* dy as (N, cout) */
    size_t big = (size_t)N * K + (size_t)cout * K;
    double *want = malloc(big * sizeof *want), *scale = malloc(big * sizeof *scale), *wt = malloc(big * sizeof *wt),
           *st = malloc(big * sizeof *st);
    lt_csr *a = lt_csr_new(), *at = lt_csr_new();
    assert_int_equal(lt_csr_build(a, w, m, cout, K), LT_OK);
    assert_int_equal(lt_csr_transpose(at, a), LT_OK);

    assert_int_equal(lt_csr_spmm_t(y, N, a, cols, N, N, bias, 0), LT_OK);
    ref_forward(want, scale, w, m, x, bias, N, K, cout); /* (N, cout) */
    for (int o = 0; o < cout; o++)
      for (int j = 0; j < N; j++) wt[o * N + j] = want[j * cout + o], st[o * N + j] = scale[j * cout + o];
    check_close(y, wt, st, (size_t)cout * N);

    assert_int_equal(lt_csr_spmm_t(dcols, N, at, dy, N, N, NULL, 0), LT_OK);
    ref_backward_input(want, scale, w, m, dyb, N, K, cout); /* (N, K) */
    for (int k = 0; k < K; k++)
      for (int j = 0; j < N; j++) wt[(size_t)k * N + j] = want[(size_t)j * K + k], st[(size_t)k * N + j] = scale[(size_t)j * K + k];
    check_close(dcols, wt, st, (size_t)K * N);

    assert_int_equal(lt_csr_sddmm_dense_t(dw, a->cols, a, dy, N, cols, N, N), LT_OK);
    ref_weight_grad(want, scale, dw0, m, dyb, x, N, K, cout);
    check_close(dw, want, scale, (size_t)cout * K);
    lt_csr_free(a), lt_csr_free(at);
    free(w), free(m), free(cols), free(dy), free(bias), free(y), free(dcols), free(dw), free(dw0), free(x), free(dyb);
    free(want), free(scale), free(wt), free(st);
  }
}

static void kernels_should_give_identical_bits_with_one_and_two_threads(void **state) {
  int B = 64, in = 300, out = 100; /* large enough to be split */
  float *w = randv((size_t)out * in), *m = randmask(out, in, 0.5, -1, -1), *x = randv((size_t)B * in);
  float *dy = randv((size_t)B * out), *bias = randv(out);
  float *y[2], *dx[2], *dw[2];
  lt_csr *a = lt_csr_new(), *at = lt_csr_new();
  assert_int_equal(lt_csr_build(a, w, m, out, in), LT_OK);
  assert_int_equal(lt_csr_transpose(at, a), LT_OK);
  int saved = lt_get_threads();
  for (int t = 0; t < 2; t++) {
    lt_set_threads(t + 1);
    y[t] = calloc((size_t)B * out, sizeof(float)), dx[t] = calloc((size_t)B * in, sizeof(float));
    dw[t] = calloc((size_t)out * in, sizeof(float));
    for (int rep = 0; rep < 3; rep++) { /* repeated calls reuse the pool */
      assert_int_equal(lt_sparse_linear_forward(y[t], a, x, bias, B), LT_OK);
      assert_int_equal(lt_sparse_linear_backward(dx[t], dw[t], a, at, dy, x, B), LT_OK);
    }
  }
  lt_set_threads(saved);
  assert_memory_equal(y[0], y[1], (size_t)B * out * sizeof(float));
  assert_memory_equal(dx[0], dx[1], (size_t)B * in * sizeof(float));
  assert_memory_equal(dw[0], dw[1], (size_t)out * in * sizeof(float));
  lt_csr_free(a), lt_csr_free(at);
  free(w), free(m), free(x), free(dy), free(bias);
  for (int t = 0; t < 2; t++) free(y[t]), free(dx[t]), free(dw[t]);
}

/* A 2:4 mask on (rows, cols) keeping 0, 1 or 2 per group (so some slots are padding). */
static float *nm_mask(int rows, int cols) {
  float *m = calloc((size_t)rows * cols, sizeof *m);
  for (int r = 0; r < rows; r++)
    for (int g = 0; g < cols; g += 4) {
      int keep = (int)lt_rng_below(&rng, 3);
      for (int j = 0; j < keep; j++) m[(size_t)r * cols + g + (int)lt_rng_below(&rng, 4)] = 1.0f;
    }
  return m;
}

static void nm_build_should_reject_groups_that_keep_too_many(void **state) {
  const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8}, three[8] = {1, 1, 1, 0, 0, 0, 0, 0}, ok[8] = {0, 1, 0, 1, 1, 0, 0, 0};
  lt_nm *a = lt_nm_new();
  assert_int_equal(lt_nm_build(a, w, three, 1, 8, 2, 4), LT_EINVAL);
  assert_int_equal(lt_nm_build(a, w, ok, 1, 6, 2, 4), LT_EINVAL); /* 6 columns are not whole groups */
  assert_int_equal(lt_nm_build(a, w, ok, 1, 8, 2, 4), LT_OK);
  assert_int_equal(a->k, 4);
  const uint8_t idx[4] = {1, 3, 0, LT_NM_PAD};
  const float val[4] = {2, 4, 5, 0};
  assert_memory_equal(a->idx, idx, 4);
  assert_memory_equal(a->val, val, sizeof val);
  lt_nm_free(a);
}

static void nm_kernels_should_match_dense_reference_for_2_of_4(void **state) {
  int B = 13, out = 11, in = 36, k = in / 4 * 2;
  float *w = randv((size_t)out * in), *m = nm_mask(out, in), *x = randv((size_t)B * in), *dy = randv((size_t)B * out);
  float *bias = randv(out), *xt = malloc((size_t)in * B * sizeof *xt), *dyt = malloc((size_t)out * B * sizeof *dyt);
  float *yt = malloc((size_t)out * B * sizeof *yt), *dxt = randv((size_t)in * B), *dxt0 = malloc((size_t)in * B * sizeof *dxt0);
  float *dense = malloc((size_t)out * in * sizeof *dense), *g = randv((size_t)out * k), *g0 = malloc((size_t)out * k * sizeof *g0);
  double *want = malloc((size_t)(B * in + out * in) * sizeof *want), *scale = malloc((size_t)(B * in + out * in) * sizeof *scale);
  double *wt = malloc((size_t)B * in * sizeof *wt), *st = malloc((size_t)B * in * sizeof *st);
  memcpy(dxt0, dxt, (size_t)in * B * sizeof *dxt);
  memcpy(g0, g, (size_t)out * k * sizeof *g);
  lt_transpose(xt, B, x, in, B, in);
  lt_transpose(dyt, B, dy, out, B, out);
  lt_nm *a = lt_nm_new();
  assert_int_equal(lt_nm_build(a, w, m, out, in, 2, 4), LT_OK);
  for (size_t i = 0; i < (size_t)out * in; i++) w[i] = lt_rng_uniform(&rng, -1.0f, 1.0f);
  lt_nm_refresh(a, w); /* new values, same pattern */
  lt_nm_todense(dense, a);
  for (size_t i = 0; i < (size_t)out * in; i++) assert_true(dense[i] == w[i] * m[i]);

  assert_int_equal(lt_nm_forward_t(yt, B, a, xt, B, B, bias), LT_OK);
  ref_forward(want, scale, w, m, x, bias, B, in, out);
  for (int o = 0; o < out; o++)
    for (int b = 0; b < B; b++) wt[o * B + b] = want[b * out + o], st[o * B + b] = scale[b * out + o];
  check_close(yt, wt, st, (size_t)out * B);

  ref_backward_input(want, scale, w, m, dy, B, in, out);
  for (int acc = 1; acc >= 0; acc--) { /* accumulate onto dxt0, then overwrite */
    assert_int_equal(lt_nm_backward_input_t(dxt, B, a, dyt, B, B, acc), LT_OK);
    for (int i = 0; i < in; i++)
      for (int b = 0; b < B; b++) {
        wt[i * B + b] = want[b * in + i] + (acc ? dxt0[i * B + b] : 0.0);
        st[i * B + b] = scale[b * in + i] + (acc ? fabs(dxt0[i * B + b]) : 0.0);
      }
    check_close(dxt, wt, st, (size_t)in * B);
  }

  float *zero = calloc((size_t)out * in, sizeof *zero);
  assert_int_equal(lt_nm_weight_grad_t(g, a, dyt, B, xt, B, B), LT_OK);
  ref_weight_grad(want, scale, zero, m, dy, x, B, in, out);
  for (int r = 0; r < out; r++)
    for (int s = 0; s < k; s++) {
      uint8_t id = a->idx[r * k + s];
      if (id & LT_NM_PAD) { /* padding never receives a gradient */
        assert_true(g[r * k + s] == g0[r * k + s]);
        continue;
      }
      int c = s / 2 * 4 + id;
      double wv = want[r * in + c] + g0[r * k + s], sv = scale[r * in + c] + fabs(g0[r * k + s]);
      check_close(&g[r * k + s], &wv, &sv, 1);
    }
  lt_nm_free(a);
  free(w), free(m), free(x), free(dy), free(bias), free(xt), free(dyt), free(yt), free(dxt), free(dxt0), free(dense);
  free(g), free(g0), free(want), free(scale), free(wt), free(st), free(zero);
}

static void calibrate_should_return_a_density_and_timings_in_range(void **state) {
  const double dens[] = {1.0, 0.5, 0.1, 0.02};
  lt_sparse_timing t[4];
  double cross = -1;
  assert_int_equal(lt_sparse_calibrate(&cross, t, dens, 4, 60, 50, 16, 2), LT_OK);
  assert_true(cross >= 0.0 && cross <= 1.0);
  for (int i = 0; i < 4; i++) {
    assert_true(fabs(t[i].density - dens[i]) < 0.1);
    assert_true(t[i].dense_fwd > 0 && t[i].sparse_fwd > 0 && t[i].sparse_wgrad_t > 0);
  }
  const double up[] = {0.1, 0.5};
  assert_int_equal(lt_sparse_calibrate(&cross, NULL, up, 2, 60, 50, 16, 1), LT_EINVAL);
  double h = lt_sparse_crossover(300, 784, 60);
  assert_true(h > 0.0 && h <= 1.0);
  /* 100 -> 10 at batch 60 (nv 8, one chunk), by hand from the model's terms:
   * dense  3 (0.020 * 60000 + 200 + 0.21 * 110 * 60)   = 3 * 2786 = 8358 ns
   * fixed  3 (300 + 0.11 * 60 * 110 + 2 * 110)         = 3 * 1246 = 3738 ns
   * slope  1000 * 3 * (0.35 + 0.275 * 8)                         = 7650 ns
   * d = 0.88 (8358 - 3738) / 7650 = 0.5315 */
  assert_true(fabs(lt_sparse_crossover(10, 100, 60) - 0.5315) < 1e-3);
}

int main(void) {
  lt_rng_seed(&rng, 7, LT_STREAM_USER);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(csr_build_should_keep_masked_entries_even_when_their_weight_is_zero),
      cmocka_unit_test(csr_rebuild_and_refresh_should_follow_new_masks_and_values),
      cmocka_unit_test(csr_transpose_should_be_the_csc_of_the_weight),
      cmocka_unit_test(linear_kernels_should_match_dense_reference_on_odd_and_batch_shapes),
      cmocka_unit_test(linear_kernels_should_handle_empty_rows_columns_and_a_fully_pruned_layer),
      cmocka_unit_test(transposed_kernels_should_respect_strides_and_accumulate),
      cmocka_unit_test(tails_should_give_the_same_bits_for_tight_and_padded_strides),
      cmocka_unit_test(transpose_should_swap_axes_on_odd_sizes),
      cmocka_unit_test(conv_kernels_should_match_reference_on_im2col_columns),
      cmocka_unit_test(kernels_should_give_identical_bits_with_one_and_two_threads),
      cmocka_unit_test(nm_build_should_reject_groups_that_keep_too_many),
      cmocka_unit_test(nm_kernels_should_match_dense_reference_for_2_of_4),
      cmocka_unit_test(calibrate_should_return_a_density_and_timings_in_range),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lt_pool_scratch_free();
  return rc;
}
