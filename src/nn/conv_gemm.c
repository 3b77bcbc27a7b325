/* conv_gemm.c: one group of images through conv2d's dense GEMM layouts (conv_impl.h:
 * DIRECT, ROWS, IM2COL), forward and backward, on the calling thread with
 * single-threaded GEMMs; nn_conv2d.c shares the images out. Owns the per-thread
 * unfold buffer, whose padding zeros are written once per geometry. */
#include <stdlib.h>
#include <string.h>

#include "nn/conv_impl.h"
#include "core/pool.h" // lt_floats_alloc

_Thread_local lt_conv_scratch lt_conv_unfold;

// keep_zeros 0: the caller will write anything there (forget the zeros)
float *lt_conv_scratch_get(lt_conv_scratch *s, size_t n, int keep_zeros) {
  if (s->cap < n) {
    float *q = lt_floats_alloc(n);
    if (!q) return NULL;
    free(s->p);
    s->p = q, s->cap = n;
    keep_zeros = 0;
  }
  if (!keep_zeros) memset(s->zeros, 0, sizeof s->zeros);
  return s->p;
}

/* Into s->p, for g images x (g, C, H, W): R (C*k, Hp, g, OWr), Hp = H + 2*pad,
 * R[c*k + kj][h][i][ow] = x[i][c][h - pad][ow + kj - pad], 0 outside: each padded
 * row holds the g images' rows side by side. Only the valid part is written when
 * s->zeros says the rest is zero. */
static void unfold_rows(lt_conv_scratch *s, const float *x, int g, int C, int H, int W, int k, int pad, int OWr) {
  const int Hp = H + 2 * pad, gw = g * OWr, geo[7] = {g, C, H, W, k, pad, OWr};
  const size_t img = (size_t)C * H * W;
  float *R = s->p;
  if (memcmp(geo, s->zeros, sizeof geo)) {
    memset(R, 0, sizeof(float) * C * k * Hp * gw);
    memcpy(s->zeros, geo, sizeof geo);
  }
  for (int c = 0; c < C; c++) {
    for (int kj = 0; kj < k; kj++) {
      float *restrict row = R + (size_t)(c * k + kj) * Hp * gw;
      int off = kj - pad, lo = pad - kj, hi = W + pad - kj; // valid ow in [lo, hi)
      if (lo < 0) lo = 0;
      if (hi > OWr) hi = OWr;
      if (g == 1 && OWr == W && off > -W && off < W) {
        // rows as long as x's: the block is x shifted by off, one run; then the
        // edge columns, which took a neighbouring row's ends, back to 0
        const float *restrict src = x + (size_t)c * H * W + (off > 0 ? off : 0);
        float *restrict dst = row + (size_t)pad * OWr + (off < 0 ? -off : 0);
        size_t n = (size_t)H * W - (size_t)(off < 0 ? -off : off);
        for (size_t i = 0; i < n; i++) dst[i] = src[i];
        for (int ow = 0; ow < lo; ow++)
          for (int h = 0; h < H; h++) row[(size_t)(h + pad) * OWr + ow] = 0.0f;
        for (int ow = hi; ow < OWr; ow++)
          for (int h = 0; h < H; h++) row[(size_t)(h + pad) * OWr + ow] = 0.0f;
        continue;
      }
      for (int h = 0; h < H; h++)
        for (int i = 0; i < g; i++) {
          float *restrict r = row + (size_t)(h + pad) * gw + (size_t)i * OWr;
          const float *restrict xr = x + i * img + ((size_t)c * H + h) * W;
          for (int ow = lo; ow < hi; ow++) r[ow] = xr[ow + off];
        }
    }
  }
}

/* Between a group's side-by-side layout (C, R, g, Wd) and per-image (g, C, R, Wd).
 * ungroup adds b[c] (may be NULL) on the way. */
