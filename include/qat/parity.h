/* The parity report: a quantization-aware checkpoint's model against its int8 .tflite export
 * run in qat's runtime, sample by sample and layer by layer.
 *
 * Three models see the same test samples: the float model (fake quant off), the fake-quant
 * model (what training simulated) and the int8 file (what the device will run). For every int8
 * activation tensor of the file that names a layer of the model (the exporter names each op's
 * output after the last layer of its fused chain), the report counts how far the file's
 * integers are from the fake-quant model's, in output LSBs (q_ref = round(v / scale) + zp of
 * the fake-quant value v), and how far the dequantized integers are from the float model's
 * values (SQNR), and how many float values fall outside the tensor's representable range
 * (clipping). Each op is also run alone on the fake-quant model's inputs, which separates the
 * differences a layer's own rounding makes from those it inherits. A final softmax, folded into the loss in training, is applied in double to the
 * fake-quant logits and quantized with the file's output parameters. */
#ifndef QAT_PARITY_H
#define QAT_PARITY_H

#include <stddef.h>
#include <stdint.h>

#include "qat/data.h"
#include "qat/model.h"
#include "qat/runtime.h"

typedef struct qat_parity_stats {
  int64_t values;    /* integers compared */
  int64_t identical; /* equal to the fake-quant model's */
  int64_t max_lsb;   /* largest |q_file - q_fakequant| */
  double sum_lsb;
  double signal, noise; /* sum f^2 and sum (f - dequantized file value)^2, f the float model's */
  int64_t clipped;      /* float values outside [(qmin - zp) s, (qmax - zp) s] */
  int64_t saturated;    /* the file's values at a rail that is not an exact 0: what the deployed
                           model itself clipped (its own pre-quantization value lay outside the
                           range; the float model's values are another network's) */
  /* The op alone: its output when the file's op is fed the fake-quant model's (quantized)
   * inputs instead of its own earlier results. What the op's own rounding adds, apart from the
   * differences it inherits. */
  int64_t local_identical, local_max_lsb;
} qat_parity_stats;

typedef struct qat_parity_layer {
  int tensor;       /* in the .tflite file */
  int layer;        /* in the model; -1: the model input */
  const char *name; /* the tensor's name (owned by the runtime model) */
  const char *op;   /* the operator that produces it ("input" for the graph input) */
  float scale;
  int32_t zero_point;
  qat_parity_stats s;
} qat_parity_layer;

typedef struct qat_parity_report {
  int64_t samples;
  int64_t float_correct, fakequant_correct, int8_correct;
  int64_t top1_agree; /* fake-quant model's top-1 == the file's top-1 */
  int output;         /* index into layers of the model's final output tensor */
  int logits;         /* the logits: output, or the tensor before the final softmax (the
                         softmax's fixed [0, 1] range saturates at confident predictions, so
                         clipping is judged on its input) */
  int int16;          /* a 16x8 file, compared on its int16 grid */
  int classifier;     /* one class label per sample: the accuracies mean something (a segmenter's
                         or a regressor's are not reported; top1_agree then needs every position) */
  qat_parity_layer *layers;
  int n_layers;
} qat_parity_report;

/* Runs ds through m (a quantization-aware model with its ranges, e.g. from
 * qat_model_from_checkpoint, at max_batch >= 1) and rt (loaded with preserve_all_tensors, one
 * input of the dataset's shape at batch 1 in float32, int8, uint8 or int16, one output) and fills *r
 * (free it with qat_parity_free, also after an error). Fails with QAT_ERR_USAGE when the model
 * has no quantizers or the file does not fit the model (an input shape, a layer whose tensor
 * has another number of values, no int8 tensor that names a layer). A 16x8 file (int16
 * activations, int16 input) is compared on its int16 grid: m's activation quantizers are moved
 * to that grid for good (reload the model to train or export it again). */
int qat_parity_run(qat_model *m, qat_rt_model *rt, const qat_dataset *ds, qat_parity_report *r);
void qat_parity_free(qat_parity_report *r);

/* The parity target for qat's own QAT exports (issue 6), and the bounds qat train adds at the
 * end of a run (issue 14): top-1 agreement, and the share of int8 logits at a rail. */
#define QAT_PARITY_TARGET_IDENTICAL 0.99
#define QAT_PARITY_TARGET_MAX_LSB 1
#define QAT_PARITY_TARGET_TOP1 0.999
#define QAT_PARITY_TARGET_SATURATED 0.01

/* part / whole, 0 for an empty whole: the report's shares */
static inline double qat_parity_share(int64_t part, int64_t whole) { return whole ? (double)part / (double)whole : 0.0; }

/* The criteria of the whole target (all four) that r misses, each with its figure and bound,
 * "; "-separated into buf (truncated to n bytes; "" when none). Returns how many are missed. */
int qat_parity_target_missed(const qat_parity_report *r, char *buf, size_t n);

/* 10 log10(signal / noise) in dB; +inf when noise is 0 (and signal is not). */
double qat_parity_sqnr_db(const qat_parity_stats *s);

#endif
