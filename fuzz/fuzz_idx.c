/* IDX reader: the input is an images file (plain or gzip); with the first byte's low bit set
 * the same bytes are also tried as a labels file next to a fixed 1-image images file. */
#include "fuzz/fuzz_common.h"
#include "qat/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > QAT_FUZZ_MAX_INPUT) return 0;
  char path[64];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  if (fd < 0) return 0;
  qat_error_clear();
  qat_dataset ds = {0};
  int rc = qat_idx_load_images(path, &ds);
  fuzz_check_message(rc);
  qat_dataset_free(&ds);
  if (size > 0 && (data[0] & 1)) {
    static const uint8_t one_image[16 + 4] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2,
                                              1, 2, 3, 4};
    char ipath[64];
    int ifd = fuzz_memfile(one_image, sizeof one_image, ipath, sizeof ipath);
    if (ifd >= 0) {
      qat_error_clear();
      qat_dataset both = {0};
      rc = qat_idx_load(ipath, path, 10, &both);
      fuzz_check_message(rc);
      qat_dataset_free(&both);
      close(ifd);
    }
  }
  close(fd);
  return 0;
}
