/* Data-parallel collectives over MPI_COMM_WORLD, or a single process without MPI (see
 * include/qat/dist.h). */
#include "qat/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qat/error.h"

#ifdef QAT_HAVE_MPI
#include <mpi.h>
#endif

double qat_dist_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int env_int(const char *name) {
  const char *s = getenv(name);
  if (!s || !*s) return -1;
  char *end;
  long v = strtol(s, &end, 10);
  return *end == '\0' && v >= 0 && v < 1 << 24 ? (int)v : -1;
}

/* The number of ranks an MPI launcher announced in the environment, or -1 when none did:
 * Open MPI's mpirun (OMPI_COMM_WORLD_SIZE), MPICH / Intel MPI / srun --mpi=pmi2 (PMI_SIZE),
 * srun --mpi=pmix (PMIX_RANK, with Slurm's task count). */
static int launcher_size(void) {
  int n;
  if ((n = env_int("OMPI_COMM_WORLD_SIZE")) >= 0) return n;
  if ((n = env_int("PMI_SIZE")) >= 0) return n;
  if (getenv("PMIX_RANK") || getenv("SLURM_PROCID")) {
    if ((n = env_int("SLURM_STEP_NUM_TASKS")) >= 0) return n;
    if (getenv("PMIX_RANK")) return 2; /* some PMIx launcher: at least not known to be one */
  }
  return -1;
}

int qat_dist_launched(void) { return launcher_size() > 1; }

#ifdef QAT_HAVE_MPI

int qat_dist_compiled(void) { return 1; }

int qat_dist_init(qat_dist *d, int *argc, char ***argv) {
  memset(d, 0, sizeof *d);
  d->size = d->local_size = 1;
  if (launcher_size() < 0) return QAT_OK; /* started by hand: one process, no MPI at all */
  if (MPI_Init(argc, argv) != MPI_SUCCESS) return qat_fail(QAT_ERR_INTERNAL, "MPI_Init failed");
  d->mpi = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &d->size);
  int announced = launcher_size();
  if (d->size == 1 && announced > 1) {
    /* e.g. srun without --mpi=pmix: N copies that each think they are alone */
    MPI_Finalize();
    d->mpi = 0;
    return qat_fail(QAT_ERR_USAGE,
                    "the launcher started %d tasks but MPI sees each as alone; under Slurm use srun --mpi=pmix",
                    announced);
  }
  MPI_Comm local;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
    MPI_Comm_size(local, &d->local_size);
    MPI_Comm_free(&local);
  }
  return QAT_OK;
}

void qat_dist_finalize(qat_dist *d) {
  if (d->mpi) MPI_Finalize();
  d->mpi = 0;
}

static void coll_sum(void *ctx, double *v, int n) { qat_dist_sum_double(ctx, v, n); }

static void coll_min_max(void *ctx, float *min, float *max) {
  (void)ctx;
  MPI_Allreduce(MPI_IN_PLACE, min, 1, MPI_FLOAT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, max, 1, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
}

void qat_dist_collective(const qat_dist *d, qat_collective *c) {
  memset(c, 0, sizeof *c);
  c->ctx = (void *)d;
  c->sum = coll_sum;
  c->min_max = coll_min_max;
}

void qat_dist_sum_float(const qat_dist *d, float *v, int64_t n) {
  if (d->size < 2) return;
  /* MPI counts are int: large vectors go in pieces */
  for (int64_t at = 0; at < n; at += 1 << 30) {
    int len = (int)(n - at < (1 << 30) ? n - at : 1 << 30);
    MPI_Allreduce(MPI_IN_PLACE, v + at, len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
}

void qat_dist_sum_double(const qat_dist *d, double *v, int n) {
  if (d->size < 2 || n < 1) return;
  MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

int qat_dist_max_int(const qat_dist *d, int v) {
  if (d->size < 2) return v;
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return v;
}

int qat_dist_same(const qat_dist *d, uint64_t v) {
  if (d->size < 2) return 1;
  uint64_t lo = v, hi = v;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  return lo == hi;
}

void qat_dist_barrier(const qat_dist *d) {
  if (d->size > 1) MPI_Barrier(MPI_COMM_WORLD);
}

int qat_dist_agree(const qat_dist *d, int status) {
  if (d->size < 2) return status;
  int first = status ? d->rank : d->size;
  MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first == d->size) return QAT_OK;
  char msg[1024];
  int st = status;
  if (d->rank == first) snprintf(msg, sizeof msg, "%s", qat_error_message());
  MPI_Bcast(&st, 1, MPI_INT, first, MPI_COMM_WORLD);
  MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD);
  msg[sizeof msg - 1] = '\0';
  if (first == 0) return qat_fail(st, "%s", msg);
  return qat_fail(st, "rank %d: %s", first, msg);
}

void qat_dist_abort(const qat_dist *d, int status) {
  fprintf(stderr, "qat: error: rank %d of %d: %s\n", d->rank, d->size, qat_error_message());
  fflush(stderr);
  if (d->mpi) MPI_Abort(MPI_COMM_WORLD, qat_exit_code(status));
}

#else /* without MPI: one process */

int qat_dist_compiled(void) { return 0; }

int qat_dist_init(qat_dist *d, int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  memset(d, 0, sizeof *d);
  d->size = d->local_size = 1;
  if (qat_dist_launched())
    return qat_fail(QAT_ERR_UNSUPPORTED,
                    "started by an MPI launcher with %d ranks, but this qat was built without MPI; install "
                    "libopenmpi-dev and rebuild (QAT_MPI=ON), or run one process",
                    launcher_size());
  return QAT_OK;
}

void qat_dist_finalize(qat_dist *d) { (void)d; }

static void coll_sum(void *ctx, double *v, int n) {
  (void)ctx;
  (void)v;
  (void)n;
}

static void coll_min_max(void *ctx, float *min, float *max) {
  (void)ctx;
  (void)min;
  (void)max;
}

void qat_dist_collective(const qat_dist *d, qat_collective *c) {
  memset(c, 0, sizeof *c);
  c->ctx = (void *)d;
  c->sum = coll_sum;
  c->min_max = coll_min_max;
}

void qat_dist_sum_float(const qat_dist *d, float *v, int64_t n) {
  (void)d;
  (void)v;
  (void)n;
}
void qat_dist_sum_double(const qat_dist *d, double *v, int n) {
  (void)d;
  (void)v;
  (void)n;
}
int qat_dist_max_int(const qat_dist *d, int v) {
  (void)d;
  return v;
}
int qat_dist_same(const qat_dist *d, uint64_t v) {
  (void)d;
  (void)v;
  return 1;
}
void qat_dist_barrier(const qat_dist *d) { (void)d; }
int qat_dist_agree(const qat_dist *d, int status) {
  (void)d;
  return status;
}
void qat_dist_abort(const qat_dist *d, int status) {
  (void)d;
  (void)status;
}

#endif
