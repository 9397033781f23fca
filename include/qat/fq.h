/* The state of one fake-quant node: which tensor it quantizes, how (role, range, per-channel
 * axis), its observer, and the parameters the forward pass used last. The exporter reads the
 * same fields, so what was simulated in training is what gets written. */
#ifndef QAT_FQ_H
#define QAT_FQ_H

#include <stdint.h>

#include "qat/quant.h"
#include "qat/spec.h"

typedef enum qat_fq_role {
  QAT_FQ_ACTIVATION = 0, /* asymmetric per tensor, range from an observer */
  QAT_FQ_WEIGHT,         /* symmetric narrow range, per channel or per tensor, from the weights */
  QAT_FQ_BIAS,           /* int32 grid at input scale x weight scale[c] */
} qat_fq_role;

typedef struct qat_fq {
  qat_fq_role role;
  char name[2 * QAT_NAME_MAX + 16]; /* "conv2d/kernel", "conv2d/output", "input" */
  int qmin, qmax;
  int axis;          /* weights: the channel axis; -1 per tensor */
  int channels;      /* entries in the arrays below (1 per tensor) */
  float *scale;
  int32_t *zero_point;
  float *nudged_min, *nudged_max;
  qat_observer observer;        /* activations */
  int fixed;         /* parameters set from outside (tests, imports): never recomputed */
  int learned;       /* LSQ: the scale is a trainable parameter (the node's second input) */
  qat_activation act; /* RELU/RELU6 fused in, as the int8 op fuses it into its clamp: applied
                         first (also while fake quant is off), and its range observed */
  int valid;         /* parameters have been computed */
  const struct qat_fq *input, *weight; /* bias: its scale is input->scale[0] * weight->scale[c] */
} qat_fq;

#endif
