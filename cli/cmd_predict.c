/* qat predict MODEL.tflite|CKPT FILE... [--top K] [--json]: class names and probabilities for
 * image files (PNG, JPEG) or .npy arrays, preprocessed as the model's training data was. Also
 * the pieces `qat eval` and `qat export` share about the user's data: the test-set dump, the
 * per-class counts and labels.txt. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/image.h"
#include "qat/atomic_file.h"
#include "qat/error.h"
#include "qat/file.h"
#include "qat/npy.h"
#include "qat/tflite.h"
#include "qat/train.h"

int qat_dump_testset(const char *prefix, const qat_dataset *ds) {
  char path[4200];
  int64_t per = (int64_t)ds->h * ds->w * ds->c;
  float *x = malloc((size_t)(ds->n * per + 1) * sizeof *x);
  int64_t *y = malloc((size_t)(ds->n + 1) * sizeof *y);
  int rc = QAT_OK;
  if (!x || !y) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory for the test set dump");
    goto done;
  }
  for (int64_t i = 0; i < ds->n; i++) {
    qat_dataset_get_floats(ds, i, x + i * per);
    y[i] = ds->labels[i];
  }
  int64_t shape[4] = {ds->n, ds->h, ds->w, ds->c};
  snprintf(path, sizeof path, "%s.x.npy", prefix);
  if ((rc = qat_npy_save(path, QAT_NPY_F4, 4, shape, x))) goto done;
  snprintf(path, sizeof path, "%s.y.npy", prefix);
  rc = qat_npy_save(path, QAT_NPY_I8, 1, shape, y);
done:
  free(x);
  free(y);
  return rc;
}

int qat_model_mean_iou(qat_model *m, const qat_dataset *ds, int batch, int fake_quant, double *miou, int *classes) {
  *miou = -1;
  *classes = 0;
  if (m->n_heads != 1 || m->targets || m->positions < 2 || !ds->targets || ds->target_len != m->positions)
    return QAT_OK; /* not a label map */
  const int64_t k = m->num_classes, pos = m->positions;
  if (batch > m->max_batch) batch = m->max_batch;
  const int64_t per = (int64_t)ds->h * ds->w * ds->c;
  int64_t *conf = calloc((size_t)(k * k), sizeof *conf);
  float *x = malloc((size_t)(batch * per) * sizeof *x), *t = malloc((size_t)(batch * pos) * sizeof *t);
  int32_t *y = malloc((size_t)batch * sizeof *y);
  qat_batcher b = {0};
  int rc = !conf || !x || !t || !y ? qat_fail(QAT_ERR_NOMEM, "out of memory for the mean IoU") : QAT_OK;
  if (!rc) rc = qat_batcher_init(&b, ds, batch, 0, 0, 0);
  qat_exec ex = {.training = 0, .fake_quant = fake_quant};
  for (int64_t i = 0; !rc && i < qat_batcher_num_batches(&b); i++) {
    int n = qat_batcher_get(&b, i, x, y);
    if (n < 0) {
      rc = n;
      break;
    }
    qat_batcher_get_targets(&b, i, t);
    qat_model_forward(m, x, n, &ex);
    for (int64_t r = 0; r < (int64_t)n * pos; r++) {
      const float *row = m->logits->data + r * k;
      int64_t best = 0;
      for (int64_t j = 1; j < k; j++)
        if (row[j] > row[best]) best = j;
      const int64_t label = (int64_t)t[r];
      if (label >= 0 && label < k) conf[label * k + best]++;
    }
  }
  if (!rc) *miou = qat_mean_iou(conf, k, classes);
  qat_batcher_free(&b);
  free(conf);
  free(x);
  free(t);
  free(y);
  return rc;
}

