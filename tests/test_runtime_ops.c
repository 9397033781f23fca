/* runtime/ops added for the converter's files (issue 15/16): each operator through the
 * interpreter on small models built with tests/support/tflite_builder, against values computed
 * by hand (in the comments: the real-valued result, then TFLite's integer arithmetic where it
 * decides a rounding). tests/interop/test_runtime_litert.py compares the same operators with
 * BUILTIN_REF on random models. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qat/error.h"
#include "qat/runtime.h"
#include "runtime/rt_op.h"
#include "tests/support/tflite_builder.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static qat_rt_model *load_built(const tb_model *tm) {
  size_t len = 0;
  uint8_t *buf = tb_build(tm, &len);
  assert_non_null(buf);
  qat_rt_model *m = NULL;
  const int rc = qat_rt_model_load_buffer(buf, len, "built.tflite", NULL, &m);
  free(buf);
  if (rc) fail_msg("load: %s", qat_error_message());
  return m;
}

static void expect_refused(const tb_model *tm, int status, const char *want) {
  size_t len = 0;
  uint8_t *buf = tb_build(tm, &len);
  assert_non_null(buf);
  qat_rt_model *m = NULL;
  const int rc = qat_rt_model_load_buffer(buf, len, "bad.tflite", NULL, &m);
  free(buf);
  if (rc != status || !strstr(qat_error_message(), want))
    fail_msg("expected status %d with '%s', got %d: %s", status, want, rc,
             rc ? qat_error_message() : "(loaded)");
  assert_null(m);
}

/* Sets every input (in order), invokes, returns output 0. */
static const void *run(qat_rt_model *m, int n, const void *const *in) {
  for (int i = 0; i < n; i++) {
    qat_rt_tensor_info info;
    assert_int_equal(qat_rt_tensor(m, qat_rt_input(m, i), &info), 0);
    memcpy(qat_rt_tensor_data(m, qat_rt_input(m, i)), in[i], info.bytes);
  }
  if (qat_rt_invoke(m)) fail_msg("invoke: %s", qat_error_message());
  return qat_rt_tensor_data(m, qat_rt_output(m, 0));
}

static void io(tb_model *tm, int n_in, const int *in, int out) {
  tm->n_in = n_in;
  for (int i = 0; i < n_in; i++) tm->in[i] = in[i];
  tm->n_out = 1;
  tm->out[0] = out;
}

static void assert_i8(const int8_t *got, const int8_t *want, int n) {
  for (int i = 0; i < n; i++)
    if (got[i] != want[i]) fail_msg("element %d: got %d, want %d", i, got[i], want[i]);
}
static void assert_f32(const float *got, const float *want, int n) {
  for (int i = 0; i < n; i++)
    if (!(got[i] == want[i])) fail_msg("element %d: got %.9g, want %.9g", i, got[i], want[i]);
}

/* A one-op model: inputs x (and x2), output y, of one type. */
static tb_model *binary_model(int code, int type, int ra, const int32_t *da, int rb,
                              const int32_t *db, int ro, const int32_t *dout) {
  tb_model *tm = calloc(1, sizeof *tm);
  const int x = tb_tensor_add(tm, "x", type, ra, da, NULL, 0);
  const int x2 = tb_tensor_add(tm, "x2", type, rb, db, NULL, 0);
  const int y = tb_tensor_add(tm, "y", type, ro, dout, NULL, 0);
  tb_op_add(tm, code, 2, (int32_t[]){x, x2}, 1, (int32_t[]){y});
  io(tm, 2, (int[]){x, x2}, y);
  return tm;
}

/* ---- MUL, SUB, MAXIMUM, MINIMUM -------------------------------------------------------------- */

static void test_mul(void **state) {
  (void)state;
  /* float32, [2, 1] x [1, 3] broadcast to [2, 3], RELU6. */
  const int32_t d21[2] = {2, 1}, d13[2] = {1, 3}, d23[2] = {2, 3};
  tb_model *tm = binary_model(QAT_RT_OP_MUL, F32, 2, d21, 2, d13, 2, d23);
  tm->ops[0].act = 3;
  qat_rt_model *m = load_built(tm);
  const float a[2] = {2.0f, -1.5f}, b[3] = {0.5f, 4.0f, -1.0f};
  const float want[6] = {1.0f, 6.0f, 0.0f, 0.0f, 0.0f, 1.5f}; /* 8 and -6 clamp to 6 and 0 */
  assert_f32(run(m, 2, (const void *[]){a, b}), want, 6);
  qat_rt_model_free(m);
  free(tm);
  /* int8: s1 0.5 (zp 2), s2 0.25 (zp -2), out 0.125 (zp 3): the multiplier is exactly 1.
   * (10-2)*0.5 * (-6+2)*0.25 = -4 -> -32 + 3 = -29; (127-2)*0.5 * (125+2)*0.25 = 1984.4 -> 127;
   * (3-2)*0.5 * (1+2)*0.25 = 0.375 -> 3 + 3 = 6. */
  const int32_t d3[1] = {3};
  tm = binary_model(QAT_RT_OP_MUL, I8, 1, d3, 1, d3, 1, d3);
  tb_quant1(tm, 0, 0.5f, 2);
  tb_quant1(tm, 1, 0.25f, -2);
  tb_quant1(tm, 2, 0.125f, 3);
  tm->ops[0].version = 2;
  m = load_built(tm);
  const int8_t x[3] = {10, 127, 3}, y[3] = {-6, 125, 1}, w8[3] = {-29, 127, 6};
  assert_i8(run(m, 2, (const void *[]){x, y}), w8, 3);
  qat_rt_model_free(m);
  /* int16 needs zero points 0. */
  tm->t[0].type = tm->t[1].type = tm->t[2].type = I16;
  expect_refused(tm, QAT_ERR_FORMAT, "zero point");
  tm->t[0].zps[0] = tm->t[1].zps[0] = tm->t[2].zps[0] = 0;
  m = load_built(tm);
  /* 1000 * 0.5 * -300 * 0.25 / 0.125 = -300000 -> -32768; 40 * 0.5 * 8 * 0.25 / 0.125 = 320;
   * -2 * 0.5 * -2 * 0.25 / 0.125 = 4 */
  const int16_t x16[3] = {1000, 40, -2}, y16[3] = {-300, 8, -2}, w16[3] = {-32768, 320, 4};
  const int16_t *g16 = run(m, 2, (const void *[]){x16, y16});
  for (int i = 0; i < 3; i++) assert_int_equal(g16[i], w16[i]);
  qat_rt_model_free(m);
  free(tm);
}

