/* fakequant/requant.c: the fake quant's requantization. Its AVX2 and AVX-512 paths must equal
 * the plain C path bit for bit over random and hostile inputs (NaN, infinities, huge
 * quotients, exact ties, every shift, extreme multipliers), and all must give hand-computed
 * values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakequant/fixedpoint_avx512.h"
#include "fakequant/requant.h"
#include "fakequant/simd.h"
#include "qat/quant.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}
static float unit(void) { return (float)(next() & 0xffffff) / 16777216.0f; }

/* acc = round(x / (s_in * s_w)) = x / 0.125 here; M = 0.5 in Q31 and shift -1 divide it by 4,
 * with TFLite's roundings: SaturatingRoundingDoublingHighMul rounds -2.5 to -2, then
 * RoundingDivideByPOT rounds ties away from zero. */
static void test_hand_values(void **state) {
  (void)state;
  const float x[8] = {1.0f, 0.375f, 0.625f, -0.625f, 0.1875f, -0.1875f, 100.0f, -100.0f};
  /* acc:               8      3       5       -5       2 (1.5)  -2       800      -800
   * srdhm(acc, 2^30):  4      2       3       -2       1        -1       400      -400
   * rdivpot(., 1):     2      1       2       -1       1        -1 (-0.5 away) 200 -200
   * + zp 3, clamp [-128, 127] - zp: 2 1 2 -1 1 -1 124 -131 -> [-131, 124] */
  const float want[8] = {2, 1, 2, -1, 1, -1, 124, -131};
  float y[2][8];
  const float ws[1] = {0.25f};
  int32_t mult[8];
  int shift[8];
  for (int c = 0; c < 8; c++) {
    mult[c] = INT32_C(1) << 30;
    shift[c] = -1;
  }
  for (int path = 0; path < 2; path++) {
    qat_requant_job j = {.x = x, .y = y[path], .begin = 0, .end = 8, .channels = 8, .fixed_point = 1,
                         .s_in = 0.5f, .w_scale = ws, .per_tensor = 1, .mult = mult, .shift = shift,
                         .zp = 3, .act_min = -128, .act_max = 127, .s_out = 1.0f};
    if (path == 0) qat_requant_run_ref(&j);
    else if (qat_requant_run_avx2(&j)) memcpy(y[1], y[0], sizeof y[0]);
    for (int i = 0; i < 8; i++) assert_true(y[path][i] == want[i]);
  }
  { /* 16 channels of the same, for the AVX-512 path's full lanes */
    float x16[16], y16[16], ws16[16];
    int32_t m16[16];
    int s16[16];
    for (int i = 0; i < 16; i++) {
      x16[i] = x[i % 8];
      ws16[i] = 0.25f;
      m16[i] = INT32_C(1) << 30;
      s16[i] = -1;
    }
    double inv16[16];
    qat_requant_job j = {.x = x16, .y = y16, .begin = 0, .end = 16, .channels = 16, .fixed_point = 1,
                         .s_in = 0.5f, .w_scale = ws16, .mult = m16, .shift = s16,
                         .zp = 3, .act_min = -128, .act_max = 127, .s_out = 1.0f, .inv = inv16};
    qat_requant_reciprocals(&j, inv16);
    if (qat_simd_cpu() >= QAT_SIMD_AVX512) {
      assert_int_equal(qat_requant_run_avx512(&j), 0);
      for (int i = 0; i < 16; i++) assert_true(y16[i] == want[i % 8]);
    }
  }
  /* the fully-connected form: round(acc * 0.3) for acc 8, 3, 5, -5 -> 2.4, 0.9, 1.5, -1.5 */
  double eff[8];
  for (int c = 0; c < 8; c++) eff[c] = 0.3;
  const float want_fc[4] = {2, 1, 2, -2};
  for (int path = 0; path < 2; path++) {
    qat_requant_job j = {.x = x, .y = y[path], .begin = 0, .end = 8, .channels = 8, .fixed_point = 0,
                         .s_in = 0.5f, .w_scale = ws, .per_tensor = 1, .eff = eff, .zp = 0,
                         .act_min = -128, .act_max = 127, .s_out = 1.0f};
    if (path == 0) qat_requant_run_ref(&j);
    else if (qat_requant_run_avx2(&j)) memcpy(y[1], y[0], sizeof y[0]);
    for (int i = 0; i < 4; i++) assert_true(y[path][i] == want_fc[i]);
  }
}

