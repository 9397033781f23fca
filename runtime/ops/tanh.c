/* TANH (builtin 28; versions 1-3): float32 (std::tanh), int8 (activations.cc TanhPrepare's
 * 256-entry table, LUTPopulate in float, which kReference uses too) and int16
 * (reference_integer_ops::Tanh on the sigmoid table, tanh(x) = 2 sigmoid(2x) - 1). The int16
 * table and Prepare that LOGISTIC shares live here. */
#include <math.h>
#include <pthread.h>

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

RT_EVAL(eval_f32, rt_tanh_f32(rt_in(m, op, 0)->n_elems, rt_in_data(m, op, 0), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_lut_apply_i8(rt_in(m, op, 0)->n_elems, op->lut, rt_in_data(m, op, 0),
                                 rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_tanh_i16(rt_in(m, op, 0)->n_elems, op->s_mult, op->s_shift, rt_in_data(m, op, 0),
                              rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_unary(m, k, op);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  if ((rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  if (rt_is_i16(in)) return rt_prepare_sigmoid_i16(m, k, op, 1);
  if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")))
    return rc;
  rt_lut_build_tanh_i8(in->scales[0], (int32_t)in->zero_points[0], o->scales[0],
                       (int32_t)o->zero_points[0], op->lut);
  return QAT_OK;
}

/* The table TFLite's int16 TANH and LOGISTIC interpolate: sigmoid(i / 24) in 0.16 fixed point,
 * i = 0..255, each entry moved up by half the error that linear interpolation makes at the middle
 * of its interval (sigmoid is concave there, so the chord lies below it: the corrected samples
 * halve the worst error), and the last entry the saturated 65535. Computed so, the table equals
 * common.h's sigmoid_table_uint16 entry for entry; the plain rounded samples differ from it in 44
 * places. */
static uint16_t sigmoid_table[256];
static void build_sigmoid_table(void) {
  const double step = 1.0 / 24.0;
  for (int i = 0; i < 255; i++) {
    const double x = i * step, lo = 1.0 / (1.0 + exp(-x)), hi = 1.0 / (1.0 + exp(-(x + step)));
    const double mid = 1.0 / (1.0 + exp(-(x + step / 2)));
    sigmoid_table[i] = (uint16_t)floor(65536.0 * (lo + 0.5 * (mid - 0.5 * (lo + hi))) + 0.5);
  }
  sigmoid_table[255] = 65535;
}
const uint16_t *rt_sigmoid_table_u16(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, build_sigmoid_table);
  return sigmoid_table;
}

/* reference_integer_ops::Tanh (int16): the input rescaled to 1 / (3 * 4096) per step, then the
 * sigmoid table at twice the argument. */
void rt_tanh_i16(int64_t n, int32_t mult, int shift, const int16_t *in, int16_t *out) {
  const uint16_t *t = rt_sigmoid_table_u16();
  if (mult == 0) { /* a power-of-two input scale */
    mult = 3 << shift;
    shift = 0;
  }
  const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
  for (int64_t i = 0; i < n; i++) {
    const int32_t x = (in[i] * mult + round) >> shift;
    const uint32_t ax = (uint32_t)(x < 0 ? -x : x), uh = ax >> 8;
    int32_t r;
    if (uh >= 255) {
      r = 0xFFFF << 8;
    } else {
      const uint32_t ua = t[uh], ub = t[uh + 1], ut = ax & 0xFF;
      r = (int32_t)((ua << 8) + ut * (ub - ua));
    }
    r = x >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    out[i] = (int16_t)(r >> 8);
  }
}

/* reference_integer_ops::Logistic (int16). */
void rt_logistic_i16(int64_t n, int32_t mult, int shift, const int16_t *in, int16_t *out) {
  const uint16_t *t = rt_sigmoid_table_u16();
  if (mult == 0) {
    mult = 3 << shift;
    shift = 0;
  }
  const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
  for (int64_t i = 0; i < n; i++) {
    const int32_t x = (in[i] * mult + round) >> shift;
    const uint32_t ax = (uint32_t)(x < 0 ? -x : x), uh = ax >> 9;
    uint32_t r;
    if (uh >= 255) {
      r = 0x7FFFu << 10;
    } else {
      const uint32_t ua = t[uh], ub = t[uh + 1], ut = ax & 0x1FF;
      r = (ua << 9) + ut * (ub - ua);
    }
    r = x >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1;
    out[i] = (int16_t)(r >> 10);
  }
}

/* quantization_util.cc CheckedLog2: log2 in float, within 1e-3 of an integer. */
static int checked_log2(float x, int *out) {
  const float l = logf(x) * (1.0f / logf(2.0f)), r = roundf(l);
  *out = (int)r;
  return fabsf(l - r) < 1e-3f;
}

/* TanhPrepare / SigmoidPrepare for int16: zero points 0, output scale 2^-15; a power-of-two
 * input scale whose shift is at most max_pot_shift (TANH 1, LOGISTIC 0) runs with multiplier 0,
 * any other scale with the multiplier to 1 / (3 * 4096) doubled until above 32767 / 2. */
int rt_prepare_sigmoid_i16(qat_rt_model *m, int k, rt_op *op, int max_pot_shift) {
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  int rc, in_log2, out_log2;
  if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output"))) return rc;
  if (in->zero_points[0] != 0 || o->zero_points[0] != 0)
    return rt_bad(m, k, "int16 zero points must be 0 (input %lld, output %lld)", (long long)in->zero_points[0],
                  (long long)o->zero_points[0]);
  if (!checked_log2(o->scales[0], &out_log2) || out_log2 != -15)
    return rt_bad(m, k, "int16 output scale must be 1/32768 (has %g)", (double)o->scales[0]);
  const int pot = checked_log2(in->scales[0], &in_log2);
  op->s_shift = 12 + in_log2;
  op->s_mult = 0;
  if (!(pot && op->s_shift >= 0 && op->s_shift <= max_pot_shift)) {
    double mult = (double)in->scales[0] * 4096.0 * 3.0;
    op->s_shift = 0;
    while (mult <= 32767.0 / 2.0 && op->s_shift <= 30) {
      op->s_shift++;
      mult *= 2.0;
    }
    if (mult > 32767.0) /* an input scale above 1 / 4: the int32 product could overflow */
      return rt_unsup(m, k, "int16 input scale %g (above TFLite's range)", (double)in->scales[0]);
    op->s_mult = (int32_t)mult;
  }
  return QAT_OK;
}

RT_REGISTER_OP(TANH, 3, NONE, NULL, 0, NULL, prepare);
