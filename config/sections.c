/* The data and train sections. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "qat/error.h"

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

/* Refuses keys that exist in the section but mean nothing for the chosen kind (momentum for
 * adam, train_files for idx): silently ignoring them would hide a wrong `name:`. */
static int kind_keys(const cfg_ctx *c, const char *section, const char *const *keys, size_t nkeys,
                     const cfg_node *const *vals, unsigned allowed, const char *what) {
  for (size_t i = 0; i < nkeys; i++) {
    if (vals[i] && !(allowed & (1u << i))) {
      const char *ok[32];
      size_t n = 0;
      char list[400], p[CFG_PATH_MAX];
      for (size_t k = 0; k < nkeys; k++)
        if (allowed & (1u << k)) ok[n++] = keys[k];
      qat_cfg_join(list, sizeof list, ok, n);
      qat_cfg_path(p, section, keys[i], strlen(keys[i]));
      return qat_cfg_error(c, vals[i], p, "'%s' does not apply to %s (expected one of: %s)",
                           keys[i], what, list);
    }
  }
  return 0;
}

static int missing(const cfg_ctx *c, const cfg_node *map, const char *section, const char *key,
                   const char *what) {
  return qat_cfg_error(c, map, section, "missing key '%s' (expected it for %s)", key, what);
}

static int path_value(const cfg_ctx *c, const cfg_node *n, const char *section, const char *key,
                      char **out) {
  char p[CFG_PATH_MAX];
  const char *s;
  int rc;
  qat_cfg_path(p, section, key, strlen(key));
  if ((rc = qat_cfg_str(c, n, p, &s))) return rc;
  return qat_cfg_strdup(s, out);
}

void qat_cfg_data_free(qat_data_spec *d) {
  free(d->train_images);
  free(d->train_labels);
  free(d->test_images);
  free(d->test_labels);
  for (int i = 0; i < d->n_train_files; i++)
    free(d->train_files[i]);
  free(d->test_file);
  free(d->base_dir);
  free(d->x);
  free(d->y);
  free(d->test_x);
  free(d->test_y);
  free(d->path);
  for (int i = 0; i < d->n_class_names; i++) free(d->class_names[i]);
  free(d->class_names);
  memset(d, 0, sizeof *d);
}

enum {
  D_DATASET,
  D_TRAIN_IMAGES,
  D_TRAIN_LABELS,
  D_TEST_IMAGES,
  D_TEST_LABELS,
  D_TRAIN_FILES,
  D_TEST_FILE,
  D_VALIDATION_SPLIT,
  D_RANDOM_CROP,
  D_HORIZONTAL_FLIP,
  D_LIMIT_TRAIN,
  D_LIMIT_TEST,
  D_X,
  D_Y,
  D_TEST_X,
  D_TEST_Y,
  D_PATH,
  D_NUM_CLASSES,
  D_CLASS_NAMES,
  D_RESCALE,
  D_OFFSET,
  D_MEAN,
  D_STD,
  D_INTERPOLATION,
  D_CROP_TO_ASPECT_RATIO,
  D_SKIP_INVALID,
  D_SEED,
  D_AUGMENT,
  D_COUNT
};
static const char *const data_keys[] = {
    "dataset",     "train_images",    "train_labels", "test_images",
    "test_labels", "train_files",     "test_file",    "validation_split",
    "random_crop", "horizontal_flip", "limit_train",  "limit_test",
    "x",           "y",               "test_x",       "test_y",
    "path",        "num_classes",     "class_names",  "rescale",
    "offset",      "mean",            "std",          "interpolation",
    "crop_to_aspect_ratio", "skip_invalid", "seed",        "augment",
};
_Static_assert(NKEYS(data_keys) == D_COUNT, "one name per data key");

#define BIT(k) (1u << (k))
#define DATA_COMMON                                                                         \
  (BIT(D_DATASET) | BIT(D_VALIDATION_SPLIT) | BIT(D_RANDOM_CROP) | BIT(D_HORIZONTAL_FLIP) | \
   BIT(D_LIMIT_TRAIN) | BIT(D_LIMIT_TEST) | BIT(D_RESCALE) | BIT(D_OFFSET) | BIT(D_MEAN) | BIT(D_STD) | \
   BIT(D_NUM_CLASSES) | BIT(D_AUGMENT))