static void test_sub_max_min(void **state) {
  (void)state;
  /* SUB int8 with add.cc's rescaling: s1 1.0, s2 0.5, out 1.0, zero points 0:
   * 10 - 4 * 0.5 = 8; -7 - (-6) * 0.5 = -4; 100 - (-100) * 0.5 = 150 -> 127. */
  const int32_t d3[1] = {3};
  tb_model *tm = binary_model(QAT_RT_OP_SUB, I8, 1, d3, 1, d3, 1, d3);
  tb_quant1(tm, 0, 1.0f, 0);
  tb_quant1(tm, 1, 0.5f, 0);
  tb_quant1(tm, 2, 1.0f, 0);
  tm->ops[0].version = 2;
  qat_rt_model *m = load_built(tm);
  const int8_t a[3] = {10, -7, 100}, b[3] = {4, -6, -100}, want[3] = {8, -4, 127};
  assert_i8(run(m, 2, (const void *[]){a, b}), want, 3);
  qat_rt_model_free(m);
  free(tm);
  /* float SUB with a scalar-like [1] second input, RELU. */
  const int32_t d1[1] = {1};
  tm = binary_model(QAT_RT_OP_SUB, F32, 1, d3, 1, d1, 1, d3);
  tm->ops[0].act = 1;
  m = load_built(tm);
  const float fa[3] = {1.0f, 2.5f, -3.0f}, fb[1] = {2.0f}, fw[3] = {0.0f, 0.5f, 0.0f};
  assert_f32(run(m, 2, (const void *[]){fa, fb}), fw, 3);
  qat_rt_model_free(m);
  free(tm);
  /* MAXIMUM / MINIMUM, int8 with one quantization, broadcast [2, 2] with [2]. */
  const int32_t d22[2] = {2, 2}, d2[1] = {2};
  for (int mx = 0; mx < 2; mx++) {
    tm = binary_model(mx ? QAT_RT_OP_MAXIMUM : QAT_RT_OP_MINIMUM, I8, 2, d22, 1, d2, 2, d22);
    for (int t = 0; t < 3; t++) tb_quant1(tm, t, 0.1f, -5);
    tm->ops[0].version = 2;
    m = load_built(tm);
    const int8_t x[4] = {-128, 50, 7, -3}, y[2] = {0, 10};
    const int8_t wmax[4] = {0, 50, 7, 10}, wmin[4] = {-128, 10, 0, -3};
    assert_i8(run(m, 2, (const void *[]){x, y}), mx ? wmax : wmin, 4);
    qat_rt_model_free(m);
    tm->t[2].scales[0] = 0.2f; /* the kernel compares stored values: no rescaling */
    expect_refused(tm, QAT_ERR_UNSUPPORTED, "do not rescale");
    free(tm);
  }
}

/* ---- LESS, SELECT_V2 (a ReLU's threshold) ------------------------------------------------------- */

static void test_less_select(void **state) {
  (void)state;
  /* LESS int8 as comparisons.cc ComparisonQuantized: scale 1/1024 (multiplier 2^30, shift -9),
   * each side (q - zp) * 256 -> SRDHM -> q * 128 -> RoundingDivideByPOT 9 -> round(q / 4), half
   * away from zero. The threshold 10 scales to round(2.5) = 3; x = 8..16 scale to 2 2 3 3 3 3 4 4 4:
   * only 14, 15, 16 lie above it, though 11..13 are larger than 10. */
  const int32_t d1[1] = {1}, d9[1] = {9}, d3[1] = {3};
  tb_model *tm = calloc(1, sizeof *tm);
  int t = tb_tensor_add(tm, "t", I8, 1, d1, NULL, 0), x = tb_tensor_add(tm, "x", I8, 1, d9, NULL, 0);
  int y = tb_tensor_add(tm, "y", QAT_TFLITE_TYPE_BOOL, 1, d9, NULL, 0);
  tb_op_add(tm, QAT_RT_OP_LESS, 2, (int32_t[]){t, x}, 1, (int32_t[]){y});
  io(tm, 2, (int[]){t, x}, y);
  tb_quant1(tm, t, 1.0f / 1024.0f, 0);
  tb_quant1(tm, x, 1.0f / 1024.0f, 0);
  tm->ops[0].version = 2;
  qat_rt_model *m = load_built(tm);
  const int8_t tv[1] = {10}, xv[9] = {8, 9, 10, 11, 12, 13, 14, 15, 16};
  const uint8_t want8[9] = {0, 0, 0, 0, 0, 0, 1, 1, 1};
  assert_memory_equal(run(m, 2, (const void *[]){tv, xv}), want8, 9);
  qat_rt_model_free(m);
  tm->t[t].scales[0] = tm->t[x].scales[0] = 1.5f; /* SmallerThanOneExp would shift left: refused */
  expect_refused(tm, QAT_ERR_UNSUPPORTED, "scale in (0, 1)");
  free(tm);
  /* float32 and int16 compare as stored (int16: no scaling at all, version 3) */
  for (int i16 = 0; i16 < 2; i16++) {
    tm = binary_model(QAT_RT_OP_LESS, i16 ? QAT_TFLITE_TYPE_INT16 : F32, 1, d1, 1, d3, 1, d3);
    tm->t[2].type = QAT_TFLITE_TYPE_BOOL;
    if (i16) {
      for (int k = 0; k < 2; k++) tb_quant1(tm, k, 1.0f / 1024.0f, 0);
      tm->ops[0].version = 3;
    }
    m = load_built(tm);
    const float ft[1] = {0.5f}, fx[3] = {0.4f, 0.5f, 0.6f};
    const int16_t st[1] = {10}, sx[3] = {9, 10, 11};
    const uint8_t want[3] = {0, 0, 1};
    assert_memory_equal(run(m, 2, i16 ? (const void *[]){st, sx} : (const void *[]){ft, fx}), want, 3);
    qat_rt_model_free(m);
    free(tm);
  }
  /* SELECT_V2: condition [3], x [3], y [1] broadcast; int8 values copied as stored */
  tm = calloc(1, sizeof *tm);
  int c = tb_tensor_add(tm, "c", QAT_TFLITE_TYPE_BOOL, 1, d3, NULL, 0);
  x = tb_tensor_add(tm, "x", I8, 1, d3, NULL, 0);
  int z = tb_tensor_add(tm, "z", I8, 1, d1, NULL, 0);
  y = tb_tensor_add(tm, "y", I8, 1, d3, NULL, 0);
  for (int k = 1; k < 4; k++) tb_quant1(tm, k, 0.1f, -2);
  tb_op_add(tm, QAT_RT_OP_SELECT_V2, 3, (int32_t[]){c, x, z}, 1, (int32_t[]){y});
  io(tm, 3, (int[]){c, x, z}, y);
  m = load_built(tm);
  const uint8_t cv[3] = {1, 0, 1};
  const int8_t sv[3] = {5, 6, 7}, zv[1] = {-2}, wsel[3] = {5, -2, 7};
  assert_i8(run(m, 3, (const void *[]){cv, sv, zv}), wsel, 3);
  qat_rt_model_free(m);
  tm->t[c].type = I8; /* the condition must be BOOL */
  expect_refused(tm, QAT_ERR_UNSUPPORTED, "BOOL condition");
  free(tm);
}

/* ---- activations ------------------------------------------------------------------------------- */

static tb_model *unary_model(int code, int type, int rank, const int32_t *d) {
  tb_model *tm = calloc(1, sizeof *tm);
  const int x = tb_tensor_add(tm, "x", type, rank, d, NULL, 0);
  const int y = tb_tensor_add(tm, "y", type, rank, d, NULL, 0);
  tb_op_add(tm, code, 1, (int32_t[]){x}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){x}, y);
  return tm;
}

