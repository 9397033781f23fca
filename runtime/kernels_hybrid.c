/* Hybrid (dynamic-range) kernels: float input quantized to int8 at run time, int8 weights,
 * float bias and output. Read (not copied) from LiteRT's kReference paths:
 *   input quantization   portable_tensor_utils.cc PortableAsymmetricQuantizeFloats: range
 *                        [min(0, min x), max(0, max x)], scale = (max - min) / 255 (the
 *                        difference in float, the division in double), the
 *                        zero point from the end with the smaller error (clamped, rounded),
 *                        stored scale (float), q = round(offset + x * (1.0f / scale))
 *                        clamped to [-128, 127]; an empty range gives q = 0, scale 1, offset 0
 *   CONV_2D per channel  conv.cc EvalHybridPerChannel -> reference_ops::HybridConvPerChannel:
 *                        acc += w * (q - offset) over the taps inside the image,
 *                        out = act(acc * s_w[c] * scale + bias[c]) (left to right, float)
 *   CONV_2D per tensor   conv.cc EvalHybrid (taken when every channel scale is equal): the
 *                        symmetric per-batch quantization of fully_connected's hybrid path,
 *                        scale *= s_w[0], optimized_ops::HybridConv (im2col with zero taps,
 *                        out = 0 + acc * scale, then AddBiasAndEvalActivationFunction)
 *   DEPTHWISE_CONV_2D    depthwise_conv.cc EvalHybridPerChannel ->
 *                        reference_integer_ops::DepthwiseConvHybridPerChannel:
 *                        out = act((float)acc * (s_w[c] * scale) + bias[c])
 * The int32 accumulations are exact, so only the float steps above need TFLite's order. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "runtime/rt_kernel.h"


/* static_cast<int32_t> of a rounded float: out-of-range and NaN values (undefined in C++)
 * give INT32_MIN, as x86's cvttss2si does. */
static inline int32_t to_i32(float r) {
  return r >= -2147483648.0f && r < 2147483648.0f ? (int32_t)r : INT32_MIN;
}

void rt_asymmetric_quantize(const float *x, int64_t n, int8_t *q, float *scale, int32_t *offset) {
  float mn = n ? x[0] : 0.0f, mx = mn;
  for (int64_t i = 1; i < n; i++) {
    if (x[i] < mn) mn = x[i];
    if (!(x[i] < mx)) mx = x[i];
  }
  const float rmin = 0.0f < mn ? 0.0f : mn; /* std::min(0.0f, min) */
  const float rmax = mx < 0.0f ? 0.0f : mx; /* std::max(0.0f, max) */
  if (rmin == rmax) {
    memset(q, 0, (size_t)n);
    *scale = 1.0f;
    *offset = 0;
    return;
  }
  const double qmin = -128.0, qmax = 127.0;
  /* The range is subtracted in float, then divided in double: the ai-edge-litert 2.3.0
   * wheel's scales match this and differ by an ulp from a double subtraction (found on the
   * interop models: tests/interop/test_runtime_litert.py). */
  const double s = (double)(rmax - rmin) / (qmax - qmin);
  const double zp_min = qmin - rmin / s, zp_max = qmax - rmax / s;
  const double err_min = fabs(qmin) + fabs(rmin / s), err_max = fabs(qmax) + fabs(rmax / s);
  const double zp = err_min < err_max ? zp_min : zp_max;
  /* !(zp > qmin): a non-finite row (NaN or infinite inputs give a NaN zero point) takes the
   * bound instead of an undefined cast (fuzz_tflite_noverify found it). */
  int32_t nudged = !(zp > qmin) ? -128 : zp >= qmax ? 127 : (int32_t)round(zp);
  *scale = (float)s;
  *offset = nudged;
  /* The scaled value is rounded before the offset is added: on the official interpreter's
   * outputs, rounding offset + x * inv in float (as the portable source reads) or in double
   * differs on a few inputs in a thousand, and this order matches every one
   * (tests/interop/test_examples_bitexact.py, dynamic-range exports of the examples). */
  const float inv = 1.0f / *scale;
  for (int64_t i = 0; i < n; i++) {
    const int64_t v = (int64_t)to_i32(roundf(x[i] * inv)) + nudged;
    q[i] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
  }
}

/* The input quantized per batch b (qbuf, offset offsets[b]) times the int8 weights; int32 in
 * TFLite, wrapping here. */
