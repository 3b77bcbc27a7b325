/* graph_layer.h: private to src/graph: what the graph layers (graph_gcn.c, graph_gat.c,
 * graph_gin.c) share: the graph structure, the batch check and the bias passes. */
#ifndef LOTTO_GRAPH_LAYER_H
#define LOTTO_GRAPH_LAYER_H

#include "graph/graph_impl.h"
#include "lotto/nn.h"

/* LT_ESHAPE naming the layer when x is not (nodes of g, features): a graph layer's batch
 * is the whole node set. */
lt_status lt_graph_layer_check_batch(const lt_layer *l, const lt_graph *g, const lt_tensor *x);
/* y (N, F) += b (F) on every row. */
void lt_graph_layer_add_bias(float *y, const float *b, int64_t N, int64_t F);
/* db (F) += column sums of dy (N, F), accumulated in double. */
void lt_graph_layer_bias_grad(float *db, const float *dy, int64_t N, int64_t F);

#endif
