/* runtime/igemm.c and sgemm.c: the packed int8 and float32 GEMMs of CONV_2D and FULLY_CONNECTED on every SIMD path this
 * CPU has, against the reference kernels' arithmetic written out here (wrapping int32 sums of
 * (x + offset) * w, MultiplyByQuantizedMultiplier or LiteRT's double rounding, zero point,
 * clamp): random geometries (strides, dilations, SAME padding, depths and channel counts off
 * the blocks), hostile offsets, weights and biases that wrap; and the vectorized row
 * requantization against the scalar one on extreme accumulators, multipliers and shifts;
 * DEPTHWISE_CONV_2D and ADD on the CPU's widest path (QAT_SIMD narrows it) likewise. The
 * interop sweeps (test_runtime_litert, acceptance_converter) compare the same kernels with
 * BUILTIN_REF on real models; this test reaches the paths the CPU would not pick by itself. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qat/quant.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_simd.h"

static uint64_t rng = 0x853c49e6748fea9bull;
static uint32_t next(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)(rng >> 32);
}
static int uniform(int lo, int hi) { return lo + (int)(next() % (uint32_t)(hi - lo + 1)); }

static int8_t finish(const rt_requant *q, uint32_t acc, int oc) {
  const int32_t a = (int32_t)acc;
  int32_t r;
  if (q->eff) {
    const double d = round((double)a * q->eff[oc]);
    r = d >= -2147483648.0 && d < 2147483648.0 ? (int32_t)d : INT32_MIN;
  } else {
    r = qat_multiply_by_quantized_multiplier(a, q->mult[oc], q->shift[oc]);
  }
  r = (int32_t)((uint32_t)r + (uint32_t)q->out_zp);
  return (int8_t)(r < q->act_min ? q->act_min : r > q->act_max ? q->act_max : r);
}

static void ref_conv(const rt_conv_geom *g, const rt_requant *q, const int8_t *in, const int8_t *w,
                     const int32_t *bias, int8_t *out) {
  for (int b = 0; b < g->batches; b++)
    for (int oy = 0; oy < g->out_h; oy++)
      for (int ox = 0; ox < g->out_w; ox++)
        for (int oc = 0; oc < g->out_c; oc++) {
          uint32_t acc = bias ? (uint32_t)bias[oc] : 0u;
          for (int ky = 0; ky < g->k_h; ky++)
            for (int kx = 0; kx < g->k_w; kx++) {
              const int y = oy * g->stride_h - g->pad_h + g->dil_h * ky;
              const int x = ox * g->stride_w - g->pad_w + g->dil_w * kx;
              if (y < 0 || y >= g->in_h || x < 0 || x >= g->in_w) continue;
              for (int ic = 0; ic < g->in_c; ic++)
                acc += (uint32_t)((int32_t)w[((oc * g->k_h + ky) * g->k_w + kx) * g->in_c + ic] *
                                  ((int32_t)in[((b * g->in_h + y) * g->in_w + x) * g->in_c + ic] + q->in_offset));
            }
          out[((b * g->out_h + oy) * g->out_w + ox) * g->out_c + oc] = finish(q, acc, oc);
        }
}

static const int32_t special[] = {INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX, 1 << 30, -(1 << 30),
                                  0x40000000, 0x3fffffff};

/* Multipliers in [2^30, 2^31) and shifts in [-12, 4] (the range real scales give), one channel
 * in eight anything (extreme multipliers, shifts -31..30); or, tame, every shift a right shift
 * and no extreme channel (the blocks rt_rq16's fast form takes, given a bound); an offset and a
 * clamp. bound: the accumulators' (taps * 255 * 128 + max |bias|), for the fast form's test. */
static int fast_blocks; /* blocks prepared in the fast form, over the test */
static void random_requant(rt_requant *q, int32_t *mult, int *shift, int n, int tame, int64_t bound) {
  for (int c = 0; c < n; c++) {
    const int wild = !tame && next() % 8 == 0;
    mult[c] = wild ? (next() % 2 ? special[next() % 10] : (int32_t)next()) : (int32_t)((1u << 30) + (next() >> 2));
    shift[c] = wild ? uniform(-31, 30) : tame ? uniform(-12, -1) : uniform(-12, 4);
  }
  q->in_offset = uniform(-127, 128);
  q->out_zp = uniform(-128, 127);
  q->act_min = next() % 3 ? -128 : q->out_zp;
  q->act_max = next() % 4 ? 127 : uniform(q->act_min, 127);
  q->mult = mult;
  q->shift = shift;
  q->eff = NULL;
  /* the blocks prepared once (as the reader does), or in the kernels: both must hold */
  q->rq16 = next() % 2 ? rt_rq16_blocks(mult, shift, n, q->out_zp, bound < ((int64_t)1 << 31) ? bound : 0) : NULL;
#if defined(__x86_64__) || defined(__i386__)
  if (q->rq16)
    for (int c0 = 0; c0 < n; c0 += 16) fast_blocks += ((const rt_rq16 *)q->rq16)[c0 / 16].fast;
#endif
}

static int64_t acc_bound(int64_t taps, const int32_t *bias, int n) {
  int64_t b = 0;
  for (int c = 0; bias && c < n; c++) b = llabs(bias[c]) > b ? llabs(bias[c]) : b;
  return taps * 255 * 128 + b;
}

static void fill_i8(int8_t *p, int64_t n, int extreme) {
  for (int64_t i = 0; i < n; i++) p[i] = extreme && next() % 2 ? (next() % 2 ? 127 : -128) : (int8_t)next();
}

static int paths(int *list) {
  int n = 0;
  for (int p = RT_IGEMM_AVX2; p <= rt_igemm_path(); p++) list[n++] = p;
  return n;
}

