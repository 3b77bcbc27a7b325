/* lotto/nn.h: layers, models with flat parameter buffers, initialisation,
 * losses and evaluation.
 *
 * A model is a tree of layers (sequential and residual containers, linear,
 * conv2d, pools, relu, batchnorm, dropout, flatten) built once for a fixed
 * per-sample input shape. Building checks every shape and lays out all
 * trainable parameters in three flat 1-D buffers with identical offsets:
 * values, grads and masks (masks are float 0/1). Each parameter tensor
 * ("fc1.weight") is a view into those buffers, so a rewind is one copy and
 * masking is one pass. Batchnorm running statistics live in a fourth flat
 * buffer (lt_model_buffers) that is saved but never trained or pruned.
 *
 *   lt_layer *kids[] = { lt_flatten_new(), lt_linear_new(784, 300, 1), lt_relu_new(),
 *                        lt_linear_new(300, 10, 1) };
 *   lt_layer *net = lt_sequential_new(4, kids);          // takes the children
 *   int64_t in[3] = {1, 28, 28};
 *   lt_model *m = lt_model_new(net, 3, in);              // takes net; NULL + lt_errmsg()
 *   lt_rng r; lt_rng_seed(&r, 1, LT_STREAM_INIT);
 *   lt_model_init(m, &r, LT_INIT_GLOROT_NORMAL);
 *   lt_tensor *y;                                        // borrowed, (B, 10)
 *   lt_model_forward(m, x, &y, 1);
 *   double loss; int64_t correct;
 *   lt_model_zero_grad(m);
 *   lt_model_step_loss(m, x, labels, LT_LOSS_CROSS_ENTROPY, &loss, &correct);
 *   lt_model_free(m);
 *
 * Conventions: NCHW layout; backward ACCUMULATES into grads (zeroing is
 * explicit, lt_model_zero_grad); a pruned weight (mask 0) is zero in the
 * forward pass because lt_model_apply_mask zeroes it, and its gradient is
 * zeroed at the end of every backward, so no optimizer moves it. Activation
 * buffers are cached per layer and reallocated only when a batch is larger
 * than any before (or the buffer is held by someone else). */
#ifndef LOTTO_NN_H
#define LOTTO_NN_H

#include <stddef.h>
#include <stdint.h>

#include "lotto/data.h"
#include "lotto/rng.h"
#include "lotto/status.h"
#include "lotto/tensor.h"

typedef struct lt_layer lt_layer;
typedef struct lt_model lt_model;

#define LT_NAME_MAX 64

/* ---- layer constructors ----
 * Each returns a new layer (NULL + lt_errmsg() on a bad argument). The caller
 * owns it until it is passed to a container or to lt_model_new, which take it
 * over; lt_layer_free frees a layer that was never handed on. */
lt_layer *lt_linear_new(int in, int out, int bias);            /* y (B, out) = x (B, in) W^T + b; W (out, in) */
lt_layer *lt_conv2d_new(int cin, int cout, int k, int stride, int padding, int bias); /* W (cout, cin, k, k) */
lt_layer *lt_maxpool2d_new(int k, int stride);                 /* stride <= 0 means stride = k */
lt_layer *lt_avgpool2d_new(int k, int stride);                 /* no padding; floor division */
lt_layer *lt_global_avgpool_new(void);                         /* (B, C, H, W) -> (B, C) */
lt_layer *lt_relu_new(void);
lt_layer *lt_batchnorm_new(int n);      /* over C of (B, C) or (B, C, H, W); momentum 0.1, eps 1e-5 */
lt_layer *lt_dropout_new(float p, uint64_t seed); /* inverted dropout; own rng on LT_STREAM_DROPOUT */
lt_layer *lt_flatten_new(void);                                /* (B, ...) -> (B, prod) */
/* Containers take over their children (also on failure, when they free them). */
lt_layer *lt_sequential_new(int n, lt_layer **children);
/* out = relu(body(x) + shortcut(x)); shortcut NULL means identity. Takes both. */
lt_layer *lt_residual_new(lt_layer *body, lt_layer *shortcut);
void lt_layer_free(lt_layer *l); /* NULL is fine; only for layers not owned by a container/model */

