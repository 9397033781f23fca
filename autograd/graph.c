#define _GNU_SOURCE /* sysconf(_SC_PHYS_PAGES) */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>

#include "qat/autograd.h"
#include "qat/error.h"

/* OpenBLAS's OpenMP build takes its thread count from OpenMP; this declaration avoids pulling
 * the whole cblas header here. */
void openblas_set_num_threads(int num_threads);

#define QAT_OP_DECLARE(e, name) extern const qat_op_info qat_op_info_##name;
QAT_OPS(QAT_OP_DECLARE)
#undef QAT_OP_DECLARE

static const qat_op_info *const op_table[] = {
#define QAT_OP_ENTRY(e, name) &qat_op_info_##name,
    QAT_OPS(QAT_OP_ENTRY)
#undef QAT_OP_ENTRY
};
_Static_assert(sizeof op_table / sizeof op_table[0] == QAT_OP_COUNT,
               "every op in QAT_OPS needs exactly one qat_op_info");

const qat_op_info *qat_op_get(qat_op op) {
  return (unsigned)op < QAT_OP_COUNT ? op_table[op] : NULL;
}

const qat_op_info *qat_node_info(const qat_node *n) {
  return n->op == QAT_OP_CUSTOM ? n->attrs.custom : op_table[n->op];
}

/* The table's CUSTOM entry only names the hook: a custom node runs attrs.custom's functions. */
static int custom_plan(qat_node *n, size_t *scratch) {
  (void)n;
  (void)scratch;
  return qat_fail(QAT_ERR_INTERNAL, "a custom op node without its op (attrs.custom)");
}
static void custom_run(qat_node *n, const qat_exec *ex) {
  (void)ex;
  QAT_ASSERT(n->op != QAT_OP_CUSTOM);
}
static int custom_example(qat_op_example *ex, int variant) {
  (void)ex;
  (void)variant;
  return -1; /* each custom op brings its own examples */
}
const qat_op_info qat_op_info_custom = {
    .name = "custom", .plan = custom_plan, .forward = custom_run, .backward = custom_run, .example = custom_example};

int64_t qat_tensor_size(const qat_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dims[i];
  return n;
}

int qat_conv_out_size(int in, int kernel, int stride, qat_padding padding, int *pad_before) {
  if (padding == QAT_PADDING_SAME) {
    int out = (in + stride - 1) / stride;
    int total = (out - 1) * stride + kernel - in;
    if (total < 0) total = 0;
    if (pad_before) *pad_before = total / 2; /* TensorFlow puts the odd pixel at the end */
    return out;
  }
  if (padding == QAT_PADDING_CAUSAL) { /* VALID over the input with kernel - 1 zeros in front */
    if (pad_before) *pad_before = kernel - 1;
    return in < 1 ? 0 : (in - 1) / stride + 1;
  }
  if (pad_before) *pad_before = 0;
  return in < kernel ? 0 : (in - kernel) / stride + 1;
}

int qat_num_threads(void) { return omp_get_max_threads(); }

