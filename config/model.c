/* The model section: input shape and the layer list, Keras class and argument names. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "qat/error.h"
#include "qat/layer.h"

/* Arguments by Keras name: the layer descriptors (include/qat/layer.h) say which each type
 * takes; the parsers below say how each reads. */
enum {
#define CFG_ARG_ENUM(e, s) ARG_##e = QAT_ARG_##e,
  QAT_LAYER_ARGS(CFG_ARG_ENUM)
#undef CFG_ARG_ENUM
      ARG_COUNT = QAT_ARG_COUNT
};
static const char *const arg_names[] = {
#define CFG_ARG_NAME(e, s) s,
    QAT_LAYER_ARGS(CFG_ARG_NAME)
#undef CFG_ARG_NAME
};

#define A(x) QAT_ARG(x)

static const qat_layer_desc *desc(qat_layer_type t) { return qat_layer_desc_of(t); }
static uint32_t allowed_mask(qat_layer_type t) { return desc(t)->args | A(NAME) | A(INPUTS); }

typedef struct layer_aux {
  const cfg_node *item;       /* the list item, for messages about the whole layer */
  const cfg_node *activation; /* where softmax was asked for, if it was */
  const cfg_node *inputs;     /* resolved once every name is known */
  const cfg_node *name;       /* NULL when the name is a default one */
  char path[CFG_PATH_MAX];    /* "model.layers[3].Conv2D" */
} layer_aux;

/* Layer names -> index, so name checks stay linear in the number of layers. */
typedef struct name_table {
  int *slot; /* layer index or -1 */
  size_t mask;
  const qat_layer_spec *layers;
} name_table;

static uint64_t name_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static int names_init(name_table *t, size_t n_layers, const qat_layer_spec *layers) {
  size_t cap = 16;
  while (cap < 2 * n_layers)
    cap *= 2;
  t->slot = malloc(cap * sizeof *t->slot);
  if (!t->slot) return qat_fail(QAT_ERR_NOMEM, "out of memory while reading the config");
  for (size_t i = 0; i < cap; i++)
    t->slot[i] = -1;
  t->mask = cap - 1;
  t->layers = layers;
  return 0;
}

static int names_find(const name_table *t, const char *name) {
  for (size_t h = name_hash(name) & t->mask;; h = (h + 1) & t->mask) {
    int i = t->slot[h];
    if (i < 0 || !strcmp(t->layers[i].name, name)) return i;
  }
}

static void names_add(name_table *t, int index) {
  size_t h = name_hash(t->layers[index].name) & t->mask;
  while (t->slot[h] >= 0)
    h = (h + 1) & t->mask;
  t->slot[h] = index;
}

static int find_type(const char *s, qat_layer_type *out) { return qat_layer_find(s, out); }

static int unknown_type(const cfg_ctx *c, const cfg_node *key, const char *path) {
  char list[512];
  const char *hint;
  cfg_quoted q = qat_cfg_quote(key->str, key->len);
  if (!strcmp(key->str, "InputLayer") || !strcmp(key->str, "Input"))
    return qat_cfg_error(c, key, path,
                         "'%s' is not a layer here (expected the input shape in model.input)", q.s);
  const char *classes[QAT_LAYER_TYPE_COUNT];
  for (int t = 0; t < QAT_LAYER_TYPE_COUNT; t++) classes[t] = desc((qat_layer_type)t)->keras_class;
  hint = qat_cfg_suggest(key->str, classes, QAT_LAYER_TYPE_COUNT);
  if (hint)
    return qat_cfg_error(c, key, path, "unknown layer type '%s' (did you mean '%s'?)", q.s, hint);
  qat_cfg_join(list, sizeof list, classes, QAT_LAYER_TYPE_COUNT);
  return qat_cfg_error(c, key, path, "unknown layer type '%s' (expected one of: %s)", q.s, list);
}

static size_t allowed_names(qat_layer_type t, const char **out) {
  size_t n = 0;
  unsigned mask = allowed_mask(t);
  for (int a = 0; a < ARG_COUNT; a++)
    if (mask & (1u << a)) out[n++] = arg_names[a];
  return n;
}

