/* The .tflite reader: a structural flatbuffer verifier, then a parser into rt_tensor / rt_op,
 * then the graph checks. Every byte it reads comes from an untrusted file.
 *
 * Structure: qat_fb_verify (flatbuf/, rules in qat/flatbuf_read.h) walks every table, vtable,
 * field, vector, string and union reachable from Model, described by qat/tflite_schema.h's
 * lists; before it, the buffer must be at most the cap and at least 8 bytes, bytes 4..8 the
 * "TFL3" identifier. Nesting depth <= 64 and at most 10^6 tables.
 *
 * Graph (TFLite's InterpreterBuilder / ParseQuantization rules, plus the stricter ones of
 * ../shared/BAD-INPUTS.md section E): one subgraph; opcode, tensor and buffer indices in range;
 * -1 only for optional op inputs; every op input a constant, a graph input or the output of an
 * earlier op (the stored order must be topological, so a cycle is an input "not produced");
 * shapes rank <= 6, dims >= 1, <= 2^31 elements; constant data exactly prod(dims) * element
 * size; scales finite normal > 0, zero points within the type, one scale or dims[qdim] of them. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "qat/flatbuf.h"
#include "qat/flatbuf_read.h"
#include "qat/tflite_schema.h"
#include "runtime/rt_op.h"

/* ---- the part of the schema the verifier walks ----------------------------------------- */

/* Table and union ids are qat/tflite_schema.h's. */
#define T_MODEL QAT_TFLITE_T(Model)
#define T_OPAQUE QAT_TFLITE_NUM_TABLES /* a union member the runtime does not read */
#define T_COUNT (QAT_TFLITE_NUM_TABLES + 1)

#define UNION_MAX_(name, max) [QAT_TFLITE_U(name)] = max,
static const int union_max[QAT_TFLITE_NUM_UNIONS] = {QAT_TFLITE_UNIONS(UNION_MAX_)};
#undef UNION_MAX_

#define FIELD_(table, field, kind, arg) {#field, QAT_FB_K_##kind, (uint8_t)(arg)},
#define FIELDS_(name)                                                              \
  static const qat_fb_field_desc name##_fields[QAT_TFLITE_##name##__COUNT + 1] = {          \
      QAT_TFLITE_FIELDS_##name(FIELD_){NULL, 0, 0}};
QAT_TFLITE_TABLES(FIELDS_)
#undef FIELDS_
#undef FIELD_

/* Every table of the schema the verifier walks, its fields in declaration order (= field id). */
#define TABLE_(name) [QAT_TFLITE_T(name)] = {#name, QAT_TFLITE_##name##__COUNT, name##_fields},
static const qat_fb_table_desc tables[T_COUNT] = {
    QAT_TFLITE_TABLES(TABLE_)[T_OPAQUE] = {"(options table)", 0, NULL},
};
#undef TABLE_

static int union_table(int uid, unsigned type) {
  switch (uid) {
    case QAT_TFLITE_U(BuiltinOptions):
      switch (type) {
#define MEMBER_(table, id) \
  case id: return QAT_TFLITE_T(table);
        QAT_TFLITE_BUILTIN_OPTIONS(MEMBER_)
#undef MEMBER_
        default: return T_OPAQUE;
      }
    case QAT_TFLITE_U(QuantizationDetails):
      return type == 1 ? QAT_TFLITE_T(CustomQuantization)
             : type == 2 ? QAT_TFLITE_T(BlockwiseQuantization)
                         : QAT_TFLITE_T(MultiAxisQuantization);
    case QAT_TFLITE_U(SparseIndexVector):
      return type == 1 ? QAT_TFLITE_T(Int32Vector)
             : type == 2 ? QAT_TFLITE_T(Uint16Vector)
                         : QAT_TFLITE_T(Uint8Vector);
    default: return T_OPAQUE;
  }
}

static const qat_fb_schema tflite_schema = {tables, union_max, union_table, QAT_RT_MAX_DEPTH,
                                             QAT_RT_MAX_TABLES};

