/* MUL (builtin 18; versions 1-7): float32, int8 and int16 (16x8: zero points 0) with numpy
 * broadcasting. Integer: mul.cc Prepare takes the float product s1 * s2 / s_out as the output
 * multiplier; reference_integer_ops::MulElementwise / BroadcastMul6DSlow compute
 * zp_out + MultiplyByQuantizedMultiplier((x1 - zp1) * (x2 - zp2)), clamped to the fused
 * activation's range. */
#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"
#include "runtime/rt_simd.h"

static const rt_opt_field fields[] = {
    RT_OPT(MulOptions, fused_activation_function, ENUM, activation, 0),
};

void rt_mul_f32(const rt_bcast *b, float lo, float hi, const float *in1, const float *in2,
                float *out) {
  RT_FOR_EACH_BCAST(b, i1, i2, o, out[o] = rt_clampf(in1[i1] * in2[i2], lo, hi));
}

/* rt_add_params: offsets in in1_offset / in2_offset / out_zp, multiplier in mo / so. */
#define RT_MUL_INT(SUF, T)                                                                  \
  static void mul_plain_##SUF(const rt_bcast *b, const rt_add_params *p, const T *in1,       \
                              const T *in2, T *out) {                                        \
    RT_FOR_EACH_BCAST(b, i1, i2, o, {                                                        \
      const int32_t prod = (p->in1_offset + in1[i1]) * (p->in2_offset + in2[i2]);           \
      const int32_t r =                                                                      \
          rt_wadd(p->out_zp, qat_multiply_by_quantized_multiplier(prod, p->mo, p->so));      \
      out[o] = (T)rt_clampi(r, p->act_min, p->act_max);                                      \
    });                                                                                      \
  }
RT_MUL_INT(i8, int8_t)
RT_MUL_INT(i16, int16_t)

void rt_mul_i8(const rt_bcast *b, const rt_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
  if (rt_simd_avx512() && rt_mul_i8_avx512(b, p, in1, in2, out) == 0) return;
  mul_plain_i8(b, p, in1, in2, out);
}

void rt_mul_i16(const rt_bcast *b, const rt_add_params *p, const int16_t *in1, const int16_t *in2,
                int16_t *out) {
  mul_plain_i16(b, p, in1, in2, out);
}

RT_EVAL(eval_f32, rt_mul_f32(&op->bc, op->f_min, op->f_max, rt_in_data(m, op, 0),
                             rt_in_data(m, op, 1), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_mul_i8(&op->bc, &op->add, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                           rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_mul_i16(&op->bc, &op->add, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                             rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int kind, rc = rt_prepare_arith(m, k, op, NULL, &kind);
  if (rc) return rc;
  op->eval = kind == 0 ? eval_f32 : kind == 1 ? eval_i8 : eval_i16;
  if (kind) {
    /* mul.cc: `input1->params.scale * input2->params.scale / output->params.scale` is float
     * arithmetic, widened to double only for QuantizeMultiplier. */
    const float real = rt_in(m, op, 0)->scales[0] * rt_in(m, op, 1)->scales[0] / rt_out(m, op, 0)->scales[0];
    if ((rc = qat_quantize_multiplier((double)real, &op->add.mo, &op->add.so))) return rt_multiplier_failed(m, k, rc);
  }
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(MUL, 7, MulOptions, fields, RT_COUNT(fields), NULL, prepare);