/* kernel_size, strides, pool_size: an int or [rows, cols], as Keras accepts; a 1-D layer's an int
 * or [steps], which is (1, steps) on the [1, T] view. */
static int int_pair(const cfg_ctx *c, const cfg_node *n, const char *path, const qat_layer_spec *L, int out[2]) {
  char p[CFG_PATH_MAX];
  int rc;
  if (desc(L->type)->roles & QAT_LAYER_ONE_D) {
    const cfg_node *e = n->kind == CFG_SEQ && n->n == 1 ? n->kids[0] : n;
    if (e->kind != CFG_SCALAR) return qat_cfg_want(c, n, path, "an integer >= 1 or a list of 1 integer (a 1-D layer)");
    out[0] = 1;
    return qat_cfg_int(c, e, path, 1, INT_MAX, &out[1]);
  }
  if (n->kind != CFG_SEQ) {
    if (n->kind != CFG_SCALAR)
      return qat_cfg_want(c, n, path, "an integer >= 1 or a list of 2 integers");
    if ((rc = qat_cfg_int(c, n, path, 1, INT_MAX, &out[0]))) return rc;
    out[1] = out[0];
    return 0;
  }
  if (n->n != 2)
    return qat_cfg_error(
        c, n, path, "got a list of %zu (expected an integer >= 1 or a list of 2 integers)", n->n);
  for (size_t i = 0; i < 2; i++) {
    qat_cfg_path_index(p, path, i);
    if ((rc = qat_cfg_int(c, n->kids[i], p, 1, INT_MAX, &out[i]))) return rc;
  }
  return 0;
}

/* ZeroPadding2D's padding, as Keras takes it: n (all sides), [h, w] (symmetric) or
 * [[top, bottom], [left, right]]. */
static int zero_pad_arg(const cfg_ctx *c, const cfg_node *n, const char *path, int out[4]) {
  static const char want[] = "an integer >= 0, [height, width] or [[top, bottom], [left, right]]";
  char p[CFG_PATH_MAX], q[CFG_PATH_MAX];
  int rc;
  if (n->kind == CFG_SCALAR) {
    if ((rc = qat_cfg_int(c, n, path, 0, 1 << 16, &out[0]))) return rc;
    out[1] = out[2] = out[3] = out[0];
    return 0;
  }
  if (n->kind != CFG_SEQ || n->n != 2) return qat_cfg_want(c, n, path, want);
  for (size_t a = 0; a < 2; a++) {
    const cfg_node *e = n->kids[a];
    qat_cfg_path_index(p, path, a);
    if (e->kind == CFG_SCALAR) {
      if ((rc = qat_cfg_int(c, e, p, 0, 1 << 16, &out[2 * a]))) return rc;
      out[2 * a + 1] = out[2 * a];
    } else if (e->kind == CFG_SEQ && e->n == 2) {
      for (size_t b = 0; b < 2; b++) {
        qat_cfg_path_index(q, p, b);
        if ((rc = qat_cfg_int(c, e->kids[b], q, 0, 1 << 16, &out[2 * a + b]))) return rc;
      }
    } else {
      return qat_cfg_want(c, e, p, want);
    }
  }
  return 0;
}

static int target_shape(const cfg_ctx *c, const cfg_node *n, const char *path, qat_layer_spec *L) {
  char p[CFG_PATH_MAX];
  int rc, unknown = 0;
  if (n->kind != CFG_SEQ) return qat_cfg_want(c, n, path, "a list of 1 to 3 dimensions");
  if (n->n < 1 || n->n > 3)
    return qat_cfg_error(c, n, path,
                         "got a list of %zu (expected 1 to 3 dimensions after the batch)", n->n);
  for (size_t i = 0; i < n->n; i++) {
    int d;
    qat_cfg_path_index(p, path, i);
    if ((rc = qat_cfg_int(c, n->kids[i], p, -1, INT_MAX, &d))) return rc;
    if (d == 0)
      return qat_cfg_error(c, n->kids[i], p,
                           "0 is not a dimension (expected an integer >= 1 or -1)");
    if (d == -1 && unknown++)
      return qat_cfg_error(c, n->kids[i], p,
                           "a second -1 (expected at most one inferred dimension)");
    L->target_shape[i] = d;
  }
  L->target_rank = (int)n->n;
  return 0;
}

