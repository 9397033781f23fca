/* runtime/ on bad input (../shared/BAD-INPUTS.md section E): a corpus of malformed models,
 * each of which must be refused with a clean error of the expected kind naming the problem;
 * every prefix of a real model; a bit-flip sweep (errors or successful runs are both fine,
 * crashes, sanitizer reports and aborts are not). Most of the corpus patches the real
 * converter-written hello_world_int8.tflite at positions found by walking its (valid)
 * flatbuffer; the rest is written with the test's own TFLite writer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "qat/error.h"
#include "qat/flatbuf.h"
#include "qat/runtime.h"

#include "tests/support/fixtures.h"
#include "tests/support/tflite_builder.h"


/* ---- walking a valid flatbuffer (test side) ------------------------------------------------ */

static uint16_t rd16(const uint8_t *b, size_t o) { return (uint16_t)(b[o] | b[o + 1] << 8); }
static uint32_t rd32(const uint8_t *b, size_t o) {
  return (uint32_t)b[o] | (uint32_t)b[o + 1] << 8 | (uint32_t)b[o + 2] << 16 |
         (uint32_t)b[o + 3] << 24;
}
static void wr32(uint8_t *b, size_t o, uint32_t v) {
  for (int i = 0; i < 4; i++) b[o + (size_t)i] = (uint8_t)(v >> (8 * i));
}
static void wrf(uint8_t *b, size_t o, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  wr32(b, o, u);
}
static size_t vtab(const uint8_t *b, size_t t) { return t - (size_t)(int32_t)rd32(b, t); }
/* Position of field i of table t, 0 when absent. */
static size_t fld(const uint8_t *b, size_t t, int i) {
  const size_t vt = vtab(b, t);
  if (4 + 2 * (size_t)i >= rd16(b, vt)) return 0;
  const uint16_t o = rd16(b, vt + 4 + 2 * (size_t)i);
  return o ? t + o : 0;
}
static size_t deref(const uint8_t *b, size_t p) { return p + rd32(b, p); }
static size_t elem(const uint8_t *b, size_t vec, int k) {
  return deref(b, vec + 4 + 4 * (size_t)k);
}

typedef struct hello_map {
  size_t root, sg_field, sg0, tensors_field, tensors, ops, inputs, opcode0;
  size_t tensor[10], op[3];
} hello_map;

static void map_hello(const uint8_t *b, hello_map *h) {
  h->root = rd32(b, 0);
  h->sg_field = fld(b, h->root, QAT_TFLITE_Model_subgraphs);
  h->sg0 = elem(b, deref(b, h->sg_field), 0);
  h->tensors_field = fld(b, h->sg0, QAT_TFLITE_SubGraph_tensors);
  h->tensors = deref(b, h->tensors_field);
  h->inputs = deref(b, fld(b, h->sg0, QAT_TFLITE_SubGraph_inputs));
  h->ops = deref(b, fld(b, h->sg0, QAT_TFLITE_SubGraph_operators));
  h->opcode0 = elem(b, deref(b, fld(b, h->root, QAT_TFLITE_Model_operator_codes)), 0);
  for (int i = 0; i < 10; i++) h->tensor[i] = elem(b, h->tensors, i);
  for (int k = 0; k < 3; k++) h->op[k] = elem(b, h->ops, k);
}
/* Tensor i: shape vector, name string, quantization table's scale / zero point vectors. */
static size_t t_shape(const uint8_t *b, const hello_map *h, int i) {
  return deref(b, fld(b, h->tensor[i], QAT_TFLITE_Tensor_shape));
}
static size_t t_quant(const uint8_t *b, const hello_map *h, int i) {
  return deref(b, fld(b, h->tensor[i], QAT_TFLITE_Tensor_quantization));
}
static size_t t_scale(const uint8_t *b, const hello_map *h, int i) {
  return deref(b, fld(b, t_quant(b, h, i), QAT_TFLITE_QuantizationParameters_scale)) + 4;
}
static size_t t_zp(const uint8_t *b, const hello_map *h, int i) {
  return deref(b, fld(b, t_quant(b, h, i), QAT_TFLITE_QuantizationParameters_zero_point)) + 4;
}
static size_t op_in(const uint8_t *b, const hello_map *h, int k) {
  return deref(b, fld(b, h->op[k], QAT_TFLITE_Operator_inputs)) + 4;
}
static size_t op_out(const uint8_t *b, const hello_map *h, int k) {
  return deref(b, fld(b, h->op[k], QAT_TFLITE_Operator_outputs)) + 4;
}

