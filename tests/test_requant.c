/* fakequant/requant.c: the fake quant's requantization. Its AVX2 path must equal the plain C
 * path bit for bit over random and hostile inputs (NaN, infinities, huge quotients, every
 * shift, extreme multipliers), and both must give hand-computed values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakequant/requant.h"

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
  enum { N = 4096, C = 96 };
  float *x = malloc(sizeof(float) * N), *y0 = malloc(sizeof(float) * N), *y1 = malloc(sizeof(float) * N);
  float ws[C];
  int32_t mult[C];
  int shift[C];
  double eff[C], acc_bias[C];
  const int channel_counts[] = {1, 3, 4, 7, 10, 32, 64, 96};
  long checked = 0;
  for (int round = 0; round < 400; round++) {
    const int channels = channel_counts[round % 8];
    for (int i = 0; i < N; i++) x[i] = next() % 8 ? (unit() - 0.5f) * 8.0f : hostile();
    for (int c = 0; c < C; c++) {
      ws[c] = ldexpf(0.5f + unit(), -(int)(next() % 24));
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
    qat_requant_job j = {.x = x, .channels = channels, .fixed_point = round % 3 != 0,
                         .s_in = ldexpf(0.5f + unit(), -(int)(next() % 10)), .w_scale = ws,
                         .per_tensor = round % 7 == 0, .mult = mult, .shift = shift, .eff = eff,
                         .zp = wide ? 0 : zp, .act_min = a, .act_max = b, .s_out = 0.5f + unit(),
                         .acc_bias = round % 2 ? acc_bias : NULL};
    /* ranges that start and end mid-row */
    j.begin = next() % 100;
    j.end = N - (int64_t)(next() % 100);
    memset(y0, 0x55, sizeof(float) * N);
    memset(y1, 0x55, sizeof(float) * N);
    j.y = y0;
    qat_requant_run_ref(&j);
    j.y = y1;
    assert_int_equal(qat_requant_run_avx2(&j), 0);
    for (int i = 0; i < N; i++)
      if (memcmp(&y0[i], &y1[i], sizeof(float))) {
        fprintf(stderr, "round %d element %d channel %d: x %a plain %a avx2 %a\n", round, i, i % channels,
                (double)x[i], (double)y0[i], (double)y1[i]);
        fail();
      }
    checked += j.end - j.begin;
  }
  assert_true(checked > 1000000);
  free(x);
  free(y0);
  free(y1);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_hand_values), cmocka_unit_test(test_avx2_equals_plain)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
