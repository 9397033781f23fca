/* int8 CONV_2D and FULLY_CONNECTED as a register-blocked GEMM over weights packed at load,
 * bit-exact with the reference kernels (kernels_int8.c says which).
 *
 * The reference sums (x + in_offset) * w in int32 with wraparound. Integer addition modulo 2^32
 * does not depend on the order, so any blocking gives the same bits, provided every product is
 * exact and every sum wraps:
 *   VNNI (AVX-512 VNNI): vpdpbusd multiplies unsigned by signed bytes, so the activation goes in
 *     as u = x + 128 (x ^ 0x80) and the bias absorbs the difference once per channel:
 *       sum (x + off) w = sum u w + (off - 128) sum w        (mod 2^32)
 *     A padded tap is u = 128 - off (its (x + off) is 0) and the depth is padded to a multiple
 *     of 4 with zero weights. Four u8 x s8 products fit an int32 before the (wrapping) add.
 *   AVX2: (x + off) as int16 pairs against int16 weights with vpmaddwd, exact: |x + off| <= 255,
 *     |w| <= 127 (the weights offset is 0, checked at load), pads and depth padding are 0.
 *   PLAIN: the kernels of kernels_int8.c (QAT_SIMD=0, another CPU, grouped convolution, depths
 *     past the buffers).
 * The requantization (MultiplyByQuantizedMultiplier per channel) is bit-equal to the scalar one:
 * 16 lanes in the VNNI micro-kernel's registers (rt_simd.h), 4 at a time with fakequant/'s AVX2
 * fixed point on the AVX2 path; LiteRT's double rounding of FULLY_CONNECTED stays scalar (a few
 * hundred values per inference).
 *
 * Blocking: MR output pixels (an im2col tile of MR patches, built once and kept in L1) against
 * every output channel in chunks of 64 (VNNI: 4 registers of 16 channels; 16 accumulators) or
 * 16 (AVX2: 2 of 8; 8 accumulators). Tiles of pixels are split across OpenMP threads, each
 * output written by one thread as a whole. */
#include <stdlib.h>
#include <string.h>

#include "fakequant/fixedpoint_avx2.h"
#include "fakequant/simd.h"
#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_simd.h"

#define MR 4
#define TASK_TILES 8 /* tiles of a task of rt_conv2d_i8_gemm */
/* Whether an AVX-512 convolution of M output pixels splits its work over the threads: from
 * 2^19 multiply-adds (about 3 us at their 150-odd GMAC/s), or from RT_PARALLEL_MACS where there
 * are at least 256 pixels (a shallow layer runs at a third of that rate). A fork-join costs 0.7
 * to 1.2 us on this project's 2-vCPU machines: at RT_PARALLEL_MACS alone MobileNetV2's 6x6
 * pointwise layers (36 pixels, 83 K to 221 K multiply-adds, 1 to 2 us) took 1.3-1.6x their
 * one-thread time at two threads, while its 24x24 ones (576 pixels, 221 K) gain. */
static inline int gemm_parallel(int64_t M, int64_t macs) {
  return macs > (1 << 19) || (macs > RT_PARALLEL_MACS && M >= 256);
}

static int round_up(int v, int to) { return (v + to - 1) / to * to; }

int rt_igemm_path(void) {
  const int p = qat_simd_path();
  return p == QAT_SIMD_AVX512 ? RT_IGEMM_VNNI : p == QAT_SIMD_AVX2 ? RT_IGEMM_AVX2 : RT_IGEMM_PLAIN;
}

const char *qat_rt_kernels(void) { return rt_igemm_path_name(rt_igemm_path()); }

const char *rt_igemm_path_name(int path) {
  return path == RT_IGEMM_VNNI ? "AVX-512 VNNI" : path == RT_IGEMM_AVX2 ? "AVX2" : "plain C";
}

/* Channels per block (rt_simd_lanes) and depth per group of the packed layout:
 * [n / block][kp / group][block][group], int8 (VNNI) or int16 (AVX2). */
static int group_of(int path) { return path == RT_IGEMM_VNNI ? 4 : 2; }

int rt_igemm_pack(rt_igemm_b *b, int path, int n, int k, int batches_a, const int8_t *w,
                  const int32_t *bias, int32_t in_offset) {
  memset(b, 0, sizeof *b);
  if (path == RT_IGEMM_PLAIN || k > RT_IGEMM_KMAX || n < 1 || k < 1) return QAT_OK;
  const int blk = rt_simd_lanes(path), grp = group_of(path), elem = path == RT_IGEMM_VNNI ? 1 : 2;
  b->n = n, b->k = k, b->kp = round_up(k, grp), b->np = round_up(n, blk);
  const size_t wbytes = (size_t)b->np * (size_t)b->kp * (size_t)elem;
  b->w = aligned_alloc(64, (wbytes + 63) / 64 * 64);
  b->bias = malloc((size_t)b->np * sizeof *b->bias);
  b->wsum = malloc((size_t)b->np * sizeof *b->wsum);
  /* FULLY_CONNECTED: its input rows, converted once per inference (owned here) */
  if (batches_a > 0) b->a = aligned_alloc(64, ((size_t)batches_a * (size_t)b->kp * (size_t)elem + 63) / 64 * 64);
  if (!b->w || !b->bias || !b->wsum || (batches_a > 0 && !b->a)) {
    rt_igemm_free(b);
    return qat_fail(QAT_ERR_NOMEM, "out of memory packing %dx%d weights", n, k);
  }
  memset(b->w, 0, wbytes);
  const int kq = b->kp / grp;
  /* VNNI with at most 8 channels: lanes 8..15 repeat channels 0..7 (weights and bias), so that
   * two rows of A can share a register (mk_vnni_pairs); the other kernels mask them away */
  const int dup = path == RT_IGEMM_VNNI && n <= 8;
  for (int oc = 0; oc < b->np; oc++) {
    uint32_t sum = 0;
    const int src = dup && oc >= 8 && oc - 8 < n ? oc - 8 : oc;
    for (int kk = 0; src < n && kk < k; kk++) {
      const int8_t v = w[(int64_t)src * k + kk];
      const size_t at = (((size_t)(oc / blk) * kq + (size_t)(kk / grp)) * blk + (size_t)(oc % blk)) * grp + (size_t)(kk % grp);
      if (path == RT_IGEMM_VNNI) ((int8_t *)b->w)[at] = v;
      else ((int16_t *)b->w)[at] = v;
      sum += (uint32_t)(int32_t)v;
    }
    uint32_t c = src < n && bias ? (uint32_t)bias[src] : 0u;
    if (path == RT_IGEMM_VNNI) c += (uint32_t)(in_offset - 128) * sum;
    b->bias[oc] = (int32_t)c;
    b->wsum[oc] = (int32_t)sum;
  }
  b->path = path;
  return QAT_OK;
}

