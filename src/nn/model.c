/* model.c: building a model from a layer tree (shape checks, automatic names,
 * flat value/grad/mask buffers with parameter views) and running it: forward,
 * backward, masks, the fused training step. The model owns the tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

struct lt_model {
  lt_layer *root;
  int in_ndim, out_ndim;
  int64_t in_shape[LT_MAXDIM], out_shape[LT_MAXDIM];
  lt_tensor *values, *grads, *masks, *buffers;
  lt_param *params, *bufs;
  int nparams, nbufs;
  int training, pruned;
  uint64_t mask_version;
  lt_tensor *x;     // the last input (retained), read by backward
  lt_tensor *y;     // the last output (borrowed from the root)
  lt_tensor *dloss; // loss gradient buffer of step_loss
};

static lt_status bind_tree(lt_model *m, lt_layer *l) {
  l->model = m;
  l->own_mask_version = m->mask_version;
  l->mask_version = &l->own_mask_version;
  l->takes_transposed = l->ops->layout == LT_LAYOUT_ANY; // a container's bind may say so too
  if (l->ops->nchildren)
    for (int i = 0, n = l->ops->nchildren(l); i < n; i++) {
      lt_status st = bind_tree(m, l->ops->child(l, i));
      if (st) return st;
    }
  return l->ops->bind ? l->ops->bind(l) : LT_OK;
}

// Flat buffer of n floats (n may be 0 for a model without parameters).
static lt_tensor *flat(size_t n, float v) {
  lt_tensor *t = lt_tensor_new1((int64_t)n);
  if (t && v != 0.0f) lt_tensor_fill(t, v);
  return t;
}

static lt_status make_views(lt_param *p, int n, lt_tensor *values, lt_tensor *grads, lt_tensor *masks) {
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    p[i].offset = off;
    p[i].value = lt_tensor_view(values, off, p[i].ndim, p[i].shape);
    if (grads) p[i].grad = lt_tensor_view(grads, off, p[i].ndim, p[i].shape);
    if (masks) p[i].mask = lt_tensor_view(masks, off, p[i].ndim, p[i].shape);
    if (!p[i].value || (grads && !p[i].grad) || (masks && !p[i].mask)) return LT_ENOMEM;
    if (!p[i].layer->params && grads) p[i].layer->params = &p[i];
    if (!p[i].layer->buffers && !grads) p[i].layer->buffers = &p[i];
    if (grads) p[i].layer->nparams++;
    else p[i].layer->nbuffers++;
    off += p[i].numel;
  }
  return LT_OK;
}

lt_model *lt_model_new(lt_layer *root, int ndim, const int64_t *input_shape) {
  return lt_model_new_checked(root, ndim, input_shape, NULL, NULL);
}

lt_model *lt_model_new_checked(lt_layer *root, int ndim, const int64_t *input_shape,
                               lt_status (*check)(void *ctx, const lt_param *p, int trainable), void *ctx) {
  if (!root) return NULL;
  char s[96];
  if (ndim < 1 || ndim > LT_MAXDIM - 1) {
    lt_layer_free(root);
    lt_error(LT_ESHAPE, "model input must have 1 to %d dimensions per sample, got %d", LT_MAXDIM - 1, ndim);
    return NULL;
  }
  for (int i = 0; i < ndim; i++)
    if (input_shape[i] <= 0) {
      lt_layer_free(root);
      lt_error(LT_ESHAPE, "model input shape %s has a non-positive size", lt_shape_format(ndim, input_shape, s, sizeof s));
      return NULL;
    }
  lt_model *m = calloc(1, sizeof *m);
  lt_build b;
  lt_build_init(&b);
  b.check = check, b.check_ctx = ctx;
  if (!m) {
    lt_layer_free(root);
    lt_error(LT_ENOMEM, "out of memory building a model");
    return NULL;
  }
  m->root = root;
  m->training = 1;
  m->in_ndim = ndim;
  memcpy(m->in_shape, input_shape, sizeof(int64_t) * ndim);
  const lt_layer *producer = NULL;
  lt_status st = lt_build_child(&b, root, ndim, input_shape, &m->out_ndim, m->out_shape, &producer);
  m->params = b.params, m->nparams = b.np;
  m->bufs = b.bufs, m->nbufs = b.nb;
  if (st) goto fail;
  size_t np = 0, nb = 0;
  for (int i = 0; i < m->nparams; i++) np += m->params[i].numel;
  for (int i = 0; i < m->nbufs; i++) nb += m->bufs[i].numel;
  m->values = flat(np, 0.0f), m->grads = flat(np, 0.0f), m->masks = flat(np, 1.0f);
  if (nb) m->buffers = flat(nb, 0.0f);
  st = LT_ENOMEM;
  if (!m->values || !m->grads || !m->masks || (nb && !m->buffers)) goto fail;
  if (make_views(m->params, m->nparams, m->values, m->grads, m->masks) ||
      make_views(m->bufs, m->nbufs, m->buffers, NULL, NULL))
    goto fail;
  if ((st = bind_tree(m, root))) goto fail;
  return m;
fail:
  if (st == LT_ENOMEM) lt_error(LT_ENOMEM, "out of memory allocating the model's buffers");
  lt_model_free(m);
  return NULL;
}

void lt_model_free(lt_model *m) {
  if (!m) return;
  lt_layer_free(m->root);
  for (int i = 0; i < m->nparams; i++) {
    lt_tensor_release(m->params[i].value);
    lt_tensor_release(m->params[i].grad);
    lt_tensor_release(m->params[i].mask);
  }
  for (int i = 0; i < m->nbufs; i++) lt_tensor_release(m->bufs[i].value);
  free(m->params);
  free(m->bufs);
  lt_tensor_release(m->values);
  lt_tensor_release(m->grads);
  lt_tensor_release(m->masks);
  lt_tensor_release(m->buffers);
  lt_tensor_release(m->x);
  lt_tensor_release(m->dloss);
  free(m);
}

/* ---- accessors ------------------------------------------------------------ */

