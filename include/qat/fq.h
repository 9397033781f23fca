/* The state of one fake-quant node: which tensor it quantizes, how (role, range, per-channel
 * axis), its observer, and the parameters the forward pass used last. The exporter reads the
 * same fields, so what was simulated in training is what gets written. */
#ifndef QAT_FQ_H
#define QAT_FQ_H

#include <math.h>
#include <stdint.h>

#include "qat/autograd.h"
#include "qat/quant.h"
#include "qat/spec.h"

typedef enum qat_fq_role {
  QAT_FQ_ACTIVATION = 0, /* asymmetric per tensor, range from an observer */
  QAT_FQ_WEIGHT,         /* symmetric narrow range, per channel or per tensor, from the weights */
  QAT_FQ_BIAS,           /* int32 grid at input scale x weight scale[c] */
  QAT_FQ_SHARED,         /* a rounding on its input's grid (AVERAGE_POOL_2D): the input quantizer's
                            scale and zero point (fq->input), no observer of its own */
} qat_fq_role;

/* How the int8 op that produces an activation requantizes its int32 accumulator, so that the
 * output fake quant can round exactly as that op does (see qat_fq.requant). */
typedef enum qat_requant {
  QAT_REQUANT_NONE = 0,   /* round(x / scale): pools, adds, the input */
  QAT_REQUANT_FIXED_POINT, /* CONV_2D, DEPTHWISE_CONV_2D: MultiplyByQuantizedMultiplier */
  QAT_REQUANT_DOUBLE,      /* FULLY_CONNECTED in LiteRT's reference kernel: round(acc * (double)M) */
  QAT_REQUANT_MEAN,        /* MEAN (GlobalAveragePooling2D): the centered sum, 1/n folded into M */
  QAT_REQUANT_ADD,         /* ADD: each input rescaled (left shift 20, Q31 multiplier), summed and
                              requantized (reference_integer_ops::AddElementwise) */
  QAT_REQUANT_AVG_POOL,    /* AVERAGE_POOL_2D: the raw int8 window sum over in-image taps, divided
                              rounding half away from zero (reference_integer_ops::AveragePool) */
  /* Issue 15 (fakequant/requant_fn.c), from the integers of the input tensors requant_in[]: */
  QAT_REQUANT_MUL,         /* MUL: (q1 - zp1) (q2 - zp2) requantized, numpy broadcasting */
  QAT_REQUANT_LEAKY_RELU,  /* LEAKY_RELU: identity or alpha multiplier by the input's sign */
  QAT_REQUANT_HARD_SWISH,  /* HARD_SWISH: reference_ops::HardSwish's 16-bit fixed point */
  QAT_REQUANT_RESIZE_BILINEAR, /* RESIZE_BILINEAR: 10-bit fixed-point taps of the raw int8 values
                                  (qat_resize_bilinear_taps), rounded half away from zero */
  QAT_REQUANT_REQUANTIZE,  /* QUANTIZE int8 -> int8 (a Concatenate's input on another range):
                              (q - zp_in) rescaled by s_in / s_out (input: its quantizer) */
  QAT_REQUANT_PRELU,       /* PRELU: identity multiplier for x >= 0, x * alpha's integers rescaled
                              by s_in * s_alpha / s_out below (input2: alpha's quantizer) */
} qat_requant;

