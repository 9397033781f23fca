/* The one table of the operators the runtime runs (RT_OPS in runtime/rt_op.h), by builtin
 * code. A name listed twice fails the build (-Woverride-init, in -Wextra); a registration whose
 * code is not its name's is never found (rt_op_find checks, test_runtime asserts every one). */
#include "qat/tflite_schema.h"
#include "runtime/rt_op.h"

#define RT_OP_ENTRY_(name) [QAT_TFLITE_BUILTIN_##name] = &rt_op_##name,
static const rt_op_reg *const by_code[QAT_TFLITE_NUM_BUILTIN_OPS] = {RT_OPS(RT_OP_ENTRY_)};
#undef RT_OP_ENTRY_

#define RT_OP_ONE_(name) +1
enum { RT_NUM_OPS = 0 RT_OPS(RT_OP_ONE_) };
#undef RT_OP_ONE_
_Static_assert((int)RT_NUM_OPS > 0 && (int)RT_NUM_OPS <= (int)QAT_TFLITE_NUM_BUILTIN_OPS,
               "RT_OPS lists builtin operators");

const rt_op_reg *rt_op_find(int code) {
  if (code < 0 || code >= QAT_TFLITE_NUM_BUILTIN_OPS) return 0;
  const rt_op_reg *r = by_code[code];
  return r && r->code == code ? r : 0;
}