int qat_per_class(qat_model *m, const qat_dataset *ds, int batch, int fake_quant, int64_t **per_n, int64_t **per_ok) {
  *per_n = *per_ok = NULL;
  if (m->targets || m->positions != 1) return QAT_OK; /* not one class per sample */
  int k = m->num_classes, rc = QAT_OK;
  if (batch > m->max_batch) batch = m->max_batch;
  int64_t per = (int64_t)ds->h * ds->w * ds->c;
  *per_n = calloc((size_t)k, sizeof **per_n);
  *per_ok = calloc((size_t)k, sizeof **per_ok);
  float *x = malloc((size_t)(batch * per) * sizeof *x);
  int32_t *y = malloc((size_t)batch * sizeof *y);
  qat_batcher b = {0};
  if (!*per_n || !*per_ok || !x || !y) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory for per-class accuracy");
    goto done;
  }
  if ((rc = qat_batcher_init(&b, ds, batch, 0, 0, 0))) goto done;
  qat_exec ex = {.training = 0, .fake_quant = fake_quant};
  for (int64_t i = 0; i < qat_batcher_num_batches(&b); i++) {
    int n = qat_batcher_get(&b, i, x, y);
    if (n < 0) {
      rc = n;
      goto done;
    }
    qat_model_forward(m, x, n, &ex);
    for (int s = 0; s < n; s++) {
      const float *row = m->logits->data + (size_t)s * k;
      int best = 0;
      for (int j = 1; j < k; j++)
        if (row[j] > row[best]) best = j;
      (*per_n)[y[s]]++;
      (*per_ok)[y[s]] += best == y[s];
    }
  }
done:
  qat_batcher_free(&b);
  free(x);
  free(y);
  if (rc) {
    free(*per_n);
    free(*per_ok);
    *per_n = *per_ok = NULL;
  }
  return rc;
}


static const char usage[] =
    "usage: qat predict MODEL.tflite|CKPT FILE... [--top K] [--json] [--outputs]\n"
    "\n"
    "Class names and probabilities for each FILE: a PNG or JPEG image (decoded, converted to\n"
    "the model's channels and resized as the training folder was) or an .npy array of one\n"
    "sample or of N samples. A checkpoint brings its preprocessing (data.rescale, offset,\n"
    "mean, std) and class names; a .tflite file the normalization in its TFLite Support\n"
    "metadata (else pixel / 255) and the names in labels.txt packed into it or beside it\n"
    "(qat export writes all three for a model trained with class names).\n"
    "\n"
    "  --top K   the K most probable classes (default 1)\n"
    "  --json    one JSON object per line: file, index, and [class, probability] pairs\n"
    "  --outputs one JSON object per line: file, index and the model's raw output values (a\n"
    "            checkpoint with QAT: the fake-quant model's; no softmax applied)\n";

typedef struct predictor {
  qat_model *m;       /* a checkpoint ... */
  qat_config cfg;
  qat_rt_model *rt;   /* ... or a .tflite */
  int h, w, c, classes;
  qat_dataset proto;  /* shape and preprocessing of one sample */
  char **names;
  int n_names, own_names;
  int raw;            /* --outputs: the model's output values as they are */
  int not_classes;    /* the output is not one distribution over classes (segmenter, regressor) */
} predictor;

