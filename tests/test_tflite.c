/* Tests of the TFLite writer (export/tflite_writer.c), batch-norm folding (export/fold.c) and
 * the float32 lowering (export/lower.c):
 *   - the bytes of a written file, read back with a few lines of flatbuffer reading: identifier,
 *     schema version, buffer 0 empty, 16-byte aligned constant data, both opcode fields and the
 *     version, the min_runtime_version string, the serving_default signature, the description;
 *   - determinism (serialize twice, write twice: the same bytes) and atomic writes;
 *   - the op-version function against op_version.cc's rules, case by case, and the runtime
 *     version table;
 *   - validation errors;
 *   - batch-norm folding: a conv / depthwise / dense folded with qat_fold_batch_norm gives what
 *     the unfolded layer followed by batch norm gives in qat's own inference forward;
 *   - the lowering's graph (fusions, shapes, constants) and its errors for a batch norm that
 *     cannot be folded. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "qat/config.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/model.h"
#include "qat/rng.h"
#include "qat/runtime.h"
#include "qat/tflite.h"
#include "qat/train.h"

/* ---- reading a flatbuffer back (enough to follow offsets) ---- */

static uint32_t rd_u32(const uint8_t *p, size_t pos) {
  return (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 | (uint32_t)p[pos + 2] << 16 | (uint32_t)p[pos + 3] << 24;
}
static uint16_t rd_u16(const uint8_t *p, size_t pos) { return (uint16_t)(p[pos] | p[pos + 1] << 8); }
/* Absolute position of field `id` of the table at `table`, or 0 when absent. */
static size_t field_at(const uint8_t *p, size_t table, unsigned id) {
  size_t vt = table - (size_t)(int32_t)rd_u32(p, table);
  uint16_t vsize = rd_u16(p, vt);
  if (4 + 2 * id >= vsize) return 0;
  uint16_t off = rd_u16(p, vt + 4 + 2 * id);
  return off ? table + off : 0;
}
static size_t deref(const uint8_t *p, size_t pos) { return pos + rd_u32(p, pos); }
/* A referenced child (table, vector, string) of field id, 0 when absent. */
static size_t child(const uint8_t *p, size_t table, unsigned id) {
  size_t f = field_at(p, table, id);
  return f ? deref(p, f) : 0;
}
static uint32_t u32_field(const uint8_t *p, size_t table, unsigned id, uint32_t def) {
  size_t f = field_at(p, table, id);
  return f ? rd_u32(p, f) : def;
}
static int8_t i8_field(const uint8_t *p, size_t table, unsigned id, int8_t def) {
  size_t f = field_at(p, table, id);
  return f ? (int8_t)p[f] : def;
}
static uint32_t vec_len(const uint8_t *p, size_t vec) { return rd_u32(p, vec); }
static size_t vec_table(const uint8_t *p, size_t vec, uint32_t i) { return deref(p, vec + 4 + 4 * (size_t)i); }
static const char *str_at(const uint8_t *p, size_t s) { return (const char *)p + s + 4; }

/* ---- building IR ---- */

static int add_act(qat_tflite_model *m, const char *name, qat_tflite_type type, int rank, const int *dims) {
  int i;
  assert_int_equal(qat_tflite_add_tensor(m, name, type, rank, dims, NULL, 0, &i), 0);
  return i;
}

static int add_const(qat_tflite_model *m, const char *name, qat_tflite_type type, int rank, const int *dims) {
  size_t n = qat_tflite_type_size(type);
  for (int d = 0; d < rank; d++) n *= (size_t)dims[d];
  uint8_t *data = malloc(n);
  assert_non_null(data);
  for (size_t k = 0; k < n; k++) data[k] = (uint8_t)(k * 7 + 1);
  int i;
  assert_int_equal(qat_tflite_add_tensor(m, name, type, rank, dims, data, n, &i), 0);
  free(data);
  return i;
}

static void add_op(qat_tflite_model *m, qat_tflite_operator *op, int n_in, const int *in, int out) {
  op->n_inputs = n_in;
  for (int k = 0; k < n_in; k++) op->inputs[k] = in[k];
  op->n_outputs = 1;
  op->outputs[0] = out;
  assert_int_equal(qat_tflite_add_op(m, op, NULL), 0);
}

/* input [1,4] -> FULLY_CONNECTED (w [3,4], b [3]) -> [1,3] -> SOFTMAX -> "probs" [1,3] */
static void small_model(qat_tflite_model *m) {
  qat_tflite_model_init(m);
  int x = add_act(m, "input", QAT_TFLITE_FLOAT32, 2, (int[]){1, 4});
  int w = add_const(m, "fc/kernel", QAT_TFLITE_FLOAT32, 2, (int[]){3, 4});
  int b = add_const(m, "fc/bias", QAT_TFLITE_FLOAT32, 1, (int[]){3});
  int h = add_act(m, "fc", QAT_TFLITE_FLOAT32, 2, (int[]){1, 3});
  int y = add_act(m, "probs", QAT_TFLITE_FLOAT32, 2, (int[]){1, 3});
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_FULLY_CONNECTED);
  op.opt.activation = QAT_TFLITE_ACT_RELU;
  add_op(m, &op, 3, (int[]){x, w, b}, h);
  qat_tflite_op_init(&op, QAT_TFLITE_OP_SOFTMAX);
  add_op(m, &op, 1, &h, y);
  assert_int_equal(qat_tflite_add_input(m, x, "features"), 0);
  assert_int_equal(qat_tflite_add_output(m, y, "probs"), 0);
}

/* ---- writer bytes ---- */

