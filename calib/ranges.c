/* Range choosers of qat/calib.h over activation histograms. */
#include <math.h>

#include "qat/calib.h"
#include "qat/error.h"
#include "qat/quant.h"

static int check_hist(const int64_t *counts, int bins, float lo, float hi, int64_t *total) {
  if (!counts || bins < 1) return qat_fail(QAT_ERR_USAGE, "calibration histogram with %d bins", bins);
  if (!isfinite(lo) || !isfinite(hi) || lo > hi)
    return qat_fail(QAT_ERR_USAGE, "calibration histogram range [%g, %g] is not a finite interval", (double)lo,
                    (double)hi);
  int64_t t = 0;
  for (int b = 0; b < bins; b++) {
    if (counts[b] < 0) return qat_fail(QAT_ERR_USAGE, "calibration histogram bin %d has a negative count", b);
    t += counts[b];
  }
  *total = t;
  return QAT_OK;
}

static void widen(float lo, float hi, float *min, float *max) {
  *min = lo < 0.0f ? lo : 0.0f;
  *max = hi > 0.0f ? hi : 0.0f;
}

/* Edge e of the histogram (0..bins), in double so that edge bins equals hi exactly. */
static float edge(float lo, float hi, int bins, int e) {
  if (e >= bins) return hi;
  return (float)((double)lo + ((double)hi - (double)lo) * e / bins);
}

int qat_calib_percentile_range(const int64_t *counts, int bins, float lo, float hi, double percentile, float *min,
                               float *max) {
  int64_t total;
  int rc = check_hist(counts, bins, lo, hi, &total);
  if (rc) return rc;
  if (!(percentile > 50.0 && percentile <= 100.0))
    return qat_fail(QAT_ERR_USAGE, "percentile %g is outside (50, 100]", percentile);
  if (total == 0) {
    widen(lo, hi, min, max);
    return QAT_OK;
  }
  /* At most this many values may fall outside each end. */
  const double tail = (100.0 - percentile) / 100.0 * (double)total;
  int first = 0, last = bins - 1;
  int64_t cum = 0;
  for (int b = 0; b < bins; b++) {
    cum += counts[b];
    if ((double)cum > tail) {
      first = b;
      break;
    }
  }
  cum = 0;
  for (int b = bins - 1; b >= 0; b--) {
    cum += counts[b];
    if ((double)cum > tail) {
      last = b;
      break;
    }
  }
  widen(edge(lo, hi, bins, first), edge(lo, hi, bins, last + 1), min, max);
  return QAT_OK;
}

int qat_calib_mse_range(const int64_t *counts, int bins, float lo, float hi, int steps, int qmin, int qmax, float *min,
                        float *max) {
  int64_t total;
  int rc = check_hist(counts, bins, lo, hi, &total);
  if (rc) return rc;
  if (steps < 1) return qat_fail(QAT_ERR_USAGE, "MSE calibration with %d steps", steps);
  if (qmin >= qmax) return qat_fail(QAT_ERR_USAGE, "MSE calibration grid [%d, %d] is empty", qmin, qmax);
  float wlo, whi;
  widen(lo, hi, &wlo, &whi);
  if (total == 0 || wlo == whi) {
    *min = wlo;
    *max = whi;
    return QAT_OK;
  }
  const double width = ((double)hi - (double)lo) / bins;
  double best = INFINITY;
  int best_k = steps;
  for (int k = 1; k <= steps; k++) {
    const float cmin = (float)((double)wlo * k / steps), cmax = (float)((double)whi * k / steps);
    float scale;
    int32_t zp;
    if (qat_quant_params_from_range(cmin, cmax, qmin, qmax, &scale, &zp)) continue;
    double err = 0;
    for (int b = 0; b < bins && err < best; b++) {
      if (!counts[b]) continue;
      const float x = (float)((double)lo + width * (b + 0.5));
      const float y = qat_dequantize_value(qat_quantize_value(x, scale, zp, qmin, qmax), scale, zp);
      const double d = (double)x - (double)y;
      err += (double)counts[b] * d * d;
    }
    if (err < best) {
      best = err;
      best_k = k;
    }
  }
  *min = (float)((double)wlo * best_k / steps);
  *max = (float)((double)whi * best_k / steps);
  return QAT_OK;
}
