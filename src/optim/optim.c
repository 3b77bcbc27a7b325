/* optim.c: what every optimizer shares: allocation, argument checks, the
 * dense and versioned (kept positions only) steps that call the optimizer's
 * ops, reset, lr and moments. One optimizer is one file (optim_sgd.c,
 * optim_adam.c) with its ops table and constructor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotto/tensor.h" /* lt_count_nonzero */
#include "optim/optim_impl.h"

lt_optim *lt_optim_alloc(const lt_optim_ops *ops, const char *name, size_t n, int nmoments) {
  lt_optim *o = calloc(1, sizeof *o);
  if (!o) goto fail;
  o->ops = ops;
  o->name = name;
  o->n = n;
  o->flush = 1;
  size_t bytes = (n ? n : 1) * sizeof(float);
  if (nmoments >= 1 && !(o->m = calloc(1, bytes))) goto fail;
  if (nmoments >= 2 && !(o->v = calloc(1, bytes))) goto fail;
  return o;
fail:
  lt_optim_free(o);
  lt_error(LT_ENOMEM, "%s: out of memory for %zu parameters", name, n);
  return NULL;
}

lt_status lt_optim_check_lr_wd(const char *who, float lr, float weight_decay) {
  if (!(lr >= 0.0f) || !isfinite(lr)) return lt_error(LT_EINVAL, "%s: lr must be a finite number >= 0 (got %g)", who, lr);
  if (!(weight_decay >= 0.0f) || !isfinite(weight_decay))
    return lt_error(LT_EINVAL, "%s: weight_decay must be a finite number >= 0 (got %g)", who, weight_decay);
  return LT_OK;
}

size_t lt_optim_size(const lt_optim *o) { return o->n; }
void lt_optim_set_flush(lt_optim *o, int on) { o->flush = on != 0; }
int lt_optim_get_flush(const lt_optim *o) { return o->flush; }
const char *lt_optim_name(const lt_optim *o) { return o->name; }
int lt_optim_describe(const lt_optim *o, char *buf, size_t n) { return o->ops->describe(o, buf, n); }

/* ---- kept positions and their compact moments ----
 * While a mask stays the same (versioned steps), the moments of the kept
 * weights live compact in cm, cv, so a step streams them instead of touching
 * a cache line of m and v per kept weight; the dense m, v are brought up to
 * date when someone looks (lt_optim_moment) or the mask changes. */

/* Dense m, v from the compact ones. */
static void sync_dense(lt_optim *o) {
  if (!o->dense_stale) return;
  for (size_t j = 0; j < o->nkept; j++) {
    if (o->m) o->m[o->kept[j]] = o->cm[j];
    if (o->v) o->v[o->kept[j]] = o->cv[j];
  }
  o->dense_stale = 0;
}

/* Compact moments from the dense ones. */
static void gather_compact(lt_optim *o) {
  for (size_t j = 0; j < o->nkept; j++) {
    if (o->m) o->cm[j] = o->m[o->kept[j]];
    if (o->v) o->cv[j] = o->v[o->kept[j]];
  }
}

static void drop_kept(lt_optim *o) {
  free(o->kept);
  free(o->cm);
  free(o->cv);
  o->kept = NULL;
  o->cm = o->cv = NULL;
  o->nkept = 0;
  o->kept_valid = 0;
  o->kept_all = 0;
  o->dense_stale = 0;
}

static void full_step(lt_optim *o, float *w, const float *g, const float *mask) {
  unsigned c = lt_flush_begin(o->flush);
  o->ops->step(o, w, g, mask);
  lt_flush_end(c);
  o->steps++;
}

