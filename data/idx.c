/* IDX files (LeCun's MNIST format): a big-endian magic 00 00 <type> <ndims>, ndims big-endian
 * uint32 dimensions, then the data in row-major order. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "data/source.h"
#include "qat/data.h"
#include "qat/error.h"

#define IDX_UBYTE 0x08
#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
/* First allocation for a gzip payload; see read_payload. */
#define GZ_FIRST_ALLOC ((int64_t)1 << 24)

typedef struct idx_file {
  qat_source src;
  uint32_t dims[3];
  int64_t header_bytes;  /* 4 + 4 * ndims */
  int64_t payload_bytes; /* product of dims, checked */
} idx_file;

static const char *idx_type_name(unsigned t) {
  switch (t) {
  case 0x08: return "unsigned byte";
  case 0x09: return "signed byte";
  case 0x0B: return "int16";
  case 0x0C: return "int32";
  case 0x0D: return "float32";
  case 0x0E: return "float64";
  default: return "not an IDX type";
  }
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads and checks the header of an already opened file: `what` is "images" or "labels". */
static int idx_read_header(idx_file *f, uint32_t want_magic, const char *what) {
  const char *path = f->src.path;
  int want_ndims = (int)(want_magic & 0xff);
  unsigned char buf[4 + 4 * 3];
  size_t got;
  int rc = qat_source_read(&f->src, buf, 4, &got);
  if (rc) return rc;
  if (got < 4)
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: truncated header: expected at least 4 bytes (the IDX magic), got %zu%s",
                    path, got, qat_source_unit(&f->src));
  uint32_t magic = be32(buf);
  if (magic != want_magic) {
    unsigned type = (magic >> 8) & 0xff, ndims = magic & 0xff;
    const char *other = want_magic == IDX_MAGIC_IMAGES ? "labels" : "images";
    uint32_t other_magic = want_magic == IDX_MAGIC_IMAGES ? IDX_MAGIC_LABELS : IDX_MAGIC_IMAGES;
    if (magic >> 16)
      return qat_fail(QAT_ERR_FORMAT, "%s: bad magic 0x%08x (expected 0x%08x for %s): "
                      "not an IDX file (an IDX magic starts with two zero bytes)",
                      path, magic, want_magic, what);
    if (magic == other_magic)
      return qat_fail(QAT_ERR_FORMAT, "%s: bad magic 0x%08x (expected 0x%08x for %s): "
                      "this is an IDX %s file", path, magic, want_magic, what, other);
    if (type != IDX_UBYTE)
      return qat_fail(QAT_ERR_FORMAT, "%s: bad magic 0x%08x (expected 0x%08x for %s): "
                      "data type 0x%02x (%s) is not supported, only 0x08 (unsigned byte)",
                      path, magic, want_magic, what, type, idx_type_name(type));
    return qat_fail(QAT_ERR_FORMAT, "%s: bad magic 0x%08x (expected 0x%08x for %s): "
                    "%u dimensions, %s have %d", path, magic, want_magic, what, ndims, what,
                    want_ndims);
  }
  f->header_bytes = 4 + 4 * want_ndims;
  rc = qat_source_read(&f->src, buf + 4, (size_t)(4 * want_ndims), &got);
  if (rc) return rc;
  if (got < (size_t)(4 * want_ndims))
    return qat_fail(QAT_ERR_FORMAT, "%s: truncated header: expected %lld bytes, got %zu%s",
                    path, (long long)f->header_bytes, 4 + got, qat_source_unit(&f->src));
  /* Each dimension is < 2^32, so the product is checked one factor at a time. */
  uint64_t product = 1;
  int overflow = 0;
  for (int i = 0; i < want_ndims; i++) {
    f->dims[i] = be32(buf + 4 + 4 * i);
    if (f->dims[i] == 0)
      return qat_fail(QAT_ERR_FORMAT, "%s: dimension %d of %d is 0; %s need every dimension > 0",
                      path, i + 1, want_ndims, what);
    if (product > UINT64_MAX / f->dims[i]) overflow = 1;
    else product *= f->dims[i];
  }
  char shape[64];
  if (want_ndims == 3)
    snprintf(shape, sizeof shape, "%u x %u x %u", f->dims[0], f->dims[1], f->dims[2]);
  else
    snprintf(shape, sizeof shape, "%u", f->dims[0]);
  if (overflow)
    return qat_fail(QAT_ERR_FORMAT, "%s: %s of shape %s need more than 2^64 bytes", path,
                    what, shape);
  if (product > (uint64_t)QAT_DATA_MAX_BYTES)
    return qat_fail(QAT_ERR_FORMAT,
                    "%s: %s of shape %s need %llu bytes, more than the %lld-byte limit", path,
                    what, shape, (unsigned long long)product, (long long)QAT_DATA_MAX_BYTES);
  /* The batcher indexes one image with int arithmetic. */
  if (want_ndims == 3 && (uint64_t)f->dims[1] * f->dims[2] > INT_MAX)
    return qat_fail(QAT_ERR_FORMAT, "%s: images of %u x %u pixels are too large", path,
                    f->dims[1], f->dims[2]);
  f->payload_bytes = (int64_t)product;
  return QAT_OK;
}

/* A plain file's size is known up front: a truncated or overlong one is rejected before the
 * payload is allocated. */
