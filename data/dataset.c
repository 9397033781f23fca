/* Dataset ownership, subsets, and resolving a run's data spec into train/val/test sets. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/internal.h"
#include "qat/data.h"
#include "qat/error.h"
#include "qat/rng.h"

void qat_dataset_free(qat_dataset *ds) {
  if (!ds) return;
  if (ds->owns) {
    free(ds->images);
    free(ds->fimages);
    free(ds->labels);
    free(ds->targets);
  }
  memset(ds, 0, sizeof *ds);
}

/* Bytes of one sample as stored. */
static int64_t image_bytes(const qat_dataset *ds) {
  return (int64_t)ds->h * ds->w * ds->c * (ds->fimages ? (int64_t)sizeof(float) : 1);
}
static uint8_t *storage(const qat_dataset *ds) { return ds->fimages ? (uint8_t *)ds->fimages : ds->images; }

int qat_dataset_view(const qat_dataset *ds, int64_t start, int64_t count, qat_dataset *out) {
  if (start < 0 || count < 0 || start > ds->n || count > ds->n - start)
    return qat_fail(QAT_ERR_USAGE, "dataset view [%lld, %lld) outside the %lld samples",
                    (long long)start, (long long)start + count, (long long)ds->n);
  *out = *ds;
  out->n = count;
  if (ds->fimages) out->fimages = count ? ds->fimages + start * (int64_t)ds->h * ds->w * ds->c : NULL;
  else out->images = count ? ds->images + start * image_bytes(ds) : NULL;
  out->labels = count ? ds->labels + start : NULL;
  if (ds->targets) out->targets = count ? ds->targets + start * ds->target_len : NULL;
  out->owns = 0;
  return QAT_OK;
}

/* An owning dataset of `count` samples with ds's shape, contents unset. */
static int dataset_alloc(const qat_dataset *ds, int64_t count, qat_dataset *out) {
  memset(out, 0, sizeof *out);
  out->h = ds->h;
  out->w = ds->w;
  out->c = ds->c;
  out->num_classes = ds->num_classes;
  out->pre = ds->pre;
  out->target_len = ds->target_len;
  out->target_ints = ds->target_ints;
  out->owns = 1;
  if (count == 0) return QAT_OK;
  void *px = malloc((size_t)(count * image_bytes(ds)));
  if (ds->fimages) out->fimages = px;
  else out->images = px;
  out->labels = malloc((size_t)count);
  if (ds->targets) out->targets = malloc((size_t)(count * ds->target_len) * sizeof *out->targets);
  if (!px || !out->labels || (ds->targets && !out->targets)) {
    qat_dataset_free(out);
    return qat_fail(QAT_ERR_NOMEM, "out of memory for %lld samples", (long long)count);
  }
  out->n = count;
  return QAT_OK;
}

static int dataset_copy_range(const qat_dataset *ds, int64_t start, int64_t count,
                              qat_dataset *out) {
  int rc = dataset_alloc(ds, count, out);
  if (rc || !count) return rc;
  memcpy(storage(out), storage(ds) + start * image_bytes(ds), (size_t)(count * image_bytes(ds)));
  memcpy(out->labels, ds->labels + start, (size_t)count);
  if (ds->targets)
    memcpy(out->targets, ds->targets + start * ds->target_len, (size_t)(count * ds->target_len) * sizeof *out->targets);
  return QAT_OK;
}

