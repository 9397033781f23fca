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

#define DEPTHWISE_FIELDS                                                                                  \
  .args = QAT_ARG(DEPTH_MULTIPLIER) | QAT_CONV_ARGS, .required_args = QAT_ARG(KERNEL_SIZE),             \
  QAT_CONV_LAYER_FIELDS, .kernel = "depthwise_kernel", .kernel_channel_axis = 3,                        \
  .keras_kernel = QAT_KERNEL_HWCM, .keras = keras, .yaml = yaml

const qat_layer_desc qat_layer_depthwise_conv2d = {
    .keras_class = "DepthwiseConv2D",
    .stem = "depthwise_conv2d",
    .roles = QAT_CONV_ROLES,
    DEPTHWISE_FIELDS,
};

/* DepthwiseConv1D: DEPTHWISE_CONV_2D on the [1, T] view of a sequence. */
const qat_layer_desc qat_layer_depthwise_conv1d = {
    .keras_class = "DepthwiseConv1D",
    .stem = "depthwise_conv1d",
    DEPTHWISE_FIELDS,
    .roles = QAT_CONV_ROLES | QAT_LAYER_ONE_D,
    .two_d = QAT_LAYER_DEPTHWISE_CONV2D,
};
