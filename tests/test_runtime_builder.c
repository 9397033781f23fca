/* A small TFLite writer for the runtime tests, on top of export/'s flatbuffer builder: it
 * writes the graphs that no fixture covers (every kernel through the interpreter) and the
 * well-formed-but-wrong models of the malformed corpus. Buffer 0 is the empty sentinel; every
 * tensor with data gets its own buffer; one operator code per (code, version, custom name).
 *
 * Included (#include "test_runtime_builder.c") by each runtime test program, so everything is
 * static. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qat/flatbuf.h"

#define TB_MAX_TENSORS 32
#define TB_MAX_OPS 16
#define TB_UNUSED __attribute__((unused))

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
  int pot_scale_int16_false; /* ADD: write AddOptions.pot_scale_int16 = false */
  int asym_inputs; /* FULLY_CONNECTED asymmetric_quantize_inputs */
  float beta;
  int n_new_shape;
  int32_t new_shape[8];
  int opcode_index_override;
} tb_op;

typedef struct tb_model {
  int schema_version; /* 0: 3 */
  int n_subgraphs;    /* 0: 1; -1: no subgraphs vector */
  int n_t, n_ops, n_in, n_out;
  tb_tensor t[TB_MAX_TENSORS];
  tb_op ops[TB_MAX_OPS];
  int32_t in[4], out[4];
} tb_model;

static TB_UNUSED qat_fb_off vec_i32(qat_fb_builder *b, const int32_t *v, int n) {
  return qat_fb_create_vector(b, v, (size_t)n, 4, 0);
}

static TB_UNUSED qat_fb_off write_options(qat_fb_builder *b, const tb_op *op, int *type) {
  *type = op->opt_type;
  if (op->opt_type < 0) {
    *type = 0;
    return 0;
  }
  qat_fb_off shape = 0;
  if (op->code == 22 && op->n_new_shape >= 0) shape = vec_i32(b, op->new_shape, op->n_new_shape);
  int t = 0;
  switch (op->code) {
    case 3: /* CONV_2D */
      t = 1;
      qat_fb_start_table(b, 7);
      qat_fb_add_scalar_i8(b, 0, (int8_t)op->padding, 0);
      qat_fb_add_scalar_i32(b, 1, op->stride_w, 0);
      qat_fb_add_scalar_i32(b, 2, op->stride_h, 0);
      qat_fb_add_scalar_i8(b, 3, (int8_t)op->act, 0);
      qat_fb_add_scalar_i32(b, 4, op->dil_w ? op->dil_w : 1, 1);
      qat_fb_add_scalar_i32(b, 5, op->dil_h ? op->dil_h : 1, 1);
      break;
    case 4: /* DEPTHWISE_CONV_2D */
      t = 2;
      qat_fb_start_table(b, 7);
      qat_fb_add_scalar_i8(b, 0, (int8_t)op->padding, 0);
      qat_fb_add_scalar_i32(b, 1, op->stride_w, 0);
      qat_fb_add_scalar_i32(b, 2, op->stride_h, 0);
      qat_fb_add_scalar_i32(b, 3, op->dm, 0);
      qat_fb_add_scalar_i8(b, 4, (int8_t)op->act, 0);
      qat_fb_add_scalar_i32(b, 5, op->dil_w ? op->dil_w : 1, 1);
      qat_fb_add_scalar_i32(b, 6, op->dil_h ? op->dil_h : 1, 1);
      break;
    case 1:  /* AVERAGE_POOL_2D */
    case 17: /* MAX_POOL_2D */
      t = 5;
      qat_fb_start_table(b, 6);
      qat_fb_add_scalar_i8(b, 0, (int8_t)op->padding, 0);
      qat_fb_add_scalar_i32(b, 1, op->stride_w, 0);
      qat_fb_add_scalar_i32(b, 2, op->stride_h, 0);
      qat_fb_add_scalar_i32(b, 3, op->filter_w, 0);
      qat_fb_add_scalar_i32(b, 4, op->filter_h, 0);
      qat_fb_add_scalar_i8(b, 5, (int8_t)op->act, 0);
      break;
    case 9: /* FULLY_CONNECTED */
      t = 8;
      qat_fb_start_table(b, 5);
      qat_fb_add_scalar_i8(b, 0, (int8_t)op->act, 0);
      qat_fb_add_scalar_bool(b, 2, op->keep_num_dims, false);
      qat_fb_add_scalar_bool(b, 3, op->asym_inputs, false);
      break;
    case 25: /* SOFTMAX */
      t = 9;
      qat_fb_start_table(b, 1);
      qat_fb_add_scalar_f32(b, 0, op->beta, 0.0f);
      break;
    case 0: /* ADD */
      t = 11;
      qat_fb_start_table(b, 2);
      qat_fb_add_scalar_i8(b, 0, (int8_t)op->act, 0);
      if (op->pot_scale_int16_false) qat_fb_add_scalar_bool(b, 1, false, true);
      break;
    case 22: /* RESHAPE */
      if (!shape) {
        *type = 0;
        return 0;
      }
      t = 17;
      qat_fb_start_table(b, 1);
      qat_fb_add_offset(b, 0, shape);
      break;
    case 40: /* MEAN */
      t = 27;
      qat_fb_start_table(b, 1);
      qat_fb_add_scalar_bool(b, 0, op->keep_dims, false);
      break;
    case 114: /* QUANTIZE */
      t = 89;
      qat_fb_start_table(b, 0);
      break;
    case 6: /* DEQUANTIZE */
      t = 38;
      qat_fb_start_table(b, 0);
      break;
    default: *type = 0; return 0;
  }
  if (!*type) *type = t;
  return qat_fb_end_table(b);
}

