/* Quantization arithmetic: the one implementation that fake-quant training, the TFLite
 * exporter and the int8/int16 runtime all use, so that what training simulates is what the
 * integer model computes.
 *
 * Conventions (each one is matched to the upstream source named beside it; see
 * fakequant/README.md for the full derivations):
 *
 *  Rounding     round half away from zero everywhere (roundf/round), as TfLiteRound
 *               (tensorflow/lite/kernels/internal/cppmath.h: std::round).
 *  Asymmetric   min' = min(min, 0), max' = max(max, 0); if max' - min' < DBL_EPSILON the
 *  params       tensor is all zeros: scale = 1, zp = qmin. Otherwise, in double:
 *               s = (max' - min') / (qmax - qmin); zp = round(zp_from_min or zp_from_max,
 *               whichever has the smaller error |q| + |r/s|), clamped to [qmin, qmax];
 *               the stored scale is (float)s. This is the MLIR converter's
 *               quantfork::fakeQuantAttrsToType / getNudgedScaleAndZeroPoint
 *               (tensorflow/compiler/mlir/lite/quantization/ir/FakeQuantSupport.cc), applied
 *               after the widening that ConvertStatsToQDQs and tfmot's quant_ops.py do.
 *               It equals DESIGN.md's zp = clamp(round(qmin - min'/scale)) up to the last
 *               bit of a double.
 *  Nudged range [(qmin - zp) * scale, (qmax - zp) * scale] in float; 0.0 is exact in it.
 *  Symmetric    scale = max(|min|, |max|) / qmax, zp = 0: int16 activations (qmax 32767),
 *               int8 weights narrow range [-127, 127] (qmax 127). Zero range: scale 1.
 *  Quantize     q = clamp(roundf(x / scale) + zp, qmin, qmax) with a float division, exactly
 *               reference_ops::AffineQuantize (reference/quantize.h). Saturating: +-inf and
 *               huge values clamp, never an undefined cast. NaN maps to zp (TFLite: UB).
 *  Dequantize   (float)(q - zp) * scale. Equal to TFLite's double product rounded to float,
 *               because |q - zp| < 2^17 makes the double product exact.
 *  Fake quant   y = dequantize(quantize(x)): the very numbers the int8 kernels see.
 *               Backward (straight-through, clipped): dx += dy where
 *               nudged_min <= x <= nudged_max (TF's FakeQuantWithMinMaxVarsGradient).
 *  Bias         scale_c = s_in * s_w[c] (float product, as the converter stores it);
 *               q = round((double)b / scale_c) (MLIR's UniformQuantizedValueConverter works in
 *               double); out of int32 range is an error, never a wrap or a clamp.
 *  Multipliers  QuantizeMultiplier, SaturatingRoundingDoublingHighMul, RoundingDivideByPOT
 *               and the default double-rounding MultiplyByQuantizedMultiplier
 *               (tensorflow/lite/kernels/internal/{quantization_util.cc,common.cc},
 *               gemmlowp fixedpoint.h), shift positive = left. The int16x8 reference kernels
 *               call the 64-bit overload MultiplyByQuantizedMultiplier(int64_t x, ...).
 *
 * Functions that can fail return 0 or a negative qat_status and set qat_error_message(). */
#ifndef QAT_QUANT_H
#define QAT_QUANT_H

#include <stdint.h>

#define QAT_INT8_MIN (-128)
#define QAT_INT8_MAX 127
#define QAT_INT8_WEIGHT_MIN (-127) /* narrow range: -128 is never used by weights */
#define QAT_INT16_MIN (-32768)
#define QAT_INT16_MAX 32767

/* ---- rounding ---------------------------------------------------------------------- */

/* Round half away from zero (roundf / round semantics, TfLiteRound). */
float qat_roundf(float x);
double qat_round(double x);

/* ---- range -> scale / zero point ---------------------------------------------------- */

/* Asymmetric affine parameters for an observed range (see the header comment). qmin < qmax,
 * qmax - qmin <= 65535. Errors: non-finite min/max (QAT_ERR_DIVERGED), min > max or a bad
 * quantized range (QAT_ERR_USAGE). Huge finite ranges (up to +-FLT_MAX) are fine. */
