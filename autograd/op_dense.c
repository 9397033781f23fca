/* Dense: x [N, ..., I], weights [O, I] (TFLite's FULLY_CONNECTED layout), bias [O]; y [N, ..., O].
 * Over the last axis as Keras applies it, so a [N, I] input and a sequence [N, 1, T, I] are the
 * same product of rows: one sgemm each for forward, dW and dX. */
#include <cblas.h>

#include "op_common.h"

static int dense_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd), *y = nd->output;
  char xs[64], ws[64];
  shape_str(x, xs, sizeof xs);
  shape_str(w, ws, sizeof ws);
  if (x->rank < 2)
    return qat_fail(QAT_ERR_USAGE, "Dense expects an input [batch, ..., features], got %s", xs);
  if (w->rank != 2 || w->dims[1] != x->dims[x->rank - 1])
    return qat_fail(QAT_ERR_USAGE, "Dense weights %s do not match input %s", ws, xs);
  if (b && (b->rank != 1 || b->dims[0] != w->dims[0]))
    return qat_fail(QAT_ERR_USAGE, "Dense bias does not match %d units", w->dims[0]);
  y->rank = x->rank;
  for (int d = 0; d < x->rank - 1; d++) y->dims[d] = x->dims[d];
  y->dims[x->rank - 1] = w->dims[0];
  *scratch = 0;
  return QAT_OK;
}

static void dense_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd), *y = nd->output;
  int in = x->dims[x->rank - 1], out = w->dims[0], n = (int)(qat_tensor_size(x) / in);
  if (b) {
    for (int s = 0; s < n; s++) memcpy(y->data + (size_t)s * out, b->data, (size_t)out * sizeof(float));
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x->data, in, w->data, in,
              b ? 1.0f : 0.0f, y->data, out);
}

static void dense_backward(qat_node *nd, const qat_exec *ex) {
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd);
  const float *dy = nd->output->grad;
  int in = x->dims[x->rank - 1], out = w->dims[0], n = (int)(qat_tensor_size(x) / in);
  int64_t half[3];
  const int halves = op_halves(ex, x, half), per_sample = n / (int)half[halves];
  for (int h = 0; h < halves; h++) {
    const int r0 = (int)half[h] * per_sample, rows = (int)(half[h + 1] - half[h]) * per_sample;
    float *db = b ? op_grad_half(b, h) : NULL, *dw = op_grad_half(w, h);
    if (db)
      for (int s = r0; s < r0 + rows; s++)
        for (int o = 0; o < out; o++) db[o] += dy[(size_t)s * out + o];
    if (dw)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, rows, 1.0f, dy + (size_t)r0 * out, out,
                  x->data + (size_t)r0 * in, in, 1.0f, dw, in);
  }
  if (x->grad)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w->data, in,
                1.0f, x->grad, in);
}

static void dense_forward_ref(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd), *y = nd->output;
  int in = x->dims[x->rank - 1], out = w->dims[0], n = (int)(qat_tensor_size(x) / in);
  for (int s = 0; s < n; s++)
    for (int o = 0; o < out; o++) {
      double acc = b ? b->data[o] : 0.0;
      for (int i = 0; i < in; i++) acc += (double)x->data[(size_t)s * in + i] * w->data[(size_t)o * in + i];
      y->data[(size_t)s * out + o] = (float)acc;
    }
}

static void dense_backward_ref(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd);
  const float *dy = nd->output->grad;
  int in = x->dims[x->rank - 1], out = w->dims[0], n = (int)(qat_tensor_size(x) / in);
  for (int s = 0; s < n; s++)
    for (int o = 0; o < out; o++) {
      float d = dy[(size_t)s * out + o];
      if (b && b->grad) b->grad[o] += d;
      for (int i = 0; i < in; i++) {
        if (w->grad) w->grad[(size_t)o * in + i] += d * x->data[(size_t)s * in + i];
        if (x->grad) x->grad[(size_t)s * in + i] += d * w->data[(size_t)o * in + i];
      }
    }
}

static int dense_example(qat_op_example *ex, int variant) {
  if (variant > 2) return -1;
  if (variant == 2) /* over the last axis of a sequence [N, 1, T, I] */
    example_input(ex, 0, 4, (int[]){2, 1, 3, 7}, 1, 1, QAT_FILL_UNIFORM);
  else
    example_input(ex, 0, 2, (int[]){3, 7}, 1, 1, QAT_FILL_UNIFORM);
  example_input(ex, 1, 2, (int[]){5, 7}, 0, 1, QAT_FILL_UNIFORM);
  if (variant != 1) example_input(ex, 2, 1, (int[]){5}, 0, 1, QAT_FILL_UNIFORM);
  return 0;
}

const qat_op_info qat_op_info_dense = {
    .name = "dense",
    .plan = dense_plan,
    .forward = dense_forward,
    .backward = dense_backward,
    .forward_ref = dense_forward_ref,
    .backward_ref = dense_backward_ref,
    .example = dense_example,
};
