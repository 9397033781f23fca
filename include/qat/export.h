/* Export: a trained qat_model lowered onto the TFLite IR (qat/tflite.h), and the batch-norm
 * folding that export and quantization-aware training share. */
#ifndef QAT_EXPORT_H
#define QAT_EXPORT_H

#include <stdint.h>

#include "qat/model.h"
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

#endif
