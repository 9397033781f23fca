/* `qat deploy`: not yet implemented in this commit. */
#include <stdio.h>

int qat_cmd_deploy(int argc, char **argv);

int qat_cmd_deploy(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "qat: error: deploy: not implemented yet\n");
  return 1;
}
