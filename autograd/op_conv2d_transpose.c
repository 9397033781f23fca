/* Conv2DTranspose, NHWC input, filters [O, KH, KW, I] (TFLite TRANSPOSE_CONV's layout): the
 * input-gradient of a convolution. Forward is one GEMM per sample, col = x W^T (a row of
 * O*KH*KW per input pixel, laid out (o, ky, kx) so W is its matrix as stored), scattered by
 * col2im; backward gathers dY with im2col in the same layout: dX = dcol W, dW = dcol^T x.
 * Output size: valid (in-1)*s + k; same in*s. The padding is the one the convolution from the
 * output back to the input would have (TensorFlow's, and TFLite's TRANSPOSE_CONV's). */
#include <cblas.h>

#include "op_common.h"

typedef struct tconv_geom {
  int n, h, w, c;    /* input */
  int oh, ow, o;     /* output */
  int kh, kw, sh, sw, ph, pw;
  int k;             /* o*kh*kw: one col row */
} tconv_geom;

static tconv_geom geom(const qat_node *nd) {
  const qat_tensor *x = OP_X(nd), *w = OP_W(nd), *y = nd->output;
  tconv_geom g = {x->dims[0], x->dims[1], x->dims[2], x->dims[3], y->dims[1], y->dims[2], w->dims[0],
                  w->dims[1], w->dims[2], nd->attrs.strides[0], nd->attrs.strides[1], nd->pad[0], nd->pad[1], 0};
  g.k = g.o * g.kh * g.kw;
  return g;
}

/* The output size along one axis and the top/left padding of the convolution that maps it back
 * onto the input (qat_conv_out_size of that convolution must give the input size back). */
static int out_size(int in, int k, int s, qat_padding p, int *pad) {
  int out = p == QAT_PADDING_SAME ? in * s : (in - 1) * s + k;
  qat_conv_out_size(out, k, s, p, pad);
  return out;
}

static int tconv_plan(qat_node *nd, size_t *scratch) {
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd), *y = nd->output;
  char xs[64], ws[64];
  shape_str(x, xs, sizeof xs);
  shape_str(w, ws, sizeof ws);
  if (x->rank != 4) return qat_fail(QAT_ERR_USAGE, "Conv2DTranspose expects an input [batch,H,W,C], got %s", xs);
  if (w->rank != 4 || w->dims[3] != x->dims[3])
    return qat_fail(QAT_ERR_USAGE, "Conv2DTranspose filter %s does not match input %s", ws, xs);
  if (b && (b->rank != 1 || b->dims[0] != w->dims[0]))
    return qat_fail(QAT_ERR_USAGE, "Conv2DTranspose bias does not match %d filters", w->dims[0]);
  if (nd->attrs.strides[0] < 1 || nd->attrs.strides[1] < 1)
    return qat_fail(QAT_ERR_USAGE, "Conv2DTranspose strides must be >= 1");
  y->rank = 4;
  y->dims[0] = x->dims[0];
  y->dims[1] = out_size(x->dims[1], w->dims[1], nd->attrs.strides[0], nd->attrs.padding, &nd->pad[0]);
  y->dims[2] = out_size(x->dims[2], w->dims[2], nd->attrs.strides[1], nd->attrs.padding, &nd->pad[1]);
  y->dims[3] = w->dims[0];
  tconv_geom g = geom(nd);
  /* One buffer: forward's col is not needed by backward (it gathers dY afresh). */
  *scratch = (size_t)g.n * g.h * g.w * g.k * sizeof(float);
  return QAT_OK;
}

/* col row of input pixel (iy, ix), entry (o, ky, kx), lands on output pixel
 * (iy*sh - ph + ky, ix*sw - pw + kx), channel o. */
static void col2im_sample(const tconv_geom *g, const float *col, float *y) {
  for (int iy = 0; iy < g->h; iy++)
    for (int ix = 0; ix < g->w; ix++) {
      const float *row = col + ((size_t)iy * g->w + ix) * g->k;
      for (int o = 0; o < g->o; o++)
        for (int ky = 0; ky < g->kh; ky++) {
          int oy = iy * g->sh - g->ph + ky;
          if (oy < 0 || oy >= g->oh) continue;
          for (int kx = 0; kx < g->kw; kx++) {
            int ox = ix * g->sw - g->pw + kx;
            if (ox < 0 || ox >= g->ow) continue;
            y[((size_t)oy * g->ow + ox) * g->o + o] += row[((size_t)o * g->kh + ky) * g->kw + kx];
          }
        }
    }
}

