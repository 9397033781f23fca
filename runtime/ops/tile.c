/* TILE (builtin 69; versions 1-3): the input repeated multiples[d] times along each dimension d
 * (tile.cc, reference Tile), any fixed-size type copied as it is; int8 and int16 keep their
 * quantization. The converter writes it for Keras 3's nearest UpSampling2D (EXPAND_DIMS, TILE,
 * RESHAPE per axis). Constant inputs are tiled once, at Prepare. */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

/* Output rows, each the input's row repeated multiples[last] times. The trailing dimensions
 * that are not repeated join the row (UpSampling2D's [1, H, 1, W, C] x [1, 1, 2, 1, 1] copies
 * rows of W x C, not of C), and each leading index's input position steps with it instead of
 * a division per dimension and row (a segmenter's 12-byte rows cost 8 ns each that way). */
static int eval(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const rt_tensor *in = rt_in(m, op, 0), *mul = rt_in(m, op, 1);
  const uint8_t *src = rt_in_data(m, op, 0);
  uint8_t *dst = rt_out_data(m, op);
  const void *mv = rt_in_data(m, op, 1);
  int r = in->rank; /* >= 1 (Prepare) */
  int64_t times[QAT_RT_MAX_RANK] = {0}, dims[QAT_RT_MAX_RANK] = {0}, od[QAT_RT_MAX_RANK] = {0},
          idx[QAT_RT_MAX_RANK] = {0}, pos[QAT_RT_MAX_RANK] = {0}, stride[QAT_RT_MAX_RANK] = {0};
  for (int d = 0; d < r; d++) {
    times[d] = mul->type == QAT_RT_INT64 ? ((const int64_t *)mv)[d] : ((const int32_t *)mv)[d];
    dims[d] = in->dims[d];
    od[d] = dims[d] * times[d];
  }
  /* while the last dimension is not repeated, the one before it joins the row: a row is then
   * dims[r - 2] x the old row, repeated times[r - 2] times */
  int64_t row = dims[r - 1];
  while (r > 1 && times[r - 1] == 1) row *= dims[r - 2], r--;
  const size_t row_bytes = (size_t)row * qat_rt_type_size(in->type);
  int64_t rows = 1, at = 0;
  for (int d = 0; d < r - 1; d++) rows *= od[d];
  /* input rows per step of leading dimension d */
  for (int d = r - 2; d >= 0; d--) stride[d] = d == r - 2 ? 1 : stride[d + 1] * dims[d + 1];
  for (int64_t o = 0; o < rows; o++) {
    for (int64_t t = 0; t < times[r - 1]; t++, dst += row_bytes) rt_copy_run(dst, src + (size_t)at * row_bytes, row_bytes);
    /* the next output row's leading indices, and the input row under them */
    for (int d = r - 2; d >= 0; d--) {
      if (++idx[d] < od[d]) {
        if (++pos[d] == dims[d]) pos[d] = 0, at -= (dims[d] - 1) * stride[d];
        else at += stride[d];
        break;
      }
      at -= pos[d] * stride[d];
      idx[d] = pos[d] = 0;
    }
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
