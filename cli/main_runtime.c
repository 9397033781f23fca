/* `qat` of a runtime-only build (cmake -DQAT_RUNTIME_ONLY=ON): the commands that need nothing
 * but the .tflite runtime. The full build's cli/main.c has these and the training commands. */
#include <stdio.h>
#include <string.h>

#include "qat/runtime.h"
#include "cli/cli.h"
#include "qat/train.h" /* QAT_VERSION */

int qat_cmd_run(int argc, char **argv);     /* cli/cmd_run.c */
int qat_cmd_inspect(int argc, char **argv); /* cli/cmd_inspect.c */

static const char usage_main[] =
    "usage: qat <command> [options]\n"
    "\n"
    "qat's TensorFlow Lite runtime (this build has no training commands).\n"
    "\n"
    "commands:\n"
    "  eval MODEL.tflite  test accuracy of a .tflite model in qat's runtime\n"
    "  run MODEL        run a .tflite model once on raw tensor files (--input/--output)\n"
    "  inspect MODEL    operators, tensors, sizes, MACs and peak memory of a .tflite model\n"
    "\n"
    "  qat <command> --help   options of one command\n"
    "  qat --version          print the version\n"
    "\n"
    "exit codes: 0 ok, 2 bad usage, 3 bad data or model file, 4 I/O error, 1 anything else\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_main, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    fputs(usage_main, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("qat %s\n", QAT_VERSION);
    printf("runtime kernels: %s\n", qat_rt_kernels());
    return 0;
  }
  if (!strcmp(cmd, "eval")) return qat_cmd_eval_tflite(argc - 2, argv + 2);
  if (!strcmp(cmd, "run")) return qat_cmd_run(argc - 2, argv + 2);
  if (!strcmp(cmd, "inspect")) return qat_cmd_inspect(argc - 2, argv + 2);
  fprintf(stderr, "qat: unknown command '%s' (this build has only eval, run and inspect)\n", cmd);
  return 2;
}
