/* Prepare of RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (resize_bilinear.cc,
 * resize_nearest_neighbor.cc), which share their checks: an NHWC input, a constant int32 size
 * [new_height, new_width], the output [batches, new_height, new_width, channels] of the
 * input's type, and half-pixel centers never with aligned corners. Neither kernel rescales: the
 * integer kernels work on the stored values, whatever the scales. */
#include "qat/error.h"
#include "runtime/rt_op.h"

int rt_prepare_resize(qat_rt_model *m, int k, rt_op *op, const rt_evals *ev) {
  int rc = rt_check_io_count(m, k, 2, 2, 1);
  if (rc) return rc;
  rt_tensor *in = rt_in(m, op, 0), *sz = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if (in->rank != 4) return rt_bad(m, k, "input '%s' must have rank 4 (has %d)", in->name, in->rank);
  if ((rc = rt_const_i32(m, k, sz, "size"))) return rc;
  if (sz->n_elems != 2) return rt_bad(m, k, "the size tensor '%s' has %lld values, expected 2", sz->name,
                                      (long long)sz->n_elems);
  if (op->opt.half_pixel_centers && op->opt.align_corners)
    return rt_bad(m, k, "half_pixel_centers and align_corners are both set");
  const int32_t *s = (const int32_t *)(const void *)sz->const_data;
  if (s[0] < 1 || s[1] < 1 || s[0] > (1 << 20) || s[1] > (1 << 20))
    return rt_bad(m, k, "the new size %d x %d is out of range", (int)s[0], (int)s[1]);
  const int64_t dims[4] = {in->dims[0], s[0], s[1], in->dims[3]};
  if ((rc = rt_check_out_shape(m, k, o, dims, 4))) return rc;
  rt_conv_geom *g = &op->conv;
  g->batches = in->dims[0], g->in_h = in->dims[1], g->in_w = in->dims[2], g->in_c = in->dims[3];
  g->out_h = s[0], g->out_w = s[1], g->out_c = in->dims[3];
  return rt_pick_eval(m, k, op, in, o, ev);
}
