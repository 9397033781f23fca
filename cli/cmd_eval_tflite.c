/* qat eval MODEL.tflite: test accuracy of a .tflite classifier in qat's own runtime (bit-exact
 * with TensorFlow Lite's reference kernels), one invocation per sample (batch 1).
 *
 * Pixels become pixel / 255.0f (as qat's training batcher feeds them). A float32 input takes
 * them as they are; an int8 or uint8 input takes them quantized with the input tensor's scale
 * and zero point exactly as TFLite's QUANTIZE reference kernel (AffineQuantize) would:
 * q = clamp((int32)round(x / scale) + zero_point), round half away from zero, in float. A
 * uint8 input without quantization parameters takes the raw pixel bytes. The prediction is
 * the first index of the largest output value (np.argmax), on the raw output values (a
 * positive output scale keeps the order).
 *
 * Exit codes: 0, 2 usage, 3 a model or data file that is malformed, cannot be run or does not
 * fit the data, 4 I/O. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>

#include "qat/data.h"
#include "qat/error.h"
#include "qat/runtime.h"
#ifdef QAT_CLI_HAS_CONFIG
#include "qat/tflite.h"
#endif
#include "cli/cli.h"

static const char usage_eval_tflite[] =
    "usage: qat eval MODEL.tflite [--data SOURCE | --images F --labels F] [options]\n"
    "\n"
    "Runs MODEL over a test set in qat's runtime (bit-exact with TensorFlow Lite's reference\n"
    "kernels), one sample per invocation, and reports accuracy, per-class accuracy and the\n"
    "time per sample. Samples are preprocessed as training does (pixels / 255 by default, a\n"
    "config's rescale/offset/mean/std); an int8/uint8 input quantizes them with its own scale and\n"
    "zero point as TFLite's QUANTIZE does. Where MODEL carries class labels (labels.txt packed\n"
    "in it or beside it) and the data names its classes (a folder's subfolders, a config's\n"
    "data.class_names), they are matched by name; data that only numbers its classes is taken\n"
    "in the model's label order, with a note that says so.\n"
    "\n"
    "options:\n"
    "  --data SOURCE         fashion-mnist: its test set (default; $QAT_FASHION_MNIST_DIR\n"
    "                        or " QAT_FASHION_MNIST_DIR "); a folder of class subfolders (its\n"
    "                        test/ split if it has one, resized to the model's input); a .npz\n"
    "                        with Keras's x_train, y_train, x_test, y_test (the test arrays); or\n"
    "                        a YAML config (its data: section's test split, preprocessing\n"
    "                        included)\n"
    "  --images F --labels F an IDX image/label pair (gzip or plain); labels < outputs\n"
    "  --limit N             evaluate the first N samples only\n"
    "  --confusion           print the confusion matrix (rows: true class, columns: predicted)\n"
    "  --flavor K            litert (default) or tflm reference kernels\n"
    "  --json                print one JSON object (accuracy, per_class, samples,\n"
    "                        ms_per_sample, and confusion with --confusion)\n"
    "  -h, --help            this help\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "qat: error: eval: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see 'qat eval --help')\n");
  return 2;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void shape_str(char *buf, size_t len, const qat_rt_tensor_info *t) {
  size_t k = (size_t)snprintf(buf, len, "%s [", qat_rt_type_name(t->type));
  for (int i = 0; i < t->rank && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, i ? ",%d" : "%d", t->dims[i]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

/* The Fashion-MNIST test pair only (qat_data_load would read the training set too). */
static int load_fashion_test(qat_dataset *ds) {
  const char *dir = getenv(QAT_FASHION_MNIST_DIR_ENV);
  if (!dir || !*dir) dir = QAT_FASHION_MNIST_DIR;
  static const char *const stems[2] = {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  char paths[2][PATH_MAX];
  int missing = 0;
  for (int i = 0; i < 2; i++) {
    int n = snprintf(paths[i], sizeof paths[i], "%s/%s.gz", dir, stems[i]);
    if (n < 0 || (size_t)n >= sizeof paths[i])
      return qat_fail(QAT_ERR_USAGE, "%s: path too long", dir);
    if (access(paths[i], F_OK) != 0) {
      snprintf(paths[i], sizeof paths[i], "%s/%s", dir, stems[i]);
      missing |= access(paths[i], F_OK) != 0;
    }
  }
  int rc = qat_idx_load(paths[0], paths[1], 10, ds);
  if (rc == QAT_ERR_IO && missing) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", qat_error_message());
    return qat_fail(rc, "%s (install Debian's dataset-fashion-mnist, or point %s at a directory "
                    "holding the Fashion-MNIST files)", msg, QAT_FASHION_MNIST_DIR_ENV);
  }
  return rc;
}

