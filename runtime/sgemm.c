/* float32 CONV_2D and FULLY_CONNECTED as a register-blocked GEMM over weights packed at load,
 * still bit-exact with the reference kernels (kernels_float.c): each output's products are
 * rounded, then added one at a time in the reference's order (ky, kx, ic), in a register
 * instead of a scalar; the bias is added after the sum, then the clamp. No fused multiply-add.
 * A tap outside the image is a 0 in the patch where the reference skips it: its product is
 * +-0, and adding +-0 changes no sum (a sum that starts at +0 never becomes -0).
 *
 * Blocking as igemm.c: MR output pixels (an im2col tile, or the input rows themselves for a
 * 1x1 stride-1 convolution and for FULLY_CONNECTED) against chunks of output channels, 16 per
 * register with AVX-512 (4 registers: 16 accumulators) or 8 with AVX2 (2 registers). */
#include <stdlib.h>
#include <string.h>

#include "fakequant/fixedpoint_avx2.h"
#include "qat/error.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_simd.h"

#define MR 4
#define RT_PARALLEL_FLOPS (1 << 17) /* below it, fork-join costs more than it saves (RT_PARALLEL_MACS) */

/* The path is the int8 GEMM's: AVX-512 where it found VNNI, AVX2 otherwise (x86-64-v3 is the
 * build's baseline); QAT_SIMD=0: the reference loops. Blocks of rt_simd_lanes channels. */

int rt_sgemm_pack(rt_sgemm_b *b, int path, int n, int k, const float *w) {
  memset(b, 0, sizeof *b);
  if (path == RT_IGEMM_PLAIN || k > RT_SGEMM_KMAX || n < 1 || k < 1) return QAT_OK;
  const int blk = rt_simd_lanes(path);
  b->n = n, b->k = k, b->np = (n + blk - 1) / blk * blk;
  const size_t bytes = (size_t)b->np * (size_t)k * sizeof(float);
  b->w = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!b->w) return qat_fail(QAT_ERR_NOMEM, "out of memory packing %dx%d weights", n, k);
  memset(b->w, 0, bytes);
  for (int oc = 0; oc < n; oc++)
    for (int kk = 0; kk < k; kk++)
      b->w[((size_t)(oc / blk) * (size_t)k + (size_t)kk) * (size_t)blk + (size_t)(oc % blk)] = w[(int64_t)oc * k + kk];
  b->path = path;
  return QAT_OK;
}

void rt_sgemm_free(rt_sgemm_b *b) {
  free(b->w);
  free(b->img);
  memset(b, 0, sizeof *b);
}

#if defined(__x86_64__) || defined(__i386__)

/* The micro-kernel's two halves, shared with TRANSPOSE_CONV's gather: acc[r][j] += a[r][kk] *
 * b[j][kk] over kk in order (rows lda apart, blocks bstride apart), then the epilogue of
 * mr rows (ldo apart) of nr blocks from channel n0 of n. */
RT_AVX512 RT_FORCE_INLINE void acc512(const int mr, const int nr, __m512 acc[MR][4], const float *a, int64_t lda,
                                      const float *bp, int64_t bstride, int k) {
  for (int kk = 0; kk < k; kk++) {
    __m512 bv[4];
#pragma GCC unroll 4
    for (int j = 0; j < nr; j++) bv[j] = _mm512_load_ps(bp + j * bstride + (int64_t)kk * 16);
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      const __m512 av = _mm512_set1_ps(a[r * lda + kk]);
#pragma GCC unroll 4
      for (int j = 0; j < nr; j++) acc[r][j] = _mm512_add_ps(acc[r][j], _mm512_mul_ps(av, bv[j]));
    }
  }
}

RT_AVX512 RT_FORCE_INLINE void store512(const int mr, const int nr, __m512 acc[MR][4], const float *bias, float lo_,
                                        float hi_, int n0, int n, float *out, int64_t ldo) {
  const __m512 lo = _mm512_set1_ps(lo_), hi = _mm512_set1_ps(hi_);
#pragma GCC unroll 4
  for (int j = 0; j < nr; j++) {
    const int ch = n0 + j * 16;
    const __mmask16 m = rt_mask16(n - ch);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + ch) : _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) _mm512_mask_storeu_ps(out + r * ldo + ch, m, rt_finish_f32_x16(acc[r][j], bv, lo, hi));
  }
}

