/* Operator versions and minimum runtime versions of the TFLite model IR, as the TF
 * converter's versioning rules give them. */
#include "qat/tflite.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "qat/atomic_file.h"
#include "qat/error.h"
#include "qat/flatbuf.h"
#include "qat/version.h"

static const qat_tflite_tensor *tensor_at(const qat_tflite_model *m, int i) {
  return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}

/* ---- operator versions ----
 * A transcription of GetBuiltinOperatorVersion (tensorflow/compiler/mlir/lite/tools/versioning/
 * op_version.cc, tensorflow commit 7ea41b21; same rules in the older
 * tensorflow/lite/tools/versioning/op_version.cc at 02087409) for the ops qat writes, with
 * the ext_options that op_signature.cc derives from the tensors. Branches for types qat never
 * writes (int4, int2, uint4, sparse or shuffled weights) are left out. Type -1 stands for an
 * omitted optional input (kTfLiteNoType). */

static int type_of(const qat_tflite_model *m, const qat_tflite_operator *op, int in_or_out, int j) {
  int n = in_or_out ? op->n_outputs : op->n_inputs;
  if (j >= n) return -1;
  const qat_tflite_tensor *t = tensor_at(m, in_or_out ? op->outputs[j] : op->inputs[j]);
  return t ? (int)t->type : -1;
}

/* op_signature.cc: CONV_2D counts scales == filter dim 0; DEPTHWISE_CONV_2D == dim 3;
 * FULLY_CONNECTED == weights dim 0 (IsTensorSizeEqual, any non-zero count); DEQUANTIZE and
 * QUANTIZE need more than one scale, equal to the size of quantized_dimension. */
static bool scales_match_dim(const qat_tflite_tensor *t, int dim, bool need_several) {
  if (!t || t->quant.n == 0 || dim < 0 || dim >= t->rank) return false;
  if (need_several && t->quant.n <= 1) return false;
  return t->quant.n == t->dims[dim];
}

