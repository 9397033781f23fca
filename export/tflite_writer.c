/* The TFLite model IR (include/qat/tflite.h) and its flatbuffer writer.
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

static size_t schema_type_size(int code) {
  switch (code) {
#define SIZE_(name, c, size) case c: return size;
    QAT_TFLITE_TENSOR_TYPES(SIZE_)
#undef SIZE_
  }
  return 0;
}

/* ---- names and sizes (the schema's lists; the IR accepts the types of QAT_TFLITE_WRITTEN_TYPES) ---- */

size_t qat_tflite_type_size(qat_tflite_type t) {
#define SIZE_(name) if (t == QAT_TFLITE_##name) return schema_type_size(QAT_TFLITE_TYPE_##name);
  QAT_TFLITE_WRITTEN_TYPES(SIZE_)
#undef SIZE_
  return 0;
}

const char *qat_tflite_type_name(qat_tflite_type t) {
#define NAME_(name) if (t == QAT_TFLITE_##name) return #name;
  QAT_TFLITE_WRITTEN_TYPES(NAME_)
#undef NAME_
  return "?";
}

const char *qat_tflite_op_name(qat_tflite_op op) {
#define NAME_(name) if (op == QAT_TFLITE_OP_##name) return #name;
  QAT_TFLITE_WRITTEN_OPS(NAME_)
#undef NAME_
  return "?";
}

/* ---- building the IR ---- */

void qat_tflite_model_init(qat_tflite_model *m) { memset(m, 0, sizeof *m); }

static void free_tensor(qat_tflite_tensor *t) {
  free(t->name);
  free(t->data);
  free(t->quant.scale);
  free(t->quant.zero_point);
}

void qat_tflite_model_free(qat_tflite_model *m) {
  if (!m) return;
  for (int i = 0; i < m->n_tensors; i++) free_tensor(&m->tensors[i]);
  free(m->tensors);
  free(m->ops);
  for (int i = 0; i < m->n_inputs; i++) free(m->inputs[i].name);
  for (int i = 0; i < m->n_outputs; i++) free(m->outputs[i].name);
  qat_tflite_model_init(m);
}

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Element count of a shape; -1 when a dimension is invalid or the count overflows what a
 * flatbuffer (< 2 GiB) could ever hold. */
static int64_t shape_elements(int rank, const int *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 1) return -1;
    n *= dims[i];
    if (n > (int64_t)QAT_FB_MAX_SIZE) return -1;
  }
  return n;
}

int qat_tflite_add_tensor(qat_tflite_model *m, const char *name, qat_tflite_type type, int rank, const int *dims,
                          const void *data, size_t bytes, int *index) {
  if (!name || !*name) return qat_fail(QAT_ERR_INTERNAL, "tflite: tensor %d has no name", m->n_tensors);
  if (qat_tflite_type_size(type) == 0)
    return qat_fail(QAT_ERR_INTERNAL, "tflite: tensor '%s': unsupported type %d", name, (int)type);
  if (rank < 0 || rank > QAT_TFLITE_MAX_RANK)
    return qat_fail(QAT_ERR_INTERNAL, "tflite: tensor '%s': rank %d outside [0, %d]", name, rank,
                    QAT_TFLITE_MAX_RANK);
  int64_t n = shape_elements(rank, dims);
  if (n < 0) return qat_fail(QAT_ERR_INTERNAL, "tflite: tensor '%s': invalid shape", name);
  if (data && bytes != (size_t)n * qat_tflite_type_size(type))
    return qat_fail(QAT_ERR_INTERNAL, "tflite: tensor '%s': %zu bytes of data for %lld %s elements", name, bytes,
                    (long long)n, qat_tflite_type_name(type));
  if (m->n_tensors == m->cap_tensors) {
    int cap = m->cap_tensors ? 2 * m->cap_tensors : 32;
    qat_tflite_tensor *t = realloc(m->tensors, (size_t)cap * sizeof *t);
    if (!t) return qat_fail(QAT_ERR_NOMEM, "tflite: out of memory for %d tensors", cap);
    m->tensors = t;
    m->cap_tensors = cap;
  }
  qat_tflite_tensor *t = &m->tensors[m->n_tensors];
  memset(t, 0, sizeof *t);
  t->name = dup_string(name);
  if (!t->name) return qat_fail(QAT_ERR_NOMEM, "tflite: out of memory");
  t->type = type;
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  if (data) {
    t->data = malloc(bytes);
    if (!t->data) {
      free(t->name);
      return qat_fail(QAT_ERR_NOMEM, "tflite: out of memory for %zu bytes of '%s'", bytes, name);
    }
    memcpy(t->data, data, bytes);
    t->data_bytes = bytes;
  }
  if (index) *index = m->n_tensors;
  m->n_tensors++;
  return QAT_OK;
}

