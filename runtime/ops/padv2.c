/* PADV2 (builtin 60; versions 1-6): PAD with a third input, the constant_values scalar that
 * fills the padding; its Prepare and kernel are PAD's (ops/pad.c). */
#include "runtime/rt_op.h"

RT_REGISTER_OP(PADV2, 6, PadV2Options, NULL, 0, NULL, rt_prepare_pad);
