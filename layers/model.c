/* Model building: one function per Keras layer type turns a layer spec into graph nodes;
 * parameters are registered while the graph is built and placed in the flat vectors after. */
#include "qat/model.h"

#include "layers/build.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "qat/rng.h"

typedef qat_builder builder;

static const char *layer_names(qat_layer_type t) { return qat_layer_type_name(t); }

static int is_relu(const qat_layer_spec *l) { return qat_layer_fusable_activation(l) != QAT_ACTIVATION_LINEAR; }

static unsigned roles(const qat_layer_spec *l) { return qat_layer_desc_of(l->type)->roles; }

/* A hard_sigmoid that an int8 conv / depthwise / dense computes itself (see qat/fq.h): an
 * Activation layer after one, or the activation argument of one (not with learned scales). */
static int takes_hard_sigmoid(const qat_layer_spec *h) {
  const qat_layer_type t = qat_layer_op_type(h);
  return t == QAT_LAYER_CONV2D || t == QAT_LAYER_DEPTHWISE_CONV2D || t == QAT_LAYER_DENSE;
}
static int fusable_hard_sigmoid(const qat_model_spec *sp, const qat_layer_spec *l) {
  return l->type == QAT_LAYER_ACTIVATION && l->activation == QAT_ACTIVATION_HARD_SIGMOID &&
         !sp->quantize.activations_lsq;
}

/* Layers whose int8 output has the input's scale and zero point (TFLite requires it of
 * MAX_POOL_2D, AVERAGE_POOL_2D and RESHAPE; dropout and a linear activation vanish). */
static int keeps_input_range(const qat_layer_spec *l) {
  qat_layer_range r = qat_layer_range_of(l);
  return r == QAT_RANGE_KEEP || r == QAT_RANGE_IDENTITY;
}

/* Finds the int8 ops of the exported graph: a conv, depthwise or dense layer (or an Add)
 * heads an op; a BatchNormalization right after a linear conv folds into it, and a ReLU or
 * ReLU6 right after a linear head fuses into it, when nothing else reads the intermediate
 * tensor. Fake quant goes at the end of each op and after every other layer that
 * requantizes; pools, reshapes and dropout keep their input's parameters. */
static int plan_quantization(builder *b) {
  qat_model *m = b->m;
  const qat_model_spec *sp = &m->spec;
  int n = sp->n_layers, rc = QAT_OK;
  int *consumers = calloc((size_t)n, sizeof(int)), *has_act = calloc((size_t)n, sizeof(int));
  if (!consumers || !has_act) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto free_counts;
  }
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < qat_layer_n_inputs(sp, i); k++) {
      int src = qat_layer_input(sp, i, k);
      if (src >= 0) consumers[src]++;
    }
  }
  consumers[n - 1]++; /* the model output is read too */
  for (int i = 0; i < n; i++) {
    const qat_layer_spec *l = &sp->layers[i];
    int j = l->n_inputs <= 1 ? qat_layer_input(sp, i, 0) : -1;
    int alone = j >= 0 && consumers[j] == 1;
    int head = alone ? m->fused_into[j] : -1;
    const qat_layer_spec *h = head >= 0 ? &sp->layers[head] : NULL;
    m->fused_into[i] = i;
    if ((roles(l) & QAT_LAYER_IS_BN) && b->quant) {
      if (!(alone && head == j && (roles(h) & QAT_LAYER_FOLDS_BN) && h->activation == QAT_ACTIVATION_LINEAR)) {
        rc = qat_fail(QAT_ERR_UNSUPPORTED,
                      "%s:%d:%d: layer '%s' (BatchNormalization): for int8 it must directly follow a linear "
                      "Conv2D or DepthwiseConv2D that nothing else reads, so that it can be folded",
                      sp->source ? sp->source : "model", l->line, l->column, l->name);
        goto free_counts;
      }
      m->fused_into[i] = head;
      m->fold_bn[head] = i;
    } else if (is_relu(l) && alone && !has_act[head] && h->activation == QAT_ACTIVATION_LINEAR &&
               (roles(h) & QAT_LAYER_HEAD)) {
      m->fused_into[i] = head;
      has_act[head] = 1;
    } else if (b->quant && fusable_hard_sigmoid(sp, l) && alone && !has_act[head] &&
               h->activation == QAT_ACTIVATION_LINEAR && takes_hard_sigmoid(h)) {
      m->fused_into[i] = head; /* int8: the head op itself computes it (qat_hard_sigmoid_weight_scale) */
      has_act[head] = 1;
    }
  }
  for (int i = 0; i < n; i++) {
    const qat_layer_spec *l = &sp->layers[i];
    b->fq_after[i] = qat_layer_range_of(l) == QAT_RANGE_OWN;
  }
  /* only the last layer of each fused chain is quantized */
  for (int i = 0; i < n; i++)
    if (m->fused_into[i] != i) {
      int j = qat_layer_input(sp, i, 0);
      b->fq_after[j] = 0;
    }
  /* A layer whose int8 inputs and output share one range (Concatenate): an input that only it
   * reads and that would requantize anyway gives up its own quantizer; the layer's output
   * quantizer (seeing the joined tensor, the union of their ranges) stands for it, and the
   * exported op writes straight to that scale. Other inputs are requantized at export. */
  for (int i = 0; i < n; i++) {
    m->shared_range[i] = -1;
    if (!b->quant || !(roles(&sp->layers[i]) & QAT_LAYER_SHARES_RANGE)) continue;
    for (int k = 0; k < qat_layer_n_inputs(sp, i); k++) {
      int src = qat_layer_input(sp, i, k);
      if (src >= 0 && b->fq_after[src] && consumers[src] == 1 && !sp->quantize.activations_lsq) {
        b->fq_after[src] = 0;
        m->shared_range[src] = i;
      }
    }
  }
free_counts:
  free(consumers);
  free(has_act);
  return rc;
}

static int new_fq(builder *b, qat_fq_role role, const char *name, int channels, int axis, qat_fq **out) {
  qat_model *m = b->m;
  if (m->n_fq == b->cap_fq) {
    int cap = b->cap_fq ? 2 * b->cap_fq : 32;
    qat_fq **p = realloc(m->fq, (size_t)cap * sizeof *p);
    if (!p) return qat_fail(QAT_ERR_NOMEM, "out of memory building the model");
    m->fq = p;
    b->cap_fq = cap;
  }
  /* the struct and its per-channel arrays in one block */
  size_t bytes = sizeof(qat_fq) + (size_t)channels * (3 * sizeof(float) + sizeof(int32_t));
  qat_fq *fq = calloc(1, bytes);
  if (!fq) return qat_fail(QAT_ERR_NOMEM, "out of memory building the model");
  fq->role = role;
  snprintf(fq->name, sizeof fq->name, "%s", name);
  fq->channels = channels;
  fq->axis = axis;
  fq->requant_head = -1;
  fq->scale = (float *)(fq + 1);
  fq->nudged_min = fq->scale + channels;
  fq->nudged_max = fq->nudged_min + channels;
  fq->zero_point = (int32_t *)(fq->nudged_max + channels);
  switch (role) {
  case QAT_FQ_ACTIVATION:
    fq->qmin = QAT_INT8_MIN;
    fq->qmax = QAT_INT8_MAX;
    qat_observer_init(&fq->observer, (qat_observer_kind)m->spec.quantize.observer, m->spec.quantize.decay);
    fq->observer.warmup = m->spec.quantize.ema_warmup;
    break;
  case QAT_FQ_WEIGHT:
    fq->qmin = QAT_INT8_WEIGHT_MIN;
    fq->qmax = QAT_INT8_MAX;
    break;
  case QAT_FQ_BIAS:
    fq->qmin = -INT32_MAX;
    fq->qmax = INT32_MAX;
    break;
  case QAT_FQ_SHARED:
    fq->qmin = QAT_INT8_MIN;
    fq->qmax = QAT_INT8_MAX;
    break;
  }
  m->fq[m->n_fq++] = fq;
  *out = fq;
  return QAT_OK;
}


