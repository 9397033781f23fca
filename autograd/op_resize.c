/* resize: NHWC upsampling by integer factors attrs.kernel[0] (H) and attrs.kernel[1] (W).
 * Nearest (attrs.bilinear 0): each output pixel copies input (y / fh, x / fw), which is what
 * TFLite's RESIZE_NEAREST_NEIGHBOR computes with half-pixel centers for integer factors.
 * Bilinear (attrs.bilinear 1): half-pixel centers, no corner alignment (tf.image.resize, Keras's
 * UpSampling2D), with the float arithmetic of TFLite's reference RESIZE_BILINEAR (the same
 * scale, floor/ceil clamping and product order), so a float32 export computes the same values.
 * Backward scatters dy with the same taps and weights. */
#include <math.h>

#include "autograd/op_common.h"

static int resize_plan(qat_node *nd, size_t *scratch) {
  const qat_tensor *x = OP_X(nd);
  if (x->rank != 4) return qat_fail(QAT_ERR_USAGE, "upsampling expects an input [batch,H,W,C], got rank %d", x->rank);
  const int fh = nd->attrs.kernel[0], fw = nd->attrs.kernel[1];
  if (fh < 1 || fw < 1 || fh > 4096 || fw > 4096 || (int64_t)x->dims[1] * fh > (1 << 20) ||
      (int64_t)x->dims[2] * fw > (1 << 20))
    return qat_fail(QAT_ERR_USAGE, "upsampling factors %d x %d of an input %d x %d are out of range", fh, fw,
                    x->dims[1], x->dims[2]);
  nd->output->rank = 4;
  nd->output->dims[0] = x->dims[0];
  nd->output->dims[1] = x->dims[1] * fh;
  nd->output->dims[2] = x->dims[2] * fw;
  nd->output->dims[3] = x->dims[3];
  *scratch = 0;
  return QAT_OK;
}

/* TFLite's ComputeInterpolationValues (half-pixel centers): the source coordinate and its two
 * clamped neighbours. */
static void taps(int v, float scale, int size, float *src, int *lo, int *hi) {
  *src = ((float)v + 0.5f) * scale - 0.5f;
  int f = (int)floorf(*src), c = (int)ceilf(*src);
  *lo = f > 0 ? f : 0;
  *hi = c < size - 1 ? c : size - 1;
}

static void resize_forward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const qat_tensor *x = OP_X(nd);
  qat_tensor *y = nd->output;
  const int n = x->dims[0], h = x->dims[1], w = x->dims[2], c = x->dims[3], oh = y->dims[1], ow = y->dims[2];
  const int fh = nd->attrs.kernel[0], fw = nd->attrs.kernel[1];
  const float hs = (float)h / (float)oh, ws = (float)w / (float)ow;
#pragma omp parallel for schedule(static) if ((int64_t)n * oh * ow * c > 65536)
  for (int r = 0; r < n * oh; r++) {
    const int b = r / oh, oy = r % oh;
    const float *xb = x->data + (int64_t)b * h * w * c;
    float *out = y->data + (int64_t)r * ow * c;
    if (!nd->attrs.bilinear) {
      for (int ox = 0; ox < ow; ox++)
        memcpy(out + (int64_t)ox * c, xb + ((int64_t)(oy / fh) * w + ox / fw) * c, (size_t)c * sizeof(float));
      continue;
    }
    float iy, ix;
    int y0, y1, x0, x1;
    taps(oy, hs, h, &iy, &y0, &y1);
    for (int ox = 0; ox < ow; ox++) {
      taps(ox, ws, w, &ix, &x0, &x1);
      const float dy = iy - (float)y0, dx = ix - (float)x0;
      const float *p00 = xb + ((int64_t)y0 * w + x0) * c, *p10 = xb + ((int64_t)y1 * w + x0) * c;
      const float *p01 = xb + ((int64_t)y0 * w + x1) * c, *p11 = xb + ((int64_t)y1 * w + x1) * c;
      for (int ch = 0; ch < c; ch++)
        out[(int64_t)ox * c + ch] = p00[ch] * (1 - dy) * (1 - dx) + p10[ch] * dy * (1 - dx) +
                                    p01[ch] * (1 - dy) * dx + p11[ch] * dy * dx;
    }
  }
}

/* Serial over the batch's rows: several output pixels add into one input pixel. */
static void resize_backward(qat_node *nd, const qat_exec *ex) {
  (void)ex;
  const qat_tensor *x = OP_X(nd), *y = nd->output;
  if (!x->grad) return;
  const int n = x->dims[0], h = x->dims[1], w = x->dims[2], c = x->dims[3], oh = y->dims[1], ow = y->dims[2];
  const int fh = nd->attrs.kernel[0], fw = nd->attrs.kernel[1];
  const float hs = (float)h / (float)oh, ws = (float)w / (float)ow;
#pragma omp parallel for schedule(static) if ((int64_t)n * oh * ow * c > 65536)
  for (int b = 0; b < n; b++) {
    float *gb = x->grad + (int64_t)b * h * w * c;
    for (int oy = 0; oy < oh; oy++) {
      const float *g = y->grad + ((int64_t)b * oh + oy) * ow * c;
      float iy;
      int y0, y1;
      taps(oy, hs, h, &iy, &y0, &y1);
      for (int ox = 0; ox < ow; ox++) {
        const float *gp = g + (int64_t)ox * c;
        if (!nd->attrs.bilinear) {
          float *d = gb + ((int64_t)(oy / fh) * w + ox / fw) * c;
          for (int ch = 0; ch < c; ch++) d[ch] += gp[ch];
          continue;
        }
        float ix;
        int x0, x1;
        taps(ox, ws, w, &ix, &x0, &x1);
        const float dy = iy - (float)y0, dx = ix - (float)x0;
        const float w00 = (1 - dy) * (1 - dx), w10 = dy * (1 - dx), w01 = (1 - dy) * dx, w11 = dy * dx;
        float *d00 = gb + ((int64_t)y0 * w + x0) * c, *d10 = gb + ((int64_t)y1 * w + x0) * c;
        float *d01 = gb + ((int64_t)y0 * w + x1) * c, *d11 = gb + ((int64_t)y1 * w + x1) * c;
        for (int ch = 0; ch < c; ch++) {
          d00[ch] += gp[ch] * w00;
          d10[ch] += gp[ch] * w10;
          d01[ch] += gp[ch] * w01;
          d11[ch] += gp[ch] * w11;
        }
      }
    }
  }
}

/* Nearest 2 x 3, bilinear 2 x 2 and bilinear 3 x 1 (odd factors: taps off the half-pixel grid). */
static int resize_example(qat_op_example *ex, int variant) {
  static const int f[3][3] = {{2, 3, 0}, {2, 2, 1}, {3, 1, 1}};
  if (variant > 2) return -1;
  example_input(ex, 0, 4, (int[]){2, 3, 4, 2}, 1, 1, QAT_FILL_UNIFORM);
  ex->attrs.kernel[0] = f[variant][0];
  ex->attrs.kernel[1] = f[variant][1];
  ex->attrs.bilinear = f[variant][2];
  return 0;
}

const qat_op_info qat_op_info_resize = {
    .name = "resize", .plan = resize_plan, .forward = resize_forward, .backward = resize_backward,
    .example = resize_example,
};
