/* AveragePooling2D: AVERAGE_POOL_2D over H and W, the output on the input's scale and zero point. */
#include "layers/pooling.h"

static const char *const aliases[] = {"AvgPool2D", NULL};

const qat_layer_desc qat_layer_average_pooling2d = {
    .keras_class = "AveragePooling2D",
    .stem = "average_pooling2d",
    .aliases = aliases,
    .args = QAT_POOL_ARGS,
    .min_inputs = 1,
    .max_inputs = 1,
    .finish = qat_pool_finish,
    .build = qat_pool_build,
    .range = qat_pool_range,
    .lower = qat_pool_lower,
    .keras = qat_pool_keras,
    .yaml = qat_pool_yaml,
};
