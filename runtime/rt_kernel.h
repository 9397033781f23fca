/* What the kernels of every tensor type share (private to runtime/): integer arithmetic with
 * TFLite's wrapping and clamping, and the index walkers that visit windows, taps, reductions
 * and broadcasts in the reference kernels' order (reference/conv.h, depthwise_conv.h,
 * pooling.h, reduce.h Reduce, BroadcastAdd6DSlow). A kernel is its accumulation and its
 * finish; the loops around them are written once, here. */
#ifndef QAT_RT_KERNEL_H
#define QAT_RT_KERNEL_H

#include <math.h>
#include <stdint.h>

#include <omp.h>

#include "runtime/rt_internal.h"

/* ---- threads ------------------------------------------------------------------------------ */

/* The int8 kernels split their work over the OpenMP threads above 64 K multiply-adds (a fork-join
 * of warm threads costs about a microsecond). At 2^21, where it was, the pointwise convolutions
 * of MobileNet-style models all ran on one thread: at 2 threads MobileNet 0.25 took 0.21 ms,
 * 0.14 ms then, EfficientNetB0 1.32-1.52 -> 1.04-1.20. The AVX-512 GEMM and depthwise kernels,
 * faster since, set their own thresholds (igemm.c's gemm_parallel, kernels_avx512.c). (qat eval
 * splits the test set over the threads instead; its kernels run on one.) */
#define RT_PARALLEL_MACS (1 << 16)

/* for (int64_t i = 0; i < n; i++) { body } over the OpenMP threads (static schedule) when cond
 * holds and there are threads to share it (more than one, and not already inside a parallel
 * region such as qat eval's, where a nested one would run on one thread anyway), else as a
 * plain loop. Not "#pragma omp parallel for if (cond)": a region whose if clause is false still
 * enters libgomp, about 0.35 us a call on this project's machines, which a small model pays in
 * every op (a tenth of a 13-op model's 30 us). */
#define RT_FOR(cond, i, n, ...)                                                               \
  do {                                                                                        \
    const int64_t rt_for_n_ = (n);                                                            \
    if ((cond) && rt_for_n_ > 1 && omp_get_max_threads() > 1 && !omp_in_parallel()) {         \
      _Pragma("omp parallel for schedule(static)") for (int64_t i = 0; i < rt_for_n_; i++) { \
        __VA_ARGS__;                                                                          \
      }                                                                                       \
    } else {                                                                                  \
      for (int64_t i = 0; i < rt_for_n_; i++) {                                               \
        __VA_ARGS__;                                                                          \
      }                                                                                       \
    }                                                                                         \
  } while (0)

/* ---- integer arithmetic ------------------------------------------------------------------ */

/* TFLite's int32 sums wrap (undefined in C++, a wrap on every target it runs on); here they
 * wrap through uint32, the same bits without undefined behaviour. */
static inline int32_t rt_wadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t rt_wsub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
/* std::min(std::max(x, lo), hi), TFLite's clamp order (for floats: NaN passes through). */
static inline int32_t rt_clampi(int32_t x, int32_t lo, int32_t hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}
static inline float rt_clampf(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return hi < x ? hi : x;
}
/* LiteRT's double requantization: static_cast<int32_t>(round((double)acc * eff)). A value
 * outside int32 is undefined in C++; x86's cvttsd2si (where LiteRT runs) gives INT32_MIN, and
 * so does this. */
static inline int32_t rt_requant_double(int64_t acc, double eff) {
  const double r = round((double)acc * eff);
  return r >= -2147483648.0 && r < 2147483648.0 ? (int32_t)r : INT32_MIN;
}

/* Declares max as the largest of row[0..n) and lowest (SOFTMAX's max_in_row). */
#define RT_ROW_MAX(max, row, n, lowest)    \
  int32_t max = (lowest);                  \
  for (int64_t c_ = 0; c_ < (n); c_++)     \
    if ((row)[c_] > max) max = (row)[c_]

/* ---- windows ------------------------------------------------------------------------------ */

/* Every output pixel of a window op (batch b), with the input position (y0, x0) of its
 * window's top-left tap and its index pix among the output pixels. */
