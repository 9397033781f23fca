/* Float32 lowering: the model's layer DAG onto the TFLite IR (see include/qat/export.h).
 *
 * The walk is over layers in spec order (inputs always come earlier). Before it, two static
 * facts are computed per layer:
 *   root     the layer whose tensor this layer's output really is: Dropout and a linear
 *            Activation are identities at inference, so they take their input's root;
 *   uses     for a root, how many layer inputs (of non-identity layers) read it, plus one when
 *            it is the model's output; with `consumer`, the one reader when there is exactly
 *            one.
 * A conv/depthwise/dense then absorbs its single consumer when that is a BatchNormalization
 * (folded into the weights) and, after it, a ReLU (fused activation) -- the fusions the TF
 * converter makes, and only when no other layer can see the intermediate value. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/lower_common.h"
#include "qat/error.h"
#include "qat/export.h"

typedef struct lowering {
  const qat_model *m;
  qat_tflite_model *t;
  int n;
  int *root;     /* -1: the model input */
  int *uses;
  int *consumer; /* the single non-identity reader of a root, -1 if none or several */
  int *tensor;   /* TFLite tensor of each layer's output (-1 before it is lowered) */
  int *absorbed; /* lowered as part of an earlier layer's operator */
  int input;     /* TFLite tensor of the model input */
} lowering;

static const qat_layer_spec *layer(const lowering *L, int li) { return &L->m->spec.layers[li]; }

static int is_identity(const qat_layer_spec *l) {
  return l->type == QAT_LAYER_DROPOUT || (l->type == QAT_LAYER_ACTIVATION && l->activation == QAT_ACTIVATION_LINEAR);
}

static int root_of(const lowering *L, int src) { return src < 0 ? -1 : L->root[src]; }

static int tensor_of(const lowering *L, int src) { return src < 0 ? L->input : L->tensor[src]; }

/* The activation a standalone ReLU / Activation layer applies, or -1 if it is not one. */
static int relu_kind(const qat_layer_spec *l) {
  if (l->type == QAT_LAYER_RELU) return l->max_value == 6.0f ? QAT_TFLITE_ACT_RELU6 : QAT_TFLITE_ACT_RELU;
  if (l->type == QAT_LAYER_ACTIVATION) {
    if (l->activation == QAT_ACTIVATION_RELU) return QAT_TFLITE_ACT_RELU;
    if (l->activation == QAT_ACTIVATION_RELU6) return QAT_TFLITE_ACT_RELU6;
  }
  return -1;
}

static int fused_activation(qat_activation a) {
  switch (a) {
  case QAT_ACTIVATION_RELU: return QAT_TFLITE_ACT_RELU;
  case QAT_ACTIVATION_RELU6: return QAT_TFLITE_ACT_RELU6;
  default: return QAT_TFLITE_ACT_NONE; /* linear; softmax becomes its own op */
  }
}

static const char *activation_name(qat_activation a) {
  switch (a) {
  case QAT_ACTIVATION_RELU: return "relu";
  case QAT_ACTIVATION_RELU6: return "relu6";
  case QAT_ACTIVATION_SOFTMAX: return "softmax";
  default: return "linear";
  }
}

