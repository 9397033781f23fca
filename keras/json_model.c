/* A Keras model config (JSON, through json-c) -> qat_model_spec. Keras writes many arguments
 * that do not change the forward pass (initializers, regularizers, dtype policies); those are
 * ignored. Arguments that would change it and that qat cannot honour (dilation, groups,
 * channels_first, a BN axis other than the channels) are refused by name. */
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keras/internal.h"
#include "qat/error.h"

#include "qat/layer.h"

/* The Keras layers qat reads without a layer of their own, as the refusals list them. */
#define FOLDED "ZeroPadding2D, Rescaling and Normalization folded into the layer after them"

typedef struct op_alias {
  const char *from, *to; /* a skipped node's name -> the layer its consumers read */
} op_alias;

typedef struct jctx {
  const char *src;
  const char *layer; /* name of the layer being read, for messages */
  const char *cls;
  int n_norm; /* Normalization layers so far (their Keras 3 object names count them) */
  /* per entry of the layer list: an operation read as part of a hard_sigmoid (skip), the ReLU
   * that is one (hard); the skipped nodes' names -> what their consumers read */
  char *skip, *hard;
  op_alias *alias;
  int n_alias;
  const int *given_shape; /* qat import --input-shape: the input's unknown dimensions (or NULL) */
} jctx;

static struct json_object *get(struct json_object *o, const char *key) {
  struct json_object *v = NULL;
  if (!o || !json_object_is_type(o, json_type_object)) return NULL;
  if (!json_object_object_get_ex(o, key, &v)) return NULL;
  return v;
}

static int is_null(struct json_object *v) { return v == NULL || json_object_is_type(v, json_type_null); }

__attribute__((format(printf, 3, 4))) static int lfail(const jctx *c, int status, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->layer) return qat_fail(status, "%s: layer '%s' (%s): %s", c->src, c->layer, c->cls ? c->cls : "?", msg);
  return qat_fail(status, "%s: %s", c->src, msg);
}

static int want_int(const jctx *c, struct json_object *v, const char *key, int lo, int hi, int *out) {
  if (!v || !json_object_is_type(v, json_type_int))
    return lfail(c, QAT_ERR_FORMAT, "'%s' is %s, expected an integer", key,
                 v ? json_type_to_name(json_object_get_type(v)) : "missing");
  int64_t x = json_object_get_int64(v);
  if (x < lo || x > hi) return lfail(c, QAT_ERR_FORMAT, "'%s' = %lld, expected %d..%d", key, (long long)x, lo, hi);
  *out = (int)x;
  return QAT_OK;
}

static int want_num(const jctx *c, struct json_object *v, const char *key, double lo, double hi, float *out) {
  if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
    return lfail(c, QAT_ERR_FORMAT, "'%s' is %s, expected a number", key,
                 v ? json_type_to_name(json_object_get_type(v)) : "missing");
  double x = json_object_get_double(v);
  if (!(x >= lo && x <= hi)) return lfail(c, QAT_ERR_FORMAT, "'%s' = %g, expected %g..%g", key, x, lo, hi);
  *out = (float)x;
  return QAT_OK;
}

static int want_bool(const jctx *c, struct json_object *v, const char *key, int dflt, int *out) {
  if (is_null(v)) {
    *out = dflt;
    return QAT_OK;
  }
  if (!json_object_is_type(v, json_type_boolean))
    return lfail(c, QAT_ERR_FORMAT, "'%s' is %s, expected true or false", key, json_type_to_name(json_object_get_type(v)));
  *out = json_object_get_boolean(v);
  return QAT_OK;
}

/* An int or a list of two ints (kernel_size, strides, pool_size); absent/null gives dflt. */
static int int_pair(const jctx *c, struct json_object *o, const char *key, const int *dflt, int out[2]) {
  struct json_object *v = get(o, key);
  if (is_null(v)) {
    if (!dflt) return lfail(c, QAT_ERR_FORMAT, "missing '%s'", key);
    out[0] = dflt[0];
    out[1] = dflt[1];
    return QAT_OK;
  }
  if (json_object_is_type(v, json_type_int)) {
    int rc = want_int(c, v, key, 1, 1 << 20, &out[0]);
    out[1] = out[0];
    return rc;
  }
  if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2)
    return lfail(c, QAT_ERR_FORMAT, "'%s' is not an integer or a list of 2 integers", key);
  for (size_t i = 0; i < 2; i++) {
    int rc = want_int(c, json_object_array_get_idx(v, i), key, 1, 1 << 20, &out[i]);
    if (rc) return rc;
  }
  return QAT_OK;
}

static const char *str_or(struct json_object *v, const char *dflt) {
  if (v && json_object_is_type(v, json_type_string)) return json_object_get_string(v);
  return dflt;
}

/* ZeroPadding2D's padding, Cropping2D's cropping: n, [h, w] or [[top, bottom], [left, right]]. */
static int side_amounts(const jctx *c, struct json_object *pd, const char *key, int v[4]) {
  int rc;
  if (pd && json_object_is_type(pd, json_type_int)) {
    if ((rc = want_int(c, pd, key, 0, 1 << 16, &v[0]))) return rc;
    v[1] = v[2] = v[3] = v[0];
    return QAT_OK;
  }
  if (!pd || !json_object_is_type(pd, json_type_array) || json_object_array_length(pd) != 2)
    return lfail(c, QAT_ERR_FORMAT, "'%s' is not an int, a pair or a pair of pairs", key);
  for (size_t a = 0; a < 2; a++) {
    struct json_object *e = json_object_array_get_idx(pd, a);
    if (json_object_is_type(e, json_type_int)) {
      if ((rc = want_int(c, e, key, 0, 1 << 16, &v[2 * a]))) return rc;
      v[2 * a + 1] = v[2 * a];
    } else if (json_object_is_type(e, json_type_array) && json_object_array_length(e) == 2) {
      for (size_t b = 0; b < 2; b++)
        if ((rc = want_int(c, json_object_array_get_idx(e, b), key, 0, 1 << 16, &v[2 * a + b]))) return rc;
    } else {
      return lfail(c, QAT_ERR_FORMAT, "'%s' is not an int, a pair or a pair of pairs", key);
    }
  }
  return QAT_OK;
}

static int padding(const jctx *c, struct json_object *o, qat_padding *out) {
  struct json_object *v = get(o, "padding");
  const char *s = str_or(v, NULL);
  if (is_null(v) || (s && !strcmp(s, "valid"))) *out = QAT_PADDING_VALID;
  else if (s && !strcmp(s, "same")) *out = QAT_PADDING_SAME;
  else if (s && !strcmp(s, "causal")) *out = QAT_PADDING_CAUSAL; /* Conv1D's: the model build checks */
  else return lfail(c, QAT_ERR_UNSUPPORTED, "padding '%s' is not supported (expected valid or same, or causal for Conv1D)",
                    s ? s : "?");
  return QAT_OK;
}

