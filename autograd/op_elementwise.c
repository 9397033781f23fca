/* Shape-preserving ops: ReLU, ReLU6, Add, Reshape (no copy) and Dropout. */
#include "qat/rng.h"
#include "op_common.h"

static int same_shape_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  y->rank = x->rank;
  for (int i = 0; i < x->rank; i++) y->dims[i] = x->dims[i];
  *scratch = 0;
  return QAT_OK;
}

static int unary_example(qat_op_example *ex, int variant, float scale, int n_kinks, float k0, float k1) {
  if (variant) return -1;
  example_input(ex, 0, 4, (int[]){2, 3, 4, 5}, 1, 1, QAT_FILL_UNIFORM);
  ex->scale = scale;
  ex->n_kinks = n_kinks;
  ex->kinks[0] = k0;
  ex->kinks[1] = k1;
  return 0;
}

/* ---- relu / relu6: gradient 1 strictly inside the linear region ---- */
static void clamp_forward(qat_node *nd, float hi) {
  const float *restrict x = OP_X(nd)->data;
  float *restrict y = nd->output->data;
  int64_t n = qat_tensor_size(nd->output);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    float v = x[i] > 0.0f ? x[i] : 0.0f;
    y[i] = v < hi ? v : hi;
  }
}

static void clamp_backward(qat_node *nd, float hi) {
  qat_tensor *x = OP_X(nd);
  if (!x->grad) return;
  const float *restrict dy = nd->output->grad, *restrict xv = x->data;
  float *restrict dx = x->grad;
  int64_t n = qat_tensor_size(nd->output);
  /* branch-free so it vectorizes: a select, not a conditional store */
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) dx[i] += (xv[i] > 0.0f && xv[i] < hi) ? dy[i] : 0.0f;
}

static void relu_forward(qat_node *nd, const qat_exec *ex) { (void)ex; clamp_forward(nd, __builtin_inff()); }
static void relu_backward(qat_node *nd, const qat_exec *ex) { (void)ex; clamp_backward(nd, __builtin_inff()); }
static int relu_example(qat_op_example *ex, int v) { return unary_example(ex, v, 1.0f, 1, 0.0f, 0.0f); }

const qat_op_info qat_op_info_relu = {
    .name = "relu", .plan = same_shape_plan, .forward = relu_forward, .backward = relu_backward,
    .example = relu_example,
};

static void relu6_forward(qat_node *nd, const qat_exec *ex) { (void)ex; clamp_forward(nd, 6.0f); }
static void relu6_backward(qat_node *nd, const qat_exec *ex) { (void)ex; clamp_backward(nd, 6.0f); }
static int relu6_example(qat_op_example *ex, int v) { return unary_example(ex, v, 8.0f, 2, 0.0f, 6.0f); }

const qat_op_info qat_op_info_relu6 = {
    .name = "relu6", .plan = same_shape_plan, .forward = relu6_forward, .backward = relu6_backward,
    .example = relu6_example,
};

/* ---- add: any number of inputs of one shape ---- */
/* Two inputs broadcast as numpy does (Keras's Add / Subtract of [N,H,W,C] and [N,1,1,C]); three
 * or more have one shape. */
static int add_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd);
  if (nd->n_inputs == 2) {
    if (qat_bcast_shape(x, nd->inputs[1], nd->output)) {
      char a[64], b[64];
      shape_str(x, a, sizeof a);
      shape_str(nd->inputs[1], b, sizeof b);
      return qat_fail(QAT_ERR_USAGE, "Add / Subtract inputs %s and %s do not broadcast", a, b);
    }
    *scratch = 0;
    return QAT_OK;
  }
  for (int k = 1; k < nd->n_inputs; k++) {
    qat_tensor *o = nd->inputs[k];
    int same = o->rank == x->rank;
    for (int i = 0; same && i < x->rank; i++) same = o->dims[i] == x->dims[i];
    if (!same) {
      char a[64], b[64];
      shape_str(x, a, sizeof a);
      shape_str(o, b, sizeof b);
      return qat_fail(QAT_ERR_USAGE, "Add of 3 or more inputs needs one shape, got %s and %s", a, b);
    }
  }
  return same_shape_plan(nd, scratch);
}