lt_tensor *lt_model_values(lt_model *m) { return m->values; }
lt_tensor *lt_model_grads(lt_model *m) { return m->grads; }
lt_tensor *lt_model_masks(lt_model *m) { return m->masks; }
lt_tensor *lt_model_buffers(lt_model *m) { return m->buffers; }
lt_layer *lt_model_root(lt_model *m) { return m->root; }
int lt_model_nparams(const lt_model *m) { return m->nparams; }
const lt_param *lt_model_param(const lt_model *m, int i) { return i >= 0 && i < m->nparams ? &m->params[i] : NULL; }
int lt_model_nbuffers(const lt_model *m) { return m->nbufs; }
const lt_param *lt_model_buffer(const lt_model *m, int i) { return i >= 0 && i < m->nbufs ? &m->bufs[i] : NULL; }

const lt_param *lt_model_param_find(const lt_model *m, const char *name) {
  for (int i = 0; i < m->nparams; i++)
    if (!strcmp(m->params[i].name, name)) return &m->params[i];
  for (int i = 0; i < m->nbufs; i++)
    if (!strcmp(m->bufs[i].name, name)) return &m->bufs[i];
  return NULL;
}

size_t lt_model_numel(const lt_model *m, int prunable_only) {
  size_t n = 0;
  for (int i = 0; i < m->nparams; i++)
    if (!prunable_only || m->params[i].prunable) n += m->params[i].numel;
  return n;
}

double lt_model_density(const lt_model *m) {
  double kept = 0, n = 0;
  for (int i = 0; i < m->nparams; i++) {
    const lt_param *p = &m->params[i];
    if (!p->prunable) continue;
    const float *mk = lt_tensor_data(p->mask);
    kept += (double)lt_count_nonzero(mk, p->numel);
    n += (double)p->numel;
  }
  return n > 0 ? kept / n : 1.0;
}

int lt_model_input_shape(const lt_model *m, int64_t shape[LT_MAXDIM]) {
  memcpy(shape, m->in_shape, sizeof(int64_t) * m->in_ndim);
  return m->in_ndim;
}
int lt_model_output_shape(const lt_model *m, int64_t shape[LT_MAXDIM]) {
  memcpy(shape, m->out_shape, sizeof(int64_t) * m->out_ndim);
  return m->out_ndim;
}

void lt_model_train(lt_model *m, int on) { m->training = on != 0; }
int lt_model_is_training(const lt_model *m) { return m->training; }
uint64_t lt_model_mask_version(const lt_model *m) { return m->mask_version; }

/* ---- masks and gradients -------------------------------------------------- */

static void stamp_tree(lt_layer *l, uint64_t v) {
  l->own_mask_version = v;
  if (l->ops->nchildren)
    for (int i = 0, n = l->ops->nchildren(l); i < n; i++) stamp_tree(l->ops->child(l, i), v);
}

static void update_pruned(lt_model *m) {
  m->pruned = 0;
  for (int i = 0; i < m->nparams && !m->pruned; i++) {
    const lt_param *p = &m->params[i];
    const float *mk = lt_tensor_data(p->mask);
    for (size_t j = 0; j < p->numel; j++)
      if (mk[j] == 0.0f) {
        m->pruned = 1;
        break;
      }
  }
}