/* Sets a user-chosen name (e.g. "fc1"); otherwise the model assigns one.
 * On a container the name becomes a prefix scope ("layer1" -> "layer1.0.conv1"). */
lt_status lt_layer_set_name(lt_layer *l, const char *name);
const char *lt_layer_name(const lt_layer *l);  /* full name after lt_model_new */
const char *lt_layer_kind(const lt_layer *l);  /* "linear", "conv2d", "sequential", ... */
/* Density of the layer's prunable weight under the current mask (1 if none). */
double lt_layer_density(const lt_layer *l);

/* ---- model ---- */
/* Builds a model for per-sample input shape (e.g. {1, 28, 28} or {784}).
 * Checks shapes (a mismatch names both layers and both shapes), names the
 * layers, allocates the flat buffers (values 0, grads 0, masks 1, running
 * variance 1). Takes over root even on failure. NULL + lt_errmsg() on error.
 * Free with lt_model_free. */
lt_model *lt_model_new(lt_layer *root, int ndim, const int64_t *input_shape);
void lt_model_free(lt_model *m); /* NULL is fine */

/* Flat 1-D buffers, borrowed (the model owns them; retain to keep). Same length
 * and offsets for values, grads and masks. */
lt_tensor *lt_model_values(lt_model *m);
lt_tensor *lt_model_grads(lt_model *m);
lt_tensor *lt_model_masks(lt_model *m);
/* Non-trainable state (batchnorm running mean/var), may be NULL when there is none. */
lt_tensor *lt_model_buffers(lt_model *m);

typedef struct lt_param {
  char name[LT_NAME_MAX];  /* "fc1.weight", "layer1.0.conv1.weight", "bn1.bias" */
  const char *kind;        /* owning layer kind: "linear", "conv2d", "batchnorm" */
  int prunable;            /* 1 for linear/conv weights; 0 for biases and batchnorm */
  int ndim;
  int64_t shape[LT_MAXDIM];
  size_t offset;           /* element offset in the flat buffers */
  size_t numel;
  lt_tensor *value, *grad, *mask; /* views into the flat buffers, borrowed */
  lt_layer *layer;         /* owning layer, borrowed */
} lt_param;

/* Parameters in forward order. Borrowed; valid for the model's lifetime. */
int lt_model_nparams(const lt_model *m);
const lt_param *lt_model_param(const lt_model *m, int i);
const lt_param *lt_model_param_find(const lt_model *m, const char *name); /* NULL if absent */
/* Non-trainable buffers ("bn1.running_mean", "bn1.running_var"); value views into lt_model_buffers.
 * grad and mask are NULL, prunable 0. */
int lt_model_nbuffers(const lt_model *m);
const lt_param *lt_model_buffer(const lt_model *m, int i);

/* Element counts: all parameters, or only prunable weights. */
size_t lt_model_numel(const lt_model *m, int prunable_only);
/* Fraction of prunable weights whose mask is 1. */
double lt_model_density(const lt_model *m);
/* Per-sample input/output shape fixed at build time. Returns ndim; shape gets ndim values. */
int lt_model_input_shape(const lt_model *m, int64_t shape[LT_MAXDIM]);
int lt_model_output_shape(const lt_model *m, int64_t shape[LT_MAXDIM]);
lt_layer *lt_model_root(lt_model *m);

typedef enum {
  LT_INIT_GLOROT_NORMAL = 0,  /* N(0, 2/(fan_in+fan_out)) */
  LT_INIT_GLOROT_UNIFORM,     /* U(-a, a), a = sqrt(6/(fan_in+fan_out)) */
  LT_INIT_KAIMING_NORMAL,     /* N(0, 2/fan_in) (gain sqrt 2) */
  LT_INIT_KAIMING_UNIFORM,    /* U(-a, a), a = sqrt(6/fan_in) */
} lt_init_kind;
/* Weights of linear/conv drawn from r (conv fan = channels * k * k), biases 0,
 * batchnorm gamma 1, beta 0, running mean 0, var 1. Then applies the mask
 * (so re-initialising a pruned model keeps pruned weights at zero). */
