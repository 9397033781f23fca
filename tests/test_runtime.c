/* runtime/: kernels on hand-computed cases, every operator through the interpreter on models
 * written in the test, the planner, and the real converter-written fixtures of
 * ../shared/fixtures/tflite with their expected outputs (bit for bit). */
#include <float.h>
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
#include "qat/quant.h"
#include "qat/runtime.h"
#include "runtime/rt_op.h"
#include "runtime/rt_simd.h"

#include "tests/support/fixtures.h"
#include "tests/support/random_models.h"
#include "tests/support/tflite_builder.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static qat_rt_model *load_fixture(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", FIXTURES, name);
  qat_rt_model *m = NULL;
  const int rc = qat_rt_model_load_file(path, NULL, &m);
  if (rc) fail_msg("%s: %s", name, qat_error_message());
  return m;
}

/* Builds, loads (asserting success) and frees the bytes. */
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

/* Loads a built model that must be refused with status and a message containing `want`. */
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

static void set_input(qat_rt_model *m, int i, const void *data, size_t bytes) {
  qat_rt_tensor_info info;
  assert_int_equal(qat_rt_tensor(m, qat_rt_input(m, i), &info), 0);
  assert_int_equal(info.bytes, bytes);
  memcpy(qat_rt_tensor_data(m, qat_rt_input(m, i)), data, bytes);
}

static const void *output(qat_rt_model *m, int i) {
  return qat_rt_tensor_data(m, qat_rt_output(m, i));
}

static void assert_i8_array(const int8_t *got, const int8_t *want, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (got[i] != want[i]) fail_msg("element %zu: got %d, want %d", i, got[i], want[i]);
}

/* ---- fixed-point pieces ------------------------------------------------------------------- */

static void test_fp_exp_and_reciprocal(void **state) {
  (void)state;
  /* gemmlowp exp_on_negative_values on Q5.26 inputs against exp() */
  assert_int_equal(rt_fp_exp_on_negative_values(0, 5), INT32_MAX);
  double worst = 0;
  for (int32_t a = -(31 << 26); a < 0; a += 9973) {
    const double got = rt_fp_exp_on_negative_values(a, 5) / 2147483648.0;
    const double want = exp(a / 67108864.0);
    if (fabs(got - want) > worst) worst = fabs(got - want);
  }
  assert_true(worst < 5e-7); /* gemmlowp is accurate to about 2^-22 */
  /* one_over_one_plus_x_for_x_in_0_1 on Q0.31 */
  worst = 0;
  for (int64_t a = 0; a < INT32_MAX; a += 1000003) {
    const double got = rt_fp_one_over_one_plus_x((int32_t)a) / 2147483648.0;
    const double want = 1.0 / (1.0 + a / 2147483648.0);
    if (fabs(got - want) > worst) worst = fabs(got - want);
  }
  assert_true(worst < 1e-8);
  /* the 16-lane form (AVX-512) bit for bit, over a sweep, the ends and the first
   * Newton-Raphson saturations */
  if (rt_simd_avx512()) {
    int32_t in16[16], got16[16];
    long lanes = 0;
    for (int64_t a0 = 0; a0 < INT32_MAX; a0 += 16 * 65537) {
      for (int l = 0; l < 16; l++) in16[l] = (int32_t)((a0 + (int64_t)l * 65537 * 3) % INT32_MAX);
      if (a0 == 0) in16[0] = 0, in16[1] = 1, in16[2] = INT32_MAX, in16[3] = INT32_MAX - 1, in16[4] = 1 << 30;
      assert_int_equal(rt_fp_one_over_one_plus_x_x16(in16, got16), 0);
      for (int l = 0; l < 16; l++, lanes++)
        if (got16[l] != rt_fp_one_over_one_plus_x(in16[l]))
          fail_msg("one_over_one_plus_x(%d): 16 lanes %d, scalar %d", in16[l], got16[l], rt_fp_one_over_one_plus_x(in16[l]));
    }
    assert_true(lanes > 30000);
    in16[7] = -5;
    assert_int_equal(rt_fp_one_over_one_plus_x_x16(in16, got16), -1); /* a lane it does not take */
  }
  /* GetReciprocal of 1.0 in Q12.19: num_bits_over_unit 0, value ~1.0 */
  int nb;
  const int32_t r = rt_fp_one_over_one_plus_x(rt_fp_reciprocal_arg(1 << 19, 12, &nb));
  assert_int_equal(nb, 0);
  assert_true(r > INT32_MAX - 4);
}

static void test_softmax_i8_cases(void **state) {
  (void)state;
  /* Scale 1/16 (beta 1): multiplier 1/16 * 2^26 = 2^22 -> q 2^30, shift 23. */
  const int32_t mult = 1 << 30;
  const int shift = 23;
  const int diff_min = -(int)floor(31.0 * (double)(1LL << 26) / (double)(1LL << shift));
  int8_t out[4];
  int32_t exps[512];
  rt_softmax_i8_exps(mult, shift, diff_min, exps);
  /* One element: probability 1 -> 256 - 128, saturated to 127. */
  const int8_t one[1] = {5};
  assert_int_equal(rt_softmax_i8(1, 1, exps, one, out), 0);
  assert_int_equal(out[0], 127);
  /* Two equal: 0.5 each -> 128 - 128 = 0. */
  const int8_t two[2] = {-7, -7};
  assert_int_equal(rt_softmax_i8(1, 2, exps, two, out), 0);
  assert_int_equal(out[0], 0);
  assert_int_equal(out[1], 0);
  /* A difference below diff_min (-247 is never reachable at this scale: use a tiny one) gives
   * -128 for the small entry and 127 for the large. */
  const int8_t far[2] = {-128, 127};
  assert_int_equal(rt_softmax_i8(1, 2, exps, far, out), 0);
  assert_int_equal(out[0], -128);
  assert_int_equal(out[1], 127);
}

/* ---- kernels on hand-computed cases --------------------------------------------------------- */

/* The conv case used below and through the interpreter: input 3x3 values 1..9 with zp 1
 * (centered 0..8), two 2x2 filters (diagonal, all ones), per-channel multipliers 0.5 and
 * 0.125, biases 2 and -4, output zp -3, VALID, stride 1. By hand:
 *   oc0: (0+4+2)/2=3, (1+5+2)/2=4, (3+7+2)/2=6, (4+8+2)/2=7          -> 0, 1, 3, 4
 *   oc1: (8-4)/8=0.5->1, (12-4)/8=1, (20-4)/8=2, (24-4)/8=2.5->3      -> -2, -2, -1, 0 */
static const int8_t conv_in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const int8_t conv_w[8] = {1, 0, 0, 1, 1, 1, 1, 1};
static const int32_t conv_b[2] = {2, -4};
static const int8_t conv_want[8] = {0, -2, 1, -2, 3, -1, 4, 0};

static void test_conv_i8_kernel(void **state) {
  (void)state;
  rt_conv_geom g = {.batches = 1,
                    .in_h = 3,
                    .in_w = 3,
                    .in_c = 1,
                    .out_h = 2,
                    .out_w = 2,
                    .out_c = 2,
                    .k_h = 2,
                    .k_w = 2,
                    .filter_in_c = 1,
                    .stride_h = 1,
                    .stride_w = 1,
                    .dil_h = 1,
                    .dil_w = 1};
  const int32_t mult[2] = {1 << 30, 1 << 30};
  const int shift[2] = {0, -2};
  rt_requant q = {
      .in_offset = -1, .out_zp = -3, .act_min = -128, .act_max = 127, .mult = mult, .shift = shift};
  int8_t out[8];
  rt_conv2d_i8(&g, &q, conv_in, conv_w, conv_b, out);
  assert_i8_array(out, conv_want, 8);
  /* Fused RELU at zp -3 clamps below -3: nothing changes here; an upper clamp of 2 does. */
  q.act_max = 2;
  rt_conv2d_i8(&g, &q, conv_in, conv_w, conv_b, out);
  const int8_t want2[8] = {0, -2, 1, -2, 2, -1, 2, 0};
  assert_i8_array(out, want2, 8);
}

static void test_pool_i8_kernels(void **state) {
  (void)state;
  /* 3x3 input 1..9, 2x2 windows, stride 2, SAME (pad 0): the edge windows are clipped and
   * divide by the number of in-image taps. */
  rt_pool_geom g = {.batches = 1,
                    .in_h = 3,
                    .in_w = 3,
                    .c = 1,
                    .out_h = 2,
                    .out_w = 2,
                    .f_h = 2,
                    .f_w = 2,
                    .stride_h = 2,
                    .stride_w = 2};
  int8_t out[4];
  assert_int_equal(rt_avgpool_i8(&g, -128, 127, conv_in, out), 0);
  const int8_t avg_want[4] = {3, 5, 8, 9}; /* 12/4, 9/2=4.5->5, 15/2=7.5->8, 9 */
  assert_i8_array(out, avg_want, 4);
  rt_maxpool_i8(&g, -128, 127, conv_in, out);
  const int8_t max_want[4] = {5, 6, 8, 9};
  assert_i8_array(out, max_want, 4);
  /* Negative ties round away from zero: (-1 + -2) / 2 = -1.5 -> -2. */
  const int8_t neg[2] = {-1, -2};
  rt_pool_geom g2 = {.batches = 1,
                     .in_h = 1,
                     .in_w = 2,
                     .c = 1,
                     .out_h = 1,
                     .out_w = 1,
                     .f_h = 1,
                     .f_w = 2,
                     .stride_h = 1,
                     .stride_w = 1};
  assert_int_equal(rt_avgpool_i8(&g2, -128, 127, neg, out), 0);
  assert_int_equal(out[0], -2);
}

