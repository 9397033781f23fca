/* STRIDED_SLICE (builtin 45; versions 1-4): any fixed-size type, elements copied as they are
 * (strided_slice.cc with reference_ops::StridedSlice). begin, end and strides are constant
 * INT32 vectors; begin_mask, end_mask, shrink_axis_mask and offset are honoured, ellipsis and
 * new-axis masks are refused. Constant inputs (the converter's shape arithmetic) are sliced
 * once, at Prepare. */
#include <string.h>

#include "qat/error.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(StridedSliceOptions, begin_mask, INT, begin_mask, 0),
    RT_OPT(StridedSliceOptions, end_mask, INT, end_mask, 0),
    RT_OPT(StridedSliceOptions, ellipsis_mask, INT, ellipsis_mask, 0),
    RT_OPT(StridedSliceOptions, new_axis_mask, INT, new_axis_mask, 0),
    RT_OPT(StridedSliceOptions, shrink_axis_mask, INT, shrink_axis_mask, 0),
    RT_OPT(StridedSliceOptions, offset, BOOL, offset, 0),
};

/* The per-axis start, stride and count live in op->red: dims = input dims, and the slice
 * parameters in bc (s1 = start, s2 = stride, dims = count), which a data-movement op does not
 * otherwise use. */
static int eval(qat_rt_model *m, int k, rt_op *op) {
  (void)k;
  const rt_tensor *in = rt_in(m, op, 0);
  const size_t es = qat_rt_type_size(in->type);
  const uint8_t *src = rt_in_data(m, op, 0);
  uint8_t *dst = rt_out_data(m, op);
  const int r = in->rank;
  const rt_bcast *b = &op->bc;
  int64_t instride[QAT_RT_MAX_RANK], idx[QAT_RT_MAX_RANK] = {0}, total = 1;
  int64_t s = 1;
  for (int d = r - 1; d >= 0; d--) {
    instride[d] = s;
    s *= in->dims[d];
  }
  for (int d = 0; d < r; d++) total *= b->dims[d];
  for (int64_t o = 0; o < total; o++) {
    int64_t at = 0;
    for (int d = 0; d < r; d++) at += (b->s1[d] + idx[d] * b->s2[d]) * instride[d];
    memcpy(dst + (size_t)o * es, src + (size_t)at * es, es);
    for (int d = r - 1; d >= 0; d--) {
      if (++idx[d] < b->dims[d]) break;
      idx[d] = 0;
    }
  }
  return QAT_OK;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_check_io_count(m, k, 4, 4, 1);
  if (rc) return rc;
  const rt_tensor *in = rt_in(m, op, 0), *o = rt_out(m, op, 0);
  const rt_tensor *tb = rt_in(m, op, 1), *te = rt_in(m, op, 2), *ts = rt_in(m, op, 3);
  if ((rc = rt_const_i32(m, k, tb, "begin")) || (rc = rt_const_i32(m, k, te, "end")) ||
      (rc = rt_const_i32(m, k, ts, "strides")))
    return rc;
  if (in->type != o->type)
    return rt_bad(m, k, "input is %s, output %s", qat_rt_type_name(in->type),
                  qat_rt_type_name(o->type));
  if (qat_rt_type_size(in->type) == 0)
    return rt_unsup(m, k, "tensors of type %s", qat_rt_type_name(in->type));
  if (op->opt.ellipsis_mask || op->opt.new_axis_mask)
    return rt_unsup(m, k, "ellipsis_mask %d / new_axis_mask %d (only 0 is implemented)",
                    op->opt.ellipsis_mask, op->opt.new_axis_mask);
  const int r = in->rank;
  if (tb->n_elems != r || te->n_elems != r || ts->n_elems != r)
    return rt_bad(m, k, "begin, end and strides have %lld, %lld and %lld entries for a rank-%d "
                  "input", (long long)tb->n_elems, (long long)te->n_elems,
                  (long long)ts->n_elems, r);
  const int32_t *bv = (const int32_t *)tb->const_data, *ev = (const int32_t *)te->const_data,
                *sv = (const int32_t *)ts->const_data;
  int64_t od[QAT_RT_MAX_RANK];
  int orank = 0;
  rt_bcast *b = &op->bc;
  for (int d = 0; d < r; d++) {
    const int64_t n = in->dims[d], stride = sv[d];
    if (stride == 0) return rt_bad(m, k, "stride %d is 0", d);
    /* strided_slice.h StartForAxis / EndForAxis: negative indices count from the end, then
     * clamp to [0, n] (stride > 0) or [-1, n - 1] (stride < 0); a mask bit takes the whole
     * axis; a shrunk axis keeps one element; offset: end is relative to begin. */
    const int64_t lo = stride > 0 ? 0 : -1, hi = stride > 0 ? n : n - 1;
    int64_t start = bv[d];
    if (start < 0) start += n;
    start = clamp64(start, lo, hi);
    if (op->opt.begin_mask & (1 << d)) start = stride > 0 ? 0 : n - 1;
    int64_t end;
    const int shrink = (op->opt.shrink_axis_mask >> d) & 1;
    if (shrink) {
      if (start >= n || start < 0) return rt_bad(m, k, "shrunk axis %d starts outside it", d);
      /* strided_slice.cc leaves the stride of a shrunk axis as given: a negative one visits
       * nothing there (an empty result TFLite does not report). */
      if (stride < 0) return rt_unsup(m, k, "shrunk axis %d with a negative stride", d);
      end = start + 1;
    } else {
      end = ev[d];
      if (op->opt.offset) end += start;
      if (end < 0) end += n;
      end = clamp64(end, lo, hi);
      if (op->opt.end_mask & (1 << d)) end = stride > 0 ? n : -1;
    }
    int64_t count = end - start;
    if ((count < 0) != (stride < 0) || count == 0)
      count = 0;
    else
      count = stride < 0 ? (count + 1) / stride + 1 : (count - 1) / stride + 1;
    if (count == 0)
      return rt_unsup(m, k, "axis %d of the slice is empty (empty tensors are not supported)", d);
    b->s1[d] = start;
    b->s2[d] = stride;
    b->dims[d] = count;
    if (!shrink) od[orank++] = count;
  }
  if ((rc = rt_check_out_shape(m, k, o, od, orank))) return rc;
  op->eval = eval;
  return rt_all_inputs_const(m, op) ? rt_fold_constant(m, k, op) : QAT_OK;
}

RT_REGISTER_OP(STRIDED_SLICE, 4, StridedSliceOptions, fields, RT_COUNT(fields), NULL, prepare);