static void test_writer_bytes(void **state) {
  (void)state;
  qat_tflite_model m;
  small_model(&m);
  uint8_t *p;
  size_t n;
  assert_int_equal(qat_tflite_serialize(&m, &p, &n), 0);
  assert_true(n > 64);
  assert_memory_equal(p + 4, "TFL3", 4);
  assert_int_equal(n % 16, 0);
  size_t model = rd_u32(p, 0);
  assert_int_equal(u32_field(p, model, QAT_TFLITE_Model_version, 0), QAT_TFLITE_SCHEMA_VERSION);
  assert_string_equal(str_at(p, child(p, model, QAT_TFLITE_Model_description)), "qat " QAT_VERSION);

  /* Buffers: 0 empty, one per constant (2), one for min_runtime_version. */
  size_t bufs = child(p, model, QAT_TFLITE_Model_buffers);
  assert_int_equal(vec_len(p, bufs), 4);
  assert_int_equal(field_at(p, vec_table(p, bufs, 0), QAT_TFLITE_Buffer_data), 0);
  for (uint32_t i = 1; i < 4; i++) {
    size_t data = child(p, vec_table(p, bufs, i), QAT_TFLITE_Buffer_data);
    assert_true(data != 0);
    assert_int_equal((data + 4) % 16, 0); /* force_align: 16 */
  }
  size_t w_data = child(p, vec_table(p, bufs, 1), QAT_TFLITE_Buffer_data);
  assert_int_equal(vec_len(p, w_data), 3 * 4 * 4);
  assert_memory_equal(p + w_data + 4, m.tensors[1].data, 48);

  /* Operator codes in first-use order, both code fields, explicit versions. */
  size_t codes = child(p, model, QAT_TFLITE_Model_operator_codes);
  assert_int_equal(vec_len(p, codes), 2);
  size_t c0 = vec_table(p, codes, 0), c1 = vec_table(p, codes, 1);
  assert_int_equal(i8_field(p, c0, QAT_TFLITE_OperatorCode_deprecated_builtin_code, -1), QAT_TFLITE_BUILTIN_FULLY_CONNECTED);           /* deprecated_builtin_code */
  assert_int_equal(u32_field(p, c0, QAT_TFLITE_OperatorCode_builtin_code, 0), QAT_TFLITE_BUILTIN_FULLY_CONNECTED);           /* builtin_code FULLY_CONNECTED */
  assert_true(field_at(p, c0, QAT_TFLITE_OperatorCode_version) != 0);                  /* version stored even when 1 */
  assert_int_equal(u32_field(p, c0, QAT_TFLITE_OperatorCode_version, 0), 1);
  assert_int_equal(i8_field(p, c1, QAT_TFLITE_OperatorCode_deprecated_builtin_code, -1), QAT_TFLITE_BUILTIN_SOFTMAX);
  assert_int_equal(u32_field(p, c1, QAT_TFLITE_OperatorCode_builtin_code, 0), QAT_TFLITE_BUILTIN_SOFTMAX);

  /* min_runtime_version: FC v1 and SOFTMAX v1 both need 1.5.0, 16 zero-padded bytes. */
  size_t md = child(p, model, QAT_TFLITE_Model_metadata);
  assert_int_equal(vec_len(p, md), 1);
  size_t md0 = vec_table(p, md, 0);
  assert_string_equal(str_at(p, child(p, md0, QAT_TFLITE_Metadata_name)), "min_runtime_version");
  uint32_t mb = u32_field(p, md0, QAT_TFLITE_Metadata_buffer, 0);
  assert_int_equal(mb, 3);
  size_t ver = child(p, vec_table(p, bufs, mb), QAT_TFLITE_Buffer_data);
  assert_int_equal(vec_len(p, ver), 16);
  char want[16] = "1.5.0";
  assert_memory_equal(p + ver + 4, want, 16);

  /* Tensors: constants point at their buffers, activations at buffer 0. */
  size_t sg = vec_table(p, child(p, model, QAT_TFLITE_Model_subgraphs), 0);
  size_t tensors = child(p, sg, QAT_TFLITE_SubGraph_tensors);
  assert_int_equal(vec_len(p, tensors), 5);
  assert_int_equal(u32_field(p, vec_table(p, tensors, 0), QAT_TFLITE_Tensor_buffer, 0), 0); /* activation: buffer 0 */
  assert_int_equal(u32_field(p, vec_table(p, tensors, 1), QAT_TFLITE_Tensor_buffer, 99), 1);
  assert_int_equal(u32_field(p, vec_table(p, tensors, 2), QAT_TFLITE_Tensor_buffer, 99), 2);
  assert_string_equal(str_at(p, child(p, vec_table(p, tensors, 1), QAT_TFLITE_Tensor_name)), "fc/kernel");
  /* Operators: FC with its options union (FullyConnectedOptions = 8, fused RELU). */
  size_t ops = child(p, sg, QAT_TFLITE_SubGraph_operators);
  assert_int_equal(vec_len(p, ops), 2);
  size_t op0 = vec_table(p, ops, 0);
  assert_int_equal(p[field_at(p, op0, QAT_TFLITE_Operator_builtin_options_type)],
                   QAT_TFLITE_OPTIONS_FullyConnectedOptions);
  assert_int_equal(i8_field(p, child(p, op0, QAT_TFLITE_Operator_builtin_options),
                            QAT_TFLITE_FullyConnectedOptions_fused_activation_function, 0),
                   QAT_TFLITE_ACT_RELU);
  size_t op1 = vec_table(p, ops, 1);
  assert_int_equal(u32_field(p, op1, QAT_TFLITE_Operator_opcode_index, 0), 1); /* opcode_index */
  assert_int_equal(p[field_at(p, op1, QAT_TFLITE_Operator_builtin_options_type)],
                   QAT_TFLITE_OPTIONS_SoftmaxOptions);
  float beta;
  uint32_t bits = rd_u32(p, field_at(p, child(p, op1, QAT_TFLITE_Operator_builtin_options), QAT_TFLITE_SoftmaxOptions_beta));
  memcpy(&beta, &bits, 4);
  assert_true(beta == 1.0f);

  /* The serving_default signature with the given names. */
  size_t sigs = child(p, model, QAT_TFLITE_Model_signature_defs);
  assert_int_equal(vec_len(p, sigs), 1);
  size_t sig = vec_table(p, sigs, 0);
  assert_string_equal(str_at(p, child(p, sig, QAT_TFLITE_SignatureDef_signature_key)), "serving_default");
  size_t sin = child(p, sig, QAT_TFLITE_SignatureDef_inputs), sout = child(p, sig, QAT_TFLITE_SignatureDef_outputs);
  assert_int_equal(vec_len(p, sin), 1);
  assert_string_equal(str_at(p, child(p, vec_table(p, sin, 0), QAT_TFLITE_TensorMap_name)), "features");
  assert_int_equal(u32_field(p, vec_table(p, sin, 0), QAT_TFLITE_TensorMap_tensor_index, 0), 0);
  assert_string_equal(str_at(p, child(p, vec_table(p, sout, 0), QAT_TFLITE_TensorMap_name)), "probs");
  assert_int_equal(u32_field(p, vec_table(p, sout, 0), QAT_TFLITE_TensorMap_tensor_index, 99), 4);
  free(p);
  qat_tflite_model_free(&m);
}

/* Per-channel quantization, the schema's field ids, and an INT8 QUANTIZE/DEQUANTIZE pair. */
static void test_writer_quantization(void **state) {
  (void)state;
  qat_tflite_model m;
  qat_tflite_model_init(&m);
  int x = add_act(&m, "x", QAT_TFLITE_FLOAT32, 2, (int[]){1, 3});
  int q = add_act(&m, "q", QAT_TFLITE_INT8, 2, (int[]){1, 3});
  int y = add_act(&m, "y", QAT_TFLITE_FLOAT32, 2, (int[]){1, 3});
  float s[3] = {0.5f, 0.25f, 0.125f};
  int64_t z[3] = {0, 0, 0};
  assert_int_equal(qat_tflite_set_quant(&m, q, 1, s, (int64_t[]){-3}, 0), 0);
  int w = add_const(&m, "w", QAT_TFLITE_INT8, 2, (int[]){3, 2});
  assert_int_equal(qat_tflite_set_quant(&m, w, 3, s, z, 0), 0);
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_QUANTIZE);
  add_op(&m, &op, 1, &x, q);
  qat_tflite_op_init(&op, QAT_TFLITE_OP_DEQUANTIZE);
  add_op(&m, &op, 1, &q, y);
  assert_int_equal(qat_tflite_add_input(&m, x, "x"), 0);
  assert_int_equal(qat_tflite_add_output(&m, y, "y"), 0);
  uint8_t *p;
  size_t n;
  assert_int_equal(qat_tflite_serialize(&m, &p, &n), 0);
  size_t model = rd_u32(p, 0);
  size_t tensors = child(p, vec_table(p, child(p, model, QAT_TFLITE_Model_subgraphs), 0), QAT_TFLITE_SubGraph_tensors);
  size_t tq = vec_table(p, tensors, 1), tw = vec_table(p, tensors, 3);
  assert_int_equal(i8_field(p, tq, QAT_TFLITE_Tensor_type, 0), QAT_TFLITE_TYPE_INT8);
  size_t qq = child(p, tq, QAT_TFLITE_Tensor_quantization);
  assert_int_equal(vec_len(p, child(p, qq, QAT_TFLITE_QuantizationParameters_scale)), 1);
  assert_int_equal((int64_t)(rd_u32(p, child(p, qq, QAT_TFLITE_QuantizationParameters_zero_point) + 4) | (uint64_t)rd_u32(p, child(p, qq, QAT_TFLITE_QuantizationParameters_zero_point) + 8) << 32), -3);
  size_t qw = child(p, tw, QAT_TFLITE_Tensor_quantization);
  assert_int_equal(vec_len(p, child(p, qw, QAT_TFLITE_QuantizationParameters_scale)), 3);
  assert_int_equal(vec_len(p, child(p, qw, QAT_TFLITE_QuantizationParameters_zero_point)), 3);
  /* Float tensors carry no quantization table at all. */
  assert_int_equal(field_at(p, vec_table(p, tensors, 0), QAT_TFLITE_Tensor_quantization), 0);
  /* QUANTIZE v1 (1.14.0), DEQUANTIZE int8 v2 (1.14.0); no options tables. */
  size_t codes = child(p, model, QAT_TFLITE_Model_operator_codes);
  assert_int_equal(i8_field(p, vec_table(p, codes, 0), QAT_TFLITE_OperatorCode_deprecated_builtin_code, 0),
                   QAT_TFLITE_BUILTIN_QUANTIZE);
  assert_int_equal(u32_field(p, vec_table(p, codes, 0), QAT_TFLITE_OperatorCode_version, 0), 1);
  assert_int_equal(u32_field(p, vec_table(p, codes, 1), QAT_TFLITE_OperatorCode_version, 0), 2);
  size_t ops = child(p, vec_table(p, child(p, model, QAT_TFLITE_Model_subgraphs), 0), QAT_TFLITE_SubGraph_operators);
  assert_int_equal(field_at(p, vec_table(p, ops, 0), QAT_TFLITE_Operator_builtin_options_type), 0);
  size_t bufs = child(p, model, QAT_TFLITE_Model_buffers);
  size_t ver = child(p, vec_table(p, bufs, vec_len(p, bufs) - 1), QAT_TFLITE_Buffer_data);
  assert_string_equal((const char *)p + ver + 4, "1.14.0");
  free(p);
  qat_tflite_model_free(&m);
}