static int data_files(const cfg_ctx *c, const cfg_node *const *v, const cfg_node *map,
                      qat_data_spec *out) {
  int rc;
  if (out->kind == QAT_DATASET_IDX) {
    for (int k = D_TRAIN_IMAGES; k <= D_TEST_LABELS; k++)
      if (!v[k]) return missing(c, map, "data", data_keys[k], "dataset idx");
    if ((rc = path_value(c, v[D_TRAIN_IMAGES], "data", "train_images", &out->train_images)))
      return rc;
    if ((rc = path_value(c, v[D_TRAIN_LABELS], "data", "train_labels", &out->train_labels)))
      return rc;
    if ((rc = path_value(c, v[D_TEST_IMAGES], "data", "test_images", &out->test_images))) return rc;
    return path_value(c, v[D_TEST_LABELS], "data", "test_labels", &out->test_labels);
  }
  if (out->kind == QAT_DATASET_NPY) {
    if (v[D_PATH] && (v[D_X] || v[D_Y]))
      return qat_cfg_error(c, v[D_PATH], "data.path", "give either path (a .npz) or x and y, not both");
    if (v[D_PATH]) return path_value(c, v[D_PATH], "data", "path", &out->path);
    if (!v[D_X]) return missing(c, map, "data", "x", "dataset npy (or path: a .npz file)");
    if (!v[D_Y]) return missing(c, map, "data", "y", "dataset npy");
    if (!v[D_TEST_X] != !v[D_TEST_Y])
      return qat_cfg_error(c, v[D_TEST_X] ? v[D_TEST_X] : v[D_TEST_Y], v[D_TEST_X] ? "data.test_x" : "data.test_y",
                           "test_x and test_y go together");
    if ((rc = path_value(c, v[D_X], "data", "x", &out->x))) return rc;
    if ((rc = path_value(c, v[D_Y], "data", "y", &out->y))) return rc;
    if (v[D_TEST_X] && (rc = path_value(c, v[D_TEST_X], "data", "test_x", &out->test_x))) return rc;
    if (v[D_TEST_Y] && (rc = path_value(c, v[D_TEST_Y], "data", "test_y", &out->test_y))) return rc;
    return 0;
  }
  if (out->kind == QAT_DATASET_FOLDER) {
    if (!v[D_PATH]) return missing(c, map, "data", "path", "dataset folder");
    return path_value(c, v[D_PATH], "data", "path", &out->path);
  }
  if (out->kind == QAT_DATASET_CIFAR10) {
    const cfg_node *f = v[D_TRAIN_FILES];
    if (!f) return missing(c, map, "data", "train_files", "dataset cifar10");
    if (!v[D_TEST_FILE]) return missing(c, map, "data", "test_file", "dataset cifar10");
    if (f->kind != CFG_SEQ)
      return qat_cfg_want(c, f, "data.train_files", "a list of CIFAR-10 batch files");
    if (f->n < 1 || f->n > QAT_MAX_DATA_FILES)
      return qat_cfg_error(c, f, "data.train_files",
                           "got a list of %zu (expected 1 to %d batch files)", f->n,
                           QAT_MAX_DATA_FILES);
    for (size_t i = 0; i < f->n; i++) {
      char p[CFG_PATH_MAX];
      const char *s;
      qat_cfg_path_index(p, "data.train_files", i);
      if ((rc = qat_cfg_str(c, f->kids[i], p, &s))) return rc;
      if ((rc = qat_cfg_strdup(s, &out->train_files[i]))) return rc;
      out->n_train_files = (int)i + 1;
    }
    return path_value(c, v[D_TEST_FILE], "data", "test_file", &out->test_file);
  }
  return 0;
}

/* A number or a list of 1 to QAT_MAX_CHANNELS numbers (per-channel mean / std). */
static int float_list(const cfg_ctx *c, const cfg_node *n, const char *path, double lo, int lo_open, float *out,
                      int *count) {
  char p[CFG_PATH_MAX];
  int rc;
  if (n->kind != CFG_SEQ) {
    *count = 1;
    return qat_cfg_float(c, n, path, lo, lo_open, INFINITY, 0, &out[0]);
  }
  if (n->n < 1 || n->n > QAT_MAX_CHANNELS)
    return qat_cfg_error(c, n, path, "got a list of %zu (expected 1 to %d numbers, one per channel)", n->n,
                         QAT_MAX_CHANNELS);
  for (size_t i = 0; i < n->n; i++) {
    qat_cfg_path_index(p, path, i);
    if ((rc = qat_cfg_float(c, n->kids[i], p, lo, lo_open, INFINITY, 0, &out[i]))) return rc;
  }
  *count = (int)n->n;
  return 0;
}

static int class_names(const cfg_ctx *c, const cfg_node *n, qat_data_spec *out) {
  static const char path[] = "data.class_names";
  char p[CFG_PATH_MAX];
  int rc;
  if (n->kind != CFG_SEQ) return qat_cfg_want(c, n, path, "a list of class names");
  if (n->n < 2 || n->n > QAT_MAX_CLASSES)
    return qat_cfg_error(c, n, path, "got a list of %zu (expected 2 to %d names)", n->n, QAT_MAX_CLASSES);
  if (!(out->class_names = calloc(n->n, sizeof *out->class_names)))
    return qat_fail(QAT_ERR_NOMEM, "out of memory while reading the config");
  for (size_t i = 0; i < n->n; i++) {
    const char *s;
    qat_cfg_path_index(p, path, i);
    if ((rc = qat_cfg_str(c, n->kids[i], p, &s))) return rc;
    if (!*s || strchr(s, '/') || strchr(s, '\n') || !strcmp(s, ".") || !strcmp(s, ".."))
      return qat_cfg_error(c, n->kids[i], p, "'%s' is not a folder name", qat_cfg_quote(s, n->kids[i]->len).s);
    for (size_t k = 0; k < i; k++)
      if (!strcmp(out->class_names[k], s))
        return qat_cfg_error(c, n->kids[i], p, "'%s' appears twice", qat_cfg_quote(s, n->kids[i]->len).s);
    if ((rc = qat_cfg_strdup(s, &out->class_names[i]))) return rc;
    out->n_class_names = (int)i + 1;
  }
  return 0;
}

/* data.augment: a list of Keras preprocessing layers, `- RandomFlip: {mode: horizontal}`. */
enum { AUG_FLIP, AUG_CROP, AUG_TRANSLATION, AUG_ROTATION, AUG_ZOOM, AUG_CONTRAST, AUG_BRIGHTNESS, AUG_COUNT };
static const char *const aug_layers[] = {"RandomFlip", "RandomCrop", "RandomTranslation", "RandomRotation",
                                         "RandomZoom", "RandomContrast", "RandomBrightness"};
