/* Ranges -> scale / zero point, weight scales, bias quantization.
 *
 * Matched against (read, not copied):
 *   tensorflow/compiler/mlir/lite/quantization/ir/FakeQuantSupport.cc
 *       fakeQuantAttrsToType, getNudgedScaleAndZeroPoint (scale and zero point in double,
 *       the zero point from whichever end adds the smaller error; all-zero -> scale 1, zp qmin)
 *   tensorflow/compiler/mlir/lite/quantization/quantization_utils.h
 *       ConvertStatsToQDQs (widens calibrated ranges to include 0.0 first)
 *   tensorflow/lite/tools/optimize/quantization_utils.cc
 *       GetAsymmetricQuantizationParams (the legacy float variant of the same formula),
 *       GetSymmetricScalesFromMaxMin (scale = max|.| / 127), SymmetricPerChannelBiasQuantize
 *       (bias scale = input_scale * weight_scale[c] in float), AdjustWeightsForBiasScale */
#include "qat/error.h"
#include "qat/quant.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

float qat_roundf(float x) { return roundf(x); }
double qat_round(double x) { return round(x); }

static int check_qrange(int qmin, int qmax) {
  /* |q - zp| < 2^17 keeps dequantization exact (see dequantize in fake_quant.c). */
  if (qmin >= qmax || qmin < -65536 || qmax > 65535 || qmax - qmin > 65535)
    return qat_fail(QAT_ERR_USAGE, "bad quantized range [%d, %d]", qmin, qmax);
  return QAT_OK;
}

int qat_quant_params_from_range(float min, float max, int qmin, int qmax, float *scale,
                                int32_t *zero_point) {
  int rc = check_qrange(qmin, qmax);
  if (rc) return rc;
  if (!isfinite(min) || !isfinite(max))
    return qat_fail(QAT_ERR_DIVERGED, "quantization range [%g, %g] is not finite", (double)min,
                    (double)max);
  if (min > max)
    return qat_fail(QAT_ERR_USAGE, "quantization range [%g, %g] has min > max", (double)min,
                    (double)max);
  /* 0.0 must be representable exactly (zero padding, ReLU): widen, never shift. TF's own
   * FakeQuant nudging would shift a range like [1, 3] to [0, 2]; the converter's calibration
   * path widens it to [0, 3], which keeps every observed value in range. */
  const double lo = min < 0.0f ? (double)min : 0.0;
  const double hi = max > 0.0f ? (double)max : 0.0;
  /* hi - lo is exact in double for all but absurdly spread ranges. */
  if (hi - lo < DBL_EPSILON) {
    /* fakeQuantAttrsToType: "The tensor contents are all 0.0s, so the scale is set to 1.0 and
     * the tensor can be quantized to zero points and dequantized to 0.0." */
    *scale = 1.0f;
    *zero_point = qmin;
    return QAT_OK;
  }
  const double qmin_d = qmin, qmax_d = qmax;
  const double s = (hi - lo) / (qmax_d - qmin_d);
  if (s > (double)FLT_MAX)
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "quantization range [%g, %g] gives a scale beyond float range", (double)min,
                    (double)max);
  /* Both ends determine the zero point; use the one with the smaller rounding error, as
   * getNudgedScaleAndZeroPoint does (they differ only in the last bits of a double). */
  const double zp_from_min = qmin_d - lo / s;
  const double zp_from_min_err = fabs(qmin_d) + fabs(lo / s);
  const double zp_from_max = qmax_d - hi / s;
  const double zp_from_max_err = fabs(qmax_d) + fabs(hi / s);
  const double zp_d = zp_from_min_err < zp_from_max_err ? zp_from_min : zp_from_max;
  int32_t zp;
  if (zp_d < qmin_d) /* checked before the cast: never converts an out-of-range double */
    zp = qmin;
  else if (zp_d > qmax_d)
    zp = qmax;
  else
    zp = (int32_t)round(zp_d); /* half away from zero: [-1, 1] gives zp -1 */
  const float sf = (float)s; /* the file stores float; the converter rounds here too */
  /* Near +-FLT_MAX the nudged range (one step past the data at the far end) would overflow to
   * infinity, and fake quant would turn finite inputs into inf. */
  float nmin, nmax;
  qat_quant_nudged_range(sf, zp, qmin, qmax, &nmin, &nmax);
  if (!isfinite(nmin) || !isfinite(nmax))
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "quantization range [%g, %g] is too wide: its nudged range overflows float",
                    (double)min, (double)max);
  *scale = sf;
  *zero_point = zp;
  return QAT_OK;
}

