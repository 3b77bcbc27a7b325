/* lotto/lotto.h: the whole engine in one include.
 *
 * lotto is a C engine for lottery-ticket research with an embedded Lua 5.4
 * host (the `lotto` binary). The engine owns the numbers; Lua owns the
 * experiment. Modules, each with its own header:
 *
 *   status.h   lt_status codes, the per-thread error message, the interrupt flag
 *   rng.h      lt_rng: seeded xoshiro256** with independent streams
 *   tensor.h   lt_tensor: float32, 1-4 dims, refcounted views; lt_gemm over OpenBLAS
 *   blas.h     which BLAS kernel runs, whether it fits the CPU (cpuid), the sgemm self-check
 *   nn.h       layers (each with its settings), models with flat value/grad/mask buffers,
 *              init, losses, evaluation, export/import of pruned models
 *   optim.h    mask-aware SGD and Adam on flat buffers, learning-rate schedules
 *   mask.h     pruning: local/global magnitude, random, structured, n:m; mask statistics
 *   sparse.h   CSR and n:m formats and kernels; dense/sparse dispatch
 *   data.h     data sets (IDX, CIFAR-10, synthetic), splits, normalisation, loaders
 *   io.h       safetensors read/write, atomic files
 *   graph.h    graphs with edge masks and soft edge weights; GCN, GAT, GIN layers
 *
 * A worked example, training one step of a two-layer net:
 *
 *   lt_layer *kids[] = { lt_linear_new(784, 300, 1), lt_relu_new(), lt_linear_new(300, 10, 1) };
 *   int64_t in[1] = {784};
 *   lt_model *m = lt_model_new(lt_sequential_new(3, kids), 1, in);
 *   lt_rng r; lt_rng_seed(&r, 1, LT_STREAM_INIT);
 *   lt_model_init(m, &r, LT_INIT_GLOROT_NORMAL);
 *   double loss; int64_t correct;
 *   lt_model_step_loss(m, x, y, LT_LOSS_CROSS_ENTROPY, &loss, &correct);  // x (B, 784), y (B)
 *   lt_optim *o = lt_optim_adam_new(lt_tensor_numel(lt_model_values(m)), 1.2e-3f, 0.9f, 0.999f, 1e-8f, 0, 0);
 *   lt_optim_step(o, lt_tensor_data(lt_model_values(m)), lt_tensor_data(lt_model_grads(m)),
 *                 lt_tensor_data(lt_model_masks(m)), lt_tensor_numel(lt_model_values(m)));
 *   lt_optim_free(o); lt_model_free(m);
 */
#ifndef LOTTO_LOTTO_H
#define LOTTO_LOTTO_H

#include "lotto/status.h"
#include "lotto/rng.h"
#include "lotto/tensor.h"
#include "lotto/blas.h"
#include "lotto/nn.h"
#include "lotto/optim.h"
#include "lotto/mask.h"
#include "lotto/sparse.h"
#include "lotto/data.h"
#include "lotto/io.h"
#include "lotto/graph.h"

#endif