static void test_conv_paths(void **state) {
  (void)state;
  int list[2], np = paths(list);
  if (!np) skip(); /* a CPU without AVX2 runs the plain kernels only */
  int checked = 0, in_place = 0;
  for (int trial = 0; trial < 300; trial++) {
    rt_conv_geom g = {0};
    g.batches = uniform(1, 2);
    g.k_h = uniform(1, 4), g.k_w = uniform(1, 4);
    g.in_c = g.filter_in_c = trial % 7 == 0 ? uniform(40, 130) : uniform(1, 20);
    g.out_c = trial % 5 == 0 ? uniform(60, 140) : uniform(1, 40);
    g.stride_h = uniform(1, 3), g.stride_w = uniform(1, 3);
    g.dil_h = uniform(1, 2), g.dil_w = uniform(1, 2);
    /* 1x1 stride 1 (rows read in place) often: one in eight */
    if (trial % 8 == 3) g.k_h = g.k_w = 1, g.stride_h = g.stride_w = 1;
    g.in_h = uniform(1, 9), g.in_w = uniform(1, 9);
    const int eh = g.dil_h * (g.k_h - 1) + 1, ew = g.dil_w * (g.k_w - 1) + 1;
    if (next() % 2) { /* SAME */
      g.out_h = (g.in_h + g.stride_h - 1) / g.stride_h, g.out_w = (g.in_w + g.stride_w - 1) / g.stride_w;
      const int th = (g.out_h - 1) * g.stride_h + eh - g.in_h, tw = (g.out_w - 1) * g.stride_w + ew - g.in_w;
      g.pad_h = th > 0 ? th / 2 : 0, g.pad_w = tw > 0 ? tw / 2 : 0;
    } else {
      if (eh > g.in_h || ew > g.in_w) continue;
      g.out_h = (g.in_h - eh) / g.stride_h + 1, g.out_w = (g.in_w - ew) / g.stride_w + 1;
    }
    const int K = g.k_h * g.k_w * g.in_c;
    const int64_t n_in = (int64_t)g.batches * g.in_h * g.in_w * g.in_c,
                  n_out = (int64_t)g.batches * g.out_h * g.out_w * g.out_c;
    int8_t *in = malloc((size_t)n_in), *w = malloc((size_t)g.out_c * K), *want = malloc((size_t)n_out),
           *got = malloc((size_t)n_out);
    int32_t *bias = malloc((size_t)g.out_c * sizeof *bias), *mult = malloc((size_t)g.out_c * sizeof *mult);
    int *shift = malloc((size_t)g.out_c * sizeof *shift);
    assert_true(in && w && want && got && bias && mult && shift);
    const int extreme = trial % 3 == 0;
    fill_i8(in, n_in, extreme);
    fill_i8(w, (int64_t)g.out_c * K, extreme);
    for (int64_t i = 0; i < (int64_t)g.out_c * K; i++)
      if (w[i] == -128) w[i] = -127; /* symmetric weights, as the reader checks */
    /* biases near the int32 limits make the sums wrap */
    for (int c = 0; c < g.out_c; c++) bias[c] = trial % 4 == 1 ? (int32_t)next() : uniform(-5000, 5000);
    rt_requant q;
    const int32_t *b = trial % 9 == 4 ? NULL : bias;
    random_requant(&q, mult, shift, g.out_c, trial % 2, acc_bound(K, b, g.out_c));
    ref_conv(&g, &q, in, w, b, want);
    for (int i = 0; i < np; i++)
      for (int direct = 0; direct < 2; direct++) { /* im2col patches; read in place where it may */
        rt_igemm_b pk;
        assert_int_equal(rt_igemm_pack_conv(&pk, list[i], &g, w, b, q.in_offset, direct), 0);
        assert_int_equal(pk.path, list[i]);
        if (direct && !pk.direct_gpr) {
          rt_igemm_free(&pk);
          continue;
        }
        memset(got, 0x55, (size_t)n_out);
        rt_conv2d_i8_gemm(&g, &q, &pk, in, got);
        if (memcmp(got, want, (size_t)n_out)) {
          for (int64_t e = 0; e < n_out; e++)
            if (got[e] != want[e])
              fail_msg("%s%s trial %d: %dx%dx%d k%dx%d s%d,%d d%d,%d pad %d,%d -> %d ch: element %lld is %d, "
                       "want %d", rt_igemm_path_name(list[i]), direct ? " (in place)" : "", trial, g.in_h, g.in_w,
                       g.in_c, g.k_h, g.k_w, g.stride_h, g.stride_w, g.dil_h, g.dil_w, g.pad_h, g.pad_w, g.out_c,
                       (long long)e, got[e], want[e]);
        }
        rt_igemm_free(&pk);
        checked++;
        in_place += direct;
      }
    free(in), free(w), free(want), free(got), free(bias), free(mult), free(shift), free((void *)q.rq16);
  }
  assert_true(checked > 200 * np);
  if (rt_igemm_path() == RT_IGEMM_VNNI) assert_true(in_place > 30 && fast_blocks > 50);
}

static void test_fc_paths(void **state) {
  (void)state;
  int list[2], np = paths(list);
  if (!np) skip();
  for (int trial = 0; trial < 200; trial++) {
    const int batches = uniform(1, 6), K = trial % 4 == 0 ? uniform(500, 2000) : uniform(1, 70),
              N = uniform(1, 150);
    int8_t *in = malloc((size_t)batches * K), *w = malloc((size_t)N * K), *want = malloc((size_t)batches * N),
           *got = malloc((size_t)batches * N);
    int32_t *bias = malloc((size_t)N * sizeof *bias), *mult = malloc((size_t)N * sizeof *mult);
    int *shift = malloc((size_t)N * sizeof *shift);
    double *eff = malloc((size_t)N * sizeof *eff);
    assert_true(in && w && want && got && bias && mult && shift && eff);
    fill_i8(in, (int64_t)batches * K, trial % 3 == 0);
    fill_i8(w, (int64_t)N * K, trial % 3 == 0);
    for (int64_t i = 0; i < (int64_t)N * K; i++)
      if (w[i] == -128) w[i] = -127;
    for (int c = 0; c < N; c++) {
      bias[c] = trial % 5 == 1 ? (int32_t)next() : uniform(-5000, 5000);
      eff[c] = ldexp((double)(next() % 1000 + 1), -20);
    }
    rt_requant q;
    random_requant(&q, mult, shift, N, trial % 4 < 2, acc_bound(K, bias, N));
    if (trial % 2) q.eff = eff; /* LiteRT's FULLY_CONNECTED rounding */
    for (int r = 0; r < batches; r++)
      for (int c = 0; c < N; c++) {
        uint32_t acc = (uint32_t)bias[c];
        for (int d = 0; d < K; d++)
          acc += (uint32_t)((int32_t)w[c * K + d] * ((int32_t)in[r * K + d] + q.in_offset));
        want[r * N + c] = finish(&q, acc, c);
      }
    for (int i = 0; i < np; i++) {
      rt_igemm_b pk;
      assert_int_equal(rt_igemm_pack(&pk, list[i], N, K, batches, w, bias, q.in_offset), 0);
      memset(got, 0x55, (size_t)batches * N);
      rt_fc_i8_gemm(batches, &q, &pk, in, got);
      if (memcmp(got, want, (size_t)batches * N))
        fail_msg("%s trial %d: %d x %d -> %d (%s) differs", rt_igemm_path_name(list[i]), trial, batches,
                 K, N, q.eff ? "double" : "fixed point");
      rt_igemm_free(&pk);
    }
    free(in), free(w), free(want), free(got), free(bias), free(mult), free(shift), free(eff), free((void *)q.rq16);
  }
}