void rt_igemm_free(rt_igemm_b *b) {
  free(b->w);
  free(b->bias);
  free(b->a);
  free(b->wsum);
  memset(b, 0, sizeof *b);
}

/* ---- the requantization of a row of accumulators ------------------------------------------- */

static inline int8_t requant_one(const rt_requant *q, int32_t acc, int oc) {
  const int32_t r = q->eff ? rt_requant_double(acc, q->eff[oc])
                           : qat_multiply_by_quantized_multiplier(acc, q->mult[oc], q->shift[oc]);
  return (int8_t)rt_clampi(rt_wadd(r, q->out_zp), q->act_min, q->act_max);
}

#if defined(__x86_64__) || defined(__i386__)
/* out[i] for channels c0 + i, i < n: MultiplyByQuantizedMultiplier, + zero point, clamp. */
QAT_AVX2 static void requant_row_avx2(const rt_requant *q, const int32_t *acc, int c0, int n, int8_t *out) {
  int i = 0;
  if (!q->eff) {
    const __m256i zp = _mm256_set1_epi32(q->out_zp), lo = _mm256_set1_epi32(q->act_min), hi = _mm256_set1_epi32(q->act_max);
    for (; i + 8 <= n; i += 8) {
      __m256i r = qat_mbqm_x8(_mm256_loadu_si256((const __m256i *)(acc + i)),
                              _mm256_loadu_si256((const __m256i *)(q->mult + c0 + i)),
                              _mm256_loadu_si256((const __m256i *)(q->shift + c0 + i)));
      r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zp), lo), hi);
      const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
      _mm_storel_epi64((__m128i *)(void *)(out + i), _mm_packs_epi16(p16, p16));
    }
  }
  for (; i < n; i++) out[i] = requant_one(q, acc[i], c0 + i);
}

/* the same, 16 lanes with AVX-512 (rt_simd.h) */
RT_AVX512 static void requant_row_avx512(const rt_requant *q, const int32_t *acc, int c0, int n, int8_t *out) {
  const __m512i zp = _mm512_set1_epi32(q->out_zp), lo = _mm512_set1_epi32(q->act_min),
                hi = _mm512_set1_epi32(q->act_max);
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = rt_mask16(n - i);
    const __m512i r = qat_mbqm_x16(_mm512_maskz_loadu_epi32(m, acc + i), _mm512_maskz_loadu_epi32(m, q->mult + c0 + i),
                                  _mm512_maskz_loadu_epi32(m, q->shift + c0 + i));
    rt_store_i8_x16(out + i, m, r, zp, lo, hi);
  }
}
#endif

void rt_requant_row_i8(const rt_requant *q, const int32_t *acc, int c0, int n, int8_t *out) {
#if defined(__x86_64__) || defined(__i386__)
  if (!q->eff && rt_simd_avx512()) {
    requant_row_avx512(q, acc, c0, n, out);
    return;
  }
  if (rt_igemm_path() != RT_IGEMM_PLAIN) {
    requant_row_avx2(q, acc, c0, n, out);
    return;
  }
#endif
  for (int i = 0; i < n; i++) out[i] = requant_one(q, acc[i], c0 + i);
}

#if defined(__x86_64__) || defined(__i386__)
/* ---- micro-kernels: mr rows of A (stride lda elements) by nr blocks of packed B, the bias
 * added, into c[mr][64] ---------------------------------------------------------------------- */

/* mr rows of A (stride lda) by nr blocks of 16 channels of packed B (block stride bstride),
 * channels n0..: with the fixed-point requantization (q->eff NULL) the int8 results go to out
 * (row stride n, n valid channels); for LiteRT's double requantization or raw sums (q NULL) the
 * int32 sums (bias added) go to c[mr][64]. */
