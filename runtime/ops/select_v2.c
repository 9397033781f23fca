/* SELECT_V2 (builtin 123; versions 1-2, 2 being uint32): out = cond ? x : y with numpy
 * broadcasting of all three (select.cc, kernel_type kVersionTwo). The values are copied as
 * stored, whatever their type; the kernel neither rescales nor checks quantization. qat writes
 * it for a ReLU's threshold: SELECT_V2(LESS(threshold, x), x, 0). */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_op.h"

/* t's strides against the broadcast dims bc->dims (rank QAT_RT_MAX_RANK, right-aligned) */
static void strides_of(const rt_tensor *t, const rt_bcast *bc, int64_t *s) {
  int64_t st = 1;
  for (int i = QAT_RT_MAX_RANK - 1; i >= 0; i--) {
    const int it = i - (QAT_RT_MAX_RANK - t->rank);
    const int64_t d = it >= 0 ? t->dims[it] : 1;
    s[i] = d == 1 && bc->dims[i] != 1 ? 0 : st;
    st *= d;
  }
}

static int eval(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const uint8_t *c = rt_in_data(m, op, 0), *x = rt_in_data(m, op, 1), *y = rt_in_data(m, op, 2);
  uint8_t *out = rt_out_data(m, op);
  const size_t es = qat_rt_type_size(rt_out(m, op, 0)->type);
  const int64_t *d = op->bc.dims, *sc = op->bc.s1, *sx = op->bc.s2, *sy = op->s3;
  int64_t idx[QAT_RT_MAX_RANK] = {0}, o = 0;
  for (;;) {
    int64_t ic = 0, ix = 0, iy = 0;
    for (int i = 0; i < QAT_RT_MAX_RANK; i++) ic += idx[i] * sc[i], ix += idx[i] * sx[i], iy += idx[i] * sy[i];
    memcpy(out + (size_t)o * es, c[ic] ? x + (size_t)ix * es : y + (size_t)iy * es, es);
    o++;
    int i = QAT_RT_MAX_RANK - 1;
    while (i >= 0 && ++idx[i] == d[i]) idx[i--] = 0;
    if (i < 0) return QAT_OK;
  }
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 3, 3, 1);
  if (rc) return rc;
  const rt_tensor *c = rt_in(m, op, 0), *x = rt_in(m, op, 1), *y = rt_in(m, op, 2), *o = rt_out(m, op, 0);
  if (c->type != QAT_RT_BOOL || x->type != y->type || o->type != x->type || !qat_rt_type_size(x->type))
    return rt_unsup(m, k, "condition %s, values %s and %s, output %s (a BOOL condition, one value type)",
                    qat_rt_type_name(c->type), qat_rt_type_name(x->type), qat_rt_type_name(y->type),
                    qat_rt_type_name(o->type));
  /* the output shape: condition and x broadcast, then y against that */
  rt_bcast cx;
  rt_tensor joint;
  int64_t od[QAT_RT_MAX_RANK];
  int orank = 0;
  if ((rc = rt_broadcast(m, k, c, x, &cx, od, &orank))) return rc;
  memset(&joint, 0, sizeof joint);
  joint.rank = orank;
  for (int i = 0; i < orank; i++) joint.dims[i] = (int32_t)od[i];
  if ((rc = rt_broadcast(m, k, &joint, y, &op->bc, od, &orank)) || (rc = rt_check_out_shape(m, k, o, od, orank)))
    return rc;
  strides_of(c, &op->bc, op->bc.s1);
  strides_of(x, &op->bc, op->bc.s2);
  strides_of(y, &op->bc, op->s3);
  op->eval = eval;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(SELECT_V2, 2, SelectV2Options, NULL, 0, NULL, prepare);
