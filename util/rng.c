#include "qat/rng.h"

#include <math.h>

void qat_rng_seed(qat_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) {
    seed = qat_hash64(seed);
    r->s[i] = seed;
  }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t qat_rng_next(qat_rng *r) {
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

float qat_rng_uniform(qat_rng *r) { return (float)(qat_rng_next(r) >> 40) * 0x1.0p-24f; }

uint32_t qat_rng_below(qat_rng *r, uint32_t n) {
  /* Lemire's multiply-shift with rejection. */
  uint64_t m = (uint64_t)(uint32_t)(qat_rng_next(r) >> 32) * n;
  uint32_t low = (uint32_t)m;
  if (low < n) {
    uint32_t threshold = (uint32_t)(-n) % n;
    while (low < threshold) {
      m = (uint64_t)(uint32_t)(qat_rng_next(r) >> 32) * n;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

float qat_rng_normal(qat_rng *r) {
  double u1 = ((double)(qat_rng_next(r) >> 11) + 1.0) * 0x1.0p-53; /* (0, 1] */
  double u2 = (double)(qat_rng_next(r) >> 11) * 0x1.0p-53;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2));
}
