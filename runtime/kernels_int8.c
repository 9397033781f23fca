/* Integer kernels, bit-exact with TensorFlow Lite's reference kernels (read, not copied):
 *   CONV_2D            reference/integer_ops/conv.h            ConvPerChannel
 *   DEPTHWISE_CONV_2D  reference/integer_ops/depthwise_conv.h  DepthwiseConvPerChannel
 *   TRANSPOSE_CONV     reference/integer_ops/transpose_conv.h  TransposeConv (int32 scratch)
 *   FULLY_CONNECTED    reference/integer_ops/fully_connected.h FullyConnected(PerChannel):
 *                      LiteRT's version requantizes in double, (int32)round(acc * s_in * s_w /
 *                      s_out); TFLM's with MultiplyByQuantizedMultiplier (qat_rt_flavor)
 *   AVERAGE/MAX_POOL   reference/integer_ops/pooling.h         AveragePool, MaxPool
 *   MEAN               reference/reduce.h QuantizedMeanOrSum (the path reduce.cc's kReference
 *                      EvalQuantizedMean takes for int8, with 1/n folded into the multiplier)
 *   SOFTMAX            reference/softmax.h Softmax<int8_t, int8_t> (the fixed-point path the
 *                      kReference SoftmaxEval uses; the optimized kernel uses a float LUT)
 *   ADD                reference/integer_ops/add.h AddElementwise / BroadcastAdd6DSlow
 *   LOGISTIC           activations.cc kReference int8: a 256-entry table built in float
 *                      (PopulateLookupTable / LUTPopulate); TFLM's fixed-point
 *                      reference_integer_ops::Logistic can differ by 1 LSB
 *   QUANTIZE           reference/quantize.h AffineQuantize, reference/requantize.h Requantize
 *   DEQUANTIZE         reference/dequantize.h Dequantize
 * The fixed-point primitives come from fakequant/ (qat/quant.h). The gemmlowp pieces that
 * SOFTMAX needs (exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1, Rescale, from
 * google/gemmlowp fixedpoint/fixedpoint.h; GetReciprocal from kernels/internal/common.h) are
 * below, on raw int32 values.
 *
 * TFLite accumulates in int32 and lets sums overflow (undefined in C++, a wrap on every target
 * it runs on). Accumulations here are done in uint32 and converted back: the same bits, and no
 * undefined behaviour for a hostile model. Indices are 64-bit. */
#include <math.h>
#include <string.h>

#include "qat/quant.h"
#include "fakequant/simd.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_simd.h"

/* ---- convolution --------------------------------------------------------------------------- */

static inline int8_t requant_i8(const rt_requant *q, uint32_t acc, int oc) {
  int32_t r = qat_multiply_by_quantized_multiplier((int32_t)acc, q->mult[oc], q->shift[oc]);
  return (int8_t)rt_clampi(rt_wadd(r, q->out_zp), q->act_min, q->act_max);
}

/* The reference order, for shapes beyond the fast paths' buffers. */
#define I8_ACC(acc, x, w) acc += (uint32_t)((int32_t)(w) * ((int32_t)(x) + q->in_offset))
#define I8_DONE(o, oc, acc) (o)[oc] = requant_i8(q, (acc) + (bias ? (uint32_t)bias[oc] : 0u), oc)

static void conv2d_i8_direct(const rt_conv_geom *g, const rt_requant *q, const int8_t *in,
                             const int8_t *w, const int32_t *bias, int8_t *out) {
  RT_CONV_LOOP(g, b, in, w, out, uint32_t, I8_ACC, I8_DONE);
}

/* reference_integer_ops::TransposeConv: int32 sums of (x + offset) * w, bias, per-channel
 * requantization (RT_TCONV_LOOP's gather gives the same wrapped sums). */
void rt_tconv_i8(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                 const int32_t *bias, int8_t *out) {
  RT_TCONV_LOOP(g, b, in, w, out, uint32_t, I8_ACC, I8_DONE);
}

static void dwconv2d_i8_direct(const rt_conv_geom *g, const rt_requant *q, const int8_t *in,
                               const int8_t *w, const int32_t *bias, int8_t *out) {
  RT_DWCONV_LOOP(g, b, in, w, out, uint32_t, I8_ACC, I8_DONE);
}

