/* What a layer's build function (layers/<type>.c) uses to add itself to the training graph:
 * private to layers/. The builder registers parameters (placed in the flat vectors once the
 * graph is complete) and fake-quant nodes where the int8 model will requantize. */
#ifndef QAT_LAYERS_BUILD_H
#define QAT_LAYERS_BUILD_H

#include "qat/layer.h"
#include "qat/model.h"

typedef struct qat_builder {
  qat_model *m;
  int cap_params, cap_fq;
  int quant;                /* spec.quantize.enabled */
  int *fq_after;            /* layer output gets its own activation fake quant */
  qat_tensor *(*bn)[4];     /* a folded BN's gamma, beta, moving mean, moving variance */
  qat_tensor *input_q;      /* the model input after its fake quant */
  int layer;                /* the layer being built */
  int in_src;               /* its first input: -1 the model input, else a layer index */
  qat_activation pending;   /* a ReLU/ReLU6 left for the layer's output fake quant to apply */
  /* A function activation (sigmoid, silu, ...) the layer applied, for its output quantizer's
   * rule: the quantizer and tensor of the activation's input, and silu's sigmoid. */
  qat_activation fn;
  struct qat_fq *fn_in_fq, *fn_mid_fq;
  qat_tensor *fn_in, *fn_mid;
  qat_fq *bias_input;       /* the quantizer whose scale a bias built next sits on, when it is not the
                               layer input's (a separable conv's pointwise half); reset per layer */
} qat_builder;

/* A parameter "<layer name>/<suffix>" (layer -1: "input/<suffix>"). */
int qat_build_param(qat_builder *b, int layer, const char *suffix, int rank, const int *dims, int trainable,
                    qat_tensor **out);
/* A BatchNormalization's gamma, beta, moving mean and variance, made once: by the conv it folds
 * into or by the layer itself, in the same order either way. */
int qat_build_bn_params(qat_builder *b, int bn_layer, int channels, qat_tensor *out[4]);
/* Weight fake quant (per channel along axis, or per tensor) of layer li's kernel and, for an
 * unfolded bias, the bias on the int32 grid of input scale x weight scale. No-op without QAT. */
int qat_build_weight_quant(qat_builder *b, int li, const char *kernel, int axis, int channels, qat_tensor **w,
                           qat_tensor **bias);
/* The activation `act` on x: a ReLU/ReLU6 is left to the layer's output fake quant when it has
 * one (the int8 op clamps there); softmax only as the model's last layer. */
int qat_build_activation(qat_builder *b, qat_activation act, qat_tensor *x, qat_tensor **out);
/* An activation fake quant "<layer name>_<suffix>" on x inside layer li (a requantization
 * within one layer: a separable conv's depthwise output), its state in *fq. */
int qat_build_activation_quant(qat_builder *b, int li, const char *suffix, qat_tensor *x, qat_fq **fq,
                               qat_tensor **out);
/* The quantizer of a layer input: the model input's (src -1) or the producing layer's. */
qat_fq *qat_model_source_fq(const qat_model *m, int src);
/* What layer src's output tensor is (src -1: the model input after its fake quant). */
qat_tensor *qat_model_source_tensor(const qat_model *m, int src);
/* Convolution/pooling attributes from the layer's arguments. */
qat_op_attrs qat_build_attrs(const qat_layer_spec *l);
/* Layer li's inputs combined by a chain of two-input ops ((x0 op x1) op x2) ... (Add, Multiply
 * of 3 or more): with QAT each partial result gets a quantizer of its own, "<name>_partial_<k>",
 * whose requantization `link` sets from its two operands (their quantizers and tensors), as the
 * integer modes write the chain; the last result is *out, quantized by the layer's output
 * quantizer. */
typedef void (*qat_pair_link)(qat_fq *out, const qat_fq *fa, const qat_tensor *ta, const qat_fq *fb,
                              const qat_tensor *tb);
/* out rounds as a two-input int8 op of kind `kind` (ADD, MUL) on operands a and b, each on its
 * quantizer's grid. */
void qat_link_operands(qat_fq *out, const qat_fq *fa, const qat_tensor *ta, const qat_fq *fb, const qat_tensor *tb,
                       qat_requant kind);
int qat_build_chain(qat_builder *b, int li, qat_op op, const qat_op_attrs *attrs, qat_tensor **in, qat_pair_link link,
                    qat_tensor **out);
/* A layer whose inputs share its output range (Concatenate, Maximum, Minimum): each input with a
 * range of its own is requantized to the shared one at export (a QUANTIZE in front, int8 to int8);
 * with QAT, out[k] is input k through a rounding node that does what that QUANTIZE does
 * (QAT_REQUANT_REQUANTIZE), in[k] itself where the input writes straight to the range. */
int qat_build_shared_inputs(qat_builder *b, int li, qat_tensor **in, qat_tensor **out);
/* Partial result k (1-based) of layer li's chain: its quantizer and tensor, NULL when the model
 * has none (no QAT, or learned activation scales: one quantizer per layer). */
const qat_fq *qat_model_partial_fq(const qat_model *m, int li, int k, const qat_tensor **out);
/* The operands of the op that makes layer `head`'s output: its two inputs, or the last partial
 * result of a chain and the last input. 0 when they have no quantizers (plain rounding). */
int qat_model_last_pair(const qat_model *m, int head, const qat_fq **fa, const qat_tensor **ta, const qat_fq **fb,
                        const qat_tensor **tb);
/* The int8 ADD's (subtract: SUB's) requantization for the output quantizer of a two-input
 * layer `head` (layers/add.c): both inputs rescaled from their quantizers' grids. */
int qat_link_add_requant(qat_model *m, int head, qat_fq *out, int subtract);

#endif
