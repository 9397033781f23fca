/* DEPTHWISE_CONV_2D (int8 and float32) and int8 ADD with AVX-512, bit-exact with the reference
 * kernels that kernels_int8.c, kernels_quant.c and kernels_float.c implement in plain C (and that
 * the callers keep for other CPUs and QAT_SIMD=0):
 *   DEPTHWISE_CONV_2D: 16 output channels per register, every tap of the window summed in
 *     registers (int32 products of (x + offset) * w wrap as the reference's sums; the order of
 *     integer additions does not change them), then MultiplyByQuantizedMultiplier per channel
 *     (rt_simd.h). A depth multiplier m > 1 spreads input channel c over outputs c*m..c*m+m-1
 *     with one permutation per tap.
 *   ADD and MUL: the reference's MultiplyByQuantizedMultiplier (three for ADD, one for MUL) on
 *     16 lanes, along rows whose inputs are contiguous or broadcast (a stride of 0). */
#include "runtime/rt_kernel.h"
#include "runtime/rt_simd.h"

#if defined(__x86_64__) || defined(__i386__)

#define RT_PARALLEL_MACS (1 << 21) /* as kernels_int8.c */

/* Taps are taken two at a time with vpdpwssd: a register of 32 int16 holds, for each of the 16
 * channels, (x + offset) of tap t and of tap t + 1 side by side (one permutation interleaves the
 * two taps' channels and, for a depth multiplier m > 1, spreads input channel c over outputs
 * c*m..c*m+m-1), against the two taps' weights interleaved the same way: once per block of
 * channels and row for windows up to 2 * DW_MAX_PAIRS taps, per tap pair beyond. |x + offset| <=
 * 255 and |w| <= 128: each pair of products fits int32, and the accumulation wraps as the
 * reference's sums. A tap outside the image is (x + offset) = 0. */
#define DW_MAX_PAIRS 64

/* For the block of 16 output channels at c0 with depth multiplier dm: output lane l reads input
 * channel (c0 + l) / dm, lane (c0 + l) / dm - c0 / dm of the 16 input values loaded from c0 / dm. */
RT_AVX512 static inline __m512i spread16(int c0, int dm) {
  int32_t idx[16];
  for (int l = 0; l < 16; l++) idx[l] = (c0 + l) / dm - c0 / dm;
  return _mm512_loadu_si512((const void *)idx);
}

/* Taps t and t + 1 (0 past the window) of the block's channels m at c0, interleaved as words. */
RT_AVX512 static inline __m512i weight_pair(const int8_t *w, int C, int c0, __mmask16 m, int t, int taps) {
  const __m512i interleave = _mm512_loadu_si512((const void *)(const int16_t[32]){
      0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31});
  const __m256i w0 = _mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(m, w + (int64_t)t * C + c0));
  const __m256i w1 = t + 1 < taps ? _mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(m, w + (int64_t)(t + 1) * C + c0))
                                  : _mm256_setzero_si256();
  return _mm512_permutexvar_epi16(interleave, _mm512_inserti64x4(_mm512_castsi256_si512(w0), w1, 1));
}

/* One output row (the OpenMP loop stays in a plain function: clang does not give an outlined
 * parallel body its function's target attribute). */
