/* dataset: npy. Inputs [N, ...] of uint8 (kept as bytes, like images) or int8 / float16 /
 * float32 (kept as float32); targets as integer labels [N] (or [N, 1]) or one-hot rows [N, K]
 * (into labels), or any other [N, ...] array (into targets: a label map [N, H, W] of integers,
 * multi-hot rows, float values), which the trainer reads as its loss needs. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/internal.h"
#include "qat/error.h"
#include "qat/file.h"
#include "qat/npy.h"

/* A .npy file, or an array of a .npz (`key` names it). */
static int load_array(const qat_data_spec *spec, const char *p, const char *key, int missing_ok, qat_npy *a,
                      char *shown, size_t shown_size) {
  char path[4096];
  int rc = qat_data_path(spec, p, path, sizeof path);
  if (rc) return rc;
  if (qat_path_has_suffix(path, ".npz")) {
    snprintf(shown, shown_size, "%s:%s.npy", path, key);
    return qat_npz_load(path, key, QAT_DATA_MAX_BYTES, missing_ok, a);
  }
  snprintf(shown, shown_size, "%s", path);
  return qat_npy_load(path, QAT_DATA_MAX_BYTES, a);
}

static void shape_str(const qat_npy *a, char *buf, size_t size) {
  size_t k = (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < a->rank && k < size; d++) k += (size_t)snprintf(buf + k, size - k, d ? ",%lld" : "%lld", (long long)a->shape[d]);
  if (k < size) snprintf(buf + k, size - k, "]");
}

/* x into a dataset's samples (labels not yet set). */
static int take_inputs(const char *name, qat_npy *x, qat_dataset *ds) {
  char shape[128];
  shape_str(x, shape, sizeof shape);
  if (x->rank < 2 || x->rank > 4)
    return qat_fail(QAT_ERR_FORMAT, "%s: inputs of shape %s; expected [N, F], [N, T, C] or [N, H, W, C]", name,
                    shape);
  if (x->dtype == QAT_NPY_I4 || x->dtype == QAT_NPY_I8)
    return qat_fail(QAT_ERR_FORMAT, "%s: %s inputs; expected uint8, int8, float16 or float32", name,
                    qat_npy_dtype_name(x->dtype));
  int64_t dims[3] = {1, 1, 1};
  for (int d = 1; d < x->rank; d++) dims[d - 1] = x->shape[d];
  for (int d = 0; d < 3; d++)
    if (dims[d] < 1 || dims[d] > INT_MAX)
      return qat_fail(QAT_ERR_FORMAT, "%s: inputs of shape %s have an empty or huge dimension", name, shape);
  memset(ds, 0, sizeof *ds);
  ds->owns = 1;
  ds->n = x->shape[0];
  ds->h = (int)dims[0];
  ds->w = (int)dims[1];
  ds->c = (int)dims[2];
  if (x->dtype == QAT_NPY_U1) {
    ds->images = x->data;
    x->data = NULL;
    return QAT_OK;
  }
  float *f = malloc((size_t)(x->count ? x->count : 1) * sizeof *f);
  if (!f) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory for %lld values", name, (long long)x->count);
  for (int64_t k = 0; k < x->count; k++) {
    float v = x->dtype == QAT_NPY_I1   ? (float)((const int8_t *)x->data)[k]
              : x->dtype == QAT_NPY_F2 ? qat_half_to_float(((const uint16_t *)x->data)[k])
                                       : ((const float *)x->data)[k];
    if (!isfinite(v)) {
      free(f);
      return qat_fail(QAT_ERR_FORMAT, "%s: value %g at flat index %lld (sample %lld); inputs must be finite", name,
                      (double)v, (long long)k, (long long)(k / (x->count / x->shape[0])));
    }
    f[k] = v;
  }
  ds->fimages = f;
  return QAT_OK;
}

static int64_t int_at(const qat_npy *a, int64_t k) {
  switch (a->dtype) {
  case QAT_NPY_U1: return ((const uint8_t *)a->data)[k];
  case QAT_NPY_I1: return ((const int8_t *)a->data)[k];
  case QAT_NPY_I4: return ((const int32_t *)a->data)[k];
  case QAT_NPY_I8: return ((const int64_t *)a->data)[k];
  default: return INT64_MIN;
  }
}

