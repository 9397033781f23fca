/* TANH (builtin 28; versions 1-3): float32 (std::tanh) and int8 (activations.cc TanhPrepare's
 * 256-entry table, LUTPopulate in float, which kReference uses too). int16 is refused (see
 * rt_unsup_int16_tanh_logistic). */
#include <math.h>

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

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_unary(m, k, op);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  if (rt_is_i16(in)) return rt_unsup_int16_tanh_logistic(m, k);
  static const rt_evals ev = {eval_f32, eval_i8, NULL, NULL};
  if ((rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")))
    return rc;
  rt_lut_build_tanh_i8(in->scales[0], (int32_t)in->zero_points[0], o->scales[0],
                       (int32_t)o->zero_points[0], op->lut);
  return QAT_OK;
}

/* TFLite's int16 TANH and LOGISTIC (reference_integer_ops::Tanh / Logistic) interpolate
 * common.h's 256-entry sigmoid_table_uint16, "sigmoid(i/24) at 0.16 format". 44 of its entries
 * are one above round(65536 sigmoid(i / 24)) with no rule found that reproduces them, and the
 * project does not copy third-party tables: a table computed here differs from BUILTIN_REF by 1
 * LSB on a few percent of the inputs, so these kernels are refused rather than approximated. */
int rt_unsup_int16_tanh_logistic(qat_rt_model *m, int k) {
  return rt_unsup(m, k, "int16 %s (TFLite's kernel interpolates a fixed sigmoid table that is "
                  "not reproduced bit-exactly here)", m->ops[k].name);
}

RT_REGISTER_OP(TANH, 3, NONE, NULL, 0, NULL, prepare);
