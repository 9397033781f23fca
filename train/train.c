/* The training loop: epochs of seeded batches, per-epoch evaluation, checkpoint and CSV log,
 * exact resume from an epoch checkpoint, and a stop at the first non-finite loss or gradient. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "qat/atomic_file.h"
#include "qat/calib.h"
#include "qat/data.h"
#include "qat/dist.h"
#include "qat/error.h"
#include "qat/keras.h"
#include "qat/train.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int make_dirs(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return qat_fail(QAT_ERR_USAGE, "output folder name is too long");
  for (char *p = buf + 1;; p++) {
    char c = *p;
    if (c == '/' || c == '\0') {
      *p = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return qat_fail(QAT_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
      *p = c;
      if (c == '\0') break;
    }
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return qat_fail(QAT_ERR_IO, "%s: not a folder", path);
  return QAT_OK;
}

/* What the loss reads for a batch besides the inputs: y, the class labels (batch * positions:
 * one per sample from the batcher, or a label map's per position), and t, the targets of a value
 * loss (the dataset's, or rows made from its class labels for a binary cross-entropy). */
typedef struct batch_y {
  int32_t *y;
  float *t;
  int64_t per; /* values of t per sample */
} batch_y;

static int batch_y_init(batch_y *by, const qat_model *m, const qat_dataset *ds, int batch) {
  memset(by, 0, sizeof *by);
  by->per = m->n_heads > 1 ? ds->target_len /* one row of every output's targets */
            : m->targets  ? qat_tensor_size(m->logits) / m->logits->dims[0]
            : ds->targets ? ds->target_len
                          : 0;
  by->y = malloc((size_t)batch * (size_t)(m->targets ? 1 : m->positions) * sizeof *by->y);
  if (by->per) by->t = malloc((size_t)batch * (size_t)by->per * sizeof *by->t);
  if (!by->y || (by->per && !by->t)) return qat_fail(QAT_ERR_NOMEM, "out of memory for a batch's targets");
  return QAT_OK;
}

static void batch_y_free(batch_y *by) {
  free(by->y);
  free(by->t);
}

/* After qat_batcher_get filled by->y with each sample's label. */
static void batch_y_fill(batch_y *by, const qat_model *m, const qat_batcher *b, int64_t i, int n) {
  const qat_dataset *ds = b->ds;
  if (ds->targets) qat_batcher_get_targets(b, i, by->t);
  if (m->n_heads > 1) return; /* rows for qat_model_set_row_targets */
  if (!m->targets) {
    if (ds->targets) /* label maps (checked: integers below num_classes) */
      for (int64_t k = 0; k < (int64_t)n * m->positions; k++) by->y[k] = (int32_t)by->t[k];
    return;
  }
  if (ds->targets) return;
  for (int j = 0; j < n; j++) /* a binary cross-entropy on class labels: the label, or one-hot rows */
    for (int64_t k = 0; k < by->per; k++)
      by->t[j * by->per + k] = by->per == 1 ? (float)by->y[j] : (float)(k == by->y[j]);
}

/* Batches first, first + stride, ... of a dataset in inference mode: the summed loss, the
 * summed metric (qat_model_step's) and the samples seen. */
static int evaluate_part(qat_model *m, const qat_dataset *ds, int batch_size, int fake_quant, int64_t first,
                         int64_t stride, double *loss_sum, double *metric_out, int64_t *seen_out) {
  if (batch_size > m->max_batch) batch_size = m->max_batch;
  qat_batcher b;
  int rc = qat_batcher_init(&b, ds, batch_size, 0, 0, 0);
  if (rc) return rc;
  size_t per = (size_t)ds->h * ds->w * ds->c;
  float *x = malloc((size_t)batch_size * per * sizeof(float));
  batch_y by;
  rc = batch_y_init(&by, m, ds, batch_size);
  if (!rc && !x) rc = qat_fail(QAT_ERR_NOMEM, "out of memory for an evaluation batch");
  if (rc) goto free_buffers;
  double total_loss = 0, metric = 0;
  int64_t seen = 0;
  qat_exec ex = {.training = 0, .fake_quant = fake_quant};
  for (int64_t i = first; i < qat_batcher_num_batches(&b); i += stride) {
    int n = qat_batcher_get(&b, i, x, by.y);
    if (n < 0) {
      rc = n;
      goto free_buffers;
    }
    batch_y_fill(&by, m, &b, i, n);
    if (m->n_heads > 1) qat_model_set_row_targets(m, by.t, n);
    else if (m->targets) qat_model_set_targets(m, by.t, n);
    float l;
    double c;
    qat_model_step(m, x, m->n_heads > 1 ? NULL : by.y, n, &ex, 0, &l, &c);
    total_loss += (double)l * n;
    metric += c;
    seen += n;
  }
  *loss_sum = total_loss;
  *metric_out = metric;
  *seen_out = seen;
free_buffers:
  free(x);
  batch_y_free(&by);
  qat_batcher_free(&b);
  return rc;
}

int qat_evaluate(qat_model *m, const qat_dataset *ds, int batch_size, int fake_quant, double *loss,
                 double *accuracy) {
  double total_loss = 0, metric = 0;
  int64_t seen = 0;
  int rc = evaluate_part(m, ds, batch_size, fake_quant, 0, 1, &total_loss, &metric, &seen);
  if (rc) return rc;
  *loss = seen ? total_loss / (double)seen : 0.0;
  *accuracy = seen ? metric / (double)seen : 0.0;
  return QAT_OK;
}

/* Data-parallel evaluation: rank r takes batches r, r + N, ...; the sums are added over the
 * ranks, so every rank reports the whole set's figures. */