RT_AVX512 RT_FORCE_INLINE void mk_vnni(const int mr, const int nr, const uint8_t *a, int64_t lda, int64_t rs,
                           int gpr, const int8_t *bp, int64_t bstride, int kq, const int32_t *bias,
                           const rt_requant *q, int n0, int n, int8_t *out, int32_t *c) {
  __m512i acc[MR][4];
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int j = 0; j < nr; j++) acc[r][j] = _mm512_loadu_si512((const void *)(bias + j * 16));
  /* group k4 = ky * gpr + g of row r at a + r * lda + ky * rs + 4 * g: one run (gpr = kq) for a
   * row of A, a window's rows for rt_conv2d_i8_gemm's in-place reading */
  for (int k4 = 0; k4 < kq; a += rs) {
    for (int g4 = 0; g4 < gpr; g4++, k4++) {
      __m512i bv[4];
#pragma GCC unroll 4
      for (int j = 0; j < nr; j++) bv[j] = _mm512_load_si512((const void *)(bp + j * bstride + (int64_t)k4 * 64));
#pragma GCC unroll 4
      for (int r = 0; r < mr; r++) {
        int32_t v;
        memcpy(&v, a + r * lda + 4 * g4, 4);
        const __m512i av = _mm512_set1_epi32(v);
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], av, bv[j]);
      }
    }
  }
  if (!q || q->eff) {
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
      for (int j = 0; j < nr; j++) _mm512_storeu_si512((void *)(c + r * 64 + j * 16), acc[r][j]);
    return;
  }
  const __m512i zp = _mm512_set1_epi32(q->out_zp), lo = _mm512_set1_epi32(q->act_min),
                hi = _mm512_set1_epi32(q->act_max);
#pragma GCC unroll 4
  for (int j = 0; j < nr; j++) {
    const int ch = n0 + j * 16;
    const __mmask16 m = rt_mask16(n - ch);
    rt_rq16 local;
    const rt_rq16 *rq = q->rq16 ? (const rt_rq16 *)q->rq16 + ch / 16 : &local;
    if (!q->rq16)
      rt_rq16_prepare(_mm512_maskz_loadu_epi32(m, q->mult + ch), _mm512_maskz_loadu_epi32(m, q->shift + ch), m, 0, 0, &local);
#define MK_STORE(FORM)                                                                                \
  _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++)                                               \
      rt_store_i8_x16z(out + (int64_t)r * n + ch, m, rt_rq16_out(rq, acc[r][j], zp, FORM), lo, hi)
    switch (rt_rq16_form(rq)) {
    case RT_RQ_FAST: MK_STORE(RT_RQ_FAST); break;
    case RT_RQ_RIGHT: MK_STORE(RT_RQ_RIGHT); break;
    default: MK_STORE(RT_RQ_FULL); break;
    }
#undef MK_STORE
  }
}

/* At most 8 channels (n <= 8), packed twice (rt_igemm_pack's lanes 8..15): rows 2p and 2p + 1
 * of A share a register, their broadcasts in its two halves, so a pair takes one dot product
 * per group, one requantization and one store instead of two (MobileNetV2's projections to
 * 8 channels at 48x48 spent most of their time requantizing half-empty registers). */
RT_AVX512 RT_FORCE_INLINE void mk_vnni_pairs(const int pairs, const uint8_t *a, int64_t lda, int64_t rs, int gpr,
                                             const int8_t *bp, int kq, const int32_t *bias, const rt_requant *q,
                                             int n, int8_t *out) {
  /* two sums a pair, the groups in turn: with one, vpdpbusd's latency bounded the loop */
  __m512i acc[2][2];
  for (int p = 0; p < pairs; p++) acc[p][0] = _mm512_loadu_si512((const void *)bias), acc[p][1] = _mm512_setzero_si512();
  for (int k4 = 0; k4 < kq; a += rs) {
    for (int g4 = 0; g4 < gpr; g4++, k4++) {
      const __m512i bw = _mm512_load_si512((const void *)(bp + (int64_t)k4 * 64));
      for (int p = 0; p < pairs; p++) {
        int32_t v0, v1;
        memcpy(&v0, a + 2 * p * lda + 4 * g4, 4);
        memcpy(&v1, a + (2 * p + 1) * lda + 4 * g4, 4);
        const __m512i av = _mm512_mask_set1_epi32(_mm512_set1_epi32(v0), 0xff00, v1);
        if (k4 & 1) acc[p][1] = _mm512_dpbusd_epi32(acc[p][1], av, bw);
        else acc[p][0] = _mm512_dpbusd_epi32(acc[p][0], av, bw);
      }
    }
  }
  for (int p = 0; p < pairs; p++) acc[p][0] = _mm512_add_epi32(acc[p][0], acc[p][1]);
  const __m512i zp = _mm512_set1_epi32(q->out_zp), lo = _mm512_set1_epi32(q->act_min),
                hi = _mm512_set1_epi32(q->act_max);
  const __m512i twice = _mm512_set_epi32(7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0);
  const __mmask16 m = rt_mask16(n);
  /* the two rows' n lanes side by side (for n = 8 they already are) */
  const __mmask16 keep = (__mmask16)(m | m << 8);
  rt_rq16 local;
  const rt_rq16 *rq = q->rq16 ? (const rt_rq16 *)q->rq16 + 1 : &local;
  if (!q->rq16)
    rt_rq16_prepare(_mm512_permutexvar_epi32(twice, _mm512_maskz_loadu_epi32(m, q->mult)),
                    _mm512_permutexvar_epi32(twice, _mm512_maskz_loadu_epi32(m, q->shift)), keep, 0, 0, &local);
#define MK_PAIRS_STORE(FORM)                                                               \
  for (int p = 0; p < pairs; p++) {                                                        \
    __m512i r = rt_rq16_out(rq, acc[p][0], zp, FORM);                                      \
    if (n < 8) r = _mm512_maskz_compress_epi32(keep, r);                                   \
    rt_store_i8_x16z(out + (int64_t)2 * p * n, rt_mask16(2 * n), r, lo, hi);               \
  }
  switch (rt_rq16_form(rq)) {
  case RT_RQ_FAST: MK_PAIRS_STORE(RT_RQ_FAST); break;
  case RT_RQ_RIGHT: MK_PAIRS_STORE(RT_RQ_RIGHT); break;
  default: MK_PAIRS_STORE(RT_RQ_FULL); break;
  }
#undef MK_PAIRS_STORE
}

