/* The fake quant's requantization, vectorized. Each element recomputes what the int8 kernel
 * computes (see op_fake_quant.c): the accumulator acc = round(x / (s_in * s_w[c])) on the bias
 * grid (double division, half away from zero, saturated to int32, NaN -> 0), then either
 * MultiplyByQuantizedMultiplier(acc, M[c], shift[c]) (conv) or round(acc * eff[c]) (LiteRT's
 * reference FULLY_CONNECTED), + zp, the activation clamp and (q - zp) * s_out.
 *
 * The AVX2 path does the same operations in the same order, each exactly rounded (IEEE
 * division and multiplication, truncation, integer arithmetic), so it is bit-equal to the
 * plain C one rather than close to it. It was the fake-quant step's largest cost: the scalar
 * loop calls round() twice and does 64-bit arithmetic per element. */
#include "fakequant/requant.h"

#include <math.h>
#include <stdlib.h>

#include "qat/quant.h"
#include "fakequant/fixedpoint_avx2.h"
#include "fakequant/fixedpoint_avx512.h"
#include "fakequant/simd.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QAT_HAVE_X86 1
#endif

static inline float one(const qat_requant_job *j, int64_t i) {
  const int c = (int)(i % j->channels);
  /* the bias grid's scale, a float product as the bias quantizer forms it */
  const float s_acc = j->s_in * j->w_scale[j->per_tensor ? 0 : c];
  if (j->wide) {
    double a = (j->acc ? j->acc[i] : round((double)j->x[i] / (double)s_acc)) + (j->acc_bias ? j->acc_bias[c] : 0.0);
    const double lim = 140737488355327.0; /* 2^47 - 1: the int64 overload's domain */
    a = a == a ? (a > lim ? lim : a < -lim ? -lim : a) : 0.0;
    int64_t q;
    if (j->fixed_point) {
      q = (int64_t)qat_multiply_by_quantized_multiplier_int64((int64_t)a, j->mult[c], j->shift[c]);
    } else {
      const double r = round(a * j->eff[c]);
      q = r >= -2147483648.0 && r < 2147483648.0 ? (int64_t)r : INT32_MIN;
    }
    q += j->zp;
    q = q < j->act_min ? j->act_min : q > j->act_max ? j->act_max : q;
    return (float)(q - j->zp) * j->s_out;
  }
  const int32_t acc = qat_sat_int32(round((double)j->x[i] / (double)s_acc) + (j->acc_bias ? j->acc_bias[c] : 0.0));
  int64_t q;
  if (j->fixed_point) {
    q = (int64_t)qat_multiply_by_quantized_multiplier(acc, j->mult[c], j->shift[c]);
  } else {
    const double r = round((double)acc * j->eff[c]);
    q = r >= -2147483648.0 && r < 2147483648.0 ? (int64_t)r : INT32_MIN;
  }
  q += j->zp;
  q = q < j->act_min ? j->act_min : q > j->act_max ? j->act_max : q;
  return (float)(q - j->zp) * j->s_out;
}

void qat_requant_reciprocals(const qat_requant_job *j, double *inv) {
  for (int c = 0; c < j->channels; c++) inv[c] = 1.0 / (double)(j->s_in * j->w_scale[j->per_tensor ? 0 : c]);
}

void qat_requant_run_ref(const qat_requant_job *j) {
  for (int64_t i = j->begin; i < j->end; i++) j->y[i] = one(j, i);
}

void qat_add_requant_row_ref(const qat_add_requant_row *j) {
  for (int i = 0; i < j->n; i++) {
    const int32_t q = qat_add_requantize(qat_fq_centered(j->a[i * j->a_stride], j->s1), qat_fq_centered(j->b[i * j->b_stride], j->s2),
                                         j->subtract, j->mult, j->shift, j->left_shift, j->zp, j->act_min, j->act_max);
    j->y[i] = (float)(q - j->zp) * j->s_out;
  }
}

/* The vector paths walk runs of consecutive channels: from element i to the end of its row
 * of channels (or of the job). Returns where the run stops; *c is i's channel. */
static inline int64_t channel_run(const qat_requant_job *j, int64_t i, int *c) {
  *c = (int)(i % j->channels);
  const int64_t stop = i + (j->channels - *c);
  return stop < j->end ? stop : j->end;
}

#ifdef QAT_HAVE_X86
#define AVX2 QAT_AVX2