/* Dropout's noise_shape, as Keras writes it: [null, 1, 1, 1] (one mask value per sample), a
 * dimension's own size or null for a mask value per position, 1 for one value along it. */
static int noise_shape(const cfg_ctx *c, const cfg_node *n, const char *path, int *shared) {
  char p[CFG_PATH_MAX];
  int rc;
  if (n->kind != CFG_SEQ || n->n < 2 || n->n > 4)
    return qat_cfg_want(c, n, path, "a list of 2 to 4 sizes, batch first ([null, 1, 1, 1])");
  *shared = 0;
  for (size_t i = 0; i < n->n; i++) {
    int d = 0;
    qat_cfg_path_index(p, path, i);
    const cfg_node *e = n->kids[i];
    int none = qat_cfg_is_null(e) || (e->kind == CFG_SCALAR && e->plain && !strcmp(e->str, "None"));
    if (!none && (rc = qat_cfg_int(c, n->kids[i], p, 1, INT_MAX, &d))) return rc;
    if (i == 0 && d == 1)
      return qat_cfg_error(c, n->kids[i], p, "1 for the batch (one mask for every sample) is not supported");
    if (i > 0 && d == 1) *shared |= 1 << (i - 1);
  }
  return 0;
}

/* PReLU's shared_axes: one axis (1, 2 or 3, after the batch) or a list of them; null: none. */
static int shared_axes(const cfg_ctx *c, const cfg_node *n, const char *path, int *mask) {
  char p[CFG_PATH_MAX];
  int rc, a;
  *mask = 0;
  if (qat_cfg_is_null(n) || (n->kind == CFG_SCALAR && n->plain && !strcmp(n->str, "None"))) return 0;
  if (n->kind == CFG_SCALAR) {
    if ((rc = qat_cfg_int(c, n, path, 1, 3, &a))) return rc;
    *mask = 1 << (a - 1);
    return 0;
  }
  if (n->kind != CFG_SEQ || n->n > 3) return qat_cfg_want(c, n, path, "an axis or a list of axes 1 to 3 ([1, 2])");
  for (size_t i = 0; i < n->n; i++) {
    qat_cfg_path_index(p, path, i);
    if ((rc = qat_cfg_int(c, n->kids[i], p, 1, 3, &a))) return rc;
    *mask |= 1 << (a - 1);
  }
  return 0;
}

/* Names end up as HDF5 group names and TFLite tensor names: keep them to a safe alphabet. */
static int layer_name(const cfg_ctx *c, const cfg_node *n, const char *path, qat_layer_spec *L) {
  const char *s;
  int rc;
  if ((rc = qat_cfg_str(c, n, path, &s))) return rc;
  if (n->len >= QAT_NAME_MAX)
    return qat_cfg_error(c, n, path, "name is %zu characters long (expected at most %d)", n->len,
                         QAT_NAME_MAX - 1);
  for (const char *p = s; *p; p++) {
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-' || *p == '.'))
      return qat_cfg_error(
          c, n, path, "name '%s' has the byte 0x%02x (expected ASCII letters, digits, '_', '-', '.')",
          qat_cfg_quote(s, n->len).s, (unsigned)(unsigned char)*p);
  }
  if (!strcmp(s, "input"))
    return qat_cfg_error(c, n, path,
                         "'input' is reserved for the model input (expected another name)");
  memcpy(L->name, s, n->len + 1);
  return 0;
}