int qat_quant_params_from_range(float min, float max, int qmin, int qmax, float *scale,
                                int32_t *zero_point);

/* The range that fake quant represents exactly: [(qmin - zp) * scale, (qmax - zp) * scale]. */
void qat_quant_nudged_range(float scale, int32_t zero_point, int qmin, int qmax,
                            float *nudged_min, float *nudged_max);

/* Symmetric scale (zero point 0): max(|min|, |max|) / qmax, computed in double and rounded
 * once to float; an all-zero range gives 1. qmax: 32767 for int16 activations, 127 for int8
 * weights. */
int qat_quant_params_symmetric(float min, float max, int qmax, float *scale);

/* Splits a tensor's shape at `axis` into outer * channels * inner (row-major). axis < 0
 * means per-tensor: outer = 1, channels = 1, inner = all elements. Dimensions must be >= 0
 * and the element count must fit in int64. */
int qat_quant_axis_split(const int64_t *shape, int rank, int axis, int64_t *outer,
                         int64_t *channels, int64_t *inner);

/* Symmetric weight scales: scales[c] = max|w over channel c| / qmax (qmax 127 for int8
 * weights), 1.0 for an all-zero (or empty) channel. axis: conv OHWI 0, depthwise 1HW(C*M) 3,
 * dense [out, in] 0; axis < 0 writes one per-tensor scale to scales[0]. Non-finite weights are
 * an error (QAT_ERR_DIVERGED) naming the flat index. */
int qat_quant_weight_scales(const float *w, const int64_t *shape, int rank, int axis,
                            int qmax, float *scales);

/* ---- value quantization ------------------------------------------------------------- */

/* AffineQuantize for one value: clamp(roundf(x / scale) + zp, qmin, qmax). Saturating;
 * NaN gives zp. scale must be finite and > 0 (checked by QAT_ASSERT). */
int32_t qat_quantize_value(float x, float scale, int32_t zero_point, int qmin, int qmax);

/* Dequantize: (float)(q - zp) * scale. */
float qat_dequantize_value(int32_t q, float scale, int32_t zero_point);

void qat_quantize_int8(const float *x, int8_t *q, int64_t n, float scale, int32_t zero_point,
                       int qmin, int qmax);
void qat_quantize_int16(const float *x, int16_t *q, int64_t n, float scale,
                        int32_t zero_point, int qmin, int qmax);
/* Per-channel int8 (weights): element (o, c, i) at (o * channels + c) * inner + i uses
 * scales[c] and zero_points[c] (zero_points may be NULL: all 0). */
void qat_quantize_int8_per_channel(const float *x, int8_t *q, int64_t outer, int64_t channels,
                                   int64_t inner, const float *scales,
                                   const int32_t *zero_points, int qmin, int qmax);

/* ---- bias ------------------------------------------------------------------------ */

/* q[i] = round(bias[i] / (input_scale * weight_scales[c])) with c = i (n_scales == n,
 * per-channel) or c = 0 (n_scales == 1). bias_scales (may be NULL) receives the n_scales
 * float scales to store in the file. A value beyond [-(2^31 - 1), 2^31 - 1] is an error
 * (QAT_ERR_UNSUPPORTED) naming the index, value and scale: never a wrap (BAD-INPUTS G5). A
 * zero or non-finite bias scale, or a non-finite bias, is an error too. */
int qat_quantize_bias_int32(const float *bias, int64_t n, float input_scale,
                            const float *weight_scales, int64_t n_scales, int32_t *q,
                            float *bias_scales);
/* The int64 bias of 16x8 models. The limit is |q| < 2^47: TFLite's 64-bit
 * MultiplyByQuantizedMultiplier requires its accumulator input below 2^47 (common.cc). */
int qat_quantize_bias_int64(const float *bias, int64_t n, float input_scale,
                            const float *weight_scales, int64_t n_scales, int64_t *q,
                            float *bias_scales);

/* TFLite's fix for a bias that would overflow (tools/optimize/quantization_utils.cc,
 * AdjustWeightsForBiasScale): for each channel c where |bias| >= 0.5 * s_in * s_w[c] *
 * (2^31 - 1), raise s_w[c] to (2 * |bias| / (2^31 - 1) * (127 / s_in)) / 127, so the bias
 * then takes about half the int32 range. Per-tensor (n_scales == 1) uses max |bias|.
 * Updates weight_scales in place; *n_adjusted (may be NULL) counts the raised scales. The
 * caller must then requantize those channels' weights with the new scales. */
