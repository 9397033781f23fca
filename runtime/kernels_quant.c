/* The integer kernels whose int8 and int16 versions are the same loop over another type
 * (bit-exact with TensorFlow Lite's reference kernels, read, not copied):
 *   AVERAGE/MAX_POOL   reference/integer_ops/pooling.h  AveragePool, MaxPool (int8, int16)
 *   MEAN               reference/reduce.h QuantizedMeanOrSum<int8_t / int16_t> (the path
 *                      reduce.cc's kReference takes, with 1/n folded into the multiplier)
 *   ADD                reference/integer_ops/add.h AddElementwise / BroadcastAdd6DSlow (the
 *                      general rescaling; left_shift 20 for int8, 15 for int16)
 * Each is written once, on values widened to int32 and with the type's bounds as parameters;
 * the exported functions instantiate it for one element type (bytes 1 or 2), which the
 * compiler folds. */
#include <string.h>

#include "qat/quant.h"
#include "runtime/rt_kernel.h"
#include "runtime/rt_simd.h"

#define RT_INLINE static inline __attribute__((always_inline))

RT_INLINE int32_t load(const void *p, int64_t i, int bytes) {
  return bytes == 1 ? ((const int8_t *)p)[i] : ((const int16_t *)p)[i];
}
RT_INLINE void store(void *p, int64_t i, int bytes, int32_t v) {
  if (bytes == 1)
    ((int8_t *)p)[i] = (int8_t)v;
  else
    ((int16_t *)p)[i] = (int16_t)v;
}

/* Round to nearest, ties away from zero, counting only in-image taps. -1 when a window has
 * no valid tap (TFLite's AveragePool returns false). */
RT_INLINE int avgpool(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const void *in,
                      void *out, int bytes) {
  RT_FOR_EACH_POOL_WINDOW(g, b, y0, x0, fy0, fy1, fx0, fx1, c, oi, {
    uint32_t acc = 0;  /* int32 in TFLite: wraps the same way */
    int64_t count = 0; /* int in TFLite; 64 bits keep a 2^31-tap window defined */
    for (int64_t fy = fy0; fy < fy1; fy++)
      for (int64_t fx = fx0; fx < fx1; fx++) {
        acc += (uint32_t)load(in, RT_POOL_AT(g, b, y0, x0, fy, fx, c), bytes);
        count++;
      }
    if (count == 0) return -1;
    const int32_t a = (int32_t)acc, half = (int32_t)(count / 2);
    const int32_t r = (int32_t)((a > 0 ? rt_wadd(a, half) : rt_wsub(a, half)) / count);
    store(out, oi, bytes, rt_clampi(r, act_min, act_max));
  });
  return 0;
}

/* Channels innermost, each output pixel's running maximum kept in the output: the maximum does
 * not depend on the order of the taps, and a contiguous channel loop vectorizes. A window
 * without a tap in the image gives the type's lowest value, clamped, as the reference. */
#define RT_MAXPOOL_PIXELS(T, LOWEST)                                                       \
  RT_FOR_EACH_OUT_PIXEL(g, b, y0, x0, pix, {                                               \
    const int64_t fy0 = y0 < 0 ? -y0 : 0, fx0 = x0 < 0 ? -x0 : 0;                         \
    const int64_t fy1 = g->in_h - y0 < g->f_h ? g->in_h - y0 : g->f_h;                     \
    const int64_t fx1 = g->in_w - x0 < g->f_w ? g->in_w - x0 : g->f_w;                     \
    T *restrict o = (T *)out + pix * C;                                                    \
    for (int64_t c = 0; c < C; c++) o[c] = LOWEST;                                         \
    for (int64_t fy = fy0; fy < fy1; fy++)                                                 \
      for (int64_t fx = fx0; fx < fx1; fx++) {                                             \
        const T *restrict ip = (const T *)in + ((b * g->in_h + y0 + fy) * g->in_w + x0 + fx) * C; \
        for (int64_t c = 0; c < C; c++) o[c] = ip[c] > o[c] ? ip[c] : o[c];                \
      }                                                                                    \
    for (int64_t c = 0; c < C; c++) o[c] = (T)(o[c] < lo ? lo : o[c] > hi ? hi : o[c]);    \
  })

