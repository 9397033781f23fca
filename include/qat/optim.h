/* Optimizers over one flat parameter vector. Update rules follow Keras (so a Keras user's
 * hyper-parameters mean the same here); weight decay is L2 added to the gradient for SGD and
 * Adam and decoupled (decay the weights by lr * wd) for AdamW. */
#ifndef QAT_OPTIM_H
#define QAT_OPTIM_H

#include <stdint.h>

#include "qat/spec.h"

typedef struct qat_optimizer {
  qat_optimizer_spec spec;
  qat_schedule_spec schedule;
  int64_t n_params;
  int64_t n_decay;     /* weight decay applies to params[0, n_decay): kernels, not biases or BN */
  int64_t total_steps; /* for the cosine schedule */
  int64_t step;        /* updates applied so far */
  float *m, *v;        /* momentum / first moment, second moment (Adam) */
} qat_optimizer;

int qat_optimizer_init(qat_optimizer *o, const qat_optimizer_spec *spec, const qat_schedule_spec *schedule,
                       int64_t n_params, int64_t n_decay, int64_t total_steps);
void qat_optimizer_free(qat_optimizer *o);
/* Learning rate for update number `step` (0-based). */
float qat_schedule_lr(const qat_schedule_spec *s, float base_lr, int64_t step, int64_t total_steps);
/* Global L2 norm of a vector (accumulated in double). */
double qat_vector_norm(const float *g, int64_t n);
/* Applies clipping, weight decay and one update; grad_norm is the norm before clipping
 * (computed by the caller, who also uses it to detect divergence). */
void qat_optimizer_step(qat_optimizer *o, float *params, float *grads, double grad_norm);
/* Elements of optimizer state to checkpoint: m then v (v empty for SGD). */
int64_t qat_optimizer_state_size(const qat_optimizer *o);

#endif