/* TFLite's AffineQuantize: static_cast<int32>(TfLiteRound(val / scale)) + zero_point, clamped
 * (TfLiteRound is std::round: half away from zero), in float. */
static int32_t quantize_pixel(float x, float scale, int32_t zp, int32_t lo, int32_t hi) {
  float r = roundf(x / scale);
  /* r is finite and small for a validated (normal, positive) scale and x in [0, 1], but keep
   * the conversion defined whatever the file says. */
  int32_t q;
  if (!(r > -2147483648.0f)) q = INT32_MIN;
  else if (r >= 2147483648.0f) q = INT32_MAX;
  else q = (int32_t)r;
  int64_t v = (int64_t)q + zp;
  return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

typedef struct eval_input {
  int type;
  float scale;
  int32_t zp;
  int raw_pixels; /* uint8 without quantization: the pixel bytes as they are */
} eval_input;

/* x: the sample as the model's floats (qat_dataset_get_floats: preprocessed as training);
 * px: its stored bytes, for a raw uint8 input. */
static void fill_input(const eval_input *in, const float *x, const uint8_t *px, size_t n, void *dst) {
  switch (in->type) {
  case QAT_RT_FLOAT32:
    memcpy(dst, x, n * sizeof *x);
    break;
  case QAT_RT_INT8: {
    int8_t *d = dst;
    for (size_t k = 0; k < n; k++) d[k] = (int8_t)quantize_pixel(x[k], in->scale, in->zp, -128, 127);
    break;
  }
  case QAT_RT_INT16: { /* 16x8 models: symmetric, zero point 0 */
    int16_t *d = dst;
    for (size_t k = 0; k < n; k++) d[k] = (int16_t)quantize_pixel(x[k], in->scale, in->zp, -32768, 32767);
    break;
  }
  default: { /* UINT8 */
    uint8_t *d = dst;
    if (in->raw_pixels) memcpy(d, px, n);
    else
      for (size_t k = 0; k < n; k++) d[k] = (uint8_t)quantize_pixel(x[k], in->scale, in->zp, 0, 255);
    break;
  }
  }
}

/* Sample s of ds through m: its floats (xf, per values) into the input xin, then the model. */
static int run_sample(qat_rt_model *m, const eval_input *in, const qat_dataset *ds, int64_t s, float *xf, size_t per,
                      void *xin) {
  qat_dataset_get_floats(ds, s, xf);
  fill_input(in, xf, ds->images ? ds->images + (size_t)s * per : NULL, per, xin);
  int rc = qat_rt_invoke(m);
  if (rc) qat_fail_prefix(rc, "sample %lld: ", (long long)s);
  return rc;
}

#ifdef QAT_CLI_HAS_CONFIG
/* The data's classes against the labels the model carries (labels.txt packed in it, or beside
 * it; the full build's reader): where the data names its classes they are matched by name, and
 * its labels renumbered to the model's order when that differs (a class the model lacks is an
 * error); where it only numbers them, a note says whose order is assumed, since a permuted
 * numbering reads as a wrong model. */
static int match_classes(const char *model_path, const char *data_name, qat_dataset *ds, const qat_data_info *info) {
  char **names = NULL;
  int n = 0, rc = qat_tflite_read_labels(model_path, NULL, 0, &names, &n);
  if (rc || n == 0 || ds->targets) goto done;
  if (info->n_class_names == 0) {
    fprintf(stderr, "qat: note: %s numbers its classes without names; class k is taken as the model's k-th label (0: %s%s%s%s)\n",
            data_name, names[0], n > 1 ? ", 1: " : "", n > 1 ? names[1] : "", n > 2 ? ", ..." : "");
    goto done;
  }
  uint8_t map[256];
  int reordered = 0;
  for (int i = 0; i < info->n_class_names && i < 256; i++) {
    int j = 0;
    while (j < n && strcmp(names[j], info->class_names[i])) j++;
    if (j == n || j > 255) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: class '%s' is not among the %d labels of %s", data_name, info->class_names[i], n,
                    model_path);
      goto done;
    }
    map[i] = (uint8_t)j;
    reordered |= j != i;
  }
  if (reordered) {
    for (int64_t k = 0; k < ds->n; k++)
      if (ds->labels[k] < info->n_class_names) ds->labels[k] = map[ds->labels[k]];
    fprintf(stderr, "qat: note: %s names its classes in another order than %s; matched by name\n", data_name, model_path);
  }
