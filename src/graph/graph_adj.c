/* graph_adj.c: the lt_graph object: a symmetric CSR pattern with self-loops built from an
 * undirected edge list, edge masks and soft weights (value, grad) per undirected edge or per
 * direction, and the normalisation D^-1/2 A D^-1/2 with its backward to the edge weights.
 * Owns all of it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_impl.h"

static void graph_free(lt_graph *g) {
  free(g->rowptr);
  free(g->col);
  free(g->eid);
  free(g->sid);
  free(g->rev);
  free(g->a);
  free(g->coef);
  free(g->dinv);
  free(g->ge);
  free(g->ddeg);
  free(g->pairs);
  lt_tensor_release(g->w);
  lt_tensor_release(g->wgrad);
  lt_tensor_release(g->mask);
  free(g);
}

static int cmp_entry(const void *pa, const void *pb) {
  const int32_t *a = pa, *b = pb; /* (col, eid) pairs */
  return (a[0] > b[0]) - (a[0] < b[0]);
}

lt_status lt_graph_new(lt_graph **out, int64_t n, int64_t nedges, const int64_t *pairs) {
  *out = NULL;
  if (n < 1 || n > INT32_MAX) return lt_error(LT_EINVAL, "graph: node count %lld must be in 1..%d", (long long)n, INT32_MAX);
  if (nedges < 0 || nedges > (INT32_MAX - n) / 2)
    return lt_error(LT_EINVAL, "graph: edge count %lld out of range", (long long)nedges);
  if (nedges && !pairs) return lt_error(LT_EINVAL, "graph: no edge list");
  for (int64_t k = 0; k < nedges; k++) {
    int64_t u = pairs[2 * k], v = pairs[2 * k + 1];
    if (u < 0 || u >= n || v < 0 || v >= n)
      return lt_error(LT_EINVAL, "graph: edge %lld (%lld, %lld) names a node outside 0..%lld", (long long)k,
                      (long long)u, (long long)v, (long long)n - 1);
    if (u == v)
      return lt_error(LT_EINVAL, "graph: edge %lld is a self-loop on node %lld (self-loops are added by the graph)",
                      (long long)k, (long long)u);
  }
  lt_graph *g = calloc(1, sizeof *g);
  if (!g) return lt_error(LT_ENOMEM, "graph: out of memory");
  g->refcount = 1;
  g->wgrad_on = 1;
  g->n = n;
  g->nedges = nedges;
  g->nnz = 2 * nedges + n;
  g->nmask = nedges;
  g->rowptr = calloc((size_t)n + 1, sizeof *g->rowptr);
  int32_t *tmp = malloc((size_t)g->nnz * 2 * sizeof *tmp);
  g->col = malloc((size_t)g->nnz * sizeof *g->col);
  g->eid = malloc((size_t)g->nnz * sizeof *g->eid);
  g->sid = malloc((size_t)g->nnz * sizeof *g->sid);
  g->rev = malloc((size_t)g->nnz * sizeof *g->rev);
  g->a = malloc((size_t)g->nnz * sizeof *g->a);
  g->coef = malloc((size_t)g->nnz * sizeof *g->coef);
  g->dinv = malloc((size_t)n * sizeof *g->dinv);
  g->ge = malloc((size_t)g->nnz * sizeof *g->ge);
  g->ddeg = malloc((size_t)n * sizeof *g->ddeg);
  g->pairs = malloc((size_t)(nedges ? 2 * nedges : 1) * sizeof *g->pairs);
  g->w = lt_tensor_new1(nedges);
  g->wgrad = lt_tensor_new1(nedges);
  g->mask = lt_tensor_new1(nedges);
  if (!g->rowptr || !tmp || !g->col || !g->eid || !g->sid || !g->rev || !g->a || !g->coef || !g->dinv || !g->ge || !g->ddeg || !g->pairs || !g->w || !g->wgrad ||
      !g->mask) {
    free(tmp);
    graph_free(g);
    return lt_error(LT_ENOMEM, "graph: out of memory for %lld nodes, %lld edges", (long long)n, (long long)nedges);
  }
  lt_tensor_fill(g->w, 1.0f);
  lt_tensor_fill(g->mask, 1.0f);
  lt_tensor_fill(g->wgrad, 0.0f);
  for (int64_t k = 0; k < 2 * nedges; k++) g->pairs[k] = (int32_t)pairs[k];
  /* counting sort into rows, then each row sorted by column */
  for (int64_t i = 0; i < n; i++) g->rowptr[i + 1] = 1;
  for (int64_t k = 0; k < nedges; k++) {
    g->rowptr[pairs[2 * k] + 1]++;
    g->rowptr[pairs[2 * k + 1] + 1]++;
  }
  for (int64_t i = 0; i < n; i++) g->rowptr[i + 1] += g->rowptr[i];
  int64_t *fill = malloc((size_t)n * sizeof *fill);
  if (!fill) {
    free(tmp);
    graph_free(g);
    return lt_error(LT_ENOMEM, "graph: out of memory");
  }
  for (int64_t i = 0; i < n; i++) {
    fill[i] = g->rowptr[i];
    tmp[2 * fill[i]] = (int32_t)i;
    tmp[2 * fill[i] + 1] = -1;
    fill[i]++;
  }
  for (int64_t k = 0; k < nedges; k++) {
    int64_t u = pairs[2 * k], v = pairs[2 * k + 1];
    tmp[2 * fill[u]] = (int32_t)v, tmp[2 * fill[u] + 1] = (int32_t)k, fill[u]++;
    tmp[2 * fill[v]] = (int32_t)u, tmp[2 * fill[v] + 1] = (int32_t)k, fill[v]++;
  }
  free(fill);
  lt_status s = LT_OK;
  for (int64_t i = 0; i < n && !s; i++) {
    int64_t b = g->rowptr[i], e = g->rowptr[i + 1];
    qsort(tmp + 2 * b, (size_t)(e - b), 2 * sizeof *tmp, cmp_entry);
    for (int64_t p = b; p < e; p++) {
      g->col[p] = tmp[2 * p];
      g->eid[p] = tmp[2 * p + 1];
      if (p > b && g->col[p] == g->col[p - 1]) {
        int32_t k1 = g->eid[p - 1] < g->eid[p] ? g->eid[p - 1] : g->eid[p];
        int32_t k2 = g->eid[p - 1] < g->eid[p] ? g->eid[p] : g->eid[p - 1];
        s = lt_error(LT_EINVAL, "graph: edge %d (%lld, %d) duplicates edge %d", k2, (long long)i, g->col[p], k1);
        break;
      }
    }
  }
  free(tmp);
  if (s) {
    graph_free(g);
    return s;
  }
  /* rev: entry (j, i) of entry (i, j), found by binary search in row j */
  for (int64_t i = 0; i < n; i++)
    for (int64_t p = g->rowptr[i]; p < g->rowptr[i + 1]; p++) {
      int64_t j = g->col[p], lo = g->rowptr[j], hi = g->rowptr[j + 1] - 1;
      while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (g->col[mid] < i) lo = mid + 1;
        else hi = mid;
      }
      g->rev[p] = lo;
    }
  memcpy(g->sid, g->eid, (size_t)g->nnz * sizeof *g->sid);
  lt_graph_normalize(g);
  *out = g;
  return LT_OK;
}

