/* graph_layer.h: private to src/graph: what the graph layers (graph_gcn.c, graph_gat.c,
 * graph_gin.c) share: the graph structure, the batch check and the bias passes. */
#ifndef LOTTO_GRAPH_LAYER_H
#define LOTTO_GRAPH_LAYER_H

#include "graph/graph_impl.h"
#include "nn/nn_impl.h"

/* LT_ESHAPE naming the layer when x is not (nodes of g, features): a graph layer's batch
 * is the whole node set. */
lt_status lt_graph_layer_check_batch(const lt_layer *l, const lt_graph *g, const lt_tensor *x);
/* y (N, F) += b (F) on every row. */
void lt_graph_layer_add_bias(float *y, const float *b, int64_t N, int64_t F);
/* db (F) += column sums of dy (N, F), accumulated in double. */
void lt_graph_layer_bias_grad(float *db, const float *dy, int64_t N, int64_t F);

/* The product h = x W^T of a graph layer's input features x (N, in) and its weight W (out, in),
 * and its weight gradient dW += dh^T x. Node features are often sparse (bag-of-words: Cora's are
 * 1.3% nonzero, and input dropout keeps them so): below LT_GRAPH_SPARSE_X nonzeros per entry the
 * forward keeps x as CSR and both products run over its nonzeros, so their cost follows nnz(x)
 * x out instead of N x in x out. When, in addition, fewer than LT_GRAPH_SPARSE_W of W's mask
 * entries are kept, W^T is held as CSR of the kept entries too (the mask gives the pattern, so a
 * kept weight that happens to be 0 still gets its gradient) and the cost follows
 * nnz(x) x out x density. Results match the dense products up to summation order. Both
 * thresholds are first guesses, to be set from measurements. */
#define LT_GRAPH_SPARSE_X 0.1
#define LT_GRAPH_SPARSE_W 0.25
typedef struct lt_graph_xw {
  int sparse, wsparse; /* the last forward took the CSR path for x, and for W */
  int64_t *rowptr;     /* (N + 1) */
  int32_t *col;        /* (nnz) */
  float *val;          /* (nnz) */
  float *wt;           /* (in, out): W^T (forward), dW^T (backward) */
  int64_t *wrow, *wfill; /* (in + 1), (in): CSR of the kept entries of W^T */
  int32_t *wcol;       /* (kept) output index */
  float *wval, *gval;  /* (kept) values of W^T, gradient sums */
  int64_t cap_n, cap_nnz, cap_wt, cap_in, cap_kept;
} lt_graph_xw;
/* mask (out, in) of W, or NULL (dense). */
lt_status lt_graph_xw_forward(lt_graph_xw *c, float *h, const float *x, const float *W, const float *mask, int64_t N,
                              int in, int out);
/* After lt_graph_xw_forward on the same x: dW (out, in) += dh^T x, dh (N, out); with a sparse W,
 * only the kept entries of dW are written. */
lt_status lt_graph_xw_weight_grad(lt_graph_xw *c, float *dW, const float *dh, const float *x, int64_t N, int in,
                                  int out);
void lt_graph_xw_free(lt_graph_xw *c);

#endif
