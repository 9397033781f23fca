#include "fakequant/simd.h"

#include <stdlib.h>
#include <string.h>

int qat_simd_cpu(void) {
  static int cpu = -1; /* racy first reads all compute the same value */
  if (cpu >= 0) return cpu;
  int p = QAT_SIMD_PLAIN;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) p = QAT_SIMD_AVX2;
  if (p == QAT_SIMD_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512vnni"))
    p = QAT_SIMD_AVX512;
#endif
  cpu = p;
  return cpu;
}

int qat_simd_path(void) {
  static int path = -1;
  if (path >= 0) return path;
  const char *e = getenv("QAT_SIMD");
  const int cap = e && e[0] == '0' ? QAT_SIMD_PLAIN : e && !strcmp(e, "avx2") ? QAT_SIMD_AVX2 : QAT_SIMD_AVX512;
  const int cpu = qat_simd_cpu();
  path = cpu < cap ? cpu : cap;
  return path;
}

int qat_simd_vbmi(void) {
  static int vbmi = -1;
  if (vbmi >= 0) return vbmi;
  int v = 0;
#if defined(__x86_64__) || defined(__i386__)
  v = qat_simd_path() == QAT_SIMD_AVX512 && __builtin_cpu_supports("avx512vbmi");
#endif
  vbmi = v;
  return vbmi;
}
