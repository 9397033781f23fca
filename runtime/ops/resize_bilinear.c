/* RESIZE_BILINEAR (builtin 23; versions 1-4): float32 (reference_ops::ResizeBilinear: float
 * source coordinates, the four taps' products summed in TFLite's order), int8 and int16
 * (ResizeBilinearInteger: 10-bit fixed-point taps of the stored values, one rounding half
 * away from zero; qat_resize_bilinear_taps, shared with the fake quant). Prepare in resize.c. */
#include <math.h>
#include <stdlib.h>

#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_op.h"
#include "runtime/rt_simd.h"

static const rt_opt_field fields[] = {
    RT_OPT(ResizeBilinearOptions, align_corners, BOOL, align_corners, 0),
    RT_OPT(ResizeBilinearOptions, half_pixel_centers, BOOL, half_pixel_centers, 0),
};

/* ComputeInterpolationValues (float) */
static void taps_f32(int v, float scale, int half_pixel, int size, float *src, int *lo, int *hi) {
  *src = half_pixel ? ((float)v + 0.5f) * scale - 0.5f : (float)v * scale;
  const int f = (int)floorf(*src), c = (int)ceilf(*src);
  *lo = f > 0 ? f : 0;
  *hi = c < size - 1 ? c : size - 1;
}

static int eval_f32(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const rt_conv_geom *g = &op->conv;
  const int ac = op->opt.align_corners, hp = op->opt.half_pixel_centers, c = g->in_c;
  float hs = (float)g->in_h / (float)g->out_h, ws = (float)g->in_w / (float)g->out_w;
  if (ac && g->out_h > 1) hs = (float)(g->in_h - 1) / (float)(g->out_h - 1);
  if (ac && g->out_w > 1) ws = (float)(g->in_w - 1) / (float)(g->out_w - 1);
  const float *x = rt_in_data(m, op, 0);
  float *y = rt_out_data(m, op);
  for (int b = 0; b < g->batches; b++) {
    const float *xb = x + (size_t)b * g->in_h * g->in_w * c;
    for (int oy = 0; oy < g->out_h; oy++) {
      float iy, ix;
      int y0, y1, x0, x1;
      taps_f32(oy, hs, hp, g->in_h, &iy, &y0, &y1);
      for (int ox = 0; ox < g->out_w; ox++) {
        taps_f32(ox, ws, hp, g->in_w, &ix, &x0, &x1);
        const float dy = iy - (float)y0, dx = ix - (float)x0;
        const float *p00 = xb + ((size_t)y0 * g->in_w + x0) * c, *p10 = xb + ((size_t)y1 * g->in_w + x0) * c;
        const float *p01 = xb + ((size_t)y0 * g->in_w + x1) * c, *p11 = xb + ((size_t)y1 * g->in_w + x1) * c;
        for (int ch = 0; ch < c; ch++)
          *y++ = p00[ch] * (1 - dy) * (1 - dx) + p10[ch] * dy * (1 - dx) + p01[ch] * (1 - dy) * dx +
                 p11[ch] * dy * dx;
      }
    }
  }
  return QAT_OK;
}

/* The integer kernel, written once for int8 and int16 (T the stored type, A a sum type wide
 * enough: an int8 value times weights whose magnitudes add up to at most 2^22 fits int32).
 * The taps of every output row and column come from Prepare (op->scratch: lo, hi, frac per
 * row, then per column), not from a 64-bit division per pixel. */
