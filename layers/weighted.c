/* What Conv2D, DepthwiseConv2D and Dense share (layers/weighted.h). */
#include "layers/weighted.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "qat/quant.h"

static int link_requant_with(const qat_model *m, int fold, const qat_fq *in, const qat_fq *w,
                             const qat_tensor *y, qat_fq *out, qat_requant kind);
static int is_depthwise(const qat_layer_spec *l) { return qat_layer_op_type(l) == QAT_LAYER_DEPTHWISE_CONV2D; }
static int is_transpose(const qat_layer_spec *l) { return l->type == QAT_LAYER_CONV2D_TRANSPOSE; }
static const qat_layer_desc *desc(const qat_layer_spec *l) { return qat_layer_desc_of(l->type); }

int qat_weighted_build_conv(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_model *m = b->m;
  const qat_layer_spec *l = &m->spec.layers[li];
  qat_tensor *x = in[0], *w = NULL, *bias = NULL;
  qat_op_attrs a = qat_build_attrs(l);
  int rc, dw = is_depthwise(l);
  if (x->rank != 4) return qat_fail(QAT_ERR_USAGE, "expects an input [batch,H,W,C], got rank %d", x->rank);
  int cin = x->dims[3], cout = dw ? cin * l->depth_multiplier : l->filters;
  int wd[4] = {dw ? 1 : cout, l->kernel_size[0], l->kernel_size[1], dw ? cout : cin};
  if ((rc = qat_build_param(b, li, desc(l)->kernel, 4, wd, 1, &w))) return rc;
  if (l->use_bias && (rc = qat_build_param(b, li, "bias", 1, &cout, 1, &bias))) return rc;
  a.depth_multiplier = l->depth_multiplier;
  int fold = b->quant ? m->fold_bn[li] : -1;
  qat_tensor *bn[4] = {0};
  if (fold >= 0) {
    /* The folded unit: weights * gamma / sigma, fake-quantized, conv, scaled back for the
     * batch-statistics BN that the BatchNormalization layer adds next. Its conv bias moves
     * into the BN's moving mean (qat_model_absorb_folded_bias): it is not used here. */
    if ((rc = qat_build_bn_params(b, fold, cout, bn))) return rc;
    qat_op_attrs fa = {.axis = desc(l)->kernel_channel_axis, .epsilon = m->spec.layers[fold].epsilon};
    if ((rc = qat_graph_add(&m->graph, QAT_OP_BN_FOLD_WEIGHTS, 3, (qat_tensor *[]){w, bn[0], bn[3]}, &fa, &w)))
      return rc;
    bias = NULL;
  }
  if ((rc = qat_build_weight_quant(b, li, desc(l)->kernel, desc(l)->kernel_channel_axis, cout, &w, &bias))) return rc;
  qat_tensor *ins[3] = {x, w, bias};
  qat_tensor *conv;
  qat_op op = dw ? QAT_OP_DEPTHWISE_CONV2D : is_transpose(l) ? QAT_OP_CONV2D_TRANSPOSE : QAT_OP_CONV2D;
  if ((rc = qat_graph_add(&m->graph, op, bias ? 3 : 2, ins, &a, &conv))) return rc;
  if (fold >= 0) {
    qat_op_attrs ua = {.epsilon = m->spec.layers[fold].epsilon};
    if ((rc = qat_graph_add(&m->graph, QAT_OP_CHANNEL_UNSCALE, 3, (qat_tensor *[]){conv, bn[0], bn[3]}, &ua, &conv)))
      return rc;
  }
  return qat_build_activation(b, l->activation, conv, out);
}

/* SeparableConv2D: DEPTHWISE_CONV_2D (kernel_size, strides, padding, depth_multiplier; no bias)
 * quantized on its own (the int8 model requantizes between the two ops), then a 1x1 CONV_2D
 * (filters, bias, a folded batch norm, the activation), as the converter lowers it. */
