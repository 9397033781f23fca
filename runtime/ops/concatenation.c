/* CONCATENATION (builtin 2; versions 1-7): any fixed-size type, joined along an axis, elements
 * copied as they are (reference_ops::Concatenation). int8 inputs must share the output's
 * quantization (concatenation.cc checks it: no rescaling); int16 ones zero point 0. No fused
 * activation (concatenation.cc requires NONE). */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(ConcatenationOptions, axis, INT, axis, 0),
    RT_OPT(ConcatenationOptions, fused_activation_function, ENUM, activation, 0),
};

/* op->outer: the product of the dimensions before the axis; op->depth: the output's elements
 * from the axis on. Each input contributes dims[axis] * (elements after the axis). */
static int eval(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const rt_tensor *o = rt_out(m, op, 0);
  const size_t es = qat_rt_type_size(o->type);
  uint8_t *dst = rt_out_data(m, op);
  size_t row = 0;
  for (int j = 0; j < op->n_in; j++) row += (size_t)(rt_in(m, op, j)->n_elems / op->outer) * es;
  /* input by input, each one's pointer looked up once rather than per pixel */
  size_t at = 0;
  for (int j = 0; j < op->n_in; j++) {
    const size_t chunk = (size_t)(rt_in(m, op, j)->n_elems / op->outer) * es;
    const uint8_t *src = rt_in_data(m, op, j);
    for (int64_t i = 0; i < op->outer; i++) rt_copy_run(dst + (size_t)i * row + at, src + (size_t)i * chunk, chunk);
    at += chunk;
  }
  return QAT_OK;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  if (op->n_in < 1) return rt_bad(m, k, "has no inputs");
  int rc = rt_check_io_count(m, k, op->n_in, op->n_in, 1);
  if (rc) return rc;
  if (op->opt.activation != RT_ACT_NONE)
    return rt_bad(m, k, "fused activation %d (concatenation.cc requires NONE)", op->opt.activation);
  const rt_tensor *t0 = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  if (t0->rank < 1) return rt_unsup(m, k, "scalar inputs");
  int axis = op->opt.axis;
  if (axis < 0) axis += t0->rank;
  if (axis < 0 || axis >= t0->rank)
    return rt_bad(m, k, "axis %d is out of range for rank %d", op->opt.axis, t0->rank);
  if (qat_rt_type_size(t0->type) == 0)
    return rt_unsup(m, k, "tensors of type %s", qat_rt_type_name(t0->type));
  int64_t od[QAT_RT_MAX_RANK];
  for (int d = 0; d < t0->rank; d++) od[d] = d == axis ? 0 : t0->dims[d];
  for (int j = 0; j < op->n_in; j++) {
    const rt_tensor *t = rt_in(m, op, j);
    if (t->type != o->type || t->rank != t0->rank)
      return rt_bad(m, k, "input %d is %s of rank %d, the output %s of rank %d", j,
                    qat_rt_type_name(t->type), t->rank, qat_rt_type_name(o->type), o->rank);
    for (int d = 0; d < t0->rank; d++)
      if (d != axis && t->dims[d] != t0->dims[d])
        return rt_bad(m, k, "input %d has dimension %d = %d, input 0 %d", j, d, t->dims[d],
                      t0->dims[d]);
    od[axis] += t->dims[axis];
    if (t->type == QAT_RT_INT8 && (rc = rt_need_same_quant(m, k, t, o, "CONCATENATION")))
      return rc;
    if (t->type == QAT_RT_INT16 && (rc = rt_need_int16_symmetric(m, k, t, "input"))) return rc;
  }
  if (o->type == QAT_RT_INT16 && (rc = rt_need_int16_symmetric(m, k, o, "output"))) return rc;
  if ((rc = rt_check_out_shape(m, k, o, od, t0->rank))) return rc;
  op->outer = 1;
  for (int d = 0; d < axis; d++) op->outer *= t0->dims[d];
  op->eval = eval;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(CONCATENATION, 7, ConcatenationOptions, fields, RT_COUNT(fields), NULL, prepare);