/* A's depth in runs of `row` (rs apart): one run for a row of A, a window's rows for the
 * in-place convolution (conv_direct) */
RT_AVX512 RT_FORCE_INLINE void mk512(const int mr, const int nr, const float *a, int64_t lda, int64_t rs, int row,
                            const float *bp, int64_t bstride, int k, const float *bias, float lo_, float hi_, int n0,
                            int n, float *out, int64_t ldo) {
  __m512 acc[MR][4];
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int j = 0; j < nr; j++) acc[r][j] = _mm512_setzero_ps();
  for (int kk = 0; kk < k; kk += row, a += rs) acc512(mr, nr, acc, a, lda, bp + (int64_t)kk * 16, bstride, row);
  store512(mr, nr, acc, bias, lo_, hi_, n0, n, out, ldo);
}

RT_AVX512 static void tile512(int mr, int nr, const float *a, int64_t lda, int64_t rs, int row, const float *bp,
                              int64_t bstride, int k, const float *bias, float lo, float hi, int n0, int n, float *out,
                              int64_t ldo) {
#define MK(R, N) mk512(R, N, a, lda, rs, row, bp, bstride, k, bias, lo, hi, n0, n, out, ldo)
  RT_MK_SWITCH(mr, nr, MK);
#undef MK
}

QAT_AVX2 RT_FORCE_INLINE __m256 finish8(__m256 acc, __m256 bias, __m256 lo, __m256 hi) {
  __m256 v = _mm256_add_ps(acc, bias);
  v = _mm256_blendv_ps(v, lo, _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
  return _mm256_blendv_ps(v, hi, _mm256_cmp_ps(hi, v, _CMP_LT_OQ));
}

/* The AVX2 micro-kernel's halves, as acc512 and store512 */
QAT_AVX2 RT_FORCE_INLINE void acc256(const int mr, const int nr, __m256 acc[MR][2], const float *a, int64_t lda,
                                     const float *bp, int64_t bstride, int k) {
  for (int kk = 0; kk < k; kk++) {
    __m256 bv[2];
#pragma GCC unroll 2
    for (int j = 0; j < nr; j++) bv[j] = _mm256_load_ps(bp + j * bstride + (int64_t)kk * 8);
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      const __m256 av = _mm256_set1_ps(a[r * lda + kk]);
#pragma GCC unroll 2
      for (int j = 0; j < nr; j++) acc[r][j] = _mm256_add_ps(acc[r][j], _mm256_mul_ps(av, bv[j]));
    }
  }
}

QAT_AVX2 RT_FORCE_INLINE void store256(const int mr, const int nr, __m256 acc[MR][2], const float *bias, float lo_,
                                       float hi_, int n0, int n, float *out, int64_t ldo) {
  const __m256 lo = _mm256_set1_ps(lo_), hi = _mm256_set1_ps(hi_);
  for (int j = 0; j < nr; j++) {
    const int ch = n0 + j * 8, valid = n - ch < 8 ? n - ch : 8;
    float bias8[8] = {0}, res[8];
    if (bias) memcpy(bias8, bias + ch, (size_t)valid * sizeof *bias8);
    const __m256 bv = _mm256_loadu_ps(bias8);
    for (int r = 0; r < mr; r++) {
      const __m256 v = finish8(acc[r][j], bv, lo, hi);
      if (valid == 8) {
        _mm256_storeu_ps(out + r * ldo + ch, v);
      } else {
        _mm256_storeu_ps(res, v);
        memcpy(out + r * ldo + ch, res, (size_t)valid * sizeof *res);
      }
    }
  }
}

