/* AVX2 int8 kernels for CPUs without AVX-512, bit-exact with the plain loops of kernels_quant.c
 * and ops/mul.c: ADD and MUL along broadcast rows (rt_bcast_rows), 8 lanes at a time with
 * gemmlowp's fixed point (fakequant/fixedpoint_avx2.h's qat_rq8x), and DEPTHWISE_CONV_2D with
 * its sums in registers. The plain loops ran MobileNetV2's
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

/* An ADD input's rescale in 32-bit lanes (rt_rescale, kernels_quant.c) */
typedef struct rescale8 {
  __m256i mh, ml, k, neg;
  __m128i s;
} rescale8;

QAT_AVX2 static int rescale8_prepare(int32_t m, int shift, int ls, rescale8 *r) {
  rt_rescale p;
  if (rt_add_rescale_params(m, shift, ls, &p)) return -1;
  r->mh = _mm256_set1_epi32(p.mh), r->ml = _mm256_set1_epi32(p.ml), r->k = _mm256_set1_epi32(p.k);
  r->neg = _mm256_set1_epi32(p.neg), r->s = _mm_cvtsi32_si128(p.s);
  return 0;
}

QAT_AVX2 static inline __m256i rescale8_apply(const rescale8 *r, __m256i x) {
  __m256i t = _mm256_add_epi32(_mm256_mullo_epi32(x, r->ml), r->k);
  t = _mm256_sub_epi32(t, _mm256_and_si256(_mm256_srai_epi32(x, 31), r->neg));
  return _mm256_add_epi32(_mm256_sra_epi32(t, r->s), _mm256_mullo_epi32(x, r->mh));
}

QAT_AVX2 static void rescale8_values(const rescale8 *r, const int32_t *x, int64_t n, int32_t *out) {
  for (int64_t i = 0; i < n; i++) /* one lane at a time: a test's entry, not a kernel */
    out[i] = _mm256_cvtsi256_si32(rescale8_apply(r, _mm256_set1_epi32(x[i])));
}

int rt_add_rescale_avx2(int32_t m, int shift, int ls, const int32_t *x, int64_t n, int32_t *out) {
  rescale8 r;
  if (rt_igemm_path() == RT_IGEMM_PLAIN || rescale8_prepare(m, shift, ls, &r)) return -1;
  rescale8_values(&r, x, n, out);
  return 0;
}

/* The rows of w, 8 lanes at a time: ADD's two rescales in 32-bit lanes (kind 0, rescale8) or
 * in 64-bit halves (kind 1), or MUL's product (kind 2), then the output's requantization; kind
 * a constant where inlined. */
QAT_AVX2 static inline __attribute__((always_inline)) void rows8(const rt_add_params *p, const rt_rows *w,
                                                                 const int kind, const rescale8 *q1,
                                                                 const rescale8 *q2) {
  const int mul = kind == 2;
  const __m256i off1 = _mm256_set1_epi32(p->in1_offset), off2 = _mm256_set1_epi32(p->in2_offset);
  const qat_rq8x r1 = qat_rq8x_prepare(_mm256_set1_epi32(p->m1), _mm256_set1_epi32(p->s1)),
                 r2 = qat_rq8x_prepare(_mm256_set1_epi32(p->m2), _mm256_set1_epi32(p->s2)),
                 ro = qat_rq8x_prepare(_mm256_set1_epi32(p->mo), _mm256_set1_epi32(p->so));
  const __m128i lsh = _mm_cvtsi32_si128(p->left_shift);
  const int64_t n = w->n, s1 = w->s1, s2 = w->s2;
  for (int64_t r = 0; r < w->rows; r++) {
    const int8_t *in1 = w->in1 + r * w->r1, *in2 = w->in2 + r * w->r2;
    int8_t *out = w->out + r * n;
    for (int64_t i = 0; i < n; i += 8) {
      const int64_t k = n - i < 8 ? n - i : 8;
      const __m256i x1 = _mm256_add_epi32(load8(in1 + i * s1, s1, k), off1),
                    x2 = _mm256_add_epi32(load8(in2 + i * s2, s2, k), off2);
      __m256i v;
      if (mul) { /* (x1 - zp1) * (x2 - zp2): |.| <= 256 * 256, exact in int32 */
        v = _mm256_mullo_epi32(x1, x2);
      } else if (kind == 0) {
        v = _mm256_add_epi32(rescale8_apply(q1, x1), rescale8_apply(q2, x2));
      } else { /* |(offset + x) << left_shift| < 2^31 (kernels_quant.c's add_one) */
        v = _mm256_add_epi32(qat_rq8x_apply(&r1, _mm256_sll_epi32(x1, lsh)), qat_rq8x_apply(&r2, _mm256_sll_epi32(x2, lsh)));
      }
      store8(out + i, qat_rq8x_apply(&ro, v), p, k);
    }
  }
}

