/* fuzz_sparse.c: libFuzzer harness for the sparse-export reader (lt_model_import,
 * lotto.sparse.load). The input is the file. An accepted file must give a model whose
 * pruned weights are zero, whose masks hold 0/1, that runs a forward pass on a batch of
 * one (or says why not) and that reads its own file again with lt_model_import_values. */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz_util.h"
#include "lotto/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(0, data, size);
  lt_model *m = NULL;
  if (lt_model_import(&m, path) != LT_OK) {
    FUZZ_CHECK(m == NULL, "a refused file left a model");
    FUZZ_CHECK(lt_errmsg()[0] != '\0', "refused without a message");
    return 0;
  }
  const float *v = lt_tensor_data(lt_model_values(m)), *mk = lt_tensor_data(lt_model_masks(m));
  size_t n = lt_tensor_numel(lt_model_values(m));
  FUZZ_CHECK(n == lt_tensor_numel(lt_model_masks(m)), "values and masks differ in size");
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(mk[i] == 0.0f || mk[i] == 1.0f, "mask %zu is %g", i, mk[i]);
    FUZZ_CHECK(mk[i] != 0.0f || v[i] == 0.0f, "pruned weight %zu is %g", i, v[i]);
  }
  FUZZ_CHECK(lt_model_import_values(m, path) == LT_OK, "the file does not load into its own model: %s", lt_errmsg());
  /* a forward pass on one zero sample, when the input is small */
  int64_t in[LT_MAXDIM], shape[LT_MAXDIM] = {1};
  int nd = lt_model_input_shape(m, in);
  size_t numel = 1;
  for (int i = 0; i < nd; i++) shape[i + 1] = in[i], numel *= (size_t)in[i];
  if (numel <= (1u << 16) && lt_model_numel(m, 0) <= (1u << 20)) {
    lt_tensor *x = lt_tensor_new(nd + 1, shape), *y = NULL;
    if (x) {
      if (lt_model_forward(m, x, &y, 0) == LT_OK)
        FUZZ_CHECK(y != NULL && y->shape[0] == 1, "forward gave no (1, ...) output");
      lt_tensor_release(x);
    }
  }
  lt_model_free(m);
  return 0;
}