int rt_verify_flatbuffer(const uint8_t *buf, size_t len, const char *name) {
  if (len > QAT_FB_MAX_SIZE)
    return qat_fail(QAT_ERR_FORMAT, "%s: invalid flatbuffer: %zu bytes, more than 2^31 - 1", name,
                    len);
  if (len < 8)
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: not a TFLite model: %zu bytes is too short for a flatbuffer", name, len);
  if (memcmp(buf + 4, QAT_TFLITE_FILE_IDENTIFIER, 4) != 0) {
    char id[17];
    int k = 0;
    for (int i = 4; i < 8; i++)
      k += snprintf(id + k, sizeof id - (size_t)k, buf[i] >= 32 && buf[i] < 127 ? "%c" : "\\x%02x",
                    buf[i]);
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: not a TFLite model: file identifier is '%s', expected 'TFL3'", name, id);
  }
  return qat_fb_verify(buf, len, &tflite_schema, T_MODEL, name);
}

int qat_rt_verify_flatbuffer(const void *data, size_t size, const char *name) {
  if (!data && size) return qat_fail(QAT_ERR_USAGE, "qat_rt_verify_flatbuffer: no data");
  return rt_verify_flatbuffer(data, size, name ? name : "model");
}

/* ---- type table ----------------------------------------------------------------------- */

/* TensorType: name and element size in bytes (0: no fixed size, or packed sub-byte). */
static const struct {
  const char *name;
  size_t size;
} type_info[] = {
#define TYPE_(name, code, size) [code] = {#name, size},
    QAT_TFLITE_TENSOR_TYPES(TYPE_)
#undef TYPE_
};
#define N_TYPES ((int)(sizeof type_info / sizeof type_info[0]))

static const char *const op_names[] = {
#define OP_(name, code) [code] = #name,
    QAT_TFLITE_BUILTIN_OPS(OP_)
#undef OP_
};

const char *qat_rt_type_name(int type) {
  return type >= 0 && type < N_TYPES ? type_info[type].name : "?";
}
size_t qat_rt_type_size(int type) { return type >= 0 && type < N_TYPES ? type_info[type].size : 0; }
const char *qat_rt_op_name(int code) {
  return code >= 0 && code < QAT_TFLITE_NUM_BUILTIN_OPS ? op_names[code] : "?";
}

/* ---- parsing -------------------------------------------------------------------------- */

static const char *tname(const rt_tensor *t) { return t->name ? t->name : ""; }