void qat_quant_nudged_range(float scale, int32_t zero_point, int qmin, int qmax,
                            float *nudged_min, float *nudged_max) {
  /* (q - zp) is a small exact integer, so each end is one correctly rounded product: the
   * same float that dequantizing qmin / qmax gives. */
  *nudged_min = (float)((int64_t)qmin - zero_point) * scale;
  *nudged_max = (float)((int64_t)qmax - zero_point) * scale;
}

/* max|.| / qmax, rounded once to float. The same as a float division: for a division in double
 * followed by rounding to float, the double rounding is innocuous (53 >= 2*24 + 2). A range
 * whose scale would not be a normal float (all zeros, or below ~1e-36) gives scale 1. */
static float symmetric_scale(float absmax, int qmax) {
  const double s = (double)absmax / (double)qmax;
  if (!(s >= (double)FLT_MIN)) return 1.0f;
  return (float)s;
}

int qat_quant_params_symmetric(float min, float max, int qmax, float *scale) {
  if (qmax < 1 || qmax > 65535)
    return qat_fail(QAT_ERR_USAGE, "bad symmetric quantized maximum %d", qmax);
  if (!isfinite(min) || !isfinite(max))
    return qat_fail(QAT_ERR_DIVERGED, "quantization range [%g, %g] is not finite", (double)min,
                    (double)max);
  if (min > max)
    return qat_fail(QAT_ERR_USAGE, "quantization range [%g, %g] has min > max", (double)min,
                    (double)max);
  const float a = fabsf(min) > fabsf(max) ? fabsf(min) : fabsf(max);
  *scale = symmetric_scale(a, qmax);
  return QAT_OK;
}

#define QAT_QUANT_MAX_RANK 8

static int checked_product(const int64_t *dims, int from, int to, int64_t *out) {
  *out = 0;
  int64_t p = 1;
  for (int d = from; d < to; d++) {
    if (dims[d] != 0 && p > INT64_MAX / dims[d])
      return qat_fail(QAT_ERR_USAGE, "tensor shape overflows int64 at dimension %d", d);
    p *= dims[d];
  }
  *out = p;
  return QAT_OK;
}

int qat_quant_axis_split(const int64_t *shape, int rank, int axis, int64_t *outer,
                         int64_t *channels, int64_t *inner) {
  if (rank < 0 || rank > QAT_QUANT_MAX_RANK || (rank > 0 && !shape))
    return qat_fail(QAT_ERR_USAGE, "bad tensor rank %d", rank);
  if (axis >= rank)
    return qat_fail(QAT_ERR_USAGE, "quantization axis %d out of range for rank %d", axis, rank);
  for (int d = 0; d < rank; d++)
    if (shape[d] < 0)
      return qat_fail(QAT_ERR_USAGE, "negative dimension %lld at %d", (long long)shape[d], d);
  int rc;
  int64_t total;
  if ((rc = checked_product(shape, 0, rank, &total))) return rc;
  if (axis < 0) {
    *outer = 1;
    *channels = 1;
    *inner = total;
    return QAT_OK;
  }
  if ((rc = checked_product(shape, 0, axis, outer))) return rc;
  if ((rc = checked_product(shape, axis + 1, rank, inner))) return rc;
  *channels = shape[axis];
  return QAT_OK;
}