int qat_tflite_op_version(const qat_tflite_model *m, const qat_tflite_operator *op) {
  const int F32 = QAT_TFLITE_FLOAT32, F16 = QAT_TFLITE_FLOAT16, I8 = QAT_TFLITE_INT8, U8 = QAT_TFLITE_UINT8,
            I16 = QAT_TFLITE_INT16, I64 = QAT_TFLITE_INT64;
  int in0 = type_of(m, op, 0, 0), in1 = type_of(m, op, 0, 1), out0 = type_of(m, op, 1, 0);
  const qat_tflite_tensor *x = op->n_inputs > 0 ? tensor_at(m, op->inputs[0]) : NULL;
  const qat_tflite_tensor *w = op->n_inputs > 1 ? tensor_at(m, op->inputs[1]) : NULL;
  const qat_tflite_tensor *y = op->n_outputs > 0 ? tensor_at(m, op->outputs[0]) : NULL;
  switch (op->op) {
  case QAT_TFLITE_OP_CONV_2D: {
    /* 8: int16 activations, int8 filter, quantized_bias_type set. */
    if (in0 == I16 && in1 == I8 && out0 == I16 && op->opt.quantized_bias_type != QAT_TFLITE_FLOAT32) return 8;
    /* 6: grouped convolution (input channels != filter input channels). */
    if (x && w && x->rank == 4 && w->rank == 4 && x->dims[3] != w->dims[3]) return 6;
    /* 4: int16 input and filter (upstream compares outputs.at(1), a second output no conv has;
     * the first output is the one meant). */
    if (in0 == I16 && in1 == I16 && out0 == I16) return 4;
    /* 3: full int8. */
    if (in0 == I8 && in1 == I8 && out0 == I8) return 3;
    /* 2 / 5: hybrid (float activations, int8 filter), 5 when per-channel. */
    if (in0 == F32 && in1 == I8 && out0 == F32) return scales_match_dim(w, 0, false) ? 5 : 2;
    return 1;
  }
  case QAT_TFLITE_OP_DEPTHWISE_CONV_2D:
    /* 5: int16 input and filter (upstream compares outputs.at(1), as for CONV_2D). */
    if (in0 == I16 && in1 == I16 && out0 == I16) return 5;
    /* 4 / 6: hybrid, 6 when per-channel along dim 3. */
    if (in0 == F32 && in1 == I8 && out0 == F32) return scales_match_dim(w, 3, false) ? 6 : 4;
    /* 3: full int8. */
    if (in0 == I8 && in1 == I8 && out0 == I8) return 3;
    /* 2: dilation. */
    if (op->opt.dilation_w != 1 || op->opt.dilation_h != 1) return 2;
    return 1;
  case QAT_TFLITE_OP_FULLY_CONNECTED:
    /* 12: hybrid with per-channel weights. */
    if (in0 == F32 && in1 == I8 && out0 == F32 && scales_match_dim(w, 0, false)) return 12;
    /* 11: int16 activations, int8 weights, quantized_bias_type set. */
    if (in0 == I16 && in1 == I8 && out0 == I16 && op->opt.quantized_bias_type != QAT_TFLITE_FLOAT32) return 11;
    /* 7: int16 activations and weights. */
    if (in0 == I16 && in1 == I16 && out0 == I16) return 7;
    /* 6: no bias input at all (two inputs; an omitted bias written as -1 still counts 3). */
    if (op->n_inputs == 2) return 6;
    /* 5: keep_num_dims. */
    if (op->opt.keep_num_dims) return 5;
    /* 4: full int8. */
    if (in0 == I8 && in1 == I8 && out0 == I8) return 4;
    /* 3 / 9: hybrid, 9 with asymmetric_quantize_inputs. */
    if (in0 == F32 && in1 == I8 && out0 == F32) return op->opt.asymmetric_quantize_inputs ? 9 : 3;
    return 1;
  case QAT_TFLITE_OP_TRANSPOSE_CONV: {
    /* Inputs output_shape, weights, input, [bias]. What TF 2.21's converter writes: 4 with a
     * fused activation, 3 with a bias or int16 activations (its quantized_bias_type INT64 does
     * not raise it), 2 for int8 weights. */
    const int in2 = type_of(m, op, 0, 2), bias = type_of(m, op, 0, 3);
    if (op->opt.activation != QAT_TFLITE_ACT_NONE) return 4;
    if (bias >= 0) return 3;
    if (in2 == I16 && in1 == I8) return 3;
    if (in1 == I8) return 2;
    return 1;
  }
  case QAT_TFLITE_OP_MAX_POOL_2D:
  case QAT_TFLITE_OP_AVERAGE_POOL_2D:
    /* 3: int16 in and out; 2: int8 input. */
    if (in0 == I16 && out0 == I16) return 3;
    if (in0 == I8) return 2;
    return 1;
  case QAT_TFLITE_OP_SOFTMAX:
  case QAT_TFLITE_OP_CONCATENATION:
  case QAT_TFLITE_OP_MEAN:
  case QAT_TFLITE_OP_REDUCE_MAX:
  case QAT_TFLITE_OP_RELU6:
    /* One rule for SOFTMAX, MEAN, REDUCE_MAX, RELU6 (and others): 3 for int16 input, 2 for
     * int8. */
    if (in0 == I16) return 3;
    if (in0 == I8) return 2;
    return 1;
  case QAT_TFLITE_OP_RELU:
    /* 3: int16 input; 2: int8 or uint8 input. */
    if (in0 == I16) return 3;
    if (in0 == I8 || in0 == U8) return 2;
    return 1;
  case QAT_TFLITE_OP_ADD:
    /* 6: float16 (MLIR op_version.cc only); 5: int16 without quantization; 4: int64;
     * 3: int16 in/out with pot_scale_int16 false; 2: int8. "input_quantized" is whether input 0
     * carries a QuantizationParameters table, i.e. quant.n > 0 here. */
    if (in0 == F16) return 6;
    if (in0 == I16 && !(x && x->quant.n > 0)) return 5;
    if (in0 == I64) return 4;
    if (in0 == I16 && out0 == I16 && !op->opt.pot_scale_int16) return 3;
    if (in0 == I8) return 2;
    return 1;
  case QAT_TFLITE_OP_STRIDED_SLICE:
    /* 8: offset; 7: uint32; 6: ellipsis or new-axis masks; 5: string; 4: more than 4 dims;
     * 3: bool (qat writes none of those); 2: int8. int16 has no version of its own. */
    return in0 == I8 ? 2 : 1;
  case QAT_TFLITE_OP_PAD:
    /* 4: more than 4 dims (qat writes none); 3: int16; 2: int8. */
    if (in0 == I16) return 3;
    if (in0 == I8) return 2;
    return 1;
  case QAT_TFLITE_OP_SUB:
    /* 5: int16 in/out with pot_scale_int16 false; 4: int64; 3: broadcast over more than 4 dims
     * (qat writes none); 2: int8. */
    if (in0 == I16 && out0 == I16 && !op->opt.pot_scale_int16) return 5;
    if (in0 == I64) return 4;
    if (in0 == I8) return 2;
    return 1;
  case QAT_TFLITE_OP_LOGISTIC:
  case QAT_TFLITE_OP_TANH:
    /* 3: int16 input; 2: int8 or uint8 input. */
    if (in0 == I16) return 3;
    if (in0 == I8 || in0 == U8) return 2;
    return 1;
  case QAT_TFLITE_OP_MUL:
    /* 4: int16; 2: int8 (3, a rescale >= 1, is not written: qat's scales keep it below 1). */
    if (in0 == I16) return 4;
    if (in0 == I8) return 2;
    return 1;
  case QAT_TFLITE_OP_MAXIMUM:
  case QAT_TFLITE_OP_MINIMUM:
    /* 4: int16 in/out; 3: broadcast over more than 4 dims (qat writes none); 2: int8. */
    if (in0 == I16 && out0 == I16) return 4;
    if (in0 == I8) return 2;
    return 1;
  case QAT_TFLITE_OP_LESS:
    /* 3: int16 (compared as stored); 2: int8 (op_version.cc). */
    if (in0 == I16) return 3;
    if (in0 == I8) return 2;
    return 1;
  case QAT_TFLITE_OP_SELECT_V2: /* 2 is uint32, which qat does not write */
    return 1;
  case QAT_TFLITE_OP_LEAKY_RELU:
    /* 2: int16 input. */
    return in0 == I16 ? 2 : 1;
  case QAT_TFLITE_OP_ELU: /* runtime_version.cc lists version 1 only */
  case QAT_TFLITE_OP_HARD_SWISH:
    return 1;
  case QAT_TFLITE_OP_RESIZE_BILINEAR:
  case QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR:
    /* 4: int16; 3: half-pixel centers (nearest: or aligned corners); 2: int8. */
    if (in0 == I16) return 4;
    if (op->opt.half_pixel_centers || (op->op == QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR && op->opt.align_corners))
      return 3;
    if (in0 == I8) return 2;
    return 1;
  case QAT_TFLITE_OP_RESHAPE:
  case QAT_TFLITE_OP_PRELU:
    /* RESHAPE and PRELU have no case in GetBuiltinOperatorVersion: the default, 1, for every
     * type. */
    return 1;
  case QAT_TFLITE_OP_QUANTIZE:
    /* 3: per-channel output; 2: int16 output. */
    if (scales_match_dim(y, y ? y->quant.quantized_dimension : 0, true)) return 3;
    if (out0 == I16) return 2;
    return 1;
  case QAT_TFLITE_OP_DEQUANTIZE:
    /* 3: int16 or float16 input; 2 (5 when per-channel): int8 input. */
    if (in0 == I16 || in0 == F16) return 3;
    if (in0 == I8) return scales_match_dim(x, x ? x->quant.quantized_dimension : 0, true) ? 5 : 2;
    return 1;
  }
  return 1;
}

