/* The runtime tests' TFLite writer (tests/support/tflite_builder.h). */
#include "tests/support/tflite_builder.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "qat/flatbuf.h"
#include "qat/tflite_schema.h"

static qat_fb_off vec_i32(qat_fb_builder *b, const int32_t *v, int n) {
  return qat_fb_create_vector(b, v, (size_t)n, 4, 0);
}

static qat_fb_off write_options(qat_fb_builder *b, const tb_op *op, int *type) {
  *type = op->opt_type;
  if (op->opt_type < 0) {
    *type = 0;
    return 0;
  }
  qat_fb_off shape = 0;
  if (op->code == QAT_TFLITE_BUILTIN_RESHAPE && op->n_new_shape >= 0) shape = vec_i32(b, op->new_shape, op->n_new_shape);
  qat_fb_off sq = 0;
  if (op->code == QAT_TFLITE_BUILTIN_SQUEEZE && op->n_squeeze > 0)
    sq = vec_i32(b, op->squeeze, op->n_squeeze);
  int t = 0;
  switch (op->code) {
    case QAT_TFLITE_BUILTIN_MUL:
      t = QAT_TFLITE_OPTIONS_MulOptions;
      qat_fb_start_table(b, QAT_TFLITE_MulOptions__COUNT);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_MulOptions_fused_activation_function, (int8_t)op->act, 0);
      break;
    case QAT_TFLITE_BUILTIN_SUB:
      t = QAT_TFLITE_OPTIONS_SubOptions;
      qat_fb_start_table(b, QAT_TFLITE_SubOptions__COUNT);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_SubOptions_fused_activation_function, (int8_t)op->act, 0);
      if (op->pot_scale_int16_false) qat_fb_add_scalar_bool(b, QAT_TFLITE_SubOptions_pot_scale_int16, false, true);
      break;
    case QAT_TFLITE_BUILTIN_CONCATENATION:
      t = QAT_TFLITE_OPTIONS_ConcatenationOptions;
      qat_fb_start_table(b, QAT_TFLITE_ConcatenationOptions__COUNT);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_ConcatenationOptions_axis, op->axis, 0);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_ConcatenationOptions_fused_activation_function, (int8_t)op->act, 0);
      break;
    case QAT_TFLITE_BUILTIN_PACK:
      t = QAT_TFLITE_OPTIONS_PackOptions;
      qat_fb_start_table(b, QAT_TFLITE_PackOptions__COUNT);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_PackOptions_values_count, op->values_count, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_PackOptions_axis, op->axis, 0);
      break;
    case QAT_TFLITE_BUILTIN_STRIDED_SLICE:
      t = QAT_TFLITE_OPTIONS_StridedSliceOptions;
      qat_fb_start_table(b, QAT_TFLITE_StridedSliceOptions__COUNT);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_StridedSliceOptions_begin_mask, op->begin_mask, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_StridedSliceOptions_end_mask, op->end_mask, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_StridedSliceOptions_shrink_axis_mask, op->shrink_axis_mask, 0);
      qat_fb_add_scalar_bool(b, QAT_TFLITE_StridedSliceOptions_offset, op->offset, false);
      break;
    case QAT_TFLITE_BUILTIN_LEAKY_RELU:
      t = QAT_TFLITE_OPTIONS_LeakyReluOptions;
      qat_fb_start_table(b, QAT_TFLITE_LeakyReluOptions__COUNT);
      qat_fb_add_scalar_f32(b, QAT_TFLITE_LeakyReluOptions_alpha, op->alpha, 0.0f);
      break;
    case QAT_TFLITE_BUILTIN_SQUEEZE:
      t = QAT_TFLITE_OPTIONS_SqueezeOptions;
      qat_fb_start_table(b, QAT_TFLITE_SqueezeOptions__COUNT);
      if (sq) qat_fb_add_offset(b, QAT_TFLITE_SqueezeOptions_squeeze_dims, sq);
      break;
    case QAT_TFLITE_BUILTIN_CONV_2D:
      t = QAT_TFLITE_OPTIONS_Conv2DOptions;
      qat_fb_start_table(b, QAT_TFLITE_Conv2DOptions__COUNT);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_Conv2DOptions_padding, (int8_t)op->padding, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_Conv2DOptions_stride_w, op->stride_w, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_Conv2DOptions_stride_h, op->stride_h, 0);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_Conv2DOptions_fused_activation_function, (int8_t)op->act, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_Conv2DOptions_dilation_w_factor, op->dil_w ? op->dil_w : 1, 1);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_Conv2DOptions_dilation_h_factor, op->dil_h ? op->dil_h : 1, 1);
      break;
    case QAT_TFLITE_BUILTIN_TRANSPOSE_CONV:
      t = QAT_TFLITE_OPTIONS_TransposeConvOptions;
      qat_fb_start_table(b, QAT_TFLITE_TransposeConvOptions__COUNT);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_TransposeConvOptions_padding, (int8_t)op->padding, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_TransposeConvOptions_stride_w, op->stride_w, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_TransposeConvOptions_stride_h, op->stride_h, 0);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_TransposeConvOptions_fused_activation_function, (int8_t)op->act, 0);
      break;
    case QAT_TFLITE_BUILTIN_DEPTHWISE_CONV_2D:
      t = QAT_TFLITE_OPTIONS_DepthwiseConv2DOptions;
      qat_fb_start_table(b, QAT_TFLITE_DepthwiseConv2DOptions__COUNT);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_DepthwiseConv2DOptions_padding, (int8_t)op->padding, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_DepthwiseConv2DOptions_stride_w, op->stride_w, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_DepthwiseConv2DOptions_stride_h, op->stride_h, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_DepthwiseConv2DOptions_depth_multiplier, op->dm, 0);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_DepthwiseConv2DOptions_fused_activation_function, (int8_t)op->act, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_DepthwiseConv2DOptions_dilation_w_factor, op->dil_w ? op->dil_w : 1, 1);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_DepthwiseConv2DOptions_dilation_h_factor, op->dil_h ? op->dil_h : 1, 1);
      break;
    case QAT_TFLITE_BUILTIN_AVERAGE_POOL_2D:
    case QAT_TFLITE_BUILTIN_MAX_POOL_2D:
      t = QAT_TFLITE_OPTIONS_Pool2DOptions;
      qat_fb_start_table(b, QAT_TFLITE_Pool2DOptions__COUNT);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_Pool2DOptions_padding, (int8_t)op->padding, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_Pool2DOptions_stride_w, op->stride_w, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_Pool2DOptions_stride_h, op->stride_h, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_Pool2DOptions_filter_width, op->filter_w, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_Pool2DOptions_filter_height, op->filter_h, 0);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_Pool2DOptions_fused_activation_function, (int8_t)op->act, 0);
      break;
    case QAT_TFLITE_BUILTIN_FULLY_CONNECTED:
      t = QAT_TFLITE_OPTIONS_FullyConnectedOptions;
      qat_fb_start_table(b, QAT_TFLITE_FullyConnectedOptions__COUNT);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_FullyConnectedOptions_fused_activation_function, (int8_t)op->act, 0);
      qat_fb_add_scalar_bool(b, QAT_TFLITE_FullyConnectedOptions_keep_num_dims, op->keep_num_dims, false);
      qat_fb_add_scalar_bool(b, QAT_TFLITE_FullyConnectedOptions_asymmetric_quantize_inputs, op->asym_inputs, false);
      break;
    case QAT_TFLITE_BUILTIN_SOFTMAX:
      t = QAT_TFLITE_OPTIONS_SoftmaxOptions;
      qat_fb_start_table(b, QAT_TFLITE_SoftmaxOptions__COUNT);
      qat_fb_add_scalar_f32(b, QAT_TFLITE_SoftmaxOptions_beta, op->beta, 0.0f);
      break;
    case QAT_TFLITE_BUILTIN_ADD:
      t = QAT_TFLITE_OPTIONS_AddOptions;
      qat_fb_start_table(b, QAT_TFLITE_AddOptions__COUNT);
      qat_fb_add_scalar_i8(b, QAT_TFLITE_AddOptions_fused_activation_function, (int8_t)op->act, 0);
      if (op->pot_scale_int16_false) qat_fb_add_scalar_bool(b, QAT_TFLITE_AddOptions_pot_scale_int16, false, true);
      break;
    case QAT_TFLITE_BUILTIN_RESHAPE:
      if (!shape) {
        *type = 0;
        return 0;
      }
      t = QAT_TFLITE_OPTIONS_ReshapeOptions;
      qat_fb_start_table(b, QAT_TFLITE_ReshapeOptions__COUNT);
      qat_fb_add_offset(b, QAT_TFLITE_ReshapeOptions_new_shape, shape);
      break;
    case QAT_TFLITE_BUILTIN_GATHER:
      t = QAT_TFLITE_OPTIONS_GatherOptions;
      qat_fb_start_table(b, QAT_TFLITE_GatherOptions__COUNT);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_GatherOptions_axis, op->axis, 0);
      qat_fb_add_scalar_i32(b, QAT_TFLITE_GatherOptions_batch_dims, op->batch_dims, 0);
      break;
    case QAT_TFLITE_BUILTIN_MEAN:
    case QAT_TFLITE_BUILTIN_REDUCE_PROD:
    case QAT_TFLITE_BUILTIN_REDUCE_MAX:
      t = QAT_TFLITE_OPTIONS_ReducerOptions;
      qat_fb_start_table(b, QAT_TFLITE_ReducerOptions__COUNT);
      qat_fb_add_scalar_bool(b, QAT_TFLITE_ReducerOptions_keep_dims, op->keep_dims, false);
      break;
    case QAT_TFLITE_BUILTIN_RESIZE_BILINEAR:
      t = QAT_TFLITE_OPTIONS_ResizeBilinearOptions;
      qat_fb_start_table(b, QAT_TFLITE_ResizeBilinearOptions__COUNT);
      qat_fb_add_scalar_bool(b, QAT_TFLITE_ResizeBilinearOptions_align_corners, op->align_corners, false);
      qat_fb_add_scalar_bool(b, QAT_TFLITE_ResizeBilinearOptions_half_pixel_centers, op->half_pixel_centers, false);
      break;
    case QAT_TFLITE_BUILTIN_RESIZE_NEAREST_NEIGHBOR:
      t = QAT_TFLITE_OPTIONS_ResizeNearestNeighborOptions;
      qat_fb_start_table(b, QAT_TFLITE_ResizeNearestNeighborOptions__COUNT);
      qat_fb_add_scalar_bool(b, QAT_TFLITE_ResizeNearestNeighborOptions_align_corners, op->align_corners, false);
      qat_fb_add_scalar_bool(b, QAT_TFLITE_ResizeNearestNeighborOptions_half_pixel_centers, op->half_pixel_centers,
                             false);
      break;
    case QAT_TFLITE_BUILTIN_QUANTIZE:
      t = QAT_TFLITE_OPTIONS_QuantizeOptions;
      qat_fb_start_table(b, QAT_TFLITE_QuantizeOptions__COUNT);
      break;
    case QAT_TFLITE_BUILTIN_DEQUANTIZE:
      t = QAT_TFLITE_OPTIONS_DequantizeOptions;
      qat_fb_start_table(b, QAT_TFLITE_DequantizeOptions__COUNT);
      break;
    default: *type = 0; return 0;
  }
  if (!*type) *type = t;
  return qat_fb_end_table(b);
}

