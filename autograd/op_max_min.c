/* Element-wise maximum and minimum of two tensors with numpy broadcasting (Keras's Maximum and
 * Minimum layers; MAXIMUM / MINIMUM in TFLite). The gradient goes to the input that won, the
 * first one on a tie (TF's rule: x gets it where x >= y for the maximum), summed over the
 * dimensions a broadcast input was repeated along. */
#include "op_common.h"

static int mm_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *a = nd->inputs[0], *b = nd->inputs[1];
  if (nd->n_inputs != 2 || qat_bcast_shape(a, b, nd->output)) {
    char sa[64], sb[64];
    shape_str(a, sa, sizeof sa);
    shape_str(b, sb, sizeof sb);
    return qat_fail(QAT_ERR_USAGE, "Maximum / Minimum inputs %s and %s do not broadcast", sa, sb);
  }
  *scratch = 0;
  return QAT_OK;
}

/* Whether a wins over b: the larger (maximum) or the smaller (minimum), a on a tie. */
static inline int first_wins(int is_max, float a, float b) { return is_max ? a >= b : a <= b; }

/* backward 0: y = winner; 1: the gradient to the winner. Serial over the output so that
 * broadcast gradients add up without races. */
static void mm_walk(qat_node *nd, int is_max, int backward) {
  qat_bcast4 v;
  qat_bcast4_view(nd->inputs[0], nd->inputs[1], nd->output, &v);
  const float *a = nd->inputs[0]->data, *b = nd->inputs[1]->data;
  float *y = nd->output->data, *da = nd->inputs[0]->grad, *db = nd->inputs[1]->grad;
  const float *dy = nd->output->grad;
  const int n0 = v.out[0], n1 = v.out[1], n2 = v.out[2], n3 = v.out[3];
  for (int i0 = 0; i0 < n0; i0++)
    for (int i1 = 0; i1 < n1; i1++)
      for (int i2 = 0; i2 < n2; i2++) {
        const int64_t oa = i0 * v.sa[0] + i1 * v.sa[1] + i2 * v.sa[2];
        const int64_t ob = i0 * v.sb[0] + i1 * v.sb[1] + i2 * v.sb[2];
        const int64_t oy = (((int64_t)i0 * n1 + i1) * n2 + i2) * n3;
        for (int i3 = 0; i3 < n3; i3++) {
          const int64_t ja = oa + i3 * v.sa[3], jb = ob + i3 * v.sb[3];
          const int wins = first_wins(is_max, a[ja], b[jb]);
          if (!backward) y[oy + i3] = wins ? a[ja] : b[jb];
          else if (wins && da) da[ja] += dy[oy + i3];
          else if (!wins && db) db[jb] += dy[oy + i3];
        }
      }
}

static void max_forward(qat_node *nd, const qat_exec *ex) { (void)ex, mm_walk(nd, 1, 0); }
static void max_backward(qat_node *nd, const qat_exec *ex) { (void)ex, mm_walk(nd, 1, 1); }
static void min_forward(qat_node *nd, const qat_exec *ex) { (void)ex, mm_walk(nd, 0, 0); }
static void min_backward(qat_node *nd, const qat_exec *ex) { (void)ex, mm_walk(nd, 0, 1); }

/* DISTINCT fills: no two values within a finite-difference step of each other, so no tie. */
static int mm_example(qat_op_example *ex, int variant) {
  switch (variant) {
  case 0: /* same shape */
    example_input(ex, 0, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_DISTINCT);
    example_input(ex, 1, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_DISTINCT);
    return 0;
  case 1: /* a per-sample, per-channel value against a feature map */
    example_input(ex, 0, 4, (int[]){2, 1, 1, 4}, 1, 1, QAT_FILL_DISTINCT);
    example_input(ex, 1, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_DISTINCT);
    return 0;
  default: return -1;
  }
}

const qat_op_info qat_op_info_maximum = {
    .name = "maximum", .plan = mm_plan, .forward = max_forward, .backward = max_backward, .example = mm_example,
};
const qat_op_info qat_op_info_minimum = {
    .name = "minimum", .plan = mm_plan, .forward = min_forward, .backward = min_backward, .example = mm_example,
};
