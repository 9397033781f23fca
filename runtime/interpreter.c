/* The interpreter: per-operator preparation (what TFLite's Prepare functions check and
 * compute), the arena plan, and Invoke.
 *
 * Preparation follows the Prepare/Eval pair of each TFLite kernel in its kReference variant
 * (tensorflow/lite/kernels/{conv,depthwise_conv,fully_connected,pooling,reduce,reshape,
 * activations,add,quantize,dequantize}.cc, read not copied): the same output shape rules
 * (kernels/padding.h ComputeOutSize / ComputePaddingHeightWidth), the same multipliers
 * (kernel_util.cc PopulateConvolutionQuantizationParams, GetQuantizedConvolutionMultipler,
 * CalculateActivationRangeQuantized; add.cc's left_shift 20 rescaling; reduce.cc's
 * QuantizeMultiplier(in/out); quantization_util.cc PreprocessSoftmaxScaling and
 * CalculateInputRadius). Where TFLite would abort or compute garbage (a TFLITE_CHECK, an
 * undefined shift), the op is refused at load time instead.
 *
 * The stored output shape of every op must equal the shape the op computes (TFLite resizes
 * outputs; a file whose stored shape disagrees is refused rather than silently reshaped). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_internal.h"

enum {
  RK_CONV_I8 = 1,
  RK_CONV_F32,
  RK_DW_I8,
  RK_DW_F32,
  RK_FC_I8,
  RK_FC_F32,
  RK_AVG_I8,
  RK_AVG_F32,
  RK_MAX_I8,
  RK_MAX_F32,
  RK_MEAN_I8,
  RK_MEAN_F32,
  RK_COPY,
  RK_SOFTMAX_I8,
  RK_SOFTMAX_F32,
  RK_ADD_I8,
  RK_ADD_F32,
  RK_LOGISTIC_I8,
  RK_LOGISTIC_F32,
  RK_QUANTIZE,
  RK_REQUANTIZE,
  RK_DEQUANTIZE, RK_FC_HYBRID,
  RK_CONV_I16,
  RK_DW_I16,
  RK_FC_I16,
  RK_AVG_I16,
  RK_MAX_I16,
  RK_MEAN_I16,
  RK_SOFTMAX_I16,
  RK_ADD_I16,
  RK_CONV_HYBRID,    /* symmetric per-tensor input quantization (conv.cc EvalHybrid) */
  RK_CONV_HYBRID_PC, /* asymmetric, per-channel weights (EvalHybridPerChannel) */
  RK_DW_HYBRID,
  RK_NOP /* done at prepare time (a constant's DEQUANTIZE) */
};

/* Highest version of each operator that TFLite's builtin op resolver registers. Versions are
 * features (types, hybrid, int4...); the types are checked per op below, so any registered
 * version is accepted here and a version TFLite would not load is refused. */
static int max_version(int code) {
  switch (code) {
    case QAT_RT_OP_ADD: return 5;
    case QAT_RT_OP_AVERAGE_POOL_2D: return 3;
    case QAT_RT_OP_CONV_2D: return 8;
    case QAT_RT_OP_DEPTHWISE_CONV_2D: return 7;
    case QAT_RT_OP_DEQUANTIZE: return 6;
    case QAT_RT_OP_FULLY_CONNECTED: return 13;
    case QAT_RT_OP_LOGISTIC: return 3;
    case QAT_RT_OP_MAX_POOL_2D: return 3;
    case QAT_RT_OP_MEAN: return 3;
    case QAT_RT_OP_QUANTIZE: return 3;
    case QAT_RT_OP_RESHAPE: return 1;
    case QAT_RT_OP_SOFTMAX: return 3;
    default: return 0;
  }
}