/* ---- determinism and atomic writes ---- */

static char tmpdir[4096];

static int make_tmpdir(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s/tflite_test_XXXXXX", QAT_BINARY_DIR);
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
  (void)state;
  char path[4200];
  static const char *const names[] = {"a.tflite", "b.tflite"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
    unlink(path);
  }
  rmdir(tmpdir);
  return 0;
}

static uint8_t *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *d = malloc((size_t)len + 1);
  if (d && fread(d, 1, (size_t)len, f) != (size_t)len) {
    free(d);
    d = NULL;
  }
  fclose(f);
  *n = (size_t)len;
  return d;
}

static int count_dir_entries(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
  FILE *f = popen(cmd, "r");
  int n = -1;
  if (f) {
    if (fscanf(f, "%d", &n) != 1) n = -1;
    pclose(f);
  }
  return n;
}

static void test_deterministic_and_atomic(void **state) {
  (void)state;
  qat_tflite_model m;
  small_model(&m);
  uint8_t *p1, *p2;
  size_t n1, n2;
  assert_int_equal(qat_tflite_serialize(&m, &p1, &n1), 0);
  assert_int_equal(qat_tflite_serialize(&m, &p2, &n2), 0);
  assert_int_equal(n1, n2);
  assert_memory_equal(p1, p2, n1);
  char a[4200], b[4200];
  snprintf(a, sizeof a, "%s/a.tflite", tmpdir);
  snprintf(b, sizeof b, "%s/b.tflite", tmpdir);
  assert_int_equal(qat_tflite_write(&m, a), 0);
  assert_int_equal(qat_tflite_write(&m, b), 0);
  size_t na, nb;
  uint8_t *fa = read_file(a, &na), *fb = read_file(b, &nb);
  assert_non_null(fa);
  assert_non_null(fb);
  assert_int_equal(na, n1);
  assert_int_equal(nb, n1);
  assert_memory_equal(fa, p1, n1);
  assert_memory_equal(fb, p1, n1);
  free(fa);
  free(fb);
  /* A model that fails validation leaves the existing file as it was and no temp file. */
  m.ops[1].inputs[0] = 17;
  assert_int_not_equal(qat_tflite_write(&m, a), 0);
  fa = read_file(a, &na);
  assert_non_null(fa);
  assert_int_equal(na, n1);
  assert_memory_equal(fa, p1, n1);
  free(fa);
  m.ops[1].inputs[0] = 3;
  /* A directory is refused, nothing is created. */
  assert_int_equal(qat_tflite_write(&m, tmpdir), QAT_ERR_IO);
  assert_int_equal(count_dir_entries(tmpdir), 2);
  free(p1);
  free(p2);
  qat_tflite_model_free(&m);
  qat_tflite_model_free(&m); /* twice is safe */
}

/* ---- validation ---- */

static void test_validate_errors(void **state) {
  (void)state;
  qat_tflite_model m;
  small_model(&m);
  assert_int_equal(qat_tflite_validate(&m), 0);
  m.ops[0].inputs[0] = 3; /* reads the FC's own output before it exists */
  assert_int_not_equal(qat_tflite_validate(&m), 0);
  assert_non_null(strstr(qat_error_message(), "is not produced"));
  m.ops[0].inputs[0] = 0;
  m.ops[1].outputs[0] = 3; /* written twice */
  assert_int_not_equal(qat_tflite_validate(&m), 0);
  m.ops[1].outputs[0] = 4;
  m.ops[0].inputs[2] = -1; /* an omitted bias is allowed */
  assert_int_equal(qat_tflite_validate(&m), 0);
  m.ops[0].inputs[1] = -1; /* an omitted weight is not */
  assert_int_not_equal(qat_tflite_validate(&m), 0);
  m.ops[0].inputs[1] = 1;
  m.ops[0].inputs[2] = 2;
  /* Per-channel counts must match the quantized dimension. */
  assert_int_equal(qat_tflite_set_quant(&m, 1, 4, (float[]){1, 1, 1, 1}, (int64_t[]){0, 0, 0, 0}, 0), 0);
  assert_int_not_equal(qat_tflite_validate(&m), 0);
  assert_int_equal(qat_tflite_set_quant(&m, 1, 3, (float[]){1, 1, 0}, (int64_t[]){0, 0, 0}, 0), 0);
  assert_int_not_equal(qat_tflite_validate(&m), 0); /* scale 0 */
  assert_int_equal(qat_tflite_set_quant(&m, 1, 3, (float[]){1, 1, 1}, (int64_t[]){0, 0, 0}, 0), 0);
  assert_int_equal(qat_tflite_validate(&m), 0);
  /* Constant size must match the shape; outputs need unique names. */
  int t;
  assert_int_not_equal(qat_tflite_add_tensor(&m, "bad", QAT_TFLITE_FLOAT32, 1, (int[]){3}, "abc", 3, &t), 0);
  assert_int_not_equal(qat_tflite_add_tensor(&m, "bad", QAT_TFLITE_FLOAT32, 1, (int[]){0}, NULL, 0, &t), 0);
  assert_int_equal(qat_tflite_add_output(&m, 3, "probs"), 0);
  assert_int_not_equal(qat_tflite_validate(&m), 0);
  qat_tflite_model_free(&m);
}

/* ---- op versions ---- */

enum { F32 = QAT_TFLITE_FLOAT32, F16 = QAT_TFLITE_FLOAT16, I8 = QAT_TFLITE_INT8, U8 = QAT_TFLITE_UINT8,
       I16 = QAT_TFLITE_INT16, I32 = QAT_TFLITE_INT32, I64 = QAT_TFLITE_INT64 };

