/* AVX2 int8 kernels for CPUs without AVX-512, bit-exact with the plain loops of kernels_quant.c
 * and ops/mul.c: ADD and MUL along broadcast rows (rt_bcast_rows), 8 lanes at a time with
 * gemmlowp's fixed point (fakequant/fixedpoint_avx2.h's qat_rq8x). The plain loops ran MobileNetV2's
 * residual ADDs 22 times slower than the AVX-512 rows. */
#include <string.h>

#include "fakequant/fixedpoint_avx2.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_simd.h"

#if defined(__x86_64__) || defined(__i386__)
/* k (1 to 8) values of a row at stride s (0: one value for all), sign-extended to int32; eight
 * in one fixed-size move (a call to memcpy for each group cost more than its arithmetic) */
QAT_AVX2 static inline __m256i load8(const int8_t *p, int64_t s, int64_t k) {
  if (!s) return _mm256_set1_epi32(p[0]);
  int64_t v = 0;
  if (k == 8) memcpy(&v, p, 8);
  else
    for (int64_t j = 0; j < k; j++) v |= (int64_t)(uint8_t)p[j] << (8 * j);
  return _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(v));
}

/* + zero point, clamped to [lo, hi] (inside int8, so the packs do not saturate), k bytes out */
QAT_AVX2 static inline void store8(int8_t *out, __m256i r, const rt_add_params *p, int64_t k) {
  r = _mm256_add_epi32(r, _mm256_set1_epi32(p->out_zp));
  r = _mm256_min_epi32(_mm256_max_epi32(r, _mm256_set1_epi32(p->act_min)), _mm256_set1_epi32(p->act_max));
  const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
  const int64_t v = _mm_cvtsi128_si64(_mm_packs_epi16(p16, p16));
  if (k == 8) memcpy(out, &v, 8);
  else
    for (int64_t j = 0; j < k; j++) out[j] = (int8_t)(v >> (8 * j));
}

QAT_AVX2 void rt_add_row_i8_avx2(const rt_add_params *p, const int8_t *in1, int64_t s1, const int8_t *in2, int64_t s2,
                                 int8_t *out, int64_t n) {
  const __m256i off1 = _mm256_set1_epi32(p->in1_offset), off2 = _mm256_set1_epi32(p->in2_offset);
  const qat_rq8x r1 = qat_rq8x_prepare(_mm256_set1_epi32(p->m1), _mm256_set1_epi32(p->s1)),
                 r2 = qat_rq8x_prepare(_mm256_set1_epi32(p->m2), _mm256_set1_epi32(p->s2)),
                 ro = qat_rq8x_prepare(_mm256_set1_epi32(p->mo), _mm256_set1_epi32(p->so));
  const __m128i lsh = _mm_cvtsi32_si128(p->left_shift);
  for (int64_t i = 0; i < n; i += 8) {
    const int64_t k = n - i < 8 ? n - i : 8;
    /* |(offset + x) << left_shift| < 2^31 (kernels_quant.c's add_one) */
    const __m256i x1 = _mm256_sll_epi32(_mm256_add_epi32(load8(in1 + i * s1, s1, k), off1), lsh);
    const __m256i x2 = _mm256_sll_epi32(_mm256_add_epi32(load8(in2 + i * s2, s2, k), off2), lsh);
    const __m256i sum = _mm256_add_epi32(qat_rq8x_apply(&r1, x1), qat_rq8x_apply(&r2, x2));
    store8(out + i, qat_rq8x_apply(&ro, sum), p, k);
  }
}

QAT_AVX2 void rt_mul_row_i8_avx2(const rt_add_params *p, const int8_t *in1, int64_t s1, const int8_t *in2, int64_t s2,
                                 int8_t *out, int64_t n) {
  const __m256i off1 = _mm256_set1_epi32(p->in1_offset), off2 = _mm256_set1_epi32(p->in2_offset);
  const qat_rq8x ro = qat_rq8x_prepare(_mm256_set1_epi32(p->mo), _mm256_set1_epi32(p->so));
  for (int64_t i = 0; i < n; i += 8) {
    const int64_t k = n - i < 8 ? n - i : 8;
    /* (x1 - zp1) * (x2 - zp2): |.| <= 256 * 256, exact in int32 */
    const __m256i prod = _mm256_mullo_epi32(_mm256_add_epi32(load8(in1 + i * s1, s1, k), off1),
                                            _mm256_add_epi32(load8(in2 + i * s2, s2, k), off2));
    store8(out + i, qat_rq8x_apply(&ro, prod), p, k);
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
