/* Export: a trained qat_model lowered onto the TFLite IR (qat/tflite.h), and the batch-norm
 * folding that export and quantization-aware training share. */
#ifndef QAT_EXPORT_H
#define QAT_EXPORT_H

#include <stdint.h>

#include "qat/model.h"
#include "qat/quant.h" /* qat_float_to_half */
#include "qat/tflite.h"

/* Where a weight tensor keeps its output channels. */
typedef enum qat_fold_layout {
  QAT_FOLD_CHANNEL_FIRST = 0, /* Conv2D OHWI, Dense [out, in]: channel = dimension 0 */
  QAT_FOLD_CHANNEL_LAST = 1,  /* DepthwiseConv2D [1, KH, KW, C*M]: channel = dimension 3 */
} qat_fold_layout;

/* Folds inference-mode batch normalization, y = gamma * (x - mean) / sqrt(var + eps) + beta,
 * into the weights and bias of the layer before it. Per output channel c, in double:
 *   scale_c = gamma_c / sqrt(var_c + eps)
 *   w'      = w * scale_c                      (every weight of channel c)
 *   b'      = (b_c - mean_c) * scale_c + beta_c (b_c = 0 when bias is NULL)
 * rounded once to float. w has w_size values, a multiple of channels. w_out / bias_out may
 * alias w / bias (in place). Fails, writing nothing, when a shape is inconsistent, var + eps is
 * not positive, or a result is not finite (QAT_ERR_FORMAT: the statistics are bad data). */
/* Channel c's folded bias, b'_c above, exactly as qat_fold_batch_norm computes it (the fake
 * quant's folded conv rebuilds the int8 file's bias integers with it). */
float qat_fold_bias(float bias, float gamma, float beta, float mean, float var, float epsilon);
int qat_fold_batch_norm(const float *w, const float *bias, int64_t w_size, int channels, qat_fold_layout layout,
                        const float *gamma, const float *beta, const float *mean, const float *var, float epsilon,
                        float *w_out, float *bias_out);

/* Lowers m (its parameters as they are now) to a float32 TFLite graph in *out (initialized
 * here; free it with qat_tflite_model_free, also after an error). Batch dimension 1; input
 * float32 [1, H, W, C] named "input" in the serving_default signature, output named after the
 * last layer.
 *   Conv2D -> CONV_2D, DepthwiseConv2D -> DEPTHWISE_CONV_2D, Dense -> FULLY_CONNECTED
 *     (keep_num_dims false); each always gets a bias input (zeros when the layer has none, as
 *     TFLite's CONV_2D kernel requires one);
 *   their relu/relu6 activation is fused, and so is a following ReLU / Activation layer when
 *     the op's output feeds nothing else; a BatchNormalization directly after one of them
 *     (whose output feeds nothing else and has no activation) is folded into its weights;
 *   MaxPooling2D / AveragePooling2D -> MAX_POOL_2D / AVERAGE_POOL_2D;
 *   GlobalAveragePooling2D -> MEAN over axes [1, 2] (keep_dims false);
 *   Flatten / Reshape -> RESHAPE with an int32 shape input whose batch entry is -1;
 *   Add -> ADD (a chain for more than 2 inputs; a following ReLU fused into the last);
 *   ReLU / Activation not fused -> RELU / RELU6; Dropout and linear Activation vanish;
 *   a final softmax -> SOFTMAX (beta 1).
 * Anything else (a batch norm that cannot be folded, an unknown layer) is QAT_ERR_UNSUPPORTED
 * with a message naming the layer and the reason. */
int qat_export_float32(const qat_model *m, qat_tflite_model *out);

/* The type of an int8 model's graph input and output. */
typedef enum qat_export_io {
  QAT_EXPORT_IO_INT8 = 0,    /* int8 in and out (the converter's inference_input_type=int8) */
  QAT_EXPORT_IO_UINT8 = 1,   /* uint8 edges: QUANTIZE uint8 -> int8 at the input and int8 -> uint8
                                at the output (same scale, zero point + 128) */
  QAT_EXPORT_IO_FLOAT32 = 2, /* float edges: QUANTIZE at the input, DEQUANTIZE at the output */
  QAT_EXPORT_IO_INT16 = 3,   /* int16 in and out (int16x8 only) */
} qat_export_io;

/* Makes every quantizer of a quantization-aware model current for export: one forward pass
 * (fake quant on, inference mode, observers frozen) over a zero batch recomputes the weight
 * scales and the folded weights from the parameters as they are now. Fails with QAT_ERR_USAGE,
 * pointing to calibration, when the model has no QAT section or an activation quantizer has
 * never observed a range. Call it before qat_export_int8. */
int qat_export_int8_prepare(qat_model *m);