/* ---- checking one bad model ------------------------------------------------------------------ */

static int n_corpus;

static void expect_bad(const char *label, const uint8_t *buf, size_t len, size_t max_file,
                       int status, const char *want) {
  qat_rt_options opt = {.max_file_bytes = max_file};
  qat_rt_model *m = NULL;
  const int rc = qat_rt_model_load_buffer(buf, len, "m.tflite", &opt, &m);
  const char *msg = rc ? qat_error_message() : "(loaded)";
  if (rc != status || !strstr(msg, want) || strncmp(msg, "m.tflite: ", 10) != 0) {
    qat_rt_model_free(m);
    fail_msg("%s: expected status %d and '%s', got %d: %s", label, status, want, rc, msg);
  }
  assert_null(m);
  n_corpus++;
}

/* Copies the fixture, lets `patch` edit it, expects a refusal. */
#define PATCHED(label, status, want, ...)       \
  do {                                          \
    uint8_t *b = malloc(len);                   \
    assert_non_null(b);                         \
    memcpy(b, orig, len);                       \
    __VA_ARGS__;                                \
    expect_bad(label, b, len, 0, status, want); \
    free(b);                                    \
  } while (0)

static void test_corpus_structure(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  size_t len = 0;
  uint8_t *orig = tb_read_file(FIXTURES "/hello_world_int8.tflite", &len);
  assert_non_null(orig);
  assert_int_equal(qat_rt_verify_flatbuffer(orig, len, "hello"), 0);
  hello_map h;
  map_hello(orig, &h);
  const size_t model_vt = vtab(orig, h.root);

  expect_bad("empty", orig, 0, 0, QAT_ERR_FORMAT, "too short");
  expect_bad("7 bytes", orig, 7, 0, QAT_ERR_FORMAT, "too short");
  expect_bad("over the cap", orig, len, 1000, QAT_ERR_FORMAT, "limit");
  PATCHED("identifier", QAT_ERR_FORMAT, "file identifier is 'TFL2'", b[7] = '2');
  PATCHED("root past the end", QAT_ERR_FORMAT, "root offset out of range",
          wr32(b, 0, (uint32_t)len));
  PATCHED("root wraps", QAT_ERR_FORMAT, "root offset out of range", wr32(b, 0, 0xFFFFFFF0u));
  PATCHED("root misaligned", QAT_ERR_FORMAT, "misaligned table", wr32(b, 0, (uint32_t)h.root + 2));
  PATCHED("vtable before the start", QAT_ERR_FORMAT, "vtable out of range",
          wr32(b, h.root, 0x7FFFFFF0u));
  PATCHED("vtable past the end", QAT_ERR_FORMAT, "vtable out of range",
          wr32(b, h.root, (uint32_t) - (int32_t)len));
  PATCHED("vtable odd size", QAT_ERR_FORMAT, "bad vtable size", b[model_vt] = 5);
  PATCHED("vtable huge size", QAT_ERR_FORMAT, "bad vtable size",
          (b[model_vt] = 0xF0, b[model_vt + 1] = 0xFF));
  PATCHED("table size past the end", QAT_ERR_FORMAT, "table size out of range",
          (b[model_vt + 2] = 0xF0, b[model_vt + 3] = 0xFF));
  PATCHED("subgraphs offset wraps", QAT_ERR_FORMAT, "offset out of range at offset",
          wr32(b, h.sg_field, 0xFFFFFFF0u));
  PATCHED("subgraphs offset misaligned", QAT_ERR_FORMAT, "misaligned vector",
          wr32(b, h.sg_field, rd32(b, h.sg_field) + 1));
  PATCHED("tensors length 2^32-1", QAT_ERR_FORMAT, "vector length too large",
          wr32(b, h.tensors, 0xFFFFFFFFu));
  PATCHED("tensors length wraps x4", QAT_ERR_FORMAT, "vector length too large",
          wr32(b, h.tensors, 0x40000001u));
  PATCHED("tensors length 1000", QAT_ERR_FORMAT, "vector out of range", wr32(b, h.tensors, 1000));
  PATCHED("tensor element offset wraps", QAT_ERR_FORMAT, "vector element offset out of range",
          wr32(b, h.tensors + 4, 0xFFFFFFF0u));
  PATCHED("shape length huge", QAT_ERR_FORMAT, "Tensor.shape",
          wr32(b, t_shape(b, &h, 6), 0x7FFFFFFFu));
  {
    const size_t name = deref(orig, fld(orig, h.tensor[0], QAT_TFLITE_Tensor_name));
    const uint32_t n = rd32(orig, name);
    PATCHED("name without NUL", QAT_ERR_FORMAT, "string not NUL-terminated", b[name + 4 + n] = 'x');
    PATCHED("name past the end", QAT_ERR_FORMAT, "vector out of range at offset",
            wr32(b, name, (uint32_t)len));
  }
  PATCHED("union type out of range", QAT_ERR_FORMAT, "union type out of range",
          b[fld(orig, h.op[0], QAT_TFLITE_Operator_builtin_options_type)] = 200);
  PATCHED("options of another type", QAT_ERR_FORMAT, "m.tflite:", b[fld(orig, h.op[0], QAT_TFLITE_Operator_builtin_options_type)] = 9);
  free(orig);
}

