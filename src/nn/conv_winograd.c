/* conv_winograd.c: Winograd F(2x2, 3x3) for dense stride-1, padding-1 3x3
 * convolutions (Lavin & Gray 2016), private to conv2d. Each 2x2 output tile is
 * A^T [(G w G^T) . (B^T d B)] A over its 4x4 input tile d, so the multiply-adds of
 * a convolution are 16 GEMMs (M x tiles x C) instead of 9 (M x pixels x C): 2.25x
 * fewer. conv2d runs its forward and its input gradient (the same convolution of
 * dy with the flipped, transposed kernel) through it, and its weight gradient
 * through the transposed algorithm (lt_wino_wgrad). Transformed tiles and products
 * are laid out (channel, plane, tile): a channel's 16 planes are adjacent for the
 * transforms, and the GEMMs read and write them with a stride. Results differ from
 * the direct sum by float rounding (the transforms add and halve); they do not
 * depend on the thread count. */
#include <string.h>

#include "nn/conv_winograd.h"
#include "nn/nn_impl.h" // lt_gemm

/* for (i = 0; i < n; i++) body, as blocks of 8 consecutive i, the last block moved
 * back to overlap the one before when 8 does not divide n: loops of a fixed 8 that
 * the compiler turns into whole vectors, where a plain loop over a 28x28 image's
 * 14 tiles a row would do one vector and 6 scalar iterations. Only for bodies
 * whose outputs are not their inputs (an overlap writes the same values twice). */
#define BLOCKS8(i, n, ...)                                                         \
  do {                                                                             \
    const int n_ = (n);                                                            \
    if (n_ < 8) {                                                                  \
      for (int i = 0; i < n_; i++) { __VA_ARGS__ }                                        \
    } else {                                                                       \
      for (int b_ = 0; b_ < n_; b_ += 8) {                                         \
        const int o_ = b_ + 8 <= n_ ? b_ : n_ - 8;                                 \
        for (int k_ = 0; k_ < 8; k_++) {                                           \
          const int i = o_ + k_;                                                   \
          __VA_ARGS__                                                              \
        }                                                                          \
      }                                                                            \
    }                                                                              \
  } while (0)

size_t lt_wino_scratch(int g, int C, int H, int W) {
  const size_t TH = (size_t)(H + 1) / 2, TW = (size_t)(W + 1) / 2, T = (size_t)g * TH * TW;
  return 16 * T * (size_t)C + (2 * TH + 2) * 2 * (TW + 1) + 12 * (TW + 1);
}

size_t lt_wino_products(int g, int M, int H, int W) { return (size_t)16 * g * ((H + 1) / 2) * ((W + 1) / 2) * M; }

// U (16, m, n) from W (cout, cin, 3, 3): U[e] = (G w G^T)[e / 4][e % 4]
void lt_wino_weights(float *U, const float *W, int cout, int cin, int flipped) {
  const int m = flipped ? cin : cout, n = flipped ? cout : cin;
  for (int o = 0; o < cout; o++)
    for (int c = 0; c < cin; c++) {
      const float *w = W + ((size_t)o * cin + c) * 9;
      float g[3][3], t[4][3], u[4][4];
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) g[i][j] = flipped ? w[(2 - i) * 3 + 2 - j] : w[i * 3 + j];
      for (int j = 0; j < 3; j++) {
        t[0][j] = g[0][j];
        t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
        t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
        t[3][j] = g[2][j];
      }
      for (int i = 0; i < 4; i++) {
        u[i][0] = t[i][0];
        u[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[i][3] = t[i][2];
      }
      const size_t at = flipped ? (size_t)c * n + o : (size_t)o * n + c;
      for (int e = 0; e < 16; e++) U[(size_t)e * m * n + at] = u[e / 4][e % 4];
    }
}

/* V (C, 16, T) for the g images' tiles (t = image * TH*TW + th * TW + tw). Each
 * plane is first copied into a zero-bordered padded plane split into its even
 * and odd columns (E, O: (2TH+2, TW+1) each, borders written once), so that
 * tiles need no bounds checks and every loop below runs over contiguous tw,
 * which the compiler vectorises. */