/* The vectorized requantization against the scalar one, over accumulators, multipliers and
 * shifts at and around their extremes (INT32_MIN * INT32_MIN, shifts -31 and 30, ties). */
static void test_requant_row(void **state) {
  (void)state;
  enum { N = 4099 };
  static int32_t acc[N], mult[N];
  static int shift[N];
  static int8_t got[N], want[N];
  for (int round = 0; round < 50; round++) {
    for (int i = 0; i < N; i++) {
      acc[i] = next() % 4 ? (int32_t)next() : special[next() % 10];
      mult[i] = next() % 4 ? (int32_t)next() : special[next() % 10];
      shift[i] = uniform(-31, 30);
    }
    /* SRDHM's one saturation, INT32_MIN * INT32_MIN, in even and odd lanes, unshifted and not */
    for (int k = 0; k < 8; k++) {
      const int at = 16 * round + 3 * k;
      acc[at] = mult[at] = INT32_MIN;
      shift[at] = k % 3 == 0 ? 0 : -(k % 3);
    }
    rt_requant q = {.in_offset = 0, .out_zp = uniform(-128, 127), .act_min = -128, .act_max = 127,
                    .mult = mult, .shift = shift};
    if (round % 2) q.act_min = uniform(-128, 0), q.act_max = uniform(0, 127);
    if (round % 5 == 0) q.out_zp = 0; /* + zp wraps: only at 0 do INT32_MAX and INT32_MIN clamp apart */
    for (int i = 0; i < N; i++) want[i] = finish(&q, (uint32_t)acc[i], i);
    const int c0 = uniform(0, 7);
    rt_requant_row_i8(&q, acc + c0, c0, N - c0, got + c0);
    assert_memory_equal(got + c0, want + c0, (size_t)(N - c0));
  }
}

#if defined(__x86_64__) || defined(__i386__)
RT_AVX512 static void rq16_prepare(const int32_t *mult, const int *shift, __mmask16 valid, int32_t zp, int64_t bound,
                                   rt_rq16 *p) {
  rt_rq16_prepare(_mm512_loadu_si512((const void *)mult), _mm512_loadu_si512((const void *)shift), valid, zp, bound, p);
}
RT_AVX512 static void rq16_fast_x16(const rt_rq16 *p, const int32_t *acc, int32_t *out) {
  _mm512_storeu_si512((void *)out, rt_rq16_out(p, _mm512_loadu_si512((const void *)acc), _mm512_setzero_si512(), RT_RQ_FAST));
}
#endif

/* rt_rq16's fast form against MultiplyByQuantizedMultiplier + zero point: accumulators across
 * the whole bound and at it, multipliers with SRDHM ties (3 2^29 at acc = 2 mod 4), small shifts
 * (a rounding tie in every other value at e = 1), zero points at both ends; and the blocks the
 * form must decline (m = 2^30, no right shift, a left shift, a bound too wide for the shift). */
static void test_rq16_fast(void **state) {
  (void)state;
#if defined(__x86_64__) || defined(__i386__)
  if (!rt_simd_avx512()) skip();
  int srdhm_ties = 0, shift_ties = 0;
  for (int round = 0; round < 4000; round++) {
    int32_t mult[16], acc[16], got[16];
    int shift[16];
    const int32_t zp = round % 7 == 0 ? -128 : round % 7 == 1 ? 127 : uniform(-128, 127);
    int emax = 1;
    for (int l = 0; l < 16; l++) {
      const int k = (int)(next() % 6);
      mult[l] = k == 0 ? 3 << 29 : k == 1 ? 5 << 28 : k == 2 ? INT32_MAX : (int32_t)((1u << 30) + 1 + (next() % ((1u << 30) - 1)));
      shift[l] = -uniform(1, round % 3 == 0 ? 3 : 22);
      emax = -shift[l] > emax ? -shift[l] : emax;
    }
    /* the widest bound the form allows for these shifts, or a random one below it */
    const int64_t widest = ((int64_t)1 << 31) - 4 - ((int64_t)1 << (emax - 1)) - ((int64_t)(zp < 0 ? -zp : zp) << emax);
    const int64_t bound = round % 2 ? widest : 1 + (int64_t)(next() % (uint64_t)widest);
    rt_rq16 p;
    rq16_prepare(mult, shift, 0xffff, zp, bound, &p);
    assert_true(p.fast);
    for (int rep = 0; rep < 8; rep++) {
      for (int l = 0; l < 16; l++) {
        const int k = (int)(next() % 5);
        int64_t a = k == 0 ? bound : k == 1 ? -bound : k == 2 ? (int64_t)(next() % 65) - 32
                   : (int64_t)(next() % (uint64_t)(2 * bound + 1)) - bound;
        if (mult[l] == 3 << 29 && next() % 2) a = a - (a & 3) + 2 > bound ? a - (a & 3) - 2 : a - (a & 3) + 2;
        acc[l] = (int32_t)a;
      }
      rq16_fast_x16(&p, acc, got);
      for (int l = 0; l < 16; l++) {
        const int32_t want = (int32_t)((uint32_t)qat_multiply_by_quantized_multiplier(acc[l], mult[l], shift[l]) + (uint32_t)zp);
        if (got[l] != want)
          fail_msg("round %d lane %d: acc %d mult %d shift %d zp %d bound %lld: fast %d, want %d", round, l, acc[l],
                   mult[l], shift[l], zp, (long long)bound, got[l], want);
        /* the ties the form must round as the reference does: SRDHM's (acc m = 2^30 mod 2^31) and
         * the rounding shift's (its input = 2^(e-1) mod 2^e) */
        const int64_t prod = (int64_t)acc[l] * mult[l], e = -shift[l];
        const int64_t h = (prod + ((int64_t)1 << 30)) >> 31; /* SRDHM: floor((p + 2^30) / 2^31) */
        srdhm_ties += ((uint64_t)prod & 0x7fffffffu) == 0x40000000u;
        shift_ties += (h & (((int64_t)1 << e) - 1)) == (int64_t)1 << (e - 1);
      }
    }
    /* one lane the form cannot take declines the block */
    const int lane = (int)(next() % 16), k = round % 4;
    int32_t m2[16];
    int s2[16];
    memcpy(m2, mult, sizeof m2), memcpy(s2, shift, sizeof s2);
    if (k == 0) m2[lane] = 1 << 30;
    if (k == 1) s2[lane] = 0;
    if (k == 2) s2[lane] = uniform(1, 5);
    rq16_prepare(m2, s2, 0xffff, zp, k == 3 ? widest + 1 : bound, &p);
    assert_false(p.fast);
    /* ... unless the lane is past the block's channels (the bound: unless it alone had the widest
     * shift) */
    int others_fit = 1;
    for (int l = 0; l < 16; l++)
      if (l != lane && -s2[l] == emax) others_fit = 0;
    rq16_prepare(m2, s2, (__mmask16)~(1u << lane), zp, k == 3 ? widest + 1 : bound, &p);
    assert_int_equal(p.fast, k != 3 || others_fit);
  }
  /* the generator reaches both kinds of tie often (a test of the test: neither count is fixed) */
  assert_true(srdhm_ties > 1000 && shift_ties > 10000);
#else
  skip();
#endif
}

