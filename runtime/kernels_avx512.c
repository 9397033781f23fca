/* AVX-512 kernels, bit-exact with the reference kernels that kernels_int8.c, kernels_quant.c and
 * kernels_float.c implement in plain C (and that the callers keep for other CPUs, QAT_SIMD=0 and
 * the shapes declined here):
 *   DEPTHWISE_CONV_2D: 16 output channels per register. int8 takes its taps in vertical pairs
 *     on vpdpwssd (below; int32 products of (x + offset) * w wrap as the reference's sums, and
 *     the order of integer additions does not change them), then MultiplyByQuantizedMultiplier
 *     per channel (rt_simd.h); float32 adds each channel's products in the reference's tap
 *     order. A depth multiplier m > 1 spreads input channel c over outputs c*m..c*m+m-1 with
 *     one permutation. Windows past the weights kept in registers are declined.
 *   ADD and MUL: the reference's MultiplyByQuantizedMultiplier (three for ADD, one for MUL) on
 *     16 lanes, along rows whose inputs are contiguous or broadcast (a stride of 0).
 *   MAX_POOL_2D: 32 int8 or 16 float channels a register.
 *   The dynamic-range ops' symmetric input quantization, and 256-entry byte tables (VBMI). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "runtime/rt_kernel.h"
#include "runtime/rt_simd.h"

#if defined(__x86_64__) || defined(__i386__)


/* Taps are taken two at a time with vpdpwssd, in vertical pairs: a register of 32 int16 holds,
 * for each of the 16 channels, (x + offset) at one input column in rows y and y + dil_h side by
 * side (one permutation interleaves the two rows' channels and, for a depth multiplier m > 1,
 * spreads input channel c over outputs c*m..c*m+m-1), against the taps (ky, kx) and (ky + 1, kx)
 * interleaved the same way. A row's pair registers are built once per input column and then
 * read by every output pixel whose window covers that column (three for a 3x3 stride-1 window)
 * instead of being rebuilt for each. An odd last row pairs with a zero weight. |x + offset| <=
 * 255 and |w| <= 128: each pair of products fits int32, and the accumulation wraps as the
 * reference's sums. A tap outside the image is (x + offset) = 0. */
#define DW_MAX_PAIRS 128 /* weight pairs kept in registers / on the stack; wider windows are declined */
#define DW_COLS 512      /* column pair registers of one chunk (32 KB of stack) */
#define DW_CHUNK 32      /* output pixels per chunk: bounds the columns rebuilt at chunk edges */

/* For the block of 16 output channels at c0 with depth multiplier dm: output lane l reads input
 * channel (c0 + l) / dm, lane (c0 + l) / dm - c0 / dm of the 16 input values loaded from c0 / dm. */
RT_AVX512 static inline __m512i spread16(int c0, int dm) {
  if (dm == 1) return _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  /* counted, not divided: 32 integer divisions here cost more than a 3x3 window's taps */
  int32_t idx[16];
  for (int l = 0, lane = 0, r = c0 % dm; l < 16; l++) {
    idx[l] = lane;
    if (++r == dm) r = 0, lane++;
  }
  return _mm512_loadu_si512((const void *)idx);
}

/* Taps (ky, kx) and (ky + 1, kx) (0 outside the window: ky may be -1) of the block's channels m
 * at c0, interleaved as words. */
RT_AVX512 static inline __m512i weight_pair(const rt_conv_geom *g, const int8_t *w, int c0, __mmask16 m, int ky,
                                            int kx) {
  const __m512i interleave = _mm512_loadu_si512((const void *)(const int16_t[32]){
      0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31});
  const int C = g->out_c;
  __m256i t[2];
  for (int h = 0; h < 2; h++)
    t[h] = ky + h >= 0 && ky + h < g->k_h
               ? _mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(m, w + (int64_t)((ky + h) * g->k_w + kx) * C + c0))
               : _mm256_setzero_si256();
  return _mm512_permutexvar_epi16(interleave, _mm512_inserti64x4(_mm512_castsi256_si512(t[0]), t[1], 1));
}

/* Taps (ky0 + i, kx), i = 0..3 (0 outside the window: ky0 may be -1), of the block's channels m
 * at c0, as the bytes of each channel's 32-bit lane (vpdpbusd's signed operand). */
RT_AVX512 static inline __m512i weight_quad(const rt_conv_geom *g, const int8_t *w, int c0, __mmask16 m, int ky0,
                                            int kx) {
  __m128i t[4];
  for (int i = 0; i < 4; i++)
    t[i] = ky0 + i >= 0 && ky0 + i < g->k_h ? _mm_maskz_loadu_epi8(m, w + (int64_t)((ky0 + i) * g->k_w + kx) * g->out_c + c0)
                                            : _mm_setzero_si128();
  return rt_quads16(t[0], t[1], t[2], t[3]);
}

/* One output pixel from the chunk's column pairs (col: its window's first pair, rp_n pairs of a
 * column read, cs pairs a column stored). Instantiated with constant shapes for the common
 * windows, so the loops unroll and the weights stay in registers. */
RT_AVX512 RT_FORCE_INLINE __m512i dw_pixel(const __m512i *col, int rp_n, int cs, int k_w, int dil_w, const __m512i *wp,
                                           __m512i acc, const int quads) {
  /* two accumulators in turn: vpdpwssd's latency, not its throughput, bounds one chain */
  __m512i acc2 = _mm512_setzero_si512();
  for (int rp = 0; rp < rp_n; rp++)
    for (int kx = 0; kx < k_w; kx++) {
      const int i = rp * k_w + kx;
      const __m512i z = col[kx * dil_w * cs + rp];
      if (quads && (i & 1)) acc2 = _mm512_dpbusd_epi32(acc2, z, wp[i]);
      else if (quads) acc = _mm512_dpbusd_epi32(acc, z, wp[i]);
      else if (i & 1) acc2 = _mm512_dpwssd_epi32(acc2, z, wp[i]);
      else acc = _mm512_dpwssd_epi32(acc, z, wp[i]);
    }
  return _mm512_add_epi32(acc, acc2);
}

RT_AVX512 static void prepare_blocks(const int32_t *mult, const int *shift, int64_t n, int32_t zp, int64_t bound,
                                     rt_rq16 *blocks) {
  for (int64_t c0 = 0; c0 < n; c0 += 16) {
    const __mmask16 m = rt_mask16(n - c0);
    rt_rq16_prepare(_mm512_maskz_loadu_epi32(m, mult + c0), _mm512_maskz_loadu_epi32(m, shift + c0), m, zp, bound,
                    &blocks[c0 / 16]);
  }
}

