/* What the operators' Prepare functions share: messages that name the op, shape, quantization
 * and window-geometry checks, multipliers, broadcasting and reduction geometry.
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
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_op.h"

int rt_op_fail(const qat_rt_model *m, int k, int status, const char *fmt, ...) {
  char why[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  const rt_op *op = &m->ops[k];
  if (status == QAT_ERR_UNSUPPORTED)
    return qat_fail(status, "%s: unsupported operator %s version %d at node %d: %s", m->name,
                    op->name, op->version, k, why);
  return qat_fail(status, "%s: op %d (%s): %s", m->name, k, op->name, why);
}

static void fmt_dims(char *buf, size_t len, const int64_t *dims, int rank) {
  size_t k = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < rank && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, i ? ",%lld" : "%lld", (long long)dims[i]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

/* The stored output shape must be the computed one. */
int rt_resize_out(qat_rt_model *m, int k, const int64_t *dims, int rank) {
  rt_tensor *t = &m->tensors[m->ops[k].out[0]];
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  if (t->is_output || t->const_data || t->rank != rank || n < 1 || n > QAT_RT_MAX_ELEMENTS) return QAT_ERR_FORMAT;
  for (int i = 0; i < rank; i++) t->dims[i] = (int32_t)dims[i];
  t->n_elems = n;
  t->bytes = (size_t)n * qat_rt_type_size(t->type);
  t->resized = 1;
  return QAT_OK;
}

int rt_check_out_shape(qat_rt_model *m, int k, const rt_tensor *o, const int64_t *dims,
                           int rank) {
  int same = o->rank == rank;
  for (int i = 0; same && i < rank; i++) same = o->dims[i] == dims[i];
  if (same) return QAT_OK;
  const rt_op *op = &m->ops[k];
  int from_resized = 0;
  for (int i = 0; i < op->n_in; i++)
    from_resized |= op->in[i] >= 0 && (m->tensors[op->in[i]].resized || m->tensors[op->in[i]].computed);
  if (from_resized && rt_resize_out(m, k, dims, rank) == QAT_OK) return QAT_OK;
  char want[128], have[128];
  int64_t od[QAT_RT_MAX_RANK];
  for (int i = 0; i < o->rank; i++) od[i] = o->dims[i];
  fmt_dims(want, sizeof want, dims, rank);
  fmt_dims(have, sizeof have, od, o->rank);
  return rt_bad(m, k, "output tensor '%s' has shape %s, the op computes %s", o->name, have, want);
}

int rt_check_unary(qat_rt_model *m, int k, rt_op *op) {
  const int rc = rt_check_io_count(m, k, 1, 1, 1);
  if (rc) return rc;
  if (!rt_same_shape(rt_in(m, op, 0), rt_out(m, op, 0)))
    return rt_bad(m, k, "output shape differs from the input's");
  return QAT_OK;
}