int qat_dataset_sample(const qat_dataset *ds, int64_t count, uint64_t seed, qat_dataset *out) {
  memset(out, 0, sizeof *out);
  if (count < 0) return qat_fail(QAT_ERR_USAGE, "sample of %lld samples", (long long)count);
  if (count >= ds->n) return dataset_copy_range(ds, 0, ds->n, out);
  if (ds->n > (int64_t)UINT32_MAX) /* qat_rng_below draws 32-bit numbers */
    return qat_fail(QAT_ERR_USAGE, "cannot sample from %lld samples", (long long)ds->n);
  int rc = dataset_alloc(ds, count, out);
  if (rc) return rc;
  /* Selection sampling (Knuth's algorithm S): one pass, no index array, and the chosen
   * samples come out in dataset order. */
  qat_rng rng;
  qat_rng_seed(&rng, qat_hash64(seed ^ 0x73616d706c65ULL /* "sample" */));
  int64_t chosen = 0, bytes = image_bytes(ds);
  for (int64_t i = 0; i < ds->n && chosen < count; i++) {
    if ((int64_t)qat_rng_below(&rng, (uint32_t)(ds->n - i)) < count - chosen) {
      memcpy(storage(out) + chosen * bytes, storage(ds) + i * bytes, (size_t)bytes);
      out->labels[chosen] = ds->labels[i];
      if (ds->targets)
        memcpy(out->targets + chosen * ds->target_len, ds->targets + i * ds->target_len,
               (size_t)ds->target_len * sizeof *out->targets);
      chosen++;
    }
  }
  QAT_ASSERT(chosen == count);
  return QAT_OK;
}

/* Keeps the first n samples; the memory shrinks when the allocator lets it. */
static void dataset_truncate(qat_dataset *ds, int64_t n) {
  if (n >= ds->n) return;
  ds->n = n;
  if (!ds->owns || n == 0) return;
  uint8_t *p = realloc(storage(ds), (size_t)(n * image_bytes(ds)));
  if (p && ds->fimages) ds->fimages = (float *)p;
  else if (p) ds->images = p;
  p = realloc(ds->labels, (size_t)n);
  if (p) ds->labels = p;
  if (ds->targets) {
    float *t = realloc(ds->targets, (size_t)(n * ds->target_len) * sizeof *t);
    if (t) ds->targets = t;
  }
}

/* The decimal the user most likely wrote for v (the shortest one that reads back as v), so
 * that a split of 0.2f behaves like Keras's double 0.2: 60000 * (1 - 0.2f) is 47999.9998. */
static double float_as_written(float v) {
  char buf[32];
  for (int digits = 1; digits <= 9; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (strtof(buf, NULL) == v) return strtod(buf, NULL);
  }
  return v;
}

static int path_join(char *buf, size_t size, const char *dir, const char *name) {
  int len = snprintf(buf, size, "%s/%s", dir, name);
  if (len < 0 || (size_t)len >= size)
    return qat_fail(QAT_ERR_USAGE, "%s: directory name too long", dir);
  return QAT_OK;
}

/* Debian ships the .gz files; a directory of unpacked ones works too. */
static int fashion_path(char *buf, size_t size, const char *dir, const char *stem) {
  char name[64], plain[PATH_MAX];
  snprintf(name, sizeof name, "%s.gz", stem);
  int rc = path_join(buf, size, dir, name);
  if (rc) return rc;
  if (access(buf, F_OK) != 0 && path_join(plain, sizeof plain, dir, stem) == QAT_OK &&
      access(plain, F_OK) == 0)
    memcpy(buf, plain, strlen(plain) + 1); /* shorter than the .gz name, so it fits */
  return QAT_OK;
}

static int load_fashion_mnist(int want_test, qat_dataset *train, qat_dataset *test) {
  const char *dir = getenv(QAT_FASHION_MNIST_DIR_ENV);
  if (!dir || !*dir) dir = QAT_FASHION_MNIST_DIR;
  static const char *const stems[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  char paths[4][PATH_MAX];
  int rc;
  for (int i = 0; i < 4; i++) {
    rc = fashion_path(paths[i], sizeof paths[i], dir, stems[i]);
    if (rc) return rc;
  }
  rc = qat_idx_load(paths[0], paths[1], 10, train);
  if (!rc && want_test) {
    rc = qat_idx_load(paths[2], paths[3], 10, test);
    if (rc) qat_dataset_free(train);
  }
  int missing = 0;
  for (int i = 0; i < 4; i++) missing |= access(paths[i], F_OK) != 0;
  if (rc == QAT_ERR_IO && missing) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", qat_error_message());
    return qat_fail(rc, "%s (install Debian's dataset-fashion-mnist, or point %s at a "
                    "directory holding the four Fashion-MNIST files)", msg,
                    QAT_FASHION_MNIST_DIR_ENV);
  }
  return rc;
}

