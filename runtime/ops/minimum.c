/* MINIMUM (builtin 57; versions 1-4): element-wise el1 < el2 ? el1 : el2 (maximum_minimum.cc
 * MinimumOp); Prepare and kernels are MAXIMUM's (ops/maximum.c). */
#include "runtime/rt_op.h"

RT_REGISTER_OP(MINIMUM, 4, MaximumMinimumOptions, NULL, 0, NULL, rt_prepare_max_min);
