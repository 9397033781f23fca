/* Small enums that several modules share (the config, the layers, the autograd ops, export),
 * in a header of their own so that including them pulls in nothing else. */
#ifndef QAT_ENUMS_H
#define QAT_ENUMS_H

/* CAUSAL (Conv1D): all the padding before the first step, kernel - 1 of it (dilated), so output t
 * sees inputs up to t only. */
typedef enum qat_padding { QAT_PADDING_VALID = 0, QAT_PADDING_SAME = 1, QAT_PADDING_CAUSAL = 2 } qat_padding;

typedef enum qat_activation {
  QAT_ACTIVATION_LINEAR = 0,
  QAT_ACTIVATION_RELU,
  QAT_ACTIVATION_RELU6,
  QAT_ACTIVATION_SOFTMAX,
  /* Issue 15's element-wise activations (autograd/op_activation.c): Keras 3's definitions. */
  QAT_ACTIVATION_SIGMOID,
  QAT_ACTIVATION_TANH,
  QAT_ACTIVATION_SILU,         /* swish: x * sigmoid(x) */
  QAT_ACTIVATION_HARD_SIGMOID, /* relu6(x + 3) / 6 (Keras 3; Keras 2's was 0.2 x + 0.5) */
  QAT_ACTIVATION_HARD_SILU,    /* hard_swish: x * hard_sigmoid(x) */
  QAT_ACTIVATION_LEAKY_RELU,   /* x < 0: alpha x (the layer's alpha) */
  QAT_ACTIVATION_ELU,          /* x < 0: alpha (e^x - 1) */
  QAT_ACTIVATION_COUNT,        /* the activations a config or a Keras file names */
  /* min(max(x, 0), alpha): a ReLU layer's max_value other than 6; no `activation:` names it */
  QAT_ACTIVATION_RELU_MAX = QAT_ACTIVATION_COUNT + 2,
  /* x > t ? x : 0: a ReLU layer's threshold (Keras's; fakequant/op_threshold.c computes it, with or
   * without QAT); no `activation:` names it either */
  QAT_ACTIVATION_RELU_THRESHOLD
} qat_activation;

#endif