/* tiles > 1 (full tiles of MR rows, requantized): that many tiles one after another, rows MR * lda
 * apart in A and MR * n in out, in one call (a shallow pointwise convolution's tile is a few
 * dozen instructions; the call and its setup were a third of them) */
RT_AVX512 static void tile_vnni(int mr, int nr, const uint8_t *a, int64_t lda, int64_t rs, int gpr, const int8_t *bp,
                             int64_t bstride, int kq, const int32_t *bias, const rt_requant *q, int n0,
                             int n, int8_t *out, int32_t *c, int tiles) {
  if (n <= 8 && mr >= 2 && q && !q->eff) {
    if (mr >= 4)
      for (int t = 0; t < tiles; t++)
        mk_vnni_pairs(2, a + t * MR * lda, lda, rs, gpr, bp, kq, bias, q, n, out + (int64_t)t * MR * n);
    else mk_vnni_pairs(1, a, lda, rs, gpr, bp, kq, bias, q, n, out);
    if (mr % 2) mk_vnni(1, 1, a + (mr - 1) * lda, lda, rs, gpr, bp, bstride, kq, bias, q, n0, n, out + (int64_t)(mr - 1) * n, c);
    return;
  }
  if (tiles > 1) {
#define MK(R, N)                                                                                                   \
  for (int t = 0; t < tiles; t++)                                                                                  \
  mk_vnni(R, N, a + t * MR * lda, lda, rs, gpr, bp, bstride, kq, bias, q, n0, n, out + (int64_t)t * MR * n, c)
    RT_MK_NR(MR, nr, MK);
#undef MK
    return;
  }
#define MK(R, N) mk_vnni(R, N, a, lda, rs, gpr, bp, bstride, kq, bias, q, n0, n, out, c)
  RT_MK_SWITCH(mr, nr, MK);
#undef MK
}

QAT_AVX2 RT_FORCE_INLINE void mk_avx2(const int mr, const int nr, const int16_t *a, int64_t lda,
                             const int16_t *bp, int64_t bstride, int kq, const int32_t *bias, int32_t *c) {
  __m256i acc[MR][2];
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
    for (int j = 0; j < nr; j++) acc[r][j] = _mm256_setzero_si256();
  for (int k2 = 0; k2 < kq; k2++) {
    __m256i bv[2];
#pragma GCC unroll 2
    for (int j = 0; j < nr; j++) bv[j] = _mm256_load_si256((const __m256i *)(bp + j * bstride + (int64_t)k2 * 16));
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      int32_t v;
      memcpy(&v, a + r * lda + 2 * k2, 4);
      const __m256i av = _mm256_set1_epi32(v);
#pragma GCC unroll 2
      for (int j = 0; j < nr; j++) acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(av, bv[j]));
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
    for (int j = 0; j < nr; j++)
      _mm256_storeu_si256((__m256i *)(c + r * 64 + j * 8),
                          _mm256_add_epi32(acc[r][j], _mm256_loadu_si256((const __m256i *)(bias + j * 8))));
}

QAT_AVX2 static void tile_avx2(int mr, int nr, const int16_t *a, int64_t lda, const int16_t *bp,
                               int64_t bstride, int kq, const int32_t *bias, int32_t *c) {
  if (mr == MR) {
    if (nr == 2) mk_avx2(MR, 2, a, lda, bp, bstride, kq, bias, c);
    else mk_avx2(MR, 1, a, lda, bp, bstride, kq, bias, c);
    return;
  }
  for (int r = 0; r < mr; r++, a += lda, c += 64) { /* fewer rows: one at a time */
    if (nr == 2) mk_avx2(1, 2, a, lda, bp, bstride, kq, bias, c);
    else mk_avx2(1, 1, a, lda, bp, bstride, kq, bias, c);
  }
}

/* the output channels a micro-kernel call covers */
static int chunk_channels(const rt_igemm_b *b) { return b->path == RT_IGEMM_VNNI ? 64 : 16; }

/* as tile_chunk, A's rows read as windows (mk_vnni: rows rs apart, gpr groups each; gpr 0:
 * each row of A one run) */
static void tile_chunk_tiles(const rt_igemm_b *b, const rt_requant *q, int mr, const void *a, int64_t lda,
                             int64_t rs, int gpr, int n0, int8_t *out, int32_t *out32, int tiles) {
  int32_t c[MR * 64];
  const int blk = rt_simd_lanes(b->path), chunk = chunk_channels(b);
  const int kq = b->kp / group_of(b->path);
  const int64_t bstride = (int64_t)kq * blk * group_of(b->path); /* elements per block */
  const int nr = (b->np - n0 < chunk ? b->np - n0 : chunk) / blk;
  const int valid = (b->n - n0 < chunk ? b->n - n0 : chunk);
  if (b->path == RT_IGEMM_VNNI) {
    tile_vnni(mr, nr, a, lda, rs, gpr ? gpr : kq, (const int8_t *)b->w + (int64_t)(n0 / blk) * bstride, bstride, kq,
              b->bias + n0, q, n0, b->n, out, c, tiles);
    if (q && !q->eff) return; /* requantized in the micro-kernel */
  } else {
    tile_avx2(mr, nr, a, lda, (const int16_t *)b->w + (int64_t)(n0 / blk) * bstride, bstride, kq, b->bias + n0, c);
  }
  for (int r = 0; r < mr; r++) {
    if (q) rt_requant_row_i8(q, c + r * 64, n0, valid, out + (int64_t)r * b->n + n0);
    else memcpy(out32 + (int64_t)r * b->n + n0, c + r * 64, (size_t)valid * sizeof *out32);
  }
}

