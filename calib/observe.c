/* The calibration pass (qat_calibrate, qat/calib.h): the float model over a representative set,
 * every observed activation quantizer's range from what it saw. Its own library (qat_calib_core,
 * no checkpoint or training code), so that the training loop seeds its observers through the
 * very path `qat export --calibrate` takes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/calib.h"
#include "qat/error.h"
#include "qat/quant.h"

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
    qat_fq *fq = qat_node_fq(nd);
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
  qat_calib_pin_input(m, ds);
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

int qat_calib_byte_grid(const qat_dataset *ds, float *lo, float *hi) {
  const int c = ds->c;
  if (ds->fimages || c < 1 || c > QAT_MAX_CHANNELS) return 0;
  qat_dataset bytes_view = {.h = 1, .w = 256, .c = c, .pre = ds->pre};
  uint8_t v[256 * QAT_MAX_CHANNELS];
  float x[256 * QAT_MAX_CHANNELS];
  for (int b = 0; b < 256; b++)
    for (int ch = 0; ch < c; ch++) v[b * c + ch] = (uint8_t)b;
  qat_preproc_apply(&bytes_view, v, 256 * c, x);
  const float l = x[0], h = x[255 * c];
  if (!(isfinite(l) && isfinite(h) && l <= 0.0f && h >= 0.0f && h > l)) return 0;
  float scale;
  int32_t zp;
  if (qat_quant_params_from_range(l, h, -128, 127, &scale, &zp)) return 0; /* cannot fail on this range */
  for (int b = 0; b < 256; b++)
    for (int ch = 0; ch < c; ch++)
      /* on a step, not near a tie between two: float rounding must not decide it */
      if (qat_quantize_value(x[b * c + ch], scale, zp, -128, 127) != b - 128 ||
          fabs((double)x[b * c + ch] / scale - (b - 128 - zp)) > 0.01)
        return 0;
  *lo = l;
  *hi = h;
  return 1;
}

int qat_calib_pin_input(qat_model *m, const qat_dataset *ds) {
  qat_fq *fq = m->input_fq;
  float lo, hi;
  if (!m->spec.quantize.enabled || !fq || fq->role != QAT_FQ_ACTIVATION || fq->learned || fq->channels != 1 ||
      ds->c != m->spec.input_shape[2] || !qat_calib_byte_grid(ds, &lo, &hi))
    return 0;
  if (qat_observer_init(&fq->observer, QAT_OBSERVER_MINMAX, 0.0f)) return 0;
  fq->observer.min = lo;
  fq->observer.max = hi;
  fq->observer.initialized = 1;
  fq->observer.updates = 1;
  if (qat_observer_params(&fq->observer, fq->qmin, fq->qmax, &fq->scale[0], &fq->zero_point[0])) return 0;
  qat_quant_nudged_range(fq->scale[0], fq->zero_point[0], fq->qmin, fq->qmax, &fq->nudged_min[0],
                         &fq->nudged_max[0]);
  fq->fixed = 1;
  fq->valid = 1;
  return 1;
}

/* `batches` batches of m->max_batch samples drawn with seed from the training set: the same
 * draw for the observers' seeding, the batch-norm estimate and the logits' fit. */
static int sample_batches(const qat_model *m, const qat_dataset *train, int64_t batches, uint64_t seed,
                          qat_dataset *out) {
  memset(out, 0, sizeof *out);
  const int64_t count = batches > INT64_MAX / m->max_batch ? INT64_MAX : batches * m->max_batch;
  return qat_dataset_sample(train, count, seed, out);
}

int qat_calib_seed_observers(qat_model *m, const qat_dataset *train, int64_t batches, uint64_t seed) {
  const qat_quantize_spec *q = &m->spec.quantize;
  if (!q->enabled || q->activations_lsq || batches < 1 || train->n < 1) return QAT_OK;
  int need = 0;
  for (int i = 0; i < m->n_fq; i++) {
    const qat_fq *fq = m->fq[i];
    need |= fq->role == QAT_FQ_ACTIVATION && !fq->learned && !fq->fixed && !fq->observer.initialized;
  }
  if (!need) return QAT_OK; /* ranges from a checkpoint: they continue */
  qat_dataset sample;
  int rc = sample_batches(m, train, batches, seed, &sample);
  if (rc) return rc;
  qat_calib_options opt = {.method = QAT_CALIB_MINMAX, .batch_size = m->max_batch};
  rc = qat_calibrate(m, &sample, &opt);
  qat_dataset_free(&sample);
  if (rc) return qat_fail_prefix(rc, "seeding the activation ranges (quantize.calibrate): ");
  /* the training observer (EMA by default) continues from the calibrated range, its warm-up
   * counting the calibration batches as updates */
  for (int i = 0; i < m->n_fq; i++) {
    qat_fq *fq = m->fq[i];
    if (fq->role != QAT_FQ_ACTIVATION || fq->learned || fq->fixed) continue;
    fq->observer.kind = (qat_observer_kind)q->observer;
    fq->observer.decay = q->observer == QAT_OBSERVER_EMA ? q->decay : 0.0f;
    fq->observer.warmup = q->observer == QAT_OBSERVER_EMA && q->ema_warmup;
  }
  return QAT_OK;
}

