/* Model building: one function per Keras layer type turns a layer spec into graph nodes;
 * parameters are registered while the graph is built and placed in the flat vectors after. */
#include "qat/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "qat/rng.h"

static const char *const layer_names[] = {
#define QAT_LAYER_NAME(e, cls, stem) cls,
    QAT_LAYER_TYPES(QAT_LAYER_NAME)
#undef QAT_LAYER_NAME
};

typedef struct builder {
  qat_model *m;
  int cap_params;
} builder;

static int add_param(builder *b, int layer, const char *suffix, int rank, const int *dims, int trainable,
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
  snprintf(p->name, sizeof p->name, "%s/%s", m->spec.layers[layer].name, suffix);
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

static int add_activation(qat_model *m, qat_activation act, int is_last, qat_tensor *x, qat_tensor **out) {
  switch (act) {
  case QAT_ACTIVATION_RELU: return qat_graph_add(&m->graph, QAT_OP_RELU, 1, &x, NULL, out);
  case QAT_ACTIVATION_RELU6: return qat_graph_add(&m->graph, QAT_OP_RELU6, 1, &x, NULL, out);
  case QAT_ACTIVATION_SOFTMAX:
    if (!is_last)
      return qat_fail(QAT_ERR_USAGE, "softmax is only supported as the activation of the last layer");
    m->final_softmax = 1;
    *out = x;
    return QAT_OK;
  case QAT_ACTIVATION_LINEAR:
  default: *out = x; return QAT_OK;
  }
}

static int build_layer(builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_model *m = b->m;
  const qat_layer_spec *l = &m->spec.layers[li];
  int is_last = li == m->spec.n_layers - 1;
  qat_tensor *x = in[0], *w = NULL, *bias = NULL;
  qat_op_attrs a = {0};
  a.kernel[0] = l->kernel_size[0];
  a.kernel[1] = l->kernel_size[1];
  a.strides[0] = l->strides[0];
  a.strides[1] = l->strides[1];
  a.padding = l->padding;
  int rc = QAT_OK;
  switch (l->type) {
  case QAT_LAYER_CONV2D:
  case QAT_LAYER_DEPTHWISE_CONV2D: {
    int dw = l->type == QAT_LAYER_DEPTHWISE_CONV2D;
    if (x->rank != 4)
      return qat_fail(QAT_ERR_USAGE, "expects an input [batch,H,W,C], got rank %d", x->rank);
    int cin = x->dims[3], cout = dw ? cin * l->depth_multiplier : l->filters;
    int wd[4] = {dw ? 1 : cout, l->kernel_size[0], l->kernel_size[1], dw ? cout : cin};
    if ((rc = add_param(b, li, dw ? "depthwise_kernel" : "kernel", 4, wd, 1, &w))) return rc;
    if (l->use_bias && (rc = add_param(b, li, "bias", 1, &cout, 1, &bias))) return rc;
    a.depth_multiplier = l->depth_multiplier;
    qat_tensor *ins[3] = {x, w, bias};
    qat_tensor *conv;
    if ((rc = qat_graph_add(&m->graph, dw ? QAT_OP_DEPTHWISE_CONV2D : QAT_OP_CONV2D, bias ? 3 : 2, ins, &a, &conv)))
      return rc;
    return add_activation(m, l->activation, is_last, conv, out);
  }
  case QAT_LAYER_DENSE: {
    if (x->rank != 2)
      return qat_fail(QAT_ERR_USAGE, "Dense expects a flat input [batch, features], got rank %d (add Flatten before it)",
                      x->rank);
    int wd[2] = {l->units, x->dims[1]};
    if ((rc = add_param(b, li, "kernel", 2, wd, 1, &w))) return rc;
    if (l->use_bias && (rc = add_param(b, li, "bias", 1, &l->units, 1, &bias))) return rc;
    qat_tensor *dense;
    if ((rc = qat_graph_add(&m->graph, QAT_OP_DENSE, bias ? 3 : 2, (qat_tensor *[]){x, w, bias}, &a, &dense)))
      return rc;
    return add_activation(m, l->activation, is_last, dense, out);
  }
  case QAT_LAYER_MAX_POOL2D:
  case QAT_LAYER_AVG_POOL2D:
    a.kernel[0] = l->pool_size[0];
    a.kernel[1] = l->pool_size[1];
    return qat_graph_add(&m->graph, l->type == QAT_LAYER_MAX_POOL2D ? QAT_OP_MAX_POOL2D : QAT_OP_AVG_POOL2D, 1,
                         &x, &a, out);
  case QAT_LAYER_GLOBAL_AVG_POOL2D: return qat_graph_add(&m->graph, QAT_OP_GLOBAL_AVG_POOL2D, 1, &x, &a, out);
  case QAT_LAYER_BATCH_NORM: {
    int c = x->dims[x->rank - 1];
    qat_tensor *gamma, *beta, *mean, *var;
    if ((rc = add_param(b, li, "gamma", 1, &c, 1, &gamma)) || (rc = add_param(b, li, "beta", 1, &c, 1, &beta)) ||
        (rc = add_param(b, li, "moving_mean", 1, &c, 0, &mean)) ||
        (rc = add_param(b, li, "moving_variance", 1, &c, 0, &var)))
      return rc;
    a.momentum = l->momentum;
    a.epsilon = l->epsilon;
    return qat_graph_add(&m->graph, QAT_OP_BATCH_NORM, 5, (qat_tensor *[]){x, gamma, beta, mean, var}, &a, out);
  }
  case QAT_LAYER_RELU:
    return add_activation(m, l->max_value == 6.0f ? QAT_ACTIVATION_RELU6 : QAT_ACTIVATION_RELU, is_last, x, out);
  case QAT_LAYER_ACTIVATION: return add_activation(m, l->activation, is_last, x, out);
  case QAT_LAYER_DROPOUT:
    a.rate = l->rate;
    return qat_graph_add(&m->graph, QAT_OP_DROPOUT, 1, &x, &a, out);
  case QAT_LAYER_FLATTEN: {
    int64_t n = qat_tensor_size(x) / x->dims[0];
    if (n > INT32_MAX) return qat_fail(QAT_ERR_USAGE, "Flatten output of %lld values is too large", (long long)n);
    a.target_rank = 1;
    a.target_shape[0] = (int)n;
    return qat_graph_add(&m->graph, QAT_OP_RESHAPE, 1, &x, &a, out);
  }
  case QAT_LAYER_RESHAPE: {
    int64_t total = qat_tensor_size(x) / x->dims[0], known = 1;
    int unknown = -1;
    a.target_rank = l->target_rank;
    for (int i = 0; i < l->target_rank; i++) {
      a.target_shape[i] = l->target_shape[i];
      if (l->target_shape[i] == -1) unknown = i;
      else known *= l->target_shape[i];
    }
    if (unknown >= 0) {
      if (known <= 0 || total % known)
        return qat_fail(QAT_ERR_USAGE, "cannot reshape %lld values per sample: not a multiple of %lld",
                        (long long)total, (long long)known);
      a.target_shape[unknown] = (int)(total / known);
    }
    return qat_graph_add(&m->graph, QAT_OP_RESHAPE, 1, &x, &a, out);
  }
  case QAT_LAYER_ADD: return qat_graph_add(&m->graph, QAT_OP_ADD, l->n_inputs, in, &a, out);
  case QAT_LAYER_TYPE_COUNT: break;
  }
  return qat_fail(QAT_ERR_INTERNAL, "unknown layer type %d", (int)l->type);
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
  m->grads = calloc((size_t)(off ? off : 1), sizeof(float));
  m->state = calloc((size_t)(state ? state : 1), sizeof(float));
  if (!m->params || !m->grads || !m->state) return qat_fail(QAT_ERR_NOMEM, "out of memory for %lld parameters", (long long)off);
  for (int i = 0; i < m->n_param_list; i++) {
    qat_param *p = &m->param_list[i];
    if (p->trainable) {
      p->tensor->data = m->params + p->offset;
      p->tensor->grad = m->grads + p->offset;
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
    if (!strcmp(suffix, "kernel") && p->rank == 4) {
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

int qat_model_create(qat_model **out, const qat_model_spec *spec, int max_batch, uint64_t seed) {
  *out = NULL;
  qat_model *m = calloc(1, sizeof *m);
  if (!m) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  int rc;
  builder b = {m, 0};
  m->spec = *spec;
  m->spec.layers = malloc((size_t)(spec->n_layers ? spec->n_layers : 1) * sizeof *spec->layers);
  m->layer_out = calloc((size_t)(spec->n_layers ? spec->n_layers : 1), sizeof *m->layer_out);
  m->labels = calloc((size_t)(max_batch > 0 ? max_batch : 1), sizeof *m->labels);
  if (!m->spec.layers || !m->layer_out || !m->labels) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto free_model;
  }
  memcpy(m->spec.layers, spec->layers, (size_t)spec->n_layers * sizeof *spec->layers);
  m->max_batch = max_batch;
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
  if ((rc = qat_graph_init(&m->graph, max_batch))) goto free_model;
  m->input = qat_graph_input(&m->graph, 3, spec->input_shape, 0);
  if (!m->input) {
    rc = QAT_ERR_NOMEM;
    goto free_model;
  }
  for (int li = 0; li < spec->n_layers; li++) {
    const qat_layer_spec *l = &spec->layers[li];
    qat_tensor *in[QAT_MAX_LAYER_INPUTS];
    int n_in = l->n_inputs > 0 ? l->n_inputs : 1;
    for (int k = 0; k < n_in; k++) {
      int src = l->n_inputs > 0 ? l->inputs[k] : li - 1;
      QAT_ASSERT(src >= -1 && src < li); /* the config resolved names to earlier layers */
      in[k] = src < 0 ? m->input : m->layer_out[src];
    }
    if ((rc = build_layer(&b, li, in, &m->layer_out[li]))) {
      qat_fail_prefix(rc, "%s:%d:%d: layer '%s' (%s): ", spec->source ? spec->source : "model", l->line,
                      l->column, l->name, layer_names[l->type]);
      goto free_model;
    }
  }
  m->logits = m->layer_out[spec->n_layers - 1];
  if (m->logits->rank != 2) {
    const qat_layer_spec *l = &spec->layers[spec->n_layers - 1];
    rc = qat_fail(QAT_ERR_USAGE, "%s:%d:%d: layer '%s': the last layer must output [batch, classes] (rank 2), got rank %d",
                  spec->source ? spec->source : "model", l->line, l->column, l->name, m->logits->rank);
    goto free_model;
  }
  m->num_classes = m->logits->dims[1];
  qat_op_attrs loss_attrs = {.labels = m->labels};
  if ((rc = qat_graph_add(&m->graph, QAT_OP_SOFTMAX_CROSS_ENTROPY, 1, &m->logits, &loss_attrs, &m->loss)))
    goto free_model;
  if ((rc = place_params(m))) goto free_model;
  qat_model_init_params(m, seed);
  *out = m;
  return QAT_OK;
free_model:
  qat_model_free(m);
  return rc;
}

void qat_model_free(qat_model *m) {
  if (!m) return;
  qat_graph_free(&m->graph);
  free(m->spec.layers);
  free(m->layer_out);
  free(m->labels);
  free(m->param_list);
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
  /* every node but the loss */
  qat_graph *g = &m->graph;
  for (int i = 0; i < g->n_nodes - 1; i++) qat_op_get(g->nodes[i].op)->forward(&g->nodes[i], ex);
}

void qat_model_step(qat_model *m, const float *x, const int32_t *labels, int n, const qat_exec *ex,
                    int backward, float *loss, int *correct) {
  load_input(m, x, n);
  memcpy(m->labels, labels, (size_t)n * sizeof *labels);
  qat_graph_forward(&m->graph, ex);
  if (backward) {
    memset(m->grads, 0, (size_t)m->n_params * sizeof(float));
    qat_graph_backward(&m->graph, ex);
  }
  if (loss) *loss = m->loss->data[0];
  if (correct) {
    int k = m->num_classes, c = 0;
    for (int s = 0; s < n; s++) {
      const float *row = m->logits->data + (size_t)s * k;
      int best = 0;
      for (int j = 1; j < k; j++)
        if (row[j] > row[best]) best = j;
      c += best == labels[s];
    }
    *correct = c;
  }
}

const qat_param *qat_model_find_param(const qat_model *m, const char *name) {
  for (int i = 0; i < m->n_param_list; i++)
    if (!strcmp(m->param_list[i].name, name)) return &m->param_list[i];
  return NULL;
}

int64_t qat_model_trainable_count(const qat_model *m) { return m->n_params; }

void qat_model_summary(const qat_model *m, FILE *f) {
  fprintf(f, "%-28s %-24s %-18s %10s\n", "Layer (type)", "", "Output Shape", "Param #");
  int64_t total = 0, state = 0;
  for (int li = 0; li < m->spec.n_layers; li++) {
    const qat_layer_spec *l = &m->spec.layers[li];
    const qat_tensor *t = m->layer_out[li];
    char shape[64] = "(None";
    size_t k = strlen(shape);
    for (int d = 1; d < t->rank; d++) k += (size_t)snprintf(shape + k, sizeof shape - k, ", %d", t->dims[d]);
    snprintf(shape + k, sizeof shape - k, ")");
    int64_t count = 0;
    for (int i = 0; i < m->n_param_list; i++)
      if (m->param_list[i].layer == li) {
        count += m->param_list[i].size;
        if (!m->param_list[i].trainable) state += m->param_list[i].size;
      }
    total += count;
    fprintf(f, "%-28s %-24s %-18s %10lld\n", l->name, layer_names[l->type], shape, (long long)count);
  }
  fprintf(f, "Total params: %lld (trainable %lld, non-trainable %lld)\n", (long long)total,
          (long long)m->n_params, (long long)state);
}
