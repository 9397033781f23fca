/* Small pieces every CLI command shares (cli/cli.h). */
#include "cli/cli.h"

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

/* Shared by eval MODEL.tflite (in the runtime-only build too) and the checkpoint commands. */
double qat_mean_iou(const int64_t *conf, int64_t k, int *classes) {
  double iou = 0;
  *classes = 0;
  for (int64_t c = 0; c < k; c++) {
    int64_t row = 0, col = 0;
    for (int64_t j = 0; j < k; j++) row += conf[c * k + j], col += conf[j * k + c];
    const int64_t uni = row + col - conf[c * k + c];
    if (uni > 0) iou += (double)conf[c * k + c] / (double)uni, ++*classes;
  }
  return *classes ? iou / *classes : 0.0;
}