static int inputs_arg(const cfg_ctx *c, const cfg_node *n, const char *path, qat_layer_type t) {
  char p[CFG_PATH_MAX];
  const char *s;
  int rc;
  size_t count = n->kind == CFG_SEQ ? n->n : 1;
  if (n->kind == CFG_MAP) return qat_cfg_want(c, n, path, "a list of layer names");
  const qat_layer_desc *d = desc(t);
  if (d->max_inputs > 1 && (count < (size_t)d->min_inputs || count > (size_t)d->max_inputs))
    return qat_cfg_error(c, n, path, "%s has %zu input%s (expected %d to %d layer names)", d->keras_class, count,
                         count == 1 ? "" : "s", d->min_inputs, d->max_inputs);
  if (d->max_inputs <= 1 && count != 1)
    return qat_cfg_error(c, n, path, "%s takes one input, got %zu (expected a single layer name)",
                         qat_layer_type_name(t), count);
  if (n->kind == CFG_SCALAR) return qat_cfg_str(c, n, path, &s);
  for (size_t i = 0; i < n->n; i++) {
    qat_cfg_path_index(p, path, i);
    if ((rc = qat_cfg_str(c, n->kids[i], p, &s))) return rc;
  }
  return 0;
}

static int max_value(const cfg_ctx *c, const cfg_node *n, const char *path, float *out) {
  float v;
  int rc;
  if (qat_cfg_is_null(n)) {
    *out = 0;
    return 0;
  }
  /* 0 would be "none" here, and a ReLU capped at 0 outputs only zeros */
  if ((rc = qat_cfg_float(c, n, path, 0, 1, INFINITY, 1, &v))) return rc;
  *out = v;
  return 0;
}

static int activation_arg(const cfg_ctx *c, const cfg_node *n, const char *path,
                          qat_activation *out) {
  int v, rc;
  /* Keras configs write activation: None (Python) or null for "no activation". */
  if (qat_cfg_is_null(n) || (n->kind == CFG_SCALAR && n->plain && !strcmp(n->str, "None"))) {
    *out = QAT_ACTIVATION_LINEAR;
    return 0;
  }
  int count;
  const char *const *names = qat_activation_names(&count);
  if ((rc = qat_cfg_enum(c, n, path, names, count, &v))) return rc;
  qat_activation_find(names[v], out); /* maps the aliases */
  return 0;
}

static int one_arg(const cfg_ctx *c, int arg, const cfg_node *v, const char *path,
                   qat_layer_spec *L, layer_aux *aux) {
  static const char *const paddings[] = {"valid", "same", "causal"};
  int e, rc = 0;
  switch (arg) {
  case ARG_FILTERS: return qat_cfg_int(c, v, path, 1, INT_MAX, &L->filters);
  case ARG_UNITS: return qat_cfg_int(c, v, path, 1, INT_MAX, &L->units);
  case ARG_DEPTH_MULTIPLIER: return qat_cfg_int(c, v, path, 1, INT_MAX, &L->depth_multiplier);
  case ARG_KERNEL_SIZE: return int_pair(c, v, path, L, L->kernel_size);
  case ARG_STRIDES: return int_pair(c, v, path, L, L->strides);
  case ARG_DILATION_RATE: return int_pair(c, v, path, L, L->dilation_rate);
  case ARG_POOL_SIZE: return int_pair(c, v, path, L, L->pool_size);
  case ARG_PADDING:
    if (L->type == QAT_LAYER_ZERO_PADDING2D) return zero_pad_arg(c, v, path, L->zero_pad);
    if ((rc = qat_cfg_enum(c, v, path, paddings, 3, &e))) return rc;
    if (e == QAT_PADDING_CAUSAL && L->type != QAT_LAYER_CONV1D)
      return qat_cfg_error(c, v, path, "padding 'causal' is Conv1D's only (as in Keras)");
    L->padding = (qat_padding)e;
    return 0;
  case ARG_ACTIVATION:
    if ((rc = activation_arg(c, v, path, &L->activation))) return rc;
    if (L->activation == QAT_ACTIVATION_SOFTMAX) aux->activation = v;
    return 0;
  case ARG_USE_BIAS: return qat_cfg_bool(c, v, path, &L->use_bias);
  case ARG_RATE: return qat_cfg_float(c, v, path, 0, 0, 1, 1, &L->rate);
  case ARG_NOISE_SHAPE: return noise_shape(c, v, path, &L->noise_shared);
  case ARG_CROPPING: return zero_pad_arg(c, v, path, L->zero_pad);
  case ARG_SHARED_AXES: return shared_axes(c, v, path, &L->shared_axes);
  case ARG_MOMENTUM: return qat_cfg_float(c, v, path, 0, 0, 1, 0, &L->momentum); /* as Keras: [0, 1] */
  case ARG_EPSILON: return qat_cfg_float(c, v, path, 0, 1, INFINITY, 0, &L->epsilon);
  case ARG_MAX_VALUE: return max_value(c, v, path, &L->max_value);
  case ARG_KEEPDIMS: return qat_cfg_bool(c, v, path, &L->keepdims);
  case ARG_NEGATIVE_SLOPE: return qat_cfg_float(c, v, path, 0, 1, 1e6, 0, &L->alpha);
  case ARG_THRESHOLD: return qat_cfg_float(c, v, path, 0, 0, INFINITY, 1, &L->threshold); /* Keras: >= 0 */
  case ARG_TARGET_SHAPE: return target_shape(c, v, path, L);
  case ARG_AXIS: return qat_cfg_int(c, v, path, -4, 3, &L->axis);
  case ARG_SIZE: return int_pair(c, v, path, L, L->size);
  case ARG_INTERPOLATION: {
    /* qat_interpolation's order */
    static const char *const interps[] = {"bilinear", "nearest"};
    if ((rc = qat_cfg_enum(c, v, path, interps, 2, &e))) return rc;
    L->interpolation = e;
    return 0;
  }
  case ARG_NAME: aux->name = v; return layer_name(c, v, path, L);
  case ARG_INPUTS: aux->inputs = v; return inputs_arg(c, v, path, L->type);
  default: return qat_fail(QAT_ERR_INTERNAL, "config: argument %d has no parser", arg);
  }
}