static void test_hard_swish(void **state) {
  (void)state;
  const int32_t d[1] = {5};
  tb_model *tm = unary_model(QAT_RT_OP_HARD_SWISH, F32, 1, d);
  qat_rt_model *m = load_built(tm);
  /* x * min(6, max(0, x + 3)) / 6 */
  const float x[5] = {-4.0f, -3.0f, 1.0f, 3.0f, 10.0f};
  const float want[5] = {-0.0f, -0.0f, 4.0f / 6.0f, 3.0f, 10.0f};
  assert_f32(run(m, 1, (const void *[]){x}), want, 5);
  qat_rt_model_free(m);
  free(tm);
  /* int8, input and output scale 0.05, zero point 0. HardSwishPrepare: output multiplier
   * 2^-7 -> Q15 16384, exponent -6; relu-ish 0.05 * 256 / 3 -> Q31 1145324612, exponent 3,
   * Q15 17476. q = 20 (x = 1.0): hires 2560, preshift (2560 * 16384 + 2^14) >> 15 = 1280;
   * relu-ish 2560 << 2 = 10240, (10240 * 17476 + 2^14) / 2^15 = 5461, << 1 = 10922, to [0, 1]:
   * (10922 + 32768) >> 1 = 21845; 21845 * 1280 / 2^15 = 853; 853 / 2^6 rounded = 13
   * (float: 0.667 / 0.05 = 13.3). q = 60 (x = 3): relu-ish saturates at 32767,
   * 32767 * 3839... = 3839, / 64 -> 60. q = -60: relu-ish -32768 -> 0 -> 0. */
  tm = unary_model(QAT_RT_OP_HARD_SWISH, I8, 1, d);
  tb_quant1(tm, 0, 0.05f, 0);
  tb_quant1(tm, 1, 0.05f, 0);
  m = load_built(tm);
  const int8_t q[5] = {20, 60, -60, 0, 127}, wq[5] = {13, 60, 0, 0, 127};
  assert_i8(run(m, 1, (const void *[]){q}), wq, 5);
  qat_rt_model_free(m);
  free(tm);
}

static void test_leaky_prelu_tanh(void **state) {
  (void)state;
  const int32_t d[1] = {4};
  /* LEAKY_RELU float alpha 0.2; int8 s 0.1 -> 0.1, zp 0 and 4, alpha 0.5:
   * -10 -> -0.5 -> -5 + 4 = -1; 10 -> 14; -128 -> -6.4 -> -64 + 4 = -60; 127 -> 131 -> 127. */
  tb_model *tm = unary_model(QAT_RT_OP_LEAKY_RELU, F32, 1, d);
  tm->ops[0].alpha = 0.2f;
  qat_rt_model *m = load_built(tm);
  const float fx[4] = {-5.0f, 0.0f, 3.0f, -0.5f}, fw[4] = {-1.0f, 0.0f, 3.0f, -0.1f};
  assert_f32(run(m, 1, (const void *[]){fx}), fw, 4);
  qat_rt_model_free(m);
  free(tm);
  tm = unary_model(QAT_RT_OP_LEAKY_RELU, I8, 1, d);
  tm->ops[0].alpha = 0.5f;
  tb_quant1(tm, 0, 0.1f, 0);
  tb_quant1(tm, 1, 0.1f, 4);
  m = load_built(tm);
  const int8_t q[4] = {-10, 10, -128, 127}, wq[4] = {-1, 14, -60, 127};
  assert_i8(run(m, 1, (const void *[]){q}), wq, 4);
  qat_rt_model_free(m);
  free(tm);
  /* PRELU float, alpha [2] over [2, 2]: x >= 0 ? x : x * alpha. */
  tm = calloc(1, sizeof *tm);
  const int32_t d22[2] = {2, 2}, d2[1] = {2};
  const float alpha[2] = {0.5f, -1.0f};
  int x = tb_tensor_add(tm, "x", F32, 2, d22, NULL, 0);
  int a = tb_tensor_add(tm, "alpha", F32, 1, d2, alpha, sizeof alpha);
  int y = tb_tensor_add(tm, "y", F32, 2, d22, NULL, 0);
  tb_op_add(tm, QAT_RT_OP_PRELU, 2, (int32_t[]){x, a}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){x}, y);
  m = load_built(tm);
  const float px[4] = {-2.0f, -2.0f, 3.0f, -0.0f}, pw[4] = {-1.0f, 2.0f, 3.0f, -0.0f};
  assert_f32(run(m, 1, (const void *[]){px}), pw, 4);
  qat_rt_model_free(m);
  free(tm);
  /* TANH int8: input 1/16 (zp 0), output 1/128 (zp 0): tanh(1) * 128 = 97.5 -> 97;
   * tanh(-8) * 128 = -127.99 -> -128; tanh(0.5) * 128 = 59.2 -> 59. */
  tm = unary_model(QAT_RT_OP_TANH, I8, 1, d);
  tb_quant1(tm, 0, 1.0f / 16, 0);
  tb_quant1(tm, 1, 1.0f / 128, 0);
  tm->ops[0].version = 2;
  m = load_built(tm);
  const int8_t tq[4] = {16, -128, 0, 8}, tw[4] = {97, -128, 0, 59};
  assert_i8(run(m, 1, (const void *[]){tq}), tw, 4);
  qat_rt_model_free(m);
  free(tm);
}

/* int16 TANH and LOGISTIC interpolate the sigmoid table (sigmoid(i / 24) in 0.16, corrected by
 * half the midpoint error): output scale 1/32768. With input scale 2^-12 (a power of two: the
 * multiplier 3), x = 4096 (1.0) lands on entry 48 for TANH (3 * 4096 >> 8) and 24 for LOGISTIC
 * (>> 9), no interpolation: sigmoid(2) -> 57723.92 + 0.56 = 57724, and
 * (57724 * 256 - 2^23 + 128) >> 8 = 24956 (tanh(1) * 32768 = 24956.2); sigmoid(1) ->
 * 47910.66 + 0.65 = 47911, (47911 * 512 + 512) >> 10 = 23956 (sigmoid(1) * 32768 = 23955.3), and
 * for -1 ((2^25 - 47911 * 512 + 511) >> 10) = 8812. 0 gives 0 and 16384. Input 2048 (0.5):
 * TANH entry 24 again, (47911 * 256 - 2^23 + 128) >> 8 = 15143 (2 * 0.731064 - 1 = tanh(0.5) in
 * the table's precision), -15143 for -0.5; LOGISTIC entry 12 (sigmoid(0.5) -> 40793.49
 * + 0.42 = 40794): (40794 * 512 + 512) >> 10 = 20397, and (2^25 - 40794 * 512 + 511) >> 10 =
 * 12371 for -0.5.
 * The scale 0.001 is no power of two: multiplier 12.288 doubled to 25165 with shift 11, and
 * 1000 (1.0) maps to (1000 * 25165 + 1024) >> 11 = 12288, the same as above. */