/* The chunk's n output pixels of one output row from its column groups (pairs of int16 for
 * vpdpwssd, or with quads quads of bytes for vpdpbusd; cs a column, the row's first at cols),
 * with the weights wp (form: the block's requantization; both constants where inlined). */
RT_AVX512 RT_FORCE_INLINE void dw_pixels(const rt_conv_geom *g, const __m512i *cols, int n, int rp_n, int cs,
                                         const __m512i *wp, __m512i bv, const rt_rq16 *rq, __m512i zp, __m512i lo,
                                         __m512i hi, __mmask16 m, int8_t *o, const int form, const int quads) {
  for (int p = 0; p < n; p++, o += g->out_c) {
    const __m512i *col = cols + (int64_t)p * g->stride_w * cs;
    __m512i acc;
    if (rp_n == 2 && cs == 2 && g->k_w == 3 && g->dil_w == 1) {
      acc = dw_pixel(col, 2, 2, 3, 1, wp, bv, quads);
    } else if (rp_n == 2 && cs == 3 && g->k_w == 3 && g->dil_w == 1) {
      acc = dw_pixel(col, 2, 3, 3, 1, wp, bv, quads);
    } else if (rp_n == 1 && cs == 1 && g->k_w == 3 && g->dil_w == 1) {
      acc = dw_pixel(col, 1, 1, 3, 1, wp, bv, quads);
    } else if (rp_n == 3 && cs == 3 && g->k_w == 5 && g->dil_w == 1) {
      acc = dw_pixel(col, 3, 3, 5, 1, wp, bv, quads);
    } else if (rp_n == 3 && cs == 4 && g->k_w == 5 && g->dil_w == 1) {
      acc = dw_pixel(col, 3, 4, 5, 1, wp, bv, quads);
    } else if (rp_n == 2 && cs == 2 && g->k_w == 5 && g->dil_w == 1) {
      acc = dw_pixel(col, 2, 2, 5, 1, wp, bv, quads);
    } else {
      acc = dw_pixel(col, rp_n, cs, g->k_w, g->dil_w, wp, bv, quads);
    }
    rt_store_i8_x16z(o, m, rt_rq16_out(rq, acc, zp, form), lo, hi);
  }
}

RT_AVX512 static void dw_pixels_any(const rt_conv_geom *g, const __m512i *cols, int n, int rp_n, int cs,
                                    const __m512i *wp, __m512i bv, const rt_rq16 *rq, __m512i zp, __m512i lo,
                                    __m512i hi, __mmask16 m, int8_t *o, int quads) {
#define DW_FORM(FORM)                                                                                     \
  if (quads) dw_pixels(g, cols, n, rp_n, cs, wp, bv, rq, zp, lo, hi, m, o, FORM, 1);                      \
  else dw_pixels(g, cols, n, rp_n, cs, wp, bv, rq, zp, lo, hi, m, o, FORM, 0)
  switch (rt_rq16_form(rq)) {
  case RT_RQ_FAST: DW_FORM(RT_RQ_FAST); break;
  case RT_RQ_RIGHT: DW_FORM(RT_RQ_RIGHT); break;
  default: DW_FORM(RT_RQ_FULL); break;
  }
#undef DW_FORM
}

/* Output rows in pairs (dw_i8_block's pairing): a stride-1 undilated window of odd height k_h,
 * or a stride-2 one. */
enum { DW_SINGLE, DW_PAIRS_S1, DW_PAIRS_S2, DW_QUADS_S1 };

/* The block of 16 output channels at c0 over output row units u0..u1 (the OpenMP loop stays in a
 * plain function: clang does not give an outlined parallel body its function's target
 * attribute), in chunks of `chunk` pixels; the block's weight pairs are built once for all its
 * rows. A unit is one output row, or with pairing two, whose windows share input rows:
 *   DW_PAIRS_S1: they read k_h + 1 input rows, the same (k_h + 1) / 2 pairs one row reads (its
 *     last pair half zero), the first row taking taps (2j, 2j + 1) from pair j, the second
 *     (2j - 1, 2j) (weights wq), so the pairs' columns, half of a 3x3 window's work, are built
 *     once for both;
 *   DW_PAIRS_S2: the second window starts two rows down, one pair later: (k_h + 3) / 2 pairs
 *     serve both with the same weights, three instead of four for a 3x3 window;
 *   DW_QUADS_S1 (depth multiplier 1): as DW_PAIRS_S1 with the rows in quads of bytes,
 *     (x + 128) against the taps (4j .. 4j + 3) for the first row and (4j - 1 .. 4j + 2) for the
 *     second on vpdpbusd: a 3x3 window's pixel one dot product a column instead of two, and a
 *     column's quad four rows' bytes interleaved, without widening. */