/* The fast paths below compute the same sums (integer addition modulo 2^32 does not depend on
 * the order, and a padded tap contributes 0 either way) in an order that vectorizes: CONV_2D
 * gathers each output pixel's patch of (input + offset) as int16, zero where the window leaves
 * the image, then takes one contiguous dot product per output channel (OHWI weights are the
 * patch's layout); DEPTHWISE_CONV_2D accumulates all channels of a pixel tap by tap. Output rows
 * are split across OpenMP threads (each output is computed by one thread, as a whole). Shapes
 * beyond the stack buffers take the direct loops above. */
#define RT_PATCH_MAX 4096


void rt_conv2d_i8(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                  const int32_t *bias, int8_t *out) {
  const int64_t cin = g->filter_in_c, K = (int64_t)g->k_h * g->k_w * cin;
  if (g->in_c != g->filter_in_c || K > RT_PATCH_MAX) {
    conv2d_i8_direct(g, q, in, w, bias, out);
    return;
  }
  const int64_t rows = (int64_t)g->batches * g->out_h;
  const int16_t off = (int16_t)q->in_offset;
  RT_FOR(rows * g->out_w * g->out_c * K > RT_PARALLEL_MACS, row, rows, {
    int16_t patch[RT_PATCH_MAX];
    const int64_t b = row / g->out_h, oy = row % g->out_h, y0 = oy * g->stride_h - g->pad_h;
    for (int64_t ox = 0; ox < g->out_w; ox++) {
      const int64_t x0 = ox * g->stride_w - g->pad_w;
      int16_t *p = patch;
      for (int64_t ky = 0; ky < g->k_h; ky++) {
        const int64_t y = y0 + g->dil_h * ky;
        for (int64_t kx = 0; kx < g->k_w; kx++, p += cin) {
          const int64_t x = x0 + g->dil_w * kx;
          if (y < 0 || y >= g->in_h || x < 0 || x >= g->in_w) {
            memset(p, 0, (size_t)cin * sizeof *p);
            continue;
          }
          const int8_t *ip = in + ((b * g->in_h + y) * g->in_w + x) * g->in_c;
          for (int64_t ic = 0; ic < cin; ic++) p[ic] = (int16_t)(ip[ic] + off);
        }
      }
      int8_t *o = out + (row * g->out_w + ox) * g->out_c;
      for (int oc = 0; oc < g->out_c; oc++) {
        const int8_t *wp = w + oc * K;
        uint32_t acc = 0;
        for (int64_t k = 0; k < K; k++) acc += (uint32_t)((int32_t)patch[k] * (int32_t)wp[k]);
        if (bias) acc += (uint32_t)bias[oc];
        o[oc] = requant_i8(q, acc, oc);
      }
    }
  });
}

void rt_dwconv2d_i8(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                    const int32_t *bias, int8_t *out) {
  const int dm = g->depth_multiplier, C = g->out_c;
  if (rt_simd_avx512() && rt_dwconv2d_i8_avx512(g, q, in, w, bias, out) == 0) return;
  if (C > RT_PATCH_MAX) {
    dwconv2d_i8_direct(g, q, in, w, bias, out);
    return;
  }
  const int64_t rows = (int64_t)g->batches * g->out_h;
  if (dm == 1 && rt_igemm_path() == RT_IGEMM_AVX2) {
    RT_FOR(rows * g->out_w * C * g->k_h * g->k_w > RT_PARALLEL_MACS, row, rows,
           rt_dwconv2d_i8_row_avx2(g, q, in, w, bias, out, row));
    return;
  }
  RT_FOR(rows * g->out_w * C * g->k_h * g->k_w > RT_PARALLEL_MACS, row, rows, {
    uint32_t acc[RT_PATCH_MAX];
    const int64_t b = row / g->out_h, oy = row % g->out_h, y0 = oy * g->stride_h - g->pad_h;
    for (int64_t ox = 0; ox < g->out_w; ox++) {
      const int64_t x0 = ox * g->stride_w - g->pad_w;
      for (int c = 0; c < C; c++) acc[c] = bias ? (uint32_t)bias[c] : 0u;
      for (int64_t ky = 0; ky < g->k_h; ky++) {
        const int64_t y = y0 + g->dil_h * ky;
        if (y < 0 || y >= g->in_h) continue;
        for (int64_t kx = 0; kx < g->k_w; kx++) {
          const int64_t x = x0 + g->dil_w * kx;
          if (x < 0 || x >= g->in_w) continue;
          const int8_t *ip = in + ((b * g->in_h + y) * g->in_w + x) * g->in_c;
          const int8_t *wp = w + (ky * g->k_w + kx) * C;
          if (dm == 1) {
            for (int c = 0; c < C; c++) acc[c] += (uint32_t)((int32_t)wp[c] * ((int32_t)ip[c] + q->in_offset));
          } else {
            for (int ic = 0; ic < g->in_c; ic++) {
              const int32_t v = (int32_t)ip[ic] + q->in_offset;
              for (int mm = 0; mm < dm; mm++) acc[ic * dm + mm] += (uint32_t)((int32_t)wp[ic * dm + mm] * v);
            }
          }
        }
      }
      rt_requant_row_i8(q, (const int32_t *)acc, 0, C, out + (row * g->out_w + ox) * C);
    }
  });
}