_Static_assert(NKEYS(aug_layers) == AUG_COUNT, "one name per augmentation layer");
enum { A_MODE, A_HEIGHT, A_WIDTH, A_HEIGHT_FACTOR, A_WIDTH_FACTOR, A_FACTOR, A_FILL_MODE, A_INTERPOLATION,
       A_FILL_VALUE, A_VALUE_RANGE, A_COUNT };
static const char *const aug_args[] = {"mode",   "height",    "width",         "height_factor", "width_factor",
                                       "factor", "fill_mode", "interpolation", "fill_value",    "value_range"};
_Static_assert(NKEYS(aug_args) == A_COUNT, "one name per augmentation argument");
#define RESAMPLE (BIT(A_FILL_MODE) | BIT(A_INTERPOLATION) | BIT(A_FILL_VALUE))
static const unsigned aug_allowed[] = {
    BIT(A_MODE),
    BIT(A_HEIGHT) | BIT(A_WIDTH),
    BIT(A_HEIGHT_FACTOR) | BIT(A_WIDTH_FACTOR) | RESAMPLE,
    BIT(A_FACTOR) | RESAMPLE,
    BIT(A_HEIGHT_FACTOR) | BIT(A_WIDTH_FACTOR) | RESAMPLE,
    BIT(A_FACTOR) | BIT(A_VALUE_RANGE),
    BIT(A_FACTOR) | BIT(A_VALUE_RANGE),
};
static const unsigned aug_required[] = {
    0, BIT(A_HEIGHT) | BIT(A_WIDTH), BIT(A_HEIGHT_FACTOR) | BIT(A_WIDTH_FACTOR), BIT(A_FACTOR), BIT(A_HEIGHT_FACTOR),
    BIT(A_FACTOR), BIT(A_FACTOR),
};

/* A Keras factor: a number f (the range [-f, f], or [f, f] with `same`) or a pair [lower, upper],
 * each within [lo, hi]. */
static int aug_factor(const cfg_ctx *c, const cfg_node *n, const char *path, double lo, double hi, int same,
                      float out[2]) {
  char p[CFG_PATH_MAX];
  int rc;
  if (n->kind != CFG_SEQ) {
    if ((rc = qat_cfg_float(c, n, path, same ? lo : 0, 0, hi, 0, &out[1]))) return rc;
    out[0] = same ? out[1] : -out[1];
    return 0;
  }
  if (n->n != 2) return qat_cfg_error(c, n, path, "got a list of %zu (expected a number or [lower, upper])", n->n);
  for (size_t i = 0; i < 2; i++) {
    qat_cfg_path_index(p, path, i);
    if ((rc = qat_cfg_float(c, n->kids[i], p, lo, 0, hi, 0, &out[i]))) return rc;
  }
  if (!same && out[0] > out[1]) return qat_cfg_error(c, n, path, "lower %g is above upper %g", out[0], out[1]);
  return 0;
}

static int aug_range(const cfg_ctx *c, const cfg_node *n, const char *path, float out[2]) {
  char p[CFG_PATH_MAX];
  int rc;
  if (n->kind != CFG_SEQ || n->n != 2) return qat_cfg_want(c, n, path, "[low, high]");
  for (size_t i = 0; i < 2; i++) {
    qat_cfg_path_index(p, path, i);
    if ((rc = qat_cfg_float(c, n->kids[i], p, -INFINITY, 0, INFINITY, 0, &out[i]))) return rc;
  }
  if (!(out[0] < out[1])) return qat_cfg_error(c, n, path, "low %g is not below high %g", out[0], out[1]);
  return 0;
}

/* The geometric layers share one resampling: a second, different fill_mode is an error. */
typedef struct aug_resample {
  const cfg_node *fill_mode, *interpolation, *fill_value;
  int fill_mode_v, interp_v;
  float fill_value_v;
} aug_resample;