int qat_weighted_build_separable(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_model *m = b->m;
  const qat_layer_spec *l = &m->spec.layers[li];
  qat_tensor *x = in[0], *dw = NULL, *none = NULL, *mid;
  if (x->rank != 4) return qat_fail(QAT_ERR_USAGE, "expects an input [batch,H,W,C], got rank %d", x->rank);
  int cm = x->dims[3] * l->depth_multiplier, rc;
  int dd[4] = {1, l->kernel_size[0], l->kernel_size[1], cm};
  if ((rc = qat_build_param(b, li, "depthwise_kernel", 4, dd, 1, &dw))) return rc;
  if ((rc = qat_build_weight_quant(b, li, "depthwise_kernel", 3, cm, &dw, &none))) return rc;
  qat_op_attrs a = qat_build_attrs(l);
  a.depth_multiplier = l->depth_multiplier;
  if ((rc = qat_graph_add(&m->graph, QAT_OP_DEPTHWISE_CONV2D, 2, (qat_tensor *[]){x, dw}, &a, &mid))) return rc;
  qat_tensor *pin = mid;
  if (b->quant) {
    qat_fq *mfq = NULL;
    char name[sizeof(((qat_fq *)0)->name)];
    if ((rc = qat_build_activation_quant(b, li, "depthwise_output", mid, &mfq, &pin))) return rc;
    snprintf(name, sizeof name, "%s/depthwise_kernel", l->name);
    if (!m->spec.quantize.activations_lsq &&
        (rc = link_requant_with(m, -1, qat_model_source_fq(m, b->in_src), qat_model_find_fq(m, name), mid,
                                mfq, QAT_REQUANT_FIXED_POINT)))
      return rc;
    b->bias_input = mfq; /* the pointwise bias sits on the grid of this quantizer's scale */
  }
  qat_tensor *pw = NULL, *bias = NULL, *conv;
  int pd[4] = {l->filters, 1, 1, cm};
  if ((rc = qat_build_param(b, li, "pointwise_kernel", 4, pd, 1, &pw))) return rc;
  if (l->use_bias && (rc = qat_build_param(b, li, "bias", 1, &l->filters, 1, &bias))) return rc;
  int fold = b->quant ? m->fold_bn[li] : -1;
  qat_tensor *bn[4] = {0};
  if (fold >= 0) {
    /* folded as a Conv2D's (qat_weighted_build_conv) */
    if ((rc = qat_build_bn_params(b, fold, l->filters, bn))) return rc;
    qat_op_attrs fa = {.axis = 0, .epsilon = m->spec.layers[fold].epsilon};
    if ((rc = qat_graph_add(&m->graph, QAT_OP_BN_FOLD_WEIGHTS, 3, (qat_tensor *[]){pw, bn[0], bn[3]}, &fa, &pw)))
      return rc;
    bias = NULL;
  }
  if ((rc = qat_build_weight_quant(b, li, "pointwise_kernel", 0, l->filters, &pw, &bias))) return rc;
  qat_op_attrs pa = {.kernel = {1, 1}, .strides = {1, 1}, .padding = QAT_PADDING_VALID};
  if ((rc = qat_graph_add(&m->graph, QAT_OP_CONV2D, bias ? 3 : 2, (qat_tensor *[]){pin, pw, bias}, &pa, &conv)))
    return rc;
  if (fold >= 0) {
    qat_op_attrs ua = {.epsilon = m->spec.layers[fold].epsilon};
    if ((rc = qat_graph_add(&m->graph, QAT_OP_CHANNEL_UNSCALE, 3, (qat_tensor *[]){conv, bn[0], bn[3]}, &ua, &conv)))
      return rc;
  }
  return qat_build_activation(b, l->activation, conv, out);
}

int qat_weighted_build_dense(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_model *m = b->m;
  const qat_layer_spec *l = &m->spec.layers[li];
  qat_tensor *x = in[0], *w = NULL, *bias = NULL;
  qat_op_attrs a = qat_build_attrs(l);
  int rc;
  if (x->rank < 2) return qat_fail(QAT_ERR_USAGE, "Dense expects an input [batch, ..., features], got rank %d", x->rank);
  int wd[2] = {l->units, x->dims[x->rank - 1]};
  if ((rc = qat_build_param(b, li, "kernel", 2, wd, 1, &w))) return rc;
  if (l->use_bias && (rc = qat_build_param(b, li, "bias", 1, &l->units, 1, &bias))) return rc;
  if ((rc = qat_build_weight_quant(b, li, "kernel", 0, l->units, &w, &bias))) return rc;
  qat_tensor *dense;
  if ((rc = qat_graph_add(&m->graph, QAT_OP_DENSE, bias ? 3 : 2, (qat_tensor *[]){x, w, bias}, &a, &dense))) return rc;
  return qat_build_activation(b, l->activation, dense, out);
}

/* fold: the batch norm folded into the head op (its requantization then rebuilds the folded
 * bias's integers; see qat_fq.fold_bn), or -1 */
