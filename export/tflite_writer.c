/* The TFLite model IR's flatbuffer writer.
 *
 * Codes, option union ids and field ids are qat/tflite_schema.h's. The table sizes passed to
 * qat_fb_start_table are upper bounds on the ids used; the vtable only covers the fields
 * actually set. */
#include "qat/tflite.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "qat/atomic_file.h"
#include "qat/error.h"
#include "qat/flatbuf.h"
#include "qat/version.h"

/* ---- serialization ---- */

typedef struct writer {
  const qat_tflite_model *m;
  qat_fb_builder b;
  int *buffer_of;   /* per tensor: its buffer index (0 for activations) */
  int n_buffers;    /* including buffer 0 and the metadata buffer */
  int *opcode_of;   /* per operator: index into the operator codes */
  qat_tflite_op *codes;
  int *code_version;
  int n_codes;
} writer;

static qat_fb_off int_vector(qat_fb_builder *b, const int *v, int n) {
  int32_t tmp[QAT_TFLITE_MAX_RANK > QAT_TFLITE_MAX_OP_INPUTS ? QAT_TFLITE_MAX_RANK : QAT_TFLITE_MAX_OP_INPUTS];
  QAT_ASSERT(n <= (int)(sizeof tmp / sizeof tmp[0]));
  for (int i = 0; i < n; i++) tmp[i] = v[i];
  return qat_fb_create_vector(b, tmp, (size_t)n, 4, 0);
}

/* Buffer.data is force_align: 16. */
static qat_fb_off write_buffer(qat_fb_builder *b, const void *data, size_t bytes, size_t elem_size) {
  qat_fb_off vec = 0;
  if (data) vec = qat_fb_create_byte_vector(b, data, bytes / elem_size, elem_size, 16);
  qat_fb_start_table(b, QAT_TFLITE_Buffer__COUNT);
  qat_fb_add_offset(b, QAT_TFLITE_Buffer_data, vec);
  return qat_fb_end_table(b);
}

static qat_fb_off write_buffers(writer *w) {
  const qat_tflite_model *m = w->m;
  qat_fb_builder *b = &w->b;
  qat_fb_off *offs = calloc((size_t)w->n_buffers, sizeof *offs);
  if (!offs) return 0;
  /* Children first: the metadata string's buffer, then the constants from the last to the
   * first, so that in the finished file (built back to front) buffer data appears in index
   * order. Elements are stored little-endian by their own size (the builder swaps on a
   * big-endian host). */
  char version[QAT_TFLITE_RUNTIME_VERSION_BYTES] = {0};
  const char *runtime = NULL;
  for (int k = 0; k < m->n_ops; k++) {
    const char *r = qat_tflite_min_runtime(m->ops[k].op, w->code_version[w->opcode_of[k]]);
    if (r && qat_tflite_compare_versions(runtime, r) < 0) runtime = r;
  }
  if (runtime) memcpy(version, runtime, strlen(runtime)); /* at most "2.23.0": always < 16 */
  offs[w->n_buffers - 1] = write_buffer(b, version, sizeof version, 1);
  if (m->support_metadata)
    offs[w->n_buffers - 2] = write_buffer(b, m->support_metadata, m->support_metadata_bytes, 1);
  for (int i = m->n_tensors - 1; i >= 0; i--) {
    const qat_tflite_tensor *t = &m->tensors[i];
    if (t->data) offs[w->buffer_of[i]] = write_buffer(b, t->data, t->data_bytes, qat_tflite_type_size(t->type));
  }
  offs[0] = write_buffer(b, NULL, 0, 1);
  qat_fb_off v = qat_fb_create_offset_vector(b, offs, (size_t)w->n_buffers);
  free(offs);
  return v;
}

/* All-zero zero-point vectors (symmetric weights and biases: one per quantized tensor) are
 * written once per length and shared: a flatbuffer may point to one vector from several tables,
 * and it saves 8 bytes per channel of every per-channel tensor after the first (the dynamic-range
 * export of examples/cifar10_cnn.yaml gets under the TF converter's size with it). */