RT_AVX512 static void dw_i8_block(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                                  const int32_t *bias, int8_t *out, int c0, int64_t u0, int64_t u1, int pairing,
                                  int chunk) {
  const int quads = pairing == DW_QUADS_S1;
  const int C = g->out_c, dm = g->depth_multiplier, rows_a = quads ? 4 : 2;
  /* groups of rows (pairs or quads) an output row reads a column, and built a column */
  const int rp_n = quads ? (g->k_h + 4) / 4 : (g->k_h + 1) / 2, npairs = rp_n * g->k_w;
  const int cs = rp_n + (pairing == DW_PAIRS_S2);
  const int span = g->dil_w * (g->k_w - 1) + 1;
  const __m256i off = _mm256_set1_epi16((int16_t)q->in_offset);
  const __m512i zp = _mm512_set1_epi32(q->out_zp), lo = _mm512_set1_epi32(q->act_min),
                hi = _mm512_set1_epi32(q->act_max);
  const __mmask16 m = rt_mask16(C - c0);
  const int ic0 = c0 / dm;
  const __mmask16 min = rt_mask16(g->in_c - ic0);
  /* spread16's lanes as words, each twice: from the upper row (words 0..15) and, + 16, from the
   * lower (words 16..31) */
  const __m512i sp = spread16(c0, dm);
  const __m512i pick = _mm512_or_si512(sp, _mm512_slli_epi32(_mm512_add_epi32(sp, _mm512_set1_epi32(16)), 16));
  __m512i cols[DW_COLS], wp[DW_MAX_PAIRS], wq[DW_MAX_PAIRS];
  for (int i = 0; i < npairs; i++)
    wp[i] = quads ? weight_quad(g, w, c0, m, 4 * (i / g->k_w), i % g->k_w)
                  : weight_pair(g, w, c0, m, 2 * (i / g->k_w), i % g->k_w);
  if (pairing == DW_PAIRS_S1 || quads)
    for (int i = 0; i < npairs; i++)
      wq[i] = quads ? weight_quad(g, w, c0, m, 4 * (i / g->k_w) - 1, i % g->k_w)
                    : weight_pair(g, w, c0, m, 2 * (i / g->k_w) - 1, i % g->k_w);
  __m512i bv = bias ? _mm512_maskz_loadu_epi32(m, bias + c0) : _mm512_setzero_si512();
  /* depth multiplier 1: the input offset moves into the bias, + offset * (the sum of the block's
   * taps), and the padding reads the input zero point, so that each padded tap's (x + offset) w
   * is still 0; a column pair is then two rows' bytes interleaved and widened, without adding
   * the offset or permuting words. Quads take x + 128 (x ^ 0x80) as vpdpbusd's unsigned bytes,
   * so the bias takes (offset - 128) * the sum instead. The sums wrap as the reference's. */
  const __m128i pad = _mm_set1_epi8((char)-q->in_offset);
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  if (dm == 1) {
    __m512i wsum = _mm512_setzero_si512();
    for (int t = 0; t < g->k_h * g->k_w; t++)
      wsum = _mm512_add_epi32(wsum, _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, w + (int64_t)t * C + c0)));
    bv = _mm512_add_epi32(bv, _mm512_mullo_epi32(wsum, _mm512_set1_epi32(q->in_offset - (quads ? 128 : 0))));
  }
  rt_rq16 local;
  const rt_rq16 *rq = q->rq16 ? (const rt_rq16 *)q->rq16 + c0 / 16 : &local;
  if (!q->rq16)
    rt_rq16_prepare(_mm512_maskz_loadu_epi32(m, q->mult + c0), _mm512_maskz_loadu_epi32(m, q->shift + c0), m, 0, 0, &local);
  const int64_t per_image = pairing ? (g->out_h + 1) / 2 : g->out_h;
  for (int64_t u = u0; u < u1; u++) {
    const int64_t b = u / per_image, oy = (pairing ? 2 : 1) * (u % per_image), y0 = oy * g->stride_h - g->pad_h;
    const int two = pairing && oy + 1 < g->out_h;
    /* each input row of the window(s), or NULL where it lies in the padding */
    const int8_t *rows[4 * DW_COLS];
    const int used = g->k_h + (two ? g->stride_h : 0);
    for (int ky = 0; ky < rows_a * cs; ky++) {
      const int64_t y = y0 + (int64_t)g->dil_h * ky;
      rows[ky] = ky < used && y >= 0 && y < g->in_h ? in + (b * g->in_h + y) * g->in_w * g->in_c : NULL;
    }
    for (int64_t ox0 = 0; ox0 < g->out_w; ox0 += chunk) {
      const int n = (int)(g->out_w - ox0 < chunk ? g->out_w - ox0 : chunk);
      const int64_t xs = ox0 * g->stride_w - g->pad_w;
      const int ncols = (n - 1) * g->stride_w + span;
      for (int c = 0; c < ncols && quads; c++) {
        const int64_t x = xs + c;
        const int inside = x >= 0 && x < g->in_w;
        for (int rq4 = 0; rq4 < cs; rq4++) {
          __m128i v[4];
          for (int h = 0; h < 4; h++) {
            const int8_t *r = rows[4 * rq4 + h];
            v[h] = inside && r ? _mm_maskz_loadu_epi8(min, r + x * g->in_c + ic0) : pad;
          }
          cols[c * cs + rq4] = _mm512_xor_si512(rt_quads16(v[0], v[1], v[2], v[3]), flip);
        }
      }
      for (int c = 0; c < ncols && dm == 1 && !quads; c++) {
        const int64_t x = xs + c;
        const int inside = x >= 0 && x < g->in_w;
        for (int rp = 0; rp < cs; rp++) {
          const int8_t *r0 = rows[2 * rp], *r1 = rows[2 * rp + 1];
          const __m128i v0 = inside && r0 ? _mm_maskz_loadu_epi8(min, r0 + x * g->in_c + ic0) : pad;
          const __m128i v1 = inside && r1 ? _mm_maskz_loadu_epi8(min, r1 + x * g->in_c + ic0) : pad;
          cols[c * cs + rp] = _mm512_cvtepi8_epi16(
              _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(v0, v1)), _mm_unpackhi_epi8(v0, v1), 1));
        }
      }
      for (int c = 0; c < ncols && dm > 1; c++) {
        const int64_t x = xs + c;
        const int inside = x >= 0 && x < g->in_w;
        for (int rp = 0; rp < cs; rp++) {
          __m256i v[2];
          for (int h = 0; h < 2; h++) {
            const int8_t *r = rows[2 * rp + h];
            v[h] = inside && r ? _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(min, r + x * g->in_c + ic0)), off)
                               : _mm256_setzero_si256();
          }
          cols[c * cs + rp] = _mm512_permutexvar_epi16(pick, _mm512_inserti64x4(_mm512_castsi256_si512(v[0]), v[1], 1));
        }
      }
      int8_t *o = out + ((b * g->out_h + oy) * g->out_w + ox0) * C + c0;
      dw_pixels_any(g, cols, n, rp_n, cs, wp, bv, rq, zp, lo, hi, m, o, quads);
      if (two)
        dw_pixels_any(g, cols + (pairing == DW_PAIRS_S2), n, rp_n, cs, pairing == DW_PAIRS_S2 ? wp : wq, bv, rq, zp, lo,
                      hi, m, o + (int64_t)g->out_w * C, quads);
    }
  }
}

/* for at most 8 channels, a second block with channels 0..7 in both halves (igemm.c's
 * mk_vnni_pairs) */
RT_AVX512 static void prepare_twice(const int32_t *mult, const int *shift, int64_t n, int32_t zp, int64_t bound,
                                    rt_rq16 *block) {
  const __m512i twice = _mm512_set_epi32(7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0);
  const __mmask16 m = rt_mask16(n);
  rt_rq16_prepare(_mm512_permutexvar_epi32(twice, _mm512_maskz_loadu_epi32(m, mult)),
                  _mm512_permutexvar_epi32(twice, _mm512_maskz_loadu_epi32(m, shift)), (__mmask16)(m | m << 8), zp,
                  bound, block);
}