int rt_same_shape(const rt_tensor *a, const rt_tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

/* Per-tensor quantization of an int8/uint8 activation, as TFLite reads params.scale /
 * params.zero_point (the first entry). */
int rt_need_per_tensor(qat_rt_model *m, int k, const rt_tensor *t, const char *what) {
  if (t->n_q != 1)
    return t->n_q == 0 ? rt_bad(m, k, "%s tensor '%s' (%s) has no quantization parameters", what,
                             t->name, qat_rt_type_name(t->type))
                       : rt_unsup(m, k, "%s tensor '%s' is quantized per axis (%d scales)", what,
                               t->name, t->n_q);
  return QAT_OK;
}

int rt_act_range_f32(qat_rt_model *m, int k, int act, float *lo, float *hi) {
  /* kernel_util.h CalculateActivationRange<float>: NONE is [lowest, max], so infinities
   * clamp to +-FLT_MAX exactly as TFLite's ActivationFunctionWithMinMax does. */
  switch (act) {
    case RT_ACT_NONE: *lo = -FLT_MAX, *hi = FLT_MAX; return QAT_OK;
    case RT_ACT_RELU: *lo = 0.0f, *hi = FLT_MAX; return QAT_OK;
    case RT_ACT_RELU_N1_TO_1: *lo = -1.0f, *hi = 1.0f; return QAT_OK;
    case RT_ACT_RELU6: *lo = 0.0f, *hi = 6.0f; return QAT_OK;
    default:
      if (act == 4 || act == 5) return rt_unsup(m, k, "fused activation %d (TANH/SIGN_BIT)", act);
      return rt_bad(m, k, "fused activation %d is not an ActivationFunctionType", act);
  }
}

int rt_act_range_q(qat_rt_model *m, int k, int act, const rt_tensor *o, int qmin,
                              int qmax, int32_t *amin, int32_t *amax) {
  float lo = 0.0f, hi = 0.0f;
  int rc = rt_act_range_f32(m, k, act, &lo, &hi);
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

int rt_check_window_params(qat_rt_model *m, int k, const rt_options *o, int with_dilation) {
  if (o->padding != RT_PAD_SAME && o->padding != RT_PAD_VALID)
    return rt_bad(m, k, "padding %d is neither SAME nor VALID", o->padding);
  if (o->stride_w < 1 || o->stride_h < 1)
    return rt_bad(m, k, "stride %dx%d must be >= 1", o->stride_h, o->stride_w);
  if (with_dilation && (o->dilation_w < 1 || o->dilation_h < 1))
    return rt_bad(m, k, "dilation %dx%d must be >= 1", o->dilation_h, o->dilation_w);
  return QAT_OK;
}

/* Output spatial size and padding for a window op; the result must be >= 1. */
int rt_window_geometry(qat_rt_model *m, int k, int padding, int64_t in_h, int64_t in_w,
                           int64_t f_h, int64_t f_w, int64_t s_h, int64_t s_w, int64_t d_h,
                           int64_t d_w, int *out_h, int *out_w, int *pad_h, int *pad_w) {
  /* Effective filter sizes beyond 2^31 cannot fit any image: refuse before the arithmetic. */
  if ((f_h - 1) * d_h > INT32_MAX || (f_w - 1) * d_w > INT32_MAX)
    return rt_bad(m, k, "the dilated filter is larger than 2^31");
  const int64_t oh = out_size(padding, in_h, f_h, s_h, d_h);
  const int64_t ow = out_size(padding, in_w, f_w, s_w, d_w);
  if (oh < 1 || ow < 1)
    return rt_bad(m, k,
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
int rt_check_weights_q(qat_rt_model *m, int k, const rt_tensor *w, int axis, int64_t n_out) {
  if (w->n_q == 0) return rt_bad(m, k, "weights '%s' have no quantization parameters", w->name);
  if (w->n_q != 1 && (w->qdim != axis || w->n_q != n_out))
    return rt_bad(m, k,
               "weights '%s' have %d scales along dimension %d, expected 1 or %lld along "
               "dimension %d",
               w->name, w->n_q, w->qdim, (long long)n_out, axis);
  for (int c = 0; c < w->n_q; c++)
    if (w->zero_points[c] != 0)
      return rt_bad(m, k,
                 "weights '%s' have zero_point[%d] = %lld; int8 weights must be "
                 "symmetric (zero point 0)",
                 w->name, c, (long long)w->zero_points[c]);
  return QAT_OK;
}

/* Bias: int32, zero point 0, scale = s_in * s_w[c] to 1e-6 relative (the spec's bias scale;
 * TFLite itself only checks |s_b - s_in*s_w| / s_out <= 0.02 in GetQuantizedConvolutionMultipler,
 * but a bias at another scale would be silently mis-scaled by every kernel). */
int rt_check_bias_q(qat_rt_model *m, int k, const rt_tensor *b, const rt_tensor *in,
                        const rt_tensor *w, int64_t n_out) {
  /* int8 kernels take INT32 bias; the 16x8 ones INT64 (an INT32 bias there needs the
   * quantized_bias_type option, which this runtime does not read). */
  const int want_type = in->type == QAT_RT_INT16 ? QAT_RT_INT64 : QAT_RT_INT32;
  if (b->type != want_type)
    return rt_unsup(m, k, "bias '%s' is %s (%s kernels take %s bias)", b->name,
                 qat_rt_type_name(b->type), qat_rt_type_name(in->type),
                 qat_rt_type_name(want_type));
  if (b->n_elems != n_out)
    return rt_bad(m, k, "bias '%s' has %lld elements for %lld output channels", b->name,
               (long long)b->n_elems, (long long)n_out);
  if (b->n_q == 0) return rt_bad(m, k, "bias '%s' has no quantization parameters", b->name);
  if (b->n_q != 1 && b->n_q != n_out)
    return rt_bad(m, k, "bias '%s' has %d scales for %lld channels", b->name, b->n_q,
               (long long)n_out);
  for (int64_t c = 0; c < n_out; c++) {
    const double bs = b->scales[b->n_q == 1 ? 0 : c];
    const double ws = w->scales[w->n_q == 1 ? 0 : c];
    const int64_t bz = b->zero_points[b->n_q == 1 ? 0 : c];
    const double want = (double)in->scales[0] * ws;
    if (bz != 0)
      return rt_bad(m, k, "bias '%s' has zero point %lld (must be 0)", b->name, (long long)bz);
    if (fabs(bs - want) > 1e-6 * want)
      return rt_bad(m, k,
                 "bias '%s' scale[%lld] = %.9g, expected input scale x weight scale = "
                 "%.9g (relative difference above 1e-6)",
                 b->name, (long long)c, bs, want);
    if (b->n_q == 1 && w->n_q == 1) break;
  }
  return QAT_OK;
}

/* Per-channel output multipliers (PopulateConvolutionQuantizationParams). */
int rt_hybrid_buffers(qat_rt_model *m, rt_op *op, int64_t n_in, int64_t batches) {
  const size_t qbytes = ((size_t)n_in + 7) & ~(size_t)7;
  op->qbuf = malloc(qbytes + (size_t)batches * (sizeof(float) + sizeof(int32_t)));
  if (!op->qbuf) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  op->hy_scales = (float *)(void *)(op->qbuf + qbytes);
  op->hy_offsets = (int32_t *)(void *)(op->hy_scales + batches);
  return QAT_OK;
}

/* A bound on |accumulator| of an int8 op: each of the taps products (x - zp) w is at most
 * 255 * 128, plus the largest |bias|; 0 (none) for other types or past 2^31. */
static int64_t acc_bound(const rt_tensor *in, const rt_tensor *w, const rt_tensor *b, const rt_tensor *o,
                         int64_t n_out) {
  if (!rt_is_i8(in) || !rt_is_i8(w) || !rt_is_i8(o) || n_out < 1) return 0;
  int64_t bound = w->n_elems / n_out * 255 * 128;
  if (b) {
    if (b->type != QAT_RT_INT32 || !b->const_data || b->n_elems != n_out) return 0;
    const int32_t *bv = (const int32_t *)(const void *)b->const_data;
    int64_t max_bias = 0;
    for (int64_t c = 0; c < n_out; c++) {
      const int64_t a = bv[c] < 0 ? -(int64_t)bv[c] : bv[c];
      if (a > max_bias) max_bias = a;
    }
    bound += max_bias;
  }
  return bound < ((int64_t)1 << 31) ? bound : 0;
}

int rt_prepare_requant(qat_rt_model *m, int k, rt_op *op, const rt_tensor *in,
                           const rt_tensor *w, const rt_tensor *b, const rt_tensor *o, int64_t n_out) {
  op->mult = malloc((size_t)n_out * sizeof *op->mult);
  op->shift = malloc((size_t)n_out * sizeof *op->shift);
  if (!op->mult || !op->shift) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  int rc = qat_conv_multipliers(in->scales[0], w->scales, w->n_q, o->scales[0], n_out, op->mult,
                                op->shift);
  if (rc == QAT_ERR_UNSUPPORTED)
    return rt_unsup(m, k, "output requantization: %s", qat_error_message());
  if (rc) return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, op->name);
  op->rq.in_offset = -(int32_t)in->zero_points[0];
  op->rq.out_zp = (int32_t)o->zero_points[0];
  op->rq.mult = op->mult;
  op->rq.shift = op->shift;
  op->rq.rq16 = op->rq16 = rt_rq16_blocks(op->mult, op->shift, n_out, op->rq.out_zp, acc_bound(in, w, b, o, n_out));
  if (o->type == QAT_RT_INT16)
    return rt_act_range_q(m, k, op->opt.activation, o, -32768, 32767, &op->rq.act_min,
                              &op->rq.act_max);
  return rt_act_range_q(m, k, op->opt.activation, o, -128, 127, &op->rq.act_min,
                            &op->rq.act_max);
}


/* 16x8: per-tensor int16 activations with zero point 0 (every LiteRT int16 kernel ensures it,
 * or, like DEPTHWISE_CONV_2D, silently ignores the zero point). */
int rt_need_int16_symmetric(qat_rt_model *m, int k, const rt_tensor *t, const char *what) {
  int rc = rt_need_per_tensor(m, k, t, what);
  if (rc) return rc;
  if (t->zero_points[0] != 0)
    return rt_bad(m, k, "int16 %s tensor '%s' has zero point %lld; int16 activations are symmetric "
               "(zero point 0)", what, t->name, (long long)t->zero_points[0]);
  return QAT_OK;
}

/* The 64-bit MultiplyByQuantizedMultiplier of the 16x8 kernels requires |accumulator| < 2^47
 * (a DCHECK only in TFLite; past it the result is garbage). Bound it from the model:
 * taps * 128 * 32768 + max |bias|, and refuse a model that could exceed it. Its shift must be
 * at most 7. */
int rt_check_acc64(qat_rt_model *m, int k, rt_op *op, int64_t taps, const rt_tensor *b,
                       int64_t n_out) {
  int64_t max_bias = 0;
  if (b) {
    const int64_t *bv = (const int64_t *)b->const_data;
    for (int64_t c = 0; c < n_out; c++) {
      const int64_t v = bv[c];
      if (v <= -((int64_t)1 << 46) || v >= ((int64_t)1 << 46))
        return rt_unsup(m, k, "bias '%s'[%lld] = %lld is beyond 2^46 (the 16x8 kernels' 64-bit "
                     "requantization needs accumulators below 2^47)", b->name, (long long)c,
                     (long long)v);
      const int64_t a = v < 0 ? -v : v;
      if (a > max_bias) max_bias = a;
    }
  }
  if (taps > (((int64_t)1 << 46) - max_bias) / ((int64_t)1 << 22))
    return rt_unsup(m, k, "%lld products per output can push the int64 accumulator past 2^47",
                 (long long)taps);
  for (int64_t c = 0; c < n_out; c++)
    if (op->shift[c] > 7)
      return rt_unsup(m, k, "the output multiplier of channel %lld is 2^%d or more (the 16x8 "
                   "kernels allow at most 2^7)", (long long)c, op->shift[c] - 1);
  return QAT_OK;
}

int rt_check_io_count(qat_rt_model *m, int k, int min_in, int max_in, int n_out) {
  const rt_op *op = &m->ops[k];
  if (op->n_in < min_in || op->n_in > max_in) {
    if (min_in == max_in) return rt_bad(m, k, "has %d inputs, expected %d", op->n_in, min_in);
    return rt_bad(m, k, "has %d inputs, expected %d to %d", op->n_in, min_in, max_in);
  }
  for (int i = 0; i < min_in; i++)
    if (op->in[i] < 0) return rt_bad(m, k, "input %d is -1 but is not optional", i);
  if (op->n_out != n_out) return rt_bad(m, k, "has %d outputs, expected %d", op->n_out, n_out);
  return QAT_OK;
}


/* An int32 constant vector (MEAN axes, RESHAPE shape). */
int rt_const_i32(qat_rt_model *m, int k, const rt_tensor *t, const char *what) {
  if (!t->const_data) return rt_unsup(m, k, "the %s tensor '%s' is not a constant", what, t->name);
  if (t->type != QAT_RT_INT32)
    return rt_bad(m, k, "the %s tensor '%s' is %s, expected INT32", what, t->name,
               qat_rt_type_name(t->type));
  if (t->rank > 1) return rt_bad(m, k, "the %s tensor '%s' has rank %d", what, t->name, t->rank);
  return QAT_OK;
}


/* Numpy broadcasting of two shapes into rt_bcast (right-aligned, padded to 6 dims). */
int rt_prepare_binary(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 2, 2, 1);
  if (rc) return rc;
  int64_t od[QAT_RT_MAX_RANK];
  int orank = 0;
  const rt_tensor *a = rt_in(m, op, 0), *b = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if (a->type != b->type || a->type != o->type)
    return rt_unsup(m, k, "inputs %s and %s, output %s", qat_rt_type_name(a->type), qat_rt_type_name(b->type),
                    qat_rt_type_name(o->type));
  if ((rc = rt_broadcast(m, k, a, b, &op->bc, od, &orank))) return rc;
  return rt_check_out_shape(m, k, o, od, orank);
}

int rt_broadcast(qat_rt_model *m, int k, const rt_tensor *a, const rt_tensor *b, rt_bcast *bc,
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
      return rt_bad(m, k, "input shapes do not broadcast (dimension %d: %lld vs %lld)",
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
    if (n > QAT_RT_MAX_ELEMENTS) return rt_bad(m, k, "the broadcast output is too large");
  }
  return QAT_OK;
}

/* QuantizeMultiplierSmallerThanOneExp: 0 < m < 1 and the resulting shift <= 0, which TFLite
 * TFLITE_CHECKs (an abort); refused here. */
int rt_multiplier_below_one(qat_rt_model *m, int k, double real, const char *what,
                                int32_t *mult, int *shift) {
  if (!(real > 0.0 && real < 1.0))
    return rt_unsup(m, k, "the %s rescaling multiplier %g must be in (0, 1)", what, real);
  int rc = qat_quantize_multiplier(real, mult, shift);
  if (rc) return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, m->ops[k].name);
  if (*shift > 0)
    return rt_unsup(m, k, "the %s rescaling multiplier %.17g rounds up to 1", what, real);
  return QAT_OK;
}

int rt_multiplier_failed(qat_rt_model *m, int k, int rc) {
  if (rc == QAT_ERR_UNSUPPORTED) return rt_unsup(m, k, "%s", qat_error_message());
  return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, m->ops[k].name);
}

