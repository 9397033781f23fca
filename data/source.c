#include "data/source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qat/data.h"
#include "qat/error.h"

/* How far past the expected end a gzip file is decompressed to report its real size. */
#define EXTRA_COUNT_LIMIT ((int64_t)1 << 26)

/* gzread and read take at most INT_MAX / SSIZE_MAX bytes per call. */
#define CHUNK ((size_t)1 << 30)

int qat_source_open(qat_source *s, const char *path) {
  memset(s, 0, sizeof *s);
  s->path = path;
  /* O_NONBLOCK so that opening a FIFO cannot hang; it changes nothing for regular files. */
  s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (s->fd < 0) return qat_fail(QAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  int rc;
  struct stat st;
  if (fstat(s->fd, &st) != 0) {
    rc = qat_fail(QAT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    goto close_fd;
  }
  if (S_ISDIR(st.st_mode)) {
    rc = qat_fail(QAT_ERR_IO, "%s: %s", path, strerror(EISDIR));
    goto close_fd;
  }
  /* A FIFO or device has no size to check and could block reads forever. */
  if (!S_ISREG(st.st_mode)) {
    rc = qat_fail(QAT_ERR_IO, "%s: not a regular file", path);
    goto close_fd;
  }
  s->file_size = st.st_size;
  unsigned char magic[2];
  ssize_t m;
  do m = pread(s->fd, magic, 2, 0);
  while (m < 0 && errno == EINTR);
  if (m < 0) {
    rc = qat_fail(QAT_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    goto close_fd;
  }
  if (m == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    s->gz = gzdopen(s->fd, "rb");
    if (!s->gz) {
      rc = qat_fail(QAT_ERR_NOMEM, "%s: cannot start gzip decompression", path);
      goto close_fd;
    }
    s->fd = -1; /* gzclose closes it now */
    gzbuffer(s->gz, 1u << 17); /* the default 8 KiB costs a syscall per 8 KiB */
  }
  return QAT_OK;

close_fd:
  close(s->fd);
  s->fd = -1;
  return rc;
}

static int gz_failure(qat_source *s) {
  int errnum;
  const char *msg = gzerror(s->gz, &errnum);
  if (errnum == Z_ERRNO)
    return qat_fail(QAT_ERR_IO, "%s: cannot read: %s", s->path, strerror(errno));
  if (errnum == Z_MEM_ERROR) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory", s->path);
  /* gzdopen names the stream "<fd:N>"; the path says it better. */
  if (msg && msg[0] == '<') {
    const char *colon = strstr(msg, ">: ");
    if (colon) msg = colon + 3;
  }
  return qat_fail(QAT_ERR_FORMAT, "%s: corrupt gzip data: %s", s->path, msg ? msg : "?");
}

int qat_source_read(qat_source *s, void *buf, size_t len, size_t *got) {
  unsigned char *p = buf;
  *got = 0;
  while (*got < len) {
    size_t want = len - *got < CHUNK ? len - *got : CHUNK;
    if (s->gz) {
      int n = gzread(s->gz, p + *got, (unsigned)want);
      if (n < 0) return gz_failure(s);
      int errnum;
      gzerror(s->gz, &errnum);
      /* zlib reports a stream cut short as Z_BUF_ERROR and still hands out what it
       * decompressed; anything else is damage. */
      if (errnum == Z_BUF_ERROR) s->gz_ended_early = 1;
      else if (errnum != Z_OK) return gz_failure(s);
      if (n == 0) break;
      *got += (size_t)n;
      s->pos += n;
    } else {
      ssize_t n = read(s->fd, p + *got, want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return qat_fail(QAT_ERR_IO, "%s: cannot read: %s", s->path, strerror(errno));
      if (n == 0) break;
      *got += (size_t)n;
      s->pos += n;
    }
  }
  return QAT_OK;
}

const char *qat_source_unit(const qat_source *s) {
  return s->gz ? " after gzip decompression" : "";
}

int qat_source_expect_end(qat_source *s, int64_t expected) {
  int64_t extra = 0;
  int more_than = 0;
  if (s->gz) {
    /* Count what follows, but bounded: a small gzip file can expand to terabytes. */
    unsigned char buf[1 << 14];
    for (;;) {
      size_t got;
      int rc = qat_source_read(s, buf, sizeof buf, &got);
      if (rc) return rc;
      if (got == 0) break;
      extra += (int64_t)got;
      if (extra >= EXTRA_COUNT_LIMIT) {
        more_than = 1;
        break;
      }
    }
    if (!extra && s->gz_ended_early)
      return qat_fail(QAT_ERR_FORMAT,
                      "%s: truncated: gzip stream ends early (after all %lld expected bytes; "
                      "its checksum trailer is missing)",
                      s->path, (long long)expected);
  } else {
    extra = s->file_size - s->pos;
    if (extra < 0) extra = 0;
  }
  if (extra)
    return qat_fail(QAT_ERR_FORMAT, "%s: expected %lld bytes, got %s%lld%s (trailing data)",
                    s->path, (long long)expected, more_than ? "more than " : "",
                    (long long)(expected + extra), qat_source_unit(s));
  return QAT_OK;
}

int qat_source_read_all(qat_source *s, int64_t max_bytes, uint8_t **data, int64_t *len) {
  *data = NULL;
  *len = 0;
  /* Plain files announce their size; gzip files grow the buffer as data arrives, so a lying
   * header cannot make us allocate more than twice what really decompresses. */
  int64_t cap = s->gz ? ((int64_t)1 << 20) : s->file_size - s->pos + 1;
  if (cap > max_bytes + 1) cap = max_bytes + 1;
  if (cap < 1) cap = 1;
  uint8_t *buf = malloc((size_t)cap);
  if (!buf) return qat_fail(QAT_ERR_NOMEM, "%s: out of memory (%lld bytes)", s->path,
                            (long long)cap);
  int64_t n = 0;
  int rc;
  for (;;) {
    if (n == cap) {
      if (cap > max_bytes) {
        rc = qat_fail(QAT_ERR_FORMAT, "%s: larger than the %lld-byte limit%s", s->path,
                      (long long)max_bytes, qat_source_unit(s));
        goto free_buf;
      }
      int64_t next = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
      uint8_t *grown = realloc(buf, (size_t)next);
      if (!grown) {
        rc = qat_fail(QAT_ERR_NOMEM, "%s: out of memory (%lld bytes)", s->path,
                      (long long)next);
        goto free_buf;
      }
      buf = grown;
      cap = next;
    }
    size_t got;
    rc = qat_source_read(s, buf + n, (size_t)(cap - n), &got);
    if (rc) goto free_buf;
    if (got == 0) break;
    n += (int64_t)got;
  }
  if (s->gz_ended_early) {
    rc = qat_fail(QAT_ERR_FORMAT, "%s: truncated: gzip stream ends early after %lld bytes",
                  s->path, (long long)n);
    goto free_buf;
  }
  *data = buf;
  *len = n;
  return QAT_OK;

free_buf:
  free(buf);
  return rc;
}

void qat_source_close(qat_source *s) {
  if (s->gz) gzclose(s->gz);
  else if (s->fd >= 0) close(s->fd);
  s->gz = NULL;
  s->fd = -1;
}