static int evaluate_dist(qat_model *m, const qat_dataset *ds, int batch_size, int fake_quant, const qat_dist *d,
                         double *loss, double *accuracy) {
  if (d->size < 2) return qat_evaluate(m, ds, batch_size, fake_quant, loss, accuracy);
  double total_loss = 0, metric = 0;
  int64_t seen = 0;
  int rc = evaluate_part(m, ds, batch_size, fake_quant, d->rank, d->size, &total_loss, &metric, &seen);
  if ((rc = qat_dist_agree(d, rc))) return rc;
  double sums[3] = {total_loss, metric, (double)seen};
  qat_dist_sum_double(d, sums, 3);
  *loss = sums[2] > 0 ? sums[0] / sums[2] : 0.0;
  *accuracy = sums[2] > 0 ? sums[1] / sums[2] : 0.0;
  return QAT_OK;
}

/* Rank r's share of a global batch of n: samples [share(n, r), share(n, r + 1)). */
static int share(int n, int rank, int ranks) { return (int)((int64_t)n * rank / ranks); }

/* FNV-1a over everything a step updates: parameters, batch-norm statistics, optimizer
 * moments, quantizer ranges and scales. Equal on every rank, or data parallelism is broken. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

static uint64_t model_digest(const qat_model *m, const qat_optimizer *opt) {
  uint64_t h = 0xcbf29ce484222325ULL;
  h = fnv(h, m->params, (size_t)m->n_params * sizeof(float));
  h = fnv(h, m->state, (size_t)m->n_state * sizeof(float));
  if (opt->m) h = fnv(h, opt->m, (size_t)opt->n_params * sizeof(float));
  if (opt->v) h = fnv(h, opt->v, (size_t)opt->n_params * sizeof(float));
  for (int i = 0; i < m->n_fq; i++) {
    const qat_fq *fq = m->fq[i];
    h = fnv(h, &fq->observer.min, sizeof fq->observer.min);
    h = fnv(h, &fq->observer.max, sizeof fq->observer.max);
    h = fnv(h, fq->scale, (size_t)fq->channels * sizeof(float));
    h = fnv(h, fq->zero_point, (size_t)fq->channels * sizeof(int32_t));
  }
  return h;
}

/* The CSV keeps one row per completed epoch; on resume the rows of the epochs being redone
 * are dropped so the log reads as one uninterrupted run. */
typedef struct csv_log {
  char *text;
  size_t len, cap;
} csv_log;

static const char csv_header[] =
    "epoch,steps,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,lr,seconds,ms_per_step\n";

static int csv_append(csv_log *log, const char *line) {
  size_t n = strlen(line);
  if (log->len + n + 1 > log->cap) {
    size_t cap = (log->cap + n + 1) * 2;
    char *p = realloc(log->text, cap);
    if (!p) return qat_fail(QAT_ERR_NOMEM, "out of memory for the training log");
    log->text = p;
    log->cap = cap;
  }
  memcpy(log->text + log->len, line, n + 1);
  log->len += n;
  return QAT_OK;
}

static int csv_load(csv_log *log, const char *path, int64_t keep_epochs) {
  int rc = csv_append(log, csv_header);
  FILE *f = fopen(path, "r");
  if (!f) return rc;
  char line[1024];
  while (!rc && fgets(line, sizeof line, f)) {
    char *end;
    long epoch = strtol(line, &end, 10);
    if (end != line && *end == ',' && epoch >= 1 && epoch <= keep_epochs) rc = csv_append(log, line);
  }
  fclose(f);
  return rc;
}

/* The epoch checkpoints beside path (epoch_NNN.h5 in its folder), newest first, path itself
 * left out: what a damaged latest checkpoint falls back to. */
static int epoch_checkpoints(const char *path, int numbers[], int cap, char dir[], size_t dir_size) {
  const char *slash = strrchr(path, '/');
  if (slash) snprintf(dir, dir_size, "%.*s", (int)(slash - path), path);
  else snprintf(dir, dir_size, ".");
  const char *base = slash ? slash + 1 : path;
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < cap) {
    int k, used = 0;
    if (sscanf(e->d_name, "epoch_%d.h5%n", &k, &used) == 1 && used > 0 && e->d_name[used] == '\0' && k > 0 &&
        strcmp(e->d_name, base) != 0)
      numbers[n++] = k;
  }
  closedir(d);
  for (int a = 1; a < n; a++) /* newest first */
    for (int b = a; b > 0 && numbers[b] > numbers[b - 1]; b--) {
      int t = numbers[b];
      numbers[b] = numbers[b - 1];
      numbers[b - 1] = t;
    }
  return n;
}

/* --resume: the checkpoint, or when it is damaged (unreadable, truncated, corrupt: a format or
 * I/O error, not a usage one such as another optimizer) the newest epoch checkpoint beside it
 * that loads, with a warning naming both. */
static int resume_load(const qat_train_options *o, qat_model *m, qat_optimizer *opt, qat_checkpoint_meta *meta,
                       char *fallback, size_t size, const char **used) {
  *used = o->resume;
  int rc = qat_checkpoint_load(o->resume, m, opt, meta);
  if (rc != QAT_ERR_FORMAT && rc != QAT_ERR_IO) return rc;
  char first[1024], dir[4096];
  snprintf(first, sizeof first, "%s", qat_error_message());
  int numbers[256];
  int n = epoch_checkpoints(o->resume, numbers, 256, dir, sizeof dir);
  for (int i = 0; i < n; i++) {
    snprintf(fallback, size, "%s/epoch_%03d.h5", dir, numbers[i]);
    if (qat_checkpoint_load(fallback, m, opt, meta)) continue;
    *used = fallback;
    if (o->progress) {
      char note[9600];
      snprintf(note, sizeof note, "warning: cannot resume from %s (%s); resuming from %s, the newest epoch "
               "checkpoint beside it that reads", o->resume, first, fallback);
      qat_progress pn = {.kind = QAT_PROGRESS_DATA, .message = note};
      o->progress(&pn, o->user);
    }
    return QAT_OK;
  }
  return qat_fail(rc, "%s%s", first,
                  n ? " (and no epoch checkpoint beside it reads either)" : " (no epoch checkpoint beside it to fall back to)");
}

