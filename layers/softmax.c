/* Softmax as its own layer (Keras's Softmax, axis -1): the model's last layer only, SOFTMAX with
 * the spec's fixed integer output range, exactly as Activation('softmax'). */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static qat_layer_range range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_FIXED;
}

static qat_activation applies(const qat_layer_spec *l) {
  (void)l;
  return QAT_ACTIVATION_SOFTMAX;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  (void)li;
  return qat_build_activation(b, QAT_ACTIVATION_SOFTMAX, in[0], out);
}

static int lower(qat_lowering *L, int li) {
  int out, rc = lower_softmax(L, li, lower_input(L, li, 0), &out);
  if (!rc) L->tensor[li] = out;
  return rc;
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  (void)l;
  int axis[4], n = 1, rc;
  if (!k->ops->is_set(k, "axis")) return QAT_OK;
  if ((rc = k->ops->int_list(k, "axis", 4, -4, 3, axis, &n))) return rc;
  if (n != 1 || axis[0] != -1)
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "only axis -1 (the classes) is supported");
  return QAT_OK;
}

const qat_layer_desc qat_layer_softmax = {
    .keras_class = "Softmax",
    .stem = "softmax",
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .range = range,
    .applies = applies,
    .lower = lower,
    .keras = keras,
};
