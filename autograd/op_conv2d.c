/* Conv2D, NHWC input, OHWI filters: im2col + sgemm forward; backward is two more GEMMs
 * (dW = dY^T col, dcol = dY W) and col2im. */
#include <cblas.h>

#include "op_common.h"

typedef struct conv_geom {
  int n, h, w, c, oh, ow, o, kh, kw, sh, sw, ph, pw;
  int k;      /* kh*kw*c: one im2col row */
  int dh, dw; /* dilation: kernel taps dh rows and dw columns apart */
} conv_geom;

static conv_geom geom(const qat_node *nd) {
  const qat_tensor *x = OP_X(nd), *w = OP_W(nd), *y = nd->output;
  conv_geom g = {x->dims[0], x->dims[1], x->dims[2], x->dims[3], y->dims[1], y->dims[2],
                 w->dims[0], w->dims[1], w->dims[2], nd->attrs.strides[0], nd->attrs.strides[1],
                 nd->pad[0], nd->pad[1], 0, op_dilation(nd, 0), op_dilation(nd, 1)};
  g.k = g.kh * g.kw * g.c;
  return g;
}

/* A 1x1 stride-1 convolution's im2col matrix is its input: skip the copy. */
static int is_pointwise(const conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* The weight and bias gradients sum over every output pixel of the batch: a GEMM with
 * K = n*oh*ow. With few filter weights (a first layer's 3x3x1x32) that long-K GEMM does not
 * spread over the threads, and it was the one part of the seed CNNs' step that did not get
 * faster with a second thread. In HALF_PARTS fixed slices of each half of the batch
 * (qat_exec.halves; a rank of 2 holds one half) it does: one single-threaded GEMM per slice
 * into a buffer of its own, all in one parallel loop, each half's slices then added in order
 * into that half's gradient, so the sum is the same for any thread count and for 1 process
 * or 2 ranks. */
enum { HALF_PARTS = 4, GRAD_PARTS = 2 * HALF_PARTS, GRAD_PARTS_MAX_WEIGHTS = 1 << 16 };

static int sliced(const conv_geom *g) { return (int64_t)g->o * g->k <= GRAD_PARTS_MAX_WEIGHTS && g->n >= 2; }

static int conv2d_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd), *y = nd->output;
  char xs[64], ws[64];
  shape_str(x, xs, sizeof xs);
  shape_str(w, ws, sizeof ws);
  if (x->rank != 4) return qat_fail(QAT_ERR_USAGE, "Conv2D expects an input [batch,H,W,C], got %s", xs);
  if (w->rank != 4 || w->dims[3] != x->dims[3])
    return qat_fail(QAT_ERR_USAGE, "Conv2D filter %s does not match input %s", ws, xs);
  if (b && (b->rank != 1 || b->dims[0] != w->dims[0]))
    return qat_fail(QAT_ERR_USAGE, "Conv2D bias does not match %d filters", w->dims[0]);
  if (nd->attrs.strides[0] < 1 || nd->attrs.strides[1] < 1)
    return qat_fail(QAT_ERR_USAGE, "Conv2D strides must be >= 1");
  /* a dilated kernel spans (k - 1) * d + 1 input pixels */
  int eh = (w->dims[1] - 1) * op_dilation(nd, 0) + 1, ew = (w->dims[2] - 1) * op_dilation(nd, 1) + 1;
  int oh = qat_conv_out_size(x->dims[1], eh, nd->attrs.strides[0], nd->attrs.padding, &nd->pad[0]);
  int ow = qat_conv_out_size(x->dims[2], ew, nd->attrs.strides[1], nd->attrs.padding, &nd->pad[1]);
  if ((oh < 1 || ow < 1) && eh == w->dims[1] && ew == w->dims[2])
    return qat_fail(QAT_ERR_USAGE, "Conv2D kernel %dx%d is larger than its input %s with padding 'valid'",
                    w->dims[1], w->dims[2], xs);
  if (oh < 1 || ow < 1)
    return qat_fail(QAT_ERR_USAGE, "Conv2D kernel %dx%d (dilated: spanning %dx%d) is larger than its input %s with "
                    "padding 'valid'", w->dims[1], w->dims[2], eh, ew, xs);
  y->rank = 4;
  y->dims[0] = x->dims[0];
  y->dims[1] = oh;
  y->dims[2] = ow;
  y->dims[3] = w->dims[0];
  conv_geom g = geom(nd);
  /* col is kept from forward for dW; dcol is separate so col survives the dX pass; the
   * partial weight gradients (grad_parts) go last. */
  size_t col = is_pointwise(&g) ? 0 : (size_t)g.n * g.oh * g.ow * g.k;
  size_t dcol = (x->requires_grad && !is_pointwise(&g)) ? (size_t)g.n * g.oh * g.ow * g.k : 0;
  size_t parts = sliced(&g) ? (size_t)GRAD_PARTS * ((size_t)g.o * g.k + g.o) : 0;
  *scratch = (col + dcol + parts) * sizeof(float);
  return QAT_OK;
}