typedef struct qat_fq {
  qat_fq_role role;
  char name[2 * QAT_NAME_MAX + 16]; /* "conv2d/kernel", "conv2d/output", "input" */
  int qmin, qmax;
  int axis;          /* weights: the channel axis; -1 per tensor */
  int channels;      /* entries in the arrays below (1 per tensor) */
  float *scale;
  int32_t *zero_point;
  float *nudged_min, *nudged_max;
  qat_observer observer;        /* activations */
  int fixed;         /* parameters set from outside (tests, imports): never recomputed */
  int learned;       /* LSQ: the scale is a trainable parameter (the node's second input) */
  qat_activation act; /* RELU/RELU6 fused in, as the int8 op fuses it into its clamp: applied
                         first (also while fake quant is off), and its range observed */
  int valid;         /* parameters have been computed */
  const struct qat_fq *input, *weight; /* bias: its scale is input->scale[0] * weight->scale[c];
                                          requantized activation: the head op's quantizers */
  /* The output quantizer of a conv / depthwise / dense chain simulates the int8 op's
   * requantization, not just round(x / scale): the op's int32 accumulator is recovered from the
   * float output as round(x / (s_in * s_w[c])) (inputs, weights and bias lie on their grids, so
   * it is an integer up to float rounding), then requantized as the int8 kernel does and
   * clamped to the fused activation; a MEAN recovers its centered integer sum the same way.
 * Rounding once in float differs from TFLite's double
   * rounding in about 1 output of 1,500 (measured on the seed CNN's first conv). */
  qat_requant requant;
  int wide; /* as the 16x8 kernels compute (the parity report's int16 simulation): FIXED_POINT
               and DOUBLE with an int64 accumulator, FIXED_POINT's multiplier reduced to 16 bits
               (qat_multiply_by_quantized_multiplier_int64); ADD with left shift 15 */
  int32_t *requant_mult; /* per output channel (requant_channels): Q31 multiplier and shift, */
  int *requant_shift;    /* or the double multiplier, recomputed each forward; no allocation */
  double *requant_eff;   /* in the training loop */
  double *requant_inv;   /* FIXED_POINT: 1 / (s_in * s_w[c]), for the vector requantization */
  int requant_channels;
  int64_t requant_count; /* MEAN: values averaged per output */
  /* FIXED_POINT / DOUBLE: the head op's own output (its accumulator, the bias included unless
   * a batch norm is folded in) in requant_in[0]; with a folded batch norm its gamma, beta,
   * moving mean and variance, epsilon, and the folded bias's integers per channel, rebuilt each
   * forward as the exporter builds them (batch-norm ops in float would round otherwise) */
  const qat_tensor *fold_bn[4];
  int requant_head; /* FIXED_POINT / DOUBLE: the head op's node index (-1 unknown), which
                       recomputes its accumulator exactly for a wide report
                       (qat_fq_exact_accumulators) */
  float fold_epsilon;
  double *requant_bias; /* integers */
  float *requant_wscale; /* a fused hard_sigmoid's divided weight scales (per weight channel) */
  /* ADD: the second input's quantizer (input is the first's) and both input tensors (on their
   * quantizers' grids; the float sum alone cannot tell how the int8 ADD rounds). AVG_POOL: the
   * pool's input tensor and window (kernel h, w, strides h, w, padding top, left). */
  const struct qat_fq *input2;
  int negate2;           /* ADD's rule for SUB: the second rescaled input subtracted */
  float alpha;           /* LEAKY_RELU's slope; RELU_MAX's cap (act) */
  /* QAT_FQ_SHARED with a requantization (FIXED_POINT, REQUANTIZE): where the quantizer whose scale
   * and zero point it rounds to will be, the model's layer_fq slot of the layer whose range it is
   * (a Concatenate's, filled once that quantizer is made): the range is that layer's, the
   * rounding this op's own */
  struct qat_fq *const *params_of;
  const qat_tensor *requant_in[2];
  int pool[6];
} qat_fq;

/* A hard_sigmoid fused into a conv / depthwise / dense (MobileNetV3's squeeze-and-excite gate,
 * relu6(x + 3) / 6): the int8 op is the head op itself, its weight scales divided by 6 and 3
 * added to its bias on the accumulator grid (s_in * s_w); with its output range inside [0, 1]
 * the int8 saturation is the clamp, so no fused activation and no other op (the converter
 * writes a RELU6-fused conv with 3 in the bias, then a MUL by 1/6). The fake quant and the
 * exporter both use these. */
static inline float qat_hard_sigmoid_weight_scale(float s_w) { return s_w / 6.0f; }
static inline double qat_hard_sigmoid_bias(float s_in, float s_w) { return round(3.0 / (double)(s_in * s_w)); }

/* The fake-quant op (fakequant/op_fake_quant.c), a custom op of the autograd engine: a node
 * QAT_OP_CUSTOM with attrs.custom = &qat_fake_quant_op and attrs.state = its qat_fq. */
extern const qat_op_info qat_fake_quant_op;
/* A ReLU's threshold on a quantized tensor (fakequant/op_threshold.c): QAT_OP_CUSTOM with
 * attrs.custom = &qat_threshold_op, attrs.state = the input's qat_fq, attrs.alpha = t. */
extern const qat_op_info qat_threshold_op;

/* The fake-quant state of node n, or NULL when n is no fake quant. */
static inline qat_fq *qat_node_fq(const qat_node *n) {
  return n->op == QAT_OP_CUSTOM && n->attrs.custom == &qat_fake_quant_op ? (qat_fq *)n->attrs.state : NULL;
}

/* The requantizations of fakequant/requant_fn.c: y gets what the int8 op outputs
 * (dequantized); 0 when the input quantizers have no parameters yet (plain rounding then). */
int qat_fq_requant_fn(const qat_fq *fq, const qat_tensor *x, float *y);

/* fakequant/exact_acc.c: the head op's accumulators (bias included, a folded batch norm's
 * not) as the 16x8 kernels' int64 sums, computed exactly; -1 where they cannot be (weights
 * too large for exact float passes, an input off a 20-bit grid, out of memory). */
int qat_fq_exact_accumulators(const qat_fq *fq, qat_node *head, const qat_exec *ex, double *acc);

#endif
