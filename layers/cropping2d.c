/* Cropping2D: rows and columns cut off each side of an image (the pad op with negative
 * amounts), lowered as the converter lowers Keras's slice: STRIDED_SLICE. The int8 and int16
 * outputs keep the input's scale and zero point (values are copied). */
#include <stdint.h>
#include <stdio.h>

#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static qat_layer_range range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_KEEP;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  qat_op_attrs a = qat_build_attrs(l);
  for (int k = 0; k < 4; k++) a.pads[k] = -l->zero_pad[k];
  return qat_graph_add(&b->m->graph, QAT_OP_PAD, 1, in, &a, out);
}

static int lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  int rank, dims[QAT_MAX_RANK], four = 4, t[3], out, rc;
  lower_out_shape(L, li, &rank, dims);
  const int in = lower_input(L, li, 0);
  const int32_t begin[4] = {0, l->zero_pad[0], l->zero_pad[2], 0};
  const int32_t end[4] = {dims[0], l->zero_pad[0] + dims[1], l->zero_pad[2] + dims[2], dims[3]};
  const int32_t strides[4] = {1, 1, 1, 1};
  const int32_t *vals[3] = {begin, end, strides};
  static const char *const what[3] = {"begin", "end", "strides"};
  char name[QAT_NAME_MAX + 32];
  for (int k = 0; k < 3; k++) {
    snprintf(name, sizeof name, "%s/%s", l->name, what[k]);
    if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &four, vals[k], 4 * sizeof(int32_t), &t[k])))
      return rc;
  }
  if ((rc = lower_keep_tensor(L, li, in, l->name, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_STRIDED_SLICE);
  const int ins[4] = {in, t[0], t[1], t[2]};
  return lower_simple(L, li, &op, 4, ins, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc = k->ops->channels_last(k);
  return rc ? rc : k->ops->side_amounts(k, "cropping", l->zero_pad);
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", cropping: [[%d, %d], [%d, %d]]", l->zero_pad[0], l->zero_pad[1], l->zero_pad[2], l->zero_pad[3]);
}

const qat_layer_desc qat_layer_cropping2d = {
    .keras_class = "Cropping2D",
    .stem = "cropping2d",
    .args = QAT_ARG(CROPPING),
    .required_args = QAT_ARG(CROPPING),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .range = range,
    .lower = lower,
    .keras = keras,
    .yaml = yaml,
};
