/* REDUCE_PROD (builtin 81; versions 1-2, ReducerOptions): float32 and int32, as reduce.cc's
 * EvalGeneric<kProd> (every output starts at 1 and multiplies the inputs in row-major order).
 * The converter writes it on int32 shape values (a Dense over a sequence: the product of the
 * leading dimensions), folded at Prepare when they are constant. int8 (its own rescaling) is
 * refused. */
#include <stdint.h>

#include "qat/error.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

/* int32 wraps as TFLite's int32 product does (computed in int64, truncated) */
RT_REDUCE_EVAL(eval_i32, int32_t, 1, out[o] = (int32_t)((int64_t)out[o] * in[i]))
RT_REDUCE_EVAL(eval_f32, float, 1.0f, out[o] *= in[i])

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  int rc = rt_prepare_reduce(m, k, op);
  if (rc) return rc;
  if (in->type != o->type)
    return rt_bad(m, k, "input is %s, output %s", qat_rt_type_name(in->type), qat_rt_type_name(o->type));
  if (in->type == QAT_RT_INT32) op->eval = eval_i32;
  else if (in->type == QAT_RT_FLOAT32) op->eval = eval_f32;
  else return rt_unsup(m, k, "tensors of type %s", qat_rt_type_name(in->type));
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(REDUCE_PROD, 2, ReducerOptions, rt_reducer_options, RT_COUNT(rt_reducer_options), NULL,
               prepare);