void *rt_rq16_blocks(const int32_t *mult, const int *shift, int64_t n, int32_t zp, int64_t bound) {
  if (!rt_simd_avx512() || n < 1) return NULL;
  const int64_t nb = (n + 15) / 16 + (n <= 8);
  rt_rq16 *blocks = aligned_alloc(64, (size_t)nb * sizeof *blocks);
  if (!blocks) return NULL; /* the kernels prepare each block where used */
  prepare_blocks(mult, shift, n, zp, bound, blocks);
  if (n <= 8) prepare_twice(mult, shift, n, zp, bound, blocks + 1);
  return blocks;
}

/* The widest chunk whose column pairs fit DW_COLS, at most DW_CHUNK; 0 when not even one
 * pixel's window fits, or its weight pairs pass DW_MAX_PAIRS (the caller's plain kernel runs). */
static int dw_chunk(const rt_conv_geom *g, int pairing) {
  const int rp_n = pairing == DW_QUADS_S1 ? (g->k_h + 4) / 4 : (g->k_h + 1) / 2, cs = rp_n + (pairing == DW_PAIRS_S2),
            span = g->dil_w * (g->k_w - 1) + 1;
  if ((int64_t)rp_n * g->k_w > DW_MAX_PAIRS || (int64_t)span * cs > DW_COLS) return 0;
  const int n = (DW_COLS / cs - span) / g->stride_w + 1;
  return n < DW_CHUNK ? n : DW_CHUNK;
}

int rt_dwconv2d_i8_avx512(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                          const int32_t *bias, int8_t *out) {
  const int pairing = g->dil_h != 1 || g->k_h % 2 == 0            ? DW_SINGLE
                      : g->stride_h == 1 && g->depth_multiplier == 1 ? DW_QUADS_S1
                      : g->stride_h == 1                             ? DW_PAIRS_S1
                      : g->stride_h == 2                             ? DW_PAIRS_S2
                                                                     : DW_SINGLE;
  const int chunk = dw_chunk(g, pairing);
  if (chunk < 1) return -1;
  const int64_t units = (int64_t)g->batches * (pairing ? (g->out_h + 1) / 2 : g->out_h);
  const int64_t macs = (int64_t)g->batches * g->out_h * g->out_w * g->out_c * g->k_h * g->k_w;
  const int blocks = (g->out_c + 15) / 16;
  /* tasks of one block over a range of row units: every block's rows in one task where the
   * blocks alone give each thread two, else the rows split so that they do */
  /* from 2^15 multiply-adds, half RT_PARALLEL_MACS: the depthwise kernel does a fifth of the
   * GEMM's multiply-adds a second, so 2^15 is 2-3 us of work (MobileNetV2's 6x6 and 12x12
   * depthwise layers 2.8 / 3.7 / 5.3 -> 2.5 / 2.7 / 3.6 us at two threads) */
  const int threads = macs > (1 << 15) && !omp_in_parallel() ? omp_get_max_threads() : 1;
  int64_t groups = threads == 1 || blocks >= 2 * threads ? 1 : (2 * threads + blocks - 1) / blocks;
  if (groups > units) groups = units;
  RT_FOR(threads > 1, t, blocks * groups, {
    const int64_t gi = t % groups;
    dw_i8_block(g, q, in, w, bias, out, (int)(t / groups) * 16, units * gi / groups, units * (gi + 1) / groups, pairing,
                chunk);
  });
  return 0;
}

/* float32: each channel's products rounded and added in the reference's tap order (ky, kx),
 * taps outside the image skipped as there, then + bias (or + 0.0f) and the clamp (F32_DONE).
 * A block's weights are loaded once per row; a pixel whose window lies inside the image's
 * columns takes its taps without a test (rows outside it are skipped for the whole row). */
#define DW_F32_TAPS 128 /* weight registers kept per block; wider windows are declined */

/* One output pixel (edge: some of its columns may lie outside the image). Instantiated with
 * constant shapes and edge = 0 for interior 3x3 pixels, so the loops unroll. */
RT_AVX512 RT_FORCE_INLINE __m512 dw_f32_pixel(const float *const *rows, int k_h, int k_w, int dil_w, int64_t in_c,
                                              int64_t in_w, int64_t x0, int edge, __mmask16 min, int dm,
                                              __m512i spread, const __m512 *wv) {
  __m512 acc = _mm512_setzero_ps();
  for (int ky = 0; ky < k_h; ky++) {
    if (!rows[ky]) continue;
    for (int kx = 0; kx < k_w; kx++) {
      const int64_t x = x0 + (int64_t)dil_w * kx;
      if (edge && (x < 0 || x >= in_w)) continue;
      __m512 xv = _mm512_maskz_loadu_ps(min, rows[ky] + x * in_c);
      if (dm > 1) xv = _mm512_permutexvar_ps(spread, xv);
      acc = _mm512_add_ps(acc, _mm512_mul_ps(xv, wv[ky * k_w + kx]));
    }
  }
  return acc;
}

RT_AVX512 static void dw_f32_row(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                                 const float *w, const float *bias, float *out, int64_t row) {
  const int C = g->out_c, dm = g->depth_multiplier, taps = g->k_h * g->k_w;
  const __m512 lo = _mm512_set1_ps(act_min), hi = _mm512_set1_ps(act_max);
  const int64_t b = row / g->out_h, oy = row % g->out_h, y0 = oy * g->stride_h - g->pad_h;
  const int64_t span = (int64_t)g->dil_w * (g->k_w - 1);
  const int k33 = g->k_h == 3 && g->k_w == 3 && g->dil_w == 1;
  const float *rows[DW_F32_TAPS];
  __m512 wv[DW_F32_TAPS];
  for (int c0 = 0; c0 < C; c0 += 16) {
    const __mmask16 m = rt_mask16(C - c0);
    const int ic0 = c0 / dm;
    const __mmask16 min = rt_mask16(g->in_c - ic0);
    const __m512i spread = dm > 1 ? spread16(c0, dm) : _mm512_setzero_si512();
    for (int ky = 0; ky < g->k_h; ky++) {
      const int64_t y = y0 + (int64_t)g->dil_h * ky;
      rows[ky] = y >= 0 && y < g->in_h ? in + (b * g->in_h + y) * g->in_w * g->in_c + ic0 : NULL;
    }
    for (int t = 0; t < taps; t++) wv[t] = _mm512_maskz_loadu_ps(m, w + (int64_t)t * C + c0);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + c0) : _mm512_setzero_ps();
    for (int64_t ox = 0; ox < g->out_w; ox++) {
      const int64_t x0 = ox * g->stride_w - g->pad_w;
      const __m512 acc =
          x0 < 0 || x0 + span >= g->in_w
              ? dw_f32_pixel(rows, g->k_h, g->k_w, g->dil_w, g->in_c, g->in_w, x0, 1, min, dm, spread, wv)
          : k33 ? dw_f32_pixel(rows, 3, 3, 1, g->in_c, g->in_w, x0, 0, min, dm, spread, wv)
                : dw_f32_pixel(rows, g->k_h, g->k_w, g->dil_w, g->in_c, g->in_w, x0, 0, min, dm, spread, wv);
      _mm512_mask_storeu_ps(out + (row * g->out_w + ox) * C + c0, m, rt_finish_f32_x16(acc, bv, lo, hi));
    }
  }
}

