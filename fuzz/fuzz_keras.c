/* Keras import: a legacy .h5 (model_config + model_weights), a .weights.h5 or a Keras 3
 * .keras archive (zip: config.json + model.weights.h5); the file kind is sniffed from the
 * bytes, as `qat import` does. A successful import is also written out as a qat config. */
#include "fuzz/fuzz_common.h"
#include "qat/keras.h"

/* checkpoint/h5common.c. libhdf5 runs in the probe's child as in production (crashes, hangs
 * and huge allocations inside it are refusals there); the budget stays under -timeout=10. */
extern unsigned qat_h5_probe_seconds;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > QAT_FUZZ_MAX_INPUT) return 0;
  qat_h5_probe_seconds = 3;
  char path[64];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  if (fd < 0) return 0;
  qat_error_clear();
  qat_keras_model k;
  int rc = qat_keras_load(path, NULL, &k);
  fuzz_check_message(rc);
  if (rc == QAT_OK) {
    char *yaml = NULL;
    if (qat_keras_config_yaml(&k, "fuzz.keras", NULL, &yaml) == QAT_OK) free(yaml);
    qat_keras_free(&k);
  }
  close(fd);
  return 0;
}
