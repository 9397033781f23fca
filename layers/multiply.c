/* Multiply of 2 or more inputs with numpy broadcasting (squeeze-and-excite: [N,H,W,C] x
 * [N,1,1,C]): MUL, a chain ((x0 * x1) * x2) ... of more. The int8 MUL multiplies the two
 * inputs' centered integers and requantizes the product once (QAT_REQUANT_MUL); each partial
 * product of a chain has its own range. */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

/* The int8 MUL of two operands on their quantizers' grids (QAT_REQUANT_MUL). */
static void link_mul(qat_fq *out, const qat_fq *fa, const qat_tensor *ta, const qat_fq *fb, const qat_tensor *tb) {
  qat_link_operands(out, fa, ta, fb, tb, QAT_REQUANT_MUL);
}

/* A chain of two-input MULs; with QAT each partial product has its own quantizer. */
static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  return qat_build_chain(b, li, QAT_OP_MUL, NULL, in, link_mul, out);
}

static int link_requant(qat_model *m, int head, qat_fq *out) {
  const qat_fq *fa, *fb;
  const qat_tensor *ta, *tb;
  if (qat_model_last_pair(m, head, &fa, &ta, &fb, &tb)) link_mul(out, fa, ta, fb, tb);
  return QAT_OK;
}

static int lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  int nin = qat_layer_n_inputs(&L->m->spec, li), rank, dims[QAT_MAX_RANK], rc, acc = lower_input(L, li, 0);
  for (int k = 1; k < nin; k++) {
    int out, last = k == nin - 1, in = lower_input(L, li, k);
    char name[QAT_NAME_MAX + 32];
    if (last) {
      snprintf(name, sizeof name, "%s", l->name);
      lower_out_shape(L, li, &rank, dims);
    } else {
      snprintf(name, sizeof name, "%s/partial_%d", l->name, k);
      lower_broadcast_shape(L, acc, in, &rank, dims);
    }
    if (L->mode) {
      const qat_fq *ofq = NULL;
      const qat_tensor *partial;
      float s;
      int64_t zp;
      if (!last && !(ofq = qat_model_partial_fq(L->m, li, k, &partial)))
        return lower_fail(L, li, QAT_ERR_UNSUPPORTED,
                          "%s export of a Multiply of %d inputs needs the QAT model's partial products (not "
                          "trained with learned activation scales)", L->mode->name, nin);
      if ((last && (rc = lower_output_fq(L, li, &ofq))) || (rc = lower_act_params(L, li, ofq, &s, &zp)) ||
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
