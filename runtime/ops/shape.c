/* SHAPE (builtin 77; version 1): the input's dimensions as an INT32 or INT64 vector
 * (ShapeOptions.out_type, shape.cc). The shapes here are static, so the result is a constant,
 * computed at Prepare (unless it is a graph output). */
#include "qat/error.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {RT_OPT(ShapeOptions, out_type, ENUM, out_type, 2)};

static int eval(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const rt_tensor *in = rt_in(m, op, 0);
  void *out = rt_out_data(m, op);
  for (int d = 0; d < in->rank; d++) {
    if (rt_out(m, op, 0)->type == QAT_RT_INT64)
      ((int64_t *)out)[d] = in->dims[d];
    else
      ((int32_t *)out)[d] = in->dims[d];
  }
  return QAT_OK;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 1, 1, 1);
  if (rc) return rc;
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  /* shape.cc: out_type INT32 or INT64, and the output tensor must be of that type. */
  if (op->opt.out_type != QAT_RT_INT32 && op->opt.out_type != QAT_RT_INT64)
    return rt_unsup(m, k, "out_type %s (INT32 or INT64 are known)",
                    qat_rt_type_name(op->opt.out_type));
  if (o->type != op->opt.out_type)
    return rt_bad(m, k, "output '%s' is %s, ShapeOptions.out_type says %s", o->name,
                  qat_rt_type_name(o->type), qat_rt_type_name(op->opt.out_type));
  const int64_t od[1] = {in->rank};
  if ((rc = rt_check_out_shape(m, k, o, od, 1))) return rc;
  op->eval = eval;
  return rt_fold_constant(m, k, op);
}

RT_REGISTER_OP(SHAPE, 1, ShapeOptions, fields, RT_COUNT(fields), NULL, prepare);
