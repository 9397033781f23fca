/* Files packed with a model, as TFLite Support packs a model's associated files (labels.txt):
 * a zip archive appended to the flatbuffer, which TFLite ignores (it reads from the root offset
 * at the start) and zip readers find from the end. The archive is written by libzip in memory,
 * its entries stored uncompressed with a fixed timestamp (the same model gives the same bytes),
 * and its offsets then moved by the model's size so they count from the start of the file, as
 * for any archive with data in front of it (Python's zipfile, minizip, libzip and unzip all
 * read it so). */
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "qat/error.h"
#include "qat/file.h"
#include "qat/tflite.h"

#define EOCD_SIG 0x06054b50u
#define CDH_SIG 0x02014b50u
#define EOCD_BYTES 22
#define CDH_BYTES 46
#define DOS_EPOCH 315532800 /* 1980-01-01 00:00:00 UTC, the earliest zip timestamp */

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int zip_failed(zip_error_t *ze, const char *what) {
  int rc = qat_fail(QAT_ERR_IO, "tflite: %s: %s", what, zip_error_strerror(ze));
  zip_error_fini(ze);
  return rc;
}

/* The archive's bytes from a libzip buffer source. */
static int source_bytes(zip_source_t *src, uint8_t **out, size_t *n) {
  if (zip_source_open(src) < 0) return qat_fail(QAT_ERR_IO, "tflite: reading the archive back failed");
  int rc = QAT_OK;
  zip_int64_t len = -1;
  if (zip_source_seek(src, 0, SEEK_END) == 0) len = zip_source_tell(src);
  if (len < EOCD_BYTES || zip_source_seek(src, 0, SEEK_SET) != 0) {
    rc = qat_fail(QAT_ERR_IO, "tflite: reading the archive back failed");
  } else if (!(*out = malloc((size_t)len))) {
    rc = qat_fail(QAT_ERR_NOMEM, "tflite: out of memory for the archive");
  } else if (zip_source_read(src, *out, (zip_uint64_t)len) != len) {
    free(*out);
    *out = NULL;
    rc = qat_fail(QAT_ERR_IO, "tflite: reading the archive back failed");
  } else {
    *n = (size_t)len;
  }
  zip_source_close(src);
  return rc;
}

/* Moves every offset of an archive libzip wrote (no comment, no zip64: small files) by base. */
static int shift_offsets(uint8_t *z, size_t n, uint32_t base) {
  uint8_t *eocd = z + n - EOCD_BYTES;
  if (get_u32(eocd) != EOCD_SIG) return qat_fail(QAT_ERR_INTERNAL, "tflite: unexpected archive layout");
  const uint32_t cd_size = get_u32(eocd + 12), cd_off = get_u32(eocd + 16);
  const uint16_t entries = get_u16(eocd + 10);
  if ((size_t)cd_off + cd_size != n - EOCD_BYTES) return qat_fail(QAT_ERR_INTERNAL, "tflite: unexpected archive layout");
  uint8_t *p = z + cd_off;
  for (uint16_t e = 0; e < entries; e++) {
    if (p + CDH_BYTES > eocd || get_u32(p) != CDH_SIG) return qat_fail(QAT_ERR_INTERNAL, "tflite: unexpected archive layout");
    put_u32(p + 42, get_u32(p + 42) + base);
    p += CDH_BYTES + get_u16(p + 28) + get_u16(p + 30) + get_u16(p + 32);
  }
  put_u32(eocd + 16, cd_off + base);
  return QAT_OK;
}