static int link_requant_with(const qat_model *m, int fold, const qat_fq *in, const qat_fq *w,
                             const qat_tensor *y, qat_fq *out, qat_requant kind) {
  QAT_ASSERT(w && in);
  int channels = y->dims[y->rank - 1];
  QAT_ASSERT(w->channels == 1 || w->channels == channels);
  size_t bytes = (size_t)channels * (3 * sizeof(double) + sizeof(int32_t) + sizeof(int) + sizeof(float));
  double *eff = malloc(bytes);
  if (!eff) return qat_fail(QAT_ERR_NOMEM, "out of memory building the model");
  out->requant_eff = eff;
  out->requant_bias = eff + channels;
  out->requant_inv = out->requant_bias + channels;
  out->requant_mult = (int32_t *)(out->requant_inv + channels);
  out->requant_shift = (int *)(out->requant_mult + channels);
  out->requant_wscale = (float *)(out->requant_shift + channels);
  /* the head op's output, and the batch norm folded after it (CHANNEL_UNSCALE, BATCH_NORM) */
  const qat_graph *g = &m->graph;
  const qat_tensor *wq = NULL, *acc = NULL;
  for (int i = 0; i < g->n_nodes && !wq; i++)
    if (qat_node_fq(&g->nodes[i]) == w) wq = g->nodes[i].output;
  for (int i = 0; i < g->n_nodes && wq && !acc; i++)
    if (g->nodes[i].n_inputs >= 2 && g->nodes[i].inputs[1] == wq) {
      acc = g->nodes[i].output;
      out->requant_head = i;
    }
  out->requant_in[0] = acc;
  if (acc && fold >= 0) {
    const qat_tensor *t = acc;
    for (int i = 0; i < g->n_nodes; i++) {
      const qat_node *nd = &g->nodes[i];
      if (nd->n_inputs < 1 || nd->inputs[0] != t) continue;
      if (nd->op == QAT_OP_CHANNEL_UNSCALE) {
        t = nd->output;
      } else if (nd->op == QAT_OP_BATCH_NORM && nd->n_inputs >= 5) {
        for (int k = 0; k < 4; k++) out->fold_bn[k] = nd->inputs[1 + k];
        out->fold_epsilon = nd->attrs.epsilon;
        break;
      }
    }
    QAT_ASSERT(out->fold_bn[0]);
  }
  out->requant_channels = channels;
  out->requant = kind;
  out->input = in;
  out->weight = w;
  return QAT_OK;
}

/* The head's input quantizer and kernel quantizer; a separable conv's pointwise half reads its
 * depthwise half's output quantizer. */
static int link_requant(qat_model *m, int head, qat_fq *out, qat_requant kind) {
  const qat_layer_spec *h = &m->spec.layers[head];
  char name[sizeof(((qat_fq *)0)->name)];
  snprintf(name, sizeof name, "%s/%s", h->name, desc(h)->kernel);
  const qat_fq *w = qat_model_find_fq(m, name);
  const qat_fq *in = qat_model_source_fq(m, qat_layer_input(&m->spec, head, 0));
  if (qat_layer_op_type(h) == QAT_LAYER_SEPARABLE_CONV2D) {
    snprintf(name, sizeof name, "%s_depthwise_output", h->name);
    in = qat_model_find_fq(m, name);
  }
  return link_requant_with(m, m->fold_bn[head], in, w, m->layer_out[head], out, kind);
}

int qat_weighted_requant_fixed(qat_model *m, int head, qat_fq *out) {
  return link_requant(m, head, out, QAT_REQUANT_FIXED_POINT);
}
int qat_weighted_requant_double(qat_model *m, int head, qat_fq *out) {
  return link_requant(m, head, out, QAT_REQUANT_DOUBLE);
}

static qat_tflite_op tflite_op(const qat_layer_spec *l) {
  switch (qat_layer_op_type(l)) {
  case QAT_LAYER_DEPTHWISE_CONV2D: return QAT_TFLITE_OP_DEPTHWISE_CONV_2D;
  case QAT_LAYER_DENSE: return QAT_TFLITE_OP_FULLY_CONNECTED;
  case QAT_LAYER_CONV2D_TRANSPOSE: return QAT_TFLITE_OP_TRANSPOSE_CONV;
  default: return QAT_TFLITE_OP_CONV_2D;
  }
}

static void set_options(const qat_lowering *L, int li, qat_tflite_operator *op) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  if (l->type == QAT_LAYER_DENSE) { /* over the last axis of a sequence: [1, 1, T, units], as Keras shapes it */
    int rank, dims[QAT_MAX_RANK];
    lower_out_shape(L, li, &rank, dims);
    op->opt.keep_num_dims = rank > 2;
    return;
  }
  if (qat_layer_op_type(l) == QAT_LAYER_SEPARABLE_CONV2D) { /* its pointwise half: 1x1, stride 1 */
    op->opt.padding = QAT_TFLITE_PADDING_VALID;
    op->opt.stride_h = op->opt.stride_w = op->opt.depth_multiplier = 1;
    return;
  }
  op->opt.padding = lower_padding(l);
  op->opt.stride_h = l->strides[0];
  op->opt.stride_w = l->strides[1];
  op->opt.dilation_h = l->dilation_rate[0];
  op->opt.dilation_w = l->dilation_rate[1];
  op->opt.depth_multiplier = is_depthwise(l) ? l->depth_multiplier : 1;
}

