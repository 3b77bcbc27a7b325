/* lotto/mask.h: pruning masks — statistics, comparisons and the pruning rules.
 * A mask is a contiguous float tensor of exactly 0.0 / 1.0, shaped like the
 * weight it masks; an entry is "surviving" when it is 1. In a model the masks
 * are views into one flat mask buffer, so every function here changes a mask
 * IN PLACE and never reallocates it.
 *
 *   // prune 20% of the surviving weights of one layer by |w| (LTH, local)
 *   int64_t pruned;
 *   lt_mask_prune_local(mask, weight, 0.2, LT_SCORE_ABS, &pruned);
 *   lt_mask_apply(weight, mask);                 // pruned weights become 0
 *   printf("%.1f%% left\n", 100 * lt_mask_density(mask));
 *
 * Counting rule (all fraction-based pruners): with s surviving entries (or
 * units), count = floor(p*s + 0.5), i.e. round half up, computed with a 1e-9
 * relative slack so that decimal rates such as 0.35 x 10 round as written (4).
 * This is "prune p of the remaining weights": 20% of 10 -> 2, then of 8 -> 2.
 *
 * Ordering rule: entries are pruned in ascending (score, flat index) order.
 * NaN scores count as the smallest (pruned first); equal scores are pruned
 * lower index first; -0 equals +0. The result never depends on sort stability
 * or on the machine. Masks that hold anything but 0 and 1 are rejected
 * (LT_EINVAL). Functions return LT_OK or a negative lt_status with lt_errmsg. */
#ifndef LOTTO_MASK_H
#define LOTTO_MASK_H

#include <stdint.h>

#include "lotto/rng.h"
#include "lotto/status.h"
#include "lotto/tensor.h"

/* How a score tensor is read: as given, or its absolute value (magnitude pruning
 * with the weights themselves, or a snapshot of them, as the score). */
typedef enum { LT_SCORE_RAW = 0, LT_SCORE_ABS = 1 } lt_score_mode;

/* Norm of a unit's surviving weights, for structured pruning. */
typedef enum { LT_NORM_L1 = 1, LT_NORM_L2 = 2 } lt_norm;

/* ---- statistics and comparisons ---- */
/* Surviving entries (== 1) of mask. Any shape and layout. */
int64_t lt_mask_count(const lt_tensor *mask);
/* count / numel (0 for an empty tensor). */
double lt_mask_density(const lt_tensor *mask);
/* LT_OK when every entry is exactly 0 or 1, else LT_EINVAL naming the first bad entry. */
lt_status lt_mask_check(const lt_tensor *mask);
/* *count = entries where a and b differ; a, b same shape. Normalised distance = count / numel. */
lt_status lt_mask_hamming(int64_t *count, const lt_tensor *a, const lt_tensor *b);
/* Overlap of the surviving sets A and B (same shape):
 *   *jaccard = |A and B| / |A or B|   (1 when both are empty: identical sets),
 *   *cover   = |A and B| / |A|        (the fraction of A's survivors that also survive
 *                                      in B; 1 when A is empty). Either pointer may be NULL. */
lt_status lt_mask_overlap(double *jaccard, double *cover, const lt_tensor *a, const lt_tensor *b);

/* ---- applying and shuffling ---- */
/* weight *= mask, in place; same shape, both contiguous. */
lt_status lt_mask_apply(lt_tensor *weight, const lt_tensor *mask);
/* Shuffles the entries of mask uniformly within the tensor (Fisher-Yates with r):
 * same count, new pattern — the permuted-mask baseline (Morcos et al. 2019). */
lt_status lt_mask_permute(lt_tensor *mask, lt_rng *r);

/* ---- pruning (mask changes in place; *pruned, if not NULL, gets how many entries
 *      went from 1 to 0) ---- */
/* Layer-wise: prunes round(p * surviving) surviving entries with the smallest score.
 * mask, score: same shape; p in [0, 1]. */
lt_status lt_mask_prune_local(lt_tensor *mask, const lt_tensor *score, double p, lt_score_mode mode,
                              int64_t *pruned);

/* Global: one threshold across n layers. Prunes round(p * S) of all S surviving
 * entries of the set, smallest scores first, ordered by (score, layer, index).
 * Guard: no layer goes to zero. Each layer's largest-scored survivor is exempt;
 * when the threshold would have taken it (the layer would have been emptied),
 * guarded[i] is set to 1 and the next-smallest entry elsewhere is pruned instead,
 * so the total stays round(p * S) unless only the exempt entries remain.
 * masks[i], scores[i]: same shape per layer; guarded: n ints or NULL. */
lt_status lt_mask_prune_global(lt_tensor *const *masks, const lt_tensor *const *scores, int n, double p,
                               lt_score_mode mode, int *guarded, int64_t *pruned);

