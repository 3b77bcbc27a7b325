/* lotto/graph.h: graphs for graph neural networks (GCN, GAT, GIN) and graph
 * lottery tickets (UGS: pruning the edges and the weights together).
 *
 * An lt_graph is an undirected graph of n nodes stored as a symmetric CSR
 * pattern with a self-loop on every node. By default each undirected edge k
 * (the k-th pair given to lt_graph_new) has a 0/1 mask m_k and a trainable
 * soft weight w_k (initially 1) with its gradient; both directions of the
 * edge share them, so the adjacency stays symmetric. The effective adjacency is
 *     a_uv = m_k w_k for edge k = {u, v},  a_ii = 1 (self-loops: not masked),
 * and GCN propagates with its symmetric normalisation, recomputed from the
 * current mask and weights at every forward:
 *     A_hat = D^-1/2 A D^-1/2,  D_ii = sum_j a_ij  (a degree <= 0 gives a zero row).
 *
 * Directed masks (lt_graph_set_directed), as in Chen et al.'s UGS release: one
 * mask entry and soft weight per direction, 2 nedges in all; entry 2k is the
 * message u -> v of edge k = (u, v), entry 2k + 1 the message v -> u. Row v of
 * A then holds what v receives: a_vu = m_2k w_2k, a_uv = m_2k+1 w_2k+1, and A
 * may be asymmetric. D sums A's columns (what each node sends, with its
 * self-loop), as the authors' normalisation does (their mask matrix is our
 * A transposed and they sum its rows):
 *     A_hat = D^-1/2 A D^-1/2,  D_jj = sum_i a_ij,  y = A_hat x.
 * Undirected, that is the formula above.
 *
 *   int64_t pairs[] = {0, 1, 1, 2, 2, 3};                // edges 0-1, 1-2, 2-3
 *   lt_graph *g; lt_graph_new(&g, 4, 3, pairs);
 *   lt_graph_propagate(g, y, x, F);                     // y (4, F) = A_hat x
 *   lt_graph_zero_grad(g);
 *   lt_graph_propagate_backward(g, dx, dy, x, F);       // dx = A_hat dy, dL/dw accumulated
 *   float *dw = lt_tensor_data(lt_graph_weight_grad(g)); // (3)
 *   lt_graph_release(g);
 *
 * Graph layers (lt_gcn_new, lt_gat_new, lt_gin_new) hold a reference to a
 * graph and take the whole node set as their batch: x is (n, features).
 * All kernels split rows over the worker pool in fixed parts (results
 * depend on the thread count only through that split: none for these
 * kernels, each row is computed by one thread in a fixed order). */
#ifndef LOTTO_GRAPH_H
#define LOTTO_GRAPH_H

#include <stdint.h>

#include "lotto/nn.h"
#include "lotto/status.h"
#include "lotto/tensor.h"

typedef struct lt_graph lt_graph;

/* ---- the graph ---- */
/* n nodes, nedges undirected edges pairs[2k], pairs[2k+1] (0-based, u != v, each pair at
 * most once in either orientation). LT_EINVAL naming the edge on a self-loop, an id outside
 * [0, n) or a duplicate. Mask 1 and weight 1 on every edge, gradient 0. Release with
 * lt_graph_release. */
lt_status lt_graph_new(lt_graph **out, int64_t n, int64_t nedges, const int64_t *pairs);
lt_graph *lt_graph_retain(lt_graph *g);
void lt_graph_release(lt_graph *g); /* NULL is fine */
int64_t lt_graph_nodes(const lt_graph *g);
int64_t lt_graph_nedges(const lt_graph *g);  /* undirected edges (no self-loops) */
int64_t lt_graph_nnz(const lt_graph *g);     /* stored entries: 2 * nedges + nodes */
/* One edge-mask entry per direction (on) or per undirected edge (off, the default). Switching
 * replaces the weight, gradient and mask tensors by new ones of lt_graph_nmask entries (weights
 * and mask 1, gradient 0): tensors taken before no longer belong to the graph. Same mode: no-op.
 * LT_ENOMEM leaves the graph as it was. */
lt_status lt_graph_set_directed(lt_graph *g, int on);
int lt_graph_directed(const lt_graph *g);
int64_t lt_graph_nmask(const lt_graph *g);   /* edge-mask entries: nedges, or 2 * nedges directed */
/* Per-mask-entry tensors (nmask), borrowed views of the graph's storage: write into them freely
 * (the next forward reads them). weight: the soft weights w; grad: dL/dw, ACCUMULATED by
 * the backward passes (masked entries get 0); mask: 0/1. */
lt_tensor *lt_graph_weight(lt_graph *g);
lt_tensor *lt_graph_weight_grad(lt_graph *g);
lt_tensor *lt_graph_mask(lt_graph *g);
void lt_graph_zero_grad(lt_graph *g);
/* Whether backward passes compute the edge weights' gradient (1 at first). Off, GCN and GAT skip
 * that work (GCN's SDDMM over the hidden width) and leave the gradient alone: for training with
 * fixed edges. */
void lt_graph_set_weight_grad(lt_graph *g, int on);
int lt_graph_weight_grad_on(const lt_graph *g);
/* Mask entries that are 1 (edges, or directed edges), and that count over nmask (1 for an
 * edgeless graph). */
int64_t lt_graph_kept(const lt_graph *g);
double lt_graph_density(const lt_graph *g);
/* The pair of edge k (0 <= k < nedges). */
void lt_graph_edge(const lt_graph *g, int64_t k, int64_t *u, int64_t *v);
/* The nodes of mask entry s (0 <= s < nmask): its edge's pair undirected; directed, the message
 * from -> to. */
