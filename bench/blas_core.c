/* What blas_core.c's in-process switch buys and costs: sgemm GFLOP/s on the core OpenBLAS runs
 * now, on its narrowest x86-64 kernels (Prescott, what 0.3.21 picks for CPUs it does not know)
 * and back on the widest the CPU allows, plus the switch's own time. Run it once plain and once
 * with OPENBLAS_CORETYPE=<the widest> to see the in-process switch reach the load-time speed.
 *
 *   bench/blas_core [--reps N]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qat/autograd.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The MNIST CNN's second conv forward at batch 32: [32*14*14, 288] x [288, 64]. */
static double gflops(int reps) {
  const int m = 32 * 14 * 14, n = 64, k = 288;
  float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
  for (int i = 0; i < m * k; i++) a[i] = 0.001f * (float)(i % 997);
  for (int i = 0; i < k * n; i++) b[i] = 0.002f * (float)(i % 991);
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    double t = now() - t0;
    if (t < best) best = t;
  }
  free(a);
  free(b);
  free(c);
  return 2.0 * m * n * k / best * 1e-9;
}

int main(int argc, char **argv) {
  int reps = 50;
  if (argc == 3 && !strcmp(argv[1], "--reps")) reps = atoi(argv[2]);
  const char *widest = qat_blas_core_for_isa(qat_cpu_vector_isa());
  printf("BLAS: %s\n", qat_blas_describe());
  printf("%-16s %8.1f GFLOP/s (as loaded)\n", qat_blas_core(), gflops(reps));
  double t0 = now();
  if (qat_blas_select_core("Prescott")) return 1;
  double t_narrow = now() - t0;
  printf("%-16s %8.1f GFLOP/s (switched in %.1f us)\n", qat_blas_core(), gflops(reps), t_narrow * 1e6);
  if (widest) {
    t0 = now();
    if (qat_blas_select_core(widest)) return 1;
    double t_wide = now() - t0;
    printf("%-16s %8.1f GFLOP/s (switched in %.1f us)\n", qat_blas_core(), gflops(reps), t_wide * 1e6);
  }
  return 0;
}