static void test_corpus_graph(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  size_t len = 0;
  uint8_t *orig = tb_read_file(FIXTURES "/hello_world_int8.tflite", &len);
  assert_non_null(orig);
  hello_map h;
  map_hello(orig, &h);
  const size_t w_shape = t_shape(orig, &h, 6) + 4; /* weights of op 0: [16, 1] */

  PATCHED("schema version 2", QAT_ERR_UNSUPPORTED, "schema version 2",
          wr32(b, fld(orig, h.root, QAT_TFLITE_Model_version), 2));
  PATCHED("buffer index out of range", QAT_ERR_FORMAT, "buffer index 99 out of range",
          wr32(b, fld(orig, h.tensor[6], QAT_TFLITE_Tensor_buffer), 99));
  PATCHED("buffer size mismatch", QAT_ERR_FORMAT, "holds 16 bytes, expected 32",
          wr32(b, w_shape + 4, 2));
  PATCHED("negative dimension", QAT_ERR_FORMAT, "negative dimension",
          wr32(b, w_shape, (uint32_t)-1));
  PATCHED("zero dimension", QAT_ERR_UNSUPPORTED, "zero-sized dimension",
          wr32(b, t_shape(orig, &h, 0) + 4, 0));
  PATCHED("2^32 elements", QAT_ERR_UNSUPPORTED, "more than 2^31 elements",
          (wr32(b, t_shape(orig, &h, 7) + 4, 65536), wr32(b, t_shape(orig, &h, 7) + 8, 65536)));
  PATCHED("INT_MAX dimension", QAT_ERR_FORMAT, "holds 16 bytes", wr32(b, w_shape, 0x7FFFFFFFu));
  PATCHED("input index out of range", QAT_ERR_FORMAT,
          "Input tensor 100 to op 1 (FULLY_CONNECTED) is out of range",
          wr32(b, op_in(orig, &h, 1), 100));
  PATCHED("cyclic graph", QAT_ERR_FORMAT,
          "Input tensor 8 to op 0 (FULLY_CONNECTED) is not produced",
          wr32(b, op_in(orig, &h, 0), 8));
  PATCHED("two producers", QAT_ERR_FORMAT, "Output tensor 7 of op 2 (FULLY_CONNECTED) is already",
          wr32(b, op_out(orig, &h, 2), 7));
  PATCHED("output -1", QAT_ERR_FORMAT, "outputs are not optional",
          wr32(b, op_out(orig, &h, 2), (uint32_t)-1));
  PATCHED("weights -1", QAT_ERR_FORMAT, "input 1 is -1 but is not optional",
          wr32(b, op_in(orig, &h, 1) + 4, (uint32_t)-1));
  PATCHED("graph input out of range", QAT_ERR_FORMAT, "graph input 0 is tensor 42",
          wr32(b, h.inputs + 4, 42));
  PATCHED("zero scale", QAT_ERR_FORMAT, "scale[0] = 0 is not a finite normal number",
          wrf(b, t_scale(orig, &h, 6), 0.0f));
  PATCHED("NaN scale", QAT_ERR_FORMAT, "scale[0] = nan", wrf(b, t_scale(orig, &h, 6), NAN));
  PATCHED("negative scale", QAT_ERR_FORMAT, "scale[0] = -1", wrf(b, t_scale(orig, &h, 0), -1.0f));
  PATCHED("infinite scale", QAT_ERR_FORMAT, "scale[0] = inf",
          wrf(b, t_scale(orig, &h, 0), INFINITY));
  PATCHED("denormal scale", QAT_ERR_FORMAT, "is not a finite normal number",
          wrf(b, t_scale(orig, &h, 0), 1e-40f));
  PATCHED("zero point out of range", QAT_ERR_FORMAT, "zero_point[0] = 200 is out of range for INT8",
          (wr32(b, t_zp(orig, &h, 0), 200), wr32(b, t_zp(orig, &h, 0) + 4, 0)));
  PATCHED("weight zero point", QAT_ERR_FORMAT, "symmetric", wr32(b, t_zp(orig, &h, 6), 1));
  PATCHED("bias scale", QAT_ERR_FORMAT, "expected input scale x weight scale",
          wrf(b, t_scale(orig, &h, 5), 2.0f * (float)1e-4));
  PATCHED("op version 99", QAT_ERR_UNSUPPORTED,
          "unsupported operator FULLY_CONNECTED version 99 at node 0",
          wr32(b, fld(orig, h.opcode0, QAT_TFLITE_OperatorCode_version), 99));
  PATCHED("unsupported op", QAT_ERR_UNSUPPORTED, "unsupported operator TANH version 4 at node 0",
          (b[fld(orig, h.opcode0, QAT_TFLITE_OperatorCode_deprecated_builtin_code)] = QAT_TFLITE_BUILTIN_TANH,
           wr32(b, fld(orig, h.opcode0, QAT_TFLITE_OperatorCode_builtin_code), QAT_TFLITE_BUILTIN_TANH)));
  free(orig);
}

