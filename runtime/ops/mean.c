/* MEAN (builtin 40; versions 1-3): float32, and int8 / int16 as today's reduce.cc kReference
 * computes them, always QuantizedMeanOrSum with 1/n folded into the multiplier. */
#include <stdlib.h>

#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_op.h"

RT_EVAL(eval_f32, rt_mean_f32(&op->red, rt_in_data(m, op, 0), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_mean_i8(&op->red, op->in_zp, op->out_zp, op->s_mult, op->s_shift,
                            rt_in_data(m, op, 0), rt_out_data(m, op), op->scratch))
RT_EVAL(eval_i16, rt_mean_i16(&op->red, op->in_zp, op->out_zp, op->s_mult, op->s_shift,
                              rt_in_data(m, op, 0), rt_out_data(m, op), op->scratch))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  int rc;
  if ((rc = rt_prepare_reduce(m, k, op)) || (rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")))
    return rc;
  if (rt_is_i16(in) && ((rc = rt_need_int16_symmetric(m, k, in, "input")) ||
                        (rc = rt_need_int16_symmetric(m, k, o, "output"))))
    return rc;
  rc = qat_mean_multiplier(in->scales[0], o->scales[0], op->red.n_reduce, &op->s_mult,
                           &op->s_shift);
  if (rc) return rt_multiplier_failed(m, k, rc);
  op->in_zp = (int32_t)in->zero_points[0];
  op->out_zp = (int32_t)o->zero_points[0];
  op->scratch = malloc((size_t)op->red.n_out * sizeof *op->scratch);
  if (!op->scratch) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  return QAT_OK;
}

RT_REGISTER_OP(MEAN, 3, ReducerOptions, rt_reducer_options, RT_COUNT(rt_reducer_options), NULL,
               prepare);
