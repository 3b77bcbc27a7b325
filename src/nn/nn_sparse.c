/* nn_sparse.c: a layer's side of sparse dispatch: its settings (mode,
 * crossover, frozen), what it did last, and the model's gradient bookkeeping.
 * The state is the layer's lt_spd (l->spd), set by the constructor of a layer
 * whose prunable weight runs on the sparse kernels. */
#include <math.h>

#include "nn/nn_impl.h"

static lt_status layer_spd(const lt_layer *l, lt_spd **d, const char *what) {
  *d = l ? l->spd : NULL;
  if (!*d)
    return lt_error(LT_EINVAL, "%s: %s is a %s layer; only layers with a prunable weight on the sparse kernels "
                    "(linear, conv2d) dispatch", what, l && l->name[0] ? l->name : "this", l ? l->ops->kind : "NULL");
  return LT_OK;
}

int lt_layer_has_dispatch(const lt_layer *l) { return l && l->spd; }

lt_status lt_layer_set_sparse_mode(lt_layer *l, int mode) {
  lt_spd *d;
  lt_status st = layer_spd(l, &d, "sparse mode");
  if (st) return st;
  if (mode < LT_SPARSE_AUTO || mode > LT_SPARSE_FORCE) return lt_error(LT_EINVAL, "sparse mode %d is not 0, 1 or 2", mode);
  lt_spd_set_mode(d, (lt_sparse_mode)mode);
  return LT_OK;
}

lt_status lt_layer_set_crossover(lt_layer *l, double density) {
  lt_spd *d;
  lt_status st = layer_spd(l, &d, "crossover");
  if (st) return st;
  if (!(density <= 1) || isnan(density)) return lt_error(LT_EINVAL, "crossover %g must be a density <= 1 (< 0: default)", density);
  lt_spd_set_crossover(d, density < 0 ? -1 : density);
  return LT_OK;
}

lt_status lt_layer_set_frozen(lt_layer *l, int frozen) {
  lt_spd *d;
  lt_status st = layer_spd(l, &d, "freeze");
  if (st) return st;
  lt_spd_set_frozen(d, frozen);
  return LT_OK;
}

lt_status lt_layer_sparse_info(const lt_layer *l, lt_spd_info *info) {
  lt_spd *d;
  lt_status st = layer_spd(l, &d, "sparse info");
  if (st) return st;
  lt_spd_get_info(d, info);
  return LT_OK;
}

int lt_layer_compact(lt_layer *l, float **val, const float **grad, size_t *nnz) {
  if (!l || !l->spd || !l->mask_version) return 0;
  return lt_spd_compact(l->spd, *l->mask_version, val, grad, nnz);
}

void lt_layer_compact_written(lt_layer *l) {
  if (l && l->spd) lt_spd_values_lag(l->spd);
}

int lt_layer_grad_clean(const lt_layer *l, uint64_t mask_version) { return lt_spd_grad_clean(l->spd, mask_version); }

void lt_layer_grad_masked(lt_layer *l, uint64_t mask_version) { lt_spd_grad_masked(l->spd, mask_version); }

int lt_layer_zero_grad_kept(lt_layer *l, uint64_t mask_version) {
  if (!l->spd || !l->nparams) return 0;
  return lt_spd_zero_grad_kept(l->spd, lt_tensor_data(l->params[0].grad), mask_version);
}
