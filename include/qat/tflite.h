/* A small in-memory description of a TensorFlow Lite model (one subgraph) and the writer that
 * turns it into a .tflite flatbuffer following the official schema
 * (tensorflow/compiler/mlir/lite/schema/schema.fbs; facts and sources in
 * ../shared/TFLITE-NOTES.md).
 *
 * The IR holds what export needs and nothing more: tensors (name, type, shape, optional
 * constant bytes, optional per-tensor or per-channel quantization), operators (a builtin code,
 * tensor indices, and the options of the ops qat writes), and the graph's named inputs and
 * outputs. The writer adds what the TF converter adds to every file:
 *   - identifier "TFL3", Model.version 3, buffer 0 an empty sentinel, one buffer per constant
 *     tensor (data 16-byte aligned, as Buffer.data's force_align asks);
 *   - operator codes with both deprecated_builtin_code = min(code, 127) and builtin_code, in
 *     the order of first use, each with the version that qat_tflite_op_version() gives (the
 *     maximum over the operators using it, as the converter's UpdateOpVersion does);
 *   - a "min_runtime_version" metadata buffer (16 bytes, zero-padded ASCII) holding the
 *     largest runtime version that qat_tflite_min_runtime() gives over the operators;
 *   - a "serving_default" SignatureDef naming the inputs and outputs;
 *   - the description "qat <version>".
 * Output depends on the IR only (no time stamps, no addresses, no hash-table order): the same
 * IR always gives the same bytes.
 *
 * Ownership: the model owns copies of every name, constant and quantization array; the add and
 * set functions copy what they are given. Functions that can fail return 0 or a negative
 * qat_status with a message (qat_error_message()). */
#ifndef QAT_TFLITE_H
#define QAT_TFLITE_H

#include <stddef.h>
#include <stdint.h>
#include "qat/tflite_schema.h"

#define QAT_TFLITE_MAX_RANK 6
#define QAT_TFLITE_MAX_OP_INPUTS 8 /* CONCATENATION: one per Concatenate input (QAT_MAX_LAYER_INPUTS) */
#define QAT_TFLITE_MAX_OP_OUTPUTS 1
#define QAT_TFLITE_MAX_IO 8
/* The converter writes this many bytes for the min_runtime_version string (zero-padded). */
#define QAT_TFLITE_RUNTIME_VERSION_BYTES 16

/* The schema's codes (qat/tflite_schema.h), named here for the IR: the types and operators
 * qat writes. Adding an operator qat writes: one line here, its version rule and options in
 * export/tflite_writer.c. */
#define QAT_TFLITE_WRITTEN_TYPES(X) X(FLOAT32) X(FLOAT16) X(INT32) X(UINT8) X(INT64) X(BOOL) X(INT16) X(INT8)
#define QAT_TFLITE_WRITTEN_OPS(X) \
  X(ADD) X(AVERAGE_POOL_2D) X(CONV_2D) X(DEPTHWISE_CONV_2D) X(DEQUANTIZE) X(FULLY_CONNECTED) \
  X(MAX_POOL_2D) X(RELU) X(RELU6) X(RESHAPE) X(SOFTMAX) X(MEAN) X(REDUCE_MAX) X(QUANTIZE) \
  X(LOGISTIC) X(TANH) X(MUL) X(HARD_SWISH) X(LEAKY_RELU) X(ELU) \
  X(CONCATENATION) X(RESIZE_BILINEAR) X(RESIZE_NEAREST_NEIGHBOR) X(SUB) X(PAD) X(STRIDED_SLICE) \
  X(TRANSPOSE_CONV) X(MAXIMUM) X(MINIMUM) X(PRELU) X(LESS) X(SELECT_V2)

#define QAT_TFLITE_TYPE_ALIAS_(name) QAT_TFLITE_##name = QAT_TFLITE_TYPE_##name,
typedef enum qat_tflite_type { QAT_TFLITE_WRITTEN_TYPES(QAT_TFLITE_TYPE_ALIAS_) } qat_tflite_type;
#undef QAT_TFLITE_TYPE_ALIAS_

#define QAT_TFLITE_OP_ALIAS_(name) QAT_TFLITE_OP_##name = QAT_TFLITE_BUILTIN_##name,
typedef enum qat_tflite_op { QAT_TFLITE_WRITTEN_OPS(QAT_TFLITE_OP_ALIAS_) } qat_tflite_op;
#undef QAT_TFLITE_OP_ALIAS_

/* The schema's ActivationFunctionType (the values qat writes) and Padding. */
typedef enum qat_tflite_activation {
  QAT_TFLITE_ACT_NONE = QAT_TFLITE_ACT_CODE_NONE,
  QAT_TFLITE_ACT_RELU = QAT_TFLITE_ACT_CODE_RELU,
  QAT_TFLITE_ACT_RELU_N1_TO_1 = QAT_TFLITE_ACT_CODE_RELU_N1_TO_1,
  QAT_TFLITE_ACT_RELU6 = QAT_TFLITE_ACT_CODE_RELU6,
} qat_tflite_activation;
typedef enum qat_tflite_padding {
  QAT_TFLITE_PADDING_SAME = QAT_TFLITE_PAD_CODE_SAME,
  QAT_TFLITE_PADDING_VALID = QAT_TFLITE_PAD_CODE_VALID
} qat_tflite_padding;

