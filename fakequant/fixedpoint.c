/* Fixed-point requantization, bit-exact with TensorFlow Lite's reference kernels.
 *
 * Matched against (read, not copied):
 *   tensorflow/lite/kernels/internal/quantization_util.cc  QuantizeMultiplier
 *   tensorflow/lite/kernels/internal/common.cc             MultiplyByQuantizedMultiplier (both
 *                                                          overloads, TFLITE_SINGLE_ROUNDING unset)
 *   google/gemmlowp fixedpoint/fixedpoint.h                SaturatingRoundingDoublingHighMul,
 *                                                          RoundingDivideByPOT
 *   tensorflow/lite/kernels/kernel_util.cc                 PopulateConvolutionQuantizationParams,
 *                                                          CalculateActivationRangeQuantizedImpl */
#include "qat/error.h"
#include "qat/quant.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

/* RoundingDivideByPOT and the 64-bit multiplier shift negative numbers right; C leaves that
 * implementation-defined, GCC and Clang define it as arithmetic (sign-extending). */
_Static_assert((-1 >> 1) == -1, "arithmetic right shift of negative integers is required");
_Static_assert(((int64_t)-5 >> 1) == -3, "arithmetic right shift of negative integers is required");

int qat_quantize_multiplier(double m, int32_t *q, int *shift) {
  /* Real multipliers are ratios of positive scales. TFLite accepts negative ones in the
   * double-rounding build, but no valid model produces them, and a NaN would reach frexp. */
  if (!isfinite(m) || m < 0.0)
    return qat_fail(QAT_ERR_FORMAT, "requantization multiplier %g is not a finite number >= 0",
                    m);
  if (m == 0.0) {
    *q = 0;
    *shift = 0;
    return QAT_OK;
  }
  int e = 0;
  const double frac = frexp(m, &e); /* m = frac * 2^e, frac in [0.5, 1), subnormals too */
  /* frac * 2^31 is exact (a power-of-two scaling of a double in [0.5, 1)), so the only
   * rounding is TfLiteRound's: std::round, half away from zero. Result in [2^30, 2^31]. */
  int64_t q_fixed = (int64_t)round(frac * 2147483648.0);
  if (q_fixed == (INT64_C(1) << 31)) { /* frac >= 1 - 2^-32 rounded up to 1.0 */
    q_fixed /= 2;
    ++e;
  }
  /* TFLite checks the flush *after* the halving above, so m just below 2^-32 that rounds up
   * to 2^-32 keeps shift -31. Anything smaller would shift out every bit: flush to 0. */
  if (e < -31) {
    e = 0;
    q_fixed = 0;
  }
  if (e > 30)
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "requantization multiplier %g is too large (shift %d > 30): the int32 "
                    "kernels cannot apply it without overflow",
                    m, e);
  *q = (int32_t)q_fixed;
  *shift = e;
  return QAT_OK;
}

int32_t qat_srdhm(int32_t a, int32_t b) {
  /* The one product whose doubled high half does not fit: (-1) * (-1) in Q31 = +1. */
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const int64_t ab = (int64_t)a * (int64_t)b;
  const int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (1 - (INT64_C(1) << 30));
  /* C99+ integer division truncates toward zero, as C++'s does in gemmlowp. */
  return (int32_t)((ab + nudge) / (INT64_C(1) << 31));
}

