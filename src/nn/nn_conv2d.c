/* nn_conv2d.c: 2-D convolution over NCHW inputs, square kernels, stride,
 * zero padding, optional bias; W is (cout, cin, k, k).
 * Dense: the images are shared out over the threads (lt_get_threads(), on the
 * engine's worker pool); each image is unfolded into a buffer that stays in its
 * core's cache and multiplied by single-threaded GEMMs, in one of three layouts
 * (CONV_*). Weight and bias gradients are summed per fixed chunk of images and
 * then over chunks in order: bit-identical results whatever the thread count
 * or the scheduling. Sparse (when the mask makes W sparse enough): im2col and
 * the CSR kernels (lt_spd, sparse_dispatch.c) image by image, each kernel
 * threaded on its own. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv_impl.h"    // conv2d, the GEMM layouts (conv_gemm.c)
#include "nn/conv_winograd.h" // lt_wino_*: Winograd F(2x2, 3x3)
#include "core/pool.h" // lt_pool_run, LT_POOL_MAXPARTS, LT_POOL_MIN_WORK: the worker pool

/* Winograd where it measured faster (forward + backward of one layer, batch 60,
 * 1 thread, Zen 3, min of 7 alternating runs, GEMM-path time / Winograd time):
 * 64 channels at 28x28 1.06, 32x32 1.14; 128 at 16x16 1.17; 256 at 8x8 1.12; but
 * 16 channels at 32x32 0.81, 32 at 16x16 0.87, 64 at 8x8 0.81, 512 at 4x4 0.96
 * (2x2: 0.65). The 16 GEMMs are only cin deep, and small images give short ones:
 * 64+ channels in and out, 64+ outputs per image, 256+ below 128 channels in. */
#define WINO_MIN_C 64 // both channel counts
#define WINO_MIN_OUT 64 // outputs per image (8x8)

static _Thread_local lt_conv_scratch group_buf, partial_buf, wino_buf, wino_mb, wino_ab, wino_mw;

/* Winograd for the layers that can take it: on unless switched off (for a
 * comparison with the GEMM path, or rounding identical to an older run's). */
static atomic_int winograd_on = 1;
/* F(4x4, 3x3) where it fits (4), or F(2x2, 3x3) only (2, the default: F(4x4)'s
 * rounding error is about 16x larger, see conv_winograd4.c). */
static atomic_int winograd_tile = 2;
static int tiles4(void) { return atomic_load(&winograd_tile) == 4; }

int lt_conv2d_winograd(int on) {
  return on < 0 ? atomic_load(&winograd_on) : atomic_exchange(&winograd_on, on != 0);
}

int lt_conv2d_winograd_tile(int m) {
  return m != 2 && m != 4 ? atomic_load(&winograd_tile) : atomic_exchange(&winograd_tile, m);
}
/* ---- images shared out over the threads ------------------------------------------ */

/* Gradient sums are kept per chunk of images (a fixed split of the batch, at most
 * CONV_CHUNKS, fewer when a layer's chunk sums would pass CONV_PARTIAL_MAX floats
 * in all) and added in chunk order, so results do not depend on the threads. The
 * threads claim groups of images (forward) or chunks (backward) as they get
 * free: on a shared machine a thread that loses its core does less of the batch
 * instead of holding the step up. A ROWS layer with small images takes groups of
 * images side by side so that its GEMMs are GROUP_COLS columns wide (VGG's 2x2
 * layers would be 4); the other methods go one image at a time. */
#define CONV_CHUNKS 16
#define CONV_PARTIAL_MAX ((size_t)1 << 24)
#define GROUP_COLS 256
#define GROUP_BELOW 64
#define MIN_ITEMS 4 // groups or chunks for a batch, when it has that many images: work for each thread

typedef struct {
  const conv2d *p;
  int B, nparts;
  int group;                        // images per group (forward; most per group in backward)
  int nchunks;                      // backward
  const float *x, *w, *wf, *b, *dy; // w: W or p->wr
  const float *uf;                  // wino: the transformed kernel of dx (backward), or NULL
  int wino;                         // forward by Winograd F(2x2) (1) or F(4x4) (2) (w is then p->wu)
  int dx4;                          // backward: dx by F(4x4, 3x3) (uf holds 36 planes)
  int wgrad;                        // backward: the weight gradient by Winograd (chunk sums in W's layout)
  float *y, *dx;
  float *dw, *db;                   // backward: nchunks sums of dw_n and cout floats
  size_t dw_n;
  atomic_int next;                  // next group (forward) or chunk (backward) to claim
  atomic_int failed;
} conv_job;

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