/* A fake-quant node; with LSQ its step size is a trainable parameter "<owner>/<param>" (never
 * named "kernel", so weight decay leaves it alone), zero until the first batch sets it. */
static int fake_quant(builder *b, int layer, const char *param, qat_tensor *x, qat_fq *fq, qat_tensor **out) {
  qat_op_attrs a = {.custom = &qat_fake_quant_op, .state = fq};
  qat_tensor *ins[2] = {x, NULL};
  if (fq->learned) {
    int rc = qat_build_param(b, layer, param, 1, &fq->channels, 1, &ins[1]);
    if (rc) return rc;
  }
  return qat_graph_add(&b->m->graph, QAT_OP_CUSTOM, fq->learned ? 2 : 1, ins, &a, out);
}

/* An activation quantizer; LSQ puts a non-negative tensor (after a ReLU, or the [0, 1] input)
 * on the [0, 255] grid (zero point -128) and anything else on [-128, 127] (zero point 0). */
static int activation_fq(builder *b, int layer, const char *name, int non_negative, qat_activation act,
                         qat_tensor *x, qat_fq **fq, qat_tensor **out) {
  int rc = new_fq(b, QAT_FQ_ACTIVATION, name, 1, -1, fq);
  if (rc) return rc;
  (*fq)->act = act;
  if (act == QAT_ACTIVATION_RELU_MAX) (*fq)->alpha = qat_layer_activation_alpha(&b->m->spec.layers[layer], act);
  if (b->m->spec.quantize.activations_lsq) {
    (*fq)->learned = 1;
    (*fq)->zero_point[0] = non_negative ? QAT_INT8_MIN : 0;
  }
  return fake_quant(b, layer, "lsq_output_scale", x, *fq, out);
}

int qat_build_activation_quant(builder *b, int li, const char *suffix, qat_tensor *x, qat_fq **fq, qat_tensor **out) {
  char name[sizeof(((qat_fq *)0)->name)];
  /* "_", not "/": checkpoints store activation ranges under their quantizer's name as an HDF5
   * path, and the layer's own output quantizer is "<layer name>" */
  snprintf(name, sizeof name, "%s_%s", b->m->spec.layers[li].name, suffix);
  for (int i = 0; i < b->m->spec.n_layers; i++)
    if (!strcmp(b->m->spec.layers[i].name, name))
      return qat_fail(QAT_ERR_USAGE, "its quantizer '%s' would take the name of layer %d", name, i);
  if (b->m->spec.quantize.activations_lsq)
    return qat_fail(QAT_ERR_UNSUPPORTED, "learned activation scales (activations_lsq) cover one quantizer per layer; "
                                         "this layer needs two");
  return activation_fq(b, li, name, 0, QAT_ACTIVATION_LINEAR, x, fq, out);
}

void qat_link_operands(qat_fq *out, const qat_fq *fa, const qat_tensor *ta, const qat_fq *fb, const qat_tensor *tb,
                       qat_requant kind) {
  out->input = fa;
  out->input2 = fb;
  out->requant_in[0] = ta;
  out->requant_in[1] = tb;
  out->requant = kind;
}

int qat_build_shared_inputs(builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_model *m = b->m;
  const int n = qat_layer_n_inputs(&m->spec, li);
  for (int k = 0; k < n; k++) out[k] = in[k];
  if (!b->quant || m->spec.quantize.activations_lsq) return QAT_OK;
  for (int k = 0; k < n; k++) {
    const int src = qat_layer_input(&m->spec, li, k);
    const qat_fq *sfq = qat_model_source_fq(m, src);
    if ((src >= 0 && m->shared_range[src] == li) || !sfq) continue; /* written straight to the range */
    char name[sizeof(((qat_fq *)0)->name)];
    qat_fq *fq = NULL;
    snprintf(name, sizeof name, "%s/requant_in_%d", m->spec.layers[li].name, k);
    int rc = new_fq(b, QAT_FQ_SHARED, name, 1, -1, &fq);
    if (rc) return rc;
    fq->input = sfq;
    fq->requant_in[0] = in[k];
    fq->requant = QAT_REQUANT_REQUANTIZE;
    fq->params_of = &m->layer_fq[li]; /* this layer's range, or the one it writes to in turn */
    if ((rc = fake_quant(b, li, NULL, in[k], fq, &out[k]))) return rc;
  }
  return QAT_OK;
}

int qat_build_chain(builder *b, int li, qat_op op, const qat_op_attrs *attrs, qat_tensor **in, qat_pair_link link,
                    qat_tensor **out) {
  qat_model *m = b->m;
  const int n = qat_layer_n_inputs(&m->spec, li);
  qat_tensor *acc = in[0];
  const qat_fq *acc_fq = qat_model_source_fq(m, qat_layer_input(&m->spec, li, 0));
  for (int k = 1; k < n; k++) {
    qat_tensor *pair[2] = {acc, in[k]}, *res;
    int rc = qat_graph_add(&m->graph, op, 2, pair, attrs, &res);
    if (rc) return rc;
    if (b->quant && k < n - 1 && !m->spec.quantize.activations_lsq) {
      char suffix[32];
      qat_fq *fq = NULL;
      snprintf(suffix, sizeof suffix, "partial_%d", k);
      if ((rc = qat_build_activation_quant(b, li, suffix, res, &fq, &res))) return rc;
      const qat_fq *fb = qat_model_source_fq(m, qat_layer_input(&m->spec, li, k));
      if (acc_fq && fb) link(fq, acc_fq, acc, fb, in[k]);
      acc_fq = fq;
    }
    acc = res;
  }
  *out = acc;
  return QAT_OK;
}

const qat_fq *qat_model_partial_fq(const qat_model *m, int li, int k, const qat_tensor **out) {
  char name[sizeof(((qat_fq *)0)->name)];
  snprintf(name, sizeof name, "%s_partial_%d", m->spec.layers[li].name, k);
  const qat_fq *fq = qat_model_find_fq(m, name);
  *out = NULL;
  for (int i = 0; fq && i < m->graph.n_nodes && !*out; i++)
    if (qat_node_fq(&m->graph.nodes[i]) == fq) *out = m->graph.nodes[i].output;
  return *out ? fq : NULL;
}

