/* Keras preprocessing-layer augmentation of one training sample (data.augment). Each sample's
 * transform is drawn from an RNG seeded with its key only (the batcher derives the key from
 * seed, epoch and position in the epoch), so a batch is the same whenever it is asked for and a
 * resumed run sees exactly what the uninterrupted one saw.
 *
 * The geometric layers (RandomFlip, RandomCrop, RandomTranslation, RandomRotation, RandomZoom)
 * compose into one affine map from an output pixel to an input position, sampled once
 * (bilinear or nearest, Keras's fill modes outside the image); RandomContrast and
 * RandomBrightness then work per image on the stored values, clipped to value_range; the
 * data's preprocessing (rescale, offset, mean, std) comes last. */
#include <math.h>
#include <string.h>

#include "qat/data.h"
#include "qat/error.h"
#include "qat/rng.h"

#define PI 3.14159265358979323846

static float uniform_in(qat_rng *r, const float range[2]) {
  return range[0] + (range[1] - range[0]) * qat_rng_uniform(r);
}

/* 2x3 affine maps on centred coordinates: (u, v) -> (m[0] u + m[1] v + m[2], m[3] u + m[4] v + m[5]). */
static void compose(double m[6], const double a[6]) { /* m = m o a */
  double r[6] = {m[0] * a[0] + m[1] * a[3], m[0] * a[1] + m[1] * a[4], m[0] * a[2] + m[1] * a[5] + m[2],
                 m[3] * a[0] + m[4] * a[3], m[3] * a[1] + m[4] * a[4], m[3] * a[2] + m[4] * a[5] + m[5]};
  memcpy(m, r, sizeof r);
}

/* An index outside [0, n) brought back inside by the fill mode; -1: use the fill value. */
static int64_t fill_index(int64_t i, int64_t n, qat_fill_mode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
  case QAT_FILL_REFLECT: {
    int64_t m = i % (2 * n);
    if (m < 0) m += 2 * n;
    return m >= n ? 2 * n - 1 - m : m;
  }
  case QAT_FILL_WRAP: {
    int64_t m = i % n;
    return m < 0 ? m + n : m;
  }
  case QAT_FILL_NEAREST:
    return i < 0 ? 0 : n - 1;
  case QAT_FILL_CONSTANT:
    break;
  }
  return -1;
}

static float stored(const qat_dataset *ds, const void *in, int64_t k) {
  return ds->fimages ? ((const float *)in)[k] : (float)((const uint8_t *)in)[k];
}

/* Coordinates far outside the image (a huge zoom) stay far outside after the clamp, and fit
 * int64 comfortably. */
static int64_t floor_index(double x) {
  if (x < -1e9) x = -1e9;
  if (x > 1e9) x = 1e9;
  return (int64_t)floor(x);
}

static void resample(const qat_dataset *ds, const qat_augment_spec *a, const void *in, const double m[6],
                     float *out) {
  const int h = ds->h, w = ds->w, c = ds->c;
  const double cx = (w - 1) * 0.5, cy = (h - 1) * 0.5;
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      double u = x - cx, v = y - cy;
      double xs = m[0] * u + m[1] * v + m[2] + cx, ys = m[3] * u + m[4] * v + m[5] + cy;
      float *o = out + ((int64_t)y * w + x) * c;
      if (a->interp_nearest) {
        int64_t xi = fill_index(floor_index(xs + 0.5), w, a->fill_mode);
        int64_t yi = fill_index(floor_index(ys + 0.5), h, a->fill_mode);
        for (int k = 0; k < c; k++)
          o[k] = xi < 0 || yi < 0 ? a->fill_value : stored(ds, in, (yi * w + xi) * c + k);
        continue;
      }
      int64_t x0 = floor_index(xs), y0 = floor_index(ys);
      float fx = (float)(xs - (double)x0), fy = (float)(ys - (double)y0);
      int64_t xa = fill_index(x0, w, a->fill_mode), xb = fill_index(x0 + 1, w, a->fill_mode);
      int64_t ya = fill_index(y0, h, a->fill_mode), yb = fill_index(y0 + 1, h, a->fill_mode);
      for (int k = 0; k < c; k++) {
        float p00 = ya < 0 || xa < 0 ? a->fill_value : stored(ds, in, (ya * w + xa) * c + k);
        float p01 = ya < 0 || xb < 0 ? a->fill_value : stored(ds, in, (ya * w + xb) * c + k);
        float p10 = yb < 0 || xa < 0 ? a->fill_value : stored(ds, in, (yb * w + xa) * c + k);
        float p11 = yb < 0 || xb < 0 ? a->fill_value : stored(ds, in, (yb * w + xb) * c + k);
        /* fx = 0 (an integer position) gives p00 exactly: p00 * 1 + p01 * 0. */
        float top = p00 * (1.0f - fx) + p01 * fx, bottom = p10 * (1.0f - fx) + p11 * fx;
        o[k] = top * (1.0f - fy) + bottom * fy;
      }
    }
  }
}