static double value_at(const qat_npy *a, int64_t k) {
  if (a->dtype == QAT_NPY_F4) return ((const float *)a->data)[k];
  if (a->dtype == QAT_NPY_F2) return qat_half_to_float(((const uint16_t *)a->data)[k]);
  return (double)int_at(a, k);
}

/* y as anything but class labels: n rows of floats in ds->targets (labels all 0). */
static int take_targets(const char *name, const qat_npy *y, int64_t n, qat_dataset *ds, int64_t *largest) {
  const int integer = y->dtype != QAT_NPY_F2 && y->dtype != QAT_NPY_F4;
  const int64_t len = n ? y->count / n : 0;
  ds->labels = calloc((size_t)(n ? n : 1), 1);
  ds->targets = malloc((size_t)(y->count ? y->count : 1) * sizeof *ds->targets);
  if (!ds->labels || !ds->targets) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", name);
  ds->target_len = len;
  ds->target_ints = integer;
  for (int64_t k = 0; k < y->count; k++) {
    const double v = value_at(y, k);
    if (integer && v < 0)
      return qat_fail(QAT_ERR_FORMAT, "%s: target %lld at flat index %lld (sample %lld) is negative", name,
                      (long long)v, (long long)k, (long long)(k / len));
    if (!isfinite(v) || fabs(v) > 16777216.0)
      return qat_fail(QAT_ERR_FORMAT, "%s: target %g at flat index %lld (sample %lld); targets must be finite and "
                      "within float32's integers (|v| <= 2^24)", name, v, (long long)k, (long long)(k / len));
    ds->targets[k] = (float)v;
    if (integer && (int64_t)v > *largest) *largest = (int64_t)v;
  }
  return QAT_OK;
}

/* y into ds->labels: integer labels [N] or [N, 1], or one-hot rows [N, K] (exactly one 1, the
 * rest 0); any other shape or float values into ds->targets. *largest gets the largest label;
 * *width the one-hot row length (0 for integer labels and targets). */
static int take_labels(const char *name, const qat_npy *y, int64_t n, qat_dataset *ds, int64_t *largest,
                       int64_t *width) {
  char shape[128];
  shape_str(y, shape, sizeof shape);
  if (y->rank < 1 || y->shape[0] != n)
    return qat_fail(QAT_ERR_FORMAT, "%s: targets of shape %s for %lld inputs; expected %lld of them ([%lld] labels, "
                    "[%lld, K] one-hot rows, or [%lld, ...] label maps or values)", name, shape, (long long)n,
                    (long long)n, (long long)n, (long long)n, (long long)n);
  if (y->count == 0 && n > 0)
    return qat_fail(QAT_ERR_FORMAT, "%s: targets of shape %s hold no values", name, shape);
  const int integer = y->dtype != QAT_NPY_F2 && y->dtype != QAT_NPY_F4;
  const int scalar = y->rank == 1 || (y->rank == 2 && y->shape[1] == 1);
  int onehot = y->rank == 2 && y->shape[1] > 1;
  for (int64_t i = 0; onehot && i < n; i++) {
    int ones = 0;
    for (int64_t j = 0; j < y->shape[1] && onehot; j++) {
      const double v = value_at(y, i * y->shape[1] + j);
      ones += v == 1.0;
      onehot = v == 0.0 || v == 1.0;
    }
    onehot &= ones == 1;
  }
  if (!(onehot || (scalar && integer))) return take_targets(name, y, n, ds, largest);
  *width = onehot ? y->shape[1] : 0;
  ds->labels = malloc((size_t)(n ? n : 1));
  if (!ds->labels) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", name);
  for (int64_t i = 0; i < n; i++) {
    int64_t label = -1;
    if (onehot) {
      for (int64_t j = 0; j < y->shape[1] && label < 0; j++)
        if (value_at(y, i * y->shape[1] + j) == 1.0) label = j;
    } else {
      label = int_at(y, i);
      if (label < 0)
        return qat_fail(QAT_ERR_FORMAT, "%s: label %lld at index %lld is negative", name, (long long)label,
                        (long long)i);
    }
    if (label >= QAT_MAX_CLASSES)
      return qat_fail(QAT_ERR_FORMAT, "%s: label %lld at index %lld; qat handles at most %d classes", name,
                      (long long)label, (long long)i, QAT_MAX_CLASSES);
    ds->labels[i] = (uint8_t)label;
    if (label > *largest) *largest = label;
  }
  return QAT_OK;
}

