/* Full-integer int8 lowering: a quantization-aware model onto the TFLite IR (see
 * include/qat/export.h). The graph is the one the QAT model simulates: each int8 op is a chain
 * of layers that qat_model_create fused (m->fused_into: a conv/depthwise/dense/add head, a
 * folded BatchNormalization, a fused ReLU/ReLU6), its output quantized with the fake quant of
 * the chain's last layer (m->layer_fq). Weights are the very float values the weight fake quant
 * rounded (the BN_FOLD_WEIGHTS node's output for a folded conv), quantized with that fake
 * quant's scales; biases go onto the int32 grid s_in * s_w[c]. Pools and reshapes keep their
 * input's parameters, SOFTMAX gets the spec's fixed output range, and QUANTIZE / DEQUANTIZE
 * ops at the edges give uint8 or float32 I/O as the TF converter writes them.
 *
 * The arithmetic is fakequant/'s (qat/quant.h): nothing is re-derived here.
 *
 * The same lowering runs in the 16x8 mode (lower_common.h lower_qmode, lower_int16.c): int16
 * activations with the mode's parameters, INT64 biases, SOFTMAX (1/32768, 0), the general int16
 * ADD; qat_export_int8 is the int8 mode. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/lower_common.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/quant.h"

typedef struct lowering8 {
  const qat_model *m;
  qat_tflite_model *t;
  int n;
  int *tensor; /* TFLite tensor of each layer's output (-1 before it is lowered) */
  int input;   /* the int8 model input (after a QUANTIZE for uint8 / float32 I/O) */
  const lower_qmode *mode; /* int8 or int16x8 (lower_int16.c) */
} lowering8;

static const qat_layer_spec *layer(const lowering8 *L, int li) { return &L->m->spec.layers[li]; }

static int tensor_of(const lowering8 *L, int src) { return src < 0 ? L->input : L->tensor[src]; }

__attribute__((format(printf, 4, 5))) static int layer_fail(const lowering8 *L, int li, int status, const char *fmt,
                                                            ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  const qat_layer_spec *l = layer(L, li);
  const char *src = L->m->spec.source;
  if (src && l->line > 0)
    return qat_fail(status, "%s:%d:%d: layer '%s' (%s): %s", src, l->line, l->column, l->name,
                    qat_layer_type_name(l->type), why);
  return qat_fail(status, "layer '%s' (%s): %s", l->name, qat_layer_type_name(l->type), why);
}

static void out_shape(const lowering8 *L, int li, int *rank, int *dims) {
  const qat_tensor *t = L->m->layer_out[li];
  *rank = t->rank;
  for (int d = 0; d < t->rank; d++) dims[d] = t->dims[d];
  dims[0] = 1;
}

/* An activation tensor of the given type with per-tensor parameters. */
static int act_tensor(lowering8 *L, const char *name, qat_tflite_type type, int rank, const int *dims, float scale,
                      int64_t zp, int *index) {
  int rc = qat_tflite_add_tensor(L->t, name, type, rank, dims, NULL, 0, index);
  if (rc) return rc;
  if (type == QAT_TFLITE_FLOAT32) return QAT_OK;
  return qat_tflite_set_quant(L->t, *index, 1, &scale, &zp, 0);
}

/* The per-tensor parameters of an int8 IR tensor. */
static void params_of(const lowering8 *L, int tensor, float *scale, int64_t *zp) {
  const qat_tflite_tensor *t = &L->t->tensors[tensor];
  *scale = t->quant.n > 0 ? t->quant.scale[0] : 0.0f;
  *zp = t->quant.n > 0 ? t->quant.zero_point[0] : 0;
}

/* The output quantizer of layer li: it must exist and have parameters. */
static int output_fq(const lowering8 *L, int li, const qat_fq **out) {
  const qat_fq *fq = L->m->layer_fq[li];
  if (!fq) return layer_fail(L, li, QAT_ERR_UNSUPPORTED, "has no output quantizer in the QAT model");
  if (!fq->valid)
    return layer_fail(L, li, QAT_ERR_USAGE,
                      "its output quantizer '%s' has no range yet (fake quant never ran on it while training); "
                      "train longer than quantize.delay, or calibrate (post-training calibration is a later "
                      "issue and not implemented yet)",
                      fq->name);
  *out = fq;
  return QAT_OK;
}

