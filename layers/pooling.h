/* What MaxPooling2D and AveragePooling2D share (layers/pooling.c). Private to layers/. */
#ifndef QAT_LAYERS_POOLING_H
#define QAT_LAYERS_POOLING_H

#include "layers/build.h"
#include "layers/lower_kit.h"

#define QAT_POOL_ARGS (QAT_ARG(POOL_SIZE) | QAT_ARG(STRIDES) | QAT_ARG(PADDING))

/* A 1-D pool's default pool_size: 2 steps, (1, 2) on the [1, T] view. */
void qat_pool_defaults_1d(qat_layer_spec *l);
/* Keras pools default their strides to the pool size. */
void qat_pool_finish(qat_layer_spec *l, uint32_t seen);
qat_layer_range qat_pool_range(const qat_layer_spec *l);
int qat_pool_build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out);
int qat_pool_lower(qat_lowering *L, int li);
int qat_pool_keras(const qat_kcfg *k, qat_layer_spec *l);
void qat_pool_yaml(qat_yaml_out *y, const qat_layer_spec *l);
/* Global pooling over H and W (MEAN, REDUCE_MAX; keep_dims false) and its Keras arguments. */
int qat_global_pool_lower(qat_lowering *L, int li, qat_tflite_op code);
int qat_global_pool_keras(const qat_kcfg *k, qat_layer_spec *l);
void qat_global_pool_yaml(qat_yaml_out *y, const qat_layer_spec *l);
/* keepdims: the pooled [N, C] viewed as [N, 1, 1, C]; else x itself. */
int qat_global_pool_keepdims(qat_builder *b, int li, qat_tensor *x, qat_tensor **out);

/* A pooling layer's descriptor: its names and the rounding its int8 op needs simulated
 * (link_requant, or NULL); the op follows from its type. */
#define QAT_POOL_LAYER(file, cls, alias, requant) QAT_POOL_LAYER_OF(file, cls, alias, requant, 0, QAT_LAYER_CONV2D)
/* ... and its 1-D twin (MaxPooling1D): the same op on the [1, T] view of a sequence */
#define QAT_POOL_LAYER_1D(file, cls, alias, requant, twin) QAT_POOL_LAYER_OF(file, cls, alias, requant, QAT_LAYER_ONE_D, twin)
#define QAT_POOL_LAYER_OF(file, cls, alias, requant, role, twin) \
  static const char *const file##_aliases[] = {alias, NULL}; \
  const qat_layer_desc qat_layer_##file = {              \
      .keras_class = cls,                                \
      .roles = role,                                     \
      .defaults = (role) ? qat_pool_defaults_1d : NULL,  \
      .two_d = twin,                                     \
      .stem = #file,                                     \
      .aliases = file##_aliases,                         \
      .args = QAT_POOL_ARGS,                             \
      .min_inputs = 1,                                   \
      .max_inputs = 1,                                   \
      .finish = qat_pool_finish,                         \
      .build = qat_pool_build,                           \
      .range = qat_pool_range,                           \
      .link_requant = requant,                           \
      .lower = qat_pool_lower,                           \
      .keras = qat_pool_keras,                           \
      .yaml = qat_pool_yaml,                             \
  }

#endif