static int channels_last(const jctx *c, struct json_object *o) {
  const char *s = str_or(get(o, "data_format"), NULL);
  if (is_null(get(o, "data_format")) || (s && !strcmp(s, "channels_last"))) return QAT_OK;
  return lfail(c, QAT_ERR_UNSUPPORTED, "data_format '%s' is not supported (expected channels_last)", s ? s : "?");
}

static int activation(const jctx *c, struct json_object *v, qat_activation *out) {
  if (is_null(v)) {
    *out = QAT_ACTIVATION_LINEAR;
    return QAT_OK;
  }
  /* Keras 3 may serialize a built-in activation as {"class_name": "function", "config": "relu"}. */
  if (json_object_is_type(v, json_type_object)) v = get(v, "config");
  const char *s = str_or(v, NULL);
  if (!s) return lfail(c, QAT_ERR_FORMAT, "'activation' is not a string");
  if (qat_activation_find(s, out)) return QAT_OK;
  return lfail(c, QAT_ERR_UNSUPPORTED,
               "activation '%s' is not supported (expected linear, relu, relu6, softmax, sigmoid, tanh, silu, "
               "hard_sigmoid, hard_silu, leaky_relu or elu)",
               s);
}

/* Names become HDF5 group names and TFLite tensor names: the alphabet config/ accepts. */
static int layer_name(const jctx *c, const char *s, char out[QAT_NAME_MAX]) {
  size_t n = strlen(s);
  if (n == 0 || n >= QAT_NAME_MAX)
    return qat_fail(QAT_ERR_UNSUPPORTED, "%s: layer name '%.80s' is %zu characters (expected 1 to %d)", c->src, s, n,
                    QAT_NAME_MAX - 1);
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
          *p == '-' || *p == '.'))
      return qat_fail(QAT_ERR_UNSUPPORTED,
                      "%s: layer name '%s' has the byte 0x%02x (qat names use ASCII letters, digits, '_', '-', '.')",
                      c->src, s, (unsigned)(unsigned char)*p);
  if (!strcmp(s, "input"))
    return qat_fail(QAT_ERR_UNSUPPORTED, "%s: a layer is named 'input', which qat reserves for the model input", c->src);
  memcpy(out, s, n + 1);
  return QAT_OK;
}

/* qat_kcfg over one layer's JSON config: what the layer descriptors read their Keras
 * arguments through (include/qat/layer.h), so layers/ links no JSON library. */
typedef struct kcfg_json {
  qat_kcfg base;
  const jctx *c;
  struct json_object *cfg;
  int one_d; /* a 1-D layer: its sizes are one number, (1, n) on the [1, T] view */
} kcfg_json;

static const kcfg_json *kj(const qat_kcfg *k) { return (const kcfg_json *)k; }

static int k_is_set(const qat_kcfg *k, const char *key) { return !is_null(get(kj(k)->cfg, key)); }
static int k_integer(const qat_kcfg *k, const char *key, int lo, int hi, int *out) {
  return want_int(kj(k)->c, get(kj(k)->cfg, key), key, lo, hi, out);
}
static int k_number(const qat_kcfg *k, const char *key, double lo, double hi, float *out) {
  return want_num(kj(k)->c, get(kj(k)->cfg, key), key, lo, hi, out);
}
static int k_boolean(const qat_kcfg *k, const char *key, int dflt, int *out) {
  return want_bool(kj(k)->c, get(kj(k)->cfg, key), key, dflt, out);
}
static int k_int_pair(const qat_kcfg *k, const char *key, const int *dflt, int out[2]) {
  if (!kj(k)->one_d) return int_pair(kj(k)->c, kj(k)->cfg, key, dflt, out);
  struct json_object *v = get(kj(k)->cfg, key);
  if (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 1) v = json_object_array_get_idx(v, 0);
  out[0] = 1;
  if (is_null(v)) {
    if (!dflt) return lfail(kj(k)->c, QAT_ERR_FORMAT, "missing '%s'", key);
    out[1] = dflt[1];
    return QAT_OK;
  }
  if (!json_object_is_type(v, json_type_int))
    return lfail(kj(k)->c, QAT_ERR_FORMAT, "'%s' is not an integer or a list of 1 integer", key);
  return want_int(kj(k)->c, v, key, 1, 1 << 20, &out[1]);
}
/* An int (a list of one) or a list of 1..max ints. */
static int k_int_list(const qat_kcfg *k, const char *key, int max, int lo, int hi, int *out, int *n) {
  const jctx *c = kj(k)->c;
  struct json_object *v = get(kj(k)->cfg, key);
  if (v && json_object_is_type(v, json_type_int)) {
    *n = 1;
    return want_int(c, v, key, lo, hi, &out[0]);
  }
  if (!v || !json_object_is_type(v, json_type_array) || json_object_array_length(v) < 1 ||
      json_object_array_length(v) > (size_t)max)
    return lfail(c, QAT_ERR_UNSUPPORTED, "%s must be a list of 1 to %d dimensions", key, max);
  *n = (int)json_object_array_length(v);
  for (int i = 0; i < *n; i++) {
    struct json_object *e = json_object_array_get_idx(v, (size_t)i);
    if (lo == 0 && is_null(e)) { /* a list of sizes that may be None (Dropout's noise_shape): 0 */
      out[i] = 0;
      continue;
    }
    int rc = want_int(c, e, key, lo, hi, &out[i]);
    if (rc) return rc;
  }
  return QAT_OK;
}
static int k_padding(const qat_kcfg *k, qat_padding *out) { return padding(kj(k)->c, kj(k)->cfg, out); }
static int k_side_amounts(const qat_kcfg *k, const char *key, int out[4]) {
  return side_amounts(kj(k)->c, get(kj(k)->cfg, key), key, out);
}
static int k_activation(const qat_kcfg *k, const char *key, qat_activation *out) {
  return activation(kj(k)->c, get(kj(k)->cfg, key), out);
}
static int k_channels_last(const qat_kcfg *k) { return channels_last(kj(k)->c, kj(k)->cfg); }
static int k_choice(const qat_kcfg *k, const char *key, const char *const *names, int n, int dflt, int *out) {
  struct json_object *v = get(kj(k)->cfg, key);
  if (is_null(v)) {
    *out = dflt;
    return QAT_OK;
  }
  const char *s = str_or(v, NULL);
  char list[256] = "";
  for (int i = 0; i < n; i++) {
    if (s && !strcmp(s, names[i])) {
      *out = i;
      return QAT_OK;
    }
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
  }
  return lfail(kj(k)->c, QAT_ERR_UNSUPPORTED, "%s '%s' is not supported (expected %s)", key, s ? s : "?", list);
}
__attribute__((format(printf, 3, 4))) static int k_fail(const qat_kcfg *k, int status, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return lfail(kj(k)->c, status, "%s", msg);
}