/* "[1,28,28,1]" */
static void fmt_shape(char *buf, size_t len, const int32_t *dims, int rank) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, len - k, "[");
  for (int i = 0; i < rank && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, i ? ",%d" : "%d", dims[i]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

typedef struct rt_buffer {
  size_t data; /* position in the file, 0: empty */
  uint64_t size;
} rt_buffer;

static int read_buffers(qat_rt_model *m, const qat_fb_table *model, rt_buffer **out) {
  size_t vd;
  uint32_t n;
  *out = NULL;
  qat_fb_vec(model, QAT_TFLITE_Model_buffers, 4, &vd, &n);
  m->n_buffers = (int)n;
  if (n == 0) return QAT_OK;
  rt_buffer *bufs = calloc(n, sizeof *bufs);
  if (!bufs) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory for %u buffers", m->name, n);
  for (uint32_t i = 0; i < n; i++) {
    const qat_fb_table b = qat_fb_vec_table(model, vd, i);
    size_t dd;
    uint32_t dn;
    const uint64_t off = qat_fb_u64(&b, QAT_TFLITE_Buffer_offset, 0), size = qat_fb_u64(&b, QAT_TFLITE_Buffer_size, 0);
    if (qat_fb_vec(&b, QAT_TFLITE_Buffer_data, 1, &dd, &dn) && dn > 0) {
      bufs[i].data = dd;
      bufs[i].size = dn;
    } else if (off > 1 && size > 0) {
      /* Schema 3c: data outside the flatbuffer, at offset from the start of the file (TFLite
       * treats offset 1 as "not set"). Checked without forming off + size. */
      if (off > m->file_len || size > m->file_len - off) {
        free(bufs);
        return qat_fail(QAT_ERR_FORMAT,
                        "%s: buffer %u: external data at offset %llu, size %llu lies outside the "
                        "%zu-byte file",
                        m->name, i, (unsigned long long)off, (unsigned long long)size, m->file_len);
      }
      bufs[i].data = (size_t)off;
      bufs[i].size = size;
    }
  }
  *out = bufs;
  return QAT_OK;
}

static int read_quantization(qat_rt_model *m, int index, rt_tensor *t, const qat_fb_table *q) {
  size_t sd, zd;
  uint32_t ns, nz;
  if (!qat_fb_present(q)) return QAT_OK;
  if (qat_fb_u8(q, QAT_TFLITE_QuantizationParameters_details_type, 0) != 0)
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "%s: tensor %d '%s': custom or blockwise quantization (details type %d) is "
                    "not supported",
                    m->name, index, tname(t), qat_fb_u8(q, QAT_TFLITE_QuantizationParameters_details_type, 0));
  if (!qat_fb_vec(q, QAT_TFLITE_QuantizationParameters_scale, 4, &sd, &ns) || ns == 0) return QAT_OK; /* no scale: not quantized */
  if (!qat_fb_vec(q, QAT_TFLITE_QuantizationParameters_zero_point, 8, &zd, &nz))
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: tensor %d '%s': quantization has %u scales but no zero_point", m->name,
                    index, tname(t), ns);
  if (nz != ns)
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: tensor %d '%s': quantization has %u zero points and %u scales; they "
                    "must be as many",
                    m->name, index, tname(t), nz, ns);
  const int32_t qd = qat_fb_i32(q, QAT_TFLITE_QuantizationParameters_quantized_dimension, 0);
  if (qd < 0 || (t->rank > 0 && qd >= t->rank))
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: tensor %d '%s': quantized_dimension %d is out of range for rank %d",
                    m->name, index, tname(t), qd, t->rank);
  if (ns != 1 && (t->rank == 0 || (int64_t)ns != t->dims[qd]))
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: tensor %d '%s': %u scales for quantized_dimension %d of size %d (must "
                    "be 1 or the dimension's size)",
                    m->name, index, tname(t), ns, qd, t->rank ? t->dims[qd] : 0);
  t->scales = malloc(ns * sizeof *t->scales);
  t->zero_points = malloc(ns * sizeof *t->zero_points);
  if (!t->scales || !t->zero_points)
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory for quantization of tensor %d", m->name,
                    index);
  t->n_q = (int)ns;
  t->qdim = qd;
  int64_t zmin = INT64_MIN, zmax = INT64_MAX;
  switch (t->type) {
    case QAT_RT_INT8: zmin = -128, zmax = 127; break;
    case QAT_RT_UINT8: zmin = 0, zmax = 255; break;
    case QAT_RT_INT16: zmin = -32768, zmax = 32767; break;
    case QAT_RT_INT32: zmin = INT32_MIN, zmax = INT32_MAX; break;
    default: break;
  }
  for (uint32_t i = 0; i < ns; i++) {
    const float s = qat_fb_rdf32(m->file, sd + 4 * (size_t)i);
    const int64_t z = (int64_t)qat_fb_rd64(m->file, zd + 8 * (size_t)i);
    /* Denormal scales are refused too: 1/scale overflows and the multipliers lose bits. */
    if (!(isfinite(s) && s >= FLT_MIN))
      return qat_fail(QAT_ERR_FORMAT,
                      "%s: tensor %d '%s': scale[%u] = %g is not a finite normal number > 0",
                      m->name, index, tname(t), i, (double)s);
    if (z < zmin || z > zmax)
      return qat_fail(QAT_ERR_FORMAT,
                      "%s: tensor %d '%s': zero_point[%u] = %lld is out of range for %s", m->name,
                      index, tname(t), i, (long long)z, qat_rt_type_name(t->type));
    t->scales[i] = s;
    t->zero_points[i] = z;
  }
  return QAT_OK;
}

