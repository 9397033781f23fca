/* MAX_POOL_2D (builtin 17; versions 1-3): float32, int8, int16 (pooling.cc; Prepare in
 * window.c). */
#include "qat/error.h"
#include "runtime/rt_op.h"

RT_EVAL(eval_f32, rt_maxpool_f32(&op->pool, op->f_min, op->f_max, rt_in_data(m, op, 0),
                                 rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_maxpool_i8(&op->pool, op->rq.act_min, op->rq.act_max, rt_in_data(m, op, 0),
                               rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_maxpool_i16(&op->pool, op->rq.act_min, op->rq.act_max,
                                 rt_in_data(m, op, 0), rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  return rt_prepare_pool(m, k, op, &ev);
}

RT_REGISTER_OP(MAX_POOL_2D, 3, Pool2DOptions, rt_pool_options, RT_COUNT(rt_pool_options), NULL,
               prepare);
