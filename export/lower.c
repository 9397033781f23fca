/* The lowering drivers: a model's layer DAG onto the TFLite IR (see include/qat/export.h), in
 * float32 (qat_export_float32) and in the integer modes (lower_quantized: int8 and int16x8).
 * Each layer lowers itself (its descriptor's `lower`, layers/<type>.c); the drivers walk the
 * layers in spec order (inputs always come earlier) and hold no per-layer code.
 *
 * Float32: before the walk, two static facts are computed per layer (qat_lowering):
 *   root     the layer whose tensor this layer's output really is: Dropout and a linear
 *            Activation are identities at inference, so they take their input's root;
 *   uses     for a root, how many layer inputs (of non-identity layers) read it, plus one when
 *            it is the model's output; with `consumer`, the one reader when there is exactly
 *            one.
 * A conv/depthwise/dense then absorbs its single consumer when that is a BatchNormalization
 * (folded into the weights) and, after it, a ReLU (fused activation) -- the fusions the TF
 * converter makes, and only when no other layer can see the intermediate value.
 *
 * Integer modes: the graph is the one the QAT model simulates: each int8 op is a chain of
 * layers that qat_model_create fused (m->fused_into), its output quantized with the fake
 * quant of the chain's last layer (m->layer_fq); QUANTIZE / DEQUANTIZE ops at the edges give
 * uint8 or float32 I/O as the TF converter writes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/lower_kit.h"
#include "qat/error.h"
#include "qat/export.h"

/* The model input as Keras shapes it, batch 1: [1, H, W, C], [1, T, C] or [1, F]. */
static int edge_input_dims(const qat_model *m, int dims[4]) {
  const int r = qat_spec_input_rank(&m->spec);
  dims[0] = 1;
  qat_spec_input_dims(&m->spec, dims + 1);
  return r + 1;
}

/* A sequence input [1, T, C] is RESHAPEd to the [1, 1, T, C] the 1-D layers run on, and an
 * output that Keras shapes [1, T, C] back; other models' edges are the graph's own tensors. */
