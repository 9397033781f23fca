/* TANH (builtin 28; versions 1-3): float32 (std::tanh), int8 (activations.cc TanhPrepare's
 * 256-entry table, LUTPopulate in float, which kReference uses too) and int16 (symmetric,
 * output scale 2^-15: reference_integer_ops::Tanh, a table of sigmoid(i / 24) interpolated on
 * the input rescaled to 3 * 4096 per unit, since tanh(x) = 2 sigmoid(2x) - 1). LOGISTIC's int16
 * kernel (ops/logistic.c) shares the table and the input rescaling. */
#include <math.h>
#include <stdlib.h>

#include "qat/error.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

void rt_tanh_f32(int64_t n, const float *in, float *out) {
  for (int64_t i = 0; i < n; i++) out[i] = tanhf(in[i]);
}

/* LUTPopulateInt8 with std::tanh. */
void rt_lut_build_tanh_i8(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp,
                          int8_t lut[256]) {
  const float inverse_scale = 1 / out_scale;
  for (int32_t val = -128; val <= 127; val++) {
    const float dequantized = in_scale * (float)(val - in_zp);
    const float rescaled = roundf(tanhf(dequantized) * inverse_scale);
    const int32_t quantized = (int32_t)(rescaled + (float)out_zp); /* |rescaled| <= 2^8 / s */
    lut[(uint8_t)(int8_t)val] = (int8_t)rt_clampi(quantized, -128, 127);
  }
}

/* common.h's sigmoid_table_uint16: sigmoid(i / 24) in unsigned 0.16 fixed point, rounded to
 * nearest (the values are far from ties), built once. */
const uint16_t *rt_sigmoid_table_u16(void) {
  static uint16_t table[256];
  static int built;
  if (!built) {
    for (int i = 0; i < 256; i++) table[i] = (uint16_t)lround(65536.0 / (1.0 + exp(-i / 24.0)));
    built = 1;
  }
  return table;
}

void rt_tanh_i16(int64_t n, int32_t mult, int shift, const int16_t *in, int16_t *out) {
  const uint16_t *tab = rt_sigmoid_table_u16();
  const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
  for (int64_t i = 0; i < n; i++) {
    const int32_t x = (in[i] * mult + round) >> shift;
    const uint32_t ax = (uint32_t)abs(x), uh = ax >> 8;
    int32_t r;
    if (uh >= 255) {
      r = 0xFFFF << 8;
    } else {
      const uint32_t ua = tab[uh], ub = tab[uh + 1], ut = ax & 0xFF;
      r = (int32_t)((ua << 8) + ut * (ub - ua));
    }
    r = x >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    out[i] = (int16_t)(r >> 8);
  }
}

/* kernel_util CheckedLog2: log2 x rounded, and whether x is within 1e-3 (in the exponent) of
 * that power of two. */
static int checked_log2(float x, int *l) {
  const float lx = logf(x) * (1.0f / logf(2.0f));
  const float r = roundf(lx);
  *l = (int)r;
  return fabsf(lx - r) < 1e-3f;
}

int rt_prepare_tanh_logistic_i16(qat_rt_model *m, int k, rt_op *op, int logistic) {
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  int rc;
  if ((rc = rt_need_int16_symmetric(m, k, in, "input")) ||
      (rc = rt_need_int16_symmetric(m, k, o, "output")))
    return rc;
  /* TanhPrepare / SigmoidPrepare int16: a power-of-two input scale with input_left_shift
   * 12 + log2(s_in) of 0 (1 for TANH too) is used as is; any other scale is rescaled to
   * 1 / (3 * 4096) by an integer multiplier in (2^14 - 1/2, 2^15 - 1] and a right shift. */
  int l, shift;
  int pot = checked_log2(in->scales[0], &l);
  shift = 12 + l;
  pot = pot && (shift == 0 || (!logistic && shift == 1));
  int32_t mult = 0;
  if (!pot) {
    double mm = (double)in->scales[0] * 4096.0 * 3.0;
    shift = 0;
    while (mm <= 32767.0 / 2.0 && shift <= 30) {
      shift++;
      mm *= 2.0;
    }
    if (mm > 65535.0)
      return rt_unsup(m, k, "input scale %g is too large for the int16 kernel (its rescaled "
                      "input would overflow int32)", (double)in->scales[0]);
    mult = (int32_t)mm;
  }
  if (!checked_log2(o->scales[0], &l) || l != -15)
    return rt_bad(m, k, "int16 output scale must be 2^-15 (has %g)", (double)o->scales[0]);
  /* reference_integer_ops: the power-of-two case is multiplier 3 << shift, shift 0. */
  if (mult == 0) {
    mult = 3 << shift;
    shift = 0;
  }
  op->s_mult = mult;
  op->s_shift = shift;
  return QAT_OK;
}

RT_EVAL(eval_f32, rt_tanh_f32(rt_in(m, op, 0)->n_elems, rt_in_data(m, op, 0), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_lut_apply_i8(rt_in(m, op, 0)->n_elems, op->lut, rt_in_data(m, op, 0),
                                 rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_tanh_i16(rt_in(m, op, 0)->n_elems, op->s_mult, op->s_shift,
                              rt_in_data(m, op, 0), rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_unary(m, k, op);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  if ((rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  if (rt_is_i16(in)) return rt_prepare_tanh_logistic_i16(m, k, op, 0);
  if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")))
    return rc;
  rt_lut_build_tanh_i8(in->scales[0], (int32_t)in->zero_points[0], o->scales[0],
                       (int32_t)o->zero_points[0], op->lut);
  return QAT_OK;
}

RT_REGISTER_OP(TANH, 3, NONE, NULL, 0, NULL, prepare);
