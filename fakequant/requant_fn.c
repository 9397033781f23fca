/* The output fake quant of the int8 ops of issue 15 that requantize on their own: it recomputes
 * what the int8 reference kernel outputs from the integers of its input tensors (on their
 * quantizers' grids: round(v / s) recovers q - zp exactly), instead of rounding the float
 * result once. The arithmetic follows TFLite's reference kernels (reference_integer_ops::Mul,
 * reference_ops::QuantizeLeakyRelu, reference_ops::HardSwish), with their multipliers computed
 * in the precision their Prepare functions use; checked against the official interpreter by
 * tests/interop/test_layers15.py. */
#include <math.h>

#include "qat/fq.h"
#include "fakequant/requant.h"
#include "qat/quant.h"
#include "autograd/op_common.h"

static inline float out_value(int32_t q, const qat_fq *fq) {
  q = q < fq->qmin ? fq->qmin : q > fq->qmax ? fq->qmax : q;
  return (float)(q - fq->zero_point[0]) * fq->scale[0];
}

static int mul(const qat_fq *fq, const qat_tensor *x, float *y) {
  const qat_fq *fa = fq->input, *fb = fq->input2;
  const qat_tensor *ta = fq->requant_in[0], *tb = fq->requant_in[1];
  if (!fa || !fb || !ta || !tb || !fa->valid || !fb->valid) return 0;
  const float sa = fa->scale[0], sb = fb->scale[0];
  int32_t mult;
  int shift;
  /* mul.cc: double real_multiplier = input1_scale * input2_scale / output_scale, in float */
  if (qat_quantize_multiplier((double)(sa * sb / fq->scale[0]), &mult, &shift)) return 0;
  qat_bcast4 v;
  qat_bcast4_view(ta, tb, x, &v);
  const int *o = v.out;
  const int64_t *pa = v.sa, *pb = v.sb;
  const float *a = ta->data, *b = tb->data;
  const int32_t zp = fq->zero_point[0];
  for (int i0 = 0; i0 < o[0]; i0++)
    for (int i1 = 0; i1 < o[1]; i1++)
      for (int i2 = 0; i2 < o[2]; i2++) {
        const int64_t oa = i0 * pa[0] + i1 * pa[1] + i2 * pa[2], ob = i0 * pb[0] + i1 * pb[1] + i2 * pb[2];
        float *py = y + (((int64_t)i0 * o[1] + i1) * o[2] + i2) * o[3];
        for (int i3 = 0; i3 < o[3]; i3++) {
          const int32_t p = qat_fq_centered(a[oa + i3 * pa[3]], sa) * qat_fq_centered(b[ob + i3 * pb[3]], sb);
          py[i3] = out_value(zp + qat_multiply_by_quantized_multiplier(p, mult, shift), fq);
        }
      }
  return 1;
}

static int leaky_relu(const qat_fq *fq, const qat_tensor *x, float *y) {
  const qat_fq *fi = fq->input;
  const qat_tensor *t = fq->requant_in[0];
  if (!fi || !t || !fi->valid) return 0;
  const float s_in = fi->scale[0], s_out = fq->scale[0];
  int32_t m_id, m_alpha;
  int sh_id, sh_alpha;
  /* activations.cc LeakyReluPrepare: float products widened to double */
  if (qat_quantize_multiplier((double)(s_in * fq->alpha / s_out), &m_alpha, &sh_alpha) ||
      qat_quantize_multiplier((double)(s_in / s_out), &m_id, &sh_id))
    return 0;
  const int64_t n = qat_tensor_size(x);
  const int32_t zp = fq->zero_point[0];
  for (int64_t i = 0; i < n; i++) {
    const int32_t v = qat_fq_centered(t->data[i], s_in);
    const int32_t r = v >= 0 ? qat_multiply_by_quantized_multiplier(v, m_id, sh_id)
                             : qat_multiply_by_quantized_multiplier(v, m_alpha, sh_alpha);
    y[i] = out_value(zp + r, fq);
  }
  return 1;
}

/* quantize.cc's int8 -> int8 requantization (reference_ops::Requantize): the multiplier of
 * s_in / s_out in double, the centered input integer rescaled, the output zero point added. */
static int requantize(const qat_fq *fq, const qat_tensor *x, float *y) {
  const qat_fq *fi = fq->input;
  const qat_tensor *t = fq->requant_in[0];
  if (!fi || !t || !fi->valid) return 0;
  int32_t mult;
  int shift;
  if (qat_quantize_multiplier((double)fi->scale[0] / (double)fq->scale[0], &mult, &shift)) return 0;
  const int64_t n = qat_tensor_size(x);
  const int32_t zp = fq->zero_point[0];
  for (int64_t i = 0; i < n; i++)
    y[i] = out_value(zp + qat_multiply_by_quantized_multiplier(qat_fq_centered(t->data[i], fi->scale[0]), mult, shift), fq);
  return 1;
}

/* activations.cc PreluPrepare and reference_ops::BroadcastPrelu4DSlow: the multipliers from
 * float products widened to double, alpha broadcast (numpy's rule) as MUL's second input. */
