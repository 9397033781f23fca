/* SPACE_TO_BATCH_ND (builtin 38; versions 1-4) and BATCH_TO_SPACE_ND (builtin 37; ops/
 * batch_to_space_nd.c): the converter's lowering of a dilated convolution (a Conv1D or Conv2D
 * with dilation_rate) is SPACE_TO_BATCH_ND, the undilated CONV_2D, BATCH_TO_SPACE_ND. Any
 * fixed-size type, rank 3 [B, H, C] or 4 [B, H, W, C], block shape and paddings (crops)
 * constant INT32 tensors, input and output on one quantization (reference_ops::SpaceToBatchND
 * and BatchToSpaceND move values, they do not rescale). Output batch b' = (shift_h * block_w +
 * shift_w) * B + b, as the reference kernels order it. The padding element is 0.0f, or the
 * output zero point when quantized. */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

/* [B, H, W, C] views of a rank-3 or rank-4 tensor. */
static void dims4(const rt_tensor *t, int64_t d[4]) {
  d[0] = t->dims[0], d[1] = t->dims[1];
  d[2] = t->rank == 4 ? t->dims[2] : 1;
  d[3] = t->dims[t->rank - 1];
}

static int eval_s2b(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  const size_t es = qat_rt_type_size(o->type);
  int64_t id[4], od[4];
  dims4(in, id);
  dims4(o, od);
  const uint8_t *src = rt_in_data(m, op, 0);
  uint8_t *dst = rt_out_data(m, op);
  const int64_t bh = op->block[0], bw = op->block[1], top = op->pads[0][0], left = op->pads[1][0];
  const size_t row = (size_t)od[3] * es;
  for (int64_t ob = 0; ob < od[0]; ob++) {
    const int64_t b = ob % id[0], sw = (ob / id[0]) % bw, sh = (ob / id[0]) / bw;
    for (int64_t oh = 0; oh < od[1]; oh++)
      for (int64_t ow = 0; ow < od[2]; ow++) {
        uint8_t *out = dst + (size_t)(((ob * od[1] + oh) * od[2] + ow)) * row;
        const int64_t ih = oh * bh + sh - top, iw = ow * bw + sw - left;
        if (ih < 0 || ih >= id[1] || iw < 0 || iw >= id[2]) {
          for (int64_t c = 0; c < od[3]; c++) memcpy(out + (size_t)c * es, op->pad_value, es);
        } else {
          memcpy(out, src + (size_t)(((b * id[1] + ih) * id[2] + iw)) * row, row);
        }
      }
  }
  return QAT_OK;
}

static int eval_b2s(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  const size_t es = qat_rt_type_size(o->type);
  int64_t id[4], od[4];
  dims4(in, id);
  dims4(o, od);
  const uint8_t *src = rt_in_data(m, op, 0);
  uint8_t *dst = rt_out_data(m, op);
  const int64_t bh = op->block[0], bw = op->block[1], top = op->pads[0][0], left = op->pads[1][0];
  const size_t row = (size_t)id[3] * es;
  for (int64_t ib = 0; ib < id[0]; ib++) {
    const int64_t b = ib % od[0], shift = ib / od[0];
    for (int64_t ih = 0; ih < id[1]; ih++) {
      const int64_t oh = ih * bh + shift / bw - top;
      if (oh < 0 || oh >= od[1]) continue;
      for (int64_t iw = 0; iw < id[2]; iw++) {
        const int64_t ow = iw * bw + shift % bw - left;
        if (ow < 0 || ow >= od[2]) continue;
        memcpy(dst + (size_t)(((b * od[1] + oh) * od[2] + ow)) * row,
               src + (size_t)(((ib * id[1] + ih) * id[2] + iw)) * row, row);
      }
    }
  }
  return QAT_OK;
}