/* Copies n floats; short runs (C = 1 or 3 inputs) are common here and a library call per run
 * would cost more than the copy. */
static inline void copy_floats(float *dst, const float *src, int n) {
  if (n < 16) {
    for (int i = 0; i < n; i++) dst[i] = src[i];
  } else {
    memcpy(dst, src, (size_t)n * sizeof(float));
  }
}

/* One im2col row per output pixel, laid out (ky, kx, c) like an OHWI filter row. Within a
 * kernel row the kw*C inputs are contiguous in NHWC, so each kernel row is one copy unless it
 * touches the padding. */
static void im2col_sample(const conv_geom *g, const float *x, float *col) {
  int span = g->kw * g->c;
  for (int oy = 0; oy < g->oh; oy++)
    for (int ox = 0; ox < g->ow; ox++) {
      float *row = col + ((size_t)oy * g->ow + ox) * g->k;
      int ix0 = ox * g->sw - g->pw;
      for (int ky = 0; ky < g->kh; ky++) {
        int iy = oy * g->sh - g->ph + ky * g->dh;
        float *dst = row + (size_t)ky * span;
        if (iy < 0 || iy >= g->h) {
          memset(dst, 0, (size_t)span * sizeof(float));
          continue;
        }
        const float *src = x + ((size_t)iy * g->w) * g->c;
        if (g->dw == 1 && ix0 >= 0 && ix0 + g->kw <= g->w) {
          copy_floats(dst, src + (size_t)ix0 * g->c, span);
          continue;
        }
        for (int kx = 0; kx < g->kw; kx++) {
          int ix = ix0 + kx * g->dw;
          if (ix < 0 || ix >= g->w)
            memset(dst + (size_t)kx * g->c, 0, (size_t)g->c * sizeof(float));
          else
            copy_floats(dst + (size_t)kx * g->c, src + (size_t)ix * g->c, g->c);
        }
      }
    }
}

static void col2im_sample(const conv_geom *g, const float *col, float *dx) {
  for (int oy = 0; oy < g->oh; oy++)
    for (int ox = 0; ox < g->ow; ox++) {
      const float *row = col + ((size_t)oy * g->ow + ox) * g->k;
      for (int ky = 0; ky < g->kh; ky++) {
        int iy = oy * g->sh - g->ph + ky * g->dh;
        if (iy < 0 || iy >= g->h) continue;
        for (int kx = 0; kx < g->kw; kx++) {
          int ix = ox * g->sw - g->pw + kx * g->dw;
          if (ix < 0 || ix >= g->w) continue;
          const float *src = row + ((size_t)ky * g->kw + kx) * g->c;
          float *dst = dx + ((size_t)iy * g->w + ix) * g->c;
          for (int c = 0; c < g->c; c++) dst[c] += src[c];
        }
      }
    }
}

static float *col_buffer(const qat_node *nd, const conv_geom *g) {
  return is_pointwise(g) ? OP_X(nd)->data : (float *)nd->scratch;
}

static void conv2d_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  conv_geom g = geom(nd);
  const float *w = OP_W(nd)->data;
  const qat_tensor *b = OP_B(nd);
  float *y = nd->output->data;
  float *col = col_buffer(nd, &g);
  int pointwise = is_pointwise(&g);
  size_t pix = (size_t)g.oh * g.ow;
  /* One sample per thread, each with a single-threaded sgemm (OpenBLAS runs serially inside a
   * parallel region): measured faster here than one large GEMM with OpenBLAS's own threads. */
#pragma omp parallel for schedule(static)
  for (int s = 0; s < g.n; s++) {
    float *cs = col + (size_t)s * pix * g.k;
    if (!pointwise) im2col_sample(&g, OP_X(nd)->data + (size_t)s * g.h * g.w * g.c, cs);
    float *ys = y + (size_t)s * pix * g.o;
    /* the GEMM accumulates onto the bias (beta = 1) instead of a second pass over the output */
    if (b)
      for (size_t p = 0; p < pix; p++) copy_floats(ys + p * g.o, b->data, g.o);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)pix, g.o, g.k, 1.0f, cs, g.k, w,
                g.k, b ? 1.0f : 0.0f, ys, g.o);
  }
}