static int idx_check_plain_size(const idx_file *f) {
  if (f->src.gz) return QAT_OK;
  int64_t want = f->header_bytes + f->payload_bytes;
  if (f->src.file_size < want)
    return qat_fail(QAT_ERR_FORMAT, "%s: truncated: expected %lld bytes, got %lld",
                    f->src.path, (long long)want, (long long)f->src.file_size);
  if (f->src.file_size > want)
    return qat_fail(QAT_ERR_FORMAT, "%s: expected %lld bytes, got %lld (trailing data)",
                    f->src.path, (long long)want, (long long)f->src.file_size);
  return QAT_OK;
}

/* A gzip file's decompressed size is only known by decompressing it, so its buffer grows
 * with the data: a small file whose header lies about its size cannot claim 2 GiB. */
static int idx_read_payload(idx_file *f, uint8_t **out) {
  *out = NULL;
  int64_t want = f->payload_bytes;
  int64_t cap = f->src.gz && want > GZ_FIRST_ALLOC ? GZ_FIRST_ALLOC : want;
  uint8_t *buf = malloc((size_t)cap);
  if (!buf)
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory (%lld bytes)", f->src.path,
                    (long long)cap);
  int64_t n = 0;
  int rc;
  for (;;) {
    size_t got;
    rc = qat_source_read(&f->src, buf + n, (size_t)(cap - n), &got);
    if (rc) goto free_buf;
    n += (int64_t)got;
    if (n < cap) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: truncated: expected %lld bytes, got %lld%s",
                    f->src.path, (long long)(f->header_bytes + want),
                    (long long)(f->header_bytes + n), qat_source_unit(&f->src));
      goto free_buf;
    }
    if (n == want) break;
    int64_t next = cap * 2 < want ? cap * 2 : want;
    uint8_t *grown = realloc(buf, (size_t)next);
    if (!grown) {
      rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory (%lld bytes)", f->src.path,
                    (long long)next);
      goto free_buf;
    }
    buf = grown;
    cap = next;
  }
  rc = qat_source_expect_end(&f->src, f->header_bytes + want);
  if (rc) goto free_buf;
  *out = buf;
  return QAT_OK;

free_buf:
  free(buf);
  return rc;
}

int qat_idx_load(const char *images_path, const char *labels_path, int num_classes,
                 qat_dataset *out) {
  memset(out, 0, sizeof *out);
  if (num_classes < 1 || num_classes > 256)
    return qat_fail(QAT_ERR_USAGE, "%s: num_classes %d out of range [1,256] for byte labels",
                    labels_path, num_classes);
  idx_file img, lab;
  uint8_t *images = NULL, *labels = NULL;
  int rc = qat_source_open(&img.src, images_path);
  if (rc) return rc;
  rc = qat_source_open(&lab.src, labels_path);
  if (rc) goto close_images;
  /* Both headers first, so that a mismatch is reported before any payload is read. */
  rc = idx_read_header(&img, IDX_MAGIC_IMAGES, "images");
  if (rc) goto close_labels;
  rc = idx_read_header(&lab, IDX_MAGIC_LABELS, "labels");
  if (rc) goto close_labels;
  if (img.dims[0] != lab.dims[0]) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: %u labels, but %s has %u images", labels_path,
                  lab.dims[0], images_path, img.dims[0]);
    goto close_labels;
  }
  rc = idx_check_plain_size(&img);
  if (rc) goto close_labels;
  rc = idx_check_plain_size(&lab);
  if (rc) goto close_labels;
  rc = idx_read_payload(&img, &images);
  if (rc) goto close_labels;
  rc = idx_read_payload(&lab, &labels);
  if (rc) goto free_images;
  for (int64_t i = 0; i < lab.payload_bytes; i++) {
    if (labels[i] >= num_classes) {
      rc = qat_fail(QAT_ERR_FORMAT, "%s: label %d at index %lld out of range [0,%d)",
                    labels_path, labels[i], (long long)i, num_classes);
      goto free_labels;
    }
  }
  out->n = img.dims[0];
  out->h = (int)img.dims[1];
  out->w = (int)img.dims[2];
  out->c = 1;
  out->images = images;
  out->labels = labels;
  out->num_classes = num_classes;
  out->owns = 1;
  qat_source_close(&lab.src);
  qat_source_close(&img.src);
  return QAT_OK;

free_labels:
  free(labels);
free_images:
  free(images);
close_labels:
  qat_source_close(&lab.src);
close_images:
  qat_source_close(&img.src);
  return rc;
}

int qat_idx_load_images(const char *images_path, qat_dataset *out) {
  memset(out, 0, sizeof *out);
  idx_file img;
  uint8_t *images = NULL, *labels = NULL;
  int rc = qat_source_open(&img.src, images_path);
  if (rc) return rc;
  if ((rc = idx_read_header(&img, IDX_MAGIC_IMAGES, "images")) || (rc = idx_check_plain_size(&img)) ||
      (rc = idx_read_payload(&img, &images)))
    goto close_images;
  labels = calloc(img.dims[0] ? img.dims[0] : 1, 1);
  if (!labels) {
    free(images);
    rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory", images_path);
    goto close_images;
  }
  out->n = img.dims[0];
  out->h = (int)img.dims[1];
  out->w = (int)img.dims[2];
  out->c = 1;
  out->images = images;
  out->labels = labels;
  out->num_classes = 1;
  out->owns = 1;
close_images:
  qat_source_close(&img.src);
  return rc;
}
