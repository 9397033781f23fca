/* BATCH_TO_SPACE_ND (builtin 37; versions 1-4): the inverse of SPACE_TO_BATCH_ND, crops instead
 * of paddings; kernel and Prepare in ops/space_to_batch_nd.c. */
#include "runtime/rt_op.h"

static int prepare(qat_rt_model *m, int k, rt_op *op) { return rt_prepare_space_batch(m, k, op, 0); }

RT_REGISTER_OP(BATCH_TO_SPACE_ND, 4, NONE, NULL, 0, NULL, prepare);
