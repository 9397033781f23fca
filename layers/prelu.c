/* PReLU: x >= 0 ? x : alpha * x with a learned alpha of the input's shape after the batch (1 on
 * each of Keras's shared_axes; Keras's default alpha_initializer zeros). PRELU in every mode:
 * float32 (float16 and dynamic keep alpha in float as they keep any constant), int8 with alpha
 * int8 per tensor, symmetric, as the converter quantizes it (TF 2.21: PRELU's alpha tensor
 * [1, 1, C] int8, zero point 0), and int16x8 with int8 alpha, which TFLite's PRELU kernel reads
 * (the converter refuses 16x8 for PRELU; the interpreter runs it). The int8 op rescales x >= 0
 * by s_in / s_out and x * alpha by s_in * s_alpha / s_out: its own output range, its rounding
 * reproduced by the output quantizer (QAT_REQUANT_PRELU). */
#include <stdlib.h>
#include <string.h>

#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"
#include "qat/quant.h"

/* Alpha's shape: the input's Keras dimensions (the last ones of the graph tensor), 1 on the
 * shared axes. */
static int alpha_shape(const qat_model *m, int li, const qat_tensor *in, int *rank, int *dims) {
  const qat_layer_spec *l = &m->spec.layers[li];
  const int r = qat_layer_keras_rank(&m->spec, qat_layer_input(&m->spec, li, 0));
  if (r < 1 || r > in->rank - 1) return qat_fail(QAT_ERR_INTERNAL, "input rank %d for Keras rank %d", in->rank, r);
  if (l->shared_axes >> r)
    return qat_fail(QAT_ERR_USAGE, "shared_axes names axis %d, but the input has %d dimension%s after the batch",
                    l->shared_axes >> 2 ? 3 : l->shared_axes >> 1 ? 2 : 1, r, r == 1 ? "" : "s");
  *rank = r;
  for (int i = 0; i < r; i++) dims[i] = l->shared_axes >> i & 1 ? 1 : in->dims[in->rank - r + i];
  return QAT_OK;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  int rank = 0, dims[QAT_MAX_RANK], rc;
  qat_tensor *alpha, *no_bias = NULL;
  if ((rc = alpha_shape(b->m, li, in[0], &rank, dims)) || (rc = qat_build_param(b, li, "alpha", rank, dims, 1, &alpha)))
    return rc;
  /* one scale for the whole alpha, whatever weights_per_tensor says: PRELU takes no more */
  if ((rc = qat_build_weight_quant(b, li, "alpha", -1, 1, &alpha, &no_bias))) return rc;
  qat_tensor *ins[2] = {in[0], alpha};
  return qat_graph_add(&b->m->graph, QAT_OP_PRELU, 2, ins, NULL, out);
}

/* The int8 PRELU's rounding: the input's integers and alpha's, from the op's own inputs. */
static int link_requant(qat_model *m, int head, qat_fq *out) {
  const qat_graph *g = &m->graph;
  const qat_node *nd = NULL;
  for (int i = g->n_nodes - 1; i >= 0 && !nd; i--)
    if (g->nodes[i].op == QAT_OP_PRELU) nd = &g->nodes[i];
  char name[2 * QAT_NAME_MAX + 16];
  snprintf(name, sizeof name, "%s/alpha", m->spec.layers[head].name);
  out->input = qat_model_source_fq(m, qat_layer_input(&m->spec, head, 0));
  out->input2 = qat_model_find_fq(m, name);
  if (!nd || !out->input || !out->input2) return QAT_OK; /* the plain rounding */
  out->requant_in[0] = nd->inputs[0];
  out->requant_in[1] = nd->inputs[1];
  out->requant = QAT_REQUANT_PRELU;
  return QAT_OK;
}

static int lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const qat_param *a = lower_find_param(L->m, li, "alpha");
  if (!a) return lower_fail(L, li, QAT_ERR_INTERNAL, "its alpha is missing");
  int in = lower_input(L, li, 0), rank, dims[QAT_MAX_RANK], ai, out, rc;
  char name[2 * QAT_NAME_MAX + 16];
  snprintf(name, sizeof name, "%s/alpha", l->name);
  lower_out_shape(L, li, &rank, dims);
  if (!L->mode) {
    if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_FLOAT32, a->rank, a->dims, a->tensor->data,
                                    (size_t)a->size * sizeof(float), &ai)) ||
        (rc = lower_act_tensor(L, l->name, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, &out)))
      return rc;
  } else {
    const qat_fq *afq = qat_model_find_fq(L->m, name), *ofq = NULL;
    if (!afq || !afq->valid || afq->channels != 1)
      return lower_fail(L, li, QAT_ERR_INTERNAL, "its alpha has no per-tensor quantizer");
    int8_t *qa = malloc((size_t)a->size);
    if (!qa) return qat_fail(QAT_ERR_NOMEM, "out of memory lowering layer '%s'", l->name);
    qat_quantize_int8_per_channel(a->tensor->data, qa, 1, 1, a->size, afq->scale, NULL, QAT_INT8_WEIGHT_MIN,
                                  QAT_INT8_MAX);
    const int64_t zero = 0;
    rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT8, a->rank, a->dims, qa, (size_t)a->size, &ai);
    free(qa);
    float s;
    int64_t zp;
    if (rc || (rc = qat_tflite_set_quant(L->t, ai, 1, afq->scale, &zero, 0)) || (rc = lower_output_fq(L, li, &ofq)) ||
        (rc = lower_act_params(L, li, ofq, &s, &zp)) ||
        (rc = lower_act_tensor(L, l->name, L->mode->act, rank, dims, s, zp, &out)))
      return rc;
  }
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_PRELU);
  return lower_simple(L, li, &op, 2, (int[]){in, ai}, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  int axes[3], n = 0, rc;
  if (!k->ops->is_set(k, "shared_axes")) return QAT_OK;
  if ((rc = k->ops->int_list(k, "shared_axes", 3, 1, 3, axes, &n))) return rc;
  for (int i = 0; i < n; i++) l->shared_axes |= 1 << (axes[i] - 1);
  return QAT_OK;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  if (!l->shared_axes) return;
  const char *sep = "";
  y->ops->put(y, ", shared_axes: [");
  for (int a = 0; a < 3; a++)
    if (l->shared_axes >> a & 1) {
      y->ops->put(y, "%s%d", sep, a + 1);
      sep = ", ";
    }
  y->ops->put(y, "]");
}

const qat_layer_desc qat_layer_prelu = {
    .keras_class = "PReLU",
    .stem = "p_re_lu",
    .args = QAT_ARG(SHARED_AXES),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .link_requant = link_requant,
    .lower = lower,
    .keras = keras,
    .yaml = yaml,
};
