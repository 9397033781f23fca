/* The widest vector unit for OpenBLAS's kernels.
 *
 * A DYNAMIC_ARCH OpenBLAS picks its kernels once, in its library constructor, from a table of
 * CPU models; a model newer than the table (0.3.21 on family 6 model 207, AVX-512 + AMX) falls
 * back to its Prescott (SSE3) kernels, and the float step runs ~40% slower than with the
 * SkylakeX ones. Here the CPU's features (cpuid through __builtin_cpu_supports, which also
 * checks that the OS saves the wide registers) name the widest kernel family, never a model
 * number, and when OpenBLAS chose a narrower one we ask it to choose again: its exported
 * `gotoblas` pointer is cleared and its own gotoblas_dynamic_init() re-runs with
 * OPENBLAS_CORETYPE set for the call, so its init_parameter() sets the blocking sizes of the
 * new kernels exactly as at load time. This happens in a constructor of ours, which runs after
 * OpenBLAS's (a library's constructors run after those of the libraries it links), before any
 * BLAS call, so library users (libqat.so, the Python binding) get it too, without a re-exec.
 * The thread count is OpenBLAS state this leaves alone. A user's OPENBLAS_CORETYPE always
 * wins; an OpenBLAS without DYNAMIC_ARCH, or another BLAS, lacks the weak symbols and is left
 * as it is. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qat/autograd.h"

char *openblas_get_corename(void) __attribute__((weak));
char *openblas_get_config(void) __attribute__((weak));
void gotoblas_dynamic_init(void) __attribute__((weak));
extern void *gotoblas __attribute__((weak));

static char blas_note[96] = "";

int qat_blas_core_rank(const char *core) {
  static const char *const w512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
  static const char *const w256[] = {"Haswell", "Zen", "Excavator"};
  if (!core) return 0;
  for (size_t i = 0; i < sizeof w512 / sizeof *w512; i++)
    if (!strcasecmp(core, w512[i])) return 2;
  for (size_t i = 0; i < sizeof w256 / sizeof *w256; i++)
    if (!strcasecmp(core, w256[i])) return 1;
  return 0;
}

const char *qat_cpu_vector_isa(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "AVX-512";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "AVX2";
  return "SSE";
}

const char *qat_blas_core_for_isa(const char *isa) {
  if (!strcmp(isa, "AVX-512")) return "SkylakeX";
  if (!strcmp(isa, "AVX2")) return "Haswell";
  return NULL;
}

const char *qat_blas_plan(const char *isa, const char *core, int user_forced) {
  const char *want = qat_blas_core_for_isa(isa);
  if (user_forced || !want || qat_blas_core_rank(core) >= qat_blas_core_rank(want)) return NULL;
  return want;
}

const char *qat_blas_core(void) { return openblas_get_corename ? openblas_get_corename() : "unknown"; }

int qat_blas_select_core(const char *core) {
  if (!openblas_get_corename || !gotoblas_dynamic_init || !&gotoblas || !openblas_get_config ||
      !strstr(openblas_get_config(), "DYNAMIC_ARCH"))
    return -1;
  const char *user = getenv("OPENBLAS_CORETYPE");
  char *saved = user ? strdup(user) : NULL;
  if (user && !saved) return -1;
  setenv("OPENBLAS_CORETYPE", core, 1);
  gotoblas = NULL;
  gotoblas_dynamic_init();
  if (saved) setenv("OPENBLAS_CORETYPE", saved, 1);
  else unsetenv("OPENBLAS_CORETYPE");
  free(saved);
  return strcasecmp(openblas_get_corename(), core) ? -1 : 0;
}

const char *qat_blas_describe(void) { return blas_note[0] ? blas_note : qat_blas_core(); }

__attribute__((constructor)) static void qat_blas_widest(void) {
  const char *isa = qat_cpu_vector_isa(), *before = qat_blas_core();
  const char *want = qat_blas_plan(isa, before, getenv("OPENBLAS_CORETYPE") != NULL);
  const char *why = getenv("OPENBLAS_CORETYPE") ? ", OPENBLAS_CORETYPE" : "";
  if (want) {
    char was[32];
    snprintf(was, sizeof was, "%s", before);
    if (qat_blas_select_core(want) == 0) {
      snprintf(blas_note, sizeof blas_note, "OpenBLAS %s (not its %s), %s", want, was, isa);
      return;
    }
    why = ", narrower than the CPU: OpenBLAS refused to switch";
  }
  snprintf(blas_note, sizeof blas_note, "OpenBLAS %s, %s%s", qat_blas_core(), isa, why);
}
