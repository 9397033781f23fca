/* MaxPooling2D, AveragePooling2D and GlobalAveragePooling2D over NHWC. Padded positions never
 * count: max ignores them and average divides by the valid elements only, as TensorFlow does. */
#include <stdint.h>

#include "op_common.h"

static int pool_plan(qat_node *nd, size_t *scratch, const char *what, int needs_argmax) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  char xs[64];
  shape_str(x, xs, sizeof xs);
  if (x->rank != 4) return qat_fail(QAT_ERR_USAGE, "%s expects an input [batch,H,W,C], got %s", what, xs);
  const qat_op_attrs *a = &nd->attrs;
  if (a->kernel[0] < 1 || a->kernel[1] < 1 || a->strides[0] < 1 || a->strides[1] < 1)
    return qat_fail(QAT_ERR_USAGE, "%s pool_size and strides must be >= 1", what);
  int oh = qat_conv_out_size(x->dims[1], a->kernel[0], a->strides[0], a->padding, &nd->pad[0]);
  int ow = qat_conv_out_size(x->dims[2], a->kernel[1], a->strides[1], a->padding, &nd->pad[1]);
  if (oh < 1 || ow < 1)
    return qat_fail(QAT_ERR_USAGE, "%s pool_size %dx%d is larger than its input %s with padding 'valid'",
                    what, a->kernel[0], a->kernel[1], xs);
  y->rank = 4;
  y->dims[0] = x->dims[0];
  y->dims[1] = oh;
  y->dims[2] = ow;
  y->dims[3] = x->dims[3];
  *scratch = needs_argmax ? (size_t)qat_tensor_size(y) * sizeof(int32_t) : 0;
  return QAT_OK;
}

typedef struct pool_geom {
  int n, h, w, c, oh, ow, kh, kw, sh, sw, ph, pw;
} pool_geom;

static pool_geom geom(const qat_node *nd) {
  const qat_tensor *x = OP_X(nd), *y = nd->output;
  pool_geom g = {x->dims[0], x->dims[1], x->dims[2], x->dims[3], y->dims[1], y->dims[2],
                 nd->attrs.kernel[0], nd->attrs.kernel[1], nd->attrs.strides[0], nd->attrs.strides[1],
                 nd->pad[0], nd->pad[1]};
  return g;
}

/* ---- max ---- */
static int max_pool_plan(qat_node *nd, size_t *scratch) { return pool_plan(nd, scratch, "MaxPooling2D", 1); }

/* The argmax (index within the sample) is kept so backward routes each gradient to the input
 * that won; on ties the first in scan order wins, as in TensorFlow. One output row per call,
 * the geometry in locals: read through the shared struct of the parallel loop it could alias
 * the outputs, and the channel loop stayed a scalar compare-and-branch (11 % of a 1-thread
 * seed-CNN training run's perf samples). */
static void max_pool_row(const pool_geom *gp, const float *restrict xs, int oy, float *restrict best_row,
                         int32_t *restrict where_row) {
  const pool_geom g = *gp;
  const int c_n = g.c, y0 = oy * g.sh - g.ph;
  for (int ox = 0; ox < g.ow; ox++) {
    const int x0 = ox * g.sw - g.pw;
    float *restrict best = best_row + (size_t)ox * c_n;
    int32_t *restrict where = where_row + (size_t)ox * c_n;
    int seen = 0;
    /* channels innermost: contiguous in NHWC, so the compare-and-select vectorizes */
    for (int ky = 0; ky < g.kh; ky++) {
      const int iy = y0 + ky;
      if (iy < 0 || iy >= g.h) continue;
      for (int kx = 0; kx < g.kw; kx++) {
        const int ix = x0 + kx;
        if (ix < 0 || ix >= g.w) continue;
        const int32_t base = (int32_t)(((size_t)iy * g.w + ix) * c_n);
        const float *restrict in = xs + base;
        if (!seen) {
          for (int c = 0; c < c_n; c++) {
            best[c] = in[c];
            where[c] = base + c;
          }
          seen = 1;
          continue;
        }
        for (int c = 0; c < c_n; c++) {
          const float b = best[c], v = in[c];
          const int32_t w = where[c];
          best[c] = v > b ? v : b;
          where[c] = v > b ? base + c : w;
        }
      }
    }
  }
}