uint8_t *tb_build(const tb_model *m, size_t *len) {
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  uint8_t *out = NULL;
  qat_fb_off toffs[TB_MAX_TENSORS], ooffs[TB_MAX_OPS], boffs[TB_MAX_TENSORS + 1];
  qat_fb_off codeoffs[TB_MAX_OPS];
  int codes_code[TB_MAX_OPS], codes_version[TB_MAX_OPS], op_code_index[TB_MAX_OPS];
  const char *codes_custom[TB_MAX_OPS];
  int n_codes = 0, n_bufs = 1;
  /* Buffers: 0 empty, then one per tensor with data. */
  int tbuf[TB_MAX_TENSORS];
  qat_fb_off bufdata[TB_MAX_TENSORS + 1] = {0};
  uint64_t bufoff[TB_MAX_TENSORS + 1] = {0}, bufsize[TB_MAX_TENSORS + 1] = {0};
  for (int i = 0; i < m->n_t; i++) {
    const tb_tensor *t = &m->t[i];
    tbuf[i] = 0;
    if (t->data) {
      bufdata[n_bufs] = qat_fb_create_byte_vector(&b, t->data, t->bytes, 1, 16);
      tbuf[i] = n_bufs++;
    } else if (t->ext_offset || t->ext_size) {
      bufoff[n_bufs] = t->ext_offset;
      bufsize[n_bufs] = t->ext_size;
      tbuf[i] = n_bufs++;
    }
  }
  for (int i = 0; i < n_bufs; i++) {
    qat_fb_start_table(&b, QAT_TFLITE_Buffer__COUNT);
    qat_fb_add_scalar_u64(&b, QAT_TFLITE_Buffer_offset, bufoff[i], 0);
    qat_fb_add_scalar_u64(&b, QAT_TFLITE_Buffer_size, bufsize[i], 0);
    if (bufdata[i]) qat_fb_add_offset(&b, QAT_TFLITE_Buffer_data, bufdata[i]);
    boffs[i] = qat_fb_end_table(&b);
  }
  const qat_fb_off buffers = qat_fb_create_offset_vector(&b, boffs, (size_t)n_bufs);
  for (int i = 0; i < m->n_t; i++) {
    const tb_tensor *t = &m->t[i];
    qat_fb_off q = 0, name = qat_fb_create_string(&b, t->name ? t->name : "");
    const qat_fb_off shape = vec_i32(&b, t->dims, t->rank);
    if (t->n_q) {
      const qat_fb_off sc = qat_fb_create_vector(&b, t->scales, (size_t)t->n_q, 4, 0);
      const qat_fb_off zp =
          qat_fb_create_vector(&b, t->zps, (size_t)(t->n_zp ? t->n_zp : t->n_q), 8, 0);
      qat_fb_start_table(&b, QAT_TFLITE_QuantizationParameters__COUNT);
      qat_fb_add_offset(&b, QAT_TFLITE_QuantizationParameters_scale, sc);
      qat_fb_add_offset(&b, QAT_TFLITE_QuantizationParameters_zero_point, zp);
      qat_fb_add_scalar_i32(&b, QAT_TFLITE_QuantizationParameters_quantized_dimension, t->qdim, 0);
      q = qat_fb_end_table(&b);
    }
    qat_fb_start_table(&b, QAT_TFLITE_Tensor__COUNT);
    qat_fb_add_offset(&b, QAT_TFLITE_Tensor_shape, shape);
    qat_fb_add_scalar_i8(&b, QAT_TFLITE_Tensor_type, (int8_t)t->type, 0);
    qat_fb_add_scalar_u32(&b, QAT_TFLITE_Tensor_buffer,
                          t->buffer_override ? (uint32_t)t->buffer_override : (uint32_t)tbuf[i], 0);
    qat_fb_add_offset(&b, QAT_TFLITE_Tensor_name, name);
    if (q) qat_fb_add_offset(&b, QAT_TFLITE_Tensor_quantization, q);
    toffs[i] = qat_fb_end_table(&b);
  }
  const qat_fb_off tensors = qat_fb_create_offset_vector(&b, toffs, (size_t)m->n_t);
  for (int k = 0; k < m->n_ops; k++) {
    const tb_op *op = &m->ops[k];
    const int version = op->version ? op->version : 1;
    int ci = -1;
    for (int c = 0; c < n_codes; c++)
      if (codes_code[c] == op->code && codes_version[c] == version && codes_custom[c] == op->custom)
        ci = c;
    if (ci < 0) {
      ci = n_codes++;
      codes_code[ci] = op->code;
      codes_version[ci] = version;
      codes_custom[ci] = op->custom;
    }
    op_code_index[k] = op->opcode_index_override ? op->opcode_index_override : ci;
    const qat_fb_off ins = vec_i32(&b, op->in, op->n_in);
    const qat_fb_off outs = vec_i32(&b, op->out, op->n_out);
    int otype;
    const qat_fb_off opts = write_options(&b, op, &otype);
    qat_fb_start_table(&b, QAT_TFLITE_Operator__COUNT);
    qat_fb_add_scalar_u32(&b, QAT_TFLITE_Operator_opcode_index, (uint32_t)op_code_index[k], 0);
    qat_fb_add_offset(&b, QAT_TFLITE_Operator_inputs, ins);
    qat_fb_add_offset(&b, QAT_TFLITE_Operator_outputs, outs);
    if (opts) qat_fb_add_union(&b, QAT_TFLITE_Operator_builtin_options_type, (uint8_t)otype, opts);
    ooffs[k] = qat_fb_end_table(&b);
  }
  const qat_fb_off operators = qat_fb_create_offset_vector(&b, ooffs, (size_t)m->n_ops);
  const qat_fb_off gin = vec_i32(&b, m->in, m->n_in), gout = vec_i32(&b, m->out, m->n_out);
  const qat_fb_off sgname = qat_fb_create_string(&b, "main");
  qat_fb_start_table(&b, QAT_TFLITE_SubGraph__COUNT);
  qat_fb_add_offset(&b, QAT_TFLITE_SubGraph_tensors, tensors);
  qat_fb_add_offset(&b, QAT_TFLITE_SubGraph_inputs, gin);
  qat_fb_add_offset(&b, QAT_TFLITE_SubGraph_outputs, gout);
  qat_fb_add_offset(&b, QAT_TFLITE_SubGraph_operators, operators);
  qat_fb_add_offset(&b, QAT_TFLITE_SubGraph_name, sgname);
  const qat_fb_off sg = qat_fb_end_table(&b);
  qat_fb_off sgs[2] = {sg, sg};
  const int n_sg = m->n_subgraphs ? m->n_subgraphs : 1;
  const qat_fb_off subgraphs = n_sg < 0 ? 0 : qat_fb_create_offset_vector(&b, sgs, (size_t)n_sg);
  for (int c = 0; c < n_codes; c++) {
    const qat_fb_off cname = codes_custom[c] ? qat_fb_create_string(&b, codes_custom[c]) : 0;
    qat_fb_start_table(&b, QAT_TFLITE_OperatorCode__COUNT);
    qat_fb_add_scalar_i8(&b, QAT_TFLITE_OperatorCode_deprecated_builtin_code, (int8_t)(codes_code[c] < QAT_TFLITE_PLACEHOLDER_FOR_GREATER_OP_CODES
                                                 ? codes_code[c]
                                                 : QAT_TFLITE_PLACEHOLDER_FOR_GREATER_OP_CODES), 0);
    if (cname) qat_fb_add_offset(&b, QAT_TFLITE_OperatorCode_custom_code, cname);
    qat_fb_add_scalar_i32(&b, QAT_TFLITE_OperatorCode_version, codes_version[c], 1);
    qat_fb_add_scalar_i32(&b, QAT_TFLITE_OperatorCode_builtin_code, codes_code[c], 0);
    codeoffs[c] = qat_fb_end_table(&b);
  }
  const qat_fb_off opcodes = qat_fb_create_offset_vector(&b, codeoffs, (size_t)n_codes);
  const qat_fb_off desc = qat_fb_create_string(&b, "qat test model");
  qat_fb_start_table(&b, QAT_TFLITE_Model__COUNT);
  qat_fb_add_scalar_u32(&b, QAT_TFLITE_Model_version, m->schema_version ? (uint32_t)m->schema_version : QAT_TFLITE_SCHEMA_VERSION, 0);
  qat_fb_add_offset(&b, QAT_TFLITE_Model_operator_codes, opcodes);
  if (subgraphs) qat_fb_add_offset(&b, QAT_TFLITE_Model_subgraphs, subgraphs);
  qat_fb_add_offset(&b, QAT_TFLITE_Model_description, desc);
  qat_fb_add_offset(&b, QAT_TFLITE_Model_buffers, buffers);
  const qat_fb_off root = qat_fb_end_table(&b);
  if (qat_fb_finish(&b, root, QAT_TFLITE_FILE_IDENTIFIER) == 0) {
    size_t n;
    const uint8_t *d = qat_fb_data(&b, &n);
    out = malloc(n);
    if (out) {
      memcpy(out, d, n);
      *len = n;
    }
  }
  qat_fb_builder_free(&b);
  return out;
}

