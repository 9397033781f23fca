/* Tests of the float16 and dynamic-range lowerings (export/lower_float16.c, lower_dynamic.c,
 * half.c) on hand-built float32 graphs:
 *   - qat_float_to_half against hand-computed binary16 encodings (ties to even, subnormals,
 *     overflow, NaN, signed zero) and a round trip of every half through the runtime's
 *     rt_half_to_float;
 *   - float16: each float constant becomes a FLOAT16 constant + DEQUANTIZE (first in the graph)
 *     into the float32 tensor of the same index; int32 constants and activations untouched;
 *   - dynamic: CONV_2D weights per channel along 0 with scales max|w_c| / 127 and the values
 *     round(w / s), DEPTHWISE_CONV_2D along 3, FULLY_CONNECTED per tensor with
 *     asymmetric_quantize_inputs; 1022-element weights stay float, 1024 are quantized; op
 *     versions 5 / 6 / 9 as the converter writes them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qat/export.h"
#include "qat/tflite.h"
#include "runtime/rt_internal.h"

static void test_float_to_half(void **state) {
  (void)state;
  struct {
    float f;
    uint16_t h;
  } cases[] = {
      {1.0f, 0x3C00},
      {-2.0f, 0xC000},
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {65504.0f, 0x7BFF},                 /* largest half */
      {65519.99f, 0x7BFF},                /* below the tie */
      {65520.0f, 0x7C00},                 /* the tie rounds to even: infinity */
      {1e10f, 0x7C00},
      {-INFINITY, 0xFC00},
      {0x1p-14f, 0x0400},                 /* smallest normal */
      {0x1p-24f, 0x0001},                 /* smallest subnormal */
      {0x1p-25f, 0x0000},                 /* half of it: tie to even 0 */
      {0x3p-25f, 0x0002},                 /* 1.5 units: tie to even 2 */
      {0x1.8p-24f, 0x0002},               /* the same value */
      {0x1.002p0f, 0x3C00},               /* 1 + 2^-11, a tie: even 1.0 */
      {0x1.006p0f, 0x3C02},               /* 1 + 3 * 2^-11, a tie: even 0x3C02 */
      {0x1.0021p0f, 0x3C01},              /* just above a tie: up */
      {0x1.ffcp-15f, 0x0400},             /* rounds up into the smallest normal */
      {0.1f, 0x2E66},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    uint16_t got = qat_float_to_half(cases[k].f);
    if (got != cases[k].h) fail_msg("half(%a) = 0x%04x, want 0x%04x", (double)cases[k].f, got, cases[k].h);
  }
  uint16_t nan = qat_float_to_half(NAN);
  assert_true((nan & 0x7C00) == 0x7C00 && (nan & 0x03FF) != 0);
  /* Every finite half converts back to itself. */
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7C00) == 0x7C00) continue;
    uint16_t back = qat_float_to_half(rt_half_to_float((uint16_t)h));
    if (back != h) fail_msg("half 0x%04x -> %a -> 0x%04x", h, (double)rt_half_to_float((uint16_t)h), back);
  }
}

static int add_const(qat_tflite_model *m, const char *name, qat_tflite_type type, int rank, const int *dims,
                     const void *data, size_t bytes) {
  int i = -1;
  assert_int_equal(qat_tflite_add_tensor(m, name, type, rank, dims, data, bytes, &i), 0);
  return i;
}

static void add_op3(qat_tflite_model *m, qat_tflite_op code, int x, int w, int b, int y) {
  qat_tflite_operator op;
  qat_tflite_op_init(&op, code);
  op.n_inputs = 3;
  op.inputs[0] = x, op.inputs[1] = w, op.inputs[2] = b;
  op.n_outputs = 1;
  op.outputs[0] = y;
  assert_int_equal(qat_tflite_add_op(m, &op, NULL), 0);
}

/* x [1,4,4,2] -> CONV_2D (6 weights: stays float) -> CONV_2D (1026 weights) -> DEPTHWISE_CONV_2D
 * (3078 weights) -> RESHAPE, and x2 -> FULLY_CONNECTED with fc_in weights. */
static float WBIG[4096];