void qat_set_threads(int n) {
  if (n < 1) return;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

/* All of one graph's activations, gradients and workspaces: 0 means the machine's physical
 * memory, so a network that cannot fit is refused when it is built, with the batch named,
 * instead of being killed by the kernel mid-epoch (the fuzz harness lowers it). */
size_t qat_graph_max_bytes = 0;

static size_t graph_memory_limit(void) {
  if (qat_graph_max_bytes) return qat_graph_max_bytes;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
}

/* The arena's refusal names no network; this one says what to change. */
static void *graph_alloc(qat_graph *g, size_t bytes) {
  void *p = qat_arena_alloc(&g->arena, bytes);
  if (!p && g->arena.refused)
    qat_fail(QAT_ERR_NOMEM, "the network needs over %zu MiB for activations, gradients and workspaces "
             "at batch %d, more than %s of %zu MiB (a smaller batch, or fewer filters or units)",
             (g->arena.reserved + bytes) >> 20, g->max_batch,
             qat_graph_max_bytes ? "the limit" : "this machine's memory", g->arena.limit >> 20);
  return p;
}

int qat_graph_init(qat_graph *g, int max_batch) {
  memset(g, 0, sizeof *g);
  if (max_batch < 1) return qat_fail(QAT_ERR_USAGE, "batch size must be >= 1, got %d", max_batch);
  (void)qat_blas_describe(); /* links blas_core.c, whose constructor widens OpenBLAS's kernels */
  qat_arena_init(&g->arena, 0);
  g->arena.limit = graph_memory_limit();
  g->max_batch = g->batch = max_batch;
  return QAT_OK;
}

void qat_graph_free(qat_graph *g) {
  free(g->nodes);
  free(g->batched);
  qat_arena_free(&g->arena);
  memset(g, 0, sizeof *g);
}

static qat_tensor *tensor_new(qat_graph *g) { return graph_alloc(g, sizeof(qat_tensor)); }

static int track_batched(qat_graph *g, qat_tensor *t) {
  if (g->n_batched == g->cap_batched) {
    int cap = g->cap_batched ? 2 * g->cap_batched : 64;
    qat_tensor **p = realloc(g->batched, (size_t)cap * sizeof *p);
    if (!p) return qat_fail(QAT_ERR_NOMEM, "out of memory building the graph");
    g->batched = p;
    g->cap_batched = cap;
  }
  g->batched[g->n_batched++] = t;
  t->batched = 1;
  t->dims[0] = g->batch;
  return QAT_OK;
}

qat_tensor *qat_graph_external(qat_graph *g, int rank, const int *dims, float *data, float *grad,
                               int requires_grad) {
  QAT_ASSERT(rank >= 0 && rank <= QAT_MAX_RANK);
  qat_tensor *t = tensor_new(g);
  if (!t) return NULL;
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  t->data = data;
  t->grad = grad;
  t->requires_grad = requires_grad || grad != NULL;
  return t;
}

/* One activation at the graph's batch: a config's filters or units can ask for any size; past
 * this it is refused before allocating (the fuzz harness lowers it under libFuzzer's limit). */
size_t qat_graph_max_activation_bytes = (size_t)1 << 32;

static int alloc_activation(qat_graph *g, qat_tensor *t, int needs_grad) {
  int batch = t->dims[0];
  t->dims[0] = g->max_batch;
  size_t bytes = (size_t)qat_tensor_size(t) * sizeof(float);
  t->dims[0] = batch;
  if (bytes > qat_graph_max_activation_bytes)
    return qat_fail(QAT_ERR_UNSUPPORTED, "an activation of %zu bytes at batch %d, over the limit of %zu bytes "
                    "(fewer filters or units, or a smaller batch)", bytes, g->max_batch,
                    qat_graph_max_activation_bytes);
  t->data = graph_alloc(g, bytes);
  if (!t->data) return QAT_ERR_NOMEM;
  if (needs_grad) {
    t->grad = graph_alloc(g, bytes);
    if (!t->grad) return QAT_ERR_NOMEM;
  }
  t->requires_grad = needs_grad;
  return QAT_OK;
}

qat_tensor *qat_graph_input(qat_graph *g, int rank_without_batch, const int *dims, int needs_grad) {
  QAT_ASSERT(rank_without_batch >= 0 && rank_without_batch < QAT_MAX_RANK);
  qat_tensor *t = tensor_new(g);
  if (!t) return NULL;
  t->rank = rank_without_batch + 1;
  for (int i = 0; i < rank_without_batch; i++) t->dims[i + 1] = dims[i];
  if (track_batched(g, t) || alloc_activation(g, t, needs_grad)) return NULL;
  return t;
}

int qat_graph_add(qat_graph *g, qat_op op, int n_inputs, qat_tensor *const *inputs,
                  const qat_op_attrs *attrs, qat_tensor **out) {
  const qat_op_info *info = op == QAT_OP_CUSTOM && attrs ? attrs->custom : qat_op_get(op);
  QAT_ASSERT(info && n_inputs >= 1 && n_inputs <= QAT_MAX_OP_INPUTS);
  if (g->n_nodes == g->cap_nodes) {
    int cap = g->cap_nodes ? 2 * g->cap_nodes : 32;
    qat_node *p = realloc(g->nodes, (size_t)cap * sizeof *p);
    if (!p) return qat_fail(QAT_ERR_NOMEM, "out of memory building the graph");
    g->nodes = p;
    g->cap_nodes = cap;
  }
  qat_node *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->index = g->n_nodes;
  n->n_inputs = n_inputs;
  int needs_grad = 0;
  for (int i = 0; i < n_inputs; i++) {
    n->inputs[i] = inputs[i];
    if (inputs[i]->requires_grad) needs_grad = 1;
  }
  if (attrs) n->attrs = *attrs;
  n->threads = qat_num_threads();

  qat_tensor *o = tensor_new(g);
  if (!o) return QAT_ERR_NOMEM;
  n->output = o;
  size_t scratch = 0;
  /* Plan at the maximum batch so workspaces fit every batch. */
  qat_graph_set_batch(g, g->max_batch);
  int rc = info->plan(n, &scratch);
  if (rc) return rc;
  /* Kernels index within one sample with 32-bit ints. */
  int64_t per_sample = 1;
  for (int i = o->batched || inputs[0]->batched ? 1 : 0; i < o->rank; i++) {
    if (o->dims[i] < 1 || per_sample > INT32_MAX / o->dims[i])
      return qat_fail(QAT_ERR_USAGE, "%s output is too large (over 2^31 values per sample)", info->name);
    per_sample *= o->dims[i];
  }
  if (inputs[0]->batched && o->rank > 0) {
    if ((rc = track_batched(g, o))) return rc;
  }
  if (info->aliases_input) {
    o->data = inputs[0]->data;
    o->grad = inputs[0]->grad;
    o->grad_half = inputs[0]->grad_half;
    o->requires_grad = inputs[0]->requires_grad;
  } else if (o->batched) {
    if ((rc = alloc_activation(g, o, needs_grad))) return rc;
  } else {
    /* computed from weights alone: a gradient for each half of the batch (qat_exec.halves) */
    size_t bytes = (size_t)qat_tensor_size(o) * sizeof(float);
    o->data = graph_alloc(g, bytes);
    o->grad = needs_grad ? graph_alloc(g, 2 * bytes) : NULL;
    o->grad_half = needs_grad ? qat_tensor_size(o) : 0;
    o->requires_grad = needs_grad;
    if (!o->data || (needs_grad && !o->grad)) return QAT_ERR_NOMEM;
  }
  if (scratch) {
    n->scratch = graph_alloc(g, scratch);
    if (!n->scratch) return QAT_ERR_NOMEM;
    n->scratch_bytes = scratch;
  }
  g->n_nodes++;
  if (out) *out = o;
  return QAT_OK;
}

void qat_graph_set_batch(qat_graph *g, int batch) {
  QAT_ASSERT(batch >= 1 && batch <= g->max_batch);
  g->batch = batch;
  for (int i = 0; i < g->n_batched; i++) g->batched[i]->dims[0] = batch;
}

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void qat_graph_forward(qat_graph *g, const qat_exec *ex) {
  for (int i = 0; i < g->n_nodes; i++) {
    const double t0 = ex->profile ? seconds() : 0;
    qat_node_info(&g->nodes[i])->forward(&g->nodes[i], ex);
    if (ex->profile) ex->profile[i] += seconds() - t0;
  }
}

void qat_zero_floats(float *p, int64_t n) {
  enum { CHUNK = 1 << 15 };
  const int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 2)
  for (int64_t k = 0; k < chunks; k++)
    memset(p + k * CHUNK, 0, (size_t)(n - k * CHUNK < CHUNK ? n - k * CHUNK : CHUNK) * sizeof(float));
}

