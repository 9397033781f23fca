/* YAML config parse + model build (shape inference, parameter allocation). */
#include "fuzz/fuzz_common.h"
#include "qat/config.h"
#include "qat/keras.h"
#include "qat/model.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > QAT_FUZZ_MAX_INPUT) return 0;
  /* A config may ask for gigabytes of activations, legally; the graph's limits refuse it here
   * under libFuzzer's 1 GiB per allocation (found: 1,655,366 filters, 2.6 GB) and 2 GiB RSS
   * (found: a [655368, 8, 1] Conv1D input, 1.3 GB in many smaller activations). */
  qat_graph_max_activation_bytes = (size_t)256 << 20;
  qat_graph_max_bytes = (size_t)768 << 20;
  qat_error_clear();
  qat_config cfg;
  int rc = qat_config_parse((const char *)data, size, "fuzz.yaml", &cfg);
  fuzz_check_message(rc);
  if (rc) return 0;
  /* model.init / keras sources would open other files: only self-contained configs build */
  if (!cfg.model.init) {
    qat_model *m = NULL;
    rc = qat_model_create(&m, &cfg.model, 2, 1);
    fuzz_check_message(rc);
    if (rc == QAT_OK) qat_model_free(m);
  }
  qat_config_free(&cfg);
  return 0;
}