static const qat_kcfg_ops kcfg_json_ops = {
    .is_set = k_is_set,
    .integer = k_integer,
    .number = k_number,
    .boolean = k_boolean,
    .int_pair = k_int_pair,
    .int_list = k_int_list,
    .padding = k_padding,
    .activation = k_activation,
    .channels_last = k_channels_last,
    .choice = k_choice,
    .side_amounts = k_side_amounts,
    .fail = k_fail,
};

/* The input shape from a batch shape: [null, H, W, C], a sequence [null, T, C] or a vector [null, F]. */
static int input_shape(const jctx *c, struct json_object *v, qat_model_spec *spec) {
  if (!v || !json_object_is_type(v, json_type_array))
    return lfail(c, QAT_ERR_FORMAT, "the input shape is %s, expected a list", v ? json_type_to_name(json_object_get_type(v)) : "missing");
  size_t n = json_object_array_length(v);
  if (n < 2 || n > 4) {
    return lfail(c, QAT_ERR_UNSUPPORTED, "the model input has %zu dimensions after the batch (qat models take images "
                                          "[height, width, channels], sequences [steps, channels] or vectors [features])",
                 n ? n - 1 : 0);
  }
  int shape[3];
  if (c->given_shape) { /* --input-shape gives as many sizes as the input has after the batch */
    size_t given = 0;
    while (given < 3 && c->given_shape[given] > 0) given++;
    if (given != n - 1)
      return lfail(c, QAT_ERR_USAGE, "--input-shape gives %zu sizes, the model input has %zu dimensions after the batch",
                   given, n - 1);
  }
  for (size_t i = 1; i < n; i++) {
    struct json_object *d = json_object_array_get_idx(v, i);
    if (is_null(d)) {
      if (!c->given_shape)
        return lfail(c, QAT_ERR_UNSUPPORTED, "input dimension %zu is unknown (None): qat needs a fixed input size "
                     "(give it: qat import --input-shape %s)", i, n == 4 ? "H,W,C" : n == 3 ? "T,C" : "F");
      shape[i - 1] = c->given_shape[i - 1];
      continue;
    }
    int rc = want_int(c, d, "input shape", 1, 1 << 16, &shape[i - 1]);
    if (rc) return rc;
    if (c->given_shape && c->given_shape[i - 1] != shape[i - 1])
      return lfail(c, QAT_ERR_USAGE, "input dimension %zu is %d in the file, --input-shape gives %d", i, shape[i - 1],
                   c->given_shape[i - 1]);
  }
  qat_spec_set_input(spec, (int)n - 1, shape);
  return QAT_OK;
}

/* A Rescaling's scale / offset or a Normalization's mean / variance: one number or one per
 * channel (at most KERAS_MAX_AFFINE_CHANNELS). nonneg: a variance. */
static int number_or_list(const jctx *c, struct json_object *v, const char *key, int nonneg,
                          float out[KERAS_MAX_AFFINE_CHANNELS], int *n) {
  const double lo = nonneg ? 0 : -1e30;
  if (!v || !json_object_is_type(v, json_type_array)) {
    *n = 1;
    return want_num(c, v, key, lo, 1e30, &out[0]);
  }
  size_t len = json_object_array_length(v);
  if (len < 1 || len > KERAS_MAX_AFFINE_CHANNELS)
    return lfail(c, QAT_ERR_UNSUPPORTED, "'%s' has %zu values (qat takes 1 to %d, one per channel)", key, len,
                 KERAS_MAX_AFFINE_CHANNELS);
  for (size_t i = 0; i < len; i++) {
    int rc = want_num(c, json_object_array_get_idx(v, i), key, lo, 1e30, &out[i]);
    if (rc) return rc;
  }
  *n = (int)len;
  return QAT_OK;
}

/* Two value lists of one layer broadcast to one length (a single value repeats). */
static int widen_values(const jctx *c, float *a, int *na, float *b, int *nb) {
  if (*na != *nb && *na != 1 && *nb != 1)
    return lfail(c, QAT_ERR_FORMAT, "has %d and %d per-channel values: they must agree", *na, *nb);
  int n = *na > *nb ? *na : *nb;
  for (int i = 1; i < n; i++) {
    if (*na == 1) a[i] = a[0];
    if (*nb == 1) b[i] = b[0];
  }
  *na = *nb = n;
  return QAT_OK;
}

/* A Normalization over the channel axis: -1, 3 (of [batch, h, w, c]) or a list of one of them. */
static int norm_axis(const jctx *c, struct json_object *v) {
  if (v && json_object_is_type(v, json_type_array) && json_object_array_length(v) == 1)
    v = json_object_array_get_idx(v, 0);
  if (v && json_object_is_type(v, json_type_int) &&
      (json_object_get_int64(v) == -1 || json_object_get_int64(v) == 3))
    return QAT_OK;
  return lfail(c, QAT_ERR_UNSUPPORTED, "axis %s: qat normalizes per channel (axis -1)",
               v ? json_object_to_json_string(v) : "None");
}