static int prelu(const qat_fq *fq, const qat_tensor *x, float *y) {
  const qat_fq *fi = fq->input, *fa = fq->input2;
  const qat_tensor *ti = fq->requant_in[0], *ta = fq->requant_in[1];
  if (!fi || !fa || !ti || !ta || !fi->valid || !fa->valid) return 0;
  const float s_in = fi->scale[0], s_a = fa->scale[0], s_out = fq->scale[0];
  int32_t m_id, m_alpha;
  int sh_id, sh_alpha;
  if (qat_quantize_multiplier((double)(s_in / s_out), &m_id, &sh_id) ||
      qat_quantize_multiplier((double)(s_in * s_a / s_out), &m_alpha, &sh_alpha))
    return 0;
  qat_bcast4 v;
  qat_bcast4_view(ti, ta, x, &v);
  const int *o = v.out;
  const int64_t *pi = v.sa, *pa = v.sb;
  const float *in = ti->data, *al = ta->data;
  const int32_t zp = fq->zero_point[0];
  for (int i0 = 0; i0 < o[0]; i0++)
    for (int i1 = 0; i1 < o[1]; i1++)
      for (int i2 = 0; i2 < o[2]; i2++) {
        const int64_t oi = i0 * pi[0] + i1 * pi[1] + i2 * pi[2], oa = i0 * pa[0] + i1 * pa[1] + i2 * pa[2];
        float *py = y + (((int64_t)i0 * o[1] + i1) * o[2] + i2) * o[3];
        for (int i3 = 0; i3 < o[3]; i3++) {
          const int32_t q = qat_fq_centered(in[oi + i3 * pi[3]], s_in);
          const int32_t r = q >= 0 ? qat_multiply_by_quantized_multiplier(q, m_id, sh_id)
                                   : qat_multiply_by_quantized_multiplier(q * qat_fq_centered(al[oa + i3 * pa[3]], s_a),
                                                                          m_alpha, sh_alpha);
          py[i3] = out_value(zp + r, fq);
        }
      }
  return 1;
}

/* 16-bit fixed point as gemmlowp and reference_ops::HardSwish compute it */
static inline int16_t sat16(int32_t v) { return (int16_t)(v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : v); }

static inline int16_t srdhm16(int16_t a, int16_t b) {
  if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
  const int32_t ab = (int32_t)a * b;
  const int32_t nudge = ab >= 0 ? (1 << 14) : 1 - (1 << 14);
  return (int16_t)((ab + nudge) / (1 << 15));
}

/* the non-rounding doubling high product, truncating toward zero */
static inline int16_t sdhm16(int16_t a, int16_t b) {
  if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
  return (int16_t)(((int32_t)a * b) / (1 << 15));
}

static inline int16_t sat_left_shift16(int16_t v, int amount) { return sat16((int32_t)v * (1 << amount)); }

static int16_t down_scale16(int32_t m) {
  if (m >= INT32_MAX - (1 << 15)) return INT16_MAX;
  return (int16_t)((m + (1 << 15)) >> 16);
}

static int hard_swish(const qat_fq *fq, const qat_tensor *x, float *y) {
  const qat_fq *fi = fq->input;
  const qat_tensor *t = fq->requant_in[0];
  if (!fi || !t || !fi->valid) return 0;
  const float s_in = fi->scale[0];
  const float hires_scale = (1.0f / 128.0f) * s_in, reluish_scale = 3.0f / 32768.0f;
  int32_t om32, rm32;
  int oexp, rexp;
  if (qat_quantize_multiplier((double)(hires_scale / fq->scale[0]), &om32, &oexp) ||
      qat_quantize_multiplier((double)(hires_scale / reluish_scale), &rm32, &rexp) || oexp > 0)
    return 0;
  const int16_t om = down_scale16(om32), rm = down_scale16(rm32);
  const int64_t n = qat_tensor_size(x);
  const int32_t zp = fq->zero_point[0];
  for (int64_t i = 0; i < n; i++) {
    const int16_t v = sat16(qat_fq_centered(t->data[i], s_in));
    const int16_t hires = (int16_t)(v * (1 << 7));
    const int16_t pre_out = srdhm16(hires, om);
    int16_t r = hires;
    if (rexp > 0) r = sat_left_shift16(r, rexp - 1);
    r = srdhm16(r, rm);
    if (rexp > 0) r = sat_left_shift16(r, 1);
    if (rexp < 0) r = (int16_t)qat_rounding_divide_by_pot(r, -rexp);
    r = (int16_t)((r + (1 << 15)) >> 1);
    const int16_t prod = sdhm16(r, pre_out);
    const int32_t o = qat_rounding_divide_by_pot(prod, -oexp) + zp;
    y[i] = out_value(o, fq);
  }
  return 1;
}

int qat_fq_requant_fn(const qat_fq *fq, const qat_tensor *x, float *y) {
  switch (fq->requant) {
  case QAT_REQUANT_MUL: return mul(fq, x, y);
  case QAT_REQUANT_LEAKY_RELU: return leaky_relu(fq, x, y);
  case QAT_REQUANT_PRELU: return prelu(fq, x, y);
  case QAT_REQUANT_REQUANTIZE: return requantize(fq, x, y);
  case QAT_REQUANT_HARD_SWISH: return hard_swish(fq, x, y);
  default: return 0;
  }
}
