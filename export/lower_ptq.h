/* Pieces the float16 and dynamic-range lowerings share: both rewrite the float32 lowering's
 * graph (qat_export_float32) tensor by tensor, keeping every tensor index. Private to export/. */
#ifndef QAT_EXPORT_LOWER_PTQ_H
#define QAT_EXPORT_LOWER_PTQ_H

#include <stddef.h>

#include "qat/tflite.h"

/* Appends a tensor named and shaped like s, with the given type and constant bytes (NULL: an
 * activation), and s's quantization when copy_quant is set. */
int ptq_add_tensor_like(qat_tflite_model *dst, const qat_tflite_tensor *s, qat_tflite_type type, const void *data,
                        size_t bytes, int copy_quant);

/* Appends src's operators (in order) and its signature inputs and outputs to dst; the tensor
 * indices must already mean the same tensors in dst. */
int ptq_copy_ops_and_io(const qat_tflite_model *src, qat_tflite_model *dst);

#endif
