/* lotto/rng.h: the seeded random generator (xoshiro256**), with streams.
 * A generator is fully determined by (seed, stream): the same pair gives the
 * same sequence on every run and machine. Experiments use separate streams
 * for initialisation, data order and pruning baselines (LT_STREAM_*), so two
 * runs differing only in data order are one argument apart.
 *
 *   lt_rng r; lt_rng_seed(&r, 42, LT_STREAM_INIT);
 *   float x = lt_rng_normal(&r);
 */
#ifndef LOTTO_RNG_H
#define LOTTO_RNG_H

#include <stddef.h>
#include <stdint.h>

enum { LT_STREAM_INIT = 0, LT_STREAM_DATA = 1, LT_STREAM_PRUNE = 2, LT_STREAM_DROPOUT = 3, LT_STREAM_AUGMENT = 4,
       LT_STREAM_TARGETED_DROPOUT = 5, LT_STREAM_USER = 16 };

typedef struct lt_rng {
  uint64_t s[4];
  int has_spare;   /* normal() makes values in pairs */
  double spare;
} lt_rng;

void lt_rng_seed(lt_rng *r, uint64_t seed, uint64_t stream);
uint64_t lt_rng_u64(lt_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double lt_rng_double(lt_rng *r);
/* keep[i] = 0 where the i-th of n lt_rng_double draws is < p, else scale: the same draws
 * and values as calling lt_rng_double n times (dropout's keep mask), several times faster. */
void lt_rng_keep(lt_rng *r, float *keep, size_t n, double p, float scale);
/* Uniform float in [lo, hi). */
float lt_rng_uniform(lt_rng *r, float lo, float hi);
/* Standard normal (Marsaglia polar method; deterministic across machines). */
float lt_rng_normal(lt_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t lt_rng_below(lt_rng *r, uint64_t n);
/* perm[0..n) = a uniformly random permutation of 0..n-1 (Fisher-Yates). */
void lt_rng_permutation(lt_rng *r, int64_t *perm, size_t n);
/* Shuffles a[0..n) in place. */
void lt_rng_shuffle_i64(lt_rng *r, int64_t *a, size_t n);

#endif
