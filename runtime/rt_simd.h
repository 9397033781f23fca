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

/* + zero point, clamp to [lo, hi] (within int8), narrowed to int8 and stored in the lanes of m:
 * the saturating narrowing clamps to [-128, 127], then the activation's bounds apply to the 16
 * bytes (a 128-bit max and min instead of two 512-bit ones, which Zen 4 runs at half rate) */
RT_AVX512 static inline void rt_store_i8_x16(int8_t *out, __mmask16 m, __m512i r, __m512i zp, __m512i lo,
                                            __m512i hi) {
  __m128i b = _mm512_cvtsepi32_epi8(_mm512_add_epi32(r, zp));
  b = _mm_min_epi8(_mm_max_epi8(b, _mm512_cvtepi32_epi8(lo)), _mm512_cvtepi32_epi8(hi));
  _mm_mask_storeu_epi8(out, m, b);
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
