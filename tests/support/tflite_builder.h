/* A small TFLite writer for the runtime tests, on flatbuf/'s builder: it writes the graphs that
 * no fixture covers (every kernel through the interpreter, the random models of the interop
 * sweep) and the well-formed-but-wrong models of the malformed corpus. Buffer 0 is the empty
 * sentinel; every tensor with data gets its own buffer; one operator code per (code, version,
 * custom name). Codes, option tables and field ids are qat/tflite_schema.h's. */
#ifndef QAT_TEST_TFLITE_BUILDER_H
#define QAT_TEST_TFLITE_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "qat/tflite_schema.h"

/* Tensor types by short name. */
enum {
  F32 = QAT_TFLITE_TYPE_FLOAT32,
  F16 = QAT_TFLITE_TYPE_FLOAT16,
  I32 = QAT_TFLITE_TYPE_INT32,
  U8 = QAT_TFLITE_TYPE_UINT8,
  I64 = QAT_TFLITE_TYPE_INT64,
  I16 = QAT_TFLITE_TYPE_INT16,
  I8 = QAT_TFLITE_TYPE_INT8
};

#define TB_MAX_TENSORS 32
#define TB_MAX_OPS 16

typedef struct tb_tensor {
  const char *name;
  int type, rank;
  int32_t dims[8];
  const void *data;
  size_t bytes;
  int n_q, n_zp, qdim; /* n_zp: zero points written (0: n_q) */
  float scales[64];
  int64_t zps[64];
  int buffer_override;           /* nonzero: write this buffer index instead */
  uint64_t ext_offset, ext_size; /* nonzero: an external buffer (Buffer.offset / size) */
} tb_tensor;

typedef struct tb_op {
  int code, version;
  const char *custom;
  int n_in, n_out;
  int32_t in[4], out[2];
  int opt_type; /* 0: the op's own options table; -1: none; else this union type */
  int padding, stride_w, stride_h, act, dil_w, dil_h, dm, filter_w, filter_h;
  int keep_dims, keep_num_dims;
  int align_corners, half_pixel_centers; /* RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR */
  int pot_scale_int16_false; /* ADD: write AddOptions.pot_scale_int16 = false */
  int asym_inputs; /* FULLY_CONNECTED asymmetric_quantize_inputs */
  float beta;
  int n_new_shape;
  int32_t new_shape[8];
  int opcode_index_override;
  /* CONCATENATION / PACK axis, PACK values_count, STRIDED_SLICE masks, LEAKY_RELU alpha,
   * SQUEEZE squeeze_dims (n_squeeze 0: none written), SUB pot_scale_int16 (as ADD's). */
  int axis, values_count, begin_mask, end_mask, shrink_axis_mask, offset;
  int batch_dims; /* GATHER */
  float alpha;
  int n_squeeze;
  int32_t squeeze[8];
} tb_op;

typedef struct tb_model {
  int schema_version; /* 0: 3 */
  int n_subgraphs;    /* 0: 1; -1: no subgraphs vector */
  int n_t, n_ops, n_in, n_out;
  tb_tensor t[TB_MAX_TENSORS];
  tb_op ops[TB_MAX_OPS];
  int32_t in[4], out[4];
} tb_model;

/* The model's bytes (malloc'd, *len set), NULL when the builder fails. */
uint8_t *tb_build(const tb_model *m, size_t *len);
/* Adds a tensor (data is referenced, not copied) and returns its index. */
int tb_tensor_add(tb_model *m, const char *name, int type, int rank, const int32_t *dims,
                  const void *data, size_t bytes);
void tb_quant(tb_model *m, int t, int n, const float *scales, const int64_t *zps, int qdim);
void tb_quant1(tb_model *m, int t, float scale, int64_t zp);
/* Adds an operator with default options (opt_type 0: its own options table). */
tb_op *tb_op_add(tb_model *m, int code, int n_in, const int32_t *in, int n_out,
                 const int32_t *out);

#endif
