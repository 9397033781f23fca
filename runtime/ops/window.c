/* Prepare of the window operators: CONV_2D and DEPTHWISE_CONV_2D (conv.cc, depthwise_conv.cc)
 * and the pools (pooling.cc), which share their geometry and type dispatch; each op's own file
 * gives its eval functions. */
#include <stdlib.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

/* Dynamic range (kernels_hybrid.c). CONV_2D takes the per-channel kernel when the weight
 * scales differ from each other (conv.cc's is_hybrid_per_channel) or the conv is grouped, else
 * the per-tensor one; DEPTHWISE_CONV_2D always the per-channel one. */
static int prepare_conv_hybrid(qat_rt_model *m, int k, rt_op *op, const rt_tensor *in,
                               const rt_tensor *w, int depthwise, const rt_evals *ev) {
  const rt_conv_geom *g = &op->conv;
  int rc = rt_check_weights_q(m, k, w, depthwise ? 3 : 0, g->out_c);
  if (rc) return rc;
  int per_channel = 0;
  for (int c = 1; c < w->n_q; c++)
    if (w->scales[c] != w->scales[0]) per_channel = 1;
  if (depthwise || g->in_c != g->filter_in_c) {
    /* these read one scale per output channel */
    if (w->n_q != g->out_c)
      return rt_unsup(m, k, "hybrid %s needs one weight scale per output channel (got %d for %d)",
                   depthwise ? "DEPTHWISE_CONV_2D" : "grouped CONV_2D", w->n_q, g->out_c);
    per_channel = 1;
  }
  op->eval = ev->hybrid;
  op->hy_per_channel = per_channel;
  if ((rc = rt_hybrid_buffers(m, op, in->n_elems, g->batches))) return rc;
  return rt_act_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
}

int rt_prepare_conv(qat_rt_model *m, int k, rt_op *op, int depthwise, const rt_evals *ev) {
  int rc = rt_check_io_count(m, k, 2, 3, 1);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *w = rt_in(m, op, 1), *b = rt_in(m, op, 2), *o = rt_out(m, op, 0);
  if (in->rank != 4 || w->rank != 4)
    return rt_bad(m, k, "input and filter must have rank 4 (got %d and %d)", in->rank, w->rank);
  if (!w->const_data) return rt_unsup(m, k, "the filter '%s' is not a constant", w->name);
  if (b && !b->const_data) return rt_unsup(m, k, "the bias '%s' is not a constant", b->name);
  if ((rc = rt_check_window_params(m, k, &op->opt, 1))) return rc;
  rt_conv_geom *g = &op->conv;
  g->batches = in->dims[0], g->in_h = in->dims[1], g->in_w = in->dims[2], g->in_c = in->dims[3];
  g->k_h = w->dims[1], g->k_w = w->dims[2];
  g->stride_h = op->opt.stride_h, g->stride_w = op->opt.stride_w;
  g->dil_h = op->opt.dilation_h, g->dil_w = op->opt.dilation_w;
  if (depthwise) {
    /* Filter [1, kh, kw, in_c * depth_multiplier]; TFLite derives the multiplier from the
     * shapes (depthwise_conv.cc ComputeDepthMultiplier), not from the options. */
    g->out_c = w->dims[3];
    if (w->dims[0] != 1)
      return rt_bad(m, k, "depthwise filter dimension 0 is %d, expected 1", w->dims[0]);
    if (g->out_c % g->in_c)
      return rt_bad(m, k, "%d filter channels are not a multiple of %d input channels", g->out_c,
                 g->in_c);
    g->depth_multiplier = g->out_c / g->in_c;
  } else {
    /* Filter OHWI; grouped convolution when in_c is a multiple of the filter's I. */
    g->out_c = w->dims[0];
    g->filter_in_c = w->dims[3];
    if (g->in_c % g->filter_in_c)
      return rt_bad(m, k, "input depth %d is not a multiple of the filter depth %d", g->in_c,
                 g->filter_in_c);
    const int groups = g->in_c / g->filter_in_c;
    if (g->out_c % groups)
      return rt_bad(m, k, "%d output channels are not divisible into %d groups", g->out_c, groups);
  }
  if ((rc = rt_window_geometry(m, k, op->opt.padding, g->in_h, g->in_w, g->k_h, g->k_w, g->stride_h,
                            g->stride_w, g->dil_h, g->dil_w, &g->out_h, &g->out_w, &g->pad_h,
                            &g->pad_w)))
    return rc;
  const int64_t od[4] = {g->batches, g->out_h, g->out_w, g->out_c};
  if ((rc = rt_check_out_shape(m, k, o, od, 4))) return rc;
  if (b && b->n_elems != g->out_c)
    return rt_bad(m, k, "bias '%s' has %lld elements for %d output channels", b->name,
               (long long)b->n_elems, g->out_c);
  op->macs = (int64_t)g->batches * g->out_h * g->out_w * g->out_c * g->k_h * g->k_w *
             (depthwise ? 1 : g->filter_in_c);
  if (rt_is_f32(in) && rt_is_f32(w) && rt_is_f32(o) && (!b || rt_is_f32(b))) {
    op->eval = ev->f32;
    return rt_act_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
  }
  if (rt_is_i8(in) && rt_is_i8(w) && rt_is_i8(o)) {
    op->eval = ev->i8;
    if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")) ||
        (rc = rt_check_weights_q(m, k, w, depthwise ? 3 : 0, g->out_c)))
      return rc;
    if (b && (rc = rt_check_bias_q(m, k, b, in, w, g->out_c))) return rc;
    return rt_prepare_requant(m, k, op, in, w, b, o, g->out_c);
  }
  if (rt_is_i16(in) && rt_is_i8(w) && rt_is_i16(o)) {
    op->eval = ev->i16;
    if ((rc = rt_need_int16_symmetric(m, k, in, "input")) ||
        (rc = rt_need_int16_symmetric(m, k, o, "output")) ||
        (rc = rt_check_weights_q(m, k, w, depthwise ? 3 : 0, g->out_c)))
      return rc;
    if (b && (rc = rt_check_bias_q(m, k, b, in, w, g->out_c))) return rc;
    if ((rc = rt_prepare_requant(m, k, op, in, w, b, o, g->out_c))) return rc;
    return rt_check_acc64(m, k, op, (int64_t)g->k_h * g->k_w * (depthwise ? 1 : g->filter_in_c), b,
                       g->out_c);
  }
  if (rt_is_f32(in) && rt_is_i8(w) && rt_is_f32(o) && (!b || rt_is_f32(b)))
    return prepare_conv_hybrid(m, k, op, in, w, depthwise, ev);
  return rt_unsup(m, k, "input %s, filter %s, output %s", qat_rt_type_name(in->type),
               qat_rt_type_name(w->type), qat_rt_type_name(o->type));
}