/* Models written here for what the fixture cannot express. */
static tb_model *small_fc(void) {
  static const int8_t w[4] = {1, 2, 3, 4};
  static const int32_t bias[2] = {0, 0};
  tb_model *tm = calloc(1, sizeof *tm);
  assert_non_null(tm);
  const int32_t dx[2] = {1, 2}, dw[2] = {2, 2}, db[1] = {2};
  const int x = tb_tensor_add(tm, "x", I8, 2, dx, NULL, 0);
  const int wt = tb_tensor_add(tm, "w", I8, 2, dw, w, sizeof w);
  const int b = tb_tensor_add(tm, "b", I32, 1, db, bias, sizeof bias);
  const int y = tb_tensor_add(tm, "y", I8, 2, dx, NULL, 0);
  tb_quant1(tm, x, 0.5f, 0);
  tb_quant1(tm, wt, 0.25f, 0);
  tb_quant1(tm, b, 0.125f, 0);
  tb_quant1(tm, y, 1.0f, 0);
  tb_op_add(tm, QAT_TFLITE_BUILTIN_FULLY_CONNECTED, 3, (int32_t[]){x, wt, b}, 1, (int32_t[]){y})->version = 4;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
  return tm;
}

static void expect_built(const char *label, const tb_model *tm, int status, const char *want) {
  size_t len = 0;
  uint8_t *buf = tb_build(tm, &len);
  assert_non_null(buf);
  expect_bad(label, buf, len, 0, status, want);
  free(buf);
}

