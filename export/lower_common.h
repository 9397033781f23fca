/* Helpers shared by the float32 (lower.c) and int8 (lower_int8.c) lowerings. Private to
 * export/. */
#ifndef QAT_EXPORT_LOWER_COMMON_H
#define QAT_EXPORT_LOWER_COMMON_H

#include <stdio.h>

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

#endif