/* Quotients x / s_acc beyond 2^26 can lie within 2^-51 of a half-integer without being one;
 * there x * (1 / s_acc) and the double quotient round to neighbouring integers. These pairs
 * were found by a search over random floats (1 in about 30 million); the folded-bias integers
 * bring each accumulator to 10, so a path that rounds the product instead of the quotient
 * writes 9 or 11. */
static void test_quotients_near_ties(void **state) {
  (void)state;
  static const float pairs[12][2] = {
      {0x1.cec78ap+13f, 0x1.0c87a4p-17f}, {0x1.0d552p+26f, 0x1.36f53cp-5f},  {0x1.7e911cp+29f, 0x1.cdb38ep-2f},
      {0x1.0c7b6p+29f, 0x1.d2eacep-2f},  {0x1.c10b88p+27f, 0x1.1afad8p-3f}, {0x1.11036p+17f, 0x1.11a28cp-13f},
      {0x1.3ad0d4p+11f, 0x1.10fd2ep-19f}, {0x1.acf87ep+14f, 0x1.197654p-16f}, {0x1.097018p+19f, 0x1.9df88ep-12f},
      {0x1.6a62aap+23f, 0x1.be85c8p-8f}, {0x1.e147e8p+25f, 0x1.c92da2p-5f}, {0x1.10fe44p+12f, 0x1.f0bb78p-19f}};
  float x[16], ws[16], y[16];
  int32_t mult[16];
  int shift[16];
  double bias[16];
  for (int c = 0; c < 16; c++) {
    x[c] = c < 12 ? pairs[c][0] : 0.0f;
    ws[c] = c < 12 ? pairs[c][1] : 1.0f;
    mult[c] = INT32_C(1) << 30; /* 0.5, shifted left once: the accumulator itself */
    shift[c] = 1;
    bias[c] = 10.0 - round((double)x[c] / (double)ws[c]);
  }
  double inv[16];
  for (int path = 0; path < 3; path++) {
    qat_requant_job j = {.x = x, .y = y, .begin = 0, .end = 16, .channels = 16, .fixed_point = 1, .s_in = 1.0f,
                         .w_scale = ws, .mult = mult, .shift = shift, .acc_bias = bias, .zp = 0,
                         .act_min = -128, .act_max = 127, .s_out = 1.0f, .inv = inv};
    qat_requant_reciprocals(&j, inv);
    if (path == 0) qat_requant_run_ref(&j);
    else if (qat_simd_cpu() < (path == 1 ? QAT_SIMD_AVX2 : QAT_SIMD_AVX512)) continue;
    else assert_int_equal(path == 1 ? qat_requant_run_avx2(&j) : qat_requant_run_avx512(&j), 0);
    for (int c = 0; c < 16; c++)
      if (y[c] != 10.0f) fail_msg("path %d channel %d: %g, want 10", path, c, (double)y[c]);
  }
}

static float hostile(void) {
  switch (next() % 16) {
  case 0: return NAN;
  case 1: return INFINITY;
  case 2: return -INFINITY;
  case 3: return (next() & 1 ? 1 : -1) * 3e38f;
  case 4: return 0.0f;
  case 5: return -0.0f;
  default: {
    float v = (unit() - 0.5f) * 20.0f;
    return next() % 4 ? v : v * 1e6f;
  }
  }
}

