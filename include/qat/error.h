/* Error reporting shared by every module: functions that can fail return 0 or a negative
 * qat_status and leave a one-line message; library code never prints or exits. */
#ifndef QAT_ERROR_H
#define QAT_ERROR_H

#include <stdio.h>
#include <stdlib.h>

typedef enum qat_status {
  QAT_OK = 0,
  QAT_ERR_INTERNAL = -1,    /* a bug or an unexpected library failure */
  QAT_ERR_USAGE = -2,       /* bad command line or config */
  QAT_ERR_FORMAT = -3,      /* bad data, model or checkpoint file */
  QAT_ERR_IO = -4,          /* the system refused a read or write */
  QAT_ERR_DIVERGED = -5,    /* training produced non-finite numbers */
  QAT_ERR_NOMEM = -6,
  QAT_ERR_UNSUPPORTED = -7, /* valid input that qat cannot handle */
  QAT_ERR_INTERRUPTED = -8, /* the user asked to stop */
} qat_status;

/* Records the message (printf-style) for this thread and returns status, so callers write
 * `return qat_fail(QAT_ERR_FORMAT, "%s: bad magic 0x%08x", path, magic);`. */
int qat_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends context ("layer 'conv1': ") to the current message; returns status unchanged. */
int qat_fail_prefix(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *qat_error_message(void);
void qat_error_clear(void);

/* Process exit code for a status: 2 usage/config, 3 bad file, 4 I/O, 5 divergence,
 * 130 interrupted (as a shell reports SIGINT), else 1. */
int qat_exit_code(int status);

/* Always-on invariant check for conditions that validation has already guaranteed;
 * input problems are never asserts. */
#define QAT_ASSERT(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      fprintf(stderr, "qat: internal error: %s:%d: assertion '%s' failed\n", __FILE__,       \
              __LINE__, #cond);                                                              \
      abort();                                                                               \
    }                                                                                        \
  } while (0)

#endif