QAT_AVX2 void rt_add_row_i8_avx2(const rt_add_params *p, const rt_rows *w) {
  rescale8 q1, q2;
  if (!rescale8_prepare(p->m1, p->s1, p->left_shift, &q1) && !rescale8_prepare(p->m2, p->s2, p->left_shift, &q2))
    rows8(p, w, 0, &q1, &q2);
  else
    rows8(p, w, 1, NULL, NULL);
}

QAT_AVX2 void rt_mul_row_i8_avx2(const rt_add_params *p, const rt_rows *w) { rows8(p, w, 2, NULL, NULL); }

/* DEPTHWISE_CONV_2D int8, depth multiplier 1, one output row: 16 channels a block in two
 * registers of int32 sums, each tap's (x + offset) * w formed exactly in int16 (|x + offset|
 * <= 255, |w| <= 127: |product| <= 32385) and widened into the sums, which wrap as the
 * reference's; taps outside the image skipped. The plain loop kept its sums in memory and
 * reloaded them for every tap. */
QAT_AVX2 void rt_dwconv2d_i8_row_avx2(const rt_conv_geom *geom, const rt_requant *q, const int8_t *in, const int8_t *w,
                                      const int32_t *bias, int8_t *out, int64_t row) {
  const rt_conv_geom gc = *geom, *g = &gc;
  const int64_t b = row / g->out_h, y0 = row % g->out_h * g->stride_h - g->pad_h, C = g->out_c;
  const __m256i off = _mm256_set1_epi16((int16_t)q->in_offset);
  for (int64_t ox = 0; ox < g->out_w; ox++) {
    const int64_t x0 = ox * g->stride_w - g->pad_w;
    int8_t *o = out + (row * g->out_w + ox) * C;
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
      const int64_t k = C - c0 < 16 ? C - c0 : 16;
      _Alignas(32) int32_t acc[16] = {0};
      if (bias) memcpy(acc, bias + c0, (size_t)k * sizeof *acc);
      __m256i a0 = _mm256_load_si256((const __m256i *)acc), a1 = _mm256_load_si256((const __m256i *)(acc + 8));
      RT_FOR_EACH_TAP(g, b, y0, x0, ky, kx, at, {
        const int8_t *wp = w + (ky * g->k_w + kx) * C + c0, *xp = in + at + c0;
        __m128i xb, wb;
        if (k == 16) {
          xb = _mm_loadu_si128((const __m128i *)xp);
          wb = _mm_loadu_si128((const __m128i *)wp);
        } else {
          int8_t xt[16] = {0}, wt[16] = {0};
          memcpy(xt, xp, (size_t)k);
          memcpy(wt, wp, (size_t)k);
          xb = _mm_loadu_si128((const __m128i *)xt);
          wb = _mm_loadu_si128((const __m128i *)wt);
        }
        const __m256i prod = _mm256_mullo_epi16(_mm256_add_epi16(_mm256_cvtepi8_epi16(xb), off), _mm256_cvtepi8_epi16(wb));
        a0 = _mm256_add_epi32(a0, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(prod)));
        a1 = _mm256_add_epi32(a1, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(prod, 1)));
      });
      _mm256_store_si256((__m256i *)acc, a0);
      _mm256_store_si256((__m256i *)(acc + 8), a1);
      rt_requant_row_i8(q, acc, (int)c0, (int)k, o + c0);
    }
  }
}

#else
void rt_dwconv2d_i8_row_avx2(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                             const int32_t *bias, int8_t *out, int64_t row) {
  (void)g, (void)q, (void)in, (void)w, (void)bias, (void)out, (void)row;
}
int rt_add_rescale_avx2(int32_t m, int shift, int ls, const int32_t *x, int64_t n, int32_t *out) {
  (void)m, (void)shift, (void)ls, (void)x, (void)n, (void)out;
  return -1;
}
void rt_add_row_i8_avx2(const rt_add_params *p, const rt_rows *w) { (void)p, (void)w; }
void rt_mul_row_i8_avx2(const rt_add_params *p, const rt_rows *w) { (void)p, (void)w; }
#endif
