/* The autograd engine: a static graph of op nodes over float32 NHWC tensors, built once for a
 * maximum batch size. Forward runs the nodes in order, backward in reverse with `+=` into the
 * gradients; every activation, gradient and workspace lives in the graph's arena, so a training
 * step allocates nothing. */
#ifndef QAT_AUTOGRAD_H
#define QAT_AUTOGRAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qat/arena.h"
#include "qat/enums.h"

#define QAT_MAX_RANK 4
#define QAT_MAX_OP_INPUTS 8

typedef struct qat_tensor {
  float *data;
  float *grad;    /* NULL where no gradient flows */
  int rank;       /* 0 = scalar */
  int dims[QAT_MAX_RANK];
  int batched;    /* dims[0] follows the graph's current batch size */
  int requires_grad; /* decided when the graph is built; grad may be bound later (parameters) */
  /* An unbatched tensor's gradient of the batch's second half lies grad_half floats past grad
   * (qat_exec.halves); 0: it has none, and both halves add into grad. */
  int64_t grad_half;
} qat_tensor;

int64_t qat_tensor_size(const qat_tensor *t);

/* One op table, so an op cannot be half-registered: X(ENUM, name). Each op's forward, backward
 * (and _ref twins where an optimized kernel exists) live together in autograd/op_<name>.c.
 * CUSTOM is the hook for ops defined outside the engine (as ggml's custom ops are): the node's
 * attrs.custom names the op's qat_op_info, so the engine knows nothing of what it computes. */
#define QAT_OPS(X)                              \
  X(CONV2D, conv2d)                             \
  X(CONV2D_TRANSPOSE, conv2d_transpose)         \
  X(DEPTHWISE_CONV2D, depthwise_conv2d)         \
  X(DENSE, dense)                               \
  X(MAX_POOL2D, max_pool2d)                     \
  X(AVG_POOL2D, avg_pool2d)                     \
  X(GLOBAL_AVG_POOL2D, global_avg_pool2d)       \
  X(GLOBAL_MAX_POOL2D, global_max_pool2d)       \
  X(RELU, relu)                                 \
  X(RELU6, relu6)                               \
  X(ADD, add)                                   \
  X(SUB, sub)                                   \
  X(PAD, pad)                                   \
  X(CONCAT, concat)                             \
  X(RESIZE, resize)                             \
  X(RESHAPE, reshape)                           \
  X(DROPOUT, dropout)                           \
  X(BATCH_NORM, batch_norm)                     \
  X(CUSTOM, custom)                             \
  X(ACTIVATION, activation)                     \
  X(MUL, mul)                                   \
  X(MAXIMUM, maximum)                           \
  X(MINIMUM, minimum)                           \
  X(PRELU, prelu)                               \
  X(BN_FOLD_WEIGHTS, bn_fold_weights)           \
  X(CHANNEL_UNSCALE, channel_unscale)           \
  X(SOFTMAX_CROSS_ENTROPY, softmax_cross_entropy) \
  X(VALUE_LOSS, value_loss)

typedef enum qat_op {
#define QAT_OP_ENUM(e, name) QAT_OP_##e,
  QAT_OPS(QAT_OP_ENUM)
#undef QAT_OP_ENUM
  QAT_OP_COUNT
} qat_op;

/* value_loss: the element-wise loss against targets */
typedef enum qat_value_loss {
  QAT_VALUE_LOSS_MSE = 0,
  QAT_VALUE_LOSS_MAE,
  QAT_VALUE_LOSS_HUBER,      /* delta 1 */
  QAT_VALUE_LOSS_BCE_LOGITS, /* binary cross-entropy of sigmoid(x) */
  QAT_VALUE_LOSS_BCE,        /* binary cross-entropy of probabilities x, clipped to [1e-7, 1 - 1e-7] */
} qat_value_loss;

typedef struct qat_op_attrs {
  int kernel[2];        /* conv, depthwise, pools; resize: the factors */
  int bilinear;         /* resize: bilinear (half-pixel centers), else nearest */
  int strides[2];
  int dilation[2];      /* conv, depthwise: dilation_rate (0 reads as 1) */
  qat_padding padding;
  int depth_multiplier; /* depthwise */
  float rate;           /* dropout */
  int noise_shared;     /* dropout: bit d-1 set where the mask is one value along dimension d */
  float momentum;       /* batch norm running averages */
  float epsilon;        /* batch norm */
  int target_rank;      /* reshape: dims after the batch, fully resolved (no -1) */
  int target_shape[3];
  const int32_t *labels; /* softmax cross-entropy: one class index per sample and position
                            (a [N, ..., K] input: N times the positions before the class axis) */
  qat_value_loss loss;   /* value_loss */
  float loss_weight;     /* softmax cross-entropy, value_loss: the loss's factor in a sum of losses (0 reads as 1) */
  /* QAT_OP_CUSTOM: the op another module defines (fakequant/'s fake quant), and its state.
   * The engine calls custom->plan/forward/backward as it calls a built-in op's. */
  const struct qat_op_info *custom;
  void *state;
  int axis;              /* bn_fold_weights: the output-channel axis of the weights; concat: the
                            tensor axis joined (1..rank-1) */
  qat_activation act;    /* activation: which function */
  float alpha;           /* activation: LEAKY_RELU's slope, ELU's scale */
  int pads[4];           /* pad: zeros above, below, left and right of an NHWC image */
} qat_op_attrs;