int32_t qat_rounding_divide_by_pot(int32_t x, int exponent) {
  QAT_ASSERT(exponent >= 0 && exponent <= 31);
  const int32_t mask = (int32_t)((INT64_C(1) << exponent) - 1);
  const int32_t remainder = x & mask;
  /* Ties round away from zero: a negative x needs a remainder strictly above half + 1. */
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t qat_multiply_by_quantized_multiplier(int32_t x, int32_t q, int shift) {
  QAT_ASSERT(shift >= -31 && shift <= 30);
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  /* TFLite computes x * (1 << left_shift) in int32; on every target it runs on that product
   * wraps modulo 2^32. Doing the shift on uint32 gives the same bits without C's undefined
   * signed overflow (the conversion back is GCC/Clang's modulo conversion). */
  const int32_t shifted = (int32_t)((uint32_t)x << left_shift);
  return qat_rounding_divide_by_pot(qat_srdhm(shifted, q), right_shift);
}

int32_t qat_multiply_by_quantized_multiplier_int64(int64_t x, int32_t q, int shift) {
  QAT_ASSERT(q >= 0);
  QAT_ASSERT(shift >= -31 && shift <= 7);
  QAT_ASSERT(x >= -(INT64_C(1) << 47) && x < (INT64_C(1) << 47));
  /* The multiplier is cut to 16 bits (rounded) so that x * reduced fits in 64 bits. */
  const int32_t reduced = q < 0x7FFF0000 ? (q + (1 << 15)) >> 16 : 0x7FFF;
  const int total_shift = 15 - shift; /* 8 .. 46 */
  const int64_t r = (x * (int64_t)reduced + (INT64_C(1) << (total_shift - 1))) >> total_shift;
  /* TFLite assigns the int64 to an int32 (keeps the low 32 bits); same here. */
  return (int32_t)r;
}

int qat_conv_multipliers(float input_scale, const float *weight_scales, int64_t n_w,
                         float output_scale, int64_t n_out, int32_t *multipliers,
                         int *shifts) {
  if (n_out < 0 || (n_w != 1 && n_w != n_out))
    return qat_fail(QAT_ERR_USAGE, "%lld weight scales for %lld output channels",
                    (long long)n_w, (long long)n_out);
  if (!(isfinite(input_scale) && input_scale > 0.0f && isfinite(output_scale) &&
        output_scale > 0.0f))
    return qat_fail(QAT_ERR_FORMAT, "input scale %g / output scale %g must be finite and > 0",
                    (double)input_scale, (double)output_scale);
  for (int64_t c = 0; c < n_out; c++) {
    const float ws = weight_scales[n_w == 1 ? 0 : c];
    if (!(isfinite(ws) && ws > 0.0f))
      return qat_fail(QAT_ERR_FORMAT, "weight scale[%lld] = %g must be finite and > 0",
                      (long long)c, (double)ws);
    /* Same association as kernel_util.cc: (in * w) / out, each float widened to double. */
    const double m = (double)input_scale * (double)ws / (double)output_scale;
    const int rc = qat_quantize_multiplier(m, &multipliers[c], &shifts[c]);
    if (rc) return qat_fail_prefix(rc, "channel %lld: ", (long long)c);
  }
  return QAT_OK;
}

int qat_mean_multiplier(float in_scale, float out_scale, int64_t n, int32_t *mult, int *shift) {
  if (n < 1) return qat_fail(QAT_ERR_USAGE, "MEAN over %lld values", (long long)n);
  int32_t m0 = 0;
  int sh = 0;
  int rc = qat_quantize_multiplier((double)in_scale / (double)out_scale, &m0, &sh);
  if (rc) return rc;
  int fold = 63 - __builtin_clzll((unsigned long long)n); /* floor(log2 n) */
  if (fold > 32) fold = 32;
  if (fold > 31 + sh) fold = 31 + sh;
  *mult = (int32_t)(((int64_t)m0 << fold) / n);
  *shift = sh - fold;
  return QAT_OK;
}

static int below_one(double real, const char *what, int32_t *mult, int *shift) {
  if (!(real > 0.0 && real < 1.0))
    return qat_fail(QAT_ERR_UNSUPPORTED, "ADD: the %s rescaling multiplier %g must be in (0, 1)", what, real);
  int rc = qat_quantize_multiplier(real, mult, shift);
  if (rc) return rc;
  if (*shift > 0)
    return qat_fail(QAT_ERR_UNSUPPORTED, "ADD: the %s rescaling multiplier %.17g rounds up to 1", what, real);
  return QAT_OK;
}

int qat_add_multipliers(float s1, float s2, float s_out, int left_shift, int32_t mult[3], int shift[3]) {
  if (left_shift < 0 || left_shift > 30) return qat_fail(QAT_ERR_USAGE, "ADD: left shift %d", left_shift);
  /* the float max and the products by powers of two are exact: double gives TFLite's values */
  const double twice_max = 2.0 * (double)(s1 > s2 ? s1 : s2);
  int rc;
  if ((rc = below_one((double)s1 / twice_max, "input 1", &mult[0], &shift[0])) ||
      (rc = below_one((double)s2 / twice_max, "input 2", &mult[1], &shift[1])) ||
      (rc = below_one(twice_max / ((double)(1 << left_shift) * (double)s_out), "output", &mult[2], &shift[2])))
    return rc;
  return QAT_OK;
}

static inline int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

int32_t qat_add_requantize(int32_t c1, int32_t c2, int subtract, const int32_t mult[3], const int shift[3], int left_shift,
                           int32_t zp_out, int32_t act_min, int32_t act_max) {
  const int32_t x1 = (int32_t)((uint32_t)c1 << left_shift), x2 = (int32_t)((uint32_t)c2 << left_shift);
  const int32_t a = qat_multiply_by_quantized_multiplier(x1, mult[0], shift[0]);
  const int32_t b = qat_multiply_by_quantized_multiplier(x2, mult[1], shift[1]);
  const int32_t sum = subtract ? (int32_t)((uint32_t)a - (uint32_t)b) : wrap_add(a, b);
  const int32_t r = wrap_add(qat_multiply_by_quantized_multiplier(sum, mult[2], shift[2]), zp_out);
  return r < act_min ? act_min : r > act_max ? act_max : r;
}

void qat_resize_bilinear_taps(int v, int in, int out, int align_corners, int half_pixel, int *lo, int *hi,
                              int32_t *frac) {
  const int32_t scale10 = align_corners && out > 1 ? (int32_t)(((int64_t)1024 * (in - 1) + (out - 1) / 2) / (out - 1))
                                                   : (int32_t)(((int64_t)1024 * in + out / 2) / out);
  /* 10-bit fixed point */
  const int32_t src = half_pixel ? v * scale10 + scale10 / 2 - 512 : v * scale10;
  const int32_t l = src / 1024, h = (src + 1023) / 1024; /* C division: toward zero */
  *lo = l > 0 ? l : 0;
  *hi = h < in - 1 ? h : in - 1;
  *frac = src - 1024 * *lo;
}

int32_t qat_resize_bilinear_round(int64_t sum20) {
  const int64_t half = sum20 > 0 ? (1 << 19) : -(1 << 19);
  return (int32_t)((sum20 + half) / (1 << 20));
}

int32_t qat_avg_pool_round(int32_t sum, int32_t count) {
  const int32_t half = count / 2;
  return (sum > 0 ? wrap_add(sum, half) : wrap_add(sum, -half)) / count;
}

/* kernel_util.cc's Quantize helper: zp + (int32)round(f / scale) with a float division, and
 * an error when the rounded value does not fit in int32. */
static int quantize_bound(float scale, int32_t zero_point, float f, int32_t *q) {
  const float r = roundf(f / scale);
  /* 2^31 is exact in float; anything >= it, or < -2^31, would be an undefined cast. */
  if (!(r >= -2147483648.0f && r < 2147483648.0f))
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "activation bound %g does not fit in int32 at scale %g", (double)f,
                    (double)scale);
  const int64_t v = (int64_t)zero_point + (int64_t)r;
  *q = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
  return QAT_OK;
}