typedef struct vcase {
  const char *what;
  qat_tflite_op op;
  int in0, in1, out;    /* types; in1 < 0: a one-input op */
  int n_inputs;         /* 0: 3 for conv/depthwise/FC, 2 or 1 otherwise */
  int w_scales;         /* quantization scales on input 1 (weights): 0 none, 1, or per-channel */
  int in0_quant;        /* input 0 carries quantization */
  int out_scales;       /* output quantization scales (QUANTIZE per-channel) */
  int in0_scales;       /* input 0 scales (DEQUANTIZE per-channel) */
  int grouped;          /* CONV_2D: input channels 8, filter input channels 4 */
  int dilation, keep_num_dims, asymmetric, pot_false, bias_type;
  int want;
} vcase;

static int case_version(const vcase *c) {
  qat_tflite_model m;
  qat_tflite_model_init(&m);
  int dims4[4] = {1, 6, 6, c->grouped ? 8 : 4}, wdims[4] = {4, 3, 3, 4};
  int rank = 4;
  int *wd = wdims;
  int wd_fc[2] = {4, 4}, wd_dw[4] = {1, 3, 3, 4};
  if (c->op == QAT_TFLITE_OP_FULLY_CONNECTED) wd = wd_fc;
  if (c->op == QAT_TFLITE_OP_DEPTHWISE_CONV_2D) wd = wd_dw;
  int wrank = c->op == QAT_TFLITE_OP_FULLY_CONNECTED ? 2 : 4;
  int x = add_act(&m, "x", (qat_tflite_type)c->in0, rank, dims4);
  if (c->in0_quant || c->in0_scales) {
    int n = c->in0_scales ? c->in0_scales : 1;
    float s[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    int64_t z[8] = {0};
    assert_int_equal(qat_tflite_set_quant(&m, x, n, s, z, 3), 0);
  }
  int in[3] = {x, -1, -1};
  int n_in = 1;
  if (c->in1 >= 0) {
    in[1] = add_const(&m, "w", (qat_tflite_type)c->in1, wrank, wd);
    if (c->w_scales) {
      float s[4] = {1, 1, 1, 1};
      int64_t z[4] = {0};
      int qd = c->op == QAT_TFLITE_OP_DEPTHWISE_CONV_2D ? 3 : 0;
      assert_int_equal(qat_tflite_set_quant(&m, in[1], c->w_scales, s, z, qd), 0);
    }
    n_in = 2;
  }
  int three = c->op == QAT_TFLITE_OP_CONV_2D || c->op == QAT_TFLITE_OP_DEPTHWISE_CONV_2D ||
              c->op == QAT_TFLITE_OP_FULLY_CONNECTED;
  if (three) {
    in[2] = add_const(&m, "b", QAT_TFLITE_INT32, 1, (int[]){4});
    n_in = 3;
  }
  if (c->n_inputs) n_in = c->n_inputs;
  int y = add_act(&m, "y", (qat_tflite_type)c->out, rank, dims4);
  if (c->out_scales) {
    float s[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    int64_t z[8] = {0};
    assert_int_equal(qat_tflite_set_quant(&m, y, c->out_scales, s, z, 3), 0);
  }
  qat_tflite_operator op;
  qat_tflite_op_init(&op, c->op);
  op.opt.dilation_w = c->dilation ? c->dilation : 1;
  op.opt.keep_num_dims = c->keep_num_dims;
  op.opt.asymmetric_quantize_inputs = c->asymmetric;
  op.opt.pot_scale_int16 = !c->pot_false;
  op.opt.quantized_bias_type = (qat_tflite_type)c->bias_type;
  op.n_inputs = n_in;
  for (int k = 0; k < n_in; k++) op.inputs[k] = in[k];
  op.n_outputs = 1;
  op.outputs[0] = y;
  int v = qat_tflite_op_version(&m, &op);
  qat_tflite_model_free(&m);
  return v;
}

/* REDUCE_MAX as the writer emits it (ReducerOptions keep_dims, axes as an int32 2nd input,
 * version 2 for int8) reads back in qat's runtime with the shape keep_dims gives. */
static void test_write_reduce_max(void **state) {
  (void)state;
  for (int kd = 0; kd < 2; kd++) {
    qat_tflite_model m;
    qat_tflite_model_init(&m);
    const int dx[4] = {1, 2, 2, 3}, dk[4] = {1, 1, 1, 3}, dn[2] = {1, 3}, da[1] = {2};
    const int32_t axes[2] = {1, 2};
    const float s = 0.5f;
    const int64_t z = -4;
    int x, a, y;
    assert_int_equal(qat_tflite_add_tensor(&m, "x", QAT_TFLITE_INT8, 4, dx, NULL, 0, &x), 0);
    assert_int_equal(qat_tflite_add_tensor(&m, "axes", QAT_TFLITE_INT32, 1, da, axes, 8, &a), 0);
    assert_int_equal(
        qat_tflite_add_tensor(&m, "y", QAT_TFLITE_INT8, kd ? 4 : 2, kd ? dk : dn, NULL, 0, &y), 0);
    assert_int_equal(qat_tflite_set_quant(&m, x, 1, &s, &z, 0), 0);
    assert_int_equal(qat_tflite_set_quant(&m, y, 1, &s, &z, 0), 0);
    qat_tflite_operator op;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_REDUCE_MAX);
    op.opt.keep_dims = kd;
    op.n_inputs = 2, op.inputs[0] = x, op.inputs[1] = a;
    op.n_outputs = 1, op.outputs[0] = y;
    assert_int_equal(qat_tflite_add_op(&m, &op, NULL), 0);
    assert_int_equal(qat_tflite_add_input(&m, x, "x"), 0);
    assert_int_equal(qat_tflite_add_output(&m, y, "y"), 0);
    uint8_t *p;
    size_t n;
    assert_int_equal(qat_tflite_serialize(&m, &p, &n), 0);
    qat_rt_model *rt = NULL;
    if (qat_rt_model_load_buffer(p, n, "reduce_max.tflite", NULL, &rt)) fail_msg("%s", qat_error_message());
    qat_rt_op_info info;
    assert_int_equal(qat_rt_op(rt, 0, &info), 0);
    assert_string_equal(info.name, "REDUCE_MAX");
    assert_int_equal(info.version, 2);
    const int8_t in[12] = {1, -9, 5, 7, 2, -3, -8, 4, 6, 0, 3, -1};
    memcpy(qat_rt_tensor_data(rt, qat_rt_input(rt, 0)), in, sizeof in);
    assert_int_equal(qat_rt_invoke(rt), 0);
    const int8_t *out = qat_rt_tensor_data(rt, qat_rt_output(rt, 0));
    assert_int_equal(out[0], 7);
    assert_int_equal(out[1], 4);
    assert_int_equal(out[2], 6);
    qat_rt_model_free(rt);
    free(p);
    qat_tflite_model_free(&m);
  }
}

static void test_op_versions(void **state) {
  (void)state;
  static const vcase cases[] = {
      /* CONV_2D */
      {"conv float", QAT_TFLITE_OP_CONV_2D, F32, F32, F32, .want = 1},
      {"conv int8", QAT_TFLITE_OP_CONV_2D, I8, I8, I8, .w_scales = 4, .want = 3},
      {"conv hybrid per-tensor", QAT_TFLITE_OP_CONV_2D, F32, I8, F32, .w_scales = 1, .want = 2},
      {"conv hybrid per-channel", QAT_TFLITE_OP_CONV_2D, F32, I8, F32, .w_scales = 4, .want = 5},
      {"conv grouped", QAT_TFLITE_OP_CONV_2D, F32, F32, F32, .grouped = 1, .want = 6},
      {"conv 16x8 no bias type", QAT_TFLITE_OP_CONV_2D, I16, I8, I16, .want = 1},
      {"conv 16x8 int64 bias type", QAT_TFLITE_OP_CONV_2D, I16, I8, I16, .bias_type = I64, .want = 8},
      {"conv int16 weights", QAT_TFLITE_OP_CONV_2D, I16, I16, I16, .want = 4},
      /* DEPTHWISE_CONV_2D */
      {"dw float", QAT_TFLITE_OP_DEPTHWISE_CONV_2D, F32, F32, F32, .want = 1},
      {"dw dilated", QAT_TFLITE_OP_DEPTHWISE_CONV_2D, F32, F32, F32, .dilation = 2, .want = 2},
      {"dw int8", QAT_TFLITE_OP_DEPTHWISE_CONV_2D, I8, I8, I8, .w_scales = 4, .want = 3},
      {"dw hybrid", QAT_TFLITE_OP_DEPTHWISE_CONV_2D, F32, I8, F32, .w_scales = 1, .want = 4},
      {"dw hybrid per-channel", QAT_TFLITE_OP_DEPTHWISE_CONV_2D, F32, I8, F32, .w_scales = 4, .want = 6},
      {"dw int16", QAT_TFLITE_OP_DEPTHWISE_CONV_2D, I16, I16, I16, .want = 5},
      {"dw 16x8", QAT_TFLITE_OP_DEPTHWISE_CONV_2D, I16, I8, I16, .want = 1},
      /* FULLY_CONNECTED */
      {"fc float", QAT_TFLITE_OP_FULLY_CONNECTED, F32, F32, F32, .want = 1},
      {"fc float, no bias input", QAT_TFLITE_OP_FULLY_CONNECTED, F32, F32, F32, .n_inputs = 2, .want = 6},
      {"fc keep_num_dims", QAT_TFLITE_OP_FULLY_CONNECTED, F32, F32, F32, .keep_num_dims = 1, .want = 5},
      {"fc int8", QAT_TFLITE_OP_FULLY_CONNECTED, I8, I8, I8, .w_scales = 1, .want = 4},
      {"fc int8 per-channel", QAT_TFLITE_OP_FULLY_CONNECTED, I8, I8, I8, .w_scales = 4, .want = 4},
      {"fc int8 no bias input", QAT_TFLITE_OP_FULLY_CONNECTED, I8, I8, I8, .n_inputs = 2, .want = 6},
      {"fc hybrid", QAT_TFLITE_OP_FULLY_CONNECTED, F32, I8, F32, .w_scales = 1, .want = 3},
      {"fc hybrid asymmetric", QAT_TFLITE_OP_FULLY_CONNECTED, F32, I8, F32, .w_scales = 1, .asymmetric = 1,
       .want = 9},
      {"fc hybrid per-channel", QAT_TFLITE_OP_FULLY_CONNECTED, F32, I8, F32, .w_scales = 4, .want = 12},
      {"fc 16x8", QAT_TFLITE_OP_FULLY_CONNECTED, I16, I8, I16, .want = 1},
      {"fc 16x8 int64 bias type", QAT_TFLITE_OP_FULLY_CONNECTED, I16, I8, I16, .bias_type = I64, .want = 11},
      {"fc int16 weights", QAT_TFLITE_OP_FULLY_CONNECTED, I16, I16, I16, .want = 7},
      /* pools, SOFTMAX, MEAN, RELU6, RELU, RESHAPE */
      {"maxpool float", QAT_TFLITE_OP_MAX_POOL_2D, F32, -1, F32, .want = 1},
      {"maxpool int8", QAT_TFLITE_OP_MAX_POOL_2D, I8, -1, I8, .want = 2},
      {"avgpool int16", QAT_TFLITE_OP_AVERAGE_POOL_2D, I16, -1, I16, .want = 3},
      {"softmax float", QAT_TFLITE_OP_SOFTMAX, F32, -1, F32, .want = 1},
      {"softmax int8", QAT_TFLITE_OP_SOFTMAX, I8, -1, I8, .want = 2},
      {"softmax int16", QAT_TFLITE_OP_SOFTMAX, I16, -1, I16, .want = 3},
      {"mean float", QAT_TFLITE_OP_MEAN, F32, I32, F32, .want = 1},
      {"mean int8", QAT_TFLITE_OP_MEAN, I8, I32, I8, .want = 2},
      {"mean int16", QAT_TFLITE_OP_MEAN, I16, I32, I16, .want = 3},
      {"reduce_max float", QAT_TFLITE_OP_REDUCE_MAX, F32, I32, F32, .want = 1},
      {"reduce_max int8", QAT_TFLITE_OP_REDUCE_MAX, I8, I32, I8, .want = 2},
      {"reduce_max int16", QAT_TFLITE_OP_REDUCE_MAX, I16, I32, I16, .want = 3},
      {"relu6 int8", QAT_TFLITE_OP_RELU6, I8, -1, I8, .want = 2},
      {"relu uint8", QAT_TFLITE_OP_RELU, U8, -1, U8, .want = 2},
      {"relu int16", QAT_TFLITE_OP_RELU, I16, -1, I16, .want = 3},
      {"reshape int8", QAT_TFLITE_OP_RESHAPE, I8, I32, I8, .want = 1},
      {"reshape int16", QAT_TFLITE_OP_RESHAPE, I16, I32, I16, .want = 1},
      /* ADD */
      {"add float", QAT_TFLITE_OP_ADD, F32, F32, F32, .want = 1},
      {"add int8", QAT_TFLITE_OP_ADD, I8, I8, I8, .in0_quant = 1, .want = 2},
      {"add int16 pot", QAT_TFLITE_OP_ADD, I16, I16, I16, .in0_quant = 1, .want = 1},
      {"add int16 general scale", QAT_TFLITE_OP_ADD, I16, I16, I16, .in0_quant = 1, .pot_false = 1, .want = 3},
      {"add int16 not quantized", QAT_TFLITE_OP_ADD, I16, I16, I16, .want = 5},
      {"add int64", QAT_TFLITE_OP_ADD, I64, I64, I64, .want = 4},
      {"add float16", QAT_TFLITE_OP_ADD, F16, F16, F16, .want = 6},
      /* QUANTIZE, DEQUANTIZE */
      {"quantize to int8", QAT_TFLITE_OP_QUANTIZE, F32, -1, I8, .out_scales = 1, .want = 1},
      {"requantize int8", QAT_TFLITE_OP_QUANTIZE, I8, -1, I8, .out_scales = 1, .want = 1},
      {"quantize to int16", QAT_TFLITE_OP_QUANTIZE, F32, -1, I16, .out_scales = 1, .want = 2},
      {"quantize per-channel", QAT_TFLITE_OP_QUANTIZE, F32, -1, I8, .out_scales = 4, .want = 3},
      {"dequantize int8", QAT_TFLITE_OP_DEQUANTIZE, I8, -1, F32, .in0_scales = 1, .want = 2},
      {"dequantize int8 per-channel", QAT_TFLITE_OP_DEQUANTIZE, I8, -1, F32, .in0_scales = 4, .want = 5},
      {"dequantize int16", QAT_TFLITE_OP_DEQUANTIZE, I16, -1, F32, .in0_scales = 1, .want = 3},
      {"dequantize float16", QAT_TFLITE_OP_DEQUANTIZE, F16, -1, F32, .want = 3},
      {"dequantize uint8", QAT_TFLITE_OP_DEQUANTIZE, U8, -1, F32, .in0_scales = 1, .want = 1},
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int v = case_version(&cases[i]);
    if (v != cases[i].want) {
      fprintf(stderr, "%s: version %d, want %d\n", cases[i].what, v, cases[i].want);
      bad++;
    }
  }
  assert_int_equal(bad, 0);
}

static void test_runtime_versions(void **state) {
  (void)state;
  assert_string_equal(qat_tflite_min_runtime(QAT_TFLITE_OP_CONV_2D, 3), "1.14.0");
  assert_string_equal(qat_tflite_min_runtime(QAT_TFLITE_OP_CONV_2D, 1), "1.5.0");
  assert_string_equal(qat_tflite_min_runtime(QAT_TFLITE_OP_MEAN, 1), "1.6.0");
  assert_string_equal(qat_tflite_min_runtime(QAT_TFLITE_OP_REDUCE_MAX, 2), "1.14.0");
  assert_string_equal(qat_tflite_min_runtime(QAT_TFLITE_OP_DEQUANTIZE, 3), "1.15.0");
  assert_string_equal(qat_tflite_min_runtime(QAT_TFLITE_OP_FULLY_CONNECTED, 9), "2.3.0");
  assert_string_equal(qat_tflite_min_runtime(QAT_TFLITE_OP_RELU, 2), "2.1.0");
  assert_null(qat_tflite_min_runtime(QAT_TFLITE_OP_RESHAPE, 2));
  assert_true(qat_tflite_compare_versions("1.14.0", "1.5.0") > 0);
  assert_true(qat_tflite_compare_versions("1.5.0", "1.14.0") < 0);
  assert_true(qat_tflite_compare_versions("2.3.0", "2.3.0") == 0);
  assert_true(qat_tflite_compare_versions("1.14", "1.14.0") < 0);
  assert_true(qat_tflite_compare_versions(NULL, "1.5.0") < 0);
  assert_true(qat_tflite_compare_versions("1.13.1", "1.14.0") < 0);
}

/* ---- models from configs ---- */

/* The model of a config; the config must outlive it (the model's spec.source points into it). */
static qat_model *model_from(const char *yaml, uint64_t seed, qat_config *cfg) {
  if (qat_config_parse(yaml, strlen(yaml), "test.yaml", cfg)) fail_msg("config: %s", qat_error_message());
  qat_model *m = NULL;
  if (qat_model_create(&m, &cfg->model, 2, seed)) fail_msg("model: %s", qat_error_message());
  return m;
}

/* Redraws biases and batch-norm parameters, which initialization leaves trivial. */
static void randomize_stats(qat_model *m, uint64_t seed) {
  qat_rng r;
  qat_rng_seed(&r, seed);
  for (int i = 0; i < m->n_param_list; i++) {
    const qat_param *p = &m->param_list[i];
    const char *s = strrchr(p->name, '/') + 1;
    float lo = -0.3f, hi = 0.3f;
    if (!strcmp(s, "gamma")) lo = 0.4f, hi = 1.6f;
    else if (!strcmp(s, "moving_variance")) lo = 0.2f, hi = 3.0f;
    else if (strcmp(s, "bias") && strcmp(s, "beta") && strcmp(s, "moving_mean")) continue;
    for (int64_t k = 0; k < p->size; k++) p->tensor->data[k] = lo + (hi - lo) * qat_rng_uniform(&r);
  }
}

static const qat_param *param(const qat_model *m, const char *name) {
  const qat_param *p = qat_model_find_param(m, name);
  if (!p) fail_msg("no parameter %s", name);
  return p;
}

static void fill_input(float *x, size_t n, uint64_t seed) {
  qat_rng r;
  qat_rng_seed(&r, seed);
  for (size_t i = 0; i < n; i++) x[i] = 2.0f * qat_rng_uniform(&r) - 1.0f;
}

/* The unfolded model (layer, BatchNormalization, Flatten) against the folded one (layer with
 * folded weights, Flatten) in qat's inference forward. */
static void check_fold(const char *with_bn, const char *without_bn, const char *layer, const char *kernel,
                       qat_fold_layout layout) {
  qat_config ca, cb;
  qat_model *a = model_from(with_bn, 3, &ca), *b = model_from(without_bn, 3, &cb);
  randomize_stats(a, 11);
  char name[256];
  snprintf(name, sizeof name, "%s/%s", layer, kernel);
  const qat_param *wa = param(a, name), *wb = param(b, name);
  snprintf(name, sizeof name, "%s/bias", layer);
  const qat_param *ba = param(a, name), *bb = param(b, name);
  int channels = (int)ba->size;
  assert_int_equal(qat_fold_batch_norm(wa->tensor->data, ba->tensor->data, wa->size, channels, layout,
                                       param(a, "bn/gamma")->tensor->data, param(a, "bn/beta")->tensor->data,
                                       param(a, "bn/moving_mean")->tensor->data,
                                       param(a, "bn/moving_variance")->tensor->data, 1e-3f, wb->tensor->data,
                                       bb->tensor->data),
                   0);
  size_t in = (size_t)a->spec.input_shape[0] * a->spec.input_shape[1] * a->spec.input_shape[2];
  float *x = malloc(2 * in * sizeof *x);
  assert_non_null(x);
  fill_input(x, 2 * in, 5);
  qat_exec ex;
  memset(&ex, 0, sizeof ex);
  qat_model_forward(a, x, 2, &ex);
  qat_model_forward(b, x, 2, &ex);
  int64_t n = qat_tensor_size(a->logits);
  assert_int_equal(n, qat_tensor_size(b->logits));
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < n; i++) {
    double r = a->logits->data[i], d = (double)b->logits->data[i] - r;
    if (fabs(r) > max_ref) max_ref = fabs(r);
    if (fabs(d) > max_diff) max_diff = fabs(d);
  }
  if (!(max_diff <= 1e-5 * max_ref)) fail_msg("%s: folded differs by %g (max |ref| %g)", layer, max_diff, max_ref);
  assert_true(max_ref > 0.1); /* the batch norm did something visible */
  /* In place gives the same bits. */
  float *w = malloc((size_t)wa->size * sizeof *w), *bias = malloc((size_t)channels * sizeof *bias);
  assert_non_null(w);
  assert_non_null(bias);
  memcpy(w, wa->tensor->data, (size_t)wa->size * sizeof *w);
  memcpy(bias, ba->tensor->data, (size_t)channels * sizeof *bias);
  assert_int_equal(qat_fold_batch_norm(w, bias, wa->size, channels, layout, param(a, "bn/gamma")->tensor->data,
                                       param(a, "bn/beta")->tensor->data, param(a, "bn/moving_mean")->tensor->data,
                                       param(a, "bn/moving_variance")->tensor->data, 1e-3f, w, bias),
                   0);
  assert_memory_equal(w, wb->tensor->data, (size_t)wa->size * sizeof *w);
  assert_memory_equal(bias, bb->tensor->data, (size_t)channels * sizeof *bias);
  free(w);
  free(bias);
  free(x);
  qat_model_free(a);
  qat_model_free(b);
  qat_config_free(&ca);
  qat_config_free(&cb);
}

