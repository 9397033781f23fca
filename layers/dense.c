/* Dense: FULLY_CONNECTED on a flat input, weights [out, in] (Keras's [in, out] transposed),
 * requantized in double as LiteRT's reference kernel does; fuses a ReLU/ReLU6. */
#include "layers/weighted.h"

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc;
  if ((rc = k->ops->integer(k, "units", 1, 1 << 24, &l->units)) ||
      (rc = k->ops->activation(k, "activation", &l->activation)) ||
      (rc = k->ops->boolean(k, "use_bias", 1, &l->use_bias)))
    return rc;
  return 0;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", units: %d, activation: %s, use_bias: %s", l->units, qat_activation_name(l->activation),
              l->use_bias ? "true" : "false");
}

const qat_layer_desc qat_layer_dense = {
    .keras_class = "Dense",
    .stem = "dense",
    .args = QAT_ARG(UNITS) | QAT_ARG(ACTIVATION) | QAT_ARG(USE_BIAS),
    .required_args = QAT_ARG(UNITS),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = qat_weighted_build_dense,
    .roles = QAT_LAYER_HEAD | QAT_LAYER_FOLDS_BN_FLOAT,
    .link_requant = qat_weighted_requant_double,
    .lower = qat_weighted_lower,
    .kernel = "kernel",
    .kernel_channel_axis = 0,
    .keras_kernel = QAT_KERNEL_IO,
    .keras = keras,
    .yaml = yaml,
};
