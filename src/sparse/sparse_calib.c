/* sparse_calib.c: measures dense lt_gemm against the CSR kernels for a layer
 * shape, and finds the density below which sparse wins (the dispatch
 * crossover); plus a default heuristic for when nothing was measured. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lotto/rng.h"
#include "lotto/sparse.h"
#include "core/pool.h" /* lt_floats_alloc */
#include "sparse/sparse_impl.h" /* LT_SPARSE_BUILD_* */
#include "lotto/tensor.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

typedef struct bench {
  int rows, cols, B, ld;
  float *w, *mask, *x, *dy, *y, *dx, *dw, *xt, *dyt, *yt, *dxt, *g;
  lt_csr *a, *at;
} bench;

enum { K_DFWD, K_DBWD, K_DWG, K_SFWD, K_SBWD, K_SWG, K_TFWD, K_TBWD, K_TWG, K_N };

static lt_status run(bench *b, int kind) {
  int R = b->rows, C = b->cols, B = b->B, ld = b->ld;
  switch (kind) {
  case K_DFWD: lt_gemm(0, 1, B, R, C, 1.0f, b->x, C, b->w, C, 0.0f, b->y, R); return LT_OK;
  case K_DBWD: lt_gemm(0, 0, B, C, R, 1.0f, b->dy, R, b->w, C, 0.0f, b->dx, C); return LT_OK;
  case K_DWG: lt_gemm(1, 0, R, C, B, 1.0f, b->dy, R, b->x, C, 1.0f, b->dw, C); return LT_OK;
  case K_SFWD: return lt_sparse_linear_forward(b->y, b->a, b->x, NULL, B);
  case K_SBWD: return lt_sparse_linear_backward_input(b->dx, b->at, b->dy, B);
  case K_SWG: return lt_sparse_linear_weight_grad(b->dw, b->a, b->dy, b->x, B);
  case K_TFWD: return lt_csr_spmm_t(b->yt, ld, b->a, b->xt, ld, B, NULL, 0);
  case K_TBWD: return lt_csr_spmm_t(b->dxt, ld, b->at, b->dyt, ld, B, NULL, 0);
  default: return lt_csr_sddmm_t(b->g, b->a, b->dyt, ld, b->xt, ld, B);
  }
}

static void bench_free(bench *b) {
  float *bufs[] = {b->w, b->mask, b->x, b->dy, b->y, b->dx, b->dw, b->xt, b->dyt, b->yt, b->dxt, b->g};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
  lt_csr_free(b->a);
  lt_csr_free(b->at);
}

/* 64-byte aligned like tensor storage and the kernels' scratch: a vector load
 * that straddles two cache lines costs about 15% in these kernels. */
static float *randbuf(size_t n, lt_rng *r) {
  float *p = lt_floats_alloc(n);
  if (p)
    for (size_t i = 0; i < n; i++) p[i] = lt_rng_uniform(r, -1.0f, 1.0f);
  return p;
}

lt_status lt_sparse_bench(lt_sparse_timing *t, int rows, int cols, int batch, double density, int reps) {
  if (!t || rows < 1 || cols < 1 || batch < 1 || density < 0 || density > 1)
    return lt_error(LT_EINVAL, "lt_sparse_bench: bad shape (%d, %d) batch %d or density %g", rows, cols,
                    batch, density);
  if (reps < 1) reps = 1;
  lt_rng r;
  lt_rng_seed(&r, 1234, LT_STREAM_USER);
  size_t wn = (size_t)rows * cols;
  bench b = {.rows = rows, .cols = cols, .B = batch, .ld = (batch + 7) & ~7};
  b.w = randbuf(wn, &r), b.mask = randbuf(wn, &r), b.dw = randbuf(wn, &r);
  b.x = randbuf((size_t)batch * cols, &r), b.dx = randbuf((size_t)batch * cols, &r);
  b.dy = randbuf((size_t)batch * rows, &r), b.y = randbuf((size_t)batch * rows, &r);
  b.xt = randbuf((size_t)b.ld * cols, &r), b.dxt = randbuf((size_t)b.ld * cols, &r);
  b.dyt = randbuf((size_t)b.ld * rows, &r), b.yt = randbuf((size_t)b.ld * rows, &r);
  b.a = lt_csr_new(), b.at = lt_csr_new();
  lt_status st = LT_OK;
  if (!b.w || !b.mask || !b.dw || !b.x || !b.dx || !b.dy || !b.y || !b.xt || !b.dxt || !b.dyt || !b.yt ||
      !b.a || !b.at) {
    st = lt_error(LT_ENOMEM, "lt_sparse_bench: out of memory");
    goto done;
  }
  for (size_t i = 0; i < wn; i++) b.mask[i] = lt_rng_double(&r) < density ? 1.0f : 0.0f;
  if ((st = lt_csr_build(b.a, b.w, b.mask, rows, cols)) || (st = lt_csr_transpose(b.at, b.a))) goto done;
  if (!(b.g = randbuf((size_t)b.a->nnz, &r))) {
    st = lt_error(LT_ENOMEM, "lt_sparse_bench: out of memory");
    goto done;
  }
  double best[K_N];
  for (int k = 0; k < K_N; k++) {
    best[k] = 1e300;
    if ((st = run(&b, k))) goto done; /* warm-up: caches, scratch, pool */
    for (int i = 0; i < reps; i++) {
      double t0 = now_us();
      run(&b, k);
      double dt = now_us() - t0;
      if (dt < best[k]) best[k] = dt;
    }
  }
  *t = (lt_sparse_timing){lt_csr_density(b.a), best[K_DFWD], best[K_DBWD], best[K_DWG], best[K_SFWD],
                          best[K_SBWD], best[K_SWG], best[K_TFWD], best[K_TBWD], best[K_TWG]};
done:
  bench_free(&b);
  return st;
}