int qat_tflite_append_files(uint8_t **bytes, size_t *size, int n_files, const char *const *names,
                            const void *const *data, const size_t *sizes) {
  if (n_files < 1) return QAT_OK;
  if (*size > UINT32_MAX / 2) return qat_fail(QAT_ERR_USAGE, "tflite: a %zu-byte model is too large to append files to", *size);
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
  if (!src) return zip_failed(&ze, "creating the archive");
  zip_source_keep(src);
  zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
  if (!za) {
    zip_source_free(src);
    return zip_failed(&ze, "creating the archive");
  }
  int rc = QAT_OK;
  for (int i = 0; i < n_files && !rc; i++) {
    zip_source_t *fs = zip_source_buffer(za, data[i], sizes[i], 0);
    zip_int64_t idx = fs ? zip_file_add(za, names[i], fs, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0) {
      zip_source_free(fs);
      rc = qat_fail(QAT_ERR_IO, "tflite: adding %s to the archive: %s", names[i], zip_strerror(za));
    } else if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) < 0 ||
               zip_file_set_mtime(za, (zip_uint64_t)idx, DOS_EPOCH, 0) < 0) {
      rc = qat_fail(QAT_ERR_IO, "tflite: adding %s to the archive: %s", names[i], zip_strerror(za));
    }
  }
  if (rc) {
    zip_discard(za);
  } else if (zip_close(za) < 0) {
    rc = qat_fail(QAT_ERR_IO, "tflite: writing the archive: %s", zip_strerror(za));
    zip_discard(za);
  }
  uint8_t *z = NULL;
  size_t zn = 0;
  if (!rc) rc = source_bytes(src, &z, &zn);
  zip_source_free(src);
  if (!rc) rc = shift_offsets(z, zn, (uint32_t)*size);
  if (!rc) {
    uint8_t *grown = realloc(*bytes, *size + zn);
    if (!grown) {
      rc = qat_fail(QAT_ERR_NOMEM, "tflite: out of memory appending %zu bytes", zn);
    } else {
      memcpy(grown + *size, z, zn);
      *bytes = grown;
      *size += zn;
    }
  }
  free(z);
  zip_error_fini(&ze);
  return rc;
}

int qat_tflite_read_file(const uint8_t *bytes, size_t size, const char *name, char **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (size < EOCD_BYTES || get_u32(bytes + size - EOCD_BYTES) != EOCD_SIG) return QAT_OK; /* no archive */
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(bytes, size, 0, &ze);
  if (!src) return zip_failed(&ze, "opening the packed files");
  zip_t *za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
  if (!za) {
    zip_source_free(src);
    return zip_failed(&ze, "opening the packed files");
  }
  int rc = QAT_OK;
  zip_stat_t st;
  zip_int64_t idx = zip_name_locate(za, name, 0);
  if (idx >= 0 && zip_stat_index(za, (zip_uint64_t)idx, 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE)) {
    zip_file_t *f = NULL;
    if (st.size > (1u << 24)) rc = qat_fail(QAT_ERR_FORMAT, "tflite: packed %s has %llu bytes (at most 16 MiB)", name,
                                            (unsigned long long)st.size);
    else if (!(*out = malloc((size_t)st.size + 1))) rc = qat_fail(QAT_ERR_NOMEM, "tflite: out of memory");
    else if (!(f = zip_fopen_index(za, (zip_uint64_t)idx, 0)) || zip_fread(f, *out, st.size) != (zip_int64_t)st.size)
      rc = qat_fail(QAT_ERR_FORMAT, "tflite: packed %s cannot be read: %s", name, zip_strerror(za));
    if (f) zip_fclose(f);
    if (rc) {
      free(*out);
      *out = NULL;
    } else {
      (*out)[st.size] = '\0';
      *n = (size_t)st.size;
    }
  }
  zip_close(za);
  zip_error_fini(&ze);
  return rc;
}

/* One name per line; a trailing newline ends the last. */
static int split_lines(const char *text, char ***names, int *n) {
  int cap = 0;
  while (*text) {
    size_t len = strcspn(text, "\r\n");
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      char **p = realloc(*names, (size_t)cap * sizeof *p);
      if (!p) return qat_fail(QAT_ERR_NOMEM, "out of memory reading class names");
      *names = p;
    }
    if (!((*names)[*n] = strndup(text, len))) return qat_fail(QAT_ERR_NOMEM, "out of memory reading class names");
    (*n)++;
    text += len;
    if (*text == '\r') text++;
    if (*text == '\n') text++;
  }
  return QAT_OK;
}

int qat_tflite_read_labels(const char *model_path, const uint8_t *bytes, size_t size, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  void *own = NULL;
  char *text = NULL, path[4200];
  size_t len;
  if (!bytes && !qat_file_read_all(model_path, "model", (uint64_t)1 << 31, &own, &size)) bytes = own;
  if (!bytes || qat_tflite_read_file(bytes, size, "labels.txt", &text, &len) || !text) {
    /* not packed (or unreadable): labels.txt beside it, if there is one */
    free(text);
    text = NULL;
    qat_path_beside(model_path, "labels.txt", path, sizeof path);
    void *beside = NULL;
    if (!qat_file_read_all(path, "labels", (uint64_t)1 << 24, &beside, &len)) {
      if ((text = realloc(beside, len + 1))) text[len] = '\0';
      else free(beside);
    }
  }
  qat_error_clear();
  int rc = text ? split_lines(text, names, n) : QAT_OK;
  free(text);
  free(own);
  return rc;
}
