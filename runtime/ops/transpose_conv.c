/* TRANSPOSE_CONV (builtin 67; TFLite registers versions 1-5): inputs output_shape (an int32
 * constant [4]), filter [out_c, kh, kw, in_c], input, optional bias; float32, int8 per-channel
 * (int32 bias) and 16x8 (int64 bias), with the fused activation of version 4. The padding is
 * the one a convolution from the output back to the input would have (transpose_conv.cc
 * ComputePaddingHeightWidth on the output size), and that convolution must give the input's
 * size back (Eval's check). Dynamic range: float input and bias, int8 filter per channel (or
 * per tensor), the input quantized asymmetrically per batch (EvalHybrid). */
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(TransposeConvOptions, padding, ENUM, padding, 0),
    RT_OPT(TransposeConvOptions, stride_w, INT, stride_w, 0),
    RT_OPT(TransposeConvOptions, stride_h, INT, stride_h, 0),
    RT_OPT(TransposeConvOptions, fused_activation_function, ENUM, activation, 0),
};

RT_EVAL(eval_f32, rt_tconv_f32(&op->conv, op->f_min, op->f_max, rt_in_data(m, op, 2), rt_in_data(m, op, 1),
                               rt_in_data(m, op, 3), rt_out_data(m, op)))
RT_EVAL(eval_f32_gemm, rt_tconv_f32_gemm(&op->conv, op->f_min, op->f_max, &op->fpk, rt_in_data(m, op, 2),
                                         rt_in_data(m, op, 3), rt_out_data(m, op)))
RT_EVAL(eval_hybrid, rt_tconv_hybrid(&op->conv, op->hy_per_channel, op->f_min, op->f_max, rt_in_data(m, op, 2),
                                     rt_in_data(m, op, 1), rt_in(m, op, 1)->scales, rt_in_data(m, op, 3),
                                     rt_out_data(m, op), op->qbuf, op->hy_scales, op->hy_offsets))
RT_EVAL(eval_i8, rt_tconv_i8(&op->conv, &op->rq, rt_in_data(m, op, 2), rt_in_data(m, op, 1), rt_in_data(m, op, 3),
                             rt_out_data(m, op)))
RT_EVAL(eval_i8_gemm, rt_tconv_i8_gemm(&op->conv, &op->rq, &op->pk, rt_in_data(m, op, 2), rt_in_data(m, op, 3),
                                       rt_out_data(m, op), op->scratch))
RT_EVAL(eval_i16, rt_tconv_i16(&op->conv, &op->rq, rt_in_data(m, op, 2), rt_in_data(m, op, 1),
                               rt_in_data(m, op, 3), rt_out_data(m, op)))

/* int8 on the packed GEMM where the CPU has one: the filter [out_c, kh, kw, in_c] as rows
 * (ky, kx, oc) of in_c, packed with the input offset (op->rq, prepared before), and scratch
 * for the dots and the output's sums. Models whose scratch
 * would pass 16 MB keep the reference loop. */
static int prepare_gemm_i8(qat_rt_model *m, rt_op *op, const rt_tensor *w) {
  const rt_conv_geom *g = &op->conv;
  const int path = rt_igemm_path();
  const int64_t M = (int64_t)g->batches * g->in_h * g->in_w, n = (int64_t)g->k_h * g->k_w * g->out_c;
  const int64_t words = M * n + (int64_t)g->batches * g->out_h * g->out_w * g->out_c;
  if (path == RT_IGEMM_PLAIN || g->in_c > RT_IGEMM_KMAX || words > ((int64_t)1 << 22)) return QAT_OK;
  int8_t *rows = malloc((size_t)(n * g->in_c));
  op->scratch = malloc((size_t)words * sizeof *op->scratch);
  if (!rows || !op->scratch) {
    free(rows);
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  }
  const int8_t *f = (const int8_t *)w->const_data;
  for (int ky = 0; ky < g->k_h; ky++)
    for (int kx = 0; kx < g->k_w; kx++)
      for (int oc = 0; oc < g->out_c; oc++)
        memcpy(rows + (((int64_t)ky * g->k_w + kx) * g->out_c + oc) * g->in_c,
               f + (((int64_t)oc * g->k_h + ky) * g->k_w + kx) * g->in_c, (size_t)g->in_c);
  int rc = rt_igemm_pack(&op->pk, path, (int)n, g->in_c, (int)M, rows, NULL, op->rq.in_offset);
  free(rows);
  if (rc) return rc;
  if (op->pk.path != RT_IGEMM_PLAIN) op->eval = eval_i8_gemm;
  return QAT_OK;
}