/* DEPTHWISE_CONV_2D, int8 and float32 (rt_dwconv2d_* take the CPU's widest path), against the
 * reference loop, depth multipliers 1..4, channel counts off the 16-lane blocks. */
static void test_dwconv(void **state) {
  (void)state;
  const int fast_before = fast_blocks;
  for (int trial = 0; trial < 200; trial++) {
    rt_conv_geom g = {0};
    g.batches = uniform(1, 2);
    g.k_h = uniform(1, 5), g.k_w = uniform(1, 5);
    if (trial % 10 == 1 || trial % 10 == 2) g.k_h = g.k_w = trial % 10 == 1 ? 3 : 5; /* the unrolled kernels */
    if (trial % 40 == 7) g.k_h = 12, g.k_w = 11; /* int8: 66 tap pairs, kept; float: 132 taps, declined to the plain kernel */
    g.in_c = uniform(1, 40);
    g.depth_multiplier = trial % 3 ? 1 : uniform(2, 4);
    g.out_c = g.in_c * g.depth_multiplier;
    g.stride_h = uniform(1, 2), g.stride_w = uniform(1, 2), g.dil_h = uniform(1, 2), g.dil_w = uniform(1, 2);
    g.in_h = uniform(2, 9), g.in_w = uniform(2, 9);
    if (g.k_h > 5) g.in_h = uniform(12, 14), g.in_w = uniform(11, 13);
    if (trial % 40 == 17) g.in_w = uniform(70, 90); /* rows of several 32-pixel chunks */
    if (trial % 40 == 27) /* a window 521 columns wide: past the AVX-512 column buffer, the plain kernel */
      g.k_h = 1, g.k_w = 2, g.dil_w = 520, g.pad_w = 0, g.in_w = uniform(521, 530);
    if (trial % 40 == 37) /* 130 int8 tap pairs (and float taps): declined to the plain kernels */
      g.k_h = 1, g.k_w = 130, g.dil_w = 1, g.in_w = uniform(130, 140);
    g.pad_h = uniform(0, g.k_h / 2), g.pad_w = uniform(0, g.k_w / 2);
    const int eh = g.dil_h * (g.k_h - 1) + 1, ew = g.dil_w * (g.k_w - 1) + 1;
    if (g.in_h + 2 * g.pad_h < eh || g.in_w + 2 * g.pad_w < ew) continue;
    g.out_h = (g.in_h + 2 * g.pad_h - eh) / g.stride_h + 1, g.out_w = (g.in_w + 2 * g.pad_w - ew) / g.stride_w + 1;
    const int C = g.out_c, taps = g.k_h * g.k_w;
    const int64_t n_in = (int64_t)g.batches * g.in_h * g.in_w * g.in_c,
                  n_out = (int64_t)g.batches * g.out_h * g.out_w * C;
    int8_t *in = malloc((size_t)n_in), *w = malloc((size_t)taps * C), *want = malloc((size_t)n_out),
           *got = malloc((size_t)n_out);
    int32_t *bias = malloc((size_t)C * sizeof *bias), *mult = malloc((size_t)C * sizeof *mult);
    int *shift = malloc((size_t)C * sizeof *shift);
    assert_true(in && w && want && got && bias && mult && shift);
    fill_i8(in, n_in, trial % 3 == 0);
    fill_i8(w, (int64_t)taps * C, trial % 3 == 0);
    for (int c = 0; c < C; c++) bias[c] = trial % 4 == 1 ? (int32_t)next() : uniform(-5000, 5000);
    rt_requant q;
    const int32_t *b = trial % 7 == 3 ? NULL : bias;
    random_requant(&q, mult, shift, C, trial % 2, acc_bound(taps, b, C));
    for (int bt = 0; bt < g.batches; bt++)
      for (int oy = 0; oy < g.out_h; oy++)
        for (int ox = 0; ox < g.out_w; ox++)
          for (int oc = 0; oc < C; oc++) {
            uint32_t acc = b ? (uint32_t)b[oc] : 0u;
            for (int ky = 0; ky < g.k_h; ky++)
              for (int kx = 0; kx < g.k_w; kx++) {
                const int y = oy * g.stride_h - g.pad_h + g.dil_h * ky, x = ox * g.stride_w - g.pad_w + g.dil_w * kx;
                if (y < 0 || y >= g.in_h || x < 0 || x >= g.in_w) continue;
                acc += (uint32_t)((int32_t)w[(ky * g.k_w + kx) * C + oc] *
                                  ((int32_t)in[((bt * g.in_h + y) * g.in_w + x) * g.in_c + oc / g.depth_multiplier] +
                                   q.in_offset));
              }
            want[((bt * g.out_h + oy) * g.out_w + ox) * C + oc] = finish(&q, acc, oc);
          }
    memset(got, 0x55, (size_t)n_out);
    rt_dwconv2d_i8(&g, &q, in, w, b, got);
    if (memcmp(got, want, (size_t)n_out))
      fail_msg("trial %d: %dx%dx%d k%dx%d m%d s%d,%d d%d pad %d,%d differs", trial, g.in_h, g.in_w, g.in_c,
               g.k_h, g.k_w, g.depth_multiplier, g.stride_h, g.stride_w, g.dil_h, g.pad_h, g.pad_w);
    /* float32 on the same geometry: each channel's taps in (ky, kx) order, the bias after */
    float *fin = malloc((size_t)n_in * sizeof *fin), *fw = malloc((size_t)taps * C * sizeof *fw),
          *fb = malloc((size_t)C * sizeof *fb), *fwant = malloc((size_t)n_out * sizeof *fwant),
          *fgot = malloc((size_t)n_out * sizeof *fgot);
    assert_true(fin && fw && fb && fwant && fgot);
    for (int64_t i = 0; i < n_in; i++) fin[i] = ldexpf((float)in[i], -uniform(0, 12));
    for (int64_t i = 0; i < (int64_t)taps * C; i++) fw[i] = ldexpf((float)w[i] + 0.37f, -uniform(0, 12));
    for (int c = 0; c < C; c++) fb[c] = ldexpf((float)bias[c], -20);
    const float flo = trial % 2 ? 0.0f : -INFINITY, fhi = trial % 4 == 1 ? 6.0f : INFINITY;
    for (int bt = 0; bt < g.batches; bt++)
      for (int oy = 0; oy < g.out_h; oy++)
        for (int ox = 0; ox < g.out_w; ox++)
          for (int oc = 0; oc < C; oc++) {
            float acc = 0.0f;
            for (int ky = 0; ky < g.k_h; ky++)
              for (int kx = 0; kx < g.k_w; kx++) {
                const int y = oy * g.stride_h - g.pad_h + g.dil_h * ky, x = ox * g.stride_w - g.pad_w + g.dil_w * kx;
                if (y < 0 || y >= g.in_h || x < 0 || x >= g.in_w) continue;
                acc += fin[((bt * g.in_h + y) * g.in_w + x) * g.in_c + oc / g.depth_multiplier] *
                       fw[(ky * g.k_w + kx) * C + oc];
              }
            float v = acc + (b ? fb[oc] : 0.0f);
            v = v < flo ? flo : v;
            fwant[((bt * g.out_h + oy) * g.out_w + ox) * C + oc] = fhi < v ? fhi : v;
          }
    rt_dwconv2d_f32(&g, flo, fhi, fin, fw, b ? fb : NULL, fgot);
    if (memcmp(fgot, fwant, (size_t)n_out * sizeof *fgot)) fail_msg("trial %d: float depthwise differs", trial);
    free(fin), free(fw), free(fb), free(fwant), free(fgot);
    free(in), free(w), free(want), free(got), free(bias), free(mult), free(shift), free((void *)q.rq16);
  }
  if (rt_simd_avx512()) assert_true(fast_blocks - fast_before > 20);
}