/* Images per group for a batch of B: for images under GROUP_BELOW outputs, enough
 * for GROUP_COLS columns, but at least MIN_ITEMS groups. Larger images stay one
 * at a time: measured, groups of 8x8 images are slower with 64 channels (a
 * GEMM that small runs OpenBLAS's unpacked small-matrix kernel, a wider one
 * does not) and only 4% faster with 256; 512 channels at 4x4 (2x2) go 1.45x
 * (2.4x) faster in groups. */
static int group_size(const conv2d *p, int B) {
  int P = p->OH * p->OW;
  if (p->method != CONV_ROWS || B < 2 || P >= GROUP_BELOW) return 1;
  int g = ceil_div(GROUP_COLS, P), most = ceil_div(B, MIN_ITEMS);
  return g < most ? g : most;
}

/* Images per Winograd group in the forward: enough for WINO_TILES tiles, at least
 * MIN_ITEMS groups. */
#define WINO_TILES 192
#define WINO4_TILES 112 // F(4x4): 36 planes of 64 channels in L2 (measured: 56 and 112 alike, 192 slower)
static int wino_group(const conv2d *p, int B, int f4) {
  int tiles = f4 ? (int)lt_wino4_tiles(p->H, p->W) : ((p->OH + 1) / 2) * ((p->OW + 1) / 2);
  int g = ceil_div(f4 ? WINO4_TILES : WINO_TILES, tiles), most = ceil_div(B, MIN_ITEMS);
  g = g < most ? g : most;
  return g > 1 ? g : 1;
}

// This thread's Winograd buffer for g images (NULL + j->failed on ENOMEM).
static float *part_wino(conv_job *j, int g, float **mb) {
  const conv2d *p = j->p;
  int c = p->cin > p->cout ? p->cin : p->cout;
  size_t n = lt_wino_scratch(g, c, p->H, p->W), np = lt_wino_products(g, c, p->H, p->W);
  if (p->wino == 2) {
    size_t n4 = lt_wino4_scratch(g, c, p->H, p->W), np4 = lt_wino4_products(g, c, p->H, p->W);
    n = n > n4 ? n : n4, np = np > np4 ? np : np4;
  }
  float *w = lt_conv_scratch_get(&wino_buf, n, 0);
  size_t cap = wino_mb.cap;
  *mb = w ? lt_conv_scratch_get(&wino_mb, np, 0) : NULL;
  if (*mb && wino_mb.cap != cap) memset(*mb, 0, sizeof(float) * wino_mb.cap); // new: zero, as lt_wino_conv keeps it
  if (!*mb) atomic_store(&j->failed, 1);
  return *mb ? w : NULL;
}

// This thread's unfold and group buffers for groups of up to g images (NULL + j->failed on ENOMEM).
static int part_buffers(conv_job *j, int g, float **buf, float **tmp) {
  const conv2d *p = j->p;
  *buf = *tmp = NULL;
  if (p->method == CONV_DIRECT) return 1;
  size_t n = (size_t)p->cin * p->k * p->k * p->OH * p->OW; // im2col
  if (p->method == CONV_ROWS) {
    size_t fw = (size_t)p->cin * p->k * (p->H + 2 * p->pad) * p->OW;
    size_t bw = (size_t)p->cout * p->k * (p->OH + 2 * (p->k - 1 - p->pad)) * p->W;
    n = (fw > bw ? fw : bw) * g;
  }
  *buf = lt_conv_scratch_get(&lt_conv_unfold, n, p->method == CONV_ROWS);
  if (*buf && g > 1) {
    size_t o = (size_t)p->cout * p->OH * p->OW, i = (size_t)p->cin * p->H * p->W;
    *tmp = lt_conv_scratch_get(&group_buf, (o > i ? o : i) * g, 0);
  }
  if (*buf && (g == 1 || *tmp)) return 1;
  atomic_store(&j->failed, 1);
  return 0;
}

