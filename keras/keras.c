/* Keras files -> spec + weights in qat's layout. The architecture comes from JSON
 * (json_model.c); the weights are found per layer, their Keras shape derived from the
 * parameter shapes of the model that the spec builds, checked before a byte is read, then
 * transposed into qat's layout. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keras/internal.h"
#include "qat/error.h"
#include "qat/layer.h"

typedef struct wsrc {
  qat_h5_reader r;
  const char *path;
  int keras3;          /* /layers/<object name>/vars/<i> */
  const char *root;    /* legacy: "model_weights" (full model) or "" (weights-only) */
  char (*k3name)[QAT_NAME_MAX + 16]; /* Keras 3: each layer's object name in the file */
  const keras_fold *folds;           /* one per spec layer: the Normalization layers, whose weights qat reads */
  int n_folds;
} wsrc;

static const char *type_stem(qat_layer_type t) { return qat_layer_desc_of(t)->stem; }

/* Keras 3 saves a model's layers under names made from their class, not the layer names:
 * the snake-case class name, then _1, _2, ... for later layers of the same class, in the
 * order of the model's layer list (keras/src/saving/saving_lib.py, _save_container_state). */
static int keras3_names(wsrc *ws, const qat_model_spec *spec) {
  ws->k3name = calloc((size_t)spec->n_layers + 1, sizeof *ws->k3name);
  if (!ws->k3name) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", ws->path);
  for (int i = 0; i < spec->n_layers; i++) {
    int k = 0;
    for (int j = 0; j < i; j++) k += spec->layers[j].type == spec->layers[i].type;
    if (k) snprintf(ws->k3name[i], sizeof ws->k3name[i], "%s_%d", type_stem(spec->layers[i].type), k);
    else snprintf(ws->k3name[i], sizeof ws->k3name[i], "%s", type_stem(spec->layers[i].type));
  }
  return QAT_OK;
}

static int read_small_file(const char *path, size_t max, char **out, size_t *len) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return qat_fail(QAT_ERR_IO, "%s: cannot open: not a regular file", path);
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return qat_fail(QAT_ERR_FORMAT, "%s: %lld bytes, more than the %zu allowed", path, (long long)st.st_size, max);
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
  }
  size_t have = 0;
  while (have < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);
    if (n <= 0) break;
    have += (size_t)n;
  }
  close(fd);
  if (have != (size_t)st.st_size) {
    free(buf);
    return qat_fail(QAT_ERR_IO, "%s: short read", path);
  }
  buf[have] = '\0';
  *out = buf;
  *len = have;
  return QAT_OK;
}

int qat_keras_open_weights(const char *path, qat_h5_reader *r) {
  keras_file_kind kind;
  r->file = -1;
  r->path = NULL;
  int rc = qat_keras_sniff(path, &kind);
  if (rc) return rc;
  if (kind != KERAS_FILE_ZIP) return qat_h5_reader_open(r, path);
  char *img;
  size_t len;
  if ((rc = qat_keras_zip_entry(path, "model.weights.h5", QAT_KERAS_MAX_WEIGHTS, 0, &img, &len))) return rc;
  char name[4200];
  snprintf(name, sizeof name, "%s:model.weights.h5", path);
  rc = qat_h5_reader_open_image(r, name, img, len);
  free(img);
  return rc;
}

void qat_keras_free(qat_keras_model *k) {
  if (!k) return;
  for (int i = 0; i < k->n_weights; i++) free(k->weights[i].data);
  free(k->weights);
  free(k->spec.layers);
  memset(k, 0, sizeof *k);
}

/* The Keras shape of a qat parameter: conv OHWI <- HWIO, transposed conv OHWI <- HWOI, dense
 * [out,in] <- [in,out], depthwise [1,H,W,C*M] <- [H,W,C,M]; vectors as they are. */
/* A layer's kernel layout; a depthwise kernel is HWCM whatever else the layer holds (a
 * SeparableConv2D's pointwise kernel is HWIO). */
static qat_kernel_layout layout_of(const qat_layer_spec *L, const qat_param *p) {
  const char *slash = strrchr(p->name, '/');
  if (slash && !strcmp(slash + 1, "depthwise_kernel")) return QAT_KERNEL_HWCM;
  return qat_layer_desc_of(L->type)->keras_kernel;
}

static int keras_dims_2d(const qat_layer_spec *L, const qat_param *p, int64_t kd[4]);

/* A 1-D layer's kernels are its 2-D twin's without the height axis of 1: [K, I, O], [K, C, M]. */
static int keras_dims(const qat_layer_spec *L, const qat_param *p, int64_t kd[4]) {
  int r = keras_dims_2d(L, p, kd);
  if (r == 4 && (qat_layer_desc_of(L->type)->roles & QAT_LAYER_ONE_D)) {
    memmove(kd, kd + 1, 3 * sizeof *kd);
    r = 3;
  }
  return r;
}

static int keras_dims_2d(const qat_layer_spec *L, const qat_param *p, int64_t kd[4]) {
  qat_kernel_layout layout = layout_of(L, p);
  if (p->rank == 4 && layout == QAT_KERNEL_HWIO) {
    kd[0] = p->dims[1], kd[1] = p->dims[2], kd[2] = p->dims[3], kd[3] = p->dims[0];
    return 4;
  }
  if (p->rank == 4 && layout == QAT_KERNEL_HWOI) {
    kd[0] = p->dims[1], kd[1] = p->dims[2], kd[2] = p->dims[0], kd[3] = p->dims[3];
    return 4;
  }
  if (p->rank == 4 && layout == QAT_KERNEL_HWCM) {
    int m = L->depth_multiplier;
    kd[0] = p->dims[1], kd[1] = p->dims[2], kd[2] = p->dims[3] / m, kd[3] = m;
    return 4;
  }
  if (p->rank == 2 && layout == QAT_KERNEL_IO) {
    kd[0] = p->dims[1], kd[1] = p->dims[0];
    return 2;
  }
  for (int d = 0; d < p->rank; d++) kd[d] = p->dims[d];
  return p->rank;
}