RT_AVX512 static void dw_i8_row(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                                const int32_t *bias, int8_t *out, int64_t row) {
  const int C = g->out_c, dm = g->depth_multiplier, taps = g->k_h * g->k_w, pairs = (taps + 1) / 2;
  const int hoisted = pairs <= DW_MAX_PAIRS;
  const __m256i off = _mm256_set1_epi16((int16_t)q->in_offset);
  const __m512i zp = _mm512_set1_epi32(q->out_zp), lo = _mm512_set1_epi32(q->act_min),
                hi = _mm512_set1_epi32(q->act_max);
  const int64_t b = row / g->out_h, oy = row % g->out_h, y0 = oy * g->stride_h - g->pad_h;
  for (int c0 = 0; c0 < C; c0 += 16) {
    const __mmask16 m = rt_mask16(C - c0);
    const int ic0 = c0 / dm;
    const __mmask16 min = rt_mask16(g->in_c - ic0);
    /* spread16's lanes as words, each twice: from the first tap (words 0..15) and, + 16, from the
     * second (words 16..31) */
    const __m512i sp = spread16(c0, dm);
    const __m512i pick = _mm512_or_si512(sp, _mm512_slli_epi32(_mm512_add_epi32(sp, _mm512_set1_epi32(16)), 16));
    __m512i wp[DW_MAX_PAIRS];
    for (int pr = 0; hoisted && pr < pairs; pr++) wp[pr] = weight_pair(w, C, c0, m, 2 * pr, taps);
    const __m512i bv = bias ? _mm512_maskz_loadu_epi32(m, bias + c0) : _mm512_setzero_si512();
    const qat_rq16 rq = qat_rq16_prepare(_mm512_maskz_loadu_epi32(m, q->mult + c0), _mm512_maskz_loadu_epi32(m, q->shift + c0));
    for (int64_t ox = 0; ox < g->out_w; ox++) {
      const int64_t x0 = ox * g->stride_w - g->pad_w;
      __m512i acc = bv, acc2 = _mm512_setzero_si512();
      __m256i first = _mm256_setzero_si256();
      int t = 0;
      for (int ky = 0; ky < g->k_h; ky++) {
        const int64_t y = y0 + (int64_t)g->dil_h * ky;
        const int row_in = y >= 0 && y < g->in_h;
        for (int kx = 0; kx < g->k_w; kx++, t++) {
          const int64_t x = x0 + (int64_t)g->dil_w * kx;
          __m256i v = _mm256_setzero_si256();
          if (row_in && x >= 0 && x < g->in_w)
            v = _mm256_add_epi16(
                _mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(min, in + ((b * g->in_h + y) * g->in_w + x) * g->in_c + ic0)),
                off);
          if (!(t & 1)) {
            first = v;
            continue;
          }
          const __m512i z = _mm512_permutexvar_epi16(pick, _mm512_inserti64x4(_mm512_castsi256_si512(first), v, 1));
          const __m512i wv = hoisted ? wp[t >> 1] : weight_pair(w, C, c0, m, t - 1, taps);
          /* two accumulators in turn: vpdpwssd's latency, not its throughput, bounds one chain */
          if (t & 2) acc2 = _mm512_dpwssd_epi32(acc2, z, wv);
          else acc = _mm512_dpwssd_epi32(acc, z, wv);
        }
      }
      if (t & 1) /* the last, unpaired tap against a zero weight */
        acc = _mm512_dpwssd_epi32(acc, _mm512_permutexvar_epi16(pick, _mm512_zextsi256_si512(first)),
                                  hoisted ? wp[t >> 1] : weight_pair(w, C, c0, m, t - 1, taps));
      rt_store_i8_x16(out + (row * g->out_w + ox) * C + c0, m, qat_rq16_apply(&rq, _mm512_add_epi32(acc, acc2)), zp,
                      lo, hi);
    }
  }
}

void rt_dwconv2d_i8_avx512(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                           const int32_t *bias, int8_t *out) {
  const int64_t rows = (int64_t)g->batches * g->out_h;
#pragma omp parallel for schedule(static) if (rows * g->out_w * g->out_c * g->k_h * g->k_w > RT_PARALLEL_MACS)
  for (int64_t row = 0; row < rows; row++) dw_i8_row(g, q, in, w, bias, out, row);
}

/* float32: each channel's products rounded and added in the reference's tap order (ky, kx),
 * taps outside the image skipped as there, then + bias (or + 0.0f) and the clamp (F32_DONE). */
