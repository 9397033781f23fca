/* PReLU: x >= 0 ? x : alpha * x, with a learned alpha broadcast over the batch and the shared
 * axes (numpy's rule, right-aligned: Keras's alpha [H, W, C] with 1 on each shared axis). The
 * gradient of alpha is summed over every position it was repeated at; at x = 0 the slope is 1,
 * as TFLite's PRELU (x >= 0 keeps x) computes the forward. */
#include "op_common.h"

static int prelu_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = nd->inputs[0], *alpha = nd->inputs[1];
  if (qat_bcast_shape(x, alpha, nd->output) || nd->output->rank != x->rank ||
      qat_tensor_size(nd->output) != qat_tensor_size(x)) {
    char sx[64], sa[64];
    shape_str(x, sx, sizeof sx);
    shape_str(alpha, sa, sizeof sa);
    return qat_fail(QAT_ERR_USAGE, "PReLU alpha %s does not broadcast to its input %s", sa, sx);
  }
  *scratch = 0;
  return QAT_OK;
}

static void prelu_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  qat_bcast4 v;
  qat_bcast4_view(nd->inputs[0], nd->inputs[1], nd->output, &v);
  const float *x = nd->inputs[0]->data, *alpha = nd->inputs[1]->data;
  float *y = nd->output->data;
  const int n0 = v.out[0], n1 = v.out[1], n2 = v.out[2], n3 = v.out[3];
#pragma omp parallel for schedule(static) if ((int64_t)n0 * n1 * n2 * n3 > 65536)
  for (int i0 = 0; i0 < n0; i0++)
    for (int i1 = 0; i1 < n1; i1++)
      for (int i2 = 0; i2 < n2; i2++) {
        const int64_t o = (((int64_t)i0 * n1 + i1) * n2 + i2) * n3;
        const float *pa = alpha + i0 * v.sb[0] + i1 * v.sb[1] + i2 * v.sb[2];
        for (int i3 = 0; i3 < n3; i3++) {
          const float xi = x[o + i3];
          y[o + i3] = xi >= 0.0f ? xi : xi * pa[i3 * v.sb[3]];
        }
      }
}

/* Serial over the output, so that alpha's broadcast gradient adds up without races. */
static void prelu_backward(qat_node *nd, const qat_exec *ex) {
  qat_bcast4 v;
  qat_bcast4_view(nd->inputs[0], nd->inputs[1], nd->output, &v);
  const float *x = nd->inputs[0]->data, *alpha = nd->inputs[1]->data, *dy = nd->output->grad;
  float *dx = nd->inputs[0]->grad;
  const int64_t second = op_half_start(ex, nd->output);
  const int n0 = v.out[0], n1 = v.out[1], n2 = v.out[2], n3 = v.out[3];
  for (int i0 = 0; i0 < n0; i0++)
    for (int i1 = 0; i1 < n1; i1++)
      for (int i2 = 0; i2 < n2; i2++) {
        const int64_t o = (((int64_t)i0 * n1 + i1) * n2 + i2) * n3;
        const int64_t oa = i0 * v.sb[0] + i1 * v.sb[1] + i2 * v.sb[2];
        float *dalpha = op_grad_half(nd->inputs[1], o >= second);
        for (int i3 = 0; i3 < n3; i3++) {
          const float xi = x[o + i3], g = dy[o + i3];
          const int64_t ja = oa + i3 * v.sb[3];
          if (xi >= 0.0f) {
            if (dx) dx[o + i3] += g;
          } else {
            if (dx) dx[o + i3] += g * alpha[ja];
            if (dalpha) dalpha[ja] += g * xi;
          }
        }
      }
}

static int prelu_example(qat_op_example *ex, int variant) {
  switch (variant) {
  case 0: /* an alpha per position and channel, Keras's default */
    example_input(ex, 0, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
    example_input(ex, 1, 3, (int[]){3, 2, 4}, 0, 1, QAT_FILL_UNIFORM);
    break;
  case 1: /* shared_axes [1, 2]: one alpha per channel */
    example_input(ex, 0, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
    example_input(ex, 1, 3, (int[]){1, 1, 4}, 0, 1, QAT_FILL_UNIFORM);
    break;
  case 2: /* a vector input [N, F] */
    example_input(ex, 0, 2, (int[]){3, 5}, 1, 1, QAT_FILL_UNIFORM);
    example_input(ex, 1, 1, (int[]){5}, 0, 1, QAT_FILL_UNIFORM);
    break;
  default: return -1;
  }
  ex->n_kinks = 1;
  ex->kinks[0] = 0.0f;
  return 0;
}

const qat_op_info qat_op_info_prelu = {
    .name = "prelu", .plan = prelu_plan, .forward = prelu_forward, .backward = prelu_backward,
    .example = prelu_example,
};
