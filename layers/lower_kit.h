/* What a layer's TFLite lowering (layers/<type>.c, descriptor `lower`) works with: the lowering
 * context that export/lower.c's drivers walk the layers in, one for float32 and the integer
 * modes (int8, int16x8), and the helpers every layer's lowering shares. Private to layers/ and
 * export/. */
#ifndef QAT_LAYERS_LOWER_KIT_H
#define QAT_LAYERS_LOWER_KIT_H

#include <stdio.h>

#include "qat/export.h"
#include "qat/fq.h"
#include "qat/layer.h"
#include "qat/model.h"
#include "qat/tflite.h"

/* A full-integer mode: int8 (export/lower_int8.c) or int16x8 (export/lower_int16.c). The
 * graph, the int8 per-channel weights and the fused chains are the same; the modes differ in
 * the activation type and parameters, the bias type (int32 / int64), SOFTMAX's fixed output
 * range and the validator. */
typedef struct lower_qmode {
  const char *name;     /* "int8", "int16x8": in messages */
  qat_tflite_type act;  /* QAT_TFLITE_INT8 or QAT_TFLITE_INT16 */
  float softmax_scale;  /* SOFTMAX output: 1/256 (int8), 1/32768 (int16) */
  int64_t softmax_zp;   /* -128 (int8), 0 (int16) */
  /* The activation parameters of a quantizer with a range (fails with a message) */
  int (*act_params)(const qat_fq *fq, float *scale, int64_t *zp);
  int (*validate)(const qat_tflite_model *t);
} lower_qmode;

/* Lowers a prepared QAT model in the given mode (export/lower.c; qat_export_int8 and
 * qat_export_int16x8). */
int lower_quantized(const qat_model *m, qat_export_io io, const lower_qmode *mode, qat_tflite_model *out);

typedef struct qat_lowering {
  const qat_model *m;
  qat_tflite_model *t;
  int n;
  int *tensor;             /* TFLite tensor of each layer's output (-1 before it is lowered) */
  int input;               /* the model input (int8: after a QUANTIZE for uint8 / float32 I/O) */
  const lower_qmode *mode; /* NULL: float32 */
  /* float32 only: the fusions found before the walk (export/lower.c analyze):
   *   root     the layer whose tensor this layer's output really is (identities take their
   *            input's root; -1: the model input);
   *   uses     how many non-identity layer inputs read a root, plus one for the model output;
   *   consumer the single reader of a root, -1 if none or several;
   *   absorbed lowered as part of an earlier layer's operator.
   * The integer modes take the QAT model's own fusions (m->fused_into, m->fold_bn). */
  int *root, *uses, *consumer, *absorbed;
} qat_lowering;

