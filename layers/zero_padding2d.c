/* ZeroPadding2D as its own PAD, where it cannot fold into the conv after it (before a pool,
 * asymmetric or wider than SAME, or written in a config). The int8 PAD keeps its input's scale
 * and zero point and pads with the zero point, which is the real 0: the fake-quant graph pads
 * exactly as the int8 graph does. */
#include <stdint.h>

#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static void defaults(qat_layer_spec *l) { l->zero_pad[0] = l->zero_pad[1] = l->zero_pad[2] = l->zero_pad[3] = 1; }

static qat_layer_range range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_KEEP;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  qat_op_attrs a = qat_build_attrs(l);
  for (int k = 0; k < 4; k++) a.pads[k] = l->zero_pad[k];
  return qat_graph_add(&b->m->graph, QAT_OP_PAD, 1, in, &a, out);
}

static int lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const int32_t pads[8] = {0, 0, l->zero_pad[0], l->zero_pad[1], l->zero_pad[2], l->zero_pad[3], 0, 0};
  int out;
  return lower_pad(L, li, lower_input(L, li, 0), pads, l->name, &out);
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", padding: [[%d, %d], [%d, %d]]", l->zero_pad[0], l->zero_pad[1], l->zero_pad[2], l->zero_pad[3]);
}

const qat_layer_desc qat_layer_zero_padding2d = {
    .keras_class = "ZeroPadding2D",
    .stem = "zero_padding2d",
    .args = QAT_ARG(PADDING),
    .min_inputs = 1,
    .max_inputs = 1,
    .defaults = defaults,
    .build = build,
    .range = range,
    .lower = lower,
    .yaml = yaml,
};
