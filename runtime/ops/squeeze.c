/* SQUEEZE (builtin 43; version 1): drops dimensions of size 1 (SqueezeOptions.squeeze_dims,
 * or all of them when it is empty), squeeze.cc; the bytes are copied as they are. */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

static int parse(qat_rt_model *m, int k, rt_op *op, const qat_fb_table *t) {
  size_t d;
  uint32_t n;
  op->opt.n_squeeze = 0;
  if (!qat_fb_vec(t, QAT_TFLITE_SqueezeOptions_squeeze_dims, 4, &d, &n)) return QAT_OK;
  if (n > QAT_RT_MAX_RANK)
    return qat_fail(QAT_ERR_FORMAT, "%s: op %d (SQUEEZE): %u squeeze_dims", m->name, k, n);
  op->opt.n_squeeze = (int)n;
  for (uint32_t i = 0; i < n; i++)
    op->opt.squeeze_dims[i] = (int32_t)qat_fb_rd32(t->b, d + 4 * (size_t)i);
  return QAT_OK;
}

RT_EVAL(eval_copy, memmove(rt_out_data(m, op), rt_in_data(m, op, 0), rt_out(m, op, 0)->bytes))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 1, 1, 1);
  if (rc) return rc;
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  if (in->type != o->type || qat_rt_type_size(in->type) == 0)
    return rt_unsup(m, k, "input %s, output %s", qat_rt_type_name(in->type),
                    qat_rt_type_name(o->type));
  unsigned drop = 0;
  for (int i = 0; i < op->opt.n_squeeze; i++) {
    int d = op->opt.squeeze_dims[i];
    if (d < 0) d += in->rank;
    if (d < 0 || d >= in->rank || in->dims[d] != 1)
      return rt_bad(m, k, "squeeze_dims[%d] = %d is not a dimension of size 1", i,
                    op->opt.squeeze_dims[i]);
    drop |= 1u << d;
  }
  int64_t od[QAT_RT_MAX_RANK];
  int orank = 0;
  for (int d = 0; d < in->rank; d++) {
    const int gone = op->opt.n_squeeze ? (drop >> d) & 1 : in->dims[d] == 1;
    if (!gone) od[orank++] = in->dims[d];
  }
  if ((rc = rt_check_out_shape(m, k, o, od, orank))) return rc;
  op->eval = eval_copy;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(SQUEEZE, 1, SqueezeOptions, NULL, 0, parse, prepare);
