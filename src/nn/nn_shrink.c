/* nn_shrink.c: structured pruning made physical: a masked model becomes a new,
 * smaller dense model without its dead channels, built through each layer's
 * config and the kind registry, with the surviving weights, masks and
 * batchnorm statistics copied. Knows no layer kind: a layer's ops say how its
 * channels flow (channels, ch_in/ch_out, join; nn_impl.h).
 *
 * A channel (a conv's output channel, a linear layer's neuron) is dead when
 * its weight row has no kept entry among the live inputs. Dead channels go
 * from the producer's rows, from every per-channel layer after it (batchnorm,
 * depthwise conv) and from the columns of every consumer (the next conv, the
 * linear layer after a flatten: a channel's block of spatial columns).
 * Channels joined by a residual add are one group: a channel leaves only when
 * it is dead on every branch (body, shortcut or the identity's input), else
 * every branch keeps it. A concatenation joins nothing: its input's channels
 * and its body's are pruned independently. The model's outputs all stay.
 * What a dead channel still carried (its bias, batchnorm's beta) is dropped;
 * lt_shrink_info says how large it was (0: the shrunk model computes what the
 * masked one did, to float rounding). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct {
  const lt_layer *l;
  int nin, nout;
  uint8_t *in, *out, *force; // kept input / output channels; outputs pinned by a join or the model output
} node;

typedef struct {
  node *v;
  int n;
  int changed;
  double dropped;
} ctx;

// An activation: per channel, kept or not and the node (-1: the model input) and channel that made it.
typedef struct {
  int n;
  uint8_t *keep;
  int *onode, *och;
} act;

static int count(const uint8_t *k, int n) {
  int c = 0;
  for (int i = 0; i < n; i++) c += k[i] != 0;
  return c;
}

static lt_status act_new(act *a, int n) {
  a->n = n;
  a->keep = calloc(n ? n : 1, 1);
  a->onode = calloc(n ? n : 1, sizeof(int));
  a->och = calloc(n ? n : 1, sizeof(int));
  return a->keep && a->onode && a->och ? LT_OK : lt_error(LT_ENOMEM, "out of memory shrinking a model");
}
static void act_free(act *a) {
  free(a->keep), free(a->onode), free(a->och);
  memset(a, 0, sizeof *a);
}

static int walk(ctx *c, const lt_layer *l) {
  int i = c->n++;
  c->v[i].l = l;
  for (int j = 0, n = lt_layer_nchildren(l); j < n; j++) walk(c, lt_layer_child(l, j));
  return i;
}
static int count_layers(const lt_layer *l) {
  int n = 1;
  for (int j = 0, k = lt_layer_nchildren(l); j < k; j++) n += count_layers(lt_layer_child(l, j));
  return n;
}
static node *find(ctx *c, const lt_layer *l) {
  for (int i = 0; i < c->n; i++)
    if (c->v[i].l == l) return &c->v[i];
  return NULL;
}

static void pin(ctx *c, int onode, int och) {
  if (onode < 0) return; // the model input keeps everything
  node *d = &c->v[onode];
  if (!d->force[och]) d->force[och] = 1, c->changed = 1;
}

// Records a node's kept inputs (copied) and outputs.
static lt_status remember(node *d, const act *in, const act *out) {
  if ((!d->in && !(d->in = malloc(in->n ? in->n : 1))) || (!d->out && !(d->out = malloc(out->n ? out->n : 1))))
    return lt_error(LT_ENOMEM, "out of memory shrinking a model");
  d->nin = in->n, d->nout = out->n;
  memcpy(d->in, in->keep, in->n);
  memcpy(d->out, out->keep, out->n);
  return LT_OK;
}

// A weight row (out channel o) has a kept entry among live inputs; shape (out, in, inner...).
static int row_alive(const lt_param *w, int o, const uint8_t *kin) {
  int64_t in = w->shape[1];
  size_t inner = w->numel / (size_t)(w->shape[0] * in);
  const float *mk = lt_tensor_data(w->mask) + (size_t)o * in * inner;
  for (int64_t j = 0; j < in; j++)
    if (kin[j])
      for (size_t q = 0; q < inner; q++)
        if (mk[j * inner + q] != 0.0f) return 1;
  return 0;
}

static lt_status run(ctx *c, const lt_layer *l, const act *x, act *y);

static lt_status run_leaf(ctx *c, node *d, const lt_layer *l, const act *x, act *y) {
  int ch = l->ops->channels;
  int nout = l->out_ndim ? (int)l->out_shape[0] : 1;
  lt_status st = act_new(y, nout);
  if (st) return st;
  if (ch == LT_CH_DENSE) {
    const lt_param *w = &l->params[0];
    for (int o = 0; o < nout; o++) {
      y->keep[o] = d->force[o] || row_alive(w, o, x->keep);
      y->onode[o] = (int)(d - c->v), y->och[o] = o;
    }
    if (!count(y->keep, nout)) d->force[0] = y->keep[0] = 1; // a layer keeps at least one channel
  } else if (ch == LT_CH_EACH || nout == x->n) {
    if (nout != x->n) return lt_error(LT_ESHAPE, "shrink: %s has %d channels in and %d out", l->name, x->n, nout);
    memcpy(y->keep, x->keep, nout);
    memcpy(y->onode, x->onode, sizeof(int) * nout);
    memcpy(y->och, x->och, sizeof(int) * nout);
  } else { // a parameter-free layer widening the channel axis (flatten): blocks of features per channel
    if (x->n == 0 || nout % x->n)
      return lt_error(LT_EINVAL, "shrink: %s turns %d channels into %d; cannot follow them", l->name, x->n, nout);
    int b = nout / x->n;
    for (int o = 0; o < nout; o++) y->keep[o] = x->keep[o / b], y->onode[o] = -1, y->och[o] = 0;
  }
  return remember(d, x, y);
}

static lt_status run_add(ctx *c, node *d, const lt_layer *l, const act *x, act *y) {
  act b[2] = {{0}}, s = *x; // branch outputs; the identity when there is one child
  int nb = lt_layer_nchildren(l);
  lt_status st = LT_OK;
  for (int i = 0; i < nb && !st; i++) st = run(c, lt_layer_child(l, i), x, &b[i]);
  const act *br[2] = {&b[0], nb > 1 ? &b[1] : &s};
  if (!st && br[0]->n != br[1]->n) st = lt_error(LT_ESHAPE, "shrink: %s adds %d and %d channels", l->name, br[0]->n, br[1]->n);
  if (!st) st = act_new(y, br[0]->n);
  for (int o = 0; !st && o < y->n; o++) {
    int keep = d->force[o] || br[0]->keep[o] || br[1]->keep[o];
    for (int i = 0; keep && i < 2; i++)
      if (!br[i]->keep[o]) pin(c, br[i]->onode[o], br[i]->och[o]);
    y->keep[o] = keep, y->onode[o] = (int)(d - c->v), y->och[o] = o;
  }
  if (!st) st = remember(d, x, y);
  act_free(&b[0]), act_free(&b[1]);
  return st;
}

static lt_status run_cat(ctx *c, node *d, const lt_layer *l, const act *x, act *y) {
  act b = {0};
  lt_status st = run(c, lt_layer_child(l, 0), x, &b);
  if (!st) st = act_new(y, x->n + b.n);
  if (!st) {
    memcpy(y->keep, x->keep, x->n), memcpy(y->keep + x->n, b.keep, b.n);
    memcpy(y->onode, x->onode, sizeof(int) * x->n), memcpy(y->onode + x->n, b.onode, sizeof(int) * b.n);
    memcpy(y->och, x->och, sizeof(int) * x->n), memcpy(y->och + x->n, b.och, sizeof(int) * b.n);
    st = remember(d, x, y);
  }
  act_free(&b);
  return st;
}

static lt_status run_chain(ctx *c, node *d, const lt_layer *l, const act *x, act *y) {
  act cur = {0};
  lt_status st = act_new(&cur, x->n);
  if (st) return st;
  memcpy(cur.keep, x->keep, x->n), memcpy(cur.onode, x->onode, sizeof(int) * x->n), memcpy(cur.och, x->och, sizeof(int) * x->n);
  for (int i = 0, n = lt_layer_nchildren(l); i < n && !st; i++) {
    act next = {0};
    st = run(c, lt_layer_child(l, i), &cur, &next);
    act_free(&cur);
    cur = next;
  }
  if (!st) st = remember(d, x, &cur);
  if (st) act_free(&cur);
  else *y = cur;
  return st;
}

static lt_status run(ctx *c, const lt_layer *l, const act *x, act *y) {
  node *d = find(c, l);
  if (!l->ops->is_container) return run_leaf(c, d, l, x, y);
  if (l->ops->join == LT_JOIN_ADD) return run_add(c, d, l, x, y);
  if (l->ops->join == LT_JOIN_CAT) return run_cat(c, d, l, x, y);
  return run_chain(c, d, l, x, y);
}

/* ---- the new model ------------------------------------------------------------ */