lt_status lt_sparse_calibrate(double *crossover, lt_sparse_timing *t, const double *dens, int ndens, int rows,
                              int cols, int batch, int reps) {
  if (!crossover || !dens || ndens < 1 || ndens > 64)
    return lt_error(LT_EINVAL, "lt_sparse_calibrate: need 1..64 densities and an output");
  lt_sparse_timing tt[64];
  double dense = 1e300;
  for (int i = 0; i < ndens; i++) {
    if (i && dens[i] >= dens[i - 1]) return lt_error(LT_EINVAL, "lt_sparse_calibrate: densities must descend");
    lt_status st = lt_sparse_bench(&tt[i], rows, cols, batch, dens[i], reps);
    if (st) return st;
    double d = tt[i].dense_fwd + tt[i].dense_bwd_in + tt[i].dense_wgrad;
    if (d < dense) dense = d; /* dense cost does not depend on density: keep the best */
    if (t) t[i] = tt[i];
  }
  /* The first density (from the top) where the sparse step wins, interpolated
   * linearly with the one above it. */
  *crossover = 0.0;
  for (int i = 0; i < ndens; i++) {
    double s = tt[i].sparse_fwd + tt[i].sparse_bwd_in + tt[i].sparse_wgrad;
    if (s >= dense) continue;
    if (i == 0) {
      *crossover = dens[0];
      break;
    }
    double sp = tt[i - 1].sparse_fwd + tt[i - 1].sparse_bwd_in + tt[i - 1].sparse_wgrad;
    *crossover = dens[i] + (dens[i - 1] - dens[i]) * (dense - s) / (sp - s);
    break;
  }
  return LT_OK;
}

/* A cost model fitted to lt_sparse_bench on a 2-core Zen 4 (AVX2 kernels,
 * OpenBLAS sgemm), one thread, for a training step of three kernels:
 *   dense  = 3 (0.020 ns per multiply-add + 0.2 us per call
 *              + 0.21 ns per float of the two operands sgemm packs)
 *   sparse = 3 (nnz (0.35 + 0.275 nv) ns + 0.3 us per call
 *              + 0.11 ns per transposed float + 2 ns per row)
 * with nv = vectors of 8 per batch chunk. The sparse kernels lose some
 * efficiency at high density (less reuse of each activation row per output
 * row than sgemm gets), hence the 0.88. Measured crossovers at batch 16-256
 * were 0.12 (100 -> 10) to 0.45 (300 -> 100) with a flat 0.4 us per dense
 * call; since, lt_sparse_calibrate on a Zen 3 (1 thread, batch 60) put 100 -> 10
 * at 0.58-0.75, where the flat cost gave 0.12 and this gives 0.53. On another machine, BLAS kernel or thread count the two rates differ:
 * lt_sparse_calibrate_machine measures them (dense_mac_ns, sparse_scale). */
/* The per-call part of one dense product: OpenBLAS copies both operands into its
 * packed panels, (rows + cols) * batch floats, on which a layer as small as
 * 100 -> 10 spends more than on its multiply-adds (with a flat 0.4 us per call,
 * the model ran that layer of a 20.8% IMP ticket dense, and the step was slower). */
static double dense_call_ns(int rows, int cols, int batch) { return 200 + 0.21 * (double)(rows + cols) * batch; }