/* as tile_chunk_tiles, one tile */
static void tile_chunk_rows(const rt_igemm_b *b, const rt_requant *q, int mr, const void *a, int64_t lda,
                            int64_t rs, int gpr, int n0, int8_t *out, int32_t *out32) {
  tile_chunk_tiles(b, q, mr, a, lda, rs, gpr, n0, out, out32, 1);
}

/* `rows` rows of A (lda apart) against channels [n0, n0 + one chunk), requantized into out: the
 * full tiles in one micro-kernel call where they are requantized in it (VNNI, fixed point),
 * else one by one, then the rest */
static void tile_span(const rt_igemm_b *b, const rt_requant *q, int rows, const uint8_t *a, int64_t lda, int64_t rs,
                      int gpr, int n0, int8_t *out) {
  const int full = rows / MR, elem = b->path == RT_IGEMM_VNNI ? 1 : 2;
  if (full && b->path == RT_IGEMM_VNNI && !q->eff) tile_chunk_tiles(b, q, MR, a, lda, rs, gpr, n0, out, NULL, full);
  else
    for (int t = 0; t < full; t++)
      tile_chunk_rows(b, q, MR, a + (int64_t)t * MR * lda * elem, lda, rs, gpr, n0, out + (int64_t)t * MR * b->n, NULL);
  if (rows % MR)
    tile_chunk_rows(b, q, rows % MR, a + (int64_t)full * MR * lda * elem, lda, rs, gpr, n0,
                    out + (int64_t)full * MR * b->n, NULL);
}

/* mr rows of A against output channels [n0, n0 + one chunk): requantized into out (q), or
 * the raw sums into out32 */
static void tile_chunk(const rt_igemm_b *b, const rt_requant *q, int mr, const void *a, int64_t lda, int n0,
                       int8_t *out, int32_t *out32) {
  tile_chunk_rows(b, q, mr, a, lda, 0, 0, n0, out, out32);
}

/* ---- A: patches and rows ------------------------------------------------------------------- */

/* n values of A for VNNI: x ^ 0x80 of src, or with src NULL the byte pad, in masked steps (a
 * stem's taps are 1 to 3 bytes, and a byte loop or a memset call per tap cost more than its
 * GEMM), 16-byte ones for short runs (wide masked stores are slow on Zen 4) */
RT_AVX512 static inline void vnni_values(const int8_t *src, int n, uint8_t pad, uint8_t *dst) {
  if (n <= 16) {
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    const __m128i v = src ? _mm_xor_si128(_mm_maskz_loadu_epi8(m, src), _mm_set1_epi8((char)0x80))
                          : _mm_set1_epi8((char)pad);
    _mm_mask_storeu_epi8(dst, m, v);
    return;
  }
  const __m512i padv = _mm512_set1_epi8((char)pad);
  for (int i = 0; i < n; i += 64) {
    const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - i)) - 1;
    const __m512i v = src ? _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src + i), _mm512_set1_epi8((char)0x80)) : padv;
    _mm512_mask_storeu_epi8(dst + i, m, v);
  }
}

/* n values of A at dst[at..]: the path's form of src (u8 x ^ 0x80 for VNNI, int16 x + off for
 * AVX2), or with src NULL a tap outside the image (128 - off, or 0: (x + off) = 0 either way). */
static inline void a_values(int path, int32_t off, const int8_t *src, int n, void *dst, int at) {
  if (path == RT_IGEMM_VNNI) {
    vnni_values(src, n, (uint8_t)(128 - off), (uint8_t *)dst + at);
  } else {
    int16_t *s = (int16_t *)dst + at;
    if (!src) memset(s, 0, (size_t)n * sizeof *s);
    else
      for (int c = 0; c < n; c++) s[c] = (int16_t)(src[c] + off);
  }
}

/* the depth padding after k values: zero weights there, so 0 */
static inline void a_pad(int path, int k, int kp, void *dst) {
  const size_t elem = path == RT_IGEMM_VNNI ? 1 : 2;
  memset((uint8_t *)dst + (size_t)k * elem, 0, (size_t)(kp - k) * elem);
}

/* The taps of output pixel (bt, oy, ox)'s patch in order, as runs for put(ctx, src, n, at): n
 * values from src (NULL: taps outside the image) at patch position at; a whole row of taps at
 * once where it is contiguous or all outside. Returns the patch's length. Inlined into each
 * caller with its own put, so the runs cost no call. */
RT_FORCE_INLINE int patch_runs(const rt_conv_geom *g, const int8_t *in, int64_t bt, int64_t oy, int64_t ox,
                               void (*put)(void *ctx, const int8_t *src, int n, int at), void *ctx) {
  const int64_t y0 = oy * g->stride_h - g->pad_h, x0 = ox * g->stride_w - g->pad_w;
  const int cin = g->in_c, row = g->k_w * cin;
  const int whole_rows = g->dil_w == 1 && x0 >= 0 && x0 + g->k_w <= g->in_w;
  int at = 0;
  for (int ky = 0; ky < g->k_h; ky++) {
    const int64_t y = y0 + (int64_t)g->dil_h * ky;
    const int inside = y >= 0 && y < g->in_h;
    const int8_t *irow = inside ? in + (bt * g->in_h + y) * g->in_w * cin : NULL;
    if (!inside || whole_rows) { /* a row of taps all outside, or contiguous inside */
      put(ctx, inside ? irow + x0 * cin : NULL, row, at);
      at += row;
      continue;
    }
    for (int kx = 0; kx < g->k_w; kx++, at += cin) {
      const int64_t x = x0 + (int64_t)g->dil_w * kx;
      put(ctx, x < 0 || x >= g->in_w ? NULL : irow + x * cin, cin, at);
    }
  }
  return at;
}

