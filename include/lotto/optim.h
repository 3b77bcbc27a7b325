/* lotto/optim.h: mask-aware optimizers (SGD, Adam/AdamW) on flat buffers, and
 * learning-rate schedules. An optimizer owns its moment buffers, laid out with
 * the same offsets as the model's flat values, grads and masks.
 *
 * Semantics follow PyTorch's torch.optim.SGD and torch.optim.Adam/AdamW
 * (dampening 0, no amsgrad). Masks are exact: where mask[i] == 0 the weight is
 * written as 0, gets no update, and its moments stay exactly 0 — so a pruned
 * weight never carries momentum into a later round.
 *
 *   lt_optim *o = lt_optim_sgd_new(n, 0.1f, 0.9f, 0, 5e-4f);
 *   lt_schedule s;
 *   lt_schedule_multistep(&s, 0.1f, (int64_t[]){32000, 48000}, 2, 0.1f);
 *   for (int64_t it = 0; it < iters; it++) {
 *     ... forward / backward into g ...
 *     lt_optim_set_lr(o, lt_schedule_lr(&s, it));
 *     lt_optim_step(o, w, g, mask, n);
 *   }
 *   lt_optim_free(o);
 */
#ifndef LOTTO_OPTIM_H
#define LOTTO_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "lotto/status.h"

/* An optimizer: its state is private (src/optim/optim_impl.h). */
typedef struct lt_optim lt_optim;

/* New optimizers for n parameters, moments zero. NULL + lt_errmsg on a bad
 * hyper-parameter (lr < 0, momentum outside [0, 1), nesterov without momentum,
 * betas outside [0, 1), eps <= 0, weight_decay < 0) or ENOMEM. Free with lt_optim_free. */
lt_optim *lt_optim_sgd_new(size_t n, float lr, float momentum, int nesterov, float weight_decay);
lt_optim *lt_optim_adam_new(size_t n, float lr, float beta1, float beta2, float eps,
                            float weight_decay, int adamw);
void lt_optim_free(lt_optim *o); /* NULL is fine */

/* One update of w (n) from g (n); mask (n) of 0/1 floats or NULL (all kept).
 * n must equal the size the optimizer was made for. */
lt_status lt_optim_step(lt_optim *o, float *w, const float *g, const float *mask, size_t n);
/* As lt_optim_step, for a mask that changes rarely, identified by mask_version (a
 * model's lt_model_mask_version). While the version stays the same and fewer than
 * LT_OPTIM_SPARSE_DENSITY of the weights are kept, a step touches only the kept
 * weights, so a 5% ticket's step costs a fraction of a dense one. Masked weights and
 * their moments must stay zero between steps (lt_model_apply_mask after writing
 * values or masks bumps the version). A new version from one sparse mask to another
 * (dynamic sparse training) touches only the changed positions and scans the mask:
 * a dropped weight is written 0 with zero moments, a grown one starts from its
 * (zero) moments; other new versions cost one full masked step, which enforces the
 * contract (so does the first after lt_optim_step without a mask or
 * lt_optim_set_moment). mask NULL is a plain dense step. */
lt_status lt_optim_step_versioned(lt_optim *o, float *w, const float *g, const float *mask, size_t n,
                                  uint64_t mask_version);
/* A parameter whose kept weights and gradients are also held compact, in position
 * order (a sparse layer's CSR values and its weight gradient on the pattern). */
typedef struct lt_optim_seg {
  size_t offset, numel; /* the parameter's range in the flat buffers */
  float *val;           /* its nnz kept weights, compact: read and written */
  const float *grad;    /* their gradients, compact */
  size_t nnz;
  int lazy;             /* 1: the new values go to val only (the dense w lags, see lt_sparse_sync) */
} lt_optim_seg;
/* As lt_optim_step_versioned, with the kept weights of segs (in increasing offset,
 * not overlapping) updated from their compact copies: one contiguous pass, the new
 * values written to both val and w. The compact copies must equal w and g at the kept
 * positions (the step right after a model's step, nothing written in between). A
 * segment whose nnz is not the mask's count there, a new mask version or an optimizer
 * without kept positions falls back to lt_optim_step_versioned: same results. */