int qat_tflite_set_quant(qat_tflite_model *m, int tensor, int n, const float *scale, const int64_t *zero_point,
                         int qdim) {
  if (tensor < 0 || tensor >= m->n_tensors)
    return qat_fail(QAT_ERR_INTERNAL, "tflite: quantization for tensor %d of %d", tensor, m->n_tensors);
  qat_tflite_tensor *t = &m->tensors[tensor];
  if (n < 0 || (n > 0 && (!scale || !zero_point)))
    return qat_fail(QAT_ERR_INTERNAL, "tflite: tensor '%s': bad quantization arrays", t->name);
  float *s = NULL;
  int64_t *z = NULL;
  if (n > 0) {
    s = malloc((size_t)n * sizeof *s);
    z = malloc((size_t)n * sizeof *z);
    if (!s || !z) {
      free(s);
      free(z);
      return qat_fail(QAT_ERR_NOMEM, "tflite: out of memory");
    }
    memcpy(s, scale, (size_t)n * sizeof *s);
    memcpy(z, zero_point, (size_t)n * sizeof *z);
  }
  free(t->quant.scale);
  free(t->quant.zero_point);
  t->quant.n = n;
  t->quant.scale = s;
  t->quant.zero_point = z;
  t->quant.quantized_dimension = n > 1 ? qdim : 0;
  return QAT_OK;
}

void qat_tflite_op_init(qat_tflite_operator *op, qat_tflite_op code) {
  memset(op, 0, sizeof *op);
  op->op = code;
  op->opt.padding = QAT_TFLITE_PADDING_SAME;
  op->opt.stride_w = op->opt.stride_h = 1;
  op->opt.filter_w = op->opt.filter_h = 1;
  op->opt.dilation_w = op->opt.dilation_h = 1;
  op->opt.depth_multiplier = 1;
  op->opt.beta = 1.0f;
  op->opt.pot_scale_int16 = 1;
}

int qat_tflite_add_op(qat_tflite_model *m, const qat_tflite_operator *op, int *index) {
  if (m->n_ops == m->cap_ops) {
    int cap = m->cap_ops ? 2 * m->cap_ops : 16;
    qat_tflite_operator *o = realloc(m->ops, (size_t)cap * sizeof *o);
    if (!o) return qat_fail(QAT_ERR_NOMEM, "tflite: out of memory for %d operators", cap);
    m->ops = o;
    m->cap_ops = cap;
  }
  m->ops[m->n_ops] = *op;
  if (index) *index = m->n_ops;
  m->n_ops++;
  return QAT_OK;
}

static int add_io(qat_tflite_io *list, int *n, int tensor, const char *name, const char *what) {
  if (*n >= QAT_TFLITE_MAX_IO) return qat_fail(QAT_ERR_INTERNAL, "tflite: more than %d %ss", QAT_TFLITE_MAX_IO, what);
  if (!name || !*name) return qat_fail(QAT_ERR_INTERNAL, "tflite: graph %s %d has no signature name", what, *n);
  char *d = dup_string(name);
  if (!d) return qat_fail(QAT_ERR_NOMEM, "tflite: out of memory");
  list[*n].tensor = tensor;
  list[*n].name = d;
  (*n)++;
  return QAT_OK;
}

int qat_tflite_add_input(qat_tflite_model *m, int tensor, const char *signature_name) {
  return add_io(m->inputs, &m->n_inputs, tensor, signature_name, "input");
}

int qat_tflite_add_output(qat_tflite_model *m, int tensor, const char *signature_name) {
  return add_io(m->outputs, &m->n_outputs, tensor, signature_name, "output");
}

/* ---- validation ---- */

static const qat_tflite_tensor *tensor_at(const qat_tflite_model *m, int i) {
  return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}

/* Input counts each op accepts, and which input may be omitted (-1). */
static void op_arity(qat_tflite_op op, int *min_in, int *max_in, int *optional_in) {
  *optional_in = -1;
  switch (op) {
  case QAT_TFLITE_OP_CONV_2D:
  case QAT_TFLITE_OP_DEPTHWISE_CONV_2D:
  case QAT_TFLITE_OP_FULLY_CONNECTED:
    *min_in = 2, *max_in = 3, *optional_in = 2; /* x, weights, [bias] */
    return;
  case QAT_TFLITE_OP_ADD:
  case QAT_TFLITE_OP_MEAN:
  case QAT_TFLITE_OP_REDUCE_MAX: *min_in = *max_in = 2; return; /* x, axes */
  case QAT_TFLITE_OP_RESHAPE: *min_in = 1, *max_in = 2; return; /* x, [shape] */
  default: *min_in = *max_in = 1; return;
  }
}

