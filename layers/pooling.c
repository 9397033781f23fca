/* MAX_POOL_2D and AVERAGE_POOL_2D: windows over H and W; the int8 output keeps the input's
 * scale and zero point (TFLite requires it), so no fake quant follows a pool. */
#include "layers/pooling.h"

#include <stdio.h>

#include "qat/error.h"

void qat_pool_defaults_1d(qat_layer_spec *l) { l->pool_size[0] = 1; }

void qat_pool_finish(qat_layer_spec *l, uint32_t seen) {
  if (!(seen & QAT_ARG(STRIDES))) {
    l->strides[0] = l->pool_size[0];
    l->strides[1] = l->pool_size[1];
  }
}

qat_layer_range qat_pool_range(const qat_layer_spec *l) {
  (void)l;
  return QAT_RANGE_KEEP;
}

int qat_pool_build(qat_builder *b, int li, qat_tensor **in, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  qat_op_attrs a = qat_build_attrs(l);
  a.kernel[0] = l->pool_size[0];
  a.kernel[1] = l->pool_size[1];
  return qat_graph_add(&b->m->graph, qat_layer_op_type(l) == QAT_LAYER_MAX_POOL2D ? QAT_OP_MAX_POOL2D : QAT_OP_AVG_POOL2D, 1, in,
                       &a, out);
}

int qat_pool_lower(qat_lowering *L, int li) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  int in = lower_input(L, li, 0), out;
  int rc = lower_keep_tensor(L, li, in, l->name, &out);
  if (rc) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, qat_layer_op_type(l) == QAT_LAYER_MAX_POOL2D ? QAT_TFLITE_OP_MAX_POOL_2D : QAT_TFLITE_OP_AVERAGE_POOL_2D);
  op.opt.padding = lower_padding(l);
  op.opt.stride_h = l->strides[0];
  op.opt.stride_w = l->strides[1];
  op.opt.filter_h = l->pool_size[0];
  op.opt.filter_w = l->pool_size[1];
  return lower_simple(L, li, &op, 1, &in, out);
}

int qat_pool_keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc, two[2] = {2, 2};
  if ((rc = k->ops->channels_last(k)) || (rc = k->ops->int_pair(k, "pool_size", two, l->pool_size)) ||
      (rc = k->ops->int_pair(k, "strides", l->pool_size, l->strides)) || (rc = k->ops->padding(k, &l->padding)))
    return rc;
  return QAT_OK;
}

void qat_pool_yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  qat_layer_yaml_pair(y, l, "pool_size", l->pool_size);
  qat_layer_yaml_pair(y, l, "strides", l->strides);
  y->ops->put(y, ", padding: %s", l->padding == QAT_PADDING_SAME ? "same" : "valid");
}

int qat_global_pool_lower(qat_lowering *L, int li, qat_tflite_op code) {
  const qat_layer_spec *l = lower_layer_spec(L, li);
  static const int32_t axes[2] = {1, 2};
  char name[QAT_NAME_MAX + 32];
  int two = 2, ai, out, in = lower_input(L, li, 0), rc;
  snprintf(name, sizeof name, "%s/axes", l->name);
  if ((rc = qat_tflite_add_tensor(L->t, name, QAT_TFLITE_INT32, 1, &two, axes, sizeof axes, &ai))) return rc;
  /* MEAN requantizes to its own range; REDUCE_MAX keeps its input's (the layer's range says which) */
  rc = qat_layer_range_of(l) == QAT_RANGE_KEEP ? lower_keep_tensor(L, li, in, l->name, &out) : lower_own_tensor(L, li, &out);
  if (rc) return rc;
  qat_tflite_operator op;
  qat_tflite_op_init(&op, code);
  op.opt.keep_dims = l->keepdims != 0;
  int ins[2] = {in, ai};
  return lower_simple(L, li, &op, 2, ins, out);
}

int qat_global_pool_keras(const qat_kcfg *k, qat_layer_spec *l) {
  int rc;
  if ((rc = k->ops->channels_last(k)) || (rc = k->ops->boolean(k, "keepdims", 0, &l->keepdims))) return rc;
  return QAT_OK;
}

void qat_global_pool_yaml(qat_yaml_out *y, const qat_layer_spec *l) {
  if (l->keepdims) y->ops->put(y, ", keepdims: true");
}

int qat_global_pool_keepdims(qat_builder *b, int li, qat_tensor *x, qat_tensor **out) {
  const qat_layer_spec *l = &b->m->spec.layers[li];
  if (!l->keepdims) {
    *out = x;
    return QAT_OK;
  }
  /* [N, C] viewed as [N, 1, 1, C] (no copy) */
  qat_op_attrs a = {.target_rank = 3, .target_shape = {1, 1, x->dims[1]}};
  return qat_graph_add(&b->m->graph, QAT_OP_RESHAPE, 1, &x, &a, out);
}
