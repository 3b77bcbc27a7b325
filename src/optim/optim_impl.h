/* optim_impl.h: engine-internal (not installed): the optimizer struct every
 * optimizer shares and the small ops table each one fills in. optim.c holds
 * what they share (argument checks, the kept-positions bookkeeping of
 * versioned steps, reset, lr, moments); optim_<name>.c one optimizer. */
#ifndef LOTTO_OPTIM_IMPL_H
#define LOTTO_OPTIM_IMPL_H

#include "lotto/optim.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
/* Flush-to-zero and denormals-are-zero around a step (MXCSR is per thread:
 * a step's parts on pool workers set it themselves). */
static inline unsigned lt_flush_begin(int on) {
  unsigned c = _mm_getcsr();
  if (on) _mm_setcsr(c | 0x8040u);
  return c;
}
static inline void lt_flush_end(unsigned c) { _mm_setcsr(c); }
#else
static inline unsigned lt_flush_begin(int on) { (void)on; return 0; }
static inline void lt_flush_end(unsigned c) { (void)c; }
#endif

typedef struct lt_optim_ops {
  /* w (n) from g (n) over all n weights; mask (n) 0/1 or NULL (all kept). A
   * masked weight is written 0 with its moments 0. Arguments are checked. */
  void (*step)(lt_optim *o, float *w, const float *g, const float *mask);
  /* Only the kept positions o->kept[j0..j1); their moments are the compact
   * o->cm, o->cv at the same j (the dense ones are synced on demand by optim.c). */
  void (*step_kept)(lt_optim *o, float *w, const float *g, size_t j0, size_t j1);
  /* The same for kept positions j0..j0+cnt whose weights and gradients are given
   * compact (wc, gc: cnt floats in position order): contiguous, no indices. */
  void (*step_compact)(lt_optim *o, float *wc, const float *gc, size_t j0, size_t cnt);
  int (*describe)(const lt_optim *o, char *buf, size_t n);
} lt_optim_ops;

struct lt_optim {
  const lt_optim_ops *ops;
  const char *name;  /* "sgd", "adam", "adamw" */
  size_t n;          /* number of parameters */
  float lr;
  float weight_decay;
  float momentum;    /* SGD */
  int nesterov;      /* SGD */
  float beta1, beta2, eps; /* Adam */
  int adamw;         /* Adam: decoupled weight decay */
  int64_t steps;     /* steps taken since creation or the last reset */
  float *m;          /* (n) SGD momentum buffer / Adam first moment; NULL for plain SGD */
  float *v;          /* (n) Adam second moment; NULL for SGD */
  uint32_t *kept;    /* (nkept) positions with mask != 0 for mask kept_version; NULL when dense */
  size_t nkept;
  uint64_t kept_version;
  int kept_valid;
  int kept_all;      /* the mask of kept_version keeps every weight: steps need not read it */
  float *cm, *cv;    /* (nkept) the moments m, v of the kept positions, compact, while kept is in use */
  int dense_stale;   /* m, v at the kept positions are older than cm, cv (lt_optim_moment syncs) */
  int flush;         /* flush subnormals to zero during steps (default 1, lt_optim_set_flush) */
  int moments_unknown; /* masked weights may carry moments (an unmasked step, set_moment): a new
                        * mask version takes the full masked step, not the incremental rebuild */
  uint64_t rebuilds, full_steps; /* how new mask versions were taken (lt_optim_stats) */
};

/* A zeroed optimizer with nmoments (0, 1 or 2) zeroed moment buffers of n
 * floats; NULL + lt_errmsg on ENOMEM. The caller sets its hyper-parameters. */
lt_optim *lt_optim_alloc(const lt_optim_ops *ops, const char *name, size_t n, int nmoments);
/* lr finite and >= 0, weight_decay finite and >= 0: LT_EINVAL naming who. */
lt_status lt_optim_check_lr_wd(const char *who, float lr, float weight_decay);

#endif