/* Float constants (weights, biases, constant inputs) must be finite: a NaN or an infinity in
 * a file's constants reaches kernels that quantize floats at run time (the hybrid ops turn
 * them into a NaN cast to int or a zero scale) and never gives a meaningful result. */
static int check_finite_constant(const qat_rt_model *m, int index, const rt_tensor *t) {
  size_t bad = 0, first = 0;
  if (t->type == QAT_RT_FLOAT32) {
    for (int64_t i = 0; i < t->n_elems; i++) {
      float v;
      memcpy(&v, (const uint8_t *)t->const_data + 4 * i, 4);
      if (!isfinite(v) && bad++ == 0) first = (size_t)i;
    }
  } else if (t->type == QAT_RT_FLOAT16) {
    for (int64_t i = 0; i < t->n_elems; i++) {
      const uint8_t *h = (const uint8_t *)t->const_data + 2 * i;
      if ((h[1] & 0x7c) == 0x7c && bad++ == 0) first = (size_t)i; /* exponent all ones */
    }
  }
  if (bad)
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: tensor %d '%s': constant data holds %zu non-finite value%s (first at "
                    "flat index %zu)",
                    m->name, index, tname(t), bad, bad == 1 ? "" : "s", first);
  return QAT_OK;
}

static int read_tensor(qat_rt_model *m, int index, const qat_fb_table *tt, const rt_buffer *bufs) {
  rt_tensor *t = &m->tensors[index];
  int rc;
  char shape[128];
  size_t sd;
  uint32_t rank;
  t->name = qat_fb_str(tt, QAT_TFLITE_Tensor_name);
  if (!t->name) t->name = "";
  t->producer = -1;
  t->first_use = t->last_use = -1;
  qat_fb_vec(tt, QAT_TFLITE_Tensor_shape, 4, &sd, &rank);
  if (rank > QAT_RT_MAX_RANK)
    return qat_fail(QAT_ERR_UNSUPPORTED, "%s: tensor %d '%s' has rank %u (at most %d supported)",
                    m->name, index, tname(t), rank, QAT_RT_MAX_RANK);
  t->rank = (int)rank;
  int64_t n = 1;
  for (uint32_t i = 0; i < rank; i++) t->dims[i] = (int32_t)qat_fb_rd32(m->file, sd + 4 * (size_t)i);
  fmt_shape(shape, sizeof shape, t->dims, t->rank);
  for (uint32_t i = 0; i < rank; i++) {
    const int32_t d = t->dims[i];
    if (d < 0)
      return qat_fail(QAT_ERR_FORMAT, "%s: tensor %d '%s' has a negative dimension: shape %s",
                      m->name, index, tname(t), shape);
    if (d == 0)
      return qat_fail(QAT_ERR_UNSUPPORTED,
                      "%s: tensor %d '%s' has a zero-sized dimension: shape %s", m->name, index,
                      tname(t), shape);
    n *= d; /* n <= 2^31 before, d < 2^31: no overflow in int64 */
    if (n > QAT_RT_MAX_ELEMENTS)
      return qat_fail(QAT_ERR_UNSUPPORTED,
                      "%s: tensor %d '%s' with shape %s has more than 2^31 elements", m->name,
                      index, tname(t), shape);
  }
  t->n_elems = n;
  const int type = (int8_t)qat_fb_u8(tt, QAT_TFLITE_Tensor_type, 0);
  if (type < 0 || type >= N_TYPES)
    return qat_fail(QAT_ERR_FORMAT, "%s: tensor %d '%s' has unknown type %d", m->name, index,
                    tname(t), type);
  t->type = type;
  t->bytes = (size_t)n * type_info[type].size;
  t->is_variable = qat_fb_u8(tt, QAT_TFLITE_Tensor_is_variable, 0) != 0;
  if (qat_fb_ref(tt, QAT_TFLITE_Tensor_sparsity))
    return qat_fail(QAT_ERR_UNSUPPORTED, "%s: tensor %d '%s' is sparse (not supported)", m->name,
                    index, tname(t));
  if (qat_fb_u32(tt, QAT_TFLITE_Tensor_external_buffer, 0) != 0)
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "%s: tensor %d '%s' uses an ExternalBuffer (not supported)", m->name, index,
                    tname(t));
  const uint32_t b = qat_fb_u32(tt, QAT_TFLITE_Tensor_buffer, 0);
  if (b >= (uint32_t)m->n_buffers && !(b == 0 && m->n_buffers == 0))
    return qat_fail(QAT_ERR_FORMAT, "%s: tensor %d '%s': buffer index %u out of range (%d buffers)",
                    m->name, index, tname(t), b, m->n_buffers);
  t->buffer = (int)b;
  if (m->n_buffers && bufs[b].size > 0) {
    const size_t es = type_info[type].size;
    if (es == 0)
      return qat_fail(QAT_ERR_UNSUPPORTED,
                      "%s: tensor %d '%s': constant data of type %s is not supported", m->name,
                      index, tname(t), type_info[type].name);
    if (bufs[b].size != t->bytes)
      return qat_fail(QAT_ERR_FORMAT,
                      "%s: tensor %d '%s': buffer %u holds %llu bytes, expected %zu (shape %s x "
                      "%zu bytes of %s)",
                      m->name, index, tname(t), b, (unsigned long long)bufs[b].size, t->bytes,
                      shape, es, type_info[type].name);
    const uint8_t *p = m->file + bufs[b].data;
    if ((uintptr_t)p % es) {
      /* Misaligned data (possible in hostile or odd files): give kernels an aligned copy. */
      t->owned = malloc(t->bytes);
      if (!t->owned) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
      memcpy(t->owned, p, t->bytes);
      p = t->owned;
    }
    t->const_data = p;
    if ((rc = check_finite_constant(m, index, t))) return rc;
  }
  const qat_fb_table q = qat_fb_sub(tt, QAT_TFLITE_Tensor_quantization);
  return read_quantization(m, index, t, &q);
}