QAT_AVX2 RT_FORCE_INLINE void mk256(const int mr, const int nr, const float *a, int64_t lda, int64_t rs, int row,
                           const float *bp, int64_t bstride, int k, const float *bias, float lo_, float hi_, int n0,
                           int n, float *out, int64_t ldo) {
  __m256 acc[MR][2];
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
    for (int j = 0; j < nr; j++) acc[r][j] = _mm256_setzero_ps();
  for (int kk = 0; kk < k; kk += row, a += rs) acc256(mr, nr, acc, a, lda, bp + (int64_t)kk * 8, bstride, row);
  store256(mr, nr, acc, bias, lo_, hi_, n0, n, out, ldo);
}

QAT_AVX2 static void tile256(int mr, int nr, const float *a, int64_t lda, int64_t rs, int row, const float *bp,
                             int64_t bstride, int k, const float *bias, float lo, float hi, int n0, int n, float *out,
                             int64_t ldo) {
  if (mr == MR) {
    if (nr == 2) mk256(MR, 2, a, lda, rs, row, bp, bstride, k, bias, lo, hi, n0, n, out, ldo);
    else mk256(MR, 1, a, lda, rs, row, bp, bstride, k, bias, lo, hi, n0, n, out, ldo);
    return;
  }
  for (int r = 0; r < mr; r++, a += lda, out += ldo) {
    if (nr == 2) mk256(1, 2, a, lda, rs, row, bp, bstride, k, bias, lo, hi, n0, n, out, ldo);
    else mk256(1, 1, a, lda, rs, row, bp, bstride, k, bias, lo, hi, n0, n, out, ldo);
  }
}

/* the output channels a micro-kernel call covers: 4 registers */
static int chunk_channels(const rt_sgemm_b *b) { return b->path == RT_IGEMM_VNNI ? 64 : 16; }

/* mr rows of A (row stride lda; the depth in runs of `row` floats rs apart, or one run with row
 * 0) against output channels [n0, n0 + one chunk), into out (row stride n) */
static void tile_chunk_rows(const rt_sgemm_b *b, const float *bias, float lo, float hi, int mr, const float *a,
                            int64_t lda, int64_t rs, int row, int n0, float *out) {
  const int blk = rt_simd_lanes(b->path), chunk = chunk_channels(b);
  const int64_t bstride = (int64_t)b->k * blk;
  const int nr = (b->np - n0 < chunk ? b->np - n0 : chunk) / blk;
  const float *bp = b->w + (int64_t)(n0 / blk) * bstride;
  if (!row) row = b->k; /* each row of A one run */
  if (b->path == RT_IGEMM_VNNI) tile512(mr, nr, a, lda, rs, row, bp, bstride, b->k, bias, lo, hi, n0, b->n, out, b->n);
  else tile256(mr, nr, a, lda, rs, row, bp, bstride, b->k, bias, lo, hi, n0, b->n, out, b->n);
}

/* each row of A one run */
static void tile_chunk(const rt_sgemm_b *b, const float *bias, float lo, float hi, int mr, const float *a,
                       int64_t lda, int n0, float *out) {
  tile_chunk_rows(b, bias, lo, hi, mr, a, lda, 0, 0, n0, out);
}

/* mr rows of A against every output channel */
static void tile_rows(const rt_sgemm_b *b, const float *bias, float lo, float hi, int mr, const float *a,
                      int64_t lda, float *out) {
  for (int n0 = 0; n0 < b->np; n0 += chunk_channels(b)) tile_chunk(b, bias, lo, hi, mr, a, lda, n0, out);
}

/* n floats copied (src) or zeroed (src NULL) in fixed-size moves: a stem's taps are 1 to 3
 * floats, and a memcpy or memset call per tap cost four times the stem's GEMM. */
static inline void put_floats(float *dst, const float *src, int n) {
  static const float zeros[8];
  int i = 0;
  for (; i + 8 <= n; i += 8) __builtin_memcpy(dst + i, src ? src + i : zeros, 32);
  if (n - i >= 4) __builtin_memcpy(dst + i, src ? src + i : zeros, 16), i += 4;
  if (n - i >= 2) __builtin_memcpy(dst + i, src ? src + i : zeros, 8), i += 2;
  if (i < n) dst[i] = src ? src[i] : 0.0f;
}