static void test_fold_conv(void **state) {
  (void)state;
  check_fold("model:\n  input: [7, 6, 3]\n  layers:\n"
             "    - Conv2D: {name: c, filters: 5, kernel_size: 3, strides: 2, padding: same}\n"
             "    - BatchNormalization: {name: bn}\n    - Flatten: {}\n",
             "model:\n  input: [7, 6, 3]\n  layers:\n"
             "    - Conv2D: {name: c, filters: 5, kernel_size: 3, strides: 2, padding: same}\n"
             "    - Flatten: {}\n",
             "c", "kernel", QAT_FOLD_CHANNEL_FIRST);
}

static void test_fold_depthwise(void **state) {
  (void)state;
  check_fold("model:\n  input: [6, 6, 3]\n  layers:\n"
             "    - DepthwiseConv2D: {name: d, kernel_size: 3, depth_multiplier: 2}\n"
             "    - BatchNormalization: {name: bn}\n    - Flatten: {}\n",
             "model:\n  input: [6, 6, 3]\n  layers:\n"
             "    - DepthwiseConv2D: {name: d, kernel_size: 3, depth_multiplier: 2}\n    - Flatten: {}\n",
             "d", "depthwise_kernel", QAT_FOLD_CHANNEL_LAST);
}

static void test_fold_dense(void **state) {
  (void)state;
  check_fold("model:\n  input: [2, 3, 2]\n  layers:\n    - Flatten: {}\n"
             "    - Dense: {name: f, units: 7}\n    - BatchNormalization: {name: bn}\n",
             "model:\n  input: [2, 3, 2]\n  layers:\n    - Flatten: {}\n    - Dense: {name: f, units: 7}\n",
             "f", "kernel", QAT_FOLD_CHANNEL_FIRST);
}

