#include "qat/atomic_file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qat/error.h"

static void atomic_free(qat_atomic_file *f) {
  free(f->path);
  free(f->tmp_path);
  f->path = f->tmp_path = NULL;
  f->fp = NULL;
}

/* A killed writer may linger as a zombie when nobody reaps it: a container whose process 1 is
 * not an init, or a `timeout -s KILL` that killed itself along with its child. kill(pid, 0)
 * succeeds on a zombie, so its state in /proc decides. */
static int writer_gone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH; /* EPERM: alive, not ours to see */
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *close_paren = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
  return close_paren && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X');
}

/* Temp files are "<target>.tmp.<pid>.XXXXXX" and their writer holds flock(LOCK_EX) on them
 * until commit or abort. Either proves a temp file alive; a temp file whose writer process no
 * longer exists and which nobody holds locked is an orphan of a kill -9 or a power loss.
 * Returns 1 when name (in directory dirfd) is such an orphan. */
static int is_orphan(int dirfd, const char *name) {
  const char *t = strstr(name, ".tmp.");
  if (!t || t == name) return 0;
  for (const char *u; (u = strstr(t + 1, ".tmp."));) t = u; /* the last ".tmp." */
  const char *p = t + 5;
  char *end;
  errno = 0;
  long pid = strtol(p, &end, 10);
  if (end == p || !isdigit((unsigned char)*p) || errno || *end != '.' || strlen(end + 1) != 6 ||
      pid <= 0 || pid > 0x3fffffff)
    return 0;
  if (pid == (long)getpid()) return 0; /* our own, maybe another thread's live write */
  if (!writer_gone((pid_t)pid)) return 0;
  int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  struct stat st;
  int orphan = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0;
  close(fd); /* drops the lock */
  return orphan;
}

int qat_atomic_cleanup_dir(const char *dir) {
  DIR *d = opendir(dir && dir[0] ? dir : ".");
  if (!d) return 0;
  int removed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    if (is_orphan(dirfd(d), e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0) removed++;
  }
  closedir(d);
  return removed;
}

int qat_atomic_begin(qat_atomic_file *f, const char *path) {
  memset(f, 0, sizeof *f);
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
    return qat_fail(QAT_ERR_IO, "%s: refusing to write over something that is not a regular file",
                    path);
  size_t n = strlen(path);
  f->path = strdup(path);
  f->tmp_path = malloc(n + 40);
  if (!f->path || !f->tmp_path) {
    atomic_free(f);
    return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", path);
  }
  {
    char *dir_copy = strdup(path);
    if (dir_copy) {
      f->orphans_removed = qat_atomic_cleanup_dir(dirname(dir_copy));
      free(dir_copy);
    }
  }
  snprintf(f->tmp_path, n + 40, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
  int fd = mkstemp(f->tmp_path);
  if (fd < 0) {
    int e = errno;
    atomic_free(f);
    return qat_fail(QAT_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(e));
  }
  /* Marks the temp file as alive for qat_atomic_cleanup_dir in other processes; the lock goes
   * with the descriptor (closed at commit/abort, or by the kernel when we die). */
  flock(fd, LOCK_EX | LOCK_NB);
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
    return qat_fail(QAT_ERR_IO, "cannot write '%s': %s: %s", f->path, bad ? "write" : "close",
                    strerror(e ? e : EIO));
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
    rc = qat_fail(QAT_ERR_IO, "cannot write '%s': fsync of the temporary file failed: %s", f->path,
                  strerror(errno));
    goto remove_tmp;
  }
  if (rename(f->tmp_path, f->path) != 0) {
    rc = qat_fail(QAT_ERR_IO, "cannot write '%s': rename of the temporary file into place failed: %s",
                  f->path, strerror(errno));
    goto remove_tmp;
  }
  {
    /* The rename is durable only once the directory is synced. Filesystems that cannot sync a
     * directory say EINVAL (or ENOTSUP): nothing to do there. Any other failure (EIO) means
     * the new file may not survive a crash: an error, though the target was replaced. */
    char *dir_copy = strdup(f->path);
    if (dir_copy) {
      const char *dir = dirname(dir_copy);
      if (fsync_path(dir, 1) != 0 && errno != EINVAL && errno != ENOTSUP && errno != EROFS) {
        rc = qat_fail(QAT_ERR_IO,
                      "cannot write '%s': fsync of the directory '%s' failed: %s (the new file "
                      "is in place but may not survive a crash)",
                      f->path, dir, strerror(errno));
      }
      free(dir_copy);
    }
  }
  atomic_free(f);
  return rc;
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
    return qat_fail(QAT_ERR_IO, "cannot write '%s': write: %s", path, strerror(e ? e : EIO));
  }
  return qat_atomic_commit(&f);
}