#define HY_ACC(acc, x, w) acc += (uint32_t)((int32_t)(w) * ((int32_t)(x) - offsets[b]))
/* HybridConvPerChannel: acc * s_w[c] * scale + bias; conv.cc's EvalHybrid (one weight scale,
 * folded into scales[b]): 0 + acc * scale, then + bias. */
#define HY_CONV_DONE(o, oc, acc)                                                           \
  (o)[oc] = rt_clampf(conv_value(per_channel, (int32_t)(acc), w_scales, scales[b], bias, oc), \
                      act_min, act_max)
#define HY_DW_DONE(o, oc, acc) \
  (o)[oc] = rt_clampf(dw_value((int32_t)(acc), w_scales, scales[b], bias, oc), act_min, act_max)

/* A bias is added only when there is one: + 0.0f would turn -0.0f into +0.0f. */
static inline float conv_value(int per_channel, int32_t acc, const float *w_scales, float scale,
                               const float *bias, int oc) {
  float v;
  if (per_channel) {
    v = (float)acc * w_scales[oc] * scale;
    if (bias) v += bias[oc];
  } else {
    v = 0.0f + (float)acc * scale;
    if (bias) v = v + bias[oc];
  }
  return v;
}

/* DepthwiseConvHybridPerChannel: acc * (s_w[c] * scale) + bias. */
static inline float dw_value(int32_t acc, const float *w_scales, float scale, const float *bias,
                             int oc) {
  float v = (float)acc;
  v *= w_scales[oc] * scale;
  if (bias) v += bias[oc];
  return v;
}

void rt_conv2d_hybrid(const rt_conv_geom *g, int per_channel, float act_min, float act_max, const float *in,
                      const int8_t *w, const float *w_scales, const float *bias, float *out, int8_t *qbuf,
                      float *scales, int32_t *offsets) {
  const int64_t in_size = (int64_t)g->in_h * g->in_w * g->in_c;
  for (int64_t b = 0; b < g->batches; b++) {
    if (per_channel) {
      rt_asymmetric_quantize(in + b * in_size, in_size, qbuf + b * in_size, &scales[b], &offsets[b]);
    } else {
      scales[b] = rt_symmetric_quantize(in + b * in_size, in_size, qbuf + b * in_size) * w_scales[0];
      offsets[b] = 0;
    }
  }
  RT_CONV_LOOP(g, b, qbuf, w, out, uint32_t, HY_ACC, HY_CONV_DONE);
}

/* HybridTransposeConv (reference/transpose_conv.h, read not copied): every product's integer
 * (q - offset) * w becomes a float term times s_w[c] times the batch's input scale, added in
 * the scatter's per-element order (RT_TCONV_LOOP); then the bias where there is one and the
 * clamp. w_scales: one per output channel, or one for all (per_channel 0: the kernel expands
 * it). */
#define HY_TC_ACC(acc, x, w) \
  acc += (float)(((int32_t)(x) - offsets[b]) * (int32_t)(w)) * w_scales[per_channel ? oc : 0] * scales[b]
#define HY_TC_DONE(o, oc, acc) (o)[oc] = rt_clampf(bias ? (acc) + bias[oc] : (acc), act_min, act_max)
void rt_tconv_hybrid(const rt_conv_geom *g, int per_channel, float act_min, float act_max, const float *in,
                     const int8_t *w, const float *w_scales, const float *bias, float *out, int8_t *qbuf,
                     float *scales, int32_t *offsets) {
  const int64_t in_size = (int64_t)g->in_h * g->in_w * g->in_c;
  for (int64_t b = 0; b < g->batches; b++)
    rt_asymmetric_quantize(in + b * in_size, in_size, qbuf + b * in_size, &scales[b], &offsets[b]);
  RT_TCONV_LOOP(g, b, qbuf, w, out, float, HY_TC_ACC, HY_TC_DONE);
}

void rt_dwconv2d_hybrid(const rt_conv_geom *g, float act_min, float act_max, const float *in, const int8_t *w,
                        const float *w_scales, const float *bias, float *out, int8_t *qbuf, float *scales,
                        int32_t *offsets) {
  const int64_t in_size = (int64_t)g->in_h * g->in_w * g->in_c;
  for (int64_t b = 0; b < g->batches; b++)
    rt_asymmetric_quantize(in + b * in_size, in_size, qbuf + b * in_size, &scales[b], &offsets[b]);
  RT_DWCONV_LOOP(g, b, qbuf, w, out, uint32_t, HY_ACC, HY_DW_DONE);
}