static void ungroup(float *restrict dst, const float *restrict src, int g, int C, int R, int Wd, const float *b) {
  for (int i = 0; i < g; i++)
    for (int c = 0; c < C; c++) {
      const float bc = b ? b[c] : 0.0f;
      for (int r = 0; r < R; r++) {
        float *restrict d = dst + (((size_t)i * C + c) * R + r) * Wd;
        const float *restrict a = src + (((size_t)c * R + r) * g + i) * Wd;
        for (int w = 0; w < Wd; w++) d[w] = a[w] + bc;
      }
    }
}

static void group(float *restrict dst, const float *restrict src, int g, int C, int R, int Wd) {
  for (int i = 0; i < g; i++)
    for (int c = 0; c < C; c++)
      for (int r = 0; r < R; r++) {
        const float *restrict a = src + (((size_t)i * C + c) * R + r) * Wd;
        float *restrict d = dst + (((size_t)c * R + r) * g + i) * Wd;
        for (int w = 0; w < Wd; w++) d[w] = a[w];
      }
}

// Sum of n floats in 16 fixed lanes (vectorised, and the same order every time).
float lt_conv_row_sum(const float *r, int n) {
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += r[i + j];
  float s = 0.0f;
  for (; i < n; i++) s += r[i];
  for (int j = 0; j < 16; j++) s += acc[j];
  return s;
}

/* ---- a group of images, dense ----------------------------------------------------- */

/* y (g, cout, P) = conv(x (g, cin, H, W)) + b; g > 1 only for ROWS. w is W, or
 * p->wr for ROWS; buf is lt_conv_unfold.p; tmp (g * cout * P floats) holds a
 * group's side-by-side outputs. */
void lt_conv_group_forward(const conv2d *p, float *y, const float *x, int g, const float *w, const float *b, float *buf,
                          float *tmp) {
  const int P = p->OH * p->OW, K = p->cin * p->k * p->k;
  /* One image: y starts as the bias and the first GEMM adds to it (beta 1), which
   * saves OpenBLAS's zeroing pass (beta 0) and a bias pass after the GEMMs. */
  float beta0 = 0.0f;
  if (g == 1 && b) {
    for (int c = 0; c < p->cout; c++) {
      float *restrict r = y + (size_t)c * P;
      for (int i = 0; i < P; i++) r[i] = b[c];
    }
    beta0 = 1.0f;
  }
  if (p->method == CONV_DIRECT) {
    lt_gemm(0, 0, p->cout, P, p->cin, 1.0f, w, p->cin, x, P, beta0, y, P);
  } else if (p->method == CONV_IM2COL) {
    lt_im2col(buf, x, p->cin, p->H, p->W, p->k, p->stride, p->pad, p->OH, p->OW);
    lt_gemm(0, 0, p->cout, P, K, 1.0f, w, K, buf, P, beta0, y, P);
  } else {
    const int Kr = p->cin * p->k, gw = g * p->OW, N = p->OH * gw, ld = (p->H + 2 * p->pad) * gw;
    float *out = g == 1 ? y : tmp;
    unfold_rows(&lt_conv_unfold, x, g, p->cin, p->H, p->W, p->k, p->pad, p->OW);
    for (int ki = 0; ki < p->k; ki++)
      lt_gemm(0, 0, p->cout, N, Kr, 1.0f, w + (size_t)ki * p->cout * Kr, Kr, buf + (size_t)ki * gw, ld,
              ki ? 1.0f : beta0, out, N);
    if (g > 1) ungroup(y, tmp, g, p->cout, p->OH, p->OW, b);
  }
}

/* dw (method layout) and db (cout) are this chunk's sums: set by the chunk's
 * first group (first), accumulated by the rest. dx (g, cin, H, W) or NULL is
 * overwritten. W is (cout, K); wf is p->wr's flipped half (ROWS); tmp holds
 * g * max(cout * P, cin * H * W) floats. */
