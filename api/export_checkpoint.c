/* qat_export_checkpoint: a checkpoint lowered to a TFLite model in any export mode, with
 * optional post-training calibration. Shared by `qat export`, `qat compare`, the public API
 * (include/qat/qat.h) and the Python binding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/calib.h"
#include "qat/config.h"
#include "qat/data.h"
#include "qat/atomic_file.h"
#include "qat/error.h"
#include "qat/export.h"
#include "qat/file.h"
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
  int hwc[3]; /* the samples as the data holds them: a sequence model's arrays [N, T, C] are (T, C, 1) */
  qat_spec_data_shape(s, hwc);
  rc = qat_calib_load_samples(cfg, req->calibration_data, req->calibrate, cfg->train.seed, hwc[0], hwc[1], hwc[2], &ds);
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


/* The preprocessing of cfg's data as a formula of the stored value v. */
static void preprocessing_formula(const qat_preproc *p, char *buf, size_t size) {
  if (!p->custom) {
    snprintf(buf, size, "v / 255 for bytes (uint8 images or arrays), v as stored for int8 and float arrays");
    return;
  }
  size_t k;
  if (p->rescale == 1.0f && p->offset == 0.0f) k = (size_t)snprintf(buf, size, "%sv", p->n_norm ? "(" : "");
  else
    k = (size_t)snprintf(buf, size, "%sv * %.9g %c %.9g", p->n_norm ? "(" : "", (double)p->rescale,
                         p->offset < 0 ? '-' : '+', fabs((double)p->offset));
  if (p->n_norm && k < size) {
    k += (size_t)snprintf(buf + k, size - k, " - mean) / std, mean");
    for (int c = 0; c < p->n_norm && k < size; c++)
      k += (size_t)snprintf(buf + k, size - k, "%s%.9g", c ? ", " : " [", (double)p->mean[c]);
    for (int c = 0; c < p->n_norm && k < size; c++)
      k += (size_t)snprintf(buf + k, size - k, "%s%.9g", c ? ", " : "], std [", (double)p->std[c]);
    if (k < size) snprintf(buf + k, size - k, "]");
  }
}

/* What t's input expects under pre (the checkpoint's data preprocessing), into buf; "" for a
 * float input. arrays: the data is .npy arrays, whose values need not be bytes. */
static void input_note(const qat_tflite_model *t, const qat_preproc *pre, int channels, int arrays, char *buf,
                       size_t size) {
  buf[0] = '\0';
  if (t->n_inputs < 1) return;
  const qat_tflite_tensor *in = &t->tensors[t->inputs[0].tensor];
  if (in->type == QAT_TFLITE_FLOAT32 || in->quant.n != 1) return;
  const qat_dataset bytes = {.c = channels, .pre = *pre};
  const char *type = in->type == QAT_TFLITE_UINT8 ? "uint8" : in->type == QAT_TFLITE_INT16 ? "int16" : "int8";
  const double s = in->quant.scale[0];
  const long long zp = (long long)in->quant.zero_point[0];
  float lo, hi, grid_scale;
  int32_t grid_zp;
  if (in->type != QAT_TFLITE_INT16 && qat_calib_byte_grid(&bytes, &lo, &hi) &&
      !qat_quant_params_from_range(lo, hi, -128, 127, &grid_scale, &grid_zp) && (float)s == grid_scale &&
      zp == grid_zp + (in->type == QAT_TFLITE_UINT8 ? 128 : 0)) {
    snprintf(buf, size, "input: %s, the raw image bytes%s (the preprocessing is folded into its scale %.9g and "
             "zero point %lld)", type, in->type == QAT_TFLITE_UINT8 ? " 0..255" : " - 128", s, zp);
    return;
  }
  char formula[512];
  preprocessing_formula(pre, formula, sizeof formula);
  if (arrays) {
    snprintf(buf, size, "input: %s: it expects each array value v as x = %s, quantized as q = round(x / %.9g) %c %lld",
             type, formula, s, zp < 0 ? '-' : '+', zp < 0 ? -zp : zp);
    return;
  }
  snprintf(buf, size, "input: %s, not raw bytes: it expects x = %s, quantized as q = round(x / %.9g) %c %lld (a "
           "preprocessing that puts each byte on a step of its own, such as rescale 1/255, folds into the input)",
           type, formula, s, zp < 0 ? '-' : '+', zp < 0 ? -zp : zp);
}

