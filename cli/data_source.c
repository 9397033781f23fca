/* qat_cli_data_source (cli/cli.h): the samples a command line names. A config as the source
 * needs the config reader, which the runtime-only build leaves out (QAT_CLI_HAS_CONFIG). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#ifdef QAT_CLI_HAS_CONFIG
#include "qat/config.h"
#endif
#include "qat/data.h"
#include "qat/error.h"
#include "qat/file.h"

int qat_cli_data_source(const char *source, const int input_shape[3], qat_dataset *out, int *recognized,
                        qat_data_info *info) {
  memset(out, 0, sizeof *out);
  if (info) memset(info, 0, sizeof *info);
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
  rc = qat_data_load_ex(use, NULL, &train, NULL, &test, info);
  /* arrays name their classes through the config's data.class_names */
  if (rc == QAT_OK && info && !info->n_class_names && use->n_class_names > 0) {
    if (!(info->class_names = calloc((size_t)use->n_class_names, sizeof *info->class_names)))
      rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", source);
    for (int i = 0; rc == QAT_OK && i < use->n_class_names; i++, info->n_class_names++)
      if (!(info->class_names[i] = strdup(use->class_names[i]))) rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", source);
  }
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