typedef struct avx2_patch {
  int32_t off;
  int16_t *dst;
} avx2_patch;

static inline void avx2_put(void *ctx, const int8_t *src, int n, int at) {
  const avx2_patch *p = ctx;
  a_values(RT_IGEMM_AVX2, p->off, src, n, p->dst, at);
}

/* The patch of output pixel p as the AVX2 path's A row. */
static void build_patch_avx2(const rt_conv_geom *geom, int32_t off, const int8_t *in, int64_t p, int kp, int16_t *dst) {
  /* a copy: stores into the patch may alias *geom otherwise, and reload it every tap */
  const rt_conv_geom gc = *geom, *g = &gc;
  const int64_t ox = p % g->out_w, oy = (p / g->out_w) % g->out_h, bt = p / ((int64_t)g->out_w * g->out_h);
  avx2_patch ctx = {off, dst};
  a_pad(RT_IGEMM_AVX2, patch_runs(g, in, bt, oy, ox, avx2_put, &ctx), kp, dst);
}

typedef struct vnni_patch {
  uint8_t pad; /* 128 - off: a tap outside the image ((x + off) = 0) */
  uint8_t *dst;
} vnni_patch;

RT_AVX512 static inline void vnni_put(void *ctx, const int8_t *src, int n, int at) {
  const vnni_patch *p = ctx;
  vnni_values(src, n, p->pad, p->dst + at);
}

/* The patches of the mr output pixels from p0 as VNNI A rows (stride kp), the pixel's
 * coordinates stepped instead of divided out for each. */
RT_AVX512 static void build_tile_vnni(const rt_conv_geom *geom, int32_t off, const int8_t *in, int64_t p0, int mr,
                                      int kp, uint8_t *dst) {
  const rt_conv_geom gc = *geom, *g = &gc;
  int64_t ox = p0 % g->out_w, oy = (p0 / g->out_w) % g->out_h, bt = p0 / ((int64_t)g->out_w * g->out_h);
  for (int r = 0; r < mr; r++, dst += kp) {
    vnni_patch ctx = {(uint8_t)(128 - off), dst};
    const int at = patch_runs(g, in, bt, oy, ox, vnni_put, &ctx);
    vnni_values(NULL, kp - at, 0, dst + at); /* the depth padding (zero weights): a store, not a memset call */
    if (++ox == g->out_w) {
      ox = 0;
      if (++oy == g->out_h) oy = 0, bt++;
    }
  }
}
#endif

/* ---- convolutions read in place -------------------------------------------------------------
 * A first layer (a stem's 1 to 3 input channels, an audio window over 1) spent most of its time
 * building im2col patches of a few bytes per tap, and a 3x3 convolution over up to 85 channels
 * copies each input value 9 times into them. Instead the input is converted once per
 * inference into the VNNI form inside a border as wide as the padding (x ^ 0x80; a tap outside
 * the image 128 - offset, whose (x + offset) is 0), each window row's taps (k_w * in_c bytes,
 * contiguous at dilation_w 1) padded to a multiple of 4 against zero weights, and the
 * micro-kernel reads its groups of 4 bytes straight from that image: window row ky of output
 * pixel (oy, ox) starts at image row oy * stride_h + ky * dil_h, byte ox * stride_w * in_c. */
/* Each op owns its image, outside the activation arena: a large input keeps the patches, so that
 * a high-resolution model does not carry a copy of every early activation. */
#define DIRECT_IMAGE_MAX ((int64_t)1 << 22) /* bytes */
#define DIRECT_ROW_MAX 256 /* window rows of at most this many bytes: measured up to 3x3 over 32
                             channels (CIFAR's conv2 22.3 -> 19.3-20.2 us, ResNet50's convolutions
                             2.00-2.15 -> 1.89-1.92 ms) */

/* the image's rows (every window row of every output row) and bytes per row */
static void direct_dims(const rt_conv_geom *g, int64_t *rows, int64_t *row_bytes) {
  *rows = (int64_t)(g->out_h - 1) * g->stride_h + (int64_t)(g->k_h - 1) * g->dil_h + 1;
  *row_bytes = ((int64_t)(g->out_w - 1) * g->stride_w + g->k_w) * g->in_c;
}

