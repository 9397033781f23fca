/* Mean softmax cross-entropy from logits, fused so it stays finite for any finite logits:
 * log p = x - max - log(sum exp(x - max)). Backward: (p - onehot) / N, N the global batch in data-parallel training. */
#include <math.h>

#include "op_common.h"

static int ce_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  if (x->rank != 2) {
    char xs[64];
    shape_str(x, xs, sizeof xs);
    return qat_fail(QAT_ERR_USAGE, "the loss expects logits [batch, classes], got %s", xs);
  }
  y->rank = 0;
  *scratch = (size_t)qat_tensor_size(x) * sizeof(float); /* probabilities for backward */
  return QAT_OK;
}

static void ce_forward(qat_node *nd, const qat_exec *ex) {
  const qat_tensor *x = OP_X(nd);
  int n = x->dims[0], k = x->dims[1];
  float *p = nd->scratch;
  const int32_t *labels = nd->attrs.labels;
  double total = 0.0;
  for (int s = 0; s < n; s++) {
    const float *row = x->data + (size_t)s * k;
    float *ps = p + (size_t)s * k;
    float mx = row[0];
    for (int j = 1; j < k; j++) mx = row[j] > mx ? row[j] : mx;
    double sum = 0.0;
    for (int j = 0; j < k; j++) sum += exp((double)row[j] - mx);
    double log_sum = log(sum);
    for (int j = 0; j < k; j++) ps[j] = (float)exp((double)row[j] - mx - log_sum);
    QAT_ASSERT(labels[s] >= 0 && labels[s] < k);
    total -= (double)row[labels[s]] - mx - log_sum;
  }
  /* data-parallel: this process's share of the global batch's mean */
  nd->output->data[0] = (float)(total / (ex->coll ? (double)ex->coll->global_batch : (double)n));
}

static void ce_backward(qat_node *nd, const qat_exec *ex) {
  qat_tensor *x = OP_X(nd);
  if (!x->grad) return;
  int n = x->dims[0], k = x->dims[1];
  const float *p = nd->scratch;
  float scale = nd->output->grad[0] / (float)(ex->coll ? ex->coll->global_batch : n);
  for (int s = 0; s < n; s++)
    for (int j = 0; j < k; j++) {
      float target = j == nd->attrs.labels[s] ? 1.0f : 0.0f;
      x->grad[(size_t)s * k + j] += scale * (p[(size_t)s * k + j] - target);
    }
}

static int ce_example(qat_op_example *ex, int variant) {
  if (variant) return -1;
  example_input(ex, 0, 2, (int[]){4, 5}, 1, 1, QAT_FILL_UNIFORM);
  ex->scale = 3.0f;
  ex->n_labels = 4;
  ex->labels[0] = 0;
  ex->labels[1] = 3;
  ex->labels[2] = 4;
  ex->labels[3] = 3;
  return 0;
}

const qat_op_info qat_op_info_softmax_cross_entropy = {
    .name = "softmax_cross_entropy", .plan = ce_plan, .forward = ce_forward, .backward = ce_backward,
    .example = ce_example,
};
