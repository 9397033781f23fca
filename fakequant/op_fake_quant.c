/* Fake quantization: y = dequantize(quantize(x)) with the parameters the int8 model will
 * use, and the clipped straight-through gradient (dy passes where x lies inside the nudged
 * range). Activations take their range from an observer while training; weights take
 * symmetric scales from their current values every step (so the scales always belong to the
 * weights that will be exported); biases sit on the int32 grid of input scale x weight
 * scale. The arithmetic is fakequant/'s, shared with the exporter and the runtime. The op reaches
 * the autograd engine through its custom-op hook (QAT_OP_CUSTOM, attrs.custom/state). */
#include <math.h>
#include <stdint.h>

#include "qat/export.h"
#include "qat/fq.h"
#include "fakequant/requant.h"
#include "fakequant/simd.h"
#include "autograd/op_common.h"

#define FQ(n) ((qat_fq *)(n)->attrs.state)

static int fq_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  qat_fq *fq = FQ(nd);
  if (!fq) return qat_fail(QAT_ERR_INTERNAL, "fake_quant node without state");
  if (fq->learned != (nd->n_inputs == 2) ||
      (fq->learned && (nd->inputs[1]->rank != 1 || nd->inputs[1]->dims[0] != fq->channels)))
    return qat_fail(QAT_ERR_INTERNAL, "fake_quant '%s': a learned scale needs one value per channel", fq->name);
  if (fq->axis >= x->rank) return qat_fail(QAT_ERR_INTERNAL, "fake_quant axis %d out of range", fq->axis);
  if (fq->axis >= 0 && x->dims[fq->axis] != fq->channels)
    return qat_fail(QAT_ERR_INTERNAL, "fake_quant '%s': %d channels, tensor has %d", fq->name, fq->channels,
                    x->dims[fq->axis]);
  y->rank = x->rank;
  for (int i = 0; i < x->rank; i++) y->dims[i] = x->dims[i];
  *scratch = 0;
  return QAT_OK;
}

static void split(const qat_node *nd, int64_t *outer, int64_t *channels, int64_t *inner) {
  const qat_tensor *x = OP_X(nd);
  int64_t shape[QAT_MAX_RANK];
  for (int i = 0; i < x->rank; i++) shape[i] = x->dims[i];
  qat_quant_axis_split(shape, x->rank, FQ(nd)->axis, outer, channels, inner);
}

/* The activation fused into the quantizer: ReLU, ReLU6, a ReLU capped at max_value (fq->alpha),
 * or a hard_sigmoid after a conv / depthwise / dense (x / 6 + 1/2 clamped to [0, 1], as the float
 * op computes it); top is act_upper()'s. */
static inline float activate(qat_activation act, float top, float v) {
  if (act == QAT_ACTIVATION_LINEAR) return v;
  if (act == QAT_ACTIVATION_HARD_SIGMOID) v = v / 6.0f + 0.5f;
  v = v > 0.0f ? v : 0.0f;
  return v < top ? v : top;
}

static float act_upper(const qat_fq *fq) {
  switch (fq->act) {
  case QAT_ACTIVATION_RELU6: return 6.0f;
  case QAT_ACTIVATION_RELU_MAX: return fq->alpha;
  case QAT_ACTIVATION_HARD_SIGMOID: return 1.0f;
  default: return INFINITY;
  }
}

/* Element-wise passes are split into fixed chunks across the threads. Every result here is
 * per element (or a min/max), so it is identical to a serial pass. */
#define FQ_CHUNK 16384

static void set_params(qat_fq *fq, int c, float scale, int32_t zp) {
  fq->scale[c] = scale;
  fq->zero_point[c] = zp;
  qat_quant_nudged_range(scale, zp, fq->qmin, fq->qmax, &fq->nudged_min[c], &fq->nudged_max[c]);
}

/* A per-tensor quantizer of a batched tensor (one channel, samples contiguous in inner) sums
 * over each half of the batch apart (qat_exec.halves): half[0..halves] become element bounds
 * within inner. Otherwise one part, half as given. */
static int batch_halves(const qat_node *nd, const qat_exec *ex, int64_t outer, int64_t channels, int64_t inner,
                        int64_t half[3]) {
  const qat_tensor *x = OP_X(nd);
  int64_t samples[3];
  if (outer != 1 || channels != 1 || op_halves(ex, x, samples) == 1) return 1;
  const int64_t per_sample = inner / samples[2];
  for (int h = 0; h < 3; h++) half[h] = samples[h] * per_sample;
  return 2;
}

/* Recomputes the parameters from the data where the role says so. A failure (non-finite
 * values) leaves the previous parameters: the loss then turns non-finite and training stops. */
/* LSQ (Esser et al. 2019): the step size is a parameter, started at 2 mean|x| / sqrt(Qp) from
 * the first batch that reaches it (per channel for weights). The zero point is fixed by the
 * placement: -128 for non-negative tensors (a [0, 255] grid), 0 otherwise. */