static void forward_part(void *arg, int part) {
  conv_job *j = arg;
  const conv2d *p = j->p;
  float *buf = NULL, *tmp = NULL, *mb = NULL;
  if (j->wino ? !(buf = part_wino(j, j->group, &mb)) : !part_buffers(j, j->group, &buf, &tmp)) return;
  size_t in_img = (size_t)p->cin * p->H * p->W, out_img = (size_t)p->cout * p->OH * p->OW;
  for (int gi, ng = ceil_div(j->B, j->group); (gi = atomic_fetch_add(&j->next, 1)) < ng;) {
    int b = gi * j->group, g = j->B - b < j->group ? j->B - b : j->group;
    float *y = j->y + b * out_img;
    const float *x = j->x + b * in_img;
    if (j->wino == 2) lt_wino4_conv(y, x, g, p->cin, p->cout, p->H, p->W, j->w, j->b, buf, mb);
    else if (j->wino) lt_wino_conv(y, x, g, p->cin, p->cout, p->H, p->W, j->w, j->b, buf, mb);
    else lt_conv_group_forward(p, y, x, g, j->w, j->b, buf, tmp);
  }
}

/* The weight gradient of a chunk's images b0..b1 by Winograd into dw (W's layout),
 * and db as lt_conv_group_backward sums it for groups of one image. */
static void wgrad_chunk(const conv_job *j, float *dw, float *db, int b0, int b1, float *wbuf, float *ab, float *mw) {
  const conv2d *p = j->p;
  const int P = p->OH * p->OW;
  size_t in_img = (size_t)p->cin * p->H * p->W, out_img = (size_t)p->cout * P;
  for (int b = b0; db && b < b1; b++)
    for (int c = 0; c < p->cout; c++) {
      float s = lt_conv_row_sum(j->dy + b * out_img + (size_t)c * P, P);
      db[c] = b == b0 ? s : db[c] + s;
    }
  lt_wino_wgrad(dw, j->x + b0 * in_img, j->dy + b0 * out_img, b1 - b0, p->cin, p->cout, p->H, p->W, wbuf, ab, mw);
}

static void backward_part(void *arg, int part) {
  conv_job *j = arg;
  const conv2d *p = j->p;
  float *buf = NULL, *tmp = NULL, *wbuf = NULL, *mb = NULL, *ab = NULL, *mw = NULL;
  if (!j->wgrad && !part_buffers(j, j->group, &buf, &tmp)) return;
  // Winograd's dx and dw: a chunk's images at once (the most a chunk has), its GEMMs wider than a group's
  const int most = ceil_div(j->B, j->nchunks);
  if ((j->uf || j->wgrad) && !(wbuf = part_wino(j, most, &mb))) return;
  if (j->wgrad) {
    ab = lt_conv_scratch_get(&wino_ab, lt_wino_products(most, p->cout, p->H, p->W), 0);
    mw = ab ? lt_conv_scratch_get(&wino_mw, (size_t)16 * p->cout * p->cin, 0) : NULL;
    if (!mw) {
      atomic_store(&j->failed, 1);
      return;
    }
  }
  size_t in_img = (size_t)p->cin * p->H * p->W, out_img = (size_t)p->cout * p->OH * p->OW;
  for (int c; (c = atomic_fetch_add(&j->next, 1)) < j->nchunks;) {
    int b0 = (int)((int64_t)c * j->B / j->nchunks), b1 = (int)((int64_t)(c + 1) * j->B / j->nchunks);
    float *dw = j->dw + c * j->dw_n, *db = j->db ? j->db + (size_t)c * p->cout : NULL;
    if (j->wgrad) wgrad_chunk(j, dw, db, b0, b1, wbuf, ab, mw);
    for (int b = b0; !j->wgrad && b < b1; b += j->group) {
      int g = b1 - b < j->group ? b1 - b : j->group;
      lt_conv_group_backward(p, j->dx && !j->uf ? j->dx + b * in_img : NULL, dw, db, j->dy + b * out_img, j->x + b * in_img,
                     g, j->w, j->wf, buf, tmp, b == b0);
    }
    // dx in the forward's groups of images (a chunk at once measured the same, with larger buffers)
    const int gg = wino_group(p, j->B, j->dx4);
    for (int b = b0; j->dx && j->uf && b < b1; b += gg) {
      const int n = b1 - b < gg ? b1 - b : gg;
      float *d = j->dx + b * in_img;
      const float *e = j->dy + b * out_img;
      if (j->dx4) lt_wino4_conv(d, e, n, p->cout, p->cin, p->H, p->W, j->uf, NULL, wbuf, mb);
      else lt_wino_conv(d, e, n, p->cout, p->cin, p->H, p->W, j->uf, NULL, wbuf, mb);
    }
  }
}