static void to_qat_layout(const qat_layer_spec *L, const qat_param *p, const float *src, float *dst) {
  if (p->rank == 4 && layout_of(L, p) == QAT_KERNEL_HWIO) {
    int O = p->dims[0], H = p->dims[1], W = p->dims[2], I = p->dims[3];
    for (int o = 0; o < O; o++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
          for (int i = 0; i < I; i++)
            dst[(((size_t)o * H + h) * W + w) * I + i] = src[(((size_t)h * W + w) * I + i) * O + o];
  } else if (p->rank == 4 && layout_of(L, p) == QAT_KERNEL_HWOI) {
    int O = p->dims[0], H = p->dims[1], W = p->dims[2], I = p->dims[3];
    for (int o = 0; o < O; o++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
          memcpy(&dst[(((size_t)o * H + h) * W + w) * I], &src[(((size_t)h * W + w) * O + o) * I],
                 (size_t)I * sizeof(float));
  } else if (p->rank == 2 && layout_of(L, p) == QAT_KERNEL_IO) {
    int O = p->dims[0], I = p->dims[1];
    for (int o = 0; o < O; o++)
      for (int i = 0; i < I; i++) dst[(size_t)o * I + i] = src[(size_t)i * O + o];
  } else {
    /* vectors, PReLU's alpha, and depthwise: [H,W,C,M] row-major is [H,W,C*M] with channel c*M+m */
    memcpy(dst, src, (size_t)p->size * sizeof(float));
  }
}

static const char *suffix_of(const char *param_name) {
  const char *s = strrchr(param_name, '/');
  return s ? s + 1 : param_name;
}

/* "fmnist_cnn/conv2d/kernel:0" -> matches "kernel" (and a depthwise "kernel" matches
 * "depthwise_kernel": Keras 3 names that variable "kernel"). */
static int weight_name_matches(const char *wname, const char *suffix) {
  const char *b = strrchr(wname, '/');
  b = b ? b + 1 : wname;
  size_t n = strcspn(b, ":");
  if (strlen(suffix) == n && !strncmp(b, suffix, n)) return 1;
  return !strcmp(suffix, "depthwise_kernel") && n == 6 && !strncmp(b, "kernel", 6);
}

typedef struct layer_params {
  int idx[8];
  int n;
} layer_params;

static int file_has_weights_for(wsrc *ws, const char *layer) {
  char obj[512];
  if (ws->keras3) {
    snprintf(obj, sizeof obj, "layers/%s/vars/0", layer);
    return qat_h5_has(&ws->r, obj) == 1;
  }
  snprintf(obj, sizeof obj, "%s%s%s", ws->root, ws->root[0] ? "/" : "", layer);
  char **names = NULL;
  size_t count = 0;
  if (qat_h5_has_attr(&ws->r, obj, "weight_names") != 1) return 0;
  /* A weight-less layer stores an empty float64 array here, which is no string list. */
  if (qat_h5_read_attr_strings(&ws->r, obj, "weight_names", &names, &count)) {
    qat_error_clear();
    return 0;
  }
  qat_h5_strings_free(names, count);
  return count > 0;
}

/* A Normalization's name in the weights file. */
static void norm_object(const wsrc *ws, const keras_affine *a, char *out, size_t n) {
  if (!ws->keras3) snprintf(out, n, "%s", a->name);
  else if (a->k3_index) snprintf(out, n, "normalization_%d", a->k3_index);
  else snprintf(out, n, "normalization");
}

static int list_cb(const char *name, qat_h5_kind kind, void *ctx) {
  (void)kind;
  void **c = ctx;
  wsrc *ws = c[0];
  const qat_model_spec *spec = c[1];
  if (!strcmp(name, "top_level_model_weights")) return 0;
  for (int i = 0; i < spec->n_layers; i++)
    if (!strcmp(ws->keras3 ? ws->k3name[i] : spec->layers[i].name, name)) return 0;
  for (int i = 0; i < ws->n_folds; i++)
    for (int a = 0; a < ws->folds[i].n_affine; a++) {
      char obj[QAT_NAME_MAX + 32];
      norm_object(ws, &ws->folds[i].affine[a], obj, sizeof obj);
      if (ws->folds[i].affine[a].norm && !strcmp(obj, name)) return 0;
    }
  if (file_has_weights_for(ws, name))
    return qat_fail(QAT_ERR_FORMAT, "%s: has weights for a layer '%s' that the model does not have (is the file from "
                                    "another model?)", ws->path, name);
  return 0;
}

static int read_layer(wsrc *ws, const qat_model *m, int li, const layer_params *lp, float **scratch,
                      qat_keras_weight *out) {
  const qat_layer_spec *L = &m->spec.layers[li];
  const char *cls = qat_layer_type_name(L->type);
  char group[512], dset[1024];
  char **wnames = NULL;
  size_t wcount = 0;
  int rc = QAT_OK;
  if (ws->keras3) {
    snprintf(group, sizeof group, "layers/%s/vars", ws->k3name[li]);
    snprintf(dset, sizeof dset, "%s/%d", group, lp->n);
    if (qat_h5_has(&ws->r, dset) == 1)
      return qat_fail(QAT_ERR_FORMAT, "%s: layer '%s' (%s): the file has more than the %d weights qat expects (%s)",
                      ws->path, L->name, cls, lp->n, dset);
  } else {
    snprintf(group, sizeof group, "%s%s%s", ws->root, ws->root[0] ? "/" : "", L->name);
    if (qat_h5_has(&ws->r, group) != 1)
      return qat_fail(QAT_ERR_FORMAT, "%s: missing weights: no group '/%s' for layer '%s' (%s)", ws->path, group,
                      L->name, cls);
    if ((rc = qat_h5_read_attr_strings(&ws->r, group, "weight_names", &wnames, &wcount))) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", qat_error_message());
      return qat_fail(rc, "%s (layer '%s', %s)", msg, L->name, cls);
    }
    if (wcount != (size_t)lp->n) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s:/%s: layer '%s' (%s) has %zu weights in the file, qat expects %d", ws->path,
                    group, L->name, cls, wcount, lp->n);
      goto free_names;
    }
  }
  for (int k = 0; k < lp->n; k++) {
    const qat_param *p = &m->param_list[lp->idx[k]];
    const char *suffix = suffix_of(p->name);
    if (ws->keras3) {
      snprintf(dset, sizeof dset, "%s/%d", group, k);
    } else {
      size_t j = 0;
      while (j < wcount && !weight_name_matches(wnames[j], suffix)) j++;
      if (j == wcount) {
        rc = qat_fail(QAT_ERR_FORMAT, "%s:/%s: missing weights: layer '%s' (%s) has no '%s' in weight_names", ws->path,
                      group, L->name, cls, suffix);
        goto free_names;
      }
      snprintf(dset, sizeof dset, "%s/%s", group, wnames[j]);
    }
    if (qat_h5_has(&ws->r, dset) != 1) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s:/%s: missing weights: layer '%s' (%s) needs its %s here", ws->path, dset,
                    L->name, cls, suffix);
      goto free_names;
    }
    int64_t kd[4];
    int krank = keras_dims(L, p, kd);
    if (!*scratch && !(*scratch = malloc((size_t)(m->n_params + m->n_state + 1) * sizeof(float)))) {
      rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", ws->path);
      goto free_names;
    }
    if ((rc = qat_h5_read_array(&ws->r, dset, QAT_H5_F32, krank, kd, *scratch, QAT_H5_FINITE))) {
      /* h5store's message already starts with file:dataset; say which layer wanted it */
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", qat_error_message());
      rc = qat_fail(rc, "%s (the %s of layer '%s', %s)", msg, suffix, L->name, cls);
      goto free_names;
    }
    qat_keras_weight *w = &out[k];
    snprintf(w->name, sizeof w->name, "%s", p->name);
    w->rank = p->rank;
    memcpy(w->dims, p->dims, sizeof w->dims);
    w->size = p->size;
    if (!(w->data = malloc((size_t)p->size * sizeof(float)))) {
      rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", ws->path);
      goto free_names;
    }
    to_qat_layout(L, p, *scratch, w->data);
  }
