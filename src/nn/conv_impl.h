/* conv_impl.h: conv2d's private parts, shared by nn_conv2d.c (the layer, its threads
 * and its sparse path) and conv_gemm.c (a group of images through the dense GEMM
 * layouts). */
#ifndef LT_CONV_IMPL_H
#define LT_CONV_IMPL_H
#include <stddef.h>

#include "nn/nn_impl.h"
#include "lotto/sparse.h"

/* How a dense image is multiplied:
 * DIRECT (1x1, stride 1, no padding): the image is its own column matrix.
 * ROWS (stride 1, pad < k, cin >= 2): the image is unfolded along
 *   the width only, into cin*k rows that each cover the padded height, so that
 *   kernel row ki reads the same buffer ki output rows further on: the
 *   convolution is k GEMMs of depth cin*k, with a third of im2col's copying.
 *   The input gradient is the same kind of convolution of dy (padded by
 *   k-1-pad) with the flipped, transposed kernel: no col2im and no zeroing.
 * IM2COL: otherwise (strided, or one input channel, where ROWS GEMMs would be
 *   only k deep: the two measure the same there), one GEMM of depth cin*k*k;
 *   the input gradient is a GEMM and col2im. ROWS beats it from 2 channels up
 *   (ResNet-20's 16-channel stage: 3.6 against 4.9 ms/image/step). */
enum { CONV_IM2COL, CONV_DIRECT, CONV_ROWS };
#define ROWS_MIN_CIN 2
typedef struct {
  int cin, cout, k, stride, pad, bias;
  int H, W, OH, OW;  // fixed at build
  int method;        // CONV_*, fixed at build
  const lt_tensor *x;
  lt_tensor *y, *dx;
  float *wr;         // ROWS: W as (k, cout, cin*k) for the forward, flipped as (k, cin, cout*k) for dx
  int wino;          // 3x3, stride 1, padding 1: forward and dx by Winograd (when lt_conv2d_winograd allows)
  float *wu;         // wino: W transformed, (16, cout, cin) for the forward, then (16, cin, cout) for dx
  lt_spd *sp;        // sparse state: CSR of W as (cout, K)
  int sparse;        // the last forward ran sparse
} conv2d;

/* Per-thread buffers, grown on demand and kept: the unfold buffer of whichever
 * image a thread works on, a group's outputs side by side, and (caller only)
 * the per-chunk gradient sums.
 * zeros names the ROWS geometry whose padding the buffer holds as zeros: the
 * padding is in the same places for every image and for dy as for x in a
 * "same" conv, so it is written once, not once per image. */
typedef struct {
  float *p;
  size_t cap;
  int zeros[7]; // (g, C, H, W, k, pad, OWr) of unfold_rows; all 0: none
} lt_conv_scratch;
extern _Thread_local lt_conv_scratch lt_conv_unfold; // the unfold buffer (conv_gemm.c)

/* s's buffer of at least n floats (NULL: out of memory). keep_zeros 0: the
 * caller will write anything there (forget the zeros). */
float *lt_conv_scratch_get(lt_conv_scratch *s, size_t n, int keep_zeros);

/* Sum of n floats in 16 fixed lanes (vectorised, and the same order every time). */
float lt_conv_row_sum(const float *r, int n);

/* y (g, cout, P) = conv(x (g, cin, H, W)) + b; g > 1 only for ROWS. w is W, or
 * p->wr for ROWS; buf is lt_conv_unfold.p; tmp (g * cout * P floats) holds a
 * group's side-by-side outputs. */
void lt_conv_group_forward(const conv2d *p, float *y, const float *x, int g, const float *w, const float *b,
                           float *buf, float *tmp);

/* dw (method layout) and db (cout) are this chunk's sums: set by the chunk's
 * first group (first), accumulated by the rest. dx (g, cin, H, W) or NULL is
 * overwritten. W is (cout, K); wf is p->wr's flipped half (ROWS); tmp holds
 * g * max(cout * P, cin * H * W) floats. */
void lt_conv_group_backward(const conv2d *p, float *dx, float *dw, float *db, const float *dy, const float *x, int g,
                            const float *W, const float *wf, float *buf, float *tmp, int first);

/* ROWS: wr (k, cout, cin*k) = W[o][c][ki][kj] at [ki][o][c*k+kj] (forward), or
 * (k, cin, cout*k) = W[o][c][k-1-ki][k-1-kj] at [ki][c][o*k+kj] (flipped, for dx). */
void lt_conv_repack_weights(float *wr, const float *W, int cout, int cin, int k, int flipped);
#endif