/* One list item: "Type: {args}" (or a bare "Type" for a layer without arguments). */
static int parse_layer(const cfg_ctx *c, const cfg_node *item, const char *path, qat_layer_spec *L,
                       layer_aux *aux) {
  static const char shape[] = "a one-key mapping such as 'Conv2D: {filters: 32, kernel_size: 3}'";
  const cfg_node *key, *args = NULL, *seen[ARG_COUNT] = {0};
  const char *names[ARG_COUNT];
  qat_layer_type t;
  int rc;

  aux->item = item;
  if (item->kind == CFG_SCALAR && !qat_cfg_is_null(item)) {
    key = item;
  } else if (item->kind == CFG_MAP && item->n == 2) {
    key = item->kids[0];
    args = item->kids[1];
  } else if (item->kind == CFG_MAP) {
    return qat_cfg_error(c, item, path, "got a mapping with %zu keys (expected %s)", item->n / 2,
                         shape);
  } else {
    return qat_cfg_want(c, item, path, shape);
  }
  if (key->kind != CFG_SCALAR || strlen(key->str) != key->len)
    return qat_cfg_want(c, key, path, "a layer type name");
  if (!find_type(key->str, &t)) return unknown_type(c, key, path);
  qat_layer_defaults(L, t);
  L->line = item->line;
  L->column = item->col;
  qat_cfg_path(aux->path, path, key->str, key->len);

  if (args && !qat_cfg_is_null(args)) {
    if (args->kind != CFG_MAP)
      return qat_cfg_want(c, args, aux->path, "a mapping of layer arguments");
    for (size_t p = 0; p < args->n / 2; p++) {
      char apath[CFG_PATH_MAX];
      const char *k;
      int a;
      if ((rc = qat_cfg_key(c, args, p, aux->path, &k))) return rc;
      for (a = 0; a < ARG_COUNT && strcmp(k, arg_names[a]); a++) {
      }
      if (a == ARG_COUNT)
        return qat_cfg_unknown(c, args->kids[2 * p], aux->path, names, allowed_names(t, names));
      qat_cfg_path(apath, aux->path, k, strlen(k));
      if (!(allowed_mask(t) & (1u << a))) {
        char list[256];
        qat_cfg_join(list, sizeof list, names, allowed_names(t, names));
        return qat_cfg_error(c, args->kids[2 * p], apath,
                             "'%s' is not an argument of %s (expected one of: %s)", k,
                             qat_layer_type_name(t), list);
      }
      if (seen[a]) return qat_cfg_dup(c, args, p, aux->path);
      seen[a] = args->kids[2 * p + 1];
      if ((rc = one_arg(c, a, seen[a], apath, L, aux))) return rc;
    }
  }
  for (int a = 0; a < ARG_COUNT; a++) {
    if ((desc(t)->required_args & (1u << a)) && !seen[a]) {
      size_t n = 0;
      char list[128];
      for (int r = 0; r < ARG_COUNT; r++)
        if (desc(t)->required_args & (1u << r)) names[n++] = arg_names[r];
      qat_cfg_join(list, sizeof list, names, n);
      return qat_cfg_error(c, item, aux->path,
                           "missing required argument '%s' (expected %s to have: %s)", arg_names[a],
                           qat_layer_type_name(t), list);
    }
  }
  if (desc(t)->finish) {
    uint32_t given = 0;
    for (int a = 0; a < ARG_COUNT; a++)
      if (seen[a]) given |= 1u << a;
    desc(t)->finish(L, given);
  }
  return 0;
}