free_names:
  if (wnames) qat_h5_strings_free(wnames, wcount);
  return rc;
}

/* Reads every parameter of the model spec builds from the open weights source. */
static int read_weights(wsrc *ws, qat_keras_model *k) {
  qat_model *m = NULL;
  k->spec.quantize.enabled = 0;
  /* the weights' shapes only: a loss that takes any output shape on every output */
  qat_model_spec shapes = k->spec;
  for (int o = 0; o < shapes.n_outputs; o++) shapes.output_loss[o] = QAT_LOSS_MEAN_SQUARED_ERROR;
  if (shapes.n_outputs) shapes.from_logits = 0;
  int rc = qat_model_create(&m, &shapes, 1, 0);
  if (rc && k->spec.n_layers > 0) {
    /* qat's models end in [batch, classes]; a Keras model ending in a feature map (a single
     * conv) still has readable weights: infer its shapes with a Flatten appended. */
    qat_model_spec tmp = k->spec;
    tmp.layers = malloc((size_t)(tmp.n_layers + 1) * sizeof *tmp.layers);
    if (tmp.layers) {
      memcpy(tmp.layers, k->spec.layers, (size_t)tmp.n_layers * sizeof *tmp.layers);
      qat_layer_spec *f = &tmp.layers[tmp.n_layers];
      memset(f, 0, sizeof *f);
      f->type = QAT_LAYER_FLATTEN;
      snprintf(f->name, sizeof f->name, "qat_keras_flatten");
      f->n_inputs = 1;
      f->inputs[0] = tmp.n_layers - 1;
      tmp.n_layers++;
      if (!qat_model_create(&m, &tmp, 1, 0)) rc = QAT_OK;
      free(tmp.layers);
    }
    if (rc) qat_model_create(&m, &k->spec, 1, 0); /* restores the first message */
  }
  if (rc) return qat_fail_prefix(rc, "%s: ", ws->path);
  float *scratch = NULL;
  if (ws->keras3 && (rc = keras3_names(ws, &k->spec))) goto free_model;
  k->weights = calloc((size_t)m->n_param_list + 1, sizeof *k->weights);
  if (!k->weights) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", ws->path);
    goto free_model;
  }
  for (int li = 0; li < m->spec.n_layers && !rc; li++) {
    layer_params lp = {{0}, 0};
    for (int i = 0; i < m->n_param_list; i++)
      if (m->param_list[i].layer == li && lp.n < 8) lp.idx[lp.n++] = i;
    if (lp.n == 0) continue;
    int base = k->n_weights;
    rc = read_layer(ws, m, li, &lp, &scratch, &k->weights[base]);
    for (int i = 0; i < lp.n; i++)
      if (k->weights[base + i].data) k->n_weights++;
  }
  /* Weights the model has no place for mean the architecture does not match the file. */
  if (!rc) {
    void *ctx[2] = {ws, &k->spec};
    const char *top = ws->keras3 ? "layers" : (ws->root[0] ? ws->root : "/");
    if (qat_h5_has(&ws->r, top) == 1) rc = qat_h5_list(&ws->r, top, list_cb, ctx);
  }
free_model:
  free(ws->k3name);
  ws->k3name = NULL;
  free(scratch);
  qat_model_free(m);
  return rc;
}

static int keras3_version(const char *path, char version[32]) {
  char *text;
  size_t len;
  int rc = qat_keras_zip_entry(path, "metadata.json", 1u << 20, 1, &text, &len);
  if (rc) return rc < 0 ? rc : QAT_OK;
  struct json_object *root = json_tokener_parse(text);
  struct json_object *v = NULL;
  if (root && json_object_object_get_ex(root, "keras_version", &v) && json_object_is_type(v, json_type_string))
    snprintf(version, 32, "%s", json_object_get_string(v));
  if (root) json_object_put(root);
  free(text);
  return QAT_OK;
}