static float clip(float v, const float r[2]) { return v < r[0] ? r[0] : v > r[1] ? r[1] : v; }

int qat_augment_geometric(const qat_augment_spec *a) {
  return a->flip_horizontal || a->flip_vertical || a->crop_h || a->translate || a->rotate || a->zoom;
}

void qat_augment_sample(const qat_dataset *ds, const qat_augment_spec *a, const void *in, uint64_t key, float *out) {
  const int h = ds->h, w = ds->w, c = ds->c;
  const int64_t size = (int64_t)h * w * c;
  qat_rng rng;
  qat_rng_seed(&rng, key);
  /* The draws happen in a fixed order, one set per layer given, so a sample's transform is a
   * function of its key and the spec only. */
  double m[6] = {1, 0, 0, 0, 1, 0};
  if (a->flip_horizontal || a->flip_vertical) { /* RandomFlip */
    int fh = a->flip_horizontal ? (int)(qat_rng_next(&rng) >> 63) : 0;
    int fv = a->flip_vertical ? (int)(qat_rng_next(&rng) >> 63) : 0;
    const double f[6] = {fh ? -1 : 1, 0, 0, 0, fv ? -1 : 1, 0};
    compose(m, f);
  }
  if (a->crop_h) { /* RandomCrop: an integer window, resized back with half-pixel centres */
    int oy = (int)qat_rng_below(&rng, (uint32_t)(h - a->crop_h + 1));
    int ox = (int)qat_rng_below(&rng, (uint32_t)(w - a->crop_w + 1));
    double sx = (double)a->crop_w / w, sy = (double)a->crop_h / h;
    double cx = (w - 1) * 0.5, cy = (h - 1) * 0.5;
    const double f[6] = {sx, 0, ox + (cx + 0.5) * sx - 0.5 - cx, 0, sy, oy + (cy + 0.5) * sy - 0.5 - cy};
    compose(m, f);
  }
  if (a->translate) { /* RandomTranslation: the content moves by (dx, dy) pixels */
    double dy = (double)uniform_in(&rng, a->translate_h) * h;
    double dx = (double)uniform_in(&rng, a->translate_w) * w;
    const double f[6] = {1, 0, -dx, 0, 1, -dy};
    compose(m, f);
  }
  if (a->rotate) { /* RandomRotation: counter-clockwise on screen for a positive angle */
    double t = (double)uniform_in(&rng, a->rotation) * 2.0 * PI, ct = cos(t), st = sin(t);
    const double f[6] = {ct, -st, 0, st, ct, 0};
    compose(m, f);
  }
  if (a->zoom) { /* RandomZoom: 1 + u, positive zooms out */
    double zh = 1.0 + (double)uniform_in(&rng, a->zoom_h);
    double zw = a->zoom_w_given ? 1.0 + (double)uniform_in(&rng, a->zoom_w) : zh;
    const double f[6] = {zw, 0, 0, 0, zh, 0};
    compose(m, f);
  }
  if (qat_augment_geometric(a)) {
    resample(ds, a, in, m, out);
  } else {
    for (int64_t k = 0; k < size; k++) out[k] = stored(ds, in, k);
  }
  if (a->contrast) { /* RandomContrast: (x - mean) * f + mean per channel, mean over the image */
    float f = 1.0f + uniform_in(&rng, (const float[2]){-a->contrast_f[0], a->contrast_f[1]});
    for (int k = 0; k < c; k++) {
      double s = 0;
      for (int64_t p = k; p < size; p += c) s += out[p];
      float mean = (float)(s / ((double)h * w));
      for (int64_t p = k; p < size; p += c) out[p] = clip((out[p] - mean) * f + mean, a->contrast_range);
    }
  }
  if (a->brightness) { /* RandomBrightness: one delta per image, a fraction of the value range */
    float d = uniform_in(&rng, a->brightness_f) * (a->brightness_range[1] - a->brightness_range[0]);
    for (int64_t k = 0; k < size; k++) out[k] = clip(out[k] + d, a->brightness_range);
  }
  qat_preproc_floats(ds, out, size);
}

int qat_augment_check(const qat_augment_spec *a, const qat_dataset *ds) {
  if (!a->enabled) return QAT_OK;
  if (a->crop_h && (a->crop_h > ds->h || a->crop_w > ds->w))
    return qat_fail(QAT_ERR_USAGE, "data.augment: RandomCrop %dx%d is larger than the %dx%d samples", a->crop_h,
                    a->crop_w, ds->h, ds->w);
  return QAT_OK;
}
