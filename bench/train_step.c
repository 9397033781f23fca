/* ms per training step (forward + backward + Adam update) of the two seed CNNs, and the step's
 * achieved GFLOP/s as a ratio of cblas_sgemm's GFLOP/s on the same GEMM shapes, timed in the
 * same run so machine noise affects both sides alike.
 *
 *   bench/train_step [--steps N] [--threads N] [--json] [--profile] [--config FILE --batch N]
 *
 * --config times the model of a YAML config instead of the two seed CNNs.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qat/config.h"
#include "qat/error.h"
#include "qat/model.h"
#include "qat/optim.h"
#include "qat/rng.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static qat_layer_spec L(qat_layer_type t, const char *name, int n, qat_activation act) {
  qat_layer_spec l;
  memset(&l, 0, sizeof l);
  l.type = t;
  snprintf(l.name, sizeof l.name, "%s", name);
  l.kernel_size[0] = l.kernel_size[1] = 3;
  l.strides[0] = l.strides[1] = 1;
  l.pool_size[0] = l.pool_size[1] = 2;
  if (t == QAT_LAYER_MAX_POOL2D) l.strides[0] = l.strides[1] = 2;
  l.use_bias = 1;
  l.filters = l.units = n;
  l.rate = 0.25f;
  l.activation = act;
  return l;
}

/* The seed documents' two CNNs. */
static qat_model_spec seed_model(int cifar, qat_layer_spec *l) {
  int n = 0;
  const qat_activation R = QAT_ACTIVATION_RELU, N = QAT_ACTIVATION_LINEAR;
  if (!cifar) {
    l[n++] = L(QAT_LAYER_CONV2D, "conv2d", 32, R);
    l[n++] = L(QAT_LAYER_MAX_POOL2D, "max_pooling2d", 0, N);
    l[n++] = L(QAT_LAYER_DROPOUT, "dropout", 0, N);
    l[n++] = L(QAT_LAYER_CONV2D, "conv2d_1", 64, R);
    l[n++] = L(QAT_LAYER_MAX_POOL2D, "max_pooling2d_1", 0, N);
    l[n++] = L(QAT_LAYER_DROPOUT, "dropout_1", 0, N);
    l[n++] = L(QAT_LAYER_FLATTEN, "flatten", 0, N);
    l[n++] = L(QAT_LAYER_DENSE, "dense", 256, R);
    l[n++] = L(QAT_LAYER_DENSE, "dense_1", 10, N);
    return (qat_model_spec){.input_shape = {28, 28, 1}, .n_layers = n, .layers = l, .source = "mnist_cnn"};
  }
  l[n++] = L(QAT_LAYER_CONV2D, "conv2d", 32, R);
  l[n++] = L(QAT_LAYER_MAX_POOL2D, "max_pooling2d", 0, N);
  l[n++] = L(QAT_LAYER_CONV2D, "conv2d_1", 64, R);
  l[n++] = L(QAT_LAYER_MAX_POOL2D, "max_pooling2d_1", 0, N);
  l[n++] = L(QAT_LAYER_CONV2D, "conv2d_2", 64, R);
  l[n++] = L(QAT_LAYER_FLATTEN, "flatten", 0, N);
  l[n++] = L(QAT_LAYER_DENSE, "dense", 64, R);
  l[n++] = L(QAT_LAYER_DENSE, "dense_1", 10, N);
  return (qat_model_spec){.input_shape = {32, 32, 3}, .n_layers = n, .layers = l, .source = "cifar_cnn"};
}

/* The GEMMs a training step performs: for each conv/dense node, forward [P,O,K], dW [O,K,P]
 * and (when its input needs a gradient) dX [P,K,O]. */
typedef struct gemm {
  int m, n, k, trans_a, trans_b;
} gemm;