/* Which weights layout an open HDF5 file uses. */
static void detect_layout(wsrc *ws, int full_model) {
  if (full_model) {
    ws->keras3 = 0;
    ws->root = "model_weights";
    return;
  }
  ws->root = "";
  ws->keras3 = qat_h5_has_attr(&ws->r, "/", "layer_names") != 1 && qat_h5_has(&ws->r, "layers") == 1;
}

static void add_note(qat_keras_model *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(qat_keras_model *k, const char *fmt, ...) {
  size_t used = strlen(k->notes);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(k->notes + used, sizeof k->notes - used, fmt, ap);
  va_end(ap);
}

/* The spatial size of layer src's output (-1: the model input). */
static int spatial_size(const qat_model_spec *spec, int src, const char *path, int hw[3]) {
  if (src < 0) {
    hw[0] = spec->input_shape[0], hw[1] = spec->input_shape[1], hw[2] = spec->input_shape[2];
    return QAT_OK;
  }
  qat_model_spec tmp = *spec;
  tmp.quantize.enabled = 0;
  tmp.layers = calloc((size_t)src + 2, sizeof *tmp.layers);
  if (!tmp.layers) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
  memcpy(tmp.layers, spec->layers, (size_t)(src + 1) * sizeof *tmp.layers);
  for (int i = 0; i <= src; i++) tmp.layers[i].activation = tmp.layers[i].activation == QAT_ACTIVATION_SOFTMAX
                                                               ? QAT_ACTIVATION_LINEAR : tmp.layers[i].activation;
  qat_layer_spec *f = &tmp.layers[src + 1];
  f->type = QAT_LAYER_FLATTEN;
  snprintf(f->name, sizeof f->name, "qat_keras_flatten");
  f->n_inputs = 1;
  f->inputs[0] = src;
  tmp.n_layers = src + 2;
  qat_model *m = NULL;
  int rc = qat_model_create(&m, &tmp, 1, 0);
  free(tmp.layers);
  if (rc) return qat_fail_prefix(rc, "%s: ", path);
  const qat_tensor *t = m->layer_out[src];
  rc = t->rank == 4 ? QAT_OK : qat_fail(QAT_ERR_UNSUPPORTED, "%s: layer '%s' does not output an image", path, spec->layers[src].name);
  if (!rc) hw[0] = t->dims[1], hw[1] = t->dims[2], hw[2] = t->dims[3];
  qat_model_free(m);
  return rc;
}

/* A new layer of type t before layer li, reading what li read: the layers from li on move up by
 * one, and so do their references to them and their folds; li's fold entry (what the new layer
 * carries) moves with li, the new layer's is empty. The caller fills in the rest. */
static int insert_layer(qat_keras_model *k, keras_fold **folds, int li, qat_layer_type t, qat_layer_spec **out) {
  qat_model_spec *spec = &k->spec;
  const int n = spec->n_layers, src = qat_layer_input(spec, li, 0);
  qat_layer_spec *layers = realloc(spec->layers, (size_t)(n + 1) * sizeof *layers);
  if (!layers) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  spec->layers = layers;
  keras_fold *f = realloc(*folds, (size_t)(n + 1) * sizeof *f);
  if (!f) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  *folds = f;
  memmove(&layers[li + 1], &layers[li], (size_t)(n - li) * sizeof *layers);
  memmove(&f[li + 1], &f[li], (size_t)(n - li) * sizeof *f);
  spec->n_layers = n + 1;
  for (int j = li + 1; j <= n; j++)
    for (int q = 0; q < layers[j].n_inputs; q++)
      if (layers[j].inputs[q] >= li) layers[j].inputs[q]++;
  qat_layer_spec *added = &layers[li], *consumer = &layers[li + 1];
  qat_layer_defaults(added, t);
  added->n_inputs = 1;
  added->inputs[0] = src;
  if (!consumer->n_inputs) consumer->n_inputs = 1;
  consumer->inputs[0] = li;
  memset(&f[li], 0, sizeof f[li]);
  *out = added;
  return QAT_OK;
}

/* A ZeroPadding2D layer of its own before layer li. */
static int insert_pad(qat_keras_model *k, keras_fold **folds, int li) {
  qat_layer_spec *pad;
  int rc = insert_layer(k, folds, li, QAT_LAYER_ZERO_PADDING2D, &pad);
  if (rc) return rc;
  keras_fold *f = &(*folds)[li + 1], *before = &(*folds)[li];
  snprintf(pad->name, sizeof pad->name, "%s", f->pad_name);
  memcpy(pad->zero_pad, f->pad, sizeof pad->zero_pad);
  f->has_pad = 0;
  /* the affine maps came before the padding: they now feed the PAD */
  if (f->has_rescale) {
    *before = *f;
    f->has_rescale = f->n_affine = 0;
  }
  return QAT_OK;
}

/* ZeroPadding2D before a conv: folded into it when padding then a VALID conv is exactly a SAME
 * conv on this input (TensorFlow's SAME: total = max((out-1)*s + k - n, 0), before = total / 2),
 * i.e. the same first window and the same number of outputs; otherwise (asymmetric or wider
 * padding, a pool after it) a PAD of its own. */
static int fold_pads(qat_keras_model *k, keras_fold **folds, const char *path) {
  for (int li = 0; li < k->spec.n_layers; li++) {
    if (!(*folds)[li].has_pad) continue;
    qat_layer_spec *L = &k->spec.layers[li];
    const int *pad = (*folds)[li].pad;
    const qat_layer_type t = qat_layer_op_type(L);
    int same = t == QAT_LAYER_CONV2D || t == QAT_LAYER_DEPTHWISE_CONV2D;
    if (same) {
      int hw[3] = {0, 0, 0}, rc;
      if ((rc = spatial_size(&k->spec, qat_layer_input(&k->spec, li, 0), path, hw))) return rc;
      same = L->padding == QAT_PADDING_VALID;
      for (int a = 0; a < 2 && same; a++) {
        int n = hw[a], kk = L->kernel_size[a], s = L->strides[a];
        int out_same = (n + s - 1) / s;
        int total = (out_same - 1) * s + kk - n;
        if (total < 0) total = 0;
        int out_padded = n + pad[2 * a] + pad[2 * a + 1] >= kk ? (n + pad[2 * a] + pad[2 * a + 1] - kk) / s + 1 : 0;
        same = pad[2 * a] == total / 2 && out_padded == out_same;
      }
    }
    if (same) {
      L->padding = QAT_PADDING_SAME;
      add_note(k, "layer '%s' (ZeroPadding2D ((%d, %d), (%d, %d))) is padding: same of '%s'\n", (*folds)[li].pad_name,
               pad[0], pad[1], pad[2], pad[3], L->name);
      continue;
    }
    int rc = insert_pad(k, folds, li);
    if (rc) return rc;
    li++; /* the consumer, now after the PAD */
  }
  return QAT_OK;
}

static qat_keras_weight *find_weight(qat_keras_model *k, const char *layer, const char *suffix) {
  char name[2 * QAT_NAME_MAX + 16];
  snprintf(name, sizeof name, "%s/%s", layer, suffix);
  for (int i = 0; i < k->n_weights; i++)
    if (!strcmp(k->weights[i].name, name)) return &k->weights[i];
  return NULL;
}

/* A weight of a layer qat inserts: its values per channel (the last dimension), or one value
 * for all when per_channel is 0. */
static int add_weight(qat_keras_model *k, const char *layer, const char *suffix, int rank, const int *dims,
                      const float *values, int per_channel) {
  qat_keras_weight *w = realloc(k->weights, (size_t)(k->n_weights + 1) * sizeof *w);
  if (!w) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  k->weights = w;
  w = &k->weights[k->n_weights];
  memset(w, 0, sizeof *w);
  snprintf(w->name, sizeof w->name, "%s/%s", layer, suffix);
  w->rank = rank;
  w->size = 1;
  for (int d = 0; d < rank; d++) w->size *= (w->dims[d] = dims[d]);
  if (!(w->data = malloc((size_t)w->size * sizeof *w->data))) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  const int64_t last = dims[rank - 1];
  for (int64_t e = 0; e < w->size; e++) w->data[e] = values[per_channel ? e % last : 0];
  k->n_weights++;
  return QAT_OK;
}

/* A fold's Normalization values from its layer's weights: Keras 3's vars/0 (mean) and vars/1
 * (variance), the legacy files' weight_names "mean" and "variance"; [channels] each. */
static int read_norm(wsrc *ws, const keras_affine *a, int channels, float *mean, float *var) {
  char obj[QAT_NAME_MAX + 32], group[QAT_NAME_MAX + 64], dset[2 * QAT_NAME_MAX + 96];
  norm_object(ws, a, obj, sizeof obj);
  const int64_t dims[1] = {channels};
  float *out[2] = {mean, var};
  static const char *const what[2] = {"mean", "variance"};
  char **names = NULL;
  size_t count = 0;
  int rc = QAT_OK;
  if (ws->keras3) {
    snprintf(group, sizeof group, "layers/%s/vars", obj);
  } else {
    snprintf(group, sizeof group, "%s%s%s", ws->root, ws->root[0] ? "/" : "", obj);
    if (qat_h5_has(&ws->r, group) != 1 || qat_h5_has_attr(&ws->r, group, "weight_names") != 1)
      return qat_fail(QAT_ERR_FORMAT, "%s: missing weights: no group '/%s' with the mean and variance of layer '%s' "
                      "(Normalization)", ws->path, group, a->name);
    if ((rc = qat_h5_read_attr_strings(&ws->r, group, "weight_names", &names, &count))) return rc;
  }
  for (int v = 0; v < 2 && !rc; v++) {
    if (ws->keras3) {
      snprintf(dset, sizeof dset, "%s/%d", group, v);
    } else {
      size_t j = 0;
      while (j < count && !weight_name_matches(names[j], what[v])) j++;
      if (j == count) {
        rc = qat_fail(QAT_ERR_FORMAT, "%s:/%s: layer '%s' (Normalization) has no '%s' in weight_names", ws->path,
                      group, a->name, what[v]);
        break;
      }
      snprintf(dset, sizeof dset, "%s/%s", group, names[j]);
    }
    if (qat_h5_has(&ws->r, dset) != 1) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s:/%s: missing weights: layer '%s' (Normalization) needs its %s here", ws->path,
                    dset, a->name, what[v]);
      break;
    }
    if ((rc = qat_h5_read_array(&ws->r, dset, QAT_H5_F32, 1, dims, out[v], QAT_H5_FINITE))) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", qat_error_message());
      rc = qat_fail(rc, "%s (the %s of layer '%s', Normalization, over %d channels)", msg, what[v], a->name, channels);
    }
  }
  if (names) qat_h5_strings_free(names, count);
  for (int c = 0; c < channels && !rc; c++)
    if (!(var[c] >= 0))
      rc = qat_fail(QAT_ERR_FORMAT, "%s: layer '%s' (Normalization): variance %g of channel %d is negative", ws->path,
                    a->name, (double)var[c], c);
  return rc;
}

