/* CONV_2D (builtin 3; TFLite registers versions 1-8): float32, int8 per-channel, 16x8, and
 * hybrid (float input, int8 filter). Prepare is shared with DEPTHWISE_CONV_2D (window.c). */
#include "qat/error.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(Conv2DOptions, padding, ENUM, padding, 0),
    RT_OPT(Conv2DOptions, stride_w, INT, stride_w, 0),
    RT_OPT(Conv2DOptions, stride_h, INT, stride_h, 0),
    RT_OPT(Conv2DOptions, fused_activation_function, ENUM, activation, 0),
    RT_OPT(Conv2DOptions, dilation_w_factor, INT, dilation_w, 1),
    RT_OPT(Conv2DOptions, dilation_h_factor, INT, dilation_h, 1),
};

RT_EVAL(eval_f32, rt_conv2d_f32(&op->conv, op->f_min, op->f_max, rt_in_data(m, op, 0),
                                rt_in_data(m, op, 1), rt_in_data(m, op, 2), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_conv2d_i8(&op->conv, &op->rq, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                              rt_in_data(m, op, 2), rt_out_data(m, op)))
RT_EVAL(eval_f32_gemm, rt_conv2d_f32_gemm(&op->conv, op->f_min, op->f_max, &op->fpk, rt_in_data(m, op, 0),
                                          rt_in_data(m, op, 2), rt_out_data(m, op)))
RT_EVAL(eval_i8_gemm, rt_conv2d_i8_gemm(&op->conv, &op->rq, &op->pk, rt_in_data(m, op, 0), rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_conv2d_i16(&op->conv, &op->rq, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                                rt_in_data(m, op, 2), rt_out_data(m, op)))
RT_EVAL(eval_hybrid, rt_conv2d_hybrid(&op->conv, op->hy_per_channel, op->f_min, op->f_max,
                                      rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                                      rt_in(m, op, 1)->scales, rt_in_data(m, op, 2),
                                      rt_out_data(m, op), op->qbuf, op->hy_scales,
                                      op->hy_offsets))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, eval_hybrid};
  int rc = rt_prepare_conv(m, k, op, 0, &ev);
  if (rc || (op->eval != eval_i8 && op->eval != eval_f32) || op->conv.in_c != op->conv.filter_in_c) return rc;
  /* ungrouped float32 and int8: the weights packed for the CPU's GEMM */
  const rt_conv_geom *g = &op->conv;
  rt_tensor *b = rt_in(m, op, 2);
  if (op->eval == eval_f32) {
    if ((rc = rt_sgemm_pack_conv(&op->fpk, rt_igemm_path(), g, (const float *)(const void *)rt_in(m, op, 1)->const_data,
                                 1)))
      return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, op->name);
    if (op->fpk.path != RT_IGEMM_PLAIN) op->eval = eval_f32_gemm;
    return QAT_OK;
  }
  if ((rc = rt_igemm_pack_conv(&op->pk, rt_igemm_path(), g, (const int8_t *)rt_in(m, op, 1)->const_data,
                               b ? (const int32_t *)(const void *)b->const_data : NULL, op->rq.in_offset, 1)))
    return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, op->name);
  if (op->pk.path != RT_IGEMM_PLAIN) op->eval = eval_i8_gemm;
  return QAT_OK;
}

RT_REGISTER_OP(CONV_2D, 8, Conv2DOptions, fields, RT_COUNT(fields), NULL, prepare);
