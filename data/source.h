/* Internal: sequential reading of a data file that may be gzip-compressed, with the byte
 * accounting the readers need for "expected N bytes, got M" messages. */
#ifndef QAT_DATA_SOURCE_H
#define QAT_DATA_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

typedef struct qat_source {
  const char *path;
  int fd;            /* plain files; -1 once handed to zlib */
  gzFile gz;         /* gzip files; NULL for plain ones */
  int64_t file_size; /* on disk (compressed size for gzip) */
  int64_t pos;       /* bytes delivered so far (decompressed for gzip) */
  int gz_ended_early; /* the gzip stream stopped before its end (truncated file) */
} qat_source;

/* Opens a regular file; gzip is recognized by its magic bytes 1f 8b. */
int qat_source_open(qat_source *s, const char *path);
/* Reads up to len bytes, stopping early only at the end of the data; *got says how many.
 * Errors: I/O failures and corrupt gzip data (a gzip stream cut short is not an error here:
 * it ends the data and sets gz_ended_early, so callers report it as a truncation). */
int qat_source_read(qat_source *s, void *buf, size_t len, size_t *got);
/* After the expected bytes: fails if more data follows (naming expected and actual sizes) or
 * if a gzip stream is cut short even though its payload was complete. */
int qat_source_expect_end(qat_source *s, int64_t expected);
/* A suffix for byte counts in messages: "" or " after gzip decompression". */
const char *qat_source_unit(const qat_source *s);
/* Reads everything that is left, up to max_bytes, into a new buffer. */
int qat_source_read_all(qat_source *s, int64_t max_bytes, uint8_t **data, int64_t *len);
void qat_source_close(qat_source *s);

#endif