/* Quantization of one tensor: n == 0 means none (float tensors). n == 1 is per-tensor; n > 1
 * is per-channel along quantized_dimension (n must equal that dimension's size). */
typedef struct qat_tflite_quant {
  int n;
  float *scale;        /* n values (owned) */
  int64_t *zero_point; /* n values (owned) */
  int quantized_dimension;
} qat_tflite_quant;

typedef struct qat_tflite_tensor {
  char *name;
  qat_tflite_type type;
  int rank;
  int dims[QAT_TFLITE_MAX_RANK];
  void *data;          /* constant bytes (owned, host order), or NULL for activations */
  size_t data_bytes;   /* = elements * element size when data is set */
  qat_tflite_quant quant;
} qat_tflite_tensor;

/* Options of every op qat writes. Each op reads only its own fields (listed with the op);
 * qat_tflite_op_init() sets the schema's defaults. */
typedef struct qat_tflite_options {
  qat_tflite_padding padding;          /* CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, pools */
  int stride_w, stride_h;              /* CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, pools */
  int filter_w, filter_h;              /* pools */
  int dilation_w, dilation_h;          /* CONV_2D, DEPTHWISE_CONV_2D (default 1) */
  int depth_multiplier;                /* DEPTHWISE_CONV_2D */
  qat_tflite_activation activation;    /* CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED, pools,
                                          ADD, MUL, CONCATENATION */
  int keep_num_dims;                   /* FULLY_CONNECTED */
  int asymmetric_quantize_inputs;      /* FULLY_CONNECTED (hybrid) */
  qat_tflite_type quantized_bias_type; /* CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED: FLOAT32 (0) = not set */
  int keep_dims;                       /* MEAN, REDUCE_MAX */
  int axis;                            /* CONCATENATION */
  int align_corners, half_pixel_centers; /* RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR */
  float beta;                          /* SOFTMAX (default 1) */
  float alpha;                         /* LEAKY_RELU */
  int pot_scale_int16;                 /* ADD (schema default true) */
  int n_new_shape;                     /* RESHAPE: > 0 writes ReshapeOptions.new_shape; 0 writes
                                          no options (the MLIR converter's form: the shape is
                                          the op's 2nd input) */
  int new_shape[QAT_TFLITE_MAX_RANK];
} qat_tflite_options;

typedef struct qat_tflite_operator {
  qat_tflite_op op;
  int n_inputs;
  int inputs[QAT_TFLITE_MAX_OP_INPUTS]; /* tensor indices; -1 = an omitted optional input */
  int n_outputs;
  int outputs[QAT_TFLITE_MAX_OP_OUTPUTS];
  qat_tflite_options opt;
} qat_tflite_operator;

/* A graph input or output: the tensor and its name in the serving_default signature. */
typedef struct qat_tflite_io {
  int tensor;
  char *name;
} qat_tflite_io;

typedef struct qat_tflite_model {
  qat_tflite_tensor *tensors;
  int n_tensors, cap_tensors;
  qat_tflite_operator *ops;
  int n_ops, cap_ops;
  qat_tflite_io inputs[QAT_TFLITE_MAX_IO];
  int n_inputs;
  qat_tflite_io outputs[QAT_TFLITE_MAX_IO];
  int n_outputs;
  /* TFLite Support's model metadata (a ModelMetadata flatbuffer, qat_tflite_metadata_build),
   * written as the buffer of the Model.metadata entry "TFLITE_METADATA"; owned, NULL for none */
  uint8_t *support_metadata;
  size_t support_metadata_bytes;
} qat_tflite_model;

void qat_tflite_model_init(qat_tflite_model *m);
/* Frees everything the model owns and leaves it empty (initialized); safe twice. */
void qat_tflite_model_free(qat_tflite_model *m);

/* Bytes per element (FLOAT32 4, FLOAT16 2, INT8/UINT8 1, ...), 0 for an unknown type. */
size_t qat_tflite_type_size(qat_tflite_type t);
/* Schema names: "FLOAT32", "CONV_2D", ...; "?" for values outside the enums above. */
const char *qat_tflite_type_name(qat_tflite_type t);
const char *qat_tflite_op_name(qat_tflite_op op);

/* Appends a tensor (dims copied, rank 0..QAT_TFLITE_MAX_RANK, every dim >= 0) and reports its
 * index in *index. data may be NULL (an activation); otherwise bytes must equal the element
 * count times the type's size, and the bytes are copied. */
int qat_tflite_add_tensor(qat_tflite_model *m, const char *name, qat_tflite_type type, int rank, const int *dims,
                          const void *data, size_t bytes, int *index);
