/* conv_winograd4.c: Winograd F(4x4, 3x3) for dense stride-1, padding-1 3x3
 * convolutions (Lavin & Gray 2016), private to conv2d: each 4x4 output tile is
 * A^T [(G w G^T) . (B^T d B)] A over its 6x6 input tile d, 36 GEMMs (M x tiles x C)
 * where F(2x2, 3x3) (conv_winograd.c) needs 16 over four times the tiles: 1.78x
 * fewer multiply-adds than F(2x2) and 4x fewer than the direct sum. When asked
 * (lt_conv2d_winograd_tile(4)), conv2d runs its forward and its input gradient
 * through it where a row of tiles fills whole vectors (lt_wino4_fits). The
 * transforms multiply by up to 8 and 1/24, so the rounding error is about 16x
 * F(2x2)'s (tests/test_conv.c: 5.6e-6 of the output's scale against 3.4e-7 on
 * 64 channels at 28x28); hence not the default. Results do not depend on the
 * thread count. Tiles and products are laid out (channel, plane, tile), as F(2x2)'s.
 * A row of tiles is stored padded to a multiple of 8 tiles (TWp): every transform
 * then runs on whole 8-float vectors; the padding tiles read zeros, are multiplied
 * like the others and are never written out. */
#include <string.h>

#include "nn/conv_winograd.h"
#include "nn/nn_impl.h" // lt_gemm

/* Geometry: TH x TW tiles of 4x4, a row padded to TWp; the padded input plane (H + 2,
 * W + 2, and beyond, zero) is held as 4 planes of its columns modulo 4
 * (Q_r[pr][k] = padded[pr][4k + r], Hq x Lq each). */
typedef struct {
  int TH, TW, TWp, Hq, Lq;
  size_t Ti; // tiles per image, padding included
} geo4;

static geo4 geometry(int H, int W) {
  geo4 q;
  q.TH = (H + 3) / 4, q.TW = (W + 3) / 4, q.TWp = (q.TW + 7) / 8 * 8;
  q.Hq = 4 * q.TH + 2, q.Lq = q.TWp + 1;
  q.Ti = (size_t)q.TH * q.TWp;
  return q;
}

size_t lt_wino4_tiles(int H, int W) { return geometry(H, W).Ti; }

int lt_wino4_fits(int H, int W) {
  geo4 q = geometry(H, W);
  return 16 * q.Ti <= (size_t)H * W * 6 / 5; // padding and part tiles at most a fifth more products
}

size_t lt_wino4_scratch(int g, int C, int H, int W) {
  geo4 q = geometry(H, W);
  return 36 * q.Ti * g * (size_t)C + 4 * (size_t)q.Hq * q.Lq + 24 * (size_t)q.Lq;
}

size_t lt_wino4_products(int g, int M, int H, int W) { return 36 * geometry(H, W).Ti * g * (size_t)M; }

// U (36, m, n) from W (cout, cin, 3, 3): U[e] = (G w G^T)[e / 6][e % 6]
void lt_wino4_weights(float *U, const float *W, int cout, int cin, int flipped) {
  static const double G[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
  const int m = flipped ? cin : cout, n = flipped ? cout : cin;
  for (int o = 0; o < cout; o++)
    for (int c = 0; c < cin; c++) {
      const float *w = W + ((size_t)o * cin + c) * 9;
      double g[3][3], t[6][3];
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) g[i][j] = flipped ? w[(2 - i) * 3 + 2 - j] : w[i * 3 + j];
      for (int k = 0; k < 6; k++)
        for (int j = 0; j < 3; j++) t[k][j] = G[k][0] * g[0][j] + G[k][1] * g[1][j] + G[k][2] * g[2][j];
      const size_t at = flipped ? (size_t)c * n + o : (size_t)o * n + c;
      for (int k = 0; k < 6; k++)
        for (int l = 0; l < 6; l++)
          U[(size_t)(6 * k + l) * m * n + at] = (float)(t[k][0] * G[l][0] + t[k][1] * G[l][1] + t[k][2] * G[l][2]);
    }
}

/* B^T d over 6 values: (4d0 - 5d2 + d4, -4(d1 + d2) + d3 + d4, 4(d1 - d2) - d3 + d4,
 * 2(d3 - d1) - d2 + d4, 2(d1 - d3) - d2 + d4, 4d1 - 5d3 + d5) */
#define BT6(o, d)                                                                                                    \
  do {                                                                                                               \
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];                                                                         \
    o[1] = d[3] + d[4] - 4.0f * (d[1] + d[2]);                                                                       \
    o[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4];                                                                       \
    o[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];                                                                       \
    o[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4];                                                                       \
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];                                                                         \
  } while (0)

/* A^T m over 6 values: (m0 + m1 + m2 + m3 + m4, m1 - m2 + 2(m3 - m4), m1 + m2 + 4(m3 + m4),
 * m1 - m2 + 8(m3 - m4) + m5) */
#define AT6(o, m)                                                                                                    \
  do {                                                                                                               \
    const v8 p_ = m[1] + m[2], q_ = m[1] - m[2], r_ = m[3] + m[4], s_ = m[3] - m[4];                                 \
    o[0] = m[0] + p_ + r_;                                                                                           \
    o[1] = q_ + 2.0f * s_;                                                                                           \
    o[2] = p_ + 4.0f * r_;                                                                                           \
    o[3] = q_ + 8.0f * s_ + m[5];                                                                                    \
  } while (0)

