/* Seeded batches. Nothing in a batch depends on which batches were produced before it, so a
 * run resumed at batch k of epoch e sees exactly what the uninterrupted run saw. */
#include <stdlib.h>
#include <string.h>

#include "qat/data.h"
#include "qat/error.h"
#include "qat/rng.h"

/* Separate streams for the epoch's order and for the samples' augmentation, so that turning
 * augmentation on does not change the order (and the other way round). */
#define STREAM_SHUFFLE 0x53687566666c65ULL /* "Shuffle" */
#define STREAM_AUGMENT 0x4175676d656e74ULL /* "Augment" */

static uint64_t epoch_key(uint64_t seed, int epoch, uint64_t stream) {
  return qat_hash64(qat_hash64(seed ^ stream) ^ (uint64_t)(uint32_t)epoch);
}

int qat_batcher_init(qat_batcher *b, const qat_dataset *ds, int batch_size, int shuffle,
                     int random_crop, int horizontal_flip) {
  memset(b, 0, sizeof *b);
  if (batch_size < 1) return qat_fail(QAT_ERR_USAGE, "batch size %d, must be >= 1", batch_size);
  int side = ds->h < ds->w ? ds->h : ds->w;
  if (random_crop < 0 || random_crop > side)
    return qat_fail(QAT_ERR_USAGE, "random_crop %d outside [0, %d] for %dx%d images",
                    random_crop, side, ds->h, ds->w);
  /* qat_rng_below draws 32-bit indices; the readers' 2 GiB cap keeps n below that anyway. */
  if (ds->n > (int64_t)UINT32_MAX)
    return qat_fail(QAT_ERR_USAGE, "%lld samples, more than the batcher handles",
                    (long long)ds->n);
  b->ds = ds;
  b->batch_size = batch_size;
  b->shuffle = shuffle != 0;
  b->random_crop = random_crop;
  b->horizontal_flip = horizontal_flip != 0;
  if (b->shuffle && ds->n > 0) {
    b->order = malloc((size_t)ds->n * sizeof *b->order);
    if (!b->order)
      return qat_fail(QAT_ERR_NOMEM, "out of memory for the order of %lld samples",
                      (long long)ds->n);
  }
  qat_batcher_set_epoch(b, 0, 0);
  return QAT_OK;
}

int qat_batcher_set_augment(qat_batcher *b, const qat_augment_spec *a) {
  if (!a->enabled) {
    memset(&b->augment, 0, sizeof b->augment);
    return QAT_OK;
  }
  if (b->random_crop || b->horizontal_flip)
    return qat_fail(QAT_ERR_USAGE, "data.augment cannot be combined with random_crop or horizontal_flip "
                    "(RandomTranslation and RandomFlip do their work)");
  int rc = qat_augment_check(a, b->ds);
  if (rc) return rc;
  b->augment = *a;
  return QAT_OK;
}

void qat_batcher_set_epoch(qat_batcher *b, uint64_t seed, int epoch) {
  b->seed = seed;
  b->epoch = epoch;
  if (!b->order) return;
  int64_t n = b->ds->n;
  /* Start from the identity every time: the order must not depend on the previous epoch. */
  for (int64_t i = 0; i < n; i++) b->order[i] = i;
  qat_rng rng;
  qat_rng_seed(&rng, epoch_key(seed, epoch, STREAM_SHUFFLE));
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = qat_rng_below(&rng, (uint32_t)(i + 1));
    int64_t t = b->order[i];
    b->order[i] = b->order[j];
    b->order[j] = t;
  }
}

int64_t qat_batcher_num_batches(const qat_batcher *b) {
  return (b->ds->n + b->batch_size - 1) / b->batch_size;
}

