/* Model checkpoints over the HDF5 tensor store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/error.h"
#include "qat/h5store.h"
#include "qat/keras.h"
#include "qat/train.h"

static void param_path(char *buf, size_t len, const qat_param *p) {
  snprintf(buf, len, "%s/%s", p->trainable ? "params" : "state", p->name);
}

int qat_checkpoint_save(const char *path, const qat_model *m, const qat_optimizer *opt, const char *config_text,
                        const qat_checkpoint_meta *meta) {
  return qat_checkpoint_save_ex(path, m, opt, config_text, meta, NULL);
}

static int write_data_attrs(qat_h5_writer *w, const qat_checkpoint_data *d) {
  int rc = QAT_OK;
  if (!d) return rc;
  if (d->data_dir) rc = qat_h5_write_attr_string(w, "/", "data_dir", d->data_dir);
  if (!rc && d->n_class_names > 0) {
    size_t len = 1;
    for (int i = 0; i < d->n_class_names; i++) len += strlen(d->class_names[i]) + 1;
    char *text = malloc(len), *p = text;
    if (!text) return qat_fail(QAT_ERR_NOMEM, "out of memory for the class names");
    for (int i = 0; i < d->n_class_names; i++) p += sprintf(p, "%s\n", d->class_names[i]);
    rc = qat_h5_write_attr_string(w, "/", "class_names", text);
    free(text);
  }
  return rc;
}

static int read_class_names(const char *path, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  qat_h5_reader r;
  int rc = qat_h5_reader_open(&r, path);
  if (rc) return rc;
  char *text = NULL;
  if (qat_h5_has_attr(&r, "/", "class_names") == 1 && !(rc = qat_h5_read_attr_string(&r, "/", "class_names", &text))) {
    int count = 0;
    for (char *p = text; *p; p++) count += *p == '\n';
    char **list = calloc((size_t)count + 1, sizeof *list);
    if (!list) rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    for (char *p = text, *nl; !rc && (nl = strchr(p, '\n')); p = nl + 1) {
      *nl = '\0';
      if (!(list[*n] = strdup(p))) rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
      else (*n)++;
    }
    *names = list;
  }
  free(text);
  qat_h5_reader_close(&r);
  return rc;
}

int qat_checkpoint_save_ex(const char *path, const qat_model *m, const qat_optimizer *opt, const char *config_text,
                           const qat_checkpoint_meta *meta, const qat_checkpoint_data *data) {
  qat_h5_writer w;
  int rc = qat_h5_writer_open(&w, path);
  if (rc) return rc;
  char name[512];
  for (int i = 0; i < m->n_param_list && !rc; i++) {
    const qat_param *p = &m->param_list[i];
    int64_t dims[QAT_MAX_RANK];
    for (int d = 0; d < p->rank; d++) dims[d] = p->dims[d];
    param_path(name, sizeof name, p);
    rc = qat_h5_write_array(&w, name, QAT_H5_F32, p->rank, dims, p->tensor->data);
  }
  /* Activation ranges of a quantization-aware model: [min, max, initialized] per observer.
   * Weight and bias parameters follow from the weights and need no storage. */
  for (int i = 0; i < m->n_fq && !rc; i++) {
    const qat_fq *fq = m->fq[i];
    if (fq->role != QAT_FQ_ACTIVATION) continue;
    float obs[3] = {fq->observer.min, fq->observer.max, (float)fq->observer.initialized};
    int64_t three = 3;
    snprintf(name, sizeof name, "quant/%s", fq->name);
    rc = qat_h5_write_array(&w, name, QAT_H5_F32, 1, &three, obs);
    /* the EMA's update count (its warm-up): resume continues it exactly */
    int64_t one = 1, updates = fq->observer.updates;
    snprintf(name, sizeof name, "quant_updates/%s", fq->name);
    if (!rc) rc = qat_h5_write_array(&w, name, QAT_H5_I64, 1, &one, &updates);
  }
  if (!rc && opt) {
    int64_t n = opt->n_params;
    rc = qat_h5_write_array(&w, "optimizer/m", QAT_H5_F32, 1, &n, opt->m);
    if (!rc && opt->v) rc = qat_h5_write_array(&w, "optimizer/v", QAT_H5_F32, 1, &n, opt->v);
    if (!rc) rc = qat_h5_write_attr_int64(&w, "optimizer", "step", opt->step);
    if (!rc) rc = qat_h5_write_attr_int64(&w, "optimizer", "kind", opt->spec.kind);
  }
  if (!rc) rc = qat_h5_write_attr_string(&w, "/", "format", QAT_CHECKPOINT_FORMAT);
  if (!rc) rc = qat_h5_write_attr_int64(&w, "/", "format_version", QAT_CHECKPOINT_VERSION);
  if (!rc) rc = qat_h5_write_attr_string(&w, "/", "created_by", "qat " QAT_VERSION);
  if (!rc) rc = qat_h5_write_attr_string(&w, "/", "config", config_text ? config_text : "");
  if (!rc) rc = qat_h5_write_attr_int64(&w, "/", "epoch", meta->epoch);
  if (!rc) rc = qat_h5_write_attr_int64(&w, "/", "step", meta->step);
  if (!rc) rc = qat_h5_write_attr_int64(&w, "/", "seed", (int64_t)meta->seed);
  if (!rc) rc = write_data_attrs(&w, data);
  if (rc) {
    qat_h5_writer_abort(&w);
    return rc;
  }
  return qat_h5_writer_commit(&w);
}

