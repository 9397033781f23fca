/* int16 kernels (16x8 quantization: int16 symmetric activations, int8 weights, int64 bias),
 * bit-exact with TensorFlow Lite's reference kernels (google-ai-edge/LiteRT, read, not copied):
 *   CONV_2D            reference/integer_ops/conv.h            ConvPerChannel<int64_t>
 *   DEPTHWISE_CONV_2D  reference/integer_ops/depthwise_conv.h  DepthwiseConvPerChannel (int16)
 *   TRANSPOSE_CONV     reference/integer_ops/transpose_conv.h  TransposeConv (int16, int64 scratch)
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
#include "runtime/rt_kernel.h"

static inline int32_t requant64(const rt_requant *q, int64_t oc, int64_t acc) {
  return qat_multiply_by_quantized_multiplier_int64(acc, q->mult[oc], q->shift[oc]);
}

/* ---- convolution ------------------------------------------------------------------------ */

/* int32 products (|w * (x + offset)| < 2^23), summed in int64. */
#define I16_ACC(acc, x, w) acc += (int32_t)(w) * ((int32_t)(x) + q->in_offset)
#define I16_DONE(o, oc, acc)                                                   \
  (o)[oc] = (int16_t)rt_clampi(rt_wadd(requant64(q, oc, (acc) + (bias ? bias[oc] : 0)), q->out_zp), \
                               q->act_min, q->act_max)

void rt_conv2d_i16(const rt_conv_geom *g, const rt_requant *q, const int16_t *in, const int8_t *w,
                   const int64_t *bias, int16_t *out) {
  RT_CONV_LOOP(g, b, in, w, out, int64_t, I16_ACC, I16_DONE);
}

/* reference_integer_ops::TransposeConv for int16: int64 sums, int64 bias, the 64-bit
 * requantization (zero points are 0 in 16x8). */
void rt_tconv_i16(const rt_conv_geom *g, const rt_requant *q, const int16_t *in, const int8_t *w,
                  const int64_t *bias, int16_t *out) {
  RT_TCONV_LOOP(g, b, in, w, out, int64_t, I16_ACC, I16_DONE);
}

/* The reference int16 depthwise kernel applies no input or output offset at all (zero points
 * are 0 by the 16x8 spec; the interpreter refuses others). */
#define I16_DW_ACC(acc, x, w) acc += (int64_t)(w) * (int64_t)(x)
#define I16_DW_DONE(o, oc, acc) \
  (o)[oc] = (int16_t)rt_clampi(requant64(q, oc, (acc) + (bias ? bias[oc] : 0)), q->act_min, q->act_max)

void rt_dwconv2d_i16(const rt_conv_geom *g, const rt_requant *q, const int16_t *in,
                     const int8_t *w, const int64_t *bias, int16_t *out) {
  RT_DWCONV_LOOP(g, b, in, w, out, int64_t, I16_DW_ACC, I16_DW_DONE);
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
      const int32_t r = rt_wadd(q->eff ? rt_requant_double(acc, q->eff[oc]) : requant64(q, oc, acc),
                             q->out_zp);
      out[b * out_depth + oc] = (int16_t)rt_clampi(r, q->act_min, q->act_max);
    }
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
    RT_ROW_MAX(max_in_row, row, depth, -32768);
    /* The exponentials are cached in the output row, as the reference kernel does; the
     * interpreter keeps in and out apart (they are both live at the op). */
    int32_t sum_of_exps = 0; /* Q16.15; depth <= 65536 keeps it in int32 (checked at load) */
    for (int64_t c = 0; c < depth; c++) {
      const int32_t diff = row[c] - max_in_row; /* [-65535, 0] */
      const int32_t scaled = qat_multiply_by_quantized_multiplier(diff, mult, shift);
      const int32_t sym = rt_clampi(scaled + 32767, -32768, 32767);
      orow[c] = rt_lut_lookup_i16((int16_t)sym, exp_lut);
      sum_of_exps += orow[c];
    }
    /* sum_of_exps >= the row maximum's exp (about 32767), so 1 <= headroom <= 17 */
    const int headroom_plus_one = __builtin_clz((uint32_t)sum_of_exps);
    const int32_t shifted_sum =
        (int32_t)((((int64_t)sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
    const int32_t sym_sum = rt_clampi(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767);
    const int64_t recip = rt_lut_lookup_i16((int16_t)sym_sum, recip_lut);
    const int right_shift = 31 - headroom_plus_one;
    const int64_t rnd = (int64_t)1 << (right_shift - 1);
    for (int64_t c = 0; c < depth; c++) {
      const int32_t r = (int32_t)(((int64_t)orow[c] * recip + rnd) >> right_shift);
      orow[c] = (int16_t)rt_clampi(r, 0, 32767);
    }
  }
}