/* Inputs by op (optional ones may be absent: n_inputs says):
 *   conv2d, conv2d_transpose, depthwise_conv2d, dense: x, weights, [bias]
 *   batch_norm: x, gamma, beta, running_mean, running_var (the last two are state, no grad)
 *   bn_fold_weights: weights, gamma, running_var   -> weights * gamma / sqrt(var + eps) per channel
 *   channel_unscale: x, gamma, running_var         -> x * sqrt(var + eps) / gamma on the last axis
 *   add: x0, x1, ...
 *   value_loss: prediction, targets (no gradient)
 *   all others: x */
typedef struct qat_node {
  qat_op op;
  int index;          /* position in the graph; seeds dropout masks */
  int n_inputs;
  qat_tensor *inputs[QAT_MAX_OP_INPUTS];
  qat_tensor *output;
  qat_op_attrs attrs;
  int pad[2];         /* top, left padding resolved at plan time */
  void *scratch;      /* op-owned workspace sized at plan time for the maximum batch */
  size_t scratch_bytes;
  int threads;        /* OpenMP threads the scratch was sized for */
} qat_node;

/* A run of parameter gradients in a flat vector, and the graph node after whose backward
 * (backward runs nodes by falling index) no node writes it any more. */
typedef struct qat_grad_segment {
  int64_t offset, size;
  int ready_after;
} qat_grad_segment;

/* Data-parallel training (dist/): this process holds samples [batch_offset, batch_offset + n)
 * of a global batch of global_batch samples, and the ops whose result depends on the whole
 * batch combine their partial results through these calls, so that every process computes
 * what one process holding the whole batch would: batch-norm statistics (sums of x, of
 * (x - mean)^2, of dy and dy * xhat), activation ranges (min, max), the mean loss (divided by
 * global_batch) and dropout masks (drawn at the sample's position in the global batch).
 * NULL in qat_exec: this process holds the whole batch. */
typedef struct qat_collective {
  void *ctx;
  int64_t batch_offset;
  int64_t global_batch;
  void (*sum)(void *ctx, double *values, int n);      /* element-wise, over all processes, in place */
  void (*min_max)(void *ctx, float *min, float *max); /* *min, *max become the minimum, maximum over all */
  /* Optional: qat_graph_backward calls it after each node (by index, whether or not the node
   * had a gradient to pass), so that parameter gradients no later node writes can be summed
   * over the processes while backward goes on (dist's qat_grad_sync). */
  void (*grads_ready)(void *grads_ctx, int node);
  void *grads_ctx;
} qat_collective;

typedef struct qat_exec {
  const qat_collective *coll; /* NULL: single process (see qat_collective) */
  int training;   /* dropout active, batch norm on batch statistics */
  uint64_t seed;  /* with step and node index, seeds dropout masks: reproducible on resume */
  uint64_t step;
  int fake_quant;       /* fake-quant nodes quantize (else they pass values through) */
  int freeze_observers; /* activation ranges stop moving */
  int freeze_bn;        /* batch norm uses its moving statistics even while training */
  /* 1 (one process training): every sum over the batch is taken over each half of it apart,
   * the first floor(n / 2) samples and the rest, and the two then added once, in double for
   * batch norm's statistics and in float for the gradients of the unbatched tensors (weights
   * and what is computed from them alone), which keep a second copy for the second half
   * (grad_half). That is what 2 ranks of a data-parallel run compute, each holding one half
   * and the allreduce adding them (a + b == b + a), so one process and 2 ranks train the same
   * model bit for bit, quantization-aware training included, where a float sum taken in
   * another order would move fake quant's rounding by whole steps. qat_model_step zeroes the
   * second copies and adds them in after backward. */
  int halves;
  double *profile;      /* NULL, or 2 x n_nodes seconds (forward, then backward) that
                           qat_graph_forward / _backward add each node's time to */
} qat_exec;

/* Shape inference: fill out->rank/dims from the inputs and attrs (batch = inputs' dims[0]) and
 * report the workspace the op needs for that batch. Returns an error for invalid shapes. */
typedef int (*qat_op_plan_fn)(qat_node *n, size_t *scratch_bytes);
typedef void (*qat_op_forward_fn)(qat_node *n, const qat_exec *ex);
typedef void (*qat_op_backward_fn)(qat_node *n, const qat_exec *ex);

/* A small instance of the op for the generic gradient check and _ref comparison; lives beside
 * the op so a new op is checked without editing any test. */
typedef enum qat_fill { QAT_FILL_UNIFORM = 0, QAT_FILL_DISTINCT, QAT_FILL_ZEROS, QAT_FILL_ONES, QAT_FILL_POSITIVE } qat_fill;