/* int8 ADD and MUL (the CPU's widest path) along contiguous and broadcast rows against the
 * reference's roundings. */
/* A row long enough to go over the threads in chunks (bcast_rows), its length no multiple of
 * the chunk, against a row and against a scalar: every element as the reference arithmetic
 * gives it. */
static void test_add_long_rows(void **state) {
  (void)state;
  enum { N = 5 * 16384 + 77 };
  static int8_t a[N], bb[N], got[N], want[N];
  fill_i8(a, N, 0);
  fill_i8(bb, N, 1);
  for (int scalar = 0; scalar < 2; scalar++) {
    rt_bcast bc;
    memset(&bc, 0, sizeof bc);
    for (int d = 0; d < QAT_RT_MAX_RANK; d++) bc.dims[d] = 1;
    bc.dims[5] = N, bc.s1[5] = 1, bc.s2[5] = scalar ? 0 : 1;
    rt_add_params p = {.in1_offset = 7, .in2_offset = -3, .out_zp = 5, .left_shift = 20,
                       .m1 = (int32_t)(1u << 30) + 12345, .m2 = (int32_t)(1u << 30) + 999, .mo = (int32_t)(1u << 30) + 4321,
                       .s1 = -2, .s2 = -3, .so = -18, .act_min = -128, .act_max = 127};
    for (int i = 0; i < N; i++) {
      const int32_t x1 = (p.in1_offset + a[i]) * (1 << p.left_shift);
      const int32_t x2 = (p.in2_offset + bb[scalar ? 0 : i]) * (1 << p.left_shift);
      const int32_t sum = (int32_t)((uint32_t)qat_multiply_by_quantized_multiplier(x1, p.m1, p.s1) +
                                    (uint32_t)qat_multiply_by_quantized_multiplier(x2, p.m2, p.s2));
      int32_t v = (int32_t)((uint32_t)qat_multiply_by_quantized_multiplier(sum, p.mo, p.so) + (uint32_t)p.out_zp);
      want[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
    }
    memset(got, 0x55, sizeof got);
    rt_add_i8(&bc, &p, a, bb, got);
    for (int i = 0; i < N; i++)
      if (got[i] != want[i]) fail_msg("%s: element %d of %d: %d, want %d", scalar ? "scalar" : "same shapes", i, N, got[i], want[i]);
  }
}

static void test_add(void **state) {
  (void)state;
  for (int trial = 0; trial < 300; trial++) {
    rt_bcast bc;
    memset(&bc, 0, sizeof bc);
    for (int d = 0; d < QAT_RT_MAX_RANK; d++) bc.dims[d] = 1;
    const int rows = uniform(1, 5), n = uniform(1, 70), b1 = trial % 5 == 1, b2 = trial % 5 == 2,
              b3 = trial % 5 == 3;
    bc.dims[4] = rows, bc.dims[5] = n;
    bc.s1[4] = b1 ? 1 : n, bc.s1[5] = b1 ? 0 : 1;                /* b1: one value per row */
    bc.s2[4] = b2 || b3 ? 0 : n, bc.s2[5] = b3 ? 0 : 1;          /* b2: one row for all; b3: a scalar */
    int8_t a[5 * 70], bb[5 * 70], got[5 * 70], want[5 * 70];
    fill_i8(a, 5 * 70, trial % 3 == 0);
    fill_i8(bb, 5 * 70, trial % 3 == 0);
    rt_add_params p = {.in1_offset = uniform(-127, 128), .in2_offset = uniform(-127, 128),
                       .out_zp = uniform(-128, 127), .left_shift = 20,
                       .m1 = (int32_t)((1u << 30) + (next() >> 2)), .m2 = (int32_t)((1u << 30) + (next() >> 2)),
                       .mo = (int32_t)((1u << 30) + (next() >> 2)), .s1 = uniform(-12, 0), .s2 = uniform(-12, 0),
                       .so = uniform(-24, -10), .act_min = -128, .act_max = 127};
    if (trial % 5 == 0) p.act_min = p.out_zp;
    for (int r = 0; r < rows; r++)
      for (int i = 0; i < n; i++) {
        const int32_t x1 = (p.in1_offset + a[r * bc.s1[4] + i * bc.s1[5]]) * (1 << p.left_shift);
        const int32_t x2 = (p.in2_offset + bb[r * bc.s2[4] + i * bc.s2[5]]) * (1 << p.left_shift);
        const int32_t sum = (int32_t)((uint32_t)qat_multiply_by_quantized_multiplier(x1, p.m1, p.s1) +
                                      (uint32_t)qat_multiply_by_quantized_multiplier(x2, p.m2, p.s2));
        int32_t v = (int32_t)((uint32_t)qat_multiply_by_quantized_multiplier(sum, p.mo, p.so) + (uint32_t)p.out_zp);
        v = v < p.act_min ? p.act_min : v > p.act_max ? p.act_max : v;
        want[r * n + i] = (int8_t)v;
      }
    memset(got, 0x55, sizeof got);
    rt_add_i8(&bc, &p, a, bb, got);
    if (memcmp(got, want, (size_t)(rows * n))) fail_msg("trial %d: %d rows of %d differ", trial, rows, n);
    /* MUL on the same rows: zp_out + MultiplyByQuantizedMultiplier((x1 + off1) * (x2 + off2)) */
    for (int r = 0; r < rows; r++)
      for (int i = 0; i < n; i++) {
        const int32_t prod = (p.in1_offset + a[r * bc.s1[4] + i * bc.s1[5]]) * (p.in2_offset + bb[r * bc.s2[4] + i * bc.s2[5]]);
        int32_t v = (int32_t)((uint32_t)p.out_zp + (uint32_t)qat_multiply_by_quantized_multiplier(prod, p.mo, p.so + 10));
        v = v < p.act_min ? p.act_min : v > p.act_max ? p.act_max : v;
        want[r * n + i] = (int8_t)v;
      }
    rt_add_params pm = p;
    pm.so = p.so + 10; /* a product needs a smaller scale than a sum's left-shifted terms */
    memset(got, 0x55, sizeof got);
    rt_mul_i8(&bc, &pm, a, bb, got);
    if (memcmp(got, want, (size_t)(rows * n))) fail_msg("trial %d: MUL, %d rows of %d differ", trial, rows, n);
  }
}

static float rand_float(int special) {
  static const float odd[] = {0.0f, -0.0f, 1e-38f, -3e38f, 3e38f, 1.0f, -1.0f};
  if (special && next() % 8 == 0) return odd[next() % 7];
  return ldexpf((float)((int32_t)next() >> 8), -uniform(20, 30));
}

/* float32 CONV_2D and FULLY_CONNECTED through the packed GEMM on every path, bit for bit against
 * the reference loops (rt_conv2d_f32, rt_fc_f32): same products, same order of additions, the
 * bias after the sum, the clamp, zeros in the padding; inputs with signed zeros and values that
 * overflow to infinity. */
/* The dynamic-range ops' input quantization (rt_symmetric_quantize: TFLite's
 * SymmetricQuantizeFloats, written out here) on every path: ties at k + 1/2 both signs, all
 * zeros, a NaN, infinities, a denormal range (127 / range overflows), lengths off the lanes. */
static float ref_symmetric(const float *x, int n, int8_t *q) {
  float mn = x[0], mx = x[0];
  for (int i = 1; i < n; i++) {
    if (x[i] < mn) mn = x[i];
    if (!(x[i] < mx)) mx = x[i];
  }
  const float range = fabsf(mn) < fabsf(mx) ? fabsf(mx) : fabsf(mn);
  if (range == 0.0f) {
    memset(q, 0, (size_t)n);
    return 1.0f;
  }
  const float inv = 127 / range;
  for (int i = 0; i < n; i++) {
    const float r = roundf(x[i] * inv);
    const int32_t v = r >= -2147483648.0f && r < 2147483648.0f ? (int32_t)r : INT32_MIN;
    q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
  }
  return range / 127;
}

static void test_symmetric_quantize(void **state) {
  (void)state;
  float x[200];
  int8_t want[200], got[200];
  for (int trial = 0; trial < 400; trial++) {
    const int n = uniform(1, 200), kind = trial % 8;
    for (int i = 0; i < n; i++) {
      switch (kind) {
        case 0: x[i] = (float)uniform(-126, 126) + (next() % 2 ? 0.5f : -0.5f); break; /* ties, range 127 */
        case 1: x[i] = 0.0f; break;
        case 2: x[i] = ldexpf((float)(int32_t)next(), -uniform(20, 40)); break;
        case 3: x[i] = ldexpf((float)(int32_t)next(), -150); break; /* denormals */
        default: x[i] = ldexpf((float)(int32_t)next(), -31) * (float)uniform(1, 1000); break;
      }
    }
    if (kind == 0) x[next() % n] = next() % 2 ? 127.0f : -127.0f;
    if (kind == 4) x[next() % n] = NAN;
    if (kind == 5) x[next() % n] = next() % 2 ? INFINITY : -INFINITY;
    memset(got, 0x55, sizeof got);
    const float sw = ref_symmetric(x, n, want), sg = rt_symmetric_quantize(x, n, got);
    if (memcmp(&sw, &sg, sizeof sw) || memcmp(want, got, (size_t)n))
      fail_msg("trial %d (kind %d, n %d): symmetric quantization differs (scale %g vs %g)", trial, kind, n,
               (double)sg, (double)sw);
  }
}

/* The int8 lookup ops' table (rt_lut_apply_i8: VBMI byte permutes where the CPU has them)
 * against indexing it: every byte value, lengths off the 64-byte steps, in place too. */
static void test_lut(void **state) {
  (void)state;
  int8_t lut[256], in[300], got[300];
  for (int trial = 0; trial < 50; trial++) {
    for (int i = 0; i < 256; i++) lut[i] = (int8_t)next();
    const int n = trial < 2 ? 256 : uniform(1, 300);
    for (int i = 0; i < n; i++) in[i] = (int8_t)(trial < 2 ? i - 128 : (int)next());
    memset(got, 0x55, sizeof got);
    rt_lut_apply_i8(n, lut, in, got);
    for (int i = 0; i < n; i++)
      if (got[i] != lut[(uint8_t)in[i]]) fail_msg("trial %d: byte %d (%d) -> %d, table says %d", trial, i, in[i], got[i], lut[(uint8_t)in[i]]);
    if (n < 300 && got[n] != 0x55) fail_msg("trial %d: wrote past %d bytes", trial, n);
    rt_lut_apply_i8(n, lut, in, in); /* in place, as an op on its own buffer may run */
    if (memcmp(in, got, (size_t)n)) fail_msg("trial %d: in place differs", trial);
  }
}

static void test_float_paths(void **state) {
  (void)state;
  int list[2], np = paths(list);
  if (!np) skip();
  int in_place = 0;
  for (int trial = 0; trial < 200; trial++) {
    rt_conv_geom g = {0};
    g.batches = uniform(1, 2);
    g.k_h = uniform(1, 4), g.k_w = uniform(1, 4);
    if (trial % 6 == 0) g.k_h = g.k_w = 1;
    g.in_c = g.filter_in_c = uniform(1, 40);
    g.out_c = uniform(1, 90);
    g.stride_h = trial % 6 == 0 ? 1 : uniform(1, 2), g.stride_w = trial % 6 == 0 ? 1 : uniform(1, 2);
    g.dil_h = g.dil_w = 1;
    if (trial % 5 == 1) g.dil_w = 2;
    if (trial % 5 == 3) g.dil_h = 2;
    g.in_h = uniform(2, 8), g.in_w = uniform(2, 8);
    g.pad_h = trial % 6 == 0 ? 0 : uniform(0, g.k_h / 2), g.pad_w = trial % 6 == 0 ? 0 : uniform(0, g.k_w / 2);
    const int eh = g.dil_h * (g.k_h - 1) + 1, ew = g.dil_w * (g.k_w - 1) + 1;
    if (g.in_h + 2 * g.pad_h < eh || g.in_w + 2 * g.pad_w < ew) continue;
    g.out_h = (g.in_h + 2 * g.pad_h - eh) / g.stride_h + 1, g.out_w = (g.in_w + 2 * g.pad_w - ew) / g.stride_w + 1;
    const int K = g.k_h * g.k_w * g.in_c;
    const int64_t n_in = (int64_t)g.batches * g.in_h * g.in_w * g.in_c,
                  n_out = (int64_t)g.batches * g.out_h * g.out_w * g.out_c;
    float *in = malloc((size_t)n_in * sizeof *in), *w = malloc((size_t)g.out_c * K * sizeof *w),
          *bias = malloc((size_t)g.out_c * sizeof *bias), *want = malloc((size_t)n_out * sizeof *want),
          *got = malloc((size_t)n_out * sizeof *got);
    assert_true(in && w && bias && want && got);
    for (int64_t i = 0; i < n_in; i++) in[i] = trial % 4 == 0 && next() % 3 == 0 ? 0.0f : rand_float(trial % 3 == 0);
    for (int64_t i = 0; i < (int64_t)g.out_c * K; i++) w[i] = rand_float(0);
    for (int c = 0; c < g.out_c; c++) bias[c] = rand_float(0);
    const float lo = trial % 2 ? 0.0f : -INFINITY, hi = trial % 4 == 1 ? 6.0f : INFINITY;
    const float *b = trial % 5 == 2 ? NULL : bias;
    rt_conv2d_f32(&g, lo, hi, in, w, b, want);
    for (int i = 0; i < np; i++) {
      rt_sgemm_b pk;
      for (int direct = 1; direct >= 0; direct--) { /* read in place where it may, then patches */
        assert_int_equal(rt_sgemm_pack_conv(&pk, list[i], &g, w, direct), 0);
        assert_int_equal(pk.path, list[i]);
        in_place += pk.direct_row > 0;
        memset(got, 0x55, (size_t)n_out * sizeof *got);
        rt_conv2d_f32_gemm(&g, lo, hi, &pk, in, b, got);
        if (memcmp(got, want, (size_t)n_out * sizeof *got))
          fail_msg("%s%s trial %d: conv %dx%dx%d k%dx%d s%d,%d pad %d,%d -> %d differs", rt_igemm_path_name(list[i]),
                   pk.direct_row ? " (in place)" : "", trial, g.in_h, g.in_w, g.in_c, g.k_h, g.k_w, g.stride_h,
                   g.stride_w, g.pad_h, g.pad_w, g.out_c);
        if (direct) rt_sgemm_free(&pk);
      }
      /* the same weights as FULLY_CONNECTED over the patches' depth: rows of the input */
      const int rows = (int)(n_in / K < 7 ? n_in / K : 7);
      if (rows > 0) {
        float fw[7 * 90], fg[7 * 90];
        rt_fc_f32(rows, K, g.out_c, lo, hi, in, w, b, fw);
        rt_fc_f32_gemm(rows, lo, hi, &pk, in, b, fg);
        if (memcmp(fg, fw, (size_t)rows * g.out_c * sizeof *fg))
          fail_msg("%s trial %d: fully connected %d x %d -> %d differs", rt_igemm_path_name(list[i]), trial, rows, K,
                   g.out_c);
      }
      rt_sgemm_free(&pk);
    }
    free(in), free(w), free(bias), free(want), free(got);
    /* the same filter as TRANSPOSE_CONV's [out_c][kh][kw][in_c]: from a small input, any
     * stride and padding, every output pixel reached by 0 to kh * kw taps */
    rt_conv_geom t = g;
    t.in_h = uniform(1, 5), t.in_w = uniform(1, 11), t.stride_h = uniform(1, 3), t.stride_w = uniform(1, 3);
    t.pad_h = uniform(0, g.k_h - 1), t.pad_w = uniform(0, g.k_w - 1), t.dil_h = t.dil_w = 1;
    t.out_h = (t.in_h - 1) * t.stride_h + g.k_h - 2 * t.pad_h + (trial % 3 == 0 ? t.stride_h - 1 : 0);
    t.out_w = (t.in_w - 1) * t.stride_w + g.k_w - 2 * t.pad_w;
    if (t.out_h < 1 || t.out_w < 1) continue;
    const int64_t t_in = (int64_t)t.batches * t.in_h * t.in_w * t.in_c,
                  t_out = (int64_t)t.batches * t.out_h * t.out_w * t.out_c;
    in = malloc((size_t)t_in * sizeof *in), w = malloc((size_t)g.out_c * K * sizeof *w);
    bias = malloc((size_t)g.out_c * sizeof *bias), want = malloc((size_t)t_out * sizeof *want);
    got = malloc((size_t)t_out * sizeof *got);
    assert_true(in && w && bias && want && got);
    for (int64_t i = 0; i < t_in; i++) in[i] = trial % 4 == 0 && next() % 3 == 0 ? 0.0f : rand_float(trial % 3 == 0);
    for (int64_t i = 0; i < (int64_t)g.out_c * K; i++) w[i] = rand_float(0);
    for (int c = 0; c < g.out_c; c++) bias[c] = rand_float(0);
    const float *tb = trial % 5 == 2 ? NULL : bias;
    rt_tconv_f32(&t, lo, hi, in, w, tb, want);
    for (int i = 0; i < np; i++) {
      rt_sgemm_b pk;
      assert_int_equal(rt_sgemm_pack(&pk, list[i], t.out_c, K, w), 0);
      memset(got, 0x55, (size_t)t_out * sizeof *got);
      rt_tconv_f32_gemm(&t, lo, hi, &pk, in, tb, got);
      if (memcmp(got, want, (size_t)t_out * sizeof *got))
        fail_msg("%s trial %d: transpose conv %dx%dx%d k%dx%d s%d,%d pad %d,%d -> %dx%dx%d differs",
                 rt_igemm_path_name(list[i]), trial, t.in_h, t.in_w, t.in_c, t.k_h, t.k_w, t.stride_h, t.stride_w,
                 t.pad_h, t.pad_w, t.out_h, t.out_w, t.out_c);
      rt_sgemm_free(&pk);
    }
    free(in), free(w), free(bias), free(want), free(got);
  }
  if (rt_igemm_path() != RT_IGEMM_PLAIN) assert_true(in_place > 15 * np);
}

/* Depths past the tile buffers stay on the plain kernels. */
static void test_pack_limits(void **state) {
  (void)state;
  int list[2], np = paths(list);
  if (!np) skip();
  rt_igemm_b pk;
  static int8_t w[RT_IGEMM_KMAX + 1];
  assert_int_equal(rt_igemm_pack(&pk, list[np - 1], 1, RT_IGEMM_KMAX + 1, 0, w, NULL, 0), 0);
  assert_int_equal(pk.path, RT_IGEMM_PLAIN);
  assert_int_equal(rt_igemm_pack(&pk, RT_IGEMM_PLAIN, 1, 8, 0, w, NULL, 0), 0);
  assert_int_equal(pk.path, RT_IGEMM_PLAIN);
  rt_igemm_free(&pk);
  /* a window read in place keeps a copy of its input: 3x3 over 16 channels from 100x100 (160 KB)
   * reads in place, from 600x600 (5.8 MB) it keeps the patches */
  static float fw[16 * 9 * 16];
  for (int big = 0; big < 2; big++) {
    rt_conv_geom g = {.batches = 1, .in_h = big ? 600 : 100, .in_w = big ? 600 : 100, .in_c = 16, .filter_in_c = 16,
                      .out_c = 16, .k_h = 3, .k_w = 3, .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1,
                      .pad_h = 1, .pad_w = 1};
    g.out_h = g.in_h, g.out_w = g.in_w;
    rt_sgemm_b fpk;
    assert_int_equal(rt_sgemm_pack_conv(&fpk, list[np - 1], &g, fw, 1), 0);
    assert_int_equal(fpk.direct_row > 0, !big);
    rt_sgemm_free(&fpk);
    if (list[np - 1] != RT_IGEMM_VNNI) continue;
    assert_int_equal(rt_igemm_pack_conv(&pk, RT_IGEMM_VNNI, &g, w, NULL, 0, 1), 0);
    assert_int_equal(pk.direct_gpr > 0, !big);
    rt_igemm_free(&pk);
  }
}

int main(void) {
  printf("int8 GEMM paths on this CPU up to: %s\n", rt_igemm_path_name(rt_igemm_path()));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_paths),
      cmocka_unit_test(test_fc_paths),
      cmocka_unit_test(test_requant_row),
      cmocka_unit_test(test_rq16_fast),
      cmocka_unit_test(test_dwconv),
      cmocka_unit_test(test_symmetric_quantize),
      cmocka_unit_test(test_lut),
      cmocka_unit_test(test_add),
      cmocka_unit_test(test_add_long_rows),
      cmocka_unit_test(test_float_paths),
      cmocka_unit_test(test_pack_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