lt_status lt_model_init(lt_model *m, lt_rng *r, lt_init_kind kind);
/* Parses "glorot_normal", "glorot_uniform", "kaiming_normal", "kaiming_uniform". -1 if unknown. */
int lt_init_kind_parse(const char *s);

/* Forward on x (B, <input shape>) (any strides). *y is (B, <output shape>),
 * borrowed: owned by the model and overwritten by the next forward. train
 * selects batchnorm batch statistics and active dropout. Errors on a wrong
 * input shape, naming it and the expected one. */
lt_status lt_model_forward(lt_model *m, const lt_tensor *x, lt_tensor **y, int train);
/* Backward of the last forward: dy has the output's shape. ACCUMULATES into
 * grads, then zeroes the gradients of pruned weights. dx (borrowed, may be
 * NULL to skip computing it) gets the input gradient. */
lt_status lt_model_backward(lt_model *m, const lt_tensor *dy, lt_tensor **dx);
void lt_model_zero_grad(lt_model *m);
/* values *= masks (one pass) and bumps the mask version. */
void lt_model_apply_mask(lt_model *m);
/* Tells the model its masks were written (sparse kernels rebuild lazily). */
void lt_model_mask_changed(lt_model *m);
uint64_t lt_model_mask_version(const lt_model *m);
/* Default training mode is on. */
void lt_model_train(lt_model *m, int on);
int lt_model_is_training(const lt_model *m);
/* Indented tree with parameter counts and, once pruned, the weight density:
 *   Linear(784 -> 300, 235,500 params, 8.6% weights). Caller frees. */
char *lt_model_describe(const lt_model *m);

/* ---- losses (src/nn/loss.c) ---- */
typedef enum { LT_LOSS_CROSS_ENTROPY = 0, LT_LOSS_MSE = 1 } lt_loss_kind;
int lt_loss_kind_parse(const char *s); /* "cross_entropy"/"ce", "mse"; -1 if unknown */

/* Raw kernel: softmax cross-entropy, mean over the batch, numerically stable.
 * logits (B, C); labels (B) class ids as floats 0..C-1; dlogits (B, C) or NULL,
 * may alias logits; ncorrect may be NULL (argmax == label, first max wins).
 * Returns LT_ERANGE if a label is not an integer in [0, C). */
lt_status lt_cross_entropy_f(double *loss, float *dlogits, int64_t *ncorrect,
                             const float *logits, const float *labels, int64_t B, int64_t C);
/* Raw kernel: mean squared error over all n elements; dpred (n) or NULL. */
lt_status lt_mse_f(double *loss, float *dpred, const float *pred, const float *target, int64_t n);
/* Tensor forms: logits (B, C), labels (B) [or (B, 1)]; dlogits same shape as logits or NULL. */
lt_status lt_cross_entropy(double *loss, lt_tensor *dlogits, int64_t *ncorrect,
                           const lt_tensor *logits, const lt_tensor *labels);
/* pred and target have the same numel; dpred same shape as pred or NULL. */
lt_status lt_mse(double *loss, lt_tensor *dpred, const lt_tensor *pred, const lt_tensor *target);

/* Fused training step (no optimizer): zero_grad, forward in train mode, loss,
 * backward. x (B, ...), y (B) labels for cross-entropy or (B, ...) targets
 * for MSE. ncorrect may be NULL (always 0 for MSE). */
lt_status lt_model_step_loss(lt_model *m, const lt_tensor *x, const lt_tensor *y, lt_loss_kind kind,
                             double *loss, int64_t *ncorrect);

/* ---- evaluation (src/nn/evaluate.c) ---- */
/* Mean loss and accuracy over the data set in eval mode, batch rows at a time
 * (restores the previous mode). Classification (d->nclasses > 0): cross-entropy
 * and fraction correct; regression: MSE and *acc = NAN. */
lt_status lt_model_evaluate(lt_model *m, const lt_dataset *d, int batch, double *loss, double *acc);
/* Same on tensors: x (N, ...), y (N) labels (nclasses > 0) or (N, ...) targets (nclasses == 0). */
lt_status lt_model_evaluate_xy(lt_model *m, const lt_tensor *x, const lt_tensor *y, int nclasses,
                               int batch, double *loss, double *acc);

