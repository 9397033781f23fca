/* LEAKY_RELU (builtin 98; versions 1-2): float32 x > 0 ? x : x * alpha, and int8 / int16
 * (zero points 0) as activations.cc LeakyReluPrepare and reference_ops::QuantizeLeakyRelu: the
 * identity and alpha multipliers from float ratios, the alpha branch's sign kept apart (a
 * negative alpha is quantized by magnitude). */
#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {RT_OPT(LeakyReluOptions, alpha, FLOAT, alpha, 0)};

void rt_leaky_relu_f32(int64_t n, float alpha, const float *in, float *out) {
  for (int64_t i = 0; i < n; i++) out[i] = in[i] > 0 ? in[i] : in[i] * alpha;
}

/* mult/shift: identity; mult2/shift2: |alpha| (negated when neg). */
#define RT_LEAKY_INT(SUF, T, LO, HI)                                                          \
  void rt_leaky_relu_##SUF(int64_t n, int32_t in_zp, int32_t out_zp, int32_t mult, int shift, \
                           int32_t mult2, int shift2, int neg, const T *in, T *out) {          \
    for (int64_t i = 0; i < n; i++) {                                                          \
      const int32_t x = in[i] - in_zp;                                                         \
      int32_t r = out_zp;                                                                      \
      if (x >= 0) {                                                                            \
        r += qat_multiply_by_quantized_multiplier(x, mult, shift);                             \
      } else {                                                                                 \
        const int32_t a = qat_multiply_by_quantized_multiplier(x, mult2, shift2);              \
        r += neg ? -a : a;                                                                     \
      }                                                                                        \
      out[i] = (T)rt_clampi(r, LO, HI);                                                        \
    }                                                                                          \
  }
RT_LEAKY_INT(i8, int8_t, -128, 127)
RT_LEAKY_INT(i16, int16_t, -32768, 32767)

RT_EVAL(eval_f32, rt_leaky_relu_f32(rt_in(m, op, 0)->n_elems, op->opt.alpha, rt_in_data(m, op, 0),
                                    rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_lut_apply_i8(rt_in(m, op, 0)->n_elems, op->lut, rt_in_data(m, op, 0), rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_leaky_relu_i16(rt_in(m, op, 0)->n_elems, 0, 0, op->s_mult, op->s_shift,
                                    op->s_mult2, op->s_shift2, op->opt.alpha < 0,
                                    rt_in_data(m, op, 0), rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_unary(m, k, op);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  if ((rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  if (rt_is_i16(in)) {
    if ((rc = rt_need_int16_symmetric(m, k, in, "input")) ||
        (rc = rt_need_int16_symmetric(m, k, o, "output")))
      return rc;
  } else if ((rc = rt_need_per_tensor(m, k, in, "input")) ||
             (rc = rt_need_per_tensor(m, k, o, "output"))) {
    return rc;
  }
  op->in_zp = (int32_t)in->zero_points[0];
  op->out_zp = (int32_t)o->zero_points[0];
  /* LeakyReluPrepare: float products and ratios, widened for QuantizeMultiplier. */
  const float alpha_m = in->scales[0] * op->opt.alpha / o->scales[0];
  const float ident_m = in->scales[0] / o->scales[0];
  if ((rc = qat_quantize_multiplier((double)ident_m, &op->s_mult, &op->s_shift)) ||
      (rc = qat_quantize_multiplier(alpha_m < 0 ? -(double)alpha_m : (double)alpha_m,
                                    &op->s_mult2, &op->s_shift2)))
    return rt_multiplier_failed(m, k, rc);
  if (rt_is_i8(in)) { /* a function of one byte: its table */
    int8_t every[256];
    rt_lut_inputs_i8(every);
    rt_leaky_relu_i8(256, op->in_zp, op->out_zp, op->s_mult, op->s_shift, op->s_mult2, op->s_shift2,
                     op->opt.alpha < 0, every, op->lut);
  }
  return QAT_OK;
}

RT_REGISTER_OP(LEAKY_RELU, 2, LeakyReluOptions, fields, RT_COUNT(fields), NULL, prepare);