static void max_pool_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const pool_geom g = geom(nd);
  const float *x = OP_X(nd)->data;
  float *y = nd->output->data;
  int32_t *arg = nd->scratch;
  const int rows = g.n * g.oh;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) {
    const int s = r / g.oh;
    const size_t out = (size_t)r * g.ow * g.c;
    max_pool_row(&g, x + (size_t)s * g.h * g.w * g.c, r % g.oh, y + out, arg + out);
  }
}

static void max_pool_backward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  pool_geom g = geom(nd);
  float *dx = OP_X(nd)->grad;
  if (!dx) return;
  const float *dy = nd->output->grad;
  const int32_t *arg = nd->scratch;
  size_t per_out = (size_t)g.oh * g.ow * g.c, per_in = (size_t)g.h * g.w * g.c;
#pragma omp parallel for schedule(static)
  for (int s = 0; s < g.n; s++)
    for (size_t i = 0; i < per_out; i++) dx[s * per_in + (size_t)arg[s * per_out + i]] += dy[s * per_out + i];
}

/* Plain scan per output element, the reference for the channel-vectorized kernel above. */
static void max_pool_forward_ref(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  pool_geom g = geom(nd);
  const float *x = OP_X(nd)->data;
  int32_t *arg = nd->scratch;
  for (int s = 0; s < g.n; s++)
    for (int oy = 0; oy < g.oh; oy++)
      for (int ox = 0; ox < g.ow; ox++)
        for (int c = 0; c < g.c; c++) {
          int32_t where = -1;
          float best = 0.0f;
          for (int ky = 0; ky < g.kh; ky++)
            for (int kx = 0; kx < g.kw; kx++) {
              int iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              int32_t i = (int32_t)(((size_t)iy * g.w + ix) * g.c + c);
              float v = x[(size_t)s * g.h * g.w * g.c + (size_t)i];
              if (where < 0 || v > best) {
                best = v;
                where = i;
              }
            }
          size_t o = (((size_t)s * g.oh + oy) * g.ow + ox) * g.c + c;
          nd->output->data[o] = best;
          arg[o] = where;
        }
}

static int max_pool_example(qat_op_example *ex, int variant) {
  static const int cfg[][5] = {{6, 6, 2, 2, 0}, {5, 7, 3, 2, 1}, {5, 5, 2, 1, 1}};
  if (variant < 0 || variant > 2) return -1;
  const int *c = cfg[variant];
  example_input(ex, 0, 4, (int[]){2, c[0], c[1], 3}, 1, 1, QAT_FILL_DISTINCT);
  ex->attrs.kernel[0] = ex->attrs.kernel[1] = c[2];
  ex->attrs.strides[0] = ex->attrs.strides[1] = c[3];
  ex->attrs.padding = c[4] ? QAT_PADDING_SAME : QAT_PADDING_VALID;
  return 0;
}

const qat_op_info qat_op_info_max_pool2d = {
    .name = "max_pool2d",
    .plan = max_pool_plan,
    .forward = max_pool_forward,
    .backward = max_pool_backward,
    .forward_ref = max_pool_forward_ref,
    .backward_ref = max_pool_backward,
    .example = max_pool_example,
};

/* ---- average ---- */
static int avg_pool_plan(qat_node *nd, size_t *scratch) { return pool_plan(nd, scratch, "AveragePooling2D", 0); }

static void window(const pool_geom *g, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
  *y0 = oy * g->sh - g->ph;
  *x0 = ox * g->sw - g->pw;
  *y1 = *y0 + g->kh;
  *x1 = *x0 + g->kw;
  if (*y0 < 0) *y0 = 0;
  if (*x0 < 0) *x0 = 0;
  if (*y1 > g->h) *y1 = g->h;
  if (*x1 > g->w) *x1 = g->w;
}

static void avg_pool_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  pool_geom g = geom(nd);
  const float *x = OP_X(nd)->data;
  float *y = nd->output->data;
  int rows = g.n * g.oh;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) {
    int s = r / g.oh, oy = r % g.oh;
    for (int ox = 0; ox < g.ow; ox++) {
      int y0, y1, x0, x1;
      window(&g, oy, ox, &y0, &y1, &x0, &x1);
      float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
      float *out = y + (((size_t)s * g.oh + oy) * g.ow + ox) * g.c;
      for (int c = 0; c < g.c; c++) out[c] = 0.0f;
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
          const float *in = x + (((size_t)s * g.h + iy) * g.w + ix) * g.c;
          for (int c = 0; c < g.c; c++) out[c] += in[c];
        }
      for (int c = 0; c < g.c; c++) out[c] *= inv;
    }
  }
}

