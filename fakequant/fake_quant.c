/* Quantize / dequantize / fake quant, computed exactly as the integer kernels compute them.
 *
 * Matched against (read, not copied):
 *   tensorflow/lite/kernels/internal/reference/quantize.h  AffineQuantize:
 *       q = clamp((int32)TfLiteRound(val / (float)scale) + zero_point, min, max)
 *       i.e. a *float division* (not a multiplication by 1/scale, which TF's
 *       FakeQuantWithMinMaxVars and TFLite's FakeQuantizeArray use; and not the double
 *       division of optimized_ops::AffineQuantize's scalar tail), rounded half away from zero.
 *   tensorflow/lite/kernels/internal/reference/dequantize.h Dequantize:
 *       (float)(scale_double * (q - zero_point))
 *   tensorflow/core/kernels/fake_quant_ops_functor.h  FakeQuantWithMinMaxVarsGradient:
 *       the gradient passes where nudged_min <= x <= nudged_max.
 *
 * Why not TF's FakeQuant formula: TF computes floor((clamp(x) - nudged_min) * (1/scale) +
 * 0.5) * scale + nudged_min, which rounds ties up instead of away from zero and rounds the
 * reciprocal first; it can land one step away from the q the int8 QUANTIZE op produces. */
#include "qat/error.h"
#include "qat/quant.h"

#include <math.h>
#include <stdint.h>

/* roundf (half away from zero) written so that loops over it vectorize: roundf itself does
 * not (x86 has no vector round-half-away), truncf does (vroundps). v - truncf(v) is exact (for
 * |v| >= 2^23, v is an integer and it is 0), so the tie test is exact and the result equals
 * roundf(v) for every float except the sign of a zero result (-0.3 gives +0.0 or -0.0; the
 * callers below do not care: they add +0.0 anyway). Inf stays inf (inf - inf = NaN fails the
 * test), NaN stays NaN. test_quant checks it against roundf over 2^24 values. */
static inline float round_half_away(float v) {
  const float t = truncf(v);
  return fabsf(v - t) >= 0.5f ? t + copysignf(1.0f, v) : t;
}

/* q - zp for x, saturated to [lo, hi] = [qmin - zp, qmax - zp] (small exact integers in
 * float). The comparisons happen in float, before any conversion to an integer, so huge or
 * infinite quotients saturate instead of hitting an undefined float -> int cast. NaN fails
 * both comparisons and comes back as NaN. */
static inline float centered_q(float x, float scale, float lo, float hi) {
  const float r = round_half_away(x / scale);
  return r < lo ? lo : (r > hi ? hi : r);
}

static void check_params(float scale, int32_t zero_point, int qmin, int qmax) {
  /* Invariants: the scale and zero point come from qat_quant_params_* or from a model the
   * runtime has validated. */
  QAT_ASSERT(isfinite(scale) && scale > 0.0f);
  QAT_ASSERT(qmin <= qmax && zero_point >= qmin && zero_point <= qmax);
}

int32_t qat_quantize_value(float x, float scale, int32_t zero_point, int qmin, int qmax) {
  check_params(scale, zero_point, qmin, qmax);
  const float c = centered_q(x, scale, (float)(qmin - zero_point), (float)(qmax - zero_point));
  if (isnan(c)) return zero_point; /* TFLite's cast of NaN is undefined; we pick "0.0" */
  return (int32_t)c + zero_point;
}

float qat_dequantize_value(int32_t q, float scale, int32_t zero_point) {
  /* TFLite multiplies in double and rounds to float. (q - zp) has at most 17 significant
   * bits and scale 24, so the double product is exact and its rounding to float is the
   * correctly rounded float product computed here. */
  return (float)((int64_t)q - zero_point) * scale;
}

void qat_quantize_int8(const float *x, int8_t *q, int64_t n, float scale, int32_t zero_point,
                       int qmin, int qmax) {
  QAT_ASSERT(qmin >= INT8_MIN && qmax <= INT8_MAX);
  check_params(scale, zero_point, qmin, qmax);
  const float lo = (float)(qmin - zero_point), hi = (float)(qmax - zero_point);
  for (int64_t i = 0; i < n; i++) {
    const float c = centered_q(x[i], scale, lo, hi);
    q[i] = (int8_t)(isnan(c) ? zero_point : (int32_t)c + zero_point);
  }
}

void qat_quantize_int16(const float *x, int16_t *q, int64_t n, float scale,
                        int32_t zero_point, int qmin, int qmax) {
  QAT_ASSERT(qmin >= INT16_MIN && qmax <= INT16_MAX);
  check_params(scale, zero_point, qmin, qmax);
  const float lo = (float)(qmin - zero_point), hi = (float)(qmax - zero_point);
  for (int64_t i = 0; i < n; i++) {
    const float c = centered_q(x[i], scale, lo, hi);
    q[i] = (int16_t)(isnan(c) ? zero_point : (int32_t)c + zero_point);
  }
}

