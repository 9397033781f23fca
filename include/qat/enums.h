/* Small enums that several modules share (the config, the layers, the autograd ops, export),
 * in a header of their own so that including them pulls in nothing else. */
#ifndef QAT_ENUMS_H
#define QAT_ENUMS_H

typedef enum qat_padding { QAT_PADDING_VALID = 0, QAT_PADDING_SAME = 1 } qat_padding;

typedef enum qat_activation {
  QAT_ACTIVATION_LINEAR = 0,
  QAT_ACTIVATION_RELU,
  QAT_ACTIVATION_RELU6,
  QAT_ACTIVATION_SOFTMAX,
} qat_activation;

#endif