static int aug_layer(const cfg_ctx *c, const cfg_node *item, const char *path, const cfg_node **seen,
                     aug_resample *rs, qat_augment_spec *a) {
  static const char shape[] = "a one-key mapping such as 'RandomFlip: {mode: horizontal}'";
  static const char *const flip_modes[] = {"horizontal", "vertical", "horizontal_and_vertical"};
  static const char *const fill_modes[] = {"reflect", "wrap", "constant", "nearest"};
  static const char *const interps[] = {"bilinear", "nearest"};
  const cfg_node *key, *args = NULL, *v[A_COUNT];
  char lp[CFG_PATH_MAX], ap[A_COUNT][CFG_PATH_MAX];
  int t, rc;
  if (item->kind == CFG_SCALAR && !qat_cfg_is_null(item)) {
    key = item;
  } else if (item->kind == CFG_MAP && item->n == 2) {
    key = item->kids[0];
    args = item->kids[1];
  } else {
    return qat_cfg_want(c, item, path, shape);
  }
  if ((rc = qat_cfg_enum(c, key, path, aug_layers, AUG_COUNT, &t))) return rc;
  qat_cfg_path(lp, path, key->str, key->len);
  if (seen[t]) return qat_cfg_error(c, key, lp, "appears twice (line %d has it already)", seen[t]->line);
  seen[t] = key;
  if (args && (rc = qat_cfg_map(c, args, lp, aug_args, A_COUNT, v))) return rc;
  if (!args)
    for (int k = 0; k < A_COUNT; k++) v[k] = NULL;
  if ((rc = kind_keys(c, lp, aug_args, A_COUNT, v, aug_allowed[t], key->str))) return rc;
  for (int k = 0; k < A_COUNT; k++) {
    qat_cfg_path(ap[k], lp, aug_args[k], strlen(aug_args[k]));
    if ((aug_required[t] & BIT(k)) && !v[k])
      return missing(c, args ? args : key, lp, aug_args[k], key->str);
  }
  switch (t) {
  case AUG_FLIP: {
    int mode = 2;
    if (v[A_MODE] && (rc = qat_cfg_enum(c, v[A_MODE], ap[A_MODE], flip_modes, NKEYS(flip_modes), &mode))) return rc;
    a->flip_horizontal = mode != 1;
    a->flip_vertical = mode != 0;
    break;
  }
  case AUG_CROP:
    if ((rc = qat_cfg_int(c, v[A_HEIGHT], ap[A_HEIGHT], 1, 65536, &a->crop_h))) return rc;
    if ((rc = qat_cfg_int(c, v[A_WIDTH], ap[A_WIDTH], 1, 65536, &a->crop_w))) return rc;
    break;
  case AUG_TRANSLATION:
    a->translate = 1;
    if ((rc = aug_factor(c, v[A_HEIGHT_FACTOR], ap[A_HEIGHT_FACTOR], -1, 1, 0, a->translate_h))) return rc;
    if ((rc = aug_factor(c, v[A_WIDTH_FACTOR], ap[A_WIDTH_FACTOR], -1, 1, 0, a->translate_w))) return rc;
    break;
  case AUG_ROTATION:
    a->rotate = 1;
    if ((rc = aug_factor(c, v[A_FACTOR], ap[A_FACTOR], -1, 1, 0, a->rotation))) return rc;
    break;
  case AUG_ZOOM:
    a->zoom = 1;
    /* Keras: a zoom of 1 + u must stay positive, so u > -1. */
    if ((rc = aug_factor(c, v[A_HEIGHT_FACTOR], ap[A_HEIGHT_FACTOR], -0.99, 10, 0, a->zoom_h))) return rc;
    if (v[A_WIDTH_FACTOR]) {
      a->zoom_w_given = 1;
      if ((rc = aug_factor(c, v[A_WIDTH_FACTOR], ap[A_WIDTH_FACTOR], -0.99, 10, 0, a->zoom_w))) return rc;
    }
    if (a->zoom_h[0] <= -1 || (a->zoom_w_given && a->zoom_w[0] <= -1))
      return qat_cfg_error(c, v[A_HEIGHT_FACTOR], ap[A_HEIGHT_FACTOR], "a factor of -1 or less zooms to nothing");
    break;
  case AUG_CONTRAST:
    a->contrast = 1;
    /* Keras: the contrast factor is drawn from [1 - lower, 1 + upper], lower and upper in [0, 1]. */
    if ((rc = aug_factor(c, v[A_FACTOR], ap[A_FACTOR], 0, 1, 1, a->contrast_f))) return rc;
    if (v[A_VALUE_RANGE] && (rc = aug_range(c, v[A_VALUE_RANGE], ap[A_VALUE_RANGE], a->contrast_range))) return rc;
    break;
  case AUG_BRIGHTNESS:
    a->brightness = 1;
    if ((rc = aug_factor(c, v[A_FACTOR], ap[A_FACTOR], -1, 1, 0, a->brightness_f))) return rc;
    if (v[A_VALUE_RANGE] && (rc = aug_range(c, v[A_VALUE_RANGE], ap[A_VALUE_RANGE], a->brightness_range)))
      return rc;
    break;
  }
  /* One resampling serves every geometric layer: their fill arguments must agree. */
  if (v[A_FILL_MODE]) {
    int m;
    if ((rc = qat_cfg_enum(c, v[A_FILL_MODE], ap[A_FILL_MODE], fill_modes, NKEYS(fill_modes), &m))) return rc;
    if (rs->fill_mode && m != rs->fill_mode_v)
      return qat_cfg_error(c, v[A_FILL_MODE], ap[A_FILL_MODE], "'%s', but line %d says '%s' (the geometric layers "
                           "share one resampling)", fill_modes[m], rs->fill_mode->line, fill_modes[rs->fill_mode_v]);
    rs->fill_mode = v[A_FILL_MODE];
    rs->fill_mode_v = m;
  }
  if (v[A_INTERPOLATION]) {
    int m;
    if ((rc = qat_cfg_enum(c, v[A_INTERPOLATION], ap[A_INTERPOLATION], interps, NKEYS(interps), &m))) return rc;
    if (rs->interpolation && m != rs->interp_v)
      return qat_cfg_error(c, v[A_INTERPOLATION], ap[A_INTERPOLATION], "'%s', but line %d says '%s' (the geometric "
                           "layers share one resampling)", interps[m], rs->interpolation->line, interps[rs->interp_v]);
    rs->interpolation = v[A_INTERPOLATION];
    rs->interp_v = m;
  }
  if (v[A_FILL_VALUE]) {
    float f;
    if ((rc = qat_cfg_float(c, v[A_FILL_VALUE], ap[A_FILL_VALUE], -INFINITY, 0, INFINITY, 0, &f))) return rc;
    if (rs->fill_value && f != rs->fill_value_v)
      return qat_cfg_error(c, v[A_FILL_VALUE], ap[A_FILL_VALUE], "%g, but line %d says %g (the geometric layers "
                           "share one resampling)", f, rs->fill_value->line, rs->fill_value_v);
    rs->fill_value = v[A_FILL_VALUE];
    rs->fill_value_v = f;
  }
  return 0;
}

