/* The family of layers with a kernel: Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, Dense (the
 * transposed conv shares Conv2D's OHWI-shaped kernel, fold and requantization). Their descriptors live
 * in their own files; the graph, requantization, lowering and Keras reading they share live in
 * layers/weighted.c, as TFLite Micro's conv kernels share conv_common. Private to layers/. */
#ifndef QAT_LAYERS_WEIGHTED_H
#define QAT_LAYERS_WEIGHTED_H

#include "layers/build.h"
#include "layers/lower_kit.h"

/* Conv2D, DepthwiseConv2D and Conv2DTranspose (with a folded BatchNormalization while training QAT). */
int qat_weighted_build_conv(qat_builder *b, int li, qat_tensor **in, qat_tensor **out);
int qat_weighted_build_dense(qat_builder *b, int li, qat_tensor **in, qat_tensor **out);
/* SeparableConv2D: depthwise, its own output quantizer, then a 1x1 conv (layers/weighted.c). */
int qat_weighted_build_separable(qat_builder *b, int li, qat_tensor **in, qat_tensor **out);
/* CONV_2D / DEPTHWISE_CONV_2D requantize in fixed point; LiteRT's FULLY_CONNECTED in double. */
int qat_weighted_requant_fixed(qat_model *m, int head, qat_fq *out);
int qat_weighted_requant_double(qat_model *m, int head, qat_fq *out);
/* CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV or FULLY_CONNECTED, with a folded batch norm and a fused ReLU. */
int qat_weighted_lower(qat_lowering *L, int li);
/* Keras: the arguments Conv2D and DepthwiseConv2D share (data_format, dilation, groups,
 * kernel_size, strides, padding, activation, use_bias). */
int qat_weighted_keras_conv(const qat_kcfg *k, qat_layer_spec *l);
void qat_weighted_yaml_conv(qat_yaml_out *y, const qat_layer_spec *l);

/* What the Conv2D and DepthwiseConv2D descriptors share. */
#define QAT_CONV_ARGS                                                                                    \
  (QAT_ARG(KERNEL_SIZE) | QAT_ARG(STRIDES) | QAT_ARG(PADDING) | QAT_ARG(ACTIVATION) | QAT_ARG(USE_BIAS) | \
   QAT_ARG(DILATION_RATE))
#define QAT_CONV_ROLES (QAT_LAYER_HEAD | QAT_LAYER_FOLDS_BN)
#define QAT_CONV_LAYER_FIELDS                       \
  .min_inputs = 1, .max_inputs = 1,                 \
  .build = qat_weighted_build_conv,                 \
  .link_requant = qat_weighted_requant_fixed,       \
  .lower = qat_weighted_lower

#endif