/* One layer's class and config -> spec. Returns 1 for an InputLayer (no spec layer). */
/* Returns 2 for a ZeroPadding2D or Rescaling, described in *f (no spec layer). */
static int parse_layer(jctx *c, struct json_object *layer, qat_layer_spec *L, keras_fold *f, qat_model_spec *shape,
                       int *have_shape) {
  struct json_object *cfg = get(layer, "config");
  const char *cls = str_or(get(layer, "class_name"), NULL);
  if (!cls) return qat_fail(QAT_ERR_FORMAT, "%s: a layer has no class_name", c->src);
  if (!cfg || !json_object_is_type(cfg, json_type_object))
    return qat_fail(QAT_ERR_FORMAT, "%s: layer of class '%s' has no config object", c->src, cls);
  const char *name = str_or(get(cfg, "name"), str_or(get(layer, "name"), NULL));
  if (!name) return qat_fail(QAT_ERR_FORMAT, "%s: a layer of class '%s' has no name", c->src, cls);
  c->layer = name;
  c->cls = cls;
  int rc;
  /* A Sequential's first layer may carry the input shape itself (Keras 2). */
  struct json_object *bis = get(cfg, "batch_input_shape");
  if (is_null(bis)) bis = get(cfg, "batch_shape");
  if (!is_null(bis)) {
    if ((rc = input_shape(c, bis, shape))) return rc;
    *have_shape = 1;
  }
  if (!strcmp(cls, "InputLayer")) {
    if (!*have_shape) return lfail(c, QAT_ERR_FORMAT, "has no batch_shape / batch_input_shape");
    return 1;
  }
  if (!strcmp(cls, "ZeroPadding2D") || !strcmp(cls, "Rescaling") || !strcmp(cls, "Normalization")) {
    memset(f, 0, sizeof *f);
    if (strcmp(cls, "ZeroPadding2D")) {
      keras_affine *a = &f->affine[0];
      f->has_rescale = f->n_affine = 1;
      snprintf(a->name, sizeof a->name, "%.*s", QAT_NAME_MAX - 1, name);
      if (!strcmp(cls, "Rescaling")) {
        a->offset[0] = 0;
        if ((rc = number_or_list(c, get(cfg, "scale"), "scale", 0, a->scale, &a->n_values))) return rc;
        int n_off = a->n_values;
        struct json_object *of = get(cfg, "offset");
        if (!is_null(of) && (rc = number_or_list(c, of, "offset", 0, a->offset, &n_off))) return rc;
        if ((rc = widen_values(c, a->scale, &a->n_values, a->offset, &n_off))) return rc;
        return 2;
      }
      a->norm = 1;
      a->k3_index = c->n_norm++;
      int invert = 0;
      if ((rc = want_bool(c, get(cfg, "invert"), "invert", 0, &invert))) return rc;
      if (invert) return lfail(c, QAT_ERR_UNSUPPORTED, "invert: true (denormalization) is not supported");
      if ((rc = norm_axis(c, get(cfg, "axis")))) return rc;
      struct json_object *mean = get(cfg, "mean"), *var = get(cfg, "variance");
      if (is_null(mean) != is_null(var)) return lfail(c, QAT_ERR_FORMAT, "gives one of 'mean' and 'variance'");
      if (is_null(mean)) return 2; /* adapted: the values are the layer's weights */
      int n_var;
      if ((rc = number_or_list(c, mean, "mean", 0, a->mean, &a->n_values)) ||
          (rc = number_or_list(c, var, "variance", 1, a->variance, &n_var)))
        return rc;
      if ((rc = widen_values(c, a->mean, &a->n_values, a->variance, &n_var))) return rc;
      return 2;
    }
    if ((rc = channels_last(c, cfg))) return rc;
    int v[4];
    if ((rc = side_amounts(c, get(cfg, "padding"), "padding", v))) return rc;
    memcpy(f->pad, v, sizeof v);
    f->has_pad = 1;
    snprintf(f->pad_name, sizeof f->pad_name, "%.*s", QAT_NAME_MAX - 1, name);
    return 2;
  }
  qat_layer_type t;
  if (!qat_layer_find(cls, &t))
    return lfail(c, QAT_ERR_UNSUPPORTED,
                 "class '%s' is not supported (supported: InputLayer, %s; " FOLDED ")",
                 cls, qat_layer_class_list());
  qat_layer_defaults(L, t);
  if ((rc = layer_name(c, name, L->name))) return rc;
  /* Keras 3 LoRA or its own quantized layers carry other variables than a plain kernel. */
  if (!is_null(get(cfg, "lora_rank")))
    return lfail(c, QAT_ERR_UNSUPPORTED, "LoRA layers (lora_rank set) are not supported");
  if (!is_null(get(cfg, "quantization_config")) || !is_null(get(cfg, "quantization_mode")))
    return lfail(c, QAT_ERR_UNSUPPORTED, "Keras-quantized layers are not supported (expected a float model)");
  const qat_layer_desc *d = qat_layer_desc_of(t);
  kcfg_json k = {{&kcfg_json_ops}, c, cfg, (d->roles & QAT_LAYER_ONE_D) != 0};
  return d->keras ? d->keras(&k.base, L) : QAT_OK;
}

static int find_name(const qat_model_spec *s, int before, const char *name) {
  for (int i = 0; i < before; i++)
    if (!strcmp(s->layers[i].name, name)) return i;
  return -2;
}

/* Collects the source layer names of a Keras 3 node argument (keras tensors, nested in lists). */
static int k3_history(const jctx *c, struct json_object *v, const char **names, int *n, int depth) {
  if (depth > 8) return lfail(c, QAT_ERR_FORMAT, "inbound node nested too deeply");
  if (json_object_is_type(v, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      int rc = k3_history(c, json_object_array_get_idx(v, i), names, n, depth + 1);
      if (rc) return rc;
    }
    return QAT_OK;
  }
  const char *cls = str_or(get(v, "class_name"), NULL);
  if (!cls || strcmp(cls, "__keras_tensor__")) return QAT_OK; /* a constant argument */
  struct json_object *h = get(get(v, "config"), "keras_history");
  if (!h || !json_object_is_type(h, json_type_array) || json_object_array_length(h) != 3 ||
      !json_object_is_type(json_object_array_get_idx(h, 0), json_type_string))
    return lfail(c, QAT_ERR_FORMAT, "an inbound tensor has no keras_history [layer, node, index]");
  if (json_object_get_int64(json_object_array_get_idx(h, 1)) != 0 || json_object_get_int64(json_object_array_get_idx(h, 2)) != 0)
    return lfail(c, QAT_ERR_UNSUPPORTED, "shared layers / multi-output layers are not supported");
  if (*n == QAT_MAX_LAYER_INPUTS) return lfail(c, QAT_ERR_UNSUPPORTED, "more than %d inputs", QAT_MAX_LAYER_INPUTS);
  names[(*n)++] = json_object_get_string(json_object_array_get_idx(h, 0));
  return QAT_OK;
}

/* A Functional layer's inbound layer names, Keras 2 ([[[name, 0, 0, {}], ...]]) or Keras 3
 * ([{"args": [...], "kwargs": {...}}]) form. */
static int inbound(const jctx *c, struct json_object *layer, const char **names, int *n) {
  struct json_object *nodes = get(layer, "inbound_nodes");
  *n = 0;
  if (!nodes || !json_object_is_type(nodes, json_type_array))
    return lfail(c, QAT_ERR_FORMAT, "has no inbound_nodes list");
  size_t count = json_object_array_length(nodes);
  if (count == 0) return QAT_OK;
  if (count > 1) return lfail(c, QAT_ERR_UNSUPPORTED, "is called %zu times (shared layers are not supported)", count);
  struct json_object *node = json_object_array_get_idx(nodes, 0);
  if (json_object_is_type(node, json_type_object)) return k3_history(c, get(node, "args"), names, n, 0);
  if (!json_object_is_type(node, json_type_array)) return lfail(c, QAT_ERR_FORMAT, "bad inbound node");
  for (size_t i = 0; i < json_object_array_length(node); i++) {
    struct json_object *e = json_object_array_get_idx(node, i);
    if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) < 3 ||
        !json_object_is_type(json_object_array_get_idx(e, 0), json_type_string))
      return lfail(c, QAT_ERR_FORMAT, "bad inbound node entry (expected [layer, node, index, kwargs])");
    if (json_object_get_int64(json_object_array_get_idx(e, 1)) != 0 || json_object_get_int64(json_object_array_get_idx(e, 2)) != 0)
      return lfail(c, QAT_ERR_UNSUPPORTED, "shared layers / multi-output layers are not supported");
    if (*n == QAT_MAX_LAYER_INPUTS) return lfail(c, QAT_ERR_UNSUPPORTED, "more than %d inputs", QAT_MAX_LAYER_INPUTS);
    names[(*n)++] = json_object_get_string(json_object_array_get_idx(e, 0));
  }
  return QAT_OK;
}

