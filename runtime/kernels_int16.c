/* int16 kernels (16x8 quantization: int16 symmetric activations, int8 weights, int64 bias),
 * bit-exact with TensorFlow Lite's reference kernels (google-ai-edge/LiteRT, read, not copied):
 *   CONV_2D            reference/integer_ops/conv.h            ConvPerChannel<int64_t>
 *   DEPTHWISE_CONV_2D  reference/integer_ops/depthwise_conv.h  DepthwiseConvPerChannel (int16)
 *   FULLY_CONNECTED    reference/integer_ops/fully_connected.h FullyConnected(PerChannel) with
 *                      int16 input, int8 weights, int64 bias; LiteRT's requantizes in double
 *                      like its int8 kernel (qat_rt_flavor), TFLM's with the 64-bit multiplier
 *   AVERAGE/MAX_POOL   reference/integer_ops/pooling.h         AveragePool, MaxPool (int16)
 *   MEAN               reference/reduce.h QuantizedMeanOrSum<int16_t>
 *   SOFTMAX            reference/softmax.h SoftmaxInt16: two 513-entry tables (exp on [-10, 0],
 *                      1 / (1 + x) on [0, 1]) filled by common.h LUTPopulateInt16<double> and read
 *                      by LUTLookup with linear interpolation
 *   ADD                reference/add.h Add / BroadcastAdd6DSlow (int16, general scales:
 *                      AddOptions.pot_scale_int16 false), the int8 formula with left_shift 15
 * The convolutions accumulate in int64 and requantize with the 64-bit
 * MultiplyByQuantizedMultiplier (qat_multiply_by_quantized_multiplier_int64); the interpreter
 * refuses, at load time, weights and biases that could push an accumulator past its 2^47
 * precondition. */
#include <math.h>
#include <string.h>

#include "qat/quant.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_walk.h"

static inline int32_t clampi(int32_t x, int32_t lo, int32_t hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}
static inline int32_t wadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t wsub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

static inline int32_t requant64(const rt_requant *q, int64_t oc, int64_t acc) {
  return qat_multiply_by_quantized_multiplier_int64(acc, q->mult[oc], q->shift[oc]);
}

/* LiteRT's FULLY_CONNECTED requantizes in double, (int32)round((double)acc * eff) with
 * eff = s_in * s_w / s_out (the cast of an out-of-range value is INT32_MIN on x86, as here);
 * TFLM uses the 64-bit fixed-point multiplier like the convolutions. */
static inline int32_t requant_double(int64_t acc, double eff) {
  const double r = round((double)acc * eff);
  return r >= -2147483648.0 && r < 2147483648.0 ? (int32_t)r : INT32_MIN;
}

/* ---- convolution ------------------------------------------------------------------------ */

void rt_conv2d_i16(const rt_conv_geom *g, const rt_requant *q, const int16_t *in, const int8_t *w,
                   const int64_t *bias, int16_t *out) {
  const int groups = g->in_c / g->filter_in_c;
  const int oc_per_group = g->out_c / groups;
  for (int64_t b = 0; b < g->batches; b++)
    for (int64_t oy = 0; oy < g->out_h; oy++) {
      const int64_t y0 = oy * g->stride_h - g->pad_h;
      for (int64_t ox = 0; ox < g->out_w; ox++) {
        const int64_t x0 = ox * g->stride_w - g->pad_w;
        int16_t *o = out + ((b * g->out_h + oy) * g->out_w + ox) * g->out_c;
        for (int oc = 0; oc < g->out_c; oc++) {
          const int64_t ic0 = (int64_t)(oc / oc_per_group) * g->filter_in_c;
          int64_t acc = 0;
          for (int64_t ky = 0; ky < g->k_h; ky++) {
            const int64_t y = y0 + g->dil_h * ky;
            if (y < 0 || y >= g->in_h) continue;
            for (int64_t kx = 0; kx < g->k_w; kx++) {
              const int64_t x = x0 + g->dil_w * kx;
              if (x < 0 || x >= g->in_w) continue;
              const int16_t *ip = in + ((b * g->in_h + y) * g->in_w + x) * g->in_c + ic0;
              const int8_t *wp = w + ((oc * (int64_t)g->k_h + ky) * g->k_w + kx) * g->filter_in_c;
              /* int32 products (|w * (x + offset)| < 2^23), summed in int64 */
              for (int ic = 0; ic < g->filter_in_c; ic++)
                acc += (int32_t)wp[ic] * ((int32_t)ip[ic] + q->in_offset);
            }
          }
          if (bias) acc += bias[oc];
          const int32_t r = wadd(requant64(q, oc, acc), q->out_zp);
          o[oc] = (int16_t)clampi(r, q->act_min, q->act_max);
        }
      }
    }
}

