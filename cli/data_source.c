/* qat_cli_data_source (cli/cli.h): the samples a command line names. A config as the source
 * needs the config reader, which the runtime-only build leaves out (QAT_CLI_HAS_CONFIG). */
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#ifdef QAT_CLI_HAS_CONFIG
#include "qat/config.h"
#endif
#include "qat/data.h"
#include "qat/error.h"
#include "qat/file.h"

int qat_cli_data_source(const char *source, const int input_shape[3], qat_dataset *out, int *recognized) {
  memset(out, 0, sizeof *out);
  *recognized = 1;
#ifdef QAT_CLI_HAS_CONFIG
  qat_config cfg;
  memset(&cfg, 0, sizeof cfg);
#endif
  qat_data_spec spec;
  memset(&spec, 0, sizeof spec);
  const qat_data_spec *use = &spec;
  struct stat st;
  int rc;
  if (qat_path_has_suffix(source, ".yaml") || qat_path_has_suffix(source, ".yml")) {
#ifndef QAT_CLI_HAS_CONFIG
    return qat_fail(QAT_ERR_UNSUPPORTED, "%s: a config as data needs the full build (this qat is runtime-only)",
                    source);
#else
    if ((rc = qat_config_load(source, &cfg))) return rc;
    if (cfg.data.absent) {
      qat_config_free(&cfg);
      return qat_fail(QAT_ERR_USAGE, "%s: has no data: section to take samples from", source);
    }
    use = &cfg.data;
#endif
  } else if (qat_path_has_suffix(source, ".npz")) {
    spec.kind = QAT_DATASET_NPY;
    spec.path = (char *)source;
  } else if (stat(source, &st) == 0 && S_ISDIR(st.st_mode)) {
    spec.kind = QAT_DATASET_FOLDER;
    spec.path = (char *)source;
    memcpy(spec.input_shape, input_shape, sizeof spec.input_shape);
  } else {
    *recognized = 0;
    return QAT_OK;
  }
  qat_dataset train, test;
  memset(&train, 0, sizeof train);
  memset(&test, 0, sizeof test);
  rc = qat_data_load(use, &train, NULL, &test);
  if (rc == QAT_OK) {
    if (test.n > 0) {
      *out = test;
      qat_dataset_free(&train);
    } else {
      *out = train;
      qat_dataset_free(&test);
    }
  }
#ifdef QAT_CLI_HAS_CONFIG
  qat_config_free(&cfg);
#endif
  return rc;
}