static void test_misc_i8_kernels(void **state) {
  (void)state;
  /* Requantize int8 -> uint8 with equal scales: a shift by 128. */
  const int8_t q8[3] = {-128, 0, 127};
  uint8_t u8[3];
  rt_requantize(3, I8, q8, -128, 1 << 30, 1, 0, U8, u8);
  assert_int_equal(u8[0], 0);
  assert_int_equal(u8[1], 128);
  assert_int_equal(u8[2], 255);
  /* AffineQuantize: 1.25 / 0.5 = 2.5 -> 3 (half away from zero) + zp -1 = 2; saturation. */
  const float f[4] = {1.25f, -1.25f, 1e10f, -INFINITY};
  int8_t qi[4];
  rt_quantize_f32(4, f, I8, 0.5f, -1, qi);
  assert_int_equal(qi[0], 2);
  assert_int_equal(qi[1], -4);
  assert_int_equal(qi[2], 127);
  assert_int_equal(qi[3], -128);
  /* Dequantize: (5 - 1) * 0.25 = 1. float16: 1, -2, the smallest subnormal, inf. */
  float d;
  const int8_t five = 5;
  rt_dequantize(1, I8, &five, 0.25f, 1, &d);
  assert_true(d == 1.0f);
  assert_true(rt_half_to_float(0x3C00) == 1.0f);
  assert_true(rt_half_to_float(0xC000) == -2.0f);
  assert_true(rt_half_to_float(0x0001) == ldexpf(1.0f, -24));
  assert_true(rt_half_to_float(0x03FF) == ldexpf(1023.0f, -24));
  assert_true(isinf(rt_half_to_float(0x7C00)));
  /* The logistic table at input scale 0.1: 0 -> 128/256 - 128 = 0; 1.0 -> 0.731*256 = 187
   * -> 59; the extremes saturate. Indexed by the int8 value cast to uint8. */
  int8_t lut[256];
  rt_lut_build_logistic_i8(0.1f, 0, 1.0f / 256, -128, lut);
  assert_int_equal(lut[0], 0);
  assert_int_equal(lut[10], 59);
  assert_int_equal(lut[127], 127);
  assert_int_equal(lut[(uint8_t)-128], -128);
}

static void test_float_kernels(void **state) {
  (void)state;
  /* Float conv, same geometry as the int8 case, RELU6: exact small integers. */
  rt_conv_geom g = {.batches = 1,
                    .in_h = 3,
                    .in_w = 3,
                    .in_c = 1,
                    .out_h = 2,
                    .out_w = 2,
                    .out_c = 2,
                    .k_h = 2,
                    .k_w = 2,
                    .filter_in_c = 1,
                    .stride_h = 1,
                    .stride_w = 1,
                    .dil_h = 1,
                    .dil_w = 1};
  const float in[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8}, w[8] = {1, 0, 0, 1, 1, 1, 1, 1};
  const float b[2] = {0.5f, -10.0f};
  float out[8];
  rt_conv2d_f32(&g, 0.0f, 6.0f, in, w, b, out);
  const float want[8] = {4.5f, 0, 6, 2, 6, 6, 6, 6};
  for (int i = 0; i < 8; i++) assert_true(out[i] == want[i]);
  /* NONE clamps infinities to +-FLT_MAX, NaN passes (ActivationFunctionWithMinMax). */
  rt_bcast bc = {.dims = {1, 1, 1, 1, 1, 3}, .s1 = {0, 0, 0, 0, 0, 1}, .s2 = {0}};
  const float x[3] = {INFINITY, -INFINITY, NAN}, y[1] = {1.0f};
  float z[3];
  rt_add_f32(&bc, -FLT_MAX, FLT_MAX, x, y, z);
  assert_true(z[0] == FLT_MAX && z[1] == -FLT_MAX && isnan(z[2]));
  /* Softmax of [0, 1]: e^-1 / (1 + e^-1) and 1 / (1 + e^-1), computed as the kernel does. */
  const float s_in[2] = {0.0f, 1.0f};
  float s_out[2];
  rt_softmax_f32(1, 2, 1.0f, s_in, s_out);
  const float e = expf(-1.0f), sum = e + 1.0f;
  assert_true(s_out[0] == e / sum && s_out[1] == 1.0f / sum);
  /* Logistic's cutoffs: above 16.619... exactly 1, below -9 exp(x). */
  const float l_in[3] = {17.0f, -10.0f, 0.0f};
  float l_out[3];
  rt_logistic_f32(3, l_in, l_out);
  assert_true(l_out[0] == 1.0f && l_out[1] == expf(-10.0f) && l_out[2] == 0.5f);
  /* Average pool divides by the in-image taps. */
  rt_pool_geom pg = {.batches = 1,
                     .in_h = 3,
                     .in_w = 3,
                     .c = 1,
                     .out_h = 2,
                     .out_w = 2,
                     .f_h = 2,
                     .f_w = 2,
                     .stride_h = 2,
                     .stride_w = 2};
  float p_out[4];
  assert_int_equal(rt_avgpool_f32(&pg, -FLT_MAX, FLT_MAX, in, p_out), 0);
  assert_true(p_out[0] == 2.0f && p_out[1] == 3.5f && p_out[2] == 6.5f && p_out[3] == 8.0f);
}

/* ---- every operator through the interpreter (models written here) -----------------------------
 */

static tb_model *new_model(void) {
  tb_model *m = calloc(1, sizeof *m);
  assert_non_null(m);
  return m;
}

static void test_op_conv2d_i8(void **state) {
  (void)state;
  tb_model *tm = new_model();
  const int32_t din[4] = {1, 3, 3, 1}, dw[4] = {2, 2, 2, 1}, db[1] = {2}, dout[4] = {1, 2, 2, 2};
  const int x = tb_tensor_add(tm, "x", I8, 4, din, NULL, 0);
  const int w = tb_tensor_add(tm, "w", I8, 4, dw, conv_w, sizeof conv_w);
  const int b = tb_tensor_add(tm, "b", I32, 1, db, conv_b, sizeof conv_b);
  const int y = tb_tensor_add(tm, "y", I8, 4, dout, NULL, 0);
  tb_quant1(tm, x, 0.5f, 1);
  const float ws[2] = {1.0f, 0.25f}, bs[2] = {0.5f, 0.125f};
  const int64_t zz[2] = {0, 0};
  tb_quant(tm, w, 2, ws, zz, 0);
  tb_quant(tm, b, 2, bs, zz, 0);
  tb_quant1(tm, y, 1.0f, -3);
  tb_op *op = tb_op_add(tm, QAT_TFLITE_BUILTIN_CONV_2D, 3, (int32_t[]){x, w, b}, 1, (int32_t[]){y});
  op->version = 3;
  op->padding = RT_PAD_VALID;
  op->stride_w = op->stride_h = 1;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
  qat_rt_model *m = load_built(tm);
  set_input(m, 0, conv_in, 9);
  assert_int_equal(qat_rt_invoke(m), 0);
  assert_i8_array(output(m, 0), conv_want, 8);
  qat_rt_op_info oi;
  assert_int_equal(qat_rt_op(m, 0, &oi), 0);
  assert_string_equal(oi.name, "CONV_2D");
  assert_int_equal(oi.macs, 2 * 2 * 2 * 4);
  qat_rt_model_free(m);

  /* The same with a bias whose scale is not s_in * s_w: refused. */
  tm->t[b].scales[1] = 0.126f;
  expect_refused(tm, QAT_ERR_FORMAT, "expected input scale x weight scale");
  tm->t[b].scales[1] = 0.125f;
  /* A stored output shape that the op does not compute: refused. */
  tm->t[y].dims[1] = 3;
  expect_refused(tm, QAT_ERR_FORMAT, "the op computes [1,2,2,2]");
  tm->t[y].dims[1] = 2;
  /* Weights with a nonzero zero point. */
  tm->t[w].zps[1] = 3;
  expect_refused(tm, QAT_ERR_FORMAT, "symmetric");
  tm->t[w].zps[1] = 0;
  /* Stride 0, padding 7, fused TANH. */
  op->stride_w = 0;
  expect_refused(tm, QAT_ERR_FORMAT, "stride");
  op->stride_w = 1;
  op->padding = 7;
  expect_refused(tm, QAT_ERR_FORMAT, "padding");
  op->padding = RT_PAD_VALID;
  op->act = 4;
  expect_refused(tm, QAT_ERR_UNSUPPORTED, "unsupported operator CONV_2D version 3 at node 0");
  free(tm);
}

static void test_op_depthwise_i8(void **state) {
  (void)state;
  /* Input 2x2x2, depth multiplier 2 (out channel = m + ic * 2), 2x2 VALID -> 1x1x4.
   * Channel sums: oc0 = 1+3+5+7 = 16, oc1 = 1-3 = -2, oc2 = 2+4+6+8 = 20, oc3 = 2*8 = 16;
   * biases 1, 0, -15, 0; multipliers 1, 1, 0.5, 0.25: 17, -2, 2.5 -> 3, 4. */
  tb_model *tm = new_model();
  const int8_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  /* w[ky][kx][oc] */
  const int8_t wv[16] = {1, 1, 1, 0, 1, -1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2};
  const int32_t bv[4] = {1, 0, -15, 0};
  const int32_t din[4] = {1, 2, 2, 2}, dw[4] = {1, 2, 2, 4}, db[1] = {4}, dout[4] = {1, 1, 1, 4};
  const int x = tb_tensor_add(tm, "x", I8, 4, din, NULL, 0);
  const int w = tb_tensor_add(tm, "w", I8, 4, dw, wv, sizeof wv);
  const int b = tb_tensor_add(tm, "b", I32, 1, db, bv, sizeof bv);
  const int y = tb_tensor_add(tm, "y", I8, 4, dout, NULL, 0);
  const float ws[4] = {1, 1, 0.5f, 0.25f};
  const int64_t zz[4] = {0};
  tb_quant1(tm, x, 1.0f, 0);
  tb_quant(tm, w, 4, ws, zz, 3);
  tb_quant(tm, b, 4, ws, zz, 0);
  tb_quant1(tm, y, 1.0f, 0);
  tb_op *op = tb_op_add(tm, QAT_TFLITE_BUILTIN_DEPTHWISE_CONV_2D, 3, (int32_t[]){x, w, b}, 1, (int32_t[]){y});
  op->version = 3;
  op->padding = RT_PAD_VALID;
  op->stride_w = op->stride_h = 1;
  op->dm = 2;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
  qat_rt_model *m = load_built(tm);
  set_input(m, 0, in, 8);
  assert_int_equal(qat_rt_invoke(m), 0);
  const int8_t want[4] = {17, -2, 3, 4};
  assert_i8_array(output(m, 0), want, 4);
  qat_rt_model_free(m);
  /* Per-channel scales along the wrong axis. */
  tm->t[w].qdim = 0;
  tm->t[w].dims[0] = 1;
  expect_refused(tm, QAT_ERR_FORMAT, "scales");
  free(tm);
}