static void test_corpus_built(void **state) {
  (void)state;
  tb_model *tm = small_fc();
  /* The model itself loads. */
  {
    size_t len = 0;
    uint8_t *buf = tb_build(tm, &len);
    qat_rt_model *m = NULL;
    assert_int_equal(qat_rt_model_load_buffer(buf, len, "m.tflite", NULL, &m), 0);
    assert_int_equal(qat_rt_invoke(m), 0);
    qat_rt_model_free(m);
    free(buf);
  }
  tb_model *t = malloc(sizeof *t);
  assert_non_null(t);
#define VARIANT(label, status, want, ...) \
  do {                                    \
    memcpy(t, tm, sizeof *t);             \
    __VA_ARGS__;                          \
    expect_built(label, t, status, want); \
  } while (0)
  VARIANT("scale count mismatch", QAT_ERR_FORMAT, "3 scales for quantized_dimension 0 of size 2",
          (t->t[1].n_q = 3, t->t[1].scales[1] = t->t[1].scales[2] = 0.25f));
  VARIANT("zero point count mismatch", QAT_ERR_FORMAT, "1 zero points and 2 scales",
          (t->t[1].n_q = 2, t->t[1].scales[1] = 0.25f, t->t[1].n_zp = 1));
  VARIANT("quantized_dimension out of range", QAT_ERR_FORMAT, "quantized_dimension 5",
          t->t[1].qdim = 5);
  VARIANT("rank 7", QAT_ERR_UNSUPPORTED, "rank 7",
          (t->t[0].rank = 7, t->t[0].dims[2] = t->t[0].dims[3] = t->t[0].dims[4] = t->t[0].dims[5] =
                                 t->t[0].dims[6] = 1));
  VARIANT("two subgraphs", QAT_ERR_UNSUPPORTED, "2 subgraphs", t->n_subgraphs = 2);
  VARIANT("no subgraph", QAT_ERR_FORMAT, "no subgraph", t->n_subgraphs = -1);
  VARIANT("opcode index out of range", QAT_ERR_FORMAT, "opcode index 5 out of range",
          t->ops[0].opcode_index_override = 5);
  VARIANT("custom op", QAT_ERR_UNSUPPORTED, "unsupported operator MyOp version 1 at node 0",
          (t->ops[0].code = QAT_TFLITE_BUILTIN_CUSTOM, t->ops[0].custom = "MyOp", t->ops[0].version = 1));
  VARIANT("constant graph input", QAT_ERR_FORMAT, "graph input tensor 1 'w' has constant data",
          t->in[0] = 1);
  VARIANT("output not produced", QAT_ERR_FORMAT, "graph output tensor 3 is not produced",
          t->n_ops = 0);
  VARIANT("external buffer past the end", QAT_ERR_FORMAT, "lies outside the",
          (t->t[2].data = NULL, t->t[2].ext_offset = UINT64_MAX - 3, t->t[2].ext_size = 4));
  VARIANT("graph input -1", QAT_ERR_FORMAT, "graph input 0 is tensor -1", t->in[0] = -1);
  VARIANT("int8 weights, float input, int32 bias", QAT_ERR_UNSUPPORTED,
          "unsupported operator FULLY_CONNECTED version 4 at node 0: input FLOAT32, weights INT8",
          (t->t[0].type = F32, t->t[0].n_q = 0, t->t[3].type = F32, t->t[3].n_q = 0));
  VARIANT("activation without quantization", QAT_ERR_FORMAT, "has no quantization parameters",
          t->t[3].n_q = 0);
  VARIANT("wrong output shape", QAT_ERR_FORMAT, "the op computes [1,2]", t->t[3].dims[1] = 3);
  /* Input not produced yet: the consumer comes first. */
  /* The consumer before its producer: op 0 reads z, which op 1 writes. */
  VARIANT("ops out of order", QAT_ERR_FORMAT,
          "Input tensor 4 to op 0 (FULLY_CONNECTED) is not produced", {
            const int32_t dz[2] = {1, 2};
            const int z = tb_tensor_add(t, "z", I8, 2, dz, NULL, 0);
            tb_quant1(t, z, 0.5f, 0);
            t->ops[0].in[0] = z;
            tb_op_add(t, 9, 3, (int32_t[]){0, 1, 2}, 1, (int32_t[]){z})->version = 4;
          });
#undef VARIANT
  free(t);
  free(tm);
}

/* More than 10^6 tables: 1,000,001 references to one OperatorCode table; more tensors than
 * the graph size cap. */
static void test_table_count_limit(void **state) {
  (void)state;
  qat_fb_builder b;
  qat_fb_builder_init(&b, 0);
  qat_fb_start_table(&b, 4);
  qat_fb_add_scalar_i32(&b, 2, 2, 1);
  const qat_fb_off code = qat_fb_end_table(&b);
  const size_t n = 1000001;
  qat_fb_off *offs = malloc(n * sizeof *offs);
  assert_non_null(offs);
  for (size_t i = 0; i < n; i++) offs[i] = code;
  const qat_fb_off vec = qat_fb_create_offset_vector(&b, offs, n);
  qat_fb_start_table(&b, 3);
  qat_fb_add_scalar_u32(&b, 0, 3, 0);
  qat_fb_add_offset(&b, 1, vec);
  const qat_fb_off root = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root, "TFL3"), 0);
  size_t len;
  const uint8_t *data = qat_fb_data(&b, &len);
  expect_bad("table bomb", data, len, 0, QAT_ERR_FORMAT, "more than 1000000 tables");
  /* A valid structure with 16385 tensors (all the same table) is over the graph size cap. */
  qat_fb_builder_reset(&b);
  const int32_t one = 1;
  const qat_fb_off shape = qat_fb_create_vector(&b, &one, 1, 4, 0);
  qat_fb_start_table(&b, 11);
  qat_fb_add_offset(&b, 0, shape);
  const qat_fb_off tensor = qat_fb_end_table(&b);
  for (size_t i = 0; i < 16385; i++) offs[i] = tensor;
  const qat_fb_off tensors = qat_fb_create_offset_vector(&b, offs, 16385);
  qat_fb_start_table(&b, 5);
  qat_fb_add_offset(&b, 0, tensors);
  const qat_fb_off sg = qat_fb_end_table(&b);
  const qat_fb_off sgs = qat_fb_create_offset_vector(&b, &sg, 1);
  qat_fb_start_table(&b, 3);
  qat_fb_add_scalar_u32(&b, 0, 3, 0);
  qat_fb_add_offset(&b, 2, sgs);
  const qat_fb_off root2 = qat_fb_end_table(&b);
  assert_int_equal(qat_fb_finish(&b, root2, "TFL3"), 0);
  data = qat_fb_data(&b, &len);
  expect_bad("16385 tensors", data, len, 0, QAT_ERR_UNSUPPORTED, "16385 tensors");
  qat_fb_builder_free(&b);
  free(offs);
}