typedef struct zp_cache {
  int n[64];
  qat_fb_off off[64];
  int count;
} zp_cache;

static qat_fb_off write_quant(qat_fb_builder *b, const qat_tflite_quant *q, zp_cache *zc) {
  if (q->n == 0) return 0;
  qat_fb_off scale = qat_fb_create_vector(b, q->scale, (size_t)q->n, 4, 0);
  int zeros = 1;
  for (int k = 0; k < q->n && zeros; k++) zeros = q->zero_point[k] == 0;
  qat_fb_off zp = 0;
  for (int k = 0; zeros && k < zc->count && !zp; k++)
    if (zc->n[k] == q->n) zp = zc->off[k];
  if (!zp) {
    zp = qat_fb_create_vector(b, q->zero_point, (size_t)q->n, 8, 0);
    if (zeros && zc->count < 64) {
      zc->n[zc->count] = q->n;
      zc->off[zc->count++] = zp;
    }
  }
  qat_fb_start_table(b, QAT_TFLITE_QuantizationParameters__COUNT);
  qat_fb_add_offset(b, QAT_TFLITE_QuantizationParameters_scale, scale);
  qat_fb_add_offset(b, QAT_TFLITE_QuantizationParameters_zero_point, zp);
  qat_fb_add_scalar_i32(b, QAT_TFLITE_QuantizationParameters_quantized_dimension, q->quantized_dimension, 0);
  return qat_fb_end_table(b);
}

static qat_fb_off write_tensors(writer *w) {
  const qat_tflite_model *m = w->m;
  qat_fb_builder *b = &w->b;
  qat_fb_off *offs = calloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *offs);
  if (!offs) return 0;
  zp_cache zc = {.count = 0};
  for (int i = 0; i < m->n_tensors; i++) {
    const qat_tflite_tensor *t = &m->tensors[i];
    qat_fb_off shape = int_vector(b, t->dims, t->rank);
    qat_fb_off name = qat_fb_create_string(b, t->name);
    qat_fb_off quant = write_quant(b, &t->quant, &zc);
    qat_fb_start_table(b, QAT_TFLITE_Tensor__COUNT);
    qat_fb_add_offset(b, QAT_TFLITE_Tensor_quantization, quant);
    qat_fb_add_offset(b, QAT_TFLITE_Tensor_name, name);
    qat_fb_add_scalar_u32(b, QAT_TFLITE_Tensor_buffer, (uint32_t)w->buffer_of[i], 0);
    qat_fb_add_offset(b, QAT_TFLITE_Tensor_shape, shape);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_Tensor_type, (int8_t)t->type, 0);
    offs[i] = qat_fb_end_table(b);
  }
  qat_fb_off v = qat_fb_create_offset_vector(b, offs, (size_t)m->n_tensors);
  free(offs);
  return v;
}

/* The op's BuiltinOptions table (and its union type in *type), or 0 / NONE for ops whose
 * options the converter leaves out. */