/* padding.h ComputePadding with the output size as the convolution's input: SAME pads
 * ((ceil(n / s) - 1) * s + k - n) / 2 when positive, VALID nothing. */
static int pad_of(int padding, int64_t n, int64_t k, int64_t s) {
  if (padding != RT_PAD_SAME) return 0;
  const int64_t total = ((n + s - 1) / s - 1) * s + k - n;
  return total > 0 ? (int)(total / 2) : 0;
}

/* That convolution's output size: SAME ceil(n / s), VALID (n + s - k) / s. */
static int64_t conv_size(int padding, int64_t n, int64_t k, int64_t s) {
  return padding == RT_PAD_SAME ? (n + s - 1) / s : (n + s - k) / s;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 3, 4, 1);
  if (rc) return rc;
  rt_tensor *shape = rt_in(m, op, 0), *w = rt_in(m, op, 1), *in = rt_in(m, op, 2), *b = rt_in(m, op, 3);
  rt_tensor *o = rt_out(m, op, 0);
  if (!shape || !w || !in) return rt_bad(m, k, "output_shape, filter and input are required");
  if ((rc = rt_const_i32(m, k, shape, "output_shape"))) return rc;
  if (shape->n_elems != 4) return rt_bad(m, k, "output_shape '%s' has %lld entries, expected 4", shape->name,
                                         (long long)shape->n_elems);
  if (in->rank != 4 || w->rank != 4)
    return rt_bad(m, k, "input and filter must have rank 4 (got %d and %d)", in->rank, w->rank);
  if (!w->const_data) return rt_unsup(m, k, "the filter '%s' is not a constant", w->name);
  if (b && !b->const_data) return rt_unsup(m, k, "the bias '%s' is not a constant", b->name);
  if ((rc = rt_check_window_params(m, k, &op->opt, 0))) return rc;
  if (op->opt.stride_h > INT16_MAX || op->opt.stride_w > INT16_MAX)
    return rt_bad(m, k, "stride %dx%d is above %d", op->opt.stride_h, op->opt.stride_w, INT16_MAX);
  const int32_t *os = (const int32_t *)shape->const_data;
  for (int d = 0; d < 4; d++)
    if (os[d] < 1) return rt_bad(m, k, "output_shape[%d] is %d", d, os[d]);
  const int64_t od[4] = {os[0], os[1], os[2], os[3]};
  if ((rc = rt_check_out_shape(m, k, o, od, 4))) return rc;
  rt_conv_geom *g = &op->conv;
  g->batches = in->dims[0], g->in_h = in->dims[1], g->in_w = in->dims[2], g->in_c = in->dims[3];
  g->out_h = os[1], g->out_w = os[2], g->out_c = os[3];
  g->k_h = w->dims[1], g->k_w = w->dims[2], g->filter_in_c = w->dims[3];
  g->stride_h = op->opt.stride_h, g->stride_w = op->opt.stride_w, g->dil_h = g->dil_w = 1;
  /* TFLite ensures the depths; the batches must agree too, or the kernel would read past the input */
  if (os[0] != g->batches) return rt_bad(m, k, "output batch %d differs from the input's %d", os[0], g->batches);
  if (g->filter_in_c != g->in_c)
    return rt_bad(m, k, "filter depth %d differs from the input depth %d", g->filter_in_c, g->in_c);
  if (w->dims[0] != g->out_c)
    return rt_bad(m, k, "filter has %d output channels, output_shape %d", w->dims[0], g->out_c);
  if (b && b->n_elems != g->out_c)
    return rt_bad(m, k, "bias '%s' has %lld elements for %d output channels", b->name, (long long)b->n_elems,
                  g->out_c);
  if (conv_size(op->opt.padding, g->out_h, g->k_h, g->stride_h) != g->in_h ||
      conv_size(op->opt.padding, g->out_w, g->k_w, g->stride_w) != g->in_w)
    return rt_bad(m, k, "a %dx%d input cannot give the %dx%d output with a %dx%d filter, stride %dx%d and this padding",
                  g->in_h, g->in_w, g->out_h, g->out_w, g->k_h, g->k_w, g->stride_h, g->stride_w);
  g->pad_h = pad_of(op->opt.padding, g->out_h, g->k_h, g->stride_h);
  g->pad_w = pad_of(op->opt.padding, g->out_w, g->k_w, g->stride_w);
  op->macs = (int64_t)g->batches * g->in_h * g->in_w * g->in_c * g->k_h * g->k_w * g->out_c;
  if (rt_is_f32(in) && rt_is_f32(w) && rt_is_f32(o) && (!b || rt_is_f32(b))) {
    op->eval = eval_f32;
    if ((rc = rt_act_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max))) return rc;
    /* the filter packed for the CPU's vectors: the same sums, output channels side by side */
    if ((rc = rt_sgemm_pack(&op->fpk, rt_igemm_path(), g->out_c, g->k_h * g->k_w * g->in_c,
                            (const float *)(const void *)w->const_data)))
      return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, op->name);
    if (op->fpk.path != RT_IGEMM_PLAIN) op->eval = eval_f32_gemm;
    return QAT_OK;
  }
  if ((rt_is_i8(in) && rt_is_i8(w) && rt_is_i8(o)) || (rt_is_i16(in) && rt_is_i8(w) && rt_is_i16(o))) {
    const int i16 = rt_is_i16(in);
    op->eval = i16 ? eval_i16 : eval_i8;
    if (i16 && ((rc = rt_need_int16_symmetric(m, k, in, "input")) ||
                (rc = rt_need_int16_symmetric(m, k, o, "output"))))
      return rc;
    if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")) ||
        (rc = rt_check_weights_q(m, k, w, 0, g->out_c)))
      return rc;
    if (b && (rc = rt_check_bias_q(m, k, b, in, w, g->out_c))) return rc;
    if ((rc = rt_prepare_requant(m, k, op, in, w, b, o, g->out_c))) return rc;
    return i16 ? rt_check_acc64(m, k, op, (int64_t)g->k_h * g->k_w * g->in_c, b, g->out_c) : prepare_gemm_i8(m, op, w);
  }
  if (rt_is_f32(in) && rt_is_i8(w) && rt_is_f32(o) && (!b || rt_is_f32(b))) {
    if ((rc = rt_check_weights_q(m, k, w, 0, g->out_c))) return rc;
    op->eval = eval_hybrid;
    op->hy_per_channel = w->n_q > 1;
    /* the quantized input, then one scale and one offset per batch */
    const size_t qbytes = ((size_t)in->n_elems + 7) & ~(size_t)7;
    op->qbuf = malloc(qbytes + (size_t)g->batches * (sizeof(float) + sizeof(int32_t)));
    if (!op->qbuf) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
    op->hy_scales = (float *)(void *)(op->qbuf + qbytes);
    op->hy_offsets = (int32_t *)(void *)(op->hy_scales + g->batches);
    return rt_act_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
  }
  return rt_unsup(m, k, "input %s, filter %s, output %s", qat_rt_type_name(in->type), qat_rt_type_name(w->type),
                  qat_rt_type_name(o->type));
}

RT_REGISTER_OP(TRANSPOSE_CONV, 5, TransposeConvOptions, fields, RT_COUNT(fields), NULL, prepare);
