/* The 16x8 lowering (int16 activations, int8 weights, int64 biases; see include/qat/export.h):
 * the graph and weights of the int8 lowering (lower_int8.c runs it in this mode), with int16
 * symmetric activation parameters taken from the ranges the activation quantizers observed, and
 * the validator of what TFLite's int16 kernels can run.
 *
 * Activation scale: TFLite's 16x8 spec makes int16 activations symmetric with zero point 0;
 * the converter's calibrator turns a tensor's range [min, max] into scale max(|min|, |max|) /
 * 32767 (tools/optimize/quantization_utils.cc GetSymmetricQuantizationParams with the int16
 * range [-32767, 32767]). qat_quant_params_symmetric computes exactly that. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "layers/lower_kit.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/quant.h"

int qat_export_int16x8_act_params(const qat_fq *fq, float *scale, int64_t *zp) {
  float lo, hi;
  if (fq->observer.initialized) {
    lo = fq->observer.min;
    hi = fq->observer.max;
  } else {
    /* parameters set from outside (imports, tests): the range the int8 grid represents */
    qat_quant_nudged_range(fq->scale[0], fq->zero_point[0], fq->qmin, fq->qmax, &lo, &hi);
  }
  /* A fused ReLU/ReLU6 clamps before the quantizer sees the values; its range never extends
   * below 0 (ReLU6: above 6, a capped ReLU above its max_value) in the int8 model either. */
  if (fq->act == QAT_ACTIVATION_RELU || fq->act == QAT_ACTIVATION_RELU6 || fq->act == QAT_ACTIVATION_RELU_MAX)
    lo = lo > 0.0f ? lo : 0.0f;
  if (fq->act == QAT_ACTIVATION_RELU6 && hi > 6.0f) hi = 6.0f;
  if (fq->act == QAT_ACTIVATION_RELU_MAX && hi > fq->alpha) hi = fq->alpha;
  float s;
  int rc = qat_quant_params_symmetric(lo, hi, QAT_INT16_MAX, &s);
  if (rc) return qat_fail_prefix(rc, "quantizer '%s' (range [%g, %g]): ", fq->name, (double)lo, (double)hi);
  if (!(s > 0.0f) || !isfinite(s) || s < FLT_MIN)
    return qat_fail(QAT_ERR_UNSUPPORTED, "quantizer '%s': range [%g, %g] gives the int16 scale %g", fq->name,
                    (double)lo, (double)hi, (double)s);
  *scale = s;
  *zp = 0;
  return QAT_OK;
}

static const lower_qmode mode_int16x8 = {
    .name = "int16x8",
    .act = QAT_TFLITE_INT16,
    .softmax_scale = 1.0f / 32768.0f,
    .softmax_zp = 0,
    .act_params = qat_export_int16x8_act_params,
    .validate = qat_export_validate_int16x8,
};

int qat_export_int16x8(const qat_model *m, qat_export_io io, qat_tflite_model *out) {
  return lower_quantized(m, io, &mode_int16x8, out);
}

/* ---- the validator ---- */

#define tname lower_tensor_name
#define op_fail(t, k, rule, ...) lower_validate_fail(t, k, "int16x8", rule, __VA_ARGS__)

/* int16 per tensor, scale finite > 0, zero point 0; an activation (act16) holds no data. */
static int sym16(const qat_tflite_tensor *x) {
  return x->type == QAT_TFLITE_INT16 && x->quant.n == 1 && x->quant.zero_point[0] == 0 &&
         isfinite(x->quant.scale[0]) && x->quant.scale[0] > 0.0f;
}
static int act16(const qat_tflite_tensor *x) { return !x->data && sym16(x); }

static int check_act(const qat_tflite_model *t, int k, int tensor, const char *what) {
  const qat_tflite_tensor *x = &t->tensors[tensor];
  if (act16(x)) return QAT_OK;
  return op_fail(t, k, "int16 symmetric activations",
                 "%s '%s' is %s with %d scale(s) and zero point %lld; 16x8 needs INT16, one scale, zero point 0",
                 what, tname(t, tensor), qat_tflite_type_name(x->type), x->quant.n,
                 x->quant.n ? (long long)x->quant.zero_point[0] : 0LL);
}