/* Every prefix of a real model is refused (truncation at every structural boundary), and
 * every 8th prefix of two more. */
static void prefix_sweep(const char *file, size_t step) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", FIXTURES, file);
  size_t len = 0;
  uint8_t *orig = tb_read_file(path, &len);
  assert_non_null(orig);
  for (size_t n = 0; n < len; n += step) {
    qat_rt_model *m = NULL;
    const int rc = qat_rt_model_load_buffer(orig, n, "m.tflite", NULL, &m);
    if (rc != QAT_ERR_FORMAT || strncmp(qat_error_message(), "m.tflite: ", 10) != 0) {
      qat_rt_model_free(m);
      fail_msg("%s cut at %zu bytes: status %d: %s", file, n, rc, rc ? qat_error_message() : "");
    }
  }
  free(orig);
}

static void test_prefix_sweeps(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  prefix_sweep("simple_add_model.tflite", 1);
  prefix_sweep("hello_world_int8.tflite", 8);
  prefix_sweep("micro_speech_quantized.tflite", 8);
}

/* Flips at every byte (step 1) or every step-th byte of orig: load, and run what loads (inputs
 * zero, or with `extreme` alternating near-extreme bytes). Counts the outcomes; only clean
 * statuses are allowed. */
static void flip_sweep_buf(const char *file, const uint8_t *orig, size_t len, size_t step,
                           const uint8_t *masks, int n_masks, int extreme, int *loaded,
                           int *refused) {
  uint8_t *buf = malloc(len);
  assert_non_null(buf);
  for (size_t i = 0; i < len; i += step)
    for (int k = 0; k < n_masks; k++) {
      memcpy(buf, orig, len);
      buf[i] ^= masks[k];
      qat_rt_model *m = NULL;
      const int rc = qat_rt_model_load_buffer(buf, len, "m.tflite", NULL, &m);
      if (rc == 0) {
        (*loaded)++;
        /* Inputs are zero (the arena is zeroed) unless extreme; a data-dependent refusal is
         * fine. */
        for (int j = 0; extreme && j < qat_rt_num_inputs(m); j++) {
          qat_rt_tensor_info ti;
          assert_int_equal(qat_rt_tensor(m, qat_rt_input(m, j), &ti), 0);
          uint8_t *d = qat_rt_tensor_data(m, qat_rt_input(m, j));
          for (size_t b = 0; b < ti.bytes; b++) d[b] = (b & 2) ? 0x80 : 0x7F;
        }
        const int irc = qat_rt_invoke(m);
        if (irc != 0 && irc != QAT_ERR_UNSUPPORTED)
          fail_msg("%s byte %zu ^ 0x%02x: invoke status %d: %s", file, i, masks[k], irc,
                   qat_error_message());
        qat_rt_model_free(m);
      } else {
        (*refused)++;
        if ((rc != QAT_ERR_FORMAT && rc != QAT_ERR_UNSUPPORTED && rc != QAT_ERR_NOMEM) ||
            strncmp(qat_error_message(), "m.tflite: ", 10) != 0)
          fail_msg("%s byte %zu ^ 0x%02x: status %d: %s", file, i, masks[k], rc,
                   qat_error_message());
        assert_null(m);
      }
    }
  free(buf);
}