static void test_op_fully_connected_i8(void **state) {
  (void)state;
  /* x = [10, -20, 30] zp 5 -> [5, -25, 25]; rows [1,2,3] and [-1,0,1]; biases 100, -7;
   * multiplier 0.5 * 0.5 / 1 = 0.25; zp_out 10: (30+100)/4 = 32.5 -> 33 -> 43 and
   * (20-7)/4 = 3.25 -> 3 -> 13 (LiteRT's double requantization). TFLM's fixed point rounds
   * twice: SRDHM makes 13/2 = 6.5 into 7, then 7/2 = 3.5 -> 4 -> 14. Per channel (weight
   * scales 0.5, 1): row 1 13/2 = 6.5 -> 7 either way. */
  tb_model *tm = new_model();
  const int8_t in[3] = {10, -20, 30}, wv[6] = {1, 2, 3, -1, 0, 1};
  const int32_t bv[2] = {100, -7};
  const int32_t din[2] = {1, 3}, dw[2] = {2, 3}, db[1] = {2}, dout[2] = {1, 2};
  const int x = tb_tensor_add(tm, "x", I8, 2, din, NULL, 0);
  const int w = tb_tensor_add(tm, "w", I8, 2, dw, wv, sizeof wv);
  const int b = tb_tensor_add(tm, "b", I32, 1, db, bv, sizeof bv);
  const int y = tb_tensor_add(tm, "y", I8, 2, dout, NULL, 0);
  tb_quant1(tm, x, 0.5f, 5);
  tb_quant1(tm, w, 0.5f, 0);
  tb_quant1(tm, b, 0.25f, 0);
  tb_quant1(tm, y, 1.0f, 10);
  tb_op *op = tb_op_add(tm, QAT_TFLITE_BUILTIN_FULLY_CONNECTED, 3, (int32_t[]){x, w, b}, 1, (int32_t[]){y});
  op->version = 4;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
  qat_rt_model *m = load_built(tm);
  set_input(m, 0, in, 3);
  assert_int_equal(qat_rt_invoke(m), 0);
  const int8_t want[2] = {43, 13};
  assert_i8_array(output(m, 0), want, 2);
  qat_rt_model_free(m);
  {
    size_t len = 0;
    uint8_t *buf = tb_build(tm, &len);
    qat_rt_options opt = {.flavor = QAT_RT_FLAVOR_TFLM};
    assert_int_equal(qat_rt_model_load_buffer(buf, len, "fc.tflite", &opt, &m), 0);
    free(buf);
    set_input(m, 0, in, 3);
    assert_int_equal(qat_rt_invoke(m), 0);
    const int8_t want_tflm[2] = {43, 14};
    assert_i8_array(output(m, 0), want_tflm, 2);
    qat_rt_model_free(m);
  }
  const float ws[2] = {0.5f, 1.0f}, bs[2] = {0.25f, 0.5f};
  const int64_t zz[2] = {0, 0};
  tb_quant(tm, w, 2, ws, zz, 0);
  tb_quant(tm, b, 2, bs, zz, 0);
  m = load_built(tm);
  set_input(m, 0, in, 3);
  assert_int_equal(qat_rt_invoke(m), 0);
  const int8_t want_pc[2] = {43, 17};
  assert_i8_array(output(m, 0), want_pc, 2);
  qat_rt_model_free(m);
  /* No bias (optional input -1). */
  op->in[2] = -1;
  m = load_built(tm);
  set_input(m, 0, in, 3);
  assert_int_equal(qat_rt_invoke(m), 0);
  const int8_t want_nb[2] = {18, 20}; /* 30/4 = 7.5 -> 8 -> 18; 20/2 = 10 -> 20 */
  assert_i8_array(output(m, 0), want_nb, 2);
  qat_rt_model_free(m);
  /* Only the bias may be -1. */
  op->in[1] = -1;
  expect_refused(tm, QAT_ERR_FORMAT, "input 1 is -1");
  free(tm);
}

static void test_op_pool_mean_i8(void **state) {
  (void)state;
  /* AVERAGE_POOL then MAX_POOL (2x2, stride 2, SAME) on 1..9, then MEAN over axes 1, 2. */
  tb_model *tm = new_model();
  const int32_t d33[4] = {1, 3, 3, 1}, d22[4] = {1, 2, 2, 1}, d11[4] = {1, 1, 1, 1};
  const int32_t axes[2] = {1, 2}, dax[1] = {2};
  const int x = tb_tensor_add(tm, "x", I8, 4, d33, NULL, 0);
  const int a = tb_tensor_add(tm, "avg", I8, 4, d22, NULL, 0);
  const int mx = tb_tensor_add(tm, "max", I8, 4, d22, NULL, 0);
  const int ax = tb_tensor_add(tm, "axes", I32, 1, dax, axes, sizeof axes);
  const int mean = tb_tensor_add(tm, "mean", I8, 4, d11, NULL, 0);
  tb_quant1(tm, x, 1.0f, 1);
  tb_quant1(tm, a, 1.0f, 1);
  tb_quant1(tm, mx, 1.0f, 1);
  tb_quant1(tm, mean, 0.5f, -1);
  tb_op *op = tb_op_add(tm, QAT_TFLITE_BUILTIN_AVERAGE_POOL_2D, 1, (int32_t[]){x}, 1, (int32_t[]){a});
  op->version = 2, op->padding = RT_PAD_SAME, op->stride_w = op->stride_h = 2;
  op->filter_w = op->filter_h = 2;
  op = tb_op_add(tm, QAT_TFLITE_BUILTIN_MAX_POOL_2D, 1, (int32_t[]){x}, 1, (int32_t[]){mx});
  op->version = 2, op->padding = RT_PAD_SAME, op->stride_w = op->stride_h = 2;
  op->filter_w = op->filter_h = 2;
  op = tb_op_add(tm, QAT_TFLITE_BUILTIN_MEAN, 2, (int32_t[]){mx, ax}, 1, (int32_t[]){mean});
  op->version = 2, op->keep_dims = 1;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 2, tm->out[0] = a, tm->out[1] = mean;
  qat_rt_model *m = load_built(tm);
  set_input(m, 0, conv_in, 9);
  assert_int_equal(qat_rt_invoke(m), 0);
  const int8_t avg_want[4] = {3, 5, 8, 9};
  assert_i8_array(output(m, 0), avg_want, 4);
  /* max = [5,6,8,9], zp 1: sum 28 - 4 = 24 over 4 = 6, / 0.5 = 12, zp -1 -> 11. */
  assert_int_equal(((const int8_t *)output(m, 1))[0], 11);
  qat_rt_model_free(m);
  /* keep_dims = false gives [1, 1]; with the stored 4-D shape it is refused. */
  tm->ops[2].keep_dims = 0;
  expect_refused(tm, QAT_ERR_FORMAT, "the op computes [1,1]");
  tm->t[mean].rank = 2;
  m = load_built(tm);
  set_input(m, 0, conv_in, 9);
  assert_int_equal(qat_rt_invoke(m), 0);
  assert_int_equal(((const int8_t *)output(m, 1))[0], 11);
  qat_rt_model_free(m);
  /* Pooling with different input/output quantization is refused. */
  tm->t[a].zps[0] = 2;
  expect_refused(tm, QAT_ERR_UNSUPPORTED, "do not rescale");
  free(tm);
}

static void test_op_add_softmax_logistic_i8(void **state) {
  (void)state;
  /* ADD at scales 1/1/1: 3 + 4 = 7, saturation at 127, broadcast of a [1] operand; then
   * SOFTMAX and LOGISTIC on the sum. */
  tb_model *tm = new_model();
  const int32_t d4[2] = {1, 4}, d1[1] = {1};
  const int8_t c1[1] = {2};
  const int x = tb_tensor_add(tm, "x", I8, 2, d4, NULL, 0);
  const int y = tb_tensor_add(tm, "y", I8, 2, d4, NULL, 0);
  const int c = tb_tensor_add(tm, "c", I8, 1, d1, c1, 1);
  const int s = tb_tensor_add(tm, "s", I8, 2, d4, NULL, 0);
  const int s2 = tb_tensor_add(tm, "s2", I8, 2, d4, NULL, 0);
  const int sm = tb_tensor_add(tm, "sm", I8, 2, d4, NULL, 0);
  const int lg = tb_tensor_add(tm, "lg", I8, 2, d4, NULL, 0);
  tb_quant1(tm, x, 1.0f, 0);
  tb_quant1(tm, y, 1.0f, 0);
  tb_quant1(tm, c, 1.0f, 0);
  tb_quant1(tm, s, 1.0f, 0);
  tb_quant1(tm, s2, 1.0f, 0);
  tb_quant1(tm, sm, 1.0f / 256, -128);
  tb_quant1(tm, lg, 1.0f / 256, -128);
  tb_op_add(tm, QAT_TFLITE_BUILTIN_ADD, 2, (int32_t[]){x, y}, 1, (int32_t[]){s})->version = 2;
  tb_op_add(tm, QAT_TFLITE_BUILTIN_ADD, 2, (int32_t[]){s, c}, 1, (int32_t[]){s2})->version = 2;
  tb_op *op = tb_op_add(tm, QAT_TFLITE_BUILTIN_SOFTMAX, 1, (int32_t[]){s2}, 1, (int32_t[]){sm});
  op->version = 2, op->beta = 1.0f;
  tb_op_add(tm, QAT_TFLITE_BUILTIN_LOGISTIC, 1, (int32_t[]){s2}, 1, (int32_t[]){lg})->version = 2;
  tm->n_in = 2, tm->in[0] = x, tm->in[1] = y;
  tm->n_out = 3, tm->out[0] = s2, tm->out[1] = sm, tm->out[2] = lg;
  qat_rt_model *m = load_built(tm);
  const int8_t xv[4] = {3, -3, 100, -100}, yv[4] = {4, -4, 100, -100};
  set_input(m, 0, xv, 4);
  set_input(m, 1, yv, 4);
  assert_int_equal(qat_rt_invoke(m), 0);
  const int8_t sum_want[4] = {9, -5, 127, -126};
  assert_i8_array(output(m, 0), sum_want, 4);
  /* softmax of [9, -5, 127, -128] at scale 1: all but the max underflow. */
  const int8_t sm_want[4] = {-128, -128, 127, -128};
  assert_i8_array(output(m, 1), sm_want, 4);
  /* logistic: 9 -> 0.99988*256 = 255.97 -> 256 -> 128 -> 127; -5 -> 0.00669*256 = 1.71 -> 2
   * -> -126; 127 -> 127; -128 -> -128 */
  const int8_t lg_want[4] = {127, -126, 127, -128};
  assert_i8_array(output(m, 2), lg_want, 4);
  qat_rt_model_free(m);
  /* A rescaling multiplier above 1 (output scale far below the inputs'): refused. */
  tm->t[s].scales[0] = 1e-7f;
  expect_refused(tm, QAT_ERR_UNSUPPORTED, "unsupported operator ADD version 2 at node 0");
  tm->t[s].scales[0] = 1.0f;
  /* SOFTMAX output must be 1/256, -128. */
  tm->t[sm].zps[0] = 0;
  expect_refused(tm, QAT_ERR_FORMAT, "scale 1/256");
  free(tm);
}

