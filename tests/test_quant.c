/* Tests for fakequant/: quantization parameters, rounding, fixed-point requantization,
 * fake quant, bias, observers.
 *
 * Expected values are written out, not recomputed with the code under test. They were
 * derived independently: scales and zero points in Python double arithmetic with explicit
 * float32 rounding (struct.pack('<f')) and exact rounding through fractions.Fraction;
 * QuantizeMultiplier pairs with exact rationals (2^(e-1) <= m < 2^e, q = round(m * 2^(31-e)));
 * fixed-point primitives by hand and by an independent int64/__int128 reference below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <string.h>

#include "qat/error.h"
#include "qat/quant.h"

/* cmocka 1.1.5 has no float assertions: compare bit patterns, so -0.0 != +0.0 and the last
 * bit counts. */
#define assert_float_bits(a, b)                                                               \
  do {                                                                                      \
    float fa_ = (a), fb_ = (b);                                                             \
    uint32_t ua_, ub_;                                                                      \
    memcpy(&ua_, &fa_, 4);                                                                  \
    memcpy(&ub_, &fb_, 4);                                                                  \
    if (ua_ != ub_) fail_msg("%s = %a (0x%08x), expected %a (0x%08x)", #a, (double)fa_, ua_, \
                             (double)fb_, ub_);                                             \
  } while (0)

#define assert_msg_contains(needle)                                                           \
  do {                                                                                      \
    if (!strstr(qat_error_message(), (needle)))                                             \
      fail_msg("error message '%s' lacks '%s'", qat_error_message(), (needle));             \
  } while (0)

/* ---- rounding ------------------------------------------------------------------ */

static void test_rounding_half_away(void **state) {
  (void)state;
  assert_float_bits(qat_roundf(0.5f), 1.0f);
  assert_float_bits(qat_roundf(-0.5f), -1.0f);
  assert_float_bits(qat_roundf(1.5f), 2.0f);
  assert_float_bits(qat_roundf(2.5f), 3.0f); /* half-to-even would give 2 */
  assert_float_bits(qat_roundf(-2.5f), -3.0f);
  assert_float_bits(qat_roundf(0.49999997f), 0.0f); /* largest float below 0.5 */
  assert_float_bits(qat_roundf(-0.0f), -0.0f);
  assert_float_bits(qat_roundf(-0.25f), -0.0f);
  assert_true(qat_round(2.5) == 3.0 && qat_round(-2.5) == -3.0);
  assert_true(qat_round(0.49999999999999994) == 0.0); /* the naive floor(x + 0.5) gives 1 */
}

/* ---- range -> params ------------------------------------------------------------- */

typedef struct {
  float min, max, scale;
  int32_t zp;
  float nmin, nmax;
} range_case;

static void test_params_from_range_table(void **state) {
  (void)state;
  static const range_case cases[] = {
      {0.0f, 1.0f, 0x1.010102p-8f, -128, 0.0f, 1.0f},
      /* zero point -0.5 exactly in double: half away from zero gives -1 (half-even 0) */
      {-1.0f, 1.0f, 0x1.010102p-7f, -1, -0x1.fdfep-1f, 0x1.010102p+0f},
      {-3.0f, 5.0f, 0x1.010102p-5f, -32, -0x1.818184p+1f, 0x1.3f3f4p+2f},
      /* all zeros: scale 1, zp qmin (MLIR fakeQuantAttrsToType special case) */
      {0.0f, 0.0f, 1.0f, -128, 0.0f, 255.0f},
      /* min == max != 0: widened to [0, 3] (BAD-INPUTS G2) */
      {3.0f, 3.0f, 0x1.818182p-7f, -128, 0.0f, 3.0f},
      {-2.0f, -2.0f, 0x1.010102p-7f, 127, -2.0f, 0.0f},
      /* ranges not containing 0 are widened, not shifted (TF's Nudge would give [0, 4]) */
      {2.0f, 6.0f, 0x1.818182p-6f, -128, 0.0f, 6.0f},
      {-6.0f, -2.0f, 0x1.818182p-6f, 127, -6.0f, 0.0f},
      /* huge finite outliers (G3): finite scale */
      {-1e30f, 1e30f, 0x1.957b1p+92f, -1, -0x1.92501ap+99f, 0x1.957b1p+99f},
      {-1e38f, 1e38f, 0x1.2e1b4ep+119f, -1, -0x1.2bbf18p+126f, 0x1.2e1b4ep+126f},
      {-0.5f, 0.1f, 0x1.34679ap-9f, 84, -0x1.fecb98p-2f, 0x1.9e6b36p-4f},
      /* zp_from_min and zp_from_max round differently in double; the smaller-error end wins
       * (getNudgedScaleAndZeroPoint). A from-min-only formula gives 0, 84, -18 here. */
      {-0x1.435ac8p+6f, 0x1.435ac8p+6f, 0x1.449f68p-1f, -1, -0x1.42162ap+6f, 0x1.449f68p+6f},
      {-0x1.570462p+7f, 0x1.1269e8p+5f, 0x1.9d3c18p-1f, 85, -0x1.57d3p+7f, 0x1.0f2f7p+5f},
      {-0x1.36c798p+5f, 0x1.966778p+5f, 0x1.67ff88p-2f, -17, -0x1.382f98p+5f, 0x1.94ff78p+5f},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const range_case *c = &cases[i];
    float s = -1.0f, nmin, nmax;
    int32_t zp = 12345;
    if (qat_quant_params_from_range(c->min, c->max, -128, 127, &s, &zp) != 0)
      fail_msg("case %zu: %s", i, qat_error_message());
    if (zp != c->zp) fail_msg("case %zu [%a, %a]: zp %d, expected %d", i, (double)c->min,
                              (double)c->max, zp, c->zp);
    assert_float_bits(s, c->scale);
    qat_quant_nudged_range(s, zp, -128, 127, &nmin, &nmax);
    assert_float_bits(nmin, c->nmin);
    assert_float_bits(nmax, c->nmax);
    /* 0.0 is exact: it quantizes to zp and dequantizes to +0.0 */
    assert_int_equal(qat_quantize_value(0.0f, s, zp, -128, 127), zp);
    assert_float_bits(qat_dequantize_value(zp, s, zp), 0.0f);
  }
}

static void test_params_from_range_rejects(void **state) {
  (void)state;
  float s;
  int32_t zp;
  assert_int_equal(qat_quant_params_from_range(-INFINITY, 1.0f, -128, 127, &s, &zp),
                   QAT_ERR_DIVERGED);
  assert_int_equal(qat_quant_params_from_range(0.0f, INFINITY, -128, 127, &s, &zp),
                   QAT_ERR_DIVERGED);
  assert_int_equal(qat_quant_params_from_range(NAN, 1.0f, -128, 127, &s, &zp),
                   QAT_ERR_DIVERGED);
  assert_int_equal(qat_quant_params_from_range(0.0f, NAN, -128, 127, &s, &zp),
                   QAT_ERR_DIVERGED);
  assert_msg_contains("not finite");
  assert_int_equal(qat_quant_params_from_range(2.0f, 1.0f, -128, 127, &s, &zp), QAT_ERR_USAGE);
  assert_int_equal(qat_quant_params_from_range(0.0f, 1.0f, 127, -128, &s, &zp), QAT_ERR_USAGE);
  assert_int_equal(qat_quant_params_from_range(0.0f, 1.0f, 5, 5, &s, &zp), QAT_ERR_USAGE);
  /* the nudged range of [-FLT_MAX, FLT_MAX] is [-127 s, 128 s] with 128 s > FLT_MAX */
  assert_int_equal(qat_quant_params_from_range(-FLT_MAX, FLT_MAX, -128, 127, &s, &zp),
                   QAT_ERR_UNSUPPORTED);
}