/* ======================================================================
 * For layer implementers (src/nn_*.c) and kernels that dispatch per layer
 * (sparse). Users need nothing below.
 * ====================================================================== */

typedef struct lt_build lt_build; /* build context, see lt_build_param */

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
} lt_layer_ops;

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
};

/* Declares a parameter of l during build: suffix "weight"/"bias"; trainable 0
 * declares a non-trainable buffer instead (zero-filled; bind() may set it). */
lt_status lt_build_param(lt_build *b, lt_layer *l, const char *suffix, int ndim, const int64_t *shape,
                         int prunable, int trainable);
/* Recurses into a child during build (containers use it so naming and layout stay in order). */
lt_status lt_build_child(lt_build *b, lt_layer *child, int ndim, const int64_t *in, int *out_ndim,
                         int64_t *out, const lt_layer **producer);
/* Formats "fc2 (linear 300 -> 100) expects input (300) but conv1 produces (64, 26, 26)". */
lt_status lt_layer_shape_error(const lt_layer *l, const char *expected, const lt_layer *producer, int ndim,
                               const int64_t *in);
/* Allocates a layer with ops and priv (takes priv; frees it with free() on failure). */
lt_layer *lt_layer_alloc(const lt_layer_ops *ops, void *priv);
/* Ensures *buf is a contiguous tensor of the given shape. Reuses its storage
 * (reshaping in place) while that is large enough and not shared; otherwise
 * releases it and allocates a new one. */
lt_status lt_layer_buffer(lt_tensor **buf, int ndim, const int64_t *shape);
/* The same for a transposed activation (B, F) with row stride ld >= B
 * (storage F * ld floats, 64-byte aligned). (src/nn/nn_linear.c) */
lt_status lt_layer_buffer_t(lt_tensor **buf, int64_t B, int64_t F, int64_t ld);
/* "(64, 26, 26)" from a shape. */
char *lt_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);

/* im2col for NCHW (src/im2col.c): one image x (C, H, W) -> cols (C*k*k, OH*OW), zero padding. */
void lt_im2col(float *cols, const float *x, int C, int H, int W, int k, int stride, int pad, int OH, int OW);
/* Adjoint: accumulates cols (C*k*k, OH*OW) into dx (C, H, W) (dx not zeroed here). */
void lt_col2im(float *dx, const float *cols, int C, int H, int W, int k, int stride, int pad, int OH, int OW);

/* ---- sparse dispatch of prunable layers (linear, conv2d) ----
 * Each forward of a linear or conv2d layer runs dense (sgemm) or sparse (CSR
 * kernels) as lt_spd_prepare decides (lotto/sparse.h): the layer's own mode,
 * else the global lt_sparse_set_mode, else (auto) its mask density against the
 * crossover. Results agree up to float summation order; pruned weights stay
 * exactly zero and get zero gradient either way. The functions below return
 * LT_EINVAL for layers of other kinds. */
typedef struct lt_spd lt_spd;
/* The layer's sparse state, borrowed; NULL for kinds without a prunable weight. */
lt_spd *lt_layer_sparse_state(const lt_layer *l);
/* mode: 0 auto (follow the global mode), 1 dense, 2 sparse (lt_sparse_mode). */
lt_status lt_layer_set_sparse_mode(lt_layer *l, int mode);
/* A fixed crossover density for this layer (< 0: the machine's, the default). */
lt_status lt_layer_set_crossover(lt_layer *l, double density);
/* Frozen: the weights will not change (inference copies), so the CSR is built once
 * per mask version and never re-read from the dense values. */
lt_status lt_layer_set_frozen(lt_layer *l, int frozen);
/* Geometry of a linear layer (in, out, bias) or a conv2d (cin, cout, k, stride,
 * padding, bias) as given to its constructor; LT_EINVAL for other kinds. */
lt_status lt_linear_config(const lt_layer *l, int *in, int *out, int *bias);
lt_status lt_conv2d_config(const lt_layer *l, int *cin, int *cout, int *k, int *stride, int *padding, int *bias);
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
/* For nn_linear.c: the conv2d half of lt_layer_sparse_state (NULL for other kinds). */
lt_spd *lt_conv2d_sparse_state(const lt_layer *l);

#endif