#define RT_FOR_EACH_OUT_PIXEL(g, b, y0, x0, pix, ...)                    \
  for (int64_t b = 0; b < (g)->batches; b++)                              \
    for (int64_t oy_ = 0; oy_ < (g)->out_h; oy_++)                        \
      for (int64_t ox_ = 0; ox_ < (g)->out_w; ox_++) {                    \
        const int64_t y0 = oy_ * (g)->stride_h - (g)->pad_h;              \
        const int64_t x0 = ox_ * (g)->stride_w - (g)->pad_w;              \
        const int64_t pix = ((b) * (g)->out_h + oy_) * (g)->out_w + ox_;  \
        __VA_ARGS__                                                       \
      }

/* The taps of a convolution window inside the image, in (ky, kx) order (a padded tap adds
 * nothing), with at the index of the tap's input pixel's channel 0. */
#define RT_FOR_EACH_TAP(g, b, y0, x0, ky, kx, at, ...)                       \
  for (int64_t ky = 0; ky < (g)->k_h; ky++) {                                 \
    const int64_t y_ = (y0) + (g)->dil_h * ky;                                \
    if (y_ < 0 || y_ >= (g)->in_h) continue;                                  \
    for (int64_t kx = 0; kx < (g)->k_w; kx++) {                               \
      const int64_t x_ = (x0) + (g)->dil_w * kx;                              \
      if (x_ < 0 || x_ >= (g)->in_w) continue;                                \
      const int64_t at = (((b) * (g)->in_h + y_) * (g)->in_w + x_) * (g)->in_c; \
      __VA_ARGS__                                                             \
    }                                                                         \
  }

/* CONV_2D's loops (reference/conv.h order: per output pixel and channel, the taps, the filter
 * depth innermost; OHWI filter; grouped when in_c is a multiple of the filter depth). ACC(acc,
 * x, w) adds the product of input x and weight w; DONE(o, oc, acc) writes channel oc of the
 * output pixel o from the sum acc, of type ACC_T. b names the batch for both. */
#define RT_CONV_LOOP(g, b, in, w, out, ACC_T, ACC, DONE)                                    \
  do {                                                                                       \
    const int oc_per_group_ = (g)->out_c / ((g)->in_c / (g)->filter_in_c);                   \
    RT_FOR_EACH_OUT_PIXEL(g, b, y0_, x0_, pix_, for (int oc = 0; oc < (g)->out_c; oc++) {    \
      const int64_t ic0_ = (int64_t)(oc / oc_per_group_) * (g)->filter_in_c;                 \
      ACC_T acc = 0;                                                                         \
      RT_FOR_EACH_TAP(g, b, y0_, x0_, ky_, kx_, at_,                                         \
        const int64_t wi_ = ((oc * (int64_t)(g)->k_h + ky_) * (g)->k_w + kx_) * (g)->filter_in_c; \
        for (int ic_ = 0; ic_ < (g)->filter_in_c; ic_++)                                     \
          ACC(acc, (in)[at_ + ic0_ + ic_], (w)[wi_ + ic_]);)                                 \
      DONE((out) + pix_ * (g)->out_c, oc, acc);                                              \
    })                                                                                       \
  } while (0)

/* DEPTHWISE_CONV_2D's loops (reference/depthwise_conv.h order: output channel m + ic * dm,
 * the taps; filter [1, kh, kw, out_c]); ACC and DONE as for RT_CONV_LOOP. */
#define RT_DWCONV_LOOP(g, b, in, w, out, ACC_T, ACC, DONE)                                  \
  RT_FOR_EACH_OUT_PIXEL(g, b, y0_, x0_, pix_,                                               \
    for (int ic_ = 0; ic_ < (g)->in_c; ic_++)                                               \
      for (int mm_ = 0; mm_ < (g)->depth_multiplier; mm_++) {                               \
        const int oc = mm_ + ic_ * (g)->depth_multiplier;                                   \
        ACC_T acc = 0;                                                                      \
        RT_FOR_EACH_TAP(g, b, y0_, x0_, ky_, kx_, at_,                                      \
          ACC(acc, (in)[at_ + ic_], (w)[(ky_ * (g)->k_w + kx_) * (g)->out_c + oc]);)        \
        DONE((out) + pix_ * (g)->out_c, oc, acc);                                           \
      })

