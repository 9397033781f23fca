/* AVERAGE_POOL_2D (builtin 1; versions 1-3): float32, int8, int16 (pooling.cc; Prepare in
 * window.c). TFLite's AveragePool returns false on a window with no valid tap; Prepare's
 * geometry never makes one, so reaching it is a bug. */
#include "qat/error.h"
#include "runtime/rt_op.h"

#define EVAL_POOL(fn, call)                                                                \
  static int fn(qat_rt_model *m, int k, rt_op *op) {                                       \
    if (!(call)) return QAT_OK;                                                              \
    return qat_fail(QAT_ERR_INTERNAL, "%s: op %d (%s): empty pooling window", m->name, k,    \
                    op->name);                                                               \
  }
EVAL_POOL(eval_f32, rt_avgpool_f32(&op->pool, op->f_min, op->f_max, rt_in_data(m, op, 0),
                                   rt_out_data(m, op)))
EVAL_POOL(eval_i8, rt_avgpool_i8(&op->pool, op->rq.act_min, op->rq.act_max, rt_in_data(m, op, 0),
                                 rt_out_data(m, op)))
EVAL_POOL(eval_i16, rt_avgpool_i16(&op->pool, op->rq.act_min, op->rq.act_max,
                                   rt_in_data(m, op, 0), rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  return rt_prepare_pool(m, k, op, &ev);
}

RT_REGISTER_OP(AVERAGE_POOL_2D, 3, Pool2DOptions, rt_pool_options, RT_COUNT(rt_pool_options),
               NULL, prepare);
