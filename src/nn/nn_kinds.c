/* nn_kinds.c: the registry of layer kinds that lt_layer_from_config (import,
 * nn.from_arch) can build: one ops table per kind. A new layer kind adds its
 * ops here and to nothing else outside its own file. */
#include <string.h>

#include "nn/nn_impl.h"

extern const lt_layer_ops lt_linear_ops, lt_conv2d_ops, lt_maxpool2d_ops, lt_avgpool2d_ops, lt_global_avgpool_ops,
    lt_relu_ops, lt_flatten_ops, lt_batchnorm_ops, lt_dropout_ops, lt_sequential_ops, lt_residual_ops,
    lt_dwconv2d_ops, lt_concat_ops;

static const lt_layer_ops *const kinds[] = {
    &lt_linear_ops,  &lt_conv2d_ops,    &lt_maxpool2d_ops, &lt_avgpool2d_ops,  &lt_global_avgpool_ops, &lt_relu_ops,
    &lt_flatten_ops, &lt_batchnorm_ops, &lt_dropout_ops,   &lt_sequential_ops, &lt_residual_ops,
    &lt_dwconv2d_ops, &lt_concat_ops,
};
#define NKINDS (int)(sizeof kinds / sizeof *kinds)

const char *lt_layer_kind_at(int i) { return i >= 0 && i < NKINDS ? kinds[i]->kind : NULL; }

static void free_children(int n, lt_layer **children) {
  for (int i = 0; i < n; i++) lt_layer_free(children[i]);
}

lt_layer *lt_layer_from_config(const char *kind, const lt_layer_config *c, int nchildren, lt_layer **children) {
  const lt_layer_ops *ops = NULL;
  for (int i = 0; i < NKINDS && !ops; i++)
    if (kind && !strcmp(kinds[i]->kind, kind)) ops = kinds[i];
  if (nchildren < 0) nchildren = 0;
  if (!ops || !ops->from_config) {
    free_children(nchildren, children);
    lt_error(LT_EINVAL, "unknown layer kind '%s'", kind ? kind : "(null)");
    return NULL;
  }
  if (nchildren && !ops->is_container) {
    free_children(nchildren, children);
    lt_error(LT_EINVAL, "%s: a %s layer has no children, got %d", kind, kind, nchildren);
    return NULL;
  }
  static const lt_layer_config none;
  lt_layer *no_children[1] = {NULL};
  return ops->from_config(c ? c : &none, nchildren, children ? children : no_children);
}
