/* float32 kernels, in the summation order of TensorFlow Lite's reference kernels (read, not
 * copied) so that results match them bit for bit on the same libm:
 *   CONV_2D            reference/conv.h                Conv: total += in * w over (ky, kx, ic),
 *                                                      then ActivationFunctionWithMinMax(total
 *                                                      + bias)
 *   DEPTHWISE_CONV_2D  reference/depthwiseconv_float.h DepthwiseConv
 *   TRANSPOSE_CONV     reference/transpose_conv.h      TransposeConv (scatter order, bias, clamp)
 *   FULLY_CONNECTED    reference/fully_connected.h     FullyConnected
 *   AVERAGE/MAX_POOL   reference/pooling.h             AveragePool (total / count), MaxPool
 *   SOFTMAX            reference/softmax.h             Softmax (float): exp((x - max) * beta),
 *                                                      sum, divide
 *   LOGISTIC           reference/logistic.h            Logistic with the 16.619.../-9 cutoffs
 *   FULLY_CONNECTED    fully_connected.cc EvalHybridDense (dynamic range): per batch row,
 *   hybrid             tensor_utils SymmetricQuantizeFloats (range = max|x|, scale =
 *                      range / 127, q = round(x * (127 / range))) or, with
 *                      asymmetric_quantize_inputs, AsymmetricQuantizeFloats (kernels_hybrid.c)
 *                      and the row sums times the offset subtracted from each dot, then
 *                      MatrixBatchVectorMultiplyAccumulate (out = bias, out += dot * scale)
 *                      and ApplyActivationToVector
 * ADD and MEAN share the int8 file's iteration helpers (kernels_int8.c). The module is built
 * with -ffp-contract=off: a fused multiply-add would change the low bits. */
#include <float.h>
#include <math.h>
#include <string.h>
#include <stdint.h>

#include "fakequant/fixedpoint_avx2.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_simd.h"

/* Sums in the reference order; the bias after the sum (ActivationFunctionWithMinMax(total +
 * bias), +-inf clamp to the bounds). */
#define F32_ACC(acc, x, w) acc += (x) * (w)
#define F32_DONE(o, oc, acc) (o)[oc] = rt_clampf((acc) + (bias ? bias[oc] : 0.0f), act_min, act_max)

void rt_conv2d_f32(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                   const float *w, const float *bias, float *out) {
  RT_CONV_LOOP(g, b, in, w, out, float, F32_ACC, F32_DONE);
}

/* The scatter's per-element order (RT_TCONV_LOOP), then the bias where there is one (+ 0.0f
 * would turn -0.0f into +0.0f) and ActivationFunctionWithMinMax. */
#define TC_F32_DONE(o, oc, acc) (o)[oc] = rt_clampf(bias ? (acc) + bias[oc] : (acc), act_min, act_max)
void rt_tconv_f32(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                  const float *w, const float *bias, float *out) {
  RT_TCONV_LOOP(g, b, in, w, out, float, F32_ACC, TC_F32_DONE);
}

#if defined(__x86_64__) || defined(__i386__)
/* The AVX2 path, depth multiplier 1: 16 channels (two registers) a block, each channel's
 * products rounded and added in the reference's tap order (ky, kx), taps outside the image
 * skipped, from +0, then + bias (or + 0.0f) and the clamp, as F32_DONE. The reference loop
 * (channel outermost) ran MobileNetV2's depthwise layers several times slower. */
QAT_AVX2 static inline __m256i dw_mask8(int valid) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), lane);
}