// Threads: all of them, none for work too small to be worth a hand-off, never more than the items.
static int conv_nparts(const conv2d *p, int B, int items) {
  double macs = (double)B * p->cout * p->cin * p->k * p->k * p->OH * p->OW;
  int n = lt_get_threads();
  if (n > LT_POOL_MAXPARTS) n = LT_POOL_MAXPARTS;
  if (n > items) n = items;
  return macs < LT_POOL_MIN_WORK || n < 1 ? 1 : n;
}

static lt_status run_parts(conv_job *j, void (*fn)(void *, int), const char *name) {
  int threads = lt_get_threads();
  if (j->nparts > 1) lt_set_threads(1); // each part's GEMMs stay on the core that unfolded its image
  lt_pool_run(j->nparts, fn, j);
  if (j->nparts > 1) lt_set_threads(threads);
  return atomic_load(&j->failed) ? lt_error(LT_ENOMEM, "out of memory for %s's column buffer", name) : LT_OK;
}

/* ---- the layer ------------------------------------------------------------------ */

static lt_status conv_build(lt_layer *l, lt_build *b, int ndim, const int64_t *in, int *out_ndim, int64_t *out,
                            const lt_layer **producer) {
  conv2d *p = l->priv;
  if (ndim != 3 || in[0] != p->cin || in[1] + 2 * p->pad < p->k || in[2] + 2 * p->pad < p->k) {
    char e[64];
    snprintf(e, sizeof e, "(%d, H, W) with H, W >= %d", p->cin, p->k - 2 * p->pad > 1 ? p->k - 2 * p->pad : 1);
    return lt_layer_shape_error(l, e, *producer, ndim, in);
  }
  p->H = (int)in[1], p->W = (int)in[2];
  p->OH = (p->H + 2 * p->pad - p->k) / p->stride + 1;
  p->OW = (p->W + 2 * p->pad - p->k) / p->stride + 1;
  int64_t ws[4] = {p->cout, p->cin, p->k, p->k}, bs[1] = {p->cout};
  lt_status st = lt_build_param(b, l, "weight", 4, ws, 1, 1);
  if (!st && p->bias) st = lt_build_param(b, l, "bias", 1, bs, 0, 1);
  if (st) return st;
  size_t K = (size_t)p->cin * p->k * p->k;
  if (p->k == 1 && p->stride == 1 && p->pad == 0) p->method = CONV_DIRECT;
  else if (p->stride == 1 && p->pad < p->k && p->cin >= ROWS_MIN_CIN) p->method = CONV_ROWS;
  else p->method = CONV_IM2COL;
  p->wino = p->method == CONV_ROWS && p->k == 3 && p->pad == 1 && p->cin >= WINO_MIN_C && p->cout >= WINO_MIN_C &&
            p->OH * p->OW >= WINO_MIN_OUT && !(p->cin < 128 && p->OH * p->OW < 256);
  if (p->wino && lt_wino4_fits(p->H, p->W)) p->wino = 2;
  free(p->wu);
  p->wu = NULL;
  if (p->wino && !(p->wu = malloc(sizeof(float) * (p->wino == 2 ? 72 : 32) * p->cout * p->cin)))
    return lt_error(LT_ENOMEM, "out of memory for %s's weight layout", l->name);
  if (p->method == CONV_ROWS) {
    free(p->wr);
    if (!(p->wr = malloc(sizeof(float) * 2 * p->cout * K)))
      return lt_error(LT_ENOMEM, "out of memory for %s's weight layout", l->name);
  }
  *out_ndim = 3;
  out[0] = p->cout, out[1] = p->OH, out[2] = p->OW;
  *producer = l;
  return LT_OK;
}