static void avg_pool_backward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  pool_geom g = geom(nd);
  float *dx = OP_X(nd)->grad;
  if (!dx) return;
  const float *dy = nd->output->grad;
#pragma omp parallel for schedule(static)
  for (int s = 0; s < g.n; s++)
    for (int oy = 0; oy < g.oh; oy++)
      for (int ox = 0; ox < g.ow; ox++) {
        int y0, y1, x0, x1;
        window(&g, oy, ox, &y0, &y1, &x0, &x1);
        float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
        const float *d = dy + (((size_t)s * g.oh + oy) * g.ow + ox) * g.c;
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) {
            float *o = dx + (((size_t)s * g.h + iy) * g.w + ix) * g.c;
            for (int c = 0; c < g.c; c++) o[c] += d[c] * inv;
          }
      }
}

static int avg_pool_example(qat_op_example *ex, int variant) {
  static const int cfg[][5] = {{6, 6, 2, 2, 0}, {5, 7, 3, 2, 1}};
  if (variant < 0 || variant > 1) return -1;
  const int *c = cfg[variant];
  example_input(ex, 0, 4, (int[]){2, c[0], c[1], 3}, 1, 1, QAT_FILL_UNIFORM);
  ex->attrs.kernel[0] = ex->attrs.kernel[1] = c[2];
  ex->attrs.strides[0] = ex->attrs.strides[1] = c[3];
  ex->attrs.padding = c[4] ? QAT_PADDING_SAME : QAT_PADDING_VALID;
  return 0;
}

const qat_op_info qat_op_info_avg_pool2d = {
    .name = "avg_pool2d",
    .plan = avg_pool_plan,
    .forward = avg_pool_forward,
    .backward = avg_pool_backward,
    .example = avg_pool_example,
};

/* ---- global average: [N,H,W,C] -> [N,C] (TFLite MEAN over axes 1,2) ---- */
static int gap_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *y = nd->output;
  char xs[64];
  shape_str(x, xs, sizeof xs);
  if (x->rank != 4)
    return qat_fail(QAT_ERR_USAGE, "GlobalAveragePooling2D expects an input [batch,H,W,C], got %s", xs);
  y->rank = 2;
  y->dims[0] = x->dims[0];
  y->dims[1] = x->dims[3];
  *scratch = 0;
  return QAT_OK;
}

static void gap_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const qat_tensor *x = OP_X(nd);
  int n = x->dims[0], hw = x->dims[1] * x->dims[2], c = x->dims[3];
  float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static)
  for (int s = 0; s < n; s++) {
    float *out = nd->output->data + (size_t)s * c;
    for (int k = 0; k < c; k++) out[k] = 0.0f;
    for (int p = 0; p < hw; p++) {
      const float *in = x->data + ((size_t)s * hw + p) * c;
      for (int k = 0; k < c; k++) out[k] += in[k];
    }
    for (int k = 0; k < c; k++) out[k] *= inv;
  }
}

static void gap_backward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  qat_tensor *x = OP_X(nd);
  if (!x->grad) return;
  int n = x->dims[0], hw = x->dims[1] * x->dims[2], c = x->dims[3];
  float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static)
  for (int s = 0; s < n; s++) {
    const float *d = nd->output->grad + (size_t)s * c;
    for (int p = 0; p < hw; p++) {
      float *o = x->grad + ((size_t)s * hw + p) * c;
      for (int k = 0; k < c; k++) o[k] += d[k] * inv;
    }
  }
}

static int gap_example(qat_op_example *ex, int variant) {
  if (variant) return -1;
  example_input(ex, 0, 4, (int[]){2, 3, 4, 5}, 1, 1, QAT_FILL_UNIFORM);
  return 0;
}

const qat_op_info qat_op_info_global_avg_pool2d = {
    .name = "global_avg_pool2d",
    .plan = gap_plan,
    .forward = gap_forward,
    .backward = gap_backward,
    .example = gap_example,
};