/* An error about layer li: "source:line:col: layer 'name' (Type): why". */
int lower_fail(const qat_lowering *L, int li, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static inline const qat_layer_spec *lower_layer_spec(const qat_lowering *L, int li) { return &L->m->spec.layers[li]; }
static inline int lower_tensor_of(const qat_lowering *L, int src) { return src < 0 ? L->input : L->tensor[src]; }
/* The TFLite tensor of layer li's k-th input. */
static inline int lower_input(const qat_lowering *L, int li, int k) {
  return lower_tensor_of(L, qat_layer_input(&L->m->spec, li, k));
}
/* Output shape of layer li with batch 1. */
void lower_out_shape(const qat_lowering *L, int li, int *rank, int *dims);

/* One operator with n_in inputs and one output. */
int lower_add_op(qat_tflite_model *t, qat_tflite_operator *op, int n_in, const int *in, int out);
qat_tflite_padding lower_padding(const qat_layer_spec *l);
/* The parameter "<layer name>/<suffix>" of layer li, or NULL. */
const qat_param *lower_find_param(const qat_model *m, int li, const char *suffix);

/* An activation tensor of the given type with per-tensor parameters (none for float32 and bool). */
int lower_act_tensor(qat_lowering *L, const char *name, qat_tflite_type type, int rank, const int *dims, float scale,
                     int64_t zp, int *index);
/* Layer li's output tensor named `name`, for an op whose output keeps the parameters of its
 * input tensor `in` (pools, reshapes: TFLite requires it): float32 in the float mode. */
int lower_keep_tensor(qat_lowering *L, int li, int in, const char *name, int *index);
/* Layer li's output tensor with the parameters of its own output quantizer (float32 in the
 * float mode), named after the layer. */
int lower_own_tensor(qat_lowering *L, int li, int *index);
/* A scalar constant "<layer>/<suffix>": float32 v; on the integer modes' grid (s, zp) the
 * integer q, of the mode's activation type. */
int lower_scalar(qat_lowering *L, const char *layer, const char *suffix, float v, int *index);
int lower_grid_scalar(qat_lowering *L, const char *layer, const char *suffix, int32_t q, float s, int64_t zp,
                      int *index);
/* PAD of tensor `in` by pads (NHWC, before and after per axis) into "<name>" with in's type and
 * quantization (the int8 PAD pads with the zero point: the real 0), its paddings
 * "<name>/paddings". */
int lower_pad(qat_lowering *L, int li, int in, const int32_t pads[8], const char *name, int *out);
/* The per-tensor parameters of an IR tensor. */
void lower_params_of(const qat_lowering *L, int tensor, float *scale, int64_t *zp);
/* The output quantizer of layer li: it must exist and have parameters. */
int lower_output_fq(const qat_lowering *L, int li, const qat_fq **out);
/* The activation parameters the mode gives a quantizer's range (int8: the fake quant's own). */
int lower_act_params(const qat_lowering *L, int li, const qat_fq *fq, float *scale, int64_t *zp);
qat_tflite_activation lower_fused_of(const qat_fq *fq);
/* The fused activation of the integer op ending at layer `end` whose output quantizer is fq
 * (fq's own, or the chain's when fq belongs to a Concatenate: qat_model.shared_range). */
qat_tflite_activation lower_fused_act(const qat_lowering *L, int end, const qat_fq *fq);
/* The last layer of the integer op that layer `head` starts (itself when nothing is fused). */
int lower_chain_end(const qat_lowering *L, int head);
/* float32: the single consumer of root r if it is the only reader, else -1. */
int lower_sole_consumer(const qat_lowering *L, int r);
/* The TFLite fused activation of a standalone ReLU/ReLU6 layer, or -1 if it is not one. */
int lower_relu_kind(const qat_layer_spec *l);
/* SOFTMAX (beta 1) on tensor `in`, the output named after layer li (integer modes: the spec's
 * fixed output range). */
int lower_softmax(qat_lowering *L, int li, int in, int *out);
/* RESHAPE to layer li's output shape: the target shape is an int32 input with -1 for the
 * batch, as the converter writes Keras's reshapes (so the same file serves any batch after a
 * resize); the output keeps the input's parameters. */
int lower_reshape(qat_lowering *L, int li);
/* Input k of a layer whose int8 inputs and output share one scale and zero point (Concatenate,
 * Maximum): its tensor, or, when it has a quantizer of its own, a QUANTIZE (int8 -> int8) of it
 * to the output tensor out's parameters. */
int lower_shared_input(qat_lowering *L, int li, int k, int out, int *in);
/* A RESHAPE of tensor `in` to dims (batch 1 first), of its type and quantization: the view of a
 * sequence [1, T, C] as [1, 1, T, C] at the model's edges. */
int lower_view(qat_lowering *L, int in, const char *name, int rank, const int *dims, int *out);
/* Sigmoid, tanh, silu, hard_sigmoid, hard_silu, leaky_relu, elu: not a fused activation nor
 * SOFTMAX (layers/lower_act.c). */
int lower_is_function(qat_activation a);
/* Such an activation on tensor `in`, its output named after layer li, as the converter writes
 * it; in the integer modes with the QAT model's quantizers (LOGISTIC / TANH at TFLite's fixed
 * ranges), refusing by layer and mode what those modes cannot run (hard_sigmoid; HARD_SWISH and
 * ELU in int16x8). */
int lower_function(qat_lowering *L, int li, qat_activation act, float alpha, int in, int *out);
/* The common end of a one-output layer: the op with `in`, its tensor recorded as li's. */
int lower_simple(qat_lowering *L, int li, qat_tflite_operator *op, int n_in, const int *in, int out);
/* The broadcast shape of two IR tensors (numpy's rule, right-aligned): a chain's partial result. */
void lower_broadcast_shape(const qat_lowering *L, int a, int b, int *rank, int *dims);

/* What the modes' validators (export/lower_int8.c, lower_int16.c) share: a tensor's name for
 * messages, and a failure that names the layer, the op, the mode and the rule broken. */
const char *lower_tensor_name(const qat_tflite_model *t, int i);
int lower_validate_fail(const qat_tflite_model *t, int k, const char *mode, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The weight and bias rules both integer modes check: per-tensor or per-channel along qd,
 * symmetric, narrow range [-127, 127], one bias scale per weight scale, each s_in * s_w[c] with
 * zero point 0. */
int lower_validate_weights(const qat_tflite_model *t, int k, const char *mode, float s_in, const qat_tflite_tensor *w,
                           const qat_tflite_tensor *b, int qd);

#endif
