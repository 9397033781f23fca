/* Helpers shared by the float32 (lower.c) and int8 (lower_int8.c) lowerings. Private to
 * export/. */
#ifndef QAT_EXPORT_LOWER_COMMON_H
#define QAT_EXPORT_LOWER_COMMON_H

#include <stdio.h>

#include "qat/export.h"
#include "qat/fq.h"
#include "qat/model.h"
#include "qat/tflite.h"

/* One operator with n_in inputs and one output. */
static inline int lower_add_op(qat_tflite_model *t, qat_tflite_operator *op, int n_in, const int *in, int out) {
  op->n_inputs = n_in;
  for (int k = 0; k < n_in; k++) op->inputs[k] = in[k];
  op->n_outputs = 1;
  op->outputs[0] = out;
  return qat_tflite_add_op(t, op, NULL);
}

static inline qat_tflite_padding lower_padding(const qat_layer_spec *l) {
  return l->padding == QAT_PADDING_SAME ? QAT_TFLITE_PADDING_SAME : QAT_TFLITE_PADDING_VALID;
}

/* The parameter "<layer name>/<suffix>" of layer li, or NULL. */
static inline const qat_param *lower_find_param(const qat_model *m, int li, const char *suffix) {
  char name[2 * QAT_NAME_MAX + 16];
  snprintf(name, sizeof name, "%s/%s", m->spec.layers[li].name, suffix);
  return qat_model_find_param(m, name);
}

/* A full-integer mode of the quantized lowering (lower_int8.c): int8 (lower_int8.c) or
 * int16x8 (lower_int16.c). The graph, the int8 per-channel weights and the fused chains are the
 * same; the modes differ in the activation type and parameters, the bias type (int32 / int64),
 * SOFTMAX's fixed output range and the validator. */
typedef struct lower_qmode {
  const char *name;     /* "int8", "int16x8": in messages */
  qat_tflite_type act;  /* QAT_TFLITE_INT8 or QAT_TFLITE_INT16 */
  float softmax_scale;  /* SOFTMAX output: 1/256 (int8), 1/32768 (int16) */
  int64_t softmax_zp;   /* -128 (int8), 0 (int16) */
  /* The activation parameters of a quantizer with a range (fails with a message) */
  int (*act_params)(const qat_fq *fq, float *scale, int64_t *zp);
  int (*validate)(const qat_tflite_model *t);
} lower_qmode;

/* Lowers a prepared QAT model in the given mode (qat_export_int8 and qat_export_int16x8). */
int lower_quantized(const qat_model *m, qat_export_io io, const lower_qmode *mode, qat_tflite_model *out);

#endif