int qat_preproc_from_spec(const qat_data_spec *spec, int c, int is_float, qat_preproc *out) {
  memset(out, 0, sizeof *out);
  (void)is_float;
  if (!spec->has_rescale && !spec->n_mean && !spec->n_std) return QAT_OK;
  out->custom = 1;
  out->rescale = spec->has_rescale ? spec->rescale : 1.0f;
  out->offset = spec->has_rescale ? spec->offset : 0.0f;
  if (spec->n_mean || spec->n_std) {
    if (c < 1 || c > QAT_MAX_CHANNELS)
      return qat_fail(QAT_ERR_USAGE, "data.mean/std: the samples have %d channels (at most %d take a mean and std)",
                      c, QAT_MAX_CHANNELS);
    int nm = spec->n_mean ? spec->n_mean : 1, ns = spec->n_std ? spec->n_std : 1;
    if ((nm != 1 && nm != c) || (ns != 1 && ns != c))
      return qat_fail(QAT_ERR_USAGE, "data.mean has %d and data.std %d entries; the samples have %d channels "
                      "(give 1 or %d)", nm, ns, c, c);
    out->n_norm = c;
    for (int k = 0; k < c; k++) {
      out->mean[k] = spec->n_mean ? spec->mean[nm == 1 ? 0 : k] : 0.0f;
      out->std[k] = spec->n_std ? spec->std[ns == 1 ? 0 : k] : 1.0f;
    }
  }
  return QAT_OK;
}

/* The one conversion from stored values to model floats: training, evaluation, calibration,
 * the runtime's evaluation and prediction all go through it. */
void qat_preproc_apply(const qat_dataset *ds, const void *src, int64_t count, float *out) {
  const qat_preproc *p = &ds->pre;
  if (!ds->fimages) {
    const uint8_t *in = src;
    if (!p->custom) { /* what qat has always computed; golden checkpoints depend on it */
      for (int64_t k = 0; k < count; k++) out[k] = (float)in[k] / 255.0f;
      return;
    }
    for (int64_t k = 0; k < count; k++) out[k] = (float)in[k] * p->rescale + p->offset;
  } else {
    const float *in = src;
    if (!p->custom) {
      memcpy(out, in, (size_t)count * sizeof *out);
      return;
    }
    for (int64_t k = 0; k < count; k++) out[k] = in[k] * p->rescale + p->offset;
  }
  if (p->n_norm) {
    int c = p->n_norm;
    for (int64_t k = 0; k < count; k++) out[k] = (out[k] - p->mean[k % c]) / p->std[k % c];
  }
}

void qat_preproc_floats(const qat_dataset *ds, float *v, int64_t count) {
  const qat_preproc *p = &ds->pre;
  if (!p->custom) {
    if (!ds->fimages)
      for (int64_t k = 0; k < count; k++) v[k] = v[k] / 255.0f;
    return;
  }
  for (int64_t k = 0; k < count; k++) v[k] = v[k] * p->rescale + p->offset;
  if (p->n_norm) {
    int c = p->n_norm;
    for (int64_t k = 0; k < count; k++) v[k] = (v[k] - p->mean[k % c]) / p->std[k % c];
  }
}

static int64_t elem_size(const qat_dataset *ds) { return ds->fimages ? (int64_t)sizeof(float) : 1; }
static const uint8_t *sample_ptr(const qat_dataset *ds, int64_t i) {
  int64_t size = (int64_t)ds->h * ds->w * ds->c;
  return ds->fimages ? (const uint8_t *)(ds->fimages + i * size) : ds->images + i * size;
}

void qat_dataset_get_floats(const qat_dataset *ds, int64_t index, float *out) {
  qat_preproc_apply(ds, sample_ptr(ds, index), (int64_t)ds->h * ds->w * ds->c, out);
}

/* Padding is the preprocessed value of a stored 0, as Keras pads raw images before rescaling. */
static void fill_zero(const qat_dataset *ds, int64_t count, float *out) {
  static const float zf[QAT_MAX_CHANNELS] = {0};
  static const uint8_t zb[QAT_MAX_CHANNELS] = {0};
  if (!ds->pre.custom) {
    memset(out, 0, (size_t)count * sizeof *out);
    return;
  }
  for (int64_t k = 0; k < count; k += ds->c) qat_preproc_apply(ds, ds->fimages ? (const void *)zf : zb, ds->c, out + k);
}

/* Pad by p zeros, crop h x w at (p + dy, p + dx), then mirror if flip: out(y, x) is
 * in(y + dy, x' + dx) with x' = flip ? w - 1 - x : x, or 0 where that falls outside. The
 * in-range part of a row is one contiguous span, worked out once per row rather than tested
 * per pixel. */