static int predictor_open(const char *path, predictor *p) {
  memset(p, 0, sizeof *p);
  size_t n = strlen(path);
  int rc;
  if (n > 7 && !strcmp(path + n - 7, ".tflite")) {
    qat_rt_options opt = {0};
    if ((rc = qat_rt_model_load_file(path, &opt, &p->rt))) return rc;
    qat_rt_tensor_info ti, to;
    if (qat_rt_num_inputs(p->rt) != 1 || qat_rt_num_outputs(p->rt) != 1)
      return qat_fail(QAT_ERR_FORMAT, "%s: predict needs one input and one output", path);
    if ((rc = qat_rt_tensor(p->rt, qat_rt_input(p->rt, 0), &ti)) ||
        (rc = qat_rt_tensor(p->rt, qat_rt_output(p->rt, 0), &to)))
      return rc;
    if (ti.rank < 2 || ti.rank > 4 || ti.dims[0] != 1)
      return qat_fail(QAT_ERR_FORMAT, "%s: input of rank %d; predict takes [1, H, W, C] inputs", path, ti.rank);
    int d[3] = {1, 1, 1};
    for (int k = 1; k < ti.rank; k++) d[k - 1] = ti.dims[k];
    p->h = d[0];
    p->w = d[1];
    p->c = d[2];
    p->classes = (int)to.n_elems;
    void *bytes = NULL;
    size_t size = 0;
    if ((rc = qat_file_read_all(path, "model", (uint64_t)1 << 31, &bytes, &size))) return rc;
    rc = qat_tflite_read_labels(path, bytes, size, &p->names, &p->n_names);
    p->own_names = 1;
    /* the preprocessing the export recorded, in stored units: (v - mean) / std */
    float mean[QAT_TFLITE_METADATA_MAX_CHANNELS], std[QAT_TFLITE_METADATA_MAX_CHANNELS];
    const int n_norm = qat_tflite_read_normalization(bytes, size, mean, std, QAT_TFLITE_METADATA_MAX_CHANNELS);
    free(bytes);
    if (rc) return rc;
    if (n_norm && (n_norm == p->c || n_norm == 1) && p->c <= QAT_MAX_CHANNELS) {
      p->proto.pre = (qat_preproc){.custom = 1, .rescale = 1.0f, .offset = 0.0f, .n_norm = p->c};
      for (int k = 0; k < p->c; k++) {
        p->proto.pre.mean[k] = mean[n_norm == 1 ? 0 : k];
        p->proto.pre.std[k] = std[n_norm == 1 ? 0 : k];
      }
    }
  } else {
    if ((rc = qat_model_from_checkpoint(path, 1, &p->cfg, &p->m))) return rc;
    p->h = p->cfg.model.input_shape[0];
    p->w = p->cfg.model.input_shape[1];
    p->c = p->cfg.model.input_shape[2];
    /* a classifier's classes; a segmenter's or a regressor's every output value (--outputs) */
    p->classes = p->m->targets || p->m->positions > 1 ? (int)(qat_tensor_size(p->m->logits) / p->m->logits->dims[0])
                                                      : p->m->num_classes;
    p->not_classes = p->m->targets || p->m->positions > 1;
    if (p->m->n_heads > 1) { /* several outputs: their values side by side, in model.outputs' order */
      p->classes = 0;
      for (int h = 0; h < p->m->n_heads; h++)
        p->classes += (int)(qat_tensor_size(p->m->heads[h].out) / p->m->heads[h].out->dims[0]);
      p->not_classes = 1;
    }
    p->names = p->cfg.data.class_names;
    p->n_names = p->cfg.data.n_class_names;
    if ((rc = qat_preproc_from_spec(&p->cfg.data, p->c, 0, &p->proto.pre))) return rc;
  }
  if (p->n_names != p->classes) p->n_names = 0; /* names that do not fit are not shown */
  p->proto.h = p->h;
  p->proto.w = p->w;
  p->proto.c = p->c;
  p->proto.n = 1;
  return QAT_OK;
}

static void predictor_close(predictor *p) {
  if (p->own_names) {
    for (int i = 0; i < p->n_names; i++) free(p->names[i]);
    free(p->names);
  }
  qat_model_free(p->m);
  qat_config_free(&p->cfg);
  qat_rt_model_free(p->rt);
}

