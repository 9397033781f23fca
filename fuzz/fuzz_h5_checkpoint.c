/* Checkpoint .h5: the tensor store through the HDF5 file-image path (every group, dataset and
 * attribute the file holds, read with the store's checks), then the whole checkpoint reader
 * (config text -> model -> parameters) on the same bytes. */
#include <string.h>

#include "fuzz/fuzz_common.h"
#include "qat/h5store.h"
#include "qat/train.h"

typedef struct walk_ctx {
  qat_h5_reader *r;
  char prefix[QAT_H5_MAX_NAME + 2];
  int depth, budget;
} walk_ctx;

static int visit(const char *name, qat_h5_kind kind, void *p) {
  walk_ctx *c = p;
  if (--c->budget < 0) return 1;
  char full[QAT_H5_MAX_NAME + 2];
  if ((size_t)snprintf(full, sizeof full, "%s/%s", c->prefix, name) >= sizeof full) return 0;
  char *s = NULL;
  int64_t i64;
  double d;
  if (qat_h5_read_attr_string(c->r, full, "config", &s) == QAT_OK) free(s);
  qat_h5_read_attr_int64(c->r, full, "step", &i64);
  qat_h5_read_attr_double(c->r, full, "scale", &d);
  if (kind == QAT_H5_DATASET) {
    int rank, type;
    int64_t dims[QAT_H5_MAX_RANK];
    void *buf = NULL;
    if (qat_h5_array_info(c->r, full, &type, &rank, dims) == QAT_OK && type >= 0 &&
        qat_h5_read_array_alloc(c->r, full, (qat_h5_dtype)type, &rank, dims, &buf, 1u << 24,
                                QAT_H5_FINITE) == QAT_OK)
      free(buf);
  } else if (kind == QAT_H5_GROUP && c->depth < 8) {
    walk_ctx sub = *c;
    memcpy(sub.prefix, full, sizeof full);
    sub.depth++;
    qat_h5_list(c->r, full, visit, &sub);
    c->budget = sub.budget;
  }
  return 0;
}

/* checkpoint/h5common.c. libhdf5 runs in the probe's child as in production (crashes, hangs
 * and huge allocations inside it are refusals there); the budget stays under -timeout=10. */
extern unsigned qat_h5_probe_seconds;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > QAT_FUZZ_MAX_INPUT) return 0;
  qat_h5_probe_seconds = 3;
  qat_error_clear();
  qat_h5_reader r;
  int rc = qat_h5_reader_open_image(&r, "fuzz.h5", data, size);
  fuzz_check_message(rc);
  if (rc == QAT_OK) {
    char **list = NULL;
    size_t n = 0;
    if (qat_h5_read_attr_strings(&r, "/", "layer_names", &list, &n) == QAT_OK)
      qat_h5_strings_free(list, n);
    walk_ctx c = {&r, "", 0, 256};
    qat_h5_list(&r, "/", visit, &c);
    qat_h5_reader_close(&r);
  }
  char path[64];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  if (fd < 0) return 0;
  qat_error_clear();
  qat_config cfg;
  qat_model *m = NULL;
  rc = qat_model_from_checkpoint(path, 2, &cfg, &m);
  fuzz_check_message(rc);
  if (rc == QAT_OK) {
    qat_model_free(m);
    qat_config_free(&cfg);
  }
  close(fd);
  return 0;
}
