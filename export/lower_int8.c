/* The int8 mode of the quantized lowering (export/lower.c lower_quantized): its quantization
 * parameters, the preparation of a QAT model for export and the validator of what the
 * lowering wrote. The arithmetic is fakequant/'s (qat/quant.h): nothing is re-derived here. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/lower_kit.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/quant.h"

int qat_export_int8_prepare(qat_model *m) {
  if (!m->spec.quantize.enabled || !m->input_fq)
    return qat_fail(QAT_ERR_USAGE,
                    "int8 export needs quantization ranges, and this model was not trained quantization-aware "
                    "(its config has no 'quantize: {mode: qat}' section); fine-tune it with QAT, or calibrate "
                    "it on representative samples (qat export --calibrate N)");
  int64_t per = 1;
  for (int d = 0; d < 3; d++) per *= m->spec.input_shape[d];
  float *x = calloc((size_t)per, sizeof *x);
  if (!x) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  qat_exec ex;
  memset(&ex, 0, sizeof ex);
  ex.fake_quant = 1;
  ex.training = 0;
  ex.freeze_observers = 1;
  ex.freeze_bn = 1;
  qat_model_forward(m, x, 1, &ex);
  free(x);
  for (int i = 0; i < m->n_fq; i++) {
    const qat_fq *fq = m->fq[i];
    if (fq->role == QAT_FQ_ACTIVATION && !fq->valid)
      return qat_fail(QAT_ERR_USAGE,
                      "activation quantizer '%s' has no observed range: the checkpoint was saved before fake "
                      "quant ran (quantize.delay not reached); train longer, or calibrate it on representative "
                      "samples (qat export --calibrate N)",
                      fq->name);
  }
  return QAT_OK;
}

/* ---- the validator ---- */

#define tname lower_tensor_name
#define op_fail(t, k, rule, ...) lower_validate_fail(t, k, "int8", rule, __VA_ARGS__)

static int per_tensor_q(const qat_tflite_tensor *x) { return x->quant.n == 1; }

static int same_params(const qat_tflite_tensor *a, const qat_tflite_tensor *b) {
  return per_tensor_q(a) && per_tensor_q(b) && a->quant.scale[0] == b->quant.scale[0] &&
         a->quant.zero_point[0] == b->quant.zero_point[0];
}