QAT_AVX2 static void dw_f32_row_avx2(const rt_conv_geom *geom, float act_min, float act_max, const float *in,
                                     const float *w, const float *bias, float *out, int64_t row) {
  const rt_conv_geom gc = *geom, *g = &gc;
  const int64_t b = row / g->out_h, y0 = row % g->out_h * g->stride_h - g->pad_h, C = g->out_c;
  const __m256 lo = _mm256_set1_ps(act_min), hi = _mm256_set1_ps(act_max);
  for (int64_t c0 = 0; c0 < C; c0 += 16) {
    const int valid = C - c0 < 16 ? (int)(C - c0) : 16;
    const __m256i m0 = dw_mask8(valid), m1 = dw_mask8(valid - 8);
    const __m256 b0 = bias ? _mm256_maskload_ps(bias + c0, m0) : _mm256_setzero_ps();
    const __m256 b1 = bias ? _mm256_maskload_ps(bias + c0 + 8, m1) : _mm256_setzero_ps();
    for (int64_t ox = 0; ox < g->out_w; ox++) {
      const int64_t x0 = ox * g->stride_w - g->pad_w;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
      RT_FOR_EACH_TAP(g, b, y0, x0, ky, kx, at, {
        const float *wp = w + (ky * g->k_w + kx) * C + c0, *xp = in + at + c0;
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_maskload_ps(xp, m0), _mm256_maskload_ps(wp, m0)));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_maskload_ps(xp + 8, m1), _mm256_maskload_ps(wp + 8, m1)));
      });
      float *o = out + (row * g->out_w + ox) * C + c0;
      /* x < lo ? lo : x, then hi < x ? hi : x (a NaN passes) */
      __m256 v0 = _mm256_add_ps(a0, b0), v1 = _mm256_add_ps(a1, b1);
      v0 = _mm256_blendv_ps(v0, lo, _mm256_cmp_ps(v0, lo, _CMP_LT_OQ));
      v1 = _mm256_blendv_ps(v1, lo, _mm256_cmp_ps(v1, lo, _CMP_LT_OQ));
      v0 = _mm256_blendv_ps(v0, hi, _mm256_cmp_ps(hi, v0, _CMP_LT_OQ));
      v1 = _mm256_blendv_ps(v1, hi, _mm256_cmp_ps(hi, v1, _CMP_LT_OQ));
      _mm256_maskstore_ps(o, m0, v0);
      _mm256_maskstore_ps(o + 8, m1, v1);
    }
  }
}
#endif

void rt_dwconv2d_f32(const rt_conv_geom *g, float act_min, float act_max, const float *in,
                     const float *w, const float *bias, float *out) {
  /* the same order, 16 channels at a time (windows up to 128 taps) */
  if (rt_simd_avx512() && rt_dwconv2d_f32_avx512(g, act_min, act_max, in, w, bias, out) == 0) return;
#if defined(__x86_64__) || defined(__i386__)
  if (rt_igemm_path() == RT_IGEMM_AVX2 && g->depth_multiplier == 1) {
    const int64_t rows = (int64_t)g->batches * g->out_h;
    RT_FOR(rows * g->out_w * g->out_c * g->k_h * g->k_w > RT_PARALLEL_MACS, row, rows,
           dw_f32_row_avx2(g, act_min, act_max, in, w, bias, out, row));
    return;
  }
#endif
  RT_DWCONV_LOOP(g, b, in, w, out, float, F32_ACC, F32_DONE);
}

void rt_fc_f32(int batches, int accum_depth, int out_depth, float act_min, float act_max,
               const float *in, const float *w, const float *bias, float *out) {
  for (int64_t b = 0; b < batches; b++)
    for (int64_t oc = 0; oc < out_depth; oc++) {
      const float *ip = in + b * accum_depth, *wp = w + oc * accum_depth;
      float total = 0.0f;
      for (int d = 0; d < accum_depth; d++) total += ip[d] * wp[d];
      const float bv = bias ? bias[oc] : 0.0f;
      out[b * out_depth + oc] = rt_clampf(total + bv, act_min, act_max);
    }
}

int rt_avgpool_f32(const rt_pool_geom *g, float act_min, float act_max, const float *in,
                   float *out) {
  RT_FOR_EACH_POOL_WINDOW(g, b, y0, x0, fy0, fy1, fx0, fx1, c, oi, {
    float total = 0.0f, count = 0.0f;
    for (int64_t fy = fy0; fy < fy1; fy++)
      for (int64_t fx = fx0; fx < fx1; fx++) {
        total += in[RT_POOL_AT(g, b, y0, x0, fy, fx, c)];
        count += 1.0f;
      }
    if (count == 0.0f) return -1;
    out[oi] = rt_clampf(total / count, act_min, act_max);
  });
  return 0;
}

/* Channels innermost: each channel still takes std::max over its taps in the reference's
 * order (a NaN is never taken), and the contiguous channel loop vectorizes. */
void rt_maxpool_f32(const rt_pool_geom *g_in, float act_min, float act_max, const float *in,
                    float *out) {
  if (rt_simd_avx512()) {
    rt_maxpool_f32_avx512(g_in, act_min, act_max, in, out);
    return;
  }
  const rt_pool_geom geom = *g_in, *g = &geom;
  const int64_t C = g->c;
  RT_FOR_EACH_OUT_PIXEL(g, b, y0, x0, pix, {
    const int64_t fy0 = y0 < 0 ? -y0 : 0, fx0 = x0 < 0 ? -x0 : 0;
    const int64_t fy1 = g->in_h - y0 < g->f_h ? g->in_h - y0 : g->f_h;
    const int64_t fx1 = g->in_w - x0 < g->f_w ? g->in_w - x0 : g->f_w;
    float *restrict o = out + pix * C;
    for (int64_t c = 0; c < C; c++) o[c] = -FLT_MAX; /* std::numeric_limits<float>::lowest() */
    for (int64_t fy = fy0; fy < fy1; fy++)
      for (int64_t fx = fx0; fx < fx1; fx++) {
        const float *restrict ip = in + ((b * g->in_h + y0 + fy) * g->in_w + x0 + fx) * C;
        for (int64_t c = 0; c < C; c++) o[c] = o[c] < ip[c] ? ip[c] : o[c]; /* std::max(mx, v) */
      }
    for (int64_t c = 0; c < C; c++) o[c] = rt_clampf(o[c], act_min, act_max);
  });
}