static void test_params_symmetric(void **state) {
  (void)state;
  float s;
  assert_int_equal(qat_quant_params_symmetric(-3.0f, 5.0f, QAT_INT16_MAX, &s), 0);
  assert_float_bits(s, 0x1.40028p-13f); /* 5 / 32767 */
  assert_int_equal(qat_quant_params_symmetric(-7.0f, 2.0f, 127, &s), 0);
  assert_float_bits(s, 0x1.c3870ep-5f); /* 7 / 127 */
  assert_int_equal(qat_quant_params_symmetric(0.0f, 0.0f, QAT_INT16_MAX, &s), 0);
  assert_float_bits(s, 1.0f);
  assert_int_equal(qat_quant_params_symmetric(-INFINITY, 0.0f, 127, &s), QAT_ERR_DIVERGED);
  assert_int_equal(qat_quant_params_symmetric(1.0f, -1.0f, 127, &s), QAT_ERR_USAGE);
  /* int16 activations: 5.0 -> 32767, -6.0 saturates to -32768, 1.0 -> 6553 */
  const float s16 = 0x1.40028p-13f;
  const float x[4] = {5.0f, -5.0f, -6.0f, 1.0f};
  int16_t q[4];
  qat_quantize_int16(x, q, 4, s16, 0, QAT_INT16_MIN, QAT_INT16_MAX);
  assert_int_equal(q[0], 32767);
  assert_int_equal(q[1], -32767);
  assert_int_equal(q[2], -32768);
  assert_int_equal(q[3], 6553);
  float y;
  qat_fake_quant_forward(&x[3], &y, 1, s16, 0, QAT_INT16_MIN, QAT_INT16_MAX);
  assert_float_bits(y, 0x1.fff8p-1f);
}

/* ---- fake quant forward -------------------------------------------------------- */

static void test_fake_quant_boundaries(void **state) {
  (void)state;
  /* scale 0.5, zp 0: x / scale lands exactly on .5 ties */
  static const float x[] = {0.25f,  -0.25f, 0.75f,   -0.75f,   1.25f,    -1.25f,   -0.0f,
                            -0.2f,  0.0f,   63.5f,   63.75f,   -64.25f,  1e30f,    -FLT_MAX,
                            INFINITY, -INFINITY};
  static const float want[] = {0.5f, -0.5f, 1.0f,  -1.0f, 1.5f,  -1.5f,  0.0f,  0.0f,
                               0.0f, 63.5f, 63.5f, -64.0f, 63.5f, -64.0f, 63.5f, -64.0f};
  static const int32_t want_q[] = {1, -1, 2, -2, 3, -3, 0, 0, 0, 127, 127, -128, 127, -128,
                                   127, -128};
  const int64_t n = sizeof x / sizeof x[0];
  float y[sizeof x / sizeof x[0]];
  int8_t q[sizeof x / sizeof x[0]];
  qat_fake_quant_forward(x, y, n, 0.5f, 0, -128, 127);
  qat_quantize_int8(x, q, n, 0.5f, 0, -128, 127);
  for (int64_t i = 0; i < n; i++) {
    assert_float_bits(y[i], want[i]); /* -0.0 and -0.2 must give +0.0, not -0.0 */
    assert_int_equal(q[i], want_q[i]);
    assert_int_equal(qat_quantize_value(x[i], 0.5f, 0, -128, 127), want_q[i]);
  }
  /* NaN propagates through fake quant; quantize maps it to the zero point */
  const float nan_in = NAN;
  qat_fake_quant_forward(&nan_in, y, 1, 0.5f, 0, -128, 127);
  assert_true(isnan(y[0]));
  assert_int_equal(qat_quantize_value(NAN, 0.5f, 7, -128, 127), 7);
  /* in place */
  float io[2] = {0.25f, -0.75f};
  qat_fake_quant_forward(io, io, 2, 0.5f, 0, -128, 127);
  assert_float_bits(io[0], 0.5f);
  assert_float_bits(io[1], -1.0f);
}

static void test_fake_quant_matches_affine_quantize(void **state) {
  (void)state;
  /* scale 0.1f: AffineQuantize divides in float. x * (1/scale) (TF's FakeQuant, TFLite's
   * FakeQuantizeArray) and a double division (optimized AffineQuantize's scalar tail) give
   * different q for these inputs. */
  const float s = 0.1f;
  static const struct {
    float x;
    int32_t q_div, q_other;
  } v[] = {
      {0.25f, 3, 2},   /* float quotient 2.5 exactly; double quotient 2.49999996 */
      {-0.25f, -3, -2},
      {0.35f, 4, 3},   /* 0x1.666666p-2: float 3.5, double 3.4999999 */
      {0x1.4cccccp-1f, 6, 7}, /* 0.64999998: float 6.4999995, reciprocal product 6.5 */
      {-0x1.4cccccp-1f, -6, -7},
      {0x1.b33332p-1f, 8, 9},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    const int32_t q = qat_quantize_value(v[i].x, s, 0, -128, 127);
    if (q != v[i].q_div)
      fail_msg("x=%a: q=%d, expected %d (not %d)", (double)v[i].x, q, v[i].q_div, v[i].q_other);
    float y;
    qat_fake_quant_forward(&v[i].x, &y, 1, s, 0, -128, 127);
    assert_float_bits(y, (float)v[i].q_div * s);
  }
  float y;
  const float x = 0.25f;
  qat_fake_quant_forward(&x, &y, 1, s, 0, -128, 127);
  assert_float_bits(y, 0x1.333334p-2f); /* 3 * 0.1f = 0.30000001 */
}

static void test_fake_quant_asymmetric(void **state) {
  (void)state;
  float s;
  int32_t zp;
  /* [-1, 1]: scale 2/255, zp -1 */
  assert_int_equal(qat_quant_params_from_range(-1.0f, 1.0f, -128, 127, &s, &zp), 0);
  static const float x[] = {1.0f, -1.0f, 0.5f, 0x1.010102p-8f, -0.0f};
  static const int32_t want_q[] = {126, -128, 63, 0, -1};
  static const float want_y[] = {0x1.fdfep-1f, -0x1.fdfep-1f, 0x1.010102p-1f, 0x1.010102p-7f,
                                 0.0f};
  for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
    float y;
    assert_int_equal(qat_quantize_value(x[i], s, zp, -128, 127), want_q[i]);
    qat_fake_quant_forward(&x[i], &y, 1, s, zp, -128, 127);
    assert_float_bits(y, want_y[i]);
    assert_float_bits(qat_dequantize_value(want_q[i], s, zp), want_y[i]);
  }
  /* G2: constant 3.0 -> range [0, 3] -> 3.0 quantizes to 127 and comes back as 3.0 */
  assert_int_equal(qat_quant_params_from_range(3.0f, 3.0f, -128, 127, &s, &zp), 0);
  assert_int_equal(qat_quantize_value(3.0f, s, zp, -128, 127), 127);
  float y;
  const float three = 3.0f;
  qat_fake_quant_forward(&three, &y, 1, s, zp, -128, 127);
  assert_float_bits(y, 3.0f);
  /* G1: all-zero tensor -> scale 1, every q = zp, dequantized exactly +0.0 */
  assert_int_equal(qat_quant_params_from_range(0.0f, 0.0f, -128, 127, &s, &zp), 0);
  const float zeros[3] = {0.0f, -0.0f, 0.0f};
  int8_t q[3];
  float yz[3];
  qat_quantize_int8(zeros, q, 3, s, zp, -128, 127);
  qat_fake_quant_forward(zeros, yz, 3, s, zp, -128, 127);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(q[i], -128);
    assert_float_bits(yz[i], 0.0f);
  }
  /* symmetric weights of an all-zero tensor: q = 0 */
  qat_quantize_int8(zeros, q, 3, 1.0f, 0, -127, 127);
  for (int i = 0; i < 3; i++) assert_int_equal(q[i], 0);
}

/* The fake-quant loops use a vectorizable round-half-away; with scale 1 and a wide q range
 * fake quant is exactly roundf (zero results +0.0). Every 256th float bit pattern (2^24
 * values: all exponents, ties, subnormals, infinities, NaNs) plus each .5 tie up to 2^23.
 * (All 2^32 patterns were checked once offline: 0 mismatches.) */