int qat_activation_bounds(float scale, int32_t zero_point, int qmin, int qmax, float lo,
                          float hi, int32_t *act_min, int32_t *act_max) {
  if (!(isfinite(scale) && scale > 0.0f))
    return qat_fail(QAT_ERR_FORMAT, "output scale %g must be finite and > 0", (double)scale);
  if (qmin > qmax || isnan(lo) || isnan(hi) || lo > hi)
    return qat_fail(QAT_ERR_USAGE, "bad activation range [%g, %g] or quantized range [%d, %d]",
                    (double)lo, (double)hi, qmin, qmax);
  int32_t amin = qmin, amax = qmax, t = 0;
  int rc;
  if (isfinite(lo)) {
    if ((rc = quantize_bound(scale, zero_point, lo, &t))) return rc;
    if (t > amin) amin = t;
  }
  if (isfinite(hi)) {
    if ((rc = quantize_bound(scale, zero_point, hi, &t))) return rc;
    if (t < amax) amax = t;
  }
  *act_min = amin;
  *act_max = amax;
  return QAT_OK;
}

int qat_comparison_multiplier(float scale, int32_t *q, int *shift) {
  int rc = qat_quantize_multiplier((double)scale, q, shift);
  if (rc) return rc;
  if (!(scale > 0.0f) || *shift > 0)
    return qat_fail(QAT_ERR_UNSUPPORTED, "a quantized comparison needs a scale in (0, 1), got %g", (double)scale);
  return QAT_OK;
}

int32_t qat_comparison_scaled(int32_t v, int32_t q, int shift) {
  return qat_multiply_by_quantized_multiplier(v * 256, q, shift);
}

int qat_threshold_integer(float t, float s, int32_t zp, int qmin, int qmax, int32_t *q_t) {
  const double f = floor((double)t / (double)s) + (double)zp;
  if (f < (double)qmin) {
    *q_t = qmin;
    return 1;
  }
  *q_t = f > (double)qmax ? qmax : (int32_t)f;
  return 0;
}
