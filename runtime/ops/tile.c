/* TILE (builtin 69; versions 1-3): the input repeated multiples[d] times along each dimension d
 * (tile.cc, reference Tile), any fixed-size type copied as it is; int8 and int16 keep their
 * quantization. The converter writes it for Keras 3's nearest UpSampling2D (EXPAND_DIMS, TILE,
 * RESHAPE per axis). Constant inputs are tiled once, at Prepare. */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

/* Output rows of the innermost dimension, each the input's row repeated multiples[last] times. */
static int eval(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const rt_tensor *in = rt_in(m, op, 0), *mul = rt_in(m, op, 1);
  const uint8_t *src = rt_in_data(m, op, 0);
  uint8_t *dst = rt_out_data(m, op);
  const void *mv = rt_in_data(m, op, 1);
  const int r = in->rank;
  const size_t es = qat_rt_type_size(in->type);
  int64_t times[QAT_RT_MAX_RANK], od[QAT_RT_MAX_RANK], idx[QAT_RT_MAX_RANK] = {0};
  for (int d = 0; d < r; d++) {
    times[d] = mul->type == QAT_RT_INT64 ? ((const int64_t *)mv)[d] : ((const int32_t *)mv)[d];
    od[d] = in->dims[d] * times[d];
  }
  const int64_t row = in->dims[r - 1];
  const size_t row_bytes = (size_t)row * es;
  int64_t rows = 1;
  for (int d = 0; d < r - 1; d++) rows *= od[d];
  for (int64_t o = 0; o < rows; o++) {
    /* the input row under output row o: each leading index modulo the input's size */
    int64_t at = 0;
    for (int d = 0; d < r - 1; d++) at = at * in->dims[d] + idx[d] % in->dims[d];
    for (int64_t t = 0; t < times[r - 1]; t++, dst += row_bytes) memcpy(dst, src + (size_t)at * row_bytes, row_bytes);
    for (int d = r - 2; d >= 0 && ++idx[d] == od[d]; d--) idx[d] = 0;
  }
  return QAT_OK;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 2, 2, 1);
  if (rc) return rc;
  const rt_tensor *in = rt_in(m, op, 0), *mul = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if (in->type != o->type)
    return rt_bad(m, k, "input is %s, output %s", qat_rt_type_name(in->type), qat_rt_type_name(o->type));
  if (qat_rt_type_size(in->type) == 0) return rt_unsup(m, k, "tensors of type %s", qat_rt_type_name(in->type));
  if ((in->type == QAT_RT_INT8 || in->type == QAT_RT_INT16) && (rc = rt_need_same_quant(m, k, in, o, "TILE")))
    return rc;
  if (in->rank < 1) return rt_bad(m, k, "input is a scalar");
  if (mul->rank != 1 || mul->n_elems != in->rank || (mul->type != QAT_RT_INT32 && mul->type != QAT_RT_INT64))
    return rt_bad(m, k, "multiples must be an int32 or int64 vector of %d entries", in->rank);
  if (!mul->const_data) return rt_unsup(m, k, "multiples computed at run time");
  int64_t od[QAT_RT_MAX_RANK], n = 1;
  for (int d = 0; d < in->rank; d++) {
    const int64_t t = mul->type == QAT_RT_INT64 ? ((const int64_t *)mul->const_data)[d]
                                                : ((const int32_t *)mul->const_data)[d];
    if (t < 1 || t > QAT_RT_MAX_ELEMENTS) return rt_bad(m, k, "multiple %lld on dimension %d", (long long)t, d);
    od[d] = in->dims[d] * t; /* both below 2^31: no overflow */
    if (od[d] > QAT_RT_MAX_ELEMENTS || (n *= od[d]) > QAT_RT_MAX_ELEMENTS)
      return rt_bad(m, k, "the tiled output is too large");
  }
  if ((rc = rt_check_out_shape(m, k, o, od, in->rank))) return rc;
  op->eval = eval;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(TILE, 3, NONE, NULL, 0, NULL, prepare);