/* V (36, C, T) for the g images' tiles (t = image * Ti + th * TWp + tw). */
static void input_tiles(float *restrict V, float *restrict P, const float *x, int g, int C, int H, int W, geo4 q) {
  const size_t T = g * q.Ti, es = T, plane = (size_t)q.Hq * q.Lq;
  const int Lq = q.Lq;
  float *R = P + 4 * plane; // the row transform: R[k][r] (Lq floats), k = 0..5, r = 0..3
  memset(P, 0, sizeof(float) * 4 * plane);
  for (int i = 0; i < g; i++)
    for (int c = 0; c < C; c++) {
      const float *restrict xp = x + ((size_t)i * C + c) * H * W;
      for (int h = 0; h < H; h++) { // x[h][w] is padded[h + 1][w + 1]
        const float *restrict xr = xp + (size_t)h * W;
        float *restrict row = P + (size_t)(h + 1) * Lq;
        for (int w = 0; w < W; w++) row[((w + 1) & 3) * plane + ((w + 1) >> 2)] = xr[w];
      }
      float *v = V + (size_t)c * 36 * T + i * q.Ti;
      for (int th = 0; th < q.TH; th++) {
        for (int r = 0; r < 4; r++) { // B^T d over the tile's 6 rows, each phase of columns
          const float *Q = P + r * plane + (size_t)4 * th * Lq;
          for (int b = 0; b < Lq; b += 8) {
            const int k = b + 8 <= Lq ? b : Lq - 8;
            v8 d[6], o[6];
            for (int j = 0; j < 6; j++) d[j] = ld8(Q + (size_t)j * Lq + k);
            BT6(o, d);
            for (int j = 0; j < 6; j++) st8(R + (size_t)(4 * j + r) * Lq + k, o[j]);
          }
        }
        for (int k = 0; k < 6; k++) { // then over the columns: tile tw reads columns 4tw .. 4tw + 5
          const float *Rk = R + (size_t)4 * k * Lq;
          float *vk = v + (size_t)6 * k * es + (size_t)th * q.TWp;
          for (int tw = 0; tw < q.TWp; tw += 8) {
            v8 d[6], o[6];
            d[0] = ld8(Rk + tw), d[1] = ld8(Rk + Lq + tw), d[2] = ld8(Rk + 2 * Lq + tw), d[3] = ld8(Rk + 3 * Lq + tw);
            d[4] = ld8(Rk + tw + 1), d[5] = ld8(Rk + Lq + tw + 1);
            BT6(o, d);
            for (int l = 0; l < 6; l++) st8(vk + l * es + tw, o[l]);
          }
        }
      }
    }
}

/* y (g, M, H, W) from the products Mb (36, M, T): A^T m A per tile, plus b; tmp holds
 * 16 TWp floats. Mb is left zero (see lt_wino_conv). */
static void output_tiles(float *y, float *restrict Mb, const float *b, int g, int M, int H, int W, geo4 q, float *tmp) {
  const size_t T = g * q.Ti, es = T;
  for (int i = 0; i < g; i++)
    for (int o = 0; o < M; o++) {
      const v8 bo = (v8){0} + (b ? b[o] : 0.0f);
      float *yo = y + ((size_t)i * M + o) * H * W;
      for (int th = 0; th < q.TH; th++) {
        float *m = Mb + (size_t)o * 36 * T + i * q.Ti + (size_t)th * q.TWp;
        for (int tw = 0; tw < q.TWp; tw += 8) {
          v8 s[4][6]; // A^T m over the rows, for each of the 6 columns
          for (int l = 0; l < 6; l++) {
            v8 mk[6], sa[4];
            for (int k = 0; k < 6; k++) {
              float *z = m + (size_t)(6 * k + l) * es + tw;
              mk[k] = ld8(z);
              st8(z, (v8){0});
            }
            AT6(sa, mk);
            for (int a = 0; a < 4; a++) s[a][l] = sa[a];
          }
          for (int a = 0; a < 4; a++) { // then over the columns
            v8 ya[4];
            AT6(ya, s[a]);
            for (int bb = 0; bb < 4; bb++) st8(tmp + (size_t)(4 * a + bb) * q.TWp + tw, ya[bb] + bo);
          }
        }
        for (int a = 0; a < 4 && 4 * th + a < H; a++) {
          float *row = yo + (size_t)(4 * th + a) * W;
          const float *t0 = tmp + (size_t)4 * a * q.TWp, *t1 = t0 + q.TWp, *t2 = t1 + q.TWp, *t3 = t2 + q.TWp;
          int tw = 0;
          for (; 4 * tw + 3 < W; tw++)
            row[4 * tw] = t0[tw], row[4 * tw + 1] = t1[tw], row[4 * tw + 2] = t2[tw], row[4 * tw + 3] = t3[tw];
          for (int bb = 0; 4 * tw + bb < W; bb++) row[4 * tw + bb] = (bb == 0 ? t0 : bb == 1 ? t1 : t2)[tw];
        }
      }
    }
}

void lt_wino4_conv(float *y, const float *x, int g, int C, int M, int H, int W, const float *U, const float *b,
                   float *buf, float *Mb) {
  const geo4 q = geometry(H, W);
  const int T = (int)(g * q.Ti);
  float *V = buf, *P = V + 36 * (size_t)C * T;
  input_tiles(V, P, x, g, C, H, W, q);
  for (int e = 0; e < 36; e++)
    lt_gemm(0, 0, M, T, C, 1.0f, U + (size_t)e * M * C, C, V + (size_t)e * T, 36 * T, 1.0f, Mb + (size_t)e * T, 36 * T);
  output_tiles(y, Mb, b, g, M, H, W, q, P); // P's planes are used up: the output's temporary
}