void qat_quantize_int8_per_channel(const float *x, int8_t *q, int64_t outer, int64_t channels,
                                   int64_t inner, const float *scales,
                                   const int32_t *zero_points, int qmin, int qmax) {
  QAT_ASSERT(qmin >= INT8_MIN && qmax <= INT8_MAX);
  for (int64_t c = 0; c < channels; c++) {
    const float s = scales[c];
    const int32_t zp = zero_points ? zero_points[c] : 0;
    check_params(s, zp, qmin, qmax);
    const float lo = (float)(qmin - zp), hi = (float)(qmax - zp);
    for (int64_t o = 0; o < outer; o++) {
      const int64_t base = (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; i++) {
        const float v = centered_q(x[base + i], s, lo, hi);
        q[base + i] = (int8_t)(isnan(v) ? zp : (int32_t)v + zp);
      }
    }
  }
}

/* The fake-quantized value of one element: dequantize(quantize(x)). `+ 0.0f` turns the -0.0
 * that roundf gives for x in (-scale/2, 0] into +0.0, which is what the integer path
 * produces ((zp - zp) * scale); the compiler may not drop it without -ffast-math. */
static inline float fq_one(float x, float scale, float lo, float hi) {
  return (centered_q(x, scale, lo, hi) + 0.0f) * scale;
}

void qat_fake_quant_forward(const float *x, float *y, int64_t n, float scale,
                            int32_t zero_point, int qmin, int qmax) {
  check_params(scale, zero_point, qmin, qmax);
  const float lo = (float)(qmin - zero_point), hi = (float)(qmax - zero_point);
  for (int64_t i = 0; i < n; i++) y[i] = fq_one(x[i], scale, lo, hi);
}

float qat_fake_quant_bias_value(float x, float scale, int qmin, int qmax) {
  double r = round((double)x / (double)scale);
  r = r < qmin ? qmin : r > qmax ? qmax : r; /* NaN stays NaN, as in fq_one */
  return ((float)r + 0.0f) * scale;
}

void qat_fake_quant_forward_per_channel(const float *x, float *y, int64_t outer,
                                        int64_t channels, int64_t inner, const float *scales,
                                        const int32_t *zero_points, int qmin, int qmax) {
  int symmetric = 1;
  for (int64_t c = 0; c < channels && zero_points; c++) symmetric &= zero_points[c] == 0;
  if (inner == 1 && symmetric) {
    /* channels last and symmetric (a Dense kernel [in, units]): row by row, the channel's
     * scale loaded beside its element, instead of a column walk at a stride of `channels` */
    for (int64_t c = 0; c < channels; c++) check_params(scales[c], 0, qmin, qmax);
    const float lo = (float)qmin, hi = (float)qmax;
    for (int64_t o = 0; o < outer; o++) {
      const float *restrict xr = x + o * channels;
      float *restrict yr = y + o * channels;
      for (int64_t c = 0; c < channels; c++) yr[c] = fq_one(xr[c], scales[c], lo, hi);
    }
    return;
  }
  for (int64_t c = 0; c < channels; c++) {
    const float s = scales[c];
    const int32_t zp = zero_points ? zero_points[c] : 0;
    check_params(s, zp, qmin, qmax);
    const float lo = (float)(qmin - zp), hi = (float)(qmax - zp);
    for (int64_t o = 0; o < outer; o++) {
      const int64_t base = (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; i++) y[base + i] = fq_one(x[base + i], s, lo, hi);
    }
  }
}

void qat_fake_quant_backward(const float *x, const float *dy, float *dx, int64_t n,
                             float nudged_min, float nudged_max) {
  /* dx += 0 outside the range (rather than a conditional store) lets the loop vectorize. */
  for (int64_t i = 0; i < n; i++)
    dx[i] += (x[i] >= nudged_min && x[i] <= nudged_max) ? dy[i] : 0.0f;
}

void qat_fake_quant_backward_per_channel(const float *x, const float *dy, float *dx,
                                         int64_t outer, int64_t channels, int64_t inner,
                                         const float *nudged_min, const float *nudged_max) {
  if (inner == 1) { /* channels last: row by row, as the forward */
    for (int64_t o = 0; o < outer; o++) {
      const float *restrict xr = x + o * channels, *restrict dyr = dy + o * channels;
      float *restrict dxr = dx + o * channels;
      for (int64_t c = 0; c < channels; c++)
        dxr[c] += (xr[c] >= nudged_min[c] && xr[c] <= nudged_max[c]) ? dyr[c] : 0.0f;
    }
    return;
  }
  for (int64_t c = 0; c < channels; c++) {
    const float lo = nudged_min[c], hi = nudged_max[c];
    for (int64_t o = 0; o < outer; o++) {
      const int64_t base = (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; i++)
        dx[base + i] += (x[base + i] >= lo && x[base + i] <= hi) ? dy[base + i] : 0.0f;
    }
  }
}