void lt_graph_mask_edge(const lt_graph *g, int64_t s, int64_t *from, int64_t *to);
/* CSR structure, borrowed: rowptr (n + 1), col (nnz) sorted within each row, eid (nnz)
 * the undirected edge of each entry or -1 for a self-loop, rev (nnz) the entry (j, i)
 * of entry (i, j). Row i's entries are what node i receives. */
void lt_graph_csr(const lt_graph *g, const int64_t **rowptr, const int32_t **col, const int32_t **eid,
                  const int64_t **rev);

/* ---- GCN propagation: y = A_hat x ---- */
/* Recomputes the effective adjacency a (nnz), the D^-1/2 of every node and the normalised
 * coefficients c_ij = d_i a_ij d_j (nnz) from the current mask and weights. lt_graph_propagate
 * calls it; the backward uses the values of the last call. Returns borrowed arrays. */
const float *lt_graph_normalize(lt_graph *g);
const float *lt_graph_adjacency(const lt_graph *g); /* a of the last lt_graph_normalize */
/* y (n, F) = A_hat x, x (n, F), both contiguous row-major; renormalises first. */
void lt_graph_propagate(lt_graph *g, float *y, const float *x, int64_t F);
/* Backward of the last lt_graph_propagate on x: dx (n, F) = A_hat^T dy (NULL: skipped), and
 * dL/dw += (through c, including the degrees) for every kept mask entry (unless the weight
 * gradient is off). */
void lt_graph_propagate_backward(lt_graph *g, float *dx, const float *dy, const float *x, int64_t F);

/* ---- raw kernels over g's pattern (graph layers use them) ---- */
/* y (n, F) = C x with C_ij = coef[e] for the entry e = (i, j). */
void lt_graph_spmm(const lt_graph *g, const float *coef, float *y, const float *x, int64_t F);
/* y (n, F) = C^T x (coef read through rev). */
void lt_graph_spmm_t(const lt_graph *g, const float *coef, float *y, const float *x, int64_t F);
/* ge[e] = <a[i, :], b[j, :]> for every entry e = (i, j); a, b (n, F) with row strides lda, ldb. */
void lt_graph_sddmm(const lt_graph *g, float *ge, const float *a, int64_t lda, const float *b, int64_t ldb,
                    int64_t F);
/* dL/dw += for every kept edge k = {u, v}: m_k (ge[(u,v)] + ge[(v,u)]), given ge = dL/da per
 * entry of the effective adjacency (self-loop entries ignored); directed, each kept mask entry
 * gets m ge of its one entry. */
void lt_graph_adjacency_backward(lt_graph *g, const float *ge);

/* ---- node-level losses and features ---- */
/* Softmax cross-entropy over the rows idx[0..n) of logits (N, C), mean over those rows;
 * labels (N) class ids as floats. dlogits (N, C) or NULL: rows in idx get their gradient,
 * every other row 0. ncorrect may be NULL. LT_ERANGE naming the node on an index outside
 * [0, N) or a label that is not a class. */
lt_status lt_graph_node_loss(double *loss, float *dlogits, int64_t *ncorrect, const float *logits,
                             const float *labels, int64_t N, int64_t C, const int64_t *idx, int64_t n);
/* x (N, F) rows scaled to sum 1 in place (Kipf & Welling's feature preprocessing); rows
 * summing to 0 stay 0. */
void lt_graph_row_normalize(float *x, int64_t N, int64_t F);

/* ---- graph layers and export ----
 * A graph layer's settings (lt_layer_config_get: sizes, dropout, and the nodes and edges of its
 * graph) rebuild it through lt_layer_from_config once lt_graph_register_kinds has run (the host
 * calls it at start-up), but without a graph: lt_graph_attach then gives every graph layer of
 * the model g (checked against the sizes they were made for; none changed on error; *count, if
 * not NULL, the layers attached). Export, import, nn.arch/from_arch thus work as for any layer. */
lt_status lt_graph_register_kinds(void);
lt_status lt_graph_attach(lt_model *m, lt_graph *g, int *count);

/* ---- graph layers (src/graph/graph_*.c): each holds a reference to g ----
 * The batch of x is the node set: (n, in). Weights are prunable ("weight"), biases not. */
/* GCN (Kipf & Welling): y = A_hat (x' W) + b, W (in, out), x' = x under the layer's input
 * dropout (0 <= dropout < 1, in training only, drawn from seed; 0: none). Input dropout inside
 * the layer costs O(nonzeros of x) on sparse features, where a dropout layer before it draws
 * one number per entry (Cora: 3.9M per epoch for 50k nonzeros). */
lt_layer *lt_gcn_new(lt_graph *g, int in, int out, int bias, float dropout, uint64_t seed);
/* GAT (Velickovic et al.): heads heads of out features each, attention
 * e_ij = LeakyReLU_0.2(a_src . h_i + a_dst . h_j), h = x W, softmax over the kept
 * neighbours of i (and i itself), y_i = sum_j alpha_ij a_ij h_j (+ b): heads
 * concatenated (concat = 1, y (n, heads * out)) or averaged (y (n, out)); input dropout as GCN's. */
lt_layer *lt_gat_new(lt_graph *g, int in, int out, int heads, int concat, float dropout, uint64_t seed);
/* GIN (Xu et al.): z_i = (1 + eps) x_i + sum_j a_ij x_j, y = relu(z W1 + b1) W2 + b2,
 * W1 (in, hidden), W2 (hidden, out); eps trainable (starts at 0). */
lt_layer *lt_gin_new(lt_graph *g, int in, int hidden, int out);

#endif