/* An error about layer li: "layer 'name' (Type): why". */
__attribute__((format(printf, 4, 5))) static int layer_fail(const lowering *L, int li, int status, const char *fmt,
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

static int analyze(lowering *L) {
  for (int li = 0; li < L->n; li++) {
    L->uses[li] = 0;
    L->consumer[li] = -1;
    L->tensor[li] = -1;
    L->absorbed[li] = 0;
    int nin = qat_layer_n_inputs(&L->m->spec, li);
    if (nin < 1 || nin > QAT_MAX_LAYER_INPUTS) return layer_fail(L, li, QAT_ERR_INTERNAL, "has %d inputs", nin);
    for (int k = 0; k < nin; k++) {
      int src = qat_layer_input(&L->m->spec, li, k);
      if (src < -1 || src >= li)
        return layer_fail(L, li, QAT_ERR_INTERNAL, "input %d refers to layer %d, not an earlier one", k, src);
    }
    L->root[li] = is_identity(layer(L, li)) ? root_of(L, qat_layer_input(&L->m->spec, li, 0)) : li;
  }
  for (int li = 0; li < L->n; li++) {
    if (is_identity(layer(L, li))) continue;
    for (int k = 0; k < qat_layer_n_inputs(&L->m->spec, li); k++) {
      int r = root_of(L, qat_layer_input(&L->m->spec, li, k));
      if (r < 0) continue;
      L->consumer[r] = L->uses[r] == 0 ? li : -1;
      L->uses[r]++;
    }
  }
  int out = L->root[L->n - 1];
  if (out >= 0) {
    L->uses[out]++; /* the model output is a reader too */
    L->consumer[out] = -1;
  }
  return QAT_OK;
}

/* The single consumer of root r if it is the only reader, else -1. */
static int sole_consumer(const lowering *L, int r) { return r >= 0 && L->uses[r] == 1 ? L->consumer[r] : -1; }

/* Output shape of layer li with batch 1. */
static void out_shape(const lowering *L, int li, int *rank, int *dims) {
  const qat_tensor *t = L->m->layer_out[li];
  *rank = t->rank;
  for (int d = 0; d < t->rank; d++) dims[d] = t->dims[d];
  dims[0] = 1;
}

static int activation_tensor(lowering *L, const char *name, int rank, const int *dims, int *index) {
  return qat_tflite_add_tensor(L->t, name, QAT_TFLITE_FLOAT32, rank, dims, NULL, 0, index);
}

/* SOFTMAX (beta 1) on tensor `in`, the output named after layer li. */
static int lower_softmax(lowering *L, int li, int in, int *out) {
  int rank, dims[QAT_MAX_RANK];
  out_shape(L, li, &rank, dims);
  int rc = activation_tensor(L, layer(L, li)->name, rank, dims, out);
  if (rc) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_SOFTMAX);
  op.opt.beta = 1.0f;
  return lower_add_op(L->t, &op, 1, &in, *out);
}

/* Conv2D, DepthwiseConv2D, Dense, with a folded BatchNormalization and a fused ReLU after them
 * where the graph allows. */