/* Each fold's Rescaling and Normalization maps, composed in order (in double, as one map):
 * x * scale[c] + offset[c]. Keras divides by max(sqrt(variance), 1e-7). */
static int resolve_affine(qat_keras_model *k, wsrc *ws, keras_fold *folds, const char *path) {
  for (int li = 0; li < k->spec.n_layers; li++) {
    keras_fold *f = &folds[li];
    if (!f->n_affine) continue;
    int channels = 0, shape[3], rc;
    for (int a = 0; a < f->n_affine; a++)
      if (f->affine[a].norm || f->affine[a].n_values > 1) channels = -1;
    if (channels < 0) {
      if ((rc = spatial_size(&k->spec, qat_layer_input(&k->spec, li, 0), path, shape))) return rc;
      channels = shape[2];
      if (channels > KERAS_MAX_AFFINE_CHANNELS)
        return qat_fail(QAT_ERR_UNSUPPORTED, "%s: layer '%s' (%s) over %d channels: qat folds per-channel maps of at "
                        "most %d channels", path, f->affine[0].name, f->affine[0].norm ? "Normalization" : "Rescaling",
                        channels, KERAS_MAX_AFFINE_CHANNELS);
    }
    double scale[KERAS_MAX_AFFINE_CHANNELS], offset[KERAS_MAX_AFFINE_CHANNELS];
    const int n = channels ? channels : 1;
    for (int c = 0; c < n; c++) scale[c] = 1, offset[c] = 0;
    for (int a = 0; a < f->n_affine; a++) {
      keras_affine *m = &f->affine[a];
      if (m->n_values > 1 && m->n_values != channels)
        return qat_fail(QAT_ERR_FORMAT, "%s: layer '%s' (%s) has %d per-channel values, its input %d channels", path,
                        m->name, m->norm ? "Normalization" : "Rescaling", m->n_values, channels);
      if (m->norm && !m->n_values) {
        if ((rc = read_norm(ws, m, channels, m->mean, m->variance))) return rc;
        m->n_values = channels;
      }
      for (int c = 0; c < n; c++) {
        const int v = m->n_values > 1 ? c : 0;
        if (m->norm) {
          double d = sqrt((double)m->variance[v]);
          double inv = 1.0 / (d > 1e-7 ? d : 1e-7);
          scale[c] *= inv;
          offset[c] = (offset[c] - m->mean[v]) * inv;
        } else {
          scale[c] *= m->scale[v];
          offset[c] = offset[c] * m->scale[v] + m->offset[v];
        }
      }
    }
    f->channels = channels;
    for (int c = 0; c < n; c++) f->scale[c] = (float)scale[c], f->offset[c] = (float)offset[c];
  }
  return QAT_OK;
}

