/* schedule.c: learning-rate schedules (constant, multistep, cosine) with an
 * optional linear warm-up. A schedule is a plain value: nothing to free. */
#include <math.h>
#include <string.h>

#include "lotto/optim.h"

static const double PI = 3.14159265358979323846;

static lt_status check_lr(const char *kind, float lr) {
  if (!(lr >= 0.0f) || !isfinite(lr))
    return lt_error(LT_EINVAL, "%s schedule: lr must be a finite number >= 0 (got %g)", kind, lr);
  return LT_OK;
}

lt_status lt_schedule_constant(lt_schedule *s, float lr) {
  lt_status st = check_lr("constant", lr);
  if (st) return st;
  memset(s, 0, sizeof *s);
  s->kind = LT_SCHED_CONSTANT;
  s->lr = lr;
  s->gamma = 1.0f;
  return LT_OK;
}

lt_status lt_schedule_multistep(lt_schedule *s, float lr, const int64_t *milestones, int n, float gamma) {
  lt_status st = check_lr("multistep", lr);
  if (st) return st;
  if (n < 0 || n > LT_SCHED_MAXMILESTONES)
    return lt_error(LT_EINVAL, "multistep schedule: %d milestones (at most %d)", n, LT_SCHED_MAXMILESTONES);
  if (!(gamma >= 0.0f) || !isfinite(gamma))
    return lt_error(LT_EINVAL, "multistep schedule: gamma must be a finite number >= 0 (got %g)", gamma);
  for (int i = 0; i < n; i++) {
    if (milestones[i] < 0)
      return lt_error(LT_EINVAL, "multistep schedule: milestone %d is negative", i + 1);
    if (i > 0 && milestones[i] <= milestones[i - 1])
      return lt_error(LT_EINVAL, "multistep schedule: milestones must increase (%lld after %lld)",
                      (long long)milestones[i], (long long)milestones[i - 1]);
  }
  memset(s, 0, sizeof *s);
  s->kind = LT_SCHED_MULTISTEP;
  s->lr = lr;
  s->gamma = gamma;
  s->nmilestones = n;
  if (n) memcpy(s->milestones, milestones, (size_t)n * sizeof *milestones);
  return LT_OK;
}

lt_status lt_schedule_cosine(lt_schedule *s, float lr, int64_t total, float min_lr) {
  lt_status st = check_lr("cosine", lr);
  if (st) return st;
  if (total <= 0)
    return lt_error(LT_EINVAL, "cosine schedule: total iterations must be > 0 (got %lld)", (long long)total);
  if (!(min_lr >= 0.0f) || !(min_lr <= lr))
    return lt_error(LT_EINVAL, "cosine schedule: min_lr must be in [0, lr] (got %g)", min_lr);
  memset(s, 0, sizeof *s);
  s->kind = LT_SCHED_COSINE;
  s->lr = lr;
  s->gamma = 1.0f;
  s->total = total;
  s->min_lr = min_lr;
  return LT_OK;
}

lt_status lt_schedule_set_warmup(lt_schedule *s, int64_t warmup) {
  if (warmup < 0) return lt_error(LT_EINVAL, "schedule: warmup must be >= 0 (got %lld)", (long long)warmup);
  s->warmup = warmup;
  return LT_OK;
}

/* Computed in double and rounded once, so values at milestones are exact
 * products of lr and gamma powers. */
float lt_schedule_lr(const lt_schedule *s, int64_t iter) {
  if (iter < 0) iter = 0;
  double lr = s->lr;
  switch (s->kind) {
    case LT_SCHED_CONSTANT:
      break;
    case LT_SCHED_MULTISTEP:
      for (int i = 0; i < s->nmilestones && iter >= s->milestones[i]; i++) lr *= s->gamma;
      break;
    case LT_SCHED_COSINE: {
      double t = iter >= s->total ? 1.0 : (double)iter / (double)s->total;
      lr = s->min_lr + (s->lr - (double)s->min_lr) * 0.5 * (1.0 + cos(PI * t));
      break;
    }
  }
  if (s->warmup > 0 && iter < s->warmup) lr *= (double)iter / (double)s->warmup;
  return (float)lr;
}
