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
#include "lotto/sparse.h"
#include "lotto/status.h"
#include "lotto/tensor.h"

typedef struct lt_layer lt_layer;
typedef struct lt_model lt_model;
typedef struct lt_param lt_param; /* a named parameter, see lt_model_param */

#define LT_NAME_MAX 64

/* ---- layer constructors ----
 * Each returns a new layer (NULL + lt_errmsg() on a bad argument). The caller
 * owns it until it is passed to a container or to lt_model_new, which take it
 * over; lt_layer_free frees a layer that was never handed on. */
lt_layer *lt_linear_new(int in, int out, int bias);            /* y (B, out) = x (B, in) W^T + b; W (out, in) */
lt_layer *lt_conv2d_new(int cin, int cout, int k, int stride, int padding, int bias); /* W (cout, cin, k, k) */
/* Dense 3x3, stride-1, padding-1 convolutions with 64+ channels in and out (and
 * images large enough) run their forward, input and weight gradients by Winograd
 * F(2x2, 3x3) (2.25x fewer multiply-adds; results differ from the direct sum by
 * float rounding). on = 0 switches every
 * conv2d to the GEMM path, 1 back, -1 only asks; returns the setting before. */
int lt_conv2d_winograd(int on);
/* The largest Winograd output tile: 2 (the default) runs F(2x2, 3x3) only; 4 runs
 * F(4x4, 3x3) for the forward and input gradient of layers whose rows of 4x4 tiles
 * fill whole vectors (28x28, 32x32, ...; 1.8x fewer multiply-adds than F(2x2), but
 * about 16x its rounding error: up to ~6e-6 of the output's scale, where F(2x2) and
 * the GEMM path stay under 1e-6) and F(2x2) elsewhere. Other values only ask;
 * returns the setting before. */
int lt_conv2d_winograd_tile(int m);
/* Depthwise (groups = channels): one k x k filter per channel, W (C, 1, k, k), bias (C). */
lt_layer *lt_dwconv2d_new(int channels, int k, int stride, int padding, int bias);
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
/* out = cat(x, body(x)) along channels (DenseNet); the body keeps the other axes. Takes it. */
lt_layer *lt_concat_new(lt_layer *body);
void lt_layer_free(lt_layer *l); /* NULL is fine; only for layers not owned by a container/model */

/* Sets a user-chosen name (e.g. "fc1"); otherwise the model assigns one.
 * On a container the name becomes a prefix scope ("layer1" -> "layer1.0.conv1"). */
lt_status lt_layer_set_name(lt_layer *l, const char *name);
const char *lt_layer_name(const lt_layer *l);  /* full name after lt_model_new */
const char *lt_layer_kind(const lt_layer *l);  /* "linear", "conv2d", "sequential", ... */
/* Density of the layer's prunable weight under the current mask (1 if none). */
double lt_layer_density(const lt_layer *l);
/* One line without the parameter summary: "Linear(784 -> 300)". Returns what
 * snprintf would (the full length). */
int lt_layer_describe(const lt_layer *l, char *buf, size_t n);
/* The layer's own trainable parameters (inside its model, after lt_model_new;
 * 0 before). Borrowed. */
int lt_layer_nparams(const lt_layer *l);
const lt_param *lt_layer_param(const lt_layer *l, int i);
/* Per-sample input/output shape fixed when the model was built; returns ndim. */
int lt_layer_input_shape(const lt_layer *l, int64_t shape[LT_MAXDIM]);
int lt_layer_output_shape(const lt_layer *l, int64_t shape[LT_MAXDIM]);
/* Children of a container (0 and NULL for leaves). Borrowed. */
int lt_layer_nchildren(const lt_layer *l);
lt_layer *lt_layer_child(const lt_layer *l, int i);
/* 1 when the name was set by lt_layer_set_name (a container's then scopes its
 * children's names), 0 when the model chose it. */
int lt_layer_user_named(const lt_layer *l);
/* The automatic name prefix of the kind ("fc", "conv", "bn"), NULL for
 * containers that do not scope names. */
const char *lt_layer_prefix(const lt_layer *l);

