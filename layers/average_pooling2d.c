/* AveragePooling2D: AVERAGE_POOL_2D over H and W, the output on the input's scale and zero point.
 * The int8 op divides its window's integer sum rounding half away from zero, which the float
 * average of grid values does not: a rounding node on the input's grid reproduces it
 * (QAT_FQ_SHARED, QAT_REQUANT_AVG_POOL). */
#include "layers/pooling.h"

#include "layers/build.h"
#include "qat/error.h"

#include <string.h>

/* Called with the pool just built (m->layer_out[li] its output, the graph's last node). */
static int link_requant(qat_model *m, int li, qat_fq *out) {
  const qat_graph *g = &m->graph;
  QAT_ASSERT(g->n_nodes > 0 && g->nodes[g->n_nodes - 1].output == m->layer_out[li]);
  const qat_node *nd = &g->nodes[g->n_nodes - 1];
  int src = qat_layer_input(&m->spec, li, 0);
  out->input = qat_model_source_fq(m, src);
  out->requant_in[0] = qat_model_source_tensor(m, src);
  out->requant = QAT_REQUANT_AVG_POOL;
  const int pool[6] = {nd->attrs.kernel[0], nd->attrs.kernel[1], nd->attrs.strides[0], nd->attrs.strides[1],
                       nd->pad[0], nd->pad[1]};
  memcpy(out->pool, pool, sizeof pool);
  QAT_ASSERT(out->input);
  return QAT_OK;
}

QAT_POOL_LAYER(average_pooling2d, "AveragePooling2D", "AvgPool2D", link_requant);
QAT_POOL_LAYER_1D(average_pooling1d, "AveragePooling1D", "AvgPool1D", link_requant, QAT_LAYER_AVG_POOL2D);