lt_graph *lt_graph_retain(lt_graph *g) {
  if (g) g->refcount++;
  return g;
}

void lt_graph_release(lt_graph *g) {
  if (g && --g->refcount == 0) graph_free(g);
}

int64_t lt_graph_nodes(const lt_graph *g) { return g->n; }
int64_t lt_graph_nedges(const lt_graph *g) { return g->nedges; }
int64_t lt_graph_nnz(const lt_graph *g) { return g->nnz; }
lt_tensor *lt_graph_weight(lt_graph *g) { return g->w; }
lt_tensor *lt_graph_weight_grad(lt_graph *g) { return g->wgrad; }
lt_tensor *lt_graph_mask(lt_graph *g) { return g->mask; }
void lt_graph_zero_grad(lt_graph *g) { lt_tensor_fill(g->wgrad, 0.0f); }
void lt_graph_set_weight_grad(lt_graph *g, int on) { g->wgrad_on = on != 0; }
int lt_graph_weight_grad_on(const lt_graph *g) { return g->wgrad_on; }
const float *lt_graph_adjacency(const lt_graph *g) { return g->a; }

int64_t lt_graph_nmask(const lt_graph *g) { return g->nmask; }
int lt_graph_directed(const lt_graph *g) { return g->directed; }

int64_t lt_graph_kept(const lt_graph *g) {
  const float *m = lt_tensor_data(g->mask);
  int64_t k = 0;
  for (int64_t e = 0; e < g->nmask; e++) k += m[e] != 0.0f;
  return k;
}