void rt_fc_i8(int batches, int accum_depth, int out_depth, const rt_requant *q, const int8_t *in,
              const int8_t *w, const int32_t *bias, int8_t *out) {
  for (int64_t b = 0; b < batches; b++) {
    const int8_t *ip = in + b * accum_depth;
    for (int64_t oc = 0; oc < out_depth; oc++) {
      const int8_t *wp = w + oc * accum_depth;
      uint32_t acc = 0;
      /* The weights offset is 0: int8 weights are symmetric (checked at load). */
      for (int d = 0; d < accum_depth; d++)
        acc += (uint32_t)((int32_t)wp[d] * ((int32_t)ip[d] + q->in_offset));
      if (bias) acc += (uint32_t)bias[oc];
      const int32_t r =
          q->eff ? rt_requant_double((int32_t)acc, q->eff[oc])
                 : qat_multiply_by_quantized_multiplier((int32_t)acc, q->mult[oc], q->shift[oc]);
      out[b * out_depth + oc] = (int8_t)rt_clampi(rt_wadd(r, q->out_zp), q->act_min, q->act_max);
    }
  }
}

/* ---- gemmlowp fixed point, raw int32 -----------------------------------------------------------
 */

/* FixedPoint multiplication: integer bits add. */
static inline int32_t fp_mul(int32_t a, int32_t b) { return qat_srdhm(a, b); }

/* SaturatingRoundingMultiplyByPOT<e>: a saturating left shift for e > 0, a rounding right
 * shift for e < 0. */