int rt_prepare_pool(qat_rt_model *m, int k, rt_op *op, const rt_evals *ev) {
  int rc = rt_check_io_count(m, k, 1, 1, 1);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  if (in->rank != 4) return rt_bad(m, k, "input must have rank 4 (got %d)", in->rank);
  if ((rc = rt_check_window_params(m, k, &op->opt, 0))) return rc;
  if (op->opt.filter_w < 1 || op->opt.filter_h < 1)
    return rt_bad(m, k, "filter %dx%d must be >= 1", op->opt.filter_h, op->opt.filter_w);
  rt_pool_geom *g = &op->pool;
  g->batches = in->dims[0], g->in_h = in->dims[1], g->in_w = in->dims[2], g->c = in->dims[3];
  g->f_h = op->opt.filter_h, g->f_w = op->opt.filter_w;
  g->stride_h = op->opt.stride_h, g->stride_w = op->opt.stride_w;
  if ((rc = rt_window_geometry(m, k, op->opt.padding, g->in_h, g->in_w, g->f_h, g->f_w, g->stride_h,
                            g->stride_w, 1, 1, &g->out_h, &g->out_w, &g->pad_h, &g->pad_w)))
    return rc;
  const int64_t od[4] = {g->batches, g->out_h, g->out_w, g->c};
  if ((rc = rt_check_out_shape(m, k, o, od, 4))) return rc;
  if ((rc = rt_pick_eval(m, k, op, in, o, ev))) return rc;
  if (rt_is_f32(in)) return rt_act_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
  /* pooling.cc only DCHECKs this: the integer kernels never rescale. */
  if ((rc = rt_need_same_quant(m, k, in, o, "pooling"))) return rc;
  return rt_is_i8(in) ? rt_act_range_q(m, k, op->opt.activation, o, -128, 127, &op->rq.act_min,
                                       &op->rq.act_max)
                      : rt_act_range_q(m, k, op->opt.activation, o, -32768, 32767,
                                       &op->rq.act_min, &op->rq.act_max);
}

const rt_opt_field rt_pool_options[6] = {
    RT_OPT(Pool2DOptions, padding, ENUM, padding, 0),
    RT_OPT(Pool2DOptions, stride_w, INT, stride_w, 0),
    RT_OPT(Pool2DOptions, stride_h, INT, stride_h, 0),
    RT_OPT(Pool2DOptions, filter_width, INT, filter_w, 0),
    RT_OPT(Pool2DOptions, filter_height, INT, filter_h, 0),
    RT_OPT(Pool2DOptions, fused_activation_function, ENUM, activation, 0),
};
