/* File sniffing and .keras (zip) entries through libzip. Entries are read in memory only, up
 * to their declared size, which is capped first: a zip bomb costs at most the cap. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "keras/internal.h"
#include "qat/error.h"

int qat_keras_sniff(const char *path, keras_file_kind *kind) {
  static const unsigned char hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  *kind = KERAS_FILE_OTHER;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int dir = S_ISDIR(st.st_mode);
    close(fd);
    return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, dir ? strerror(EISDIR) : "not a regular file");
  }
  unsigned char head[8] = {0};
  ssize_t got = pread(fd, head, sizeof head, 0);
  close(fd);
  if (got >= 4 && !memcmp(head, "PK\x03\x04", 4)) *kind = KERAS_FILE_ZIP;
  else if (got == 8 && !memcmp(head, hdf5, 8)) *kind = KERAS_FILE_HDF5;
  else if (got == 8 && st.st_size >= 520) {
    /* HDF5 allows a user block before the signature; h5store looks further. */
    *kind = KERAS_FILE_HDF5;
  }
  return QAT_OK;
}

int qat_keras_zip_entry(const char *path, const char *name, size_t max, int missing_ok, char **out,
                        size_t *len) {
  int err = 0, rc = QAT_OK;
  *out = NULL;
  *len = 0;
  zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!z) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    rc = qat_fail(err == ZIP_ER_OPEN || err == ZIP_ER_READ ? QAT_ERR_IO : QAT_ERR_FORMAT,
                  "%s: not a readable .keras archive: %s", path, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return rc;
  }
  zip_int64_t idx = zip_name_locate(z, name, 0);
  if (idx < 0) {
    zip_close(z);
    if (missing_ok) return 1;
    return qat_fail(QAT_ERR_FORMAT, "%s: the archive has no '%s' (not a Keras 3 .keras file?)", path, name);
  }
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(z, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: %s: cannot read its size: %s", path, name, zip_strerror(z));
    goto close_zip;
  }
  if (st.size > max) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: %s: %llu bytes uncompressed, more than the %zu allowed", path, name,
                  (unsigned long long)st.size, max);
    goto close_zip;
  }
  char *buf = malloc((size_t)st.size + 1);
  if (!buf) {
    rc = qat_fail(QAT_ERR_NOMEM, "%s: %s: out of memory (%llu bytes)", path, name, (unsigned long long)st.size);
    goto close_zip;
  }
  zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)idx, 0);
  if (!f) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: %s: %s", path, name, zip_strerror(z));
    free(buf);
    goto close_zip;
  }
  zip_uint64_t have = 0;
  while (have < st.size) {
    zip_int64_t n = zip_fread(f, buf + have, st.size - have);
    if (n <= 0) break;
    have += (zip_uint64_t)n;
  }
  /* libzip checks the CRC at the end of the entry; a short read or a failed check is damage. */
  char extra;
  zip_int64_t more = have == st.size ? zip_fread(f, &extra, 1) : -1;
  if (have != st.size || more != 0) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: %s: damaged entry (read %llu of %llu bytes%s%s)", path, name,
                  (unsigned long long)have, (unsigned long long)st.size, more < 0 ? ": " : "",
                  more < 0 ? zip_error_strerror(zip_file_get_error(f)) : "");
    zip_fclose(f);
    free(buf);
    goto close_zip;
  }
  zip_fclose(f);
  buf[st.size] = '\0';
  *out = buf;
  *len = (size_t)st.size;
close_zip:
  zip_discard(z);
  return rc;
}
