/* Element-wise product of two tensors with numpy broadcasting (each dimension equal, or 1 in
 * one of them): silu's x * sigmoid(x) and Multiply's squeeze-and-excite [N,1,1,C] x [N,H,W,C].
 * Both tensors are viewed at rank 4 (leading 1s); the gradient of a broadcast input is summed
 * over the dimensions it was repeated along. */
#include "op_common.h"

static int mul_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *a = nd->inputs[0], *b = nd->inputs[1];
  if (qat_bcast_shape(a, b, nd->output)) {
    char sa[64], sb[64];
    shape_str(a, sa, sizeof sa);
    shape_str(b, sb, sizeof sb);
    return qat_fail(QAT_ERR_USAGE, "Multiply inputs %s and %s do not broadcast", sa, sb);
  }
  *scratch = 0;
  return QAT_OK;
}

static void mul_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  qat_bcast4 v;
  qat_bcast4_view(nd->inputs[0], nd->inputs[1], nd->output, &v);
  const float *a = nd->inputs[0]->data, *b = nd->inputs[1]->data;
  float *y = nd->output->data;
  const int n0 = v.out[0], n1 = v.out[1], n2 = v.out[2], n3 = v.out[3];
#pragma omp parallel for schedule(static) if ((int64_t)n0 * n1 * n2 * n3 > 65536)
  for (int i0 = 0; i0 < n0; i0++)
    for (int i1 = 0; i1 < n1; i1++)
      for (int i2 = 0; i2 < n2; i2++) {
        const float *pa = a + i0 * v.sa[0] + i1 * v.sa[1] + i2 * v.sa[2];
        const float *pb = b + i0 * v.sb[0] + i1 * v.sb[1] + i2 * v.sb[2];
        float *py = y + (((int64_t)i0 * n1 + i1) * n2 + i2) * n3;
        for (int i3 = 0; i3 < n3; i3++) py[i3] = pa[i3 * v.sa[3]] * pb[i3 * v.sb[3]];
      }
}

/* d(input k) += dy * (the other input), summed where input k was broadcast; serial over the
 * output so that broadcast gradients add up without races (the op is cheap next to convs). */
static void mul_backward(qat_node *nd, const qat_exec *ex) {
  qat_bcast4 v;
  qat_bcast4_view(nd->inputs[0], nd->inputs[1], nd->output, &v);
  const float *a = nd->inputs[0]->data, *b = nd->inputs[1]->data, *dy = nd->output->grad;
  const int64_t second = op_half_start(ex, nd->output);
  const int n0 = v.out[0], n1 = v.out[1], n2 = v.out[2], n3 = v.out[3];
  for (int i0 = 0; i0 < n0; i0++)
    for (int i1 = 0; i1 < n1; i1++)
      for (int i2 = 0; i2 < n2; i2++) {
        const int64_t oa = i0 * v.sa[0] + i1 * v.sa[1] + i2 * v.sa[2];
        const int64_t ob = i0 * v.sb[0] + i1 * v.sb[1] + i2 * v.sb[2];
        const int64_t o = (((int64_t)i0 * n1 + i1) * n2 + i2) * n3;
        const float *g = dy + o;
        float *da = op_grad_half(nd->inputs[0], o >= second), *db = op_grad_half(nd->inputs[1], o >= second);
        for (int i3 = 0; i3 < n3; i3++) {
          const int64_t ja = oa + i3 * v.sa[3], jb = ob + i3 * v.sb[3];
          if (da) da[ja] += g[i3] * b[jb];
          if (db) db[jb] += g[i3] * a[ja];
        }
      }
}

static int mul_example(qat_op_example *ex, int variant) {
  switch (variant) {
  case 0: /* same shape */
    example_input(ex, 0, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
    example_input(ex, 1, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
    return 0;
  case 1: /* squeeze-and-excite: [N,1,1,C] x [N,H,W,C] */
    example_input(ex, 0, 4, (int[]){2, 1, 1, 4}, 1, 1, QAT_FILL_UNIFORM);
    example_input(ex, 1, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
    return 0;
  case 2: /* the other way round, and a per-channel vector */
    example_input(ex, 0, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
    example_input(ex, 1, 1, (int[]){4}, 0, 1, QAT_FILL_UNIFORM);
    return 0;
  default: return -1;
  }
}

const qat_op_info qat_op_info_mul = {
    .name = "mul", .plan = mul_plan, .forward = mul_forward, .backward = mul_backward,
    .example = mul_example,
};
