/* DepthwiseConv2D, NHWC input, filters [1, KH, KW, C*M] as TFLite stores them: output
 * channel c*M + m reads input channel c. Direct loops, channels innermost so they vectorize. */
#include <omp.h>

#include "op_common.h"

typedef struct dw_geom {
  int n, h, w, c, m, oc, oh, ow, kh, kw, sh, sw, ph, pw;
  int dh, dw; /* dilation */
} dw_geom;

static dw_geom geom(const qat_node *nd) {
  const qat_tensor *x = OP_X(nd), *w = OP_W(nd), *y = nd->output;
  dw_geom g = {x->dims[0], x->dims[1], x->dims[2], x->dims[3], nd->attrs.depth_multiplier,
               w->dims[3], y->dims[1], y->dims[2], w->dims[1], w->dims[2], nd->attrs.strides[0],
               nd->attrs.strides[1], nd->pad[0], nd->pad[1], op_dilation(nd, 0), op_dilation(nd, 1)};
  return g;
}

static int dw_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd), *y = nd->output;
  char xs[64], ws[64];
  shape_str(x, xs, sizeof xs);
  shape_str(w, ws, sizeof ws);
  int m = nd->attrs.depth_multiplier;
  if (x->rank != 4)
    return qat_fail(QAT_ERR_USAGE, "DepthwiseConv2D expects an input [batch,H,W,C], got %s", xs);
  if (m < 1) return qat_fail(QAT_ERR_USAGE, "DepthwiseConv2D depth_multiplier must be >= 1");
  if (w->rank != 4 || w->dims[0] != 1 || w->dims[3] != x->dims[3] * m)
    return qat_fail(QAT_ERR_USAGE, "DepthwiseConv2D filter %s does not match input %s with depth_multiplier %d",
                    ws, xs, m);
  if (b && (b->rank != 1 || b->dims[0] != w->dims[3]))
    return qat_fail(QAT_ERR_USAGE, "DepthwiseConv2D bias does not match %d channels", w->dims[3]);
  if (nd->attrs.strides[0] < 1 || nd->attrs.strides[1] < 1)
    return qat_fail(QAT_ERR_USAGE, "DepthwiseConv2D strides must be >= 1");
  /* a dilated kernel spans (k - 1) * d + 1 input pixels */
  int eh = (w->dims[1] - 1) * op_dilation(nd, 0) + 1, ew = (w->dims[2] - 1) * op_dilation(nd, 1) + 1;
  int oh = qat_conv_out_size(x->dims[1], eh, nd->attrs.strides[0], nd->attrs.padding, &nd->pad[0]);
  int ow = qat_conv_out_size(x->dims[2], ew, nd->attrs.strides[1], nd->attrs.padding, &nd->pad[1]);
  if (oh < 1 || ow < 1)
    return qat_fail(QAT_ERR_USAGE, "DepthwiseConv2D kernel %dx%d is larger than its input %s with padding 'valid'",
                    w->dims[1], w->dims[2], xs);
  y->rank = 4;
  y->dims[0] = x->dims[0];
  y->dims[1] = oh;
  y->dims[2] = ow;
  y->dims[3] = w->dims[3];
  /* One private filter-gradient (and bias-gradient) accumulator per thread, summed in a fixed
   * order so results do not depend on scheduling. */
  size_t per_thread = (size_t)w->dims[1] * w->dims[2] * w->dims[3] + (size_t)w->dims[3];
  *scratch = per_thread * (size_t)nd->threads * sizeof(float);
  return QAT_OK;
}

static void dw_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  dw_geom g = geom(nd);
  const float *x = OP_X(nd)->data, *w = OP_W(nd)->data;
  const qat_tensor *b = OP_B(nd);
  float *y = nd->output->data;
  int rows = g.n * g.oh;