void rt_add_f32(const rt_bcast *b, float act_min, float act_max, const float *in1, const float *in2,
                float *out) {
  /* ActivationFunctionWithMinMax(x + y): std::min(std::max(v, lo), hi); NaN passes through. */
  RT_FOR_EACH_BCAST(b, i1, i2, o, {
    float v = in1[i1] + in2[i2];
    v = v < act_min ? act_min : v;
    out[o] = act_max < v ? act_max : v;
  });
}

void rt_mean_f32(const rt_reduce_geom *g, const float *in, float *out) {
  /* reduce.h Mean<float, float>: sums in input order into each output, then / (float)n. */
  for (int64_t o = 0; o < g->n_out; o++) out[o] = 0.0f;
  if (g->rank == 4 && g->axis_mask == 6u) {
    /* the spatial mean of [N, H, W, C] (global average pooling): whole rows of channels added
     * at a time; each channel still adds its pixels in input order */
    const int64_t hw = g->dims[1] * g->dims[2], C = g->dims[3];
    for (int64_t b = 0; b < g->dims[0]; b++) {
      float *restrict acc = out + b * C;
      for (int64_t px = 0; px < hw; px++) {
        const float *restrict row = in + (b * hw + px) * C;
        for (int64_t c = 0; c < C; c++) acc[c] += row[c];
      }
    }
  } else {
    int64_t ostride[QAT_RT_MAX_RANK];
    rt_reduce_strides(g, ostride);
    RT_FOR_EACH_REDUCED(g, ostride, i, o, out[o] += in[i]);
  }
  const float n = (float)g->n_reduce;
  for (int64_t o = 0; o < g->n_out; o++) out[o] = out[o] / n;
}

void rt_softmax_f32(int64_t outer, int64_t depth, float beta, const float *in, float *out) {
  for (int64_t i = 0; i < outer; i++) {
    const float *row = in + i * depth;
    float *orow = out + i * depth;
    float mx = -FLT_MAX;
    for (int64_t c = 0; c < depth; c++) mx = mx < row[c] ? row[c] : mx;
    float sum = 0.0f;
    for (int64_t c = 0; c < depth; c++) {
      const float e = expf((row[c] - mx) * beta);
      orow[c] = e;
      sum += e;
    }
    for (int64_t c = 0; c < depth; c++) orow[c] = orow[c] / sum;
  }
}

void rt_logistic_f32(int64_t n, const float *in, float *out) {
  const float cutoff_upper = 16.619047164916992188f, cutoff_lower = -9.0f;
  for (int64_t i = 0; i < n; i++) {
    const float v = in[i];
    out[i] = v > cutoff_upper ? 1.0f : v < cutoff_lower ? expf(v) : 1.0f / (1.0f + expf(-v));
  }
}

float rt_symmetric_quantize(const float *x, int64_t n, int8_t *q) {
  float vscale;
  if (rt_simd_avx512() && rt_symmetric_quantize_avx512(x, n, q, &vscale) == 0) return vscale;
  /* std::minmax_element: the first minimum and the last maximum; only their magnitudes
   * matter here. */
  float mn = x[0], mx = x[0];
  for (int64_t i = 1; i < n; i++) {
    if (x[i] < mn) mn = x[i];
    if (!(x[i] < mx)) mx = x[i];
  }
  const float amn = fabsf(mn), amx = fabsf(mx);
  const float range = amn < amx ? amx : amn; /* std::max(|min|, |max|) */
  if (range == 0.0f) {
    for (int64_t i = 0; i < n; i++) q[i] = 0;
    return 1.0f;
  }
  const float inv = 127 / range;
  for (int64_t i = 0; i < n; i++) {
    const float r = roundf(x[i] * inv);
    /* static_cast<int32_t> of a NaN (an infinite input makes inv 0 and inf * 0 NaN) is
     * undefined; x86's cvttss2si gives INT32_MIN, which the clamp makes -127. */
    const int32_t v = r >= -2147483648.0f && r < 2147483648.0f ? (int32_t)r : INT32_MIN;
    q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
  }
  return range / 127;
}

