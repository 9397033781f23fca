/* float16 post-training quantization: the float32 graph with its float constants stored as
 * FLOAT16 and turned back into float32 by DEQUANTIZE ops, as the TF converter writes it with
 * optimizations=[DEFAULT] and supported_types=[float16] (TFLITE-NOTES.md section 5; MLIR
 * prepare-quantize-dynamic-range with enable-float16-quantization: weights and biases alike,
 * every float constant an op reads, whatever its size). The compute stays float32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/lower_ptq.h"
#include "qat/error.h"
#include "qat/export.h"

static int is_const_f32(const qat_tflite_tensor *t) { return t->data && t->type == QAT_TFLITE_FLOAT32; }

int qat_tflite_to_float16(const qat_tflite_model *src, qat_tflite_model *out) {
  qat_tflite_model_init(out);
  int rc = QAT_OK;
  /* Same indices: each float constant becomes the DEQUANTIZE output of the same name. */
  for (int i = 0; i < src->n_tensors && !rc; i++) {
    const qat_tflite_tensor *s = &src->tensors[i];
    rc = is_const_f32(s) ? ptq_add_tensor_like(out, s, QAT_TFLITE_FLOAT32, NULL, 0, 0)
                         : ptq_add_tensor_like(out, s, s->type, s->data, s->data_bytes, 1);
  }
  /* The FLOAT16 constants, after every original tensor, and their DEQUANTIZE ops first in the
   * graph (the converter hoists constants' dequantization to the top). */
  for (int i = 0; i < src->n_tensors && !rc; i++) {
    const qat_tflite_tensor *s = &src->tensors[i];
    if (!is_const_f32(s)) continue;
    size_t n = s->data_bytes / sizeof(float);
    uint16_t *h = malloc((n ? n : 1) * sizeof *h);
    if (!h) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering to float16");
      break;
    }
    const float *f = s->data;
    for (size_t k = 0; k < n; k++) h[k] = qat_float_to_half(f[k]);
    char name[512];
    snprintf(name, sizeof name, "%s_fp16", s->name);
    int idx = -1;
    rc = qat_tflite_add_tensor(out, name, QAT_TFLITE_FLOAT16, s->rank, s->dims, h, n * sizeof *h, &idx);
    free(h);
    if (rc) break;
    qat_tflite_operator op;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_DEQUANTIZE);
    op.n_inputs = 1;
    op.inputs[0] = idx;
    op.n_outputs = 1;
    op.outputs[0] = i;
    rc = qat_tflite_add_op(out, &op, NULL);
  }
  if (!rc) rc = ptq_copy_ops_and_io(src, out);
  if (!rc) rc = qat_tflite_validate(out);
  if (rc) qat_tflite_model_free(out);
  return rc;
}

int qat_export_float16(const qat_model *m, qat_tflite_model *out) {
  qat_tflite_model f32;
  int rc = qat_export_float32(m, &f32);
  if (rc) {
    qat_tflite_model_init(out);
    return rc;
  }
  rc = qat_tflite_to_float16(&f32, out);
  qat_tflite_model_free(&f32);
  return rc;
}
