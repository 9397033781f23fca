/* Data-parallel scaling over MPI: throughput of N ranks (1 thread each) over one rank with one
 * thread, on the seed CNNs (or --config FILE), and the gradient allreduce's share of the
 * data-parallel step, as ratios measured in the same run.
 *
 *   mpirun -np 2 build/bench/scale [--steps K] [--rounds R] [--config FILE]
 *
 * Each round times K steps of one rank alone on the whole global batch (the other ranks sleep,
 * not spin, meanwhile) and then K steps of all ranks on their shares with the gradient
 * allreduce and the optimizer step; the ratios are medians of the per-round ratios, so load
 * that comes and goes on a shared machine touches both sides alike. allreduce/step is the
 * time rank 0 spends in the gradient allreduce (waiting for slower ranks included) over the
 * data-parallel step; alone/step the same allreduce with the ranks lined up first (its
 * transfer cost alone). Batches are synthetic
 * (seeded uniform pixels and labels): the data files are not needed. The gradient sum follows
 * qat train's choice (dist.h's qat_grad_sync): after backward on one machine, overlapped with
 * it across machines; QAT_OVERLAP_GRADS=1 or 0 forces either, for comparison. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qat/config.h"
#include "qat/dist.h"
#include "qat/error.h"
#include "qat/model.h"
#include "qat/optim.h"
#include "qat/rng.h"
#include "qat/train.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A barrier that sleeps instead of spinning, so a waiting rank leaves its core to the others. */
static void idle_barrier(void) {
  MPI_Request r;
  MPI_Ibarrier(MPI_COMM_WORLD, &r);
  for (int done = 0;;) {
    MPI_Test(&r, &done, MPI_STATUS_IGNORE);
    if (done) return;
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
}

typedef struct bench_run {
  qat_model *m;
  qat_collective coll; /* with the gradient sum attached */
  qat_grad_sync *sync;
  qat_optimizer opt;
  float *x;
  int32_t *y;
  int batch;
} bench_run;

static double steps(bench_run *b, const qat_dist *d, int k, int64_t *step, int distributed, double *allreduce) {
  qat_collective *coll = &b->coll;
  int ranks = distributed ? d->size : 1, rank = distributed ? d->rank : 0;
  int lo = (int)((int64_t)b->batch * rank / ranks), hi = (int)((int64_t)b->batch * (rank + 1) / ranks);
  size_t per = (size_t)b->m->spec.input_shape[0] * b->m->spec.input_shape[1] * b->m->spec.input_shape[2];
  coll->batch_offset = lo;
  coll->global_batch = b->batch;
  double t0 = qat_dist_time();
  for (int i = 0; i < k; i++, (*step)++) {
    qat_exec ex = {.coll = distributed ? coll : NULL, .training = 1, .seed = 1, .step = (uint64_t)*step,
                   .halves = ranks == 1}; /* as qat train */
    qat_model_schedule(b->m, *step, &ex);
    float loss;
    double c;
    qat_model_step(b->m, b->x + (size_t)lo * per, b->y + lo, hi - lo, &ex, 1, &loss, &c);
    if (distributed) {
      double t1 = qat_dist_time();
      qat_grad_sync_finish(b->sync);
      *allreduce += qat_dist_time() - t1;
    }
    qat_optimizer_step(&b->opt, b->m->params, b->m->grads, qat_vector_norm(b->m->grads, b->m->n_params));
  }
  return qat_dist_time() - t0;
}

static int bench_config(const char *path, const qat_dist *d, int k, int rounds) {
  qat_config cfg;
  int rc = qat_config_load(path, &cfg);
  if (rc) return rc;
  bench_run b = {0};
  b.batch = cfg.train.batch_size;
  if ((rc = qat_model_create(&b.m, &cfg.model, b.batch, cfg.train.seed))) goto done;
  if ((rc = qat_optimizer_init(&b.opt, &cfg.train.optimizer, &cfg.train.schedule, b.m->n_params, b.m->n_decay,
                               1000000)))
    goto done;
  qat_dist_collective(d, &b.coll);
  if ((rc = qat_train_grad_sync(&b.sync, d, b.m, &b.coll))) goto done;
  size_t per = (size_t)cfg.model.input_shape[0] * cfg.model.input_shape[1] * cfg.model.input_shape[2];
  b.x = malloc((size_t)b.batch * per * sizeof(float));
  b.y = malloc((size_t)b.batch * sizeof(int32_t));
  if (!b.x || !b.y) {
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto done;
  }
  qat_rng r;
  qat_rng_seed(&r, 7);
  for (size_t i = 0; i < (size_t)b.batch * per; i++) b.x[i] = (float)qat_rng_below(&r, 256) / 255.0f;
  for (int i = 0; i < b.batch; i++) b.y[i] = (int32_t)qat_rng_below(&r, (uint32_t)b.m->num_classes);
  double speedup[64], share[64], one_ms[64], many_ms[64];
  int64_t step = 0;
  double unused = 0;
  steps(&b, d, 2, &step, 1, &unused); /* warm-up: first-touch pages, MPI connections */
  for (int round = 0; round < rounds; round++) {
    double t_one = 0, allreduce = 0;
    if (d->rank == 0) t_one = steps(&b, d, k, &step, 0, &unused);
    idle_barrier();
    double t_many = steps(&b, d, k, &step, 1, &allreduce);
    double v[2] = {t_many, allreduce};
    MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    speedup[round] = t_one / v[0];
    share[round] = allreduce / t_many; /* rank 0's: time in MPI_Allreduce, waiting included */
    one_ms[round] = t_one / k * 1e3;
    many_ms[round] = v[0] / k * 1e3;
  }
  /* the allreduce alone, ranks lined up first: its cost without waiting for a slower rank */
  double alone[64];
  for (int round = 0; round < rounds; round++) {
    idle_barrier();
    double t0 = qat_dist_time();
    qat_dist_sum_float(d, b.m->grads, b.m->n_params);
    alone[round] = qat_dist_time() - t0;
  }
  if (d->rank == 0) {
    double s = median(speedup, rounds), a = median(share, rounds), t = median(alone, rounds);
    double many = median(many_ms, rounds);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    printf("%-24s %5d %9lld %11.1f %11.1f %14.2f %10.2f %14.3f %12.3f\n", name, b.batch, (long long)b.m->n_params,
           median(one_ms, rounds), many, s, s / d->size, a, t / (many * 1e-3));
  }
done:
  free(b.x);
  free(b.y);
  qat_optimizer_free(&b.opt);
  qat_grad_sync_free(b.sync);
  qat_model_free(b.m);
  qat_config_free(&cfg);
  return rc;
}

int main(int argc, char **argv) {
  int k = 20, rounds = 5;
  const char *config = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc) k = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
    else {
      fprintf(stderr, "usage: mpirun -np N bench/scale [--steps K] [--rounds R] [--config FILE]\n");
      return 2;
    }
  }
  if (k < 1 || rounds < 1 || rounds > 64) {
    fprintf(stderr, "scale: --steps must be >= 1 and --rounds in [1, 64]\n");
    return 2;
  }
  qat_dist d;
  if (qat_dist_init(&d, &argc, &argv) || !d.mpi || d.size < 2) {
    fprintf(stderr, "scale: run under an MPI launcher with 2 or more ranks: mpirun -np 2 %s\n", argv[0]);
    qat_dist_finalize(&d);
    return 2;
  }
  qat_set_threads(1);
  if (d.rank == 0) {
    printf("bench/scale: %d ranks x 1 thread against 1 rank x 1 thread, synthetic batches, medians of %d rounds of "
           "%d steps; gradient sum %s backward (QAT_OVERLAP_GRADS=%d)\n",
           d.size, rounds, k, qat_grad_sync_overlaps(&d) ? "overlapped with" : "after", qat_grad_sync_overlaps(&d));
    printf("%-24s %5s %9s %11s %11s %14s %10s %14s %12s\n", "model", "batch", "params", "1-rank ms", "N-rank ms",
           "throughput x", "efficiency", "allreduce/step", "alone/step");
  }
  const char *seeds[] = {QAT_SOURCE_DIR "/examples/fashion_mnist_cnn.yaml", QAT_SOURCE_DIR "/examples/cifar10_cnn.yaml"};
  int rc = 0;
  for (int i = 0; i < (config ? 1 : 2) && !rc; i++) {
    rc = bench_config(config ? config : seeds[i], &d, k, rounds);
    if (rc) fprintf(stderr, "scale: %s\n", qat_error_message());
  }
  qat_dist_finalize(&d);
  return rc ? 1 : 0;
}