/* Several outputs: each sample's targets are one row of every output's, in model.outputs' order
 * (qat_model_set_row_targets): a class output's labels (one, or a label map's per position,
 * integers below its classes), a value output's values. */
static int check_row_targets(const qat_config *cfg, const qat_model *m, const qat_dataset *train,
                             const qat_data_info *info) {
  int64_t row = 0;
  for (int h = 0; h < m->n_heads; h++) row += qat_model_head_target_len(m, h);
  if (!train->targets || train->target_len != row)
    return qat_fail(QAT_ERR_USAGE, "%s: %d model outputs take %lld target values per sample together, the data has "
                    "%lld (give y as one array per output, in model.outputs' order; data: %s)", cfg->path, m->n_heads,
                    (long long)row, (long long)(train->targets ? train->target_len : 1), info->source);
  if (cfg->data.random_crop || cfg->data.horizontal_flip || qat_augment_geometric(&cfg->data.augment))
    return qat_fail(QAT_ERR_USAGE, "%s: geometric augmentation would move the inputs away from their targets (data: %s)",
                    cfg->path, info->source);
  int64_t off = 0;
  for (int h = 0; h < m->n_heads; h++) {
    const qat_head *hd = &m->heads[h];
    const int64_t len = qat_model_head_target_len(m, h);
    for (int64_t s = 0; !hd->targets && s < train->n; s++)
      for (int64_t k = 0; k < len; k++) {
        const float v = train->targets[s * row + off + k];
        if (!(v >= 0.0f && v < (float)hd->num_classes && v == floorf(v)))
          return qat_fail(QAT_ERR_USAGE, "%s: output %d ('%s', %s): label %g at sample %lld is not a class of "
                          "[0,%d) (data: %s)", cfg->path, h + 1, cfg->model.layers[hd->layer].name,
                          qat_loss_name(hd->loss), (double)v, (long long)s, hd->num_classes, info->source);
      }
    off += len;
  }
  return QAT_OK;
}

/* The messages name the data (source and file) as well as the config. */
static int check_data_fits_model(const qat_config *cfg, const qat_model *m, const qat_dataset *train,
                                 const qat_data_info *info) {
  const int *in = cfg->model.input_shape;
  int arrays[3]; /* a sequence model's arrays [N, T, C] read as (T, C, 1) */
  qat_spec_data_shape(&cfg->model, arrays);
  if ((train->h != in[0] || train->w != in[1] || train->c != in[2]) &&
      (train->h != arrays[0] || train->w != arrays[1] || train->c != arrays[2]))
    return qat_fail(QAT_ERR_USAGE, "%s: the data's samples are %dx%dx%d, model.input expects %dx%dx%d (data: %s)",
                    cfg->path, train->h, train->w, train->c, arrays[0], arrays[1], arrays[2], info->source);
  const char *loss = qat_loss_name(cfg->model.loss);
  if (m->n_heads > 1) return check_row_targets(cfg, m, train, info);
  if (train->targets && (cfg->data.random_crop || cfg->data.horizontal_flip || qat_augment_geometric(&cfg->data.augment)))
    return qat_fail(QAT_ERR_USAGE, "%s: geometric augmentation (flips, crops, translation, rotation, zoom) would move "
                    "the inputs away from their targets; keep it for class labels (data: %s)", cfg->path, info->source);
  if (m->targets) {
    const int64_t per = qat_tensor_size(m->logits) / m->logits->dims[0];
    if (train->targets && train->target_len != per)
      return qat_fail(QAT_ERR_USAGE, "%s: the targets have %lld values per sample, the last layer outputs %lld "
                      "(train.loss: %s; data: %s)", cfg->path, (long long)train->target_len, (long long)per, loss,
                      info->source);
    if (!train->targets && !(cfg->model.loss == QAT_LOSS_BINARY_CROSSENTROPY &&
                             (per == 1 ? train->num_classes <= 2 : per == train->num_classes)))
      return qat_fail(QAT_ERR_USAGE, "%s: train.loss: %s compares the output's %lld values per sample with targets, "
                      "and the data has one class label per sample (give y as a float array [N, ...] of the "
                      "output's shape; data: %s)", cfg->path, loss, (long long)per, info->source);
    return QAT_OK;
  }
  if (train->targets) {
    if (!train->target_ints)
      return qat_fail(QAT_ERR_USAGE, "%s: float targets and train.loss: %s; a class loss takes integer labels or "
                      "label maps (or set train.loss: mean_squared_error, binary_crossentropy, ...; data: %s)",
                      cfg->path, loss, info->source);
    if (train->target_len != m->positions)
      return qat_fail(QAT_ERR_USAGE, "%s: label maps of %lld values per sample, the last layer outputs %lld positions "
                      "of %d classes (data: %s)", cfg->path, (long long)train->target_len, (long long)m->positions,
                      m->num_classes, info->source);
    for (int64_t k = 0; k < train->n * train->target_len; k++)
      if (train->targets[k] >= (float)m->num_classes)
        return qat_fail(QAT_ERR_USAGE, "%s: label %g at sample %lld, position %lld, out of range [0,%d): the last "
                        "layer outputs %d classes (data: %s)", cfg->path, (double)train->targets[k],
                        (long long)(k / train->target_len), (long long)(k % train->target_len), m->num_classes,
                        m->num_classes, info->source);
    return QAT_OK;
  }
  if (m->positions > 1)
    return qat_fail(QAT_ERR_USAGE, "%s: the last layer outputs %lld positions of %d classes (a segmenter) and the data "
                    "one label per sample: give y as label maps [N, ...] (data: %s)", cfg->path,
                    (long long)m->positions, m->num_classes, info->source);
  if (train->num_classes != m->num_classes)
    return qat_fail(QAT_ERR_USAGE, "%s: the data has %d classes, the last layer outputs %d (set the last Dense's "
                    "units to %d, or data.num_classes; data: %s)", cfg->path, train->num_classes, m->num_classes,
                    train->num_classes, info->source);
  return QAT_OK;
}

