#include "qat/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qat/error.h"

const char *qat_file_kind(unsigned mode) {
  switch (mode & S_IFMT) {
  case S_IFREG: return "a regular file";
  case S_IFDIR: return "a directory";
  case S_IFIFO: return "a FIFO";
  case S_IFCHR: return "a character device";
  case S_IFBLK: return "a block device";
  case S_IFSOCK: return "a socket";
  default: return "not a regular file";
  }
}

int qat_file_open_regular(const char *path, const char *what, uint64_t max_bytes, int *fd,
                          uint64_t *size) {
  *fd = -1;
  *size = 0;
  const char *sep = what ? " the " : "";
  if (!what) what = "";
  int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (f < 0) return qat_fail(QAT_ERR_IO, "%s: cannot open%s%s: %s", path, sep, what, strerror(errno));
  struct stat st;
  if (fstat(f, &st) != 0) {
    int e = errno;
    close(f);
    return qat_fail(QAT_ERR_IO, "%s: cannot open%s%s: %s", path, sep, what, strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    close(f);
    return qat_fail(QAT_ERR_IO, "%s: cannot open%s%s: %s", path, sep, what, strerror(EISDIR));
  }
  if (!S_ISREG(st.st_mode)) {
    close(f);
    return qat_fail(QAT_ERR_IO, "%s: cannot open%s%s: not a regular file (%s)", path, sep, what,
                    qat_file_kind((unsigned)st.st_mode));
  }
  if (st.st_size < 0 || (max_bytes && (uint64_t)st.st_size > max_bytes)) {
    close(f);
    return qat_fail(QAT_ERR_FORMAT, "%s: %lld bytes, over the limit of %llu bytes for%s%s", path,
                    (long long)st.st_size, (unsigned long long)max_bytes, sep, what);
  }
  int fl = fcntl(f, F_GETFL);
  if (fl >= 0) fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
  *fd = f;
  *size = (uint64_t)st.st_size;
  return QAT_OK;
}

int qat_file_read_all(const char *path, const char *what, uint64_t max_bytes, void **out,
                      size_t *len) {
  *out = NULL;
  *len = 0;
  int fd;
  uint64_t size;
  int rc = qat_file_open_regular(path, what, max_bytes, &fd, &size);
  if (rc) return rc;
  if (size >= SIZE_MAX) {
    close(fd);
    return qat_fail(QAT_ERR_FORMAT, "%s: too large (%llu bytes)", path, (unsigned long long)size);
  }
  unsigned char *buf = malloc((size_t)size + 1);
  if (!buf) {
    close(fd);
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory for %llu bytes", path, (unsigned long long)size);
  }
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, (size_t)size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : 0;
      free(buf);
      close(fd);
      return e ? qat_fail(QAT_ERR_IO, "%s: read error at byte %zu: %s", path, got, strerror(e))
               : qat_fail(QAT_ERR_IO, "%s: the file shrank while reading (at byte %zu of %llu)",
                          path, got, (unsigned long long)size);
    }
    got += (size_t)n;
  }
  close(fd);
  buf[got] = '\0';
  *out = buf;
  *len = got;
  return QAT_OK;
}

int qat_stdout_check(void) {
  errno = 0;
  if (fflush(stdout) != 0 || ferror(stdout)) {
    int e = errno ? errno : EIO;
    return qat_fail(QAT_ERR_IO, "<stdout>: cannot write to standard output: %s", strerror(e));
  }
  return QAT_OK;
}

void qat_path_beside(const char *path, const char *name, char *buf, size_t size) {
  const char *slash = strrchr(path, '/');
  if (slash) snprintf(buf, size, "%.*s/%s", (int)(slash - path), path, name);
  else snprintf(buf, size, "%s", name);
}

int qat_path_has_suffix(const char *path, const char *suffix) {
  size_t n = strlen(path), k = strlen(suffix);
  return n >= k && !strcmp(path + n - k, suffix);
}