RT_INLINE void maxpool(const rt_pool_geom *g_in, int32_t act_min, int32_t act_max, const void *in,
                       void *out, int bytes) {
  /* a copy of the geometry: stores through the (character-typed) output may alias it otherwise */
  const rt_pool_geom geom = *g_in, *g = &geom;
  const int64_t C = g->c;
  const int32_t lo = act_min, hi = act_max;
  if (bytes == 1) {
    RT_MAXPOOL_PIXELS(int8_t, INT8_MIN);
  } else {
    RT_MAXPOOL_PIXELS(int16_t, INT16_MIN);
  }
}

RT_INLINE void mean(const rt_reduce_geom *g, int32_t in_zp, int32_t out_zp, int32_t mult,
                    int shift, const void *in, void *out, int32_t *scratch, int bytes,
                    int32_t qmin, int32_t qmax) {
  memset(scratch, 0, (size_t)g->n_out * sizeof *scratch);
  if (g->rank == 4 && g->axis_mask == 6u) {
    /* the spatial mean of [N, H, W, C] (global average pooling): whole rows of channels added
     * at a time; integer sums modulo 2^32 do not depend on the order */
    const int64_t hw = g->dims[1] * g->dims[2], C = g->dims[3];
    for (int64_t b = 0; b < g->dims[0]; b++) {
      uint32_t *restrict acc = (uint32_t *)(scratch + b * C);
      if (bytes == 1 && rt_sum_pixels_i8_avx512((const int8_t *)in + b * hw * C, hw, C, acc) == 0) continue;
      for (int64_t px = 0; px < hw; px++) {
        const int64_t at = (b * hw + px) * C;
        if (bytes == 1)
          for (int64_t c = 0; c < C; c++) acc[c] += (uint32_t)(int32_t)((const int8_t *)in)[at + c];
        else
          for (int64_t c = 0; c < C; c++) acc[c] += (uint32_t)(int32_t)((const int16_t *)in)[at + c];
      }
    }
  } else {
    int64_t ostride[QAT_RT_MAX_RANK];
    rt_reduce_strides(g, ostride);
    RT_FOR_EACH_REDUCED(g, ostride, i, o, scratch[o] = rt_wadd(scratch[o], load(in, i, bytes)));
  }
  const uint32_t zp_n = (uint32_t)(uint64_t)((int64_t)in_zp * g->n_reduce);
  if (bytes == 1 && qmin == INT8_MIN && qmax == INT8_MAX &&
      rt_mean_out_i8_avx512((const uint32_t *)scratch, g->n_out, zp_n, mult, shift, out_zp, out) == 0)
    return;
  for (int64_t o = 0; o < g->n_out; o++) {
    /* static_cast<int32_t>(temp_sum - input_zero_point * num_elements_in_axis), in int64 */
    const int64_t centered = (int64_t)scratch[o] - (int64_t)in_zp * g->n_reduce;
    const int32_t s = (int32_t)(uint32_t)(uint64_t)centered;
    const int32_t r = rt_wadd(qat_multiply_by_quantized_multiplier(s, mult, shift), out_zp);
    store(out, o, bytes, rt_clampi(r, qmin, qmax));
  }
}

/* With s = 31 + e - ls, fakequant/fixedpoint_avx512.h's single floor of
 * (x m 2^ls + 2^30 + 2^(30+e) - [x < 0] 2^31) / 2^(31+e) is, divided through by 2^ls (exact:
 * ls <= 30), floor((x m + k - [x < 0] 2^(31-ls)) / 2^s) with k = 2^(30-ls) + 2^(30+e-ls) (e > 0;
 * 2^(30-ls) and no [x < 0] term for e = 0), and splitting m = mh 2^s + ml (ml < 2^s) gives
 *   x mh + floor((x ml + k - [x < 0] 2^(31-ls)) / 2^s):
 * two 32-bit multiplies and a shift instead of two 64-bit multiplies and their halves. It holds
 * where 9 <= s <= 22 (x mh and x ml fit int32) and m > 2^(30-ls) (so x < 0 is exactly the
 * product below -2^30); ADD's input multipliers are below 1/2 (e >= 1) and in [2^30, 2^31). */
