/* Post-training calibration (qat/calib.h): the float model is run over the representative set
 * with fake quant off and inference-mode batch norm, and every observed activation quantizer
 * (the same nodes quantization-aware training observes: layer outputs after their fused
 * activation, and the model input) gets its range from what it saw. min/max takes one pass;
 * percentile and MSE take a second pass that fills a histogram over the min/max range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "qat/calib.h"
#include "qat/error.h"
#include "qat/file.h"
#include "qat/keras.h"
#include "qat/quant.h"
#include "qat/train.h"

int qat_calib_load_model(const char *ckpt, int max_batch, qat_config *cfg, qat_model **m, int *was_qat) {
  char *text = NULL;
  *m = NULL;
  memset(cfg, 0, sizeof *cfg);
  int rc = qat_checkpoint_read_config(ckpt, &text);
  if (rc) return rc;
  char source[4200];
  snprintf(source, sizeof source, "%s:/config", ckpt);
  rc = qat_config_parse(text, strlen(text), source, cfg);
  free(text);
  if (rc) return rc;
  if ((rc = qat_keras_resolve_config(cfg))) {
    qat_config_free(cfg);
    return rc;
  }
  qat_quantize_spec *q = &cfg->model.quantize;
  *was_qat = q->enabled;
  if (q->enabled && q->activations_lsq) {
    qat_config_free(cfg);
    return qat_fail(QAT_ERR_USAGE,
                    "%s: its activations learn their step size (LSQ); calibration sets observed ranges, and "
                    "this checkpoint has none to set (export it with --mode int8 without --calibrate)",
                    ckpt);
  }
  if (!q->enabled) {
    /* As if the config said `quantize: {mode: qat}` with the converter's observer. */
    memset(q, 0, sizeof *q);
    q->enabled = 1;
    q->observer = QAT_OBSERVER_MINMAX;
    q->decay = QAT_OBSERVER_DEFAULT_DECAY;
  }
  if ((rc = qat_model_create(m, &cfg->model, max_batch, cfg->train.seed))) goto fail;
  /* A float checkpoint has no /quant group: the loader leaves the observers empty. */
  if ((rc = qat_checkpoint_load(ckpt, *m, NULL, NULL))) goto fail;
  if (!*was_qat) qat_model_absorb_folded_bias(*m);
  return QAT_OK;
fail:
  qat_model_free(*m);
  *m = NULL;
  qat_config_free(cfg);
  return rc;
}

/* IDX (plain magic 0x00000803, or gzip) or else a CIFAR-10 binary batch. */
static int load_file(const char *file, qat_dataset *ds) {
  int fd;
  uint64_t size;
  int rc = qat_file_open_regular(file, "calibration data", 0, &fd, &size);
  if (rc) return rc;
  unsigned char magic[4] = {0};
  ssize_t got = pread(fd, magic, 4, 0);
  close(fd);
  int idx = (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) ||
            (got == 4 && magic[0] == 0 && magic[1] == 0 && magic[2] == 0x08 && magic[3] == 0x03);
  if (idx) return qat_idx_load_images(file, ds);
  const char *paths[1] = {file};
  rc = qat_cifar10_load(paths, 1, ds);
  if (rc) qat_fail_prefix(rc, "calibration data is neither IDX images nor a CIFAR-10 batch: ");
  return rc;
}

int qat_calib_load_samples(const qat_config *cfg, const char *file, int64_t count, uint64_t seed, int h, int w, int c,
                           qat_dataset *out) {
  memset(out, 0, sizeof *out);
  if (count < 1) return qat_fail(QAT_ERR_USAGE, "calibration needs at least 1 sample (got %lld)", (long long)count);
  qat_dataset all;
  int rc = file ? load_file(file, &all) : qat_data_load(&cfg->data, &all, NULL, NULL);
  if (rc) return rc;
  const char *what = file ? file : "the config's training data";
  if (all.n == 0) {
    rc = qat_fail(QAT_ERR_USAGE, "%s: no samples to calibrate with", what);
  } else if (all.h != h || all.w != w || all.c != c) {
    rc = qat_fail(QAT_ERR_USAGE, "%s: images are %dx%dx%d, the model takes %dx%dx%d", what, all.h, all.w, all.c, h,
                  w, c);
  } else {
    rc = qat_dataset_sample(&all, count, seed, out);
  }
  qat_dataset_free(&all);
  return rc;
}

/* The graph node of each observed activation quantizer. */
typedef struct calib_site {
  qat_fq *fq;
  const qat_tensor *out; /* what the quantizer sees: its input after the fused activation */
  float lo, hi;
  int64_t *hist;
} calib_site;

static int find_sites(qat_model *m, calib_site **sites, int *n) {
  *sites = calloc((size_t)(m->graph.n_nodes ? m->graph.n_nodes : 1), sizeof **sites);
  if (!*sites) return qat_fail(QAT_ERR_NOMEM, "out of memory calibrating");
  *n = 0;
  for (int k = 0; k < m->graph.n_nodes; k++) {
    qat_node *nd = &m->graph.nodes[k];
    if (nd->op != QAT_OP_FAKE_QUANT) continue;
    qat_fq *fq = nd->attrs.fq;
    if (!fq || fq->role != QAT_FQ_ACTIVATION || fq->learned || fq->fixed) continue;
    (*sites)[(*n)++] = (calib_site){.fq = fq, .out = nd->output};
  }
  return QAT_OK;
}