int qat_model_last_pair(const qat_model *m, int head, const qat_fq **fa, const qat_tensor **ta, const qat_fq **fb,
                        const qat_tensor **tb) {
  const int n = qat_layer_n_inputs(&m->spec, head), last = qat_layer_input(&m->spec, head, n - 1);
  if (n == 2) {
    const int first = qat_layer_input(&m->spec, head, 0);
    *fa = qat_model_source_fq(m, first);
    *ta = qat_model_source_tensor(m, first);
  } else if (!(*fa = qat_model_partial_fq(m, head, n - 2, ta))) {
    return 0;
  }
  *fb = qat_model_source_fq(m, last);
  *tb = qat_model_source_tensor(m, last);
  return *fa && *fb && *ta && *tb;
}

qat_fq *qat_model_source_fq(const qat_model *m, int src) { return src < 0 ? m->input_fq : m->layer_fq[src]; }
qat_tensor *qat_model_source_tensor(const qat_model *m, int src) { return src < 0 ? m->input_q : m->layer_out[src]; }
static qat_fq *source_fq(const qat_model *m, int src) { return qat_model_source_fq(m, src); }

/* Gives the output quantizer of the chain that layer `head` starts its int8 op's
 * requantization, where the head's descriptor has one. */
static int link_requant(qat_model *m, int head, qat_fq *out) {
  if (m->spec.quantize.activations_lsq) return QAT_OK; /* a learned scale rounds as it learns */
  const qat_layer_desc *d = qat_layer_desc_of(m->spec.layers[head].type);
  return d->link_requant ? d->link_requant(m, head, out) : QAT_OK;
}

int qat_build_param(builder *b, int layer, const char *suffix, int rank, const int *dims, int trainable,
                    qat_tensor **out) {
  qat_model *m = b->m;
  if (m->n_param_list == b->cap_params) {
    int cap = b->cap_params ? 2 * b->cap_params : 32;
    qat_param *p = realloc(m->param_list, (size_t)cap * sizeof *p);
    if (!p) return qat_fail(QAT_ERR_NOMEM, "out of memory building the model");
    m->param_list = p;
    b->cap_params = cap;
  }
  qat_param *p = &m->param_list[m->n_param_list];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s/%s", layer >= 0 ? m->spec.layers[layer].name : "input", suffix);
  p->layer = layer;
  p->rank = rank;
  p->size = 1;
  for (int i = 0; i < rank; i++) {
    p->dims[i] = dims[i];
    if (dims[i] < 1 || p->size > INT64_MAX / dims[i]) return qat_fail(QAT_ERR_USAGE, "%s: invalid shape", p->name);
    p->size *= dims[i];
  }
  p->trainable = trainable;
  if (p->size > QAT_MAX_PARAMS)
    return qat_fail(QAT_ERR_USAGE, "%s has %lld parameters; qat handles at most %lld per tensor", p->name,
                    (long long)p->size, (long long)QAT_MAX_PARAMS);
  /* data and grad are bound once the flat vectors exist */
  p->tensor = qat_graph_external(&m->graph, rank, dims, NULL, NULL, trainable);
  if (!p->tensor) return QAT_ERR_NOMEM;
  m->n_param_list++;
  *out = p->tensor;
  return QAT_OK;
}

/* A BatchNormalization's parameters: made by the conv it folds into (which needs gamma and the
 * moving variance first) or by the BN layer itself, in the same order either way, so the
 * parameter list (and the seeded initialization) is the same with and without QAT. */
int qat_build_bn_params(builder *b, int bn_layer, int channels, qat_tensor *out[4]) {
  if (b->bn[bn_layer][0]) {
    memcpy(out, b->bn[bn_layer], 4 * sizeof *out);
    return QAT_OK;
  }
  int rc;
  if ((rc = qat_build_param(b, bn_layer, "gamma", 1, &channels, 1, &out[0])) ||
      (rc = qat_build_param(b, bn_layer, "beta", 1, &channels, 1, &out[1])) ||
      (rc = qat_build_param(b, bn_layer, "moving_mean", 1, &channels, 0, &out[2])) ||
      (rc = qat_build_param(b, bn_layer, "moving_variance", 1, &channels, 0, &out[3])))
    return rc;
  memcpy(b->bn[bn_layer], out, 4 * sizeof *out);
  return QAT_OK;
}

/* The int8 range TFLite fixes for LOGISTIC (1/256, -128) and TANH (1/128, 0). */
static void fix_range(qat_fq *fq, qat_activation act) {
  const float s = act == QAT_ACTIVATION_SIGMOID ? 1.0f / 256.0f : 1.0f / 128.0f;
  const int32_t zp = act == QAT_ACTIVATION_SIGMOID ? -128 : 0;
  fq->fixed = 1;
  fq->valid = 1;
  fq->scale[0] = s;
  fq->zero_point[0] = zp;
  fq->nudged_min[0] = (float)(fq->qmin - zp) * s;
  fq->nudged_max[0] = (float)(fq->qmax - zp) * s;
}

/* A function activation with QAT, as the int8 graph computes it: after a conv / dense (the
 * activation as its argument) the op's output is quantized first, its requantization
 * simulated; silu is LOGISTIC (fixed range), then MUL. The layer's output quantizer follows
 * the last op's rule (link_function). */
static int build_function(builder *b, qat_activation act, const qat_op_attrs *a, qat_tensor *x, qat_tensor **out) {
  qat_model *m = b->m;
  const qat_layer_spec *l = &m->spec.layers[b->layer];
  if (m->spec.quantize.activations_lsq)
    return qat_fail(QAT_ERR_UNSUPPORTED, "activation '%s' with learned activation scales (activations_lsq) is not "
                    "supported", qat_activation_name(act));
  qat_fq *in_fq = source_fq(m, b->in_src);
  char name[sizeof(((qat_fq *)0)->name)];
  int rc;
  if (qat_layer_desc_of(l->type)->kernel) {
    snprintf(name, sizeof name, "%s.linear", l->name); /* '/' would nest it in the checkpoint */
    m->layer_out[b->layer] = x; /* the head's output as its link_requant reads it */
    if ((rc = activation_fq(b, b->layer, name, 0, QAT_ACTIVATION_LINEAR, x, &in_fq, &x)) ||
        (rc = link_requant(m, b->layer, in_fq)))
      return rc;
  }
  b->fn = act;
  b->fn_in_fq = in_fq;
  b->fn_in = x;
  if (act != QAT_ACTIVATION_SILU) return qat_graph_add(&m->graph, QAT_OP_ACTIVATION, 1, &x, a, out);
  qat_op_attrs sa = {.act = QAT_ACTIVATION_SIGMOID};
  qat_tensor *sg;
  if ((rc = qat_graph_add(&m->graph, QAT_OP_ACTIVATION, 1, &x, &sa, &sg))) return rc;
  snprintf(name, sizeof name, "%s.sigmoid", l->name);
  if ((rc = activation_fq(b, b->layer, name, 1, QAT_ACTIVATION_LINEAR, sg, &b->fn_mid_fq, &sg))) return rc;
  fix_range(b->fn_mid_fq, QAT_ACTIVATION_SIGMOID);
  b->fn_mid = sg;
  qat_tensor *ins[2] = {x, sg};
  return qat_graph_add(&m->graph, QAT_OP_MUL, 2, ins, NULL, out);
}

