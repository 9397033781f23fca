/* concat: inputs of one shape but along attrs.axis (a tensor axis, 1..rank-1: the batch is
 * never joined), laid end to end along that axis. Backward hands each input its slice of dy. */
#include "autograd/op_common.h"

/* The tensor as [outer, axis * inner]: each input contributes one contiguous run per outer
 * index, so forward and backward are runs of memcpy / adds. */
static int64_t outer_of(const qat_tensor *t, int axis) {
  int64_t n = 1;
  for (int i = 0; i < axis; i++) n *= t->dims[i];
  return n;
}
static int64_t run_of(const qat_tensor *t, int axis) {
  int64_t n = 1;
  for (int i = axis; i < t->rank; i++) n *= t->dims[i];
  return n;
}

static int concat_plan(qat_node *nd, size_t *scratch) {
  const qat_tensor *x = OP_X(nd);
  const int axis = nd->attrs.axis;
  if (axis < 1 || axis >= x->rank)
    return qat_fail(QAT_ERR_USAGE, "concatenation axis %d is outside 1..%d (the batch axis 0 cannot be joined)",
                    axis, x->rank - 1);
  int total = 0;
  for (int k = 0; k < nd->n_inputs; k++) {
    const qat_tensor *o = nd->inputs[k];
    int same = o->rank == x->rank;
    for (int i = 0; same && i < x->rank; i++) same = i == axis || o->dims[i] == x->dims[i];
    if (!same) {
      char a[64], b[64];
      shape_str(x, a, sizeof a);
      shape_str(o, b, sizeof b);
      return qat_fail(QAT_ERR_USAGE, "Concatenate inputs must agree on every axis but %d, got %s and %s", axis, a, b);
    }
    total += o->dims[axis];
  }
  nd->output->rank = x->rank;
  for (int i = 0; i < x->rank; i++) nd->output->dims[i] = x->dims[i];
  nd->output->dims[axis] = total;
  *scratch = 0;
  return QAT_OK;
}

static void concat_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const int axis = nd->attrs.axis;
  const int64_t outer = outer_of(nd->output, axis), out_run = run_of(nd->output, axis);
  int64_t at = 0;
  for (int k = 0; k < nd->n_inputs; k++) {
    const qat_tensor *x = nd->inputs[k];
    const int64_t run = run_of(x, axis);
    for (int64_t o = 0; o < outer; o++)
      memcpy(nd->output->data + o * out_run + at, x->data + o * run, (size_t)run * sizeof(float));
    at += run;
  }
}

static void concat_backward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const int axis = nd->attrs.axis;
  const int64_t outer = outer_of(nd->output, axis), out_run = run_of(nd->output, axis);
  const float *dy = nd->output->grad;
  int64_t at = 0;
  for (int k = 0; k < nd->n_inputs; k++) {
    const qat_tensor *x = nd->inputs[k];
    const int64_t run = run_of(x, axis);
    if (x->grad)
      for (int64_t o = 0; o < outer; o++) {
        float *dx = x->grad + o * run;
        const float *g = dy + o * out_run + at;
        for (int64_t i = 0; i < run; i++) dx[i] += g[i];
      }
    at += run;
  }
}

/* Channels (the Inception and U-Net case), then the height and the width, with three inputs of
 * different sizes along the axis and one input that needs no gradient. */
static int concat_example(qat_op_example *ex, int variant) {
  if (variant > 2) return -1;
  const int axis = 3 - variant;
  for (int k = 0; k < 3; k++) {
    int dims[4] = {2, 3, 2, 2};
    dims[axis] = k + 1;
    example_input(ex, k, 4, dims, 1, k != 1, QAT_FILL_UNIFORM);
  }
  ex->attrs.axis = axis;
  return 0;
}

const qat_op_info qat_op_info_concat = {
    .name = "concat", .plan = concat_plan, .forward = concat_forward, .backward = concat_backward,
    .example = concat_example,
};