/* ---- layer configuration ----
 * What a layer was constructed with, as a few key/value settings, e.g. a
 * linear layer {in = 784, out = 300, bias = true}, a conv2d {cin, cout, k,
 * stride, padding, bias}, a pool {k, stride}, batchnorm {n}, dropout {p, seed};
 * relu, flatten and the containers have none (their children are the rest).
 * lt_layer_from_config(kind, config, children) builds a layer of any
 * registered kind from them, so export, import and nn.arch/nn.from_arch know
 * no layer by name. Keys are borrowed strings (static in a layer's config). */
#define LT_CONFIG_MAX 12
typedef enum { LT_CONFIG_INT = 0, LT_CONFIG_NUM = 1, LT_CONFIG_BOOL = 2 } lt_config_type;
typedef struct lt_config_entry {
  const char *key;
  lt_config_type type;
  int64_t i;  /* LT_CONFIG_INT and LT_CONFIG_BOOL (0/1) */
  double num; /* LT_CONFIG_NUM */
} lt_config_entry;
typedef struct lt_layer_config {
  int n;
  lt_config_entry e[LT_CONFIG_MAX];
} lt_layer_config;
/* Appenders for callers building a config by hand (a repeated key is an error
 * at lt_layer_from_config; more than LT_CONFIG_MAX entries returns LT_EINVAL). */
lt_status lt_config_add_int(lt_layer_config *c, const char *key, int64_t v);
lt_status lt_config_add_num(lt_layer_config *c, const char *key, double v);
lt_status lt_config_add_bool(lt_layer_config *c, const char *key, int v);
/* The layer's settings into *c (n = 0 for a layer without any). */
void lt_layer_config_get(const lt_layer *l, lt_layer_config *c);
/* A new layer of kind from its settings (missing keys take the constructor's
 * defaults; an unknown key, a wrong type or a bad value is LT_EINVAL naming the
 * key). Containers take nchildren layers (sequential: any number; residual:
 * body [, shortcut]); other kinds none. Takes over the children, also on
 * failure. NULL + lt_errmsg() on error; the caller owns the result. */
lt_layer *lt_layer_from_config(const char *kind, const lt_layer_config *c, int nchildren, lt_layer **children);
/* The registered kinds, for messages and help: i from 0 while non-NULL. */
const char *lt_layer_kind_at(int i);
/* The name given with lt_layer_set_name (not the scoped full name), or NULL. */
const char *lt_layer_given_name(const lt_layer *l);
/* 1 when layers of this kind carry a prunable weight (linear, conv2d). */
int lt_layer_prunable(const lt_layer *l);
/* 1 for containers (sequential, residual): their children are their settings' rest. */
int lt_layer_is_container(const lt_layer *l);
/* The layer's own random generator (dropout draws its masks from one), borrowed;
 * NULL for a layer without one. Checkpoints save and restore its state, so a
 * resumed run draws what the uninterrupted run would have drawn. */
lt_rng *lt_layer_rng(lt_layer *l);

/* ---- sparse dispatch of prunable layers (linear, conv2d) ----
 * Each forward of a layer with a prunable weight runs dense (sgemm) or sparse
 * (CSR kernels) as the dispatch decides (lotto/sparse.h): the layer's own
 * mode, else the global lt_sparse_set_mode, else (auto) its mask density
 * against the crossover. Results agree up to float summation order; pruned
 * weights stay exactly zero and get zero gradient either way. The functions
 * below return LT_EINVAL for layers without dispatch. */
/* mode: 0 auto (follow the global mode), 1 dense, 2 sparse (lt_sparse_mode). */
lt_status lt_layer_set_sparse_mode(lt_layer *l, int mode);
/* A fixed crossover density for this layer (< 0: the machine's, the default). */
lt_status lt_layer_set_crossover(lt_layer *l, double density);
/* Frozen: the weights will not change (inference copies), so the CSR is built once
 * per mask version and never re-read from the dense values. */
lt_status lt_layer_set_frozen(lt_layer *l, int frozen);
/* What the layer's dispatch did last (lotto/sparse.h); LT_EINVAL without dispatch. */
lt_status lt_layer_sparse_info(const lt_layer *l, lt_spd_info *info);
/* 1 when the layer has dispatch (a prunable weight on the sparse kernels). */
int lt_layer_has_dispatch(const lt_layer *l);
/* After a sparse forward and a backward that wrote its weight gradient
 * (lt_model_step_loss): its kept weights and their gradients, compact in position
 * order, for an optimizer step (lt_optim_step_segments); 1 and the pointers (owned
 * by the layer, valid until its next forward), else 0. Once per backward. */