static int is_broadcast(const qat_node *nd) {
  return nd->n_inputs == 2 && (qat_tensor_size(nd->inputs[0]) != qat_tensor_size(nd->output) ||
                               qat_tensor_size(nd->inputs[1]) != qat_tensor_size(nd->output));
}

/* y = a + sign * b, broadcast */
static void bcast_forward(qat_node *nd, float sign) {
  qat_bcast4 v;
  qat_bcast4_view(nd->inputs[0], nd->inputs[1], nd->output, &v);
  const float *a = nd->inputs[0]->data, *b = nd->inputs[1]->data;
  float *y = nd->output->data;
  for (int i0 = 0; i0 < v.out[0]; i0++)
    for (int i1 = 0; i1 < v.out[1]; i1++)
      for (int i2 = 0; i2 < v.out[2]; i2++) {
        const float *pa = a + i0 * v.sa[0] + i1 * v.sa[1] + i2 * v.sa[2];
        const float *pb = b + i0 * v.sb[0] + i1 * v.sb[1] + i2 * v.sb[2];
        float *py = y + (((int64_t)i0 * v.out[1] + i1) * v.out[2] + i2) * v.out[3];
        for (int i3 = 0; i3 < v.out[3]; i3++) py[i3] = pa[i3 * v.sa[3]] + sign * pb[i3 * v.sb[3]];
      }
}

/* da += dy, db += sign * dy, each summed over the dimensions it was repeated along */
static void bcast_backward(qat_node *nd, const qat_exec *ex, float sign) {
  qat_bcast4 v;
  qat_bcast4_view(nd->inputs[0], nd->inputs[1], nd->output, &v);
  const float *dy = nd->output->grad;
  const int64_t second = op_half_start(ex, nd->output);
  for (int i0 = 0; i0 < v.out[0]; i0++)
    for (int i1 = 0; i1 < v.out[1]; i1++)
      for (int i2 = 0; i2 < v.out[2]; i2++) {
        const int64_t oa = i0 * v.sa[0] + i1 * v.sa[1] + i2 * v.sa[2], ob = i0 * v.sb[0] + i1 * v.sb[1] + i2 * v.sb[2];
        const int64_t o = (((int64_t)i0 * v.out[1] + i1) * v.out[2] + i2) * v.out[3];
        const float *g = dy + o;
        float *da = op_grad_half(nd->inputs[0], o >= second), *db = op_grad_half(nd->inputs[1], o >= second);
        for (int i3 = 0; i3 < v.out[3]; i3++) {
          if (da) da[oa + i3 * v.sa[3]] += g[i3];
          if (db) db[ob + i3 * v.sb[3]] += sign * g[i3];
        }
      }
}

static void add_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  if (is_broadcast(nd)) {
    bcast_forward(nd, 1.0f);
    return;
  }
  float *y = nd->output->data;
  int64_t n = qat_tensor_size(nd->output);
  memcpy(y, OP_X(nd)->data, (size_t)n * sizeof(float));
  for (int k = 1; k < nd->n_inputs; k++) {
    const float *x = nd->inputs[k]->data;
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
  }
}

static void add_backward(qat_node *nd, const qat_exec *ex) {
  if (is_broadcast(nd)) {
    bcast_backward(nd, ex, 1.0f);
    return;
  }
  const float *dy = nd->output->grad;
  int64_t n = qat_tensor_size(nd->output);
  for (int k = 0; k < nd->n_inputs; k++) {
    float *dx = nd->inputs[k]->grad;
    if (dx)
      for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
  }
}

