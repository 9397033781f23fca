/* DEQUANTIZE (builtin 6; versions 1-6): int8 / uint8 / int16 / float16 -> float32. A constant
 * input is dequantized once, at Prepare. */
#include <stdlib.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

RT_EVAL(eval_dequantize, rt_dequantize(rt_in(m, op, 0)->n_elems, rt_in(m, op, 0)->type,
                                       rt_in_data(m, op, 0), op->in_scale, op->in_zp,
                                       rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_unary(m, k, op);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  if (!rt_is_f32(o)) return rt_unsup(m, k, "output type %s", qat_rt_type_name(o->type));
  op->eval = eval_dequantize;
  if (in->type != QAT_RT_FLOAT16) {
    if (in->type != QAT_RT_INT8 && in->type != QAT_RT_UINT8 && in->type != QAT_RT_INT16)
      return rt_unsup(m, k, "input type %s", qat_rt_type_name(in->type));
    if ((rc = rt_need_per_tensor(m, k, in, "input"))) return rc;
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
    op->eval = NULL;
  }
  return QAT_OK;
}

RT_REGISTER_OP(DEQUANTIZE, 6, DequantizeOptions, NULL, 0, NULL, prepare);