int rt_need_same_quant(qat_rt_model *m, int k, const rt_tensor *in, const rt_tensor *o,
                       const char *kernels) {
  int rc;
  if (in->type == QAT_RT_INT16) {
    if ((rc = rt_need_int16_symmetric(m, k, in, "input")) ||
        (rc = rt_need_int16_symmetric(m, k, o, "output")))
      return rc;
    if (in->scales[0] != o->scales[0])
      return rt_unsup(m, k,
                      "input and output scales differ (%g/%g); the int16 %s kernels do not "
                      "rescale",
                      (double)in->scales[0], (double)o->scales[0], kernels);
    return QAT_OK;
  }
  if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")))
    return rc;
  if (in->scales[0] != o->scales[0] || in->zero_points[0] != o->zero_points[0])
    return rt_unsup(m, k,
                    "input and output quantization differ (scale %g/%g, zero point "
                    "%lld/%lld); the int8 %s kernels do not rescale",
                    (double)in->scales[0], (double)o->scales[0], (long long)in->zero_points[0],
                    (long long)o->zero_points[0], kernels);
  return QAT_OK;
}

int rt_prepare_reduce(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 2, 2, 1);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *ax = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if ((rc = rt_const_i32(m, k, ax, "axis"))) return rc;
  if (in->rank < 1) return rt_bad(m, k, "input is a scalar");
  rt_reduce_geom *g = &op->red;
  g->rank = in->rank;
  g->axis_mask = 0;
  const int32_t *axes = (const int32_t *)ax->const_data;
  for (int64_t i = 0; i < ax->n_elems; i++) {
    int64_t a = axes[i];
    if (a < 0) a += in->rank;
    if (a < 0 || a >= in->rank)
      return rt_bad(m, k, "axis %d is out of range for rank %d", axes[i], in->rank);
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
  return rt_check_out_shape(m, k, o, od, orank);
}