int tb_tensor_add(tb_model *m, const char *name, int type, int rank,
                                   const int32_t *dims, const void *data, size_t bytes) {
  tb_tensor *t = &m->t[m->n_t];
  memset(t, 0, sizeof *t);
  t->name = name;
  t->type = type;
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  t->data = data;
  t->bytes = bytes;
  return m->n_t++;
}

void tb_quant(tb_model *m, int t, int n, const float *scales, const int64_t *zps,
                               int qdim) {
  tb_tensor *x = &m->t[t];
  x->n_q = n;
  memcpy(x->scales, scales, (size_t)n * sizeof *scales);
  memcpy(x->zps, zps, (size_t)n * sizeof *zps);
  x->qdim = qdim;
}

void tb_quant1(tb_model *m, int t, float scale, int64_t zp) {
  tb_quant(m, t, 1, &scale, &zp, 0);
}

tb_op *tb_op_add(tb_model *m, int code, int n_in, const int32_t *in, int n_out,
                                  const int32_t *out) {
  tb_op *op = &m->ops[m->n_ops++];
  memset(op, 0, sizeof *op);
  op->code = code;
  op->n_in = n_in;
  op->n_out = n_out;
  memcpy(op->in, in, (size_t)n_in * sizeof *in);
  memcpy(op->out, out, (size_t)n_out * sizeof *out);
  op->n_new_shape = -1;
  return op;
}
