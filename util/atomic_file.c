#include "qat/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qat/error.h"

static void atomic_free(qat_atomic_file *f) {
  free(f->path);
  free(f->tmp_path);
  f->path = f->tmp_path = NULL;
  f->fp = NULL;
}

int qat_atomic_begin(qat_atomic_file *f, const char *path) {
  memset(f, 0, sizeof *f);
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
    return qat_fail(QAT_ERR_IO, "%s: refusing to write over something that is not a regular file",
                    path);
  size_t n = strlen(path);
  f->path = strdup(path);
  f->tmp_path = malloc(n + 16);
  if (!f->path || !f->tmp_path) {
    atomic_free(f);
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
  }
  snprintf(f->tmp_path, n + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(f->tmp_path);
  if (fd < 0) {
    int e = errno;
    atomic_free(f);
    return qat_fail(QAT_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(e));
  }
  fchmod(fd, 0644);
  f->fp = fdopen(fd, "wb");
  if (!f->fp) {
    int e = errno;
    close(fd);
    unlink(f->tmp_path);
    atomic_free(f);
    return qat_fail(QAT_ERR_IO, "%s: %s", path, strerror(e));
  }
  return QAT_OK;
}

int qat_atomic_close_stream(qat_atomic_file *f) {
  if (!f->fp) return QAT_OK;
  int bad = ferror(f->fp);
  int e = 0;
  if (fclose(f->fp) != 0) e = errno;
  f->fp = NULL;
  if (bad || e)
    return qat_fail(QAT_ERR_IO, "cannot write '%s': %s", f->path, strerror(e ? e : EIO));
  return QAT_OK;
}

static int fsync_path(const char *path, int directory) {
  int fd = open(path, (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

int qat_atomic_commit(qat_atomic_file *f) {
  int rc = qat_atomic_close_stream(f);
  if (rc) goto remove_tmp;
  if (fsync_path(f->tmp_path, 0) != 0) {
    rc = qat_fail(QAT_ERR_IO, "cannot write '%s': %s", f->path, strerror(errno));
    goto remove_tmp;
  }
  if (rename(f->tmp_path, f->path) != 0) {
    rc = qat_fail(QAT_ERR_IO, "cannot write '%s': %s", f->path, strerror(errno));
    goto remove_tmp;
  }
  {
    char *dir_copy = strdup(f->path);
    if (dir_copy) {
      fsync_path(dirname(dir_copy), 1); /* best effort: some filesystems refuse dir fsync */
      free(dir_copy);
    }
  }
  atomic_free(f);
  return QAT_OK;
remove_tmp:
  unlink(f->tmp_path);
  atomic_free(f);
  return rc;
}

void qat_atomic_abort(qat_atomic_file *f) {
  if (f->fp) fclose(f->fp);
  f->fp = NULL;
  if (f->tmp_path) unlink(f->tmp_path);
  atomic_free(f);
}

int qat_atomic_write(const char *path, const void *data, size_t len) {
  qat_atomic_file f;
  int rc = qat_atomic_begin(&f, path);
  if (rc) return rc;
  if (len && fwrite(data, 1, len, f.fp) != len) {
    int e = errno;
    qat_atomic_abort(&f);
    return qat_fail(QAT_ERR_IO, "cannot write '%s': %s", path, strerror(e ? e : EIO));
  }
  return qat_atomic_commit(&f);
}
