/* MaxPooling2D: MAX_POOL_2D over H and W, the output on the input's scale and zero point. */
#include "layers/pooling.h"

QAT_POOL_LAYER(max_pooling2d, "MaxPooling2D", "MaxPool2D", NULL); /* a max picks a grid value: nothing to round */