static void test_fake_quant_rounding_sweep(void **state) {
  (void)state;
  enum { CHUNK = 1 << 16 };
  static float x[CHUNK], y[CHUNK];
  const float lim = 1073741824.0f; /* 2^30 */
  for (uint64_t base = 0; base < (UINT64_C(1) << 32); base += (uint64_t)CHUNK * 256) {
    for (uint32_t i = 0; i < CHUNK; i++) {
      const uint32_t u = (uint32_t)(base + (uint64_t)i * 256 + (i & 255));
      memcpy(&x[i], &u, 4);
    }
    qat_fake_quant_forward(x, y, CHUNK, 1.0f, 0, -(1 << 30), 1 << 30);
    for (uint32_t i = 0; i < CHUNK; i++) {
      if (isnan(x[i])) {
        assert_true(isnan(y[i]));
        continue;
      }
      float w = roundf(x[i]);
      w = w < -lim ? -lim : (w > lim ? lim : w);
      assert_float_bits(y[i], w + 0.0f);
    }
  }
  for (int32_t k = -(1 << 22); k < (1 << 22); k += CHUNK) {
    for (int32_t i = 0; i < CHUNK; i++) x[i] = (float)(k + i) + 0.5f;
    qat_fake_quant_forward(x, y, CHUNK, 1.0f, 0, -(1 << 30), 1 << 30);
    for (int32_t i = 0; i < CHUNK; i++) assert_float_bits(y[i], roundf(x[i]) + 0.0f);
  }
}

/* ---- fake quant backward ------------------------------------------------------- */

