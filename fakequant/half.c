/* float -> IEEE binary16: the float16 lowering's weights, and the runtime tests' float16
 * constants (here, below export/, so that those link no training engine). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "qat/quant.h"

uint16_t qat_float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u)); /* inf, NaN */
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds (to even) past 65504 */
  if (ax < 0x38800000u) {
    /* below 2^-14: a multiple of 2^-24; |f| * 2^24 < 1024 is exact, and nearbyintf rounds
     * half to even in the default mode (1024 lands on the smallest normal's encoding) */
    float a;
    memcpy(&a, &ax, sizeof a);
    return (uint16_t)(sign | (uint16_t)nearbyintf(a * 16777216.0f));
  }
  /* normal: drop 13 mantissa bits, rounding half to even, and rebias the exponent */
  const uint32_t r = (ax + 0xfffu + ((ax >> 13) & 1u)) >> 13;
  return (uint16_t)(sign | (uint16_t)(r - ((127u - 15u) << 10)));
}