/* Layer li writes its int8 op's output straight to a shared range (a Concatenate's) and the
 * op's requantization has a rounding node that reproduces it (see qat_model_create). */
static int rounds_on_shared_range(const builder *b, int li) {
  const qat_model *m = b->m;
  return !b->fq_after[li] && m->shared_range[li] >= 0 && !m->spec.quantize.activations_lsq &&
         b->fn == QAT_ACTIVATION_LINEAR && qat_layer_desc_of(m->spec.layers[m->fused_into[li]].type)->link_requant;
}

/* The output quantizer of a layer that ended in a function activation. */
static void link_function(qat_model *m, const builder *b, int li, qat_fq *fq) {
  if (m->spec.quantize.activations_lsq) return;
  fq->input = b->fn_in_fq;
  fq->requant_in[0] = b->fn_in;
  switch (b->fn) {
  case QAT_ACTIVATION_SIGMOID:
  case QAT_ACTIVATION_TANH: fix_range(fq, b->fn); return;
  case QAT_ACTIVATION_SILU:
    fq->input2 = b->fn_mid_fq;
    fq->requant_in[1] = b->fn_mid;
    fq->requant = QAT_REQUANT_MUL;
    break;
  case QAT_ACTIVATION_LEAKY_RELU:
    fq->alpha = qat_layer_activation_alpha(&m->spec.layers[li], b->fn);
    fq->requant = QAT_REQUANT_LEAKY_RELU;
    break;
  case QAT_ACTIVATION_HARD_SILU: fq->requant = QAT_REQUANT_HARD_SWISH; break;
  default: return; /* ELU: a lookup table of the float function, the plain rounding */
  }
  if (!fq->input) fq->requant = QAT_REQUANT_NONE; /* an input without a quantizer */
}

int qat_build_activation(builder *b, qat_activation act, qat_tensor *x, qat_tensor **out) {
  qat_model *m = b->m;
  int is_out = qat_spec_is_output(&m->spec, b->layer);
  /* The output fake quant applies what the int8 op computes itself, one pass, not two: a ReLU
   * as its clamp, a hard_sigmoid after a conv / depthwise / dense as its requantization */
  const int in_op = act == QAT_ACTIVATION_RELU || act == QAT_ACTIVATION_RELU6 || act == QAT_ACTIVATION_RELU_MAX ||
                    (act == QAT_ACTIVATION_HARD_SIGMOID && !m->spec.quantize.activations_lsq &&
                     (m->fused_into[b->layer] != b->layer || takes_hard_sigmoid(&m->spec.layers[b->layer])));
  if (b->quant && b->fq_after[b->layer] && in_op) {
    b->pending = act;
    *out = x;
    return QAT_OK;
  }
  switch (act) {
  case QAT_ACTIVATION_RELU: return qat_graph_add(&m->graph, QAT_OP_RELU, 1, &x, NULL, out);
  case QAT_ACTIVATION_RELU6: return qat_graph_add(&m->graph, QAT_OP_RELU6, 1, &x, NULL, out);
  case QAT_ACTIVATION_RELU_MAX: {
    /* a shared range's rounding node caps it on the integers, as the int8 op's RELU and the
     * MINIMUM after it do (the rounding of a capped float could land one step lower) */
    if (b->quant && rounds_on_shared_range(b, b->layer)) return qat_graph_add(&m->graph, QAT_OP_RELU, 1, &x, NULL, out);
    qat_op_attrs a = {.act = act, .alpha = qat_layer_activation_alpha(&m->spec.layers[b->layer], act)};
    return qat_graph_add(&m->graph, QAT_OP_ACTIVATION, 1, &x, &a, out);
  }
  case QAT_ACTIVATION_SOFTMAX:
    if (!is_out)
      return qat_fail(QAT_ERR_USAGE, "softmax is only supported as the activation of a model output");
    for (int k = 0; k < qat_spec_n_outputs(&m->spec); k++)
      if (qat_spec_output_layer(&m->spec, k) == b->layer) m->heads[k].final_softmax = 1;
    *out = x;
    return QAT_OK;
  case QAT_ACTIVATION_LINEAR: *out = x; return QAT_OK;
  default: {
    qat_op_attrs a = {.act = act, .alpha = qat_layer_activation_alpha(&m->spec.layers[b->layer], act)};
    if (!b->quant) return qat_graph_add(&m->graph, QAT_OP_ACTIVATION, 1, &x, &a, out);
    return build_function(b, act, &a, x, out);
  }
  }
}

/* Weight fake quant (per channel along `axis`, or per tensor) and, for an unfolded bias, the
 * bias's int32 grid at input scale x weight scale. */
int qat_build_weight_quant(builder *b, int li, const char *kernel, int axis, int channels, qat_tensor **w,
                           qat_tensor **bias) {
  if (!b->quant) return QAT_OK;
  qat_model *m = b->m;
  const qat_layer_spec *l = &m->spec.layers[li];
  char name[sizeof(((qat_fq *)0)->name)];
  int per_tensor = m->spec.quantize.weights_per_tensor;
  qat_fq *wfq = NULL, *bfq = NULL;
  snprintf(name, sizeof name, "%s/%s", l->name, kernel);
  int rc = new_fq(b, QAT_FQ_WEIGHT, name, per_tensor ? 1 : channels, per_tensor ? -1 : axis, &wfq);
  if (rc) return rc;
  wfq->learned = m->spec.quantize.weights_lsq;
  if ((rc = fake_quant(b, li, "lsq_weight_scale", *w, wfq, w))) return rc;
  if (!*bias) return QAT_OK;
  snprintf(name, sizeof name, "%s/bias", l->name);
  if ((rc = new_fq(b, QAT_FQ_BIAS, name, channels, 0, &bfq))) return rc;
  bfq->input = b->bias_input ? b->bias_input : source_fq(m, b->in_src);
  bfq->weight = wfq;
  QAT_ASSERT(bfq->input);
  return fake_quant(b, li, NULL, *bias, bfq, bias);
}

qat_op_attrs qat_build_attrs(const qat_layer_spec *l) {
  qat_op_attrs a = {0};
  a.kernel[0] = l->kernel_size[0];
  a.kernel[1] = l->kernel_size[1];
  a.strides[0] = l->strides[0];
  a.strides[1] = l->strides[1];
  a.dilation[0] = l->dilation_rate[0];
  a.dilation[1] = l->dilation_rate[1];
  a.padding = l->padding;
  return a;
}