int qat_bias_adjust_weight_scales(const float *bias, int64_t n, float input_scale,
                                  float *weight_scales, int64_t n_scales, int *n_adjusted);

/* ---- fixed-point requantization (bit-exact with TFLite) ---------------------------- */

/* QuantizeMultiplier: m = q * 2^(shift - 31), q in [2^30, 2^31) (or 0), shift > 0 = left.
 * A q_fixed that rounds to 2^31 is halved with shift + 1; shift < -31 flushes to q = 0,
 * shift = 0 (multipliers below about 2^-32). Errors: m negative or non-finite
 * (QAT_ERR_FORMAT), m >= 2^30 (shift > 30, QAT_ERR_UNSUPPORTED): TFLite's
 * `x * (1 << shift)` is undefined there. */
int qat_quantize_multiplier(double m, int32_t *q, int *shift);

/* gemmlowp SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^31 truncated, i.e. a*b/2^31
 * rounded half toward +infinity; INT32_MIN * INT32_MIN saturates to INT32_MAX. */
int32_t qat_srdhm(int32_t a, int32_t b);

/* gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero, 0 <= exponent
 * <= 31 (QAT_ASSERT). */
int32_t qat_rounding_divide_by_pot(int32_t x, int exponent);

/* TFLite's default (double-rounding, TFLITE_SINGLE_ROUNDING unset) MultiplyByQuantizedMultiplier
 * from kernels/internal/common.cc, used by every int8 reference kernel:
 * RoundingDivideByPOT(SRDHM(x * 2^left, q), right). -31 <= shift <= 30 (QAT_ASSERT; values from
 * qat_quantize_multiplier always qualify). x * 2^left wraps modulo 2^32 as TFLite's int32
 * product does on real hardware. With shift <= 0 it is also
 * MultiplyByQuantizedMultiplierSmallerThanOneExp (ADD). */
int32_t qat_multiply_by_quantized_multiplier(int32_t x, int32_t q, int shift);

/* The int8 comparisons (comparisons.cc ComparisonQuantized: EQUAL, LESS, GREATER, ...) compare
 * each side as (q - zp) * 2^8 scaled by its own scale's multiplier
 * (MultiplyByQuantizedMultiplierSmallerThanOneExp): two values of one grid compare only as
 * finely as 256 s allows. The multiplier of a scale (QAT_ERR_UNSUPPORTED from 1 up, where
 * TFLite's SmallerThanOneExp would shift left and abort), and the scaled value of v = q - zp. */
int qat_comparison_multiplier(float scale, int32_t *q, int *shift);
int32_t qat_comparison_scaled(int32_t v, int32_t q, int shift);
/* A threshold t on the grid (s, zp): *q_t such that "q_t < q" is "(q - zp) s > t" for every
 * integer q in [qmin, qmax] (zp + floor(t / s), at most qmax). 1 when every q passes (no
 * comparison is needed), else 0. */
int qat_threshold_integer(float t, float s, int32_t zp, int qmin, int qmax, int32_t *q_t);

/* The int64 overload used by the int16x8 reference kernels (integer_ops/conv.h ConvPerChannel
 * with int64 bias, fully_connected.h): q is first reduced to 16 bits,
 * reduced = q < 0x7FFF0000 ? (q + 2^15) >> 16 : 0x7FFF, then
 * (x * reduced + 2^(14 - shift)) >> (15 - shift), truncated to int32. It is the same in both
 * rounding modes. Preconditions (QAT_ASSERT): q >= 0, -31 <= shift <= 7,
 * -2^47 <= x < 2^47. */
int32_t qat_multiply_by_quantized_multiplier_int64(int64_t x, int32_t q, int shift);

/* Per-channel requantization multipliers as PopulateConvolutionQuantizationParams computes
 * them (kernels/kernel_util.cc): m_c = (double)s_in * (double)s_w[c] / (double)s_out, then
 * QuantizeMultiplier. n_w == 1 broadcasts a per-tensor weight scale to n_out channels. */
