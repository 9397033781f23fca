/* LOGISTIC (builtin 14; versions 1-3; no options): float32 (expf, as TFLite), int8 (the
 * 256-entry table activations.cc builds in float for kReference too) and int16 (the sigmoid
 * table TANH shares, ops/tanh.c). */
#include "qat/error.h"
#include "runtime/rt_op.h"

RT_EVAL(eval_f32,
        rt_logistic_f32(rt_in(m, op, 0)->n_elems, rt_in_data(m, op, 0), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_lut_apply_i8(rt_in(m, op, 0)->n_elems, op->lut, rt_in_data(m, op, 0),
                                 rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_logistic_i16(rt_in(m, op, 0)->n_elems, op->s_mult, op->s_shift, rt_in_data(m, op, 0),
                                  rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_unary(m, k, op);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  if ((rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  if (rt_is_i16(in)) return rt_prepare_sigmoid_i16(m, k, op, 0);
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
