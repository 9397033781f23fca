/* Activation: linear vanishes, relu / relu6 behave as a ReLU layer, softmax (the model's last
 * layer only) is SOFTMAX with the spec's fixed int8 output range (1/256, -128); sigmoid, tanh,
 * silu, hard_sigmoid, hard_silu, leaky_relu and elu are their own ops (layers/lower_act.c). */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

int qat_relu_lower(qat_lowering *L, int li); /* layers/relu.c */

static qat_activation applies(const qat_layer_spec *l) { return l->activation; }

static qat_layer_range range(const qat_layer_spec *l) {
  switch (l->activation) {
  case QAT_ACTIVATION_LINEAR: return QAT_RANGE_IDENTITY;
  case QAT_ACTIVATION_SOFTMAX: return QAT_RANGE_FIXED;
  default: return QAT_RANGE_OWN;
  }
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  return qat_build_activation(b, b->m->spec.layers[li].activation, in[0], out);
}

static int lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  int out, rc;
  if (lower_is_function(l->activation)) {
    rc = lower_function(L, li, l->activation, l->alpha, lower_input(L, li, 0), &out);
    if (!rc) L->tensor[li] = out;
    return rc;
  }
  if (l->activation != QAT_ACTIVATION_SOFTMAX) return qat_relu_lower(L, li);
  rc = lower_softmax(L, li, lower_input(L, li, 0), &out);
  if (!rc) L->tensor[li] = out;
  return rc;
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) { return k->ops->activation(k, "activation", &l->activation); }

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", activation: %s", qat_activation_name(l->activation));
}

const qat_layer_desc qat_layer_activation = {
    .keras_class = "Activation",
    .stem = "activation",
    .args = QAT_ARG(ACTIVATION),
    .required_args = QAT_ARG(ACTIVATION),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .range = range,
    .applies = applies,
    .lower = lower,
    .keras = keras,
    .yaml = yaml,
};
