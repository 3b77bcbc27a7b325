/* nn_linear.c: the fully connected layer y = x W^T + b, W (out, in).
 * Each forward runs the three products dense (sgemm) or, when the mask makes
 * the weight sparse enough, through the CSR kernels (lt_spd, sparse_dispatch.c);
 * the backward follows the forward's choice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"
#include "lotto/sparse.h"
#include "core/pool.h" // lt_pool_run: the worker pool

typedef struct {
  int in, out, bias;
  const lt_tensor *x; // input of the last forward (borrowed: the previous layer's cache)
  lt_tensor *y, *dx;  // cached outputs, reallocated only when the batch size changes
  lt_spd *sp;         // sparse state: CSR of the masked weight, transposed input
  int sparse;         // the last forward ran sparse
} linear;

/* Activations are (B, features) contiguous, or transposed (features rows of
 * ld floats, see LT_LAYOUT_ANY in nn.h) when their ld argument is > 0: sgemm
 * takes either through its transpose flags.
 *
 * Threads: a large product is split into lt_get_threads() slices of its
 * output, each a single-threaded sgemm on the engine's worker pool (a part
 * no worker has taken when the caller is free is run by the caller, so a
 * busy machine costs little). The split is fixed by the shape and the thread
 * count, so results are too; OpenBLAS's own threads stay asleep. */
#define GEMM_PAR_MIN_MACS 1e6 /* below this a hand-off costs more than it saves */

enum { G_FWD, G_WGRAD, G_DX };
typedef struct gemm_job {
  int op, B, in, out, nparts;
  float *c;                     // y, dW or dx
  const float *x, *w, *b, *dy;  // the operands the op reads
  int x_ld, c_ld, overwrite;
} gemm_job;

// Slice [*lo, *hi) of n for part p: multiples of 16 (whole cache lines of a row).
static void slice(int n, int parts, int p, int *lo, int *hi) {
  int per = ((n + parts - 1) / parts + 15) & ~15;
  *lo = p * per < n ? p * per : n;
  *hi = (p + 1) * per < n ? (p + 1) * per : n;
}

static void gemm_part(void *arg, int part) {
  const gemm_job *j = arg;
  const int B = j->B, in = j->in, out = j->out, xt = j->x_ld > 0, ldx = xt ? j->x_ld : in;
  int lo, hi;
  if (j->op == G_FWD) { // y[:, lo:hi] = x W[lo:hi, :]^T (+ b[lo:hi])
    slice(out, j->nparts, part, &lo, &hi);
    if (hi <= lo) return;
    if (j->b)
      for (int i = 0; i < B; i++) memcpy(j->c + (size_t)i * out + lo, j->b + lo, sizeof(float) * (hi - lo));
    lt_gemm(xt, 1, B, hi - lo, in, 1.0f, j->x, ldx, j->w + (size_t)lo * in, in, j->b ? 1.0f : 0.0f, j->c + lo, out);
  } else if (j->op == G_WGRAD) { // dW[lo:hi, :] (+)= dy[:, lo:hi]^T x
    slice(out, j->nparts, part, &lo, &hi);
    if (hi <= lo) return;
    // beta 0 makes OpenBLAS clear C in a scalar pass of its own (7% of a dense LeNet step);
    // a memset and beta 1 give the same bits (0 + each product sum) at memset speed
    if (j->overwrite) memset(j->c + (size_t)lo * in, 0, sizeof(float) * (size_t)(hi - lo) * in);
    lt_gemm(1, xt, hi - lo, in, B, 1.0f, j->dy + lo, out, j->x, ldx, 1.0f, j->c + (size_t)lo * in, in);
  } else { // dx[:, lo:hi] = dy W[:, lo:hi], or its transpose dx^T[lo:hi, :] = W[:, lo:hi]^T dy^T
    slice(in, j->nparts, part, &lo, &hi);
    if (hi <= lo) return;
    // cleared here and beta 1, as for the weight gradient
    if (j->c_ld > 0) {
      memset(j->c + (size_t)lo * j->c_ld, 0, sizeof(float) * (size_t)(hi - lo) * j->c_ld);
      lt_gemm(1, 1, hi - lo, B, out, 1.0f, j->w + lo, in, j->dy, out, 1.0f, j->c + (size_t)lo * j->c_ld, j->c_ld);
    } else {
      for (int i = 0; i < B; i++) memset(j->c + (size_t)i * in + lo, 0, sizeof(float) * (size_t)(hi - lo));
      lt_gemm(0, 0, B, hi - lo, out, 1.0f, j->dy, out, j->w + lo, in, 1.0f, j->c + lo, in);
    }
  }
}

static void gemm_run(gemm_job *j) {
  int threads = lt_get_threads();
  j->nparts = 1;
  if (threads > 1 && (double)j->B * j->in * j->out >= GEMM_PAR_MIN_MACS)
    j->nparts = threads < LT_POOL_MAXPARTS ? threads : LT_POOL_MAXPARTS;
  if (j->nparts == 1) {
    gemm_part(j, 0);
    return;
  }
  lt_set_threads(1);
  lt_pool_run(j->nparts, gemm_part, j);
  lt_set_threads(threads);
}

