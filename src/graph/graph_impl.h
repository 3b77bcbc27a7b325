/* graph_impl.h: private to src/graph. The lt_graph structure the kernels and the graph
 * layers read directly (CSR arrays, the last normalisation, scratch). */
#ifndef LOTTO_GRAPH_IMPL_H
#define LOTTO_GRAPH_IMPL_H

#include "lotto/graph.h"

struct lt_graph {
  int64_t n, nedges, nnz;
  int64_t nmask;    /* entries of the edge mask: nedges, or 2 nedges when directed */
  int directed;     /* one mask entry per direction (lt_graph_set_directed) */
  int64_t *rowptr;  /* (n + 1) */
  int32_t *col;     /* (nnz) sorted within each row */
  int32_t *eid;     /* (nnz) undirected edge of each entry, -1 for the self-loop */
  int32_t *sid;     /* (nnz) the edge-mask entry of each entry, -1 for the self-loop: eid, or the
                     * directed entry 2k (u -> v) / 2k + 1 (v -> u) of edge k = (u, v) when directed */
  int64_t *rev;     /* (nnz) entry (j, i) of entry (i, j) */
  int32_t *pairs;   /* (nedges, 2) as given */
  float *a;         /* (nnz) effective adjacency of the last normalisation: m w, self-loops 1 */
  float *coef;      /* (nnz) d_i a_ij d_j */
  float *dinv;      /* (n) deg^-1/2, 0 where deg <= 0 */
  float *ge;        /* (nnz) scratch of the GCN backward */
  double *ddeg;     /* (n) scratch of the GCN backward */
  lt_tensor *w, *wgrad, *mask; /* (nmask) */
  int refcount;
  int wgrad_on;     /* backward passes compute wgrad (lt_graph_set_weight_grad) */
};

/* Rows [r0, r1) of part p of np, split so each part holds about nnz/np entries. */
void lt_graph_part_rows(const lt_graph *g, int p, int np, int64_t *r0, int64_t *r1);

#endif
