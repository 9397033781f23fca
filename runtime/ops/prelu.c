/* PRELU (builtin 54; version 1): x >= 0 ? x : x * alpha with alpha broadcast to the input's
 * shape; float32 (ApplyPrelu), int8 and int16 (with int8 alpha) as activations.cc PreluPrepare and
 * reference_ops::BroadcastPrelu4DSlow / Prelu: an identity multiplier s_in / s_out and an alpha
 * one s_in * s_alpha / s_out (float arithmetic), the product (x - zp) * (alpha - zp_alpha)
 * rescaled. */
#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

void rt_prelu_f32(const rt_bcast *b, const float *in, const float *alpha, float *out) {
  RT_FOR_EACH_BCAST(b, i1, i2, o, out[o] = in[i1] >= 0.0f ? in[i1] : in[i1] * alpha[i2]);
}

/* p: in1_offset = -zp_in, in2_offset = -zp_alpha, out_zp; m1/s1 identity, m2/s2 alpha. */
#define RT_PRELU_INT(SUF, T, LO, HI)                                                          \
  void rt_prelu_##SUF(const rt_bcast *b, const rt_add_params *p, const T *in,                 \
                      const int8_t *alpha, T *out) {                                          \
    RT_FOR_EACH_BCAST(b, i1, i2, o, {                                                         \
      const int32_t x = p->in1_offset + in[i1];                                               \
      int32_t r;                                                                              \
      if (x >= 0)                                                                             \
        r = qat_multiply_by_quantized_multiplier(x, p->m1, p->s1);                            \
      else                                                                                    \
        r = qat_multiply_by_quantized_multiplier(x * (p->in2_offset + alpha[i2]), p->m2,      \
                                                 p->s2);                                      \
      out[o] = (T)rt_clampi(rt_wadd(r, p->out_zp), LO, HI);                                   \
    });                                                                                       \
  }
RT_PRELU_INT(i8, int8_t, -128, 127)
RT_PRELU_INT(i16, int16_t, -32768, 32767)

RT_EVAL(eval_f32, rt_prelu_f32(&op->bc, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                               rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_prelu_i8(&op->bc, &op->add, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                             rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_prelu_i16(&op->bc, &op->add, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                               rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 2, 2, 1);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *al = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  int64_t od[QAT_RT_MAX_RANK];
  int orank = 0;
  if ((rc = rt_broadcast(m, k, in, al, &op->bc, od, &orank))) return rc;
  /* PreluPrepare: the broadcast shape must be the input's. */
  int64_t id[QAT_RT_MAX_RANK];
  for (int d = 0; d < in->rank; d++) id[d] = in->dims[d];
  if ((rc = rt_check_out_shape(m, k, o, id, in->rank)) ||
      (rc = rt_check_out_shape(m, k, o, od, orank)))
    return rc;
  /* PreluEval reads int16 inputs with int8 alpha (16x8), every other type with its own. */
  const int want_alpha = in->type == QAT_RT_INT16 ? QAT_RT_INT8 : in->type;
  if (al->type != want_alpha)
    return rt_bad(m, k, "alpha is %s; a %s input takes %s alpha", qat_rt_type_name(al->type),
                  qat_rt_type_name(in->type), qat_rt_type_name(want_alpha));
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  if ((rc = rt_pick_eval(m, k, op, in, o, &ev))) return rc;
  if (rt_is_f32(in)) return QAT_OK;
  if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, al, "alpha")) ||
      (rc = rt_need_per_tensor(m, k, o, "output")))
    return rc;
  rt_add_params *p = &op->add;
  p->in1_offset = -(int32_t)in->zero_points[0];
  p->in2_offset = -(int32_t)al->zero_points[0];
  p->out_zp = (int32_t)o->zero_points[0];
  const float m1 = in->scales[0] / o->scales[0];
  const float m2 = in->scales[0] * al->scales[0] / o->scales[0];
  if ((rc = qat_quantize_multiplier((double)m1, &p->m1, &p->s1)) ||
      (rc = qat_quantize_multiplier((double)m2, &p->m2, &p->s2)))
    return rt_multiplier_failed(m, k, rc);
  return QAT_OK;
}

RT_REGISTER_OP(PRELU, 1, NONE, NULL, 0, NULL, prepare);
