/* The integer runtime: reads .tflite files (untrusted input: every offset is verified before
 * use) and runs them with kernels that are bit-exact with TensorFlow Lite's reference kernels
 * (the interpreter's BUILTIN_REF op resolver, default double-rounding build).
 *
 * Where LiteRT's reference kernels and TensorFlow Lite Micro's differ (FULLY_CONNECTED int8),
 * qat_rt_options.flavor picks which one to reproduce; LiteRT's is the default.
 *
 * Loading does all the work that can fail for a reason in the file:
 *   1. the flatbuffer structure (root, vtables, every field, vector, string and union, with
 *      overflow-safe arithmetic, depth and table-count limits, a file size cap);
 *   2. the graph (one subgraph, opcode and tensor indices, every op input a constant, a graph
 *      input or the output of an earlier op, buffer sizes, shapes, quantization parameters);
 *   3. each operator's parameters (types, shapes, the output shape it must produce, fixed-point
 *      multipliers), refusing what is valid but not supported with
 *      "unsupported operator NAME version N at node K: why";
 *   4. a greedy arena plan for the activations, allocated once.
 * After a successful load, qat_rt_invoke() fails only where TFLite's own kernel would abort on
 * the data (an int8 SOFTMAX row whose sum of exponentials leaves the reference kernel's range).
 *
 * Errors (QAT_ERR_FORMAT for a malformed file, QAT_ERR_UNSUPPORTED for a valid one we cannot
 * run, QAT_ERR_IO, QAT_ERR_NOMEM) carry one line, "NAME: what", with the byte offset, tensor or
 * operator, in TensorFlow Lite's wording where it has one:
 *   "m.tflite: invalid flatbuffer: vector out of range at offset 0x1f4 (Tensor.shape)"
 *   "m.tflite: Input tensor 5 to op 2 (CONV_2D) is not produced"
 *
 * Types are TFLite's TensorType codes, operators its BuiltinOperator codes. Tensor data is
 * little-endian and in the model's own dtypes; the host must be little-endian. */
#ifndef QAT_RUNTIME_H
#define QAT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "qat/tflite_schema.h"

/* TensorType codes (QAT_RT_INT8, ...) and BuiltinOperator codes (QAT_RT_OP_CONV_2D, ...), from
 * the schema's lists in qat/tflite_schema.h. */
#define QAT_RT_TYPE_ENUM_(name, code, size) QAT_RT_##name = code,
enum { QAT_TFLITE_TENSOR_TYPES(QAT_RT_TYPE_ENUM_) };
#undef QAT_RT_TYPE_ENUM_
#define QAT_RT_OP_ENUM_(name, code) QAT_RT_OP_##name = code,
enum { QAT_TFLITE_BUILTIN_OPS(QAT_RT_OP_ENUM_) };
#undef QAT_RT_OP_ENUM_

#define QAT_RT_MAX_RANK 6
/* Default cap on the file size; qat_rt_options.max_file_bytes changes it (at most 2^31 - 1,
 * the flatbuffer format's own limit). */
#define QAT_RT_DEFAULT_MAX_FILE_BYTES ((size_t)1 << 30)
#define QAT_RT_DEFAULT_MAX_ARENA_BYTES ((size_t)1 << 31)
/* Limits of the structural verifier, the official flatbuffers::Verifier's defaults. */
#define QAT_RT_MAX_DEPTH 64
#define QAT_RT_MAX_TABLES 1000000
/* Graph size bounds (the arena planner is quadratic in the number of activations). */
#define QAT_RT_MAX_TENSORS 16384
#define QAT_RT_MAX_OPS 16384
/* Shape bounds: rank <= QAT_RT_MAX_RANK, every dim >= 1, elements <= 2^31. */
#define QAT_RT_MAX_ELEMENTS ((int64_t)1 << 31)

typedef struct qat_rt_model qat_rt_model;

/* Which reference implementation to reproduce where they differ. Only FULLY_CONNECTED int8
 * does today: LiteRT's reference kernel (google-ai-edge/LiteRT
 * tflite/kernels/internal/reference/integer_ops/fully_connected.h, what ai-edge-litert's
 * OpResolverType.BUILTIN_REF runs) requantizes in double, (int32)round(acc * (double)s_in *
 * s_w / s_out); TensorFlow Lite Micro (and TensorFlow Lite before the move to LiteRT) uses the
 * fixed-point double-rounding MultiplyByQuantizedMultiplier. They differ by 1 LSB on a few
 * percent of outputs. Every other kernel is the same in both. */
typedef enum qat_rt_flavor {
  QAT_RT_FLAVOR_LITERT = 0, /* default: ai-edge-litert, BUILTIN_REF */
  QAT_RT_FLAVOR_TFLM = 1,   /* TensorFlow Lite Micro's reference kernels */
} qat_rt_flavor;