int rt_add_rescale_params(int32_t m, int shift, int ls, rt_rescale *r) {
  const int e = -shift, s = 31 + e - ls;
  if (shift > 0 || s < 9 || s > 22 || ls > 30 || ls < 0 || m <= (INT32_C(1) << (30 - ls))) return -1;
  r->mh = m >> s;
  r->ml = m & (int32_t)((1u << s) - 1);
  r->k = (1 << (30 - ls)) + (e > 0 ? (1 << (30 + e - ls)) : 0);
  r->neg = e > 0 ? 1 << (31 - ls) : 0;
  r->s = s;
  return 0;
}

/* |(offset + x) << left_shift| stays below 2^31: 255 * 2^20 for int8, 65535 * 2^15 for int16. */
RT_INLINE int32_t add_one(const rt_add_params *p, int32_t a, int32_t b) {
  const int32_t x1 = (p->in1_offset + a) * (1 << p->left_shift);
  const int32_t x2 = (p->in2_offset + b) * (1 << p->left_shift);
  const int32_t s1 = qat_multiply_by_quantized_multiplier(x1, p->m1, p->s1);
  const int32_t s2 = qat_multiply_by_quantized_multiplier(x2, p->m2, p->s2);
  const int32_t raw =
      rt_wadd(qat_multiply_by_quantized_multiplier(rt_wadd(s1, s2), p->mo, p->so), p->out_zp);
  return rt_clampi(raw, p->act_min, p->act_max);
}

RT_INLINE void add(const rt_bcast *bc, const rt_add_params *p, const void *in1, const void *in2,
                   void *out, int bytes) {
  RT_FOR_EACH_BCAST(bc, i1, i2, o,
                    store(out, o, bytes, add_one(p, load(in1, i1, bytes), load(in2, i2, bytes))));
}

int rt_avgpool_i8(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const int8_t *in,
                  int8_t *out) {
  return avgpool(g, act_min, act_max, in, out, 1);
}
int rt_avgpool_i16(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const int16_t *in,
                   int16_t *out) {
  return avgpool(g, act_min, act_max, in, out, 2);
}
void rt_maxpool_i8(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const int8_t *in,
                   int8_t *out) {
  if (rt_simd_avx512()) {
    rt_maxpool_i8_avx512(g, act_min, act_max, in, out);
    return;
  }
  maxpool(g, act_min, act_max, in, out, 1);
}
void rt_maxpool_i16(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const int16_t *in,
                    int16_t *out) {
  maxpool(g, act_min, act_max, in, out, 2);
}
void rt_mean_i8(const rt_reduce_geom *g, int32_t in_zp, int32_t out_zp, int32_t mult, int shift,
                const int8_t *in, int8_t *out, int32_t *scratch) {
  mean(g, in_zp, out_zp, mult, shift, in, out, scratch, 1, INT8_MIN, INT8_MAX);
}
void rt_mean_i16(const rt_reduce_geom *g, int32_t in_zp, int32_t out_zp, int32_t mult, int shift,
                 const int16_t *in, int16_t *out, int32_t *scratch) {
  mean(g, in_zp, out_zp, mult, shift, in, out, scratch, 2, INT16_MIN, INT16_MAX);
}
/* The broadcast's rows (its innermost dimension, joined with the outer ones along which the
 * inputs go on as along it) through fn; -1 (nothing written) when the innermost strides are not
 * 0 or 1. */