/* The patches of the mr output pixels from p0, rows k apart, 0 where a tap leaves the image;
 * the pixel's coordinates stepped, not divided out of p for each (two divisions a pixel were
 * half of a stem's time). */
static void build_tile(const rt_conv_geom *geom, const float *in, int64_t p0, int mr, float *dst) {
  const rt_conv_geom gc = *geom, *g = &gc; /* a copy: stores into the patch could alias *geom */
  const int cin = g->in_c, row = g->k_w * cin;
  int64_t ox = p0 % g->out_w, oy = (p0 / g->out_w) % g->out_h, bt = p0 / ((int64_t)g->out_w * g->out_h);
  for (int r = 0; r < mr; r++) {
    const int64_t y0 = oy * g->stride_h - g->pad_h, x0 = ox * g->stride_w - g->pad_w;
    const int whole_rows = g->dil_w == 1 && x0 >= 0 && x0 + g->k_w <= g->in_w;
    for (int ky = 0; ky < g->k_h; ky++, dst += row) {
      const int64_t y = y0 + (int64_t)g->dil_h * ky;
      const float *irow = in + (bt * g->in_h + y) * g->in_w * cin;
      if (y < 0 || y >= g->in_h) {
        put_floats(dst, NULL, row);
      } else if (whole_rows) {
        put_floats(dst, irow + x0 * cin, row);
      } else {
        for (int kx = 0; kx < g->k_w; kx++) {
          const int64_t x = x0 + (int64_t)g->dil_w * kx;
          put_floats(dst + kx * cin, x < 0 || x >= g->in_w ? NULL : irow + x * cin, cin);
        }
      }
    }
    if (++ox == g->out_w) {
      ox = 0;
      if (++oy == g->out_h) oy = 0, bt++;
    }
  }
}
#endif

/* ---- short window rows read in place (igemm.c's conv_direct, in float): the input copied once
 * per inference inside a border of zeros as wide as the padding, and the micro-kernel reads
 * window row ky of output pixel (oy, ox) at image row oy * stride_h + ky * dil_h, column
 * ox * stride_w: the same products in the same order as the patches (a tap outside the image
 * is a 0 there too) */
#define DIRECT_ROW_MAX 256 /* floats of a window row, as igemm.c's */
#define DIRECT_IMAGE_MAX ((int64_t)1 << 20) /* floats (4 MB): as igemm.c's, a large input keeps the patches */

static void direct_dims(const rt_conv_geom *g, int64_t *rows, int64_t *row_floats) {
  *rows = (int64_t)(g->out_h - 1) * g->stride_h + (int64_t)(g->k_h - 1) * g->dil_h + 1;
  *row_floats = ((int64_t)(g->out_w - 1) * g->stride_w + g->k_w) * g->in_c;
}

int rt_sgemm_pack_conv(rt_sgemm_b *b, int path, const rt_conv_geom *g, const float *w, int allow_direct) {
  int rc = rt_sgemm_pack(b, path, g->out_c, g->k_h * g->k_w * g->in_c, w);
  const int row = g->k_w * g->in_c;
  const int pointwise = g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 &&
                        g->pad_w == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
  int64_t rows, rf;
  direct_dims(g, &rows, &rf);
  const int64_t image = (int64_t)g->batches * rows * rf;
  if (rc || b->path == RT_IGEMM_PLAIN || !allow_direct || g->dil_w != 1 || row > DIRECT_ROW_MAX || pointwise ||
      g->filter_in_c != g->in_c || image > DIRECT_IMAGE_MAX)
    return rc;
  if (!(b->img = aligned_alloc(64, (size_t)(image * 4 + 63) / 64 * 64))) {
    rt_sgemm_free(b);
    return qat_fail(QAT_ERR_NOMEM, "out of memory for a %lld-float input image", (long long)image);
  }
  b->direct_row = row;
  return QAT_OK;
}