static int view_input(qat_lowering *L) {
  if (qat_spec_input_rank(&L->m->spec) != 2) return QAT_OK;
  const int *hwc = L->m->spec.input_shape;
  return lower_view(L, L->input, "input/view", 4, (int[]){1, 1, hwc[1], hwc[2]}, &L->input);
}
static int view_output(qat_lowering *L, int last, int *result) {
  const qat_tflite_tensor *t = &L->t->tensors[*result];
  if (qat_layer_keras_rank(&L->m->spec, last) != 2 || t->rank != 4) return QAT_OK;
  if (t->dims[1] != 1) return lower_fail(L, last, QAT_ERR_INTERNAL, "a sequence output of height %d", t->dims[1]);
  char name[QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/sequence", lower_layer_spec(L, last)->name);
  return lower_view(L, *result, name, 3, (int[]){1, t->dims[2], t->dims[3]}, result);
}

static int is_identity(const qat_layer_spec *l) { return qat_layer_range_of(l) == QAT_RANGE_IDENTITY; }

static int root_of(const qat_lowering *L, int src) { return src < 0 ? -1 : L->root[src]; }

static int analyze(qat_lowering *L) {
  for (int li = 0; li < L->n; li++) {
    L->uses[li] = 0;
    L->consumer[li] = -1;
    L->tensor[li] = -1;
    L->absorbed[li] = 0;
    int nin = qat_layer_n_inputs(&L->m->spec, li);
    if (nin < 1 || nin > QAT_MAX_LAYER_INPUTS) return lower_fail(L, li, QAT_ERR_INTERNAL, "has %d inputs", nin);
    for (int k = 0; k < nin; k++) {
      int src = qat_layer_input(&L->m->spec, li, k);
      if (src < -1 || src >= li)
        return lower_fail(L, li, QAT_ERR_INTERNAL, "input %d refers to layer %d, not an earlier one", k, src);
    }
    L->root[li] = is_identity(lower_layer_spec(L, li)) ? root_of(L, qat_layer_input(&L->m->spec, li, 0)) : li;
  }
  for (int li = 0; li < L->n; li++) {
    if (is_identity(lower_layer_spec(L, li))) continue;
    for (int k = 0; k < qat_layer_n_inputs(&L->m->spec, li); k++) {
      int r = root_of(L, qat_layer_input(&L->m->spec, li, k));
      if (r < 0) continue;
      L->consumer[r] = L->uses[r] == 0 ? li : -1;
      L->uses[r]++;
    }
  }
  for (int k = 0; k < qat_spec_n_outputs(&L->m->spec); k++) {
    int out = L->root[qat_spec_output_layer(&L->m->spec, k)];
    if (out >= 0) {
      L->uses[out]++; /* a model output is a reader too */
      L->consumer[out] = -1;
    }
  }
  return QAT_OK;
}

/* Layer li, unless an earlier layer's operator absorbed it (float32) or it belongs to a chain
 * that an earlier layer heads (integer modes). */
static int lower_layer(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  if (L->mode && L->m->fused_into[li] != li) {
    if (L->tensor[li] < 0)
      return lower_fail(L, li, QAT_ERR_INTERNAL, "fused into '%s', which produced no tensor",
                        lower_layer_spec(L, L->m->fused_into[li])->name);
    return QAT_OK;
  }
  if (!L->mode && L->absorbed[li]) return QAT_OK;
  if (is_identity(l)) {
    L->tensor[li] = lower_input(L, li, 0);
    return QAT_OK;
  }
  const qat_layer_desc *d = qat_layer_desc_of(l->type);
  if (d->lower) {
    int rc = d->lower(L, li);
    const int end = L->mode ? lower_chain_end(L, li) : li;
    const qat_layer_desc *de = qat_layer_desc_of(lower_layer_spec(L, end)->type);
    return rc || end == li || !de->lower_fused ? rc : de->lower_fused(L, li, end);
  }
  return lower_fail(L, li, QAT_ERR_UNSUPPORTED, "no %s TFLite lowering for this layer type",
                    L->mode ? L->mode->name : "float32");
}

int qat_export_float32(const qat_model *m, qat_tflite_model *out) {
  qat_tflite_model_init(out);
  qat_lowering L;
  memset(&L, 0, sizeof L);
  L.m = m;
  L.t = out;
  L.n = m->spec.n_layers;
  if (L.n < 1) return qat_fail(QAT_ERR_USAGE, "the model has no layers");
  int rc = QAT_OK;
  L.root = malloc((size_t)L.n * sizeof *L.root);
  L.uses = malloc((size_t)L.n * sizeof *L.uses);
  L.consumer = malloc((size_t)L.n * sizeof *L.consumer);
  L.tensor = malloc((size_t)L.n * sizeof *L.tensor);
  L.absorbed = malloc((size_t)L.n * sizeof *L.absorbed);
  if (!L.root || !L.uses || !L.consumer || !L.tensor || !L.absorbed) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory lowering the model");
    goto free_lowering;
  }
  if ((rc = analyze(&L))) goto free_lowering;

  int in_dims[4], in_rank = edge_input_dims(m, in_dims);
  if ((rc = lower_act_tensor(&L, "input", QAT_TFLITE_FLOAT32, in_rank, in_dims, 0, 0, &L.input))) goto free_lowering;
  if ((rc = qat_tflite_add_input(out, L.input, "input")) || (rc = view_input(&L))) goto free_lowering;
  for (int li = 0; li < L.n; li++)
    if ((rc = lower_layer(&L, li))) goto free_lowering;
  for (int k = 0; k < qat_spec_n_outputs(&m->spec); k++) {
    int last = qat_spec_output_layer(&m->spec, k), result = lower_tensor_of(&L, last);
    if (result == L.input) {
      rc = qat_fail(QAT_ERR_UNSUPPORTED, "the model computes nothing: its output is its input");
      goto free_lowering;
    }
    if ((rc = view_output(&L, last, &result))) goto free_lowering;
    if ((rc = qat_tflite_add_output(out, result, m->spec.layers[last].name))) goto free_lowering;
  }
  rc = qat_tflite_validate(out);
free_lowering:
  free(L.root);
  free(L.uses);
  free(L.consumer);
  free(L.tensor);
  free(L.absorbed);
  if (rc) qat_tflite_model_free(out);
  return rc;
}

/* Output k of a quantized model: its int8 (int16) tensor, or after a DEQUANTIZE (float32 I/O) or
 * QUANTIZE (uint8 I/O) whose edge tensor takes the layer's name. */
static int quantized_output(qat_lowering *L, qat_export_io io, qat_export_io native_io, int k) {
  const qat_model *m = L->m;
  qat_tflite_model *out = L->t;
  const int q16 = L->mode->act == QAT_TFLITE_INT16;
  int rc;
  int last = qat_spec_output_layer(&m->spec, k), result = lower_tensor_of(L, last);
  const char *out_name = m->spec.layers[last].name;
  if (result == L->input) return qat_fail(QAT_ERR_UNSUPPORTED, "the model computes nothing: its output is its input");
  if ((rc = view_output(L, last, &result))) return rc;
  if (io != native_io) {
    /* the int8 result gets a "/int8" name (int16: "/int16"); the edge tensor takes the layer's name */
    qat_tflite_tensor *r = &out->tensors[result];
    char name[QAT_NAME_MAX + 32];
    snprintf(name, sizeof name, "%s/%s", out_name, q16 ? "int16" : "int8");
    char *nn = strdup(name);
    if (!nn) return qat_fail(QAT_ERR_NOMEM, "out of memory");
    free(r->name);
    r->name = nn;
    float s;
    int64_t zp;
    lower_params_of(L, result, &s, &zp);
    int u8 = io == QAT_EXPORT_IO_UINT8, edge, rank = r->rank, dims[QAT_TFLITE_MAX_RANK];
    memcpy(dims, r->dims, sizeof dims);
    if ((rc = lower_act_tensor(L, out_name, u8 ? QAT_TFLITE_UINT8 : QAT_TFLITE_FLOAT32, rank, dims, s, zp + 128, &edge)))
      return rc;
    qat_tflite_operator op;
    qat_tflite_op_init(&op, u8 ? QAT_TFLITE_OP_QUANTIZE : QAT_TFLITE_OP_DEQUANTIZE);
    if ((rc = lower_add_op(L->t, &op, 1, &result, edge))) return rc;
    result = edge;
  }
  return qat_tflite_add_output(out, result, out_name);
}

