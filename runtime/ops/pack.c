/* PACK (builtin 83; versions 1-5): values_count tensors of one shape stacked along a new axis
 * (pack.cc, reference_ops::Pack), any fixed-size type copied as it is; int8 inputs must share
 * the output's quantization (pack.cc checks it). Constant inputs (the converter's
 * [batch, -1] shape) are packed once, at Prepare. */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(PackOptions, values_count, INT, values_count, 0),
    RT_OPT(PackOptions, axis, INT, axis, 0),
};

/* outer: the product of the dimensions before the axis; depth: the elements after it. */
static int eval(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const size_t es = qat_rt_type_size(rt_out(m, op, 0)->type);
  const size_t chunk = (size_t)op->depth * es;
  uint8_t *dst = rt_out_data(m, op);
  for (int64_t i = 0; i < op->outer; i++)
    for (int j = 0; j < op->n_in; j++) {
      memcpy(dst, (const uint8_t *)rt_in_data(m, op, j) + (size_t)i * chunk, chunk);
      dst += chunk;
    }
  return QAT_OK;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  if (op->n_in < 1) return rt_bad(m, k, "has no inputs");
  int rc = rt_check_io_count(m, k, op->n_in, op->n_in, 1);
  if (rc) return rc;
  if (op->opt.values_count != op->n_in)
    return rt_bad(m, k, "values_count %d but %d inputs", op->opt.values_count, op->n_in);
  const rt_tensor *t0 = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  int axis = op->opt.axis;
  if (axis < 0) axis += t0->rank + 1;
  if (axis < 0 || axis > t0->rank)
    return rt_bad(m, k, "axis %d is out of range for rank-%d inputs", op->opt.axis, t0->rank);
  if (t0->rank + 1 > QAT_RT_MAX_RANK) return rt_unsup(m, k, "output rank above %d", QAT_RT_MAX_RANK);
  if (qat_rt_type_size(t0->type) == 0)
    return rt_unsup(m, k, "tensors of type %s", qat_rt_type_name(t0->type));
  for (int j = 0; j < op->n_in; j++) {
    const rt_tensor *t = rt_in(m, op, j);
    if (t->type != o->type || !rt_same_shape(t, t0))
      return rt_bad(m, k, "input %d differs in type or shape from input 0 or the output", j);
    if (t->type == QAT_RT_INT8 && (rc = rt_need_same_quant(m, k, t, o, "PACK"))) return rc;
  }
  int64_t od[QAT_RT_MAX_RANK];
  op->outer = 1;
  op->depth = 1;
  for (int d = 0, r = 0; d <= t0->rank; d++) {
    if (d == axis) {
      od[d] = op->n_in;
      continue;
    }
    od[d] = t0->dims[r];
    if (d < axis)
      op->outer *= t0->dims[r];
    else
      op->depth *= t0->dims[r];
    r++;
  }
  if ((rc = rt_check_out_shape(m, k, o, od, t0->rank + 1))) return rc;
  op->eval = eval;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(PACK, 5, PackOptions, fields, RT_COUNT(fields), NULL, prepare);