static int collect_gemms(const qat_model *m, gemm *out, double *flops) {
  int count = 0;
  *flops = 0;
  for (int i = 0; i < m->graph.n_nodes; i++) {
    const qat_node *nd = &m->graph.nodes[i];
    int p, o, k;
    if (nd->op == QAT_OP_CONV2D) {
      const qat_tensor *w = nd->inputs[1], *y = nd->output;
      p = y->dims[0] * y->dims[1] * y->dims[2];
      o = w->dims[0];
      k = w->dims[1] * w->dims[2] * w->dims[3];
    } else if (nd->op == QAT_OP_DENSE) {
      p = nd->inputs[0]->dims[0];
      o = nd->inputs[1]->dims[0];
      k = nd->inputs[1]->dims[1];
    } else {
      continue;
    }
    out[count++] = (gemm){p, o, k, 0, 1};
    out[count++] = (gemm){o, k, p, 1, 0};
    *flops += 4.0 * p * o * k;
    if (nd->inputs[0]->requires_grad) {
      out[count++] = (gemm){p, k, o, 0, 0};
      *flops += 2.0 * p * o * k;
    }
  }
  return count;
}

/* One GEMM of the list, C += op(A) op(B), split into `parts` slices run on OpenMP threads,
 * each a single-threaded sgemm (OpenBLAS's OpenMP build runs one thread inside a parallel
 * region): rows of C when A is not transposed, else columns. parts == 1 leaves the threading
 * to OpenBLAS. */
static void sgemm_split(const gemm *q, const float *A, const float *B, float *C, int parts) {
  int lda = q->trans_a ? q->m : q->k, ldb = q->trans_b ? q->k : q->n;
  if (parts <= 1) {
    cblas_sgemm(CblasRowMajor, q->trans_a ? CblasTrans : CblasNoTrans, q->trans_b ? CblasTrans : CblasNoTrans, q->m,
                q->n, q->k, 1.0f, A, lda, B, ldb, 1.0f, C, q->n);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int t = 0; t < parts; t++) {
    int along = q->trans_a ? q->n : q->m, lo = along * t / parts, hi = along * (t + 1) / parts;
    if (hi <= lo) continue;
    if (!q->trans_a)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, q->trans_b ? CblasTrans : CblasNoTrans, hi - lo, q->n, q->k, 1.0f,
                  A + (size_t)lo * lda, lda, B, ldb, 1.0f, C + (size_t)lo * q->n, q->n);
    else
      cblas_sgemm(CblasRowMajor, CblasTrans, q->trans_b ? CblasTrans : CblasNoTrans, q->m, hi - lo, q->k, 1.0f, A,
                  lda, q->trans_b ? B + (size_t)lo * ldb : B + lo, ldb, 1.0f, C + lo, q->n);
  }
}

/* Seconds of the step's GEMMs at the fastest sgemm reachable here: OpenBLAS on the widest
 * kernels (blas_core.c) and, per shape, the faster of its own threading and a split across
 * OpenMP threads of single-threaded calls (DESIGN.md measured the split winning). */
static double time_sgemms(const gemm *g, int n, int reps) {
  size_t max = 0;
  for (int i = 0; i < n; i++) {
    size_t a = (size_t)g[i].m * g[i].k, b = (size_t)g[i].k * g[i].n, c = (size_t)g[i].m * g[i].n;
    if (a > max) max = a;
    if (b > max) max = b;
    if (c > max) max = c;
  }
  float *A = calloc(max, sizeof(float)), *B = calloc(max, sizeof(float)), *C = calloc(max, sizeof(float));
  for (size_t i = 0; i < max; i++) A[i] = B[i] = 0.001f * (float)(i % 997);
  int threads = qat_num_threads();
  double total = 0;
  for (int i = 0; i < n; i++) {
    double best = 1e30;
    for (int parts = 1; parts <= (threads > 1 ? threads : 1); parts += (threads > 1 ? threads - 1 : 1))
      for (int r = 0; r < reps; r++) {
        double t0 = now();
        sgemm_split(&g[i], A, B, C, parts);
        double t = now() - t0;
        if (t < best) best = t;
      }
    total += best;
  }
  free(A);
  free(B);
  free(C);
  return total;
}