void rt_fc_hybrid(int batches, int accum_depth, int out_depth, int activation, const float *in,
                  const int8_t *w, const float *w_scales, int per_channel, int asymmetric,
                  const float *bias, float *out, int8_t *qbuf, float *scales, int32_t *offsets,
                  const rt_igemm_b *pk, int32_t *dots) {
  const int64_t n_out = (int64_t)batches * out_depth, n_in = (int64_t)batches * accum_depth;
  /* Output = bias (VectorBatchVectorAssign) or 0. */
  for (int64_t b = 0; b < batches; b++)
    for (int64_t c = 0; c < out_depth; c++) out[b * out_depth + c] = bias ? bias[c] : 0.0f;
  /* IsZeroVector over the whole input: skip the product (a -0.0 bias stays -0.0). The bits
   * without the sign, or-ed: 0 exactly when every value is +-0.0, in a loop that vectorizes
   * (every branch and early exit in these loops kept a 128x128 layer at 0.6 us) */
  uint32_t nonzero = 0;
  for (int64_t i = 0; i < n_in; i++) {
    uint32_t b;
    memcpy(&b, in + i, sizeof b);
    nonzero |= b & 0x7fffffffu;
  }
  if (nonzero) {
    for (int64_t b = 0; b < batches; b++) {
      offsets[b] = 0;
      if (asymmetric) /* asymmetric_quantize_inputs (version 9+): the offset's row sums come out of each dot */
        rt_asymmetric_quantize(in + b * accum_depth, accum_depth, qbuf + b * accum_depth, &scales[b], &offsets[b]);
      else
        scales[b] = rt_symmetric_quantize(in + b * accum_depth, accum_depth, qbuf + b * accum_depth);
    }
    /* the integer dots on the packed GEMM where there is one (sums modulo 2^32: any order) */
    const int packed = pk && pk->path != RT_IGEMM_PLAIN;
    if (packed) rt_igemm_dots(pk, batches, 0, qbuf, dots);
    for (int64_t b = 0; b < batches; b++) {
      const int8_t *q = qbuf + b * accum_depth;
      const float scale = scales[b];
      const int32_t offset = offsets[b];
      /* Per tensor, the filter scale is folded into the batch's factor first. */
      const float batch_scale = per_channel ? scale : scale * w_scales[0];
      float *o = out + b * out_depth;
      if (packed) { /* dot - row_sum * offset, int32 in TFLite, wrapping here */
        const int32_t *restrict d = dots + b * out_depth, *restrict ws = pk->wsum;
        if (per_channel)
          for (int64_t c = 0; c < out_depth; c++)
            o[c] += (float)(int32_t)((uint32_t)d[c] - (uint32_t)ws[c] * (uint32_t)offset) * (batch_scale * w_scales[c]);
        else
          for (int64_t c = 0; c < out_depth; c++)
            o[c] += (float)(int32_t)((uint32_t)d[c] - (uint32_t)ws[c] * (uint32_t)offset) * batch_scale;
        continue;
      }
      for (int64_t c = 0; c < out_depth; c++) {
        uint32_t dot = 0, row_sum = 0;
        const int8_t *wr = w + c * accum_depth;
        for (int64_t i = 0; i < accum_depth; i++) {
          dot += (uint32_t)((int32_t)wr[i] * q[i]);
          row_sum += (uint32_t)(int32_t)wr[i];
        }
        dot -= row_sum * (uint32_t)offset;
        const float s = per_channel ? batch_scale * w_scales[c] : batch_scale;
        o[c] += (float)(int32_t)dot * s;
      }
    }
  }
  /* ApplyActivationToVector: std::max(0.0f, x) etc. (a NaN becomes the bound), one loop per
   * activation */
  switch (activation) {
    case RT_ACT_RELU:
      for (int64_t i = 0; i < n_out; i++) out[i] = 0.0f < out[i] ? out[i] : 0.0f;
      break;
    case RT_ACT_RELU6:
      for (int64_t i = 0; i < n_out; i++) {
        const float t = 6.0f < out[i] ? 6.0f : out[i]; /* std::max(0.0f, std::min(v, 6.0f)) */
        out[i] = 0.0f < t ? t : 0.0f;
      }
      break;
    case RT_ACT_RELU_N1_TO_1:
      for (int64_t i = 0; i < n_out; i++) {
        const float t = 1.0f < out[i] ? 1.0f : out[i]; /* std::max(-1.0f, std::min(v, 1.0f)) */
        out[i] = -1.0f < t ? t : -1.0f;
      }
      break;
    default: break;
  }
}
