/* GlobalAveragePooling2D: MEAN over H and W (keep_dims false), as the converter lowers it. The
 * int8 MEAN requantizes to its own range with 1/(H*W) folded into the multiplier; the fake
 * quant reproduces that rounding (QAT_REQUANT_MEAN). */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static const char *const aliases[] = {"GlobalAvgPool2D", NULL};

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  qat_op_attrs a = qat_build_attrs(&b->m->spec.layers[li]);
  return qat_graph_add(&b->m->graph, QAT_OP_GLOBAL_AVG_POOL2D, 1, in, &a, out);
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

static int lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const qat_fq *ofq = NULL;
  int rc;
  if (L->mode && (rc = lower_output_fq(L, li, &ofq))) return rc;
  static const int32_t axes[2] = {1, 2};
  char name[QAT_NAME_MAX + 32];
  int two = 2, ai, out;
  snprintf(name, sizeof name, "%s/axes", l->name);
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &two, axes, sizeof axes, &ai))) return rc;
  if ((rc = lower_own_tensor(L, li, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_MEAN);
  op.opt.keep_dims = 0;
  int in[2] = {lower_input(L, li, 0), ai};
  return lower_simple(L, li, &op, 2, in, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  (void)l;
  int rc, keep = 0;
  if ((rc = k->ops->channels_last(k)) || (rc = k->ops->boolean(k, "keepdims", 0, &keep))) return rc;
  if (keep) return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "keepdims true is not supported (expected false)");
  return QAT_OK;
}

const qat_layer_desc qat_layer_global_average_pooling2d = {
    .keras_class = "GlobalAveragePooling2D",
    .stem = "global_average_pooling2d",
    .aliases = aliases,
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .link_requant = link_requant,
    .lower = lower,
    .keras = keras,
};