static void test_op_quantize_reshape_float(void **state) {
  (void)state;
  /* float in -> QUANTIZE int8 -> RESHAPE (shape input with -1) -> DEQUANTIZE float, plus
   * QUANTIZE int8 -> uint8. */
  tb_model *tm = new_model();
  const int32_t d22[2] = {2, 2}, d4[1] = {4}, dsh[1] = {1};
  const int32_t shape[1] = {-1};
  const int x = tb_tensor_add(tm, "x", F32, 2, d22, NULL, 0);
  const int q = tb_tensor_add(tm, "q", I8, 2, d22, NULL, 0);
  const int sh = tb_tensor_add(tm, "shape", I32, 1, dsh, shape, sizeof shape);
  const int r = tb_tensor_add(tm, "r", I8, 1, d4, NULL, 0);
  const int f = tb_tensor_add(tm, "f", F32, 1, d4, NULL, 0);
  const int u = tb_tensor_add(tm, "u", U8, 1, d4, NULL, 0);
  tb_quant1(tm, q, 0.5f, -1);
  tb_quant1(tm, r, 0.5f, -1);
  tb_quant1(tm, u, 0.5f, 127);
  tb_op_add(tm, QAT_TFLITE_BUILTIN_QUANTIZE, 1, (int32_t[]){x}, 1, (int32_t[]){q});
  tb_op_add(tm, QAT_TFLITE_BUILTIN_RESHAPE, 2, (int32_t[]){q, sh}, 1, (int32_t[]){r});
  tb_op_add(tm, QAT_TFLITE_BUILTIN_DEQUANTIZE, 1, (int32_t[]){r}, 1, (int32_t[]){f})->version = 2;
  tb_op_add(tm, QAT_TFLITE_BUILTIN_QUANTIZE, 1, (int32_t[]){r}, 1, (int32_t[]){u});
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 2, tm->out[0] = f, tm->out[1] = u;
  qat_rt_model *m = load_built(tm);
  const float xv[4] = {1.25f, -1.25f, 100.0f, 0.0f};
  set_input(m, 0, xv, sizeof xv);
  assert_int_equal(qat_rt_invoke(m), 0);
  const float *fo = output(m, 0);
  /* q = [2, -4, 127, -1] -> (q + 1) * 0.5 */
  assert_true(fo[0] == 1.5f && fo[1] == -1.5f && fo[2] == 64.0f && fo[3] == 0.0f);
  const uint8_t *uo = output(m, 1);
  assert_true(uo[0] == 130 && uo[1] == 124 && uo[2] == 255 && uo[3] == 127);
  qat_rt_model_free(m);
  /* A shape input that disagrees with the stored output. */
  /* The constant stays [-1]: make the stored output 2x2. */
  tm->t[r].rank = 2;
  tm->t[r].dims[0] = 2;
  tm->t[r].dims[1] = 2;
  tm->t[f].rank = 2, tm->t[f].dims[0] = 2, tm->t[f].dims[1] = 2;
  tm->t[u].rank = 2, tm->t[u].dims[0] = 2, tm->t[u].dims[1] = 2;
  expect_refused(tm, QAT_ERR_FORMAT, "the op computes [4]");
  free(tm);
}

static void test_op_float_graph(void **state) {
  (void)state;
  /* float CONV (RELU6) -> MAX_POOL -> MEAN -> FULLY_CONNECTED -> ADD -> LOGISTIC, SOFTMAX:
   * exact values where the float arithmetic is exact. */
  tb_model *tm = new_model();
  const float w[8] = {1, 0, 0, 1, 1, 1, 1, 1}, b[2] = {0.5f, -10.0f};
  const float fw[4] = {1, 2, 3, 4}, fb[2] = {0.25f, -0.25f};
  const int32_t d33[4] = {1, 3, 3, 1}, dw[4] = {2, 2, 2, 1}, db[1] = {2}, d22[4] = {1, 2, 2, 2};
  const int32_t d11[4] = {1, 1, 1, 2}, axes[2] = {1, 2}, dax[1] = {2}, dfw[2] = {2, 2};
  const int32_t d12[2] = {1, 2};
  const int x = tb_tensor_add(tm, "x", F32, 4, d33, NULL, 0);
  const int cw = tb_tensor_add(tm, "w", F32, 4, dw, w, sizeof w);
  const int cb = tb_tensor_add(tm, "b", F32, 1, db, b, sizeof b);
  const int c = tb_tensor_add(tm, "conv", F32, 4, d22, NULL, 0);
  const int p = tb_tensor_add(tm, "pool", F32, 4, d11, NULL, 0);
  const int ax = tb_tensor_add(tm, "axes", I32, 1, dax, axes, sizeof axes);
  const int mn = tb_tensor_add(tm, "mean", F32, 2, d12, NULL, 0);
  const int w2 = tb_tensor_add(tm, "fw", F32, 2, dfw, fw, sizeof fw);
  const int b2 = tb_tensor_add(tm, "fb", F32, 1, db, fb, sizeof fb);
  const int fc = tb_tensor_add(tm, "fc", F32, 2, d12, NULL, 0);
  const int sm = tb_tensor_add(tm, "sm", F32, 2, d12, NULL, 0);
  tb_op *op = tb_op_add(tm, QAT_TFLITE_BUILTIN_CONV_2D, 3, (int32_t[]){x, cw, cb}, 1, (int32_t[]){c});
  op->padding = RT_PAD_VALID, op->stride_w = op->stride_h = 1, op->act = RT_ACT_RELU6;
  op = tb_op_add(tm, QAT_TFLITE_BUILTIN_MAX_POOL_2D, 1, (int32_t[]){c}, 1, (int32_t[]){p});
  op->padding = RT_PAD_VALID, op->stride_w = op->stride_h = 2, op->filter_w = op->filter_h = 2;
  op = tb_op_add(tm, QAT_TFLITE_BUILTIN_MEAN, 2, (int32_t[]){p, ax}, 1, (int32_t[]){mn});
  tb_op_add(tm, QAT_TFLITE_BUILTIN_FULLY_CONNECTED, 3, (int32_t[]){mn, w2, b2}, 1, (int32_t[]){fc});
  tb_op_add(tm, QAT_TFLITE_BUILTIN_SOFTMAX, 1, (int32_t[]){fc}, 1, (int32_t[]){sm})->beta = 1.0f;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 2, tm->out[0] = fc, tm->out[1] = sm;
  qat_rt_model *m = load_built(tm);
  const float xv[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  set_input(m, 0, xv, sizeof xv);
  assert_int_equal(qat_rt_invoke(m), 0);
  /* conv -> [4.5,0, 6,2, 6,6, 6,6]; max pool -> [6, 6]; mean -> [6, 6];
   * fc -> [6+12+0.25, 18+24-0.25] = [18.25, 41.75] */
  const float *fo = output(m, 0);
  assert_true(fo[0] == 18.25f && fo[1] == 41.75f);
  const float *so = output(m, 1);
  const float e = expf(18.25f - 41.75f), sum = e + 1.0f;
  assert_true(so[0] == e / sum && so[1] == 1.0f / sum);
  qat_rt_model_free(m);
  free(tm);
}

static void test_planner(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  qat_rt_model *m = load_fixture("hello_world_int8.tflite");
  /* input (1 byte) and three FC outputs (16, 16, 1) in 16-byte slots; at most two live. */
  assert_int_equal(qat_rt_arena_bytes(m), 32);
  assert_int_equal(qat_rt_activation_bytes(m), 64);
  qat_rt_model_free(m);
  m = load_fixture("micro_speech_quantized.tflite");
  /* depthwise output 4000 and the reshape output 1960 (-> 1968) are live together. */
  assert_int_equal(qat_rt_arena_bytes(m), 5968);
  qat_rt_model_free(m);
  /* Preserving every tensor gives each its own slot; outputs of every op stay readable. */
  char path[512];
  snprintf(path, sizeof path, "%s/hello_world_int8.tflite", FIXTURES);
  qat_rt_options opt = {.preserve_all_tensors = 1};
  assert_int_equal(qat_rt_model_load_file(path, &opt, &m), 0);
  assert_int_equal(qat_rt_arena_bytes(m), 64);
  qat_rt_model_free(m);
}

/* ---- fixtures ------------------------------------------------------------------------------- */

static void test_fixture_hello_world_int8(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  /* The README's golden values (TFLM-ref) hold in both flavours. */
  const int8_t in[4] = {-96, -63, -34, 0}, want[4] = {89, 125, 93, 4};
  qat_rt_options opt = {.flavor = QAT_RT_FLAVOR_TFLM};
  qat_rt_model *m = NULL;
  assert_int_equal(qat_rt_model_load_file(FIXTURES "/hello_world_int8.tflite", &opt, &m), 0);
  for (int i = 0; i < 4; i++) {
    set_input(m, 0, &in[i], 1);
    assert_int_equal(qat_rt_invoke(m), 0);
    assert_int_equal(*(const int8_t *)output(m, 0), want[i]);
  }
  qat_rt_model_free(m);
  m = load_fixture("hello_world_int8.tflite");
  for (int i = 0; i < 4; i++) {
    set_input(m, 0, &in[i], 1);
    assert_int_equal(qat_rt_invoke(m), 0);
    assert_int_equal(*(const int8_t *)output(m, 0), want[i]);
  }
  qat_rt_tensor_info ti;
  assert_int_equal(qat_rt_tensor(m, qat_rt_input(m, 0), &ti), 0);
  assert_string_equal(ti.name, "serving_default_dense_input:0");
  assert_int_equal(ti.type, QAT_RT_INT8);
  assert_int_equal(ti.n_scales, 1);
  assert_true(ti.scales[0] == 0.024480115622282028f);
  assert_int_equal(ti.zero_points[0], -128);
  assert_int_equal(qat_rt_tensor(m, 99, &ti), QAT_ERR_USAGE);
  qat_rt_model_free(m);
}

static void test_fixture_hello_world_float(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  qat_rt_model *m = load_fixture("non_int8/hello_world_float.tflite");
  const float in[4] = {0, 1, 3, 5}, want[4] = {0.0264053f, 0.863044f, 0.127646f, -0.956519f};
  for (int i = 0; i < 4; i++) {
    set_input(m, 0, &in[i], 4);
    assert_int_equal(qat_rt_invoke(m), 0);
    const float y = *(const float *)output(m, 0);
    if (fabsf(y - want[i]) > 1e-6f) fail_msg("x=%g: got %.9g, want %.9g", in[i], y, want[i]);
  }
  qat_rt_model_free(m);
}

static void test_fixture_micro_speech(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  for (int flavor = 0; flavor < 2; flavor++) {
    qat_rt_options opt = {.flavor = (qat_rt_flavor)flavor};
    qat_rt_model *m = NULL;
    assert_int_equal(qat_rt_model_load_file(FIXTURES "/micro_speech_quantized.tflite", &opt, &m),
                     0);
    const char *files[2] = {"micro_speech_yes_features_int8.raw",
                            "micro_speech_no_features_int8.raw"};
    const int8_t want[2][4] = {{-128, -128, 127, -128}, {-128, -114, -128, 114}};
    for (int j = 0; j < 2; j++) {
      char path[512];
      size_t len = 0;
      snprintf(path, sizeof path, "%s/%s", FIXTURES, files[j]);
      uint8_t *buf = tb_read_file(path, &len);
      assert_non_null(buf);
      set_input(m, 0, buf, len);
      free(buf);
      assert_int_equal(qat_rt_invoke(m), 0);
      assert_i8_array(output(m, 0), want[j], 4);
    }
    qat_rt_model_free(m);
  }
}

static void test_fixture_simple_add(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  qat_rt_model *m = load_fixture("simple_add_model.tflite");
  const char *files[3] = {"add_input1_rand_int8.raw", "add_input2_rand_int8.raw",
                          "simple_add_expected_output_int8.raw"};
  uint8_t *bufs[3];
  size_t lens[3];
  for (int j = 0; j < 3; j++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, files[j]);
    bufs[j] = tb_read_file(path, &lens[j]);
    assert_non_null(bufs[j]);
    assert_int_equal(lens[j], 16384);
  }
  set_input(m, 0, bufs[0], lens[0]);
  set_input(m, 1, bufs[1], lens[1]);
  assert_int_equal(qat_rt_invoke(m), 0);
  assert_memory_equal(output(m, 0), bufs[2], 16384);
  for (int j = 0; j < 3; j++) free(bufs[j]);
  qat_rt_model_free(m);
}

