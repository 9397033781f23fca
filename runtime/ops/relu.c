/* RELU (builtin 19; versions 1-3): float32 max(x, 0); int8 and int16 as activations.cc
 * ReluPrepare / QuantizedReluX and reference_ops::ReluX: the input rescaled to the output's
 * scale by the multiplier of the double ratio in_scale / out_scale, then clamped to
 * [max(qmin, out_zp), qmax]. The converter writes a RELU of its own where it cannot fuse one,
 * e.g. after the BATCH_TO_SPACE_ND of a dilated convolution. */
#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

static void relu_f32(int64_t n, const float *in, float *out) {
  for (int64_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

#define RT_RELU_INT(SUF, T, HI)                                                                          \
  static void relu_##SUF(int64_t n, int32_t in_zp, int32_t out_zp, int32_t lo, int32_t mult, int shift, \
                         const T *in, T *out) {                                                        \
    for (int64_t i = 0; i < n; i++) {                                                                  \
      const int32_t r = out_zp + qat_multiply_by_quantized_multiplier(in[i] - in_zp, mult, shift);     \
      out[i] = (T)rt_clampi(r, lo, HI);                                                                \
    }                                                                                                  \
  }
RT_RELU_INT(i8, int8_t, 127)
RT_RELU_INT(i16, int16_t, 32767)

RT_EVAL(eval_f32, relu_f32(rt_in(m, op, 0)->n_elems, rt_in_data(m, op, 0), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_lut_apply_i8(rt_in(m, op, 0)->n_elems, op->lut, rt_in_data(m, op, 0), rt_out_data(m, op)))
RT_EVAL(eval_i16, relu_i16(rt_in(m, op, 0)->n_elems, op->in_zp, op->out_zp, op->s_diff_min, op->s_mult, op->s_shift,
                           rt_in_data(m, op, 0), rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_unary(m, k, op);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  if ((rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  if (rt_is_i16(in)) {
    if ((rc = rt_need_int16_symmetric(m, k, in, "input")) || (rc = rt_need_int16_symmetric(m, k, o, "output")))
      return rc;
  } else if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output"))) {
    return rc;
  }
  op->in_zp = (int32_t)in->zero_points[0];
  op->out_zp = (int32_t)o->zero_points[0];
  const int32_t qmin = rt_is_i16(in) ? -32768 : -128;
  op->s_diff_min = op->out_zp > qmin ? op->out_zp : qmin; /* the clamp's low end: zero on the output grid */
  if ((rc = qat_quantize_multiplier((double)in->scales[0] / (double)o->scales[0], &op->s_mult, &op->s_shift)))
    return rt_multiplier_failed(m, k, rc);
  if (rt_is_i8(in)) { /* a function of one byte: its table */
    int8_t every[256];
    rt_lut_inputs_i8(every);
    relu_i8(256, op->in_zp, op->out_zp, op->s_diff_min, op->s_mult, op->s_shift, every, op->lut);
  }
  return QAT_OK;
}

RT_REGISTER_OP(RELU, 3, NONE, NULL, 0, NULL, prepare);