static int32_t fp_mul_pot(int32_t x, int e) {
  if (e == 0) return x;
  if (e < 0) return qat_rounding_divide_by_pot(x, -e);
  const int32_t threshold = (int32_t)((INT64_C(1) << (31 - e)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << e);
}

/* Rescale<dst>(x with src integer bits) */
static inline int32_t fp_rescale(int32_t x, int src_bits, int dst_bits) {
  return fp_mul_pot(x, src_bits - dst_bits);
}

/* exp(a) for a in [-1/4, 0), Q0.31: Taylor expansion around -1/8. */
static int32_t fp_exp_interval(int32_t a) {
  const int32_t constant_term = 1895147668;    /* exp(-1/8) */
  const int32_t constant_1_over_3 = 715827883; /* 1/3 */
  const int32_t x = rt_wadd(a, 1 << 28);          /* a + 1/8 */
  const int32_t x2 = fp_mul(x, x), x3 = fp_mul(x2, x), x4 = fp_mul(x2, x2);
  const int32_t x4_over_4 = fp_mul_pot(x4, -2);
  const int32_t poly = fp_mul_pot(rt_wadd(fp_mul(rt_wadd(x4_over_4, x3), constant_1_over_3), x2), -1);
  return rt_wadd(constant_term, fp_mul(constant_term, rt_wadd(x, poly)));
}

int32_t rt_fp_exp_on_negative_values(int32_t a, int integer_bits) {
  const int frac = 31 - integer_bits;
  const int32_t one_quarter = (int32_t)1 << (frac - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod = rt_wsub(a & mask, one_quarter);
  int32_t result = fp_exp_interval(fp_rescale(a_mod, integer_bits, 0));
  const int32_t remainder = rt_wsub(a_mod, a);
  /* Barrel shifter: exp(-2^e) for each bit of the remainder. */
  static const int32_t mults[7] = {1672461947, 1302514674, 790015084, 290630308,
                                   39332535,   720401,     242};
  for (int e = -2; e <= 4; e++) {
    if (integer_bits > e) {
      const int sh = frac + e;
      if (remainder & ((int32_t)1 << sh)) result = fp_mul(result, mults[e + 2]);
    }
  }
  if (integer_bits > 5) {
    const int32_t clamp = -((int32_t)1 << (36 - integer_bits)); /* -32.0 */
    if (a < clamp) result = 0;
  }
  if (a == 0) result = INT32_MAX; /* One() in Q0.31 */
  return result;
}

/* RoundingHalfSum(a, b) */
static int32_t fp_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + b;
  const int64_t sign = sum >= 0 ? 1 : -1;
  return (int32_t)((sum + sign) / 2);
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out: Newton-Raphson with 3 iterations in Q2.29. */
int32_t rt_fp_one_over_one_plus_x(int32_t a) {
  const int32_t half_denominator = fp_half_sum(a, INT32_MAX);
  const int32_t c48_17 = 1515870810, cm32_17 = -1010580540; /* Q2.29 */
  int32_t x = rt_wadd(c48_17, fp_mul(half_denominator, cm32_17));
  const int32_t one_q2 = (int32_t)1 << 29;
  for (int i = 0; i < 3; i++) {
    const int32_t hdx = fp_mul(half_denominator, x);
    const int32_t one_minus = rt_wsub(one_q2, hdx);
    x = rt_wadd(x, fp_rescale(fp_mul(x, one_minus), 4, 2));
  }
  /* Rescale<0>(ExactMulByPot<-1>(x)): x read as Q1.30, then to Q0.31. */
  return fp_rescale(x, 1, 0);
}

int32_t rt_fp_reciprocal_arg(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
  const int headroom_plus_one = x ? __builtin_clz((uint32_t)x) : 32;
  *num_bits_over_unit = x_integer_digits - headroom_plus_one;
  const uint32_t shifted = headroom_plus_one < 32 ? (uint32_t)x << headroom_plus_one : 0;
  return (int32_t)(shifted - (UINT32_C(1) << 31));
}


/* ---- softmax ------------------------------------------------------------------------------- */

enum { kScaledDiffIntegerBits = 5, kAccumulationIntegerBits = 12 };

void rt_softmax_i8_exps(int32_t mult, int left_shift, int diff_min, int32_t exps[512]) {
  for (int32_t d = 0; d < 256; d++) {
    const int32_t diff = -d;
    int32_t e = 0;
    if (diff >= diff_min) {
      /* MultiplyByQuantizedMultiplierGreaterThanOne: SRDHM(x * 2^left_shift, mult) */
      const int32_t rescaled = qat_srdhm((int32_t)((uint32_t)diff << left_shift), mult);
      e = rt_fp_exp_on_negative_values(rescaled, kScaledDiffIntegerBits);
    }
    exps[d] = e;
    exps[256 + d] = fp_rescale(e, 0, kAccumulationIntegerBits);
  }
}

/* Rows in blocks of 16: each row's sum of exponentials, then the 16 reciprocals on AVX-512 where
 * it runs (GetReciprocal's Newton-Raphson was most of a row's time when the rows are short:
 * a segmenter's per-pixel softmax over 4 classes, 48 ns a row), then the outputs. */
int rt_softmax_i8(int64_t outer, int64_t depth, const int32_t exps[512], const int8_t *in, int8_t *out) {
  for (int64_t i0 = 0; i0 < outer; i0 += 16) {
    const int rows = outer - i0 < 16 ? (int)(outer - i0) : 16;
    int32_t arg[16] = {0}, recip[16];
    int bits[16], max_in[16];
    for (int r = 0; r < rows; r++) {
      const int8_t *row = in + (i0 + r) * depth;
      RT_ROW_MAX(max_in_row, row, depth, -128);
      int32_t sum_of_exps = 0; /* Q12.19 */
      for (int64_t c = 0; c < depth; c++) sum_of_exps = rt_wadd(sum_of_exps, exps[256 + max_in_row - row[c]]);
      arg[r] = rt_fp_reciprocal_arg(sum_of_exps, kAccumulationIntegerBits, &bits[r]);
      max_in[r] = max_in_row;
    }
    if (rows < 16 || rt_fp_one_over_one_plus_x_x16(arg, recip))
      for (int r = 0; r < rows; r++) recip[r] = rt_fp_one_over_one_plus_x(arg[r]);
    for (int r = 0; r < rows; r++) {
      const int8_t *row = in + (i0 + r) * depth;
      int8_t *orow = out + (i0 + r) * depth;
      const int exponent = bits[r] + 31 - 8;
      if (exponent < 0 || exponent > 31) return -1; /* TFLITE_CHECK in the reference kernel */
      for (int64_t c = 0; c < depth; c++) {
        const int32_t unsat = qat_rounding_divide_by_pot(fp_mul(recip[r], exps[max_in[r] - row[c]]), exponent);
        orow[c] = (int8_t)rt_clampi(rt_wsub(unsat, 128), -128, 127);
      }
    }
  }
  return 0;
}

/* ---- logistic, quantize, dequantize ---------------------------------------------------------- */

void rt_lut_build_logistic_i8(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp,
                              int8_t lut[256]) {
  const float inverse_scale = 1 / out_scale;
  for (int32_t val = -128; val <= 127; val++) {
    const float dequantized = in_scale * (float)(val - in_zp);
    const float transformed = 1.0f / (1.0f + expf(-dequantized));
    const float rescaled = roundf(transformed * inverse_scale);
    /* rescaled is in [0, 256]; + zp stays far inside int32 */
    const int32_t quantized = (int32_t)(rescaled + (float)out_zp);
    lut[(uint8_t)(int8_t)val] = (int8_t)rt_clampi(quantized, -128, 127);
  }
}

void rt_lut_inputs_i8(int8_t every[256]) {
  for (int i = 0; i < 256; i++) every[i] = (int8_t)(uint8_t)i;
}

void rt_lut_apply_i8(int64_t n, const int8_t lut[256], const int8_t *in, int8_t *out) {
  if (qat_simd_vbmi()) {
    rt_lut_i8_vbmi(n, lut, in, out);
    return;
  }
  for (int64_t i = 0; i < n; i++) out[i] = lut[(uint8_t)in[i]];
}

void rt_quantize_f32(int64_t n, const float *in, int out_type, float scale, int32_t zp, void *out) {
  switch (out_type) {
    case QAT_RT_INT8: qat_quantize_int8(in, out, n, scale, zp, -128, 127); break;
    case QAT_RT_INT16: qat_quantize_int16(in, out, n, scale, zp, -32768, 32767); break;
    default: {
      uint8_t *o = out;
      for (int64_t i = 0; i < n; i++) o[i] = (uint8_t)qat_quantize_value(in[i], scale, zp, 0, 255);
      break;
    }
  }
}

static inline int32_t load_q(int type, const void *p, int64_t i) {
  return type == QAT_RT_UINT8   ? ((const uint8_t *)p)[i]
         : type == QAT_RT_INT16 ? ((const int16_t *)p)[i]
                                : ((const int8_t *)p)[i];
}

void rt_requantize(int64_t n, int in_type, const void *in, int32_t in_zp, int32_t mult, int shift,
                   int32_t out_zp, int out_type, void *out) {
  const int32_t lo = out_type == QAT_RT_UINT8 ? 0 : out_type == QAT_RT_INT16 ? -32768 : -128,
                hi = out_type == QAT_RT_UINT8 ? 255 : out_type == QAT_RT_INT16 ? 32767 : 127;
  for (int64_t i = 0; i < n; i++) {
    const int32_t x = load_q(in_type, in, i) - in_zp;
    const int32_t r =
        rt_clampi(rt_wadd(qat_multiply_by_quantized_multiplier(x, mult, shift), out_zp), lo, hi);
    if (out_type == QAT_RT_UINT8)
      ((uint8_t *)out)[i] = (uint8_t)r;
    else if (out_type == QAT_RT_INT16)
      ((int16_t *)out)[i] = (int16_t)r;
    else
      ((int8_t *)out)[i] = (int8_t)r;
  }
}

float rt_half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13); /* inf / NaN */
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { /* subnormal half: normalize */
    int e = -1;
    do {
      e++;
      man <<= 1;
    } while (!(man & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

void rt_dequantize(int64_t n, int in_type, const void *in, float scale, int32_t zp, float *out) {
  if (in_type == QAT_RT_FLOAT16) {
    const uint16_t *h = in;
    for (int64_t i = 0; i < n; i++) out[i] = rt_half_to_float(h[i]);
    return;
  }
  for (int64_t i = 0; i < n; i++) out[i] = qat_dequantize_value(load_q(in_type, in, i), scale, zp);
}