/* Gives a layer without a name the Keras default ("conv2d", "conv2d_1", ...), skipping names
 * that earlier layers already hold. */
static void default_name(qat_layer_spec *L, int *counter, const name_table *names) {
  const char *stem = desc(L->type)->stem;
  do {
    if (*counter == 0)
      snprintf(L->name, sizeof L->name, "%s", stem);
    else
      snprintf(L->name, sizeof L->name, "%s_%d", stem, *counter);
    ++*counter;
  } while (names_find(names, L->name) >= 0);
}

static int unknown_input(const cfg_ctx *c, const cfg_node *n, const char *path,
                         const qat_layer_spec *layers, int before) {
  const char **cands = malloc(((size_t)before + 1) * sizeof *cands);
  const char *hint;
  int rc;
  if (!cands) return qat_fail(QAT_ERR_NOMEM, "out of memory while reading the config");
  cands[0] = "input";
  for (int j = 0; j < before; j++)
    cands[j + 1] = layers[j].name;
  hint = qat_cfg_suggest(n->str, cands, (size_t)before + 1);
  if (hint)
    rc = qat_cfg_error(c, n, path, "no layer named '%s' (did you mean '%s'?)",
                       qat_cfg_quote(n->str, n->len).s, hint);
  else
    rc = qat_cfg_error(c, n, path,
                       "no layer named '%s' (expected 'input' or the name of an earlier layer)",
                       qat_cfg_quote(n->str, n->len).s);
  free(cands);
  return rc;
}

static int resolve_inputs(const cfg_ctx *c, qat_layer_spec *layers, const layer_aux *aux, int i,
                          const name_table *names) {
  qat_layer_spec *L = &layers[i];
  const cfg_node *n = aux[i].inputs;
  char base[CFG_PATH_MAX], p[CFG_PATH_MAX];
  if (!n) {
    L->n_inputs = 1;
    L->inputs[0] = i - 1; /* -1 for the first layer: the model input */
    return 0;
  }
  qat_cfg_path(base, aux[i].path, "inputs", 6);
  L->n_inputs = n->kind == CFG_SEQ ? (int)n->n : 1;
  for (int k = 0; k < L->n_inputs; k++) {
    const cfg_node *e = n->kind == CFG_SEQ ? n->kids[k] : n;
    int j;
    if (n->kind == CFG_SEQ)
      qat_cfg_path_index(p, base, (size_t)k);
    else
      snprintf(p, sizeof p, "%s", base);
    if (!strcmp(e->str, "input")) {
      L->inputs[k] = -1;
      continue;
    }
    j = names_find(names, e->str);
    if (j < 0) return unknown_input(c, e, p, layers, i);
    if (j == i)
      return qat_cfg_error(
          c, e, p, "'%s' is this layer itself (expected 'input' or the name of an earlier layer)",
          L->name);
    if (j > i)
      return qat_cfg_error(
          c, e, p,
          "'%s' is layers[%d], declared after this layer at %d:%d (expected 'input' or the name of "
          "an earlier layer)",
          layers[j].name, j, layers[j].line, layers[j].column);
    L->inputs[k] = j;
  }
  return 0;
}

