/* DEPTHWISE_CONV_2D (builtin 4; versions 1-7): float32, int8 per-channel, 16x8, and hybrid.
 * Prepare is shared with CONV_2D (window.c); TFLite derives the depth multiplier from the
 * shapes, so the option is read but not used. */
#include "qat/error.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(DepthwiseConv2DOptions, padding, ENUM, padding, 0),
    RT_OPT(DepthwiseConv2DOptions, stride_w, INT, stride_w, 0),
    RT_OPT(DepthwiseConv2DOptions, stride_h, INT, stride_h, 0),
    RT_OPT(DepthwiseConv2DOptions, depth_multiplier, INT, depth_multiplier, 0),
    RT_OPT(DepthwiseConv2DOptions, fused_activation_function, ENUM, activation, 0),
    RT_OPT(DepthwiseConv2DOptions, dilation_w_factor, INT, dilation_w, 1),
    RT_OPT(DepthwiseConv2DOptions, dilation_h_factor, INT, dilation_h, 1),
};

RT_EVAL(eval_f32, rt_dwconv2d_f32(&op->conv, op->f_min, op->f_max, rt_in_data(m, op, 0),
                                  rt_in_data(m, op, 1), rt_in_data(m, op, 2), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_dwconv2d_i8(&op->conv, &op->rq, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                                rt_in_data(m, op, 2), rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_dwconv2d_i16(&op->conv, &op->rq, rt_in_data(m, op, 0),
                                  rt_in_data(m, op, 1), rt_in_data(m, op, 2), rt_out_data(m, op)))
RT_EVAL(eval_hybrid, rt_dwconv2d_hybrid(&op->conv, op->f_min, op->f_max, rt_in_data(m, op, 0),
                                        rt_in_data(m, op, 1), rt_in(m, op, 1)->scales,
                                        rt_in_data(m, op, 2), rt_out_data(m, op), op->qbuf,
                                        op->hy_scales, op->hy_offsets))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, eval_hybrid};
  return rt_prepare_conv(m, k, op, 1, &ev);
}

RT_REGISTER_OP(DEPTHWISE_CONV_2D, 7, DepthwiseConv2DOptions, fields, RT_COUNT(fields), NULL,
               prepare);