/* A node on the weights' side of the graph: no input follows the batch. */
static int weights_only(const qat_node *node) {
  if (node->output->batched) return 0;
  for (int i = 0; i < node->n_inputs; i++)
    if (node->inputs[i]->batched) return 0;
  return 1;
}

/* Moves the node's gradients with a second half (grad_half) onto it, or back: each tensor
 * once, though a node may read one tensor twice. */
static void shift_half_grads(qat_node *node, int direction) {
  qat_tensor *seen[QAT_MAX_OP_INPUTS + 1];
  int n_seen = 0;
  for (int i = -1; i < node->n_inputs; i++) {
    qat_tensor *t = i < 0 ? node->output : node->inputs[i];
    int again = 0;
    for (int k = 0; k < n_seen; k++) again |= seen[k] == t;
    if (again || !t->grad || !t->grad_half) continue;
    seen[n_seen++] = t;
    t->grad += direction * t->grad_half;
  }
}

void qat_graph_backward(qat_graph *g, const qat_exec *ex) {
  if (g->n_nodes == 0) return;
  /* the activations' gradients are all accumulated into: zeroed first, on every thread (the
   * seed CNN's 9 MB at batch 32 were one serial memset a step) */
  for (int i = 0; i < g->n_nodes; i++) {
    qat_tensor *o = g->nodes[i].output;
    if (o->grad) qat_zero_floats(o->grad, qat_tensor_size(o) + (ex->halves ? o->grad_half : 0));
  }
  qat_tensor *loss = g->nodes[g->n_nodes - 1].output;
  if (!loss->grad) return;
  int64_t n = qat_tensor_size(loss);
  for (int64_t i = 0; i < n; i++) loss->grad[i] = 1.0f;
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    qat_node *node = &g->nodes[i];
    if (node->output->grad) {
      const double t0 = ex->profile ? seconds() : 0;
      qat_node_info(node)->backward(node, ex);
      if (ex->halves && weights_only(node)) {
        /* the batch's second half passes its own gradients through the weights' nodes */
        shift_half_grads(node, 1);
        qat_node_info(node)->backward(node, ex);
        shift_half_grads(node, -1);
      }
      if (ex->profile) ex->profile[g->n_nodes + i] += seconds() - t0;
    }
    if (ex->coll && ex->coll->grads_ready) ex->coll->grads_ready(ex->coll->grads_ctx, i);
  }
}

