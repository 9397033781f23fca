/* ADD (builtin 0; versions 1-5): float32, int8 (add.cc's general rescaling, left_shift 20) and
 * int16 (the same with left_shift 15, pot_scale_int16 false), with numpy broadcasting. */
#include <math.h>

#include "qat/error.h"
#include "qat/quant.h"
#include "runtime/rt_op.h"

static const rt_opt_field fields[] = {
    RT_OPT(AddOptions, fused_activation_function, ENUM, activation, 0),
    RT_OPT(AddOptions, pot_scale_int16, BOOL, pot_scale_int16, 1),
};

RT_EVAL(eval_f32, rt_add_f32(&op->bc, op->f_min, op->f_max, rt_in_data(m, op, 0),
                             rt_in_data(m, op, 1), rt_out_data(m, op)))
RT_EVAL(eval_i8, rt_add_i8(&op->bc, &op->add, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                           rt_out_data(m, op)))
RT_EVAL(eval_i16, rt_add_i16(&op->bc, &op->add, rt_in_data(m, op, 0), rt_in_data(m, op, 1),
                             rt_out_data(m, op)))

static int prepare(qat_rt_model *m, int k, rt_op *op) {
  int rc = rt_prepare_binary(m, k, op);
  if (rc) return rc;
  rt_tensor *a = rt_in(m, op, 0), *b = rt_in(m, op, 1), *o = rt_out(m, op, 0);
  if (rt_is_f32(a) && rt_is_f32(b) && rt_is_f32(o)) {
    op->eval = eval_f32;
    return rt_act_range_f32(m, k, op->opt.activation, &op->f_min, &op->f_max);
  }
  if (rt_is_i8(a) && rt_is_i8(b) && rt_is_i8(o)) {
    op->eval = eval_i8;
    if ((rc = rt_need_per_tensor(m, k, a, "input")) || (rc = rt_need_per_tensor(m, k, b, "input")) ||
        (rc = rt_need_per_tensor(m, k, o, "output")))
      return rc;
    /* add.cc Prepare, 8-bit general path: left_shift 20, inputs scaled by s_i / (2 max s),
     * the sum by 2 max s / (2^20 s_out). The float max and the products by powers of two are
     * exact, so computing in double gives TFLite's values. */
    rt_add_params *p = &op->add;
    const float s1 = a->scales[0], s2 = b->scales[0], so = o->scales[0];
    const double twice_max = 2.0 * (double)(s1 > s2 ? s1 : s2);
    p->left_shift = 20;
    p->in1_offset = -(int32_t)a->zero_points[0];
    p->in2_offset = -(int32_t)b->zero_points[0];
    p->out_zp = (int32_t)o->zero_points[0];
    if ((rc = rt_multiplier_below_one(m, k, (double)s1 / twice_max, "input 1", &p->m1, &p->s1)) ||
        (rc = rt_multiplier_below_one(m, k, (double)s2 / twice_max, "input 2", &p->m2, &p->s2)) ||
        (rc = rt_multiplier_below_one(m, k, twice_max / ((double)(1 << 20) * (double)so), "output",
                                   &p->mo, &p->so)))
      return rc;
    return rt_act_range_q(m, k, op->opt.activation, o, -128, 127, &p->act_min, &p->act_max);
  }
  if (rt_is_i16(a) && rt_is_i16(b) && rt_is_i16(o)) {
    op->eval = eval_i16;
    if ((rc = rt_need_int16_symmetric(m, k, a, "input")) ||
        (rc = rt_need_int16_symmetric(m, k, b, "input")) ||
        (rc = rt_need_int16_symmetric(m, k, o, "output")))
      return rc;
    /* add.cc: with pot_scale_int16 set and every scale a power of two, LiteRT takes a special
     * shift-only path (LSTM cells), not implemented here; otherwise the general rescaling with
     * left_shift 15. */
    int e;
    if (op->opt.pot_scale_int16 && frexpf(a->scales[0], &e) == 0.5f &&
        frexpf(b->scales[0], &e) == 0.5f && frexpf(o->scales[0], &e) == 0.5f)
      return rt_unsup(m, k, "int16 ADD with power-of-two scales and pot_scale_int16 (the "
                   "shift-only kernel)");
    rt_add_params *p = &op->add;
    const float s1 = a->scales[0], s2 = b->scales[0], so = o->scales[0];
    const double twice_max = 2.0 * (double)(s1 > s2 ? s1 : s2);
    p->left_shift = 15;
    p->in1_offset = p->in2_offset = p->out_zp = 0;
    if ((rc = rt_multiplier_below_one(m, k, (double)s1 / twice_max, "input 1", &p->m1, &p->s1)) ||
        (rc = rt_multiplier_below_one(m, k, (double)s2 / twice_max, "input 2", &p->m2, &p->s2)) ||
        (rc = rt_multiplier_below_one(m, k, twice_max / ((double)(1 << 15) * (double)so), "output",
                                   &p->mo, &p->so)))
      return rc;
    return rt_act_range_q(m, k, op->opt.activation, o, -32768, 32767, &p->act_min,
                              &p->act_max);
  }
  return rt_unsup(m, k, "inputs %s and %s, output %s", qat_rt_type_name(a->type),
               qat_rt_type_name(b->type), qat_rt_type_name(o->type));
}

RT_REGISTER_OP(ADD, 5, AddOptions, fields, RT_COUNT(fields), NULL, prepare);
