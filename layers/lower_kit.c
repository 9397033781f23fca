/* The helpers every layer's TFLite lowering shares (layers/lower_kit.h). */
#include "layers/lower_kit.h"

#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qat/error.h"

int lower_fail(const qat_lowering *L, int li, int status, const char *fmt, ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const char *src = L->m->spec.source;
  if (src && l->line > 0)
    return qat_fail(status, "%s:%d:%d: layer '%s' (%s): %s", src, l->line, l->column, l->name,
                    qat_layer_type_name(l->type), why);
  return qat_fail(status, "layer '%s' (%s): %s", l->name, qat_layer_type_name(l->type), why);
}

void lower_out_shape(const qat_lowering *L, int li, int *rank, int *dims) {
  const qat_tensor *t = L->m->layer_out[li];
  *rank = t->rank;
  for (int d = 0; d < t->rank; d++) dims[d] = t->dims[d];
  dims[0] = 1;
}

int lower_add_op(qat_tflite_model *t, qat_tflite_operator *op, int n_in, const int *in, int out) {
  op->n_inputs = n_in;
  for (int k = 0; k < n_in; k++) op->inputs[k] = in[k];
  op->n_outputs = 1;
  op->outputs[0] = out;
  return qat_tflite_add_op(t, op, NULL);
}

qat_tflite_padding lower_padding(const qat_layer_spec *l) {
  return l->padding == QAT_PADDING_SAME ? QAT_TFLITE_PADDING_SAME : QAT_TFLITE_PADDING_VALID;
}

const qat_param *lower_find_param(const qat_model *m, int li, const char *suffix) {
  char name[2 * QAT_NAME_MAX + 16];
  snprintf(name, sizeof name, "%s/%s", m->spec.layers[li].name, suffix);
  return qat_model_find_param(m, name);
}

int lower_act_tensor(qat_lowering *L, const char *name, qat_tflite_type type, int rank, const int *dims, float scale,
                     int64_t zp, int *index) {
  int rc = qat_tflite_add_tensor(L->t, name, type, rank, dims, NULL, 0, index);
  if (rc) return rc;
  if (type == QAT_TFLITE_FLOAT32 || type == QAT_TFLITE_BOOL) return QAT_OK;
  return qat_tflite_set_quant(L->t, *index, 1, &scale, &zp, 0);
}