static void flip_sweep(const char *file, size_t step, const uint8_t *masks, int n_masks,
                       int *loaded, int *refused) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", FIXTURES, file);
  size_t len = 0;
  uint8_t *orig = tb_read_file(path, &len);
  assert_non_null(orig);
  flip_sweep_buf(file, orig, len, step, masks, n_masks, 0, loaded, refused);
  free(orig);
}

/* A 16x8 graph (int16 activations, int8 weights, INT64 biases): CONV_2D, MAX_POOL_2D, MEAN,
 * FULLY_CONNECTED, ADD, SOFTMAX, with near-extreme int16 inputs, so that flipped scales,
 * biases and weights reach the int16 kernels' 64-bit requantization and tables. */
static void test_bit_flips_int16(void **state) {
  (void)state;
  tb_model *tm = calloc(1, sizeof *tm);
  assert_non_null(tm);
  static int8_t wc[4 * 3 * 3 * 2], wf[3 * 4];
  static int64_t bc[4] = {100000, -200000, 3, 0}, bf[3] = {-7, 70000, 1 << 20};
  static const int32_t axes[2] = {1, 2};
  for (size_t i = 0; i < sizeof wc; i++) wc[i] = (int8_t)((int)(i * 37 % 255) - 127);
  for (size_t i = 0; i < sizeof wf; i++) wf[i] = (int8_t)((int)(i * 53 % 255) - 127);
  const int32_t dx[4] = {1, 6, 6, 2}, dwc[4] = {4, 3, 3, 2}, db4[1] = {4}, dc[4] = {1, 4, 4, 4},
                dp[4] = {1, 2, 2, 4}, dax[1] = {2}, dm[2] = {1, 4}, dwf[2] = {3, 4}, db3[1] = {3},
                df[2] = {1, 3};
  const int x = tb_tensor_add(tm, "x", I16, 4, dx, NULL, 0);
  const int w1 = tb_tensor_add(tm, "w1", I8, 4, dwc, wc, sizeof wc);
  const int b1 = tb_tensor_add(tm, "b1", I64, 1, db4, bc, sizeof bc);
  const int c = tb_tensor_add(tm, "c", I16, 4, dc, NULL, 0);
  const int p = tb_tensor_add(tm, "p", I16, 4, dp, NULL, 0);
  const int a = tb_tensor_add(tm, "axes", I32, 1, dax, axes, sizeof axes);
  const int mn = tb_tensor_add(tm, "mean", I16, 2, dm, NULL, 0);
  const int w2 = tb_tensor_add(tm, "w2", I8, 2, dwf, wf, sizeof wf);
  const int b2 = tb_tensor_add(tm, "b2", I64, 1, db3, bf, sizeof bf);
  const int f = tb_tensor_add(tm, "fc", I16, 2, df, NULL, 0);
  const int s = tb_tensor_add(tm, "sum", I16, 2, df, NULL, 0);
  const int y = tb_tensor_add(tm, "y", I16, 2, df, NULL, 0);
  const float ws[4] = {0.01f, 0.02f, 0.005f, 0.03f};
  float bs[4];
  const int64_t z[4] = {0};
  for (int k = 0; k < 4; k++) bs[k] = 1e-3f * ws[k];
  tb_quant1(tm, x, 1e-3f, 0);
  tb_quant(tm, w1, 4, ws, z, 0);
  tb_quant(tm, b1, 4, bs, z, 0);
  tb_quant1(tm, c, 2e-3f, 0);
  tb_quant1(tm, p, 2e-3f, 0);
  tb_quant1(tm, mn, 1e-3f, 0);
  tb_quant1(tm, w2, 0.02f, 0);
  tb_quant1(tm, b2, 2e-5f, 0);
  tb_quant1(tm, f, 4e-3f, 0);
  tb_quant1(tm, s, 8e-3f, 0);
  tb_quant1(tm, y, 1.0f / 32768, 0);
  tb_op *op = tb_op_add(tm, QAT_TFLITE_BUILTIN_CONV_2D, 3, (int32_t[]){x, w1, b1}, 1, (int32_t[]){c});
  op->padding = 1, op->stride_w = op->stride_h = 1, op->act = 1;
  op = tb_op_add(tm, QAT_TFLITE_BUILTIN_MAX_POOL_2D, 1, (int32_t[]){c}, 1, (int32_t[]){p});
  op->padding = 1, op->stride_w = op->stride_h = 2, op->filter_w = op->filter_h = 2, op->version = 3;
  tb_op_add(tm, QAT_TFLITE_BUILTIN_MEAN, 2, (int32_t[]){p, a}, 1, (int32_t[]){mn})->version = 3;
  tb_op_add(tm, QAT_TFLITE_BUILTIN_FULLY_CONNECTED, 3, (int32_t[]){mn, w2, b2}, 1, (int32_t[]){f});
  op = tb_op_add(tm, QAT_TFLITE_BUILTIN_ADD, 2, (int32_t[]){f, f}, 1, (int32_t[]){s});
  op->version = 3, op->pot_scale_int16_false = 1;
  tb_op_add(tm, QAT_TFLITE_BUILTIN_SOFTMAX, 1, (int32_t[]){s}, 1, (int32_t[]){y})->version = 3;
  tm->ops[5].beta = 1.0f;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
  size_t len = 0;
  uint8_t *orig = tb_build(tm, &len);
  assert_non_null(orig);
  /* the unflipped model loads and runs */
  qat_rt_model *m = NULL;
  if (qat_rt_model_load_buffer(orig, len, "m.tflite", NULL, &m)) fail_msg("%s", qat_error_message());
  assert_int_equal(qat_rt_invoke(m), 0);
  qat_rt_model_free(m);
  int loaded = 0, refused = 0;
  const uint8_t masks[4] = {0x01, 0x10, 0x80, 0xFF};
  flip_sweep_buf("int16 graph", orig, len, 1, masks, 4, 1, &loaded, &refused);
  printf("16x8 graph (%zu bytes) bit flips: %d loaded and ran, %d refused\n", len, loaded, refused);
  assert_true(loaded > 0 && refused > 0);
  free(orig);
  free(tm);
}

