/* Private helpers shared by the op files. */
#ifndef QAT_OP_COMMON_H
#define QAT_OP_COMMON_H

#include <string.h>

#include "qat/autograd.h"
#include "qat/error.h"

#define OP_X(n) ((n)->inputs[0])
#define OP_W(n) ((n)->inputs[1])
#define OP_B(n) ((n)->n_inputs > 2 ? (n)->inputs[2] : NULL)

static inline void shape_str(const qat_tensor *t, char *buf, size_t len) {
  size_t k = 0;
  buf[k++] = '[';
  for (int i = 0; i < t->rank && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, i ? ",%d" : "%d", t->dims[i]);
  if (k < len - 1) {
    buf[k++] = ']';
    buf[k] = '\0';
  } else {
    buf[len - 1] = '\0';
  }
}

/* A conv's dilation along axis a (0: height, 1: width); 0 in attrs reads as 1. */
static inline int op_dilation(const qat_node *n, int a) { return n->attrs.dilation[a] > 1 ? n->attrs.dilation[a] : 1; }

/* Example helper: fills input `i` of an example. */
static inline void example_input(qat_op_example *ex, int i, int rank, const int *dims,
                                 int batched, int needs_grad, qat_fill fill) {
  ex->rank[i] = rank;
  for (int d = 0; d < rank; d++) ex->dims[i][d] = dims[d];
  ex->batched[i] = batched;
  ex->needs_grad[i] = needs_grad;
  ex->fill[i] = fill;
  if (i + 1 > ex->n_inputs) ex->n_inputs = i + 1;
}

#endif
