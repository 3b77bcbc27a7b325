/* tensor_wrap.h: for C tests, a contiguous lt_tensor over a stack array, with no
 * allocation (the storage and tensor live in a `wrap` on the caller's stack). */
#ifndef LOTTO_TESTS_TENSOR_WRAP_H
#define LOTTO_TESTS_TENSOR_WRAP_H

#include <string.h>

#include "lotto/tensor.h"

typedef struct wrap {
  lt_storage st;
  lt_tensor t;
} wrap;

/* A contiguous tensor over data with the given shape (ndim values). */
static inline lt_tensor *wrapn(wrap *w, float *data, int ndim, const int64_t *shape) {
  memset(w, 0, sizeof *w);
  size_t n = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    w->t.shape[d] = shape[d];
    w->t.stride[d] = (int64_t)n;
    n *= (size_t)shape[d];
  }
  w->st.data = data;
  w->st.n = n;
  w->st.refcount = 1;
  w->t.ndim = ndim;
  w->t.storage = &w->st;
  w->t.refcount = 1;
  return &w->t;
}
static inline lt_tensor *wrap1(wrap *w, float *data, int64_t n) { return wrapn(w, data, 1, &n); }
static inline lt_tensor *wrap2(wrap *w, float *data, int64_t r, int64_t c) {
  int64_t s[2] = {r, c};
  return wrapn(w, data, 2, s);
}

#endif