int lt_layer_compact(lt_layer *l, float **val, const float **grad, size_t *nnz);
/* The optimizer wrote the new weights to the compact copy of lt_layer_compact only:
 * the dense weight lags until lt_sparse_sync (lotto/sparse.h). */
void lt_layer_compact_written(lt_layer *l);

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

struct lt_param {
  char name[LT_NAME_MAX];  /* "fc1.weight", "layer1.0.conv1.weight", "bn1.bias" */
  const char *kind;        /* owning layer kind: "linear", "conv2d", "batchnorm" */
  int prunable;            /* 1 for linear/conv weights; 0 for biases and batchnorm */
  int ndim;
  int64_t shape[LT_MAXDIM];
  size_t offset;           /* element offset in the flat buffers */
  size_t numel;
  float init;              /* the value lt_model_init gives it unless drawn (weights): 0, or 1 for
                            * batchnorm gamma and running_var; set by the layer at build */
  int drawn;               /* not prunable, yet drawn by lt_model_init as a weight (shape[1] fan in,
                            * shape[0] fan out): GAT's attention vectors */
  lt_tensor *value, *grad, *mask; /* views into the flat buffers, borrowed */
  lt_layer *layer;         /* owning layer, borrowed */
};

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
/* Weights of linear/conv (and parameters marked drawn) drawn from r (conv fan = channels * k * k), biases 0,
 * batchnorm gamma 1, beta 0, running mean 0, var 1. Then applies the mask
 * (so re-initialising a pruned model keeps pruned weights at zero). */
lt_status lt_model_init(lt_model *m, lt_rng *r, lt_init_kind kind);
/* Parses "glorot_normal", "glorot_uniform", "kaiming_normal", "kaiming_uniform". -1 if unknown. */
int lt_init_kind_parse(const char *s);

/* Forward on x (B, <input shape>) (any strides). *y is (B, <output shape>),
 * borrowed: owned by the model and overwritten by the next forward. train
 * selects batchnorm batch statistics and active dropout. Errors on a wrong
 * input shape, naming it and the expected one. A model that takes transposed
 * input (lt_model_takes_transposed) also takes x as (B, F), F the numel of a
 * sample, with strides (1, ld), ld >= B (lt_dataset_gather_t's layout), as it
 * is: then a gradient asked of the backward comes in that layout too. */
lt_status lt_model_forward(lt_model *m, const lt_tensor *x, lt_tensor **y, int train);
/* 1 when the model's first layers take a transposed input batch without copying it:
 * flatten and elementwise layers pass it on to a linear layer, which runs its product
 * on it directly (a sparse one saves the transpose it would make of a contiguous x). */
int lt_model_takes_transposed(const lt_model *m);
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
/* As lt_model_mask_changed when only the masks of parameters idx[0..n) (0-based
 * lt_model_param indices) were written: the model's version moves, but only
 * those parameters' layers see a new mask, so the others keep their CSR (no
 * rebuild). LT_ERANGE for a bad index. */
lt_status lt_model_mask_changed_params(lt_model *m, const int *idx, int n);
/* Default training mode is on. */
void lt_model_train(lt_model *m, int on);
int lt_model_is_training(const lt_model *m);
/* Indented tree with parameter counts and, once pruned, the weight density:
 *   Linear(784 -> 300, 235,500 params, 8.6% weights). Caller frees. */
char *lt_model_describe(const lt_model *m);

/* ---- shrinking and cost (src/nn/nn_shrink.c, nn_cost.c) ----
 * lt_model_shrink builds a new dense model without the masked model's dead
 * channels (a conv output channel or linear neuron whose weight row has no
 * kept entry): the producer loses the rows, batchnorm and depthwise layers
 * after it the channels, consumers the columns (a flatten's block of spatial
 * columns). Channels joined by a residual add leave only when dead on every
 * branch; concatenated channels are pruned independently; the model's
 * outputs all stay. Weights, masks and batchnorm statistics of the survivors
 * are copied. The caller frees *out. */
typedef struct lt_shrink_info {
  double dropped;        /* largest |bias| a removed channel carried: 0 means the same outputs */
  size_t params_before, params_after;
} lt_shrink_info;
lt_status lt_model_shrink(const lt_model *m, lt_model **out, lt_shrink_info *info);
/* Zeroes in m what its dead channels still carry (a dense layer's bias of a dead
 * row; per-channel values after it: batchnorm's gamma, beta and running mean,
 * a depthwise filter), so that lt_model_shrink gives the same outputs. */