static int augment_list(const cfg_ctx *c, const cfg_node *n, qat_augment_spec *a) {
  static const char path[] = "data.augment";
  const cfg_node *seen[AUG_COUNT] = {0};
  aug_resample rs = {0};
  int rc;
  memset(a, 0, sizeof *a);
  if (qat_cfg_is_null(n)) return 0;
  if (n->kind != CFG_SEQ)
    return qat_cfg_want(c, n, path, "a list of Keras preprocessing layers such as '- RandomFlip: {mode: horizontal}'");
  a->contrast_range[1] = a->brightness_range[1] = 255.0f;
  for (size_t i = 0; i < n->n; i++) {
    char p[CFG_PATH_MAX];
    qat_cfg_path_index(p, path, i);
    if ((rc = aug_layer(c, n->kids[i], p, seen, &rs, a))) return rc;
  }
  a->fill_mode = (qat_fill_mode)rs.fill_mode_v;
  a->interp_nearest = rs.interp_v == 1;
  a->fill_value = rs.fill_value_v;
  a->enabled = n->n > 0;
  return 0;
}

int qat_cfg_data(const cfg_ctx *c, const cfg_node *data, const int input_shape[3], qat_data_spec *out) {
  static const char *const kinds[] = {"fashion-mnist", "idx", "cifar10", "npy", "folder"};
  static const char *const interps[] = {"bilinear", "nearest", "area"};
  static const unsigned allowed[] = {
      DATA_COMMON,
      DATA_COMMON | BIT(D_TRAIN_IMAGES) | BIT(D_TRAIN_LABELS) | BIT(D_TEST_IMAGES) |
          BIT(D_TEST_LABELS),
      DATA_COMMON | BIT(D_TRAIN_FILES) | BIT(D_TEST_FILE),
      DATA_COMMON | BIT(D_X) | BIT(D_Y) | BIT(D_TEST_X) | BIT(D_TEST_Y) | BIT(D_PATH) | BIT(D_CLASS_NAMES),
      DATA_COMMON | BIT(D_PATH) | BIT(D_CLASS_NAMES) | BIT(D_INTERPOLATION) | BIT(D_CROP_TO_ASPECT_RATIO) |
          BIT(D_SKIP_INVALID) | BIT(D_SEED),
  };
  _Static_assert(D_COUNT <= 32, "data keys fit the allowed-key masks");
  const cfg_node *v[D_COUNT];
  char what[48];
  int kind = QAT_DATASET_FASHION_MNIST, rc;

  memset(out, 0, sizeof *out);
  out->split_seed = 1337;
  memcpy(out->input_shape, input_shape, sizeof out->input_shape);
  if (!data) { /* commands that need data say what to add */
    out->absent = 1;
    return 0;
  }
  if ((rc = qat_cfg_map(c, data, "data", data_keys, D_COUNT, v))) return rc;
  if (!v[D_DATASET])
    return qat_cfg_error(c, data, "data",
                         "missing key 'dataset' (expected one of: folder, npy, fashion-mnist, idx, cifar10)");
  if ((rc = qat_cfg_enum(c, v[D_DATASET], "data.dataset", kinds, NKEYS(kinds), &kind))) return rc;
  out->kind = (qat_dataset_kind)kind;
  snprintf(what, sizeof what, "dataset %s", kinds[kind]);
  if ((rc = kind_keys(c, "data", data_keys, D_COUNT, v, allowed[kind], what))) goto free_data;
  if ((rc = data_files(c, v, data, out))) goto free_data;
  if (v[D_VALIDATION_SPLIT] &&
      (rc = qat_cfg_float(c, v[D_VALIDATION_SPLIT], "data.validation_split", 0, 0, 1, 1,
                          &out->validation_split)))
    goto free_data;
  /* The cap keeps the padded-image arithmetic in data/ far from overflow. */
  if (v[D_RANDOM_CROP] &&
      (rc = qat_cfg_int(c, v[D_RANDOM_CROP], "data.random_crop", 0, 4096, &out->random_crop)))
    goto free_data;
  if (v[D_HORIZONTAL_FLIP] &&
      (rc = qat_cfg_bool(c, v[D_HORIZONTAL_FLIP], "data.horizontal_flip", &out->horizontal_flip)))
    goto free_data;
  if (v[D_LIMIT_TRAIN] &&
      (rc = qat_cfg_int(c, v[D_LIMIT_TRAIN], "data.limit_train", 0, INT_MAX, &out->limit_train)))
    goto free_data;
  if (v[D_LIMIT_TEST] &&
      (rc = qat_cfg_int(c, v[D_LIMIT_TEST], "data.limit_test", 0, INT_MAX, &out->limit_test)))
    goto free_data;
  if (v[D_NUM_CLASSES] &&
      (rc = qat_cfg_int(c, v[D_NUM_CLASSES], "data.num_classes", 2, QAT_MAX_CLASSES, &out->num_classes)))
    goto free_data;
  if (v[D_CLASS_NAMES] && (rc = class_names(c, v[D_CLASS_NAMES], out))) goto free_data;
  if (out->n_class_names && out->num_classes && out->num_classes != out->n_class_names) {
    rc = qat_cfg_error(c, v[D_NUM_CLASSES], "data.num_classes", "%d, but class_names lists %d names",
                       out->num_classes, out->n_class_names);
    goto free_data;
  }
  if (out->n_class_names && !out->num_classes && out->kind == QAT_DATASET_NPY) out->num_classes = out->n_class_names;
  if (v[D_RESCALE] || v[D_OFFSET]) {
    out->has_rescale = 1;
    out->rescale = 1.0f;
  }
  if (v[D_RESCALE] &&
      (rc = qat_cfg_float(c, v[D_RESCALE], "data.rescale", -INFINITY, 0, INFINITY, 0, &out->rescale)))
    goto free_data;
  if (v[D_OFFSET] && (rc = qat_cfg_float(c, v[D_OFFSET], "data.offset", -INFINITY, 0, INFINITY, 0, &out->offset)))
    goto free_data;
  if (v[D_MEAN] && (rc = float_list(c, v[D_MEAN], "data.mean", -INFINITY, 0, out->mean, &out->n_mean)))
    goto free_data;
  if (v[D_STD] && (rc = float_list(c, v[D_STD], "data.std", 0, 1, out->std, &out->n_std))) goto free_data;
  if (v[D_INTERPOLATION]) {
    int k;
    if ((rc = qat_cfg_enum(c, v[D_INTERPOLATION], "data.interpolation", interps, NKEYS(interps), &k)))
      goto free_data;
    out->interpolation = (qat_interpolation)k;
  }
  if (v[D_CROP_TO_ASPECT_RATIO] &&
      (rc = qat_cfg_bool(c, v[D_CROP_TO_ASPECT_RATIO], "data.crop_to_aspect_ratio", &out->crop_to_aspect_ratio)))
    goto free_data;
  if (v[D_SKIP_INVALID] && (rc = qat_cfg_bool(c, v[D_SKIP_INVALID], "data.skip_invalid", &out->skip_invalid)))
    goto free_data;
  if (v[D_SEED] && (rc = qat_cfg_u64(c, v[D_SEED], "data.seed", &out->split_seed))) goto free_data;
  if (v[D_AUGMENT]) {
    if (v[D_RANDOM_CROP] || v[D_HORIZONTAL_FLIP]) {
      rc = qat_cfg_error(c, v[D_AUGMENT], "data.augment", "give either augment or the older random_crop / "
                         "horizontal_flip keys (RandomTranslation and RandomFlip do their work)");
      goto free_data;
    }
    if ((rc = augment_list(c, v[D_AUGMENT], &out->augment))) goto free_data;
    if (out->augment.crop_h && out->input_shape[0] &&
        (out->augment.crop_h > out->input_shape[0] || out->augment.crop_w > out->input_shape[1])) {
      rc = qat_cfg_error(c, v[D_AUGMENT], "data.augment", "RandomCrop %dx%d is larger than the %dx%d input",
                         out->augment.crop_h, out->augment.crop_w, out->input_shape[0], out->input_shape[1]);
      goto free_data;
    }
  }
  return 0;

free_data:
  qat_cfg_data_free(out);
  return rc;
}