/* Kernels first (weight decay applies to a prefix), then biases and BN gamma/beta; moving
 * statistics go to the state vector. */
static int place_params(qat_model *m) {
  int64_t off = 0, state = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < m->n_param_list; i++) {
      qat_param *p = &m->param_list[i];
      if (!p->trainable) continue;
      int is_kernel = strstr(p->name, "kernel") != NULL;
      if (is_kernel != (pass == 0)) continue;
      p->offset = off;
      off += p->size;
      if (pass == 0) m->n_decay = off;
    }
  for (int i = 0; i < m->n_param_list; i++)
    if (!m->param_list[i].trainable) {
      m->param_list[i].offset = state;
      state += m->param_list[i].size;
    }
  m->n_params = off;
  m->n_state = state;
  m->params = calloc((size_t)(off ? off : 1), sizeof(float));
  /* and a second copy, for the batch's second half (qat_exec.halves) */
  m->grads = calloc((size_t)(off ? 2 * off : 1), sizeof(float));
  m->state = calloc((size_t)(state ? state : 1), sizeof(float));
  if (!m->params || !m->grads || !m->state) return qat_fail(QAT_ERR_NOMEM, "out of memory for %lld parameters", (long long)off);
  for (int i = 0; i < m->n_param_list; i++) {
    qat_param *p = &m->param_list[i];
    if (p->trainable) {
      p->tensor->data = m->params + p->offset;
      p->tensor->grad = m->grads + p->offset;
      p->tensor->grad_half = off;
    } else {
      p->tensor->data = m->state + p->offset;
    }
  }
  return QAT_OK;
}

static void glorot_uniform(qat_rng *rng, float *w, int64_t n, double fan_in, double fan_out) {
  float limit = (float)sqrt(6.0 / (fan_in + fan_out));
  for (int64_t i = 0; i < n; i++) w[i] = limit * (2.0f * qat_rng_uniform(rng) - 1.0f);
}

void qat_model_init_params(qat_model *m, uint64_t seed) {
  qat_rng rng;
  qat_rng_seed(&rng, seed);
  for (int i = 0; i < m->n_param_list; i++) {
    qat_param *p = &m->param_list[i];
    float *d = p->tensor->data;
    const char *suffix = strrchr(p->name, '/') + 1;
    if ((!strcmp(suffix, "kernel") || !strcmp(suffix, "pointwise_kernel")) && p->rank == 4) {
      /* OHWI: Keras counts fans over the receptive field: kh*kw*in and kh*kw*out */
      double rf = (double)p->dims[1] * p->dims[2];
      glorot_uniform(&rng, d, p->size, rf * p->dims[3], rf * p->dims[0]);
    } else if (!strcmp(suffix, "depthwise_kernel")) {
      /* Keras's depthwise kernel is [kh, kw, C, M]: fan_in kh*kw*C, fan_out kh*kw*M */
      const qat_layer_spec *l = &m->spec.layers[p->layer];
      double rf = (double)p->dims[1] * p->dims[2];
      int mult = l->depth_multiplier, c = p->dims[3] / mult;
      glorot_uniform(&rng, d, p->size, rf * c, rf * mult);
    } else if (!strcmp(suffix, "kernel")) {
      glorot_uniform(&rng, d, p->size, p->dims[1], p->dims[0]); /* dense [out, in] */
    } else {
      float v = (!strcmp(suffix, "gamma") || !strcmp(suffix, "moving_variance")) ? 1.0f : 0.0f;
      for (int64_t k = 0; k < p->size; k++) d[k] = v;
    }
  }
}

static int is_class_loss(qat_loss l) {
  return l == QAT_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY || l == QAT_LOSS_CATEGORICAL_CROSSENTROPY;
}

/* The loss node of output h: softmax cross-entropy over its last axis (one distribution per
 * sample, or per position of a [N, ..., K] output), or a value loss against a targets tensor of
 * the output's shape; weighted by its loss weight. */
static int build_loss(qat_model *m, int h, int max_batch) {
  const qat_model_spec *spec = &m->spec;
  qat_head *hd = &m->heads[h];
  qat_tensor *y = hd->out;
  const qat_activation last = spec->layers[hd->layer].activation;
  if (is_class_loss(hd->loss)) {
    if (y->rank < 2 || y->dims[y->rank - 1] < 2)
      return qat_fail(QAT_ERR_USAGE, "%s needs an output [batch, ..., classes] with 2 or more classes, got %d values "
                      "(a regression output takes train.loss: mean_squared_error, mean_absolute_error or huber; a "
                      "sigmoid one binary_crossentropy)",
                      qat_loss_name(hd->loss), y->rank < 2 ? 1 : y->dims[y->rank - 1]);
    hd->num_classes = y->dims[y->rank - 1];
    hd->positions = qat_tensor_size(y) / y->dims[0] / hd->num_classes;
    hd->labels = calloc((size_t)(max_batch > 0 ? max_batch : 1) * (size_t)hd->positions, sizeof *hd->labels);
    if (!hd->labels) return qat_fail(QAT_ERR_NOMEM, "out of memory");
    qat_op_attrs a = {.labels = hd->labels, .loss_weight = hd->weight};
    return qat_graph_add(&m->graph, QAT_OP_SOFTMAX_CROSS_ENTROPY, 1, &hd->out, &a, &hd->loss_out);
  }
  if (hd->final_softmax)
    return qat_fail(QAT_ERR_USAGE, "%s after a softmax: a softmax output takes a categorical cross-entropy",
                    qat_loss_name(hd->loss));
  qat_op_attrs a = {.loss_weight = hd->weight};
  switch (hd->loss) {
  case QAT_LOSS_BINARY_CROSSENTROPY:
    if (!spec->from_logits && last != QAT_ACTIVATION_SIGMOID)
      return qat_fail(QAT_ERR_USAGE, "binary_crossentropy on an output without a sigmoid: give the layer "
                                     "activation: sigmoid, or set train.from_logits: true");
    if (spec->from_logits && last == QAT_ACTIVATION_SIGMOID)
      return qat_fail(QAT_ERR_USAGE, "train.from_logits: true, but the layer ends in a sigmoid (its output is "
                                     "probabilities): drop one of the two");
    a.loss = spec->from_logits ? QAT_VALUE_LOSS_BCE_LOGITS : QAT_VALUE_LOSS_BCE;
    break;
  case QAT_LOSS_MEAN_ABSOLUTE_ERROR: a.loss = QAT_VALUE_LOSS_MAE; break;
  case QAT_LOSS_HUBER: a.loss = QAT_VALUE_LOSS_HUBER; break;
  default: a.loss = QAT_VALUE_LOSS_MSE; break;
  }
  hd->targets = qat_graph_input(&m->graph, y->rank - 1, y->dims + 1, 0);
  if (!hd->targets) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  qat_tensor *in[2] = {hd->out, hd->targets};
  return qat_graph_add(&m->graph, QAT_OP_VALUE_LOSS, 2, in, &a, &hd->loss_out);
}