static void im2col_sample(const tconv_geom *g, const float *dy, float *col) {
  for (int iy = 0; iy < g->h; iy++)
    for (int ix = 0; ix < g->w; ix++) {
      float *row = col + ((size_t)iy * g->w + ix) * g->k;
      for (int o = 0; o < g->o; o++)
        for (int ky = 0; ky < g->kh; ky++) {
          int oy = iy * g->sh - g->ph + ky;
          for (int kx = 0; kx < g->kw; kx++) {
            int ox = ix * g->sw - g->pw + kx;
            row[((size_t)o * g->kh + ky) * g->kw + kx] =
                oy < 0 || oy >= g->oh || ox < 0 || ox >= g->ow ? 0.0f : dy[((size_t)oy * g->ow + ox) * g->o + o];
          }
        }
    }
}

static void tconv_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  tconv_geom g = geom(nd);
  const float *w = OP_W(nd)->data;
  const qat_tensor *b = OP_B(nd);
  float *col = nd->scratch;
  size_t pix = (size_t)g.h * g.w, opix = (size_t)g.oh * g.ow;
  /* one sample per thread with a single-threaded sgemm, as the convolution does */
#pragma omp parallel for schedule(static)
  for (int s = 0; s < g.n; s++) {
    float *cs = col + (size_t)s * pix * g.k;
    float *ys = nd->output->data + (size_t)s * opix * g.o;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)pix, g.k, g.c, 1.0f,
                OP_X(nd)->data + (size_t)s * pix * g.c, g.c, w, g.c, 0.0f, cs, g.k);
    for (size_t p = 0; p < opix; p++)
      for (int o = 0; o < g.o; o++) ys[p * g.o + o] = b ? b->data[o] : 0.0f;
    col2im_sample(&g, cs, ys);
  }
}

static void tconv_backward(qat_node *nd, const qat_exec *ex) {
  tconv_geom g = geom(nd);
  qat_tensor *x = OP_X(nd), *wt = OP_W(nd), *b = OP_B(nd);
  const float *dy = nd->output->grad;
  float *col = nd->scratch;
  size_t pix = (size_t)g.h * g.w, opix = (size_t)g.oh * g.ow;
  int64_t half[3];
  const int halves = op_halves(ex, x, half);
  if (b && b->grad)
    for (int h = 0; h < halves; h++) {
      float *db = op_grad_half(b, h);
      for (size_t p = (size_t)half[h] * opix; p < (size_t)half[h + 1] * opix; p++)
        for (int o = 0; o < g.o; o++) db[o] += dy[p * g.o + o];
    }
  if (!wt->grad && !x->grad) return;
#pragma omp parallel for schedule(static)
  for (int s = 0; s < g.n; s++) {
    float *cs = col + (size_t)s * pix * g.k;
    im2col_sample(&g, dy + (size_t)s * opix * g.o, cs);
    if (x->grad)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)pix, g.c, g.k, 1.0f, cs, g.k, wt->data, g.c,
                  1.0f, x->grad + (size_t)s * pix * g.c, g.c);
  }
  if (wt->grad)
    for (int h = 0; h < halves; h++) {
      const size_t r0 = (size_t)half[h] * pix;
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.k, g.c, (int)((size_t)half[h + 1] * pix - r0), 1.0f,
                  col + r0 * g.k, g.k, x->data + r0 * g.c, g.c, 1.0f, op_grad_half(wt, h), g.c);
    }
}

/* Plain scatter loops, as TFLite's reference kernel walks it: the reference the GEMM path is
 * held to. */