static void test_sigmoid_i16(void **state) {
  (void)state;
  const int32_t d[1] = {5};
  const int16_t x[5] = {0, 4096, -4096, 2048, -2048};
  const int16_t tanh_want[5] = {0, 24956, -24956, 15143, -15143};
  const int16_t sig_want[5] = {16384, 23956, 8812, 20397, 12371};
  for (int op = 0; op < 2; op++) {
    tb_model *tm = unary_model(op ? QAT_RT_OP_LOGISTIC : QAT_RT_OP_TANH, I16, 1, d);
    tb_quant1(tm, 0, 1.0f / 4096, 0);
    tb_quant1(tm, 1, 1.0f / 32768, 0);
    tm->ops[0].version = 3;
    qat_rt_model *m = load_built(tm);
    const int16_t *got = run(m, 1, (const void *[]){x});
    const int16_t *want = op ? sig_want : tanh_want;
    for (int i = 0; i < 5; i++)
      if (got[i] != want[i]) fail_msg("%s element %d: got %d, want %d", op ? "LOGISTIC" : "TANH", i, got[i], want[i]);
    qat_rt_model_free(m);
    /* a scale that is no power of two: 1000 is 1.0 */
    tm->t[0].scales[0] = 0.001f;
    m = load_built(tm);
    const int16_t x1[5] = {0, 1000, -1000, 0, 0};
    got = run(m, 1, (const void *[]){x1});
    if (got[1] != want[1] || got[2] != want[2])
      fail_msg("%s at scale 0.001: got %d %d, want %d %d", op ? "LOGISTIC" : "TANH", got[1], got[2], want[1], want[2]);
    qat_rt_model_free(m);
    /* a zero point other than 0 is refused, as TFLite does */
    tm->t[0].zps[0] = 3;
    expect_refused(tm, QAT_ERR_FORMAT, "zero points must be 0");
    free(tm);
  }
}

/* GATHER: float [3, 2] rows {0, 1}, {10, 11}, {20, 21} by int32 indices [2, 0] along axis 0
 * gives {20, 21, 0, 1}; int8 [2, 3] by int64 indices [1, 1, 0] along axis 1 (as -1) gives each
 * row's {x1, x1, x0}; an index past the axis is refused. REDUCE_PROD: int32 [2, 3] {1, 2, 3,
 * 4, 5, 6} over axis 1 gives {6, 120}, over both {720}; float over axis 0 gives {4, 10, 18}. */
static void test_gather_reduce_prod(void **state) {
  (void)state;
  tb_model *tm = calloc(1, sizeof *tm);
  const int32_t d32[2] = {3, 2}, d2[1] = {2}, d22[2] = {2, 2}, idx[2] = {2, 0};
  int x = tb_tensor_add(tm, "x", F32, 2, d32, NULL, 0);
  int ix = tb_tensor_add(tm, "idx", I32, 1, d2, idx, sizeof idx);
  int y = tb_tensor_add(tm, "y", F32, 2, d22, NULL, 0);
  tb_op_add(tm, QAT_RT_OP_GATHER, 2, (int32_t[]){x, ix}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){x}, y);
  qat_rt_model *m = load_built(tm);
  const float fx[6] = {0, 1, 10, 11, 20, 21}, fw[4] = {20, 21, 0, 1};
  assert_f32(run(m, 1, (const void *[]){fx}), fw, 4);
  qat_rt_model_free(m);
  free(tm);

  tm = calloc(1, sizeof *tm);
  const int32_t d23[2] = {2, 3}, d3[1] = {3}, d33[2] = {2, 3};
  const int64_t idx64[3] = {1, 1, 0};
  x = tb_tensor_add(tm, "x", I8, 2, d23, NULL, 0);
  ix = tb_tensor_add(tm, "idx", I64, 1, d3, idx64, sizeof idx64);
  y = tb_tensor_add(tm, "y", I8, 2, d33, NULL, 0);
  tb_quant1(tm, x, 0.25f, 3);
  tb_quant1(tm, y, 0.25f, 3);
  tb_op *op = tb_op_add(tm, QAT_RT_OP_GATHER, 2, (int32_t[]){x, ix}, 1, (int32_t[]){y});
  op->axis = -1;
  op->version = 2;
  io(tm, 1, (int[]){x}, y);
  m = load_built(tm);
  const int8_t qx[6] = {-5, 7, 9, 100, -100, 1}, qw[6] = {7, 7, -5, -100, -100, 100};
  assert_i8(run(m, 1, (const void *[]){qx}), qw, 6);
  qat_rt_model_free(m);
  const int64_t bad[3] = {1, 3, 0}; /* 3 is past the axis of size 3 */
  tm->t[ix].data = bad;
  m = load_built(tm);
  memcpy(qat_rt_tensor_data(m, qat_rt_input(m, 0)), qx, sizeof qx);
  assert_int_not_equal(qat_rt_invoke(m), QAT_OK);
  assert_non_null(strstr(qat_error_message(), "outside the axis"));
  qat_rt_model_free(m);
  free(tm);

  tm = calloc(1, sizeof *tm);
  const int32_t vals[6] = {1, 2, 3, 4, 5, 6}, ax1[1] = {1}, d1[1] = {1};
  int v = tb_tensor_add(tm, "v", I32, 2, d23, NULL, 0);
  int a = tb_tensor_add(tm, "axes", I32, 1, d1, ax1, sizeof ax1);
  y = tb_tensor_add(tm, "y", I32, 1, d2, NULL, 0);
  tb_op_add(tm, QAT_RT_OP_REDUCE_PROD, 2, (int32_t[]){v, a}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){v}, y);
  m = load_built(tm);
  const int32_t *p = run(m, 1, (const void *[]){vals});
  assert_int_equal(p[0], 6);
  assert_int_equal(p[1], 120);
  qat_rt_model_free(m);
  free(tm);

  tm = calloc(1, sizeof *tm);
  const int32_t ax0[1] = {0};
  v = tb_tensor_add(tm, "v", F32, 2, d23, NULL, 0);
  a = tb_tensor_add(tm, "axes", I32, 1, d1, ax0, sizeof ax0);
  y = tb_tensor_add(tm, "y", F32, 1, d3, NULL, 0);
  tb_op_add(tm, QAT_RT_OP_REDUCE_PROD, 2, (int32_t[]){v, a}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){v}, y);
  m = load_built(tm);
  const float fv[6] = {1, 2, 3, 4, 5, 6}, fp[3] = {4, 10, 18};
  assert_f32(run(m, 1, (const void *[]){fv}), fp, 3);
  qat_rt_model_free(m);
  free(tm);
}

/* TILE: int8 [1, 2, 1, 3] {1..6} by multiples [1, 1, 2, 2] gives [1, 2, 2, 6], each row of 3
 * twice along the last axis, the whole [2, 1, ...] block twice along the third:
 * {1 2 3 1 2 3, 1 2 3 1 2 3, 4 5 6 4 5 6, 4 5 6 4 5 6} (the converter's nearest UpSampling2D:
 * EXPAND_DIMS, TILE, RESHAPE). */