static void update_learned(qat_node *nd, const qat_exec *ex) {
  qat_fq *fq = FQ(nd);
  const qat_tensor *x = OP_X(nd);
  float *s = nd->inputs[1]->data;
  int64_t outer, channels, inner;
  split(nd, &outer, &channels, &inner);
  float qp = (float)(fq->qmax - fq->zero_point[0]);
  const float top = act_upper(fq);
  for (int64_t c = 0; c < channels; c++) {
    if (s[c] == 0.0f) {
      /* a batch's halves apart (qat_exec.halves), as 2 ranks sum them */
      int64_t half[3] = {0, inner, inner};
      const int halves = batch_halves(nd, ex, outer, channels, inner, half);
      double sum = 0;
      for (int h = 0; h < halves; h++) {
        double part = 0;
        for (int64_t o = 0; o < outer; o++)
          for (int64_t i = half[h]; i < half[h + 1]; i++)
            part += fabsf(activate(fq->act, top, x->data[(o * channels + c) * inner + i]));
        sum += part;
      }
      double count[2] = {sum, (double)(outer * inner)};
      /* data-parallel: an activation's first batch is the global one */
      if (ex->coll && x->batched) ex->coll->sum(ex->coll->ctx, count, 2);
      double mean = count[1] > 0 ? count[0] / count[1] : 0.0;
      s[c] = (float)(2.0 * mean / sqrt(qp));
    }
    /* a step size trained through zero would divide by zero: keep it positive */
    float v = fabsf(s[c]) > 1e-8f ? fabsf(s[c]) : 1e-8f;
    set_params(fq, (int)c, v, fq->zero_point[c]);
  }
  fq->valid = 1;
}

static void update_params(qat_node *nd, const qat_exec *ex) {
  qat_fq *fq = FQ(nd);
  qat_tensor *x = OP_X(nd);
  if (fq->fixed) return;
  if (fq->learned) {
    update_learned(nd, ex);
    return;
  }
  switch (fq->role) {
  case QAT_FQ_ACTIVATION:
  case QAT_FQ_SHARED:
    return; /* observed activations: fq_observed_activation; learned ones: update_learned; shared
               roundings take their input's parameters (fq_avg_pool) */
  case QAT_FQ_WEIGHT: {
    int64_t shape[QAT_MAX_RANK];
    for (int i = 0; i < x->rank; i++) shape[i] = x->dims[i];
    if (fq->axis == 0 && x->rank > 1) {
      /* output channels are contiguous blocks: one channel range per thread */
      int64_t per = qat_tensor_size(x) / shape[0];
      int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (per * shape[0] > FQ_CHUNK)
      for (int64_t c = 0; c < shape[0]; c++) {
        int64_t one[QAT_MAX_RANK];
        memcpy(one, shape, sizeof one);
        one[0] = 1;
        bad |= qat_quant_weight_scales(x->data + c * per, one, x->rank, 0, fq->qmax, fq->scale + c) != 0;
      }
      if (bad) return;
    } else if (qat_quant_weight_scales(x->data, shape, x->rank, fq->axis, fq->qmax, fq->scale)) {
      return;
    }
    for (int c = 0; c < fq->channels; c++) set_params(fq, c, fq->scale[c], 0);
    fq->valid = 1;
    return;
  }
  case QAT_FQ_BIAS:
    if (!fq->input->valid || !fq->weight->valid) {
      fq->valid = 0;
      return;
    }
    for (int c = 0; c < fq->channels; c++)
      set_params(fq, c, fq->input->scale[0] * fq->weight->scale[fq->weight->channels == 1 ? 0 : c], 0);
    fq->valid = 1;
    return;
  }
}

/* Weights per output channel (axis 0: each channel one contiguous block): the channel's scale
 * and its fake quant in one visit, while the block is in cache. */
static int weights_axis0(const qat_fq *fq, const qat_tensor *x) {
  return fq->role == QAT_FQ_WEIGHT && !fq->learned && !fq->fixed && fq->axis == 0 && x->rank > 1;
}

static void fq_weights_axis0(qat_node *nd) {
  qat_fq *fq = FQ(nd);
  const qat_tensor *x = OP_X(nd);
  float *y = nd->output->data;
  int64_t shape[QAT_MAX_RANK];
  for (int i = 0; i < x->rank; i++) shape[i] = x->dims[i];
  int64_t per = qat_tensor_size(x) / shape[0];
  shape[0] = 1;
  int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (per * x->dims[0] > FQ_CHUNK)
  for (int64_t c = 0; c < x->dims[0]; c++) {
    const float *w = x->data + c * per;
    if (qat_quant_weight_scales(w, shape, x->rank, 0, fq->qmax, fq->scale + c)) {
      bad = 1;
      continue;
    }
    set_params(fq, (int)c, fq->scale[c], 0);
    qat_fake_quant_forward(w, y + c * per, per, fq->scale[c], 0, fq->qmin, fq->qmax);
  }
  /* non-finite weights: pass them through; the loss turns non-finite and training stops */
  if (bad) memcpy(y, x->data, (size_t)qat_tensor_size(x) * sizeof(float));
  fq->valid = !bad;
}

/* The int8 op's requantization (qat_fq.requant): x holds the conv / dense output before the
 * fused activation. Returns 0 (leaving y alone) when the parameters are not usable. */
static int fq_mean_requantized(const qat_fq *fq, const qat_tensor *x, float *y) {
  const qat_fq *in = fq->input;
  if (!in->valid) return 0;
  const float s_in = in->scale[0], s_out = fq->scale[0];
  const int32_t zp = fq->zero_point[0];
  const int64_t count = fq->requant_count;
  int32_t mult;
  int shift;
  if (qat_mean_multiplier(s_in, s_out, count, &mult, &shift)) return 0;
  const int64_t n = qat_tensor_size(x);
  for (int64_t i = 0; i < n; i++) {
    /* the centered sum S = sum(q - zp_in): the float mean times count, back on the input grid */
    const int32_t sum = qat_sat_int32(round((double)x->data[i] * (double)count / (double)s_in));
    int64_t q = (int64_t)qat_multiply_by_quantized_multiplier(sum, mult, shift) + zp;
    q = q < fq->qmin ? fq->qmin : q > fq->qmax ? fq->qmax : q;
    y[i] = (float)(q - zp) * s_out;
  }
  return 1;
}

