/* Batch-norm folding while training quantization-aware (Jacob et al. 2018; PyTorch's
 * ConvBn2d): the conv sees weights scaled by gamma / sqrt(moving_var + eps) per output
 * channel, which is what the exporter writes and what the weight fake-quant rounds, and its
 * output is scaled back before the batch-statistics batch norm, so training still normalizes
 * with the batch while the quantized weights are the deployed ones. Once batch norm is frozen
 * (moving statistics), unscale + BN reduces exactly to the folded conv plus a bias. */
#include <math.h>

#include "op_common.h"

#define GAMMA(n) ((n)->inputs[1])
#define VAR(n) ((n)->inputs[2])

static int check_channels(const qat_node *nd, int c) {
  for (int i = 1; i <= 2; i++)
    if (nd->inputs[i]->rank != 1 || nd->inputs[i]->dims[0] != c)
      return qat_fail(QAT_ERR_USAGE, "batch-norm folding: parameters do not match %d channels", c);
  return QAT_OK;
}

/* ---- weights * gamma / sigma along `axis` ---- */
static int fold_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *w = OP_X(nd), *y = nd->output;
  int axis = nd->attrs.axis;
  if (nd->n_inputs != 3 || axis < 0 || axis >= w->rank) return qat_fail(QAT_ERR_INTERNAL, "bn_fold_weights: bad axis");
  int rc = check_channels(nd, w->dims[axis]);
  if (rc) return rc;
  y->rank = w->rank;
  for (int i = 0; i < w->rank; i++) y->dims[i] = w->dims[i];
  *scratch = 0;
  return QAT_OK;
}

static void fold_split(const qat_node *nd, int64_t *outer, int64_t *c, int64_t *inner) {
  const qat_tensor *w = OP_X(nd);
  int axis = nd->attrs.axis;
  *outer = *inner = 1;
  for (int i = 0; i < axis; i++) *outer *= w->dims[i];
  for (int i = axis + 1; i < w->rank; i++) *inner *= w->dims[i];
  *c = w->dims[axis];
}

static void fold_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  int64_t outer, c, inner;
  fold_split(nd, &outer, &c, &inner);
  const float *w = OP_X(nd)->data, *gamma = GAMMA(nd)->data, *var = VAR(nd)->data;
  float *y = nd->output->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t k = 0; k < c; k++) {
      float f = gamma[k] / sqrtf(var[k] + nd->attrs.epsilon);
      for (int64_t i = 0; i < inner; i++) y[(o * c + k) * inner + i] = w[(o * c + k) * inner + i] * f;
    }
}

static void fold_backward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  int64_t outer, c, inner;
  fold_split(nd, &outer, &c, &inner);
  qat_tensor *wt = OP_X(nd), *gt = GAMMA(nd);
  const float *gamma = gt->data, *var = VAR(nd)->data, *dy = nd->output->grad;
  for (int64_t k = 0; k < c; k++) {
    float inv_sigma = 1.0f / sqrtf(var[k] + nd->attrs.epsilon), f = gamma[k] * inv_sigma;
    double dgamma = 0;
    for (int64_t o = 0; o < outer; o++)
      for (int64_t i = 0; i < inner; i++) {
        int64_t j = (o * c + k) * inner + i;
        if (wt->grad) wt->grad[j] += dy[j] * f;
        dgamma += (double)dy[j] * wt->data[j] * inv_sigma;
      }
    if (gt->grad) gt->grad[k] += (float)dgamma;
  }
}

static int fold_example(qat_op_example *ex, int variant) {
  if (variant > 1) return -1;
  if (variant == 0) { /* conv OHWI, axis 0 */
    example_input(ex, 0, 4, (int[]){3, 2, 2, 2}, 0, 1, QAT_FILL_UNIFORM);
    ex->attrs.axis = 0;
  } else { /* depthwise 1HW(C*M), axis 3 */
    example_input(ex, 0, 4, (int[]){1, 2, 2, 3}, 0, 1, QAT_FILL_UNIFORM);
    ex->attrs.axis = 3;
  }
  example_input(ex, 1, 1, (int[]){3}, 0, 1, QAT_FILL_POSITIVE);
  example_input(ex, 2, 1, (int[]){3}, 0, 0, QAT_FILL_POSITIVE);
  ex->attrs.epsilon = 1e-3f;
  return 0;
}

const qat_op_info qat_op_info_bn_fold_weights = {
    .name = "bn_fold_weights", .plan = fold_plan, .forward = fold_forward, .backward = fold_backward,
    .example = fold_example,
};

