/* graph_layer.h: private to src/graph: what the graph layers (graph_gcn.c, graph_gat.c,
 * graph_gin.c) share: the graph structure, the batch check and the bias passes. */
#ifndef LOTTO_GRAPH_LAYER_H
#define LOTTO_GRAPH_LAYER_H

#include "graph/graph_impl.h"
#include "lotto/rng.h"
#include "nn/nn_impl.h"

/* The first member of every graph layer's state (gcn, gat, gin): its graph (a reference; NULL
 * for a layer rebuilt from its config until lt_graph_attach gives it one) and the graph's size
 * it was made for (from the graph, or from the config: 0 = not known). */
typedef struct lt_graph_layer_head {
  lt_graph *g;
  int64_t nodes, nedges;
} lt_graph_layer_head;
/* head with g (retained; may be NULL) and its size. */
void lt_graph_layer_head_set(lt_graph_layer_head *h, lt_graph *g);
/* The settings every graph layer adds to its config: the graph's nodes and edges. */
void lt_graph_layer_config(const lt_graph_layer_head *h, lt_layer_config *c);
/* "%.1f%% edges" of the graph, or "no graph" */
const char *lt_graph_layer_edges_str(const lt_graph_layer_head *h, char *buf, size_t n);

/* LT_EINVAL naming the layer when it has no graph yet; LT_ESHAPE when x is not (nodes of its
 * graph, features): a graph layer's batch is the whole node set. */
lt_status lt_graph_layer_check_batch(const lt_layer *l, const lt_graph_layer_head *h, const lt_tensor *x);
/* y (N, F) += b (F) on every row. */
void lt_graph_layer_add_bias(float *y, const float *b, int64_t N, int64_t F);
/* db (F) += column sums of dy (N, F), accumulated in double. */
void lt_graph_layer_bias_grad(float *db, const float *dy, int64_t N, int64_t F);

/* The product h = x' W^T of a graph layer's input features x (N, in) and its weight W (out, in),
 * and its gradients, where x' is x under the layer's input dropout (in training each entry kept
 * with probability 1 - drop and scaled by 1 / (1 - drop); x' = x otherwise). Node features are
 * often sparse (bag-of-words: Cora's are 1.3% nonzero): below LT_GRAPH_SPARSE_X nonzeros per
 * entry the forward keeps x' as CSR of the kept nonzeros (dropout drawn per nonzero: a zero stays
 * zero whatever its draw) and the products run over it, so their cost follows nnz(x) x out
 * instead of N x in x out, and no pass draws N x in random numbers. When, in addition, fewer
 * than LT_GRAPH_SPARSE_W of W's mask entries are kept, W^T is held as CSR of the kept entries
 * too (the mask gives the pattern, so a kept weight that happens to be 0 still gets its
 * gradient) and the cost follows nnz(x) x out x density. The dense path draws one keep per
 * entry from the same stream as nn.dropout(drop, seed), so it equals that layer followed by the
 * graph layer. Results match the dense products up to summation order. LT_GRAPH_SPARSE_X is a
 * first guess; at 20% of W kept the CSR path of W measured slower than the dense rows (Cora,
 * 1 thread, CPU time per epoch 30 against 26 ms: scattered writes do not vectorise), hence 10%. */
#define LT_GRAPH_SPARSE_X 0.1
#define LT_GRAPH_SPARSE_W 0.1
typedef struct lt_graph_xw {
  float drop;          /* input dropout probability, 0: none */
  uint64_t seed;       /* as given (the configuration) */
  lt_rng rng;          /* the keep draws, stream LT_STREAM_DROPOUT */
  uint64_t calls;      /* training forwards so far: seeds the draws of dx on the CSR path */
  int active;          /* the last forward dropped (training, drop > 0) */
  int sparse, wsparse; /* the last forward took the CSR path for x, and for W */
  const float *xin;    /* dense path: x or xd, what the weight gradient reads */
  int64_t *rowptr;     /* (N + 1) */
  int32_t *col;        /* (nnz) */
  float *val;          /* (nnz) */
  float *wt;           /* (in, out): W^T (forward), dW^T (backward) */
  int64_t *wrow, *wfill; /* (in + 1), (in): CSR of the kept entries of W^T */
  int32_t *wcol;       /* (kept) output index */
  float *wval, *gval;  /* (kept) values of W^T, gradient sums */
  float *keep, *xd;    /* dropout: keep per nonzero (CSR) or entry (dense; also dx), x' (dense) */
  int64_t cap_n, cap_nnz, cap_wt, cap_in, cap_kept, cap_keep, cap_xd;
} lt_graph_xw;
/* An empty c with input dropout drop (0 <= drop < 1) drawn from seed. */
void lt_graph_xw_init(lt_graph_xw *c, float drop, uint64_t seed);
/* h (N, out) = x' W^T; mask (out, in) of W, or NULL (dense); train: dropout applies. */
lt_status lt_graph_xw_forward(lt_graph_xw *c, float *h, const float *x, const float *W, const float *mask, int64_t N,
                              int in, int out, int train);
/* After lt_graph_xw_forward: dW (out, in) += dh^T x', dh (N, out); with a sparse W, only the kept
 * entries of dW are written. */
lt_status lt_graph_xw_weight_grad(lt_graph_xw *c, float *dW, const float *dh, int64_t N, int in, int out);
/* After lt_graph_xw_forward on x: dx (N, in) = (dh W) times the keep mask of x'. */
lt_status lt_graph_xw_input_grad(lt_graph_xw *c, float *dx, const float *dh, const float *x, const float *W, int64_t N,
                                 int in, int out);
/* Frees the scratch; c stays usable with its dropout settings. */
void lt_graph_xw_free(lt_graph_xw *c);

#endif