int qat_calib_fit_logits(qat_model *m, const qat_dataset *train, int64_t batches, uint64_t seed, float before[2],
                         float after[2]) {
  before[0] = before[1] = after[0] = after[1] = 0.0f;
  const qat_quantize_spec *q = &m->spec.quantize;
  if (!q->enabled || batches < 1 || train->n < 1 || !m->logits) return QAT_OK;
  qat_node *site = NULL;
  for (int k = 0; k < m->graph.n_nodes && !site; k++) {
    qat_node *nd = &m->graph.nodes[k];
    qat_fq *fq = qat_node_fq(nd);
    if (nd->output == m->logits && fq && fq->role == QAT_FQ_ACTIVATION && !fq->learned && !fq->fixed &&
        fq->act == QAT_ACTIVATION_LINEAR && fq->observer.initialized && nd->n_inputs >= 1)
      site = nd;
  }
  if (!site) return QAT_OK;
  qat_fq *fq = qat_node_fq(site);
  before[0] = after[0] = fq->observer.min;
  before[1] = after[1] = fq->observer.max;
  qat_dataset sample;
  int rc = sample_batches(m, train, batches, seed, &sample);
  if (rc) return rc;
  const int bs = m->max_batch;
  const int64_t px = (int64_t)sample.h * sample.w * sample.c;
  qat_batcher b;
  memset(&b, 0, sizeof b);
  float *x = malloc((size_t)(bs * px) * sizeof *x);
  int32_t *y = malloc((size_t)bs * sizeof *y);
  rc = !x || !y ? qat_fail(QAT_ERR_NOMEM, "out of memory fitting the logits' range") : QAT_OK;
  if (!rc) rc = qat_batcher_init(&b, &sample, bs, 0, 0, 0);
  float lo = fq->observer.min, hi = fq->observer.max;
  const int64_t nb = rc ? 0 : qat_batcher_num_batches(&b);
  for (int64_t k = 0; k < nb && !rc; k++) {
    int got = qat_batcher_get(&b, k, x, y);
    if (got < 0) {
      rc = got;
      break;
    }
    qat_exec ex = {.fake_quant = 1, .freeze_observers = 1}; /* the deployed model */
    qat_model_forward(m, x, got, &ex);
    const qat_tensor *in = site->inputs[0];
    const int64_t cnt = qat_tensor_size(in) / in->dims[0] * got;
    for (int64_t i = 0; i < cnt; i++) {
      const float v = in->data[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!rc && isfinite(lo) && isfinite(hi) && (lo < fq->observer.min || hi > fq->observer.max)) {
    fq->observer.min = after[0] = lo;
    fq->observer.max = after[1] = hi;
    fq->valid = 0; /* recomputed from the observer */
  }
  free(x);
  free(y);
  qat_batcher_free(&b);
  qat_dataset_free(&sample);
  return rc;
}

/* Batch-norm statistics still at their initial values (moving variance exactly 1 in every channel
 * of every BatchNormalization): a network never trained, whose frozen BN would not normalize. */
static int bn_untrained(const qat_model *m, int *n_bn) {
  *n_bn = 0;
  for (int k = 0; k < m->graph.n_nodes; k++) {
    const qat_node *nd = &m->graph.nodes[k];
    if (nd->op != QAT_OP_BATCH_NORM) continue;
    ++*n_bn;
    const qat_tensor *var = nd->inputs[4];
    for (int64_t c = 0; c < qat_tensor_size(var); c++)
      if (var->data[c] != 1.0f) return 0;
  }
  return *n_bn > 0;
}

int qat_calib_estimate_bn(qat_model *m, const qat_dataset *train, int64_t batches, uint64_t seed, int *estimated) {
  *estimated = 0;
  int n_bn = 0;
  if (batches < 1 || train->n < 1 || !bn_untrained(m, &n_bn)) return QAT_OK;
  qat_dataset sample;
  int rc = sample_batches(m, train, batches, seed, &sample);
  if (rc) return rc;
  const int bs = m->max_batch;
  const int64_t px = (int64_t)sample.h * sample.w * sample.c;
  qat_batcher b;
  memset(&b, 0, sizeof b);
  float *x = malloc((size_t)(bs * px) * sizeof *x), *momentum = malloc((size_t)n_bn * sizeof *momentum);
  int32_t *y = malloc((size_t)bs * sizeof *y);
  if (!x || !y || !momentum) rc = qat_fail(QAT_ERR_NOMEM, "out of memory estimating batch-norm statistics");
  if (!rc) rc = qat_batcher_init(&b, &sample, bs, 0, 0, 0);
  if (rc) goto done;
  /* keep each layer's momentum; batch k then weighs 1/(k+1): the moving statistics become the
   * plain average of the batches' statistics (PyTorch's update_bn with momentum None) */
  for (int k = 0, i = 0; k < m->graph.n_nodes; k++)
    if (m->graph.nodes[k].op == QAT_OP_BATCH_NORM) momentum[i++] = m->graph.nodes[k].attrs.momentum;
  const int64_t nb = qat_batcher_num_batches(&b);
  for (int64_t j = 0; j < nb; j++) {
    int got = qat_batcher_get(&b, j, x, y);
    if (got < 0) {
      rc = got;
      break;
    }
    for (int k = 0; k < m->graph.n_nodes; k++)
      if (m->graph.nodes[k].op == QAT_OP_BATCH_NORM) m->graph.nodes[k].attrs.momentum = (float)j / (float)(j + 1);
    /* batch statistics, fake quant off: the float network normalizing itself, layer by layer */
    qat_exec ex = {.training = 1, .seed = seed, .step = (uint64_t)j};
    qat_model_forward(m, x, got, &ex);
  }
  for (int k = 0, i = 0; k < m->graph.n_nodes; k++)
    if (m->graph.nodes[k].op == QAT_OP_BATCH_NORM) m->graph.nodes[k].attrs.momentum = momentum[i++];
  if (!rc) *estimated = n_bn;
done:
  free(x);
  free(y);
  free(momentum);
  qat_batcher_free(&b);
  qat_dataset_free(&sample);
  if (rc) return qat_fail_prefix(rc, "estimating batch-norm statistics: ");
  return QAT_OK;
}