static void test_bit_flips(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  int loaded = 0, refused = 0;
  const uint8_t masks[4] = {0x01, 0x10, 0x80, 0xFF};
  flip_sweep("hello_world_int8.tflite", 1, masks, 4, &loaded, &refused);
  printf("hello_world_int8 bit flips: %d loaded and ran, %d refused\n", loaded, refused);
  loaded = refused = 0;
  const uint8_t mask1[1] = {0xFF};
  flip_sweep("micro_speech_quantized.tflite", 16, mask1, 1, &loaded, &refused);
  flip_sweep("simple_add_model.tflite", 1, masks, 4, &loaded, &refused);
  printf(
      "micro_speech (every 16th byte) and simple_add bit flips: %d loaded and ran, %d "
      "refused\n",
      loaded, refused);
}

static void test_corpus_count(void **state) {
  (void)state;
  printf("malformed corpus: %d files refused as expected\n", n_corpus);
  if (tb_have_fixtures()) assert_true(n_corpus >= 30);
}

/* The arena cap: hello_world's activations fit the default and a cap of their size, not one
 * byte less (the planner sums before placing, so the cap bounds the sum). */
static void test_arena_cap(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  size_t len = 0;
  uint8_t *buf = tb_read_file(FIXTURES "/hello_world_int8.tflite", &len);
  assert_non_null(buf);
  qat_rt_model *m = NULL;
  assert_int_equal(qat_rt_model_load_buffer(buf, len, "m.tflite", NULL, &m), QAT_OK);
  const size_t need = qat_rt_activation_bytes(m);
  qat_rt_model_free(m);
  assert_true(need > 0);
  qat_rt_options opt = {.max_arena_bytes = need};
  assert_int_equal(qat_rt_model_load_buffer(buf, len, "m.tflite", &opt, &m), QAT_OK);
  qat_rt_model_free(m);
  m = NULL;
  opt.max_arena_bytes = need - 1;
  assert_int_equal(qat_rt_model_load_buffer(buf, len, "m.tflite", &opt, &m), QAT_ERR_UNSUPPORTED);
  assert_null(m);
  assert_non_null(strstr(qat_error_message(), "m.tflite: activations need more than"));
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corpus_structure), cmocka_unit_test(test_corpus_graph),
      cmocka_unit_test(test_corpus_built),     cmocka_unit_test(test_table_count_limit),
      cmocka_unit_test(test_corpus_count),     cmocka_unit_test(test_prefix_sweeps),
      cmocka_unit_test(test_bit_flips),
      cmocka_unit_test(test_arena_cap),
      cmocka_unit_test(test_bit_flips_int16),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