static int check_quant(const qat_tflite_tensor *t, int index) {
  const qat_tflite_quant *q = &t->quant;
  if (q->n == 0) return QAT_OK;
  if (q->n > 1) {
    if (q->quantized_dimension < 0 || q->quantized_dimension >= t->rank)
      return qat_fail(QAT_ERR_INTERNAL, "tflite: tensor %d '%s': quantized_dimension %d outside rank %d", index,
                      t->name, q->quantized_dimension, t->rank);
    if (q->n != t->dims[q->quantized_dimension])
      return qat_fail(QAT_ERR_INTERNAL, "tflite: tensor %d '%s': %d scales for dimension %d of size %d", index,
                      t->name, q->n, q->quantized_dimension, t->dims[q->quantized_dimension]);
  }
  for (int c = 0; c < q->n; c++)
    if (!isfinite(q->scale[c]) || !(q->scale[c] > 0.0f))
      return qat_fail(QAT_ERR_INTERNAL, "tflite: tensor %d '%s': scale[%d] = %g is not a positive finite number",
                      index, t->name, c, (double)q->scale[c]);
  return QAT_OK;
}

int qat_tflite_validate(const qat_tflite_model *m) {
  int rc = QAT_OK;
  /* producer[i]: the op writing tensor i, -2 for a graph input, -1 for none yet. */
  int *producer = malloc((size_t)(m->n_tensors ? m->n_tensors : 1) * sizeof *producer);
  if (!producer) return qat_fail(QAT_ERR_NOMEM, "tflite: out of memory");
  for (int i = 0; i < m->n_tensors; i++) {
    const qat_tflite_tensor *t = &m->tensors[i];
    producer[i] = -1;
    if ((rc = check_quant(t, i))) goto free_producer;
  }
  if (m->n_inputs < 1 || m->n_outputs < 1) {
    rc = qat_fail(QAT_ERR_INTERNAL, "tflite: the graph needs at least one input and one output");
    goto free_producer;
  }
  for (int i = 0; i < m->n_inputs; i++) {
    const qat_tflite_tensor *t = tensor_at(m, m->inputs[i].tensor);
    if (!t || t->data) {
      rc = qat_fail(QAT_ERR_INTERNAL, "tflite: graph input '%s' is not an activation tensor", m->inputs[i].name);
      goto free_producer;
    }
    producer[m->inputs[i].tensor] = -2;
    for (int j = 0; j < i; j++)
      if (!strcmp(m->inputs[i].name, m->inputs[j].name)) {
        rc = qat_fail(QAT_ERR_INTERNAL, "tflite: two graph inputs named '%s'", m->inputs[i].name);
        goto free_producer;
      }
  }
  for (int k = 0; k < m->n_ops; k++) {
    const qat_tflite_operator *op = &m->ops[k];
    const char *name = qat_tflite_op_name(op->op);
    if (!strcmp(name, "?")) {
      rc = qat_fail(QAT_ERR_INTERNAL, "tflite: operator %d: unsupported builtin code %d", k, (int)op->op);
      goto free_producer;
    }
    int min_in, max_in, optional_in;
    op_arity(op->op, &min_in, &max_in, &optional_in);
    if (op->n_inputs < min_in || op->n_inputs > max_in || op->n_outputs != 1) {
      rc = qat_fail(QAT_ERR_INTERNAL, "tflite: operator %d (%s) has %d inputs and %d outputs", k, name, op->n_inputs,
                    op->n_outputs);
      goto free_producer;
    }
    for (int j = 0; j < op->n_inputs; j++) {
      int ti = op->inputs[j];
      if (ti == -1 && j == optional_in) continue;
      const qat_tflite_tensor *t = tensor_at(m, ti);
      if (!t) {
        rc = qat_fail(QAT_ERR_INTERNAL, "tflite: operator %d (%s): input %d is tensor %d of %d", k, name, j, ti,
                      m->n_tensors);
        goto free_producer;
      }
      if (!t->data && producer[ti] == -1) {
        rc = qat_fail(QAT_ERR_INTERNAL, "tflite: input tensor %d ('%s') of operator %d (%s) is not produced", ti,
                      t->name, k, name);
        goto free_producer;
      }
    }
    int out = op->outputs[0];
    const qat_tflite_tensor *t = tensor_at(m, out);
    if (!t || t->data || producer[out] != -1) {
      rc = qat_fail(QAT_ERR_INTERNAL,
                    "tflite: operator %d (%s): output tensor %d is missing, a constant or written twice", k, name,
                    out);
      goto free_producer;
    }
    producer[out] = k;
    /* Inputs whose type the ops fix, whatever the mode. */
    if (op->op == QAT_TFLITE_OP_MEAN || op->op == QAT_TFLITE_OP_REDUCE_MAX || (op->op == QAT_TFLITE_OP_RESHAPE && op->n_inputs == 2)) {
      const qat_tflite_tensor *s = tensor_at(m, op->inputs[1]);
      if (s->type != QAT_TFLITE_INT32 || s->rank != 1) {
        rc = qat_fail(QAT_ERR_INTERNAL, "tflite: operator %d (%s): its 2nd input must be a 1-D INT32 tensor", k,
                      name);
        goto free_producer;
      }
    }
  }
  for (int i = 0; i < m->n_outputs; i++) {
    const qat_tflite_tensor *t = tensor_at(m, m->outputs[i].tensor);
    if (!t || producer[m->outputs[i].tensor] < 0) {
      rc = qat_fail(QAT_ERR_INTERNAL, "tflite: graph output '%s' is not produced by an operator", m->outputs[i].name);
      goto free_producer;
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(m->outputs[i].name, m->outputs[j].name)) {
        rc = qat_fail(QAT_ERR_INTERNAL, "tflite: two graph outputs named '%s'", m->outputs[i].name);
        goto free_producer;
      }
  }
free_producer:
  free(producer);
  return rc;
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
  case QAT_TFLITE_OP_MAX_POOL_2D:
  case QAT_TFLITE_OP_AVERAGE_POOL_2D:
    /* 3: int16 in and out; 2: int8 input. */
    if (in0 == I16 && out0 == I16) return 3;
    if (in0 == I8) return 2;
    return 1;
  case QAT_TFLITE_OP_SOFTMAX:
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
  case QAT_TFLITE_OP_RESHAPE:
    /* RESHAPE has no case in GetBuiltinOperatorVersion: the default, 1, for every type. */
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
    {QAT_TFLITE_OP_REDUCE_MAX, 3, "2.5.0"},
    {QAT_TFLITE_OP_RELU6, 1, "1.5.0"},            {QAT_TFLITE_OP_RELU6, 2, "1.14.0"},
    {QAT_TFLITE_OP_RELU6, 3, "2.5.0"},            {QAT_TFLITE_OP_RELU, 1, "1.5.0"},
    {QAT_TFLITE_OP_RELU, 2, "2.1.0"},             {QAT_TFLITE_OP_RELU, 3, "2.5.0"},
    {QAT_TFLITE_OP_DEQUANTIZE, 1, "1.13.1"},      {QAT_TFLITE_OP_DEQUANTIZE, 2, "1.14.0"},
    {QAT_TFLITE_OP_DEQUANTIZE, 3, "1.15.0"},      {QAT_TFLITE_OP_DEQUANTIZE, 4, "2.2.0"},
    {QAT_TFLITE_OP_DEQUANTIZE, 5, "2.7.0"},       {QAT_TFLITE_OP_QUANTIZE, 1, "1.14.0"},
    {QAT_TFLITE_OP_QUANTIZE, 2, "1.15.0"},        {QAT_TFLITE_OP_QUANTIZE, 3, "2.7.0"},
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
  case QAT_TFLITE_OP_MEAN:
  case QAT_TFLITE_OP_REDUCE_MAX:
    *type = QAT_TFLITE_OPTIONS_ReducerOptions;
    qat_fb_start_table(b, QAT_TFLITE_ReducerOptions__COUNT);
    qat_fb_add_scalar_bool(b, QAT_TFLITE_ReducerOptions_keep_dims, o->keep_dims != 0, false);
    return qat_fb_end_table(b);
  default:
    /* RELU, RELU6: no options table exists. QUANTIZE, DEQUANTIZE: empty tables that the
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
  w->n_buffers++; /* min_runtime_version */
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
  qat_fb_off md_name = qat_fb_create_string(b, "min_runtime_version");
  qat_fb_start_table(b, QAT_TFLITE_Metadata__COUNT);
  qat_fb_add_offset(b, QAT_TFLITE_Metadata_name, md_name);
  qat_fb_add_scalar_u32(b, QAT_TFLITE_Metadata_buffer, (uint32_t)(w->n_buffers - 1), 0);
  qat_fb_off md = qat_fb_end_table(b);
  qat_fb_off metadata = qat_fb_create_offset_vector(b, &md, 1);
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
