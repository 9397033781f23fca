/* AveragePooling2D: AVERAGE_POOL_2D over H and W, the output on the input's scale and zero
 * point. */
#include "layers/pooling.h"

QAT_POOL_LAYER(average_pooling2d, "AveragePooling2D", "AvgPool2D");