/* Sets (replaces) a tensor's quantization: n scales and zero points along qdim (ignored when
 * n == 1). Copies the arrays. */
int qat_tflite_set_quant(qat_tflite_model *m, int tensor, int n, const float *scale, const int64_t *zero_point,
                         int qdim);
/* An operator with the schema's default options for its code (strides 1, dilation 1,
 * depth_multiplier 1, beta 1, pot_scale_int16 1, everything else 0/NONE) and no tensors. */
void qat_tflite_op_init(qat_tflite_operator *op, qat_tflite_op code);
/* Appends a copy of op (operators run in the order they are added) and reports its index. */
int qat_tflite_add_op(qat_tflite_model *m, const qat_tflite_operator *op, int *index);
int qat_tflite_add_input(qat_tflite_model *m, int tensor, const char *signature_name);
int qat_tflite_add_output(qat_tflite_model *m, int tensor, const char *signature_name);

/* Checks what the writer relies on: indices in range, constant sizes, quantization counts,
 * each non-constant tensor produced at most once and before it is used (or a graph input),
 * op arity and input types of the ops above, unique signature names. */
int qat_tflite_validate(const qat_tflite_model *m);

/* The operator version TFLite's versioning rules give this operator
 * (tensorflow/compiler/mlir/lite/tools/versioning/op_version.cc, GetBuiltinOperatorVersion, with
 * the ext_options of op_signature.cc), for the ops and types above. The operator's tensors are
 * looked up in m. */
int qat_tflite_op_version(const qat_tflite_model *m, const qat_tflite_operator *op);
/* runtime_version.cc's FindMinimumRuntimeVersionForOp for the ops above: "1.14.0" for
 * (CONV_2D, 3); NULL where the table has no entry. */
const char *qat_tflite_min_runtime(qat_tflite_op op, int version);
/* Compares two dotted versions numerically ("1.14.0" > "1.5.0"); NULL or "" is the lowest. */
int qat_tflite_compare_versions(const char *a, const char *b);

/* The whole file in memory (malloc'd into *bytes, *size bytes): validates, then builds. */
int qat_tflite_serialize(const qat_tflite_model *m, uint8_t **bytes, size_t *size);

/* What qat_tflite_metadata_build records (export/tflite_metadata.c). */
#define QAT_TFLITE_METADATA_MAX_CHANNELS 16
typedef struct qat_tflite_metadata {
  const char *name, *description;
  const char *input_description; /* what the input expects, in words */
  int image_channels;            /* 1: a grayscale image input, 3: RGB; otherwise a feature tensor */
  int n_norm;                    /* 0, or channels of (v - mean) / std in stored units (v 0..255) */
  float mean[QAT_TFLITE_METADATA_MAX_CHANNELS], std[QAT_TFLITE_METADATA_MAX_CHANNELS];
  const char *labels_file;       /* the output's TENSOR_AXIS_LABELS file in the appended zip, or NULL */
} qat_tflite_metadata;
/* Builds TFLite Support's ModelMetadata for t (its inputs and outputs by name) into
 * t->support_metadata, which qat_tflite_serialize writes as the "TFLITE_METADATA" buffer. */
int qat_tflite_metadata_build(qat_tflite_model *t, const qat_tflite_metadata *md);
/* The first input's NormalizationOptions in a serialized model's TFLite Support metadata:
 * x = (v - mean[c]) / std[c] over stored values v. Returns the channels (1..max) written to
 * mean and std, 0 when the file carries none (or none that is finite with nonzero std). */
int qat_tflite_read_normalization(const uint8_t *bytes, size_t size, float *mean, float *std, int max);

/* Files packed with a serialized model (export/tflite_files.c, the full build's
 * qat_tflite_files): a zip archive of n_files entries (names[i], sizes[i] bytes of data[i],
 * stored uncompressed) appended to *bytes (realloc'd), its offsets counted from the file's
 * start. TFLite loads the model as before; TFLite Support finds labels.txt there. */
int qat_tflite_append_files(uint8_t **bytes, size_t *size, int n_files, const char *const *names,
                            const void *const *data, const size_t *sizes);
/* The packed file `name` of a model file's bytes into *out (malloc'd, NUL-terminated, *n bytes);
 * *out NULL when the model packs no such file (or no archive at all). */
int qat_tflite_read_file(const uint8_t *bytes, size_t size, const char *name, char **out, size_t *n);
/* The class names of the .tflite at model_path, one per line of labels.txt: the one packed into
 * the file (bytes, size: its contents when the caller has read them, NULL to read them here),
 * else the one beside it. None is fine (*n 0); only running out of memory is an error. */
int qat_tflite_read_labels(const char *model_path, const uint8_t *bytes, size_t size, char ***names, int *n);
/* Serializes and writes atomically (qat_atomic_write: temp file, fsync, rename): on failure the
 * target is untouched. */
int qat_tflite_write(const qat_tflite_model *m, const char *path);

#endif