static void augment(const qat_dataset *ds, const uint8_t *in, int dy, int dx, int flip, float *out) {
  const int h = ds->h, w = ds->w, c = ds->c;
  const int64_t es = elem_size(ds);
  /* Output columns whose source column lies in [0, w). */
  int x0 = flip ? (dx > 0 ? dx : 0) : (dx < 0 ? -dx : 0);
  int x1 = flip ? (dx < 0 ? w + dx : w) : (dx > 0 ? w - dx : w);
  if (x1 < x0) x1 = x0;
  for (int y = 0; y < h; y++) {
    int sy = y + dy;
    float *row = out + (int64_t)y * w * c;
    if (sy < 0 || sy >= h || x0 == x1) {
      fill_zero(ds, (int64_t)w * c, row);
      continue;
    }
    fill_zero(ds, (int64_t)x0 * c, row);
    fill_zero(ds, (int64_t)(w - x1) * c, row + (int64_t)x1 * c);
    const uint8_t *src = in + (int64_t)sy * w * c * es;
    if (!flip) {
      qat_preproc_apply(ds, src + (int64_t)(x0 + dx) * c * es, (int64_t)(x1 - x0) * c, row + (int64_t)x0 * c);
      continue;
    }
    for (int x = x0; x < x1; x++)
      qat_preproc_apply(ds, src + (int64_t)(w - 1 - x + dx) * c * es, c, row + (int64_t)x * c);
  }
}

int qat_batcher_get(const qat_batcher *b, int64_t batch_index, float *x, int32_t *y) {
  int64_t batches = qat_batcher_num_batches(b);
  if (batch_index < 0 || batch_index >= batches)
    return qat_fail(QAT_ERR_USAGE, "batch %lld outside [0, %lld)", (long long)batch_index,
                    (long long)batches);
  const qat_dataset *ds = b->ds;
  int64_t start = batch_index * b->batch_size;
  int count = ds->n - start < b->batch_size ? (int)(ds->n - start) : b->batch_size;
  int64_t size = (int64_t)ds->h * ds->w * ds->c;
  int augmenting = b->random_crop > 0 || b->horizontal_flip;
  uint64_t key = augmenting || b->augment.enabled ? epoch_key(b->seed, b->epoch, STREAM_AUGMENT) : 0;
  if (b->augment.enabled) {
    /* Each sample is a function of (seed, epoch, position) alone, so the threads cannot change
     * the batch; big samples are worth spreading over them. */
#pragma omp parallel for schedule(static) if (size * count >= 65536)
    for (int j = 0; j < count; j++) {
      int64_t pos = start + j;
      int64_t sample = b->order ? b->order[pos] : pos;
      y[j] = ds->labels[sample];
      qat_augment_sample(ds, &b->augment, sample_ptr(ds, sample), qat_hash64(key ^ qat_hash64((uint64_t)pos)),
                         x + j * size);
    }
    return count;
  }
  for (int j = 0; j < count; j++) {
    int64_t pos = start + j;
    int64_t sample = b->order ? b->order[pos] : pos;
    const uint8_t *img = sample_ptr(ds, sample);
    float *out = x + j * size;
    y[j] = ds->labels[sample];
    if (!augmenting) {
      qat_preproc_apply(ds, img, size, out);
      continue;
    }
    /* Keyed by the position in the epoch, not by the sample or by a running stream, so the
     * batch is the same whenever and in whatever order it is asked for. */
    qat_rng rng;
    qat_rng_seed(&rng, qat_hash64(key ^ qat_hash64((uint64_t)pos)));
    int dy = 0, dx = 0, flip = 0;
    if (b->random_crop) {
      uint32_t span = 2 * (uint32_t)b->random_crop + 1;
      dy = (int)qat_rng_below(&rng, span) - b->random_crop;
      dx = (int)qat_rng_below(&rng, span) - b->random_crop;
    }
    if (b->horizontal_flip) flip = (int)(qat_rng_next(&rng) >> 63);
    augment(ds, img, dy, dx, flip, out);
  }
  return count;
}

void qat_batcher_free(qat_batcher *b) {
  free(b->order);
  memset(b, 0, sizeof *b);
}

void qat_batcher_get_targets(const qat_batcher *b, int64_t batch_index, float *t) {
  const qat_dataset *ds = b->ds;
  QAT_ASSERT(ds->targets && batch_index >= 0 && batch_index < qat_batcher_num_batches(b));
  const int64_t start = batch_index * b->batch_size;
  const int count = ds->n - start < b->batch_size ? (int)(ds->n - start) : b->batch_size;
  for (int j = 0; j < count; j++) {
    const int64_t sample = b->order ? b->order[start + j] : start + j;
    memcpy(t + (int64_t)j * ds->target_len, ds->targets + sample * ds->target_len,
           (size_t)ds->target_len * sizeof *t);
  }
}