int rt_igemm_pack_conv(rt_igemm_b *b, int path, const rt_conv_geom *g, const int8_t *w, const int32_t *bias,
                       int32_t in_offset, int allow_direct) {
  const int k = g->k_h * g->k_w * g->in_c, row = g->k_w * g->in_c, row4 = round_up(row, 4);
  const int pointwise = g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 &&
                        g->pad_w == 0;
  int64_t rows, rb;
  direct_dims(g, &rows, &rb);
  const int64_t image = (int64_t)g->batches * rows * rb + 4; /* + 4: a last window row's padding reads past it */
  if (!allow_direct || path != RT_IGEMM_VNNI || g->dil_w != 1 || row > DIRECT_ROW_MAX || pointwise ||
      g->filter_in_c != g->in_c || g->k_h * row4 > RT_IGEMM_KMAX || image > DIRECT_IMAGE_MAX)
    return rt_igemm_pack(b, path, g->out_c, k, 0, w, bias, in_offset);
  int8_t *wd = calloc((size_t)g->out_c * (size_t)(g->k_h * row4), 1);
  if (!wd) return qat_fail(QAT_ERR_NOMEM, "out of memory packing %dx%d weights", g->out_c, k);
  for (int64_t r = 0; r < (int64_t)g->out_c * g->k_h; r++) memcpy(wd + r * row4, w + r * row, (size_t)row);
  int rc = rt_igemm_pack(b, path, g->out_c, g->k_h * row4, 0, wd, bias, in_offset);
  free(wd);
  if (rc || b->path == RT_IGEMM_PLAIN) return rc;
  if (!(b->a = aligned_alloc(64, (size_t)(image + 63) / 64 * 64))) {
    rt_igemm_free(b);
    return qat_fail(QAT_ERR_NOMEM, "out of memory for a %lld-byte input image", (long long)image);
  }
  b->direct_gpr = row4 / 4;
  return QAT_OK;
}

#if defined(__x86_64__) || defined(__i386__)
RT_AVX512 static void direct_image(const rt_conv_geom *g, int32_t off, const int8_t *in, uint8_t *img) {
  int64_t rows, rb;
  direct_dims(g, &rows, &rb);
  const uint8_t pad = (uint8_t)(128 - off);
  const int64_t cin = g->in_c, cols = rb / cin;
  const int64_t x0 = g->pad_w < cols ? g->pad_w : cols, x1 = g->pad_w + g->in_w < cols ? g->pad_w + g->in_w : cols;
  for (int64_t bt = 0; bt < g->batches; bt++)
    for (int64_t yy = 0; yy < rows; yy++) {
      uint8_t *dst = img + (bt * rows + yy) * rb;
      const int64_t y = yy - g->pad_h;
      if (y < 0 || y >= g->in_h) {
        memset(dst, pad, (size_t)rb);
        continue;
      }
      memset(dst, pad, (size_t)(x0 * cin));
      vnni_values(in + ((bt * g->in_h + y) * g->in_w + x0 - g->pad_w) * cin, (int)((x1 - x0) * cin), pad, dst + x0 * cin);
      memset(dst + x1 * cin, pad, (size_t)((cols - x1) * cin));
    }
  memset(img + g->batches * rows * rb, pad, 4);
}

static void conv_direct(const rt_conv_geom *g, const rt_requant *q, const rt_igemm_b *b, const int8_t *in,
                        int8_t *out) {
  int64_t rows, rb;
  direct_dims(g, &rows, &rb);
  const uint8_t *img = b->a;
  direct_image(g, q->in_offset, in, b->a);
  const int64_t lda = (int64_t)g->stride_w * g->in_c, rs = (int64_t)g->dil_h * rb;
  const int64_t M = (int64_t)g->batches * g->out_h * g->out_w;
  /* an output row a task (tile_span) */
  RT_FOR(gemm_parallel(M, M * b->n * (int64_t)b->k), orow, (int64_t)g->batches * g->out_h, {
    const int64_t bt = orow / g->out_h, oy = orow % g->out_h;
    const uint8_t *a = img + (bt * rows + oy * g->stride_h) * rb;
    for (int n0 = 0; n0 < b->np; n0 += chunk_channels(b))
      tile_span(b, q, g->out_w, a, lda, rs, b->direct_gpr, n0, out + orow * g->out_w * b->n);
  });
}
#endif

void rt_conv2d_i8_gemm(const rt_conv_geom *g, const rt_requant *q, const rt_igemm_b *b,
                       const int8_t *in, int8_t *out) {
#if defined(__x86_64__) || defined(__i386__)
  if (b->direct_gpr) {
    conv_direct(g, q, b, in, out);
    return;
  }
  const int64_t M = (int64_t)g->batches * g->out_h * g->out_w;
  const int elem = b->path == RT_IGEMM_VNNI ? 1 : 2;
  /* A 1x1 stride-1 convolution's patches are its input rows, contiguous: a task converts them
   * in one pass and the micro-kernel reads them at their own stride; what it reads past a row's
   * depth is the next row (or zeros after the last), against zero weights. */
  const int pointwise = g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 &&
                        g->pad_w == 0;
  const int64_t lda = pointwise ? g->in_c : b->kp;
  /* up to TASK_TILES tiles a task, their rows (the input rows of a pointwise convolution, else
   * im2col patches) built in one pass and their full tiles run in one micro-kernel call per chunk
   * of channels (tile_span): a shallow convolution's tile is a few dozen instructions
   * (MobileNetV2's projections and expansions from 8 or 16 channels), and its call, setup and
   * conversion were a third of them */
  int group = (int)((MR * RT_IGEMM_KMAX * 2 / elem - b->kp) / (MR * lda));
  group = group < 1 ? 1 : group > TASK_TILES ? TASK_TILES : group;
  const int64_t groups = (M + (int64_t)group * MR - 1) / ((int64_t)group * MR);
  /* too few groups to share (a 3x3 image's 1280-channel projection): a task is a group and one
   * chunk of channels, its rows built by each */
  const int chunk = chunk_channels(b), chunks = (b->np + chunk - 1) / chunk, split = groups < 4 && chunks > 1;
  RT_FOR(gemm_parallel(M, M * b->n * (int64_t)b->k), t, split ? groups * chunks : groups, {
    _Alignas(64) uint8_t a[MR * RT_IGEMM_KMAX * 2];
    const int64_t p0 = (split ? t / chunks : t) * group * MR;
    const int rows = M - p0 < group * MR ? (int)(M - p0) : group * MR;
    if (pointwise) {
      a_values(b->path, q->in_offset, in + p0 * g->in_c, rows * g->in_c, a, 0);
      a_pad(b->path, rows * g->in_c, (rows - 1) * g->in_c + b->kp, a);
    } else if (b->path == RT_IGEMM_VNNI) {
      build_tile_vnni(g, q->in_offset, in, p0, rows, b->kp, a);
    } else {
      for (int r = 0; r < rows; r++)
        build_patch_avx2(g, q->in_offset, in, p0 + r, b->kp, (int16_t *)(void *)(a + (size_t)r * b->kp * elem));
    }
    const int c0 = split ? (int)(t % chunks) * chunk : 0, c1 = split ? c0 + chunk : b->np;
    for (int n0 = c0; n0 < c1; n0 += chunk) tile_span(b, q, rows, a, lda, 0, 0, n0, out + p0 * b->n);
  });
#else
  (void)g, (void)q, (void)b, (void)in, (void)out;
#endif
}