/* The dynamic-range ToyCar model (10 hybrid FULLY_CONNECTED, float in and out). Golden values:
 * ai-edge-litert 2.3.0 with OpResolverType.BUILTIN_REF on x[i] = ((i % 13) - 6) / 4. */
static void test_fixture_toycar_hybrid(void **state) {
  (void)state;
  if (!tb_have_fixtures()) {
    skip();
    return;
  }
  qat_rt_model *m = load_fixture("non_int8/model_ToyCar_quant.tflite");
  float x[640];
  for (int i = 0; i < 640; i++) x[i] = (float)((i % 13) - 6) * 0.25f;
  set_input(m, 0, x, sizeof x);
  assert_int_equal(qat_rt_invoke(m), 0);
  const float *y = output(m, 0);
  const float want[4] = {-0x1.1e7acp+5f, -0x1.2c9e3p+4f, -0x1.54024ep+3f, -0x1.6a09c4p+2f};
  for (int i = 0; i < 4; i++)
    if (y[i] != want[i]) fail_msg("y[%d] = %a, want %a", i, (double)y[i], (double)want[i]);
  double sum = 0;
  for (int i = 0; i < 640; i++) sum += y[i];
  assert_true(sum == -0x1.5c1b435e26p+13);
  /* An all-zero input takes TFLite's IsZeroVector shortcut: the output is the last layer's
   * bias through the activations, finite. */
  memset(x, 0, sizeof x);
  set_input(m, 0, x, sizeof x);
  assert_int_equal(qat_rt_invoke(m), 0);
  for (int i = 0; i < 640; i++) assert_true(isfinite(y[i]));
  qat_rt_model_free(m);
}

static void test_op_fc_hybrid(void **state) {
  (void)state;
  /* x = [1, -2, 0.5]: range 2, scale 2/127, q = round(x * 63.5) = [64, -127, 32];
   * rows [1,2,3], [-1,0,1] at weight scale 0.5: dot = -94, -32; out = bias + dot * (2/127 *
   * 0.5), then RELU. */
  tb_model *tm = new_model();
  const int8_t wv[6] = {1, 2, 3, -1, 0, 1};
  const float bv[2] = {0.25f, 100.0f};
  const int32_t din[2] = {1, 3}, dw[2] = {2, 3}, db[1] = {2}, dout[2] = {1, 2};
  const int x = tb_tensor_add(tm, "x", F32, 2, din, NULL, 0);
  const int w = tb_tensor_add(tm, "w", I8, 2, dw, wv, sizeof wv);
  const int b = tb_tensor_add(tm, "b", F32, 1, db, bv, sizeof bv);
  const int y = tb_tensor_add(tm, "y", F32, 2, dout, NULL, 0);
  tb_quant1(tm, w, 0.5f, 0);
  tb_op *op = tb_op_add(tm, QAT_TFLITE_BUILTIN_FULLY_CONNECTED, 3, (int32_t[]){x, w, b}, 1, (int32_t[]){y});
  op->version = 3;
  op->act = RT_ACT_RELU;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
  qat_rt_model *m = load_built(tm);
  const float xv[3] = {1.0f, -2.0f, 0.5f};
  set_input(m, 0, xv, sizeof xv);
  assert_int_equal(qat_rt_invoke(m), 0);
  const float *yo = output(m, 0);
  const float bs = (2.0f / 127) * 0.5f;
  assert_true(yo[0] == 0.0f); /* 0.25 - 94 * bs < 0 -> RELU */
  assert_true(yo[1] == 100.0f + (float)-32 * bs);
  qat_rt_model_free(m);
  free(tm);
  /* No activation and a -0.0 bias: an input of zeros, + or -, is IsZeroVector's (the product
   * is skipped and the bias comes out as -0.0); an input with one value off zero is not */
  tm = new_model();
  const float bz[2] = {-0.0f, 100.0f};
  const int x2 = tb_tensor_add(tm, "x", F32, 2, din, NULL, 0);
  const int w2 = tb_tensor_add(tm, "w", I8, 2, dw, wv, sizeof wv);
  const int b2 = tb_tensor_add(tm, "b", F32, 1, db, bz, sizeof bz);
  const int y2 = tb_tensor_add(tm, "y", F32, 2, dout, NULL, 0);
  tb_quant1(tm, w2, 0.5f, 0);
  tb_op_add(tm, QAT_TFLITE_BUILTIN_FULLY_CONNECTED, 3, (int32_t[]){x2, w2, b2}, 1, (int32_t[]){y2})->version = 3;
  tm->n_in = 1, tm->in[0] = x2, tm->n_out = 1, tm->out[0] = y2;
  m = load_built(tm);
  const float zeros[3][3] = {{0.0f, 0.0f, 0.0f}, {-0.0f, -0.0f, -0.0f}, {-0.0f, 0.0f, 1e-30f}};
  for (int k = 0; k < 3; k++) {
    set_input(m, 0, zeros[k], sizeof zeros[k]);
    assert_int_equal(qat_rt_invoke(m), 0);
    yo = output(m, 0);
    /* -0.0 kept only where the product was skipped (1e-30 is no zero) */
    assert_int_equal(yo[0] == 0.0f && signbit(yo[0]), k < 2);
  }
  qat_rt_model_free(m);
  free(tm);
}

/* ---- int16 (16x8) -------------------------------------------------------------------------- */