/* The reference int16 depthwise kernel applies no input or output offset at all (zero points
 * are 0 by the 16x8 spec; the interpreter refuses others). */
void rt_dwconv2d_i16(const rt_conv_geom *g, const rt_requant *q, const int16_t *in,
                     const int8_t *w, const int64_t *bias, int16_t *out) {
  const int dm = g->depth_multiplier;
  for (int64_t b = 0; b < g->batches; b++)
    for (int64_t oy = 0; oy < g->out_h; oy++) {
      const int64_t y0 = oy * g->stride_h - g->pad_h;
      for (int64_t ox = 0; ox < g->out_w; ox++) {
        const int64_t x0 = ox * g->stride_w - g->pad_w;
        int16_t *o = out + ((b * g->out_h + oy) * g->out_w + ox) * g->out_c;
        for (int ic = 0; ic < g->in_c; ic++)
          for (int mm = 0; mm < dm; mm++) {
            const int oc = mm + ic * dm;
            int64_t acc = 0;
            for (int64_t ky = 0; ky < g->k_h; ky++) {
              const int64_t y = y0 + g->dil_h * ky;
              if (y < 0 || y >= g->in_h) continue;
              for (int64_t kx = 0; kx < g->k_w; kx++) {
                const int64_t x = x0 + g->dil_w * kx;
                if (x < 0 || x >= g->in_w) continue;
                acc += (int64_t)w[(ky * g->k_w + kx) * g->out_c + oc] *
                       (int64_t)in[((b * g->in_h + y) * g->in_w + x) * g->in_c + ic];
              }
            }
            if (bias) acc += bias[oc];
            o[oc] = (int16_t)clampi(requant64(q, oc, acc), q->act_min, q->act_max);
          }
      }
    }
}

void rt_fc_i16(int batches, int accum_depth, int out_depth, const rt_requant *q,
               const int16_t *in, const int8_t *w, const int64_t *bias, int16_t *out) {
  for (int64_t b = 0; b < batches; b++) {
    const int16_t *ip = in + b * accum_depth;
    for (int64_t oc = 0; oc < out_depth; oc++) {
      const int8_t *wp = w + oc * accum_depth;
      int64_t acc = 0;
      for (int d = 0; d < accum_depth; d++) acc += (int32_t)wp[d] * ((int32_t)ip[d] + q->in_offset);
      if (bias) acc += bias[oc];
      const int32_t r = wadd(q->eff ? requant_double(acc, q->eff[oc]) : requant64(q, oc, acc),
                             q->out_zp);
      out[b * out_depth + oc] = (int16_t)clampi(r, q->act_min, q->act_max);
    }
  }
}

/* ---- pooling --------------------------------------------------------------------------- */

static void pool_window(const rt_pool_geom *g, int64_t oy, int64_t ox, int64_t *y0, int64_t *x0,
                        int64_t *fy0, int64_t *fy1, int64_t *fx0, int64_t *fx1) {
  *y0 = oy * g->stride_h - g->pad_h;
  *x0 = ox * g->stride_w - g->pad_w;
  *fy0 = *y0 < 0 ? -*y0 : 0;
  *fx0 = *x0 < 0 ? -*x0 : 0;
  *fy1 = g->in_h - *y0 < g->f_h ? g->in_h - *y0 : g->f_h;
  *fx1 = g->in_w - *x0 < g->f_w ? g->in_w - *x0 : g->f_w;
}