int rt_bcast_rows(const rt_bcast *bc_in, const rt_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out,
                  rt_row_fn fn) {
  rt_bcast merged = *bc_in, *bc = &merged;
  const int64_t s1 = bc->s1[5], s2 = bc->s2[5];
  if (s1 < 0 || s1 > 1 || s2 < 0 || s2 > 1) return -1;
  /* an outer dimension along which each input either continues contiguously or stays (a
   * broadcast scalar along the whole row) joins the row */
  for (int d = 4; d >= 0 && bc->s1[d] == bc->dims[5] * s1 && bc->s2[d] == bc->dims[5] * s2 && (s1 || s2); d--) {
    bc->dims[5] *= bc->dims[d];
    bc->dims[d] = 1;
  }
  /* and the outer dimensions along which both inputs step evenly join the rows' dimension
   * (4): a squeeze-excite MUL's [1, 48, 48, 32] x [1, 1, 1, 32] is one call of 2304 rows */
  for (int d = 3; d >= 0; d--) {
    if (bc->dims[d] == 1) continue;
    if (bc->dims[4] == 1) {
      bc->dims[4] = bc->dims[d], bc->s1[4] = bc->s1[d], bc->s2[4] = bc->s2[d];
    } else if (bc->s1[d] == bc->dims[4] * bc->s1[4] && bc->s2[d] == bc->dims[4] * bc->s2[4]) {
      bc->dims[4] *= bc->dims[d];
    } else {
      break;
    }
    bc->dims[d] = 1;
  }
  const int64_t n = bc->dims[5];
  enum { CHUNK = 1 << 14 };
  if (bc->dims[0] * bc->dims[1] * bc->dims[2] * bc->dims[3] * bc->dims[4] == 1) {
    /* one row (same shapes, or a scalar against a tensor): in chunks over the threads, each
     * element's arithmetic its own (ResNet50's 16 ADDs of up to 800 K elements) */
    RT_FOR(n >= 4 * CHUNK, c, (n + CHUNK - 1) / CHUNK, {
      const int64_t at = c * CHUNK;
      const rt_rows w = {in1 + at * s1, in2 + at * s2, out + at, s1, s2, n - at < CHUNK ? n - at : CHUNK, 1, 0, 0};
      fn(p, &w);
    });
    return 0;
  }
  if (bc->dims[0] * bc->dims[1] * bc->dims[2] * bc->dims[3] == 1) {
    /* the rows in blocks of about CHUNK outputs over the threads */
    const int64_t rows = bc->dims[4], per = n >= CHUNK ? 1 : CHUNK / n, r1 = bc->s1[4], r2 = bc->s2[4];
    RT_FOR(n * rows >= 4 * CHUNK, c, (rows + per - 1) / per, {
      const int64_t at = c * per;
      const rt_rows w = {in1 + at * r1, in2 + at * r2, out + at * n, s1, s2, n, rows - at < per ? rows - at : per, r1, r2};
      fn(p, &w);
    });
    return 0;
  }
  int64_t o = 0;
  for (int64_t a0 = 0; a0 < bc->dims[0]; a0++)
    for (int64_t a1 = 0; a1 < bc->dims[1]; a1++)
      for (int64_t a2 = 0; a2 < bc->dims[2]; a2++)
        for (int64_t a3 = 0; a3 < bc->dims[3]; a3++, o += n * bc->dims[4]) {
          const int64_t b1 = a0 * bc->s1[0] + a1 * bc->s1[1] + a2 * bc->s1[2] + a3 * bc->s1[3];
          const int64_t b2 = a0 * bc->s2[0] + a1 * bc->s2[1] + a2 * bc->s2[2] + a3 * bc->s2[3];
          const rt_rows w = {in1 + b1, in2 + b2, out + o, s1, s2, n, bc->dims[4], bc->s1[4], bc->s2[4]};
          fn(p, &w);
        }
  return 0;
}

void rt_add_i8(const rt_bcast *b, const rt_add_params *p, const int8_t *in1, const int8_t *in2,
               int8_t *out) {
  if (rt_simd_avx512() && rt_add_i8_avx512(b, p, in1, in2, out) == 0) return;
  if (rt_igemm_path() == RT_IGEMM_AVX2 && rt_bcast_rows(b, p, in1, in2, out, rt_add_row_i8_avx2) == 0) return;
  add(b, p, in1, in2, out, 1);
}
void rt_add_i16(const rt_bcast *b, const rt_add_params *p, const int16_t *in1, const int16_t *in2,
                int16_t *out) {
  add(b, p, in1, in2, out, 2);
}