static void test_int16_kernels(void **state) {
  (void)state;
  /* CONV_2D 1x1, two input channels: acc = 3 * x0 - 2 * x1 + bias; multiplier 0.5 (q = 2^30,
   * shift 0) through the 64-bit MultiplyByQuantizedMultiplier: reduced = 2^14, (acc * 2^14 +
   * 2^14) >> 15 = floor(acc / 2 + 1/2): ties round toward +infinity. */
  const rt_conv_geom g = {.batches = 1, .in_h = 1, .in_w = 3, .in_c = 2, .out_h = 1, .out_w = 3,
                          .out_c = 1, .k_h = 1, .k_w = 1, .filter_in_c = 2, .stride_h = 1,
                          .stride_w = 1, .dil_h = 1, .dil_w = 1};
  const int32_t mult[1] = {1 << 30};
  const int shift[1] = {0};
  rt_requant q = {.mult = mult, .shift = shift, .act_min = -32768, .act_max = 32767};
  const int16_t x[6] = {1000, -2000, 1000, -2000, -1000, 2001};
  const int8_t w[2] = {3, -2};
  const int64_t bias1[1] = {500}, bias2[1] = {501};
  int16_t y[3];
  rt_conv2d_i16(&g, &q, x, w, bias1, y); /* acc 7500, 7500, -7002 + 500 = -6502 */
  assert_int_equal(y[0], 3750);
  assert_int_equal(y[1], 3750);
  assert_int_equal(y[2], -3251);
  rt_conv2d_i16(&g, &q, x, w, bias2, y); /* acc 7501 -> 3750.5 -> 3751; -6501 -> -3250.5 */
  assert_int_equal(y[0], 3751);
  assert_int_equal(y[2], -3250); /* half toward +infinity */
  q.act_min = 0;                 /* a fused ReLU: clamp at the zero point */
  rt_conv2d_i16(&g, &q, x, w, bias2, y);
  assert_int_equal(y[2], 0);

  /* depthwise ignores offsets; FULLY_CONNECTED in double: round(acc * eff) */
  const double eff[1] = {0.25};
  rt_requant qf = {.mult = mult, .shift = shift, .act_min = -32768, .act_max = 32767, .eff = eff};
  const int16_t xf[2] = {1000, -2000};
  const int64_t bf[1] = {2};
  int16_t yf[1];
  rt_fc_i16(1, 2, 1, &qf, xf, w, bf, yf); /* (7000 + 2) * 0.25 = 1750.5 -> 1751 (away from 0) */
  assert_int_equal(yf[0], 1751);
  qf.eff = NULL; /* the fixed-point path: (7002 * 2^14 + 2^14) >> 15 = 3501 */
  rt_fc_i16(1, 2, 1, &qf, xf, w, bf, yf);
  assert_int_equal(yf[0], 3501);

  /* pools: the average of 3, -4 and 32767 counts in-image taps only, rounds half away from 0 */
  const rt_pool_geom pg = {.batches = 1, .in_h = 1, .in_w = 3, .c = 1, .out_h = 1, .out_w = 2,
                           .f_h = 1, .f_w = 2, .stride_h = 1, .stride_w = 2, .pad_h = 0, .pad_w = 0};
  const int16_t px[3] = {3, -4, 32767};
  int16_t py[2];
  assert_int_equal(rt_avgpool_i16(&pg, -32768, 32767, px, py), 0);
  assert_int_equal(py[0], -1); /* -0.5 -> -1 */
  assert_int_equal(py[1], 32767);
  rt_maxpool_i16(&pg, -32768, 32767, px, py);
  assert_int_equal(py[0], 3);
  assert_int_equal(py[1], 32767);

  /* SOFTMAX's tables: exp(-10) * 32768 = 1.49 at the first entry, exp(0) * 32768 clamped to
   * 32767 at the last; 1 / (1 + 0) = 1 -> 32767, 1 / (1 + 1) -> 16384. */
  int16_t lut[2 * 513];
  rt_softmax_i16_luts(lut, lut + 513);
  assert_true(lut[0] >= 1 && lut[0] <= 2);
  assert_int_equal(lut[512], 32767);
  assert_int_equal(lut[513], 32767);
  assert_int_equal(lut[513 + 512], 16384);
  /* LUTLookup interpolates: -32768 is entry 0, 32767 is 127/128 of the way into the last step */
  assert_int_equal(rt_lut_lookup_i16(-32768, lut), lut[0]);
  assert_int_equal(rt_lut_lookup_i16(32767, lut),
                   lut[511] + (((lut[512] - lut[511]) * 127 + 64) >> 7));
  /* rows: two equal values share 1/2 (16384 of 32768), one value alone is 1 (32767); a value
   * 10 / (beta * scale) below the max gets exp(-10) / (1 + exp(-10)) -> about 1.5 */
  int32_t sm;
  int ss;
  assert_int_equal(qat_quantize_multiplier(1e-3 / (10.0 / 65535.0), &sm, &ss), 0);
  const int16_t sx[5] = {700, 700, -5, 10000, 0};
  int16_t sy[5];
  rt_softmax_i16(1, 2, sm, ss, lut, sx, sy);
  assert_true(sy[0] == sy[1] && abs(sy[0] - 16384) <= 1);
  rt_softmax_i16(1, 1, sm, ss, lut, sx + 2, sy + 2);
  assert_true(sy[2] >= 32766);
  rt_softmax_i16(1, 2, sm, ss, lut, sx + 3, sy + 3); /* 0 is 10.0 below 10000 at scale 1e-3 */
  assert_true(sy[3] >= 32765 && sy[4] >= 1 && sy[4] <= 2);
}

static void test_op_int16(void **state) {
  (void)state;
  /* FULLY_CONNECTED 16x8 through the interpreter: x = [1000, -2000] at 1e-3, w = [3, -2] at 0.5,
   * bias 500 at 5e-4 (INT64), output scale 1e-3: acc 7500, eff 0.5 -> 3750. */
  const int8_t wv[2] = {3, -2};
  int64_t bv[1] = {500};
  const int32_t din[2] = {1, 2}, dw[2] = {1, 2}, db[1] = {1}, dout[2] = {1, 1};
  for (int variant = 0; variant < 4; variant++) {
    tb_model *tm = new_model();
    const int x = tb_tensor_add(tm, "x", I16, 2, din, NULL, 0);
    const int w = tb_tensor_add(tm, "w", I8, 2, dw, wv, sizeof wv);
    const int b = tb_tensor_add(tm, "b", I64, 1, db, bv, sizeof bv);
    const int y = tb_tensor_add(tm, "y", I16, 2, dout, NULL, 0);
    tb_quant1(tm, x, 1e-3f, variant == 1 ? 5 : 0);
    tb_quant1(tm, w, 0.5f, 0);
    tb_quant1(tm, b, 5e-4f, 0);
    tb_quant1(tm, y, 1e-3f, 0);
    tb_op_add(tm, QAT_TFLITE_BUILTIN_FULLY_CONNECTED, 3, (int32_t[]){x, w, b}, 1, (int32_t[]){y});
    tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
    if (variant == 1) {
      expect_refused(tm, QAT_ERR_FORMAT, "int16 input tensor 'x' has zero point 5");
    } else if (variant == 2) {
      bv[0] = (int64_t)1 << 46; /* could push the int64 accumulator past 2^47 */
      expect_refused(tm, QAT_ERR_UNSUPPORTED, "beyond 2^46");
      bv[0] = 500;
    } else if (variant == 3) {
      tm->t[b].type = I32; /* an int32 bias needs quantized_bias_type */
      tm->t[b].bytes = 4;
      expect_refused(tm, QAT_ERR_UNSUPPORTED, "INT16 kernels take INT64 bias");
    } else {
      qat_rt_model *m = load_built(tm);
      const int16_t xv[2] = {1000, -2000};
      set_input(m, 0, xv, sizeof xv);
      assert_int_equal(qat_rt_invoke(m), 0);
      assert_int_equal(((const int16_t *)output(m, 0))[0], 3750);
      qat_rt_model_free(m);
    }
    free(tm);
  }
}

/* REDUCE_MAX: a 2x3x2 float input over axes {-1, 1} (a negative and a repeated axis), with and
 * without keep_dims; -inf stays the type's lowest value and a NaN never wins, as reduce.cc's
 * `in > current` reducer; int8 keeps the input's quantization and refuses another. */
static void test_op_reduce_max(void **state) {
  (void)state;
  const float inf = INFINITY, nan = NAN;
  const float xf[12] = {1, -2, 3, nan, -5, 0.5f, -inf, -inf, -inf, nan, -inf, -inf};
  const int32_t dx[3] = {2, 3, 2}, dk[3] = {2, 1, 1}, dn[1] = {2}, dax[1] = {3};
  const int32_t axes[3] = {-1, 1, 2};
  for (int kd = 0; kd < 2; kd++) {
    tb_model *tm = new_model();
    const int x = tb_tensor_add(tm, "x", F32, 3, dx, NULL, 0);
    const int a = tb_tensor_add(tm, "axes", I32, 1, dax, axes, sizeof axes);
    const int y = tb_tensor_add(tm, "y", F32, kd ? 3 : 1, kd ? dk : dn, NULL, 0);
    tb_op *op = tb_op_add(tm, QAT_RT_OP_REDUCE_MAX, 2, (int32_t[]){x, a}, 1, (int32_t[]){y});
    op->keep_dims = kd;
    tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
    qat_rt_model *m = load_built(tm);
    set_input(m, 0, xf, sizeof xf);
    assert_int_equal(qat_rt_invoke(m), 0);
    const float *got = output(m, 0);
    assert_true(got[0] == 3.0f);
    assert_true(got[1] == -FLT_MAX);
    qat_rt_model_free(m);
    free(tm);
  }
  /* int8 [1, 4] over axis 1: the max, in the input's quantization. */
  tb_model *tm = new_model();
  const int32_t d14[2] = {1, 4}, d1[1] = {1}, ax1[1] = {1};
  const int x = tb_tensor_add(tm, "x", I8, 2, d14, NULL, 0);
  const int a = tb_tensor_add(tm, "axes", I32, 1, d1, ax1, sizeof ax1);
  const int y = tb_tensor_add(tm, "y", I8, 1, d1, NULL, 0);
  tb_quant1(tm, x, 0.25f, -3);
  tb_quant1(tm, y, 0.25f, -3);
  tb_op *op = tb_op_add(tm, QAT_RT_OP_REDUCE_MAX, 2, (int32_t[]){x, a}, 1, (int32_t[]){y});
  op->version = 2;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
  qat_rt_model *m = load_built(tm);
  const int8_t xi[4] = {-128, 17, -3, 16};
  set_input(m, 0, xi, sizeof xi);
  assert_int_equal(qat_rt_invoke(m), 0);
  assert_int_equal(((const int8_t *)output(m, 0))[0], 17);
  qat_rt_model_free(m);
  tm->t[y].scales[0] = 0.5f;
  expect_refused(tm, QAT_ERR_UNSUPPORTED, "do not rescale");
  free(tm);
}