static int lower_weighted(lowering *L, int li) {
  const qat_layer_spec *l = layer(L, li);
  int dw = l->type == QAT_LAYER_DEPTHWISE_CONV2D, dense = l->type == QAT_LAYER_DENSE;
  const qat_param *k = lower_find_param(L->m, li, dw ? "depthwise_kernel" : "kernel");
  const qat_param *b = l->use_bias ? lower_find_param(L->m, li, "bias") : NULL;
  if (!k || (l->use_bias && !b)) return layer_fail(L, li, QAT_ERR_INTERNAL, "its weights are missing from the model");
  int channels = dw ? k->dims[3] : k->dims[0];
  int rc = QAT_OK;
  float *w = malloc((size_t)k->size * sizeof *w);
  float *bias = calloc((size_t)channels, sizeof *bias);
  if (!w || !bias) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering layer '%s'", l->name);
    goto free_weights;
  }
  memcpy(w, k->tensor->data, (size_t)k->size * sizeof *w);
  if (b) memcpy(bias, b->tensor->data, (size_t)channels * sizeof *bias);

  int act = fused_activation(l->activation);
  int softmax_after = l->activation == QAT_ACTIVATION_SOFTMAX;
  /* The layers this operator stands for: li, then a folded batch norm, then a fused ReLU
   * (absorbed_bn / absorbed_relu, -1 when none). end is the last of them. */
  int end = li, absorbed_bn = -1, absorbed_relu = -1;
  int c = sole_consumer(L, li);
  if (c >= 0 && layer(L, c)->type == QAT_LAYER_BATCH_NORM && l->activation == QAT_ACTIVATION_LINEAR) {
    const qat_param *gamma = lower_find_param(L->m, c, "gamma"), *beta = lower_find_param(L->m, c, "beta"),
                    *mean = lower_find_param(L->m, c, "moving_mean"), *var = lower_find_param(L->m, c, "moving_variance");
    if (!gamma || !beta || !mean || !var || gamma->size != channels) {
      rc = layer_fail(L, c, QAT_ERR_INTERNAL, "its statistics are missing or do not match '%s'", l->name);
      goto free_weights;
    }
    rc = qat_fold_batch_norm(w, bias, k->size, channels, dw ? QAT_FOLD_CHANNEL_LAST : QAT_FOLD_CHANNEL_FIRST,
                             gamma->tensor->data, beta->tensor->data, mean->tensor->data, var->tensor->data,
                             layer(L, c)->epsilon, w, bias);
    if (rc) {
      layer_fail(L, c, rc, "cannot be folded into '%s': %s", l->name, qat_error_message());
      goto free_weights;
    }
    L->absorbed[c] = 1;
    end = absorbed_bn = c;
  }
  if (act == QAT_TFLITE_ACT_NONE && !softmax_after) {
    int r = sole_consumer(L, end);
    if (r >= 0 && relu_kind(layer(L, r)) >= 0) {
      act = relu_kind(layer(L, r));
      L->absorbed[r] = 1;
      end = absorbed_relu = r;
    }
  }

  /* Constants: weights exactly in qat's layout (OHWI, [1,KH,KW,C*M], [out,in]: TFLite's), bias. */
  char name[2 * QAT_NAME_MAX + 32];
  int wi, bi, out, rank, dims[QAT_MAX_RANK];
  int folded = absorbed_bn >= 0;
  snprintf(name, sizeof name, "%s/%s%s", l->name, dw ? "depthwise_kernel" : "kernel", folded ? "_folded" : "");
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_FLOAT32, k->rank, k->dims, w, (size_t)k->size * sizeof *w,
                                  &wi)))
    goto free_weights;
  snprintf(name, sizeof name, "%s/bias%s", l->name, folded ? "_folded" : "");
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_FLOAT32, 1, &channels, bias,
                                  (size_t)channels * sizeof *bias, &bi)))
    goto free_weights;
  out_shape(L, end, &rank, dims);
  snprintf(name, sizeof name, "%s%s", layer(L, end)->name, softmax_after ? "/linear" : "");
  if ((rc = activation_tensor(L, name, rank, dims, &out))) goto free_weights;

  qat_tflite_operator op;
  qat_tflite_op_init(&op, dw ? QAT_TFLITE_OP_DEPTHWISE_CONV_2D
                          : dense ? QAT_TFLITE_OP_FULLY_CONNECTED
                                  : QAT_TFLITE_OP_CONV_2D);
  op.opt.activation = (qat_tflite_activation)act;
  if (!dense) {
    op.opt.padding = lower_padding(l);
    op.opt.stride_h = l->strides[0];
    op.opt.stride_w = l->strides[1];
    op.opt.depth_multiplier = dw ? l->depth_multiplier : 1;
  }
  int in[3] = {tensor_of(L, qat_layer_input(&L->m->spec, li, 0)), wi, bi};
  if ((rc = lower_add_op(L->t, &op, 3, in, out))) goto free_weights;
  if (softmax_after && (rc = lower_softmax(L, li, out, &out))) goto free_weights;
  /* Only these layers: others between li and end may belong to other operators. */
  L->tensor[li] = out;
  if (absorbed_bn >= 0) L->tensor[absorbed_bn] = out;
  if (absorbed_relu >= 0) L->tensor[absorbed_relu] = out;
free_weights:
  free(w);
  free(bias);
  return rc;
}

static int lower_pool(lowering *L, int li) {
  const qat_layer_spec *l = layer(L, li);
  int rank, dims[QAT_MAX_RANK], out;
  out_shape(L, li, &rank, dims);
  int rc = activation_tensor(L, l->name, rank, dims, &out);
  if (rc) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, l->type == QAT_LAYER_MAX_POOL2D ? QAT_TFLITE_OP_MAX_POOL_2D : QAT_TFLITE_OP_AVERAGE_POOL_2D);
  op.opt.padding = lower_padding(l);
  op.opt.stride_h = l->strides[0];
  op.opt.stride_w = l->strides[1];
  op.opt.filter_h = l->pool_size[0];
  op.opt.filter_w = l->pool_size[1];
  int in = tensor_of(L, qat_layer_input(&L->m->spec, li, 0));
  if ((rc = lower_add_op(L->t, &op, 1, &in, out))) return rc;
  L->tensor[li] = out;
  return QAT_OK;
}

