/* What MaxPooling2D and AveragePooling2D share (layers/pooling.c). Private to layers/. */
#ifndef QAT_LAYERS_POOLING_H
#define QAT_LAYERS_POOLING_H

#include "layers/build.h"
#include "layers/lower_kit.h"

#define QAT_POOL_ARGS (QAT_ARG(POOL_SIZE) | QAT_ARG(STRIDES) | QAT_ARG(PADDING))

/* Keras pools default their strides to the pool size. */
void qat_pool_finish(qat_layer_spec *l, uint32_t seen);
qat_layer_range qat_pool_range(const qat_layer_spec *l);
int qat_pool_build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out);
int qat_pool_lower(qat_lowering *L, int li);
int qat_pool_keras(const qat_kcfg *k, qat_layer_spec *l);
void qat_pool_yaml(qat_yaml_out *y, const qat_layer_spec *l);

#endif