static int check_weighted(const qat_tflite_model *t, int k) {
  const qat_tflite_operator *op = &t->ops[k];
  int rc;
  /* TRANSPOSE_CONV: output_shape, weights, input, bias */
  const int tc = op->op == QAT_TFLITE_OP_TRANSPOSE_CONV, xj = tc ? 2 : 0, bj = tc ? 3 : 2;
  if ((rc = check_act(t, k, op->inputs[xj], "input")) || (rc = check_act(t, k, op->outputs[0], "output"))) return rc;
  if (op->n_inputs <= bj || op->inputs[bj] < 0) return op_fail(t, k, "bias", "no bias input");
  const qat_tflite_tensor *in = &t->tensors[op->inputs[xj]], *out = &t->tensors[op->outputs[0]];
  const qat_tflite_tensor *w = &t->tensors[op->inputs[1]], *b = &t->tensors[op->inputs[bj]];
  if (w->type != QAT_TFLITE_INT8 || !w->data)
    return op_fail(t, k, "int8 weights", "weights '%s' must be constant INT8 (16x8 has int8 weights)", w->name);
  if (b->type != QAT_TFLITE_INT64 || !b->data)
    return op_fail(t, k, "int64 bias", "bias '%s' must be constant INT64 (is %s)", b->name,
                   qat_tflite_type_name(b->type));
  const int dw = op->op == QAT_TFLITE_OP_DEPTHWISE_CONV_2D, fc = op->op == QAT_TFLITE_OP_FULLY_CONNECTED;
  const int qd = dw ? 3 : 0, ch = w->dims[qd];
  if ((rc = lower_validate_weights(t, k, "int16x8", in->quant.scale[0], w, b, qd))) return rc;
  const int64_t *qb = b->data;
  int64_t max_bias = 0;
  for (int c = 0; c < ch; c++) {
    const int64_t a = qb[c] < 0 ? -qb[c] : qb[c];
    if (a > max_bias) max_bias = a;
  }
  for (int c = 0; c < b->quant.n; c++) {
    /* The 64-bit MultiplyByQuantizedMultiplier takes shifts up to 7 (multipliers below 2^7); qat
     * keeps a factor 2 of margin against QuantizeMultiplier's rounding. */
    const double mult = (double)in->quant.scale[0] * (double)w->quant.scale[c] / (double)out->quant.scale[0];
    if (!(mult < 64.0))
      return op_fail(t, k, "output multiplier below 64",
                     "s_in * s_w[%d] / s_out = %g; TFLite's 16x8 requantization needs it below 2^7 (the output "
                     "range is far too narrow for the input's)",
                     c, mult);
  }
  /* |accumulator| <= taps * 127 * 32768 + max |bias| must stay below 2^47 */
  const int64_t taps = fc ? (int64_t)w->dims[1] : dw ? (int64_t)w->dims[1] * w->dims[2]
                                                     : (int64_t)w->dims[1] * w->dims[2] * w->dims[3];
  if (max_bias >= ((int64_t)1 << 46) || taps > (((int64_t)1 << 46) - max_bias) / ((int64_t)1 << 22))
    return op_fail(t, k, "64-bit accumulator below 2^47",
                   "%lld products per output and a bias up to %lld can leave the range of TFLite's 16x8 "
                   "requantization (2^47)",
                   (long long)taps, (long long)max_bias);
  return QAT_OK;
}