static lt_status set_count(lt_layer_config *cf, const char *key, int v) {
  for (int i = 0; key && i < cf->n; i++)
    if (!strcmp(cf->e[i].key, key)) {
      cf->e[i].type = LT_CONFIG_INT, cf->e[i].i = v, cf->e[i].num = v;
      return LT_OK;
    }
  return key ? lt_error(LT_EINVAL, "shrink: no setting '%s' in the layer's config", key) : LT_OK;
}

static lt_layer *rebuild(ctx *c, const lt_layer *l) {
  node *d = find(c, l);
  lt_layer_config cf;
  lt_layer_config_get(l, &cf);
  int ch = l->ops->channels;
  if ((ch == LT_CH_DENSE && (set_count(&cf, l->ops->ch_in, count(d->in, d->nin)) ||
                             set_count(&cf, l->ops->ch_out, count(d->out, d->nout)))) ||
      (ch == LT_CH_EACH && set_count(&cf, l->ops->ch_in, count(d->in, d->nin))))
    return NULL;
  int n = lt_layer_nchildren(l);
  lt_layer **kids = calloc(n ? n : 1, sizeof *kids);
  if (!kids) return lt_error(LT_ENOMEM, "out of memory shrinking a model"), NULL;
  for (int i = 0; i < n; i++)
    if (!(kids[i] = rebuild(c, lt_layer_child(l, i)))) {
      for (int j = 0; j < i; j++) lt_layer_free(kids[j]);
      free(kids);
      return NULL;
    }
  lt_layer *nl = lt_layer_from_config(l->ops->kind, &cf, n, kids);
  free(kids);
  if (nl && l->user_named && lt_layer_set_name(nl, l->given)) {
    lt_layer_free(nl);
    return NULL;
  }
  return nl;
}

