/* im2col.c: the unfold/fold pair behind conv2d (NCHW, square kernels, zero padding).
 * lt_im2col lays one image out as columns so a convolution is one GEMM;
 * lt_col2im is its adjoint and accumulates the column gradient back. */
#include <string.h>

#include "lotto/nn.h"

// cols is (C*k*k, OH*OW); x is (C, H, W)
void lt_im2col(float *cols, const float *x, int C, int H, int W, int k, int stride, int pad, int OH, int OW) {
  for (int c = 0; c < C; c++) {
    const float *xc = x + (size_t)c * H * W;
    for (int ki = 0; ki < k; ki++) {
      for (int kj = 0; kj < k; kj++) {
        float *row = cols + ((size_t)(c * k + ki) * k + kj) * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
          int ih = oh * stride - pad + ki;
          float *r = row + (size_t)oh * OW;
          if (ih < 0 || ih >= H) {
            memset(r, 0, sizeof(float) * OW);
            continue;
          }
          const float *xr = xc + (size_t)ih * W;
          if (stride == 1) {
            // contiguous run: zero the padded ends, copy the middle
            int lo = pad - kj, hi = W + pad - kj; // valid ow in [lo, hi)
            if (lo < 0) lo = 0;
            if (hi > OW) hi = OW;
            for (int ow = 0; ow < lo && ow < OW; ow++) r[ow] = 0.0f;
            if (hi > lo) memcpy(r + lo, xr + lo - pad + kj, sizeof(float) * (hi - lo));
            for (int ow = hi > lo ? hi : (lo > 0 ? lo : 0); ow < OW; ow++) r[ow] = 0.0f;
          } else {
            for (int ow = 0; ow < OW; ow++) {
              int iw = ow * stride - pad + kj;
              r[ow] = (iw >= 0 && iw < W) ? xr[iw] : 0.0f;
            }
          }
        }
      }
    }
  }
}

// dx is (C, H, W), accumulated; cols is (C*k*k, OH*OW)
void lt_col2im(float *dx, const float *cols, int C, int H, int W, int k, int stride, int pad, int OH, int OW) {
  for (int c = 0; c < C; c++) {
    float *dc = dx + (size_t)c * H * W;
    for (int ki = 0; ki < k; ki++) {
      for (int kj = 0; kj < k; kj++) {
        const float *row = cols + ((size_t)(c * k + ki) * k + kj) * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
          int ih = oh * stride - pad + ki;
          if (ih < 0 || ih >= H) continue;
          const float *r = row + (size_t)oh * OW;
          float *dr = dc + (size_t)ih * W;
          for (int ow = 0; ow < OW; ow++) {
            int iw = ow * stride - pad + kj;
            if (iw >= 0 && iw < W) dr[iw] += r[ow];
          }
        }
      }
    }
  }
}