static void test_tile(void **state) {
  (void)state;
  tb_model *tm = calloc(1, sizeof *tm);
  const int32_t d[4] = {1, 2, 1, 3}, d4[1] = {4}, dout[4] = {1, 2, 2, 6}, mult[4] = {1, 1, 2, 2};
  int x = tb_tensor_add(tm, "x", I8, 4, d, NULL, 0);
  int mu = tb_tensor_add(tm, "multiples", I32, 1, d4, mult, sizeof mult);
  int y = tb_tensor_add(tm, "y", I8, 4, dout, NULL, 0);
  tb_quant1(tm, x, 0.5f, -3);
  tb_quant1(tm, y, 0.5f, -3);
  tb_op *op = tb_op_add(tm, QAT_RT_OP_TILE, 2, (int32_t[]){x, mu}, 1, (int32_t[]){y});
  op->version = 3;
  io(tm, 1, (int[]){x}, y);
  qat_rt_model *m = load_built(tm);
  const int8_t qx[6] = {1, 2, 3, 4, 5, 6};
  const int8_t want[24] = {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 4, 5, 6, 4, 5, 6};
  assert_i8(run(m, 1, (const void *[]){qx}), want, 24);
  qat_rt_model_free(m);
  /* a stored output shape the multiples do not give is refused */
  tm->t[y].dims[3] = 5;
  expect_refused(tm, QAT_ERR_FORMAT, "the op computes");
  free(tm);
}

/* TILE of random ranks (1 to 5), sizes and multiples, 1s among them (the kernel joins trailing
 * dimensions that are not repeated into its rows), against the definition: output index i reads
 * input index i mod dims on every axis */
static void test_tile_random(void **state) {
  (void)state;
  uint32_t seed = 4242;
#define NEXT(n) ((int)((seed = seed * 1664525u + 1013904223u) >> 16) % (n))
  for (int trial = 0; trial < 200; trial++) {
    const int r = 1 + NEXT(5);
    int32_t d[5], mult[5], dout[5], dr[1] = {r};
    int64_t n_in = 1, n_out = 1;
    for (int a = 0; a < r; a++) {
      d[a] = 1 + NEXT(3);
      mult[a] = NEXT(3) ? 1 : 2 + NEXT(2);
      dout[a] = d[a] * mult[a];
      n_in *= d[a], n_out *= dout[a];
    }
    tb_model *tm = calloc(1, sizeof *tm);
    int x = tb_tensor_add(tm, "x", I8, r, d, NULL, 0);
    int mu = tb_tensor_add(tm, "multiples", I32, 1, dr, mult, (size_t)r * sizeof *mult);
    int y = tb_tensor_add(tm, "y", I8, r, dout, NULL, 0);
    tb_quant1(tm, x, 0.5f, 0);
    tb_quant1(tm, y, 0.5f, 0);
    tb_op_add(tm, QAT_RT_OP_TILE, 2, (int32_t[]){x, mu}, 1, (int32_t[]){y})->version = 3;
    io(tm, 1, (int[]){x}, y);
    qat_rt_model *m = load_built(tm);
    int8_t qx[243], want[243 * 81];
    for (int64_t i = 0; i < n_in; i++) qx[i] = (int8_t)i;
    for (int64_t o = 0; o < n_out; o++) {
      int64_t rest = o, at = 0, scale = 1;
      for (int a = r - 1; a >= 0; a--) {
        at += (rest % dout[a]) % d[a] * scale;
        rest /= dout[a], scale *= d[a];
      }
      want[o] = qx[at];
    }
    assert_i8(run(m, 1, (const void *[]){qx}), want, (int)n_out);
    qat_rt_model_free(m);
    free(tm);
  }
#undef NEXT
}

/* SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND, the converter's dilated convolution: int8 [1, 4, 1]
 * by block [2], paddings [[1, 1]]: padded {zp, 1, 2, 3, 4, zp}, batch 0 the even positions,
 * batch 1 the odd ones. Then the two in a chain whose middle tensor is stored with batch 1, as
 * the converter writes it: resized at Prepare, and crops [[1, 1]] give the input back. */
static void test_space_batch(void **state) {
  (void)state;
  tb_model *tm = calloc(1, sizeof *tm);
  const int32_t d141[3] = {1, 4, 1}, d231[3] = {2, 3, 1}, d1[1] = {1}, d12[2] = {1, 2};
  const int32_t block[1] = {2}, pads[2] = {1, 1};
  int x = tb_tensor_add(tm, "x", I8, 3, d141, NULL, 0);
  int b = tb_tensor_add(tm, "block", I32, 1, d1, block, sizeof block);
  int p = tb_tensor_add(tm, "paddings", I32, 2, d12, pads, sizeof pads);
  int y = tb_tensor_add(tm, "y", I8, 3, d231, NULL, 0);
  tb_quant1(tm, x, 0.5f, -7);
  tb_quant1(tm, y, 0.5f, -7);
  tb_op_add(tm, QAT_RT_OP_SPACE_TO_BATCH_ND, 3, (int32_t[]){x, b, p}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){x}, y);
  qat_rt_model *m = load_built(tm);
  const int8_t qx[4] = {1, 2, 3, 4}, want[6] = {-7, 2, 4, 1, 3, -7};
  assert_i8(run(m, 1, (const void *[]){qx}), want, 6);
  qat_rt_model_free(m);
  free(tm);

  tm = calloc(1, sizeof *tm);
  const int32_t d131[3] = {1, 3, 1};
  x = tb_tensor_add(tm, "x", F32, 3, d141, NULL, 0);
  b = tb_tensor_add(tm, "block", I32, 1, d1, block, sizeof block);
  p = tb_tensor_add(tm, "paddings", I32, 2, d12, pads, sizeof pads);
  int mid = tb_tensor_add(tm, "mid", F32, 3, d131, NULL, 0); /* stored batch 1, computed 2 */
  y = tb_tensor_add(tm, "y", F32, 3, d141, NULL, 0);
  tb_op_add(tm, QAT_RT_OP_SPACE_TO_BATCH_ND, 3, (int32_t[]){x, b, p}, 1, (int32_t[]){mid});
  tb_op_add(tm, QAT_RT_OP_BATCH_TO_SPACE_ND, 3, (int32_t[]){mid, b, p}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){x}, y);
  m = load_built(tm);
  const float fx[4] = {1, 2, 3, 4};
  assert_f32(run(m, 1, (const void *[]){fx}), fx, 4);
  qat_rt_model_free(m);
  tm->t[y].dims[1] = 5; /* a graph output is never resized: its stored shape must be right */
  expect_refused(tm, QAT_ERR_FORMAT, "the op computes [1,4,1]");
  free(tm);
}

/* RELU: float max(x, 0); int8 rescaled by in_scale / out_scale = 2 and clamped at the output's
 * zero point: x q {-10, -7, -3, 5} at (0.5, -7) is {-1.5, 0, 2, 6}, on (0.25, -100)
 * {-106 -> -100, -100, -92, -76}. */