lt_status lt_optim_step(lt_optim *o, float *w, const float *g, const float *mask, size_t n) {
  if (!o || !w || !g) return lt_error(LT_EINVAL, "optimizer step: NULL argument");
  if (n != o->n)
    return lt_error(LT_ESHAPE, "optimizer step: %zu parameters given, optimizer made for %zu", n, o->n);
  /* the dense moments move: compact copies would be out of date */
  sync_dense(o);
  drop_kept(o);
  full_step(o, w, g, mask);
  o->moments_unknown = mask == NULL; /* unmasked: every weight may carry moments */
  return LT_OK;
}

/* Lists the kept positions of mask when sparse enough to pay off; else none. */
static lt_status build_kept(lt_optim *o, const float *mask, uint64_t version) {
  const size_t n = o->n;
  size_t nk = (size_t)lt_count_nonzero(mask, n);
  drop_kept(o);
  if ((double)nk <= LT_OPTIM_SPARSE_DENSITY * (double)n && n <= UINT32_MAX) {
    size_t c = nk ? nk : 1;
    o->kept = malloc(c * sizeof *o->kept);
    if (o->m) o->cm = malloc(c * sizeof *o->cm);
    if (o->v) o->cv = malloc(c * sizeof *o->cv);
    if (!o->kept || (o->m && !o->cm) || (o->v && !o->cv)) {
      drop_kept(o);
      return lt_error(LT_ENOMEM, "optimizer: out of memory for %zu kept positions", nk);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (mask[i] != 0.0f) o->kept[k++] = (uint32_t)i;
    o->nkept = nk;
  }
  o->kept_all = nk == n;
  o->kept_version = version;
  o->kept_valid = 1;
  return LT_OK;
}

/* A new mask version while the kept positions of the old one are listed and the
 * new mask is as sparse: the list is rebuilt in one scan of the mask, the compact
 * moments of weights kept by both carried over, a grown weight's taken from the
 * dense ones (zero: masked weights carry none), and a dropped weight written 0
 * with zero moments. Masked weights outside the old list are zero with zero
 * moments already (the contract of lt_optim_step_versioned), so this is the full
 * masked step's result at the cost of the changed positions plus the scan.
 * 1: done; 0: not applicable (the caller takes the full step); < 0: error. */
static int rebuild_kept(lt_optim *o, float *w, const float *mask, uint64_t version) {
  const size_t n = o->n;
  if (!o->kept || o->kept_all || o->moments_unknown) return 0;
  size_t nk = (size_t)lt_count_nonzero(mask, n);
  if ((double)nk > LT_OPTIM_SPARSE_DENSITY * (double)n) return 0;
  size_t c = nk ? nk : 1;
  uint32_t *kept = malloc(c * sizeof *kept);
  float *cm = o->m ? malloc(c * sizeof *cm) : NULL, *cv = o->v ? malloc(c * sizeof *cv) : NULL;
  if (!kept || (o->m && !cm) || (o->v && !cv)) {
    free(kept), free(cm), free(cv);
    lt_error(LT_ENOMEM, "optimizer: out of memory for %zu kept positions", nk);
    return -1;
  }
  const uint32_t *u = (const uint32_t *)(const void *)mask; /* nonzero: any bit but the sign */
  size_t j = 0, k = 0;
  for (size_t i0 = 0; i0 < n; i0 += 32) {
    size_t len = n - i0 < 32 ? n - i0 : 32;
    uint32_t bits = 0; /* the block's kept positions, walked by their set bits (no branch per weight) */
    for (size_t l = 0; l < len; l++) bits |= (uint32_t)((u[i0 + l] << 1) != 0) << l;
    for (; bits; bits &= bits - 1) {
      size_t i = i0 + (size_t)__builtin_ctz(bits);
      for (; j < o->nkept && o->kept[j] < i; j++) { /* dropped */
        uint32_t p = o->kept[j];
        w[p] = 0.0f;
        if (o->m) o->m[p] = 0.0f;
        if (o->v) o->v[p] = 0.0f;
      }
      int both = j < o->nkept && o->kept[j] == i;
      if (cm) cm[k] = both ? o->cm[j] : o->m[i];
      if (cv) cv[k] = both ? o->cv[j] : o->v[i];
      j += both;
      kept[k++] = (uint32_t)i;
    }
  }
  for (; j < o->nkept; j++) {
    uint32_t p = o->kept[j];
    w[p] = 0.0f;
    if (o->m) o->m[p] = 0.0f;
    if (o->v) o->v[p] = 0.0f;
  }
  int stale = o->dense_stale;
  drop_kept(o);
  o->kept = kept, o->cm = cm, o->cv = cv, o->nkept = nk;
  o->dense_stale = stale; /* the dense moments of carried weights are as old as before */
  o->kept_version = version;
  o->kept_valid = 1;
  o->rebuilds++;
  return 1;
}

lt_status lt_optim_step_versioned(lt_optim *o, float *w, const float *g, const float *mask, size_t n,
                                  uint64_t mask_version) {
  if (!o || !w || !g) return lt_error(LT_EINVAL, "optimizer step: NULL argument");
  if (n != o->n)
    return lt_error(LT_ESHAPE, "optimizer step: %zu parameters given, optimizer made for %zu", n, o->n);
  if (!mask) return lt_optim_step(o, w, g, NULL, n);
  if (!o->kept_valid || o->kept_version != mask_version) {
    int r = o->kept_valid ? rebuild_kept(o, w, mask, mask_version) : 0;
    if (r < 0) return LT_ENOMEM;
    if (r == 0) {
      sync_dense(o);
      lt_status st = build_kept(o, mask, mask_version);
      if (st) return st;
      full_step(o, w, g, mask); /* full pass: masked weights and moments to zero */
      o->moments_unknown = 0;
      o->full_steps++;
      if (o->kept) gather_compact(o);
      return LT_OK;
    }
  }
  if (!o->kept) {
    full_step(o, w, g, o->kept_all ? NULL : mask);
    return LT_OK;
  }
  unsigned c = lt_flush_begin(o->flush);
  o->ops->step_kept(o, w, g, 0, o->nkept);
  lt_flush_end(c);
  o->dense_stale = 1;
  o->steps++;
  return LT_OK;
}

/* First j with kept[j] >= pos. */
static size_t kept_lower(const lt_optim *o, size_t pos) {
  size_t lo = 0, hi = o->nkept;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (o->kept[mid] < pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

lt_status lt_optim_step_segments(lt_optim *o, float *w, const float *g, const float *mask, size_t n,
                                 uint64_t mask_version, const lt_optim_seg *segs, int nsegs) {
  if (!o || !w || !g || nsegs < 0 || (nsegs && !segs)) return lt_error(LT_EINVAL, "optimizer step: NULL argument");
  if (!mask || !o->kept || !o->kept_valid || o->kept_version != mask_version || !o->ops->step_compact || !nsegs)
    return lt_optim_step_versioned(o, w, g, mask, n, mask_version);
  if (n != o->n)
    return lt_error(LT_ESHAPE, "optimizer step: %zu parameters given, optimizer made for %zu", n, o->n);
  for (int s = 0; s < nsegs; s++)
    if (segs[s].offset + segs[s].numel > n || (s && segs[s].offset < segs[s - 1].offset + segs[s - 1].numel) ||
        (segs[s].nnz && (!segs[s].val || !segs[s].grad)))
      return lt_error(LT_EINVAL, "optimizer step: segment %d lies outside the parameters or overlaps another", s + 1);
  unsigned c = lt_flush_begin(o->flush);
  size_t j = 0; /* kept positions before j are done */
  for (int s = 0; s < nsegs; s++) {
    const lt_optim_seg *sg = &segs[s];
    size_t j0 = kept_lower(o, sg->offset), j1 = kept_lower(o, sg->offset + sg->numel);
    if (j1 - j0 != sg->nnz) continue; /* not this mask's pattern: the indexed step takes it */
    if (j0 > j) o->ops->step_kept(o, w, g, j, j0);
    o->ops->step_compact(o, sg->val, sg->grad, j0, sg->nnz);
    if (!sg->lazy) /* the dense values stay the truth */
      for (size_t k = 0; k < sg->nnz; k++) w[o->kept[j0 + k]] = sg->val[k];
    j = j1;
  }
  if (j < o->nkept) o->ops->step_kept(o, w, g, j, o->nkept);
  lt_flush_end(c);
  o->dense_stale = 1;
  o->steps++;
  return LT_OK;
}

int lt_optim_segments_compact(const lt_optim *o, const float *mask, uint64_t mask_version,
                              const lt_optim_seg *segs, int nsegs) {
  if (!o || !mask || !o->kept || !o->kept_valid || o->kept_version != mask_version || !o->ops->step_compact ||
      nsegs < 1 || !segs)
    return 0;
  for (int s = 0; s < nsegs; s++) {
    if (segs[s].offset + segs[s].numel > o->n || (s && segs[s].offset < segs[s - 1].offset + segs[s - 1].numel) ||
        (segs[s].nnz && (!segs[s].val || !segs[s].grad)))
      return 0;
    if (kept_lower(o, segs[s].offset + segs[s].numel) - kept_lower(o, segs[s].offset) != segs[s].nnz) return 0;
  }
  return 1;
}

void lt_optim_mask_counts(const lt_optim *o, uint64_t *rebuilds, uint64_t *full_steps) {
  if (rebuilds) *rebuilds = o->rebuilds;
  if (full_steps) *full_steps = o->full_steps;
}

void lt_optim_reset(lt_optim *o) {
  if (!o) return;
  if (o->m) memset(o->m, 0, o->n * sizeof(float));
  if (o->v) memset(o->v, 0, o->n * sizeof(float));
  if (o->cm) memset(o->cm, 0, o->nkept * sizeof(float));
  if (o->cv) memset(o->cv, 0, o->nkept * sizeof(float));
  o->dense_stale = 0;
  o->steps = 0;
}

lt_status lt_optim_set_lr(lt_optim *o, float lr) {
  if (!(lr >= 0.0f) || !isfinite(lr))
    return lt_error(LT_EINVAL, "optimizer: lr must be a finite number >= 0 (got %g)", lr);
  o->lr = lr;
  return LT_OK;
}

float lt_optim_get_lr(const lt_optim *o) { return o->lr; }
int64_t lt_optim_steps(const lt_optim *o) { return o->steps; }

const float *lt_optim_moment(const lt_optim *o, int k) {
  sync_dense((lt_optim *)o); /* logically const: the values do not change, only where they live */
  if (k == 0) return o->m;
  if (k == 1) return o->v;
  return NULL;
}

void lt_optim_free(lt_optim *o) {
  if (!o) return;
  free(o->m);
  free(o->v);
  drop_kept(o);
  free(o);
}

lt_status lt_optim_set_moment(lt_optim *o, int k, const float *src, size_t n) {
  float *dst = k == 0 ? o->m : k == 1 ? o->v : NULL;
  if (!dst) return lt_error(LT_EINVAL, "%s keeps no moment %d", o->name, k + 1);
  if (n != o->n) return lt_error(LT_ESHAPE, "optimizer moment: %zu values given, optimizer made for %zu", n, o->n);
  sync_dense(o);
  memcpy(dst, src, n * sizeof *dst);
  if (o->kept) gather_compact(o);
  o->moments_unknown = 1; /* masked weights may have moments now: the next new mask takes a full step */
  return LT_OK;
}

lt_status lt_optim_set_steps(lt_optim *o, int64_t steps) {
  if (steps < 0) return lt_error(LT_EINVAL, "optimizer: steps must be >= 0 (got %lld)", (long long)steps);
  o->steps = steps;
  return LT_OK;
}
