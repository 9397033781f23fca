/* Mean softmax cross-entropy from logits, fused so it stays finite for any finite logits:
 * log p = x - max - log(sum exp(x - max)). Backward: (p - onehot) / N, N the global batch in
 * data-parallel training. Logits [N, ..., K] hold one distribution per position (a segmenter's
 * per-pixel classes): the mean runs over N times the positions, as Keras's sparse categorical
 * cross-entropy averages a [N, H, W] target. */
#include <math.h>

#include "op_common.h"

static int ce_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  if (x->rank < 2) {
    char xs[64];
    shape_str(x, xs, sizeof xs);
    return qat_fail(QAT_ERR_USAGE, "the loss expects logits [batch, ..., classes], got %s", xs);
  }
  y->rank = 0;
  *scratch = (size_t)qat_tensor_size(x) * sizeof(float); /* probabilities for backward */
  return QAT_OK;
}

/* distributions in this batch, and per sample */
static int64_t rows(const qat_tensor *x) { return qat_tensor_size(x) / x->dims[x->rank - 1]; }

/* the mean's divisor (a loss weight w divides it by w) */
static double denominator(const qat_node *nd, const qat_tensor *x, const qat_exec *ex) {
  const int64_t per = rows(x) / (x->dims[0] ? x->dims[0] : 1);
  const double weight = nd->attrs.loss_weight > 0.0f ? nd->attrs.loss_weight : 1.0;
  return (double)per * (double)(ex->coll ? ex->coll->global_batch : x->dims[0]) / weight;
}

static void ce_forward(qat_node *nd, const qat_exec *ex) {
  const qat_tensor *x = OP_X(nd);
  const int64_t n = rows(x);
  const int k = x->dims[x->rank - 1];
  float *p = nd->scratch;
  const int32_t *labels = nd->attrs.labels;
  double total = 0.0;
  for (int64_t s = 0; s < n; s++) {
    const float *row = x->data + s * k;
    float *ps = p + s * k;
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
  nd->output->data[0] = (float)(total / denominator(nd, x, ex));
}

static void ce_backward(qat_node *nd, const qat_exec *ex) {
  qat_tensor *x = OP_X(nd);
  if (!x->grad) return;
  const int64_t n = rows(x);
  const int k = x->dims[x->rank - 1];
  const float *p = nd->scratch;
  float scale = (float)(nd->output->grad[0] / denominator(nd, x, ex));
  for (int64_t s = 0; s < n; s++)
    for (int j = 0; j < k; j++) {
      float target = j == nd->attrs.labels[s] ? 1.0f : 0.0f;
      x->grad[s * k + j] += scale * (p[s * k + j] - target);
    }
}

static int ce_example(qat_op_example *ex, int variant) {
  if (variant > 1) return -1;
  ex->scale = 3.0f;
  if (variant == 0) {
    example_input(ex, 0, 2, (int[]){4, 5}, 1, 1, QAT_FILL_UNIFORM);
    ex->n_labels = 4;
  } else { /* per position: [2, 3, 2, 3] logits, 12 labels; weighted as one loss of several */
    example_input(ex, 0, 4, (int[]){2, 3, 2, 3}, 1, 1, QAT_FILL_UNIFORM);
    ex->n_labels = 12;
    ex->attrs.loss_weight = 0.4f;
  }
  for (int i = 0; i < ex->n_labels; i++) ex->labels[i] = (i * 7 + 3) % (variant ? 3 : 5);
  return 0;
}

const qat_op_info qat_op_info_softmax_cross_entropy = {
    .name = "softmax_cross_entropy", .plan = ce_plan, .forward = ce_forward, .backward = ce_backward,
    .example = ce_example,
};
