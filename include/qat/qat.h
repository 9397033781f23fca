/* qat's public API: the few calls that train, export, run and compare, for programs that link
 * libqat (pkg-config --cflags --libs qat) and for the Python binding (python/qat, ctypes).
 * The module headers beside this one (model.h, train.h, export.h, runtime.h, parity.h, ...) are
 * installed too and give finer control.
 *
 * Every function that can fail returns 0 or a negative qat_status (qat/error.h) and leaves a
 * one-line message in qat_error_message(); nothing here prints or exits. */
#ifndef QAT_QAT_H
#define QAT_QAT_H

#include <stddef.h>
#include <stdint.h>

#include "qat/error.h"
#include "qat/runtime.h"
#include "qat/tflite.h"
#include "qat/version.h"

/* The library's version string ("0.1.0"), QAT_VERSION of the build that made libqat. */
const char *qat_version(void);

/* ---- training ---- */
typedef struct qat_train_request {
  const char *config;   /* YAML config path */
  const char *out_dir;  /* NULL: runs/<config name> */
  int epochs;           /* 0: the config's */
  int batch_size;       /* 0: the config's */
  int threads;          /* 0: the config's / all cores */
  int log_every;        /* > 0: steps.csv and TensorBoard events every N steps (0: 50) */
} qat_train_request;

typedef struct qat_train_summary {
  int epochs;
  int64_t steps;
  double train_loss, train_accuracy;
  int has_test;
  double test_loss, test_accuracy; /* QAT: the fake-quant model's */
  int has_float;
  double float_test_accuracy;
  char checkpoint[4200];
} qat_train_summary;

/* Loads the config, trains, writes checkpoints, log.csv, steps.csv and an events file. */
int qat_train_config(const qat_train_request *req, qat_train_summary *out);

/* ---- export ---- */
/* One export: mode float32 | float16 | dynamic | int8 | int16x8; io (int8 modes: int8, uint8,
 * float32; int16x8: int16, float32; NULL for the default); calibrate > 0: post-training
 * calibration with that many samples (method minmax | percentile | mse, percentile for the
 * percentile method, calibration_data NULL for the config's training data). */
typedef struct qat_export_request {
  const char *mode;
  const char *io;
  int64_t calibrate;
  const char *method;
  double percentile;
  const char *calibration_data;
} qat_export_request;

/* 1 for the five mode names above. */
int qat_export_mode_known(const char *mode);
/* Lowers checkpoint ckpt as req asks into *t (initialized here; free with
 * qat_tflite_model_free, also after an error). Messages name the checkpoint, the mode and the
 * reason; a mode this build cannot export is QAT_ERR_UNSUPPORTED. */
int qat_export_checkpoint(const char *ckpt, const qat_export_request *req, qat_tflite_model *t);
/* Writes export t of checkpoint ckpt atomically to out_path, as `qat export` does, and puts in
 * note (note_size bytes) one line on what its input expects: for an int8 or uint8 input on the
 * data's byte grid (qat_calib_byte_grid) the raw image bytes (uint8) or bytes - 128 (int8),
 * the preprocessing folded into its scale and zero point; otherwise the preprocessing formula
 * and the quantization to apply; "" for a float input. When the checkpoint has class names the
 * file carries TFLite Support's metadata (the model's name, the note as the input's
 * description, the input image's color space and normalization in stored units, the output's
 * labels file) and labels.txt packed into it (a zip appended to it), and labels.txt is written
 * beside it too (*labels_beside 1). *file_bytes: the file's size (may be NULL). */
int qat_export_save(const char *ckpt, qat_tflite_model *t, const char *out_path, char *note, size_t note_size,
                    size_t *file_bytes, int *labels_beside);
/* The same, written atomically to out_path (with labels.txt beside it when the checkpoint
 * has class names). */
int qat_export_file(const char *ckpt, const qat_export_request *req, const char *out_path);

/* ---- a trained network, float or fake-quant ---- */
typedef struct qat_net qat_net;
/* Rebuilds the checkpoint's model (its stored config) with its weights and ranges, for
 * batches of up to max_batch samples. */
int qat_net_load(const char *ckpt, int max_batch, qat_net **out);
void qat_net_free(qat_net *n);
/* Input shape (h, w, c), the output's values per sample (a classifier's classes; a segmenter's
 * H * W * classes; a regressor's outputs; a model with several outputs, theirs side by side in
 * model.outputs' order) and whether the model has quantizers. */
void qat_net_info(const qat_net *n, int *h, int *w, int *c, int *classes, int *quantized);
/* count samples of preprocessed floats (NHWC, count * h * w * c) through the model in
 * inference mode; outputs (count * qat_net_info's classes) out. fake_quant: 1 with fake quant on (a
 * quantization-aware model only), 0 float. */
int qat_net_forward(qat_net *n, const float *x, int64_t count, int fake_quant, float *logits);

/* ---- parity ---- */
/* The parity report (qat eval --compare) of checkpoint ckpt against int8 model tflite over
 * count samples x (preprocessed floats, NHWC) with labels, as one JSON object (malloc'd,
 * release with qat_free): samples, float/fakequant/int8 accuracy, top1_agreement and per
 * tensor the LSB statistics. x NULL: the checkpoint config's test set (limit samples, 0 all). */
int qat_parity_json(const char *ckpt, const char *tflite, const float *x, const int32_t *labels, int64_t count,
                    int64_t limit, char **json);
void qat_free(void *p);

#endif