/* A ZeroPadding2D or Rescaling waiting for the layer it feeds. */
typedef struct pending_fold {
  char name[QAT_NAME_MAX];
  int input;    /* spec layer or -1 (the model input) */
  int consumed;
  keras_fold f;
} pending_fold;

/* Keras 3's hard_sigmoid as MobileNetV3 writes it, relu6(x + 3.0) * (1.0 / 6.0): the tensor
 * operations x + 3.0 and * (1 / 6) (ops.Add / ops.Multiply nodes with a constant argument, module
 * keras.src.ops.numpy in a .keras file, no module in a .h5 one) around a ReLU(6). qat reads the
 * three as one Activation hard_sigmoid named after the ReLU; the two operations are aliases. */
/* The node's one tensor input and its constant, for an operation on a tensor and a number. */
static int tensor_op_scalar(struct json_object *layer, const char *cls, const char **input, double *value) {
  const char *module = str_or(get(layer, "module"), NULL);
  if (strcmp(str_or(get(layer, "class_name"), ""), cls)) return 0;
  if (module ? strncmp(module, "keras.src.ops", 13) : json_object_object_length(get(layer, "config")) != 1) return 0;
  struct json_object *nodes = get(layer, "inbound_nodes");
  if (!nodes || !json_object_is_type(nodes, json_type_array) || json_object_array_length(nodes) != 1) return 0;
  struct json_object *args = get(json_object_array_get_idx(nodes, 0), "args");
  if (!args || !json_object_is_type(args, json_type_array) || json_object_array_length(args) != 2) return 0;
  struct json_object *t = json_object_array_get_idx(args, 0), *k = json_object_array_get_idx(args, 1);
  if (!json_object_is_type(k, json_type_double) && !json_object_is_type(k, json_type_int)) return 0;
  struct json_object *h = get(get(t, "config"), "keras_history");
  if (!h || !json_object_is_type(h, json_type_array) || json_object_array_length(h) != 3 ||
      !json_object_is_type(json_object_array_get_idx(h, 0), json_type_string))
    return 0;
  *input = json_object_get_string(json_object_array_get_idx(h, 0));
  *value = json_object_get_double(k);
  return 1;
}

static const char *layer_name_of(struct json_object *layer) {
  return str_or(get(get(layer, "config"), "name"), str_or(get(layer, "name"), ""));
}

/* The one layer of the list that reads `name` (-1: none or several). */
static int sole_consumer(const jctx *c, struct json_object *list, const char *name) {
  int found = -1;
  for (size_t i = 0; i < json_object_array_length(list); i++) {
    const char *names[QAT_MAX_LAYER_INPUTS];
    int k = 0;
    if (inbound(c, json_object_array_get_idx(list, i), names, &k)) {
      qat_error_clear();
      continue;
    }
    for (int j = 0; j < k; j++)
      if (!strcmp(names[j], name)) {
        if (found >= 0) return -1;
        found = (int)i;
      }
  }
  return found;
}

/* Marks each hard_sigmoid's ReLU (hard[i]) and its two operations (skip[i]), and lists aliases. */
static int find_hard_sigmoids(const jctx *c, struct json_object *list, char *skip, char *hard, op_alias *alias,
                              int *n_alias) {
  const size_t n = json_object_array_length(list);
  for (size_t i = 0; i < n; i++) {
    struct json_object *add = json_object_array_get_idx(list, i), *relu, *mul;
    const char *x, *from;
    double three, sixth;
    if (!tensor_op_scalar(add, "Add", &x, &three) || three != 3.0) continue;
    int r = sole_consumer(c, list, layer_name_of(add));
    if (r < 0) continue;
    relu = json_object_array_get_idx(list, (size_t)r);
    struct json_object *rc = get(relu, "config");
    const char *rcls = str_or(get(relu, "class_name"), "");
    int relu6 = !strcmp(rcls, "ReLU") && get(rc, "max_value") && json_object_get_double(get(rc, "max_value")) == 6.0 &&
                (is_null(get(rc, "negative_slope")) || json_object_get_double(get(rc, "negative_slope")) == 0) &&
                (is_null(get(rc, "threshold")) || json_object_get_double(get(rc, "threshold")) == 0);
    relu6 |= !strcmp(rcls, "Activation") && !strcmp(str_or(get(rc, "activation"), ""), "relu6");
    if (!relu6) continue;
    int m = sole_consumer(c, list, layer_name_of(relu));
    if (m < 0) continue;
    mul = json_object_array_get_idx(list, (size_t)m);
    if (!tensor_op_scalar(mul, "Multiply", &from, &sixth) || fabs(sixth - 1.0 / 6.0) > 1e-7) continue;
    skip[i] = skip[m] = 1;
    hard[r] = 1;
    alias[(*n_alias)++] = (op_alias){layer_name_of(add), x};
    alias[(*n_alias)++] = (op_alias){layer_name_of(mul), layer_name_of(relu)};
  }
  return QAT_OK;
}

static const char *resolve_alias(const op_alias *alias, int n_alias, const char *name) {
  for (int hops = 0; hops < 4; hops++) {
    int a = 0;
    while (a < n_alias && strcmp(alias[a].from, name)) a++;
    if (a == n_alias) break;
    name = alias[a].to;
  }
  return name;
}

/* Every layer of an unsupported class, counted by class, in one message naming the first such
 * layer: a user converting a model learns the whole gap at once. Keras 3 serializes operations
 * on tensors (x + 3.0, x * (1 / 6)) as nodes of module keras.src.ops.*: counted as "ops.Add". */
static int unsupported_layers(jctx *c, struct json_object *list, const char *skip) {
  enum { MAX_KINDS = 16 };
  const char *kind[MAX_KINDS];
  int count[MAX_KINDS], is_op[MAX_KINDS], n_kinds = 0, total = 0;
  const char *first_name = NULL, *first_cls = NULL;
  size_t n = json_object_array_length(list);
  for (size_t i = 0; i < n; i++) {
    struct json_object *layer = json_object_array_get_idx(list, i);
    const char *cls = str_or(get(layer, "class_name"), NULL), *module = str_or(get(layer, "module"), "");
    if (!cls || skip[i]) continue; /* parse_layer reports it; a hard_sigmoid's operation */
    int op = !strncmp(module, "keras.src.ops", 13);
    qat_layer_type t;
    if (!op && (!strcmp(cls, "InputLayer") || !strcmp(cls, "ZeroPadding2D") || !strcmp(cls, "Rescaling") ||
                !strcmp(cls, "Normalization") || qat_layer_find(cls, &t)))
      continue;
    if (!first_name) {
      first_name = str_or(get(get(layer, "config"), "name"), str_or(get(layer, "name"), "?"));
      first_cls = cls;
    }
    total++;
    int k = 0;
    while (k < n_kinds && !(is_op[k] == op && !strcmp(kind[k], cls))) k++;
    if (k == n_kinds) {
      if (n_kinds == MAX_KINDS) continue; /* counted in the total */
      kind[k] = cls;
      is_op[k] = op;
      count[k] = 0;
      n_kinds++;
    }
    count[k]++;
  }
  if (!total) return QAT_OK;
  char txt[1024];
  size_t len = 0;
  for (int k = 0; k < n_kinds && len < sizeof txt; k++)
    len += (size_t)snprintf(txt + len, sizeof txt - len, "%s%s%s x%d", k ? ", " : "", is_op[k] ? "ops." : "",
                            kind[k], count[k]);
  c->layer = first_name;
  c->cls = first_cls;
  return lfail(c, QAT_ERR_UNSUPPORTED,
               "class '%s'%s is not supported; the file has %d unsupported layer%s: %s (supported: InputLayer, %s; "
               FOLDED ")",
               first_cls, is_op[0] ? " (an operation on tensors, keras.src.ops)" : "", total, total == 1 ? "" : "s",
               txt, qat_layer_class_list());
}

