/* GlobalMaxPooling2D: REDUCE_MAX over H and W (keep_dims as keepdims), as the converter lowers it.
 * A max picks one of its inputs, so the int8 output keeps the input's scale and zero point
 * (the converter gives REDUCE_MAX the same-scale trait) and no fake quant follows it. */
#include "layers/pooling.h"
#include "qat/error.h"

static const char *const aliases[] = {"GlobalMaxPool2D", NULL};

static qat_layer_range range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_KEEP;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_op_attrs a = qat_build_attrs(&b->m->spec.layers[li]);
  qat_tensor *pooled;
  int rc = qat_graph_add(&b->m->graph, QAT_OP_GLOBAL_MAX_POOL2D, 1, in, &a, &pooled);
  return rc ? rc : qat_global_pool_keepdims(b, li, pooled, out);
}

static int lower(qat_lowering *L, int li) { return qat_global_pool_lower(L, li, QAT_TFLITE_OP_REDUCE_MAX); }

#define GLOBAL_MAX_FIELDS                                                                             \
  .min_inputs = 1, .max_inputs = 1, .build = build, .range = range, .lower = lower, .args = QAT_ARG(KEEPDIMS), \
  .keras = qat_global_pool_keras, .yaml = qat_global_pool_yaml

const qat_layer_desc qat_layer_global_max_pooling2d = {
    .keras_class = "GlobalMaxPooling2D",
    .stem = "global_max_pooling2d",
    .aliases = aliases,
    GLOBAL_MAX_FIELDS,
};

/* GlobalMaxPooling1D: the same REDUCE_MAX over the [1, T] view of a sequence. */
const qat_layer_desc qat_layer_global_max_pooling1d = {
    .keras_class = "GlobalMaxPooling1D",
    .stem = "global_max_pooling1d",
    .aliases = (const char *const[]){"GlobalMaxPool1D", NULL},
    GLOBAL_MAX_FIELDS,
    .roles = QAT_LAYER_ONE_D,
    .two_d = QAT_LAYER_GLOBAL_MAX_POOL2D,
};
