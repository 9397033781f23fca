/* REDUCE_MAX (builtin 82; versions 1-3, ReducerOptions): float32, int8 and int16, as reduce.cc's
 * kReference EvalGeneric<kMax> computes them (read, not copied): every output starts at the
 * type's lowest value and takes an input when `in > current`, so a NaN never wins and a float
 * output over only -inf stays -FLT_MAX. The integer kernels do not rescale: EvalType requires
 * the input's scale and zero point on the output (refused here at load), and PrepareSimple zero
 * points 0 for int16. */
#include <float.h>
#include <stdint.h>

#include "qat/error.h"
#include "runtime/rt_op.h"
#include "runtime/rt_kernel.h"

RT_REDUCE_EVAL(eval_f32, float, -FLT_MAX, if (in[i] > out[o]) out[o] = in[i])
RT_REDUCE_EVAL(eval_i8, int8_t, INT8_MIN, if (in[i] > out[o]) out[o] = in[i])
RT_REDUCE_EVAL(eval_i16, int16_t, INT16_MIN, if (in[i] > out[o]) out[o] = in[i])

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  int rc;
  if ((rc = rt_prepare_reduce(m, k, op)) || (rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  return rt_is_f32(in) ? QAT_OK : rt_need_same_quant(m, k, in, o, "REDUCE_MAX");
}

RT_REGISTER_OP(REDUCE_MAX, 3, ReducerOptions, rt_reducer_options,
               RT_COUNT(rt_reducer_options), NULL, prepare);