static void build(qat_tflite_model *m, int fc_in) {
  qat_tflite_model_init(m);
  int x = add_const(m, "x", QAT_TFLITE_FLOAT32, 4, (int[]){1, 4, 4, 2}, NULL, 0);
  /* conv weights: channel c holds {c+1, -(c+1)/2}: max |w| = c + 1 */
  static float cw[6];
  for (int c = 0; c < 3; c++) cw[2 * c] = (float)(c + 1), cw[2 * c + 1] = -(float)(c + 1) / 2;
  static float cb[3] = {0.5f, -0.25f, 1.0f};
  int w1 = add_const(m, "c/w", QAT_TFLITE_FLOAT32, 4, (int[]){3, 1, 1, 2}, cw, sizeof cw);
  int b1 = add_const(m, "c/b", QAT_TFLITE_FLOAT32, 1, (int[]){3}, cb, sizeof cb);
  int y1 = add_const(m, "c", QAT_TFLITE_FLOAT32, 4, (int[]){1, 4, 4, 3}, NULL, 0);
  add_op3(m, QAT_TFLITE_OP_CONV_2D, x, w1, b1, y1);
  for (int i = 0; i < 4096; i++) WBIG[i] = (float)((i * 37) % 255 - 127) / 64.0f;
  /* 342 channels of 1x1x3: 1026 weights */
  int w2 = add_const(m, "big/w", QAT_TFLITE_FLOAT32, 4, (int[]){342, 1, 1, 3}, WBIG, 1026 * 4);
  int b2 = add_const(m, "big/b", QAT_TFLITE_FLOAT32, 1, (int[]){342}, WBIG, 342 * 4);
  int y2 = add_const(m, "big", QAT_TFLITE_FLOAT32, 4, (int[]){1, 4, 4, 342}, NULL, 0);
  add_op3(m, QAT_TFLITE_OP_CONV_2D, y1, w2, b2, y2);
  /* depthwise 3x3 on 342 channels: 3078 weights */
  int w3 = add_const(m, "dw/w", QAT_TFLITE_FLOAT32, 4, (int[]){1, 3, 3, 342}, WBIG, 3078 * 4);
  int b3 = add_const(m, "dw/b", QAT_TFLITE_FLOAT32, 1, (int[]){342}, WBIG, 342 * 4);
  int y3 = add_const(m, "dw", QAT_TFLITE_FLOAT32, 4, (int[]){1, 2, 2, 342}, NULL, 0);
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_DEPTHWISE_CONV_2D);
  op.n_inputs = 3, op.inputs[0] = y2, op.inputs[1] = w3, op.inputs[2] = b3;
  op.n_outputs = 1, op.outputs[0] = y3;
  op.opt.padding = QAT_TFLITE_PADDING_VALID;
  assert_int_equal(qat_tflite_add_op(m, &op, NULL), 0);
  static int32_t shape[2] = {-1, 1368};
  int s = add_const(m, "flat/shape", QAT_TFLITE_INT32, 1, (int[]){2}, shape, sizeof shape);
  int f = add_const(m, "flat", QAT_TFLITE_FLOAT32, 2, (int[]){1, 1368}, NULL, 0);
  qat_tflite_op_init(&op, QAT_TFLITE_OP_RESHAPE);
  op.n_inputs = 2, op.inputs[0] = y3, op.inputs[1] = s;
  op.n_outputs = 1, op.outputs[0] = f;
  assert_int_equal(qat_tflite_add_op(m, &op, NULL), 0);
  /* FULLY_CONNECTED with fc_in weights: 2 units of fc_in / 2 (one unit would make TFLite's
   * versioning see a per-channel tensor, version 12), on its own input */
  int x2 = add_const(m, "x2", QAT_TFLITE_FLOAT32, 2, (int[]){1, fc_in / 2}, NULL, 0);
  int w4 = add_const(m, "fc/w", QAT_TFLITE_FLOAT32, 2, (int[]){2, fc_in / 2}, WBIG, (size_t)fc_in * 4);
  int b4 = add_const(m, "fc/b", QAT_TFLITE_FLOAT32, 1, (int[]){2}, WBIG, 8);
  int y4 = add_const(m, "fc", QAT_TFLITE_FLOAT32, 2, (int[]){1, 2}, NULL, 0);
  add_op3(m, QAT_TFLITE_OP_FULLY_CONNECTED, x2, w4, b4, y4);
  assert_int_equal(qat_tflite_add_input(m, x, "x"), 0);
  assert_int_equal(qat_tflite_add_input(m, x2, "x2"), 0);
  assert_int_equal(qat_tflite_add_output(m, f, "flat"), 0);
  assert_int_equal(qat_tflite_add_output(m, y4, "fc"), 0);
  assert_int_equal(qat_tflite_validate(m), 0);
}