void lt_conv_group_backward(const conv2d *p, float *dx, float *dw, float *db, const float *dy, const float *x, int g,
                           const float *W, const float *wf, float *buf, float *tmp, int first) {
  const int P = p->OH * p->OW, K = p->cin * p->k * p->k, N = P * g;
  const float beta = first ? 0.0f : 1.0f;
  const float *d = dy; // (cout, N): dy, or a group's dy side by side
  if (g > 1) {
    group(tmp, dy, g, p->cout, p->OH, p->OW);
    d = tmp;
  }
  if (db)
    for (int c = 0; c < p->cout; c++) {
      float s = lt_conv_row_sum(d + (size_t)c * N, N);
      db[c] = first ? s : db[c] + s;
    }
  if (p->method == CONV_DIRECT) {
    lt_gemm(0, 1, p->cout, p->cin, P, 1.0f, dy, P, x, P, beta, dw, p->cin);
    if (dx) lt_gemm(1, 0, p->cin, P, p->cout, 1.0f, W, p->cin, dy, P, 0.0f, dx, P);
  } else if (p->method == CONV_IM2COL) {
    lt_im2col(buf, x, p->cin, p->H, p->W, p->k, p->stride, p->pad, p->OH, p->OW);
    lt_gemm(0, 1, p->cout, K, P, 1.0f, dy, P, buf, P, beta, dw, K);
    if (dx) {
      lt_gemm(1, 0, K, P, p->cout, 1.0f, W, K, dy, P, 0.0f, buf, P);
      memset(dx, 0, sizeof(float) * p->cin * p->H * p->W);
      lt_col2im(dx, buf, p->cin, p->H, p->W, p->k, p->stride, p->pad, p->OH, p->OW);
    }
  } else {
    const int k = p->k, Kr = p->cin * k, gw = g * p->OW, ld = (p->H + 2 * p->pad) * gw;
    unfold_rows(&lt_conv_unfold, x, g, p->cin, p->H, p->W, k, p->pad, p->OW);
    for (int ki = 0; ki < k; ki++)
      lt_gemm(0, 1, p->cout, Kr, N, 1.0f, d, N, buf + (size_t)ki * gw, ld, beta, dw + (size_t)ki * p->cout * Kr, Kr);
    if (dx) {
      // dx = conv(dy padded by q, flipped kernel): stride 1, output exactly (H, W)
      const int q = k - 1 - p->pad, Kq = p->cout * k, gW = g * p->W, ldq = (p->OH + 2 * q) * gW, HgW = p->H * gW;
      float *out = g == 1 ? dx : tmp; // the grouped dy in tmp is used up
      unfold_rows(&lt_conv_unfold, dy, g, p->cout, p->OH, p->OW, k, q, p->W);
      for (int ki = 0; ki < k; ki++)
        lt_gemm(0, 0, p->cin, HgW, Kq, 1.0f, wf + (size_t)ki * p->cin * Kq, Kq, buf + (size_t)ki * gW, ldq,
                ki ? 1.0f : 0.0f, out, HgW);
      if (g > 1) ungroup(dx, tmp, g, p->cin, p->H, p->W, NULL);
    }
  }
}

// ROWS: wr (k, cout, cin*k) = W[o][c][ki][kj] at [ki][o][c*k+kj] (forward), or
// (k, cin, cout*k) = W[o][c][k-1-ki][k-1-kj] at [ki][c][o*k+kj] (flipped, for dx).
void lt_conv_repack_weights(float *wr, const float *W, int cout, int cin, int k, int flipped) {
  for (int o = 0; o < cout; o++)
    for (int c = 0; c < cin; c++)
      for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++) {
          float v = W[(((size_t)o * cin + c) * k + ki) * k + kj];
          if (flipped) wr[(((size_t)(k - 1 - ki) * cin + c) * cout + o) * k + k - 1 - kj] = v;
          else wr[(((size_t)ki * cout + o) * cin + c) * k + kj] = v;
        }
}