static void input_tiles(float *restrict V, float *restrict P, const float *x, int g, int C, int H, int W) {
  const int TH = (H + 1) / 2, TW = (W + 1) / 2, Hp = 2 * TH + 2, L = TW + 1;
  const size_t Ti = (size_t)TH * TW, T = g * Ti, e_stride = T;
  float *restrict E = P, *restrict O = E + (size_t)Hp * L, *restrict t = O + (size_t)Hp * L; // t: 8 rows of L
  memset(P, 0, sizeof(float) * 2 * Hp * L);
  for (int i = 0; i < g; i++)
    for (int c = 0; c < C; c++) {
      const float *restrict xp = x + ((size_t)i * C + c) * H * W;
      // padded column w + 1 of x's column w: odd columns 2k + 1 hold x[2k], even 2k + 2 hold x[2k + 1]
      for (int h = 0; h < H; h++) {
        const float *restrict xr = xp + (size_t)h * W;
        float *restrict er = E + (size_t)(h + 1) * L + 1, *restrict orow = O + (size_t)(h + 1) * L;
        BLOCKS8(k, W / 2, orow[k] = xr[2 * k], er[k] = xr[2 * k + 1];);
        if (W & 1) orow[W / 2] = xr[W - 1];
      }
      float *restrict v = V + (size_t)c * 16 * T + i * Ti;
      for (int th = 0; th < TH; th++) {
        const float *restrict e0 = E + (size_t)2 * th * L, *restrict e1 = e0 + L, *restrict e2 = e1 + L;
        const float *restrict e3 = e2 + L, *restrict o0 = O + (size_t)2 * th * L, *restrict o1 = o0 + L;
        const float *restrict o2 = o1 + L, *restrict o3 = o2 + L;
        float *restrict te = t, *restrict to = t + 4 * L; // B^T d over the rows, even and odd columns
        float *restrict te0 = te, *restrict te1 = te + L, *restrict te2 = te + 2 * L, *restrict te3 = te + 3 * L;
        float *restrict to0 = to, *restrict to1 = to + L, *restrict to2 = to + 2 * L, *restrict to3 = to + 3 * L;
        for (int b = 0; L >= 8 && b < L; b += 8) { // as BLOCKS8, in explicit vectors
          const int k = b + 8 <= L ? b : L - 8;
          const v8 a0 = ld8(e0 + k), a1 = ld8(e1 + k), a2 = ld8(e2 + k), a3 = ld8(e3 + k);
          const v8 b0 = ld8(o0 + k), b1 = ld8(o1 + k), b2 = ld8(o2 + k), b3 = ld8(o3 + k);
          st8(te0 + k, a0 - a2), st8(te1 + k, a1 + a2), st8(te2 + k, a2 - a1), st8(te3 + k, a1 - a3);
          st8(to0 + k, b0 - b2), st8(to1 + k, b1 + b2), st8(to2 + k, b2 - b1), st8(to3 + k, b1 - b3);
        }
        for (int k = 0; L < 8 && k < L; k++) {
          te0[k] = e0[k] - e2[k], te1[k] = e1[k] + e2[k], te2[k] = e2[k] - e1[k], te3[k] = e1[k] - e3[k];
          to0[k] = o0[k] - o2[k], to1[k] = o1[k] + o2[k], to2[k] = o2[k] - o1[k], to3[k] = o1[k] - o3[k];
        }
        for (int q = 0; q < 4; q++) { // (B^T d) B over the columns: tile tw reads columns 2tw .. 2tw + 3
          const float *restrict a = te + q * L, *restrict b = to + q * L;
          float *restrict v0 = v + (size_t)(4 * q) * e_stride + (size_t)th * TW, *restrict v1 = v0 + e_stride;
          float *restrict v2 = v1 + e_stride, *restrict v3 = v2 + e_stride;
          for (int b8 = 0; TW >= 8 && b8 < TW; b8 += 8) { // as BLOCKS8, in explicit vectors
            const int tw = b8 + 8 <= TW ? b8 : TW - 8;
            const v8 a0 = ld8(a + tw), a1 = ld8(a + tw + 1), c0 = ld8(b + tw), c1 = ld8(b + tw + 1);
            st8(v0 + tw, a0 - a1), st8(v1 + tw, c0 + a1), st8(v2 + tw, a1 - c0), st8(v3 + tw, c0 - c1);
          }
          if (TW < 8)
            BLOCKS8(tw, TW, {
              v0[tw] = a[tw] - a[tw + 1];
              v1[tw] = b[tw] + a[tw + 1];
              v2[tw] = a[tw + 1] - b[tw];
              v3[tw] = b[tw] - b[tw + 1];
            });
        }
      }
    }
}