const rt_opt_field rt_reducer_options[1] = {RT_OPT(ReducerOptions, keep_dims, BOOL, keep_dims, 0)};

int rt_pick_eval(qat_rt_model *m, int k, rt_op *op, const rt_tensor *in, const rt_tensor *o,
                 const rt_evals *ev) {
  op->eval = NULL;
  if (in->type == o->type) {
    if (in->type == QAT_RT_FLOAT32) op->eval = ev->f32;
    if (in->type == QAT_RT_INT8) op->eval = ev->i8;
    if (in->type == QAT_RT_INT16) op->eval = ev->i16;
  }
  if (op->eval) return QAT_OK;
  return rt_unsup(m, k, "input %s, output %s", qat_rt_type_name(in->type),
                  qat_rt_type_name(o->type));
}

int rt_all_inputs_const(qat_rt_model *m, const rt_op *op) {
  for (int i = 0; i < op->n_in; i++) {
    const rt_tensor *t = rt_in(m, op, i);
    if (t && !t->const_data) return 0;
  }
  return 1;
}

/* The shape arithmetic the converter writes for a dynamic batch (SHAPE, STRIDED_SLICE, PACK
 * feeding RESHAPE) and any data movement of constants runs once, here, as TFLite's kernels do
 * for constant inputs (SetTensorToPersistentRo): the output becomes a constant, so that the
 * ops after it (RESHAPE's shape input) see constant values. A graph output stays computed at
 * Invoke (the caller reads it from the arena). */