static void test_relu(void **state) {
  (void)state;
  tb_model *tm = calloc(1, sizeof *tm);
  const int32_t d4[2] = {1, 4};
  int x = tb_tensor_add(tm, "x", I8, 2, d4, NULL, 0);
  int y = tb_tensor_add(tm, "y", I8, 2, d4, NULL, 0);
  tb_quant1(tm, x, 0.5f, -7);
  tb_quant1(tm, y, 0.25f, -100);
  tb_op_add(tm, QAT_RT_OP_RELU, 1, (int32_t[]){x}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){x}, y);
  qat_rt_model *m = load_built(tm);
  const int8_t qx[4] = {-10, -7, -3, 5}, want[4] = {-100, -100, -92, -76};
  assert_i8(run(m, 1, (const void *[]){qx}), want, 4);
  qat_rt_model_free(m);
  tm->t[x].type = tm->t[y].type = F32;
  tm->t[x].n_q = tm->t[y].n_q = 0;
  m = load_built(tm);
  const float fx[4] = {-1.5f, 0.0f, 2.0f, -0.0f}, fw[4] = {0, 0, 2, 0};
  assert_f32(run(m, 1, (const void *[]){fx}), fw, 4);
  qat_rt_model_free(m);
  free(tm);
}

/* ---- data movement ---------------------------------------------------------------------------- */

static void test_pad_concat(void **state) {
  (void)state;
  /* PAD int8 [1, 2] by [[0, 0], [1, 2]]: the output zero point fills. */
  tb_model *tm = calloc(1, sizeof *tm);
  const int32_t d12[2] = {1, 2}, d15[2] = {1, 5}, dp[2] = {2, 2};
  const int32_t pads[4] = {0, 0, 1, 2};
  int x = tb_tensor_add(tm, "x", I8, 2, d12, NULL, 0);
  int p = tb_tensor_add(tm, "paddings", I32, 2, dp, pads, sizeof pads);
  int y = tb_tensor_add(tm, "y", I8, 2, d15, NULL, 0);
  tb_quant1(tm, x, 0.5f, -7);
  tb_quant1(tm, y, 0.5f, -7);
  tb_op_add(tm, QAT_RT_OP_PAD, 2, (int32_t[]){x, p}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){x}, y);
  qat_rt_model *m = load_built(tm);
  const int8_t px[2] = {1, 2}, pw[5] = {-7, 1, 2, -7, -7};
  assert_i8(run(m, 1, (const void *[]){px}), pw, 5);
  qat_rt_model_free(m);
  tm->t[y].dims[1] = 4;
  expect_refused(tm, QAT_ERR_FORMAT, "the op computes [1,5]");
  free(tm);
  /* PADV2 float with constant_values 9 around a [2, 1]: [[0,1],[1,0]]. */
  tm = calloc(1, sizeof *tm);
  const int32_t d21[2] = {2, 1}, d32[2] = {3, 2}, d0[1] = {1};
  const int32_t pads2[4] = {0, 1, 1, 0};
  const float cv = 9.0f;
  x = tb_tensor_add(tm, "x", F32, 2, d21, NULL, 0);
  p = tb_tensor_add(tm, "paddings", I32, 2, dp, pads2, sizeof pads2);
  int c = tb_tensor_add(tm, "cv", F32, 0, d0, &cv, sizeof cv);
  y = tb_tensor_add(tm, "y", F32, 2, d32, NULL, 0);
  tb_op_add(tm, QAT_RT_OP_PADV2, 3, (int32_t[]){x, p, c}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){x}, y);
  m = load_built(tm);
  const float fx[2] = {1.0f, 2.0f}, fw[6] = {9, 1, 9, 2, 9, 9};
  assert_f32(run(m, 1, (const void *[]){fx}), fw, 6);
  qat_rt_model_free(m);
  free(tm);
  /* CONCATENATION float [2, 1] and [2, 2] on axis -1 -> [2, 3]. */
  const int32_t d22[2] = {2, 2}, d23[2] = {2, 3};
  tm = binary_model(QAT_RT_OP_CONCATENATION, F32, 2, d21, 2, d22, 2, d23);
  tm->ops[0].axis = -1;
  m = load_built(tm);
  const float ca[2] = {1, 2}, cb[4] = {3, 4, 5, 6}, cw[6] = {1, 3, 4, 2, 5, 6};
  assert_f32(run(m, 2, (const void *[]){ca, cb}), cw, 6);
  qat_rt_model_free(m);
  tm->ops[0].act = 1;
  expect_refused(tm, QAT_ERR_FORMAT, "requires NONE");
  free(tm);
}

static void test_shape_slice_pack_reshape(void **state) {
  (void)state;
  /* The converter's dynamic-batch flatten: SHAPE(x) -> STRIDED_SLICE [0:1] shrink ->
   * PACK(batch, -1) -> RESHAPE(x, that) on a [1, 2, 3] float input: the shape chain is folded to
   * constants at load, RESHAPE copies. */
  tb_model *tm = calloc(1, sizeof *tm);
  const int32_t d123[3] = {1, 2, 3}, d3[1] = {3}, d1[1] = {1}, d2[1] = {2}, d16[2] = {1, 6};
  const int32_t b0[1] = {0}, e1[1] = {1}, s1[1] = {1}, m1 = -1;
  int x = tb_tensor_add(tm, "x", F32, 3, d123, NULL, 0);
  int sh = tb_tensor_add(tm, "shape", I32, 1, d3, NULL, 0);
  int b = tb_tensor_add(tm, "b", I32, 1, d1, b0, 4), e = tb_tensor_add(tm, "e", I32, 1, d1, e1, 4);
  int s = tb_tensor_add(tm, "s", I32, 1, d1, s1, 4);
  int batch = tb_tensor_add(tm, "batch", I32, 0, d1, NULL, 0);
  int minus1 = tb_tensor_add(tm, "minus1", I32, 0, d1, &m1, 4);
  int packed = tb_tensor_add(tm, "packed", I32, 1, d2, NULL, 0);
  int y = tb_tensor_add(tm, "y", F32, 2, d16, NULL, 0);
  tb_op_add(tm, QAT_RT_OP_SHAPE, 1, (int32_t[]){x}, 1, (int32_t[]){sh})->opt_type = -1;
  tb_op_add(tm, QAT_RT_OP_STRIDED_SLICE, 4, (int32_t[]){sh, b, e, s}, 1, (int32_t[]){batch})
      ->shrink_axis_mask = 1;
  tb_op *pk = tb_op_add(tm, QAT_RT_OP_PACK, 2, (int32_t[]){batch, minus1}, 1, (int32_t[]){packed});
  pk->values_count = 2;
  tb_op_add(tm, QAT_RT_OP_RESHAPE, 2, (int32_t[]){x, packed}, 1, (int32_t[]){y})->n_new_shape = -1;
  io(tm, 1, (int[]){x}, y);
  qat_rt_model *m = load_built(tm);
  qat_rt_tensor_info info;
  assert_int_equal(qat_rt_tensor(m, packed, &info), 0);
  assert_true(info.is_const);
  const int32_t *pv = qat_rt_tensor_data(m, packed);
  assert_int_equal(pv[0], 1);
  assert_int_equal(pv[1], -1);
  const float fx[6] = {1, 2, 3, 4, 5, 6};
  assert_f32(run(m, 1, (const void *[]){fx}), fx, 6);
  qat_rt_model_free(m);
  free(tm);
  /* STRIDED_SLICE int8 [3, 4], begin [-1, 3], end [0, 0], strides [-1, -2], end_mask on axis 0:
   * rows 2, 1, 0 and columns 3, 1 -> [3, 2]. */
  tm = calloc(1, sizeof *tm);
  const int32_t d34[2] = {3, 4}, d32[2] = {3, 2}, dd2[1] = {2};
  const int32_t bb[2] = {-1, 3}, ee[2] = {0, 0}, ss[2] = {-1, -2};
  x = tb_tensor_add(tm, "x", I8, 2, d34, NULL, 0);
  b = tb_tensor_add(tm, "b", I32, 1, dd2, bb, 8);
  e = tb_tensor_add(tm, "e", I32, 1, dd2, ee, 8);
  s = tb_tensor_add(tm, "s", I32, 1, dd2, ss, 8);
  y = tb_tensor_add(tm, "y", I8, 2, d32, NULL, 0);
  tb_quant1(tm, x, 1.0f, 0);
  tb_quant1(tm, y, 1.0f, 0);
  tb_op_add(tm, QAT_RT_OP_STRIDED_SLICE, 4, (int32_t[]){x, b, e, s}, 1, (int32_t[]){y})
      ->end_mask = 1;
  io(tm, 1, (int[]){x}, y);
  m = load_built(tm);
  const int8_t q[12] = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};
  const int8_t qw[6] = {23, 21, 13, 11, 3, 1};
  assert_i8(run(m, 1, (const void *[]){q}), qw, 6);
  qat_rt_model_free(m);
  free(tm);
}