/* The activation parameters the mode gives a quantizer's range (int8: the fake quant's own). */
static int act_params(const lowering8 *L, int li, const qat_fq *fq, float *scale, int64_t *zp) {
  int rc = L->mode->act_params(fq, scale, zp);
  if (rc) return layer_fail(L, li, rc, "%s", qat_error_message());
  return QAT_OK;
}

static qat_tflite_activation fused_of(const qat_fq *fq) {
  if (fq->act == QAT_ACTIVATION_RELU) return QAT_TFLITE_ACT_RELU;
  if (fq->act == QAT_ACTIVATION_RELU6) return QAT_TFLITE_ACT_RELU6;
  return QAT_TFLITE_ACT_NONE;
}

/* The last layer of the int8 op that layer `head` starts (itself when nothing is fused). */
static int chain_end(const lowering8 *L, int head) {
  int end = head;
  for (int j = head + 1; j < L->n; j++)
    if (L->m->fused_into[j] == head) end = j;
  return end;
}

/* The float weights the weight fake quant of a folded conv saw: the BN_FOLD_WEIGHTS output. */
static const float *folded_weights(const qat_model *m, const qat_param *k) {
  for (int i = 0; i < m->graph.n_nodes; i++) {
    const qat_node *nd = &m->graph.nodes[i];
    if (nd->op == QAT_OP_BN_FOLD_WEIGHTS && nd->n_inputs >= 1 && nd->inputs[0] == k->tensor)
      return nd->output->data;
  }
  return NULL;
}

/* SOFTMAX with the spec's fixed output range (int8: 1/256, -128; int16: 1/32768, 0), named
 * after layer li. */
static int lower_softmax(lowering8 *L, int li, int in, int *out) {
  int rank, dims[QAT_MAX_RANK];
  out_shape(L, li, &rank, dims);
  int rc = act_tensor(L, layer(L, li)->name, L->mode->act, rank, dims, L->mode->softmax_scale,
                      L->mode->softmax_zp, out);
  if (rc) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_SOFTMAX);
  op.opt.beta = 1.0f;
  return lower_add_op(L->t, &op, 1, &in, *out);
}