int lower_scalar(qat_lowering *L, const char *layer, const char *suffix, float v, int *index) {
  char name[2 * QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/%s", layer, suffix);
  return qat_tflite_add_tensor(L->t, name, QAT_TFLITE_FLOAT32, 0, NULL, &v, sizeof v, index);
}

int lower_grid_scalar(qat_lowering *L, const char *layer, const char *suffix, int32_t q, float s, int64_t zp,
                      int *index) {
  char name[2 * QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/%s", layer, suffix);
  const int wide = L->mode->act == QAT_TFLITE_INT16;
  const int16_t v16 = (int16_t)q;
  const int8_t v8 = (int8_t)q;
  int rc = qat_tflite_add_tensor(L->t, name, L->mode->act, 0, NULL, wide ? (const void *)&v16 : (const void *)&v8,
                                 wide ? sizeof v16 : sizeof v8, index);
  return rc ? rc : qat_tflite_set_quant(L->t, *index, 1, &s, &zp, 0);
}

int lower_pad(qat_lowering *L, int li, int in, const int32_t pads[8], const char *name, int *out) {
  const qat_tflite_tensor *x = &L->t->tensors[in];
  if (x->rank != 4) return lower_fail(L, li, QAT_ERR_INTERNAL, "PAD needs a 4-D input, '%s' has rank %d", x->name, x->rank);
  int dims[4], pi, rc;
  const int pdims[2] = {4, 2};
  for (int a = 0; a < 4; a++) dims[a] = x->dims[a] + pads[2 * a] + pads[2 * a + 1];
  float s;
  int64_t zp;
  lower_params_of(L, in, &s, &zp);
  char pname[2 * QAT_NAME_MAX + 32];
  snprintf(pname, sizeof pname, "%s/paddings", name);
  if ((rc = qat_tflite_add_tensor(L->t, pname, QAT_TFLITE_INT32, 2, pdims, pads, 8 * sizeof *pads, &pi)) ||
      (rc = lower_act_tensor(L, name, x->type, 4, dims, s, zp, out)))
    return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_PAD);
  return lower_simple(L, li, &op, 2, (int[]){in, pi}, *out);
}

void lower_params_of(const qat_lowering *L, int tensor, float *scale, int64_t *zp) {
  const qat_tflite_tensor *t = &L->t->tensors[tensor];
  *scale = t->quant.n > 0 ? t->quant.scale[0] : 0.0f;
  *zp = t->quant.n > 0 ? t->quant.zero_point[0] : 0;
}

int lower_keep_tensor(qat_lowering *L, int li, int in, const char *name, int *index) {
  int rank, dims[QAT_MAX_RANK];
  lower_out_shape(L, li, &rank, dims);
  float s = 0;
  int64_t zp = 0;
  if (L->mode) lower_params_of(L, in, &s, &zp);
  return lower_act_tensor(L, name, L->mode ? L->mode->act : QAT_TFLITE_FLOAT32, rank, dims, s, zp, index);
}

int lower_output_fq(const qat_lowering *L, int li, const qat_fq **out) {
  const qat_fq *fq = L->m->layer_fq[li];
  if (!fq) return lower_fail(L, li, QAT_ERR_UNSUPPORTED, "has no output quantizer in the QAT model");
  if (!fq->valid)
    return lower_fail(L, li, QAT_ERR_USAGE,
                      "its output quantizer '%s' has no range yet (fake quant never ran on it while training); "
                      "train longer than quantize.delay, or calibrate (post-training calibration is a later "
                      "issue and not implemented yet)",
                      fq->name);
  *out = fq;
  return QAT_OK;
}

int lower_act_params(const qat_lowering *L, int li, const qat_fq *fq, float *scale, int64_t *zp) {
  int rc = L->mode->act_params(fq, scale, zp);
  if (rc) return lower_fail(L, li, rc, "%s", qat_error_message());
  return QAT_OK;
}

int lower_own_tensor(qat_lowering *L, int li, int *index) {
  int rank, dims[QAT_MAX_RANK];
  lower_out_shape(L, li, &rank, dims);
  if (!L->mode) return lower_act_tensor(L, lower_layer_spec(L, li)->name, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, index);
  const qat_fq *ofq = NULL;
  float s_out;
  int64_t zp_out;
  int rc;
  if ((rc = lower_output_fq(L, li, &ofq)) || (rc = lower_act_params(L, li, ofq, &s_out, &zp_out))) return rc;
  return lower_act_tensor(L, lower_layer_spec(L, li)->name, L->mode->act, rank, dims, s_out, zp_out, index);
}

qat_tflite_activation lower_fused_of(const qat_fq *fq) {
  /* RELU_MAX: the range (or a MINIMUM after the op, lower_relu_cap) caps it */
  if (fq->act == QAT_ACTIVATION_RELU || fq->act == QAT_ACTIVATION_RELU_MAX) return QAT_TFLITE_ACT_RELU;
  /* TFLite refuses a RELU6 whose 6 / scale leaves the int32 range (kernel_util.cc's
   * no_integer_overflow_from_quantization: a tiny range, as random weights give); its clamp at
   * 6 then lies far beyond the int8 range, so RELU clamps the same values */
  if (fq->act == QAT_ACTIVATION_RELU6)
    return fq->valid && !(roundf(6.0f / fq->scale[0]) <= (float)INT32_MAX) ? QAT_TFLITE_ACT_RELU : QAT_TFLITE_ACT_RELU6;
  return QAT_TFLITE_ACT_NONE;
}

qat_tflite_activation lower_fused_act(const qat_lowering *L, int end, const qat_fq *fq) {
  if (!L->m->shared_range || L->m->shared_range[end] < 0) return lower_fused_of(fq);
  /* the quantizer is a Concatenate's (it sees the joined tensor, after the activation the
   * training graph applied on its own): the chain's activation is the clamp to fuse */
  const qat_layer_spec *l = lower_layer_spec(L, end);
  qat_activation a = qat_layer_fusable_activation(l);
  if (a == QAT_ACTIVATION_LINEAR) a = l->activation;
  return a == QAT_ACTIVATION_RELU || a == QAT_ACTIVATION_RELU_MAX ? QAT_TFLITE_ACT_RELU
         : a == QAT_ACTIVATION_RELU6                            ? QAT_TFLITE_ACT_RELU6
                                                                : QAT_TFLITE_ACT_NONE;
}

int lower_chain_end(const qat_lowering *L, int head) {
  int end = head;
  for (int j = head + 1; j < L->n; j++)
    if (L->m->fused_into[j] == head) end = j;
  return end;
}

int lower_sole_consumer(const qat_lowering *L, int r) { return r >= 0 && L->uses[r] == 1 ? L->consumer[r] : -1; }

int lower_relu_kind(const qat_layer_spec *l) {
  switch (qat_layer_fusable_activation(l)) {
  case QAT_ACTIVATION_RELU: return QAT_TFLITE_ACT_RELU;
  case QAT_ACTIVATION_RELU6: return QAT_TFLITE_ACT_RELU6;
  default: return -1;
  }
}

int lower_softmax(qat_lowering *L, int li, int in, int *out) {
  int rank, dims[QAT_MAX_RANK];
  lower_out_shape(L, li, &rank, dims);
  int rc = L->mode ? lower_act_tensor(L, lower_layer_spec(L, li)->name, L->mode->act, rank, dims,
                                      L->mode->softmax_scale, L->mode->softmax_zp, out)
                   : lower_act_tensor(L, lower_layer_spec(L, li)->name, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, out);
  if (rc) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_SOFTMAX);
  op.opt.beta = 1.0f;
  return lower_add_op(L->t, &op, 1, &in, *out);
}

