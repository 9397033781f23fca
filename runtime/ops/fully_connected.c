/* FULLY_CONNECTED (builtin 9; versions 1-13): float32, int8, 16x8 (int16 activations, int8
 * weights, int64 bias), and hybrid (float input, int8 weights, float bias; EvalHybridDense). */
#include <stdlib.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(FullyConnectedOptions, fused_activation_function, ENUM, activation, 0),
    RT_OPT(FullyConnectedOptions, weights_format, ENUM, weights_format, 0),
    RT_OPT(FullyConnectedOptions, keep_num_dims, BOOL, keep_num_dims, 0),
    RT_OPT(FullyConnectedOptions, asymmetric_quantize_inputs, BOOL, asymmetric_quantize_inputs, 0),
};

RT_EVAL(eval_f32, rt_fc_f32(op->batches, op->accum_depth, op->out_depth, op->f_min, op->f_max,
                            rt_in_data(m, op, 0), rt_in_data(m, op, 1), rt_in_data(m, op, 2),
                            rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_fc_i8(op->batches, op->accum_depth, op->out_depth, &op->rq,
                          rt_in_data(m, op, 0), rt_in_data(m, op, 1), rt_in_data(m, op, 2),
                          rt_out_data(m, op)))
RT_EVAL(eval_f32_gemm, rt_fc_f32_gemm(op->batches, op->f_min, op->f_max, &op->fpk, rt_in_data(m, op, 0),
                                      rt_in_data(m, op, 2), rt_out_data(m, op)))
RT_EVAL(eval_i8_gemm, rt_fc_i8_gemm(op->batches, &op->rq, &op->pk, rt_in_data(m, op, 0), rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_fc_i16(op->batches, op->accum_depth, op->out_depth, &op->rq,
                            rt_in_data(m, op, 0), rt_in_data(m, op, 1), rt_in_data(m, op, 2),
                            rt_out_data(m, op)))
RT_EVAL(eval_hybrid, rt_fc_hybrid(op->batches, op->accum_depth, op->out_depth, op->opt.activation,
                                  rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                                  rt_in(m, op, 1)->scales, rt_in(m, op, 1)->n_q > 1,
                                  op->opt.asymmetric_quantize_inputs, rt_in_data(m, op, 2),
                                  rt_out_data(m, op), op->qbuf, op->hy_scales, op->hy_offsets,
                                  &op->pk, op->scratch))

/* The LiteRT flavour requantizes int8 and int16 in double like LiteRT's reference
 * FullyConnected(PerChannel): effective_output_scale = (double)input_scale *
 * (double)filter_scale / (double)output_scale, per channel. */
static int litert_scales(qat_rt_model *m, rt_op *op, const rt_tensor *in, const rt_tensor *w,
                         const rt_tensor *o, int units) {
  if (m->options.flavor != QAT_RT_FLAVOR_LITERT) return QAT_OK;
  op->eff = malloc((size_t)units * sizeof *op->eff);
  if (!op->eff) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  for (int c = 0; c < units; c++)
    op->eff[c] =
        (double)in->scales[0] * (double)w->scales[w->n_q == 1 ? 0 : c] / (double)o->scales[0];
  op->rq.eff = op->eff;
  return QAT_OK;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 2, 3, 1);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *w = rt_in(m, op, 1), *b = rt_in(m, op, 2), *o = rt_out(m, op, 0);
  if (op->opt.weights_format != 0)
    return rt_unsup(m, k, "shuffled weights format %d", op->opt.weights_format);
  if (w->rank != 2) return rt_bad(m, k, "weights must have rank 2 (got %d)", w->rank);
  if (!w->const_data) return rt_unsup(m, k, "the weights '%s' are not a constant", w->name);
  if (b && !b->const_data) return rt_unsup(m, k, "the bias '%s' is not a constant", b->name);
  const int units = w->dims[0], accum = w->dims[1];
  if (in->rank < 1 || in->n_elems % accum)
    return rt_bad(m, k, "input of %lld elements is not a whole number of rows of %d",
               (long long)in->n_elems, accum);
  const int64_t batches = in->n_elems / accum;
  int64_t od[QAT_RT_MAX_RANK];
  int orank;
  if (op->opt.keep_num_dims) {
    /* fully_connected.cc: the input's shape with the last dimension replaced by units. */
    if (in->dims[in->rank - 1] != accum)
      return rt_bad(m, k, "keep_num_dims needs the input's last dimension (%d) to equal %d",
                 in->dims[in->rank - 1], accum);
    orank = in->rank;
    for (int i = 0; i < orank; i++) od[i] = in->dims[i];
    od[orank - 1] = units;
  } else {
    orank = 2;
    od[0] = batches;
    od[1] = units;
  }
  if ((rc = rt_check_out_shape(m, k, o, od, orank))) return rc;
  if (b && b->n_elems != units)
    return rt_bad(m, k, "bias '%s' has %lld elements for %d units", b->name, (long long)b->n_elems,
               units);
  op->batches = (int)batches;
  op->accum_depth = accum;
  op->out_depth = units;
  op->macs = batches * units * (int64_t)accum;
  if (rt_is_f32(in) && rt_is_f32(w) && rt_is_f32(o) && (!b || rt_is_f32(b))) {
    op->eval = eval_f32;
    if ((rc = rt_act_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max))) return rc;
    if ((rc = rt_sgemm_pack(&op->fpk, rt_igemm_path(), units, accum, (const float *)(const void *)w->const_data)))
      return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, op->name);
    if (op->fpk.path != RT_IGEMM_PLAIN) op->eval = eval_f32_gemm;
    return QAT_OK;
  }
  if (rt_is_i8(in) && rt_is_i8(w) && rt_is_i8(o)) {
    op->eval = eval_i8;
    if ((rc = rt_need_per_tensor(m, k, in, "input")) || (rc = rt_need_per_tensor(m, k, o, "output")) ||
        (rc = rt_check_weights_q(m, k, w, 0, units)))
      return rc;
    if (b && (rc = rt_check_bias_q(m, k, b, in, w, units))) return rc;
    if ((rc = rt_prepare_requant(m, k, op, in, w, b, o, units)) || (rc = litert_scales(m, op, in, w, o, units)))
      return rc;
    /* the weights packed for the CPU's GEMM, with room for the converted input rows */
    if ((rc = rt_igemm_pack(&op->pk, rt_igemm_path(), units, accum, (int)batches,
                            (const int8_t *)w->const_data,
                            b ? (const int32_t *)(const void *)b->const_data : NULL, op->rq.in_offset)))
      return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, op->name);
    if (op->pk.path != RT_IGEMM_PLAIN) op->eval = eval_i8_gemm;
    return QAT_OK;
  }
  if (rt_is_i16(in) && rt_is_i8(w) && rt_is_i16(o)) {
    op->eval = eval_i16;
    if ((rc = rt_need_int16_symmetric(m, k, in, "input")) ||
        (rc = rt_need_int16_symmetric(m, k, o, "output")) || (rc = rt_check_weights_q(m, k, w, 0, units)))
      return rc;
    if (b && (rc = rt_check_bias_q(m, k, b, in, w, units))) return rc;
    if ((rc = rt_prepare_requant(m, k, op, in, w, b, o, units))) return rc;
    if ((rc = rt_check_acc64(m, k, op, accum, b, units))) return rc;
    return litert_scales(m, op, in, w, o, units);
  }
  if (rt_is_f32(in) && rt_is_i8(w) && rt_is_f32(o) && (!b || rt_is_f32(b))) {
    /* Dynamic range: fully_connected.cc EvalHybridDense, with symmetric or (version 9+,
     * asymmetric_quantize_inputs) asymmetric run-time input quantization. */
    if (op->opt.activation > RT_ACT_RELU6)
      return rt_unsup(m, k, "fused activation %d", op->opt.activation);
    if ((rc = rt_check_weights_q(m, k, w, 0, units))) return rc;
    op->eval = eval_hybrid;
    if ((rc = rt_hybrid_buffers(m, op, in->n_elems, batches))) return rc;
    op->scratch = malloc((size_t)(batches * units) * sizeof *op->scratch); /* the integer dots */
    if (!op->scratch) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
    /* the int8 weights packed for the CPU's GEMM with no offset and no bias: raw dots */
    if ((rc = rt_igemm_pack(&op->pk, rt_igemm_path(), units, accum, (int)batches, (const int8_t *)w->const_data,
                            NULL, 0)))
      return qat_fail_prefix(rc, "%s: op %d (%s): ", m->name, k, op->name);
    return QAT_OK;
  }
  return rt_unsup(m, k, "input %s, weights %s, output %s", qat_rt_type_name(in->type),
               qat_rt_type_name(w->type), qat_rt_type_name(o->type));
}

RT_REGISTER_OP(FULLY_CONNECTED, 13, FullyConnectedOptions, fields, RT_COUNT(fields), NULL,
               prepare);