typedef struct decode_ctx {
  const qat_train_options *o;
} decode_ctx;

static void decode_progress(int64_t done, int64_t total, void *user) {
  decode_ctx *dc = user;
  qat_progress p = {.kind = QAT_PROGRESS_DECODE, .step = done, .steps_per_epoch = total};
  dc->o->progress(&p, dc->o->user);
}

/* Recorded in every checkpoint of a run whose data has something to record. */
static qat_checkpoint_data checkpoint_data(const qat_config *cfg, const qat_data_info *info) {
  const qat_data_spec *d = &cfg->data;
  const char *paths[] = {d->train_images, d->train_labels, d->test_images, d->test_labels, d->test_file,
                         d->x, d->y, d->test_x, d->test_y, d->path};
  int relative = 0;
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) relative |= paths[i] && paths[i][0] != '/';
  for (int i = 0; i < d->n_train_files; i++) relative |= d->train_files[i][0] != '/';
  qat_checkpoint_data cd = {relative ? d->base_dir : NULL, info->n_class_names, info->class_names};
  if (!cd.n_class_names) {
    cd.n_class_names = d->n_class_names;
    cd.class_names = d->class_names;
  }
  return cd;
}

/* train.freeze: the parameters and batch-norm statistics of the named layers, copied once so
 * that every step can put them back after the optimizer moved its neighbours. */
typedef struct frozen_set {
  int n;
  int64_t *off, *size;
  int *trainable;
  float *saved;
} frozen_set;

static void frozen_free(frozen_set *f) {
  free(f->off);
  free(f->size);
  free(f->trainable);
  free(f->saved);
  memset(f, 0, sizeof *f);
}

static int frozen_init(frozen_set *f, const qat_train_spec *ts, const qat_model *m) {
  memset(f, 0, sizeof *f);
  if (ts->n_freeze == 0) return QAT_OK;
  for (int k = 0; k < ts->n_freeze; k++) {
    int found = 0;
    for (int l = 0; l < m->spec.n_layers && !found; l++) found = !strcmp(m->spec.layers[l].name, ts->freeze[k]);
    if (!found) return qat_fail(QAT_ERR_USAGE, "train.freeze: the model has no layer named '%s'", ts->freeze[k]);
  }
  int64_t total = 0;
  f->off = calloc((size_t)m->n_param_list + 1, sizeof *f->off);
  f->size = calloc((size_t)m->n_param_list + 1, sizeof *f->size);
  f->trainable = calloc((size_t)m->n_param_list + 1, sizeof *f->trainable);
  if (!f->off || !f->size || !f->trainable) goto oom;
  for (int i = 0; i < m->n_param_list; i++) {
    const qat_param *p = &m->param_list[i];
    const char *layer = m->spec.layers[p->layer].name;
    int hit = 0;
    for (int k = 0; k < ts->n_freeze && !hit; k++) hit = !strcmp(ts->freeze[k], layer);
    if (!hit) continue;
    f->off[f->n] = p->offset;
    f->size[f->n] = p->size;
    f->trainable[f->n] = p->trainable;
    f->n++;
    total += p->size;
  }
  if (!(f->saved = malloc((size_t)(total + 1) * sizeof(float)))) goto oom;
  for (int i = 0, at = 0; i < f->n; at += (int)f->size[i], i++)
    memcpy(f->saved + at, (f->trainable[i] ? m->params : m->state) + f->off[i], (size_t)f->size[i] * sizeof(float));
  return QAT_OK;
oom:
  frozen_free(f);
  return qat_fail(QAT_ERR_NOMEM, "out of memory for train.freeze");
}

/* No gradient (so clipping and the divergence check see only the trained part)... */
static void frozen_zero_grads(const frozen_set *f, qat_model *m) {
  for (int i = 0; i < f->n; i++)
    if (f->trainable[i]) memset(m->grads + f->off[i], 0, (size_t)f->size[i] * sizeof(float));
}

/* ... and the exact old values back: Adam's moments and weight decay would move them anyway. */
static void frozen_restore(const frozen_set *f, qat_model *m) {
  for (int i = 0, at = 0; i < f->n; at += (int)f->size[i], i++)
    memcpy((f->trainable[i] ? m->params : m->state) + f->off[i], f->saved + at, (size_t)f->size[i] * sizeof(float));
}

int qat_train(const qat_config *cfg, const qat_train_options *o, qat_train_result *res) {
  return qat_train_dist(cfg, o, NULL, 0, res);
}

