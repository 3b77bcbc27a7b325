/* data_augment.c: the standard CIFAR augmentation on a batch, in place: a
 * random crop of the image zero-padded on every side (a shift by up to pad
 * pixels each way) and a left-right flip with probability 1/2 (He et al. 2016).
 * The loader calls it with a generator seeded from (seed, epoch, batch). */
#include <stdlib.h>
#include <string.h>

#include "lotto/data.h"

lt_status lt_augment_crop_flip(lt_tensor *x, int pad, int flip, lt_rng *r) {
  if (!x || x->ndim != 4 || !lt_tensor_is_contiguous(x))
    return lt_error(LT_ESHAPE, "augment: need a contiguous batch (B, C, H, W)");
  if (pad < 0 || pad > 64) return lt_error(LT_EINVAL, "augment: crop padding %d (need 0..64)", pad);
  int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
  size_t plane = (size_t)H * W;
  float *tmp = malloc(sizeof(float) * (plane ? plane : 1));
  if (!tmp) return lt_error(LT_ENOMEM, "augment: out of memory");
  float *d = lt_tensor_data(x);
  for (int64_t b = 0; b < B; b++) {
    // three draws per image, always, so that one image's choices never shift another's
    int dy = (int)lt_rng_below(r, (uint64_t)(2 * pad + 1)) - pad;
    int dx = (int)lt_rng_below(r, (uint64_t)(2 * pad + 1)) - pad;
    int f = (int)lt_rng_below(r, 2) && flip;
    if (!dy && !dx && !f) continue;
    for (int64_t c = 0; c < C; c++) {
      float *p = d + ((size_t)b * C + c) * plane;
      memcpy(tmp, p, sizeof(float) * plane);
      // out[h][w] = padded[h + pad + dy][w' + pad + dx], w' = W-1-w when flipped: crop, then flip
      for (int64_t h = 0; h < H; h++) {
        int64_t sh = h + dy;
        for (int64_t w = 0; w < W; w++) {
          int64_t sw = (f ? W - 1 - w : w) + dx;
          p[h * W + w] = sh >= 0 && sh < H && sw >= 0 && sw < W ? tmp[sh * W + sw] : 0.0f;
        }
      }
    }
  }
  free(tmp);
  return LT_OK;
}