RT_AVX512 static void dw_f32_row(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                                 const float *w, const float *bias, float *out, int64_t row) {
  const int C = g->out_c, dm = g->depth_multiplier;
  const __m512 lo = _mm512_set1_ps(act_min), hi = _mm512_set1_ps(act_max);
  const int64_t b = row / g->out_h, oy = row % g->out_h, y0 = oy * g->stride_h - g->pad_h;
  for (int64_t ox = 0; ox < g->out_w; ox++) {
    const int64_t x0 = ox * g->stride_w - g->pad_w;
    for (int c0 = 0; c0 < C; c0 += 16) {
      const __mmask16 m = rt_mask16(C - c0);
      const int ic0 = c0 / dm;
      const __mmask16 min = rt_mask16(g->in_c - ic0);
      const __m512i spread = spread16(c0, dm);
      __m512 acc = _mm512_setzero_ps();
      for (int64_t ky = 0; ky < g->k_h; ky++) {
        const int64_t y = y0 + (int64_t)g->dil_h * ky;
        if (y < 0 || y >= g->in_h) continue;
        for (int64_t kx = 0; kx < g->k_w; kx++) {
          const int64_t x = x0 + (int64_t)g->dil_w * kx;
          if (x < 0 || x >= g->in_w) continue;
          __m512 xv = _mm512_maskz_loadu_ps(min, in + ((b * g->in_h + y) * g->in_w + x) * g->in_c + ic0);
          if (dm > 1) xv = _mm512_permutexvar_ps(spread, xv);
          const __m512 wv = _mm512_maskz_loadu_ps(m, w + (ky * g->k_w + kx) * C + c0);
          acc = _mm512_add_ps(acc, _mm512_mul_ps(xv, wv));
        }
      }
      const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + c0) : _mm512_setzero_ps();
      _mm512_mask_storeu_ps(out + (row * g->out_w + ox) * C + c0, m, rt_finish_f32_x16(acc, bv, lo, hi));
    }
  }
}

void rt_dwconv2d_f32_avx512(const rt_conv_geom *g, float act_min, float act_max, const float *in, const float *w,
                            const float *bias, float *out) {
  const int64_t rows = (int64_t)g->batches * g->out_h;
#pragma omp parallel for schedule(static) if (rows * g->out_w * g->out_c * g->k_h * g->k_w > RT_PARALLEL_MACS)
  for (int64_t row = 0; row < rows; row++) dw_f32_row(g, act_min, act_max, in, w, bias, out, row);
}

/* n outputs of a row: in1 at stride s1, in2 at stride s2 (each 0 or 1) */
RT_AVX512 static void add_row(const rt_add_params *p, const int8_t *in1, int64_t s1, const int8_t *in2,
                              int64_t s2, int8_t *out, int64_t n) {
  const __m512i off1 = _mm512_set1_epi32(p->in1_offset), off2 = _mm512_set1_epi32(p->in2_offset);
  const __m512i m1 = _mm512_set1_epi32(p->m1), m2 = _mm512_set1_epi32(p->m2), mo = _mm512_set1_epi32(p->mo);
  const __m512i sh1 = _mm512_set1_epi32(p->s1), sh2 = _mm512_set1_epi32(p->s2), sho = _mm512_set1_epi32(p->so);
  const __m512i zp = _mm512_set1_epi32(p->out_zp), lo = _mm512_set1_epi32(p->act_min),
                hi = _mm512_set1_epi32(p->act_max);
  const __m128i lsh = _mm_cvtsi32_si128(p->left_shift);
  const qat_rq16 r1 = qat_rq16_prepare(m1, sh1), r2 = qat_rq16_prepare(m2, sh2), ro = qat_rq16_prepare(mo, sho);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = rt_mask16(n - i);
    const __m512i a = s1 ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, in1 + i)) : _mm512_set1_epi32(in1[0]);
    const __m512i b = s2 ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, in2 + i)) : _mm512_set1_epi32(in2[0]);
    /* |(offset + x) << left_shift| < 2^31 (kernels_quant.c's add_one) */
    const __m512i x1 = _mm512_sll_epi32(_mm512_add_epi32(a, off1), lsh);
    const __m512i x2 = _mm512_sll_epi32(_mm512_add_epi32(b, off2), lsh);
    const __m512i sum = _mm512_add_epi32(qat_rq16_apply(&r1, x1), qat_rq16_apply(&r2, x2));
    rt_store_i8_x16(out + i, m, qat_rq16_apply(&ro, sum), zp, lo, hi);
  }
}