int rt_dwconv2d_f32_avx512(const rt_conv_geom *g, float act_min, float act_max, const float *in, const float *w,
                           const float *bias, float *out) {
  if (g->k_h * g->k_w > DW_F32_TAPS) return -1;
  const int64_t rows = (int64_t)g->batches * g->out_h;
  RT_FOR(rows * g->out_w * g->out_c * g->k_h * g->k_w > RT_PARALLEL_MACS, row, rows, dw_f32_row(g, act_min, act_max, in, w, bias, out, row));
  return 0;
}

/* rt_symmetric_quantize on 16 lanes: one pass for the range, one for round(x * 127 / range)
 * (roundf's ties away from zero: the truncation plus a step where |fraction| >= 1/2, both exact
 * in float), an unrepresentable result (a NaN from inf * 0) as cvttss2si gives it, INT32_MIN,
 * clamped to -127 as the scalar one does. An input holding a NaN is declined (-1): the scalar
 * scan's order decides which value its maximum keeps. */
RT_AVX512 int rt_symmetric_quantize_avx512(const float *x, int64_t n, int8_t *q, float *scale) {
  __m512 mn = _mm512_set1_ps(INFINITY), mx = _mm512_set1_ps(-INFINITY);
  __mmask16 nan = 0;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = rt_mask16(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    nan |= _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q);
    mn = _mm512_mask_min_ps(mn, m, mn, v);
    mx = _mm512_mask_max_ps(mx, m, mx, v);
  }
  if (nan || n < 1) return -1;
  const float amn = fabsf(_mm512_reduce_min_ps(mn)), amx = fabsf(_mm512_reduce_max_ps(mx));
  const float range = amn < amx ? amx : amn;
  if (range == 0.0f) {
    memset(q, 0, (size_t)n);
    *scale = 1.0f;
    return 0;
  }
  const __m512 inv = _mm512_set1_ps(127 / range), half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = rt_mask16(n - i);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv);
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), half, _CMP_GE_OQ);
    const __m512 r = _mm512_mask_add_ps(t, up, t, _mm512_or_ps(one, _mm512_and_ps(v, _mm512_set1_ps(-0.0f))));
    const __m512i k = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvttps_epi32(r), lo), hi);
    _mm_mask_storeu_epi8(q + i, m, _mm512_cvtepi32_epi8(k));
  }
  *scale = range / 127;
  return 0;
}

/* A 256-entry byte table (LOGISTIC, TANH, HARD_SWISH int8) on 64 bytes at a time: two
 * 128-entry permutes (vpermi2b, AVX-512 VBMI) on the index's low 7 bits, picked by its top bit.
 * The caller checks VBMI (qat_simd_vbmi). */
__attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vbmi"))) void rt_lut_i8_vbmi(int64_t n, const int8_t lut[256],
                                                                                     const int8_t *in, int8_t *out) {
  const __m512i t0 = _mm512_loadu_si512((const void *)lut), t1 = _mm512_loadu_si512((const void *)(lut + 64)),
                t2 = _mm512_loadu_si512((const void *)(lut + 128)), t3 = _mm512_loadu_si512((const void *)(lut + 192));
  for (int64_t i = 0; i < n; i += 64) {
    const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - i)) - 1;
    const __m512i x = _mm512_maskz_loadu_epi8(m, in + i);
    const __m512i low = _mm512_permutex2var_epi8(t0, x, t1), high = _mm512_permutex2var_epi8(t2, x, t3);
    _mm512_mask_storeu_epi8(out + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), low, high));
  }
}

/* An ADD input's rescale in 32-bit lanes (rt_rescale, kernels_quant.c) */
typedef struct rescale16 {
  __m512i mh, ml, k, neg;
  __m128i s;
} rescale16;

RT_AVX512 static int rescale_prepare(int32_t m, int shift, int ls, rescale16 *r) {
  rt_rescale p;
  if (rt_add_rescale_params(m, shift, ls, &p)) return -1;
  r->mh = _mm512_set1_epi32(p.mh), r->ml = _mm512_set1_epi32(p.ml), r->k = _mm512_set1_epi32(p.k);
  r->neg = _mm512_set1_epi32(p.neg), r->s = _mm_cvtsi32_si128(p.s);
  return 0;
}

RT_AVX512 static inline __m512i rescale_apply(const rescale16 *r, __m512i x) {
  __m512i t = _mm512_add_epi32(_mm512_mullo_epi32(x, r->ml), r->k);
  t = _mm512_mask_sub_epi32(t, _mm512_movepi32_mask(x), t, r->neg);
  return _mm512_add_epi32(_mm512_sra_epi32(t, r->s), _mm512_mullo_epi32(x, r->mh));
}

RT_AVX512 static int rescale_rows(int32_t m, int shift, int ls, const int32_t *x, int64_t n, int32_t *out) {
  rescale16 r;
  if (rescale_prepare(m, shift, ls, &r)) return -1;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = rt_mask16(n - i);
    _mm512_mask_storeu_epi32(out + i, k, rescale_apply(&r, _mm512_maskz_loadu_epi32(k, x + i)));
  }
  return 0;
}

int rt_add_rescale_avx512(int32_t m, int shift, int ls, const int32_t *x, int64_t n, int32_t *out) {
  return rt_simd_avx512() ? rescale_rows(m, shift, ls, x, n, out) : -1;
}

/* gemmlowp's SaturatingRoundingDoublingHighMul of two vectors: floor((a b + 2^30) / 2^31) in
 * 64-bit halves (fixedpoint_avx512.h). Without its one saturation (INT32_MIN * INT32_MIN): the
 * reciprocal's operands below are positive or a small difference, never both INT32_MIN. */
RT_AVX512 static inline __m512i srdhm16(__m512i a, __m512i b) {
  const __m512i k = _mm512_set1_epi64(INT64_C(1) << 30);
  const __m512i even = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(a, b), k), 31);
  const __m512i odd = _mm512_srai_epi64(
      _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32)), k), 31);
  return _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