static int load_idx(const qat_data_spec *spec, int want_test, qat_dataset *train,
                    qat_dataset *test) {
  if (!spec->train_images || !spec->train_labels)
    return qat_fail(QAT_ERR_USAGE, "IDX data needs both train_images and train_labels");
  if (want_test && !spec->test_images != !spec->test_labels)
    return qat_fail(QAT_ERR_USAGE, "IDX data: test_images and test_labels go together "
                    "(only %s is given)", spec->test_images ? "test_images" : "test_labels");
  char p[4][4096];
  const char *in[4] = {spec->train_images, spec->train_labels, spec->test_images, spec->test_labels};
  int classes = spec->num_classes ? spec->num_classes : 10, rc;
  for (int i = 0; i < 4; i++)
    if (in[i] && (rc = qat_data_path(spec, in[i], p[i], sizeof p[i]))) return rc;
  rc = qat_idx_load(p[0], p[1], classes, train);
  if (rc || !want_test || !spec->test_images) return rc;
  rc = qat_idx_load(p[2], p[3], classes, test);
  if (rc) qat_dataset_free(train);
  return rc;
}

static int load_cifar10(const qat_data_spec *spec, int want_test, qat_dataset *train,
                        qat_dataset *test) {
  if (spec->n_train_files < 1 || spec->n_train_files > QAT_MAX_DATA_FILES)
    return qat_fail(QAT_ERR_USAGE, "CIFAR-10 data needs 1 to %d training batch files, got %d",
                    QAT_MAX_DATA_FILES, spec->n_train_files);
  for (int i = 0; i < spec->n_train_files; i++)
    if (!spec->train_files[i])
      return qat_fail(QAT_ERR_USAGE, "CIFAR-10 training file %d is not set", i + 1);
  char paths[QAT_MAX_DATA_FILES][4096], tpath[4096];
  const char *files[QAT_MAX_DATA_FILES];
  int rc;
  for (int i = 0; i < spec->n_train_files; i++) {
    if ((rc = qat_data_path(spec, spec->train_files[i], paths[i], sizeof paths[i]))) return rc;
    files[i] = paths[i];
  }
  rc = qat_cifar10_load(files, spec->n_train_files, train);
  if (rc || !want_test || !spec->test_file) return rc;
  if ((rc = qat_data_path(spec, spec->test_file, tpath, sizeof tpath))) {
    qat_dataset_free(train);
    return rc;
  }
  const char *test_files[1] = {tpath};
  rc = qat_cifar10_load(test_files, 1, test);
  if (rc) qat_dataset_free(train);
  return rc;
}

int qat_data_path(const qat_data_spec *spec, const char *p, char *buf, size_t size) {
  int n = p[0] == '/' || !spec->base_dir || !spec->base_dir[0] ? snprintf(buf, size, "%s", p)
                                                               : snprintf(buf, size, "%s/%s", spec->base_dir, p);
  if (n < 0 || (size_t)n >= size) return qat_fail(QAT_ERR_USAGE, "%s: path too long", p);
  return QAT_OK;
}

void qat_data_info_free(qat_data_info *info) {
  if (!info) return;
  for (int i = 0; i < info->n_class_names; i++) free(info->class_names[i]);
  free(info->class_names);
  memset(info, 0, sizeof *info);
}

/* Keras's image_dataset_from_directory shuffles the file list with its seed before taking the
 * validation subset, so that a split of class-ordered files holds every class. */