done:
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}
#endif

/* Samples [s0, s1) on model mt (one thread's share): predictions into preds, the invoking time
 * returned; a failure recorded as the lowest failing sample's (fail_*). */
static double classify_range(qat_rt_model *mt, const eval_input *in, const qat_dataset *ds, size_t per, int in_idx,
                             int out_idx, const qat_rt_tensor_info *to, int64_t s0, int64_t s1, int *preds,
                             int64_t *fail_at, int *fail_rc, char *fail_msg, size_t fail_cap) {
  float *xf = malloc(per * sizeof *xf);
  void *xin = qat_rt_tensor_data(mt, in_idx);
  const void *yout = qat_rt_tensor_data(mt, out_idx);
  double busy = 0;
  for (int64_t s = s0; s < s1; s++) {
    int r = xf ? QAT_OK : qat_fail(QAT_ERR_NOMEM, "out of memory");
    const double t0 = now_s();
    if (!r) r = run_sample(mt, in, ds, s, xf, per, xin);
    busy += now_s() - t0;
    if (r) {
#pragma omp critical(qat_eval_failure)
      if (s < *fail_at) {
        *fail_at = s, *fail_rc = r;
        snprintf(fail_msg, fail_cap, "%s", qat_error_message());
      }
      continue;
    }
    preds[s] = qat_rt_argmax(to->type, yout, to->n_elems);
  }
  free(xf);
  return busy;
}

/* Every sample's predicted class into preds, the test set split over the OpenMP threads, each
 * with a copy of the model (m itself on the first): throughput instead of one image at a time.
 * The kernels inside run on one thread each (nested parallelism is off) and every sample's
 * result is the same on any thread, so the tallies do not depend on the thread count. busy_s:
 * the time the threads spent invoking, summed. On a failure, the lowest failing sample's error
 * (its message copied out of the thread that had it). */
static int classify_all(const char *model_path, const qat_rt_options *opt, qat_rt_model *m, const eval_input *in,
                        const qat_dataset *ds, size_t per, int in_idx, int out_idx, const qat_rt_tensor_info *to,
                        int *preds, double *busy_s) {
  enum { MIN_SAMPLES_PER_THREAD = 64 };
  int threads = omp_get_max_threads();
  if (threads > ds->n / MIN_SAMPLES_PER_THREAD) threads = (int)(ds->n / MIN_SAMPLES_PER_THREAD);
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  qat_rt_model *copies[64] = {m};
  int rc = QAT_OK;
  for (int t = 1; t < threads && !rc; t++) rc = qat_cli_load_model(model_path, opt, &copies[t]);
  int64_t fail_at = ds->n;
  int fail_rc = QAT_OK;
  char fail_msg[512] = "";
  double busy = 0;
  /* one share: no parallel region around it, whose team of one would leave the kernels' own
   * regions nested in it (a new team each: a 20 us sample took 0.5-0.9 ms at two threads) */
  if (!rc && threads == 1)
    busy = classify_range(m, in, ds, per, in_idx, out_idx, to, 0, ds->n, preds, &fail_at, &fail_rc, fail_msg,
                          sizeof fail_msg);
  else if (!rc) {
#pragma omp parallel num_threads(threads) reduction(+ : busy)
    {
      const int t = omp_get_thread_num();
      busy += classify_range(copies[t], in, ds, per, in_idx, out_idx, to, ds->n * t / threads,
                             ds->n * (t + 1) / threads, preds, &fail_at, &fail_rc, fail_msg, sizeof fail_msg);
    }
  }
  for (int t = 1; t < threads; t++) qat_rt_model_free(copies[t]);
  if (rc) return rc;
  if (fail_rc) return qat_fail(fail_rc, "%s", fail_msg);
  *busy_s = busy;
  return QAT_OK;
}