/* TRANSPOSE_CONV's loops (filter [out_c, kh, kw, in_c]). The reference kernels
 * (reference/transpose_conv.h, reference/integer_ops/transpose_conv.h) scatter: for each input
 * pixel in (iy, ix, ic) order, every tap adds input * filter into its output element. Each
 * output element therefore receives its products in (iy, ix, ic) order, at most one per input
 * element; gathering them per output element in that order gives the same float sums and, for
 * the wrapping or exact integer sums, the same integers, with no scratch buffer. ACC and DONE
 * as for RT_CONV_LOOP. */
#define RT_TCONV_LOOP(g, b, in, w, out, ACC_T, ACC, DONE)                                         \
  for (int64_t b = 0; b < (g)->batches; b++)                                                      \
    for (int64_t oy_ = 0; oy_ < (g)->out_h; oy_++)                                                \
      for (int64_t ox_ = 0; ox_ < (g)->out_w; ox_++) {                                            \
        const int64_t pix_ = ((b) * (g)->out_h + oy_) * (g)->out_w + ox_;                         \
        const int64_t ty_ = oy_ + (g)->pad_h, tx_ = ox_ + (g)->pad_w; /* = i * stride + tap */    \
        const int64_t ly_ = ty_ - (g)->k_h + 1, lx_ = tx_ - (g)->k_w + 1;                         \
        const int64_t y0_ = ly_ <= 0 ? 0 : (ly_ + (g)->stride_h - 1) / (g)->stride_h;             \
        const int64_t x0_ = lx_ <= 0 ? 0 : (lx_ + (g)->stride_w - 1) / (g)->stride_w;             \
        const int64_t y1_ = ty_ / (g)->stride_h < (g)->in_h - 1 ? ty_ / (g)->stride_h : (g)->in_h - 1; \
        const int64_t x1_ = tx_ / (g)->stride_w < (g)->in_w - 1 ? tx_ / (g)->stride_w : (g)->in_w - 1; \
        for (int oc = 0; oc < (g)->out_c; oc++) {                                                 \
          ACC_T acc = 0;                                                                          \
          for (int64_t iy_ = y0_; iy_ <= y1_; iy_++)                                              \
            for (int64_t ix_ = x0_; ix_ <= x1_; ix_++) {                                          \
              const int64_t at_ = (((b) * (g)->in_h + iy_) * (g)->in_w + ix_) * (g)->in_c;        \
              const int64_t wi_ = ((oc * (int64_t)(g)->k_h + ty_ - iy_ * (g)->stride_h) * (g)->k_w + \
                                   tx_ - ix_ * (g)->stride_w) * (g)->in_c;                        \
              for (int ic_ = 0; ic_ < (g)->in_c; ic_++) ACC(acc, (in)[at_ + ic_], (w)[wi_ + ic_]); \
            }                                                                                     \
          DONE((out) + pix_ * (g)->out_c, oc, acc);                                               \
        }                                                                                         \
      }

/* Every pooling window (pooling.h): output index oi of channel c, and the window clipped to
 * the image, rows [fy0, fy1) and columns [fx0, fx1) from the input position (y0, x0). */
#define RT_FOR_EACH_POOL_WINDOW(g, b, y0, x0, fy0, fy1, fx0, fx1, c, oi, ...)       \
  RT_FOR_EACH_OUT_PIXEL(g, b, y0, x0, pix_, {                                        \
    const int64_t fy0 = (y0) < 0 ? -(y0) : 0, fx0 = (x0) < 0 ? -(x0) : 0;           \
    const int64_t fy1 = (g)->in_h - (y0) < (g)->f_h ? (g)->in_h - (y0) : (g)->f_h;   \
    const int64_t fx1 = (g)->in_w - (x0) < (g)->f_w ? (g)->in_w - (x0) : (g)->f_w;   \
    for (int64_t c = 0; c < (g)->c; c++) {                                           \
      const int64_t oi = pix_ * (g)->c + c;                                          \
      __VA_ARGS__                                                                    \
    }                                                                                \
  })