/* Runs batch `start` .. start + count of ds through the float model. */
static int forward(qat_model *m, qat_batcher *b, int64_t batch, float *x, int32_t *y, int *n) {
  int got = qat_batcher_get(b, batch, x, y);
  if (got < 0) return got;
  qat_exec ex = {0}; /* inference mode, fake quant off: the float model */
  qat_model_forward(m, x, got, &ex);
  *n = got;
  return QAT_OK;
}

int qat_calibrate(qat_model *m, const qat_dataset *ds, const qat_calib_options *opt) {
  if (!m->spec.quantize.enabled)
    return qat_fail(QAT_ERR_USAGE, "calibration needs a model with quantization on (qat_calib_load_model)");
  int qmin = opt->qmin, qmax = opt->qmax;
  if (qmin == 0 && qmax == 0) qmin = -128, qmax = 127;
  int bs = opt->batch_size > 0 && opt->batch_size < m->max_batch ? opt->batch_size : m->max_batch;
  if (opt->method == QAT_CALIB_PERCENTILE && !(opt->percentile > 50.0 && opt->percentile <= 100.0))
    return qat_fail(QAT_ERR_USAGE, "percentile %g is outside (50, 100]", opt->percentile);
  if (opt->method != QAT_CALIB_MINMAX && opt->method != QAT_CALIB_PERCENTILE && opt->method != QAT_CALIB_MSE)
    return qat_fail(QAT_ERR_USAGE, "unknown calibration method %d", (int)opt->method);
  if (ds->n < 1) return qat_fail(QAT_ERR_USAGE, "calibration needs at least one sample");
  const int64_t px = (int64_t)ds->h * ds->w * ds->c;
  calib_site *sites = NULL;
  int n_sites = 0;
  qat_batcher b;
  memset(&b, 0, sizeof b);
  float *x = malloc((size_t)(bs * px) * sizeof *x);
  int32_t *y = malloc((size_t)bs * sizeof *y);
  int rc = !x || !y ? qat_fail(QAT_ERR_NOMEM, "out of memory calibrating") : QAT_OK;
  if (!rc) rc = find_sites(m, &sites, &n_sites);
  if (!rc) rc = qat_batcher_init(&b, ds, bs, 0, 0, 0);
  if (rc) goto done;
  if (n_sites == 0) {
    rc = qat_fail(QAT_ERR_USAGE, "the model has no observed activation quantizers to calibrate");
    goto done;
  }
  for (int s = 0; s < n_sites; s++) {
    /* min/max over every sample, no moving average: the converter's calibration */
    if ((rc = qat_observer_init(&sites[s].fq->observer, QAT_OBSERVER_MINMAX, 0.0f))) goto done;
  }
  const int64_t nb = qat_batcher_num_batches(&b);
  for (int64_t k = 0; k < nb; k++) {
    int n;
    if ((rc = forward(m, &b, k, x, y, &n))) goto done;
    for (int s = 0; s < n_sites; s++) {
      const int64_t per = qat_tensor_size(sites[s].out) / sites[s].out->dims[0];
      if ((rc = qat_observer_update(&sites[s].fq->observer, sites[s].out->data, per * n))) {
        qat_fail_prefix(rc, "calibrating '%s': ", sites[s].fq->name);
        goto done;
      }
    }
  }
  if (opt->method != QAT_CALIB_MINMAX) {
    for (int s = 0; s < n_sites; s++) {
      sites[s].lo = sites[s].fq->observer.min;
      sites[s].hi = sites[s].fq->observer.max;
      sites[s].hist = calloc(QAT_CALIB_BINS, sizeof(int64_t));
      if (!sites[s].hist) {
        rc = qat_fail(QAT_ERR_NOMEM, "out of memory calibrating");
        goto done;
      }
    }
    for (int64_t k = 0; k < nb; k++) {
      int n;
      if ((rc = forward(m, &b, k, x, y, &n))) goto done;
      for (int s = 0; s < n_sites; s++) {
        calib_site *st = &sites[s];
        const int64_t cnt = qat_tensor_size(st->out) / st->out->dims[0] * n;
        const double span = (double)st->hi - (double)st->lo;
        for (int64_t i = 0; i < cnt; i++) {
          int bin = span > 0 ? (int)(((double)st->out->data[i] - st->lo) / span * QAT_CALIB_BINS) : 0;
          if (bin < 0) bin = 0;
          if (bin >= QAT_CALIB_BINS) bin = QAT_CALIB_BINS - 1;
          st->hist[bin]++;
        }
      }
    }
    for (int s = 0; s < n_sites; s++) {
      calib_site *st = &sites[s];
      float lo, hi;
      rc = opt->method == QAT_CALIB_PERCENTILE
               ? qat_calib_percentile_range(st->hist, QAT_CALIB_BINS, st->lo, st->hi, opt->percentile, &lo, &hi)
               : qat_calib_mse_range(st->hist, QAT_CALIB_BINS, st->lo, st->hi, QAT_CALIB_MSE_STEPS, qmin, qmax, &lo,
                                     &hi);
      if (rc) goto done;
      st->fq->observer.min = lo;
      st->fq->observer.max = hi;
    }
  }
  for (int s = 0; s < n_sites; s++) sites[s].fq->valid = 0; /* recomputed from the observer */
done:
  for (int s = 0; s < n_sites; s++) free(sites[s].hist);
  free(sites);
  free(x);
  free(y);
  qat_batcher_free(&b);
  return rc;
}
