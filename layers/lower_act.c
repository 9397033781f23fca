/* The element-wise activations of issue 15 as the TF converter writes them (checked with
 * TF 2.21's TFLiteConverter on keras.layers.Activation): sigmoid LOGISTIC, tanh TANH, silu
 * LOGISTIC then MUL(x, sigmoid), hard_sigmoid ADD(x, 3) with a fused RELU6 then MUL by 1/6,
 * hard_silu HARD_SWISH, leaky_relu LEAKY_RELU, elu ELU. Shared by the Activation and
 * LeakyReLU layers and by Conv2D / DepthwiseConv2D / Dense with such an `activation:`. In the
 * integer modes the Conv2D / DepthwiseConv2D / Dense before a hard_sigmoid computes it itself
 * (qat/fq.h); elsewhere it is refused (an ADD and a MUL by constants with no quantizers in the
 * QAT model), and HARD_SWISH and ELU in int16x8 (TFLite has no int16 kernels for them). */
#include "layers/lower_kit.h"
#include "qat/error.h"

int lower_is_function(qat_activation a) {
  return a != QAT_ACTIVATION_LINEAR && a != QAT_ACTIVATION_RELU && a != QAT_ACTIVATION_RELU6 &&
         a != QAT_ACTIVATION_SOFTMAX;
}

static int unary(qat_lowering *L, qat_tflite_op code, int in, int out) {
  qat_tflite_operator op;
  qat_tflite_op_init(&op, code);
  return lower_add_op(L->t, &op, 1, &in, out);
}

/* The functions that are one TFLite op, in every mode. */
static int one_op(qat_lowering *L, qat_activation act, float alpha, int in, int out) {
  if (act != QAT_ACTIVATION_LEAKY_RELU)
    return unary(L, act == QAT_ACTIVATION_SIGMOID ? QAT_TFLITE_OP_LOGISTIC
                    : act == QAT_ACTIVATION_TANH  ? QAT_TFLITE_OP_TANH
                    : act == QAT_ACTIVATION_ELU   ? QAT_TFLITE_OP_ELU
                                                  : QAT_TFLITE_OP_HARD_SWISH,
                 in, out);
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_LEAKY_RELU);
  op.opt.alpha = qat_activation_alpha(act, alpha);
  return lower_add_op(L->t, &op, 1, &in, out);
}

/* The integer modes: the ops' outputs take the QAT model's quantizers (LOGISTIC and TANH the
 * ranges TFLite fixes: int8 1/256, -128 and 1/128, 0, set in training; int16 1/32768, 0). */
static int fixed_or_own(qat_lowering *L, int li, qat_activation act, const qat_fq *fq, float *s, int64_t *zp) {
  if (L->mode->act == QAT_TFLITE_INT16 && (act == QAT_ACTIVATION_SIGMOID || act == QAT_ACTIVATION_TANH)) {
    *s = 1.0f / 32768.0f;
    *zp = 0;
    return QAT_OK;
  }
  return lower_act_params(L, li, fq, s, zp);
}