static int lower_weighted(lowering8 *L, int li) {
  const qat_model *m = L->m;
  const qat_layer_spec *l = layer(L, li);
  int dw = l->type == QAT_LAYER_DEPTHWISE_CONV2D, dense = l->type == QAT_LAYER_DENSE;
  const char *ksuffix = dw ? "depthwise_kernel" : "kernel";
  const qat_param *k = lower_find_param(L->m, li, ksuffix);
  char name[2 * QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/%s", l->name, ksuffix);
  const qat_fq *wfq = qat_model_find_fq(m, name);
  if (!k || !wfq) return layer_fail(L, li, QAT_ERR_INTERNAL, "its weights or their quantizer are missing");
  if (!wfq->valid) return layer_fail(L, li, QAT_ERR_INTERNAL, "its weight quantizer has no scales (run a forward first)");
  int channels = dw ? k->dims[3] : k->dims[0];
  int fold = m->fold_bn[li];
  int end = chain_end(L, li);
  const qat_fq *ofq = NULL;
  int rc = output_fq(L, end, &ofq);
  if (rc) return rc;
  int in_t = tensor_of(L, qat_layer_input(&L->m->spec, li, 0));
  float s_in;
  int64_t zp_in;
  params_of(L, in_t, &s_in, &zp_in);

  const float *w = k->tensor->data;
  if (fold >= 0 && !(w = folded_weights(m, k)))
    return layer_fail(L, li, QAT_ERR_INTERNAL, "the folded weights of batch norm '%s' are not in the graph",
                      layer(L, fold)->name);
  int8_t *qw = malloc((size_t)k->size);
  float *bias = calloc((size_t)channels, sizeof *bias);
  float *scratch = NULL;
  /* int32 bias (int8), int64 (16x8) */
  const int bias64 = L->mode->act == QAT_TFLITE_INT16;
  void *qb = malloc((size_t)channels * (bias64 ? sizeof(int64_t) : sizeof(int32_t)));
  float *bscale = malloc((size_t)channels * sizeof *bscale);
  int64_t *zeros = calloc((size_t)channels, sizeof *zeros);
  if (!qw || !bias || !qb || !bscale || !zeros) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering layer '%s'", l->name);
    goto free_all;
  }
  /* weights: exactly what the fake quant rounded */
  int64_t shape[QAT_MAX_RANK], outer, ch, inner;
  for (int d = 0; d < k->rank; d++) shape[d] = k->dims[d];
  if ((rc = qat_quant_axis_split(shape, k->rank, wfq->channels > 1 ? wfq->axis : -1, &outer, &ch, &inner))) goto free_all;
  if (ch != wfq->channels) {
    rc = layer_fail(L, li, QAT_ERR_INTERNAL, "weight quantizer has %d scales for %lld channels", wfq->channels,
                    (long long)ch);
    goto free_all;
  }
  qat_quantize_int8_per_channel(w, qw, outer, ch, inner, wfq->scale, NULL, QAT_INT8_WEIGHT_MIN, QAT_INT8_MAX);

  /* bias: the folded one (beta - gamma * mean / sigma; the conv's own bias was absorbed into the
   * moving mean) or the layer's own */
  if (fold >= 0) {
    const qat_param *gamma = lower_find_param(L->m, fold, "gamma"), *beta = lower_find_param(L->m, fold, "beta"),
                    *mean = lower_find_param(L->m, fold, "moving_mean"), *var = lower_find_param(L->m, fold, "moving_variance");
    if (!gamma || !beta || !mean || !var || gamma->size != channels) {
      rc = layer_fail(L, fold, QAT_ERR_INTERNAL, "its statistics are missing or do not match '%s'", l->name);
      goto free_all;
    }
    if (!(scratch = malloc((size_t)k->size * sizeof *scratch))) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering layer '%s'", l->name);
      goto free_all;
    }
    rc = qat_fold_batch_norm(k->tensor->data, NULL, k->size, channels, dw ? QAT_FOLD_CHANNEL_LAST : QAT_FOLD_CHANNEL_FIRST,
                             gamma->tensor->data, beta->tensor->data, mean->tensor->data, var->tensor->data,
                             layer(L, fold)->epsilon, scratch, bias);
    if (rc) {
      layer_fail(L, fold, rc, "cannot be folded into '%s': %s", l->name, qat_error_message());
      goto free_all;
    }
  } else if (l->use_bias) {
    const qat_param *b = lower_find_param(L->m, li, "bias");
    if (!b || b->size != channels) {
      rc = layer_fail(L, li, QAT_ERR_INTERNAL, "its bias is missing");
      goto free_all;
    }
    memcpy(bias, b->tensor->data, (size_t)channels * sizeof *bias);
  }
  int n_scales = wfq->channels;
  rc = bias64 ? qat_quantize_bias_int64(bias, channels, s_in, wfq->scale, n_scales, qb, bscale)
              : qat_quantize_bias_int32(bias, channels, s_in, wfq->scale, n_scales, qb, bscale);
  if (rc) {
    layer_fail(L, li, rc, "bias: %s", qat_error_message());
    goto free_all;
  }
  if (n_scales == 1)
    for (int c = 1; c < channels; c++) bscale[c] = bscale[0];
  int nb_scales = n_scales == 1 ? 1 : channels;

  int wi, bi, out, rank, dims[QAT_MAX_RANK];
  snprintf(name, sizeof name, "%s/%s%s", l->name, ksuffix, fold >= 0 ? "_folded" : "");
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT8, k->rank, k->dims, qw, (size_t)k->size, &wi))) goto free_all;
  if ((rc = qat_tflite_set_quant(L->t, wi, n_scales, wfq->scale, zeros, n_scales > 1 ? (dw ? 3 : 0) : 0))) goto free_all;
  snprintf(name, sizeof name, "%s/bias%s", l->name, fold >= 0 ? "_folded" : "");
  if ((rc = qat_tflite_add_tensor(L->t, name, bias64 ? QAT_TFLITE_INT64 : QAT_TFLITE_INT32, 1, &channels, qb,
                                  (size_t)channels * (bias64 ? sizeof(int64_t) : sizeof(int32_t)), &bi)))
    goto free_all;
  if ((rc = qat_tflite_set_quant(L->t, bi, nb_scales, bscale, zeros, 0))) goto free_all;

  int softmax_after = l->activation == QAT_ACTIVATION_SOFTMAX;
  out_shape(L, end, &rank, dims);
  snprintf(name, sizeof name, "%s%s", layer(L, end)->name, softmax_after ? "/linear" : "");
  float s_out;
  int64_t zp_out;
  if ((rc = act_params(L, end, ofq, &s_out, &zp_out))) goto free_all;
  if ((rc = act_tensor(L, name, L->mode->act, rank, dims, s_out, zp_out, &out))) goto free_all;

  qat_tflite_operator op;
  qat_tflite_op_init(&op, dw ? QAT_TFLITE_OP_DEPTHWISE_CONV_2D : dense ? QAT_TFLITE_OP_FULLY_CONNECTED : QAT_TFLITE_OP_CONV_2D);
  op.opt.activation = fused_of(ofq);
  if (!dense) {
    op.opt.padding = lower_padding(l);
    op.opt.stride_h = l->strides[0];
    op.opt.stride_w = l->strides[1];
    op.opt.depth_multiplier = dw ? l->depth_multiplier : 1;
  }
  int in[3] = {in_t, wi, bi};
  if ((rc = lower_add_op(L->t, &op, 3, in, out))) goto free_all;
  if (softmax_after && (rc = lower_softmax(L, li, out, &out))) goto free_all;
  for (int j = li; j <= end; j++)
    if (j == li || m->fused_into[j] == li) L->tensor[j] = out;
