/* The .tflite reader: a structural flatbuffer verifier, then a parser into rt_tensor / rt_op,
 * then the graph checks. Every byte it reads comes from an untrusted file.
 *
 * Structure (matched against the rules of the official flatbuffers::Verifier, read not copied:
 * google/flatbuffers include/flatbuffers/verifier.h and the VerifyModelBuffer code that flatc
 * generates from the TFLite schema):
 *   - the buffer is at most the cap and at least 8 bytes; bytes 4..8 are the "TFL3" identifier;
 *   - an offset (uoffset_t) is nonzero, below 2^31, and points inside the buffer;
 *   - a table is 4-byte aligned and inside the buffer; its vtable (table - soffset, computed in
 *     64 bits) is 2-byte aligned, its size even, >= 4 and inside the buffer; the table size it
 *     records fits in the buffer;
 *   - a scalar field is aligned to its size and inside the buffer;
 *   - a vector's length is 4-byte aligned and count * element size (checked against 2^31 before
 *     multiplying) lies inside the buffer; a string is a byte vector followed by a NUL;
 *   - a union type is within its enum; a known member is verified as its table, an unknown
 *     (valid) one as a bare table;
 *   - nesting depth <= 64 and at most 10^6 tables, so a shared-subtable DAG cannot make the
 *     walk exponential.
 * All positions are size_t offsets into the buffer; every sum is checked against the length
 * before it is formed, so nothing can wrap. After verification the accessors below still clamp
 * to the buffer (cheap), so a verifier bug would give a wrong value, not an out-of-bounds read.
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
#include "runtime/op_names.h"
#include "runtime/rt_internal.h"

_Static_assert(sizeof(float) == 4, "IEEE float32 required");

/* ---- little-endian reads (byte by byte: no alignment or aliasing assumptions) ---------- */