static const char *fold_class(const keras_fold *f) {
  return !f->has_rescale ? "ZeroPadding2D" : f->affine[f->n_affine - 1].norm ? "Normalization" : "Rescaling";
}

/* A fold read after the fold it reads (Rescaling -> Normalization -> ZeroPadding2D): one fold,
 * the affine maps in order before the padding. Padding then an affine map would change the
 * padded zeros: refused. */
static int join_folds(const jctx *c, const keras_fold *first, const keras_fold *then, keras_fold *out) {
  *out = *then;
  if (!first->has_pad && !first->has_rescale) return QAT_OK;
  if (first->has_pad && then->has_rescale)
    return lfail(c, QAT_ERR_UNSUPPORTED, "follows ZeroPadding2D '%s' (qat folds an affine map before a padding, "
                 "not after it: the padded zeros would change)", first->pad_name);
  *out = *first;
  if (then->has_pad) {
    if (!out->has_pad) snprintf(out->pad_name, sizeof out->pad_name, "%s", then->pad_name);
    for (int e = 0; e < 4; e++) out->pad[e] += then->pad[e];
    out->has_pad = 1;
  }
  for (int i = 0; i < then->n_affine; i++) {
    if (out->n_affine == KERAS_MAX_AFFINE)
      return lfail(c, QAT_ERR_UNSUPPORTED, "more than %d Rescaling / Normalization layers in a row",
                   KERAS_MAX_AFFINE);
    out->affine[out->n_affine++] = then->affine[i];
  }
  out->has_rescale = out->n_affine > 0;
  return QAT_OK;
}

