/* UpSampling2D: nearest (RESIZE_NEAREST_NEIGHBOR) or bilinear (RESIZE_BILINEAR) by integer
 * factors, half-pixel centers and no corner alignment, as tf.image.resize (Keras 2's
 * UpSampling2D, Keras 3's bilinear one) writes them; for integer factors the nearest one picks
 * the pixels Keras 3's repeat does. The int8 and int16 outputs keep the input's scale and zero
 * point (TFLite requires it). Nearest copies values; bilinear rounds its 10-bit fixed-point
 * interpolation, which a rounding node on the input's grid reproduces (QAT_FQ_SHARED,
 * QAT_REQUANT_RESIZE_BILINEAR). UpSampling1D (Keras's repeat along the steps) is the nearest one
 * on the [1, T] view of a sequence, by (1, size). */
#include <stdio.h>

#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static void defaults(qat_layer_spec *l) {
  l->size[0] = l->size[1] = 2;
  l->interpolation = QAT_INTERP_NEAREST;
}

static qat_layer_range range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_KEEP;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  if (l->interpolation != QAT_INTERP_NEAREST && l->interpolation != QAT_INTERP_BILINEAR)
    return qat_fail(QAT_ERR_UNSUPPORTED, "interpolation must be nearest or bilinear");
  qat_op_attrs a = {.kernel = {l->size[0], l->size[1]}, .bilinear = l->interpolation == QAT_INTERP_BILINEAR};
  return qat_graph_add(&b->m->graph, QAT_OP_RESIZE, 1, in, &a, out);
}

/* Called with the resize just built. Nearest copies grid values: the node passes them. */
static int link_requant(qat_model *m, int li, qat_fq *out) {
  int src = qat_layer_input(&m->spec, li, 0);
  out->input = qat_model_source_fq(m, src);
  out->requant_in[0] = qat_model_source_tensor(m, src);
  QAT_ASSERT(out->input);
  if (m->spec.layers[li].interpolation == QAT_INTERP_BILINEAR) out->requant = QAT_REQUANT_RESIZE_BILINEAR;
  return QAT_OK;
}

static int lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  int rank, dims[QAT_MAX_RANK], in = lower_input(L, li, 0), si, out, rc, two = 2;
  lower_out_shape(L, li, &rank, dims);
  const int32_t size[2] = {dims[1], dims[2]};
  char name[QAT_NAME_MAX + 32];
  snprintf(name, sizeof name, "%s/size", l->name);
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &two, size, sizeof size, &si))) return rc;
  if ((rc = lower_keep_tensor(L, li, in, l->name, &out))) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, l->interpolation == QAT_INTERP_BILINEAR ? QAT_TFLITE_OP_RESIZE_BILINEAR
                                                                   : QAT_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR);
  op.opt.half_pixel_centers = 1;
  int ins[2] = {in, si};
  return lower_simple(L, li, &op, 2, ins, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  static const char *const interps[] = {"bilinear", "nearest"}; /* qat_interpolation's order */
  int rc, two[2] = {2, 2};
  if ((rc = k->ops->channels_last(k)) || (rc = k->ops->int_pair(k, "size", two, l->size)) ||
      (rc = k->ops->choice(k, "interpolation", interps, 2, QAT_INTERP_NEAREST, &l->interpolation)))
    return rc;
  if (l->size[0] < 1 || l->size[1] < 1 || l->size[0] > 4096 || l->size[1] > 4096)
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "size [%d, %d] is not a pair of factors in 1..4096", l->size[0],
                        l->size[1]);
  return QAT_OK;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", size: [%d, %d]", l->size[0], l->size[1]);
  if (l->interpolation == QAT_INTERP_BILINEAR) y->ops->put(y, ", interpolation: bilinear");
}

const qat_layer_desc qat_layer_up_sampling2d = {
    .keras_class = "UpSampling2D",
    .stem = "up_sampling2d",
    .args = QAT_ARG(SIZE) | QAT_ARG(INTERPOLATION),
    .min_inputs = 1,
    .max_inputs = 1,
    .defaults = defaults,
    .build = build,
    .range = range,
    .link_requant = link_requant,
    .lower = lower,
    .keras = keras,
    .yaml = yaml,
};

/* UpSampling1D: size is one factor along the steps, (1, size) on the [1, T] view. */
static void defaults_1d(qat_layer_spec *l) {
  l->size[0] = 1;
  l->size[1] = 2;
  l->interpolation = QAT_INTERP_NEAREST;
}

static int keras_1d(const qat_kcfg *k, qat_layer_spec *l) {
  const int two[2] = {1, 2};
  int rc = k->ops->int_pair(k, "size", two, l->size);
  if (rc) return rc;
  if (l->size[1] > 4096) return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "size %d is not a factor in 1..4096", l->size[1]);
  l->interpolation = QAT_INTERP_NEAREST;
  return QAT_OK;
}

static void yaml_1d(qat_yaml_out *y, const qat_layer_spec *l) { qat_layer_yaml_pair(y, l, "size", l->size); }

const qat_layer_desc qat_layer_up_sampling1d = {
    .keras_class = "UpSampling1D",
    .stem = "up_sampling1d",
    .args = QAT_ARG(SIZE),
    .min_inputs = 1,
    .max_inputs = 1,
    .roles = QAT_LAYER_ONE_D,
    .two_d = QAT_LAYER_UP_SAMPLING2D,
    .defaults = defaults_1d,
    .build = build,
    .range = range,
    .link_requant = link_requant,
    .lower = lower,
    .keras = keras_1d,
    .yaml = yaml_1d,
};
