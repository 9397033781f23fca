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

/* A micro-kernel call MK(R, N) for mr rows (1 to 4: 2 and 3 are the ends of output rows read in
 * place) by nr registers of channels (1 to 4), each shape a constant. */
#define RT_MK_NR(R, nr, MK)   \
  switch (nr) {               \
  case 1: MK(R, 1); break;    \
  case 2: MK(R, 2); break;    \
  case 3: MK(R, 3); break;    \
  default: MK(R, 4); break;   \
  }
#define RT_MK_SWITCH(mr, nr, MK)       \
  switch (mr) {                        \
  case 4: RT_MK_NR(4, nr, MK); break;  \
  case 3: RT_MK_NR(3, nr, MK); break;  \
  case 2: RT_MK_NR(2, nr, MK); break;  \
  default: RT_MK_NR(1, nr, MK); break; \
  }

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "fakequant/fixedpoint_avx512.h"
#define RT_AVX512 QAT_AVX512

/* 16 bytes of four rows interleaved: lane c of the result holds a[c], b[c], c_[c], d[c] (a quad
 * per 32-bit lane, as vpdpbusd reads them) */
RT_AVX512 static inline __m512i rt_quads16(__m128i a, __m128i b, __m128i c_, __m128i d) {
  const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
  const __m128i cd_lo = _mm_unpacklo_epi8(c_, d), cd_hi = _mm_unpackhi_epi8(c_, d);
  const __m256i q01 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(ab_lo, cd_lo)),
                                              _mm_unpackhi_epi16(ab_lo, cd_lo), 1);
  const __m256i q23 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(ab_hi, cd_hi)),
                                              _mm_unpackhi_epi16(ab_hi, cd_hi), 1);
  return _mm512_inserti64x4(_mm512_castsi256_si512(q01), q23, 1);
}

/* (rt_store_i8_x16: + zero point, then) clamped to [lo, hi] (within int8), narrowed to int8 and
 * stored in the lanes of m: the saturating narrowing clamps to [-128, 127], then the
 * activation's bounds apply to the 16 bytes (a 128-bit max and min instead of two 512-bit ones,
 * which Zen 4 runs at half rate) */
RT_AVX512 static inline void rt_store_i8_x16z(int8_t *out, __mmask16 m, __m512i r, __m512i lo, __m512i hi) {
  __m128i b = _mm512_cvtsepi32_epi8(r);
  b = _mm_min_epi8(_mm_max_epi8(b, _mm512_cvtepi32_epi8(lo)), _mm512_cvtepi32_epi8(hi));
  _mm_mask_storeu_epi8(out, m, b);
}
RT_AVX512 static inline void rt_store_i8_x16(int8_t *out, __mmask16 m, __m512i r, __m512i zp, __m512i lo,
                                            __m512i hi) {
  rt_store_i8_x16z(out, m, _mm512_add_epi32(r, zp), lo, hi);
}

/* A block of 16 output channels' requantization, MultiplyByQuantizedMultiplier(acc, m, -e) +
 * zero point, prepared at read (rt_rq16_blocks). Where the accumulators are bounded, |acc| <= B
 * (int8 inputs and weights: 255 * 128 * taps + max |bias|), every lane has m > 2^30 and a right
 * shift e >= 1, and B + 2^(e-1) + |zp| 2^e + 3 < 2^31, the block is `fast`: with x = acc + 2^31
 * (as uint32), M = 2m (as uint32) and the 64-bit constant
 *   C = 2^31 + 2^(31+e) - 2^32 m + 2^32 (zp 2^e - 1),
 * the high half H of x M + C (mod 2^64) is G + zp 2^e - 1, where
 *   G = floor((acc m + 2^30 + 2^(30+e)) / 2^31),
 * and the result is (H + [acc >= 0]) >> e, arithmetic: qat_rq16's one floor (fixedpoint_avx512.h)
 * taken in two steps, floor((G - [acc < 0]) / 2^e) + zp, where m > 2^30 makes [acc < 0] the
 * reference's [acc m + 2^30 < 0], and the bound keeps H and H + 1 in int32 (|G| < B + 2^(e-1) +
 * 2). Ten vector operations for 16 outputs, the zero point included, against fourteen: one
 * unsigned multiply a half and no 64-bit shift, sign test or blend. Other blocks keep qat_rq16's
 * exact forms (`exact`), with the zero point added by the caller. */