double lt_graph_density(const lt_graph *g) { return g->nmask ? (double)lt_graph_kept(g) / (double)g->nmask : 1.0; }

void lt_graph_edge(const lt_graph *g, int64_t k, int64_t *u, int64_t *v) {
  *u = g->pairs[2 * k];
  *v = g->pairs[2 * k + 1];
}

void lt_graph_mask_edge(const lt_graph *g, int64_t s, int64_t *from, int64_t *to) {
  if (!g->directed) {
    lt_graph_edge(g, s, from, to);
    return;
  }
  int64_t u = g->pairs[2 * (s / 2)], v = g->pairs[2 * (s / 2) + 1];
  *from = s % 2 ? v : u;
  *to = s % 2 ? u : v;
}

/* New weight, gradient and mask tensors of the mode's size (1, 0, 1), and sid to match:
 * entry p = (i, j) carries the message j -> i, the directed entry 2k of edge k = (u, v) when
 * j = u, 2k + 1 when j = v. */
lt_status lt_graph_set_directed(lt_graph *g, int on) {
  on = on != 0;
  if (on == g->directed) return LT_OK;
  int64_t nm = on ? 2 * g->nedges : g->nedges;
  lt_tensor *w = lt_tensor_new1(nm), *wg = lt_tensor_new1(nm), *m = lt_tensor_new1(nm);
  if (!w || !wg || !m) {
    lt_tensor_release(w);
    lt_tensor_release(wg);
    lt_tensor_release(m);
    return lt_error(LT_ENOMEM, "graph: out of memory for %lld edge-mask entries", (long long)nm);
  }
  lt_tensor_fill(w, 1.0f);
  lt_tensor_fill(wg, 0.0f);
  lt_tensor_fill(m, 1.0f);
  lt_tensor_release(g->w);
  lt_tensor_release(g->wgrad);
  lt_tensor_release(g->mask);
  g->w = w, g->wgrad = wg, g->mask = m;
  g->directed = on;
  g->nmask = nm;
  for (int64_t i = 0; i < g->n; i++)
    for (int64_t p = g->rowptr[i]; p < g->rowptr[i + 1]; p++) {
      int32_t k = g->eid[p];
      g->sid[p] = k < 0 || !on ? k : 2 * k + (g->col[p] != g->pairs[2 * k]);
    }
  lt_graph_normalize(g);
  return LT_OK;
}

void lt_graph_csr(const lt_graph *g, const int64_t **rowptr, const int32_t **col, const int32_t **eid,
                  const int64_t **rev) {
  if (rowptr) *rowptr = g->rowptr;
  if (col) *col = g->col;
  if (eid) *eid = g->eid;
  if (rev) *rev = g->rev;
}

/* a_e = m w of the entry's mask entry (self-loops 1), d_i = deg_i^-1/2 (0 when deg_i <= 0), c = d_i a d_j.
 * deg_i sums column i of A: what node i sends (with the self-loop). Undirected, A is symmetric
 * and that is its row sum. Directed, it is the authors' normalisation (Chen et al.'s
 * torch_normalize_adj on their mask matrix M, whose entry (u, v) is our entry (v, u), the
 * message u -> v): (M + I) D, transposed, times D, D from the row sums of M + I, so
 * c_ij = d_i M_ji d_j. O(nnz), serial: cheaper than one hand-off for the graphs of this work. */