// y (B, out) = x (B, in) W^T (+ b); W (out, in); b (out) or NULL; x transposed when x_ld > 0
static void linear_matmul_forward(float *y, const float *x, int x_ld, const float *W, const float *b, int B, int in,
                                  int out) {
  gemm_job j = {.op = G_FWD, .B = B, .in = in, .out = out, .c = y, .x = x, .w = W, .b = b, .x_ld = x_ld};
  gemm_run(&j);
}

// dW (out, in) += dy (B, out)^T x (B, in); = when overwrite; x transposed when x_ld > 0
static void linear_matmul_weight_grad(float *dW, const float *dy, const float *x, int x_ld, int B, int in, int out,
                                      int overwrite) {
  gemm_job j = {.op = G_WGRAD, .B = B, .in = in, .out = out, .c = dW, .x = x, .dy = dy, .x_ld = x_ld,
                .overwrite = overwrite};
  gemm_run(&j);
}

// dx (B, in) = dy (B, out) W (out, in); dx transposed (dx^T = W^T dy^T) when dx_ld > 0
static void linear_matmul_input_grad(float *dx, int dx_ld, const float *dy, const float *W, int B, int in, int out) {
  gemm_job j = {.op = G_DX, .B = B, .in = in, .out = out, .c = dx, .w = W, .dy = dy, .c_ld = dx_ld};
  gemm_run(&j);
}

static int ld_of(const lt_tensor *t) { return lt_is_transposed(t) ? (int)t->stride[1] : 0; }

static lt_status linear_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                              const lt_layer **producer) {
  const linear *p = l->priv;
  return lt_build_dense(b, l, p->in, p->out, p->bias, ndim, in, out_ndim, out, producer);
}

static lt_status linear_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  linear *p = l->priv;
  int B = (int)x->shape[0], x_ld = ld_of(x);
  p->x = x;
  const float *W = lt_tensor_data(l->params[0].value), *b = p->bias ? lt_tensor_data(l->params[1].value) : NULL;
  lt_spd_set_inference(p->sp, train ? 0 : LT_SPD_INFER_BATCH); // auto may run an n:m mask on the n:m forward
  lt_status st = lt_spd_prepare(p->sp, W, lt_tensor_data(l->params[0].mask), p->out, p->in, B,
                                l->mask_version ? *l->mask_version : 0, &p->sparse);
  if (st) return st;
  // a sparse forward makes y transposed anyway: hand it on so when the next layer takes it
  int y_ld = p->sparse && l->emit_transposed ? lt_sparse_ld(B) : 0;
  int64_t ys[2] = {B, p->out};
  if ((st = y_ld ? lt_layer_buffer_t(&p->y, B, p->out, y_ld) : lt_layer_buffer(&p->y, 2, ys))) return st;
  if (p->sparse) {
    st = lt_spd_linear_forward_ld(p->sp, lt_tensor_data(p->y), y_ld, lt_tensor_data(x), x_ld, b, B, l->emit_rectified);
  } else {
    linear_matmul_forward(lt_tensor_data(p->y), lt_tensor_data(x), x_ld, W, b, B, p->in, p->out);
    if (l->emit_rectified) { // the next layer's rectifier, as it would compute it
      float *v = lt_tensor_data(p->y);
      for (size_t i = 0, n = (size_t)B * p->out; i < n; i++) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
    }
  }
  if (st) return st;
  *y = p->y;
  return LT_OK;
}

// Sum of r[0..n): two 8-lane partial sums, then a fixed-order reduction.
static inline float row_sum(const float *r, int n) {
  typedef float v8 __attribute__((vector_size(32)));
  v8 a = {0}, b = {0}, x, y;
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    memcpy(&x, r + i, sizeof x);
    memcpy(&y, r + i + 8, sizeof y);
    a += x, b += y;
  }
  if (i + 8 <= n) {
    memcpy(&x, r + i, sizeof x);
    a += x, i += 8;
  }
  a += b;
  float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  for (; i < n; i++) s += r[i];
  return s;
}

// db (out) += the column sums of dy (B, out), or the row sums of a transposed dy; = when overwrite
static void linear_bias_grad(float *db, const float *dy, int dy_ld, int B, int out, int overwrite) {
  if (dy_ld > 0) {
    for (int j = 0; j < out; j++) {
      float s = row_sum(dy + (size_t)j * dy_ld, B);
      db[j] = overwrite ? s : db[j] + s;
    }
    return;
  }
  for (int i = 0; i < B; i++) {
    const float *r = dy + (size_t)i * out;
    if (i == 0 && overwrite)
      for (int j = 0; j < out; j++) db[j] = r[j];
    else
      for (int j = 0; j < out; j++) db[j] += r[j];
  }
  if (B == 0 && overwrite) memset(db, 0, sizeof(float) * out);
}

