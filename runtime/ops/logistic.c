/* LOGISTIC (builtin 14; versions 1-3; no options): float32 (expf, as TFLite), int8 (the
 * 256-entry table activations.cc builds in float for kReference too) and int16 (symmetric,
 * output scale 2^-15: reference_integer_ops::Logistic, TANH's sigmoid table interpolated on
 * the input rescaled to 3 * 4096 per unit, ops/tanh.c). */
#include <stdlib.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

RT_EVAL(eval_f32,
        rt_logistic_f32(rt_in(m, op, 0)->n_elems, rt_in_data(m, op, 0), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_lut_apply_i8(rt_in(m, op, 0)->n_elems, op->lut, rt_in_data(m, op, 0),
                                 rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_logistic_i16(rt_in(m, op, 0)->n_elems, op->s_mult, op->s_shift,
                                  rt_in_data(m, op, 0), rt_out_data(m, op)))

void rt_logistic_i16(int64_t n, int32_t mult, int shift, const int16_t *in, int16_t *out) {
  const uint16_t *tab = rt_sigmoid_table_u16();
  const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
  for (int64_t i = 0; i < n; i++) {
    const int32_t x = (in[i] * mult + round) >> shift;
    const uint32_t ax = (uint32_t)abs(x), uh = ax >> 9;
    uint32_t r;
    if (uh >= 255) {
      r = 0x7FFFu << 10;
    } else {
      const uint32_t ua = tab[uh], ub = tab[uh + 1], ut = ax & 0x1ff;
      r = (ua << 9) + ut * (ub - ua);
    }
    r = x >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1;
    out[i] = (int16_t)(r >> 10);
  }
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_unary(m, k, op);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  if ((rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  if (rt_is_i16(in)) return rt_prepare_tanh_logistic_i16(m, k, op, 1);
  if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")))
    return rc;
  /* activations.cc SigmoidPrepare (kReference, int8): output scale exactly 1/256, then a
   * 256-entry table built in float (PopulateLookupTable / LUTPopulate). */
  if (o->scales[0] != 1.0f / 256)
    return rt_bad(m, k, "int8 output scale must be 1/256 (has %g)", (double)o->scales[0]);
  rt_lut_build_logistic_i8(in->scales[0], (int32_t)in->zero_points[0], o->scales[0],
                           (int32_t)o->zero_points[0], op->lut);
  return QAT_OK;
}

RT_REGISTER_OP(LOGISTIC, 3, NONE, NULL, 0, NULL, prepare);