typedef struct qat_rt_options {
  size_t max_file_bytes; /* 0: QAT_RT_DEFAULT_MAX_FILE_BYTES */
  qat_rt_flavor flavor;
  int preserve_all_tensors; /* give every activation its own arena slot, so that all
                               intermediate tensors stay readable after qat_rt_invoke (for
                               per-layer comparisons); the default shares memory */
  size_t max_arena_bytes;   /* activation memory a file may ask for (last: bindings that mirror
                               the fields before it keep working); 0: the default below */
} qat_rt_options;

typedef struct qat_rt_tensor_info {
  const char *name; /* "" when the file has none */
  int type;         /* TensorType code */
  int rank;
  const int32_t *dims;
  int64_t n_elems;
  size_t bytes;
  int buffer;              /* index into Model.buffers */
  int is_const;            /* has data in the file */
  int is_input, is_output; /* a graph input / output */
  /* Quantization: n_scales == 0 means none; 1 per-tensor; > 1 per-axis along
   * quantized_dimension. */
  int n_scales;
  const float *scales;
  const int64_t *zero_points;
  int quantized_dimension;
  /* Planned placement of an activation (not a constant): offset into the arena. */
  int in_arena;
  size_t arena_offset;
} qat_rt_tensor_info;

typedef struct qat_rt_op_info {
  int code;         /* BuiltinOperator */
  const char *name; /* "CONV_2D"; a custom op's custom_code */
  int version;
  int n_inputs, n_outputs;
  const int32_t *inputs; /* tensor indices, -1 for an omitted optional input */
  const int32_t *outputs;
  int64_t macs; /* multiply-accumulates of one invocation (conv, depthwise, FC), else 0 */
} qat_rt_op_info;

/* Loads from a file (read entirely, size capped before reading) or from memory (copied; the
 * caller's buffer is not kept). name is used in messages (the path for files). opt may be NULL. */
int qat_rt_model_load_file(const char *path, const qat_rt_options *opt, qat_rt_model **out);
int qat_rt_model_load_buffer(const void *data, size_t size, const char *name,
                             const qat_rt_options *opt, qat_rt_model **out);
void qat_rt_model_free(qat_rt_model *m);

/* Only step 1 above (the flatbuffer structure), for tools and fuzzing. */
int qat_rt_verify_flatbuffer(const void *data, size_t size, const char *name);

int qat_rt_num_tensors(const qat_rt_model *m);
int qat_rt_num_ops(const qat_rt_model *m);
int qat_rt_num_inputs(const qat_rt_model *m);
int qat_rt_num_outputs(const qat_rt_model *m);
/* Tensor index of the i-th graph input / output, or -1 when i is out of range. */
int qat_rt_input(const qat_rt_model *m, int i);
int qat_rt_output(const qat_rt_model *m, int i);
/* Error (QAT_ERR_USAGE) for an index out of range. */
int qat_rt_tensor(const qat_rt_model *m, int index, qat_rt_tensor_info *info);
int qat_rt_op(const qat_rt_model *m, int index, qat_rt_op_info *info);

/* The tensor's memory: its place in the arena (write graph inputs here before invoking, read
 * outputs after) or its constant data. NULL for an index out of range. */
void *qat_rt_tensor_data(qat_rt_model *m, int index);

/* Runs the graph once. Inputs are read from, outputs written to, qat_rt_tensor_data(). */
int qat_rt_invoke(qat_rt_model *m);
/* Runs operators [first, end) only, on whatever their input tensors hold: with
 * preserve_all_tensors, one layer can be fed chosen inputs (the parity report feeds each op
 * the fake-quant model's values to see that op's own rounding). */
int qat_rt_invoke_ops(qat_rt_model *m, int first, int end);

/* The first index of the largest of n values of a FLOAT32, INT8, INT16, UINT8 or INT32 tensor
 * (np.argmax; a NaN never wins), e.g. a classifier's top-1; 0 for other types. */
int qat_rt_argmax(int type, const void *data, int64_t n);
/* Element k of a tensor as a float: (q - zero point) * scale for INT8, UINT8 and INT16 (per
 * tensor; 1 and 0 without quantization), the value itself for FLOAT32 and INT32. */
float qat_rt_dequantized(const qat_rt_tensor_info *t, const void *data, int64_t k);

/* Peak activation memory of the arena plan (what a microcontroller must reserve), and the
 * sum of all activation sizes (what no sharing would need). */
size_t qat_rt_arena_bytes(const qat_rt_model *m);
size_t qat_rt_activation_bytes(const qat_rt_model *m);

/* Names and element sizes of TensorType codes ("INT8", 1); "?" and 0 for unknown codes or
 * types without a fixed element size. */
const char *qat_rt_type_name(int type);
size_t qat_rt_type_size(int type);
/* BuiltinOperator name ("CONV_2D"), "?" for an unknown code. */
const char *qat_rt_op_name(int code);

/* The kernels this CPU runs (chosen by its features; QAT_SIMD=0 or avx2 in the environment
 * narrows them): "AVX-512 VNNI", "AVX2" or "plain C". Every path is bit-exact with the
 * reference kernels. */
const char *qat_rt_kernels(void);

#endif