static void test_ste_mask(void **state) {
  (void)state;
  const float x[] = {-2.0f, -1.0f, -0.5f, 1.0f, 0x1.000002p+0f, NAN, 0.0f, -0x1.000002p+0f};
  const float dy[] = {1, 2, 3, 4, 5, 6, 7, 8};
  float dx[] = {10, 10, 10, 10, 10, 10, 10, 10};
  const float want[] = {10, 12, 13, 14, 10, 10, 17, 10};
  qat_fake_quant_backward(x, dy, dx, 8, -1.0f, 1.0f);
  for (int i = 0; i < 8; i++) assert_float_bits(dx[i], want[i]);
  /* per channel: outer 2, channels 2, inner 2; channel 0 passes [-1, 1], channel 1 [0, 2] */
  const float xc[8] = {-1.5f, 0.5f, -0.5f, 1.5f, 1.0f, -1.0f, 2.0f, 2.5f};
  const float dyc[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  float dxc[8] = {0};
  const float lo[2] = {-1.0f, 0.0f}, hi[2] = {1.0f, 2.0f};
  qat_fake_quant_backward_per_channel(xc, dyc, dxc, 2, 2, 2, lo, hi);
  const float wantc[8] = {0, 1, 0, 1, 1, 1, 1, 0};
  for (int i = 0; i < 8; i++) assert_float_bits(dxc[i], wantc[i]);
}

/* ---- per-channel weights ----------------------------------------------------- */

static void test_weight_scales_conv_ohwi(void **state) {
  (void)state;
  /* [O=3, H=1, W=1, I=3], per output channel (axis 0) */
  const int64_t shape[4] = {3, 1, 1, 3};
  const float w[9] = {1.0f,   -3.96875f, 0.5f,    /* max 127/32 -> scale 1/32 */
                      0.0f,   0.0f,      0.0f,    /* all zero -> scale 1 */
                      31.75f, 0.125f,    -0.125f}; /* max 127/4 -> scale 1/4; 0.5 ties */
  float s[3];
  assert_int_equal(qat_quant_weight_scales(w, shape, 4, 0, 127, s), 0);
  assert_float_bits(s[0], 0.03125f);
  assert_float_bits(s[1], 1.0f);
  assert_float_bits(s[2], 0.25f);
  int8_t q[9];
  qat_quantize_int8_per_channel(w, q, 1, 3, 3, s, NULL, -127, 127);
  const int8_t want[9] = {32, -127, 16, 0, 0, 0, 127, 1, -1};
  for (int i = 0; i < 9; i++) assert_int_equal(q[i], want[i]);
  float y[9];
  qat_fake_quant_forward_per_channel(w, y, 1, 3, 3, s, NULL, -127, 127);
  const float wy[9] = {1.0f, -3.96875f, 0.5f, 0, 0, 0, 31.75f, 0.25f, -0.25f};
  for (int i = 0; i < 9; i++) assert_float_bits(y[i], wy[i]);
  /* per-tensor option: one scale from the global max 31.75 */
  float st[1];
  assert_int_equal(qat_quant_weight_scales(w, shape, 4, -1, 127, st), 0);
  assert_float_bits(st[0], 0.25f);
  qat_quantize_int8(w, q, 9, st[0], 0, -127, 127);
  const int8_t wantt[9] = {4, -16, 2, 0, 0, 0, 127, 1, -1};
  for (int i = 0; i < 9; i++) assert_int_equal(q[i], wantt[i]);
  /* dense [out=2, in=2], axis 0 */
  const int64_t dshape[2] = {2, 2};
  const float dw[4] = {-254.0f, 1.0f, 0.0f, 0.5f};
  float ds[2];
  assert_int_equal(qat_quant_weight_scales(dw, dshape, 2, 0, 127, ds), 0);
  assert_float_bits(ds[0], 2.0f);
  assert_float_bits(ds[1], 0x1.020408p-8f); /* 0.5 / 127 */
  /* a non-finite weight anywhere in a channel, per channel or per tensor: a diverged run, named */
  const float specials[3] = {INFINITY, -INFINITY, NAN};
  for (int k = 0; k < 3; k++)
    for (int at = 0; at < 9; at++) {
      float bw[9];
      memcpy(bw, w, sizeof bw);
      bw[at] = specials[k];
      assert_int_equal(qat_quant_weight_scales(bw, shape, 4, 0, 127, s), QAT_ERR_DIVERGED);
      assert_msg_contains("not finite");
      assert_int_equal(qat_quant_weight_scales(bw, shape, 4, -1, 127, st), QAT_ERR_DIVERGED);
    }
  /* the largest finite weight is not one: its scale is FLT_MAX / 127 */
  const float big[3] = {FLT_MAX, -1.0f, 0.0f};
  const int64_t bshape[2] = {1, 3};
  assert_int_equal(qat_quant_weight_scales(big, bshape, 2, 0, 127, s), 0);
  assert_float_bits(s[0], FLT_MAX / 127.0f);
}

static void test_weight_scales_depthwise(void **state) {
  (void)state;
  /* [1, H=2, W=2, C*M=3], per channel along axis 3 (the fastest-varying index) */
  const int64_t shape[4] = {1, 2, 2, 3};
  const float w[12] = {
      1.984375f,  -1.0f,      2.0f,   /* (0,0) */
      -0.25f,     3.96875f,   1.0f,   /* (0,1) */
      0.125f,     0.25f,      -127.0f, /* (1,0) */
      0.0078125f, -0.015625f, 0.5f,   /* (1,1): ties 0.5, -0.5, 0.5 */
  };
  float s[3];
  assert_int_equal(qat_quant_weight_scales(w, shape, 4, 3, 127, s), 0);
  assert_float_bits(s[0], 0x1p-6f); /* 127/64 / 127 */
  assert_float_bits(s[1], 0x1p-5f); /* 127/32 / 127 */
  assert_float_bits(s[2], 1.0f);    /* 127 / 127 */
  int64_t outer, ch, inner;
  assert_int_equal(qat_quant_axis_split(shape, 4, 3, &outer, &ch, &inner), 0);
  assert_true(outer == 4 && ch == 3 && inner == 1);
  int8_t q[12];
  qat_quantize_int8_per_channel(w, q, outer, ch, inner, s, NULL, -127, 127);
  const int8_t want[12] = {127, -32, 2, -16, 127, 1, 8, 8, -127, 1, -1, 1};
  for (int i = 0; i < 12; i++) assert_int_equal(q[i], want[i]);
  /* the fake quant of the same channels-last weights, row by row: q * scale, with no zero
   * points and with zero points all 0; and the straight-through mask per channel */
  const int32_t zps[3] = {0, 0, 0};
  for (int with_zp = 0; with_zp < 2; with_zp++) {
    float y[12];
    qat_fake_quant_forward_per_channel(w, y, outer, ch, inner, s, with_zp ? zps : NULL, -127, 127);
    for (int i = 0; i < 12; i++) assert_float_bits(y[i], (float)want[i] * s[i % 3]);
  }
  const float lo[3] = {-1.0f, 0.0f, -0.5f}, hi[3] = {1.0f, 3.0f, 0.5f}, dy[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  float dx[12] = {0};
  qat_fake_quant_backward_per_channel(w, dy, dx, outer, ch, inner, lo, hi);
  for (int i = 0; i < 12; i++) assert_float_bits(dx[i], w[i] >= lo[i % 3] && w[i] <= hi[i % 3] ? dy[i] : 0.0f);
  /* a non-finite weight among channels-last ones: the error names its flat index */
  float bad[12];
  memcpy(bad, w, sizeof bad);
  bad[7] = INFINITY;
  assert_int_equal(qat_quant_weight_scales(bad, shape, 4, 3, 127, s), QAT_ERR_DIVERGED);
  assert_msg_contains("weight[7]");
}

static void test_axis_split_and_errors(void **state) {
  (void)state;
  int64_t o, c, i;
  const int64_t shape[4] = {2, 3, 4, 5};
  assert_int_equal(qat_quant_axis_split(shape, 4, 1, &o, &c, &i), 0);
  assert_true(o == 2 && c == 3 && i == 20);
  assert_int_equal(qat_quant_axis_split(shape, 4, -1, &o, &c, &i), 0);
  assert_true(o == 1 && c == 1 && i == 120);
  assert_int_equal(qat_quant_axis_split(shape, 4, 4, &o, &c, &i), QAT_ERR_USAGE);
  const int64_t neg[2] = {2, -1};
  assert_int_equal(qat_quant_axis_split(neg, 2, 0, &o, &c, &i), QAT_ERR_USAGE);
  const int64_t huge[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 0};
  assert_int_equal(qat_quant_axis_split(huge, 3, 2, &o, &c, &i), QAT_ERR_USAGE);
  /* empty tensor: zero elements, every channel gets scale 1 */
  const int64_t empty[2] = {0, 3};
  float s[3] = {0, 0, 0};
  assert_int_equal(qat_quant_weight_scales(NULL, empty, 2, 1, 127, s), 0);
  for (int k = 0; k < 3; k++) assert_float_bits(s[k], 1.0f);
  /* non-finite weight: error naming the flat index */
  const int64_t sh[2] = {2, 3};
  const float w[6] = {0, 1, 2, 3, NAN, 5};
  assert_int_equal(qat_quant_weight_scales(w, sh, 2, 0, 127, s), QAT_ERR_DIVERGED);
  assert_msg_contains("weight[4]");
  /* tiny weights whose scale would be subnormal: treated as zero (scale 1) */
  const float tiny[2] = {1e-40f, -1e-39f};
  const int64_t tsh[1] = {2};
  assert_int_equal(qat_quant_weight_scales(tiny, tsh, 1, -1, 127, s), 0);
  assert_float_bits(s[0], 1.0f);
}

/* ---- bias ------------------------------------------------------------------ */

/* The fake quant of a bias must land on the integer the exporter writes
 * (qat_quantize_bias_int32: the quotient in double). These pairs, found by a search over
 * random floats, have a float quotient b / s that rounds onto a tie k + 1/2 while the double
 * one lies below it: the float formula gives k + 1, the int8 file k. (Found through the parity
 * report: after one epoch the seed CNN's second conv had one bias a step off, and 310 of its
 * 77 M outputs differed by 1 LSB from the int8 file.) */
static void test_bias_fake_quant_matches_export(void **state) {
  (void)state;
  static const float pairs[4][2] = {{0x1.6dc9cap-2f, 0x1.4e14acp-15f},
                                    {0x1.3ab63p-3f, 0x1.215704p-20f},
                                    {0x1.c4718cp-5f, 0x1.92548ep-20f},
                                    {0x1.62bd88p-1f, 0x1.7ac21p-18f}};
  for (int i = 0; i < 4; i++) {
    const float b = pairs[i][0], s = pairs[i][1], one = 1.0f;
    int32_t q;
    assert_int_equal(qat_quantize_bias_int32(&b, 1, s, &one, 1, &q, NULL), 0);
    const float want = (float)q * s;
    const float got = qat_fake_quant_bias_value(b, s, -2147483647, 2147483647);
    if (got != want) fail_msg("pair %d: fake quant %a, exported %a (q %d)", i, (double)got, (double)want, q);
    /* the float formula is one step off here: what the test guards against */
    float f;
    qat_fake_quant_forward(&b, &f, 1, s, 0, -2147483647, 2147483647);
    assert_true(f != want);
    /* negated: the same, away from zero */
    const float nb = -b;
    assert_int_equal(qat_quantize_bias_int32(&nb, 1, s, &one, 1, &q, NULL), 0);
    assert_true(qat_fake_quant_bias_value(nb, s, -2147483647, 2147483647) == (float)q * s);
  }
  /* clamped to the grid's ends; NaN stays NaN */
  assert_true(qat_fake_quant_bias_value(1e30f, 1.0f, -100, 100) == 100.0f);
  assert_true(qat_fake_quant_bias_value(-1e30f, 1.0f, -100, 100) == -100.0f);
  assert_true(isnan(qat_fake_quant_bias_value(NAN, 1.0f, -100, 100)));
}

static void test_bias_int32(void **state) {
  (void)state;
  const float b[5] = {0.5f, -0.25f, 1.0f, 0.3125f, -0.3125f};
  const float ws[5] = {0.25f, 0.125f, 0.01f, 0.25f, 0.25f};
  int32_t q[5];
  float bs[5];
  assert_int_equal(qat_quantize_bias_int32(b, 5, 0.5f, ws, 5, q, bs), 0);
  /* 1.0 / (0.5 * 0.01f): 200.0000045 -> 200; 0.3125 / 0.125 = 2.5 -> 3 (away from zero) */
  const int32_t want[5] = {4, -4, 200, 3, -3};
  for (int i = 0; i < 5; i++) assert_int_equal(q[i], want[i]);
  assert_float_bits(bs[0], 0.125f);
  assert_float_bits(bs[2], 0x1.47ae14p-8f); /* 0.5f * 0.01f */
  /* per-tensor weight scale broadcast */
  const float w1 = 0.25f;
  assert_int_equal(qat_quantize_bias_int32(b, 2, 0.5f, &w1, 1, q, NULL), 0);
  assert_int_equal(q[0], 4);
  assert_int_equal(q[1], -2);
  /* int32 boundary: the largest float below 2^31 fits, 2^31 does not; never wraps */
  const float one = 1.0f;
  const float edge[1] = {2147483520.0f};
  assert_int_equal(qat_quantize_bias_int32(edge, 1, 1.0f, &one, 1, q, NULL), 0);
  assert_int_equal(q[0], 2147483520);
  const float over[1] = {2147483648.0f};
  q[0] = 77;
  assert_int_equal(qat_quantize_bias_int32(over, 1, 1.0f, &one, 1, q, NULL),
                   QAT_ERR_UNSUPPORTED);
  assert_int_equal(q[0], 77);
  const float under[1] = {-2147483648.0f};
  assert_int_equal(qat_quantize_bias_int32(under, 1, 1.0f, &one, 1, q, NULL),
                   QAT_ERR_UNSUPPORTED);
  /* bad inputs */
  const float nanb[1] = {NAN};
  assert_int_equal(qat_quantize_bias_int32(nanb, 1, 1.0f, &one, 1, q, NULL), QAT_ERR_DIVERGED);
  const float zero = 0.0f;
  assert_int_equal(qat_quantize_bias_int32(b, 1, 1.0f, &zero, 1, q, NULL), QAT_ERR_FORMAT);
  assert_int_equal(qat_quantize_bias_int32(b, 1, 0.0f, &one, 1, q, NULL), QAT_ERR_FORMAT);
  assert_int_equal(qat_quantize_bias_int32(b, 3, 1.0f, ws, 2, q, NULL), QAT_ERR_USAGE);
  /* 1e-30 * 1e-30 underflows to 0 in float: a zero bias scale */
  const float tiny = 1e-30f;
  assert_int_equal(qat_quantize_bias_int32(b, 1, 1e-30f, &tiny, 1, q, NULL), QAT_ERR_FORMAT);
}

static void test_bias_overflow_g5(void **state) {
  (void)state;
  /* TF's AdjustWeightScaleForBiasPerChannel vector: bias 4.0, input scale 0.05,
   * weight scales {1e-7/127, 7/127}: channel 0 would be 4 / 3.937e-11 = 1.016e11. */
  const float bias[2] = {4.0f, 4.0f};
  const float s_in = 0.05f;
  float ws[2] = {0x1.b0e0ecp-31f /* 1e-7f / 127 */, 0x1.c3870ep-5f /* 7 / 127 */};
  int32_t q[2] = {-5, -5};
  assert_int_equal(qat_quantize_bias_int32(bias, 2, s_in, ws, 2, q, NULL), QAT_ERR_UNSUPPORTED);
  assert_msg_contains("bias[0]");
  assert_msg_contains("int32");
  assert_int_equal(q[0], -5); /* nothing written for the overflowing channel */
  /* 16x8 int64 bias holds it: round(4 / 3.9370080e-11) */
  int64_t q64[2];
  assert_int_equal(qat_quantize_bias_int64(bias, 2, s_in, ws, 2, q64, NULL), 0);
  assert_true(q64[0] == INT64_C(101599996458));
  assert_true(q64[1] == 1451);
  /* TFLite's remedy: raise the weight scale of channel 0 only */
  int adjusted = -1;
  const float old1 = ws[1];
  assert_int_equal(qat_bias_adjust_weight_scales(bias, 2, s_in, ws, 2, &adjusted), 0);
  assert_int_equal(adjusted, 1);
  assert_float_bits(ws[0], 0x1.4p-24f);
  assert_float_bits(ws[1], old1);
  assert_true(fabs(4.0) / 2147483647.0 <= 0.6 * s_in * ws[0]); /* TF test's criterion */
  assert_int_equal(qat_quantize_bias_int32(bias, 2, s_in, ws, 2, q, NULL), 0);
  assert_int_equal(q[0], 1073741824); /* half the int32 range, by construction */
  assert_int_equal(q[1], 1451);
  /* per-tensor remedy (AdjustWeightScaleForBiasPerLayer): max |bias| decides */
  const float bias2[2] = {4.0f, -1.0f};
  float w1 = 0x1.b0e0ecp-31f;
  assert_int_equal(qat_bias_adjust_weight_scales(bias2, 2, s_in, &w1, 1, &adjusted), 0);
  assert_int_equal(adjusted, 1);
  assert_float_bits(w1, 0x1.4p-24f);
  assert_int_equal(qat_quantize_bias_int32(bias2, 2, s_in, &w1, 1, q, NULL), 0);
  assert_int_equal(q[0], 1073741824);
  assert_int_equal(q[1], -268435456);
  /* int64 limit 2^47 */
  const float big[1] = {1e30f};
  const float one = 1.0f;
  assert_int_equal(qat_quantize_bias_int64(big, 1, 1.0f, &one, 1, q64, NULL),
                   QAT_ERR_UNSUPPORTED);
}

/* ---- QuantizeMultiplier ---------------------------------------------------- */

static void test_quantize_multiplier_table(void **state) {
  (void)state;
  static const struct {
    double m;
    int32_t q;
    int shift;
  } v[] = {
      {0.0, 0, 0},
      {0.5, 1073741824, 0},
      {1.0, 1073741824, 1},
      {0.75, 1610612736, 0},
      {1.5, 1610612736, 1},
      {0.1, 1717986918, -3}, /* 0.8 * 2^31 = 1717986918.4 */
      {1.0 / 3.0, 1431655765, -1},
      {0.0078125, 1073741824, -6},
      {1000.0, 2097152000, 10},
      {0.027559055015444756, 1893843840, -5}, /* 0.05f * (7/127)f / 0.1f */
      /* q_fixed rounds to 2^31: halved, shift + 1 */
      {1.0 - 0x1p-40, 1073741824, 1},
      {(1.0 - 0x1p-33) * 0x1p-5, 1073741824, -4},
      {(2147483648.0 - 0.5) / 2147483648.0, 1073741824, 1},          /* exact tie: away */
      {(2147483648.0 - 0.5 - 0x1p-20) / 2147483648.0, 2147483647, 0}, /* just below the tie */
      {(2147483648.0 - 1.0) / 2147483648.0, 2147483647, 0},
      /* tiny multipliers */
      {0x1p-32, 1073741824, -31},
      {3e-10, 1383505806, -31},
      {(1.0 - 0x1p-40) * 0x1p-32, 1073741824, -31}, /* frexp shift -32, rounds up: kept */
      {0x1p-33, 0, 0},                              /* flushed */
      {(1.0 - 0x1p-40) * 0x1p-33, 0, 0},
      {1e-10, 0, 0},
      {4.9406564584124654e-324, 0, 0}, /* smallest subnormal */
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    int32_t q = -7;
    int shift = -7;
    if (qat_quantize_multiplier(v[i].m, &q, &shift) != 0)
      fail_msg("m=%a: %s", v[i].m, qat_error_message());
    if (q != v[i].q || shift != v[i].shift)
      fail_msg("m=%a: (%d, %d), expected (%d, %d)", v[i].m, q, shift, v[i].q, v[i].shift);
  }
  int32_t q;
  int shift;
  assert_int_equal(qat_quantize_multiplier(-0.5, &q, &shift), QAT_ERR_FORMAT);
  assert_int_equal(qat_quantize_multiplier(NAN, &q, &shift), QAT_ERR_FORMAT);
  assert_int_equal(qat_quantize_multiplier(INFINITY, &q, &shift), QAT_ERR_FORMAT);
  assert_int_equal(qat_quantize_multiplier(0x1p30, &q, &shift), QAT_ERR_UNSUPPORTED);
  /* rounds up to 2^30 in Q31: shift 31 after the halving, also too large */
  assert_int_equal(qat_quantize_multiplier(0x1p30 * (1.0 - 0x1p-40), &q, &shift),
                   QAT_ERR_UNSUPPORTED);
  assert_int_equal(qat_quantize_multiplier(0x1p30 * (1.0 - 0x1p-20), &q, &shift), 0);
  assert_int_equal(q, 2147481600); /* (1 - 2^-20) * 2^31 */
  assert_int_equal(shift, 30);
}

static void test_conv_multipliers_and_act_bounds(void **state) {
  (void)state;
  const float ws = 0x1.c3870ep-5f; /* 7/127 */
  int32_t m[2];
  int sh[2];
  assert_int_equal(qat_conv_multipliers(0.05f, &ws, 1, 0.1f, 2, m, sh), 0);
  for (int c = 0; c < 2; c++) {
    assert_int_equal(m[c], 1893843840);
    assert_int_equal(sh[c], -5);
  }
  /* the product and quotient are taken in double: in float this gives 1350304128 */
  const float ws2 = 0x1.05eab4p-9f;
  assert_int_equal(qat_conv_multipliers(0x1.c6e1fcp-5f, &ws2, 1, 0x1.721382p-2f, 1, m, sh), 0);
  assert_int_equal(m[0], 1350304099);
  assert_int_equal(sh[0], -11);
  assert_int_equal(qat_conv_multipliers(0.05f, &ws, 1, 0.0f, 2, m, sh), QAT_ERR_FORMAT);
  const float two[2] = {ws, 0.0f};
  assert_int_equal(qat_conv_multipliers(0.05f, two, 2, 0.1f, 2, m, sh), QAT_ERR_FORMAT);
  int32_t lo, hi;
  /* RELU6 on scale 6/255, zp -128: 6 / s = 255 -> 127 */
  assert_int_equal(qat_activation_bounds(0x1.818182p-6f, -128, -128, 127, 0.0f, 6.0f, &lo, &hi),
                   0);
  assert_true(lo == -128 && hi == 127);
  /* RELU6 on scale 0.1f, zp 0: 6 / 0.1f = 60 (float division) */
  assert_int_equal(qat_activation_bounds(0.1f, 0, -128, 127, 0.0f, 6.0f, &lo, &hi), 0);
  assert_true(lo == 0 && hi == 60);
  /* RELU on [-1, 1] params: zp -1 */
  assert_int_equal(qat_activation_bounds(0x1.010102p-7f, -1, -128, 127, 0.0f, INFINITY, &lo,
                                         &hi), 0);
  assert_true(lo == -1 && hi == 127);
  /* RELU_N1_TO_1, scale 0.01f, zp 10 */
  assert_int_equal(qat_activation_bounds(0.01f, 10, -128, 127, -1.0f, 1.0f, &lo, &hi), 0);
  assert_true(lo == -90 && hi == 110);
  assert_int_equal(qat_activation_bounds(1e-30f, 0, -128, 127, 0.0f, 6.0f, &lo, &hi),
                   QAT_ERR_UNSUPPORTED);
}

/* ---- independent references for the fixed-point primitives ------------------------ */

/* SRDHM = a*b / 2^31 rounded half toward +infinity: floor((ab + 2^30) / 2^31), written with
 * an arithmetic shift (floor) instead of gemmlowp's nudge-and-truncate. */
static int32_t ref_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const __int128 ab = (__int128)a * b;
  return (int32_t)((ab + ((__int128)1 << 30)) >> 31);
}

/* x / 2^e rounded half away from zero, via magnitudes. */
static int32_t ref_rdpot(int32_t x, int e) {
  if (e == 0) return x;
  const int64_t v = x, half = INT64_C(1) << (e - 1);
  const int64_t r = v >= 0 ? (v + half) >> e : -((-v + half) >> e);
  return (int32_t)r;
}

static int32_t ref_wrap32(int64_t v) {
  v &= INT64_C(0xffffffff);
  return (int32_t)(v >= (INT64_C(1) << 31) ? v - (INT64_C(1) << 32) : v);
}

static int32_t ref_mbqm(int32_t x, int32_t q, int shift) {
  const int ls = shift > 0 ? shift : 0, rs = shift > 0 ? 0 : -shift;
  return ref_rdpot(ref_srdhm(ref_wrap32((int64_t)x * (INT64_C(1) << ls)), q), rs);
}

static int32_t ref_mbqm64(int64_t x, int32_t q, int shift) {
  const int64_t reduced = q < 0x7FFF0000 ? ((int64_t)q + 32768) / 65536 : 0x7FFF;
  const int total = 15 - shift;
  const __int128 p = (__int128)x * reduced + ((__int128)1 << (total - 1));
  /* floor division by 2^total */
  __int128 d = (__int128)1 << total;
  __int128 r = p / d;
  if ((p % d) != 0 && p < 0) r -= 1;
  return ref_wrap32((int64_t)r);
}

static void test_srdhm_edges(void **state) {
  (void)state;
  static const struct {
    int32_t a, b, want;
  } v[] = {
      {INT32_MIN, INT32_MIN, INT32_MAX}, /* the saturating case */
      {INT32_MAX, INT32_MAX, 2147483646},
      {INT32_MIN, INT32_MAX, -2147483647},
      {INT32_MIN, 1, -1},
      {INT32_MIN, -1, 1},
      {1, 1, 0},
      {1 << 15, 1 << 15, 1},        /* +0.5 -> 1 */
      {-(1 << 15), 1 << 15, 0},     /* -0.5 -> 0: ties go toward +inf */
      {3 << 15, 1 << 15, 2},        /* +1.5 -> 2 */
      {-(3 << 15), 1 << 15, -1},    /* -1.5 -> -1 */
      {1000, 1717986918, 800},      /* 799.99999...: 1000 * 0.8 */
      {-1000, 1717986918, -800},
      {0, INT32_MIN, 0},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    const int32_t r = qat_srdhm(v[i].a, v[i].b);
    if (r != v[i].want) fail_msg("SRDHM(%d, %d) = %d, expected %d", v[i].a, v[i].b, r, v[i].want);
    assert_int_equal(ref_srdhm(v[i].a, v[i].b), v[i].want);
  }
}

static void test_rdpot_edges(void **state) {
  (void)state;
  static const struct {
    int32_t x;
    int e;
    int32_t want;
  } v[] = {
      {5, 1, 3},   {-5, 1, -3}, {3, 1, 2},   {-3, 1, -2},  {1, 1, 1},    {-1, 1, -1},
      {-2, 2, -1}, {2, 2, 1},   {-6, 2, -2}, {-7, 2, -2},  {-5, 2, -1},  {6, 2, 2},
      {-4, 0, -4}, {12345, 0, 12345},       {INT32_MIN, 31, -1},        {INT32_MAX, 31, 1},
      {INT32_MIN, 1, -(1 << 30)},           {-(1 << 30), 31, -1},       {1 << 30, 31, 1},
      {(1 << 30) - 1, 31, 0},               {-(1 << 30) + 1, 31, 0},    {INT32_MIN, 30, -2},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    const int32_t r = qat_rounding_divide_by_pot(v[i].x, v[i].e);
    if (r != v[i].want) fail_msg("RDPOT(%d, %d) = %d, expected %d", v[i].x, v[i].e, r, v[i].want);
    assert_int_equal(ref_rdpot(v[i].x, v[i].e), v[i].want);
  }
}

static void test_mbqm_edges(void **state) {
  (void)state;
  /* double rounding: 5 * 0.25 = 1.25, but SRDHM gives 2.5 -> 3 first, then 3 / 2 = 1.5 -> 2.
   * TFLITE_SINGLE_ROUNDING would give 1. */
  assert_int_equal(qat_multiply_by_quantized_multiplier(5, 1 << 30, -1), 2);
  assert_int_equal(qat_multiply_by_quantized_multiplier(-5, 1 << 30, -1), -1);
  assert_int_equal(qat_multiply_by_quantized_multiplier(-3, 1 << 30, -1), -1);
  assert_int_equal(qat_multiply_by_quantized_multiplier(1000, 1717986918, -3), 100);
  assert_int_equal(qat_multiply_by_quantized_multiplier(100, 1 << 30, 0), 50);
  assert_int_equal(qat_multiply_by_quantized_multiplier(3, 1 << 30, 2), 6); /* left shift */
  assert_int_equal(qat_multiply_by_quantized_multiplier(INT32_MIN, INT32_MIN, 0), INT32_MAX);
  assert_int_equal(qat_multiply_by_quantized_multiplier(123456, 0, 0), 0); /* flushed */
  /* x << left wraps modulo 2^32 like TFLite's int32 product: 2^30 << 2 = 0 */
  assert_int_equal(qat_multiply_by_quantized_multiplier(1 << 30, 1 << 30, 2), 0);
  assert_int_equal(qat_multiply_by_quantized_multiplier(INT32_MAX, 2147483647, -31), 1);
  /* the 64-bit overload (16x8): multiplier cut to 16 bits, one rounding */
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(5, 1 << 30, -1), 1);
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(-5, 1 << 30, -1), -1);
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(-6, 1 << 30, -1), -1);
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(1000, 1717986918, -3), 100);
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(1, 1 << 30, 7), 64);
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(INT64_C(101599996458),
                                                              1073741824, -31), 24);
  /* q >= 0x7FFF0000 saturates the reduced multiplier to 0x7FFF instead of rounding to 2^15 */
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(65536, 0x7FFFFFFF, 0), 65534);
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(65536, 0x7FFEFFFF, 0), 65534);
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(65536, 0x7FFE8000, 0), 65534);
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(65536, 0x7FFE7FFF, 0), 65532);
  assert_int_equal(qat_multiply_by_quantized_multiplier_int64(-(INT64_C(1) << 47), 1 << 30,
                                                              -31), -32768);
}

