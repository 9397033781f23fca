/* Shared steps of the float16 and dynamic-range lowerings (lower_ptq.h). */
#include "export/lower_ptq.h"

#include "qat/error.h"

int ptq_add_tensor_like(qat_tflite_model *dst, const qat_tflite_tensor *s, qat_tflite_type type, const void *data,
                        size_t bytes, int copy_quant) {
  int index = -1;
  int rc = qat_tflite_add_tensor(dst, s->name, type, s->rank, s->dims, data, bytes, &index);
  if (!rc && copy_quant && s->quant.n > 0)
    rc = qat_tflite_set_quant(dst, index, s->quant.n, s->quant.scale, s->quant.zero_point,
                              s->quant.quantized_dimension);
  return rc;
}

int ptq_copy_ops_and_io(const qat_tflite_model *src, qat_tflite_model *dst) {
  int rc = QAT_OK;
  for (int k = 0; k < src->n_ops && !rc; k++) rc = qat_tflite_add_op(dst, &src->ops[k], NULL);
  for (int k = 0; k < src->n_inputs && !rc; k++)
    rc = qat_tflite_add_input(dst, src->inputs[k].tensor, src->inputs[k].name);
  for (int k = 0; k < src->n_outputs && !rc; k++)
    rc = qat_tflite_add_output(dst, src->outputs[k].tensor, src->outputs[k].name);
  return rc;
}