static lt_status conv_forward(lt_layer *l, const lt_tensor *x, lt_tensor **y, int train) {
  conv2d *p = l->priv;
  int B = (int)x->shape[0], K = p->cin * p->k * p->k, P = p->OH * p->OW;
  int64_t s[4] = {B, p->cout, p->OH, p->OW};
  lt_status st = lt_layer_buffer(&p->y, 4, s);
  if (st) return st;
  p->x = x;
  const float *W = lt_tensor_data(l->params[0].value), *bias = p->bias ? lt_tensor_data(l->params[1].value) : NULL;
  const float *a = lt_tensor_data(x);
  float *o = lt_tensor_data(p->y);
  lt_spd_set_inference(p->sp, train ? 0 : LT_SPD_INFER_IMAGE); // auto may run an n:m mask on the n:m forward
  st = lt_spd_prepare(p->sp, W, lt_tensor_data(l->params[0].mask), p->cout, K, P,
                      l->mask_version ? *l->mask_version : 0, &p->sparse);
  if (st) return st;
  if (!p->sparse) {
    conv_job j = {.p = p, .B = B, .group = group_size(p, B), .x = a, .w = p->method == CONV_ROWS ? p->wr : W,
                  .b = bias, .y = o};
    if (p->wino == 2 && lt_conv2d_winograd(-1) && tiles4()) {
      lt_wino4_weights(p->wu, W, p->cout, p->cin, 0);
      j.wino = 2, j.w = p->wu, j.group = wino_group(p, B, 1);
    } else if (p->wino && lt_conv2d_winograd(-1)) {
      lt_wino_weights(p->wu, W, p->cout, p->cin, 0);
      j.wino = 1, j.w = p->wu, j.group = wino_group(p, B, 0);
    } else if (p->method == CONV_ROWS) {
      lt_conv_repack_weights(p->wr, W, p->cout, p->cin, p->k, 0);
    }
    j.nparts = conv_nparts(p, B, ceil_div(B, j.group));
    if ((st = run_parts(&j, forward_part, l->name))) return st;
    *y = p->y;
    return LT_OK;
  }
  size_t in_img = (size_t)p->cin * p->H * p->W, out_img = (size_t)p->cout * P;
  float *cols = p->method == CONV_DIRECT ? NULL : lt_conv_scratch_get(&lt_conv_unfold, (size_t)K * P, 0);
  if (p->method != CONV_DIRECT && !cols) return lt_error(LT_ENOMEM, "out of memory for %s's column buffer", l->name);
  for (int b = 0; b < B; b++) {
    const float *c = a + b * in_img;
    if (cols) {
      lt_im2col(cols, c, p->cin, p->H, p->W, p->k, p->stride, p->pad, p->OH, p->OW);
      c = cols;
    }
    if ((st = lt_spd_conv_forward(p->sp, o + b * out_img, c, bias, P))) return st;
  }
  *y = p->y;
  return LT_OK;
}

// Sparse backward, image by image (the CSR kernels thread themselves).
static lt_status backward_sparse(lt_layer *l, float *d, const float *g, const float *a, float *dW, float *db, int B) {
  conv2d *p = l->priv;
  int K = p->cin * p->k * p->k, P = p->OH * p->OW;
  size_t in_img = (size_t)p->cin * p->H * p->W, out_img = (size_t)p->cout * P;
  float *cols = p->method == CONV_DIRECT ? NULL : lt_conv_scratch_get(&lt_conv_unfold, (size_t)K * P, 0);
  if (p->method != CONV_DIRECT && !cols) return lt_error(LT_ENOMEM, "out of memory for %s's column buffer", l->name);
  lt_status st = lt_spd_conv_backward_begin(p->sp, d != NULL);
  if (st) return st;
  for (int b = 0; b < B; b++) {
    const float *gb = g + b * out_img, *c = a + b * in_img;
    if (cols) {
      lt_im2col(cols, c, p->cin, p->H, p->W, p->k, p->stride, p->pad, p->OH, p->OW);
      c = cols;
    }
    // the weight gradient reads the columns before dcols overwrites them (one buffer)
    float *dcols = !d ? NULL : cols ? cols : d + b * in_img;
    if ((st = lt_spd_conv_backward_image(p->sp, dcols, gb, c, P))) return st;
    if (db)
      for (int ch = 0; ch < p->cout; ch++) db[ch] += lt_conv_row_sum(gb + (size_t)ch * P, P);
    if (d && cols) {
      memset(d + b * in_img, 0, sizeof(float) * in_img);
      lt_col2im(d + b * in_img, cols, p->cin, p->H, p->W, p->k, p->stride, p->pad, p->OH, p->OW);
    }
  }
  return lt_spd_conv_backward_end(p->sp, dW);
}

