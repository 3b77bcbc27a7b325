/* gemm_floor.c: LeNet-300-100's GEMM floor (batch 60) on one GEMM library, for
 * scripts/bench_smallgemm/run.sh, which builds it three times and alternates them:
 *   (default)    OpenBLAS, cblas_sgemm, as lotto calls it (src/core/gemm.c)
 *   -DUSE_BLIS   BLIS, bli_sgemm (typed API with row and column strides)
 *   -DUSE_XSMM   libxsmm, JIT kernels from libxsmm_smmdispatch (header-only build)
 * One step = the GEMMs of a LeNet-300-100 training step as nn_linear issues them:
 * forward Y = X W^T onto the bias (beta 1), weight gradient dW = dY^T X (cleared, then
 * beta 1), input gradient dX = dY W for layers 2 and 3. Prints CPU microseconds per step
 * (best of `reps` blocks of `steps`) and a checksum of the outputs, so that the three
 * builds can be checked against each other.
 *   gemm_floor [steps=1000] [reps=5] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(USE_BLIS)
#include <blis.h>
#define LIB "BLIS"
#elif defined(USE_XSMM)
#include <libxsmm_source.h>
#define LIB "libxsmm"
#else
#include <cblas.h>
#define LIB "OpenBLAS"
#endif

enum { B = 60, L = 3 };
static const int dims[L + 1] = {784, 300, 100, 10};

/* row-major C (m x n) = alpha op(A) op(B) + beta C; ta, tb: A, B transposed */
#if defined(USE_XSMM)
/* libxsmm 1.17 JITs column-major C = A op(B) with op(B) = B or B^T, never A^T. Seen
 * column-major, a row-major buffer is its transpose, so the weight gradient (dW^T = X^T dY,
 * B transposed) and the input gradient (dX^T = W^T dY^T) map onto row-major buffers as they
 * are, but the forward (Y^T = W X^T) needs W^T in memory: WT_EACH_STEP=1 (the default)
 * transposes W before every forward and counts it, as an engine keeping W row-major would;
 * WT_EACH_STEP=0 leaves it out, as if the engine kept its weights transposed. */
static libxsmm_smmfunction kern[3 * L];
static int wt_each_step = 1;
static libxsmm_smmfunction make(int m, int n, int k, int lda, int ldb, int ldc, float beta, int transb) {
  float alpha = 1;
  int flags = transb ? LIBXSMM_GEMM_FLAG_TRANS_B : 0;
  libxsmm_blasint M = m, N = n, K = k, la = lda, lb = ldb, lc = ldc;
  libxsmm_smmfunction f = libxsmm_smmdispatch(M, N, K, &la, &lb, &lc, &alpha, &beta, &flags, NULL);
  if (!f) { fprintf(stderr, "libxsmm: no JIT kernel for m %d n %d k %d\n", m, n, k); exit(2); }
  return f;
}
static float *wt[L];
static void fwd(int i, int in, int out, const float *x, const float *w, float *y) {
  if (!kern[3 * i]) { kern[3 * i] = make(out, B, in, out, in, out, 1, 0); wt[i] = malloc(sizeof(float) * in * out); }
  if (wt_each_step || !wt[i][0])
    for (int r = 0; r < out; r++) for (int c = 0; c < in; c++) wt[i][(size_t)c * out + r] = w[(size_t)r * in + c];
  kern[3 * i](wt[i], x, y);
}
static void wgrad(int i, int in, int out, const float *dy, const float *x, float *dw) {
  if (!kern[3 * i + 1]) kern[3 * i + 1] = make(in, out, B, in, out, in, 1, 1);
  kern[3 * i + 1](x, dy, dw);
}
static void dgrad(int i, int in, int out, const float *dy, const float *w, float *dx) {
  if (!kern[3 * i + 2]) kern[3 * i + 2] = make(in, B, out, in, out, in, 0, 0);
  kern[3 * i + 2](w, dy, dx);
}
#else
#if defined(USE_BLIS)
static void gemm(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc) {
  float alpha = 1;
  bli_sgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k, &alpha,
            (float *)a, lda, 1, (float *)b, ldb, 1, &beta, c, ldc, 1);
}
#else
static void gemm(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda,
              b, ldb, beta, c, ldc);
}
#endif
/* row-major, as lotto's nn_linear: Y = X W^T (beta 1), dW = dY^T X (beta 1), dX = dY W */
static void fwd(int i, int in, int out, const float *x, const float *w, float *y) {
  (void)i;
  gemm(0, 1, B, out, in, x, in, w, in, 1, y, out);
}
static void wgrad(int i, int in, int out, const float *dy, const float *x, float *dw) {
  (void)i;
  gemm(1, 0, out, in, B, dy, out, x, in, 1, dw, in);
}
static void dgrad(int i, int in, int out, const float *dy, const float *w, float *dx) {
  (void)i;
  gemm(0, 0, B, in, out, dy, out, w, in, 0, dx, in);
}
#endif

static float *filled(size_t n, unsigned seed) {
  float *p = malloc(n * sizeof *p);
  if (!p) { perror("malloc"); exit(1); }
  for (size_t i = 0; i < n; i++) { seed = seed * 1664525u + 1013904223u; p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f; }
  return p;
}

static double cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 1000, reps = argc > 2 ? atoi(argv[2]) : 5;
  if (steps < 1 || reps < 1) { fprintf(stderr, "usage: gemm_floor [steps >= 1] [reps >= 1]\n"); return 1; }
#if defined(USE_XSMM)
  libxsmm_init();
  const char *e = getenv("WT_EACH_STEP");
  wt_each_step = !(e && e[0] == '0');
#endif
  float *act[L + 1], *W[L], *dW[L], *dY[L];
  for (int i = 0; i <= L; i++) act[i] = filled((size_t)B * dims[i], 10 + i);
  for (int i = 0; i < L; i++) {
    W[i] = filled((size_t)dims[i + 1] * dims[i], 20 + i);
    dW[i] = filled((size_t)dims[i + 1] * dims[i], 0);
    dY[i] = filled((size_t)B * dims[i + 1], 30 + i);
  }
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = cpu();
    for (int s = 0; s < steps; s++) {
      for (int i = 0; i < L; i++) {
        int in = dims[i], out = dims[i + 1];
        /* the same starting values every step, so the checksum does not depend on steps */
        memset(act[i + 1], 0, sizeof(float) * B * out);
        fwd(i, in, out, act[i], W[i], act[i + 1]);
        memset(dW[i], 0, sizeof(float) * out * in);
        wgrad(i, in, out, dY[i], act[i], dW[i]);
        if (i > 0) dgrad(i, in, out, dY[i], W[i], act[i]);
      }
    }
    double t = (cpu() - t0) / steps;
    if (t < best) best = t;
  }
  double sum = 0;
  for (int i = 0; i < L; i++) {
    for (int j = 0; j < dims[i + 1] * dims[i]; j++) sum += dW[i][j] * (1 + j % 7);
    for (int j = 0; j < B * dims[i + 1]; j++) sum += act[i + 1][j] * (1 + j % 5);
  }
#if defined(USE_XSMM)
  printf("%s%s %.2f %.9g\n", LIB, wt_each_step ? "" : "-keptWT", best * 1e6, sum);
#else
  printf("%s %.2f %.9g\n", LIB, best * 1e6, sum);
#endif
  return 0;
}
