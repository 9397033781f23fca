/* gemmlowp's fixed-point primitives (qat/quant.h) on 4 int32 lanes with AVX2, bit-equal to
 * the scalar ones: the fake quant's requantization (requant.c) and the runtime's int8 kernels
 * (runtime/igemm.c) share them. Each function carries its own target attribute, so a file
 * built for an older baseline can still include this and dispatch at run time. */
#ifndef QAT_FIXEDPOINT_AVX2_H
#define QAT_FIXEDPOINT_AVX2_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdint.h>

#define QAT_AVX2 __attribute__((target("avx2,fma")))

/* qat_srdhm on 4 lanes */
QAT_AVX2 static inline __m128i qat_srdhm_x4(__m128i a, __m128i b) {
  const __m256i ab = _mm256_mul_epi32(_mm256_cvtepi32_epi64(a), _mm256_cvtepi32_epi64(b));
  const __m256i zero = _mm256_setzero_si256();
  const __m256i neg = _mm256_cmpgt_epi64(zero, ab);
  const __m256i nudge = _mm256_blendv_epi8(_mm256_set1_epi64x(INT64_C(1) << 30),
                                           _mm256_set1_epi64x(1 - (INT64_C(1) << 30)), neg);
  const __m256i s = _mm256_add_epi64(ab, nudge);
  /* s / 2^31 truncated toward zero fits in int32: the low half of the logical shift is the
   * floor; a negative s with a nonzero remainder moves up by one */
  __m256i q = _mm256_srli_epi64(s, 31);
  const __m256i rem = _mm256_and_si256(s, _mm256_set1_epi64x(0x7fffffff));
  const __m256i up = _mm256_andnot_si256(_mm256_cmpeq_epi64(rem, zero), _mm256_cmpgt_epi64(zero, s));
  q = _mm256_sub_epi64(q, up);
  const __m128i lo = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
  const __m128i min = _mm_set1_epi32(INT32_MIN);
  const __m128i both_min = _mm_and_si128(_mm_cmpeq_epi32(a, min), _mm_cmpeq_epi32(b, min));
  return _mm_blendv_epi8(lo, _mm_set1_epi32(INT32_MAX), both_min);
}

/* qat_rounding_divide_by_pot on 4 lanes, exponents 0..31 */
QAT_AVX2 static inline __m128i qat_rdivpot_x4(__m128i x, __m128i e) {
  const __m128i one = _mm_set1_epi32(1);
  const __m128i mask = _mm_sub_epi32(_mm_sllv_epi32(one, e), one);
  const __m128i rem = _mm_and_si128(x, mask);
  const __m128i thr = _mm_sub_epi32(_mm_srli_epi32(mask, 1), _mm_cmpgt_epi32(_mm_setzero_si128(), x));
  return _mm_sub_epi32(_mm_srav_epi32(x, e), _mm_cmpgt_epi32(rem, thr));
}

/* qat_multiply_by_quantized_multiplier on 4 lanes, shifts -31..30 (the left shift wraps as
 * the scalar one's does through uint32) */
QAT_AVX2 static inline __m128i qat_mbqm_x4(__m128i x, __m128i mult, __m128i shift) {
  const __m128i zero = _mm_setzero_si128();
  const __m128i left = _mm_max_epi32(shift, zero), right = _mm_max_epi32(_mm_sub_epi32(zero, shift), zero);
  return qat_rdivpot_x4(qat_srdhm_x4(_mm_sllv_epi32(x, left), mult), right);
}

/* MultiplyByQuantizedMultiplier on 8 lanes, as fixedpoint_avx512.h's qat_rq16 computes it on 16
 * (one shift of a 64-bit sum per lane; the derivation is there), with what AVX2 lacks written
 * out: masks as all-ones lanes, the arithmetic right shift as a logical one between two
 * complements of the negative lanes, the minimum as a compare and a blend. About half the
 * instructions of two qat_mbqm_x4; prepared once per block of 8 channels, applied to every row
 * of accumulators of those channels. */
typedef struct qat_rq8x {
  __m256i left;              /* left shift, int32 lanes */
  __m256i m_odd, mult;       /* multipliers: odd lanes moved down, and as loaded */
  __m256i k_even, k_odd;     /* 2^30 + 2^(30+e) (2^30 for e = 0), 64-bit lanes */
  __m256i sh_even, sh_odd;   /* 31 + e */
  __m256i nz_even, nz_odd;   /* e > 0: all ones */
} qat_rq8x;

QAT_AVX2 static inline qat_rq8x qat_rq8x_prepare(__m256i mult, __m256i shift) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi64x(1), c30 = _mm256_set1_epi64x(30),
                k = _mm256_set1_epi64x(INT64_C(1) << 30);
  qat_rq8x p;
  p.left = _mm256_max_epi32(shift, zero);
  const __m256i e = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
  p.mult = mult;
  p.m_odd = _mm256_srli_epi64(mult, 32);
  const __m256i e_even = _mm256_and_si256(e, _mm256_set1_epi64x(0xffffffff)), e_odd = _mm256_srli_epi64(e, 32);
  p.nz_even = _mm256_cmpgt_epi64(e_even, zero);
  p.nz_odd = _mm256_cmpgt_epi64(e_odd, zero);
  p.k_even = _mm256_add_epi64(k, _mm256_and_si256(p.nz_even, _mm256_sllv_epi64(one, _mm256_add_epi64(e_even, c30))));
  p.k_odd = _mm256_add_epi64(k, _mm256_and_si256(p.nz_odd, _mm256_sllv_epi64(one, _mm256_add_epi64(e_odd, c30))));
  p.sh_even = _mm256_add_epi64(e_even, _mm256_set1_epi64x(31));
  p.sh_odd = _mm256_add_epi64(e_odd, _mm256_set1_epi64x(31));
  return p;
}

/* one half: x and m in the low 32 bits of each 64-bit lane */
QAT_AVX2 static inline __m256i qat_rq4x_apply(__m256i x, __m256i m, __m256i k, __m256i sh, __m256i nz) {
  const __m256i prod = _mm256_mul_epi32(x, m);
  const __m256i neg = _mm256_and_si256(nz, _mm256_cmpgt_epi64(_mm256_set1_epi64x(-(INT64_C(1) << 30)), prod));
  __m256i t = _mm256_add_epi64(prod, k);
  t = _mm256_sub_epi64(t, _mm256_and_si256(neg, _mm256_set1_epi64x(INT64_C(1) << 31)));
  const __m256i sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), t);
  const __m256i r = _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(t, sign), sh), sign);
  const __m256i max = _mm256_set1_epi64x(INT32_MAX);
  return _mm256_blendv_epi8(r, max, _mm256_cmpgt_epi64(r, max));
}

QAT_AVX2 static inline __m256i qat_rq8x_apply(const qat_rq8x *p, __m256i x) {
  x = _mm256_sllv_epi32(x, p->left); /* wraps, as the scalar one through uint32 */
  const __m256i even = qat_rq4x_apply(x, p->mult, p->k_even, p->sh_even, p->nz_even);
  const __m256i odd = qat_rq4x_apply(_mm256_srli_epi64(x, 32), p->m_odd, p->k_odd, p->sh_odd, p->nz_odd);
  return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

QAT_AVX2 static inline __m256i qat_mbqm_x8(__m256i x, __m256i mult, __m256i shift) {
  const qat_rq8x p = qat_rq8x_prepare(mult, shift);
  return qat_rq8x_apply(&p, x);
}
#endif

#endif