/* The operator's inputs: (input, weights, bias), or for TRANSPOSE_CONV (output_shape, weights,
 * input, bias) with the output shape an int32 constant (batch 1, as the converter writes it
 * for a model of batch 1). */
static int op_inputs(qat_lowering *L, int li, int in_t, int wi, int bi, int *ins, int *n) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  if (!is_transpose(l)) {
    ins[0] = in_t, ins[1] = wi, ins[2] = bi, *n = 3;
    return QAT_OK;
  }
  int rank, dims[QAT_MAX_RANK], four = 4, si, rc;
  lower_out_shape(L, li, &rank, dims);
  const int32_t shape[4] = {1, dims[1], dims[2], dims[3]};
  char name[QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/output_shape", l->name);
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &four, shape, sizeof shape, &si))) return rc;
  ins[0] = si, ins[1] = wi, ins[2] = in_t, ins[3] = bi, *n = 4;
  return QAT_OK;
}

static qat_fold_layout fold_layout(const qat_layer_spec *l) {
  return desc(l)->kernel_channel_axis ? QAT_FOLD_CHANNEL_LAST : QAT_FOLD_CHANNEL_FIRST;
}

static int bn_stats(const qat_lowering *L, int bn, int channels, const qat_layer_spec *head, const qat_param *s[4]) {
  s[0] = lower_find_param(L->m, bn, "gamma");
  s[1] = lower_find_param(L->m, bn, "beta");
  s[2] = lower_find_param(L->m, bn, "moving_mean");
  s[3] = lower_find_param(L->m, bn, "moving_variance");
  if (!s[0] || !s[1] || !s[2] || !s[3] || s[0]->size != channels)
    return lower_fail(L, bn, QAT_ERR_INTERNAL, "its statistics are missing or do not match '%s'", head->name);
  return QAT_OK;
}

/* float32: the weights with a following batch norm folded in, a following ReLU fused. */
static int lower_float(qat_lowering *L, int li, int in_t) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const char *ksuffix = desc(l)->kernel;
  const qat_param *k = lower_find_param(L->m, li, ksuffix);
  const qat_param *b = l->use_bias ? lower_find_param(L->m, li, "bias") : NULL;
  if (!k || (l->use_bias && !b)) return lower_fail(L, li, QAT_ERR_INTERNAL, "its weights are missing from the model");
  int channels = k->dims[desc(l)->kernel_channel_axis];
  int rc = QAT_OK;
  float *w = malloc((size_t)k->size * sizeof *w);
  float *bias = calloc((size_t)channels, sizeof *bias);
  if (!w || !bias) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering layer '%s'", l->name);
    goto free_weights;
  }
  memcpy(w, k->tensor->data, (size_t)k->size * sizeof *w);
  if (b) memcpy(bias, b->tensor->data, (size_t)channels * sizeof *bias);

  int act = l->activation == QAT_ACTIVATION_RELU    ? QAT_TFLITE_ACT_RELU
            : l->activation == QAT_ACTIVATION_RELU6 ? QAT_TFLITE_ACT_RELU6
                                                    : QAT_TFLITE_ACT_NONE; /* softmax becomes its own op */
  int softmax_after = l->activation == QAT_ACTIVATION_SOFTMAX;
  int fn_after = lower_is_function(l->activation); /* its own ops after the linear one */
  /* The layers this operator stands for: li, then a folded batch norm, then a fused ReLU
   * (absorbed_bn / absorbed_relu, -1 when none). end is the last of them. */
  int end = li, absorbed_bn = -1, absorbed_relu = -1;
  int c = lower_sole_consumer(L, li);
  if (c >= 0 && (qat_layer_desc_of(lower_layer_spec(L, c)->type)->roles & QAT_LAYER_IS_BN) &&
      l->activation == QAT_ACTIVATION_LINEAR) {
    const qat_param *s[4];
    if ((rc = bn_stats(L, c, channels, l, s))) goto free_weights;
    rc = qat_fold_batch_norm(w, bias, k->size, channels, fold_layout(l), s[0]->tensor->data, s[1]->tensor->data,
                             s[2]->tensor->data, s[3]->tensor->data, lower_layer_spec(L, c)->epsilon, w, bias);
    if (rc) {
      lower_fail(L, c, rc, "cannot be folded into '%s': %s", l->name, qat_error_message());
      goto free_weights;
    }
    L->absorbed[c] = 1;
    end = absorbed_bn = c;
  }
  if (act == QAT_TFLITE_ACT_NONE && !softmax_after && !fn_after) {
    int r = lower_sole_consumer(L, end);
    if (r >= 0 && lower_relu_kind(lower_layer_spec(L, r)) >= 0) {
      act = lower_relu_kind(lower_layer_spec(L, r));
      L->absorbed[r] = 1;
      end = absorbed_relu = r;
    }
  }

  /* Constants: weights exactly in qat's layout (OHWI, [1,KH,KW,C*M], [out,in]: TFLite's), bias. */
  char name[2 * QAT_NAME_MAX + 32];
  int wi, bi, out, rank, dims[QAT_MAX_RANK];
  int folded = absorbed_bn >= 0;
  snprintf(name, sizeof name, "%s/%s%s", l->name, ksuffix, folded ? "_folded" : "");
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_FLOAT32, k->rank, k->dims, w, (size_t)k->size * sizeof *w,
                                  &wi)))
    goto free_weights;
  snprintf(name, sizeof name, "%s/bias%s", l->name, folded ? "_folded" : "");
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_FLOAT32, 1, &channels, bias,
                                  (size_t)channels * sizeof *bias, &bi)))
    goto free_weights;
  lower_out_shape(L, end, &rank, dims);
  snprintf(name, sizeof name, "%s%s", lower_layer_spec(L, end)->name, softmax_after || fn_after ? "/linear" : "");
  if ((rc = lower_act_tensor(L, name, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, &out))) goto free_weights;

  qat_tflite_operator op;
  qat_tflite_op_init(&op, tflite_op(l));
  op.opt.activation = (qat_tflite_activation)act;
  set_options(L, li, &op);
  int in[4], n_in;
  if ((rc = op_inputs(L, li, in_t, wi, bi, in, &n_in)) || (rc = lower_add_op(L->t, &op, n_in, in, out)))
    goto free_weights;
  if (softmax_after && (rc = lower_softmax(L, li, out, &out))) goto free_weights;
  if (fn_after && (rc = lower_function(L, li, l->activation, l->alpha, out, &out))) goto free_weights;
  /* Only these layers: others between li and end may belong to other operators. */
  L->tensor[li] = out;
  if (absorbed_bn >= 0) L->tensor[absorbed_bn] = out;
  if (absorbed_relu >= 0) L->tensor[absorbed_relu] = out;
