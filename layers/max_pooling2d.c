/* MaxPooling2D: MAX_POOL_2D over H and W, the output on the input's scale and zero point. */
#include "layers/pooling.h"

/* a max picks a grid value: nothing to round */
QAT_POOL_LAYER(max_pooling2d, "MaxPooling2D", "MaxPool2D", NULL);
QAT_POOL_LAYER_1D(max_pooling1d, "MaxPooling1D", "MaxPool1D", NULL, QAT_LAYER_MAX_POOL2D);
