/* ReLU (max_value 6: ReLU6): fused into the Conv2D, DepthwiseConv2D, Dense or Add before it
 * (the int8 op's clamp, applied by that op's output fake quant); standalone only in float32
 * (RELU / RELU6). With negative_slope (and no max_value) it is a leaky ReLU: LEAKY_RELU in every
 * mode, as LeakyReLU. Another max_value m caps it (RELU_MAX): float32 writes RELU then MINIMUM
 * with m, as the converter lowers Keras's clip; an integer op fuses RELU, and its output range,
 * observed after the cap, ends at m, so the saturation caps it; only where the grid reaches past
 * m (learned scales, a Concatenate's shared range) a MINIMUM with m's integer follows, which
 * equals rounding the capped value since rounding is monotone. A threshold t (Keras's: x > t ? x
 * : 0, alone) is SELECT_V2(LESS(t, x), x, 0) in every mode, its output on its input's grid; the
 * QAT model makes the int8 comparison exactly (fakequant/op_threshold.c). */
#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"
#include "qat/fq.h"
#include "qat/quant.h"

static qat_activation applies(const qat_layer_spec *l) {
  if (l->threshold != 0.0f) return QAT_ACTIVATION_RELU_THRESHOLD;
  if (l->alpha != 0.0f) return QAT_ACTIVATION_LEAKY_RELU; /* negative_slope: LEAKY_RELU */
  if (l->type != QAT_LAYER_RELU || l->max_value == 0.0f) return QAT_ACTIVATION_RELU;
  return l->max_value == 6.0f ? QAT_ACTIVATION_RELU6 : QAT_ACTIVATION_RELU_MAX;
}

/* float32: RELU into "<name>/relu", then MINIMUM with the scalar max_value. */
static int lower_capped_float(qat_lowering *L, int li, int in, int out) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  int rank, dims[QAT_MAX_RANK], mid, cap, rc;
  char name[QAT_NAME_MAX + 32];
  lower_out_shape(L, li, &rank, dims);
  snprintf(name, sizeof name, "%s/relu", l->name);
  if ((rc = lower_act_tensor(L, name, QAT_TFLITE_FLOAT32, rank, dims, 0, 0, &mid))) return rc;
  if ((rc = lower_scalar(L, l->name, "max_value", l->max_value, &cap))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_RELU);
  if ((rc = lower_simple(L, li, &op, 1, &in, mid))) return rc;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_MINIMUM);
  return lower_simple(L, li, &op, 2, (int[]){mid, cap}, out);
}