lt_status lt_model_shrink_clean(lt_model *m);

/* Cost of a layer or model per sample, counting the multiply-adds of prunable
 * weights (linear, conv, depthwise conv; batchnorm, pooling and activations
 * are not counted, as ShrinkBench does): macs dense, macs_kept after masks;
 * parameters; bytes of float32 parameters dense, and as lt_model_export
 * stores them (kept values + the smaller of delta8 gaps and a bitmap). */
typedef struct lt_cost {
  int64_t macs, macs_kept, params, params_kept, bytes, bytes_sparse;
} lt_cost;
void lt_layer_cost(const lt_layer *l, lt_cost *c); /* adds l's own parameters (not its children's) to c */
void lt_model_cost(const lt_model *m, lt_cost *c); /* sets c to the whole model's */
/* 1 when l's channels are the rows of its prunable weight (linear, conv2d): what shrinking removes. */
int lt_layer_has_channel_rows(const lt_layer *l);

/* ---- export / import of pruned models (src/nn/nn_export.c, nn_import.c) ----
 * A compact safetensors file for deployment (the "lotto.sparse" format). Each
 * prunable weight is stored as its kept values (F32, row-major order,
 * "<name>.values") and the positions of the kept entries, whichever is smaller:
 *   "<name>.delta"  U8: gaps between consecutive flat positions, from -1; a byte
 *                   b < 255 advances b + 1 and marks a kept entry; 255 advances
 *                   255 and marks nothing (longer gaps);
 *   "<name>.bitmap" U8: bit j of byte i (least significant first) is position 8i + j.
 * Metadata "<name>.layout" says which ("delta8", "bitmap", or "empty": nothing
 * kept, no tensors) and "<name>.nnz" how many are kept. Biases, batchnorm
 * parameters and running statistics are dense F32 under their names. The
 * metadata also holds format = "lotto.sparse", "lotto.arch" (the layer tree as
 * JSON: {"kind", "name" for user names, the layer's config, "children"}) and
 * "lotto.input" (the per-sample shape as a JSON array). */
/* Writes m to path (atomic). meta: NULL or alternating key, value strings
 * ending with NULL, stored as metadata (the keys above win over them). */
lt_status lt_model_export(const lt_model *m, const char *path, const char *const *meta);
/* Rebuilds a model written by lt_model_export: its layers from "lotto.arch",
 * then values, masks and buffers; masks applied. A missing, truncated or
 * corrupt file, or one of another format, is an error whose message names the
 * path and the problem (never a crash). *out is NULL on error; the caller frees
 * it with lt_model_free. */
lt_status lt_model_import(lt_model **out, const char *path);
/* Values, masks and buffers of an existing model from such a file (the
 * parameter names and sizes must match). Checks everything before it writes
 * anything: on error the model is unchanged. */
lt_status lt_model_import_values(lt_model *m, const char *path);

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
/* As lt_model_step_loss (no accuracy), but every prunable weight gets its DENSE
 * gradient: layers run dense for this call and pruned entries are not masked,
 * so grads hold dL/dw at the pruned positions too (RigL's grow criterion).
 * Masks, mask versions and sparse layouts are left as they were; do not step
 * an optimizer on these grads without masking them. */
lt_status lt_model_step_loss_dense(lt_model *m, const lt_tensor *x, const lt_tensor *y, lt_loss_kind kind,
                                   double *loss);

/* ---- evaluation (src/nn/evaluate.c) ---- */
/* Mean loss and accuracy over the data set in eval mode, batch rows at a time
 * (restores the previous mode). Classification (d->nclasses > 0): cross-entropy
 * and fraction correct; regression: MSE and *acc = NAN. */
lt_status lt_model_evaluate(lt_model *m, const lt_dataset *d, int batch, double *loss, double *acc);
/* Same on tensors: x (N, ...), y (N) labels (nclasses > 0) or (N, ...) targets (nclasses == 0). */
lt_status lt_model_evaluate_xy(lt_model *m, const lt_tensor *x, const lt_tensor *y, int nclasses,
                               int batch, double *loss, double *acc);

#endif
