/* MUL (builtin 18; versions 1-7): float32, int8 and int16 (16x8: zero points 0) with numpy
 * broadcasting. Integer: mul.cc Prepare takes the float product s1 * s2 / s_out as the output
 * multiplier; reference_integer_ops::MulElementwise / BroadcastMul6DSlow compute
 * zp_out + MultiplyByQuantizedMultiplier((x1 - zp1) * (x2 - zp2)), clamped to the fused
 * activation's range. */
#include "qat/error.h"
#include "qat/quant.h"
#include "qat/tflite_schema.h"
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
static inline int32_t mul_one(const rt_add_params *p, int32_t a, int32_t b) {
  const int32_t prod = (p->in1_offset + a) * (p->in2_offset + b);
  const int32_t r = rt_wadd(p->out_zp, qat_multiply_by_quantized_multiplier(prod, p->mo, p->so));
  return rt_clampi(r, p->act_min, p->act_max);
}

#define RT_MUL_INT(SUF, T)                                                                  \
  static void mul_plain_##SUF(const rt_bcast *b, const rt_add_params *p, const T *in1,       \
                              const T *in2, T *out) {                                        \
    RT_FOR_EACH_BCAST(b, i1, i2, o, out[o] = (T)mul_one(p, in1[i1], in2[i2]));               \
  }
RT_MUL_INT(i8, int8_t)
RT_MUL_INT(i16, int16_t)

void rt_mul_i8(const rt_bcast *b, const rt_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
  if (rt_simd_avx512() && rt_mul_i8_avx512(b, p, in1, in2, out) == 0) return;
  if (rt_igemm_path() == RT_IGEMM_AVX2 && rt_bcast_rows(b, p, in1, in2, out, rt_mul_row_i8_avx2) == 0) return;
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
/* swish: the table of x's byte (op->swish_x: which input is x) */
RT_EVAL(eval_i8_swish, rt_lut_apply_i8(rt_out(m, op, 0)->n_elems, op->lut, rt_in_data(m, op, op->swish_x),
                                       rt_out_data(m, op)))

/* x * LOGISTIC(x), swish as the converter lowers SiLU, int8 and without broadcasting: each
 * output is a function of x's byte alone (the other factor is LOGISTIC's table entry of that
 * byte), so a 256-entry table filled here by this op's own arithmetic on every byte replaces
 * the product and its requantization. LOGISTIC still runs: its output stays as the reference
 * computes it for anyone who reads it. */
static void prepare_swish(qat_rt_model *m, rt_op *op) {
  const rt_tensor *out = rt_out(m, op, 0);
  for (int xi = 0; xi < 2; xi++) {
    const rt_tensor *x = rt_in(m, op, xi), *s = rt_in(m, op, 1 - xi);
    if (s->producer < 0 || x->n_elems != out->n_elems || s->n_elems != out->n_elems) continue;
    rt_op *lg = &m->ops[s->producer];
    if (lg->code != QAT_TFLITE_BUILTIN_LOGISTIC || !rt_is_i8(s) || rt_in(m, lg, 0) != x) continue;
    for (int v = -128; v < 128; v++) {
      const int32_t sv = lg->lut[(uint8_t)(int8_t)v];
      op->lut[(uint8_t)(int8_t)v] = (int8_t)(xi == 0 ? mul_one(&op->add, v, sv) : mul_one(&op->add, sv, v));
    }
    op->swish_x = xi;
    op->eval = eval_i8_swish;
    return;
  }
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int kind, rc = rt_prepare_arith(m, k, op, NULL, &kind);
  if (rc) return rc;
  op->eval = kind == 0 ? eval_f32 : kind == 1 ? eval_i8 : eval_i16;
  if (kind) {
    /* mul.cc: `input1->params.scale * input2->params.scale / output->params.scale` is float
     * arithmetic, widened to double only for QuantizeMultiplier. */
    const float real = rt_in(m, op, 0)->scales[0] * rt_in(m, op, 1)->scales[0] / rt_out(m, op, 0)->scales[0];
    if ((rc = qat_quantize_multiplier((double)real, &op->add.mo, &op->add.so))) return rt_multiplier_failed(m, k, rc);
    if (kind == 1) prepare_swish(m, op);
  }
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(MUL, 7, MulOptions, fields, RT_COUNT(fields), NULL, prepare);
