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
  int rc = rt_prepare_binary(m, k, op);
  if (rc) return rc;
  rt_tensor *a = rt_in(m, op, 0), *b = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if (a->type != b->type || a->type != o->type)
    return rt_unsup(m, k, "inputs %s and %s, output %s", qat_rt_type_name(a->type),
                    qat_rt_type_name(b->type), qat_rt_type_name(o->type));
  if (rt_is_f32(o)) {
    op->eval = eval_f32;
    if ((rc = rt_act_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max))) return rc;
    return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
  }
  if (!rt_is_i8(o) && !rt_is_i16(o))
    return rt_unsup(m, k, "tensors of type %s", qat_rt_type_name(o->type));
  const int i16 = rt_is_i16(o);
  op->eval = i16 ? eval_i16 : eval_i8;
  if (i16) {
    if ((rc = rt_need_int16_symmetric(m, k, a, "input")) ||
        (rc = rt_need_int16_symmetric(m, k, b, "input")) ||
        (rc = rt_need_int16_symmetric(m, k, o, "output")))
      return rc;
    int e;
    if (op->opt.pot_scale_int16 && frexpf(a->scales[0], &e) == 0.5f &&
        frexpf(b->scales[0], &e) == 0.5f && frexpf(o->scales[0], &e) == 0.5f)
      return rt_unsup(m, k, "int16 SUB with power-of-two scales and pot_scale_int16 (the "
                      "shift-only kernel)");
  } else if ((rc = rt_need_per_tensor(m, k, a, "input")) ||
             (rc = rt_need_per_tensor(m, k, b, "input")) ||
             (rc = rt_need_per_tensor(m, k, o, "output"))) {
    return rc;
  }
  /* PrepareGeneralSubOp: the float max of the scales doubled, the ratios in double. */
  rt_add_params *p = &op->add;
  const float s1 = a->scales[0], s2 = b->scales[0], so = o->scales[0];
  const double twice_max = 2.0 * (double)(s1 > s2 ? s1 : s2);
  p->left_shift = i16 ? 15 : 20;
  p->in1_offset = -(int32_t)a->zero_points[0];
  p->in2_offset = -(int32_t)b->zero_points[0];
  p->out_zp = (int32_t)o->zero_points[0];
  if ((rc = rt_multiplier_below_one(m, k, (double)s1 / twice_max, "input 1", &p->m1, &p->s1)) ||
      (rc = rt_multiplier_below_one(m, k, (double)s2 / twice_max, "input 2", &p->m2, &p->s2)) ||
      (rc = rt_multiplier_below_one(
           m, k, twice_max / ((double)(1 << p->left_shift) * (double)so), "output", &p->mo,
           &p->so)))
    return rc;
  if ((rc = rt_act_range_q(m, k, op->opt.activation, o, i16 ? -32768 : -128, i16 ? 32767 : 127,
                           &p->act_min, &p->act_max)))
    return rc;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(SUB, 5, SubOptions, fields, RT_COUNT(fields), NULL, prepare);