/* The weight and bias gradients of each part of the batch (op_halves) into its own (op_grad_half). */
static void conv_param_grads(const qat_node *nd, const conv_geom *g, const float *dy, const float *col,
                             const int64_t *half, int halves, qat_tensor *wt, qat_tensor *b) {
  const size_t pix = (size_t)g->oh * g->ow;
  const int wk = g->o * g->k;
  const int want_db = b && b->grad, want_dw = wt->grad != NULL;
  if (!sliced(g)) {
    for (int h = 0; h < halves; h++) {
      const size_t r0 = (size_t)half[h] * pix, rows = (size_t)(half[h + 1] - half[h]) * pix;
      float *db = op_grad_half(b, h), *dw = op_grad_half(wt, h);
      if (want_db)
        for (size_t p = r0; p < r0 + rows; p++)
          for (int o = 0; o < g->o; o++) db[o] += dy[p * g->o + o];
      if (want_dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->o, g->k, (int)rows, 1.0f, dy + r0 * g->o, g->o,
                    col + r0 * g->k, g->k, 1.0f, dw, g->k);
    }
    return;
  }
  int parts[2] = {0, 0};
  for (int h = 0; h < halves; h++) {
    const int64_t samples = half[h + 1] - half[h];
    parts[h] = samples < HALF_PARTS ? (int)samples : HALF_PARTS;
  }
  const size_t stride = (size_t)wk + g->o;
  float *part = (float *)((char *)nd->scratch + nd->scratch_bytes) - (size_t)GRAD_PARTS * stride;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < parts[0] + parts[1]; p++) {
    const int h = p >= parts[0], q = p - (h ? parts[0] : 0);
    const int64_t samples = half[h + 1] - half[h];
    const size_t r0 = (size_t)(half[h] + samples * q / parts[h]) * pix,
                 r1 = (size_t)(half[h] + samples * (q + 1) / parts[h]) * pix;
    float *restrict pw = part + p * stride, *restrict pb = pw + wk;
    if (want_dw)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->o, g->k, (int)(r1 - r0), 1.0f, dy + r0 * g->o, g->o,
                  col + r0 * g->k, g->k, 0.0f, pw, g->k);
    if (want_db) {
      for (int o = 0; o < g->o; o++) pb[o] = 0.0f;
      for (size_t r = r0; r < r1; r++)
        for (int o = 0; o < g->o; o++) pb[o] += dy[r * g->o + o];
    }
  }
  for (int h = 0, first = 0; h < halves; first += parts[h], h++) {
    const float *own = part + (size_t)first * stride;
    float *dw = op_grad_half(wt, h), *db = op_grad_half(b, h);
    if (want_dw)
#pragma omp parallel for schedule(static) if (wk > 16384)
      for (int e = 0; e < wk; e++) {
        float sum = dw[e];
        for (int p = 0; p < parts[h]; p++) sum += own[p * stride + e];
        dw[e] = sum;
      }
    if (want_db)
      for (int o = 0; o < g->o; o++) {
        float sum = db[o];
        for (int p = 0; p < parts[h]; p++) sum += own[p * stride + wk + o];
        db[o] = sum;
      }
  }
}

static void conv2d_backward(qat_node *nd, const qat_exec *ex) {
  conv_geom g = geom(nd);
  qat_tensor *x = OP_X(nd), *wt = OP_W(nd), *b = OP_B(nd);
  const float *dy = nd->output->grad;
  const float *col = col_buffer(nd, &g);
  size_t rows = (size_t)g.n * g.oh * g.ow;
  int64_t half[3];
  const int halves = op_halves(ex, x, half);
  conv_param_grads(nd, &g, dy, col, half, halves, wt, b);
  if (!x->grad) return;
  size_t pix = (size_t)g.oh * g.ow;
  if (is_pointwise(&g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, g.k, g.o, 1.0f, dy, g.o,
                wt->data, g.k, 1.0f, x->grad, g.k);
    return;
  }
  float *dcol = (float *)nd->scratch + rows * g.k;
#pragma omp parallel for schedule(static)
  for (int s = 0; s < g.n; s++) {
    float *dcs = dcol + (size_t)s * pix * g.k;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)pix, g.k, g.o, 1.0f,
                dy + (size_t)s * pix * g.o, g.o, wt->data, g.k, 0.0f, dcs, g.k);
    col2im_sample(&g, dcs, x->grad + (size_t)s * g.h * g.w * g.c);
  }
}