/* One resize op on x of shape din to size sz (flags: align_corners, half_pixel_centers), run on
 * xin; the output bytes compared with want (computed by hand in the test). */
static void resize_case(int code, int type, const int32_t *din, const int32_t sz[2], int ac, int hp, const void *xin,
                        const void *want, size_t out_bytes) {
  tb_model *tm = new_model();
  const int32_t dout[4] = {din[0], sz[0], sz[1], din[3]}, two[1] = {2};
  const int x = tb_tensor_add(tm, "x", type, 4, din, NULL, 0);
  const int s = tb_tensor_add(tm, "size", I32, 1, two, sz, 2 * sizeof(int32_t));
  const int y = tb_tensor_add(tm, "y", type, 4, dout, NULL, 0);
  if (type != F32) {
    tb_quant1(tm, x, 0.5f, 0);
    tb_quant1(tm, y, 0.5f, 0);
  }
  tb_op *op = tb_op_add(tm, code, 2, (int32_t[]){x, s}, 1, (int32_t[]){y});
  op->align_corners = ac;
  op->half_pixel_centers = hp;
  op->version = type == I16 ? 4 : 3;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
  qat_rt_model *m = load_built(tm);
  const size_t in_bytes = (size_t)din[0] * din[1] * din[2] * din[3] * (type == F32 ? 4 : type == I16 ? 2 : 1);
  set_input(m, 0, xin, in_bytes);
  assert_int_equal(qat_rt_invoke(m), 0);
  assert_memory_equal(output(m, 0), want, out_bytes);
  qat_rt_model_free(m);
  free(tm);
}

/* Hand-computed resizes. Bilinear, half-pixel centers, 1 x 2 -> 1 x 4 of channels {0, 10} and
 * {0, -10}: source columns -0.25, 0.25, 0.75, 1.25 give 0, 2.5, 7.5, 10 (the ends clamp);
 * the integer kernels round the halves away from zero (3, 8). Nearest: 2 x 2 -> 4 x 4 with
 * half-pixel centers repeats each pixel twice; 1 x 2 -> 1 x 3 takes columns 0, 0, 1 plainly
 * (floor of 0, 2/3, 4/3) and 0, 1, 1 with aligned corners (round of 0, 0.5, 1). */