#define RESIZE_BILINEAR_INT(name, T, A)                                                                    \
  static int name(qat_rt_model *m, int k, rt_op *op) {                                                   \
    (void)k;                                                                                             \
    const rt_conv_geom *g = &op->conv;                                                                   \
    const int c = g->in_c;                                                                               \
    const int32_t *rows = op->scratch, *cols = op->scratch + 3 * (size_t)g->out_h;                       \
    const T *x = rt_in_data(m, op, 0);                                                                   \
    T *y = rt_out_data(m, op);                                                                           \
    for (int b = 0; b < g->batches; b++) {                                                               \
      const T *xb = x + (size_t)b * g->in_h * g->in_w * c;                                               \
      for (int oy = 0; oy < g->out_h; oy++) {                                                            \
        const int y0 = rows[3 * oy], y1 = rows[3 * oy + 1];                                              \
        const A fy = rows[3 * oy + 2];                                                                   \
        for (int ox = 0; ox < g->out_w; ox++) {                                                          \
          const int x0 = cols[3 * ox], x1 = cols[3 * ox + 1];                                            \
          const A fx = cols[3 * ox + 2];                                                                 \
          const A w00 = (1024 - fy) * (1024 - fx), w10 = fy * (1024 - fx), w01 = (1024 - fy) * fx,       \
                  w11 = fy * fx;                                                                         \
          const T *p00 = xb + ((size_t)y0 * g->in_w + x0) * c, *p10 = xb + ((size_t)y1 * g->in_w + x0) * c; \
          const T *p01 = xb + ((size_t)y0 * g->in_w + x1) * c, *p11 = xb + ((size_t)y1 * g->in_w + x1) * c; \
          for (int ch = 0; ch < c; ch++) {                                                               \
            /* qat_resize_bilinear_round: half away from zero, then toward zero by 2^20 */              \
            const A sum = p00[ch] * w00 + p10[ch] * w10 + p01[ch] * w01 + p11[ch] * w11;                 \
            y[ch] = (T)((sum + (sum > 0 ? (A)1 << 19 : -((A)1 << 19))) / ((A)1 << 20));                  \
          }                                                                                              \
          y += c;                                                                                        \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
    return QAT_OK;                                                                                       \
  }
RESIZE_BILINEAR_INT(eval_i8_plain, int8_t, int32_t)

static int eval_i8(qat_rt_model *m, int k, rt_op *op) {
  if (!rt_simd_avx512()) return eval_i8_plain(m, k, op);
  const rt_conv_geom *g = &op->conv;
  const int32_t *rows = op->scratch, *cols = op->scratch + 3 * (size_t)g->out_h;
  const int8_t *x = rt_in_data(m, op, 0);
  int8_t *y = rt_out_data(m, op);
  const size_t line = (size_t)g->in_w * g->in_c;
  for (int b = 0; b < g->batches; b++)
    for (int oy = 0; oy < g->out_h; oy++, y += (size_t)g->out_w * g->in_c) {
      const int8_t *xb = x + (size_t)b * g->in_h * line;
      rt_resize_bilinear_row_i8_avx512(g->in_c, g->out_w, xb + rows[3 * oy] * line, xb + rows[3 * oy + 1] * line,
                                       rows[3 * oy + 2], cols, y);
    }
  return QAT_OK;
}
RESIZE_BILINEAR_INT(eval_i16, int16_t, int64_t)

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  static const rt_evals ev = {eval_f32, eval_i8, eval_i16, NULL};
  int rc = rt_prepare_resize(m, k, op, &ev);
  if (rc || op->eval == eval_f32) return rc;
  const rt_conv_geom *g = &op->conv;
  const int ac = op->opt.align_corners, hp = op->opt.half_pixel_centers;
  if (!(op->scratch = malloc(3 * ((size_t)g->out_h + g->out_w) * sizeof *op->scratch)))
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", m->name);
  int32_t *t = op->scratch;
  for (int v = 0; v < g->out_h; v++, t += 3) qat_resize_bilinear_taps(v, g->in_h, g->out_h, ac, hp, &t[0], &t[1], &t[2]);
  for (int v = 0; v < g->out_w; v++, t += 3) qat_resize_bilinear_taps(v, g->in_w, g->out_w, ac, hp, &t[0], &t[1], &t[2]);
  return QAT_OK;
}

RT_REGISTER_OP(RESIZE_BILINEAR, 4, ResizeBilinearOptions, fields, RT_COUNT(fields), NULL, prepare);
