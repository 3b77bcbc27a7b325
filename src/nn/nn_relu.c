/* nn_relu.c: the rectifier y = max(x, 0), elementwise on any shape.
 * Backward reads the cached output: dx = dy where y > 0, else 0. A large pass
 * is split over the worker pool (elementwise: the split changes nothing but speed). */
#include <stdio.h>
#include <stdlib.h>

#include "nn/nn_impl.h"
#include "core/pool.h" // lt_pool_run, lt_pool_nparts: the worker pool

typedef struct {
  lt_tensor *y, *dx;
  const lt_tensor *out; // the last forward's output: y, or x itself when it came rectified (borrowed)
} relu;

static lt_status relu_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                            const lt_layer **producer) {
  *out_ndim = ndim;
  for (int i = 0; i < ndim; i++) out[i] = in[i];
  return LT_OK; // shape-preserving: the producer stays the layer that made the shape
}

/* Contiguous activations are one run of n floats; transposed ones (see
 * LT_LAYOUT_SAME in nn.h) F runs of B floats, ld apart, and y and dx keep
 * that layout. */
// Runs of a transposed t: its rows, or all its storage from the first row on
// as one run when it holds whole rows (padding included) -- as the layers'
// buffers do: the padding lanes are never read into a result.
static void runs_of(const lt_tensor *t, size_t *runs, size_t *len, size_t *ld) {
  size_t F = (size_t)t->shape[1], s = (size_t)t->stride[1];
  if (t->offset + F * s <= t->storage->n) *runs = 1, *len = F * s, *ld = 0;
  else *runs = F, *len = (size_t)t->shape[0], *ld = s;
}

/* A pass over runs of len floats, ld apart: forward o = max(a, 0), or backward
 * o = b where y (in a) > 0, else 0. Large single runs are cut into parts at 16 floats. */
typedef struct {
  const float *a, *b;
  float *o;
  size_t runs, len, ld;
  int nparts, backward;
} relu_job;

static void relu_part(void *arg, int part) {
  const relu_job *j = arg;
  size_t r0 = 0, r1 = j->runs, lo = 0, hi = j->len;
  if (j->runs == 1) { // one run: a slice of it
    size_t per = ((j->len + (size_t)j->nparts - 1) / (size_t)j->nparts + 15) & ~(size_t)15;
    lo = (size_t)part * per < j->len ? (size_t)part * per : j->len;
    hi = lo + per < j->len ? lo + per : j->len;
  } else {
    r0 = (size_t)part * j->runs / (size_t)j->nparts, r1 = (size_t)(part + 1) * j->runs / (size_t)j->nparts;
  }
  for (size_t r = r0; r < r1; r++) {
    const float *restrict ar = j->a + r * j->ld;
    float *restrict orow = j->o + r * j->ld;
    if (j->backward) {
      const float *restrict gr = j->b + r * j->ld;
      for (size_t i = lo; i < hi; i++) orow[i] = ar[i] > 0.0f ? gr[i] : 0.0f;
    } else {
      for (size_t i = lo; i < hi; i++) orow[i] = ar[i] > 0.0f ? ar[i] : 0.0f;
    }
  }
}

static void relu_run(relu_job *j) {
  j->nparts = lt_pool_nparts((double)j->runs * j->len, j->runs == 1 ? (int)(j->len / 16 > 1 ? j->len / 16 : 1)
                                                                      : (int)j->runs);
  lt_pool_run(j->nparts, relu_part, j);
}

static lt_status relu_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  relu *p = l->priv;
  if (l->input_rectified) { // the layer before stored its output rectified (emit_rectified)
    p->out = x;
    *y = (lt_tensor *)x;
    return LT_OK;
  }
  int t = lt_is_transposed(x);
  size_t runs = 1, len = lt_tensor_numel(x), ld = 0;
  if (t) runs_of(x, &runs, &len, &ld);
  lt_status st = t ? lt_layer_buffer_t(&p->y, x->shape[0], x->shape[1], x->stride[1])
                   : lt_layer_buffer(&p->y, x->ndim, x->shape);
  if (st) return st;
  relu_job j = {.a = lt_tensor_data(x), .o = lt_tensor_data(p->y), .runs = runs, .len = len, .ld = ld};
  relu_run(&j);
  p->out = p->y;
  *y = p->y;
  return LT_OK;
}

static lt_status relu_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  relu *p = l->priv;
  if (!need_dx) return LT_OK;
  if (!p->out) return lt_error(LT_EINVAL, "relu %s: backward before a forward", l->name);
  if (l->pass_grad) { // the layer after masked its input gradient by our output (mask_dx)
    *dx = (lt_tensor *)dy;
    return LT_OK;
  }
  int t = lt_is_transposed(dy);
  if (t != lt_is_transposed(p->out) || (t && dy->stride[1] != p->out->stride[1]))
    return lt_error(LT_EINVAL, "relu %s: dy and y differ in layout", l->name);
  size_t runs = 1, len = lt_tensor_numel(dy), ld = 0;
  lt_status st = t ? lt_layer_buffer_t(&p->dx, dy->shape[0], dy->shape[1], dy->stride[1])
                   : lt_layer_buffer(&p->dx, dy->ndim, dy->shape);
  if (st) return st;
  if (t) { // whole rows only if all three hold them
    size_t r1, l1, d1, r2, l2, d2;
    runs_of(dy, &runs, &len, &ld);
    runs_of(p->out, &r1, &l1, &d1);
    runs_of(p->dx, &r2, &l2, &d2);
    if (r1 != 1 || r2 != 1) runs = (size_t)dy->shape[1], len = (size_t)dy->shape[0], ld = (size_t)dy->stride[1];
  }
  relu_job j = {.a = lt_tensor_data(p->out), .b = lt_tensor_data(dy), .o = lt_tensor_data(p->dx), .runs = runs,
               .len = len, .ld = ld, .backward = 1};
  relu_run(&j);
  *dx = p->dx;
  return LT_OK;
}

static int relu_describe(const lt_layer *l, char *buf, size_t n) { return snprintf(buf, n, "ReLU"); }

static void relu_free(lt_layer *l) {
  relu *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  free(p);
}

static lt_layer *relu_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const none[] = {NULL};
  return lt_config_keys(c, "relu", none) ? NULL : lt_relu_new();
}

const lt_layer_ops lt_relu_ops = {
    .kind = "relu", .prefix = "relu", .build = relu_build, .forward = relu_forward,
    .backward = relu_backward, .describe = relu_describe, .free = relu_free, .layout = LT_LAYOUT_SAME, .rectifier = 1,
    .from_config = relu_from_config,
};

lt_layer *lt_relu_new(void) {
  relu *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating relu");
    return NULL;
  }
  return lt_layer_alloc(&lt_relu_ops, p);
}
