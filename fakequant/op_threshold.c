/* A ReLU's threshold on a quantized tensor: y = x > t ? x : 0 with x on its quantizer's grid
 * (attrs.state: the input's qat_fq, attrs.alpha: t). The integer models write
 * SELECT_V2(LESS(t_q, x), x, zero point) with t_q = qat_threshold_integer's, so that t_q < q is
 * x > t on the grid; but TFLite's int8 LESS compares both sides scaled by 256 s
 * (qat_comparison_scaled), which merges neighbouring steps once 256 s < 1, and this op makes
 * the same comparison while fake quant is on. Off, before the quantizer has a range, or in a model
 * without QAT (no quantizer): x > t.
 * The output holds x's values or 0, all on x's grid: nothing rounds after it. */
#include <math.h>
#include <stdint.h>

#include "qat/fq.h"
#include "qat/quant.h"
#include "autograd/op_common.h"

static int thr_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  y->rank = x->rank;
  for (int i = 0; i < x->rank; i++) y->dims[i] = x->dims[i];
  *scratch = (size_t)qat_tensor_size(x); /* the pass mask, one byte per value, for backward */
  return QAT_OK;
}

static void thr_forward(qat_node *nd, const qat_exec *ex) {
  const qat_fq *fq = nd->attrs.state;
  const float t = nd->attrs.alpha, *x = OP_X(nd)->data;
  float *y = nd->output->data;
  uint8_t *pass = nd->scratch;
  const int64_t n = qat_tensor_size(OP_X(nd));
  int32_t q_t = 0, mult = 0;
  int shift = 0, grid = ex->fake_quant && fq && fq->valid && fq->channels == 1;
  const float s = grid ? fq->scale[0] : 1.0f;
  const int32_t zp = grid ? fq->zero_point[0] : 0;
  int all = 0;
  if (grid) {
    all = qat_threshold_integer(t, s, zp, fq->qmin, fq->qmax, &q_t);
    if (qat_comparison_multiplier(s, &mult, &shift)) grid = 0; /* no int8 export: x > t */
  }
  const int32_t st = grid ? qat_comparison_scaled(q_t - zp, mult, shift) : 0;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    int keep;
    if (!grid) keep = x[i] > t;
    else keep = all || st < qat_comparison_scaled((int32_t)lrintf(x[i] / s), mult, shift);
    pass[i] = (uint8_t)keep;
    y[i] = keep ? x[i] : 0.0f;
  }
}

static void thr_backward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  qat_tensor *x = OP_X(nd);
  if (!x->grad) return;
  const float *dy = nd->output->grad;
  const uint8_t *pass = nd->scratch;
  const int64_t n = qat_tensor_size(x);
  for (int64_t i = 0; i < n; i++) x->grad[i] += pass[i] ? dy[i] : 0.0f;
}

/* the gradient walk: off the grid (fake quant off), the kink at t */
static int thr_example(qat_op_example *ex, int variant) {
  if (variant != 0) return -1;
  example_input(ex, 0, 4, (int[]){2, 3, 4, 5}, 1, 1, QAT_FILL_UNIFORM);
  ex->scale = 2.0f;
  ex->n_kinks = 1;
  ex->kinks[0] = 0.3f;
  ex->attrs.custom = &qat_threshold_op;
  ex->attrs.alpha = 0.3f;
  return 0;
}

const qat_op_info qat_threshold_op = {
    .name = "threshold", .plan = thr_plan, .forward = thr_forward, .backward = thr_backward,
    .example = thr_example,
};