static qat_fb_off write_options(qat_fb_builder *b, const qat_tflite_operator *op, uint8_t *type) {
  const qat_tflite_options *o = &op->opt;
  *type = QAT_TFLITE_OPTIONS_NONE;
  switch (op->op) {
  case QAT_TFLITE_OP_CONV_2D:
    *type = QAT_TFLITE_OPTIONS_Conv2DOptions;
    qat_fb_start_table(b, QAT_TFLITE_Conv2DOptions__COUNT);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_Conv2DOptions_stride_w, o->stride_w, 0);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_Conv2DOptions_stride_h, o->stride_h, 0);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_Conv2DOptions_dilation_w_factor, o->dilation_w, 1);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_Conv2DOptions_dilation_h_factor, o->dilation_h, 1);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_Conv2DOptions_padding, (int8_t)o->padding, 0);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_Conv2DOptions_fused_activation_function, (int8_t)o->activation, 0);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_Conv2DOptions_quantized_bias_type, (int8_t)o->quantized_bias_type, 0);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_TRANSPOSE_CONV:
    *type = QAT_TFLITE_OPTIONS_TransposeConvOptions;
    qat_fb_start_table(b, QAT_TFLITE_TransposeConvOptions__COUNT);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_TransposeConvOptions_stride_w, o->stride_w, 0);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_TransposeConvOptions_stride_h, o->stride_h, 0);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_TransposeConvOptions_padding, (int8_t)o->padding, 0);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_TransposeConvOptions_fused_activation_function, (int8_t)o->activation, 0);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_TransposeConvOptions_quantized_bias_type, (int8_t)o->quantized_bias_type, 0);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_DEPTHWISE_CONV_2D:
    *type = QAT_TFLITE_OPTIONS_DepthwiseConv2DOptions;
    qat_fb_start_table(b, QAT_TFLITE_DepthwiseConv2DOptions__COUNT);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_DepthwiseConv2DOptions_stride_w, o->stride_w, 0);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_DepthwiseConv2DOptions_stride_h, o->stride_h, 0);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_DepthwiseConv2DOptions_depth_multiplier, o->depth_multiplier, 0);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_DepthwiseConv2DOptions_dilation_w_factor, o->dilation_w, 1);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_DepthwiseConv2DOptions_dilation_h_factor, o->dilation_h, 1);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_DepthwiseConv2DOptions_padding, (int8_t)o->padding, 0);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_DepthwiseConv2DOptions_fused_activation_function, (int8_t)o->activation, 0);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_MAX_POOL_2D:
  case QAT_TFLITE_OP_AVERAGE_POOL_2D:
    *type = QAT_TFLITE_OPTIONS_Pool2DOptions;
    qat_fb_start_table(b, QAT_TFLITE_Pool2DOptions__COUNT);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_Pool2DOptions_stride_w, o->stride_w, 0);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_Pool2DOptions_stride_h, o->stride_h, 0);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_Pool2DOptions_filter_width, o->filter_w, 0);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_Pool2DOptions_filter_height, o->filter_h, 0);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_Pool2DOptions_padding, (int8_t)o->padding, 0);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_Pool2DOptions_fused_activation_function, (int8_t)o->activation, 0);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_FULLY_CONNECTED:
    *type = QAT_TFLITE_OPTIONS_FullyConnectedOptions;
    qat_fb_start_table(b, QAT_TFLITE_FullyConnectedOptions__COUNT);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_FullyConnectedOptions_fused_activation_function, (int8_t)o->activation, 0);
    qat_fb_add_scalar_bool(b, QAT_TFLITE_FullyConnectedOptions_keep_num_dims, o->keep_num_dims != 0, false);
    qat_fb_add_scalar_bool(b, QAT_TFLITE_FullyConnectedOptions_asymmetric_quantize_inputs, o->asymmetric_quantize_inputs != 0, false);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_FullyConnectedOptions_quantized_bias_type, (int8_t)o->quantized_bias_type, 0);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_SOFTMAX:
    /* beta: the schema default is 0.0, so it is always stored (the converter writes 1) */
    *type = QAT_TFLITE_OPTIONS_SoftmaxOptions;
    qat_fb_start_table(b, QAT_TFLITE_SoftmaxOptions__COUNT);
    qat_fb_add_scalar_f32(b, QAT_TFLITE_SoftmaxOptions_beta, o->beta, 0.0f);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_ADD:
    *type = QAT_TFLITE_OPTIONS_AddOptions;
    qat_fb_start_table(b, QAT_TFLITE_AddOptions__COUNT);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_AddOptions_fused_activation_function, (int8_t)o->activation, 0);
    qat_fb_add_scalar_bool(b, QAT_TFLITE_AddOptions_pot_scale_int16, o->pot_scale_int16 != 0, true);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_SUB:
    *type = QAT_TFLITE_OPTIONS_SubOptions;
    qat_fb_start_table(b, QAT_TFLITE_SubOptions__COUNT);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_SubOptions_fused_activation_function, (int8_t)o->activation, 0);
    qat_fb_add_scalar_bool(b, QAT_TFLITE_SubOptions_pot_scale_int16, o->pot_scale_int16 != 0, true);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_STRIDED_SLICE: /* qat's slices (Cropping2D) spell every bound out: no masks */
    *type = QAT_TFLITE_OPTIONS_StridedSliceOptions;
    qat_fb_start_table(b, QAT_TFLITE_StridedSliceOptions__COUNT);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_MAXIMUM: /* an empty table, as the converter writes it */
  case QAT_TFLITE_OP_MINIMUM:
    *type = QAT_TFLITE_OPTIONS_MaximumMinimumOptions;
    qat_fb_start_table(b, QAT_TFLITE_MaximumMinimumOptions__COUNT);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_LESS: /* empty tables */
    *type = QAT_TFLITE_OPTIONS_LessOptions;
    qat_fb_start_table(b, QAT_TFLITE_LessOptions__COUNT);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_SELECT_V2:
    *type = QAT_TFLITE_OPTIONS_SelectV2Options;
    qat_fb_start_table(b, QAT_TFLITE_SelectV2Options__COUNT);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_PAD: /* an empty table, as the converter writes it */
    *type = QAT_TFLITE_OPTIONS_PadOptions;
    qat_fb_start_table(b, QAT_TFLITE_PadOptions__COUNT);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_RESHAPE: {
    /* new_shape only when asked for: the MLIR converter passes the shape as the 2nd input and
     * writes no options. */
    if (o->n_new_shape <= 0) return 0;
    qat_fb_off shape = int_vector(b, o->new_shape, o->n_new_shape);
    *type = QAT_TFLITE_OPTIONS_ReshapeOptions;
    qat_fb_start_table(b, QAT_TFLITE_ReshapeOptions__COUNT);
    qat_fb_add_offset(b, QAT_TFLITE_ReshapeOptions_new_shape, shape);
    return qat_fb_end_table(b);
  }
  case QAT_TFLITE_OP_MUL:
    *type = QAT_TFLITE_OPTIONS_MulOptions;
    qat_fb_start_table(b, QAT_TFLITE_MulOptions__COUNT);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_MulOptions_fused_activation_function, (int8_t)o->activation, 0);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_LEAKY_RELU:
    *type = QAT_TFLITE_OPTIONS_LeakyReluOptions;
    qat_fb_start_table(b, QAT_TFLITE_LeakyReluOptions__COUNT);
    qat_fb_add_scalar_f32(b, QAT_TFLITE_LeakyReluOptions_alpha, o->alpha, 0.0f);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_CONCATENATION:
    *type = QAT_TFLITE_OPTIONS_ConcatenationOptions;
    qat_fb_start_table(b, QAT_TFLITE_ConcatenationOptions__COUNT);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_ConcatenationOptions_axis, o->axis, 0);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_ConcatenationOptions_fused_activation_function, (int8_t)o->activation, 0);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_RESIZE_BILINEAR:
    *type = QAT_TFLITE_OPTIONS_ResizeBilinearOptions;
    qat_fb_start_table(b, QAT_TFLITE_ResizeBilinearOptions__COUNT);
    qat_fb_add_scalar_bool(b, QAT_TFLITE_ResizeBilinearOptions_align_corners, o->align_corners != 0, false);
    qat_fb_add_scalar_bool(b, QAT_TFLITE_ResizeBilinearOptions_half_pixel_centers, o->half_pixel_centers != 0, false);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR:
    *type = QAT_TFLITE_OPTIONS_ResizeNearestNeighborOptions;
    qat_fb_start_table(b, QAT_TFLITE_ResizeNearestNeighborOptions__COUNT);
    qat_fb_add_scalar_bool(b, QAT_TFLITE_ResizeNearestNeighborOptions_align_corners, o->align_corners != 0, false);
    qat_fb_add_scalar_bool(b, QAT_TFLITE_ResizeNearestNeighborOptions_half_pixel_centers, o->half_pixel_centers != 0,
                           false);
    return qat_fb_end_table(b);
  case QAT_TFLITE_OP_MEAN:
  case QAT_TFLITE_OP_REDUCE_MAX:
    *type = QAT_TFLITE_OPTIONS_ReducerOptions;
    qat_fb_start_table(b, QAT_TFLITE_ReducerOptions__COUNT);
    qat_fb_add_scalar_bool(b, QAT_TFLITE_ReducerOptions_keep_dims, o->keep_dims != 0, false);
    return qat_fb_end_table(b);
  default:
    /* RELU, RELU6, LOGISTIC, TANH, HARD_SWISH, ELU: no options table exists. QUANTIZE, DEQUANTIZE: empty tables that the
     * converter does not write. */
    return 0;
  }
}