static void tconv_forward_ref(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  tconv_geom g = geom(nd);
  const float *x = OP_X(nd)->data, *w = OP_W(nd)->data;
  const qat_tensor *b = OP_B(nd);
  float *y = nd->output->data;
  for (int s = 0; s < g.n; s++)
    for (size_t p = 0; p < (size_t)g.oh * g.ow; p++)
      for (int o = 0; o < g.o; o++) y[((size_t)s * g.oh * g.ow + p) * g.o + o] = b ? b->data[o] : 0.0f;
  for (int s = 0; s < g.n; s++)
    for (int iy = 0; iy < g.h; iy++)
      for (int ix = 0; ix < g.w; ix++)
        for (int ky = 0; ky < g.kh; ky++)
          for (int kx = 0; kx < g.kw; kx++) {
            int oy = iy * g.sh - g.ph + ky, ox = ix * g.sw - g.pw + kx;
            if (oy < 0 || oy >= g.oh || ox < 0 || ox >= g.ow) continue;
            for (int o = 0; o < g.o; o++) {
              double acc = 0;
              for (int c = 0; c < g.c; c++)
                acc += (double)x[(((size_t)s * g.h + iy) * g.w + ix) * g.c + c] *
                       w[(((size_t)o * g.kh + ky) * g.kw + kx) * g.c + c];
              y[(((size_t)s * g.oh + oy) * g.ow + ox) * g.o + o] += (float)acc;
            }
          }
}

static void tconv_backward_ref(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  tconv_geom g = geom(nd);
  qat_tensor *x = OP_X(nd), *w = OP_W(nd), *b = OP_B(nd);
  const float *dy = nd->output->grad;
  if (b && b->grad)
    for (size_t p = 0; p < (size_t)g.n * g.oh * g.ow; p++)
      for (int o = 0; o < g.o; o++) b->grad[o] += dy[p * g.o + o];
  for (int s = 0; s < g.n; s++)
    for (int iy = 0; iy < g.h; iy++)
      for (int ix = 0; ix < g.w; ix++)
        for (int ky = 0; ky < g.kh; ky++)
          for (int kx = 0; kx < g.kw; kx++) {
            int oy = iy * g.sh - g.ph + ky, ox = ix * g.sw - g.pw + kx;
            if (oy < 0 || oy >= g.oh || ox < 0 || ox >= g.ow) continue;
            for (int o = 0; o < g.o; o++) {
              float d = dy[(((size_t)s * g.oh + oy) * g.ow + ox) * g.o + o];
              for (int c = 0; c < g.c; c++) {
                size_t xi = (((size_t)s * g.h + iy) * g.w + ix) * g.c + c;
                size_t wi = (((size_t)o * g.kh + ky) * g.kw + kx) * g.c + c;
                if (w->grad) w->grad[wi] += d * x->data[xi];
                if (x->grad) x->grad[xi] += d * w->data[wi];
              }
            }
          }
}

static int tconv_example(qat_op_example *ex, int variant) {
  /* same stride 2 (overlapping windows), valid stride 2 without bias, same stride 1 with an
   * even kernel (asymmetric padding), valid stride 3 (gaps between windows) */
  static const int cfg[][8] = {
      /* h, w, c, o, k, stride, same, bias */
      {3, 4, 3, 4, 3, 2, 1, 1},
      {3, 3, 2, 3, 3, 2, 0, 0},
      {4, 3, 3, 2, 2, 1, 1, 1},
      {2, 3, 2, 3, 2, 3, 0, 1},
  };
  if (variant < 0 || variant >= (int)(sizeof cfg / sizeof cfg[0])) return -1;
  const int *c = cfg[variant];
  example_input(ex, 0, 4, (int[]){2, c[0], c[1], c[2]}, 1, 1, QAT_FILL_UNIFORM);
  example_input(ex, 1, 4, (int[]){c[3], c[4], c[4], c[2]}, 0, 1, QAT_FILL_UNIFORM);
  if (c[7]) example_input(ex, 2, 1, (int[]){c[3]}, 0, 1, QAT_FILL_UNIFORM);
  ex->attrs.kernel[0] = ex->attrs.kernel[1] = c[4];
  ex->attrs.strides[0] = ex->attrs.strides[1] = c[5];
  ex->attrs.padding = c[6] ? QAT_PADDING_SAME : QAT_PADDING_VALID;
  return 0;
}

const qat_op_info qat_op_info_conv2d_transpose = {
    .name = "conv2d_transpose",
    .plan = tconv_plan,
    .forward = tconv_forward,
    .backward = tconv_backward,
    .forward_ref = tconv_forward_ref,
    .backward_ref = tconv_backward_ref,
    .example = tconv_example,
};