enum {
  O_NAME,
  O_LEARNING_RATE,
  O_MOMENTUM,
  O_NESTEROV,
  O_BETA_1,
  O_BETA_2,
  O_EPSILON,
  O_WEIGHT_DECAY,
  O_CLIPNORM,
  O_COUNT
};
static const char *const opt_keys[] = {"name",     "learning_rate", "momentum",
                                       "nesterov", "beta_1",        "beta_2",
                                       "epsilon",  "weight_decay",  "clipnorm"};
_Static_assert(NKEYS(opt_keys) == O_COUNT, "one name per optimizer key");

/* `optimizer: adam` (Keras' compile(optimizer="adam")) or a mapping with a name. The node
 * holding the name is returned so both forms report the same way. */
static int named_section(const cfg_ctx *c, const cfg_node *n, const char *path,
                         const char *const *keys, size_t nkeys, const cfg_node **vals,
                         const char *const *kinds, size_t nkinds, int *kind) {
  int rc;
  if (n->kind == CFG_SCALAR && !qat_cfg_is_null(n)) {
    for (size_t i = 0; i < nkeys; i++)
      vals[i] = NULL;
    vals[0] = n;
  } else {
    if ((rc = qat_cfg_map(c, n, path, keys, nkeys, vals))) return rc;
    if (!vals[0]) {
      char list[128];
      qat_cfg_join(list, sizeof list, kinds, nkinds);
      return qat_cfg_error(c, n, path, "missing key 'name' (expected one of: %s)", list);
    }
  }
  char p[CFG_PATH_MAX];
  if (n->kind == CFG_SCALAR)
    snprintf(p, sizeof p, "%s", path);
  else
    qat_cfg_path(p, path, "name", 4);
  return qat_cfg_enum(c, vals[0], p, kinds, nkinds, kind);
}

