/* MUL (builtin 18; versions 1-7): float32, int8 and int16 (16x8: zero points 0) with numpy
 * broadcasting. Integer: mul.cc Prepare takes the float product s1 * s2 / s_out as the output
 * multiplier; reference_integer_ops::MulElementwise / BroadcastMul6DSlow compute
 * zp_out + MultiplyByQuantizedMultiplier((x1 - zp1) * (x2 - zp2)), clamped to the fused
 * activation's range. */
#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(MulOptions, fused_activation_function, ENUM, activation, 0),
};

void rt_mul_f32(const rt_bcast *b, float lo, float hi, const float *in1, const float *in2,
                float *out) {
  RT_FOR_EACH_BCAST(b, i1, i2, o, out[o] = rt_clampf(in1[i1] * in2[i2], lo, hi));
}

/* rt_add_params: offsets in in1_offset / in2_offset / out_zp, multiplier in mo / so. */
#define RT_MUL_INT(SUF, T)                                                                  \
  void rt_mul_##SUF(const rt_bcast *b, const rt_add_params *p, const T *in1, const T *in2,   \
                    T *out) {                                                        \
    RT_FOR_EACH_BCAST(b, i1, i2, o, {                                                        \
      const int32_t prod = (p->in1_offset + in1[i1]) * (p->in2_offset + in2[i2]);           \
      const int32_t r =                                                                      \
          rt_wadd(p->out_zp, qat_multiply_by_quantized_multiplier(prod, p->mo, p->so));      \
      out[o] = (T)rt_clampi(r, p->act_min, p->act_max);                                      \
    });                                                                                      \
  }
RT_MUL_INT(i8, int8_t)
RT_MUL_INT(i16, int16_t)

RT_EVAL(eval_f32, rt_mul_f32(&op->bc, op->f_min, op->f_max, rt_in_data(m, op, 0),
                             rt_in_data(m, op, 1), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_mul_i8(&op->bc, &op->add, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                           rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_mul_i16(&op->bc, &op->add, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
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
  } else if ((rc = rt_need_per_tensor(m, k, a, "input")) ||
             (rc = rt_need_per_tensor(m, k, b, "input")) ||
             (rc = rt_need_per_tensor(m, k, o, "output"))) {
    return rc;
  }
  rt_add_params *p = &op->add;
  p->in1_offset = -(int32_t)a->zero_points[0];
  p->in2_offset = -(int32_t)b->zero_points[0];
  p->out_zp = (int32_t)o->zero_points[0];
  /* mul.cc: `input1->params.scale * input2->params.scale / output->params.scale` is float
   * arithmetic, widened to double only for QuantizeMultiplier. */
  const float real = a->scales[0] * b->scales[0] / o->scales[0];
  rc = qat_quantize_multiplier((double)real, &p->mo, &p->so);
  if (rc) return rt_multiplier_failed(m, k, rc);
  if ((rc = rt_act_range_q(m, k, op->opt.activation, o, i16 ? -32768 : -128, i16 ? 32767 : 127,
                           &p->act_min, &p->act_max)))
    return rc;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(MUL, 7, MulOptions, fields, RT_COUNT(fields), NULL, prepare);
