/* CIFAR-10 binary batch reader (plain or gzip). */
#include "fuzz/fuzz_common.h"
#include "qat/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > QAT_FUZZ_MAX_INPUT) return 0;
  char path[64];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  if (fd < 0) return 0;
  qat_error_clear();
  qat_dataset ds = {0};
  const char *paths[1] = {path};
  int rc = qat_cifar10_load(paths, 1, &ds);
  fuzz_check_message(rc);
  qat_dataset_free(&ds);
  close(fd);
  return 0;
}
