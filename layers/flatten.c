/* Flatten: RESHAPE to [batch, -1]; the int8 output keeps the input's parameters. */
#include <stdint.h>

#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static qat_layer_range range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_KEEP;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_tensor *x = in[0];
  qat_op_attrs a = qat_build_attrs(&b->m->spec.layers[li]);
  int64_t n = qat_tensor_size(x) / x->dims[0];
  if (n > INT32_MAX) return qat_fail(QAT_ERR_USAGE, "Flatten output of %lld values is too large", (long long)n);
  a.target_rank = 1;
  a.target_shape[0] = (int)n;
  return qat_graph_add(&b->m->graph, QAT_OP_RESHAPE, 1, &x, &a, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  (void)l;
  return k->ops->channels_last(k);
}

const qat_layer_desc qat_layer_flatten = {
    .keras_class = "Flatten",
    .stem = "flatten",
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .range = range,
    .lower = lower_reshape,
    .keras = keras,
};