/* y (g, M, H, W) from the products Mb (M, 16, T): A^T m A per tile, plus b; tmp holds
 * 4 (TW + 1) floats. Mb is left zero, for the next call's GEMMs to add to (beta 1):
 * zeroing as it is read spares OpenBLAS's separate zeroing pass (beta 0). */
static void output_tiles(float *y, float *restrict Mb, const float *b, int g, int M, int H, int W, float *tmp) {
  const int TH = (H + 1) / 2, TW = (W + 1) / 2, L = TW + 1;
  const size_t Ti = (size_t)TH * TW, T = g * Ti, es = T;
  float *restrict y00 = tmp, *restrict y01 = tmp + L, *restrict y10 = y01 + L, *restrict y11 = y10 + L;
  for (int i = 0; i < g; i++)
    for (int o = 0; o < M; o++) {
      const float bo = b ? b[o] : 0.0f;
      float *restrict yo = y + ((size_t)i * M + o) * H * W;
      for (int th = 0; th < TH; th++) {
        float *m = Mb + (size_t)o * 16 * T + i * Ti + (size_t)th * TW;
        const float *restrict m0 = m, *restrict m1 = m + 4 * es, *restrict m2 = m + 8 * es, *restrict m3 = m + 12 * es;
        for (int b8 = 0; TW >= 8 && b8 < TW; b8 += 8) { // as below, in explicit vectors
          const int tw = b8 + 8 <= TW ? b8 : TW - 8;
          v8 r[4][4];
          for (int j = 0; j < 4; j++)
            for (int q = 0; q < 4; q++) r[q][j] = ld8(m + (size_t)(4 * q + j) * es + tw);
          v8 s0[4], s1[4];
          for (int j = 0; j < 4; j++) s0[j] = r[0][j] + r[1][j] + r[2][j], s1[j] = r[1][j] - r[2][j] - r[3][j];
          st8(y00 + tw, s0[0] + s0[1] + s0[2] + bo), st8(y01 + tw, s0[1] - s0[2] - s0[3] + bo);
          st8(y10 + tw, s1[0] + s1[1] + s1[2] + bo), st8(y11 + tw, s1[1] - s1[2] - s1[3] + bo);
        }
        if (TW < 8)
          BLOCKS8(tw, TW, { // A^T m over the rows (s), then A over the columns
            const float s00 = m0[tw] + m1[tw] + m2[tw], s10 = m1[tw] - m2[tw] - m3[tw];
            const float s01 = m0[es + tw] + m1[es + tw] + m2[es + tw], s11 = m1[es + tw] - m2[es + tw] - m3[es + tw];
            const float s02 = m0[2 * es + tw] + m1[2 * es + tw] + m2[2 * es + tw];
            const float s12 = m1[2 * es + tw] - m2[2 * es + tw] - m3[2 * es + tw];
            const float s03 = m0[3 * es + tw] + m1[3 * es + tw] + m2[3 * es + tw];
            const float s13 = m1[3 * es + tw] - m2[3 * es + tw] - m3[3 * es + tw];
            y00[tw] = s00 + s01 + s02 + bo, y01[tw] = s01 - s02 - s03 + bo;
            y10[tw] = s10 + s11 + s12 + bo, y11[tw] = s11 - s12 - s13 + bo;
          });
        for (int e = 0; e < 16; e++) {
          float *restrict z = m + e * es;
          for (int b = 0; TW >= 8 && b < TW; b += 8) st8(z + (b + 8 <= TW ? b : TW - 8), (v8){0});
          for (int tw = 0; TW < 8 && tw < TW; tw++) z[tw] = 0.0f;
        }
        float *restrict r0 = yo + (size_t)2 * th * W, *restrict r1 = r0 + W;
        BLOCKS8(tw, W / 2, r0[2 * tw] = y00[tw], r0[2 * tw + 1] = y01[tw];);
        if (W & 1) r0[W - 1] = y00[W / 2];
        if (2 * th + 1 < H) {
          BLOCKS8(tw, W / 2, r1[2 * tw] = y10[tw], r1[2 * tw + 1] = y11[tw];);
          if (W & 1) r1[W - 1] = y10[W / 2];
        }
      }
    }
}

