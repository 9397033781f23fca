/* Post-training calibration: activation ranges for int8 / int16x8 export measured on a
 * representative set run through the float model, with the TF converter's min/max observer
 * (its default), a percentile clip, or the clip that minimizes the quantization error (MSE).
 *
 * The ranges land in the model's activation fake-quant observers (qat_fq.observer), exactly
 * where quantization-aware training keeps them, so qat_export_int8_prepare / qat_export_int8
 * (and the int16x8 lowering) export a calibrated model as they export a QAT one. */
#ifndef QAT_CALIB_H
#define QAT_CALIB_H

#include <stdint.h>

#include "qat/config.h"
#include "qat/data.h"
#include "qat/model.h"

typedef enum qat_calib_method {
  QAT_CALIB_MINMAX = 0,     /* min and max over every sample (the converter's default) */
  QAT_CALIB_PERCENTILE = 1, /* each tail clipped at a percentile of the histogram */
  QAT_CALIB_MSE = 2,        /* the clip with the smallest squared quantization error */
} qat_calib_method;

/* Histogram bins per activation (percentile and MSE), and the clips MSE tries: the observed
 * range scaled by k / QAT_CALIB_MSE_STEPS, k = 1..QAT_CALIB_MSE_STEPS. */
#define QAT_CALIB_BINS 2048
#define QAT_CALIB_MSE_STEPS 128
#define QAT_CALIB_DEFAULT_PERCENTILE 99.99

typedef struct qat_calib_options {
  qat_calib_method method;
  double percentile; /* PERCENTILE: in (50, 100] */
  int qmin, qmax;    /* the activation grid MSE measures on: int8 -128..127 (the default when
                        both are 0), int16x8 -32768..32767 */
  int batch_size;    /* forward passes of at most this many samples (<= the model's max_batch) */
} qat_calib_options;

/* Range choosers over a histogram of `bins` equal bins covering [lo, hi] (counts[b] values in
 * [lo + b*w, lo + (b+1)*w), w = (hi - lo) / bins). Results always hold 0 (they are widened to
 * it, as every observer widens).
 *   percentile: min = the lower edge of the first bin at which more than (100 - p)% of the
 *     values lie at or below it, max the upper edge of the last bin with more than (100 - p)%
 *     at or above it (so at most (100 - p)% of the values fall outside each end);
 *   mse: for k = 1..steps the range [lo, hi] * k / steps, quantized on [qmin, qmax] with the
 *     asymmetric parameters qat_quant_params_from_range gives; the k whose fake quant of every
 *     bin centre (weighted by its count) has the smallest squared error, the smallest such k
 *     on ties.
 * An empty histogram (all counts 0) gives [min(lo, 0), max(hi, 0)]. Errors: bins < 1, lo > hi,
 * non-finite bounds, percentile outside (50, 100] or steps < 1 (QAT_ERR_USAGE). */
int qat_calib_percentile_range(const int64_t *counts, int bins, float lo, float hi, double percentile, float *min,
                               float *max);
int qat_calib_mse_range(const int64_t *counts, int bins, float lo, float hi, int steps, int qmin, int qmax, float *min,
                        float *max);

/* Builds the model of checkpoint ckpt with quantization switched on at batch max_batch: a
 * quantization-aware checkpoint as it was trained (*was_qat = 1; its ranges will be replaced),
 * a float one as if its config said `quantize: {mode: qat}` (*was_qat = 0; its folded conv
 * biases moved into the batch norms, as fine-tuning does). A checkpoint whose activations learn
 * their step size (LSQ) has no observers to calibrate: QAT_ERR_USAGE. */
int qat_calib_load_model(const char *ckpt, int max_batch, qat_config *cfg, qat_model **m, int *was_qat);

/* The representative set: `count` samples drawn with `seed` from file (an IDX image file, gzip
 * or plain, recognized by its magic; otherwise a CIFAR-10 binary batch file), or, when file is
 * NULL, from the config's training data (qat_data_load). The images must have the model's
 * input shape h x w x c. count >= the available samples takes them all. */
int qat_calib_load_samples(const qat_config *cfg, const char *file, int64_t count, uint64_t seed, int h, int w, int c,
                           qat_dataset *out);

/* Runs every sample of ds through the float model (fake quant off, inference mode) and sets
 * each observed activation quantizer's range (observer min/max, initialized) by opt->method.
 * Learned (LSQ) and fixed quantizers are left alone. */
int qat_calibrate(qat_model *m, const qat_dataset *ds, const qat_calib_options *opt);

/* The int8 grid on which every stored byte value 0..255 of ds (uint8 samples) is its own step:
 * its preprocessing is one affine map for all channels, v -> (v + k) * s with an integer k in
 * [-255, 0], so that quantizing the preprocessed value with the range [lo, hi] (the
 * preprocessed 0 and 255) gives exactly v - 128. 1 when it exists (lo, hi set), 0 for float
 * samples and for preprocessings that fall between steps (x / 127.5 - 1, per-channel mean/std). */
int qat_calib_byte_grid(const qat_dataset *ds, float *lo, float *hi);

/* The input quantizer takes the data's byte grid (qat_calib_byte_grid) and keeps it: a fixed
 * quantizer, its observer set to [lo, hi] so a checkpoint reloads the same parameters. The int8
 * input then loses nothing (256 byte values on 256 steps) and the exported --io uint8 input is
 * the raw byte, int8 the byte - 128: the preprocessing is folded into the input's scale and
 * zero point. 1 when pinned, 0 when the data has no byte grid (the observer then learns the
 * range as before) or the model has no observed input quantizer. */
int qat_calib_pin_input(qat_model *m, const qat_dataset *ds);

/* Observers start from data: before the first quant-aware step, `batches` batches
 * (m->max_batch samples each, drawn with `seed` from the training set, so a resumed run draws
 * the same) go through qat_calibrate's min/max pass, and each activation observer then goes on
 * with the configured kind (the EMA continues from the calibrated range). Does nothing when
 * every observer already has a range (a checkpoint's), for LSQ activations, or batches < 1. */
int qat_calib_seed_observers(qat_model *m, const qat_dataset *train, int64_t batches, uint64_t seed);

/* The logits' range fits the weights it is saved with: the same `batches` batches as
 * qat_calib_seed_observers go through the fake-quant model (inference mode, the deployed
 * model's arithmetic) and the observer of the quantizer that produces m->logits is widened to
 * the range of its input there. The EMA follows the logits one step late, and logits grow
 * fastest in short runs (a fine-tune's first steps, a network trained from scratch): without
 * this the int8 logits saturate (issue 14: 9 % after one step, 21 % after 20 steps from
 * scratch). Never narrows; only a linear (unactivated) observed quantizer; nothing for LSQ or
 * batches < 1. before/after: the range as [min, max] (equal when unchanged). */
int qat_calib_fit_logits(qat_model *m, const qat_dataset *train, int64_t batches, uint64_t seed, float before[2],
                         float after[2]);

/* Batch norm of a network never trained, frozen: when every BatchNormalization still has its
 * initial statistics (moving variance exactly 1 in every channel, as Keras and qat init write
 * them), `batches` batches drawn as above run through the float model with batch statistics and
 * the moving statistics become their average, so that the frozen BN normalizes as training-mode
 * BN would instead of passing a signal that shrinks layer after layer. *estimated: the number of
 * BatchNormalization layers estimated (0: statistics kept). */
int qat_calib_estimate_bn(qat_model *m, const qat_dataset *train, int64_t batches, uint64_t seed, int *estimated);

#endif