static int check_format(qat_h5_reader *r, const char *path) {
  char *format = NULL;
  int rc = qat_h5_read_attr_string(r, "/", "format", &format);
  if (rc || strcmp(format, QAT_CHECKPOINT_FORMAT) != 0) {
    free(format);
    return qat_fail(QAT_ERR_FORMAT, "%s: not a qat checkpoint (no format attribute '%s')", path,
                    QAT_CHECKPOINT_FORMAT);
  }
  free(format);
  int64_t version = 0;
  if ((rc = qat_h5_read_attr_int64(r, "/", "format_version", &version))) return rc;
  if (version != QAT_CHECKPOINT_VERSION)
    return qat_fail(QAT_ERR_FORMAT, "%s: checkpoint format version %lld, this qat reads version %d", path,
                    (long long)version, QAT_CHECKPOINT_VERSION);
  return QAT_OK;
}

static int read_config(const char *path, char **config_text) {
  qat_h5_reader r;
  int rc = qat_h5_reader_open(&r, path);
  if (rc) return rc;
  if (!(rc = check_format(&r, path))) rc = qat_h5_read_attr_string(&r, "/", "config", config_text);
  qat_h5_reader_close(&r);
  return rc;
}

static int load(const char *path, qat_model *m, qat_optimizer *opt, qat_checkpoint_meta *meta) {
  float (*obs)[3] = NULL;
  int *have_obs = NULL;
  int64_t *updates = NULL;
  qat_h5_reader r;
  int rc = qat_h5_reader_open(&r, path);
  if (rc) return rc;
  /* Read everything into scratch first: a failure half-way leaves the model untouched. */
  float *params = malloc((size_t)(m->n_params ? m->n_params : 1) * sizeof(float));
  float *state = malloc((size_t)(m->n_state ? m->n_state : 1) * sizeof(float));
  if (!params || !state) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory reading %s", path);
    goto close_reader;
  }
  if ((rc = check_format(&r, path))) goto close_reader;
  char name[512];
  for (int i = 0; i < m->n_param_list; i++) {
    const qat_param *p = &m->param_list[i];
    int64_t dims[QAT_MAX_RANK];
    for (int d = 0; d < p->rank; d++) dims[d] = p->dims[d];
    param_path(name, sizeof name, p);
    float *dst = (p->trainable ? params : state) + p->offset;
    if (qat_h5_has(&r, name) != 1) {
      /* A float checkpoint has no LSQ step sizes: they start from the first batch (0). */
      if (strstr(p->name, "/lsq_")) {
        memset(dst, 0, (size_t)p->size * sizeof(float));
        continue;
      }
      rc = qat_fail(QAT_ERR_FORMAT, "%s: no weights for '%s' (is the checkpoint from another model?)", path, name);
      goto close_reader;
    }
    if ((rc = qat_h5_read_array(&r, name, QAT_H5_F32, p->rank, dims, dst, QAT_H5_FINITE | QAT_H5_REQUIRE_CHECKSUM)))
      goto close_reader;
  }
  /* Observer ranges: absent in a float checkpoint (fine-tuning starts them fresh). */
  obs = calloc((size_t)(m->n_fq ? m->n_fq : 1), sizeof *obs);
  have_obs = calloc((size_t)(m->n_fq ? m->n_fq : 1), sizeof *have_obs);
  updates = calloc((size_t)(m->n_fq ? m->n_fq : 1), sizeof *updates);
  if (!obs || !have_obs || !updates) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory reading %s", path);
    goto close_reader;
  }
  for (int i = 0; i < m->n_fq; i++) {
    if (m->fq[i]->role != QAT_FQ_ACTIVATION) continue;
    snprintf(name, sizeof name, "quant/%s", m->fq[i]->name);
    if (qat_h5_has(&r, name) != 1) continue;
    int64_t three = 3;
    if ((rc = qat_h5_read_array(&r, name, QAT_H5_F32, 1, &three, obs[i], QAT_H5_REQUIRE_CHECKSUM))) break;
    have_obs[i] = 1;
    /* a checkpoint written before the warm-up: its ranges continue with the configured decay */
    updates[i] = QAT_OBSERVER_WARM;
    snprintf(name, sizeof name, "quant_updates/%s", m->fq[i]->name);
    int64_t one = 1;
    if (qat_h5_has(&r, name) == 1 &&
        (rc = qat_h5_read_array(&r, name, QAT_H5_I64, 1, &one, &updates[i], QAT_H5_REQUIRE_CHECKSUM)))
      break;
    if (updates[i] < 0) updates[i] = 0;
  }
  if (rc) goto close_reader;
  qat_checkpoint_meta got = {0};
  int64_t seed = 0;
  if ((rc = qat_h5_read_attr_int64(&r, "/", "epoch", &got.epoch)) ||
      (rc = qat_h5_read_attr_int64(&r, "/", "step", &got.step)) ||
      (rc = qat_h5_read_attr_int64(&r, "/", "seed", &seed)))
    goto close_reader;
  got.seed = (uint64_t)seed;
  if (opt) {
    int64_t n = opt->n_params, step = 0, kind = -1;
    if (qat_h5_has(&r, "optimizer/m") != 1) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: has no optimizer state to resume from", path);
      goto close_reader;
    }
    if ((rc = qat_h5_read_attr_int64(&r, "optimizer", "kind", &kind))) goto close_reader;
    if (opt->n_params != m->n_params) {
      rc = qat_fail(QAT_ERR_INTERNAL, "optimizer and model disagree on the parameter count");
      goto close_reader;
    }
    if (kind != opt->spec.kind) {
      rc = qat_fail(QAT_ERR_USAGE, "%s: was trained with another optimizer; resume needs the same one", path);
      goto close_reader;
    }
    if ((rc = qat_h5_read_attr_int64(&r, "optimizer", "step", &step)) ||
        (rc = qat_h5_read_array(&r, "optimizer/m", QAT_H5_F32, 1, &n, opt->m, QAT_H5_REQUIRE_CHECKSUM)) ||
        (opt->v && (rc = qat_h5_read_array(&r, "optimizer/v", QAT_H5_F32, 1, &n, opt->v, QAT_H5_REQUIRE_CHECKSUM))))
      goto close_reader;
    opt->step = step;
  }
  memcpy(m->params, params, (size_t)m->n_params * sizeof(float));
  memcpy(m->state, state, (size_t)m->n_state * sizeof(float));
  for (int i = 0; i < m->n_fq; i++)
    if (have_obs[i] && !m->fq[i]->fixed) { /* a fixed range (LOGISTIC, TANH) is the model's own */
      qat_fq *fq = m->fq[i];
      fq->observer.min = obs[i][0];
      fq->observer.max = obs[i][1];
      fq->observer.initialized = obs[i][2] != 0.0f;
      fq->observer.updates = updates[i];
      fq->valid = 0; /* recomputed from the observer on the next forward */
      if (fq->observer.initialized &&
          !qat_observer_params(&fq->observer, fq->qmin, fq->qmax, &fq->scale[0], &fq->zero_point[0])) {
        qat_quant_nudged_range(fq->scale[0], fq->zero_point[0], fq->qmin, fq->qmax, &fq->nudged_min[0],
                               &fq->nudged_max[0]);
        fq->valid = 1;
      }
    }
  if (meta) *meta = got;
