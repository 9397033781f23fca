/* gemmlowp's MultiplyByQuantizedMultiplier on 16 int32 lanes with AVX-512, bit-equal to the
 * scalar one: the int8 runtime's kernels (runtime/) and the fake quant's requantization
 * (requant.c) share it. Functions carry their own target attribute, so a file built for an
 * older baseline can include this and dispatch at run time. */
#ifndef QAT_FIXEDPOINT_AVX512_H
#define QAT_FIXEDPOINT_AVX512_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdint.h>

#define QAT_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

/* MultiplyByQuantizedMultiplier on 16 lanes, bit-equal to the scalar one, in 64-bit lanes (even
 * and odd int32 lanes apart) where no step can overflow:
 *   SRDHM: (a*b + nudge) / 2^31 truncated toward zero equals floor((a*b + 2^30) / 2^31) for every
 *     product (for a*b < 0, trunc((p + 1 - 2^30) / 2^31) = floor((p + 1 - 2^30 + 2^31 - 1) / 2^31)),
 *     and only INT32_MIN * INT32_MIN leaves int32 (2^31, which SRDHM saturates to INT32_MAX);
 *   RoundingDivideByPOT(h, e), ties away from zero: floor((h + 2^(e-1) - [h < 0]) / 2^e) for
 *     e > 0, h itself for e = 0.
 * The two floors are one: floor((floor(A / 2^31) + c) / 2^e) = floor((A + c 2^31) / 2^(31+e)) for
 * an integer c, and h < 0 exactly when A = a*b + 2^30 < 0. So the result is
 *   (a*b + 2^30 + 2^(30+e) - [A < 0] 2^31) >> (31 + e)      (e > 0; (a*b + 2^30) >> 31 for e = 0)
 * in 64 bits (|a*b| <= 2^62, 2^(30+e) <= 2^61), then min(., INT32_MAX): SRDHM's one saturation,
 * 2^31 at e = 0; at e > 0 the saturated and the unsaturated h round to the same 2^(31-e).
 * qat_rq16 holds one block of 16 channels' multipliers and shifts in that form, prepared once
 * and applied to every row of accumulators of those channels. qat_rq16_apply_right skips the
 * left shift and the saturation, for a block where no lane needs them (right_only): a model's
 * multipliers lie in [2^30, 2^31) and a convolution's shifts are right shifts, and the two
 * steps cost 8 % of MobileNetV2's inference. Callers test right_only once per block, outside
 * their loops (a test inside each apply measured as slow as the steps it skips). */
typedef struct qat_rq16 {
  __m512i left;              /* left shift, int32 lanes */
  __m512i m_odd, mult;       /* multipliers: odd lanes moved down, and as loaded */
  __m512i k_even, k_odd;     /* 2^30 + 2^(30+e) (2^30 for e = 0), 64-bit lanes */
  __m512i sh_even, sh_odd;   /* 31 + e */
  __mmask8 nz_even, nz_odd;  /* e > 0 */
  int right_only;            /* no lane shifts left or can saturate (e = 0, multiplier INT32_MIN) */
} qat_rq16;

QAT_AVX512 static inline qat_rq16 qat_rq16_prepare(__m512i mult, __m512i shift) {
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1), c30 = _mm512_set1_epi64(30),
                k = _mm512_set1_epi64(INT64_C(1) << 30);
  qat_rq16 p;
  p.left = _mm512_max_epi32(shift, zero);
  const __m512i e = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
  p.mult = mult;
  p.m_odd = _mm512_srli_epi64(mult, 32);
  const __m512i e_even = _mm512_and_si512(e, _mm512_set1_epi64(0xffffffff)), e_odd = _mm512_srli_epi64(e, 32);
  p.nz_even = _mm512_cmpgt_epi64_mask(e_even, zero);
  p.nz_odd = _mm512_cmpgt_epi64_mask(e_odd, zero);
  p.k_even = _mm512_add_epi64(k, _mm512_maskz_sllv_epi64(p.nz_even, one, _mm512_add_epi64(e_even, c30)));
  p.k_odd = _mm512_add_epi64(k, _mm512_maskz_sllv_epi64(p.nz_odd, one, _mm512_add_epi64(e_odd, c30)));
  p.sh_even = _mm512_add_epi64(e_even, _mm512_set1_epi64(31));
  p.sh_odd = _mm512_add_epi64(e_odd, _mm512_set1_epi64(31));
  p.right_only = !_mm512_test_epi32_mask(p.left, p.left) &&
                 !_mm512_mask_cmpeq_epi32_mask(_mm512_cmpeq_epi32_mask(e, zero), mult, _mm512_set1_epi32(INT32_MIN));
  return p;
}

/* one half: x and m in the low 32 bits of each 64-bit lane */
QAT_AVX512 static inline __m512i qat_rq8_apply(__m512i x, __m512i m, __m512i k, __m512i sh, __mmask8 nz, int sat) {
  const __m512i prod = _mm512_mul_epi32(x, m);
  const __mmask8 neg = _mm512_mask_cmplt_epi64_mask(nz, prod, _mm512_set1_epi64(-(INT64_C(1) << 30)));
  __m512i t = _mm512_add_epi64(prod, k);
  t = _mm512_mask_sub_epi64(t, neg, t, _mm512_set1_epi64(INT64_C(1) << 31));
  t = _mm512_srav_epi64(t, sh);
  return sat ? _mm512_min_epi64(t, _mm512_set1_epi64(INT32_MAX)) : t;
}

/* right: the block is right_only, a constant where inlined */
QAT_AVX512 static inline __attribute__((always_inline)) __m512i qat_rq16_apply_as(const qat_rq16 *p, __m512i x,
                                                                                const int right) {
  if (!right) x = _mm512_sllv_epi32(x, p->left); /* wraps, as the scalar one through uint32 */
  const __m512i even = qat_rq8_apply(x, p->mult, p->k_even, p->sh_even, p->nz_even, !right);
  const __m512i odd = qat_rq8_apply(_mm512_srli_epi64(x, 32), p->m_odd, p->k_odd, p->sh_odd, p->nz_odd, !right);
  return _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

QAT_AVX512 static inline __m512i qat_rq16_apply(const qat_rq16 *p, __m512i x) { return qat_rq16_apply_as(p, x, 0); }

/* only for a right_only block */
QAT_AVX512 static inline __m512i qat_rq16_apply_right(const qat_rq16 *p, __m512i x) {
  return qat_rq16_apply_as(p, x, 1);
}

/* the form the block needs, the test left for the caller's loop to be unswitched on */
QAT_AVX512 static inline __attribute__((always_inline)) __m512i qat_rq16_run(const qat_rq16 *p, __m512i x) {
  return p->right_only ? qat_rq16_apply_right(p, x) : qat_rq16_apply(p, x);
}

QAT_AVX512 static inline __m512i qat_mbqm_x16(__m512i x, __m512i mult, __m512i shift) {
  const qat_rq16 p = qat_rq16_prepare(mult, shift);
  return qat_rq16_apply(&p, x);
}

#endif

#endif