/* Per-node forward/backward time over `steps` steps, to see where a step's time goes. */
static void profile(qat_model *m, const float *x, const int32_t *y, int batch, int steps) {
  qat_graph *g = &m->graph;
  double *fw = calloc((size_t)g->n_nodes, sizeof(double)), *bw = calloc((size_t)g->n_nodes, sizeof(double));
  for (int s = 0; s < steps; s++) {
    qat_exec ex = {.training = 1, .seed = 1, .step = (uint64_t)s};
    qat_model_schedule(m, s, &ex);
    float loss;
    qat_model_step(m, x, y, batch, &ex, 0, &loss, NULL); /* sets batch and labels */
    for (int i = 0; i < g->n_nodes; i++) {
      double t0 = now();
      qat_node_info(&g->nodes[i])->forward(&g->nodes[i], &ex);
      fw[i] += now() - t0;
    }
    for (int i = g->n_nodes - 1; i >= 0; i--) {
      if (!g->nodes[i].output->grad) continue;
      double t0 = now();
      qat_node_info(&g->nodes[i])->backward(&g->nodes[i], &ex);
      bw[i] += now() - t0;
    }
  }
  for (int i = 0; i < g->n_nodes; i++)
    printf("    node %2d %-22s fwd %7.3f ms  bwd %7.3f ms\n", i, qat_node_info(&g->nodes[i])->name,
           fw[i] / steps * 1e3, bw[i] / steps * 1e3);
  free(fw);
  free(bw);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct stepper {
  qat_model *m;
  qat_optimizer opt;
  int64_t step;
} stepper;

static void stepper_init(stepper *st, qat_model *m, int steps) {
  qat_optimizer_spec os = {.kind = QAT_OPT_ADAM, .learning_rate = 1e-3f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f};
  qat_schedule_spec sched = {0};
  st->m = m;
  st->step = 0;
  qat_optimizer_init(&st->opt, &os, &sched, m->n_params, m->n_decay, steps + 3);
}

/* Seconds of one training step: forward, backward, Adam update. */
static double stepper_run(stepper *st, const float *x, const int32_t *y, int batch) {
  qat_exec ex = {.training = 1, .seed = 1, .step = (uint64_t)st->step, .halves = 1}; /* as qat train */
  qat_model_schedule(st->m, st->step, &ex);
  double t0 = now();
  float loss;
  qat_model_step(st->m, x, y, batch, &ex, 1, &loss, NULL);
  qat_optimizer_step(&st->opt, st->m->params, st->m->grads, qat_vector_norm(st->m->grads, st->m->n_params));
  st->step++;
  return now() - t0;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return v[n / 2];
}

int main(int argc, char **argv) {
  int steps = 20, threads = 0, json = 0, prof = 0, config_batch = 32;
  const char *config = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--profile")) prof = 1;
    else if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) config_batch = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: %s [--steps N] [--threads N] [--json] [--profile] [--config FILE --batch N]\n", argv[0]);
      return 2;
    }
  }
  if (steps < 3) steps = 3;
  if (threads > 0) qat_set_threads(threads);
  if (!json) {
    printf("train_step: forward + backward + Adam update, %d threads, median of %d steps\n", qat_num_threads(), steps);
    printf("BLAS: %s\n", qat_blas_describe());
    printf("%-10s %5s %10s %12s %12s %12s %8s %11s %9s\n", "model", "batch", "ms/step", "MFLOP/sample",
           "step GFLOP/s", "sgemm GFLOP/s", "ratio", "QAT ms/step", "QAT/float");
  } else {
    printf("[");
  }
  int first = 1;
  qat_config cfg;
  if (config && qat_config_load(config, &cfg)) {
    fprintf(stderr, "train_step: %s\n", qat_error_message());
    return 1;
  }
  if (config_batch < 1) config_batch = 32;
  for (int cifar = 0; cifar <= (config ? 0 : 1); cifar++)
    for (int batch = config ? config_batch : 32; batch <= (config ? config_batch : 64); batch *= 2) {
      qat_layer_spec layers[16];
      qat_model_spec spec = config ? cfg.model : seed_model(cifar, layers);
      qat_model *m;
      if (qat_model_create(&m, &spec, batch, 1)) {
        fprintf(stderr, "train_step: %s\n", qat_error_message());
        return 1;
      }
      int64_t in = qat_tensor_size(m->input) / m->input->dims[0] * batch;
      float *x = malloc((size_t)in * sizeof(float));
      int32_t *y = malloc((size_t)batch * sizeof(int32_t));
      qat_rng r;
      qat_rng_seed(&r, 3);
      for (int64_t i = 0; i < in; i++) x[i] = qat_rng_uniform(&r);
      for (int i = 0; i < batch; i++) y[i] = (int32_t)qat_rng_below(&r, 10);
      /* the same model quantization-aware: fake quant on input, weights, biases, outputs */
      spec.quantize.enabled = 1;
      spec.quantize.decay = 0.999f;
      qat_model *mq;
      if (qat_model_create(&mq, &spec, batch, 1)) {
        fprintf(stderr, "train_step: %s\n", qat_error_message());
        return 1;
      }
      gemm g[64];
      double flops;
      int ng = collect_gemms(m, g, &flops);
      /* Float step, QAT step and the GEMM reference take turns, so a drift in the machine's
       * speed hits all three alike; ratios are medians of the per-round ratios. */
      stepper sf, sq;
      stepper_init(&sf, m, steps);
      stepper_init(&sq, mq, steps);
      for (int w = 0; w < 3; w++) { /* warm-up: first-touch page faults */
        stepper_run(&sf, x, y, batch);
        stepper_run(&sq, x, y, batch);
      }
      double *tf = malloc((size_t)steps * sizeof(double)), *tq = malloc((size_t)steps * sizeof(double));
      double *tg = malloc((size_t)steps * sizeof(double)), *rq = malloc((size_t)steps * sizeof(double));
      double *rg = malloc((size_t)steps * sizeof(double));
      for (int s = 0; s < steps; s++) {
        tf[s] = stepper_run(&sf, x, y, batch);
        tq[s] = stepper_run(&sq, x, y, batch);
        tg[s] = time_sgemms(g, ng, 2);
        rq[s] = tq[s] / tf[s];
        rg[s] = tg[s] / tf[s]; /* step GFLOP/s over sgemm GFLOP/s */
      }
      double step_s = median(tf, steps), qat_s = median(tq, steps), sgemm_s = median(tg, steps);
      double qat_ratio = median(rq, steps), gemm_ratio = median(rg, steps);
      if (prof && !json) {
        printf("  %s batch %d, float:\n", cifar ? "cifar_cnn" : "mnist_cnn", batch);
        profile(m, x, y, batch, steps);
        printf("  %s batch %d, quantization-aware:\n", cifar ? "cifar_cnn" : "mnist_cnn", batch);
        profile(mq, x, y, batch, steps);
      }
      qat_optimizer_free(&sf.opt);
      qat_optimizer_free(&sq.opt);
      qat_model_free(mq);
      free(tf);
      free(tq);
      free(tg);
      free(rq);
      free(rg);
      double step_gflops = flops / step_s * 1e-9, sgemm_gflops = flops / sgemm_s * 1e-9;
      const char *name = config ? "config" : cifar ? "cifar_cnn" : "mnist_cnn";
      if (json)
        printf("%s{\"blas\":\"%s\",\"model\":\"%s\",\"batch\":%d,\"ms_per_step\":%.3f,\"mflop_per_sample\":%.2f,"
               "\"step_gflops\":%.2f,\"sgemm_gflops\":%.2f,\"ratio\":%.3f,\"qat_ms_per_step\":%.3f,"
               "\"qat_over_float\":%.3f}",
               first ? "" : ",", qat_blas_describe(), name, batch, step_s * 1e3, flops / batch * 1e-6, step_gflops, sgemm_gflops,
               gemm_ratio, qat_s * 1e3, qat_ratio);
      else
        printf("%-10s %5d %10.2f %12.2f %12.1f %12.1f %8.2f %11.2f %9.2f\n", name, batch, step_s * 1e3,
               flops / batch * 1e-6, step_gflops, sgemm_gflops, gemm_ratio, qat_s * 1e3, qat_ratio);
      first = 0;
      free(x);
      free(y);
      qat_model_free(m);
    }
  if (json) printf("]\n");
  return 0;
}
