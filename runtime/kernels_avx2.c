/* AVX2 int8 kernels for CPUs without AVX-512, bit-exact with the plain loops of kernels_quant.c
 * and ops/mul.c: ADD and MUL along broadcast rows (rt_bcast_rows), 4 lanes at a time with
 * gemmlowp's fixed point (fakequant/fixedpoint_avx2.h). The plain loops ran MobileNetV2's
 * residual ADDs 22 times slower than the AVX-512 rows. */
#include <string.h>

#include "fakequant/fixedpoint_avx2.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_simd.h"

#if defined(__x86_64__) || defined(__i386__)
/* k (1 to 4) values of a row at stride s (0: one value for all), sign-extended to int32; four
 * in one fixed-size move (a call to memcpy for each group of 4 cost more than its arithmetic) */
QAT_AVX2 static inline __m128i load4(const int8_t *p, int64_t s, int64_t k) {
  if (!s) return _mm_set1_epi32(p[0]);
  int32_t v = 0;
  if (k == 4) memcpy(&v, p, 4);
  else
    for (int64_t j = 0; j < k; j++) v |= (int32_t)(uint8_t)p[j] << (8 * j);
  return _mm_cvtepi8_epi32(_mm_cvtsi32_si128(v));
}

/* + zero point, clamped to [lo, hi] (inside int8, so the packs do not saturate), k bytes out */
QAT_AVX2 static inline void store4(int8_t *out, __m128i r, const rt_add_params *p, int64_t k) {
  r = _mm_add_epi32(r, _mm_set1_epi32(p->out_zp));
  r = _mm_min_epi32(_mm_max_epi32(r, _mm_set1_epi32(p->act_min)), _mm_set1_epi32(p->act_max));
  const int32_t v = _mm_cvtsi128_si32(_mm_packs_epi16(_mm_packs_epi32(r, r), _mm_setzero_si128()));
  if (k == 4) memcpy(out, &v, 4);
  else
    for (int64_t j = 0; j < k; j++) out[j] = (int8_t)(v >> (8 * j));
}

QAT_AVX2 void rt_add_row_i8_avx2(const rt_add_params *p, const int8_t *in1, int64_t s1, const int8_t *in2, int64_t s2,
                                 int8_t *out, int64_t n) {
  const __m128i off1 = _mm_set1_epi32(p->in1_offset), off2 = _mm_set1_epi32(p->in2_offset);
  const __m128i m1 = _mm_set1_epi32(p->m1), m2 = _mm_set1_epi32(p->m2), mo = _mm_set1_epi32(p->mo);
  const __m128i sh1 = _mm_set1_epi32(p->s1), sh2 = _mm_set1_epi32(p->s2), sho = _mm_set1_epi32(p->so);
  const __m128i lsh = _mm_cvtsi32_si128(p->left_shift);
  for (int64_t i = 0; i < n; i += 4) {
    const int64_t k = n - i < 4 ? n - i : 4;
    /* |(offset + x) << left_shift| < 2^31 (kernels_quant.c's add_one) */
    const __m128i x1 = _mm_sll_epi32(_mm_add_epi32(load4(in1 + i * s1, s1, k), off1), lsh);
    const __m128i x2 = _mm_sll_epi32(_mm_add_epi32(load4(in2 + i * s2, s2, k), off2), lsh);
    const __m128i sum = _mm_add_epi32(qat_mbqm_x4(x1, m1, sh1), qat_mbqm_x4(x2, m2, sh2));
    store4(out + i, qat_mbqm_x4(sum, mo, sho), p, k);
  }
}

QAT_AVX2 void rt_mul_row_i8_avx2(const rt_add_params *p, const int8_t *in1, int64_t s1, const int8_t *in2, int64_t s2,
                                 int8_t *out, int64_t n) {
  const __m128i off1 = _mm_set1_epi32(p->in1_offset), off2 = _mm_set1_epi32(p->in2_offset);
  const __m128i mo = _mm_set1_epi32(p->mo), sho = _mm_set1_epi32(p->so);
  for (int64_t i = 0; i < n; i += 4) {
    const int64_t k = n - i < 4 ? n - i : 4;
    /* (x1 - zp1) * (x2 - zp2): |.| <= 256 * 256, exact in int32 */
    const __m128i prod = _mm_mullo_epi32(_mm_add_epi32(load4(in1 + i * s1, s1, k), off1),
                                         _mm_add_epi32(load4(in2 + i * s2, s2, k), off2));
    store4(out + i, qat_mbqm_x4(prod, mo, sho), p, k);
  }
}
#else
void rt_add_row_i8_avx2(const rt_add_params *p, const int8_t *in1, int64_t s1, const int8_t *in2, int64_t s2,
                        int8_t *out, int64_t n) {
  (void)p, (void)in1, (void)s1, (void)in2, (void)s2, (void)out, (void)n;
}
void rt_mul_row_i8_avx2(const rt_add_params *p, const int8_t *in1, int64_t s1, const int8_t *in2, int64_t s2,
                        int8_t *out, int64_t n) {
  (void)p, (void)in1, (void)s1, (void)in2, (void)s2, (void)out, (void)n;
}
#endif