static void test_squeeze_expand_pack(void **state) {
  (void)state;
  /* SQUEEZE [1, 3, 1] with squeeze_dims [-1] -> [1, 3]; without dims -> [3]. */
  const int32_t d131[3] = {1, 3, 1}, d13[2] = {1, 3}, d3[1] = {3};
  for (int all = 0; all < 2; all++) {
    tb_model *tm = calloc(1, sizeof *tm);
    int x = tb_tensor_add(tm, "x", F32, 3, d131, NULL, 0);
    int y = tb_tensor_add(tm, "y", F32, all ? 1 : 2, all ? d3 : d13, NULL, 0);
    tb_op *op = tb_op_add(tm, QAT_RT_OP_SQUEEZE, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    op->n_squeeze = all ? 0 : 1;
    op->squeeze[0] = -1;
    io(tm, 1, (int[]){x}, y);
    qat_rt_model *m = load_built(tm);
    const float fx[3] = {1, 2, 3};
    assert_f32(run(m, 1, (const void *[]){fx}), fx, 3);
    qat_rt_model_free(m);
    if (!all) {
      op->squeeze[0] = 1; /* a dimension of size 3 */
      expect_refused(tm, QAT_ERR_FORMAT, "not a dimension of size 1");
    }
    free(tm);
  }
  /* EXPAND_DIMS [3] at axis -1 -> [3, 1]. */
  tb_model *tm = calloc(1, sizeof *tm);
  const int32_t d31[2] = {3, 1}, d1[1] = {1}, ax = -1;
  int x = tb_tensor_add(tm, "x", F32, 1, d3, NULL, 0);
  int a = tb_tensor_add(tm, "axis", I32, 1, d1, &ax, 4);
  int y = tb_tensor_add(tm, "y", F32, 2, d31, NULL, 0);
  tb_op_add(tm, QAT_RT_OP_EXPAND_DIMS, 2, (int32_t[]){x, a}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){x}, y);
  qat_rt_model *m = load_built(tm);
  const float fx[3] = {4, 5, 6};
  assert_f32(run(m, 1, (const void *[]){fx}), fx, 3);
  qat_rt_model_free(m);
  free(tm);
  /* PACK int8 two [2] along axis 1 -> [2, 2] interleaved. */
  const int32_t d2[1] = {2}, d22[2] = {2, 2};
  tm = binary_model(QAT_RT_OP_PACK, I8, 1, d2, 1, d2, 2, d22);
  for (int t = 0; t < 3; t++) tb_quant1(tm, t, 0.5f, 1);
  tm->ops[0].values_count = 2;
  tm->ops[0].axis = 1;
  m = load_built(tm);
  const int8_t a8[2] = {1, 2}, b8[2] = {3, 4}, w8[4] = {1, 3, 2, 4};
  assert_i8(run(m, 2, (const void *[]){a8, b8}), w8, 4);
  qat_rt_model_free(m);
  tm->ops[0].values_count = 3;
  expect_refused(tm, QAT_ERR_FORMAT, "values_count 3 but 2 inputs");
  free(tm);
}

/* ---- TRANSPOSE_CONV ------------------------------------------------------------------------- */

/* A TRANSPOSE_CONV model: output_shape, filter w [oc, kh, kw, ic], input x [1, ih, iw, ic],
 * bias b (NULL: none), output [1, oh, ow, oc]; tensors in order shape, w, x, [b], y. */
static tb_model *tconv_model(int type, int wtype, int btype, const int32_t *oshape, const int32_t *wd,
                             const void *w, size_t wbytes, const int32_t *xd, const void *b, size_t bbytes) {
  tb_model *tm = calloc(1, sizeof *tm);
  const int32_t four[1] = {4}, bd[1] = {wd[0]};
  const int s = tb_tensor_add(tm, "output_shape", I32, 1, four, oshape, 4 * sizeof(int32_t));
  const int wt = tb_tensor_add(tm, "w", wtype, 4, wd, w, wbytes);
  const int x = tb_tensor_add(tm, "x", type, 4, xd, NULL, 0);
  const int bt = b ? tb_tensor_add(tm, "b", btype, 1, bd, b, bbytes) : -1;
  const int y = tb_tensor_add(tm, "y", type, 4, oshape, NULL, 0);
  tb_op_add(tm, QAT_RT_OP_TRANSPOSE_CONV, b ? 4 : 3, (int32_t[]){s, wt, x, bt}, 1, (int32_t[]){y});
  io(tm, 1, (int[]){x}, y);
  return tm;
}