double lt_sparse_crossover_model(int rows, int cols, int batch, double dense_mac_ns, double sparse_scale) {
  if (rows < 1 || cols < 1 || batch < 1 || !(dense_mac_ns > 0) || !(sparse_scale > 0)) return 0.0;
  double macs = (double)rows * cols * batch;
  int nv = batch >= 64 ? 8 : (batch + 7) / 8;
  double chunks = (batch + 63) / 64;
  double dense_ns = 3 * (dense_mac_ns * macs + dense_call_ns(rows, cols, batch));
  double fixed_ns = 3 * (300 + 0.11 * batch * (double)(rows + cols) + 2.0 * chunks * (rows + cols));
  double slope_ns = sparse_scale * (double)rows * cols * chunks * 3 * (0.35 + 0.275 * nv);
  double d = 0.88 * (dense_ns - fixed_ns) / slope_ns;
  return d < 0 ? 0.0 : d > 1 ? 1.0 : d;
}

double lt_sparse_crossover(int rows, int cols, int batch) {
  return lt_sparse_crossover_model(rows, cols, batch, LT_SPARSE_DENSE_MAC_NS, 1.0);
}

/* The two rates of the model from a training step of LeNet-300-100's first two
 * layer shapes at batch 60, dense and at 5% density: the dense multiply-add
 * time net of the per-call cost, and the sparse time net of its fixed part over
 * the model's. Each shape is measured in three rounds, the best of each kernel
 * kept: on a busy machine one round can catch a pool worker descheduled for a
 * whole time slice (a cache once recorded a sparse scale of 50, where 1.5-2.5
 * is this machine's), and the recorded rates decide every later run's layout.
 * Rates no CPU gives to this build (sparse scale above lt_sparse_scale_max()) are
 * refused (LT_ERANGE) rather than recorded. About 0.1 s. */
double lt_sparse_scale_max(void) {
  /* this build's own key ends in LT_SPARSE_BUILD_ISA and LT_SPARSE_BUILD_OPT; read
   * them here rather than the key, which lives in sparse_crossover.c (no call circle) */
  return LT_SPARSE_BUILD_ISA[0] || LT_SPARSE_BUILD_OPT[0] ? 1e3 : 20.0;
}

/* The bound for the build a machine key names: an optimised AVX2 build's kernels are
 * within a small factor of the Zen 4 they were fitted on (1.5-2.5 on Zen 3), so a
 * scale of 20 there is a busy machine; a portable or debug build's ("+portable",
 * "+debug" in its key) measure in the hundreds. Keyed, so that a release build
 * reading a cache it shares with a sanitizer build keeps that build's entries. */
double lt_sparse_scale_max_for(const char *key) {
  return strstr(key, "+portable") || strstr(key, "+debug") ? 1e3 : 20.0;
}

lt_status lt_sparse_calibrate_machine(double *dense_mac_ns, double *sparse_scale) {
  static const int shapes[][3] = {{300, 784, 60}, {100, 300, 60}};
  double dsum = 0, ssum = 0;
  for (int i = 0; i < 2; i++) {
    int R = shapes[i][0], C = shapes[i][1], B = shapes[i][2];
    double dense_ns = INFINITY, sparse_ns = INFINITY, density = 0;
    for (int round = 0; round < 3; round++) {
      lt_sparse_timing t;
      lt_status st = lt_sparse_bench(&t, R, C, B, 0.05, 7);
      if (st) return st;
      double dn = 1e3 * (t.dense_fwd + t.dense_bwd_in + t.dense_wgrad);
      double sn = 1e3 * (t.sparse_fwd + t.sparse_bwd_in + t.sparse_wgrad);
      dense_ns = dn < dense_ns ? dn : dense_ns;
      sparse_ns = sn < sparse_ns ? sn : sparse_ns;
      density = t.density;
    }
    double macs = (double)R * C * B, nnz = density * R * C, chunks = (B + 63) / 64;
    int nv = B >= 64 ? 8 : (B + 7) / 8;
    double fixed_ns = 3 * (300 + 0.11 * B * (double)(R + C) + 2.0 * chunks * (R + C));
    double d = (dense_ns / 3 - dense_call_ns(R, C, B)) / macs;
    double sc = (sparse_ns - fixed_ns) / (nnz * chunks * 3 * (0.35 + 0.275 * nv));
    dsum += d > 1e-4 ? d : 1e-4;
    ssum += sc > 0.05 ? sc : 0.05;
  }
  if (!(ssum / 2 <= lt_sparse_scale_max()) || !(dsum / 2 < 10.0))
    return lt_error(LT_ERANGE, "sparse calibration: implausible rates (dense %.3g ns per multiply-add, sparse scale "
                    "%.3g; the machine is probably busy): not recorded", dsum / 2, ssum / 2);
  *dense_mac_ns = dsum / 2;
  *sparse_scale = ssum / 2;
  return LT_OK;
}
