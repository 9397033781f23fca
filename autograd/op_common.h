/* Private helpers shared by the op files. */
#ifndef QAT_OP_COMMON_H
#define QAT_OP_COMMON_H

#include <string.h>

#include "qat/autograd.h"
#include "qat/error.h"

#define OP_X(n) ((n)->inputs[0])
#define OP_W(n) ((n)->inputs[1])
#define OP_B(n) ((n)->n_inputs > 2 ? (n)->inputs[2] : NULL)

/* The parts a sum over x's samples is taken in (qat_exec.halves): 1 or 2, samples
 * [bounds[h], bounds[h + 1]) in part h, bounds[parts] the samples in all (dims[0]; 1 for a
 * tensor of rank < 2, which is not split). */
static inline int op_halves(const qat_exec *ex, const qat_tensor *x, int64_t bounds[3]) {
  const int64_t n = x->rank >= 2 ? x->dims[0] : 1;
  bounds[0] = 0;
  if (ex->halves && x->batched && n >= 2) {
    bounds[1] = n / 2;
    bounds[2] = n;
    return 2;
  }
  bounds[1] = n;
  return 1;
}

/* Where the batch's second half (qat_exec.halves) starts in batched y, as a flat index; y's
 * size when the batch is not split. For ops that walk their output in order and add into a
 * broadcast input's gradient (op_grad_half(t, index >= start)). */
static inline int64_t op_half_start(const qat_exec *ex, const qat_tensor *y) {
  int64_t half[3], n = qat_tensor_size(y);
  return op_halves(ex, y, half) == 1 ? n : half[1] * (n / half[2]);
}

/* The gradient of unbatched t that part h of the batch adds into (NULL when t has none); a
 * batched t's own. */
static inline float *op_grad_half(const qat_tensor *t, int h) {
  return t && t->grad && h && t->grad_half ? t->grad + t->grad_half : t ? t->grad : NULL;
}

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

/* numpy broadcasting of two tensors, each viewed at rank 4 (leading 1s): the output's dims and
 * each input's element strides, 0 along the dimensions it is repeated over (MUL, ADD, SUB and
 * their fake quants). */
typedef struct qat_bcast4 {
  int out[4];
  int64_t sa[4], sb[4];
} qat_bcast4;

static inline void qat_dims4(const qat_tensor *t, int d[4]) {
  for (int i = 0; i < 4; i++) d[i] = 1;
  for (int i = 0; i < t->rank; i++) d[4 - t->rank + i] = t->dims[i];
}

static inline void qat_bcast4_strides(const int d[4], const int out[4], int64_t s[4]) {
  int64_t acc = 1;
  for (int i = 3; i >= 0; i--) {
    s[i] = d[i] == 1 && out[i] != 1 ? 0 : acc;
    acc *= d[i];
  }
}

static inline void qat_bcast4_view(const qat_tensor *a, const qat_tensor *b, const qat_tensor *y, qat_bcast4 *v) {
  int da[4], db[4];
  qat_dims4(a, da);
  qat_dims4(b, db);
  qat_dims4(y, v->out);
  qat_bcast4_strides(da, v->out, v->sa);
  qat_bcast4_strides(db, v->out, v->sb);
}

/* y's shape for a op b broadcast; -1 when a dimension is neither equal nor 1 in one of them. */
static inline int qat_bcast_shape(const qat_tensor *a, const qat_tensor *b, qat_tensor *y) {
  int da[4], db[4];
  qat_dims4(a, da);
  qat_dims4(b, db);
  const qat_tensor *big = a->rank >= b->rank ? a : b;
  y->rank = big->rank;
  for (int i = 0; i < 4; i++) {
    if (da[i] != db[i] && da[i] != 1 && db[i] != 1) return -1;
    if (i >= 4 - y->rank) y->dims[i - (4 - y->rank)] = da[i] > db[i] ? da[i] : db[i];
  }
  return 0;
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
