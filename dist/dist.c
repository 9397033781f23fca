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

/* ---- gradient buckets overlapped with backward ---- */
int qat_grad_sync_overlaps(const qat_dist *d) {
  const char *e = getenv("QAT_OVERLAP_GRADS");
  if (e && (!strcmp(e, "0") || !strcmp(e, "1"))) return e[0] == '1';
  return d->size > 1 && d->local_size < d->size;
}

struct qat_grad_sync {
  const qat_dist *d;
  float *grads;
  int64_t n, bucket;
  int overlap;
  qat_grad_segment *seg; /* by offset */
  int n_seg, n_nodes;
  int *by_node, *node_first; /* segments finishing at node i: by_node[node_first[i] .. node_first[i + 1]) */
  unsigned char *started;
  MPI_Request *req;
  int n_req;
};

static int seg_by_offset(const void *a, const void *b) {
  const qat_grad_segment *x = a, *y = b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void sync_start(qat_grad_sync *s, int64_t offset, int64_t size) {
  MPI_Iallreduce(MPI_IN_PLACE, s->grads + offset, (int)size, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &s->req[s->n_req++]);
}

static void sync_ready(void *ctx, int node) {
  qat_grad_sync *s = ctx;
  if (node < 0 || node >= s->n_nodes) return;
  for (int k = s->node_first[node]; k < s->node_first[node + 1]; k++) {
    const int i = s->by_node[k];
    if (s->seg[i].size < s->bucket) continue;
    sync_start(s, s->seg[i].offset, s->seg[i].size);
    s->started[i] = 1;
  }
  if (s->n_req) {
    int done;
    MPI_Testall(s->n_req, s->req, &done, MPI_STATUSES_IGNORE);
  }
}

int qat_grad_sync_create(qat_grad_sync **out, const qat_dist *d, float *grads, const qat_grad_segment *seg,
                         int n_seg, int n_nodes, int64_t bucket_floats) {
  qat_grad_sync *s = calloc(1, sizeof *s);
  const size_t ns = (size_t)(n_seg > 0 ? n_seg : 1);
  if (!s || !(s->seg = malloc(ns * sizeof *s->seg)) || !(s->by_node = malloc(ns * sizeof *s->by_node)) ||
      !(s->node_first = calloc((size_t)(n_nodes > 0 ? n_nodes : 0) + 1, sizeof *s->node_first)) ||
      !(s->started = calloc(ns, 1)) || !(s->req = malloc(ns * sizeof *s->req))) {
    qat_grad_sync_free(s);
    return qat_fail(QAT_ERR_NOMEM, "out of memory for the gradient buckets");
  }
  s->d = d;
  s->grads = grads;
  for (int i = 0; i < n_seg; i++)
    if (seg[i].offset + seg[i].size > s->n) s->n = seg[i].offset + seg[i].size;
  s->overlap = qat_grad_sync_overlaps(d);
  s->n_seg = n_seg;
  s->n_nodes = n_nodes;
  s->bucket = bucket_floats > 0 ? bucket_floats : 1;
  if (n_seg > 0) memcpy(s->seg, seg, (size_t)n_seg * sizeof *seg);
  qsort(s->seg, ns, sizeof *s->seg, seg_by_offset);
  for (int i = 0; i < n_seg; i++) /* counting sort by the node that finishes them */
    if (s->seg[i].ready_after >= 0 && s->seg[i].ready_after < n_nodes) s->node_first[s->seg[i].ready_after + 1]++;
  for (int i = 0; i < n_nodes; i++) s->node_first[i + 1] += s->node_first[i];
  for (int node = 0, k = 0; node < n_nodes; node++)
    for (int i = 0; i < n_seg; i++)
      if (s->seg[i].ready_after == node) s->by_node[k++] = i;
  *out = s;
  return QAT_OK;
}

void qat_grad_sync_attach(qat_grad_sync *s, qat_collective *c) {
  c->grads_ready = s->d->size > 1 && s->overlap ? sync_ready : NULL;
  c->grads_ctx = s;
}

void qat_grad_sync_finish(qat_grad_sync *s) {
  if (s->d->size < 2) return;
  if (!s->overlap) {
    qat_dist_sum_float(s->d, s->grads, s->n);
    return;
  }
  /* what backward did not start, in runs of neighbouring segments */
  for (int i = 0; i < s->n_seg;) {
    if (s->started[i]) {
      i++;
      continue;
    }
    int64_t from = s->seg[i].offset, to = from + s->seg[i].size;
    for (i++; i < s->n_seg && !s->started[i] && s->seg[i].offset == to && to - from < (1 << 30); i++)
      to += s->seg[i].size;
    sync_start(s, from, to - from);
  }
  MPI_Waitall(s->n_req, s->req, MPI_STATUSES_IGNORE);
  s->n_req = 0; /* ready for the next step */
  memset(s->started, 0, (size_t)s->n_seg);
}

void qat_grad_sync_free(qat_grad_sync *s) {
  if (!s) return;
  free(s->seg);
  free(s->by_node);
  free(s->node_first);
  free(s->started);
  free(s->req);
  free(s);
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

struct qat_grad_sync {
  int unused;
};

int qat_grad_sync_create(qat_grad_sync **out, const qat_dist *d, float *grads, const qat_grad_segment *seg,
                         int n_seg, int n_nodes, int64_t bucket_floats) {
  (void)d;
  (void)grads;
  (void)seg;
  (void)n_seg;
  (void)n_nodes;
  (void)bucket_floats;
  if (!(*out = calloc(1, sizeof **out))) return qat_fail(QAT_ERR_NOMEM, "out of memory for the gradient buckets");
  return QAT_OK;
}

void qat_grad_sync_attach(qat_grad_sync *s, qat_collective *c) {
  c->grads_ready = NULL;
  c->grads_ctx = s;
}

void qat_grad_sync_finish(qat_grad_sync *s) { (void)s; }

int qat_grad_sync_overlaps(const qat_dist *d) {
  (void)d;
  return 0;
}

void qat_grad_sync_free(qat_grad_sync *s) { free(s); }

#endif