/* Every output's loss, then (several outputs) their sum: the node backward starts from. */
static int build_losses(qat_model *m, int max_batch) {
  const qat_model_spec *spec = &m->spec;
  m->n_heads = qat_spec_n_outputs(spec);
  m->n_forward = m->graph.n_nodes;
  qat_tensor *losses[QAT_MAX_OUTPUTS];
  for (int h = 0; h < m->n_heads; h++) {
    qat_head *hd = &m->heads[h];
    hd->layer = qat_spec_output_layer(spec, h);
    hd->loss = qat_spec_output_loss(spec, h);
    hd->weight = qat_spec_loss_weight(spec, h);
    hd->out = m->layer_out[hd->layer];
    int rc = build_loss(m, h, max_batch);
    if (rc) {
      const qat_layer_spec *l = &spec->layers[hd->layer];
      return qat_fail_prefix(rc, "%s:%d:%d: layer '%s': ", spec->source ? spec->source : "model", l->line, l->column,
                             l->name);
    }
    losses[h] = hd->loss_out;
  }
  const qat_head *first = &m->heads[0];
  m->logits = first->out;
  m->labels = first->labels;
  m->positions = first->positions;
  m->targets = first->targets;
  m->num_classes = first->num_classes;
  m->final_softmax = first->final_softmax;
  if (m->n_heads == 1) {
    m->loss = first->loss_out;
    return QAT_OK;
  }
  snprintf(m->metric_label, sizeof m->metric_label, "%s_%s", spec->layers[first->layer].name,
           qat_model_head_metric_name(m, 0));
  qat_op_attrs a = {0};
  return qat_graph_add(&m->graph, QAT_OP_ADD, m->n_heads, losses, &a, &m->loss);
}

int qat_model_create(qat_model **out, const qat_model_spec *spec, int max_batch, uint64_t seed) {
  *out = NULL;
  qat_model *m = calloc(1, sizeof *m);
  if (!m) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  int rc;
  builder b = {.m = m};
  m->spec = *spec;
  m->spec.layers = malloc((size_t)(spec->n_layers ? spec->n_layers : 1) * sizeof *spec->layers);
  m->layer_out = calloc((size_t)(spec->n_layers ? spec->n_layers : 1), sizeof *m->layer_out);
  if (!m->spec.layers || !m->layer_out) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto free_model;
  }
  if (spec->n_layers > 0) memcpy(m->spec.layers, spec->layers, (size_t)spec->n_layers * sizeof *spec->layers);
  /* the model outlives the config it was built from: own the strings */
  m->spec.source = spec->source ? strdup(spec->source) : NULL;
  m->spec.init = spec->init ? strdup(spec->init) : NULL;
  if ((spec->source && !m->spec.source) || (spec->init && !m->spec.init)) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto free_model;
  }
  m->max_batch = max_batch;
  /* batch norm of a fine-tune: weights from a file keep their statistics from the first step
   * (Keras's fine-tuning advice: BN layers in inference mode); a fresh network learns them */
  if (m->spec.quantize.freeze_bn_after == QAT_FREEZE_BN_AUTO)
    m->spec.quantize.freeze_bn_after = spec->init || spec->keras ? QAT_FREEZE_BN_START : 0;
  if (spec->n_layers < 1) {
    rc = qat_fail(QAT_ERR_USAGE, "%s: the model has no layers", spec->source ? spec->source : "model");
    goto free_model;
  }
  for (int i = 0; i < 3; i++)
    if (spec->input_shape[i] < 1) {
      rc = qat_fail(QAT_ERR_USAGE, "%s: model input shape must be [H, W, C] with positive sizes",
                    spec->source ? spec->source : "model");
      goto free_model;
    }
  {
    /* Checked before anything is allocated, so an absurd shape is a message about the
     * config, not an allocation failure of tens of gigabytes. */
    int64_t values = (int64_t)spec->input_shape[0] * spec->input_shape[1] * spec->input_shape[2];
    if (values > QAT_MAX_INPUT_VALUES) {
      rc = qat_fail(QAT_ERR_USAGE, "%s: model input [%d, %d, %d] has %lld values per sample (qat takes at most %lld)",
                    spec->source ? spec->source : "model", spec->input_shape[0], spec->input_shape[1],
                    spec->input_shape[2], (long long)values, (long long)QAT_MAX_INPUT_VALUES);
      goto free_model;
    }
  }
  if ((rc = qat_graph_init(&m->graph, max_batch))) goto free_model;
  /* a vector [F] is the rank-2 [N, F] that Dense takes; a sequence the image [N, 1, T, C] */
  m->input = qat_spec_input_rank(spec) == 1 ? qat_graph_input(&m->graph, 1, &spec->input_shape[2], 0)
                                            : qat_graph_input(&m->graph, 3, spec->input_shape, 0);
  if (!m->input) {
    rc = qat_fail_prefix(QAT_ERR_NOMEM, "%s: model input [%d, %d, %d] at batch %d: ", spec->source ? spec->source : "model",
                         spec->input_shape[0], spec->input_shape[1], spec->input_shape[2], max_batch);
    goto free_model;
  }
  b.input_q = m->input;
  b.quant = spec->quantize.enabled;
  m->input_q = m->input;
  m->layer_fq = calloc((size_t)spec->n_layers, sizeof *m->layer_fq);
  m->fold_bn = malloc((size_t)spec->n_layers * sizeof *m->fold_bn);
  m->fused_into = malloc((size_t)spec->n_layers * sizeof *m->fused_into);
  m->shared_range = malloc((size_t)spec->n_layers * sizeof *m->shared_range);
  b.fq_after = calloc((size_t)spec->n_layers, sizeof *b.fq_after);
  b.bn = calloc((size_t)spec->n_layers, sizeof *b.bn);
  if (!m->layer_fq || !m->fold_bn || !m->fused_into || !m->shared_range || !b.fq_after || !b.bn) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto free_model;
  }
  for (int i = 0; i < spec->n_layers; i++) m->fold_bn[i] = -1;
  if ((rc = plan_quantization(&b))) goto free_model;
  if (b.quant) {
    /* the loaders scale pixels to [0, 1] */
    if ((rc = activation_fq(&b, -1, "input", 1, QAT_ACTIVATION_LINEAR, m->input, &m->input_fq, &b.input_q)))
      goto free_model;
    m->input_q = b.input_q;
  }
  for (int li = 0; li < spec->n_layers; li++) {
    const qat_layer_spec *l = &spec->layers[li];
    qat_tensor *in[QAT_MAX_LAYER_INPUTS];
    int n_in = qat_layer_n_inputs(spec, li);
    for (int k = 0; k < n_in; k++) {
      int src = qat_layer_input(spec, li, k);
      QAT_ASSERT(src >= -1 && src < li); /* the config resolved names to earlier layers */
      in[k] = src < 0 ? b.input_q : m->layer_out[src];
    }
    int in_src = qat_layer_input(spec, li, 0);
    b.layer = li;
    b.in_src = in_src;
    b.pending = QAT_ACTIVATION_LINEAR;
    b.fn = QAT_ACTIVATION_LINEAR;
    b.bias_input = NULL;
    const int in_rank = qat_layer_keras_rank(spec, in_src);
    if ((qat_layer_desc_of(l->type)->roles & QAT_LAYER_ONE_D) && in_rank != 2)
      rc = qat_fail(QAT_ERR_USAGE, "a 1-D layer takes a [steps, channels] input, got one of rank %d", in_rank);
    else if (l->padding == QAT_PADDING_CAUSAL && l->type != QAT_LAYER_CONV1D)
      rc = qat_fail(QAT_ERR_UNSUPPORTED, "padding 'causal' is supported on Conv1D only");
    else
      rc = qat_layer_desc_of(l->type)->build(&b, li, in, &m->layer_out[li]);
    if (!rc && b.quant) {
      if (b.fq_after[li]) {
        qat_fq *fq = NULL;
        int non_negative = is_relu(l) || l->activation == QAT_ACTIVATION_RELU || l->activation == QAT_ACTIVATION_RELU6;
        rc = activation_fq(&b, li, l->name, non_negative, b.pending, m->layer_out[li], &fq, &m->layer_out[li]);
        m->layer_fq[li] = fq;
        if (!rc && b.fn != QAT_ACTIVATION_LINEAR) link_function(m, &b, li, fq);
        else if (!rc) rc = link_requant(m, m->fused_into[li], fq);
        /* the inputs (and their inputs, through nested concatenations) quantized by this one */
        for (int s = 0; s < li; s++) {
          int owner = m->shared_range[s];
          while (owner >= 0 && m->shared_range[owner] >= 0) owner = m->shared_range[owner];
          if (owner == li) m->layer_fq[s] = fq;
        }
      } else if (rounds_on_shared_range(&b, li)) {
        /* written straight to a shared range (a Concatenate's): the int8 op requantizes its
         * accumulator to that range itself, so a rounding node reproduces its rounding with the
         * range's parameters (params_of: the slot the owner's quantizer fills when it is made) */
        char name[sizeof(((qat_fq *)0)->name)];
        qat_fq *fq = NULL;
        snprintf(name, sizeof name, "%s/requant", l->name);
        rc = new_fq(&b, QAT_FQ_SHARED, name, 1, -1, &fq);
        if (!rc) fq->params_of = &m->layer_fq[li];
        if (!rc && qat_layer_fusable_activation(l) == QAT_ACTIVATION_RELU_MAX) {
          fq->act = QAT_ACTIVATION_RELU_MAX;
          fq->alpha = qat_layer_activation_alpha(l, fq->act);
        }
        if (!rc) rc = link_requant(m, m->fused_into[li], fq);
        if (!rc && fq->requant != QAT_REQUANT_NONE) rc = fake_quant(&b, li, NULL, m->layer_out[li], fq, &m->layer_out[li]);
      } else if (keeps_input_range(l)) {
        m->layer_fq[li] = source_fq(m, in_src);
        if (qat_layer_desc_of(l->type)->link_requant && !spec->quantize.activations_lsq && m->layer_fq[li]) {
          /* the op keeps its input's scale and zero point but rounds on its own (AVERAGE_POOL_2D):
           * a rounding node on that grid, no range of its own */
          char name[sizeof(((qat_fq *)0)->name)];
          qat_fq *fq = NULL;
          snprintf(name, sizeof name, "%s/rounding", l->name);
          rc = new_fq(&b, QAT_FQ_SHARED, name, 1, -1, &fq);
          if (!rc) rc = qat_layer_desc_of(l->type)->link_requant(m, li, fq);
          if (!rc) rc = fake_quant(&b, li, NULL, m->layer_out[li], fq, &m->layer_out[li]);
        }
      }
    }
    if (rc) {
      qat_fail_prefix(rc, "%s:%d:%d: layer '%s' (%s): ", spec->source ? spec->source : "model", l->line,
                      l->column, l->name, layer_names(l->type));
      goto free_model;
    }
  }
  if ((rc = build_losses(m, max_batch))) goto free_model;
  if ((rc = place_params(m))) goto free_model;
  qat_model_init_params(m, seed);
  free(b.fq_after);
  free(b.bn);
  *out = m;
  return QAT_OK;
