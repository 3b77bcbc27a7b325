/* nn_cost.c: what a model costs per sample: multiply-adds of its prunable
 * weights dense and after masks, parameter counts, and bytes dense and as the
 * sparse export stores them. A prunable weight's every entry is used once per
 * output position (the output's size over its channels: 1 for linear, OH*OW
 * for convolutions), so no layer kind is named here. */
#include <string.h>

#include "nn/nn_impl.h"
#include "nn/export_impl.h"

int lt_layer_has_channel_rows(const lt_layer *l) { return l->ops->channels == LT_CH_DENSE; }

void lt_layer_cost(const lt_layer *l, lt_cost *c) {
  int64_t out = 1;
  for (int i = 1; i < l->out_ndim; i++) out *= l->out_shape[i];
  for (int i = 0; i < l->nparams; i++) {
    const lt_param *p = &l->params[i];
    c->params += (int64_t)p->numel;
    c->bytes += 4 * (int64_t)p->numel;
    if (!p->prunable) {
      c->params_kept += (int64_t)p->numel;
      c->bytes_sparse += 4 * (int64_t)p->numel;
      continue;
    }
    const float *mk = lt_tensor_data(p->mask);
    int64_t nnz = lt_count_nonzero(mk, p->numel);
    size_t nd = lt_delta8_encode(NULL, mk, p->numel), nb = (p->numel + 7) / 8;
    c->params_kept += nnz;
    c->bytes_sparse += 4 * nnz + (int64_t)(nnz == 0 ? 0 : nd <= nb ? nd : nb);
    c->macs += (int64_t)p->numel * out;
    c->macs_kept += nnz * out;
  }
}

static void cost_tree(const lt_layer *l, lt_cost *c) {
  lt_layer_cost(l, c);
  for (int i = 0, n = lt_layer_nchildren(l); i < n; i++) cost_tree(lt_layer_child(l, i), c);
}

void lt_model_cost(const lt_model *m, lt_cost *c) {
  memset(c, 0, sizeof *c);
  cost_tree(lt_model_root((lt_model *)m), c);
}