void qat_graph_profile_print(FILE *f, const qat_graph *g, const double *profile, int64_t steps,
                             const char *other_name, double other_s) {
  enum { MAX_KINDS = 64 };
  const char *name[MAX_KINDS];
  double fw[MAX_KINDS] = {0}, bw[MAX_KINDS] = {0};
  int kinds = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const char *n = qat_node_info(&g->nodes[i])->name;
    int k = 0;
    while (k < kinds && strcmp(name[k], n)) k++;
    if (k == kinds) {
      if (kinds == MAX_KINDS) continue;
      name[kinds++] = n;
    }
    fw[k] += profile[i];
    bw[k] += profile[g->n_nodes + i];
  }
  double total = other_s;
  for (int k = 0; k < kinds; k++) total += fw[k] + bw[k];
  if (steps < 1 || total <= 0) return;
  const double per = 1e3 / (double)steps;
  fprintf(f, "profile: %lld steps, %.3f ms/step in ops and update\n", (long long)steps, total * per);
  fprintf(f, "  %-24s %10s %10s %7s\n", "op", "fwd ms", "bwd ms", "share");
  for (;;) { /* largest share first */
    int best = -1;
    for (int k = 0; k < kinds; k++)
      if (fw[k] + bw[k] >= 0 && (best < 0 || fw[k] + bw[k] > fw[best] + bw[best])) best = k;
    if (best < 0) break;
    fprintf(f, "  %-24s %10.3f %10.3f %6.1f%%\n", name[best], fw[best] * per, bw[best] * per,
            100.0 * (fw[best] + bw[best]) / total);
    fw[best] = bw[best] = -1; /* printed */
  }
  fprintf(f, "  %-24s %10.3f %10s %6.1f%%\n", other_name, other_s * per, "", 100.0 * other_s / total);
}
