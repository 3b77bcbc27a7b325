/* nn_impl.h: engine-internal (not installed): what a layer implementation
 * (src/nn/nn_*.c, src/graph/) needs: the ops table, the layer struct, the
 * build context, activation buffers, im2col and the model's side of sparse
 * dispatch. Users of the engine need nothing here (lotto/nn.h). */
#ifndef LOTTO_NN_IMPL_H
#define LOTTO_NN_IMPL_H

#include "lotto/nn.h"
#include "sparse/sparse_dispatch.h"

/* The build context (nn_build.c): the parameters declared so far and the
 * naming scope. The model owns params and bufs once the build is over. */
#define LT_BUILD_COUNTERS 24
typedef struct lt_build {
  lt_param *params, *bufs;
  int np, capp, nb, capb;
  char scope[LT_NAME_MAX]; /* "" or "layer1.0." */
  struct { const char *prefix; int count; } cnt[LT_BUILD_COUNTERS];
  int ncnt;
  /* Optional: called for every parameter as it is declared, before anything is
   * allocated for it (lt_model_import checks it against the file). */
  lt_status (*check)(void *ctx, const lt_param *p, int trainable);
  void *check_ctx;
} lt_build;
void lt_build_init(lt_build *b);

typedef struct lt_layer_ops {
  const char *kind;      /* "linear", ... */
  const char *prefix;    /* automatic name prefix: "fc", "conv", "bn", "relu", ... */
  int is_container;      /* sequential/residual: children named within it */
  /* Build: given the per-sample input shape (ndim, in), sets the output
   * shape and declares parameters with lt_build_param. *producer is the
   * leaf layer that produced `in` (NULL: the model input); a leaf sets it
   * to itself. Mismatches return lt_layer_shape_error(...). */
  lt_status (*build)(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim,
                     int64_t *out, const lt_layer **producer);
  /* Called once the flat buffers exist (l->params points at the layer's entries). May be NULL. */
  lt_status (*bind)(lt_layer *l);
  /* x is (B, in...), contiguous (or transposed, see LT_LAYOUT_*, when the
   * ops allow it); *y borrowed (layer cache, or x itself). */
  lt_status (*forward)(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train);
  /* dy (B, out...) in the layout of y; accumulates parameter grads; sets *dx
   * (borrowed, in the layout of x) only when need_dx, else leaves it NULL.
   * Uses what forward cached. */
  lt_status (*backward)(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx);
  /* Appends a one-line description ("Linear(784 -> 300") without the
   * parameter summary, which the model adds. */
  int (*describe)(const lt_layer *l, char *buf, size_t n);
  /* Children for containers (NULL for leaves). */
  int (*nchildren)(const lt_layer *l);
  lt_layer *(*child)(const lt_layer *l, int i);
  void (*free)(lt_layer *l); /* frees private state and children, not l itself */
  /* The backward honours lt_layer.grad_overwrite (see there). */
  int overwrites_grads;
  /* Which activations the forward takes besides contiguous ones (LT_LAYOUT_*). */
  int layout;
  /* rectifier: the layer is y = max(x, 0) elementwise (relu). fuses_relu: the
   * layer can store its y rectified (emit_rectified), so that a rectifier after
   * it in a sequential only passes y on (input_rectified). */
  int rectifier, fuses_relu;
  /* Appends the layer's settings to c with lt_config_add_* (lt_layer_config_get,
   * export, nn.arch). NULL: the layer has none. */
  void (*config)(const lt_layer *l, lt_layer_config *c);
  /* A new layer of this kind from settings (lt_layer_from_config, import,
   * nn.from_arch): reads them with lt_config_keys/_int/_num/_bool, takes the
   * children (only containers get any) and frees them on failure. */
  lt_layer *(*from_config)(const lt_layer_config *c, int nchildren, lt_layer **children);
  /* Layers of this kind carry a prunable weight (lt_layer_prunable). */
  int prunable;
  /* The layer's own generator (lt_layer_rng), part of a run's state. NULL: none. */
  lt_rng *(*rng)(lt_layer *l);
  /* How the layer's output channels (first per-sample axis) follow from its
   * input's, for shrinking (nn_shrink.c) and cost (nn_cost.c): LT_CH_PASS
   * (no parameters; channel c out is channel c in, or a block of them when
   * the layer widens the axis, as flatten does), LT_CH_DENSE (a weight
   * (out, in, ...) whose rows are output channels; ch_in/ch_out name the
   * config keys of the two counts) or LT_CH_EACH (every parameter and buffer
   * is per channel, in = out; ch_in names the count's key). */
  int channels;
  const char *ch_in, *ch_out;
  /* Containers: how children combine (LT_JOIN_CHAIN one after another,
   * LT_JOIN_ADD branches on the same input added, a missing second branch
   * being the identity; LT_JOIN_CAT cat(x, child(x)) along channels). */
  int join;
} lt_layer_ops;