static TB_UNUSED uint8_t *tb_build(const tb_model *m, size_t *len) {
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
    qat_fb_start_table(&b, 3);
    qat_fb_add_scalar_u64(&b, 1, bufoff[i], 0);
    qat_fb_add_scalar_u64(&b, 2, bufsize[i], 0);
    if (bufdata[i]) qat_fb_add_offset(&b, 0, bufdata[i]);
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
      qat_fb_start_table(&b, 7);
      qat_fb_add_offset(&b, 2, sc);
      qat_fb_add_offset(&b, 3, zp);
      qat_fb_add_scalar_i32(&b, 6, t->qdim, 0);
      q = qat_fb_end_table(&b);
    }
    qat_fb_start_table(&b, 11);
    qat_fb_add_offset(&b, 0, shape);
    qat_fb_add_scalar_i8(&b, 1, (int8_t)t->type, 0);
    qat_fb_add_scalar_u32(&b, 2,
                          t->buffer_override ? (uint32_t)t->buffer_override : (uint32_t)tbuf[i], 0);
    qat_fb_add_offset(&b, 3, name);
    if (q) qat_fb_add_offset(&b, 4, q);
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
    qat_fb_start_table(&b, 5);
    qat_fb_add_scalar_u32(&b, 0, (uint32_t)op_code_index[k], 0);
    qat_fb_add_offset(&b, 1, ins);
    qat_fb_add_offset(&b, 2, outs);
    if (opts) qat_fb_add_union(&b, 3, (uint8_t)otype, opts);
    ooffs[k] = qat_fb_end_table(&b);
  }
  const qat_fb_off operators = qat_fb_create_offset_vector(&b, ooffs, (size_t)m->n_ops);
  const qat_fb_off gin = vec_i32(&b, m->in, m->n_in), gout = vec_i32(&b, m->out, m->n_out);
  const qat_fb_off sgname = qat_fb_create_string(&b, "main");
  qat_fb_start_table(&b, 5);
  qat_fb_add_offset(&b, 0, tensors);
  qat_fb_add_offset(&b, 1, gin);
  qat_fb_add_offset(&b, 2, gout);
  qat_fb_add_offset(&b, 3, operators);
  qat_fb_add_offset(&b, 4, sgname);
  const qat_fb_off sg = qat_fb_end_table(&b);
  qat_fb_off sgs[2] = {sg, sg};
  const int n_sg = m->n_subgraphs ? m->n_subgraphs : 1;
  const qat_fb_off subgraphs = n_sg < 0 ? 0 : qat_fb_create_offset_vector(&b, sgs, (size_t)n_sg);
  for (int c = 0; c < n_codes; c++) {
    const qat_fb_off cname = codes_custom[c] ? qat_fb_create_string(&b, codes_custom[c]) : 0;
    qat_fb_start_table(&b, 4);
    qat_fb_add_scalar_i8(&b, 0, (int8_t)(codes_code[c] < 127 ? codes_code[c] : 127), 0);
    if (cname) qat_fb_add_offset(&b, 1, cname);
    qat_fb_add_scalar_i32(&b, 2, codes_version[c], 1);
    qat_fb_add_scalar_i32(&b, 3, codes_code[c], 0);
    codeoffs[c] = qat_fb_end_table(&b);
  }
  const qat_fb_off opcodes = qat_fb_create_offset_vector(&b, codeoffs, (size_t)n_codes);
  const qat_fb_off desc = qat_fb_create_string(&b, "qat test model");
  qat_fb_start_table(&b, 5);
  qat_fb_add_scalar_u32(&b, 0, m->schema_version ? (uint32_t)m->schema_version : 3u, 0);
  qat_fb_add_offset(&b, 1, opcodes);
  if (subgraphs) qat_fb_add_offset(&b, 2, subgraphs);
  qat_fb_add_offset(&b, 3, desc);
  qat_fb_add_offset(&b, 4, buffers);
  const qat_fb_off root = qat_fb_end_table(&b);
  if (qat_fb_finish(&b, root, "TFL3") == 0) {
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

static TB_UNUSED int tb_tensor_add(tb_model *m, const char *name, int type, int rank,
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

static TB_UNUSED void tb_quant(tb_model *m, int t, int n, const float *scales, const int64_t *zps,
                               int qdim) {
  tb_tensor *x = &m->t[t];
  x->n_q = n;
  memcpy(x->scales, scales, (size_t)n * sizeof *scales);
  memcpy(x->zps, zps, (size_t)n * sizeof *zps);
  x->qdim = qdim;
}

static TB_UNUSED void tb_quant1(tb_model *m, int t, float scale, int64_t zp) {
  tb_quant(m, t, 1, &scale, &zp, 0);
}

static TB_UNUSED tb_op *tb_op_add(tb_model *m, int code, int n_in, const int32_t *in, int n_out,
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