/* SaturatingRoundingMultiplyByPOT<e> for e > 0 */
RT_AVX512 static inline __m512i sat_shift_left16(__m512i x, int e) {
  const __m512i th = _mm512_set1_epi32((int32_t)((INT64_C(1) << (31 - e)) - 1));
  __m512i r = _mm512_sll_epi32(x, _mm_cvtsi32_si128(e));
  r = _mm512_mask_mov_epi32(r, _mm512_cmpgt_epi32_mask(x, th), _mm512_set1_epi32(INT32_MAX));
  return _mm512_mask_mov_epi32(r, _mm512_cmplt_epi32_mask(x, _mm512_sub_epi32(_mm512_setzero_si512(), th)),
                               _mm512_set1_epi32(INT32_MIN));
}

/* rt_fp_one_over_one_plus_x on 16 lanes, each a in [0, 2^31) (RoundingHalfSum(a, INT32_MAX) is
 * then (a + 2^31) / 2, unsigned); the same Newton-Raphson steps */
RT_AVX512 static void one_over_one_plus_x16(const int32_t *a, int32_t *out) {
  const __m512i av = _mm512_loadu_si512(a);
  const __m512i half_den = _mm512_srli_epi32(_mm512_add_epi32(av, _mm512_set1_epi32(INT32_MIN)), 1);
  const __m512i one_q2 = _mm512_set1_epi32(1 << 29);
  __m512i x = _mm512_add_epi32(_mm512_set1_epi32(1515870810), srdhm16(half_den, _mm512_set1_epi32(-1010580540)));
  for (int i = 0; i < 3; i++) {
    const __m512i one_minus = _mm512_sub_epi32(one_q2, srdhm16(half_den, x));
    x = _mm512_add_epi32(x, sat_shift_left16(srdhm16(x, one_minus), 2));
  }
  _mm512_storeu_si512(out, sat_shift_left16(x, 1));
}

int rt_fp_one_over_one_plus_x_x16(const int32_t a[16], int32_t out[16]) {
  if (!rt_simd_avx512()) return -1;
  for (int l = 0; l < 16; l++)
    if (a[l] < 0) return -1;
  one_over_one_plus_x16(a, out);
  return 0;
}

/* MEAN over [N, H, W, C]'s pixels (global average pooling), int8: acc[c] += x over hw pixels
 * at a stride of C, 32 channels a register in int16 partial sums (255 pixels of |x| <= 128 fit),
 * widened into the int32 sums every 255 pixels; the plain loop loaded and stored each channel's
 * int32 sum for every pixel. Integer sums do not depend on the order. */
RT_AVX512 static void sum_pixels_i8(const int8_t *in, int64_t hw, int64_t C, uint32_t *acc) {
  for (int64_t c0 = 0; c0 < C; c0 += 32) {
    const __mmask32 m = C - c0 >= 32 ? ~(__mmask32)0 : ((__mmask32)1 << (C - c0)) - 1;
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    for (int64_t p0 = 0; p0 < hw; p0 += 255) {
      const int64_t p1 = hw - p0 < 255 ? hw : p0 + 255;
      __m512i part = _mm512_setzero_si512();
      for (int64_t px = p0; px < p1; px++)
        part = _mm512_add_epi16(part, _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, in + px * C + c0)));
      lo = _mm512_add_epi32(lo, _mm512_cvtepi16_epi32(_mm512_castsi512_si256(part)));
      hi = _mm512_add_epi32(hi, _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(part, 1)));
    }
    const __mmask16 mlo = (__mmask16)m, mhi = (__mmask16)(m >> 16);
    _mm512_mask_storeu_epi32(acc + c0, mlo, _mm512_add_epi32(_mm512_maskz_loadu_epi32(mlo, acc + c0), lo));
    _mm512_mask_storeu_epi32(acc + c0 + 16, mhi, _mm512_add_epi32(_mm512_maskz_loadu_epi32(mhi, acc + c0 + 16), hi));
  }
}

int rt_sum_pixels_i8_avx512(const int8_t *in, int64_t hw, int64_t C, uint32_t *acc) {
  if (!rt_simd_avx512()) return -1;
  sum_pixels_i8(in, hw, C, acc);
  return 0;
}

/* MEAN's outputs: MultiplyByQuantizedMultiplier(sum - zp n, mult, shift) + out_zp, clamped to
 * int8; the subtraction wraps modulo 2^32 as the reference's int64 value cast to int32 */
RT_AVX512 static void mean_out_i8(const uint32_t *sums, int64_t n, uint32_t zp_n, int32_t mult, int shift,
                                  int32_t out_zp, int8_t *out) {
  const qat_rq16 rq = qat_rq16_prepare(_mm512_set1_epi32(mult), _mm512_set1_epi32(shift));
  const __m512i sub = _mm512_set1_epi32((int32_t)zp_n), zp = _mm512_set1_epi32(out_zp),
                lo = _mm512_set1_epi32(INT8_MIN), hi = _mm512_set1_epi32(INT8_MAX);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = rt_mask16(n - i);
    const __m512i s = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, sums + i), sub);
    rt_store_i8_x16(out + i, m, qat_rq16_run(&rq, s), zp, lo, hi);
  }
}

int rt_mean_out_i8_avx512(const uint32_t *sums, int64_t n, uint32_t zp_n, int32_t mult, int shift, int32_t out_zp,
                          int8_t *out) {
  if (!rt_simd_avx512()) return -1;
  mean_out_i8(sums, n, zp_n, mult, shift, out_zp, out);
  return 0;
}

/* The rows of w (rt_rows), 16 lanes at a time: ADD with both input rescales in 32-bit lanes
 * (ROWS_ADD32, rescale16) or in 64-bit halves (ROWS_ADD64), or MUL's product (ROWS_MUL); then the
 * output's MultiplyByQuantizedMultiplier. kind is a constant where inlined. */
enum { ROWS_ADD32, ROWS_ADD64, ROWS_MUL };