/* Shared by both: to_batch says which way. */
int rt_prepare_space_batch(qat_rt_model *m, int k, rt_op *op, int to_batch) {
  int rc = rt_check_io_count(m, k, 3, 3, 1);
  if (rc) return rc;
  const rt_tensor *in = rt_in(m, op, 0), *bs = rt_in(m, op, 1), *pt = rt_in(m, op, 2), *o = rt_out(m, op, 0);
  const char *what = to_batch ? "paddings" : "crops";
  if (in->type != o->type || qat_rt_type_size(in->type) == 0 || qat_rt_type_size(in->type) > sizeof op->pad_value)
    return rt_unsup(m, k, "input %s, output %s", qat_rt_type_name(in->type), qat_rt_type_name(o->type));
  if (in->rank != 3 && in->rank != 4) return rt_unsup(m, k, "a rank-%d input (3 or 4 supported)", in->rank);
  const int sp = in->rank - 2; /* spatial dimensions */
  if (!bs->const_data || !pt->const_data)
    return rt_unsup(m, k, "a block shape or %s that is not a constant", what);
  if (bs->type != QAT_RT_INT32 || bs->rank != 1 || bs->dims[0] != sp)
    return rt_bad(m, k, "block_shape '%s' must be an INT32 [%d] tensor", bs->name, sp);
  if (pt->type != QAT_RT_INT32 || pt->rank != 2 || pt->dims[0] != sp || pt->dims[1] != 2)
    return rt_bad(m, k, "%s '%s' must be an INT32 [%d, 2] tensor", what, pt->name, sp);
  memset(op->pads, 0, sizeof op->pads);
  op->block[0] = op->block[1] = 1;
  int64_t id[4], od[4];
  dims4(in, id);
  for (int d = 0; d < sp; d++) {
    op->block[d] = ((const int32_t *)bs->const_data)[d];
    op->pads[d][0] = ((const int32_t *)pt->const_data)[2 * d];
    op->pads[d][1] = ((const int32_t *)pt->const_data)[2 * d + 1];
    if (op->block[d] < 1 || op->block[d] > QAT_RT_MAX_ELEMENTS || op->pads[d][0] < 0 || op->pads[d][1] < 0 ||
        op->pads[d][0] > QAT_RT_MAX_ELEMENTS || op->pads[d][1] > QAT_RT_MAX_ELEMENTS)
      return rt_bad(m, k, "block %lld or %s [%lld, %lld] along spatial axis %d is out of range",
                    (long long)op->block[d], what, (long long)op->pads[d][0], (long long)op->pads[d][1], d);
  }
  const int64_t blocks = op->block[0] * op->block[1];
  if (to_batch) {
    od[0] = id[0] * blocks;
    for (int d = 0; d < 2; d++) {
      const int64_t padded = id[1 + d] + op->pads[d][0] + op->pads[d][1];
      if (padded % op->block[d])
        return rt_bad(m, k, "padded size %lld along spatial axis %d is not a multiple of the block %lld",
                      (long long)padded, d, (long long)op->block[d]);
      od[1 + d] = padded / op->block[d];
    }
  } else {
    if (id[0] % blocks)
      return rt_bad(m, k, "batch %lld is not a multiple of the block size %lld", (long long)id[0], (long long)blocks);
    od[0] = id[0] / blocks;
    for (int d = 0; d < 2; d++) {
      od[1 + d] = id[1 + d] * op->block[d] - op->pads[d][0] - op->pads[d][1];
      if (od[1 + d] < 0) return rt_bad(m, k, "crops larger than the size along spatial axis %d", d);
    }
  }
  od[3] = id[3];
  int64_t want[4] = {od[0], od[1], od[2], od[3]};
  if (in->rank == 3) want[2] = od[3];
  /* the converter stores a batch of 1 where SPACE_TO_BATCH_ND makes block_h * block_w: TFLite
   * resizes its output, and what follows (rt_check_out_shape) up to BATCH_TO_SPACE_ND */
  if (!(to_batch && rt_resize_out(m, k, want, in->rank) == QAT_OK) && (rc = rt_check_out_shape(m, k, o, want, in->rank)))
    return rc;
  memset(op->pad_value, 0, sizeof op->pad_value);
  if (in->type == QAT_RT_INT8 || in->type == QAT_RT_UINT8 || in->type == QAT_RT_INT16) {
    if ((rc = rt_need_same_quant(m, k, in, o, op->name))) return rc;
    if (in->type == QAT_RT_INT16) {
      const int16_t v = (int16_t)o->zero_points[0];
      memcpy(op->pad_value, &v, sizeof v);
    } else {
      const int8_t v = (int8_t)o->zero_points[0];
      memcpy(op->pad_value, &v, 1);
    }
  }
  op->eval = to_batch ? eval_s2b : eval_b2s;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) { return rt_prepare_space_batch(m, k, op, 1); }

RT_REGISTER_OP(SPACE_TO_BATCH_ND, 4, NONE, NULL, 0, NULL, prepare);
