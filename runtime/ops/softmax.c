/* SOFTMAX (builtin 25; versions 1-3): float32, int8 (the fixed-point reference_ops::Softmax
 * that kReference prepares), int16 (SoftmaxInt16's two tables). */
#include <math.h>
#include <stdlib.h>

#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {RT_OPT(SoftmaxOptions, beta, FLOAT, beta, 0.0f)};

RT_EVAL(eval_f32, rt_softmax_f32(op->outer, op->depth, op->opt.beta, rt_in_data(m, op, 0),
                                 rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_softmax_i16(op->outer, op->depth, op->s_mult, op->s_shift, op->lut16,
                                 rt_in_data(m, op, 0), rt_out_data(m, op)))

static int eval_i8(qat_rt_model *m, int k, rt_op *op) {
  if (rt_softmax_i8(op->outer, op->depth, op->scratch, rt_in_data(m, op, 0), rt_out_data(m, op)))
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "%s: op %d (SOFTMAX): the sum of exponentials of a row leaves the "
                    "range of TFLite's reference kernel (it aborts there)",
                    m->name, k);
  return QAT_OK;
}

/* activations.cc SoftmaxPrepare, int8 (kReference). */
static int prepare_i8(qat_rt_model *m, int k, rt_op *op, const rt_tensor *in, const rt_tensor *o) {
  int rc;
  if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")))
    return rc;
  /* activations.cc SoftmaxPrepare: output zp -128, scale 1/256 within 0.1%. */
  if (o->zero_points[0] != -128 || fabsf(o->scales[0] - 1.0f / 256) > 0.001f * 1.0f / 256)
    return rt_bad(m, k, "int8 output must have scale 1/256 and zero point -128 (has %g, %lld)",
               (double)o->scales[0], (long long)o->zero_points[0]);
  /* kReference: PreprocessSoftmaxScaling(beta, input_scale, kScaledDiffIntegerBits = 5):
   * min(beta * scale * 2^26, 2^31 - 1) through QuantizeMultiplierGreaterThanOne (which
   * TFLITE_CHECKs the multiplier > 1), and diff_min = -CalculateInputRadius(5, shift). */
  double real = (double)op->opt.beta * (double)in->scales[0] * (double)(1 << 26);
  if (real > 2147483647.0) real = 2147483647.0;
  if (!(real > 1.0))
    return rt_unsup(m, k,
                 "beta x input scale = %g is below 2^-26 (TFLite's reference kernel "
                 "aborts)",
                 (double)op->opt.beta * (double)in->scales[0]);
  rc = qat_quantize_multiplier(real, &op->s_mult, &op->s_shift);
  if (rc) return rt_multiplier_failed(m, k, rc);
  const double radius =
      floor(1.0 * ((1 << 5) - 1) * (double)(1LL << 26) / (double)(1LL << op->s_shift));
  op->s_diff_min = (int)(-1.0 * radius);
  /* each element's exponential from a table of the 256 differences it can have */
  if (!(op->scratch = malloc(512 * sizeof *op->scratch))) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  rt_softmax_i8_exps(op->s_mult, op->s_shift, op->s_diff_min, op->scratch);
  return QAT_OK;
}

/* activations.cc SoftmaxPrepare, int16. */
static int prepare_i16(qat_rt_model *m, int k, rt_op *op, const rt_tensor *in,
                       const rt_tensor *o) {
  int rc;
  if ((rc = rt_need_int16_symmetric(m, k, in, "input")) ||
      (rc = rt_need_int16_symmetric(m, k, o, "output")))
    return rc;
  /* activations.cc SoftmaxPrepare: output scale 1/32768 within 0.1% (zero point 0 above). */
  if (fabsf(o->scales[0] - 1.0f / 32768) > 0.001f * 1.0f / 32768)
    return rt_bad(m, k, "int16 output must have scale 1/32768 and zero point 0 (has %g)",
               (double)o->scales[0]);
  /* The row's sum of exponentials (each up to 32767) is an int32 in the reference kernel. */
  if (op->depth > 65536)
    return rt_unsup(m, k, "rows of %lld values overflow the int16 kernel's int32 sum",
                 (long long)op->depth);
  /* activations.cc SoftmaxPrepare, int16: QuantizeMultiplier(s_in * beta / (10 / 65535))
   * (a float product, then double), so that a difference of -65535 maps to -10.0. */
  const double real = (double)(in->scales[0] * op->opt.beta) / (10.0 / 65535.0);
  rc = qat_quantize_multiplier(real, &op->s_mult, &op->s_shift);
  if (rc) return rt_multiplier_failed(m, k, rc);
  /* x * 2^shift of a difference in [-65535, 0] must stay in int32 */
  if (op->s_shift > 15)
    return rt_unsup(m, k, "beta x input scale = %g is too large for the int16 kernel",
                 (double)(in->scales[0] * op->opt.beta));
  op->lut16 = malloc(2 * 513 * sizeof *op->lut16);
  if (!op->lut16) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  rt_softmax_i16_luts(op->lut16, op->lut16 + 513);
  return QAT_OK;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 1, 1, 1);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  if (in->rank < 1) return rt_bad(m, k, "input is a scalar");
  if (!rt_same_shape(in, o)) return rt_bad(m, k, "output shape differs from the input's");
  op->depth = in->dims[in->rank - 1];
  op->outer = in->n_elems / op->depth;
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  if ((rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  return rt_is_i8(in) ? prepare_i8(m, k, op, in, o) : prepare_i16(m, k, op, in, o);
}

RT_REGISTER_OP(SOFTMAX, 3, SoftmaxOptions, fields, RT_COUNT(fields), NULL, prepare);