/* Random: prunes round(p * surviving) surviving entries chosen uniformly with r. */
lt_status lt_mask_prune_random(lt_tensor *mask, double p, lt_rng *r, int64_t *pruned);

/* Structured: the units are the slices along dim (0 = output neurons of a linear
 * weight (out, in), output channels of a conv weight (cout, cin, kh, kw)). A unit
 * survives while any of its entries does; its norm is the L1 or L2 norm of its
 * surviving weights. Prunes round(p * surviving units) units with the smallest norm
 * (ties: lower unit index first), zeroing their whole slice of the mask.
 * mask, weight: same shape. *units_pruned may be NULL. */
lt_status lt_mask_prune_structured(lt_tensor *mask, const lt_tensor *weight, double p, int dim, lt_norm norm,
                                   int64_t *units_pruned);

/* n:m: in every group of m consecutive entries along the input dimension (the
 * last dim of a linear weight (out, in); the flattened cin*kh*kw of a conv weight;
 * a 1-D tensor is one row) at most n survive: the n largest-scored survivors of
 * the group. Already-pruned entries rank below every survivor (they count as zero
 * and never revive). A row whose length is not a multiple of m ends in a shorter
 * group that also keeps at most n. 0 <= n <= m, m >= 1. */
lt_status lt_mask_prune_nm(lt_tensor *mask, const lt_tensor *score, int n, int m, lt_score_mode mode,
                           int64_t *pruned);

/* ---- masks that change during training (src/mask/mask_dst.c) ---- */
/* One drop/grow update of a layer (dynamic sparse training). Grows n_grow of
 * the entries that are pruned BEFORE the update — the largest |grow_score|
 * first (RigL: the dense gradient; sparse momentum: the momentum), or, with
 * grow_score NULL, chosen uniformly with r (SET) — and drops the n_drop
 * surviving entries of smallest |weight| (ties lower index first). Dropped and
 * grown weights are written 0 in weight: a grown weight starts at zero, and a
 * weight dropped now is never regrown in the same update. The surviving count
 * changes by n_grow - n_drop exactly. mask, weight, grow_score: same shape.
 * LT_EINVAL when n_drop > surviving or n_grow > pruned. */
lt_status lt_mask_drop_grow(lt_tensor *mask, lt_tensor *weight, const lt_tensor *grow_score, int64_t n_drop,
                            int64_t n_grow, lt_rng *r, int64_t *dropped, int64_t *grown);
/* Prunes the survivors of smallest score until exactly keep survive (nothing
 * when keep >= surviving: pruning never revives). Gradual pruning's exact
 * per-layer counts. */
lt_status lt_mask_prune_to(lt_tensor *mask, const lt_tensor *score, int64_t keep, lt_score_mode mode,
                           int64_t *pruned);

/* ---- pruning at initialization, supermasks, targeted dropout (mask_scores.c,
 *      mask_erk.c) ---- */
/* Keeps the `keep` highest-scored survivors of mask and prunes the rest (the same
 * order as lt_mask_prune_local: the smallest score and lower index go first).
 * keep >= surviving changes nothing. An exact count, for layer-wise distributions
 * and the straight-through top-k of learned supermasks. */
lt_status lt_mask_keep_top(lt_tensor *mask, const lt_tensor *score, int64_t keep, lt_score_mode mode,
                           int64_t *pruned);

/* ERK densities (Evci et al. 2020): density[l] = min(1, eps * sum(shape_l) / prod(shape_l))
 * with eps such that sum_l density[l] * prod(shape_l) = target * sum_l prod(shape_l).
 * Layers with dense[l] != 0 (dense may be NULL) are kept at 1; a free layer whose
 * density would pass 1 is made dense and eps solved again (RigL's loop).
 * shapes[l] has ndims[l] sizes. LT_EINVAL when the dense layers alone exceed target. */
lt_status lt_mask_erk(double *density, const int64_t *const *shapes, const int *ndims, const int *dense, int n,
                      double target);

/* Targeted dropout (Gomez et al. 2019): keep := mask, then among the round(gamma *
 * surviving) survivors with the smallest |weight| (units = 0) — or the round(gamma *
 * alive units) rows with the smallest L2 norm (units = 1, rows are dim 0) — each is
 * set to 0 in keep with probability alpha, drawn from r in index order.
 * keep, weight, mask: same shape, contiguous; gamma, alpha in [0, 1]. */
lt_status lt_mask_targeted_dropout(lt_tensor *keep, const lt_tensor *weight, const lt_tensor *mask, double gamma,
                                   double alpha, int units, lt_rng *r);

/* The count rule above, exposed so callers (and tests) agree with the pruners. */
int64_t lt_mask_prune_count(double p, int64_t surviving);

#endif
