/* conv_winograd.h: Winograd F(2x2, 3x3) and F(4x4, 3x3) for stride-1, padding-1 3x3 convolutions
 * (conv_winograd.c), private to conv2d: forward, input and weight gradients. */
#ifndef LT_CONV_WINOGRAD_H
#define LT_CONV_WINOGRAD_H
#include <stddef.h>
#include <string.h>

/* Eight floats as one value (GCC/clang vector extension: one AVX register, or two
 * SSE ones), loaded and stored unaligned, for the loops the compiler leaves scalar
 * (it unrolls their 8 iterations fully, then does not vectorise the result). */
#if defined(__GNUC__) && !defined(__clang__) && !defined(__AVX__)
/* the portable build passes them between static inline functions only: no ABI to keep */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float v8 __attribute__((vector_size(32)));
static inline v8 ld8(const float *p) {
  v8 v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void st8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

/* U (16, m, n) from W (cout, cin, 3, 3): for the forward (m = cout, n = cin), or
 * flipped = 1 for the input gradient, the kernel flipped and transposed
 * (m = cin, n = cout). */
void lt_wino_weights(float *U, const float *W, int cout, int cin, int flipped);

/* Floats of buf (tiles) and of Mb (products) that lt_wino_conv needs for g images
 * of (C, H, W) into M channels. */
size_t lt_wino_scratch(int g, int C, int H, int W);
size_t lt_wino_products(int g, int M, int H, int W);

/* y (g, M, H, W) = the 3x3, padding-1 convolution of x (g, C, H, W) with the
 * transformed kernel U (16, M, C), plus b (M; NULL: none). y is overwritten. Mb
 * must be all zero, and is left so: the GEMMs add to it and the output transform
 * zeroes what it has read, which spares OpenBLAS's own zeroing pass (beta 0). */
void lt_wino_conv(float *y, const float *x, int g, int C, int M, int H, int W, const float *U, const float *b,
                  float *buf, float *Mb);

/* dw (M, C, 3, 3) = the weight gradient of that convolution over g images of x
 * (g, C, H, W) and dy (g, M, H, W), overwritten: the transposed algorithm,
 * G^T [sum over tiles of (A dy A^T) . (B^T d B)] G, 16 GEMMs (M x C, as deep as
 * the g images have tiles). buf as for lt_wino_conv (C channels), Ab holds
 * lt_wino_products(g, M, H, W) floats, Mw 16 * M * C. */
void lt_wino_wgrad(float *dw, const float *x, const float *dy, int g, int C, int M, int H, int W, float *buf, float *Ab,
                   float *Mw);

/* F(4x4, 3x3) (conv_winograd4.c), the same contract as the F(2x2) functions above
 * with 36 transformed planes: U (36, m, n); tiles per image, padding included;
 * whether an image of H x W takes it (rows of tiles fill whole vectors). */
void lt_wino4_weights(float *U, const float *W, int cout, int cin, int flipped);
size_t lt_wino4_tiles(int H, int W);
int lt_wino4_fits(int H, int W);
size_t lt_wino4_scratch(int g, int C, int H, int W);
size_t lt_wino4_products(int g, int M, int H, int W);
void lt_wino4_conv(float *y, const float *x, int g, int C, int M, int H, int W, const float *U, const float *b,
                   float *buf, float *Mb);
#endif
