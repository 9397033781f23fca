/* MAXIMUM (builtin 55; versions 1-4): element-wise el1 > el2 ? el1 : el2 with numpy
 * broadcasting (maximum_minimum.cc MaximumOp), float32, int8 and int16 compared as stored:
 * the kernel does not rescale, so quantized inputs must share the output's quantization.
 * MINIMUM (ops/minimum.c) shares this Prepare with the other comparison. */
#include "qat/error.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

#define RT_MAXMIN(SUF, T)                                                                    \
  static void max_##SUF(const rt_bcast *b, const T *x, const T *y, T *out) {                 \
    RT_FOR_EACH_BCAST(b, i1, i2, o, out[o] = x[i1] > y[i2] ? x[i1] : y[i2]);                 \
  }                                                                                          \
  static void min_##SUF(const rt_bcast *b, const T *x, const T *y, T *out) {                 \
    RT_FOR_EACH_BCAST(b, i1, i2, o, out[o] = x[i1] < y[i2] ? x[i1] : y[i2]);                 \
  }                                                                                          \
  static int eval_##SUF(qat_rt_model *m, int k, rt_op *op) {                                 \
    (void)k;                                                                                 \
    (op->code == QAT_TFLITE_BUILTIN_MAXIMUM ? max_##SUF : min_##SUF)(                        \
        &op->bc, rt_in_data(m, op, 0), rt_in_data(m, op, 1), rt_out_data(m, op));            \
    return QAT_OK;                                                                           \
  }
RT_MAXMIN(f32, float)
RT_MAXMIN(i8, int8_t)
RT_MAXMIN(i16, int16_t)

int rt_prepare_max_min(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_prepare_binary(m, k, op);
  if (rc) return rc;
  rt_tensor *a = rt_in(m, op, 0), *b = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  if ((rc = rt_pick_eval(m, k, op, a, o, &ev))) return rc;
  if (!rt_is_f32(a) && ((rc = rt_need_same_quant(m, k, a, o, op->name)) ||
                        (rc = rt_need_same_quant(m, k, b, o, op->name))))
    return rc;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(MAXIMUM, 4, MaximumMinimumOptions, NULL, 0, NULL, rt_prepare_max_min);