static int lower_integer(qat_lowering *L, int li, qat_activation act, float alpha, int in, int *out) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const int q16 = L->mode->act == QAT_TFLITE_INT16;
  if (act == QAT_ACTIVATION_HARD_SIGMOID)
    return lower_fail(L, li, QAT_ERR_UNSUPPORTED, "%s export computes activation 'hard_sigmoid' only in the Conv2D, "
                      "DepthwiseConv2D or Dense it directly follows (float32, float16 and dynamic take it anywhere)",
                      L->mode->name);
  if (q16 && (act == QAT_ACTIVATION_HARD_SILU || act == QAT_ACTIVATION_ELU))
    return lower_fail(L, li, QAT_ERR_UNSUPPORTED, "%s export does not support activation '%s' (float32, float16 "
                      "and dynamic do)", L->mode->name, qat_activation_name(act));
  const qat_fq *ofq = NULL;
  int rc = lower_output_fq(L, li, &ofq), rank, dims[QAT_MAX_RANK];
  if (rc) return rc;
  lower_out_shape(L, li, &rank, dims);
  float s;
  int64_t zp;
  if ((rc = fixed_or_own(L, li, act, ofq, &s, &zp)) ||
      (rc = lower_act_tensor(L, l->name, L->mode->act, rank, dims, s, zp, out)))
    return rc;
  qat_tflite_operator op;
  switch (act) {
  case QAT_ACTIVATION_SIGMOID:
  case QAT_ACTIVATION_TANH:
  case QAT_ACTIVATION_HARD_SILU:
  case QAT_ACTIVATION_ELU:
  case QAT_ACTIVATION_LEAKY_RELU: return one_op(L, act, alpha, in, *out);
  case QAT_ACTIVATION_SILU: {
    char name[QAT_NAME_MAX + 32];
    snprintf(name, sizeof name, "%s.sigmoid", l->name); /* layers/model.c build_function */
    const qat_fq *sfq = qat_model_find_fq(L->m, name);
    if (!sfq || !sfq->valid) return lower_fail(L, li, QAT_ERR_INTERNAL, "its quantizer '%s' is missing", name);
    snprintf(name, sizeof name, "%s/sigmoid", l->name);
    int mid;
    if ((rc = fixed_or_own(L, li, QAT_ACTIVATION_SIGMOID, sfq, &s, &zp)) ||
        (rc = lower_act_tensor(L, name, L->mode->act, rank, dims, s, zp, &mid)) ||
        (rc = unary(L, QAT_TFLITE_OP_LOGISTIC, in, mid)))
      return rc;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_MUL);
    return lower_add_op(L->t, &op, 2, (int[]){in, mid}, *out);
  }
  default:
    return lower_fail(L, li, QAT_ERR_INTERNAL, "activation '%s' is no element-wise function", qat_activation_name(act));
  }
}

int lower_function(qat_lowering *L, int li, qat_activation act, float alpha, int in, int *out) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  if (L->mode) return lower_integer(L, li, act, alpha, in, out);
  int rank, dims[QAT_MAX_RANK], rc, mid, c;
  lower_out_shape(L, li, &rank, dims);
  char name[QAT_NAME_MAX + 32];
  if ((rc = lower_act_tensor(L, l->name, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, out))) return rc;
  qat_tflite_operator op;
  switch (act) {
  case QAT_ACTIVATION_SIGMOID:
  case QAT_ACTIVATION_TANH:
  case QAT_ACTIVATION_HARD_SILU:
  case QAT_ACTIVATION_ELU:
  case QAT_ACTIVATION_LEAKY_RELU: return one_op(L, act, alpha, in, *out);
  case QAT_ACTIVATION_SILU:
    snprintf(name, sizeof name, "%s/sigmoid", l->name);
    if ((rc = lower_act_tensor(L, name, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, &mid)) ||
        (rc = unary(L, QAT_TFLITE_OP_LOGISTIC, in, mid)))
      return rc;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_MUL);
    return lower_add_op(L->t, &op, 2, (int[]){in, mid}, *out);
  case QAT_ACTIVATION_HARD_SIGMOID:
    snprintf(name, sizeof name, "%s/relu6", l->name);
    if ((rc = lower_act_tensor(L, name, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, &mid)) ||
        (rc = lower_scalar(L, l->name, "three", 3.0f, &c)))
      return rc;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_ADD);
    op.opt.activation = QAT_TFLITE_ACT_RELU6;
    if ((rc = lower_add_op(L->t, &op, 2, (int[]){in, c}, mid))) return rc;
    if ((rc = lower_scalar(L, l->name, "one_sixth", 1.0f / 6.0f, &c))) return rc;
    qat_tflite_op_init(&op, QAT_TFLITE_OP_MUL);
    return lower_add_op(L->t, &op, 2, (int[]){mid, c}, *out);
  default:
    return lower_fail(L, li, QAT_ERR_INTERNAL, "activation '%s' is no element-wise function", qat_activation_name(act));
  }
}
