/* Reshape: RESHAPE to target_shape (one dimension may be -1); the int8 output keeps the
 * input's parameters. */
#include <stdint.h>

#include "layers/build.h"
#include "layers/lower_kit.h"
#include "qat/error.h"

static qat_layer_range range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_KEEP;
}

static int build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  qat_tensor *x = in[0];
  qat_op_attrs a = qat_build_attrs(l);
  int64_t total = qat_tensor_size(x) / x->dims[0], known = 1;
  int unknown = -1;
  a.target_rank = l->target_rank;
  for (int i = 0; i < l->target_rank; i++) {
    a.target_shape[i] = l->target_shape[i];
    if (l->target_shape[i] == -1) unknown = i;
    else known *= l->target_shape[i];
  }
  if (unknown >= 0) {
    if (known <= 0 || total % known)
      return qat_fail(QAT_ERR_USAGE, "cannot reshape %lld values per sample: not a multiple of %lld", (long long)total,
                      (long long)known);
    a.target_shape[unknown] = (int)(total / known);
  }
  if (a.target_rank == 2) { /* a sequence [T, C]: the [1, T, C] view the 1-D layers run on */
    a.target_shape[2] = a.target_shape[1], a.target_shape[1] = a.target_shape[0], a.target_shape[0] = 1;
    a.target_rank = 3;
  }
  return qat_graph_add(&b->m->graph, QAT_OP_RESHAPE, 1, &x, &a, out);
}

static int keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc, unknown = 0;
  if ((rc = k->ops->int_list(k, "target_shape", 3, -1, 1 << 24, l->target_shape, &l->target_rank))) return rc;
  if (l->target_rank < 1)
    return k->ops->fail(k, QAT_ERR_UNSUPPORTED, "target_shape must be a list of 1 to 3 dimensions");
  for (int i = 0; i < l->target_rank; i++)
    if (l->target_shape[i] == 0 || (l->target_shape[i] == -1 && unknown++))
      return k->ops->fail(k, QAT_ERR_FORMAT, "bad target_shape");
  return QAT_OK;
}

static void yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  y->ops->put(y, ", target_shape: [");
  for (int j = 0; j < l->target_rank; j++) y->ops->put(y, "%s%d", j ? ", " : "", l->target_shape[j]);
  y->ops->put(y, "]");
}

const qat_layer_desc qat_layer_reshape = {
    .keras_class = "Reshape",
    .stem = "reshape",
    .args = QAT_ARG(TARGET_SHAPE),
    .required_args = QAT_ARG(TARGET_SHAPE),
    .min_inputs = 1,
    .max_inputs = 1,
    .build = build,
    .range = range,
    .lower = lower_reshape,
    .keras = keras,
    .yaml = yaml,
};
