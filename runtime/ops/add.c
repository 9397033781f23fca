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
  int kind, rc = rt_prepare_arith(m, k, op, "ADD", &kind);
  if (rc) return rc;
  op->eval = kind == 0 ? eval_f32 : kind == 1 ? eval_i8 : eval_i16;
  return kind ? rt_prepare_add_rescale(m, k, op, kind == 2) : QAT_OK;
}

RT_REGISTER_OP(ADD, 5, AddOptions, fields, RT_COUNT(fields), NULL, prepare);