static int optimizer(const cfg_ctx *c, const cfg_node *n, qat_optimizer_spec *o) {
  static const char path[] = "train.optimizer";
  static const char *const kinds[] = {"sgd", "adam", "adamw"};
  static const unsigned common =
      BIT(O_NAME) | BIT(O_LEARNING_RATE) | BIT(O_WEIGHT_DECAY) | BIT(O_CLIPNORM);
  static const unsigned adam = common | BIT(O_BETA_1) | BIT(O_BETA_2) | BIT(O_EPSILON);
  static const unsigned allowed[] = {common | BIT(O_MOMENTUM) | BIT(O_NESTEROV), adam, adam};
  static const struct {
    int key;
    double lo;
    int lo_open;
    double hi;
    int hi_open;
  } ranges[] = {
      {O_LEARNING_RATE, 0, 1, INFINITY, 0},
      {O_MOMENTUM, 0, 0, 1, 1},
      {O_BETA_1, 0, 0, 1, 1},
      {O_BETA_2, 0, 0, 1, 1},
      {O_EPSILON, 0, 1, INFINITY, 0},
      {O_WEIGHT_DECAY, 0, 0, INFINITY, 0},
      {O_CLIPNORM, 0, 0, INFINITY, 0},
  };
  const cfg_node *v[O_COUNT];
  char what[32];
  int kind, rc;

  if ((rc = named_section(c, n, path, opt_keys, O_COUNT, v, kinds, NKEYS(kinds), &kind))) return rc;
  snprintf(what, sizeof what, "optimizer %s", kinds[kind]);
  if ((rc = kind_keys(c, path, opt_keys, O_COUNT, v, allowed[kind], what))) return rc;
  o->kind = (qat_optimizer_kind)kind;
  /* Keras defaults. */
  o->learning_rate = kind == QAT_OPT_SGD ? 0.01f : 0.001f;
  o->beta_1 = 0.9f;
  o->beta_2 = 0.999f;
  o->epsilon = 1e-7f;
  o->weight_decay = kind == QAT_OPT_ADAMW ? 0.004f : 0.0f;
  for (size_t i = 0; i < NKEYS(ranges); i++) {
    int k = ranges[i].key;
    float *dst = k == O_LEARNING_RATE  ? &o->learning_rate
                 : k == O_MOMENTUM     ? &o->momentum
                 : k == O_BETA_1       ? &o->beta_1
                 : k == O_BETA_2       ? &o->beta_2
                 : k == O_EPSILON      ? &o->epsilon
                 : k == O_WEIGHT_DECAY ? &o->weight_decay
                                       : &o->clipnorm;
    char p[CFG_PATH_MAX];
    if (!v[k]) continue;
    qat_cfg_path(p, path, opt_keys[k], strlen(opt_keys[k]));
    if ((rc = qat_cfg_float(c, v[k], p, ranges[i].lo, ranges[i].lo_open, ranges[i].hi,
                            ranges[i].hi_open, dst)))
      return rc;
  }
  if (v[O_NESTEROV] &&
      (rc = qat_cfg_bool(c, v[O_NESTEROV], "train.optimizer.nesterov", &o->nesterov)))
    return rc;
  return 0;
}

enum { S_NAME, S_WARMUP_STEPS, S_STEP_SIZE, S_GAMMA, S_ALPHA, S_COUNT };
static const char *const sched_keys[] = {"name", "warmup_steps", "step_size", "gamma", "alpha"};
_Static_assert(NKEYS(sched_keys) == S_COUNT, "one name per schedule key");

static int schedule(const cfg_ctx *c, const cfg_node *n, qat_schedule_spec *s) {
  static const char path[] = "train.schedule";
  static const char *const kinds[] = {"constant", "step", "cosine"};
  static const unsigned allowed[] = {
      BIT(S_NAME) | BIT(S_WARMUP_STEPS),
      BIT(S_NAME) | BIT(S_WARMUP_STEPS) | BIT(S_STEP_SIZE) | BIT(S_GAMMA),
      BIT(S_NAME) | BIT(S_WARMUP_STEPS) | BIT(S_ALPHA),
  };
  const cfg_node *v[S_COUNT];
  int kind, rc;

  if ((rc = named_section(c, n, path, sched_keys, S_COUNT, v, kinds, NKEYS(kinds), &kind)))
    return rc;
  if ((rc = kind_keys(c, path, sched_keys, S_COUNT, v, allowed[kind],
                      kind == QAT_SCHED_CONSTANT ? "schedule constant"
                      : kind == QAT_SCHED_STEP   ? "schedule step"
                                                 : "schedule cosine")))
    return rc;
  s->kind = (qat_schedule_kind)kind;
  s->gamma = 0.1f;
  if (v[S_WARMUP_STEPS] && (rc = qat_cfg_int(c, v[S_WARMUP_STEPS], "train.schedule.warmup_steps", 0,
                                             INT_MAX, &s->warmup_steps)))
    return rc;
  if (kind == QAT_SCHED_STEP) {
    if (!v[S_STEP_SIZE])
      return qat_cfg_error(c, n, path, "missing key 'step_size' (expected it for schedule step)");
    if ((rc =
             qat_cfg_int(c, v[S_STEP_SIZE], "train.schedule.step_size", 1, INT_MAX, &s->step_size)))
      return rc;
  }
  if (v[S_GAMMA] &&
      (rc = qat_cfg_float(c, v[S_GAMMA], "train.schedule.gamma", 0, 1, INFINITY, 0, &s->gamma)))
    return rc;
  if (v[S_ALPHA] &&
      (rc = qat_cfg_float(c, v[S_ALPHA], "train.schedule.alpha", 0, 0, 1, 0, &s->alpha)))
    return rc;
  return 0;
}

/* train.freeze: a layer name or a list of them, each a layer of the model. */
static int freeze_list(const cfg_ctx *c, const cfg_node *n, const qat_model_spec *model, qat_train_spec *out) {
  static const char path[] = "train.freeze";
  char p[CFG_PATH_MAX];
  size_t count = n->kind == CFG_SEQ ? n->n : 1;
  int rc;
  if (n->kind == CFG_MAP) return qat_cfg_want(c, n, path, "a list of layer names");
  if (count > QAT_MAX_FREEZE)
    return qat_cfg_error(c, n, path, "%zu names (expected at most %d)", count, QAT_MAX_FREEZE);
  for (size_t i = 0; i < count; i++) {
    const cfg_node *e = n->kind == CFG_SEQ ? n->kids[i] : n;
    const char *s;
    if (n->kind == CFG_SEQ) qat_cfg_path_index(p, path, i);
    else snprintf(p, sizeof p, "%s", path);
    if ((rc = qat_cfg_str(c, e, p, &s))) return rc;
    /* With model.keras the layers are not known yet: the trainer checks the names. */
    int li;
    if (!model->keras && (rc = qat_cfg_layer_index(c, e, p, model, s, &li))) return rc;
    snprintf(out->freeze[out->n_freeze++], QAT_NAME_MAX, "%s", s);
  }
  return 0;
}

