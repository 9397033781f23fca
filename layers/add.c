/* Add of 2 or more inputs: ADD, a chain ((x0 + x1) + x2) + ... of more, a following ReLU fused
 * into the last one. The int8 ADD rescales both inputs to a common scale (left shift 20) and
 * requantizes to its own range; each partial sum of a chain has its own. */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

/* The int8 ADD of two operands, each on its quantizer's grid (QAT_REQUANT_ADD): it rescales
 * both (left shift 20) before it requantizes the sum. */
static void link_add(qat_fq *out, const qat_fq *fa, const qat_tensor *ta, const qat_fq *fb, const qat_tensor *tb) {
  qat_link_operands(out, fa, ta, fb, tb, QAT_REQUANT_ADD);
}

/* With QAT, 3 or more inputs are the chain of two-input ADDs the integer modes write, each
 * partial sum with its own quantizer (qat_build_chain): an n-ary sum rounded once has no int8
 * counterpart. */
static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  qat_op_attrs a = qat_build_attrs(l);
  if (!b->quant || l->n_inputs <= 2) return qat_graph_add(&b->m->graph, QAT_OP_ADD, l->n_inputs, in, &a, out);
  return qat_build_chain(b, li, QAT_OP_ADD, &a, in, link_add, out);
}

/* The output fake quant rounds as the last ADD (SUB: subtract) does, from its two operands. */
int qat_link_add_requant(qat_model *m, int head, qat_fq *out, int subtract) {
  const qat_fq *fa, *fb;
  const qat_tensor *ta, *tb;
  if (!qat_model_last_pair(m, head, &fa, &ta, &fb, &tb)) return QAT_OK; /* the plain rounding */
  link_add(out, fa, ta, fb, tb);
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
  int acc = lower_input(L, li, 0);
  for (int k = 1; k < nin; k++) {
    int last = k == nin - 1, out;
    char name[QAT_NAME_MAX + 32];
    if (last) {
      snprintf(name, sizeof name, "%s", lower_layer_spec(L, end)->name);
      lower_out_shape(L, li, &rank, dims);
    } else {
      snprintf(name, sizeof name, "%s/partial_%d", l->name, k);
      lower_broadcast_shape(L, acc, lower_input(L, li, k), &rank, dims);
    }
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
  const qat_layer_spec *l = lower_layer_spec(L, li);
  int nin = qat_layer_n_inputs(&L->m->spec, li);
  int end = lower_chain_end(L, li);
  const qat_fq *ofq = NULL;
  int rc = lower_output_fq(L, end, &ofq);
  if (rc) return rc;
  int rank, dims[QAT_MAX_RANK], out = -1, acc = lower_input(L, li, 0);
  for (int k = 1; k < nin; k++) {
    const int last = k == nin - 1, in = lower_input(L, li, k);
    const qat_fq *fq = ofq;
    const qat_tensor *partial;
    char name[QAT_NAME_MAX + 32];
    float s;
    int64_t zp;
    if (last) {
      snprintf(name, sizeof name, "%s", lower_layer_spec(L, end)->name);
      lower_out_shape(L, li, &rank, dims);
      rc = lower_act_params(L, end, ofq, &s, &zp);
    } else if (!(fq = qat_model_partial_fq(L->m, li, k, &partial))) {
      return lower_fail(L, li, QAT_ERR_UNSUPPORTED,
                        "%s export of an Add of %d inputs needs the QAT model's partial sums (not trained with "
                        "learned activation scales)", L->mode->name, nin);
    } else {
      snprintf(name, sizeof name, "%s/partial_%d", l->name, k);
      lower_broadcast_shape(L, acc, in, &rank, dims);
      rc = lower_act_params(L, li, fq, &s, &zp);
    }
    if (rc || (rc = lower_act_tensor(L, name, L->mode->act, rank, dims, s, zp, &out))) return rc;
    qat_tflite_operator op;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_ADD);
    op.opt.activation = last ? lower_fused_act(L, end, ofq) : QAT_TFLITE_ACT_NONE;
    /* int16: the general-scale kernel (the power-of-two one is for LSTM cells) */
    op.opt.pot_scale_int16 = L->mode->act != QAT_TFLITE_INT16;
    if ((rc = lower_add_op(L->t, &op, 2, (int[]){acc, in}, out))) return rc;
    acc = out;
  }
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