#if defined(__x86_64__) || defined(__i386__)
static void conv_direct(const rt_conv_geom *g, float act_min, float act_max, const rt_sgemm_b *b, const float *in,
                        const float *bias, float *out) {
  int64_t rows, rf;
  direct_dims(g, &rows, &rf);
  const int64_t cin = g->in_c, cols = rf / cin;
  const int64_t x0 = g->pad_w < cols ? g->pad_w : cols, x1 = g->pad_w + g->in_w < cols ? g->pad_w + g->in_w : cols;
  for (int64_t bt = 0; bt < g->batches; bt++)
    for (int64_t yy = 0; yy < rows; yy++) {
      float *dst = b->img + (bt * rows + yy) * rf;
      const int64_t y = yy - g->pad_h;
      if (y < 0 || y >= g->in_h) {
        memset(dst, 0, (size_t)rf * sizeof *dst);
        continue;
      }
      memset(dst, 0, (size_t)(x0 * cin) * sizeof *dst);
      memcpy(dst + x0 * cin, in + ((bt * g->in_h + y) * g->in_w + x0 - g->pad_w) * cin, (size_t)((x1 - x0) * cin) * sizeof *dst);
      memset(dst + x1 * cin, 0, (size_t)((cols - x1) * cin) * sizeof *dst);
    }
  const int64_t per_row = (g->out_w + MR - 1) / MR, tiles = (int64_t)g->batches * g->out_h * per_row;
  const int64_t lda = (int64_t)g->stride_w * cin, rs = (int64_t)g->dil_h * rf;
  const int64_t M = (int64_t)g->batches * g->out_h * g->out_w;
  RT_FOR(2 * M * b->n * (int64_t)b->k > RT_PARALLEL_FLOPS, t, tiles, {
    const int64_t orow = t / per_row, ox0 = t % per_row * MR, bt = orow / g->out_h, oy = orow % g->out_h;
    const int mr = g->out_w - ox0 < MR ? (int)(g->out_w - ox0) : MR;
    const float *a = b->img + (bt * rows + oy * g->stride_h) * rf + ox0 * lda;
    float *o = out + (orow * g->out_w + ox0) * b->n;
    for (int n0 = 0; n0 < b->np; n0 += chunk_channels(b))
      tile_chunk_rows(b, bias, act_min, act_max, mr, a, lda, rs, b->direct_row, n0, o);
  });
}
#endif

void rt_conv2d_f32_gemm(const rt_conv_geom *g, float act_min, float act_max, const rt_sgemm_b *b,
                        const float *in, const float *bias, float *out) {
#if defined(__x86_64__) || defined(__i386__)
  if (b->direct_row) {
    conv_direct(g, act_min, act_max, b, in, bias, out);
    return;
  }
  const int64_t M = (int64_t)g->batches * g->out_h * g->out_w, tiles = (M + MR - 1) / MR;
  /* a 1x1, stride-1, unpadded convolution reads its input rows as they are */
  const int direct = g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 &&
                     g->pad_w == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
  RT_FOR(2 * M * b->n * (int64_t)b->k > RT_PARALLEL_FLOPS, t, tiles, {
    _Alignas(64) float a[MR * RT_SGEMM_KMAX];
    const int64_t p0 = t * MR;
    const int mr = M - p0 < MR ? (int)(M - p0) : MR;
    const float *rows = in + p0 * b->k;
    int64_t lda = b->k;
    if (!direct) {
      build_tile(g, in, p0, mr, a);
      rows = a;
    }
    tile_rows(b, bias, act_min, act_max, mr, rows, lda, out + p0 * b->n);
  });
#else
  (void)g, (void)act_min, (void)act_max, (void)b, (void)in, (void)bias, (void)out;
#endif
}