/* A model with several outputs: the .npz's y_<split>_<output> arrays, each [N, ...] of any
 * numeric type, as one row per sample of every output's values in order (ds->targets; the
 * trainer checks the row against the outputs). */
static int take_row_targets(const qat_data_spec *spec, const char *yp, const char *ykey, qat_dataset *ds) {
  qat_npy y[QAT_MAX_OUTPUTS] = {{0}};
  char yname[4400];
  int64_t len[QAT_MAX_OUTPUTS], row = 0;
  int rc = QAT_OK, ints = 1;
  for (int k = 0; k < spec->n_outputs && !rc; k++) {
    char key[QAT_NAME_MAX + 16];
    snprintf(key, sizeof key, "%s_%s", ykey, spec->output_names[k]);
    if ((rc = load_array(spec, yp, key, 0, &y[k], yname, sizeof yname))) break;
    if (y[k].rank < 1 || y[k].shape[0] != ds->n) {
      char shape[128];
      shape_str(&y[k], shape, sizeof shape);
      rc = qat_fail(QAT_ERR_FORMAT, "%s: targets of shape %s for %lld inputs", yname, shape, (long long)ds->n);
      break;
    }
    len[k] = ds->n ? (int64_t)(y[k].count / ds->n) : 0;
    row += len[k];
    ints &= y[k].dtype != QAT_NPY_F2 && y[k].dtype != QAT_NPY_F4;
  }
  if (!rc) {
    ds->labels = calloc((size_t)(ds->n ? ds->n : 1), 1);
    const int64_t values = ds->n * row;
    ds->targets = malloc((size_t)(values > 0 ? values : 1) * sizeof *ds->targets);
    if (!ds->labels || !ds->targets) rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", yp);
  }
  for (int64_t off = 0, k = 0; !rc && k < spec->n_outputs; off += len[k], k++)
    for (int64_t i = 0; i < ds->n && !rc; i++)
      for (int64_t j = 0; j < len[k]; j++) {
        const double v = value_at(&y[k], i * len[k] + j);
        if (!isfinite(v)) {
          rc = qat_fail(QAT_ERR_FORMAT, "%s: array '%s_%s': target %g at sample %lld is not finite", yp, ykey,
                        spec->output_names[k], v, (long long)i);
          break;
        }
        ds->targets[i * row + off + j] = (float)v;
      }
  ds->target_len = row;
  ds->target_ints = ints;
  for (int k = 0; k < spec->n_outputs; k++) qat_npy_free(&y[k]);
  return rc;
}

static int load_pair(const qat_data_spec *spec, const char *xp, const char *yp, const char *xkey, const char *ykey,
                     int missing_ok, qat_dataset *ds, int64_t *largest, int64_t *width, char *desc, size_t desc_size) {
  qat_npy x = {0}, y = {0};
  char xname[4400], yname[4400];
  memset(ds, 0, sizeof *ds);
  int rc = load_array(spec, xp, xkey, missing_ok, &x, xname, sizeof xname);
  if (rc) return rc; /* 1: missing and allowed */
  if (spec->n_outputs > 1) {
    if ((rc = take_inputs(xname, &x, ds)) || (rc = take_row_targets(spec, yp, ykey, ds))) goto free_arrays;
    goto describe;
  }
  if ((rc = load_array(spec, yp, ykey, 0, &y, yname, sizeof yname))) goto free_arrays;
  if ((rc = take_inputs(xname, &x, ds))) goto free_arrays;
  if ((rc = take_labels(yname, &y, ds->n, ds, largest, width))) goto free_arrays;
describe:
  if (desc) {
    char shape[128];
    shape_str(&x, shape, sizeof shape);
    snprintf(desc, desc_size, "%s %s %s", xname, shape, qat_npy_dtype_name(x.dtype));
  }
free_arrays:
  if (rc < 0) qat_dataset_free(ds);
  qat_npy_free(&x);
  qat_npy_free(&y);
  return rc;
}