RT_AVX512 RT_FORCE_INLINE void rows16(const rt_add_params *p, const rt_rows *w, const int kind, const rescale16 *q1,
                                      const rescale16 *q2, const rt_rq16 *ro, const int form) {
  const __m512i off1 = _mm512_set1_epi32(p->in1_offset), off2 = _mm512_set1_epi32(p->in2_offset);
  const __m512i zp = _mm512_set1_epi32(p->out_zp), lo = _mm512_set1_epi32(p->act_min),
                hi = _mm512_set1_epi32(p->act_max);
  const __m128i lsh = _mm_cvtsi32_si128(p->left_shift);
  const qat_rq16 r1 = qat_rq16_prepare(_mm512_set1_epi32(p->m1), _mm512_set1_epi32(p->s1)),
                 r2 = qat_rq16_prepare(_mm512_set1_epi32(p->m2), _mm512_set1_epi32(p->s2));
  /* the loop is unswitched on this */
  const int right_in = r1.right_only && r2.right_only;
  const int64_t n = w->n, s1 = w->s1, s2 = w->s2;
  for (int64_t r = 0; r < w->rows; r++) {
    const int8_t *in1 = w->in1 + r * w->r1, *in2 = w->in2 + r * w->r2;
    int8_t *out = w->out + r * n;
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = rt_mask16(n - i);
      const __m512i a = s1 ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, in1 + i)) : _mm512_set1_epi32(in1[0]);
      const __m512i b = s2 ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, in2 + i)) : _mm512_set1_epi32(in2[0]);
      const __m512i x1 = _mm512_add_epi32(a, off1), x2 = _mm512_add_epi32(b, off2);
      __m512i v;
      if (kind == ROWS_MUL) { /* (x1 - zp1) * (x2 - zp2): |.| <= 256 * 256, exact in int32 */
        v = _mm512_mullo_epi32(x1, x2);
      } else if (kind == ROWS_ADD32) {
        v = _mm512_add_epi32(rescale_apply(q1, x1), rescale_apply(q2, x2));
      } else { /* |(offset + x) << left_shift| < 2^31 (kernels_quant.c's add_one) */
        const __m512i l1 = _mm512_sll_epi32(x1, lsh), l2 = _mm512_sll_epi32(x2, lsh);
        v = right_in ? _mm512_add_epi32(qat_rq16_apply_right(&r1, l1), qat_rq16_apply_right(&r2, l2))
                     : _mm512_add_epi32(qat_rq16_apply(&r1, l1), qat_rq16_apply(&r2, l2));
      }
      rt_store_i8_x16z(out + i, m, rt_rq16_out(ro, v, zp, form), lo, hi);
    }
  }
}

/* The output's requantization: in rt_rq16's fast form where the sums are bounded, |v| <= 255^2
 * for MUL's product, and for ADD each rescaled input at most 255 2^(left_shift + its own left
 * shift) + 1 */
RT_AVX512 static void prepare_out(const rt_add_params *p, int mul, rt_rq16 *ro) {
  int64_t bound = 255 * 255;
  if (!mul) {
    const int s1 = p->s1 > 0 ? p->s1 : 0, s2 = p->s2 > 0 ? p->s2 : 0;
    bound = p->left_shift + s1 > 30 || p->left_shift + s2 > 30
                ? 0
                : ((int64_t)255 << (p->left_shift + s1)) + ((int64_t)255 << (p->left_shift + s2)) + 2;
  }
  rt_rq16_prepare(_mm512_set1_epi32(p->mo), _mm512_set1_epi32(p->so), 0xffff, p->out_zp,
                  bound < ((int64_t)1 << 31) ? bound : 0, ro);
}

#define ROWS16_FORMS(kind, q1, q2)                                                    \
  switch (rt_rq16_form(&ro)) {                                                         \
  case RT_RQ_FAST: rows16(p, w, kind, q1, q2, &ro, RT_RQ_FAST); break;                 \
  case RT_RQ_RIGHT: rows16(p, w, kind, q1, q2, &ro, RT_RQ_RIGHT); break;               \
  default: rows16(p, w, kind, q1, q2, &ro, RT_RQ_FULL); break;                         \
  }

RT_AVX512 static void add_row(const rt_add_params *p, const rt_rows *w) {
  rescale16 q1, q2;
  rt_rq16 ro;
  prepare_out(p, 0, &ro);
  if (!rescale_prepare(p->m1, p->s1, p->left_shift, &q1) && !rescale_prepare(p->m2, p->s2, p->left_shift, &q2)) {
    ROWS16_FORMS(ROWS_ADD32, &q1, &q2);
  } else {
    ROWS16_FORMS(ROWS_ADD64, NULL, NULL);
  }
}

RT_AVX512 static void mul_row(const rt_add_params *p, const rt_rows *w) {
  rt_rq16 ro;
  prepare_out(p, 1, &ro);
  ROWS16_FORMS(ROWS_MUL, NULL, NULL);
}
#undef ROWS16_FORMS

int rt_add_i8_avx512(const rt_bcast *bc, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out) {
  return rt_bcast_rows(bc, p, in1, in2, out, add_row);
}

int rt_mul_i8_avx512(const rt_bcast *bc, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out) {
  return rt_bcast_rows(bc, p, in1, in2, out, mul_row);
}

/* MAX_POOL_2D int8: each output pixel's window, 32 channels a register, the max in a register
 * instead of reloaded from the output for each tap (a store-forwarding chain per tap was most
 * of the plain loop's time), then the clamp; max and clamp are order-free, so the bytes are
 * the reference's. */
RT_AVX512 void rt_maxpool_i8_avx512(const rt_pool_geom *g_in, int32_t act_min, int32_t act_max, const int8_t *in,
                                    int8_t *out) {
  const rt_pool_geom geom = *g_in, *g = &geom;
  const int64_t C = g->c;
  const __m256i lo = _mm256_set1_epi8((char)act_min), hi = _mm256_set1_epi8((char)act_max);
  RT_FOR_EACH_OUT_PIXEL(g, b, y0, x0, pix, {
    const int64_t fy0 = y0 < 0 ? -y0 : 0, fx0 = x0 < 0 ? -x0 : 0;
    const int64_t fy1 = g->in_h - y0 < g->f_h ? g->in_h - y0 : g->f_h;
    const int64_t fx1 = g->in_w - x0 < g->f_w ? g->in_w - x0 : g->f_w;
    for (int64_t c0 = 0; c0 < C; c0 += 32) {
      const __mmask32 m = C - c0 >= 32 ? ~(__mmask32)0 : ((__mmask32)1 << (C - c0)) - 1;
      __m256i mx = _mm256_set1_epi8((char)INT8_MIN);
      for (int64_t fy = fy0; fy < fy1; fy++)
        for (int64_t fx = fx0; fx < fx1; fx++)
          mx = _mm256_max_epi8(mx, _mm256_maskz_loadu_epi8(m, in + ((b * g->in_h + y0 + fy) * g->in_w + x0 + fx) * C + c0));
      _mm256_mask_storeu_epi8(out + pix * C + c0, m, _mm256_min_epi8(_mm256_max_epi8(mx, lo), hi));
    }
  });
}

