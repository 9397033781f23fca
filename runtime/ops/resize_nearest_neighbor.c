/* RESIZE_NEAREST_NEIGHBOR (builtin 97; versions 1-4): float32, int8, int16; each output pixel
 * copies one input pixel (reference_ops::ResizeNearestNeighbor: the source index in float,
 * floored, or rounded with aligned corners, and clamped). Prepare in resize.c. */
#include <math.h>
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(ResizeNearestNeighborOptions, align_corners, BOOL, align_corners, 0),
    RT_OPT(ResizeNearestNeighborOptions, half_pixel_centers, BOOL, half_pixel_centers, 0),
};

/* GetNearestNeighbor */
static int nearest(int v, int in, int out, int align_corners, int half_pixel) {
  const float scale = align_corners && out > 1 ? (float)(in - 1) / (float)(out - 1) : (float)in / (float)out;
  const float offset = half_pixel ? 0.5f : 0.0f;
  const float src = ((float)v + offset) * scale;
  int r = align_corners ? (int)roundf(src) : (int)floorf(src);
  if (r > in - 1) r = in - 1;
  if (half_pixel && r < 0) r = 0;
  return r;
}

static int eval(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const rt_conv_geom *g = &op->conv;
  const size_t es = qat_rt_type_size(rt_in(m, op, 0)->type), px = (size_t)g->in_c * es;
  const uint8_t *x = rt_in_data(m, op, 0);
  uint8_t *y = rt_out_data(m, op);
  for (int b = 0; b < g->batches; b++)
    for (int oy = 0; oy < g->out_h; oy++) {
      const int iy = nearest(oy, g->in_h, g->out_h, op->opt.align_corners, op->opt.half_pixel_centers);
      const uint8_t *row = x + ((size_t)b * g->in_h + (size_t)iy) * g->in_w * px;
      for (int ox = 0; ox < g->out_w; ox++) {
        const int ix = nearest(ox, g->in_w, g->out_w, op->opt.align_corners, op->opt.half_pixel_centers);
        memcpy(y, row + (size_t)ix * px, px);
        y += px;
      }
    }
  return QAT_OK;
}

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  static const rt_evals ev = {eval, eval, eval, NULL};
  return rt_prepare_resize(m, k, op, &ev);
}

RT_REGISTER_OP(RESIZE_NEAREST_NEIGHBOR, 4, ResizeNearestNeighborOptions, fields, RT_COUNT(fields), NULL, prepare);
