/* LeakyReLU: x < 0 gives negative_slope * x (Keras 3's negative_slope, Keras 2's alpha; both
 * default 0.3): LEAKY_RELU, its own op and its own output range. */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static void defaults(qat_layer_spec *l) { l->alpha = 0.3f; }

static qat_activation applies(const qat_layer_spec *l) {
  (void)l;
  return QAT_ACTIVATION_LEAKY_RELU;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  (void)li;
  return qat_build_activation(b, QAT_ACTIVATION_LEAKY_RELU, in[0], out);
}

static int lower(qat_lowering *L, int li) {
  int out, rc = lower_function(L, li, QAT_ACTIVATION_LEAKY_RELU, lower_layer_spec(L, li)->alpha,
                               lower_input(L, li, 0), &out);
  if (!rc) L->tensor[li] = out;
  return rc;
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  const char *key = k->ops->is_set(k, "negative_slope") ? "negative_slope" : "alpha";
  if (!k->ops->is_set(k, key)) return QAT_OK; /* the default */
  int rc = k->ops->number(k, key, 0, 1e6, &l->alpha);
  if (!rc && l->alpha == 0.0f)
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "%s 0 is a ReLU: write it as one", key);
  return rc;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", negative_slope: ");
  y->ops->put_float(y, l->alpha);
}

const qat_layer_desc qat_layer_leaky_relu = {
    .keras_class = "LeakyReLU",
    .stem = "leaky_re_lu",
    .args = QAT_ARG(NEGATIVE_SLOPE),
    .min_inputs = 1,
    .max_inputs = 1,
    .defaults = defaults,
    .build = build,
    .applies = applies,
    .lower = lower,
    .keras = keras,
    .yaml = yaml,
};
