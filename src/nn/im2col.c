/* im2col.c: the unfold/fold pair behind conv2d (NCHW, square kernels, zero padding).
 * lt_im2col lays one image out as columns so a convolution is one GEMM;
 * lt_col2im is its adjoint and accumulates the column gradient back.
 * Rows are short (an output row, e.g. 28 floats), so copies are plain loops the
 * compiler vectorises, not memcpy calls (a call per row cost more than the copy). */
#include <string.h>

#include "nn/nn_impl.h"

// Valid output columns [*lo, *hi) of a stride-1 row shifted by kj - pad over an input row of W.
static void valid_span(int *lo, int *hi, int W, int kj, int pad, int OW) {
  int a = pad - kj, b = W + pad - kj;
  if (a < 0) a = 0;
  if (b > OW) b = OW;
  if (b < a) b = a;
  *lo = a, *hi = b;
}

// cols is (C*k*k, OH*OW); x is (C, H, W)
void lt_im2col(float *cols, const float *x, int C, int H, int W, int k, int stride, int pad, int OH, int OW) {
  for (int c = 0; c < C; c++) {
    const float *xc = x + (size_t)c * H * W;
    for (int ki = 0; ki < k; ki++) {
      for (int kj = 0; kj < k; kj++) {
        float *row = cols + ((size_t)(c * k + ki) * k + kj) * OH * OW;
        int lo = 0, hi = 0;
        if (stride == 1) {
          valid_span(&lo, &hi, W, kj, pad, OW);
          // padding: one memset for the row block (cache-resident), then the valid runs
          if (pad) memset(row, 0, sizeof(float) * OH * OW);
        }
        for (int oh = 0; oh < OH; oh++) {
          int ih = oh * stride - pad + ki;
          float *restrict r = row + (size_t)oh * OW;
          if (ih < 0 || ih >= H) {
            if (stride != 1) memset(r, 0, sizeof(float) * OW);
            continue;
          }
          const float *restrict xr = xc + (size_t)ih * W;
          if (stride == 1) {
            int off = kj - pad;
            for (int ow = lo; ow < hi; ow++) r[ow] = xr[ow + off];
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
        int lo = 0, hi = 0;
        if (stride == 1) valid_span(&lo, &hi, W, kj, pad, OW);
        for (int oh = 0; oh < OH; oh++) {
          int ih = oh * stride - pad + ki;
          if (ih < 0 || ih >= H) continue;
          const float *restrict r = row + (size_t)oh * OW;
          float *restrict dr = dc + (size_t)ih * W;
          if (stride == 1) {
            int off = kj - pad;
            for (int ow = lo; ow < hi; ow++) dr[ow + off] += r[ow];
          } else {
            for (int ow = 0; ow < OW; ow++) {
              int iw = ow * stride - pad + kj;
              if (iw >= 0 && iw < W) dr[iw] += r[ow];
            }
          }
        }
      }
    }
  }
}