static void test_op_resize(void **state) {
  (void)state;
  const int32_t d1122[4] = {1, 1, 2, 2}, s14[2] = {1, 4};
  const float xf[4] = {0, 0, 10, -10}, yf[8] = {0, 0, 2.5f, -2.5f, 7.5f, -7.5f, 10, -10};
  const int8_t x8[4] = {0, 0, 10, -10}, y8[8] = {0, 0, 3, -3, 8, -8, 10, -10};
  const int16_t x16[4] = {0, 0, 10, -10}, y16[8] = {0, 0, 3, -3, 8, -8, 10, -10};
  resize_case(QAT_RT_OP_RESIZE_BILINEAR, F32, d1122, s14, 0, 1, xf, yf, sizeof yf);
  resize_case(QAT_RT_OP_RESIZE_BILINEAR, I8, d1122, s14, 0, 1, x8, y8, sizeof y8);
  resize_case(QAT_RT_OP_RESIZE_BILINEAR, I16, d1122, s14, 0, 1, x16, y16, sizeof y16);
  const int32_t d1221[4] = {1, 2, 2, 1}, s44[2] = {4, 4};
  const int8_t n8[4] = {1, 2, 3, 4}, n8o[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  resize_case(QAT_RT_OP_RESIZE_NEAREST_NEIGHBOR, I8, d1221, s44, 0, 1, n8, n8o, sizeof n8o);
  const int32_t d1121[4] = {1, 1, 2, 1}, s13[2] = {1, 3};
  const float nf[2] = {5, 7}, plain[3] = {5, 5, 7}, aligned[3] = {5, 7, 7};
  resize_case(QAT_RT_OP_RESIZE_NEAREST_NEIGHBOR, F32, d1121, s13, 0, 0, nf, plain, sizeof plain);
  resize_case(QAT_RT_OP_RESIZE_NEAREST_NEIGHBOR, F32, d1121, s13, 1, 0, nf, aligned, sizeof aligned);
  const int16_t n16[2] = {-5, 7}, a16[3] = {-5, 7, 7};
  resize_case(QAT_RT_OP_RESIZE_NEAREST_NEIGHBOR, I16, d1121, s13, 1, 0, n16, a16, sizeof a16);
  /* both flags: refused as TFLite's Prepare refuses it */
  tb_model *tm = new_model();
  const int32_t two[1] = {2};
  const int x = tb_tensor_add(tm, "x", F32, 4, d1121, NULL, 0);
  const int s = tb_tensor_add(tm, "size", I32, 1, two, s13, sizeof s13);
  const int y = tb_tensor_add(tm, "y", F32, 4, (int32_t[]){1, 1, 3, 1}, NULL, 0);
  tb_op *op = tb_op_add(tm, QAT_RT_OP_RESIZE_BILINEAR, 2, (int32_t[]){x, s}, 1, (int32_t[]){y});
  op->align_corners = op->half_pixel_centers = 1;
  op->version = 3;
  tm->n_in = 1, tm->in[0] = x, tm->n_out = 1, tm->out[0] = y;
  expect_refused(tm, QAT_ERR_FORMAT, "half_pixel_centers and align_corners");
  free(tm);
}

/* Every operator of RT_OPS is found by its code and named by it. */
static void test_op_table(void **state) {
  (void)state;
#define CHECK_(name)                                                     \
  assert_ptr_equal(rt_op_find(QAT_RT_OP_##name), &rt_op_##name);        \
  assert_string_equal(qat_rt_op_name(rt_op_##name.code), #name);        \
  assert_true(rt_op_##name.max_version >= 1 && rt_op_##name.prepare != NULL);
  RT_OPS(CHECK_)
#undef CHECK_
  assert_null(rt_op_find(QAT_RT_OP_CUSTOM));
  assert_null(rt_op_find(-1));
}

static void test_load_errors(void **state) {
  (void)state;
  qat_rt_model *m = (qat_rt_model *)1;
  assert_int_equal(qat_rt_model_load_file("/nonexistent/dir/m.tflite", NULL, &m), QAT_ERR_IO);
  assert_null(m);
  assert_non_null(strstr(qat_error_message(), "/nonexistent/dir/m.tflite: cannot open"));
  assert_int_equal(qat_rt_model_load_file("/", NULL, &m), QAT_ERR_IO);
  assert_string_equal(qat_rt_type_name(QAT_RT_INT8), "INT8");
  assert_string_equal(qat_rt_type_name(99), "?");
  assert_int_equal(qat_rt_type_size(QAT_RT_FLOAT32), 4);
  assert_string_equal(qat_rt_op_name(QAT_RT_OP_DEPTHWISE_CONV_2D), "DEPTHWISE_CONV_2D");
  assert_string_equal(qat_rt_op_name(-1), "?");
}

/* int8 ADD and MUL through rt_bcast_rows on shapes whose rows are many and merge (a
 * squeeze-excite scale [1, 1, 1, C], a per-pixel gate [1, H, W, 1], a batch of 2 whose scale
 * changes per image), large enough to be split into blocks of rows: each element against the
 * reference arithmetic written out here. */
static int32_t clamp_i8(int32_t v, const rt_add_params *p) { return v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : v; }

static void test_bcast_rows_i8(void **state) {
  (void)state;
  static const int64_t shapes[][2][4] = {
      {{1, 48, 48, 32}, {1, 1, 1, 32}}, {{1, 64, 40, 16}, {1, 64, 40, 1}}, {{2, 30, 30, 24}, {2, 1, 1, 24}},
      {{1, 9, 7, 1000}, {1, 1, 1, 1000}}, {{1, 128, 128, 5}, {1, 1, 128, 5}}};
  uint32_t seed = 12345;
  for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
    const int64_t *d1 = shapes[t][0], *d2 = shapes[t][1];
    const int64_t n1 = d1[0] * d1[1] * d1[2] * d1[3], n2 = d2[0] * d2[1] * d2[2] * d2[3];
    int8_t *a = malloc((size_t)n1), *b = malloc((size_t)n2), *out = malloc((size_t)n1);
    assert_non_null(a), assert_non_null(b), assert_non_null(out);
    for (int64_t i = 0; i < n1; i++) a[i] = (int8_t)((seed = seed * 1103515245u + 12345u) >> 16);
    for (int64_t i = 0; i < n2; i++) b[i] = (int8_t)((seed = seed * 1103515245u + 12345u) >> 16);
    rt_bcast bc = {.dims = {1, 1, d1[0], d1[1], d1[2], d1[3]}};
    int64_t st1 = 1, st2 = 1;
    for (int k = 3; k >= 0; k--) {
      bc.s1[k + 2] = st1, bc.s2[k + 2] = d2[k] == 1 ? 0 : st2;
      st1 *= d1[k], st2 *= d2[k];
    }
    const rt_add_params p = {.in1_offset = 7, .in2_offset = -3, .out_zp = -5, .left_shift = 20,
                             .m1 = 1518500250, .m2 = 1288490189, .mo = 1717986918,
                             .s1 = -1, .s2 = -2, .so = t % 2 ? -18 : -17, .act_min = -128, .act_max = t == 2 ? 90 : 127};
    for (int op = 0; op < 2; op++) {
      rt_add_params q = p;
      if (op) q.mo = 1400000000, q.so = -7;
      memset(out, 0x5a, (size_t)n1);
      if (op) rt_mul_i8(&bc, &q, a, b, out);
      else rt_add_i8(&bc, &q, a, b, out);
      for (int64_t i0 = 0; i0 < d1[0]; i0++)
        for (int64_t i1 = 0; i1 < d1[1]; i1++)
          for (int64_t i2 = 0; i2 < d1[2]; i2++)
            for (int64_t i3 = 0; i3 < d1[3]; i3++) {
              const int64_t at = ((i0 * d1[1] + i1) * d1[2] + i2) * d1[3] + i3;
              const int64_t at2 = (((d2[0] == 1 ? 0 : i0) * d2[1] + (d2[1] == 1 ? 0 : i1)) * d2[2] + (d2[2] == 1 ? 0 : i2)) *
                                      d2[3] + (d2[3] == 1 ? 0 : i3);
              const int32_t x = a[at] + q.in1_offset, y = b[at2] + q.in2_offset;
              int32_t r;
              if (op) {
                r = qat_multiply_by_quantized_multiplier(x * y, q.mo, q.so);
              } else {
                const int32_t s = qat_multiply_by_quantized_multiplier((int32_t)((uint32_t)x << q.left_shift), q.m1, q.s1) +
                                  qat_multiply_by_quantized_multiplier((int32_t)((uint32_t)y << q.left_shift), q.m2, q.s2);
                r = qat_multiply_by_quantized_multiplier(s, q.mo, q.so);
              }
              const int32_t want = clamp_i8(r + q.out_zp, &q);
              if (out[at] != want)
                fail_msg("shape %zu %s element %lld: %d, want %d", t, op ? "MUL" : "ADD", (long long)at, out[at], want);
            }
    }
    free(a), free(b), free(out);
  }
}

/* int8 ADD over every pair of input values, for input multipliers with every right shift 0..12
 * (the AVX-512 kernel's 32-bit rescale takes 0..11 and leaves 12 to the 64-bit one), small
 * ones it must leave too, and random offsets: each output against the reference arithmetic. */
static void test_add_every_pair(void **state) {
  (void)state;
  enum { N = 65536 };
  int8_t *a = malloc(N), *b = malloc(N), *out = malloc(N);
  assert_non_null(a), assert_non_null(b), assert_non_null(out);
  for (int i = 0; i < N; i++) a[i] = (int8_t)(i >> 8), b[i] = (int8_t)i;
  uint32_t seed = 777;
#define NEXT() (seed = seed * 1664525u + 1013904223u)
  rt_bcast bc = {.dims = {1, 1, 1, 1, 1, N}, .s1 = {0, 0, 0, 0, 0, 1}, .s2 = {0, 0, 0, 0, 0, 1}};
  for (int trial = 0; trial < 52; trial++) {
    rt_add_params p = {.in1_offset = (int32_t)(NEXT() % 256) - 127, .in2_offset = (int32_t)(NEXT() % 256) - 127,
                       .out_zp = (int32_t)(NEXT() % 256) - 128, .left_shift = 20,
                       .m1 = (int32_t)((1u << 30) + (NEXT() >> 2)), .m2 = (int32_t)((1u << 30) + (NEXT() >> 2)),
                       .mo = (int32_t)((1u << 30) + (NEXT() >> 2)), .s1 = -(trial % 13), .s2 = -((trial / 13 + trial) % 13),
                       .so = -(int)(15 + NEXT() % 8), .act_min = -128, .act_max = 127};
    if (trial % 13 == 5) p.m1 = 1000 + (int32_t)(NEXT() % 100); /* at or below 2^(30 - 20): x < 0 no longer decides */
    if (trial % 17 == 3) p.m2 = 0;
    if (trial % 4 == 1) p.act_min = (int32_t)(NEXT() % 100) - 128, p.act_max = 127 - (int32_t)(NEXT() % 100);
    rt_add_i8(&bc, &p, a, b, out);
    for (int i = 0; i < N; i++) {
      const int32_t x = a[i] + p.in1_offset, y = b[i] + p.in2_offset;
      const int32_t s = qat_multiply_by_quantized_multiplier((int32_t)((uint32_t)x << 20), p.m1, p.s1) +
                        qat_multiply_by_quantized_multiplier((int32_t)((uint32_t)y << 20), p.m2, p.s2);
      const int32_t want = clamp_i8(qat_multiply_by_quantized_multiplier(s, p.mo, p.so) + p.out_zp, &p);
      if (out[i] != want)
        fail_msg("trial %d (m1 %d s1 %d, m2 %d s2 %d): a %d b %d: %d, want %d", trial, p.m1, p.s1, p.m2, p.s2, a[i], b[i],
                 out[i], want);
    }
  }
#undef NEXT
  free(a), free(b), free(out);
}

/* the AVX-512 ADD's 32-bit input rescale, against MultiplyByQuantizedMultiplier on every
 * |x| <= 255, every right shift it takes (0..11) and the ones it must refuse */
static void test_add_rescale_32bit(void **state) {
  (void)state;
  int32_t x[511], got[511];
  for (int i = 0; i < 511; i++) x[i] = i - 255;
  uint32_t seed = 99;
  int taken = 0;
  for (int trial = 0; trial < 2000; trial++) {
    const int e = trial % 14;
    seed = seed * 1664525u + 1013904223u;
    int32_t m = (int32_t)((1u << 30) + (seed >> 2));
    if (trial % 50 == 7) m = INT32_MAX;
    if (trial % 50 == 8) m = INT32_C(1) << 30;
    if (trial % 50 == 9) m = 1025; /* just above 2^(30 - 20) */
    if (trial % 50 == 10) m = 1024; /* refused */
    for (int isa = 0; isa < 2; isa++) { /* AVX-512, AVX2 */
      const int rc = isa ? rt_add_rescale_avx2(m, -e, 20, x, 511, got) : rt_add_rescale_avx512(m, -e, 20, x, 511, got);
      const int have = isa ? rt_igemm_path() != RT_IGEMM_PLAIN : rt_simd_avx512();
      if (rc && have && e <= 11 && m > 1024) fail_msg("%s refused e %d m %d", isa ? "AVX2" : "AVX-512", e, m);
      if (!rc && (e > 11 || m <= 1024)) fail_msg("%s took e %d m %d", isa ? "AVX2" : "AVX-512", e, m);
      if (rc) continue;
      taken++;
      for (int i = 0; i < 511; i++) {
        const int32_t want = qat_multiply_by_quantized_multiplier((int32_t)((uint32_t)x[i] << 20), m, -e);
        if (got[i] != want) fail_msg("%s: x %d m %d e %d: %d, want %d", isa ? "AVX2" : "AVX-512", x[i], m, e, got[i], want);
      }
    }
  }
  if (rt_simd_avx512()) assert_true(taken > 3000);
}

/* int8 MEAN over the pixels of [2, 40, 41, 37] (past the AVX-512 sums' 255-pixel int16 runs),
 * all -128 or mixed: each output against the reference arithmetic written out */
static void test_mean_i8_pixels(void **state) {
  (void)state;
  enum { B = 2, H = 40, W = 41, C = 37 };
  int8_t *in = malloc((size_t)B * H * W * C), out[B * C];
  int32_t scratch[B * C];
  assert_non_null(in);
  rt_reduce_geom g = {.rank = 4, .dims = {B, H, W, C}, .axis_mask = 6u, .n_out = B * C, .n_reduce = H * W};
  uint32_t seed = 5;
  for (int fill = 0; fill < 3; fill++) {
    for (int64_t i = 0; i < (int64_t)B * H * W * C; i++)
      in[i] = fill == 0 ? -128 : fill == 1 ? 127 : (int8_t)((seed = seed * 1103515245u + 12345u) >> 16);
    const int32_t in_zp = fill == 2 ? -7 : 3, out_zp = -20, mult = 1500000000;
    const int shift = -11;
    rt_mean_i8(&g, in_zp, out_zp, mult, shift, in, out, scratch);
    for (int b = 0; b < B; b++)
      for (int c = 0; c < C; c++) {
        int64_t sum = 0;
        for (int64_t px = 0; px < H * W; px++) sum += in[((int64_t)b * H * W + px) * C + c];
        const int32_t centered = (int32_t)(uint32_t)(uint64_t)(sum - (int64_t)in_zp * H * W);
        int32_t want = qat_multiply_by_quantized_multiplier(centered, mult, shift) + out_zp;
        want = want < -128 ? -128 : want > 127 ? 127 : want;
        if (out[b * C + c] != want) fail_msg("fill %d batch %d channel %d: %d, want %d", fill, b, c, out[b * C + c], want);
      }
  }
  free(in);
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "write-models"))
    return tb_write_random_models(argv[2], atoi(argv[3]));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fp_exp_and_reciprocal),
      cmocka_unit_test(test_bcast_rows_i8),
      cmocka_unit_test(test_add_every_pair),
      cmocka_unit_test(test_add_rescale_32bit),
      cmocka_unit_test(test_mean_i8_pixels),
      cmocka_unit_test(test_softmax_i8_cases),
      cmocka_unit_test(test_conv_i8_kernel),
      cmocka_unit_test(test_pool_i8_kernels),
      cmocka_unit_test(test_misc_i8_kernels),
      cmocka_unit_test(test_float_kernels),
      cmocka_unit_test(test_op_conv2d_i8),
      cmocka_unit_test(test_op_depthwise_i8),
      cmocka_unit_test(test_op_fully_connected_i8),
      cmocka_unit_test(test_op_pool_mean_i8),
      cmocka_unit_test(test_op_add_softmax_logistic_i8),
      cmocka_unit_test(test_op_quantize_reshape_float),
      cmocka_unit_test(test_op_float_graph),
      cmocka_unit_test(test_planner),
      cmocka_unit_test(test_fixture_hello_world_int8),
      cmocka_unit_test(test_fixture_hello_world_float),
      cmocka_unit_test(test_fixture_micro_speech),
      cmocka_unit_test(test_fixture_simple_add),
      cmocka_unit_test(test_fixture_toycar_hybrid),
      cmocka_unit_test(test_op_fc_hybrid),
      cmocka_unit_test(test_int16_kernels),
      cmocka_unit_test(test_op_int16),
      cmocka_unit_test(test_op_reduce_max),
      cmocka_unit_test(test_op_resize),
      cmocka_unit_test(test_op_table),
      cmocka_unit_test(test_load_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