/* ---- x * sigma / gamma on the last axis: the folded conv's output back in BN's units ---- */
static int unscale_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  if (nd->n_inputs != 3) return qat_fail(QAT_ERR_INTERNAL, "channel_unscale needs 3 inputs");
  int rc = check_channels(nd, x->dims[x->rank - 1]);
  if (rc) return rc;
  y->rank = x->rank;
  for (int i = 0; i < x->rank; i++) y->dims[i] = x->dims[i];
  *scratch = 0;
  return QAT_OK;
}

static void unscale_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const qat_tensor *x = OP_X(nd);
  int c = x->dims[x->rank - 1];
  int64_t rows = qat_tensor_size(x) / c;
  const float *gamma = GAMMA(nd)->data, *var = VAR(nd)->data;
  float f[c];
  for (int k = 0; k < c; k++) f[k] = sqrtf(var[k] + nd->attrs.epsilon) / gamma[k];
  float *y = nd->output->data;
#pragma omp parallel for schedule(static) if (rows * c > 65536)
  for (int64_t r = 0; r < rows; r++)
    for (int k = 0; k < c; k++) y[r * c + k] = x->data[r * c + k] * f[k];
}

/* Rows outer, channels inner (walking one channel at a time strided through the tensor cost
 * 3.7 ns an element: mobilenet_tiny's QAT step, 6 ms). dgamma = -sigma / gamma^2 sum dy x: the
 * products dy x are exact in double and summed in row order, then scaled once per channel (a
 * division per element kept the loop at 0.7 ns an element). */
static void unscale_backward_rows(const float *restrict x, const float *restrict dy, float *restrict dx,
                                  int64_t rows, int c, const float *restrict f, const double *restrict sigma,
                                  const double *restrict gamma_sq, double *restrict dgamma) {
  double sum[c];
  for (int k = 0; k < c; k++) sum[k] = 0.0;
  for (int64_t r = 0; r < rows; r++) {
    const float *restrict xr = x + r * c, *restrict dyr = dy + r * c;
    if (dx)
      for (int k = 0; k < c; k++) dx[r * c + k] += dyr[k] * f[k];
    for (int k = 0; k < c; k++) sum[k] += (double)dyr[k] * xr[k];
  }
  for (int k = 0; k < c; k++) dgamma[k] -= sum[k] * sigma[k] / gamma_sq[k];
}

static void unscale_backward(qat_node *nd, const qat_exec *ex) {
  qat_tensor *x = OP_X(nd), *gt = GAMMA(nd);
  const int c = x->dims[x->rank - 1];
  const int64_t rows = qat_tensor_size(x) / c;
  const float *gamma = gt->data, *var = VAR(nd)->data;
  float f[c];
  double sigma[c], gamma_sq[c], dgamma[c];
  for (int k = 0; k < c; k++) {
    const float s = sqrtf(var[k] + nd->attrs.epsilon);
    f[k] = s / gamma[k];
    sigma[k] = s;
    gamma_sq[k] = (double)gamma[k] * gamma[k];
  }
  /* gamma's gradient sums over the batch: each half apart (qat_exec.halves) */
  int64_t half[3];
  const int halves = op_halves(ex, x, half);
  const int64_t per_sample = rows / half[halves];
  for (int h = 0; h < halves; h++) {
    const int64_t r0 = half[h] * per_sample;
    for (int k = 0; k < c; k++) dgamma[k] = 0;
    unscale_backward_rows(x->data + r0 * c, nd->output->grad + r0 * c, x->grad ? x->grad + r0 * c : NULL,
                          (half[h + 1] - half[h]) * per_sample, c, f, sigma, gamma_sq, dgamma);
    float *g = op_grad_half(gt, h);
    if (g)
      for (int k = 0; k < c; k++) g[k] += (float)dgamma[k];
  }
}

static int unscale_example(qat_op_example *ex, int variant) {
  if (variant) return -1;
  example_input(ex, 0, 4, (int[]){2, 2, 3, 3}, 1, 1, QAT_FILL_UNIFORM);
  example_input(ex, 1, 1, (int[]){3}, 0, 1, QAT_FILL_POSITIVE);
  example_input(ex, 2, 1, (int[]){3}, 0, 0, QAT_FILL_POSITIVE);
  ex->attrs.epsilon = 1e-3f;
  return 0;
}

const qat_op_info qat_op_info_channel_unscale = {
    .name = "channel_unscale", .plan = unscale_plan, .forward = unscale_forward, .backward = unscale_backward,
    .example = unscale_example,
};
