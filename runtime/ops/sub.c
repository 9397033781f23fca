/* SUB (builtin 41; versions 1-5): float32, int8 and int16 (general rescaling, pot_scale_int16
 * false or scales not powers of two) with numpy broadcasting: sub.cc PrepareGeneralSubOp and
 * reference_ops::SubElementwise / BroadcastQuantSubSlow, ADD's arithmetic with the second
 * rescaled input subtracted (left_shift 20 for int8, 15 for int16). */
#include <math.h>

#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(SubOptions, fused_activation_function, ENUM, activation, 0),
    RT_OPT(SubOptions, pot_scale_int16, BOOL, pot_scale_int16, 1),
};

void rt_sub_f32(const rt_bcast *b, float lo, float hi, const float *in1, const float *in2,
                float *out) {
  RT_FOR_EACH_BCAST(b, i1, i2, o, out[o] = rt_clampf(in1[i1] - in2[i2], lo, hi));
}

/* |(offset + x) << left_shift| < 2^31 as in ADD. */
#define RT_SUB_INT(SUF, T)                                                                      \
  void rt_sub_##SUF(const rt_bcast *b, const rt_add_params *p, const T *in1, const T *in2,       \
                    T *out) {                                                                    \
    RT_FOR_EACH_BCAST(b, i1, i2, o, {                                                            \
      const int32_t x1 = (p->in1_offset + in1[i1]) * (1 << p->left_shift);                       \
      const int32_t x2 = (p->in2_offset + in2[i2]) * (1 << p->left_shift);                       \
      const int32_t s1 = qat_multiply_by_quantized_multiplier(x1, p->m1, p->s1);                 \
      const int32_t s2 = qat_multiply_by_quantized_multiplier(x2, p->m2, p->s2);                 \
      const int32_t r = rt_wadd(                                                                 \
          qat_multiply_by_quantized_multiplier(rt_wsub(s1, s2), p->mo, p->so), p->out_zp);       \
      out[o] = (T)rt_clampi(r, p->act_min, p->act_max);                                          \
    });                                                                                          \
  }
RT_SUB_INT(i8, int8_t)
RT_SUB_INT(i16, int16_t)

RT_EVAL(eval_f32, rt_sub_f32(&op->bc, op->f_min, op->f_max, rt_in_data(m, op, 0),
                             rt_in_data(m, op, 1), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_sub_i8(&op->bc, &op->add, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                           rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_sub_i16(&op->bc, &op->add, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                             rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int kind, rc = rt_prepare_arith(m, k, op, "SUB", &kind);
  if (rc) return rc;
  op->eval = kind == 0 ? eval_f32 : kind == 1 ? eval_i8 : eval_i16;
  /* PrepareGeneralSubOp: ADD's rescaling */
  if (kind && (rc = rt_prepare_add_rescale(m, k, op, kind == 2))) return rc;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(SUB, 5, SubOptions, fields, RT_COUNT(fields), NULL, prepare);
