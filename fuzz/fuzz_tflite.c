/* .tflite load + verify + prepare + one invoke (fuzz_tflite_load), the readers of what a file
 * carries for `qat predict` (TFLite Support's input normalization, the packed labels.txt), and
 * the same with qat's
 * structural flatbuffer verifier switched off (fuzz_tflite_noverify, built with
 * -DQAT_FUZZ_NOVERIFY): as TensorFlow's own fuzzers do, the model reader and the kernels then
 * see buffers that are in bounds but inconsistent in every other way, so their own checks are
 * what is being tested. */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_common.h"
#include "qat/runtime.h"
#include "qat/tflite.h"

/* runtime/reader.c: a testing hook, never set outside fuzzing. */
extern int qat_rt_fuzz_skip_verifier;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > QAT_FUZZ_MAX_INPUT) return 0;
#ifdef QAT_FUZZ_NOVERIFY
  qat_rt_fuzz_skip_verifier = 1;
#endif
  qat_error_clear();
  /* both read the raw bytes, before (and whether or not) the model loads */
  float mean[QAT_TFLITE_METADATA_MAX_CHANNELS], std[QAT_TFLITE_METADATA_MAX_CHANNELS];
  (void)qat_tflite_read_normalization(data, size, mean, std, QAT_TFLITE_METADATA_MAX_CHANNELS);
  char *labels = NULL;
  size_t labels_len = 0;
  fuzz_check_message(qat_tflite_read_file(data, size, "labels.txt", &labels, &labels_len));
  free(labels);
  qat_error_clear();
  qat_rt_model *m = NULL;
  /* below libFuzzer's 1 GiB per allocation: a few bytes of file may declare a legal 1 GiB
   * activation, which is the cap's business, not a finding */
  qat_rt_options opt = {.max_arena_bytes = (size_t)256 << 20};
  int rc = qat_rt_model_load_buffer(data, size, "fuzz.tflite", &opt, &m);
  fuzz_check_message(rc);
  if (rc) return 0;
  /* Deterministic, varied inputs: every byte of every input tensor from the file's tail. */
  for (int i = 0; i < qat_rt_num_inputs(m); i++) {
    qat_rt_tensor_info info;
    if (qat_rt_tensor(m, qat_rt_input(m, i), &info)) continue;
    uint8_t *p = qat_rt_tensor_data(m, qat_rt_input(m, i));
    if (!p) continue;
    for (size_t b = 0; b < info.bytes; b++) p[b] = data[(b * 31 + 7) % size];
  }
  rc = qat_rt_invoke(m);
  fuzz_check_message(rc);
  qat_rt_model_free(m);
  return 0;
}
