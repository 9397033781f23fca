/* What the CLI commands share with each other (not a library API). */
#ifndef QAT_CLI_H
#define QAT_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qat/data.h"
#include "qat/qat.h"
#include "qat/runtime.h"
#include "qat/tflite.h"

int qat_cmd_eval_tflite(int argc, char **argv); /* cli/cmd_eval_tflite.c */
int qat_cmd_export(int argc, char **argv);      /* cli/cmd_export.c */
int qat_cmd_compare(int argc, char **argv);     /* cli/cmd_compare.c */

/* qat train's parity check (cli/cmd_parity.c): CKPT exported to int8 in memory against its
 * fake-quant model on the first `limit` test samples; one line on f and a warning when the
 * parity target is not met. Nothing for a model without quantization. */
int qat_cli_parity_check(const char *ckpt, int limit, const char *what, FILE *f);
/* qat_rt_model_load_file, but a FIFO, a device or a directory is refused before anything
 * is read (qat_file_read_all) and the size cap is checked before reading. */
int qat_cli_load_model(const char *path, const qat_rt_options *opt, qat_rt_model **out);

/* A data source named on the command line, as the samples to evaluate or calibrate on: a
 * folder of class subfolders (its test/ split when it has one, else all of it, resized to
 * input_shape h, w, c), a .npz (Keras's x_train, y_train, x_test, y_test: the test arrays when
 * present, else the training ones), or a YAML
 * config (its data: section's test split, else its training split, with its preprocessing).
 * *recognized = 0 (and QAT_OK) when source is none of these: the caller's own sources apply. */
struct qat_dataset;
struct qat_data_info;
/* info (may be NULL) receives the classes the data names (free it with qat_data_info_free). */
int qat_cli_data_source(const char *source, const int input_shape[3], struct qat_dataset *out, int *recognized,
                        struct qat_data_info *info);

/* s as a JSON string literal: quotes, with '"', '\\' and control characters escaped. */
void qat_cli_json_string(FILE *f, const char *s);

/* qat eval MODEL.tflite's measurement: every sample of ds through the model in qat's runtime
 * (batch 1, pixels / 255, quantized at an int8/uint8 input as TFLite's QUANTIZE does),
 * top-1 accuracy and time per sample. data_name names the data in messages. Free with
 * qat_tflite_eval_free (also after an error). */
typedef struct qat_tflite_eval {
  int64_t samples, correct;
  double accuracy, ms_per_sample; /* accuracy: the metric ("metric" names it) */
  const char *metric;  /* "accuracy"; with targets other than class labels: "accuracy" per position
                          (label maps), binary accuracy (binary_crossentropy) or "mae" */
  int classes, input_type; /* classes: 0 with targets (no per-class figures) */
  int64_t *per_n, *per_ok, *confusion; /* classes, classes, classes x classes */
  double mean_iou;     /* a label map's: Keras's MeanIoU over the classes seen or predicted; -1 none */
  int iou_classes;     /* the classes it averages */
} qat_tflite_eval;
/* loss: the training config's train.loss where known (a binary_crossentropy model's outputs are
 * judged as binary decisions; from_logits: at 0, else at 0.5); -1 unknown. */
int qat_eval_tflite_dataset(const char *model_path, const qat_rt_options *opt, const qat_dataset *ds,
                            const char *data_name, int loss, int from_logits, qat_tflite_eval *res);
void qat_tflite_eval_free(qat_tflite_eval *res);

/* qat_export_request and qat_export_checkpoint live in the library: include/qat/qat.h. */

/* cli/cmd_predict.c: `qat predict`, and what eval and export share about the user's data. */
int qat_cmd_predict(int argc, char **argv);
struct qat_model;
/* PREFIX.x.npy (preprocessed float32 inputs, [N, H, W, C]) and PREFIX.y.npy (int64 labels). */
int qat_dump_testset(const char *prefix, const qat_dataset *ds);
/* Per-class sample counts and top-1 hits of a model over ds (malloc'd, num_classes each). */
int qat_per_class(struct qat_model *m, const qat_dataset *ds, int batch, int fake_quant, int64_t **per_n,
                  int64_t **per_ok);
/* Keras's MeanIoU from a k x k confusion matrix (rows: labels, columns: predictions): the mean
 * over the classes that occur in either of the per-class intersection over union; *classes
 * gets their count. */
double qat_mean_iou(const int64_t *conf, int64_t k, int *classes);
/* A label-map model's mean IoU over ds (every position's argmax against its label); -1 for
 * any other model. */
int qat_model_mean_iou(struct qat_model *m, const qat_dataset *ds, int batch, int fake_quant, double *miou,
                       int *classes);

#endif