int qat_cfg_layer_index(const cfg_ctx *c, const cfg_node *e, const char *path, const qat_model_spec *model,
                        const char *s, int *li) {
  for (*li = 0; *li < model->n_layers; ++*li)
    if (!strcmp(model->layers[*li].name, s)) return 0;
  const char **names = malloc(((size_t)model->n_layers + 1) * sizeof *names);
  if (!names) return qat_fail(QAT_ERR_NOMEM, "out of memory while reading the config");
  for (int l = 0; l < model->n_layers; l++) names[l] = model->layers[l].name;
  const char *hint = qat_cfg_suggest(s, names, (size_t)model->n_layers);
  int rc = hint ? qat_cfg_error(c, e, path, "no layer named '%s' (did you mean '%s'?)", qat_cfg_quote(s, e->len).s, hint)
                : qat_cfg_error(c, e, path, "no layer named '%s' (expected the name of a model layer)",
                                qat_cfg_quote(s, e->len).s);
  free(names);
  return rc;
}

/* model.outputs: layer names, each once, any layer of the model; the losses default to train.loss. */
static int outputs_list(const cfg_ctx *c, const cfg_node *n, qat_model_spec *out) {
  static const char path[] = "model.outputs";
  char p[CFG_PATH_MAX];
  const size_t count = n->kind == CFG_SEQ ? n->n : 1;
  int rc;
  if (n->kind == CFG_MAP) return qat_cfg_want(c, n, path, "a list of layer names");
  if (count < 1 || count > QAT_MAX_OUTPUTS)
    return qat_cfg_error(c, n, path, "%zu outputs (expected 1 to %d layer names)", count, QAT_MAX_OUTPUTS);
  for (size_t i = 0; i < count; i++) {
    const cfg_node *e = n->kind == CFG_SEQ ? n->kids[i] : n;
    const char *s;
    if (n->kind == CFG_SEQ) qat_cfg_path_index(p, path, i);
    else snprintf(p, sizeof p, "%s", path);
    if ((rc = qat_cfg_str(c, e, p, &s))) return rc;
    int li;
    if ((rc = qat_cfg_layer_index(c, e, p, out, s, &li))) return rc;
    for (size_t j = 0; j < i; j++)
      if (out->outputs[j] == li) return qat_cfg_error(c, e, p, "'%s' is already an output", qat_cfg_quote(s, e->len).s);
    out->outputs[i] = li;
    out->output_loss[i] = out->loss;
    out->loss_weight[i] = 1.0f;
  }
  out->n_outputs = (int)count;
  return 0;
}