static void test_avx2_equals_plain(void **state) {
  (void)state;
  float probe_x = 1.0f, probe_y;
  const float probe_w = 1.0f;
  const int32_t probe_m = 1 << 30;
  const int probe_s = 0;
  qat_requant_job probe = {.x = &probe_x, .y = &probe_y, .end = 1, .channels = 1, .fixed_point = 1, .s_in = 1,
                           .w_scale = &probe_w, .per_tensor = 1, .mult = &probe_m, .shift = &probe_s,
                           .act_min = -128, .act_max = 127, .s_out = 1};
  if (qat_requant_run_avx2(&probe)) skip();
  const int have_avx512 = qat_simd_cpu() >= QAT_SIMD_AVX512;
  long ties = 0;
  enum { N = 4096, C = 300 };
  double inv[C];
  float *x = malloc(sizeof(float) * N), *y0 = malloc(sizeof(float) * N), *y1 = malloc(sizeof(float) * N);
  float ws[C];
  int32_t mult[C];
  int shift[C];
  double eff[C], acc_bias[C];
  /* up to 256 channels the AVX-512 path prepares the multipliers per block of 16, past that per vector */
  const int channel_counts[] = {1, 3, 4, 7, 10, 32, 64, 96, 300};
  long checked = 0;
  for (int round = 0; round < 400; round++) {
    const int channels = channel_counts[round % 9];
    for (int i = 0; i < N; i++) x[i] = next() % 8 ? (unit() - 0.5f) * 8.0f : hostile();
    /* every fourth round: scales of few bits, so that x = (k + 1/2) s_in s_w is a float and
     * the quotient an exact tie (the AVX-512 path's reciprocal must not decide those) */
    const int tie_round = round % 4 == 1;
    for (int c = 0; c < C; c++) {
      ws[c] = tie_round ? ldexpf(1.0f + (float)(next() % 8) / 8.0f, -(int)(next() % 12))
                        : ldexpf(0.5f + unit(), -(int)(next() % 24));
      switch (next() % 8) {
      case 0: mult[c] = INT32_MIN; break;
      case 1: mult[c] = 0; break;
      case 2: mult[c] = INT32_MAX; break;
      default: mult[c] = (int32_t)(0x40000000u + (next() & 0x3fffffffu)); break;
      }
      shift[c] = (int)(next() % 62) - 31; /* -31 .. 30 */
      eff[c] = next() % 16 ? (double)unit() * 2.0 : (next() & 1 ? 1e300 : -1e12);
      /* a folded batch norm's bias integers, up to beyond int32 */
      acc_bias[c] = (double)((int64_t)(next() % 6000000000ull) - 3000000000ll) / (next() % 4 ? 1000.0 : 1.0);
      acc_bias[c] = rint(acc_bias[c]);
    }
    const int32_t zp = (int32_t)(next() % 256) - 128;
    const int wide = round % 5 == 0; /* int16 bounds */
    const int32_t qmin = wide ? -32768 : -128, qmax = wide ? 32767 : 127;
    int32_t a = qmin + (int32_t)(next() % 40), b = qmax - (int32_t)(next() % 40);
    const float s_in = tie_round ? ldexpf(1.0f, -(int)(next() % 10)) : ldexpf(0.5f + unit(), -(int)(next() % 10));
    const int per_tensor = round % 7 == 0;
    if (tie_round)
      for (int i = 0; i < N; i += 1 + (int)(next() % 3)) {
        const float s_acc = s_in * ws[per_tensor ? 0 : i % channels];
        x[i] = ((float)((int)(next() % 2000) - 1000) + 0.5f) * s_acc;
        ties++;
      }
    qat_requant_job j = {.x = x, .channels = channels, .fixed_point = round % 3 != 0,
                         .s_in = s_in, .w_scale = ws,
                         .per_tensor = per_tensor, .mult = mult, .shift = shift, .eff = eff,
                         .zp = wide ? 0 : zp, .act_min = a, .act_max = b, .s_out = 0.5f + unit(),
                         .acc_bias = round % 2 ? acc_bias : NULL};
    /* ranges that start and end mid-row */
    j.begin = next() % 100;
    j.end = N - (int64_t)(next() % 100);
    memset(y0, 0x55, sizeof(float) * N);
    j.y = y0;
    qat_requant_run_ref(&j);
    for (int path = 0; path < 2; path++) {
      memset(y1, 0x55, sizeof(float) * N);
      j.y = y1;
      if (path == 0) assert_int_equal(qat_requant_run_avx2(&j), 0);
      else if (!have_avx512 || !j.fixed_point) continue; /* the double form stays AVX2 */
      else {
        qat_requant_reciprocals(&j, inv);
        j.inv = inv;
        assert_int_equal(qat_requant_run_avx512(&j), 0);
      }
      for (int i = 0; i < N; i++)
        if (memcmp(&y0[i], &y1[i], sizeof(float))) {
          fprintf(stderr, "round %d element %d channel %d: x %a plain %a %s %a\n", round, i, i % channels,
                  (double)x[i], (double)y0[i], path ? "avx512" : "avx2", (double)y1[i]);
          fail();
        }
      checked += j.end - j.begin;
    }
  }
  assert_true(checked > 1000000 && ties > 10000);
  free(x);
  free(y0);
  free(y1);
}

/* ADD on one grid (s1 = s2 = s_out = 1/16): the kernel's fixed-point chain must return
 * c1 + c2 (c1 - c2 for SUB) exactly, clamped to the activation range, on both paths; a
 * broadcast second input (stride 0) and a strided one read the right elements. */