#pragma omp parallel for schedule(static) num_threads(nd->threads)
  for (int r = 0; r < rows; r++) {
    int s = r / g.oh, oy = r % g.oh;
    for (int ox = 0; ox < g.ow; ox++) {
      float *out = y + (((size_t)s * g.oh + oy) * g.ow + ox) * g.oc;
      for (int o = 0; o < g.oc; o++) out[o] = b ? b->data[o] : 0.0f;
      for (int ky = 0; ky < g.kh; ky++) {
        int iy = oy * g.sh - g.ph + ky * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        for (int kx = 0; kx < g.kw; kx++) {
          int ix = ox * g.sw - g.pw + kx * g.dw;
          if (ix < 0 || ix >= g.w) continue;
          const float *in = x + (((size_t)s * g.h + iy) * g.w + ix) * g.c;
          const float *wk = w + ((size_t)ky * g.kw + kx) * g.oc;
          if (g.m == 1) {
            for (int c = 0; c < g.c; c++) out[c] += in[c] * wk[c];
          } else {
            for (int c = 0; c < g.c; c++)
              for (int q = 0; q < g.m; q++) out[c * g.m + q] += in[c] * wk[c * g.m + q];
          }
        }
      }
    }
  }
}

/* The common depth_multiplier == 1 case as straight, branch-free channel loops that vectorize. */
static inline void dw_accumulate_m1(int c, const float *restrict d, const float *restrict x, const float *restrict w,
                                    float *restrict dw, float *restrict dx) {
  for (int k = 0; k < c; k++) dw[k] += d[k] * x[k];
  if (dx)
    for (int k = 0; k < c; k++) dx[k] += d[k] * w[k];
}

/* Samples [s0, s1): the weight and bias gradients into gw, gb (NULL: none). */
static void dw_backward_samples(qat_node *nd, const dw_geom *gp, int s0, int s1, float *gw, float *gb) {
  const dw_geom g = *gp;
  qat_tensor *xt = OP_X(nd), *wt = OP_W(nd);
  const float *x = xt->data, *w = wt->data, *dy = nd->output->grad;
  size_t wsize = (size_t)g.kh * g.kw * g.oc;
  size_t per_thread = wsize + (size_t)g.oc;
  float *acc = nd->scratch;
  memset(acc, 0, per_thread * (size_t)nd->threads * sizeof(float));
  /* dX rows of one sample overlap across output rows, so split by sample for dX. */
#pragma omp parallel num_threads(nd->threads)
  {
    int t = omp_get_thread_num();
    float *dw = acc + per_thread * (size_t)t, *db = dw + wsize;
#pragma omp for schedule(static)
    for (int s = s0; s < s1; s++)
      for (int oy = 0; oy < g.oh; oy++)
        for (int ox = 0; ox < g.ow; ox++) {
          const float *d = dy + (((size_t)s * g.oh + oy) * g.ow + ox) * g.oc;
          for (int o = 0; o < g.oc; o++) db[o] += d[o];
          for (int ky = 0; ky < g.kh; ky++) {
            int iy = oy * g.sh - g.ph + ky * g.dh;
            if (iy < 0 || iy >= g.h) continue;
            for (int kx = 0; kx < g.kw; kx++) {
              int ix = ox * g.sw - g.pw + kx * g.dw;
              if (ix < 0 || ix >= g.w) continue;
              size_t xi = (((size_t)s * g.h + iy) * g.w + ix) * g.c;
              const float *wk = w + ((size_t)ky * g.kw + kx) * g.oc;
              float *dwk = dw + ((size_t)ky * g.kw + kx) * g.oc;
              if (g.m == 1)
                dw_accumulate_m1(g.c, d, x + xi, wk, dwk, xt->grad ? xt->grad + xi : NULL);
              else
                for (int c = 0; c < g.c; c++)
                  for (int q = 0; q < g.m; q++) {
                    int o = c * g.m + q;
                    dwk[o] += d[o] * x[xi + c];
                    if (xt->grad) xt->grad[xi + c] += d[o] * wk[o];
                  }
            }
          }
        }
  }
  for (int t = 0; t < nd->threads; t++) {
    const float *dw = acc + per_thread * (size_t)t, *db = dw + wsize;
    if (gw)
      for (size_t i = 0; i < wsize; i++) gw[i] += dw[i];
    if (gb)
      for (int o = 0; o < g.oc; o++) gb[o] += db[o];
  }
}

