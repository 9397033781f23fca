/* DepthwiseConv2D: DEPTHWISE_CONV_2D, kernel [1, KH, KW, C*M] (Keras's [KH, KW, C, M] bytes),
 * per-channel int8 weights along axis 3; folds a BatchNormalization, fuses a ReLU/ReLU6. */
#include "layers/weighted.h"

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc = qat_weighted_keras_conv(k, l);
  if (rc) return rc;
  if (k->ops->is_set(k, "depth_multiplier"))
    return k->ops->integer(k, "depth_multiplier", 1, 1 << 20, &l->depth_multiplier);
  return 0;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", depth_multiplier: %d", l->depth_multiplier);
  qat_weighted_yaml_conv(y, l);
}

const qat_layer_desc qat_layer_depthwise_conv2d = {
    .keras_class = "DepthwiseConv2D",
    .stem = "depthwise_conv2d",
    .args = QAT_ARG(DEPTH_MULTIPLIER) | QAT_ARG(KERNEL_SIZE) | QAT_ARG(STRIDES) | QAT_ARG(PADDING) |
            QAT_ARG(ACTIVATION) | QAT_ARG(USE_BIAS),
    .required_args = QAT_ARG(KERNEL_SIZE),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = qat_weighted_build_conv,
    .roles = QAT_LAYER_HEAD | QAT_LAYER_FOLDS_BN,
    .link_requant = qat_weighted_requant_fixed,
    .lower = qat_weighted_lower,
    .kernel = "depthwise_kernel",
    .kernel_channel_axis = 3,
    .keras_kernel = QAT_KERNEL_HWCM,
    .keras = keras,
    .yaml = yaml,
};