/* The options of an op the runtime runs, parsed by its registration (runtime/ops/); others are
 * refused later, by the interpreter. Fields absent from the file take the schema's defaults. */
static int read_options(qat_rt_model *m, int k, rt_op *op, const qat_fb_table *ot) {
  rt_options *o = &op->opt;
  o->stride_w = o->stride_h = 0;
  o->dilation_w = o->dilation_h = 1;
  o->pot_scale_int16 = 1;
  o->n_new_shape = -1;
  o->beta = 0.0f;
  const int type = qat_fb_u8(ot, QAT_TFLITE_Operator_builtin_options_type, 0);
  op->options_type = type;
  const rt_op_reg *reg = rt_op_find(op->code);
  if (!reg || !reg->options_type) return QAT_OK;
  if (type != 0 && type != reg->options_type)
    return qat_fail(QAT_ERR_FORMAT, "%s: op %d (%s): builtin options of union type %d, expected %d",
                    m->name, k, op->name, type, reg->options_type);
  const qat_fb_table t = qat_fb_sub(ot, QAT_TFLITE_Operator_builtin_options);
  for (int i = 0; i < reg->n_fields; i++) {
    const rt_opt_field *f = &reg->fields[i];
    void *at = (char *)o + f->offset;
    int v = 0;
    switch (f->kind) {
      case RT_OPT_ENUM: v = (int8_t)qat_fb_u8(&t, f->field, (uint8_t)f->def); break;
      case RT_OPT_INT: v = qat_fb_i32(&t, f->field, (int32_t)f->def); break;
      case RT_OPT_BOOL: v = qat_fb_u8(&t, f->field, (uint8_t)f->def) != 0; break;
      default: *(float *)at = qat_fb_f32(&t, f->field, f->def); continue;
    }
    *(int *)at = v;
  }
  return reg->parse ? reg->parse(m, k, op, &t) : QAT_OK;
}