/* runtime_version.cc (tensorflow/compiler/mlir/lite/tools/versioning/, commit 03f49db5),
 * FindMinimumRuntimeVersionForOp's table, for the ops above. */
static const struct runtime_entry {
  qat_tflite_op op;
  int version;
  const char *runtime;
} runtime_table[] = {
    {QAT_TFLITE_OP_AVERAGE_POOL_2D, 1, "1.5.0"},  {QAT_TFLITE_OP_AVERAGE_POOL_2D, 2, "1.14.0"},
    {QAT_TFLITE_OP_AVERAGE_POOL_2D, 3, "2.3.0"},  {QAT_TFLITE_OP_CONV_2D, 1, "1.5.0"},
    {QAT_TFLITE_OP_CONV_2D, 2, "1.14.0"},         {QAT_TFLITE_OP_CONV_2D, 3, "1.14.0"},
    {QAT_TFLITE_OP_CONV_2D, 4, "2.3.0"},          {QAT_TFLITE_OP_CONV_2D, 5, "2.4.0"},
    {QAT_TFLITE_OP_CONV_2D, 6, "2.9.0"},          {QAT_TFLITE_OP_CONV_2D, 7, "2.11.0"},
    {QAT_TFLITE_OP_CONV_2D, 8, "2.15.0"},         {QAT_TFLITE_OP_DEPTHWISE_CONV_2D, 1, "1.5.0"},
    {QAT_TFLITE_OP_DEPTHWISE_CONV_2D, 2, "1.12.0"}, {QAT_TFLITE_OP_DEPTHWISE_CONV_2D, 3, "1.14.0"},
    {QAT_TFLITE_OP_DEPTHWISE_CONV_2D, 4, "2.2.0"}, {QAT_TFLITE_OP_DEPTHWISE_CONV_2D, 5, "2.3.0"},
    {QAT_TFLITE_OP_DEPTHWISE_CONV_2D, 6, "2.3.0"}, {QAT_TFLITE_OP_DEPTHWISE_CONV_2D, 7, "2.11.0"},
    {QAT_TFLITE_OP_ADD, 1, "1.5.0"},              {QAT_TFLITE_OP_ADD, 2, "1.14.0"},
    {QAT_TFLITE_OP_ADD, 3, "2.4.0"},              {QAT_TFLITE_OP_ADD, 4, "2.6.0"},
    {QAT_TFLITE_OP_ADD, 5, "2.13.0"},             {QAT_TFLITE_OP_ADD, 6, "2.23.0"},
    {QAT_TFLITE_OP_FULLY_CONNECTED, 1, "1.5.0"},  {QAT_TFLITE_OP_FULLY_CONNECTED, 2, "1.10.0"},
    {QAT_TFLITE_OP_FULLY_CONNECTED, 3, "1.14.0"}, {QAT_TFLITE_OP_FULLY_CONNECTED, 4, "1.14.0"},
    {QAT_TFLITE_OP_FULLY_CONNECTED, 5, "2.0.0"},  {QAT_TFLITE_OP_FULLY_CONNECTED, 6, "2.1.0"},
    {QAT_TFLITE_OP_FULLY_CONNECTED, 7, "2.3.0"},  {QAT_TFLITE_OP_FULLY_CONNECTED, 8, "2.3.0"},
    {QAT_TFLITE_OP_FULLY_CONNECTED, 9, "2.3.0"},  {QAT_TFLITE_OP_FULLY_CONNECTED, 10, "2.11.0"},
    {QAT_TFLITE_OP_FULLY_CONNECTED, 11, "2.15.0"}, {QAT_TFLITE_OP_FULLY_CONNECTED, 12, "2.17.0"},
    {QAT_TFLITE_OP_MAX_POOL_2D, 1, "1.5.0"},      {QAT_TFLITE_OP_MAX_POOL_2D, 2, "1.14.0"},
    {QAT_TFLITE_OP_MAX_POOL_2D, 3, "2.3.0"},      {QAT_TFLITE_OP_RESHAPE, 1, "1.5.0"},
    {QAT_TFLITE_OP_SOFTMAX, 1, "1.5.0"},          {QAT_TFLITE_OP_SOFTMAX, 2, "1.14.0"},
    {QAT_TFLITE_OP_SOFTMAX, 3, "2.3.0"},          {QAT_TFLITE_OP_MEAN, 1, "1.6.0"},
    {QAT_TFLITE_OP_MEAN, 2, "1.14.0"},            {QAT_TFLITE_OP_MEAN, 3, "2.4.0"},
    {QAT_TFLITE_OP_REDUCE_MAX, 1, "1.11.0"},      {QAT_TFLITE_OP_REDUCE_MAX, 2, "1.14.0"},
    {QAT_TFLITE_OP_REDUCE_MAX, 3, "2.5.0"},       {QAT_TFLITE_OP_CONCATENATION, 1, "1.5.0"},
    {QAT_TFLITE_OP_CONCATENATION, 2, "1.14.0"},   {QAT_TFLITE_OP_CONCATENATION, 3, "2.3.0"},
    {QAT_TFLITE_OP_RESIZE_BILINEAR, 1, "1.7.0"},  {QAT_TFLITE_OP_RESIZE_BILINEAR, 2, "1.14.0"},
    {QAT_TFLITE_OP_RESIZE_BILINEAR, 3, "2.2.0"},  {QAT_TFLITE_OP_RESIZE_BILINEAR, 4, "2.5.0"},
    {QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR, 1, "1.13.1"}, {QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR, 2, "1.14.0"},
    {QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR, 3, "2.3.0"},  {QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR, 4, "2.4.0"},
    {QAT_TFLITE_OP_RELU6, 1, "1.5.0"},            {QAT_TFLITE_OP_RELU6, 2, "1.14.0"},
    {QAT_TFLITE_OP_RELU6, 3, "2.5.0"},            {QAT_TFLITE_OP_RELU, 1, "1.5.0"},
    {QAT_TFLITE_OP_RELU, 2, "2.1.0"},             {QAT_TFLITE_OP_RELU, 3, "2.5.0"},
    {QAT_TFLITE_OP_DEQUANTIZE, 1, "1.13.1"},      {QAT_TFLITE_OP_DEQUANTIZE, 2, "1.14.0"},
    {QAT_TFLITE_OP_DEQUANTIZE, 3, "1.15.0"},      {QAT_TFLITE_OP_DEQUANTIZE, 4, "2.2.0"},
    {QAT_TFLITE_OP_DEQUANTIZE, 5, "2.7.0"},       {QAT_TFLITE_OP_QUANTIZE, 1, "1.14.0"},
    {QAT_TFLITE_OP_QUANTIZE, 2, "1.15.0"},        {QAT_TFLITE_OP_QUANTIZE, 3, "2.7.0"},
    {QAT_TFLITE_OP_LOGISTIC, 1, "1.14.0"},        {QAT_TFLITE_OP_LOGISTIC, 2, "1.14.0"},
    {QAT_TFLITE_OP_LOGISTIC, 3, "2.3.0"},         {QAT_TFLITE_OP_TANH, 1, "1.14.0"},
    {QAT_TFLITE_OP_TANH, 2, "1.14.0"},            {QAT_TFLITE_OP_TANH, 3, "2.3.0"},
    {QAT_TFLITE_OP_PAD, 1, "1.5.0"},              {QAT_TFLITE_OP_PAD, 2, "1.14.0"},
    {QAT_TFLITE_OP_PAD, 3, "2.4.0"},              {QAT_TFLITE_OP_PAD, 4, "2.6.0"},
    {QAT_TFLITE_OP_SUB, 1, "1.6.0"},              {QAT_TFLITE_OP_SUB, 2, "1.14.0"},
    {QAT_TFLITE_OP_SUB, 3, "2.3.0"},              {QAT_TFLITE_OP_SUB, 4, "2.4.0"},
    {QAT_TFLITE_OP_SUB, 5, "2.4.0"},
    /* TRANSPOSE_CONV: as TF 2.21's converter writes them (runtime_version.cc) */
    {QAT_TFLITE_OP_TRANSPOSE_CONV, 1, "1.9.0"},   {QAT_TFLITE_OP_TRANSPOSE_CONV, 2, "2.2.0"},
    {QAT_TFLITE_OP_TRANSPOSE_CONV, 3, "2.3.0"},   {QAT_TFLITE_OP_TRANSPOSE_CONV, 4, "2.13.0"},
    {QAT_TFLITE_OP_MUL, 1, "1.5.0"},              {QAT_TFLITE_OP_MUL, 2, "1.14.0"},
    {QAT_TFLITE_OP_MUL, 4, "2.3.0"},              {QAT_TFLITE_OP_HARD_SWISH, 1, "1.15.0"},
    {QAT_TFLITE_OP_LEAKY_RELU, 1, "1.13.1"},      {QAT_TFLITE_OP_LEAKY_RELU, 2, "2.3.0"},
    {QAT_TFLITE_OP_ELU, 1, "1.14.0"},
    {QAT_TFLITE_OP_MAXIMUM, 1, "1.14.0"},         {QAT_TFLITE_OP_MAXIMUM, 2, "1.14.0"},
    {QAT_TFLITE_OP_MAXIMUM, 3, "2.3.0"},          {QAT_TFLITE_OP_MAXIMUM, 4, "2.3.0"},
    {QAT_TFLITE_OP_MINIMUM, 1, "1.14.0"},         {QAT_TFLITE_OP_MINIMUM, 2, "1.14.0"},
    {QAT_TFLITE_OP_MINIMUM, 3, "2.3.0"},          {QAT_TFLITE_OP_MINIMUM, 4, "2.3.0"},
    {QAT_TFLITE_OP_LESS, 1, "1.14.0"},            {QAT_TFLITE_OP_LESS, 2, "1.14.0"},
    {QAT_TFLITE_OP_LESS, 3, "2.13.0"},            {QAT_TFLITE_OP_SELECT_V2, 1, "2.2.0"},
    {QAT_TFLITE_OP_STRIDED_SLICE, 1, "1.6.0"},    {QAT_TFLITE_OP_STRIDED_SLICE, 2, "1.14.0"},
    {QAT_TFLITE_OP_PRELU, 1, "1.8.0"},
};

const char *qat_tflite_min_runtime(qat_tflite_op op, int version) {
  for (size_t i = 0; i < sizeof runtime_table / sizeof runtime_table[0]; i++)
    if (runtime_table[i].op == op && runtime_table[i].version == version) return runtime_table[i].runtime;
  return NULL;
}

/* CompareRuntimeVersion's order, as a three-way comparison: numeric per dotted component, and a
 * version that is a prefix of the other comes first. */
int qat_tflite_compare_versions(const char *a, const char *b) {
  if (!a) a = "";
  if (!b) b = "";
  while (*a && *b) {
    char *ea, *eb;
    long va = strtol(a, &ea, 10), vb = strtol(b, &eb, 10);
    if (va != vb) return va < vb ? -1 : 1;
    /* Skip the rest of the component (anything not numeric compares as its number prefix). */
    a = ea + strcspn(ea, ".");
    b = eb + strcspn(eb, ".");
    if (*a == '.') a++;
    if (*b == '.') b++;
  }
  return *a ? 1 : *b ? -1 : 0;
}