/* MAX_POOL_2D float32 the same way, 16 channels a register: max_ps(v, mx) is std::max(mx, v)
 * (mx < v ? v : mx: a NaN tap is never taken, and of +0 and -0 the earlier stays), then the
 * clamp as rt_clampf (a NaN passes). */
RT_AVX512 void rt_maxpool_f32_avx512(const rt_pool_geom *g_in, float act_min, float act_max, const float *in,
                                     float *out) {
  const rt_pool_geom geom = *g_in, *g = &geom;
  const int64_t C = g->c;
  const __m512 lo = _mm512_set1_ps(act_min), hi = _mm512_set1_ps(act_max);
  RT_FOR_EACH_OUT_PIXEL(g, b, y0, x0, pix, {
    const int64_t fy0 = y0 < 0 ? -y0 : 0, fx0 = x0 < 0 ? -x0 : 0;
    const int64_t fy1 = g->in_h - y0 < g->f_h ? g->in_h - y0 : g->f_h;
    const int64_t fx1 = g->in_w - x0 < g->f_w ? g->in_w - x0 : g->f_w;
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
      const __mmask16 m = rt_mask16(C - c0);
      __m512 mx = _mm512_set1_ps(-FLT_MAX);
      for (int64_t fy = fy0; fy < fy1; fy++)
        for (int64_t fx = fx0; fx < fx1; fx++)
          mx = _mm512_max_ps(_mm512_maskz_loadu_ps(m, in + ((b * g->in_h + y0 + fy) * g->in_w + x0 + fx) * C + c0), mx);
      _mm512_mask_storeu_ps(out + pix * C + c0, m, _mm512_min_ps(hi, _mm512_max_ps(lo, mx)));
    }
  });
}

#else
int rt_mean_out_i8_avx512(const uint32_t *sums, int64_t n, uint32_t zp_n, int32_t mult, int shift, int32_t out_zp,
                          int8_t *out) {
  (void)sums, (void)n, (void)zp_n, (void)mult, (void)shift, (void)out_zp, (void)out;
  return -1;
}
int rt_sum_pixels_i8_avx512(const int8_t *in, int64_t hw, int64_t C, uint32_t *acc) {
  (void)in, (void)hw, (void)C, (void)acc;
  return -1;
}
int rt_fp_one_over_one_plus_x_x16(const int32_t a[16], int32_t out[16]) {
  (void)a, (void)out;
  return -1;
}
int rt_add_rescale_avx512(int32_t m, int shift, int ls, const int32_t *x, int64_t n, int32_t *out) {
  (void)m, (void)shift, (void)ls, (void)x, (void)n, (void)out;
  return -1;
}
void *rt_rq16_blocks(const int32_t *mult, const int *shift, int64_t n, int32_t zp, int64_t bound) {
  (void)mult, (void)shift, (void)n, (void)zp, (void)bound;
  return NULL;
}
void rt_maxpool_i8_avx512(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const int8_t *in, int8_t *out) {
  (void)g, (void)act_min, (void)act_max, (void)in, (void)out;
}
void rt_maxpool_f32_avx512(const rt_pool_geom *g, float act_min, float act_max, const float *in, float *out) {
  (void)g, (void)act_min, (void)act_max, (void)in, (void)out;
}
void rt_lut_i8_vbmi(int64_t n, const int8_t lut[256], const int8_t *in, int8_t *out) {
  (void)n, (void)lut, (void)in, (void)out;
}
int rt_symmetric_quantize_avx512(const float *x, int64_t n, int8_t *q, float *scale) {
  (void)x, (void)n, (void)q, (void)scale;
  return -1;
}
int rt_dwconv2d_f32_avx512(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                           const float *w, const float *bias, float *out) {
  (void)g, (void)act_min, (void)act_max, (void)in, (void)w, (void)bias, (void)out;
  return -1;
}
int rt_dwconv2d_i8_avx512(const rt_conv_geom *g, const rt_requant *q, const int8_t *in,
                          const int8_t *w, const int32_t *bias, int8_t *out) {
  (void)g, (void)q, (void)in, (void)w, (void)bias, (void)out;
  return -1;
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

/* ---- RESIZE_BILINEAR int8: an output row from its two input rows --------------------------- */
/* ResizeBilinearInteger per channel, 16 at a time: the four taps times their 10-bit weights
 * in int32 (an int8 times weights of total magnitude <= 2^22 fits), + 2^19 away from zero,
 * / 2^20 toward zero (qat_resize_bilinear_round). */
RT_AVX512 void rt_resize_bilinear_row_i8_avx512(int c, int out_w, const int8_t *row0, const int8_t *row1, int32_t fy,
                                                const int32_t *cols, int8_t *y) {
  const __m512i half = _mm512_set1_epi32(1 << 19), bias_neg = _mm512_set1_epi32((1 << 20) - 1);
  for (int ox = 0; ox < out_w; ox++, y += c) {
    const int32_t fx = cols[3 * ox + 2];
    const int64_t x0 = (int64_t)cols[3 * ox] * c, x1 = (int64_t)cols[3 * ox + 1] * c;
    const __m512i w00 = _mm512_set1_epi32((1024 - fy) * (1024 - fx)), w10 = _mm512_set1_epi32(fy * (1024 - fx)),
                  w01 = _mm512_set1_epi32((1024 - fy) * fx), w11 = _mm512_set1_epi32(fy * fx);
    for (int ch = 0; ch < c; ch += 16) {
      const __mmask16 m = rt_mask16(c - ch);
#define TAP(p) _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, (p) + ch))
      __m512i sum = _mm512_mullo_epi32(TAP(row0 + x0), w00);
      sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(TAP(row1 + x0), w10));
      sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(TAP(row0 + x1), w01));
      sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(TAP(row1 + x1), w11));
#undef TAP
      const __mmask16 pos = _mm512_cmpgt_epi32_mask(sum, _mm512_setzero_si512());
      __m512i v = _mm512_mask_add_epi32(_mm512_sub_epi32(sum, half), pos, sum, half);
      /* toward zero: a negative dividend gets 2^20 - 1 before the arithmetic shift */
      v = _mm512_mask_add_epi32(v, _mm512_cmplt_epi32_mask(v, _mm512_setzero_si512()), v, bias_neg);
      _mm_mask_storeu_epi8(y + ch, m, _mm512_cvtepi32_epi8(_mm512_srai_epi32(v, 20)));
    }
  }
}

