/* safetensors_tensor.c: turning a validated safetensors entry into a float tensor.
 * Kept apart from the parser so that the parser and writer depend on no tensor code. */
#include <stdlib.h>
#include <string.h>

#include "lotto/io.h"

lt_status lt_st_entry_tensor(lt_tensor **out, const lt_st_entry *e) {
  *out = NULL;
  if (e->ndim > LT_MAXDIM)
    return lt_error(LT_EINVAL, "tensor \"%s\" has %d dims; lotto tensors have at most %d", e->name, e->ndim, LT_MAXDIM);
  int64_t shape[LT_MAXDIM] = {1};
  int ndim = e->ndim ? e->ndim : 1; /* a scalar becomes shape (1) */
  for (int k = 0; k < e->ndim; k++) {
    if (e->shape[k] == 0) return lt_error(LT_EINVAL, "tensor \"%s\" has a zero dim", e->name);
    shape[k] = e->shape[k];
  }
  lt_tensor *t = lt_tensor_new(ndim, shape);
  if (!t) return lt_errmsg()[0] ? LT_ENOMEM : lt_error(LT_ENOMEM, "out of memory for \"%s\"", e->name);
  float *d = lt_tensor_data(t);
  const unsigned char *p = e->data;
  switch (e->dtype) {
  case LT_DT_F32:
    lt_st_entry_read(e, d);
    break;
  case LT_DT_U8:
  case LT_DT_BOOL: /* masks: any nonzero byte is a kept weight */
    for (size_t i = 0; i < e->numel; i++) d[i] = p[i] != 0;
    break;
  case LT_DT_I32:
    for (size_t i = 0; i < e->numel; i++) {
      uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                   (uint32_t)p[4 * i + 3] << 24;
      d[i] = (float)(int32_t)u;
    }
    break;
  }
  *out = t;
  return LT_OK;
}
