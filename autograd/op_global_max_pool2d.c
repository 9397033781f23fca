/* Global max pooling: [N,H,W,C] -> [N,C] (TFLite REDUCE_MAX over axes 1, 2). The gradient goes
 * to the first position (in H, W order) that holds the maximum, as max pooling's does. */
#include "autograd/op_common.h"
#include "qat/error.h"

static int gmp_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  char xs[64];
  shape_str(x, xs, sizeof xs);
  if (x->rank != 4) return qat_fail(QAT_ERR_USAGE, "GlobalMaxPooling2D expects an input [batch,H,W,C], got %s", xs);
  y->rank = 2;
  y->dims[0] = x->dims[0];
  y->dims[1] = x->dims[3];
  *scratch = 0;
  return QAT_OK;
}

static void gmp_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const qat_tensor *x = OP_X(nd);
  int n = x->dims[0], hw = x->dims[1] * x->dims[2], c = x->dims[3];
#pragma omp parallel for schedule(static)
  for (int s = 0; s < n; s++) {
    float *out = nd->output->data + (size_t)s * c;
    const float *in = x->data + (size_t)s * hw * c;
    for (int k = 0; k < c; k++) out[k] = in[k];
    for (int p = 1; p < hw; p++)
      for (int k = 0; k < c; k++) out[k] = in[(size_t)p * c + k] > out[k] ? in[(size_t)p * c + k] : out[k];
  }
}

static void gmp_backward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  qat_tensor *x = OP_X(nd);
  if (!x->grad) return;
  int n = x->dims[0], hw = x->dims[1] * x->dims[2], c = x->dims[3];
#pragma omp parallel for schedule(static)
  for (int s = 0; s < n; s++) {
    const float *y = nd->output->data + (size_t)s * c, *d = nd->output->grad + (size_t)s * c;
    const float *in = x->data + (size_t)s * hw * c;
    float *g = x->grad + (size_t)s * hw * c;
    for (int k = 0; k < c; k++) {
      int p = 0;
      while (p < hw - 1 && in[(size_t)p * c + k] != y[k]) p++;
      g[(size_t)p * c + k] += d[k];
    }
  }
}

static int gmp_example(qat_op_example *ex, int variant) {
  if (variant) return -1;
  example_input(ex, 0, 4, (int[]){2, 3, 4, 5}, 1, 1, QAT_FILL_DISTINCT);
  return 0;
}

const qat_op_info qat_op_info_global_max_pool2d = {
    .name = "global_max_pool2d",
    .plan = gmp_plan,
    .forward = gmp_forward,
    .backward = gmp_backward,
    .example = gmp_example,
};