static int read_index_list(qat_rt_model *m, const qat_fb_table *t, int field, int32_t **out, int *count) {
  size_t d;
  uint32_t n;
  *out = NULL;
  *count = 0;
  if (!qat_fb_vec(t, field, 4, &d, &n) || n == 0) return QAT_OK;
  int32_t *v = malloc(n * sizeof *v);
  if (!v) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  for (uint32_t i = 0; i < n; i++) v[i] = (int32_t)qat_fb_rd32(m->file, d + 4 * (size_t)i);
  *out = v;
  *count = (int)n;
  return QAT_OK;
}

static int read_op(qat_rt_model *m, int k, const qat_fb_table *ot, const qat_fb_table *model, size_t codes,
                   uint32_t n_codes) {
  rt_op *op = &m->ops[k];
  const uint32_t ci = qat_fb_u32(ot, QAT_TFLITE_Operator_opcode_index, 0);
  if (ci >= n_codes)
    return qat_fail(QAT_ERR_FORMAT, "%s: op %d: opcode index %u out of range (%u operator codes)",
                    m->name, k, ci, n_codes);
  op->opcode_index = (int)ci;
  const qat_fb_table oc = qat_fb_vec_table(model, codes, ci);
  /* schema_utils.cc GetBuiltinCode: max(builtin_code, deprecated_builtin_code). */
  const int32_t dep = (int8_t)qat_fb_u8(&oc, QAT_TFLITE_OperatorCode_deprecated_builtin_code, 0), ext = qat_fb_i32(&oc, QAT_TFLITE_OperatorCode_builtin_code, 0);
  op->code = ext > dep ? ext : dep;
  op->version = qat_fb_i32(&oc, QAT_TFLITE_OperatorCode_version, 1);
  if (op->code == QAT_RT_OP_CUSTOM) {
    op->name = qat_fb_str(&oc, QAT_TFLITE_OperatorCode_custom_code);
    if (!op->name) op->name = "CUSTOM";
  } else {
    op->name = qat_rt_op_name(op->code);
  }
  int rc = read_index_list(m, ot, QAT_TFLITE_Operator_inputs, &op->in, &op->n_in);
  if (!rc) rc = read_index_list(m, ot, QAT_TFLITE_Operator_outputs, &op->out, &op->n_out);
  if (rc) return rc;
  for (int i = 0; i < op->n_in; i++)
    if (op->in[i] < -1 || op->in[i] >= m->n_tensors)
      return qat_fail(QAT_ERR_FORMAT,
                      "%s: Input tensor %d to op %d (%s) is out of range (%d tensors)", m->name,
                      op->in[i], k, op->name, m->n_tensors);
  if (op->n_out == 0)
    return qat_fail(QAT_ERR_FORMAT, "%s: op %d (%s) has no outputs", m->name, k, op->name);
  for (int i = 0; i < op->n_out; i++) {
    if (op->out[i] == -1)
      return qat_fail(QAT_ERR_FORMAT,
                      "%s: output %d of op %d (%s) is -1, but outputs are not optional", m->name, i,
                      k, op->name);
    if (op->out[i] < 0 || op->out[i] >= m->n_tensors)
      return qat_fail(QAT_ERR_FORMAT,
                      "%s: Output tensor %d of op %d (%s) is out of range (%d tensors)", m->name,
                      op->out[i], k, op->name, m->n_tensors);
  }
  size_t d;
  uint32_t n;
  if (qat_fb_vec(ot, QAT_TFLITE_Operator_intermediates, 4, &d, &n))
    for (uint32_t i = 0; i < n; i++) {
      const int32_t x = (int32_t)qat_fb_rd32(m->file, d + 4 * (size_t)i);
      if (x < -1 || x >= m->n_tensors)
        return qat_fail(QAT_ERR_FORMAT, "%s: intermediate tensor %d of op %d (%s) is out of range",
                        m->name, x, k, op->name);
    }
  return read_options(m, k, op, ot);
}

/* Every op input must exist before the op runs: constants, graph inputs and outputs of
 * earlier ops. Walking in stored order makes a cycle (or a wrong order) an input that is not
 * produced yet, as TFLite reports it. */