static int parse_model(jctx *c, struct json_object *root, qat_model_spec *spec, keras_fold **folds_out) {
  const char *cls = str_or(get(root, "class_name"), NULL);
  if (!cls) return qat_fail(QAT_ERR_FORMAT, "%s: the model config has no class_name", c->src);
  int functional = !strcmp(cls, "Functional") || !strcmp(cls, "Model");
  if (!functional && strcmp(cls, "Sequential")) {
    const char *reg = str_or(get(root, "registered_name"), NULL);
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "%s: model class '%s'%s%s%s is not supported (expected Sequential or Functional with layers: "
                    "InputLayer, %s; " FOLDED ")",
                    c->src, cls, reg ? " (registered as '" : "", reg ? reg : "", reg ? "')" : "", qat_layer_class_list());
  }
  struct json_object *cfg = get(root, "config");
  struct json_object *list = cfg && json_object_is_type(cfg, json_type_array) ? cfg : get(cfg, "layers");
  if (!list || !json_object_is_type(list, json_type_array))
    return qat_fail(QAT_ERR_FORMAT, "%s: the model config has no layer list (config.layers)", c->src);
  size_t n = json_object_array_length(list);
  if (n > QAT_KERAS_MAX_LAYERS) return qat_fail(QAT_ERR_FORMAT, "%s: %zu layers, more than %d", c->src, n, QAT_KERAS_MAX_LAYERS);
  c->skip = calloc(n ? 2 * n : 2, 1); /* freed by qat_keras_parse_json */
  c->alias = calloc(n ? n : 1, sizeof *c->alias);
  if (!c->skip || !c->alias) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", c->src);
  c->hard = c->skip + (n ? n : 1);
  int urc = find_hard_sigmoids(c, list, c->skip, c->hard, c->alias, &c->n_alias);
  if (!urc) urc = unsupported_layers(c, list, c->skip);
  c->layer = c->cls = NULL;
  if (urc) return urc;
  spec->layers = calloc(n ? n : 1, sizeof *spec->layers);
  keras_fold *folds = calloc(n ? n : 1, sizeof *folds);
  pending_fold *pend = calloc(n ? n : 1, sizeof *pend);
  *folds_out = folds;
  if (!spec->layers || !folds || !pend) {
    free(pend);
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", c->src);
  }
  int have_shape = 0, nl = 0, np = 0, rc = QAT_OK;
  char input_name[QAT_NAME_MAX] = "", prev_name[QAT_NAME_MAX] = "";
  for (size_t i = 0; i < n; i++) {
    struct json_object *layer = json_object_array_get_idx(list, i);
    if (!json_object_is_type(layer, json_type_object)) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: config.layers[%zu] is not an object", c->src, i);
      goto free_pend;
    }
    c->layer = NULL;
    if (c->skip[i]) continue; /* x + 3.0 or * (1 / 6) of a hard_sigmoid: an alias */
    keras_fold this_fold;
    rc = parse_layer(c, layer, &spec->layers[nl], &this_fold, spec, &have_shape);
    if (rc < 0) goto free_pend;
    if (c->hard[i] && rc == QAT_OK) { /* relu6(x + 3) / 6: Keras 3's hard_sigmoid */
      qat_layer_spec *L = &spec->layers[nl];
      char keep[QAT_NAME_MAX];
      snprintf(keep, sizeof keep, "%s", L->name);
      qat_layer_defaults(L, QAT_LAYER_ACTIVATION);
      snprintf(L->name, sizeof L->name, "%s", keep);
      L->activation = QAT_ACTIVATION_HARD_SIGMOID;
    }
    if (rc == 1) {
      if (functional && input_name[0]) {
        rc = lfail(c, QAT_ERR_UNSUPPORTED, "a second model input (qat models have one)");
        goto free_pend;
      }
      snprintf(input_name, sizeof input_name, "%s", c->layer);
      snprintf(prev_name, sizeof prev_name, "%s", c->layer);
      rc = QAT_OK;
      continue;
    }
    int is_fold = rc == 2;
    rc = QAT_OK;
    /* inbound layer names: the previous entry in a Sequential model */
    const char *names[QAT_MAX_LAYER_INPUTS];
    int k = 1;
    names[0] = prev_name;
    if (functional) {
      if ((rc = inbound(c, layer, names, &k))) goto free_pend;
      for (int j = 0; j < k; j++) names[j] = resolve_alias(c->alias, c->n_alias, names[j]);
      if (k == 0) {
        rc = lfail(c, QAT_ERR_FORMAT, "has no inputs");
        goto free_pend;
      }
    }
    qat_layer_spec *L = &spec->layers[nl];
    int type = is_fold ? -1 : (int)L->type;
    if (!is_fold && (find_name(spec, nl, L->name) >= 0 || (input_name[0] && !strcmp(input_name, L->name)))) {
      rc = lfail(c, QAT_ERR_FORMAT, "duplicate layer name");
      goto free_pend;
    }
    const qat_layer_desc *d = is_fold ? NULL : qat_layer_desc_of((qat_layer_type)type);
    int multi = d && d->max_inputs > 1;
    if (!functional && multi) {
      rc = lfail(c, QAT_ERR_UNSUPPORTED, "%s in a Sequential model", d->keras_class);
      goto free_pend;
    }
    if (multi != (k > 1)) {
      rc = lfail(c, QAT_ERR_UNSUPPORTED, "has %d inputs (Add takes 2 or more, other layers one)", k);
      goto free_pend;
    }
    int src[QAT_MAX_LAYER_INPUTS];
    keras_fold fold = {0};
    for (int j = 0; j < k; j++) {
      if (!names[j][0] || (input_name[0] && !strcmp(names[j], input_name))) {
        src[j] = -1;
        continue;
      }
      int p = -1;
      for (int q = 0; q < np && p < 0; q++)
        if (!strcmp(pend[q].name, names[j])) p = q;
      if (p >= 0) {
        /* a ZeroPadding2D goes with any one-input layer: the conv after it takes it as SAME
         * padding where that is exact, otherwise it becomes its own PAD (keras.c fold_pads); a
         * Rescaling / Normalization too: folded into the kernel after it, or its own 1x1
         * depthwise conv (keras.c fold_rescales); a fold after a fold joins it */
        if (k != 1 || pend[p].consumed) {
          rc = qat_fail(QAT_ERR_UNSUPPORTED,
                        "%s: layer '%s' (%s) feeds %s (qat folds it into the one layer that follows it; it has no "
                        "layer of its own)",
                        c->src, pend[p].name, fold_class(&pend[p].f),
                        pend[p].consumed ? "a second layer" : "a layer of several inputs");
          goto free_pend;
        }
        pend[p].consumed = 1;
        fold = pend[p].f;
        src[j] = pend[p].input;
        continue;
      }
      src[j] = find_name(spec, nl, names[j]);
      if (src[j] < 0) {
        rc = lfail(c, QAT_ERR_FORMAT, "input '%s' is not an earlier layer", names[j]);
        goto free_pend;
      }
    }
    if (is_fold) {
      keras_fold f = this_fold;
      if ((rc = join_folds(c, &fold, &this_fold, &f))) goto free_pend;
      memset(L, 0, sizeof *L);
      pending_fold *pf = &pend[np++];
      snprintf(pf->name, sizeof pf->name, "%s", c->layer);
      pf->input = src[0];
      pf->f = f;
      snprintf(prev_name, sizeof prev_name, "%s", c->layer);
      continue;
    }
    L->n_inputs = k;
    memcpy(L->inputs, src, (size_t)k * sizeof *src);
    folds[nl] = fold;
    snprintf(prev_name, sizeof prev_name, "%s", L->name);
    nl++;
  }
  for (int q = 0; q < np; q++)
    if (!pend[q].consumed) {
      rc = qat_fail(QAT_ERR_UNSUPPORTED,
                    "%s: layer '%s' (%s) feeds no layer (qat folds it into the layer after it; a model cannot end "
                    "with it)",
                    c->src, pend[q].name, fold_class(&pend[q].f));
      goto free_pend;
    }
  free(pend);
  pend = NULL;
  c->layer = NULL;
  if (!have_shape) {
    /* Keras 3 Sequential without an InputLayer keeps the shape in build_config. */
    struct json_object *bc = get(get(root, "build_config"), "input_shape");
    if (is_null(bc)) bc = get(cfg, "build_input_shape");
    if (is_null(bc)) return qat_fail(QAT_ERR_FORMAT, "%s: the model config states no input shape", c->src);
    if ((rc = input_shape(c, bc, spec))) return rc;
  }
  if (nl == 0) return qat_fail(QAT_ERR_FORMAT, "%s: the model has no layers besides its input", c->src);
  spec->n_layers = nl;
  if (functional) {
    /* output_layers: [name, node, tensor] (Keras 3 writes a single output unwrapped), or a list of
     * them: model.outputs unless it is the last layer alone */
    struct json_object *outs = get(cfg, "output_layers");
    size_t n_out = 0;
    const char *names[QAT_MAX_OUTPUTS];
    if (outs && json_object_is_type(outs, json_type_array) && json_object_array_length(outs) >= 1 &&
        !json_object_is_type(json_object_array_get_idx(outs, 0), json_type_array))
      names[n_out++] = str_or(json_object_array_get_idx(outs, 0), NULL);
    else if (outs && json_object_is_type(outs, json_type_array)) {
      if (json_object_array_length(outs) > QAT_MAX_OUTPUTS)
        return qat_fail(QAT_ERR_UNSUPPORTED, "%s: the model has %zu outputs (qat takes at most %d)", c->src,
                        json_object_array_length(outs), QAT_MAX_OUTPUTS);
      for (size_t i = 0; i < json_object_array_length(outs); i++)
        names[n_out++] = str_or(json_object_array_get_idx(json_object_array_get_idx(outs, i), 0), NULL);
    }
    if (!n_out) return qat_fail(QAT_ERR_FORMAT, "%s: the model config has no output_layers", c->src);
    for (size_t i = 0; i < n_out; i++) {
      if (!names[i]) return qat_fail(QAT_ERR_FORMAT, "%s: output_layers[%zu] names no layer", c->src, i);
      const char *name = resolve_alias(c->alias, c->n_alias, names[i]);
      int li = -1;
      for (int l = 0; l < nl && li < 0; l++)
        if (!strcmp(spec->layers[l].name, name)) li = l;
      if (li < 0)
        return qat_fail(QAT_ERR_FORMAT, "%s: output layer '%s' is not a layer of the model", c->src, name);
      spec->outputs[i] = li;
      spec->output_loss[i] = spec->loss;
      spec->loss_weight[i] = 1.0f;
    }
    if (n_out > 1 || spec->outputs[0] != nl - 1) spec->n_outputs = (int)n_out;
  }
  for (int i = 0; i < nl; i++)
    if (spec->layers[i].activation == QAT_ACTIVATION_SOFTMAX && !qat_spec_is_output(spec, i))
      return qat_fail(QAT_ERR_UNSUPPORTED, "%s: layer '%s' (%s): softmax is supported only on a model output", c->src,
                      spec->layers[i].name, qat_layer_type_name(spec->layers[i].type));
  return QAT_OK;
free_pend:
  free(pend);
  return rc;
}