static void test_add_rows_by_hand(void **state) {
  (void)state;
  enum { N = 11 };
  const float s = 0.0625f;
  int32_t mult[3];
  int shift[3];
  assert_int_equal(qat_add_multipliers(s, s, s, 20, mult, shift), 0);
  float a[N], b[3 * N], y[2][N];
  for (int i = 0; i < N; i++) a[i] = (float)(i * 7 - 30) * s;         /* c1 = -30 .. 40 */
  for (int i = 0; i < 3 * N; i++) b[i] = (float)(25 - i * 3) * s;     /* c2 = 25 - 3i */
  for (int subtract = 0; subtract < 2; subtract++)
    for (int64_t stride = 0; stride < 4; stride += stride ? 2 : 1) /* 0, 1, 3 */
      for (int path = 0; path < 2; path++) {
        qat_add_requant_row j = {.a = a, .b = b, .a_stride = 1, .b_stride = stride, .y = y[path], .n = N,
                                 .s1 = s, .s2 = s, .s_out = s, .mult = mult, .shift = shift, .left_shift = 20,
                                 .subtract = subtract, .zp = 5, .act_min = -20, .act_max = 40};
        if (path == 0) qat_add_requant_row_ref(&j);
        else if (qat_add_requant_row_avx2(&j)) continue;
        for (int i = 0; i < N; i++) {
          const int c1 = i * 7 - 30, c2 = 25 - (int)(i * stride) * 3;
          int q = (subtract ? c1 - c2 : c1 + c2) + 5;
          q = q < -20 ? -20 : q > 40 ? 40 : q;
          if (y[path][i] != (float)(q - 5) * s)
            fail_msg("path %d subtract %d stride %lld element %d: %g, want %g", path, subtract, (long long)stride, i,
                     (double)y[path][i], (double)((float)(q - 5) * s));
        }
      }
}

/* The ADD rows' AVX2 and AVX-512 paths equal the plain one over random scales (hence random
 * multipliers and shifts; every fourth round powers of two, where half-grid values are exact
 * ties), hostile values (NaN, infinities, quotients past int32), both left shifts, every
 * stride kind and lengths that leave a tail. */
static void test_add_rows_avx2_equals_plain(void **state) {
  (void)state;
  enum { N = 301 };
  float a[3 * N], b[3 * N], y0[N], y1[N];
  int32_t mult[3];
  int shift[3];
  long checked = 0, checked512 = 0;
  for (int round = 0; round < 3000; round++) {
    const int pow2 = round % 4 == 3;
    const float s1 = ldexpf(pow2 ? 1.0f : 0.5f + unit(), -(int)(next() % 12)),
                s2 = ldexpf(pow2 ? 1.0f : 0.5f + unit(), -(int)(next() % 12)),
                s_out = ldexpf(0.5f + unit(), -(int)(next() % 10));
    const int left_shift = round % 3 ? 20 : 15;
    if (qat_add_multipliers(s1, s2, s_out, left_shift, mult, shift)) continue;
    for (int i = 0; i < 3 * N; i++) {
      /* mostly values on the grids (as the fake quant's inputs are), some off it, some hostile */
      const int k = (int)(next() % 400) - 200;
      const int kind = (int)(next() % 16);
      a[i] = kind < 10 ? (float)k * s1 : kind < 12 ? ((float)k + 0.5f) * s1 : kind < 15 ? (unit() - 0.5f) * 100.0f * s1 : hostile();
      b[i] = kind < 10 ? (float)((int)(next() % 400) - 200) * s2 : kind < 12 ? ((float)k - 0.5f) * s2
             : kind < 15 ? (unit() - 0.5f) * 100.0f * s2 : hostile();
    }
    const int wide = left_shift == 15;
    const int32_t zp = wide ? 0 : (int32_t)(next() % 256) - 128;
    const int32_t qmin = wide ? -32768 : -128, qmax = wide ? 32767 : 127;
    qat_add_requant_row j = {.a = a, .b = b, .a_stride = (int64_t)(next() % 4), .b_stride = (int64_t)(next() % 4),
                             .n = 1 + (int)(next() % N), .s1 = s1, .s2 = s2, .s_out = s_out, .mult = mult,
                             .shift = shift, .left_shift = left_shift, .subtract = (int)(next() & 1), .zp = zp,
                             .act_min = qmin + (int32_t)(next() % 40), .act_max = qmax - (int32_t)(next() % 40)};
    memset(y0, 0x55, sizeof y0);
    memset(y1, 0x55, sizeof y1);
    j.y = y0;
    qat_add_requant_row_ref(&j);
    for (int path = 0; path < 2; path++) {
      memset(y1, 0x55, sizeof y1);
      j.y = y1;
      if (path == 0 && qat_add_requant_row_avx2(&j)) skip();
      if (path == 1 && qat_add_requant_row_avx512(&j)) continue; /* no AVX-512, or strided */
      for (int i = 0; i < N; i++)
        if (memcmp(&y0[i], &y1[i], sizeof(float)))
          fail_msg("round %d element %d (strides %lld, %lld): a %a b %a plain %a %s %a", round, i,
                   (long long)j.a_stride, (long long)j.b_stride, (double)a[i * j.a_stride],
                   (double)b[i * j.b_stride], (double)y0[i], path ? "avx512" : "avx2", (double)y1[i]);
      if (path) checked512 += j.n;
      else checked += j.n;
    }
  }
  assert_true(checked > 200000);
  if (qat_simd_cpu() >= QAT_SIMD_AVX512) assert_true(checked512 > 50000);
}