// dst = src's entries at kept (dim0 rows rk, dim1 columns ck; NULL: all) of a (d0, d1, inner) array.
static void gather(float *dst, const float *src, int64_t d0, int64_t d1, size_t inner, const uint8_t *rk,
                   const uint8_t *ck) {
  for (int64_t o = 0; o < d0; o++) {
    if (rk && !rk[o]) continue;
    for (int64_t j = 0; j < d1; j++) {
      if (ck && !ck[j]) continue;
      memcpy(dst, src + ((size_t)o * d1 + j) * inner, sizeof(float) * inner);
      dst += inner;
    }
  }
}

static void copy_param(ctx *c, const lt_param *a, const lt_param *b, int buffer) {
  const node *d = find(c, a->layer);
  int dense = a->layer->ops->channels == LT_CH_DENSE;
  const uint8_t *rk = dense ? d->out : d->in; // dim 0 follows the outputs (EACH: in = out)
  if (dense && a->ndim >= 2) {
    size_t inner = a->numel / (size_t)(a->shape[0] * a->shape[1]);
    gather(lt_tensor_data(b->value), lt_tensor_data(a->value), a->shape[0], a->shape[1], inner, rk, d->in);
    gather(lt_tensor_data(b->mask), lt_tensor_data(a->mask), a->shape[0], a->shape[1], inner, rk, d->in);
    return;
  }
  size_t inner = a->numel / (size_t)a->shape[0];
  gather(lt_tensor_data(b->value), lt_tensor_data(a->value), a->shape[0], 1, inner, rk, NULL);
  if (!buffer && b->mask) gather(lt_tensor_data(b->mask), lt_tensor_data(a->mask), a->shape[0], 1, inner, rk, NULL);
}

static void ctx_free(ctx *c) {
  for (int i = 0; c->v && i < c->n; i++) free(c->v[i].in), free(c->v[i].out), free(c->v[i].force);
  free(c->v);
}

// Which channels live: passes until no join or output pins another channel (pins are only added).
static lt_status analyse(ctx *c, const lt_model *m) {
  lt_layer *root = lt_model_root((lt_model *)m);
  int nl = count_layers(root);
  if (!(c->v = calloc(nl, sizeof *c->v))) return lt_error(LT_ENOMEM, "out of memory shrinking a model");
  walk(c, root);
  for (int i = 0; i < c->n; i++) {
    const lt_layer *l = c->v[i].l;
    int n = l->out_ndim ? (int)l->out_shape[0] : 1;
    if (!(c->v[i].force = calloc(n, 1))) return lt_error(LT_ENOMEM, "out of memory shrinking a model");
    if (!l->ops->is_container && !l->ops->from_config)
      return lt_error(LT_EINVAL, "shrink: layer %s (%s) cannot be rebuilt from its config", l->name, l->ops->kind);
  }
  int64_t in_shape[LT_MAXDIM];
  lt_model_input_shape(m, in_shape);
  for (;;) {
    act x = {0}, y = {0};
    c->changed = 0;
    lt_status st = act_new(&x, (int)in_shape[0]);
    for (int i = 0; !st && i < x.n; i++) x.keep[i] = 1, x.onode[i] = -1;
    if (!st) st = run(c, root, &x, &y);
    for (int o = 0; !st && o < y.n; o++)
      if (!y.keep[o]) pin(c, y.onode[o], y.och[o]);
    act_free(&x), act_free(&y);
    if (st) return st;
    if (!c->changed) return LT_OK;
  }
}