free_weights:
  free(w);
  free(bias);
  return rc;
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

/* int8 / int16x8: the weights exactly as the fake quant rounded them, the bias on the int32
 * (int64) grid, the chain the QAT model fused (folded BN, fused ReLU) as one op. */
static int lower_integer(qat_lowering *L, int li, int in_t) {
  const qat_model *m = L->m;
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const char *ksuffix = desc(l)->kernel;
  const int axis = desc(l)->kernel_channel_axis;
  const qat_param *k = lower_find_param(L->m, li, ksuffix);
  int fn_after = lower_is_function(l->activation); /* its own ops after the linear one */
  char name[2 * QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/%s", l->name, ksuffix);
  const qat_fq *wfq = qat_model_find_fq(m, name);
  if (!k || !wfq) return lower_fail(L, li, QAT_ERR_INTERNAL, "its weights or their quantizer are missing");
  if (!wfq->valid) return lower_fail(L, li, QAT_ERR_INTERNAL, "its weight quantizer has no scales (run a forward first)");
  int channels = k->dims[axis];
  int fold = m->fold_bn[li];
  int end = lower_chain_end(L, li);
  const qat_fq *ofq = NULL;
  int rc = lower_output_fq(L, end, &ofq);
  if (rc) return rc;
  /* a hard_sigmoid the op computes itself (qat/fq.h): divided weight scales, 3 in the bias */
  const int hard = ofq->act == QAT_ACTIVATION_HARD_SIGMOID;
  if (hard) fn_after = 0;
  if (fn_after) { /* the linear op's own quantizer (layers/model.c build_function) */
    snprintf(name, sizeof name, "%s.linear", l->name);
    if (!(ofq = qat_model_find_fq(m, name)) || !ofq->valid)
      return lower_fail(L, li, QAT_ERR_INTERNAL, "the quantizer '%s' before its activation is missing", name);
  }
  float s_in;
  int64_t zp_in;
  lower_params_of(L, in_t, &s_in, &zp_in);

  const float *w = k->tensor->data;
  if (fold >= 0 && !(w = folded_weights(m, k)))
    return lower_fail(L, li, QAT_ERR_INTERNAL, "the folded weights of batch norm '%s' are not in the graph",
                      lower_layer_spec(L, fold)->name);
  int8_t *qw = malloc((size_t)k->size);
  float *bias = calloc((size_t)channels, sizeof *bias);
  float *scratch = NULL, *wscale6 = NULL;
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
    rc = lower_fail(L, li, QAT_ERR_INTERNAL, "weight quantizer has %d scales for %lld channels", wfq->channels,
                    (long long)ch);
    goto free_all;
  }
  qat_quantize_int8_per_channel(w, qw, outer, ch, inner, wfq->scale, NULL, QAT_INT8_WEIGHT_MIN, QAT_INT8_MAX);

  /* bias: the folded one (beta - gamma * mean / sigma; the conv's own bias was absorbed into the
   * moving mean) or the layer's own */
  if (fold >= 0) {
    const qat_param *s[4];
    if ((rc = bn_stats(L, fold, channels, l, s))) goto free_all;
    if (!(scratch = malloc((size_t)k->size * sizeof *scratch))) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering layer '%s'", l->name);
      goto free_all;
    }
    rc = qat_fold_batch_norm(k->tensor->data, NULL, k->size, channels, fold_layout(l), s[0]->tensor->data,
                             s[1]->tensor->data, s[2]->tensor->data, s[3]->tensor->data,
                             lower_layer_spec(L, fold)->epsilon, scratch, bias);
    if (rc) {
      lower_fail(L, fold, rc, "cannot be folded into '%s': %s", l->name, qat_error_message());
      goto free_all;
    }
  } else if (l->use_bias) {
    const qat_param *b = lower_find_param(L->m, li, "bias");
    if (!b || b->size != channels) {
      rc = lower_fail(L, li, QAT_ERR_INTERNAL, "its bias is missing");
      goto free_all;
    }
    memcpy(bias, b->tensor->data, (size_t)channels * sizeof *bias);
  }
  int n_scales = wfq->channels;
  rc = bias64 ? qat_quantize_bias_int64(bias, channels, s_in, wfq->scale, n_scales, qb, bscale)
              : qat_quantize_bias_int32(bias, channels, s_in, wfq->scale, n_scales, qb, bscale);
  if (rc) {
    lower_fail(L, li, rc, "bias: %s", qat_error_message());
    goto free_all;
  }
  if (n_scales == 1)
    for (int c = 1; c < channels; c++) bscale[c] = bscale[0];
  int nb_scales = n_scales == 1 ? 1 : channels;
  const float *wscale = wfq->scale;
  if (hard) {
    if (!(wscale6 = malloc((size_t)n_scales * sizeof *wscale6))) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering layer '%s'", l->name);
      goto free_all;
    }
    for (int c = 0; c < n_scales; c++) wscale6[c] = qat_hard_sigmoid_weight_scale(wfq->scale[c]);
    for (int c = 0; c < channels; c++) {
      const int sc = n_scales == 1 ? 0 : c;
      const double three = qat_hard_sigmoid_bias(s_in, wfq->scale[sc]);
      bscale[c] = s_in * wscale6[sc];
      if (bias64) {
        ((int64_t *)qb)[c] += (int64_t)three;
      } else {
        const double v = (double)((int32_t *)qb)[c] + three;
        if (!(fabs(v) <= 2147483647.0)) {
          rc = lower_fail(L, li, QAT_ERR_UNSUPPORTED, "its bias plus hard_sigmoid's 3 overflows the int32 grid");
          goto free_all;
        }
        ((int32_t *)qb)[c] = (int32_t)v;
      }
    }
    wscale = wscale6;
  }

  int wi, bi, out, rank, dims[QAT_MAX_RANK];
  snprintf(name, sizeof name, "%s/%s%s", l->name, ksuffix, fold >= 0 ? "_folded" : "");
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT8, k->rank, k->dims, qw, (size_t)k->size, &wi))) goto free_all;
  if ((rc = qat_tflite_set_quant(L->t, wi, n_scales, wscale, zeros, n_scales > 1 ? axis : 0))) goto free_all;
  snprintf(name, sizeof name, "%s/bias%s", l->name, fold >= 0 ? "_folded" : "");
  if ((rc = qat_tflite_add_tensor(L->t, name, bias64 ? QAT_TFLITE_INT64 : QAT_TFLITE_INT32, 1, &channels, qb,
                                  (size_t)channels * (bias64 ? sizeof(int64_t) : sizeof(int32_t)), &bi)))
    goto free_all;
  if ((rc = qat_tflite_set_quant(L->t, bi, nb_scales, bscale, zeros, 0))) goto free_all;

  int softmax_after = l->activation == QAT_ACTIVATION_SOFTMAX;
  lower_out_shape(L, end, &rank, dims);
  snprintf(name, sizeof name, "%s%s", lower_layer_spec(L, end)->name, softmax_after || fn_after ? "/linear" : "");
  float s_out;
  int64_t zp_out;
  if ((rc = lower_act_params(L, end, ofq, &s_out, &zp_out))) goto free_all;
  if ((rc = lower_act_tensor(L, name, L->mode->act, rank, dims, s_out, zp_out, &out))) goto free_all;

  qat_tflite_operator op;
  qat_tflite_op_init(&op, tflite_op(l));
  op.opt.activation = lower_fused_act(L, end, ofq);
  set_options(L, li, &op);
  /* 16x8 TRANSPOSE_CONV: the converter names the int64 bias and accumulator */
  if (bias64 && is_transpose(l)) op.opt.quantized_bias_type = QAT_TFLITE_INT64;
  int in[4], n_in;
  if ((rc = op_inputs(L, li, in_t, wi, bi, in, &n_in)) || (rc = lower_add_op(L->t, &op, n_in, in, out))) goto free_all;
  if (softmax_after && (rc = lower_softmax(L, li, out, &out))) goto free_all;
  if (fn_after && (rc = lower_function(L, li, l->activation, l->alpha, out, &out))) goto free_all;
  for (int j = li; j <= end; j++)
    if (j == li || m->fused_into[j] == li) L->tensor[j] = out;