int rt_avgpool_i16(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const int16_t *in,
                   int16_t *out) {
  for (int64_t b = 0; b < g->batches; b++)
    for (int64_t oy = 0; oy < g->out_h; oy++)
      for (int64_t ox = 0; ox < g->out_w; ox++) {
        int64_t y0, x0, fy0, fy1, fx0, fx1;
        pool_window(g, oy, ox, &y0, &x0, &fy0, &fy1, &fx0, &fx1);
        for (int64_t c = 0; c < g->c; c++) {
          uint32_t acc = 0; /* int32 in TFLite: wraps the same way */
          int64_t count = 0;
          for (int64_t fy = fy0; fy < fy1; fy++)
            for (int64_t fx = fx0; fx < fx1; fx++) {
              acc += (uint32_t)(int32_t)in[((b * g->in_h + y0 + fy) * g->in_w + x0 + fx) * g->c + c];
              count++;
            }
          if (count == 0) return -1;
          const int32_t a = (int32_t)acc, half = (int32_t)(count / 2);
          const int32_t r = (int32_t)((a > 0 ? wadd(a, half) : wsub(a, half)) / count);
          out[((b * g->out_h + oy) * g->out_w + ox) * g->c + c] =
              (int16_t)clampi(r, act_min, act_max);
        }
      }
  return 0;
}

void rt_maxpool_i16(const rt_pool_geom *g, int32_t act_min, int32_t act_max, const int16_t *in,
                    int16_t *out) {
  for (int64_t b = 0; b < g->batches; b++)
    for (int64_t oy = 0; oy < g->out_h; oy++)
      for (int64_t ox = 0; ox < g->out_w; ox++) {
        int64_t y0, x0, fy0, fy1, fx0, fx1;
        pool_window(g, oy, ox, &y0, &x0, &fy0, &fy1, &fx0, &fx1);
        for (int64_t c = 0; c < g->c; c++) {
          int32_t mx = -32768;
          for (int64_t fy = fy0; fy < fy1; fy++)
            for (int64_t fx = fx0; fx < fx1; fx++) {
              const int32_t v = in[((b * g->in_h + y0 + fy) * g->in_w + x0 + fx) * g->c + c];
              if (v > mx) mx = v;
            }
          out[((b * g->out_h + oy) * g->out_w + ox) * g->c + c] =
              (int16_t)clampi(mx, act_min, act_max);
        }
      }
}

/* ---- mean -------------------------------------------------------------------------------- */

void rt_mean_i16(const rt_reduce_geom *g, int32_t in_zp, int32_t out_zp, int32_t mult, int shift,
                 const int16_t *in, int16_t *out, int32_t *scratch) {
  int64_t ostride[QAT_RT_MAX_RANK];
  rt_reduce_strides(g, ostride);
  memset(scratch, 0, (size_t)g->n_out * sizeof *scratch);
  FOR_EACH_REDUCED(g, ostride, i, o, scratch[o] = wadd(scratch[o], in[i]));
  for (int64_t o = 0; o < g->n_out; o++) {
    const int64_t centered = (int64_t)scratch[o] - (int64_t)in_zp * g->n_reduce;
    const int32_t s = (int32_t)(uint32_t)(uint64_t)centered;
    const int32_t r = wadd(qat_multiply_by_quantized_multiplier(s, mult, shift), out_zp);
    out[o] = (int16_t)clampi(r, -32768, 32767);
  }
}

/* ---- softmax ------------------------------------------------------------------------------ */

/* LUTPopulateInt16<double>: 512 samples of f over the input range of (input_scale, input_zp)
 * with their midpoint error halved into them, and the end point. */
static void lut_populate_i16(double input_scale, int32_t input_zp, double output_scale,
                             int32_t output_zp, double (*f)(double), int16_t *lut) {
  const double input_min = input_scale * (double)(-32768 - input_zp);
  const double input_max = input_scale * (double)(32767 - input_zp);
  const double output_min = output_scale * (double)(-32768 - output_zp);
  const double output_max = output_scale * (double)(32767 - output_zp);
  const int nb_steps = 512;
  const double step = (input_max - input_min) / nb_steps;
  const double half_step = step / 2;
  const double inv = 65536.0 / (output_max - output_min);
  for (int i = 0; i < nb_steps; i++) {
    const double val = f(input_min + i * step);
    const double val_mid = f(input_min + i * step + half_step);
    const double val_next = f(input_min + (i + 1) * step);
    const double sample = round(val * inv);
    const double mid_interp = round((val_next * inv + round(val * inv)) / 2);
    const double mid = round(val_mid * inv);
    const double bias = round((mid_interp - mid) / 2);
    double v = sample - bias;
    v = v < -32768.0 ? -32768.0 : v;
    lut[i] = (int16_t)(v > 32767.0 ? 32767.0 : v);
  }
  double v = round(f(input_max) * inv);
  v = v < -32768.0 ? -32768.0 : v;
  lut[nb_steps] = (int16_t)(v > 32767.0 ? 32767.0 : v);
}