int lower_quantized(const qat_model *m, qat_export_io io, const lower_qmode *mode, qat_tflite_model *out) {
  qat_tflite_model_init(out);
  if (!m->spec.quantize.enabled || !m->input_fq || !m->layer_fq || !m->fused_into)
    return qat_fail(QAT_ERR_USAGE,
                    "int8 export needs quantization ranges, and this model was not trained quantization-aware "
                    "(its config has no 'quantize: {mode: qat}' section); fine-tune it with QAT, or calibrate "
                    "it on representative samples (qat export --calibrate N)");
  const int q16 = mode->act == QAT_TFLITE_INT16;
  /* the native edge type (int8 or int16), uint8 (int8 only) or float32 */
  const qat_export_io native_io = q16 ? QAT_EXPORT_IO_INT16 : QAT_EXPORT_IO_INT8;
  if (io != native_io && io != QAT_EXPORT_IO_FLOAT32 && (q16 || io != QAT_EXPORT_IO_UINT8))
    return qat_fail(QAT_ERR_USAGE, "%s export cannot have I/O type %d (%s)", mode->name, (int)io,
                    q16 ? "int16 or float32" : "int8, uint8 or float32");
  if (!m->input_fq->valid)
    return qat_fail(QAT_ERR_USAGE, "the input quantizer has no range yet: train with fake quant on, or calibrate "
                                   "(qat export --calibrate N)");
  qat_lowering L;
  memset(&L, 0, sizeof L);
  L.m = m;
  L.t = out;
  L.mode = mode;
  L.n = m->spec.n_layers;
  if (L.n < 1) return qat_fail(QAT_ERR_USAGE, "the model has no layers");
  int rc = QAT_OK;
  L.tensor = malloc((size_t)L.n * sizeof *L.tensor);
  if (!L.tensor) return qat_fail(QAT_ERR_NOMEM, "out of memory lowering the model");
  for (int li = 0; li < L.n; li++) L.tensor[li] = -1;

  int in_dims[4], in_rank = edge_input_dims(m, in_dims);
  float s_in;
  int64_t zp_in;
  if ((rc = mode->act_params(m->input_fq, &s_in, &zp_in))) {
    qat_fail_prefix(rc, "the input quantizer: ");
    goto done;
  }
  char q_in_name[32];
  snprintf(q_in_name, sizeof q_in_name, "input/%s", q16 ? "int16" : "int8");
  if (io == native_io) {
    if ((rc = lower_act_tensor(&L, "input", mode->act, in_rank, in_dims, s_in, zp_in, &L.input))) goto done;
    if ((rc = qat_tflite_add_input(out, L.input, "input"))) goto done;
  } else {
    int edge;
    int u8 = io == QAT_EXPORT_IO_UINT8;
    if ((rc = lower_act_tensor(&L, "input", u8 ? QAT_TFLITE_UINT8 : QAT_TFLITE_FLOAT32, in_rank, in_dims, s_in, zp_in + 128, &edge)))
      goto done;
    if ((rc = qat_tflite_add_input(out, edge, "input"))) goto done;
    if ((rc = lower_act_tensor(&L, q_in_name, mode->act, in_rank, in_dims, s_in, zp_in, &L.input))) goto done;
    qat_tflite_operator op;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_QUANTIZE);
    if ((rc = lower_add_op(L.t, &op, 1, &edge, L.input))) goto done;
  }
  if ((rc = view_input(&L))) goto done;
  for (int li = 0; li < L.n; li++)
    if ((rc = lower_layer(&L, li))) goto done;
  for (int k = 0; k < qat_spec_n_outputs(&m->spec) && !rc; k++) rc = quantized_output(&L, io, native_io, k);
  if (rc) goto done;
  rc = mode->validate(out);
done:
  free(L.tensor);
  if (rc) qat_tflite_model_free(out);
  return rc;
}
