/* fuzz_cifar.c: libFuzzer harness for the CIFAR-10 binary reader. The first two bytes are a
 * little-endian length: 0xffff (or one past the rest) means the rest is one batch file,
 * otherwise the rest is split there into two files. An accepted set must hold one sample
 * per 3073-byte record with labels 0..9 and pixels in [0, 1]. */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz_util.h"
#include "lotto/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t l0 = (size_t)data[0] | (size_t)data[1] << 8;
  data += 2, size -= 2;
  const char *paths[2];
  int np = 1;
  if (l0 == 0xffff || l0 >= size) {
    paths[0] = fuzz_file(0, data, size);
  } else {
    paths[0] = fuzz_file(0, data, l0);
    paths[1] = fuzz_file(1, data + l0, size - l0);
    np = 2;
  }
  lt_dataset *d = NULL;
  if (lt_dataset_load_cifar10(&d, paths, np) == LT_OK) {
    FUZZ_CHECK(lt_dataset_size(d) * 3073 == (int64_t)size, "%lld records from %zu bytes", (long long)lt_dataset_size(d), size);
    for (int64_t i = 0; i < lt_dataset_size(d); i++)
      FUZZ_CHECK(lt_tensor_data(d->y)[i] <= 9.0f, "label %lld", (long long)i);
    for (size_t i = 0; i < lt_tensor_numel(d->x); i++)
      FUZZ_CHECK(lt_tensor_data(d->x)[i] >= 0.0f && lt_tensor_data(d->x)[i] <= 1.0f, "pixel %zu", i);
    lt_dataset_release(d);
  }
  return 0;
}
