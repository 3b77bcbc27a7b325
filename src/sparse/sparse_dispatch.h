/* sparse_dispatch.h: engine-internal (not installed): a prunable layer's
 * dispatch state (lt_spd) between dense sgemm and the CSR kernels, used by
 * the layers in src/nn/ (see the overview of dispatch in lotto/sparse.h). */
#ifndef LOTTO_SPARSE_DISPATCH_H
#define LOTTO_SPARSE_DISPATCH_H

#include "lotto/sparse.h"

/* Bumps on every change of the crossover table (sparse_crossover.c), so a
 * layer can cache its lookup. */
unsigned lt_sparse_crossover_generation(void);

/* Per-layer state. Caller (the layer) frees with lt_spd_free. */
typedef struct lt_spd lt_spd;
lt_spd *lt_spd_new(void); /* NULL on ENOMEM */
void lt_spd_free(lt_spd *d); /* NULL is fine */
void lt_spd_set_mode(lt_spd *d, lt_sparse_mode mode); /* AUTO: follow the global mode */
void lt_spd_set_crossover(lt_spd *d, double density); /* < 0: the machine's (default) */
void lt_spd_set_frozen(lt_spd *d, int frozen);        /* 1: values never re-read after a build */
void lt_spd_get_info(const lt_spd *d, lt_spd_info *info);
/* The layer says whether its next forwards are inference (no backward follows):
 * then auto runs a frozen layer's mask of 1:4, 2:4 or 4:8 on the n:m forward,
 * which beats sgemm from LT_NM_AUTO_MIN_COLS columns on
 * (examples/bench_structured.lua). Training keeps the dense/CSR choice (the n:m
 * kernels have no fast backward), and so does a layer that is not frozen: re-reading
 * its weights into the n:m form at every forward costs what the kernel saves. */
void lt_spd_set_inference(lt_spd *d, int inference);
/* inference: 0 training; LT_SPD_INFER_BATCH, the product's columns are the batch (linear);
 * LT_SPD_INFER_IMAGE, the columns are one image's pixels and the layer runs image by image
 * (conv2d), where n:m wins only up to LT_NM_AUTO_MAX_IMAGE_COLS pixels: past it sgemm takes
 * several images at once while the n:m path unfolds each (measured on an idle machine, 1 thread,
 * batch 64, forward 2:4 / dense: 64 channels at 32x32 1.16, 128 at 16x16 1.02, 256 at 8x8 0.83). */
#define LT_SPD_INFER_BATCH 1
#define LT_SPD_INFER_IMAGE 2
#define LT_NM_AUTO_MAX_IMAGE_COLS 64
#define LT_NM_AUTO_MIN_COLS 32
/* ... and from this many output rows: with fewer, a convolution's per-image im2col
 * and the kernel's per-block overhead outweigh the halved multiply-adds (measured:
 * 8 to 32 output channels lose by 10-30%, 64 break even). */
#define LT_NM_AUTO_MIN_ROWS 64

/* A dense backward wrote the whole weight gradient. */
void lt_spd_grad_dirty(lt_spd *d);
/* A sparse backward writes a weight gradient on the mask's pattern only, so
 * once its pruned entries are zero they stay zero. clean: they are zero for
 * this mask version (masking would change nothing); masked: the caller has
 * just zeroed them; zero_grad_kept: zeroes the kept entries of grad (rows,
 * cols) when the pruned ones are known zero and returns 1; 0 means the caller
 * must zero the whole gradient. NULL d: 0 / nothing. */
int lt_spd_grad_clean(const lt_spd *d, uint64_t mask_version);
void lt_spd_grad_masked(lt_spd *d, uint64_t mask_version);
int lt_spd_zero_grad_kept(lt_spd *d, float *grad, uint64_t mask_version);
/* The next lt_spd_linear_backward overwrites dw (its old values are stale). */
void lt_spd_grad_overwrite(lt_spd *d);
/* Decides for this call and readies the CSR (build on a new mask version, else
 * refresh the values unless frozen). *sparse gets the decision. */
lt_status lt_spd_prepare(lt_spd *d, const float *w,    // w is (rows, cols)
                         const float *mask,            // mask is (rows, cols)
                         int rows, int cols, int n, uint64_t mask_version, int *sparse);
/* The kept weights and their gradient, compact in position order (the CSR's
 * values and the gradient on its pattern), when both equal the dense ones: the
 * values were read at this mask version's last forward, the gradient written
 * (not added) by the backward after it, and nothing asked since. 1 and the
 * pointers then (the caller may write new values to *val, the dense ones too),
 * else 0. */
int lt_spd_compact(lt_spd *d, uint64_t mask_version, float **val, const float **grad, size_t *nnz);
/* The caller wrote new values to the compact copy (*val of lt_spd_compact) and not
 * to the dense weight: the dense weight lags until lt_sparse_sync (or the layer's
 * next mask version, dense forward or free, which write it back first). */
void lt_spd_values_lag(lt_spd *d);
/* The transpose of the last prepare's CSR (built or refreshed on demand). Borrowed. */
lt_status lt_spd_transposed(lt_spd *d, const lt_csr **at);
/* Linear layer on activations after a sparse prepare: y = x W^T + bias
 * forward (x kept for the weight gradient of the backward that follows);
 * backward dw += dy^T . x on the pattern (NULL to skip), dx = dy . W
 * overwritten (NULL to skip). After lt_spd_grad_overwrite, dw is written
 * instead: dy^T . x on the pattern, zero elsewhere (a pass over the pattern
 * only when the rest is known zero). */
/* The same with either layout on each side: an activation pointer with ld == 0
 * is (B, features) contiguous; with ld > 0 it is transposed, (features, ld)
 * with ld >= B, and is used as it is (a transposed x is borrowed until the
 * backward). Transposed operands save the transposes into scratch. relu: y is
 * stored rectified (x > 0 ? x : 0), for a layer that does the next one's work
 * (lt_layer.emit_rectified). */
lt_status lt_spd_linear_forward_ld(lt_spd *d, float *y, int y_ld, const float *x, int x_ld, const float *bias, int B,
                                   int relu);
/* mask_dx: dx is stored as x > 0 ? dx : 0 with x the forward's input, for a layer whose
 * input is a rectifier's output and that does that rectifier's backward (lt_layer.mask_dx). */
lt_status lt_spd_linear_backward_ld(lt_spd *d, float *dx, int dx_ld, float *dw, const float *dy, int dy_ld, int B,
                                    int mask_dx);
/* Convolution over one image's im2col columns after a sparse prepare with n = P. */
lt_status lt_spd_conv_forward(lt_spd *d, float *y,     // y is (rows = cout, P)
                              const float *cols,       // cols is (K = cols, P)
                              const float *bias, int P);
/* Backward over the images of a batch: begin (need_dx readies the transpose),
 * one call per image (dcols (K, P) overwritten, or NULL; the weight gradient
 * collects on the pattern), then end, which adds it into dw (rows, cols). */
lt_status lt_spd_conv_backward_begin(lt_spd *d, int need_dx);
lt_status lt_spd_conv_backward_image(lt_spd *d, float *dcols, const float *dy, // dy is (cout, P)
                                     const float *cols, int P);               // cols is (K, P)
lt_status lt_spd_conv_backward_end(lt_spd *d, float *dw);


#endif