/* Plain direct convolution: the reference the optimized kernel is held to. */
static void conv2d_forward_ref(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  conv_geom g = geom(nd);
  const float *x = OP_X(nd)->data, *w = OP_W(nd)->data;
  const qat_tensor *b = OP_B(nd);
  float *y = nd->output->data;
  for (int s = 0; s < g.n; s++)
    for (int oy = 0; oy < g.oh; oy++)
      for (int ox = 0; ox < g.ow; ox++)
        for (int o = 0; o < g.o; o++) {
          double acc = b ? b->data[o] : 0.0;
          for (int ky = 0; ky < g.kh; ky++)
            for (int kx = 0; kx < g.kw; kx++) {
              int iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw;
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              for (int c = 0; c < g.c; c++)
                acc += (double)x[(((size_t)s * g.h + iy) * g.w + ix) * g.c + c] *
                       w[(((size_t)o * g.kh + ky) * g.kw + kx) * g.c + c];
            }
          y[(((size_t)s * g.oh + oy) * g.ow + ox) * g.o + o] = (float)acc;
        }
}

static void conv2d_backward_ref(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  conv_geom g = geom(nd);
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd);
  const float *dy = nd->output->grad;
  for (int s = 0; s < g.n; s++)
    for (int oy = 0; oy < g.oh; oy++)
      for (int ox = 0; ox < g.ow; ox++)
        for (int o = 0; o < g.o; o++) {
          float d = dy[(((size_t)s * g.oh + oy) * g.ow + ox) * g.o + o];
          if (b && b->grad) b->grad[o] += d;
          for (int ky = 0; ky < g.kh; ky++)
            for (int kx = 0; kx < g.kw; kx++) {
              int iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw;
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              for (int c = 0; c < g.c; c++) {
                size_t xi = (((size_t)s * g.h + iy) * g.w + ix) * g.c + c;
                size_t wi = (((size_t)o * g.kh + ky) * g.kw + kx) * g.c + c;
                if (w->grad) w->grad[wi] += d * x->data[xi];
                if (x->grad) x->grad[xi] += d * w->data[wi];
              }
            }
        }
}

static int conv2d_example(qat_op_example *ex, int variant) {
  /* 0: same padding stride 1; 1: valid, stride 2, no bias; 2: pointwise 1x1; 4, 5: dilated */
  static const int cfg[][10] = {
      /* h, w, c, o, k, stride, same, bias, dilation h, w */
      {5, 6, 3, 4, 3, 1, 1, 1, 1, 1},
      {7, 6, 2, 3, 3, 2, 0, 0, 1, 1},
      {4, 4, 3, 5, 1, 1, 0, 1, 1, 1},
      {6, 5, 2, 3, 2, 2, 1, 1, 1, 1},
      {7, 8, 2, 3, 3, 1, 1, 1, 2, 3},
      {7, 8, 2, 3, 3, 1, 0, 1, 2, 2},
  };
  if (variant < 0 || variant >= (int)(sizeof cfg / sizeof cfg[0])) return -1;
  const int *c = cfg[variant];
  example_input(ex, 0, 4, (int[]){2, c[0], c[1], c[2]}, 1, 1, QAT_FILL_UNIFORM);
  example_input(ex, 1, 4, (int[]){c[3], c[4], c[4], c[2]}, 0, 1, QAT_FILL_UNIFORM);
  if (c[7]) example_input(ex, 2, 1, (int[]){c[3]}, 0, 1, QAT_FILL_UNIFORM);
  ex->attrs.kernel[0] = ex->attrs.kernel[1] = c[4];
  ex->attrs.strides[0] = ex->attrs.strides[1] = c[5];
  ex->attrs.padding = c[6] ? QAT_PADDING_SAME : QAT_PADDING_VALID;
  ex->attrs.dilation[0] = c[8];
  ex->attrs.dilation[1] = c[9];
  return 0;
}

const qat_op_info qat_op_info_conv2d = {
    .name = "conv2d",
    .plan = conv2d_plan,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .forward_ref = conv2d_forward_ref,
    .backward_ref = conv2d_backward_ref,
    .example = conv2d_example,
};