/* outputs: model.outputs (or NULL), read once the layers are known. */
static int parse_layers(const cfg_ctx *c, const cfg_node *seq, const cfg_node *outputs, qat_model_spec *out) {
  static const char path[] = "model.layers";
  int counters[QAT_LAYER_TYPE_COUNT] = {0};
  qat_layer_spec *layers = NULL;
  layer_aux *aux = NULL;
  name_table names = {0};
  int n, rc;

  if (seq->kind != CFG_SEQ) return qat_cfg_want(c, seq, path, "a list of layers");
  if (seq->n == 0) return qat_cfg_error(c, seq, path, "empty list (expected at least one layer)");
  if (seq->n > INT_MAX / 2) return qat_cfg_error(c, seq, path, "too many layers");
  n = (int)seq->n;
  layers = calloc((size_t)n, sizeof *layers);
  aux = calloc((size_t)n, sizeof *aux);
  if (!layers || !aux) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory while reading the config");
    goto free_layers;
  }
  if ((rc = names_init(&names, (size_t)n, layers))) goto free_layers;

  for (int i = 0; i < n; i++) {
    char p[CFG_PATH_MAX];
    int j;
    qat_cfg_path_index(p, path, (size_t)i);
    if ((rc = parse_layer(c, seq->kids[i], p, &layers[i], &aux[i]))) goto free_names;
    if (!aux[i].name) {
      default_name(&layers[i], &counters[layers[i].type], &names);
    } else if ((j = names_find(&names, layers[i].name)) >= 0) {
      char np[CFG_PATH_MAX];
      qat_cfg_path(np, aux[i].path, "name", 4);
      rc =
          qat_cfg_error(c, aux[i].name, np,
                        "duplicate layer name '%s' (layers[%d] at %d:%d %s; expected unique names)",
                        layers[i].name, j, layers[j].line, layers[j].column,
                        aux[j].name ? "has it too" : "has it as its default name");
      goto free_names;
    }
    names_add(&names, i);
  }
  for (int i = 0; i < n; i++)
    if ((rc = resolve_inputs(c, layers, aux, i, &names))) goto free_names;
  /* The int8 softmax has a fixed output range and no gradient path we fake-quantize through,
   * so it can only be the model's output. */
  out->n_layers = n;
  out->layers = layers;
  if (outputs && !qat_cfg_is_null(outputs) && (rc = outputs_list(c, outputs, out))) goto free_spec;
  for (int i = 0; i < n; i++) {
    if (layers[i].activation == QAT_ACTIVATION_SOFTMAX && !qat_spec_is_output(out, i)) {
      char ap[CFG_PATH_MAX];
      qat_cfg_path(ap, aux[i].path, "activation", 10);
      rc = qat_cfg_error(
          c, aux[i].activation, ap,
          "softmax on layers[%d] '%s', which is not a model output (expected softmax only as the "
          "activation of the last layer, or of a layer in model.outputs)",
          i, layers[i].name);
      goto free_spec;
    }
  }
  layers = NULL;
  goto free_names;
free_spec:
  out->n_layers = 0;
  out->layers = NULL;
  out->n_outputs = 0;

free_names:
  free(names.slot);
free_layers:
  free(aux);
  free(layers);
  return rc;
}

int qat_cfg_model(const cfg_ctx *c, const cfg_node *model, qat_model_spec *out) {
  static const char *const keys[] = {"input", "layers", "init", "keras", "outputs"};
  const cfg_node *v[5];
  char p[CFG_PATH_MAX];
  int rc;
  if ((rc = qat_cfg_map(c, model, "model", keys, 5, v))) return rc;
  if (v[3] && v[4])
    return qat_cfg_error(c, v[4], "model.outputs", "'outputs' together with 'keras' (the Keras file names its outputs)");
  if (v[3]) {
    /* The Keras file is the whole model: its architecture and its weights (keras/ reads it). */
    const char *path;
    const cfg_node *other = v[0] ? v[0] : v[1] ? v[1] : v[2];
    if (other)
      return qat_cfg_error(c, other, "model", "'%s' together with 'keras' (expected either a Keras file or input and layers)",
                           v[0] ? "input" : v[1] ? "layers" : "init");
    if ((rc = qat_cfg_str(c, v[3], "model.keras", &path)) || (rc = qat_cfg_strdup(path, &out->keras))) return rc;
    return 0;
  }
  if (v[2]) {
    const char *init;
    if ((rc = qat_cfg_str(c, v[2], "model.init", &init)) || (rc = qat_cfg_strdup(init, &out->init))) return rc;
  }
  if (!v[0] || !v[1])
    return qat_cfg_error(c, model, "model", "missing key '%s' (expected both input and layers)",
                         v[0] ? "layers" : "input");
  static const char want[] = "[height, width, channels], a sequence [steps, channels] or a vector [features]";
  if (v[0]->kind != CFG_SEQ || v[0]->n < 1 || v[0]->n > 3) {
    if (v[0]->kind == CFG_SEQ) return qat_cfg_error(c, v[0], "model.input", "got a list of %zu (expected %s)", v[0]->n, want);
    return qat_cfg_want(c, v[0], "model.input", want);
  }
  int dims[3];
  for (size_t i = 0; i < v[0]->n; i++) {
    qat_cfg_path_index(p, "model.input", i);
    if ((rc = qat_cfg_int(c, v[0]->kids[i], p, 1, INT_MAX, &dims[i]))) return rc;
  }
  qat_spec_set_input(out, (int)v[0]->n, dims);
  return parse_layers(c, v[1], v[4], out);
}