close_reader:
  free(obs);
  free(have_obs);
  free(updates);
  free(params);
  free(state);
  qat_h5_reader_close(&r);
  return rc;
}

/* The stored config's relative data paths are relative to the folder of the config it was
 * trained from, and its classes are the ones it was trained with. */
static int data_from_checkpoint_now(const char *path, qat_data_spec *d) {
  qat_h5_reader r;
  int rc = qat_h5_reader_open(&r, path);
  if (rc) return rc;
  if (qat_h5_has_attr(&r, "/", "data_dir") == 1) {
    char *dir = NULL;
    if (!(rc = qat_h5_read_attr_string(&r, "/", "data_dir", &dir))) {
      free(d->base_dir);
      d->base_dir = dir;
    }
  }
  qat_h5_reader_close(&r);
  if (rc || d->n_class_names) return rc;
  return qat_checkpoint_read_class_names(path, &d->class_names, &d->n_class_names);
}

/* ---- the reads: each one made by a child first, as a whole (qat_h5_rehearsed) ------------- */

typedef struct read_args {
  const char *path;
  char ***names;
  int *n;
  char **text;
  qat_model *m;
  qat_optimizer *opt;
  qat_checkpoint_meta *meta;
  qat_data_spec *data;
} read_args;

static int class_names_call(void *p) {
  read_args *a = p;
  return read_class_names(a->path, a->names, a->n);
}
static int config_call(void *p) {
  read_args *a = p;
  return read_config(a->path, a->text);
}
static int load_call(void *p) {
  read_args *a = p;
  return load(a->path, a->m, a->opt, a->meta);
}
static int data_call(void *p) {
  read_args *a = p;
  return data_from_checkpoint_now(a->path, a->data);
}