/* ADD: the int8 kernel's rescaling of both inputs (left shift 20) and of their sum, on the
 * integers of the two input tensors, and the fused activation's clamp. */
static int fq_add_requantized(const qat_fq *fq, const qat_tensor *x, float *y) {
  const qat_fq *a = fq->input, *b = fq->input2;
  const qat_tensor *ta = fq->requant_in[0], *tb = fq->requant_in[1];
  const int64_t n = qat_tensor_size(x);
  if (!a->valid || !b->valid || qat_tensor_size(ta) > n || qat_tensor_size(tb) > n) return 0;
  qat_bcast4 v; /* the inputs broadcast as the ADD / SUB op broadcasts them */
  qat_bcast4_view(ta, tb, x, &v);
  const float s1 = a->scale[0], s2 = b->scale[0], s_out = fq->scale[0];
  const int32_t zp = fq->zero_point[0];
  int32_t mult[3], act_min, act_max;
  int shift[3];
  const int left_shift = fq->wide ? 15 : 20; /* add.cc: int16 (16x8), int8 */
  if (qat_add_multipliers(s1, s2, s_out, left_shift, mult, shift) ||
      qat_activation_bounds(s_out, zp, fq->qmin, fq->qmax, fq->act == QAT_ACTIVATION_LINEAR ? -INFINITY : 0.0f,
                            act_upper(fq), &act_min, &act_max))
    return 0;
  const float *pa = ta->data, *pb = tb->data;
  if (qat_tensor_size(ta) == n && qat_tensor_size(tb) == n) {
    /* no broadcast (a residual connection): one run of elements in chunks, instead of a call
     * and its setup per row of channels */
    const int64_t chunks = (n + FQ_CHUNK - 1) / FQ_CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t k = 0; k < chunks; k++) {
      const int64_t at = k * FQ_CHUNK;
      const qat_add_requant_row run = {.a = pa + at, .b = pb + at, .a_stride = 1, .b_stride = 1, .y = y + at,
                                       .n = (int)(n - at < FQ_CHUNK ? n - at : FQ_CHUNK), .s1 = s1, .s2 = s2,
                                       .s_out = s_out, .mult = mult, .shift = shift, .left_shift = left_shift,
                                       .subtract = fq->negate2, .zp = zp, .act_min = act_min, .act_max = act_max};
      qat_add_requant_row_run(&run);
    }
    return 1;
  }
  const int rows = v.out[0] * v.out[1] * v.out[2];
#pragma omp parallel for schedule(static) if (n > FQ_CHUNK)
  for (int r = 0; r < rows; r++) {
    const int i0 = r / (v.out[1] * v.out[2]), i1 = r / v.out[2] % v.out[1], i2 = r % v.out[2];
    const float *ra = pa + i0 * v.sa[0] + i1 * v.sa[1] + i2 * v.sa[2];
    const float *rb = pb + i0 * v.sb[0] + i1 * v.sb[1] + i2 * v.sb[2];
    const qat_add_requant_row row = {.a = ra, .b = rb, .a_stride = v.sa[3], .b_stride = v.sb[3],
                                     .y = y + (int64_t)r * v.out[3], .n = v.out[3], .s1 = s1, .s2 = s2,
                                     .s_out = s_out, .mult = mult, .shift = shift, .left_shift = left_shift,
                                     .subtract = fq->negate2, .zp = zp, .act_min = act_min, .act_max = act_max};
    qat_add_requant_row_run(&row);
  }
  return 1;
}

/* A folded batch norm's bias as the exporter quantizes it (qat_fold_bias, then
 * qat_quantize_bias_int32's rounding), per channel; 0 when one does not fit. */
static int fq_folded_bias(qat_fq *fq, float s_in) {
  const qat_fq *w = fq->weight;
  const float *gamma = fq->fold_bn[0]->data, *beta = fq->fold_bn[1]->data, *mean = fq->fold_bn[2]->data,
              *var = fq->fold_bn[3]->data;
  for (int c = 0; c < fq->requant_channels; c++) {
    const float b = qat_fold_bias(0.0f, gamma[c], beta[c], mean[c], var[c], fq->fold_epsilon);
    const double r = round((double)b / (double)(s_in * w->scale[w->channels == 1 ? 0 : c]));
    if (!(fabs(r) <= 2147483647.0)) return 0;
    fq->requant_bias[c] = r;
  }
  return 1;
}