/* ---- property tests -------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t splitmix64(void) {
  uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static const int32_t edge_set[] = {
    INT32_MIN, INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30), -(1 << 30) + 1, -65537, -65536,
    -32768, -257, -256, -255, -129, -128, -3, -2, -1, 0, 1, 2, 3, 127, 128, 255, 256, 32767,
    65535, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX};
#define N_EDGE ((int)(sizeof edge_set / sizeof edge_set[0]))

/* A random int32: full range, small magnitudes of random width, or an edge value. */
static int32_t rand_i32(void) {
  const uint64_t r = splitmix64();
  switch (r & 3) {
  case 0: return (int32_t)(uint32_t)(r >> 32);
  case 1: {
    const int width = (int)((r >> 2) % 32);
    int64_t v = (int64_t)((r >> 32) & ((UINT64_C(1) << width) - 1));
    return (int32_t)((r >> 8) & 1 ? -v : v);
  }
  case 2: return edge_set[(r >> 32) % N_EDGE];
  default: return (int32_t)(uint32_t)(r >> 32) >> ((r >> 8) % 31);
  }
}

static void test_fixedpoint_property(void **state) {
  (void)state;
  rng_state = UINT64_C(0x5eed0f1a7);
  const long N = 1000000;
  /* exhaustive over the edge set */
  for (int i = 0; i < N_EDGE; i++)
    for (int j = 0; j < N_EDGE; j++) {
      const int32_t a = edge_set[i], b = edge_set[j];
      if (qat_srdhm(a, b) != ref_srdhm(a, b)) fail_msg("SRDHM(%d, %d)", a, b);
    }
  for (int i = 0; i < N_EDGE; i++)
    for (int e = 0; e <= 31; e++)
      if (qat_rounding_divide_by_pot(edge_set[i], e) != ref_rdpot(edge_set[i], e))
        fail_msg("RDPOT(%d, %d)", edge_set[i], e);
  /* SRDHM */
  for (long k = 0; k < N; k++) {
    const int32_t a = rand_i32(), b = rand_i32();
    if (qat_srdhm(a, b) != ref_srdhm(a, b))
      fail_msg("SRDHM(%d, %d) = %d, reference %d", a, b, qat_srdhm(a, b), ref_srdhm(a, b));
  }
  /* RoundingDivideByPOT, with a quarter of the cases exact ties */
  for (long k = 0; k < N; k++) {
    const int e = (int)(splitmix64() % 32);
    int32_t x = rand_i32();
    if (e > 0 && (k & 3) == 0) { /* x = (2m + 1) * 2^(e-1): an exact tie */
      const int64_t m = (int64_t)(rand_i32() >> e);
      const int64_t t = (2 * m + 1) * (INT64_C(1) << (e - 1));
      if (t >= INT32_MIN && t <= INT32_MAX) x = (int32_t)t;
    }
    if (qat_rounding_divide_by_pot(x, e) != ref_rdpot(x, e))
      fail_msg("RDPOT(%d, %d) = %d, reference %d", x, e, qat_rounding_divide_by_pot(x, e),
               ref_rdpot(x, e));
  }
  /* MultiplyByQuantizedMultiplier: against the composed references, and within one unit of
   * the exact product when no wrap or saturation is involved */
  long compared_exact = 0;
  for (long k = 0; k < N; k++) {
    const int32_t x = rand_i32();
    const uint64_t r = splitmix64();
    const int32_t q = (r & 15) == 0 ? 0 : (int32_t)((UINT32_C(1) << 30) + ((r >> 4) & 0x3FFFFFFF));
    const int shift = (int)((r >> 40) % 62) - 31; /* -31 .. 30 */
    const int32_t got = qat_multiply_by_quantized_multiplier(x, q, shift);
    const int32_t want = ref_mbqm(x, q, shift);
    if (got != want) fail_msg("MBQM(%d, %d, %d) = %d, reference %d", x, q, shift, got, want);
    const int ls = shift > 0 ? shift : 0;
    const int64_t shifted = (int64_t)x * (INT64_C(1) << ls);
    if (shifted >= INT32_MIN && shifted <= INT32_MAX && !(x == INT32_MIN && q == INT32_MIN)) {
      /* exact = x * q * 2^(shift - 31); double rounding stays within 1 of it */
      const long double exact = ldexpl((long double)x * (long double)q, shift - 31);
      if (fabsl((long double)got - exact) > 1.0L)
        fail_msg("MBQM(%d, %d, %d) = %d, exact %Lg", x, q, shift, got, exact);
      compared_exact++;
    }
  }
  assert_true(compared_exact > N / 4);
  /* the 64-bit overload */
  for (long k = 0; k < N; k++) {
    const uint64_t r = splitmix64();
    int64_t x = (int64_t)(splitmix64() >> 16) - (INT64_C(1) << 47); /* [-2^47, 2^47) */
    if ((r & 3) == 0) x = rand_i32();
    const int32_t q = (r & 31) == 0 ? (int32_t)(0x7FFF0000 + ((r >> 8) & 0xFFFF))
                                    : (int32_t)((UINT32_C(1) << 30) + ((r >> 8) & 0x3FFFFFFF));
    const int shift = (int)((r >> 40) % 39) - 31; /* -31 .. 7 */
    const int32_t got = qat_multiply_by_quantized_multiplier_int64(x, q, shift);
    const int32_t want = ref_mbqm64(x, q, shift);
    if (got != want)
      fail_msg("MBQM64(%lld, %d, %d) = %d, reference %d", (long long)x, q, shift, got, want);
  }
}