/* Integer modes, after the op that `head` starts and this ReLU ends (lower_fused). */
static int lower_fused(qat_lowering *L, int head, int end) {
  const qat_layer_spec *l = lower_layer_spec(L, end);
  if (applies(l) != QAT_ACTIVATION_RELU_MAX) return QAT_OK;
  const int t = L->tensor[end];
  float s;
  int64_t zp;
  lower_params_of(L, t, &s, &zp);
  const int wide = L->mode->act == QAT_TFLITE_INT16, qmax = wide ? 32767 : 127;
  int32_t lo, qm; /* the fake quant's clamp (op_fake_quant.c), so the two round m alike */
  if (qat_activation_bounds(s, (int32_t)zp, wide ? -32768 : -128, qmax, 0.0f, l->max_value, &lo, &qm))
    return lower_fail(L, end, QAT_ERR_UNSUPPORTED, "its max_value on the output grid: %s", qat_error_message());
  if (qm >= qmax) return QAT_OK; /* the saturation caps it */
  int rank, dims[QAT_MAX_RANK], cap, out, rc;
  char name[QAT_NAME_MAX + 32];
  if ((rc = lower_grid_scalar(L, l->name, "max_value", qm, s, zp, &cap))) return rc;
  lower_out_shape(L, end, &rank, dims);
  snprintf(name, sizeof name, "%s/capped", l->name);
  if ((rc = lower_act_tensor(L, name, L->mode->act, rank, dims, s, zp, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_MINIMUM);
  if ((rc = lower_simple(L, end, &op, 2, (int[]){t, cap}, out))) return rc;
  for (int j = head; j <= end; j++)
    if (j == head || L->m->fused_into[j] == head) L->tensor[j] = out;
  return QAT_OK;
}

static qat_layer_range range(const qat_layer_spec *l) {
  return l->threshold != 0.0f ? QAT_RANGE_KEEP : QAT_RANGE_OWN; /* SELECT_V2 copies its input's values */
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  if (l->threshold == 0.0f) return qat_build_activation(b, applies(l), in[0], out);
  if (l->max_value != 0.0f || l->alpha != 0.0f)
    return qat_fail(QAT_ERR_UNSUPPORTED, "a threshold goes alone: with max_value or negative_slope it is not supported");
  /* without QAT (no input quantizer) the op compares the floats */
  qat_op_attrs a = {.custom = &qat_threshold_op, .alpha = l->threshold,
                    .state = b->quant ? qat_model_source_fq(b->m, b->in_src) : NULL};
  return qat_graph_add(&b->m->graph, QAT_OP_CUSTOM, 1, in, &a, out);
}

/* SELECT_V2(LESS(t, x), x, 0): float32 with t and 0; the integer modes with t_q and the zero
 * point on x's grid (qat_threshold_integer), nothing at all when every value passes. */
static int lower_threshold(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  const qat_tflite_type type = L->mode ? L->mode->act : QAT_TFLITE_FLOAT32;
  const int wide = type == QAT_TFLITE_INT16;
  int in = lower_input(L, li, 0), rank, dims[QAT_MAX_RANK], tc, zc, mask, out, rc;
  char name[QAT_NAME_MAX + 32];
  if (!L->mode) {
    rc = lower_scalar(L, l->name, "threshold", l->threshold, &tc);
    if (!rc) rc = lower_scalar(L, l->name, "zero", 0.0f, &zc);
  } else {
    int32_t qt, mult;
    int shift;
    float s;
    int64_t zp;
    lower_params_of(L, in, &s, &zp);
    if (!wide && qat_comparison_multiplier(s, &mult, &shift))
      return lower_fail(L, li, QAT_ERR_UNSUPPORTED, "%s export of its threshold: %s", L->mode->name, qat_error_message());
    if (qat_threshold_integer(l->threshold, s, (int32_t)zp, wide ? -32768 : -128, wide ? 32767 : 127, &qt)) {
      L->tensor[li] = in; /* every value of the grid lies above it */
      return QAT_OK;
    }
    rc = lower_grid_scalar(L, l->name, "threshold", qt, s, zp, &tc);
    if (!rc) rc = lower_grid_scalar(L, l->name, "zero", (int32_t)zp, s, zp, &zc);
  }
  if (rc) return rc;
  lower_out_shape(L, li, &rank, dims);
  snprintf(name, sizeof name, "%s/mask", l->name);
  if ((rc = lower_act_tensor(L, name, QAT_TFLITE_BOOL, rank, dims, 0, 0, &mask)) ||
      (rc = lower_keep_tensor(L, li, in, l->name, &out)))
    return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_LESS);
  if ((rc = lower_simple(L, li, &op, 2, (int[]){tc, in}, mask))) return rc;
  qat_tflite_op_init(&op, QAT_TFLITE_OP_SELECT_V2);
  if ((rc = lower_simple(L, li, &op, 3, (int[]){mask, in, zc}, out))) return rc;
  L->tensor[li] = out;
  return QAT_OK;
}

int qat_relu_lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  if (l->type == QAT_LAYER_RELU && l->threshold != 0.0f) return lower_threshold(L, li);
  if (l->type == QAT_LAYER_RELU && applies(l) == QAT_ACTIVATION_LEAKY_RELU) {
    int out, rc = lower_function(L, li, QAT_ACTIVATION_LEAKY_RELU, l->alpha, lower_input(L, li, 0), &out);
    if (!rc) L->tensor[li] = out;
    return rc;
  }
  if (L->mode)
    return lower_fail(L, li, QAT_ERR_UNSUPPORTED,
                      "%s export fuses ReLU/ReLU6 (any max_value) into the Conv2D, DepthwiseConv2D, Dense or Add directly before "
                      "it; this one has no such producer (or that producer's output has other readers)",
                      L->mode->name);
  int in = lower_input(L, li, 0), out, rc = lower_own_tensor(L, li, &out);
  if (rc) return rc;
  if (applies(l) == QAT_ACTIVATION_RELU_MAX) return lower_capped_float(L, li, in, out);
  qat_tflite_operator op;
  qat_tflite_op_init(&op, lower_relu_kind(l) == QAT_TFLITE_ACT_RELU6 ? QAT_TFLITE_OP_RELU6 : QAT_TFLITE_OP_RELU);
  return lower_simple(L, li, &op, 1, &in, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  float slope = 0, thr = 0, mv = 0;
  int rc;
  if (k->ops->is_set(k, "negative_slope") && (rc = k->ops->number(k, "negative_slope", -1e30, 1e30, &slope))) return rc;
  if (k->ops->is_set(k, "threshold") && (rc = k->ops->number(k, "threshold", 0, 1e30, &thr))) return rc;
  if (k->ops->is_set(k, "max_value")) {
    if ((rc = k->ops->number(k, "max_value", -1e30, 1e30, &mv))) return rc;
    if (!(mv > 0)) return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "max_value %g: a ReLU capped at or below 0 outputs only zeros", mv);
  }
  if ((thr != 0 && (slope != 0 || mv != 0)) || (slope != 0 && mv != 0) || slope < 0)
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED,
                        "only ReLU with a max_value, a leaky ReLU (negative_slope > 0) and a thresholded ReLU, each "
                        "alone, are supported (got negative_slope %g, threshold %g, max_value %g)",
                        slope, thr, mv);
  l->max_value = mv;
  l->alpha = slope;
  l->threshold = thr;
  return QAT_OK;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  if (l->max_value != 0) {
    y->ops->put(y, ", max_value: ");
    y->ops->put_float(y, l->max_value);
  }
  if (l->alpha != 0) {
    y->ops->put(y, ", negative_slope: ");
    y->ops->put_float(y, l->alpha);
  }
  if (l->threshold != 0) {
    y->ops->put(y, ", threshold: ");
    y->ops->put_float(y, l->threshold);
  }
}

const qat_layer_desc qat_layer_relu = {
    .keras_class = "ReLU",
    .stem = "re_lu",
    .args = QAT_ARG(MAX_VALUE) | QAT_ARG(NEGATIVE_SLOPE) | QAT_ARG(THRESHOLD),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .range = range,
    .applies = applies,
    .lower = qat_relu_lower,
    .lower_fused = lower_fused,
    .keras = keras,
    .yaml = yaml,
};
