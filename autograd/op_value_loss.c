/* The losses against target values (Keras's mean_squared_error, mean_absolute_error, huber with
 * delta 1, binary_crossentropy from logits): inputs the prediction x and the targets t of the
 * same shape (t gets no gradient). The mean of the element-wise loss over every value, which is
 * Keras's per-sample mean over the last axis averaged over the batch when all samples have the
 * same shape; in data-parallel training divided by the global batch's value count.
 * Binary cross-entropy from logits is written max(x, 0) - x t + log(1 + exp(-|x|)), finite for
 * any x; from probabilities (a sigmoid output) it clips them to [1e-7, 1 - 1e-7] first, as
 * Keras does, and the clipped values pass no gradient. */
#include <math.h>

#include "op_common.h"

static int vl_plan(qat_node *nd, size_t *scratch) {
  const qat_tensor *x = OP_X(nd), *t = nd->inputs[1];
  if (nd->n_inputs != 2 || x->rank != t->rank || qat_tensor_size(x) != qat_tensor_size(t)) {
    char xs[64], ts[64];
    shape_str(x, xs, sizeof xs);
    shape_str(t, ts, sizeof ts);
    return qat_fail(QAT_ERR_USAGE, "the loss compares the output %s with targets of another shape %s", xs, ts);
  }
  if (nd->attrs.loss < QAT_VALUE_LOSS_MSE || nd->attrs.loss > QAT_VALUE_LOSS_BCE)
    return qat_fail(QAT_ERR_INTERNAL, "value loss %d", (int)nd->attrs.loss);
  nd->output->rank = 0;
  *scratch = 0;
  return QAT_OK;
}

/* the loss of one value and its derivative in x */
static inline double value_loss(qat_value_loss kind, double x, double t, double *d) {
  const double e = x - t;
  switch (kind) {
  case QAT_VALUE_LOSS_MSE: *d = 2.0 * e; return e * e;
  case QAT_VALUE_LOSS_MAE: *d = e > 0 ? 1.0 : e < 0 ? -1.0 : 0.0; return fabs(e);
  case QAT_VALUE_LOSS_HUBER:
    if (fabs(e) <= 1.0) {
      *d = e;
      return 0.5 * e * e;
    }
    *d = e > 0 ? 1.0 : -1.0;
    return fabs(e) - 0.5;
  case QAT_VALUE_LOSS_BCE_LOGITS: *d = 1.0 / (1.0 + exp(-x)) - t; return (x > 0 ? x : 0.0) - x * t + log1p(exp(-fabs(x)));
  case QAT_VALUE_LOSS_BCE:
  default: {
    const double eps = 1e-7, p = x < eps ? eps : x > 1.0 - eps ? 1.0 - eps : x;
    *d = p == x ? (p - t) / (p * (1.0 - p)) : 0.0;
    return -(t * log(p) + (1.0 - t) * log(1.0 - p));
  }
  }
}

static double denominator(const qat_node *nd, const qat_exec *ex) {
  const qat_tensor *x = OP_X(nd);
  const int64_t per = qat_tensor_size(x) / (x->dims[0] ? x->dims[0] : 1);
  const double weight = nd->attrs.loss_weight > 0.0f ? nd->attrs.loss_weight : 1.0;
  return (double)per * (double)(ex->coll ? ex->coll->global_batch : x->dims[0]) / weight;
}

static void vl_forward(qat_node *nd, const qat_exec *ex) {
  const qat_tensor *x = OP_X(nd), *t = nd->inputs[1];
  const int64_t n = qat_tensor_size(x);
  double total = 0.0, d;
  for (int64_t k = 0; k < n; k++) total += value_loss(nd->attrs.loss, x->data[k], t->data[k], &d);
  nd->output->data[0] = (float)(total / denominator(nd, ex));
}

static void vl_backward(qat_node *nd, const qat_exec *ex) {
  qat_tensor *x = OP_X(nd);
  const qat_tensor *t = nd->inputs[1];
  if (!x->grad) return;
  const int64_t n = qat_tensor_size(x);
  const double scale = nd->output->grad[0] / denominator(nd, ex);
  double d;
  for (int64_t k = 0; k < n; k++) {
    value_loss(nd->attrs.loss, x->data[k], t->data[k], &d);
    x->grad[k] += (float)(scale * d);
  }
}

static int vl_example(qat_op_example *ex, int variant) {
  if (variant > QAT_VALUE_LOSS_BCE - QAT_VALUE_LOSS_MSE) return -1;
  ex->attrs.loss = (qat_value_loss)(QAT_VALUE_LOSS_MSE + variant);
  if (variant == 0) ex->attrs.loss_weight = 2.5f; /* one loss of several, weighted */
  /* probabilities: half the inputs in (0, 0.4], half clipped (no gradient either way) */
  ex->scale = ex->attrs.loss == QAT_VALUE_LOSS_BCE ? 0.4f : 3.0f;
  const int dims[3] = {3, 2, 4};
  example_input(ex, 0, 3, dims, 1, 1, QAT_FILL_UNIFORM);
  /* MAE's kink at x = t and Huber's at |x - t| = 1 stay out of the finite differences: zero
   * targets and inputs away from those points; binary targets in (0.5, 1.5) */
  const int binary = ex->attrs.loss == QAT_VALUE_LOSS_BCE_LOGITS || ex->attrs.loss == QAT_VALUE_LOSS_BCE;
  example_input(ex, 1, 3, dims, 1, 0, binary ? QAT_FILL_POSITIVE : QAT_FILL_ZEROS);
  ex->n_kinks = 3;
  ex->kinks[0] = 0.0f;
  ex->kinks[1] = 1.0f;
  ex->kinks[2] = -1.0f;
  return 0;
}

const qat_op_info qat_op_info_value_loss = {
    .name = "value_loss", .plan = vl_plan, .forward = vl_forward, .backward = vl_backward, .example = vl_example,
};
