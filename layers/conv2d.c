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

#define CONV2D_FIELDS                                          \
  .args = QAT_ARG(FILTERS) | QAT_CONV_ARGS,                    \
  .required_args = QAT_ARG(FILTERS) | QAT_ARG(KERNEL_SIZE),    \
  QAT_CONV_LAYER_FIELDS, .kernel = "kernel", .kernel_channel_axis = 0, .keras_kernel = QAT_KERNEL_HWIO, \
  .keras = keras, .yaml = yaml

const qat_layer_desc qat_layer_conv2d = {
    .keras_class = "Conv2D",
    .stem = "conv2d",
    .roles = QAT_CONV_ROLES,
    .aliases = aliases,
    CONV2D_FIELDS,
};

/* Conv1D: the same CONV_2D on the [1, T] view of a sequence (the converter's EXPAND_DIMS, CONV_2D,
 * SQUEEZE with the reshapes left out). */
const qat_layer_desc qat_layer_conv1d = {
    .keras_class = "Conv1D",
    .stem = "conv1d",
    .aliases = (const char *const[]){"Convolution1D", NULL},
    CONV2D_FIELDS,
    .roles = QAT_CONV_ROLES | QAT_LAYER_ONE_D,
    .two_d = QAT_LAYER_CONV2D,
};