static int fold_has_offset(const keras_fold *f) {
  for (int c = 0; c < (f->channels ? f->channels : 1); c++)
    if (f->offset[c] != 0) return 1;
  return 0;
}

/* "layer 'rescaling' (Rescaling scale 0.00784, offset -1)", or the layers of a composed map. */
static void describe_fold(const keras_fold *f, char *out, size_t n) {
  size_t len = 0;
  for (int a = 0; a < f->n_affine && len < n; a++)
    len += (size_t)snprintf(out + len, n - len, "%s'%s'", a ? (a + 1 == f->n_affine ? " and " : ", ") : "",
                            f->affine[a].name);
  if (len >= n) return;
  if (f->channels)
    snprintf(out + len, n - len, " (%s, per channel: scale %g.., offset %g..)", f->n_affine > 1 ? "composed"
             : f->affine[0].norm ? "Normalization" : "Rescaling", (double)f->scale[0], (double)f->offset[0]);
  else
    snprintf(out + len, n - len, " (%s scale %g, offset %g)", f->n_affine > 1 ? "composed" : "Rescaling",
             (double)f->scale[0], (double)f->offset[0]);
}

/* An affine map that cannot fold (an offset before a SAME conv, whose window covers padding
 * where the offset must not apply; a layer without a bias; a layer without a kernel) becomes a
 * layer of its own before layer li: a 1x1 DepthwiseConv2D with the scale as its weights and the
 * offset as its biases, the per-channel affine map that the int8 model then computes and
 * requantizes as any depthwise conv (the converter writes MUL and ADD instead). */
static int insert_rescaling(qat_keras_model *k, keras_fold **folds, int li, const char *path) {
  int shape[3] = {0, 0, 0}, rc;
  if ((rc = spatial_size(&k->spec, qat_layer_input(&k->spec, li, 0), path, shape))) return rc;
  qat_layer_spec *affine;
  if ((rc = insert_layer(k, folds, li, QAT_LAYER_DEPTHWISE_CONV2D, &affine))) return rc;
  keras_fold *f = &(*folds)[li + 1];
  snprintf(affine->name, sizeof affine->name, "%s", f->affine[0].name);
  affine->kernel_size[0] = affine->kernel_size[1] = 1;
  affine->strides[0] = affine->strides[1] = 1;
  affine->depth_multiplier = 1;
  affine->use_bias = 1;
  affine->padding = QAT_PADDING_VALID;
  f->has_rescale = 0;
  if ((rc = add_weight(k, affine->name, "depthwise_kernel", 4, (int[]){1, 1, 1, shape[2]}, f->scale, f->channels)) ||
      (rc = add_weight(k, affine->name, "bias", 1, &shape[2], f->offset, f->channels)))
    return rc;
  char what[512];
  describe_fold(f, what, sizeof what);
  add_note(k, "layer %s is a 1x1 DepthwiseConv2D '%s' of its own before '%s': it cannot fold into %s\n", what,
           affine->name, k->spec.layers[li + 1].name,
           qat_layer_desc_of(k->spec.layers[li + 1].type)->keras_kernel == QAT_KERNEL_NONE
               ? "a layer without a kernel" : "a conv whose window covers padding, or without a bias");
  return QAT_OK;
}

/* An affine map folded into the next layer: W'[..,i] = W[..,i] * scale[i], b' = b + the sum of
 * W[..,i] * offset[i] over each output channel's window and inputs. The offset term is exact
 * only where the window never covers padding (VALID conv, Dense); elsewhere, and before a
 * layer without a kernel, the map is a layer of its own. */
