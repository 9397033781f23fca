/* LESS (builtin 58; versions 1-3): element-wise x1 < x2 into a BOOL tensor with numpy
 * broadcasting (comparisons.cc). float32 and int16 compare the stored values; int8 as
 * ComparisonQuantized does: each side (q - zp) * 2^8 scaled by its own scale's multiplier
 * (qat_comparison_scaled), so two values of one grid compare only as finely as 256 s allows.
 * qat writes it for a ReLU's threshold: LESS(threshold, x). */
#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

#define RT_LESS_RAW(SUF, T)                                                                  \
  static void less_##SUF(const rt_bcast *b, const T *x, const T *y, uint8_t *out) {          \
    RT_FOR_EACH_BCAST(b, i1, i2, o, out[o] = x[i1] < y[i2]);                                 \
  }
RT_LESS_RAW(f32, float)
RT_LESS_RAW(i16, int16_t)

/* input 1's zero point and multiplier in in_zp / s_mult / s_shift, input 2's in out_zp /
 * s_mult2 / s_shift2 */
static void less_i8(const rt_op *op, const int8_t *x, const int8_t *y, uint8_t *out) {
  RT_FOR_EACH_BCAST(&op->bc, i1, i2, o,
                    out[o] = qat_comparison_scaled(x[i1] - op->in_zp, op->s_mult, op->s_shift) <
                             qat_comparison_scaled(y[i2] - op->out_zp, op->s_mult2, op->s_shift2));
}

RT_EVAL(eval_f32, less_f32(&op->bc, rt_in_data(m, op, 0), rt_in_data(m, op, 1), rt_out_data(m, op)))
RT_EVAL(eval_i16, less_i16(&op->bc, rt_in_data(m, op, 0), rt_in_data(m, op, 1), rt_out_data(m, op)))
RT_EVAL(eval_i8, less_i8(op, rt_in_data(m, op, 0), rt_in_data(m, op, 1), rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 2, 2, 1);
  if (rc) return rc;
  const rt_tensor *a = rt_in(m, op, 0), *b = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if (a->type != b->type || o->type != QAT_RT_BOOL)
    return rt_unsup(m, k, "inputs %s and %s, output %s (the output must be BOOL)", qat_rt_type_name(a->type),
                    qat_rt_type_name(b->type), qat_rt_type_name(o->type));
  int64_t od[QAT_RT_MAX_RANK];
  int orank = 0;
  if ((rc = rt_broadcast(m, k, a, b, &op->bc, od, &orank)) || (rc = rt_check_out_shape(m, k, o, od, orank)))
    return rc;
  if (rt_is_f32(a)) {
    op->eval = eval_f32;
  } else if (rt_is_i16(a)) {
    op->eval = eval_i16;
  } else if (rt_is_i8(a)) {
    if ((rc = rt_need_per_tensor(m, k, a, "input 1")) || (rc = rt_need_per_tensor(m, k, b, "input 2"))) return rc;
    if (qat_comparison_multiplier(a->scales[0], &op->s_mult, &op->s_shift) ||
        qat_comparison_multiplier(b->scales[0], &op->s_mult2, &op->s_shift2))
      return rt_unsup(m, k, "%s", qat_error_message());
    op->in_zp = (int32_t)a->zero_points[0];
    op->out_zp = (int32_t)b->zero_points[0];
    op->eval = eval_i8;
  } else {
    return rt_unsup(m, k, "inputs of type %s", qat_rt_type_name(a->type));
  }
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(LESS, 3, LessOptions, NULL, 0, NULL, prepare);