int qat_conv_multipliers(float input_scale, const float *weight_scales, int64_t n_w,
                         float output_scale, int64_t n_out, int32_t *multipliers,
                         int *shifts);

/* MEAN int8 over n values (reduce.cc PrepareMeanOrSum: QuantizeMultiplier(in_scale /
 * out_scale) in double; reference_ops::QuantizedMeanOrSum then folds 1/n into the multiplier,
 * shifting it left by min(floor(log2 n), 32, 31 + shift) first). The result r of a sum of
 * centered inputs S is MultiplyByQuantizedMultiplier(S, *mult, *shift) + out_zp. */
int qat_mean_multiplier(float in_scale, float out_scale, int64_t n, int32_t *mult, int *shift);

/* ADD's rescaling (add.cc Prepare, general path; left_shift 20 for int8, 15 for int16):
 * twice_max = 2 max(s1, s2) in double; mult/shift[0] = s1 / twice_max, [1] = s2 / twice_max,
 * [2] = twice_max / (2^left_shift * s_out), each QuantizeMultiplier'd and required below one
 * (shift <= 0; QuantizeMultiplierSmallerThanOneExp). Errors: a multiplier not in (0, 1). */
int qat_add_multipliers(float s1, float s2, float s_out, int left_shift, int32_t mult[3], int shift[3]);

/* One output of reference_integer_ops::AddElementwise from the centered inputs c1 = q1 - zp1,
 * c2 = q2 - zp2: ((c << left_shift) scaled by each input multiplier, summed, scaled by the
 * output multiplier) + zp_out, clamped to [act_min, act_max]. subtract: SUB's (sub.cc), the
 * second scaled input subtracted; not the ADD of -c2, since the scaling's rounding
 * (SaturatingRoundingDoublingHighMul) breaks ties upward for either sign. int32 arithmetic wraps as
 * TFLite's does on hardware. */
int32_t qat_add_requantize(int32_t c1, int32_t c2, int subtract, const int32_t mult[3], const int shift[3], int left_shift,
                           int32_t zp_out, int32_t act_min, int32_t act_max);

/* AVERAGE_POOL_2D's division (reference_integer_ops::AveragePool): the int32 sum of the raw
 * quantized values of `count` in-image taps, rounded half away from zero:
 * sum > 0 ? (sum + count/2) / count : (sum - count/2) / count (C division). count >= 1. */
int32_t qat_avg_pool_round(int32_t sum, int32_t count);

/* RESIZE_BILINEAR's integer arithmetic (reference_ops::ResizeBilinearInteger), shared by the
 * runtime kernel and the fake quant: output coordinate v of an axis resized from `in` to `out`
 * samples (with corner alignment, or half-pixel centers, or neither) reads source samples *lo
 * and *hi with weights (1024 - *frac) and *frac (10-bit fixed point; frac may be negative at
 * the first sample, where lo = hi). */
void qat_resize_bilinear_taps(int v, int in, int out, int align_corners, int half_pixel, int *lo, int *hi,
                              int32_t *frac);
/* The weighted sum of four raw quantized values (weights products of two taps' 10-bit weights,
 * 2^20 in all) back to the integer grid, rounded half away from zero. */
int32_t qat_resize_bilinear_round(int64_t sum20);

/* Fused-activation clamp in the quantized domain (kernel_util.cc,
 * CalculateActivationRangeQuantizedImpl): act_min = max(qmin, zp + round(lo / scale)) if lo
 * is finite else qmin; act_max = min(qmax, zp + round(hi / scale)) if hi is finite else qmax.
 * RELU: lo 0, hi +inf; RELU6: 0, 6; RELU_N1_TO_1: -1, 1; none: -inf, +inf. A bound whose
 * quantized value overflows int32 is an error, as in TFLite. */
int qat_activation_bounds(float scale, int32_t zero_point, int qmin, int qmax, float lo,
                          float hi, int32_t *act_min, int32_t *act_max);

/* ---- fake quant (the autograd op calls these) -------------------------------------- */

/* A bias on its int32 grid as the exporter quantizes it (qat_quantize_bias_int32): the quotient
 * in double, rounded half away from zero, clamped to [qmin, qmax], times scale. A float
 * quotient can land on a tie the double one misses, and the fake-quant model's bias would then
 * sit one step from the int8 file's. */