static int fq_requantized(qat_node *nd, const qat_tensor *x, float *y, const qat_exec *ex) {
  qat_fq *fq = FQ(nd);
  if (fq->requant == QAT_REQUANT_MEAN) return fq_mean_requantized(fq, x, y);
  if (fq->requant == QAT_REQUANT_ADD) return fq_add_requantized(fq, x, y);
  if (fq->requant >= QAT_REQUANT_MUL) return qat_fq_requant_fn(fq, x, y);
  const qat_fq *in = fq->input, *w = fq->weight;
  if (!in->valid || !w->valid) return 0;
  const int channels = fq->requant_channels, per_tensor = w->channels == 1;
  const float s_in = in->scale[0], s_out = fq->scale[0];
  /* With a folded batch norm on its moving statistics, the accumulator is the head op's own
   * output plus the folded bias's integers; while it trains on batch statistics, the int8
   * op's arithmetic has no counterpart and the float output stands in. */
  const float *src = x->data;
  const int folded = fq->fold_bn[0] && fq->requant_in[0] && (!ex->training || ex->freeze_bn) &&
                     fq_folded_bias(fq, s_in);
  if (folded) src = fq->requant_in[0]->data;
  /* a fused hard_sigmoid: the op's weight scales divided by 6, 3 added on the accumulator grid
   * (qat_hard_sigmoid_weight_scale / _bias, as the exporter writes the op) */
  const int hard = fq->act == QAT_ACTIVATION_HARD_SIGMOID;
  const float *w_scale = w->scale;
  if (hard) {
    for (int c = 0; c < w->channels; c++) fq->requant_wscale[c] = qat_hard_sigmoid_weight_scale(w->scale[c]);
    for (int c = 0; c < channels; c++)
      fq->requant_bias[c] = (folded ? fq->requant_bias[c] : 0.0) + qat_hard_sigmoid_bias(s_in, w->scale[per_tensor ? 0 : c]);
    w_scale = fq->requant_wscale;
  }
  const int32_t zp = fq->zero_point[0];
  int32_t act_min, act_max;
  if (qat_activation_bounds(s_out, zp, fq->qmin, fq->qmax, fq->act == QAT_ACTIVATION_LINEAR ? -INFINITY : 0.0f,
                            act_upper(fq), &act_min, &act_max))
    return 0;
  if (hard) act_min = fq->qmin, act_max = fq->qmax; /* the op fuses no activation: the saturation clamps */
  if (fq->requant == QAT_REQUANT_FIXED_POINT) {
    if (qat_conv_multipliers(s_in, w_scale, w->channels, s_out, channels, fq->requant_mult, fq->requant_shift))
      return 0;
  } else {
    /* LiteRT's reference FullyConnected: (double)s_in * (double)s_w / (double)s_out */
    for (int c = 0; c < channels; c++)
      fq->requant_eff[c] = (double)s_in * (double)w_scale[per_tensor ? 0 : c] / (double)s_out;
  }
  const int64_t n = qat_tensor_size(x), chunks = (n + FQ_CHUNK - 1) / FQ_CHUNK;
  /* the 16x8 report (never training): the int64 accumulators exactly, not from float sums */
  double *exact = NULL;
  if (fq->wide && fq->requant_head >= 0 && (folded || !fq->fold_bn[0])) {
    exact = malloc((size_t)n * sizeof *exact);
    qat_node *head = nd - nd->index + fq->requant_head;
    if (exact && qat_fq_exact_accumulators(fq, head, ex, exact)) {
      free(exact);
      exact = NULL;
    }
  }
  qat_requant_job job = {.x = src, .acc = exact, .y = y, .acc_bias = folded || hard ? fq->requant_bias : NULL, .channels = channels,
                               .fixed_point = fq->requant == QAT_REQUANT_FIXED_POINT,
                               .wide = fq->wide, .s_in = s_in,
                               .w_scale = w->scale, .per_tensor = per_tensor, .mult = fq->requant_mult,
                               .shift = fq->requant_shift, .eff = fq->requant_eff, .zp = zp,
                               .act_min = act_min, .act_max = act_max, .s_out = s_out};
  if (job.fixed_point && !job.wide && qat_simd_path() == QAT_SIMD_AVX512) {
    qat_requant_reciprocals(&job, fq->requant_inv);
    job.inv = fq->requant_inv;
  }
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t k = 0; k < chunks; k++) {
    qat_requant_job part = job;
    part.begin = k * FQ_CHUNK;
    part.end = n - part.begin < FQ_CHUNK ? n : part.begin + FQ_CHUNK;
    qat_requant_run(&part);
  }
  free(exact);
  return 1;
}

/* omp simd for GCC; clang (the fuzz harnesses' Debug build) reports a loop it was asked to
 * vectorize and did not as an error */
#define RANGE_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define RANGE_SIMD(clauses)
#else
#define RANGE_SIMD(clauses) RANGE_PRAGMA(omp simd clauses)
#endif

/* Observed activations: the fused activation and the batch range in one pass, then the
 * quantization in a second (the range must be known before the first value is rounded). */