/* round half away from zero, exactly: v - trunc(v) is exact */
AVX2 static inline __m256d round_away(__m256d v) {
  const __m256d sign = _mm256_set1_pd(-0.0);
  const __m256d t = _mm256_round_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256d frac = _mm256_andnot_pd(sign, _mm256_sub_pd(v, t));
  const __m256d step = _mm256_or_pd(_mm256_and_pd(v, sign), _mm256_set1_pd(1.0));
  return _mm256_add_pd(t, _mm256_and_pd(_mm256_cmp_pd(frac, _mm256_set1_pd(0.5), _CMP_GE_OQ), step));
}

/* qat_sat_int32 on 4 lanes: NaN -> 0, then clamp (both bounds are exact doubles) and truncate */
AVX2 static inline __m128i sat_int32_x4(__m256d v) {
  v = _mm256_andnot_pd(_mm256_cmp_pd(v, v, _CMP_UNORD_Q), v);
  v = _mm256_max_pd(_mm256_min_pd(v, _mm256_set1_pd(2147483647.0)), _mm256_set1_pd(-2147483648.0));
  return _mm256_cvttpd_epi32(v);
}

AVX2 static void run_avx2(const qat_requant_job *j) {
  const __m128 s_in_f = _mm_set1_ps(j->s_in), s_out = _mm_set1_ps(j->s_out);
  const __m128i lo = _mm_set1_epi32(j->act_min - j->zp), hi = _mm_set1_epi32(j->act_max - j->zp);
  const __m256d big = _mm256_set1_pd(2147483648.0), small = _mm256_set1_pd(-2147483648.0);
  int64_t i = j->begin;
  while (i < j->end) {
    int c;
    const int64_t stop = channel_run(j, i, &c);
    for (; i + 4 <= stop; i += 4, c += 4) {
      const __m128 ws = j->per_tensor ? _mm_set1_ps(j->w_scale[0]) : _mm_loadu_ps(j->w_scale + c);
      const __m256d s_acc = _mm256_cvtps_pd(_mm_mul_ps(s_in_f, ws));
      __m256d v = round_away(_mm256_div_pd(_mm256_cvtps_pd(_mm_loadu_ps(j->x + i)), s_acc));
      if (j->acc_bias) v = _mm256_add_pd(v, _mm256_loadu_pd(j->acc_bias + c)); /* integers: exact */
      const __m128i acc = sat_int32_x4(v);
      __m128i r;
      if (j->fixed_point) {
        r = qat_mbqm_x4(acc, _mm_loadu_si128((const __m128i *)(j->mult + c)),
                        _mm_loadu_si128((const __m128i *)(j->shift + c)));
      } else {
        const __m256d p = round_away(_mm256_mul_pd(_mm256_cvtepi32_pd(acc), _mm256_loadu_pd(j->eff + c)));
        /* out of int32 (or NaN): INT32_MIN, as the plain path */
        const __m256d ok = _mm256_and_pd(_mm256_cmp_pd(p, small, _CMP_GE_OQ), _mm256_cmp_pd(p, big, _CMP_LT_OQ));
        const __m256d pc = _mm256_blendv_pd(small, p, ok);
        r = _mm256_cvttpd_epi32(pc);
      }
      /* q + zp clamped to [act_min, act_max], minus zp: clamp r to [act_min - zp, act_max - zp]
       * (r + zp cannot wrap in the plain path's int64; here it is never formed) */
      r = _mm_min_epi32(_mm_max_epi32(r, lo), hi);
      _mm_storeu_ps(j->y + i, _mm_mul_ps(_mm_cvtepi32_ps(r), s_out));
    }
    for (; i < stop; i++) j->y[i] = one(j, i);
  }
}

/* the row's elements from i on */
static inline qat_add_requant_row row_from(const qat_add_requant_row *j, int i) {
  qat_add_requant_row r = *j;
  r.a += i * j->a_stride;
  r.b += i * j->b_stride;
  r.y += i;
  r.n = j->n - i;
  return r;
}

/* 4 values of an input row: contiguous, broadcast or strided */
AVX2 static inline __m128 row_x4(const float *p, int64_t stride, int i) {
  if (stride == 1) return _mm_loadu_ps(p + i);
  if (stride == 0) return _mm_set1_ps(p[0]);
  return _mm_setr_ps(p[i * stride], p[(i + 1) * stride], p[(i + 2) * stride], p[(i + 3) * stride]);
}