free_all:
  free(qw);
  free(bias);
  free(scratch);
  free(wscale6);
  free(qb);
  free(bscale);
  free(zeros);
  return rc;
}

/* A SeparableConv2D's first half: DEPTHWISE_CONV_2D with a zero bias (as the converter writes
 * it) into the tensor "<name>/depthwise_output", quantized (integer modes) with the quantizer
 * "<name>_depthwise_output"; its tensor in *out. */
static int lower_depthwise_half(qat_lowering *L, int li, int *out) {
  const qat_model *m = L->m;
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const qat_param *k = lower_find_param(m, li, "depthwise_kernel");
  if (!k) return lower_fail(L, li, QAT_ERR_INTERNAL, "its depthwise weights are missing");
  int cm = k->dims[3], in_t = lower_input(L, li, 0), rank, dims[QAT_MAX_RANK], rc = QAT_OK, wi, bi;
  lower_out_shape(L, li, &rank, dims);
  dims[3] = cm;
  char name[2 * QAT_NAME_MAX + 32], oname[2 * QAT_NAME_MAX + 32];
  snprintf(oname, sizeof oname, "%s/depthwise_output", l->name);
  int8_t *qw = NULL;
  void *qb = NULL;
  float *zf = calloc((size_t)cm, sizeof *zf), *bscale = calloc((size_t)cm, sizeof *bscale);
  int64_t *zeros = calloc((size_t)cm, sizeof *zeros);
  if (!zf || !bscale || !zeros) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering layer '%s'", l->name);
    goto free_half;
  }
  snprintf(name, sizeof name, "%s/depthwise_kernel", l->name);
  if (!L->mode) {
    if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_FLOAT32, 4, k->dims, k->tensor->data,
                                    (size_t)k->size * sizeof(float), &wi)))
      goto free_half;
    snprintf(name, sizeof name, "%s/depthwise_bias", l->name);
    if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_FLOAT32, 1, &cm, zf, (size_t)cm * sizeof *zf, &bi)))
      goto free_half;
    if ((rc = lower_act_tensor(L, oname, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, out))) goto free_half;
  } else {
    char qname[2 * QAT_NAME_MAX + 32];
    snprintf(qname, sizeof qname, "%s_depthwise_output", l->name);
    const qat_fq *wfq = qat_model_find_fq(m, name), *mfq = qat_model_find_fq(m, qname);
    if (!wfq || !wfq->valid || !mfq || !mfq->valid) {
      rc = lower_fail(L, li, QAT_ERR_INTERNAL, "its depthwise weight or output quantizer has no parameters");
      goto free_half;
    }
    float s_in, s_mid;
    int64_t zp_in, zp_mid;
    lower_params_of(L, in_t, &s_in, &zp_in);
    if ((rc = lower_act_params(L, li, mfq, &s_mid, &zp_mid))) goto free_half;
    const int bias64 = L->mode->act == QAT_TFLITE_INT16, n_scales = wfq->channels;
    qw = malloc((size_t)k->size);
    qb = calloc((size_t)cm, bias64 ? sizeof(int64_t) : sizeof(int32_t));
    if (!qw || !qb) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering layer '%s'", l->name);
      goto free_half;
    }
    int64_t shape[4] = {k->dims[0], k->dims[1], k->dims[2], k->dims[3]}, outer, ch, inner;
    if ((rc = qat_quant_axis_split(shape, 4, n_scales > 1 ? 3 : -1, &outer, &ch, &inner))) goto free_half;
    qat_quantize_int8_per_channel(k->tensor->data, qw, outer, ch, inner, wfq->scale, NULL, QAT_INT8_WEIGHT_MIN,
                                  QAT_INT8_MAX);
    rc = bias64 ? qat_quantize_bias_int64(zf, cm, s_in, wfq->scale, n_scales, qb, bscale)
                : qat_quantize_bias_int32(zf, cm, s_in, wfq->scale, n_scales, qb, bscale);
    if (rc) {
      lower_fail(L, li, rc, "depthwise bias: %s", qat_error_message());
      goto free_half;
    }
    if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT8, 4, k->dims, qw, (size_t)k->size, &wi)) ||
        (rc = qat_tflite_set_quant(L->t, wi, n_scales, wfq->scale, zeros, n_scales > 1 ? 3 : 0)))
      goto free_half;
    snprintf(name, sizeof name, "%s/depthwise_bias", l->name);
    if ((rc = qat_tflite_add_tensor(L->t, name, bias64 ? QAT_TFLITE_INT64 : QAT_TFLITE_INT32, 1, &cm, qb,
                                    (size_t)cm * (bias64 ? sizeof(int64_t) : sizeof(int32_t)), &bi)) ||
        (rc = qat_tflite_set_quant(L->t, bi, n_scales, bscale, zeros, 0)))
      goto free_half;
    if ((rc = lower_act_tensor(L, oname, L->mode->act, rank, dims, s_mid, zp_mid, out))) goto free_half;
  }
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_DEPTHWISE_CONV_2D);
  op.opt.padding = lower_padding(l);
  op.opt.stride_h = l->strides[0];
  op.opt.stride_w = l->strides[1];
  op.opt.dilation_h = l->dilation_rate[0];
  op.opt.dilation_w = l->dilation_rate[1];
  op.opt.depth_multiplier = l->depth_multiplier;
  rc = lower_add_op(L->t, &op, 3, (int[]){in_t, wi, bi}, *out);