/* Scores of one preprocessed sample x into probs (softmax unless they already are one). */
static int predict_one(predictor *p, const float *x, float *probs) {
  int k = p->classes;
  if (p->m) {
    qat_exec ex = {.training = 0, .fake_quant = p->m->n_fq > 0};
    qat_model_forward(p->m, x, 1, &ex);
    for (int h = 0, off = 0; h < p->m->n_heads; h++) {
      const int len = (int)(qat_tensor_size(p->m->heads[h].out) / p->m->heads[h].out->dims[0]);
      memcpy(probs + off, p->m->heads[h].out->data, (size_t)len * sizeof *probs);
      off += len;
    }
  } else {
    qat_rt_tensor_info ti, to;
    int in = qat_rt_input(p->rt, 0), out = qat_rt_output(p->rt, 0), rc;
    if ((rc = qat_rt_tensor(p->rt, in, &ti)) || (rc = qat_rt_tensor(p->rt, out, &to))) return rc;
    void *d = qat_rt_tensor_data(p->rt, in);
    for (int64_t j = 0; j < ti.n_elems; j++) {
      if (ti.type == QAT_RT_FLOAT32) {
        ((float *)d)[j] = x[j];
        continue;
      }
      float s = ti.n_scales ? ti.scales[0] : 1.0f;
      long q = lroundf(x[j] / s) + (ti.n_scales ? (long)ti.zero_points[0] : 0);
      long lo = ti.type == QAT_RT_INT8 ? -128 : ti.type == QAT_RT_UINT8 ? 0 : -32768;
      long hi = ti.type == QAT_RT_INT8 ? 127 : ti.type == QAT_RT_UINT8 ? 255 : 32767;
      q = q < lo ? lo : q > hi ? hi : q;
      if (ti.type == QAT_RT_INT8) ((int8_t *)d)[j] = (int8_t)q;
      else if (ti.type == QAT_RT_UINT8) ((uint8_t *)d)[j] = (uint8_t)q;
      else ((int16_t *)d)[j] = (int16_t)q;
    }
    if ((rc = qat_rt_invoke(p->rt))) return rc;
    const void *o = qat_rt_tensor_data(p->rt, out);
    for (int j = 0; j < k; j++) probs[j] = qat_rt_dequantized(&to, o, j);
  }
  if (p->raw) return QAT_OK;
  double sum = 0;
  int is_prob = 1;
  for (int j = 0; j < k; j++) {
    sum += probs[j];
    is_prob &= probs[j] >= 0.0f;
  }
  if (!is_prob || fabs(sum - 1.0) > 0.02) {
    float mx = probs[0];
    for (int j = 1; j < k; j++) mx = probs[j] > mx ? probs[j] : mx;
    double z = 0;
    for (int j = 0; j < k; j++) z += exp((double)probs[j] - mx);
    for (int j = 0; j < k; j++) probs[j] = (float)(exp((double)probs[j] - mx) / z);
  }
  return QAT_OK;
}

static void report(predictor *p, const char *file, int64_t index, int multi, const float *probs, int top, int json) {
  int k = p->classes;
  if (p->raw) { /* the exact output values (fake-quant parity checks compare them bit for bit) */
    printf("{\"file\":");
    qat_cli_json_string(stdout, file);
    printf(",\"index\":%lld,\"outputs\":[", (long long)index);
    for (int j = 0; j < k; j++) printf("%s%.9g", j ? "," : "", (double)probs[j]);
    printf("]}\n");
    return;
  }
  int order[QAT_MAX_CLASSES]; /* k <= QAT_MAX_CLASSES: qat_cmd_predict refuses more */
  for (int j = 0; j < k; j++) order[j] = j;
  for (int a = 0; a < top; a++) /* partial selection sort: ties keep the lower class first */
    for (int b = a + 1; b < k; b++)
      if (probs[order[b]] > probs[order[a]]) {
        int t = order[a];
        order[a] = order[b];
        order[b] = t;
      }
  char label[64];
  if (json) {
    printf("{\"file\":");
    qat_cli_json_string(stdout, file);
    if (multi) printf(",\"index\":%lld", (long long)index);
    printf(",\"top\":[");
    for (int a = 0; a < top; a++) {
      printf("%s{\"class\":", a ? "," : "");
      if (p->n_names) qat_cli_json_string(stdout, p->names[order[a]]);
      else printf("%d", order[a]);
      printf(",\"label\":%d,\"probability\":%.6f}", order[a], (double)probs[order[a]]);
    }
    printf("]}\n");
    return;
  }
  if (multi) printf("%s[%lld]:", file, (long long)index);
  else printf("%s:", file);
  for (int a = 0; a < top; a++) {
    if (p->n_names) snprintf(label, sizeof label, "%s", p->names[order[a]]);
    else snprintf(label, sizeof label, "%d", order[a]);
    printf(" %s %.4f", label, (double)probs[order[a]]);
  }
  printf("\n");
}