static void dw_forward_ref(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  dw_geom g = geom(nd);
  const float *x = OP_X(nd)->data, *w = OP_W(nd)->data;
  const qat_tensor *b = OP_B(nd);
  for (int s = 0; s < g.n; s++)
    for (int oy = 0; oy < g.oh; oy++)
      for (int ox = 0; ox < g.ow; ox++)
        for (int o = 0; o < g.oc; o++) {
          int c = o / g.m;
          double acc = b ? b->data[o] : 0.0;
          for (int ky = 0; ky < g.kh; ky++)
            for (int kx = 0; kx < g.kw; kx++) {
              int iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw;
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              acc += (double)x[(((size_t)s * g.h + iy) * g.w + ix) * g.c + c] *
                     w[((size_t)ky * g.kw + kx) * g.oc + o];
            }
          nd->output->data[(((size_t)s * g.oh + oy) * g.ow + ox) * g.oc + o] = (float)acc;
        }
}

static void dw_backward(qat_node *nd, const qat_exec *ex) {
  dw_geom g = geom(nd);
  qat_tensor *xt = OP_X(nd), *wt = OP_W(nd), *b = OP_B(nd);
  int64_t half[3];
  for (int h = 0, halves = op_halves(ex, xt, half); h < halves; h++)
    dw_backward_samples(nd, &g, (int)half[h], (int)half[h + 1], op_grad_half(wt, h), b ? op_grad_half(b, h) : NULL);
}

static void dw_backward_ref(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  dw_geom g = geom(nd);
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd);
  const float *dy = nd->output->grad;
  for (int s = 0; s < g.n; s++)
    for (int oy = 0; oy < g.oh; oy++)
      for (int ox = 0; ox < g.ow; ox++)
        for (int o = 0; o < g.oc; o++) {
          int c = o / g.m;
          float d = dy[(((size_t)s * g.oh + oy) * g.ow + ox) * g.oc + o];
          if (b && b->grad) b->grad[o] += d;
          for (int ky = 0; ky < g.kh; ky++)
            for (int kx = 0; kx < g.kw; kx++) {
              int iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw;
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              size_t xi = (((size_t)s * g.h + iy) * g.w + ix) * g.c + c;
              size_t wi = ((size_t)ky * g.kw + kx) * g.oc + o;
              if (w->grad) w->grad[wi] += d * x->data[xi];
              if (x->grad) x->grad[xi] += d * w->data[wi];
            }
        }
}

static int dw_example(qat_op_example *ex, int variant) {
  static const int cfg[][9] = {
      /* h, w, c, m, k, stride, same, dilation h, w */
      {5, 5, 3, 1, 3, 1, 1, 1, 1},
      {6, 7, 2, 3, 3, 2, 0, 1, 1},
      {4, 5, 4, 2, 2, 1, 1, 1, 1},
      {7, 8, 3, 1, 3, 1, 1, 2, 3},
      {7, 8, 2, 2, 3, 1, 0, 2, 2},
  };
  if (variant < 0 || variant >= (int)(sizeof cfg / sizeof cfg[0])) return -1;
  const int *c = cfg[variant];
  example_input(ex, 0, 4, (int[]){3, c[0], c[1], c[2]}, 1, 1, QAT_FILL_UNIFORM);
  example_input(ex, 1, 4, (int[]){1, c[4], c[4], c[2] * c[3]}, 0, 1, QAT_FILL_UNIFORM);
  example_input(ex, 2, 1, (int[]){c[2] * c[3]}, 0, 1, QAT_FILL_UNIFORM);
  ex->attrs.depth_multiplier = c[3];
  ex->attrs.kernel[0] = ex->attrs.kernel[1] = c[4];
  ex->attrs.strides[0] = ex->attrs.strides[1] = c[5];
  ex->attrs.padding = c[6] ? QAT_PADDING_SAME : QAT_PADDING_VALID;
  ex->attrs.dilation[0] = c[7];
  ex->attrs.dilation[1] = c[8];
  return 0;
}

const qat_op_info qat_op_info_depthwise_conv2d = {
    .name = "depthwise_conv2d",
    .plan = dw_plan,
    .forward = dw_forward,
    .backward = dw_backward,
    .forward_ref = dw_forward_ref,
    .backward_ref = dw_backward_ref,
    .example = dw_example,
};
