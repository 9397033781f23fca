/* Data-parallel training over MPI: one process (rank) per share of each global batch.
 *
 * Built with MPI (QAT_MPI, on when CMake finds mpicc), qat_dist_init calls MPI_Init when an MPI
 * launcher started the process (mpirun / mpiexec / srun set their environment); otherwise,
 * and always in a build without MPI, the process is rank 0 of 1 and nothing here talks to
 * anybody. A build without MPI refuses to run under a launcher with more than one rank
 * rather than letting N copies train side by side and write the same files.
 *
 * Collectives that fail (a rank died) end the whole job: MPI's default error handler aborts,
 * and the launcher names the rank that went away. */
#ifndef QAT_DIST_H
#define QAT_DIST_H

#include <stdint.h>

#include "qat/autograd.h"

typedef struct qat_dist {
  int rank, size;   /* 0 and 1 without MPI */
  int local_size;   /* ranks on this machine (for the default thread count) */
  int mpi;          /* MPI_Init was called: qat_dist_finalize must be too */
} qat_dist;

/* 1 when this binary was built with MPI. */
int qat_dist_compiled(void);
/* 1 when the environment says an MPI launcher started this process with more than one rank
 * (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_SIZE / SLURM_STEP_NUM_TASKS under srun). */
int qat_dist_launched(void);
int qat_dist_init(qat_dist *d, int *argc, char ***argv);
void qat_dist_finalize(qat_dist *d);

/* The collective the autograd ops use (qat_collective): sums in double, min/max in float. */
void qat_dist_collective(const qat_dist *d, qat_collective *c);

/* In place, over all ranks. Every rank gets the same bits: the sum of n floats is formed once
 * per element by the MPI library and distributed (2 ranks: a + b == b + a in IEEE arithmetic). */
void qat_dist_sum_float(const qat_dist *d, float *v, int64_t n);
void qat_dist_sum_double(const qat_dist *d, double *v, int n);
int qat_dist_max_int(const qat_dist *d, int v);
/* 1 when every rank passed the same value. */
int qat_dist_same(const qat_dist *d, uint64_t v);
/* Blocks until every rank arrives. */
void qat_dist_barrier(const qat_dist *d);

/* The gradient sum of a data-parallel step, optionally overlapped with backward: as soon as
 * backward has passed the last node writing a parameter of at least bucket_floats gradients,
 * that gradient goes into a non-blocking allreduce of its own, and each later node's
 * grads_ready call moves the transfers on (MPI progresses only inside its calls); the smaller
 * ones go at the end, in runs of neighbours. Each element is still summed once by the MPI
 * library, so the result is what qat_dist_sum_float gives.
 * Whether it overlaps (qat_grad_sync_overlaps): when the ranks span more than one machine, or
 * as QAT_OVERLAP_GRADS=1 / 0 says. On one machine the transfers are copies by the same cores
 * that run backward, and overlapping them measured 0-2 % slower on the seed CNN (bench/scale);
 * without overlap finish is one blocking qat_dist_sum_float.
 *   qat_grad_sync_create   after the model is built (segments: qat_model_grad_segments;
 *                          train.h's qat_train_grad_sync does both and attaches)
 *   qat_grad_sync_attach   once: points the collective's grads_ready at the sync (or NULL)
 *   qat_grad_sync_finish   after each backward: sums what is left, waits for all of it
 * Without MPI or with one rank, attach and finish do nothing. */
int qat_grad_sync_overlaps(const qat_dist *d);
typedef struct qat_grad_sync qat_grad_sync;
int qat_grad_sync_create(qat_grad_sync **out, const qat_dist *d, float *grads, const qat_grad_segment *seg,
                         int n_seg, int n_nodes, int64_t bucket_floats);
void qat_grad_sync_attach(qat_grad_sync *s, qat_collective *c);
void qat_grad_sync_finish(qat_grad_sync *s);
void qat_grad_sync_free(qat_grad_sync *s);

/* Agreement on failure after a step that can fail on some ranks only (reading files, rank 0
 * writing a checkpoint): every rank passes its status; when any failed, every rank returns
 * the status of the lowest failing rank with its message (prefixed "rank R: " when R > 0), so
 * that rank 0 can report it once and all ranks stop together. */
int qat_dist_agree(const qat_dist *d, int status);

/* For a failure only this rank saw, where the others may already wait in a collective:
 * prints "qat: error: rank R of N: <message>" and aborts the whole job (exit code from
 * status). Returns only without MPI. */
void qat_dist_abort(const qat_dist *d, int status);

/* Seconds on a monotonic clock. */
double qat_dist_time(void);

#endif