/* Lowers a quantization-aware model (after qat_export_int8_prepare) to a full-integer int8
 * TFLite graph in *out (freed on error too: free it with qat_tflite_model_free). One op per
 * fused QAT chain (m->fused_into), quantized with the chain's output fake quant:
 *   Conv2D / DepthwiseConv2D / Dense -> CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED with int8
 *     weights (the values the weight fake quant rounded: for a folded batch norm the
 *     BN_FOLD_WEIGHTS output), quantized per channel with its scales (quantized_dimension 0, or
 *     3 for depthwise; per tensor when trained so), zero point 0, range [-127, 127]; an int32
 *     bias (the folded beta - gamma * mean / sigma, the layer's own, or zeros) at scale
 *     s_in * s_w[c]; the fused ReLU/ReLU6 of the output fake quant as fused activation;
 *   MaxPooling2D / AveragePooling2D / Flatten / Reshape keep their input's parameters;
 *   GlobalAveragePooling2D -> MEAN with its own parameters; Add (2 inputs) -> ADD;
 *   a final softmax -> SOFTMAX with output scale 1/256, zero point -128;
 *   Dropout and linear Activation vanish.
 * io chooses the graph's input/output type (QUANTIZE / DEQUANTIZE edges as the TF converter
 * writes). The result passes qat_export_validate_int8. Layers that cannot be exported exactly
 * are QAT_ERR_UNSUPPORTED with a message naming the layer. */
int qat_export_int8(const qat_model *m, qat_export_io io, qat_tflite_model *out);

/* Checks an int8 graph against the TFLite int8 spec before it is written, naming the layer
 * (the op's output tensor) and the rule on failure (QAT_ERR_UNSUPPORTED): finite positive
 * scales; zero points in the type's range; per-channel scale counts equal to the
 * quantized dimension; conv/FC weights constant int8, symmetric, never -128; bias constant
 * int32 with scale s_in * s_w[c] within 1e-6 relative and zero point 0; pools and reshape share
 * their input's scale and zero point; SOFTMAX output (1/256, -128); per-tensor activations;
 * then qat_tflite_validate. */
int qat_export_validate_int8(const qat_tflite_model *t);

/* The 16x8 mode (the converter's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8):
 * the graph of qat_export_int8 (call qat_export_int8_prepare first), with
 *   activations int16, symmetric, zero point 0, scale max(|min|, |max|) / 32767 from the range
 *     the activation quantizer observed (its observer's min/max; where it has none, as for
 *     quantizers whose parameters were set from outside, the range its int8 parameters
 *     represent, [(-128 - zp) * s, (127 - zp) * s]);
 *   weights int8 per channel exactly as in int8 mode; biases INT64 at s_in * s_w[c], zero
 *     point 0;
 *   SOFTMAX output scale 1/32768, zero point 0; ADD with pot_scale_int16 false (the general
 *     rescaling kernel);
 *   io QAT_EXPORT_IO_INT16 (int16 edges) or QAT_EXPORT_IO_FLOAT32 (QUANTIZE / DEQUANTIZE
 *     edges, as the converter's 16x8 with float I/O).
 * The result passes qat_export_validate_int16x8; what TFLite cannot run in 16x8 is refused
 * (QAT_ERR_UNSUPPORTED, naming the layer), never written. */
int qat_export_int16x8(const qat_model *m, qat_export_io io, qat_tflite_model *out);
/* The int16 scale (zero point 0) the 16x8 export gives an activation quantizer's range. */
struct qat_fq;
int qat_export_int16x8_act_params(const struct qat_fq *fq, float *scale, int64_t *zp);

/* Checks a 16x8 graph against what TFLite's int16 kernels accept, naming the layer and the
 * rule on failure (QAT_ERR_UNSUPPORTED): activations int16 per tensor with zero point 0;
 * conv/depthwise/FC with constant int8 symmetric narrow-range weights (per channel along the
 * spec's dimension or per tensor) and a constant INT64 bias at s_in * s_w[c] (1e-6) with zero
 * point 0; accumulators that stay below the 2^47 of the kernels' 64-bit requantization and
 * output multipliers below 2^7; pools and RESHAPE keep their input's scale; SOFTMAX output
 * (1/32768, 0); ADD with pot_scale_int16 false; QUANTIZE only float32 -> int16 and DEQUANTIZE
 * only int16 -> float32 at the edges; any other op (TFLite has no 16x8 kernel for it, or qat
 * does not write it) is refused; then qat_tflite_validate. */
int qat_export_validate_int16x8(const qat_tflite_model *t);

/* ---- post-training quantization without data (float16, dynamic range) ----
 * Both rewrite qat_export_float32's graph (any checkpoint: float or quantization-aware, whose
 * float weights are used as they are). *out is initialized here and freed on error. */

/* float16: every FLOAT32 constant an operator reads (weights and biases) is stored as FLOAT16
 * (round to nearest even, as Eigen::half) and turned back into the float32 tensor of the same
 * name by a DEQUANTIZE op (version 3) at the start of the graph; compute, inputs and outputs
 * stay float32. About half the float32 file. */
int qat_export_float16(const qat_model *m, qat_tflite_model *out);
int qat_tflite_to_float16(const qat_tflite_model *f32, qat_tflite_model *out);

/* Dynamic range: int8 symmetric weights (CONV_2D per channel along 0, DEPTHWISE_CONV_2D per
 * channel along 3, FULLY_CONNECTED per tensor with asymmetric_quantize_inputs) for weight
 * tensors of at least QAT_DYNAMIC_MIN_ELEMENTS elements (smaller ones stay float, as the
 * converter's min-elements-for-weights default); float biases and activations: the hybrid
 * kernels quantize their input at run time. */
#define QAT_DYNAMIC_MIN_ELEMENTS 1024
int qat_export_dynamic(const qat_model *m, qat_tflite_model *out);
int qat_tflite_to_dynamic(const qat_tflite_model *f32, qat_tflite_model *out);

#endif