/* GlobalAveragePooling2D: MEAN over H and W, as the converter lowers Keras's layer. */
static int lower_global_pool(lowering *L, int li) {
  const qat_layer_spec *l = layer(L, li);
  static const int32_t axes[2] = {1, 2};
  char name[QAT_NAME_MAX + 32];
  int two = 2, ai, out, rank, dims[QAT_MAX_RANK];
  snprintf(name, sizeof name, "%s/axes", l->name);
  int rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &two, axes, sizeof axes, &ai);
  if (rc) return rc;
  out_shape(L, li, &rank, dims);
  if ((rc = activation_tensor(L, l->name, rank, dims, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_MEAN);
  op.opt.keep_dims = 0;
  int in[2] = {tensor_of(L, qat_layer_input(&L->m->spec, li, 0)), ai};
  if ((rc = lower_add_op(L->t, &op, 2, in, out))) return rc;
  L->tensor[li] = out;
  return QAT_OK;
}

/* Flatten / Reshape: the target shape is an int32 input with -1 for the batch, as the
 * converter writes Keras's reshapes (so the same file serves any batch after a resize). */
static int lower_reshape(lowering *L, int li) {
  const qat_layer_spec *l = layer(L, li);
  int rank, dims[QAT_MAX_RANK], out, si;
  out_shape(L, li, &rank, dims);
  int32_t shape[QAT_MAX_RANK];
  shape[0] = -1;
  for (int d = 1; d < rank; d++) shape[d] = dims[d];
  char name[QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/shape", l->name);
  int rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &rank, shape, (size_t)rank * sizeof *shape, &si);
  if (rc) return rc;
  if ((rc = activation_tensor(L, l->name, rank, dims, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_RESHAPE);
  int in[2] = {tensor_of(L, qat_layer_input(&L->m->spec, li, 0)), si};
  if ((rc = lower_add_op(L->t, &op, 2, in, out))) return rc;
  L->tensor[li] = out;
  return QAT_OK;
}

/* Add of n inputs: ((x0 + x1) + x2) + ..., a following ReLU fused into the last ADD. */
static int lower_add(lowering *L, int li) {
  const qat_layer_spec *l = layer(L, li);
  int nin = qat_layer_n_inputs(&L->m->spec, li);
  if (nin < 2) return layer_fail(L, li, QAT_ERR_UNSUPPORTED, "Add needs at least 2 inputs, got %d", nin);
  int end = li, act = QAT_TFLITE_ACT_NONE;
  int r = sole_consumer(L, li);
  if (r >= 0 && relu_kind(layer(L, r)) >= 0) {
    act = relu_kind(layer(L, r));
    L->absorbed[r] = 1;
    end = r;
  }
  int rank, dims[QAT_MAX_RANK], rc = QAT_OK;
  out_shape(L, li, &rank, dims);
  int acc = tensor_of(L, qat_layer_input(&L->m->spec, li, 0));
  for (int k = 1; k < nin; k++) {
    int last = k == nin - 1, out;
    char name[QAT_NAME_MAX + 32];
    if (last) snprintf(name, sizeof name, "%s", layer(L, end)->name);
    else snprintf(name, sizeof name, "%s/partial_%d", l->name, k);
    if ((rc = activation_tensor(L, name, rank, dims, &out))) return rc;
    qat_tflite_operator op;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_ADD);
    op.opt.activation = last ? (qat_tflite_activation)act : QAT_TFLITE_ACT_NONE;
    int in[2] = {acc, tensor_of(L, qat_layer_input(&L->m->spec, li, k))};
    if ((rc = lower_add_op(L->t, &op, 2, in, out))) return rc;
    acc = out;
  }
  L->tensor[li] = acc;
  if (end != li) L->tensor[end] = acc;
  return QAT_OK;
}

static int lower_relu(lowering *L, int li, int act) {
  int rank, dims[QAT_MAX_RANK], out;
  out_shape(L, li, &rank, dims);
  int rc = activation_tensor(L, layer(L, li)->name, rank, dims, &out);
  if (rc) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, act == QAT_TFLITE_ACT_RELU6 ? QAT_TFLITE_OP_RELU6 : QAT_TFLITE_OP_RELU);
  int in = tensor_of(L, qat_layer_input(&L->m->spec, li, 0));
  if ((rc = lower_add_op(L->t, &op, 1, &in, out))) return rc;
  L->tensor[li] = out;
  return QAT_OK;
}

/* Why a batch norm was not folded (it was reached without being absorbed). */
static int unfoldable_batch_norm(const lowering *L, int li) {
  int src = qat_layer_input(&L->m->spec, li, 0), r = root_of(L, src);
  if (r < 0)
    return layer_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "cannot be folded: it reads the model input; float32 export folds batch normalization into "
                      "a Conv2D, DepthwiseConv2D or Dense directly before it");
  const qat_layer_spec *p = layer(L, r);
  if (p->type != QAT_LAYER_CONV2D && p->type != QAT_LAYER_DEPTHWISE_CONV2D && p->type != QAT_LAYER_DENSE)
    return layer_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "cannot be folded: its input '%s' is a %s; float32 export folds batch normalization only into "
                      "a Conv2D, DepthwiseConv2D or Dense directly before it",
                      p->name, qat_layer_type_name(p->type));
  if (p->activation != QAT_ACTIVATION_LINEAR)
    return layer_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "cannot be folded into '%s': that layer applies activation '%s' before the normalization "
                      "(use activation: linear there and put the activation after the BatchNormalization)",
                      p->name, activation_name(p->activation));
  return layer_fail(L, li, QAT_ERR_UNSUPPORTED,
                    "cannot be folded into '%s': that layer's output is also read by %d other consumer%s", p->name,
                    L->uses[r] - 1, L->uses[r] - 1 == 1 ? "" : "s");
}