int qat_export_validate_int16x8(const qat_tflite_model *t) {
  for (int i = 0; i < t->n_tensors; i++) {
    const qat_tflite_tensor *x = &t->tensors[i];
    for (int c = 0; c < x->quant.n; c++)
      if (!(x->quant.scale[c] > 0.0f) || !isfinite(x->quant.scale[c]))
        return qat_fail(QAT_ERR_UNSUPPORTED, "int16x8 validation: tensor '%s': rule 'scale': scale[%d] = %g",
                        tname(t, i), c, (double)x->quant.scale[c]);
    if (x->type == QAT_TFLITE_INT8 && !x->data)
      return qat_fail(QAT_ERR_UNSUPPORTED,
                      "int16x8 validation: tensor '%s': rule 'int16 activations': an INT8 activation in a 16x8 "
                      "graph",
                      tname(t, i));
  }
  for (int k = 0; k < t->n_ops; k++) {
    const qat_tflite_operator *op = &t->ops[k];
    const qat_tflite_tensor *in = &t->tensors[op->inputs[0]], *out = &t->tensors[op->outputs[0]];
    int rc = QAT_OK;
    switch (op->op) {
    case QAT_TFLITE_OP_CONV_2D:
    case QAT_TFLITE_OP_DEPTHWISE_CONV_2D:
    case QAT_TFLITE_OP_TRANSPOSE_CONV:
    case QAT_TFLITE_OP_FULLY_CONNECTED: rc = check_weighted(t, k); break;
    case QAT_TFLITE_OP_MAX_POOL_2D:
    case QAT_TFLITE_OP_AVERAGE_POOL_2D:
    case QAT_TFLITE_OP_RESHAPE:
    case QAT_TFLITE_OP_PAD:
    case QAT_TFLITE_OP_STRIDED_SLICE:
    case QAT_TFLITE_OP_RESIZE_BILINEAR:
    case QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR:
    case QAT_TFLITE_OP_REDUCE_MAX: /* a max picks an input: the same range (GlobalMaxPooling2D) */
      if ((rc = check_act(t, k, op->inputs[0], "input")) || (rc = check_act(t, k, op->outputs[0], "output"))) break;
      if (in->quant.scale[0] != out->quant.scale[0])
        rc = op_fail(t, k, "shared range", "input '%s' scale %g and output scale %g must be equal (the int16 kernels "
                     "do not rescale)", in->name, (double)in->quant.scale[0], (double)out->quant.scale[0]);
      break;
    case QAT_TFLITE_OP_CONCATENATION: /* the int16 kernel copies: one scale for all (zero points are 0) */
    case QAT_TFLITE_OP_MAXIMUM:       /* MAXIMUM and MINIMUM compare the stored integers */
    case QAT_TFLITE_OP_MINIMUM:
      for (int j = 0; j < op->n_inputs && !rc; j++) {
        const qat_tflite_tensor *x = &t->tensors[op->inputs[j]];
        /* a constant operand (a capped ReLU's max_value) lies on the activations' grid too */
        if (!(x->data && sym16(x)) && (rc = check_act(t, k, op->inputs[j], "input"))) break;
        if (x->quant.scale[0] != out->quant.scale[0])
          rc = op_fail(t, k, "shared range", "input '%s' scale %g and output scale %g must be equal", x->name,
                       (double)x->quant.scale[0], (double)out->quant.scale[0]);
      }
      if (!rc) rc = check_act(t, k, op->outputs[0], "output");
      break;
    case QAT_TFLITE_OP_LESS: /* a threshold: LESS compares int16 as stored */
      if ((rc = check_act(t, k, op->inputs[1], "input"))) break;
      if (!sym16(in) || in->quant.scale[0] != t->tensors[op->inputs[1]].quant.scale[0] || out->type != QAT_TFLITE_BOOL)
        rc = op_fail(t, k, "threshold grid", "the constant must share the input's scale, the output be BOOL");
      break;
    case QAT_TFLITE_OP_SELECT_V2: /* copies values */
      for (int j = 1; j < 3 && !rc; j++) {
        const qat_tflite_tensor *x = &t->tensors[op->inputs[j]];
        if (!sym16(x) || x->quant.scale[0] != out->quant.scale[0])
          rc = op_fail(t, k, "shared range", "input '%s' must be int16 with the output's scale", x->name);
      }
      if (!rc && in->type != QAT_TFLITE_BOOL) rc = op_fail(t, k, "BOOL condition", "the condition must be BOOL");
      if (!rc) rc = check_act(t, k, op->outputs[0], "output");
      break;
    case QAT_TFLITE_OP_MEAN:
      if ((rc = check_act(t, k, op->inputs[0], "input"))) break;
      rc = check_act(t, k, op->outputs[0], "output");
      break;
    case QAT_TFLITE_OP_ADD:
    case QAT_TFLITE_OP_SUB:
      if ((rc = check_act(t, k, op->inputs[0], "input")) || (rc = check_act(t, k, op->inputs[1], "input")) ||
          (rc = check_act(t, k, op->outputs[0], "output")))
        break;
      if (op->opt.pot_scale_int16)
        rc = op_fail(t, k, "general int16 ADD / SUB",
                     "pot_scale_int16 must be false: the power-of-two kernel needs power-of-two scales");
      break;
    case QAT_TFLITE_OP_MUL:
      if ((rc = check_act(t, k, op->inputs[0], "input")) || (rc = check_act(t, k, op->inputs[1], "input")))
        break;
      rc = check_act(t, k, op->outputs[0], "output");
      break;
    case QAT_TFLITE_OP_LEAKY_RELU:
      if ((rc = check_act(t, k, op->inputs[0], "input"))) break;
      rc = check_act(t, k, op->outputs[0], "output");
      break;
    case QAT_TFLITE_OP_PRELU: { /* PreluEval reads an int16 input with int8 alpha */
      const qat_tflite_tensor *al = &t->tensors[op->inputs[1]];
      if ((rc = check_act(t, k, op->inputs[0], "input")) || (rc = check_act(t, k, op->outputs[0], "output"))) break;
      if (al->type != QAT_TFLITE_INT8 || !al->data || al->quant.n != 1 || al->quant.zero_point[0] != 0)
        rc = op_fail(t, k, "int8 alpha", "alpha '%s' must be constant INT8 with one scale and zero point 0", al->name);
      break;
    }
    case QAT_TFLITE_OP_LOGISTIC:
    case QAT_TFLITE_OP_TANH:
    case QAT_TFLITE_OP_SOFTMAX:
      if ((rc = check_act(t, k, op->inputs[0], "input")) || (rc = check_act(t, k, op->outputs[0], "output"))) break;
      if (out->quant.scale[0] != 1.0f / 32768.0f)
        rc = op_fail(t, k, op->op == QAT_TFLITE_OP_SOFTMAX ? "softmax fixed range" : "fixed range",
                     "output scale %g must be 1/32768 with zero point 0",
                     (double)out->quant.scale[0]);
      break;
    case QAT_TFLITE_OP_QUANTIZE:
      if (in->type == QAT_TFLITE_INT16) { /* a requantization (a Concatenate's input) */
        if (!(rc = check_act(t, k, op->inputs[0], "input"))) rc = check_act(t, k, op->outputs[0], "output");
      } else if (in->type != QAT_TFLITE_FLOAT32)
        rc = op_fail(t, k, "float edges", "QUANTIZE must take FLOAT32 (has %s)", qat_tflite_type_name(in->type));
      else
        rc = check_act(t, k, op->outputs[0], "output");
      break;
    case QAT_TFLITE_OP_DEQUANTIZE:
      if (out->type != QAT_TFLITE_FLOAT32)
        rc = op_fail(t, k, "float edges", "DEQUANTIZE must give FLOAT32 (gives %s)", qat_tflite_type_name(out->type));
      else
        rc = check_act(t, k, op->inputs[0], "input");
      break;
    default:
      rc = op_fail(t, k, "16x8 ops",
                   "TFLite has no 16x8 kernel qat can write for %s (16x8 graphs hold CONV_2D, DEPTHWISE_CONV_2D, "
                   "TRANSPOSE_CONV, FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D, MEAN, RESHAPE, SOFTMAX, ADD, "
                   "QUANTIZE and DEQUANTIZE)",
                   qat_tflite_op_name(op->op));
      break;
    }
    if (rc) return rc;
  }
  return qat_tflite_validate(t);
}
