/* nn_kinds.c: the registry of layer kinds that lt_layer_from_config (import,
 * nn.from_arch) can build: one ops table per kind. A new layer kind adds its
 * ops here and to nothing else outside its own file; kinds of the layers
 * above nn (the graph layers) add themselves with lt_layer_kind_register. */
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
#define NEXTRA 16
static const lt_layer_ops *extra[NEXTRA]; /* registered at start-up, then only read */
static int nextra;

static const lt_layer_ops *kind_at(int i) {
  return i >= 0 && i < NKINDS ? kinds[i] : i >= NKINDS && i < NKINDS + nextra ? extra[i - NKINDS] : NULL;
}

lt_status lt_layer_kind_register(const lt_layer_ops *ops) {
  if (!ops || !ops->kind || !ops->from_config) return lt_error(LT_EINVAL, "layer kind: no kind or from_config");
  for (int i = 0; kind_at(i); i++)
    if (!strcmp(kind_at(i)->kind, ops->kind))
      return kind_at(i) == ops ? LT_OK : lt_error(LT_EINVAL, "layer kind '%s' is registered already", ops->kind);
  if (nextra == NEXTRA) return lt_error(LT_EINVAL, "layer kind '%s': the registry is full", ops->kind);
  extra[nextra++] = ops;
  return LT_OK;
}

const char *lt_layer_kind_at(int i) { return kind_at(i) ? kind_at(i)->kind : NULL; }

static void free_children(int n, lt_layer **children) {
  for (int i = 0; i < n; i++) lt_layer_free(children[i]);
}

lt_layer *lt_layer_from_config(const char *kind, const lt_layer_config *c, int nchildren, lt_layer **children) {
  const lt_layer_ops *ops = NULL;
  for (int i = 0; kind_at(i) && !ops; i++)
    if (kind && !strcmp(kind_at(i)->kind, kind)) ops = kind_at(i);
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
