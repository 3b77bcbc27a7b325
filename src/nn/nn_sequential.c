/* nn_sequential.c: a chain of layers applied in order; containers nest.
 * Owns its children. Backward stops early once no earlier child has
 * parameters and the caller does not want the input gradient. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct {
  int n;
  int first_param; // index of the first child with parameters (n if none)
  lt_layer **kids;
} sequential;

static lt_status sequential_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                                  const lt_layer **producer) {
  sequential *p = l->priv;
  int64_t cur[LT_MAXDIM];
  int cn = ndim;
  memcpy(cur, in, sizeof(int64_t) * ndim);
  p->first_param = p->n;
  for (int i = 0; i < p->n; i++) {
    int64_t nxt[LT_MAXDIM];
    int nn = 0;
    lt_status st = lt_build_child(b, p->kids[i], cn, cur, &nn, nxt, producer);
    if (st) return st;
    if (p->kids[i]->has_params && p->first_param == p->n) p->first_param = i;
    cn = nn;
    memcpy(cur, nxt, sizeof(int64_t) * nn);
  }
  *out_ndim = cn;
  memcpy(out, cur, sizeof(int64_t) * cn);
  return LT_OK;
}

// Whether child j and what follows it take transposed activations.
static int takes_transposed(const sequential *p, int j) {
  for (; j < p->n; j++) {
    int layout = p->kids[j]->ops->layout;
    if (layout == LT_LAYOUT_ANY) return 1;
    if (layout != LT_LAYOUT_SAME) return 0;
  }
  return 0; // the container's own output stays contiguous
}

// A child may hand its output on transposed when the layers after it take it,
// and the sequential takes a transposed input when its first children do; a
// rectifier after a layer that can rectify its own output leaves that to it,
// and its backward to a layer after it that can mask its input gradient.
static lt_status sequential_bind(lt_layer *l) {
  sequential *p = l->priv;
  for (int i = 0; i < p->n; i++) p->kids[i]->emit_transposed = takes_transposed(p, i + 1);
  l->takes_transposed = takes_transposed(p, 0);
  for (int i = 0; i + 1 < p->n; i++) { // a rectifier after a layer that can store its y rectified: one pass
    int fuse = p->kids[i]->ops->fuses_relu && p->kids[i + 1]->ops->rectifier;
    p->kids[i]->emit_rectified = fuse;
    p->kids[i + 1]->input_rectified = fuse;
  }
  for (int i = 0; i + 1 < p->n; i++) { // and its backward to the layer after it
    int fuse = p->kids[i]->ops->rectifier && p->kids[i + 1]->ops->fuses_relu;
    p->kids[i]->pass_grad = fuse;
    p->kids[i + 1]->mask_dx = fuse;
  }
  return LT_OK;
}

static lt_status sequential_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  sequential *p = l->priv;
  lt_tensor *cur = (lt_tensor *)x;
  for (int i = 0; i < p->n; i++) {
    lt_tensor *nxt = NULL;
    lt_status st = p->kids[i]->ops->forward(p->kids[i], cur, &nxt, train);
    if (st) return st;
    cur = nxt;
  }
  *y = cur;
  return LT_OK;
}

static lt_status sequential_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  sequential *p = l->priv;
  lt_tensor *cur = (lt_tensor *)dy;
  for (int i = p->n - 1; i >= 0; i--) {
    // child i's input gradient feeds child i-1, needed only if some child before i has parameters
    int need = need_dx || i > p->first_param;
    if (i < p->first_param && !need_dx) return LT_OK; // nothing before i learns
    lt_tensor *nxt = NULL;
    lt_status st = p->kids[i]->ops->backward(p->kids[i], cur, &nxt, need);
    if (st) return st;
    cur = nxt;
  }
  if (need_dx) *dx = cur;
  return LT_OK;
}

static int sequential_describe(const lt_layer *l, char *buf, size_t n) { return snprintf(buf, n, "Sequential"); }
static int sequential_nchildren(const lt_layer *l) { return ((const sequential *)l->priv)->n; }
static lt_layer *sequential_child(const lt_layer *l, int i) { return ((const sequential *)l->priv)->kids[i]; }

static void sequential_free(lt_layer *l) {
  sequential *p = l->priv;
  if (!p) return;
  for (int i = 0; i < p->n; i++) lt_layer_free(p->kids[i]);
  free(p->kids);
  free(p);
}

static lt_layer *sequential_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const none[] = {NULL};
  if (lt_config_keys(c, "sequential", none)) {
    for (int i = 0; i < nchildren; i++) lt_layer_free(children[i]);
    return NULL;
  }
  return lt_sequential_new(nchildren, children);
}

const lt_layer_ops lt_sequential_ops = {
    .kind = "sequential", .prefix = "seq", .is_container = 1, .build = sequential_build, .bind = sequential_bind,
    .forward = sequential_forward, .backward = sequential_backward, .describe = sequential_describe,
    .nchildren = sequential_nchildren, .child = sequential_child, .free = sequential_free,
    .from_config = sequential_from_config,
};

lt_layer *lt_sequential_new(int n, lt_layer **children) {
  sequential *p = calloc(1, sizeof *p);
  lt_layer **kids = calloc(n > 0 ? n : 1, sizeof *kids);
  int bad = -1;
  for (int i = 0; i < n; i++)
    if (!children[i]) bad = i;
  if (!p || !kids || n < 0 || bad >= 0) {
    for (int i = 0; i < n; i++) lt_layer_free(children[i]);
    free(p);
    free(kids);
    if (bad >= 0) lt_error(LT_EINVAL, "sequential: child %d is NULL", bad + 1);
    else if (n < 0) lt_error(LT_EINVAL, "sequential: negative child count %d", n);
    else lt_error(LT_ENOMEM, "out of memory allocating sequential");
    return NULL;
  }
  memcpy(kids, children, sizeof *kids * n);
  p->n = n;
  p->kids = kids;
  lt_layer *l = lt_layer_alloc(&lt_sequential_ops, p);
  if (!l) {
    for (int i = 0; i < n; i++) lt_layer_free(kids[i]);
    free(kids);
  }
  return l;
}