#if defined(__x86_64__) || defined(__i386__)
/* qat_rq16 on 16 lanes against the scalar MultiplyByQuantizedMultiplier: every block, and
 * apply_right on the blocks prepare calls right_only, which must be exactly those without a
 * left shift and without a lane that can saturate (e = 0 with the multiplier INT32_MIN) */
QAT_AVX512 static long rq16_rounds(int *right_blocks) {
  long checked = 0;
  for (int round = 0; round < 20000; round++) {
    int32_t mult[16], shift[16], x[16], got[16], got_right[16];
    const int kind = round % 4; /* 0: right shifts, model multipliers; 1: + a left shift; 2: + INT32_MIN; 3: any */
    int want_right = 1;
    for (int l = 0; l < 16; l++) {
      mult[l] = (int32_t)(0x40000000u + (next() & 0x3fffffffu));
      shift[l] = -(int32_t)(next() % 32);
      if (kind == 3) {
        const uint32_t r = next() % 8;
        mult[l] = r == 0 ? INT32_MIN : r == 1 ? 0 : r == 2 ? INT32_MAX : mult[l];
        shift[l] = (int32_t)(next() % 62) - 31;
      }
      const uint32_t h = next() % 8;
      x[l] = h == 0 ? INT32_MIN : h == 1 ? INT32_MAX : h == 2 ? (int32_t)next() - (int32_t)(next() % 3) : (int32_t)(next() % 600001) - 300000;
    }
    const int lane = (int)(next() % 16);
    if (kind == 1) shift[lane] = 1 + (int32_t)(next() % 20);
    if (kind == 2) mult[lane] = INT32_MIN, shift[lane] = 0, x[lane] = INT32_MIN;
    for (int l = 0; l < 16; l++)
      if (shift[l] > 0 || (shift[l] == 0 && mult[l] == INT32_MIN)) want_right = 0;
    const qat_rq16 p = qat_rq16_prepare(_mm512_loadu_si512(mult), _mm512_loadu_si512(shift));
    assert_int_equal(p.right_only, want_right);
    _mm512_storeu_si512(got, qat_rq16_apply(&p, _mm512_loadu_si512(x)));
    _mm512_storeu_si512(got_right, qat_rq16_apply_right(&p, _mm512_loadu_si512(x)));
    for (int l = 0; l < 16; l++) {
      const int32_t want = qat_multiply_by_quantized_multiplier(x[l], mult[l], shift[l]);
      if (got[l] != want || (want_right && got_right[l] != want))
        fail_msg("round %d lane %d: x %d mult %d shift %d: scalar %d, apply %d, apply_right %d", round, l, x[l],
                 mult[l], shift[l], want, got[l], got_right[l]);
      checked++;
    }
    *right_blocks += want_right;
  }
  return checked;
}

static void test_rq16_equals_scalar(void **state) {
  (void)state;
  if (qat_simd_cpu() < QAT_SIMD_AVX512) skip();
  int right_blocks = 0;
  assert_true(rq16_rounds(&right_blocks) == 320000);
  assert_true(right_blocks > 4000); /* kind 0, and kind 3 blocks never are */
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_hand_values), cmocka_unit_test(test_avx2_equals_plain),
                                     cmocka_unit_test(test_add_rows_by_hand), cmocka_unit_test(test_quotients_near_ties),
                                     cmocka_unit_test(test_add_rows_avx2_equals_plain),
#if defined(__x86_64__) || defined(__i386__)
                                     cmocka_unit_test(test_rq16_equals_scalar),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
