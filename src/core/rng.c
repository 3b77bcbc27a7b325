/* rng.c: xoshiro256** seeded through splitmix64 from (seed, stream).
 * Only integer arithmetic and IEEE sqrt/log feed the outputs, so sequences are
 * identical across runs and machines. */
#include "lotto/rng.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void lt_rng_seed(lt_rng *r, uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL + 0x8bb84b93962eacc9ULL);
  /* mix the stream in twice so that nearby (seed, stream) pairs diverge */
  uint64_t y = splitmix64(&x) ^ stream;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&y);
  if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
  r->has_spare = 0;
  r->spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lt_rng_u64(lt_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double lt_rng_double(lt_rng *r) { return (double)(lt_rng_u64(r) >> 11) * 0x1.0p-53; }

/* The state lives in locals and the test is an integer compare without a branch: one call
 * and one mispredicted branch per element were most of a dropout pass. For v = u >> 11 < 2^53,
 * v 2^-53 < p exactly when v < ceil(p 2^53) (both scalings are exact). */
void lt_rng_keep(lt_rng *r, float *keep, size_t n, double p, float scale) {
  uint64_t s0 = r->s[0], s1 = r->s[1], s2 = r->s[2], s3 = r->s[3];
  uint32_t sbits;
  memcpy(&sbits, &scale, sizeof sbits);
  const uint64_t thr = p <= 0 ? 0 : p >= 1 ? (uint64_t)1 << 53 : (uint64_t)ceil(p * 0x1.0p53);
  for (size_t i = 0; i < n; i++) {
    uint64_t u = rotl(s1 * 5, 7) * 9, t = s1 << 17;
    s2 ^= s0, s3 ^= s1, s1 ^= s2, s0 ^= s3, s2 ^= t, s3 = rotl(s3, 45);
    uint32_t bits = sbits & (0u - (uint32_t)((u >> 11) >= thr)); /* a select the compiler keeps branch-free */
    memcpy(keep + i, &bits, sizeof bits);
  }
  r->s[0] = s0, r->s[1] = s1, r->s[2] = s2, r->s[3] = s3;
}

float lt_rng_uniform(lt_rng *r, float lo, float hi) {
  float u = (float)(lt_rng_u64(r) >> 40) * 0x1.0p-24f; /* [0,1) exactly in float */
  float v = lo + (hi - lo) * u;
  return v < hi ? v : lo; /* guard rounding up to hi */
}

float lt_rng_normal(lt_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return (float)r->spare;
  }
  double u, v, s;
  do {
    u = 2.0 * lt_rng_double(r) - 1.0;
    v = 2.0 * lt_rng_double(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double m = sqrt(-2.0 * log(s) / s);
  r->spare = v * m;
  r->has_spare = 1;
  return (float)(u * m);
}

uint64_t lt_rng_below(lt_rng *r, uint64_t n) {
  /* Lemire's nearly-divisionless method */
  uint64_t x = lt_rng_u64(r);
  __uint128_t m = (__uint128_t)x * n;
  uint64_t l = (uint64_t)m;
  if (l < n) {
    uint64_t t = (0 - n) % n;
    while (l < t) {
      x = lt_rng_u64(r);
      m = (__uint128_t)x * n;
      l = (uint64_t)m;
    }
  }
  return (uint64_t)(m >> 64);
}

void lt_rng_shuffle_i64(lt_rng *r, int64_t *a, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)lt_rng_below(r, i);
    int64_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

void lt_rng_permutation(lt_rng *r, int64_t *perm, size_t n) {
  for (size_t i = 0; i < n; i++) perm[i] = (int64_t)i;
  lt_rng_shuffle_i64(r, perm, n);
}