int rt_fold_constant(qat_rt_model *m, int k, rt_op *op) {
  rt_tensor *o = rt_out(m, op, 0);
  if (!op->eval || op->n_out != 1 || o->is_output || o->owned || o->const_data) return QAT_OK;
  o->owned = calloc(o->bytes ? o->bytes : 1, 1);
  if (!o->owned) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  o->const_data = o->owned;
  o->computed = 1;
  const int rc = op->eval(m, k, op);
  op->eval = NULL;
  return rc;
}

int rt_prepare_arith(qat_rt_model *m, int k, rt_op *op, const char *name, int *kind) {
  int rc = rt_prepare_binary(m, k, op);
  if (rc) return rc;
  rt_tensor *a = rt_in(m, op, 0), *b = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if (rt_is_f32(o)) {
    *kind = 0;
    return rt_act_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
  }
  if (!rt_is_i8(o) && !rt_is_i16(o))
    return rt_unsup(m, k, "tensors of type %s", qat_rt_type_name(o->type));
  const int i16 = rt_is_i16(o);
  *kind = i16 ? 2 : 1;
  if (i16) {
    if ((rc = rt_need_int16_symmetric(m, k, a, "input")) ||
        (rc = rt_need_int16_symmetric(m, k, b, "input")) ||
        (rc = rt_need_int16_symmetric(m, k, o, "output")))
      return rc;
    int e;
    if (name && op->opt.pot_scale_int16 && frexpf(a->scales[0], &e) == 0.5f &&
        frexpf(b->scales[0], &e) == 0.5f && frexpf(o->scales[0], &e) == 0.5f)
      return rt_unsup(m, k, "int16 %s with power-of-two scales and pot_scale_int16 (the "
                      "shift-only kernel)", name);
  } else if ((rc = rt_need_per_tensor(m, k, a, "input")) ||
             (rc = rt_need_per_tensor(m, k, b, "input")) ||
             (rc = rt_need_per_tensor(m, k, o, "output"))) {
    return rc;
  }
  rt_add_params *p = &op->add;
  p->in1_offset = -(int32_t)a->zero_points[0];
  p->in2_offset = -(int32_t)b->zero_points[0];
  p->out_zp = (int32_t)o->zero_points[0];
  return rt_act_range_q(m, k, op->opt.activation, o, i16 ? -32768 : -128, i16 ? 32767 : 127,
                        &p->act_min, &p->act_max);
}

int rt_prepare_add_rescale(qat_rt_model *m, int k, rt_op *op, int i16) {
  rt_add_params *p = &op->add;
  const float s1 = rt_in(m, op, 0)->scales[0], s2 = rt_in(m, op, 1)->scales[0],
              so = rt_out(m, op, 0)->scales[0];
  const double twice_max = 2.0 * (double)(s1 > s2 ? s1 : s2);
  p->left_shift = i16 ? 15 : 20;
  int rc;
  if ((rc = rt_multiplier_below_one(m, k, (double)s1 / twice_max, "input 1", &p->m1, &p->s1)) ||
      (rc = rt_multiplier_below_one(m, k, (double)s2 / twice_max, "input 2", &p->m2, &p->s2)) ||
      (rc = rt_multiplier_below_one(m, k, twice_max / ((double)(1 << p->left_shift) * (double)so),
                                    "output", &p->mo, &p->so)))
    return rc;
  return QAT_OK;
}
