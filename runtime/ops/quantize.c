/* QUANTIZE (builtin 114; versions 1-3): float32 -> int8 / uint8 / int16 (AffineQuantize) and
 * int8 / uint8 -> int8 / uint8 and int16 -> int8 / int16 requantization (Requantize; int16 with
 * zero point 0, as quantize.cc's Prepare requires). */
#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_op.h"

RT_EVAL(eval_quantize, rt_quantize_f32(rt_in(m, op, 0)->n_elems, rt_in_data(m, op, 0),
                                       rt_out(m, op, 0)->type, op->out_scale, op->out_zp,
                                       rt_out_data(m, op)))
RT_EVAL(eval_requantize,
        rt_requantize(rt_in(m, op, 0)->n_elems, rt_in(m, op, 0)->type, rt_in_data(m, op, 0),
                      op->in_zp, op->s_mult, op->s_shift, op->out_zp, rt_out(m, op, 0)->type,
                      rt_out_data(m, op)))

RT_EVAL(eval_requantize_lut, rt_lut_apply_i8(rt_in(m, op, 0)->n_elems, op->lut, rt_in_data(m, op, 0), rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_unary(m, k, op);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  const int ot = o->type;
  if (ot != QAT_RT_INT8 && ot != QAT_RT_UINT8 && ot != QAT_RT_INT16)
    return rt_unsup(m, k, "output type %s", qat_rt_type_name(ot));
  /* quantize.cc Prepare: per-tensor output only. */
  if ((rc = rt_need_per_tensor(m, k, o, "output"))) return rc;
  if (ot == QAT_RT_INT16 && o->zero_points[0] != 0)
    return rt_bad(m, k, "int16 output must have zero point 0");
  op->out_zp = (int32_t)o->zero_points[0];
  op->out_scale = o->scales[0];
  if (rt_is_f32(in)) {
    op->eval = eval_quantize;
    return QAT_OK;
  }
  if (in->type == QAT_RT_INT16 && in->n_q >= 1 && in->zero_points[0] != 0)
    return rt_bad(m, k, "int16 input must have zero point 0");
  if (((in->type == QAT_RT_INT8 || in->type == QAT_RT_UINT8) && ot != QAT_RT_INT16) ||
      (in->type == QAT_RT_INT16 && ot != QAT_RT_UINT8)) {
    op->eval = eval_requantize;
    if ((rc = rt_need_per_tensor(m, k, in, "input"))) return rc;
    op->in_zp = (int32_t)in->zero_points[0];
    rc = qat_quantize_multiplier((double)in->scales[0] / (double)o->scales[0], &op->s_mult,
                                 &op->s_shift);
    if (rc) return rt_multiplier_failed(m, k, rc);
    if (in->type != QAT_RT_INT16 && ot != QAT_RT_INT16) { /* byte to byte: Requantize's own table */
      int8_t every[256];
      rt_lut_inputs_i8(every);
      rt_requantize(256, in->type, every, op->in_zp, op->s_mult, op->s_shift, op->out_zp, ot, op->lut);
      op->eval = eval_requantize_lut;
    }
    return QAT_OK;
  }
  return rt_unsup(m, k, "input %s, output %s", qat_rt_type_name(in->type), qat_rt_type_name(ot));
}

RT_REGISTER_OP(QUANTIZE, 3, QuantizeOptions, NULL, 0, NULL, prepare);