lt_status lt_optim_step_segments(lt_optim *o, float *w, const float *g, const float *mask, size_t n,
                                 uint64_t mask_version, const lt_optim_seg *segs, int nsegs);
/* 1 when lt_optim_step_segments would step every segment from its compact copies
 * (none falls back to the indexed step over w and g). */
int lt_optim_segments_compact(const lt_optim *o, const float *mask, uint64_t mask_version,
                              const lt_optim_seg *segs, int nsegs);
#define LT_OPTIM_SPARSE_DENSITY 0.12 /* measured: below it the index loop wins for Adam and SGD */

/* How lt_optim_step_versioned took new mask versions so far: rebuilds (the kept
 * positions of the old mask were listed and the new one is as sparse: only the
 * changed positions were touched, plus one scan of the mask) and full masked steps. */
void lt_optim_mask_counts(const lt_optim *o, uint64_t *rebuilds, uint64_t *full_steps);
/* Zeroes the moments and the step count (rewinding a ticket starts a fresh optimizer). */
void lt_optim_reset(lt_optim *o);
lt_status lt_optim_set_lr(lt_optim *o, float lr); /* lr >= 0 and finite */
float lt_optim_get_lr(const lt_optim *o);
int64_t lt_optim_steps(const lt_optim *o);
size_t lt_optim_size(const lt_optim *o);         /* the n it was made for */
/* Subnormal floats flushed to zero during a step (x86 FTZ + DAZ), on by
 * default: a moment that decays by beta each step (a weight whose gradient
 * is almost always zero) reaches the subnormal range, where arithmetic is
 * many times slower. Off: every result rounds exactly as PyTorch's does; on:
 * a moment or update below 1.2e-38 in magnitude becomes 0. */
void lt_optim_set_flush(lt_optim *o, int on);
int lt_optim_get_flush(const lt_optim *o);
const char *lt_optim_name(const lt_optim *o);    /* "sgd", "adam", "adamw" */
/* "SGD(235500 params, lr=0.1, momentum=0.9, weight_decay=0)"; snprintf's return. */
int lt_optim_describe(const lt_optim *o, char *buf, size_t n);
/* Moment buffer k (0: SGD momentum / Adam m, 1: Adam v), length n, or NULL when
 * the optimizer has none. Owned by the optimizer; valid until its next step. */
const float *lt_optim_moment(const lt_optim *o, int k);
/* Restores moment k (0 or 1) from src (n floats, n = lt_optim_size) and the step
 * count (Adam's bias correction, SGD's first step): with lt_optim_moment, an
 * optimizer's whole state, for checkpoints. LT_EINVAL when it keeps no moment k. */
lt_status lt_optim_set_moment(lt_optim *o, int k, const float *src, size_t n);
lt_status lt_optim_set_steps(lt_optim *o, int64_t steps);

/* ---- learning-rate schedules ----
 * lt_schedule_lr(s, it) is the rate for the step that follows `it` completed
 * steps (it = 0 for the first step). A linear warm-up multiplies any schedule
 * by min(1, it / warmup), as in open_lth, so the rate reaches lr at it = warmup. */
typedef enum { LT_SCHED_CONSTANT, LT_SCHED_MULTISTEP, LT_SCHED_COSINE } lt_schedule_kind;
#define LT_SCHED_MAXMILESTONES 32

typedef struct lt_schedule {
  lt_schedule_kind kind;
  float lr;        /* base rate */
  int64_t warmup;  /* warm-up iterations, 0 for none */
  float gamma;     /* multistep: factor applied at each milestone */
  int nmilestones;
  int64_t milestones[LT_SCHED_MAXMILESTONES]; /* increasing */
  int64_t total;   /* cosine: iterations to reach min_lr */
  float min_lr;    /* cosine */
} lt_schedule;

/* Initialise s (no allocation; nothing to free). LT_EINVAL + message on bad values. */
lt_status lt_schedule_constant(lt_schedule *s, float lr);
lt_status lt_schedule_multistep(lt_schedule *s, float lr, const int64_t *milestones, int n, float gamma);
lt_status lt_schedule_cosine(lt_schedule *s, float lr, int64_t total, float min_lr);
lt_status lt_schedule_set_warmup(lt_schedule *s, int64_t warmup);
float lt_schedule_lr(const lt_schedule *s, int64_t iter);

#endif
