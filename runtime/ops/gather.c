/* GATHER (builtin 36; versions 1-7, GatherOptions): slices of the params along `axis` picked by
 * the indices (int32 or int64), gather.cc / reference_ops::Gather, any fixed-size type copied as
 * it is; int8 and int16 params keep their quantization (gather.cc requires the output's equal).
 * batch_dims other than 0 is refused. An index outside the axis fails the invoke, as TFLite's
 * kernel does. Constant inputs (the converter's shape arithmetic for a Dense over a sequence:
 * SHAPE, then GATHER of its dimensions) are gathered once, at Prepare. */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(GatherOptions, axis, INT, axis, 0),
    RT_OPT(GatherOptions, batch_dims, INT, batch_dims, 0),
};

/* op->outer: the product of the dimensions before the axis; op->depth: bytes after it;
 * op->batches: the axis size. */
static int eval(qat_rt_model *m, int k, rt_op *op) {
  const rt_tensor *idx = rt_in(m, op, 1);
  const uint8_t *p = rt_in_data(m, op, 0);
  const void *iv = rt_in_data(m, op, 1);
  uint8_t *out = rt_out_data(m, op);
  const int64_t n = idx->n_elems, chunk = op->depth;
  for (int64_t i = 0; i < n; i++) {
    const int64_t at = idx->type == QAT_RT_INT64 ? ((const int64_t *)iv)[i] : ((const int32_t *)iv)[i];
    if (at < 0 || at >= op->batches)
      return rt_bad(m, k, "index %lld at position %lld is outside the axis of size %d", (long long)at,
                    (long long)i, op->batches);
  }
  for (int64_t o = 0; o < op->outer; o++)
    for (int64_t i = 0; i < n; i++) {
      const int64_t at = idx->type == QAT_RT_INT64 ? ((const int64_t *)iv)[i] : ((const int32_t *)iv)[i];
      memcpy(out + (o * n + i) * chunk, p + (o * op->batches + at) * chunk, (size_t)chunk);
    }
  return QAT_OK;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 2, 2, 1);
  if (rc) return rc;
  const rt_tensor *p = rt_in(m, op, 0), *idx = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if (idx->type != QAT_RT_INT32 && idx->type != QAT_RT_INT64)
    return rt_bad(m, k, "indices are %s (expected int32 or int64)", qat_rt_type_name(idx->type));
  if (p->type != o->type)
    return rt_bad(m, k, "params are %s, output %s", qat_rt_type_name(p->type), qat_rt_type_name(o->type));
  if (qat_rt_type_size(p->type) == 0) return rt_unsup(m, k, "tensors of type %s", qat_rt_type_name(p->type));
  if ((p->type == QAT_RT_INT8 || p->type == QAT_RT_INT16) && (rc = rt_need_same_quant(m, k, p, o, "GATHER")))
    return rc;
  if (op->opt.batch_dims != 0) return rt_unsup(m, k, "batch_dims %d", op->opt.batch_dims);
  int axis = op->opt.axis;
  if (axis < 0) axis += p->rank;
  if (p->rank < 1 || axis < 0 || axis >= p->rank)
    return rt_bad(m, k, "axis %d is out of range for rank-%d params", op->opt.axis, p->rank);
  const int orank = p->rank - 1 + idx->rank;
  if (orank > QAT_RT_MAX_RANK) return rt_unsup(m, k, "output rank above %d", QAT_RT_MAX_RANK);
  int64_t od[QAT_RT_MAX_RANK];
  int r = 0;
  op->outer = 1;
  op->depth = (int64_t)qat_rt_type_size(p->type);
  for (int d = 0; d < axis; d++) op->outer *= (od[r++] = p->dims[d]);
  for (int d = 0; d < idx->rank; d++) od[r++] = idx->dims[d];
  for (int d = axis + 1; d < p->rank; d++) op->depth *= (od[r++] = p->dims[d]);
  op->batches = p->dims[axis];
  if ((rc = rt_check_out_shape(m, k, o, od, orank))) return rc;
  op->eval = eval;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(GATHER, 7, GatherOptions, fields, RT_COUNT(fields), NULL, prepare);