float qat_fake_quant_bias_value(float x, float scale, int qmin, int qmax);
/* y[i] = (clamp(roundf(x[i] / scale) + zp, qmin, qmax) - zp) * scale. y may alias x. NaN
 * propagates; 0.0 and -0.0 both give +0.0, as the integer path does. */
void qat_fake_quant_forward(const float *x, float *y, int64_t n, float scale,
                            int32_t zero_point, int qmin, int qmax);
/* Per-channel: element (o, c, i) at (o * channels + c) * inner + i uses channel c's scale
 * and zero point (zero_points may be NULL: all 0). */
void qat_fake_quant_forward_per_channel(const float *x, float *y, int64_t outer,
                                        int64_t channels, int64_t inner, const float *scales,
                                        const int32_t *zero_points, int qmin, int qmax);

/* Straight-through estimator, clipped: dx[i] += dy[i] where nudged_min <= x[i] <= nudged_max,
 * dx[i] unchanged (+= 0) elsewhere (and for NaN x). */
void qat_fake_quant_backward(const float *x, const float *dy, float *dx, int64_t n,
                             float nudged_min, float nudged_max);
void qat_fake_quant_backward_per_channel(const float *x, const float *dy, float *dx,
                                         int64_t outer, int64_t channels, int64_t inner,
                                         const float *nudged_min, const float *nudged_max);

/* ---- observers ------------------------------------------------------------------- */

typedef enum qat_observer_kind {
  QAT_OBSERVER_EMA = 0, /* moving average of batch ranges (activations) */
  QAT_OBSERVER_MINMAX,  /* running min / max over everything seen (calibration) */
  QAT_OBSERVER_LAST,    /* the last batch's range (weights) */
} qat_observer_kind;

#define QAT_OBSERVER_DEFAULT_DECAY 0.999f

/* min/max always include 0: each batch range is widened to [min(bmin, 0), max(bmax, 0)]
 * before it is folded in, as tfmot's MovingAvgQuantize / LastValueQuantize do. The EMA is
 * TF's assign_moving_average in float: v -= (v - batch) * (1 - decay); the first batch
 * initializes it. With warmup set, the decay of an update is min(decay, (1 + t) / (10 + t)) in
 * float, t the batches folded in before it (TF's ExponentialMovingAverage with num_updates): a
 * range seeded from a few batches follows the data while the weights move, and settles to the
 * configured decay after about 10,000 updates. The warm-up only widens: an end that the batch
 * lies inside moves with the configured decay. */
typedef struct qat_observer {
  qat_observer_kind kind;
  float decay;     /* EMA only, in [0, 1) */
  int initialized; /* 0 until the first non-empty batch */
  int warmup;      /* EMA only: the warm-up above */
  int64_t updates; /* batches folded in (saturates at QAT_OBSERVER_WARM) */
  float min, max;
} qat_observer;

/* An update count past any warm-up (an observer from a checkpoint that did not store one). */
#define QAT_OBSERVER_WARM ((int64_t)1 << 40)

/* The decay the EMA applies to an update after `updates` batches (warm-up or not). */
float qat_observer_decay(const qat_observer *obs);

/* Errors: unknown kind or decay outside [0, 1) (QAT_ERR_USAGE). */
int qat_observer_init(qat_observer *obs, qat_observer_kind kind, float decay);

/* Folds in one batch. n == 0 changes nothing. A non-finite value is an error
 * (QAT_ERR_DIVERGED) naming its index, and leaves the observer unchanged. */
int qat_observer_update(qat_observer *obs, const float *x, int64_t n);

/* Asymmetric parameters from the observed range (qat_quant_params_from_range). Error before
 * the first batch (QAT_ERR_USAGE). */
int qat_observer_params(const qat_observer *obs, int qmin, int qmax, float *scale,
                        int32_t *zero_point);

/* min and max of x[0..n); n == 0 gives 0, 0. Non-finite values are an error
 * (QAT_ERR_DIVERGED) naming the index. */
int qat_tensor_min_max(const float *x, int64_t n, float *min, float *max);

/* IEEE binary16 bits of f, rounded to nearest even; overflow to infinity, NaN stays NaN. */
uint16_t qat_float_to_half(float f);

#endif
