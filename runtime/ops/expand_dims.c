/* EXPAND_DIMS (builtin 70; version 1): inserts a dimension of size 1 at the constant axis
 * (INT32 or INT64, one element; negative counts from the end of the output, expand_dims.cc);
 * the bytes are copied as they are. */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

RT_EVAL(eval_copy, memmove(rt_out_data(m, op), rt_in_data(m, op, 0), rt_out(m, op, 0)->bytes))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 2, 2, 1);
  if (rc) return rc;
  const rt_tensor *in = rt_in(m, op, 0), *ax = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if (in->type != o->type || qat_rt_type_size(in->type) == 0)
    return rt_unsup(m, k, "input %s, output %s", qat_rt_type_name(in->type),
                    qat_rt_type_name(o->type));
  if (!ax->const_data) return rt_unsup(m, k, "the axis tensor '%s' is not a constant", ax->name);
  if ((ax->type != QAT_RT_INT32 && ax->type != QAT_RT_INT64) || ax->n_elems != 1)
    return rt_bad(m, k, "the axis '%s' must be one INT32 or INT64", ax->name);
  int64_t axis = ax->type == QAT_RT_INT32 ? *(const int32_t *)ax->const_data
                                          : *(const int64_t *)ax->const_data;
  if (axis < 0) axis += in->rank + 1;
  if (axis < 0 || axis > in->rank || in->rank + 1 > QAT_RT_MAX_RANK)
    return rt_bad(m, k, "axis %lld is out of range for a rank-%d input", (long long)axis, in->rank);
  int64_t od[QAT_RT_MAX_RANK];
  for (int d = 0, r = 0; d <= in->rank; d++) od[d] = d == axis ? 1 : in->dims[r++];
  if ((rc = rt_check_out_shape(m, k, o, od, in->rank + 1))) return rc;
  op->eval = eval_copy;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(EXPAND_DIMS, 1, ExpandDimsOptions, NULL, 0, NULL, prepare);