void lt_wino_conv(float *y, const float *x, int g, int C, int M, int H, int W, const float *U, const float *b,
                  float *buf, float *Mb) {
  const size_t T = (size_t)g * ((H + 1) / 2) * ((W + 1) / 2);
  float *V = buf, *P = V + 16 * (size_t)C * T;
  const size_t Lp = (size_t)(2 * ((H + 1) / 2) + 2) * 2 * ((W + 1) / 2 + 1); // P's two planes, then a temporary
  input_tiles(V, P, x, g, C, H, W);
  for (int e = 0; e < 16; e++)
    lt_gemm(0, 0, M, (int)T, C, 1.0f, U + (size_t)e * M * C, C, V + (size_t)e * T, 16 * (int)T, 1.0f, Mb + (size_t)e * T,
            16 * (int)T);
  output_tiles(y, Mb, b, g, M, H, W, P + Lp);
}

/* Ab (M, 16, T) = A dy A^T per 2x2 tile of dy (g, M, H, W), zero outside dy: the
 * products' gradient, for the weight gradient. Rows are split into even and odd
 * columns first (e: (2, TW), o: (2, TW) in tmp), so the loops run over contiguous tw. */
static void grad_tiles(float *restrict Ab, const float *dy, int g, int M, int H, int W, float *restrict tmp) {
  const int TH = (H + 1) / 2, TW = (W + 1) / 2;
  const size_t Ti = (size_t)TH * TW, T = g * Ti, es = T;
  float *restrict e0 = tmp, *restrict o0 = e0 + TW, *restrict e1 = o0 + TW, *restrict o1 = e1 + TW;
  float *restrict rt = o1 + TW; // A over the rows: (p, q) of rows (r0, r0 + r1, r0 - r1, -r1), 8 arrays of TW
  for (int i = 0; i < g; i++)
    for (int m = 0; m < M; m++) {
      const float *dp = dy + ((size_t)i * M + m) * H * W;
      for (int th = 0; th < TH; th++) {
        const float *restrict r0 = dp + (size_t)2 * th * W, *restrict r1 = r0 + W;
        BLOCKS8(k, W / 2, e0[k] = r0[2 * k], o0[k] = r0[2 * k + 1];);
        if (W & 1) e0[W / 2] = r0[W - 1], o0[W / 2] = 0.0f;
        if (2 * th + 1 < H) {
          BLOCKS8(k, W / 2, e1[k] = r1[2 * k], o1[k] = r1[2 * k + 1];);
          if (W & 1) e1[W / 2] = r1[W - 1], o1[W / 2] = 0.0f;
        } else {
          for (int k = 0; k < TW; k++) e1[k] = o1[k] = 0.0f;
        }
        float *restrict t0 = rt, *restrict t1 = rt + TW, *restrict t2 = rt + 2 * TW, *restrict t3 = rt + 3 * TW;
        float *restrict t4 = rt + 4 * TW, *restrict t5 = rt + 5 * TW, *restrict t6 = rt + 6 * TW, *restrict t7 = rt + 7 * TW;
        for (int b = 0; TW >= 8 && b < TW; b += 8) { // as BLOCKS8, in explicit vectors
          const int k = b + 8 <= TW ? b : TW - 8;
          const v8 a0 = ld8(e0 + k), a1 = ld8(e1 + k), b0 = ld8(o0 + k), b1 = ld8(o1 + k);
          st8(t0 + k, a0), st8(t1 + k, b0), st8(t2 + k, a0 + a1), st8(t3 + k, b0 + b1);
          st8(t4 + k, a0 - a1), st8(t5 + k, b0 - b1), st8(t6 + k, -a1), st8(t7 + k, -b1);
        }
        for (int k = 0; TW < 8 && k < TW; k++) {
          t0[k] = e0[k], t1[k] = o0[k], t2[k] = e0[k] + e1[k], t3[k] = o0[k] + o1[k];
          t4[k] = e0[k] - e1[k], t5[k] = o0[k] - o1[k], t6[k] = -e1[k], t7[k] = -o1[k];
        }
        float *a = Ab + (size_t)m * 16 * T + i * Ti + (size_t)th * TW;
        for (int q = 0; q < 4; q++) { // then over the columns: (p, p + q, p - q, -q)
          const float *restrict pp = rt + 2 * q * TW, *restrict qq = pp + TW;
          float *restrict z0 = a + (size_t)4 * q * es, *restrict z1 = z0 + es, *restrict z2 = z1 + es;
          float *restrict z3 = z2 + es;
          for (int b8 = 0; TW >= 8 && b8 < TW; b8 += 8) { // as BLOCKS8, in explicit vectors
            const int tw = b8 + 8 <= TW ? b8 : TW - 8;
            const v8 pv = ld8(pp + tw), qv = ld8(qq + tw);
            st8(z0 + tw, pv), st8(z1 + tw, pv + qv), st8(z2 + tw, pv - qv), st8(z3 + tw, -qv);
          }
          if (TW < 8)
            BLOCKS8(tw, TW, z0[tw] = pp[tw], z1[tw] = pp[tw] + qq[tw], z2[tw] = pp[tw] - qq[tw], z3[tw] = -qq[tw];);
        }
      }
    }
}

