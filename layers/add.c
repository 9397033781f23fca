/* Add of 2 or more inputs: ADD (float32: a chain ((x0 + x1) + x2) + ...), a following ReLU
 * fused into the last one. The int8 ADD rescales both inputs to a common scale (left shift
 * 20) and requantizes to its own range. */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  qat_op_attrs a = qat_build_attrs(l);
  return qat_graph_add(&b->m->graph, QAT_OP_ADD, l->n_inputs, in, &a, out);
}

/* The int8 ADD rescales both inputs (left shift 20) before it requantizes the sum: the output
 * fake quant does the same on the two input tensors (QAT_REQUANT_ADD). Chains of 3 or more
 * inputs do not export to int8 (lower_integer): they keep the plain rounding. */
int qat_link_add_requant(qat_model *m, int head, qat_fq *out, int subtract) {
  if (qat_layer_n_inputs(&m->spec, head) != 2) return QAT_OK;
  int a = qat_layer_input(&m->spec, head, 0), b = qat_layer_input(&m->spec, head, 1);
  out->input = qat_model_source_fq(m, a);
  out->input2 = qat_model_source_fq(m, b);
  out->requant_in[0] = qat_model_source_tensor(m, a);
  out->requant_in[1] = qat_model_source_tensor(m, b);
  if (!out->input || !out->input2) return QAT_OK; /* an input without a quantizer: plain rounding */
  out->requant = QAT_REQUANT_ADD;
  out->negate2 = subtract;
  return QAT_OK;
}

static int link_requant(qat_model *m, int head, qat_fq *out) { return qat_link_add_requant(m, head, out, 0); }

static int lower_float(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  int nin = qat_layer_n_inputs(&L->m->spec, li);
  if (nin < 2) return lower_fail(L, li, QAT_ERR_UNSUPPORTED, "Add needs at least 2 inputs, got %d", nin);
  int end = li, act = QAT_TFLITE_ACT_NONE;
  int r = lower_sole_consumer(L, li);
  if (r >= 0 && lower_relu_kind(lower_layer_spec(L, r)) >= 0) {
    act = lower_relu_kind(lower_layer_spec(L, r));
    L->absorbed[r] = 1;
    end = r;
  }
  int rank, dims[QAT_MAX_RANK], rc = QAT_OK;
  lower_out_shape(L, li, &rank, dims);
  int acc = lower_input(L, li, 0);
  for (int k = 1; k < nin; k++) {
    int last = k == nin - 1, out;
    char name[QAT_NAME_MAX + 32];
    if (last) snprintf(name, sizeof name, "%s", lower_layer_spec(L, end)->name);
    else snprintf(name, sizeof name, "%s/partial_%d", l->name, k);
    if ((rc = lower_act_tensor(L, name, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, &out))) return rc;
    qat_tflite_operator op;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_ADD);
    op.opt.activation = last ? (qat_tflite_activation)act : QAT_TFLITE_ACT_NONE;
    int in[2] = {acc, lower_input(L, li, k)};
    if ((rc = lower_add_op(L->t, &op, 2, in, out))) return rc;
    acc = out;
  }
  L->tensor[li] = acc;
  if (end != li) L->tensor[end] = acc;
  return QAT_OK;
}

static int lower_integer(qat_lowering *L, int li) {
  int nin = qat_layer_n_inputs(&L->m->spec, li);
  if (nin != 2)
    return lower_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "%s export supports Add of exactly 2 inputs (got %d): the QAT model quantizes only the "
                      "final sum, so the partial sums of a chain have no range",
                      L->mode->name, nin);
  int end = lower_chain_end(L, li);
  const qat_fq *ofq = NULL;
  int rc = lower_output_fq(L, end, &ofq);
  if (rc) return rc;
  int rank, dims[QAT_MAX_RANK], out;
  lower_out_shape(L, li, &rank, dims);
  float s_out;
  int64_t zp_out;
  if ((rc = lower_act_params(L, end, ofq, &s_out, &zp_out))) return rc;
  if ((rc = lower_act_tensor(L, lower_layer_spec(L, end)->name, L->mode->act, rank, dims, s_out, zp_out, &out)))
    return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_ADD);
  op.opt.activation = lower_fused_act(L, end, ofq);
  /* int16: the general-scale kernel (the power-of-two one is for LSTM cells) */
  op.opt.pot_scale_int16 = L->mode->act != QAT_TFLITE_INT16;
  int in[2] = {lower_input(L, li, 0), lower_input(L, li, 1)};
  if ((rc = lower_add_op(L->t, &op, 2, in, out))) return rc;
  for (int j = li; j <= end; j++)
    if (j == li || L->m->fused_into[j] == li) L->tensor[j] = out;
  return QAT_OK;
}

static int lower(qat_lowering *L, int li) { return L->mode ? lower_integer(L, li) : lower_float(L, li); }

const qat_layer_desc qat_layer_add = {
    .keras_class = "Add",
    .stem = "add",
    .args = QAT_ARG(INPUTS),
    .required_args = QAT_ARG(INPUTS),
    .min_inputs = 2,
    .max_inputs = QAT_MAX_LAYER_INPUTS,
    .build = build,
    .roles = QAT_LAYER_HEAD,
    .link_requant = link_requant,
    .lower = lower,
};
