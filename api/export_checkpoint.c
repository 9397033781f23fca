/* qat_export_checkpoint: a checkpoint lowered to a TFLite model in any export mode, with
 * optional post-training calibration. Shared by `qat export`, `qat compare`, the public API
 * (include/qat/qat.h) and the Python binding. */
#include <stdio.h>
#include <string.h>

#include "qat/calib.h"
#include "qat/config.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/model.h"
#include "qat/qat.h"
#include "qat/tflite.h"
#include "qat/train.h"

/* The modes, in the table's order; int8 and int16x8 need activation ranges. */
static const char *const modes[] = {"float32", "float16", "dynamic", "int8", "int16x8"};
#define N_MODES (int)(sizeof modes / sizeof modes[0])

static int mode_index(const char *mode) {
  for (int k = 0; k < N_MODES; k++)
    if (!strcmp(mode, modes[k])) return k;
  return -1;
}

int qat_export_mode_known(const char *mode) { return mode && mode_index(mode) >= 0; }

static int needs_ranges(const char *mode) { return !strcmp(mode, "int8") || !strcmp(mode, "int16x8"); }

/* The model with its ranges: calibrated (--calibrate) or as trained. */
static int load_quantized(const char *ckpt, const qat_export_request *req, qat_config *cfg, qat_model **m) {
  if (req->calibrate <= 0) return qat_model_from_checkpoint(ckpt, 1, cfg, m);
  qat_calib_options co = {.method = QAT_CALIB_MINMAX, .percentile = req->percentile, .batch_size = 32};
  if (!req->method || !strcmp(req->method, "minmax")) co.method = QAT_CALIB_MINMAX;
  else if (!strcmp(req->method, "percentile")) co.method = QAT_CALIB_PERCENTILE;
  else if (!strcmp(req->method, "mse")) co.method = QAT_CALIB_MSE;
  else return qat_fail(QAT_ERR_USAGE, "--calibration-method '%s' is unknown (expected minmax, percentile or mse)",
                       req->method);
  if (co.percentile == 0) co.percentile = QAT_CALIB_DEFAULT_PERCENTILE;
  if (!strcmp(req->mode, "int16x8")) co.qmin = -32768, co.qmax = 32767;
  int was_qat = 0;
  int rc = qat_calib_load_model(ckpt, 32, cfg, m, &was_qat);
  if (rc) return rc;
  qat_dataset ds;
  const qat_model_spec *s = &(*m)->spec;
  rc = qat_calib_load_samples(cfg, req->calibration_data, req->calibrate, cfg->train.seed, s->input_shape[0],
                              s->input_shape[1], s->input_shape[2], &ds);
  if (!rc) {
    rc = qat_calibrate(*m, &ds, &co);
    qat_dataset_free(&ds);
  }
  if (rc) {
    qat_fail_prefix(rc, "calibration: ");
    qat_model_free(*m);
    *m = NULL;
    qat_config_free(cfg);
  }
  return rc;
}

int qat_export_checkpoint(const char *ckpt, const qat_export_request *req, qat_tflite_model *t) {
  qat_tflite_model_init(t);
  if (mode_index(req->mode) < 0)
    return qat_fail(QAT_ERR_USAGE, "--mode '%s' is unknown (expected float32, float16, dynamic, int8 or int16x8)",
                    req->mode);
  if (req->calibrate > 0 && !needs_ranges(req->mode))
    return qat_fail(QAT_ERR_USAGE, "--calibrate applies to --mode int8 and int16x8 (float32, float16 and dynamic "
                    "need no data), not to --mode %s", req->mode);
  const int int16x8 = !strcmp(req->mode, "int16x8");
  if (req->io && strcmp(req->mode, "int8") != 0 && !int16x8)
    return qat_fail(QAT_ERR_USAGE, "--io applies to --mode int8 and int16x8 only (got --mode %s)", req->mode);
  qat_export_io io = int16x8 ? QAT_EXPORT_IO_INT16 : QAT_EXPORT_IO_INT8;
  if (req->io && int16x8) {
    if (!strcmp(req->io, "int16")) io = QAT_EXPORT_IO_INT16;
    else if (!strcmp(req->io, "float32")) io = QAT_EXPORT_IO_FLOAT32;
    else return qat_fail(QAT_ERR_USAGE, "--io '%s' is unknown for --mode int16x8 (expected int16 or float32)", req->io);
  } else if (req->io) {
    if (!strcmp(req->io, "int8")) io = QAT_EXPORT_IO_INT8;
    else if (!strcmp(req->io, "uint8")) io = QAT_EXPORT_IO_UINT8;
    else if (!strcmp(req->io, "float32")) io = QAT_EXPORT_IO_FLOAT32;
    else return qat_fail(QAT_ERR_USAGE, "--io '%s' is unknown (expected int8, uint8 or float32)", req->io);
  }
  qat_config cfg;
  memset(&cfg, 0, sizeof cfg);
  qat_model *m = NULL;
  int rc;
  if (needs_ranges(req->mode)) {
    /* the ranges: the QAT observers loaded with the weights, or calibrated into them */
    if ((rc = load_quantized(ckpt, req, &cfg, &m))) goto done;
    if ((rc = qat_export_int8_prepare(m))) goto failed;
    if (!strcmp(req->mode, "int8")) rc = qat_export_int8(m, io, t);
    else rc = qat_export_int16x8(m, io, t);
  } else {
    /* float weights as they are: a QAT checkpoint's too */
    if ((rc = qat_model_from_checkpoint(ckpt, 1, &cfg, &m))) goto done;
    if (!strcmp(req->mode, "float32")) rc = qat_export_float32(m, t);
    else if (!strcmp(req->mode, "float16")) rc = qat_export_float16(m, t);
    else rc = qat_export_dynamic(m, t);
  }
failed:
  /* The lowering's message already names the layer as CKPT:/config:line:column. */
  if (rc) qat_fail_prefix(rc, "cannot export as %s: ", req->mode);
done:
  if (rc) qat_tflite_model_free(t);
  qat_model_free(m);
  qat_config_free(&cfg);
  return rc;
}