/* QuantizeMultiplier against a reference built without frexp: find e with
 * 2^(e-1) <= m < 2^e by ldexp comparisons, then round m * 2^(31 - e) (an exact scaling). */
static void ref_quantize_multiplier(double m, int32_t *q, int *shift) {
  if (m == 0.0) {
    *q = 0;
    *shift = 0;
    return;
  }
  int e = 0;
  while (m >= ldexp(1.0, e)) e++;
  while (m < ldexp(1.0, e - 1)) e--;
  double t = ldexp(m, 31 - e); /* in [2^30, 2^31) */
  double fl = floor(t);
  int64_t v = (int64_t)fl + (t - fl >= 0.5 ? 1 : 0);
  if (v == (INT64_C(1) << 31)) {
    v >>= 1;
    e++;
  }
  if (e < -31) {
    v = 0;
    e = 0;
  }
  *q = (int32_t)v;
  *shift = e;
}

static void test_quantize_multiplier_property(void **state) {
  (void)state;
  rng_state = UINT64_C(0xabcdef);
  for (long k = 0; k < 200000; k++) {
    /* log-uniform in [2^-40, 2^30), with some values right at a 2^31-rounding edge */
    const uint64_t r = splitmix64();
    double m = ldexp(1.0 + (double)(r >> 11) * 0x1p-53, (int)((r >> 3) % 70) - 40);
    if ((r & 7) == 0) m = ldexp(1.0 - ldexp(1.0, -32 - (int)((r >> 5) % 8)), (int)((r >> 20) % 60) - 40);
    if (m >= 0x1p30) continue;
    int32_t q, qr;
    int s, sr;
    if (qat_quantize_multiplier(m, &q, &s) != 0) fail_msg("m=%a: %s", m, qat_error_message());
    ref_quantize_multiplier(m, &qr, &sr);
    if (q != qr || s != sr) fail_msg("m=%a: (%d, %d), reference (%d, %d)", m, q, s, qr, sr);
    if (q != 0) {
      assert_true(q >= (1 << 30));
      /* |q * 2^(s - 31) - m| <= 2^(s - 32): half a unit of the Q31 mantissa */
      const long double err = fabsl(ldexpl((long double)q, s - 31) - (long double)m);
      assert_true(err <= ldexpl(1.0L, s - 32));
    } else {
      assert_true(m < 0x1p-32);
    }
  }
}

