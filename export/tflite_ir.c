/* The TFLite model IR (include/qat/tflite.h): names and sizes, building it, and its
 * validation. Codes are qat/tflite_schema.h's. */
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
  free(m->support_metadata);
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
  case QAT_TFLITE_OP_TRANSPOSE_CONV:
    *min_in = 3, *max_in = 4, *optional_in = 3; /* output_shape, weights, x, [bias] */
    return;
  case QAT_TFLITE_OP_ADD:
  case QAT_TFLITE_OP_SUB:
  case QAT_TFLITE_OP_MUL:
  case QAT_TFLITE_OP_MAXIMUM:
  case QAT_TFLITE_OP_MINIMUM:
  case QAT_TFLITE_OP_LESS:
  case QAT_TFLITE_OP_PRELU: /* x, alpha */
  case QAT_TFLITE_OP_MEAN:
  case QAT_TFLITE_OP_REDUCE_MAX: *min_in = *max_in = 2; return; /* x, axes */
  case QAT_TFLITE_OP_RESHAPE: *min_in = 1, *max_in = 2; return; /* x, [shape] */
  case QAT_TFLITE_OP_PAD: *min_in = *max_in = 2; return;          /* x, paddings */
  case QAT_TFLITE_OP_STRIDED_SLICE: *min_in = *max_in = 4; return; /* x, begin, end, strides */
  case QAT_TFLITE_OP_RESIZE_BILINEAR:
  case QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR: *min_in = *max_in = 2; return; /* x, size */
  case QAT_TFLITE_OP_CONCATENATION: *min_in = 1, *max_in = QAT_TFLITE_MAX_OP_INPUTS; return;
  case QAT_TFLITE_OP_SELECT_V2: *min_in = *max_in = 3; return; /* condition, x, y */
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
