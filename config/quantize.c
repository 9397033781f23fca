/* The quantize section:
 *   quantize:
 *     mode: qat
 *     delay: 0                      # float steps before fake quant switches on
 *     freeze_observers_after: 2000  # activation ranges stop moving (0 = never)
 *     freeze_bn_after: 1500         # batch norm switches to its moving statistics (0 = never,
 *                                   # start = from the first step; auto, the default: start when the
 *                                   # weights come from a file (model.init / model.keras), else never)
 *     calibrate: 8                  # batches of training data that seed the activation ranges
 *                                   # before fake quant switches on (0 = none)
 *     activations: {observer: ema, decay: 0.999}   # ema | minmax | lsq
 *     weights: {granularity: per_channel, observer: last_value}  # per_tensor; lsq */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "config/internal.h"
#include "qat/quant.h"

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static int int64_arg(const cfg_ctx *c, const cfg_node *n, const char *path, int64_t *out) {
  int v, rc = qat_cfg_int(c, n, path, 0, INT_MAX, &v);
  if (!rc) *out = v;
  return rc;
}

int qat_cfg_quantize(const cfg_ctx *c, const cfg_node *q, qat_quantize_spec *out) {
  static const char *const keys[] = {"mode", "delay", "freeze_observers_after", "freeze_bn_after",
                                     "activations", "weights", "calibrate"};
  static const char *const modes[] = {"qat", "none"};
  const cfg_node *v[NKEYS(keys)];
  int rc, mode;
  memset(out, 0, sizeof *out);
  out->observer = QAT_OBSERVER_EMA;
  out->decay = QAT_OBSERVER_DEFAULT_DECAY;
  out->freeze_bn_after = QAT_FREEZE_BN_AUTO;
  out->calibrate = QAT_CALIBRATE_DEFAULT_BATCHES;
  out->ema_warmup = 1;
  if (!q || qat_cfg_is_null(q)) return 0;
  if ((rc = qat_cfg_map(c, q, "quantize", keys, NKEYS(keys), v))) return rc;
  if (!v[0]) return qat_cfg_error(c, q, "quantize", "missing key 'mode' (expected qat or none)");
  if ((rc = qat_cfg_enum(c, v[0], "quantize.mode", modes, NKEYS(modes), &mode))) return rc;
  out->enabled = mode == 0;
  if (v[1] && (rc = int64_arg(c, v[1], "quantize.delay", &out->delay))) return rc;
  if (v[2] && (rc = int64_arg(c, v[2], "quantize.freeze_observers_after", &out->freeze_observers_after))) return rc;
  if (v[3] && v[3]->kind == CFG_SCALAR && (!strcmp(v[3]->str, "auto") || !strcmp(v[3]->str, "start")))
    out->freeze_bn_after = !strcmp(v[3]->str, "auto") ? QAT_FREEZE_BN_AUTO : QAT_FREEZE_BN_START;
  else if (v[3] && (rc = int64_arg(c, v[3], "quantize.freeze_bn_after", &out->freeze_bn_after)))
    return rc;
  if (v[6] && (rc = int64_arg(c, v[6], "quantize.calibrate", &out->calibrate))) return rc;
  if (v[4] && !qat_cfg_is_null(v[4])) {
    static const char *const akeys[] = {"observer", "decay", "warmup"};
    static const char *const observers[] = {"ema", "minmax", "lsq"};
    const cfg_node *a[3];
    if ((rc = qat_cfg_map(c, v[4], "quantize.activations", akeys, 3, a))) return rc;
    int kind = 0;
    if (a[0] && (rc = qat_cfg_enum(c, a[0], "quantize.activations.observer", observers, 3, &kind))) return rc;
    out->observer = kind == 1 ? QAT_OBSERVER_MINMAX : QAT_OBSERVER_EMA;
    out->activations_lsq = kind == 2;
    if (a[1]) {
      if (kind != 0) return qat_cfg_error(c, a[1], "quantize.activations.decay", "only the ema observer has a decay");
      if ((rc = qat_cfg_float(c, a[1], "quantize.activations.decay", 0, 0, 1, 1, &out->decay))) return rc;
    }
    if (a[2]) {
      if (kind != 0) return qat_cfg_error(c, a[2], "quantize.activations.warmup", "only the ema observer has a warm-up");
      if ((rc = qat_cfg_bool(c, a[2], "quantize.activations.warmup", &out->ema_warmup))) return rc;
    }
  }
  if (v[5] && !qat_cfg_is_null(v[5])) {
    static const char *const wkeys[] = {"granularity", "observer"};
    static const char *const grains[] = {"per_channel", "per_tensor"};
    static const char *const wobs[] = {"last_value", "lsq"};
    const cfg_node *w[2];
    if ((rc = qat_cfg_map(c, v[5], "quantize.weights", wkeys, 2, w))) return rc;
    if (w[0] && (rc = qat_cfg_enum(c, w[0], "quantize.weights.granularity", grains, 2, &out->weights_per_tensor)))
      return rc;
    if (w[1] && (rc = qat_cfg_enum(c, w[1], "quantize.weights.observer", wobs, 2, &out->weights_lsq))) return rc;
  }
  return 0;
}