free_half:
  free(zf);
  free(bscale);
  free(zeros);
  free(qw);
  free(qb);
  return rc;
}

/* padding 'causal' (Conv1D): a PAD of (kernel - 1) * dilation zeros before the first step of
 * the [1, T] view, then the VALID op, as the converter writes Keras's causal conv. The int8 PAD
 * pads with the zero point (the real 0) and keeps its input's parameters: nothing rounds. */
static int lower_causal_pad(qat_lowering *L, int li, int in, int *out) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const int32_t pads[8] = {0, 0, 0, 0, (l->kernel_size[1] - 1) * l->dilation_rate[1], 0, 0, 0};
  char name[QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/causal_padded", l->name);
  return lower_pad(L, li, in, pads, name, out);
}

int qat_weighted_lower(qat_lowering *L, int li) {
  int in_t = lower_input(L, li, 0), rc;
  if (lower_layer_spec(L, li)->padding == QAT_PADDING_CAUSAL && (rc = lower_causal_pad(L, li, in_t, &in_t))) return rc;
  if (qat_layer_op_type(lower_layer_spec(L, li)) == QAT_LAYER_SEPARABLE_CONV2D && (rc = lower_depthwise_half(L, li, &in_t)))
    return rc;
  return L->mode ? lower_integer(L, li, in_t) : lower_float(L, li, in_t);
}