static void test_transpose_conv(void **state) {
  (void)state;
  /* float32, x [[1, 2], [3, 4]], w [[1, -2], [3, -4]] (one channel), stride 1 VALID: each
   * output sums the taps landing on it, out[oy][ox] = sum x[iy][ix] w[oy-iy][ox-ix]:
   *   [[1, -2+2, -4], [3+3, -4+6-6+4, -8-8], [9, -12+12, -16]], + 0.5, fused RELU. */
  const float fx[4] = {1, 2, 3, 4}, fw[4] = {1, -2, 3, -4}, fb[1] = {0.5f};
  const int32_t xd[4] = {1, 2, 2, 1}, wd[4] = {1, 2, 2, 1}, od[4] = {1, 3, 3, 1};
  tb_model *tm = tconv_model(F32, F32, F32, od, wd, fw, sizeof fw, xd, fb, sizeof fb);
  tm->ops[0].padding = 1; /* VALID */
  tm->ops[0].stride_w = tm->ops[0].stride_h = 1;
  tm->ops[0].act = 1;
  qat_rt_model *m = load_built(tm);
  const float want[9] = {1.5f, 0.5f, 0.0f, 6.5f, 0.5f, 0.0f, 9.5f, 0.5f, 0.0f};
  assert_f32(run(m, 1, (const void *[]){fx}), want, 9);
  qat_rt_model_free(m);
  free(tm);
  /* SAME with an even kernel keeps 2x2: the padding ((2-1)*1 + 2 - 2) / 2 = 0 puts the odd
   * row and column at the end, so the output is the VALID one's top-left corner, no bias. */
  const int32_t os[4] = {1, 2, 2, 1};
  tm = tconv_model(F32, F32, F32, os, wd, fw, sizeof fw, xd, NULL, 0);
  tm->ops[0].padding = 0; /* SAME */
  tm->ops[0].stride_w = tm->ops[0].stride_h = 1;
  m = load_built(tm);
  const float want_same[4] = {1, 0, 6, 0};
  assert_f32(run(m, 1, (const void *[]){fx}), want_same, 4);
  qat_rt_model_free(m);
  tm->t[3].dims[2] = 3; /* y (no bias): the stored output no longer matches output_shape */
  expect_refused(tm, QAT_ERR_FORMAT, "the op computes [1,2,2,1]");
  free(tm);

  /* int8: x [1, 1, 2, 1] q [1, 5] (scale 0.5, zp -1: 1.0, 3.0), w [2, 1, 2, 1] per channel
   * q [[4, -8], [2, 6]] (scales 0.25, 0.5: [1, -2], [1, 3]), bias q [2, -2] (scales 0.125,
   * 0.25: 0.25, -0.5), stride 2 VALID -> [1, 1, 4, 2], output scale 0.125, zp 3, fused RELU.
   * Accumulators (x - zp) * w: channel 0 [2*4, 2*-8, 6*4, 6*-8] + 2 = [10, -14, 26, -46],
   * channel 1 [2*2, 2*6, 6*2, 6*6] - 2 = [2, 10, 10, 34]; multipliers 0.125 / 0.125 = 1 and
   * 0.25 / 0.125 = 2 (exact: 2^30 with shifts 1 and 2), + 3: [13, -11, 29, -43] and
   * [7, 23, 23, 71]; RELU clamps at the zero point 3. */
  const int8_t qx[2] = {1, 5}, qw[4] = {4, -8, 2, 6};
  const int32_t qb[2] = {2, -2}, qxd[4] = {1, 1, 2, 1}, qwd[4] = {2, 1, 2, 1}, qod[4] = {1, 1, 4, 2};
  tm = tconv_model(I8, I8, I32, qod, qwd, qw, sizeof qw, qxd, qb, sizeof qb);
  tm->ops[0].padding = 1;
  tm->ops[0].stride_w = tm->ops[0].stride_h = 2;
  tm->ops[0].act = 1;
  tb_quant(tm, 1, 2, (const float[]){0.25f, 0.5f}, (const int64_t[]){0, 0}, 0);
  tb_quant1(tm, 2, 0.5f, -1);
  tb_quant(tm, 3, 2, (const float[]){0.125f, 0.25f}, (const int64_t[]){0, 0}, 0);
  tb_quant1(tm, 4, 0.125f, 3);
  m = load_built(tm);
  const int8_t want8[8] = {13, 7, 3, 23, 29, 23, 3, 71};
  assert_i8(run(m, 1, (const void *[]){qx}), want8, 8);
  qat_rt_model_free(m);
  free(tm);

  /* 16x8: the same with int16 x q [2, 6] (scale 0.5, zp 0), int64 bias, output zp 0, no
   * activation: [10, -14, 26, -46] and 2 * [2, 10, 10, 34]. */
  const int16_t hx[2] = {2, 6};
  const int64_t hb[2] = {2, -2};
  tm = tconv_model(I16, I8, I64, qod, qwd, qw, sizeof qw, qxd, hb, sizeof hb);
  tm->ops[0].padding = 1;
  tm->ops[0].stride_w = tm->ops[0].stride_h = 2;
  tb_quant(tm, 1, 2, (const float[]){0.25f, 0.5f}, (const int64_t[]){0, 0}, 0);
  tb_quant1(tm, 2, 0.5f, 0);
  tb_quant(tm, 3, 2, (const float[]){0.125f, 0.25f}, (const int64_t[]){0, 0}, 0);
  tb_quant1(tm, 4, 0.125f, 0);
  m = load_built(tm);
  const int16_t want16[8] = {10, 4, -14, 20, 26, 20, -46, 68};
  const int16_t *got16 = run(m, 1, (const void *[]){hx});
  for (int i = 0; i < 8; i++)
    if (got16[i] != want16[i]) fail_msg("int16 element %d: got %d, want %d", i, got16[i], want16[i]);
  qat_rt_model_free(m);
  free(tm);

  /* dynamic range: float x [0.5, 255/128] quantized asymmetrically per batch (range [0,
   * 1.9921875]: scale 1/128, zero point -128, q - zp = [64, 255]), the int8 filter above with
   * its scales, float bias [0.25, -0.5]; each output takes one product (stride 2, 2-wide
   * filter), (q - zp) * w * s_w * s: channel 0 [0.5, -1, 1.9921875, -3.984375] + 0.25,
   * channel 1 [0.5, 1.5, 1.9921875, 5.9765625] - 0.5. */
  const float yx[2] = {0.5f, 1.9921875f}, yb[2] = {0.25f, -0.5f};
  tm = tconv_model(F32, I8, F32, qod, qwd, qw, sizeof qw, qxd, yb, sizeof yb);
  tm->ops[0].padding = 1;
  tm->ops[0].stride_w = tm->ops[0].stride_h = 2;
  tb_quant(tm, 1, 2, (const float[]){0.25f, 0.5f}, (const int64_t[]){0, 0}, 0);
  m = load_built(tm);
  const float wanth[8] = {0.75f, 0.0f, -0.75f, 1.0f, 2.2421875f, 1.4921875f, -3.734375f, 5.4765625f};
  assert_f32(run(m, 1, (const void *[]){yx}), wanth, 8);
  qat_rt_model_free(m);
  /* the input must be the one the convolution back from the output gives (TFLite's Eval) */
  tm->t[2].dims[2] = 3;
  expect_refused(tm, QAT_ERR_FORMAT, "a 1x3 input cannot give the 1x4 output");
  free(tm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mul),
      cmocka_unit_test(test_sub_max_min),
      cmocka_unit_test(test_less_select),
      cmocka_unit_test(test_hard_swish),
      cmocka_unit_test(test_leaky_prelu_tanh),
      cmocka_unit_test(test_sigmoid_i16),
      cmocka_unit_test(test_gather_reduce_prod),
      cmocka_unit_test(test_tile),
      cmocka_unit_test(test_tile_random),
      cmocka_unit_test(test_pad_concat),
      cmocka_unit_test(test_space_batch),
      cmocka_unit_test(test_relu),
      cmocka_unit_test(test_shape_slice_pack_reshape),
      cmocka_unit_test(test_squeeze_expand_pack),
      cmocka_unit_test(test_transpose_conv),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