int qat_train_grad_sync(qat_grad_sync **out, const qat_dist *d, qat_model *m, qat_collective *coll) {
  qat_grad_segment *seg = malloc((size_t)(m->n_param_list > 0 ? m->n_param_list : 1) * sizeof *seg);
  if (!seg) return qat_fail(QAT_ERR_NOMEM, "out of memory for the gradient buckets");
  const int n_seg = qat_model_grad_segments(m, seg);
  int rc = qat_grad_sync_create(out, d, m->grads, seg, n_seg, m->graph.n_nodes, 1 << 16);
  free(seg);
  if (!rc) qat_grad_sync_attach(*out, coll);
  return rc;
}

int qat_train_dist(const qat_config *cfg_in, const qat_train_options *o, const qat_dist *dist, int rank_checkpoints,
                   qat_train_result *res) {
  const char *resumed_from = o->resume; /* the checkpoint resumed from: --resume's, or a fallback */
  char fallback[4200];
  memset(res, 0, sizeof *res);
  static const qat_dist solo = {.rank = 0, .size = 1, .local_size = 1};
  const qat_dist *d = dist ? dist : &solo;
  const int ranks = d->size, lead = d->rank == 0;
  qat_collective coll;
  qat_dist_collective(d, &coll);
  const qat_collective *collp = ranks > 1 ? &coll : NULL;
  double allreduce_seconds = 0;
  qat_grad_sync *grad_sync = NULL;
  /* model: {keras: PATH}: the config was resolved when it was loaded (qat_config_resolve) */
  const qat_config *cfg = cfg_in;
  const qat_train_spec *ts = &cfg->train;
  qat_dataset train = {0}, val = {0}, test = {0};
  qat_data_info info = {0};
  qat_model *m = NULL;
  double *prof = NULL, prof_update = 0;
  int64_t prof_steps = 0;
  qat_optimizer opt = {0};
  qat_batcher batcher = {0};
  frozen_set frozen = {0};
  csv_log log = {0};
  float *x = NULL;
  batch_y by = {0};
  char path[4200], csv_path[4200];
  int64_t steps_per_epoch = 0;
  size_t per = 0;
  int rc;

  if (ts->threads > 0) qat_set_threads(ts->threads);
  if (cfg->model.keras && !cfg->keras_model) {
    rc = qat_fail(QAT_ERR_INTERNAL, "%s: model.keras was not read (load configs with qat_config_load)", cfg->path);
    goto setup_failed;
  }
  /* The model's input (the Keras file's, where it gives one) first: image folders are resized to it. */
  {
    decode_ctx dc = {o};
    qat_data_options dopt = {.threads = ts->threads, .progress = o->progress ? decode_progress : NULL, .user = &dc};
    memcpy(dopt.input_shape, cfg->model.input_shape, sizeof dopt.input_shape);
    if ((rc = qat_data_load_ex(&cfg->data, &dopt, &train, &val, &test, &info))) {
      if (cfg->data.absent) qat_fail_prefix(rc, "%s: ", cfg->path);
      goto setup_failed;
    }
  }
  if (train.n == 0) {
    rc = qat_fail(QAT_ERR_USAGE, "%s: the training set is empty", cfg->path);
    goto setup_failed;
  }
  if (o->progress) {
    char msg[1024], classes[256] = "";
    if (info.n_class_names) {
      size_t k = 0;
      for (int i = 0; i < info.n_class_names && k < sizeof classes - 8; i++)
        k += (size_t)snprintf(classes + k, sizeof classes - k, "%s%s", i ? ", " : " (", info.class_names[i]);
      if (k < sizeof classes) snprintf(classes + k, sizeof classes - k, ")");
    }
    char what[64];
    if (train.targets)
      snprintf(what, sizeof what, "%lld %s targets per sample", (long long)train.target_len,
               train.target_ints ? "integer" : "float");
    else
      snprintf(what, sizeof what, "%d classes", info.num_classes);
    snprintf(msg, sizeof msg, "%s: %lld train, %lld validation, %lld test; %s%s; input %dx%dx%d%s", info.source,
             (long long)train.n, (long long)val.n, (long long)test.n, what, train.targets ? "" : classes, train.h,
             train.w, train.c, train.fimages ? " float" : " uint8");
    if (info.skipped || info.ignored) {
      size_t k = strlen(msg);
      snprintf(msg + k, sizeof msg - k, "; skipped %lld invalid and ignored %lld non-image files",
               (long long)info.skipped, (long long)info.ignored);
    }
    qat_progress p = {.kind = QAT_PROGRESS_DATA, .message = msg};
    if (o->progress(&p, o->user)) goto interrupted;
  }
  if ((rc = qat_model_create(&m, &cfg->model, ts->batch_size, ts->seed))) goto setup_failed;
  if (cfg->model.keras && !o->resume) {
    if ((rc = qat_keras_apply(cfg->keras_model, m))) goto setup_failed;
    qat_model_absorb_folded_bias(m);
  }
  if (cfg->model.init && !o->resume) {
    /* fine-tuning: weights and moving statistics from another run, a fresh optimizer */
    if ((rc = qat_checkpoint_load(cfg->model.init, m, NULL, NULL))) goto setup_failed;
    qat_model_absorb_folded_bias(m);
  }
  if ((rc = check_data_fits_model(cfg, m, &train, &info))) goto setup_failed;
  if ((rc = qat_batcher_init(&batcher, &train, ts->batch_size, 1, cfg->data.random_crop, cfg->data.horizontal_flip)))
    goto setup_failed;
  if ((rc = qat_batcher_set_augment(&batcher, &cfg->data.augment))) goto setup_failed;
  steps_per_epoch = qat_batcher_num_batches(&batcher);
  if (ts->steps_per_epoch > 0 && ts->steps_per_epoch < steps_per_epoch) steps_per_epoch = ts->steps_per_epoch;
  if ((rc = qat_optimizer_init(&opt, &ts->optimizer, &ts->schedule, m->n_params, m->n_decay,
                               steps_per_epoch * ts->epochs)))
    goto setup_failed;

  qat_checkpoint_meta meta = {0, 0, ts->seed};
  if (o->resume) {
    if ((rc = resume_load(o, m, &opt, &meta, fallback, sizeof fallback, &resumed_from))) goto setup_failed;
    if (meta.seed != ts->seed) {
      rc = qat_fail(QAT_ERR_USAGE, "%s: was trained with seed %llu, the run asks for seed %llu; resume needs the same seed",
                    resumed_from, (unsigned long long)meta.seed, (unsigned long long)ts->seed);
      goto setup_failed;
    }
    if (meta.step != meta.epoch * steps_per_epoch) {
      rc = qat_fail(QAT_ERR_USAGE, "%s: %lld steps in %lld epochs do not match %lld steps per epoch (batch size or data changed?)",
                    resumed_from, (long long)meta.step, (long long)meta.epoch, (long long)steps_per_epoch);
      goto setup_failed;
    }
  }
  snprintf(csv_path, sizeof csv_path, "%s/log.csv", o->out_dir);
  if (lead && ((rc = make_dirs(o->out_dir)) || (rc = csv_load(&log, csv_path, meta.epoch)))) goto setup_failed;
  if (ranks > 1) {
    int64_t last = train.n % ts->batch_size ? train.n % ts->batch_size : ts->batch_size;
    if (last < ranks) {
      rc = qat_fail(QAT_ERR_USAGE,
                    "%s: %d ranks need at least %d samples in every batch, and the last batch of an epoch of %lld "
                    "samples at batch_size %d has %lld; change train.batch_size or data.limit_train",
                    cfg->path, ranks, ranks, (long long)train.n, ts->batch_size, (long long)last);
      goto setup_failed;
    }
  }

  per = (size_t)train.h * train.w * train.c;
  x = malloc((size_t)ts->batch_size * per * sizeof(float));
  if (!x) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory for a batch");
    goto setup_failed;
  }
  if ((rc = batch_y_init(&by, m, &train, ts->batch_size))) goto setup_failed;

  if ((rc = frozen_init(&frozen, ts, m))) goto setup_failed;
  if ((rc = qat_train_grad_sync(&grad_sync, d, m, &coll))) goto setup_failed;
  if (qat_calib_pin_input(m, &train) && o->progress && !meta.step) {
    char note[240];
    snprintf(note, sizeof note,
             "input quantization: each byte value on its own int8 step (scale %.9g, zero point %d): the int8 "
             "export's uint8 input takes the raw bytes, its int8 input the bytes - 128",
             (double)m->input_fq->scale[0], (int)m->input_fq->zero_point[0]);
    qat_progress pn = {.kind = QAT_PROGRESS_DATA, .message = note};
    if (o->progress(&pn, o->user)) goto interrupted;
  }
  goto setup_done;