// The channels of p that go: a dense layer's dead outputs, a per-channel layer's dead inputs.
static const uint8_t *kept_of(ctx *c, const lt_param *p) {
  const node *d = find(c, p->layer);
  if (!d || p->layer->ops->channels == LT_CH_PASS) return NULL;
  return p->layer->ops->channels == LT_CH_DENSE ? d->out : d->in;
}

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

// The largest value a removed channel still carried: a bias, a running mean (what
// batchnorm shifts a zero channel by, with its beta); 0 after lt_model_shrink_clean.
static void dropped(ctx *c, const lt_model *m) {
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0, n = pass ? lt_model_nbuffers(m) : lt_model_nparams(m); i < n; i++) {
      const lt_param *p = pass ? lt_model_buffer(m, i) : lt_model_param(m, i);
      const uint8_t *k = kept_of(c, p);
      if (!k || p->ndim != 1 || !(ends_with(p->name, ".bias") || ends_with(p->name, "_mean"))) continue;
      const float *v = lt_tensor_data(p->value);
      for (int64_t j = 0; j < p->shape[0]; j++)
        if (!k[j] && fabs(v[j]) > c->dropped) c->dropped = fabs(v[j]);
    }
}

lt_status lt_model_shrink_clean(lt_model *m) {
  ctx c = {0};
  lt_status st = analyse(&c, m);
  for (int pass = 0; !st && pass < 2; pass++)
    for (int i = 0, n = pass ? lt_model_nbuffers(m) : lt_model_nparams(m); i < n; i++) {
      const lt_param *p = pass ? lt_model_buffer(m, i) : lt_model_param(m, i);
      const uint8_t *k = kept_of(&c, p);
      int dense = p->layer->ops->channels == LT_CH_DENSE;
      // a dense layer's bias; every per-channel value but a variance (1 is its neutral value)
      if (!k || (dense && p->ndim != 1) || ends_with(p->name, "_var")) continue;
      float *v = lt_tensor_data(p->value);
      size_t inner = p->numel / (size_t)p->shape[0];
      for (int64_t j = 0; j < p->shape[0]; j++)
        if (!k[j]) memset(v + j * inner, 0, sizeof(float) * inner);
    }
  if (!st) lt_model_mask_changed(m);
  ctx_free(&c);
  return st;
}

lt_status lt_model_shrink(const lt_model *m, lt_model **out, lt_shrink_info *info) {
  *out = NULL;
  ctx c = {0};
  lt_status st = analyse(&c, m);
  int64_t in_shape[LT_MAXDIM];
  int in_nd = lt_model_input_shape(m, in_shape);
  lt_model *nm = NULL;
  if (!st) {
    lt_layer *nr = rebuild(&c, lt_model_root((lt_model *)m));
    nm = nr ? lt_model_new(nr, in_nd, in_shape) : NULL;
    if (!nm) st = lt_error(LT_EINVAL, "shrink: %s", lt_errmsg());
  }
  if (!st) {
    int64_t a[LT_MAXDIM], b[LT_MAXDIM];
    int na = lt_model_output_shape(m, a), nb = lt_model_output_shape(nm, b);
    if (na != nb || memcmp(a, b, sizeof(int64_t) * na))
      st = lt_error(LT_EINVAL, "shrink: the model's output would change shape (does it end in a flatten?)");
    if (st) lt_model_free(nm);
  }
  if (!st) {
    for (int i = 0; i < lt_model_nparams(m); i++) copy_param(&c, lt_model_param(m, i), lt_model_param(nm, i), 0);
    for (int i = 0; i < lt_model_nbuffers(m); i++) copy_param(&c, lt_model_buffer(m, i), lt_model_buffer(nm, i), 1);
    lt_model_apply_mask(nm);
    dropped(&c, m);
    if (info) {
      info->dropped = c.dropped;
      info->params_before = lt_model_numel(m, 0);
      info->params_after = lt_model_numel(nm, 0);
    }
    *out = nm;
  }
  ctx_free(&c);
  return st;
}