/* Tiles of the images whose products a weight gradient's GEMMs sum at a time: more
 * images at once gave deeper GEMMs but transformed tiles out of cache (Conv-2 and
 * VGG-19 steps 3-8% slower with a chunk of 3-4 images at once). */
#define WGRAD_TILES 192

void lt_wino_wgrad(float *dw, const float *x, const float *dy, int g, int C, int M, int H, int W, float *buf, float *Ab,
                   float *Mw) {
  const int TH = (H + 1) / 2, TW = (W + 1) / 2;
  // images a block: about WGRAD_TILES tiles (one 28x28 or 32x32 image; several small ones)
  const int per = (WGRAD_TILES + TH * TW - 1) / (TH * TW), gb = per < g ? per : g;
  float *V = buf, *P = V + 16 * (size_t)C * gb * TH * TW;
  const size_t Lp = (size_t)(2 * TH + 2) * 2 * (TW + 1);
  for (int i = 0; i < g; i += gb) {
    const int n = g - i < gb ? g - i : gb, T = n * TH * TW;
    input_tiles(V, P, x + (size_t)i * C * H * W, n, C, H, W);
    grad_tiles(Ab, dy + (size_t)i * M * H * W, n, M, H, W, P + Lp);
    for (int e = 0; e < 16; e++)
      lt_gemm(0, 1, M, C, T, 1.0f, Ab + (size_t)e * T, 16 * T, V + (size_t)e * T, 16 * T, i ? 1.0f : 0.0f,
              Mw + (size_t)e * M * C, C);
  }
  // dW = G^T Mw G per (m, c): G^T over 4 values is (v0 + (v1 + v2) / 2, (v1 - v2) / 2, (v1 + v2) / 2 + v3)
  const size_t mc = (size_t)M * C;
  for (size_t at = 0; at < mc; at++) {
    float t[3][4];
    for (int j = 0; j < 4; j++) {
      const float v0 = Mw[(size_t)j * mc + at], v1 = Mw[(size_t)(4 + j) * mc + at];
      const float v2 = Mw[(size_t)(8 + j) * mc + at], v3 = Mw[(size_t)(12 + j) * mc + at];
      t[0][j] = v0 + 0.5f * (v1 + v2), t[1][j] = 0.5f * (v1 - v2), t[2][j] = 0.5f * (v1 + v2) + v3;
    }
    float *d = dw + at * 9;
    for (int a = 0; a < 3; a++) {
      d[a * 3] = t[a][0] + 0.5f * (t[a][1] + t[a][2]);
      d[a * 3 + 1] = 0.5f * (t[a][1] - t[a][2]);
      d[a * 3 + 2] = 0.5f * (t[a][1] + t[a][2]) + t[a][3];
    }
  }
}