static uint16_t rd16(const uint8_t *b, size_t o) { return (uint16_t)(b[o] | (b[o + 1] << 8)); }
static uint32_t rd32(const uint8_t *b, size_t o) {
  return (uint32_t)b[o] | ((uint32_t)b[o + 1] << 8) | ((uint32_t)b[o + 2] << 16) |
         ((uint32_t)b[o + 3] << 24);
}
static uint64_t rd64(const uint8_t *b, size_t o) {
  return (uint64_t)rd32(b, o) | ((uint64_t)rd32(b, o + 4) << 32);
}
static float rdf32(const uint8_t *b, size_t o) {
  uint32_t u = rd32(b, o);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ---- the part of the schema the verifier walks ----------------------------------------- */

enum fb_kind {
  K_S1 = 1,
  K_S2,
  K_S4,
  K_S8,  /* scalars of 1, 2, 4, 8 bytes */
  K_STR, /* string */
  K_V1,
  K_V2,
  K_V4,
  K_V8,    /* vectors of scalars */
  K_VSTR,  /* vector of strings */
  K_VTAB,  /* vector of tables (arg: table) */
  K_TAB,   /* table (arg: table) */
  K_UTYPE, /* union type byte (arg: union) */
  K_UVAL,  /* union value (arg: union; its type is the previous field) */
};

enum fb_table_id {
  T_MODEL,
  T_OPCODE,
  T_SUBGRAPH,
  T_TENSOR,
  T_QUANT,
  T_CUSTOMQ,
  T_BLOCKQ,
  T_MULTIQ,
  T_SPARSITY,
  T_DIMMETA,
  T_I32VEC,
  T_U16VEC,
  T_U8VEC,
  T_VARIANT,
  T_OPERATOR,
  T_BUFFER,
  T_METADATA,
  T_SIGDEF,
  T_TENSORMAP,
  T_EXTGROUP,
  T_EXTBUF,
  T_CONV,
  T_DWCONV,
  T_FC,
  T_POOL,
  T_RESHAPE,
  T_SOFTMAX,
  T_ADD,
  T_REDUCER,
  T_QUANTIZE,
  T_DEQUANTIZE,
  T_OPAQUE,
  T_COUNT
};

enum fb_union_id { U_BUILTIN, U_BUILTIN2, U_QDETAILS, U_SPARSEIDX, U_COUNT };
/* Highest member of each union in schema.fbs (BuiltinOptions is frozen at 126). */
static const int union_max[U_COUNT] = {126, 23, 3, 3};

typedef struct fb_field {
  const char *name;
  uint8_t kind, arg;
} fb_field;

typedef struct fb_table_desc {
  const char *name;
  int n;
  const fb_field *f;
} fb_table_desc;

#define FIELDS(...) ((const fb_field[]){__VA_ARGS__})
#define TABLE(nm, ...) \
  { nm, (int)(sizeof((const fb_field[]){__VA_ARGS__}) / sizeof(fb_field)), FIELDS(__VA_ARGS__) }

/* Field order is the schema's declaration order (= field id; a union takes two ids). */
static const fb_table_desc tables[T_COUNT] = {
    [T_MODEL] = TABLE("Model", {"version", K_S4, 0}, {"operator_codes", K_VTAB, T_OPCODE},
                      {"subgraphs", K_VTAB, T_SUBGRAPH}, {"description", K_STR, 0},
                      {"buffers", K_VTAB, T_BUFFER}, {"metadata_buffer", K_V4, 0},
                      {"metadata", K_VTAB, T_METADATA}, {"signature_defs", K_VTAB, T_SIGDEF},
                      {"external_buffer_groups", K_VTAB, T_EXTGROUP},
                      {"external_buffers", K_VTAB, T_EXTBUF}),
    [T_OPCODE] = TABLE("OperatorCode", {"deprecated_builtin_code", K_S1, 0},
                       {"custom_code", K_STR, 0}, {"version", K_S4, 0}, {"builtin_code", K_S4, 0}),
    [T_SUBGRAPH] = TABLE("SubGraph", {"tensors", K_VTAB, T_TENSOR}, {"inputs", K_V4, 0},
                         {"outputs", K_V4, 0}, {"operators", K_VTAB, T_OPERATOR},
                         {"name", K_STR, 0}, {"debug_metadata_index", K_S4, 0}),
    [T_TENSOR] =
        TABLE("Tensor", {"shape", K_V4, 0}, {"type", K_S1, 0}, {"buffer", K_S4, 0},
              {"name", K_STR, 0}, {"quantization", K_TAB, T_QUANT}, {"is_variable", K_S1, 0},
              {"sparsity", K_TAB, T_SPARSITY}, {"shape_signature", K_V4, 0}, {"has_rank", K_S1, 0},
              {"variant_tensors", K_VTAB, T_VARIANT}, {"external_buffer", K_S4, 0}),
    [T_QUANT] =
        TABLE("QuantizationParameters", {"min", K_V4, 0}, {"max", K_V4, 0}, {"scale", K_V4, 0},
              {"zero_point", K_V8, 0}, {"details_type", K_UTYPE, U_QDETAILS},
              {"details", K_UVAL, U_QDETAILS}, {"quantized_dimension", K_S4, 0}),
    [T_CUSTOMQ] = TABLE("CustomQuantization", {"custom", K_V1, 0}),
    [T_BLOCKQ] = TABLE("BlockwiseQuantization", {"scales", K_S4, 0}, {"zero_points", K_S4, 0},
                       {"block_size", K_S4, 0}),
    [T_MULTIQ] = TABLE("MultiAxisQuantization", {"scales", K_S4, 0}, {"zero_points", K_S4, 0},
                       {"block_size", K_S4, 0}, {"quantized_dimensions", K_V4, 0}),
    [T_SPARSITY] = TABLE("SparsityParameters", {"traversal_order", K_V4, 0}, {"block_map", K_V4, 0},
                         {"dim_metadata", K_VTAB, T_DIMMETA}),
    [T_DIMMETA] = TABLE(
        "DimensionMetadata", {"format", K_S1, 0}, {"dense_size", K_S4, 0},
        {"array_segments_type", K_UTYPE, U_SPARSEIDX}, {"array_segments", K_UVAL, U_SPARSEIDX},
        {"array_indices_type", K_UTYPE, U_SPARSEIDX}, {"array_indices", K_UVAL, U_SPARSEIDX}),
    [T_I32VEC] = TABLE("Int32Vector", {"values", K_V4, 0}),
    [T_U16VEC] = TABLE("Uint16Vector", {"values", K_V2, 0}),
    [T_U8VEC] = TABLE("Uint8Vector", {"values", K_V1, 0}),
    [T_VARIANT] =
        TABLE("VariantSubType", {"shape", K_V4, 0}, {"type", K_S1, 0}, {"has_rank", K_S1, 0}),
    [T_OPERATOR] =
        TABLE("Operator", {"opcode_index", K_S4, 0}, {"inputs", K_V4, 0}, {"outputs", K_V4, 0},
              {"builtin_options_type", K_UTYPE, U_BUILTIN}, {"builtin_options", K_UVAL, U_BUILTIN},
              {"custom_options", K_V1, 0}, {"custom_options_format", K_S1, 0},
              {"mutating_variable_inputs", K_V1, 0}, {"intermediates", K_V4, 0},
              {"large_custom_options_offset", K_S8, 0}, {"large_custom_options_size", K_S8, 0},
              {"builtin_options_2_type", K_UTYPE, U_BUILTIN2},
              {"builtin_options_2", K_UVAL, U_BUILTIN2}, {"debug_metadata_index", K_S4, 0}),
    [T_BUFFER] = TABLE("Buffer", {"data", K_V1, 0}, {"offset", K_S8, 0}, {"size", K_S8, 0}),
    [T_METADATA] = TABLE("Metadata", {"name", K_STR, 0}, {"buffer", K_S4, 0}),
    [T_SIGDEF] = TABLE("SignatureDef", {"inputs", K_VTAB, T_TENSORMAP},
                       {"outputs", K_VTAB, T_TENSORMAP}, {"signature_key", K_STR, 0},
                       {"deprecated_tag", K_STR, 0}, {"subgraph_index", K_S4, 0}),
    [T_TENSORMAP] = TABLE("TensorMap", {"name", K_STR, 0}, {"tensor_index", K_S4, 0}),
    [T_EXTGROUP] = TABLE("ExternalBufferGroup", {"name", K_STR, 0}),
    [T_EXTBUF] = TABLE("ExternalBuffer", {"id", K_S4, 0}, {"group", K_S4, 0}, {"offset", K_S8, 0},
                       {"length", K_S8, 0}, {"packing", K_STR, 0}),
    [T_CONV] =
        TABLE("Conv2DOptions", {"padding", K_S1, 0}, {"stride_w", K_S4, 0}, {"stride_h", K_S4, 0},
              {"fused_activation_function", K_S1, 0}, {"dilation_w_factor", K_S4, 0},
              {"dilation_h_factor", K_S4, 0}, {"quantized_bias_type", K_S1, 0}),
    [T_DWCONV] = TABLE("DepthwiseConv2DOptions", {"padding", K_S1, 0}, {"stride_w", K_S4, 0},
                       {"stride_h", K_S4, 0}, {"depth_multiplier", K_S4, 0},
                       {"fused_activation_function", K_S1, 0}, {"dilation_w_factor", K_S4, 0},
                       {"dilation_h_factor", K_S4, 0}),
    [T_FC] = TABLE("FullyConnectedOptions", {"fused_activation_function", K_S1, 0},
                   {"weights_format", K_S1, 0}, {"keep_num_dims", K_S1, 0},
                   {"asymmetric_quantize_inputs", K_S1, 0}, {"quantized_bias_type", K_S1, 0}),
    [T_POOL] = TABLE("Pool2DOptions", {"padding", K_S1, 0}, {"stride_w", K_S4, 0},
                     {"stride_h", K_S4, 0}, {"filter_width", K_S4, 0}, {"filter_height", K_S4, 0},
                     {"fused_activation_function", K_S1, 0}),
    [T_RESHAPE] = TABLE("ReshapeOptions", {"new_shape", K_V4, 0}),
    [T_SOFTMAX] = TABLE("SoftmaxOptions", {"beta", K_S4, 0}),
    [T_ADD] =
        TABLE("AddOptions", {"fused_activation_function", K_S1, 0}, {"pot_scale_int16", K_S1, 0}),
    [T_REDUCER] = TABLE("ReducerOptions", {"keep_dims", K_S1, 0}),
    [T_QUANTIZE] = {"QuantizeOptions", 0, NULL},
    [T_DEQUANTIZE] = {"DequantizeOptions", 0, NULL},
    [T_OPAQUE] = {"(options table)", 0, NULL},
};

/* BuiltinOptions union type ids of the option tables read by the runtime. */
enum {
  OPT_CONV = 1,
  OPT_DWCONV = 2,
  OPT_POOL = 5,
  OPT_FC = 8,
  OPT_SOFTMAX = 9,
  OPT_ADD = 11,
  OPT_RESHAPE = 17,
  OPT_REDUCER = 27,
  OPT_DEQUANTIZE = 38,
  OPT_QUANTIZE = 89
};

static int union_table(int uid, unsigned type) {
  switch (uid) {
    case U_BUILTIN:
      switch (type) {
        case OPT_CONV: return T_CONV;
        case OPT_DWCONV: return T_DWCONV;
        case OPT_POOL: return T_POOL;
        case OPT_FC: return T_FC;
        case OPT_SOFTMAX: return T_SOFTMAX;
        case OPT_ADD: return T_ADD;
        case OPT_RESHAPE: return T_RESHAPE;
        case OPT_REDUCER: return T_REDUCER;
        case OPT_DEQUANTIZE: return T_DEQUANTIZE;
        case OPT_QUANTIZE: return T_QUANTIZE;
        default: return T_OPAQUE;
      }
    case U_QDETAILS: return type == 1 ? T_CUSTOMQ : type == 2 ? T_BLOCKQ : T_MULTIQ;
    case U_SPARSEIDX: return type == 1 ? T_I32VEC : type == 2 ? T_U16VEC : T_U8VEC;
    default: return T_OPAQUE;
  }
}

/* ---- the verifier ---------------------------------------------------------------------- */

#define FB_MAX_SIZE ((size_t)0x7fffffff) /* FLATBUFFERS_MAX_BUFFER_SIZE */

typedef struct fbv {
  const uint8_t *b;
  size_t len;
  const char *name;
  int depth;
  long tables;
} fbv;

static int fb_error(const fbv *v, const char *what, size_t at, int tid, const char *field) {
  if (field)
    return qat_fail(QAT_ERR_FORMAT, "%s: invalid flatbuffer: %s at offset 0x%zx (%s.%s)", v->name,
                    what, at, tables[tid].name, field);
  return qat_fail(QAT_ERR_FORMAT, "%s: invalid flatbuffer: %s at offset 0x%zx (%s)", v->name, what,
                  at, tables[tid].name);
}

/* n bytes at pos lie inside the buffer (no sum is formed before the comparison). */
static int in_range(const fbv *v, size_t pos, size_t n) {
  return pos <= v->len && n <= v->len - pos;
}

/* The uoffset_t at pos (already range-checked by the caller): its target, or 0 when invalid. */
static size_t follow(const fbv *v, size_t pos) {
  const uint32_t o = rd32(v->b, pos);
  if (o == 0 || o > 0x7fffffffu) return 0;
  if (!in_range(v, pos, (size_t)o + 1)) return 0;
  return pos + o;
}

static int verify_table(fbv *v, size_t t, int tid);

static int verify_vector(fbv *v, size_t pos, size_t esize, uint32_t *count, int tid,
                         const char *field) {
  if (pos % 4) return fb_error(v, "misaligned vector", pos, tid, field);
  if (!in_range(v, pos, 4)) return fb_error(v, "vector out of range", pos, tid, field);
  const uint32_t n = rd32(v->b, pos);
  if ((uint64_t)n >= (FB_MAX_SIZE - 4) / esize)
    return fb_error(v, "vector length too large", pos, tid, field);
  if (!in_range(v, pos + 4, (size_t)n * esize))
    return fb_error(v, "vector out of range", pos, tid, field);
  *count = n;
  return QAT_OK;
}

static int verify_string(fbv *v, size_t pos, int tid, const char *field) {
  uint32_t n = 0;
  int rc = verify_vector(v, pos, 1, &n, tid, field);
  if (rc) return rc;
  if (!in_range(v, pos + 4 + n, 1)) return fb_error(v, "string out of range", pos, tid, field);
  if (v->b[pos + 4 + n] != 0) return fb_error(v, "string not NUL-terminated", pos, tid, field);
  return QAT_OK;
}

/* An offset field at pos: aligned, inside, and its target. */
static int verify_offset_field(fbv *v, size_t pos, size_t *target, int tid, const char *field) {
  if (pos % 4) return fb_error(v, "misaligned offset", pos, tid, field);
  if (!in_range(v, pos, 4)) return fb_error(v, "offset field out of range", pos, tid, field);
  *target = follow(v, pos);
  if (!*target) return fb_error(v, "offset out of range", pos, tid, field);
  return QAT_OK;
}

/* The vtable entry of field i of the table at t (0 when absent). t was verified. */
typedef struct fb_vt {
  size_t t, vt;
  unsigned n_entries;
} fb_vt;

static size_t vt_field(const uint8_t *b, const fb_vt *x, unsigned i) {
  if (i >= x->n_entries) return 0;
  const uint16_t off = rd16(b, x->vt + 4 + 2 * (size_t)i);
  return off ? x->t + off : 0;
}

static int verify_table_start(fbv *v, size_t t, int tid, fb_vt *x) {
  if (++v->depth > QAT_RT_MAX_DEPTH)
    return fb_error(v, "tables nested deeper than 64", t, tid, NULL);
  if (++v->tables > QAT_RT_MAX_TABLES) return fb_error(v, "more than 1000000 tables", t, tid, NULL);
  if (t % 4) return fb_error(v, "misaligned table", t, tid, NULL);
  if (!in_range(v, t, 4)) return fb_error(v, "table out of range", t, tid, NULL);
  const int64_t vt = (int64_t)t - (int64_t)(int32_t)rd32(v->b, t);
  if (vt < 0 || (uint64_t)vt > v->len || !in_range(v, (size_t)vt, 4))
    return fb_error(v, "vtable out of range", t, tid, NULL);
  if (vt % 2) return fb_error(v, "misaligned vtable", (size_t)vt, tid, NULL);
  const uint16_t vsize = rd16(v->b, (size_t)vt);
  const uint16_t tsize = rd16(v->b, (size_t)vt + 2);
  if (vsize < 4 || (vsize & 1) || !in_range(v, (size_t)vt, vsize))
    return fb_error(v, "bad vtable size", (size_t)vt, tid, NULL);
  if (tsize < 4 || !in_range(v, t, tsize))
    return fb_error(v, "table size out of range", t, tid, NULL);
  x->t = t;
  x->vt = (size_t)vt;
  x->n_entries = (unsigned)(vsize - 4) / 2;
  return QAT_OK;
}

static int verify_table(fbv *v, size_t t, int tid) {
  fb_vt x = {0, 0, 0};
  int rc = verify_table_start(v, t, tid, &x);
  if (rc) return rc;
  const fb_table_desc *d = &tables[tid];
  for (int i = 0; i < d->n; i++) {
    const fb_field *f = &d->f[i];
    const size_t pos = vt_field(v->b, &x, (unsigned)i);
    if (!pos) continue;
    size_t target = 0;
    uint32_t n = 0;
    switch (f->kind) {
      case K_S1:
      case K_UTYPE:
        if (!in_range(v, pos, 1)) return fb_error(v, "field out of range", pos, tid, f->name);
        if (f->kind == K_UTYPE && v->b[pos] > union_max[f->arg])
          return fb_error(v, "union type out of range", pos, tid, f->name);
        break;
      case K_S2:
      case K_S4:
      case K_S8: {
        const size_t sz = f->kind == K_S2 ? 2 : f->kind == K_S4 ? 4 : 8;
        if (pos % sz) return fb_error(v, "misaligned field", pos, tid, f->name);
        if (!in_range(v, pos, sz)) return fb_error(v, "field out of range", pos, tid, f->name);
        break;
      }
      default:
        if ((rc = verify_offset_field(v, pos, &target, tid, f->name))) return rc;
        break;
    }
    switch (f->kind) {
      case K_STR:
        if ((rc = verify_string(v, target, tid, f->name))) return rc;
        break;
      case K_V1:
      case K_V2:
      case K_V4:
      case K_V8: {
        const size_t es = f->kind == K_V1 ? 1 : f->kind == K_V2 ? 2 : f->kind == K_V4 ? 4 : 8;
        if ((rc = verify_vector(v, target, es, &n, tid, f->name))) return rc;
        break;
      }
      case K_VSTR:
      case K_VTAB:
        if ((rc = verify_vector(v, target, 4, &n, tid, f->name))) return rc;
        for (uint32_t k = 0; k < n; k++) {
          const size_t epos = target + 4 + (size_t)k * 4;
          const size_t et = follow(v, epos);
          if (!et) return fb_error(v, "vector element offset out of range", epos, tid, f->name);
          rc = f->kind == K_VSTR ? verify_string(v, et, tid, f->name) : verify_table(v, et, f->arg);
          if (rc) return rc;
        }
        break;
      case K_TAB:
        if ((rc = verify_table(v, target, f->arg))) return rc;
        break;
      case K_UVAL: {
        /* The type is the field declared just before the value. */
        const size_t tpos = i > 0 ? vt_field(v->b, &x, (unsigned)i - 1) : 0;
        const unsigned type = tpos && in_range(v, tpos, 1) ? v->b[tpos] : 0;
        if (type > (unsigned)union_max[f->arg])
          return fb_error(v, "union type out of range", tpos, tid, f->name);
        if (type != 0 && (rc = verify_table(v, target, union_table(f->arg, type)))) return rc;
        break;
      }
      default: break;
    }
  }
  v->depth--;
  return QAT_OK;
}

int rt_verify_flatbuffer(const uint8_t *buf, size_t len, const char *name) {
  fbv v = {buf, len, name, 0, 0};
  if (len > FB_MAX_SIZE)
    return qat_fail(QAT_ERR_FORMAT, "%s: invalid flatbuffer: %zu bytes, more than 2^31 - 1", name,
                    len);
  if (len < 8)
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: not a TFLite model: %zu bytes is too short for a flatbuffer", name, len);
  if (memcmp(buf + 4, "TFL3", 4) != 0) {
    char id[17];
    int k = 0;
    for (int i = 4; i < 8; i++)
      k += snprintf(id + k, sizeof id - (size_t)k, buf[i] >= 32 && buf[i] < 127 ? "%c" : "\\x%02x",
                    buf[i]);
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: not a TFLite model: file identifier is '%s', expected 'TFL3'", name, id);
  }
  const size_t root = follow(&v, 0);
  if (!root) return fb_error(&v, "root offset out of range", 0, T_MODEL, NULL);
  return verify_table(&v, root, T_MODEL);
}

int qat_rt_verify_flatbuffer(const void *data, size_t size, const char *name) {
  if (!data && size) return qat_fail(QAT_ERR_USAGE, "qat_rt_verify_flatbuffer: no data");
  return rt_verify_flatbuffer(data, size, name ? name : "model");
}

/* ---- accessors over a verified buffer --------------------------------------------------- */

typedef struct fbt {
  const uint8_t *b;
  size_t len;
  fb_vt x;
} fbt;

/* Opens the table at t; 0 (and an empty table) if t is 0. */
static fbt fbt_open(const uint8_t *b, size_t len, size_t t) {
  fbt r = {b, len, {0, 0, 0}};
  if (!t || t > len || len - t < 4) return r;
  const int64_t vt = (int64_t)t - (int64_t)(int32_t)rd32(b, t);
  if (vt < 0 || (uint64_t)vt > len - 4) return r;
  const uint16_t vsize = rd16(b, (size_t)vt);
  if (vsize < 4 || vsize > len - (size_t)vt) return r;
  r.x.t = t;
  r.x.vt = (size_t)vt;
  r.x.n_entries = (unsigned)(vsize - 4) / 2;
  return r;
}

static size_t fbt_pos(const fbt *t, int field, size_t size) {
  const size_t p = vt_field(t->b, &t->x, (unsigned)field);
  return p && p <= t->len && size <= t->len - p ? p : 0;
}
static uint8_t fbt_u8(const fbt *t, int field, uint8_t def) {
  const size_t p = fbt_pos(t, field, 1);
  return p ? t->b[p] : def;
}
static int32_t fbt_i32(const fbt *t, int field, int32_t def) {
  const size_t p = fbt_pos(t, field, 4);
  return p ? (int32_t)rd32(t->b, p) : def;
}
static uint32_t fbt_u32(const fbt *t, int field, uint32_t def) {
  const size_t p = fbt_pos(t, field, 4);
  return p ? rd32(t->b, p) : def;
}
static uint64_t fbt_u64(const fbt *t, int field, uint64_t def) {
  const size_t p = fbt_pos(t, field, 8);
  return p ? rd64(t->b, p) : def;
}
static float fbt_f32(const fbt *t, int field, float def) {
  const size_t p = fbt_pos(t, field, 4);
  return p ? rdf32(t->b, p) : def;
}
/* Target of an offset field, 0 when absent. */
static size_t fbt_ref(const fbt *t, int field) {
  const size_t p = fbt_pos(t, field, 4);
  if (!p) return 0;
  const uint32_t o = rd32(t->b, p);
  return o && o < t->len - p ? p + o : 0;
}
/* A vector field: its element count and the position of element 0 (esize bytes each). */
static int fbt_vec(const fbt *t, int field, size_t esize, size_t *data, uint32_t *n) {
  *data = 0;
  *n = 0;
  const size_t v = fbt_ref(t, field);
  if (!v || t->len - v < 4) return 0;
  const uint32_t cnt = rd32(t->b, v);
  if ((uint64_t)cnt * esize > t->len - v - 4) return 0;
  *data = v + 4;
  *n = cnt;
  return 1;
}
static fbt fbt_vec_table(const fbt *t, size_t data, uint32_t k) {
  const size_t p = data + (size_t)k * 4;
  const uint32_t o = rd32(t->b, p);
  return fbt_open(t->b, t->len, o && o < t->len - p ? p + o : 0);
}
static const char *fbt_str(const fbt *t, int field) {
  size_t data;
  uint32_t n;
  if (!fbt_vec(t, field, 1, &data, &n) || n >= t->len - data || t->b[data + n] != 0) return NULL;
  return (const char *)t->b + data;
}
static fbt fbt_sub(const fbt *t, int field) { return fbt_open(t->b, t->len, fbt_ref(t, field)); }
static int fbt_present(const fbt *t) { return t->x.t != 0; }

/* ---- type table ----------------------------------------------------------------------- */

/* TensorType: name and element size in bytes (0: no fixed size, or packed sub-byte). */
static const struct {
  const char *name;
  size_t size;
} type_info[] = {
    {"FLOAT32", 4}, {"FLOAT16", 2},       {"INT32", 4},       {"UINT8", 1},     {"INT64", 8},
    {"STRING", 0},  {"BOOL", 1},          {"INT16", 2},       {"COMPLEX64", 8}, {"INT8", 1},
    {"FLOAT64", 8}, {"COMPLEX128", 16},   {"UINT64", 8},      {"RESOURCE", 0},  {"VARIANT", 0},
    {"UINT32", 4},  {"UINT16", 2},        {"INT4", 0},        {"BFLOAT16", 2},  {"INT2", 0},
    {"UINT4", 0},   {"FLOAT8_E4M3FN", 1}, {"FLOAT8_E5M2", 1},
};
#define N_TYPES ((int)(sizeof type_info / sizeof type_info[0]))

const char *qat_rt_type_name(int type) {
  return type >= 0 && type < N_TYPES ? type_info[type].name : "?";
}
size_t qat_rt_type_size(int type) { return type >= 0 && type < N_TYPES ? type_info[type].size : 0; }
const char *qat_rt_op_name(int code) {
  return code >= 0 && code < RT_NUM_BUILTIN_OPS ? rt_op_names[code] : "?";
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

static int read_buffers(qat_rt_model *m, const fbt *model, rt_buffer **out) {
  size_t vd;
  uint32_t n;
  *out = NULL;
  fbt_vec(model, 4, 4, &vd, &n);
  m->n_buffers = (int)n;
  if (n == 0) return QAT_OK;
  rt_buffer *bufs = calloc(n, sizeof *bufs);
  if (!bufs) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory for %u buffers", m->name, n);
  for (uint32_t i = 0; i < n; i++) {
    const fbt b = fbt_vec_table(model, vd, i);
    size_t dd;
    uint32_t dn;
    const uint64_t off = fbt_u64(&b, 1, 0), size = fbt_u64(&b, 2, 0);
    if (fbt_vec(&b, 0, 1, &dd, &dn) && dn > 0) {
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

static int read_quantization(qat_rt_model *m, int index, rt_tensor *t, const fbt *q) {
  size_t sd, zd;
  uint32_t ns, nz;
  if (!fbt_present(q)) return QAT_OK;
  if (fbt_u8(q, 4, 0) != 0)
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "%s: tensor %d '%s': custom or blockwise quantization (details type %d) is "
                    "not supported",
                    m->name, index, tname(t), fbt_u8(q, 4, 0));
  if (!fbt_vec(q, 2, 4, &sd, &ns) || ns == 0) return QAT_OK; /* no scale: not quantized */
  if (!fbt_vec(q, 3, 8, &zd, &nz))
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: tensor %d '%s': quantization has %u scales but no zero_point", m->name,
                    index, tname(t), ns);
  if (nz != ns)
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: tensor %d '%s': quantization has %u zero points and %u scales; they "
                    "must be as many",
                    m->name, index, tname(t), nz, ns);
  const int32_t qd = fbt_i32(q, 6, 0);
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
    const float s = rdf32(m->file, sd + 4 * (size_t)i);
    const int64_t z = (int64_t)rd64(m->file, zd + 8 * (size_t)i);
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

static int read_tensor(qat_rt_model *m, int index, const fbt *tt, const rt_buffer *bufs) {
  rt_tensor *t = &m->tensors[index];
  int rc;
  char shape[128];
  size_t sd;
  uint32_t rank;
  t->name = fbt_str(tt, 3);
  if (!t->name) t->name = "";
  t->producer = -1;
  t->first_use = t->last_use = -1;
  fbt_vec(tt, 0, 4, &sd, &rank);
  if (rank > QAT_RT_MAX_RANK)
    return qat_fail(QAT_ERR_UNSUPPORTED, "%s: tensor %d '%s' has rank %u (at most %d supported)",
                    m->name, index, tname(t), rank, QAT_RT_MAX_RANK);
  t->rank = (int)rank;
  int64_t n = 1;
  for (uint32_t i = 0; i < rank; i++) t->dims[i] = (int32_t)rd32(m->file, sd + 4 * (size_t)i);
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
  const int type = (int8_t)fbt_u8(tt, 1, 0);
  if (type < 0 || type >= N_TYPES)
    return qat_fail(QAT_ERR_FORMAT, "%s: tensor %d '%s' has unknown type %d", m->name, index,
                    tname(t), type);
  t->type = type;
  t->bytes = (size_t)n * type_info[type].size;
  t->is_variable = fbt_u8(tt, 5, 0) != 0;
  if (fbt_ref(tt, 6))
    return qat_fail(QAT_ERR_UNSUPPORTED, "%s: tensor %d '%s' is sparse (not supported)", m->name,
                    index, tname(t));
  if (fbt_u32(tt, 10, 0) != 0)
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "%s: tensor %d '%s' uses an ExternalBuffer (not supported)", m->name, index,
                    tname(t));
  const uint32_t b = fbt_u32(tt, 2, 0);
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
  const fbt q = fbt_sub(tt, 4);
  return read_quantization(m, index, t, &q);
}

static int read_options(qat_rt_model *m, int k, rt_op *op, const fbt *ot) {
  rt_options *o = &op->opt;
  /* Schema defaults. */
  o->stride_w = o->stride_h = 0;
  o->dilation_w = o->dilation_h = 1;
  o->pot_scale_int16 = 1;
  o->n_new_shape = -1;
  o->beta = 0.0f;
  const int type = fbt_u8(ot, 3, 0);
  op->options_type = type;
  int want = 0;
  switch (op->code) {
    case QAT_RT_OP_CONV_2D: want = OPT_CONV; break;
    case QAT_RT_OP_DEPTHWISE_CONV_2D: want = OPT_DWCONV; break;
    case QAT_RT_OP_AVERAGE_POOL_2D:
    case QAT_RT_OP_MAX_POOL_2D: want = OPT_POOL; break;
    case QAT_RT_OP_FULLY_CONNECTED: want = OPT_FC; break;
    case QAT_RT_OP_SOFTMAX: want = OPT_SOFTMAX; break;
    case QAT_RT_OP_ADD: want = OPT_ADD; break;
    case QAT_RT_OP_RESHAPE: want = OPT_RESHAPE; break;
    case QAT_RT_OP_MEAN: want = OPT_REDUCER; break;
    case QAT_RT_OP_QUANTIZE: want = OPT_QUANTIZE; break;
    case QAT_RT_OP_DEQUANTIZE: want = OPT_DEQUANTIZE; break;
    default: return QAT_OK; /* not run by us: refused later by the interpreter */
  }
  if (type != 0 && type != want)
    return qat_fail(QAT_ERR_FORMAT, "%s: op %d (%s): builtin options of union type %d, expected %d",
                    m->name, k, op->name, type, want);
  const fbt t = fbt_sub(ot, 4);
  switch (op->code) {
    case QAT_RT_OP_CONV_2D:
      o->padding = (int8_t)fbt_u8(&t, 0, 0);
      o->stride_w = fbt_i32(&t, 1, 0);
      o->stride_h = fbt_i32(&t, 2, 0);
      o->activation = (int8_t)fbt_u8(&t, 3, 0);
      o->dilation_w = fbt_i32(&t, 4, 1);
      o->dilation_h = fbt_i32(&t, 5, 1);
      break;
    case QAT_RT_OP_DEPTHWISE_CONV_2D:
      o->padding = (int8_t)fbt_u8(&t, 0, 0);
      o->stride_w = fbt_i32(&t, 1, 0);
      o->stride_h = fbt_i32(&t, 2, 0);
      o->depth_multiplier = fbt_i32(&t, 3, 0);
      o->activation = (int8_t)fbt_u8(&t, 4, 0);
      o->dilation_w = fbt_i32(&t, 5, 1);
      o->dilation_h = fbt_i32(&t, 6, 1);
      break;
    case QAT_RT_OP_AVERAGE_POOL_2D:
    case QAT_RT_OP_MAX_POOL_2D:
      o->padding = (int8_t)fbt_u8(&t, 0, 0);
      o->stride_w = fbt_i32(&t, 1, 0);
      o->stride_h = fbt_i32(&t, 2, 0);
      o->filter_w = fbt_i32(&t, 3, 0);
      o->filter_h = fbt_i32(&t, 4, 0);
      o->activation = (int8_t)fbt_u8(&t, 5, 0);
      break;
    case QAT_RT_OP_FULLY_CONNECTED:
      o->activation = (int8_t)fbt_u8(&t, 0, 0);
      o->weights_format = (int8_t)fbt_u8(&t, 1, 0);
      o->keep_num_dims = fbt_u8(&t, 2, 0) != 0;
      o->asymmetric_quantize_inputs = fbt_u8(&t, 3, 0) != 0;
      break;
    case QAT_RT_OP_SOFTMAX: o->beta = fbt_f32(&t, 0, 0.0f); break;
    case QAT_RT_OP_ADD:
      o->activation = (int8_t)fbt_u8(&t, 0, 0);
      o->pot_scale_int16 = fbt_u8(&t, 1, 1) != 0;
      break;
    case QAT_RT_OP_MEAN: o->keep_dims = fbt_u8(&t, 0, 0) != 0; break;
    case QAT_RT_OP_RESHAPE: {
      size_t d;
      uint32_t n;
      if (fbt_vec(&t, 0, 4, &d, &n)) {
        if (n > QAT_RT_MAX_RANK)
          return qat_fail(QAT_ERR_UNSUPPORTED, "%s: op %d (RESHAPE): new_shape has rank %u",
                          m->name, k, n);
        o->n_new_shape = (int)n;
        for (uint32_t i = 0; i < n; i++)
          o->new_shape[i] = (int32_t)rd32(m->file, d + 4 * (size_t)i);
      }
      break;
    }
    default: break;
  }
  return QAT_OK;
}

static int read_index_list(qat_rt_model *m, const fbt *t, int field, int32_t **out, int *count) {
  size_t d;
  uint32_t n;
  *out = NULL;
  *count = 0;
  if (!fbt_vec(t, field, 4, &d, &n) || n == 0) return QAT_OK;
  int32_t *v = malloc(n * sizeof *v);
  if (!v) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  for (uint32_t i = 0; i < n; i++) v[i] = (int32_t)rd32(m->file, d + 4 * (size_t)i);
  *out = v;
  *count = (int)n;
  return QAT_OK;
}

static int read_op(qat_rt_model *m, int k, const fbt *ot, const fbt *model, size_t codes,
                   uint32_t n_codes) {
  rt_op *op = &m->ops[k];
  const uint32_t ci = fbt_u32(ot, 0, 0);
  if (ci >= n_codes)
    return qat_fail(QAT_ERR_FORMAT, "%s: op %d: opcode index %u out of range (%u operator codes)",
                    m->name, k, ci, n_codes);
  op->opcode_index = (int)ci;
  const fbt oc = fbt_vec_table(model, codes, ci);
  /* schema_utils.cc GetBuiltinCode: max(builtin_code, deprecated_builtin_code). */
  const int32_t dep = (int8_t)fbt_u8(&oc, 0, 0), ext = fbt_i32(&oc, 3, 0);
  op->code = ext > dep ? ext : dep;
  op->version = fbt_i32(&oc, 2, 1);
  if (op->code == QAT_RT_OP_CUSTOM) {
    op->name = fbt_str(&oc, 1);
    if (!op->name) op->name = "CUSTOM";
  } else {
    op->name = qat_rt_op_name(op->code);
  }
  int rc = read_index_list(m, ot, 1, &op->in, &op->n_in);
  if (!rc) rc = read_index_list(m, ot, 2, &op->out, &op->n_out);
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
  if (fbt_vec(ot, 8, 4, &d, &n))
    for (uint32_t i = 0; i < n; i++) {
      const int32_t x = (int32_t)rd32(m->file, d + 4 * (size_t)i);
      if (x < -1 || x >= m->n_tensors)
        return qat_fail(QAT_ERR_FORMAT, "%s: intermediate tensor %d of op %d (%s) is out of range",
                        m->name, x, k, op->name);
    }
  return read_options(m, k, op, ot);
}

/* Every op input must exist before the op runs: constants, graph inputs and outputs of
 * earlier ops. Walking in stored order makes a cycle (or a wrong order) an input that is not
 * produced yet, as TFLite reports it. */
static int check_graph(qat_rt_model *m) {
  char *avail = calloc((size_t)m->n_tensors + 1, 1);
  if (!avail) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  int rc = QAT_OK;
  for (int i = 0; i < m->n_tensors; i++)
    if (m->tensors[i].const_data) avail[i] = 1;
  for (int i = 0; i < m->n_inputs; i++) {
    const int32_t x = m->inputs[i];
    if (x < 0 || x >= m->n_tensors) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: graph input %d is tensor %d, out of range (%d tensors)",
                    m->name, i, x, m->n_tensors);
      goto done;
    }
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
    if (x < 0 || x >= m->n_tensors) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: graph output %d is tensor %d, out of range (%d tensors)",
                    m->name, i, x, m->n_tensors);
      goto done;
    }
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
  const fbt model = fbt_open(m->file, m->file_len, rd32(m->file, 0));
  const uint32_t version = fbt_u32(&model, 0, 0);
  if (version != 3) {
    rc = qat_fail(QAT_ERR_UNSUPPORTED, "%s: schema version %u is not supported (expected 3)",
                  m->name, version);
    goto done;
  }
  size_t sgd, codes, td, od;
  uint32_t n_sg, n_codes, n_t, n_o;
  fbt_vec(&model, 2, 4, &sgd, &n_sg);
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
  fbt_vec(&model, 1, 4, &codes, &n_codes);
  if ((rc = read_buffers(m, &model, &bufs))) goto done;
  const fbt sg = fbt_vec_table(&model, sgd, 0);
  fbt_vec(&sg, 0, 4, &td, &n_t);
  fbt_vec(&sg, 3, 4, &od, &n_o);
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
    const fbt tt = fbt_vec_table(&model, td, i);
    if ((rc = read_tensor(m, (int)i, &tt, bufs))) goto done;
  }
  if ((rc = read_index_list(m, &sg, 1, &m->inputs, &m->n_inputs))) goto done;
  if ((rc = read_index_list(m, &sg, 2, &m->outputs, &m->n_outputs))) goto done;
  for (uint32_t k = 0; k < n_o; k++) {
    const fbt ot = fbt_vec_table(&model, od, k);
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
      free(m->ops[k].eff);
      free(m->ops[k].scratch);
      free(m->ops[k].qbuf);
      free(m->ops[k].lut16);
    }
  free(m->tensors);
  free(m->ops);
  free(m->inputs);
  free(m->outputs);
  m->tensors = NULL;
  m->ops = NULL;
  m->inputs = m->outputs = NULL;
}
