/* RESHAPE (builtin 22; version 1): any fixed-size type; the new shape from the 2nd input
 * (the MLIR converter's form: a constant, or the converter's SHAPE / STRIDED_SLICE / PACK
 * chain for a dynamic batch, folded at Prepare) or ReshapeOptions.new_shape. The bytes are
 * copied as they are. */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

static int parse(qat_rt_model *m, int k, rt_op *op, const qat_fb_table *t) {
  size_t d;
  uint32_t n;
  if (!qat_fb_vec(t, QAT_TFLITE_ReshapeOptions_new_shape, 4, &d, &n)) return QAT_OK;
  if (n > QAT_RT_MAX_RANK)
    return qat_fail(QAT_ERR_UNSUPPORTED, "%s: op %d (RESHAPE): new_shape has rank %u", m->name,
                    k, n);
  op->opt.n_new_shape = (int)n;
  for (uint32_t i = 0; i < n; i++)
    op->opt.new_shape[i] = (int32_t)qat_fb_rd32(t->b, d + 4 * (size_t)i);
  return QAT_OK;
}

RT_EVAL(eval_copy, memmove(rt_out_data(m, op), rt_in_data(m, op, 0), rt_out(m, op, 0)->bytes))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 1, 2, 1);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *sh = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if (in->type != o->type)
    return rt_bad(m, k, "input is %s, output %s", qat_rt_type_name(in->type),
               qat_rt_type_name(o->type));
  if (qat_rt_type_size(in->type) == 0)
    return rt_unsup(m, k, "tensors of type %s", qat_rt_type_name(in->type));
  /* a resized input, or a shape computed at Prepare: the shape below decides */
  if (in->n_elems != o->n_elems && !in->resized && !(sh && sh->computed))
    return rt_bad(m, k, "input has %lld elements, output '%s' %lld", (long long)in->n_elems, o->name,
               (long long)o->n_elems);
  /* The requested shape with one -1 resolved must be the stored output shape. reshape.cc
   * GetOutputShape: the 2nd input when it is an INT32 vector, else ReshapeOptions.new_shape,
   * where the legacy [0] means a scalar. */
  const int32_t *req = NULL;
  int64_t n_req = -1;
  if (sh && sh->rank == 1 && sh->type == QAT_RT_INT32) {
    /* A shape computed at Invoke (not folded to a constant at Prepare) can only be the stored
     * output shape, whose element count was checked above: shapes here are static. */
    if (sh->const_data) {
      req = (const int32_t *)sh->const_data;
      n_req = sh->n_elems;
    }
  } else if (op->opt.n_new_shape >= 0) {
    req = op->opt.new_shape;
    n_req = op->opt.n_new_shape;
    if (n_req == 1 && req[0] == 0) n_req = 0;
  }
  if (req) {
    if (n_req > QAT_RT_MAX_RANK) return rt_bad(m, k, "the new shape has rank %lld", (long long)n_req);
    int64_t d[QAT_RT_MAX_RANK], known = 1;
    int unknown = -1;
    for (int i = 0; i < (int)n_req; i++) {
      d[i] = req[i];
      if (d[i] == -1) {
        if (unknown >= 0) return rt_bad(m, k, "the new shape has more than one -1");
        unknown = i;
      } else if (d[i] < 1) {
        return rt_bad(m, k, "the new shape has dimension %lld", (long long)d[i]);
      } else {
        known *= d[i];
        if (known > QAT_RT_MAX_ELEMENTS) return rt_bad(m, k, "the new shape is too large");
      }
    }
    if (unknown >= 0) {
      if (in->n_elems % known) return rt_bad(m, k, "the new shape does not divide the input");
      d[unknown] = in->n_elems / known;
    }
    if ((rc = rt_check_out_shape(m, k, o, d, (int)n_req))) return rc;
  }
  op->eval = eval_copy;
  return QAT_OK;
}

RT_REGISTER_OP(RESHAPE, 1, ReshapeOptions, NULL, 0, parse, prepare);