/* ---- observers ------------------------------------------------------------- */

static void test_observer_ema(void **state) {
  (void)state;
  qat_observer o;
  assert_int_equal(qat_observer_init(&o, QAT_OBSERVER_EMA, 0.5f), 0);
  float s;
  int32_t zp;
  assert_int_equal(qat_observer_params(&o, -128, 127, &s, &zp), QAT_ERR_USAGE);
  const float b1[2] = {-1.0f, 2.0f}, b2[3] = {-3.0f, 4.0f, 0.0f}, b3[2] = {1.0f, 2.0f};
  assert_int_equal(qat_observer_update(&o, b1, 2), 0); /* first batch initializes */
  assert_float_bits(o.min, -1.0f);
  assert_float_bits(o.max, 2.0f);
  assert_int_equal(qat_observer_update(&o, b2, 3), 0);
  assert_float_bits(o.min, -2.0f); /* -1 - (-1 - -3) * 0.5 */
  assert_float_bits(o.max, 3.0f);
  /* an all-positive batch has widened batch min 0: -2 - (-2 - 0) * 0.5 = -1 (without the
   * widening it would be -0.5) */
  assert_int_equal(qat_observer_update(&o, b3, 2), 0);
  assert_float_bits(o.min, -1.0f);
  assert_float_bits(o.max, 2.5f);
  assert_int_equal(qat_observer_update(&o, b3, 0), 0); /* empty batch: no change */
  assert_float_bits(o.min, -1.0f);
  /* non-finite input: error naming the index, state unchanged */
  const float bad[3] = {0.0f, 1.0f, NAN};
  assert_int_equal(qat_observer_update(&o, bad, 3), QAT_ERR_DIVERGED);
  assert_msg_contains("index 2");
  const float bad2[1] = {-INFINITY};
  assert_int_equal(qat_observer_update(&o, bad2, 1), QAT_ERR_DIVERGED);
  assert_float_bits(o.min, -1.0f);
  assert_float_bits(o.max, 2.5f);
  assert_int_equal(qat_observer_params(&o, -128, 127, &s, &zp), 0);
  float s2;
  int32_t zp2;
  assert_int_equal(qat_quant_params_from_range(-1.0f, 2.5f, -128, 127, &s2, &zp2), 0);
  assert_float_bits(s, s2);
  assert_int_equal(zp, zp2);
  /* default decay 0.999f: float arithmetic v -= (v - b) * (1 - decay), 1 - 0.999f =
   * 0x1.0624p-10 (0.00099998713) */
  qat_observer d;
  assert_int_equal(qat_observer_init(&d, QAT_OBSERVER_EMA, QAT_OBSERVER_DEFAULT_DECAY), 0);
  const float c1[2] = {-1.0f, 1.0f}, c2[2] = {-2.0f, 3.0f}, c3[2] = {-0.5f, 0.5f};
  assert_int_equal(qat_observer_update(&d, c1, 2), 0);
  assert_int_equal(qat_observer_update(&d, c2, 2), 0);
  assert_float_bits(d.min, -0x1.004188p+0f);
  assert_float_bits(d.max, 0x1.008312p+0f);
  assert_int_equal(qat_observer_update(&d, c3, 2), 0);
  assert_float_bits(d.min, -0x1.0020b2p+0f);
  assert_float_bits(d.max, 0x1.00622cp+0f);
  /* TF's form v - (v - b) * (1 - decay) differs from decay * v + (1 - decay) * b here */
  const float e1[2] = {-0.75f, 0.5f}, e2[2] = {-4.25f, 0.5f};
  assert_int_equal(qat_observer_init(&d, QAT_OBSERVER_EMA, QAT_OBSERVER_DEFAULT_DECAY), 0);
  assert_int_equal(qat_observer_update(&d, e1, 2), 0);
  assert_int_equal(qat_observer_update(&d, e2, 2), 0);
  assert_float_bits(d.min, -0x1.81cacp-1f); /* the other form gives -0x1.81cabep-1 */
  assert_float_bits(d.max, 0.5f);
  /* bad decay / kind */
  assert_int_equal(qat_observer_init(&d, QAT_OBSERVER_EMA, 1.0f), QAT_ERR_USAGE);
  assert_int_equal(qat_observer_init(&d, QAT_OBSERVER_EMA, NAN), QAT_ERR_USAGE);
  assert_int_equal(qat_observer_init(&d, (qat_observer_kind)9, 0.5f), QAT_ERR_USAGE);
}