AVX2 static void add_row_avx2(const qat_add_requant_row *j) {
  const __m256d s1 = _mm256_set1_pd((double)j->s1), s2 = _mm256_set1_pd((double)j->s2);
  const __m128i m0 = _mm_set1_epi32(j->mult[0]), m1 = _mm_set1_epi32(j->mult[1]), m2 = _mm_set1_epi32(j->mult[2]);
  const __m128i sh0 = _mm_set1_epi32(j->shift[0]), sh1 = _mm_set1_epi32(j->shift[1]), sh2 = _mm_set1_epi32(j->shift[2]);
  const __m128i ls = _mm_cvtsi32_si128(j->left_shift), zp = _mm_set1_epi32(j->zp);
  const __m128i lo = _mm_set1_epi32(j->act_min), hi = _mm_set1_epi32(j->act_max);
  const __m128 s_out = _mm_set1_ps(j->s_out);
  int i = 0;
  for (; i + 4 <= j->n; i += 4) {
    const __m128i c1 = sat_int32_x4(round_away(_mm256_div_pd(_mm256_cvtps_pd(row_x4(j->a, j->a_stride, i)), s1)));
    const __m128i c2 = sat_int32_x4(round_away(_mm256_div_pd(_mm256_cvtps_pd(row_x4(j->b, j->b_stride, i)), s2)));
    /* the left shift wraps as the scalar one's through uint32; so do the sums */
    const __m128i a = qat_mbqm_x4(_mm_sll_epi32(c1, ls), m0, sh0), b = qat_mbqm_x4(_mm_sll_epi32(c2, ls), m1, sh1);
    const __m128i sum = j->subtract ? _mm_sub_epi32(a, b) : _mm_add_epi32(a, b);
    __m128i q = _mm_add_epi32(qat_mbqm_x4(sum, m2, sh2), zp);
    q = _mm_min_epi32(_mm_max_epi32(q, lo), hi);
    _mm_storeu_ps(j->y + i, _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(q, zp)), s_out));
  }
  if (i < j->n) {
    const qat_add_requant_row tail = row_from(j, i);
    qat_add_requant_row_ref(&tail);
  }
}

int qat_add_requant_row_avx2(const qat_add_requant_row *j) {
  if (qat_simd_cpu() < QAT_SIMD_AVX2) return -1;
  add_row_avx2(j);
  return 0;
}

/* ---- AVX-512: 16 lanes, and no division ----
 * The accumulator's quotient x / s_acc is formed as x * (1 / s_acc) with the reciprocal per
 * channel. Both the double quotient and that product lie within |q| 2^-51 of the exact x / s_acc,
 * so they round (half away from zero) to the same integer unless the product falls within
 * that distance of a half-integer; those lanes (ties such as x = 2.5 s_acc) are recomputed
 * with the division. Everything after the rounding is integer arithmetic on equal values. */
#define AVX512 QAT_AVX512

AVX512 static inline __m512d round_away8(__m512d v) {
  const __m512d t = _mm512_roundscale_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512d frac = _mm512_abs_pd(_mm512_sub_pd(v, t));
  const __m512d step = _mm512_or_pd(_mm512_and_pd(v, _mm512_set1_pd(-0.0)), _mm512_set1_pd(1.0));
  return _mm512_mask_add_pd(t, _mm512_cmp_pd_mask(frac, _mm512_set1_pd(0.5), _CMP_GE_OQ), t, step);
}

/* lanes whose product may round differently from the double quotient */
AVX512 static inline __mmask8 near_tie8(__m512d v) {
  const __m512d t = _mm512_roundscale_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512d off = _mm512_abs_pd(_mm512_sub_pd(_mm512_abs_pd(_mm512_sub_pd(v, t)), _mm512_set1_pd(0.5)));
  return _mm512_cmp_pd_mask(off, _mm512_mul_pd(_mm512_abs_pd(v), _mm512_set1_pd(0x1p-49)), _CMP_LE_OQ);
}

/* the accumulators of 8 lanes: round(x / s_acc) (+ bias integers), saturated, NaN -> 0 */
AVX512 static inline __m256i acc8(__m256 x, __m256 s_acc, const double *inv, const double *bias) {
  const __m512d xd = _mm512_cvtps_pd(x);
  __m512d q = _mm512_mul_pd(xd, _mm512_loadu_pd(inv));
  const __mmask8 near = near_tie8(q);
  if (near) q = _mm512_mask_div_pd(q, near, xd, _mm512_cvtps_pd(s_acc));
  __m512d v = round_away8(q);
  if (bias) v = _mm512_add_pd(v, _mm512_loadu_pd(bias));
  v = _mm512_mask_mov_pd(v, _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q), _mm512_setzero_pd());
  v = _mm512_max_pd(_mm512_min_pd(v, _mm512_set1_pd(2147483647.0)), _mm512_set1_pd(-2147483648.0));
  return _mm512_cvttpd_epi32(v);
}