int qat_arrays_load(const qat_data_spec *spec, int want_test, qat_dataset *train, qat_dataset *test,
                    qat_data_info *info) {
  int64_t largest = -1, width = 0, twidth = 0;
  char desc[4600] = "";
  int rc;
  memset(test, 0, sizeof *test);
  if (spec->path) {
    rc = load_pair(spec, spec->path, spec->path, "x_train", "y_train", 0, train, &largest, &width, desc,
                   sizeof desc);
    if (rc) return rc;
    if (want_test) {
      rc = load_pair(spec, spec->path, spec->path, "x_test", "y_test", 1, test, &largest, &twidth, NULL, 0);
      if (rc == 1) rc = QAT_OK;
    }
  } else {
    rc = load_pair(spec, spec->x, spec->y, "x", "y", 0, train, &largest, &width, desc, sizeof desc);
    if (rc) return rc;
    if (want_test && spec->test_x)
      rc = load_pair(spec, spec->test_x, spec->test_y, "x_test", "y_test", 0, test, &largest, &twidth, NULL, 0);
  }
  if (rc) goto fail;
  if (test->n && (test->h != train->h || test->w != train->w || test->c != train->c || !test->fimages != !train->fimages)) {
    rc = qat_fail(QAT_ERR_FORMAT, "the test inputs are %dx%dx%d %s, the training inputs %dx%dx%d %s", test->h,
                  test->w, test->c, test->fimages ? "floats" : "bytes", train->h, train->w, train->c,
                  train->fimages ? "floats" : "bytes");
    goto fail;
  }
  if (test->n && (!test->targets != !train->targets || test->target_len != train->target_len)) {
    rc = qat_fail(QAT_ERR_FORMAT, "the test targets have %lld values per sample, the training targets %lld",
                  (long long)(test->targets ? test->target_len : 1), (long long)(train->targets ? train->target_len : 1));
    goto fail;
  }
  int classes = spec->num_classes;
  if (width && twidth && width != twidth) {
    rc = qat_fail(QAT_ERR_FORMAT, "one-hot training targets have %lld columns, test targets %lld", (long long)width,
                  (long long)twidth);
    goto fail;
  }
  if (!width) width = twidth;
  if (!classes) classes = width ? (int)width : largest + 1 > QAT_MAX_CLASSES ? 0 : (int)(largest + 1);
  if (width && width != classes) {
    rc = qat_fail(QAT_ERR_USAGE, "data.num_classes is %d but the one-hot targets have %lld columns", classes,
                  (long long)width);
    goto fail;
  }
  if (largest >= classes && !train->targets) {
    qat_dataset *sets[2] = {train, test};
    for (int s = 0; s < 2; s++)
      for (int64_t i = 0; i < sets[s]->n; i++)
        if (sets[s]->labels[i] >= classes) {
          rc = qat_fail(QAT_ERR_FORMAT, "%s: label %d at index %lld out of range [0,%d) (data.num_classes: %d)",
                        s ? (spec->test_y ? spec->test_y : spec->path) : (spec->y ? spec->y : spec->path),
                        sets[s]->labels[i], (long long)i, classes, classes);
          goto fail;
        }
  }
  if (classes < 2 && !train->targets) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: the labels hold a single class; training needs at least 2",
                  spec->y ? spec->y : spec->path);
    goto fail;
  }
  train->num_classes = test->num_classes = classes;
  if (!test->owns) {
    test->owns = 1;
    test->h = train->h;
    test->w = train->w;
    test->c = train->c;
    test->num_classes = classes;
  }
  if (info) {
    info->num_classes = classes;
    /* A long path is clipped: the line is a summary. */
    snprintf(info->source, sizeof info->source, "npy %.500s", desc);
  }
  return QAT_OK;
fail:
  qat_dataset_free(train);
  qat_dataset_free(test);
  return rc;
}
