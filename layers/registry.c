/* The checked table of layer types: every QAT_LAYER_TYPES line names a descriptor that its
 * file must define (a missing one fails the link), and every descriptor is checked for the
 * parts each walker needs (qat_layer_check_table, run by the tests). */
#include <stdio.h>
#include <string.h>

#include "qat/layer.h"

#define QAT_LAYER_DECL(e, file) extern const qat_layer_desc qat_layer_##file;
QAT_LAYER_TYPES(QAT_LAYER_DECL)
#undef QAT_LAYER_DECL

static const qat_layer_desc *const descs[] = {
#define QAT_LAYER_PTR(e, file) [QAT_LAYER_##e] = &qat_layer_##file,
    QAT_LAYER_TYPES(QAT_LAYER_PTR)
#undef QAT_LAYER_PTR
};
_Static_assert(sizeof descs / sizeof descs[0] == QAT_LAYER_TYPE_COUNT, "one descriptor per layer type");

const qat_layer_desc *qat_layer_desc_of(qat_layer_type t) {
  return (unsigned)t < QAT_LAYER_TYPE_COUNT ? descs[t] : NULL;
}

const char *qat_layer_type_name(qat_layer_type t) {
  return (unsigned)t < QAT_LAYER_TYPE_COUNT ? descs[t]->keras_class : "unknown";
}

int qat_layer_find(const char *name, qat_layer_type *out) {
  for (int t = 0; t < QAT_LAYER_TYPE_COUNT; t++)
    if (!strcmp(name, descs[t]->keras_class)) {
      *out = (qat_layer_type)t;
      return 1;
    }
  for (int t = 0; t < QAT_LAYER_TYPE_COUNT; t++)
    for (const char *const *a = descs[t]->aliases; a && *a; a++)
      if (!strcmp(name, *a)) {
        *out = (qat_layer_type)t;
        return 1;
      }
  return 0;
}

const char *qat_layer_class_list(void) {
  static char list[1024];
  if (!list[0]) {
    size_t n = 0;
    for (int t = 0; t < QAT_LAYER_TYPE_COUNT && n < sizeof list; t++)
      n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", t ? ", " : "", descs[t]->keras_class);
  }
  return list;
}

void qat_layer_defaults(qat_layer_spec *l, qat_layer_type t) {
  memset(l, 0, sizeof *l);
  l->type = t;
  l->depth_multiplier = 1;
  l->strides[0] = l->strides[1] = 1;
  l->dilation_rate[0] = l->dilation_rate[1] = 1;
  l->pool_size[0] = l->pool_size[1] = 2;
  l->padding = QAT_PADDING_VALID;
  l->activation = QAT_ACTIVATION_LINEAR;
  l->use_bias = 1;
  l->momentum = 0.99f;
  l->epsilon = 1e-3f;
  const qat_layer_desc *d = qat_layer_desc_of(t);
  if (d && d->defaults) d->defaults(l);
}

qat_layer_type qat_layer_op_type(const qat_layer_spec *l) {
  const qat_layer_desc *d = qat_layer_desc_of(l->type);
  return d && (d->roles & QAT_LAYER_ONE_D) ? d->two_d : l->type;
}

void qat_layer_yaml_pair(qat_yaml_out *y, const qat_layer_spec *l, const char *key, const int v[2]) {
  if (qat_layer_desc_of(l->type)->roles & QAT_LAYER_ONE_D) y->ops->put(y, ", %s: %d", key, v[1]);
  else y->ops->put(y, ", %s: [%d, %d]", key, v[0], v[1]);
}

int qat_layer_keras_rank(const qat_model_spec *s, int li) {
  for (;;) {
    if (li < 0) return qat_spec_input_rank(s);
    const qat_layer_spec *l = &s->layers[li];
    const qat_layer_type t = qat_layer_op_type(l);
    if (t == QAT_LAYER_RESHAPE) return l->target_rank;
    if (t == QAT_LAYER_FLATTEN || ((t == QAT_LAYER_GLOBAL_AVG_POOL2D || t == QAT_LAYER_GLOBAL_MAX_POOL2D) && !l->keepdims))
      return 1;
    li = l->n_inputs > 0 ? l->inputs[0] : li - 1;
  }
}

qat_layer_range qat_layer_range_of(const qat_layer_spec *l) {
  const qat_layer_desc *d = qat_layer_desc_of(l->type);
  return d && d->range ? d->range(l) : QAT_RANGE_OWN;
}

qat_activation qat_layer_fusable_activation(const qat_layer_spec *l) {
  const qat_layer_desc *d = qat_layer_desc_of(l->type);
  if (!d || !d->applies) return QAT_ACTIVATION_LINEAR;
  qat_activation a = d->applies(l);
  return a == QAT_ACTIVATION_RELU || a == QAT_ACTIVATION_RELU6 || a == QAT_ACTIVATION_RELU_MAX ? a : QAT_ACTIVATION_LINEAR;
}

/* Keras 3's names in enum order, then the older spellings Keras still reads. */
static const char *const activation_names[] = {"linear",       "relu",      "relu6",      "softmax",
                                               "sigmoid",      "tanh",      "silu",       "hard_sigmoid",
                                               "hard_silu",    "leaky_relu", "elu",       "swish",
                                               "hard_swish", "relu (max_value)", "relu (threshold)"};
_Static_assert(sizeof activation_names / sizeof activation_names[0] == QAT_ACTIVATION_RELU_THRESHOLD + 1,
               "one name per activation, then the two aliases, then the ReLU layer's own (named by no config)");

const char *qat_activation_name(qat_activation a) {
  return (unsigned)a < QAT_ACTIVATION_COUNT || a == QAT_ACTIVATION_RELU_MAX || a == QAT_ACTIVATION_RELU_THRESHOLD
             ? activation_names[a]
             : "linear";
}

float qat_layer_activation_alpha(const qat_layer_spec *l, qat_activation a) {
  return a == QAT_ACTIVATION_RELU_MAX ? l->max_value : qat_activation_alpha(a, l->alpha);
}

float qat_activation_alpha(qat_activation a, float alpha) {
  if (alpha != 0.0f) return alpha;
  return a == QAT_ACTIVATION_LEAKY_RELU ? 0.2f : a == QAT_ACTIVATION_ELU ? 1.0f : 0.0f;
}

int qat_activation_find(const char *name, qat_activation *out) {
  for (int i = 0; i < QAT_ACTIVATION_COUNT + 2; i++)
    if (!strcmp(name, activation_names[i])) {
      *out = i == QAT_ACTIVATION_COUNT ? QAT_ACTIVATION_SILU
             : i > QAT_ACTIVATION_COUNT ? QAT_ACTIVATION_HARD_SILU
                                        : (qat_activation)i;
      return 1;
    }
  return 0;
}

const char *const *qat_activation_names(int *n) {
  *n = QAT_ACTIVATION_COUNT + 2;
  return activation_names;
}