enum { LT_CH_PASS = 0, LT_CH_DENSE = 1, LT_CH_EACH = 2 };
enum { LT_JOIN_CHAIN = 0, LT_JOIN_ADD = 1, LT_JOIN_CAT = 2 };

/* The kinds lt_layer_from_config can build: one entry per ops table in
 * nn_kinds.c. A new layer adds its ops there; nothing else names it. Layers
 * above nn (graph) cannot be named there: they register their kinds with
 * this (idempotent; call at start-up, before threads). */
lt_status lt_layer_kind_register(const lt_layer_ops *ops);

/* Reading settings in a from_config (src/nn/nn_config.c). Each error names the
 * kind and the key. */
#define LT_CONFIG_REQUIRED INT64_MIN /* as def: the key must be present */
/* c holds only keys from the NULL-terminated list, each at most once. */
lt_status lt_config_keys(const lt_layer_config *c, const char *kind, const char *const *keys);
/* An integer (an integral number is fine) in [lo, hi] at key, or def when absent. */
lt_status lt_config_int(const lt_layer_config *c, const char *kind, const char *key, int64_t lo, int64_t hi,
                        int64_t def, int64_t *v);
/* A number (an integer is fine) in [lo, hi) at key, or def when absent (NAN: required). */
lt_status lt_config_num(const lt_layer_config *c, const char *kind, const char *key, double lo, double hi, double def,
                        double *v);
/* A boolean at key, or def when absent (def < 0: required). */
lt_status lt_config_bool(const lt_layer_config *c, const char *kind, const char *key, int def, int *v);

/* Transposed activations: a 2-D (B, F) tensor with strides (1, ld), ld >= B,
 * i.e. F rows of ld floats, one per feature, as the sparse kernels use them.
 * Between adjacent layers that can take them, they save a transpose on each
 * side of every sparse layer. The invariant: a gradient has the layout of the
 * activation it belongs to (dy that of y, dx that of x). */
enum {
  LT_LAYOUT_CONTIGUOUS = 0, /* only contiguous inputs (the default) */
  LT_LAYOUT_ANY = 1,        /* takes transposed x too (linear); its y is its own choice */
  LT_LAYOUT_SAME = 2,       /* elementwise (relu): y and dx keep x's layout */
};
/* t is a transposed activation (see above). */
static inline int lt_is_transposed(const lt_tensor *t) {
  return t->ndim == 2 && t->stride[0] == 1 && t->stride[1] != 1;
}

struct lt_layer {
  const lt_layer_ops *ops;
  char name[LT_NAME_MAX];   /* full hierarchical name after build */
  int user_named;
  char given[LT_NAME_MAX / 2]; /* the name lt_layer_set_name got (user_named) */
  lt_model *model;          /* set by lt_model_new */
  lt_param *params;         /* this layer's trainable params (inside the model's array) */
  int nparams;
  lt_param *buffers;        /* this layer's non-trainable buffers */
  int nbuffers;
  int in_ndim, out_ndim;    /* per-sample shapes fixed at build */
  int64_t in_shape[LT_MAXDIM], out_shape[LT_MAXDIM];
  int has_params;           /* this layer or a descendant has trainable params */
  void *priv;               /* the layer's private state */
  /* Set by lt_model_step_loss instead of zeroing the layer's gradients (only
   * when ops->overwrites_grads): they hold stale values, and the backward
   * WRITES them rather than accumulating, then clears the flag. A layer whose
   * backward did not run (an error) is zeroed by the model afterwards. */
  int grad_overwrite;
  /* Set by the container at bind: whatever consumes this layer's y takes
   * transposed activations, so the layer may produce y transposed (and then
   * gets dy transposed in the backward). */
  int emit_transposed;
  /* Set at bind: the forward takes a transposed x as it is (ops->layout is
   * LT_LAYOUT_ANY, or a sequential whose first children pass it on to one that
   * does); the model then takes a transposed input batch without copying it. */
  int takes_transposed;
  /* Set by the container at bind, in pairs: emit_rectified on a fuses_relu layer
   * followed by a rectifier, which gets input_rectified. The first stores its y
   * as max(y, 0) (relu's own x > 0 ? x : 0, the same bits); the second passes it
   * on as its output and reads it for its backward. */
  int emit_rectified, input_rectified;
  /* Set by the container at bind, in pairs, the other way: pass_grad on a rectifier
   * followed by a fuses_relu layer, which gets mask_dx. The second stores its input
   * gradient as x > 0 ? dx : 0 (its x is the rectifier's output: the rectifier's own
   * backward, the same bits); the first passes dy on as its dx. */
  int pass_grad, mask_dx;
  /* The layer's sparse dispatch, set by the constructor of a layer whose
   * prunable weight runs on the sparse kernels (linear, conv2d); NULL for
   * the rest. The layer frees it. */
  lt_spd *spd;
  /* The mask version of this layer's parameters, set at bind to point at
   * own_mask_version: a layer reads it through this pointer, never by calling
   * the model. The model gives it its (global) version whenever this layer's
   * masks change (all layers on lt_model_mask_changed, only the named ones on
   * lt_model_mask_changed_params), so a layer whose mask stayed keeps its CSR. */
  const uint64_t *mask_version;
  uint64_t own_mask_version;
};