static void fq_observed_activation(qat_node *nd, const qat_exec *ex) {
  qat_fq *fq = FQ(nd);
  const qat_tensor *x = OP_X(nd);
  float *y = nd->output->data;
  int64_t n = qat_tensor_size(x), chunks = (n + FQ_CHUNK - 1) / FQ_CHUNK;
  qat_activation act = fq->act;
  int observe = ex->training && !ex->freeze_observers;
  const float *src = x->data;
  /* A requantized output is recomputed from x (before the activation), so the first pass only
   * needs the range of the activated values, not their store; the store waits until the
   * requantization turns out unusable. */
  int activated = act == QAT_ACTIVATION_LINEAR;
  const int store = fq->requant == QAT_REQUANT_NONE;
  if (act != QAT_ACTIVATION_LINEAR || observe) {
    float lo = 0.0f, hi = 0.0f, top = act_upper(fq);
#pragma omp parallel for schedule(static) reduction(min : lo) reduction(max : hi) if (chunks > 1)
    for (int64_t k = 0; k < chunks; k++) {
      int64_t a = k * FQ_CHUNK, len = n - a < FQ_CHUNK ? n - a : FQ_CHUNK;
      const float *restrict in = x->data + a;
      float *restrict out = y + a;
      float clo = 0.0f, chi = 0.0f;
      /* omp simd (RANGE_SIMD): a float maximum reduction does not vectorize otherwise (these
       * passes ran on one scalar lane). Lanes skip NaN as the scalar compare does; + 0.0f
       * below turns a lane's -0.0 into the +0.0 the scalar loop kept. */
      if (act == QAT_ACTIVATION_HARD_SIGMOID) {
        RANGE_SIMD(reduction(max : chi))
        for (int64_t i = 0; i < len; i++) {
          const float v = activate(act, top, in[i]);
          if (store) out[i] = v;
          chi = v > chi ? v : chi;
        }
      } else if (act != QAT_ACTIVATION_LINEAR && store) {
        RANGE_SIMD(reduction(max : chi))
        for (int64_t i = 0; i < len; i++) {
          float v = in[i] > 0.0f ? in[i] : 0.0f;
          v = v < top ? v : top;
          out[i] = v;
          chi = v > chi ? v : chi;
        }
      } else if (act != QAT_ACTIVATION_LINEAR) {
        RANGE_SIMD(reduction(max : chi))
        for (int64_t i = 0; i < len; i++) {
          float v = in[i] > 0.0f ? in[i] : 0.0f;
          v = v < top ? v : top;
          chi = v > chi ? v : chi;
        }
      } else {
        RANGE_SIMD(reduction(min : clo) reduction(max : chi))
        for (int64_t i = 0; i < len; i++) {
          clo = in[i] < clo ? in[i] : clo;
          chi = in[i] > chi ? in[i] : chi;
        }
      }
      clo += 0.0f;
      chi += 0.0f;
      lo = clo < lo ? clo : lo;
      hi = chi > hi ? chi : hi;
    }
    if (act != QAT_ACTIVATION_LINEAR && store) {
      src = y;
      activated = 1;
    }
    /* ranges start at 0, as the observer widens them anyway; a non-finite one is refused
     * by the observer and the loss will stop the run */
    /* data-parallel: the global batch's range, so every process's observer moves alike */
    if (observe && ex->coll) ex->coll->min_max(ex->coll->ctx, &lo, &hi);
    float r[2] = {lo, hi};
    if (observe) qat_observer_update(&fq->observer, r, 2);
  }
  float scale;
  int32_t zp;
  if (fq->observer.initialized && !qat_observer_params(&fq->observer, fq->qmin, fq->qmax, &scale, &zp)) {
    set_params(fq, 0, scale, zp);
    fq->valid = 1;
  }
  if (fq->valid && fq->requant != QAT_REQUANT_NONE && fq_requantized(nd, x, y, ex)) return;
  if (!activated) { /* the store the first pass left out */
    const float top = act_upper(fq);
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t i = 0; i < n; i++) y[i] = activate(act, top, x->data[i]);
    src = y;
  }
  if (!fq->valid) {
    if (src != y) memcpy(y, src, (size_t)n * sizeof(float));
    return;
  }
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t k = 0; k < chunks; k++) {
    int64_t a = k * FQ_CHUNK, len = n - a < FQ_CHUNK ? n - a : FQ_CHUNK;
    qat_fake_quant_forward(src + a, y + a, len, fq->scale[0], fq->zero_point[0], fq->qmin, fq->qmax);
  }
}

/* AVERAGE_POOL_2D (QAT_FQ_SHARED, QAT_REQUANT_AVG_POOL): the float pool averaged grid values;
 * the int8 op sums the raw integers (zero point included) of the in-image taps and divides
 * rounding half away from zero, on the input's scale and zero point. Recomputed from the pool's
 * input (requant_in[0]); without usable input parameters the float average passes. */
static void fq_avg_pool(qat_node *nd) {
  qat_fq *fq = FQ(nd);
  const qat_fq *in = fq->input;
  const qat_tensor *x = OP_X(nd), *src = fq->requant_in[0];
  float *y = nd->output->data;
  const int64_t n = qat_tensor_size(x);
  if (!in->valid || src->rank != 4 || x->rank != 4) {
    fq->valid = 0;
    memcpy(y, x->data, (size_t)n * sizeof(float));
    return;
  }
  set_params(fq, 0, in->scale[0], in->zero_point[0]);
  fq->valid = 1;
  const float s = in->scale[0];
  const int32_t zp = in->zero_point[0];
  const int kh = fq->pool[0], kw = fq->pool[1], sh = fq->pool[2], sw = fq->pool[3], pt = fq->pool[4],
            pl = fq->pool[5];
  const int N = x->dims[0], oh = x->dims[1], ow = x->dims[2], c = x->dims[3], h = src->dims[1], w = src->dims[2];
  const float *xs = src->data;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < N * oh; r++) {
    const int b = r / oh, oy = r % oh, y0 = oy * sh - pt;
    for (int ox = 0; ox < ow; ox++) {
      const int x0 = ox * sw - pl;
      const int fy0 = y0 < 0 ? -y0 : 0, fx0 = x0 < 0 ? -x0 : 0;
      const int fy1 = h - y0 < kh ? h - y0 : kh, fx1 = w - x0 < kw ? w - x0 : kw;
      float *out = y + (((int64_t)b * oh + oy) * ow + ox) * c;
      for (int ch = 0; ch < c; ch++) {
        uint32_t acc = 0;
        int32_t count = 0;
        for (int fy = fy0; fy < fy1; fy++)
          for (int fx = fx0; fx < fx1; fx++) {
            const float v = xs[(((int64_t)b * h + y0 + fy) * w + x0 + fx) * c + ch];
            acc += (uint32_t)(qat_fq_centered(v, s) + zp); /* the raw int8 value */
            count++;
          }
        out[ch] = count ? (float)(qat_avg_pool_round((int32_t)acc, count) - zp) * s : 0.0f;
      }
    }
  }
}

/* RESIZE_BILINEAR (QAT_FQ_SHARED, QAT_REQUANT_RESIZE_BILINEAR): the int8 op interpolates the
 * raw integers with 10-bit weights and rounds once; recomputed from the resize's input
 * (requant_in[0]) on its quantizer's grid. */