int lower_simple(qat_lowering *L, int li, qat_tflite_operator *op, int n_in, const int *in, int out) {
  int rc = lower_add_op(L->t, op, n_in, in, out);
  if (rc) return rc;
  L->tensor[li] = out;
  return QAT_OK;
}

int lower_reshape(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  int in = lower_input(L, li, 0), rank, dims[QAT_MAX_RANK], out, si;
  lower_out_shape(L, li, &rank, dims);
  int32_t shape[QAT_MAX_RANK];
  shape[0] = -1;
  for (int d = 1; d < rank; d++) shape[d] = dims[d];
  char name[QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/shape", l->name);
  int rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &rank, shape, (size_t)rank * sizeof *shape, &si);
  if (rc) return rc;
  if ((rc = lower_keep_tensor(L, li, in, l->name, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_RESHAPE);
  int ins[2] = {in, si};
  return lower_simple(L, li, &op, 2, ins, out);
}

int lower_shared_input(qat_lowering *L, int li, int k, int out, int *in) {
  *in = lower_input(L, li, k);
  if (!L->mode) return QAT_OK;
  float s_in, s_out;
  int64_t zp_in, zp_out;
  lower_params_of(L, *in, &s_in, &zp_in);
  lower_params_of(L, out, &s_out, &zp_out);
  if (s_in == s_out && zp_in == zp_out) return QAT_OK;
  const qat_tflite_tensor *x = &L->t->tensors[*in];
  int xd[QAT_MAX_RANK], xr = x->rank, rq, rc;
  for (int d = 0; d < xr; d++) xd[d] = x->dims[d];
  char name[QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/requantized_%d", lower_layer_spec(L, li)->name, k);
  if ((rc = lower_act_tensor(L, name, L->mode->act, xr, xd, s_out, zp_out, &rq))) return rc;
  qat_tflite_operator q;
  qat_tflite_op_init(&q, QAT_TFLITE_OP_QUANTIZE);
  if ((rc = lower_add_op(L->t, &q, 1, in, rq))) return rc;
  *in = rq;
  return QAT_OK;
}

int lower_view(qat_lowering *L, int in, const char *name, int rank, const int *dims, int *out) {
  int32_t shape[QAT_MAX_RANK];
  for (int d = 0; d < rank; d++) shape[d] = dims[d];
  char sname[QAT_NAME_MAX + 48];
  snprintf(sname, sizeof sname, "%s/shape", name);
  int si, rc = qat_tflite_add_tensor(L->t, sname, QAT_TFLITE_INT32, 1, &rank, shape, (size_t)rank * sizeof *shape, &si);
  if (rc) return rc;
  const qat_tflite_tensor *t = &L->t->tensors[in];
  const qat_tflite_type type = t->type;
  float s = 0;
  int64_t zp = 0;
  if (type != QAT_TFLITE_FLOAT32) lower_params_of(L, in, &s, &zp);
  if ((rc = lower_act_tensor(L, name, type, rank, dims, s, zp, out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_RESHAPE);
  return lower_add_op(L->t, &op, 2, (int[]){in, si}, *out);
}

const char *lower_tensor_name(const qat_tflite_model *t, int i) {
  return i >= 0 && i < t->n_tensors && t->tensors[i].name ? t->tensors[i].name : "?";
}

int lower_validate_fail(const qat_tflite_model *t, int k, const char *mode, const char *rule, const char *fmt, ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  const qat_tflite_operator *op = &t->ops[k];
  return qat_fail(QAT_ERR_UNSUPPORTED, "%s validation: layer '%s' (op %d, %s): rule '%s': %s", mode,
                  lower_tensor_name(t, op->outputs[0]), k, qat_tflite_op_name(op->op), rule, why);
}

int lower_validate_weights(const qat_tflite_model *t, int k, const char *mode, float s_in, const qat_tflite_tensor *w,
                           const qat_tflite_tensor *b, int qd) {
  int ch = w->dims[qd];
  if (w->quant.n != 1 && (w->quant.n != ch || w->quant.quantized_dimension != qd))
    return lower_validate_fail(t, k, mode, "per-channel count",
                               "weights '%s' have %d scales along %d, expected 1 or %d along %d", w->name, w->quant.n,
                               w->quant.quantized_dimension, ch, qd);
  for (int c = 0; c < w->quant.n; c++)
    if (w->quant.zero_point[c] != 0)
      return lower_validate_fail(t, k, mode, "symmetric weights", "weights '%s' zero_point[%d] = %lld", w->name, c,
                                 (long long)w->quant.zero_point[c]);
  const int8_t *qw = w->data;
  for (size_t i = 0; i < w->data_bytes; i++)
    if (qw[i] == -128)
      return lower_validate_fail(t, k, mode, "narrow-range weights", "weights '%s' use -128 at %zu", w->name, i);
  if (b->rank != 1 || b->dims[0] != ch || b->quant.n != w->quant.n)
    return lower_validate_fail(t, k, mode, "per-channel count", "bias '%s' has %d scales for %d weight scales",
                               b->name, b->quant.n, w->quant.n);
  for (int c = 0; c < b->quant.n; c++) {
    double want = (double)(s_in * w->quant.scale[c]), got = b->quant.scale[c];
    if (fabs(got - want) > 1e-6 * fabs(want))
      return lower_validate_fail(t, k, mode, "bias scale = s_in * s_w", "bias '%s' scale[%d] = %.9g, s_in * s_w = %.9g",
                                 b->name, c, got, want);
    if (b->quant.zero_point[c] != 0)
      return lower_validate_fail(t, k, mode, "bias zero point 0", "bias '%s' zero_point[%d] = %lld", b->name, c,
                                 (long long)b->quant.zero_point[c]);
  }
  return QAT_OK;
}

void lower_broadcast_shape(const qat_lowering *L, int a, int b, int *rank, int *dims) {
  const qat_tflite_tensor *ta = &L->t->tensors[a], *tb = &L->t->tensors[b];
  *rank = ta->rank > tb->rank ? ta->rank : tb->rank;
  for (int i = 0; i < *rank; i++) {
    int ia = i - (*rank - ta->rank), ib = i - (*rank - tb->rank);
    int da = ia >= 0 ? ta->dims[ia] : 1, db = ib >= 0 ? tb->dims[ib] : 1;
    dims[i] = da > db ? da : db;
  }
}
