/* SeparableConv2D: DEPTHWISE_CONV_2D (kernel_size, strides, padding, depth_multiplier; no bias)
 * then a 1x1 CONV_2D (filters, bias), as the TF converter lowers it. The int8 model requantizes
 * between the two: the depthwise output has its own quantizer ("<name>_depthwise_output");
 * a following BatchNormalization folds into the pointwise weights, a ReLU/ReLU6 fuses into the
 * CONV_2D. Keras's depthwise_kernel [KH, KW, C, M] and pointwise_kernel [1, 1, C*M, F] become
 * [1, KH, KW, C*M] and OHWI [F, 1, 1, C*M]. */
#include "layers/weighted.h"

#include "qat/error.h"

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc = qat_weighted_keras_conv(k, l);
  if (rc || (rc = k->ops->integer(k, "filters", 1, 1 << 20, &l->filters))) return rc;
  if (k->ops->is_set(k, "depth_multiplier"))
    return k->ops->integer(k, "depth_multiplier", 1, 1 << 20, &l->depth_multiplier);
  return QAT_OK;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", filters: %d, depth_multiplier: %d", l->filters, l->depth_multiplier);
  qat_weighted_yaml_conv(y, l);
}

#define SEPARABLE_FIELDS                                                                                   \
  .args = QAT_ARG(FILTERS) | QAT_ARG(DEPTH_MULTIPLIER) | QAT_CONV_ARGS,                                   \
  .required_args = QAT_ARG(FILTERS) | QAT_ARG(KERNEL_SIZE), .min_inputs = 1, .max_inputs = 1,            \
  .build = qat_weighted_build_separable, .link_requant = qat_weighted_requant_fixed,                     \
  .lower = qat_weighted_lower, .kernel = "pointwise_kernel", .kernel_channel_axis = 0,                   \
  .keras_kernel = QAT_KERNEL_HWIO, .keras = keras, .yaml = yaml

const qat_layer_desc qat_layer_separable_conv2d = {
    .keras_class = "SeparableConv2D",
    .stem = "separable_conv2d",
    .aliases = (const char *const[]){"SeparableConvolution2D", NULL},
    SEPARABLE_FIELDS,
    .roles = QAT_LAYER_HEAD | QAT_LAYER_FOLDS_BN,
};

/* SeparableConv1D: the same two ops on the [1, T] view of a sequence (Keras's kernels [K, C, M]
 * and [1, C*M, F]). */
const qat_layer_desc qat_layer_separable_conv1d = {
    .keras_class = "SeparableConv1D",
    .stem = "separable_conv1d",
    .aliases = (const char *const[]){"SeparableConvolution1D", NULL},
    SEPARABLE_FIELDS,
    .roles = QAT_LAYER_HEAD | QAT_LAYER_FOLDS_BN | QAT_LAYER_ONE_D,
    .two_d = QAT_LAYER_SEPARABLE_CONV2D,
};