static int unsup(const qat_rt_model *m, int k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int unsup(const qat_rt_model *m, int k, const char *fmt, ...) {
  char why[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  const rt_op *op = &m->ops[k];
  return qat_fail(QAT_ERR_UNSUPPORTED, "%s: unsupported operator %s version %d at node %d: %s",
                  m->name, op->name, op->version, k, why);
}

static int bad(const qat_rt_model *m, int k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(const qat_rt_model *m, int k, const char *fmt, ...) {
  char why[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return qat_fail(QAT_ERR_FORMAT, "%s: op %d (%s): %s", m->name, k, m->ops[k].name, why);
}

/* Input i of op (NULL when absent or -1). */
static rt_tensor *in_t(qat_rt_model *m, const rt_op *op, int i) {
  return i < op->n_in && op->in[i] >= 0 ? &m->tensors[op->in[i]] : NULL;
}
static rt_tensor *out_t(qat_rt_model *m, const rt_op *op, int i) { return &m->tensors[op->out[i]]; }

static void fmt_dims(char *buf, size_t len, const int64_t *dims, int rank) {
  size_t k = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < rank && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, i ? ",%lld" : "%lld", (long long)dims[i]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

/* The stored output shape must be the computed one. */
static int check_out_shape(qat_rt_model *m, int k, const rt_tensor *o, const int64_t *dims,
                           int rank) {
  int same = o->rank == rank;
  for (int i = 0; same && i < rank; i++) same = o->dims[i] == dims[i];
  if (same) return QAT_OK;
  char want[128], have[128];
  int64_t od[QAT_RT_MAX_RANK];
  for (int i = 0; i < o->rank; i++) od[i] = o->dims[i];
  fmt_dims(want, sizeof want, dims, rank);
  fmt_dims(have, sizeof have, od, o->rank);
  return bad(m, k, "output tensor '%s' has shape %s, the op computes %s", o->name, have, want);
}

static int same_shape(const rt_tensor *a, const rt_tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

/* Per-tensor quantization of an int8/uint8 activation, as TFLite reads params.scale /
 * params.zero_point (the first entry). */
static int need_per_tensor(qat_rt_model *m, int k, const rt_tensor *t, const char *what) {
  if (t->n_q != 1)
    return t->n_q == 0 ? bad(m, k, "%s tensor '%s' (%s) has no quantization parameters", what,
                             t->name, qat_rt_type_name(t->type))
                       : unsup(m, k, "%s tensor '%s' is quantized per axis (%d scales)", what,
                               t->name, t->n_q);
  return QAT_OK;
}

static int activation_range_f32(qat_rt_model *m, int k, int act, float *lo, float *hi) {
  /* kernel_util.h CalculateActivationRange<float>: NONE is [lowest, max], so infinities
   * clamp to +-FLT_MAX exactly as TFLite's ActivationFunctionWithMinMax does. */
  switch (act) {
    case RT_ACT_NONE: *lo = -FLT_MAX, *hi = FLT_MAX; return QAT_OK;
    case RT_ACT_RELU: *lo = 0.0f, *hi = FLT_MAX; return QAT_OK;
    case RT_ACT_RELU_N1_TO_1: *lo = -1.0f, *hi = 1.0f; return QAT_OK;
    case RT_ACT_RELU6: *lo = 0.0f, *hi = 6.0f; return QAT_OK;
    default:
      if (act == 4 || act == 5) return unsup(m, k, "fused activation %d (TANH/SIGN_BIT)", act);
      return bad(m, k, "fused activation %d is not an ActivationFunctionType", act);
  }
}

static int activation_range_q(qat_rt_model *m, int k, int act, const rt_tensor *o, int qmin,
                              int qmax, int32_t *amin, int32_t *amax) {
  float lo = 0.0f, hi = 0.0f;
  int rc = activation_range_f32(m, k, act, &lo, &hi);
  if (rc) return rc;
  if (act == RT_ACT_NONE) lo = -INFINITY, hi = INFINITY;
  if (act == RT_ACT_RELU) hi = INFINITY;
  rc = qat_activation_bounds(o->scales[0], (int32_t)o->zero_points[0], qmin, qmax, lo, hi, amin,
                             amax);
  if (rc) return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, m->ops[k].name);
  return QAT_OK;
}

/* kernels/padding.h: ComputeOutSize and ComputePadding, in 64 bits (dilations and strides
 * come from the file). */
static int64_t out_size(int padding, int64_t in, int64_t filter, int64_t stride, int64_t dil) {
  const int64_t eff = (filter - 1) * dil + 1;
  return padding == RT_PAD_SAME ? (in + stride - 1) / stride : (in + stride - eff) / stride;
}
static int64_t pad_before(int64_t stride, int64_t dil, int64_t in, int64_t filter, int64_t out) {
  const int64_t eff = (filter - 1) * dil + 1;
  const int64_t p = ((out - 1) * stride + eff - in) / 2;
  return p > 0 ? p : 0;
}

static int check_window_params(qat_rt_model *m, int k, const rt_options *o, int with_dilation) {
  if (o->padding != RT_PAD_SAME && o->padding != RT_PAD_VALID)
    return bad(m, k, "padding %d is neither SAME nor VALID", o->padding);
  if (o->stride_w < 1 || o->stride_h < 1)
    return bad(m, k, "stride %dx%d must be >= 1", o->stride_h, o->stride_w);
  if (with_dilation && (o->dilation_w < 1 || o->dilation_h < 1))
    return bad(m, k, "dilation %dx%d must be >= 1", o->dilation_h, o->dilation_w);
  return QAT_OK;
}

/* Output spatial size and padding for a window op; the result must be >= 1. */
static int window_geometry(qat_rt_model *m, int k, int padding, int64_t in_h, int64_t in_w,
                           int64_t f_h, int64_t f_w, int64_t s_h, int64_t s_w, int64_t d_h,
                           int64_t d_w, int *out_h, int *out_w, int *pad_h, int *pad_w) {
  /* Effective filter sizes beyond 2^31 cannot fit any image: refuse before the arithmetic. */
  if ((f_h - 1) * d_h > INT32_MAX || (f_w - 1) * d_w > INT32_MAX)
    return bad(m, k, "the dilated filter is larger than 2^31");
  const int64_t oh = out_size(padding, in_h, f_h, s_h, d_h);
  const int64_t ow = out_size(padding, in_w, f_w, s_w, d_w);
  if (oh < 1 || ow < 1)
    return bad(m, k,
               "a %lldx%lld filter (dilation %lldx%lld) does not fit the %lldx%lld input "
               "with VALID padding",
               (long long)f_h, (long long)f_w, (long long)d_h, (long long)d_w, (long long)in_h,
               (long long)in_w);
  *out_h = (int)oh;
  *out_w = (int)ow;
  *pad_h = (int)pad_before(s_h, d_h, in_h, f_h, oh);
  *pad_w = (int)pad_before(s_w, d_w, in_w, f_w, ow);
  return QAT_OK;
}

/* Weights of conv/depthwise/FC: int8 symmetric, zero points 0, scales per tensor or per
 * channel along `axis` with n_out entries. */
static int check_weights_q(qat_rt_model *m, int k, const rt_tensor *w, int axis, int64_t n_out) {
  if (w->n_q == 0) return bad(m, k, "weights '%s' have no quantization parameters", w->name);
  if (w->n_q != 1 && (w->qdim != axis || w->n_q != n_out))
    return bad(m, k,
               "weights '%s' have %d scales along dimension %d, expected 1 or %lld along "
               "dimension %d",
               w->name, w->n_q, w->qdim, (long long)n_out, axis);
  for (int c = 0; c < w->n_q; c++)
    if (w->zero_points[c] != 0)
      return bad(m, k,
                 "weights '%s' have zero_point[%d] = %lld; int8 weights must be "
                 "symmetric (zero point 0)",
                 w->name, c, (long long)w->zero_points[c]);
  return QAT_OK;
}

/* Bias: int32, zero point 0, scale = s_in * s_w[c] to 1e-6 relative (the spec's bias scale;
 * TFLite itself only checks |s_b - s_in*s_w| / s_out <= 0.02 in GetQuantizedConvolutionMultipler,
 * but a bias at another scale would be silently mis-scaled by every kernel). */
static int check_bias_q(qat_rt_model *m, int k, const rt_tensor *b, const rt_tensor *in,
                        const rt_tensor *w, int64_t n_out) {
  /* int8 kernels take INT32 bias; the 16x8 ones INT64 (an INT32 bias there needs the
   * quantized_bias_type option, which this runtime does not read). */
  const int want_type = in->type == QAT_RT_INT16 ? QAT_RT_INT64 : QAT_RT_INT32;
  if (b->type != want_type)
    return unsup(m, k, "bias '%s' is %s (%s kernels take %s bias)", b->name,
                 qat_rt_type_name(b->type), qat_rt_type_name(in->type),
                 qat_rt_type_name(want_type));
  if (b->n_elems != n_out)
    return bad(m, k, "bias '%s' has %lld elements for %lld output channels", b->name,
               (long long)b->n_elems, (long long)n_out);
  if (b->n_q == 0) return bad(m, k, "bias '%s' has no quantization parameters", b->name);
  if (b->n_q != 1 && b->n_q != n_out)
    return bad(m, k, "bias '%s' has %d scales for %lld channels", b->name, b->n_q,
               (long long)n_out);
  for (int64_t c = 0; c < n_out; c++) {
    const double bs = b->scales[b->n_q == 1 ? 0 : c];
    const double ws = w->scales[w->n_q == 1 ? 0 : c];
    const int64_t bz = b->zero_points[b->n_q == 1 ? 0 : c];
    const double want = (double)in->scales[0] * ws;
    if (bz != 0)
      return bad(m, k, "bias '%s' has zero point %lld (must be 0)", b->name, (long long)bz);
    if (fabs(bs - want) > 1e-6 * want)
      return bad(m, k,
                 "bias '%s' scale[%lld] = %.9g, expected input scale x weight scale = "
                 "%.9g (relative difference above 1e-6)",
                 b->name, (long long)c, bs, want);
    if (b->n_q == 1 && w->n_q == 1) break;
  }
  return QAT_OK;
}

/* Per-channel output multipliers (PopulateConvolutionQuantizationParams). */
static int prepare_requant(qat_rt_model *m, int k, rt_op *op, const rt_tensor *in,
                           const rt_tensor *w, const rt_tensor *o, int64_t n_out) {
  op->mult = malloc((size_t)n_out * sizeof *op->mult);
  op->shift = malloc((size_t)n_out * sizeof *op->shift);
  if (!op->mult || !op->shift) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  int rc = qat_conv_multipliers(in->scales[0], w->scales, w->n_q, o->scales[0], n_out, op->mult,
                                op->shift);
  if (rc == QAT_ERR_UNSUPPORTED)
    return unsup(m, k, "output requantization: %s", qat_error_message());
  if (rc) return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, op->name);
  op->rq.in_offset = -(int32_t)in->zero_points[0];
  op->rq.out_zp = (int32_t)o->zero_points[0];
  op->rq.mult = op->mult;
  op->rq.shift = op->shift;
  if (o->type == QAT_RT_INT16)
    return activation_range_q(m, k, op->opt.activation, o, -32768, 32767, &op->rq.act_min,
                              &op->rq.act_max);
  return activation_range_q(m, k, op->opt.activation, o, -128, 127, &op->rq.act_min,
                            &op->rq.act_max);
}

static int is_f32(const rt_tensor *t) { return t && t->type == QAT_RT_FLOAT32; }
static int is_i8(const rt_tensor *t) { return t && t->type == QAT_RT_INT8; }
static int is_i16(const rt_tensor *t) { return t && t->type == QAT_RT_INT16; }

/* 16x8: per-tensor int16 activations with zero point 0 (every LiteRT int16 kernel ensures it,
 * or, like DEPTHWISE_CONV_2D, silently ignores the zero point). */
static int need_int16_symmetric(qat_rt_model *m, int k, const rt_tensor *t, const char *what) {
  int rc = need_per_tensor(m, k, t, what);
  if (rc) return rc;
  if (t->zero_points[0] != 0)
    return bad(m, k, "int16 %s tensor '%s' has zero point %lld; int16 activations are symmetric "
               "(zero point 0)", what, t->name, (long long)t->zero_points[0]);
  return QAT_OK;
}

/* The 64-bit MultiplyByQuantizedMultiplier of the 16x8 kernels requires |accumulator| < 2^47
 * (a DCHECK only in TFLite; past it the result is garbage). Bound it from the model:
 * taps * 128 * 32768 + max |bias|, and refuse a model that could exceed it. Its shift must be
 * at most 7. */
static int check_acc64(qat_rt_model *m, int k, rt_op *op, int64_t taps, const rt_tensor *b,
                       int64_t n_out) {
  int64_t max_bias = 0;
  if (b) {
    const int64_t *bv = (const int64_t *)b->const_data;
    for (int64_t c = 0; c < n_out; c++) {
      const int64_t v = bv[c];
      if (v <= -((int64_t)1 << 46) || v >= ((int64_t)1 << 46))
        return unsup(m, k, "bias '%s'[%lld] = %lld is beyond 2^46 (the 16x8 kernels' 64-bit "
                     "requantization needs accumulators below 2^47)", b->name, (long long)c,
                     (long long)v);
      const int64_t a = v < 0 ? -v : v;
      if (a > max_bias) max_bias = a;
    }
  }
  if (taps > (((int64_t)1 << 46) - max_bias) / ((int64_t)1 << 22))
    return unsup(m, k, "%lld products per output can push the int64 accumulator past 2^47",
                 (long long)taps);
  for (int64_t c = 0; c < n_out; c++)
    if (op->shift[c] > 7)
      return unsup(m, k, "the output multiplier of channel %lld is 2^%d or more (the 16x8 "
                   "kernels allow at most 2^7)", (long long)c, op->shift[c] - 1);
  return QAT_OK;
}

static int check_io_count(qat_rt_model *m, int k, int min_in, int max_in, int n_out) {
  const rt_op *op = &m->ops[k];
  if (op->n_in < min_in || op->n_in > max_in) {
    if (min_in == max_in) return bad(m, k, "has %d inputs, expected %d", op->n_in, min_in);
    return bad(m, k, "has %d inputs, expected %d to %d", op->n_in, min_in, max_in);
  }
  for (int i = 0; i < min_in; i++)
    if (op->in[i] < 0) return bad(m, k, "input %d is -1 but is not optional", i);
  if (op->n_out != n_out) return bad(m, k, "has %d outputs, expected %d", op->n_out, n_out);
  return QAT_OK;
}

/* Dynamic range (kernels_hybrid.c). CONV_2D takes the per-channel kernel when the weight
 * scales differ from each other (conv.cc's is_hybrid_per_channel) or the conv is grouped, else
 * the per-tensor one; DEPTHWISE_CONV_2D always the per-channel one. */
static int prepare_conv_hybrid(qat_rt_model *m, int k, rt_op *op, const rt_tensor *in, const rt_tensor *w,
                               int depthwise) {
  const rt_conv_geom *g = &op->conv;
  int rc = check_weights_q(m, k, w, depthwise ? 3 : 0, g->out_c);
  if (rc) return rc;
  int per_channel = 0;
  for (int c = 1; c < w->n_q; c++)
    if (w->scales[c] != w->scales[0]) per_channel = 1;
  if (depthwise || g->in_c != g->filter_in_c) {
    /* these read one scale per output channel */
    if (w->n_q != g->out_c)
      return unsup(m, k, "hybrid %s needs one weight scale per output channel (got %d for %d)",
                   depthwise ? "DEPTHWISE_CONV_2D" : "grouped CONV_2D", w->n_q, g->out_c);
    per_channel = 1;
  }
  op->kind = depthwise ? RK_DW_HYBRID : per_channel ? RK_CONV_HYBRID_PC : RK_CONV_HYBRID;
  /* the quantized input, then one scale and one offset per batch */
  const size_t qbytes = ((size_t)in->n_elems + 7) & ~(size_t)7;
  op->qbuf = malloc(qbytes + (size_t)g->batches * (sizeof(float) + sizeof(int32_t)));
  if (!op->qbuf) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  op->hy_scales = (float *)(void *)(op->qbuf + qbytes);
  op->hy_offsets = (int32_t *)(void *)(op->hy_scales + g->batches);
  return activation_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
}

static int prepare_conv(qat_rt_model *m, int k, rt_op *op, int depthwise) {
  int rc = check_io_count(m, k, 2, 3, 1);
  if (rc) return rc;
  rt_tensor *in = in_t(m, op, 0), *w = in_t(m, op, 1), *b = in_t(m, op, 2), *o = out_t(m, op, 0);
  if (in->rank != 4 || w->rank != 4)
    return bad(m, k, "input and filter must have rank 4 (got %d and %d)", in->rank, w->rank);
  if (!w->const_data) return unsup(m, k, "the filter '%s' is not a constant", w->name);
  if (b && !b->const_data) return unsup(m, k, "the bias '%s' is not a constant", b->name);
  if ((rc = check_window_params(m, k, &op->opt, 1))) return rc;
  rt_conv_geom *g = &op->conv;
  g->batches = in->dims[0], g->in_h = in->dims[1], g->in_w = in->dims[2], g->in_c = in->dims[3];
  g->k_h = w->dims[1], g->k_w = w->dims[2];
  g->stride_h = op->opt.stride_h, g->stride_w = op->opt.stride_w;
  g->dil_h = op->opt.dilation_h, g->dil_w = op->opt.dilation_w;
  if (depthwise) {
    /* Filter [1, kh, kw, in_c * depth_multiplier]; TFLite derives the multiplier from the
     * shapes (depthwise_conv.cc ComputeDepthMultiplier), not from the options. */
    g->out_c = w->dims[3];
    if (w->dims[0] != 1)
      return bad(m, k, "depthwise filter dimension 0 is %d, expected 1", w->dims[0]);
    if (g->out_c % g->in_c)
      return bad(m, k, "%d filter channels are not a multiple of %d input channels", g->out_c,
                 g->in_c);
    g->depth_multiplier = g->out_c / g->in_c;
  } else {
    /* Filter OHWI; grouped convolution when in_c is a multiple of the filter's I. */
    g->out_c = w->dims[0];
    g->filter_in_c = w->dims[3];
    if (g->in_c % g->filter_in_c)
      return bad(m, k, "input depth %d is not a multiple of the filter depth %d", g->in_c,
                 g->filter_in_c);
    const int groups = g->in_c / g->filter_in_c;
    if (g->out_c % groups)
      return bad(m, k, "%d output channels are not divisible into %d groups", g->out_c, groups);
  }
  if ((rc = window_geometry(m, k, op->opt.padding, g->in_h, g->in_w, g->k_h, g->k_w, g->stride_h,
                            g->stride_w, g->dil_h, g->dil_w, &g->out_h, &g->out_w, &g->pad_h,
                            &g->pad_w)))
    return rc;
  const int64_t od[4] = {g->batches, g->out_h, g->out_w, g->out_c};
  if ((rc = check_out_shape(m, k, o, od, 4))) return rc;
  if (b && b->n_elems != g->out_c)
    return bad(m, k, "bias '%s' has %lld elements for %d output channels", b->name,
               (long long)b->n_elems, g->out_c);
  op->macs = (int64_t)g->batches * g->out_h * g->out_w * g->out_c * g->k_h * g->k_w *
             (depthwise ? 1 : g->filter_in_c);
  if (is_f32(in) && is_f32(w) && is_f32(o) && (!b || is_f32(b))) {
    op->kind = depthwise ? RK_DW_F32 : RK_CONV_F32;
    return activation_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
  }
  if (is_i8(in) && is_i8(w) && is_i8(o)) {
    op->kind = depthwise ? RK_DW_I8 : RK_CONV_I8;
    if ((rc = need_per_tensor(m, k, in, "input")) || (rc = need_per_tensor(m, k, o, "output")) ||
        (rc = check_weights_q(m, k, w, depthwise ? 3 : 0, g->out_c)))
      return rc;
    if (b && (rc = check_bias_q(m, k, b, in, w, g->out_c))) return rc;
    return prepare_requant(m, k, op, in, w, o, g->out_c);
  }
  if (is_i16(in) && is_i8(w) && is_i16(o)) {
    op->kind = depthwise ? RK_DW_I16 : RK_CONV_I16;
    if ((rc = need_int16_symmetric(m, k, in, "input")) ||
        (rc = need_int16_symmetric(m, k, o, "output")) ||
        (rc = check_weights_q(m, k, w, depthwise ? 3 : 0, g->out_c)))
      return rc;
    if (b && (rc = check_bias_q(m, k, b, in, w, g->out_c))) return rc;
    if ((rc = prepare_requant(m, k, op, in, w, o, g->out_c))) return rc;
    return check_acc64(m, k, op, (int64_t)g->k_h * g->k_w * (depthwise ? 1 : g->filter_in_c), b,
                       g->out_c);
  }
  if (is_f32(in) && is_i8(w) && is_f32(o) && (!b || is_f32(b)))
    return prepare_conv_hybrid(m, k, op, in, w, depthwise);
  return unsup(m, k, "input %s, filter %s, output %s", qat_rt_type_name(in->type),
               qat_rt_type_name(w->type), qat_rt_type_name(o->type));
}

static int prepare_fc(qat_rt_model *m, int k, rt_op *op) {
  int rc = check_io_count(m, k, 2, 3, 1);
  if (rc) return rc;
  rt_tensor *in = in_t(m, op, 0), *w = in_t(m, op, 1), *b = in_t(m, op, 2), *o = out_t(m, op, 0);
  if (op->opt.weights_format != 0)
    return unsup(m, k, "shuffled weights format %d", op->opt.weights_format);
  if (w->rank != 2) return bad(m, k, "weights must have rank 2 (got %d)", w->rank);
  if (!w->const_data) return unsup(m, k, "the weights '%s' are not a constant", w->name);
  if (b && !b->const_data) return unsup(m, k, "the bias '%s' is not a constant", b->name);
  const int units = w->dims[0], accum = w->dims[1];
  if (in->rank < 1 || in->n_elems % accum)
    return bad(m, k, "input of %lld elements is not a whole number of rows of %d",
               (long long)in->n_elems, accum);
  const int64_t batches = in->n_elems / accum;
  int64_t od[QAT_RT_MAX_RANK];
  int orank;
  if (op->opt.keep_num_dims) {
    /* fully_connected.cc: the input's shape with the last dimension replaced by units. */
    if (in->dims[in->rank - 1] != accum)
      return bad(m, k, "keep_num_dims needs the input's last dimension (%d) to equal %d",
                 in->dims[in->rank - 1], accum);
    orank = in->rank;
    for (int i = 0; i < orank; i++) od[i] = in->dims[i];
    od[orank - 1] = units;
  } else {
    orank = 2;
    od[0] = batches;
    od[1] = units;
  }
  if ((rc = check_out_shape(m, k, o, od, orank))) return rc;
  if (b && b->n_elems != units)
    return bad(m, k, "bias '%s' has %lld elements for %d units", b->name, (long long)b->n_elems,
               units);
  op->batches = (int)batches;
  op->accum_depth = accum;
  op->out_depth = units;
  op->macs = batches * units * (int64_t)accum;
  if (is_f32(in) && is_f32(w) && is_f32(o) && (!b || is_f32(b))) {
    op->kind = RK_FC_F32;
    return activation_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
  }
  if (is_i8(in) && is_i8(w) && is_i8(o)) {
    op->kind = RK_FC_I8;
    if ((rc = need_per_tensor(m, k, in, "input")) || (rc = need_per_tensor(m, k, o, "output")) ||
        (rc = check_weights_q(m, k, w, 0, units)))
      return rc;
    if (b && (rc = check_bias_q(m, k, b, in, w, units))) return rc;
    if ((rc = prepare_requant(m, k, op, in, w, o, units))) return rc;
    if (m->options.flavor == QAT_RT_FLAVOR_LITERT) {
      /* LiteRT's reference FullyConnected(PerChannel): effective_output_scale =
       * (double)input_scale * (double)filter_scale / (double)output_scale, per channel. */
      op->eff = malloc((size_t)units * sizeof *op->eff);
      if (!op->eff) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
      for (int c = 0; c < units; c++)
        op->eff[c] =
            (double)in->scales[0] * (double)w->scales[w->n_q == 1 ? 0 : c] / (double)o->scales[0];
      op->rq.eff = op->eff;
    }
    return QAT_OK;
  }
  if (is_i16(in) && is_i8(w) && is_i16(o)) {
    op->kind = RK_FC_I16;
    if ((rc = need_int16_symmetric(m, k, in, "input")) ||
        (rc = need_int16_symmetric(m, k, o, "output")) || (rc = check_weights_q(m, k, w, 0, units)))
      return rc;
    if (b && (rc = check_bias_q(m, k, b, in, w, units))) return rc;
    if ((rc = prepare_requant(m, k, op, in, w, o, units))) return rc;
    if ((rc = check_acc64(m, k, op, accum, b, units))) return rc;
    if (m->options.flavor == QAT_RT_FLAVOR_LITERT) {
      /* as for int8: the double effective scale of LiteRT's reference kernel */
      op->eff = malloc((size_t)units * sizeof *op->eff);
      if (!op->eff) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
      for (int c = 0; c < units; c++)
        op->eff[c] =
            (double)in->scales[0] * (double)w->scales[w->n_q == 1 ? 0 : c] / (double)o->scales[0];
      op->rq.eff = op->eff;
    }
    return QAT_OK;
  }
  if (is_f32(in) && is_i8(w) && is_f32(o) && (!b || is_f32(b))) {
    /* Dynamic range: fully_connected.cc EvalHybridDense, with symmetric or (version 9+,
     * asymmetric_quantize_inputs) asymmetric run-time input quantization. */
    if (op->opt.activation > RT_ACT_RELU6)
      return unsup(m, k, "fused activation %d", op->opt.activation);
    if ((rc = check_weights_q(m, k, w, 0, units))) return rc;
    op->kind = RK_FC_HYBRID;
    op->qbuf = malloc((size_t)in->n_elems);
    if (!op->qbuf) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
    return QAT_OK;
  }
  return unsup(m, k, "input %s, weights %s, output %s", qat_rt_type_name(in->type),
               qat_rt_type_name(w->type), qat_rt_type_name(o->type));
}

static int prepare_pool(qat_rt_model *m, int k, rt_op *op, int is_max) {
  int rc = check_io_count(m, k, 1, 1, 1);
  if (rc) return rc;
  rt_tensor *in = in_t(m, op, 0), *o = out_t(m, op, 0);
  if (in->rank != 4) return bad(m, k, "input must have rank 4 (got %d)", in->rank);
  if ((rc = check_window_params(m, k, &op->opt, 0))) return rc;
  if (op->opt.filter_w < 1 || op->opt.filter_h < 1)
    return bad(m, k, "filter %dx%d must be >= 1", op->opt.filter_h, op->opt.filter_w);
  rt_pool_geom *g = &op->pool;
  g->batches = in->dims[0], g->in_h = in->dims[1], g->in_w = in->dims[2], g->c = in->dims[3];
  g->f_h = op->opt.filter_h, g->f_w = op->opt.filter_w;
  g->stride_h = op->opt.stride_h, g->stride_w = op->opt.stride_w;
  if ((rc = window_geometry(m, k, op->opt.padding, g->in_h, g->in_w, g->f_h, g->f_w, g->stride_h,
                            g->stride_w, 1, 1, &g->out_h, &g->out_w, &g->pad_h, &g->pad_w)))
    return rc;
  const int64_t od[4] = {g->batches, g->out_h, g->out_w, g->c};
  if ((rc = check_out_shape(m, k, o, od, 4))) return rc;
  if (is_f32(in) && is_f32(o)) {
    op->kind = is_max ? RK_MAX_F32 : RK_AVG_F32;
    return activation_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
  }
  if (is_i8(in) && is_i8(o)) {
    op->kind = is_max ? RK_MAX_I8 : RK_AVG_I8;
    if ((rc = need_per_tensor(m, k, in, "input")) || (rc = need_per_tensor(m, k, o, "output")))
      return rc;
    /* pooling.cc only DCHECKs this: the int8 kernels never rescale. */
    if (in->scales[0] != o->scales[0] || in->zero_points[0] != o->zero_points[0])
      return unsup(m, k,
                   "input and output quantization differ (scale %g/%g, zero point "
                   "%lld/%lld); the int8 pooling kernels do not rescale",
                   (double)in->scales[0], (double)o->scales[0], (long long)in->zero_points[0],
                   (long long)o->zero_points[0]);
    return activation_range_q(m, k, op->opt.activation, o, -128, 127, &op->rq.act_min,
                              &op->rq.act_max);
  }
  if (is_i16(in) && is_i16(o)) {
    op->kind = is_max ? RK_MAX_I16 : RK_AVG_I16;
    if ((rc = need_int16_symmetric(m, k, in, "input")) ||
        (rc = need_int16_symmetric(m, k, o, "output")))
      return rc;
    if (in->scales[0] != o->scales[0])
      return unsup(m, k,
                   "input and output scales differ (%g/%g); the int16 pooling kernels do not "
                   "rescale",
                   (double)in->scales[0], (double)o->scales[0]);
    return activation_range_q(m, k, op->opt.activation, o, -32768, 32767, &op->rq.act_min,
                              &op->rq.act_max);
  }
  return unsup(m, k, "input %s, output %s", qat_rt_type_name(in->type), qat_rt_type_name(o->type));
}

/* An int32 constant vector (MEAN axes, RESHAPE shape). */
static int const_i32(qat_rt_model *m, int k, const rt_tensor *t, const char *what) {
  if (!t->const_data) return unsup(m, k, "the %s tensor '%s' is not a constant", what, t->name);
  if (t->type != QAT_RT_INT32)
    return bad(m, k, "the %s tensor '%s' is %s, expected INT32", what, t->name,
               qat_rt_type_name(t->type));
  if (t->rank > 1) return bad(m, k, "the %s tensor '%s' has rank %d", what, t->name, t->rank);
  return QAT_OK;
}

static int prepare_mean(qat_rt_model *m, int k, rt_op *op) {
  int rc = check_io_count(m, k, 2, 2, 1);
  if (rc) return rc;
  rt_tensor *in = in_t(m, op, 0), *ax = in_t(m, op, 1), *o = out_t(m, op, 0);
  if ((rc = const_i32(m, k, ax, "axis"))) return rc;
  if (in->rank < 1) return bad(m, k, "input is a scalar");
  rt_reduce_geom *g = &op->red;
  g->rank = in->rank;
  g->axis_mask = 0;
  const int32_t *axes = (const int32_t *)ax->const_data;
  for (int64_t i = 0; i < ax->n_elems; i++) {
    int64_t a = axes[i];
    if (a < 0) a += in->rank;
    if (a < 0 || a >= in->rank)
      return bad(m, k, "axis %d is out of range for rank %d", axes[i], in->rank);
    g->axis_mask |= 1u << a; /* duplicates count once (reduce.h ResolveAxis) */
  }
  int64_t od[QAT_RT_MAX_RANK];
  int orank = 0;
  g->n_out = g->n_reduce = 1;
  for (int d = 0; d < in->rank; d++) {
    g->dims[d] = in->dims[d];
    if (g->axis_mask & (1u << d)) {
      g->n_reduce *= in->dims[d];
      if (op->opt.keep_dims) od[orank++] = 1;
    } else {
      g->n_out *= in->dims[d];
      od[orank++] = in->dims[d];
    }
  }
  if ((rc = check_out_shape(m, k, o, od, orank))) return rc;
  if (is_f32(in) && is_f32(o)) {
    op->kind = RK_MEAN_F32;
    return QAT_OK;
  }
  if ((is_i8(in) && is_i8(o)) || (is_i16(in) && is_i16(o))) {
    op->kind = is_i8(in) ? RK_MEAN_I8 : RK_MEAN_I16;
    if ((rc = need_per_tensor(m, k, in, "input")) || (rc = need_per_tensor(m, k, o, "output")))
      return rc;
    if (is_i16(in) && ((rc = need_int16_symmetric(m, k, in, "input")) ||
                       (rc = need_int16_symmetric(m, k, o, "output"))))
      return rc;
    rc = qat_mean_multiplier(in->scales[0], o->scales[0], g->n_reduce, &op->s_mult, &op->s_shift);
    if (rc == QAT_ERR_UNSUPPORTED) return unsup(m, k, "%s", qat_error_message());
    if (rc) return qat_fail_prefix(rc, "%s: op %d (MEAN): ", m->name, k);
    op->in_zp = (int32_t)in->zero_points[0];
    op->out_zp = (int32_t)o->zero_points[0];
    op->scratch = malloc((size_t)g->n_out * sizeof *op->scratch);
    if (!op->scratch) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
    return QAT_OK;
  }
  return unsup(m, k, "input %s, output %s", qat_rt_type_name(in->type), qat_rt_type_name(o->type));
}

static int prepare_reshape(qat_rt_model *m, int k, rt_op *op) {
  int rc = check_io_count(m, k, 1, 2, 1);
  if (rc) return rc;
  rt_tensor *in = in_t(m, op, 0), *sh = in_t(m, op, 1), *o = out_t(m, op, 0);
  if (in->type != o->type)
    return bad(m, k, "input is %s, output %s", qat_rt_type_name(in->type),
               qat_rt_type_name(o->type));
  if (qat_rt_type_size(in->type) == 0)
    return unsup(m, k, "tensors of type %s", qat_rt_type_name(in->type));
  if (in->n_elems != o->n_elems)
    return bad(m, k, "input has %lld elements, output '%s' %lld", (long long)in->n_elems, o->name,
               (long long)o->n_elems);
  /* The requested shape with one -1 resolved must be the stored output shape. reshape.cc
   * GetOutputShape: the 2nd input when it is an INT32 vector, else ReshapeOptions.new_shape,
   * where the legacy [0] means a scalar. */
  const int32_t *req = NULL;
  int64_t n_req = -1;
  if (sh && sh->rank == 1 && sh->type == QAT_RT_INT32) {
    if ((rc = const_i32(m, k, sh, "shape"))) return rc;
    req = (const int32_t *)sh->const_data;
    n_req = sh->n_elems;
  } else if (op->opt.n_new_shape >= 0) {
    req = op->opt.new_shape;
    n_req = op->opt.n_new_shape;
    if (n_req == 1 && req[0] == 0) n_req = 0;
  }
  if (req) {
    if (n_req > QAT_RT_MAX_RANK) return bad(m, k, "the new shape has rank %lld", (long long)n_req);
    int64_t d[QAT_RT_MAX_RANK], known = 1;
    int unknown = -1;
    for (int i = 0; i < (int)n_req; i++) {
      d[i] = req[i];
      if (d[i] == -1) {
        if (unknown >= 0) return bad(m, k, "the new shape has more than one -1");
        unknown = i;
      } else if (d[i] < 1) {
        return bad(m, k, "the new shape has dimension %lld", (long long)d[i]);
      } else {
        known *= d[i];
        if (known > QAT_RT_MAX_ELEMENTS) return bad(m, k, "the new shape is too large");
      }
    }
    if (unknown >= 0) {
      if (in->n_elems % known) return bad(m, k, "the new shape does not divide the input");
      d[unknown] = in->n_elems / known;
    }
    if ((rc = check_out_shape(m, k, o, d, (int)n_req))) return rc;
  }
  op->kind = RK_COPY;
  return QAT_OK;
}

static int prepare_softmax(qat_rt_model *m, int k, rt_op *op) {
  int rc = check_io_count(m, k, 1, 1, 1);
  if (rc) return rc;
  rt_tensor *in = in_t(m, op, 0), *o = out_t(m, op, 0);
  if (in->rank < 1) return bad(m, k, "input is a scalar");
  if (!same_shape(in, o)) return bad(m, k, "output shape differs from the input's");
  op->depth = in->dims[in->rank - 1];
  op->outer = in->n_elems / op->depth;
  if (is_f32(in) && is_f32(o)) {
    op->kind = RK_SOFTMAX_F32;
    return QAT_OK;
  }
  if (is_i8(in) && is_i8(o)) {
    op->kind = RK_SOFTMAX_I8;
    if ((rc = need_per_tensor(m, k, in, "input")) || (rc = need_per_tensor(m, k, o, "output")))
      return rc;
    /* activations.cc SoftmaxPrepare: output zp -128, scale 1/256 within 0.1%. */
    if (o->zero_points[0] != -128 || fabsf(o->scales[0] - 1.0f / 256) > 0.001f * 1.0f / 256)
      return bad(m, k, "int8 output must have scale 1/256 and zero point -128 (has %g, %lld)",
                 (double)o->scales[0], (long long)o->zero_points[0]);
    /* kReference: PreprocessSoftmaxScaling(beta, input_scale, kScaledDiffIntegerBits = 5):
     * min(beta * scale * 2^26, 2^31 - 1) through QuantizeMultiplierGreaterThanOne (which
     * TFLITE_CHECKs the multiplier > 1), and diff_min = -CalculateInputRadius(5, shift). */
    double real = (double)op->opt.beta * (double)in->scales[0] * (double)(1 << 26);
    if (real > 2147483647.0) real = 2147483647.0;
    if (!(real > 1.0))
      return unsup(m, k,
                   "beta x input scale = %g is below 2^-26 (TFLite's reference kernel "
                   "aborts)",
                   (double)op->opt.beta * (double)in->scales[0]);
    rc = qat_quantize_multiplier(real, &op->s_mult, &op->s_shift);
    if (rc == QAT_ERR_UNSUPPORTED) return unsup(m, k, "%s", qat_error_message());
    if (rc) return qat_fail_prefix(rc, "%s: op %d (SOFTMAX): ", m->name, k);
    const double radius =
        floor(1.0 * ((1 << 5) - 1) * (double)(1LL << 26) / (double)(1LL << op->s_shift));
    op->s_diff_min = (int)(-1.0 * radius);
    return QAT_OK;
  }
  if (is_i16(in) && is_i16(o)) {
    op->kind = RK_SOFTMAX_I16;
    if ((rc = need_int16_symmetric(m, k, in, "input")) ||
        (rc = need_int16_symmetric(m, k, o, "output")))
      return rc;
    /* activations.cc SoftmaxPrepare: output scale 1/32768 within 0.1% (zero point 0 above). */
    if (fabsf(o->scales[0] - 1.0f / 32768) > 0.001f * 1.0f / 32768)
      return bad(m, k, "int16 output must have scale 1/32768 and zero point 0 (has %g)",
                 (double)o->scales[0]);
    /* The row's sum of exponentials (each up to 32767) is an int32 in the reference kernel. */
    if (op->depth > 65536)
      return unsup(m, k, "rows of %lld values overflow the int16 kernel's int32 sum",
                   (long long)op->depth);
    /* activations.cc SoftmaxPrepare, int16: QuantizeMultiplier(s_in * beta / (10 / 65535))
     * (a float product, then double), so that a difference of -65535 maps to -10.0. */
    const double real = (double)(in->scales[0] * op->opt.beta) / (10.0 / 65535.0);
    rc = qat_quantize_multiplier(real, &op->s_mult, &op->s_shift);
    if (rc == QAT_ERR_UNSUPPORTED) return unsup(m, k, "%s", qat_error_message());
    if (rc) return qat_fail_prefix(rc, "%s: op %d (SOFTMAX): ", m->name, k);
    /* x * 2^shift of a difference in [-65535, 0] must stay in int32 */
    if (op->s_shift > 15)
      return unsup(m, k, "beta x input scale = %g is too large for the int16 kernel",
                   (double)(in->scales[0] * op->opt.beta));
    op->lut16 = malloc(2 * 513 * sizeof *op->lut16);
    if (!op->lut16) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
    rt_softmax_i16_luts(op->lut16, op->lut16 + 513);
    return QAT_OK;
  }
  return unsup(m, k, "input %s, output %s", qat_rt_type_name(in->type), qat_rt_type_name(o->type));
}

/* Numpy broadcasting of two shapes into rt_bcast (right-aligned, padded to 6 dims). */
static int broadcast(qat_rt_model *m, int k, const rt_tensor *a, const rt_tensor *b, rt_bcast *bc,
                     int64_t *od, int *orank) {
  const int r = a->rank > b->rank ? a->rank : b->rank;
  int64_t da[QAT_RT_MAX_RANK], db[QAT_RT_MAX_RANK];
  for (int i = 0; i < QAT_RT_MAX_RANK; i++) {
    const int ia = i - (QAT_RT_MAX_RANK - a->rank), ib = i - (QAT_RT_MAX_RANK - b->rank);
    da[i] = ia >= 0 ? a->dims[ia] : 1;
    db[i] = ib >= 0 ? b->dims[ib] : 1;
  }
  int64_t sa = 1, sb = 1;
  for (int i = QAT_RT_MAX_RANK - 1; i >= 0; i--) {
    if (da[i] != db[i] && da[i] != 1 && db[i] != 1)
      return bad(m, k, "input shapes do not broadcast (dimension %d: %lld vs %lld)",
                 i - (QAT_RT_MAX_RANK - r), (long long)da[i], (long long)db[i]);
    bc->dims[i] = da[i] > db[i] ? da[i] : db[i];
    bc->s1[i] = da[i] == 1 ? 0 : sa;
    bc->s2[i] = db[i] == 1 ? 0 : sb;
    sa *= da[i];
    sb *= db[i];
  }
  *orank = r;
  int64_t n = 1;
  for (int i = 0; i < r; i++) {
    od[i] = bc->dims[QAT_RT_MAX_RANK - r + i];
    n *= od[i];
    if (n > QAT_RT_MAX_ELEMENTS) return bad(m, k, "the broadcast output is too large");
  }
  return QAT_OK;
}

/* QuantizeMultiplierSmallerThanOneExp: 0 < m < 1 and the resulting shift <= 0, which TFLite
 * TFLITE_CHECKs (an abort); refused here. */
static int multiplier_below_one(qat_rt_model *m, int k, double real, const char *what,
                                int32_t *mult, int *shift) {
  if (!(real > 0.0 && real < 1.0))
    return unsup(m, k, "the %s rescaling multiplier %g must be in (0, 1)", what, real);
  int rc = qat_quantize_multiplier(real, mult, shift);
  if (rc) return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, m->ops[k].name);
  if (*shift > 0)
    return unsup(m, k, "the %s rescaling multiplier %.17g rounds up to 1", what, real);
  return QAT_OK;
}

static int prepare_add(qat_rt_model *m, int k, rt_op *op) {
  int rc = check_io_count(m, k, 2, 2, 1);
  if (rc) return rc;
  rt_tensor *a = in_t(m, op, 0), *b = in_t(m, op, 1), *o = out_t(m, op, 0);
  int64_t od[QAT_RT_MAX_RANK];
  int orank = 0;
  if ((rc = broadcast(m, k, a, b, &op->bc, od, &orank))) return rc;
  if ((rc = check_out_shape(m, k, o, od, orank))) return rc;
  if (is_f32(a) && is_f32(b) && is_f32(o)) {
    op->kind = RK_ADD_F32;
    return activation_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
  }
  if (is_i8(a) && is_i8(b) && is_i8(o)) {
    op->kind = RK_ADD_I8;
    if ((rc = need_per_tensor(m, k, a, "input")) || (rc = need_per_tensor(m, k, b, "input")) ||
        (rc = need_per_tensor(m, k, o, "output")))
      return rc;
    /* add.cc Prepare, 8-bit general path: left_shift 20, inputs scaled by s_i / (2 max s),
     * the sum by 2 max s / (2^20 s_out). The float max and the products by powers of two are
     * exact, so computing in double gives TFLite's values. */
    rt_add_params *p = &op->add;
    const float s1 = a->scales[0], s2 = b->scales[0], so = o->scales[0];
    const double twice_max = 2.0 * (double)(s1 > s2 ? s1 : s2);
    p->left_shift = 20;
    p->in1_offset = -(int32_t)a->zero_points[0];
    p->in2_offset = -(int32_t)b->zero_points[0];
    p->out_zp = (int32_t)o->zero_points[0];
    if ((rc = multiplier_below_one(m, k, (double)s1 / twice_max, "input 1", &p->m1, &p->s1)) ||
        (rc = multiplier_below_one(m, k, (double)s2 / twice_max, "input 2", &p->m2, &p->s2)) ||
        (rc = multiplier_below_one(m, k, twice_max / ((double)(1 << 20) * (double)so), "output",
                                   &p->mo, &p->so)))
      return rc;
    return activation_range_q(m, k, op->opt.activation, o, -128, 127, &p->act_min, &p->act_max);
  }
  if (is_i16(a) && is_i16(b) && is_i16(o)) {
    op->kind = RK_ADD_I16;
    if ((rc = need_int16_symmetric(m, k, a, "input")) ||
        (rc = need_int16_symmetric(m, k, b, "input")) ||
        (rc = need_int16_symmetric(m, k, o, "output")))
      return rc;
    /* add.cc: with pot_scale_int16 set and every scale a power of two, LiteRT takes a special
     * shift-only path (LSTM cells), not implemented here; otherwise the general rescaling with
     * left_shift 15. */
    int e;
    if (op->opt.pot_scale_int16 && frexpf(a->scales[0], &e) == 0.5f &&
        frexpf(b->scales[0], &e) == 0.5f && frexpf(o->scales[0], &e) == 0.5f)
      return unsup(m, k, "int16 ADD with power-of-two scales and pot_scale_int16 (the "
                   "shift-only kernel)");
    rt_add_params *p = &op->add;
    const float s1 = a->scales[0], s2 = b->scales[0], so = o->scales[0];
    const double twice_max = 2.0 * (double)(s1 > s2 ? s1 : s2);
    p->left_shift = 15;
    p->in1_offset = p->in2_offset = p->out_zp = 0;
    if ((rc = multiplier_below_one(m, k, (double)s1 / twice_max, "input 1", &p->m1, &p->s1)) ||
        (rc = multiplier_below_one(m, k, (double)s2 / twice_max, "input 2", &p->m2, &p->s2)) ||
        (rc = multiplier_below_one(m, k, twice_max / ((double)(1 << 15) * (double)so), "output",
                                   &p->mo, &p->so)))
      return rc;
    return activation_range_q(m, k, op->opt.activation, o, -32768, 32767, &p->act_min,
                              &p->act_max);
  }
  return unsup(m, k, "inputs %s and %s, output %s", qat_rt_type_name(a->type),
               qat_rt_type_name(b->type), qat_rt_type_name(o->type));
}

static int prepare_logistic(qat_rt_model *m, int k, rt_op *op) {
  int rc = check_io_count(m, k, 1, 1, 1);
  if (rc) return rc;
  rt_tensor *in = in_t(m, op, 0), *o = out_t(m, op, 0);
  if (!same_shape(in, o)) return bad(m, k, "output shape differs from the input's");
  if (is_f32(in) && is_f32(o)) {
    op->kind = RK_LOGISTIC_F32;
    return QAT_OK;
  }
  if (is_i8(in) && is_i8(o)) {
    op->kind = RK_LOGISTIC_I8;
    if ((rc = need_per_tensor(m, k, in, "input")) || (rc = need_per_tensor(m, k, o, "output")))
      return rc;
    /* activations.cc SigmoidPrepare (kReference, int8): output scale exactly 1/256, then a
     * 256-entry table built in float (PopulateLookupTable / LUTPopulate). */
    if (o->scales[0] != 1.0f / 256)
      return bad(m, k, "int8 output scale must be 1/256 (has %g)", (double)o->scales[0]);
    rt_lut_build_logistic_i8(in->scales[0], (int32_t)in->zero_points[0], o->scales[0],
                             (int32_t)o->zero_points[0], op->lut);
    return QAT_OK;
  }
  return unsup(m, k, "input %s, output %s", qat_rt_type_name(in->type), qat_rt_type_name(o->type));
}

static int prepare_quantize(qat_rt_model *m, int k, rt_op *op) {
  int rc = check_io_count(m, k, 1, 1, 1);
  if (rc) return rc;
  rt_tensor *in = in_t(m, op, 0), *o = out_t(m, op, 0);
  if (!same_shape(in, o)) return bad(m, k, "output shape differs from the input's");
  const int ot = o->type;
  if (ot != QAT_RT_INT8 && ot != QAT_RT_UINT8 && ot != QAT_RT_INT16)
    return unsup(m, k, "output type %s", qat_rt_type_name(ot));
  /* quantize.cc Prepare: per-tensor output only. */
  if ((rc = need_per_tensor(m, k, o, "output"))) return rc;
  if (ot == QAT_RT_INT16 && o->zero_points[0] != 0)
    return bad(m, k, "int16 output must have zero point 0");
  op->out_zp = (int32_t)o->zero_points[0];
  op->out_scale = o->scales[0];
  if (is_f32(in)) {
    op->kind = RK_QUANTIZE;
    return QAT_OK;
  }
  if ((in->type == QAT_RT_INT8 || in->type == QAT_RT_UINT8) && ot != QAT_RT_INT16) {
    op->kind = RK_REQUANTIZE;
    if ((rc = need_per_tensor(m, k, in, "input"))) return rc;
    op->in_zp = (int32_t)in->zero_points[0];
    rc = qat_quantize_multiplier((double)in->scales[0] / (double)o->scales[0], &op->s_mult,
                                 &op->s_shift);
    if (rc == QAT_ERR_UNSUPPORTED) return unsup(m, k, "%s", qat_error_message());
    if (rc) return qat_fail_prefix(rc, "%s: op %d (QUANTIZE): ", m->name, k);
    return QAT_OK;
  }
  return unsup(m, k, "input %s, output %s", qat_rt_type_name(in->type), qat_rt_type_name(ot));
}

static int prepare_dequantize(qat_rt_model *m, int k, rt_op *op) {
  int rc = check_io_count(m, k, 1, 1, 1);
  if (rc) return rc;
  rt_tensor *in = in_t(m, op, 0), *o = out_t(m, op, 0);
  if (!same_shape(in, o)) return bad(m, k, "output shape differs from the input's");
  if (!is_f32(o)) return unsup(m, k, "output type %s", qat_rt_type_name(o->type));
  op->kind = RK_DEQUANTIZE;
  if (in->type != QAT_RT_FLOAT16) {
    if (in->type != QAT_RT_INT8 && in->type != QAT_RT_UINT8 && in->type != QAT_RT_INT16)
      return unsup(m, k, "input type %s", qat_rt_type_name(in->type));
    if ((rc = need_per_tensor(m, k, in, "input"))) return rc;
    op->in_zp = (int32_t)in->zero_points[0];
    op->in_scale = in->scales[0];
  }
  if (in->const_data && !o->is_output && !o->owned) {
    /* A constant's DEQUANTIZE (float16 weights) runs once, here, as TFLite's dequantize.cc
     * does for a constant input (its output becomes a persistent constant): the ops after it
     * then see constant float weights. */
    o->owned = malloc(o->bytes ? o->bytes : 1);
    if (!o->owned) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
    rt_dequantize(in->n_elems, in->type, in->const_data, op->in_scale, op->in_zp, (float *)(void *)o->owned);
    o->const_data = o->owned;
    op->kind = RK_NOP;
  }
  return QAT_OK;
}

int rt_prepare_ops(qat_rt_model *m) {
  for (int k = 0; k < m->n_ops; k++) {
    rt_op *op = &m->ops[k];
    const int maxv = max_version(op->code);
    if (maxv == 0) return unsup(m, k, "not implemented by the qat runtime");
    if (op->version < 1 || op->version > maxv)
      return unsup(m, k, "versions 1 to %d are known", maxv);
    /* Every tensor an op touches must have a fixed element size to be planned. */
    int rc;
    switch (op->code) {
      case QAT_RT_OP_CONV_2D: rc = prepare_conv(m, k, op, 0); break;
      case QAT_RT_OP_DEPTHWISE_CONV_2D: rc = prepare_conv(m, k, op, 1); break;
      case QAT_RT_OP_FULLY_CONNECTED: rc = prepare_fc(m, k, op); break;
      case QAT_RT_OP_AVERAGE_POOL_2D: rc = prepare_pool(m, k, op, 0); break;
      case QAT_RT_OP_MAX_POOL_2D: rc = prepare_pool(m, k, op, 1); break;
      case QAT_RT_OP_MEAN: rc = prepare_mean(m, k, op); break;
      case QAT_RT_OP_RESHAPE: rc = prepare_reshape(m, k, op); break;
      case QAT_RT_OP_SOFTMAX: rc = prepare_softmax(m, k, op); break;
      case QAT_RT_OP_ADD: rc = prepare_add(m, k, op); break;
      case QAT_RT_OP_LOGISTIC: rc = prepare_logistic(m, k, op); break;
      case QAT_RT_OP_QUANTIZE: rc = prepare_quantize(m, k, op); break;
      case QAT_RT_OP_DEQUANTIZE: rc = prepare_dequantize(m, k, op); break;
      default: rc = unsup(m, k, "not implemented by the qat runtime"); break;
    }
    if (rc) return rc;
  }
  /* Graph inputs and outputs are read and written by the caller: fixed-size types only. */
  for (int i = 0; i < m->n_inputs; i++) {
    const rt_tensor *t = &m->tensors[m->inputs[i]];
    if (qat_rt_type_size(t->type) == 0)
      return qat_fail(QAT_ERR_UNSUPPORTED, "%s: graph input '%s' has type %s", m->name, t->name,
                      qat_rt_type_name(t->type));
  }
  return QAT_OK;
}

/* ---- arena planning ----------------------------------------------------------------------- */

#define RT_ALIGN 16
#define RT_MAX_ARENA ((size_t)1 << 31)

typedef struct plan_item {
  int tensor;
  size_t size;
} plan_item;

static int cmp_size_desc(const void *pa, const void *pb) {
  const plan_item *a = pa, *b = pb;
  if (a->size != b->size) return a->size < b->size ? 1 : -1;
  return a->tensor - b->tensor;
}

typedef struct placed {
  size_t off, end;
} placed;
static int cmp_off(const void *pa, const void *pb) {
  const placed *a = pa, *b = pb;
  return a->off < b->off ? -1 : a->off > b->off;
}

/* Greedy by size (as TFLite Micro's GreedyMemoryPlanner): largest first, each at the lowest
 * offset where it overlaps no already placed tensor whose lifetime [first_use, last_use]
 * intersects its own. An op's inputs and outputs are live at the op, so they never alias. */
int rt_plan_arena(qat_rt_model *m) {
  int n = 0, rc = QAT_OK;
  plan_item *items = calloc((size_t)m->n_tensors + 1, sizeof *items);
  placed *busy = calloc((size_t)m->n_tensors + 1, sizeof *busy);
  if (!items || !busy) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
    goto cleanup;
  }
  const int keep = m->options.preserve_all_tensors;
  size_t total = 0;
  for (int i = 0; i < m->n_tensors; i++) {
    rt_tensor *t = &m->tensors[i];
    if (t->const_data || !(t->is_input || t->producer >= 0)) continue;
    if (keep) t->first_use = 0, t->last_use = m->n_ops;
    const size_t sz = (t->bytes + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN;
    if (sz > RT_MAX_ARENA - total) {
      rc = qat_fail(QAT_ERR_UNSUPPORTED, "%s: activations need more than %zu bytes", m->name,
                    RT_MAX_ARENA);
      goto cleanup;
    }
    total += sz;
    items[n].tensor = i;
    items[n].size = sz;
    n++;
  }
  m->activation_bytes = total;
  qsort(items, (size_t)n, sizeof *items, cmp_size_desc);
  size_t peak = 0;
  for (int j = 0; j < n; j++) {
    rt_tensor *t = &m->tensors[items[j].tensor];
    int nb = 0;
    for (int q = 0; q < j; q++) {
      const rt_tensor *u = &m->tensors[items[q].tensor];
      if (u->first_use <= t->last_use && t->first_use <= u->last_use) {
        busy[nb].off = u->arena_offset;
        busy[nb].end = u->arena_offset + items[q].size;
        nb++;
      }
    }
    qsort(busy, (size_t)nb, sizeof *busy, cmp_off);
    size_t off = 0;
    for (int q = 0; q < nb; q++) {
      if (busy[q].off >= off + items[j].size) break;
      if (busy[q].end > off) off = busy[q].end;
    }
    t->arena_offset = off;
    t->in_arena = 1;
    if (off + items[j].size > peak) peak = off + items[j].size;
  }
  m->arena_bytes = peak;
  m->arena = calloc(peak ? peak : RT_ALIGN, 1); /* malloc alignment (16) suffices: RT_ALIGN */
  if (!m->arena)
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory for a %zu-byte arena", m->name, peak);
cleanup:
  free(items);
  free(busy);
  return rc;
}

/* ---- public API ----------------------------------------------------------------------------- */

static void *tdata(qat_rt_model *m, int i) {
  rt_tensor *t = &m->tensors[i];
  if (t->const_data) return (void *)t->const_data;
  return t->in_arena ? m->arena + t->arena_offset : NULL;
}

int qat_rt_model_load_buffer(const void *data, size_t size, const char *name,
                             const qat_rt_options *opt, qat_rt_model **out) {
  *out = NULL;
  if (!data && size) return qat_fail(QAT_ERR_USAGE, "qat_rt_model_load_buffer: no data");
  if (!name) name = "model";
  qat_rt_options o = opt ? *opt : (qat_rt_options){0};
  if (o.max_file_bytes == 0) o.max_file_bytes = QAT_RT_DEFAULT_MAX_FILE_BYTES;
  if (o.max_file_bytes > 0x7fffffff) o.max_file_bytes = 0x7fffffff;
  if (o.flavor != QAT_RT_FLAVOR_LITERT && o.flavor != QAT_RT_FLAVOR_TFLM)
    return qat_fail(QAT_ERR_USAGE, "%s: unknown runtime flavor %d", name, (int)o.flavor);
  if (size > o.max_file_bytes)
    return qat_fail(QAT_ERR_FORMAT, "%s: %zu bytes, more than the %zu-byte limit for models", name,
                    size, o.max_file_bytes);
  qat_rt_model *m = calloc(1, sizeof *m);
  if (!m) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", name);
  int rc;
  m->options = o;
  m->name = strdup(name);
  /* 16-byte aligned copy (Buffer.data is force_align 16), so constants are used in place. */
  m->file = aligned_alloc(16, (size + 15) / 16 * 16 + 16);
  if (!m->name || !m->file) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory for %zu bytes", name, size);
    goto fail;
  }
  if (size) memcpy(m->file, data, size);
  m->file_len = size;
  if ((rc = rt_read_model(m))) goto fail;
  if ((rc = rt_prepare_ops(m))) goto fail;
  if ((rc = rt_plan_arena(m))) goto fail;
  *out = m;
  return QAT_OK;
fail:
  qat_rt_model_free(m);
  return rc;
}

int qat_rt_model_load_file(const char *path, const qat_rt_options *opt, qat_rt_model **out) {
  *out = NULL;
  const size_t cap =
      opt && opt->max_file_bytes ? opt->max_file_bytes : QAT_RT_DEFAULT_MAX_FILE_BYTES;
  FILE *f = fopen(path, "rb");
  if (!f) return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  int rc = QAT_OK;
  uint8_t *buf = NULL;
  size_t len = 0, cap_alloc = 0;
  for (;;) {
    if (len == cap_alloc) {
      if (len > cap) break; /* read one byte past the cap to detect an oversized file */
      size_t nc = cap_alloc ? cap_alloc * 2 : 65536;
      if (nc > cap + 1) nc = cap + 1;
      uint8_t *nb = realloc(buf, nc);
      if (!nb) {
        rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory reading the file", path);
        goto done;
      }
      buf = nb;
      cap_alloc = nc;
    }
    const size_t got = fread(buf + len, 1, cap_alloc - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    rc = qat_fail(QAT_ERR_IO, "%s: read error: %s", path, strerror(errno));
    goto done;
  }
  rc = qat_rt_model_load_buffer(buf, len, path, opt, out);
done:
  free(buf);
  fclose(f);
  return rc;
}

void qat_rt_model_free(qat_rt_model *m) {
  if (!m) return;
  rt_free_parsed(m);
  free(m->arena);
  free(m->file);
  free(m->name);
  free(m);
}

int qat_rt_num_tensors(const qat_rt_model *m) { return m->n_tensors; }
int qat_rt_num_ops(const qat_rt_model *m) { return m->n_ops; }
int qat_rt_num_inputs(const qat_rt_model *m) { return m->n_inputs; }
int qat_rt_num_outputs(const qat_rt_model *m) { return m->n_outputs; }
int qat_rt_input(const qat_rt_model *m, int i) {
  return i >= 0 && i < m->n_inputs ? m->inputs[i] : -1;
}
int qat_rt_output(const qat_rt_model *m, int i) {
  return i >= 0 && i < m->n_outputs ? m->outputs[i] : -1;
}
size_t qat_rt_arena_bytes(const qat_rt_model *m) { return m->arena_bytes; }
size_t qat_rt_activation_bytes(const qat_rt_model *m) { return m->activation_bytes; }

int qat_rt_tensor(const qat_rt_model *m, int index, qat_rt_tensor_info *info) {
  if (index < 0 || index >= m->n_tensors)
    return qat_fail(QAT_ERR_USAGE, "%s: tensor index %d out of range (%d tensors)", m->name, index,
                    m->n_tensors);
  const rt_tensor *t = &m->tensors[index];
  *info = (qat_rt_tensor_info){.name = t->name,
                               .type = t->type,
                               .rank = t->rank,
                               .dims = t->dims,
                               .n_elems = t->n_elems,
                               .bytes = t->bytes,
                               .buffer = t->buffer,
                               .is_const = t->const_data != NULL,
                               .is_input = t->is_input,
                               .is_output = t->is_output,
                               .n_scales = t->n_q,
                               .scales = t->scales,
                               .zero_points = t->zero_points,
                               .quantized_dimension = t->qdim,
                               .in_arena = t->in_arena,
                               .arena_offset = t->arena_offset};
  return QAT_OK;
}

int qat_rt_op(const qat_rt_model *m, int index, qat_rt_op_info *info) {
  if (index < 0 || index >= m->n_ops)
    return qat_fail(QAT_ERR_USAGE, "%s: op index %d out of range (%d ops)", m->name, index,
                    m->n_ops);
  const rt_op *op = &m->ops[index];
  *info = (qat_rt_op_info){.code = op->code,
                           .name = op->name,
                           .version = op->version,
                           .n_inputs = op->n_in,
                           .n_outputs = op->n_out,
                           .inputs = op->in,
                           .outputs = op->out,
                           .macs = op->macs};
  return QAT_OK;
}

void *qat_rt_tensor_data(qat_rt_model *m, int index) {
  return index >= 0 && index < m->n_tensors ? tdata(m, index) : NULL;
}

int qat_rt_invoke_ops(qat_rt_model *m, int first, int end) {
  if (first < 0 || end > m->n_ops || first > end)
    return qat_fail(QAT_ERR_USAGE, "%s: operators [%d, %d) are not a range of its %d", m->name, first, end,
                    m->n_ops);
  for (int k = first; k < end; k++) {
    rt_op *op = &m->ops[k];
    const void *i0 = tdata(m, op->in[0]);
    const void *i1 = op->n_in > 1 && op->in[1] >= 0 ? tdata(m, op->in[1]) : NULL;
    const void *i2 = op->n_in > 2 && op->in[2] >= 0 ? tdata(m, op->in[2]) : NULL;
    void *o = tdata(m, op->out[0]);
    const rt_tensor *ti = &m->tensors[op->in[0]], *to = &m->tensors[op->out[0]];
    switch (op->kind) {
      case RK_CONV_I8: rt_conv2d_i8(&op->conv, &op->rq, i0, i1, i2, o); break;
      case RK_CONV_F32: rt_conv2d_f32(&op->conv, op->f_min, op->f_max, i0, i1, i2, o); break;
      case RK_DW_I8: rt_dwconv2d_i8(&op->conv, &op->rq, i0, i1, i2, o); break;
      case RK_DW_F32: rt_dwconv2d_f32(&op->conv, op->f_min, op->f_max, i0, i1, i2, o); break;
      case RK_FC_I8:
        rt_fc_i8(op->batches, op->accum_depth, op->out_depth, &op->rq, i0, i1, i2, o);
        break;
      case RK_FC_F32:
        rt_fc_f32(op->batches, op->accum_depth, op->out_depth, op->f_min, op->f_max, i0, i1, i2, o);
        break;
      case RK_AVG_I8:
        if (rt_avgpool_i8(&op->pool, op->rq.act_min, op->rq.act_max, i0, o))
          return qat_fail(QAT_ERR_INTERNAL, "%s: op %d (%s): empty pooling window", m->name, k,
                          op->name);
        break;
      case RK_AVG_F32:
        if (rt_avgpool_f32(&op->pool, op->f_min, op->f_max, i0, o))
          return qat_fail(QAT_ERR_INTERNAL, "%s: op %d (%s): empty pooling window", m->name, k,
                          op->name);
        break;
      case RK_MAX_I8: rt_maxpool_i8(&op->pool, op->rq.act_min, op->rq.act_max, i0, o); break;
      case RK_MAX_F32: rt_maxpool_f32(&op->pool, op->f_min, op->f_max, i0, o); break;
      case RK_MEAN_I8:
        rt_mean_i8(&op->red, op->in_zp, op->out_zp, op->s_mult, op->s_shift, i0, o, op->scratch);
        break;
      case RK_MEAN_F32: rt_mean_f32(&op->red, i0, o); break;
      case RK_COPY: memmove(o, i0, to->bytes); break;
      case RK_SOFTMAX_I8:
        if (rt_softmax_i8(op->outer, op->depth, op->s_mult, op->s_shift, op->s_diff_min, i0, o))
          return qat_fail(QAT_ERR_UNSUPPORTED,
                          "%s: op %d (SOFTMAX): the sum of exponentials of a row leaves the "
                          "range of TFLite's reference kernel (it aborts there)",
                          m->name, k);
        break;
      case RK_SOFTMAX_F32: rt_softmax_f32(op->outer, op->depth, op->opt.beta, i0, o); break;
      case RK_ADD_I8: rt_add_i8(&op->bc, &op->add, i0, i1, o); break;
      case RK_ADD_F32: rt_add_f32(&op->bc, op->f_min, op->f_max, i0, i1, o); break;
      case RK_LOGISTIC_I8: rt_lut_apply_i8(ti->n_elems, op->lut, i0, o); break;
      case RK_LOGISTIC_F32: rt_logistic_f32(ti->n_elems, i0, o); break;
      case RK_QUANTIZE:
        rt_quantize_f32(ti->n_elems, i0, to->type, op->out_scale, op->out_zp, o);
        break;
      case RK_REQUANTIZE:
        rt_requantize(ti->n_elems, ti->type, i0, op->in_zp, op->s_mult, op->s_shift, op->out_zp,
                      to->type, o);
        break;
      case RK_FC_HYBRID: {
        const rt_tensor *w = &m->tensors[op->in[1]];
        rt_fc_hybrid(op->batches, op->accum_depth, op->out_depth, op->opt.activation, i0, i1,
                     w->scales, w->n_q > 1, op->opt.asymmetric_quantize_inputs, i2, o, op->qbuf);
        break;
      }
      case RK_CONV_I16: rt_conv2d_i16(&op->conv, &op->rq, i0, i1, i2, o); break;
      case RK_DW_I16: rt_dwconv2d_i16(&op->conv, &op->rq, i0, i1, i2, o); break;
      case RK_FC_I16:
        rt_fc_i16(op->batches, op->accum_depth, op->out_depth, &op->rq, i0, i1, i2, o);
        break;
      case RK_AVG_I16:
        if (rt_avgpool_i16(&op->pool, op->rq.act_min, op->rq.act_max, i0, o))
          return qat_fail(QAT_ERR_INTERNAL, "%s: op %d (%s): empty pooling window", m->name, k,
                          op->name);
        break;
      case RK_MAX_I16: rt_maxpool_i16(&op->pool, op->rq.act_min, op->rq.act_max, i0, o); break;
      case RK_MEAN_I16:
        rt_mean_i16(&op->red, op->in_zp, op->out_zp, op->s_mult, op->s_shift, i0, o, op->scratch);
        break;
      case RK_SOFTMAX_I16:
        rt_softmax_i16(op->outer, op->depth, op->s_mult, op->s_shift, op->lut16, i0, o);
        break;
      case RK_ADD_I16: rt_add_i16(&op->bc, &op->add, i0, i1, o); break;
      case RK_CONV_HYBRID:
      case RK_CONV_HYBRID_PC:
        rt_conv2d_hybrid(&op->conv, op->kind == RK_CONV_HYBRID_PC, op->f_min, op->f_max, i0, i1,
                         m->tensors[op->in[1]].scales, i2, o, op->qbuf, op->hy_scales, op->hy_offsets);
        break;
      case RK_DW_HYBRID:
        rt_dwconv2d_hybrid(&op->conv, op->f_min, op->f_max, i0, i1, m->tensors[op->in[1]].scales, i2, o,
                           op->qbuf, op->hy_scales, op->hy_offsets);
        break;
      case RK_DEQUANTIZE:
        rt_dequantize(ti->n_elems, ti->type, i0, op->in_scale, op->in_zp, o);
        break;
      case RK_NOP: break;
      default:
        return qat_fail(QAT_ERR_INTERNAL, "%s: op %d (%s) was not prepared", m->name, k, op->name);
    }
  }
  return QAT_OK;
}

int qat_rt_invoke(qat_rt_model *m) { return qat_rt_invoke_ops(m, 0, m->n_ops); }

int qat_rt_argmax(int type, const void *p, int64_t n) {
  int best = 0;
  if (type == QAT_RT_FLOAT32) {
    const float *v = p;
    float bv = v[0];
    for (int64_t k = 1; k < n; k++)
      if (v[k] > bv || (isnan(bv) && !isnan(v[k]))) bv = v[k], best = (int)k;
  } else if (type == QAT_RT_INT8) {
    const int8_t *v = p;
    for (int64_t k = 1; k < n; k++)
      if (v[k] > v[best]) best = (int)k;
  } else if (type == QAT_RT_INT16) {
    const int16_t *v = p;
    for (int64_t k = 1; k < n; k++)
      if (v[k] > v[best]) best = (int)k;
  } else if (type == QAT_RT_UINT8) {
    const uint8_t *v = p;
    for (int64_t k = 1; k < n; k++)
      if (v[k] > v[best]) best = (int)k;
  } else if (type == QAT_RT_INT32) {
    const int32_t *v = p;
    for (int64_t k = 1; k < n; k++)
      if (v[k] > v[best]) best = (int)k;
  }
  return best;
}
