/* GlobalMaxPooling2D: REDUCE_MAX over H and W (keep_dims false), as the converter lowers it.
 * A max picks one of its inputs, so the int8 output keeps the input's scale and zero point
 * (the converter gives REDUCE_MAX the same-scale trait) and no fake quant follows it. */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static const char *const aliases[] = {"GlobalMaxPool2D", NULL};

static qat_layer_range range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_KEEP;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_op_attrs a = qat_build_attrs(&b->m->spec.layers[li]);
  return qat_graph_add(&b->m->graph, QAT_OP_GLOBAL_MAX_POOL2D, 1, in, &a, out);
}

static int lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  static const int32_t axes[2] = {1, 2};
  char name[QAT_NAME_MAX + 32];
  int two = 2, ai, out, in = lower_input(L, li, 0), rc;
  snprintf(name, sizeof name, "%s/axes", l->name);
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &two, axes, sizeof axes, &ai))) return rc;
  if ((rc = lower_keep_tensor(L, li, in, l->name, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_REDUCE_MAX);
  op.opt.keep_dims = 0;
  int ins[2] = {in, ai};
  return lower_simple(L, li, &op, 2, ins, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  (void)l;
  int rc, keep = 0;
  if ((rc = k->ops->channels_last(k)) || (rc = k->ops->boolean(k, "keepdims", 0, &keep))) return rc;
  if (keep) return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "keepdims true is not supported (expected false)");
  return QAT_OK;
}

const qat_layer_desc qat_layer_global_max_pooling2d = {
    .keras_class = "GlobalMaxPooling2D",
    .stem = "global_max_pooling2d",
    .aliases = aliases,
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .range = range,
    .lower = lower,
    .keras = keras,
};