typedef struct rt_rq16 {
  __m512i m2_even, m2_odd; /* 2m as uint32 in the low half of each 64-bit lane */
  __m512i c_even, c_odd;   /* C, 64-bit lanes */
  __m512i e;               /* the right shift, int32 lanes */
  qat_rq16 exact;
  int fast;
} rt_rq16;

/* the three forms a caller's loop is unswitched on */
enum { RT_RQ_FAST, RT_RQ_RIGHT, RT_RQ_FULL };
static inline int rt_rq16_form(const rt_rq16 *p) {
  return p->fast ? RT_RQ_FAST : p->exact.right_only ? RT_RQ_RIGHT : RT_RQ_FULL;
}

/* MultiplyByQuantizedMultiplier(acc) + zp in the block's form (a constant where inlined) */
RT_AVX512 RT_FORCE_INLINE __m512i rt_rq16_out(const rt_rq16 *p, __m512i acc, __m512i zp, const int form) {
  if (form == RT_RQ_RIGHT) return _mm512_add_epi32(qat_rq16_apply_right(&p->exact, acc), zp);
  if (form == RT_RQ_FULL) return _mm512_add_epi32(qat_rq16_apply(&p->exact, acc), zp);
  const __m512i x = _mm512_xor_si512(acc, _mm512_set1_epi32(INT32_MIN));
  const __m512i ve = _mm512_add_epi64(_mm512_mul_epu32(x, p->m2_even), p->c_even);
  const __m512i vo = _mm512_add_epi64(_mm512_mul_epu32(_mm512_srli_epi64(x, 32), p->m2_odd), p->c_odd);
  /* the high halves: the even lanes' moved down into place, the odd lanes' already there */
  const __m512i h = _mm512_mask_shuffle_epi32(vo, 0x5555, ve, _MM_PERM_DDBB);
  return _mm512_srav_epi32(_mm512_add_epi32(h, _mm512_srli_epi32(x, 31)), p->e);
}

/* mult and shift of 16 channels (the lanes past them any value: their fast test is masked off by
 * valid) in both forms; bound 0: the exact forms only */
RT_AVX512 static inline void rt_rq16_prepare(__m512i mult, __m512i shift, __mmask16 valid, int32_t zp, int64_t bound,
                                             rt_rq16 *p) {
  p->exact = qat_rq16_prepare(mult, shift);
  int32_t mv[16], sv[16];
  uint32_t m2[16];
  int64_t c[16];
  int32_t e[16];
  _mm512_storeu_si512((void *)mv, mult);
  _mm512_storeu_si512((void *)sv, shift);
  int fast = bound > 0;
  for (int l = 0; l < 16; l++) {
    const int64_t el = -(int64_t)sv[l];
    const int ok = mv[l] > (INT32_C(1) << 30) && el >= 1 && el <= 30 &&
                   bound + ((int64_t)1 << (el - 1)) + (zp < 0 ? -(int64_t)zp : zp) * ((int64_t)1 << el) + 3 <
                       ((int64_t)1 << 31);
    if (!ok) {
      if (valid >> l & 1) fast = 0;
      m2[l] = 0, c[l] = 0, e[l] = 0;
      continue;
    }
    m2[l] = 2u * (uint32_t)mv[l];
    /* modulo 2^64, as the vector addition */
    c[l] = (int64_t)((((uint64_t)1 << 31) + ((uint64_t)1 << (31 + el)) - ((uint64_t)(uint32_t)mv[l] << 32) +
                      ((uint64_t)((int64_t)zp * ((int64_t)1 << el) - 1) << 32)));
    e[l] = (int32_t)el;
  }
  p->fast = fast;
  const __m512i m2v = _mm512_loadu_si512((const void *)m2);
  p->m2_even = m2v;
  p->m2_odd = _mm512_srli_epi64(m2v, 32);
  p->c_even = _mm512_set_epi64(c[14], c[12], c[10], c[8], c[6], c[4], c[2], c[0]);
  p->c_odd = _mm512_set_epi64(c[15], c[13], c[11], c[9], c[7], c[5], c[3], c[1]);
  p->e = _mm512_loadu_si512((const void *)e);
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