int qat_quant_weight_scales(const float *w, const int64_t *shape, int rank, int axis,
                            int qmax, float *scales) {
  if (qmax < 1 || qmax > 65535)
    return qat_fail(QAT_ERR_USAGE, "bad symmetric quantized maximum %d", qmax);
  int64_t outer, channels, inner;
  int rc = qat_quant_axis_split(shape, rank, axis, &outer, &channels, &inner);
  if (rc) return rc;
  if (inner == 1 && channels > 1) {
    /* channels last (a Dense kernel [in, units]): rows in order, each channel's maximum in
     * scales[c], instead of walking each channel's column at a stride of `channels` */
    int bad = 0;
    for (int64_t c = 0; c < channels; c++) scales[c] = 0.0f;
    for (int64_t o = 0; o < outer; o++) {
      const float *restrict row = w + o * channels;
      float *restrict m = scales;
      for (int64_t c = 0; c < channels; c++) {
        const float a = fabsf(row[c]);
        bad |= !(a <= FLT_MAX); /* inf or NaN */
        m[c] = a > m[c] ? a : m[c];
      }
    }
    if (bad)
      for (int64_t i = 0; i < outer * channels; i++)
        if (!isfinite(w[i])) return qat_fail(QAT_ERR_DIVERGED, "weight[%lld] = %g is not finite", (long long)i, (double)w[i]);
    for (int64_t c = 0; c < channels; c++) scales[c] = symmetric_scale(scales[c], qmax);
    return QAT_OK;
  }
  for (int64_t c = 0; c < channels; c++) {
    /* the maximum of |w| as the bits of |w|, an unsigned integer maximum: the order of
     * non-negative floats, with inf and NaN above every finite value. A float maximum
     * reduction does not vectorize without -ffast-math (it stayed on one scalar lane, 2.2
     * cycles a weight: 0.24 ms a step for a Dense layer's 400 K weights); an integer one does. */
    uint32_t mb = 0;
    for (int64_t o = 0; o < outer; o++) {
      const float *restrict row = w + (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; i++) {
        uint32_t a;
        memcpy(&a, row + i, sizeof a);
        a &= 0x7fffffffu;
        mb = a > mb ? a : mb;
      }
    }
    const int bad = mb >= 0x7f800000u; /* inf or NaN */
    float m;
    memcpy(&m, &mb, sizeof m);
    if (bad)
      for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
          const int64_t at = (o * channels + c) * inner + i;
          if (!isfinite(w[at]))
            return qat_fail(QAT_ERR_DIVERGED, "weight[%lld] = %g is not finite", (long long)at, (double)w[at]);
        }
    scales[c] = symmetric_scale(m, qmax);
  }
  return QAT_OK;
}

/* Shared by the int32 and int64 bias paths: checks, bias scale, and the double quotient. */
static int bias_prepare(const float *bias, int64_t n, float input_scale,
                        const float *weight_scales, int64_t n_scales, float *bias_scales) {
  if (n < 0 || (n_scales != 1 && n_scales != n))
    return qat_fail(QAT_ERR_USAGE, "%lld weight scales for %lld bias values",
                    (long long)n_scales, (long long)n);
  if (!(isfinite(input_scale) && input_scale > 0.0f))
    return qat_fail(QAT_ERR_FORMAT, "input scale %g must be finite and > 0",
                    (double)input_scale);
  for (int64_t c = 0; c < n_scales; c++) {
    const float ws = weight_scales[c];
    /* The float product is what the converter stores and what TFLite checks the bias scale
     * against (kernel_util.cc: |s_in * s_w - s_bias| <= 1e-6 * min). */
    const float bs = input_scale * ws;
    if (!(isfinite(ws) && ws > 0.0f) || !(isfinite(bs) && bs > 0.0f))
      return qat_fail(QAT_ERR_FORMAT,
                      "bias scale %g x weight scale[%lld] %g is not a finite number > 0",
                      (double)input_scale, (long long)c, (double)ws);
    if (bias_scales) bias_scales[c] = bs;
  }
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(bias[i]))
      return qat_fail(QAT_ERR_DIVERGED, "bias[%lld] = %g is not finite", (long long)i,
                      (double)bias[i]);
  return QAT_OK;
}

/* Quotient of the bias by its scale in double (as MLIR's UniformQuantizedValueConverter does
 * in APFloat double), rounded half away from zero. Exact enough: double has 29 spare bits. */
static double bias_quotient(const float *bias, int64_t i, float input_scale,
                            const float *weight_scales, int64_t n_scales, float *bs_out) {
  const float bs = input_scale * weight_scales[n_scales == 1 ? 0 : i];
  *bs_out = bs;
  return round((double)bias[i] / (double)bs);
}