free_model:
  free(b.fq_after);
  free(b.bn);
  qat_model_free(m);
  return rc;
}

void qat_model_free(qat_model *m) {
  if (!m) return;
  qat_graph_free(&m->graph);
  free(m->spec.layers);
  free((char *)m->spec.source);
  free(m->spec.init);
  free(m->layer_out);
  for (int h = 0; h < m->n_heads; h++) free(m->heads[h].labels);
  free(m->param_list);
  for (int i = 0; i < m->n_fq; i++) {
    free(m->fq[i]->requant_eff);
    free(m->fq[i]);
  }
  free(m->fq);
  free(m->layer_fq);
  free(m->fold_bn);
  free(m->fused_into);
  free(m->shared_range);
  free(m->params);
  free(m->grads);
  free(m->state);
  free(m);
}

static void load_input(qat_model *m, const float *x, int n) {
  QAT_ASSERT(n >= 1 && n <= m->max_batch);
  qat_graph_set_batch(&m->graph, n);
  memcpy(m->input->data, x, (size_t)qat_tensor_size(m->input) * sizeof(float));
}

void qat_model_forward(qat_model *m, const float *x, int n, const qat_exec *ex) {
  load_input(m, x, n);
  /* every node but the losses */
  qat_graph *g = &m->graph;
  for (int i = 0; i < m->n_forward; i++) qat_node_info(&g->nodes[i])->forward(&g->nodes[i], ex);
}

void qat_model_set_targets(qat_model *m, const float *targets, int n) {
  QAT_ASSERT(m->targets && n >= 1 && n <= m->max_batch);
  const int64_t per = qat_tensor_size(m->logits) / m->logits->dims[0];
  memcpy(m->targets->data, targets, (size_t)n * (size_t)per * sizeof *targets);
}

const char *qat_model_head_metric_name(const qat_model *m, int h) {
  const qat_head *hd = &m->heads[h];
  return !hd->targets || hd->loss == QAT_LOSS_BINARY_CROSSENTROPY ? "accuracy" : "mae";
}
/* With several outputs the reported metric is the first output's, named after it (Keras's
 * "cls_accuracy"). */
const char *qat_model_metric_name(const qat_model *m) {
  return m->n_heads > 1 ? m->metric_label : qat_model_head_metric_name(m, 0);
}

