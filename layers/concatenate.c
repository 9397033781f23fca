/* Concatenate: CONCATENATION along any axis but the batch. TFLite's int8 and int16 kernels
 * copy bytes, so the inputs and the output must have one scale and zero point: an input that
 * only this layer reads and that ends an op of its own (a conv, an add) is quantized by this
 * layer's output quantizer (the QAT graph quantizes the joined tensor once; the exported op
 * writes straight to that scale), as the converter propagates the concatenation's scale. Any
 * other input (a skip connection read twice, a pool, the model input) keeps its quantizer and
 * is requantized by a QUANTIZE op in front of the CONCATENATION, whose rounding the fake quant
 * after this layer repeats. */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static void defaults(qat_layer_spec *l) { l->axis = -1; }

/* Keras's axis (negative from the end) as a tensor axis of rank `rank`, or -1 if it is the
 * batch or outside the tensor. A sequence's axis 1 (its steps) is axis 2 of its [N, 1, T, C] view. */
static int tensor_axis(const qat_model_spec *s, int li, int rank) {
  const qat_layer_spec *l = &s->layers[li];
  const int keras_rank = qat_layer_keras_rank(s, qat_layer_input(s, li, 0)) + 1;
  int a = l->axis < 0 ? rank + l->axis : l->axis > 0 && keras_rank < rank ? l->axis + rank - keras_rank : l->axis;
  return a >= 1 && a < rank ? a : -1;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  qat_op_attrs a = {.axis = tensor_axis(&b->m->spec, li, in[0]->rank)};
  if (a.axis < 0)
    return qat_fail(QAT_ERR_USAGE, "axis %d is not an axis of its rank-%d inputs other than the batch", l->axis,
                    in[0]->rank);
  qat_tensor *q[QAT_MAX_LAYER_INPUTS];
  int rc = qat_build_shared_inputs(b, li, in, q);
  return rc ? rc : qat_graph_add(&b->m->graph, QAT_OP_CONCAT, l->n_inputs, q, &a, out);
}

static int lower(qat_lowering *L, int li) {
  int nin = qat_layer_n_inputs(&L->m->spec, li), out, rc;
  int rank, dims[QAT_MAX_RANK], in[QAT_MAX_LAYER_INPUTS];
  lower_out_shape(L, li, &rank, dims);
  if ((rc = lower_own_tensor(L, li, &out))) return rc;
  for (int k = 0; k < nin; k++)
    if ((rc = lower_shared_input(L, li, k, out, &in[k]))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_CONCATENATION);
  op.opt.axis = tensor_axis(&L->m->spec, li, rank);
  QAT_ASSERT(op.opt.axis > 0); /* the training graph was built with it */
  return lower_simple(L, li, &op, nin, in, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  if (!k->ops->is_set(k, "axis")) return QAT_OK;
  return k->ops->integer(k, "axis", -4, 3, &l->axis);
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  if (l->axis != -1) y->ops->put(y, ", axis: %d", l->axis);
}

const qat_layer_desc qat_layer_concatenate = {
    .keras_class = "Concatenate",
    .stem = "concatenate",
    .args = QAT_ARG(INPUTS) | QAT_ARG(AXIS),
    .required_args = QAT_ARG(INPUTS),
    .min_inputs = 2,
    .max_inputs = QAT_MAX_LAYER_INPUTS,
    .defaults = defaults,
    .build = build,
    .roles = QAT_LAYER_SHARES_RANGE,
    .lower = lower,
    .keras = keras,
    .yaml = yaml,
};