static qat_fb_off write_operators(writer *w) {
  const qat_tflite_model *m = w->m;
  qat_fb_builder *b = &w->b;
  qat_fb_off *offs = calloc((size_t)(m->n_ops ? m->n_ops : 1), sizeof *offs);
  if (!offs) return 0;
  for (int k = 0; k < m->n_ops; k++) {
    const qat_tflite_operator *op = &m->ops[k];
    qat_fb_off in = int_vector(b, op->inputs, op->n_inputs);
    qat_fb_off out = int_vector(b, op->outputs, op->n_outputs);
    uint8_t type;
    qat_fb_off options = write_options(b, op, &type);
    qat_fb_start_table(b, QAT_TFLITE_Operator__COUNT);
    qat_fb_add_offset(b, QAT_TFLITE_Operator_inputs, in);
    qat_fb_add_offset(b, QAT_TFLITE_Operator_outputs, out);
    qat_fb_add_union(b, QAT_TFLITE_Operator_builtin_options_type, type, options);
    qat_fb_add_scalar_u32(b, QAT_TFLITE_Operator_opcode_index, (uint32_t)w->opcode_of[k], 0);
    offs[k] = qat_fb_end_table(b);
  }
  qat_fb_off v = qat_fb_create_offset_vector(b, offs, (size_t)m->n_ops);
  free(offs);
  return v;
}

