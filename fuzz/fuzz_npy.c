/* NumPy arrays: as `npy` the input is a .npy file (qat_npy_load), as `npz` a .npz archive whose
 * arrays x_train, y_train and a missing one are read (qat_npz_load through libzip), each under
 * a 64 MiB data cap, so that a shape that claims more is refused before allocating. */
#include "fuzz/fuzz_common.h"
#include "qat/npy.h"

#define FUZZ_NPY_CAP ((int64_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > QAT_FUZZ_MAX_INPUT) return 0;
  char path[64];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  if (fd < 0) return 0;
  qat_npy a = {0};
#ifdef QAT_FUZZ_NPZ
  static const char *const keys[3] = {"x_train", "y_train", "x_missing"};
  for (int k = 0; k < 3; k++) {
    qat_error_clear();
    int rc = qat_npz_load(path, keys[k], FUZZ_NPY_CAP, k == 2, &a);
    if (rc != 1) fuzz_check_message(rc);
    qat_npy_free(&a);
  }
#else
  qat_error_clear();
  fuzz_check_message(qat_npy_load(path, FUZZ_NPY_CAP, &a));
  qat_npy_free(&a);
  /* the in-memory parser the .npz reader uses, on the same bytes */
  qat_error_clear();
  fuzz_check_message(qat_npy_parse("fuzz.npy", data, (int64_t)size, FUZZ_NPY_CAP, &a));
  qat_npy_free(&a);
#endif
  close(fd);
  return 0;
}
