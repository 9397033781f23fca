/* Element-wise activations beyond ReLU (issue 15): sigmoid, tanh, silu (swish), hard_sigmoid,
 * hard_silu (hard_swish), leaky_relu, elu, a ReLU capped at max_value, one op with attrs.act choosing the function, as Keras
 * 3 defines them. The backward pass uses the saved input (and recomputes the cheap forward)
 * so it needs no workspace. */
#include <math.h>

#include "op_common.h"

static int act_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  switch (nd->attrs.act) {
  case QAT_ACTIVATION_SIGMOID:
  case QAT_ACTIVATION_TANH:
  case QAT_ACTIVATION_SILU:
  case QAT_ACTIVATION_HARD_SIGMOID:
  case QAT_ACTIVATION_HARD_SILU:
  case QAT_ACTIVATION_LEAKY_RELU:
  case QAT_ACTIVATION_ELU:
  case QAT_ACTIVATION_RELU_MAX: break;
  default: return qat_fail(QAT_ERR_USAGE, "activation op: function %d is not element-wise", (int)nd->attrs.act);
  }
  y->rank = x->rank;
  for (int i = 0; i < x->rank; i++) y->dims[i] = x->dims[i];
  *scratch = 0;
  return QAT_OK;
}

/* 1 / (1 + e^-x) without overflow for large |x| */
static inline float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

static inline float hard_sigmoid(float x) {
  float v = x / 6.0f + 0.5f;
  return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

static inline float act_value(qat_activation a, float alpha, float x) {
  switch (a) {
  case QAT_ACTIVATION_SIGMOID: return sigmoid(x);
  case QAT_ACTIVATION_TANH: return tanhf(x);
  case QAT_ACTIVATION_SILU: return x * sigmoid(x);
  case QAT_ACTIVATION_HARD_SIGMOID: return hard_sigmoid(x);
  case QAT_ACTIVATION_HARD_SILU: return x * hard_sigmoid(x);
  case QAT_ACTIVATION_LEAKY_RELU: return x >= 0.0f ? x : alpha * x;
  case QAT_ACTIVATION_ELU: return x > 0.0f ? x : alpha * expm1f(x);
  case QAT_ACTIVATION_RELU_MAX: return x > 0.0f ? (x < alpha ? x : alpha) : 0.0f;
  default: return x;
  }
}

static inline float act_slope(qat_activation a, float alpha, float x) {
  switch (a) {
  case QAT_ACTIVATION_SIGMOID: {
    float s = sigmoid(x);
    return s * (1.0f - s);
  }
  case QAT_ACTIVATION_TANH: {
    float t = tanhf(x);
    return 1.0f - t * t;
  }
  case QAT_ACTIVATION_SILU: {
    float s = sigmoid(x);
    return s + x * s * (1.0f - s);
  }
  case QAT_ACTIVATION_HARD_SIGMOID: return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f;
  case QAT_ACTIVATION_HARD_SILU: return x <= -3.0f ? 0.0f : x >= 3.0f ? 1.0f : x / 3.0f + 0.5f;
  case QAT_ACTIVATION_LEAKY_RELU: return x >= 0.0f ? 1.0f : alpha;
  case QAT_ACTIVATION_ELU: return x > 0.0f ? 1.0f : alpha * expf(x);
  case QAT_ACTIVATION_RELU_MAX: return x > 0.0f && x < alpha ? 1.0f : 0.0f;
  default: return 1.0f;
  }
}

static void act_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const float *restrict x = OP_X(nd)->data;
  float *restrict y = nd->output->data;
  const qat_activation a = nd->attrs.act;
  const float alpha = nd->attrs.alpha;
  int64_t n = qat_tensor_size(nd->output);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) y[i] = act_value(a, alpha, x[i]);
}

static void act_backward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  qat_tensor *xt = OP_X(nd);
  if (!xt->grad) return;
  const float *restrict x = xt->data, *restrict dy = nd->output->grad;
  float *restrict dx = xt->grad;
  const qat_activation a = nd->attrs.act;
  const float alpha = nd->attrs.alpha;
  int64_t n = qat_tensor_size(nd->output);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * act_slope(a, alpha, x[i]);
}

/* One variant per function; the piecewise ones keep their inputs off the kinks. */
static int act_example(qat_op_example *ex, int variant) {
  static const struct {
    qat_activation act;
    float alpha, scale;
    int n_kinks;
    float k0, k1;
  } v[] = {
      {QAT_ACTIVATION_SIGMOID, 0, 6, 0, 0, 0},       {QAT_ACTIVATION_TANH, 0, 3, 0, 0, 0},
      {QAT_ACTIVATION_SILU, 0, 6, 0, 0, 0},          {QAT_ACTIVATION_HARD_SIGMOID, 0, 5, 2, -3, 3},
      {QAT_ACTIVATION_HARD_SILU, 0, 5, 2, -3, 3},    {QAT_ACTIVATION_LEAKY_RELU, 0.2f, 2, 1, 0, 0},
      {QAT_ACTIVATION_ELU, 0.7f, 2, 1, 0, 0},          {QAT_ACTIVATION_RELU_MAX, 1.5f, 2, 2, 0, 1.5f},
  };
  if (variant < 0 || variant >= (int)(sizeof v / sizeof v[0])) return -1;
  example_input(ex, 0, 4, (int[]){2, 3, 4, 5}, 1, 1, QAT_FILL_UNIFORM);
  ex->scale = v[variant].scale;
  ex->n_kinks = v[variant].n_kinks;
  ex->kinks[0] = v[variant].k0;
  ex->kinks[1] = v[variant].k1;
  ex->attrs.act = v[variant].act;
  ex->attrs.alpha = v[variant].alpha;
  return 0;
}

const qat_op_info qat_op_info_activation = {
    .name = "activation", .plan = act_plan, .forward = act_forward, .backward = act_backward,
    .example = act_example,
};
