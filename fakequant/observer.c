/* Range observers.
 *
 * Matched against (read, not copied): tensorflow/model-optimization
 * tensorflow_model_optimization/python/core/quantization/keras/quant_ops.py
 *   MovingAvgQuantize: range_min = min(batch_min, 0), range_max = max(batch_max, 0), then
 *   moving_averages.assign_moving_average(var, range, decay, zero_debias=False), which
 *   computes var -= (var - range) * (1 - decay) in float32.
 *   LastValueQuantize: var = the widened batch range.
 * Differences, on purpose: the EMA starts from the first batch (tfmot starts from -6 / 6),
 * and non-finite batches are errors rather than poisoning the range. */
#include "qat/error.h"
#include "qat/quant.h"

#include <math.h>

int qat_tensor_min_max(const float *x, int64_t n, float *min, float *max) {
  if (n < 0) return qat_fail(QAT_ERR_USAGE, "negative element count %lld", (long long)n);
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    if (!isfinite(v))
      return qat_fail(QAT_ERR_DIVERGED, "non-finite value %g at index %lld", (double)v,
                      (long long)i);
    if (i == 0 || v < lo) lo = v;
    if (i == 0 || v > hi) hi = v;
  }
  *min = lo;
  *max = hi;
  return QAT_OK;
}

int qat_observer_init(qat_observer *obs, qat_observer_kind kind, float decay) {
  if (kind != QAT_OBSERVER_EMA && kind != QAT_OBSERVER_MINMAX && kind != QAT_OBSERVER_LAST)
    return qat_fail(QAT_ERR_USAGE, "unknown observer kind %d", (int)kind);
  if (kind == QAT_OBSERVER_EMA && !(decay >= 0.0f && decay < 1.0f))
    return qat_fail(QAT_ERR_USAGE, "EMA decay %g is outside [0, 1)", (double)decay);
  obs->kind = kind;
  obs->decay = kind == QAT_OBSERVER_EMA ? decay : 0.0f;
  obs->initialized = 0;
  obs->warmup = 0;
  obs->updates = 0;
  obs->min = 0.0f;
  obs->max = 0.0f;
  return QAT_OK;
}

float qat_observer_decay(const qat_observer *obs) {
  if (!obs->warmup || obs->updates >= QAT_OBSERVER_WARM) return obs->decay;
  /* (1 + t) / (10 + t) rounded once: both terms are exact in double */
  const float w = (float)((double)(1 + obs->updates) / (double)(10 + obs->updates));
  return w < obs->decay ? w : obs->decay;
}

int qat_observer_update(qat_observer *obs, const float *x, int64_t n) {
  if (n == 0) return QAT_OK;
  float bmin = 0.0f, bmax = 0.0f;
  int rc = qat_tensor_min_max(x, n, &bmin, &bmax);
  if (rc) return rc;
  if (bmin > 0.0f) bmin = 0.0f; /* the range always holds 0.0 (tfmot does the same) */
  if (bmax < 0.0f) bmax = 0.0f;
  if (!obs->initialized || obs->kind == QAT_OBSERVER_LAST) {
    obs->min = bmin;
    obs->max = bmax;
    obs->initialized = 1;
    if (obs->updates < QAT_OBSERVER_WARM) obs->updates++;
    return QAT_OK;
  }
  if (obs->kind == QAT_OBSERVER_EMA) {
    /* the warm-up widens: an end the batch passes follows with the warm-up's decay, an end
     * inside it shrinks with the configured one, so the range never falls to one small batch's
     * extremes (a test set would then clip past them) */
    const float w = 1.0f - qat_observer_decay(obs), slow = 1.0f - obs->decay; /* exact (Sterbenz) in [0.5, 1) */
    obs->min = obs->min - (obs->min - bmin) * (bmin < obs->min ? w : slow);
    obs->max = obs->max - (obs->max - bmax) * (bmax > obs->max ? w : slow);
    if (obs->updates < QAT_OBSERVER_WARM) obs->updates++;
  } else {
    if (obs->updates < QAT_OBSERVER_WARM) obs->updates++;
    if (bmin < obs->min) obs->min = bmin;
    if (bmax > obs->max) obs->max = bmax;
  }
  return QAT_OK;
}

int qat_observer_params(const qat_observer *obs, int qmin, int qmax, float *scale,
                        int32_t *zero_point) {
  if (!obs->initialized)
    return qat_fail(QAT_ERR_USAGE, "observer has not seen any data");
  return qat_quant_params_from_range(obs->min, obs->max, qmin, qmax, scale, zero_point);
}
