/* Conv2D: CONV_2D with per-channel int8 weights (OHWI), a following BatchNormalization folded
 * in and a ReLU/ReLU6 fused, as the TF converter lowers it. */
#include "layers/weighted.h"

static const char *const aliases[] = {"Convolution2D", NULL};

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc = qat_weighted_keras_conv(k, l);
  return rc ? rc : k->ops->integer(k, "filters", 1, 1 << 20, &l->filters);
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", filters: %d", l->filters);
  qat_weighted_yaml_conv(y, l);
}

const qat_layer_desc qat_layer_conv2d = {
    .keras_class = "Conv2D",
    .stem = "conv2d",
    .aliases = aliases,
    .args = QAT_ARG(FILTERS) | QAT_ARG(KERNEL_SIZE) | QAT_ARG(STRIDES) | QAT_ARG(PADDING) | QAT_ARG(ACTIVATION) |
            QAT_ARG(USE_BIAS),
    .required_args = QAT_ARG(FILTERS) | QAT_ARG(KERNEL_SIZE),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = qat_weighted_build_conv,
    .roles = QAT_LAYER_HEAD | QAT_LAYER_FOLDS_BN,
    .link_requant = qat_weighted_requant_fixed,
    .lower = qat_weighted_lower,
    .kernel = "kernel",
    .kernel_channel_axis = 0,
    .keras_kernel = QAT_KERNEL_HWIO,
    .keras = keras,
    .yaml = yaml,
};