setup_failed:
  if (ranks < 2) goto cleanup;
setup_done:
  /* every rank learns whether any rank failed (a file one rank cannot read, a folder rank 0
   * cannot create), and all stop together with the first failure's message */
  if ((rc = qat_dist_agree(d, rc))) goto cleanup;
  int64_t global_step = meta.step;
  double step_seconds = 0;
  int64_t steps_run = 0;
  res->checkpoint[0] = '\0';
  if (o->resume) snprintf(res->checkpoint, sizeof res->checkpoint, "%s", resumed_from);
  for (int epoch = (int)meta.epoch; epoch < ts->epochs; epoch++) {
    qat_batcher_set_epoch(&batcher, ts->seed, epoch);
    qat_progress p = {.kind = QAT_PROGRESS_EPOCH_BEGIN, .epoch = epoch + 1, .epochs = ts->epochs,
                      .steps_per_epoch = steps_per_epoch, .global_step = global_step};
    if (qat_dist_max_int(d, o->progress && o->progress(&p, o->user))) goto interrupted;
    double epoch_start = now(), loss_sum = 0, epoch_step_seconds = 0;
    double correct = 0;
    int64_t seen = 0;
    for (int64_t b = 0; b < steps_per_epoch; b++) {
      int n = qat_batcher_get(&batcher, b, x, by.y);
      if (n < 0) {
        rc = n;
        qat_dist_abort(d, rc); /* the other ranks may be waiting in a collective */
        goto cleanup;
      }
      batch_y_fill(&by, m, &batcher, b, n);
      /* a network never trained, its batch norm frozen from the start: statistics from data */
      if (global_step == 0 && cfg->model.quantize.enabled &&
          m->spec.quantize.freeze_bn_after == QAT_FREEZE_BN_START) {
        int estimated = 0;
        if ((rc = qat_calib_estimate_bn(m, &train, cfg->model.quantize.calibrate, ts->seed, &estimated)))
          goto cleanup;
        if (estimated && o->progress) {
          char note[200];
          snprintf(note, sizeof note,
                   "batch norm: the %d BatchNormalization layers had their initial statistics (an untrained "
                   "network); estimated from %lld batches before freezing them",
                   estimated, (long long)cfg->model.quantize.calibrate);
          qat_progress pn = {.kind = QAT_PROGRESS_DATA, .message = note};
          if (qat_dist_max_int(d, o->progress(&pn, o->user))) goto interrupted;
        }
      }
      /* observers start from data: calibrated when fake quant switches on */
      if (global_step == cfg->model.quantize.delay &&
          (rc = qat_calib_seed_observers(m, &train, cfg->model.quantize.calibrate, ts->seed)))
        goto cleanup;
      /* every rank loaded the whole global batch; it trains on its share */
      int lo = share(n, d->rank, ranks), hi = share(n, d->rank + 1, ranks);
      coll.batch_offset = lo;
      coll.global_batch = n;
      double t0 = now();
      if (ts->profile && !prof && !(prof = calloc(2 * (size_t)m->graph.n_nodes, sizeof *prof))) {
        rc = qat_fail(QAT_ERR_NOMEM, "out of memory for the profile");
        goto cleanup;
      }
      /* one process sums over the batch as 2 ranks do (qat_exec.halves): the same model bit for bit */
      qat_exec ex = {.coll = collp, .training = 1, .seed = ts->seed, .step = (uint64_t)global_step, .profile = prof,
                     .halves = ranks == 1};
      qat_model_schedule(m, global_step, &ex);
      float loss_share;
      double c;
      if (m->n_heads > 1) qat_model_set_row_targets(m, by.t + (size_t)lo * (size_t)by.per, hi - lo);
      else if (m->targets) qat_model_set_targets(m, by.t + (size_t)lo * (size_t)by.per, hi - lo);
      qat_model_step(m, x + (size_t)lo * per,
                     m->n_heads > 1 ? NULL : m->targets ? by.y : by.y + (size_t)lo * (size_t)m->positions, hi - lo,
                     &ex, 1, &loss_share, &c);
      double loss = loss_share;
      if (ranks > 1) {
        double t1 = now();
        qat_grad_sync_finish(grad_sync); /* the buckets backward did not start, then the wait */
        allreduce_seconds += now() - t1;
        double stats[2] = {loss, (double)c};
        qat_dist_sum_double(d, stats, 2);
        loss = stats[0];
        c = stats[1];
      }
      frozen_zero_grads(&frozen, m);
      double norm = qat_vector_norm(m->grads, m->n_params);
      double lr = qat_schedule_lr(&ts->schedule, ts->optimizer.learning_rate, opt.step, opt.total_steps);
      if (!isfinite(loss) || !isfinite(norm)) {
        rc = qat_fail(QAT_ERR_DIVERGED,
                      "training diverged: %s=%g at epoch %d step %lld (lr=%g); last good checkpoint: %s",
                      isfinite(loss) ? "gradient norm" : "loss", isfinite(loss) ? norm : loss, epoch + 1,
                      (long long)b + 1, lr, res->checkpoint[0] ? res->checkpoint : "none");
        goto cleanup;
      }
      const double t_update = now();
      qat_optimizer_step(&opt, m->params, m->grads, norm);
      if (prof) {
        prof_update += now() - t_update;
        prof_steps++;
      }
      frozen_restore(&frozen, m);
      double dt = now() - t0;
      epoch_step_seconds += dt;
      global_step++;
      loss_sum += loss * n;
      correct += c;
      seen += n;
      p.kind = QAT_PROGRESS_STEP;
      p.step = b + 1;
      p.global_step = global_step;
      p.epoch_seconds = now() - epoch_start;
      p.ms_per_step = epoch_step_seconds / (double)(b + 1) * 1e3;
      p.loss = loss_sum / (double)seen;
      p.accuracy = correct / (double)seen;
      p.metric = qat_model_metric_name(m);
      snprintf(res->metric, sizeof res->metric, "%s", p.metric);
      p.lr = lr;
      /* a stop asked on any rank stops every rank after this step */
      if (qat_dist_max_int(d, o->progress && o->progress(&p, o->user))) goto interrupted;
    }
    step_seconds += epoch_step_seconds;
    steps_run += steps_per_epoch;
    res->train_loss = p.loss;
    res->train_accuracy = p.accuracy;
    p.kind = QAT_PROGRESS_EPOCH_END;
    qat_exec flags = {0};
    qat_model_schedule(m, global_step, &flags);
    /* every checkpoint's logits range fits its weights (the EMA lags one step behind) */
    if (flags.fake_quant && !flags.freeze_observers) {
      float before[2], after[2];
      if ((rc = qat_calib_fit_logits(m, &train, cfg->model.quantize.calibrate, ts->seed, before, after)))
        goto cleanup;
      if ((before[0] != after[0] || before[1] != after[1]) && o->progress) {
        char note[240];
        snprintf(note, sizeof note,
                 "logits: range [%.4g, %.4g] widened to [%.4g, %.4g] to fit the epoch's final weights "
                 "(%lld batches of training data through the fake-quant model)",
                 before[0], before[1], after[0], after[1], (long long)cfg->model.quantize.calibrate);
        qat_progress pn = {.kind = QAT_PROGRESS_DATA, .message = note};
        if (qat_dist_max_int(d, o->progress(&pn, o->user))) goto interrupted;
      }
    }
    if (val.n > 0) {
      if ((rc = evaluate_dist(m, &val, ts->batch_size, flags.fake_quant, d, &p.val_loss, &p.val_accuracy)))
        goto cleanup;
      p.has_val = 1;
    }
    if (test.n > 0) {
      if ((rc = evaluate_dist(m, &test, ts->batch_size, flags.fake_quant, d, &p.test_loss, &p.test_accuracy)))
        goto cleanup;
      p.has_test = 1;
      res->has_test = 1;
      res->test_loss = p.test_loss;
      res->test_accuracy = p.test_accuracy;
      if (flags.fake_quant) {
        double unused;
        if ((rc = evaluate_dist(m, &test, ts->batch_size, 0, d, &unused, &p.float_test_accuracy))) goto cleanup;
        p.has_float = res->has_float = 1;
        res->float_test_accuracy = p.float_test_accuracy;
      }
    }
    meta.epoch = epoch + 1;
    meta.step = global_step;
    if (ranks > 1 && !qat_dist_same(d, model_digest(m, &opt))) {
      rc = qat_fail(QAT_ERR_INTERNAL, "the ranks' models differ after epoch %d (a bug in qat's data parallelism); "
                    "no checkpoint written for it", epoch + 1);
      goto cleanup;
    }
    qat_checkpoint_data cd = checkpoint_data(cfg, &info);
    snprintf(path, sizeof path, "%s/epoch_%03d.h5", o->out_dir, epoch + 1);
    if (lead) rc = qat_checkpoint_save_ex(path, m, &opt, cfg->text, &meta, &cd);
    snprintf(path, sizeof path, "%s/checkpoint.h5", o->out_dir);
    if (lead && !rc) rc = qat_checkpoint_save_ex(path, m, &opt, cfg->text, &meta, &cd);
    if ((rc = qat_dist_agree(d, rc))) goto cleanup;
    if (rank_checkpoints) {
      char own[4200];
      snprintf(own, sizeof own, "%s/rank_%03d.h5", o->out_dir, d->rank);
      if ((rc = qat_dist_agree(d, qat_checkpoint_save_ex(own, m, &opt, cfg->text, &meta, &cd)))) goto cleanup;
    }
    snprintf(res->checkpoint, sizeof res->checkpoint, "%s", path);
    p.checkpoint = res->checkpoint;
    p.epoch_seconds = now() - epoch_start;
    char row[512];
    snprintf(row, sizeof row, "%d,%lld,%.6f,%.6f,%s,%s,%s,%s,%.6g,%.3f,%.3f\n", epoch + 1, (long long)global_step,
             p.loss, p.accuracy, "", "", "", "", p.lr, p.epoch_seconds, p.ms_per_step);
    if (p.has_val || p.has_test) {
      char v[2][32] = {"", ""}, t[2][32] = {"", ""};
      if (p.has_val) {
        snprintf(v[0], sizeof v[0], "%.6f", p.val_loss);
        snprintf(v[1], sizeof v[1], "%.6f", p.val_accuracy);
      }
      if (p.has_test) {
        snprintf(t[0], sizeof t[0], "%.6f", p.test_loss);
        snprintf(t[1], sizeof t[1], "%.6f", p.test_accuracy);
      }
      snprintf(row, sizeof row, "%d,%lld,%.6f,%.6f,%s,%s,%s,%s,%.6g,%.3f,%.3f\n", epoch + 1, (long long)global_step,
               p.loss, p.accuracy, v[0], v[1], t[0], t[1], p.lr, p.epoch_seconds, p.ms_per_step);
    }
    if (lead) (void)((rc = csv_append(&log, row)) || (rc = qat_atomic_write(csv_path, log.text, log.len)));
    if ((rc = qat_dist_agree(d, rc))) goto cleanup;
    if (qat_dist_max_int(d, o->progress && o->progress(&p, o->user))) goto interrupted;
  }
  if (o->resume && (int)meta.epoch >= ts->epochs) {
    /* resumed from the last epoch: checkpoint.h5 becomes that epoch (a kill between writing
     * epoch_NNN.h5 and checkpoint.h5 left the epoch before in it) */
    qat_checkpoint_data cd = checkpoint_data(cfg, &info);
    snprintf(path, sizeof path, "%s/checkpoint.h5", o->out_dir);
    if (lead) rc = qat_checkpoint_save_ex(path, m, &opt, cfg->text, &meta, &cd);
    if ((rc = qat_dist_agree(d, rc))) goto cleanup;
    snprintf(res->checkpoint, sizeof res->checkpoint, "%s", path);
  }
  res->epochs = (int)meta.epoch;
  res->steps = global_step;
  res->ms_per_step = steps_run ? step_seconds / (double)steps_run * 1e3 : 0.0;
  res->n_params = m->n_params;
  res->ranks = ranks;
  res->allreduce_ms_per_step = steps_run ? allreduce_seconds / (double)steps_run * 1e3 : 0.0;
  if (!res->has_test && test.n > 0) {
    qat_exec flags = {0};
    qat_model_schedule(m, global_step, &flags);
    if ((rc = evaluate_dist(m, &test, ts->batch_size, flags.fake_quant, d, &res->test_loss, &res->test_accuracy)))
      goto cleanup;
    res->has_test = 1;
  }
  goto cleanup;
interrupted:
  if (res->checkpoint[0])
    rc = qat_fail(QAT_ERR_INTERRUPTED, "interrupted; the newest checkpoint is %s (epoch %lld); continue with --resume",
                  res->checkpoint, (long long)meta.epoch);
  else
    rc = qat_fail(QAT_ERR_INTERRUPTED, "interrupted before the first epoch finished; no checkpoint written");
cleanup:
  if (prof && lead && prof_steps > 0)
    qat_graph_profile_print(stderr, &m->graph, prof, prof_steps, "optimizer update", prof_update);
  free(prof);
  free(x);
  batch_y_free(&by);
  free(log.text);
  qat_batcher_free(&batcher);
  qat_optimizer_free(&opt);
  frozen_free(&frozen);
  qat_grad_sync_free(grad_sync);
  qat_model_free(m);
  qat_dataset_free(&train);
  qat_dataset_free(&val);
  qat_dataset_free(&test);
  qat_data_info_free(&info);
  return rc;
}
