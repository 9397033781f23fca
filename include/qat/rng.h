/* Seeded random numbers (xoshiro256**): every random choice in qat comes from here, so one
 * seed reproduces a run bit for bit. */
#ifndef QAT_RNG_H
#define QAT_RNG_H

#include <stdint.h>

typedef struct qat_rng {
  uint64_t s[4];
} qat_rng;

void qat_rng_seed(qat_rng *r, uint64_t seed);
uint64_t qat_rng_next(qat_rng *r);
/* Uniform in [0, 1) with 24 random bits, exactly representable in float. */
float qat_rng_uniform(qat_rng *r);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint32_t qat_rng_below(qat_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float qat_rng_normal(qat_rng *r);
/* Stateless mixing (splitmix64 finalizer): derives independent streams from (seed, ids).
 * Inline because dropout calls it once per element. */
static inline uint64_t qat_hash64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

#endif
