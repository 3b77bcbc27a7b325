/* test_augment.c: the CIFAR augmentation (lt_augment_crop_flip) on crafted
 * images: a hand-worked flip and shift, the crop-then-flip order against an
 * explicitly padded image, three draws per image, and the loader's use of it
 * (deterministic per seed, the same after a reset). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lotto/data.h"

// The first seed whose first image draws (dy, dx, f) with pad p (dy, dx in [-p, p]).
static uint64_t seed_for(int p, int dy, int dx, int f) {
  for (uint64_t s = 1; s < 100000; s++) {
    lt_rng r;
    lt_rng_seed(&r, s, LT_STREAM_AUGMENT);
    int a = (int)lt_rng_below(&r, 2 * p + 1) - p, b = (int)lt_rng_below(&r, 2 * p + 1) - p, c = (int)lt_rng_below(&r, 2);
    if (a == dy && b == dx && c == f) return s;
  }
  fail_msg("no seed draws (%d, %d, %d)", dy, dx, f);
  return 0;
}

static lt_tensor *image(int C, int H, int W) { // values 1, 2, ... row-major
  int64_t s[4] = {1, C, H, W};
  lt_tensor *x = lt_tensor_new(4, s);
  float *d = lt_tensor_data(x);
  for (int i = 0; i < C * H * W; i++) d[i] = (float)(i + 1);
  return x;
}

static void flip_should_mirror_each_row(void **state) {
  lt_tensor *x = image(1, 2, 3);
  lt_rng r;
  lt_rng_seed(&r, seed_for(0, 0, 0, 1), LT_STREAM_AUGMENT);
  assert_int_equal(lt_augment_crop_flip(x, 0, 1, &r), LT_OK);
  const float want[6] = {3, 2, 1, 6, 5, 4};
  assert_memory_equal(lt_tensor_data(x), want, sizeof want);
  lt_tensor_release(x);
}

static void crop_should_shift_in_zeros(void **state) {
  // dy = +1, dx = -1 (pad 1): out[h][w] = x[h + 1][w - 1], zero outside
  lt_tensor *x = image(1, 3, 3);
  lt_rng r;
  lt_rng_seed(&r, seed_for(1, 1, -1, 0), LT_STREAM_AUGMENT);
  assert_int_equal(lt_augment_crop_flip(x, 1, 1, &r), LT_OK);
  const float want[9] = {0, 4, 5, 0, 7, 8, 0, 0, 0};
  assert_memory_equal(lt_tensor_data(x), want, sizeof want);
  lt_tensor_release(x);
}

static void crop_then_flip_should_match_an_explicitly_padded_image(void **state) {
  const int C = 2, H = 4, W = 5, p = 2;
  for (int f = 0; f <= 1; f++) {
    lt_tensor *x = image(C, H, W);
    float padded[2][8][9] = {{{0}}}; // (C, H + 2p, W + 2p)
    for (int c = 0; c < C; c++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++) padded[c][h + p][w + p] = lt_tensor_data(x)[(c * H + h) * W + w];
    lt_rng r;
    lt_rng_seed(&r, seed_for(p, -2, 1, f), LT_STREAM_AUGMENT);
    assert_int_equal(lt_augment_crop_flip(x, p, 1, &r), LT_OK);
    // the crop window starts at (p + dy, p + dx) = (0, 3); the flip reverses the cropped rows
    for (int c = 0; c < C; c++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++) {
          int ww = f ? W - 1 - w : w;
          assert_float_equal(lt_tensor_data(x)[(c * H + h) * W + w], padded[c][h][3 + ww], 0);
        }
    lt_tensor_release(x);
  }
}

static void augment_should_reject_bad_arguments(void **state) {
  int64_t s[2] = {2, 3};
  lt_tensor *t = lt_tensor_new(2, s);
  lt_rng r;
  lt_rng_seed(&r, 1, LT_STREAM_AUGMENT);
  assert_int_equal(lt_augment_crop_flip(t, 4, 1, &r), LT_ESHAPE);
  lt_tensor_release(t);
  lt_tensor *x = image(1, 2, 2);
  assert_int_equal(lt_augment_crop_flip(x, -1, 1, &r), LT_EINVAL);
  lt_tensor_release(x);
}

static void loader_should_augment_the_same_way_after_a_reset(void **state) {
  int64_t xs[4] = {16, 1, 6, 6}, ys[1] = {16};
  lt_tensor *x = lt_tensor_new(4, xs), *y = lt_tensor_new(1, ys);
  float *d = lt_tensor_data(x);
  for (int i = 0; i < 16 * 36; i++) d[i] = (float)(i % 36 + 1);
  memset(lt_tensor_data(y), 0, sizeof(float) * 16);
  lt_dataset *ds = lt_dataset_new(x, y, 10);
  assert_non_null(ds);
  lt_loader *a, *b;
  assert_int_equal(lt_loader_new(&a, ds, 8, 7, 1, 0), LT_OK);
  assert_int_equal(lt_loader_new(&b, ds, 8, 7, 1, 0), LT_OK);
  assert_int_equal(lt_loader_set_augment(a, 2, 1), LT_OK);
  assert_int_equal(lt_loader_set_augment(b, 2, 1), LT_OK);
  lt_tensor *xa, *ya, *xb, *yb;
  float first[8 * 36], second[8 * 36];
  assert_int_equal(lt_loader_next(a, &xa, &ya), LT_OK);
  memcpy(first, lt_tensor_data(xa), sizeof first);
  assert_int_equal(lt_loader_next(a, &xa, &ya), LT_OK);
  memcpy(second, lt_tensor_data(xa), sizeof second);
  assert_int_equal(lt_loader_reset(b, 0, 1), LT_OK); // straight to the second batch
  assert_int_equal(lt_loader_next(b, &xb, &yb), LT_OK);
  assert_memory_equal(lt_tensor_data(xb), second, sizeof second);
  // something changed: 8 images each with a shift or flip drawn
  int same = 1;
  for (int i = 0; i < 8 * 36 && same; i++) same = first[i] == (float)(i % 36 + 1);
  assert_false(same);
  lt_loader_free(a);
  lt_loader_free(b);
  lt_dataset_release(ds);
  lt_tensor_release(x);
  lt_tensor_release(y);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(flip_should_mirror_each_row),
      cmocka_unit_test(crop_should_shift_in_zeros),
      cmocka_unit_test(crop_then_flip_should_match_an_explicitly_padded_image),
      cmocka_unit_test(augment_should_reject_bad_arguments),
      cmocka_unit_test(loader_should_augment_the_same_way_after_a_reset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