/* One sample's metric against targets that are not one class label: per-position accuracy of a
 * label map (its predictions counted into conf, k x k, when given), binary accuracy, or the mean
 * absolute error. */
static double target_metric(const qat_rt_tensor_info *to, const void *y, const float *t, int64_t len, int binary,
                            float cut, int64_t *conf) {
  if (to->n_elems != len) { /* a label map: k classes at each of len positions */
    const int64_t k = to->n_elems / len;
    const size_t es = to->bytes / (size_t)to->n_elems;
    int64_t ok = 0;
    for (int64_t p = 0; p < len; p++) {
      const int pred = qat_rt_argmax(to->type, (const uint8_t *)y + (size_t)(p * k) * es, k);
      const int64_t truth = (int64_t)t[p];
      ok += pred == truth;
      if (conf && truth >= 0 && truth < k) conf[truth * k + pred]++;
    }
    return (double)ok / (double)len;
  }
  double sum = 0;
  for (int64_t k = 0; k < len; k++) {
    const float v = qat_rt_dequantized(to, y, k);
    sum += binary ? (double)((v > cut) == (t[k] > 0.5f)) : fabs((double)v - (double)t[k]);
  }
  return sum / (double)len;
}

int qat_eval_tflite_dataset(const char *model_path, const qat_rt_options *opt, const qat_dataset *ds,
                            const char *data_name, int loss, int from_logits, qat_tflite_eval *res) {
  qat_rt_model *m = NULL;
  int64_t *per_n = NULL, *per_ok = NULL, *conf = NULL;
  int *preds = NULL;
  float *xf = NULL;
  memset(res, 0, sizeof *res);
  res->mean_iou = -1;
  int rc = qat_cli_load_model(model_path, opt, &m);
  if (rc) goto fail;
  if (qat_rt_num_inputs(m) != 1 || qat_rt_num_outputs(m) != 1) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: has %d inputs and %d outputs; eval needs one image input "
                  "and one class-score output", model_path, qat_rt_num_inputs(m), qat_rt_num_outputs(m));
    goto fail;
  }
  const int in_idx = qat_rt_input(m, 0), out_idx = qat_rt_output(m, 0);
  qat_rt_tensor_info ti, to;
  if ((rc = qat_rt_tensor(m, in_idx, &ti)) || (rc = qat_rt_tensor(m, out_idx, &to))) goto fail;
  char shape[200];
  eval_input in = {ti.type, 0.0f, 0, 0};
  if (ti.type == QAT_RT_INT8 || ti.type == QAT_RT_UINT8 || ti.type == QAT_RT_INT16) {
    if (ti.n_scales == 0 && ti.type == QAT_RT_UINT8) {
      in.raw_pixels = 1;
    } else if (ti.n_scales != 1) {
      shape_str(shape, sizeof shape, &ti);
      rc = qat_fail(QAT_ERR_FORMAT, "%s: input '%s' (%s) has %s quantization; eval needs one "
                    "scale and zero point", model_path, ti.name, shape, ti.n_scales ? "per-axis" : "no");
      goto fail;
    } else {
      in.scale = ti.scales[0];
      in.zp = (int32_t)ti.zero_points[0];
      if (!(in.scale > 0.0f) || !isfinite(in.scale)) {
        rc = qat_fail(QAT_ERR_FORMAT, "%s: input '%s' has scale %g", model_path, ti.name, (double)in.scale);
        goto fail;
      }
    }
  } else if (ti.type != QAT_RT_FLOAT32) {
    shape_str(shape, sizeof shape, &ti);
    rc = qat_fail(QAT_ERR_FORMAT, "%s: input '%s' is %s; eval feeds float32, int8, int16 or uint8 inputs",
                  model_path, ti.name, shape);
    goto fail;
  }
  if (to.type != QAT_RT_FLOAT32 && to.type != QAT_RT_INT8 && to.type != QAT_RT_UINT8 &&
      to.type != QAT_RT_INT16 && to.type != QAT_RT_INT32) {
    shape_str(shape, sizeof shape, &to);
    rc = qat_fail(QAT_ERR_FORMAT, "%s: output '%s' is %s; eval reads float32, int8, int16, uint8 or int32 "
                  "class scores", model_path, to.name, shape);
    goto fail;
  }

  const size_t per = (size_t)ds->h * ds->w * ds->c;
  if ((int64_t)per != ti.n_elems) {
    shape_str(shape, sizeof shape, &ti);
    rc = qat_fail(QAT_ERR_FORMAT, "%s: input '%s' (%s) takes %lld values per invocation, the images "
                  "are %dx%dx%d", model_path, ti.name, shape, (long long)ti.n_elems, ds->h, ds->w, ds->c);
    goto fail;
  }
  if (ds->targets) {
    const int64_t len = ds->target_len;
    const int map = to.n_elems != len;
    if (ds->n == 0 || (map && (!ds->target_ints || to.n_elems % len || to.n_elems / len < 2))) {
      shape_str(shape, sizeof shape, &to);
      rc = qat_fail(QAT_ERR_FORMAT, "%s: %lld targets per sample do not fit the output '%s' (%s): expected as many "
                    "values, or a label map of one class per position", data_name, (long long)len, to.name, shape);
      goto fail;
    }
    if (!(xf = malloc(per * sizeof *xf))) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
      goto fail;
    }
    const int binary = !map && loss == QAT_LOSS_BINARY_CROSSENTROPY;
    void *xin = qat_rt_tensor_data(m, in_idx);
    const void *yout = qat_rt_tensor_data(m, out_idx);
    /* a label map's confusion over every position, for the mean IoU */
    const int64_t k = map ? to.n_elems / len : 0;
    if (map && k <= 256 && !(conf = calloc((size_t)(k * k), sizeof *conf))) {
      rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
      goto fail;
    }
    double sum = 0, t0 = now_s();
    for (int64_t s = 0; s < ds->n; s++) {
      if ((rc = run_sample(m, &in, ds, s, xf, per, xin))) goto fail;
      sum += target_metric(&to, yout, ds->targets + s * len, len, binary, from_logits ? 0.0f : 0.5f, conf);
    }
    res->mean_iou = -1;
    if (conf) {
      res->mean_iou = qat_mean_iou(conf, k, &res->iou_classes);
      free(conf);
      conf = NULL;
    }
    res->ms_per_sample = (now_s() - t0) * 1e3 / (double)ds->n;
    res->samples = ds->n;
    res->accuracy = sum / (double)ds->n;
    res->metric = map || binary ? "accuracy" : "mae";
    res->input_type = ti.type;
    free(xf);
    qat_rt_model_free(m);
    return QAT_OK;
  }
  /* Classes: the output's scores per sample (at most 256, an IDX label's range). */
  if (to.n_elems < 1 || to.n_elems > 256) {
    shape_str(shape, sizeof shape, &to);
    rc = qat_fail(QAT_ERR_FORMAT, "%s: output '%s' (%s) gives %lld scores per sample; eval needs 1 to "
                  "256 classes", model_path, to.name, shape, (long long)to.n_elems);
    goto fail;
  }
  const int nc = (int)to.n_elems;
  for (int64_t s = 0; s < ds->n; s++)
    if (ds->labels[s] >= nc) {
      shape_str(shape, sizeof shape, &to);
      rc = qat_fail(QAT_ERR_FORMAT, "%s: label %d of sample %lld is not a class of the model's output "
                    "'%s' (%s)", data_name, ds->labels[s], (long long)s, to.name, shape);
      goto fail;
    }
  if (ds->n == 0) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: no samples", data_name);
    goto fail;
  }
  if (in.raw_pixels && (!ds->images || ds->pre.custom)) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: input '%s' is uint8 without quantization (raw pixels); %s holds %s",
                  model_path, ti.name, data_name, ds->images ? "preprocessed values" : "float samples");
    goto fail;
  }
  per_n = calloc((size_t)nc, sizeof *per_n);
  per_ok = calloc((size_t)nc, sizeof *per_ok);
  conf = calloc((size_t)nc * (size_t)nc, sizeof *conf);
  preds = malloc((size_t)ds->n * sizeof *preds); /* classify_all's threads each have their own xf */
  if (!per_n || !per_ok || !conf || !preds) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto fail;
  }
  int64_t correct = 0;
  double busy_s = 0;
  if ((rc = classify_all(model_path, opt, m, &in, ds, per, in_idx, out_idx, &to, preds, &busy_s))) goto fail;
  for (int64_t s = 0; s < ds->n; s++) {
    const int pred = preds[s], y = ds->labels[s];
    per_n[y]++;
    conf[(size_t)y * nc + pred]++;
    if (pred == y) per_ok[y]++, correct++;
  }
  /* latency: each sample's time on its thread, averaged (the threads run samples side by side) */
  res->ms_per_sample = busy_s * 1e3 / (double)ds->n;
  res->samples = ds->n;
  res->correct = correct;
  res->accuracy = (double)correct / (double)ds->n;
  res->metric = "accuracy";
  res->classes = nc;
  res->input_type = ti.type;
  res->per_n = per_n;
  res->per_ok = per_ok;
  res->confusion = conf;
  free(xf);
  free(preds);
  qat_rt_model_free(m);
  return QAT_OK;