static void fq_resize_bilinear(qat_node *nd) {
  qat_fq *fq = FQ(nd);
  const qat_fq *in = fq->input;
  const qat_tensor *x = OP_X(nd), *src = fq->requant_in[0];
  float *y = nd->output->data;
  if (!in->valid || src->rank != 4 || x->rank != 4) {
    fq->valid = 0;
    memcpy(y, x->data, (size_t)qat_tensor_size(x) * sizeof(float));
    return;
  }
  set_params(fq, 0, in->scale[0], in->zero_point[0]);
  fq->valid = 1;
  const float s = in->scale[0];
  const int32_t zp = in->zero_point[0];
  const int N = x->dims[0], oh = x->dims[1], ow = x->dims[2], c = x->dims[3], h = src->dims[1], w = src->dims[2];
  const float *xs = src->data;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < N * oh; r++) {
    const int b = r / oh, oy = r % oh;
    int y0, y1, x0, x1;
    int32_t fy, fx;
    qat_resize_bilinear_taps(oy, h, oh, 0, 1, &y0, &y1, &fy);
    const float *xb = xs + (int64_t)b * h * w * c;
    for (int ox = 0; ox < ow; ox++) {
      qat_resize_bilinear_taps(ox, w, ow, 0, 1, &x0, &x1, &fx);
      const int64_t w00 = (int64_t)(1024 - fy) * (1024 - fx), w10 = (int64_t)fy * (1024 - fx),
                    w01 = (int64_t)(1024 - fy) * fx, w11 = (int64_t)fy * fx;
      const float *p00 = xb + ((int64_t)y0 * w + x0) * c, *p10 = xb + ((int64_t)y1 * w + x0) * c;
      const float *p01 = xb + ((int64_t)y0 * w + x1) * c, *p11 = xb + ((int64_t)y1 * w + x1) * c;
      float *out = y + ((int64_t)r * ow + ox) * c;
      for (int ch = 0; ch < c; ch++) {
        /* the raw int8 values: the grid values' integers plus the zero point */
        const int64_t sum = w00 * (qat_fq_centered(p00[ch], s) + zp) + w10 * (qat_fq_centered(p10[ch], s) + zp) +
                            w01 * (qat_fq_centered(p01[ch], s) + zp) + w11 * (qat_fq_centered(p11[ch], s) + zp);
        out[ch] = (float)(qat_resize_bilinear_round(sum) - zp) * s;
      }
    }
  }
}

static void fq_forward(qat_node *nd, const qat_exec *ex) {
  qat_fq *fq = FQ(nd);
  qat_tensor *x = OP_X(nd), *y = nd->output;
  int64_t n = qat_tensor_size(x);
  if (fq->role == QAT_FQ_SHARED) {
    if (ex->fake_quant && fq->requant == QAT_REQUANT_AVG_POOL) fq_avg_pool(nd);
    else if (ex->fake_quant && fq->requant == QAT_REQUANT_RESIZE_BILINEAR) fq_resize_bilinear(nd);
    else if (ex->fake_quant && fq->params_of && *fq->params_of && (*fq->params_of)->valid &&
             !(ex->training && !ex->freeze_observers)) {
      /* an op writing to a shared range: that range, this op's rounding. Not while the range's
       * observer still moves: it must see the values its range would clip. */
      set_params(fq, 0, (*fq->params_of)->scale[0], (*fq->params_of)->zero_point[0]);
      fq->valid = 1;
      if (!fq_requantized(nd, x, y->data, ex))
        qat_fake_quant_forward(x->data, y->data, n, fq->scale[0], fq->zero_point[0], fq->qmin, fq->qmax);
    } else {
      memcpy(y->data, x->data, (size_t)n * sizeof(float));
    }
    return;
  }
  if (ex->fake_quant && weights_axis0(fq, x)) {
    fq_weights_axis0(nd);
    return;
  }
  if (ex->fake_quant && fq->role == QAT_FQ_ACTIVATION && !fq->fixed && !fq->learned) {
    fq_observed_activation(nd, ex);
    return;
  }
  if (ex->fake_quant) update_params(nd, ex);
  int quantize = ex->fake_quant && fq->valid;
  if (!quantize && fq->act == QAT_ACTIVATION_LINEAR) {
    memcpy(y->data, x->data, (size_t)n * sizeof(float));
    return;
  }
  int64_t outer, channels, inner;
  split(nd, &outer, &channels, &inner);
  if (quantize && fq->role == QAT_FQ_BIAS) { /* the exporter's rounding, in double */
    for (int64_t o = 0; o < outer; o++)
      for (int64_t c = 0; c < channels; c++)
        for (int64_t k = 0; k < inner; k++) {
          const int64_t i = (o * channels + c) * inner + k;
          y->data[i] = qat_fake_quant_bias_value(x->data[i], fq->scale[channels == 1 ? 0 : c], fq->qmin, fq->qmax);
        }
    return;
  }
  if (channels == 1) {
    int64_t chunks = (n + FQ_CHUNK - 1) / FQ_CHUNK;
    qat_activation act = fq->act;
    const float top = act_upper(fq);
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t k = 0; k < chunks; k++) {
      int64_t a = k * FQ_CHUNK, len = n - a < FQ_CHUNK ? n - a : FQ_CHUNK;
      const float *src = x->data + a;
      if (act != QAT_ACTIVATION_LINEAR) { /* activation, then quantize in place while in cache */
        float *restrict dst = y->data + a;
        for (int64_t i = 0; i < len; i++) dst[i] = activate(act, top, src[i]);
        src = dst;
      }
      if (quantize)
        qat_fake_quant_forward(src, y->data + a, len, fq->scale[0], fq->zero_point[0], fq->qmin, fq->qmax);
    }
  } else if (outer == 1) {
#pragma omp parallel for schedule(static) if (n > FQ_CHUNK)
    for (int64_t c = 0; c < channels; c++)
      qat_fake_quant_forward_per_channel(x->data + c * inner, y->data + c * inner, 1, 1, inner, fq->scale + c,
                                         fq->zero_point + c, fq->qmin, fq->qmax);
  } else {
    qat_fake_quant_forward_per_channel(x->data, y->data, outer, channels, inner, fq->scale, fq->zero_point,
                                       fq->qmin, fq->qmax);
  }
}

