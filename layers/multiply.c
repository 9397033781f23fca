/* Multiply of 2 or more inputs with numpy broadcasting (squeeze-and-excite: [N,H,W,C] x
 * [N,1,1,C]): MUL (float32: a chain ((x0 * x1) * x2) ...). The int8 MUL multiplies the two
 * inputs' centered integers and requantizes the product once (QAT_REQUANT_MUL). */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  qat_tensor *acc = in[0];
  for (int k = 1; k < l->n_inputs; k++) {
    qat_tensor *pair[2] = {acc, in[k]};
    int rc = qat_graph_add(&b->m->graph, QAT_OP_MUL, 2, pair, NULL, &acc);
    if (rc) return rc;
  }
  *out = acc;
  return QAT_OK;
}

/* Chains of 3 or more inputs do not export to the integer modes: they keep the plain rounding. */
static int link_requant(qat_model *m, int head, qat_fq *out) {
  if (qat_layer_n_inputs(&m->spec, head) != 2) return QAT_OK;
  int a = qat_layer_input(&m->spec, head, 0), b = qat_layer_input(&m->spec, head, 1);
  out->input = qat_model_source_fq(m, a);
  out->input2 = qat_model_source_fq(m, b);
  out->requant_in[0] = qat_model_source_tensor(m, a);
  out->requant_in[1] = qat_model_source_tensor(m, b);
  if (out->input && out->input2) out->requant = QAT_REQUANT_MUL;
  return QAT_OK;
}

/* The broadcast shape of two IR tensors (numpy's rule, right-aligned). */
static void broadcast_shape(const qat_lowering *L, int a, int b, int *rank, int *dims) {
  const qat_tflite_tensor *ta = &L->t->tensors[a], *tb = &L->t->tensors[b];
  *rank = ta->rank > tb->rank ? ta->rank : tb->rank;
  for (int i = 0; i < *rank; i++) {
    int ia = i - (*rank - ta->rank), ib = i - (*rank - tb->rank);
    int da = ia >= 0 ? ta->dims[ia] : 1, db = ib >= 0 ? tb->dims[ib] : 1;
    dims[i] = da > db ? da : db;
  }
}

static int lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  int nin = qat_layer_n_inputs(&L->m->spec, li), rank, dims[QAT_MAX_RANK], rc, acc = lower_input(L, li, 0);
  if (L->mode && nin != 2)
    return lower_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "%s export supports Multiply of exactly 2 inputs (got %d): the QAT model quantizes only the "
                      "final product",
                      L->mode->name, nin);
  for (int k = 1; k < nin; k++) {
    int out, last = k == nin - 1, in = lower_input(L, li, k);
    char name[QAT_NAME_MAX + 32];
    if (last) {
      snprintf(name, sizeof name, "%s", l->name);
      lower_out_shape(L, li, &rank, dims);
    } else {
      snprintf(name, sizeof name, "%s/partial_%d", l->name, k);
      broadcast_shape(L, acc, in, &rank, dims);
    }
    if (L->mode) {
      const qat_fq *ofq = NULL;
      float s;
      int64_t zp;
      if ((rc = lower_output_fq(L, li, &ofq)) || (rc = lower_act_params(L, li, ofq, &s, &zp)) ||
          (rc = lower_act_tensor(L, name, L->mode->act, rank, dims, s, zp, &out)))
        return rc;
    } else if ((rc = lower_act_tensor(L, name, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, &out))) {
      return rc;
    }
    qat_tflite_operator op;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_MUL);
    if ((rc = lower_add_op(L->t, &op, 2, (int[]){acc, in}, out))) return rc;
    acc = out;
  }
  L->tensor[li] = acc;
  return QAT_OK;
}

const qat_layer_desc qat_layer_multiply = {
    .keras_class = "Multiply",
    .stem = "multiply",
    .args = QAT_ARG(INPUTS),
    .required_args = QAT_ARG(INPUTS),
    .min_inputs = 2,
    .max_inputs = QAT_MAX_LAYER_INPUTS,
    .build = build,
    .link_requant = link_requant,
    .lower = lower,
};