/* The input index of tap (fy, fx) of channel c in a pooling window. */
#define RT_POOL_AT(g, b, y0, x0, fy, fx, c) \
  ((((b) * (g)->in_h + (y0) + (fy)) * (g)->in_w + (x0) + (fx)) * (g)->c + (c))

/* ---- reductions and broadcasts ------------------------------------------------------------- */

/* Output strides of a reduction (0 along reduced axes), so that walking the input in row-major
 * order adds each element into its output slot, as reduce.h's Reduce does. */
static inline void rt_reduce_strides(const rt_reduce_geom *g, int64_t *ostride) {
  int64_t s = 1;
  for (int d = g->rank - 1; d >= 0; d--) {
    if (g->axis_mask & (1u << d)) {
      ostride[d] = 0;
    } else {
      ostride[d] = s;
      s *= g->dims[d];
    }
  }
}

#define RT_FOR_EACH_REDUCED(g, ostride, i, o, BODY)                    \
  do {                                                              \
    int64_t idx_[QAT_RT_MAX_RANK] = {0};                            \
    int64_t total_ = 1;                                             \
    for (int d_ = 0; d_ < (g)->rank; d_++) total_ *= (g)->dims[d_]; \
    int64_t o = 0;                                                  \
    for (int64_t i = 0; i < total_; i++) {                          \
      BODY;                                                         \
      for (int d_ = (g)->rank - 1; d_ >= 0; d_--) {                 \
        o += (ostride)[d_];                                         \
        if (++idx_[d_] < (g)->dims[d_]) break;                      \
        o -= (ostride)[d_] * (g)->dims[d_];                         \
        idx_[d_] = 0;                                               \
      }                                                             \
    }                                                               \
  } while (0)

/* The eval of a reduction over op->red (REDUCE_MAX, REDUCE_PROD): every output starts at INIT,
 * then STEP (an expression of out[o] and in[i]) for each input in row-major order, as reduce.h's
 * ReduceGeneric visits them. */
#define RT_REDUCE_EVAL(NAME, T, INIT, STEP)               \
  static int NAME(qat_rt_model *m, int k, rt_op *op) {    \
    (void)k;                                              \
    const rt_reduce_geom *g = &op->red;                   \
    const T *in = rt_in_data(m, op, 0);                   \
    T *out = rt_out_data(m, op);                          \
    int64_t ostride[QAT_RT_MAX_RANK];                     \
    rt_reduce_strides(g, ostride);                        \
    for (int64_t o = 0; o < g->n_out; o++) out[o] = INIT; \
    RT_FOR_EACH_REDUCED(g, ostride, i, o, STEP);          \
    return QAT_OK;                                        \
  }

/* Walks the broadcast output in row-major order with both inputs' strides. */
#define RT_FOR_EACH_BCAST(b, i1, i2, o, BODY)                                                 \
  do {                                                                                     \
    int64_t o = 0;                                                                         \
    for (int64_t a0 = 0; a0 < (b)->dims[0]; a0++)                                          \
      for (int64_t a1 = 0; a1 < (b)->dims[1]; a1++)                                        \
        for (int64_t a2 = 0; a2 < (b)->dims[2]; a2++)                                      \
          for (int64_t a3 = 0; a3 < (b)->dims[3]; a3++)                                    \
            for (int64_t a4 = 0; a4 < (b)->dims[4]; a4++) {                                \
              const int64_t base1_ = a0 * (b)->s1[0] + a1 * (b)->s1[1] + a2 * (b)->s1[2] + \
                                     a3 * (b)->s1[3] + a4 * (b)->s1[4];                    \
              const int64_t base2_ = a0 * (b)->s2[0] + a1 * (b)->s2[1] + a2 * (b)->s2[2] + \
                                     a3 * (b)->s2[3] + a4 * (b)->s2[4];                    \
              for (int64_t a5 = 0; a5 < (b)->dims[5]; a5++, o++) {                         \
                const int64_t i1 = base1_ + a5 * (b)->s1[5];                               \
                const int64_t i2 = base2_ + a5 * (b)->s2[5];                               \
                BODY;                                                                      \
              }                                                                            \
            }                                                                              \
  } while (0)

#endif