void rt_fc_f32_gemm(int batches, float act_min, float act_max, const rt_sgemm_b *b, const float *in,
                    const float *bias, float *out) {
#if defined(__x86_64__) || defined(__i386__)
  /* tiles of MR rows by one chunk of channels, over the threads: at batch 1 the work is the
   * weights' columns (the seed CNN's 1600x256 layer reads 1.6 MB of them) */
  const int chunk = chunk_channels(b);
  const int64_t row_tiles = (batches + MR - 1) / MR, chunks = (b->np + chunk - 1) / chunk;
  RT_FOR(2 * (int64_t)batches * b->n * (int64_t)b->k > RT_PARALLEL_FLOPS, t, row_tiles * chunks, {
    const int64_t r = t / chunks * MR;
    const int n0 = (int)(t % chunks) * chunk;
    const float *a = in + r * b->k;
    float *o = out + r * b->n;
    tile_chunk(b, bias, act_min, act_max, batches - r < MR ? (int)(batches - r) : MR, a, b->k, n0, o);
  });
#else
  (void)batches, (void)act_min, (void)act_max, (void)b, (void)in, (void)bias, (void)out;
#endif
}

/* ---- TRANSPOSE_CONV ------------------------------------------------------------------------
 * Each output pixel gathers the input pixels whose scatter reaches it, rows iy then columns ix
 * as RT_TCONV_LOOP walks them, and adds each one's in_c products in order: the reference's
 * sum, lane by lane, with up to 4 registers of output channels per pass. The filter
 * [out_c][kh][kw][in_c] is packed as CONV_2D's (rt_sgemm_pack): a tap's in_c weights are one
 * run of the packed depth. The accumulator starts at +0 and so is never -0, so the epilogue's
 * + 0 where there is no bias changes nothing (TC_F32_DONE adds no bias then). */
#if defined(__x86_64__) || defined(__i386__)
typedef struct tconv_px {
  int64_t ty, tx, y0, y1, x0, x1; /* the output pixel's tap origin and the input rows, columns reaching it */
} tconv_px;

static tconv_px tconv_span(const rt_conv_geom *g, int64_t oy, int64_t ox) {
  tconv_px p;
  p.ty = oy + g->pad_h, p.tx = ox + g->pad_w;
  const int64_t ly = p.ty - g->k_h + 1, lx = p.tx - g->k_w + 1;
  p.y0 = ly <= 0 ? 0 : (ly + g->stride_h - 1) / g->stride_h;
  p.x0 = lx <= 0 ? 0 : (lx + g->stride_w - 1) / g->stride_w;
  p.y1 = p.ty / g->stride_h < g->in_h - 1 ? p.ty / g->stride_h : g->in_h - 1;
  p.x1 = p.tx / g->stride_w < g->in_w - 1 ? p.tx / g->stride_w : g->in_w - 1;
  return p;
}

/* mr output pixels stride_w apart in one row (the same taps, each from the input column
 * after the previous pixel's) by nr registers of channels from n0; out: the first pixel's.
 * Each tap is a run of in_c products through the GEMM's accumulate half. */
#define TCONV_MK(NAME, ATTR, V, LANES, NRMAX, ACC, STORE, ZERO)                                                  \
  ATTR RT_FORCE_INLINE void NAME(const int mr, const int nr, const rt_conv_geom *g, const rt_sgemm_b *b,         \
                                 const float *in, const tconv_px *p, int n0, const float *bias, float lo,       \
                                 float hi, float *out) {                                                         \
    const int64_t bstride = (int64_t)b->k * LANES;                                                               \
    const int cin = g->in_c;                                                                                     \
    V acc[MR][NRMAX];                                                                                            \
    _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++)                                                         \
      _Pragma("GCC unroll 4") for (int j = 0; j < nr; j++) acc[r][j] = ZERO();                                   \
    for (int64_t iy = p->y0; iy <= p->y1; iy++)                                                                  \
      for (int64_t ix = p->x0; ix <= p->x1; ix++)                                                                \
        ACC(mr, nr, acc, in + (iy * g->in_w + ix) * cin, cin,                                                    \
            b->w + (int64_t)(n0 / LANES) * bstride +                                                             \
                (((p->ty - iy * g->stride_h) * g->k_w + p->tx - ix * g->stride_w) * cin) * LANES,                \
            bstride, cin);                                                                                       \
    STORE(mr, nr, acc, bias, lo, hi, n0, b->n, out, (int64_t)g->stride_w * b->n);                                \
  }
TCONV_MK(tconv_mk512, RT_AVX512, __m512, 16, 4, acc512, store512, _mm512_setzero_ps)
TCONV_MK(tconv_mk256, QAT_AVX2, __m256, 8, 2, acc256, store256, _mm256_setzero_ps)
#undef TCONV_MK

