/* SIMD pieces the runtime's kernels share (igemm.c, sgemm.c, kernels_avx512.c). Each function
 * carries its own target attribute; callers reach the AVX-512 ones only where rt_simd_avx512()
 * said the CPU has AVX-512 F/BW/DQ/VL (and VNNI: the GEMM's path). */
#ifndef QAT_RT_SIMD_H
#define QAT_RT_SIMD_H

#include <stdint.h>

#include "runtime/rt_internal.h"

/* The CPU runs the AVX-512 kernels (the GEMM's VNNI path was chosen). */
static inline int rt_simd_avx512(void) { return rt_igemm_path() == RT_IGEMM_VNNI; }

/* 32-bit lanes per register on a path: the packed layouts' block of output channels. */
static inline int rt_simd_lanes(int path) { return path == RT_IGEMM_VNNI ? 16 : 8; }

/* The micro-kernels are written with their shape (rows, blocks) as arguments and instantiated
 * with constants, so their accumulators stay in registers. */
#define RT_FORCE_INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RT_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

/* MultiplyByQuantizedMultiplier on 16 lanes, bit-equal to the scalar one, in 64-bit lanes (even
 * and odd int32 lanes apart) where no step can overflow:
 *   SRDHM: (a*b + nudge) / 2^31 truncated toward zero equals floor((a*b + 2^30) / 2^31) for every
 *     product (for a*b < 0, trunc((p + 1 - 2^30) / 2^31) = floor((p + 1 - 2^30 + 2^31 - 1) / 2^31)),
 *     and only INT32_MIN * INT32_MIN leaves int32 (2^31, which SRDHM saturates to INT32_MAX);
 *   RoundingDivideByPOT(h, e), ties away from zero: floor((h + 2^(e-1) - [h < 0]) / 2^e) for
 *     e > 0, h itself for e = 0.
 * rt_rq16 holds one block of 16 channels' multipliers and shifts in that form, prepared once
 * and applied to every row of accumulators of those channels. */
typedef struct rt_rq16 {
  __m512i left;                /* left shift, int32 lanes */
  __m512i m_odd, mult;         /* multipliers: odd lanes moved down, and as loaded */
  __m512i e_even, e_odd;       /* right shifts, 64-bit lanes */
  __m512i half_even, half_odd; /* 2^(e-1), 0 for e = 0 */
  __mmask8 nz_even, nz_odd;    /* e > 0 */
} rt_rq16;

RT_AVX512 static inline rt_rq16 rt_rq16_prepare(__m512i mult, __m512i shift) {
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1);
  rt_rq16 p;
  p.left = _mm512_max_epi32(shift, zero);
  const __m512i e = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
  p.mult = mult;
  p.m_odd = _mm512_srli_epi64(mult, 32);
  p.e_even = _mm512_and_si512(e, _mm512_set1_epi64(0xffffffff));
  p.e_odd = _mm512_srli_epi64(e, 32);
  p.half_even = _mm512_srli_epi64(_mm512_sllv_epi64(one, p.e_even), 1);
  p.half_odd = _mm512_srli_epi64(_mm512_sllv_epi64(one, p.e_odd), 1);
  p.nz_even = _mm512_cmpgt_epi64_mask(p.e_even, zero);
  p.nz_odd = _mm512_cmpgt_epi64_mask(p.e_odd, zero);
  return p;
}

/* one half: x and m in the low 32 bits of each 64-bit lane */
RT_AVX512 static inline __m512i rt_rq8_apply(__m512i x, __m512i m, __m512i e, __m512i half, __mmask8 nz) {
  __m512i h = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, m), _mm512_set1_epi64(INT64_C(1) << 30)), 31);
  h = _mm512_min_epi64(h, _mm512_set1_epi64(INT32_MAX));
  const __mmask8 neg = _mm512_cmplt_epi64_mask(h, _mm512_setzero_si512()) & nz;
  h = _mm512_add_epi64(h, half);
  h = _mm512_mask_sub_epi64(h, neg, h, _mm512_set1_epi64(1));
  return _mm512_srav_epi64(h, e);
}

RT_AVX512 static inline __m512i rt_rq16_apply(const rt_rq16 *p, __m512i x) {
  x = _mm512_sllv_epi32(x, p->left); /* wraps, as the scalar one through uint32 */
  const __m512i even = rt_rq8_apply(x, p->mult, p->e_even, p->half_even, p->nz_even);
  const __m512i odd = rt_rq8_apply(_mm512_srli_epi64(x, 32), p->m_odd, p->e_odd, p->half_odd, p->nz_odd);
  return _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

RT_AVX512 static inline __m512i rt_mbqm_x16(__m512i x, __m512i mult, __m512i shift) {
  const rt_rq16 p = rt_rq16_prepare(mult, shift);
  return rt_rq16_apply(&p, x);
}

/* + zero point, clamp to [lo, hi], narrowed to int8 and stored in the lanes of m */
RT_AVX512 static inline void rt_store_i8_x16(int8_t *out, __mmask16 m, __m512i r, __m512i zp, __m512i lo,
                                            __m512i hi) {
  r = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, zp), lo), hi);
  _mm_mask_storeu_epi8(out, m, _mm512_cvtepi32_epi8(r));
}

/* the epilogue's bias and clamp, per lane as F32_DONE: (acc + bias) then x < lo ? lo : x and
 * hi < x ? hi : x (a NaN passes) */
RT_AVX512 static inline __m512 rt_finish_f32_x16(__m512 acc, __m512 bias, __m512 lo, __m512 hi) {
  __m512 v = _mm512_add_ps(acc, bias);
  v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), v, lo);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(hi, v, _CMP_LT_OQ), v, hi);
}

static inline __mmask16 rt_mask16(int64_t valid) {
  return (__mmask16)(valid >= 16 ? 0xffffu : (1u << valid) - 1u);
}
#endif

#endif
