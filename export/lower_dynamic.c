/* Dynamic-range ("hybrid") post-training quantization: the float32 graph with the weights of
 * CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED stored as int8, symmetric, narrow range
 * [-127, 127], zero point 0, as the TF converter writes them with optimizations=[DEFAULT] and
 * no representative dataset (MLIR prepare-quantize-dynamic-range, read not copied, and its
 * tests: tensorflow/compiler/mlir/lite/tests/prepare-quantize-dynamic-range.mlir):
 *   - CONV_2D per channel along dimension 0, DEPTHWISE_CONV_2D per channel along dimension 3,
 *     FULLY_CONNECTED per tensor with asymmetric_quantize_inputs = true;
 *   - weight tensors with fewer than QAT_DYNAMIC_MIN_ELEMENTS (1024, min-elements-for-weights)
 *     elements stay float32, and the op with them stays a float op;
 *   - biases, inputs and outputs stay float32; no QUANTIZE / DEQUANTIZE ops: the hybrid
 *     kernels quantize the activations at run time;
 *   - TRANSPOSE_CONV (its weights are input 1 too) per channel along dimension 0, as TF 2.21's
 *     converter writes it (a float bias; the kernel quantizes the input asymmetrically).
 * The scales are the ones quantization-aware training simulates (fakequant/:
 * max|w| / 127 per channel, 1 for an all-zero channel) and the values AffineQuantize's. */
#include <stdlib.h>
#include <string.h>

#include "export/lower_ptq.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/quant.h"

/* The weight tensor of op k that dynamic range quantizes, with its axis (-1: per tensor), or
 * -1 when the op stays float. */
static int hybrid_weight(const qat_tflite_model *t, const qat_tflite_operator *op, int *axis) {
  if (op->n_inputs < 2 || op->inputs[1] < 0) return -1;
  const qat_tflite_tensor *w = &t->tensors[op->inputs[1]];
  if (!w->data || w->type != QAT_TFLITE_FLOAT32) return -1;
  if ((int64_t)(w->data_bytes / sizeof(float)) < QAT_DYNAMIC_MIN_ELEMENTS) return -1;
  switch (op->op) {
  case QAT_TFLITE_OP_CONV_2D:
  case QAT_TFLITE_OP_TRANSPOSE_CONV: *axis = 0; break;
  case QAT_TFLITE_OP_DEPTHWISE_CONV_2D: *axis = 3; break;
  case QAT_TFLITE_OP_FULLY_CONNECTED: *axis = -1; break;
  default: return -1;
  }
  return op->inputs[1];
}

static int quantize_weight(qat_tflite_model *out, const qat_tflite_tensor *w, int axis) {
  int64_t shape[QAT_TFLITE_MAX_RANK], n = 1;
  for (int d = 0; d < w->rank; d++) {
    shape[d] = w->dims[d];
    n *= w->dims[d];
  }
  int channels = axis >= 0 ? w->dims[axis] : 1;
  float *scales = malloc((size_t)channels * sizeof *scales);
  int64_t *zps = calloc((size_t)channels, sizeof *zps);
  int8_t *q = malloc((size_t)(n ? n : 1));
  int rc = QAT_OK, index = -1;
  if (!scales || !zps || !q) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory quantizing '%s'", w->name);
    goto done;
  }
  if ((rc = qat_quant_weight_scales(w->data, shape, w->rank, axis, 127, scales))) {
    qat_fail_prefix(rc, "weights '%s': ", w->name);
    goto done;
  }
  if (axis < 0) {
    qat_quantize_int8(w->data, q, n, scales[0], 0, -127, 127);
  } else {
    int64_t outer, ch, inner;
    qat_quant_axis_split(shape, w->rank, axis, &outer, &ch, &inner);
    qat_quantize_int8_per_channel(w->data, q, outer, ch, inner, scales, NULL, -127, 127);
  }
  if ((rc = qat_tflite_add_tensor(out, w->name, QAT_TFLITE_INT8, w->rank, w->dims, q, (size_t)n, &index))) goto done;
  rc = qat_tflite_set_quant(out, index, channels, scales, zps, axis >= 0 ? axis : 0);
done:
  free(scales);
  free(zps);
  free(q);
  return rc;
}

int qat_tflite_to_dynamic(const qat_tflite_model *src, qat_tflite_model *out) {
  qat_tflite_model_init(out);
  int rc = QAT_OK;
  int *axis_of = malloc((size_t)(src->n_tensors ? src->n_tensors : 1) * sizeof *axis_of);
  char *quantized = calloc((size_t)(src->n_tensors ? src->n_tensors : 1), 1);
  if (!axis_of || !quantized) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering to dynamic range");
    goto done;
  }
  for (int k = 0; k < src->n_ops; k++) {
    int axis = -1, w = hybrid_weight(src, &src->ops[k], &axis);
    if (w < 0) continue;
    if (quantized[w] && axis_of[w] != axis) {
      rc = qat_fail(QAT_ERR_UNSUPPORTED, "weights '%s' are shared by ops that quantize them differently",
                    src->tensors[w].name);
      goto done;
    }
    quantized[w] = 1;
    axis_of[w] = axis;
  }
  for (int i = 0; i < src->n_tensors && !rc; i++) {
    const qat_tflite_tensor *s = &src->tensors[i];
    rc = quantized[i] ? quantize_weight(out, s, axis_of[i]) : ptq_add_tensor_like(out, s, s->type, s->data, s->data_bytes, 1);
  }
  if (rc) goto done;
  if ((rc = ptq_copy_ops_and_io(src, out))) goto done;
  for (int k = 0; k < out->n_ops; k++) {
    qat_tflite_operator *op = &out->ops[k];
    if (op->op == QAT_TFLITE_OP_FULLY_CONNECTED && out->tensors[op->inputs[1]].type == QAT_TFLITE_INT8)
      op->opt.asymmetric_quantize_inputs = 1;
  }
  rc = qat_tflite_validate(out);
done:
  free(axis_of);
  free(quantized);
  if (rc) qat_tflite_model_free(out);
  return rc;
}

int qat_export_dynamic(const qat_model *m, qat_tflite_model *out) {
  qat_tflite_model f32;
  int rc = qat_export_float32(m, &f32);
  if (rc) {
    qat_tflite_model_init(out);
    return rc;
  }
  rc = qat_tflite_to_dynamic(&f32, out);
  qat_tflite_model_free(&f32);
  return rc;
}