/* One pixel block (mr 1 or 4) against every channel: up to 4 registers a pass (AVX-512), 2
 * (AVX2). */
RT_AVX512 static void tconv_block512(int mr, const rt_conv_geom *g, const rt_sgemm_b *b, const float *in,
                                     const tconv_px *p, const float *bias, float lo, float hi, float *o) {
#define MK(R, N) tconv_mk512(R, N, g, b, in, p, n0, bias, lo, hi, o)
  for (int n0 = 0; n0 < b->np; n0 += 64) {
    const int nr = (b->np - n0 < 64 ? b->np - n0 : 64) / 16;
    if (mr == 4) {
      switch (nr) { case 1: MK(4, 1); break; case 2: MK(4, 2); break; case 3: MK(4, 3); break; default: MK(4, 4); }
    } else {
      switch (nr) { case 1: MK(1, 1); break; case 2: MK(1, 2); break; case 3: MK(1, 3); break; default: MK(1, 4); }
    }
  }
#undef MK
}

QAT_AVX2 static void tconv_block256(int mr, const rt_conv_geom *g, const rt_sgemm_b *b, const float *in,
                                    const tconv_px *p, const float *bias, float lo, float hi, float *o) {
#define MK(R, N) tconv_mk256(R, N, g, b, in, p, n0, bias, lo, hi, o)
  for (int n0 = 0; n0 < b->np; n0 += 16) {
    const int two = b->np - n0 >= 16;
    if (mr == 4) {
      if (two) MK(4, 2);
      else MK(4, 1);
    } else {
      if (two) MK(1, 2);
      else MK(1, 1);
    }
  }
#undef MK
}

typedef void (*tconv_block_fn)(int mr, const rt_conv_geom *g, const rt_sgemm_b *b, const float *in,
                               const tconv_px *p, const float *bias, float lo, float hi, float *o);

/* An output row by phases (columns ox = phase + m * stride_w), 4 pixels at once where their
 * taps line up (none clipped differently at the image's edges), else one. */
static void tconv_row(tconv_block_fn block, const rt_conv_geom *g, const rt_sgemm_b *b, const float *in, int64_t oy,
                      const float *bias, float lo, float hi, float *out) {
  const int64_t sw = g->stride_w;
  for (int64_t phase = 0; phase < sw && phase < g->out_w; phase++)
    for (int64_t ox = phase; ox < g->out_w;) {
      const tconv_px p = tconv_span(g, oy, ox);
      int four = ox + 3 * sw < g->out_w;
      for (int r = 1; r < 4 && four; r++) {
        const tconv_px q = tconv_span(g, oy, ox + r * sw);
        four = q.x0 == p.x0 + r && q.x1 == p.x1 + r;
      }
      block(four ? 4 : 1, g, b, in, &p, bias, lo, hi, out + ox * b->n);
      ox += (four ? 4 : 1) * sw;
    }
}
#endif

void rt_tconv_f32_gemm(const rt_conv_geom *g, float act_min, float act_max, const rt_sgemm_b *b, const float *in,
                       const float *bias, float *out) {
#if defined(__x86_64__) || defined(__i386__)
  const int64_t rows = (int64_t)g->batches * g->out_h, in_image = (int64_t)g->in_h * g->in_w * g->in_c;
  const int64_t macs = (int64_t)g->batches * g->in_h * g->in_w * g->in_c * g->k_h * g->k_w * g->out_c;
  RT_FOR(2 * macs > RT_PARALLEL_FLOPS, r, rows, {
    const int64_t bt = r / g->out_h, oy = r % g->out_h;
    float *o = out + r * g->out_w * b->n;
    tconv_row(b->path == RT_IGEMM_VNNI ? tconv_block512 : tconv_block256, g, b, in + bt * in_image, oy, bias,
              act_min, act_max, o);
  });
#else
  (void)g, (void)act_min, (void)act_max, (void)b, (void)in, (void)bias, (void)out;
#endif
}
