/* ReLU (max_value 6: ReLU6): fused into the Conv2D, DepthwiseConv2D, Dense or Add before it
 * (the int8 op's clamp, applied by that op's output fake quant); standalone only in float32
 * (RELU / RELU6). With negative_slope (and no max_value) it is a leaky ReLU: LEAKY_RELU in every
 * mode, as LeakyReLU. */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static qat_activation applies(const qat_layer_spec *l) {
  if (l->alpha != 0.0f) return QAT_ACTIVATION_LEAKY_RELU; /* negative_slope: LEAKY_RELU */
  return l->max_value == 6.0f ? QAT_ACTIVATION_RELU6 : QAT_ACTIVATION_RELU;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  return qat_build_activation(b, applies(&b->m->spec.layers[li]), in[0], out);
}

int qat_relu_lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  if (l->type == QAT_LAYER_RELU && applies(l) == QAT_ACTIVATION_LEAKY_RELU) {
    int out, rc = lower_function(L, li, QAT_ACTIVATION_LEAKY_RELU, l->alpha, lower_input(L, li, 0), &out);
    if (!rc) L->tensor[li] = out;
    return rc;
  }
  if (L->mode)
    return lower_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "%s export fuses ReLU/ReLU6 into the Conv2D, DepthwiseConv2D, Dense or Add directly before "
                      "it; this one has no such producer (or that producer's output has other readers)",
                      L->mode->name);
  int in = lower_input(L, li, 0), out, rc = lower_own_tensor(L, li, &out);
  if (rc) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, lower_relu_kind(l) == QAT_TFLITE_ACT_RELU6 ? QAT_TFLITE_OP_RELU6 : QAT_TFLITE_OP_RELU);
  return lower_simple(L, li, &op, 1, &in, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  float slope = 0, thr = 0, mv = 0;
  int rc;
  if (k->ops->is_set(k, "negative_slope") && (rc = k->ops->number(k, "negative_slope", -1e30, 1e30, &slope))) return rc;
  if (k->ops->is_set(k, "threshold") && (rc = k->ops->number(k, "threshold", -1e30, 1e30, &thr))) return rc;
  if (k->ops->is_set(k, "max_value") && (rc = k->ops->number(k, "max_value", -1e30, 1e30, &mv))) return rc;
  if (thr != 0 || (mv != 0 && mv != 6) || (slope != 0 && mv != 0) || slope < 0)
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED,
                        "only ReLU, ReLU6 and a leaky ReLU (negative_slope > 0, no max_value) are supported (got "
                        "negative_slope %g, threshold %g, max_value %g)",
                        slope, thr, mv);
  l->max_value = mv;
  l->alpha = slope;
  return QAT_OK;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  if (l->max_value != 0) y->ops->put(y, ", max_value: 6");
  if (l->alpha != 0) {
    y->ops->put(y, ", negative_slope: ");
    y->ops->put_float(y, l->alpha);
  }
}

const qat_layer_desc qat_layer_relu = {
    .keras_class = "ReLU",
    .stem = "re_lu",
    .args = QAT_ARG(MAX_VALUE) | QAT_ARG(NEGATIVE_SLOPE),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .applies = applies,
    .lower = qat_relu_lower,
    .keras = keras,
    .yaml = yaml,
};