/* lt_model_new with every parameter passed to check(ctx, p, trainable) as the layers
 * declare it; a failing check stops the build before the model's buffers (or a
 * layer's own) are allocated. Takes root, as lt_model_new does. */
lt_model *lt_model_new_checked(lt_layer *root, int ndim, const int64_t *input_shape,
                               lt_status (*check)(void *ctx, const lt_param *p, int trainable), void *ctx);

/* Declares a parameter of l during build: suffix "weight"/"bias"; trainable 0
 * declares a non-trainable buffer instead (zero-filled; bind() may set it). */
lt_status lt_build_param(lt_build *b, lt_layer *l, const char *suffix, int ndim, const int64_t *shape,
                         int prunable, int trainable);
/* Sets the value lt_model_init gives the parameter (trainable) or buffer
 * (!trainable) declared last; 0 unless set. */
void lt_build_set_init(lt_build *b, int trainable, float value);
/* Marks the trainable parameter declared last as drawn by lt_model_init like a weight (lt_param.drawn). */
void lt_build_set_drawn(lt_build *b);
/* The build of a layer y (out) = x (in) W^T (+ b): checks the input is (in),
 * declares "weight" (out, in), prunable, and "bias" (out) when bias, and makes
 * the layer the producer of its (out) output (linear, gcn). */
lt_status lt_build_dense(lt_build *b, lt_layer *l, int in, int out, int bias, int ndim, const int64_t *in_shape,
                         int *out_ndim, int64_t *out_shape, const lt_layer **producer);
/* Recurses into a child during build (containers use it so naming and layout stay in order). */
lt_status lt_build_child(lt_build *b, lt_layer *child, int ndim, const int64_t *in, int *out_ndim,
                         int64_t *out, const lt_layer **producer);
/* Formats "fc2 (linear 300 -> 100) expects input (300) but conv1 produces (64, 26, 26)". */
lt_status lt_layer_shape_error(const lt_layer *l, const char *expected, const lt_layer *producer, int ndim,
                               const int64_t *in);
/* The build check of a layer on feature vectors: LT_OK when the per-sample
 * input is (n), else lt_layer_shape_error with "(n)". */
lt_status lt_layer_expect_features(const lt_layer *l, int n, const lt_layer *producer, int ndim, const int64_t *in);
/* Allocates a layer with ops and priv (takes priv; frees it with free() on failure). */
lt_layer *lt_layer_alloc(const lt_layer_ops *ops, void *priv);
/* Ensures *buf is a contiguous tensor of the given shape. Reuses its storage
 * (reshaping in place) while that is large enough and not shared; otherwise
 * releases it and allocates a new one. */
lt_status lt_layer_buffer(lt_tensor **buf, int ndim, const int64_t *shape);
/* The same for a transposed activation (B, F) with row stride ld >= B
 * (storage F * ld floats, 64-byte aligned). (src/nn/nn_linear.c) */
lt_status lt_layer_buffer_t(lt_tensor **buf, int64_t B, int64_t F, int64_t ld);

/* im2col for NCHW (src/nn/im2col.c): one image x (C, H, W) -> cols (C*k*k, OH*OW), zero padding. */
void lt_im2col(float *cols, const float *x, int C, int H, int W, int k, int stride, int pad, int OH, int OW);
/* Adjoint: accumulates cols (C*k*k, OH*OW) into dx (C, H, W) (dx not zeroed here). */
void lt_col2im(float *dx, const float *cols, int C, int H, int W, int k, int stride, int pad, int OH, int OW);

/* For the model (model.c). A sparse backward writes a weight gradient on the
 * mask's pattern only, so once its pruned entries are zero they stay zero.
 * clean: they are zero for this mask version (masking would change nothing).
 * masked: the caller has just zeroed them (masked, or zeroed the whole gradient).
 * zero_grad_kept: zeroes the kept entries when the pruned ones are known zero
 * and returns 1; 0 means the caller must zero the whole gradient. Code that
 * writes gradients itself must zero_grad before the next backward. */
int lt_layer_grad_clean(const lt_layer *l, uint64_t mask_version);
void lt_layer_grad_masked(lt_layer *l, uint64_t mask_version);
int lt_layer_zero_grad_kept(lt_layer *l, uint64_t mask_version);

#endif