double qat_model_head_metric(const qat_model *m, int h, int n) {
  const qat_head *hd = &m->heads[h];
  const float *y = hd->out->data;
  double total = 0.0;
  if (!hd->targets) {
    const int k = hd->num_classes;
    int64_t correct = 0;
    for (int64_t r = 0; r < (int64_t)n * hd->positions; r++) {
      const float *row = y + r * k;
      int best = 0;
      for (int j = 1; j < k; j++)
        if (row[j] > row[best]) best = j;
      correct += best == hd->labels[r];
    }
    return (double)correct / (double)hd->positions;
  }
  const int64_t per = qat_tensor_size(hd->out) / n;
  const float *t = hd->targets->data;
  if (hd->loss == QAT_LOSS_BINARY_CROSSENTROPY) { /* Keras's binary_accuracy: threshold 0.5 */
    const float cut = m->spec.from_logits ? 0.0f : 0.5f;
    int64_t correct = 0;
    for (int64_t k = 0; k < (int64_t)n * per; k++) correct += (y[k] > cut) == (t[k] > 0.5f);
    return (double)correct / (double)per;
  }
  for (int64_t k = 0; k < (int64_t)n * per; k++) total += fabs((double)y[k] - (double)t[k]);
  return total / (double)per;
}

int64_t qat_model_head_target_len(const qat_model *m, int h) {
  const qat_head *hd = &m->heads[h];
  return hd->targets ? qat_tensor_size(hd->targets) / hd->targets->dims[0] : hd->positions;
}

void qat_model_set_row_targets(qat_model *m, const float *rows, int n) {
  QAT_ASSERT(n >= 1 && n <= m->max_batch);
  int64_t row = 0, off = 0;
  for (int h = 0; h < m->n_heads; h++) row += qat_model_head_target_len(m, h);
  for (int h = 0; h < m->n_heads; h++) {
    const qat_head *hd = &m->heads[h];
    const int64_t len = qat_model_head_target_len(m, h);
    for (int s = 0; s < n; s++) {
      const float *src = rows + s * row + off;
      if (hd->targets) memcpy(hd->targets->data + s * len, src, (size_t)len * sizeof *src);
      else
        for (int64_t k = 0; k < len; k++) hd->labels[s * len + k] = (int32_t)src[k];
    }
    off += len;
  }
}

void qat_model_step(qat_model *m, const float *x, const int32_t *labels, int n, const qat_exec *ex,
                    int backward, float *loss, double *metric) {
  load_input(m, x, n);
  if (labels && !m->targets) memcpy(m->labels, labels, (size_t)n * (size_t)m->positions * sizeof *labels);
  qat_graph_forward(&m->graph, ex);
  if (backward) {
    qat_zero_floats(m->grads, (ex->halves ? 2 : 1) * m->n_params);
    qat_graph_backward(&m->graph, ex);
    if (ex->halves) { /* what the allreduce does over 2 ranks */
      float *restrict g = m->grads;
      const float *restrict second = m->grads + m->n_params;
      for (int64_t i = 0; i < m->n_params; i++) g[i] += second[i];
    }
  }
  if (loss) *loss = m->loss->data[0];
  if (metric) *metric = qat_model_head_metric(m, 0, n);
}

int qat_model_grad_segments(const qat_model *m, qat_grad_segment *seg) {
  const int n_nodes = m->graph.n_nodes;
  int n = 0;
  for (int p = 0; p < m->n_param_list; p++) {
    const qat_param *q = &m->param_list[p];
    if (!q->trainable || q->size < 1) continue;
    /* final after its lowest-index reader; after the last node when none reads it */
    int first = n_nodes - 1;
    for (int j = 0; j < n_nodes - 1 && first == n_nodes - 1; j++)
      for (int k = 0; k < m->graph.nodes[j].n_inputs; k++) {
        const qat_tensor *t = m->graph.nodes[j].inputs[k];
        if (!t->grad || t->grad < m->grads || t->grad >= m->grads + m->n_params) continue;
        const int64_t off = t->grad - m->grads, size = qat_tensor_size(t);
        if (off < q->offset + q->size && off + size > q->offset) {
          first = j;
          break;
        }
      }
    seg[n++] = (qat_grad_segment){.offset = q->offset, .size = q->size, .ready_after = first};
  }
  return n;
}

const qat_param *qat_model_find_param(const qat_model *m, const char *name) {
  for (int i = 0; i < m->n_param_list; i++)
    if (!strcmp(m->param_list[i].name, name)) return &m->param_list[i];
  return NULL;
}

int64_t qat_model_trainable_count(const qat_model *m) { return m->n_params; }

const qat_fq *qat_model_find_fq(const qat_model *m, const char *name) {
  for (int i = 0; i < m->n_fq; i++)
    if (!strcmp(m->fq[i]->name, name)) return m->fq[i];
  return NULL;
}

void qat_model_absorb_folded_bias(qat_model *m) {
  char name[sizeof(((qat_param *)0)->name)];
  for (int li = 0; li < m->spec.n_layers; li++) {
    int bn = m->fold_bn ? m->fold_bn[li] : -1;
    if (bn < 0 || !m->spec.layers[li].use_bias) continue;
    snprintf(name, sizeof name, "%s/bias", m->spec.layers[li].name);
    const qat_param *bias = qat_model_find_param(m, name);
    snprintf(name, sizeof name, "%s/moving_mean", m->spec.layers[bn].name);
    const qat_param *mean = qat_model_find_param(m, name);
    QAT_ASSERT(bias && mean && bias->size == mean->size);
    /* BN(conv + b) with moving mean mu equals BN(conv) with moving mean mu - b */
    for (int64_t c = 0; c < bias->size; c++) {
      mean->tensor->data[c] -= bias->tensor->data[c];
      bias->tensor->data[c] = 0.0f;
    }
  }
}

void qat_model_schedule(const qat_model *m, int64_t step, qat_exec *ex) {
  const qat_quantize_spec *q = &m->spec.quantize;
  ex->fake_quant = q->enabled && step >= q->delay;
  ex->freeze_observers = q->enabled && q->freeze_observers_after > 0 && step >= q->freeze_observers_after;
  ex->freeze_bn = q->enabled && (q->freeze_bn_after == QAT_FREEZE_BN_START ||
                                 (q->freeze_bn_after > 0 && step >= q->freeze_bn_after));
}

void qat_model_summary(const qat_model *m, FILE *f) {
  fprintf(f, "%-28s %-24s %-18s %10s\n", "Layer (type)", "", "Output Shape", "Param #");
  for (int li = 0; li < m->spec.n_layers; li++) {
    const qat_layer_spec *l = &m->spec.layers[li];
    const qat_tensor *t = m->layer_out[li];
    char shape[64] = "(None";
    size_t k = strlen(shape);
    for (int d = 1; d < t->rank; d++) k += (size_t)snprintf(shape + k, sizeof shape - k, ", %d", t->dims[d]);
    snprintf(shape + k, sizeof shape - k, ")");
    int64_t count = 0;
    for (int i = 0; i < m->n_param_list; i++)
      if (m->param_list[i].layer == li) count += m->param_list[i].size;
    fprintf(f, "%-28s %-24s %-18s %10lld\n", l->name, layer_names(l->type), shape, (long long)count);
  }
  /* from the vectors, so parameters owned by no layer (the input's LSQ step size) count too */
  fprintf(f, "Total params: %lld (trainable %lld, non-trainable %lld)\n", (long long)(m->n_params + m->n_state),
          (long long)m->n_params, (long long)m->n_state);
}