/* Keras's spellings of the losses qat trains: function names, aliases, classes. */
static int loss_of(const char *name, qat_loss *out) {
  static const struct {
    const char *name;
    qat_loss loss;
  } names[] = {
      {"sparse_categorical_crossentropy", QAT_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
      {"SparseCategoricalCrossentropy", QAT_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
      {"categorical_crossentropy", QAT_LOSS_CATEGORICAL_CROSSENTROPY},
      {"CategoricalCrossentropy", QAT_LOSS_CATEGORICAL_CROSSENTROPY},
      {"binary_crossentropy", QAT_LOSS_BINARY_CROSSENTROPY},
      {"BinaryCrossentropy", QAT_LOSS_BINARY_CROSSENTROPY},
      {"mean_squared_error", QAT_LOSS_MEAN_SQUARED_ERROR},
      {"mse", QAT_LOSS_MEAN_SQUARED_ERROR},
      {"MeanSquaredError", QAT_LOSS_MEAN_SQUARED_ERROR},
      {"mean_absolute_error", QAT_LOSS_MEAN_ABSOLUTE_ERROR},
      {"mae", QAT_LOSS_MEAN_ABSOLUTE_ERROR},
      {"MeanAbsoluteError", QAT_LOSS_MEAN_ABSOLUTE_ERROR},
      {"huber", QAT_LOSS_HUBER},
      {"Huber", QAT_LOSS_HUBER},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(name, names[i].name)) {
      *out = names[i].loss;
      return 1;
    }
  return 0;
}

/* One Keras loss (a name, or a serialized loss object); 0 with *why set when qat does not train it. */
static int one_loss(struct json_object *loss, qat_loss *out, int *from_logits, const char **why, double *delta_out) {
  const char *name = str_or(loss, NULL);
  double delta = 1.0;
  *from_logits = 0;
  if (!name && json_object_is_type(loss, json_type_object)) {
    name = str_or(get(loss, "class_name"), NULL);
    struct json_object *cfg = get(loss, "config");
    struct json_object *fl = get(cfg, "from_logits");
    if (fl && json_object_is_type(fl, json_type_boolean)) *from_logits = json_object_get_boolean(fl);
    struct json_object *dl = get(cfg, "delta");
    if (dl && (json_object_is_type(dl, json_type_double) || json_object_is_type(dl, json_type_int)))
      delta = json_object_get_double(dl);
  }
  *why = name ? name : "an unreadable loss";
  *delta_out = delta;
  if (!name || !loss_of(name, out) || delta != 1.0) return 0;
  if (*out != QAT_LOSS_BINARY_CROSSENTROPY) *from_logits = 0;
  return 1;
}

/* A list (in output order) or a mapping by output name of numbers: the loss weights. */
static void loss_weights(struct json_object *w, qat_model_spec *spec) {
  for (int k = 0; w && k < spec->n_outputs; k++) {
    struct json_object *v = json_object_is_type(w, json_type_array) ? json_object_array_get_idx(w, (size_t)k)
                            : json_object_is_type(w, json_type_object)
                                ? get(w, spec->layers[spec->outputs[k]].name)
                                : NULL;
    if (v && (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) &&
        json_object_get_double(v) > 0)
      spec->loss_weight[k] = (float)json_object_get_double(v);
  }
}

int qat_keras_compiled_loss(const char *text, size_t len, qat_model_spec *spec, int *known, char *note,
                            size_t note_size) {
  *known = 0;
  note[0] = 0;
  if (!text || len > QAT_KERAS_MAX_JSON) return QAT_OK;
  struct json_object *root = json_tokener_parse(text);
  if (!root) return QAT_OK; /* an unreadable training config only costs the loss: the model is read */
  struct json_object *cc = get(root, "compile_config");
  if (is_null(cc)) cc = root;
  struct json_object *loss = get(cc, "loss");
  const char *why = NULL;
  double delta = 1.0;
  int from_logits = 0, ok = 1;
  qat_loss l;
  const int listed = !is_null(loss) && (json_object_is_type(loss, json_type_array) ||
                                        (json_object_is_type(loss, json_type_object) && !get(loss, "class_name")));
  if (is_null(loss)) {
    ok = 0;
  } else if (listed && spec->n_outputs > 0) {
    /* one loss per output: a list in output order, or a mapping by output name */
    for (int k = 0; k < spec->n_outputs && ok; k++) {
      struct json_object *e = json_object_is_type(loss, json_type_array)
                                  ? json_object_array_get_idx(loss, (size_t)k)
                                  : get(loss, spec->layers[spec->outputs[k]].name);
      int fl = 0;
      if (!e || !one_loss(e, &spec->output_loss[k], &fl, &why, &delta)) ok = 0;
      from_logits |= fl;
    }
    if (ok) spec->loss = spec->output_loss[0];
  } else if (listed) {
    why = "a list or mapping of losses";
    ok = 0;
  } else if ((ok = one_loss(loss, &l, &from_logits, &why, &delta))) {
    spec->loss = l;
    for (int k = 0; k < spec->n_outputs; k++) spec->output_loss[k] = l;
  }
  if (ok) {
    spec->from_logits = from_logits;
    loss_weights(get(cc, "loss_weights"), spec);
    *known = 1;
  } else if (!is_null(loss)) {
    snprintf(note, note_size, "the model was compiled with a loss qat does not train (%s%s); set train.loss",
             why ? why : "?", delta != 1.0 ? " with delta other than 1" : "");
  }
  json_object_put(root);
  return QAT_OK;
}

int qat_keras_parse_json(const char *text, size_t len, const char *source, const int input_shape[3],
                         qat_model_spec *spec, char keras_version[32], keras_fold **folds) {
  memset(spec, 0, sizeof *spec);
  *folds = NULL;
  if (len > QAT_KERAS_MAX_JSON)
    return qat_fail(QAT_ERR_FORMAT, "%s: model config is %zu bytes, more than %u", source, len, QAT_KERAS_MAX_JSON);
  struct json_tokener *tok = json_tokener_new_ex(64);
  if (!tok) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", source);
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t off = tok->char_offset;
  json_tokener_free(tok);
  if (!root || jerr != json_tokener_success) {
    if (root) json_object_put(root);
    return qat_fail(QAT_ERR_FORMAT, "%s: invalid JSON at byte %zu: %s", source, off,
                    jerr == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(jerr));
  }
  int rc;
  if (!json_object_is_type(root, json_type_object)) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: the model config is a JSON %s, expected an object", source,
                  json_type_to_name(json_object_get_type(root)));
    goto put_root;
  }
  if (keras_version) {
    const char *v = str_or(get(root, "keras_version"), NULL);
    if (v && !keras_version[0]) snprintf(keras_version, 32, "%s", v);
  }
  jctx c = {source, NULL, NULL, 0, NULL, NULL, NULL, 0, input_shape};
  rc = parse_model(&c, root, spec, folds);
  free(c.skip);
  free(c.alias);
  spec->source = NULL;
put_root:
  json_object_put(root);
  if (rc) {
    free(spec->layers);
    memset(spec, 0, sizeof *spec);
    free(*folds);
    *folds = NULL;
  }
  return rc;
}
