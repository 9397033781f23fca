/* Conv2DTranspose: TRANSPOSE_CONV (inputs output_shape, weights, input, bias), filters
 * [O, KH, KW, I] per-channel int8 along axis 0 (Keras's [KH, KW, O, I] transposed on import),
 * a following BatchNormalization folded in and a ReLU/ReLU6 fused (TransposeConvOptions'
 * fused_activation_function, version 4), requantized per channel as CONV_2D is. Output size:
 * valid (in-1)*s + k, same in*s. Keras's output_padding and dilation_rate other than 1 are
 * refused. */
#include "layers/weighted.h"

#include "qat/error.h"

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc = qat_weighted_keras_conv(k, l);
  if (rc || (rc = k->ops->integer(k, "filters", 1, 1 << 20, &l->filters))) return rc;
  if (l->dilation_rate[0] != 1 || l->dilation_rate[1] != 1)
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "dilation_rate [%d, %d] is not supported (expected 1)",
                        l->dilation_rate[0], l->dilation_rate[1]);
  if (k->ops->is_set(k, "output_padding"))
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED,
                        "output_padding is not supported (expected None: the output size from the strides and "
                        "padding alone)");
  return QAT_OK;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", filters: %d", l->filters);
  qat_weighted_yaml_conv(y, l);
}

const qat_layer_desc qat_layer_conv2d_transpose = {
    .keras_class = "Conv2DTranspose",
    .stem = "conv2d_transpose",
    .aliases = (const char *const[]){"Convolution2DTranspose", "Deconvolution2D", "Deconv2D", NULL},
    .args = QAT_ARG(FILTERS) | (QAT_CONV_ARGS & ~QAT_ARG(DILATION_RATE)),
    .required_args = QAT_ARG(FILTERS) | QAT_ARG(KERNEL_SIZE),
    QAT_CONV_LAYER_FIELDS,
    .roles = QAT_CONV_ROLES,
    .kernel = "kernel",
    .kernel_channel_axis = 0,
    .keras_kernel = QAT_KERNEL_HWOI,
    .keras = keras,
    .yaml = yaml,
};