static void test_float16(void **state) {
  (void)state;
  qat_tflite_model f, h;
  build(&f, 1022);
  assert_int_equal(qat_tflite_to_float16(&f, &h), 0);
  int n_float_consts = 0;
  for (int i = 0; i < f.n_tensors; i++) n_float_consts += f.tensors[i].data && f.tensors[i].type == QAT_TFLITE_FLOAT32;
  assert_int_equal(n_float_consts, 8);
  assert_int_equal(h.n_tensors, f.n_tensors + n_float_consts);
  assert_int_equal(h.n_ops, f.n_ops + n_float_consts);
  for (int k = 0; k < n_float_consts; k++) {
    const qat_tflite_operator *op = &h.ops[k];
    assert_int_equal(op->op, QAT_TFLITE_OP_DEQUANTIZE);
    const qat_tflite_tensor *src = &h.tensors[op->inputs[0]], *dst = &h.tensors[op->outputs[0]];
    const qat_tflite_tensor *orig = &f.tensors[op->outputs[0]];
    assert_int_equal(src->type, QAT_TFLITE_FLOAT16);
    assert_true(dst->type == QAT_TFLITE_FLOAT32 && !dst->data && orig->data);
    assert_string_equal(dst->name, orig->name);
    const uint16_t *hv = src->data;
    const float *fv = orig->data;
    for (size_t i = 0; i < orig->data_bytes / 4; i++) assert_int_equal(hv[i], qat_float_to_half(fv[i]));
    assert_int_equal(qat_tflite_op_version(&h, op), 3);
  }
  for (int k = 0; k < f.n_ops; k++) assert_int_equal(h.ops[n_float_consts + k].op, f.ops[k].op);
  /* the int32 shape stays a constant */
  for (int i = 0; i < h.n_tensors; i++)
    if (h.tensors[i].type == QAT_TFLITE_INT32) assert_non_null(h.tensors[i].data);
  uint8_t *bytes = NULL;
  size_t size = 0;
  assert_int_equal(qat_tflite_serialize(&h, &bytes, &size), 0);
  free(bytes);
  qat_tflite_model_free(&h);
  qat_tflite_model_free(&f);
}

static const qat_tflite_tensor *named(const qat_tflite_model *m, const char *name) {
  for (int i = 0; i < m->n_tensors; i++)
    if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
  return NULL;
}

static void test_dynamic(void **state) {
  (void)state;
  for (int fc_in = 1022; fc_in <= 1024; fc_in += 2) {
    qat_tflite_model f, d;
    build(&f, fc_in);
    assert_int_equal(qat_tflite_to_dynamic(&f, &d), 0);
    /* 6 conv weights: float; biases float */
    assert_int_equal(named(&d, "c/w")->type, QAT_TFLITE_FLOAT32);
    assert_int_equal(named(&d, "c/b")->type, QAT_TFLITE_FLOAT32);
    assert_int_equal(named(&d, "big/b")->type, QAT_TFLITE_FLOAT32);
    /* big conv: per channel along 0, scale max|w_c| / 127, q = round(w / s) */
    const qat_tflite_tensor *w = named(&d, "big/w");
    assert_int_equal(w->type, QAT_TFLITE_INT8);
    assert_int_equal(w->quant.n, 342);
    assert_int_equal(w->quant.quantized_dimension, 0);
    for (int c = 0; c < 342; c++) {
      float mx = 0;
      for (int i = 0; i < 3; i++) mx = fmaxf(mx, fabsf(WBIG[3 * c + i]));
      float s = mx > 0 ? mx / 127.0f : 1.0f;
      assert_true(w->quant.scale[c] == s && w->quant.zero_point[c] == 0);
      for (int i = 0; i < 3; i++)
        assert_int_equal(((const int8_t *)w->data)[3 * c + i], (int)roundf(WBIG[3 * c + i] / s));
    }
    const qat_tflite_tensor *dw = named(&d, "dw/w");
    assert_true(dw->type == QAT_TFLITE_INT8 && dw->quant.n == 342 && dw->quant.quantized_dimension == 3);
    const qat_tflite_tensor *fw = named(&d, "fc/w");
    const qat_tflite_operator *fc = &d.ops[d.n_ops - 1];
    if (fc_in < 1024) {
      assert_int_equal(fw->type, QAT_TFLITE_FLOAT32);
      assert_int_equal(fc->opt.asymmetric_quantize_inputs, 0);
    } else {
      assert_true(fw->type == QAT_TFLITE_INT8 && fw->quant.n == 1);
      assert_int_equal(fc->opt.asymmetric_quantize_inputs, 1);
      assert_int_equal(qat_tflite_op_version(&d, fc), 9);
    }
    assert_int_equal(qat_tflite_op_version(&d, &d.ops[0]), 1); /* float conv stays v1 */
    assert_int_equal(qat_tflite_op_version(&d, &d.ops[1]), 5); /* hybrid per-channel conv */
    assert_int_equal(qat_tflite_op_version(&d, &d.ops[2]), 6); /* hybrid per-channel depthwise */
    assert_int_equal(d.n_ops, f.n_ops);
    qat_tflite_model_free(&d);
    qat_tflite_model_free(&f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_float_to_half),
      cmocka_unit_test(test_float16),
      cmocka_unit_test(test_dynamic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