static lt_status conv_backward(lt_layer *l, const lt_tensor *dy, lt_tensor **dx, int need_dx) {
  conv2d *p = l->priv;
  int B = (int)dy->shape[0], K = p->cin * p->k * p->k;
  float *d = NULL;
  lt_status st;
  if (need_dx) {
    int64_t s[4] = {B, p->cin, p->H, p->W};
    if ((st = lt_layer_buffer(&p->dx, 4, s))) return st;
    d = lt_tensor_data(p->dx);
  }
  const float *W = lt_tensor_data(l->params[0].value), *g = lt_tensor_data(dy), *a = lt_tensor_data(p->x);
  float *dW = lt_tensor_data(l->params[0].grad), *db = p->bias ? lt_tensor_data(l->params[1].grad) : NULL;
  if (p->sparse) {
    if ((st = backward_sparse(l, d, g, a, dW, db, B))) return st;
    if (need_dx) *dx = p->dx;
    return LT_OK;
  }
  conv_job j = {.p = p, .B = B, .x = a, .w = W, .dy = g, .dx = d, .dw_n = (size_t)p->cout * K};
  if (B > 0) {
    // a chunk per group, at most CONV_CHUNKS (16 chunks of 3-4 images when each image is its own group)
    j.group = group_size(p, B);
    j.nchunks = ceil_div(B, j.group);
    if (j.nchunks > CONV_CHUNKS) j.nchunks = CONV_CHUNKS;
    if ((size_t)j.nchunks * j.dw_n > CONV_PARTIAL_MAX) {
      size_t fit = CONV_PARTIAL_MAX / j.dw_n;
      j.nchunks = fit > 1 ? (int)fit : 1;
    }
    j.nparts = conv_nparts(p, B, j.nchunks);
    size_t dbn = p->bias ? (size_t)p->cout : 0;
    float *part = lt_conv_scratch_get(&partial_buf, (size_t)j.nchunks * (j.dw_n + dbn), 0);
    if (!part) return lt_error(LT_ENOMEM, "out of memory in %s", l->name);
    j.dw = part, j.db = p->bias ? part + (size_t)j.nchunks * j.dw_n : NULL;
    j.wgrad = p->wino && lt_conv2d_winograd(-1);
    if (need_dx && p->wino == 2 && lt_conv2d_winograd(-1) && tiles4()) {
      j.uf = p->wu + (size_t)36 * p->cout * p->cin, j.dx4 = 1;
      lt_wino4_weights(p->wu + (size_t)36 * p->cout * p->cin, W, p->cout, p->cin, 1);
    } else if (need_dx && p->wino && lt_conv2d_winograd(-1)) {
      j.uf = p->wu + (size_t)16 * p->cout * p->cin;
      lt_wino_weights(p->wu + (size_t)16 * p->cout * p->cin, W, p->cout, p->cin, 1);
    } else if (p->method == CONV_ROWS) {
      lt_conv_repack_weights(p->wr + j.dw_n, W, p->cout, p->cin, p->k, 1);
      j.wf = p->wr + j.dw_n;
    }
    if ((st = run_parts(&j, backward_part, l->name))) return st;
    // sums over chunks, in chunk order, into chunk 0's (streams; each element's
    // additions in the same order as one sum over q), then onto dW
    for (int q = 1; q < j.nchunks; q++) {
      const float *src = j.dw + (size_t)q * j.dw_n;
      for (size_t i = 0; i < j.dw_n; i++) j.dw[i] += src[i];
    }
    if (p->method != CONV_ROWS || j.wgrad) {
      for (size_t i = 0; i < j.dw_n; i++) dW[i] += j.dw[i];
    } else { // the sums index (ki, o, c*k + kj): W's layout (o, c, ki, kj) without a division per element
      const int k = p->k;
      const float *s = j.dw;
      for (int ki = 0; ki < k; ki++)
        for (int o = 0; o < p->cout; o++)
          for (int c = 0; c < p->cin; c++, s += k) {
            float *w = dW + ((size_t)(o * p->cin + c) * k + ki) * k;
            for (int kj = 0; kj < k; kj++) w[kj] += s[kj];
          }
    }
    for (int c = 0; db && c < p->cout; c++) {
      float s = j.db[c];
      for (int q = 1; q < j.nchunks; q++) s += j.db[q * p->cout + c];
      db[c] += s;
    }
  }
  lt_spd_grad_dirty(p->sp);
  if (need_dx) *dx = p->dx;
  return LT_OK;
}