/* The input's normalization in stored units (TFLite Support's NormalizationOptions: x =
 * (v - mean) / std per channel), for image data: x = (v * r + o - m) / s is (v - (m - o) / r)
 * / (s / r). 0 for arrays, whose values need not be pixels. */
static int byte_normalization(const qat_data_spec *d, const qat_preproc *p, int c, qat_tflite_metadata *md) {
  if (d->kind == QAT_DATASET_NPY || c < 1 || c > QAT_MAX_CHANNELS) return 0;
  md->image_channels = c;
  const float r = p->custom ? p->rescale : 1.0f / 255.0f, o = p->custom ? p->offset : 0.0f;
  if (r == 0.0f) return 0;
  const int n = p->n_norm ? p->n_norm : 1;
  for (int k = 0; k < n; k++) {
    const float m = p->n_norm ? p->mean[k] : 0.0f, s = p->n_norm ? p->std[k] : 1.0f;
    /* in double, and a value within float rounding of a whole number is that number: a
     * rescale of 1/255 stored as a float means a std of 255, not 254.999985 */
    double mean = ((double)m - o) / r, std = (double)s / r;
    md->mean[k] = (float)(fabs(mean - round(mean)) < 1e-5 * fabs(mean) + 1e-6 ? round(mean) : mean);
    md->std[k] = (float)(fabs(std - round(std)) < 1e-5 * std ? round(std) : std);
  }
  return n;
}

/* "models/mobilenet_v2.h5" -> "mobilenet_v2" */
static void stem(const char *path, char *buf, size_t size) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  size_t n = dot && dot > base ? (size_t)(dot - base) : strlen(base);
  snprintf(buf, size, "%.*s", (int)n, base);
}

int qat_export_save(const char *ckpt, qat_tflite_model *t, const char *out_path, char *note, size_t note_size,
                    size_t *file_bytes, int *labels_beside) {
  *labels_beside = 0;
  char *labels = NULL, name[256];
  size_t labels_len = 0;
  uint8_t *bytes = NULL;
  size_t size = 0;
  qat_config cfg; /* one read of the checkpoint: preprocessing and class names */
  int rc = qat_checkpoint_config(ckpt, &cfg);
  if (rc) return rc;
  qat_tflite_metadata md = {.description = "trained and exported by qat " QAT_VERSION};
  /* named after what it came from, not where it goes: the same export gives the same bytes */
  if (cfg.model.keras) stem(cfg.model.keras, name, sizeof name);
  else snprintf(name, sizeof name, "qat model");
  md.name = name;
  qat_preproc pre;
  const int c = cfg.model.input_shape[2];
  if (!(rc = qat_preproc_from_spec(&cfg.data, c, 0, &pre))) {
    md.n_norm = byte_normalization(&cfg.data, &pre, c, &md);
    input_note(t, &pre, c, cfg.data.kind == QAT_DATASET_NPY, note, note_size);
    md.input_description = note[0] ? note : NULL;
  }
  const int n_names = cfg.data.n_class_names;
  if (!rc && n_names > 0) {
    for (int i = 0; i < n_names; i++) labels_len += strlen(cfg.data.class_names[i]) + 1;
    if (!(labels = malloc(labels_len + 1))) rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    for (int i = 0, k = 0; !rc && i < n_names; i++) k += sprintf(labels + k, "%s\n", cfg.data.class_names[i]);
    md.labels_file = "labels.txt";
  }
  /* Only a classifier with class names gets metadata: without a labels file it would tell a
   * runtime nothing it can use, and cost bytes (700 on a model the converter writes smaller). */
  if (!rc && labels) rc = qat_tflite_metadata_build(t, &md);
  if (!rc) rc = qat_tflite_serialize(t, &bytes, &size);
  if (!rc && labels) {
    const char *file = "labels.txt";
    const void *data = labels;
    rc = qat_tflite_append_files(&bytes, &size, 1, &file, &data, &labels_len);
  }
  if (!rc) rc = qat_atomic_write(out_path, bytes, size);
  if (!rc && labels) {
    /* and beside it, for tools that read no packed files */
    char path[4200];
    qat_path_beside(out_path, "labels.txt", path, sizeof path);
    if (!(rc = qat_atomic_write(path, labels, labels_len))) *labels_beside = 1;
  }
  if (!rc && file_bytes) *file_bytes = size;
  qat_config_free(&cfg);
  free(labels);
  free(bytes);
  return rc;
}