static int shuffle_samples(qat_dataset *ds, uint64_t seed) {
  if (ds->n < 2) return QAT_OK;
  int64_t bytes = image_bytes(ds);
  uint8_t *tmp = malloc((size_t)bytes);
  if (!tmp) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  qat_rng rng;
  qat_rng_seed(&rng, qat_hash64(seed ^ 0x73706c6974ULL /* "split" */));
  uint8_t *px = storage(ds);
  for (int64_t i = ds->n - 1; i > 0; i--) {
    int64_t j = qat_rng_below(&rng, (uint32_t)(i + 1));
    memcpy(tmp, px + i * bytes, (size_t)bytes);
    memcpy(px + i * bytes, px + j * bytes, (size_t)bytes);
    memcpy(px + j * bytes, tmp, (size_t)bytes);
    uint8_t l = ds->labels[i];
    ds->labels[i] = ds->labels[j];
    ds->labels[j] = l;
  }
  free(tmp);
  return QAT_OK;
}

int qat_data_load_ex(const qat_data_spec *spec, const qat_data_options *opt, qat_dataset *train, qat_dataset *val,
                     qat_dataset *test, qat_data_info *info) {
  memset(train, 0, sizeof *train);
  if (val) memset(val, 0, sizeof *val);
  if (test) memset(test, 0, sizeof *test);
  if (info) memset(info, 0, sizeof *info);
  float split = spec->validation_split;
  if (!(split >= 0.0f && split < 1.0f))
    return qat_fail(QAT_ERR_USAGE, "validation_split %g outside [0, 1)", (double)split);
  if (spec->limit_train < 0 || spec->limit_test < 0)
    return qat_fail(QAT_ERR_USAGE, "negative limit_train (%d) or limit_test (%d)",
                    spec->limit_train, spec->limit_test);
  if (spec->absent)
    return qat_fail(QAT_ERR_USAGE, "the config has no data: section; add one, e.g. data: {dataset: folder, "
                    "path: DIR} or data: {dataset: npy, x: X.npy, y: Y.npy} (or fashion-mnist, idx, cifar10)");
  qat_dataset all_test = {0}, folder_val = {0};
  qat_data_info local = {0};
  qat_data_options defaults;
  memset(&defaults, 0, sizeof defaults);
  if (!opt || !opt->input_shape[0]) {
    if (opt) defaults = *opt;
    memcpy(defaults.input_shape, spec->input_shape, sizeof defaults.input_shape);
    opt = &defaults;
  }
  if (!info) info = &local;
  int rc;
  switch (spec->kind) {
  case QAT_DATASET_FASHION_MNIST: rc = load_fashion_mnist(test != NULL, train, &all_test); break;
  case QAT_DATASET_IDX: rc = load_idx(spec, test != NULL, train, &all_test); break;
  case QAT_DATASET_CIFAR10: rc = load_cifar10(spec, test != NULL, train, &all_test); break;
  case QAT_DATASET_NPY: rc = qat_arrays_load(spec, test != NULL, train, &all_test, info); break;
  case QAT_DATASET_FOLDER: rc = qat_folder_load(spec, opt, test != NULL, train, &folder_val, &all_test, info); break;
  default: return qat_fail(QAT_ERR_USAGE, "unknown dataset kind %d", (int)spec->kind);
  }
  if (rc) goto free_info;
  if (spec->kind <= QAT_DATASET_CIFAR10) {
    info->num_classes = train->num_classes;
    if (!info->source[0])
      snprintf(info->source, sizeof info->source, "%s", spec->kind == QAT_DATASET_FASHION_MNIST ? "fashion-mnist"
                                                        : spec->kind == QAT_DATASET_IDX          ? "idx"
                                                                                                 : "cifar10");
  }
  if (spec->num_classes && info->num_classes != spec->num_classes && spec->kind == QAT_DATASET_FOLDER) {
    rc = qat_fail(QAT_ERR_USAGE, "data.num_classes is %d but %s has %d class folders", spec->num_classes,
                  spec->path, info->num_classes);
    goto free_test;
  }
  if (!all_test.owns) { /* the spec names no test set */
    rc = dataset_alloc(train, 0, &all_test);
    if (rc) goto free_train;
  }
  if (all_test.n && (all_test.h != train->h || all_test.w != train->w || all_test.c != train->c)) {
    rc = qat_fail(QAT_ERR_FORMAT, "test images are %dx%dx%d but training images are %dx%dx%d",
                  all_test.h, all_test.w, all_test.c, train->h, train->w, train->c);
    goto free_test;
  }
  {
    qat_preproc pre;
    if ((rc = qat_preproc_from_spec(spec, train->c, train->fimages != NULL, &pre))) goto free_test;
    train->pre = all_test.pre = folder_val.pre = pre;
  }
  if (spec->limit_train) dataset_truncate(train, spec->limit_train);
  if (spec->limit_test) dataset_truncate(&all_test, spec->limit_test);
  if (folder_val.owns && folder_val.n && split > 0.0f) {
    rc = qat_fail(QAT_ERR_USAGE, "%s has a validation/ folder and the config a validation_split; use one",
                  spec->path);
    goto free_test;
  }
  if (split > 0.0f) {
    if (spec->kind == QAT_DATASET_FOLDER && (rc = shuffle_samples(train, spec->split_seed))) goto free_test;
    /* Keras's split_at = floor(n * (1 - validation_split)): the last samples are held out. */
    int64_t keep = (int64_t)floor((double)train->n * (1.0 - float_as_written(split)));
    if (keep <= 0 || keep >= train->n) {
      rc = qat_fail(QAT_ERR_USAGE, "validation_split %g of %lld training samples leaves %lld "
                    "for training and %lld for validation; both must be > 0", (double)split,
                    (long long)train->n, (long long)keep, (long long)(train->n - keep));
      goto free_test;
    }
    if (val) {
      rc = dataset_copy_range(train, keep, train->n - keep, val);
      if (rc) goto free_test;
    }
    dataset_truncate(train, keep);
  } else if (val && folder_val.owns && folder_val.n) {
    *val = folder_val;
    memset(&folder_val, 0, sizeof folder_val);
  } else if (val) {
    rc = dataset_alloc(train, 0, val);
    if (rc) goto free_test;
  }
  qat_dataset_free(&folder_val);
  if (test) *test = all_test;
  else qat_dataset_free(&all_test);
  qat_data_info_free(&local);
  return QAT_OK;

free_test:
  qat_dataset_free(&all_test);
free_train:
  qat_dataset_free(train);
  qat_dataset_free(&folder_val);
free_info:
  qat_data_info_free(info);
  return rc;
}

int qat_data_load(const qat_data_spec *spec, qat_dataset *train, qat_dataset *val, qat_dataset *test) {
  return qat_data_load_ex(spec, NULL, train, val, test, NULL);
}

int qat_data_load_heldout(const qat_data_spec *spec, const char *owner, qat_dataset *out, const char **which) {
  qat_dataset train, val, test;
  memset(out, 0, sizeof *out);
  /* the loader checks the held-out sets against the training set's shape, so it reads all */
  int rc = qat_data_load(spec, &train, &val, &test);
  if (rc) return rc;
  qat_dataset_free(&train);
  if (test.n > 0 || val.n == 0) {
    qat_dataset_free(&val);
    if (test.n == 0 && owner) {
      qat_dataset_free(&test);
      return qat_fail(QAT_ERR_USAGE, "%s: its config names no test set and holds out no validation data "
                      "(data.validation_split, or a validation/ folder)", owner);
    }
    *out = test;
    if (which) *which = "test";
    return QAT_OK;
  }
  qat_dataset_free(&test);
  if (spec->limit_test) dataset_truncate(&val, spec->limit_test);
  *out = val;
  if (which) *which = "validation";
  return QAT_OK;
}