free_all:
  free(qw);
  free(bias);
  free(scratch);
  free(qb);
  free(bscale);
  free(zeros);
  return rc;
}

/* Pools keep their input's parameters (the spec requires it). */
static int lower_pool(lowering8 *L, int li) {
  const qat_layer_spec *l = layer(L, li);
  int in = tensor_of(L, qat_layer_input(&L->m->spec, li, 0)), rank, dims[QAT_MAX_RANK], out;
  float s;
  int64_t zp;
  params_of(L, in, &s, &zp);
  out_shape(L, li, &rank, dims);
  int rc = act_tensor(L, l->name, L->mode->act, rank, dims, s, zp, &out);
  if (rc) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, l->type == QAT_LAYER_MAX_POOL2D ? QAT_TFLITE_OP_MAX_POOL_2D : QAT_TFLITE_OP_AVERAGE_POOL_2D);
  op.opt.padding = lower_padding(l);
  op.opt.stride_h = l->strides[0];
  op.opt.stride_w = l->strides[1];
  op.opt.filter_h = l->pool_size[0];
  op.opt.filter_w = l->pool_size[1];
  if ((rc = lower_add_op(L->t, &op, 1, &in, out))) return rc;
  L->tensor[li] = out;
  return QAT_OK;
}

/* GlobalAveragePooling2D: MEAN over H and W with its own output parameters. */
static int lower_global_pool(lowering8 *L, int li) {
  const qat_layer_spec *l = layer(L, li);
  const qat_fq *ofq = NULL;
  int rc = output_fq(L, li, &ofq);
  if (rc) return rc;
  static const int32_t axes[2] = {1, 2};
  char name[QAT_NAME_MAX + 32];
  int two = 2, ai, out, rank, dims[QAT_MAX_RANK];
  snprintf(name, sizeof name, "%s/axes", l->name);
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &two, axes, sizeof axes, &ai))) return rc;
  out_shape(L, li, &rank, dims);
  float s_out;
  int64_t zp_out;
  if ((rc = act_params(L, li, ofq, &s_out, &zp_out))) return rc;
  if ((rc = act_tensor(L, l->name, L->mode->act, rank, dims, s_out, zp_out, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_MEAN);
  op.opt.keep_dims = 0;
  int in[2] = {tensor_of(L, qat_layer_input(&L->m->spec, li, 0)), ai};
  if ((rc = lower_add_op(L->t, &op, 2, in, out))) return rc;
  L->tensor[li] = out;
  return QAT_OK;
}

static int lower_reshape(lowering8 *L, int li) {
  const qat_layer_spec *l = layer(L, li);
  int in = tensor_of(L, qat_layer_input(&L->m->spec, li, 0)), rank, dims[QAT_MAX_RANK], out, si;
  float s;
  int64_t zp;
  params_of(L, in, &s, &zp);
  out_shape(L, li, &rank, dims);
  int32_t shape[QAT_MAX_RANK];
  shape[0] = -1;
  for (int d = 1; d < rank; d++) shape[d] = dims[d];
  char name[QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/shape", l->name);
  int rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &rank, shape, (size_t)rank * sizeof *shape, &si);
  if (rc) return rc;
  if ((rc = act_tensor(L, l->name, L->mode->act, rank, dims, s, zp, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_RESHAPE);
  int ins[2] = {in, si};
  if ((rc = lower_add_op(L->t, &op, 2, ins, out))) return rc;
  L->tensor[li] = out;
  return QAT_OK;
}

static int lower_add(lowering8 *L, int li) {
  int nin = qat_layer_n_inputs(&L->m->spec, li);
  if (nin != 2)
    return layer_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "%s export supports Add of exactly 2 inputs (got %d): the QAT model quantizes only the "
                      "final sum, so the partial sums of a chain have no range",
                      L->mode->name, nin);
  int end = chain_end(L, li);
  const qat_fq *ofq = NULL;
  int rc = output_fq(L, end, &ofq);
  if (rc) return rc;
  int rank, dims[QAT_MAX_RANK], out;
  out_shape(L, li, &rank, dims);
  float s_out;
  int64_t zp_out;
  if ((rc = act_params(L, end, ofq, &s_out, &zp_out))) return rc;
  if ((rc = act_tensor(L, layer(L, end)->name, L->mode->act, rank, dims, s_out, zp_out, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_ADD);
  op.opt.activation = fused_of(ofq);
  /* int16: the general-scale kernel (the power-of-two one is for LSTM cells) */
  op.opt.pot_scale_int16 = L->mode->act != QAT_TFLITE_INT16;
  int in[2] = {tensor_of(L, qat_layer_input(&L->m->spec, li, 0)), tensor_of(L, qat_layer_input(&L->m->spec, li, 1))};
  if ((rc = lower_add_op(L->t, &op, 2, in, out))) return rc;
  for (int j = li; j <= end; j++)
    if (j == li || L->m->fused_into[j] == li) L->tensor[j] = out;
  return QAT_OK;
}

static int is_identity(const qat_layer_spec *l) {
  return l->type == QAT_LAYER_DROPOUT || (l->type == QAT_LAYER_ACTIVATION && l->activation == QAT_ACTIVATION_LINEAR);
}

static int lower_layer(lowering8 *L, int li) {
  const qat_layer_spec *l = layer(L, li);
  if (L->m->fused_into[li] != li) {
    if (L->tensor[li] < 0)
      return layer_fail(L, li, QAT_ERR_INTERNAL, "fused into '%s', which produced no tensor",
                        layer(L, L->m->fused_into[li])->name);
    return QAT_OK;
  }
  if (is_identity(l)) {
    L->tensor[li] = tensor_of(L, qat_layer_input(&L->m->spec, li, 0));
    return QAT_OK;
  }
  switch (l->type) {
  case QAT_LAYER_CONV2D:
  case QAT_LAYER_DEPTHWISE_CONV2D:
  case QAT_LAYER_DENSE: return lower_weighted(L, li);
  case QAT_LAYER_MAX_POOL2D:
  case QAT_LAYER_AVG_POOL2D: return lower_pool(L, li);
  case QAT_LAYER_GLOBAL_AVG_POOL2D: return lower_global_pool(L, li);
  case QAT_LAYER_FLATTEN:
  case QAT_LAYER_RESHAPE: return lower_reshape(L, li);
  case QAT_LAYER_ADD: return lower_add(L, li);
  case QAT_LAYER_ACTIVATION:
    if (l->activation == QAT_ACTIVATION_SOFTMAX) {
      int out, rc = lower_softmax(L, li, tensor_of(L, qat_layer_input(&L->m->spec, li, 0)), &out);
      if (!rc) L->tensor[li] = out;
      return rc;
    }
    return layer_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "%s export fuses ReLU/ReLU6 into the Conv2D, DepthwiseConv2D, Dense or Add directly before "
                      "it; this one has no such producer (or that producer's output has other readers)",
                      L->mode->name);
  case QAT_LAYER_RELU:
    return layer_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "%s export fuses ReLU/ReLU6 into the Conv2D, DepthwiseConv2D, Dense or Add directly before "
                      "it; this one has no such producer (or that producer's output has other readers)",
                      L->mode->name);
  case QAT_LAYER_BATCH_NORM:
    return layer_fail(L, li, QAT_ERR_UNSUPPORTED, "%s export needs batch normalization folded into a conv",
                      L->mode->name);
  case QAT_LAYER_DROPOUT:
  case QAT_LAYER_TYPE_COUNT: break;
  }
  return layer_fail(L, li, QAT_ERR_UNSUPPORTED, "no %s TFLite lowering for this layer type", L->mode->name);
}

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

static const char *tname(const qat_tflite_model *t, int i) {
  return i >= 0 && i < t->n_tensors && t->tensors[i].name ? t->tensors[i].name : "?";
}

__attribute__((format(printf, 4, 5))) static int op_fail(const qat_tflite_model *t, int k, const char *rule,
                                                         const char *fmt, ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  const qat_tflite_operator *op = &t->ops[k];
  return qat_fail(QAT_ERR_UNSUPPORTED, "int8 validation: layer '%s' (op %d, %s): rule '%s': %s",
                  tname(t, op->outputs[0]), k, qat_tflite_op_name(op->op), rule, why);
}

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
    case QAT_TFLITE_OP_FULLY_CONNECTED: {
      if (op->n_inputs < 3 || op->inputs[2] < 0) return op_fail(t, k, "bias", "no bias input");
      const qat_tflite_tensor *w = &t->tensors[op->inputs[1]], *b = &t->tensors[op->inputs[2]];
      if (in->type != QAT_TFLITE_INT8 || out->type != QAT_TFLITE_INT8 || !per_tensor_q(in) || !per_tensor_q(out))
        return op_fail(t, k, "int8 per-tensor activations", "input/output must be int8 with one scale");
      if (w->type != QAT_TFLITE_INT8 || !w->data) return op_fail(t, k, "int8 weights", "weights must be constant int8");
      if (b->type != QAT_TFLITE_INT32 || !b->data) return op_fail(t, k, "int32 bias", "bias must be constant int32");
      int qd = op->op == QAT_TFLITE_OP_DEPTHWISE_CONV_2D ? 3 : 0;
      int ch = w->dims[qd];
      if (w->quant.n != 1 && (w->quant.n != ch || w->quant.quantized_dimension != qd))
        return op_fail(t, k, "per-channel count", "weights '%s' have %d scales along %d, expected 1 or %d along %d",
                       w->name, w->quant.n, w->quant.quantized_dimension, ch, qd);
      for (int c = 0; c < w->quant.n; c++)
        if (w->quant.zero_point[c] != 0)
          return op_fail(t, k, "symmetric weights", "weights '%s' zero_point[%d] = %lld", w->name, c,
                         (long long)w->quant.zero_point[c]);
      const int8_t *qw = w->data;
      for (size_t i = 0; i < w->data_bytes; i++)
        if (qw[i] == -128) return op_fail(t, k, "narrow-range weights", "weights '%s' use -128 at %zu", w->name, i);
      if (b->rank != 1 || b->dims[0] != ch || b->quant.n != w->quant.n)
        return op_fail(t, k, "per-channel count", "bias '%s' has %d scales for %d weight scales", b->name, b->quant.n,
                       w->quant.n);
      for (int c = 0; c < b->quant.n; c++) {
        double want = (double)(in->quant.scale[0] * w->quant.scale[c]), got = b->quant.scale[c];
        if (fabs(got - want) > 1e-6 * fabs(want))
          return op_fail(t, k, "bias scale = s_in * s_w", "bias '%s' scale[%d] = %.9g, s_in * s_w = %.9g", b->name, c,
                         got, want);
        if (b->quant.zero_point[c] != 0)
          return op_fail(t, k, "bias zero point 0", "bias '%s' zero_point[%d] = %lld", b->name, c,
                         (long long)b->quant.zero_point[c]);
      }
      break;
    }
    case QAT_TFLITE_OP_MAX_POOL_2D:
    case QAT_TFLITE_OP_AVERAGE_POOL_2D:
    case QAT_TFLITE_OP_RESHAPE:
      if (!same_params(in, out))
        return op_fail(t, k, "shared range", "input '%s' (%g, %lld) and output (%g, %lld) must have the same scale "
                       "and zero point", in->name, in->quant.n ? (double)in->quant.scale[0] : 0.0,
                       in->quant.n ? (long long)in->quant.zero_point[0] : 0LL,
                       out->quant.n ? (double)out->quant.scale[0] : 0.0,
                       out->quant.n ? (long long)out->quant.zero_point[0] : 0LL);
      break;
    case QAT_TFLITE_OP_SOFTMAX:
      if (!per_tensor_q(out) || out->quant.scale[0] != 1.0f / 256.0f || out->quant.zero_point[0] != -128)
        return op_fail(t, k, "softmax fixed range", "output must have scale 1/256 and zero point -128");
      if (!per_tensor_q(in)) return op_fail(t, k, "int8 per-tensor activations", "input must have one scale");
      break;
    case QAT_TFLITE_OP_ADD:
    case QAT_TFLITE_OP_MEAN:
      if (!per_tensor_q(in) || !per_tensor_q(out) ||
          (op->op == QAT_TFLITE_OP_ADD && !per_tensor_q(&t->tensors[op->inputs[1]])))
        return op_fail(t, k, "int8 per-tensor activations", "inputs and output must have one scale each");
      break;
    case QAT_TFLITE_OP_QUANTIZE:
    case QAT_TFLITE_OP_DEQUANTIZE:
      if ((in->type != QAT_TFLITE_FLOAT32 && !per_tensor_q(in)) || (out->type != QAT_TFLITE_FLOAT32 && !per_tensor_q(out)))
        return op_fail(t, k, "int8 per-tensor activations", "quantized edges must have one scale");
      if (in->type != QAT_TFLITE_FLOAT32 && out->type != QAT_TFLITE_FLOAT32 &&
          in->quant.scale[0] != out->quant.scale[0])
        return op_fail(t, k, "edge requantization", "uint8 <-> int8 must keep the scale");
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

int lower_quantized(const qat_model *m, qat_export_io io, const lower_qmode *mode, qat_tflite_model *out) {
  qat_tflite_model_init(out);
  if (!m->spec.quantize.enabled || !m->input_fq || !m->layer_fq || !m->fused_into)
    return qat_fail(QAT_ERR_USAGE,
                    "int8 export needs quantization ranges, and this model was not trained quantization-aware "
                    "(its config has no 'quantize: {mode: qat}' section); fine-tune it with QAT, or calibrate "
                    "it on representative samples (qat export --calibrate N)");
  const int q16 = mode->act == QAT_TFLITE_INT16;
  /* the native edge type (int8 or int16), uint8 (int8 only) or float32 */
  const qat_export_io native_io = q16 ? QAT_EXPORT_IO_INT16 : QAT_EXPORT_IO_INT8;
  if (io != native_io && io != QAT_EXPORT_IO_FLOAT32 && (q16 || io != QAT_EXPORT_IO_UINT8))
    return qat_fail(QAT_ERR_USAGE, "%s export cannot have I/O type %d (%s)", mode->name, (int)io,
                    q16 ? "int16 or float32" : "int8, uint8 or float32");
  if (!m->input_fq->valid)
    return qat_fail(QAT_ERR_USAGE, "the input quantizer has no range yet: train with fake quant on, or calibrate "
                                   "(qat export --calibrate N)");
  lowering8 L;
  memset(&L, 0, sizeof L);
  L.m = m;
  L.t = out;
  L.mode = mode;
  L.n = m->spec.n_layers;
  if (L.n < 1) return qat_fail(QAT_ERR_USAGE, "the model has no layers");
  int rc = QAT_OK;
  L.tensor = malloc((size_t)L.n * sizeof *L.tensor);
  if (!L.tensor) return qat_fail(QAT_ERR_NOMEM, "out of memory lowering the model");
  for (int li = 0; li < L.n; li++) L.tensor[li] = -1;

  const int *hwc = m->spec.input_shape;
  int in_dims[4] = {1, hwc[0], hwc[1], hwc[2]};
  float s_in;
  int64_t zp_in;
  if ((rc = mode->act_params(m->input_fq, &s_in, &zp_in))) {
    qat_fail_prefix(rc, "the input quantizer: ");
    goto done;
  }
  char q_in_name[32];
  snprintf(q_in_name, sizeof q_in_name, "input/%s", q16 ? "int16" : "int8");
  if (io == native_io) {
    if ((rc = act_tensor(&L, "input", mode->act, 4, in_dims, s_in, zp_in, &L.input))) goto done;
    if ((rc = qat_tflite_add_input(out, L.input, "input"))) goto done;
  } else {
    int edge;
    int u8 = io == QAT_EXPORT_IO_UINT8;
    if ((rc = act_tensor(&L, "input", u8 ? QAT_TFLITE_UINT8 : QAT_TFLITE_FLOAT32, 4, in_dims, s_in, zp_in + 128, &edge)))
      goto done;
    if ((rc = qat_tflite_add_input(out, edge, "input"))) goto done;
    if ((rc = act_tensor(&L, q_in_name, mode->act, 4, in_dims, s_in, zp_in, &L.input))) goto done;
    qat_tflite_operator op;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_QUANTIZE);
    if ((rc = lower_add_op(L.t, &op, 1, &edge, L.input))) goto done;
  }
  for (int li = 0; li < L.n; li++)
    if ((rc = lower_layer(&L, li))) goto done;
  int last = L.n - 1, result = tensor_of(&L, last);
  const char *out_name = m->spec.layers[last].name;
  if (result == L.input) {
    rc = qat_fail(QAT_ERR_UNSUPPORTED, "the model computes nothing: its output is its input");
    goto done;
  }
  if (io != native_io) {
    /* the int8 result gets a "/int8" name (int16: "/int16"); the edge tensor takes the layer's name */
    qat_tflite_tensor *r = &out->tensors[result];
    char name[QAT_NAME_MAX + 32];
    snprintf(name, sizeof name, "%s/%s", out_name, q16 ? "int16" : "int8");
    char *nn = strdup(name);
    if (!nn) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
      goto done;
    }
    free(r->name);
    r->name = nn;
    float s;
    int64_t zp;
    params_of(&L, result, &s, &zp);
    int u8 = io == QAT_EXPORT_IO_UINT8, edge, rank = r->rank, dims[QAT_TFLITE_MAX_RANK];
    memcpy(dims, r->dims, sizeof dims);
    if ((rc = act_tensor(&L, out_name, u8 ? QAT_TFLITE_UINT8 : QAT_TFLITE_FLOAT32, rank, dims, s, zp + 128, &edge)))
      goto done;
    qat_tflite_operator op;
    qat_tflite_op_init(&op, u8 ? QAT_TFLITE_OP_QUANTIZE : QAT_TFLITE_OP_DEQUANTIZE);
    if ((rc = lower_add_op(L.t, &op, 1, &result, edge))) goto done;
    result = edge;
  }
  if ((rc = qat_tflite_add_output(out, result, out_name))) goto done;
  rc = mode->validate(out);
done:
  free(L.tensor);
  if (rc) qat_tflite_model_free(out);
  return rc;
}