int qat_cfg_train(const cfg_ctx *c, const cfg_node *train, qat_model_spec *model, qat_train_spec *out) {
  static const char *const keys[] = {"epochs",    "batch_size", "seed",   "threads",         "optimizer",
                                     "schedule",  "freeze",     "steps_per_epoch", "loss", "from_logits",
                                     "loss_weights"};
  /* Keras's names and its short aliases */
  static const char *const losses[] = {"sparse_categorical_crossentropy", "categorical_crossentropy",
                                       "binary_crossentropy", "mean_squared_error", "mean_absolute_error", "huber",
                                       "mse", "mae"};
  static const qat_loss loss_of[] = {QAT_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, QAT_LOSS_CATEGORICAL_CROSSENTROPY,
                                     QAT_LOSS_BINARY_CROSSENTROPY, QAT_LOSS_MEAN_SQUARED_ERROR,
                                     QAT_LOSS_MEAN_ABSOLUTE_ERROR, QAT_LOSS_HUBER, QAT_LOSS_MEAN_SQUARED_ERROR,
                                     QAT_LOSS_MEAN_ABSOLUTE_ERROR};
  const cfg_node *v[NKEYS(keys)];
  int rc;

  memset(out, 0, sizeof *out);
  out->epochs = 1;
  out->batch_size = 32;
  out->seed = 1;
  /* No optimizer given: Adam with Keras defaults, the usual choice for these CNNs. */
  out->optimizer.kind = QAT_OPT_ADAM;
  out->optimizer.learning_rate = 0.001f;
  out->optimizer.beta_1 = 0.9f;
  out->optimizer.beta_2 = 0.999f;
  out->optimizer.epsilon = 1e-7f;
  out->schedule.kind = QAT_SCHED_CONSTANT;
  out->schedule.gamma = 0.1f;
  if (!train) return 0;
  if ((rc = qat_cfg_map(c, train, "train", keys, NKEYS(keys), v))) return rc;
  if (v[0] && (rc = qat_cfg_int(c, v[0], "train.epochs", 1, INT_MAX, &out->epochs))) return rc;
  if (v[1] && (rc = qat_cfg_int(c, v[1], "train.batch_size", 1, INT_MAX, &out->batch_size)))
    return rc;
  if (v[2] && (rc = qat_cfg_u64(c, v[2], "train.seed", &out->seed))) return rc;
  if (v[3] && (rc = qat_cfg_int(c, v[3], "train.threads", 0, 1024, &out->threads))) return rc;
  if (v[4] && !qat_cfg_is_null(v[4]) && (rc = optimizer(c, v[4], &out->optimizer))) return rc;
  if (v[5] && !qat_cfg_is_null(v[5]) && (rc = schedule(c, v[5], &out->schedule))) return rc;
  if (v[6] && !qat_cfg_is_null(v[6]) && (rc = freeze_list(c, v[6], model, out))) return rc;
  if (v[7] && !qat_cfg_is_null(v[7]) &&
      (rc = qat_cfg_int(c, v[7], "train.steps_per_epoch", 1, INT_MAX, &out->steps_per_epoch)))
    return rc;
  const int n_out = model->n_outputs;
  if (v[8] && !qat_cfg_is_null(v[8]) && v[8]->kind == CFG_SEQ) {
    /* one loss per model output, in model.outputs' order */
    char p[CFG_PATH_MAX];
    if ((int)v[8]->n != (n_out ? n_out : 1))
      return qat_cfg_error(c, v[8], "train.loss", "%zu losses for %d model output%s (expected one per output, or one "
                           "loss for all)", v[8]->n, n_out ? n_out : 1, n_out > 1 ? "s" : "");
    for (size_t i = 0; i < v[8]->n; i++) {
      int k;
      qat_cfg_path_index(p, "train.loss", i);
      if ((rc = qat_cfg_enum(c, v[8]->kids[i], p, losses, NKEYS(losses), &k))) return rc;
      if (n_out) model->output_loss[i] = loss_of[k];
      else model->loss = loss_of[k];
    }
    if (n_out) model->loss = model->output_loss[0];
  } else if (v[8] && !qat_cfg_is_null(v[8])) {
    int k;
    if ((rc = qat_cfg_enum(c, v[8], "train.loss", losses, NKEYS(losses), &k))) return rc;
    model->loss = loss_of[k];
    for (int i = 0; i < n_out; i++) model->output_loss[i] = model->loss;
  }
  if (v[10] && !qat_cfg_is_null(v[10])) {
    char p[CFG_PATH_MAX];
    if (v[10]->kind != CFG_SEQ || (int)v[10]->n != (n_out ? n_out : 1))
      return qat_cfg_want(c, v[10], "train.loss_weights", "a list of one weight per model output");
    for (size_t i = 0; i < v[10]->n; i++) {
      float w;
      qat_cfg_path_index(p, "train.loss_weights", i);
      if ((rc = qat_cfg_float(c, v[10]->kids[i], p, 0, 1, INFINITY, 0, &w))) return rc;
      if (n_out) model->loss_weight[i] = w;
      else if (w != 1.0f)
        return qat_cfg_error(c, v[10]->kids[i], p, "a weight of %g for the only output (it would only scale the "
                             "learning rate; give model.outputs for several)", (double)w);
    }
  }
  if (v[9] && !qat_cfg_is_null(v[9]) && (rc = qat_cfg_bool(c, v[9], "train.from_logits", &model->from_logits)))
    return rc;
  return 0;
}