static qat_fb_off write_opcodes(writer *w) {
  qat_fb_builder *b = &w->b;
  qat_fb_off offs[32];
  QAT_ASSERT(w->n_codes <= 32);
  for (int c = 0; c < w->n_codes; c++) {
    int code = (int)w->codes[c];
    qat_fb_start_table(b, QAT_TFLITE_OperatorCode__COUNT);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_OperatorCode_builtin_code, code, 0);
    /* Stored even when it is the default 1, so every file names its op versions outright. */
    qat_fb_builder_set_force_defaults(b, true);
    qat_fb_add_scalar_i32(b, QAT_TFLITE_OperatorCode_version, w->code_version[c], 1);
    qat_fb_builder_set_force_defaults(b, false);
    qat_fb_add_scalar_i8(b, QAT_TFLITE_OperatorCode_deprecated_builtin_code, (int8_t)(code < QAT_TFLITE_PLACEHOLDER_FOR_GREATER_OP_CODES ? code : QAT_TFLITE_PLACEHOLDER_FOR_GREATER_OP_CODES),
                         0);
    offs[c] = qat_fb_end_table(b);
  }
  return qat_fb_create_offset_vector(b, offs, (size_t)w->n_codes);
}

static qat_fb_off write_tensor_maps(qat_fb_builder *b, const qat_tflite_io *io, int n) {
  qat_fb_off offs[QAT_TFLITE_MAX_IO];
  for (int i = 0; i < n; i++) {
    qat_fb_off name = qat_fb_create_string(b, io[i].name);
    qat_fb_start_table(b, QAT_TFLITE_TensorMap__COUNT);
    qat_fb_add_offset(b, QAT_TFLITE_TensorMap_name, name);
    qat_fb_add_scalar_u32(b, QAT_TFLITE_TensorMap_tensor_index, (uint32_t)io[i].tensor, 0);
    offs[i] = qat_fb_end_table(b);
  }
  return qat_fb_create_offset_vector(b, offs, (size_t)n);
}

