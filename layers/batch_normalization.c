/* BatchNormalization: folded into the Conv2D / DepthwiseConv2D (float32 export: also Dense)
 * directly before it, as the TF converter folds it; quantization-aware training folds it into
 * the conv's weights while training (Jacob et al. 2018). Never an op of its own. */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  qat_tensor *x = in[0], *bn[4];
  int rc, c = x->dims[x->rank - 1];
  if ((rc = qat_build_bn_params(b, li, c, bn))) return rc;
  qat_op_attrs a = qat_build_attrs(l);
  a.momentum = l->momentum;
  a.epsilon = l->epsilon;
  return qat_graph_add(&b->m->graph, QAT_OP_BATCH_NORM, 5, (qat_tensor *[]){x, bn[0], bn[1], bn[2], bn[3]}, &a, out);
}

/* Reached without being absorbed by the op before it: say why it was not folded. */
static int lower(qat_lowering *L, int li) {
  if (L->mode)
    return lower_fail(L, li, QAT_ERR_UNSUPPORTED, "%s export needs batch normalization folded into a conv",
                      L->mode->name);
  int src = qat_layer_input(&L->m->spec, li, 0), r = src < 0 ? -1 : L->root[src];
  if (r < 0)
    return lower_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "cannot be folded: it reads the model input; float32 export folds batch normalization into "
                      "a Conv2D, DepthwiseConv2D or Dense directly before it");
  const qat_layer_spec *p = lower_layer_spec(L, r);
  if (!(qat_layer_desc_of(p->type)->roles & (QAT_LAYER_FOLDS_BN | QAT_LAYER_FOLDS_BN_FLOAT)))
    return lower_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "cannot be folded: its input '%s' is a %s; float32 export folds batch normalization only into "
                      "a Conv2D, DepthwiseConv2D or Dense directly before it",
                      p->name, qat_layer_type_name(p->type));
  if (p->activation != QAT_ACTIVATION_LINEAR)
    return lower_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "cannot be folded into '%s': that layer applies activation '%s' before the normalization "
                      "(use activation: linear there and put the activation after the BatchNormalization)",
                      p->name, qat_activation_name(p->activation));
  return lower_fail(L, li, QAT_ERR_UNSUPPORTED,
                    "cannot be folded into '%s': that layer's output is also read by %d other consumer%s", p->name,
                    L->uses[r] - 1, L->uses[r] - 1 == 1 ? "" : "s");
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc, n = 0, ax = -1, center = 1, scale = 1;
  if (k->ops->is_set(k, "axis") && (rc = k->ops->int_list(k, "axis", 1, -4, 3, &ax, &n))) return rc;
  if (ax != -1 && ax != 3)
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "axis %d is not supported (expected -1 or 3, the channels)", ax);
  if ((rc = k->ops->boolean(k, "center", 1, &center)) || (rc = k->ops->boolean(k, "scale", 1, &scale))) return rc;
  if (!center || !scale)
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "center/scale false is not supported (expected both true)");
  if (k->ops->is_set(k, "momentum") && (rc = k->ops->number(k, "momentum", 0, 1, &l->momentum))) return rc;
  if (k->ops->is_set(k, "epsilon") && (rc = k->ops->number(k, "epsilon", 0, 1, &l->epsilon))) return rc;
  if (!(l->epsilon > 0)) return k->ops->fail(k, QAT_ERR_FORMAT, "epsilon must be > 0");
  return QAT_OK;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", momentum: ");
  y->ops->put_float(y, l->momentum);
  y->ops->put(y, ", epsilon: ");
  y->ops->put_float(y, l->epsilon);
}

const qat_layer_desc qat_layer_batch_normalization = {
    .keras_class = "BatchNormalization",
    .stem = "batch_normalization",
    .args = QAT_ARG(MOMENTUM) | QAT_ARG(EPSILON),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .roles = QAT_LAYER_IS_BN,
    .lower = lower,
    .keras = keras,
    .yaml = yaml,
};