static void test_fold_errors(void **state) {
  (void)state;
  float w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {0, 0}, g[2] = {1, 1}, z[2] = {0, 0}, v[2] = {1, -1};
  float w0[6];
  memcpy(w0, w, sizeof w);
  /* var + eps <= 0 in channel 1: refused, and nothing written even in place. */
  assert_int_equal(qat_fold_batch_norm(w, b, 6, 2, QAT_FOLD_CHANNEL_FIRST, g, z, z, v, 1e-3f, w, b), QAT_ERR_FORMAT);
  assert_memory_equal(w, w0, sizeof w);
  assert_non_null(strstr(qat_error_message(), "channel 1"));
  v[1] = 1;
  assert_int_not_equal(qat_fold_batch_norm(w, b, 5, 2, QAT_FOLD_CHANNEL_FIRST, g, z, z, v, 1e-3f, w, b), 0);
  /* No bias: treated as zeros. Channel-last layout: channel = index % channels. */
  float wo[6], bo[2], mean[2] = {1, -1};
  assert_int_equal(qat_fold_batch_norm(w, NULL, 6, 2, QAT_FOLD_CHANNEL_LAST, g, z, mean, v, 0.0f, wo, bo), 0);
  assert_true(wo[0] == 1 && wo[1] == 2 && bo[0] == -1 && bo[1] == 1);
}