static int conv_describe(const lt_layer *l, char *buf, size_t n) {
  const conv2d *p = l->priv;
  int w = snprintf(buf, n, "Conv2d(%d -> %d, %dx%d", p->cin, p->cout, p->k, p->k);
  if (p->stride != 1 && w < (int)n) w += snprintf(buf + w, n - w, ", stride %d", p->stride);
  if (p->pad && w < (int)n) w += snprintf(buf + w, n - w, ", padding %d", p->pad);
  if (!p->bias && w < (int)n) w += snprintf(buf + w, n - w, ", no bias");
  if (w < (int)n) w += snprintf(buf + w, n - w, ")");
  return w;
}

static void conv_free(lt_layer *l) {
  conv2d *p = l->priv;
  if (!p) return;
  lt_tensor_release(p->y);
  lt_tensor_release(p->dx);
  free(p->wr);
  free(p->wu);
  lt_spd_free(p->sp);
  free(p);
}

static void conv_config(const lt_layer *l, lt_layer_config *c) {
  const conv2d *p = l->priv;
  lt_config_add_int(c, "cin", p->cin);
  lt_config_add_int(c, "cout", p->cout);
  lt_config_add_int(c, "k", p->k);
  lt_config_add_int(c, "stride", p->stride);
  lt_config_add_int(c, "padding", p->pad);
  lt_config_add_bool(c, "bias", p->bias);
}

static lt_layer *conv_from_config(const lt_layer_config *c, int nchildren, lt_layer **children);

const lt_layer_ops lt_conv2d_ops = {
    .kind = "conv2d", .prefix = "conv", .build = conv_build, .forward = conv_forward,
    .backward = conv_backward, .describe = conv_describe, .free = conv_free,
    .config = conv_config, .from_config = conv_from_config, .prunable = 1,
    .channels = LT_CH_DENSE, .ch_in = "cin", .ch_out = "cout",
};

lt_layer *lt_conv2d_new(int cin, int cout, int k, int stride, int padding, int bias) {
  if (cin <= 0 || cout <= 0 || k <= 0 || stride <= 0 || padding < 0) {
    lt_error(LT_EINVAL, "conv2d: need cin, cout, k, stride > 0 and padding >= 0, got %d, %d, %d, %d, %d", cin, cout, k,
             stride, padding);
    return NULL;
  }
  conv2d *p = calloc(1, sizeof *p);
  if (!p) {
    lt_error(LT_ENOMEM, "out of memory allocating conv2d");
    return NULL;
  }
  p->cin = cin, p->cout = cout, p->k = k, p->stride = stride, p->pad = padding, p->bias = bias != 0;
  lt_spd *sp = p->sp = lt_spd_new();
  if (!sp) {
    free(p);
    lt_error(LT_ENOMEM, "out of memory allocating conv2d");
    return NULL;
  }
  lt_layer *l = lt_layer_alloc(&lt_conv2d_ops, p);
  if (!l) lt_spd_free(sp); // lt_layer_alloc freed p
  else l->spd = sp;        // the model and nn_sparse.c see it there
  return l;
}

static lt_layer *conv_from_config(const lt_layer_config *c, int nchildren, lt_layer **children) {
  static const char *const keys[] = {"cin", "cout", "k", "stride", "padding", "bias", NULL};
  int64_t cin, cout, k, stride, pad;
  int bias;
  if (lt_config_keys(c, "conv2d", keys) ||
      lt_config_int(c, "conv2d", "cin", 1, INT32_MAX, LT_CONFIG_REQUIRED, &cin) ||
      lt_config_int(c, "conv2d", "cout", 1, INT32_MAX, LT_CONFIG_REQUIRED, &cout) ||
      lt_config_int(c, "conv2d", "k", 1, INT32_MAX, LT_CONFIG_REQUIRED, &k) ||
      lt_config_int(c, "conv2d", "stride", 1, INT32_MAX, 1, &stride) ||
      lt_config_int(c, "conv2d", "padding", 0, INT32_MAX, 0, &pad) || lt_config_bool(c, "conv2d", "bias", 1, &bias))
    return NULL;
  return lt_conv2d_new((int)cin, (int)cout, (int)k, (int)stride, (int)pad, bias);
}