/* LSQ's step-size gradient: per element (round(x/s) - x/s) inside the grid and the grid's end
 * (Qn or Qp) outside it, scaled by 1/sqrt(N * Qp) with N the elements sharing the step size
 * (per sample for activations). */
static void learned_scale_backward(qat_node *nd, const qat_exec *ex) {
  qat_fq *fq = FQ(nd);
  const qat_tensor *x = OP_X(nd);
  qat_tensor *st = nd->inputs[1];
  if (!st->grad) return;
  const float *dy = nd->output->grad;
  int64_t outer, channels, inner;
  split(nd, &outer, &channels, &inner);
  int64_t per_sample = x->batched ? qat_tensor_size(x) / x->dims[0] : qat_tensor_size(x) / channels;
  int64_t half[3] = {0, inner, inner};
  const int halves = batch_halves(nd, ex, outer, channels, inner, half);
  for (int64_t c = 0; c < channels; c++) {
    float s = fq->scale[c], lo = (float)(fq->qmin - fq->zero_point[c]), hi = (float)(fq->qmax - fq->zero_point[c]);
    double g = 1.0 / sqrt((double)per_sample * hi);
    for (int h = 0; h < halves; h++) {
      double acc = 0;
      for (int64_t o = 0; o < outer; o++)
        for (int64_t i = half[h]; i < half[h + 1]; i++) {
          int64_t j = (o * channels + c) * inner + i;
          float v = x->data[j] / s;
          float d = v < lo ? lo : v > hi ? hi : qat_roundf(v) - v;
          acc += (double)dy[j] * d;
        }
      op_grad_half(st, h)[c] += (float)(acc * g);
    }
  }
}

static void fq_backward(qat_node *nd, const qat_exec *ex) {
  qat_fq *fq = FQ(nd);
  qat_tensor *x = OP_X(nd);
  if (fq->learned && ex->fake_quant && fq->valid) learned_scale_backward(nd, ex);
  if (!x->grad) return;
  const float *dy = nd->output->grad;
  int64_t n = qat_tensor_size(x);
  int quantize = ex->fake_quant && fq->valid;
  if (fq->act == QAT_ACTIVATION_HARD_SIGMOID) {
    /* 1/6 inside (-3, 3), where the value also lies under the nudged maximum */
    const float top = quantize ? fq->nudged_max[0] : INFINITY;
    const float *restrict xv = x->data;
    float *restrict dx = x->grad;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
      dx[i] += (xv[i] > -3.0f && xv[i] < 3.0f && activate(QAT_ACTIVATION_HARD_SIGMOID, 1.0f, xv[i]) <= top)
                   ? dy[i] * (1.0f / 6.0f) : 0.0f;
    return;
  }
  if (fq->act != QAT_ACTIVATION_LINEAR) {
    /* relu'(x) times the straight-through mask of the clipped value: 0 < x < 6 (ReLU6; the
     * max_value of a capped ReLU) and x <= the nudged maximum */
    float hi = act_upper(fq), top = quantize ? fq->nudged_max[0] : INFINITY;
    const float *restrict xv = x->data;
    float *restrict dx = x->grad;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) dx[i] += (xv[i] > 0.0f && xv[i] < hi && xv[i] <= top) ? dy[i] : 0.0f;
    return;
  }
  /* Weight ranges come from max|w| of the very weights quantized, so none is ever clipped:
   * the straight-through gradient is the identity there. */
  if (!quantize || fq->role == QAT_FQ_SHARED || (fq->role == QAT_FQ_WEIGHT && !fq->learned && !fq->fixed)) {
    float *restrict dx = x->grad;
    const float *restrict d = dy;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) dx[i] += d[i];
    return;
  }
  int64_t outer, channels, inner;
  split(nd, &outer, &channels, &inner);
  if (channels == 1) {
    int64_t chunks = (n + FQ_CHUNK - 1) / FQ_CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t k = 0; k < chunks; k++) {
      int64_t a = k * FQ_CHUNK, len = n - a < FQ_CHUNK ? n - a : FQ_CHUNK;
      qat_fake_quant_backward(x->data + a, dy + a, x->grad + a, len, fq->nudged_min[0], fq->nudged_max[0]);
    }
  } else if (outer == 1) {
#pragma omp parallel for schedule(static) if (n > FQ_CHUNK)
    for (int64_t c = 0; c < channels; c++)
      qat_fake_quant_backward_per_channel(x->data + c * inner, dy + c * inner, x->grad + c * inner, 1, 1, inner,
                                          fq->nudged_min + c, fq->nudged_max + c);
  } else {
    qat_fake_quant_backward_per_channel(x->data, dy, x->grad, outer, channels, inner, fq->nudged_min,
                                        fq->nudged_max);
  }
}

