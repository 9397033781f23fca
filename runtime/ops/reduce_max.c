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

/* One loop for every type: reduce.h's ReduceGeneric visits the input in row-major order. */
#define REDUCE_MAX_EVAL(NAME, T, LOWEST)                                       \
  static int NAME(qat_rt_model *m, int k, rt_op *op) {                         \
    (void)k;                                                                   \
    const rt_reduce_geom *g = &op->red;                                        \
    const T *in = rt_in_data(m, op, 0);                                        \
    T *out = rt_out_data(m, op);                                               \
    int64_t ostride[QAT_RT_MAX_RANK];                                          \
    rt_reduce_strides(g, ostride);                                             \
    for (int64_t o = 0; o < g->n_out; o++) out[o] = LOWEST;                    \
    RT_FOR_EACH_REDUCED(g, ostride, i, o, if (in[i] > out[o]) out[o] = in[i]); \
    return QAT_OK;                                                             \
  }
REDUCE_MAX_EVAL(eval_f32, float, -FLT_MAX)
REDUCE_MAX_EVAL(eval_i8, int8_t, INT8_MIN)
REDUCE_MAX_EVAL(eval_i16, int16_t, INT16_MIN)

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  int rc;
  if ((rc = rt_prepare_reduce(m, k, op)) || (rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  return rt_is_f32(in) ? QAT_OK : rt_need_same_quant(m, k, in, o, "REDUCE_MAX");
}

RT_REGISTER_OP(REDUCE_MAX, 3, ReducerOptions, rt_reducer_options,
               RT_COUNT(rt_reducer_options), NULL, prepare);
