/* Subtract of 2 inputs: SUB, a following ReLU fused into it. The int8 SUB is ADD's arithmetic
 * (sub.cc PrepareGeneralSubOp: both inputs rescaled after a left shift of 20, 15 for int16) with
 * the second rescaled input subtracted; the output fake quant simulates it the same way. */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  qat_op_attrs a = qat_build_attrs(l);
  return qat_graph_add(&b->m->graph, QAT_OP_SUB, 2, in, &a, out);
}

static int link_requant(qat_model *m, int head, qat_fq *out) { return qat_link_add_requant(m, head, out, 1); }

static int lower(qat_lowering *L, int li) {
  const int end = L->mode ? lower_chain_end(L, li) : li;
  int act = QAT_TFLITE_ACT_NONE, rank, dims[QAT_MAX_RANK], out, rc;
  const qat_fq *ofq = NULL;
  float s_out = 0;
  int64_t zp_out = 0;
  const qat_tflite_type type = L->mode ? L->mode->act : QAT_TFLITE_FLOAT32;
  int last = end;
  if (L->mode) {
    if ((rc = lower_output_fq(L, end, &ofq)) || (rc = lower_act_params(L, end, ofq, &s_out, &zp_out))) return rc;
    act = lower_fused_act(L, end, ofq);
  } else {
    int r = lower_sole_consumer(L, li);
    if (r >= 0 && lower_relu_kind(lower_layer_spec(L, r)) >= 0) {
      act = lower_relu_kind(lower_layer_spec(L, r));
      L->absorbed[r] = 1;
      last = r;
    }
  }
  lower_out_shape(L, li, &rank, dims);
  if ((rc = lower_act_tensor(L, lower_layer_spec(L, last)->name, type, rank, dims, s_out, zp_out, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_SUB);
  op.opt.activation = (qat_tflite_activation)act;
  /* int16: the general-scale kernel (the power-of-two one is for LSTM cells) */
  op.opt.pot_scale_int16 = type != QAT_TFLITE_INT16;
  int in[2] = {lower_input(L, li, 0), lower_input(L, li, 1)};
  if ((rc = lower_add_op(L->t, &op, 2, in, out))) return rc;
  for (int j = li; j <= last; j++)
    if (j == li || j == last || (L->mode && L->m->fused_into[j] == li)) L->tensor[j] = out;
  return QAT_OK;
}

const qat_layer_desc qat_layer_subtract = {
    .keras_class = "Subtract",
    .stem = "subtract",
    .args = QAT_ARG(INPUTS),
    .required_args = QAT_ARG(INPUTS),
    .min_inputs = 2,
    .max_inputs = 2,
    .build = build,
    .roles = QAT_LAYER_HEAD,
    .link_requant = link_requant,
    .lower = lower,
};
