/* Maximum and Minimum of 2 or more inputs (broadcasting): MAXIMUM / MINIMUM, a chain ((x0 max x1)
 * max x2) ... in every mode. TFLite's int8 and int16 kernels compare the stored integers, so the
 * inputs and the output share one scale and zero point (the converter's same-scale trait), as
 * for Concatenate: an input only this layer reads is quantized by the layer's output quantizer,
 * another is requantized by a QUANTIZE in front, whose rounding the output fake quant repeats
 * (a max of values on one grid is on that grid: the requantization commutes with it). */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static int build_chain(qat_builder *b, int li, qat_tensor **in_layers, qat_tensor **out, qat_op op) {
  const int n = qat_layer_n_inputs(&b->m->spec, li);
  qat_tensor *in[QAT_MAX_LAYER_INPUTS];
  int rc = qat_build_shared_inputs(b, li, in_layers, in);
  if (rc) return rc;
  qat_tensor *acc = in[0];
  for (int k = 1; k < n; k++) {
    int rc = qat_graph_add(&b->m->graph, op, 2, (qat_tensor *[]){acc, in[k]}, NULL, &acc);
    if (rc) return rc;
  }
  *out = acc;
  return QAT_OK;
}
static int build_max(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  return build_chain(b, li, in, out, QAT_OP_MAXIMUM);
}
static int build_min(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  return build_chain(b, li, in, out, QAT_OP_MINIMUM);
}

static int lower_chain(qat_lowering *L, int li, qat_tflite_op code) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const int nin = qat_layer_n_inputs(&L->m->spec, li);
  int out, rc, rank, dims[QAT_MAX_RANK];
  if ((rc = lower_own_tensor(L, li, &out))) return rc;
  const qat_tflite_tensor *o = &L->t->tensors[out];
  const qat_tflite_type type = o->type;
  float s = 0;
  int64_t zp = 0;
  if (L->mode) lower_params_of(L, out, &s, &zp);
  lower_out_shape(L, li, &rank, dims);
  int acc;
  if ((rc = lower_shared_input(L, li, 0, out, &acc))) return rc;
  for (int k = 1; k < nin; k++) {
    int x, dst = out;
    if ((rc = lower_shared_input(L, li, k, out, &x))) return rc;
    if (k < nin - 1) { /* a partial result, on the output's grid */
      char name[QAT_NAME_MAX + 32];
      snprintf(name, sizeof name, "%s/partial_%d", l->name, k);
      if ((rc = lower_act_tensor(L, name, type, rank, dims, s, zp, &dst))) return rc;
    }
    qat_tflite_operator op;
    qat_tflite_op_init(&op, code);
    if ((rc = lower_add_op(L->t, &op, 2, (int[]){acc, x}, dst))) return rc;
    acc = dst;
  }
  L->tensor[li] = out;
  return QAT_OK;
}
static int lower_max(qat_lowering *L, int li) { return lower_chain(L, li, QAT_TFLITE_OP_MAXIMUM); }
static int lower_min(qat_lowering *L, int li) { return lower_chain(L, li, QAT_TFLITE_OP_MINIMUM); }

#define MAX_MIN_FIELDS                                                                                     \
  .args = QAT_ARG(INPUTS), .required_args = QAT_ARG(INPUTS), .min_inputs = 2, .max_inputs = QAT_MAX_LAYER_INPUTS, \
  .roles = QAT_LAYER_SHARES_RANGE

const qat_layer_desc qat_layer_maximum = {
    .keras_class = "Maximum",
    .stem = "maximum",
    MAX_MIN_FIELDS,
    .build = build_max,
    .lower = lower_max,
};

/* Minimum: the same with MINIMUM (its descriptor beside Maximum's, as the two ops share a file in
 * TFLite's kernels). */
const qat_layer_desc qat_layer_minimum = {
    .keras_class = "Minimum",
    .stem = "minimum",
    MAX_MIN_FIELDS,
    .build = build_min,
    .lower = lower_min,
};