RT_AVX512 static void mul_row(const rt_add_params *p, const int8_t *in1, int64_t s1, const int8_t *in2,
                              int64_t s2, int8_t *out, int64_t n) {
  const __m512i off1 = _mm512_set1_epi32(p->in1_offset), off2 = _mm512_set1_epi32(p->in2_offset);
  const __m512i zp = _mm512_set1_epi32(p->out_zp), lo = _mm512_set1_epi32(p->act_min),
                hi = _mm512_set1_epi32(p->act_max);
  const qat_rq16 ro = qat_rq16_prepare(_mm512_set1_epi32(p->mo), _mm512_set1_epi32(p->so));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = rt_mask16(n - i);
    const __m512i a = s1 ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, in1 + i)) : _mm512_set1_epi32(in1[0]);
    const __m512i b = s2 ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, in2 + i)) : _mm512_set1_epi32(in2[0]);
    /* (x1 - zp1) * (x2 - zp2): |.| <= 256 * 256, exact in int32 */
    const __m512i prod = _mm512_mullo_epi32(_mm512_add_epi32(a, off1), _mm512_add_epi32(b, off2));
    rt_store_i8_x16(out + i, m, qat_rq16_apply(&ro, prod), zp, lo, hi);
  }
}

typedef void (*row_fn)(const rt_add_params *p, const int8_t *in1, int64_t s1, const int8_t *in2, int64_t s2,
                       int8_t *out, int64_t n);

/* The broadcast's rows (its innermost dimension, joined with the outer ones along which the
 * inputs go on as along it) through fn; -1 (nothing written) when the innermost strides are not
 * 0 or 1. */
static int bcast_rows(const rt_bcast *bc_in, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
                      int8_t *out, row_fn fn) {
  rt_bcast merged = *bc_in, *bc = &merged;
  const int64_t s1 = bc->s1[5], s2 = bc->s2[5];
  if (s1 < 0 || s1 > 1 || s2 < 0 || s2 > 1) return -1;
  /* an outer dimension along which each input either continues contiguously or stays (a
   * broadcast scalar along the whole row) joins the row */
  for (int d = 4; d >= 0 && bc->s1[d] == bc->dims[5] * s1 && bc->s2[d] == bc->dims[5] * s2 && (s1 || s2); d--) {
    bc->dims[5] *= bc->dims[d];
    bc->dims[d] = 1;
  }
  const int64_t n = bc->dims[5];
  int64_t o = 0;
  for (int64_t a0 = 0; a0 < bc->dims[0]; a0++)
    for (int64_t a1 = 0; a1 < bc->dims[1]; a1++)
      for (int64_t a2 = 0; a2 < bc->dims[2]; a2++)
        for (int64_t a3 = 0; a3 < bc->dims[3]; a3++)
          for (int64_t a4 = 0; a4 < bc->dims[4]; a4++, o += n) {
            const int64_t b1 = a0 * bc->s1[0] + a1 * bc->s1[1] + a2 * bc->s1[2] + a3 * bc->s1[3] + a4 * bc->s1[4];
            const int64_t b2 = a0 * bc->s2[0] + a1 * bc->s2[1] + a2 * bc->s2[2] + a3 * bc->s2[3] + a4 * bc->s2[4];
            fn(p, in1 + b1, s1, in2 + b2, s2, out + o, n);
          }
  return 0;
}

int rt_add_i8_avx512(const rt_bcast *bc, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out) {
  return bcast_rows(bc, p, in1, in2, out, add_row);
}

int rt_mul_i8_avx512(const rt_bcast *bc, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out) {
  return bcast_rows(bc, p, in1, in2, out, mul_row);
}

#else
void rt_dwconv2d_f32_avx512(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                            const float *w, const float *bias, float *out) {
  (void)g, (void)act_min, (void)act_max, (void)in, (void)w, (void)bias, (void)out;
}
void rt_dwconv2d_i8_avx512(const rt_conv_geom *g, const rt_requant *q, const int8_t *in,
                           const int8_t *w, const int32_t *bias, int8_t *out) {
  (void)g, (void)q, (void)in, (void)w, (void)bias, (void)out;
}
int rt_add_i8_avx512(const rt_bcast *bc, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out) {
  (void)bc, (void)p, (void)in1, (void)in2, (void)out;
  return -1;
}
int rt_mul_i8_avx512(const rt_bcast *bc, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out) {
  (void)bc, (void)p, (void)in1, (void)in2, (void)out;
  return -1;
}
#endif
