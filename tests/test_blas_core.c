/* blas_core.c: the widest-kernel choice by CPU features, and OpenBLAS's switch between cores
 * giving the same sgemm as a plain triple loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>

#include "qat/autograd.h"

static void test_plan(void **state) {
  (void)state;
  /* the case: an AVX-512 CPU OpenBLAS 0.3.21 does not know, left on Prescott */
  assert_string_equal(qat_blas_plan("AVX-512", "Prescott", 0), "SkylakeX");
  assert_string_equal(qat_blas_plan("AVX-512", "Haswell", 0), "SkylakeX");
  assert_string_equal(qat_blas_plan("AVX-512", "Zen", 0), "SkylakeX");
  assert_null(qat_blas_plan("AVX-512", "SkylakeX", 0));
  assert_null(qat_blas_plan("AVX-512", "Cooperlake", 0));   /* wider already: keep */
  assert_null(qat_blas_plan("AVX-512", "Prescott", 1));     /* OPENBLAS_CORETYPE wins */
  assert_string_equal(qat_blas_plan("AVX2", "Prescott", 0), "Haswell");
  assert_string_equal(qat_blas_plan("AVX2", "Sandybridge", 0), "Haswell");
  assert_null(qat_blas_plan("AVX2", "Zen", 0));             /* Zen runs the Haswell kernels */
  assert_null(qat_blas_plan("AVX2", "haswell", 0));
  assert_null(qat_blas_plan("SSE", "Prescott", 0));
  assert_null(qat_blas_plan("AVX2", "unknown", 1));
}

static void naive(int m, int n, int k, const float *a, const float *b, double *c) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[p * n + j];
      c[i * n + j] = s;
    }
}

static void check_sgemm(void) {
  enum { M = 67, N = 45, K = 93 };
  float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
  double *r = malloc(sizeof(double) * M * N);
  for (int i = 0; i < M * K; i++) a[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
  for (int i = 0; i < K * N; i++) b[i] = (float)((i * 53) % 89) / 44.0f - 1.0f;
  naive(M, N, K, a, b, r);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
  for (int i = 0; i < M * N; i++) assert_true(c[i] > r[i] - 1e-3 && c[i] < r[i] + 1e-3);
  free(a);
  free(b);
  free(c);
  free(r);
}

/* Moves OpenBLAS to its narrowest x86-64 kernels and back to what the constructor chose, each
 * time computing an sgemm; the user's OPENBLAS_CORETYPE survives the switches. */
static void test_switch(void **state) {
  (void)state;
  char start[32];
  snprintf(start, sizeof start, "%s", qat_blas_core());
  if (!strcmp(start, "unknown")) skip();
  const char *user = getenv("OPENBLAS_CORETYPE");
  char *saved = user ? strdup(user) : NULL;
  check_sgemm();
  assert_int_equal(qat_blas_select_core("Prescott"), 0);
  assert_string_equal(qat_blas_core(), "Prescott");
  check_sgemm();
  const char *isa = qat_cpu_vector_isa();
  if (qat_blas_core_for_isa(isa)) {
    assert_int_equal(qat_blas_select_core(qat_blas_core_for_isa(isa)), 0);
    check_sgemm();
  }
  assert_int_equal(qat_blas_select_core(start), 0);
  assert_string_equal(qat_blas_core(), start);
  check_sgemm();
  if (saved) assert_string_equal(getenv("OPENBLAS_CORETYPE"), saved);
  else assert_null(getenv("OPENBLAS_CORETYPE"));
  free(saved);
  /* the constructor's account names the core now running */
  assert_non_null(strstr(qat_blas_describe(), start));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_plan), cmocka_unit_test(test_switch)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