int qat_weighted_keras_conv(const qat_kcfg *k, qat_layer_spec *l) {
  int rc, one[2] = {1, 1};
  if ((rc = k->ops->channels_last(k))) return rc;
  if ((rc = k->ops->int_pair(k, "dilation_rate", one, l->dilation_rate))) return rc;
  if (k->ops->is_set(k, "groups")) {
    int groups;
    if ((rc = k->ops->integer(k, "groups", 1, 1 << 20, &groups))) return rc;
    if (groups != 1) return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "groups %d is not supported (expected 1)", groups);
  }
  if ((rc = k->ops->int_pair(k, "kernel_size", NULL, l->kernel_size)) ||
      (rc = k->ops->int_pair(k, "strides", one, l->strides)) || (rc = k->ops->padding(k, &l->padding)) ||
      (rc = k->ops->activation(k, "activation", &l->activation)) ||
      (rc = k->ops->boolean(k, "use_bias", 1, &l->use_bias)))
    return rc;
  return QAT_OK;
}

void qat_weighted_yaml_conv(qat_yaml_out *y, const qat_layer_spec *l) {
  qat_layer_yaml_pair(y, l, "kernel_size", l->kernel_size);
  qat_layer_yaml_pair(y, l, "strides", l->strides);
  if (l->dilation_rate[0] != 1 || l->dilation_rate[1] != 1) qat_layer_yaml_pair(y, l, "dilation_rate", l->dilation_rate);
  y->ops->put(y, ", padding: %s, activation: %s, use_bias: %s",
              l->padding == QAT_PADDING_SAME ? "same" : l->padding == QAT_PADDING_CAUSAL ? "causal" : "valid",
              qat_activation_name(l->activation), l->use_bias ? "true" : "false");
}
