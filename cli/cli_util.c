/* Small pieces every CLI command shares (cli/cli.h). */
#include "cli/cli.h"

#include <string.h>
#include <sys/stat.h>

#include "qat/config.h"
#include "qat/data.h"
#include "qat/error.h"

#include <stdlib.h>

#include "qat/file.h"

void qat_cli_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

int qat_cli_load_model(const char *path, const qat_rt_options *opt, qat_rt_model **out) {
  *out = NULL;
  const size_t cap = opt && opt->max_file_bytes ? opt->max_file_bytes : QAT_RT_DEFAULT_MAX_FILE_BYTES;
  void *buf;
  size_t len;
  int rc = qat_file_read_all(path, "model", cap, &buf, &len);
  if (rc) return rc;
  rc = qat_rt_model_load_buffer(buf, len, path, opt, out);
  free(buf);
  return rc;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

int qat_cli_data_source(const char *source, const int input_shape[3], qat_dataset *out, int *recognized) {
  memset(out, 0, sizeof *out);
  *recognized = 1;
  qat_config cfg;
  memset(&cfg, 0, sizeof cfg);
  qat_data_spec spec;
  memset(&spec, 0, sizeof spec);
  const qat_data_spec *use = &spec;
  struct stat st;
  int rc;
  if (ends_with(source, ".yaml") || ends_with(source, ".yml")) {
    if ((rc = qat_config_load(source, &cfg))) return rc;
    if (cfg.data.absent) {
      qat_config_free(&cfg);
      return qat_fail(QAT_ERR_USAGE, "%s: has no data: section to take samples from", source);
    }
    use = &cfg.data;
  } else if (ends_with(source, ".npz")) {
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
  qat_config_free(&cfg);
  return rc;
}