/* For the gradient check: parameters fixed by hand with a step (1e-6) far below the
 * finite-difference step, so the staircase looks like its straight-through slope, and the
 * range edges (where the slope drops to 0) listed as kinks. Some inputs lie outside the
 * range and must get zero gradient. */
static float ex_scale[3] = {1e-6f, 1e-6f, 1e-6f}, ex_nmin[3], ex_nmax[3];
static int32_t ex_zp[3] = {0, 0, 0};
static qat_fq ex_fq = {.role = QAT_FQ_ACTIVATION, .name = "example", .qmin = -30000, .qmax = 30000, .axis = -1,
                       .channels = 1, .scale = ex_scale, .zero_point = ex_zp, .nudged_min = ex_nmin,
                       .nudged_max = ex_nmax, .fixed = 1, .valid = 1};
static float pc_scale[3] = {1e-6f, 2e-6f, 0.5e-6f}, pc_nmin[3], pc_nmax[3];
static int32_t pc_zp[3] = {0, 0, 0};
static qat_fq ex_fq_pc = {.role = QAT_FQ_WEIGHT, .name = "example_pc", .qmin = -30000, .qmax = 30000, .axis = 3,
                          .channels = 3, .scale = pc_scale, .zero_point = pc_zp, .nudged_min = pc_nmin,
                          .nudged_max = pc_nmax, .fixed = 1, .valid = 1};

static qat_fq ex_fq_relu6 = {.role = QAT_FQ_ACTIVATION, .name = "example_relu6", .qmin = -30000, .qmax = 30000,
                             .axis = -1, .channels = 1, .scale = ex_scale + 1, .zero_point = ex_zp + 1,
                             .nudged_min = ex_nmin + 1, .nudged_max = ex_nmax + 1, .fixed = 1, .valid = 1,
                             .act = QAT_ACTIVATION_RELU6};

static qat_fq ex_fq_hard = {.role = QAT_FQ_ACTIVATION, .name = "example_hard_sigmoid", .qmin = -30000, .qmax = 30000,
                            .axis = -1, .channels = 1, .scale = ex_scale + 2, .zero_point = ex_zp + 2,
                            .nudged_min = ex_nmin + 2, .nudged_max = ex_nmax + 2, .fixed = 1, .valid = 1,
                            .act = QAT_ACTIVATION_HARD_SIGMOID};

static int fq_example(qat_op_example *ex, int variant) {
  if (variant > 5) return -1;
  if (variant >= 4) {
    /* fused hard_sigmoid, quantizing (4) or not yet (5): kinks at -3, 3 and where the value
     * reaches the range's top (0.03: x = (0.03 - 0.5) * 6) */
    qat_fq *fq = &ex_fq_hard;
    qat_quant_nudged_range(fq->scale[0], fq->zero_point[0], fq->qmin, fq->qmax, &fq->nudged_min[0], &fq->nudged_max[0]);
    example_input(ex, 0, 4, (int[]){2, 3, 2, 3}, 1, 1, QAT_FILL_UNIFORM);
    ex->attrs.custom = &qat_fake_quant_op;
    ex->attrs.state = fq;
    ex->fake_quant = variant == 4;
    ex->scale = 4.0f;
    ex->n_kinks = 3;
    ex->kinks[0] = -3.0f;
    ex->kinks[1] = variant == 4 ? (0.03f - 0.5f) * 6.0f : 3.0f;
    ex->kinks[2] = 3.0f;
    return 0;
  }
  if (variant >= 2) {
    /* fused ReLU6, quantizing (2) or not yet (3): kinks at 0, 6 and the range's top (0.03) */
    qat_fq *fq = &ex_fq_relu6;
    qat_quant_nudged_range(fq->scale[0], fq->zero_point[0], fq->qmin, fq->qmax, &fq->nudged_min[0], &fq->nudged_max[0]);
    example_input(ex, 0, 4, (int[]){2, 3, 2, 3}, 1, 1, QAT_FILL_UNIFORM);
    ex->attrs.custom = &qat_fake_quant_op;
    ex->attrs.state = fq;
    ex->fake_quant = variant == 2;
    ex->scale = variant == 2 ? 0.05f : 8.0f;
    ex->n_kinks = 3;
    ex->kinks[0] = 0.0f;
    ex->kinks[1] = variant == 2 ? 0.03f : 6.0f;
    ex->kinks[2] = 6.0f;
    return 0;
  }
  qat_fq *fq = variant ? &ex_fq_pc : &ex_fq;
  for (int c = 0; c < fq->channels; c++)
    qat_quant_nudged_range(fq->scale[c], fq->zero_point[c], fq->qmin, fq->qmax, &fq->nudged_min[c],
                           &fq->nudged_max[c]);
  example_input(ex, 0, 4, (int[]){2, 3, 2, 3}, 1, 1, QAT_FILL_UNIFORM);
  ex->attrs.custom = &qat_fake_quant_op;
  ex->attrs.state = fq;
  ex->fake_quant = 1;
  ex->scale = 0.05f;
  /* range edges: +-0.03 per tensor; per channel +-0.03, +-0.06 (beyond the inputs), +-0.015 */
  ex->n_kinks = 4;
  ex->kinks[0] = -0.03f;
  ex->kinks[1] = 0.03f;
  ex->kinks[2] = variant ? -0.015f : -0.03f;
  ex->kinks[3] = variant ? 0.015f : 0.03f;
  return 0;
}

/* Registered into the engine through its custom-op hook (QAT_OP_CUSTOM): autograd/ knows
 * nothing of quantization. */
const qat_op_info qat_fake_quant_op = {
    .name = "fake_quant", .plan = fq_plan, .forward = fq_forward, .backward = fq_backward,
    .example = fq_example,
};
