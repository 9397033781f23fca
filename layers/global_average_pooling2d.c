/* GlobalAveragePooling2D: MEAN over H and W (keep_dims as keepdims), as the converter lowers it. The
 * int8 MEAN requantizes to its own range with 1/(H*W) folded into the multiplier; the fake
 * quant reproduces that rounding (QAT_REQUANT_MEAN). */
#include "layers/pooling.h"
#include "qat/error.h"

static const char *const aliases[] = {"GlobalAvgPool2D", NULL};

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_op_attrs a = qat_build_attrs(&b->m->spec.layers[li]);
  qat_tensor *pooled;
  int rc = qat_graph_add(&b->m->graph, QAT_OP_GLOBAL_AVG_POOL2D, 1, in, &a, &pooled);
  return rc ? rc : qat_global_pool_keepdims(b, li, pooled, out);
}

static int link_requant(qat_model *m, int head, qat_fq *out) {
  int src = qat_layer_input(&m->spec, head, 0);
  const qat_tensor *x = src < 0 ? m->input : m->layer_out[src];
  out->requant = QAT_REQUANT_MEAN;
  out->input = qat_model_source_fq(m, src);
  out->requant_count = (int64_t)x->dims[1] * x->dims[2];
  QAT_ASSERT(out->input && x->rank == 4);
  return QAT_OK;
}

static int lower(qat_lowering *L, int li) { return qat_global_pool_lower(L, li, QAT_TFLITE_OP_MEAN); }

#define GLOBAL_AVG_FIELDS                                                                              \
  .min_inputs = 1, .max_inputs = 1, .build = build, .link_requant = link_requant, .lower = lower,        \
  .args = QAT_ARG(KEEPDIMS), .keras = qat_global_pool_keras, .yaml = qat_global_pool_yaml

const qat_layer_desc qat_layer_global_average_pooling2d = {
    .keras_class = "GlobalAveragePooling2D",
    .stem = "global_average_pooling2d",
    .aliases = aliases,
    GLOBAL_AVG_FIELDS,
};

/* GlobalAveragePooling1D: the same MEAN over the [1, T] view of a sequence. */
const qat_layer_desc qat_layer_global_average_pooling1d = {
    .keras_class = "GlobalAveragePooling1D",
    .stem = "global_average_pooling1d",
    .aliases = (const char *const[]){"GlobalAvgPool1D", NULL},
    GLOBAL_AVG_FIELDS,
    .roles = QAT_LAYER_ONE_D,
    .two_d = QAT_LAYER_GLOBAL_AVG_POOL2D,
};