static int add_example(qat_op_example *ex, int variant) {
  if (variant > 2) return -1;
  if (variant == 2) { /* [N,H,W,C] + [N,1,1,C] */
    example_input(ex, 0, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
    example_input(ex, 1, 4, (int[]){2, 1, 1, 4}, 1, 1, QAT_FILL_UNIFORM);
    return 0;
  }
  int inputs = variant ? 3 : 2;
  for (int k = 0; k < inputs; k++) example_input(ex, k, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
  return 0;
}

const qat_op_info qat_op_info_add = {
    .name = "add", .plan = add_plan, .forward = add_forward, .backward = add_backward,
    .example = add_example,
};

/* ---- sub: x0 - x1, broadcast as add ---- */
static int sub_plan(qat_node *nd, size_t *scratch) {
  if (nd->n_inputs != 2) return qat_fail(QAT_ERR_USAGE, "Subtract takes 2 inputs, got %d", nd->n_inputs);
  return add_plan(nd, scratch);
}

static void sub_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  if (is_broadcast(nd)) {
    bcast_forward(nd, -1.0f);
    return;
  }
  float *y = nd->output->data;
  const float *a = nd->inputs[0]->data, *b = nd->inputs[1]->data;
  int64_t n = qat_tensor_size(nd->output);
  for (int64_t i = 0; i < n; i++) y[i] = a[i] - b[i];
}

static void sub_backward(qat_node *nd, const qat_exec *ex) {
  if (is_broadcast(nd)) {
    bcast_backward(nd, ex, -1.0f);
    return;
  }
  const float *dy = nd->output->grad;
  int64_t n = qat_tensor_size(nd->output);
  float *da = nd->inputs[0]->grad, *db = nd->inputs[1]->grad;
  if (da)
    for (int64_t i = 0; i < n; i++) da[i] += dy[i];
  if (db)
    for (int64_t i = 0; i < n; i++) db[i] -= dy[i];
}

static int sub_example(qat_op_example *ex, int variant) {
  if (variant > 1) return -1;
  example_input(ex, 0, 4, variant ? (int[]){2, 1, 1, 4} : (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
  example_input(ex, 1, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
  return 0;
}

const qat_op_info qat_op_info_sub = {
    .name = "sub", .plan = sub_plan, .forward = sub_forward, .backward = sub_backward,
    .example = sub_example,
};

/* ---- pad: zeros around an NHWC image (ZeroPadding2D); a negative amount cuts rows or
 * columns off that side instead (Cropping2D) ---- */
static int pad_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  const int *p = nd->attrs.pads;
  if (x->rank != 4) return qat_fail(QAT_ERR_USAGE, "padding or cropping needs an image input [N, H, W, C], got rank %d", x->rank);
  for (int k = 0; k < 4; k++)
    if (p[k] < -(1 << 16) || p[k] > (1 << 16)) return qat_fail(QAT_ERR_USAGE, "padding %d out of range", p[k]);
  y->rank = 4;
  y->dims[0] = x->dims[0];
  y->dims[1] = x->dims[1] + p[0] + p[1];
  y->dims[2] = x->dims[2] + p[2] + p[3];
  y->dims[3] = x->dims[3];
  if (y->dims[1] < 1 || y->dims[2] < 1)
    return qat_fail(QAT_ERR_USAGE, "cropping [[%d, %d], [%d, %d]] leaves nothing of a %dx%d input", -p[0], -p[1], -p[2],
                    -p[3], x->dims[1], x->dims[2]);
  *scratch = 0;
  return QAT_OK;
}

/* The output columns [*x0, *x1) that come from the input, and the rows likewise. */
static void pad_window(const qat_tensor *x, const qat_tensor *y, const int *p, int64_t *y0, int64_t *y1, int64_t *x0,
                       int64_t *x1) {
  *y0 = p[0] > 0 ? p[0] : 0;
  *y1 = x->dims[1] + p[0] < y->dims[1] ? x->dims[1] + p[0] : y->dims[1];
  *x0 = p[2] > 0 ? p[2] : 0;
  *x1 = x->dims[2] + p[2] < y->dims[2] ? x->dims[2] + p[2] : y->dims[2];
}

static void pad_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const qat_tensor *x = OP_X(nd), *y = nd->output;
  const int *p = nd->attrs.pads;
  const int64_t h = x->dims[1], w = x->dims[2], c = x->dims[3], oh = y->dims[1], ow = y->dims[2];
  int64_t y0, y1, x0, x1;
  pad_window(x, y, p, &y0, &y1, &x0, &x1);
  memset(y->data, 0, (size_t)qat_tensor_size(y) * sizeof(float));
  for (int64_t n = 0; n < x->dims[0]; n++)
    for (int64_t i = y0; i < y1; i++)
      memcpy(y->data + ((n * oh + i) * ow + x0) * c, x->data + ((n * h + i - p[0]) * w + x0 - p[2]) * c,
             (size_t)((x1 - x0) * c) * sizeof(float));
}

static void pad_backward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const qat_tensor *x = OP_X(nd), *y = nd->output;
  if (!x->grad) return;
  const int *p = nd->attrs.pads;
  const int64_t h = x->dims[1], w = x->dims[2], c = x->dims[3], oh = y->dims[1], ow = y->dims[2];
  int64_t y0, y1, x0, x1;
  pad_window(x, y, p, &y0, &y1, &x0, &x1);
  for (int64_t n = 0; n < x->dims[0]; n++)
    for (int64_t i = y0; i < y1; i++) {
      const float *dy = y->grad + ((n * oh + i) * ow + x0) * c;
      float *dx = x->grad + ((n * h + i - p[0]) * w + x0 - p[2]) * c;
      for (int64_t k = 0; k < (x1 - x0) * c; k++) dx[k] += dy[k];
    }
}

static int pad_example(qat_op_example *ex, int variant) {
  if (variant > 1) return -1;
  example_input(ex, 0, 4, (int[]){2, 5, 6, 2}, 1, 1, QAT_FILL_UNIFORM);
  static const int pads[2][4] = {{1, 2, 0, 3}, {-1, -2, 0, -3}}; /* padding; cropping */
  for (int k = 0; k < 4; k++) ex->attrs.pads[k] = pads[variant][k];
  return 0;
}

const qat_op_info qat_op_info_pad = {
    .name = "pad", .plan = pad_plan, .forward = pad_forward, .backward = pad_backward,
    .example = pad_example,
};

/* ---- reshape: the output is a view of the input; gradients are shared too ---- */
static int reshape_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  const qat_op_attrs *a = &nd->attrs;
  int64_t in = qat_tensor_size(x) / x->dims[0], out = 1;
  for (int i = 0; i < a->target_rank; i++) out *= a->target_shape[i];
  if (a->target_rank < 1 || a->target_rank > 3 || out != in) {
    char xs[64];
    shape_str(x, xs, sizeof xs);
    return qat_fail(QAT_ERR_USAGE, "cannot reshape %s (%lld values per sample) to %lld values per sample",
                    xs, (long long)in, (long long)out);
  }
  y->rank = a->target_rank + 1;
  y->dims[0] = x->dims[0];
  for (int i = 0; i < a->target_rank; i++) y->dims[i + 1] = a->target_shape[i];
  *scratch = 0;
  return QAT_OK;
}

