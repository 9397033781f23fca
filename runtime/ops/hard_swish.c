/* HARD_SWISH (builtin 117; version 1, no int16 kernel in TFLite): float32
 * x * min(6, max(0, x + 3)) / 6 in float as reference_ops::HardSwish, and int8 with
 * activations.cc HardSwishPrepare's 16-bit multipliers and reference_ops::HardSwish's
 * fixed-point arithmetic: the input on a "hires" scale (x << 7), a "relu-ish" factor in
 * [0, 1] from x rescaled so that 3.0 is 2^15, and their product rescaled to the output. */
#include <math.h>

#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

void rt_hard_swish_f32(int64_t n, const float *in, float *out) {
  for (int64_t i = 0; i < n; i++) {
    const float x = in[i];
    float r = x + 3.0f;
    r = r < 0.0f ? 0.0f : r; /* std::max(0, x + 3), then std::min(6, .) */
    r = 6.0f < r ? 6.0f : r;
    out[i] = x * r / 6.0f;
  }
}

/* gemmlowp's int16 SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^15 truncated
 * toward zero, nudge 2^14 or 1 - 2^14 by the sign of a * b; INT16_MIN squared saturates. */
static int16_t srdhm16(int16_t a, int16_t b) {
  if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
  const int32_t ab = (int32_t)a * b;
  const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
  return (int16_t)((ab + nudge) / (1 << 15));
}
/* hard_swish.h SaturatingDoublingHighMul: the same without the nudge (rounds toward zero). */
static int16_t sdhm16(int16_t a, int16_t b) {
  if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
  return (int16_t)(((int32_t)a * b) / (1 << 15));
}
/* gemmlowp RoundingDivideByPOT on int16: half away from zero. */
static int16_t rdbpot16(int16_t x, int e) {
  const int32_t mask = (1 << e) - 1, rem = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (int16_t)((x >> e) + (rem > threshold ? 1 : 0));
}
static int16_t sat_lshift16(int16_t v, int amount) {
  const int64_t r = (int64_t)v * ((int64_t)1 << amount);
  return (int16_t)(r > INT16_MAX ? INT16_MAX : r < INT16_MIN ? INT16_MIN : r);
}

void rt_hard_swish_i8(int64_t n, const rt_hard_swish_params *p, const int8_t *in, int8_t *out) {
  for (int64_t i = 0; i < n; i++) {
    const int16_t x = (int16_t)(in[i] - p->in_zp);
    const int16_t hires = (int16_t)(x * (1 << 7)); /* |x| <= 255: fits */
    const int16_t preshift_out = srdhm16(hires, p->out_mult16);
    int16_t reluish = hires;
    if (p->reluish_exp > 0) reluish = sat_lshift16(reluish, p->reluish_exp - 1);
    reluish = srdhm16(reluish, p->reluish_mult16);
    if (p->reluish_exp > 0) reluish = sat_lshift16(reluish, 1);
    if (p->reluish_exp < 0) reluish = rdbpot16(reluish, -p->reluish_exp);
    reluish = (int16_t)((reluish + (1 << 15)) >> 1); /* [-1, 1] to [0, 1] */
    const int16_t pre = sdhm16(reluish, preshift_out);
    int32_t v = (int16_t)(rdbpot16(pre, -p->out_exp) + p->out_zp);
    out[i] = (int8_t)rt_clampi(v, -128, 127);
  }
}

/* activations.cc DownScaleInt32ToInt16Multiplier: round the Q31 multiplier to Q15. */
static int16_t downscale16(int32_t q) {
  if (q >= INT32_MAX - (1 << 15)) return INT16_MAX;
  return (int16_t)((q + (1 << 15)) >> 16);
}

RT_EVAL(eval_f32,
        rt_hard_swish_f32(rt_in(m, op, 0)->n_elems, rt_in_data(m, op, 0), rt_out_data(m, op)))
/* int8: the kernel above is a function of the input byte alone, so Prepare runs it once on all
 * 256 values and Invoke looks them up (LOGISTIC's table): the same bytes, a load per element. */
RT_EVAL(eval_i8, rt_lut_apply_i8(rt_in(m, op, 0)->n_elems, op->lut, rt_in_data(m, op, 0), rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_unary(m, k, op);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  static const rt_evals ev = {eval_f32, eval_i8, NULL, NULL};
  if ((rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")))
    return rc;
  /* HardSwishPrepare: every ratio in float, then QuantizeMultiplier and the Q15 rounding. */
  rt_hard_swish_params *p = &op->hs;
  p->in_zp = (int32_t)in->zero_points[0];
  p->out_zp = (int32_t)o->zero_points[0];
  const float hires_scale = (1.0f / 128.0f) * in->scales[0];
  const float out_mult = hires_scale / o->scales[0];
  const float reluish_mult = hires_scale / (3.0f / 32768.0f);
  int32_t q;
  if ((rc = qat_quantize_multiplier((double)out_mult, &q, &p->out_exp)))
    return rt_multiplier_failed(m, k, rc);
  p->out_mult16 = downscale16(q);
  if (p->out_exp > 0)
    return rt_unsup(m, k, "the output multiplier %g is 1 or more (TFLite requires its exponent "
                    "<= 0)", (double)out_mult);
  if (p->out_exp < -15)
    return rt_unsup(m, k, "the output multiplier %g is below 2^-15 (the int16 shift)",
                    (double)out_mult);
  if ((rc = qat_quantize_multiplier((double)reluish_mult, &q, &p->reluish_exp)))
    return rt_multiplier_failed(m, k, rc);
  p->reluish_mult16 = downscale16(q);
  if (p->reluish_exp < -15 || p->reluish_exp > 15)
    return rt_unsup(m, k, "the relu-ish multiplier %g is out of the int16 shift range",
                    (double)reluish_mult);
  int8_t all[256];
  for (int v = 0; v < 256; v++) all[v] = (int8_t)(v - 128);
  int8_t mapped[256];
  rt_hard_swish_i8(256, p, all, mapped);
  for (int v = 0; v < 256; v++) op->lut[(uint8_t)all[v]] = mapped[v];
  return QAT_OK;
}

RT_REGISTER_OP(HARD_SWISH, 1, NONE, NULL, 0, NULL, prepare);