int qat_quantize_bias_int32(const float *bias, int64_t n, float input_scale,
                            const float *weight_scales, int64_t n_scales, int32_t *q,
                            float *bias_scales) {
  int rc = bias_prepare(bias, n, input_scale, weight_scales, n_scales, bias_scales);
  if (rc) return rc;
  for (int64_t i = 0; i < n; i++) {
    float bs;
    const double r = bias_quotient(bias, i, input_scale, weight_scales, n_scales, &bs);
    if (!(fabs(r) <= 2147483647.0))
      return qat_fail(QAT_ERR_UNSUPPORTED,
                      "bias[%lld] = %g at scale %g (input scale %g x weight scale %g) "
                      "quantizes to %.6g, beyond int32 [-2147483647, 2147483647]; raise the "
                      "weight scale (qat_bias_adjust_weight_scales) or the input scale",
                      (long long)i, (double)bias[i], (double)bs, (double)input_scale,
                      (double)weight_scales[n_scales == 1 ? 0 : i], r);
    q[i] = (int32_t)r;
  }
  return QAT_OK;
}

int qat_quantize_bias_int64(const float *bias, int64_t n, float input_scale,
                            const float *weight_scales, int64_t n_scales, int64_t *q,
                            float *bias_scales) {
  int rc = bias_prepare(bias, n, input_scale, weight_scales, n_scales, bias_scales);
  if (rc) return rc;
  const double limit = 140737488355327.0; /* 2^47 - 1 */
  for (int64_t i = 0; i < n; i++) {
    float bs;
    const double r = bias_quotient(bias, i, input_scale, weight_scales, n_scales, &bs);
    if (!(fabs(r) <= limit))
      return qat_fail(QAT_ERR_UNSUPPORTED,
                      "bias[%lld] = %g at scale %g quantizes to %.6g, beyond the 16x8 "
                      "kernels' 48-bit accumulator range (|q| < 2^47)",
                      (long long)i, (double)bias[i], (double)bs, r);
    q[i] = (int64_t)r;
  }
  return QAT_OK;
}

int qat_bias_adjust_weight_scales(const float *bias, int64_t n, float input_scale,
                                  float *weight_scales, int64_t n_scales, int *n_adjusted) {
  int rc = bias_prepare(bias, n, input_scale, weight_scales, n_scales, NULL);
  if (rc) return rc;
  const int32_t k_scale = INT32_MAX;
  const int k_max_q = 127;
  int adjusted = 0;
  /* The arithmetic below follows AdjustWeightsForBiasScale operation by operation (which
   * parts are float and which double), so the raised scales equal TFLite's. */
  if (n_scales > 1) {
    for (int64_t i = 0; i < n_scales; i++) {
      const float ab = fabsf(bias[i]);
      if ((double)ab >= 0.5 * (double)input_scale * (double)weight_scales[i] * k_scale) {
        const float new_max =
            (float)(2.0 * (double)ab / k_scale * (double)((float)k_max_q / input_scale));
        const float ns = new_max / (float)k_max_q;
        if (!(isfinite(ns) && ns > 0.0f))
          return qat_fail(QAT_ERR_UNSUPPORTED, "bias[%lld] = %g needs weight scale %g",
                          (long long)i, (double)bias[i], (double)ns);
        weight_scales[i] = ns;
        adjusted++;
      }
    }
  } else if (n_scales == 1 && n > 0) {
    float half_range = 0.0f;
    for (int64_t i = 0; i < n; i++)
      if (fabsf(bias[i]) > half_range) half_range = fabsf(bias[i]);
    /* Per-layer TFLite divides in float here (float / int32 promotes to float). */
    if ((double)(half_range / (float)k_scale) >=
        0.5 * (double)input_scale * (double)weight_scales[0]) {
      const float new_max =
          (float)(2.0 * (double)half_range / k_scale * (double)((float)k_max_q / input_scale));
      const float ns = new_max / (float)k_max_q;
      if (!(isfinite(ns) && ns > 0.0f))
        return qat_fail(QAT_ERR_UNSUPPORTED, "bias range %g needs weight scale %g",
                        (double)half_range, (double)ns);
      weight_scales[0] = ns;
      adjusted++;
    }
  }
  if (n_adjusted) *n_adjusted = adjusted;
  return QAT_OK;
}
