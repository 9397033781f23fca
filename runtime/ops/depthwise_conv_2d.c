/* DEPTHWISE_CONV_2D (builtin 4; versions 1-7): float32, int8 per-channel, 16x8, and hybrid.
 * Prepare is shared with CONV_2D (window.c); TFLite derives the depth multiplier from the
 * shapes, so the option is read but not used. */
#include <stdlib.h>

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

RT_EVAL(eval_f32_gemm, rt_conv2d_f32_gemm(&op->conv, op->f_min, op->f_max, &op->fpk, rt_in_data(m, op, 0),
                                          rt_in_data(m, op, 2), rt_out_data(m, op)))
RT_EVAL(eval_i8_gemm, rt_conv2d_i8_gemm(&op->conv, &op->rq, &op->pk, rt_in_data(m, op, 0), rt_out_data(m, op)))

/* One input channel (an audio model's first layer: micro_speech's 10x8 window, multiplier 8):
 * the depthwise convolution is the CONV_2D of filter [out_c][kh][kw][1], and runs on CONV_2D's
 * packed GEMM: each output's products in the same (ky, kx) order for float32, integer sums
 * (order-free) for int8, the same per-channel requantization. The depthwise kernels spread
 * the one input channel over 16 lanes of which the multiplier fills 8. */
static int pack_as_conv(qat_rt_model *m, int k, rt_op *op) {
  rt_conv_geom *g = &op->conv;
  const rt_tensor *w = rt_in(m, op, 1), *b = rt_in(m, op, 2);
  const int taps = g->k_h * g->k_w, n = g->out_c, f32 = op->eval == eval_f32;
  void *t = malloc((size_t)taps * (size_t)n * (f32 ? sizeof(float) : 1));
  if (!t) return qat_fail(QAT_ERR_NOMEM, "%s: op %d (%s): out of memory packing the filter", m->name, k, op->name);
  for (int oc = 0; oc < n; oc++) /* [1][kh][kw][out_c] -> [out_c][kh][kw] */
    for (int tap = 0; tap < taps; tap++) {
      if (f32) ((float *)t)[oc * taps + tap] = ((const float *)(const void *)w->const_data)[tap * n + oc];
      else ((int8_t *)t)[oc * taps + tap] = ((const int8_t *)w->const_data)[tap * n + oc];
    }
  int rc;
  g->filter_in_c = 1;
  if (f32) {
    rc = rt_sgemm_pack_conv(&op->fpk, rt_igemm_path(), g, t, 1);
    if (!rc && op->fpk.path != RT_IGEMM_PLAIN) op->eval = eval_f32_gemm;
  } else {
    rc = rt_igemm_pack_conv(&op->pk, rt_igemm_path(), g, t, b ? (const int32_t *)(const void *)b->const_data : NULL,
                            op->rq.in_offset, 1);
    if (!rc && op->pk.path != RT_IGEMM_PLAIN) op->eval = eval_i8_gemm;
  }
  free(t);
  return rc ? qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, op->name) : QAT_OK;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, eval_hybrid};
  int rc = rt_prepare_conv(m, k, op, 1, &ev);
  if (rc || op->conv.in_c != 1 || (op->eval != eval_i8 && op->eval != eval_f32)) return rc;
  return pack_as_conv(m, k, op);
}

RT_REGISTER_OP(DEPTHWISE_CONV_2D, 7, DepthwiseConv2DOptions, fields, RT_COUNT(fields), NULL,
               prepare);