fail:
  free(xf);
  free(preds);
  free(per_n);
  free(per_ok);
  free(conf);
  qat_rt_model_free(m);
  return rc;
}

void qat_tflite_eval_free(qat_tflite_eval *res) {
  free(res->per_n);
  free(res->per_ok);
  free(res->confusion);
  memset(res, 0, sizeof *res);
}

int qat_cmd_eval_tflite(int argc, char **argv) {
  const char *model_path = NULL, *images = NULL, *labels = NULL, *data = NULL;
  int json = 0, confusion = 0, limit = 0;
  qat_rt_options opt = {0};
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage_eval_tflite, stdout);
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--confusion")) {
      confusion = 1;
    } else if (!strcmp(a, "--limit") || !strcmp(a, "--images") || !strcmp(a, "--labels") ||
               !strcmp(a, "--data") || !strcmp(a, "--flavor")) {
      if (i + 1 >= argc) return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (!strcmp(a, "--limit")) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno == ERANGE || n < 1 || n > INT_MAX) {
          fprintf(stderr, "qat: error: --limit expects an integer in [1, %d], got '%s'\n", INT_MAX, v);
          return 2;
        }
        limit = (int)n;
      } else if (!strcmp(a, "--images")) {
        images = v;
      } else if (!strcmp(a, "--labels")) {
        labels = v;
      } else if (!strcmp(a, "--data")) {
        data = v;
      } else if (!strcmp(v, "litert")) {
        opt.flavor = QAT_RT_FLAVOR_LITERT;
      } else if (!strcmp(v, "tflm")) {
        opt.flavor = QAT_RT_FLAVOR_TFLM;
      } else {
        return usage_error("--flavor expects litert or tflm, got '%s'", v);
      }
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("unknown option '%s'", a);
    } else if (!model_path) {
      model_path = a;
    } else {
      return usage_error("unexpected argument '%s'", a);
    }
  }
  if (!model_path) return usage_error("%s", "needs MODEL.tflite");
  if (!images != !labels) return usage_error("%s", "--images and --labels go together");
  if (data && images) return usage_error("%s", "--data and --images/--labels exclude each other");

  qat_dataset ds = {0};
  qat_tflite_eval ev = {0};
  int rc;
  const char *data_name = images ? labels : "the test set";
  if (images) {
    rc = qat_idx_load(images, labels, 256, &ds); /* checked against the output below */
  } else if (!data || !strcmp(data, "fashion-mnist")) {
    rc = load_fashion_test(&ds);
  } else {
    /* folders resize to the model's input: its shape first */
    qat_rt_model *probe = NULL;
    int shape[3] = {0, 0, 0};
    if ((rc = qat_cli_load_model(model_path, &opt, &probe))) goto report;
    qat_rt_tensor_info ti;
    if (qat_rt_num_inputs(probe) == 1 && !qat_rt_tensor(probe, qat_rt_input(probe, 0), &ti) && ti.rank == 4)
      shape[0] = ti.dims[1], shape[1] = ti.dims[2], shape[2] = ti.dims[3];
    qat_rt_model_free(probe);
    int recognized;
    qat_data_info info;
    rc = qat_cli_data_source(data, shape, &ds, &recognized, &info);
    if (!recognized)
      return usage_error("--data expects fashion-mnist, a folder, a .npz or a .yaml config, got '%s'", data);
    data_name = data;
#ifdef QAT_CLI_HAS_CONFIG
    if (!rc) rc = match_classes(model_path, data_name, &ds, &info);
#endif
    qat_data_info_free(&info);
  }
  if (rc) goto report;
  if (limit && limit < ds.n) ds.n = limit; /* keep the first N (the buffers stay as allocated) */
  if ((rc = qat_eval_tflite_dataset(model_path, &opt, &ds, data_name, -1, 0, &ev))) goto report;
  const int nc = ev.classes;
  const int64_t *per_n = ev.per_n, *per_ok = ev.per_ok, *conf = ev.confusion;
  const int64_t correct = ev.correct;
  const double ms = ev.ms_per_sample, acc = ev.accuracy;
  if (json) {
    printf("{\"model\":");
    qat_cli_json_string(stdout, model_path);
    printf(",\"input_type\":\"%s\",\"samples\":%lld,\"metric\":\"%s\",\"accuracy\":%.6f,\"per_class\":[",
           qat_rt_type_name(ev.input_type), (long long)ds.n, ev.metric, acc);
    for (int c = 0; c < nc; c++)
      printf(c ? ",%.6f" : "%.6f", per_n[c] ? (double)per_ok[c] / (double)per_n[c] : 0.0);
    if (ev.mean_iou >= 0) printf("],\"mean_iou\":%.6f,\"per_class_samples\":[", ev.mean_iou);
    else printf("],\"per_class_samples\":[");
    for (int c = 0; c < nc; c++) printf(c ? ",%lld" : "%lld", (long long)per_n[c]);
    printf("]");
    if (confusion) {
      printf(",\"confusion\":[");
      for (int r = 0; r < nc; r++) {
        printf(r ? ",[" : "[");
        for (int c = 0; c < nc; c++) printf(c ? ",%lld" : "%lld", (long long)conf[(size_t)r * nc + c]);
        printf("]");
      }
      printf("]");
    }
    printf(",\"ms_per_sample\":%.4f}\n", ms);
  } else {
    printf("%s: %lld samples, %s input, qat runtime (batch 1)\n", model_path, (long long)ds.n,
           qat_rt_type_name(ev.input_type));
    if (!nc) { /* targets other than class labels: the metric alone (a label map's mean IoU too) */
      printf("  %s: %.4f\n", ev.metric, acc);
      if (ev.mean_iou >= 0) printf("  mean IoU: %.4f (%d classes)\n", ev.mean_iou, ev.iou_classes);
      printf("  %.4f ms per sample\n", ms);
      qat_tflite_eval_free(&ev);
      qat_dataset_free(&ds);
      return 0;
    }
    printf("  accuracy: %.4f (%lld/%lld)\n", acc, (long long)correct, (long long)ds.n);
    printf("  per class:");
    for (int c = 0; c < nc; c++) {
      if (per_n[c]) printf(" %d:%.4f", c, (double)per_ok[c] / (double)per_n[c]);
      else printf(" %d:-", c);
    }
    printf("\n");
    if (confusion) {
      printf("  confusion (rows: true class, columns: predicted):\n       ");
      for (int c = 0; c < nc; c++) printf(" %6d", c);
      printf("\n");
      for (int r = 0; r < nc; r++) {
        printf("  %4d:", r);
        for (int c = 0; c < nc; c++) printf(" %6lld", (long long)conf[(size_t)r * nc + c]);
        printf("\n");
      }
    }
    printf("  %.4f ms per sample\n", ms);
  }
  qat_tflite_eval_free(&ev);
  qat_dataset_free(&ds);
  return 0;
report:
  fprintf(stderr, "qat: error: %s\n", qat_error_message());
  qat_tflite_eval_free(&ev);
  qat_dataset_free(&ds);
  return rc == QAT_ERR_UNSUPPORTED ? 3 : qat_exit_code(rc);
}