AVX512 static void run_avx512(const qat_requant_job *j) {
  const double *inv = j->inv;
  const __m512 s_in = _mm512_set1_ps(j->s_in), s_out = _mm512_set1_ps(j->s_out);
  const __m512i lo = _mm512_set1_epi32(j->act_min - j->zp), hi = _mm512_set1_epi32(j->act_max - j->zp);
  /* the multipliers of channels 16b..16b+15 prepared once per job for up to 256 channels: runs
   * start at a row's channel 0 and most vectors at a multiple of 16 (preparing each vector's
   * took a third of the pass) */
  enum { BLOCKS = 16 };
  qat_rq16 blocks[BLOCKS];
  const int nb = j->channels <= 16 * BLOCKS ? (j->channels + 15) / 16 : 0;
  for (int b = 0; b < nb; b++) {
    const __mmask16 m = (__mmask16)(j->channels - 16 * b >= 16 ? 0xffff : (1u << (j->channels - 16 * b)) - 1);
    blocks[b] = qat_rq16_prepare(_mm512_maskz_loadu_epi32(m, j->mult + 16 * b), _mm512_maskz_loadu_epi32(m, j->shift + 16 * b));
  }
  int64_t i = j->begin;
  while (i < j->end) {
    int c;
    const int64_t stop = channel_run(j, i, &c);
    for (; i + 16 <= stop; i += 16, c += 16) {
      const __m512 ws = j->per_tensor ? _mm512_set1_ps(j->w_scale[0]) : _mm512_loadu_ps(j->w_scale + c);
      const __m512 s_acc = _mm512_mul_ps(s_in, ws), x = _mm512_loadu_ps(j->x + i);
      const double *b = j->acc_bias ? j->acc_bias + c : NULL;
      const __m256i a0 = acc8(_mm512_castps512_ps256(x), _mm512_castps512_ps256(s_acc), inv + c, b);
      const __m256i a1 = acc8(_mm512_extractf32x8_ps(x, 1), _mm512_extractf32x8_ps(s_acc, 1), inv + c + 8, b ? b + 8 : NULL);
      const __m512i acc = _mm512_inserti64x4(_mm512_castsi256_si512(a0), a1, 1);
      qat_rq16 own;
      const qat_rq16 *rq = &own;
      if (c % 16 == 0 && c / 16 < nb) rq = &blocks[c / 16];
      else own = qat_rq16_prepare(_mm512_loadu_si512(j->mult + c), _mm512_loadu_si512(j->shift + c));
      __m512i r = qat_rq16_run(rq, acc);
      r = _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
      _mm512_storeu_ps(j->y + i, _mm512_mul_ps(_mm512_cvtepi32_ps(r), s_out));
    }
    if (i < stop) { /* the segment's tail: the AVX2 path (4 lanes, then plain C) */
      qat_requant_job tail = *j;
      tail.begin = i;
      tail.end = stop;
      run_avx2(&tail);
      i = stop;
    }
  }
}

/* 8 values of an ADD input back on their grid: acc8's round(v / s) by the reciprocal, with the
 * near-tie lanes divided */
AVX512 static inline __m256i centered8(__m256 v, __m256 s, const double *inv) { return acc8(v, s, inv, NULL); }

/* 16 values of an input row, contiguous (stride 1) or broadcast (stride 0) */
AVX512 static inline __m512 row_x16(const float *p, int64_t stride, int i) {
  return stride ? _mm512_loadu_ps(p + i) : _mm512_set1_ps(p[0]);
}

/* add_row_avx2's arithmetic on 16 lanes, the grid values recovered as run_avx512's
 * accumulators (a multiplication by the reciprocal, not a division per element: the
 * divisions were a residual network's largest fake-quant cost) */