int qat_checkpoint_read_class_names(const char *path, char ***names, int *n) {
  read_args a = {.path = path, .names = names, .n = n};
  return qat_h5_rehearsed(path, class_names_call, &a);
}

int qat_checkpoint_read_config(const char *path, char **config_text) {
  read_args a = {.path = path, .text = config_text};
  return qat_h5_rehearsed(path, config_call, &a);
}

int qat_checkpoint_load(const char *path, qat_model *m, qat_optimizer *opt, qat_checkpoint_meta *meta) {
  read_args a = {.path = path, .m = m, .opt = opt, .meta = meta};
  return qat_h5_rehearsed(path, load_call, &a);
}

static int data_from_checkpoint(const char *path, qat_data_spec *d) {
  read_args a = {.path = path, .data = d};
  return qat_h5_rehearsed(path, data_call, &a);
}

int qat_checkpoint_config(const char *path, qat_config *cfg) {
  char *text = NULL;
  memset(cfg, 0, sizeof *cfg);
  int rc = qat_checkpoint_read_config(path, &text);
  if (rc) return rc;
  /* messages about the stored config name the checkpoint it came from */
  char source[4200];
  snprintf(source, sizeof source, "%s:/config", path);
  rc = qat_config_parse(text, strlen(text), source, cfg);
  free(text);
  if (rc) return rc;
  if ((rc = qat_config_resolve(cfg, NULL))) goto free_config;
  memcpy(cfg->data.input_shape, cfg->model.input_shape, sizeof cfg->data.input_shape);
  if ((rc = data_from_checkpoint(path, &cfg->data))) goto free_config;
  return QAT_OK;
free_config:
  qat_config_free(cfg);
  return rc;
}

int qat_model_from_checkpoint(const char *path, int max_batch, qat_config *cfg, qat_model **m) {
  *m = NULL;
  int rc = qat_checkpoint_config(path, cfg);
  if (rc) return rc;
  if ((rc = qat_model_create(m, &cfg->model, max_batch, cfg->train.seed))) goto free_config;
  if ((rc = qat_checkpoint_load(path, *m, NULL, NULL))) goto free_model;
  return QAT_OK;
free_model:
  qat_model_free(*m);
  *m = NULL;
free_config:
  qat_config_free(cfg);
  return rc;
}