const float *lt_graph_normalize(lt_graph *g) {
  const float *w = lt_tensor_data(g->w), *m = lt_tensor_data(g->mask);
  for (int64_t p = 0; p < g->nnz; p++) {
    int32_t k = g->sid[p];
    g->a[p] = k < 0 ? 1.0f : m[k] * w[k];
  }
  for (int64_t i = 0; i < g->n; i++) {
    double deg = 0;
    for (int64_t p = g->rowptr[i]; p < g->rowptr[i + 1]; p++) deg += g->a[g->rev[p]];
    g->dinv[i] = deg > 0 ? (float)(1.0 / sqrt(deg)) : 0.0f;
  }
  for (int64_t i = 0; i < g->n; i++)
    for (int64_t p = g->rowptr[i]; p < g->rowptr[i + 1]; p++) g->coef[p] = g->dinv[i] * g->a[p] * g->dinv[g->col[p]];
  return g->coef;
}

void lt_graph_propagate(lt_graph *g, float *y, const float *x, int64_t F) {
  lt_graph_normalize(g);
  lt_graph_spmm(g, g->coef, y, x, F);
}

/* Given ge = dL/dc per entry: c_ij = d_i a_ij d_j with d_k = deg_k^-1/2, so
 *   dL/ddeg_k = -1/2 d_k^2 sum over the entries e of row k and of column k of ge_e c_e,
 *   dL/da_uv  = ge_uv d_u d_v + dL/ddeg_v   (a_uv counts in deg_v, column v's sum).
 * Undirected, a_uv = a_vu = m_k w_k for edge k = {u, v}; their sum takes dL/ddeg_u from
 * (u, v) instead, the same total in the order the undirected graph always summed. */
static void normalize_backward(lt_graph *g) {
  const float *ge = g->ge;
  for (int64_t i = 0; i < g->n; i++) {
    double s = 0;
    for (int64_t p = g->rowptr[i]; p < g->rowptr[i + 1]; p++)
      s += (double)ge[p] * g->coef[p] + (double)ge[g->rev[p]] * g->coef[g->rev[p]];
    g->ddeg[i] = -0.5 * (double)g->dinv[i] * g->dinv[i] * s;
  }
  /* ge becomes dL/da in place: entry p is read only here */
  for (int64_t i = 0; i < g->n; i++)
    for (int64_t p = g->rowptr[i]; p < g->rowptr[i + 1]; p++) {
      int64_t j = g->col[p];
      g->ge[p] = (float)((double)ge[p] * g->dinv[i] * g->dinv[j] + g->ddeg[g->directed ? j : i]);
    }
  lt_graph_adjacency_backward(g, g->ge);
}

void lt_graph_adjacency_backward(lt_graph *g, const float *ge) {
  float *dw = lt_tensor_data(g->wgrad);
  const float *m = lt_tensor_data(g->mask);
  if (g->directed) { /* one mask entry per entry: each gets its own */
    for (int64_t p = 0; p < g->nnz; p++) {
      int32_t k = g->sid[p];
      if (k >= 0 && m[k] != 0.0f) dw[k] += m[k] * ge[p];
    }
    return;
  }
  /* each edge once, from its entry (u, v) with u < v, so the sum order is fixed */
  for (int64_t i = 0; i < g->n; i++)
    for (int64_t p = g->rowptr[i]; p < g->rowptr[i + 1]; p++) {
      int32_t k = g->eid[p];
      if (k < 0 || g->col[p] < i) continue;
      if (m[k] != 0.0f) dw[k] += m[k] * (ge[p] + ge[g->rev[p]]);
    }
}

void lt_graph_propagate_backward(lt_graph *g, float *dx, const float *dy, const float *x, int64_t F) {
  if (dx) { /* dx = A_hat^T dy; A_hat is symmetric unless directed masks differ */
    if (g->directed) lt_graph_spmm_t(g, g->coef, dx, dy, F);
    else lt_graph_spmm(g, g->coef, dx, dy, F);
  }
  if (!g->wgrad_on) return;
  lt_graph_sddmm(g, g->ge, dy, F, x, F, F);
  normalize_backward(g);
}