AVX512 static void add_row_avx512(const qat_add_requant_row *j) {
  double inv1[8], inv2[8];
  for (int k = 0; k < 8; k++) inv1[k] = 1.0 / (double)j->s1, inv2[k] = 1.0 / (double)j->s2;
  const __m256 s1 = _mm256_set1_ps(j->s1), s2 = _mm256_set1_ps(j->s2);
  qat_rq16 rq[3];
  for (int k = 0; k < 3; k++) rq[k] = qat_rq16_prepare(_mm512_set1_epi32(j->mult[k]), _mm512_set1_epi32(j->shift[k]));
  const int right = rq[0].right_only && rq[1].right_only && rq[2].right_only; /* the loop is unswitched on it */
  const __m128i ls = _mm_cvtsi32_si128(j->left_shift);
  const __m512i zp = _mm512_set1_epi32(j->zp), lo = _mm512_set1_epi32(j->act_min), hi = _mm512_set1_epi32(j->act_max);
  const __m512 s_out = _mm512_set1_ps(j->s_out);
  int i = 0;
  for (; i + 16 <= j->n; i += 16) {
    const __m512 a = row_x16(j->a, j->a_stride, i), b = row_x16(j->b, j->b_stride, i);
    const __m512i c1 = _mm512_inserti64x4(_mm512_castsi256_si512(centered8(_mm512_castps512_ps256(a), s1, inv1)),
                                          centered8(_mm512_extractf32x8_ps(a, 1), s1, inv1), 1);
    const __m512i c2 = _mm512_inserti64x4(_mm512_castsi256_si512(centered8(_mm512_castps512_ps256(b), s2, inv2)),
                                          centered8(_mm512_extractf32x8_ps(b, 1), s2, inv2), 1);
    /* the left shift wraps as the scalar one's through uint32; so do the sums */
    const __m512i l1 = _mm512_sll_epi32(c1, ls), l2 = _mm512_sll_epi32(c2, ls);
    const __m512i x1 = right ? qat_rq16_apply_right(&rq[0], l1) : qat_rq16_apply(&rq[0], l1);
    const __m512i x2 = right ? qat_rq16_apply_right(&rq[1], l2) : qat_rq16_apply(&rq[1], l2);
    const __m512i sum = j->subtract ? _mm512_sub_epi32(x1, x2) : _mm512_add_epi32(x1, x2);
    __m512i q = _mm512_add_epi32(right ? qat_rq16_apply_right(&rq[2], sum) : qat_rq16_apply(&rq[2], sum), zp);
    q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
    _mm512_storeu_ps(j->y + i, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, zp)), s_out));
  }
  if (i < j->n) { /* the tail: 4 lanes, then plain C */
    const qat_add_requant_row tail = row_from(j, i);
    add_row_avx2(&tail);
  }
}

int qat_add_requant_row_avx512(const qat_add_requant_row *j) {
  if (qat_simd_cpu() < QAT_SIMD_AVX512 || j->a_stride > 1 || j->b_stride > 1 || j->a_stride < 0 || j->b_stride < 0)
    return -1;
  add_row_avx512(j);
  return 0;
}

int qat_requant_run_avx512(const qat_requant_job *j) {
  if (qat_simd_cpu() < QAT_SIMD_AVX512 || !j->fixed_point || j->wide || !j->inv) return -1;
  run_avx512(j);
  return 0;
}

int qat_requant_run_avx2(const qat_requant_job *j) {
  if (qat_simd_cpu() < QAT_SIMD_AVX2) return -1;
  run_avx2(j);
  return 0;
}
#else
int qat_requant_run_avx2(const qat_requant_job *j) {
  (void)j;
  return -1;
}

int qat_requant_run_avx512(const qat_requant_job *j) {
  (void)j;
  return -1;
}

int qat_add_requant_row_avx2(const qat_add_requant_row *j) {
  (void)j;
  return -1;
}

int qat_add_requant_row_avx512(const qat_add_requant_row *j) {
  (void)j;
  return -1;
}
#endif

void qat_requant_run(const qat_requant_job *j) {
  const int path = qat_simd_path();
  if (path >= QAT_SIMD_AVX512 && qat_requant_run_avx512(j) == 0) return;
  if (path >= QAT_SIMD_AVX2 && !j->wide && qat_requant_run_avx2(j) == 0) return;
  qat_requant_run_ref(j);
}

void qat_add_requant_row_run(const qat_add_requant_row *j) {
  const int path = qat_simd_path();
  if (path >= QAT_SIMD_AVX512 && qat_add_requant_row_avx512(j) == 0) return;
  if (path >= QAT_SIMD_AVX2 && qat_add_requant_row_avx2(j) == 0) return;
  qat_add_requant_row_ref(j);
}