static lt_status linear_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  linear *p = l->priv;
  int B = (int)dy->shape[0], dy_ld = ld_of(dy), x_ld = ld_of(p->x);
  const float *g = lt_tensor_data(dy);
  float *dW = lt_tensor_data(l->params[0].grad);
  const int overwrite = l->grad_overwrite; // stale grads (lt_model_step_loss): write, do not add
  lt_status st;
  if (need_dx) { // dx in the layout x came in
    int64_t xs[2] = {B, p->in};
    if ((st = x_ld ? lt_layer_buffer_t(&p->dx, B, p->in, x_ld) : lt_layer_buffer(&p->dx, 2, xs))) return st;
  }
  float *d = need_dx ? lt_tensor_data(p->dx) : NULL;
  if (p->sparse) { // dx and dW share one transposed dy
    if (overwrite) lt_spd_grad_overwrite(p->sp);
    if ((st = lt_spd_linear_backward_ld(p->sp, d, x_ld, dW, g, dy_ld, B, l->mask_dx))) return st;
  } else {
    if (dy_ld) return lt_error(LT_EINVAL, "linear %s: a dense backward got a transposed dy", l->name);
    linear_matmul_weight_grad(dW, g, lt_tensor_data(p->x), x_ld, B, p->in, p->out, overwrite);
    lt_spd_grad_dirty(p->sp);
    if (d) linear_matmul_input_grad(d, x_ld, g, lt_tensor_data(l->params[0].value), B, p->in, p->out);
    if (d && l->mask_dx) { // the rectifier before us: its output is our x (mask_dx)
      const float *xv = lt_tensor_data(p->x);
      size_t rows = x_ld ? (size_t)p->in : (size_t)B, cols = x_ld ? (size_t)B : (size_t)p->in;
      size_t ld = x_ld ? (size_t)x_ld : cols;
      for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++) d[r * ld + j] = xv[r * ld + j] > 0.0f ? d[r * ld + j] : 0.0f;
    }
  }
  if (p->bias) linear_bias_grad(lt_tensor_data(l->params[1].grad), g, dy_ld, B, p->out, overwrite);
  l->grad_overwrite = 0;
  if (need_dx) *dx = p->dx;
  return LT_OK;
}

static int linear_describe(const lt_layer *l, char *buf, size_t n) {
  const linear *p = l->priv;
  return snprintf(buf, n, "Linear(%d -> %d%s)", p->in, p->out, p->bias ? "" : ", no bias");
}

static void linear_free(lt_layer *l) {
  linear *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  lt_spd_free(p->sp);
  free(p);
}

static void linear_config(const lt_layer *l, lt_layer_config *c) {
  const linear *p = l->priv;
  lt_config_add_int(c, "in", p->in);
  lt_config_add_int(c, "out", p->out);
  lt_config_add_bool(c, "bias", p->bias);
}

static lt_layer *linear_from_config(const lt_layer_config *c, int nchildren, lt_layer **children);

const lt_layer_ops lt_linear_ops = {
    .kind = "linear", .prefix = "fc", .build = linear_build, .forward = linear_forward,
    .backward = linear_backward, .describe = linear_describe, .free = linear_free, .overwrites_grads = 1, .fuses_relu = 1,
    .layout = LT_LAYOUT_ANY, .config = linear_config, .from_config = linear_from_config, .prunable = 1, .channels = LT_CH_DENSE, .ch_in = "in", .ch_out = "out",
};

lt_layer *lt_linear_new(int in, int out, int bias) {
  if (in <= 0 || out <= 0) {
    lt_error(LT_EINVAL, "linear: sizes must be positive, got %d -> %d", in, out);
    return NULL;
  }
  linear *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating linear(%d -> %d)", in, out);
    return NULL;
  }
  p->in = in, p->out = out, p->bias = bias != 0;
  if (!(p->sp = lt_spd_new())) {
    free(p);
    lt_error(LT_ENOMEM, "out of memory allocating linear(%d -> %d)", in, out);
    return NULL;
  }
  lt_spd *sp = p->sp;
  lt_layer *l = lt_layer_alloc(&lt_linear_ops, p);
  if (!l) lt_spd_free(sp); // lt_layer_alloc freed p
  else l->spd = sp;        // the model and nn_sparse.c see it there
  return l;
}

static lt_layer *linear_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const keys[] = {"in", "out", "bias", NULL};
  int64_t in, out;
  int bias;
  if (lt_config_keys(c, "linear", keys) || lt_config_int(c, "linear", "in", 1, INT32_MAX, LT_CONFIG_REQUIRED, &in) ||
      lt_config_int(c, "linear", "out", 1, INT32_MAX, LT_CONFIG_REQUIRED, &out) ||
      lt_config_bool(c, "linear", "bias", 1, &bias))
    return NULL;
  return lt_linear_new((int)in, (int)out, bias);
}