static qat_fb_off write_signature(writer *w) {
  qat_fb_builder *b = &w->b;
  qat_fb_off in = write_tensor_maps(b, w->m->inputs, w->m->n_inputs);
  qat_fb_off out = write_tensor_maps(b, w->m->outputs, w->m->n_outputs);
  qat_fb_off key = qat_fb_create_string(b, "serving_default");
  qat_fb_start_table(b, QAT_TFLITE_SignatureDef__COUNT);
  qat_fb_add_offset(b, QAT_TFLITE_SignatureDef_inputs, in);
  qat_fb_add_offset(b, QAT_TFLITE_SignatureDef_outputs, out);
  qat_fb_add_offset(b, QAT_TFLITE_SignatureDef_signature_key, key);
  qat_fb_add_scalar_u32(b, QAT_TFLITE_SignatureDef_subgraph_index, 0, 0);
  qat_fb_off sig = qat_fb_end_table(b);
  return qat_fb_create_offset_vector(b, &sig, 1);
}

/* Assigns buffers (constants in tensor order from 1, the metadata string last) and operator
 * codes (in order of first use, each at the highest version its operators need). */
static int plan(writer *w) {
  const qat_tflite_model *m = w->m;
  w->buffer_of = calloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *w->buffer_of);
  w->opcode_of = calloc((size_t)(m->n_ops ? m->n_ops : 1), sizeof *w->opcode_of);
  w->codes = calloc(32, sizeof *w->codes);
  w->code_version = calloc(32, sizeof *w->code_version);
  if (!w->buffer_of || !w->opcode_of || !w->codes || !w->code_version)
    return qat_fail(QAT_ERR_NOMEM, "tflite: out of memory");
  w->n_buffers = 1;
  for (int i = 0; i < m->n_tensors; i++) w->buffer_of[i] = m->tensors[i].data ? w->n_buffers++ : 0;
  if (m->support_metadata) w->n_buffers++; /* TFLITE_METADATA */
  w->n_buffers++;                           /* min_runtime_version */
  for (int k = 0; k < m->n_ops; k++) {
    int c = 0;
    while (c < w->n_codes && w->codes[c] != m->ops[k].op) c++;
    if (c == w->n_codes) {
      QAT_ASSERT(c < 32); /* validation admits only QAT_TFLITE_WRITTEN_OPS */
      w->codes[c] = m->ops[k].op;
      w->code_version[c] = 1;
      w->n_codes++;
    }
    w->opcode_of[k] = c;
    int v = qat_tflite_op_version(m, &m->ops[k]);
    if (v > w->code_version[c]) w->code_version[c] = v;
  }
  return QAT_OK;
}

static void writer_free(writer *w) {
  free(w->buffer_of);
  free(w->opcode_of);
  free(w->codes);
  free(w->code_version);
  qat_fb_builder_free(&w->b);
}