/* Graph input or output i names tensor x, which must exist. */
static int check_graph_io(const qat_rt_model *m, const char *what, int i, int32_t x) {
  if (x >= 0 && x < m->n_tensors) return QAT_OK;
  return qat_fail(QAT_ERR_FORMAT, "%s: graph %s %d is tensor %d, out of range (%d tensors)",
                  m->name, what, i, x, m->n_tensors);
}

static int check_graph(qat_rt_model *m) {
  char *avail = calloc((size_t)m->n_tensors + 1, 1);
  if (!avail) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  int rc = QAT_OK;
  for (int i = 0; i < m->n_tensors; i++)
    if (m->tensors[i].const_data) avail[i] = 1;
  for (int i = 0; i < m->n_inputs; i++) {
    const int32_t x = m->inputs[i];
    if ((rc = check_graph_io(m, "input", i, x))) goto done;
    rt_tensor *t = &m->tensors[x];
    if (t->is_input) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: tensor %d '%s' is listed twice as a graph input", m->name,
                    x, tname(t));
      goto done;
    }
    if (t->const_data) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: graph input tensor %d '%s' has constant data", m->name, x,
                    tname(t));
      goto done;
    }
    t->is_input = 1;
    t->first_use = t->last_use = 0;
    avail[x] = 1;
  }
  for (int k = 0; k < m->n_ops; k++) {
    rt_op *op = &m->ops[k];
    for (int i = 0; i < op->n_in; i++) {
      const int32_t x = op->in[i];
      if (x < 0) continue;
      rt_tensor *t = &m->tensors[x];
      if (!avail[x]) {
        rc = qat_fail(QAT_ERR_FORMAT, "%s: Input tensor %d to op %d (%s) is not produced", m->name,
                      x, k, op->name);
        goto done;
      }
      if (t->is_variable) {
        rc = qat_fail(QAT_ERR_UNSUPPORTED,
                      "%s: input tensor %d '%s' of op %d (%s) is a variable (not supported)",
                      m->name, x, tname(t), k, op->name);
        goto done;
      }
      if (!t->const_data) t->last_use = k;
    }
    for (int i = 0; i < op->n_out; i++) {
      const int32_t x = op->out[i];
      rt_tensor *t = &m->tensors[x];
      if (t->const_data) {
        rc = qat_fail(QAT_ERR_FORMAT, "%s: Output tensor %d of op %d (%s) has constant data",
                      m->name, x, k, op->name);
        goto done;
      }
      if (avail[x]) {
        rc = qat_fail(QAT_ERR_FORMAT, "%s: Output tensor %d of op %d (%s) is already %s", m->name,
                      x, k, op->name, t->is_input ? "a graph input" : "produced by an earlier op");
        goto done;
      }
      avail[x] = 1;
      t->producer = k;
      t->first_use = t->last_use = k;
    }
  }
  for (int i = 0; i < m->n_outputs; i++) {
    const int32_t x = m->outputs[i];
    if ((rc = check_graph_io(m, "output", i, x))) goto done;
    if (!avail[x]) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: graph output tensor %d is not produced", m->name, x);
      goto done;
    }
    rt_tensor *t = &m->tensors[x];
    t->is_output = 1;
    if (!t->const_data) t->last_use = m->n_ops; /* live to the end */
  }
done:
  free(avail);
  return rc;
}

/* Fuzzing hook (fuzz/fuzz_tflite.c, the "noverify" harness): skip the structural verifier, as
 * TensorFlow's own harnesses do, so that the accessors below and the kernels meet buffers that
 * are in bounds but otherwise inconsistent. Never set outside fuzzing. */
int qat_rt_fuzz_skip_verifier = 0;

