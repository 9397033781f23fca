/* A model: the layer DAG of a qat_model_spec turned into an autograd graph, with every
 * trainable parameter in one flat vector (kernels first, so weight decay is a prefix), their
 * gradients in a second, and non-trainable state (batch-norm moving statistics) in a third. */
#ifndef QAT_MODEL_H
#define QAT_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "qat/autograd.h"
#include "qat/fq.h"
#include "qat/spec.h"

/* One parameter tensor's limit: far above any network that fits a microcontroller or phone,
 * and low enough that sizes never overflow. */
#define QAT_MAX_PARAMS ((int64_t)1 << 28)
/* The model input's values per sample (a 4096 x 4096 x 4 image): larger configs are refused
 * with a message before anything is allocated. */
#define QAT_MAX_INPUT_VALUES ((int64_t)1 << 26)

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

/* One model output with its loss (qat_spec_n_outputs of them). */
typedef struct qat_head {
  int layer;               /* the output layer */
  qat_loss loss;
  float weight;            /* in the summed loss */
  qat_tensor *out;         /* the layer's output (the logits of a folded softmax) */
  qat_tensor *loss_out;    /* its loss node's output, weighted */
  int32_t *labels;         /* class losses: max_batch * positions entries */
  int64_t positions;       /* class losses: distributions per sample */
  qat_tensor *targets;     /* value losses: the targets, the output's shape; NULL for class losses */
  int num_classes;         /* class losses: the output's last axis */
  int final_softmax;       /* the output layer's softmax is folded into the loss */
} qat_head;

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
  qat_tensor *logits, *loss; /* the first output; the loss summed over the outputs */
  /* The first output's loss, as the single-output code reads it (heads[0]'s): */
  int32_t *labels;         /* class losses: max_batch * positions entries, read by the loss node */
  int64_t positions;       /* class losses: distributions per sample (1, or a segmenter's pixels) */
  qat_tensor *targets;     /* value losses (binary cross-entropy, regression): the targets, the
                              output's shape; NULL for class losses */
  int num_classes;         /* class losses: the output's last axis */
  int final_softmax;       /* the last layer had activation softmax: folded into the loss */
  int n_heads;             /* the model's outputs, each with its loss (model.outputs) */
  qat_head heads[QAT_MAX_OUTPUTS];
  int n_forward;           /* graph nodes before the loss nodes: what inference runs */
  char metric_label[QAT_NAME_MAX + 16]; /* several outputs: "<first output>_<metric>" */
  /* Quantization-aware models (spec.quantize.enabled): */
  qat_fq **fq;             /* every fake-quant node's state, in graph order */
  int n_fq;
  qat_fq **layer_fq;       /* the quantizer of each layer's output (shared through pools and
                              reshapes); NULL inside a fused chain or without QAT */
  qat_fq *input_fq;
  qat_tensor *input_q;     /* the model input after its fake quant (the input itself without QAT) */
  int *fold_bn;            /* conv/depthwise layer -> the BatchNormalization folded into it, or -1 */
  int *fused_into;         /* layer -> the layer whose int8 op it belongs to (itself if it heads one) */
  int *shared_range;       /* layer -> the layer (a Concatenate) whose output quantizer quantizes its
                              output too, or -1 (layer_fq then points to that quantizer) */
} qat_model;

/* Layer li's k-th input (-1: the model input) and its input count: a layer without explicit
 * inputs reads the one before it. */
static inline int qat_layer_input(const qat_model_spec *s, int li, int k) {
  return s->layers[li].n_inputs > 0 ? s->layers[li].inputs[k] : li - 1;
}
static inline int qat_layer_n_inputs(const qat_model_spec *s, int li) {
  return s->layers[li].n_inputs > 0 ? s->layers[li].n_inputs : 1;
}

int qat_model_create(qat_model **out, const qat_model_spec *spec, int max_batch, uint64_t seed);
void qat_model_free(qat_model *m);
/* Re-draws every parameter (Glorot-uniform kernels, zero biases, BN gamma 1 / beta 0 and
 * moving mean 0 / variance 1) from the seed. */
void qat_model_init_params(qat_model *m, uint64_t seed);
/* Forward over n <= max_batch samples (NHWC floats); logits land in m->logits. */
void qat_model_forward(qat_model *m, const float *x, int n, const qat_exec *ex);
/* Forward, the loss, and (if backward) gradients into m->grads, which are zeroed first.
 * labels: n * m->positions class indices for a class loss (ignored by a value loss, whose
 * targets qat_model_set_targets gave). Reports the loss and the metric summed over the n
 * samples (qat_model_metric_name): correct top-1 predictions (a segmenter's share of correct
 * pixels per sample), correct binary decisions per sample, or the mean absolute error per
 * sample. */
void qat_model_step(qat_model *m, const float *x, const int32_t *labels, int n, const qat_exec *ex,
                    int backward, float *loss, double *metric);
/* For summing gradients while backward goes on (data-parallel): each trainable parameter's
 * run of m->grads and the node after which it is final (seg holds n_param_list entries).
 * Returns the number of segments. */
int qat_model_grad_segments(const qat_model *m, qat_grad_segment *seg);
/* Several outputs: each sample's targets as one row, the outputs' in order: a class loss's
 * labels (positions of them, as floats), a value loss's values (the output's per sample). */
int64_t qat_model_head_target_len(const qat_model *m, int h);
void qat_model_set_row_targets(qat_model *m, const float *rows, int n);
/* Output h's metric over the last step's n samples, summed (qat_model_step's, per output), and
 * its name. */
double qat_model_head_metric(const qat_model *m, int h, int n);
const char *qat_model_head_metric_name(const qat_model *m, int h);
/* Value losses: the n samples' targets (n times the output's values per sample). */
void qat_model_set_targets(qat_model *m, const float *targets, int n);
/* "accuracy" (class losses, binary cross-entropy) or "mae" (regression); with several outputs the
 * first output's, as "<its name>_accuracy" */
const char *qat_model_metric_name(const qat_model *m);
const qat_param *qat_model_find_param(const qat_model *m, const char *name);
const qat_fq *qat_model_find_fq(const qat_model *m, const char *name);
/* Moves each folded conv's bias into its batch norm's moving mean (the folded unit has no
 * separate conv bias): call after loading float weights into a QAT model. */
void qat_model_absorb_folded_bias(qat_model *m);
/* The exec flags of the quantize schedule at optimizer step `step`. */
void qat_model_schedule(const qat_model *m, int64_t step, qat_exec *ex);
/* Keras-style summary: layer, type, output shape, parameter count. */
void qat_model_summary(const qat_model *m, FILE *f);
int64_t qat_model_trainable_count(const qat_model *m);

#endif