static int build(writer *w) {
  const qat_tflite_model *m = w->m;
  qat_fb_builder *b = &w->b;
  int rc = plan(w);
  if (rc) return rc;
  /* Constants first: they are most of the bytes and land at the end of the file. */
  qat_fb_off buffers = write_buffers(w);
  qat_fb_off tensors = write_tensors(w);
  qat_fb_off operators = write_operators(w);
  if (!buffers || !tensors || !operators) {
    if (!qat_fb_builder_status(b)) return qat_fail(QAT_ERR_NOMEM, "tflite: out of memory");
    return qat_fb_builder_status(b);
  }
  int32_t tmp[QAT_TFLITE_MAX_IO];
  for (int i = 0; i < m->n_inputs; i++) tmp[i] = m->inputs[i].tensor;
  qat_fb_off inputs = qat_fb_create_vector(b, tmp, (size_t)m->n_inputs, 4, 0);
  for (int i = 0; i < m->n_outputs; i++) tmp[i] = m->outputs[i].tensor;
  qat_fb_off outputs = qat_fb_create_vector(b, tmp, (size_t)m->n_outputs, 4, 0);
  qat_fb_off sg_name = qat_fb_create_string(b, "main");
  qat_fb_start_table(b, QAT_TFLITE_SubGraph__COUNT);
  qat_fb_add_offset(b, QAT_TFLITE_SubGraph_tensors, tensors);
  qat_fb_add_offset(b, QAT_TFLITE_SubGraph_inputs, inputs);
  qat_fb_add_offset(b, QAT_TFLITE_SubGraph_outputs, outputs);
  qat_fb_add_offset(b, QAT_TFLITE_SubGraph_operators, operators);
  qat_fb_add_offset(b, QAT_TFLITE_SubGraph_name, sg_name);
  qat_fb_off subgraph = qat_fb_end_table(b);
  qat_fb_off subgraphs = qat_fb_create_offset_vector(b, &subgraph, 1);
  qat_fb_off opcodes = write_opcodes(w);
  qat_fb_off signatures = write_signature(w);
  /* min_runtime_version, then TFLITE_METADATA (the order the converter and TFLite Support's
   * populator leave them in) */
  qat_fb_off md[2];
  const int n_md = m->support_metadata ? 2 : 1;
  for (int k = 0; k < n_md; k++) {
    qat_fb_off md_name = qat_fb_create_string(b, k ? "TFLITE_METADATA" : "min_runtime_version");
    qat_fb_start_table(b, QAT_TFLITE_Metadata__COUNT);
    qat_fb_add_offset(b, QAT_TFLITE_Metadata_name, md_name);
    qat_fb_add_scalar_u32(b, QAT_TFLITE_Metadata_buffer, (uint32_t)(w->n_buffers - 1 - k), 0);
    md[k] = qat_fb_end_table(b);
  }
  qat_fb_off metadata = qat_fb_create_offset_vector(b, md, (size_t)n_md);
  qat_fb_off description = qat_fb_create_string(b, "qat " QAT_VERSION);
  qat_fb_start_table(b, QAT_TFLITE_Model__COUNT);
  qat_fb_add_offset(b, QAT_TFLITE_Model_operator_codes, opcodes);
  qat_fb_add_offset(b, QAT_TFLITE_Model_subgraphs, subgraphs);
  qat_fb_add_offset(b, QAT_TFLITE_Model_description, description);
  qat_fb_add_offset(b, QAT_TFLITE_Model_buffers, buffers);
  qat_fb_add_offset(b, QAT_TFLITE_Model_metadata, metadata);
  qat_fb_add_offset(b, QAT_TFLITE_Model_signature_defs, signatures);
  qat_fb_add_scalar_u32(b, QAT_TFLITE_Model_version, QAT_TFLITE_SCHEMA_VERSION, 0);
  qat_fb_off model = qat_fb_end_table(b);
  /* The builder's errors are sticky: the first one (with its message) comes back here. */
  return qat_fb_finish(b, model, QAT_TFLITE_FILE_IDENTIFIER);
}

int qat_tflite_serialize(const qat_tflite_model *m, uint8_t **bytes, size_t *size) {
  *bytes = NULL;
  *size = 0;
  int rc = qat_tflite_validate(m);
  if (rc) return rc;
  writer w;
  memset(&w, 0, sizeof w);
  w.m = m;
  size_t estimate = 4096;
  for (int i = 0; i < m->n_tensors; i++) estimate += m->tensors[i].data_bytes + 128;
  estimate += m->support_metadata_bytes;
  qat_fb_builder_init(&w.b, estimate);
  if ((rc = build(&w))) goto free_writer;
  size_t n;
  const uint8_t *data = qat_fb_data(&w.b, &n);
  uint8_t *copy = malloc(n);
  if (!copy) {
    rc = qat_fail(QAT_ERR_NOMEM, "tflite: out of memory for a %zu-byte file", n);
    goto free_writer;
  }
  memcpy(copy, data, n);
  *bytes = copy;
  *size = n;
free_writer:
  writer_free(&w);
  return rc;
}

int qat_tflite_write(const qat_tflite_model *m, const char *path) {
  uint8_t *bytes;
  size_t n;
  int rc = qat_tflite_serialize(m, &bytes, &n);
  if (rc) return rc;
  rc = qat_atomic_write(path, bytes, n);
  free(bytes);
  return rc;
}
