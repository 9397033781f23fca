/* Dropout: a mask while training (seeded by step and node, so resume is bit-identical); gone
 * at inference, so it keeps its input's tensor and range. */
#include "layers/build.h"
#include "qat/error.h"

static qat_layer_range range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_IDENTITY;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_op_attrs a = qat_build_attrs(&b->m->spec.layers[li]);
  a.rate = b->m->spec.layers[li].rate;
  return qat_graph_add(&b->m->graph, QAT_OP_DROPOUT, 1, in, &a, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  if (k->ops->is_set(k, "noise_shape")) return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "noise_shape is not supported");
  return k->ops->number(k, "rate", 0, 1, &l->rate);
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", rate: ");
  y->ops->put_float(y, l->rate);
}

const qat_layer_desc qat_layer_dropout = {
    .keras_class = "Dropout",
    .stem = "dropout",
    .args = QAT_ARG(RATE),
    .required_args = QAT_ARG(RATE),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .range = range,
    .keras = keras,
    .yaml = yaml,
};
