/* Dropout: a mask while training (seeded by step and node, so resume is bit-identical); gone
 * at inference, so it keeps its input's tensor and range. noise_shape [N, 1, 1, 1] (EfficientNet's
 * stochastic depth) draws one mask value per sample. */
#include "layers/build.h"
#include "qat/error.h"

static qat_layer_range range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_IDENTITY;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  if (l->noise_shared >> (in[0]->rank - 1))
    return qat_fail(QAT_ERR_USAGE, "noise_shape has more dimensions than the input's %d", in[0]->rank);
  qat_op_attrs a = qat_build_attrs(l);
  a.rate = l->rate;
  a.noise_shared = l->noise_shared;
  return qat_graph_add(&b->m->graph, QAT_OP_DROPOUT, 1, in, &a, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc = k->ops->number(k, "rate", 0, 1, &l->rate), shape[4], n;
  if (rc || !k->ops->is_set(k, "noise_shape")) return rc;
  if ((rc = k->ops->int_list(k, "noise_shape", 4, 0, 1 << 24, shape, &n))) return rc;
  if (n < 2 || shape[0] == 1)
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "noise_shape must list the batch (None) and the other dimensions");
  for (int d = 1; d < n; d++)
    if (shape[d] == 1) l->noise_shared |= 1 << (d - 1);
  return QAT_OK;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", rate: ");
  y->ops->put_float(y, l->rate);
  if (l->noise_shared) {
    int last = 0;
    for (int d = 0; d < 3; d++)
      if (l->noise_shared >> d & 1) last = d;
    y->ops->put(y, ", noise_shape: [null");
    for (int d = 0; d <= last; d++) y->ops->put(y, l->noise_shared >> d & 1 ? ", 1" : ", null");
    y->ops->put(y, "]");
  }
}

const qat_layer_desc qat_layer_dropout = {
    .keras_class = "Dropout",
    .stem = "dropout",
    .args = QAT_ARG(RATE) | QAT_ARG(NOISE_SHAPE),
    .required_args = QAT_ARG(RATE),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .range = range,
    .keras = keras,
    .yaml = yaml,
};
