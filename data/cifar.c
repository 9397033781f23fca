/* CIFAR-10 binary batches: records of one label byte and a 32x32 image stored as three
 * planes (R, G, B), 3073 bytes in all, no header. */
#include <stdlib.h>
#include <string.h>

#include "data/source.h"
#include "qat/data.h"
#include "qat/error.h"

#define CIFAR_SIDE 32
#define CIFAR_PLANE (CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_PIXELS (3 * CIFAR_PLANE)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10

/* Validates one file's records and appends them (NHWC) to images/labels at index *n. */
static int cifar_append(const char *path, const uint8_t *data, int64_t len, uint8_t *images,
                        uint8_t *labels, int64_t *n) {
  int64_t records = len / CIFAR_RECORD;
  for (int64_t r = 0; r < records; r++) {
    const uint8_t *rec = data + r * CIFAR_RECORD;
    if (rec[0] >= CIFAR_CLASSES)
      return qat_fail(QAT_ERR_FORMAT, "%s: label %d in record %lld (byte offset %lld) out of "
                      "range [0,%d)", path, rec[0], (long long)r,
                      (long long)(r * CIFAR_RECORD), CIFAR_CLASSES);
    labels[*n] = rec[0];
    uint8_t *img = images + *n * CIFAR_PIXELS;
    const uint8_t *planes = rec + 1;
    for (int p = 0; p < CIFAR_PLANE; p++)
      for (int ch = 0; ch < 3; ch++) img[p * 3 + ch] = planes[ch * CIFAR_PLANE + p];
    (*n)++;
  }
  return QAT_OK;
}

static int cifar_check_size(const char *path, int64_t len) {
  if (len == 0)
    return qat_fail(QAT_ERR_FORMAT, "%s: empty (0 bytes); a CIFAR-10 file holds %d-byte "
                    "records (1 label byte + %d pixel bytes)", path, CIFAR_RECORD, CIFAR_PIXELS);
  if (len % CIFAR_RECORD) {
    /* CIFAR-100's records carry a coarse and a fine label. */
    const char *hint = len % (CIFAR_RECORD + 1) == 0 ? "; it looks like CIFAR-100 (3074-byte "
                                                       "records), which is not supported"
                                                     : "";
    return qat_fail(QAT_ERR_FORMAT, "%s: size %lld bytes is not a multiple of the %d-byte "
                    "CIFAR-10 record (1 label byte + %d pixel bytes): %lld whole records and "
                    "%lld bytes left over%s", path, (long long)len, CIFAR_RECORD, CIFAR_PIXELS,
                    (long long)(len / CIFAR_RECORD), (long long)(len % CIFAR_RECORD), hint);
  }
  return QAT_OK;
}

int qat_cifar10_load(const char *const *paths, int n_paths, qat_dataset *out) {
  memset(out, 0, sizeof *out);
  if (n_paths < 1) return qat_fail(QAT_ERR_USAGE, "CIFAR-10: no batch files given");
  uint8_t *images = NULL, *labels = NULL, *data = NULL;
  int64_t n = 0, total_bytes = 0;
  int rc = QAT_OK;
  for (int i = 0; i < n_paths; i++) {
    qat_source src;
    rc = qat_source_open(&src, paths[i]);
    if (rc) goto free_dataset;
    int64_t len;
    rc = qat_source_read_all(&src, QAT_DATA_MAX_BYTES, &data, &len);
    qat_source_close(&src);
    if (rc) goto free_dataset;
    rc = cifar_check_size(paths[i], len);
    if (rc) goto free_data;
    if (len > QAT_DATA_MAX_BYTES - total_bytes) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: with the %d files before it, the data exceed the "
                    "%lld-byte limit", paths[i], i, (long long)QAT_DATA_MAX_BYTES);
      goto free_data;
    }
    int64_t records = len / CIFAR_RECORD;
    uint8_t *grown = realloc(images, (size_t)((n + records) * CIFAR_PIXELS));
    if (!grown) {
      rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", paths[i]);
      goto free_data;
    }
    images = grown;
    grown = realloc(labels, (size_t)(n + records));
    if (!grown) {
      rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", paths[i]);
      goto free_data;
    }
    labels = grown;
    rc = cifar_append(paths[i], data, len, images, labels, &n);
    if (rc) goto free_data;
    total_bytes += len;
    free(data);
    data = NULL;
  }
  out->n = n;
  out->h = out->w = CIFAR_SIDE;
  out->c = 3;
  out->images = images;
  out->labels = labels;
  out->num_classes = CIFAR_CLASSES;
  out->owns = 1;
  return QAT_OK;

free_data:
  free(data);
free_dataset:
  free(images);
  free(labels);
  return rc;
}