static void reshape_noop(qat_node *nd, const qat_exec *ex) { (void)nd; (void)ex; }

static int reshape_example(qat_op_example *ex, int variant) {
  if (variant) return -1;
  example_input(ex, 0, 4, (int[]){2, 3, 2, 4}, 1, 1, QAT_FILL_UNIFORM);
  ex->attrs.target_rank = 2;
  ex->attrs.target_shape[0] = 6;
  ex->attrs.target_shape[1] = 4;
  return 0;
}

const qat_op_info qat_op_info_reshape = {
    .name = "reshape", .plan = reshape_plan, .forward = reshape_noop, .backward = reshape_noop,
    .aliases_input = 1, .example = reshape_example,
};

/* ---- dropout (inverted): the mask is a pure function of (seed, step, node, element), so a
 * resumed run draws the same masks and no mask memory is needed beyond one step ---- */
static int dropout_plan(qat_node *nd, size_t *scratch) {
  if (!(nd->attrs.rate >= 0.0f && nd->attrs.rate < 1.0f))
    return qat_fail(QAT_ERR_USAGE, "Dropout rate must be in [0, 1), got %g", nd->attrs.rate);
  int rc = same_shape_plan(nd, scratch);
  *scratch = (size_t)qat_tensor_size(OP_X(nd)); /* one byte per element: the mask */
  return rc;
}