void lt_model_mask_changed(lt_model *m) {
  m->mask_version++;
  stamp_tree(m->root, m->mask_version);
  update_pruned(m);
}

lt_status lt_model_mask_changed_params(lt_model *m, const int *idx, int n) {
  for (int i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= m->nparams)
      return lt_error(LT_ERANGE, "mask changed: parameter index %d out of range [0, %d)", idx[i], m->nparams);
  m->mask_version++;
  for (int i = 0; i < n; i++) m->params[idx[i]].layer->own_mask_version = m->mask_version;
  update_pruned(m);
  return LT_OK;
}

void lt_model_apply_mask(lt_model *m) {
  float *v = lt_tensor_data(m->values);
  const float *mk = lt_tensor_data(m->masks);
  size_t n = lt_model_numel(m, 0);
  for (size_t i = 0; i < n; i++) v[i] *= mk[i];
  lt_model_mask_changed(m);
}

// A sparse-dispatched layer zeroes only its kept gradient entries when the
// pruned ones are known to be zero (lt_layer_zero_grad_kept): at 5% density
// that is a twentieth of the memset.
static void zero_param_grad(lt_model *m, const lt_param *p) {
  if (p->prunable && lt_layer_zero_grad_kept(p->layer, *p->layer->mask_version)) return;
  memset(lt_tensor_data(p->grad), 0, sizeof(float) * p->numel);
  if (p->prunable) lt_layer_grad_masked(p->layer, *p->layer->mask_version);
}

void lt_model_zero_grad(lt_model *m) {
  for (int i = 0; i < m->nparams; i++) {
    zero_param_grad(m, &m->params[i]);
    m->params[i].layer->grad_overwrite = 0;
  }
}

// The zeroing of lt_model_step_loss: a layer that can overwrite its grads in
// its backward (a gemm with beta 0, a scatter with =) is told to, which saves
// a pass over them; the others are zeroed now.
static void zero_grad_deferred(lt_model *m) {
  for (int i = 0; i < m->nparams; i++) {
    const lt_param *p = &m->params[i];
    if (p->layer->ops->overwrites_grads) p->layer->grad_overwrite = 1;
    else zero_param_grad(m, p);
  }
}

// After the backward: a layer it did not reach (an error) still holds stale grads.
static void zero_grad_leftover(lt_model *m) {
  for (int i = 0; i < m->nparams; i++)
    if (m->params[i].layer->grad_overwrite) zero_param_grad(m, &m->params[i]);
  for (int i = 0; i < m->nparams; i++) m->params[i].layer->grad_overwrite = 0;
}

// Pruned weights get no gradient, so no optimizer can move them or give them momentum.
// A sparse backward never wrote them (lt_layer_grad_clean): nothing to do there.
static void mask_grads(lt_model *m) {
  for (int i = 0; i < m->nparams; i++) {
    const lt_param *p = &m->params[i];
    if (p->prunable && lt_layer_grad_clean(p->layer, *p->layer->mask_version)) continue;
    float *g = lt_tensor_data(p->grad);
    const float *mk = lt_tensor_data(p->mask);
    for (size_t j = 0; j < p->numel; j++) g[j] *= mk[j];
    if (p->prunable) lt_layer_grad_masked(p->layer, *p->layer->mask_version);
  }
}

/* ---- forward / backward --------------------------------------------------- */

int lt_model_takes_transposed(const lt_model *m) { return m->root->takes_transposed; }

lt_status lt_model_forward(lt_model *m, const lt_tensor *x, lt_tensor **y, int train) {
  int64_t F = 1;
  for (int i = 0; i < m->in_ndim; i++) F *= m->in_shape[i];
  // a transposed batch (B, F) goes in as it is where the first layers take it
  int as_is = lt_is_transposed(x) && m->root->takes_transposed && x->shape[0] > 0 && x->shape[1] == F;
  int ok = as_is || (x->ndim == m->in_ndim + 1 && x->shape[0] > 0);
  for (int i = 0; ok && !as_is && i < m->in_ndim; i++) ok = x->shape[i + 1] == m->in_shape[i];
  if (!ok) {
    char s1[96], s2[96];
    return lt_error(LT_ESHAPE, "model input must be (B, %s with B > 0%s, got %s",
                    lt_shape_format(m->in_ndim, m->in_shape, s1, sizeof s1) + 1,
                    lt_is_transposed(x) ? (m->root->takes_transposed ? " (or transposed, features x B)"
                                                                     : "; its first layers do not take a transposed batch")
                                        : "",
                    lt_tensor_shape_str(x, s2, sizeof s2));
  }
  lt_tensor *xc = as_is ? lt_tensor_retain((lt_tensor *)x) : lt_tensor_contiguous((lt_tensor *)x);
  if (!xc) return LT_ENOMEM;
  lt_tensor_release(m->x);
  m->x = xc;
  m->y = NULL;
  lt_tensor *out = NULL;
  lt_status st = m->root->ops->forward(m->root, xc, &out, train);
  if (st) return st;
  m->y = out;
  if (y) *y = out;
  return LT_OK;
}