/* ---- lowering ---- */

static int find_op(const qat_tflite_model *t, qat_tflite_op op, int nth) {
  for (int k = 0; k < t->n_ops; k++)
    if (t->ops[k].op == op && nth-- == 0) return k;
  return -1;
}

static void test_lower_graph(void **state) {
  (void)state;
  /* conv -> dropout -> BN -> relu6 (one CONV_2D, folded, RELU6 fused through the dropout);
   * pool; depthwise relu; 3-input add with a ReLU fused into the last ADD; GAP; a ReLU whose
   * input has two readers stays an op; dense softmax. */
  qat_config cfg;
  qat_model *m = model_from("model:\n  input: [8, 8, 2]\n  layers:\n"
                            "    - Conv2D: {name: c, filters: 4, kernel_size: 3, padding: same, use_bias: false}\n"
                            "    - Dropout: {name: d, rate: 0.5}\n"
                            "    - BatchNormalization: {name: bn}\n"
                            "    - ReLU: {name: r6, max_value: 6}\n"
                            "    - AveragePooling2D: {name: p, pool_size: 2}\n"
                            "    - DepthwiseConv2D: {name: dw, kernel_size: 3, padding: same, activation: relu}\n"
                            "    - Conv2D: {name: pw, filters: 4, kernel_size: 1}\n"
                            "    - Add: {name: a, inputs: [p, dw, pw]}\n"
                            "    - ReLU: {name: ar}\n"
                            "    - ReLU: {name: twice, inputs: [p]}\n"
                            "    - Add: {name: a2, inputs: [ar, twice]}\n"
                            "    - GlobalAveragePooling2D: {name: gap}\n"
                            "    - Dense: {name: out, units: 3, activation: softmax}\n",
                            1, &cfg);
  randomize_stats(m, 2);
  qat_tflite_model t;
  assert_int_equal(qat_export_float32(m, &t), 0);
  static const qat_tflite_op want[] = {
      QAT_TFLITE_OP_CONV_2D, QAT_TFLITE_OP_AVERAGE_POOL_2D, QAT_TFLITE_OP_DEPTHWISE_CONV_2D, QAT_TFLITE_OP_CONV_2D,
      QAT_TFLITE_OP_ADD,     QAT_TFLITE_OP_ADD,             QAT_TFLITE_OP_RELU,              QAT_TFLITE_OP_ADD,
      QAT_TFLITE_OP_MEAN,    QAT_TFLITE_OP_FULLY_CONNECTED, QAT_TFLITE_OP_SOFTMAX};
  assert_int_equal(t.n_ops, (int)(sizeof want / sizeof want[0]));
  for (int k = 0; k < t.n_ops; k++) assert_int_equal(t.ops[k].op, want[k]);
  const qat_tflite_operator *conv = &t.ops[0];
  assert_int_equal(conv->opt.activation, QAT_TFLITE_ACT_RELU6);
  assert_int_equal(conv->opt.padding, QAT_TFLITE_PADDING_SAME);
  assert_string_equal(t.tensors[conv->inputs[1]].name, "c/kernel_folded");
  assert_string_equal(t.tensors[conv->outputs[0]].name, "r6");
  /* The folded constants are what qat_fold_batch_norm gives. */
  const qat_param *k = param(m, "c/kernel");
  float *w = malloc((size_t)k->size * sizeof *w), bias[4];
  assert_non_null(w);
  assert_int_equal(qat_fold_batch_norm(k->tensor->data, NULL, k->size, 4, QAT_FOLD_CHANNEL_FIRST,
                                       param(m, "bn/gamma")->tensor->data, param(m, "bn/beta")->tensor->data,
                                       param(m, "bn/moving_mean")->tensor->data,
                                       param(m, "bn/moving_variance")->tensor->data, 1e-3f, w, bias),
                   0);
  assert_memory_equal(t.tensors[conv->inputs[1]].data, w, (size_t)k->size * sizeof *w);
  assert_memory_equal(t.tensors[conv->inputs[2]].data, bias, sizeof bias);
  free(w);
  assert_int_equal(t.ops[2].opt.activation, QAT_TFLITE_ACT_RELU);
  assert_int_equal(t.ops[2].opt.depth_multiplier, 1);
  assert_int_equal(t.ops[3].opt.activation, QAT_TFLITE_ACT_NONE);
  /* pw has use_bias true (default): its bias is its own, not zeros. */
  assert_memory_equal(t.tensors[t.ops[3].inputs[2]].data, param(m, "pw/bias")->tensor->data, 4 * sizeof(float));
  /* The 3-input add: (p + dw) + pw, ReLU fused only into the last; the ReLU reading p (which
   * has other readers) is an op of its own. */
  assert_int_equal(t.ops[4].opt.activation, QAT_TFLITE_ACT_NONE);
  assert_int_equal(t.ops[5].opt.activation, QAT_TFLITE_ACT_RELU);
  assert_int_equal(t.ops[5].inputs[0], t.ops[4].outputs[0]);
  assert_int_equal(t.ops[6].inputs[0], t.ops[1].outputs[0]);
  /* MEAN over axes [1, 2] as an int32 constant, keep_dims false. */
  const qat_tflite_tensor *axes = &t.tensors[t.ops[8].inputs[1]];
  assert_int_equal(axes->type, QAT_TFLITE_INT32);
  assert_memory_equal(axes->data, ((int32_t[]){1, 2}), 8);
  assert_int_equal(t.ops[8].opt.keep_dims, 0);
  const qat_tflite_tensor *gap = &t.tensors[t.ops[8].outputs[0]];
  assert_int_equal(gap->rank, 2);
  assert_int_equal(gap->dims[0], 1);
  assert_int_equal(gap->dims[1], 4);
  /* Dense with softmax: FC without activation, then SOFTMAX beta 1 named after the layer. */
  assert_int_equal(t.ops[9].opt.activation, QAT_TFLITE_ACT_NONE);
  assert_int_equal(t.ops[9].opt.keep_num_dims, 0);
  assert_true(t.ops[10].opt.beta == 1.0f);
  assert_int_equal(t.n_outputs, 1);
  assert_string_equal(t.outputs[0].name, "out");
  assert_int_equal(t.outputs[0].tensor, t.ops[10].outputs[0]);
  assert_string_equal(t.inputs[0].name, "input");
  const qat_tflite_tensor *x = &t.tensors[t.inputs[0].tensor];
  assert_int_equal(x->type, QAT_TFLITE_FLOAT32);
  assert_int_equal(x->rank, 4);
  assert_memory_equal(x->dims, ((int[]){1, 8, 8, 2}), 4 * sizeof(int));
  assert_int_equal(find_op(&t, QAT_TFLITE_OP_RESHAPE, 0), -1);
  uint8_t *p;
  size_t n;
  assert_int_equal(qat_tflite_serialize(&t, &p, &n), 0);
  free(p);
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void test_lower_reshape(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = model_from("model:\n  input: [4, 4, 2]\n  layers:\n"
                            "    - MaxPooling2D: {name: mp, pool_size: 2}\n"
                            "    - Reshape: {name: rs, target_shape: [2, -1]}\n"
                            "    - Flatten: {name: fl}\n"
                            "    - Activation: {name: lin, activation: linear}\n"
                            "    - Dense: {name: out, units: 2}\n",
                            1, &cfg);
  qat_tflite_model t;
  assert_int_equal(qat_export_float32(m, &t), 0);
  assert_int_equal(t.n_ops, 4);
  int r0 = find_op(&t, QAT_TFLITE_OP_RESHAPE, 0), r1 = find_op(&t, QAT_TFLITE_OP_RESHAPE, 1);
  assert_true(r0 == 1 && r1 == 2);
  const qat_tflite_tensor *s0 = &t.tensors[t.ops[r0].inputs[1]], *s1 = &t.tensors[t.ops[r1].inputs[1]];
  /* a 2-D target is a sequence [2, 4], held as the [1, 2, 4] the 1-D layers run on */
  assert_memory_equal(s0->data, ((int32_t[]){-1, 1, 2, 4}), 16);
  assert_memory_equal(s1->data, ((int32_t[]){-1, 8}), 8);
  assert_int_equal(t.ops[r0].opt.n_new_shape, 0);
  const qat_tflite_tensor *o = &t.tensors[t.ops[r0].outputs[0]];
  assert_int_equal(o->rank, 4);
  assert_memory_equal(o->dims, ((int[]){1, 1, 2, 4}), 4 * sizeof(int));
  /* The linear Activation vanished: the FC reads the flatten. */
  assert_int_equal(t.ops[3].inputs[0], t.ops[r1].outputs[0]);
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
}

/* Fusions that interleave in layer order: pa_relu (fused into pa) lies between pb and the
 * batch norm folded into pb; each layer must keep its own operator's tensor. */
static void test_lower_interleaved(void **state) {
  (void)state;
  qat_config cfg;
  qat_model *m = model_from("model:\n  input: [5, 5, 2]\n  layers:\n"
                            "    - MaxPooling2D: {name: x0, pool_size: 1}\n"
                            "    - Conv2D: {name: pa, filters: 3, kernel_size: 1, inputs: [x0]}\n"
                            "    - Conv2D: {name: pb, filters: 3, kernel_size: 1, inputs: [x0]}\n"
                            "    - ReLU: {name: pa_relu, inputs: [pa]}\n"
                            "    - BatchNormalization: {name: pb_bn, inputs: [pb]}\n"
                            "    - Add: {name: join, inputs: [pa_relu, pb_bn]}\n"
                            "    - Flatten: {}\n",
                            1, &cfg);
  qat_tflite_model t;
  assert_int_equal(qat_export_float32(m, &t), 0);
  assert_int_equal(t.n_ops, 5); /* MAX_POOL, CONV pa (relu), CONV pb (folded), ADD, RESHAPE */
  assert_int_equal(t.ops[1].opt.activation, QAT_TFLITE_ACT_RELU);
  assert_int_equal(t.ops[2].opt.activation, QAT_TFLITE_ACT_NONE);
  assert_string_equal(t.tensors[t.ops[2].inputs[1]].name, "pb/kernel_folded");
  assert_int_equal(t.ops[3].op, QAT_TFLITE_OP_ADD);
  assert_int_equal(t.ops[3].inputs[0], t.ops[1].outputs[0]);
  assert_int_equal(t.ops[3].inputs[1], t.ops[2].outputs[0]);
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void expect_unfoldable(const char *yaml, const char *want1, const char *want2) {
  qat_config cfg;
  qat_model *m = model_from(yaml, 1, &cfg);
  qat_tflite_model t;
  int rc = qat_export_float32(m, &t);
  assert_int_equal(rc, QAT_ERR_UNSUPPORTED);
  const char *msg = qat_error_message();
  if (!strstr(msg, want1) || !strstr(msg, want2)) fail_msg("unexpected message: %s", msg);
  assert_int_equal(t.n_tensors, 0); /* freed on error */
  assert_null(t.tensors);
  qat_tflite_model_free(&t);
  qat_model_free(m);
  qat_config_free(&cfg);
}

static void test_lower_unfoldable_bn(void **state) {
  (void)state;
  expect_unfoldable("model:\n  input: [6, 6, 1]\n  layers:\n"
                    "    - Conv2D: {name: c, filters: 2, kernel_size: 3, activation: relu}\n"
                    "    - BatchNormalization: {name: bn}\n    - Flatten: {}\n",
                    "layer 'bn' (BatchNormalization)", "applies activation 'relu'");
  expect_unfoldable("model:\n  input: [6, 6, 1]\n  layers:\n"
                    "    - MaxPooling2D: {name: mp}\n"
                    "    - BatchNormalization: {name: bn}\n    - Flatten: {}\n",
                    "layer 'bn' (BatchNormalization)", "'mp' is a MaxPooling2D");
  expect_unfoldable("model:\n  input: [6, 6, 1]\n  layers:\n"
                    "    - Conv2D: {name: c, filters: 2, kernel_size: 3}\n"
                    "    - BatchNormalization: {name: bn}\n"
                    "    - Add: {name: a, inputs: [c, bn]}\n    - Flatten: {}\n",
                    "layer 'bn' (BatchNormalization)", "also read by 1 other consumer");
  expect_unfoldable("model:\n  input: [6, 6, 1]\n  layers:\n"
                    "    - BatchNormalization: {name: bn}\n    - Flatten: {}\n",
                    "layer 'bn'", "reads the model input");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_writer_bytes),
      cmocka_unit_test(test_writer_quantization),
      cmocka_unit_test(test_deterministic_and_atomic),
      cmocka_unit_test(test_validate_errors),
      cmocka_unit_test(test_op_versions),
      cmocka_unit_test(test_write_reduce_max),
      cmocka_unit_test(test_runtime_versions),
      cmocka_unit_test(test_fold_conv),
      cmocka_unit_test(test_fold_depthwise),
      cmocka_unit_test(test_fold_dense),
      cmocka_unit_test(test_fold_errors),
      cmocka_unit_test(test_lower_graph),
      cmocka_unit_test(test_lower_reshape),
      cmocka_unit_test(test_lower_interleaved),
      cmocka_unit_test(test_lower_unfoldable_bn),
  };
  return cmocka_run_group_tests_name("tflite", tests, make_tmpdir, remove_tmpdir);
}
