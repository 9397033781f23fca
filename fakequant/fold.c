/* Batch-norm folding (see include/qat/export.h). Computed in double and rounded once, so the
 * folded layer matches conv-then-BN to float precision whatever the magnitudes. */
#include <math.h>
#include <stdlib.h>

#include "qat/error.h"
#include "qat/export.h"

static double fold_scale(float gamma, float var, float epsilon) {
  return (double)gamma / sqrt((double)var + (double)epsilon);
}

static double fold_shift(float bias, float beta, float mean, double scale) {
  return ((double)bias - (double)mean) * scale + (double)beta;
}

float qat_fold_bias(float bias, float gamma, float beta, float mean, float var, float epsilon) {
  return (float)fold_shift(bias, beta, mean, fold_scale(gamma, var, epsilon));
}

int qat_fold_batch_norm(const float *w, const float *bias, int64_t w_size, int channels, qat_fold_layout layout,
                        const float *gamma, const float *beta, const float *mean, const float *var, float epsilon,
                        float *w_out, float *bias_out) {
  if (channels < 1 || w_size < channels || w_size % channels)
    return qat_fail(QAT_ERR_INTERNAL, "batch-norm fold: %lld weights do not split into %d channels",
                    (long long)w_size, channels);
  if (layout != QAT_FOLD_CHANNEL_FIRST && layout != QAT_FOLD_CHANNEL_LAST)
    return qat_fail(QAT_ERR_INTERNAL, "batch-norm fold: unknown layout %d", (int)layout);
  double *scale = malloc((size_t)channels * sizeof *scale);
  double *shift = malloc((size_t)channels * sizeof *shift);
  int rc = QAT_OK;
  if (!scale || !shift) {
    rc = qat_fail(QAT_ERR_NOMEM, "batch-norm fold: out of memory");
    goto free_scale;
  }
  /* Check everything before writing anything, so that in-place use never half-folds. */
  for (int c = 0; c < channels; c++) {
    double v = (double)var[c] + (double)epsilon;
    if (!(v > 0.0) || !isfinite(v)) {
      rc = qat_fail(QAT_ERR_FORMAT, "batch-norm fold: channel %d has moving_variance %g + epsilon %g <= 0", c,
                    (double)var[c], (double)epsilon);
      goto free_scale;
    }
    scale[c] = fold_scale(gamma[c], var[c], epsilon);
    shift[c] = fold_shift(bias ? bias[c] : 0.0f, beta[c], mean[c], scale[c]);
    if (!isfinite(scale[c]) || !isfinite(shift[c]) || !isfinite((float)shift[c])) {
      rc = qat_fail(QAT_ERR_FORMAT, "batch-norm fold: channel %d gives a non-finite scale or bias", c);
      goto free_scale;
    }
  }
  int64_t per_channel = w_size / channels;
  for (int64_t i = 0; i < w_size; i++) {
    int c = layout == QAT_FOLD_CHANNEL_FIRST ? (int)(i / per_channel) : (int)(i % channels);
    if (!isfinite((float)((double)w[i] * scale[c]))) {
      rc = qat_fail(QAT_ERR_FORMAT, "batch-norm fold: channel %d gives a non-finite weight", c);
      goto free_scale;
    }
  }
  for (int64_t i = 0; i < w_size; i++) {
    int c = layout == QAT_FOLD_CHANNEL_FIRST ? (int)(i / per_channel) : (int)(i % channels);
    w_out[i] = (float)((double)w[i] * scale[c]);
  }
  for (int c = 0; c < channels; c++) bias_out[c] = (float)shift[c];
free_scale:
  free(scale);
  free(shift);
  return rc;
}