static int lower_layer(lowering *L, int li) {
  const qat_layer_spec *l = layer(L, li);
  if (L->absorbed[li]) return QAT_OK;
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
  case QAT_LAYER_BATCH_NORM: return unfoldable_batch_norm(L, li);
  case QAT_LAYER_RELU:
  case QAT_LAYER_ACTIVATION:
    if (l->type == QAT_LAYER_ACTIVATION && l->activation == QAT_ACTIVATION_SOFTMAX) {
      int out, rc = lower_softmax(L, li, tensor_of(L, qat_layer_input(&L->m->spec, li, 0)), &out);
      if (!rc) L->tensor[li] = out;
      return rc;
    }
    return lower_relu(L, li, relu_kind(l));
  case QAT_LAYER_DROPOUT:
  case QAT_LAYER_TYPE_COUNT: break;
  }
  return layer_fail(L, li, QAT_ERR_UNSUPPORTED, "no float32 TFLite lowering for this layer type");
}

int qat_export_float32(const qat_model *m, qat_tflite_model *out) {
  qat_tflite_model_init(out);
  lowering L;
  memset(&L, 0, sizeof L);
  L.m = m;
  L.t = out;
  L.n = m->spec.n_layers;
  if (L.n < 1) return qat_fail(QAT_ERR_USAGE, "the model has no layers");
  int rc = QAT_OK;
  L.root = malloc((size_t)L.n * sizeof *L.root);
  L.uses = malloc((size_t)L.n * sizeof *L.uses);
  L.consumer = malloc((size_t)L.n * sizeof *L.consumer);
  L.tensor = malloc((size_t)L.n * sizeof *L.tensor);
  L.absorbed = malloc((size_t)L.n * sizeof *L.absorbed);
  if (!L.root || !L.uses || !L.consumer || !L.tensor || !L.absorbed) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering the model");
    goto free_lowering;
  }
  if ((rc = analyze(&L))) goto free_lowering;

  const int *hwc = m->spec.input_shape;
  int in_dims[4] = {1, hwc[0], hwc[1], hwc[2]};
  if ((rc = activation_tensor(&L, "input", 4, in_dims, &L.input))) goto free_lowering;
  if ((rc = qat_tflite_add_input(out, L.input, "input"))) goto free_lowering;
  for (int li = 0; li < L.n; li++)
    if ((rc = lower_layer(&L, li))) goto free_lowering;
  int last = L.n - 1, result = tensor_of(&L, last);
  if (result == L.input) {
    rc = qat_fail(QAT_ERR_UNSUPPORTED, "the model computes nothing: its output is its input");
    goto free_lowering;
  }
  if ((rc = qat_tflite_add_output(out, result, m->spec.layers[last].name))) goto free_lowering;
  rc = qat_tflite_validate(out);
free_lowering:
  free(L.root);
  free(L.uses);
  free(L.consumer);
  free(L.tensor);
  free(L.absorbed);
  if (rc) qat_tflite_model_free(out);
  return rc;
}