/* The batch rows converted into b->a, then tiles of MR rows: requantized (q) or raw (out32). */
static void gemm_rows(int batches, int32_t in_offset, const rt_requant *q, const rt_igemm_b *b, const int8_t *in,
                      int8_t *out, int32_t *out32) {
#if defined(__x86_64__) || defined(__i386__)
  const int elem = b->path == RT_IGEMM_VNNI ? 1 : 2;
  for (int64_t r = 0; r < batches; r++) {
    void *row = (uint8_t *)b->a + (size_t)r * b->kp * elem;
    a_values(b->path, in_offset, in + r * b->k, b->k, row, 0);
    a_pad(b->path, b->k, b->kp, row);
  }
  /* tiles of MR rows by one chunk of channels, over the threads: at batch 1 the work is the
   * weights' columns */
  const int chunk = chunk_channels(b);
  const int64_t row_tiles = (batches + MR - 1) / MR, chunks = (b->np + chunk - 1) / chunk;
  RT_FOR((int64_t)batches * b->n * (int64_t)b->k > RT_PARALLEL_MACS, t, row_tiles * chunks, {
    const int64_t r0 = t / chunks * MR;
    const int n0 = (int)(t % chunks) * chunk;
    const int mr = batches - r0 < MR ? (int)(batches - r0) : MR;
    const uint8_t *a = (const uint8_t *)b->a + (size_t)r0 * b->kp * elem;
    int8_t *o = out ? out + r0 * b->n : NULL;
    int32_t *o32 = out32 ? out32 + r0 * b->n : NULL;
    tile_chunk(b, q, mr, a, b->kp, n0, o, o32);
  });
#else
  (void)batches, (void)in_offset, (void)q, (void)b, (void)in, (void)out, (void)out32;
#endif
}

void rt_fc_i8_gemm(int batches, const rt_requant *q, const rt_igemm_b *b, const int8_t *in, int8_t *out) {
  gemm_rows(batches, q->in_offset, q, b, in, out, NULL);
}

void rt_igemm_dots(const rt_igemm_b *b, int rows, int32_t in_offset, const int8_t *in, int32_t *dots) {
  gemm_rows(rows, in_offset, NULL, b, in, NULL, dots);
}

void rt_tconv_i8_gemm(const rt_conv_geom *g, const rt_requant *q, const rt_igemm_b *b, const int8_t *in,
                      const int32_t *bias, int8_t *out, int32_t *scratch) {
  const int64_t M = (int64_t)g->batches * g->in_h * g->in_w, n = b->n, C = g->out_c;
  const int64_t out_pixels = (int64_t)g->batches * g->out_h * g->out_w;
  int32_t *dots = scratch;
  uint32_t *acc = (uint32_t *)(void *)(scratch + M * n);
  /* sum (x + offset) * w of every input pixel against every (tap, oc) */
  rt_igemm_dots(b, (int)M, q->in_offset, in, dots);
  for (int64_t p = 0; p < out_pixels; p++)
    for (int64_t c = 0; c < C; c++) acc[p * C + c] = bias ? (uint32_t)bias[c] : 0u;
  /* the reference's scatter: input pixel (iy, ix) through tap (ky, kx) lands on output
   * (iy * stride + ky - pad, ix * stride + kx - pad) */
  for (int64_t bt = 0; bt < g->batches; bt++)
    for (int64_t iy = 0; iy < g->in_h; iy++)
      for (int64_t ix = 0; ix < g->in_w; ix++) {
        const int32_t *d = dots + ((bt * g->in_h + iy) * g->in_w + ix) * n;
        for (int ky = 0; ky < g->k_h; ky++) {
          const int64_t oy = iy * g->stride_h + ky - g->pad_h;
          if (oy < 0 || oy >= g->out_h) continue;
          for (int kx = 0; kx < g->k_w; kx++) {
            const int64_t ox = ix * g->stride_w + kx - g->pad_w;
            if (ox < 0 || ox >= g->out_w) continue;
            const int64_t tap = ((int64_t)ky * g->k_w + kx) * C;
            uint32_t *restrict a = acc + ((bt * g->out_h + oy) * g->out_w + ox) * C;
            const int32_t *restrict dt = d + tap;
            for (int64_t c = 0; c < C; c++) a[c] += (uint32_t)dt[c];
          }
        }
      }
  for (int64_t p = 0; p < out_pixels; p++)
    rt_requant_row_i8(q, (const int32_t *)(const void *)(acc + p * C), 0, (int)C, out + p * C);
}