static double exp_d(double x) { return exp(x); }
static double one_over_one_plus_x_d(double x) { return 1.0 / (1.0 + x); }

void rt_softmax_i16_luts(int16_t exp_lut[513], int16_t recip_lut[513]) {
  /* activations.cc SoftmaxPrepare: range = 65535; exp on [-10, 0], 1/(1+x) on [0, 1], both to
   * a symmetric [-1, 1] output. */
  lut_populate_i16(10.0 / 65535, 32767, 2.0 / 65535, 0, exp_d, exp_lut);
  lut_populate_i16(1.0 / 65535, -32768, 2.0 / 65535, 0, one_over_one_plus_x_d, recip_lut);
}

int16_t rt_lut_lookup_i16(int16_t value, const int16_t *lut) {
  const int index = 256 + (value >> 7); /* 0 .. 511 */
  const int32_t offset = value & 0x7f;
  const int32_t base = lut[index];
  const int32_t slope = (int16_t)(lut[index + 1] - lut[index]); /* int16_t in the reference */
  const int32_t delta = (slope * offset + 64) >> 7;
  return (int16_t)(base + delta);
}

void rt_softmax_i16(int64_t outer, int64_t depth, int32_t mult, int shift, const int16_t *lut,
                    const int16_t *in, int16_t *out) {
  const int16_t *exp_lut = lut, *recip_lut = lut + 513;
  for (int64_t i = 0; i < outer; i++) {
    const int16_t *row = in + i * depth;
    int16_t *orow = out + i * depth;
    int32_t max_in_row = -32768;
    for (int64_t c = 0; c < depth; c++)
      if (row[c] > max_in_row) max_in_row = row[c];
    /* The exponentials are cached in the output row, as the reference kernel does; the
     * interpreter keeps in and out apart (they are both live at the op). */
    int32_t sum_of_exps = 0; /* Q16.15; depth <= 65536 keeps it in int32 (checked at load) */
    for (int64_t c = 0; c < depth; c++) {
      const int32_t diff = row[c] - max_in_row; /* [-65535, 0] */
      const int32_t scaled = qat_multiply_by_quantized_multiplier(diff, mult, shift);
      const int32_t sym = clampi(scaled + 32767, -32768, 32767);
      orow[c] = rt_lut_lookup_i16((int16_t)sym, exp_lut);
      sum_of_exps += orow[c];
    }
    /* sum_of_exps >= the row maximum's exp (about 32767), so 1 <= headroom <= 17 */
    const int headroom_plus_one = __builtin_clz((uint32_t)sum_of_exps);
    const int32_t shifted_sum =
        (int32_t)((((int64_t)sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
    const int32_t sym_sum = clampi(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767);
    const int64_t recip = rt_lut_lookup_i16((int16_t)sym_sum, recip_lut);
    const int right_shift = 31 - headroom_plus_one;
    const int64_t rnd = (int64_t)1 << (right_shift - 1);
    for (int64_t c = 0; c < depth; c++) {
      const int32_t r = (int32_t)(((int64_t)orow[c] * recip + rnd) >> right_shift);
      orow[c] = (int16_t)clampi(r, 0, 32767);
    }
  }
}

/* ---- add --------------------------------------------------------------------------------- */

static inline int16_t add_one(const rt_add_params *p, int32_t a, int32_t b) {
  const int32_t x1 = (p->in1_offset + a) * (1 << p->left_shift); /* |x| <= 65535 * 2^15 */
  const int32_t x2 = (p->in2_offset + b) * (1 << p->left_shift);
  const int32_t s1 = qat_multiply_by_quantized_multiplier(x1, p->m1, p->s1);
  const int32_t s2 = qat_multiply_by_quantized_multiplier(x2, p->m2, p->s2);
  const int32_t raw =
      wadd(qat_multiply_by_quantized_multiplier(wadd(s1, s2), p->mo, p->so), p->out_zp);
  return (int16_t)clampi(raw, p->act_min, p->act_max);
}

void rt_add_i16(const rt_bcast *b, const rt_add_params *p, const int16_t *in1, const int16_t *in2,
                int16_t *out) {
  FOR_EACH_BCAST(b, i1, i2, o, out[o] = add_one(p, in1[i1], in2[i2]));
}