/* The element's own position draws its mask bit; a loop of its own, with restrict pointers,
 * so the hash vectorizes. */
static void dropout_apply(const float *restrict x, float *restrict y, unsigned char *restrict mask, int64_t n,
                          uint64_t base, uint32_t threshold, float keep_scale) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    const uint32_t r = (uint32_t)(qat_hash64(base + (uint64_t)i) >> 40);
    const int keep = r >= threshold;
    mask[i] = (unsigned char)keep;
    y[i] = keep ? x[i] * keep_scale : 0.0f;
  }
}

static void dropout_forward(qat_node *nd, const qat_exec *ex) {
  const float *x = OP_X(nd)->data;
  float *y = nd->output->data;
  unsigned char *mask = nd->scratch;
  int64_t n = qat_tensor_size(nd->output);
  float rate = nd->attrs.rate;
  if (!ex->training || rate == 0.0f) {
    memcpy(y, x, (size_t)n * sizeof(float));
    memset(mask, 1, (size_t)n);
    return;
  }
  float keep_scale = 1.0f / (1.0f - rate);
  /* 24-bit threshold compare: exact for the rates people use, and no float rounding drift. */
  uint32_t threshold = (uint32_t)(rate * 16777216.0f);
  uint64_t base = qat_hash64(ex->seed ^ qat_hash64(ex->step * 0x100000001b3ULL + (uint64_t)nd->index));
  if (ex->coll) { /* data-parallel: the elements' positions in the global batch */
    const qat_tensor *o = nd->output;
    int64_t per_sample = 1;
    for (int d = 1; d < o->rank; d++) per_sample *= o->dims[d];
    base += (uint64_t)(ex->coll->batch_offset * per_sample);
  }
  /* noise_shape: a shared dimension draws the value at its position 0 for all its positions */
  const int shared = nd->attrs.noise_shared;
  int64_t keep_stride[QAT_MAX_RANK], keep_dim[QAT_MAX_RANK];
  int n_dims = 0;
  if (shared) {
    const qat_tensor *o = nd->output;
    int64_t stride = 1;
    for (int d = o->rank - 1; d >= 0; d--) {
      keep_stride[d] = d > 0 && (shared >> (d - 1) & 1) ? 0 : stride;
      keep_dim[d] = o->dims[d];
      stride *= o->dims[d];
    }
    n_dims = o->rank;
  }
  if (!shared) {
    dropout_apply(x, y, mask, n, base, threshold, keep_scale);
    return;
  }
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    int64_t rest = i, pos = 0;
    for (int d = n_dims - 1; d >= 0; d--) {
      pos += rest % keep_dim[d] * keep_stride[d];
      rest /= keep_dim[d];
    }
    uint32_t r = (uint32_t)(qat_hash64(base + (uint64_t)pos) >> 40);
    mask[i] = r >= threshold;
    y[i] = mask[i] ? x[i] * keep_scale : 0.0f;
  }
}

static void dropout_backward(qat_node *nd, const qat_exec *ex) {
  qat_tensor *x = OP_X(nd);
  if (!x->grad) return;
  const float *restrict dy = nd->output->grad;
  const unsigned char *restrict mask = nd->scratch;
  float *restrict dx = x->grad;
  int64_t n = qat_tensor_size(nd->output);
  float scale = (ex->training && nd->attrs.rate > 0.0f) ? 1.0f / (1.0f - nd->attrs.rate) : 1.0f;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) dx[i] += mask[i] ? dy[i] * scale : 0.0f;
}

static int dropout_example(qat_op_example *ex, int variant) {
  if (variant > 2) return -1;
  example_input(ex, 0, 4, (int[]){2, 3, 4, 5}, 1, 1, QAT_FILL_UNIFORM);
  ex->attrs.rate = 0.25f;
  ex->attrs.noise_shared = variant == 2 ? 3 : 0; /* [N, 1, 1, C] */
  ex->training = variant != 1;
  return 0;
}

const qat_op_info qat_op_info_dropout = {
    .name = "dropout", .plan = dropout_plan, .forward = dropout_forward, .backward = dropout_backward,
    .example = dropout_example,
};