typedef struct qat_op_example {
  int n_inputs;
  int rank[QAT_MAX_OP_INPUTS];
  int dims[QAT_MAX_OP_INPUTS][QAT_MAX_RANK];
  int batched[QAT_MAX_OP_INPUTS];
  int needs_grad[QAT_MAX_OP_INPUTS];
  qat_fill fill[QAT_MAX_OP_INPUTS];
  float scale;        /* uniform fills draw from [-scale, scale] */
  int n_kinks;        /* inputs kept away from these points, where the op is not differentiable */
  float kinks[4];
  int training, fake_quant, freeze_bn; /* the exec flags to run the example with */
  int n_labels;
  int32_t labels[16];
  qat_op_attrs attrs;
} qat_op_example;

typedef struct qat_op_info {
  const char *name;
  qat_op_plan_fn plan;
  qat_op_forward_fn forward, backward;
  qat_op_forward_fn forward_ref, backward_ref; /* NULL when forward/backward are already plain */
  int aliases_input;                           /* output shares input 0's memory (reshape) */
  int (*example)(qat_op_example *ex, int variant); /* 0 = filled, nonzero = no such variant */
} qat_op_info;

const qat_op_info *qat_op_get(qat_op op);
/* The op a node runs: its table entry, or attrs.custom for QAT_OP_CUSTOM. */
const qat_op_info *qat_node_info(const qat_node *n);

/* ---- graph ---- */
typedef struct qat_graph {
  qat_arena arena;     /* everything below, plus activations, gradients and workspaces */
  qat_node *nodes;
  int n_nodes, cap_nodes;
  int max_batch, batch;
  qat_tensor **batched; /* tensors whose dims[0] is the batch */
  int n_batched, cap_batched;
} qat_graph;

/* Limits checked while a graph is built: one activation at the maximum batch (default 4 GiB),
 * and all of a graph's memory together (default 0: the machine's physical memory). */
extern size_t qat_graph_max_activation_bytes;
extern size_t qat_graph_max_bytes;
int qat_graph_init(qat_graph *g, int max_batch);
void qat_graph_free(qat_graph *g);
/* A tensor whose memory the caller owns (parameters, state). It requires a gradient when grad
 * is given or requires_grad is set; data and grad may be bound after the graph is built. */
qat_tensor *qat_graph_external(qat_graph *g, int rank, const int *dims, float *data, float *grad,
                               int requires_grad);
/* An activation tensor [max_batch, dims...] allocated in the arena (with a gradient if asked). */
qat_tensor *qat_graph_input(qat_graph *g, int rank_without_batch, const int *dims, int needs_grad);
/* Appends a node, infers its output shape and allocates output, gradient and workspace.
 * The output gets a gradient when any input requires one. */
int qat_graph_add(qat_graph *g, qat_op op, int n_inputs, qat_tensor *const *inputs,
                  const qat_op_attrs *attrs, qat_tensor **out);
void qat_graph_set_batch(qat_graph *g, int batch);
void qat_graph_forward(qat_graph *g, const qat_exec *ex);
/* memset to 0 over the OpenMP threads (large buffers) */
void qat_zero_floats(float *p, int64_t n);
/* Zeroes every activation gradient, seeds d(loss)=1 on the last node and runs backward. */
void qat_graph_backward(qat_graph *g, const qat_exec *ex);
/* A profile (qat_exec.profile) over `steps` steps as one table on f: per op kind, forward and
 * backward ms per step and the share of the step, with `other_s` seconds (the optimizer's
 * update, named other_name) as one more row. */
void qat_graph_profile_print(FILE *f, const qat_graph *g, const double *profile, int64_t steps,
                             const char *other_name, double other_s);

/* Shared helpers for ops */
int qat_conv_out_size(int in, int kernel, int stride, qat_padding padding, int *pad_before);
int qat_num_threads(void);
void qat_set_threads(int n);

/* The BLAS path (blas_core.c): at load time qat moves a DYNAMIC_ARCH OpenBLAS to the widest
 * kernels the CPU's features allow unless OPENBLAS_CORETYPE is set. */
const char *qat_blas_describe(void);   /* "OpenBLAS SkylakeX, AVX-512" (for --version, benches) */
const char *qat_blas_core(void);       /* OpenBLAS's core name now, "unknown" without OpenBLAS */
const char *qat_cpu_vector_isa(void);  /* "AVX-512" (F+BW+DQ+VL), "AVX2" (with FMA) or "SSE" */
const char *qat_blas_core_for_isa(const char *isa); /* SkylakeX, Haswell or NULL */
int qat_blas_core_rank(const char *core);           /* 2 AVX-512, 1 AVX2, 0 narrower */
int qat_blas_select_core(const char *core);         /* 0 when OpenBLAS now runs core */
/* The core to switch to, NULL to keep `core` (already as wide, or the user forced one). */
const char *qat_blas_plan(const char *isa, const char *core, int user_forced);

#endif