int qat_export_validate_int8(const qat_tflite_model *t) {
  /* every quantized tensor: finite positive scales, zero points in the type's range */
  for (int i = 0; i < t->n_tensors; i++) {
    const qat_tflite_tensor *x = &t->tensors[i];
    int quantized = x->type == QAT_TFLITE_INT8 || x->type == QAT_TFLITE_UINT8 ||
                    (x->type == QAT_TFLITE_INT32 && x->quant.n > 0);
    if (!quantized) continue;
    if (x->quant.n < 1)
      return qat_fail(QAT_ERR_UNSUPPORTED, "int8 validation: tensor '%s': rule 'quantized': %s without scale",
                      tname(t, i), qat_tflite_type_name(x->type));
    int64_t lo = x->type == QAT_TFLITE_UINT8 ? 0 : x->type == QAT_TFLITE_INT8 ? -128 : 0;
    int64_t hi = x->type == QAT_TFLITE_UINT8 ? 255 : x->type == QAT_TFLITE_INT8 ? 127 : 0;
    for (int c = 0; c < x->quant.n; c++) {
      float s = x->quant.scale[c];
      if (!(s > 0.0f) || !isfinite(s))
        return qat_fail(QAT_ERR_UNSUPPORTED, "int8 validation: tensor '%s': rule 'scale': scale[%d] = %g", tname(t, i),
                        c, (double)s);
      int64_t zp = x->quant.zero_point[c];
      if (zp < lo || zp > hi)
        return qat_fail(QAT_ERR_UNSUPPORTED,
                        "int8 validation: tensor '%s': rule 'zero point in range': zero_point[%d] = %lld outside "
                        "[%lld, %lld]",
                        tname(t, i), c, (long long)zp, (long long)lo, (long long)hi);
    }
    if (x->quant.n > 1) {
      int qd = x->quant.quantized_dimension;
      if (qd < 0 || qd >= x->rank || x->dims[qd] != x->quant.n)
        return qat_fail(QAT_ERR_UNSUPPORTED,
                        "int8 validation: tensor '%s': rule 'per-channel count': %d scales along dimension %d",
                        tname(t, i), x->quant.n, qd);
    }
  }
  for (int k = 0; k < t->n_ops; k++) {
    const qat_tflite_operator *op = &t->ops[k];
    const qat_tflite_tensor *in = &t->tensors[op->inputs[0]], *out = &t->tensors[op->outputs[0]];
    switch (op->op) {
    case QAT_TFLITE_OP_CONV_2D:
    case QAT_TFLITE_OP_DEPTHWISE_CONV_2D:
    case QAT_TFLITE_OP_TRANSPOSE_CONV:
    case QAT_TFLITE_OP_FULLY_CONNECTED: {
      /* TRANSPOSE_CONV: output_shape, weights, input, bias */
      const int tc = op->op == QAT_TFLITE_OP_TRANSPOSE_CONV, bj = tc ? 3 : 2;
      if (op->n_inputs <= bj || op->inputs[bj] < 0) return op_fail(t, k, "bias", "no bias input");
      if (tc) in = &t->tensors[op->inputs[2]];
      const qat_tflite_tensor *w = &t->tensors[op->inputs[1]], *b = &t->tensors[op->inputs[bj]];
      if (in->type != QAT_TFLITE_INT8 || out->type != QAT_TFLITE_INT8 || !per_tensor_q(in) || !per_tensor_q(out))
        return op_fail(t, k, "int8 per-tensor activations", "input/output must be int8 with one scale");
      if (w->type != QAT_TFLITE_INT8 || !w->data) return op_fail(t, k, "int8 weights", "weights must be constant int8");
      if (b->type != QAT_TFLITE_INT32 || !b->data) return op_fail(t, k, "int32 bias", "bias must be constant int32");
      int qd = op->op == QAT_TFLITE_OP_DEPTHWISE_CONV_2D ? 3 : 0;
      int rc = lower_validate_weights(t, k, "int8", in->quant.scale[0], w, b, qd);
      if (rc) return rc;
      break;
    }
    case QAT_TFLITE_OP_MAX_POOL_2D:
    case QAT_TFLITE_OP_AVERAGE_POOL_2D:
    case QAT_TFLITE_OP_RESHAPE:
    case QAT_TFLITE_OP_PAD: /* pads with the zero point: the input's grid */
    case QAT_TFLITE_OP_STRIDED_SLICE: /* copies values (Cropping2D) */
    case QAT_TFLITE_OP_RESIZE_BILINEAR:
    case QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR:
    case QAT_TFLITE_OP_REDUCE_MAX: /* a max picks an input: the same range (GlobalMaxPooling2D) */
      if (!same_params(in, out))
        return op_fail(t, k, "shared range", "input '%s' (%g, %lld) and output (%g, %lld) must have the same scale "
                       "and zero point", in->name, in->quant.n ? (double)in->quant.scale[0] : 0.0,
                       in->quant.n ? (long long)in->quant.zero_point[0] : 0LL,
                       out->quant.n ? (double)out->quant.scale[0] : 0.0,
                       out->quant.n ? (long long)out->quant.zero_point[0] : 0LL);
      break;
    case QAT_TFLITE_OP_CONCATENATION: /* the int8 kernel copies bytes: one scale and zero point for all */
    case QAT_TFLITE_OP_MAXIMUM:       /* MAXIMUM and MINIMUM compare the stored integers */
    case QAT_TFLITE_OP_MINIMUM:
      for (int j = 0; j < op->n_inputs; j++) {
        const qat_tflite_tensor *x = &t->tensors[op->inputs[j]];
        if (!same_params(x, out))
          return op_fail(t, k, "shared range", "input '%s' and output must have the same scale and zero point",
                         x->name);
      }
      break;
    case QAT_TFLITE_OP_SOFTMAX:
      if (!per_tensor_q(out) || out->quant.scale[0] != 1.0f / 256.0f || out->quant.zero_point[0] != -128)
        return op_fail(t, k, "softmax fixed range", "output must have scale 1/256 and zero point -128");
      if (!per_tensor_q(in)) return op_fail(t, k, "int8 per-tensor activations", "input must have one scale");
      break;
    case QAT_TFLITE_OP_LOGISTIC:
    case QAT_TFLITE_OP_TANH: {
      const int lg = op->op == QAT_TFLITE_OP_LOGISTIC;
      if (!per_tensor_q(out) || out->quant.scale[0] != (lg ? 1.0f / 256.0f : 1.0f / 128.0f) ||
          out->quant.zero_point[0] != (lg ? -128 : 0))
        return op_fail(t, k, lg ? "logistic fixed range" : "tanh fixed range", "output must have scale %s and zero "
                       "point %s", lg ? "1/256" : "1/128", lg ? "-128" : "0");
      if (!per_tensor_q(in)) return op_fail(t, k, "int8 per-tensor activations", "input must have one scale");
      break;
    }
    case QAT_TFLITE_OP_ADD:
    case QAT_TFLITE_OP_SUB:
    case QAT_TFLITE_OP_MUL:
    case QAT_TFLITE_OP_MEAN:
    case QAT_TFLITE_OP_LEAKY_RELU:
    case QAT_TFLITE_OP_HARD_SWISH:
    case QAT_TFLITE_OP_ELU:
      if (!per_tensor_q(in) || !per_tensor_q(out) ||
          ((op->op == QAT_TFLITE_OP_ADD || op->op == QAT_TFLITE_OP_SUB || op->op == QAT_TFLITE_OP_MUL) && !per_tensor_q(&t->tensors[op->inputs[1]])))
        return op_fail(t, k, "int8 per-tensor activations", "inputs and output must have one scale each");
      break;
    case QAT_TFLITE_OP_PRELU: {
      const qat_tflite_tensor *al = &t->tensors[op->inputs[1]];
      if (!per_tensor_q(in) || !per_tensor_q(out))
        return op_fail(t, k, "int8 per-tensor activations", "input and output must have one scale each");
      if (al->type != QAT_TFLITE_INT8 || !al->data || !per_tensor_q(al) || al->quant.zero_point[0] != 0)
        return op_fail(t, k, "int8 alpha", "alpha must be constant int8 with one scale and zero point 0");
      break;
    }
    case QAT_TFLITE_OP_QUANTIZE:
    case QAT_TFLITE_OP_DEQUANTIZE:
      if ((in->type != QAT_TFLITE_FLOAT32 && !per_tensor_q(in)) || (out->type != QAT_TFLITE_FLOAT32 && !per_tensor_q(out)))
        return op_fail(t, k, "int8 per-tensor activations", "quantized edges must have one scale");
      /* int8 -> int8 is a requantization (a Concatenate's input); uint8 <-> int8 edges keep the scale */
      if (in->type != QAT_TFLITE_FLOAT32 && out->type != QAT_TFLITE_FLOAT32 && in->type != out->type &&
          in->quant.scale[0] != out->quant.scale[0])
        return op_fail(t, k, "edge requantization", "uint8 <-> int8 must keep the scale");
      break;
    case QAT_TFLITE_OP_LESS: /* a threshold: the constant on the input's grid; a BOOL mask */
      if (!same_params(in, &t->tensors[op->inputs[1]]) || out->type != QAT_TFLITE_BOOL)
        return op_fail(t, k, "threshold grid", "the two inputs must share one scale and zero point, the output be BOOL");
      break;
    case QAT_TFLITE_OP_SELECT_V2: /* copies values: x, y and the output on one grid */
      if (in->type != QAT_TFLITE_BOOL || !same_params(&t->tensors[op->inputs[1]], out) ||
          !same_params(&t->tensors[op->inputs[2]], out))
        return op_fail(t, k, "shared range", "a BOOL condition; x, y and output with the same scale and zero point");
      break;
    default: return op_fail(t, k, "int8 ops", "not an op of the int8 export");
    }
  }
  return qat_tflite_validate(t);
}

static int int8_params(const qat_fq *fq, float *scale, int64_t *zp) {
  *scale = fq->scale[0];
  *zp = fq->zero_point[0];
  return QAT_OK;
}

static const lower_qmode mode_int8 = {
    .name = "int8",
    .act = QAT_TFLITE_INT8,
    .softmax_scale = 1.0f / 256.0f,
    .softmax_zp = -128,
    .act_params = int8_params,
    .validate = qat_export_validate_int8,
};

int qat_export_int8(const qat_model *m, qat_export_io io, qat_tflite_model *out) {
  return lower_quantized(m, io, &mode_int8, out);
}