int rt_read_model(qat_rt_model *m) {
  if (qat_rt_fuzz_skip_verifier && m->file_len < 8)
    return qat_fail(QAT_ERR_FORMAT, "%s: invalid flatbuffer: %zu bytes is too short", m->name,
                    m->file_len);
  int rc = qat_rt_fuzz_skip_verifier ? QAT_OK : rt_verify_flatbuffer(m->file, m->file_len, m->name);
  if (rc) return rc;
  rt_buffer *bufs = NULL;
  const qat_fb_table model = qat_fb_table_open(m->file, m->file_len, qat_fb_rd32(m->file, 0));
  const uint32_t version = qat_fb_u32(&model, QAT_TFLITE_Model_version, 0);
  if (version != 3) {
    rc = qat_fail(QAT_ERR_UNSUPPORTED, "%s: schema version %u is not supported (expected 3)",
                  m->name, version);
    goto done;
  }
  size_t sgd, codes, td, od;
  uint32_t n_sg, n_codes, n_t, n_o;
  qat_fb_vec(&model, QAT_TFLITE_Model_subgraphs, 4, &sgd, &n_sg);
  if (n_sg == 0) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: the model has no subgraph", m->name);
    goto done;
  }
  if (n_sg > 1) {
    rc = qat_fail(QAT_ERR_UNSUPPORTED,
                  "%s: the model has %u subgraphs (control flow); only 1 is supported", m->name,
                  n_sg);
    goto done;
  }
  qat_fb_vec(&model, QAT_TFLITE_Model_operator_codes, 4, &codes, &n_codes);
  if ((rc = read_buffers(m, &model, &bufs))) goto done;
  const qat_fb_table sg = qat_fb_vec_table(&model, sgd, 0);
  qat_fb_vec(&sg, QAT_TFLITE_SubGraph_tensors, 4, &td, &n_t);
  qat_fb_vec(&sg, QAT_TFLITE_SubGraph_operators, 4, &od, &n_o);
  if (n_t > QAT_RT_MAX_TENSORS || n_o > QAT_RT_MAX_OPS) {
    rc = qat_fail(QAT_ERR_UNSUPPORTED, "%s: %u tensors and %u operators (at most %d and %d)",
                  m->name, n_t, n_o, QAT_RT_MAX_TENSORS, QAT_RT_MAX_OPS);
    goto done;
  }
  m->n_tensors = (int)n_t;
  m->n_ops = (int)n_o;
  m->tensors = calloc(n_t ? n_t : 1, sizeof *m->tensors);
  m->ops = calloc(n_o ? n_o : 1, sizeof *m->ops);
  if (!m->tensors || !m->ops) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory for %u tensors and %u ops", m->name, n_t, n_o);
    goto done;
  }
  for (uint32_t i = 0; i < n_t; i++) {
    const qat_fb_table tt = qat_fb_vec_table(&model, td, i);
    if ((rc = read_tensor(m, (int)i, &tt, bufs))) goto done;
  }
  if ((rc = read_index_list(m, &sg, QAT_TFLITE_SubGraph_inputs, &m->inputs, &m->n_inputs))) goto done;
  if ((rc = read_index_list(m, &sg, QAT_TFLITE_SubGraph_outputs, &m->outputs, &m->n_outputs))) goto done;
  for (uint32_t k = 0; k < n_o; k++) {
    const qat_fb_table ot = qat_fb_vec_table(&model, od, k);
    if ((rc = read_op(m, (int)k, &ot, &model, codes, n_codes))) goto done;
  }
  rc = check_graph(m);
done:
  free(bufs);
  return rc;
}

void rt_free_parsed(qat_rt_model *m) {
  if (m->tensors)
    for (int i = 0; i < m->n_tensors; i++) {
      free(m->tensors[i].owned);
      free(m->tensors[i].scales);
      free(m->tensors[i].zero_points);
    }
  if (m->ops)
    for (int k = 0; k < m->n_ops; k++) {
      free(m->ops[k].in);
      free(m->ops[k].out);
      free(m->ops[k].mult);
      free(m->ops[k].shift);
      free(m->ops[k].rq16);
      free(m->ops[k].eff);
      free(m->ops[k].scratch);
      free(m->ops[k].qbuf);
      free(m->ops[k].lut16);
      rt_igemm_free(&m->ops[k].pk);
      rt_sgemm_free(&m->ops[k].fpk);
    }
  free(m->tensors);
  free(m->ops);
  free(m->inputs);
  free(m->outputs);
  m->tensors = NULL;
  m->ops = NULL;
  m->inputs = m->outputs = NULL;
}
