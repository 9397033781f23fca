/* PAD (builtin 34; versions 1-6) and PADV2 (builtin 60; versions 1-6): any fixed-size type,
 * the input copied into the middle of the output (reference_ops::Pad), paddings a constant
 * INT32 or INT64 [rank, 2] tensor. The padding element: 0.0f for float32 PAD, the output zero
 * point for quantized PAD (pad.cc), PADV2's constant_values scalar otherwise (its bytes, as
 * pad.cc copies them; quantized it must share the output's zero point). Input and output
 * quantization must agree (the kernel does not rescale). PADV2 (ops/padv2.c) shares this
 * Prepare: the two differ only in the padding element. */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

/* count padding elements at p: a memset for bytes, the element's bytes repeated otherwise */
static void fill(uint8_t *p, int64_t count, const uint8_t *value, size_t es) {
  if (es == 1) {
    memset(p, value[0], (size_t)count);
    return;
  }
  for (int64_t i = 0; i < count; i++) memcpy(p + (size_t)i * es, value, es);
}

/* Dimensions after the last padded one join the row: NHWC padded in H and W copies rows of
 * W * C elements. Each output row (every index before the row's) either lies in the padding
 * (all pad elements) or holds an input row, copied whole, between its leading and trailing
 * pads. */
static int eval(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  const size_t es = qat_rt_type_size(o->type);
  int j = o->rank - 1;
  int64_t block = 1; /* elements of the unpadded dimensions after j */
  while (j > 0 && op->pads[j][0] == 0 && op->pads[j][1] == 0) block *= o->dims[j--];
  const uint8_t *src = rt_in_data(m, op, 0);
  uint8_t *dst = rt_out_data(m, op);
  const int64_t ow = o->dims[j] * block, iw = in->dims[j] * block, left = op->pads[j][0] * block,
                right = ow - left - iw;
  const int64_t rows = o->n_elems / ow;
  int64_t idx[QAT_RT_MAX_RANK] = {0};
  for (int64_t row = 0; row < rows; row++) {
    int inside = 1;
    int64_t irow = 0;
    for (int d = 0; d < j; d++) {
      const int64_t i = idx[d] - op->pads[d][0];
      if (i < 0 || i >= in->dims[d]) inside = 0;
      irow = irow * in->dims[d] + i;
    }
    uint8_t *out_row = dst + (size_t)(row * ow) * es;
    if (!inside) {
      fill(out_row, ow, op->pad_value, es);
    } else {
      fill(out_row, left, op->pad_value, es);
      memcpy(out_row + (size_t)left * es, src + (size_t)(irow * iw) * es, (size_t)iw * es);
      fill(out_row + (size_t)(left + iw) * es, right, op->pad_value, es);
    }
    for (int d = j - 1; d >= 0; d--) {
      if (++idx[d] < o->dims[d]) break;
      idx[d] = 0;
    }
  }
  return QAT_OK;
}

int rt_prepare_pad(qat_rt_model *m, int k, rt_op *op) {
  const int v2 = op->code == QAT_TFLITE_BUILTIN_PADV2;
  int rc = rt_check_io_count(m, k, 2, v2 ? 3 : 2, 1);
  if (rc) return rc;
  const rt_tensor *in = rt_in(m, op, 0), *pt = rt_in(m, op, 1), *cv = rt_in(m, op, 2);
  const rt_tensor *o = rt_out(m, op, 0);
  if (in->type != o->type)
    return rt_bad(m, k, "input is %s, output %s", qat_rt_type_name(in->type),
                  qat_rt_type_name(o->type));
  const size_t es = qat_rt_type_size(in->type);
  if (es == 0 || es > sizeof op->pad_value)
    return rt_unsup(m, k, "tensors of type %s", qat_rt_type_name(in->type));
  if (in->rank < 1) return rt_unsup(m, k, "a scalar input");
  if (!pt->const_data) return rt_unsup(m, k, "the paddings tensor '%s' is not a constant", pt->name);
  if ((pt->type != QAT_RT_INT32 && pt->type != QAT_RT_INT64) || pt->rank != 2 ||
      pt->dims[0] != in->rank || pt->dims[1] != 2)
    return rt_bad(m, k, "paddings '%s' must be an INT32 or INT64 [%d, 2] tensor", pt->name,
                  in->rank);
  int64_t od[QAT_RT_MAX_RANK];
  for (int d = 0; d < in->rank; d++) {
    for (int s = 0; s < 2; s++) {
      const int64_t v = pt->type == QAT_RT_INT32 ? ((const int32_t *)pt->const_data)[2 * d + s]
                                                 : ((const int64_t *)pt->const_data)[2 * d + s];
      if (v < 0 || v > QAT_RT_MAX_ELEMENTS)
        return rt_bad(m, k, "padding [%d][%d] = %lld is negative or too large", d, s,
                      (long long)v);
      op->pads[d][s] = v;
    }
    od[d] = in->dims[d] + op->pads[d][0] + op->pads[d][1];
  }
  if ((rc = rt_check_out_shape(m, k, o, od, in->rank))) return rc;
  memset(op->pad_value, 0, sizeof op->pad_value);
  const int quantized = in->type == QAT_RT_INT8 || in->type == QAT_RT_UINT8 ||
                        in->type == QAT_RT_INT16;
  if (quantized) {
    if ((rc = rt_need_same_quant(m, k, in, o, "PAD"))) return rc;
    const int32_t zp = (int32_t)o->zero_points[0];
    if (in->type == QAT_RT_INT16) {
      const int16_t v = (int16_t)zp;
      memcpy(op->pad_value, &v, es);
    } else {
      const int8_t v = (int8_t)zp; /* uint8 zero points 0..255 keep their byte */
      memcpy(op->pad_value, &v, es);
    }
  }
  if (cv) {
    if (cv->type != in->type || cv->n_elems != 1)
      return rt_bad(m, k, "constant_values '%s' must be one %s", cv->name,
                    qat_rt_type_name(in->type));
    if (!cv->const_data)
      return rt_unsup(m, k, "constant_values '%s' is not a constant", cv->name);
    if (quantized && (cv->n_q < 1 || cv->zero_points[0] != o->zero_points[0]))
      return rt_bad(m, k, "constant_values '%s' must share the output's zero point", cv->name);
    memcpy(op->pad_value, cv->const_data, es);
  }
  op->eval = eval;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(PAD, 6, PadOptions, NULL, 0, NULL, rt_prepare_pad);