lt_status lt_model_backward(lt_model *m, const lt_tensor *dy, lt_tensor **dx) {
  char s1[96], s2[96];
  if (!m->y) return lt_error(LT_EINVAL, "model backward needs a forward first");
  if (!lt_tensor_same_shape(dy, m->y))
    return lt_error(LT_ESHAPE, "model backward: gradient %s must match the output %s", lt_tensor_shape_str(dy, s1, sizeof s1),
                    lt_tensor_shape_str(m->y, s2, sizeof s2));
  lt_tensor *dyc = lt_tensor_contiguous((lt_tensor *)dy);
  if (!dyc) return LT_ENOMEM;
  lt_tensor *d = NULL;
  lt_status st = m->root->ops->backward(m->root, dyc, &d, dx != NULL);
  lt_tensor_release(dyc);
  if (st) return st;
  if (m->pruned) mask_grads(m);
  if (dx) *dx = d;
  return LT_OK;
}

static lt_status step_loss(lt_model *m, const lt_tensor *x, const lt_tensor *y, lt_loss_kind kind, double *loss,
                           int64_t *ncorrect) {
  lt_tensor *out;
  lt_status st;
  if ((st = lt_model_forward(m, x, &out, 1))) return st;
  if ((st = lt_layer_buffer(&m->dloss, out->ndim, out->shape))) return st;
  lt_tensor *yc = lt_tensor_contiguous((lt_tensor *)y);
  if (!yc) return LT_ENOMEM;
  if (kind == LT_LOSS_CROSS_ENTROPY) st = lt_cross_entropy(loss, m->dloss, ncorrect, out, yc);
  else if (kind == LT_LOSS_MSE) st = lt_mse(loss, m->dloss, out, yc);
  else st = lt_error(LT_EINVAL, "unknown loss kind %d", (int)kind);
  lt_tensor_release(yc);
  if (st) return st;
  return lt_model_backward(m, m->dloss, NULL);
}

lt_status lt_model_step_loss(lt_model *m, const lt_tensor *x, const lt_tensor *y, lt_loss_kind kind, double *loss,
                             int64_t *ncorrect) {
  lt_status st;
  if (ncorrect) *ncorrect = 0;
  if (kind == LT_LOSS_CROSS_ENTROPY && m->out_ndim != 1)
    return lt_error(LT_ESHAPE, "cross_entropy needs a model with (B, C) outputs");
  if (y->ndim < 1 || y->shape[0] != x->shape[0])
    return lt_error(LT_ESHAPE, "step_loss: targets have %lld rows but inputs have %lld", (long long)y->shape[0],
                    (long long)x->shape[0]);
  zero_grad_deferred(m);
  st = step_loss(m, x, y, kind, loss, ncorrect);
  zero_grad_leftover(m);
  return st;
}

/* The dense gradient (RigL's grow criterion): every dispatching layer runs
 * dense for this one step and the gradients are not masked, so the pruned
 * entries hold dL/dw as if they were alive (at w = 0). Masks, versions and the
 * layers' CSR stay as they were; the layers' own modes are restored. */
lt_status lt_model_step_loss_dense(lt_model *m, const lt_tensor *x, const lt_tensor *y, lt_loss_kind kind,
                                   double *loss) {
  int *modes = calloc((size_t)(m->nparams ? m->nparams : 1), sizeof *modes);
  if (!modes) return lt_error(LT_ENOMEM, "dense gradient: out of memory");
  for (int i = 0; i < m->nparams; i++) {
    lt_layer *l = m->params[i].layer;
    lt_spd_info info;
    modes[i] = -1;
    if (m->params[i].prunable && lt_layer_has_dispatch(l) && !lt_layer_sparse_info(l, &info)) {
      modes[i] = (int)info.mode;
      lt_layer_set_sparse_mode(l, LT_SPARSE_DENSE);
    }
  }
  int pruned = m->pruned;
  m->pruned = 0;
  lt_status st = lt_model_step_loss(m, x, y, kind, loss, NULL);
  m->pruned = pruned;
  for (int i = 0; i < m->nparams; i++)
    if (modes[i] >= 0) lt_layer_set_sparse_mode(m->params[i].layer, modes[i]);
  free(modes);
  return st;
}