static int fold_rescales(qat_keras_model *k, keras_fold **foldsp, const char *path) {
  for (int li = 0; li < k->spec.n_layers; li++) {
    const keras_fold *folds = *foldsp;
    if (!folds[li].has_rescale) continue;
    qat_layer_spec *L = &k->spec.layers[li];
    const qat_layer_desc *d = qat_layer_desc_of(L->type);
    const int kernel = (d->roles & QAT_LAYER_FOLDS_BN) || d->keras_kernel == QAT_KERNEL_IO;
    /* a transposed conv's outputs sum different numbers of taps even when VALID: no offset fold */
    if (!kernel || (fold_has_offset(&folds[li]) && ((L->padding != QAT_PADDING_VALID && d->keras_kernel != QAT_KERNEL_IO) ||
                                                    !L->use_bias || d->keras_kernel == QAT_KERNEL_HWOI))) {
      int rc = insert_rescaling(k, foldsp, li, path);
      if (rc) return rc;
      li++; /* the consumer, now after it */
      continue;
    }
    const keras_fold *f = &folds[li];
    int dw = d->kernel_channel_axis != 0; /* channel-last kernel: depthwise */
    qat_keras_weight *w = find_weight(k, L->name, d->kernel ? d->kernel : "kernel");
    qat_keras_weight *b = L->use_bias ? find_weight(k, L->name, "bias") : NULL;
    if (!w || (L->use_bias && !b)) return qat_fail(QAT_ERR_INTERNAL, "%s: no weights for '%s'", path, L->name);
    int outs = dw ? w->dims[w->rank - 1] : w->dims[0]; /* depthwise [1,H,W,C*M]; OHWI, [out,in] */
    int64_t per = w->size / outs;
    const int C = f->channels, M = L->depth_multiplier > 0 ? L->depth_multiplier : 1;
    for (int c = 0; c < outs; c++) {
      double sum = 0;
      for (int64_t e = 0; e < per; e++) {
        /* the input channel: OHWI and [out, in] run over it fastest; a depthwise output c*M+m reads c */
        int i = !C ? 0 : dw ? c / M : (int)(e % C);
        float *v = dw ? &w->data[e * outs + c] : &w->data[(int64_t)c * per + e];
        sum += (double)*v * f->offset[i];
        *v *= f->scale[i];
      }
      if (b) b->data[c] += (float)sum;
    }
    char what[512];
    describe_fold(f, what, sizeof what);
    add_note(k, "layer %s is folded into the weights of '%s': the model takes the inputs Keras took (qat's data "
                "loader feeds pixels / 255)\n", what, L->name);
  }
  return QAT_OK;
}

/* The loss the model was compiled with: config.json's compile_config in a .keras archive (json),
 * the training_config attribute of a legacy full-model .h5. */
static int compiled_loss(qat_keras_model *k, wsrc *ws, const char *json, int full_model) {
  char *training = NULL, note[256];
  if (!json && full_model && qat_h5_has_attr(&ws->r, "/", "training_config") == 1) {
    if (qat_h5_read_attr_string(&ws->r, "/", "training_config", &training)) qat_error_clear();
    json = training;
  }
  int rc = json ? qat_keras_compiled_loss(json, strlen(json), &k->spec, &k->loss_known, note, sizeof note) : QAT_OK;
  if (!rc && json && note[0]) add_note(k, "%s\n", note);
  free(training);
  return rc;
}

static int keras_load(const char *path, const char *arch_json, const int *input_shape, qat_keras_model *out) {
  memset(out, 0, sizeof *out);
  keras_file_kind kind;
  int rc = qat_keras_sniff(path, &kind);
  if (rc) return rc;
  wsrc ws = {{-1, NULL, 0, NULL}, path, 0, "", NULL, NULL, 0};
  char *json = NULL, *jsrc_buf = NULL;
  keras_fold *folds = NULL;
  size_t jlen = 0;
  const char *jsrc = path;
  int full_model = 0;
  if (kind == KERAS_FILE_ZIP) {
    out->format = "Keras 3 .keras";
    if ((rc = qat_keras_zip_entry(path, "config.json", QAT_KERAS_MAX_JSON, 0, &json, &jlen))) return rc;
    if ((rc = keras3_version(path, out->keras_version))) goto free_json;
    if (!(jsrc_buf = malloc(strlen(path) + 16))) {
      rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
      goto free_json;
    }
    sprintf(jsrc_buf, "%s:config.json", path);
    jsrc = jsrc_buf;
    if ((rc = qat_keras_open_weights(path, &ws.r))) goto free_json;
    ws.path = ws.r.path;
    ws.keras3 = 1;
    ws.root = "";
  } else {
    if ((rc = qat_h5_reader_open(&ws.r, path))) return rc;
    if (qat_h5_has_attr(&ws.r, "/", "keras_version") == 1) {
      char *v = NULL;
      if (!qat_h5_read_attr_string(&ws.r, "/", "keras_version", &v)) snprintf(out->keras_version, 32, "%s", v);
      free(v);
      qat_error_clear();
    }
    if (qat_h5_has_attr(&ws.r, "/", "model_config") == 1) {
      full_model = 1;
      out->format = "legacy Keras .h5";
      if ((rc = qat_h5_read_attr_string(&ws.r, "/", "model_config", &json))) goto close_reader;
      jlen = strlen(json);
      jsrc_buf = malloc(strlen(path) + 32);
      if (!jsrc_buf) {
        rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
        goto close_reader;
      }
      sprintf(jsrc_buf, "%s:/model_config", path);
      jsrc = jsrc_buf;
    } else if (arch_json) {
      if ((rc = read_small_file(arch_json, QAT_KERAS_MAX_JSON, &json, &jlen))) goto close_reader;
      jsrc = arch_json;
    } else {
      rc = qat_fail(QAT_ERR_USAGE,
                    "%s: a weights-only file (no model_config): give its architecture (a model.to_json() file, or a "
                    "qat YAML config with the Keras layer names)",
                    path);
      goto close_reader;
    }
    detect_layout(&ws, full_model);
    out->format = full_model ? "legacy Keras .h5" : ws.keras3 ? "Keras 3 .weights.h5" : "legacy Keras weights .h5";
  }
  if (kind == KERAS_FILE_ZIP && arch_json) {
    rc = qat_fail(QAT_ERR_USAGE, "%s: a .keras archive carries its own architecture (no JSON needed)", path);
    goto close_reader;
  }
  if ((rc = qat_keras_parse_json(json, jlen, jsrc, input_shape, &out->spec, out->keras_version, &folds))) goto close_reader;
  if ((rc = compiled_loss(out, &ws, kind == KERAS_FILE_ZIP ? json : NULL, full_model))) goto close_reader;
  if ((rc = resolve_affine(out, &ws, folds, jsrc))) goto close_reader;
  if ((rc = fold_pads(out, &folds, jsrc))) goto close_reader;
  ws.folds = folds;
  ws.n_folds = out->spec.n_layers;
  if ((rc = read_weights(&ws, out))) goto close_reader;
  if ((rc = fold_rescales(out, &folds, jsrc))) goto close_reader;
  out->spec.source = NULL;
close_reader:
  qat_h5_reader_close(&ws.r);
free_json:
  free(folds);
  free(json);
  free(jsrc_buf);
  if (rc) {
    const char *fmt = out->format;
    qat_keras_free(out);
    out->format = fmt;
  }
  return rc;
}