int qat_cmd_predict(int argc, char **argv) {
  const char *model = NULL;
  int top = 1, json = 0, raw = 0, n_files = 0;
  const char **files = calloc((size_t)argc + 1, sizeof *files);
  if (!files) return 1;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      free(files);
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--outputs")) {
      raw = 1;
    } else if (!strcmp(a, "--top")) {
      char *end;
      long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
      if (i + 1 >= argc || *end || v < 1 || v > QAT_MAX_CLASSES) {
        fprintf(stderr, "qat: error: --top needs a number from 1 to %d\n", QAT_MAX_CLASSES);
        free(files);
        return 2;
      }
      top = (int)v;
      i++;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "qat: error: predict: unknown option '%s'\n", a);
      free(files);
      return 2;
    } else if (!model) {
      model = a;
    } else {
      files[n_files++] = a;
    }
  }
  if (!model || !n_files) {
    fputs(usage, stderr);
    free(files);
    return 2;
  }
  predictor p;
  int rc = predictor_open(model, &p);
  p.raw = raw;
  if (!rc && !raw && (p.not_classes || p.classes > QAT_MAX_CLASSES))
    rc = qat_fail(QAT_ERR_USAGE, "%s: its output is %d values per sample, not one distribution over classes (a "
                  "segmenter, a regressor or several outputs): ask for them with --outputs", model, p.classes);
  if (top > p.classes) top = p.classes;
  int64_t per = (int64_t)p.h * p.w * p.c;
  float *x = malloc((size_t)per * sizeof *x), *probs = malloc((size_t)(p.classes + 1) * sizeof *probs);
  uint8_t *px = malloc((size_t)per);
  if (!rc && (!x || !probs || !px)) rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
  for (int f = 0; f < n_files && !rc; f++) {
    const char *file = files[f];
    size_t n = strlen(file);
    if (n > 4 && !strcmp(file + n - 4, ".npy")) {
      qat_npy a;
      if ((rc = qat_npy_load(file, QAT_DATA_MAX_BYTES, &a))) break;
      int64_t count = a.count, samples = count / (per ? per : 1);
      if (samples < 1 || samples * per != count || a.dtype == QAT_NPY_I4 || a.dtype == QAT_NPY_I8) {
        rc = qat_fail(QAT_ERR_FORMAT, "%s: %s array of %lld values; the model takes %lld uint8, int8, float16 or "
                      "float32 values per sample", file, qat_npy_dtype_name(a.dtype), (long long)count,
                      (long long)per);
        qat_npy_free(&a);
        break;
      }
      for (int64_t s = 0; s < samples && !rc; s++) {
        qat_dataset one = p.proto;
        float *fx = NULL;
        if (a.dtype == QAT_NPY_U1) one.images = (uint8_t *)a.data + s * per;
        else {
          fx = malloc((size_t)per * sizeof *fx);
          if (!fx) {
            rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
            break;
          }
          for (int64_t j = 0; j < per; j++) {
            int64_t k = s * per + j;
            fx[j] = a.dtype == QAT_NPY_I1   ? (float)((const int8_t *)a.data)[k]
                    : a.dtype == QAT_NPY_F2 ? qat_half_to_float(((const uint16_t *)a.data)[k])
                                            : ((const float *)a.data)[k];
          }
          one.fimages = fx;
        }
        qat_dataset_get_floats(&one, 0, x);
        free(fx);
        if (!(rc = predict_one(&p, x, probs))) report(&p, file, s, samples > 1, probs, top, json);
      }
      qat_npy_free(&a);
      continue;
    }
    qat_image_kind kind;
    if ((rc = qat_image_load(file, p.h, p.w, p.c, p.m ? p.cfg.data.interpolation : QAT_INTERP_BILINEAR,
                             p.m ? p.cfg.data.crop_to_aspect_ratio : 0, px, &kind, NULL)))
      break;
    qat_dataset one = p.proto;
    one.images = px;
    qat_dataset_get_floats(&one, 0, x);
    if (!(rc = predict_one(&p, x, probs))) report(&p, file, 0, 0, probs, top, json);
  }
  free(x);
  free(probs);
  free(px);
  free(files);
  predictor_close(&p);
  if (rc) {
    fprintf(stderr, "qat: error: %s\n", qat_error_message());
    return qat_exit_code(rc);
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "qat: error: cannot write the predictions to stdout\n");
    return 4;
  }
  return 0;
}