/* The EMA's warm-up: decay min(decay, (1 + t) / (10 + t)) after t batches (TF's
 * ExponentialMovingAverage with num_updates), so a range follows moving weights at first. */
static void test_observer_warmup(void **state) {
  (void)state;
  qat_observer o;
  assert_int_equal(qat_observer_init(&o, QAT_OBSERVER_EMA, QAT_OBSERVER_DEFAULT_DECAY), 0);
  assert_int_equal(o.warmup, 0);
  assert_int_equal(o.updates, 0);
  o.warmup = 1;
  const float b1[2] = {-1.0f, 1.0f}, b2[2] = {-2.0f, 3.0f};
  assert_int_equal(qat_observer_update(&o, b1, 2), 0);
  assert_int_equal(o.updates, 1);
  assert_float_bits(qat_observer_decay(&o), (float)(2.0 / 11.0));
  assert_int_equal(qat_observer_update(&o, b2, 2), 0);
  assert_int_equal(o.updates, 2);
  const float w = 1.0f - (float)(2.0 / 11.0);
  assert_float_bits(o.max, 1.0f - (1.0f - 3.0f) * w);
  assert_float_bits(o.min, -1.0f - (-1.0f + 2.0f) * w);
  /* a batch inside the range shrinks it with the configured decay only */
  const float inside[2] = {-0.5f, 0.5f};
  const float hi = o.max;
  assert_int_equal(qat_observer_update(&o, inside, 2), 0);
  assert_float_bits(o.max, hi - (hi - 0.5f) * (1.0f - QAT_OBSERVER_DEFAULT_DECAY));
  /* without the warm-up the same batch moves the range by 0.1 % */
  qat_observer p;
  assert_int_equal(qat_observer_init(&p, QAT_OBSERVER_EMA, QAT_OBSERVER_DEFAULT_DECAY), 0);
  assert_int_equal(qat_observer_update(&p, b1, 2), 0);
  assert_int_equal(qat_observer_update(&p, b2, 2), 0);
  assert_float_bits(p.max, 1.0f - (1.0f - 3.0f) * (1.0f - QAT_OBSERVER_DEFAULT_DECAY));
  /* the warm-up ends where (1 + t) / (10 + t) passes the decay (t = 8990 for 0.999) */
  o.updates = 100;
  assert_float_bits(qat_observer_decay(&o), (float)(101.0 / 110.0));
  o.updates = 9000;
  assert_float_bits(qat_observer_decay(&o), QAT_OBSERVER_DEFAULT_DECAY);
  o.updates = QAT_OBSERVER_WARM; /* saturates there: a count from an old checkpoint */
  assert_int_equal(qat_observer_update(&o, b1, 2), 0);
  assert_true(o.updates == QAT_OBSERVER_WARM);
  /* MINMAX counts too (the calibration pass's batches, which the EMA then continues) */
  qat_observer mm;
  assert_int_equal(qat_observer_init(&mm, QAT_OBSERVER_MINMAX, 0.0f), 0);
  assert_int_equal(qat_observer_update(&mm, b1, 2), 0);
  assert_int_equal(qat_observer_update(&mm, b2, 2), 0);
  assert_int_equal(mm.updates, 2);
}

static void test_observer_minmax_last(void **state) {
  (void)state;
  qat_observer mm, last;
  assert_int_equal(qat_observer_init(&mm, QAT_OBSERVER_MINMAX, 0.0f), 0);
  assert_int_equal(qat_observer_init(&last, QAT_OBSERVER_LAST, 0.0f), 0);
  const float b1[2] = {-1.0f, 2.0f}, b2[2] = {-3.0f, 1.0f}, b3[2] = {0.5f, 5.0f};
  const float *bs[3] = {b1, b2, b3};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(qat_observer_update(&mm, bs[i], 2), 0);
    assert_int_equal(qat_observer_update(&last, bs[i], 2), 0);
  }
  assert_float_bits(mm.min, -3.0f);
  assert_float_bits(mm.max, 5.0f);
  assert_float_bits(last.min, 0.0f); /* [0.5, 5] widened to include 0 */
  assert_float_bits(last.max, 5.0f);
  float mn, mx;
  const float t[4] = {3.0f, -0.5f, 7.0f, 2.0f};
  assert_int_equal(qat_tensor_min_max(t, 4, &mn, &mx), 0);
  assert_float_bits(mn, -0.5f);
  assert_float_bits(mx, 7.0f);
  assert_int_equal(qat_tensor_min_max(t, 0, &mn, &mx), 0);
  assert_float_bits(mn, 0.0f);
  assert_float_bits(mx, 0.0f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rounding_half_away),
      cmocka_unit_test(test_params_from_range_table),
      cmocka_unit_test(test_params_from_range_rejects),
      cmocka_unit_test(test_params_symmetric),
      cmocka_unit_test(test_fake_quant_boundaries),
      cmocka_unit_test(test_fake_quant_matches_affine_quantize),
      cmocka_unit_test(test_fake_quant_asymmetric),
      cmocka_unit_test(test_fake_quant_rounding_sweep),
      cmocka_unit_test(test_ste_mask),
      cmocka_unit_test(test_weight_scales_conv_ohwi),
      cmocka_unit_test(test_weight_scales_depthwise),
      cmocka_unit_test(test_axis_split_and_errors),
      cmocka_unit_test(test_bias_int32),
      cmocka_unit_test(test_bias_overflow_g5),
      cmocka_unit_test(test_quantize_multiplier_table),
      cmocka_unit_test(test_conv_multipliers_and_act_bounds),
      cmocka_unit_test(test_srdhm_edges),
      cmocka_unit_test(test_rdpot_edges),
      cmocka_unit_test(test_mbqm_edges),
      cmocka_unit_test(test_fixedpoint_property),
      cmocka_unit_test(test_quantize_multiplier_property),
      cmocka_unit_test(test_bias_fake_quant_matches_export),
      cmocka_unit_test(test_observer_ema),
      cmocka_unit_test(test_observer_warmup),
      cmocka_unit_test(test_observer_minmax_last),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