static int keras_load_weights(const char *path, const qat_model_spec *spec, qat_keras_model *out) {
  memset(out, 0, sizeof *out);
  wsrc ws = {{-1, NULL, 0, NULL}, path, 0, "", NULL, NULL, 0};
  keras_file_kind kind;
  int rc = qat_keras_sniff(path, &kind);
  if (rc) return rc;
  out->spec = *spec;
  out->spec.layers = malloc((size_t)(spec->n_layers ? spec->n_layers : 1) * sizeof *spec->layers);
  out->spec.init = NULL;
  out->spec.source = NULL;
  memset(&out->spec.quantize, 0, sizeof out->spec.quantize);
  if (!out->spec.layers) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
  memcpy(out->spec.layers, spec->layers, (size_t)spec->n_layers * sizeof *spec->layers);
  if ((rc = qat_keras_open_weights(path, &ws.r))) goto fail;
  ws.path = ws.r.path;
  if (kind == KERAS_FILE_ZIP) {
    ws.keras3 = 1;
    ws.root = "";
    out->format = "Keras 3 .keras";
  } else {
    int full = qat_h5_has_attr(&ws.r, "/", "model_config") == 1;
    detect_layout(&ws, full);
    out->format = full ? "legacy Keras .h5" : ws.keras3 ? "Keras 3 .weights.h5" : "legacy Keras weights .h5";
  }
  rc = read_weights(&ws, out);
  qat_h5_reader_close(&ws.r);
fail:
  if (rc) qat_keras_free(out);
  return rc;
}

int qat_keras_apply(const qat_keras_model *k, qat_model *m) {
  float *params = malloc((size_t)(m->n_params + 1) * sizeof(float));
  float *state = malloc((size_t)(m->n_state + 1) * sizeof(float));
  int rc = QAT_OK;
  if (!params || !state) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory applying Keras weights");
    goto done;
  }
  memcpy(params, m->params, (size_t)m->n_params * sizeof(float));
  memcpy(state, m->state, (size_t)m->n_state * sizeof(float));
  for (int i = 0; i < m->n_param_list; i++) {
    const qat_param *p = &m->param_list[i];
    const qat_keras_weight *w = NULL;
    for (int j = 0; j < k->n_weights && !w; j++)
      if (!strcmp(k->weights[j].name, p->name)) w = &k->weights[j];
    if (!w) {
      if (strstr(p->name, "/lsq_")) continue; /* learned step sizes start from the first batch */
      rc = qat_fail(QAT_ERR_FORMAT, "the Keras model has no weight '%s'", p->name);
      goto done;
    }
    int same = w->rank == p->rank && w->size == p->size;
    for (int d = 0; same && d < p->rank; d++) same = w->dims[d] == p->dims[d];
    if (!same) {
      rc = qat_fail(QAT_ERR_FORMAT, "weight '%s': the Keras model's shape differs from the model's", p->name);
      goto done;
    }
    memcpy((p->trainable ? params : state) + p->offset, w->data, (size_t)p->size * sizeof(float));
  }
  memcpy(m->params, params, (size_t)m->n_params * sizeof(float));
  memcpy(m->state, state, (size_t)m->n_state * sizeof(float));
done:
  free(params);
  free(state);
  return rc;
}

int qat_keras_resolve_spec(qat_model_spec *spec, qat_keras_model *k) {
  memset(k, 0, sizeof *k);
  if (!spec->keras) return QAT_OK;
  int rc = qat_keras_load(spec->keras, NULL, k);
  if (rc) return qat_fail_prefix(rc, "model.keras: ");
  memcpy(spec->input_shape, k->spec.input_shape, sizeof spec->input_shape);
  spec->input_rank = k->spec.input_rank;
  /* the compiled loss, unless the config names one (the default is sparse categorical) */
  if (k->loss_known && spec->loss == QAT_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY && !spec->from_logits) {
    spec->loss = k->spec.loss;
    spec->from_logits = k->spec.from_logits;
  }
  spec->n_layers = k->spec.n_layers;
  spec->layers = k->spec.layers;
  spec->n_outputs = k->spec.n_outputs;
  for (int o = 0; o < k->spec.n_outputs; o++) {
    spec->outputs[o] = k->spec.outputs[o];
    spec->output_loss[o] = k->loss_known ? k->spec.output_loss[o] : spec->loss;
    spec->loss_weight[o] = k->spec.loss_weight[o];
  }
  return QAT_OK;
}

/* ---- the public loads: libhdf5 makes every read in a child first (qat_h5_rehearsed) ------ */

typedef struct load_args {
  const char *path, *arch_json;
  const int *input_shape;
  const qat_model_spec *spec;
  qat_keras_model *out;
} load_args;

static int load_call(void *p) {
  load_args *a = p;
  return keras_load(a->path, a->arch_json, a->input_shape, a->out);
}

static int load_weights_call(void *p) {
  load_args *a = p;
  return keras_load_weights(a->path, a->spec, a->out);
}

int qat_keras_load_sized(const char *path, const char *arch_json, const int input_shape[3], qat_keras_model *out) {
  load_args a = {path, arch_json, input_shape, NULL, out};
  return qat_h5_rehearsed(path, load_call, &a);
}

int qat_keras_load(const char *path, const char *arch_json, qat_keras_model *out) {
  return qat_keras_load_sized(path, arch_json, NULL, out);
}

int qat_keras_load_weights(const char *path, const qat_model_spec *spec, qat_keras_model *out) {
  load_args a = {path, NULL, NULL, spec, out};
  return qat_h5_rehearsed(path, load_weights_call, &a);
}
