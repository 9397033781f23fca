/* A model: the layer DAG of a qat_model_spec turned into an autograd graph, with every
 * trainable parameter in one flat vector (kernels first, so weight decay is a prefix), their
 * gradients in a second, and non-trainable state (batch-norm moving statistics) in a third. */
#ifndef QAT_MODEL_H
#define QAT_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "qat/autograd.h"
#include "qat/spec.h"

/* One parameter tensor's limit: far above any network that fits a microcontroller or phone,
 * and low enough that sizes never overflow. */
#define QAT_MAX_PARAMS ((int64_t)1 << 28)

typedef struct qat_param {
  char name[2 * QAT_NAME_MAX + 16]; /* Keras weight name: "conv2d/kernel", "dense_1/bias" */
  int layer;
  int rank;
  int dims[QAT_MAX_RANK];
  int64_t offset;   /* into params (trainable) or state */
  int64_t size;
  int trainable;    /* 0: batch-norm moving statistics, kept in state */
  qat_tensor *tensor;
} qat_param;

typedef struct qat_model {
  qat_model_spec spec;     /* a deep copy */
  int max_batch;
  float *params, *grads;   /* n_params each */
  int64_t n_params, n_decay;
  float *state;
  int64_t n_state;
  qat_param *param_list;
  int n_param_list;
  qat_graph graph;
  qat_tensor *input;
  qat_tensor **layer_out;  /* each layer's output tensor */
  qat_tensor *logits, *loss;
  int32_t *labels;         /* max_batch entries, read by the loss node */
  int num_classes;
  int final_softmax;       /* the last layer had activation softmax: folded into the loss */
} qat_model;

int qat_model_create(qat_model **out, const qat_model_spec *spec, int max_batch, uint64_t seed);
void qat_model_free(qat_model *m);
/* Re-draws every parameter (Glorot-uniform kernels, zero biases, BN gamma 1 / beta 0 and
 * moving mean 0 / variance 1) from the seed. */
void qat_model_init_params(qat_model *m, uint64_t seed);
/* Forward over n <= max_batch samples (NHWC floats); logits land in m->logits. */
void qat_model_forward(qat_model *m, const float *x, int n, const qat_exec *ex);
/* Forward, mean cross-entropy, and (if backward) gradients into m->grads, which are zeroed
 * first. Reports the loss and the number of correct top-1 predictions. */
void qat_model_step(qat_model *m, const float *x, const int32_t *labels, int n, const qat_exec *ex,
                    int backward, float *loss, int *correct);
const qat_param *qat_model_find_param(const qat_model *m, const char *name);
/* Keras-style summary: layer, type, output shape, parameter count. */
void qat_model_summary(const qat_model *m, FILE *f);
int64_t qat_model_trainable_count(const qat_model *m);

#endif
